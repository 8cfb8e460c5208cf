// The native server's HTTP side against fake workers (serve_test_support.h): routes, limits, malformed and slow
// clients, pipelining, the queue and deadlines, worker crashes, the drain on stop, the logs. No timing
// assumption: tests wait for the server's state (/metrics), and the only time bounds are hang guards.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "serve/http_server.h"
#include "serve_test_support.h"

namespace mlflow_bridge::internal {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;
using testing::FakeWorkerOptions;
using testing::Fetch;
using testing::HttpResponse;
using testing::MetricValue;
using testing::RawConnection;
using testing::Request;
using testing::RunningServer;
using testing::WaitForMetric;

namespace fs = std::filesystem;

ModelServerOptions Options(int workers = 2) {
  ModelServerOptions o;
  o.workers.workers = workers;
  o.access_log = "";  // quiet unless a test reads it
  o.http.drain_timeout = std::chrono::seconds(60);
  o.worker_stop_grace = std::chrono::seconds(10);
  return o;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

fs::path TempPath(const std::string& name) {
  return fs::temp_directory_path() / (name + "-" + std::to_string(getpid()) + "-" +
                                      std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
}

TEST(ServeRouteTest, MatchesTheRouteContracts) {
  using Kind = RouteMatch::Kind;
  EXPECT_EQ(MatchRoute("/invocations").kind, Kind::kPredict);
  EXPECT_EQ(MatchRoute("/score").kind, Kind::kPredict);
  EXPECT_EQ(MatchRoute("/predict").kind, Kind::kPredict);
  EXPECT_EQ(MatchRoute("/ping").kind, Kind::kPing);
  EXPECT_EQ(MatchRoute("/health").kind, Kind::kPing);
  EXPECT_EQ(MatchRoute("/version").kind, Kind::kVersion);
  EXPECT_EQ(MatchRoute("/metrics").kind, Kind::kMetrics);
  EXPECT_EQ(MatchRoute("/v2/health/live").kind, Kind::kV2Live);
  EXPECT_EQ(MatchRoute("/v2/health/ready").kind, Kind::kV2Ready);
  RouteMatch m = MatchRoute("/v2/models/churn/ready");
  EXPECT_EQ(m.kind, Kind::kV2ModelReady);
  EXPECT_EQ(m.model, "churn");
  EXPECT_EQ(m.label, "/v2/models/{m}/ready");
  m = MatchRoute("/v2/models/churn/versions/3/infer");
  EXPECT_EQ(m.kind, Kind::kV2Infer);
  EXPECT_EQ(m.model, "churn");
  EXPECT_EQ(m.version, "3");
  EXPECT_EQ(m.label, "/v2/models/{m}/infer");
  EXPECT_EQ(MatchRoute("/v2/models/churn/infer").kind, Kind::kV2Infer);
  EXPECT_EQ(MatchRoute("/v2/models/churn").kind, Kind::kV2Model);
  EXPECT_EQ(MatchRoute("/v2/models/churn/versions/3").version, "3");
  EXPECT_EQ(MatchRoute("/v2/models/churn/versions/3/ready").kind, Kind::kV2ModelReady);
  EXPECT_EQ(MatchRoute("/v2/models/churn/versions//infer").kind, Kind::kNone);
  EXPECT_EQ(MatchRoute("/v2/models/churn/explain").kind, Kind::kNone);
  EXPECT_EQ(MatchRoute("/v2/models/").kind, Kind::kNone);
  EXPECT_EQ(MatchRoute("/v2/models//ready").kind, Kind::kNone);
  EXPECT_EQ(MatchRoute("/v2/models/a/b/ready").kind, Kind::kNone);
  EXPECT_EQ(MatchRoute("/invocations/").kind, Kind::kNone);
  EXPECT_EQ(MatchRoute("/").kind, Kind::kNone);
  EXPECT_EQ(MatchRoute("/nope").label, "other");
}

TEST(ServeHttpTest, PredictsThroughAWorker) {
  RunningServer server(Options());
  ASSERT_TRUE(server.ok());
  for (const char* route : {"/invocations", "/score", "/predict"}) {
    auto r = Fetch(server.port(), "POST", route, R"({"inputs": [1]})");
    ASSERT_TRUE(r) << route;
    EXPECT_EQ(r->status, 200) << route;
    EXPECT_EQ(r->header("content-type"), "application/json");
    json body = json::parse(r->body);
    EXPECT_EQ(body["body"], R"({"inputs": [1]})");
    EXPECT_EQ(body["content_type"], "application/json");
    EXPECT_EQ(r->header("x-request-id").size(), 32u) << "a request id is made when none is sent";
  }
  EXPECT_TRUE(server.Stop().ok());
}

TEST(ServeHttpTest, ForwardsTheContentTypeAsSentAndNullWithoutOne) {
  RunningServer server(Options());
  ASSERT_TRUE(server.ok());
  auto r = Fetch(server.port(), "POST", "/invocations", "a,b\n1,2\n", {"Content-Type: text/csv; charset=utf-8"});
  ASSERT_TRUE(r);
  EXPECT_EQ(json::parse(r->body)["content_type"], "text/csv; charset=utf-8");
  r = Fetch(server.port(), "POST", "/invocations", "{}", {});
  ASSERT_TRUE(r);
  EXPECT_TRUE(json::parse(r->body)["content_type"].is_null());
  // A Latin-1 byte in the header arrives as that character (Starlette decodes headers as Latin-1).
  r = Fetch(server.port(), "POST", "/invocations", "{}", {"Content-Type: text/\xe9"});
  ASSERT_TRUE(r);
  EXPECT_EQ(json::parse(r->body)["content_type"], "text/\xc3\xa9");
}

TEST(ServeHttpTest, EchoesTheRequestId) {
  RunningServer server(Options());
  ASSERT_TRUE(server.ok());
  auto r = Fetch(server.port(), "POST", "/invocations", "{}", {"Content-Type: application/json", "X-Request-Id: abc-123"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("x-request-id"), "abc-123");
  r = Fetch(server.port(), "GET", "/ping", "", {"X-Request-Id: ping-1"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("x-request-id"), "ping-1");
}

TEST(ServeHttpTest, HealthAndVersionRoutes) {
  ModelServerOptions o = Options();
  o.http.model_name = "churn";
  RunningServer server(o);
  ASSERT_TRUE(server.ok());
  int port = server.port();
  for (const char* path : {"/ping", "/health"}) {
    auto r = Fetch(port, "GET", path, "", {});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "\n");  // MLflow's /ping
    EXPECT_EQ(r->header("content-type"), "application/json");
    auto head = Fetch(port, "HEAD", path, "", {});
    ASSERT_TRUE(head) << path;
    EXPECT_EQ(head->status, 200);
    EXPECT_EQ(head->header("content-length"), "1");
  }
  auto version = Fetch(port, "GET", "/version", "", {});
  ASSERT_TRUE(version);
  EXPECT_EQ(version->status, 200);
  EXPECT_EQ(version->body, "9.9.9-fake");
  EXPECT_EQ(version->header("content-type"), "application/json");
  for (const char* path : {"/v2/health/live", "/v2/health/ready", "/v2/models/churn/ready"}) {
    auto r = Fetch(port, "GET", path, "", {});
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 200) << path;
    EXPECT_EQ(r->body, "");
    auto head = Fetch(port, "HEAD", path, "", {});
    ASSERT_TRUE(head) << path;
    EXPECT_EQ(head->status, 200) << path;
  }
  auto other = Fetch(port, "GET", "/v2/models/other/ready", "", {});
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 404);
  EXPECT_NE(other->body.find("churn"), std::string::npos);
  auto query = Fetch(port, "GET", "/ping?probe=1", "", {});
  ASSERT_TRUE(query);
  EXPECT_EQ(query->status, 200);
}

TEST(ServeHttpTest, UnknownPathsAndWrongMethodsAnswerAsFastApi) {
  RunningServer server(Options());
  ASSERT_TRUE(server.ok());
  int port = server.port();
  for (const char* method : {"GET", "POST", "DELETE"}) {
    auto r = Fetch(port, method, "/nope", "", {});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
    EXPECT_EQ(r->body, R"({"detail":"Not Found"})");
    EXPECT_EQ(r->header("content-type"), "application/json");
  }
  struct Case {
    const char* method;
    const char* path;
    const char* allow;
  };
  for (const Case& c :
       {Case{"GET", "/invocations", "POST"}, Case{"PUT", "/invocations", "POST"}, Case{"HEAD", "/invocations", "POST"},
        Case{"POST", "/ping", "GET, HEAD"}, Case{"OPTIONS", "/health", "GET, HEAD"}, Case{"POST", "/version", "GET"},
        Case{"HEAD", "/version", "GET"}, Case{"PATCH", "/score", "POST"}}) {
    auto r = Fetch(port, c.method, c.path, "", {});
    ASSERT_TRUE(r) << c.method << " " << c.path;
    EXPECT_EQ(r->status, 405) << c.method << " " << c.path;
    EXPECT_EQ(r->header("allow"), c.allow) << c.method << " " << c.path;
    if (std::string(c.method) != "HEAD") EXPECT_EQ(r->body, R"({"detail":"Method Not Allowed"})");
  }
  // Starlette's redirect_slashes: a known route with a trailing slash.
  auto r = Fetch(port, "GET", "/ping/?x=1", "", {});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 307);
  EXPECT_EQ(r->header("location"), "http://127.0.0.1/ping?x=1");
  EXPECT_EQ(r->body, "");
}

TEST(ServeHttpTest, MalformedRequestsGet400AndTheConnectionCloses) {
  RunningServer server(Options());
  ASSERT_TRUE(server.ok());
  for (const char* raw : {"GARBAGE\r\n\r\n", "GET /ping HTTP/1.1\r\nNoColonHere\r\n\r\n",
                          "POST /invocations HTTP/1.1\r\nContent-Length: nope\r\n\r\n", "GET /ping HTTP/9\r\n\r\n"}) {
    RawConnection c(server.port());
    ASSERT_TRUE(c.Send(raw));
    auto r = c.Read();
    ASSERT_TRUE(r) << raw;
    EXPECT_EQ(r->status, 400) << raw;
    EXPECT_TRUE(c.Closed()) << raw;
  }
  // The server still serves.
  auto ok = Fetch(server.port(), "GET", "/ping", "", {});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST(ServeHttpTest, HugeHeadersAreRefused) {
  ModelServerOptions o = Options();
  o.http.max_header_bytes = 8 << 10;
  RunningServer server(o);
  ASSERT_TRUE(server.ok());
  RawConnection c(server.port());
  ASSERT_TRUE(c.Send(Request("GET", "/ping", "", {"X-Big: " + std::string(64 << 10, 'a')})));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->status == 400 || r->status == 431) << r->status;
  EXPECT_TRUE(c.Closed());
  // Many headers, each small, count together.
  std::vector<std::string> many;
  for (int i = 0; i < 500; ++i) many.push_back("X-H" + std::to_string(i) + ": " + std::string(40, 'b'));
  RawConnection c2(server.port());
  ASSERT_TRUE(c2.Send(Request("GET", "/ping", "", many)));
  r = c2.Read();
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->status == 400 || r->status == 431) << r->status;
}

