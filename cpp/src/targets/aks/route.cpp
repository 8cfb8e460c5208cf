// AKS's routes: a deployment is reached through an Ingress (or a LoadBalancer Service), an MLflow endpoint
// through an ingress-nginx Ingress and, for a second deployment, a canary Ingress with its weight.
#include "targets/aks/route.h"

#include <memory>
#include <cstdlib>

#include "targets/aks/manifests.h"

using nlohmann::json;

namespace mlflow_bridge::internal {

class AksRoute : public KubeRouteStrategy {
 public:
  std::string Target() const override;
  const ConfigSchema& Schema() const override;
  std::shared_ptr<const KubeRouteConfig> ReadRouteConfig(const nlohmann::json& parsed) const override;
  std::string HelpPlatform() const override;
  std::string HelpReached() const override;
  std::string HelpRender() const override;
  std::string HelpEndpoints() const override;
  size_t MaxPayloadBytes() const override { return 100u << 20; }
  std::string PayloadLimitHint() const override { return "the Ingress takes at most 100 MiB (proxy-body-size)"; }

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

namespace {

using std::chrono::seconds;

const KubeResource& Services() { return KubeKind("v1", "Service"); }
const KubeResource& Ingresses() { return KubeKind("networking.k8s.io/v1", "Ingress"); }

// The route's own keys (KubeTargetConfig::route), made by ReadRouteConfig below.
struct AksConfig : KubeRouteConfig {
  std::string expose, ingress_class;
};
const AksConfig& Aks(const KubeSession& s) { return static_cast<const AksConfig&>(*s.config.route); }

}  // namespace

const KubeRouteStrategy& AksRouteStrategy() {
  static const AksRoute kRoute;
  return kRoute;
}

std::string AksRoute::Target() const { return "aks"; }

const ConfigSchema& AksRoute::Schema() const {
  static const ConfigSchema kAks = [] {
    ConfigSchema s = KubeCommonSchema();
    s.push_back(
        {"expose", ConfigType::kString, "ingress", "ingress (an Ingress), or loadbalancer (a LoadBalancer Service)."});
    s.push_back({"ingress_class", ConfigType::kString, "nginx", "ingressClassName of the Ingress."});
    return s;
  }();
  return kAks;
}

std::shared_ptr<const KubeRouteConfig> AksRoute::ReadRouteConfig(const json& parsed) const {
  auto c = std::make_shared<AksConfig>();
  c->expose = parsed.value("expose", "");
  c->ingress_class = parsed.value("ingress_class", "");
  return c;
}

std::string AksRoute::HelpPlatform() const { return "Azure Kubernetes Service"; }
std::string AksRoute::HelpReached() const { return "an Ingress (or a LoadBalancer Service with expose=loadbalancer)"; }
std::string AksRoute::HelpRender() const { return ""; }
std::string AksRoute::HelpEndpoints() const {
  return "an ingress-nginx Ingress and, for a second deployment, a canary Ingress: two deployments at most";
}

StatusOr<std::string> AksRoute::Host(KubeSession& s, const std::string&) const {
  return s.config.host;  // may be empty: the Ingress answers any host
}

std::string AksRoute::ServiceType(const KubeSession& s, const KubeApp& app) const {
  return Aks(s).expose == "loadbalancer" && app.endpoint.empty() ? "LoadBalancer" : "ClusterIP";
}

Status AksRoute::PlanRoute(KubeSession& s, KubePlan& p) const {
  if (ServiceType(s, p.app) == "LoadBalancer") return OkStatus();  // the Service is the route
  if (Aks(s).expose != "ingress") {
    return InvalidParameterError("Config key 'expose' must be ingress or loadbalancer; got '" + Aks(s).expose + "'.");
  }
  KubeRoute route;
  route.host = p.host;
  route.service = p.app.name;
  route.port = p.app.port;
  route.ingress_class = Aks(s).ingress_class;
  p.route_kind = "Ingress";
  p.objects.push_back(IngressManifest(p.app, route));
  p.url = p.host.empty() ? "" : "http://" + p.host;
  return OkStatus();
}

Status AksRoute::WaitRoute(KubeSession&, const KubePlan&, std::chrono::steady_clock::time_point, Clock&) const {
  return OkStatus();  // an Ingress or a LoadBalancer Service has no readiness of its own
}

StatusOr<std::string> AksRoute::RouteUrl(KubeSession& s, const std::string& name) const {
  auto ingress = s.kube->Get(Ingresses(), s.ns, name);
  if (ingress.ok()) {
    std::string host = ingress->value("/spec/rules/0/host"_json_pointer, "");
    if (host.empty()) host = ingress->value("/status/loadBalancer/ingress/0/ip"_json_pointer, "");
    if (host.empty()) return UnavailableError("Ingress " + s.ns + "/" + name + " has no address yet.");
    return "http://" + host;
  }
  auto service = s.kube->Get(Services(), s.ns, name);
  if (!service.ok()) return service.status();
  std::string ip = service->value("/status/loadBalancer/ingress/0/ip"_json_pointer, "");
  if (ip.empty()) ip = service->value("/status/loadBalancer/ingress/0/hostname"_json_pointer, "");
  if (ip.empty()) return UnavailableError("Service " + s.ns + "/" + name + " has no load balancer address yet.");
  return "http://" + ip + ":" + std::to_string(service->value("/spec/ports/0/port"_json_pointer, 8080));
}

std::vector<KubeObjectRef> AksRoute::AppRouteObjects(KubeSession&, const std::string& name) const {
  return {{&Ingresses(), name}};
}

Status AksRoute::CheckEndpointAuth(const KubeSession&) const { return OkStatus(); }

void AksRoute::ConfigureEndpoint(const KubeSession& s, KubeEndpoint& e) const { e.ingress_class = Aks(s).ingress_class; }

StatusOr<bool> AksRoute::ReadEndpoint(KubeSession& s, KubeEndpoint& e) const {
  const std::string& name = e.name;
  auto primary = s.kube->Get(Ingresses(), s.ns, name);
  if (!primary.ok() && primary.status().code() != StatusCode::kResourceDoesNotExist) return primary.status();
  if (!primary.ok() || !IsKubeEndpointObject(*primary, name)) return false;
  e.host = primary->value("/spec/rules/0/host"_json_pointer, "");
  e.ingress_class = primary->value("/spec/ingressClassName"_json_pointer, e.ingress_class);
  auto backend = [](const json& ingress) {
    const json& b = ingress.value("/spec/rules/0/http/paths/0/backend/service"_json_pointer, json::object());
    return KubeEndpointMember{b.value("name", ""), 100, b.value("/port/number"_json_pointer, 8080)};
  };
  KubeEndpointMember first = backend(*primary);
  if (first.name == name) return true;  // the Service without pods: no deployments yet
  e.members.push_back(first);
  auto canary = s.kube->Get(Ingresses(), s.ns, CanaryIngressName(name));
  if (canary.ok() && IsKubeEndpointObject(*canary, name)) {
    KubeEndpointMember second = backend(*canary);
    second.weight = std::atoi(canary->value("/metadata/annotations"_json_pointer, json::object())
                                  .value("nginx.ingress.kubernetes.io/canary-weight", "0")
                                  .c_str());
    e.members[0].weight = 100 - second.weight;
    e.members.push_back(second);
  }
  return true;
}

StatusOr<std::vector<json>> AksRoute::EndpointObjects(KubeSession&, const KubeEndpoint& e) const {
  return EndpointIngressManifests(e);
}

// Deletes the canary and the Service without pods when the endpoint no longer needs them.
Status AksRoute::PruneEndpoint(KubeSession& s, const KubeEndpoint& e, const std::vector<json>& applied) const {
  auto wanted = [&](const std::string& kind, const std::string& name) {
    for (const auto& o : applied)
      if (o.value("kind", "") == kind && o.value("/metadata/name"_json_pointer, "") == name) return true;
    return false;
  };
  for (const auto& [kind, name] : {KubeObjectRef{&Ingresses(), CanaryIngressName(e.name)}, {&Services(), e.name}}) {
    if (wanted(kind->kind, name)) continue;
    auto found = s.kube->Get(*kind, s.ns, name);
    if (found.ok() && IsKubeEndpointObject(*found, e.name)) {
      MLFLOW_BRIDGE_RETURN_IF_ERROR(DeleteKubeAndWait(*s.kube, s.wait, *kind, s.ns, name, seconds(60)));
    }
  }
  return OkStatus();
}

Status AksRoute::CheckRoom(const KubeSession& s, const std::string& endpoint, const KubeEndpoint& e) const {
  if (e.members.size() < 2) return OkStatus();
  return InvalidParameterError("Endpoint " + s.ns + "/" + endpoint + " has two deployments (" + e.members[0].name + " and " +
                               e.members[1].name +
                               ") already: ingress-nginx splits a host's traffic "
                               "between one Ingress and one canary only. Delete one of them first, or create "
                               "another endpoint.");
}

StatusOr<std::vector<KubeObjectRef>> AksRoute::EndpointRouteObjects(KubeSession&, const std::string& name) const {
  return std::vector<KubeObjectRef>{{&Ingresses(), CanaryIngressName(name)}, {&Ingresses(), name}, {&Services(), name}};
}

StatusOr<const KubeResource*> AksRoute::EndpointKind(KubeSession&) const { return &Ingresses(); }

std::string AksRoute::EndpointRoute(const std::string& ns, const std::string& name) const {
  return "Ingress " + ns + "/" + name;
}

StatusOr<std::string> AksRoute::EndpointUrl(KubeSession& s, const KubeEndpoint& e) const {
  return RouteUrl(s, e.name);  // the Ingress: its host, else its address
}

void AksRoute::PickDeployment(const KubeEndpoint& e, const std::string& name, HttpHeaders& headers) const {
  headers.emplace_back(kKubeCanaryHeader, e.members.size() > 1 && e.members[1].name == name ? "always" : "never");
}

}  // namespace mlflow_bridge::internal
