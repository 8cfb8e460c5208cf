#include "k8s/kube_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "image/registry_auth.h"
#include "k8s/kube_retry.h"
#include "k8s/kube_wait.h"
#include "mock_transport.h"
#include "test_support.h"
#include "common/base64.h"

namespace mlflow_bridge::internal {
namespace {

using ::mlflow_bridge::testing::FakeClock;
using ::mlflow_bridge::testing::ScopedEnv;
using ::mlflow_bridge::testing::ScopedLogCapture;
using ::testing::HasSubstr;
using ::testing::Not;
using json = nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

const char* const kToken = "tok-secret-abcdef123";
const char* const kServer = "https://k8s.example.com:6443";

KubeConfig Config() {
  KubeConfig c;
  c.context = "ctx";
  c.cluster = "k";
  c.user = "me";
  c.source = "/home/me/.kube/config";
  c.server = kServer;
  c.namespace_name = "team";
  c.token = kToken;
  return c;
}

KubeResource Res(const char* api_version, const char* kind) {
  auto r = ResourceFor(api_version, kind);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return *r;
}

json StatusBody(const std::string& reason, const std::string& message, int code, json causes = nullptr) {
  json j = {{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"},
            {"reason", reason}, {"message", message}, {"code", code}};
  if (!causes.is_null()) j["details"] = {{"causes", causes}};
  return j;
}

json Deployment(const std::string& rv, bool ready) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", "app"}, {"namespace", "team"}, {"resourceVersion", rv}}},
          {"status", {{"readyReplicas", ready ? 1 : 0}}}};
}

std::string Event(const std::string& type, const json& object) {
  return json{{"type", type}, {"object", object}}.dump() + "\n";
}

std::optional<Status> Ready(const json& o) {
  if (o["status"].value("readyReplicas", 0) >= 1) return OkStatus();
  return std::nullopt;
}

// The REST client under the retry policy the targets put above it (RetryingKubeApi), and the waits over it.
class KubeClientTest : public ::testing::Test {
 protected:
  std::shared_ptr<KubeApi> Make(KubeConfig config = Config()) {
    options_.transport = mock_;
    options_.clock = clock_;
    auto c = KubeClient::Make(std::move(config), options_);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    if (!c.ok()) return nullptr;
    rest_ = *c;
    wait_.clock = clock_;
    return std::make_shared<RetryingKubeApi>(rest_, retry_, backoff_, clock_);
  }
  std::shared_ptr<MockTransport> mock_ = std::make_shared<MockTransport>();
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
  KubeClientOptions options_;
  RetryPolicy retry_;
  BackoffPolicy backoff_;
  KubeWaitOptions wait_;
  std::shared_ptr<KubeClient> rest_;
  KubeResource deploy_ = Res("apps/v1", "Deployment");
};

TEST(KubeResources, StaticTable) {
  auto d = ResourceFor("apps/v1", "Deployment");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->group, "apps");
  EXPECT_EQ(d->version, "v1");
  EXPECT_EQ(d->resource, "deployments");
  EXPECT_EQ(d->ApiVersion(), "apps/v1");
  auto ns = ResourceFor("v1", "Namespace");
  ASSERT_TRUE(ns.ok());
  EXPECT_FALSE(ns->namespaced);
  EXPECT_EQ(ns->group, "");
  EXPECT_EQ(ns->ApiVersion(), "v1");
  EXPECT_EQ(ResourceFor("gateway.kyma-project.io/v2", "APIRule")->resource, "apirules");
  EXPECT_EQ(ResourceFor("gateway.kyma-project.io/v1beta1", "APIRule")->version, "v1beta1");
  EXPECT_EQ(ResourceFor("networking.istio.io/v1", "VirtualService")->resource, "virtualservices");
  EXPECT_EQ(ResourceFor("networking.k8s.io/v1", "Ingress")->resource, "ingresses");
  for (const char* k : {"Service", "Secret", "Pod", "Event", "ServiceAccount"}) EXPECT_TRUE(ResourceFor("v1", k).ok()) << k;
  EXPECT_TRUE(ResourceFor("apps/v1", "ReplicaSet").ok());
  auto bad = ResourceFor("gateway.kyma-project.io/v1alpha1", "APIRule");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_THAT(bad.status().message(), HasSubstr("gateway.kyma-project.io/v2 APIRule"));
}

