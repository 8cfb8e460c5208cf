#include "aws/config_files.h"

#include <algorithm>
#include <cctype>

#include "common/strings.h"

namespace mlflow_bridge::internal {

AwsIniFile ParseAwsIniFile(std::string_view text) {
  AwsIniFile out;
  std::string section;
  bool in_section = false;
  bool after_key = false;  // an indented line after a key continues it (nested settings)
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view raw = text.substr(pos, eol - pos);
    pos = eol + 1;
    std::string_view line = Trim(raw);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    if (line.front() == '[') {
      size_t close = line.find(']');
      if (close == std::string_view::npos) {
        in_section = false;  // malformed header: ignore what follows until the next one
        continue;
      }
      section = std::string(Trim(line.substr(1, close - 1)));
      out[section];
      in_section = true;
      after_key = false;
      continue;
    }
    if (!in_section) continue;
    if (after_key && std::isspace(static_cast<unsigned char>(raw.front()))) continue;
    size_t delim = line.find_first_of("=:");
    if (delim == std::string_view::npos) continue;
    std::string key(Trim(line.substr(0, delim)));
    std::transform(key.begin(), key.end(), key.begin(),
                   [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
    std::string_view value = Trim(line.substr(delim + 1));
    for (size_t i = 1; i < value.size(); ++i) {
      if ((value[i] == '#' || value[i] == ';') && std::isspace(static_cast<unsigned char>(value[i - 1]))) {
        value = Trim(value.substr(0, i));
        break;
      }
    }
    if (key.empty()) continue;
    out[section][key] = std::string(value);
    after_key = true;
  }
  return out;
}

AwsIniFile ConfigProfiles(std::string_view text) {
  AwsIniFile profiles;
  for (auto& [section, keys] : ParseAwsIniFile(text)) {
    std::string_view s = section;
    if (s == "default") {
      profiles["default"] = keys;
    } else if (s.rfind("profile", 0) == 0 && s.size() > 7 && std::isspace(static_cast<unsigned char>(s[7]))) {
      std::string name(s.substr(8));
      name.erase(0, name.find_first_not_of(" \t"));
      if (!name.empty()) profiles[name] = keys;
    }
  }
  return profiles;
}

}  // namespace mlflow_bridge::internal
