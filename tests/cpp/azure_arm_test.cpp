// The Azure Resource Manager layer of the azureml-endpoints target, against a MockTransport and a fake
// token credential: what ArmCaller and the Azure ML stub put on the wire (method, path, query, headers,
// body), how ARM error replies map onto Status codes (ArmErrorStatus), the ARM retry policy above the stub
// (RetryingAzureMlStub, ArmRetry), and the long-running operations (WaitForArmOperation) with a fake clock
// whose recorded sleeps are the poll delays. The published examples (tests/data/azureml/2024-10-01/examples)
// are the canned replies where they fit. The last tests drive the in-memory mock (mock_azureml_stub.h) the
// target's orchestration suites use.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "azure/arm_caller.h"
#include "azure/arm_lro.h"
#include "azure/arm_retry.h"
#include "azure/credentials.h"
#include "azure/ml_stub.h"
#include "mock_azureml_stub.h"
#include "mock_transport.h"
#include "test_support.h"

namespace mlflow_bridge::internal {
namespace {

namespace fs = std::filesystem;
using ::mlflow_bridge::testing::AzureMlWorld;
using ::mlflow_bridge::testing::FakeClock;
using ::mlflow_bridge::testing::MockAzureMlStub;
using ::mlflow_bridge::testing::Utc;
using nlohmann::json;
using std::chrono::milliseconds;

constexpr char kTokenValue[] = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.secret-arm-token.sig";
constexpr char kBase[] = "https://management.azure.com";
constexpr char kWsPath[] =
    "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/test-rg/providers/"
    "Microsoft.MachineLearningServices/workspaces/my-aml-workspace";

// The published examples, read from the source tree (as sigv4_test reads its suite).
fs::path ExamplesDir() { return fs::path(__FILE__).parent_path() / ".." / "data" / "azureml" / "2024-10-01" / "examples"; }

json Example(const std::string& relative) {
  std::ifstream in(ExamplesDir() / relative);
  EXPECT_TRUE(in.good()) << "missing example " << relative;
  std::stringstream text;
  text << in.rdbuf();
  return json::parse(text.str());
}
json ExampleReply(const std::string& relative, const std::string& status = "200") {
  return Example(relative)["responses"][status]["body"];
}

class FakeCredential : public TokenCredential {
 public:
  StatusOr<AccessToken> GetToken(const std::string& scope) override {
    scopes.push_back(scope);
    if (error) return *error;
    return AccessToken{kTokenValue, std::chrono::system_clock::now() + std::chrono::hours(1), std::nullopt};
  }
  std::vector<std::string> scopes;
  std::optional<Status> error;
};

HttpResponse Reply(long code, const json& body, HttpHeaders headers = {}) {
  headers.emplace_back("Content-Type", "application/json; charset=utf-8");
  return HttpResponse{code, std::move(headers), body.is_null() ? std::string() : body.dump()};
}

// The query parameters of a URL, decoded.
std::vector<std::pair<std::string, std::string>> QueryOf(const std::string& url) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t q = url.find('?');
  if (q == std::string::npos) return out;
  std::stringstream in(url.substr(q + 1));
  for (std::string pair; std::getline(in, pair, '&');) {
    size_t eq = pair.find('=');
    out.emplace_back(PercentDecode(pair.substr(0, eq)), eq == std::string::npos ? "" : PercentDecode(pair.substr(eq + 1)));
  }
  return out;
}
std::string PathOf(const std::string& url) {
  std::string rest = url.substr(std::string(kBase).size());
  return rest.substr(0, rest.find('?'));
}

class AzureArmTest : public ::testing::Test {
 protected:
  AzureArmTest()
      : transport(std::make_shared<MockTransport>()),
        credential(std::make_shared<FakeCredential>()),
        clock(std::make_shared<FakeClock>(Utc(2024, 1, 1, 0, 0, 0))),
        caller(std::make_shared<ArmCaller>(transport, credential, ArmCallerOptions{}, clock)),
        stub(MakeRestAzureMlStub(caller,
                                 ArmWorkspace{"00000000-1111-2222-3333-444444444444", "test-rg", "my-aml-workspace"})) {}

  HttpRequest Only() {
    auto requests = transport->requests();
    EXPECT_EQ(requests.size(), 1u);
    return requests.empty() ? HttpRequest{} : requests.back();
  }
  ArmLroOptions Lro() {
    ArmLroOptions o;
    o.clock = clock;
    o.poll_interval = milliseconds(5000);
    o.first_poll_interval = milliseconds(5000);
    o.timeout = std::chrono::minutes(30);
    return o;
  }

  std::shared_ptr<MockTransport> transport;
  std::shared_ptr<FakeCredential> credential;
  std::shared_ptr<FakeClock> clock;
  std::shared_ptr<ArmCaller> caller;
  std::shared_ptr<AzureMlStub> stub;
};

// ---------------------------------------------------------------- paths and the caller

TEST(AzureArmPathTest, WorkspacePathEscapesEachName) {
  ArmWorkspace ws{"sub 1", "rg(dev).eu", "ws/ä?#"};
  EXPECT_EQ(ws.Path(),
            "/subscriptions/sub%201/resourceGroups/rg%28dev%29.eu/providers/Microsoft.MachineLearningServices/"
            "workspaces/ws%2F%C3%A4%3F%23");
  EXPECT_EQ(ws.ResourceId(),
            "/subscriptions/sub 1/resourceGroups/rg(dev).eu/providers/Microsoft.MachineLearningServices/workspaces/ws/ä?#");
  EXPECT_EQ(ArmPathSegment("a-b_c.d~e"), "a-b_c.d~e");
  EXPECT_EQ(ArmQueryString({{"$orderBy", "createdtime desc"}, {"$top", "1"}, {"a&b", "x=y"}}),
            "$orderBy=createdtime%20desc&$top=1&a%26b=x%3Dy");
  EXPECT_EQ(
      ArmModelVersionId(ArmWorkspace{"s", "rg", "w"}, "m", "3"),
      "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/w/models/m/versions/3");
  EXPECT_EQ(
      ArmEnvironmentVersionId(ArmWorkspace{"s", "rg", "w"}, "e", "1"),
      "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/w/environments/e/versions/1");
  EXPECT_TRUE(ValidateArmWorkspace(ArmWorkspace{"s", "rg", "w"}).ok());
  Status missing = ValidateArmWorkspace(ArmWorkspace{"s", "", "w"});
  EXPECT_EQ(missing.code(), StatusCode::kInvalidParameterValue);
  EXPECT_NE(missing.message().find("resource group"), std::string::npos) << missing.message();
}

TEST_F(AzureArmTest, CallerSendsBearerTokenApiVersionAndRequestId) {
  transport->Enqueue(Reply(200, ExampleReply("Workspace/OnlineEndpoint/get.json")));
  auto ep = stub->GetOnlineEndpoint("my ep");
  ASSERT_TRUE(ep.ok()) << ep.status().ToString();
  EXPECT_EQ((*ep)["properties"]["authMode"], "AMLToken");
  HttpRequest r = Only();
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.url, std::string(kBase) + kWsPath + "/onlineEndpoints/my%20ep?api-version=2025-12-01");
  EXPECT_EQ(FindHeader(r.headers, "Authorization").value_or(""), std::string("Bearer ") + kTokenValue);
  EXPECT_EQ(FindHeader(r.headers, "Accept").value_or(""), "application/json");
  EXPECT_FALSE(FindHeader(r.headers, "Content-Type").has_value());  // no body
  std::string id = FindHeader(r.headers, "x-ms-client-request-id").value_or("");
  EXPECT_TRUE(std::regex_match(id, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"))) << id;
  EXPECT_EQ(credential->scopes, std::vector<std::string>{"https://management.azure.com/.default"});
  EXPECT_NE(NewClientRequestId(), NewClientRequestId());
}

TEST_F(AzureArmTest, CallerBaseUrlAndScopeForAnotherCloud) {
  ArmCallerOptions options;
  options.base_url = "https://management.usgovcloudapi.net/";
  options.scope = "https://management.usgovcloudapi.net/.default";
  auto gov = std::make_shared<ArmCaller>(transport, credential, options, clock);
  auto s = MakeRestAzureMlStub(gov, ArmWorkspace{"s", "rg", "w"});
  transport->Enqueue(Reply(200, json{{"location", "usgovvirginia"}}));
  ASSERT_TRUE(s->GetWorkspace().ok());
  EXPECT_EQ(Only().url,
            "https://management.usgovcloudapi.net/subscriptions/s/resourceGroups/rg/providers/"
            "Microsoft.MachineLearningServices/workspaces/w?api-version=2025-12-01");
  EXPECT_EQ(credential->scopes.back(), "https://management.usgovcloudapi.net/.default");
}

TEST_F(AzureArmTest, TokenErrorIsReturnedAsIsAndNothingIsSent) {
  credential->error =
      UnauthenticatedError("ClientSecretCredential: AADSTS7000215: invalid client secret; check AZURE_CLIENT_SECRET");
  credential->error->set_final();
  auto r = stub->GetWorkspace();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(r.status().message(), credential->error->message());
  EXPECT_TRUE(r.status().final());
  EXPECT_TRUE(transport->requests().empty());
}

TEST_F(AzureArmTest, TokenNeverInMessages) {
  // A reply that echoes the header, and a transport error that names it.
  transport->Enqueue(
      Reply(400, json{{"error", {{"code", "BadRequest"}, {"message", std::string("bad header ") + kTokenValue}}}}));
  transport->Enqueue(StatusOr<HttpResponse>(UnavailableError(std::string("connection reset while sending ") + kTokenValue)));
  transport->Enqueue(HttpResponse{502, {}, std::string("<html>proxy saw Authorization: Bearer ") + kTokenValue + "</html>"});
  for (int i = 0; i < 3; ++i) {
    auto r = stub->GetWorkspace();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().message().find("secret-arm-token"), std::string::npos) << r.status().message();
  }
}

TEST_F(AzureArmTest, GetUrlKeepsTheTokenOnTheResourceManager) {
  auto r = caller->GetUrl("https://evil.example.com/subscriptions/x?api-version=1", "poll");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternalError);
  EXPECT_NE(r.status().message().find("evil.example.com"), std::string::npos);
  EXPECT_FALSE(caller->GetUrl("http://management.azure.com/x", "poll").ok());        // another scheme
  EXPECT_FALSE(caller->GetUrl("https://management.azure.com:8443/x", "poll").ok());  // another port
  EXPECT_TRUE(transport->requests().empty());