TEST_F(KubeClientTest, UrlsForNamespacedAndClusterResources) {
  auto c = Make();
  mock_->Enqueue(200, Deployment("1", true).dump());
  mock_->Enqueue(200, R"({"kind":"Namespace","metadata":{"name":"team"}})");
  mock_->Enqueue(200, R"({"kind":"Service"})");
  mock_->Enqueue(200, R"({"major":"1","minor":"30"})");
  ASSERT_TRUE(c->Get(deploy_, "", "app").ok());
  ASSERT_TRUE(c->Get(Res("v1", "Namespace"), "ignored", "team").ok());
  ASSERT_TRUE(c->Get(Res("v1", "Service"), "other ns", "svc").ok());
  auto v = c->ServerVersion();
  ASSERT_TRUE(v.ok());
  EXPECT_EQ((*v)["minor"], "30");
  auto reqs = mock_->requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(reqs[0].method, "GET");
  EXPECT_EQ(reqs[0].url, std::string(kServer) + "/apis/apps/v1/namespaces/team/deployments/app");
  EXPECT_EQ(reqs[1].url, std::string(kServer) + "/api/v1/namespaces/team");
  EXPECT_EQ(reqs[2].url, std::string(kServer) + "/api/v1/namespaces/other%20ns/services/svc");
  EXPECT_EQ(reqs[3].url, std::string(kServer) + "/version");
  EXPECT_EQ(FindHeader(reqs[0].headers, "Authorization"), "Bearer " + std::string(kToken));
  EXPECT_EQ(FindHeader(reqs[0].headers, "Accept"), "application/json");
  EXPECT_EQ(rest_->Url(Res("v1", "Pod"), "", ""), std::string(kServer) + "/api/v1/pods");
}

TEST_F(KubeClientTest, ServerWithPathPrefix) {
  KubeConfig cfg = Config();
  cfg.server = "https://rancher.example.com/k8s/clusters/c-123/";
  auto c = Make(cfg);
  EXPECT_EQ(rest_->Url(deploy_, "team", "app"),
            "https://rancher.example.com/k8s/clusters/c-123/apis/apps/v1/namespaces/team/deployments/app");
}

TEST_F(KubeClientTest, ApplyIsServerSideApply) {
  auto c = Make();
  json obj = Deployment("", false);
  obj["metadata"].erase("resourceVersion");
  obj["metadata"]["namespace"] = "prod";
  mock_->Enqueue(200, Deployment("5", false).dump());
  auto r = c->Apply(obj);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)["metadata"]["resourceVersion"], "5");
  auto req = mock_->requests().at(0);
  EXPECT_EQ(req.method, "PATCH");
  EXPECT_EQ(req.url,
            std::string(kServer) + "/apis/apps/v1/namespaces/prod/deployments/app?fieldManager=mlflow-bridge&force=true");
  EXPECT_EQ(FindHeader(req.headers, "Content-Type"), "application/apply-patch+yaml");
  EXPECT_EQ(json::parse(req.body), obj);

  // No namespace in the object: the kubeconfig's. Status subresource.
  json svc = {{"apiVersion", "v1"}, {"kind", "Service"}, {"metadata", {{"name", "s"}}}, {"status", json::object()}};
  mock_->Enqueue(200, svc.dump());
  ASSERT_TRUE(c->ApplyStatus(svc).ok());
  EXPECT_EQ(mock_->requests().at(1).url,
            std::string(kServer) + "/api/v1/namespaces/team/services/s/status?fieldManager=mlflow-bridge&force=true");

  auto bad = c->Apply(json{{"kind", "Deployment"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidParameterValue);
  auto unknown = c->Apply(json{{"apiVersion", "v9"}, {"kind", "Gizmo"}, {"metadata", {{"name", "g"}}}});
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidParameterValue);
}

TEST_F(KubeClientTest, ApplyRetriesConflictsAndOverload) {
  auto c = Make();
  mock_->Enqueue(409, StatusBody("Conflict", "Operation cannot be fulfilled: the object has been modified", 409).dump());
  mock_->Enqueue(429, StatusBody("TooManyRequests", "slow down", 429).dump(), {{"Retry-After", "3"}});
  mock_->Enqueue(200, Deployment("9", true).dump());
  auto r = c->Apply(Deployment("", true));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(mock_->requests().size(), 3u);
  ASSERT_EQ(clock_->sleeps.size(), 2u);
  EXPECT_EQ(clock_->sleeps[1], seconds(3));
}

