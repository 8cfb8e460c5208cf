// The DeploymentTarget of each target, made by MakeDeploymentTarget (targets/deployment_target.cpp) once
// it has read the target URI.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "mlflow_bridge/deployment_target.h"
#include "mlflow_bridge/kubernetes_client.h"

namespace mlflow_bridge::internal {

// One scoring call per body, the answers in order (for clients that take one body at a time).
template <typename Call>
StatusOr<std::vector<std::string>> PredictEach(const std::vector<std::string>& bodies, Call call) {
  std::vector<std::string> answers;
  for (const auto& body : bodies) {
    StatusOr<std::string> answer = call(body);
    if (!answer.ok()) return answer.status();
    answers.push_back(std::move(answer).value());
  }
  return answers;
}

// The deployment methods of a target whose client has them under the same names (SageMakerClient,
// KubernetesClient), forwarded once here.
template <typename Client>
class ClientTarget : public DeploymentTarget {
 public:
  explicit ClientTarget(std::shared_ptr<Client> client) : client_(std::move(client)) {}
  StatusOr<nlohmann::json> CreateDeployment(const DeployRequest& request) override {
    return client_->CreateDeployment(request);
  }
  StatusOr<nlohmann::json> UpdateDeployment(const DeployRequest& request) override {
    return client_->UpdateDeployment(request);
  }
  Status DeleteDeployment(const std::string& name, const std::string& endpoint, const nlohmann::json& config) override {
    return client_->DeleteDeployment(name, endpoint, config);
  }
  StatusOr<nlohmann::json> GetDeployment(const std::string& name, const std::string& endpoint) override {
    return client_->GetDeployment(name, endpoint);
  }
  StatusOr<nlohmann::json> ListDeployments(const std::string& endpoint) override {
    return client_->ListDeployments(endpoint);
  }

 protected:
  std::shared_ptr<Client> client_;
};

StatusOr<std::shared_ptr<DeploymentTarget>> MakeLocalTarget(const DeploymentTargetOptions& options);
StatusOr<std::shared_ptr<DeploymentTarget>> MakeSageMakerTarget(const std::string& region, const std::string& role,
                                                                const DeploymentTargetOptions& options);
// Kyma and AKS (targets/kyma/target.cpp, targets/aks/target.cpp): namespace_name from the target URI.
StatusOr<std::shared_ptr<DeploymentTarget>> MakeKymaTarget(const std::string& namespace_name,
                                                           const DeploymentTargetOptions& options);
StatusOr<std::shared_ptr<DeploymentTarget>> MakeAksTarget(const std::string& namespace_name,
                                                          const DeploymentTargetOptions& options);
// azureml-endpoints:/<subscription>/<resource-group>/<workspace> (targets/azureml/target.cpp).
StatusOr<std::shared_ptr<DeploymentTarget>> MakeAzureMlTarget(const std::string& target_uri,
                                                              const DeploymentTargetOptions& options);
std::string AzureMlHelp();
// oci-endpoints:/<region>[/<compartment>] (targets/oci/target.cpp).
StatusOr<std::shared_ptr<DeploymentTarget>> MakeOciTarget(const std::string& target_uri,
                                                          const DeploymentTargetOptions& options);
std::string OciHelp();
std::string KymaHelp();
std::string AksHelp();

}  // namespace mlflow_bridge::internal