  transport->Enqueue(Reply(200, json::object()));
  transport->Enqueue(Reply(200, json::object()));
  ASSERT_TRUE(caller->GetUrl("https://MANAGEMENT.azure.com:443/ops/1?api-version=2024-10-01&t=x", "poll").ok());
  ASSERT_TRUE(caller->GetUrl("https://management.azure.com/ops/2", "poll").ok());
  auto requests = transport->requests();
  EXPECT_EQ(requests[0].url, "https://MANAGEMENT.azure.com:443/ops/1?api-version=2024-10-01&t=x");  // as handed out
  EXPECT_EQ(requests[1].url, "https://management.azure.com/ops/2?api-version=2025-12-01");
  EXPECT_EQ(FindHeader(requests[1].headers, "Authorization").value_or(""), std::string("Bearer ") + kTokenValue);
}

// ---------------------------------------------------------------- ArmErrorStatus

json ModelNotFoundBody() {  // as recorded (azure-ai-ml 1.32.0, docs/azureml-notes.md §2.4)
  return json::parse(R"({"error": {"code": "UserError", "message": "The specified resource was not found.",
    "details": [{"code": "ModelNotFound", "message": "Model container with name: test_907403507619 not found.",
                 "details": [], "additionalInfo": []}],
    "additionalInfo": [{"type": "ComponentName", "info": {"value": "managementfrontend"}},
                       {"type": "Correlation", "info": {"value": {"operation": "f8fc0b5d714617c87b9209cd6364519a",
                                                                 "request": "86ac7122aaf8f083"}}},
                       {"type": "Environment", "info": {"value": "eastus2"}}]}})");
}

TEST(AzureArmErrorTest, NestedDetailsGiveTheSpecificCode) {
  HttpResponse r =
      Reply(404, ModelNotFoundBody(),
            {{"x-ms-correlation-request-id", "89ad8011-aec5-43b4-a4d6-871a9999188d"}, {"x-ms-response-type", "error"}});
  Status s = ArmErrorStatus(r, "get model test_907403507619 version 1");
  EXPECT_EQ(s.code(), StatusCode::kResourceDoesNotExist);
  EXPECT_EQ(s.message(),
            "get model test_907403507619 version 1: UserError/ModelNotFound: Model container with name: "
            "test_907403507619 not found. (request id 89ad8011-aec5-43b4-a4d6-871a9999188d)");
  auto e = ParseArmError(r);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, "UserError");
  EXPECT_EQ(e->specific_code, "ModelNotFound");
  // Without the headers: the Correlation additionalInfo.
  r.headers.clear();
  EXPECT_EQ(ParseArmError(r)->request_id, "86ac7122aaf8f083");
}

TEST(AzureArmErrorTest, StatusMapping) {
  auto code = [](long http, json body = json{{"error", {{"code", "Some"}, {"message", "m"}}}}) {
    return ArmErrorStatus(Reply(http, body), "call").code();
  };
  EXPECT_EQ(code(400), StatusCode::kInvalidParameterValue);
  EXPECT_EQ(code(401), StatusCode::kUnauthenticated);
  EXPECT_EQ(code(403), StatusCode::kPermissionDenied);
  EXPECT_EQ(code(404), StatusCode::kResourceDoesNotExist);
  EXPECT_EQ(code(409), StatusCode::kResourceAlreadyExists);
  EXPECT_EQ(code(400, json::parse(R"({"error": {"code": "UserError", "details": [{"code": "Conflict", "message": "m"}]}})")),
            StatusCode::kResourceAlreadyExists);
  EXPECT_EQ(code(400, json{{"error", {{"code", "ModelVersionAlreadyExists"}, {"message", "m"}}}}),
            StatusCode::kResourceAlreadyExists);
  for (long t : {408, 429, 500, 502, 503, 504}) EXPECT_EQ(code(t), StatusCode::kTemporarilyUnavailable) << t;
  EXPECT_EQ(code(422), StatusCode::kInvalidParameterValue);
  EXPECT_EQ(code(501), StatusCode::kInternalError);
  // Only the 429 says the request was not carried out.
  EXPECT_TRUE(ArmErrorStatus(Reply(429, json{{"error", {{"code", "TooManyRequests"}}}}), "c").not_processed());
  EXPECT_FALSE(ArmErrorStatus(Reply(503, json{{"error", {{"code", "ServiceUnavailable"}}}}), "c").not_processed());
  EXPECT_FALSE(ArmErrorStatus(Reply(500, json{{"error", {{"code", "InternalServerError"}}}}), "c").not_processed());
}

TEST(AzureArmErrorTest, RetryAfterHeadersAreKept) {
  auto after = [](HttpHeaders h) {
    return ArmErrorStatus(Reply(429, json{{"error", {{"code", "TooManyRequests"}, {"message", "slow down"}}}}, std::move(h)),
                          "c")
        .retry_after();
  };
  EXPECT_EQ(after({{"Retry-After", "7"}}), milliseconds(7000));
  EXPECT_EQ(after({{"retry-after-ms", "1500"}}), milliseconds(1500));
  EXPECT_EQ(after({{"x-ms-retry-after-ms", "250.0"}}), milliseconds(250));
  EXPECT_EQ(after({{"retry-after-ms", "100"}, {"Retry-After", "9"}}), milliseconds(100));  // the ms header first
  EXPECT_FALSE(after({}).has_value());
  EXPECT_FALSE(after({{"Retry-After", "soon"}}).has_value());
  // An HTTP date, relative to the caller's clock.
  auto now = Utc(2024, 1, 1, 0, 0, 0);
  EXPECT_EQ(ArmRetryAfter({{"Retry-After", "Mon, 01 Jan 2024 00:00:30 GMT"}}, now), milliseconds(30000));
  EXPECT_EQ(ArmRetryAfter({{"Retry-After", "0"}}, now), milliseconds(0));
}

