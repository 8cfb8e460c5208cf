// Batching MLflow scoring bodies on their raw text (serve/batching.h) and the scanner under it
// (serve/raw_json.h). tests/python/test_serve_batching_parity.py checks the same functions against MLflow.
#include "serve/batching.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "serve/raw_json.h"

namespace mlflow_bridge::internal {
namespace {

using ::testing::ElementsAre;

constexpr std::string_view kJson = "application/json";

// ---------------------------------------------------------------------------------------------------------
// The scanner

TEST(ServeBatchingRawJsonTest, SpansOfEveryValue) {
  std::string text = R"( {"a": [1, -2.5e3, "x\"y", true, false, null], "b": {"c": NaN}, "d": -Infinity} )";
  std::optional<RawJson> j = RawJson::Scan(text);
  ASSERT_TRUE(j);
  const RawJson::Node& root = j->root();
  EXPECT_EQ(root.type, RawJson::Type::kObject);
  EXPECT_EQ(root.size, 3u);
  EXPECT_EQ(j->Text(root), R"({"a": [1, -2.5e3, "x\"y", true, false, null], "b": {"c": NaN}, "d": -Infinity})");
  const RawJson::Node* a = j->Find(root, "a");
  ASSERT_TRUE(a);
  std::vector<std::string_view> texts;
  for (const RawJson::Node* e : j->Elements(*a)) texts.push_back(j->Text(*e));
  EXPECT_THAT(texts, ElementsAre("1", "-2.5e3", R"("x\"y")", "true", "false", "null"));
  EXPECT_EQ(j->Elements(*a)[1]->number, RawJson::NumberKind::kFloat);
  const RawJson::Node* c = j->Find(*j->Find(root, "b"), "c");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->number, RawJson::NumberKind::kNonFinite);
  EXPECT_EQ(j->Find(root, "d")->number, RawJson::NumberKind::kNonFinite);
  EXPECT_EQ(j->Find(root, "missing"), nullptr);
  EXPECT_TRUE(RawJson::Scan("[]") && RawJson::Scan("{}") && RawJson::Scan(" \t\r\n0 ") && RawJson::Scan(R"("")"));
}

TEST(ServeBatchingRawJsonTest, IntegersByRange) {
  std::optional<RawJson> j = RawJson::Scan(
      "[9223372036854775807, -9223372036854775808, 9223372036854775808, 18446744073709551616, -9223372036854775809, "
      "0, -0, 1E2]");
  ASSERT_TRUE(j);
  std::vector<RawJson::NumberKind> kinds;
  for (const RawJson::Node* e : j->Elements(j->root())) kinds.push_back(e->number);
  using K = RawJson::NumberKind;
  EXPECT_THAT(kinds, ElementsAre(K::kInt64, K::kInt64, K::kUint64, K::kBigInt, K::kBigInt, K::kInt64, K::kInt64, K::kFloat));
}

TEST(ServeBatchingRawJsonTest, RefusesWhatJsonLoadsRefuses) {
  for (std::string_view bad :
       {"",      " ",        "[1,]",        "[1 2]",   "{\"a\" 1}", "{\"a\": 1,}",   "{1: 2}",        "01",  "1.", ".5",
        "1e",    "+1",       "-",           "nan",     "inf",       "-NaN",          "Infinit",       "tru", "[",  "]",
        "\"abc", "\"a\\x\"", "\"\\u12G4\"", "[1] [2]", "{'a': 1}",  "\"tab\there\"", "\xEF\xBB\xBF{}"}) {
    EXPECT_FALSE(RawJson::Scan(bad)) << bad;
  }
  EXPECT_FALSE(RawJson::Scan("\"\xC3\""));          // a cut UTF-8 sequence
  EXPECT_FALSE(RawJson::Scan("\"\xC0\xAF\""));      // an overlong one
  EXPECT_FALSE(RawJson::Scan("\"\xED\xA0\x80\""));  // an encoded surrogate
  EXPECT_TRUE(RawJson::Scan("\"\xC3\xA9\xF0\x9F\x98\x80\""));
  EXPECT_FALSE(RawJson::Scan(std::string(1000, '[') + std::string(1000, ']')));
  EXPECT_TRUE(RawJson::Scan(std::string(100, '[') + std::string(100, ']')));
}

