// The config of the `local` target: its schema (what target_help lists) and the typed struct the
// client reads, parsed once. The state file stores it as ToJson writes it, every key filled in.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "image/build_config.h"
#include "mlflow_bridge/config.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

struct LocalConfig {
  int port = 0;  // 0: a free port
  int workers = 1;
  int timeout_seconds = 300;
  int request_timeout_seconds = 60;
  int graceful_shutdown_seconds = 10;
  std::map<std::string, std::string> env;  // for the server; a value given as other JSON is kept as its text
  // The model server (decision 0009): "native" (mlflow-bridge-serve) or "mlflow" (MLflow's, on uvicorn).
  std::string server = "native";
  // Whether the config given named `server`: then "native" is required, never replaced by MLflow's server.
  bool server_given = false;
  // Keys only the native server takes; prediction_log is absolute once parsed.
  NativeServerOptions native = [] {
    NativeServerOptions o;
    o.access_log = false;
    return o;
  }();
  std::vector<std::string> native_keys_given;  // which of those the config given named, in schema order
};

const ConfigSchema& LocalConfigSchema();

// Validates `given` (CLI strings or SDK values) with ParseConfig and fills in the defaults.
StatusOr<LocalConfig> ParseLocalConfig(const nlohmann::json& given);

// Every key, as the state file holds it.
nlohmann::json ToJson(const LocalConfig& config);

// The config a state file holds (ToJson's, or an older version's): keys it lacks, or cannot be read,
// take their defaults (logged), so that a deployment can always be stopped and deleted.
LocalConfig StoredLocalConfig(const nlohmann::json& stored);

}  // namespace mlflow_bridge::internal
