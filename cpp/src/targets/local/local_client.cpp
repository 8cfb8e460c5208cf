#include "mlflow_bridge/local_client.h"

#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <functional>
#include <ctime>
#include <filesystem>
#include <map>
#include <optional>

#include "common/env.h"
#include "common/process.h"
#include "common/rollback.h"
#include "mlflow_bridge/logging.h"
#include "mlflow_bridge/retry.h"
#include "targets/local/config.h"
#include "targets/local/state_store.h"
#include "targets/scoring.h"

extern char** environ;

namespace fs = std::filesystem;
using nlohmann::json;

namespace mlflow_bridge {
namespace {

using internal::LocalConfig;
using internal::ProcessId;
using internal::StateStore;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kLogTailLines = 20;
constexpr char kModelPathEnv[] = "__pyfunc_model_path__";  // mlflow.pyfunc.scoring_server._SERVER_MODEL_PATH
constexpr char kRequestTimeoutEnv[] = "MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT";

// Closes a file descriptor when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

std::string NowIso(Clock& clock) {
  std::time_t t = std::chrono::system_clock::to_time_t(clock.WallNow());
  char buf[32];
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string Url(int port) { return "http://127.0.0.1:" + std::to_string(port); }

ProcessId Pid(const json& state) { return ProcessId{state.value("pid", 0), state.value("pid_start_time", 0ULL)}; }

std::string LogTail(const std::string& log_path) { return Redact(internal::TailFile(log_path, kLogTailLines)); }

std::string WithLog(std::string message, const std::string& log_path) {
  std::string tail = LogTail(log_path);
  if (tail.empty()) return message + " Its log (" + log_path + ") is empty.";
  return message + " Last lines of its log (" + log_path + "):\n" + tail;
}

Status CheckFlavor(const std::string& flavor) {
  if (flavor.empty() || flavor == "python_function") return OkStatus();
  return InvalidParameterError("The local target serves models through the python_function flavor; flavor '" + flavor +
                               "' is not supported. Omit --flavor or pass python_function.");
}

constexpr char kServeBinary[] = "mlflow-bridge-serve";
constexpr char kServeWorker[] = "serve_worker.py";
// How long after its drain a stopping native server may take: answers still being written get 5 s, then its
// workers 10 s to exit (serve/model_server.h); a little more so that StopProcess never cuts that short.
constexpr int kNativeStopSeconds = 20;
// MLflow's server (uvicorn): after --timeout-graceful-shutdown, its workers' own shutdown.
constexpr int kMlflowStopSeconds = 5;

// The model server a deployment runs (config `server`, decision 0009).
struct Server {
  std::string kind;    // "native" (mlflow-bridge-serve) or "mlflow" (MLflow's scoring server on uvicorn)
  std::string binary;  // native: the server
  std::string worker;  // native: its worker program
};

bool IsExecutable(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec) && access(path.c_str(), X_OK) == 0;
}

std::string KeyList(const std::vector<std::string>& keys) {
  std::string out;
  for (const auto& k : keys) out += (out.empty() ? "" : ", ") + k;
  return out;
}

// The server config.server asks for: the native one when `serve_dir` has it; otherwise MLflow's, with a
// warning, unless server=native was given explicitly (an error then).
StatusOr<Server> ChooseServer(const LocalConfig& config, const std::string& serve_dir) {
  const std::string ignored =
      config.native_keys_given.empty() ? "" : " MLflow's scoring server ignores " + KeyList(config.native_keys_given) + ".";
  if (config.server == "mlflow") {
    if (!ignored.empty()) LogWarning("server=mlflow:" + ignored);
    return Server{"mlflow", "", ""};
  }
  std::string missing;
  std::string binary = serve_dir.empty() ? "" : (fs::path(serve_dir) / kServeBinary).string();
  std::string worker = serve_dir.empty() ? "" : (fs::path(serve_dir) / kServeWorker).string();
  std::error_code ec;
  if (serve_dir.empty()) {
    missing = "this installation of mlflow-bridge has no native model server";
  } else if (!IsExecutable(binary)) {
    missing = binary + " is missing or not executable";
  } else if (!fs::is_regular_file(worker, ec)) {
    missing = worker + " is missing";
  }
  if (missing.empty()) return Server{"native", binary, worker};
  if (config.server_given) {
    return InvalidParameterError("server=native was asked for, but " + missing +
                                 ". Reinstall mlflow-bridge from its wheel (or build it with libevent-dev installed), "
                                 "or serve with MLflow's scoring server: -C server=mlflow.");
  }
  LogWarning("The native model server is not available (" + missing +
             "); serving with MLflow's scoring server instead. -C server=mlflow chooses it and silences this "
             "warning." +
             ignored);
  return Server{"mlflow", "", ""};
}

// How long to wait for a server that got SIGTERM (it drains first) before it is killed.
milliseconds StopGrace(const std::string& server_kind, const LocalConfig& config) {
  return seconds(config.graceful_shutdown_seconds + (server_kind == "native" ? kNativeStopSeconds : kMlflowStopSeconds));
}

// The model server, serving on the socket we pass as fd 3: the native one, or MLflow's own (uvicorn).
StatusOr<internal::SpawnSpec> ServerSpec(const Server& server, const std::string& python, const std::string& model_dir,
                                         const LocalConfig& config, const std::string& log_path, int listen_fd) {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : config.env) env[k] = v;
  env[kModelPathEnv] = model_dir;  // read by MLflow's server; names the model in `ps e` for the native one
  env[kRequestTimeoutEnv] = std::to_string(config.request_timeout_seconds);
  env["PYTHONUNBUFFERED"] = "1";

