#include "targets/local/config.h"

#include <filesystem>

#include "mlflow_bridge/logging.h"

namespace mlflow_bridge::internal {

using nlohmann::json;

namespace {

// The keys only the native server takes (MLflow's ignores them).
const std::vector<std::string>& NativeOnlyKeys() {
  static const std::vector<std::string> kKeys = {"batching",   "max_queue",      "max_body_mb",
                                                 "access_log", "prediction_log", "prediction_log_rate"};
  return kKeys;
}

}  // namespace

const ConfigSchema& LocalConfigSchema() {
  static const ConfigSchema kSchema = {
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
      {"batching",
       ConfigType::kString,
       "auto",
       "Native server: merge concurrent compatible requests into one predict call (auto: for row-independent "
       "flavors such as sklearn, xgboost, lightgbm).",
       std::nullopt,
       std::nullopt,
       {"auto", "true", "false"}},
      {"max_queue", ConfigType::kInt, 1024,
       "Native server: requests waiting for a worker; more are answered 503 with Retry-After.", 1, 10000000},
      {"max_body_mb", ConfigType::kInt, 64, "Native server: request bodies over this many MiB get 413.", 1, 2048},
      {"access_log", ConfigType::kBool, false,
       "Native server: one line per request (with its request id) in the server's log.", std::nullopt, std::nullopt},
      {"prediction_log", ConfigType::kString, "",
       "Native server: a file to append sampled requests and answers to, as JSON lines (for monitoring); empty: "
       "off."},
      {"prediction_log_rate", ConfigType::kFloat, 1.0,
       "Native server: the share of requests written to prediction_log, 0 to 1.", 0, 1},
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
  config.server = c["server"].get<std::string>();
  config.server_given = given.is_object() && given.contains("server");
  config.batching = c["batching"].get<std::string>();
  config.max_queue = c["max_queue"].get<int>();
  config.max_body_mb = c["max_body_mb"].get<int>();
  config.access_log = c["access_log"].get<bool>();
  config.prediction_log = c["prediction_log"].get<std::string>();
  if (!config.prediction_log.empty()) {
    // The server runs elsewhere (its own working folder): a relative path means the caller's.
    std::error_code ec;
    auto absolute = std::filesystem::absolute(config.prediction_log, ec);
    if (!ec) config.prediction_log = absolute.lexically_normal().string();
  }
  config.prediction_log_rate = c["prediction_log_rate"].get<double>();
  if (given.is_object()) {
    for (const std::string& key : NativeOnlyKeys()) {
      if (given.contains(key)) config.native_keys_given.push_back(key);
    }
  }
  return config;
}

json ToJson(const LocalConfig& config) {
  return {{"port", config.port},
          {"workers", config.workers},
          {"timeout_seconds", config.timeout_seconds},
          {"request_timeout_seconds", config.request_timeout_seconds},
          {"graceful_shutdown_seconds", config.graceful_shutdown_seconds},
          {"env", config.env},
          {"server", config.server},
          {"batching", config.batching},
          {"max_queue", config.max_queue},
          {"max_body_mb", config.max_body_mb},
          {"access_log", config.access_log},
          {"prediction_log", config.prediction_log},
          {"prediction_log_rate", config.prediction_log_rate}};
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
