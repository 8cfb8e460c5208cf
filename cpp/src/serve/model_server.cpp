#include "serve/model_server.h"

#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "mlflow_bridge/logging.h"

namespace mlflow_bridge::internal {

ModelServer::ModelServer(ModelServerOptions options, std::unique_ptr<WorkerLauncher> launcher)
    : options_(std::move(options)) {
  base_ = event_base_new();
  pool_ = std::make_unique<WorkerPool>(base_, options_.workers, std::move(launcher));
  dispatcher_ = std::make_unique<Dispatcher>(base_, *pool_, options_.dispatch);
  pool_->set_on_idle([this] { dispatcher_->Pump(); });
  dispatcher_->set_on_batch([this](size_t n) { metrics_.ObserveBatch(n); });
  if (pipe2(wake_pipe_, O_CLOEXEC | O_NONBLOCK) == 0) {
    wake_event_ = event_new(base_, wake_pipe_[0], EV_READ | EV_PERSIST, &ModelServer::WakeCallback, this);
    event_add(wake_event_, nullptr);
  }
}

ModelServer::~ModelServer() {
  http_.reset();
  dispatcher_.reset();
  pool_.reset();
  for (event* e : {wake_event_, sigterm_, sigint_, sigchld_}) {
    if (e) event_free(e);
  }
  for (int fd : wake_pipe_) {
    if (fd >= 0) close(fd);
  }
  if (base_) event_base_free(base_);
}

Status ModelServer::Init() {
  std::unique_ptr<LineFile> access;
  if (!options_.access_log.empty()) {
    auto f = LineFile::Open(options_.access_log);
    if (!f.ok()) return f.status();
    access = std::move(*f);
  }
  std::unique_ptr<PredictionLog> predictions;
  if (!options_.prediction_log.empty()) {
    auto f = LineFile::Open(options_.prediction_log);
    if (!f.ok()) return f.status();
    predictions = std::make_unique<PredictionLog>(std::move(*f), options_.prediction_log_rate, std::random_device{}());
  }
  http_ = std::make_unique<HttpServer>(base_, options_.http, *dispatcher_, *pool_, metrics_, std::move(access),
                                       std::move(predictions));
  if (options_.listen_fd >= 0) return http_->Adopt(options_.listen_fd);
  return http_->Bind(options_.host, options_.port);
}

int ModelServer::port() const { return http_ ? http_->port() : 0; }

Status ModelServer::Run() {
  if (!http_) return InternalError("ModelServer::Init was not called");
  if (options_.handle_signals) {
    sigterm_ = evsignal_new(base_, SIGTERM, &ModelServer::SignalCallback, this);
    sigint_ = evsignal_new(base_, SIGINT, &ModelServer::SignalCallback, this);
    sigchld_ = evsignal_new(base_, SIGCHLD, &ModelServer::SignalCallback, this);
    for (event* e : {sigterm_, sigint_, sigchld_}) event_add(e, nullptr);
  }
  pool_->Start(
      [this] {
        if (pool_->info()) dispatcher_->set_model(*pool_->info());
        if (dispatcher_->batching())
          LogInfo("Batching requests that merge (up to " + std::to_string(options_.dispatch.max_batch_rows) +
                  " rows a predict call)");
        Status listening = http_->StartAccepting();
        if (!listening.ok()) {
          Fatal(listening);
          return;
        }
        if (!http_->draining()) {
          int n = pool_->size();
          LogInfo("Listening on port " + std::to_string(http_->port()) +
                  (n == 1 ? std::string(" (1 worker)")
                          : " (" + std::to_string(n) + " workers; the others become ready as they load the model)"));
          if (on_listening_) on_listening_();
        }
      },
      [this](const Status& fatal) { Fatal(fatal); });
  if (!finished_) event_base_dispatch(base_);
  pool_->Stop(options_.worker_stop_grace);
  if (result_.ok()) LogInfo("Stopped");
  return result_;
}

void ModelServer::RequestStop() {
  if (wake_pipe_[1] >= 0) {
    char c = 's';
    (void)!write(wake_pipe_[1], &c, 1);
  }
}

void ModelServer::Stop() {
  ++stop_requests_;
  if (finished_ || !http_) return;
  if (stop_requests_ == 1) {
    http_->BeginDrain([this] { Finish(); });
  } else {
    http_->ForceDrain();
  }
}

void ModelServer::Fatal(const Status& status) {
  if (result_.ok()) result_ = status;
  LogError(status.message());
  Finish();
}

void ModelServer::Finish() {
  if (finished_) return;
  finished_ = true;
  if (http_) http_->Close();
  event_base_loopbreak(base_);
}

void ModelServer::WakeCallback(int fd, short /*what*/, void* arg) {
  auto* self = static_cast<ModelServer*>(arg);
  char buf[64];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) {
    for (ssize_t i = 0; i < n; ++i) self->Stop();
  }
}

void ModelServer::SignalCallback(int signal, short /*what*/, void* arg) {
  auto* self = static_cast<ModelServer*>(arg);
  if (signal == SIGCHLD) {
    self->pool_->CheckChildren();
    return;
  }
  const char* name = sigabbrev_np(signal);
  LogInfo(std::string("Received SIG") + (name ? name : "?") + (self->stop_requests_ == 0 ? ": draining" : ": stopping now"));
  self->Stop();
}

}  // namespace mlflow_bridge::internal
