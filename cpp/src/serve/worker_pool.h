// The Python workers of the native server (decision 0009): N processes, each running serve_worker.py with its
// end of a socketpair as fd 3, spoken to in frames (serve/protocol.h) from the server's event loop thread.
//
// A worker is ready once it sent its "ready" frame (the model loaded). It holds at most one request at a time.
// A worker that dies (its link closes, or waitpid says it exited) is restarted with exponential backoff, and
// its in-flight request is answered at once with a 500 MLflow error JSON. If, before any worker was ever
// ready, every worker failed to load the model, the pool reports it (the server exits non-zero).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mlflow_bridge/status.h"
#include "serve/protocol.h"

struct event_base;
struct event;
struct bufferevent;

namespace mlflow_bridge::internal {

// A worker's answer as the HTTP layer sends it.
struct WorkerReply {
  int status = 500;
  std::string content_type;
  std::string body;
};

// MLflow's error JSON, {"error_code": ..., "message": ...}, as a reply with `status`.
WorkerReply ErrorReply(int status, std::string_view error_code, std::string_view message);

using ReplyCallback = std::function<void(WorkerReply)>;

// What the dispatcher needs from the workers (the pool below; a fake in tests).
class WorkerBackend {
 public:
  virtual ~WorkerBackend() = default;
  // A ready worker with nothing in flight, or -1.
  virtual int IdleWorker() = 0;
  // Sends one request to idle worker `worker`. `done` is called exactly once, later, on the loop thread: with
  // the worker's reply, or with a 500 error reply when the worker dies first.
  virtual void Send(int worker, const std::optional<std::string>& content_type, std::string_view body,
                    ReplyCallback done) = 0;
  // Called whenever a worker turns idle (ready after a start, or done with a request).
  void set_on_idle(std::function<void()> f) { on_idle_ = std::move(f); }

 protected:
  std::function<void()> on_idle_;
};

// What a worker's "ready" frame says about the model.
struct WorkerInfo {
  std::string mlflow_version;
  std::vector<std::string> flavors;
  std::string loader_module;  // python_function's, e.g. "mlflow.sklearn"
  bool input_schema = false;
  std::string signature_inputs, signature_outputs;  // the signature's schemas as MLmodel's JSON text; "" without
};

// How workers start: processes in the server, threads in tests.
class WorkerLauncher {
 public:
  struct Started {
    int fd = -1;  // the server's end of the link; the pool owns it
    int pid = 0;  // 0 when the worker is no process
  };
  virtual ~WorkerLauncher() = default;
  virtual StatusOr<Started> Start(int index) = 0;
  // Ends worker `index` (started as `pid`) at once, whatever it is doing. Its link is already closed.
  virtual void Kill(int index, int pid) = 0;
  // Non-blocking: how the worker ended ("exit status 1", "signal 9") once it has; nullopt while it runs.
  virtual std::optional<std::string> Reap(int index, int pid) = 0;
};

struct ProcessLauncherOptions {
  std::string python;         // the interpreter (a path)
  std::string worker_script;  // serve_worker.py
  std::string model_dir;
  std::vector<std::string> env;  // the complete environment, "KEY=VALUE"
};

// Workers as child processes: `<python> <worker_script> --fd 3 --model <model_dir>`, in the server's process
// group, stdout and stderr shared with the server.
std::unique_ptr<WorkerLauncher> MakeProcessLauncher(ProcessLauncherOptions options);

struct WorkerPoolOptions {
  int workers = 1;
  size_t max_frame_bytes = size_t{1} << 30;  // a worker's reply larger than this breaks its link
  std::chrono::milliseconds restart_backoff_initial{100};
  std::chrono::milliseconds restart_backoff_max{10000};
};

class WorkerPool : public WorkerBackend {
 public:
  WorkerPool(event_base* base, WorkerPoolOptions options, std::unique_ptr<WorkerLauncher> launcher);
  // Closes the links and kills what still runs, without calling pending callbacks (Stop calls them).
  ~WorkerPool() override;
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Starts every worker. `on_first_ready` is called once, when the first worker is ready; `on_fatal` when
  // every worker failed to load the model before any was ready (with the first worker's message).
  void Start(std::function<void()> on_first_ready, std::function<void(const Status&)> on_fatal);

  int IdleWorker() override;
  void Send(int worker, const std::optional<std::string>& content_type, std::string_view body, ReplyCallback done) override;

  // Looks for workers that exited (call on SIGCHLD): each is handled as dead and restarted.
  void CheckChildren();
  // Stops every worker: closes their links (a worker exits when its link closes), waits up to `grace` for them
  // to exit, then kills the rest. Blocks. Requests still in flight are answered with a 500 error.
  void Stop(std::chrono::milliseconds grace);

  int size() const { return static_cast<int>(workers_.size()); }
  int ready_count() const;
  int busy_count() const;
  uint64_t restarts() const { return restarts_; }
  // The first ready worker's description of the model; nullopt before one was ready.
  const std::optional<WorkerInfo>& info() const { return info_; }
  // Each worker's pid while it runs (0 otherwise), by index.
  std::vector<int> pids() const;

 private:
  struct Worker;
  void Launch(Worker& w);
  void OnRead(Worker& w);
  void OnFrame(Worker& w, Frame frame);
  void OnGone(Worker& w, const std::string& why);
  void ScheduleRestart(Worker& w);
  void ReapZombies();
  static void ReadCallback(bufferevent* bev, void* arg);
  static void EventCallback(bufferevent* bev, short what, void* arg);
  static void RestartCallback(int fd, short what, void* arg);

  event_base* base_;
  WorkerPoolOptions options_;
  std::unique_ptr<WorkerLauncher> launcher_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::pair<int, int>> zombies_;  // (index, pid) killed or exited, not yet reaped
  std::function<void()> on_first_ready_;
  std::function<void(const Status&)> on_fatal_;
  std::optional<WorkerInfo> info_;
  bool ever_ready_ = false;
  bool fatal_reported_ = false;
  bool stopping_ = false;
  Status first_error_;
  uint64_t restarts_ = 0;
  int next_pick_ = 0;  // where the search for an idle worker starts (round robin)
};

}  // namespace mlflow_bridge::internal
