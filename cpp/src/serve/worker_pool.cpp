#include "serve/worker_pool.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "common/process.h"
#include "mlflow_bridge/logging.h"

namespace mlflow_bridge::internal {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;

std::string WorkerName(int index, int pid) {
  std::string s = "worker " + std::to_string(index);
  if (pid > 0) s += " (pid " + std::to_string(pid) + ")";
  return s;
}

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* name = sigabbrev_np(WTERMSIG(status));
    return "killed by signal " + std::to_string(WTERMSIG(status)) + (name ? std::string(" (SIG") + name + ")" : "");
  }
  return "wait status " + std::to_string(status);
}

class ProcessLauncher : public WorkerLauncher {
 public:
  explicit ProcessLauncher(ProcessLauncherOptions options) : options_(std::move(options)) {}

  StatusOr<Started> Start(int /*index*/) override {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      return InternalError(std::string("socketpair: ") + std::strerror(errno));
    }
    SpawnSpec spec;
    spec.argv = {options_.python, options_.worker_script, "--fd", "3", "--model", options_.model_dir};
    spec.env = options_.env;
    spec.listen_fd = sv[1];  // the worker's end, as its fd 3
    auto pid = SpawnChild(spec);
    close(sv[1]);
    if (!pid.ok()) {
      close(sv[0]);
      return pid.status();
    }
    return Started{sv[0], *pid};
  }

  void Kill(int /*index*/, int pid) override {
    if (pid > 0) kill(pid, SIGKILL);
  }

  std::optional<std::string> Reap(int /*index*/, int pid) override {
    if (pid <= 0) return std::string("no process");
    int status = 0;
    pid_t r;
    do {
      r = waitpid(pid, &status, WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == pid) return DescribeWaitStatus(status);
    if (r < 0) return std::string("gone");  // not our child (anymore)
    return std::nullopt;
  }

 private:
  ProcessLauncherOptions options_;
};

// Closes a worker's link. The peer sees it close at once (shutdown): bufferevent_free closes the socket only
// when the event loop next runs its finalizers, and the loop may have stopped.
void CloseLink(bufferevent*& bev) {
  if (bev == nullptr) return;
  evutil_socket_t fd = bufferevent_getfd(bev);
  if (fd >= 0) shutdown(fd, SHUT_RDWR);
  bufferevent_free(bev);
  bev = nullptr;
}

}  // namespace

WorkerReply ErrorReply(int status, std::string_view error_code, std::string_view message) {
  // As Python's json.dumps writes MLflow's errors: ", " and ": " separators, non-ASCII escaped.
  auto str = [](std::string_view s) { return json(std::string(s)).dump(-1, ' ', true, json::error_handler_t::replace); };
  return WorkerReply{status, "application/json",
                     "{\"error_code\": " + str(error_code) + ", \"message\": " + str(message) + "}"};
}

std::unique_ptr<WorkerLauncher> MakeProcessLauncher(ProcessLauncherOptions options) {
  return std::make_unique<ProcessLauncher>(std::move(options));
}

struct WorkerPool::Worker {
  enum class State { kNotStarted, kStarting, kReady, kDead, kStopped };
  WorkerPool* pool = nullptr;
  int index = 0;
  State state = State::kNotStarted;
  int pid = 0;
  bufferevent* bev = nullptr;
  std::unique_ptr<FrameDecoder> decoder;
  bool busy = false;
  uint64_t next_id = 1;
  uint64_t inflight_id = 0;
  ReplyCallback inflight;
  event* restart_timer = nullptr;
  int failures = 0;          // starts in a row that did not reach "ready"
  bool failed_once = false;  // for the startup verdict: this worker failed before any worker was ready
  std::string load_error;    // the message of its "error" frame
};

WorkerPool::WorkerPool(event_base* base, WorkerPoolOptions options, std::unique_ptr<WorkerLauncher> launcher)
    : base_(base), options_(options), launcher_(std::move(launcher)) {
  int n = std::max(1, options_.workers);
  for (int i = 0; i < n; ++i) {
    auto w = std::make_unique<Worker>();
    w->pool = this;
    w->index = i;
    w->restart_timer = evtimer_new(base_, &WorkerPool::RestartCallback, w.get());
    workers_.push_back(std::move(w));
  }
}

