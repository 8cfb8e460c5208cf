// The sagemaker-endpoints Stub layer and the AWS protocol under it, against a
// MockTransport: what goes on the wire (method, URL, headers, body, SigV4),
// how AWS error replies map onto Status codes, and the retry rule: a stub makes one attempt, AwsCaller marks
// the failure, and the AWS retry policy above the stub (AwsRetry, as the SageMaker client uses it) retries.
#include <gtest/gtest.h>

#include "test_support.h"
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "aws/caller.h"
#include "aws/ecr_stub.h"
#include "aws/retry_policy.h"
#include "aws/s3_stub.h"
#include "aws/sagemaker_stub.h"
#include "aws/sts_stub.h"
#include "aws/sigv4.h"
#include "mlflow_bridge/aws.h"
#include "mlflow_bridge/logging.h"
#include "mock_transport.h"
#include "common/crypto.h"

namespace mlflow_bridge::internal {
namespace {

using ::mlflow_bridge::testing::FakeClock;
using ::mlflow_bridge::testing::ScopedEnv;
using ::mlflow_bridge::testing::Utc;

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::system_clock;

constexpr const char* kAkid = "AKIDEXAMPLESTUB";
constexpr const char* kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr const char* kToken = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN/abc+def==";
constexpr const char* kRegion = "eu-west-1";

// Counts GetCredentials() calls; can be told to fail.
class CountingProvider : public AwsCredentialsProvider {
 public:
  explicit CountingProvider(AwsCredentials c) : c_(std::move(c)) {}
  StatusOr<AwsCredentials> GetCredentials() override {
    ++calls;
    if (error) return *error;
    return c_;
  }
  std::string Describe() const override { return "counting"; }
  int calls = 0;
  std::optional<Status> error;

 private:
  AwsCredentials c_;
};

std::string JsonError(std::string_view type, std::string_view message) {
  return json{{"__type", type}, {"message", message}}.dump();
}

std::string Header(const HttpRequest& r, std::string_view name) { return FindHeader(r.headers, name).value_or(""); }

// Checks the SigV4 signature of a recorded request: credential scope, signed
// headers and the signature itself, recomputed from the stages.
void ExpectSigned(const HttpRequest& r, std::string_view service, std::string_view region, bool with_token,
                  std::string_view date = "20240101", bool s3 = false) {
  SCOPED_TRACE(r.method + " " + r.url);
  const std::string authz = Header(r, "Authorization");
  const std::string prefix = std::string("AWS4-HMAC-SHA256 Credential=") + kAkid + "/" + std::string(date) + "/" +
                             std::string(region) + "/" + std::string(service) + "/aws4_request, SignedHeaders=";
  ASSERT_EQ(authz.rfind(prefix, 0), 0u) << authz;
  EXPECT_EQ(Header(r, "X-Amz-Date").substr(0, 8), date);
  if (with_token) {
    EXPECT_EQ(Header(r, "X-Amz-Security-Token"), kToken);
    EXPECT_NE(authz.find("x-amz-security-token"), std::string::npos);
  } else {
    EXPECT_FALSE(FindHeader(r.headers, "X-Amz-Security-Token").has_value());
  }
  HttpRequest unsigned_copy = r;
  std::erase_if(unsigned_copy.headers, [](const auto& h) { return h.first == "Authorization"; });
  std::string signed_headers;
  auto creq = CanonicalRequest(unsigned_copy, s3 ? "s3" : service, Sha256Hex(r.body), &signed_headers);
  ASSERT_TRUE(creq.ok()) << creq.status().ToString();
  EXPECT_NE(authz.find("SignedHeaders=" + signed_headers + ","), std::string::npos) << authz;
  const std::string scope = CredentialScope(date, region, service);
  const std::string sig =
      Signature(SigningKey(kSecret, date, region, service), StringToSign(Header(r, "X-Amz-Date"), scope, *creq));
  EXPECT_EQ(authz.substr(authz.size() - 64), sig);
}

class StubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* v : {"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER", "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME",
                          "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_ECR", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"})
      env_.Set(v, std::nullopt);
    old_sink_ = SetLogSink([this](LogLevel, std::string_view m) { logs_.emplace_back(m); });
  }
  void TearDown() override { SetLogSink(old_sink_); }