  internal::SpawnSpec spec;
  if (server.kind == "native") {
    spec.argv = {server.binary,
                 "--fd",
                 "3",
                 "--model",
                 model_dir,
                 "--workers",
                 std::to_string(config.workers),
                 "--python",
                 python,
                 "--worker-script",
                 server.worker,
                 "--request-timeout-seconds",
                 std::to_string(config.request_timeout_seconds),
                 "--drain-seconds",
                 std::to_string(config.graceful_shutdown_seconds)};
    for (const auto& [flag, value] : internal::NativeServerFlags(config.native)) {
      spec.argv.insert(spec.argv.end(), {"--" + flag, value});
    }
  } else {
    spec.argv = {python,
                 "-m",
                 "uvicorn",
                 "--fd",
                 "3",
                 "--workers",
                 std::to_string(config.workers),
                 "--timeout-graceful-shutdown",
                 std::to_string(config.graceful_shutdown_seconds),
                 "--no-access-log",
                 "mlflow.pyfunc.scoring_server.app:app"};
  }
  for (const auto& [k, v] : env) spec.env.push_back(k + "=" + v);
  spec.log_path = log_path;
  spec.listen_fd = listen_fd;
  return spec;
}

struct PortClaim {
  PortClaim(std::optional<internal::FileLock> l, int socket) : lock(std::move(l)), fd(socket) {}
  std::optional<internal::FileLock> lock;
  Fd fd;
};

// The config as shown by get/list: values of secret-looking env variables masked.
json PublicConfig(const LocalConfig& config) {
  json shown = internal::ToJson(config);
  for (auto& [k, v] : shown["env"].items()) v = IsSensitiveHeader(k) ? "***" : Redact(v.get<std::string>());
  return shown;
}

Status RemoveFolder(const std::string& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) return InternalError("cannot remove " + dir + ": " + ec.message());
  return OkStatus();
}

// The config of a deployment, as its state file holds it.
LocalConfig ConfigOf(const json& state) { return internal::StoredLocalConfig(state.value("config", json::object())); }

// The server a deployment runs; a state file older than the native server had MLflow's.
std::string ServerKindOf(const json& state) { return state.value("server", std::string("mlflow")); }

milliseconds StopGraceOf(const json& state) { return StopGrace(ServerKindOf(state), ConfigOf(state)); }

}  // namespace

struct LocalClient::Impl {
  StateStore store;
  std::shared_ptr<HttpTransport> transport;
  std::shared_ptr<Clock> clock;
  std::function<bool()> interrupted;
  std::string serve_dir;

