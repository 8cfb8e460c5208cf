// The Open Inference Protocol v2 over REST (KServe's "V2", Triton's and MLServer's protocol) for the native
// server's /v2/models/{m}/... routes (decision 0009): an inference request becomes an MLflow scoring body that
// a worker answers as /invocations does, MLflow's answer becomes a v2 response, and an MLflow signature
// becomes the model metadata. Pure functions over bytes, like serve/batching.h.
//
// Spec: https://github.com/kserve/open-inference-protocol/blob/main/specification/protocol/inference_rest.md
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

// An inference request, {"id"?, "parameters"?, "inputs": [{"name", "shape", "datatype", "data",
// "parameters"?}, ...], "outputs"?}, as an MLflow JSON scoring body. "data" is row-major, flat or nested, and
// is reshaped by "shape"; datatypes BOOL (true/false), UINT8..UINT64 and INT8..INT64 (integers in range),
// FP16/FP32/FP64 (numbers) and BYTES (strings). The body's form:
//   - dataframe_split with one column per input, in order, when every input is [N] or [N, 1] with the same N
//     (what MLServer's pandas codec makes of such a request); with a column signature (`input_schema_json`
//     holds ColSpecs) any inputs whose first dimensions agree, a cell then being the row's nested list;
//   - otherwise {"inputs": <the tensor>} for a single input (what a model with one unnamed or named tensor
//     input takes), {"inputs": {name: <tensor>, ...}} for several.
// With a tensor signature (`input_schema_json` holds TensorSpecs) the tensor forms are always used.
// The request's "parameters" become MLflow's "params", without MLServer's "content_type" and "headers";
// the inputs' own "parameters" and the requested "outputs" are not used. `input_schema_json` is the MLmodel
// signature's "inputs" string (empty: no signature). `id` gets the request's "id" (nullopt when it has none).
// A request that breaks the protocol is INVALID_PARAMETER_VALUE whose message says what is wrong, for the
// server's 400 {"error": message}.
StatusOr<std::string> V2RequestToMlflow(std::string_view body, std::string_view input_schema_json = {},
                                        std::optional<std::string>* id = nullptr);

// MLflow's 200 answer, {"predictions": P}, as a v2 inference response: {"model_name", "model_version"
// (omitted when empty), "id" (when given), "outputs": [{"name", "shape", "datatype", "data"}, ...]}, data
// flattened row-major. P a list of records (a DataFrame): one output per column, named by it; P an object
// (named outputs): one output per key; any other P: one output "predictions". A list's shape follows its
// nesting; ragged lists, and objects inside a tensor, become BYTES holding each row's JSON text. Datatypes:
// all booleans BOOL, all integers INT64 (UINT64 when one is above INT64's range and none is negative), numbers
// FP64, strings BYTES, anything mixed BYTES (each non-string value as its JSON text); nulls stay null. Numbers
// keep MLflow's text, NaN and Infinity included. An answer without "predictions" is INTERNAL_ERROR.
StatusOr<std::string> MlflowAnswerToV2(std::string_view answer, std::string_view model_name, std::string_view model_version,
                                       const std::optional<std::string>& request_id);

// The body of GET /v2/models/{m}[/versions/{v}]: {"name", "versions": [version] (omitted when empty),
// "platform": "mlflow", "inputs": [...], "outputs": [...]}, each tensor {"name", "datatype", "shape"} from the
// signature's schema JSON (MLmodel's signature.inputs / signature.outputs strings: ColSpecs {"type", "name"?}
// or TensorSpecs {"type": "tensor", "tensor-spec": {"dtype", "shape"}, "name"?}). A column is shape [-1]
// (one value per row) with its type's datatype (boolean BOOL, integer INT32, long INT64, float FP32, double
// FP64, string/binary/datetime and compound types BYTES); a tensor keeps its shape, its numpy dtype mapped
// likewise. Unnamed inputs are "input-<i>"; an unnamed single output is "predictions" (as MlflowAnswerToV2
// names it), several "output-<i>". An empty or unreadable schema gives an empty list.
std::string V2ModelMetadata(std::string_view name, std::string_view version, std::string_view inputs_schema_json,
                            std::string_view outputs_schema_json);

}  // namespace mlflow_bridge::internal
