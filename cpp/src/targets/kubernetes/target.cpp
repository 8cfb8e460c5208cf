// `kyma` and `aks` as DeploymentTargets: a Deployment and a Service behind a route; MLflow endpoints are
// routes that split traffic by weight.
#include <memory>

#include "common/env.h"
#include "targets/adapters.h"
#include "targets/kubernetes/route.h"

namespace mlflow_bridge::internal {
namespace {

class KubernetesTarget : public ClientTarget<KubernetesClient> {
 public:
  KubernetesTarget(const KubeRouteStrategy& route, std::shared_ptr<KubernetesClient> client)
      : ClientTarget(std::move(client)), route_(route) {}

  Status CheckCreate(const DeployRequest& request) override {
    return client_->CheckNew(request.name, request.endpoint, request.config);  // before any download or build
  }
  Status CheckUpdate(const DeployRequest& request) override {
    if (request.model_uri.empty()) {
      return InvalidParameterError(std::string("update_deployment on ") + route_.Target() +
                                   " needs a model URI (-m): each update serves a new model.");
    }
    return OkStatus();
  }
  // Only a registry= build needs the model's files; a prebuilt image needs none.
  bool NeedsModelFiles(const std::string&, const nlohmann::json& config) const override {
    auto it = config.find("registry");
    return it != config.end() && !it->is_null() && !(it->is_string() && it->get<std::string>().empty()) &&
           !(it->is_boolean() && !it->get<bool>());
  }
  // On a deployment's route, or the endpoint's (by weight; with a name too, to that deployment only).
  StatusOr<std::vector<std::string>> Predict(const std::string& name, const std::string& endpoint,
                                             const std::vector<std::string>& bodies,
                                             const std::string& content_type) override {
    return PredictEach(bodies,
                       [&](const std::string& body) { return client_->Predict(name, endpoint, body, content_type); });
  }

  size_t MaxPayloadBytes() const override { return route_.MaxPayloadBytes(); }
  bool SupportsEndpoints() const override { return true; }
  StatusOr<nlohmann::json> CreateEndpoint(const std::string& name, const nlohmann::json& config) override {
    return client_->CreateEndpoint(name, config);
  }
  StatusOr<nlohmann::json> UpdateEndpoint(const std::string& name, const nlohmann::json& config) override {
    return client_->UpdateEndpoint(name, config);
  }
  Status DeleteEndpoint(const std::string& name, const nlohmann::json& config) override {
    return client_->DeleteEndpoint(name, config);
  }
  StatusOr<nlohmann::json> GetEndpoint(const std::string& name) override { return client_->GetEndpoint(name); }
  StatusOr<nlohmann::json> ListEndpoints() override { return client_->ListEndpoints(); }

 private:
  const KubeRouteStrategy& route_;
};

}  // namespace

StatusOr<std::shared_ptr<DeploymentTarget>> MakeKubernetesTarget(const KubeRouteStrategy& route,
                                                                 const std::string& namespace_name,
                                                                 const DeploymentTargetOptions& options) {
  KubeClientOptionsPublic o;
  o.namespace_name = namespace_name;
  o.image_work_dir = ResolveHome(options.home) + "/image";
  o.serve_dir = options.serve_dir;
  o.interrupted = options.interrupted;
  auto client = KubernetesClient::Make(route, o);
  if (!client.ok()) return client.status();
  return std::shared_ptr<DeploymentTarget>(std::make_shared<KubernetesTarget>(route, *client));
}

}  // namespace mlflow_bridge::internal
