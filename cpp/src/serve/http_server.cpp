#include "serve/http_server.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "mlflow_bridge/logging.h"
#include "serve/v2_protocol.h"

namespace mlflow_bridge::internal {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kJson = "application/json";
constexpr std::string_view kNotFound = R"({"detail":"Not Found"})";
constexpr std::string_view kMethodNotAllowed = R"({"detail":"Method Not Allowed"})";

// The Open Inference Protocol's error body.
std::string V2Error(const std::string& message) {
  return nlohmann::json{{"error", message}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

const char* MethodName(evhttp_cmd_type cmd) {
  switch (cmd) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_TRACE: return "TRACE";
    case EVHTTP_REQ_CONNECT: return "CONNECT";
    case EVHTTP_REQ_PATCH: return "PATCH";
  }
  return "UNKNOWN";
}

// Header bytes as text: Starlette reads them as Latin-1, so a byte >= 0x80 is that code point, in UTF-8.
std::string Latin1ToUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

// A header value as we may send it: no CR, LF or NUL (evhttp refuses those).
std::string HeaderSafe(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c != '\r' && c != '\n' && c != '\0') out += c;
  }
  return out;
}

bool ValidRequestId(const char* id) {
  if (id == nullptr) return false;
  size_t n = std::strlen(id);
  if (n == 0 || n > 200) return false;
  for (size_t i = 0; i < n; ++i) {
    auto c = static_cast<unsigned char>(id[i]);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

std::string PercentDecodePath(const char* path) {
  if (path == nullptr || *path == '\0') return "/";
  size_t n = 0;
  char* decoded = evhttp_uridecode(path, 0, &n);  // "+" stays "+" in a path
  if (decoded == nullptr) return path;
  std::string out(decoded, n);
  std::free(decoded);
  return out;
}

timeval ToTimeval(std::chrono::milliseconds d) {
  return timeval{static_cast<time_t>(d.count() / 1000), static_cast<suseconds_t>((d.count() % 1000) * 1000)};
}

}  // namespace

RouteMatch MatchRoute(std::string_view path) {
  using Kind = RouteMatch::Kind;
  if (path == "/invocations" || path == "/score" || path == "/predict") {
    return {Kind::kPredict, std::string(path), "POST", ""};
  }
  if (path == "/ping" || path == "/health") return {Kind::kPing, std::string(path), "GET, HEAD", ""};
  if (path == "/version") return {Kind::kVersion, "/version", "GET", ""};
  if (path == "/metrics") return {Kind::kMetrics, "/metrics", "GET", ""};
  if (path == "/v2/health/live") return {Kind::kV2Live, "/v2/health/live", "GET, HEAD", ""};
  if (path == "/v2/health/ready") return {Kind::kV2Ready, "/v2/health/ready", "GET, HEAD", ""};
  // /v2/models/{m}[/versions/{v}][/ready | /infer]
  constexpr std::string_view kModels = "/v2/models/";
  if (path.substr(0, std::min(path.size(), kModels.size())) == kModels) {
    std::vector<std::string_view> parts;
    for (std::string_view rest = path.substr(kModels.size());;) {
      size_t slash = rest.find('/');
      parts.push_back(rest.substr(0, slash));
      if (slash == std::string_view::npos) break;
      rest.remove_prefix(slash + 1);
    }
    std::string version;
    if (parts.size() >= 3 && parts[1] == "versions") {
      version = std::string(parts[2]);
      parts.erase(parts.begin() + 1, parts.begin() + 3);
      if (version.empty()) return {Kind::kNone, "other", "", ""};
    }
    if (!parts.empty() && !parts[0].empty()) {
      std::string model(parts[0]);
      if (parts.size() == 1) return {Kind::kV2Model, "/v2/models/{m}", "GET, HEAD", model, version};
      if (parts.size() == 2 && parts[1] == "ready")
        return {Kind::kV2ModelReady, "/v2/models/{m}/ready", "GET, HEAD", model, version};
      if (parts.size() == 2 && parts[1] == "infer") return {Kind::kV2Infer, "/v2/models/{m}/infer", "POST", model, version};
    }
  }
  return {Kind::kNone, "other", "", ""};
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Request Entity Too Large";
    case 414: return "Request-URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Requested Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 418: return "I'm a Teapot";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Entity";
    case 423: return "Locked";
    case 424: return "Failed Dependency";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 507: return "Insufficient Storage";
    case 511: return "Network Authentication Required";
    default: return "Unknown";
  }
}

