// The OCI config file (~/.oci/config), read as the OCI Python SDK reads it (oci.config.from_file):
//
//  - Where: an explicit path; else ~/.oci/config when it exists; else $OCI_CONFIG_FILE; else
//    ~/.oraclebmc/config when it exists; else ~/.oci/config (reported missing). "~" is expanded.
//  - Profile: the one asked for, else "DEFAULT" (the SDK reads no environment variable for it; the CLI's
//    OCI_CLI_PROFILE is not the SDK's). Every key of [DEFAULT] is inherited by every other profile, whose
//    own keys win.
//  - Syntax (a strict subset of Python's configparser, which the SDK uses): "[section]" lines, "key = value"
//    or "key: value" lines (keys are case-insensitive, surrounding blanks trimmed), full-line comments
//    starting with '#' or ';', blank lines. An inline '#' is part of the value, as in configparser. Refused
//    with the line number: a key before any section, a line that is neither, a duplicate section or key in
//    one section (configparser refuses those too) and indented continuation lines (multi-line values).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

inline constexpr char kOciDefaultProfile[] = "DEFAULT";
inline constexpr char kOciConfigDocs[] = "https://docs.oracle.com/en-us/iaas/Content/API/Concepts/sdkconfig.htm";

struct OciConfigValue {
  std::string value;
  int line = 0;  // 1-based line in the file
};
using OciConfigSection = std::map<std::string, OciConfigValue>;  // lower-cased key -> value

struct OciConfigFile {
  std::string path;                                  // for messages
  std::map<std::string, OciConfigSection> sections;  // section name (case kept) -> keys
};

// Parses the text of a config file; errors name `path` and the line.
StatusOr<OciConfigFile> ParseOciConfigFile(std::string_view text, std::string path);

// One profile with [DEFAULT]'s keys merged in.
struct OciProfile {
  std::string path;  // the config file
  std::string name;
  OciConfigSection keys;

  std::optional<std::string> Get(const std::string& key) const;
  // "key_file (line 4 of profile 'DEFAULT' in /home/u/.oci/config)", for messages.
  std::string Where(const std::string& key) const;
  // "profile 'DEFAULT' in /home/u/.oci/config"
  std::string Describe() const;
};

// The profile `name` of `file`. NOT_FOUND when the file has no such section (for "DEFAULT": when it has
// no [DEFAULT] section and no other); the message lists the profiles it has.
StatusOr<OciProfile> ResolveOciProfile(const OciConfigFile& file, const std::string& name);

// Which config file and profile to read; empty strings take the defaults above.
struct OciConfigFileOptions {
  std::string path;
  std::string profile;

  // "~/.oci/config, profile DEFAULT", for messages.
  std::string Describe() const;
};

// The config file's path by the rules above.
std::string OciConfigFilePath(const std::string& explicit_path);

// Reads the file and resolves the profile. NOT_FOUND when the file does not exist and no path was given,
// or when the default profile is absent; INVALID_PARAMETER_VALUE when an explicit path does not exist, an
// explicit profile is absent or the file does not parse.
StatusOr<OciProfile> LoadOciProfile(const OciConfigFileOptions& options);

// The profile's region, else $OCI_REGION (as the SDK's validate_config falls back); nullopt when neither.
std::optional<std::string> OciProfileRegion(const OciProfile& profile);

}  // namespace mlflow_bridge::internal