TEST(AzureArmErrorTest, RecordedListSecretsError) {
  // POST listSecrets on an identity datastore ([REC-DEP]): 400 "No secrets for credentials of type None."
  json body = {{"error",
                {{"code", "UserError"},
                 {"message", "No secrets for credentials of type None."},
                 {"details", json::array()},
                 {"additionalInfo", json::array()}}}};
  Status s =
      ArmErrorStatus(Reply(400, body, {{"x-ms-request-id", "req-1"}}), "list the secrets of datastore workspaceblobstore");
  EXPECT_EQ(s.code(), StatusCode::kInvalidParameterValue);
  EXPECT_EQ(s.message(),
            "list the secrets of datastore workspaceblobstore: UserError: No secrets for credentials of type None. "
            "(request id req-1)");
}

TEST(AzureArmErrorTest, SeveralDetailsTargetAndBareErrors) {
  json body = json::parse(R"({"error": {"code": "BadRequest", "message": "The request is invalid.", "target": "properties",
    "details": [{"code": "InvalidField", "message": "instanceType is not supported", "target": "properties.instanceType"},
                {"code": "InvalidField", "message": "sku.capacity must be >= 1"}]}})");
  Status s = ArmErrorStatus(Reply(400, body), "create or update online deployment blue (endpoint ep)");
  EXPECT_EQ(
      s.message(),
      "create or update online deployment blue (endpoint ep): BadRequest: The request is invalid. (target: properties) "
      "(details: InvalidField: instanceType is not supported (target: properties.instanceType); InvalidField: "
      "sku.capacity must be >= 1)");
  // Some services send {"code", "message"} without the "error" wrapper.
  Status bare = ArmErrorStatus(Reply(403, json{{"code", "AuthorizationFailed"}, {"message", "no access"}}), "get workspace");
  EXPECT_EQ(bare.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(bare.message(), "get workspace: AuthorizationFailed: no access");
}

TEST(AzureArmErrorTest, NonJsonBodyFallsBackToTheStatusLine) {
  HttpResponse r{502, {{"Content-Type", "text/html"}, {"Retry-After", "3"}}, "<html><body>Bad Gateway</body></html>"};
  Status s = ArmErrorStatus(r, "get workspace");
  EXPECT_EQ(s.code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_EQ(s.message(), "get workspace: HTTP 502: <html><body>Bad Gateway</body></html>");
  EXPECT_EQ(s.retry_after(), milliseconds(3000));
  Status empty = ArmErrorStatus(HttpResponse{500, {}, ""}, "get workspace");
  EXPECT_EQ(empty.code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_EQ(empty.message(), "get workspace: HTTP 500");
  // JSON, but not an ARM error.
  EXPECT_EQ(ArmErrorStatus(Reply(404, json{{"Message", "No HTTP resource"}}), "x").message(),
            "x: HTTP 404: {\"Message\":\"No HTTP resource\"}");
}

TEST(AzureArmErrorTest, SecretsInTheServiceMessageAreRedacted) {
  json body = {
      {"error", {{"code", "BadRequest"}, {"message", "invalid header Authorization: Bearer abcdefghijklmnop1234"}}}};
  Status s = ArmErrorStatus(Reply(400, body), "c");
  EXPECT_EQ(s.message().find("abcdefghijklmnop1234"), std::string::npos) << s.message();
}

// ---------------------------------------------------------------- the stub's calls

TEST_F(AzureArmTest, WorkspaceAndDatastoreCalls) {
  transport->Enqueue(Reply(200, json{{"location", "eastus"}}));
  transport->Enqueue(Reply(200, json{{"name", "workspaceblobstore"}}));
  transport->Enqueue(
      Reply(200, json{{"value", json::array({json{{"name", "other"}, {"properties", {{"isDefault", true}}}}})}}));
  transport->Enqueue(Reply(200, json{{"secretsType", "Sas"}, {"sasToken", "?sv=2021&sig=abc"}}));
  transport->Enqueue(Reply(200, json{{"value", json::array()}}));
  ASSERT_EQ((*stub->GetWorkspace())["location"], "eastus");
  ASSERT_TRUE(stub->GetDatastore("workspaceblobstore").ok());
  ASSERT_EQ((*stub->GetDefaultDatastore())["name"], "other");
  auto secrets = stub->ListDatastoreSecrets("workspaceblobstore");
  ASSERT_TRUE(secrets.ok());
  EXPECT_EQ((*secrets)["secretsType"], "Sas");
  auto none = stub->GetDefaultDatastore();
  EXPECT_EQ(none.status().code(), StatusCode::kResourceDoesNotExist);

  auto q = transport->requests();
  ASSERT_EQ(q.size(), 5u);
  EXPECT_EQ(q[0].method, "GET");
  EXPECT_EQ(PathOf(q[0].url), kWsPath);
  EXPECT_EQ(PathOf(q[1].url), std::string(kWsPath) + "/datastores/workspaceblobstore");
  EXPECT_EQ(PathOf(q[2].url), std::string(kWsPath) + "/datastores");
  EXPECT_EQ(QueryOf(q[2].url),
            (std::vector<std::pair<std::string, std::string>>{{"api-version", "2025-12-01"}, {"isDefault", "true"}}));
  EXPECT_EQ(q[3].method, "POST");
  EXPECT_EQ(PathOf(q[3].url), std::string(kWsPath) + "/datastores/workspaceblobstore/listSecrets");
  EXPECT_EQ(json::parse(q[3].body), json::parse(R"({"expirableSecret": true, "expireAfterHours": 1})"));
  EXPECT_EQ(FindHeader(q[3].headers, "Content-Type").value_or(""), "application/json");
}

TEST_F(AzureArmTest, ModelAndEnvironmentCalls) {
  json model_body = {
      {"properties",
       {{"modelType", "mlflow_model"},
        {"modelUri",
         "azureml://subscriptions/s/resourcegroups/rg/workspaces/w/datastores/workspaceblobstore/paths/LocalUpload/abc/model"},
        {"isAnonymous", false}}}};
  transport->Enqueue(Reply(
      200, json{{"value", json::array({json{{"name", "3"}}})}, {"nextLink", "https://management.azure.com/next?x=1"}}));
  transport->Enqueue(
      Reply(201, json{{"name", "4"}, {"properties", {{"provisioningState", "Succeeded"}}}},
            {{"Location", std::string(kBase) + kWsPath + "/models/my%20model/versions/4?api-version=2025-12-01"}}));
  transport->Enqueue(Reply(200, json{{"name", "4"}}));
  transport->Enqueue(HttpResponse{204, {}, ""});
  transport->Enqueue(Reply(201, json{{"name", "1"}}));
  transport->Enqueue(Reply(200, json{{"name", "1"}}));

  auto versions = stub->ListModelVersions("my model", ModelVersionQuery{"createdtime desc", 1});
  ASSERT_TRUE(versions.ok()) << versions.status().ToString();
  EXPECT_EQ(versions->size(), 1u);  // $top reached: the next page is not fetched
  auto put = stub->PutModelVersion("my model", "4", model_body);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_EQ((*put)["properties"]["provisioningState"], "Succeeded");
  ASSERT_TRUE(stub->GetModelVersion("my model", "4").ok());
  ASSERT_TRUE(stub->DeleteModelVersion("my model", "4").ok());
  json env = {{"properties",
               {{"image", "myacr.azurecr.io/mlflow-bridge/model:1"},
                {"inferenceConfig",
                 {{"livenessRoute", {{"path", "/ping"}, {"port", 8080}}},
                  {"readinessRoute", {{"path", "/health"}, {"port", 8080}}},
                  {"scoringRoute", {{"path", "/invocations"}, {"port", 8080}}}}}}}};
  ASSERT_TRUE(stub->PutEnvironmentVersion("mlflow-bridge-env", "1", env).ok());
  ASSERT_TRUE(stub->GetEnvironmentVersion("mlflow-bridge-env", "1").ok());

  auto q = transport->requests();
  ASSERT_EQ(q.size(), 6u);
  const std::string models = std::string(kWsPath) + "/models/my%20model/versions";
  EXPECT_EQ(q[0].method, "GET");
  EXPECT_EQ(PathOf(q[0].url), models);
  EXPECT_NE(q[0].url.find("&$orderBy=createdtime%20desc&$top=1"), std::string::npos) << q[0].url;
  EXPECT_EQ(q[1].method, "PUT");
  EXPECT_EQ(PathOf(q[1].url), models + "/4");
  EXPECT_EQ(json::parse(q[1].body), model_body);
  EXPECT_EQ(q[2].method, "GET");
  EXPECT_EQ(PathOf(q[2].url), models + "/4");
  EXPECT_EQ(q[3].method, "DELETE");
  EXPECT_EQ(PathOf(q[3].url), models + "/4");
  EXPECT_EQ(q[4].method, "PUT");
  EXPECT_EQ(PathOf(q[4].url), std::string(kWsPath) + "/environments/mlflow-bridge-env/versions/1");
  EXPECT_EQ(json::parse(q[4].body), env);
  EXPECT_EQ(q[5].method, "GET");
}

TEST_F(AzureArmTest, EndpointCallsWithTheExamples) {
  json create = Example("Workspace/OnlineEndpoint/createOrUpdate.json");
  transport->Enqueue(Reply(200, create["responses"]["200"]["body"]));
  transport->Enqueue(Reply(200, json{{"primaryKey", "pk-secret-value"}, {"secondaryKey", "sk-secret-value"}}));
  transport->Enqueue(Reply(200, ExampleReply("Workspace/OnlineEndpoint/getToken.json")));
  transport->Enqueue(
      Reply(202, json(), {{"Location", "https://management.azure.com/ops/results/1?api-version=2025-12-01"}}));

  auto put = stub->BeginCreateOrUpdateOnlineEndpoint("testEndpointName", create["parameters"]["body"]);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_EQ(put->method, "PUT");
  EXPECT_EQ(put->resource, "online endpoint testEndpointName");
  EXPECT_EQ(put->resource_url, std::string(kBase) + kWsPath + "/onlineEndpoints/testEndpointName?api-version=2025-12-01");
  EXPECT_EQ(put->initial.status_code, 200);
  EXPECT_EQ(put->initial.body["properties"]["provisioningState"], "Creating");
  EXPECT_EQ((*stub->ListOnlineEndpointKeys("testEndpointName"))["primaryKey"], "pk-secret-value");
  auto token = stub->GetOnlineEndpointToken("testEndpointName");
  ASSERT_TRUE(token.ok());
  EXPECT_EQ((*token)["expiryTimeUtc"], 1);
  auto del = stub->BeginDeleteOnlineEndpoint("testEndpointName");
  ASSERT_TRUE(del.ok()) << del.status().ToString();
  EXPECT_EQ(del->initial.status_code, 202);
  EXPECT_EQ(del->initial.location, "https://management.azure.com/ops/results/1?api-version=2025-12-01");
  EXPECT_TRUE(del->initial.async_operation.empty());

  auto q = transport->requests();
  ASSERT_EQ(q.size(), 4u);
  const std::string ep = std::string(kWsPath) + "/onlineEndpoints/testEndpointName";
  EXPECT_EQ(q[0].method, "PUT");
  EXPECT_EQ(PathOf(q[0].url), ep);
  EXPECT_EQ(json::parse(q[0].body), create["parameters"]["body"]);
  EXPECT_EQ(q[1].method, "POST");
  EXPECT_EQ(PathOf(q[1].url), ep + "/listKeys");
  EXPECT_TRUE(q[1].body.empty());
  EXPECT_EQ(q[2].method, "POST");
  EXPECT_EQ(PathOf(q[2].url), ep + "/token");
  EXPECT_EQ(q[3].method, "DELETE");
  EXPECT_EQ(PathOf(q[3].url), ep);
}

TEST_F(AzureArmTest, DeploymentCallsWithTheExamples) {
  json create = Example("OnlineDeployment/ManagedOnlineDeployment/createOrUpdate.json");
  json logs = Example("OnlineDeployment/getLogs.json");
  transport->Enqueue(Reply(200, ExampleReply("OnlineDeployment/ManagedOnlineDeployment/get.json")));
  transport->Enqueue(Reply(201, create["responses"]["201"]["body"],
                           {{"Azure-AsyncOperation",
                             "https://management.azure.com/subscriptions/s/providers/"
                             "Microsoft.MachineLearningServices/locations/eastus/mfeOperationsStatus/"
                             "odidp:1?api-version=2025-12-01"},
                            {"x-ms-async-operation-timeout", "PT30M"}}));
  transport->Enqueue(Reply(200, logs["responses"]["200"]["body"]));
  transport->Enqueue(HttpResponse{204, {}, ""});

  auto got = stub->GetOnlineDeployment("testEndpointName", "testDeploymentName");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)["properties"]["endpointComputeType"], "Managed");
  auto put =
      stub->BeginCreateOrUpdateOnlineDeployment("testEndpointName", "testDeploymentName", create["parameters"]["body"]);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_EQ(put->initial.status_code, 201);
  EXPECT_NE(put->initial.async_operation.find("mfeOperationsStatus/odidp:1"), std::string::npos);
  EXPECT_EQ(put->resource, "online deployment testDeploymentName (endpoint testEndpointName)");
  DeploymentLogsRequest request;
  request.container_type = logs["parameters"]["body"]["containerType"].get<std::string>();
  request.tail = logs["parameters"]["body"]["tail"].get<int>();
  auto content = stub->GetOnlineDeploymentLogs("testEndpointName", "testDeploymentName", request);
  ASSERT_TRUE(content.ok());
  EXPECT_EQ(*content, "string");
  auto del = stub->BeginDeleteOnlineDeployment("testEndpointName", "testDeploymentName");
  ASSERT_TRUE(del.ok());
  EXPECT_EQ(del->initial.status_code, 204);

  auto q = transport->requests();
  ASSERT_EQ(q.size(), 4u);
  const std::string d = std::string(kWsPath) + "/onlineEndpoints/testEndpointName/deployments/testDeploymentName";
  EXPECT_EQ(PathOf(q[0].url), d);
  EXPECT_EQ(q[1].method, "PUT");
  EXPECT_EQ(json::parse(q[1].body), create["parameters"]["body"]);
  EXPECT_EQ(q[2].method, "POST");
  EXPECT_EQ(PathOf(q[2].url), d + "/getLogs");
  EXPECT_EQ(json::parse(q[2].body), logs["parameters"]["body"]);
  EXPECT_EQ(q[3].method, "DELETE");
  EXPECT_EQ(PathOf(q[3].url), d);

  // getLogs without options sends an empty object.
  transport->Enqueue(Reply(200, json{{"content", ""}}));
  ASSERT_TRUE(stub->GetOnlineDeploymentLogs("e", "d").ok());
  EXPECT_EQ(transport->requests().back().body, "{}");
}

