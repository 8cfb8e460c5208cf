#include "mlflow_bridge/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "test_support.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "mlflow_bridge/logging.h"
#include "mock_transport.h"

namespace mlflow_bridge {
namespace {

using ::mlflow_bridge::testing::ScopedEnv;

using std::chrono::milliseconds;

// ---------------------------------------------------------------------------
// A small loopback HTTP/1.1 server: keep-alive, Content-Length bodies, one
// thread per connection, scripted by a handler.

struct ServerRequest {
  std::string method;
  std::string target;
  HttpHeaders headers;
  std::string body;
};

struct ServerResponse {
  long code = 200;
  HttpHeaders headers;
  std::string body;
  std::string raw;       // when set, sent as is instead of the above
  bool hang_up = false;  // close the connection without a reply (the request was received)
};

class LoopbackServer {
 public:
  using Handler = std::function<ServerResponse(const ServerRequest&)>;

  explicit LoopbackServer(Handler handler) : handler_(std::move(handler)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(listen_fd_, 64) != 0 || ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "could not start the loopback server";
      return;
    }
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }
  ~LoopbackServer() { Stop(); }

  int port() const { return port_; }
  std::string url(const std::string& path = "/") const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  int accepted() {
    std::lock_guard<std::mutex> lock(mu_);
    return accepted_;
  }
  std::vector<ServerRequest> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  // Sleeps for a handler, cut short when the server stops.
  void WaitOrStop(milliseconds d) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, d, [this] { return stopping_; });
  }

  void Stop() {
    std::vector<std::thread> workers;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      stopping_ = true;
      for (int fd : conns_) ::shutdown(fd, SHUT_RDWR);
    }
    cv_.notify_all();
    if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
    if (acceptor_.joinable()) acceptor_.join();
    {
      std::lock_guard<std::mutex> lock(mu_);
      workers.swap(workers_);
    }
    for (auto& t : workers) t.join();
    for (int fd : conns_) ::close(fd);
    if (listen_fd_ >= 0) ::close(listen_fd_);
  }

 private:
  void AcceptLoop() {
    while (true) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) {
        if (fd >= 0) ::close(fd);
        return;
      }
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        return;
      }
      ++accepted_;
      conns_.push_back(fd);  // closed in Stop(), so that the number is never reused while we hold it
      workers_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  static bool SendAll(int fd, const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }

  static std::string Lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }

  void Serve(int fd) {
    std::string buf;
    char chunk[65536];
    while (true) {
      size_t head_end;
      while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
        if (!buf.empty() && !std::isupper(static_cast<unsigned char>(buf[0]))) {  // not HTTP (a TLS hello)
          ::shutdown(fd, SHUT_RDWR);
          return;
        }
        ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
        if (n <= 0) return;
        buf.append(chunk, static_cast<size_t>(n));
      }
      ServerRequest req;
      std::string head = buf.substr(0, head_end);
      buf.erase(0, head_end + 4);
      size_t eol = head.find("\r\n");
      std::string line = head.substr(0, eol);
      size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
      req.method = line.substr(0, sp1);
      req.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
      for (size_t pos = eol; pos != std::string::npos && pos < head.size();) {
        size_t next = head.find("\r\n", pos + 2);
        std::string h = head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
        size_t colon = h.find(':');
        if (colon != std::string::npos) {
          size_t v = h.find_first_not_of(' ', colon + 1);
          req.headers.emplace_back(h.substr(0, colon), v == std::string::npos ? "" : h.substr(v));
        }
        pos = next;
      }
      size_t length = 0;
      if (auto cl = FindHeader(req.headers, "Content-Length")) length = std::stoul(*cl);
      while (buf.size() < length) {
        ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
        if (n <= 0) return;
        buf.append(chunk, static_cast<size_t>(n));
      }
      req.body = buf.substr(0, length);
      buf.erase(0, length);
      {
        std::lock_guard<std::mutex> lock(mu_);
        requests_.push_back(req);
      }
      ServerResponse resp = handler_(req);
      if (resp.hang_up) {
        ::shutdown(fd, SHUT_RDWR);
        return;
      }
      std::string out = resp.raw;
      if (out.empty()) {
        out = "HTTP/1.1 " + std::to_string(resp.code) + " Whatever\r\n";
        for (const auto& [k, v] : resp.headers) out += k + ": " + v + "\r\n";
        out += "Content-Length: " + std::to_string(resp.body.size()) + "\r\n\r\n";
        if (req.method != "HEAD") out += resp.body;
      }
      bool close = Lower(FindHeader(req.headers, "Connection").value_or("")) == "close" ||
                   Lower(FindHeader(resp.headers, "Connection").value_or("")) == "close";
      if (!SendAll(fd, out) || close) {
        ::shutdown(fd, SHUT_RDWR);
        return;
      }
    }
  }

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread acceptor_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  int accepted_ = 0;
  std::vector<int> conns_;
  std::vector<std::thread> workers_;
  std::vector<ServerRequest> requests_;
};

