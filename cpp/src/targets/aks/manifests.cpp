#include "targets/aks/manifests.h"

#include <nlohmann/json.hpp>

namespace mlflow_bridge::internal {

using nlohmann::json;

json IngressManifest(const KubeApp& app, const KubeRoute& route) {
  json meta = KubeMetadata(app, app.name);
  // MLflow's scoring server takes large batches; the controller's 1 MB default would refuse them.
  meta["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"] = "100m";
  if (route.canary_weight >= 0) {
    meta["annotations"]["nginx.ingress.kubernetes.io/canary"] = "true";
    meta["annotations"]["nginx.ingress.kubernetes.io/canary-weight"] = std::to_string(route.canary_weight);
    meta["annotations"]["nginx.ingress.kubernetes.io/canary-by-header"] = kKubeCanaryHeader;
  }
  json path = {{"path", "/"},
               {"pathType", "Prefix"},
               {"backend", {{"service", {{"name", route.service}, {"port", {{"number", route.port}}}}}}}};
  json rule = {{"http", {{"paths", json::array({path})}}}};
  if (!route.host.empty()) rule["host"] = route.host;
  return {{"apiVersion", "networking.k8s.io/v1"},
          {"kind", "Ingress"},
          {"metadata", meta},
          {"spec", {{"ingressClassName", route.ingress_class}, {"rules", json::array({rule})}}}};
}

std::string CanaryIngressName(const std::string& endpoint) { return endpoint + "-canary"; }

std::vector<json> EndpointIngressManifests(const KubeEndpoint& e) {
  std::vector<json> out;
  KubeRoute route;
  route.host = e.host;
  route.ingress_class = e.ingress_class;
  if (e.members.empty()) {
    KubeApp app = KubeEndpointApp(e, e.name);
    json service = ServiceManifest(app);
    service["spec"].erase("selector");  // no pods: the controller answers 503 until a deployment joins
    out.push_back(service);
    route.service = e.name;
  } else {
    route.service = e.members[0].name;
    route.port = e.members[0].port;
  }
  out.push_back(IngressManifest(KubeEndpointApp(e, e.name), route));
  if (e.members.size() > 1) {
    route.service = e.members[1].name;
    route.port = e.members[1].port;
    route.canary_weight = e.members[1].weight;
    out.push_back(IngressManifest(KubeEndpointApp(e, CanaryIngressName(e.name)), route));
  }
  return out;
}

}  // namespace mlflow_bridge::internal
