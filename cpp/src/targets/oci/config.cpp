#include "targets/oci/config.h"

#include <regex>
#include <utility>

#include "common/env.h"
#include "common/strings.h"
#include "common/yaml_json.h"
#include "mlflow_bridge/logging.h"

namespace mlflow_bridge::internal {

using nlohmann::json;

namespace {

constexpr char kDeployFile[] = "deploy-config-file";

// The deploy-config-file keys (oci-mlflow's templates, ADS's spellings) and the -C key each one is.
struct FileKey {
  const char* file_key;
  const char* config_key;
};

// spec.infrastructure.spec
const std::vector<FileKey>& InfrastructureKeys() {
  static const std::vector<FileKey> kKeys = {
      {"compartmentId", "compartment_id"},
      {"projectId", "project_id"},
      {"shapeName", "shape"},
      {"replica", "instance_count"},
      {"bandwidthMbps", "bandwidth_mbps"},
      {"bandwidth_mbps", "bandwidth_mbps"},
      {"logGroupId", "log_group_id"},
      {"logId", "log_id"},
      {"webConcurrency", "web_concurrency"},
      {"subnetId", "subnet_id"},
      {"privateEndpointId", "private_endpoint_id"},
  };
  return kKeys;
}

// spec.runtime.spec
const std::vector<FileKey>& RuntimeKeys() {
  static const std::vector<FileKey> kKeys = {
      {"uri", "conda_pack"}, {"pythonVersion", "python_version"}, {"slug", "conda_slug"}, {"scoreCode", "score_code"},
      {"image", "image"},    {"imageDigest", "image_digest"},     {"serverPort", "port"}, {"healthCheckPort", "port"},
      {"cmd", "cmd"},        {"entrypoint", "entrypoint"},        {"env", "env"},
  };
  return kKeys;
}

// spec (the deployment itself)
const std::vector<FileKey>& DeploymentKeys() {
  static const std::vector<FileKey> kKeys = {
      {"description", "description"}, {"freeformTags", "freeform_tags"}, {"definedTags", "defined_tags"}};
  return kKeys;
}

std::vector<std::string> FileKeyNames(const std::vector<FileKey>& keys, std::vector<std::string> extra) {
  for (const FileKey& k : keys) extra.push_back(k.file_key);
  return extra;
}

// A YAML mapping at `path` of the file (null or absent: empty).
StatusOr<json> Mapping(const json& parent, const char* key, const std::string& path, const std::string& what) {
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return json::object();
  if (!it->is_object()) return InvalidParameterError("'" + path + "' in " + what + " must be a mapping of keys to values.");
  return *it;
}

// `kind`/`type` of a section: present or not, one of `allowed`.
Status CheckKind(const json& section, const char* field, const std::vector<std::string>& allowed, const std::string& path,
                 const std::string& what) {
  auto it = section.find(field);
  if (it == section.end()) return OkStatus();
  std::string value = it->is_string() ? it->get<std::string>() : it->dump();
  for (const std::string& a : allowed)
    if (value == a) return OkStatus();
  return InvalidParameterError("'" + path + "." + field + "' in " + what + " is '" + value + "'; it takes " + Join(allowed) +
                               ".");
}

// The keys of one section's `spec`, as -C keys, into `out`.
Status TakeKeys(const json& spec, const std::vector<FileKey>& keys, const std::vector<std::string>& also_valid,
                const std::string& path, const std::string& what, json& out) {
  for (const auto& [name, value] : spec.items()) {
    const FileKey* found = nullptr;
    for (const FileKey& k : keys)
      if (name == k.file_key) found = &k;
    if (found != nullptr) {
      out[found->config_key] = value;
      continue;
    }
    bool known = false;
    for (const std::string& k : also_valid) known = known || name == k;
    if (!known)
      return InvalidParameterError("Unknown key '" + path + "." + name + "' in " + what +
                                   "; valid: " + Join(FileKeyNames(keys, also_valid)) + ".");
  }
  return OkStatus();
}

// A {logGroupId, logId} mapping of the file as the two -C keys `<prefix>_log_group_id`, `<prefix>_log_id`.
Status TakeLog(const json& infra, const char* key, const char* prefix, const std::string& what, json& out) {
  StatusOr<json> log = Mapping(infra, key, std::string("spec.infrastructure.spec.") + key, what);
  if (!log.ok()) return log.status();
  for (const auto& [name, value] : log->items()) {
    if (name == "logGroupId") out[std::string(prefix) + "_log_group_id"] = value;
    else if (name == "logId") out[std::string(prefix) + "_log_id"] = value;
    else
      return InvalidParameterError("Unknown key 'spec.infrastructure.spec." + std::string(key) + "." + name + "' in " +
                                   what + "; valid: logGroupId, logId.");
  }
  return OkStatus();
}

// The deploy-config-file's keys as -C keys.
StatusOr<json> ReadDeployFile(const std::string& path) {
  const std::string what = std::string("the deployment config file (") + kDeployFile + ") '" + path + "'";
  StatusOr<json> file = ReadJsonOrYamlFile(path, what);
  if (!file.ok()) return file.status();
  if (!file->is_object()) return InvalidParameterError(what + " must hold a mapping of keys to values.");
  for (const auto& [name, value] : file->items())
    if (name != "kind" && name != "spec")
      return InvalidParameterError("Unknown key '" + name + "' in " + what +
                                   "; valid: kind, spec (oci-mlflow's kind: deployment).");
  if (file->value("kind", json()) != "deployment")
    return InvalidParameterError(what + " is of kind " + file->value("kind", json()).dump() +
                                 "; oci-endpoints takes oci-mlflow's deployment spec, `kind: deployment` with "
                                 "spec.infrastructure and spec.runtime.");
  StatusOr<json> spec = Mapping(*file, "spec", "spec", what);
  if (!spec.ok()) return spec.status();

  json out = json::object();
  MLFLOW_BRIDGE_RETURN_IF_ERROR(
      TakeKeys(*spec, DeploymentKeys(), {"infrastructure", "runtime", "displayName"}, "spec", what, out));
  if (spec->contains("displayName")) out["display_name"] = (*spec)["displayName"];

  StatusOr<json> infra = Mapping(*spec, "infrastructure", "spec.infrastructure", what);
  if (!infra.ok()) return infra.status();
  for (const auto& [name, value] : infra->items())
    if (name != "kind" && name != "type" && name != "spec")
      return InvalidParameterError("Unknown key 'spec.infrastructure." + name + "' in " + what +
                                   "; valid: kind, type, spec.");
  MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckKind(*infra, "kind", {"infrastructure"}, "spec.infrastructure", what));
  MLFLOW_BRIDGE_RETURN_IF_ERROR(
      CheckKind(*infra, "type", {"modelDeployment", "datascienceModelDeployment"}, "spec.infrastructure", what));
  StatusOr<json> infra_spec = Mapping(*infra, "spec", "spec.infrastructure.spec", what);
  if (!infra_spec.ok()) return infra_spec.status();
  MLFLOW_BRIDGE_RETURN_IF_ERROR(TakeKeys(*infra_spec, InfrastructureKeys(),
                                         {"shapeConfigDetails", "accessLog", "predictLog", "blockStorageSize"},
                                         "spec.infrastructure.spec", what, out));
  StatusOr<json> shape = Mapping(*infra_spec, "shapeConfigDetails", "spec.infrastructure.spec.shapeConfigDetails", what);
  if (!shape.ok()) return shape.status();
  for (const auto& [name, value] : shape->items()) {
    if (name == "ocpus") out["ocpus"] = value;
    else if (name == "memoryInGBs" || name == "memory_in_gbs") out["memory_gb"] = value;
    else
      return InvalidParameterError("Unknown key 'spec.infrastructure.spec.shapeConfigDetails." + name + "' in " + what +
                                   "; valid: ocpus, memoryInGBs.");
  }
  MLFLOW_BRIDGE_RETURN_IF_ERROR(TakeLog(*infra_spec, "accessLog", "access", what, out));
  MLFLOW_BRIDGE_RETURN_IF_ERROR(TakeLog(*infra_spec, "predictLog", "predict", what, out));
  if (infra_spec->contains("blockStorageSize"))
    LogWarning("spec.infrastructure.spec.blockStorageSize in " + what +
               " has no effect: a model deployment has no block storage setting (oci-mlflow ignores it too).");

