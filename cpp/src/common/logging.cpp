// Logging with redaction. Redact() scans by hand rather than with std::regex:
// libstdc++'s regex recurses per character and can exhaust the stack on long
// inputs (response bodies), and the rules here are simple enough to scan.
#include "mlflow_bridge/logging.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

namespace mlflow_bridge {
namespace {

constexpr std::string_view kMask = "***";

char Lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }
bool IsAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool IsSpace(char c) { return c == ' ' || c == '\t'; }

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = Lower(c);
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return Lower(x) == Lower(y); });
}

// Whether a key of a key=value pair names a secret. '-' counts as '_' so that
// "x-api-key" and "access-key" match; "tokens" (max_tokens, num_tokens) does not.
// Azure's AccountKey/SharedAccessKey and SAS "sig" are included.
bool IsSensitiveKey(std::string_view key) {
  std::string k = ToLower(key);
  std::replace(k.begin(), k.end(), '-', '_');
  static constexpr std::array<std::string_view, 13> kWords = {
      "password",    "passwd",     "secret",      "api_key",    "apikey",    "access_key", "accesskey",
      "account_key", "accountkey", "private_key", "privatekey", "signature", "credential"};
  for (std::string_view w : kWords)
    if (k.find(w) != std::string::npos) return true;
  if (k == "sig") return true;  // Azure SAS signatures
  for (size_t p = k.find("token"); p != std::string::npos; p = k.find("token", p + 1))
    if (p + 5 >= k.size() || k[p + 5] != 's') return true;
  return false;
}

// Pass 1: "Name: value" lines whose header name is sensitive -> "Name: ***".
std::string RedactHeaderLines(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  size_t pos = 0;
  while (pos < in.size()) {
    size_t eol = in.find('\n', pos);
    size_t end = eol == std::string_view::npos ? in.size() : eol;
    std::string_view line = in.substr(pos, end - pos);
    size_t i = 0;
    while (i < line.size() && IsSpace(line[i])) ++i;
    size_t name_begin = i;
    while (i < line.size() && (IsAlnum(line[i]) || line[i] == '-' || line[i] == '_')) ++i;
    size_t name_end = i;
    while (i < line.size() && IsSpace(line[i])) ++i;
    bool masked = false;
    if (name_end > name_begin && i < line.size() && line[i] == ':' &&
        IsSensitiveHeader(line.substr(name_begin, name_end - name_begin))) {
      ++i;
      while (i < line.size() && IsSpace(line[i])) ++i;
      size_t value_end = line.size();
      if (value_end > i && line[value_end - 1] == '\r') --value_end;
      if (value_end > i) {
        out.append(line.substr(0, i));
        out.append(kMask);
        out.append(line.substr(value_end));
        masked = true;
      }
    }
    if (!masked) out.append(line);
    if (eol != std::string_view::npos) out.push_back('\n');
    pos = end + 1;
  }
  return out;
}

// Pass 2: scheme://user:pass@host -> scheme://***@host.
std::string RedactUrlUserinfo(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  size_t pos = 0;
  while (true) {
    size_t p = in.find("://", pos);
    if (p == std::string_view::npos) break;
    size_t start = p + 3;
    size_t i = start;
    while (i < in.size() && in[i] != '@' && in[i] != '/' && in[i] != '?' && in[i] != '#' &&
           !std::isspace(static_cast<unsigned char>(in[i])) && in[i] != '"' && in[i] != '\'' && in[i] != '<' && in[i] != '>')
      ++i;
    out.append(in.substr(pos, start - pos));
    if (i < in.size() && in[i] == '@' && i > start) {
      out.append(kMask);
      pos = i;
    } else {
      pos = start;
    }
  }
  out.append(in.substr(pos));
  return out;
}

bool IsKeyChar(char c) { return IsAlnum(c) || c == '_' || c == '-' || c == '.'; }
bool EndsUnquotedValue(char c) {
  return std::isspace(static_cast<unsigned char>(c)) || c == ',' || c == ';' || c == '&' || c == '}' || c == ']' ||
         c == ')' || c == '"' || c == '\'' || c == '<' || c == '>';
}

