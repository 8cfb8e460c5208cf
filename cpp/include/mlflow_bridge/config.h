// Target configuration: a schema of keys (type, default, help) shared by
// parsing, validation and target_help(). CLI values arrive as strings and SDK
// values as JSON types; both are parsed into the key's type here, once.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "mlflow_bridge/status.h"

namespace mlflow_bridge {

enum class ConfigType { kString, kInt, kFloat, kBool, kObject /* JSON object, e.g. env */ };

struct ConfigKey {
  std::string name;
  ConfigType type = ConfigType::kString;
  nlohmann::json default_value;  // null: no default (optional and unset)
  std::string help;
  // Inclusive bounds for kInt/kFloat.
  std::optional<double> min{};
  std::optional<double> max{};
  // kString: the values it takes (empty: any); anything else is an error listing them.
  std::vector<std::string> choices{};
  // Old spellings, still accepted with a deprecation warning: of the key's name, and of its values
  // (old value -> the value it now is).
  std::vector<std::string> old_names{};
  std::vector<std::pair<std::string, std::string>> old_values{};
};

using ConfigSchema = std::vector<ConfigKey>;

// Validates `given` (a JSON object of key -> value, values strings or typed)
// against `schema`: unknown keys are an error listing the valid ones; each value
// is converted to its key's type or the error names the key and the expected
// form. Returns every key of the schema, defaults filled in, under their current names and values
// (an old name or value is accepted with a warning in the log; an old and a new name of one key
// cannot go together).
StatusOr<nlohmann::json> ParseConfig(const ConfigSchema& schema, const nlohmann::json& given);

// The "Config keys" section of target_help(): one entry per key with type,
// default and description.
std::string DescribeConfig(const ConfigSchema& schema);

}  // namespace mlflow_bridge