// The stub makes one attempt per call and never sleeps: the retries are RetryingKubeApi's.
TEST_F(KubeClientTest, TheRestClientMakesOneAttempt) {
  Make();
  mock_->Enqueue(503, StatusBody("ServiceUnavailable", "busy", 503).dump());
  mock_->Enqueue(409, StatusBody("Conflict", "the object has been modified", 409).dump());
  mock_->Enqueue(UnavailableError("connection reset"));
  auto g = rest_->Get(deploy_, "team", "app");
  EXPECT_EQ(g.status().code(), StatusCode::kTemporarilyUnavailable);
  auto a = rest_->Apply(Deployment("", true));
  EXPECT_EQ(a.status().code(), StatusCode::kTemporarilyUnavailable);  // transient: the retrying layer tries again
  auto w = rest_->Watch(deploy_, "team", "app", "1", 10);
  EXPECT_EQ(w.status().code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_EQ(mock_->requests().size(), 3u);
  EXPECT_TRUE(clock_->sleeps.empty());
}

// The Kubernetes retry policy above the stub: GET, LIST and DELETE are idempotent, a 5xx or 429 transient.
TEST_F(KubeClientTest, ReadsListsAndDeletesAreRetried) {
  auto c = Make();
  mock_->Enqueue(503, StatusBody("ServiceUnavailable", "busy", 503).dump());
  mock_->Enqueue(200, Deployment("1", true).dump());
  mock_->Enqueue(429, StatusBody("TooManyRequests", "slow down", 429).dump());
  mock_->Enqueue(200, R"({"kind":"DeploymentList","metadata":{},"items":[]})");
  mock_->Enqueue(500, StatusBody("InternalError", "etcd leader changed", 500).dump());
  mock_->Enqueue(200, R"({"kind":"Status","status":"Success"})");
  EXPECT_TRUE(c->Get(deploy_, "team", "app").ok());
  EXPECT_TRUE(c->List(deploy_, "team").ok());
  EXPECT_TRUE(c->Delete(deploy_, "team", "app").ok());
  auto reqs = mock_->requests();
  ASSERT_EQ(reqs.size(), 6u);
  EXPECT_EQ(reqs[5].method, "DELETE");
  EXPECT_EQ(clock_->sleeps.size(), 3u);
}

TEST_F(KubeClientTest, DeleteIsForegroundAndIdempotent) {
  auto c = Make();
  mock_->Enqueue(200, R"({"kind":"Status","status":"Success"})");
  mock_->Enqueue(404, StatusBody("NotFound", "deployments.apps \"gone\" not found", 404).dump());
  EXPECT_TRUE(c->Delete(deploy_, "team", "app").ok());
  EXPECT_TRUE(c->Delete(deploy_, "team", "gone").ok());
  auto reqs = mock_->requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].method, "DELETE");
  EXPECT_EQ(reqs[0].url, std::string(kServer) + "/apis/apps/v1/namespaces/team/deployments/app");
  json body = json::parse(reqs[0].body);
  EXPECT_EQ(body["kind"], "DeleteOptions");
  EXPECT_EQ(body["propagationPolicy"], "Foreground");
  EXPECT_EQ(FindHeader(reqs[0].headers, "Content-Type"), "application/json");
}

TEST_F(KubeClientTest, DeleteAndWaitUntilGone) {
  auto c = Make();
  mock_->Enqueue(202, Deployment("10", true).dump());  // foreground: still there, with a deletionTimestamp
  mock_->Enqueue(200, Deployment("11", true).dump());  // the wait's first GET
  mock_->Enqueue(200, Event("MODIFIED", Deployment("12", false)) + Event("DELETED", Deployment("13", false)));
  EXPECT_TRUE(DeleteKubeAndWait(*c, wait_, deploy_, "team", "app", seconds(60)).ok());
  auto reqs = mock_->requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_THAT(reqs[2].url, HasSubstr("watch=1"));
  EXPECT_THAT(reqs[2].url, HasSubstr("resourceVersion=11"));

  // Already gone by the time the wait looks.
  mock_->Enqueue(200, "{}");
  mock_->Enqueue(404, StatusBody("NotFound", "not found", 404).dump());
  EXPECT_TRUE(DeleteKubeAndWait(*c, wait_, deploy_, "team", "app").ok());
}

TEST_F(KubeClientTest, ListFollowsContinueAndEncodesSelectors) {
  auto c = Make();
  mock_->Enqueue(200, R"({"kind":"PodList","apiVersion":"v1","metadata":{"continue":"tok/1=","resourceVersion":"40"},
                         "items":[{"metadata":{"name":"a"}},{"metadata":{"name":"b"}}]})");
  mock_->Enqueue(200, R"({"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"41"},
                         "items":[{"metadata":{"name":"c"}}]})");
  auto l = c->List(Res("v1", "Pod"), "team", "app=x,tier in (a,b)", "status.phase=Running");
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  ASSERT_EQ((*l)["items"].size(), 3u);
  EXPECT_EQ((*l)["items"][2]["metadata"]["name"], "c");
  EXPECT_EQ((*l)["kind"], "PodList");
  EXPECT_FALSE((*l)["metadata"].contains("continue"));
  EXPECT_EQ((*l)["metadata"]["resourceVersion"], "41");
  auto reqs = mock_->requests();
  ASSERT_EQ(reqs.size(), 2u);
  const std::string base = std::string(kServer) +
                           "/api/v1/namespaces/team/pods?limit=500&labelSelector=app%3Dx%2Ctier%20in%20%28a%2Cb%29"
                           "&fieldSelector=status.phase%3DRunning";
  EXPECT_EQ(reqs[0].url, base);
  EXPECT_EQ(reqs[1].url, base + "&continue=tok%2F1%3D");
}