// One request being answered.
struct HttpServer::Exchange {
  evhttp_request* req = nullptr;
  std::string request_id;
  const char* method = "";
  std::string uri;
  std::string route;  // label
  Clock::time_point start;
  bool head = false;
  bool log_prediction = false;
  std::string logged_body;  // the request body, kept for the prediction log when sampled
  bool answered = false;
};

HttpServer::HttpServer(event_base* base, HttpServerOptions options, Dispatcher& dispatcher, WorkerPool& pool,
                       Metrics& metrics, std::unique_ptr<LineFile> access_log, std::unique_ptr<PredictionLog> prediction_log)
    : base_(base),
      options_(std::move(options)),
      dispatcher_(dispatcher),
      pool_(pool),
      metrics_(metrics),
      access_log_(std::move(access_log)),
      prediction_log_(std::move(prediction_log)),
      rng_(std::random_device{}()) {
  http_ = evhttp_new(base_);
  evhttp_set_gencb(http_, &HttpServer::RequestCallback, this);
  evhttp_set_allowed_methods(http_, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                        EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
  evhttp_set_max_headers_size(http_, static_cast<ev_ssize_t>(options_.max_header_bytes));
  evhttp_set_max_body_size(http_, static_cast<ev_ssize_t>(options_.max_body_bytes));
  evhttp_set_timeout(http_, options_.idle_timeout_seconds);
  evhttp_set_default_content_type(http_, nullptr);
  // A body over the limit is read and dropped before the 413 goes out, so that a client still sending it
  // gets the answer instead of a reset connection.
  evhttp_set_flags(http_, EVHTTP_SERVER_LINGERING_CLOSE);
  drain_timer_ = evtimer_new(base_, &HttpServer::DrainTimeoutCallback, this);
  drained_event_ = evtimer_new(base_, &HttpServer::DrainedCallback, this);
}

HttpServer::~HttpServer() {
  Close();
  if (drain_timer_) event_free(drain_timer_);
  if (drained_event_) event_free(drained_event_);
}

void HttpServer::Close() {
  active_by_connection_.clear();  // evhttp_free calls the close callbacks: nothing left to count
  active_ = 0;
  if (http_) {
    evhttp* http = http_;
    http_ = nullptr;
    bound_ = nullptr;
    evhttp_free(http);  // closes the listening socket and every connection
  }
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    listen_fd_ = -1;
  }
}

Status HttpServer::Bind(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  std::string service = std::to_string(port);
  int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found);
  if (rc != 0) return InvalidParameterError("Cannot listen on host '" + host + "': " + gai_strerror(rc));
  std::string last_error = "no address";
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (bind(fd, a->ai_addr, a->ai_addrlen) == 0) {
      freeaddrinfo(found);
      listen_fd_ = fd;
      return OkStatus();
    }
    last_error = std::strerror(errno);
    close(fd);
  }
  freeaddrinfo(found);
  return InvalidParameterError("Cannot listen on " + host + ":" + service + ": " + last_error +
                               ". Choose another port with --port.");
}

Status HttpServer::Adopt(int fd) {
  int type = 0;
  socklen_t len = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) {
    return InvalidParameterError("--fd " + std::to_string(fd) + " is not a stream socket");
  }
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  evutil_make_socket_nonblocking(fd);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // fails harmlessly on a Unix socket
  listen_fd_ = fd;
  return OkStatus();
}

int HttpServer::port() const {
  int fd = listen_fd_;
  if (fd < 0 && bound_ != nullptr) fd = evhttp_bound_socket_get_fd(bound_);
  if (fd < 0) return 0;
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  return 0;
}

Status HttpServer::StartAccepting() {
  if (draining_ || http_ == nullptr) return OkStatus();
  if (listen_fd_ < 0) return InternalError("no listening socket (Bind or Adopt first)");
  if (listen(listen_fd_, SOMAXCONN) != 0) return InternalError(std::string("listen: ") + std::strerror(errno));
  bound_ = evhttp_accept_socket_with_handle(http_, listen_fd_);
  if (bound_ == nullptr) return InternalError("evhttp could not accept on the listening socket");
  listen_fd_ = -1;  // evhttp owns it now
  return OkStatus();
}

bool HttpServer::Ready() const { return !draining_ && pool_.ready_count() > 0; }

std::string HttpServer::NewRequestId() {
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(rng_()),
                static_cast<unsigned long long>(rng_()));
  return buf;
}

void HttpServer::RequestCallback(evhttp_request* req, void* arg) { static_cast<HttpServer*>(arg)->OnRequest(req); }

