// Kyma's routes: a deployment is reached through an APIRule (https://<host>, optionally checking JWTs), an
// MLflow endpoint through an Istio VirtualService on the Kyma gateway that splits traffic by weight.
#include "targets/kyma/route.h"

#include <memory>
#include <cctype>
#include <optional>

#include "targets/kyma/manifests.h"

using nlohmann::json;

namespace mlflow_bridge::internal {

class KymaRoute : public KubeRouteStrategy {
 public:
  std::string Target() const override;
  const ConfigSchema& Schema() const override;
  std::shared_ptr<const KubeRouteConfig> ReadRouteConfig(const nlohmann::json& parsed) const override;
  std::string HelpPlatform() const override;
  std::string HelpReached() const override;
  std::string HelpRender() const override;
  std::string HelpEndpoints() const override;
  size_t MaxPayloadBytes() const override { return 5u << 20; }
  std::string PayloadLimitHint() const override { return "Kyma's gateway takes at most 5 MiB"; }

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

const KubeResource& ConfigMaps() { return KubeKind("v1", "ConfigMap"); }
const KubeResource& ApiRules(const std::string& version) {
  return KubeKind("gateway.kyma-project.io/" + version, "APIRule");
}
const KubeResource& VirtualServices(const std::string& version) {
  return KubeKind("networking.istio.io/" + version, "VirtualService");
}

// The route's own keys (KubeTargetConfig::route), made by ReadRouteConfig below.
struct KymaConfig : KubeRouteConfig {
  std::string domain, gateway, auth, jwt_issuer, jwks_uri, apirule_version;
};
const KymaConfig& Kyma(const KubeSession& s) { return static_cast<const KymaConfig&>(*s.config.route); }

StatusOr<std::string> ClusterDomain(KubeSession& s) {
  if (!Kyma(s).domain.empty()) return Kyma(s).domain;
  if (s.render) {
    return InvalidParameterError(
        "render=true asks no cluster, so it cannot look up the cluster's domain for the "
        "route's host name: pass -C domain=<cluster domain> (Kyma keeps it in ConfigMap "
        "kube-system/shoot-info: kubectl get configmap shoot-info -n kube-system -o "
        "jsonpath='{.data.domain}'), or the whole host name with -C host=<fqdn>.");
  }
  // Kyma (Gardener) clusters say it in kube-system/shoot-info.
  auto info = s.kube->Get(ConfigMaps(), "kube-system", "shoot-info");
  if (info.ok() && !info->value("/data/domain"_json_pointer, "").empty())
    return info->value("/data/domain"_json_pointer, "");
  // As SAP FedML does: the API server's host without its first label (api.c-1.kyma.ondemand.com).
  std::string host = s.kube->config().server;
  host = host.substr(host.find("://") == std::string::npos ? 0 : host.find("://") + 3);
  host = host.substr(0, host.find_first_of(":/"));
  size_t dot = host.find('.');
  if (dot == std::string::npos || std::isdigit(static_cast<unsigned char>(host.back()))) {
    return InvalidParameterError("Cannot tell the cluster's domain from its API server address (" + s.kube->config().server +
                                 "): pass -C host=<fqdn> or -C domain=<domain>.");
  }
  return host.substr(dot + 1);
}

StatusOr<std::string> ApiRuleVersion(KubeSession& s) {
  std::string wanted = Kyma(s).apirule_version;
  if (wanted != "auto" && wanted != "v2" && wanted != "v1beta1") {
    return InvalidParameterError("Config key 'apirule_version' must be auto, v2 or v1beta1; got '" + wanted + "'.");
  }
  if (wanted != "auto") return wanted;
  if (s.render) return std::string("v2");  // asks no cluster: the version Kyma serves today
  auto v2 = s.kube->Serves("gateway.kyma-project.io", "v2");
  if (!v2.ok()) return v2.status();
  if (*v2) return std::string("v2");
  auto v1 = s.kube->Serves("gateway.kyma-project.io", "v1beta1");
  if (!v1.ok()) return v1.status();
  if (*v1) return std::string("v1beta1");
  return InvalidParameterError(
      "The cluster serves no APIRule (gateway.kyma-project.io v2 or v1beta1): is the Kyma "
      "API Gateway module enabled?");
}

StatusOr<std::string> IstioVersion(KubeSession& s) {
  if (s.render) return std::string("v1");  // asks no cluster: what Istio serves since 1.22 (Kyma's)
  for (const char* version : {"v1", "v1beta1"}) {
    auto serves = s.kube->Serves("networking.istio.io", version);
    if (!serves.ok()) return serves.status();
    if (*serves) return std::string(version);
  }
  return InvalidParameterError(
      "The cluster serves no Istio VirtualService (networking.istio.io v1 or v1beta1): "
      "MLflow endpoints on Kyma need the Istio module.");
}

}  // namespace

const KubeRouteStrategy& KymaRouteStrategy() {
  static const KymaRoute kRoute;
  return kRoute;
}

std::string KymaRoute::Target() const { return "kyma"; }

const ConfigSchema& KymaRoute::Schema() const {
  static const ConfigSchema kKyma = [] {
    ConfigSchema s = KubeCommonSchema();
    s.push_back({"domain", ConfigType::kString, "",
                 "Cluster domain for host names. Default: kube-system/shoot-info, else the API server's domain."});
    s.push_back({"gateway", ConfigType::kString, "kyma-system/kyma-gateway", "Istio gateway of the APIRule."});
    s.push_back({"auth", ConfigType::kString, "none", "Access to the route: none, or jwt (with jwt_issuer and jwks_uri)."});
    s.push_back({"jwt_issuer", ConfigType::kString, "", "With auth=jwt: the token issuer."});
    s.push_back({"jwks_uri", ConfigType::kString, "", "With auth=jwt: where the issuer's keys are."});
    s.push_back({"apirule_version", ConfigType::kString, "auto",
                 "APIRule version: auto (v2 when the cluster serves it, else v1beta1; with render=true, which asks no "
                 "cluster: v2), v2 or v1beta1."});
    return s;
  }();
  return kKyma;
}

std::shared_ptr<const KubeRouteConfig> KymaRoute::ReadRouteConfig(const json& parsed) const {
  auto c = std::make_shared<KymaConfig>();
  c->domain = parsed.value("domain", "");
  c->gateway = parsed.value("gateway", "");
  c->auth = parsed.value("auth", "");
  c->jwt_issuer = parsed.value("jwt_issuer", "");
  c->jwks_uri = parsed.value("jwks_uri", "");
  c->apirule_version = parsed.value("apirule_version", "");
  return c;
}

std::string KymaRoute::HelpPlatform() const { return "SAP BTP Kyma"; }
std::string KymaRoute::HelpReached() const { return "an APIRule (https://<host>)"; }
std::string KymaRoute::HelpRender() const { return ", host or domain, and apirule_version (default v2)"; }
std::string KymaRoute::HelpEndpoints() const {
  return "an Istio VirtualService on the Kyma gateway, https://<endpoint>.<domain>";
}

StatusOr<std::string> KymaRoute::Host(KubeSession& s, const std::string& name) const {
  std::string host = s.config.host;
  if (host.find('.') != std::string::npos) return host;
  auto domain = ClusterDomain(s);
  if (!domain.ok()) return domain.status();
  return (host.empty() ? name : host) + "." + *domain;
}

std::string KymaRoute::ServiceType(const KubeSession&, const KubeApp&) const { return "ClusterIP"; }

Status KymaRoute::PlanRoute(KubeSession& s, KubePlan& p) const {
  KubeRoute route;
  route.host = p.host;
  route.service = p.app.name;
  route.port = p.app.port;
  route.gateway = Kyma(s).gateway;
  if (Kyma(s).auth == "jwt") {
    route.jwt_issuer = Kyma(s).jwt_issuer;
    route.jwks_uri = Kyma(s).jwks_uri;
    if (route.jwt_issuer.empty() || route.jwks_uri.empty()) {
      return InvalidParameterError("auth=jwt needs -C jwt_issuer=<issuer URL> and -C jwks_uri=<keys URL>.");
    }
  } else if (Kyma(s).auth != "none") {
    return InvalidParameterError("Config key 'auth' must be none or jwt; got '" + Kyma(s).auth + "'.");
  }
  auto version = ApiRuleVersion(s);
  if (!version.ok()) return version.status();
  p.route_kind = "APIRule";
  p.route_version = *version;
  p.objects.push_back(ApiRuleManifest(p.app, route, *version));
  p.url = "https://" + p.host;
  return OkStatus();
}

Status KymaRoute::WaitRoute(KubeSession& s, const KubePlan& p, std::chrono::steady_clock::time_point deadline,
                            Clock& clock) const {
  if (p.route_kind != "APIRule") return OkStatus();
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock.Now());
  if (left.count() <= 0) left = std::chrono::milliseconds(1);
  auto r = WaitForKube(
      *s.kube, s.wait, ApiRules(p.route_version), s.ns, p.app.name, left, [&](const json& rule) -> std::optional<Status> {
        std::string state = p.route_version == "v2" ? rule.value("/status/state"_json_pointer, "")
                                                    : rule.value("/status/APIRuleStatus/code"_json_pointer, "");
        if (state == "Ready" || state == "OK") return OkStatus();
        if (state == "Error") {
          std::string why = p.route_version == "v2" ? rule.value("/status/description"_json_pointer, "")
                                                    : rule.value("/status/APIRuleStatus/desc"_json_pointer, "");
          return InvalidParameterError("APIRule " + s.ns + "/" + p.app.name + " was refused by Kyma: " + why);
        }
        return std::nullopt;
      });
  return r.status();
}