TEST(ServeHttpTest, OversizedBodiesGet413) {
  ModelServerOptions o = Options();
  o.http.max_body_bytes = 1 << 20;
  RunningServer server(o);
  ASSERT_TRUE(server.ok());
  {
    RawConnection c(server.port());
    ASSERT_TRUE(c.Send(Request("POST", "/invocations", std::string((1 << 20) + 1, 'x'))));
    auto r = c.Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
  }
  {
    // Chunked: the limit counts the chunks together.
    RawConnection c(server.port());
    std::string chunk(256 << 10, 'y');
    std::string raw =
        "POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 5; ++i) raw += "40000\r\n" + chunk + "\r\n";
    raw += "0\r\n\r\n";
    c.Send(raw);  // the server may stop reading once it has answered
    auto r = c.Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
  }
  // At the limit: served.
  auto r = Fetch(server.port(), "POST", "/invocations", std::string(1 << 20, 'z'));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["body"].get<std::string>().size(), size_t{1} << 20);
}

TEST(ServeHttpTest, ChunkedBodiesArriveWhole) {
  RunningServer server(Options());
  ASSERT_TRUE(server.ok());
  RawConnection c(server.port());
  ASSERT_TRUE(
      c.Send("POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Transfer-Encoding: chunked\r\n\r\n"
             "5\r\n{\"inp\r\n"
             "b\r\nuts\": [1, 2\r\n"
             "2\r\n]}\r\n"
             "0\r\n\r\n"));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["body"], R"({"inputs": [1, 2]})");
  // The connection stays open for the next request.
  ASSERT_TRUE(c.Send(Request("GET", "/ping", "", {})));
  r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(ServeHttpTest, ASlowClientSendingByteByByteIsServed) {
  RunningServer server(Options());
  ASSERT_TRUE(server.ok());
  RawConnection c(server.port());
  std::string raw = Request("POST", "/invocations", R"({"dataframe_split": {"columns": ["a"], "data": [[1]]}})");
  for (char ch : raw) {
    ASSERT_TRUE(c.Send(std::string(1, ch)));
    std::this_thread::sleep_for(milliseconds(1));
  }
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["body"], R"({"dataframe_split": {"columns": ["a"], "data": [[1]]}})");
}