  StatusOr<json> runtime = Mapping(*spec, "runtime", "spec.runtime", what);
  if (!runtime.ok()) return runtime.status();
  for (const auto& [name, value] : runtime->items())
    if (name != "kind" && name != "type" && name != "spec")
      return InvalidParameterError("Unknown key 'spec.runtime." + name + "' in " + what + "; valid: kind, type, spec.");
  MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckKind(*runtime, "kind", {"runtime"}, "spec.runtime", what));
  if (runtime->contains("type")) out["runtime"] = (*runtime)["type"];
  StatusOr<json> runtime_spec = Mapping(*runtime, "spec", "spec.runtime.spec", what);
  if (!runtime_spec.ok()) return runtime_spec.status();
  if (runtime_spec->contains("uri") && (*runtime_spec)["uri"].is_object())
    return InvalidParameterError(
        "spec.runtime.spec.uri in " + what +
        " asks to build a conda pack from the model's conda.yaml, which needs conda and Object Storage; oci-endpoints "
        "does not build packs. Publish one (`odsc conda publish`) and give its oci://<bucket>@<namespace>/<path> as "
        "uri with its pythonVersion, or use runtime type container (the model's image is built without docker).");
  MLFLOW_BRIDGE_RETURN_IF_ERROR(TakeKeys(*runtime_spec, RuntimeKeys(), {}, "spec.runtime.spec", what, out));
  if (runtime_spec->contains("serverPort") && runtime_spec->contains("healthCheckPort") &&
      (*runtime_spec)["serverPort"] != (*runtime_spec)["healthCheckPort"])
    return InvalidParameterError("spec.runtime.spec.serverPort and healthCheckPort in " + what +
                                 " differ; mlflow-bridge's model server answers /predict and /health on one port.");
  return out;
}