TEST_F(KubeClientTest, ListAllNamespacesAndExpiredContinue) {
  auto c = Make();
  mock_->Enqueue(200, R"({"kind":"DeploymentList","metadata":{"continue":"c1"},"items":[{"metadata":{"name":"a"}}]})");
  mock_->Enqueue(410, StatusBody("Expired", "The provided continue parameter is too old", 410).dump());
  mock_->Enqueue(200,
                 R"({"kind":"DeploymentList","metadata":{},"items":[{"metadata":{"name":"a"}},{"metadata":{"name":"b"}}]})");
  auto l = c->List(deploy_, "");
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_EQ((*l)["items"].size(), 2u);  // started again: no duplicates
  auto reqs = mock_->requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].url, std::string(kServer) + "/apis/apps/v1/deployments?limit=500");
  EXPECT_EQ(reqs[2].url, reqs[0].url);
}

TEST_F(KubeClientTest, ServesUsesDiscoveryAndCaches) {
  auto c = Make();
  mock_->Enqueue(200, R"({"kind":"APIGroup","name":"gateway.kyma-project.io","versions":[
      {"groupVersion":"gateway.kyma-project.io/v2","version":"v2"},
      {"groupVersion":"gateway.kyma-project.io/v1beta1","version":"v1beta1"}]})");
  mock_->Enqueue(404, StatusBody("NotFound", "the server could not find the requested resource", 404).dump());
  mock_->Enqueue(200, R"({"kind":"APIVersions","versions":["v1"]})");
  EXPECT_TRUE(*c->Serves("gateway.kyma-project.io", "v2"));
  EXPECT_TRUE(*c->Serves("gateway.kyma-project.io", "v2"));  // cached
  EXPECT_FALSE(*c->Serves("networking.istio.io", "v1"));
  EXPECT_TRUE(*c->Serves("", "v1"));
  auto reqs = mock_->requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].url, std::string(kServer) + "/apis/gateway.kyma-project.io");
  EXPECT_EQ(reqs[1].url, std::string(kServer) + "/apis/networking.istio.io");
  EXPECT_EQ(reqs[2].url, std::string(kServer) + "/api");
}

// ---------------------------------------------------------------------------
// The error mapping

struct MappingCase {
  long http;
  std::string reason, message;
  StatusCode expected;
  std::vector<std::string> contains;
  bool conflict_is_transient = false;
};

TEST(KubeErrorMapping, Table) {
  const KubeConfig cfg = Config();
  const std::vector<MappingCase> cases = {
      {404,
       "NotFound",
       "namespaces \"x\" not found",
       StatusCode::kResourceDoesNotExist,
       {"apply Deployment x/app", "namespaces \"x\" not found"}},
      {409,
       "AlreadyExists",
       "deployments.apps \"app\" already exists",
       StatusCode::kResourceAlreadyExists,
       {"already exists"}},
      {409, "Conflict", "the object has been modified", StatusCode::kTemporarilyUnavailable, {"modified"}, true},
      {409, "Conflict", "the object has been modified", StatusCode::kResourceAlreadyExists, {"modified"}},
      {401,
       "Unauthorized",
       "Unauthorized",
       StatusCode::kUnauthenticated,
       {"context \"ctx\"", "user \"me\"", "refresh the credentials", kServer, "/home/me/.kube/config"}},
      {403,
       "Forbidden",
       "deployments.apps \"app\" is forbidden: User \"me\" cannot patch resource \"deployments\" in API group "
       "\"apps\" in the namespace \"x\"",
       StatusCode::kPermissionDenied,
       {"cannot patch resource \"deployments\"", "apply Deployment x/app"}},
      {422,
       "Invalid",
       "Deployment.apps \"app\" is invalid",
       StatusCode::kInvalidParameterValue,
       {"is invalid", "spec.replicas: Invalid value: -1", "spec.template.metadata.labels: Required value"}},
      {400,
       "BadRequest",
       "the body of the request was in an unknown format",
       StatusCode::kInvalidParameterValue,
       {"unknown format"}},
      {429, "TooManyRequests", "too many requests", StatusCode::kTemporarilyUnavailable, {"too many"}},
      {503,
       "ServiceUnavailable",
       "the server is currently unable to handle the request",
       StatusCode::kTemporarilyUnavailable,
       {"unable to handle"}},
      {500,
       "InternalError",
       "Internal error occurred: failed calling webhook",
       StatusCode::kTemporarilyUnavailable,
       {"webhook"}},
      {504, "", "", StatusCode::kTemporarilyUnavailable, {"HTTP 504"}},
      {405,
       "MethodNotAllowed",
       "the server does not allow this method",
       StatusCode::kInvalidParameterValue,
       {"does not allow"}},
  };
  for (const MappingCase& mc : cases) {
    HttpResponse r;
    r.status_code = mc.http;
    if (!mc.reason.empty()) {
      json causes = nullptr;
      if (mc.reason == "Invalid")
        causes =
            json::array({{{"reason", "FieldValueInvalid"}, {"field", "spec.replicas"}, {"message", "Invalid value: -1"}},
                         {{"field", "spec.template.metadata.labels"}, {"message", "Required value"}}});
      r.body = StatusBody(mc.reason, mc.message, static_cast<int>(mc.http), causes).dump();
    } else {
      r.body = "<html>gateway timeout</html>";
    }
    Status s = KubeErrorStatus(r, "apply Deployment x/app", cfg, mc.conflict_is_transient, std::chrono::system_clock::now());
    EXPECT_EQ(s.code(), mc.expected) << mc.http << " " << mc.reason << ": " << s.ToString();
    for (const auto& part : mc.contains) EXPECT_THAT(s.message(), HasSubstr(part)) << mc.reason;
    EXPECT_THAT(s.message(), Not(HasSubstr(kToken)));
  }
  HttpResponse busy{503, {{"Retry-After", "7"}}, StatusBody("ServiceUnavailable", "busy", 503).dump()};
  Status s = KubeErrorStatus(busy, "get x", cfg, false, std::chrono::system_clock::now());
  ASSERT_TRUE(s.retry_after());
  EXPECT_EQ(*s.retry_after(), seconds(7));
}