  AwsCaller Caller(std::shared_ptr<AwsCredentialsProvider> p = nullptr) {
    return AwsCaller(transport_, p ? p : provider_, clock_);
  }
  AwsRetry Retry() {
    return AwsRetry(clock_, RetryPolicy{3, milliseconds(60'000)},
                    BackoffPolicy{milliseconds(100), milliseconds(1'000), 2.0});
  }
  // A SageMaker call as the client makes it: the stub's one attempt, through the AWS retry policy.
  template <typename T>
  StatusOr<T> Retried(std::string_view op, const std::function<StatusOr<T>()>& attempt) {
    return Retry().Call<T>(SageMakerIdempotency(op), op, attempt);
  }
  SageMakerApiStub Stub(SageMakerEndpoints overrides = {}) {
    return SageMakerApiStub(Caller(), kRegion, ResolveSageMakerEndpoints(kRegion, overrides));
  }
  StsApiStub Sts() { return StsApiStub(Caller(), ResolveSageMakerEndpoints(kRegion).sts, kRegion); }
  EcrApiStub Ecr() { return EcrApiStub(Caller(), ResolveSageMakerEndpoints(kRegion).ecr, kRegion); }
  std::vector<HttpRequest> Requests() { return transport_->requests(); }

  ScopedEnv env_;
  std::shared_ptr<MockTransport> transport_ = std::make_shared<MockTransport>();
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
  std::shared_ptr<CountingProvider> provider_ =
      std::make_shared<CountingProvider>(AwsCredentials{kAkid, kSecret, kToken, std::nullopt});
  std::vector<std::string> logs_;
  LogSink old_sink_;
};

// ============================================================ SageMaker JSON calls

struct JsonMethod {
  std::string op;
  std::function<StatusOr<json>(const SageMakerApiStub&, const json&)> call;
  bool idempotent;
  json request;
};

std::vector<JsonMethod> JsonMethods() {
  using S = SageMakerApiStub;
  return {
      {"CreateModel",
       [](const S& s, const json& r) { return s.CreateModel(r); },
       false,
       {{"ModelName", "m1"},
        {"ExecutionRoleArn", "arn:aws:iam::123456789012:role/sm"},
        {"PrimaryContainer", {{"Image", "img:1"}, {"ModelDataUrl", "s3://b/m1/model.tar.gz"}}}}},
      {"DescribeModel", [](const S& s, const json& r) { return s.DescribeModel(r); }, true, {{"ModelName", "m1"}}},
      {"DeleteModel", [](const S& s, const json& r) { return s.DeleteModel(r); }, true, {{"ModelName", "m1"}}},
      {"CreateEndpointConfig",
       [](const S& s, const json& r) { return s.CreateEndpointConfig(r); },
       false,
       {{"EndpointConfigName", "c1"},
        {"ProductionVariants",
         {{{"VariantName", "v1"}, {"ModelName", "m1"}, {"InitialInstanceCount", 1}, {"InstanceType", "ml.m5.large"}}}}}},
      {"DescribeEndpointConfig",
       [](const S& s, const json& r) { return s.DescribeEndpointConfig(r); },
       true,
       {{"EndpointConfigName", "c1"}}},
      {"DeleteEndpointConfig",
       [](const S& s, const json& r) { return s.DeleteEndpointConfig(r); },
       true,
       {{"EndpointConfigName", "c1"}}},
      {"CreateEndpoint",
       [](const S& s, const json& r) { return s.CreateEndpoint(r); },
       false,
       {{"EndpointName", "e1"}, {"EndpointConfigName", "c1"}, {"Tags", {{{"Key", "k"}, {"Value", "v"}}}}}},
      {"DescribeEndpoint", [](const S& s, const json& r) { return s.DescribeEndpoint(r); }, true, {{"EndpointName", "e1"}}},
      {"UpdateEndpoint",
       [](const S& s, const json& r) { return s.UpdateEndpoint(r); },
       false,
       {{"EndpointName", "e1"}, {"EndpointConfigName", "c2"}, {"RetainAllVariantProperties", false}}},
      {"UpdateEndpointWeightsAndCapacities",
       [](const S& s, const json& r) { return s.UpdateEndpointWeightsAndCapacities(r); },
       true,
       {{"EndpointName", "e1"}, {"DesiredWeightsAndCapacities", {{{"VariantName", "v1"}, {"DesiredWeight", 0.5}}}}}},
      {"DeleteEndpoint", [](const S& s, const json& r) { return s.DeleteEndpoint(r); }, true, {{"EndpointName", "e1"}}},
      {"ListEndpoints",
       [](const S& s, const json& r) { return s.ListEndpoints(r); },
       true,
       {{"NameContains", "app"}, {"MaxResults", 100}, {"NextToken", "tok-2"}}},
      {"ListTags",
       [](const S& s, const json& r) { return s.ListTags(r); },
       true,
       {{"ResourceArn", "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/e1"}}},
      {"AddTags",
       [](const S& s, const json& r) { return s.AddTags(r); },
       true,
       {{"ResourceArn", "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/e1"},
        {"Tags", {{{"Key", "app.kubernetes.io/managed-by"}, {"Value", "mlflow-bridge"}}}}}},
  };
}

TEST_F(StubTest, EveryJsonMethodSendsASignedJson11Post) {
  SageMakerApiStub stub = Stub();
  for (const JsonMethod& m : JsonMethods()) {
    SCOPED_TRACE(m.op);
    transport_->Enqueue(200, json{{"Op", m.op}, {"Nested", {{"A", 1}}}}.dump(),
                        {{"Content-Type", "application/x-amz-json-1.1"}});
    StatusOr<json> reply = m.call(stub, m.request);
    ASSERT_TRUE(reply.ok()) << reply.status().ToString();
    EXPECT_EQ((*reply)["Op"], m.op);
    EXPECT_EQ((*reply)["Nested"]["A"], 1);
    const HttpRequest r = Requests().back();
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.url, "https://api.sagemaker.eu-west-1.amazonaws.com/");
    EXPECT_EQ(Header(r, "Host"), "api.sagemaker.eu-west-1.amazonaws.com");
    EXPECT_EQ(Header(r, "X-Amz-Target"), "SageMaker." + m.op);
    EXPECT_EQ(Header(r, "Content-Type"), "application/x-amz-json-1.1");
    EXPECT_EQ(json::parse(r.body), m.request);
    ExpectSigned(r, "sagemaker", kRegion, true);
  }
  EXPECT_EQ(Requests().size(), JsonMethods().size());
}

// A stub makes one attempt; through the retry policy, idempotent calls retry a 503 and Create*/UpdateEndpoint
// must not (the first may have been processed).
TEST_F(StubTest, IdempotencyOfEachJsonMethod) {
  SageMakerApiStub stub = Stub();
  for (const JsonMethod& m : JsonMethods()) {
    SCOPED_TRACE(m.op);
    EXPECT_EQ(SageMakerIdempotency(m.op), m.idempotent ? Idempotency::kIdempotent : Idempotency::kNonIdempotent);
    size_t before = Requests().size();
    transport_->Enqueue(503, JsonError("ServiceUnavailable", "try later"));
    StatusOr<json> once = m.call(stub, m.request);
    ASSERT_FALSE(once.ok());
    EXPECT_EQ(once.status().code(), StatusCode::kTemporarilyUnavailable);
    EXPECT_FALSE(once.status().not_processed());
    EXPECT_EQ(Requests().size(), before + 1);

    before = Requests().size();
    transport_->Enqueue(503, JsonError("ServiceUnavailable", "try later"));
    transport_->Enqueue(200, "{}");
    StatusOr<json> reply = Retried<json>(m.op, [&] { return m.call(stub, m.request); });
    if (m.idempotent) {
      ASSERT_TRUE(reply.ok()) << reply.status().ToString();
      EXPECT_EQ(Requests().size(), before + 2);
    } else {
      ASSERT_FALSE(reply.ok());
      EXPECT_EQ(reply.status().code(), StatusCode::kTemporarilyUnavailable);
      EXPECT_EQ(Requests().size(), before + 1);
      (void)transport_->Send(HttpRequest{});  // drain the unused 200
    }
  }
}

TEST_F(StubTest, EmptyReplyIsEmptyObjectAndNonJsonReplyIsInternal) {
  SageMakerApiStub stub = Stub();
  transport_->Enqueue(200, "");
  auto a = stub.DeleteModel({{"ModelName", "m1"}});
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(*a, json::object());
  transport_->Enqueue(200, "<html>proxy</html>");
  auto b = stub.DescribeModel({{"ModelName", "m1"}});
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kInternalError);
  EXPECT_NE(b.status().message().find("SageMaker DescribeModel 'm1'"), std::string::npos) << b.status().message();
  EXPECT_NE(b.status().message().find("not JSON"), std::string::npos);
}

TEST_F(StubTest, InvalidUtf8RequestIsRefusedWithoutACall) {
  auto r = Stub().CreateModel({{"ModelName", std::string("bad\xff")}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_TRUE(Requests().empty());
}

TEST_F(StubTest, LongTermCredentialsSendNoSecurityToken) {
  auto provider = std::make_shared<CountingProvider>(AwsCredentials{kAkid, kSecret, "", std::nullopt});
  SageMakerApiStub stub(Caller(provider), kRegion, ResolveSageMakerEndpoints(kRegion));
  transport_->Enqueue(200, "{}");
  ASSERT_TRUE(stub.DescribeEndpoint({{"EndpointName", "e1"}}).ok());
  ExpectSigned(Requests().at(0), "sagemaker", kRegion, false);
}

TEST_F(StubTest, ListEndpointsIsOnePageWithTheCallersToken) {
  transport_->Enqueue(200, R"({"Endpoints":[{"EndpointName":"app-1"}],"NextToken":"tok-3"})");
  auto page = Stub().ListEndpoints({{"NameContains", "app"}, {"NextToken", "tok-2"}});
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_EQ((*page)["NextToken"], "tok-3");
  EXPECT_EQ((*page)["Endpoints"][0]["EndpointName"], "app-1");
  EXPECT_EQ(Requests().size(), 1u);
}

// ============================================================ endpoints

TEST_F(StubTest, DefaultEndpointsPerService) {
  SageMakerEndpoints e = ResolveSageMakerEndpoints("eu-west-1");
  EXPECT_EQ(e.api, "https://api.sagemaker.eu-west-1.amazonaws.com");
  EXPECT_EQ(e.runtime, "https://runtime.sagemaker.eu-west-1.amazonaws.com");
  EXPECT_EQ(e.sts, "https://sts.eu-west-1.amazonaws.com");
  EXPECT_EQ(e.ecr, "https://api.ecr.eu-west-1.amazonaws.com");
  EXPECT_EQ(ResolveSageMakerEndpoints("cn-north-1").api, "https://api.sagemaker.cn-north-1.amazonaws.com.cn");
}

TEST_F(StubTest, EndpointOverrideFromConfig) {
  SageMakerEndpoints overrides;
  overrides.api = "http://127.0.0.1:5000/";
  overrides.runtime = "http://127.0.0.1:5000";
  env_.Set("AWS_ENDPOINT_URL_SAGEMAKER", "http://10.0.0.1:1");  // configuration wins over the environment
  SageMakerApiStub stub = Stub(overrides);
  EXPECT_EQ(stub.endpoints().api, "http://127.0.0.1:5000");
  EXPECT_EQ(stub.endpoints().sts, "https://sts.eu-west-1.amazonaws.com");
  transport_->Enqueue(200, "{}");
  ASSERT_TRUE(stub.DescribeEndpoint({{"EndpointName", "e1"}}).ok());
  transport_->Enqueue(200, "ok");
  ASSERT_TRUE(stub.InvokeEndpoint("e1", "{}", "application/json").ok());
  auto rs = Requests();
  EXPECT_EQ(rs[0].url, "http://127.0.0.1:5000/");
  EXPECT_EQ(Header(rs[0], "Host"), "127.0.0.1:5000");
  ExpectSigned(rs[0], "sagemaker", kRegion, true);
  EXPECT_EQ(rs[1].url, "http://127.0.0.1:5000/endpoints/e1/invocations");
  ExpectSigned(rs[1], "sagemaker", kRegion, true);
}

TEST_F(StubTest, EndpointOverrideFromEnvironment) {
  {
    ScopedEnv env;
    env.Set("AWS_ENDPOINT_URL_SAGEMAKER", "http://localhost:5001/");
    env.Set("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "http://localhost:5002");
    env.Set("AWS_ENDPOINT_URL", "http://localhost:5003");
    SageMakerApiStub stub = Stub();
    EXPECT_EQ(stub.endpoints().api, "http://localhost:5001");
    EXPECT_EQ(stub.endpoints().runtime, "http://localhost:5002");
    EXPECT_EQ(stub.endpoints().sts, "http://localhost:5003");  // the global one
    EXPECT_EQ(stub.endpoints().ecr, "http://localhost:5003");
    transport_->Enqueue(200, "{}");
    ASSERT_TRUE(stub.DescribeModel({{"ModelName", "m"}}).ok());
    EXPECT_EQ(Requests().at(0).url, "http://localhost:5001/");
    EXPECT_EQ(Header(Requests().at(0), "Host"), "localhost:5001");
    ExpectSigned(Requests().at(0), "sagemaker", kRegion, true);
  }
  // Restored: back to the regional default.
  EXPECT_EQ(std::getenv("AWS_ENDPOINT_URL_SAGEMAKER"), nullptr);
  EXPECT_EQ(Stub().endpoints().api, "https://api.sagemaker.eu-west-1.amazonaws.com");
}

// ============================================================ SageMaker Runtime

TEST_F(StubTest, InvokeEndpointAsyncQueuesTheS3InputOnce) {
  transport_->Enqueue(202, R"({"InferenceId":"abc"})",
                      {{"X-Amzn-SageMaker-OutputLocation", "s3://out/results/abc.out"},
                       {"X-Amzn-SageMaker-FailureLocation", "s3://out/failures/abc-error.out"}});
  auto r = Stub().InvokeEndpointAsync("my-endpoint", "s3://out/in/1.json", "application/json", "application/json");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->inference_id, "abc");
  EXPECT_EQ(r->output_location, "s3://out/results/abc.out");
  EXPECT_EQ(r->failure_location, "s3://out/failures/abc-error.out");
  const HttpRequest q = Requests().at(0);
  EXPECT_EQ(q.method, "POST");
  EXPECT_EQ(q.url, "https://runtime.sagemaker.eu-west-1.amazonaws.com/endpoints/my-endpoint/async-invocations");
  EXPECT_EQ(Header(q, "X-Amzn-SageMaker-InputLocation"), "s3://out/in/1.json");
  EXPECT_EQ(Header(q, "X-Amzn-SageMaker-Content-Type"), "application/json");
  EXPECT_EQ(Header(q, "X-Amzn-SageMaker-Accept"), "application/json");
  EXPECT_TRUE(q.body.empty());
  ExpectSigned(q, "sagemaker", kRegion, true);

  // A dropped connection is not retried: the request may be queued already.
  transport_->Enqueue(UnavailableError("connection reset"));
  EXPECT_FALSE(Retried<AsyncInvokeResult>("InvokeEndpointAsync", [&] {
                 return Stub().InvokeEndpointAsync("my-endpoint", "s3://out/in/2.json", "application/json");
               }).ok());
  EXPECT_EQ(Requests().size(), 2u);
  transport_->Enqueue(202, "{}");  // no output location: nothing to wait for
  EXPECT_EQ(Stub().InvokeEndpointAsync("e", "s3://out/in/3.json", "").status().code(), StatusCode::kInternalError);
}

TEST_F(StubTest, InvokeEndpointSendsHeadersAndParsesTheReply) {
  transport_->Enqueue(200, R"({"predictions":[1,2]})",
                      {{"Content-Type", "application/json"},
                       {"x-Amzn-Invoked-Production-Variant", "blue"},
                       {"X-Amzn-SageMaker-Custom-Attributes", "trace=1"}});
  auto r = Stub().InvokeEndpoint("my-endpoint", R"({"instances":[[1,2]]})", "application/json", "application/json",
                                 "trace=1", "blue");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body, R"({"predictions":[1,2]})");
  EXPECT_EQ(r->content_type, "application/json");
  EXPECT_EQ(r->invoked_variant, "blue");
  EXPECT_EQ(r->custom_attributes, "trace=1");
  const HttpRequest q = Requests().at(0);
  EXPECT_EQ(q.method, "POST");
  EXPECT_EQ(q.url, "https://runtime.sagemaker.eu-west-1.amazonaws.com/endpoints/my-endpoint/invocations");
  EXPECT_EQ(Header(q, "Host"), "runtime.sagemaker.eu-west-1.amazonaws.com");
  EXPECT_EQ(Header(q, "Content-Type"), "application/json");
  EXPECT_EQ(Header(q, "Accept"), "application/json");
  EXPECT_EQ(Header(q, "X-Amzn-SageMaker-Custom-Attributes"), "trace=1");
  EXPECT_EQ(Header(q, "X-Amzn-SageMaker-Target-Variant"), "blue");
  EXPECT_FALSE(FindHeader(q.headers, "X-Amz-Target").has_value());
  EXPECT_EQ(q.body, R"({"instances":[[1,2]]})");
  ExpectSigned(q, "sagemaker", kRegion, true);
}

TEST_F(StubTest, InvokeEndpointLeavesOptionalHeadersOut) {
  transport_->Enqueue(200, "1.0\n", {{"Content-Type", "text/csv"}});
  auto r = Stub().InvokeEndpoint("e", "1,2\n", "text/csv");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->invoked_variant, "");
  const HttpRequest q = Requests().at(0);
  for (const char* h : {"Accept", "X-Amzn-SageMaker-Custom-Attributes", "X-Amzn-SageMaker-Target-Variant"})
    EXPECT_FALSE(FindHeader(q.headers, h).has_value()) << h;
}

TEST_F(StubTest, InvokeEndpointEncodesOddNames) {
  SageMakerApiStub stub = Stub();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"a b", "/endpoints/a%20b/invocations"},
      {"x/../y", "/endpoints/x%2F..%2Fy/invocations"},
      {"q?r#s%t", "/endpoints/q%3Fr%23s%25t/invocations"},
      {"ü", "/endpoints/%C3%BC/invocations"},
  };
  for (const auto& [name, path] : cases) {
    SCOPED_TRACE(name);
    transport_->Enqueue(200, "ok");
    ASSERT_TRUE(stub.InvokeEndpoint(name, "{}", "application/json").ok());
    const HttpRequest q = Requests().back();
    EXPECT_EQ(q.url, "https://runtime.sagemaker.eu-west-1.amazonaws.com" + path);
    ExpectSigned(q, "sagemaker", kRegion, true);
    // The canonical URI is the path encoded once more (SigV4 for non-S3 services).
    auto creq = CanonicalRequest(q, "sagemaker", Sha256Hex(q.body));
    ASSERT_TRUE(creq.ok());
    std::string line = CanonicalUri(path, "sagemaker");  // (not "\n" + ...: GCC 12's -Wrestrict false positive)
    line.insert(line.begin(), '\n');
    line.push_back('\n');
    EXPECT_NE(creq->find(line), std::string::npos);
  }
  EXPECT_EQ(CanonicalUri("/endpoints/a%20b/invocations", "sagemaker"), "/endpoints/a%2520b/invocations");
}

TEST_F(StubTest, InvokeEndpointModelErrorCarriesTheModelsMessage) {
  transport_->Enqueue(424,
                      json{{"ErrorCode", "CLIENT_ERROR_FROM_MODEL"},
                           {"LogStreamArn", "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/sagemaker/Endpoints/e"},
                           {"OriginalMessage", "column 'x' is missing"},
                           {"OriginalStatusCode", 400},
                           {"message", "Received client error (400) from primary with message \"...\""}}
                          .dump(),
                      {{"x-amzn-ErrorType", "ModelError:http://internal.amazon.com/coral/com.amazon.sagemaker/"}});
  auto r = Stub().InvokeEndpoint("e", "{}", "application/json");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_EQ(r.status().message(),
            "SageMaker InvokeEndpoint 'e': ModelError: the model replied with HTTP 400: column 'x' is missing "
            "(logs: arn:aws:logs:eu-west-1:123456789012:log-group:/aws/sagemaker/Endpoints/e)");
  EXPECT_EQ(Requests().size(), 1u);
}

// docs/decisions/0002: retried are only the failures that were not processed.
TEST_F(StubTest, InvokeEndpointRetriesModelNotReadyButNotServerFaults) {
  SageMakerApiStub stub = Stub();
  auto invoke = [&] {
    return Retried<InvokeResult>("InvokeEndpoint", [&] { return stub.InvokeEndpoint("e", "{}", "application/json"); });
  };
  transport_->Enqueue(429, R"({"message":"Model is not ready"})",
                      {{"x-amzn-ErrorType", "ModelNotReadyException:http://internal.amazon.com/"}});
  transport_->Enqueue(200, "ok");
  auto a = invoke();
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(Requests().size(), 2u);

  transport_->Enqueue(500, R"({"message":"boom"})", {{"x-amzn-ErrorType", "InternalFailure"}});
  auto b = invoke();
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_EQ(b.status().message(), "SageMaker InvokeEndpoint 'e': InternalFailure: boom");
  EXPECT_EQ(Requests().size(), 3u);

  transport_->Enqueue(UnavailableError("connection reset by peer"));
  auto c = invoke();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_EQ(Requests().size(), 4u);

  // A refused connection (the transport marks it: nothing was sent) is retried.
  transport_->Enqueue(UnavailableError("connection refused").set_not_processed());
  transport_->Enqueue(200, "ok");
  auto d = invoke();
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(Requests().size(), 6u);

  // 503 ServiceUnavailable: retried only when it says when to come back.
  transport_->Enqueue(503, R"({"message":"busy"})", {{"x-amzn-ErrorType", "ServiceUnavailable"}, {"Retry-After", "1"}});
  transport_->Enqueue(200, "ok");
  auto e = invoke();
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(Requests().size(), 8u);
  transport_->Enqueue(503, R"({"message":"busy"})", {{"x-amzn-ErrorType", "ServiceUnavailable"}});
  auto f = invoke();
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_EQ(f.status().message(), "SageMaker InvokeEndpoint 'e': ServiceUnavailable: busy");
  EXPECT_EQ(Requests().size(), 9u);
  // Not for the SageMaker API (only the scoring calls have the rule): a CreateModel 503 is returned at once.
  transport_->Enqueue(503, JsonError("ServiceUnavailable", "busy"), {{"Retry-After", "1"}});
  auto g = Retried<json>("CreateModel", [&] { return stub.CreateModel({{"ModelName", "m"}}); });
  EXPECT_FALSE(g.ok());
  EXPECT_EQ(Requests().size(), 10u);
}

TEST_F(StubTest, InvokeEndpointRefusesOversizedPayloadsLocally) {
  auto r = Stub().InvokeEndpoint("e", std::string(kMaxInvokePayloadBytes + 1, 'x'), "text/csv");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_NE(r.status().message().find("6291457 bytes"), std::string::npos) << r.status().message();
  EXPECT_TRUE(Requests().empty());
  transport_->Enqueue(200, "ok");
  EXPECT_TRUE(Stub().InvokeEndpoint("e", std::string(kMaxInvokePayloadBytes, 'x'), "text/csv").ok());
}

TEST_F(StubTest, InvokeEndpointMissingEndpointIsNotFound) {
  transport_->Enqueue(400, R"({"message":"Endpoint e of account 123456789012 not found."})",
                      {{"x-amzn-ErrorType", "ValidationError:http://internal.amazon.com/coral/com.amazon.coral.validate/"}});
  auto r = Stub().InvokeEndpoint("e", "{}", "application/json");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceDoesNotExist);
  EXPECT_EQ(r.status().message(),
            "SageMaker InvokeEndpoint 'e': ValidationError: Endpoint e of account 123456789012 not found.");
}

// ============================================================ STS and ECR

TEST_F(StubTest, GetCallerIdentity) {
  transport_->Enqueue(200,
                      "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
                      "  <GetCallerIdentityResult>\n"
                      "    <Arn>arn:aws:iam::123456789012:user/alice</Arn>\n"
                      "    <UserId>AIDAEXAMPLE</UserId>\n"
                      "    <Account>123456789012</Account>\n"
                      "  </GetCallerIdentityResult>\n"
                      "  <ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>\n"
                      "</GetCallerIdentityResponse>\n",
                      {{"Content-Type", "text/xml"}});
  auto id = Sts().GetCallerIdentity();
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(id->account, "123456789012");
  EXPECT_EQ(id->arn, "arn:aws:iam::123456789012:user/alice");
  EXPECT_EQ(id->user_id, "AIDAEXAMPLE");
  const HttpRequest q = Requests().at(0);
  EXPECT_EQ(q.method, "POST");
  EXPECT_EQ(q.url, "https://sts.eu-west-1.amazonaws.com/");
  EXPECT_EQ(Header(q, "Content-Type"), "application/x-www-form-urlencoded; charset=utf-8");
  EXPECT_EQ(q.body, "Action=GetCallerIdentity&Version=2011-06-15");
  EXPECT_FALSE(FindHeader(q.headers, "X-Amz-Target").has_value());
  ExpectSigned(q, "sts", kRegion, true);
}

TEST_F(StubTest, GetCallerIdentityErrors) {
  StsApiStub stub = Sts();
  transport_->Enqueue(200, "<GetCallerIdentityResponse></GetCallerIdentityResponse>");
  auto a = stub.GetCallerIdentity();
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), StatusCode::kInternalError);
  // Throttling, then success: idempotent and retried.
  transport_->Enqueue(400,
                      "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>"
                      "</Error></ErrorResponse>");
  transport_->Enqueue(200, "<Arn>arn:aws:iam::1:root</Arn><Account>1</Account>");
  auto b = Retry().Call<CallerIdentity>(Idempotency::kIdempotent, "STS GetCallerIdentity",
                                        [&] { return stub.GetCallerIdentity(); });
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->account, "1");
}

