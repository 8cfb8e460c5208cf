// The Open Inference Protocol v2 conversions of the native server (serve/v2_protocol.h).
#include "serve/v2_protocol.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace mlflow_bridge::internal {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

json ToMlflow(const json& request, std::string_view schema = {}) {
  StatusOr<std::string> out = V2RequestToMlflow(request.dump(), schema);
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  return out.ok() ? json::parse(*out) : json();
}

Status RequestError(std::string_view body) {
  StatusOr<std::string> out = V2RequestToMlflow(body);
  EXPECT_FALSE(out.ok()) << body;
  return out.ok() ? OkStatus() : out.status();
}

json Input(const std::string& name, const json& shape, const std::string& datatype, const json& data) {
  return {{"name", name}, {"shape", shape}, {"datatype", datatype}, {"data", data}};
}

TEST(ServeV2ProtocolTest, ColumnsBecomeADataframe) {
  json request = {{"inputs",
                   {Input("x1", {3}, "FP64", {1.0, 2.5, 3.0}), Input("x2", {3, 1}, "INT32", {{4}, {5}, {6}}),
                    Input("name", {3}, "BYTES", {"a", "b", "\u00e9"}), Input("ok", {3}, "BOOL", {true, false, true})}}};
  EXPECT_EQ(ToMlflow(request), (json{{"dataframe_split",
                                      {{"columns", {"x1", "x2", "name", "ok"}},
                                       {"data", {{1.0, 4, "a", true}, {2.5, 5, "b", false}, {3.0, 6, "\u00e9", true}}}}}}));
}

TEST(ServeV2ProtocolTest, TensorsAreReshapedByTheirShape) {
  // One input: the tensor itself (a model with one named or unnamed tensor input takes it).
  EXPECT_EQ(ToMlflow({{"inputs", {Input("x", {2, 3}, "FP32", {1, 2, 3, 4, 5, 6})}}}),
            (json{{"inputs", {{1, 2, 3}, {4, 5, 6}}}}));
  EXPECT_EQ(ToMlflow({{"inputs", {Input("x", {2, 2}, "FP32", {{1, 2}, {3, 4}})}}}), (json{{"inputs", {{1, 2}, {3, 4}}}}));
  EXPECT_EQ(ToMlflow({{"inputs", {Input("x", {1, 2, 2}, "UINT8", {1, 2, 3, 4})}}}), (json{{"inputs", {{{1, 2}, {3, 4}}}}}));
  EXPECT_EQ(ToMlflow({{"inputs", {Input("x", json::array(), "INT64", {7})}}}), (json{{"inputs", 7}}));
  // Several: by name.
  EXPECT_EQ(ToMlflow({{"inputs", {Input("a", {2, 2}, "FP64", {1, 2, 3, 4}), Input("b", {2}, "INT64", {5, 6})}}}),
            (json{{"inputs", {{"a", {{1, 2}, {3, 4}}}, {"b", {5, 6}}}}}));
  EXPECT_EQ(ToMlflow({{"inputs", {Input("a", {2}, "FP64", {1, 2}), Input("b", {3}, "FP64", {3, 4, 5})}}}),
            (json{{"inputs", {{"a", {1, 2}}, {"b", {3, 4, 5}}}}}));
}

TEST(ServeV2ProtocolTest, KeepsTheRequestsOrder) {
  StatusOr<std::string> out = V2RequestToMlflow(
      R"({"parameters": {"z": 1, "a": 2}, "inputs": [{"name": "b", "shape": [2], "datatype": "INT64", "data": [1, 2]},
                          {"name": "a", "shape": [3], "datatype": "FP32", "data": [0.5, 1, 1.5]}]})");
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(*out, R"({"inputs":{"b":[1,2],"a":[0.5,1,1.5]},"params":{"z":1,"a":2}})");
}

