// Adaptive batching for the native server (decision 0009): which MLflow scoring bodies can share one predict
// call, the merged body, and the answer split back per request. Pure functions over bytes; no Python, no I/O.
//
// Exactness: a request of a batch must get byte for byte what MLflow's server answers for it alone. Merging
// therefore keeps each element's original text, and splitting cuts the answer's raw JSON text at its top-level
// array elements and rewraps them the way Python's json.dump writes them (`{"predictions": [a, b]}`, ", " and
// ": " separators), never re-serializing a number or a string.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mlflow_bridge::internal {

// One /invocations body as far as batching needs to know it.
struct BatchInput {
  enum class Kind { kDataframeSplit, kDataframeRecords, kInstances, kInputs };
  Kind kind = Kind::kDataframeSplit;
  size_t rows = 0;  // rows (dataframe_*), instances, or the length of the inputs' first dimension
  // Requests with equal keys merge: the kind, the columns (dataframe_split, in order), the record keys
  // (dataframe_records, every record the same), the input names (inputs/instances given as an object of
  // columns) and the params' JSON (canonical: sorted keys).
  std::string key;
  // Raw text of each row/instance (dataframe_split: the rows of "data"; records: each record; instances or
  // inputs as a list: each element; as an object of lists: per name, each element), as it appears in the body.
  std::vector<std::string> row_text;              // list forms
  std::vector<std::vector<std::string>> columns;  // object-of-lists forms: per name (in key order), its elements
};

// The body parsed for batching, or nullopt when it cannot be merged with others and must go alone: a content
// type other than application/json (charset=utf-8 allowed), malformed JSON (MLflow answers it), a body that is
// not an object with exactly one of dataframe_split / dataframe_records / instances / inputs (plus an optional
// "params"), dataframe_split with "index" or without "columns", scalars or single tensors that have no row
// dimension, object-of-lists whose lists differ in length, or zero rows.
std::optional<BatchInput> ParseForBatching(std::string_view content_type, std::string_view body);

// One body holding the rows of `inputs` (equal keys, in order), in the inputs' own form; its params are theirs.
std::string MergeBodies(const std::vector<const BatchInput*>& inputs);

// MLflow's 200 answer to a merged body, split into one answer per input with `rows[i]` elements each:
// `{"predictions": [...]}` whose list has sum(rows) elements, or `{"predictions": {"name": [...], ...}}` whose
// lists all have that length (multi-output models). nullopt when the answer has another shape: the caller then
// sends each request alone.
std::optional<std::vector<std::string>> SplitAnswer(std::string_view answer, const std::vector<size_t>& rows);

}  // namespace mlflow_bridge::internal
