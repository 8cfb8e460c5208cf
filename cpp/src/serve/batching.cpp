#include "serve/batching.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <set>

#include "serve/raw_json.h"

namespace mlflow_bridge::internal {
namespace {

using Node = RawJson::Node;
using Type = RawJson::Type;

// MLflow's own test (scoring_server.invocations): the media type exactly "application/json"; parameters split
// at ';' and stripped, each split at its first '='; only "charset" is known, and its value must be utf-8 in
// any case. Anything else is answered by MLflow (415), so the request goes alone.
bool IsJsonContentType(std::string_view content_type) {
  const auto strip = [](std::string_view s) {  // Python's str.strip() on what a header can hold
    const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\v' || c == '\f'; };
    while (!s.empty() && space(s.front())) s.remove_prefix(1);
    while (!s.empty() && space(s.back())) s.remove_suffix(1);
    return s;
  };
  bool first = true;
  while (true) {
    const size_t semi = content_type.find(';');
    const std::string_view part = strip(content_type.substr(0, semi));
    if (first) {
      if (part != "application/json") return false;
      first = false;
    } else {
      const size_t eq = part.find('=');
      if (part.substr(0, eq) != "charset" || eq == std::string_view::npos) return false;
      std::string value(part.substr(eq + 1));
      for (char& c : value) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (value != "utf-8") return false;
    }
    if (semi == std::string_view::npos) return true;
    content_type.remove_prefix(semi + 1);
  }
}

// Appends "<size>:<text>": fields of a key that cannot run into each other whatever their text.
void AppendField(std::string& out, std::string_view text) {
  out += std::to_string(text.size());
  out += ':';
  out += text;
}

// The type of a value as pandas and numpy see it. Scalars are one bit each; a list is its length and the types
// of its elements, an object its keys (as written) and its values' types, both as a short text.
constexpr uint8_t kNullBit = 1, kBoolBit = 2, kStringBit = 4, kInt64Bit = 8, kUint64Bit = 16, kBigIntBit = 32,
                  kFloatBit = 64;

uint8_t ScalarBit(const Node& n) {
  switch (n.type) {
    case Type::kNull: return kNullBit;
    case Type::kFalse:
    case Type::kTrue: return kBoolBit;
    case Type::kString: return kStringBit;
    case Type::kNumber:
      switch (n.number) {
        case RawJson::NumberKind::kInt64: return kInt64Bit;
        case RawJson::NumberKind::kUint64: return kUint64Bit;
        case RawJson::NumberKind::kBigInt: return kBigIntBit;
        case RawJson::NumberKind::kFloat:
        case RawJson::NumberKind::kNonFinite: return kFloatBit;
      }
      return 0;
    case Type::kArray:
    case Type::kObject: return 0;
  }
  return 0;
}

// A set of types: the scalar ones as bits, lists and objects by their signatures.
class TypeSet {
 public:
  void Add(const RawJson& j, const Node& n);
  // "n", "b", "s", "i", "u", "I", "f" for the scalar types present, then each compound signature after a '|'.
  void AppendTo(std::string& out) const {
    static constexpr char kLetters[] = "nbsiuIf";
    for (int bit = 0; bit < 7; ++bit)
      if (scalars_ & (1u << bit)) out += kLetters[bit];
    for (const std::string& c : compound_) {
      out += '|';
      out += c;
    }
  }
  std::string ToString() const {
    std::string out;
    AppendTo(out);
    return out;
  }