void HttpServer::CompleteCallback(evhttp_request* req, void* arg) { static_cast<HttpServer*>(arg)->OnComplete(req); }

void HttpServer::ConnectionCloseCallback(evhttp_connection* conn, void* arg) {
  static_cast<HttpServer*>(arg)->OnConnectionClose(conn);
}

void HttpServer::OnRequest(evhttp_request* req) {
  evhttp_connection* conn = evhttp_request_get_connection(req);
  if (conn != nullptr) {
    auto [it, inserted] = active_by_connection_.try_emplace(conn, 0);
    if (inserted) evhttp_connection_set_closecb(conn, &HttpServer::ConnectionCloseCallback, this);
    ++it->second;
    ++active_;
    evhttp_request_set_on_complete_cb(req, &HttpServer::CompleteCallback, this);
  }

  auto ex = std::make_shared<Exchange>();
  ex->req = req;
  ex->start = Clock::now();
  evhttp_cmd_type cmd = evhttp_request_get_command(req);
  ex->method = MethodName(cmd);
  ex->head = cmd == EVHTTP_REQ_HEAD;
  const char* uri = evhttp_request_get_uri(req);
  ex->uri = uri ? uri : "";
  evkeyvalq* in = evhttp_request_get_input_headers(req);
  const char* given_id = evhttp_find_header(in, "X-Request-Id");
  ex->request_id = ValidRequestId(given_id) ? std::string(given_id) : NewRequestId();

  const evhttp_uri* parsed = evhttp_request_get_evhttp_uri(req);
  if (parsed == nullptr) {
    ex->route = "other";
    Respond(*ex, 400, "text/plain; charset=utf-8", "Invalid HTTP request received.");
    return;
  }
  std::string path = PercentDecodePath(evhttp_uri_get_path(parsed));
  RouteMatch route = MatchRoute(path);
  ex->route = route.label;
  using Kind = RouteMatch::Kind;

  if (route.kind == Kind::kNone) {
    // As Starlette's redirect_slashes: a known route asked with a trailing slash is redirected to it.
    if (path.size() > 1 && path.back() == '/' && MatchRoute(path.substr(0, path.size() - 1)).kind != Kind::kNone) {
      std::string location = path.substr(0, path.size() - 1);
      if (const char* query = evhttp_uri_get_query(parsed); query != nullptr) location += std::string("?") + query;
      if (const char* host = evhttp_find_header(in, "Host"); host != nullptr) {
        location = "http://" + HeaderSafe(host) + location;
      }
      Respond(*ex, 307, "", "", {{"Location", location}});
      return;
    }
    Respond(*ex, 404, kJson, kNotFound);
    return;
  }
  bool get_like = cmd == EVHTTP_REQ_GET || (cmd == EVHTTP_REQ_HEAD && route.allow.find("HEAD") != std::string::npos);
  bool allowed = route.kind == Kind::kPredict || route.kind == Kind::kV2Infer ? cmd == EVHTTP_REQ_POST : get_like;
  if (!allowed) {
    Respond(*ex, 405, kJson, kMethodNotAllowed, {{"Allow", route.allow}});
    return;
  }
  switch (route.kind) {
    case Kind::kPredict: HandlePredict(ex, route); return;
    case Kind::kPing: Respond(*ex, Ready() ? 200 : 503, kJson, "\n"); return;
    case Kind::kVersion:
      if (pool_.info()) {
        Respond(*ex, 200, kJson, pool_.info()->mlflow_version);
      } else {
        Respond(*ex, 503, kJson, "\n");
      }
      return;
    case Kind::kMetrics: {
      MetricsSnapshot now;
      now.queue_depth = dispatcher_.queued();
      now.in_flight = dispatcher_.in_flight();
      now.workers = pool_.size();
      now.workers_ready = pool_.ready_count();
      now.workers_busy = pool_.busy_count();
      now.worker_restarts = pool_.restarts();
      now.worker_pids = pool_.pids();
      now.draining = draining_;
      Respond(*ex, 200, Metrics::kContentType, metrics_.Render(now));
      return;
    }
    case Kind::kV2Live: Respond(*ex, 200, "", ""); return;
    case Kind::kV2Ready: Respond(*ex, Ready() ? 200 : 503, "", ""); return;
    case Kind::kV2ModelReady:
      if (V2ModelServed(*ex, route)) Respond(*ex, Ready() ? 200 : 503, "", "");
      return;
    case Kind::kV2Model:
      if (!V2ModelServed(*ex, route)) return;
      if (!pool_.info()) {
        Respond(*ex, 503, kJson, V2Error("The model is not loaded yet."));
        return;
      }
      Respond(*ex, 200, kJson,
              V2ModelMetadata(route.model, route.version, pool_.info()->signature_inputs, pool_.info()->signature_outputs));
      return;
    case Kind::kV2Infer:
      if (V2ModelServed(*ex, route)) HandleV2Infer(ex, route);
      return;
    case Kind::kNone: break;
  }
  Respond(*ex, 404, kJson, kNotFound);
}