TEST_F(KubeClientTest, NotFoundKeepsTheServersMessage) {
  auto c = Make();
  mock_->Enqueue(404, StatusBody("NotFound", "namespaces \"nope\" not found", 404).dump());
  auto r = c->Apply(json{{"apiVersion", "v1"}, {"kind", "Service"}, {"metadata", {{"name", "s"}, {"namespace", "nope"}}}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceDoesNotExist);
  EXPECT_EQ(r.status().message(), "apply Service nope/s: namespaces \"nope\" not found");
}

TEST_F(KubeClientTest, UnreachableNamesServerAndContext) {
  retry_.max_attempts = 2;
  auto c = Make();
  mock_->Enqueue(UnavailableError("GET https://k8s.example.com:6443/version failed: Connection refused"));
  mock_->Enqueue(UnavailableError("GET https://k8s.example.com:6443/version failed: Connection refused"));
  auto r = c->ServerVersion();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_THAT(r.status().message(),
              HasSubstr("Kubernetes API server https://k8s.example.com:6443 (context \"ctx\") is unreachable"));
  EXPECT_THAT(r.status().message(), HasSubstr("after 2 attempts"));
}

TEST(KubeClientCurl, ConnectionRefusedIsUnavailable) {
  ScopedEnv e1("http_proxy", nullptr), e2("HTTP_PROXY", nullptr), e3("all_proxy", nullptr), e4("ALL_PROXY", nullptr);
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  KubeConfig cfg = Config();
  cfg.server = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  auto c = KubeClient::Make(cfg);  // one attempt: the REST client does not retry
  ASSERT_TRUE(c.ok());
  auto r = (*c)->ServerVersion();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_THAT(r.status().message(), HasSubstr("(context \"ctx\") is unreachable"));
}

TEST(KubeClientMake, RejectsABadServer) {
  KubeConfig cfg = Config();
  cfg.server = "k8s.example.com:6443";
  auto c = KubeClient::Make(cfg);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidParameterValue);
}

TEST(KubeClientMake, InsecureSettingWarnsOnceAndAppliedOnesDoNot) {
  ScopedLogCapture logs(LogLevel::kInfo);
  KubeConfig cfg = Config();
  cfg.server = "https://insecure-once.example.com";
  cfg.insecure_skip_tls_verify = true;
  cfg.tls_server_name = "kubernetes.default";  // applied by the transport (tests/python: the stand-in and kubectl)
  cfg.proxy_url = "http://proxy.example.com:3128";
  ASSERT_TRUE(KubeClient::Make(cfg).ok());
  ASSERT_TRUE(KubeClient::Make(cfg).ok());
  const std::string text = logs.text();
  const std::string warning = "TLS verification is off for Kubernetes API server https://insecure-once.example.com";
  ASSERT_NE(text.find(warning), std::string::npos) << text;
  EXPECT_EQ(text.find(warning, text.find(warning) + 1), std::string::npos) << text;
  EXPECT_THAT(text, Not(HasSubstr("tls-server-name")));
  EXPECT_THAT(text, Not(HasSubstr("proxy-url")));
  EXPECT_THAT(text, Not(HasSubstr(kToken)));
}

// ---------------------------------------------------------------------------
// Credentials