 private:
  uint8_t scalars_ = 0;
  std::set<std::string> compound_;
};

void AppendSignature(const RawJson& j, const Node& n, std::string& out) {
  if (n.type == Type::kArray) {
    TypeSet elements;
    for (uint32_t i = n.first; i != RawJson::kNone; i = j.node(i).next) elements.Add(j, j.node(i));
    out += '[';
    out += std::to_string(n.size);
    out += ':';
    elements.AppendTo(out);
    out += ']';
  } else if (n.type == Type::kObject) {
    out += '{';
    for (uint32_t k = n.first; k != RawJson::kNone; k = j.node(j.node(k).next).next) {
      const Node& value = j.node(j.node(k).next);
      AppendField(out, j.Text(j.node(k)));
      TypeSet one;
      one.Add(j, value);
      one.AppendTo(out);
      out += ',';
    }
    out += '}';
  }
}

void TypeSet::Add(const RawJson& j, const Node& n) {
  if (uint8_t bit = ScalarBit(n)) {
    scalars_ |= bit;
    return;
  }
  std::string signature;
  AppendSignature(j, n, signature);
  compound_.insert(std::move(signature));
}

// A value's text for comparing with others (nlohmann is ten times slower than the scanner and refuses NaN):
// strings decoded, objects' members sorted by decoded key, numbers and words as written (1.0 and 1.00 differ:
// a request then goes in another batch, never in a wrong one). nullopt for a string that cannot be decoded.
bool AppendCanonical(const RawJson& j, const Node& n, std::string& out) {
  switch (n.type) {
    case Type::kString: {
      std::optional<std::string> s = j.DecodeString(n);
      if (!s) return false;
      out += 's';
      AppendField(out, *s);
      return true;
    }
    case Type::kArray:
      out += '[';
      for (uint32_t i = n.first; i != RawJson::kNone; i = j.node(i).next) {
        if (!AppendCanonical(j, j.node(i), out)) return false;
        out += ',';
      }
      out += ']';
      return true;
    case Type::kObject: {
      std::vector<std::pair<std::string, std::string>> members;
      for (const auto& [k, v] : j.Members(n)) {
        std::optional<std::string> name = j.DecodeString(*k);
        std::string value;
        if (!name || !AppendCanonical(j, *v, value)) return false;
        members.emplace_back(std::move(*name), std::move(value));
      }
      std::sort(members.begin(), members.end());
      out += '{';
      for (const auto& [name, value] : members) {
        AppendField(out, name);
        out += value;
        out += ',';
      }
      out += '}';
      return true;
    }
    default:
      out += 'v';
      AppendField(out, j.Text(n));
      return true;
  }
}

// The decoded keys of an object, in order; nullopt when one cannot be decoded.
std::optional<std::vector<std::string>> KeysOf(const RawJson& j, const Node& object) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.Members(object)) {
    std::optional<std::string> name = j.DecodeString(*k);
    if (!name) return std::nullopt;
    keys.push_back(std::move(*name));
  }
  return keys;
}

// A list of objects that all have the same keys in the same order (no key twice), each one a row: its
// keys and, per key, the types of its values. nullopt for anything else.
struct Records {
  std::vector<std::string> keys;
  std::vector<TypeSet> types;
};
std::optional<Records> ReadRecords(const RawJson& j, const std::vector<const Node*>& rows) {
  Records r;
  bool first = true;
  for (const Node* row : rows) {
    if (row->type != Type::kObject || row->size == 0) return std::nullopt;
    std::optional<std::vector<std::string>> keys = KeysOf(j, *row);
    if (!keys) return std::nullopt;
    if (first) {
      std::vector<std::string> sorted = *keys;  // a key twice: Python keeps the last value, pandas sees one
      std::sort(sorted.begin(), sorted.end());
      if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) return std::nullopt;
      r.keys = std::move(*keys);
      r.types.resize(r.keys.size());
      first = false;
    } else if (*keys != r.keys) {
      return std::nullopt;
    }
    size_t c = 0;
    for (uint32_t k = row->first; k != RawJson::kNone; k = j.node(j.node(k).next).next)
      r.types[c++].Add(j, j.node(j.node(k).next));
  }
  return r;
}

// The key's parts: names (decoded) and type sets, each list as "<tag><count>:" and its fields.
void AppendNames(std::string& key, const std::vector<std::string>& names) {
  key += 'k';
  key += std::to_string(names.size());
  key += ':';
  for (const std::string& n : names) AppendField(key, n);
}
void AppendTypes(std::string& key, const std::vector<TypeSet>& types) {
  key += 't';
  key += std::to_string(types.size());
  key += ':';
  for (const TypeSet& t : types) AppendField(key, t.ToString());
}

// dataframe_split: {"columns": [...], "data": [[one value per column], ...]} and nothing else.
bool ReadSplit(const RawJson& j, const Node& split, BatchInput& in, std::string& key) {
  if (split.type != Type::kObject || j.HasDuplicateKeys(split) || split.size != 2) return false;
  const Node* columns = j.Find(split, "columns");
  const Node* data = j.Find(split, "data");
  if (!columns || !data || columns->type != Type::kArray || data->type != Type::kArray) return false;
  if (columns->size == 0) return false;
  key += 'c';
  if (!AppendCanonical(j, *columns, key)) return false;
  std::vector<TypeSet> types(columns->size);
  in.row_text.reserve(data->size);
  for (uint32_t r = data->first; r != RawJson::kNone; r = j.node(r).next) {
    const Node& row = j.node(r);
    if (row.type != Type::kArray || row.size != columns->size) return false;
    size_t c = 0;
    for (uint32_t v = row.first; v != RawJson::kNone; v = j.node(v).next) types[c++].Add(j, j.node(v));
    in.row_text.emplace_back(j.Text(row));
  }
  in.rows = data->size;
  in.columns_text = std::string(j.Text(*columns));
  AppendTypes(key, types);
  return true;
}