WorkerPool::~WorkerPool() {
  stopping_ = true;
  for (auto& w : workers_) {
    if (w->restart_timer) event_free(w->restart_timer);
    CloseLink(w->bev);
    w->inflight = nullptr;
    if (w->state == Worker::State::kStarting || w->state == Worker::State::kReady) {
      launcher_->Kill(w->index, w->pid);
      zombies_.emplace_back(w->index, w->pid);
    }
    w->pid = 0;
  }
  // Killed: they end at once; a bound only for a process that cannot be reaped.
  for (int i = 0; i < 250 && !zombies_.empty(); ++i) {
    ReapZombies();
    if (!zombies_.empty()) std::this_thread::sleep_for(milliseconds(20));
  }
}

void WorkerPool::Start(std::function<void()> on_first_ready, std::function<void(const Status&)> on_fatal) {
  on_first_ready_ = std::move(on_first_ready);
  on_fatal_ = std::move(on_fatal);
  for (auto& w : workers_) {
    if (w->state == Worker::State::kNotStarted) Launch(*w);
  }
}

void WorkerPool::Launch(Worker& w) {
  if (stopping_) return;
  auto started = launcher_->Start(w.index);
  if (!started.ok()) {
    w.state = Worker::State::kStarting;
    OnGone(w, started.status().message());
    return;
  }
  evutil_make_socket_nonblocking(started->fd);
  w.bev = bufferevent_socket_new(base_, started->fd, BEV_OPT_CLOSE_ON_FREE);
  if (w.bev == nullptr) {
    close(started->fd);
    launcher_->Kill(w.index, started->pid);
    zombies_.emplace_back(w.index, started->pid);
    w.state = Worker::State::kStarting;
    OnGone(w, "cannot watch its link (bufferevent_socket_new failed)");
    return;
  }
  w.pid = started->pid;
  w.state = Worker::State::kStarting;
  w.busy = false;
  w.load_error.clear();
  w.decoder = std::make_unique<FrameDecoder>(options_.max_frame_bytes);
  bufferevent_setcb(w.bev, &WorkerPool::ReadCallback, nullptr, &WorkerPool::EventCallback, &w);
  bufferevent_enable(w.bev, EV_READ);
  LogInfo(WorkerName(w.index, w.pid) + ": loading the model");
}

void WorkerPool::ReadCallback(bufferevent* /*bev*/, void* arg) {
  auto* w = static_cast<Worker*>(arg);
  w->pool->OnRead(*w);
}

