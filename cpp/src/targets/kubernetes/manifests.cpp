#include "targets/kubernetes/manifests.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "common/base64.h"

using nlohmann::json;

namespace mlflow_bridge::internal {

Status CheckKubeName(const std::string& name, const std::string& what) {
  bool ok = !name.empty() && name.size() <= 63 && std::islower(static_cast<unsigned char>(name.front())) &&
            (std::islower(static_cast<unsigned char>(name.back())) || std::isdigit(static_cast<unsigned char>(name.back())));
  for (char c : name)
    ok = ok && (std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '-');
  if (ok) return OkStatus();
  return InvalidParameterError("Invalid " + what + " '" + name +
                               "': Kubernetes names have 1 to 63 lower-case letters, digits and hyphens, start with "
                               "a letter and end with a letter or digit (e.g. churn-model-2).");
}

json KubeSelector(const std::string& name) { return {{kKubeNameKey, name}}; }

json KubeLabels(const KubeApp& app) {
  json labels = {{kManagedByKey, kManagedByValue}, {kKubeNameKey, app.name}};
  if (!app.endpoint.empty()) labels[kKubeEndpointKey] = app.endpoint;
  if (!app.component.empty()) labels[kKubeComponentKey] = app.component;
  return labels;
}

json KubeMetadata(const KubeApp& app, const std::string& name) {
  json annotations = json::object();
  if (!app.model_uri.empty()) annotations[kKubeModelUriKey] = app.model_uri;
  if (!app.run_id.empty()) annotations[kKubeRunIdKey] = app.run_id;
  return {{"name", name}, {"namespace", app.namespace_name}, {"labels", KubeLabels(app)}, {"annotations", annotations}};
}

namespace {

json Probe(int failure_threshold, int period_seconds) {
  return {{"httpGet", {{"path", kKubeHealthPath}, {"port", "http"}}},
          {"periodSeconds", period_seconds},
          {"timeoutSeconds", 5},
          {"failureThreshold", failure_threshold}};
}

}  // namespace

json DeploymentManifest(const KubeApp& app) {
  json env = json::array(
      {{{"name", "MLFLOW_BRIDGE_PORT"}, {"value", std::to_string(app.port)}}, {{"name", "HOME"}, {"value", "/tmp"}}});
  for (const auto& [k, v] : app.env.items())
    env.push_back({{"name", k}, {"value", v.is_string() ? v.get<std::string>() : v.dump()}});
  json resources = json::object();
  if (!app.cpu_request.empty()) resources["requests"]["cpu"] = app.cpu_request;
  if (!app.memory_request.empty()) resources["requests"]["memory"] = app.memory_request;
  if (!app.cpu_limit.empty()) resources["limits"]["cpu"] = app.cpu_limit;
  if (!app.memory_limit.empty()) resources["limits"]["memory"] = app.memory_limit;
  json container = {
      {"name", "model"},
      {"image", app.image},
      {"ports", json::array({{{"name", "http"}, {"containerPort", app.port}, {"protocol", "TCP"}}})},
      {"env", env},
      {"resources", resources},
      // Loading a model can take minutes: the startup probe holds the others back until /ping answers.
      {"startupProbe", Probe(120, 5)},
      {"readinessProbe", Probe(3, 5)},
      {"livenessProbe", Probe(6, 10)},
      {"securityContext", {{"allowPrivilegeEscalation", false}, {"capabilities", {{"drop", json::array({"ALL"})}}}}}};
  json pod_security = {{"seccompProfile", {{"type", "RuntimeDefault"}}}};
  if (app.run_as_user > 0) {
    pod_security["runAsNonRoot"] = true;
    pod_security["runAsUser"] = app.run_as_user;
    pod_security["runAsGroup"] = app.run_as_user;
  }
  json pod_spec = {{"containers", json::array({container})}, {"securityContext", pod_security}};
  if (!app.pull_secret.empty()) pod_spec["imagePullSecrets"] = json::array({{{"name", app.pull_secret}}});
  json template_meta = {{"labels", KubeLabels(app)}, {"annotations", KubeMetadata(app, app.name)["annotations"]}};
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", KubeMetadata(app, app.name)},
          {"spec",
           {{"replicas", app.replicas},
            {"revisionHistoryLimit", 5},
            {"progressDeadlineSeconds", app.progress_deadline_seconds},
            {"selector", {{"matchLabels", KubeSelector(app.name)}}},
            {"strategy", {{"type", "RollingUpdate"}, {"rollingUpdate", {{"maxSurge", 1}, {"maxUnavailable", 0}}}}},
            {"template", {{"metadata", template_meta}, {"spec", pod_spec}}}}}};
}

