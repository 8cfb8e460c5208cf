// mlflow-bridge-serve: the native model server (decision 0009). Flags are parsed here; the server itself is
// serve/model_server.h.
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/env.h"
#include "mlflow_bridge/logging.h"
#include "serve/model_server.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using mlflow_bridge::internal::GetEnv;

constexpr const char* kUsage = R"(Usage: mlflow-bridge-serve [serve] --model DIR [options] [serve]

Serves an MLflow model over HTTP. The server (HTTP, routing, queueing, deadlines) is native; the model runs
unmodified in Python worker processes that answer with MLflow's own request handling, so answers are MLflow's.
Routes, all on one port: POST /invocations, /score, /predict; GET /ping, /health, /version, /metrics;
GET /v2/health/live, /v2/health/ready, /v2/models/{name}/ready. SIGTERM or SIGINT drains and exits 0.
The argument `serve` (what SageMaker passes, after the image's entrypoint) is accepted and ignored.
An option not given on the command line is read from MLFLOW_BRIDGE_SERVE_<OPTION> when that is set
(MLFLOW_BRIDGE_SERVE_MAX_QUEUE=64 for --max-queue 64): images carry their options so, and a platform's
environment variables can change them.

Options:
  --model DIR                   the MLflow model directory (with its MLmodel file); required
  --host HOST                   address to listen on (default 0.0.0.0)
  --port N                      port to listen on (default 8080)
  --fd N                        listen on this inherited, bound socket instead of --host/--port
  --workers N                   Python worker processes (default: $MLFLOW_MODELS_WORKERS, else one per CPU
                                this process may use, within its container's CPU limit)
  --python PATH                 the Python that runs the workers, with mlflow and the model's requirements
                                (default: $MLFLOW_BRIDGE_SERVE_PYTHON, else python3 on PATH)
  --worker-script PATH          the worker program (default: serve_worker.py next to this binary)
  --max-queue N                 requests waiting for a worker; more are answered 503 with Retry-After
                                (default 1024)
  --request-timeout-seconds N   a request not answered within N s gets 504 (default:
                                $MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT, else 60)
  --max-body-mb N               request bodies over N MiB get 413 (default 64)
  --max-header-kb N             a request line and headers over N KiB get 400 (default 64)
  --idle-timeout-seconds N      close a keep-alive connection idle for N s (default 75)
  --drain-seconds N             on SIGTERM, how long queued and in-flight requests may take (default 30)
  --retry-after-seconds N       the Retry-After of a 503 when the queue is full (default 1)
  --batching auto|true|false    merge concurrent compatible requests into one predict call and split the
                                answer back (auto: for row-independent flavors: sklearn, xgboost, lightgbm,
                                catboost, h2o; default auto)
  --max-batch-rows N            rows in one merged predict call (default 256)
  --max-batch-wait-ms N         how long a free worker may wait for a fuller batch while another worker is
                                busy (default 0: never)
  --model-name NAME             the model's name on the v2 routes (default: any name)
  --access-log PATH             one line per request: a file, - for stderr (default), or off
  --prediction-log PATH         sampled requests and answers as JSON lines (default: off)
  --prediction-log-rate R       the share of requests written to the prediction log, 0 to 1 (default 1)
  --help                        this text
  --version                     the version of mlflow-bridge
)";

struct Flags {
  std::map<std::string, std::string> values;
  std::map<std::string, std::string> origin;  // where a value came from, for messages: "--max-queue"
};

[[noreturn]] void UsageError(const std::string& message) {
  std::fprintf(stderr, "mlflow-bridge-serve: %s\nRun mlflow-bridge-serve --help for the options.\n", message.c_str());
  std::exit(2);
}

// The flags that take a value (all of them but --help and --version).
const std::vector<std::string>& ValueFlags() {
  static const std::vector<std::string> flags = {"model",
                                                 "host",
                                                 "port",
                                                 "fd",
                                                 "workers",
                                                 "python",
                                                 "worker-script",
                                                 "max-queue",
                                                 "request-timeout-seconds",
                                                 "max-body-mb",
                                                 "max-header-kb",
                                                 "idle-timeout-seconds",
                                                 "drain-seconds",
                                                 "retry-after-seconds",
                                                 "batching",
                                                 "max-batch-rows",
                                                 "max-batch-wait-ms",
                                                 "model-name",
                                                 "access-log",
                                                 "prediction-log",
                                                 "prediction-log-rate"};
  return flags;
}

Flags Parse(int argc, char** argv) {
  Flags flags;
  bool seen_serve = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (arg == "--version") {
      std::printf("mlflow-bridge-serve %s\n", MLFLOW_BRIDGE_VERSION);
      std::exit(0);
    }
    if (arg.rfind("--", 0) != 0) {
      // SageMaker runs an image with the argument `serve`: it comes after the image's entrypoint (our flags).
      if (!seen_serve && arg == "serve") {
        seen_serve = true;
        continue;
      }
      UsageError("unexpected argument '" + arg + "'");
    }
    std::string name = arg.substr(2), value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    const auto& known = ValueFlags();
    if (std::find(known.begin(), known.end(), name) == known.end()) UsageError("unknown option --" + name);
    if (!has_value) {
      if (i + 1 >= argc) UsageError("--" + name + " needs a value");
      value = argv[++i];
    }
    flags.values[name] = value;
    flags.origin[name] = "--" + name;
  }
  // A flag not given takes $MLFLOW_BRIDGE_SERVE_<FLAG> (an image's environment, a platform's variables).
  for (const std::string& name : ValueFlags()) {
    if (flags.values.count(name) != 0) continue;
    std::string env = "MLFLOW_BRIDGE_SERVE_";
    for (char c : name) env += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (auto value = GetEnv(env.c_str())) {
      flags.values[name] = *value;
      flags.origin[name] = "$" + env;
    }
  }
  return flags;
}