bool ReadRecordsBody(const RawJson& j, const Node& records, BatchInput& in, std::string& key) {
  if (records.type != Type::kArray) return false;
  std::vector<const Node*> rows = j.Elements(records);
  std::optional<Records> r = ReadRecords(j, rows);
  if (!r) return false;
  for (const Node* row : rows) in.row_text.emplace_back(j.Text(*row));
  in.rows = rows.size();
  AppendNames(key, r->keys);
  AppendTypes(key, r->types);
  return true;
}

// instances / inputs: a list (of values, or of objects with the same keys) or an object of equally long lists.
bool ReadTensors(const RawJson& j, const Node& value, BatchInput& in, std::string& key) {
  if (value.type == Type::kArray) {
    std::vector<const Node*> rows = j.Elements(value);
    if (rows.empty()) return false;
    if (rows.front()->type == Type::kObject) {  // MLflow turns a list of objects into columns
      std::optional<Records> r = ReadRecords(j, rows);
      if (!r) return false;
      key += 'R';  // the form: records
      AppendNames(key, r->keys);
      AppendTypes(key, r->types);
    } else {
      TypeSet types;
      for (const Node* row : rows) {
        if (row->type == Type::kObject) return false;
        types.Add(j, *row);
      }
      key += 'L';  // a list of values
      AppendTypes(key, {types});
    }
    for (const Node* row : rows) in.row_text.emplace_back(j.Text(*row));
    in.rows = rows.size();
    return true;
  }
  if (value.type != Type::kObject || value.size == 0 || j.HasDuplicateKeys(value)) return false;
  std::optional<std::vector<std::string>> names = KeysOf(j, value);
  if (!names) return false;
  std::vector<TypeSet> types;
  size_t rows = 0;
  bool first = true;
  for (const auto& [k, v] : j.Members(value)) {
    if (v->type != Type::kArray) return false;
    if (first) {
      rows = v->size;
      first = false;
    } else if (v->size != rows) {
      return false;
    }
    TypeSet t;
    std::vector<std::string> elements;
    elements.reserve(v->size);
    for (const Node* e : j.Elements(*v)) {
      t.Add(j, *e);
      elements.emplace_back(j.Text(*e));
    }
    types.push_back(std::move(t));
    in.columns.push_back(std::move(elements));
    in.names.emplace_back(j.Text(*k));
  }
  in.rows = rows;
  key += 'C';  // an object of lists
  AppendNames(key, *names);
  AppendTypes(key, types);
  return true;
}

// "[a, b, ...]": the elements of `part(input)` of every input, in order.
template <typename Part>
void AppendList(std::string& out, const std::vector<const BatchInput*>& inputs, Part part) {
  out += '[';
  bool first = true;
  for (const BatchInput* in : inputs) {
    for (const std::string& element : part(*in)) {
      if (!first) out += ", ";
      out += element;
      first = false;
    }
  }
  out += ']';
}

}  // namespace

bool RowIndependentModel(std::string_view loader_module) {
  for (std::string_view m : {"mlflow.sklearn", "mlflow.xgboost", "mlflow.lightgbm", "mlflow.catboost", "mlflow.h2o"})
    if (loader_module == m) return true;
  return false;
}

std::optional<BatchInput> ParseForBatching(std::string_view content_type, std::string_view body) {
  if (!IsJsonContentType(content_type)) return std::nullopt;
  std::optional<RawJson> j = RawJson::Scan(body);
  if (!j || j->root().type != Type::kObject || j->HasDuplicateKeys(j->root())) return std::nullopt;

  BatchInput in;
  const Node* data = nullptr;
  const Node* params = nullptr;
  for (const auto& [k, v] : j->Members(j->root())) {
    std::optional<std::string> name = j->DecodeString(*k);
    if (!name) return std::nullopt;
    BatchInput::Kind kind;
    if (*name == "params") {
      params = v;
      continue;
    } else if (*name == "dataframe_split") {
      kind = BatchInput::Kind::kDataframeSplit;
    } else if (*name == "dataframe_records") {
      kind = BatchInput::Kind::kDataframeRecords;
    } else if (*name == "instances") {
      kind = BatchInput::Kind::kInstances;
    } else if (*name == "inputs") {
      kind = BatchInput::Kind::kInputs;
    } else {
      return std::nullopt;
    }
    if (data) return std::nullopt;  // two scoring keys: MLflow refuses it
    data = v;
    in.kind = kind;
  }
  if (!data) return std::nullopt;

  std::string key(1, static_cast<char>('0' + static_cast<int>(in.kind)));  // the kind, its parts, the params
  bool ok = false;
  switch (in.kind) {
    case BatchInput::Kind::kDataframeSplit: ok = ReadSplit(*j, *data, in, key); break;
    case BatchInput::Kind::kDataframeRecords: ok = ReadRecordsBody(*j, *data, in, key); break;
    case BatchInput::Kind::kInstances:
    case BatchInput::Kind::kInputs: ok = ReadTensors(*j, *data, in, key); break;
  }
  if (!ok || in.rows == 0) return std::nullopt;
  if (params) {
    key += 'p';
    if (!AppendCanonical(*j, *params, key)) return std::nullopt;
    in.params_text = std::string(j->Text(*params));
  }
  in.key = std::move(key);
  return in;
}