  // A bound socket on `port` for a new server. With `claim`, the port must be
  // free and stays locked against other claims until the claim is dropped
  // (by then the new server listens, or has given the port up).
  StatusOr<std::unique_ptr<PortClaim>> OpenPort(int port, bool claim) {
    std::optional<internal::FileLock> lock;
    if (claim) {
      auto locked = store.LockPort(port);
      if (!locked.ok()) return locked.status();
      lock.emplace(std::move(*locked));
      MLFLOW_BRIDGE_RETURN_IF_ERROR(internal::CheckPortFree(port));
    }
    auto bound = internal::BindSharedPort(port);
    if (!bound.ok()) return bound.status();
    return std::make_unique<PortClaim>(std::move(lock), *bound);
  }

  // A fresh connection: a pooled one may lead to the server this one replaces.
  bool Healthy(int port) {
    HttpRequest ping;
    ping.url = Url(port) + "/ping";
    ping.timeout = milliseconds(2000);
    ping.fresh_connection = true;
    auto r = transport->Send(ping);
    return r.ok() && r->status_code == 200;
  }

  // Waits until the listening sockets that share fd's port (the server `fd`'s replaces) have accepted the
  // connections queued on them before SteerToNewest: when the old server closes its socket, those would be
  // reset. Nothing new joins their queues, so this ends as soon as the old server runs; a few seconds bound a
  // stuck one.
  void AwaitAcceptedByOthers(int fd) {
    auto deadline = clock->Now() + seconds(5);
    while (true) {
      auto queued = internal::QueuedOnOtherListeners(fd);
      if (!queued.ok()) {
        LogDebug("Cannot see the previous server's accept queue: " + queued.status().message());
        return;
      }
      if (*queued == 0) return;
      if (clock->Now() >= deadline) {
        LogWarning("The previous server has not accepted " + std::to_string(*queued) +
                   " connection(s) made before the swap; they are reset as it stops.");
        return;
      }
      clock->SleepFor(milliseconds(10));
    }
  }

  // Waits until the new server listens on `fd` and answers /ping.
  Status WaitReady(const std::string& name, const ProcessId& pid, int fd, const std::string& log_path, int timeout_seconds) {
    auto start = clock->Now();
    auto deadline = start + seconds(timeout_seconds);
    auto next_progress = start + seconds(5);
    bool steered = false;
    LogInfo("Starting the model server for deployment '" + name + "' (pid " + std::to_string(pid.pid) + ")...");
    while (true) {
      if (!internal::IsAlive(pid)) {
        return InternalError(WithLog("The model server for deployment '" + name + "' exited while starting.", log_path));
      }
      if (internal::IsListening(fd)) {
        if (!steered) {
          // New connections on the port now go to this server; it loaded its model before listening.
          if (Status s = internal::SteerToNewest(fd); !s.ok()) LogWarning("traffic steering unavailable: " + s.message());
          steered = true;
        }
        if (Healthy(internal::LocalPort(fd))) {
          LogInfo("Deployment '" + name + "' is ready at " + Url(internal::LocalPort(fd)));
          return OkStatus();
        }
      }
      if (interrupted && interrupted()) {
        return InternalError("Interrupted while waiting for deployment '" + name + "' to start.");
      }
      auto now = clock->Now();
      if (now >= deadline) {
        return DeadlineExceededError(WithLog(
            "The model server for deployment '" + name + "' did not become ready within " + std::to_string(timeout_seconds) +
                " s. Raise the limit with -C timeout_seconds=N if the model is slow to load.",
            log_path));
      }
      if (now >= next_progress) {
        auto elapsed = std::chrono::duration_cast<seconds>(now - start).count();
        LogInfo("Waiting for deployment '" + name + "' to become ready (" + std::to_string(elapsed) + " s of " +
                std::to_string(timeout_seconds) + " s)...");
        next_progress = now + seconds(5);
      }
      clock->SleepFor(milliseconds(100));
    }
  }

