// The request and answer forms of Azure ML's no-code MLflow deployments, which take {"input_data": ...}
// (pandas' split orient for tables) instead of MLflow's scoring keys and answer with the bare predictions.
// Custom-container deployments run an MLflow-compatible server and take MLflow's forms unchanged.
#pragma once

#include <string>

#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

// An MLflow scoring body (dataframe_split, dataframe_records, instances or inputs, with optional params) as
// the no-code server takes it: tables as {"columns", "index", "data"}, tensors as they are. CSV and bodies
// without a scoring key are INVALID_PARAMETER_VALUE saying what to send instead.
StatusOr<std::string> ToInputData(const std::string& body, const std::string& content_type);

// The no-code server's answer (the predictions as JSON: a list, or an object of named outputs) as MLflow's
// {"predictions": ...}; an answer that already has "predictions" stays as it is.
std::string FromNoCodeAnswer(const std::string& body);

}  // namespace mlflow_bridge::internal
