// The sagemaker-endpoints config, parsed once into SageMakerConfig (targets/sagemaker/config.h): defaults,
// CLI strings converted to their types, and every wrong value an INVALID_PARAMETER_VALUE naming the key.
#include "targets/sagemaker/config.h"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mlflow_bridge/sagemaker_client.h"

namespace mlflow_bridge::internal {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

TEST(SageMakerConfigTest, DefaultsAreTheSchemas) {
  StatusOr<SageMakerConfig> c = ParseSageMakerConfig(json::object());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->mode, "create");
  EXPECT_EQ(c->instance_type, "ml.m4.xlarge");
  EXPECT_EQ(c->instance_count, 1);
  EXPECT_TRUE(c->synchronous);
  EXPECT_FALSE(c->archive);
  EXPECT_EQ(c->timeout_seconds, 1200);
  EXPECT_DOUBLE_EQ(c->poll_interval_seconds, 5.0);
  EXPECT_DOUBLE_EQ(c->initial_weight, 0.0);
  EXPECT_TRUE(c->build.install_dependencies);
  EXPECT_EQ(c->build.server, "native");
  EXPECT_FALSE(c->build.insecure_registry);
  EXPECT_FALSE(c->forward_proxy_env);
  EXPECT_EQ(c->registry, "");
  EXPECT_EQ(c->env, json::object());
  EXPECT_EQ(c->serverless_config, json::object());
  // Every key of the schema has its field: a new key without one would parse and be ignored.
  EXPECT_EQ(c->build.native.batching, "auto");  // the native server's options (registry= builds)
  EXPECT_TRUE(c->build.native.access_log);
  EXPECT_EQ(SageMakerConfigSchema().size(), 34u);
}

TEST(SageMakerConfigTest, CliStringsBecomeTypedFields) {
  StatusOr<SageMakerConfig> c = ParseSageMakerConfig({{"instance_count", "3"},
                                                      {"synchronous", "false"},
                                                      {"archive", "true"},
                                                      {"poll_interval_seconds", "0.5"},
                                                      {"env", R"({"A": "1", "N": 2})"},
                                                      {"tags", json{{"team", "risk"}}},
                                                      {"mode", "add"},
                                                      {"registry", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/m"},
                                                      {"install_dependencies", "false"}});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->instance_count, 3);
  EXPECT_FALSE(c->synchronous);
  EXPECT_TRUE(c->archive);
  EXPECT_DOUBLE_EQ(c->poll_interval_seconds, 0.5);
  EXPECT_EQ(c->env, (json{{"A", "1"}, {"N", 2}}));
  EXPECT_EQ(c->tags, (json{{"team", "risk"}}));
  EXPECT_EQ(c->mode, "add");
  EXPECT_EQ(c->registry, "123456789012.dkr.ecr.eu-west-1.amazonaws.com/m");
  EXPECT_FALSE(c->build.install_dependencies);
}

TEST(SageMakerConfigTest, WrongValuesAreInvalidParameterValueNamingTheKey) {
  const std::vector<std::pair<json, std::string>> cases = {
      {{{"instance_count", "many"}}, "instance_count"},
      {{{"instance_count", 0}}, "instance_count"},
      {{{"synchronous", "maybe"}}, "synchronous"},
      {{{"env", "[1, 2]"}}, "env"},
      {{{"tags", 7}}, "tags"},
      {{{"timeout_seconds", json::array()}}, "timeout_seconds"},
      {{{"no_such_key", "x"}}, "no_such_key"},
      {{{"mode", "upsert"}}, "mode"},
      {{{"synchronous", false}, {"archive", false}}, "synchronous=false"},
      {{{"serverless_config", json{{"MemorySizeInMB", 2048}}}, {"async_inference_config", json{{"x", 1}}}},
       "serverless_config"},
  };
  for (const auto& [given, key] : cases) {
    SCOPED_TRACE(given.dump());
    StatusOr<SageMakerConfig> c = ParseSageMakerConfig(given);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidParameterValue);
    EXPECT_THAT(c.status().message(), HasSubstr(key));
  }
}

TEST(SageMakerConfigTest, HelpListsTheSchema) {
  const std::string help = SageMakerClient::Help();
  EXPECT_EQ(&SageMakerClient::Schema(), &SageMakerConfigSchema());
  EXPECT_THAT(help, HasSubstr(DescribeConfig(SageMakerConfigSchema())));
  for (const ConfigKey& key : SageMakerConfigSchema()) EXPECT_THAT(help, HasSubstr(key.name));
}

}  // namespace
}  // namespace mlflow_bridge::internal