TEST(ServeBatchingRawJsonTest, DecodesStrings) {
  std::optional<RawJson> j = RawJson::Scan(R"(["a\u00e9\n\/\"", "\ud83d\ude00", "\ud83d", "\ude00x"])");
  ASSERT_TRUE(j);
  std::vector<const RawJson::Node*> e = j->Elements(j->root());
  EXPECT_EQ(j->DecodeString(*e[0]), "a\xC3\xA9\n/\"");
  EXPECT_EQ(j->DecodeString(*e[1]), "\xF0\x9F\x98\x80");
  EXPECT_EQ(j->DecodeString(*e[2]), std::nullopt);  // Python keeps a lone surrogate; UTF-8 cannot
  EXPECT_EQ(j->DecodeString(*e[3]), std::nullopt);
  std::optional<RawJson> dup = RawJson::Scan(R"({"a": 1, "\u0061": 2})");
  ASSERT_TRUE(dup);
  EXPECT_TRUE(dup->HasDuplicateKeys(dup->root()));
  EXPECT_EQ(dup->Text(*dup->Find(dup->root(), "a")), "2");  // the last one, as Python
}

// ---------------------------------------------------------------------------------------------------------
// ParseForBatching

BatchInput Parsed(std::string_view body, std::string_view content_type = kJson) {
  std::optional<BatchInput> b = ParseForBatching(content_type, body);
  EXPECT_TRUE(b) << body;
  return b.value_or(BatchInput{});
}

std::string KeyOf(std::string_view body) { return Parsed(body).key; }

TEST(ServeBatchingTest, ContentTypesAsMlflowTestsThem) {
  const std::string_view body = R"({"inputs": [1]})";
  for (std::string_view ok : {"application/json", "application/json; charset=utf-8", "application/json;charset=UTF-8",
                              " application/json ;  charset=Utf-8 "}) {
    EXPECT_TRUE(ParseForBatching(ok, body)) << ok;
  }
  for (std::string_view bad :
       {"", "Application/JSON", "text/csv", "application/json; charset=latin-1", "application/json; format=pandas-split",
        "application/json;", "application/json; charset", "application/json; charset = utf-8",
        "application/json; charset=\"utf-8\"", "application/x-json"}) {
    EXPECT_FALSE(ParseForBatching(bad, body)) << bad;
  }
}

TEST(ServeBatchingTest, DataframeSplitRowsKeepTheirText) {
  BatchInput b = Parsed(R"({"dataframe_split": {"data": [[1.50, "\u00e9"], [2, "b"]], "columns": ["x", "y"]}})");
  EXPECT_EQ(b.kind, BatchInput::Kind::kDataframeSplit);
  EXPECT_EQ(b.rows, 2u);
  EXPECT_THAT(b.row_text, ElementsAre(R"([1.50, "\u00e9"])", R"([2, "b"])"));
  EXPECT_EQ(b.columns_text, R"(["x", "y"])");
  EXPECT_TRUE(b.columns.empty());
  EXPECT_TRUE(b.params_text.empty());
}

