#include "serve/raw_json.h"

#include <algorithm>
#include <charconv>
#include <limits>

namespace mlflow_bridge::internal {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Length of the well-formed UTF-8 sequence at s[i] (a non-ASCII lead byte), or 0.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;  // the range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k)
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  return n;
}

class Scanner {
 public:
  Scanner(std::string_view text, std::vector<RawJson::Node>& nodes, size_t max_depth)
      : s_(text), nodes_(nodes), max_depth_(max_depth) {}

  bool Run() {
    SkipSpace();
    if (!Value(0)) return false;
    SkipSpace();
    return pos_ == s_.size();
  }

 private:
  void SkipSpace() {
    while (pos_ < s_.size() && IsSpace(s_[pos_])) ++pos_;
  }
  bool Literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  uint32_t Add(RawJson::Type type) {
    RawJson::Node n;
    n.type = type;
    n.begin = static_cast<uint32_t>(pos_);
    nodes_.push_back(n);
    return static_cast<uint32_t>(nodes_.size() - 1);
  }
  void Finish(uint32_t i) { nodes_[i].end = static_cast<uint32_t>(pos_); }

  bool Value(size_t depth) {
    if (pos_ >= s_.size()) return false;
    switch (s_[pos_]) {
      case '{': return Object(depth);
      case '[': return Array(depth);
      case '"': return String();
      case 't': return Word(RawJson::Type::kTrue, "true");
      case 'f': return Word(RawJson::Type::kFalse, "false");
      case 'n': return Word(RawJson::Type::kNull, "null");
      case 'N': return NonFinite("NaN");
      case 'I': return NonFinite("Infinity");
      default: return Number();
    }
  }

  bool Word(RawJson::Type type, std::string_view word) {
    uint32_t i = Add(type);
    if (!Literal(word)) return false;
    Finish(i);
    return true;
  }

  bool NonFinite(std::string_view word) {
    uint32_t i = Add(RawJson::Type::kNumber);
    nodes_[i].number = RawJson::NumberKind::kNonFinite;
    if (!Literal(word)) return false;
    Finish(i);
    return true;
  }

  // Python's NUMBER_RE: (-?(?:0|[1-9]\d*))(\.\d+)?([eE][-+]?\d+)?, and -Infinity.
  bool Number() {
    uint32_t i = Add(RawJson::Type::kNumber);
    const size_t start = pos_;
    if (pos_ < s_.size() && s_[pos_] == '-') {
      ++pos_;
      if (s_.substr(pos_, 8) == "Infinity") {
        pos_ += 8;
        nodes_[i].number = RawJson::NumberKind::kNonFinite;
        Finish(i);
        return true;
      }
    }
    if (pos_ >= s_.size() || !IsDigit(s_[pos_])) return false;
    if (s_[pos_] == '0') {
      ++pos_;
    } else {
      while (pos_ < s_.size() && IsDigit(s_[pos_])) ++pos_;
    }
    bool is_float = false;
    if (pos_ + 1 < s_.size() && s_[pos_] == '.' && IsDigit(s_[pos_ + 1])) {
      is_float = true;
      ++pos_;
      while (pos_ < s_.size() && IsDigit(s_[pos_])) ++pos_;
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      size_t p = pos_ + 1;
      if (p < s_.size() && (s_[p] == '+' || s_[p] == '-')) ++p;
      if (p < s_.size() && IsDigit(s_[p])) {
        is_float = true;
        pos_ = p;
        while (pos_ < s_.size() && IsDigit(s_[pos_])) ++pos_;
      }
    }
    // Python stops at the longest match ("1." is 1 followed by junk): what follows is checked by the caller.
    Finish(i);
    if (is_float) {
      nodes_[i].number = RawJson::NumberKind::kFloat;
    } else {
      const char* first = s_.data() + start;
      const char* last = s_.data() + pos_;
      int64_t v;
      uint64_t u;
      if (std::from_chars(first, last, v).ec == std::errc()) {
        nodes_[i].number = RawJson::NumberKind::kInt64;
      } else if (*first != '-' && std::from_chars(first, last, u).ec == std::errc()) {
        nodes_[i].number = RawJson::NumberKind::kUint64;
      } else {
        nodes_[i].number = RawJson::NumberKind::kBigInt;
      }
    }
    return true;
  }