// Pass 3: key=value, key: value, "key": "value" where the key names a secret.
std::string RedactKeyValues(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  size_t pos = 0;  // copied up to here
  size_t i = 0;
  while (i < in.size()) {
    if (!IsKeyChar(in[i]) || (i > 0 && IsKeyChar(in[i - 1]))) {
      ++i;
      continue;
    }
    size_t key_begin = i;
    while (i < in.size() && IsKeyChar(in[i])) ++i;
    std::string_view key = in.substr(key_begin, i - key_begin);
    if (!IsSensitiveKey(key)) continue;
    size_t j = i;
    if (key_begin > 0 && (in[key_begin - 1] == '"' || in[key_begin - 1] == '\'') && j < in.size() &&
        in[j] == in[key_begin - 1])
      ++j;  // closing quote of a quoted key
    while (j < in.size() && IsSpace(in[j])) ++j;
    if (j >= in.size() || (in[j] != '=' && in[j] != ':')) continue;
    ++j;
    while (j < in.size() && IsSpace(in[j])) ++j;
    if (j >= in.size()) continue;
    size_t value_begin, value_end;
    if (in[j] == '"' || in[j] == '\'') {
      char q = in[j];
      value_begin = j + 1;
      value_end = value_begin;
      while (value_end < in.size() && in[value_end] != q && in[value_end] != '\n') {
        if (in[value_end] == '\\' && value_end + 1 < in.size()) ++value_end;
        ++value_end;
      }
    } else {
      value_begin = j;
      value_end = j;
      while (value_end < in.size() && !EndsUnquotedValue(in[value_end])) ++value_end;
    }
    if (value_end == value_begin) continue;
    out.append(in.substr(pos, value_begin - pos));
    out.append(kMask);
    pos = value_end;
    i = value_end;
  }
  out.append(in.substr(pos));
  return out;
}

bool IsCredentialChar(char c) {
  return IsAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=';
}

// Pass 4: "Bearer <token>" and "Basic <token>" -> "Bearer ***". Words that
// commonly follow in prose ("Basic auth", "Bearer token", "Basic realm=") are left alone.
std::string RedactAuthSchemes(std::string_view in) {
  static constexpr std::array<std::string_view, 10> kProse = {"auth",   "authentication", "authorization", "token",
                                                              "tokens", "credentials",    "credential",    "realm",
                                                              "scheme", "access"};
  std::string out;
  out.reserve(in.size());
  size_t pos = 0;
  size_t i = 0;
  while (i < in.size()) {
    size_t word_len = 0;
    for (std::string_view scheme : {std::string_view("bearer"), std::string_view("basic")}) {
      if (in.size() - i >= scheme.size() && EqualsIgnoreCase(in.substr(i, scheme.size()), scheme) &&
          (i == 0 || !IsAlnum(in[i - 1])))
        word_len = scheme.size();
    }
    if (word_len == 0) {
      ++i;
      continue;
    }
    size_t j = i + word_len;
    size_t spaces = j;
    while (j < in.size() && IsSpace(in[j])) ++j;
    if (j == spaces) {  // no whitespace: part of a longer word
      i = j;
      continue;
    }
    size_t t = j;
    while (t < in.size() && IsCredentialChar(in[t])) ++t;
    std::string_view token = in.substr(j, t - j);
    std::string_view word = token.substr(0, token.find('='));  // "realm=..." is a parameter, not a credential
    bool prose = std::any_of(kProse.begin(), kProse.end(), [&](std::string_view w) { return EqualsIgnoreCase(word, w); });
    if (t > j && !prose) {
      out.append(in.substr(pos, j - pos));
      out.append(kMask);
      pos = t;
    }
    i = t > j ? t : j;
  }
  out.append(in.substr(pos));
  return out;
}

// Pass 5: AWS access key ids, AKIA/ASIA followed by 16 of [A-Z0-9].
std::string RedactAwsKeyIds(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  size_t pos = 0;
  for (size_t i = 0; i + 20 <= in.size(); ++i) {
    std::string_view prefix = in.substr(i, 4);
    if ((prefix != "AKIA" && prefix != "ASIA") || (i > 0 && IsAlnum(in[i - 1]))) continue;
    bool ok = true;
    for (size_t k = i + 4; k < i + 20 && ok; ++k)
      ok = std::isupper(static_cast<unsigned char>(in[k])) || std::isdigit(static_cast<unsigned char>(in[k]));
    if (!ok || (i + 20 < in.size() && IsAlnum(in[i + 20]))) continue;
    out.append(in.substr(pos, i - pos));
    out.append(kMask);
    pos = i + 20;
    i = pos - 1;
  }
  out.append(in.substr(pos));
  return out;
}

