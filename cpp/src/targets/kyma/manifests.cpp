#include "targets/kyma/manifests.h"

#include <nlohmann/json.hpp>

namespace mlflow_bridge::internal {

using nlohmann::json;

json ApiRuleManifest(const KubeApp& app, const KubeRoute& route, const std::string& version) {
  const bool jwt = !route.jwt_issuer.empty() && !route.jwks_uri.empty();
  json service = {{"name", route.service}, {"namespace", app.namespace_name}, {"port", route.port}};
  json methods = json::array({"GET", "POST"});
  json spec;
  if (version == "v2") {
    json rule = {{"path", "/*"}, {"methods", methods}};
    if (jwt) rule["jwt"] = {{"authentications", json::array({{{"issuer", route.jwt_issuer}, {"jwksUri", route.jwks_uri}}})}};
    else rule["noAuth"] = true;
    spec = {{"hosts", json::array({route.host})},
            {"service", service},
            {"gateway", route.gateway},
            {"rules", json::array({rule})}};
  } else {
    json strategy =
        jwt ? json{{"handler", "jwt"},
                   {"config",
                    {{"trusted_issuers", json::array({route.jwt_issuer})}, {"jwks_urls", json::array({route.jwks_uri})}}}}
            : json{{"handler", "no_auth"}};
    spec = {
        {"host", route.host},
        {"service", service},
        {"gateway", route.gateway},
        {"rules", json::array({{{"path", "/.*"}, {"methods", methods}, {"accessStrategies", json::array({strategy})}}})}};
  }
  return {{"apiVersion", "gateway.kyma-project.io/" + version},
          {"kind", "APIRule"},
          {"metadata", KubeMetadata(app, app.name)},
          {"spec", spec}};
}

json VirtualServiceManifest(const KubeEndpoint& e, const std::string& version) {
  auto destination = [&](const KubeEndpointMember& m) {
    return json{{"host", m.name + "." + e.namespace_name + ".svc.cluster.local"}, {"port", {{"number", m.port}}}};
  };
  json http = json::array();
  json split = json::array();
  for (const auto& m : e.members) {
    http.push_back({{"name", "deployment-" + m.name},
                    {"match", json::array({{{"headers", {{kKubeDeploymentHeader, {{"exact", m.name}}}}}}})},
                    {"route", json::array({{{"destination", destination(m)}}})}});
    split.push_back({{"destination", destination(m)}, {"weight", m.weight}});
  }
  if (e.members.empty()) {
    http.push_back({{"name", "no-deployments"},
                    {"directResponse",
                     {{"status", 503},
                      {"body",
                       {{"string", "MLflow endpoint " + e.name +
                                       " has no deployments yet: "
                                       "add one with `mlflow deployments create --endpoint " +
                                       e.name + " ...`."}}}}}});
  } else {
    http.push_back({{"name", "weighted"}, {"route", split}});
  }
  return {{"apiVersion", "networking.istio.io/" + version},
          {"kind", "VirtualService"},
          {"metadata", KubeMetadata(KubeEndpointApp(e, e.name), e.name)},
          {"spec", {{"hosts", json::array({e.host})}, {"gateways", json::array({e.gateway})}, {"http", http}}}};
}

}  // namespace mlflow_bridge::internal
