// The azureml-endpoints orchestration (targets/azureml/client.h) against the in-memory workspace of
// tests/cpp/mock_azureml_stub.h: a create is recorded, then each of its calls fails in turn, and the
// workspace must be left as it was seeded; traffic arithmetic; a delete hands traffic to the others.
#include "targets/azureml/client.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mock_azureml_stub.h"
#include "test_support.h"

namespace mlflow_bridge::internal {
namespace {

using nlohmann::json;
using testing::AzureMlWorld;
using testing::FakeClock;
using ::testing::HasSubstr;
using testing::MockAzureMlStub;

struct Fixture {
  std::shared_ptr<AzureMlWorld> world = std::make_shared<AzureMlWorld>();
  std::shared_ptr<FakeClock> clock = std::make_shared<FakeClock>();
  std::shared_ptr<DeploymentTarget> target;

  // Seeded: model tiny:1 in the workspace; with `endpoint`, our endpoint "ep" whose deployment "ep" takes
  // all traffic.
  explicit Fixture(bool endpoint) {
    world->lro_polls = 1;
    world->models["tiny/1"] = {{"name", "1"}, {"properties", {{"modelType", "mlflow_model"}}}};
    AzureMlClientOptions o;
    o.workspace = world->workspace;
    o.clock = clock;
    auto w = world;
    o.services = [w](const ArmWorkspace&, const AzureMlConfig&) -> StatusOr<AzureMlServices> {
      AzureMlServices s;
      s.ml = std::make_shared<MockAzureMlStub>(w);
      return s;
    };
    target = MakeAzureMlClient(o);
    if (endpoint) {  // a plain create: endpoint "ep" with its deployment "ep" at 100
      StatusOr<json> made = Create("ep", "", json::object());
      EXPECT_TRUE(made.ok()) << made.status().ToString();
      world->calls.clear();
    }
  }
  StatusOr<json> Create(const std::string& name, const std::string& endpoint, const json& config) {
    DeployRequest r{name, endpoint, "azureml:tiny:1"};
    r.config = config;
    return target->CreateDeployment(r);
  }
  json State() const {
    json s = {{"endpoints", json::object()}, {"deployments", json::object()}, {"models", json::object()}};
    for (const auto& [k, v] : world->endpoints) s["endpoints"][k] = v["properties"].value("traffic", json::object());
    for (const auto& [k, v] : world->deployments) s["deployments"][k] = v["properties"].value("model", "");
    for (const auto& [k, v] : world->models) s["models"][k] = true;
    return s;
  }
};

TEST(AzureMlTrafficTest, WithAndWithout) {
  EXPECT_EQ(TrafficWith(json::object(), "a", 10), (json{{"a", 100}}));
  EXPECT_EQ(TrafficWith(json{{"a", 100}}, "b", 10), (json{{"a", 90}, {"b", 10}}));
  EXPECT_EQ(TrafficWith(json{{"a", 50}, {"b", 50}}, "c", 33), (json{{"a", 34}, {"b", 33}, {"c", 33}}));
  EXPECT_EQ(TrafficWith(json{{"a", 0}, {"b", 0}}, "c", 10), (json{{"a", 45}, {"b", 45}, {"c", 10}}));
  EXPECT_EQ(TrafficWithout(json{{"a", 90}, {"b", 10}}, "b"), (json{{"a", 100}}));
  EXPECT_EQ(TrafficWithout(json{{"a", 0}, {"b", 0}, {"c", 100}}, "c"), (json{{"a", 50}, {"b", 50}}));
  EXPECT_EQ(TrafficWithout(json{{"a", 100}}, "a"), json::object());
}

// Every call of a create, failing in turn, leaves the workspace as it was: with a new endpoint
// (create_endpoint) and into an endpoint that serves already (initial_weight).
TEST(AzureMlClientTest, EveryFailingStepLeavesNothingBehind) {
  for (bool existing : {false, true}) {
    SCOPED_TRACE(existing ? "into an existing endpoint" : "with a new endpoint");
    const std::string endpoint = existing ? "ep" : "fresh";
    const json config = existing ? json{{"initial_weight", "10"}} : json{{"create_endpoint", "true"}};
    std::vector<std::string> calls;
    {
      Fixture f(existing);
      StatusOr<json> ok = f.Create("green", endpoint, config);
      ASSERT_TRUE(ok.ok()) << ok.status().ToString();
      EXPECT_EQ((*ok)["weight"], existing ? 10 : 100);
      calls = f.world->calls;
    }
    ASSERT_GT(calls.size(), 6u);
    std::map<std::string, int> seen;
    for (const std::string& call : calls) {
      int nth = ++seen[call];
      SCOPED_TRACE(call + " #" + std::to_string(nth));
      Fixture f(existing);
      const json before = f.State();
      f.world->Fail(call, nth, InternalError("injected failure of " + call));
      StatusOr<json> failed = f.Create("green", endpoint, config);
      ASSERT_FALSE(failed.ok());
      EXPECT_THAT(failed.status().message(), HasSubstr("injected failure"));
      EXPECT_EQ(f.State(), before);
      EXPECT_THAT(failed.status().message(), ::testing::Not(HasSubstr("could not undo")));
    }
  }
}

TEST(AzureMlClientTest, AFailedDeploymentSaysWhatItsContainersLogged) {
  Fixture f(false);
  f.world->lro_errors["BeginCreateOrUpdateOnlineDeployment blue/blue"] = {
      {"code", "ResourceNotReady"}, {"message", "User container has crashed or terminated."}};
  f.world->logs["blue/blue"] = "ModuleNotFoundError: No module named 'lightgbm'";
  StatusOr<json> failed = f.Create("blue", "", json::object());
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.status().message(), HasSubstr("ResourceNotReady"));
  EXPECT_THAT(failed.status().message(), HasSubstr("No module named 'lightgbm'"));
  EXPECT_THAT(failed.status().message(), HasSubstr("Nothing was left behind"));
  EXPECT_TRUE(f.world->endpoints.empty());
  ASSERT_FALSE(f.world->logs_requests.empty());
  EXPECT_EQ(f.world->logs_requests[0], (json{{"containerType", "StorageInitializer"}, {"tail", 50}}));
}

TEST(AzureMlClientTest, DeleteHandsTrafficToTheOthersAndTheLastTakesItsEndpoint) {
  Fixture f(true);
  ASSERT_TRUE(f.Create("green", "ep", {{"initial_weight", "30"}}).ok());
  EXPECT_EQ(f.world->endpoints["ep"]["properties"]["traffic"], (json{{"ep", 70}, {"green", 30}}));
  ASSERT_TRUE(f.target->DeleteDeployment("ep", "ep", json::object()).ok());
  EXPECT_EQ(f.world->endpoints["ep"]["properties"]["traffic"], (json{{"green", 100}}));
  // The endpoint stays: it was made for deployment "ep", and "green" still serves.
  ASSERT_TRUE(f.target->DeleteDeployment("green", "ep", json::object()).ok());
  EXPECT_EQ(f.world->endpoints.count("ep"), 1u);
  ASSERT_TRUE(f.Create("ep", "ep", json::object()).ok());
  ASSERT_TRUE(f.target->DeleteDeployment("ep", "", json::object()).ok());
  EXPECT_TRUE(f.world->endpoints.empty());  // its own deployment was the last
}

TEST(AzureMlClientTest, WhatOthersMadeIsLeftAlone) {
  Fixture f(true);
  f.world->endpoints["ep"]["tags"] = json::object();
  Status s = f.target->DeleteEndpoint("ep", json::object());
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(f.world->endpoints.count("ep"), 1u);
  StatusOr<json> listed = f.target->ListEndpoints();
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty());
}

}  // namespace
}  // namespace mlflow_bridge::internal
