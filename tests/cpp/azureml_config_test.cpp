// The azureml-endpoints config (targets/azureml/config.h): -C keys and azureml-mlflow's deploy-config-file /
// endpoint-config-file (JSON or YAML), converted once into the ARM JSON of 2025-12-01.
#include "targets/azureml/config.h"

#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/yaml_json.h"

namespace mlflow_bridge::internal {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

class AzureMlConfigTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& text) {
    std::filesystem::path p = dir_ / name;
    std::ofstream(p) << text;
    return p.string();
  }
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("azureml_config_test_" + std::to_string(::getpid()) + "_" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

std::string Error(const json& given) {
  StatusOr<AzureMlConfig> c = ParseAzureMlConfig(given);
  EXPECT_FALSE(c.ok());
  if (!c.ok()) EXPECT_EQ(c.status().code(), StatusCode::kInvalidParameterValue) << c.status().ToString();
  return c.ok() ? "" : c.status().message();
}

TEST_F(AzureMlConfigTest, Defaults) {
  StatusOr<AzureMlConfig> c = ParseAzureMlConfig(json::object());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->auth_mode, "key");
  EXPECT_EQ(c->arm_auth_mode, "Key");
  EXPECT_TRUE(c->identity.is_null());
  EXPECT_TRUE(c->traffic.is_null());
  EXPECT_EQ(c->instance_count, 1);
  EXPECT_TRUE(c->synchronous);
  EXPECT_EQ(c->timeout_seconds, 1800);
  EXPECT_EQ(c->credential, "auto");
  EXPECT_EQ(c->arm_endpoint, "https://management.azure.com");
  EXPECT_TRUE(c->liveness_probe.is_null());
  EXPECT_EQ(c->endpoint_tags, json::object());
  EXPECT_TRUE(c->given.empty());
}

TEST_F(AzureMlConfigTest, CliKeysBecomeArmJson) {
  StatusOr<AzureMlConfig> c = ParseAzureMlConfig({
      {"auth_mode", "aad_token"},
      {"instance_count", "2"},
      {"liveness_probe", R"({"initial_delay": 30, "period": "PT15S", "failure_threshold": 5})"},
      {"request_settings", R"({"request_timeout_ms": 90500, "max_concurrent_requests_per_instance": 4})"},
      {"scale_settings", json{{"type", "target_utilization"},
                              {"min_instances", 1},
                              {"max_instances", 3},
                              {"polling_interval", 10},
                              {"target_utilization_percentage", 70}}},
      {"identity", R"({"type": "user_assigned", "user_assigned_identities": ["/subscriptions/s/id"]})"},
      {"weights", R"({"blue": 90, "green": "10"})"},
      {"mirror_traffic", R"({"green": 20})"},
      {"environment_variables", R"({"A": "1", "N": 2})"},
      {"tags", R"({"team": "risk"})"},
      {"async", "true"},
  });
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->arm_auth_mode, "AADToken");
  EXPECT_EQ(c->instance_count, 2);
  EXPECT_EQ(c->liveness_probe, (json{{"initialDelay", "PT30S"}, {"period", "PT15S"}, {"failureThreshold", 5}}));
  // The milliseconds as an ISO-8601 duration (azureml-mlflow sends 90500 raw, which the service rejects).
  EXPECT_EQ(c->request_settings, (json{{"requestTimeout", "PT90.5S"}, {"maxConcurrentRequestsPerInstance", 4}}));
  EXPECT_EQ(c->scale_settings, (json{{"scaleType", "TargetUtilization"},
                                     {"minInstances", 1},
                                     {"maxInstances", 3},
                                     {"pollingInterval", "PT10S"},
                                     {"targetUtilizationPercentage", 70}}));
  EXPECT_EQ(c->identity,
            (json{{"type", "UserAssigned"}, {"userAssignedIdentities", {{"/subscriptions/s/id", json::object()}}}}));
  EXPECT_EQ(c->traffic, (json{{"blue", 90}, {"green", 10}}));
  EXPECT_EQ(c->mirror_traffic, (json{{"green", 20}}));
  EXPECT_EQ(c->environment_variables, (json{{"A", "1"}, {"N", "2"}}));
  EXPECT_EQ(c->endpoint_tags, (json{{"team", "risk"}}));
  EXPECT_EQ(c->deployment_tags, (json{{"team", "risk"}}));
  EXPECT_FALSE(c->synchronous);
  EXPECT_EQ(c->given.count("weights"), 1u);
}