TEST(ServeV2ProtocolTest, TheSignatureChoosesTheForm) {
  const std::string columns =
      R"([{"type": "double", "name": "a"}, {"type": "array", "items": {"type": "long"}, "name": "b"}])";
  EXPECT_EQ(
      ToMlflow({{"inputs", {Input("a", {2}, "FP64", {1.5, 2.5}), Input("b", {2, 2}, "INT64", {1, 2, 3, 4})}}}, columns),
      (json{{"dataframe_split", {{"columns", {"a", "b"}}, {"data", {{1.5, {1, 2}}, {2.5, {3, 4}}}}}}}));
  const std::string tensors =
      R"([{"name": "a", "type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1]}},
          {"name": "b", "type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1]}}])";
  EXPECT_EQ(ToMlflow({{"inputs", {Input("a", {2}, "FP64", {1, 2}), Input("b", {2}, "FP64", {3, 4})}}}, tensors),
            (json{{"inputs", {{"a", {1, 2}}, {"b", {3, 4}}}}}));
  EXPECT_EQ(ToMlflow({{"inputs", {Input("a", {2}, "FP64", {1, 2})}}}, "not json"),
            (json{{"dataframe_split", {{"columns", {"a"}}, {"data", {{1}, {2}}}}}}));
}

TEST(ServeV2ProtocolTest, ParametersAndId) {
  std::optional<std::string> id;
  StatusOr<std::string> out = V2RequestToMlflow(json{{"id", "req-1"},
                                                     {"parameters", {{"content_type", "pd"}, {"temperature", 0.5}}},
                                                     {"inputs", {Input("x", {1}, "FP64", {1.0})}},
                                                     {"outputs", {{{"name", "predictions"}}}}}
                                                    .dump(),
                                                {}, &id);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(json::parse(*out),
            (json{{"dataframe_split", {{"columns", {"x"}}, {"data", {{1.0}}}}}, {"params", {{"temperature", 0.5}}}}));
  EXPECT_EQ(id, "req-1");
  out = V2RequestToMlflow(
      json{{"parameters", {{"content_type", "np"}}}, {"inputs", {Input("x", {1}, "FP64", {1.0})}}}.dump(), {}, &id);
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(json::parse(*out).contains("params"));
  EXPECT_EQ(id, std::nullopt);
}

TEST(ServeV2ProtocolTest, RequestsThatBreakTheProtocol) {
  struct Case {
    std::string body;
    std::string message;
  };
  const auto with = [](const json& input) { return json{{"inputs", {input}}}.dump(); };
  for (const Case& c : std::vector<Case>{
           {"{not json", "not JSON"},
           {"[1]", "an object with \"inputs\""},
           {"{}", "\"inputs\" must be a non-empty list"},
           {R"({"inputs": []})", "\"inputs\" must be a non-empty list"},
           {R"({"inputs": [1]})", "inputs[0] is not an object"},
           {with({{"shape", {1}}, {"datatype", "FP64"}, {"data", {1}}}), "inputs[0] has no \"name\""},
           {with({{"name", "x"}, {"datatype", "FP64"}, {"data", {1}}}), "input 'x' has no \"shape\""},
           {with(Input("x", {-1}, "FP64", {1})), "non-negative integers"},
           {with(Input("x", {1.5}, "FP64", {1})), "non-negative integers"},
           {with(Input("x", {2}, "FP128", {1, 2})), "datatype \"FP128\" is not one of"},
           {with({{"name", "x"}, {"shape", {1}}, {"datatype", "FP64"}}), "input 'x' has no \"data\""},
           {with(Input("x", {2, 2}, "FP64", {1, 2, 3})), "holds 4 values but \"data\" has 3"},
           {with(Input("x", {1}, "FP64", {"1"})), "\"1\" is not a value of datatype FP64"},
           {with(Input("x", {1}, "BOOL", {1})), "1 is not a value of datatype BOOL"},
           {with(Input("x", {1}, "INT8", {128})), "128 is not a value of datatype INT8"},
           {with(Input("x", {1}, "UINT32", {-1})), "-1 is not a value of datatype UINT32"},
           {with(Input("x", {1}, "INT64", {1.5})), "1.5 is not a value of datatype INT64"},
           {with(Input("x", {1}, "BYTES", {1})), "1 is not a value of datatype BYTES"},
           {json{{"inputs", {Input("x", {1}, "FP64", {1}), Input("x", {1}, "FP64", {2})}}}.dump(),
            "two inputs are named 'x'"},
           {json{{"id", 7}, {"inputs", {Input("x", {1}, "FP64", {1})}}}.dump(), "\"id\" must be a string"},
           {json{{"parameters", {1}}, {"inputs", {Input("x", {1}, "FP64", {1})}}}.dump(),
            "\"parameters\" must be an object"},
       }) {
    Status s = RequestError(c.body);
    EXPECT_EQ(s.code(), StatusCode::kInvalidParameterValue) << c.body;
    EXPECT_THAT(s.message(), HasSubstr(c.message)) << c.body;
  }
  // Integers at the edges of their ranges are fine.
  EXPECT_TRUE(V2RequestToMlflow(json{{"inputs", {Input("x", {2}, "INT8", {-128, 127})}}}.dump()).ok());
  EXPECT_TRUE(V2RequestToMlflow(json{{"inputs", {Input("x", {1}, "UINT64", {18446744073709551615u})}}}.dump()).ok());
  EXPECT_TRUE(V2RequestToMlflow(json{{"inputs", {Input("x", {0}, "FP64", json::array())}}}.dump()).ok());
}

