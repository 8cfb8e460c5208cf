// The sagemaker-endpoints client's orchestration over in-memory AWS stubs (mock_aws_stubs.h): every step of
// create and update is made to fail in turn; what the call made is undone, what was there before (and what
// mlflow-bridge did not make) is not touched, and the error names the step.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mlflow_bridge/sagemaker_client.h"
#include "mock_aws_stubs.h"
#include "test_support.h"

namespace mlflow_bridge {
namespace {

using nlohmann::json;
using testing::AwsWorld;
using testing::FakeClock;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::ScopedLogCapture;

class SageMakerClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("mlflow-bridge-sagemaker-client-test-" + std::to_string(::getpid()) +
                                                     "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_ / "model");
    std::ofstream(dir_ / "model" / "MLmodel") << "flavors:\n  python_function: {}\n";
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::shared_ptr<SageMakerClient> Client() {
    SageMakerClientOptions o;
    o.clock = clock_;
    o.work_dir = dir_.string();
    o.stubs = testing::MockSageMakerStubs(world_);
    o.transport = std::make_shared<NoTransport>();
    auto c = SageMakerClient::Make({"us-west-2", ""}, o);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return *c;
  }
  DeployRequest Request(const std::string& name, json config = json::object()) {
    DeployRequest r;
    r.name = name;
    r.model_uri = "models:/churn/1";
    r.run_id = "run1";
    r.model_dir = (dir_ / "model").string();
    r.mlflow_version = "3.0.0";
    config["execution_role_arn"] = "arn:aws:iam::123456789012:role/sm";
    config["image_url"] = "123456789012.dkr.ecr.us-west-2.amazonaws.com/mlflow-pyfunc:3.0.0";
    config["bucket"] = "models";
    config["poll_interval_seconds"] = 1;
    r.config = std::move(config);
    return r;
  }
  // Nothing of a deploy left: no model, endpoint config, endpoint or archive.
  void ExpectNothingLeft() {
    EXPECT_TRUE(world_->models.empty()) << world_->models.begin()->first;
    EXPECT_TRUE(world_->configs.empty());
    EXPECT_TRUE(world_->endpoints.empty());
    EXPECT_TRUE(world_->objects.empty());
  }

  struct NoTransport : HttpTransport {
    StatusOr<HttpResponse> Send(const HttpRequest& r) override {
      return InternalError("no HTTP in this test: " + r.method + " " + r.url);
    }
  };
  std::filesystem::path dir_;
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
  std::shared_ptr<AwsWorld> world_ = std::make_shared<AwsWorld>();
};

TEST_F(SageMakerClientTest, CreateMakesModelConfigAndEndpointTaggedAsOurs) {
  auto out = Client()->CreateDeployment(Request("churn"));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ((*out)["name"], "churn");
  EXPECT_EQ((*out)["status"], "InService");
  ASSERT_EQ(world_->models.size(), 1u);
  ASSERT_EQ(world_->configs.size(), 1u);
  ASSERT_EQ(world_->endpoints.count("churn"), 1u);
  ASSERT_EQ(world_->objects.size(), 1u);
  const json& model = world_->models.begin()->second;
  EXPECT_EQ(model["PrimaryContainer"]["ModelDataUrl"], world_->objects.begin()->first);
  EXPECT_THAT(model["Tags"].dump(), HasSubstr("{\"Key\":\"app.kubernetes.io/managed-by\",\"Value\":\"mlflow-bridge\"}"));
  EXPECT_EQ(world_->endpoints["churn"]["EndpointConfigName"], world_->configs.begin()->first);
}

// Each step of a create, made to fail: the error is the step's, and nothing is left.
TEST_F(SageMakerClientTest, EveryStepOfCreateFailingLeavesNothing) {
  for (const char* step : {"EnsureBucket", "UploadFile", "CreateModel", "CreateEndpointConfig", "CreateEndpoint"}) {
    SCOPED_TRACE(step);
    world_ = std::make_shared<AwsWorld>();
    world_->fail[step] = PermissionDeniedError(std::string(step) + " is not allowed");
    auto out = Client()->CreateDeployment(Request("churn"));
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.status().code(), StatusCode::kPermissionDenied);
    EXPECT_THAT(out.status().message(), HasSubstr(std::string(step) + " is not allowed"));
    if (std::string(step) != "EnsureBucket") {  // before anything is made: no rollback to speak of
      EXPECT_THAT(out.status().message(),
                  HasSubstr("Creating SageMaker deployment 'churn' failed; nothing was left behind"));
    }
    ExpectNothingLeft();
  }
}

TEST_F(SageMakerClientTest, AnEndpointThatFailsToStartIsDeletedWithAllItUsed) {
  world_->endpoint_status = "Failed";
  auto out = Client()->CreateDeployment(Request("churn"));
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("failed the ping health check"));
  EXPECT_THAT(out.status().message(), HasSubstr("nothing was left behind"));
  ExpectNothingLeft();
  // Undone newest first: the endpoint, its config, the model, the archive.
  std::vector<std::string> deletes;
  for (const auto& c : world_->calls)
    if (c.rfind("Delete", 0) == 0) deletes.push_back(c.substr(0, c.find(' ')));
  EXPECT_EQ(deletes, (std::vector<std::string>{"DeleteEndpoint", "DeleteEndpointConfig", "DeleteModel", "DeleteObject"}));
}