void WorkerPool::EventCallback(bufferevent* /*bev*/, short what, void* arg) {
  auto* w = static_cast<Worker*>(arg);
  if (what & BEV_EVENT_EOF) {
    std::string why = !w->load_error.empty()                 ? w->load_error
                      : w->state == Worker::State::kStarting ? "it ended before the model was loaded (its output says why)"
                                                             : "its link closed";
    w->pool->OnGone(*w, why);
  } else if (what & BEV_EVENT_ERROR) {
    w->pool->OnGone(*w, std::string("its link failed: ") + evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
  }
}

void WorkerPool::RestartCallback(int /*fd*/, short /*what*/, void* arg) {
  auto* w = static_cast<Worker*>(arg);
  WorkerPool* pool = w->pool;
  pool->ReapZombies();
  if (pool->stopping_ || w->state != Worker::State::kDead) return;
  ++pool->restarts_;
  pool->Launch(*w);
}

void WorkerPool::OnRead(Worker& w) {
  evbuffer* in = bufferevent_get_input(w.bev);
  size_t n = evbuffer_get_length(in);
  int chunks = evbuffer_peek(in, -1, nullptr, nullptr, 0);
  std::vector<evbuffer_iovec> vec(static_cast<size_t>(std::max(chunks, 0)));
  if (chunks > 0) evbuffer_peek(in, -1, nullptr, vec.data(), chunks);
  Status fed;
  for (const auto& v : vec) {
    fed = w.decoder->Feed(std::string_view(static_cast<const char*>(v.iov_base), v.iov_len));
    if (!fed.ok()) break;
  }
  evbuffer_drain(in, n);
  if (!fed.ok()) {
    OnGone(w, fed.message());
    return;
  }
  bufferevent* bev = w.bev;
  while (w.bev == bev && bev != nullptr) {
    auto frame = w.decoder->Next();
    if (!frame.ok()) {
      OnGone(w, frame.status().message());
      return;
    }
    if (!frame->has_value()) return;
    OnFrame(w, std::move(**frame));
  }
}

void WorkerPool::OnFrame(Worker& w, Frame frame) {
  const json& h = frame.header;
  std::string type = h.contains("type") && h["type"].is_string() ? h["type"].get<std::string>() : "";
  if (w.state == Worker::State::kStarting && type == "ready") {
    WorkerInfo info;
    if (h.contains("mlflow_version") && h["mlflow_version"].is_string()) info.mlflow_version = h["mlflow_version"];
    if (h.contains("loader_module") && h["loader_module"].is_string()) info.loader_module = h["loader_module"];
    if (h.contains("input_schema") && h["input_schema"].is_boolean()) info.input_schema = h["input_schema"];
    for (auto [key, field] :
         {std::pair{"signature_inputs", &info.signature_inputs}, std::pair{"signature_outputs", &info.signature_outputs}})
      if (h.contains(key) && h[key].is_string()) *field = h[key].get<std::string>();
    if (h.contains("flavors") && h["flavors"].is_array()) {
      for (const auto& f : h["flavors"]) {
        if (f.is_string()) info.flavors.push_back(f.get<std::string>());
      }
    }
    w.state = Worker::State::kReady;
    w.failures = 0;
    LogInfo(WorkerName(w.index, w.pid) + ": ready (mlflow " + info.mlflow_version + ", " +
            (info.loader_module.empty() ? "no loader module" : info.loader_module) + ")");
    if (!info_) info_ = std::move(info);
    if (!ever_ready_) {
      ever_ready_ = true;
      if (on_first_ready_) on_first_ready_();
    }
    if (on_idle_) on_idle_();
    return;
  }
  if (w.state == Worker::State::kStarting && type == "error") {
    w.load_error = h.contains("message") && h["message"].is_string() ? h["message"].get<std::string>() : "(no message)";
    LogError(WorkerName(w.index, w.pid) + ": the model did not load: " + w.load_error);
    return;  // the worker exits; its link closes
  }
  if (w.state == Worker::State::kReady && type == "reply" && w.busy && h.contains("id") && h["id"].is_number_unsigned() &&
      h["id"].get<uint64_t>() == w.inflight_id) {
    WorkerReply reply;
    reply.status = h.contains("status") && h["status"].is_number_integer() ? h["status"].get<int>() : 500;
    reply.content_type =
        h.contains("content_type") && h["content_type"].is_string() ? h["content_type"].get<std::string>() : "";
    reply.body = std::move(frame.payload);
    ReplyCallback done = std::move(w.inflight);
    w.inflight = nullptr;
    w.busy = false;
    if (done) done(std::move(reply));
    if (on_idle_) on_idle_();
    return;
  }
  OnGone(w, "it broke the protocol (a '" + type + "' frame " +
                (w.state == Worker::State::kReady ? (w.busy ? "not answering its request" : "while idle")
                                                  : "before it was ready") +
                ")");
}

void WorkerPool::OnGone(Worker& w, const std::string& why) {
  if (w.state != Worker::State::kStarting && w.state != Worker::State::kReady) return;
  bool was_ready = w.state == Worker::State::kReady;
  int pid = w.pid;
  CloseLink(w.bev);
  launcher_->Kill(w.index, pid);
  zombies_.emplace_back(w.index, pid);
  w.pid = 0;
  w.state = Worker::State::kDead;
  ReplyCallback done = std::move(w.inflight);
  w.inflight = nullptr;
  w.busy = false;
  if (!was_ready) {
    ++w.failures;
    if (!ever_ready_) w.failed_once = true;
    if (first_error_.ok()) first_error_ = InternalError(why);
  }
  LogWarning(WorkerName(w.index, pid) + (was_ready ? " stopped: " : " did not start: ") + why);
  if (!ever_ready_ && !stopping_ &&
      std::all_of(workers_.begin(), workers_.end(), [](const auto& x) { return x->failed_once; })) {
    if (!fatal_reported_) {
      fatal_reported_ = true;
      Status fatal = InternalError("The model could not be loaded: " + first_error_.message());
      if (on_fatal_) on_fatal_(fatal);
    }
  } else if (!stopping_) {
    ScheduleRestart(w);
  }
  if (done) {
    done(ErrorReply(500, "INTERNAL_ERROR",
                    "The model worker" + (pid > 0 ? " (pid " + std::to_string(pid) + ")" : std::string()) +
                        " stopped while handling this request (" + why + "). It is being restarted."));
  }
}

void WorkerPool::ScheduleRestart(Worker& w) {
  milliseconds delay = options_.restart_backoff_initial;
  for (int i = 1; i < w.failures && delay < options_.restart_backoff_max; ++i) delay *= 2;
  delay = std::min(delay, options_.restart_backoff_max);
  timeval tv{static_cast<time_t>(delay.count() / 1000), static_cast<suseconds_t>((delay.count() % 1000) * 1000)};
  evtimer_add(w.restart_timer, &tv);
}

void WorkerPool::ReapZombies() {
  for (auto it = zombies_.begin(); it != zombies_.end();) {
    auto how = launcher_->Reap(it->first, it->second);
    if (how) {
      if (it->second > 0) LogInfo(WorkerName(it->first, it->second) + " ended: " + *how);
      it = zombies_.erase(it);
    } else {
      ++it;
    }
  }
}

void WorkerPool::CheckChildren() {
  ReapZombies();
  for (auto& w : workers_) {
    if ((w->state != Worker::State::kStarting && w->state != Worker::State::kReady) || w->pid <= 0) continue;
    if (auto how = launcher_->Reap(w->index, w->pid)) {
      LogInfo(WorkerName(w->index, w->pid) + " ended: " + *how);
      w->pid = 0;  // reaped
      OnGone(*w, w->load_error.empty() ? "it exited: " + *how : w->load_error);
    }
  }
}

void WorkerPool::Stop(milliseconds grace) {
  stopping_ = true;
  std::vector<ReplyCallback> pending;
  for (auto& w : workers_) {
    evtimer_del(w->restart_timer);
    CloseLink(w->bev);  // the worker sees its link close and exits
    if (w->state == Worker::State::kStarting || w->state == Worker::State::kReady) {
      zombies_.emplace_back(w->index, w->pid);
    }
    w->pid = 0;
    w->state = Worker::State::kStopped;
    if (w->inflight) pending.push_back(std::move(w->inflight));
    w->inflight = nullptr;
    w->busy = false;
  }
  for (auto& done : pending) {
    done(ErrorReply(500, "INTERNAL_ERROR", "The server stopped before the model worker answered this request."));
  }
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (!zombies_.empty()) {
    ReapZombies();
    if (zombies_.empty() || std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(milliseconds(20));
  }
  for (const auto& [index, pid] : zombies_) {
    LogWarning(WorkerName(index, pid) + " did not exit within " + std::to_string(grace.count()) + " ms; killing it");
    launcher_->Kill(index, pid);
  }
  for (int i = 0; i < 250 && !zombies_.empty(); ++i) {
    ReapZombies();
    if (!zombies_.empty()) std::this_thread::sleep_for(milliseconds(20));
  }
}

int WorkerPool::IdleWorker() {
  int n = size();
  for (int k = 0; k < n; ++k) {
    int i = (next_pick_ + k) % n;
    const Worker& w = *workers_[static_cast<size_t>(i)];
    if (w.state == Worker::State::kReady && !w.busy) {
      next_pick_ = (i + 1) % n;
      return i;
    }
  }
  return -1;
}

void WorkerPool::Send(int worker, const std::optional<std::string>& content_type, std::string_view body,
                      ReplyCallback done) {
  if (worker < 0 || worker >= size() || workers_[static_cast<size_t>(worker)]->state != Worker::State::kReady ||
      workers_[static_cast<size_t>(worker)]->busy) {
    done(ErrorReply(500, "INTERNAL_ERROR", "No model worker was free for this request."));
    return;
  }
  Worker& w = *workers_[static_cast<size_t>(worker)];
  uint64_t id = w.next_id++;
  json header = {{"type", "predict"}, {"id", id}, {"content_type", content_type ? json(*content_type) : json(nullptr)}};
  std::string h = header.dump(-1, ' ', false, json::error_handler_t::replace);
  std::string prefix = EncodeFramePrefix(h.size(), body.size());
  evbuffer* out = bufferevent_get_output(w.bev);
  evbuffer_add(out, prefix.data(), prefix.size());
  evbuffer_add(out, h.data(), h.size());
  evbuffer_add(out, body.data(), body.size());
  w.busy = true;
  w.inflight_id = id;
  w.inflight = std::move(done);
}

int WorkerPool::ready_count() const {
  return static_cast<int>(
      std::count_if(workers_.begin(), workers_.end(), [](const auto& w) { return w->state == Worker::State::kReady; }));
}

int WorkerPool::busy_count() const {
  return static_cast<int>(std::count_if(workers_.begin(), workers_.end(), [](const auto& w) { return w->busy; }));
}

std::vector<int> WorkerPool::pids() const {
  std::vector<int> out;
  for (const auto& w : workers_) out.push_back(w->pid);
  return out;
}

}  // namespace mlflow_bridge::internal
