#include "targets/azureml/config.h"

#include <regex>
#include <utility>
#include <vector>

#include "common/strings.h"
#include "common/yaml_json.h"

namespace mlflow_bridge::internal {
namespace {

using nlohmann::json;

constexpr char kDeployFile[] = "deploy-config-file";
constexpr char kEndpointFile[] = "endpoint-config-file";

// Keys of a file that mean something else here, and what to use instead.
const std::vector<std::pair<std::string, std::string>>& RejectedFileKeys() {
  static const std::vector<std::pair<std::string, std::string>> kRejected = {
      {"model", "give the model as the deployment's model URI (-m / model_uri)"},
      {"code_configuration", "MLflow models are served without a scoring script"},
      {"environment", "registry=<acr>.azurecr.io/<repository> builds the model's own image"},
      {"endpoint_name", "give the endpoint with --endpoint"},
      {"name", "the name is the deployment's (--name) or the endpoint's (--endpoint)"},
      {"computeType", "v1 ACI/AKS web services are not supported: this target makes online endpoints"},
  };
  return kRejected;
}

bool AzureMlConfigSchemaHas(const std::string& name) {
  for (const ConfigKey& key : AzureMlConfigSchema())
    if (key.name == name) return true;
  return false;
}

// A nested object's keys checked against `valid`; the error names the key path.
Status CheckKeys(const json& object, const std::string& key, const std::vector<std::string>& valid) {
  for (const auto& [name, value] : object.items()) {
    bool known = false;
    for (const std::string& v : valid) known = known || v == name;
    if (!known)
      return InvalidParameterError("Config key '" + key + "' has an unknown field '" + name + "'; valid: " + Join(valid) +
                                   ".");
  }
  return Status();
}

StatusOr<int> IntField(const json& object, const std::string& key, const std::string& field, int min, int max) {
  const json& v = object.at(field);
  long long n = 0;
  if (v.is_number_integer()) {
    n = v.get<long long>();
  } else if (v.is_string() && std::regex_match(v.get<std::string>(), std::regex("[0-9]+"))) {
    n = std::stoll(v.get<std::string>());
  } else {
    return InvalidParameterError("Config key '" + key + "." + field + "' must be an integer; got " + v.dump() + ".");
  }
  if (n < min || n > max)
    return InvalidParameterError("Config key '" + key + "." + field + "' must be between " + std::to_string(min) + " and " +
                                 std::to_string(max) + "; got " + std::to_string(n) + ".");
  return static_cast<int>(n);
}

// {failure_threshold, success_threshold, initial_delay, period, timeout} (seconds) -> ARM ProbeSettings.
StatusOr<json> Probe(const json& given, const std::string& key) {
  if (Status s = CheckKeys(given, key, {"failure_threshold", "success_threshold", "initial_delay", "period", "timeout"});
      !s.ok())
    return s;
  json out = json::object();
  for (const auto& [field, arm] : std::vector<std::pair<std::string, std::string>>{
           {"failure_threshold", "failureThreshold"}, {"success_threshold", "successThreshold"}}) {
    if (!given.contains(field)) continue;
    StatusOr<int> n = IntField(given, key, field, 1, 10000);
    if (!n.ok()) return n.status();
    out[arm] = *n;
  }
  for (const auto& [field, arm] : std::vector<std::pair<std::string, std::string>>{
           {"initial_delay", "initialDelay"}, {"period", "period"}, {"timeout", "timeout"}}) {
    if (!given.contains(field)) continue;
    StatusOr<std::string> d = IsoDuration(given.at(field), key + "." + field);
    if (!d.ok()) return d.status();
    out[arm] = *d;
  }
  return out;
}

// {max_concurrent_requests_per_instance, request_timeout_ms, max_queue_wait_ms} -> ARM OnlineRequestSettings,
// the milliseconds written as ISO-8601 durations (azureml-mlflow copies them raw, which the service rejects).
StatusOr<json> RequestSettings(const json& given, const std::string& key) {
  if (Status s = CheckKeys(given, key, {"max_concurrent_requests_per_instance", "request_timeout_ms", "max_queue_wait_ms"});
      !s.ok())
    return s;
  json out = json::object();
  if (given.contains("max_concurrent_requests_per_instance")) {
    StatusOr<int> n = IntField(given, key, "max_concurrent_requests_per_instance", 1, 1000);
    if (!n.ok()) return n.status();
    out["maxConcurrentRequestsPerInstance"] = *n;
  }
  for (const auto& [field, arm] : std::vector<std::pair<std::string, std::string>>{{"request_timeout_ms", "requestTimeout"},
                                                                                   {"max_queue_wait_ms", "maxQueueWait"}}) {
    if (!given.contains(field)) continue;
    StatusOr<std::string> d = IsoDuration(given.at(field), key + "." + field, /*milliseconds=*/true);
    if (!d.ok()) return d.status();
    out[arm] = *d;
  }
  return out;
}

// {type: default | target_utilization, min_instances, max_instances, polling_interval,
// target_utilization_percentage} -> ARM OnlineScaleSettings.
StatusOr<json> ScaleSettings(const json& given, const std::string& key) {
  if (Status s = CheckKeys(given, key,
                           {"type", "min_instances", "max_instances", "polling_interval", "target_utilization_percentage"});
      !s.ok())
    return s;
  std::string type = given.contains("type") && given["type"].is_string() ? given["type"].get<std::string>() : "default";
  if (type == "default" || type == "Default") {
    if (given.size() > (given.contains("type") ? 1u : 0u))
      return InvalidParameterError("Config key '" + key +
                                   "': min_instances, max_instances, polling_interval and target_utilization_percentage "
                                   "go with type=target_utilization only.");
    return json{{"scaleType", "Default"}};
  }
  if (type != "target_utilization" && type != "TargetUtilization")
    return InvalidParameterError("Config key '" + key + ".type' must be default or target_utilization; got '" + type + "'.");
  json out = {{"scaleType", "TargetUtilization"}};
  for (const auto& [field, arm] :
       std::vector<std::pair<std::string, std::string>>{{"min_instances", "minInstances"},
                                                        {"max_instances", "maxInstances"},
                                                        {"target_utilization_percentage", "targetUtilizationPercentage"}}) {
    if (!given.contains(field)) continue;
    StatusOr<int> n =
        IntField(given, key, field, field == "min_instances" ? 0 : 1, field == "target_utilization_percentage" ? 100 : 1000);
    if (!n.ok()) return n.status();
    out[arm] = *n;
  }
  if (out.contains("minInstances") && out.contains("maxInstances") &&
      out["minInstances"].get<int>() > out["maxInstances"].get<int>())
    return InvalidParameterError("Config key '" + key + "': min_instances is larger than max_instances.");
  if (given.contains("polling_interval")) {
    StatusOr<std::string> d = IsoDuration(given["polling_interval"], key + ".polling_interval");
    if (!d.ok()) return d.status();
    out["pollingInterval"] = *d;
  }
  return out;
}

// Kubernetes {requests: {cpu, memory, nvidia.com/gpu}, limits: {...}} -> ARM ContainerResourceRequirements.
StatusOr<json> Resources(const json& given, const std::string& key) {
  if (Status s = CheckKeys(given, key, {"requests", "limits"}); !s.ok()) return s;
  json out = json::object();
  for (const auto& [field, arm] : std::vector<std::pair<std::string, std::string>>{{"requests", "containerResourceRequests"},
                                                                                   {"limits", "containerResourceLimits"}}) {
    if (!given.contains(field)) continue;
    const json& part = given[field];
    if (!part.is_object()) return InvalidParameterError("Config key '" + key + "." + field + "' must be an object.");
    if (Status s = CheckKeys(part, key + "." + field, {"cpu", "memory", "gpu", "nvidia.com/gpu"}); !s.ok()) return s;
    json values = json::object();
    for (const auto& [name, value] : part.items()) {
      if (!value.is_string() && !value.is_number())
        return InvalidParameterError("Config key '" + key + "." + field + "." + name +
                                     "' must be a Kubernetes quantity such as \"500m\" or \"1Gi\".");
      values[name == "nvidia.com/gpu" ? "gpu" : name] = value.is_string() ? value.get<std::string>() : value.dump();
    }
    out[arm] = values;
  }
  return out;
}

// {type: system_assigned | user_assigned | "system_assigned,user_assigned" | none, user_assigned_identities:
// [ids] or {id: {}}} (or the ARM form) -> ARM ManagedServiceIdentity.
StatusOr<json> Identity(const json& given, const std::string& key) {
  if (Status s = CheckKeys(given, key, {"type", "user_assigned_identities", "userAssignedIdentities"}); !s.ok()) return s;
  std::string type = given.contains("type") && given["type"].is_string() ? given["type"].get<std::string>() : "";
  static const std::vector<std::pair<std::string, std::string>> kTypes = {
      {"system_assigned", "SystemAssigned"},
      {"user_assigned", "UserAssigned"},
      {"system_assigned,user_assigned", "SystemAssigned,UserAssigned"},
      {"none", "None"}};
  std::string arm;
  for (const auto& [user, rest] : kTypes)
    if (type == user || type == rest) arm = rest;
  if (arm.empty())
    return InvalidParameterError("Config key '" + key +
                                 ".type' must be system_assigned, user_assigned, system_assigned,user_assigned or none; "
                                 "got '" +
                                 type + "'.");
  json out = {{"type", arm}};
  json ids = given.contains("user_assigned_identities") ? given["user_assigned_identities"]
                                                        : given.value("userAssignedIdentities", json());
  if (!ids.is_null()) {
    json map = json::object();
    if (ids.is_array()) {
      for (const json& id : ids) {
        if (id.is_string()) {
          map[id.get<std::string>()] = json::object();
        } else if (id.is_object() && id.contains("resource_id") && id["resource_id"].is_string()) {
          map[id["resource_id"].get<std::string>()] = json::object();
        } else {
          return InvalidParameterError("Config key '" + key +
                                       ".user_assigned_identities' lists ARM ids of user-assigned identities; got " +
                                       id.dump() + ".");
        }
      }
    } else if (ids.is_object()) {
      for (const auto& [id, value] : ids.items()) map[id] = json::object();
    } else {
      return InvalidParameterError("Config key '" + key + ".user_assigned_identities' must be a list of ARM ids.");
    }
    out["userAssignedIdentities"] = map;
  }
  if (arm.find("UserAssigned") != std::string::npos && !out.contains("userAssignedIdentities"))
    return InvalidParameterError("Config key '" + key + "': type " + type + " needs user_assigned_identities.");
  return out;
}

// deployment -> percent, integers.
StatusOr<json> Percentages(const json& given, const std::string& key, int max_each, int total, bool exact) {
  int sum = 0;
  for (const auto& [name, value] : given.items()) {
    long long n = -1;
    if (value.is_number_integer()) n = value.get<long long>();
    if (value.is_number_float() && value.get<double>() == static_cast<long long>(value.get<double>()))
      n = static_cast<long long>(value.get<double>());
    if (value.is_string() && std::regex_match(value.get<std::string>(), std::regex("[0-9]+")))
      n = std::stoll(value.get<std::string>());
    if (n < 0 || n > max_each)
      return InvalidParameterError("Config key '" + key + "': the value for '" + name +
                                   "' must be a whole percent between 0 and " + std::to_string(max_each) + "; got " +
                                   value.dump() + ".");
    sum += static_cast<int>(n);
  }
  json out = json::object();
  for (const auto& [name, value] : given.items())
    out[name] = value.is_string() ? std::stoi(value.get<std::string>()) : static_cast<int>(value.get<double>());
  if (exact && !given.empty() && sum != total)
    return InvalidParameterError("Config key '" + key + "' must sum to " + std::to_string(total) + " percent; " +
                                 given.dump() + " sums to " + std::to_string(sum) + ".");
  if (!exact && sum > total)
    return InvalidParameterError("Config key '" + key + "' may take at most " + std::to_string(total) + " percent in all; " +
                                 given.dump() + " sums to " + std::to_string(sum) + ".");
  return out;
}

// The config with the files named by deploy-config-file / endpoint-config-file merged in under the -C
// keys, except tags, description and properties of a file, which describe only the file's resource.
struct Merged {
  json keys = json::object();
  json endpoint_own = json::object();    // tags, description, properties of the endpoint-config-file
  json deployment_own = json::object();  // of the deploy-config-file
};

StatusOr<Merged> MergeFiles(const json& given) {
  Merged merged;
  for (const char* file_key : {kDeployFile, kEndpointFile}) {
    auto it = given.find(file_key);
    if (it == given.end()) continue;
    if (!it->is_string() || it->get<std::string>().empty())
      return InvalidParameterError(std::string("Config key '") + file_key + "' takes the path of a JSON or YAML file.");
    bool endpoint_file = file_key == std::string(kEndpointFile);
    std::string what = std::string(endpoint_file ? "the endpoint" : "the deployment") + " config file (" + file_key + ") '" +
                       it->get<std::string>() + "'";
    StatusOr<json> file = ReadJsonOrYamlFile(it->get<std::string>(), what);
    if (!file.ok()) return file.status();
    if (!file->is_object()) return InvalidParameterError(what + " must hold a mapping of keys to values.");
    for (const auto& [key, value] : file->items()) {
      if (key == "$schema") continue;
      for (const auto& [rejected, instead] : RejectedFileKeys())
        if (key == rejected)
          return InvalidParameterError("Key '" + key + "' in " + what + " is not taken here: " + instead + ".");
      if (key == "tags" || key == "description" || key == "properties") {
        (endpoint_file ? merged.endpoint_own : merged.deployment_own)[key] = value;
        continue;
      }
      if (!AzureMlConfigSchemaHas(key) || key == kDeployFile || key == kEndpointFile) {
        std::vector<std::string> valid = {"tags", "description", "properties", "async"};
        for (const ConfigKey& k : AzureMlConfigSchema())
          if ((AzureMlEndpointKeys().count(k.name) > 0) == endpoint_file) valid.push_back(k.name);
        return InvalidParameterError("Unknown key '" + key + "' in " + what + "; valid: " + Join(valid) + ".");
      }
      bool belongs = AzureMlEndpointKeys().count(key) > 0;
      if (key != "async" && belongs != endpoint_file)
        return InvalidParameterError("Key '" + key + "' in " + what + " belongs in the " +
                                     (belongs ? kEndpointFile : kDeployFile) + ".");
      merged.keys[key] = value;
    }
  }
  for (const auto& [key, value] : given.items())
    if (key != kDeployFile && key != kEndpointFile) merged.keys[key] = value;
  return merged;
}

}  // namespace

StatusOr<std::string> IsoDuration(const json& value, const std::string& key, bool milliseconds) {
  if (value.is_number_integer() || (value.is_string() && std::regex_match(value.get<std::string>(), std::regex("[0-9]+")))) {
    long long n = value.is_string() ? std::stoll(value.get<std::string>()) : value.get<long long>();
    if (n < 0) return InvalidParameterError("Config key '" + key + "' must not be negative.");
    if (!milliseconds) return "PT" + std::to_string(n) + "S";
    std::string s = "PT" + std::to_string(n / 1000);
    if (n % 1000 != 0) {
      std::string frac = std::to_string(1000 + n % 1000).substr(1);
      while (frac.back() == '0') frac.pop_back();
      s += "." + frac;
    }
    return s + "S";
  }
  static const std::regex kIso(R"(P(?!$)([0-9]+D)?(T(?=[0-9])([0-9]+H)?([0-9]+M)?([0-9]+(\.[0-9]+)?S)?)?)");
  if (value.is_string() && std::regex_match(value.get<std::string>(), kIso)) return value.get<std::string>();
  return InvalidParameterError("Config key '" + key + "' takes " + (milliseconds ? "milliseconds" : std::string("seconds")) +
                               " (an integer) or an ISO-8601 duration such as PT30S; got " + value.dump() + ".");
}

const std::set<std::string>& AzureMlEndpointKeys() {
  static const std::set<std::string> kKeys = {
      "auth_mode", "identity", "traffic", "weights", "mirror_traffic", "compute", "public_network_access", "location"};
  return kKeys;
}

const ConfigSchema& AzureMlConfigSchema() {
  static const ConfigSchema kSchema = [] {
    ConfigSchema schema = {
        // The files.
        {kDeployFile, ConfigType::kString, "",
         "A JSON or YAML file with the online deployment's keys, as azureml-mlflow and `az ml online-deployment` "
         "write them (instance_type, instance_count, app_insights_enabled, environment_variables, liveness_probe, "
         "readiness_probe, request_settings, scale_settings, resources, type, tags, description, properties). -C keys "
         "take precedence over the file's."},
        {kEndpointFile, ConfigType::kString, "",
         "A JSON or YAML file with the online endpoint's keys (auth_mode, identity, traffic, mirror_traffic, compute, "
         "public_network_access, location, tags, description, properties)."},
        // The endpoint.
        {"auth_mode",
         ConfigType::kString,
         "key",
         "How clients authenticate to a new endpoint: key (the endpoint's keys), aml_token (tokens from the "
         "workspace, valid 24 h) or aad_token (Entra ID tokens for https://ml.azure.com). predict uses the right one.",
         std::nullopt,
         std::nullopt,
         {"key", "aml_token", "aad_token"}},
        {"identity", ConfigType::kObject, nullptr,
         "The endpoint's managed identity: {\"type\": \"system_assigned\"} (the default), {\"type\": "
         "\"user_assigned\", \"user_assigned_identities\": [\"<ARM id>\"]} or {\"type\": \"none\"}."},
        {"weights", ConfigType::kObject, nullptr,
         "update-endpoint: the traffic split in whole percent, {\"blue\": 90, \"green\": 10}, summing to 100; "
         "deployments left out get 0. The same key as on kyma, aks and sagemaker-endpoints."},
        {"traffic", ConfigType::kObject, nullptr, "azureml-mlflow's name for weights."},
        {"mirror_traffic", ConfigType::kObject, nullptr,
         "Percent of live traffic copied to a deployment (its answers are discarded), at most 50: {\"green\": 10}."},
        {"compute", ConfigType::kString, "",
         "A Kubernetes online endpoint: the name (or ARM id) of the Kubernetes compute attached to the workspace. "
         "Default: a managed online endpoint."},
        {"public_network_access",
         ConfigType::kString,
         "",
         "enabled or disabled: whether the endpoint's scoring URI is reachable from the internet. Default: the "
         "service's (enabled).",
         std::nullopt,
         std::nullopt,
         {"", "enabled", "disabled"}},
        {"location", ConfigType::kString, "", "Azure region of a new endpoint. Default: the workspace's."},
        // Both.
        {"tags", ConfigType::kObject, json::object(),
         "Tags of the endpoint and deployment this call creates; the managed-by tag is added."},
        {"description", ConfigType::kString, "", "Description of the endpoint and deployment this call creates."},
        {"properties", ConfigType::kObject, json::object(),
         "Properties (string map; they cannot be removed later) of the endpoint and deployment."},
        // The deployment.
        {"type",
         ConfigType::kString,
         "",
         "managed or kubernetes (endpointComputeType). Default: kubernetes on an endpoint with compute, else managed.",
         std::nullopt,
         std::nullopt,
         {"", "managed", "kubernetes"}},
        {"instance_type", ConfigType::kString, "",
         "VM size of a managed deployment (default Standard_DS3_v2), or the instance type defined on a Kubernetes "
         "compute (default: its default)."},
        {"instance_count", ConfigType::kInt, 1, "Instances serving the deployment (sku.capacity).", 1, 1000},
        {"app_insights_enabled", ConfigType::kBool, false,
         "Send the deployment's logs and metrics to Application Insights."},
        {"environment_variables", ConfigType::kObject, json::object(), "Environment variables of the model server."},
        {"liveness_probe", ConfigType::kObject, nullptr,
         "{\"initial_delay\": 10, \"period\": 10, \"timeout\": 2, \"failure_threshold\": 30, \"success_threshold\": 1} "
         "(seconds, or ISO-8601 durations). Default: the service's."},
        {"readiness_probe", ConfigType::kObject, nullptr, "As liveness_probe, for readiness."},
        {"request_settings", ConfigType::kObject, nullptr,
         "{\"request_timeout_ms\": 5000, \"max_concurrent_requests_per_instance\": 1, \"max_queue_wait_ms\": 500}. "
         "Raise request_timeout_ms (default 5 s) for slow models: past it the endpoint answers 408."},
        {"scale_settings", ConfigType::kObject, nullptr,
         "{\"type\": \"default\"} or {\"type\": \"target_utilization\", \"min_instances\": 1, \"max_instances\": 3, "
         "\"polling_interval\": 10, \"target_utilization_percentage\": 70} (Kubernetes deployments)."},
        {"resources", ConfigType::kObject, nullptr,
         "Kubernetes deployments: {\"requests\": {\"cpu\": \"500m\", \"memory\": \"1Gi\"}, \"limits\": {\"memory\": "
         "\"2Gi\", \"nvidia.com/gpu\": \"1\"}}."},
        {"model_name", ConfigType::kString, "",
         "Name under which the model is registered in the workspace. Default: the registered MLflow model's name "
         "(models:/<name>/...), else the deployment's."},
        {"registry", ConfigType::kString, "",
         "Build the model's own image (its dependencies installed, no docker needed) and push it to "
         "<acr>.azurecr.io/<repository>[:tag]; the deployment runs it as a custom container. For workspaces without "
         "outbound internet or with private package feeds. An ACR is logged in to with the same Entra ID identity "
         "(registry_auth=acr, as `az acr login`; it needs AcrPush there, and the workspace's identity AcrPull). "
         "Default: Azure ML builds the image (no-code MLflow)."},
    };
    for (ConfigKey& key : ImageBuildSchema()) schema.push_back(std::move(key));
    schema.insert(
        schema.end(),
        {
            {"create_endpoint", ConfigType::kBool, false,
             "create --endpoint E: make the endpoint first when it is not there; deleted again if the deployment fails."},
            {"initial_weight", ConfigType::kInt, 0,
             "Percent of the endpoint's traffic for a deployment joining it (create --endpoint); the others keep their "
             "proportions. The first deployment of an endpoint takes all of it.",
             0, 100},
            {"delete_empty_endpoint", ConfigType::kBool, false,
             "delete: also delete the endpoint when its last deployment is deleted."},
            {"synchronous", ConfigType::kBool, true, "Wait until the endpoint or deployment is provisioned (or deleted)."},
            {"async", ConfigType::kBool, false, "azureml-mlflow's opposite of synchronous: true returns at once."},
            {"timeout_seconds", ConfigType::kInt, 1800, "How long to wait for provisioning when synchronous.", 1, 86400},
            {"poll_interval_seconds", ConfigType::kFloat, 5.0,
             "Interval between status checks when the service does not say (Retry-After).", 0.01, 300},
            {"credential",
             ConfigType::kString,
             "auto",
             "Entra ID credential: auto (client secret, client certificate, workload identity, then managed identity, "
             "from AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH, "
             "AZURE_FEDERATED_TOKEN_FILE, AZURE_AUTHORITY_HOST), or one of secret, certificate, workload, "
             "managed_identity.",
             std::nullopt,
             std::nullopt,
             {"auto", "secret", "certificate", "workload", "managed_identity"}},
            {"managed_identity_client_id", ConfigType::kString, "",
             "Client id of the user-assigned managed identity to use. Default: AZURE_CLIENT_ID, else the "
             "system-assigned identity."},
            {"arm_endpoint", ConfigType::kString, "https://management.azure.com",
             "Azure Resource Manager of the cloud (https://management.usgovcloudapi.net, "
             "https://management.chinacloudapi.cn)."},
            {"log_tail_lines", ConfigType::kInt, 50,
             "Lines of each container's log shown when a deployment fails to provision.", 0, 5000},
        });
    return schema;
  }();
  return kSchema;
}

StatusOr<AzureMlConfig> ParseAzureMlConfig(const json& given) {
  if (!given.is_object()) return InvalidParameterError("The config must be a mapping of keys to values.");
  StatusOr<Merged> merged = MergeFiles(given);
  if (!merged.ok()) return merged.status();
  StatusOr<json> parsed = ParseConfig(AzureMlConfigSchema(), merged->keys);
  if (!parsed.ok()) return parsed.status();
  const json& c = *parsed;

  AzureMlConfig config;
  for (const auto& [key, value] : merged->keys.items()) config.given.insert(key);
  auto str = [&](const char* key) { return c.value(key, std::string()); };

  config.auth_mode = str("auth_mode");
  config.arm_auth_mode = config.auth_mode == "aml_token" ? "AMLToken" : config.auth_mode == "aad_token" ? "AADToken" : "Key";
  config.compute = str("compute");
  std::string access = str("public_network_access");
  config.public_network_access = access.empty() ? "" : access == "enabled" ? "Enabled" : "Disabled";
  config.location = str("location");

  // tags, description, properties: -C keys describe both resources, a file's only its own.
  for (bool endpoint : {true, false}) {
    json own = endpoint ? merged->endpoint_own : merged->deployment_own;
    for (const char* key : {"tags", "description", "properties"}) {
      if (given.contains(key)) {
        own[key] = c[key];
      } else if (own.contains(key)) {
        config.given.insert(key);
      }
    }
    StatusOr<json> one = ParseConfig(AzureMlConfigSchema(), own);
    if (!one.ok()) return one.status();
    (endpoint ? config.endpoint_tags : config.deployment_tags) = (*one)["tags"];
    (endpoint ? config.endpoint_description : config.deployment_description) = (*one)["description"].get<std::string>();
    (endpoint ? config.endpoint_properties : config.deployment_properties) = (*one)["properties"];
  }
  for (const json* map :
       {&config.endpoint_tags, &config.deployment_tags, &config.endpoint_properties, &config.deployment_properties}) {
    for (const auto& [k, v] : map->items())
      if (!v.is_string())
        return InvalidParameterError("Config keys 'tags' and 'properties' map names to strings; '" + k + "' is " + v.dump() +
                                     ".");
  }

  if (!c["identity"].is_null()) {
    StatusOr<json> identity = Identity(c["identity"], "identity");
    if (!identity.ok()) return identity.status();
    config.identity = *identity;
  }
  if (!c["weights"].is_null() && !c["traffic"].is_null())
    return InvalidParameterError(
        "Config keys 'weights' and 'traffic' are one setting (traffic is azureml-mlflow's "
        "name for it): give one of them.");
  for (const char* key : {"weights", "traffic"}) {
    if (c[key].is_null()) continue;
    StatusOr<json> traffic = Percentages(c[key], key, 100, 100, /*exact=*/true);
    if (!traffic.ok()) return traffic.status();
    config.traffic = *traffic;
  }
  if (!c["mirror_traffic"].is_null()) {
    StatusOr<json> mirror = Percentages(c["mirror_traffic"], "mirror_traffic", 50, 50, /*exact=*/false);
    if (!mirror.ok()) return mirror.status();
    config.mirror_traffic = *mirror;
  }

  config.compute_type = str("type");
  config.instance_type = str("instance_type");
  config.instance_count = c["instance_count"].get<int>();
  config.app_insights_enabled = c["app_insights_enabled"].get<bool>();
  config.environment_variables = c["environment_variables"];
  for (const auto& [k, v] : config.environment_variables.items())
    if (!v.is_string()) config.environment_variables[k] = v.dump();
  using Converter = StatusOr<json> (*)(const json&, const std::string&);
  for (const auto& [key, field, convert] : std::vector<std::tuple<const char*, json*, Converter>>{
           {"liveness_probe", &config.liveness_probe, &Probe},
           {"readiness_probe", &config.readiness_probe, &Probe},
           {"request_settings", &config.request_settings, &RequestSettings},
           {"scale_settings", &config.scale_settings, &ScaleSettings},
           {"resources", &config.resources, &Resources}}) {
    if (c[key].is_null()) continue;
    StatusOr<json> converted = convert(c[key], key);
    if (!converted.ok()) return converted.status();
    *field = *converted;
  }
  config.model_name = str("model_name");
  config.registry = str("registry");
  config.build = ReadImageBuildConfig(c);

  config.create_endpoint = c["create_endpoint"].get<bool>();
  config.initial_weight = c["initial_weight"].get<int>();
  config.delete_empty_endpoint = c["delete_empty_endpoint"].get<bool>();
  if (merged->keys.contains("synchronous") && merged->keys.contains("async"))
    return InvalidParameterError("Config keys 'synchronous' and 'async' are one setting: give one of them.");
  config.synchronous = c["synchronous"].get<bool>() && !c["async"].get<bool>();
  config.timeout_seconds = c["timeout_seconds"].get<int>();
  config.poll_interval_seconds = c["poll_interval_seconds"].get<double>();
  config.credential = str("credential");
  config.managed_identity_client_id = str("managed_identity_client_id");
  config.arm_endpoint = str("arm_endpoint");
  while (!config.arm_endpoint.empty() && config.arm_endpoint.back() == '/') config.arm_endpoint.pop_back();
  if (config.arm_endpoint.rfind("https://", 0) != 0)
    return InvalidParameterError("Config key 'arm_endpoint' must be an https:// URL; got '" + config.arm_endpoint + "'.");
  config.log_tail_lines = c["log_tail_lines"].get<int>();

  if (config.compute_type == "managed" && !config.resources.is_null())
    return InvalidParameterError(
        "Config key 'resources' is for Kubernetes deployments (type=kubernetes); managed "
        "deployments size by instance_type.");
  return config;
}

}  // namespace mlflow_bridge::internal