TEST(ServeHttpTest, PipelinedRequestsAreAnsweredInOrder) {
  RunningServer server(Options(3));
  ASSERT_TRUE(server.ok());
  RawConnection c(server.port());
  // The first takes longest: its answer must still come first.
  std::string raw = Request("POST", "/invocations", "sleep:200:first") + Request("GET", "/ping", "", {}) +
                    Request("POST", "/invocations", "second") + Request("POST", "/score", "sleep:50:third") +
                    Request("GET", "/nope", "", {});
  ASSERT_TRUE(c.Send(raw));
  auto r1 = c.Read();
  auto r2 = c.Read();
  auto r3 = c.Read();
  auto r4 = c.Read();
  auto r5 = c.Read();
  ASSERT_TRUE(r1 && r2 && r3 && r4 && r5);
  EXPECT_EQ(r1->body, "first");
  EXPECT_EQ(r2->body, "\n");
  EXPECT_EQ(json::parse(r3->body)["body"], "second");
  EXPECT_EQ(r4->body, "third");
  EXPECT_EQ(r5->status, 404);
}

TEST(ServeHttpTest, KeepAliveServesManyRequestsOnOneConnection) {
  RunningServer server(Options());
  ASSERT_TRUE(server.ok());
  RawConnection c(server.port());
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(c.Send(Request("POST", "/invocations", "n" + std::to_string(i))));
    auto r = c.Read();
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(json::parse(r->body)["body"], "n" + std::to_string(i));
  }
}