StatusOr<std::string> KymaRoute::RouteUrl(KubeSession& s, const std::string& name) const {
  for (const char* version : {"v2", "v1beta1"}) {
    auto serves = s.kube->Serves("gateway.kyma-project.io", version);
    if (!serves.ok() || !*serves) continue;
    auto rule = s.kube->Get(ApiRules(version), s.ns, name);
    if (!rule.ok()) continue;
    std::string host = std::string(version) == "v2" ? rule->value("/spec/hosts/0"_json_pointer, "")
                                                    : rule->value("/spec/host"_json_pointer, "");
    if (!host.empty()) return "https://" + host;
  }
  return NotFoundError("Deployment " + s.ns + "/" + name + " has no APIRule.");
}

std::vector<KubeObjectRef> KymaRoute::AppRouteObjects(KubeSession& s, const std::string& name) const {
  for (const char* version : {"v2", "v1beta1"}) {
    auto serves = s.kube->Serves("gateway.kyma-project.io", version);
    if (serves.ok() && *serves) return {{&ApiRules(version), name}};
  }
  return {};
}

// An endpoint's route has no token check: refuse auth=jwt rather than serve without it.
Status KymaRoute::CheckEndpointAuth(const KubeSession& s) const {
  if (Kyma(s).auth == "none") return OkStatus();
  return InvalidParameterError("auth=" + Kyma(s).auth +
                               " is not available for MLflow endpoints: their route "
                               "(an Istio VirtualService) checks no tokens. Leave out auth, or serve the model as a "
                               "deployment of its own (its APIRule checks JWTs with auth=jwt).");
}

