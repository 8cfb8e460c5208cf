// Targets `kyma` and `aks`: models served by a Deployment and a Service on
// Kubernetes, reachable through a route: a Kyma APIRule, or on AKS an Ingress
// (or a LoadBalancer Service). Objects are applied server-side (create and
// update are the same idempotent call), carry app.kubernetes.io/managed-by:
// mlflow-bridge, and a failed update restores the previous revision.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/config.h"
#include "mlflow_bridge/deployment_target.h"
#include "mlflow_bridge/http.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge {

namespace internal {
class KubeApi;
class KubeRouteStrategy;  // what differs between kyma and aks (targets/kubernetes/route.h)
}  // namespace internal

// Makes the Kubernetes API stub for a kubeconfig path and context (each may be empty: the defaults).
using KubeApiFactory =
    std::function<StatusOr<std::shared_ptr<internal::KubeApi>>(const std::string& kubeconfig, const std::string& context)>;

struct KubeClientOptionsPublic {
  std::string namespace_name;                // from the target URI (kyma:/<namespace>); empty: the kubeconfig's
  std::shared_ptr<Clock> clock;              // null: the system clock
  std::function<bool()> interrupted;         // polled while waiting
  std::string image_work_dir;                // layers and their cache for registry= builds
  std::string serve_dir;                     // the native model server for registry= images (ImageBuilderOptions)
  std::shared_ptr<HttpTransport> transport;  // tests only: null builds one from the kubeconfig
  // Tests only (tests/cpp/mock_kube.h): the stub in place of the REST client of the loaded kubeconfig.
  // The client puts the retry policy above whichever stub it has.
  KubeApiFactory kube_api;
};

class KubernetesClient {
 public:
  // `route`: the flavor's route strategy (targets/kyma, targets/aks); it outlives the client.
  static StatusOr<std::shared_ptr<KubernetesClient>> Make(const internal::KubeRouteStrategy& route,
                                                          KubeClientOptionsPublic options);

  // OK when CreateDeployment could go ahead: a valid name, free in the namespace, and the endpoint (when
  // given) there with room for it (before any model download).
  Status CheckNew(const std::string& name, const std::string& endpoint, const nlohmann::json& config);
  // Applies the objects and waits until the Deployment is available and the route ready; on failure, deletes
  // what this call created. With render=true, returns {"manifests": "<YAML>"} and applies nothing.
  // With request.endpoint, the deployment has no route of its own: it joins the endpoint's with
  // config["initial_weight"] percent of its traffic (the first deployment takes all of it).
  StatusOr<nlohmann::json> CreateDeployment(const DeployRequest& request);
  // A rolling update; when the new revision does not become available, the previous one is restored and the
  // error names the cause (ImagePullBackOff, CrashLoopBackOff, Unschedulable, timeout).
  StatusOr<nlohmann::json> UpdateDeployment(const DeployRequest& request);
  // Deletes the deployment's objects; a deployment of an endpoint leaves its route first (the others
  // keep their proportions). `endpoint`, when given, must be the deployment's.
  Status DeleteDeployment(const std::string& name, const std::string& endpoint, const nlohmann::json& config);
  StatusOr<nlohmann::json> GetDeployment(const std::string& name, const std::string& endpoint);
  StatusOr<nlohmann::json> ListDeployments(const std::string& endpoint);
  // POSTs the body to /invocations on the deployment's route, or the endpoint's (name empty: by weight;
  // with a name: to that deployment only).
  StatusOr<std::string> Predict(const std::string& name, const std::string& endpoint, const std::string& body,
                                const std::string& content_type);

  // MLflow endpoints: a stable route (Kyma: an Istio VirtualService on the Kyma gateway; AKS: an
  // ingress-nginx Ingress, and a canary Ingress for a second deployment) that splits traffic by weight.
  StatusOr<nlohmann::json> CreateEndpoint(const std::string& name, const nlohmann::json& config);
  // config["weights"]: {"<deployment>": <relative weight>, ...}; deployments left out keep theirs.
  StatusOr<nlohmann::json> UpdateEndpoint(const std::string& name, const nlohmann::json& config);
  // Deletes the route and the endpoint's deployments; nothing there is OK.
  Status DeleteEndpoint(const std::string& name, const nlohmann::json& config);
  StatusOr<nlohmann::json> GetEndpoint(const std::string& name);
  StatusOr<nlohmann::json> ListEndpoints();

  // POSTs to a route URL (https://<host>/invocations); with MLFLOW_BRIDGE_GATEWAY=<scheme://address> set,
  // through that address with the route's host name as Host (a port-forward, a test gateway). A 413 says
  // `limit_hint`.
  static StatusOr<std::string> PostToRoute(const std::string& url, const std::string& body, const std::string& content_type,
                                           std::shared_ptr<HttpTransport> transport = nullptr, HttpHeaders headers = {},
                                           const std::string& limit_hint = "Kyma's gateway takes at most 5 MiB");

  static const ConfigSchema& Schema(const internal::KubeRouteStrategy& route);
  static std::string Help(const internal::KubeRouteStrategy& route);

  struct Impl;

 private:
  explicit KubernetesClient(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

}  // namespace mlflow_bridge
