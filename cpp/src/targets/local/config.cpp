#include "targets/local/config.h"

#include "mlflow_bridge/logging.h"

namespace mlflow_bridge::internal {

using nlohmann::json;

const ConfigSchema& LocalConfigSchema() {
  static const ConfigSchema kSchema = {
      {"port", ConfigType::kInt, 0, "Port on 127.0.0.1 to serve on; 0 picks a free port.", 0, 65535},
      {"workers", ConfigType::kInt, 1, "Scoring server worker processes.", 1, 64},
      {"timeout_seconds", ConfigType::kInt, 300,
       "How long create and update wait for the server to answer /ping before they give up and clean up.", 1, 86400},
      {"request_timeout_seconds", ConfigType::kInt, 60,
       "Scoring timeout, of the server (MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT) and of predict calls.", 1, 86400},
      {"graceful_shutdown_seconds", ConfigType::kInt, 10,
       "On update and delete, how long the old server may finish requests in flight before it is killed.", 0, 3600},
      {"env", ConfigType::kObject, json::object(),
       "Extra environment variables for the server, as a JSON object, e.g. '{\"OMP_NUM_THREADS\": \"1\"}'."},
  };
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
  return config;
}

json ToJson(const LocalConfig& config) {
  return {{"port", config.port},
          {"workers", config.workers},
          {"timeout_seconds", config.timeout_seconds},
          {"request_timeout_seconds", config.request_timeout_seconds},
          {"graceful_shutdown_seconds", config.graceful_shutdown_seconds},
          {"env", config.env}};
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