TEST_F(AzureArmTest, ListsFollowNextLink) {
  json page = ExampleReply("Workspace/OnlineEndpoint/list.json");
  json first = page, second = page;
  first["value"][0]["name"] = "ep-a";
  first["nextLink"] = std::string(kBase) + kWsPath + "/onlineEndpoints?api-version=2025-12-01&$skipToken=abc%3D%3D";
  second["value"][0]["name"] = "ep-b";
  second.erase("nextLink");
  transport->Enqueue(Reply(200, first));
  transport->Enqueue(Reply(200, second));
  auto all = stub->ListOnlineEndpoints();
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0]["name"], "ep-a");
  EXPECT_EQ((*all)[1]["name"], "ep-b");
  auto q = transport->requests();
  ASSERT_EQ(q.size(), 2u);
  EXPECT_EQ(PathOf(q[0].url), std::string(kWsPath) + "/onlineEndpoints");
  EXPECT_EQ(q[1].url, first["nextLink"].get<std::string>());  // as handed out
  EXPECT_TRUE(FindHeader(q[1].headers, "Authorization").has_value());

  // Deployments: the published list example, then a page that points back at itself.
  json deployments = ExampleReply("OnlineDeployment/list.json");
  deployments["nextLink"] = std::string(kBase) + "/again?api-version=2025-12-01";
  transport->Enqueue(Reply(200, deployments));
  transport->Enqueue(Reply(200, deployments));
  auto loop = stub->ListOnlineDeployments("testEndpointName");
  ASSERT_FALSE(loop.ok());
  EXPECT_EQ(loop.status().code(), StatusCode::kInternalError);
  EXPECT_EQ(PathOf(transport->requests()[2].url), std::string(kWsPath) + "/onlineEndpoints/testEndpointName/deployments");

  // A nextLink on another host is not followed with the token.
  json evil = page;
  evil["nextLink"] = "https://evil.example.com/page2";
  transport->Enqueue(Reply(200, evil));
  auto refused = stub->ListOnlineEndpoints();
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(transport->requests().size(), 5u);
}

