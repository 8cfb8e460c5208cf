#include "serve/batching.h"

#include <algorithm>
#include <cctype>
#include <set>

#include <nlohmann/json.hpp>

#include "serve/raw_json.h"

namespace mlflow_bridge::internal {
namespace {

using Node = RawJson::Node;
using Type = RawJson::Type;
using nlohmann::json;

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

// The type of a value as pandas and numpy see it, as a short text: one letter for a scalar, arrays by length
// and the set of their elements' types, objects by their keys (as written) and their values' types.
void AppendSignature(const RawJson& j, const Node& n, std::string& out) {
  switch (n.type) {
    case Type::kNull: out += 'n'; return;
    case Type::kFalse:
    case Type::kTrue: out += 'b'; return;
    case Type::kString: out += 's'; return;
    case Type::kNumber:
      switch (n.number) {
        case RawJson::NumberKind::kInt64: out += 'i'; return;
        case RawJson::NumberKind::kUint64: out += 'u'; return;
        case RawJson::NumberKind::kBigInt: out += 'I'; return;
        case RawJson::NumberKind::kFloat:
        case RawJson::NumberKind::kNonFinite: out += 'f'; return;
      }
      return;
    case Type::kArray: {
      std::set<std::string> types;
      for (const Node* e : j.Elements(n)) {
        std::string t;
        AppendSignature(j, *e, t);
        types.insert(std::move(t));
      }
      out += '[';
      out += std::to_string(n.size);
      out += ':';
      bool first = true;
      for (const std::string& t : types) {
        if (!first) out += ',';
        out += t;
        first = false;
      }
      out += ']';
      return;
    }
    case Type::kObject:
      out += '{';
      for (const auto& [k, v] : j.Members(n)) {
        out += j.Text(*k);
        out += ':';
        AppendSignature(j, *v, out);
        out += ',';
      }
      out += '}';
      return;
  }
}

// The set of value types of one column (or of a whole list), in the key as a sorted list of signatures.
class TypeSet {
 public:
  void Add(const RawJson& j, const Node& n) {
    std::string t;
    AppendSignature(j, n, t);
    types_.insert(std::move(t));
  }
  json ToJson() const { return json(std::vector<std::string>(types_.begin(), types_.end())); }

 private:
  std::set<std::string> types_;
};

// The canonical JSON of a value (nlohmann's dump: sorted keys), or nullopt when nlohmann cannot read it
// (NaN, Infinity, a lone surrogate): such a value is not compared, its request goes alone.
std::optional<std::string> Canonical(std::string_view text) {
  json v = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (v.is_discarded()) return std::nullopt;
  return v.dump();
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
    for (const auto& [k, v] : j.Members(*row)) r.types[c++].Add(j, *v);
  }
  return r;
}

json TypesJson(const std::vector<TypeSet>& types) {
  json out = json::array();
  for (const TypeSet& t : types) out.push_back(t.ToJson());
  return out;
}

// dataframe_split: {"columns": [...], "data": [[one value per column], ...]} and nothing else.
bool ReadSplit(const RawJson& j, const Node& split, BatchInput& in, json& key) {
  if (split.type != Type::kObject || j.HasDuplicateKeys(split) || split.size != 2) return false;
  const Node* columns = j.Find(split, "columns");
  const Node* data = j.Find(split, "data");
  if (!columns || !data || columns->type != Type::kArray || data->type != Type::kArray) return false;
  std::optional<std::string> canonical_columns = Canonical(j.Text(*columns));
  if (!canonical_columns || columns->size == 0) return false;
  std::vector<TypeSet> types(columns->size);
  for (const Node* row : j.Elements(*data)) {
    if (row->type != Type::kArray || row->size != columns->size) return false;
    size_t c = 0;
    for (const Node* v : j.Elements(*row)) types[c++].Add(j, *v);
    in.row_text.emplace_back(j.Text(*row));
  }
  in.rows = data->size;
  in.columns_text = std::string(j.Text(*columns));
  key["columns"] = json::parse(*canonical_columns);
  key["types"] = TypesJson(types);
  return true;
}

bool ReadRecordsBody(const RawJson& j, const Node& records, BatchInput& in, json& key) {
  if (records.type != Type::kArray) return false;
  std::vector<const Node*> rows = j.Elements(records);
  std::optional<Records> r = ReadRecords(j, rows);
  if (!r) return false;
  for (const Node* row : rows) in.row_text.emplace_back(j.Text(*row));
  in.rows = rows.size();
  key["keys"] = r->keys;
  key["types"] = TypesJson(r->types);
  return true;
}

// instances / inputs: a list (of values, or of objects with the same keys) or an object of equally long lists.
bool ReadTensors(const RawJson& j, const Node& value, BatchInput& in, json& key) {
  if (value.type == Type::kArray) {
    std::vector<const Node*> rows = j.Elements(value);
    if (rows.empty()) return false;
    if (rows.front()->type == Type::kObject) {  // MLflow turns a list of objects into columns
      std::optional<Records> r = ReadRecords(j, rows);
      if (!r) return false;
      key["form"] = "records";
      key["keys"] = r->keys;
      key["types"] = TypesJson(r->types);
    } else {
      TypeSet types;
      for (const Node* row : rows) {
        if (row->type == Type::kObject) return false;
        types.Add(j, *row);
      }
      key["form"] = "list";
      key["types"] = json::array({types.ToJson()});
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
  key["form"] = "columns";
  key["keys"] = *names;
  key["types"] = TypesJson(types);
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

  json key = json::object();
  key["kind"] = static_cast<int>(in.kind);
  if (params) {
    std::optional<std::string> canonical = Canonical(j->Text(*params));
    if (!canonical) return std::nullopt;
    key["params"] = *canonical;
    in.params_text = std::string(j->Text(*params));
  }
  bool ok = false;
  switch (in.kind) {
    case BatchInput::Kind::kDataframeSplit: ok = ReadSplit(*j, *data, in, key); break;
    case BatchInput::Kind::kDataframeRecords: ok = ReadRecordsBody(*j, *data, in, key); break;
    case BatchInput::Kind::kInstances:
    case BatchInput::Kind::kInputs: ok = ReadTensors(*j, *data, in, key); break;
  }
  if (!ok || in.rows == 0) return std::nullopt;
  in.key = key.dump();
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