TEST_F(AzureMlConfigTest, TrafficIsWeights) {
  StatusOr<AzureMlConfig> c = ParseAzureMlConfig({{"traffic", json{{"blue", 100}}}});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->traffic, (json{{"blue", 100}}));
  EXPECT_THAT(Error({{"traffic", json{{"blue", 100}}}, {"weights", json{{"blue", 100}}}}), HasSubstr("give one of them"));
}

TEST_F(AzureMlConfigTest, BadValuesNameTheKey) {
  EXPECT_THAT(Error({{"weights", R"({"blue": 60, "green": 30})"}}), HasSubstr("must sum to 100"));
  EXPECT_THAT(Error({{"weights", R"({"blue": 100.5})"}}), HasSubstr("whole percent"));
  EXPECT_THAT(Error({{"mirror_traffic", R"({"green": 60})"}}), HasSubstr("between 0 and 50"));
  EXPECT_THAT(Error({{"auth_mode", "token"}}), HasSubstr("auth_mode"));
  EXPECT_THAT(Error({{"liveness_probe", R"({"period": "10 seconds"})"}}), HasSubstr("liveness_probe.period"));
  EXPECT_THAT(Error({{"liveness_probe", R"({"delay": 10})"}}), HasSubstr("unknown field 'delay'"));
  EXPECT_THAT(Error({{"request_settings", R"({"request_timeout": 10})"}}), HasSubstr("request_timeout_ms"));
  EXPECT_THAT(Error({{"scale_settings", R"({"type": "default", "min_instances": 1})"}}),
              HasSubstr("target_utilization only"));
  EXPECT_THAT(Error({{"identity", R"({"type": "user_assigned"})"}}), HasSubstr("needs user_assigned_identities"));
  EXPECT_THAT(Error({{"tags", R"({"n": 1})"}}), HasSubstr("to strings"));
  EXPECT_THAT(Error({{"synchronous", "true"}, {"async", "false"}}), HasSubstr("give one of them"));
  EXPECT_THAT(Error({{"type", "managed"}, {"resources", R"({"requests": {"cpu": "1"}})"}}), HasSubstr("Kubernetes"));
  EXPECT_THAT(Error({{"arm_endpoint", "http://management.azure.com"}}), HasSubstr("https://"));
  std::string unknown = Error({{"instance_typ", "x"}});
  EXPECT_THAT(unknown, HasSubstr("instance_typ"));
  EXPECT_THAT(unknown, HasSubstr("instance_type"));  // the valid keys are listed
}

TEST_F(AzureMlConfigTest, IsoDurations) {
  EXPECT_EQ(*IsoDuration(10, "k"), "PT10S");
  EXPECT_EQ(*IsoDuration("PT1M30S", "k"), "PT1M30S");
  EXPECT_EQ(*IsoDuration("P1DT2H", "k"), "P1DT2H");
  EXPECT_EQ(*IsoDuration(5000, "k", true), "PT5S");
  EXPECT_EQ(*IsoDuration(250, "k", true), "PT0.25S");
  EXPECT_FALSE(IsoDuration("PT", "k").ok());
  EXPECT_FALSE(IsoDuration("P", "k").ok());
  EXPECT_FALSE(IsoDuration("10s", "k").ok());
  EXPECT_FALSE(IsoDuration(1.5, "k").ok());
}