TEST_F(AzureArmTest, ReplyThatIsNotJsonDoesNotShowItsBody) {
  transport->Enqueue(HttpResponse{200, {}, "primaryKey=pk-secret-value"});
  auto keys = stub->ListOnlineEndpointKeys("ep");
  ASSERT_FALSE(keys.ok());
  EXPECT_EQ(keys.status().code(), StatusCode::kInternalError);
  EXPECT_EQ(keys.status().message().find("pk-secret-value"), std::string::npos);
}

// ---------------------------------------------------------------- the retry policy

TEST(AzureArmRetryTest, Idempotency) {
  for (const char* m : {"GET", "PUT", "DELETE", "get", "HEAD"}) EXPECT_EQ(ArmIdempotency(m), Idempotency::kIdempotent) << m;
  for (const char* a : {"listKeys", "token", "getLogs", "listSecrets", "LISTKEYS"})
    EXPECT_EQ(ArmIdempotency("POST", a), Idempotency::kIdempotent) << a;
  EXPECT_EQ(ArmIdempotency("POST", "regenerateKeys"), Idempotency::kNonIdempotent);
  EXPECT_EQ(ArmIdempotency("POST"), Idempotency::kNonIdempotent);
  EXPECT_EQ(ArmIdempotency("PATCH"), Idempotency::kNonIdempotent);
}

TEST_F(AzureArmTest, RetryingStubHonoursRetryAfterOn429) {
  RetryingAzureMlStub retrying(stub, ArmRetry(clock));
  transport->Enqueue(Reply(429, json{{"error", {{"code", "TooManyRequests"}, {"message", "Rate limit exceeded"}}}},
                           {{"Retry-After", "2"}}));
  transport->Enqueue(Reply(200, ExampleReply("Workspace/OnlineEndpoint/get.json")));
  auto ep = retrying.GetOnlineEndpoint("testEndpointName");
  ASSERT_TRUE(ep.ok()) << ep.status().ToString();
  EXPECT_EQ(transport->requests().size(), 2u);
  EXPECT_EQ(clock->sleeps, std::vector<milliseconds>{milliseconds(2000)});
  // Each attempt has its own client request id.
  auto q = transport->requests();
  EXPECT_NE(FindHeader(q[0].headers, "x-ms-client-request-id"), FindHeader(q[1].headers, "x-ms-client-request-id"));
}

TEST_F(AzureArmTest, RetryingStubRetriesReadOnlyPostsAndGivesUp) {
  RetryingAzureMlStub retrying(stub, ArmRetry(clock, RetryPolicy{3, milliseconds(60000)}));
  transport->Enqueue(Reply(500, json{{"error", {{"code", "InternalServerError"}, {"message", "oops"}}}}));
  transport->Enqueue(Reply(200, json{{"primaryKey", "pk"}, {"secondaryKey", "sk"}}));
  ASSERT_TRUE(retrying.ListOnlineEndpointKeys("ep").ok());  // listKeys is read-only: retried on 500
  EXPECT_EQ(transport->requests().size(), 2u);

  for (int i = 0; i < 3; ++i)
    transport->Enqueue(Reply(503, json{{"error", {{"code", "ServiceUnavailable"}, {"message", "busy"}}}}));
  auto gone = retrying.GetWorkspace();
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.status().code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_NE(gone.status().message().find("(after 3 attempts)"), std::string::npos) << gone.status().message();
  EXPECT_EQ(transport->requests().size(), 5u);

  // Not transient: returned at once.
  transport->Enqueue(Reply(404, ModelNotFoundBody()));
  auto missing = retrying.GetModelVersion("m", "1");
  EXPECT_EQ(missing.status().code(), StatusCode::kResourceDoesNotExist);
  EXPECT_EQ(transport->requests().size(), 6u);

  // A token error (final) is not retried.
  credential->error = UnauthenticatedError("no credential");
  credential->error->set_final();
  EXPECT_EQ(retrying.GetWorkspace().status().message(), "no credential");
  EXPECT_EQ(transport->requests().size(), 6u);
}

TEST_F(AzureArmTest, PostIsNotRetriedOn500UnlessIdempotent) {
  ArmRetry retry(clock);
  auto regenerate = [&] {
    return retry.Call<HttpResponse>(ArmIdempotency("POST", "regenerateKeys"), "regenerate keys", [&] {
      return caller->Send(
          ArmRequest{"POST", std::string(kWsPath) + "/onlineEndpoints/ep/regenerateKeys", {}, json{{"keyType", "Primary"}}},
          "regenerate the keys of online endpoint ep");
    });
  };
  transport->Enqueue(Reply(500, json{{"error", {{"code", "InternalServerError"}, {"message", "oops"}}}}));
  auto r = regenerate();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_EQ(transport->requests().size(), 1u);
  // A 429 was not carried out: sent again even so.
  transport->Enqueue(
      Reply(429, json{{"error", {{"code", "TooManyRequests"}, {"message", "later"}}}}, {{"Retry-After", "1"}}));
  transport->Enqueue(Reply(202, json(), {{"Location", "https://management.azure.com/ops/1"}}));
  ASSERT_TRUE(regenerate().ok());
  EXPECT_EQ(transport->requests().size(), 3u);
}

// ---------------------------------------------------------------- long-running operations

const std::string kAsyncUrl =
    "https://management.azure.com/subscriptions/00000000-1111-2222-3333-444444444444/providers/"
    "Microsoft.MachineLearningServices/locations/eastus/mfeOperationsStatus/oeidp:ws:op1?api-version=2025-12-01";
const std::string kResultsUrl =
    "https://management.azure.com/subscriptions/00000000-1111-2222-3333-444444444444/providers/"
    "Microsoft.MachineLearningServices/locations/eastus/mfeOperationResults/oeidp:ws:op1?api-version=2025-12-01";

json OperationStatus(const std::string& status, std::optional<double> percent = std::nullopt, json error = json()) {
  json body = {
      {"id",
       "/subscriptions/s/providers/Microsoft.MachineLearningServices/locations/eastus/mfeOperationsStatus/oeidp:ws:op1"},
      {"name", "oeidp:ws:op1"},
      {"status", status},
      {"startTime", "2024-01-01T00:00:00+00:00"},
      {"endTime", "0001-01-01T00:00:00+00:00"}};
  if (percent) body["percentComplete"] = *percent;
  if (!error.is_null()) body["error"] = error;
  return body;
}

json WithState(json resource, const std::string& state) {
  resource["properties"]["provisioningState"] = state;
  return resource;
}

TEST_F(AzureArmTest, LroPutAsyncOperationThenFinalGet) {
  json body = Example("Workspace/OnlineEndpoint/createOrUpdate.json")["parameters"]["body"];
  json resource = ExampleReply("Workspace/OnlineEndpoint/get.json");
  transport->Enqueue(Reply(201, WithState(resource, "Creating"),
                           {{"Azure-AsyncOperation", kAsyncUrl},
                            {"Location", std::string(kBase) + kWsPath + "/onlineEndpoints/ep?api-version=2025-12-01"},
                            {"x-ms-async-operation-timeout", "PT30M"}}));
  transport->Enqueue(Reply(200, OperationStatus("Updating", 0.0)));
  transport->Enqueue(Reply(200, OperationStatus("updating", 40.0)));  // status values are case-insensitive
  transport->Enqueue(Reply(200, OperationStatus("Succeeded", 0.0)));  // as the service answers (recordings)
  transport->Enqueue(Reply(200, WithState(resource, "Succeeded")));

  auto op = stub->BeginCreateOrUpdateOnlineEndpoint("ep", body);
  ASSERT_TRUE(op.ok()) << op.status().ToString();
  std::vector<std::pair<std::string, std::optional<double>>> seen;
  std::vector<int> polls;
  ArmLroOptions options = Lro();
  options.first_poll_interval = milliseconds(1000);
  options.progress = [&](const ArmLroProgress& p) {
    seen.emplace_back(p.status, p.percent_complete);
    polls.push_back(p.poll);
  };
  auto done = WaitForArmOperation(*stub, *op, options);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ((*done)["properties"]["provisioningState"], "Succeeded");

  auto q = transport->requests();
  ASSERT_EQ(q.size(), 5u);
  EXPECT_EQ(q[0].method, "PUT");
  for (int i = 1; i <= 3; ++i) {
    EXPECT_EQ(q[i].method, "GET");
    EXPECT_EQ(q[i].url, kAsyncUrl);
    EXPECT_EQ(FindHeader(q[i].headers, "Authorization").value_or(""), std::string("Bearer ") + kTokenValue);
  }
  EXPECT_EQ(q[4].method, "GET");
  EXPECT_EQ(q[4].url, q[0].url);  // the final GET of the resource
  EXPECT_EQ(seen, (std::vector<std::pair<std::string, std::optional<double>>>{
                      {"Updating", 0.0}, {"updating", 40.0}, {"Succeeded", std::nullopt}}));
  EXPECT_EQ(polls, (std::vector<int>{1, 2, 3}));
  // No Retry-After: the first poll after first_poll_interval, then twice as long, up to poll_interval.
  EXPECT_EQ(clock->sleeps, (std::vector<milliseconds>{milliseconds(1000), milliseconds(2000), milliseconds(4000)}));
}

