#include "mlflow_bridge/config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "common/strings.h"
#include "mlflow_bridge/logging.h"

namespace mlflow_bridge {

using internal::ToLower;
namespace {

using nlohmann::json;

std::string FormatNumber(double v) {
  if (std::isfinite(v) && v == std::trunc(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<long long>(v));
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

std::string TypeName(ConfigType t) {
  switch (t) {
    case ConfigType::kString: return "string";
    case ConfigType::kInt: return "int";
    case ConfigType::kFloat: return "float";
    case ConfigType::kBool: return "bool";
    case ConfigType::kObject: return "object";
  }
  return "string";
}

std::string BoundsText(const ConfigKey& key) {
  if (key.min && key.max) return " between " + FormatNumber(*key.min) + " and " + FormatNumber(*key.max);
  if (key.min) return " >= " + FormatNumber(*key.min);
  if (key.max) return " <= " + FormatNumber(*key.max);
  return "";
}

std::string ExpectedForm(const ConfigKey& key) {
  switch (key.type) {
    case ConfigType::kString: return "a string";
    case ConfigType::kInt: return "an integer" + BoundsText(key);
    case ConfigType::kFloat: return "a number" + BoundsText(key);
    case ConfigType::kBool: return "a boolean (true/false, yes/no, 1/0)";
    case ConfigType::kObject: return "a JSON object";
  }
  return "a string";
}

// The given value as it appears in a message: strings as is, the rest as JSON;
// shortened, and hidden for keys that name a secret.
std::string GivenText(const ConfigKey& key, const json& value) {
  if (IsSensitiveHeader(key.name)) return "***";
  std::string s = value.is_string() ? value.get<std::string>() : value.dump();
  if (s.size() > 200) s = s.substr(0, 200) + "...";
  return Redact(s);
}

Status BadValue(const ConfigKey& key, const json& value) {
  return InvalidParameterError("Config key '" + key.name + "' must be " + ExpectedForm(key) + ", got '" +
                               GivenText(key, value) + "'.");
}

bool InBounds(const ConfigKey& key, double v) { return (!key.min || v >= *key.min) && (!key.max || v <= *key.max); }

std::optional<long long> ParseInt(const std::string& s) {
  std::string_view v = s;
  if (!v.empty() && v.front() == '+') v.remove_prefix(1);
  if (v.empty() || !(std::isdigit(static_cast<unsigned char>(v.front())) || v.front() == '-')) return std::nullopt;
  long long out = 0;
  auto r = std::from_chars(v.data(), v.data() + v.size(), out, 10);
  if (r.ec != std::errc() || r.ptr != v.data() + v.size()) return std::nullopt;
  return out;
}

std::optional<double> ParseFloat(const std::string& s) {
  if (s.empty() || std::isspace(static_cast<unsigned char>(s.front()))) return std::nullopt;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::string Joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

StatusOr<json> Convert(const ConfigKey& key, const json& v) {
  switch (key.type) {
    case ConfigType::kString: {
      if (!v.is_string() && !v.is_number()) return BadValue(key, v);
      std::string s = v.is_string() ? v.get<std::string>() : v.dump();
      for (const auto& [old_value, value] : key.old_values) {
        if (s != old_value) continue;
        LogWarning("Config " + key.name + "=" + old_value + " is deprecated: use " + key.name + "=" + value +
                   " (the same thing).");
        s = value;
      }
      if (!key.choices.empty() && std::find(key.choices.begin(), key.choices.end(), s) == key.choices.end()) {
        return InvalidParameterError("Config key '" + key.name + "' must be one of " + Joined(key.choices) + "; got '" +
                                     GivenText(key, json(s)) + "'.");
      }
      return json(s);
    }
    case ConfigType::kInt: {
      std::optional<long long> n;
      if (v.is_number_integer()) {
        if (v.is_number_unsigned() &&
            v.get<unsigned long long>() > static_cast<unsigned long long>(std::numeric_limits<long long>::max()))
          return BadValue(key, v);
        n = v.get<long long>();
      } else if (v.is_number_float()) {
        double d = v.get<double>();
        if (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) < 9e18) n = static_cast<long long>(d);
      } else if (v.is_string()) {
        n = ParseInt(v.get<std::string>());
      }
      if (!n || !InBounds(key, static_cast<double>(*n))) return BadValue(key, v);
      return json(*n);
    }
    case ConfigType::kFloat: {
      std::optional<double> d;
      if (v.is_number()) d = v.get<double>();
      else if (v.is_string()) d = ParseFloat(v.get<std::string>());
      if (!d || !std::isfinite(*d) || !InBounds(key, *d)) return BadValue(key, v);
      return json(*d);
    }
    case ConfigType::kBool: {
      if (v.is_boolean()) return v;
      if (v.is_string()) {
        std::string s = ToLower(v.get<std::string>());
        if (s == "true" || s == "1" || s == "yes") return json(true);
        if (s == "false" || s == "0" || s == "no") return json(false);
      }
      return BadValue(key, v);
    }
    case ConfigType::kObject: {
      if (v.is_object()) return v;
      if (v.is_string()) {
        json parsed = json::parse(v.get<std::string>(), nullptr, /*allow_exceptions=*/false);
        if (parsed.is_object()) return parsed;
      }
      return BadValue(key, v);
    }
  }
  return BadValue(key, v);
}

// The key `name` is (its current name, or one of its old ones), or null.
const ConfigKey* KeyNamed(const ConfigSchema& schema, const std::string& name) {
  for (const ConfigKey& k : schema) {
    if (k.name == name || std::find(k.old_names.begin(), k.old_names.end(), name) != k.old_names.end()) return &k;
  }
  return nullptr;
}

std::string ValidKeys(const ConfigSchema& schema) {
  std::string out;
  for (const ConfigKey& k : schema) {
    if (!out.empty()) out += ", ";
    out += k.name;
  }
  return out.empty() ? "(none)" : out;
}

std::string DefaultText(const ConfigKey& key) {
  const json& d = key.default_value;
  if (d.is_string()) return d.get<std::string>().empty() ? "\"\"" : d.get<std::string>();
  return d.dump();
}

}  // namespace

StatusOr<json> ParseConfig(const ConfigSchema& schema, const json& given) {
  try {
    // A null `given` (no config at all) is treated as an empty object.
    if (!given.is_null() && !given.is_object())
      return InvalidParameterError("Config must be a JSON object of key -> value, got " + std::string(given.type_name()) +
                                   ".");
    if (given.is_object()) {
      for (const auto& [name, value] : given.items()) {
        if (KeyNamed(schema, name) == nullptr)
          return InvalidParameterError("Unknown config key '" + name + "'. Valid keys: " + ValidKeys(schema) + ".");
      }
    }
    json out = json::object();
    for (const ConfigKey& key : schema) {
      const json* v = nullptr;
      std::string given_as = key.name;
      for (const std::string& name : key.old_names) {
        auto it = given.is_object() ? given.find(name) : given.end();
        if (given.is_object() && it != given.end() && !it->is_null()) {
          if (v != nullptr || given.contains(key.name)) {
            return InvalidParameterError("Config keys '" + given_as + "' and '" + name + "' are one key (" + key.name +
                                         "): give it once.");
          }
          LogWarning("Config key '" + name + "' is deprecated: use '" + key.name + "' (the same thing).");
          v = &*it;
          given_as = name;
        }
      }
      if (given.is_object() && v == nullptr) {
        auto it = given.find(key.name);
        if (it != given.end() && !it->is_null()) v = &*it;
      }
      if (v == nullptr) {
        out[key.name] = key.default_value;
        continue;
      }
      StatusOr<json> converted = Convert(key, *v);
      if (!converted.ok()) return converted.status();
      out[key.name] = std::move(converted).value();
    }
    return out;
  } catch (const std::exception& e) {
    return InternalError(std::string("Parsing the config failed: ") + e.what());
  }
}

std::string DescribeConfig(const ConfigSchema& schema) {
  std::string out;
  for (const ConfigKey& key : schema) {
    out += "  " + key.name + " (" + TypeName(key.type);
    out += key.default_value.is_null() ? ", optional)\n" : ", default: " + DefaultText(key) + ")\n";
    std::string_view help = key.help;
    while (!help.empty()) {  // indent every line of the help
      size_t eol = help.find('\n');
      out += "      ";
      out += help.substr(0, eol);
      out += '\n';
      help = eol == std::string_view::npos ? std::string_view() : help.substr(eol + 1);
    }
    if ((key.type == ConfigType::kInt || key.type == ConfigType::kFloat) && (key.min || key.max))
      out += "      Allowed:" + BoundsText(key) + ".\n";
    if (!key.old_names.empty()) out += "      Old name (deprecated): " + Joined(key.old_names) + ".\n";
  }
  return out;
}

}  // namespace mlflow_bridge