long IntFlag(const Flags& flags, const std::string& name, long fallback, long min, long max) {
  auto it = flags.values.find(name);
  if (it == flags.values.end()) return fallback;
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end != '\0' || errno != 0 || v < min || v > max) {
    UsageError(flags.origin.at(name) + " must be a whole number from " + std::to_string(min) + " to " + std::to_string(max) +
               " (got '" + it->second + "')");
  }
  return v;
}

std::optional<std::string> StringFlag(const Flags& flags, const std::string& name) {
  auto it = flags.values.find(name);
  if (it == flags.values.end()) return std::nullopt;
  return it->second;
}

// A container's CPU limit in CPUs: cgroup v2's cpu.max ("<quota> <period>", "max" for none), else cgroup v1's
// CFS quota and period.
std::optional<double> CgroupCpuLimit() {
  std::ifstream v2("/sys/fs/cgroup/cpu.max");
  std::string quota, period;
  if (v2 >> quota >> period) {
    if (quota == "max") return std::nullopt;
    double q = std::strtod(quota.c_str(), nullptr), p = std::strtod(period.c_str(), nullptr);
    return q > 0 && p > 0 ? std::optional<double>(q / p) : std::nullopt;
  }
  std::ifstream q1("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), p1("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
  long long q = 0, p = 0;
  if (q1 >> q && p1 >> p && q > 0 && p > 0) return static_cast<double>(q) / static_cast<double>(p);
  return std::nullopt;
}

// The CPUs this process may use: its affinity, capped by its container's CPU limit (a pod on a big node with
// `limits.cpu: 2` gets 2 workers, not one per node core).
int CpuCount() {
  int n = 0;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
  if (n <= 0) n = static_cast<int>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
  if (std::optional<double> limit = CgroupCpuLimit()) n = std::min(n, std::max(1, static_cast<int>(std::ceil(*limit))));
  return n;
}

// The default worker count: $MLFLOW_MODELS_WORKERS (what MLflow's own images read), else one per CPU.
long DefaultWorkers() {
  if (auto env = GetEnv("MLFLOW_MODELS_WORKERS")) {
    char* end = nullptr;
    long v = std::strtol(env->c_str(), &end, 10);
    if (*end == '\0' && v > 0) return v;
  }
  return CpuCount();
}

bool Executable(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0;
}

// `name` as execve needs it: a path as given, else the first match on PATH.
std::optional<std::string> FindProgram(const std::string& name) {
  if (name.find('/') != std::string::npos) return Executable(name) ? std::optional<std::string>(name) : std::nullopt;
  std::string path = GetEnv("PATH").value_or("/usr/local/bin:/usr/bin:/bin");
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + name;
    if (Executable(candidate)) return candidate;
    start = end + 1;
  }
  return std::nullopt;
}

