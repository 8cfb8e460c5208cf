// The no-code MLflow request and answer forms of Azure ML (targets/azureml/input_data.h).
#include "targets/azureml/input_data.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace mlflow_bridge::internal {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

json Converted(const json& mlflow) {
  StatusOr<std::string> out = ToInputData(mlflow.dump(), "application/json");
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  return out.ok() ? json::parse(*out) : json();
}

TEST(AzureMlInputDataTest, TablesInTheSplitOrient) {
  EXPECT_EQ(Converted({{"dataframe_split", {{"columns", {"a", "b"}}, {"data", {{1, 2}, {3, 4}}}}}}),
            (json{{"input_data", {{"columns", {"a", "b"}}, {"data", {{1, 2}, {3, 4}}}, {"index", {0, 1}}}}}));
  EXPECT_EQ(
      Converted({{"dataframe_records", {{{"a", 1}, {"b", 2}}, {{"b", 4}, {"c", 5}}}}, {"params", {{"k", 1}}}}),
      (json{{"input_data", {{"columns", {"a", "b", "c"}}, {"index", {0, 1}}, {"data", {{1, 2, nullptr}, {nullptr, 4, 5}}}}},
            {"params", {{"k", 1}}}}));
}

TEST(AzureMlInputDataTest, TensorsAsTheyAre) {
  EXPECT_EQ(Converted({{"inputs", {{1.0, 2.0}}}}), (json{{"input_data", {{1.0, 2.0}}}}));
  EXPECT_EQ(Converted({{"instances", {{"x", {1, 2}}}}}), (json{{"input_data", {{"x", {1, 2}}}}}));
}

TEST(AzureMlInputDataTest, WhatCannotBeSent) {
  StatusOr<std::string> csv = ToInputData("a,b\n1,2\n", "text/csv");
  ASSERT_FALSE(csv.ok());
  EXPECT_THAT(csv.status().message(), HasSubstr("not CSV"));
  StatusOr<std::string> other = ToInputData(R"({"rows": [1]})", "application/json");
  ASSERT_FALSE(other.ok());
  EXPECT_THAT(other.status().message(), HasSubstr("dataframe_split"));
}

TEST(AzureMlInputDataTest, AnswersBecomePredictions) {
  EXPECT_EQ(json::parse(FromNoCodeAnswer("[0, 1]")), (json{{"predictions", {0, 1}}}));
  EXPECT_EQ(json::parse(FromNoCodeAnswer(R"({"y": [1]})")), (json{{"predictions", {{"y", {1}}}}}));
  EXPECT_EQ(FromNoCodeAnswer(R"({"predictions": [1]})"), R"({"predictions": [1]})");
}

}  // namespace
}  // namespace mlflow_bridge::internal