// A list of strings given as a JSON array (a YAML list, or its JSON text on the command line).
StatusOr<std::vector<std::string>> StringList(const json& value, const std::string& key) {
  json list = value;
  if (value.is_string()) {
    if (value.get<std::string>().empty()) return std::vector<std::string>{};
    list = json::parse(value.get<std::string>(), nullptr, /*allow_exceptions=*/false);
  }
  std::vector<std::string> out;
  bool ok = list.is_array();
  for (const json& item : ok ? list : json::array()) {
    ok = ok && item.is_string();
    if (ok) out.push_back(item.get<std::string>());
  }
  if (!ok)
    return InvalidParameterError(
        "Config key '" + key + "' takes a list of strings, e.g. '[\"python\", \"-m\", \"app\"]'; got " + value.dump() + ".");
  return out;
}

// pythonVersion as text: YAML reads an unquoted 3.10 as the number 3.1, which oci-mlflow then writes into
// runtime.yaml; refused here instead.
StatusOr<std::string> PythonVersion(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number()) {
    std::string text = value.dump();
    if (text == "3.1" || text == "3.2")
      return InvalidParameterError("Config key 'python_version' (pythonVersion) is the number " + text +
                                   ", which is how YAML reads an unquoted 3." + text.substr(2) +
                                   "0: quote it, pythonVersion: \"3." + text.substr(2) + "0\".");
    return text;
  }
  return InvalidParameterError("Config key 'python_version' takes a Python version such as \"3.11\"; got " + value.dump() +
                               ".");
}

// An OCID of `kind` (ocid1.<kind>.<realm>...), or "" when not given.
Status CheckOcid(const std::string& value, const std::string& key, const std::vector<std::string>& kinds) {
  if (value.empty()) return OkStatus();
  for (const std::string& kind : kinds)
    if (value.rfind("ocid1." + kind + ".", 0) == 0) return OkStatus();
  return InvalidParameterError("Config key '" + key + "' takes an OCID (ocid1." + kinds.front() +
                               ".oc1..<unique id>); got '" + value + "'.");
}

