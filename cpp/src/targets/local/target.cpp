// `local` as a DeploymentTarget: deployments by name, no MLflow endpoints.
#include <memory>

#include "mlflow_bridge/local_client.h"
#include "targets/adapters.h"

namespace mlflow_bridge::internal {
namespace {

Status NoEndpoint(const std::string& endpoint) {
  if (endpoint.empty()) return OkStatus();
  return InvalidParameterError("The local target has no endpoints: address deployments by name and omit --endpoint.");
}

class LocalTarget : public DeploymentTarget {
 public:
  explicit LocalTarget(LocalClient client) : client_(std::move(client)) {}

  Status CheckCreate(const DeployRequest& request) override {
    MLFLOW_BRIDGE_RETURN_IF_ERROR(NoEndpoint(request.endpoint));
    if (request.model_uri.empty()) return InvalidParameterError("create_deployment needs a model URI.");
    return client_.CheckNew(request.name);  // before the download: a bad or taken name fails fast
  }
  Status CheckUpdate(const DeployRequest& request) override {
    MLFLOW_BRIDGE_RETURN_IF_ERROR(NoEndpoint(request.endpoint));
    return client_.Get(request.name).status();  // fails early, before a download, when it does not exist
  }
  bool NeedsModelFiles(const std::string&, const nlohmann::json&) const override { return true; }
  StatusOr<nlohmann::json> CreateDeployment(const DeployRequest& request) override { return client_.Create(request); }
  StatusOr<nlohmann::json> UpdateDeployment(const DeployRequest& request) override { return client_.Update(request); }
  Status DeleteDeployment(const std::string& name, const std::string& endpoint, const nlohmann::json& config) override {
    MLFLOW_BRIDGE_RETURN_IF_ERROR(NoEndpoint(endpoint));
    if (config.is_object() && !config.empty()) {
      std::string keys;
      for (const auto& [key, _] : config.items()) keys += (keys.empty() ? "'" : ", '") + key + "'";
      return InvalidParameterError("delete_deployment on the local target takes no config; got [" + keys + "].");
    }
    return client_.Delete(name);
  }
  StatusOr<nlohmann::json> GetDeployment(const std::string& name, const std::string& endpoint) override {
    MLFLOW_BRIDGE_RETURN_IF_ERROR(NoEndpoint(endpoint));
    return client_.Get(name);
  }
  StatusOr<nlohmann::json> ListDeployments(const std::string& endpoint) override {
    MLFLOW_BRIDGE_RETURN_IF_ERROR(NoEndpoint(endpoint));
    return client_.List();
  }
  StatusOr<std::vector<std::string>> Predict(const std::string& name, const std::string& endpoint,
                                             const std::vector<std::string>& bodies,
                                             const std::string& content_type) override {
    MLFLOW_BRIDGE_RETURN_IF_ERROR(NoEndpoint(endpoint));
    if (name.empty()) return InvalidParameterError("predict needs a deployment name.");
    return PredictEach(bodies, [&](const std::string& body) { return client_.Predict(name, body, content_type); });
  }

 private:
  LocalClient client_;
};

}  // namespace

StatusOr<std::shared_ptr<DeploymentTarget>> MakeLocalTarget(const DeploymentTargetOptions& options) {
  return std::shared_ptr<DeploymentTarget>(std::make_shared<LocalTarget>(
      LocalClient(LocalClientOptions{options.home, nullptr, nullptr, options.interrupted, options.serve_dir})));
}

}  // namespace mlflow_bridge::internal
