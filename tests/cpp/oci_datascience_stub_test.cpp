// The Data Science stub (oci/datascience_stub.h) over OciCaller and a scripted transport: method, path, query,
// headers and body of each call, paging, error mapping, and which calls the retrying stub sends again.
#include "oci/datascience_stub.h"

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mock_transport.h"
#include "oci_test_keys.h"
#include "test_support.h"

namespace mlflow_bridge::internal {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

constexpr char kBase[] = "https://datascience.us-ashburn-1.oci.oraclecloud.com";

class DataScienceStubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    caller_ = std::make_shared<OciCaller>(transport_, upload_, OciCallerOptions{kBase});
    stub_ = MakeRestDataScienceStub(caller_);
  }
  std::shared_ptr<MockTransport> transport_ = std::make_shared<MockTransport>();
  std::shared_ptr<MockTransport> upload_ = std::make_shared<MockTransport>();
  std::shared_ptr<OciCaller> caller_;
  std::shared_ptr<DataScienceStub> stub_;
};

TEST_F(DataScienceStubTest, CreateModelSendsItsDetailsWithTheRetryToken) {
  transport_->Enqueue(200, R"({"id": "ocid1.datasciencemodel.oc1..m1", "lifecycleState": "ACTIVE"})", {{"etag", "e1"}});
  json details = {{"compartmentId", "ocid1.compartment.oc1..c"}, {"projectId", "ocid1.datascienceproject.oc1..p"}};
  StatusOr<OciResource> model = stub_->CreateModel(details, "token-1");
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ(model->body["id"], "ocid1.datasciencemodel.oc1..m1");
  EXPECT_EQ(model->etag, "e1");
  HttpRequest sent = transport_->requests().at(0);
  EXPECT_EQ(sent.method, "POST");
  EXPECT_EQ(sent.url, std::string(kBase) + "/20190101/models");
  EXPECT_EQ(json::parse(sent.body), details);
  EXPECT_EQ(FindHeader(sent.headers, "opc-retry-token"), "token-1");
  EXPECT_EQ(FindHeader(sent.headers, "content-type"), "application/json");
  EXPECT_EQ(FindHeader(sent.headers, "opc-request-id")->size(), 32u);
}

TEST_F(DataScienceStubTest, TheArtifactGoesFromItsFileThroughTheUploadTransport) {
  std::string zip =
      (std::filesystem::temp_directory_path() / ("oci_stub_test_" + std::to_string(::getpid()) + ".zip")).string();
  std::ofstream(zip, std::ios::binary) << "PK-zip-bytes";
  upload_->Enqueue(200, "");
  Status uploaded = stub_->CreateModelArtifact("ocid1.datasciencemodel.oc1..m1", zip, 12, "churn.zip", "token-2");
  std::filesystem::remove(zip);
  ASSERT_TRUE(uploaded.ok()) << uploaded.ToString();
  EXPECT_TRUE(transport_->requests().empty());
  HttpRequest sent = upload_->requests().at(0);
  EXPECT_EQ(sent.url, std::string(kBase) + "/20190101/models/ocid1.datasciencemodel.oc1..m1/artifact");
  EXPECT_EQ(sent.body, "PK-zip-bytes");
  EXPECT_EQ(FindHeader(sent.headers, "content-disposition"), "attachment; filename=\"churn.zip\"");
  EXPECT_EQ(FindHeader(sent.headers, "content-type"), "application/octet-stream");
  EXPECT_EQ(FindHeader(sent.headers, "opc-retry-token"), "token-2");
}

TEST_F(DataScienceStubTest, ListsFollowEveryPage) {
  transport_->Enqueue(200, R"([{"id": "a"}, {"id": "b"}])", {{"opc-next-page", "p2"}});
  transport_->Enqueue(200, R"([{"id": "c"}])");
  StatusOr<json> all = stub_->ListModelDeployments({"ocid1.compartment.oc1..c", {{"displayName", "churn model"}}});
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->size(), 3u);
  auto requests = transport_->requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].url,
            std::string(kBase) +
                "/20190101/modelDeployments?compartmentId=ocid1.compartment.oc1..c&displayName=churn%20model&limit=100");
  EXPECT_THAT(requests[1].url, HasSubstr("&page=p2"));
}

TEST_F(DataScienceStubTest, UpdatesAndActionsCarryIfMatchAndReturnTheWorkRequest) {
  transport_->Enqueue(202, "", {{"opc-work-request-id", "ocid1.datascienceworkrequest.oc1..w1"}});
  transport_->Enqueue(202, "", {{"opc-work-request-id", "ocid1.datascienceworkrequest.oc1..w2"}});
  StatusOr<OciResource> updated =
      stub_->UpdateModelDeployment("ocid1.datasciencemodeldeployment.oc1..d", {{"displayName", "x"}}, "e7");
  ASSERT_TRUE(updated.ok());
  EXPECT_EQ(updated->work_request_id, "ocid1.datascienceworkrequest.oc1..w1");
  StatusOr<OciResource> deactivated = stub_->DeactivateModelDeployment("ocid1.datasciencemodeldeployment.oc1..d", "");
  ASSERT_TRUE(deactivated.ok());
  auto requests = transport_->requests();
  EXPECT_EQ(requests[0].method, "PUT");
  EXPECT_EQ(FindHeader(requests[0].headers, "if-match"), "e7");
  EXPECT_EQ(requests[1].url,
            std::string(kBase) + "/20190101/modelDeployments/ocid1.datasciencemodeldeployment.oc1..d/actions/deactivate");
  EXPECT_FALSE(FindHeader(requests[1].headers, "if-match").has_value());
}