// Echoes the request: method, target and body in the body; request headers as X-Echo-<name>.
ServerResponse Echo(const ServerRequest& r) {
  ServerResponse resp;
  resp.headers.emplace_back("X-Method", r.method);
  resp.headers.emplace_back("X-Target", r.target);
  for (const auto& [k, v] : r.headers)
    if (k.rfind("X-", 0) == 0) resp.headers.emplace_back("X-Echo-" + k.substr(2), v);
  resp.body = r.method + " " + r.target + " " + r.body;
  return resp;
}

// A port nobody listens on: bound, then closed.
int ClosedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Keeps proxies from the environment away from loopback tests.
class CurlTransportTest : public ::testing::Test {
 protected:
  ScopedEnv e1_{"http_proxy", nullptr}, e2_{"HTTP_PROXY", nullptr}, e3_{"https_proxy", nullptr}, e4_{"HTTPS_PROXY", nullptr},
      e5_{"all_proxy", nullptr}, e6_{"ALL_PROXY", nullptr};
  std::shared_ptr<HttpTransport> transport_ = MakeCurlTransport();
};

TEST_F(CurlTransportTest, MethodsRoundTrip) {
  LoopbackServer server(Echo);
  for (const char* method : {"GET", "POST", "PUT", "PATCH", "DELETE"}) {
    HttpRequest req;
    req.method = method;
    req.url = server.url("/items/1?x=y");
    req.headers = {{"X-Custom", std::string("v-") + method}, {"Content-Type", "application/json"}};
    req.body = std::string(method) == "GET" ? "" : "{\"a\": 1}";
    StatusOr<HttpResponse> r = transport_->Send(req);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->status_code, 200);
    EXPECT_TRUE(r->ok());
    EXPECT_EQ(r->body, std::string(method) + " /items/1?x=y " + req.body);
    EXPECT_EQ(r->Header("x-method"), method);
    EXPECT_EQ(r->Header("X-Echo-Custom"), std::string("v-") + method);
  }
  std::vector<ServerRequest> seen = server.requests();
  ASSERT_EQ(seen.size(), 5u);
  EXPECT_EQ(FindHeader(seen[1].headers, "Content-Type"), "application/json");
  EXPECT_EQ(FindHeader(seen[2].headers, "Content-Length"), "8");  // PUT carries its body
  EXPECT_EQ(FindHeader(seen[0].headers, "User-Agent"), "mlflow-bridge");
}

TEST_F(CurlTransportTest, ConnectToFromTheEnvironment) {
  LoopbackServer server(Echo);
  HttpRequest req;
  req.url = "http://registry.example.invalid/v2/";
  {
    ScopedEnv connect_to(
        "MLFLOW_BRIDGE_CONNECT_TO",
        (" other.example:443:127.0.0.1:1, registry.example.invalid::127.0.0.1:" + std::to_string(server.port())).c_str());
    StatusOr<HttpResponse> r = transport_->Send(req);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->body, "GET /v2/ ");
    ASSERT_EQ(server.requests().size(), 1u);
    EXPECT_EQ(FindHeader(server.requests()[0].headers, "Host"), "registry.example.invalid");  // under its own name
  }
  StatusOr<HttpResponse> r = transport_->Send(req);  // without it: the name does not resolve
  EXPECT_FALSE(r.ok());
}

TEST_F(CurlTransportTest, HeadHasNoBody) {
  LoopbackServer server([](const ServerRequest&) { return ServerResponse{200, {{"X-Size", "5"}}, "hello", ""}; });
  StatusOr<HttpResponse> r = transport_->Send({"HEAD", server.url("/h"), {}, "", std::nullopt});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status_code, 200);
  EXPECT_EQ(r->body, "");
  EXPECT_EQ(r->Header("x-size"), "5");
  EXPECT_EQ(r->Header("Content-Length"), "5");
  // The connection is still usable afterwards.
  r = transport_->Send({"GET", server.url("/h"), {}, "", std::nullopt});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, "hello");
}