  json Describe(const json& state, bool with_log) {
    json info = {{"name", state["name"]},
                 {"model_uri", state["model_uri"]},
                 {"run_id", state["run_id"]},
                 {"flavor", "python_function"},
                 {"url", Url(state["port"])},
                 {"port", state["port"]},
                 {"pid", state["pid"]},
                 {"server", ServerKindOf(state)},
                 {"revision", state["revision"]},
                 {"created_at", state["created_at"]},
                 {"updated_at", state["updated_at"]},
                 {"config", PublicConfig(ConfigOf(state))}};
    if (!internal::IsAlive(Pid(state))) {
      info["status"] = "exited";
    } else if (Healthy(state["port"])) {
      info["status"] = "ready";
    } else {  // alive but not answering: still loading, or stuck after it was ready
      info["status"] = state.contains("ready_at") ? "unresponsive" : "starting";
    }
    if (with_log) {
      info["log_path"] = state["log_path"];
      info["log_tail"] = LogTail(state["log_path"]);
    }
    return info;
  }

  StatusOr<json> LoadExisting(const std::string& name) {
    auto loaded = store.Load(name);
    if (!loaded.ok()) return loaded.status();
    if (!loaded->has_value()) {
      return NotFoundError("No local deployment named '" + name +
                           "'. See the existing ones with `mlflow deployments list -t local`.");
    }
    return std::move(**loaded);
  }

  // Moves the staged model into the revision folder.
  StatusOr<std::string> AdoptModel(const std::string& staged, const std::string& rev_dir) {
    std::error_code ec;
    if (!fs::is_directory(staged, ec)) return InvalidParameterError("The model folder " + staged + " does not exist.");
    fs::create_directories(rev_dir, ec);
    if (ec) return InternalError("cannot create " + rev_dir + ": " + ec.message());
    std::string model_dir = rev_dir + "/model";
    fs::rename(staged, model_dir, ec);
    if (ec) {  // another filesystem: copy instead
      ec.clear();
      fs::copy(staged, model_dir, fs::copy_options::recursive, ec);
      if (ec) return InternalError("cannot copy the model into " + model_dir + ": " + ec.message());
    }
    return model_dir;
  }

  // Starts `server` for `state` on `fd` and waits for it; on failure stops it
  // again. `spawned` runs once the process exists, before the wait.
  StatusOr<ProcessId> StartServer(const Server& server, const json& state, const LocalConfig& config, Fd& fd,
                                  const std::function<Status(const ProcessId&)>& spawned = nullptr) {
    std::string name = state["name"];
    auto spec = ServerSpec(server, state["python"], state["model_dir"], config, state["log_path"], fd.get());
    if (!spec.ok()) return spec.status();
    auto pid = internal::SpawnDetached(*spec);
    if (!pid.ok()) return pid.status();
    Status ready = spawned ? spawned(*pid) : OkStatus();
    if (ready.ok()) ready = WaitReady(name, *pid, fd.get(), state["log_path"], config.timeout_seconds);
    if (!ready.ok()) {
      // Our copy of the socket first: while it listens, new connections would be steered to it and wait.
      fd.Close();
      LogIgnored(internal::StopProcess(*pid, seconds(5), *clock), "Stopping the server that did not start");
      return ready;
    }
    return pid;
  }
};

const ConfigSchema& LocalClient::Schema() { return internal::LocalConfigSchema(); }

std::string LocalClient::Help() {
  return "Target 'local': serves MLflow models on this machine, bound to 127.0.0.1, with mlflow-bridge-serve, the\n"
         "native model server (HTTP in C++, the model in Python workers answering with MLflow's own request\n"
         "handling), or with MLflow's scoring server (-C server=mlflow).\n"
         "\n"
         "Target URI: local\n"
         "\n"
         "A deployment is a server process that outlives the command that created it. State lives under\n"
         "$MLFLOW_BRIDGE_HOME/local (default ~/.mlflow-bridge/local), so list and get work from any process.\n"
         "Model URIs: anything MLflow resolves (runs:/<run>/<path>, models:/<name>/<version>,\n"
         "models:/<name>@<alias>, a local path). Only the python_function flavor is served.\n"
         "The native server answers every platform's routes on the deployment's port: MLflow and SageMaker\n"
         "(POST /invocations, GET /ping, /health, /version), Azure ML (POST /score), OCI (POST /predict) and the\n"
         "Open Inference Protocol v2 (/v2/health/ready, /v2/models/<name>/infer, ...), and /metrics.\n"
         "update_deployment swaps models without downtime: the new server starts on the same port, takes\n"
         "over once it answers /ping, then the old one drains (finishes its requests, closes kept-alive\n"
         "connections with 'Connection: close') and stops; if the new one fails, the old one keeps serving.\n"
         "run_local serves the same way in the foreground.\n"
         "\n"
         "Config keys (-C key=value on the CLI, config={...} in the SDK):\n" +
         DescribeConfig(Schema()) +
         "\n"
         "Examples:\n"
         "  mlflow deployments create -t local --name churn -m models:/churn/1 -C port=5001\n"
         "  mlflow deployments predict -t local --name churn --input-path input.json\n"
         "  mlflow deployments update -t local --name churn -m models:/churn/2\n"
         "  mlflow deployments delete -t local --name churn\n";
}

