// `sagemaker-endpoints` as a DeploymentTarget: an MLflow endpoint is a SageMaker endpoint, its deployments
// are production variants.
#include <filesystem>
#include <memory>

#include "common/env.h"
#include "mlflow_bridge/sagemaker_client.h"
#include "targets/adapters.h"

namespace mlflow_bridge::internal {
namespace {

class SageMakerTarget : public ClientTarget<SageMakerClient> {
 public:
  using ClientTarget::ClientTarget;

  Status CheckCreate(const DeployRequest& request) override {
    return client_->CheckNew(request.name, request.endpoint);  // before the download: a taken name fails fast
  }
  Status CheckUpdate(const DeployRequest& request) override {
    if (request.model_uri.empty()) {
      return InvalidParameterError("update_deployment on SageMaker needs a model URI (-m): each update serves a new model.");
    }
    return OkStatus();
  }
  bool NeedsModelFiles(const std::string&, const nlohmann::json&) const override { return true; }
  StatusOr<std::vector<std::string>> Predict(const std::string& name, const std::string& endpoint,
                                             const std::vector<std::string>& bodies,
                                             const std::string& content_type) override {
    if (name.empty() && endpoint.empty()) return InvalidParameterError("predict needs a deployment name or an endpoint.");
    // A deployment of an endpoint is addressed as its variant; an endpoint alone splits traffic by weight.
    if (!name.empty()) return client_->Predict(name, bodies, content_type, endpoint);
    return client_->Predict(endpoint, bodies, content_type, "");
  }
  size_t MaxPayloadBytes() const override { return SageMakerClient::kMaxPayloadBytes; }

  bool SupportsEndpoints() const override { return true; }
  bool EndpointTakesModel() const override { return true; }
  StatusOr<nlohmann::json> CreateEndpoint(const std::string&, const nlohmann::json&) override {
    return InvalidParameterError(
        "A SageMaker endpoint needs a model to start with: pass -C model_uri=<model> (and optionally -C "
        "deployment_name=<name>), or create its first deployment with --endpoint.");
  }
  StatusOr<nlohmann::json> UpdateEndpoint(const std::string& name, const nlohmann::json& config) override {
    return client_->UpdateEndpointWeights(name, config);
  }
  Status DeleteEndpoint(const std::string& name, const nlohmann::json& config) override {
    return client_->DeleteDeployment(name, "", config);
  }
  StatusOr<nlohmann::json> GetEndpoint(const std::string& name) override { return client_->GetDeployment(name, ""); }
  StatusOr<nlohmann::json> ListEndpoints() override { return client_->ListDeployments(""); }
};

}  // namespace

StatusOr<std::shared_ptr<DeploymentTarget>> MakeSageMakerTarget(const std::string& region, const std::string& role,
                                                                const DeploymentTargetOptions& options) {
  SageMakerClientOptions o;
  o.interrupted = options.interrupted;
  const std::string home = ResolveHome(options.home);
  o.work_dir = home + "/sagemaker";
  o.image_work_dir = home + "/image";
  o.serve_dir = options.serve_dir;
  std::error_code ec;
  std::filesystem::create_directories(o.work_dir, ec);  // a failure shows when the first archive is written
  auto client = SageMakerClient::Make({region, role}, o);
  if (!client.ok()) return client.status();
  return std::shared_ptr<DeploymentTarget>(std::make_shared<SageMakerTarget>(*client));
}

}  // namespace mlflow_bridge::internal
