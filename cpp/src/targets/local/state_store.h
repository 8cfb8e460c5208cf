// Deployment state of the `local` target, one folder per deployment:
//   <root>/deployments/<name>/state.json        what `get` and `list` read
//   <root>/deployments/<name>/rev-<n>/model     the model a revision serves
//   <root>/deployments/<name>/rev-<n>/server.log
//   <root>/locks/deployments/<name>.lock        serialises changes to <name>
//   <root>/locks/ports/<n>.lock                 serialises claims on port <n>
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

// An exclusive flock, released on destruction.
class FileLock {
 public:
  explicit FileLock(int fd) : fd_(fd) {}
  FileLock(FileLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  FileLock& operator=(FileLock&&) = delete;
  ~FileLock();

 private:
  int fd_;
};

class StateStore {
 public:
  explicit StateStore(std::string root);

  const std::string& root() const { return root_; }
  std::string DeploymentDir(const std::string& name) const;
  std::string RevisionDir(const std::string& name, int revision) const;

  StatusOr<std::optional<nlohmann::json>> Load(const std::string& name) const;
  Status Save(const std::string& name, const nlohmann::json& state) const;  // atomic
  Status Remove(const std::string& name) const;
  StatusOr<std::vector<std::string>> Names() const;
  StatusOr<FileLock> Lock(const std::string& name) const;
  // Serialises claims on a fixed port between processes: a server binds its
  // port before it listens, and a bound port looks free until then.
  StatusOr<FileLock> LockPort(int port) const;

 private:
  StatusOr<FileLock> LockFile(const std::string& kind, const std::string& id) const;
  std::string root_;
};

// Deployment names: 1-63 characters, letters, digits, '-', '_' and '.', starting
// with a letter or digit (they become folder names and log labels).
Status ValidateDeploymentName(const std::string& name);

// The last `lines` lines of a text file ("" when it does not exist).
std::string TailFile(const std::string& path, int lines);

}  // namespace mlflow_bridge::internal
