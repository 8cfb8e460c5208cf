#include "image/build_config.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <regex>
#include <sstream>

#include "common/strings.h"
#include "mlflow_bridge/image.h"

namespace mlflow_bridge::internal {

using nlohmann::json;

ConfigSchema NativeServerSchema(bool access_log_default) {
  return {
      {"batching",
       ConfigType::kString,
       "auto",
       "Native server: merge concurrent compatible requests into one predict call and split the answer back "
       "(auto: for row-independent flavors such as sklearn, xgboost, lightgbm).",
       std::nullopt,
       std::nullopt,
       {"auto", "true", "false"}},
      {"max_queue", ConfigType::kInt, 1024,
       "Native server: requests waiting for a worker; more are answered 503 with Retry-After.", 1, 10000000},
      {"max_body_mb", ConfigType::kInt, 64, "Native server: request bodies over this many MiB get 413.", 1, 2048},
      {"access_log", ConfigType::kBool, access_log_default,
       "Native server: one line per request (with its request id) in the server's log.", std::nullopt, std::nullopt},
      {"prediction_log", ConfigType::kString, "",
       "Native server: a file to append sampled requests and answers to, as JSON lines, for monitoring (in an "
       "image: a path in the container, or - for its log); empty: off."},
      {"prediction_log_rate", ConfigType::kFloat, 1.0,
       "Native server: the share of requests written to prediction_log, 0 to 1.", 0, 1},
  };
}

NativeServerOptions ReadNativeServerOptions(const json& parsed) {
  NativeServerOptions o;
  o.batching = parsed.value("batching", o.batching);
  o.max_queue = parsed.value("max_queue", o.max_queue);
  o.max_body_mb = parsed.value("max_body_mb", o.max_body_mb);
  o.access_log = parsed.value("access_log", o.access_log);
  o.prediction_log = parsed.value("prediction_log", o.prediction_log);
  o.prediction_log_rate = parsed.value("prediction_log_rate", o.prediction_log_rate);
  return o;
}

json NativeServerKeys(const NativeServerOptions& o) {
  return {
      {"batching", o.batching},     {"max_queue", o.max_queue},           {"max_body_mb", o.max_body_mb},
      {"access_log", o.access_log}, {"prediction_log", o.prediction_log}, {"prediction_log_rate", o.prediction_log_rate}};
}

std::vector<std::pair<std::string, std::string>> NativeServerFlags(const NativeServerOptions& o) {
  std::vector<std::pair<std::string, std::string>> flags = {{"batching", o.batching},
                                                            {"max-queue", std::to_string(o.max_queue)},
                                                            {"max-body-mb", std::to_string(o.max_body_mb)},
                                                            {"access-log", o.access_log ? "-" : "off"}};
  if (!o.prediction_log.empty()) {
    std::ostringstream rate;
    rate << o.prediction_log_rate;
    flags.insert(flags.end(), {{"prediction-log", o.prediction_log}, {"prediction-log-rate", rate.str()}});
  }
  return flags;
}

std::string NativeServerEnvName(const std::string& flag) {
  std::string name = "MLFLOW_BRIDGE_SERVE_";
  for (char c : flag) name += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name;
}

ConfigSchema ImageBuildSchema(const std::vector<std::string>& names) {
  static const ConfigSchema kSection = [] {
    ConfigSchema section = {
        {"base_image", ConfigType::kString, "",
         "The image to build on; it must have python3 on PATH (its PYTHON_VERSION decides the dependencies' Python, "
         "and must be the model's: the Python of its python_env.yaml or conda.yaml). \"{python}\" in it stands for "
         "the model's Python (e.g. mirror.example.com/python:{python}-slim). Default: $MLFLOW_BRIDGE_BASE_IMAGE, else "
         "docker.io/library/python:<the model's Python>-slim (" +
             std::string(kDefaultBaseImage) + " when the model does not say)."},
        {"server",
         ConfigType::kString,
         "native",
         "What serves the model in the image: native (mlflow-bridge-serve at /opt/mlflow-bridge, with Python workers "
         "that answer as MLflow's scoring server does; MLflow, SageMaker, Azure ML, OCI and Open Inference Protocol v2 "
         "routes on one port) or mlflow (MLflow's own scoring server under uvicorn).",
         std::nullopt,
         std::nullopt,
         {"native", "mlflow"}},
        {"install_dependencies", ConfigType::kBool, true,
         "Install the model's requirements.txt into a layer of their own (pip, wheels only, for the base's Python and "
         "platform)."},
        {"insecure_registry", ConfigType::kBool, false, "Talk plain HTTP to the registry (e.g. one on loopback)."},
        {"registry_auth",
         ConfigType::kString,
         "auto",
         "How to log in to the registry: basic (registry_username/registry_password), docker-config "
         "(~/.docker/config.json), ecr (a 12-hour token from ECR GetAuthorizationToken), acr (an Azure Container "
         "Registry refresh token for the Entra ID identity, as `az acr login` gets it; the identity needs AcrPush), "
         "anonymous, or auto (basic with a username, ecr for *.dkr.ecr.* hosts, acr for *.azurecr.io hosts on "
         "azureml-endpoints, else docker-config to push and no pull Secret). The Kubernetes targets give the cluster "
         "the same login as the image pull Secret <name>-pull; anonymous and acr make none (an AKS cluster pulls "
         "from an attached ACR with its own identity), and a push with anonymous logs in as auto does.",
         std::nullopt,
         std::nullopt,
         {"auto", "anonymous", "basic", "docker-config", "ecr", "acr"},
         {},
         {{"none", "anonymous"}}},
        {"registry_username",
         ConfigType::kString,
         "",
         "User for the registry (ACR: service principal app id; OCIR: <namespace>/<user>).",
         std::nullopt,
         std::nullopt,
         {},
         {"username"}},
        {"registry_password",
         ConfigType::kString,
         "",
         "Its password or token (ACR: the service principal's secret; OCIR: an auth token).",
         std::nullopt,
         std::nullopt,
         {},
         {"password"}},
        {"ecr_region", ConfigType::kString, "", "With ecr: the AWS region, when the registry's host does not say it."},
        {"aws_profile", ConfigType::kString, "",
         "With ecr: the AWS profile whose credentials log in (default: the environment's, AWS_PROFILE)."},
    };
    for (ConfigKey& key : NativeServerSchema(true)) section.push_back(std::move(key));
    return section;
  }();
  if (names.empty()) return kSection;
  ConfigSchema out;
  for (const ConfigKey& key : kSection) {
    if (std::find(names.begin(), names.end(), key.name) != names.end()) out.push_back(key);
  }
  return out;
}

ImageBuildConfig ReadImageBuildConfig(const json& parsed) {
  ImageBuildConfig c;
  c.base_image = parsed.value("base_image", c.base_image);
  c.server = parsed.value("server", c.server);
  c.native = ReadNativeServerOptions(parsed);
  c.install_dependencies = parsed.value("install_dependencies", c.install_dependencies);
  c.insecure_registry = parsed.value("insecure_registry", c.insecure_registry);
  c.registry_auth = parsed.value("registry_auth", c.registry_auth);
  c.registry_username = parsed.value("registry_username", c.registry_username);
  c.registry_password = parsed.value("registry_password", c.registry_password);
  c.ecr_region = parsed.value("ecr_region", c.ecr_region);
  c.aws_profile = parsed.value("aws_profile", c.aws_profile);
  return c;
}

json ImageBuildKeys(const ImageBuildConfig& c) {
  json out = {{"server", c.server},
              {"install_dependencies", c.install_dependencies},
              {"insecure_registry", c.insecure_registry},
              {"registry_auth", c.registry_auth},
              {"registry_username", c.registry_username},
              {"registry_password", c.registry_password},
              {"ecr_region", c.ecr_region},
              {"aws_profile", c.aws_profile}};
  if (!c.base_image.empty()) out["base_image"] = c.base_image;
  out.update(NativeServerKeys(c.native));
  return out;
}

std::string PythonMajorMinor(const std::string& version) {
  static const std::regex kVersion(R"(\s*['"]?([0-9]+)\.([0-9]+)(\.[0-9A-Za-z+*]*)*['"]?\s*)");
  std::smatch m;
  if (!std::regex_match(version, m, kVersion)) return "";
  return m[1].str() + "." + m[2].str();
}

std::string ModelPythonVersion(const std::string& model_dir, std::string* source) {
  // Read line by line, not as YAML: a YAML reader takes `python: 3.10` for the number 3.1.
  auto scan = [&](const char* file, const std::regex& pattern) -> std::string {
    std::ifstream in(model_dir + "/" + file);
    for (std::string line; std::getline(in, line);) {
      std::smatch m;
      if (!std::regex_search(line, m, pattern)) continue;
      std::string version = PythonMajorMinor(m[1].str());
      if (version.empty()) continue;
      if (source != nullptr) *source = file;
      return version;
    }
    return "";
  };
  static const std::regex kPythonEnv(R"(^python\s*:\s*(['"]?[0-9][0-9.]*['"]?)\s*(#.*)?$)");
  static const std::regex kConda(R"(^\s*-\s*['"]?python\s*==?\s*([0-9][0-9.*]*)['"]?\s*(#.*)?$)");
  std::string version = scan("python_env.yaml", kPythonEnv);
  if (version.empty()) version = scan("conda.yaml", kConda);
  return version;
}

std::string ChooseBaseImage(const std::string& configured, const std::string& python, bool* chosen_for_python) {
  std::string version = python;
  if (version.empty()) {  // kDefaultBaseImage's: "...python:3.11-slim" -> "3.11"
    std::string tag = std::string(kDefaultBaseImage).substr(std::string(kDefaultBaseImage).rfind(':') + 1);
    version = PythonMajorMinor(tag.substr(0, tag.find('-')));
  }
  if (chosen_for_python != nullptr) *chosen_for_python = false;
  if (configured.empty()) {
    if (python.empty()) return kDefaultBaseImage;
    if (chosen_for_python != nullptr) *chosen_for_python = true;
    return "docker.io/library/python:" + python + "-slim";
  }
  std::string name = configured;
  const std::string placeholder = "{python}";
  for (size_t at = name.find(placeholder); at != std::string::npos; at = name.find(placeholder, at)) {
    name.replace(at, placeholder.size(), version);
    at += version.size();
    if (chosen_for_python != nullptr) *chosen_for_python = true;
  }
  return name;
}

bool IsAcrHost(const std::string& registry) {
  const std::string host = ToLower(registry.substr(0, registry.find(':')));
  for (std::string_view suffix : {".azurecr.io", ".azurecr.cn", ".azurecr.us"})
    if (host.size() > suffix.size() && host.ends_with(suffix)) return true;
  return false;
}

std::string ResolveRegistryAuth(const ImageBuildConfig& c, const std::string& registry, const std::string& otherwise) {
  if (c.registry_auth != "auto") return c.registry_auth;
  if (!c.registry_username.empty()) return "basic";
  if (registry.find(".dkr.ecr.") != std::string::npos) return "ecr";
  return otherwise;
}

}  // namespace mlflow_bridge::internal