// azureml-mlflow's files: the deployment YAML and the endpoint JSON, each describing its own resource.
TEST_F(AzureMlConfigTest, FilesOfAzureMlMlflow) {
  std::string deploy = Write("deploy.yaml", R"(
$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json
instance_type: Standard_DS3_v2
instance_count: 2
app_insights_enabled: true
environment_variables:
  WORKERS: "2"
request_settings:
  request_timeout_ms: 60000
readiness_probe:
  period: 5
tags:
  stage: canary
description: the canary
)");
  std::string endpoint = Write("endpoint.json", R"({"auth_mode": "aml_token", "identity": {"type": "system_assigned"},
    "traffic": {"blue": 100}, "tags": {"owner": "ml"}, "description": "flood risk"})");
  StatusOr<AzureMlConfig> c = ParseAzureMlConfig({{"deploy-config-file", deploy},
                                                  {"endpoint-config-file", endpoint},
                                                  {"instance_count", "3"}});  // -C wins over the file
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->instance_type, "Standard_DS3_v2");
  EXPECT_EQ(c->instance_count, 3);
  EXPECT_TRUE(c->app_insights_enabled);
  EXPECT_EQ(c->environment_variables, (json{{"WORKERS", "2"}}));
  EXPECT_EQ(c->request_settings, (json{{"requestTimeout", "PT60S"}}));
  EXPECT_EQ(c->readiness_probe, (json{{"period", "PT5S"}}));
  EXPECT_EQ(c->arm_auth_mode, "AMLToken");
  EXPECT_EQ(c->identity, (json{{"type", "SystemAssigned"}}));
  EXPECT_EQ(c->traffic, (json{{"blue", 100}}));
  EXPECT_EQ(c->deployment_tags, (json{{"stage", "canary"}}));
  EXPECT_EQ(c->deployment_description, "the canary");
  EXPECT_EQ(c->endpoint_tags, (json{{"owner", "ml"}}));
  EXPECT_EQ(c->endpoint_description, "flood risk");
  EXPECT_EQ(c->given.count("instance_type"), 1u);
}

TEST_F(AzureMlConfigTest, FileErrorsNameTheFile) {
  std::string bad_key = Write("d.yaml", "instance_type: Standard_DS3_v2\ninstances: 2\n");
  std::string m = Error({{"deploy-config-file", bad_key}});
  EXPECT_THAT(m, HasSubstr("Unknown key 'instances'"));
  EXPECT_THAT(m, HasSubstr("d.yaml"));
  EXPECT_THAT(m, HasSubstr("instance_count"));
  EXPECT_THAT(Error({{"deploy-config-file", Write("e.yaml", "auth_mode: key\n")}}), HasSubstr("endpoint-config-file"));
  EXPECT_THAT(Error({{"deploy-config-file", Write("m.yaml", "model: azureml:m:1\n")}}), HasSubstr("-m / model_uri"));
  EXPECT_THAT(Error({{"deploy-config-file", Write("v1.json", R"({"computeType": "ACI"})")}}), HasSubstr("online endpoints"));
  EXPECT_THAT(Error({{"deploy-config-file", Write("bad.yaml", "a: [1,\n")}}), HasSubstr("neither JSON nor YAML"));
  EXPECT_THAT(Error({{"deploy-config-file", Write("list.yaml", "- 1\n")}}), HasSubstr("mapping"));
  EXPECT_THAT(Error({{"endpoint-config-file", Write("t.json", R"({"traffic": {"a": 50}})")}}), HasSubstr("sum to 100"));
  StatusOr<AzureMlConfig> missing = ParseAzureMlConfig({{"deploy-config-file", (dir_ / "nope.yaml").string()}});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kResourceDoesNotExist);
  EXPECT_THAT(missing.status().message(), HasSubstr("nope.yaml"));
}

TEST_F(AzureMlConfigTest, KubernetesResources) {
  StatusOr<AzureMlConfig> c = ParseAzureMlConfig(
      {{"type", "kubernetes"},
       {"resources", R"({"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"nvidia.com/gpu": 1}})"}});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->compute_type, "kubernetes");
  EXPECT_EQ(c->resources, (json{{"containerResourceRequests", {{"cpu", "500m"}, {"memory", "1Gi"}}},
                                {"containerResourceLimits", {{"gpu", "1"}}}}));
}

TEST(YamlJsonTest, ScalarsAreTyped) {
  StatusOr<json> j = ParseJsonOrYaml("a: 1\nb: 1.5\nc: true\nd: ~\ne: '7'\nf: text\ng: [x, 2]\n", "t");
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  EXPECT_EQ(*j, (json{{"a", 1}, {"b", 1.5}, {"c", true}, {"d", nullptr}, {"e", "7"}, {"f", "text"}, {"g", {"x", 2}}}));
}

}  // namespace
}  // namespace mlflow_bridge::internal