TEST(ServeBatchingTest, RecordsInstancesAndInputs) {
  BatchInput records = Parsed(R"({"dataframe_records": [{"x": 1, "y": [1, 2]}, {"x": 3, "y": [4, 5]}]})");
  EXPECT_EQ(records.kind, BatchInput::Kind::kDataframeRecords);
  EXPECT_EQ(records.rows, 2u);
  EXPECT_THAT(records.row_text, ElementsAre(R"({"x": 1, "y": [1, 2]})", R"({"x": 3, "y": [4, 5]})"));

  BatchInput list = Parsed(R"({"instances": [[1, 2], [3, 4], [5, 6]]})");
  EXPECT_EQ(list.kind, BatchInput::Kind::kInstances);
  EXPECT_EQ(list.rows, 3u);
  EXPECT_THAT(list.row_text, ElementsAre("[1, 2]", "[3, 4]", "[5, 6]"));

  BatchInput objects = Parsed(R"({"instances": [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]})");
  EXPECT_EQ(objects.rows, 2u);

  BatchInput columns = Parsed(R"({"inputs": {"a": [1, 2], "b": ["x", "y"]}, "params": {"k": 1}})");
  EXPECT_EQ(columns.kind, BatchInput::Kind::kInputs);
  EXPECT_EQ(columns.rows, 2u);
  EXPECT_TRUE(columns.row_text.empty());
  EXPECT_THAT(columns.names, ElementsAre(R"("a")", R"("b")"));
  EXPECT_THAT(columns.columns, ElementsAre(ElementsAre("1", "2"), ElementsAre(R"("x")", R"("y")")));
  EXPECT_EQ(columns.params_text, R"({"k": 1})");

  BatchInput scalars = Parsed(R"({"inputs": ["a", "b"]})");
  EXPECT_EQ(scalars.rows, 2u);
}

TEST(ServeBatchingTest, EqualKeysForTheSameStructure) {
  EXPECT_EQ(KeyOf(R"({"dataframe_split": {"columns": ["x", "y"], "data": [[1.0, "a"]]}})"),
            KeyOf(R"({"dataframe_split":{"data":[[2.5,"b"],[3.5,"c"]],"columns":["x","y"]}})"));
  EXPECT_EQ(KeyOf(R"({"dataframe_records": [{"x": 1}], "params": {"a": 1, "b": [true]}})"),
            KeyOf(R"({"params": {"b": [true], "a": 1}, "dataframe_records": [{"x": 2}, {"x": 3}]})"));
  EXPECT_EQ(KeyOf(R"({"inputs": [[1.0, 2.0]]})"), KeyOf(R"({"inputs": [[3.5, NaN], [-Infinity, 1e3]]})"));
  EXPECT_EQ(KeyOf(R"({"dataframe_records": [{"x": "a"}]})"), KeyOf(R"({"dataframe_records": [{"\u0078": "b"}]})"));
  EXPECT_EQ(KeyOf(R"({"inputs": [1], "params": {"k": NaN, "s": "\u00e9", "o": {"b": 1, "a": [true, null]}}})"),
            KeyOf(R"({"inputs": [2], "params": {"o": {"a": [true, null], "b": 1}, "s": "é", "k": NaN}})"));
  EXPECT_EQ(KeyOf(R"({"inputs": {"a": [1], "b": ["x"]}})"), KeyOf(R"({"inputs": {"a": [2, 3], "b": ["y", "z"]}})"));
}