TEST_F(CurlTransportTest, DeleteWithoutBodyAndEmptyPut) {
  LoopbackServer server(Echo);
  ASSERT_TRUE(transport_->Send({"DELETE", server.url("/d"), {}, "", std::nullopt}).ok());
  ASSERT_TRUE(transport_->Send({"PUT", server.url("/p"), {}, "", std::nullopt}).ok());
  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].method, "DELETE");
  EXPECT_FALSE(FindHeader(seen[0].headers, "Content-Length").has_value());
  EXPECT_EQ(seen[1].method, "PUT");
  EXPECT_EQ(FindHeader(seen[1].headers, "Content-Length"), "0");
}

TEST_F(CurlTransportTest, NonSuccessIsAResponseNotAnError) {
  LoopbackServer server([](const ServerRequest&) {
    return ServerResponse{404, {{"Content-Type", "application/json"}}, "{\"error\": \"nope\"}", ""};
  });
  StatusOr<HttpResponse> r = transport_->Send({"GET", server.url("/missing"), {}, "", std::nullopt});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status_code, 404);
  EXPECT_FALSE(r->ok());
  Status s = HttpErrorStatus(*r, "GET endpoint 'x'");
  EXPECT_EQ(s.code(), StatusCode::kResourceDoesNotExist);
  EXPECT_EQ(s.message(), "GET endpoint 'x': HTTP 404: {\"error\": \"nope\"}");
}

TEST_F(CurlTransportTest, LargeBodyWithoutExpectOrFormContentType) {
  LoopbackServer server([](const ServerRequest& r) { return ServerResponse{200, {}, std::to_string(r.body.size()), ""}; });
  std::string big(2 << 20, 'x');
  StatusOr<HttpResponse> r = transport_->Send({"POST", server.url("/big"), {}, big, std::nullopt});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body, std::to_string(big.size()));
  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_FALSE(FindHeader(seen[0].headers, "Expect").has_value());
  EXPECT_FALSE(FindHeader(seen[0].headers, "Content-Type").has_value());
}

TEST_F(CurlTransportTest, BodyStreamedFromAFileRange) {
  LoopbackServer server([](const ServerRequest& r) { return ServerResponse{202, {}, r.method + " " + r.body, ""}; });
  char path[] = "/tmp/mlflow-bridge-body-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  std::string content;
  for (int i = 0; i < 300000; ++i) content += static_cast<char>('a' + i % 26);
  ASSERT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
  ::close(fd);
  for (const char* method : {"PATCH", "PUT", "POST"}) {  // POST too: an upload is not turned into a PUT
    HttpRequest req;
    req.method = method;
    req.url = server.url("/upload");
    req.headers = {{"Content-Type", "application/octet-stream"}};
    req.body_file = HttpRequest::FileBody{path, 1000, 200000};
    std::vector<uint64_t> sent;  // the upload's progress
    req.body_file->progress = [&sent](uint64_t done, uint64_t total) {
      EXPECT_EQ(total, 200000u);
      sent.push_back(done);
    };
    StatusOr<HttpResponse> r = transport_->Send(req);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->status_code, 202);
    ASSERT_FALSE(sent.empty());
    EXPECT_TRUE(std::is_sorted(sent.begin(), sent.end()));
    EXPECT_EQ(sent.back(), 200000u);
    EXPECT_EQ(r->body, std::string(method) + " " + content.substr(1000, 200000));
  }
  HttpRequest beyond;  // the file is shorter than announced: an error, not a short body
  beyond.method = "PUT";
  beyond.url = server.url("/upload");
  beyond.body_file = HttpRequest::FileBody{path, 299000, 5000};
  EXPECT_FALSE(transport_->Send(beyond).ok());
  HttpRequest missing = beyond;
  missing.body_file->path = std::string(path) + "-missing";
  EXPECT_EQ(transport_->Send(missing).status().code(), StatusCode::kInvalidParameterValue);
  ::unlink(path);
}

