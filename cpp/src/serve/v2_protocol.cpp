#include "serve/v2_protocol.h"

#include <cstdint>
#include <limits>
#include <vector>

#include <nlohmann/json.hpp>

#include "serve/raw_json.h"

namespace mlflow_bridge::internal {
namespace {

using nlohmann::json;
// Requests keep their order: the inputs of {"inputs": {name: ...}} and the params come out as they came in.
using ojson = nlohmann::ordered_json;

// ---------------------------------------------------------------------------------------------------------
// Requests

struct Datatype {
  std::string_view name;
  enum class Kind { kBool, kInt, kUint, kFloat, kBytes } kind;
  int64_t min = 0;  // integers: the range
  uint64_t max = 0;
};

const Datatype kDatatypes[] = {
    {"BOOL", Datatype::Kind::kBool},
    {"UINT8", Datatype::Kind::kUint, 0, 0xFFu},
    {"UINT16", Datatype::Kind::kUint, 0, 0xFFFFu},
    {"UINT32", Datatype::Kind::kUint, 0, 0xFFFFFFFFu},
    {"UINT64", Datatype::Kind::kUint, 0, std::numeric_limits<uint64_t>::max()},
    {"INT8", Datatype::Kind::kInt, -128, 127},
    {"INT16", Datatype::Kind::kInt, -32768, 32767},
    {"INT32", Datatype::Kind::kInt, std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()},
    {"INT64", Datatype::Kind::kInt, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()},
    {"FP16", Datatype::Kind::kFloat},
    {"FP32", Datatype::Kind::kFloat},
    {"FP64", Datatype::Kind::kFloat},
    {"BYTES", Datatype::Kind::kBytes},
};

const Datatype* FindDatatype(std::string_view name) {
  for (const Datatype& d : kDatatypes)
    if (d.name == name) return &d;
  return nullptr;
}

bool Fits(const ojson& v, const Datatype& d) {
  switch (d.kind) {
    case Datatype::Kind::kBool: return v.is_boolean();
    case Datatype::Kind::kFloat: return v.is_number();
    case Datatype::Kind::kBytes: return v.is_string();
    case Datatype::Kind::kUint:
      if (v.is_number_unsigned()) return v.get<uint64_t>() <= d.max;
      return v.is_number_integer() && v.get<int64_t>() >= 0 && static_cast<uint64_t>(v.get<int64_t>()) <= d.max;
    case Datatype::Kind::kInt:
      if (v.is_number_unsigned()) return v.get<uint64_t>() <= d.max;
      return v.is_number_integer() && v.get<int64_t>() >= d.min && v.get<int64_t>() <= static_cast<int64_t>(d.max);
  }
  return false;
}

std::string Describe(const ojson& v) {
  std::string text = v.dump();
  return text.size() > 40 ? text.substr(0, 40) + "..." : text;
}

// One request input, checked: its values flattened row-major.
struct Tensor {
  std::string name;
  std::vector<uint64_t> shape;
  std::vector<const ojson*> values;
};

void Flatten(const ojson& data, std::vector<const ojson*>& out) {
  if (data.is_array()) {
    for (const ojson& e : data) Flatten(e, out);
  } else {
    out.push_back(&data);
  }
}

Status ReadInput(const ojson& input, size_t index, Tensor& t) {
  const std::string where = "v2 inference request: inputs[" + std::to_string(index) + "]";
  if (!input.is_object()) return InvalidParameterError(where + " is not an object");
  const auto name = input.find("name");
  if (name == input.end() || !name->is_string() || name->get<std::string>().empty())
    return InvalidParameterError(where + " has no \"name\" (a non-empty string)");
  t.name = name->get<std::string>();
  const std::string what = "v2 inference request: input '" + t.name + "'";
  const auto shape = input.find("shape");
  if (shape == input.end() || !shape->is_array())
    return InvalidParameterError(what + " has no \"shape\" (a list of dimensions, e.g. [2, 3])");
  uint64_t count = 1;
  for (const ojson& d : *shape) {
    if (!d.is_number_integer() || (!d.is_number_unsigned() && d.get<int64_t>() < 0))
      return InvalidParameterError(what + ": \"shape\" " + Describe(*shape) +
                                   " must hold non-negative integers (no -1 in a request)");
    const uint64_t n = d.get<uint64_t>();
    if (n != 0 && count > std::numeric_limits<uint32_t>::max() / n)
      return InvalidParameterError(what + ": \"shape\" " + Describe(*shape) + " is too large");
    count *= n;
    t.shape.push_back(n);
  }
  const auto datatype = input.find("datatype");
  if (datatype == input.end() || !datatype->is_string())
    return InvalidParameterError(what +
                                 " has no \"datatype\" (BOOL, UINT8..UINT64, INT8..INT64, FP16, FP32, FP64 or BYTES)");
  const Datatype* type = FindDatatype(datatype->get<std::string>());
  if (!type)
    return InvalidParameterError(what + ": datatype " + Describe(*datatype) +
                                 " is not one of BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, "
                                 "FP32, FP64, BYTES");
  const auto data = input.find("data");
  if (data == input.end()) return InvalidParameterError(what + " has no \"data\"");
  Flatten(*data, t.values);
  if (t.values.size() != count)
    return InvalidParameterError(what + ": \"shape\" " + Describe(*shape) + " holds " + std::to_string(count) +
                                 " values but \"data\" has " + std::to_string(t.values.size()));
  for (const ojson* v : t.values) {
    if (!Fits(*v, *type))
      return InvalidParameterError(what + ": " + Describe(*v) + " is not a value of datatype " + std::string(type->name));
  }
  return OkStatus();
}

// The values [offset, offset + product(shape[dim:])) nested by shape[dim:].
ojson Nest(const Tensor& t, size_t dim, size_t& offset) {
  if (dim == t.shape.size()) return *t.values[offset++];
  ojson out = ojson::array();
  for (uint64_t i = 0; i < t.shape[dim]; ++i) out.push_back(Nest(t, dim + 1, offset));
  return out;
}
ojson Nest(const Tensor& t) {
  size_t offset = 0;
  return Nest(t, 0, offset);
}

enum class SchemaKind { kNone, kColumns, kTensors };
SchemaKind KindOfSchema(std::string_view schema_json) {
  if (schema_json.empty()) return SchemaKind::kNone;
  ojson schema = ojson::parse(schema_json, nullptr, false);
  if (!schema.is_array() || schema.empty()) return SchemaKind::kNone;
  for (const ojson& spec : schema)
    if (spec.is_object() && spec.value("type", ojson()) == "tensor") return SchemaKind::kTensors;
  return SchemaKind::kColumns;
}

// ---------------------------------------------------------------------------------------------------------
// Answers

using Node = RawJson::Node;
using Type = RawJson::Type;

std::string Quote(std::string_view s) { return json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace); }

// The shape of a value's nesting when it is a regular tensor (the elements of every list of the same shape),
// [] for a scalar (an object counts as one), or nullopt for ragged lists.
std::optional<std::vector<size_t>> ShapeOf(const RawJson& j, const Node& n) {
  if (n.type != Type::kArray) return std::vector<size_t>{};
  std::optional<std::vector<size_t>> inner;
  for (const Node* e : j.Elements(n)) {
    std::optional<std::vector<size_t>> s = ShapeOf(j, *e);
    if (!s || (inner && *s != *inner)) return std::nullopt;
    if (!inner) inner = std::move(s);
  }
  std::vector<size_t> out{n.size};
  if (inner) out.insert(out.end(), inner->begin(), inner->end());
  return out;
}

// The leaves of a regular tensor of `rank` dimensions, row-major.
void Leaves(const RawJson& j, const Node& n, size_t rank, std::vector<const Node*>& out) {
  if (rank == 0) {
    out.push_back(&n);
    return;
  }
  for (const Node* e : j.Elements(n)) Leaves(j, *e, rank - 1, out);
}

struct Output {
  std::string name;
  std::vector<size_t> shape;
  std::vector<const Node*> leaves;
  bool json_text = false;  // ragged: the leaves are the rows, each given as its JSON text
};

// `rows` as a tensor whose first dimension is rows.size().
Output MakeOutput(const RawJson& j, std::string name, const std::vector<const Node*>& rows) {
  Output out;
  out.name = std::move(name);
  out.shape.push_back(rows.size());
  std::optional<std::vector<size_t>> inner;
  bool regular = true;
  for (const Node* r : rows) {
    std::optional<std::vector<size_t>> s = ShapeOf(j, *r);
    if (!s || (inner && *s != *inner)) {
      regular = false;
      break;
    }
    if (!inner) inner = std::move(s);
  }
  if (!regular) {
    out.json_text = true;
    out.leaves = rows;
    return out;
  }
  if (inner) out.shape.insert(out.shape.end(), inner->begin(), inner->end());
  const size_t rank = inner ? inner->size() : 0;
  for (const Node* r : rows) Leaves(j, *r, rank, out.leaves);
  return out;
}

std::string DatatypeOf(const RawJson& j, const Output& o) {
  if (o.json_text) return "BYTES";
  bool any = false, all_bool = true, all_int = true, all_number = true, all_string = true;
  bool negative = false, above_int64 = false;
  for (const Node* n : o.leaves) {
    if (n->type == Type::kNull) continue;
    any = true;
    const bool is_number = n->type == Type::kNumber;
    const bool is_int = is_number && (n->number == RawJson::NumberKind::kInt64 || n->number == RawJson::NumberKind::kUint64);
    all_bool &= n->type == Type::kTrue || n->type == Type::kFalse;
    all_number &= is_number;
    all_int &= is_int;
    all_string &= n->type == Type::kString;
    above_int64 |= is_int && n->number == RawJson::NumberKind::kUint64;
    negative |= is_int && j.text()[n->begin] == '-';
  }
  if (!any || all_string) return "BYTES";
  if (all_bool) return "BOOL";
  if (all_int) return !above_int64 ? "INT64" : negative ? "FP64" : "UINT64";
  if (all_number) return "FP64";
  return "BYTES";
}

void AppendOutput(std::string& out, const RawJson& j, const Output& o) {
  const std::string datatype = DatatypeOf(j, o);
  out += "{\"name\":";
  out += Quote(o.name);
  out += ",\"shape\":[";
  for (size_t i = 0; i < o.shape.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(o.shape[i]);
  }
  out += "],\"datatype\":\"";
  out += datatype;
  out += "\",\"data\":[";
  const bool as_text = datatype == "BYTES";
  for (size_t i = 0; i < o.leaves.size(); ++i) {
    if (i) out += ',';
    const Node& n = *o.leaves[i];
    if (as_text && n.type != Type::kString && n.type != Type::kNull) {
      out += Quote(j.Text(n));  // a number, bool, list or object among strings: its JSON text
    } else {
      out += j.Text(n);
    }
  }
  out += "]}";
}

// ---------------------------------------------------------------------------------------------------------
// Metadata

std::string DatatypeOfColumn(const json& type) {
  if (!type.is_string()) return "BYTES";
  const std::string t = type.get<std::string>();
  if (t == "boolean") return "BOOL";
  if (t == "integer") return "INT32";
  if (t == "long") return "INT64";
  if (t == "float") return "FP32";
  if (t == "double") return "FP64";
  return "BYTES";  // string, binary, datetime, array, object, map, any
}

std::string DatatypeOfDtype(const json& dtype) {
  if (!dtype.is_string()) return "BYTES";
  const std::string d = dtype.get<std::string>();
  static const std::pair<std::string_view, std::string_view> kMap[] = {
      {"bool", "BOOL"},     {"int8", "INT8"},    {"int16", "INT16"},   {"int32", "INT32"},
      {"int64", "INT64"},   {"uint8", "UINT8"},  {"uint16", "UINT16"}, {"uint32", "UINT32"},
      {"uint64", "UINT64"}, {"float16", "FP16"}, {"float32", "FP32"},  {"float64", "FP64"},
  };
  for (const auto& [numpy, v2] : kMap)
    if (d == numpy) return std::string(v2);
  return "BYTES";  // str, bytes, object, datetime64[...]
}

json MetadataTensors(std::string_view schema_json, bool inputs) {
  json out = json::array();
  if (schema_json.empty()) return out;
  json schema = json::parse(schema_json, nullptr, false);
  if (!schema.is_array()) return out;
  for (size_t i = 0; i < schema.size(); ++i) {
    const json& spec = schema[i];
    if (!spec.is_object()) continue;
    json t = json::object();
    const auto name = spec.find("name");
    if (name != spec.end() && name->is_string()) {
      t["name"] = *name;
    } else if (inputs) {
      t["name"] = "input-" + std::to_string(i);
    } else {
      t["name"] = schema.size() == 1 ? std::string("predictions") : "output-" + std::to_string(i);
    }
    if (spec.value("type", json()) == "tensor") {
      const auto found = spec.find("tensor-spec");
      const json ts = found != spec.end() && found->is_object() ? *found : json::object();
      t["datatype"] = DatatypeOfDtype(ts.value("dtype", json()));
      t["shape"] = ts.contains("shape") && ts["shape"].is_array() ? ts["shape"] : json::array({-1});
    } else {
      t["datatype"] = DatatypeOfColumn(spec.value("type", json()));
      t["shape"] = json::array({-1});
    }
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace

StatusOr<std::string> V2RequestToMlflow(std::string_view body, std::string_view input_schema_json,
                                        std::optional<std::string>* id) {
  ojson request = ojson::parse(body, nullptr, /*allow_exceptions=*/false);
  if (request.is_discarded()) return InvalidParameterError("v2 inference request: the body is not JSON");
  if (!request.is_object()) return InvalidParameterError("v2 inference request: the body must be an object with \"inputs\"");
  if (id) id->reset();
  if (const auto i = request.find("id"); i != request.end()) {
    if (!i->is_string()) return InvalidParameterError("v2 inference request: \"id\" must be a string");
    if (id) *id = i->get<std::string>();
  }
  const auto inputs = request.find("inputs");
  if (inputs == request.end() || !inputs->is_array() || inputs->empty())
    return InvalidParameterError(
        "v2 inference request: \"inputs\" must be a non-empty list of {\"name\", \"shape\", \"datatype\", \"data\"}");

  std::vector<Tensor> tensors(inputs->size());
  for (size_t i = 0; i < inputs->size(); ++i) {
    MLFLOW_BRIDGE_RETURN_IF_ERROR(ReadInput((*inputs)[i], i, tensors[i]));
    for (size_t k = 0; k < i; ++k)
      if (tensors[k].name == tensors[i].name)
        return InvalidParameterError("v2 inference request: two inputs are named '" + tensors[i].name + "'");
  }

  ojson mlflow = ojson::object();
  const SchemaKind schema = KindOfSchema(input_schema_json);
  const auto same_rows = [&](bool scalars_only) {
    for (const Tensor& t : tensors) {
      if (t.shape.empty() || t.shape[0] != tensors[0].shape[0]) return false;
      if (scalars_only && !(t.shape.size() == 1 || (t.shape.size() == 2 && t.shape[1] == 1))) return false;
    }
    return true;
  };
  const bool as_table = schema == SchemaKind::kColumns ? same_rows(false) : schema == SchemaKind::kNone && same_rows(true);
  if (as_table) {
    ojson columns = ojson::array();
    for (const Tensor& t : tensors) columns.push_back(t.name);
    const uint64_t rows = tensors[0].shape[0];
    ojson data = ojson::array();
    std::vector<ojson> nested(tensors.size());
    for (size_t c = 0; c < tensors.size(); ++c) nested[c] = Nest(tensors[c]);
    for (uint64_t r = 0; r < rows; ++r) {
      ojson row = ojson::array();
      for (size_t c = 0; c < tensors.size(); ++c) {
        const Tensor& t = tensors[c];
        const ojson& cell = nested[c][r];
        // [N, 1]: the row's single value; [N]: the value; [N, ...]: the row's nested list.
        row.push_back(t.shape.size() == 2 && t.shape[1] == 1 ? cell[0] : cell);
      }
      data.push_back(std::move(row));
    }
    mlflow["dataframe_split"] = {{"columns", std::move(columns)}, {"data", std::move(data)}};
  } else if (tensors.size() == 1) {
    mlflow["inputs"] = Nest(tensors[0]);
  } else {
    ojson named = ojson::object();
    for (const Tensor& t : tensors) named[t.name] = Nest(t);
    mlflow["inputs"] = std::move(named);
  }

  if (const auto p = request.find("parameters"); p != request.end() && !p->is_null()) {
    if (!p->is_object()) return InvalidParameterError("v2 inference request: \"parameters\" must be an object");
    ojson params = *p;
    params.erase("content_type");  // MLServer's codec hints, not the model's
    params.erase("headers");
    if (!params.empty()) mlflow["params"] = std::move(params);
  }
  return mlflow.dump(-1, ' ', false, ojson::error_handler_t::replace);
}

StatusOr<std::string> MlflowAnswerToV2(std::string_view answer, std::string_view model_name, std::string_view model_version,
                                       const std::optional<std::string>& request_id) {
  std::optional<RawJson> j = RawJson::Scan(answer);
  if (!j) return InternalError("the model server's answer is not JSON, so it cannot be given as v2 outputs");
  const Node* predictions = j->root().type == Type::kObject ? j->Find(j->root(), "predictions") : nullptr;
  if (!predictions)
    return InternalError("the model server's answer has no \"predictions\", so it cannot be given as v2 outputs");

  std::vector<Output> outputs;
  const std::vector<const Node*> elements = j->Elements(*predictions);
  bool records = predictions->type == Type::kArray && !elements.empty();
  for (const Node* e : elements) records &= e->type == Type::kObject;
  if (records) {
    // A DataFrame's records: every record has the DataFrame's columns, in order.
    std::vector<std::pair<std::string, std::string_view>> columns;  // decoded name, key text
    for (const auto& [k, v] : j->Members(*elements.front())) {
      std::optional<std::string> name = j->DecodeString(*k);
      columns.emplace_back(name.value_or(std::string(j->Text(*k))), j->Text(*k));
    }
    std::vector<std::vector<std::pair<const Node*, const Node*>>> rows;
    rows.reserve(elements.size());
    bool same_keys = true;
    for (const Node* e : elements) {
      rows.push_back(j->Members(*e));
      const auto& members = rows.back();
      if (members.size() != columns.size()) same_keys = false;
      for (size_t c = 0; same_keys && c < members.size(); ++c) same_keys &= j->Text(*members[c].first) == columns[c].second;
    }
    if (same_keys) {
      for (size_t c = 0; c < columns.size(); ++c) {
        std::vector<const Node*> values;
        values.reserve(rows.size());
        for (const auto& members : rows) values.push_back(members[c].second);
        outputs.push_back(MakeOutput(*j, columns[c].first, values));
      }
    } else {
      outputs.push_back(MakeOutput(*j, "predictions", elements));  // ragged records: each one's JSON text
    }
  } else if (predictions->type == Type::kArray) {
    outputs.push_back(MakeOutput(*j, "predictions", elements));
  } else if (predictions->type == Type::kObject) {
    for (const auto& [k, v] : j->Members(*predictions)) {
      std::string name = j->DecodeString(*k).value_or(std::string(j->Text(*k)));
      if (v->type == Type::kArray) {
        outputs.push_back(MakeOutput(*j, std::move(name), j->Elements(*v)));
      } else {
        outputs.push_back(MakeOutput(*j, std::move(name), {v}));
      }
    }
  } else {
    outputs.push_back(MakeOutput(*j, "predictions", {predictions}));
  }

  std::string out = "{\"model_name\":" + Quote(model_name);
  if (!model_version.empty()) out += ",\"model_version\":" + Quote(model_version);
  if (request_id) out += ",\"id\":" + Quote(*request_id);
  out += ",\"outputs\":[";
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (i) out += ',';
    AppendOutput(out, *j, outputs[i]);
  }
  out += "]}";
  return out;
}

std::string V2ModelMetadata(std::string_view name, std::string_view version, std::string_view inputs_schema_json,
                            std::string_view outputs_schema_json) {
  json out = json::object();
  out["name"] = std::string(name);
  if (!version.empty()) out["versions"] = json::array({std::string(version)});
  out["platform"] = "mlflow";
  out["inputs"] = MetadataTensors(inputs_schema_json, /*inputs=*/true);
  out["outputs"] = MetadataTensors(outputs_schema_json, /*inputs=*/false);
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace mlflow_bridge::internal