  bool String() {
    uint32_t i = Add(RawJson::Type::kString);
    ++pos_;  // the opening quote
    while (pos_ < s_.size()) {
      const unsigned char c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        ++pos_;
        Finish(i);
        return true;
      }
      if (c < 0x20) return false;  // json.loads is strict about control characters
      if (c == '\\') {
        if (pos_ + 1 >= s_.size()) return false;
        const char e = s_[pos_ + 1];
        if (e == 'u') {
          if (pos_ + 6 > s_.size()) return false;
          for (size_t k = 2; k < 6; ++k)
            if (HexValue(s_[pos_ + k]) < 0) return false;
          pos_ += 6;
        } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
          pos_ += 2;
        } else {
          return false;
        }
      } else if (c < 0x80) {
        ++pos_;
      } else {
        size_t n = Utf8SequenceLength(s_, pos_);
        if (n == 0) return false;
        pos_ += n;
      }
    }
    return false;
  }

  bool Array(size_t depth) {
    if (depth >= max_depth_) return false;
    uint32_t i = Add(RawJson::Type::kArray);
    ++pos_;
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      Finish(i);
      return true;
    }
    uint32_t prev = RawJson::kNone;
    uint32_t count = 0;
    while (true) {
      SkipSpace();
      const auto child = static_cast<uint32_t>(nodes_.size());
      if (!Value(depth + 1)) return false;
      Link(i, prev, child);
      prev = child;
      ++count;
      SkipSpace();
      if (pos_ >= s_.size()) return false;
      if (s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (s_[pos_] != ']') return false;
      ++pos_;
      break;
    }
    nodes_[i].size = count;
    Finish(i);
    return true;
  }

  bool Object(size_t depth) {
    if (depth >= max_depth_) return false;
    uint32_t i = Add(RawJson::Type::kObject);
    ++pos_;
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      Finish(i);
      return true;
    }
    uint32_t prev = RawJson::kNone;
    uint32_t count = 0;
    while (true) {
      SkipSpace();
      if (pos_ >= s_.size() || s_[pos_] != '"') return false;
      const auto key = static_cast<uint32_t>(nodes_.size());
      if (!String()) return false;
      Link(i, prev, key);
      SkipSpace();
      if (pos_ >= s_.size() || s_[pos_] != ':') return false;
      ++pos_;
      SkipSpace();
      const auto value = static_cast<uint32_t>(nodes_.size());
      if (!Value(depth + 1)) return false;
      nodes_[key].next = value;
      prev = value;
      ++count;
      SkipSpace();
      if (pos_ >= s_.size()) return false;
      if (s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (s_[pos_] != '}') return false;
      ++pos_;
      break;
    }
    nodes_[i].size = count;
    Finish(i);
    return true;
  }

  void Link(uint32_t parent, uint32_t prev, uint32_t child) {
    if (prev == RawJson::kNone) {
      nodes_[parent].first = child;
    } else {
      nodes_[prev].next = child;
    }
  }

  std::string_view s_;
  std::vector<RawJson::Node>& nodes_;
  size_t max_depth_;
  size_t pos_ = 0;
};

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace

std::optional<RawJson> RawJson::Scan(std::string_view text, size_t max_depth) {
  if (text.size() >= std::numeric_limits<uint32_t>::max()) return std::nullopt;
  RawJson out;
  out.text_ = text;
  out.nodes_.reserve(text.size() / 8 + 8);  // a value takes a few bytes at least: fewer regrowths
  Scanner scanner(text, out.nodes_, max_depth);
  if (!scanner.Run()) return std::nullopt;
  return out;
}

std::vector<const RawJson::Node*> RawJson::Elements(const Node& array) const {
  std::vector<const Node*> out;
  if (array.type != Type::kArray) return out;
  out.reserve(array.size);
  for (uint32_t i = array.first; i != kNone; i = nodes_[i].next) out.push_back(&nodes_[i]);
  return out;
}

std::vector<std::pair<const RawJson::Node*, const RawJson::Node*>> RawJson::Members(const Node& object) const {
  std::vector<std::pair<const Node*, const Node*>> out;
  if (object.type != Type::kObject) return out;
  out.reserve(object.size);
  for (uint32_t k = object.first; k != kNone; k = nodes_[nodes_[k].next].next)
    out.emplace_back(&nodes_[k], &nodes_[nodes_[k].next]);
  return out;
}

const RawJson::Node* RawJson::Find(const Node& object, std::string_view key) const {
  const Node* found = nullptr;
  for (const auto& [k, v] : Members(object)) {
    std::optional<std::string> name = DecodeString(*k);
    if (name && *name == key) found = v;
  }
  return found;
}

bool RawJson::HasDuplicateKeys(const Node& object) const {
  std::vector<std::string> keys;
  for (const auto& [k, v] : Members(object)) {
    std::optional<std::string> name = DecodeString(*k);
    if (!name) return true;  // undecodable: cannot tell, say so
    keys.push_back(std::move(*name));
  }
  std::sort(keys.begin(), keys.end());
  return std::adjacent_find(keys.begin(), keys.end()) != keys.end();
}

std::optional<std::string> RawJson::DecodeString(const Node& string) const {
  if (string.type != Type::kString) return std::nullopt;
  std::string_view s = Text(string);
  s = s.substr(1, s.size() - 2);
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (s[i] != '\\') {
      out += s[i++];
      continue;
    }
    const char e = s[i + 1];
    if (e != 'u') {
      switch (e) {
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        default: out += e;  // " \ /
      }
      i += 2;
      continue;
    }
    const auto hex4 = [&](size_t at) {
      uint32_t v = 0;
      for (size_t k = 0; k < 4; ++k) v = v * 16 + static_cast<uint32_t>(HexValue(s[at + k]));
      return v;
    };
    uint32_t cp = hex4(i + 2);
    i += 6;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (i + 6 > s.size() || s[i] != '\\' || s[i + 1] != 'u') return std::nullopt;
      uint32_t low = hex4(i + 2);
      if (low < 0xDC00 || low > 0xDFFF) return std::nullopt;
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
      i += 6;
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
      return std::nullopt;
    }
    AppendUtf8(out, cp);
  }
  return out;
}

}  // namespace mlflow_bridge::internal