// Pass 6: OCI session and resource principal tokens in a keyId, "ST$<token>" -> "ST$***", wherever they
// appear (an Authorization value quoted in JSON, a keyId="..." pair).
std::string RedactOciSecurityTokens(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  size_t pos = 0;
  for (size_t p = in.find("ST$"); p != std::string_view::npos; p = in.find("ST$", p + 3)) {
    size_t end = p + 3;
    while (end < in.size() && (IsAlnum(in[end]) || std::string_view("-_.=+/").find(in[end]) != std::string_view::npos))
      ++end;
    if (end == p + 3) continue;
    out.append(in.substr(pos, p + 3 - pos));
    out.append(kMask);
    pos = end;
  }
  out.append(in.substr(pos));
  return out;
}

LogLevel LevelFromEnv() {
  const char* v = std::getenv("MLFLOW_BRIDGE_LOG_LEVEL");
  if (v == nullptr) return LogLevel::kInfo;
  std::string s = ToLower(v);
  if (s == "debug") return LogLevel::kDebug;
  if (s == "info") return LogLevel::kInfo;
  if (s == "warning" || s == "warn") return LogLevel::kWarning;
  if (s == "error") return LogLevel::kError;
  if (s == "off" || s == "none") return LogLevel::kOff;
  return LogLevel::kInfo;
}

void StderrSink(LogLevel, std::string_view message) {
  std::string line = "mlflow-bridge: ";
  line.append(message);
  line.push_back('\n');
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

struct LogState {
  std::mutex mu;
  LogSink sink = StderrSink;
  std::atomic<int> level{static_cast<int>(LevelFromEnv())};
};

LogState& State() {
  static LogState* state = new LogState();  // never destroyed: usable during static destruction
  return *state;
}

}  // namespace

std::string Redact(std::string_view text) {
  std::string s = RedactHeaderLines(text);
  s = RedactUrlUserinfo(s);
  s = RedactKeyValues(s);
  s = RedactAuthSchemes(s);
  s = RedactAwsKeyIds(s);
  return RedactOciSecurityTokens(s);
}

bool IsSensitiveHeader(std::string_view name) {
  static constexpr std::array<std::string_view, 6> kExact = {"authorization", "proxy-authorization",  "cookie",
                                                             "set-cookie",    "x-amz-security-token", "x-api-key"};
  static constexpr std::array<std::string_view, 7> kParts = {"token", "secret",    "pass",      "pwd",
                                                             "key",   "signature", "credential"};
  std::string n = ToLower(name);
  for (std::string_view e : kExact)
    if (n == e) return true;
  for (std::string_view p : kParts)
    if (n.find(p) != std::string::npos) return true;
  return false;
}

LogSink SetLogSink(LogSink sink) {
  LogState& st = State();
  std::lock_guard<std::mutex> lock(st.mu);
  LogSink old = std::move(st.sink);
  st.sink = sink ? std::move(sink) : LogSink(StderrSink);
  return old;
}

void SetLogLevel(LogLevel level) { State().level.store(static_cast<int>(level)); }
LogLevel GetLogLevel() { return static_cast<LogLevel>(State().level.load()); }

void Log(LogLevel level, std::string_view message) {
  LogState& st = State();
  if (level == LogLevel::kOff || static_cast<int>(level) < st.level.load()) return;
  try {
    std::string redacted = Redact(message);
    std::lock_guard<std::mutex> lock(st.mu);  // also serialises the sink's output
    st.sink(level, redacted);
  } catch (...) {
    // Logging must never take the caller down.
  }
}

void LogIgnored(const Status& status, std::string_view what) {
  if (!status.ok()) LogWarning(std::string(what) + " failed (ignored): " + status.ToString());
}

}  // namespace mlflow_bridge