TEST_F(KubeClientTest, TokenFileIsReadAgainWhenItChanges) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "kube-token-XXXXXX").string();
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  std::string path = tmpl + "/token";
  std::ofstream(path) << "first-token-value\n";
  KubeConfig cfg = Config();
  cfg.token = "first-token-value";
  cfg.token_file = path;
  auto c = Make(cfg);
  mock_->Enqueue(200, "{}");
  mock_->Enqueue(200, "{}");
  ASSERT_TRUE(c->ServerVersion().ok());
  std::ofstream(path, std::ios::trunc) << "second-token-value\n";
  std::filesystem::last_write_time(path, std::filesystem::last_write_time(path) + seconds(5));
  ASSERT_TRUE(c->ServerVersion().ok());
  auto reqs = mock_->requests();
  EXPECT_EQ(FindHeader(reqs[0].headers, "Authorization"), "Bearer first-token-value");
  EXPECT_EQ(FindHeader(reqs[1].headers, "Authorization"), "Bearer second-token-value");

  // A 401 makes it look again at once (a token rotated within the same second).
  const auto seen = std::filesystem::last_write_time(path);
  std::ofstream(path, std::ios::trunc) << "third-token-value\n";
  std::filesystem::last_write_time(path, seen);
  mock_->Enqueue(401, StatusBody("Unauthorized", "Unauthorized", 401).dump());
  mock_->Enqueue(200, "{}");
  ASSERT_TRUE(c->ServerVersion().ok());
  reqs = mock_->requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(FindHeader(reqs[3].headers, "Authorization"), "Bearer third-token-value");
  std::filesystem::remove_all(tmpl);
}

TEST_F(KubeClientTest, BasicAuth) {
  KubeConfig cfg = Config();
  cfg.token.clear();
  cfg.username = "admin";
  cfg.password = "pa55word-xyz";
  auto c = Make(cfg);
  mock_->Enqueue(200, "{}");
  ASSERT_TRUE(c->ServerVersion().ok());
  EXPECT_EQ(FindHeader(mock_->requests()[0].headers, "Authorization"), "Basic " + Base64Encode("admin:pa55word-xyz"));
}

TEST_F(KubeClientTest, ExecTokenCachedAndRefreshedOn401) {
  KubeConfig cfg = Config();
  cfg.token.clear();
  cfg.exec = ExecPlugin{"client.authentication.k8s.io/v1", "fake-plugin", {}, {}, "", false, "Never"};
  int runs = 0;
  options_.exec_runner = [&](const KubeConfig& k) -> StatusOr<ExecCredential> {
    EXPECT_EQ(k.user, "me");
    ExecCredential e;
    e.token = "exec-token-" + std::to_string(++runs);
    e.expires = clock_->WallNow() + std::chrono::minutes(10);
    return e;
  };
  auto c = Make(cfg);
  mock_->Enqueue(200, "{}");
  mock_->Enqueue(401, StatusBody("Unauthorized", "Unauthorized", 401).dump());  // revoked early
  mock_->Enqueue(200, "{}");
  mock_->Enqueue(200, "{}");
  ASSERT_TRUE(c->ServerVersion().ok());
  ASSERT_TRUE(c->ServerVersion().ok());
  clock_->Advance(std::chrono::minutes(11));
  ASSERT_TRUE(c->ServerVersion().ok());
  auto reqs = mock_->requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(FindHeader(reqs[0].headers, "Authorization"), "Bearer exec-token-1");
  EXPECT_EQ(FindHeader(reqs[1].headers, "Authorization"), "Bearer exec-token-1");
  EXPECT_EQ(FindHeader(reqs[2].headers, "Authorization"), "Bearer exec-token-2");
  EXPECT_EQ(FindHeader(reqs[3].headers, "Authorization"), "Bearer exec-token-3");  // expired
  EXPECT_EQ(runs, 3);
}

TEST_F(KubeClientTest, ExecFailureNamesTheOperation) {
  KubeConfig cfg = Config();
  cfg.exec = ExecPlugin{"client.authentication.k8s.io/v1", "fake-plugin", {}, {}, "", false, "Never"};
  options_.exec_runner = [](const KubeConfig&) -> StatusOr<ExecCredential> {
    return UnauthenticatedError("exec credential plugin 'fake-plugin' failed with exit code 1");
  };
  auto c = Make(cfg);
  auto r = c->Get(deploy_, "team", "app");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated);
  EXPECT_THAT(r.status().message(), HasSubstr("get Deployment team/app: exec credential plugin"));
  EXPECT_TRUE(mock_->requests().empty());
}