TEST(ServeHttpTest, AFullQueueAnswers503WithRetryAfter) {
  ModelServerOptions o = Options(1);
  o.dispatch.max_queue = 1;
  o.dispatch.retry_after_seconds = 7;
  o.http.drain_timeout = milliseconds(100);  // the hung request is cut short at the end
  RunningServer server(o);
  ASSERT_TRUE(server.ok());
  RawConnection busy(server.port());
  ASSERT_TRUE(busy.Send(Request("POST", "/invocations", "hang")));
  ASSERT_TRUE(WaitForMetric(server.port(), "in_flight_requests", 1));
  RawConnection queued(server.port());
  ASSERT_TRUE(queued.Send(Request("POST", "/invocations", "queued")));
  ASSERT_TRUE(WaitForMetric(server.port(), "queue_depth", 1));
  auto r = Fetch(server.port(), "POST", "/invocations", "one too many");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->header("retry-after"), "7");
  EXPECT_EQ(r->header("content-type"), "application/json");
  json body = json::parse(r->body);
  EXPECT_EQ(body["error_code"], "TEMPORARILY_UNAVAILABLE");
  EXPECT_TRUE(body["message"].is_string());
  auto metrics = Fetch(server.port(), "GET", "/metrics", "", {});
  ASSERT_TRUE(metrics);
  EXPECT_EQ(MetricValue(metrics->body, R"(mlflow_bridge_serve_requests_total{route="/invocations",status="503"})"), 1);
  EXPECT_TRUE(server.Stop().ok());
  // Stopping answered the two left (503 at the end of the drain), none hangs.
  auto a = busy.Read();
  auto b = queued.Read();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->status, 503);
  EXPECT_EQ(b->status, 503);
  EXPECT_EQ(a->header("connection"), "close");
}