json ServiceManifest(const KubeApp& app, const std::string& type) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", KubeMetadata(app, app.name)},
          {"spec",
           {{"type", type},
            {"selector", KubeSelector(app.name)},
            {"ports", json::array({{{"name", "http"}, {"port", app.port}, {"targetPort", "http"}, {"protocol", "TCP"}}})}}}};
}

json PullSecretManifest(const KubeApp& app, const std::string& registry, const std::string& username,
                        const std::string& password) {
  json config = {
      {"auths",
       {{registry, {{"username", username}, {"password", password}, {"auth", Base64Encode(username + ":" + password)}}}}}};
  json meta = KubeMetadata(app, app.pull_secret);
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata", meta},
          {"type", "kubernetes.io/dockerconfigjson"},
          {"data", {{".dockerconfigjson", Base64Encode(config.dump())}}}};
}

std::vector<int> PercentWeights(const std::vector<double>& weights) {
  double total = 0;
  for (double w : weights) total += w;
  std::vector<int> out(weights.size(), 0);
  if (total <= 0) return out;
  std::vector<std::pair<double, size_t>> remainders;
  int given = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    double exact = weights[i] * 100.0 / total;
    out[i] = static_cast<int>(exact);
    given += out[i];
    remainders.push_back({exact - out[i], i});
  }
  std::stable_sort(remainders.begin(), remainders.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t k = 0; given < 100 && k < remainders.size(); ++k, ++given) ++out[remainders[k].second];
  return out;
}

KubeApp KubeEndpointApp(const KubeEndpoint& e, const std::string& name) {
  KubeApp app;
  app.name = name;
  app.namespace_name = e.namespace_name;
  app.endpoint = e.name;
  app.component = kKubeEndpointComponent;
  return app;
}

namespace {

// Whether a plain YAML scalar would not read back as this string.
bool NeedsQuotes(const std::string& s) {
  if (s.empty()) return true;
  try {
    YAML::Node n = YAML::Load(s);
    if (!n.IsScalar() || n.Scalar() != s) return true;  // ": ", "#", "[", leading spaces, ...
  } catch (const YAML::Exception&) {
    return true;
  }
  std::string lower = s;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  static const char* kSpecial[] = {"true", "false", "yes", "no", "on", "off", "null", "~", "y", "n", ".inf", ".nan"};
  for (const char* k : kSpecial)
    if (lower == k) return true;
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  return end != nullptr && *end == '\0';  // a number
}

void Emit(YAML::Emitter& out, const json& v) {
  switch (v.type()) {
    case json::value_t::object:
      out << YAML::BeginMap;
      for (const auto& [k, x] : v.items()) {
        out << YAML::Key;
        if (NeedsQuotes(k)) out << YAML::DoubleQuoted;
        out << k << YAML::Value;
        Emit(out, x);
      }
      out << YAML::EndMap;
      break;
    case json::value_t::array:
      out << YAML::BeginSeq;
      for (const auto& x : v) Emit(out, x);
      out << YAML::EndSeq;
      break;
    case json::value_t::string: {
      const std::string& s = v.get_ref<const std::string&>();
      if (NeedsQuotes(s)) out << YAML::DoubleQuoted;
      out << s;
      break;
    }
    case json::value_t::boolean: out << v.get<bool>(); break;
    case json::value_t::null: out << YAML::Null; break;
    default:  // numbers
      out << v.dump();
  }
}

}  // namespace

std::string RenderYaml(const std::vector<json>& objects) {
  std::string text;
  for (const auto& o : objects) {
    YAML::Emitter out;
    out.SetIndent(2);
    Emit(out, o);
    text += "---\n" + std::string(out.c_str()) + "\n";
  }
  return text;
}

}  // namespace mlflow_bridge::internal