TEST_F(CurlTransportTest, OnlyFinalResponseHeadersAfterInterim) {
  LoopbackServer server([](const ServerRequest&) {
    return ServerResponse{0,
                          {},
                          "",
                          "HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n"
                          "HTTP/1.1 201 Created\r\nX-Final: yes\r\nContent-Length: 2\r\n\r\nok"};
  });
  StatusOr<HttpResponse> r = transport_->Send({"POST", server.url("/"), {}, "b", std::nullopt});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status_code, 201);
  EXPECT_EQ(r->body, "ok");
  EXPECT_EQ(r->Header("X-Final"), "yes");
  EXPECT_FALSE(r->Header("X-Interim").has_value());
}

TEST_F(CurlTransportTest, SequentialRequestsReuseOneConnection) {
  LoopbackServer server(Echo);
  for (int i = 0; i < 10; ++i) {
    std::string path = "/";
    path += std::to_string(i);
    StatusOr<HttpResponse> r = transport_->Send({"GET", server.url(path), {}, "", std::nullopt});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  EXPECT_EQ(server.requests().size(), 10u);
  EXPECT_EQ(server.accepted(), 1);
}

TEST_F(CurlTransportTest, ConcurrentRequests) {
  LoopbackServer server(Echo);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        std::string path = "/t" + std::to_string(t) + "/" + std::to_string(i);
        StatusOr<HttpResponse> r = transport_->Send({"POST", server.url(path), {}, "b", std::nullopt});
        if (r.ok() && r->body == "POST " + path + " b") ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 40);
  EXPECT_EQ(server.requests().size(), 40u);
  EXPECT_LE(server.accepted(), 8);  // connections are pooled, not one per request
}

TEST_F(CurlTransportTest, RetryAfterSurfacedThroughHttpErrorStatus) {
  LoopbackServer server([](const ServerRequest&) { return ServerResponse{503, {{"Retry-After", "7"}}, "busy", ""}; });
  StatusOr<HttpResponse> r = transport_->Send({"GET", server.url(), {}, "", std::nullopt});
  ASSERT_TRUE(r.ok());
  Status s = HttpErrorStatus(*r, "GET x");
  EXPECT_EQ(s.code(), StatusCode::kTemporarilyUnavailable);
  ASSERT_TRUE(s.retry_after().has_value());
  EXPECT_EQ(*s.retry_after(), milliseconds(7000));
}

TEST_F(CurlTransportTest, TotalTimeoutIsDeadlineExceeded) {
  LoopbackServer* self = nullptr;
  LoopbackServer server([&](const ServerRequest&) {
    self->WaitOrStop(milliseconds(5000));
    return ServerResponse{200, {}, "late", ""};
  });
  self = &server;
  HttpRequest req{"GET", server.url("/slow"), {}, "", milliseconds(200)};
  StatusOr<HttpResponse> r = transport_->Send(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded) << r.status().ToString();
  EXPECT_NE(r.status().message().find("GET " + server.url("/slow")), std::string::npos) << r.status().message();
  EXPECT_FALSE(r.status().not_processed()) << "the server may be working on it";
  server.Stop();
}

TEST_F(CurlTransportTest, TransportTimeoutOption) {
  LoopbackServer* self = nullptr;
  LoopbackServer server([&](const ServerRequest&) {
    self->WaitOrStop(milliseconds(5000));
    return ServerResponse{};
  });
  self = &server;
  TransportOptions options;
  options.total_timeout = milliseconds(200);
  StatusOr<HttpResponse> r = MakeCurlTransport(options)->Send({"GET", server.url(), {}, "", std::nullopt});
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded) << r.status().ToString();
  server.Stop();
}

TEST_F(CurlTransportTest, ConnectionRefusedIsUnavailable) {
  std::string url = "http://user:s3cret@127.0.0.1:" + std::to_string(ClosedPort()) + "/x";
  StatusOr<HttpResponse> r = transport_->Send({"GET", url, {{"Authorization", "Bearer topsecret"}}, "", std::nullopt});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTemporarilyUnavailable) << r.status().ToString();
  EXPECT_TRUE(r.status().not_processed()) << "nothing was sent";
  const std::string& m = r.status().message();
  EXPECT_NE(m.find("GET http://***@127.0.0.1:"), std::string::npos) << m;
  EXPECT_EQ(m.find("s3cret"), std::string::npos) << m;
  EXPECT_EQ(m.find("topsecret"), std::string::npos) << m;
}