LocalClient::LocalClient(LocalClientOptions options) {
  auto transport = options.transport ? options.transport : MakeCurlTransport();
  auto clock = options.clock ? options.clock : SystemClock();
  impl_ = std::make_shared<Impl>(Impl{StateStore(internal::ResolveHome(options.home) + "/local"), transport, clock,
                                      options.interrupted, options.serve_dir});
}

Status LocalClient::CheckNew(const std::string& name) {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(internal::ValidateDeploymentName(name));
  auto existing = impl_->store.Load(name);
  if (!existing.ok()) return existing.status();
  if (!existing->has_value()) return OkStatus();
  const json& s = **existing;
  return AlreadyExistsError("A local deployment named '" + name + "' already exists (serving " +
                            s.value("model_uri", std::string("?")) + " at " + Url(s.value("port", 0)) +
                            "). Update it with `mlflow deployments update` or delete it first.");
}

StatusOr<json> LocalClient::Create(const DeployRequest& request) {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(internal::ValidateDeploymentName(request.name));
  MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckFlavor(request.flavor));
  auto config = internal::ParseLocalConfig(request.config);
  if (!config.ok()) return config.status();
  auto server = ChooseServer(*config, impl_->serve_dir);
  if (!server.ok()) return server.status();
  auto lock = impl_->store.Lock(request.name);
  if (!lock.ok()) return lock.status();
  MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckNew(request.name));
  int port = config->port;
  auto opened = impl_->OpenPort(port, /*claim=*/port != 0);
  if (!opened.ok()) return opened.status();
  Fd& fd = (*opened)->fd;

  internal::RollbackRecord created;
  created.Add("remove the state of local deployment '" + request.name + "'",
              [&] { return impl_->store.Remove(request.name); });
  const int revision = 1;
  std::string rev_dir = impl_->store.RevisionDir(request.name, revision);
  auto model_dir = impl_->AdoptModel(request.model_dir, rev_dir);
  if (!model_dir.ok()) {
    const std::string left = created.Undo();
    return left.empty() ? model_dir.status() : model_dir.status().WithContext("could not undo: " + left);
  }
  std::string now = NowIso(*impl_->clock);
  json state = {{"name", request.name},
                {"model_uri", request.model_uri},
                {"run_id", request.run_id},
                {"python", request.python},
                {"config_given", request.config},
                {"config", internal::ToJson(*config)},
                {"server", server->kind},
                {"port", internal::LocalPort(fd.get())},
                {"revision", revision},
                {"model_dir", *model_dir},
                {"log_path", rev_dir + "/server.log"},
                {"pid", 0},
                {"pid_start_time", 0},
                {"created_at", now},
                {"updated_at", now}};
  auto pid = impl_->StartServer(*server, state, *config, fd, [&](const ProcessId& id) {
    state["pid"] = id.pid;
    state["pid_start_time"] = id.start_time;
    return impl_->store.Save(request.name, state);  // visible to `get` as "starting"
  });
  if (!pid.ok()) {
    return pid.status().WithContext("Creating local deployment '" + request.name + "' failed; " +
                                    created.UndoAndSay("nothing was left behind"));
  }
  created.Add("stop the server of '" + request.name + "'",
              [&] { return internal::StopProcess(*pid, StopGrace(server->kind, *config), *impl_->clock); });
  state["ready_at"] = NowIso(*impl_->clock);
  if (Status saved = impl_->store.Save(request.name, state); !saved.ok()) {
    return saved.WithContext("Creating local deployment '" + request.name + "' failed; " +
                             created.UndoAndSay("nothing was left behind"));
  }
  return impl_->Describe(state, false);
}

