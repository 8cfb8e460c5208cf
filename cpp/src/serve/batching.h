// Adaptive batching for the native server (decision 0009): which MLflow scoring bodies can share one predict
// call, the merged body, and the answer split back per request. Pure functions over bytes; no Python, no I/O.
//
// Exactness: a request of a batch must get byte for byte what MLflow's server answers for it alone. Merging
// therefore keeps each element's original text (serve/raw_json.h finds the spans; nlohmann only reads params
// and column names for the keys), and splitting cuts the answer's raw JSON text at its list elements and keeps
// the rest of MLflow's text around them (`{"predictions": [` ... `]}`, json.dump's ", " between elements), never
// re-serializing a number or a string. tests/python/test_serve_batching_parity.py checks this against MLflow.
//
// What the split cannot make exact is the model itself: batching assumes each row's prediction does not depend
// on the other rows (decision 0009 turns it on for such flavors only). Two known ways that fails at the bit
// level: floats computed through BLAS (a linear model's X @ coef) may differ in the last bit between a lone row
// and the same row in a batch, as OpenBLAS's kernels sum differently for different row counts; and a model that
// answers a DataFrame types each output column by all its rows (a column of ints in one request and NaN in
// another is float64 in the batch: 1 becomes 1.0). The input side of that second case is covered by the key.
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
  // Requests with equal keys merge: the kind and form, the columns (dataframe_split, in order), the record keys
  // (dataframe_records, every record the same, in the same order), the input names (inputs/instances given as
  // an object of lists, or as a list of objects with the same keys), the params (compared as Python reads them:
  // keys in any order, strings decoded; numbers as written, so 1.0 and 1.00 are kept apart, harmlessly) and,
  // per column / input (or for the whole list), the set of JSON value types its rows hold (null, bool,
  // int64, uint64, bigger int, float, string, and arrays by length and element types, objects by keys). The
  // types matter because pandas and numpy type a merged column by all its rows: `[[1]]` alone is an int64
  // column that a model may answer as `1`, merged with `[[2.5]]` it becomes `1.0`.
  std::string key;
  // Raw text of each row/instance (dataframe_split: the rows of "data"; records: each record; instances or
  // inputs as a list: each element; as an object of lists: per name, each element), as it appears in the body.
  std::vector<std::string> row_text;              // list forms
  std::vector<std::vector<std::string>> columns;  // object-of-lists forms: per name (in key order), its elements
  // What the merged body repeats from the first input: dataframe_split's "columns" text, the names of the
  // object-of-lists forms (JSON string tokens, in order) and the "params" text (empty: none).
  std::string columns_text;
  std::vector<std::string> names;
  std::string params_text;
};

// Whether a model's predictions are row-independent, so that batching is on by default: its python_function
// loader module is one of the flavors whose predict maps each row alone: scikit-learn, XGBoost, LightGBM,
// CatBoost, H2O. Not statsmodels (time series models), not custom pyfunc models (anything may happen).
bool RowIndependentModel(std::string_view loader_module);

// The body parsed for batching, or nullopt when it cannot be merged with others and must go alone: a content
// type other than application/json (MLflow's exact test: the type as written, an optional charset=utf-8 and
// no other parameter), malformed JSON (MLflow answers it), a body that is not an object with exactly one of
// dataframe_split / dataframe_records / instances / inputs (plus an optional "params") or with a key twice,
// dataframe_split with "index" (the answer could depend on the index: it goes alone) or without "columns" or
// with rows that are not lists of one value per column, records that are not objects with the same keys in
// the same order, scalars or single tensors that have no row dimension, object-of-lists whose lists differ
// in length, lists mixing objects and other values, or zero rows.
std::optional<BatchInput> ParseForBatching(std::string_view content_type, std::string_view body);

// One body holding the rows of `inputs` (equal keys, in order), in the inputs' own form; its params are theirs
// (the first input's text). Python's separators (", ", ": "); each row keeps its original text. "" for none.
std::string MergeBodies(const std::vector<const BatchInput*>& inputs);

// MLflow's 200 answer to a merged body, split into one answer per input with `rows[i]` elements each:
// `{"predictions": [...]}` whose list has sum(rows) elements, or `{"predictions": {"name": [...], ...}}` whose
// lists all have that length (multi-output models). Each answer is the merged answer's text with each list cut
// to the input's elements (their bytes and the separators between them as MLflow wrote them), so it is what
// MLflow's json.dump writes for those elements alone. nullopt when the answer has another shape (other
// top-level keys, a scalar, lists of another length, not JSON): the caller then sends each request alone.
std::optional<std::vector<std::string>> SplitAnswer(std::string_view answer, const std::vector<size_t>& rows);

}  // namespace mlflow_bridge::internal