// The request went out and the connection closed without a reply (CURLE_GOT_NOTHING): transient, but
// the server may have acted on it, so it is not marked "not processed" (decision 0002).
TEST_F(CurlTransportTest, NoReplyIsUnavailableButNotNotProcessed) {
  LoopbackServer server([](const ServerRequest&) { return ServerResponse{.hang_up = true}; });
  StatusOr<HttpResponse> r = transport_->Send({"POST", server.url("/invocations"), {}, "{}", std::nullopt});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTemporarilyUnavailable) << r.status().ToString();
  EXPECT_FALSE(r.status().not_processed()) << r.status().ToString();
  EXPECT_EQ(server.requests().size(), 1u);
}

// A reply cut short (CURLE_PARTIAL_FILE): the same.
TEST_F(CurlTransportTest, PartialReplyIsUnavailableButNotNotProcessed) {
  LoopbackServer server([](const ServerRequest&) {
    return ServerResponse{.headers = {{"Connection", "close"}},  // closes after the raw bytes
                          .raw = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\nshort"};
  });
  StatusOr<HttpResponse> r = transport_->Send({"POST", server.url("/invocations"), {}, "{}", std::nullopt});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTemporarilyUnavailable) << r.status().ToString();
  EXPECT_FALSE(r.status().not_processed()) << r.status().ToString();
  EXPECT_EQ(server.requests().size(), 1u);
}

// What decision 0002 leaves open ("fresh_connection for predict?"): on a kept-alive connection that
// closes without a reply, libcurl sends the request again on a new one (HTTP/1.1 allows it for a
// connection the server closed while idle), so a server that received it and then dropped the
// connection sees it twice. A fresh connection is never re-sent.
TEST_F(CurlTransportTest, LibcurlResendsOnlyOnAReusedConnection) {
  std::atomic<int> seen{0};
  LoopbackServer server([&](const ServerRequest&) {
    return ++seen == 1 ? ServerResponse{200, {}, "ok", ""} : ServerResponse{.hang_up = true};
  });
  HttpRequest post{"POST", server.url("/invocations"), {}, "{}", std::nullopt};
  ASSERT_TRUE(transport_->Send(post).ok());  // the connection is kept
  StatusOr<HttpResponse> r = transport_->Send(post);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTemporarilyUnavailable) << r.status().ToString();
  EXPECT_EQ(server.requests().size(), 3u);  // the second request twice

  post.fresh_connection = true;
  r = transport_->Send(post);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(server.requests().size(), 4u);  // once
}

TEST_F(CurlTransportTest, BadUrlIsInvalidParameter) {
  StatusOr<HttpResponse> r = transport_->Send({"GET", "ftp://127.0.0.1/x", {}, "", std::nullopt});
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidParameterValue) << r.status().ToString();
  r = transport_->Send({"GET", "http://[::1", {}, "", std::nullopt});
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidParameterValue) << r.status().ToString();
}

TEST_F(CurlTransportTest, HeaderInjectionRejected) {
  StatusOr<HttpResponse> r =
      transport_->Send({"GET", "http://127.0.0.1:1/", {{"X-A", "v\r\nX-Injected: 1"}}, "", std::nullopt});
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidParameterValue);
}

TEST_F(CurlTransportTest, HttpProxyFromEnvironmentIsHonoured) {
  LoopbackServer proxy([](const ServerRequest& r) { return ServerResponse{200, {}, "via proxy " + r.target, ""}; });
  ScopedEnv p("http_proxy", proxy.url().c_str());
  ScopedEnv n1("NO_PROXY", nullptr), n2("no_proxy", nullptr);
  StatusOr<HttpResponse> r = transport_->Send({"GET", "http://example.invalid/x", {}, "", std::nullopt});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body, "via proxy http://example.invalid/x");
  auto seen = proxy.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].target, "http://example.invalid/x");  // absolute-URI request line
  EXPECT_EQ(FindHeader(seen[0].headers, "Host"), "example.invalid");
}

TEST_F(CurlTransportTest, ProxyOptionWinsOverTheEnvironmentAndNoProxy) {
  LoopbackServer proxy([](const ServerRequest& r) { return ServerResponse{200, {}, "via proxy " + r.target, ""}; });
  LoopbackServer other([](const ServerRequest&) { return ServerResponse{200, {}, "via the environment's proxy", ""}; });
  ScopedEnv p("http_proxy", other.url().c_str());
  ScopedEnv n1("NO_PROXY", "example.invalid"), n2("no_proxy", "example.invalid");
  TransportOptions options;
  options.proxy = proxy.url();
  StatusOr<HttpResponse> r = MakeCurlTransport(options)->Send({"GET", "http://example.invalid/x", {}, "", std::nullopt});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body, "via proxy http://example.invalid/x");
  EXPECT_EQ(other.requests().size(), 0u);
}