// Environment variables as OCI takes them: names of 2 to 31 letters, digits and underscores, starting with a
// letter and not ending with an underscore; names and values under 2048 bytes in all.
Status CheckEnvironment(const json& env) {
  static const std::regex kName("[A-Za-z][A-Za-z0-9_]{0,29}[A-Za-z0-9]");
  size_t total = 0;
  for (const auto& [name, value] : env.items()) {
    if (!std::regex_match(name, kName))
      return InvalidParameterError("Environment variable name '" + name +
                                   "' (config key 'env') is not one OCI takes: 2 to 31 letters, digits and "
                                   "underscores, starting with a letter, not ending with an underscore.");
    total += name.size() + value.get<std::string>().size();
  }
  if (total >= 2048)
    return InvalidParameterError(
        "The environment variables (config key 'env', with WEB_CONCURRENCY and mlflow-bridge's own) "
        "take " +
        std::to_string(total) + " bytes; OCI takes under 2048 in all.");
  return OkStatus();
}

}  // namespace

const ConfigSchema& OciConfigSchema() {
  static const ConfigSchema kSchema = [] {
    ConfigSchema schema = {
        {kDeployFile, ConfigType::kString, "",
         "oci-mlflow's deployment spec, a YAML of `kind: deployment` (spec.infrastructure.spec: compartmentId, projectId, "
         "shapeName, shapeConfigDetails {ocpus, memoryInGBs}, replica, bandwidthMbps, logGroupId, logId, accessLog and "
         "predictLog {logGroupId, logId}, webConcurrency, subnetId, privateEndpointId; spec.runtime: type conda or "
         "container and spec: uri, pythonVersion, slug, scoreCode, image, imageDigest, serverPort, healthCheckPort, cmd, "
         "entrypoint, env; spec: description, freeformTags, definedTags). Each has a -C key, which wins over the file."},
        {"compartment_id", ConfigType::kString, "",
         "OCID of the compartment of the models and the deployment. Default: $NB_SESSION_COMPARTMENT_OCID (a notebook "
         "session's)."},
        {"project_id", ConfigType::kString, "", "OCID of the Data Science project. Default: $PROJECT_OCID."},
        {"shape", ConfigType::kString, "VM.Standard.E4.Flex", "Compute shape of the instances (shapeName)."},
        {"ocpus", ConfigType::kFloat, nullptr, "OCPUs of each instance of a Flex shape (default 1).", 1, 128},
        {"memory_gb", ConfigType::kFloat, nullptr, "Memory in GB of each instance of a Flex shape (default 16).", 1, 2048},
        {"instance_count", ConfigType::kInt, 1, "Instances serving the deployment (replica).", 1, 1000},
        {"bandwidth_mbps", ConfigType::kInt, 10, "Load balancer bandwidth in Mbps (bandwidthMbps).", 10, 8000},
        {"log_group_id", ConfigType::kString, "", "With log_id: the log group of one log for access and predict logs."},
        {"log_id", ConfigType::kString, "", "A log (in log_group_id) for both the access and the predict log."},
        {"access_log_group_id", ConfigType::kString, "", "The log group of the access log."},
        {"access_log_id", ConfigType::kString, "", "The access log (OCI Logging) of the deployment."},
        {"predict_log_group_id", ConfigType::kString, "", "The log group of the predict log."},
        {"predict_log_id", ConfigType::kString, "", "The predict log (OCI Logging): what the model server prints."},
        {"web_concurrency", ConfigType::kInt, 0,
         "Model server workers per instance (WEB_CONCURRENCY); 0: the service decides.", 0, 1024},
        {"subnet_id", ConfigType::kString, "", "OCID of a subnet of yours for the instances (custom networking)."},
        {"private_endpoint_id", ConfigType::kString, "", "OCID of a Data Science private endpoint to serve on."},
        {"runtime",
         ConfigType::kString,
         "",
         "conda (a published conda pack runs the model: conda_pack or conda_slug) or container (the model's image, "
         "served by mlflow-bridge's model server: registry, or image). Default: container with registry or image, "
         "conda with conda_pack or conda_slug.",
         std::nullopt,
         std::nullopt,
         {"", "conda", "container"}},
        {"conda_pack", ConfigType::kString, "",
         "conda: the published conda pack, oci://<bucket>@<namespace>/<path> (with mlflow and the model's libraries)."},
        {"conda_slug", ConfigType::kString, "", "conda: the slug of a service conda pack (INFERENCE_ENV_SLUG)."},
        {"python_version", ConfigType::kString, "",
         "conda: the conda pack's Python, e.g. \"3.10\" (required with conda_pack)."},
        {"score_code", ConfigType::kString, "",
         "conda: your own score.py to put into the artifact instead of mlflow-bridge's (which answers as MLflow's "
         "scoring server does)."},
        {"image", ConfigType::kString, "",
         "container: an image in OCIR that serves the model on /predict and /health (instead of registry)."},
        {"image_digest", ConfigType::kString, "", "container: with image, its digest (sha256:...)."},
        {"registry", ConfigType::kString, "",
         "container: build the model's own image (its dependencies and mlflow-bridge's model server, no docker needed) "
         "and push it to <region>.ocir.io/<namespace>/<repository>[:tag] (tag default: the deployment name); log in with "
         "registry_username <namespace>/<user> and an auth token as registry_password."},
        {"port", ConfigType::kInt, 8080,
         "container: the port of /predict and /health (serverPort and healthCheckPort); 1024-65535 but 8446, 8447, 24224.",
         1024, 65535},
        {"cmd", ConfigType::kString, "", "container: the command, a JSON list of strings (default: the image's)."},
        {"entrypoint", ConfigType::kString, "", "container: the entrypoint, a JSON list of strings (default: the image's)."},
        {"env", ConfigType::kObject, json::object(),
         "Environment variables of the model server, e.g. '{\"OMP_NUM_THREADS\": \"1\"}'."},
        {"description", ConfigType::kString, "", "Description of the deployment."},
        {"freeform_tags", ConfigType::kObject, json::object(), "Free-form tags of the deployment and its models."},
        {"defined_tags", ConfigType::kObject, json::object(),
         "Defined tags of the deployment and its models: {\"<namespace>\": {\"<key>\": \"<value>\"}}."},
    };
    for (ConfigKey& key : ImageBuildSchema()) schema.push_back(std::move(key));
    schema.insert(
        schema.end(),
        {
            {"active",
             ConfigType::kString,
             "",
             "update: false deactivates the deployment (no instances, no billing, the URL kept), true activates it "
             "again.",
             std::nullopt,
             std::nullopt,
             {"", "true", "false"}},
            {"synchronous", ConfigType::kBool, true, "Wait until the work request ends."},
            {"timeout_seconds", ConfigType::kInt, 1800, "How long to wait for a work request when synchronous.", 1, 86400},
            {"poll_interval_seconds", ConfigType::kFloat, 10.0,
             "Interval between work-request checks when the service does not say (retry-after).", 0.01, 300},
            {"auth",
             ConfigType::kString,
             "auto",
             "How to sign requests: api_key (a config file profile's key), security_token (its security_token_file, "
             "from `oci session authenticate`), resource_principal (OCI_RESOURCE_PRINCIPAL_* in notebook sessions and "
             "jobs), or auto (resource_principal when OCI_RESOURCE_PRINCIPAL_VERSION is set, else the profile: "
             "security_token when it has a security_token_file, else api_key).",
             std::nullopt,
             std::nullopt,
             {"auto", "api_key", "security_token", "resource_principal"}},
            {"oci_config", ConfigType::kString, "", "The OCI config file. Default: $OCI_CONFIG_FILE, else ~/.oci/config."},
            {"profile", ConfigType::kString, "", "Its profile. Default: $OCI_CLI_PROFILE, else DEFAULT."},
            {"endpoint_url", ConfigType::kString, "",
             "Base URL of the Data Science API. Default: https://datascience.<region>.oci.oraclecloud.com."},
        });
    return schema;
  }();
  return kSchema;
}

