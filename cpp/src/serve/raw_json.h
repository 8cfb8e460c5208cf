// JSON text scanned into spans, as Python's json.loads reads it (so MLflow's answers with their bare NaN,
// Infinity and -Infinity are JSON here), without converting a single value: batching (serve/batching.h) cuts
// and joins bodies and answers at these spans, so that every number and string keeps its original bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mlflow_bridge::internal {

class RawJson {
 public:
  enum class Type : uint8_t { kNull, kFalse, kTrue, kNumber, kString, kArray, kObject };
  // What json.loads makes of a number: an int (by its range: numpy and pandas type them differently) or a float.
  enum class NumberKind : uint8_t {
    kInt64,     // an integer in [-2^63, 2^63)
    kUint64,    // an integer in [2^63, 2^64)
    kBigInt,    // any other integer
    kFloat,     // a fraction or an exponent
    kNonFinite  // NaN, Infinity, -Infinity
  };
  static constexpr uint32_t kNone = 0xFFFFFFFFu;

  struct Node {
    Type type = Type::kNull;
    NumberKind number = NumberKind::kInt64;  // numbers only
    uint32_t begin = 0;                      // the value's bytes: [begin, end) of the text
    uint32_t end = 0;
    uint32_t size = 0;       // arrays: elements; objects: members
    uint32_t first = kNone;  // arrays: the first element; objects: the first key (each key's next is its value)
    uint32_t next = kNone;   // the next element, key or value of the parent
  };

  // The text scanned, or nullopt when json.loads would refuse it: not one value surrounded by white space
  // (space, tab, CR, LF), bad UTF-8 or a control character in a string, a bad escape, numbers outside JSON's
  // grammar, words other than true/false/null/NaN/Infinity/-Infinity, nesting deeper than `max_depth` (Python's
  // recursion limit would stop json.loads) or a text of 4 GiB or more. Duplicate object keys are allowed (Python
  // keeps the last one; see HasDuplicateKeys).
  static std::optional<RawJson> Scan(std::string_view text, size_t max_depth = 900);

  std::string_view text() const { return text_; }
  const Node& root() const { return nodes_[0]; }
  const Node& node(uint32_t i) const { return nodes_[i]; }
  uint32_t index(const Node& n) const { return static_cast<uint32_t>(&n - nodes_.data()); }
  // The value's own bytes.
  std::string_view Text(const Node& n) const { return text_.substr(n.begin, n.end - n.begin); }

  // The elements of an array (empty for anything else).
  std::vector<const Node*> Elements(const Node& array) const;
  // The members of an object as (key, value) pairs, in the order written (empty for anything else).
  std::vector<std::pair<const Node*, const Node*>> Members(const Node& object) const;
  // The value of the last member named `key` (an object's keys compared decoded), or nullptr.
  const Node* Find(const Node& object, std::string_view key) const;
  // Whether two members of the object have the same (decoded) key.
  bool HasDuplicateKeys(const Node& object) const;

  // A string node's value, decoded (escapes resolved; a lone surrogate escape, which Python keeps but UTF-8
  // cannot hold, gives nullopt).
  std::optional<std::string> DecodeString(const Node& string) const;

 private:
  std::string_view text_;
  std::vector<Node> nodes_;
};

}  // namespace mlflow_bridge::internal