TEST(ServeHttpTest, ARequestPastItsDeadlineGets504AndItsLateAnswerIsDropped) {
  ModelServerOptions o = Options(1);
  o.dispatch.request_timeout = milliseconds(300);
  RunningServer server(o);
  ASSERT_TRUE(server.ok());
  RawConnection c(server.port());
  ASSERT_TRUE(c.Send(Request("POST", "/invocations", "gate:g1:late")));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 504);
  EXPECT_EQ(r->body, "Request processing time exceeded limit");  // MLflow's
  EXPECT_EQ(r->header("content-type"), "application/json");
  // The worker answers late; the answer goes nowhere, and the worker takes the next request.
  server.launcher().Release("g1");
  ASSERT_TRUE(WaitForMetric(server.port(), "workers{state=\"busy\"}", 0));
  ASSERT_TRUE(c.Send(Request("POST", "/invocations", "mine")));
  r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["body"], "mine");
  EXPECT_EQ(server.launcher().started(), 1);
}

TEST(ServeHttpTest, AQueuedRequestPastItsDeadlineGets504) {
  ModelServerOptions o = Options(1);
  o.dispatch.request_timeout = milliseconds(300);
  o.http.drain_timeout = milliseconds(100);
  RunningServer server(o);
  ASSERT_TRUE(server.ok());
  RawConnection busy(server.port());
  ASSERT_TRUE(busy.Send(Request("POST", "/invocations", "hang")));
  ASSERT_TRUE(WaitForMetric(server.port(), "in_flight_requests", 1));
  auto r = Fetch(server.port(), "POST", "/invocations", "waits");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 504);
  auto first = busy.Read();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 504);
  EXPECT_TRUE(WaitForMetric(server.port(), "queue_depth", 0));
}

TEST(ServeHttpTest, ClientsThatLeaveBeforeTheirAnswers) {
  ModelServerOptions o = Options(1);
  o.dispatch.request_timeout = milliseconds(500);
  RunningServer server(o);
  ASSERT_TRUE(server.ok());
  {
    RawConnection gone(server.port());  // in flight at the worker when it leaves
    ASSERT_TRUE(gone.Send(Request("POST", "/invocations", "gate:g2:for nobody")));
    ASSERT_TRUE(WaitForMetric(server.port(), "in_flight_requests", 1));
    RawConnection queued(server.port());  // queued when it leaves; answered 504 to nobody
    ASSERT_TRUE(queued.Send(Request("POST", "/invocations", "also for nobody")));
    ASSERT_TRUE(WaitForMetric(server.port(), "queue_depth", 1));
  }
  // (the deadline passes for both; a 504 goes to each closed connection)
  ASSERT_TRUE(WaitForMetric(server.port(), "queue_depth", 0));
  ASSERT_TRUE(WaitForMetric(server.port(), "in_flight_requests", 0));
  server.launcher().Release("g2");  // the worker's late answer goes nowhere
  auto r = Fetch(server.port(), "POST", "/invocations", "still serving");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(server.Stop().ok());
}

