// The process environment and the user's files: variables, the home folder, reading a file whole.
#pragma once

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

namespace mlflow_bridge::internal {

// The variable's value; nullopt when it is unset or empty.
inline std::optional<std::string> GetEnv(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

// $HOME, else the user's home from the password database, else ".".
inline std::string HomeDirectory() {
  if (auto home = GetEnv("HOME")) return *home;
  if (const passwd* pw = getpwuid(getuid()); pw != nullptr && pw->pw_dir != nullptr) return pw->pw_dir;
  return ".";
}

// "~" and "~/..." with the home folder.
inline std::string ExpandUser(std::string path) {
  if (path == "~" || path.rfind("~/", 0) == 0) path = HomeDirectory() + path.substr(1);
  return path;
}

// The mlflow-bridge home: `configured`, else $MLFLOW_BRIDGE_HOME, else ~/.mlflow-bridge ($HOME's).
inline std::string ResolveHome(const std::string& configured) {
  if (!configured.empty()) return configured;
  if (auto env = GetEnv("MLFLOW_BRIDGE_HOME")) return *env;
  return GetEnv("HOME").value_or(".") + "/.mlflow-bridge";
}

// The file's contents, or nullopt when it does not exist or cannot be read.
inline std::optional<std::string> ReadFileText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace mlflow_bridge::internal