TEST_F(AzureArmTest, LroLocation202Then200EndsWithTheResource) {
  // A PATCH answered 202 + Location: polled until 200, then the resource is read.
  ArmOperation op;
  op.method = "PATCH";
  op.resource = "online deployment blue (endpoint ep)";
  op.resource_url = std::string(kBase) + kWsPath + "/onlineEndpoints/ep/deployments/blue?api-version=2025-12-01";
  op.initial.status_code = 202;
  op.initial.location = kResultsUrl;
  transport->Enqueue(HttpResponse{202, {}, ""});
  transport->Enqueue(HttpResponse{200, {}, ""});
  transport->Enqueue(Reply(200, WithState(ExampleReply("OnlineDeployment/ManagedOnlineDeployment/get.json"), "Succeeded")));
  std::vector<std::string> seen;
  ArmLroOptions options = Lro();
  options.progress = [&](const ArmLroProgress& p) { seen.push_back(p.status); };
  auto done = WaitForArmOperation(*stub, op, options);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ((*done)["properties"]["endpointComputeType"], "Managed");
  auto q = transport->requests();
  ASSERT_EQ(q.size(), 3u);
  EXPECT_EQ(q[0].url, kResultsUrl);
  EXPECT_EQ(q[1].url, kResultsUrl);
  EXPECT_EQ(q[2].url, op.resource_url);
  EXPECT_EQ(seen, (std::vector<std::string>{"InProgress", "Succeeded"}));
}

TEST_F(AzureArmTest, LroDelete202Then204) {
  transport->Enqueue(HttpResponse{202, {{"Location", kResultsUrl}}, "null"});  // the recorded DELETE's body: null
  transport->Enqueue(HttpResponse{202, {}, ""});
  transport->Enqueue(HttpResponse{204, {}, ""});
  auto op = stub->BeginDeleteOnlineDeployment("ep", "blue");
  ASSERT_TRUE(op.ok()) << op.status().ToString();
  EXPECT_TRUE(op->initial.body.is_null());
  auto done = WaitForArmOperation(*stub, *op, Lro());
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_TRUE(done->is_null());
  EXPECT_EQ(transport->requests().size(), 3u);  // DELETE, two polls; no GET after a DELETE
}

TEST_F(AzureArmTest, LroDeleteWithAsyncOperationAndLocationPollsTheOperation) {
  transport->Enqueue(HttpResponse{202, {{"Azure-AsyncOperation", kAsyncUrl}, {"Location", kResultsUrl}}, "null"});
  transport->Enqueue(Reply(200, OperationStatus("Deleting")));
  transport->Enqueue(Reply(200, OperationStatus("Succeeded")));
  auto op = stub->BeginDeleteOnlineEndpoint("ep");
  ASSERT_TRUE(op.ok());
  auto done = WaitForArmOperation(*stub, *op, Lro());
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  auto q = transport->requests();
  ASSERT_EQ(q.size(), 3u);
  EXPECT_EQ(q[1].url, kAsyncUrl);
  EXPECT_EQ(q[2].url, kAsyncUrl);
}

TEST_F(AzureArmTest, LroDoneAtOnce) {
  // DELETE 200/204 and a PUT 200 whose resource already says Succeeded: no polls.
  transport->Enqueue(HttpResponse{204, {}, ""});
  auto del = stub->BeginDeleteOnlineEndpoint("ep");
  ASSERT_TRUE(del.ok());
  EXPECT_TRUE(WaitForArmOperation(*stub, *del, Lro()).ok());
  transport->Enqueue(Reply(200, WithState(ExampleReply("Workspace/OnlineEndpoint/get.json"), "Succeeded")));
  auto put = stub->BeginCreateOrUpdateOnlineEndpoint("ep", json{{"location", "eastus"}});
  ASSERT_TRUE(put.ok());
  auto done = WaitForArmOperation(*stub, *put, Lro());
  ASSERT_TRUE(done.ok());
  EXPECT_EQ((*done)["properties"]["provisioningState"], "Succeeded");
  EXPECT_EQ(transport->requests().size(), 2u);
  EXPECT_TRUE(clock->sleeps.empty());
}

TEST_F(AzureArmTest, LroWithoutHeadersFollowsTheProvisioningState) {
  json resource = ExampleReply("Workspace/OnlineEndpoint/get.json");
  transport->Enqueue(Reply(201, WithState(resource, "Creating")));
  transport->Enqueue(Reply(200, WithState(resource, "Updating")));
  transport->Enqueue(Reply(200, WithState(resource, "Succeeded")));
  auto op = stub->BeginCreateOrUpdateOnlineEndpoint("ep", json{{"location", "eastus"}});
  ASSERT_TRUE(op.ok());
  auto done = WaitForArmOperation(*stub, *op, Lro());
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ((*done)["properties"]["provisioningState"], "Succeeded");
  auto q = transport->requests();
  ASSERT_EQ(q.size(), 3u);  // the last GET is the result: no extra read
  EXPECT_EQ(q[1].url, q[0].url);

  // A failed provisioning state fails the operation.
  transport->Enqueue(Reply(201, WithState(resource, "Creating")));
  transport->Enqueue(Reply(200, WithState(resource, "Failed")));
  auto op2 = stub->BeginCreateOrUpdateOnlineEndpoint("ep", json{{"location", "eastus"}});
  ASSERT_TRUE(op2.ok());
  auto failed = WaitForArmOperation(*stub, *op2, Lro());
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kInternalError);
  EXPECT_NE(failed.status().message().find("online endpoint ep: the operation failed"), std::string::npos)
      << failed.status().message();
}

TEST_F(AzureArmTest, LroFailedWithAnErrorBody) {
  json error = json::parse(R"({"code": "UserError", "message": "Deployment failed.",
    "details": [{"code": "BadArgument", "message": "Instance type Standard_XX is not supported.", "details": []}]})");
  transport->Enqueue(
      Reply(201, json{{"properties", {{"provisioningState", "Creating"}}}}, {{"Azure-AsyncOperation", kAsyncUrl}}));
  transport->Enqueue(Reply(200, OperationStatus("Failed", 100.0, error)));
  auto op = stub->BeginCreateOrUpdateOnlineDeployment("ep", "blue", json{{"location", "eastus"}});
  ASSERT_TRUE(op.ok());
  auto done = WaitForArmOperation(*stub, *op, Lro());
  ASSERT_FALSE(done.ok());
  EXPECT_EQ(done.status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_EQ(done.status().message(),
            "online deployment blue (endpoint ep): the operation failed: UserError/BadArgument: Instance type "
            "Standard_XX is not supported.");
  EXPECT_EQ(transport->requests().size(), 2u);  // no final GET

  // A service error: INTERNAL_ERROR.
  transport->Enqueue(Reply(201, json::object(), {{"Azure-AsyncOperation", kAsyncUrl}}));
  transport->Enqueue(Reply(
      200,
      OperationStatus("Failed", std::nullopt, json{{"code", "InternalServerError"}, {"message", "Something went wrong."}})));
  auto op2 = stub->BeginCreateOrUpdateOnlineDeployment("ep", "blue", json{{"location", "eastus"}});
  ASSERT_TRUE(op2.ok());
  auto done2 = WaitForArmOperation(*stub, *op2, Lro());
  EXPECT_EQ(done2.status().code(), StatusCode::kInternalError);
  EXPECT_NE(done2.status().message().find("InternalServerError: Something went wrong."), std::string::npos);
}