TEST(ServeHttpTest, AWorkerThatDiesAnswers500AndIsRestarted) {
  RunningServer server(Options(1));
  ASSERT_TRUE(server.ok());
  auto r = Fetch(server.port(), "POST", "/invocations", "crash");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(r->header("content-type"), "application/json");
  json body = json::parse(r->body);
  EXPECT_EQ(body["error_code"], "INTERNAL_ERROR");
  EXPECT_NE(body["message"].get<std::string>().find("restarted"), std::string::npos);
  // The next request waits for the new worker and is answered by it.
  r = Fetch(server.port(), "POST", "/invocations", "after");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["body"], "after");
  auto metrics = Fetch(server.port(), "GET", "/metrics", "", {});
  ASSERT_TRUE(metrics);
  EXPECT_EQ(MetricValue(metrics->body, "mlflow_bridge_serve_worker_restarts_total"), 1);
  EXPECT_EQ(server.launcher().started(), 2);
}

TEST(ServeHttpTest, NotReadyWhileNoWorkerIs) {
  ModelServerOptions o = Options(1);
  o.workers.restart_backoff_initial = std::chrono::hours(1);  // the crashed worker stays down during the test
  o.workers.restart_backoff_max = std::chrono::hours(1);
  o.dispatch.request_timeout = milliseconds(200);
  RunningServer server(o);
  ASSERT_TRUE(server.ok());
  auto r = Fetch(server.port(), "POST", "/invocations", "crash");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  for (const char* path : {"/ping", "/health", "/v2/health/ready", "/v2/models/m/ready"}) {
    auto p = Fetch(server.port(), "GET", path, "", {});
    ASSERT_TRUE(p) << path;
    EXPECT_EQ(p->status, 503) << path;
  }
  auto live = Fetch(server.port(), "GET", "/v2/health/live", "", {});
  ASSERT_TRUE(live);
  EXPECT_EQ(live->status, 200);
  // A prediction waits for a worker until its deadline.
  r = Fetch(server.port(), "POST", "/invocations", "{}");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 504);
  EXPECT_TRUE(server.Stop().ok());
}

TEST(ServeHttpTest, NoWorkerLoadsTheModel) {
  FakeWorkerOptions workers;
  workers.load_error = "RuntimeError: boom at load";
  RunningServer server(Options(2), workers);
  Status result = server.Join();
  EXPECT_FALSE(result.ok());
  EXPECT_NE(result.message().find("boom at load"), std::string::npos) << result.message();
  EXPECT_FALSE(RawConnection(server.port()).connected()) << "it never listened";
}

TEST(ServeHttpTest, StopDrainsQueuedAndInFlightRequestsAndClosesIdleConnections) {
  ModelServerOptions o = Options(1);
  RunningServer server(o);
  ASSERT_TRUE(server.ok());
  int port = server.port();
  RawConnection idle(port);  // keep-alive, between requests when the server stops
  ASSERT_TRUE(idle.Send(Request("GET", "/ping", "", {})));
  ASSERT_TRUE(idle.Read());
  RawConnection slow(port);
  ASSERT_TRUE(slow.Send(Request("POST", "/invocations", "sleep:300:slow")));
  ASSERT_TRUE(WaitForMetric(port, "in_flight_requests", 1));
  RawConnection queued(port);
  ASSERT_TRUE(queued.Send(Request("POST", "/invocations", "queued")));
  ASSERT_TRUE(WaitForMetric(port, "queue_depth", 1));

  server.RequestStop();
  auto a = slow.Read();
  auto b = queued.Read();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->status, 200);
  EXPECT_EQ(a->body, "slow");
  EXPECT_EQ(a->header("connection"), "close");
  EXPECT_EQ(b->status, 200);
  EXPECT_EQ(json::parse(b->body)["body"], "queued");
  EXPECT_EQ(b->header("connection"), "close");
  EXPECT_TRUE(slow.Closed());
  // The idle kept-alive connection stays open for its client's next request, answered with Connection: close;
  // then it closes, and with it the drain ends.
  ASSERT_TRUE(idle.Send(Request("GET", "/ping", "", {})));
  auto c = idle.Read();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->header("connection"), "close");
  EXPECT_TRUE(idle.Closed());
  EXPECT_TRUE(server.Join().ok());  // the drain ended by itself
  EXPECT_FALSE(RawConnection(port).connected()) << "no longer listening";
}