TEST_F(CurlTransportTest, HttpsToPlainHttpPortFails) {
  LoopbackServer server(Echo);
  TransportOptions options;
  options.connect_timeout = milliseconds(1000);
  options.total_timeout = milliseconds(1500);
  StatusOr<HttpResponse> r = MakeCurlTransport(options)->Send(
      {"GET", "https://127.0.0.1:" + std::to_string(server.port()) + "/", {}, "", std::nullopt});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("https://127.0.0.1:"), std::string::npos) << r.status().message();
}

TEST_F(CurlTransportTest, DebugLogShowsTrafficButNoSecrets) {
  std::vector<std::string> lines;
  std::mutex mu;
  LogLevel old_level = GetLogLevel();
  LogSink old_sink = SetLogSink([&](LogLevel, std::string_view m) {
    std::lock_guard<std::mutex> lock(mu);
    lines.emplace_back(m);
  });
  SetLogLevel(LogLevel::kDebug);
  LoopbackServer server([](const ServerRequest&) {
    return ServerResponse{200, {{"Set-Cookie", "sid=cookie-value"}, {"X-Plain", "visible"}}, "body", ""};
  });
  StatusOr<HttpResponse> r = transport_->Send(
      {"GET", server.url("/log"), {{"Authorization", "Bearer topsecret"}, {"X-Api-Key", "k-123"}}, "", std::nullopt});
  SetLogLevel(old_level);
  SetLogSink(old_sink);
  ASSERT_TRUE(r.ok());
  std::string all;
  for (const auto& l : lines) all += l + "\n";
  EXPECT_NE(all.find("-> GET " + server.url("/log")), std::string::npos) << all;
  EXPECT_NE(all.find("<- 200 (4 bytes, "), std::string::npos) << all;
  EXPECT_NE(all.find("Authorization: ***"), std::string::npos) << all;
  EXPECT_NE(all.find("X-Plain: visible"), std::string::npos) << all;
  for (const char* secret : {"topsecret", "k-123", "cookie-value"}) EXPECT_EQ(all.find(secret), std::string::npos) << all;
}

// ---------------------------------------------------------------------------

TEST(MockTransportTest, RecordsAndReplies) {
  MockTransport mock;
  mock.Enqueue(200, "{\"ok\": true}", {{"Content-Type", "application/json"}});
  mock.Enqueue(UnavailableError("down"));
  HttpRequest req{"POST", "https://api.example/v1/x", {{"A", "1"}}, "payload", std::nullopt};
  StatusOr<HttpResponse> r1 = mock.Send(req);
  ASSERT_TRUE(r1.ok());
  EXPECT_EQ(r1->status_code, 200);
  EXPECT_EQ(r1->Header("content-type"), "application/json");
  StatusOr<HttpResponse> r2 = mock.Send(req);
  EXPECT_EQ(r2.status().code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_EQ(mock.Send(req).status().code(), StatusCode::kInternalError);  // nothing queued
  auto seen = mock.requests();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].url, "https://api.example/v1/x");
  EXPECT_EQ(seen[0].body, "payload");
}

TEST(FindHeaderTest, CaseInsensitiveFirstMatch) {
  HttpHeaders h = {{"Content-Type", "a"}, {"content-type", "b"}, {"X", ""}};
  EXPECT_EQ(FindHeader(h, "CONTENT-TYPE"), "a");
  EXPECT_EQ(FindHeader(h, "x"), "");
  EXPECT_FALSE(FindHeader(h, "missing").has_value());
  EXPECT_FALSE(FindHeader(h, "Content-Typ").has_value());
}

