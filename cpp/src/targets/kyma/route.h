// Kyma's routes: a deployment is reached through an APIRule (https://<host>, optionally checking JWTs), an
// MLflow endpoint through an Istio VirtualService on the Kyma gateway that splits traffic by weight.
#pragma once

#include "targets/kubernetes/route.h"

namespace mlflow_bridge::internal {

class KymaRoute : public KubeRouteStrategy {
 public:
  std::string Target() const override;
  const ConfigSchema& Schema() const override;
  std::string HelpPlatform() const override;
  std::string HelpReached() const override;
  std::string HelpRender() const override;
  std::string HelpEndpoints() const override;

  StatusOr<std::string> Host(KubeSession& s, const std::string& name) const override;

  std::string ServiceType(const KubeSession& s, const KubeApp& app) const override;
  Status PlanRoute(KubeSession& s, KubePlan& p) const override;
  Status WaitRoute(KubeSession& s, const KubePlan& p, std::chrono::steady_clock::time_point deadline,
                   Clock& clock) const override;
  StatusOr<std::string> RouteUrl(KubeSession& s, const std::string& name) const override;
  std::vector<KubeObjectRef> AppRouteObjects(KubeSession& s, const std::string& name) const override;

  Status CheckEndpointAuth(const KubeSession& s) const override;
  void ConfigureEndpoint(const KubeSession& s, KubeEndpoint& e) const override;
  StatusOr<bool> ReadEndpoint(KubeSession& s, KubeEndpoint& e) const override;
  StatusOr<std::vector<nlohmann::json>> EndpointObjects(KubeSession& s, const KubeEndpoint& e) const override;
  Status PruneEndpoint(KubeSession& s, const KubeEndpoint& e, const std::vector<nlohmann::json>& applied) const override;
  Status CheckRoom(const KubeSession& s, const std::string& endpoint, const KubeEndpoint& e) const override;
  StatusOr<std::vector<KubeObjectRef>> EndpointRouteObjects(KubeSession& s, const std::string& name) const override;
  StatusOr<const KubeResource*> EndpointKind(KubeSession& s) const override;
  std::string EndpointRoute(const std::string& ns, const std::string& name) const override;
  StatusOr<std::string> EndpointUrl(KubeSession& s, const KubeEndpoint& e) const override;
  void PickDeployment(const KubeEndpoint& e, const std::string& name, HttpHeaders& headers) const override;
};

}  // namespace mlflow_bridge::internal