TEST_F(StubTest, EcrDescribeRepositories) {
  transport_->Enqueue(200, R"({"repositories":[{"repositoryName":"mlflow-pyfunc",)"
                           R"("repositoryUri":"123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlflow-pyfunc"}]})");
  auto uri = Ecr().DescribeRepositories("mlflow-pyfunc");
  ASSERT_TRUE(uri.ok()) << uri.status().ToString();
  EXPECT_EQ(*uri, "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlflow-pyfunc");
  const HttpRequest q = Requests().at(0);
  EXPECT_EQ(q.url, "https://api.ecr.eu-west-1.amazonaws.com/");
  EXPECT_EQ(Header(q, "X-Amz-Target"), "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories");
  EXPECT_EQ(Header(q, "Content-Type"), "application/x-amz-json-1.1");
  EXPECT_EQ(json::parse(q.body), (json{{"repositoryNames", {"mlflow-pyfunc"}}}));
  ExpectSigned(q, "ecr", kRegion, true);

  transport_->Enqueue(400, JsonError("RepositoryNotFoundException",
                                     "The repository with name 'nope' does not exist in the registry with id '123'"));
  auto missing = Ecr().DescribeRepositories("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kResourceDoesNotExist);
  EXPECT_EQ(missing.status().message().rfind("ECR DescribeRepositories 'nope': RepositoryNotFoundException: ", 0), 0u)
      << missing.status().message();
}

TEST_F(StubTest, EcrGetAuthorizationToken) {
  transport_->Enqueue(
      200, R"({"authorizationData":[{"authorizationToken":"QVdTOnBhc3N3b3Jk",)"
           R"("expiresAt":1704110400.5,"proxyEndpoint":"https://123456789012.dkr.ecr.eu-west-1.amazonaws.com"}]})");
  auto auth = Ecr().GetAuthorizationToken();
  ASSERT_TRUE(auth.ok()) << auth.status().ToString();
  EXPECT_EQ(auth->token, "QVdTOnBhc3N3b3Jk");
  EXPECT_EQ(auth->proxy_endpoint, "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com");
  EXPECT_EQ(auth->expires_at, Utc(2024, 1, 1, 12, 0, 0) + milliseconds(500));
  const HttpRequest q = Requests().at(0);
  EXPECT_EQ(Header(q, "X-Amz-Target"), "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken");
  EXPECT_EQ(q.body, "{}");
  ExpectSigned(q, "ecr", kRegion, true);

  transport_->Enqueue(200, R"({"authorizationData":[{"authorizationToken":"x","proxyEndpoint":"https://r",)"
                           R"("expiresAt":"2024-01-01T12:00:00Z"}]})");
  auto iso = Ecr().GetAuthorizationToken();
  ASSERT_TRUE(iso.ok()) << iso.status().ToString();
  EXPECT_EQ(iso->expires_at, Utc(2024, 1, 1, 12, 0, 0));

  transport_->Enqueue(200, R"({"authorizationData":[]})");
  EXPECT_EQ(Ecr().GetAuthorizationToken().status().code(), StatusCode::kInternalError);
}

// ============================================================ AwsErrorStatus

struct ErrorCase {
  long http;
  std::string body;
  HttpHeaders headers;
  StatusCode code;
};

TEST(AwsErrorStatusTest, JsonErrorsMapByCode) {
  using C = StatusCode;
  const std::vector<ErrorCase> cases = {
      {400, JsonError("ValidationException", "Could not find endpoint \"e1\"."), {}, C::kResourceDoesNotExist},
      {400, JsonError("ValidationException", "Model m1 does not exist."), {}, C::kResourceDoesNotExist},
      {400,
       JsonError("ValidationException", "1 validation error detected: Value 'x!' at 'endpointName'"),
       {},
       C::kInvalidParameterValue},
      {400, JsonError("ResourceNotFound", "Amazon SageMaker can't find a model"), {}, C::kResourceDoesNotExist},
      {404, JsonError("NoSuchBucket", "The specified bucket does not exist"), {}, C::kResourceDoesNotExist},
      {404, JsonError("NoSuchKey", "The specified key does not exist."), {}, C::kResourceDoesNotExist},
      {404, JsonError("NoSuchEntity", "The role with name r cannot be found."), {}, C::kResourceDoesNotExist},
      {400, JsonError("RepositoryNotFoundException", "repo"), {}, C::kResourceDoesNotExist},
      {400, JsonError("ResourceInUse", "Cannot create already existing endpoint"), {}, C::kResourceAlreadyExists},
      {400, JsonError("ResourceAlreadyExists", "exists"), {}, C::kResourceAlreadyExists},
      {409, JsonError("BucketAlreadyOwnedByYou", "yours"), {}, C::kResourceAlreadyExists},
      {409, JsonError("ConflictException", "conflict"), {}, C::kResourceAlreadyExists},
      {403, JsonError("AccessDenied", "no"), {}, C::kPermissionDenied},
      {400,
       JsonError("AccessDeniedException", "User is not authorized to perform: sagemaker:CreateModel"),
       {},
       C::kPermissionDenied},
      {403,
       JsonError("InvalidClientTokenId", "The security token included in the request is invalid."),
       {},
       C::kUnauthenticated},
      {403, JsonError("SignatureDoesNotMatch", "sig"), {}, C::kUnauthenticated},
      {400, JsonError("ExpiredToken", "expired"), {}, C::kUnauthenticated},
      {400, JsonError("ExpiredTokenException", "expired"), {}, C::kUnauthenticated},
      {400, JsonError("UnrecognizedClientException", "unknown key"), {}, C::kUnauthenticated},
      {403, JsonError("MissingAuthenticationToken", "missing"), {}, C::kUnauthenticated},
      {400, JsonError("Throttling", "Rate exceeded"), {}, C::kTemporarilyUnavailable},
      {400, JsonError("ThrottlingException", "Rate exceeded"), {}, C::kTemporarilyUnavailable},
      {429, JsonError("TooManyRequestsException", "slow"), {}, C::kTemporarilyUnavailable},
      {503, JsonError("RequestLimitExceeded", "slow"), {}, C::kTemporarilyUnavailable},
      {503, JsonError("SlowDown", "slow"), {}, C::kTemporarilyUnavailable},
      {400, JsonError("ProvisionedThroughputExceededException", "slow"), {}, C::kTemporarilyUnavailable},
      {429, JsonError("ModelNotReadyException", "not ready"), {}, C::kTemporarilyUnavailable},
      {503, JsonError("ServiceUnavailable", "down"), {}, C::kTemporarilyUnavailable},
      {500, JsonError("InternalFailure", "oops"), {}, C::kTemporarilyUnavailable},
      {500, JsonError("InternalError", "oops"), {}, C::kTemporarilyUnavailable},
      {400, JsonError("InternalError", "odd"), {}, C::kInvalidParameterValue},  // not a 5xx: not transient
      {400, JsonError("ResourceLimitExceeded", "quota"), {}, C::kInvalidParameterValue},
      {400, JsonError("ValidationException", "bad"), {}, C::kInvalidParameterValue},
      {400, JsonError("SomethingNewException", "new"), {}, C::kInvalidParameterValue},
      {422, JsonError("SomethingNewException", "new"), {}, C::kInvalidParameterValue},
      {404, JsonError("UnknownOperationException", "new"), {}, C::kResourceDoesNotExist},  // by HTTP status
      {500, JsonError("SomethingBroke", "new"), {}, C::kInternalError},                    // by HTTP status
      {502, JsonError("SomethingBroke", "new"), {}, C::kTemporarilyUnavailable},
  };
  for (const ErrorCase& c : cases) {
    HttpResponse r{c.http, c.headers, c.body};
    Status s = AwsErrorStatus(r, "op");
    SCOPED_TRACE(c.body);
    EXPECT_EQ(s.code(), c.code) << s.ToString();
    const std::string code = json::parse(c.body)["__type"];
    const std::string message = json::parse(c.body)["message"];
    EXPECT_EQ(s.message(), "op: " + code + ": " + message);
  }
}

TEST(AwsErrorStatusTest, JsonErrorCodeForms) {
  // "prefix#Code:suffix", capitalised Message.
  Status a = AwsErrorStatus(
      {400, {}, R"({"__type":"com.amazonaws.sagemaker#ResourceInUse:http://internal.amazon.com/","Message":"in use"})"},
      "SageMaker CreateEndpoint 'e'");
  EXPECT_EQ(a.code(), StatusCode::kResourceAlreadyExists);
  EXPECT_EQ(a.message(), "SageMaker CreateEndpoint 'e': ResourceInUse: in use");
  // The code only in x-amzn-ErrorType (rest-json).
  Status b = AwsErrorStatus({400,
                             {{"X-Amzn-ErrorType", "ValidationException:http://internal.amazon.com/coral/validate/"}},
                             R"({"message":"Could not find model \"m\"."})"},
                            "op");
  EXPECT_EQ(b.code(), StatusCode::kResourceDoesNotExist);
  EXPECT_EQ(b.message(), "op: ValidationException: Could not find model \"m\".");
  // "code" in the body; no message.
  Status c = AwsErrorStatus({403, {}, R"({"code":"AccessDeniedException"})"}, "op");
  EXPECT_EQ(c.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(c.message(), "op: AccessDeniedException");
  // Header only, empty body (HEAD).
  Status d = AwsErrorStatus({404, {{"x-amzn-errortype", "NoSuchKey"}}, ""}, "op");
  EXPECT_EQ(d.code(), StatusCode::kResourceDoesNotExist);
  EXPECT_EQ(d.message(), "op: NoSuchKey");
  // x-amzn-query-error wins.
  Status e = AwsErrorStatus(
      {400, {{"x-amzn-query-error", "AWS.SimpleQueueService.NonExistentQueue;Sender"}}, JsonError("QueueDoesNotExist", "q")},
      "op");
  EXPECT_EQ(e.message(), "op: AWS.SimpleQueueService.NonExistentQueue: q");
  // Only the first line of a long message.
  Status f = AwsErrorStatus({400, {}, JsonError("ValidationException", "first line\nsecond line")}, "op");
  EXPECT_EQ(f.message(), "op: ValidationException: first line");
}

TEST(AwsErrorStatusTest, ResourceLimitExceededKeepsTheMessage) {
  const std::string msg =
      "The account-level service limit 'ml.g5.xlarge for endpoint usage' is 0 Instances, with current utilization "
      "of 0 Instances and a request delta of 1 Instances. Please use AWS Service Quotas to request an increase.";
  Status s = AwsErrorStatus({400, {}, JsonError("ResourceLimitExceeded", msg)}, "SageMaker CreateEndpoint 'e'");
  EXPECT_EQ(s.code(), StatusCode::kInvalidParameterValue);
  EXPECT_EQ(s.message(), "SageMaker CreateEndpoint 'e': ResourceLimitExceeded: " + msg);
}

TEST(AwsErrorStatusTest, XmlErrors) {
  // S3: a bare <Error>.
  Status s3 = AwsErrorStatus({404,
                              {{"Content-Type", "application/xml"}},
                              "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchBucket</Code>"
                              "<Message>The specified bucket does not exist</Message><BucketName>b</BucketName>"
                              "<RequestId>r</RequestId></Error>"},
                             "S3 HeadBucket 'b'");
  EXPECT_EQ(s3.code(), StatusCode::kResourceDoesNotExist);
  EXPECT_EQ(s3.message(), "S3 HeadBucket 'b': NoSuchBucket: The specified bucket does not exist");
  // STS: <ErrorResponse><Error>.
  Status sts = AwsErrorStatus(
      {403,
       {},
       "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <Error>\n    <Type>Sender</Type>\n"
       "    <Code>AccessDenied</Code>\n    <Message>User: arn:aws:iam::1:user/a is not authorized to perform: "
       "sts:GetCallerIdentity</Message>\n  </Error>\n  <RequestId>r</RequestId>\n</ErrorResponse>\n"},
      "STS GetCallerIdentity");
  EXPECT_EQ(sts.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(sts.message(),
            "STS GetCallerIdentity: AccessDenied: User: arn:aws:iam::1:user/a is not authorized to perform: "
            "sts:GetCallerIdentity");
  // moto with IAM enforcement: <ErrorResponse><Errors><Error>, as xmltodict writes it.
  Status moto =
      AwsErrorStatus({403,
                      {{"X-Amzn-ErrorType", "AccessDenied"}, {"Content-Type", "application/xml"}},
                      "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<ErrorResponse><Errors><Error><Code>AccessDenied</Code>"
                      "<Message>User: arn:aws:iam::123456789012:user/u is not authorized to perform: sagemaker:CreateModel"
                      "</Message><Type>Sender</Type></Error></Errors></ErrorResponse>"},
                     "SageMaker CreateModel 'm'");
  EXPECT_EQ(moto.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(moto.message(),
            "SageMaker CreateModel 'm': AccessDenied: User: arn:aws:iam::123456789012:user/u is not authorized to "
            "perform: sagemaker:CreateModel");
  // moto's signature check.
  Status sig = AwsErrorStatus({403,
                               {},
                               "<ErrorResponse><Errors><Error><Code>SignatureDoesNotMatch</Code><Message>"
                               "The request signature we calculated does not match</Message></Error></Errors>"
                               "</ErrorResponse>"},
                              "op");
  EXPECT_EQ(sig.code(), StatusCode::kUnauthenticated);
  // Entities are decoded.
  Status ent =
      AwsErrorStatus({400, {}, "<Error><Code>InvalidArgument</Code><Message>a &lt; b &amp; c</Message></Error>"}, "op");
  EXPECT_EQ(ent.message(), "op: InvalidArgument: a < b & c");
  EXPECT_EQ(ent.code(), StatusCode::kInvalidParameterValue);
}

TEST(AwsErrorStatusTest, ServerFaultsBlamedOnTheSenderAreNotTransient) {
  auto sts = [](const char* type) {
    return std::string("<ErrorResponse><Error><Type>") + type +
           "</Type><Code>InternalFailure</Code><Message>m</Message></Error><RequestId>r-9</RequestId></ErrorResponse>";
  };
  EXPECT_EQ(AwsErrorStatus({500, {}, sts("Receiver")}, "op").code(), StatusCode::kTemporarilyUnavailable);
  Status sender = AwsErrorStatus({500, {}, sts("Sender")}, "op");
  EXPECT_EQ(sender.code(), StatusCode::kInternalError);
  EXPECT_EQ(sender.message(), "op: InternalFailure: m");
  std::optional<AwsError> e = ParseAwsError({500, {}, sts("Sender")});
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->type, "Sender");
  EXPECT_EQ(e->request_id, "r-9");
  EXPECT_EQ(AwsErrorStatus({500, {{"x-amzn-query-error", "InternalFailure;Sender"}}, "{}"}, "op").code(),
            StatusCode::kInternalError);
  EXPECT_EQ(ParseAwsError({400, {{"x-amzn-RequestId", "r-1"}}, JsonError("ValidationException", "x")})->request_id, "r-1");
}

TEST(AwsErrorStatusTest, ErrorsInsideA2xxReplySaySo) {
  // S3's CompleteMultipartUpload can fail after its 200 has begun.
  Status invalid = AwsErrorStatus(
      {200, {}, "<?xml version=\"1.0\"?>\n<Error><Code>InvalidPart</Code><Message>part 2 is missing</Message></Error>"},
      "op");
  EXPECT_EQ(invalid.code(), StatusCode::kInvalidParameterValue);
  EXPECT_EQ(invalid.message(), "op: InvalidPart: part 2 is missing (in an HTTP 200 reply)");
  for (const char* code : {"EntityTooSmall", "MalformedXML"})
    EXPECT_EQ(AwsErrorStatus({200, {}, std::string("<Error><Code>") + code + "</Code></Error>"}, "op").code(),
              StatusCode::kInvalidParameterValue)
        << code;
  EXPECT_EQ(AwsErrorStatus({200, {}, "<Error><Code>InternalError</Code></Error>"}, "op").code(),
            StatusCode::kTemporarilyUnavailable);
  EXPECT_EQ(AwsErrorStatus({200, {}, "<Error><Code>NoSuchUpload</Code></Error>"}, "op").code(),
            StatusCode::kResourceDoesNotExist);
  EXPECT_EQ(AwsErrorStatus({200, {}, "<Error><Code>SomethingNew</Code></Error>"}, "op").code(), StatusCode::kInternalError);
}

TEST(AwsErrorStatusTest, NonAwsBodiesFallBackToHttp) {
  Status html = AwsErrorStatus({500,
                                {},
                                "<html><head><title>500 Internal Server Error</title></head><body>"
                                "<h1>Internal Server Error</h1></body></html>"},
                               "SageMaker CreateModel 'm'");
  EXPECT_EQ(html.code(), StatusCode::kInternalError);
  EXPECT_EQ(html.message().rfind("SageMaker CreateModel 'm': HTTP 500: <html>", 0), 0u) << html.message();
  Status bad_gateway = AwsErrorStatus({502, {}, "Bad Gateway"}, "op");
  EXPECT_EQ(bad_gateway.code(), StatusCode::kTemporarilyUnavailable);
  Status not_json = AwsErrorStatus({400, {}, "{not json"}, "op");
  EXPECT_EQ(not_json.code(), StatusCode::kInvalidParameterValue);
  EXPECT_EQ(not_json.message(), "op: HTTP 400: {not json");
  Status empty = AwsErrorStatus({403, {}, ""}, "op");
  EXPECT_EQ(empty.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(empty.message(), "op: HTTP 403");
  Status json_without_code = AwsErrorStatus({404, {}, R"({"message":"nothing here"})"}, "op");
  EXPECT_EQ(json_without_code.code(), StatusCode::kResourceDoesNotExist);
}

TEST(AwsErrorStatusTest, RetryAfterIsKept) {
  Status a = AwsErrorStatus({429, {{"Retry-After", "7"}}, JsonError("ThrottlingException", "slow")}, "op");
  EXPECT_EQ(a.code(), StatusCode::kTemporarilyUnavailable);
  ASSERT_TRUE(a.retry_after().has_value());
  EXPECT_EQ(*a.retry_after(), milliseconds(7000));
  Status b = AwsErrorStatus({503, {{"Retry-After", "3"}}, "down"}, "op");
  ASSERT_TRUE(b.retry_after().has_value());
  EXPECT_EQ(*b.retry_after(), milliseconds(3000));
}

TEST(AwsErrorStatusTest, MessagesAreRedacted) {
  Status s = AwsErrorStatus(
      {400,
       {},
       JsonError("ValidationException",
                 "bad header Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE1234567890/x token=abcdef123")},
      "op");
  EXPECT_EQ(s.message().find("abcdef123"), std::string::npos) << s.message();
}

TEST(AwsErrorStatusTest, NotProcessedCodes) {
  for (const char* c : {"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded", "SlowDown",
                        "ProvisionedThroughputExceededException", "ModelNotReadyException"})
    EXPECT_TRUE(IsAwsNotProcessedError(c)) << c;
  for (const char* c : {"ServiceUnavailable", "InternalFailure", "InternalError", "ValidationException", ""})
    EXPECT_FALSE(IsAwsNotProcessedError(c)) << c;
}

// ============================================================ the retry rule

TEST_F(StubTest, ThrottlingIsRetriedEvenForCreateModel) {
  transport_->Enqueue(400, JsonError("ThrottlingException", "Rate exceeded"));
  transport_->Enqueue(400, JsonError("ThrottlingException", "Rate exceeded"));
  transport_->Enqueue(200, R"({"ModelArn":"arn:aws:sagemaker:eu-west-1:123456789012:model/m1"})");
  auto r = Retried<json>("CreateModel", [&] { return Stub().CreateModel({{"ModelName", "m1"}}); });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)["ModelArn"], "arn:aws:sagemaker:eu-west-1:123456789012:model/m1");
  EXPECT_EQ(Requests().size(), 3u);
  EXPECT_EQ(clock_->sleeps.size(), 2u);
  EXPECT_EQ(provider_->calls, 3);  // credentials asked for at every attempt (the provider caches)
}

TEST_F(StubTest, ThrottlingExhaustedSaysHowManyAttempts) {
  for (int i = 0; i < 3; ++i) transport_->Enqueue(400, JsonError("ThrottlingException", "Rate exceeded"));
  auto r = Retried<json>("CreateEndpoint", [&] { return Stub().CreateEndpoint({{"EndpointName", "e1"}}); });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_EQ(r.status().message(), "SageMaker CreateEndpoint 'e1': ThrottlingException: Rate exceeded (after 3 attempts)");
  EXPECT_EQ(Requests().size(), 3u);
}

TEST_F(StubTest, TransportFailureIsNotRetriedForCreateModel) {
  transport_->Enqueue(UnavailableError("POST https://api.sagemaker.eu-west-1.amazonaws.com/: connection reset"));
  transport_->Enqueue(200, "{}");
  auto r = Retried<json>("CreateModel", [&] { return Stub().CreateModel({{"ModelName", "m1"}}); });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_EQ(r.status().message(),
            "SageMaker CreateModel 'm1': POST https://api.sagemaker.eu-west-1.amazonaws.com/: connection reset");
  EXPECT_EQ(Requests().size(), 1u);
  EXPECT_TRUE(clock_->sleeps.empty());
}

TEST_F(StubTest, TimeoutIsNotRetriedForCreateModel) {
  transport_->Enqueue(DeadlineExceededError("timed out"));
  auto r = Retried<json>("CreateEndpointConfig", [&] { return Stub().CreateEndpointConfig({{"EndpointConfigName", "c"}}); });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(Requests().size(), 1u);
}

TEST_F(StubTest, NonRetryableAfterThrottlingSaysHowManyAttempts) {
  transport_->Enqueue(400, JsonError("ThrottlingException", "Rate exceeded"));
  transport_->Enqueue(UnavailableError("connection reset"));
  auto r = Retried<json>("UpdateEndpoint", [&] { return Stub().UpdateEndpoint({{"EndpointName", "e"}}); });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_EQ(r.status().message(), "SageMaker UpdateEndpoint 'e': connection reset (after 2 attempts)");
  EXPECT_EQ(Requests().size(), 2u);
}

TEST_F(StubTest, TransportFailureIsRetriedForDescribeEndpoint) {
  transport_->Enqueue(UnavailableError("connection reset"));
  transport_->Enqueue(DeadlineExceededError("timed out"));
  transport_->Enqueue(200, R"({"EndpointStatus":"InService"})");
  auto r = Retried<json>("DescribeEndpoint", [&] { return Stub().DescribeEndpoint({{"EndpointName", "e1"}}); });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)["EndpointStatus"], "InService");
  EXPECT_EQ(Requests().size(), 3u);
}

TEST_F(StubTest, PermanentErrorsAreNotRetried) {
  transport_->Enqueue(400, JsonError("ValidationException", "Could not find endpoint \"e1\"."));
  auto r = Retried<json>("DescribeEndpoint", [&] { return Stub().DescribeEndpoint({{"EndpointName", "e1"}}); });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceDoesNotExist);
  EXPECT_EQ(r.status().message(), "SageMaker DescribeEndpoint 'e1': ValidationException: Could not find endpoint \"e1\".");
  EXPECT_EQ(Requests().size(), 1u);
}

