#include "oci/config_file.h"

#include <filesystem>
#include <utility>

#include "common/env.h"
#include "common/strings.h"

namespace mlflow_bridge::internal {
namespace {

size_t Indent(std::string_view line) {
  size_t n = 0;
  while (n < line.size() && (line[n] == ' ' || line[n] == '\t')) ++n;
  return n;
}

bool IsFile(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

std::string ProfileList(const OciConfigFile& file) {
  std::string out;
  for (const auto& [name, _] : file.sections) out += (out.empty() ? "" : ", ") + name;
  return out.empty() ? "none" : out;
}

}  // namespace

StatusOr<OciConfigFile> ParseOciConfigFile(std::string_view text, std::string path) {
  OciConfigFile out;
  out.path = std::move(path);
  OciConfigSection* section = nullptr;
  size_t key_indent = 0;
  int line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view raw = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
    std::string_view line = Trim(raw);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    auto error = [&](const std::string& what) {
      return InvalidParameterError("the OCI config file " + out.path + " is invalid at line " + std::to_string(line_no) +
                                   ": " + what + ". See " + kOciConfigDocs);
    };
    if (section != nullptr && Indent(raw) > key_indent && !section->empty())
      return error("an indented line continues the value above it; multi-line values are not supported");
    if (line.front() == '[') {
      if (line.back() != ']' || line.size() < 3) return error("a section header must look like [PROFILE_NAME]");
      std::string name(line.substr(1, line.size() - 2));
      if (out.sections.count(name)) return error("the section [" + name + "] appears a second time");
      section = &out.sections[name];
      key_indent = 0;
      continue;
    }
    const size_t delim = line.find_first_of("=:");
    if (delim == std::string_view::npos) return error("expected \"key = value\" or a [section] header");
    if (section == nullptr) return error("a key appears before the first [section] header (e.g. [DEFAULT])");
    const std::string key = ToLower(Trim(line.substr(0, delim)));
    if (key.empty()) return error("a line has a value but no key");
    if (section->count(key)) return error("the key '" + key + "' appears a second time in its section");
    (*section)[key] = OciConfigValue{std::string(Trim(line.substr(delim + 1))), line_no};
    key_indent = Indent(raw);
  }
  return out;
}

std::optional<std::string> OciProfile::Get(const std::string& key) const {
  auto it = keys.find(key);
  if (it == keys.end()) return std::nullopt;
  return it->second.value;
}

std::string OciProfile::Describe() const { return "profile '" + name + "' in " + path; }

std::string OciProfile::Where(const std::string& key) const {
  auto it = keys.find(key);
  if (it == keys.end()) return key + " (" + Describe() + ")";
  return key + " (" + path + " line " + std::to_string(it->second.line) + ", profile '" + name + "')";
}

StatusOr<OciProfile> ResolveOciProfile(const OciConfigFile& file, const std::string& name) {
  auto defaults = file.sections.find(kOciDefaultProfile);
  auto own = file.sections.find(name);
  if (own == file.sections.end())
    return NotFoundError("profile '" + name + "' not found in the OCI config file " + file.path +
                         " (profiles: " + ProfileList(file) + ")");
  OciProfile p;
  p.path = file.path;
  p.name = name;
  p.keys = own->second;
  if (defaults != file.sections.end())
    for (const auto& [k, v] : defaults->second) p.keys.try_emplace(k, v);
  return p;
}

std::string OciConfigFileOptions::Describe() const {
  return (path.empty() ? std::string("~/.oci/config") : path) + ", profile " +
         (profile.empty() ? std::string(kOciDefaultProfile) : profile);
}

std::string OciConfigFilePath(const std::string& explicit_path) {
  if (!explicit_path.empty()) return ExpandUser(explicit_path);
  const std::string standard = ExpandUser("~/.oci/config");
  if (IsFile(standard)) return standard;
  if (auto env = GetEnv("OCI_CONFIG_FILE")) return ExpandUser(*env);
  const std::string legacy = ExpandUser("~/.oraclebmc/config");
  if (IsFile(legacy)) return legacy;
  return standard;
}

StatusOr<OciProfile> LoadOciProfile(const OciConfigFileOptions& options) {
  const std::string path = OciConfigFilePath(options.path);
  std::optional<std::string> text = ReadFileText(path);
  if (!text) {
    const std::string what = "the OCI config file " + path + " does not exist or cannot be read";
    if (!options.path.empty()) return InvalidParameterError(what + "; check the config file path given");
    return NotFoundError(what + " (create it with `oci setup config`, or set OCI_CONFIG_FILE; see " + kOciConfigDocs + ")");
  }
  StatusOr<OciConfigFile> file = ParseOciConfigFile(*text, path);
  if (!file.ok()) return file.status();
  const std::string name = options.profile.empty() ? kOciDefaultProfile : options.profile;
  StatusOr<OciProfile> profile = ResolveOciProfile(*file, name);
  if (!profile.ok() && !options.profile.empty())
    return InvalidParameterError(profile.status().message() + "; check the profile name given");
  return profile;
}

std::optional<std::string> OciProfileRegion(const OciProfile& profile) {
  if (auto r = profile.Get("region"); r && !r->empty()) return r;
  return GetEnv("OCI_REGION");
}

}  // namespace mlflow_bridge::internal