// ---------------------------------------------------------------------------------------------------------
// Answers

json ToV2(std::string_view answer, std::optional<std::string> id = std::nullopt, std::string_view version = "3") {
  StatusOr<std::string> out = MlflowAnswerToV2(answer, "iris", version, id);
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  return out.ok() ? json::parse(*out) : json();
}

json Output(const std::string& name, const json& shape, const std::string& datatype, const json& data) {
  return {{"name", name}, {"shape", shape}, {"datatype", datatype}, {"data", data}};
}

TEST(ServeV2ProtocolTest, PredictionsBecomeOneOutput) {
  EXPECT_EQ(ToV2(R"({"predictions": [0, 1, 1]})", "req-1"),
            (json{{"model_name", "iris"},
                  {"model_version", "3"},
                  {"id", "req-1"},
                  {"outputs", {Output("predictions", {3}, "INT64", {0, 1, 1})}}}));
  EXPECT_EQ(ToV2(R"({"predictions": [0.5, 1, -2e3]})")["outputs"][0], Output("predictions", {3}, "FP64", {0.5, 1, -2e3}));
  EXPECT_EQ(ToV2(R"({"predictions": [true, false]})")["outputs"][0], Output("predictions", {2}, "BOOL", {true, false}));
  EXPECT_EQ(ToV2(R"({"predictions": ["setosa", null]})")["outputs"][0],
            Output("predictions", {2}, "BYTES", {"setosa", nullptr}));
  EXPECT_EQ(ToV2(R"({"predictions": [[0.1, 0.9], [0.7, 0.3], [0.5, 0.5]]})")["outputs"][0],
            Output("predictions", {3, 2}, "FP64", {0.1, 0.9, 0.7, 0.3, 0.5, 0.5}));
  EXPECT_EQ(ToV2(R"({"predictions": [9223372036854775808, 1]})")["outputs"][0],
            Output("predictions", {2}, "UINT64", {9223372036854775808u, 1}));
  EXPECT_EQ(ToV2(R"({"predictions": 4.5})")["outputs"][0], Output("predictions", {1}, "FP64", {4.5}));
  EXPECT_EQ(ToV2(R"({"predictions": []})")["outputs"][0], Output("predictions", {0}, "BYTES", json::array()));
  json no_version = ToV2(R"({"predictions": [1]})", std::nullopt, "");
  EXPECT_FALSE(no_version.contains("model_version"));
  EXPECT_FALSE(no_version.contains("id"));
}

TEST(ServeV2ProtocolTest, NumbersKeepMlflowsText) {
  StatusOr<std::string> out =
      MlflowAnswerToV2(R"({"predictions": [0.30000000000000004, NaN, -Infinity, 1e-07]})", "m", "", {});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(
      *out,
      R"({"model_name":"m","outputs":[{"name":"predictions","shape":[4],"datatype":"FP64","data":[0.30000000000000004,NaN,-Infinity,1e-07]}]})");
}

TEST(ServeV2ProtocolTest, RecordsAndNamedOutputs) {
  EXPECT_EQ(ToV2(R"({"predictions": [{"label": "a", "score": 0.5}, {"label": "b", "score": 1}]})")["outputs"],
            (json{Output("label", {2}, "BYTES", {"a", "b"}), Output("score", {2}, "FP64", {0.5, 1})}));
  EXPECT_EQ(ToV2(R"({"predictions": {"a": [0.1, 0.2], "b": [[1, 2], [3, 4]], "c": 7}})")["outputs"],
            (json{Output("a", {2}, "FP64", {0.1, 0.2}), Output("b", {2, 2}, "INT64", {1, 2, 3, 4}),
                  Output("c", {1}, "INT64", {7})}));
}

