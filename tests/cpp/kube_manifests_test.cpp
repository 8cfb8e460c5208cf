#include "targets/kubernetes/manifests.h"
#include "targets/aks/manifests.h"
#include "targets/kyma/manifests.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "image/registry_auth.h"
#include "common/base64.h"

using nlohmann::json;

namespace mlflow_bridge::internal {
namespace {

KubeApp App() {
  KubeApp a;
  a.name = "churn";
  a.namespace_name = "models";
  a.image = "reg.example.com/churn@sha256:" + std::string(64, 'a');
  a.pull_secret = "churn-pull";
  a.replicas = 2;
  a.cpu_request = "500m";
  a.memory_limit = "2Gi";
  a.env = {{"FLAG", "true"}, {"THREADS", 4}};
  a.model_uri = "models:/churn/3";
  a.run_id = "abc123";
  return a;
}

// YAML back to JSON the way a Kubernetes client reads it: plain scalars are typed, quoted ones are strings.
json FromYaml(const YAML::Node& n) {
  if (n.IsMap()) {
    json o = json::object();
    for (const auto& kv : n) o[kv.first.as<std::string>()] = FromYaml(kv.second);
    return o;
  }
  if (n.IsSequence()) {
    json a = json::array();
    for (const auto& x : n) a.push_back(FromYaml(x));
    return a;
  }
  if (n.IsNull()) return nullptr;
  const std::string& s = n.Scalar();
  if (n.Tag() == "!") return s;  // quoted
  if (s == "true" || s == "false") return s == "true";
  char* end = nullptr;
  long long i = std::strtoll(s.c_str(), &end, 10);
  if (*end == '\0') return i;
  double d = std::strtod(s.c_str(), &end);
  if (*end == '\0') return d;
  return s;
}

TEST(KubeManifests, NamesAreDns1035Labels) {
  for (const std::string& ok : std::vector<std::string>{"a", "churn", "churn-2", std::string(63, 'x')})
    EXPECT_TRUE(CheckKubeName(ok, "name").ok()) << ok;
  for (const std::string& bad :
       std::vector<std::string>{"", "Churn", "2churn", "churn-", "churn_2", "churn.2", std::string(64, 'x')}) {
    Status s = CheckKubeName(bad, "deployment name");
    EXPECT_EQ(s.code(), StatusCode::kInvalidParameterValue) << bad;
    EXPECT_NE(s.message().find("deployment name '" + bad + "'"), std::string::npos);
  }
}

TEST(KubeManifests, DeploymentAndService) {
  json d = DeploymentManifest(App());
  EXPECT_EQ(d["apiVersion"], "apps/v1");
  EXPECT_EQ(d["metadata"]["labels"][kManagedByKey], "mlflow-bridge");
  EXPECT_EQ(d["metadata"]["annotations"][kKubeModelUriKey], "models:/churn/3");
  EXPECT_EQ(d["spec"]["selector"]["matchLabels"], KubeSelector("churn"));
  const json& pod = d["spec"]["template"]["spec"];
  const json& c = pod["containers"][0];
  EXPECT_EQ(c["image"], App().image);
  EXPECT_EQ(c["readinessProbe"]["httpGet"]["path"], "/ping");
  EXPECT_EQ(c["resources"], json({{"requests", {{"cpu", "500m"}}}, {"limits", {{"memory", "2Gi"}}}}));
  EXPECT_EQ(pod["imagePullSecrets"][0]["name"], "churn-pull");
  EXPECT_TRUE(pod["securityContext"]["runAsNonRoot"].get<bool>());
  json env = c["env"];
  EXPECT_NE(std::find(env.begin(), env.end(), json({{"name", "THREADS"}, {"value", "4"}})), env.end());
  EXPECT_EQ(d["spec"]["template"]["metadata"]["labels"][kKubeNameKey], "churn");

  KubeApp root = App();
  root.run_as_user = 0;
  EXPECT_FALSE(DeploymentManifest(root)["spec"]["template"]["spec"]["securityContext"].contains("runAsNonRoot"));

  json s = ServiceManifest(App(), "LoadBalancer");
  EXPECT_EQ(s["spec"]["type"], "LoadBalancer");
  EXPECT_EQ(s["spec"]["ports"][0]["port"], 8080);
  EXPECT_EQ(s["spec"]["selector"], KubeSelector("churn"));
}

TEST(KubeManifests, PullSecretIsADockerConfig) {
  json s = PullSecretManifest(App(), "reg.example.com", "sp-id", "sp-secret");
  EXPECT_EQ(s["type"], "kubernetes.io/dockerconfigjson");
  EXPECT_EQ(s["metadata"]["name"], "churn-pull");
  json config = json::parse(*Base64Decode(s["data"][".dockerconfigjson"].get<std::string>()));
  EXPECT_EQ(config["auths"]["reg.example.com"]["auth"], Base64Encode("sp-id:sp-secret"));
}

TEST(KubeManifests, ApiRuleV2AndV1beta1) {
  KubeRoute r;
  r.host = "churn.c-1.kyma.ondemand.com";
  r.service = "churn";
  json v2 = ApiRuleManifest(App(), r, "v2");
  EXPECT_EQ(v2["apiVersion"], "gateway.kyma-project.io/v2");
  EXPECT_EQ(v2["spec"]["hosts"], json::array({r.host}));
  EXPECT_EQ(v2["spec"]["gateway"], "kyma-system/kyma-gateway");
  EXPECT_EQ(v2["spec"]["rules"][0]["noAuth"], true);
  EXPECT_EQ(v2["spec"]["service"]["port"], 8080);
  json v1 = ApiRuleManifest(App(), r, "v1beta1");
  EXPECT_EQ(v1["spec"]["host"], r.host);
  EXPECT_EQ(v1["spec"]["rules"][0]["accessStrategies"][0]["handler"], "no_auth");
  r.jwt_issuer = "https://issuer.example.com";
  r.jwks_uri = "https://issuer.example.com/keys";
  json jwt = ApiRuleManifest(App(), r, "v2");
  EXPECT_FALSE(jwt["spec"]["rules"][0].contains("noAuth"));
  EXPECT_EQ(jwt["spec"]["rules"][0]["jwt"]["authentications"][0]["jwksUri"], r.jwks_uri);
}

TEST(KubeManifests, IngressAndCanary) {
  KubeRoute r;
  r.host = "churn.example.com";
  r.service = "churn";
  json i = IngressManifest(App(), r);
  EXPECT_EQ(i["spec"]["ingressClassName"], "nginx");
  EXPECT_EQ(i["spec"]["rules"][0]["host"], r.host);
  EXPECT_EQ(i["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"], "churn");
  EXPECT_FALSE(i["metadata"]["annotations"].contains("nginx.ingress.kubernetes.io/canary"));
  r.canary_weight = 20;
  json c = IngressManifest(App(), r);
  EXPECT_EQ(c["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary"], "true");
  EXPECT_EQ(c["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"], "20");
  EXPECT_EQ(c["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-by-header"], kKubeCanaryHeader);
}

TEST(KubeManifests, PercentWeightsAddUpTo100) {
  EXPECT_EQ(PercentWeights({1, 1, 1}), (std::vector<int>{34, 33, 33}));
  EXPECT_EQ(PercentWeights({90, 10}), (std::vector<int>{90, 10}));
  EXPECT_EQ(PercentWeights({3, 1}), (std::vector<int>{75, 25}));
  EXPECT_EQ(PercentWeights({0, 5}), (std::vector<int>{0, 100}));
  EXPECT_EQ(PercentWeights({2, 2, 2, 1}), (std::vector<int>{29, 29, 28, 14}));
  EXPECT_EQ(PercentWeights({0, 0}), (std::vector<int>{0, 0}));  // callers refuse it
  EXPECT_EQ(PercentWeights({}), (std::vector<int>{}));
}

KubeEndpoint Endpoint(std::vector<KubeEndpointMember> members) {
  KubeEndpoint e;
  e.name = "churn";
  e.namespace_name = "models";
  e.host = "churn.c-1.kyma.example.com";
  e.members = std::move(members);
  return e;
}

TEST(KubeManifests, EndpointVirtualService) {
  json vs = VirtualServiceManifest(Endpoint({{"blue", 90, 8080}, {"green", 10, 9000}}), "v1");
  EXPECT_EQ(vs["apiVersion"], "networking.istio.io/v1");
  EXPECT_EQ(vs["metadata"]["labels"][kKubeComponentKey], "endpoint");
  EXPECT_EQ(vs["metadata"]["labels"][kKubeEndpointKey], "churn");
  EXPECT_FALSE(vs["metadata"]["annotations"].contains(kKubeModelUriKey));
  EXPECT_EQ(vs["spec"]["hosts"], json::array({"churn.c-1.kyma.example.com"}));
  EXPECT_EQ(vs["spec"]["gateways"], json::array({"kyma-system/kyma-gateway"}));
  const json& http = vs["spec"]["http"];
  ASSERT_EQ(http.size(), 3u);  // one route per deployment by header, then the split
  EXPECT_EQ(http[1]["match"][0]["headers"][kKubeDeploymentHeader]["exact"], "green");
  EXPECT_EQ(http[1]["route"][0]["destination"]["host"], "green.models.svc.cluster.local");
  EXPECT_EQ(http[1]["route"][0]["destination"]["port"]["number"], 9000);
  EXPECT_EQ(http[2]["name"], "weighted");
  EXPECT_EQ(http[2]["route"][0]["weight"], 90);
  EXPECT_EQ(http[2]["route"][1]["weight"], 10);

  json empty = VirtualServiceManifest(Endpoint({}), "v1beta1");
  ASSERT_EQ(empty["spec"]["http"].size(), 1u);
  EXPECT_EQ(empty["spec"]["http"][0]["directResponse"]["status"], 503);
  EXPECT_NE(empty["spec"]["http"][0]["directResponse"]["body"]["string"].get<std::string>().find("--endpoint churn"),
            std::string::npos);
}

TEST(KubeManifests, EndpointIngresses) {
  auto empty = EndpointIngressManifests(Endpoint({}));
  ASSERT_EQ(empty.size(), 2u);  // a Service without pods for the Ingress to point at
  EXPECT_EQ(empty[0]["kind"], "Service");
  EXPECT_FALSE(empty[0]["spec"].contains("selector"));
  EXPECT_EQ(empty[1]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"], "churn");

  auto one = EndpointIngressManifests(Endpoint({{"blue", 100, 8080}}));
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0]["metadata"]["name"], "churn");
  EXPECT_EQ(one[0]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"], "blue");

  auto two = EndpointIngressManifests(Endpoint({{"blue", 70, 8080}, {"green", 30, 8080}}));
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[1]["metadata"]["name"], CanaryIngressName("churn"));
  EXPECT_EQ(two[1]["metadata"]["labels"][kKubeEndpointKey], "churn");
  EXPECT_EQ(two[1]["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"], "30");
  EXPECT_EQ(two[1]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"], "green");
  EXPECT_FALSE(two[0]["metadata"]["annotations"].contains("nginx.ingress.kubernetes.io/canary"));
}

TEST(KubeManifests, YamlReadsBackAsTheSameObjects) {
  KubeRoute r;
  r.host = "churn.example.com";
  r.service = "churn";
  r.canary_weight = 20;
  KubeApp a = App();
  a.env = {{"A", "true"}, {"B", "1.5"}, {"C", ""}, {"D", "null"}, {"E", "x: y"}, {"F", "# not a comment"}, {"G", "0755"}};
  std::vector<json> objects = {DeploymentManifest(a), ServiceManifest(a), IngressManifest(a, r),
                               ApiRuleManifest(a, r, "v2")};
  std::string yaml = RenderYaml(objects);
  std::vector<YAML::Node> docs = YAML::LoadAll(yaml);
  ASSERT_EQ(docs.size(), objects.size());
  for (size_t i = 0; i < docs.size(); ++i) EXPECT_EQ(FromYaml(docs[i]), objects[i]) << yaml;
}

}  // namespace
}  // namespace mlflow_bridge::internal