void HttpServer::HandlePredict(const std::shared_ptr<Exchange>& ex, const RouteMatch& route) {
  evbuffer* input = evhttp_request_get_input_buffer(ex->req);
  Dispatcher::Request request;
  request.route = route.label;
  size_t n = evbuffer_get_length(input);
  request.body.resize(n);
  if (n > 0) evbuffer_remove(input, request.body.data(), n);
  if (const char* ct = evhttp_find_header(evhttp_request_get_input_headers(ex->req), "Content-Type"); ct != nullptr) {
    request.content_type = Latin1ToUtf8(ct);
  }
  if (prediction_log_ && prediction_log_->Sample()) {
    ex->log_prediction = true;
    ex->logged_body = request.body;
  }
  dispatcher_.Submit(std::move(request), [this, ex](DispatchReply answer) {
    Respond(*ex, answer.reply.status, answer.reply.content_type, answer.reply.body, answer.headers);
  });
}

bool HttpServer::V2ModelServed(Exchange& ex, const RouteMatch& route) {
  if (options_.model_name.empty() || route.model == options_.model_name) return true;
  Respond(ex, 404, kJson,
          V2Error("Model '" + route.model + "' is not served here; this server serves '" + options_.model_name + "'."));
  return false;
}

// An inference request of the Open Inference Protocol: converted to MLflow's scoring body (serve/v2_protocol.h),
// answered by a worker like /invocations (and batched with those), the answer converted back. Errors are v2's
// {"error": message} with the status MLflow gave.
void HttpServer::HandleV2Infer(const std::shared_ptr<Exchange>& ex, const RouteMatch& route) {
  evbuffer* input = evhttp_request_get_input_buffer(ex->req);
  std::string body(evbuffer_get_length(input), '\0');
  if (!body.empty()) evbuffer_remove(input, body.data(), body.size());
  if (prediction_log_ && prediction_log_->Sample()) {
    ex->log_prediction = true;
    ex->logged_body = body;
  }
  std::optional<std::string> id;
  StatusOr<std::string> mlflow_body =
      V2RequestToMlflow(body, pool_.info() ? pool_.info()->signature_inputs : std::string(), &id);
  if (!mlflow_body.ok()) {
    Respond(*ex, 400, kJson, V2Error(mlflow_body.status().message()));
    return;
  }
  Dispatcher::Request request{route.label, std::string(kJson), std::move(*mlflow_body)};
  dispatcher_.Submit(std::move(request), [this, ex, route, id](DispatchReply answer) {
    const WorkerReply& r = answer.reply;
    if (r.status != 200) {
      // MLflow's error JSON {"error_code", "message"}, or a plain text: the message as v2's error.
      nlohmann::json mlflow_error = nlohmann::json::parse(r.body, nullptr, false);
      std::string message =
          mlflow_error.is_object() && mlflow_error.contains("message") && mlflow_error["message"].is_string()
              ? mlflow_error["message"].get<std::string>()
              : r.body;
      Respond(*ex, r.status, kJson, V2Error(message), answer.headers);
      return;
    }
    StatusOr<std::string> v2 = MlflowAnswerToV2(r.body, route.model, route.version, id);
    if (!v2.ok()) {
      Respond(*ex, 500, kJson, V2Error(v2.status().message()));
      return;
    }
    Respond(*ex, 200, kJson, *v2, answer.headers);
  });
}