TEST(ServeHttpTest, StopEndsWhenIdleClientsCloseTheirConnections) {
  ModelServerOptions o = Options(1);
  o.http.drain_timeout = std::chrono::seconds(3600);  // the drain must end by the client, not by its deadline
  RunningServer server(o);
  ASSERT_TRUE(server.ok());
  auto idle = std::make_unique<RawConnection>(server.port());
  ASSERT_TRUE(idle->Send(Request("GET", "/ping", "", {})));
  ASSERT_TRUE(idle->Read());
  server.RequestStop();
  idle.reset();  // the client hangs up: nothing is left to drain
  EXPECT_TRUE(server.Join().ok());
}

TEST(ServeHttpTest, StopAnswers503WhenTheDrainTimesOut) {
  ModelServerOptions o = Options(1);
  o.http.drain_timeout = milliseconds(200);
  RunningServer server(o);
  ASSERT_TRUE(server.ok());
  RawConnection c(server.port());
  ASSERT_TRUE(c.Send(Request("POST", "/invocations", "hang")));
  ASSERT_TRUE(WaitForMetric(server.port(), "in_flight_requests", 1));
  server.RequestStop();
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->header("connection"), "close");
  EXPECT_TRUE(server.Stop().ok());
}

TEST(ServeHttpTest, MetricsCountRequestsAndShowWorkers) {
  RunningServer server(Options(2));
  ASSERT_TRUE(server.ok());
  ASSERT_TRUE(WaitForMetric(server.port(), R"(workers{state="ready"})", 2));  // it listens once the first is ready
  ASSERT_TRUE(Fetch(server.port(), "POST", "/invocations", "{}"));
  ASSERT_TRUE(Fetch(server.port(), "POST", "/invocations", "{}"));
  ASSERT_TRUE(Fetch(server.port(), "GET", "/nope", "", {}));
  auto m = Fetch(server.port(), "GET", "/metrics", "", {});
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 200);
  EXPECT_EQ(m->header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  const std::string& t = m->body;
  EXPECT_EQ(MetricValue(t, R"(mlflow_bridge_serve_requests_total{route="/invocations",status="200"})"), 2);
  EXPECT_EQ(MetricValue(t, R"(mlflow_bridge_serve_requests_total{route="other",status="404"})"), 1);
  EXPECT_EQ(MetricValue(t, R"(mlflow_bridge_serve_request_duration_seconds_count{route="/invocations"})"), 2);
  EXPECT_EQ(MetricValue(t, R"(mlflow_bridge_serve_request_duration_seconds_bucket{route="/invocations",le="+Inf"})"), 2);
  EXPECT_EQ(MetricValue(t, R"(mlflow_bridge_serve_batch_size_bucket{le="1"})"), 2);
  EXPECT_EQ(MetricValue(t, R"(mlflow_bridge_serve_workers{state="configured"})"), 2);
  EXPECT_EQ(MetricValue(t, R"(mlflow_bridge_serve_workers{state="ready"})"), 2);
  EXPECT_EQ(MetricValue(t, "mlflow_bridge_serve_queue_depth"), 0);
  EXPECT_EQ(MetricValue(t, "mlflow_bridge_serve_worker_restarts_total"), 0);
  EXPECT_GT(MetricValue(t, R"(mlflow_bridge_serve_worker_pid{worker="0"})"), 0);
  EXPECT_GT(MetricValue(t, R"(mlflow_bridge_serve_worker_pid{worker="1"})"), 0);
  EXPECT_NE(t.find("# TYPE mlflow_bridge_serve_request_duration_seconds histogram"), std::string::npos);
}

