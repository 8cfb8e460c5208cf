// Logging with redaction. Every message passes through Redact() before it
// reaches a sink, so that secrets (Authorization headers, tokens, keys,
// passwords, signatures) never appear in logs.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "mlflow_bridge/status.h"

namespace mlflow_bridge {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3, kOff = 4 };

// Masks secrets in free text: values of Authorization/Proxy-Authorization and
// other credential headers, "Bearer"/"Basic" credentials, key=value and
// "key": "value" pairs whose key names a secret (token, password, secret,
// key, signature, credential), AWS access key ids, OCI security tokens in a
// keyId ("ST$<token>"), and credentials in URLs.
std::string Redact(std::string_view text);

// Whether a header carries a credential and must never be logged as is.
bool IsSensitiveHeader(std::string_view name);

using LogSink = std::function<void(LogLevel, std::string_view)>;

// Replaces the sink (default: stderr, "mlflow-bridge: message"). Returns the old one.
LogSink SetLogSink(LogSink sink);
// Threshold; default from MLFLOW_BRIDGE_LOG_LEVEL (debug|info|warning|error|off), else info.
void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();

void Log(LogLevel level, std::string_view message);
inline void LogDebug(std::string_view m) { Log(LogLevel::kDebug, m); }
inline void LogInfo(std::string_view m) { Log(LogLevel::kInfo, m); }
inline void LogWarning(std::string_view m) { Log(LogLevel::kWarning, m); }
inline void LogError(std::string_view m) { Log(LogLevel::kError, m); }

// For an error deliberately not returned (cleanup after another failure, a best-effort step): logs it as a
// warning, "<what> failed (ignored): <status>", so that nothing fails silently. An OK status logs nothing.
void LogIgnored(const Status& status, std::string_view what);
template <typename T>
void LogIgnored(const StatusOr<T>& result, std::string_view what) {
  LogIgnored(result.status(), what);
}

}  // namespace mlflow_bridge
