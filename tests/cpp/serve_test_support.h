// For the native server's tests: fake workers (threads speaking the worker protocol, no Python), a raw HTTP
// client that can send anything (byte by byte, pipelined, malformed), and a server running on its own thread.
//
// A fake worker answers a predict frame by its body:
//   "sleep:<ms>:<text>"  waits <ms> (or until its link closes), then answers 200 with <text>
//   "gate:<name>:<text>" waits until the test calls Release(<name>) (or its link closes), then answers 200 <text>
//   "hang"               never answers (until its link closes)
//   "crash"              closes its link (a worker dying mid-request)
//   "status:<code>"      answers <code> with an MLflow-style error JSON
//   anything else        answers 200, application/json, {"body": <body>, "content_type": <content type or null>}
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "serve/model_server.h"
#include "serve/protocol.h"
#include "serve/worker_pool.h"

namespace mlflow_bridge::internal::testing {

// A bound for a broken test (a hang), never a timing expectation.
inline constexpr std::chrono::seconds kHangGuard{60};

struct FakeWorkerOptions {
  std::optional<std::string> load_error;  // send {"type": "error"} instead of ready
  std::string mlflow_version = "9.9.9-fake";
};

class FakeLauncher : public WorkerLauncher {
 public:
  explicit FakeLauncher(FakeWorkerOptions options = {}) : options_(std::move(options)) {}
  ~FakeLauncher() override {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [pid, w] : workers_) {
      shutdown(w->fd, SHUT_RDWR);
      if (w->thread.joinable()) w->thread.join();
      close(w->fd);
    }
  }

