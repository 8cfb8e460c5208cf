#include "targets/local/state_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

namespace fs = std::filesystem;

namespace mlflow_bridge::internal {

FileLock::~FileLock() {
  if (fd_ >= 0) {
    flock(fd_, LOCK_UN);
    close(fd_);
  }
}

StateStore::StateStore(std::string root) : root_(std::move(root)) {}

namespace {
// State may hold environment values the user passed: keep it private to the user.
Status MakePrivateDirs(const std::string& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) return InternalError("cannot create " + path + ": " + ec.message());
  fs::permissions(path, fs::perms::owner_all, ec);
  return OkStatus();
}
}  // namespace

std::string StateStore::DeploymentDir(const std::string& name) const { return root_ + "/deployments/" + name; }

std::string StateStore::RevisionDir(const std::string& name, int revision) const {
  return DeploymentDir(name) + "/rev-" + std::to_string(revision);
}

StatusOr<std::optional<nlohmann::json>> StateStore::Load(const std::string& name) const {
  std::string path = DeploymentDir(name) + "/state.json";
  std::ifstream in(path);
  if (!in) return std::optional<nlohmann::json>();
  auto state = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (state.is_discarded() || !state.is_object()) {
    return InternalError("The state file " + path + " is corrupt. Delete the deployment folder " + DeploymentDir(name) +
                         " and create the deployment again.");
  }
  return std::optional<nlohmann::json>(std::move(state));
}

Status StateStore::Save(const std::string& name, const nlohmann::json& state) const {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(MakePrivateDirs(root_));
  MLFLOW_BRIDGE_RETURN_IF_ERROR(MakePrivateDirs(DeploymentDir(name)));
  std::error_code ec;
  std::string path = DeploymentDir(name) + "/state.json";
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << state.dump(2) << "\n";
    if (!out) return InternalError("cannot write " + tmp);
  }
  fs::rename(tmp, path, ec);
  if (ec) return InternalError("cannot write " + path + ": " + ec.message());
  return OkStatus();
}

Status StateStore::Remove(const std::string& name) const {
  std::error_code ec;
  fs::remove_all(DeploymentDir(name), ec);
  if (ec) return InternalError("cannot remove " + DeploymentDir(name) + ": " + ec.message());
  return OkStatus();
}

StatusOr<std::vector<std::string>> StateStore::Names() const {
  std::vector<std::string> names;
  std::error_code ec;
  fs::path dir = root_ + "/deployments";
  if (!fs::exists(dir, ec)) return names;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_directory() && fs::exists(entry.path() / "state.json")) names.push_back(entry.path().filename());
  }
  if (ec) return InternalError("cannot list " + dir.string() + ": " + ec.message());
  std::sort(names.begin(), names.end());
  return names;
}

StatusOr<FileLock> StateStore::Lock(const std::string& name) const { return LockFile("deployments", name); }

StatusOr<FileLock> StateStore::LockPort(int port) const { return LockFile("ports", std::to_string(port)); }

StatusOr<FileLock> StateStore::LockFile(const std::string& kind, const std::string& id) const {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(MakePrivateDirs(root_));
  MLFLOW_BRIDGE_RETURN_IF_ERROR(MakePrivateDirs(root_ + "/locks/" + kind));
  std::string path = root_ + "/locks/" + kind + "/" + id + ".lock";
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return InternalError("cannot open " + path + ": " + std::strerror(errno));
  while (flock(fd, LOCK_EX) != 0) {
    if (errno != EINTR) {
      close(fd);
      return InternalError("cannot lock " + path + ": " + std::strerror(errno));
    }
  }
  return FileLock(fd);
}

Status ValidateDeploymentName(const std::string& name) {
  static const std::regex kName("[A-Za-z0-9][A-Za-z0-9._-]{0,62}");
  if (std::regex_match(name, kName)) return OkStatus();
  return InvalidParameterError("Invalid deployment name '" + name +
                               "': use 1 to 63 letters, digits, '-', '_' or '.', starting with a letter or digit.");
}

std::string TailFile(const std::string& path, int lines) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  std::streamoff start = std::max<std::streamoff>(0, size - 64 * 1024);  // enough for the tail
  in.seekg(start);
  std::deque<std::string> tail;
  std::string line;
  if (start > 0) std::getline(in, line);  // skip a partial line
  while (std::getline(in, line)) {
    tail.push_back(line);
    if (static_cast<int>(tail.size()) > lines) tail.pop_front();
  }
  std::ostringstream out;
  for (const auto& l : tail) out << l << "\n";
  return out.str();
}

}  // namespace mlflow_bridge::internal