TEST(ServeBatchingTest, DifferentKeysForWhatChangesTheAnswer) {
  const std::string base = KeyOf(R"({"dataframe_split": {"columns": ["x", "y"], "data": [[1.5, "a"]]}})");
  for (std::string_view other : {
           R"({"dataframe_split": {"columns": ["y", "x"], "data": [[1.5, "a"]]}})",                // column order
           R"({"dataframe_split": {"columns": ["x", "y"], "data": [[1, "a"]]}})",                  // int, not float
           R"({"dataframe_split": {"columns": ["x", "y"], "data": [[1.5, null]]}})",               // a null
           R"({"dataframe_split": {"columns": ["x", "y"], "data": [[1.5, "a"], [2, "b"]]}})",      // int and float
           R"({"dataframe_split": {"columns": ["x", "y"], "data": [[1.5, "a"]]}, "params": {}})",  // params
           R"({"dataframe_records": [{"x": 1.5, "y": "a"}]})",                                     // kind
       }) {
    EXPECT_NE(KeyOf(other), base) << other;
  }
  EXPECT_NE(KeyOf(R"({"dataframe_records": [{"x": 1, "y": 2}]})"), KeyOf(R"({"dataframe_records": [{"y": 2, "x": 1}]})"));
  EXPECT_NE(KeyOf(R"({"inputs": [1]})"), KeyOf(R"({"instances": [1]})"));
  EXPECT_NE(KeyOf(R"({"inputs": [[1, 2]]})"), KeyOf(R"({"inputs": [[1, 2, 3]]})"));       // shapes
  EXPECT_NE(KeyOf(R"({"inputs": [1]})"), KeyOf(R"({"inputs": [9223372036854775808]})"));  // int64 and uint64
  EXPECT_NE(KeyOf(R"({"inputs": [true]})"), KeyOf(R"({"inputs": [1]})"));
  EXPECT_NE(KeyOf(R"({"inputs": {"a": [1]}})"), KeyOf(R"({"inputs": [{"a": 1}]})"));  // columns or records
  EXPECT_NE(KeyOf(R"({"inputs": [1], "params": {"k": 1}})"), KeyOf(R"({"inputs": [1], "params": {"k": 1.0}})"));
  EXPECT_NE(KeyOf(R"({"inputs": [1], "params": {"k": "1"}})"), KeyOf(R"({"inputs": [1], "params": {"k": 1}})"));
  EXPECT_NE(KeyOf(R"({"inputs": [1], "params": {"k": [1, 2]}})"), KeyOf(R"({"inputs": [1], "params": {"k": [2, 1]}})"));
  EXPECT_NE(KeyOf(R"({"inputs": [1], "params": null})"), KeyOf(R"({"inputs": [1]})"));
  EXPECT_NE(KeyOf(R"({"dataframe_split": {"columns": [1], "data": [[1]]}})"),
            KeyOf(R"({"dataframe_split": {"columns": ["1"], "data": [[1]]}})"));
  EXPECT_NE(KeyOf(R"({"inputs": [{"a": [1, 2]}]})"), KeyOf(R"({"inputs": [{"a": [1]}]})"));
}

TEST(ServeBatchingTest, WhatGoesAlone) {
  for (std::string_view body : {
           R"({"dataframe_split": {"columns": ["x"], "data": [[1]], "index": [7]}})",
           R"({"dataframe_split": {"data": [[1]]}})",
           R"({"dataframe_split": {"columns": ["x"], "data": []}})",
           R"({"dataframe_split": {"columns": ["x", "y"], "data": [[1]]}})",
           R"({"dataframe_split": {"columns": ["x"], "data": [1, 2]}})",
           R"({"dataframe_split": {"columns": [], "data": [[]]}})",
           R"({"dataframe_split": [[1]]})",
           R"({"dataframe_records": []})",
           R"({"dataframe_records": [{"x": 1}, {"y": 2}]})",
           R"({"dataframe_records": [{"x": 1}, {"x": 2, "y": 3}]})",
           R"({"dataframe_records": [[1, 2]]})",
           R"({"dataframe_records": [{}]})",
           R"({"dataframe_records": [{"x": 1, "x": 2}]})",
           R"({"instances": []})",
           R"({"instances": [{"a": 1}, 2]})",
           R"({"inputs": "a prompt"})",
           R"({"inputs": 3})",
           R"({"inputs": {}})",
           R"({"inputs": {"a": [1, 2], "b": [1]}})",
           R"({"inputs": {"a": [1], "b": 2}})",
           R"({"inputs": {"a": []}})",
           R"({"inputs": [1], "instances": [1]})",
           R"({"inputs": [1], "extra": 1})",
           R"({"inputs": [1], "inputs": [2]})",
           R"({"params": {"k": 1}})",
           R"({"messages": [{"role": "user", "content": "hi"}]})",
           R"([{"x": 1}])",
           R"({"inputs": [1]})"
           "x",
           R"({"inputs": [1],})",
       }) {
    EXPECT_FALSE(ParseForBatching(kJson, body)) << body;
  }
}

