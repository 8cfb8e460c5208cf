// A JSON or YAML document (a config file a user wrote) read into nlohmann::json: JSON first, then YAML
// (which also reads most JSON), scalars typed as YAML 1.2's core schema reads them (true/false, null, ints,
// floats; anything else a string; quoted scalars always strings).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

// `text` parsed; INVALID_PARAMETER_VALUE naming `what` and the line of a YAML error.
StatusOr<nlohmann::json> ParseJsonOrYaml(const std::string& text, const std::string& what);

// The file at `path`; RESOURCE_DOES_NOT_EXIST when it cannot be read.
StatusOr<nlohmann::json> ReadJsonOrYamlFile(const std::string& path, const std::string& what);

}  // namespace mlflow_bridge::internal