TEST_F(StubTest, EveryAttemptIsSignedAnew) {
  transport_->Enqueue(400, JsonError("ThrottlingException", "Rate exceeded"), {{"Retry-After", "2"}});
  transport_->Enqueue(200, "{}");
  ASSERT_TRUE(Retried<json>("CreateModel", [&] { return Stub().CreateModel({{"ModelName", "m1"}}); }).ok());
  auto rs = Requests();
  ASSERT_EQ(rs.size(), 2u);
  ASSERT_EQ(clock_->sleeps, std::vector<milliseconds>{milliseconds(2000)});
  EXPECT_EQ(Header(rs[0], "X-Amz-Date"), "20240101T000000Z");
  EXPECT_EQ(Header(rs[1], "X-Amz-Date"), "20240101T000002Z");
  EXPECT_NE(Header(rs[0], "Authorization"), Header(rs[1], "Authorization"));
  // Exactly one of each signing header: re-signing replaces, never appends.
  for (const HttpRequest& r : rs) {
    EXPECT_EQ(std::count_if(r.headers.begin(), r.headers.end(), [](const auto& h) { return h.first == "Authorization"; }),
              1);
    ExpectSigned(r, "sagemaker", kRegion, true);
  }
}

TEST_F(StubTest, CredentialsErrorIsReturnedAsIs) {
  auto describe = [&] {
    return Retried<json>("DescribeEndpoint", [&] { return Stub().DescribeEndpoint({{"EndpointName", "e1"}}); });
  };
  provider_->error = UnauthenticatedError("no AWS credentials found: set AWS_ACCESS_KEY_ID or AWS_PROFILE");
  auto r = describe();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(r.status().message(), "no AWS credentials found: set AWS_ACCESS_KEY_ID or AWS_PROFILE");
  EXPECT_TRUE(Requests().empty());
  // Even a transient one is not retried (the provider retries on its own).
  provider_->error = UnavailableError("STS AssumeRole: throttled");
  auto t = describe();
  EXPECT_EQ(t.status().message(), "STS AssumeRole: throttled");
  EXPECT_EQ(provider_->calls, 2);
  EXPECT_TRUE(clock_->sleeps.empty());
  // After a retried attempt, it is still returned as is (no attempt count).
  provider_->error.reset();
  auto counting = std::make_shared<CountingProvider>(AwsCredentials{kAkid, kSecret, kToken, std::nullopt});
  SageMakerApiStub stub(Caller(counting), kRegion, ResolveSageMakerEndpoints(kRegion));
  transport_->Enqueue(400, JsonError("ThrottlingException", "Rate exceeded"));
  auto u = Retried<json>("DescribeEndpoint", [&] {
    auto reply = stub.DescribeEndpoint({{"EndpointName", "e1"}});
    counting->error = UnavailableError("STS AssumeRole: throttled");  // from the second attempt on
    return reply;
  });
  EXPECT_EQ(u.status().message(), "STS AssumeRole: throttled");
  EXPECT_EQ(counting->calls, 2);
}