StatusOr<OciConfig> ParseOciConfig(const json& given) {
  if (!given.is_object()) return InvalidParameterError("The config must be a mapping of keys to values.");
  json keys = json::object();
  std::string display_name;
  if (auto it = given.find(kDeployFile); it != given.end()) {
    if (!it->is_string() || it->get<std::string>().empty())
      return InvalidParameterError(std::string("Config key '") + kDeployFile + "' takes the path of a YAML file.");
    StatusOr<json> file = ReadDeployFile(it->get<std::string>());
    if (!file.ok()) return file.status();
    keys = *file;
    if (keys.contains("display_name")) {
      LogWarning("spec.displayName of " + std::string(kDeployFile) +
                 " is not used: the deployment's display name is its MLflow name (--name).");
      keys.erase("display_name");
    }
    // The runtime's lists and YAML-typed values as -C keys take them.
    for (const char* list : {"cmd", "entrypoint"})
      if (keys.contains(list) && keys[list].is_array()) keys[list] = keys[list].dump();
  }
  for (const auto& [key, value] : given.items())
    if (key != kDeployFile) keys[key] = value;
  OciConfig config;
  for (const auto& [key, value] : keys.items()) config.given.insert(key);
  json python_version = keys.value("python_version", json());
  if (python_version.is_number()) keys.erase("python_version");

  StatusOr<json> parsed = ParseConfig(OciConfigSchema(), keys);
  if (!parsed.ok()) return parsed.status();
  const json& c = *parsed;
  auto str = [&](const char* key) { return c.value(key, std::string()); };

  if (!python_version.is_null()) {
    StatusOr<std::string> version = PythonVersion(python_version);
    if (!version.ok()) return version.status();
    config.python_version = *version;
  } else {
    config.python_version = str("python_version");
  }

  config.compartment_id = str("compartment_id");
  if (config.compartment_id.empty()) config.compartment_id = GetEnv("NB_SESSION_COMPARTMENT_OCID").value_or("");
  config.project_id = str("project_id");
  if (config.project_id.empty()) config.project_id = GetEnv("PROJECT_OCID").value_or("");
  MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckOcid(config.compartment_id, "compartment_id", {"compartment", "tenancy"}));
  MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckOcid(config.project_id, "project_id", {"datascienceproject"}));

  config.shape = str("shape");
  const bool flex = config.shape.size() > 5 && config.shape.compare(config.shape.size() - 5, 5, ".Flex") == 0;
  for (auto [key, field] : {std::pair{"ocpus", &config.ocpus}, std::pair{"memory_gb", &config.memory_gb}}) {
    if (c[key].is_null()) continue;
    if (!flex)
      return InvalidParameterError(std::string("Config key '") + key + "' sizes a Flex shape; shape " + config.shape +
                                   " has a fixed size.");
    *field = c[key].get<double>();
  }
  config.instance_count = c["instance_count"].get<int>();
  config.bandwidth_mbps = c["bandwidth_mbps"].get<int>();

  // Logs: log_group_id/log_id name one log for both (as oci-mlflow's logGroupId/logId), the others one each.
  struct LogKeys {
    const char* group;
    const char* log;
  };
  auto read_log = [&](LogKeys k, OciLogDetails& out) -> Status {
    OciLogDetails log{str(k.group), str(k.log)};
    if (log.log_group_id.empty() != log.log_id.empty())
      return InvalidParameterError(std::string("Config keys '") + k.group + "' and '" + k.log + "' go together: give both.");
    MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckOcid(log.log_group_id, k.group, {"loggroup"}));
    MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckOcid(log.log_id, k.log, {"log"}));
    if (log.given()) out = log;
    return OkStatus();
  };
  MLFLOW_BRIDGE_RETURN_IF_ERROR(read_log({"access_log_group_id", "access_log_id"}, config.access_log));
  MLFLOW_BRIDGE_RETURN_IF_ERROR(read_log({"predict_log_group_id", "predict_log_id"}, config.predict_log));
  OciLogDetails both;
  MLFLOW_BRIDGE_RETURN_IF_ERROR(read_log({"log_group_id", "log_id"}, both));
  if (both.given()) config.access_log = config.predict_log = both;  // ADS: one log wins over the other two

  config.web_concurrency = c["web_concurrency"].get<int>();
  config.subnet_id = str("subnet_id");
  MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckOcid(config.subnet_id, "subnet_id", {"subnet"}));
  config.private_endpoint_id = str("private_endpoint_id");

  config.conda_pack = str("conda_pack");
  config.conda_slug = str("conda_slug");
  config.score_code = str("score_code");
  config.image = str("image");
  config.image_digest = str("image_digest");
  config.registry = str("registry");
  config.build = ReadImageBuildConfig(c);
  config.port = c["port"].get<int>();
  if (config.port == 8446 || config.port == 8447 || config.port == 24224)
    return InvalidParameterError("Config key 'port' (serverPort, healthCheckPort) cannot be " + std::to_string(config.port) +
                                 ": OCI keeps 8446, 8447 and 24224 for itself.");
  for (auto [key, field] : {std::pair{"cmd", &config.cmd}, std::pair{"entrypoint", &config.entrypoint}}) {
    StatusOr<std::vector<std::string>> list = StringList(c[key], key);
    if (!list.ok()) return list.status();
    *field = *list;
  }
  for (const auto& [k, v] : c["env"].items()) config.env[k] = v.is_string() ? v.get<std::string>() : v.dump();
  json all_env = config.env;
  if (config.web_concurrency > 0) all_env["WEB_CONCURRENCY"] = std::to_string(config.web_concurrency);
  MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckEnvironment(all_env));

  // The runtime: given, else what the other keys say.
  config.runtime = str("runtime");
  const bool container_keys = !config.registry.empty() || !config.image.empty();
  const bool conda_keys = !config.conda_pack.empty() || !config.conda_slug.empty();
  if (config.runtime.empty() && container_keys != conda_keys) config.runtime = container_keys ? "container" : "conda";
  if (config.runtime == "container") {
    if (conda_keys || !config.score_code.empty() || !config.python_version.empty())
      return InvalidParameterError(
          "Config keys conda_pack, conda_slug, python_version and score_code are for runtime conda; runtime container "
          "serves the model's image.");
    if (config.registry.empty() == config.image.empty())
      return InvalidParameterError(
          "runtime container needs either registry (build the model's image and push it to OCIR, "
          "<region>.ocir.io/<namespace>/<repository>) or image (one that serves it already), not both.");
  } else if (config.runtime == "conda") {
    if (container_keys || !config.cmd.empty() || !config.entrypoint.empty())
      return InvalidParameterError(
          "Config keys registry, image, image_digest, cmd and entrypoint are for runtime container; runtime conda runs "
          "the model from a conda pack.");
    if (!config.conda_pack.empty() && config.conda_pack.rfind("oci://", 0) != 0)
      return InvalidParameterError("Config key 'conda_pack' takes oci://<bucket>@<namespace>/<path>; got '" +
                                   config.conda_pack + "'.");
    if (!config.conda_pack.empty() && config.python_version.empty())
      return InvalidParameterError(
          "Config key 'python_version' (pythonVersion) is needed with conda_pack: the pack's Python, e.g. \"3.10\".");
  }
  // (No runtime at all is an error of create, which needs one; other calls do not.)

  config.description = str("description");
  config.freeform_tags = c["freeform_tags"];
  config.defined_tags = c["defined_tags"];
  std::string active = str("active");
  if (!active.empty()) config.active = active == "true";
  config.synchronous = c["synchronous"].get<bool>();
  config.timeout_seconds = c["timeout_seconds"].get<int>();
  config.poll_interval_seconds = c["poll_interval_seconds"].get<double>();
  config.auth = str("auth");
  config.oci_config = str("oci_config");
  config.profile = str("profile");
  config.endpoint_url = str("endpoint_url");
  while (!config.endpoint_url.empty() && config.endpoint_url.back() == '/') config.endpoint_url.pop_back();
  return config;
}

}  // namespace mlflow_bridge::internal