TEST_F(AzureArmTest, LroCanceled) {
  transport->Enqueue(Reply(201, json::object(), {{"Azure-AsyncOperation", kAsyncUrl}}));
  transport->Enqueue(Reply(200, OperationStatus("Canceled")));
  auto op = stub->BeginCreateOrUpdateOnlineEndpoint("ep", json{{"location", "eastus"}});
  ASSERT_TRUE(op.ok());
  auto done = WaitForArmOperation(*stub, *op, Lro());
  ASSERT_FALSE(done.ok());
  EXPECT_EQ(done.status().message(), "online endpoint ep: the operation was canceled");
  EXPECT_EQ(
      ArmOperationFailedStatus("x", "canceled", json{{"code", "OperationCanceled"}, {"message", "superseded"}}).message(),
      "x: the operation was canceled: OperationCanceled: superseded");
}

TEST_F(AzureArmTest, LroDelayHonoursRetryAfterAndFallsBackToTheInterval) {
  transport->Enqueue(Reply(201, json::object(), {{"Azure-AsyncOperation", kAsyncUrl}, {"Retry-After", "10"}}));
  transport->Enqueue(Reply(200, OperationStatus("Updating"), {{"Retry-After", "3"}}));
  transport->Enqueue(Reply(200, OperationStatus("Updating"), {{"retry-after-ms", "250"}}));
  transport->Enqueue(Reply(200, OperationStatus("Updating"), {{"Retry-After", "0"}}));  // 0: the interval
  transport->Enqueue(Reply(200, OperationStatus("Updating"), {{"Retry-After", "Mon, 01 Jan 2024 00:01:00 GMT"}}));
  transport->Enqueue(Reply(200, OperationStatus("Updating")));  // absent: the interval
  transport->Enqueue(Reply(200, OperationStatus("Succeeded")));
  transport->Enqueue(Reply(200, json{{"name", "ep"}}));
  auto op = stub->BeginCreateOrUpdateOnlineEndpoint("ep", json{{"location", "eastus"}});
  ASSERT_TRUE(op.ok());
  ArmLroOptions options = Lro();
  options.poll_interval = milliseconds(7000);
  auto done = WaitForArmOperation(*stub, *op, options);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  // The HTTP date is read at the caller's clock: 00:00:10 + 3 + 0.25 + 7 s have passed when it comes.
  const milliseconds until_date = milliseconds(60000) - milliseconds(10000 + 3000 + 250 + 7000);
  EXPECT_EQ(clock->sleeps, (std::vector<milliseconds>{milliseconds(10000), milliseconds(3000), milliseconds(250),
                                                      milliseconds(7000), until_date, milliseconds(7000)}));
}

