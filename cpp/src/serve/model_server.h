// `mlflow-bridge-serve` assembled (decision 0009): the event loop, the workers, the dispatcher, the HTTP server
// and the logs, and the server's life: listen once a worker has loaded the model, exit non-zero if none can,
// drain on SIGTERM/SIGINT (a second signal stops at once), stop the workers, exit 0.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "mlflow_bridge/status.h"
#include "serve/dispatcher.h"
#include "serve/http_server.h"
#include "serve/metrics.h"
#include "serve/worker_pool.h"

struct event_base;
struct event;

namespace mlflow_bridge::internal {

struct ModelServerOptions {
  std::string host = "0.0.0.0";
  int port = 8080;
  int listen_fd = -1;  // a bound socket handed over (--fd); then host and port are not used
  HttpServerOptions http;
  DispatcherOptions dispatch;
  WorkerPoolOptions workers;
  std::string access_log = "-";  // "-": stderr; empty: off
  std::string prediction_log;    // empty: off
  double prediction_log_rate = 1.0;
  std::chrono::milliseconds worker_stop_grace{10000};  // after the drain: how long workers get to exit
  bool handle_signals = true;  // SIGTERM, SIGINT (drain), SIGCHLD (reap workers); tests use RequestStop
};

class ModelServer {
 public:
  ModelServer(ModelServerOptions options, std::unique_ptr<WorkerLauncher> launcher);
  ~ModelServer();
  ModelServer(const ModelServer&) = delete;
  ModelServer& operator=(const ModelServer&) = delete;

  // Opens the logs and binds the port (or adopts --fd): what can fail before any worker starts.
  Status Init();
  // The port bound (after Init).
  int port() const;
  // Runs the event loop on this thread until the server has stopped. OK after a drain; the reason when no
  // worker could load the model or the socket could not listen.
  Status Run();
  // From any thread, or a signal handler: begin the drain (a second call stops at once).
  void RequestStop();
  // From any thread: called on the loop thread once the server accepts connections (a worker is ready).
  void set_on_listening(std::function<void()> f) { on_listening_ = std::move(f); }

 private:
  void Stop();
  void Fatal(const Status& status);
  void Finish();
  static void WakeCallback(int fd, short what, void* arg);
  static void SignalCallback(int signal, short what, void* arg);

  ModelServerOptions options_;
  event_base* base_ = nullptr;
  std::unique_ptr<WorkerPool> pool_;
  std::unique_ptr<Dispatcher> dispatcher_;
  Metrics metrics_;
  std::unique_ptr<HttpServer> http_;
  int wake_pipe_[2] = {-1, -1};
  event* wake_event_ = nullptr;
  event* sigterm_ = nullptr;
  event* sigint_ = nullptr;
  event* sigchld_ = nullptr;
  int stop_requests_ = 0;
  bool finished_ = false;
  Status result_;
  std::function<void()> on_listening_;
};

}  // namespace mlflow_bridge::internal