TEST(ServeV2ProtocolTest, WhatIsNoTensorBecomesText) {
  EXPECT_EQ(ToV2(R"({"predictions": [[1, 2], [3]]})")["outputs"][0], Output("predictions", {2}, "BYTES", {"[1, 2]", "[3]"}));
  EXPECT_EQ(ToV2(R"({"predictions": ["a", 1, true]})")["outputs"][0],
            Output("predictions", {3}, "BYTES", {"a", "1", "true"}));
  EXPECT_EQ(ToV2(R"({"predictions": [{"a": 1}, {"b": 2}]})")["outputs"][0],
            Output("predictions", {2}, "BYTES", {R"({"a": 1})", R"({"b": 2})"}));
  EXPECT_EQ(ToV2(R"({"predictions": [1, -2, 9223372036854775808]})")["outputs"][0]["datatype"], "FP64");
}

TEST(ServeV2ProtocolTest, AnswersWithoutPredictions) {
  for (std::string_view answer : {R"({"choices": []})", "[1, 2]", "not json"}) {
    StatusOr<std::string> out = MlflowAnswerToV2(answer, "m", "1", {});
    ASSERT_FALSE(out.ok()) << answer;
    EXPECT_EQ(out.status().code(), StatusCode::kInternalError);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Metadata

TEST(ServeV2ProtocolTest, MetadataFromColumnSignature) {
  json m = json::parse(
      V2ModelMetadata("iris", "3",
                      R"([{"type": "double", "name": "a", "required": true}, {"type": "long", "name": "b", "required": true},
          {"type": "string", "name": "c"}, {"type": "boolean", "name": "d"}, {"type": "integer", "name": "e"},
          {"type": "float", "name": "f"}, {"type": "array", "items": {"type": "long"}, "name": "g"},
          {"type": "datetime", "name": "h"}])",
                      R"([{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1]}}])"));
  EXPECT_EQ(m, (json{{"name", "iris"},
                     {"versions", {"3"}},
                     {"platform", "mlflow"},
                     {"inputs",
                      {{{"name", "a"}, {"datatype", "FP64"}, {"shape", {-1}}},
                       {{"name", "b"}, {"datatype", "INT64"}, {"shape", {-1}}},
                       {{"name", "c"}, {"datatype", "BYTES"}, {"shape", {-1}}},
                       {{"name", "d"}, {"datatype", "BOOL"}, {"shape", {-1}}},
                       {{"name", "e"}, {"datatype", "INT32"}, {"shape", {-1}}},
                       {{"name", "f"}, {"datatype", "FP32"}, {"shape", {-1}}},
                       {{"name", "g"}, {"datatype", "BYTES"}, {"shape", {-1}}},
                       {{"name", "h"}, {"datatype", "BYTES"}, {"shape", {-1}}}}},
                     {"outputs", {{{"name", "predictions"}, {"datatype", "FP64"}, {"shape", {-1}}}}}}));
}

TEST(ServeV2ProtocolTest, MetadataFromTensorSignature) {
  json m = json::parse(
      V2ModelMetadata("digits", "", R"([{"type": "tensor", "tensor-spec": {"dtype": "uint8", "shape": [-1, 8, 8]}}])",
                      R"([{"name": "probs", "type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 10]}},
          {"name": "label", "type": "tensor", "tensor-spec": {"dtype": "str", "shape": [-1]}}])"));
  EXPECT_FALSE(m.contains("versions"));
  EXPECT_EQ(m["inputs"], (json{{{"name", "input-0"}, {"datatype", "UINT8"}, {"shape", {-1, 8, 8}}}}));
  EXPECT_EQ(m["outputs"], (json{{{"name", "probs"}, {"datatype", "FP32"}, {"shape", {-1, 10}}},
                                {{"name", "label"}, {"datatype", "BYTES"}, {"shape", {-1}}}}));
  json odd =
      json::parse(V2ModelMetadata("m", "1", R"([{"type": "tensor", "tensor-spec": "float64"}, 3, {"name": 4}])", "{}"));
  EXPECT_EQ(odd["inputs"], (json{{{"name", "input-0"}, {"datatype", "BYTES"}, {"shape", {-1}}},
                                 {{"name", "input-2"}, {"datatype", "BYTES"}, {"shape", {-1}}}}));
  EXPECT_EQ(odd["outputs"], json::array());
  json none = json::parse(V2ModelMetadata("m", "1", "", "not json"));
  EXPECT_EQ(none["inputs"], json::array());
  EXPECT_EQ(none["outputs"], json::array());
  EXPECT_EQ(none["platform"], "mlflow");
}

}  // namespace
}  // namespace mlflow_bridge::internal
