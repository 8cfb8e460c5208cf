// The route strategy: what differs between `kyma` and `aks` over the one Kubernetes deployment core
// (client.cpp). The core makes and waits for the Deployment, Service and pull Secret, keeps the MLflow
// endpoints' members and weights, and asks the strategy everything about the routes: the deployment's own
// route (Kyma: an APIRule; AKS: an Ingress or a LoadBalancer Service), the endpoint's (Kyma: an Istio
// VirtualService; AKS: an ingress-nginx Ingress and canary), their host names, URLs and capacity, the
// header that picks one deployment, the flavor's config keys and help text.
// Implemented in targets/kyma/route.cpp and targets/aks/route.cpp, whose target.cpp hands theirs to
// MakeKubernetesTarget: the core does not know its strategies.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "k8s/kube_api.h"
#include "k8s/kube_wait.h"
#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/config.h"
#include "mlflow_bridge/http.h"
#include "mlflow_bridge/kubernetes_client.h"
#include "mlflow_bridge/status.h"
#include "targets/kubernetes/config.h"
#include "targets/kubernetes/manifests.h"

namespace mlflow_bridge::internal {

// One operation's view of the cluster: its parsed config, the API (with the retry policy) and how to wait
// on it, and the namespace.
struct KubeSession {
  KubeTargetConfig config;
  std::shared_ptr<KubeApi> kube;  // null with render=true: rendering reads no kubeconfig and asks no cluster
  KubeWaitOptions wait;
  std::string ns;
  bool render = false;
};

// What a create or update applies.
struct KubePlan {
  KubeApp app;
  std::string route_kind;  // "APIRule", "Ingress", "" (LoadBalancer Service)
  std::string route_version;
  std::string url;  // where predict goes
  std::string host;
  std::vector<nlohmann::json> objects;  // in apply order
};

// An object by kind and name (what is deleted, in that order).
using KubeObjectRef = std::pair<const KubeResource*, std::string>;

class KubeRouteStrategy {
 public:
  virtual ~KubeRouteStrategy() = default;

  // The target's name: "kyma" or "aks".
  virtual std::string Target() const = 0;
  // All config keys: the common ones (KubeCommonSchema) and the flavor's.
  virtual const ConfigSchema& Schema() const = 0;
  // The route's own keys out of the config parsed with Schema(), in the strategy's own struct.
  virtual std::shared_ptr<const KubeRouteConfig> ReadRouteConfig(const nlohmann::json& parsed) const = 0;
  // Parts of the help text: the platform's name, how a deployment is reached, what render=true needs
  // besides the namespace (", ..." or ""), and what an endpoint's route is.
  virtual std::string HelpPlatform() const = 0;
  virtual std::string HelpReached() const = 0;
  virtual std::string HelpRender() const = 0;
  virtual std::string HelpEndpoints() const = 0;
  // The largest request body the route's gateway takes (predict splits larger inputs by rows), and how
  // a 413 says so: "Kyma's gateway takes at most 5 MiB".
  virtual size_t MaxPayloadBytes() const = 0;
  virtual std::string PayloadLimitHint() const = 0;

  // The host name of the route of deployment or endpoint `name` (may be empty where the route answers any host).
  virtual StatusOr<std::string> Host(KubeSession& s, const std::string& name) const = 0;

  // --- a deployment's own route
  // The Service's type for the deployment (`app.endpoint` empty: it has a route of its own).
  virtual std::string ServiceType(const KubeSession& s, const KubeApp& app) const = 0;
  // Adds the route of a deployment with no endpoint to the plan (p.host is set): its objects, kind,
  // version and URL.
  virtual Status PlanRoute(KubeSession& s, KubePlan& p) const = 0;
  // Waits (until `deadline` on `clock`) until the planned route is ready.
  virtual Status WaitRoute(KubeSession& s, const KubePlan& p, std::chrono::steady_clock::time_point deadline,
                           Clock& clock) const = 0;
  // The base URL of the deployment's route, read back from the cluster.
  virtual StatusOr<std::string> RouteUrl(KubeSession& s, const std::string& name) const = 0;
  // The route objects of a deployment (with no endpoint) to delete before its Service and Secret.
  virtual std::vector<KubeObjectRef> AppRouteObjects(KubeSession& s, const std::string& name) const = 0;

  // --- an MLflow endpoint's route
  // Auth the endpoint's route cannot check: an error when config asks for it.
  virtual Status CheckEndpointAuth(const KubeSession& s) const = 0;
  // Sets what config says of a new endpoint's route (gateway, ingress class).
  virtual void ConfigureEndpoint(const KubeSession& s, KubeEndpoint& e) const = 0;
  // Reads endpoint e.name's route into e (host, route settings, members with weights); false when there is none.
  virtual StatusOr<bool> ReadEndpoint(KubeSession& s, KubeEndpoint& e) const = 0;
  // The route objects to apply for the endpoint as it is.
  virtual StatusOr<std::vector<nlohmann::json>> EndpointObjects(KubeSession& s, const KubeEndpoint& e) const = 0;
  // After `applied` (EndpointObjects) was applied: deletes the endpoint's route objects it no longer needs.
  virtual Status PruneEndpoint(KubeSession& s, const KubeEndpoint& e, const std::vector<nlohmann::json>& applied) const = 0;
  // OK when one more deployment may join the endpoint; else the error saying why not.
  virtual Status CheckRoom(const KubeSession& s, const std::string& endpoint, const KubeEndpoint& e) const = 0;
  // The endpoint's route objects, in the order they are deleted.
  virtual StatusOr<std::vector<KubeObjectRef>> EndpointRouteObjects(KubeSession& s, const std::string& name) const = 0;
  // The kind of the endpoints' main route object (listed to find the endpoints).
  virtual StatusOr<const KubeResource*> EndpointKind(KubeSession& s) const = 0;
  // "<Kind> <namespace>/<name>" of the endpoint's route.
  virtual std::string EndpointRoute(const std::string& ns, const std::string& name) const = 0;
  // The base URL of the endpoint's route.
  virtual StatusOr<std::string> EndpointUrl(KubeSession& s, const KubeEndpoint& e) const = 0;
  // Headers that send a request on the endpoint's route to its deployment `name` only.
  virtual void PickDeployment(const KubeEndpoint& e, const std::string& name, HttpHeaders& headers) const = 0;
};

// The DeploymentTarget of the Kubernetes core with `route` (a static strategy), for namespace_name (the
// target URI's; "" for the kubeconfig's).
StatusOr<std::shared_ptr<DeploymentTarget>> MakeKubernetesTarget(const KubeRouteStrategy& route,
                                                                 const std::string& namespace_name,
                                                                 const DeploymentTargetOptions& options);

// ---------------------------------------------------------------- shared by the core and the routes
// The resource of apiVersion + kind (cached; the reference stays valid).
const KubeResource& KubeKind(std::string_view api_version, std::string_view kind);
// Whether mlflow-bridge made the object (its managed-by label).
bool IsKubeOurs(const nlohmann::json& object);
// The object's label `key`, or "".
std::string KubeLabelOf(const nlohmann::json& object, const char* key);
// Whether `object` is one of the route objects of endpoint `name`.
bool IsKubeEndpointObject(const nlohmann::json& object, const std::string& name);

}  // namespace mlflow_bridge::internal