// ---------------------------------------------------------------------------------------------------------
// MergeBodies

std::string Merged(const std::vector<std::string_view>& bodies) {
  std::vector<BatchInput> parsed;
  for (std::string_view b : bodies) parsed.push_back(Parsed(b));
  std::vector<const BatchInput*> inputs;
  for (const BatchInput& b : parsed) {
    EXPECT_EQ(b.key, parsed.front().key);
    inputs.push_back(&b);
  }
  return MergeBodies(inputs);
}

TEST(ServeBatchingTest, MergesEachForm) {
  EXPECT_EQ(
      Merged({R"({"dataframe_split": {"columns": ["x", "y"], "data": [[1.50, "a"]]}, "params": {"k": 2}})",
              R"({"params":{"k":2},"dataframe_split":{"data":[[2.25,"b"],[3e1,"\u00e9"]],"columns":["x","y"]}})"}),
      R"({"dataframe_split": {"columns": ["x", "y"], "data": [[1.50, "a"], [2.25,"b"], [3e1,"\u00e9"]]}, "params": {"k": 2}})");
  EXPECT_EQ(Merged({R"({"dataframe_records": [{"x": 1}]})", R"({"dataframe_records": [{"x": 2}, {"x": 3}]})"}),
            R"({"dataframe_records": [{"x": 1}, {"x": 2}, {"x": 3}]})");
  EXPECT_EQ(Merged({R"({"instances": [[1, 2]]})", R"({"instances": [[3, 4]]})"}), R"({"instances": [[1, 2], [3, 4]]})");
  EXPECT_EQ(Merged({R"({"inputs": ["a"]})", R"({"inputs": ["b"]})", R"({"inputs": ["c"]})"}),
            R"({"inputs": ["a", "b", "c"]})");
  EXPECT_EQ(Merged({R"({"inputs": {"a": [1], "b": ["x"]}})", R"({"inputs": {"a": [2, 3], "b": ["y", "z"]}})"}),
            R"({"inputs": {"a": [1, 2, 3], "b": ["x", "y", "z"]}})");
  EXPECT_EQ(Merged({R"({"instances": {"a": [1]}})"}), R"({"instances": {"a": [1]}})");
  EXPECT_EQ(MergeBodies({}), "");
}

TEST(ServeBatchingTest, MergedBodiesParseAgain) {
  BatchInput a = Parsed(R"({"inputs": {"a": [1], "b": ["x"]}, "params": {"t": 0.5}})");
  BatchInput b = Parsed(R"({"inputs": {"a": [2], "b": ["y"]}, "params": {"t": 0.5}})");
  std::optional<BatchInput> merged = ParseForBatching(kJson, MergeBodies({&a, &b}));
  ASSERT_TRUE(merged);
  EXPECT_EQ(merged->key, a.key);
  EXPECT_EQ(merged->rows, 2u);
}

// ---------------------------------------------------------------------------------------------------------
// SplitAnswer

std::vector<std::string> Split(std::string_view answer, const std::vector<size_t>& rows) {
  std::optional<std::vector<std::string>> parts = SplitAnswer(answer, rows);
  EXPECT_TRUE(parts) << answer;
  return parts.value_or(std::vector<std::string>{});
}

