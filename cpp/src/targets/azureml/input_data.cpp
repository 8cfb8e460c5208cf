#include "targets/azureml/input_data.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace mlflow_bridge::internal {
namespace {

using nlohmann::json;

json DefaultIndex(size_t rows) {
  json index = json::array();
  for (size_t i = 0; i < rows; ++i) index.push_back(i);
  return index;
}

// dataframe_records ([{column: value}, ...]) in the split orient, the columns in the order they first appear.
StatusOr<json> RecordsToSplit(const json& records) {
  if (!records.is_array()) return InvalidParameterError("dataframe_records must be a list of records.");
  json columns = json::array();
  for (const json& record : records) {
    if (!record.is_object()) return InvalidParameterError("dataframe_records must be a list of objects.");
    for (const auto& [name, value] : record.items())
      if (std::find(columns.begin(), columns.end(), name) == columns.end()) columns.push_back(name);
  }
  json data = json::array();
  for (const json& record : records) {
    json row = json::array();
    for (const json& name : columns) row.push_back(record.value(name.get<std::string>(), json()));
    data.push_back(row);
  }
  return json{{"columns", columns}, {"index", DefaultIndex(records.size())}, {"data", data}};
}

}  // namespace

StatusOr<std::string> ToInputData(const std::string& body, const std::string& content_type) {
  if (content_type.find("csv") != std::string::npos)
    return InvalidParameterError(
        "Azure ML's no-code MLflow deployments take JSON, not CSV: pass a DataFrame (or JSON) to predict.");
  json in = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!in.is_object()) return InvalidParameterError("predict's input is not a JSON object of MLflow's scoring keys.");
  json out = json::object();
  if (in.contains("dataframe_split")) {
    json split = in["dataframe_split"];
    if (!split.is_object() || !split.contains("data"))
      return InvalidParameterError("dataframe_split must be an object with 'columns' and 'data'.");
    if (!split.contains("index") && split["data"].is_array()) split["index"] = DefaultIndex(split["data"].size());
    out["input_data"] = split;
  } else if (in.contains("dataframe_records")) {
    StatusOr<json> split = RecordsToSplit(in["dataframe_records"]);
    if (!split.ok()) return split.status();
    out["input_data"] = *split;
  } else if (in.contains("instances")) {
    out["input_data"] = in["instances"];
  } else if (in.contains("inputs")) {
    out["input_data"] = in["inputs"];
  } else if (in.contains("input_data")) {
    out["input_data"] = in["input_data"];
  } else {
    return InvalidParameterError(
        "predict's input has none of MLflow's scoring keys (dataframe_split, dataframe_records, instances, inputs).");
  }
  if (in.contains("params")) out["params"] = in["params"];
  return out.dump();
}

std::string FromNoCodeAnswer(const std::string& body) {
  json answer = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (answer.is_discarded() || (answer.is_object() && answer.contains("predictions"))) return body;
  return json{{"predictions", answer}}.dump();
}

}  // namespace mlflow_bridge::internal
