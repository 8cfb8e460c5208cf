#include "targets/local/config.h"

#include <filesystem>

#include "mlflow_bridge/logging.h"

namespace mlflow_bridge::internal {

using nlohmann::json;

const ConfigSchema& LocalConfigSchema() {
  static const ConfigSchema kSchema = [] {
    ConfigSchema schema = {
        {"port", ConfigType::kInt, 0, "Port on 127.0.0.1 to serve on; 0 picks a free port.", 0, 65535},
        {"workers", ConfigType::kInt, 1, "Model worker processes (native) or uvicorn workers (mlflow).", 1, 64},
        {"timeout_seconds", ConfigType::kInt, 300,
         "How long create and update wait for the server to answer /ping before they give up and clean up.", 1, 86400},
        {"request_timeout_seconds", ConfigType::kInt, 60,
         "Scoring timeout, of the server (past it a request gets 504) and of predict calls.", 1, 86400},
        {"graceful_shutdown_seconds", ConfigType::kInt, 10,
         "On update and delete, how long the old server may finish requests in flight (it drains: no new "
         "connections, kept-alive ones answered with 'Connection: close') before it is stopped.",
         0, 3600},
        {"env", ConfigType::kObject, json::object(),
         "Extra environment variables for the server, as a JSON object, e.g. '{\"OMP_NUM_THREADS\": \"1\"}'."},
        {"server",
         ConfigType::kString,
         "native",
         "The model server: native (mlflow-bridge-serve: HTTP in C++, the model in Python workers answering with "
         "MLflow's own request handling; every platform's routes: /invocations, /score, /predict, /v2/...) or "
         "mlflow (MLflow's scoring server on uvicorn). Left out, an installation without the native server uses "
         "MLflow's, with a warning; server=native given explicitly fails there instead.",
         std::nullopt,
         std::nullopt,
         {"native", "mlflow"}},
    };
    for (ConfigKey& key : NativeServerSchema(false)) schema.push_back(std::move(key));
    return schema;
  }();
  return kSchema;
}

StatusOr<LocalConfig> ParseLocalConfig(const json& given) {
  StatusOr<json> parsed = ParseConfig(LocalConfigSchema(), given);
  if (!parsed.ok()) return parsed.status();
  const json& c = *parsed;
  LocalConfig config;
  // The bounds in the schema keep every int in range.
  config.port = c["port"].get<int>();
  config.workers = c["workers"].get<int>();
  config.timeout_seconds = c["timeout_seconds"].get<int>();
  config.request_timeout_seconds = c["request_timeout_seconds"].get<int>();
  config.graceful_shutdown_seconds = c["graceful_shutdown_seconds"].get<int>();
  for (const auto& [k, v] : c["env"].items()) config.env[k] = v.is_string() ? v.get<std::string>() : v.dump();
  config.server = c["server"].get<std::string>();
  config.server_given = given.is_object() && given.contains("server");
  config.native = ReadNativeServerOptions(c);
  std::string& prediction_log = config.native.prediction_log;
  if (!prediction_log.empty() && prediction_log != "-") {
    // The server runs elsewhere (its own working folder): a relative path means the caller's.
    std::error_code ec;
    auto absolute = std::filesystem::absolute(prediction_log, ec);
    if (!ec) prediction_log = absolute.lexically_normal().string();
  }
  if (given.is_object()) {
    for (const ConfigKey& key : NativeServerSchema(false)) {
      if (given.contains(key.name)) config.native_keys_given.push_back(key.name);
    }
  }
  return config;
}

json ToJson(const LocalConfig& config) {
  json out = {{"port", config.port},
              {"workers", config.workers},
              {"timeout_seconds", config.timeout_seconds},
              {"request_timeout_seconds", config.request_timeout_seconds},
              {"graceful_shutdown_seconds", config.graceful_shutdown_seconds},
              {"env", config.env},
              {"server", config.server}};
  out.update(NativeServerKeys(config.native));
  return out;
}

LocalConfig StoredLocalConfig(const json& stored) {
  if (!stored.is_object()) return LocalConfig{};
  json known = json::object();
  for (const ConfigKey& key : LocalConfigSchema()) {
    if (stored.contains(key.name)) known[key.name] = stored[key.name];
  }
  StatusOr<LocalConfig> config = ParseLocalConfig(known);
  if (config.ok()) return *config;
  LogWarning("The stored config of a local deployment cannot be read; using the defaults: " + config.status().message());
  return LocalConfig{};
}

}  // namespace mlflow_bridge::internal