TEST_F(DataScienceStubTest, WorkRequestsWithTheirPollingHint) {
  transport_->Enqueue(200, R"({"id": "w", "status": "IN_PROGRESS", "percentComplete": 40.0})", {{"retry-after", "5"}});
  StatusOr<OciWorkRequest> wr = stub_->GetWorkRequest("w");
  ASSERT_TRUE(wr.ok());
  EXPECT_EQ(wr->body["percentComplete"], 40.0);
  EXPECT_EQ(wr->retry_after, std::chrono::milliseconds(5000));
}

TEST_F(DataScienceStubTest, ErrorsAreOcisErrors) {
  transport_->Enqueue(
      404, R"({"code": "NotAuthorizedOrNotFound", "message": "Authorization failed or requested resource not found."})",
      {{"opc-request-id", "R1"}});
  StatusOr<OciResource> got = stub_->GetModelDeployment("ocid1.datasciencemodeldeployment.oc1..gone");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kResourceDoesNotExist);
  EXPECT_THAT(got.status().message(), HasSubstr("Reading model deployment ocid1.datasciencemodeldeployment.oc1..gone"));
  EXPECT_THAT(got.status().message(), HasSubstr("opc-request-id R1"));
  transport_->Enqueue(200, "<html>");
  EXPECT_EQ(stub_->GetModel("m").status().code(), StatusCode::kInternalError);
}

TEST_F(DataScienceStubTest, TheRetryingStubSendsAgainWhatIsSafeToSendAgain) {
  auto clock = std::make_shared<testing::FakeClock>();
  auto retrying = MakeRetryingDataScienceStub(stub_, clock, RetryPolicy{3, std::chrono::milliseconds(60'000)});
  // A create with a retry token: a 500 is sent again (OCI makes one model however often it arrives).
  transport_->Enqueue(500, R"({"code": "InternalServerError", "message": "oops"})");
  transport_->Enqueue(200, R"({"id": "m"})");
  ASSERT_TRUE(retrying->CreateModel(json::object(), "t").ok());
  // Deactivate (no token): a 500 is not sent again, a 429 is (OCI did not carry it out).
  transport_->Enqueue(500, R"({"code": "InternalServerError", "message": "oops"})");
  EXPECT_EQ(retrying->DeactivateModelDeployment("d", "").status().code(), StatusCode::kTemporarilyUnavailable);
  transport_->Enqueue(429, R"({"code": "TooManyRequests", "message": "slow"})");
  transport_->Enqueue(202, "", {{"opc-work-request-id", "w"}});
  EXPECT_TRUE(retrying->DeactivateModelDeployment("d", "").ok());
  // 409 IncorrectState (busy) on a GET-like call is retried; 412 is not.
  transport_->Enqueue(409, R"({"code": "IncorrectState", "message": "busy"})");
  transport_->Enqueue(202, "", {{"opc-work-request-id", "w"}});
  EXPECT_TRUE(retrying->DeleteModelDeployment("d", "").ok());
  transport_->Enqueue(412, R"({"code": "NoEtagMatch", "message": "stale"})");
  EXPECT_EQ(retrying->UpdateModelDeployment("d", json::object(), "e").status().code(), StatusCode::kResourceAlreadyExists);
  EXPECT_EQ(transport_->requests().size(), 8u);
}

// A provider of fixed credentials that counts how often it was asked to forget them.
class FixedCredentials : public OciCredentialsProvider {
 public:
  explicit FixedCredentials(OciCredentials c) : c_(std::move(c)) {}
  StatusOr<OciCredentials> GetCredentials() override { return c_; }
  void Invalidate() override { ++invalidated; }
  std::string Describe() const override { return "test credentials"; }
  int invalidated = 0;

 private:
  OciCredentials c_;
};

// Every request is signed on its way out; a 401 makes the provider read its credentials again and the request
// goes once more; uploads are signed without their body.
TEST(OciSigningTransportTest, SignsEveryRequestAndRetriesA401Once) {
  auto key = OciPrivateKey::FromPem(testing::OciTestKeyPem(), std::nullopt, "the test key");
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  OciCredentials c;
  c.key_id = "ocid1.tenancy.oc1..t/ocid1.user.oc1..u/20:3b";
  c.private_key = *key;
  auto credentials = std::make_shared<FixedCredentials>(c);
  auto inner = std::make_shared<MockTransport>();
  auto clock = std::make_shared<testing::FakeClock>();
  auto signing = MakeOciSigningTransport(inner, credentials, clock);
  inner->Enqueue(401, R"({"code": "NotAuthenticated", "message": "no"})");
  inner->Enqueue(200, "{}");
  HttpRequest request;
  request.method = "POST";
  request.url = "https://datascience.us-ashburn-1.oci.oraclecloud.com/20190101/models";
  request.body = "{}";
  StatusOr<HttpResponse> reply = signing->Send(request);
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->status_code, 200);
  EXPECT_EQ(credentials->invalidated, 1);
  auto sent = inner->requests();
  ASSERT_EQ(sent.size(), 2u);
  std::string authorization = FindHeader(sent[1].headers, "authorization").value_or("");
  EXPECT_THAT(authorization, HasSubstr("keyId=\"ocid1.tenancy.oc1..t/ocid1.user.oc1..u/20:3b\""));
  EXPECT_THAT(authorization, HasSubstr("x-content-sha256"));
  EXPECT_TRUE(FindHeader(sent[1].headers, "date").has_value());

  auto upload = MakeOciSigningTransport(inner, credentials, clock, OciSignOptions{false});
  inner->Enqueue(200, "");
  ASSERT_TRUE(upload->Send(request).ok());
  std::string upload_authorization = FindHeader(inner->requests().back().headers, "authorization").value_or("");
  EXPECT_THAT(upload_authorization, HasSubstr("headers=\"date (request-target) host\""));
}

}  // namespace
}  // namespace mlflow_bridge::internal