TEST(ServeHttpTest, AccessLogAndPredictionLog) {
  fs::path access = TempPath("serve-access");
  fs::path predictions = TempPath("serve-predictions");
  ModelServerOptions o = Options(1);
  o.access_log = access.string();
  o.prediction_log = predictions.string();
  o.prediction_log_rate = 1.0;
  {
    RunningServer server(o);
    ASSERT_TRUE(server.ok());
    ASSERT_TRUE(Fetch(server.port(), "POST", "/invocations", R"({"inputs": [5]})",
                      {"Content-Type: application/json", "X-Request-Id: req-1"}));
    ASSERT_TRUE(Fetch(server.port(), "POST", "/score", "not json", {"Content-Type: text/plain", "X-Request-Id: req-2"}));
    ASSERT_TRUE(Fetch(server.port(), "GET", "/ping", "", {"X-Request-Id: req-3"}));
    EXPECT_TRUE(server.Stop().ok());
  }
  std::string log = ReadFile(access);
  EXPECT_NE(log.find("request_id=req-1 method=POST path=/invocations status=200 bytes="), std::string::npos) << log;
  EXPECT_NE(log.find("request_id=req-2 method=POST path=/score status=200"), std::string::npos) << log;
  EXPECT_NE(log.find("request_id=req-3 method=GET path=/ping status=200 bytes=1 latency_ms="), std::string::npos) << log;

  std::istringstream lines(ReadFile(predictions));
  std::vector<json> logged;
  for (std::string line; std::getline(lines, line);) logged.push_back(json::parse(line));
  ASSERT_EQ(logged.size(), 2u) << "predictions only, not /ping";
  EXPECT_EQ(logged[0]["request_id"], "req-1");
  EXPECT_EQ(logged[0]["route"], "/invocations");
  EXPECT_EQ(logged[0]["request"], json::parse(R"({"inputs": [5]})"));
  EXPECT_EQ(logged[0]["status"], 200);
  EXPECT_TRUE(logged[0]["response"].is_object());
  EXPECT_TRUE(logged[0]["time"].is_string());
  EXPECT_EQ(logged[1]["request"], "not json");
  fs::remove(access);
  fs::remove(predictions);
}

TEST(ServeHttpTest, PredictionLogSamples) {
  fs::path predictions = TempPath("serve-predictions-none");
  ModelServerOptions o = Options(1);
  o.prediction_log = predictions.string();
  o.prediction_log_rate = 0.0;
  {
    RunningServer server(o);
    ASSERT_TRUE(server.ok());
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(Fetch(server.port(), "POST", "/invocations", "{}"));
  }
  EXPECT_EQ(ReadFile(predictions), "");
  fs::remove(predictions);
}

TEST(ServeHttpTest, ManyConcurrentClientsEachGetTheirOwnAnswer) {
  RunningServer server(Options(3));
  ASSERT_TRUE(server.ok());
  std::vector<std::thread> clients;
  std::atomic<int> good{0};
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&, t] {
      RawConnection c(server.port());
      for (int i = 0; i < 25; ++i) {
        std::string mine = "client" + std::to_string(t) + "-" + std::to_string(i);
        if (!c.Send(Request("POST", "/invocations", mine))) return;
        auto r = c.Read();
        if (r && r->status == 200 && json::parse(r->body)["body"] == mine) ++good;
      }
    });
  }
  for (auto& c : clients) c.join();
  EXPECT_EQ(good.load(), 8 * 25);
}

}  // namespace
}  // namespace mlflow_bridge::internal