void KymaRoute::ConfigureEndpoint(const KubeSession& s, KubeEndpoint& e) const { e.gateway = Kyma(s).gateway; }

StatusOr<bool> KymaRoute::ReadEndpoint(KubeSession& s, KubeEndpoint& e) const {
  auto version = IstioVersion(s);
  if (!version.ok()) return version.status();
  auto vs = s.kube->Get(VirtualServices(*version), s.ns, e.name);
  if (!vs.ok() && vs.status().code() != StatusCode::kResourceDoesNotExist) return vs.status();
  if (!vs.ok() || !IsKubeEndpointObject(*vs, e.name)) return false;
  e.host = vs->value("/spec/hosts/0"_json_pointer, "");
  e.gateway = vs->value("/spec/gateways/0"_json_pointer, e.gateway);
  for (const auto& http : vs->value("/spec/http"_json_pointer, json::array())) {
    if (http.value("name", "") != "weighted") continue;
    for (const auto& r : http.value("route", json::array())) {
      std::string host = r.value("/destination/host"_json_pointer, "");
      e.members.push_back(
          {host.substr(0, host.find('.')), r.value("weight", 0), r.value("/destination/port/number"_json_pointer, 8080)});
    }
  }
  return true;
}

StatusOr<std::vector<json>> KymaRoute::EndpointObjects(KubeSession& s, const KubeEndpoint& e) const {
  auto version = IstioVersion(s);
  if (!version.ok()) return version.status();
  return std::vector<json>{VirtualServiceManifest(e, *version)};
}

Status KymaRoute::PruneEndpoint(KubeSession&, const KubeEndpoint&, const std::vector<json>&) const { return OkStatus(); }

Status KymaRoute::CheckRoom(const KubeSession&, const std::string&, const KubeEndpoint&) const { return OkStatus(); }

StatusOr<std::vector<KubeObjectRef>> KymaRoute::EndpointRouteObjects(KubeSession& s, const std::string& name) const {
  auto version = IstioVersion(s);
  if (!version.ok()) return version.status();
  return std::vector<KubeObjectRef>{{&VirtualServices(*version), name}};
}

StatusOr<const KubeResource*> KymaRoute::EndpointKind(KubeSession& s) const {
  auto version = IstioVersion(s);
  if (!version.ok()) return version.status();
  return &VirtualServices(*version);
}

std::string KymaRoute::EndpointRoute(const std::string& ns, const std::string& name) const {
  return "VirtualService " + ns + "/" + name;
}

StatusOr<std::string> KymaRoute::EndpointUrl(KubeSession&, const KubeEndpoint& e) const { return "https://" + e.host; }

void KymaRoute::PickDeployment(const KubeEndpoint&, const std::string& name, HttpHeaders& headers) const {
  headers.emplace_back(kKubeDeploymentHeader, name);
}

}  // namespace mlflow_bridge::internal