// A credential error is never retried by the retry policy above the stub (decision 0003): an exec plugin
// that timed out is not run again and again.
TEST_F(KubeClientTest, ExecTimeoutIsNotRetried) {
  KubeConfig cfg = Config();
  cfg.exec = ExecPlugin{"client.authentication.k8s.io/v1", "fake-plugin", {}, {}, "", false, "Never"};
  int runs = 0;
  options_.exec_runner = [&](const KubeConfig&) -> StatusOr<ExecCredential> {
    ++runs;
    return DeadlineExceededError("exec credential plugin 'fake-plugin' did not finish within 60 s");
  };
  auto c = Make(cfg);
  auto r = c->Get(deploy_, "team", "app");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(r.status().message(),
            "get Deployment team/app: exec credential plugin 'fake-plugin' did not finish within 60 s");
  EXPECT_EQ(runs, 1);
  EXPECT_TRUE(clock_->sleeps.empty());
}

TEST_F(KubeClientTest, SecretsNeverInMessagesOrLogs) {
  ScopedLogCapture logs(LogLevel::kDebug);
  retry_.max_attempts = 2;
  auto c = Make();
  // A (pathological) server that echoes the credential back.
  mock_->Enqueue(403, StatusBody("Forbidden", std::string("token ") + kToken + " may not get deployments", 403).dump());
  mock_->Enqueue(503, StatusBody("ServiceUnavailable", std::string("Bearer ") + kToken, 503).dump());
  mock_->Enqueue(503, StatusBody("ServiceUnavailable", std::string("auth ") + kToken, 503).dump());
  mock_->Enqueue(401, StatusBody("Unauthorized", kToken, 401).dump());
  auto a = c->Get(deploy_, "team", "app");
  auto b = c->Get(deploy_, "team", "app");
  auto d = c->Get(deploy_, "team", "app");
  for (const auto& r : {a, b, d}) {
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(r.status().message(), Not(HasSubstr(kToken))) << r.status().message();
  }
  EXPECT_EQ(a.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(b.status().code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_EQ(d.status().code(), StatusCode::kUnauthenticated);
  EXPECT_THAT(logs.text(), HasSubstr("retrying"));
  EXPECT_THAT(logs.text(), Not(HasSubstr(kToken)));
}

// ---------------------------------------------------------------------------
// Waiting: watch long polls, 410, fallback to polling, timeout, interrupt

TEST_F(KubeClientTest, WaitForFollowsEventsAcrossLongPolls) {
  auto c = Make();
  mock_->Enqueue(200, Deployment("1", false).dump());
  mock_->Enqueue(200, Event("MODIFIED", Deployment("2", false)) +
                          Event("BOOKMARK", {{"kind", "Deployment"}, {"metadata", {{"resourceVersion", "5"}}}}));
  mock_->Enqueue(200, "");  // a long poll that ended without news
  mock_->Enqueue(200, Event("MODIFIED", Deployment("6", false)) + Event("MODIFIED", Deployment("7", true)) +
                          Event("MODIFIED", Deployment("8", true)));
  int calls = 0;
  auto r = WaitForKube(*c, wait_, deploy_, "team", "app", seconds(300), [&](const json& o) {
    ++calls;
    return Ready(o);
  });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)["metadata"]["resourceVersion"], "7");
  EXPECT_EQ(calls, 5);  // 1, 2, 2 again after the quiet round, 6, 7
  auto reqs = mock_->requests();
  ASSERT_EQ(reqs.size(), 4u);
  const std::string watch = std::string(kServer) +
                            "/apis/apps/v1/namespaces/team/deployments?watch=1&fieldSelector=metadata.name%3Dapp"
                            "&resourceVersion=";
  EXPECT_EQ(reqs[1].url, watch + "1&timeoutSeconds=10&allowWatchBookmarks=true");
  EXPECT_EQ(reqs[2].url, watch + "5&timeoutSeconds=10&allowWatchBookmarks=true");
  EXPECT_EQ(reqs[3].url, watch + "5&timeoutSeconds=10&allowWatchBookmarks=true");
  ASSERT_TRUE(reqs[1].timeout);
  EXPECT_GT(*reqs[1].timeout, seconds(10));
}

TEST_F(KubeClientTest, WaitForRelistsOnGone) {
  auto c = Make();
  mock_->Enqueue(200, Deployment("1", false).dump());
  mock_->Enqueue(410, StatusBody("Expired", "too old resource version: 1 (50)", 410).dump());
  mock_->Enqueue(200, Deployment("50", false).dump());
  mock_->Enqueue(200, Event("ERROR", StatusBody("Expired", "too old resource version: 50 (60)", 410)));
  mock_->Enqueue(200, Deployment("60", false).dump());
  mock_->Enqueue(200, Event("MODIFIED", Deployment("61", true)));
  auto r = WaitForKube(*c, wait_, deploy_, "team", "app", seconds(300), Ready);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto reqs = mock_->requests();
  ASSERT_EQ(reqs.size(), 6u);
  EXPECT_THAT(reqs[1].url, HasSubstr("resourceVersion=1&"));
  EXPECT_THAT(reqs[2].url, Not(HasSubstr("watch")));
  EXPECT_THAT(reqs[3].url, HasSubstr("resourceVersion=50&"));
  EXPECT_THAT(reqs[5].url, HasSubstr("resourceVersion=60&"));
}