std::string MergeBodies(const std::vector<const BatchInput*>& inputs) {
  if (inputs.empty()) return "";
  const BatchInput& first = *inputs.front();
  size_t size = 64 + first.columns_text.size() + first.params_text.size();
  for (const BatchInput* in : inputs) {
    for (const std::string& r : in->row_text) size += r.size() + 2;
    for (const auto& c : in->columns)
      for (const std::string& e : c) size += e.size() + 2;
  }
  std::string out;
  out.reserve(size);
  const auto rows = [](const BatchInput& in) -> const std::vector<std::string>& { return in.row_text; };
  switch (first.kind) {
    case BatchInput::Kind::kDataframeSplit:
      out += R"({"dataframe_split": {"columns": )";
      out += first.columns_text;
      out += R"(, "data": )";
      AppendList(out, inputs, rows);
      out += '}';
      break;
    case BatchInput::Kind::kDataframeRecords:
      out += R"({"dataframe_records": )";
      AppendList(out, inputs, rows);
      break;
    case BatchInput::Kind::kInstances:
    case BatchInput::Kind::kInputs:
      out += first.kind == BatchInput::Kind::kInstances ? R"({"instances": )" : R"({"inputs": )";
      if (first.names.empty()) {
        AppendList(out, inputs, rows);
      } else {
        out += '{';
        for (size_t c = 0; c < first.names.size(); ++c) {
          if (c) out += ", ";
          out += first.names[c];
          out += ": ";
          AppendList(out, inputs, [&](const BatchInput& in) -> const std::vector<std::string>& {
            static const std::vector<std::string> kNone;
            return c < in.columns.size() ? in.columns[c] : kNone;
          });
        }
        out += '}';
      }
      break;
  }
  if (!first.params_text.empty()) {
    out += R"(, "params": )";
    out += first.params_text;
  }
  out += '}';
  return out;
}

std::optional<std::vector<std::string>> SplitAnswer(std::string_view answer, const std::vector<size_t>& rows) {
  size_t total = 0;
  for (size_t r : rows) total += r;
  if (rows.empty() || total == 0) return std::nullopt;
  std::optional<RawJson> j = RawJson::Scan(answer);
  if (!j || j->root().type != Type::kObject || j->root().size != 1) return std::nullopt;
  const auto members = j->Members(j->root());
  if (j->DecodeString(*members[0].first) != "predictions") return std::nullopt;
  const Node& predictions = *members[0].second;

  // The lists to cut, in the order they appear: the predictions, or each output of a multi-output answer.
  std::vector<std::vector<const Node*>> lists;
  if (predictions.type == Type::kArray) {
    lists.push_back(j->Elements(predictions));
  } else if (predictions.type == Type::kObject && predictions.size > 0) {
    for (const auto& [k, v] : j->Members(predictions)) {
      if (v->type != Type::kArray) return std::nullopt;
      lists.push_back(j->Elements(*v));
    }
  } else {
    return std::nullopt;
  }
  for (const auto& list : lists)
    if (list.size() != total) return std::nullopt;

  std::vector<std::string> out;
  out.reserve(rows.size());
  size_t start = 0;
  for (size_t r : rows) {
    std::string part;
    part.reserve(answer.size() * r / total + 64);
    size_t cursor = 0;
    for (const auto& list : lists) {
      // Everything up to the list's first element (its '['), then this input's elements with the separators
      // MLflow wrote between them; the text after the last element (']' and on) comes with the next cut.
      part.append(answer.substr(cursor, list.front()->begin - cursor));
      if (r > 0) {
        const size_t from = list[start]->begin;
        const size_t to = list[start + r - 1]->end;
        part.append(answer.substr(from, to - from));
      }
      cursor = list.back()->end;
    }
    part.append(answer.substr(cursor));
    out.push_back(std::move(part));
    start += r;
  }
  return out;
}

}  // namespace mlflow_bridge::internal