StatusOr<json> LocalClient::Update(const DeployRequest& request) {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(internal::ValidateDeploymentName(request.name));
  MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckFlavor(request.flavor));
  auto lock = impl_->store.Lock(request.name);
  if (!lock.ok()) return lock.status();
  auto loaded = impl_->LoadExisting(request.name);
  if (!loaded.ok()) return loaded.status();
  const json old = std::move(*loaded);

  json given = old.value("config_given", json::object());
  for (const auto& [k, v] : request.config.items()) given[k] = v;
  auto config = internal::ParseLocalConfig(given);
  if (!config.ok()) return config.status();
  auto server = ChooseServer(*config, impl_->serve_dir);
  if (!server.ok()) return server.status();
  int port = config->port;
  if (port == 0) port = old["port"];
  // The same port with the old server alive: join its socket group. Otherwise
  // claim the port: it may have been taken since the old server exited.
  bool join = port == old["port"].get<int>() && internal::IsAlive(Pid(old));
  auto opened = impl_->OpenPort(port, /*claim=*/!join);
  if (!opened.ok()) return opened.status();
  Fd& fd = (*opened)->fd;

  int revision = old["revision"].get<int>() + 1;
  std::string rev_dir = impl_->store.RevisionDir(request.name, revision);
  LogIgnored(RemoveFolder(rev_dir), "Removing what a failed update left");  // one that could not clean up
  // What this update makes, undone newest first if it fails; the old server and state are never touched.
  internal::RollbackRecord made;
  auto fail = [&](const Status& why) {
    const std::string left = made.Undo();
    return why.WithContext("Updating local deployment '" + request.name + "' failed; the previous model keeps serving" +
                           (left.empty() ? "" : "; could not undo: " + left));
  };
  made.Add("remove " + rev_dir, [rev_dir] { return RemoveFolder(rev_dir); });
  std::string model_dir = old["model_dir"];
  if (!request.model_dir.empty()) {
    auto adopted = impl_->AdoptModel(request.model_dir, rev_dir);
    if (!adopted.ok()) return fail(adopted.status());
    model_dir = *adopted;
  } else {
    std::error_code ec;
    fs::create_directories(rev_dir, ec);
    if (ec) return fail(InternalError("cannot create " + rev_dir + ": " + ec.message()));
  }
  json state = old;
  state["config_given"] = given;
  state["config"] = internal::ToJson(*config);
  state["server"] = server->kind;
  state["port"] = port;
  state["revision"] = revision;
  state["model_dir"] = model_dir;
  state["log_path"] = rev_dir + "/server.log";
  state["updated_at"] = NowIso(*impl_->clock);
  if (!request.model_dir.empty()) {
    state["model_uri"] = request.model_uri;
    state["run_id"] = request.run_id;
  }
  if (!request.python.empty()) state["python"] = request.python;

  auto pid = impl_->StartServer(*server, state, *config, fd);  // stops the new server itself if it does not start
  if (!pid.ok()) return fail(pid.status());
  made.Add("stop the new server of '" + request.name + "' (pid " + std::to_string(pid->pid) + ")",
           [&] { return internal::StopProcess(*pid, StopGrace(server->kind, *config), *impl_->clock); });
  state["pid"] = pid->pid;
  state["pid_start_time"] = pid->start_time;
  state["ready_at"] = NowIso(*impl_->clock);
  if (Status saved = impl_->store.Save(request.name, state); !saved.ok()) return fail(saved);
  // The new server has taken over the port: new connections go to it. The old one drains (SIGTERM): it
  // answers what it has, with `Connection: close`, and stops; its grace covers that drain. First it
  // accepts what its listening socket took before the steering: closing that socket would reset them.
  if (join) impl_->AwaitAcceptedByOthers(fd.get());
  LogIgnored(internal::StopProcess(Pid(old), StopGraceOf(old), *impl_->clock),
             "Stopping the previous server of '" + request.name + "'");
  // Remove the old revision, and the older one whose model it kept, unless the new one uses it.
  std::string old_rev_dir = impl_->store.RevisionDir(request.name, old["revision"]);
  std::string old_model_rev = fs::path(old["model_dir"].get<std::string>()).parent_path();
  for (const std::string& dir : {old_rev_dir, old_model_rev}) {
    if (model_dir.rfind(dir + "/", 0) != 0) LogIgnored(RemoveFolder(dir), "Removing the previous revision");
  }
  return impl_->Describe(state, false);
}