  StatusOr<Started> Start(int index) override {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return InternalError("socketpair");
    auto w = std::make_unique<Worker>();
    w->fd = sv[1];
    w->index = index;
    int pid = next_pid_++;
    Worker* raw = w.get();
    w->thread = std::thread([this, raw] { Run(*raw); });
    std::lock_guard<std::mutex> lock(mu_);
    workers_[pid] = std::move(w);
    ++started_;
    return Started{sv[0], pid};
  }
  void Kill(int /*index*/, int pid) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = workers_.find(pid); it != workers_.end()) shutdown(it->second->fd, SHUT_RDWR);
  }
  std::optional<std::string> Reap(int /*index*/, int pid) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = workers_.find(pid);
    if (it == workers_.end()) return std::string("gone");
    if (!it->second->done) return std::nullopt;
    it->second->thread.join();
    close(it->second->fd);
    workers_.erase(it);
    return std::string("exit status 0");
  }
  int started() const { return started_; }
  // Lets workers waiting at gate `name` answer.
  void Release(const std::string& name) {
    std::lock_guard<std::mutex> lock(gates_mu_);
    released_.push_back(name);
  }

 private:
  struct Worker {
    int fd = -1;
    int index = 0;
    std::thread thread;
    std::atomic<bool> done{false};
  };

  static bool SendAll(int fd, const std::string& bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }
  // Waits up to `ms` for the link to close; true when it did.
  static bool WaitClosed(int fd, int ms) {
    pollfd p{fd, POLLIN, 0};
    int r = poll(&p, 1, ms);
    if (r <= 0) return false;
    char c;
    return recv(fd, &c, 1, MSG_PEEK) <= 0;
  }

  void Run(Worker& w) {
    using json = nlohmann::json;
    if (options_.load_error) {
      SendAll(w.fd, EncodeFrame(json{{"type", "error"}, {"message", *options_.load_error}}, ""));
      shutdown(w.fd, SHUT_RDWR);
      w.done = true;
      return;
    }
    SendAll(w.fd, EncodeFrame(json{{"type", "ready"},
                                   {"mlflow_version", options_.mlflow_version},
                                   {"flavors", {"python_function", "sklearn"}},
                                   {"loader_module", "mlflow.sklearn"},
                                   {"input_schema", true}},
                              ""));
    FrameDecoder decoder(1 << 30);
    char buf[65536];
    while (true) {
      ssize_t n = recv(w.fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      if (!decoder.Feed(std::string_view(buf, static_cast<size_t>(n))).ok()) break;
      bool stop = false;
      while (!stop) {
        auto frame = decoder.Next();
        if (!frame.ok() || !frame->has_value()) break;
        stop = !Answer(w, **frame);
      }
      if (stop) break;
    }
    shutdown(w.fd, SHUT_RDWR);
    w.done = true;
  }

  // False when the worker ends.
  bool Answer(Worker& w, const Frame& frame) {
    using json = nlohmann::json;
    const std::string& body = frame.payload;
    json reply = {{"type", "reply"}, {"id", frame.header["id"]}, {"status", 200}, {"content_type", "application/json"}};
    std::string out;
    if (body == "crash") return false;
    if (body == "hang") {
      while (!WaitClosed(w.fd, 1000)) {
      }
      return false;
    }
    if (body.rfind("gate:", 0) == 0) {
      size_t colon = body.find(':', 5);
      std::string gate = body.substr(5, colon - 5);
      while (!Released(gate)) {
        if (WaitClosed(w.fd, 5)) return false;
      }
      out = colon == std::string::npos ? "" : body.substr(colon + 1);
    } else if (body.rfind("sleep:", 0) == 0) {
      size_t colon = body.find(':', 6);
      int ms = std::stoi(body.substr(6, colon - 6));
      if (WaitClosed(w.fd, ms)) return false;
      out = colon == std::string::npos ? "" : body.substr(colon + 1);
    } else if (body.rfind("status:", 0) == 0) {
      reply["status"] = std::stoi(body.substr(7));
      out = R"({"error_code": "BAD_REQUEST", "message": "fake error"})";
    } else {
      out = json{{"body", body}, {"content_type", frame.header["content_type"]}, {"worker", w.index}}.dump();
    }
    return SendAll(w.fd, EncodeFrame(reply, out));
  }

  bool Released(const std::string& gate) {
    std::lock_guard<std::mutex> lock(gates_mu_);
    return std::find(released_.begin(), released_.end(), gate) != released_.end();
  }

  FakeWorkerOptions options_;
  std::mutex gates_mu_;
  std::vector<std::string> released_;
  std::mutex mu_;
  std::map<int, std::unique_ptr<Worker>> workers_;
  std::atomic<int> next_pid_{40001};
  std::atomic<int> started_{0};
};

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

// One TCP connection to the server, for raw HTTP/1.1.
class RawConnection {
 public:
  explicit RawConnection(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~RawConnection() {
    if (fd_ >= 0) close(fd_);
  }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;
  bool connected() const { return connected_; }

  bool Send(std::string_view bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      ssize_t n = send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }

  // The next response; nullopt when the connection closed first (or nothing came within the hang guard).
  std::optional<HttpResponse> Read(bool head = false) {
    HttpResponse r;
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return std::nullopt;
    }
    std::string head_text = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    size_t line_end = head_text.find("\r\n");
    std::string status_line = head_text.substr(0, line_end);
    if (status_line.size() < 12) return std::nullopt;
    r.status = std::stoi(status_line.substr(9, 3));
    size_t pos = line_end == std::string::npos ? head_text.size() : line_end + 2;
    while (pos < head_text.size()) {
      size_t next = head_text.find("\r\n", pos);
      if (next == std::string::npos) next = head_text.size();
      std::string line = head_text.substr(pos, next - pos);
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        size_t v = colon + 1;
        while (v < line.size() && line[v] == ' ') ++v;
        r.headers[name] = line.substr(v);
      }
      pos = next + 2;
    }
    if (head || r.status == 204 || r.status == 304) return r;
    size_t length = r.headers.count("content-length") ? std::stoul(r.headers["content-length"]) : 0;
    while (buffer_.size() < length) {
      if (!Fill()) return std::nullopt;
    }
    r.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return r;
  }

  // Whether the server closed the connection (EOF with nothing more to read), waiting up to the hang guard.
  bool Closed() {
    if (!buffer_.empty()) return false;
    return !Fill();
  }

 private:
  bool Fill() {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(std::chrono::milliseconds(kHangGuard).count())) <= 0) return false;
    char buf[65536];
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return false;
    buffer_.append(buf, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  std::string buffer_;
};