TEST_F(AzureArmTest, LroDeadlineNamesTheResourceTheWaitAndTheLastStatus) {
  transport->Enqueue(Reply(201, json::object(), {{"Azure-AsyncOperation", kAsyncUrl}}));
  for (int i = 0; i < 3; ++i) transport->Enqueue(Reply(200, OperationStatus("Updating", 20.0 * i)));
  auto op = stub->BeginCreateOrUpdateOnlineDeployment("ep", "blue", json{{"location", "eastus"}});
  ASSERT_TRUE(op.ok());
  ArmLroOptions options = Lro();
  options.timeout = milliseconds(12000);
  auto done = WaitForArmOperation(*stub, *op, options);
  ASSERT_FALSE(done.ok());
  EXPECT_EQ(done.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(done.status().message(),
            "online deployment blue (endpoint ep): the PUT operation did not finish within 12 s (waited 12 s; last "
            "status: Updating, 40% complete); it may still finish in Azure");
  EXPECT_EQ(clock->sleeps, (std::vector<milliseconds>{milliseconds(5000), milliseconds(5000), milliseconds(2000)}));
  EXPECT_EQ(transport->requests().size(), 4u);
}

TEST_F(AzureArmTest, LroTransientPollErrorIsRetried) {
  transport->Enqueue(Reply(201, json::object(), {{"Azure-AsyncOperation", kAsyncUrl}}));
  transport->Enqueue(
      Reply(503, json{{"error", {{"code", "ServiceUnavailable"}, {"message", "try later"}}}}, {{"Retry-After", "1"}}));
  transport->Enqueue(StatusOr<HttpResponse>(UnavailableError("connection reset")));
  transport->Enqueue(Reply(200, OperationStatus("Succeeded")));
  transport->Enqueue(
      Reply(503, json{{"error", {{"code", "ServiceUnavailable"}, {"message", "try later"}}}}, {{"Retry-After", "2"}}));
  transport->Enqueue(Reply(200, json{{"name", "ep"}}));
  auto op = stub->BeginCreateOrUpdateOnlineEndpoint("ep", json{{"location", "eastus"}});
  ASSERT_TRUE(op.ok());
  auto done = WaitForArmOperation(*stub, *op, Lro());
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ((*done)["name"], "ep");
  EXPECT_EQ(transport->requests().size(), 6u);
  ASSERT_EQ(clock->sleeps.size(), 4u);  // the interval, Retry-After 1 s, a backoff, Retry-After 2 s (final GET)
  EXPECT_EQ(clock->sleeps[0], milliseconds(5000));
  EXPECT_EQ(clock->sleeps[1], milliseconds(1000));
  EXPECT_EQ(clock->sleeps[3], milliseconds(2000));

  // A poll error that is not transient ends the wait.
  transport->Enqueue(Reply(201, json::object(), {{"Azure-AsyncOperation", kAsyncUrl}}));
  transport->Enqueue(Reply(403, json{{"error", {{"code", "AuthorizationFailed"}, {"message", "no read access"}}}}));
  auto op2 = stub->BeginCreateOrUpdateOnlineEndpoint("ep", json{{"location", "eastus"}});
  ASSERT_TRUE(op2.ok());
  auto denied = WaitForArmOperation(*stub, *op2, Lro());
  EXPECT_EQ(denied.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(denied.status().message(), "poll the operation on online endpoint ep: AuthorizationFailed: no read access");
}

TEST_F(AzureArmTest, LroPostResultAndInterruption) {
  // POST: the result is read from Location once the operation succeeded.
  ArmOperation op;
  op.method = "POST";
  op.resource = "online endpoint ep";
  op.resource_url = std::string(kBase) + kWsPath + "/onlineEndpoints/ep?api-version=2025-12-01";
  op.initial.status_code = 202;
  op.initial.async_operation = kAsyncUrl;
  op.initial.location = kResultsUrl;
  transport->Enqueue(Reply(200, OperationStatus("Succeeded")));
  transport->Enqueue(Reply(200, json{{"result", 1}}));
  auto done = WaitForArmOperation(*stub, op, Lro());
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ((*done)["result"], 1);
  EXPECT_EQ(transport->requests().back().url, kResultsUrl);

  ArmLroOptions options = Lro();
  options.interrupted = [] { return true; };
  auto stopped = WaitForArmOperation(*stub, op, options);
  EXPECT_EQ(stopped.status().code(), StatusCode::kInternalError);
  EXPECT_EQ(stopped.status().message(), "Interrupted while waiting for the operation on online endpoint ep.");

  // An operation URL on another host is not polled with the token.
  op.initial.async_operation = "https://evil.example.com/status";
  const size_t before = transport->requests().size();
  auto refused = WaitForArmOperation(*stub, op, Lro());
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(transport->requests().size(), before);
}

TEST(AzureArmLroTest, OperationErrorCodes) {
  auto code = [](const char* top, const char* inner = "") {
    ArmError e;
    e.code = top;
    e.specific_code = inner;
    return ArmOperationErrorCode(e);
  };
  EXPECT_EQ(code("UserError", "BadArgument"), StatusCode::kInvalidParameterValue);
  EXPECT_EQ(code("BadRequest"), StatusCode::kInvalidParameterValue);
  EXPECT_EQ(code("ValidationError"), StatusCode::kInvalidParameterValue);
  EXPECT_EQ(code("QuotaExceeded"), StatusCode::kInvalidParameterValue);
  EXPECT_EQ(code("SystemError", "ModelNotFound"), StatusCode::kInvalidParameterValue);
  EXPECT_EQ(code("AuthorizationFailed"), StatusCode::kPermissionDenied);
  EXPECT_EQ(code("InternalServerError"), StatusCode::kInternalError);
  EXPECT_EQ(code(""), StatusCode::kInternalError);
}

// ---------------------------------------------------------------- the mock, as the target's suites use it

class AzureMlMockTest : public ::testing::Test {
 protected:
  AzureMlMockTest()
      : world(std::make_shared<AzureMlWorld>()),
        mock(std::make_shared<MockAzureMlStub>(world)),
        clock(std::make_shared<FakeClock>()),
        stub(mock, ArmRetry(clock)) {}

  ArmLroOptions Lro() {
    ArmLroOptions o;
    o.clock = clock;
    o.poll_interval = milliseconds(5000);
    return o;
  }
  StatusOr<json> Wait(const StatusOr<ArmOperation>& op, ArmLroOptions options) {
    if (!op.ok()) return op.status();
    return WaitForArmOperation(stub, *op, options);
  }
  json Endpoint() {
    return json{{"location", "eastus"}, {"properties", {{"authMode", "Key"}}}, {"identity", {{"type", "SystemAssigned"}}}};
  }
  json Deployment() {
    return json{
        {"location", "eastus"},
        {"sku", {{"name", "Default"}, {"capacity", 1}}},
        {"properties", {{"endpointComputeType", "Managed"}, {"model", ArmModelVersionId(world->workspace, "m", "1")}}}};
  }

  std::shared_ptr<AzureMlWorld> world;
  std::shared_ptr<MockAzureMlStub> mock;
  std::shared_ptr<FakeClock> clock;
  RetryingAzureMlStub stub;
};

TEST_F(AzureMlMockTest, EndpointAndDeploymentLifecycle) {
  world->lro_polls = 2;
  std::vector<std::pair<std::string, std::optional<double>>> seen;
  ArmLroOptions options = Lro();
  options.progress = [&](const ArmLroProgress& p) { seen.emplace_back(p.status, p.percent_complete); };
  auto ep = Wait(stub.BeginCreateOrUpdateOnlineEndpoint("ep", Endpoint()), options);
  ASSERT_TRUE(ep.ok()) << ep.status().ToString();
  EXPECT_EQ((*ep)["properties"]["provisioningState"], "Succeeded");
  EXPECT_EQ((*ep)["properties"]["scoringUri"], "https://ep.eastus.inference.ml.azure.com/score");
  EXPECT_EQ(seen,
            (std::vector<std::pair<std::string, std::optional<double>>>{{"Updating", 50.0}, {"Succeeded", std::nullopt}}));

  auto d = Wait(stub.BeginCreateOrUpdateOnlineDeployment("ep", "blue", Deployment()), Lro());
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  json traffic = Endpoint();
  traffic["properties"]["traffic"] = {{"blue", 100}};
  ASSERT_TRUE(Wait(stub.BeginCreateOrUpdateOnlineEndpoint("ep", traffic), Lro()).ok());
  EXPECT_EQ((*stub.ListOnlineDeployments("ep")).size(), 1u);
  EXPECT_EQ((*stub.ListOnlineEndpointKeys("ep"))["primaryKey"], "mock-primary-key-ep");

  // A deployment with traffic cannot be deleted; the endpoint's delete takes its deployments along.
  auto refused = stub.BeginDeleteOnlineDeployment("ep", "blue");
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidParameterValue);
  ASSERT_TRUE(Wait(stub.BeginDeleteOnlineEndpoint("ep"), Lro()).ok());
  EXPECT_TRUE(world->endpoints.empty());
  EXPECT_TRUE(world->deployments.empty());
  EXPECT_EQ(stub.GetOnlineEndpoint("ep").status().code(), StatusCode::kResourceDoesNotExist);
  EXPECT_EQ(world->Count("PollArm"), 3 + 3 + 3 + 2);  // each LRO: 2 polls, and a final GET after a PUT
}

TEST_F(AzureMlMockTest, FailuresAndOperationErrors) {
  ASSERT_TRUE(Wait(stub.BeginCreateOrUpdateOnlineEndpoint("ep", Endpoint()), Lro()).ok());  // at once
  EXPECT_EQ(world->Count("PollArm"), 0);
  // A deployment whose operation fails is left behind in the Failed state.
  world->lro_errors["BeginCreateOrUpdateOnlineDeployment ep/blue"] = json::parse(
      R"({"code": "UserError", "message": "Deployment failed", "details": [{"code": "ImageBuildFailure", "message": "bad image"}]})");
  auto failed = Wait(stub.BeginCreateOrUpdateOnlineDeployment("ep", "blue", Deployment()), Lro());
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_NE(failed.status().message().find("UserError/ImageBuildFailure: bad image"), std::string::npos);
  EXPECT_EQ(world->deployments["ep/blue"]["properties"]["provisioningState"], "Failed");

  // Transient failures: retried by the retrying stub and by the waiter's polls.
  world->lro_polls = 1;
  world->Fail("GetOnlineEndpoint", 1);
  world->Fail("PollArm", 1);
  ASSERT_TRUE(stub.GetOnlineEndpoint("ep").ok());
  ASSERT_TRUE(Wait(stub.BeginCreateOrUpdateOnlineDeployment("ep", "green", Deployment()), Lro()).ok());
  EXPECT_EQ(world->Count("GetOnlineEndpoint"), 2);
  // A permanent failure of the nth call only.
  world->Fail("BeginDeleteOnlineDeployment ep/green", 1, PermissionDeniedError("delete: denied"));
  EXPECT_EQ(stub.BeginDeleteOnlineDeployment("ep", "green").status().code(), StatusCode::kPermissionDenied);
  ASSERT_TRUE(Wait(stub.BeginDeleteOnlineDeployment("ep", "green"), Lro()).ok());
  EXPECT_FALSE(world->deployments.count("ep/green"));

  // The service's checks.
  EXPECT_EQ(stub.BeginCreateOrUpdateOnlineDeployment("nope", "d", Deployment()).status().code(),
            StatusCode::kResourceDoesNotExist);
  json bad = Endpoint();
  bad["properties"]["traffic"] = {{"ghost", 100}};
  EXPECT_EQ(stub.BeginCreateOrUpdateOnlineEndpoint("ep", bad).status().code(), StatusCode::kInvalidParameterValue);
}

TEST_F(AzureMlMockTest, ModelsDatastoresAndLogs) {
  json body = {{"properties", {{"modelType", "mlflow_model"}, {"modelUri", "azureml://x"}}}};
  ASSERT_TRUE(stub.PutModelVersion("m", "1", body).ok());
  ASSERT_TRUE(stub.PutModelVersion("m", "2", body).ok());
  auto latest = stub.ListModelVersions("m", ModelVersionQuery{"createdtime desc", 1});
  ASSERT_TRUE(latest.ok());
  ASSERT_EQ(latest->size(), 1u);
  EXPECT_EQ((*latest)[0]["name"], "2");
  EXPECT_EQ(stub.ListModelVersions("other").status().code(), StatusCode::kResourceDoesNotExist);
  EXPECT_EQ((*stub.GetModelVersion("m", "1"))["id"], ArmModelVersionId(world->workspace, "m", "1"));

  auto ds = stub.GetDefaultDatastore();
  ASSERT_TRUE(ds.ok());
  EXPECT_EQ((*ds)["name"], "workspaceblobstore");
  EXPECT_EQ((*stub.ListDatastoreSecrets("workspaceblobstore"))["secretsType"], "AccountKey");
  EXPECT_EQ((*stub.GetWorkspace())["location"], "eastus");

  ASSERT_TRUE(stub.BeginCreateOrUpdateOnlineEndpoint("ep", Endpoint()).ok());
  ASSERT_TRUE(stub.BeginCreateOrUpdateOnlineDeployment("ep", "blue", Deployment()).ok());
  world->logs["ep/blue"] = "Booting worker\n";
  DeploymentLogsRequest request;
  request.tail = 50;
  EXPECT_EQ(*stub.GetOnlineDeploymentLogs("ep", "blue", request), "Booting worker\n");
  EXPECT_EQ(world->logs_requests.back(), (json{{"tail", 50}}));
}

}  // namespace
}  // namespace mlflow_bridge::internal