// ============================================================ AwsCaller directly

TEST_F(StubTest, RestCallWithS3BodyHash) {
  AwsService s3{"s3", "http://127.0.0.1:5000", "us-east-1"};
  transport_->Enqueue(200, "", {{"ETag", "\"abc\""}});
  HttpRequest req;
  req.method = "PUT";
  req.url = "/bucket/key%20with%20space";
  req.body = "payload";
  AwsCallOptions hashed;
  hashed.s3_body_hash = true;
  auto r = Caller().RestCall(s3, req, "S3 PutObject", hashed);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->Header("ETag").value_or(""), "\"abc\"");
  const HttpRequest q = Requests().at(0);
  EXPECT_EQ(q.url, "http://127.0.0.1:5000/bucket/key%20with%20space");
  EXPECT_EQ(Header(q, "x-amz-content-sha256"), Sha256Hex("payload"));
  ExpectSigned(q, "s3", "us-east-1", true, "20240101", true);

  transport_->Enqueue(404, "<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>");
  req.url = "bucket";  // a missing leading slash is added
  auto missing = Caller().RestCall(s3, req, "S3 HeadBucket 'bucket'", hashed);
  EXPECT_EQ(Requests().back().url, "http://127.0.0.1:5000/bucket");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kResourceDoesNotExist);
}

