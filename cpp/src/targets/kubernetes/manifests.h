// The Kubernetes objects of a model deployment, as plain JSON: a Deployment,
// a Service and an image pull Secret (the routes are the flavors': Kyma's in
// targets/kyma/manifests.h, AKS's in targets/aks/manifests.h). Pure functions:
// no API calls, so that `render=true` and the tests see exactly what would be
// applied.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "targets/managed_by.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

inline constexpr char kKubeNameKey[] = "app.kubernetes.io/name";
inline constexpr char kKubeEndpointKey[] = "mlflow-bridge/endpoint";
inline constexpr char kKubeModelUriKey[] = "mlflow-bridge/model-uri";
inline constexpr char kKubeRunIdKey[] = "mlflow-bridge/run-id";
inline constexpr char kKubeComponentKey[] = "app.kubernetes.io/component";
inline constexpr char kKubeEndpointComponent[] = "endpoint";  // the route objects of an MLflow endpoint
inline constexpr char kKubeHealthPath[] = "/ping";
// Requests carrying it reach one deployment of an endpoint, whatever the weights: on Kyma the
// header's value is the deployment's name (Istio header keys are lower case); on AKS it is
// ingress-nginx's canary-by-header, "always" for the canary and "never" for the primary.
inline constexpr char kKubeDeploymentHeader[] = "x-mlflow-deployment";
inline constexpr char kKubeCanaryHeader[] = "x-mlflow-canary";

// A DNS-1035 label (what Service names must be): 1-63 of [a-z0-9-], starting
// with a letter and ending with a letter or digit. `what` names it in the error.
Status CheckKubeName(const std::string& name, const std::string& what);

struct KubeApp {
  std::string name;  // the deployment: Deployment, Service, route and Secret names
  std::string namespace_name;
  std::string endpoint;   // the MLflow endpoint it belongs to; empty: none
  std::string component;  // app.kubernetes.io/component; empty: none (kKubeEndpointComponent for endpoints)
  std::string image;
  std::string pull_secret;  // name of a dockerconfigjson Secret; empty: none
  int replicas = 1;
  int port = 8080;
  std::string cpu_request, cpu_limit, memory_request, memory_limit;  // empty: not set
  long run_as_user = 1000;                                           // 0: as the image says (root allowed)
  nlohmann::json env = nlohmann::json::object();
  std::string model_uri, run_id;
  int progress_deadline_seconds = 600;
};

// Labels every object of `app` carries; `selector` is the subset Deployments and Services select on.
nlohmann::json KubeLabels(const KubeApp& app);
nlohmann::json KubeSelector(const std::string& name);

// The metadata of object `name` of `app`: its labels and annotations (model URI, run id).
nlohmann::json KubeMetadata(const KubeApp& app, const std::string& name);

nlohmann::json DeploymentManifest(const KubeApp& app);
// type: ClusterIP, or LoadBalancer (AKS without an ingress).
nlohmann::json ServiceManifest(const KubeApp& app, const std::string& type = "ClusterIP");
// kubernetes.io/dockerconfigjson for `registry` with a username/password (or token).
nlohmann::json PullSecretManifest(const KubeApp& app, const std::string& registry, const std::string& username,
                                  const std::string& password);

struct KubeRoute {
  std::string host;     // FQDN the route answers on
  std::string service;  // Service it sends to
  int port = 8080;
  std::string gateway = "kyma-system/kyma-gateway";
  std::string jwt_issuer, jwks_uri;  // both set: JWT required; else no auth
  std::string ingress_class = "nginx";
  int canary_weight = -1;  // >= 0: an ingress-nginx canary of the host's main Ingress (also by kKubeCanaryHeader)
};

// An MLflow endpoint: one stable route whose traffic its deployments share by weight.
struct KubeEndpointMember {
  std::string name;  // the deployment (its Service)
  int weight = 0;    // percent; the members' weights add up to 100
  int port = 8080;   // its Service's port
};
struct KubeEndpoint {
  std::string name, namespace_name;
  std::string host;  // Kyma: the FQDN; AKS: may be empty (any host)
  std::string gateway = "kyma-system/kyma-gateway";
  std::string ingress_class = "nginx";
  std::vector<KubeEndpointMember> members;  // AKS: [0] the primary, [1] the canary (ingress-nginx: one per host)
};

// Relative weights (>= 0, at least one > 0) as whole percents adding up to 100 (largest remainders).
std::vector<int> PercentWeights(const std::vector<double>& weights);

// The app whose labels the endpoint's route object `name` carries (component kKubeEndpointComponent).
KubeApp KubeEndpointApp(const KubeEndpoint& endpoint, const std::string& name);

// YAML documents ("---" between them) for `render=true`; strings that YAML
// would read as something else (true, 1.0, null, "") are quoted.
std::string RenderYaml(const std::vector<nlohmann::json>& objects);

}  // namespace mlflow_bridge::internal