TEST(ServeBatchingTest, SplitsListsOfPredictions) {
  EXPECT_THAT(Split(R"({"predictions": [0, 1, 1]})", {1, 2}),
              ElementsAre(R"({"predictions": [0]})", R"({"predictions": [1, 1]})"));
  EXPECT_THAT(Split(R"({"predictions": [0.30000000000000004, NaN, Infinity, -Infinity, 1e-07]})", {2, 1, 2}),
              ElementsAre(R"({"predictions": [0.30000000000000004, NaN]})", R"({"predictions": [Infinity]})",
                          R"({"predictions": [-Infinity, 1e-07]})"));
  EXPECT_THAT(Split(R"({"predictions": [{"a": 1, "b": "\u00e9"}, {"a": 2, "b": null}]})", {1, 1}),
              ElementsAre(R"({"predictions": [{"a": 1, "b": "\u00e9"}]})", R"({"predictions": [{"a": 2, "b": null}]})"));
  EXPECT_THAT(Split(R"({"predictions": [[0.1, 0.9], [0.8, 0.2]]})", {2}),
              ElementsAre(R"({"predictions": [[0.1, 0.9], [0.8, 0.2]]})"));
  EXPECT_THAT(Split(R"({"predictions": ["a", "b"]})", {1, 0, 1}),
              ElementsAre(R"({"predictions": ["a"]})", R"({"predictions": []})", R"({"predictions": ["b"]})"));
}

TEST(ServeBatchingTest, SplitsNamedOutputs) {
  EXPECT_THAT(Split(R"({"predictions": {"a": [0.1, 0.2, 0.30000000000000004], "b": [false, true, true]}})", {2, 1}),
              ElementsAre(R"({"predictions": {"a": [0.1, 0.2], "b": [false, true]}})",
                          R"({"predictions": {"a": [0.30000000000000004], "b": [true]}})"));
}

TEST(ServeBatchingTest, KeepsTheAnswersOwnSeparators) {
  EXPECT_THAT(Split("{\"predictions\":[1,2,\n 3]}\n", {2, 1}),
              ElementsAre("{\"predictions\":[1,2]}\n", "{\"predictions\":[3]}\n"));
}

TEST(ServeBatchingTest, AnswersThatDoNotSplit) {
  for (std::string_view answer : {
           R"({"predictions": [1, 2]})",                        // 2 for 3 rows
           R"({"predictions": [1, 2, 3, 4]})",                  // 4
           R"({"predictions": 3})",                             // a scalar
           R"({"predictions": "abc"})",                         //
           R"({"predictions": {}})",                            //
           R"({"predictions": {"a": [1, 2, 3], "b": [1]}})",    // one output of another length
           R"({"predictions": {"a": [1, 2, 3], "b": 1}})",      //
           R"({"predictions": [1, 2, 3], "extra": 1})",         // something beside the predictions
           R"({"error_code": "BAD_REQUEST", "message": "x"})",  // an error
           R"({"choices": [1, 2, 3]})",                         //
           R"([1, 2, 3])",                                      //
           R"({"predictions": [1, 2, 3])",                      // not JSON
       }) {
    EXPECT_FALSE(SplitAnswer(answer, {1, 2})) << answer;
  }
  EXPECT_FALSE(SplitAnswer(R"({"predictions": []})", {0}));
  EXPECT_FALSE(SplitAnswer(R"({"predictions": [1]})", {}));
}

// The round trip the server makes: bodies merged, an answer with one element per row (as an echo model would
// give), split back: each request gets its own rows.
TEST(ServeBatchingTest, MergeThenSplitGivesEachItsRows) {
  std::vector<std::string_view> bodies = {R"({"inputs": [[1, 2]]})", R"({"inputs": [[3, 4], [5, 6]]})",
                                          R"({"inputs": [[7, 8]]})"};
  std::vector<BatchInput> parsed;
  for (std::string_view b : bodies) parsed.push_back(Parsed(b));
  std::vector<const BatchInput*> inputs;
  std::vector<size_t> rows;
  for (const BatchInput& b : parsed) {
    inputs.push_back(&b);
    rows.push_back(b.rows);
  }
  std::string merged = MergeBodies(inputs);
  std::string answer = "{\"predictions\": " + merged.substr(std::string_view("{\"inputs\": ").size());
  EXPECT_THAT(Split(answer, rows), ElementsAre(R"({"predictions": [[1, 2]]})", R"({"predictions": [[3, 4], [5, 6]]})",
                                               R"({"predictions": [[7, 8]]})"));
}

}  // namespace
}  // namespace mlflow_bridge::internal