inline std::string Request(const std::string& method, const std::string& path, const std::string& body = "",
                           const std::vector<std::string>& headers = {"Content-Type: application/json"}) {
  std::string r = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (const auto& h : headers) r += h + "\r\n";
  if (!body.empty() || method == "POST") r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  r += "\r\n" + body;
  return r;
}

// One request on a new connection.
inline std::optional<HttpResponse> Fetch(int port, const std::string& method, const std::string& path,
                                         const std::string& body = "",
                                         const std::vector<std::string>& headers = {"Content-Type: application/json"}) {
  RawConnection c(port);
  if (!c.connected() || !c.Send(Request(method, path, body, headers))) return std::nullopt;
  return c.Read(method == "HEAD");
}

// A metric's value in /metrics' text ("name{labels}" as written), or -1 when absent.
inline double MetricValue(const std::string& text, const std::string& sample) {
  size_t pos = 0;
  while ((pos = text.find(sample + " ", pos)) != std::string::npos) {
    if (pos == 0 || text[pos - 1] == '\n') return std::stod(text.substr(pos + sample.size() + 1));
    pos += sample.size();
  }
  return -1;
}

// Polls /metrics until `sample` has `value` (the server's state, not a clock, decides when a test goes on).
inline bool WaitForMetric(int port, const std::string& sample, double value) {
  auto deadline = std::chrono::steady_clock::now() + kHangGuard;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = Fetch(port, "GET", "/metrics", "", {});
    if (r && MetricValue(r->body, "mlflow_bridge_serve_" + sample) == value) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

// A ModelServer with fake workers on 127.0.0.1, its event loop on a thread of its own.
class RunningServer {
 public:
  explicit RunningServer(ModelServerOptions options, FakeWorkerOptions workers = {}) {
    signal(SIGPIPE, SIG_IGN);
    options.host = "127.0.0.1";
    options.port = 0;
    options.handle_signals = false;
    auto launcher = std::make_unique<FakeLauncher>(workers);
    launcher_ = launcher.get();
    server_ = std::make_unique<ModelServer>(options, std::move(launcher));
    init_ = server_->Init();
    if (!init_.ok()) return;
    port_ = server_->port();
    auto listening = std::make_shared<std::promise<void>>();
    std::future<void> ready = listening->get_future();
    server_->set_on_listening([listening] { listening->set_value(); });
    thread_ = std::thread([this] { result_ = server_->Run(); });
    if (workers.load_error) return;  // it never listens
    listening_ = ready.wait_for(kHangGuard) == std::future_status::ready;
  }
  ~RunningServer() { (void)Stop(); }

  bool ok() const { return init_.ok() && listening_; }
  int port() const { return port_; }
  FakeLauncher& launcher() { return *launcher_; }
  // Drains and waits for Run to return; its result.
  Status Stop() {
    if (thread_.joinable()) {
      server_->RequestStop();
      thread_.join();
    }
    return result_;
  }
  // Waits for Run to return by itself.
  Status Join() {
    if (thread_.joinable()) thread_.join();
    return result_;
  }
  void RequestStop() { server_->RequestStop(); }

 private:
  std::unique_ptr<ModelServer> server_;
  FakeLauncher* launcher_ = nullptr;
  std::thread thread_;
  Status init_;
  Status result_;
  int port_ = 0;
  bool listening_ = false;
};

}  // namespace mlflow_bridge::internal::testing