TEST_F(KubeClientTest, WaitForFallsBackToPolling) {
  auto c = Make();
  mock_->Enqueue(200, Deployment("1", false).dump());
  mock_->Enqueue(UnavailableError("connection reset"));  // the watch fails
  mock_->Enqueue(200, Deployment("2", false).dump());
  mock_->Enqueue(200, Deployment("3", true).dump());
  auto r = WaitForKube(*c, wait_, deploy_, "team", "app", seconds(300), Ready);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto reqs = mock_->requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_THAT(reqs[2].url, Not(HasSubstr("watch")));
  EXPECT_THAT(reqs[3].url, Not(HasSubstr("watch")));
  ASSERT_EQ(clock_->sleeps.size(), 2u);
  EXPECT_EQ(clock_->sleeps[0], milliseconds(200));  // backoff.initial
  EXPECT_EQ(clock_->sleeps[1], milliseconds(400));
}

TEST_F(KubeClientTest, WaitForPollsWhenTheServerDoesNotStream) {
  auto c = Make();
  mock_->Enqueue(200, Deployment("1", false).dump());
  mock_->Enqueue(200, Deployment("1", false).dump(2));  // ?watch ignored: a pretty-printed object
  mock_->Enqueue(200, Deployment("2", true).dump());
  auto r = WaitForKube(*c, wait_, deploy_, "team", "app", seconds(300), Ready);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(mock_->requests().size(), 3u);
}

TEST_F(KubeClientTest, WaitForTimesOutNamingTheObject) {
  wait_.progress_interval = seconds(15);
  auto c = Make();
  mock_->Enqueue(200, Deployment("1", false).dump());
  for (int i = 0; i < 200; ++i) mock_->Enqueue(200, "");
  int progress = 0;
  auto r = WaitForKube(*c, wait_, deploy_, "team", "app", seconds(60), Ready, [&](const json& o) {
    EXPECT_EQ(o["metadata"]["name"], "app");
    ++progress;
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_THAT(r.status().message(), HasSubstr("Deployment team/app"));
  EXPECT_THAT(r.status().message(), HasSubstr("60 s"));
  EXPECT_GE(progress, 2);
  EXPECT_LE(progress, 4);
  auto reqs = mock_->requests();
  EXPECT_LT(reqs.size(), 40u);  // backed off, not spinning
  // The last long poll was not asked to outlive the deadline.
  EXPECT_THAT(reqs.back().url, HasSubstr("timeoutSeconds="));
}

TEST_F(KubeClientTest, WaitForStopsWhenInterrupted) {
  int polls = 0;
  wait_.interrupted = [&] { return ++polls > 2; };
  auto c = Make();
  mock_->Enqueue(200, Deployment("1", false).dump());
  for (int i = 0; i < 10; ++i) mock_->Enqueue(200, "");
  auto r = WaitForKube(*c, wait_, deploy_, "team", "app", seconds(300), Ready);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternalError);
  EXPECT_THAT(r.status().message(), HasSubstr("Interrupted while waiting for Deployment team/app"));
}

TEST_F(KubeClientTest, WaitForMissingDeletedOrFailed) {
  auto c = Make();
  mock_->Enqueue(404, StatusBody("NotFound", "deployments.apps \"app\" not found", 404).dump());
  auto missing = WaitForKube(*c, wait_, deploy_, "team", "app", seconds(30), Ready);
  EXPECT_EQ(missing.status().code(), StatusCode::kResourceDoesNotExist);
  EXPECT_THAT(missing.status().message(), HasSubstr("Deployment team/app does not exist"));

  mock_->Enqueue(200, Deployment("1", false).dump());
  mock_->Enqueue(200, Event("DELETED", Deployment("2", false)));
  auto deleted = WaitForKube(*c, wait_, deploy_, "team", "app", seconds(30), Ready);
  EXPECT_EQ(deleted.status().code(), StatusCode::kResourceDoesNotExist);
  EXPECT_THAT(deleted.status().message(), HasSubstr("was deleted while waiting"));

  mock_->Enqueue(200, Deployment("1", false).dump());
  mock_->Enqueue(200, Event("MODIFIED", Deployment("2", false)));
  auto failed = WaitForKube(*c, wait_, deploy_, "team", "app", seconds(30), [](const json& o) -> std::optional<Status> {
    if (o["metadata"]["resourceVersion"] == "2") return InternalError("ImagePullBackOff");
    return std::nullopt;
  });
  EXPECT_EQ(failed.status().code(), StatusCode::kInternalError);
  EXPECT_EQ(failed.status().message(), "ImagePullBackOff");
}

}  // namespace
}  // namespace mlflow_bridge::internal