Status LocalClient::Delete(const std::string& name) {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(internal::ValidateDeploymentName(name));
  auto lock = impl_->store.Lock(name);
  if (!lock.ok()) return lock.status();
  auto loaded = impl_->store.Load(name);
  if (!loaded.ok()) return loaded.status();
  if (loaded->has_value()) {
    const json& state = **loaded;
    MLFLOW_BRIDGE_RETURN_IF_ERROR(internal::StopProcess(Pid(state), StopGraceOf(state), *impl_->clock));
  }
  return impl_->store.Remove(name);
}

StatusOr<json> LocalClient::List() {
  auto names = impl_->store.Names();
  if (!names.ok()) return names.status();
  json out = json::array();
  for (const auto& name : *names) {
    auto state = impl_->store.Load(name);
    if (state.ok() && state->has_value()) out.push_back(impl_->Describe(**state, false));
  }
  return out;
}

StatusOr<json> LocalClient::Get(const std::string& name) {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(internal::ValidateDeploymentName(name));
  auto state = impl_->LoadExisting(name);
  if (!state.ok()) return state.status();
  return impl_->Describe(*state, true);
}

StatusOr<std::string> LocalClient::Predict(const std::string& name, const std::string& body,
                                           const std::string& content_type) {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(internal::ValidateDeploymentName(name));
  auto state = impl_->LoadExisting(name);
  if (!state.ok()) return state.status();
  if (!internal::IsAlive(Pid(*state))) {
    return UnavailableError(WithLog("Local deployment '" + name +
                                        "' is not running: its server has exited. Restart it with `mlflow "
                                        "deployments update` or delete it.",
                                    (*state)["log_path"]));
  }
  int timeout = ConfigOf(*state).request_timeout_seconds;
  internal::ScoringCall call;
  call.url = Url((*state)["port"]) + "/invocations";
  call.body = body;
  call.content_type = content_type;
  call.timeout = seconds(timeout);
  call.retry = RetryPolicy{3, seconds(timeout)};
  call.transport = impl_->transport;
  call.clock = impl_->clock;
  call.what = "Local deployment '" + name + "'";
  return internal::Score(call);
}

Status LocalClient::RunLocal(const DeployRequest& request) {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckFlavor(request.flavor));
  auto config = internal::ParseLocalConfig(request.config);
  if (!config.ok()) return config.status();
  auto server = ChooseServer(*config, impl_->serve_dir);
  if (!server.ok()) return server.status();
  int port = config->port;
  auto opened = impl_->OpenPort(port, /*claim=*/port != 0);
  if (!opened.ok()) return opened.status();
  const Fd& fd = (*opened)->fd;
  auto spec = ServerSpec(*server, request.python, request.model_dir, *config, "", fd.get());
  if (!spec.ok()) return spec.status();
  LogInfo("Serving " + request.model_uri + " at " + Url(internal::LocalPort(fd.get())) + " with " +
          (server->kind == "native" ? "mlflow-bridge-serve" : "MLflow's scoring server") + " (Ctrl-C stops it)");
  auto code = internal::RunForeground(*spec, impl_->interrupted, StopGrace(server->kind, *config), *impl_->clock);
  if (!code.ok()) return code.status();
  if (*code != 0 && *code != 128 + SIGINT && *code != 128 + SIGTERM) {
    return InternalError("The model server exited with status " + std::to_string(*code) + ".");
  }
  return OkStatus();
}

}  // namespace mlflow_bridge