TEST_F(StubTest, RestCallHandsBackAcceptedStatusesAndSaysHowItFailed) {
  AwsService s3{"s3", "http://127.0.0.1:5000", "us-east-1"};
  AwsCallOptions options;
  options.s3_body_hash = true;
  options.accept_statuses = {404};
  HttpRequest req;
  req.method = "GET";
  req.url = "/bucket/key";
  transport_->Enqueue(404, std::string("<Error><Code>NoSuchKey</Code><Message>key ") + kSecret + "</Message></Error>");
  auto missing = Caller().RestCall(s3, req, "S3 GetObject", options);
  ASSERT_TRUE(missing.ok()) << missing.status().ToString();
  EXPECT_EQ(missing->status_code, 404);
  EXPECT_EQ(missing->body.find(kSecret), std::string::npos) << missing->body;  // scrubbed all the same

  AwsCallFailure failure;
  transport_->Enqueue(403, "<Error><Code>AccessDenied</Code><Message>no</Message><RequestId>r-2</RequestId></Error>");
  auto denied = Caller().RestCall(s3, req, "S3 GetObject", options, &failure);
  EXPECT_EQ(denied.status().code(), StatusCode::kPermissionDenied);
  EXPECT_FALSE(failure.no_reply);
  ASSERT_TRUE(failure.error.has_value());
  EXPECT_EQ(failure.error->code, "AccessDenied");
  EXPECT_EQ(failure.error->request_id, "r-2");

  failure = {};
  transport_->Enqueue(UnavailableError("connection reset"));
  auto lost = Caller().RestCall(s3, req, "S3 CompleteMultipartUpload", options, &failure);
  EXPECT_EQ(lost.status().code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_TRUE(failure.no_reply);
  EXPECT_FALSE(failure.error.has_value());
}

// A service's own try-again rule (S3's, S3TryAgain), passed by its stub, marks the replies; the retry policy
// above retries them.
TEST_F(StubTest, S3TryAgainRepliesAreRetriedEvenWhenNotIdempotent) {
  AwsService s3{"s3", "http://127.0.0.1:5000", "us-east-1"};
  AwsService other{"sagemaker", "http://127.0.0.1:5000", "us-east-1"};
  auto send = [&](const AwsService& service, const HttpRequest& req, Idempotency idempotency, bool s3_rule) {
    AwsCallOptions options;
    options.s3_body_hash = s3_rule;
    if (s3_rule) options.try_again = S3TryAgain(idempotency);
    return Retry().Call<HttpResponse>(idempotency, "op", [&] { return Caller().RestCall(service, req, "op", options); });
  };
  HttpRequest req;
  req.method = "POST";
  req.url = "/bucket/key?uploads";
  transport_->Enqueue(503, "");
  transport_->Enqueue(500, "<Error><Code>InternalError</Code><Message>try again</Message></Error>");
  transport_->Enqueue(200, "<InitiateMultipartUploadResult/>");
  EXPECT_TRUE(send(s3, req, Idempotency::kNonIdempotent, true).ok());
  EXPECT_EQ(Requests().size(), 3u);
  // Other services: a 5xx of a non-idempotent call is returned at once.
  transport_->Enqueue(503, "");
  EXPECT_EQ(send(other, req, Idempotency::kNonIdempotent, false).status().code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_EQ(Requests().size(), 4u);
  // S3, idempotent: any 500 is retried.
  transport_->Enqueue(500, "");
  transport_->Enqueue(200, "");
  req.method = "HEAD";
  EXPECT_TRUE(send(s3, req, Idempotency::kIdempotent, true).ok());
  EXPECT_EQ(Requests().size(), 6u);
  // S3, not idempotent: a plain 500 is returned at once, as it came (INTERNAL_ERROR).
  transport_->Enqueue(500, "");
  EXPECT_EQ(send(s3, req, Idempotency::kNonIdempotent, true).status().code(), StatusCode::kInternalError);
  EXPECT_EQ(Requests().size(), 7u);
  // The one attempt marks, and does not retry.
  transport_->Enqueue(503, "");
  AwsCallOptions options;
  options.try_again = S3TryAgain(Idempotency::kNonIdempotent);
  Status once = Caller().RestCall(s3, req, "op", options).status();
  EXPECT_TRUE(once.not_processed());
  EXPECT_EQ(Requests().size(), 8u);
}

// ============================================================ secrets

TEST_F(StubTest, NoSecretInAnyStatusMessage) {
  SageMakerApiStub stub = Stub();
  const std::string echo = std::string("secret ") + kSecret + " token " + kToken;
  std::vector<Status> seen;
  // A JSON error echoing the secrets.
  transport_->Enqueue(400, JsonError("ValidationException", echo));
  seen.push_back(stub.DescribeEndpoint({{"EndpointName", "e"}}).status());
  // An XML error.
  transport_->Enqueue(403, "<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>" + echo +
                               "</Message></Error></ErrorResponse>");
  seen.push_back(Sts().GetCallerIdentity().status());
  // A non-AWS body.
  transport_->Enqueue(500, "<html>" + echo + "</html>");
  seen.push_back(stub.CreateModel({{"ModelName", "m"}}).status());
  // A ModelError.
  transport_->Enqueue(424, json{{"OriginalMessage", echo}, {"OriginalStatusCode", 400}}.dump(),
                      {{"x-amzn-ErrorType", "ModelError"}});
  seen.push_back(stub.InvokeEndpoint("e", "{}", "application/json").status());
  // A transport error, retried until exhausted.
  for (int i = 0; i < 3; ++i) transport_->Enqueue(UnavailableError("reset after " + echo));
  seen.push_back(Retried<json>("ListEndpoints", [&] { return stub.ListEndpoints(json::object()); }).status());
  // Throttling exhausted.
  for (int i = 0; i < 3; ++i) transport_->Enqueue(400, JsonError("ThrottlingException", echo));
  seen.push_back(Retried<json>("CreateModel", [&] { return stub.CreateModel({{"ModelName", "m"}}); }).status());
  // A reply that is not JSON.
  transport_->Enqueue(200, "not json " + echo);
  seen.push_back(stub.DescribeModel({{"ModelName", "m"}}).status());

  for (const Status& s : seen) {
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.message().find(kSecret), std::string::npos) << s.message();
    EXPECT_EQ(s.message().find(kToken), std::string::npos) << s.message();
  }
  for (const std::string& line : logs_) {
    EXPECT_EQ(line.find(kSecret), std::string::npos) << line;
    EXPECT_EQ(line.find(kToken), std::string::npos) << line;
  }
}

}  // namespace
}  // namespace mlflow_bridge::internal