void HttpServer::Respond(Exchange& ex, int status, std::string_view content_type, std::string_view body,
                         const std::vector<std::pair<std::string, std::string>>& headers) {
  if (ex.answered) return;
  ex.answered = true;
  evhttp_request* req = ex.req;
  evkeyvalq* out = evhttp_request_get_output_headers(req);
  if (!content_type.empty()) evhttp_add_header(out, "Content-Type", HeaderSafe(content_type).c_str());
  evhttp_add_header(out, "X-Request-Id", ex.request_id.c_str());
  for (const auto& [name, value] : headers) evhttp_add_header(out, name.c_str(), HeaderSafe(value).c_str());
  if (draining_) evhttp_add_header(out, "Connection", "close");
  if (ex.head) {
    // No body; the length the GET would have.
    evhttp_add_header(out, "Content-Length", std::to_string(body.size()).c_str());
  } else {
    evbuffer_add(evhttp_request_get_output_buffer(req), body.data(), body.size());
  }
  evhttp_send_reply(req, status, ReasonPhrase(status), nullptr);

  auto elapsed = std::chrono::duration<double>(Clock::now() - ex.start).count();
  metrics_.ObserveRequest(ex.route, status, elapsed);
  auto now = std::chrono::system_clock::now();
  if (access_log_) {
    access_log_->WriteLine(FormatAccessLine(
        AccessLogEntry{now, ex.request_id, ex.method, ex.uri, status, ex.head ? 0 : body.size(), elapsed * 1000.0}));
  }
  if (ex.log_prediction && prediction_log_) {
    prediction_log_->Write(now, ex.request_id, ex.route, ex.logged_body, status, body);
  }
}

void HttpServer::OnComplete(evhttp_request* req) {
  evhttp_connection* conn = evhttp_request_get_connection(req);
  auto it = active_by_connection_.find(conn);
  if (it != active_by_connection_.end() && it->second > 0) {
    --it->second;
    --active_;
  }
  MaybeFinishDrain();
}

void HttpServer::OnConnectionClose(evhttp_connection* conn) {
  auto it = active_by_connection_.find(conn);
  if (it == active_by_connection_.end()) return;
  active_ -= it->second;  // requests whose answers will never be written
  active_by_connection_.erase(it);
  MaybeFinishDrain();
}

void HttpServer::BeginDrain(std::function<void()> drained) {
  if (draining_) return;
  draining_ = true;
  drained_ = std::move(drained);
  if (bound_ != nullptr && http_ != nullptr) {
    evhttp_del_accept_socket(http_, bound_);  // closes the listening socket
    bound_ = nullptr;
  }
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    listen_fd_ = -1;
  }
  LogInfo("Stopping: no new connections; answering " + std::to_string(dispatcher_.queued() + dispatcher_.in_flight()) +
          " queued and in-flight requests (at most " + std::to_string(options_.drain_timeout.count() / 1000) + " s)");
  timeval tv = ToTimeval(options_.drain_timeout);
  evtimer_add(drain_timer_, &tv);
  MaybeFinishDrain();
}

void HttpServer::ForceDrain() {
  if (!draining_) BeginDrain(nullptr);
  if (forced_) return;
  forced_ = true;
  evtimer_del(drain_timer_);
  size_t left = dispatcher_.queued() + dispatcher_.in_flight();
  if (left > 0) LogWarning("Stopping now: answering " + std::to_string(left) + " unfinished requests with 503");
  dispatcher_.Drop(DispatchReply{
      ErrorReply(503, "TEMPORARILY_UNAVAILABLE", "The model server stopped before this request was answered."), {}});
  // Answers still being written get a few seconds; a client that reads nothing does not hold the exit.
  timeval tv{5, 0};
  evtimer_add(drain_timer_, &tv);
  MaybeFinishDrain();
}

void HttpServer::DrainTimeoutCallback(int /*fd*/, short /*what*/, void* arg) {
  auto* self = static_cast<HttpServer*>(arg);
  if (!self->forced_) {
    self->ForceDrain();
  } else {
    // Answers that could not be written in time: their connections close with evhttp.
    self->active_by_connection_.clear();
    self->active_ = 0;
    self->MaybeFinishDrain();
  }
}

// The drain ends when every request is answered and every kept-alive connection is closed: an idle one stays
// open until its client sends the next request (answered with Connection: close, then closed) or closes it, so
// that no client has its connection closed under a request it is sending. The drain deadline bounds both.
void HttpServer::MaybeFinishDrain() {
  if (!draining_ || drained_called_ || active_ > 0 || !dispatcher_.idle() || !active_by_connection_.empty()) return;
  drained_called_ = true;
  evtimer_del(drain_timer_);
  // Not from inside evhttp's callbacks: the owner frees evhttp when told.
  timeval now{0, 0};
  evtimer_add(drained_event_, &now);
}

void HttpServer::DrainedCallback(int /*fd*/, short /*what*/, void* arg) {
  auto* self = static_cast<HttpServer*>(arg);
  if (self->drained_) self->drained_();
}

}  // namespace mlflow_bridge::internal