TEST_F(SageMakerClientTest, WhatCouldNotBeUndoneIsInTheError) {
  world_->fail["CreateEndpoint"] = UnavailableError("endpoint quota");
  world_->fail["DeleteModel"] = PermissionDeniedError("may not DeleteModel");
  ScopedLogCapture logs(LogLevel::kWarning);
  auto out = Client()->CreateDeployment(Request("churn"));
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), Not(HasSubstr("nothing was left behind")));
  EXPECT_THAT(out.status().message(), HasSubstr("could not undo: delete SageMaker model churn-model-"));
  EXPECT_THAT(out.status().message(), HasSubstr("PERMISSION_DENIED: may not DeleteModel"));
  EXPECT_THAT(logs.text(), HasSubstr("Rollback: delete SageMaker model churn-model-"));
  EXPECT_EQ(world_->models.size(), 1u);  // the one that could not be deleted
  EXPECT_TRUE(world_->configs.empty());
  EXPECT_TRUE(world_->objects.empty());
}

// Each step of a replacing update, made to fail: the endpoint keeps its model and config, and what the
// update made is gone.
TEST_F(SageMakerClientTest, EveryStepOfUpdateFailingKeepsThePreviousModel) {
  for (const char* step : {"UploadFile", "CreateModel", "CreateEndpointConfig", "UpdateEndpoint", "rolled back"}) {
    SCOPED_TRACE(step);
    world_ = std::make_shared<AwsWorld>();
    ASSERT_TRUE(Client()->CreateDeployment(Request("churn")).ok());
    const auto models = world_->models;
    const auto configs = world_->configs;
    const auto objects = world_->objects;
    const std::string config = world_->endpoints["churn"]["EndpointConfigName"];
    if (std::string(step) == "rolled back") {
      world_->endpoint_status = "Failed";  // SageMaker takes the endpoint back to its previous config
    } else {
      world_->fail[step] = InvalidParameterError(std::string(step) + " refused");
    }
    auto out = Client()->UpdateDeployment(Request("churn"));
    ASSERT_FALSE(out.ok());
    EXPECT_THAT(out.status().message(),
                HasSubstr("Updating SageMaker deployment 'churn' failed; the endpoint keeps its previous model"));
    EXPECT_THAT(out.status().message(), HasSubstr(std::string(step) == "rolled back" ? "failed the ping health check"
                                                                                     : std::string(step) + " refused"));
    EXPECT_EQ(world_->endpoints["churn"]["EndpointConfigName"], config);
    EXPECT_EQ(world_->models, models);
    EXPECT_EQ(world_->configs, configs);
    EXPECT_EQ(world_->objects, objects);
  }
}

// After a successful replace, what the endpoint no longer uses is deleted when mlflow-bridge made it; a
// model it did not make (no managed-by tag) is kept.
TEST_F(SageMakerClientTest, UpdateDeletesOnlyWhatIsOursAndUnused) {
  ASSERT_TRUE(Client()->CreateDeployment(Request("churn")).ok());
  const std::string old_model = world_->models.begin()->first;
  const std::string old_config = world_->configs.begin()->first;
  world_->models[old_model]["Tags"] = json::array();  // as if someone else had made it
  auto out = Client()->UpdateDeployment(Request("churn"));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(world_->configs.count(old_config), 0u);  // ours and unused: deleted
  EXPECT_EQ(world_->models.count(old_model), 1u);    // not ours: kept
  EXPECT_EQ(world_->models.size(), 2u);
  EXPECT_EQ(world_->configs.size(), 1u);
  EXPECT_EQ(world_->endpoints["churn"]["EndpointConfigName"], world_->configs.begin()->first);
}