TEST(HttpErrorStatusTest, CodeMapping) {
  const std::pair<long, StatusCode> cases[] = {
      {400, StatusCode::kInvalidParameterValue},  {422, StatusCode::kInvalidParameterValue},
      {405, StatusCode::kInvalidParameterValue},  {401, StatusCode::kUnauthenticated},
      {403, StatusCode::kPermissionDenied},       {404, StatusCode::kResourceDoesNotExist},
      {410, StatusCode::kResourceDoesNotExist},   {409, StatusCode::kResourceAlreadyExists},
      {408, StatusCode::kTemporarilyUnavailable}, {429, StatusCode::kTemporarilyUnavailable},
      {502, StatusCode::kTemporarilyUnavailable}, {503, StatusCode::kTemporarilyUnavailable},
      {504, StatusCode::kTemporarilyUnavailable}, {500, StatusCode::kInternalError},
      {501, StatusCode::kInternalError},          {302, StatusCode::kInternalError},
  };
  for (const auto& [code, expected] : cases) {
    HttpResponse r;
    r.status_code = code;
    EXPECT_EQ(HttpErrorStatus(r, "op").code(), expected) << code;
  }
}

TEST(HttpErrorStatusTest, MessageExcerptIsShortAndRedacted) {
  HttpResponse r{500, {}, std::string(600, 'e')};
  Status s = HttpErrorStatus(r, "POST https://h/x");
  EXPECT_EQ(s.message(), "POST https://h/x: HTTP 500: " + std::string(500, 'e') + "...");
  r = HttpResponse{400, {}, "{\"access_token\": \"abc123\", \"error\": \"bad\"}"};
  s = HttpErrorStatus(r, "op");
  EXPECT_EQ(s.message(), "op: HTTP 400: {\"access_token\": \"***\", \"error\": \"bad\"}");
  r = HttpResponse{404, {}, ""};
  EXPECT_EQ(HttpErrorStatus(r, "op").message(), "op: HTTP 404");
  EXPECT_FALSE(HttpErrorStatus(r, "op").retry_after().has_value());
}

TEST(ParseRetryAfterTest, Seconds) {
  auto now = std::chrono::system_clock::now();
  EXPECT_EQ(ParseRetryAfter("120", now), milliseconds(120'000));
  EXPECT_EQ(ParseRetryAfter(" 0 ", now), milliseconds(0));
  EXPECT_EQ(ParseRetryAfter("-5", now), milliseconds(0));
  EXPECT_EQ(ParseRetryAfter("99999999999999999999", now), milliseconds(365LL * 24 * 3600 * 1000));
}

TEST(ParseRetryAfterTest, HttpDate) {
  auto base = std::chrono::system_clock::from_time_t(784111777);  // Sun, 06 Nov 1994 08:49:37 GMT
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", base - std::chrono::seconds(30)), milliseconds(30'000));
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", base + std::chrono::seconds(30)), milliseconds(0));
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", base), milliseconds(0));
}

TEST(ParseRetryAfterTest, Garbage) {
  auto now = std::chrono::system_clock::now();
  for (const char* bad : {"", "soon", "1.5", "12abc", "Sun, 06 Nov 1994 08:49:37 PST", "Sunday, 06-Nov-94 08:49:37 GMT",
                          "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 36 Nov 1994 08:49:37 GMT", "--5"})
    EXPECT_FALSE(ParseRetryAfter(bad, now).has_value()) << bad;
}

// PEM held in memory (TransportOptions::ca_pem / client_cert_pem / client_key_pem)
// reaches curl: LoopbackServer has no TLS, so this shows that curl loads the
// blobs (and refuses garbage before any handshake) without echoing them.
TEST_F(CurlTransportTest, PemBlobsReachCurl) {
  LoopbackServer server(Echo);
  const std::string url = "https://127.0.0.1:" + std::to_string(server.port()) + "/";
  const std::string bad_pem = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA-secret-blob\n-----END CERTIFICATE-----\n";
  TransportOptions ca;
  ca.ca_pem = bad_pem;
  StatusOr<HttpResponse> r = MakeCurlTransport(ca)->Send({"GET", url, {}, "", std::nullopt});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidParameterValue) << r.status().ToString();
  EXPECT_EQ(r.status().message().find("secret-blob"), std::string::npos) << r.status().message();
  TransportOptions client;
  client.client_cert_pem = bad_pem;
  client.client_key_pem = "-----BEGIN PRIVATE KEY-----\nkey-secret-blob\n-----END PRIVATE KEY-----\n";
  r = MakeCurlTransport(client)->Send({"GET", url, {}, "", std::nullopt});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidParameterValue) << r.status().ToString();
  EXPECT_EQ(r.status().message().find("secret-blob"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace mlflow_bridge
