// The native server's HTTP side (decision 0009), on libevent's evhttp: one event loop thread, keep-alive,
// pipelined requests answered in order (evhttp reads a connection's next request once the current one is
// answered), chunked request bodies, limits on header and body sizes, replies deferred while a worker predicts.
//
// Routes, all on one port (route contracts of MLflow, SageMaker, Azure ML custom containers, OCI Data Science
// and the Open Inference Protocol v2):
//   POST /invocations, /score, /predict          the model's prediction (MLflow's own request handling)
//   GET|HEAD /ping, /health                      200 "\n" (application/json) once a worker is ready, else 503
//   GET /version                                 the workers' MLflow version (application/json)
//   GET /metrics                                 Prometheus text
//   GET|HEAD /v2/health/live                     200, empty body
//   GET|HEAD /v2/health/ready, /v2/models/{m}/ready   200 when ready, else 503; empty body (404 for another model)
// Other paths get 404 {"detail":"Not Found"}, other methods 405 {"detail":"Method Not Allowed"} with Allow, and
// a known route with a trailing slash a 307 to the route: as MLflow's FastAPI server answers. The v2 infer and
// metadata routes (/v2/models/{m}/infer, /v2/models/{m}) are wired later with the v2 conversions (MatchRoute).
//
// Requests that evhttp itself refuses (a malformed request line or header, headers over the limit: 400; a body
// over the limit: 413; an unknown method: 501) get libevent's small HTML page and the connection closes; they
// reach neither the access log nor /metrics.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mlflow_bridge/status.h"
#include "serve/dispatcher.h"
#include "serve/metrics.h"
#include "serve/request_log.h"
#include "serve/worker_pool.h"

struct event_base;
struct event;
struct evhttp;
struct evhttp_bound_socket;
struct evhttp_connection;
struct evhttp_request;

namespace mlflow_bridge::internal {

struct HttpServerOptions {
  size_t max_body_bytes = size_t{64} << 20;        // more: 413
  size_t max_header_bytes = size_t{64} << 10;      // the request line and headers together; more: 400
  int idle_timeout_seconds = 75;                   // a keep-alive connection idle (or a client silent) this long is closed
  std::chrono::milliseconds drain_timeout{30000};  // SIGTERM: how long queued and in-flight requests may take
  std::string model_name;                          // the model's name on the v2 routes; empty: any name
};

// What a path is, for routing and for the route label of metrics.
struct RouteMatch {
  enum class Kind { kNone, kPredict, kPing, kVersion, kMetrics, kV2Live, kV2Ready, kV2Model, kV2ModelReady, kV2Infer };
  Kind kind = Kind::kNone;
  std::string label;    // the route's template: "/invocations", "/v2/models/{m}/ready"
  std::string allow;    // its methods, as the Allow header of a 405 says them
  std::string model;    // {m}
  std::string version;  // {v} of /v2/models/{m}/versions/{v}/...; empty without
};
RouteMatch MatchRoute(std::string_view path);

// The reason phrase of an HTTP status (Python's http.HTTPStatus, as uvicorn sends it).
const char* ReasonPhrase(int status);

class HttpServer {
 public:
  HttpServer(event_base* base, HttpServerOptions options, Dispatcher& dispatcher, WorkerPool& pool, Metrics& metrics,
             std::unique_ptr<LineFile> access_log, std::unique_ptr<PredictionLog> prediction_log);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The listening socket: bound now to host:port (so that a busy port fails at once; port 0: any free port) or
  // handed over bound (the `local` target's --fd). Accepting starts with StartAccepting.
  Status Bind(const std::string& host, int port);
  Status Adopt(int fd);
  int port() const;
  // Listens and accepts connections (once a worker is ready: a client that connects is served).
  Status StartAccepting();

  // Stops accepting (the listening socket closes), answers requests already received, queued or in flight
  // (with `Connection: close`), and calls `drained` once on the loop thread when all are answered and written,
  // or when the drain timeout has passed (what is left then is answered 503). Idle keep-alive connections are
  // closed by Close().
  void BeginDrain(std::function<void()> drained);
  // Ends the drain now: what is queued or in flight is answered 503.
  void ForceDrain();
  bool draining() const { return draining_; }
  // Frees evhttp: every connection closes. Call once drained (or when the server did not start).
  void Close();

 private:
  struct Exchange;
  void OnRequest(evhttp_request* req);
  void HandlePredict(const std::shared_ptr<Exchange>& ex, const RouteMatch& route);
  void HandleV2Infer(const std::shared_ptr<Exchange>& ex, const RouteMatch& route);
  // Whether the v2 route names the model served here (--model-name; any name when unset); else answers 404.
  bool V2ModelServed(Exchange& ex, const RouteMatch& route);
  void Respond(Exchange& ex, int status, std::string_view content_type, std::string_view body,
               const std::vector<std::pair<std::string, std::string>>& headers = {});
  bool Ready() const;
  std::string NewRequestId();
  void OnComplete(evhttp_request* req);
  void OnConnectionClose(evhttp_connection* conn);
  void MaybeFinishDrain();
  static void RequestCallback(evhttp_request* req, void* arg);
  static void CompleteCallback(evhttp_request* req, void* arg);
  static void ConnectionCloseCallback(evhttp_connection* conn, void* arg);
  static void DrainTimeoutCallback(int fd, short what, void* arg);
  static void DrainedCallback(int fd, short what, void* arg);

  event_base* base_;
  HttpServerOptions options_;
  Dispatcher& dispatcher_;
  WorkerPool& pool_;
  Metrics& metrics_;
  std::unique_ptr<LineFile> access_log_;
  std::unique_ptr<PredictionLog> prediction_log_;
  evhttp* http_ = nullptr;
  int listen_fd_ = -1;  // until evhttp owns it
  evhttp_bound_socket* bound_ = nullptr;
  std::mt19937_64 rng_;
  // Per open connection that sent a request: its requests handed to us and not yet written out. The drain waits
  // for no request and no such connection to be left (MaybeFinishDrain).
  std::unordered_map<evhttp_connection*, size_t> active_by_connection_;
  size_t active_ = 0;
  bool draining_ = false;
  bool forced_ = false;
  bool drained_called_ = false;
  std::function<void()> drained_;
  event* drain_timer_ = nullptr;
  event* drained_event_ = nullptr;
};

}  // namespace mlflow_bridge::internal