// The config is parsed once, at the edge: a value of the wrong type is INVALID_PARAMETER_VALUE naming the
// key, before any AWS call.
TEST_F(SageMakerClientTest, AWrongTypeInTheConfigIsInvalidParameterValue) {
  for (const auto& [key, value] : std::vector<std::pair<std::string, json>>{
           {"instance_count", "many"}, {"env", json::array({1})}, {"synchronous", "maybe"}, {"tags", 3}}) {
    SCOPED_TRACE(key);
    json config;
    config[key] = value;
    auto out = Client()->CreateDeployment(Request("churn", config));
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.status().code(), StatusCode::kInvalidParameterValue);
    EXPECT_THAT(out.status().message(), HasSubstr(key));
  }
  EXPECT_TRUE(world_->calls.empty());
}

int Count(const std::vector<std::string>& calls, const std::string& op) {
  return static_cast<int>(
      std::count_if(calls.begin(), calls.end(), [&](const std::string& c) { return c == op || c.rfind(op + " ", 0) == 0; }));
}

// The stubs make one attempt; the client retries through the AWS retry policy. A non-idempotent call
// (CreateModel) is sent again when the failure says it was not processed (throttled)...
TEST_F(SageMakerClientTest, ANotProcessedFailureOfCreateModelIsRetried) {
  world_->fail_next["CreateModel"] = {
      UnavailableError("SageMaker CreateModel: ThrottlingException: Rate exceeded").set_not_processed()};
  auto out = Client()->CreateDeployment(Request("churn"));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(Count(world_->calls, "CreateModel"), 2);
  EXPECT_EQ(world_->models.size(), 1u);
  EXPECT_EQ(clock_->sleeps.size(), 1u);  // one back-off, on the fake clock
}

// ... but not when it may have been carried out (a reset, a lost reply, a 5xx): the error comes back at once
// and what the deploy made is undone.
TEST_F(SageMakerClientTest, AProcessedFailureOfCreateModelIsNotRetried) {
  world_->fail_next["CreateModel"] = {UnavailableError("SageMaker CreateModel: connection reset")};
  auto out = Client()->CreateDeployment(Request("churn"));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_THAT(out.status().message(), HasSubstr("SageMaker CreateModel: connection reset"));
  EXPECT_THAT(out.status().message(), Not(HasSubstr("attempts")));
  EXPECT_EQ(Count(world_->calls, "CreateModel"), 1);
  ExpectNothingLeft();
}

// Throttled every time: the policy's attempts are spent and the error says how many were made.
TEST_F(SageMakerClientTest, ThrottlingThatDoesNotStopSaysHowManyAttempts) {
  world_->fail["CreateEndpoint"] =
      UnavailableError("SageMaker CreateEndpoint 'churn': ThrottlingException: Rate exceeded").set_not_processed();
  auto out = Client()->CreateDeployment(Request("churn"));
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("ThrottlingException: Rate exceeded (after 5 attempts)"));
  EXPECT_EQ(Count(world_->calls, "CreateEndpoint"), 5);
  ExpectNothingLeft();
}

// Idempotent calls are sent again after any transient failure; permanent ones are not.
TEST_F(SageMakerClientTest, IdempotentCallsAreRetriedAfterATransientFailure) {
  world_->fail_next["DescribeEndpoint"] = {UnavailableError("connection reset"), DeadlineExceededError("timed out")};
  EXPECT_TRUE(Client()->CheckNew("churn", "").ok());
  EXPECT_EQ(Count(world_->calls, "DescribeEndpoint"), 3);
  world_->calls.clear();
  world_->fail_next["DescribeEndpoint"] = {PermissionDeniedError("no DescribeEndpoint")};
  EXPECT_EQ(Client()->CheckNew("churn", "").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(Count(world_->calls, "DescribeEndpoint"), 1);
}

}  // namespace
}  // namespace mlflow_bridge
