// What tests/python/test_serve_batching_parity.py compares with MLflow's own scoring: reads one JSON command
// per line on stdin and prints one JSON line per command:
//   {"op": "scan", "text"}                            -> {"ok", "type", "parts": [each element's / member value's text]}
//   {"op": "parse", "content_type", "body"}          -> {"batchable", "kind", "rows", "key", "row_text", "columns"}
//   {"op": "merge", "content_type", "bodies": [...]} -> {"compatible", "body", "rows": [rows of each body]}
//                                                       (compatible: every body batchable, all with one key)
//   {"op": "split", "answer", "rows": [...]}          -> {"answers": [...] or null}
//   {"op": "v2_request", "body", "input_schema"?}     -> {"ok", "body", "id"} or {"ok": false, "code", "error"}
//   {"op": "v2_answer", "answer", "model_name", "model_version"?, "id"?} -> {"ok", "body"} or {"ok": false, ...}
//   {"op": "v2_metadata", "name", "version"?, "inputs"?, "outputs"?}    -> {"body"}
// A line that is not such a command prints {"error": "..."}; the tool goes on with the next line.
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "serve/batching.h"
#include "serve/raw_json.h"
#include "serve/v2_protocol.h"

namespace {

using nlohmann::json;
using namespace mlflow_bridge;
using namespace mlflow_bridge::internal;

const char* KindName(BatchInput::Kind kind) {
  switch (kind) {
    case BatchInput::Kind::kDataframeSplit: return "dataframe_split";
    case BatchInput::Kind::kDataframeRecords: return "dataframe_records";
    case BatchInput::Kind::kInstances: return "instances";
    case BatchInput::Kind::kInputs: return "inputs";
  }
  return "?";
}

json StatusJson(const Status& s) {
  return {{"ok", false}, {"code", std::string(StatusCodeName(s.code()))}, {"error", s.message()}};
}

json Run(const json& in) {
  const std::string op = in.at("op").get<std::string>();
  const std::string content_type = in.value("content_type", "application/json");
  if (op == "scan") {
    const std::string text = in.at("text").get<std::string>();
    std::optional<RawJson> j = RawJson::Scan(text);
    if (!j) return {{"ok", false}};
    json parts = json::array();
    for (const RawJson::Node* e : j->Elements(j->root())) parts.push_back(std::string(j->Text(*e)));
    for (const auto& [k, v] : j->Members(j->root())) parts.push_back(std::string(j->Text(*v)));
    return {{"ok", true}, {"type", static_cast<int>(j->root().type)}, {"parts", parts}};
  }
  if (op == "parse") {
    std::optional<BatchInput> b = ParseForBatching(content_type, in.at("body").get<std::string>());
    if (!b) return {{"batchable", false}};
    return {{"batchable", true},       {"kind", KindName(b->kind)}, {"rows", b->rows},   {"key", b->key},
            {"row_text", b->row_text}, {"columns", b->columns},     {"names", b->names}, {"params_text", b->params_text}};
  }
  if (op == "merge") {
    std::vector<BatchInput> parsed;
    json rows = json::array();
    bool compatible = true;
    for (const json& body : in.at("bodies")) {
      std::optional<BatchInput> b = ParseForBatching(content_type, body.get<std::string>());
      if (!b || (!parsed.empty() && b->key != parsed.front().key)) {
        compatible = false;
        break;
      }
      rows.push_back(b->rows);
      parsed.push_back(std::move(*b));
    }
    if (!compatible) return {{"compatible", false}};
    std::vector<const BatchInput*> inputs;
    for (const BatchInput& b : parsed) inputs.push_back(&b);
    return {{"compatible", true}, {"body", MergeBodies(inputs)}, {"rows", rows}};
  }
  if (op == "split") {
    std::optional<std::vector<std::string>> parts =
        SplitAnswer(in.at("answer").get<std::string>(), in.at("rows").get<std::vector<size_t>>());
    return {{"answers", parts ? json(*parts) : json(nullptr)}};
  }
  if (op == "v2_request") {
    std::optional<std::string> id;
    StatusOr<std::string> body =
        V2RequestToMlflow(in.at("body").get<std::string>(), in.value("input_schema", std::string()), &id);
    if (!body.ok()) return StatusJson(body.status());
    return {{"ok", true}, {"body", *body}, {"id", id ? json(*id) : json(nullptr)}};
  }
  if (op == "v2_answer") {
    std::optional<std::string> id;
    if (in.contains("id") && in["id"].is_string()) id = in["id"].get<std::string>();
    StatusOr<std::string> body = MlflowAnswerToV2(in.at("answer").get<std::string>(), in.value("model_name", "model"),
                                                  in.value("model_version", std::string()), id);
    if (!body.ok()) return StatusJson(body.status());
    return {{"ok", true}, {"body", *body}};
  }
  if (op == "v2_metadata") {
    return {{"body", V2ModelMetadata(in.at("name").get<std::string>(), in.value("version", std::string()),
                                     in.value("inputs", std::string()), in.value("outputs", std::string()))}};
  }
  throw std::runtime_error("unknown op '" + op + "' (parse, merge, split, v2_request, v2_answer, v2_metadata)");
}

}  // namespace

int main() {
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json out;
    try {
      out = Run(json::parse(line));
    } catch (const std::exception& e) {
      out = {{"error", e.what()}};
    }
    std::cout << out.dump(-1, ' ', false, json::error_handler_t::replace) << std::endl;
  }
  return 0;
}