std::string SelfDirectory() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : self.parent_path().string();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace mlflow_bridge;
  using namespace mlflow_bridge::internal;
  signal(SIGPIPE, SIG_IGN);
  SetLogSink([](LogLevel, std::string_view message) {
    std::string line = "mlflow-bridge-serve: " + std::string(message) + "\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
  });

  Flags flags = Parse(argc, argv);
  auto model = StringFlag(flags, "model");
  if (!model) UsageError("--model DIR is required (the MLflow model directory)");
  if (!fs::is_regular_file(fs::path(*model) / "MLmodel")) {
    UsageError("--model " + *model + " is not an MLflow model directory (it has no MLmodel file)");
  }

  std::string python_name = StringFlag(flags, "python").value_or("");
  std::optional<std::string> python;
  if (!python_name.empty()) {
    python = FindProgram(python_name);
    if (!python) UsageError("--python " + python_name + ": no such executable");
  } else {
    python = FindProgram("python3");
    if (!python) python = FindProgram("python");
    if (!python) UsageError("no python3 on PATH: name the Python that has mlflow with --python");
  }
  std::string script = StringFlag(flags, "worker-script").value_or(SelfDirectory() + "/serve_worker.py");
  if (!fs::is_regular_file(script)) {
    UsageError("the worker program " + script + " does not exist; name it with --worker-script");
  }

  ModelServerOptions options;
  if (auto fd = StringFlag(flags, "fd")) {
    options.listen_fd = static_cast<int>(IntFlag(flags, "fd", -1, 0, INT_MAX));
    // (A port or host from the environment does not count: the socket handed over is where to listen.)
    for (const char* name : {"port", "host"}) {
      if (flags.origin.count(name) != 0 && flags.origin.at(name)[0] == '-') UsageError("--fd excludes --host and --port");
    }
  }
  options.host = StringFlag(flags, "host").value_or("0.0.0.0");
  options.port = static_cast<int>(IntFlag(flags, "port", 8080, 0, 65535));
  options.workers.workers = static_cast<int>(IntFlag(flags, "workers", DefaultWorkers(), 1, 1024));
  options.dispatch.max_queue = static_cast<size_t>(IntFlag(flags, "max-queue", 1024, 1, 10000000));
  long timeout_default = 60;
  if (auto env = GetEnv("MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT")) {
    char* end = nullptr;
    long v = std::strtol(env->c_str(), &end, 10);
    if (*end == '\0' && v > 0) timeout_default = v;
  }
  options.dispatch.request_timeout =
      std::chrono::seconds(IntFlag(flags, "request-timeout-seconds", timeout_default, 1, 86400));
  options.dispatch.retry_after_seconds = static_cast<int>(IntFlag(flags, "retry-after-seconds", 1, 0, 3600));
  const std::string batching = StringFlag(flags, "batching").value_or("auto");
  if (batching == "true") {
    options.dispatch.batching = true;
  } else if (batching == "false") {
    options.dispatch.batching = false;
  } else if (batching != "auto") {
    UsageError(flags.origin.at("batching") + " takes auto, true or false, not '" + batching + "'");
  }
  options.dispatch.max_batch_rows = static_cast<size_t>(IntFlag(flags, "max-batch-rows", 256, 1, 1000000));
  options.dispatch.max_batch_wait = std::chrono::milliseconds(IntFlag(flags, "max-batch-wait-ms", 0, 0, 10000));
  options.http.max_body_bytes = static_cast<size_t>(IntFlag(flags, "max-body-mb", 64, 1, 2048)) << 20;
  options.http.max_header_bytes = static_cast<size_t>(IntFlag(flags, "max-header-kb", 64, 1, 1024)) << 10;
  options.http.idle_timeout_seconds = static_cast<int>(IntFlag(flags, "idle-timeout-seconds", 75, 1, 86400));
  options.http.drain_timeout = std::chrono::seconds(IntFlag(flags, "drain-seconds", 30, 0, 86400));
  options.http.model_name = StringFlag(flags, "model-name").value_or("");
  // A reply may be much larger than its request (one prediction per row); the link's frame limit is generous.
  options.workers.max_frame_bytes = std::max<size_t>(size_t{1} << 30, options.http.max_body_bytes * 4);
  std::string access = StringFlag(flags, "access-log").value_or("-");
  options.access_log = access == "off" ? "" : access;
  options.prediction_log = StringFlag(flags, "prediction-log").value_or("");
  if (auto rate = StringFlag(flags, "prediction-log-rate")) {
    char* end = nullptr;
    double r = std::strtod(rate->c_str(), &end);
    if (rate->empty() || *end != '\0' || !(r >= 0.0 && r <= 1.0)) {
      UsageError(flags.origin.at("prediction-log-rate") + " must be a number from 0 to 1 (got '" + *rate + "')");
    }
    options.prediction_log_rate = r;
  }

  ProcessLauncherOptions launch;
  launch.python = *python;
  launch.worker_script = script;
  launch.model_dir = fs::absolute(*model).string();
  for (char** e = environ; *e != nullptr; ++e) launch.env.emplace_back(*e);
  launch.env.emplace_back("PYTHONUNBUFFERED=1");

  ModelServer server(options, MakeProcessLauncher(std::move(launch)));
  if (Status s = server.Init(); !s.ok()) {
    LogError(s.message());
    return 1;
  }
  int n = options.workers.workers;
  LogInfo("Serving " + fs::absolute(*model).string() + " with " + std::to_string(n) + (n == 1 ? " worker" : " workers") +
          " (" + *python + ")");
  Status result = server.Run();
  return result.ok() ? 0 : 1;
}
