#include <algorithm>
#include <cctype>
#include <ctime>
#include <string>

#include "common/strings.h"
#include "mlflow_bridge/http.h"
#include "mlflow_bridge/logging.h"

namespace mlflow_bridge {

using internal::EqualsIgnoreCase;
using internal::Trim;
namespace {

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

// Parses `n` digits at s[pos].
bool Digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size() || !AllDigits(s.substr(pos, n))) return false;
  out = 0;
  for (size_t i = 0; i < n; ++i) out = out * 10 + (s[pos + i] - '0');
  return true;
}

// IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
std::optional<std::chrono::system_clock::time_point> ParseImfFixdate(std::string_view s) {
  static constexpr std::string_view kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (s.size() != 29 || s.substr(3, 2) != ", " || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' || s[19] != ':' ||
      s[22] != ':' || s.substr(25) != " GMT")
    return std::nullopt;
  bool day_ok = false;
  for (std::string_view d : kDays) day_ok = day_ok || s.substr(0, 3) == d;
  int month = -1;
  for (int m = 0; m < 12; ++m)
    if (s.substr(8, 3) == kMonths[m]) month = m;
  std::tm tm{};
  if (!day_ok || month < 0 || !Digits(s, 5, 2, tm.tm_mday) || !Digits(s, 12, 4, tm.tm_year) ||
      !Digits(s, 17, 2, tm.tm_hour) || !Digits(s, 20, 2, tm.tm_min) || !Digits(s, 23, 2, tm.tm_sec))
    return std::nullopt;
  if (tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60) return std::nullopt;
  tm.tm_mon = month;
  tm.tm_year -= 1900;
  time_t t = timegm(&tm);
  if (t == static_cast<time_t>(-1)) return std::nullopt;
  return std::chrono::system_clock::from_time_t(t);
}

StatusCode CodeForHttpStatus(long code) {
  switch (code) {
    case 401: return StatusCode::kUnauthenticated;
    case 403: return StatusCode::kPermissionDenied;
    case 404:
    case 410: return StatusCode::kResourceDoesNotExist;
    case 409: return StatusCode::kResourceAlreadyExists;
    // 504 is the server's gateway giving up, not our own deadline: transient, like 502/503.
    case 408:
    case 429:
    case 502:
    case 503:
    case 504: return StatusCode::kTemporarilyUnavailable;
    default: break;
  }
  if (code >= 400 && code < 500) return StatusCode::kInvalidParameterValue;  // 400, 422 and the rest
  return StatusCode::kInternalError;                                         // other 5xx; 1xx/3xx are unexpected here
}

}  // namespace

std::optional<std::string> FindHeader(const HttpHeaders& headers, std::string_view name) {
  for (const auto& [k, v] : headers)
    if (EqualsIgnoreCase(k, name)) return v;
  return std::nullopt;
}

Status HttpErrorStatus(const HttpResponse& response, std::string_view what) {
  constexpr size_t kExcerpt = 500;
  std::string message = std::string(what) + ": HTTP " + std::to_string(response.status_code);
  std::string_view body = Trim(response.body);
  if (!body.empty()) {
    std::string excerpt = internal::Excerpt(body, kExcerpt);
    const bool cut = excerpt.size() != body.size();
    if (cut) excerpt.resize(excerpt.size() - 3);  // redacted without the "..."
    message += ": " + Redact(excerpt) + (cut ? "..." : "");
  }
  Status status(CodeForHttpStatus(response.status_code), std::move(message));
  if (std::optional<std::string> ra = response.Header("Retry-After")) {
    if (auto d = ParseRetryAfter(*ra, std::chrono::system_clock::now())) status.set_retry_after(*d);
  }
  return status;
}

std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view value, std::chrono::system_clock::time_point now) {
  std::string_view v = Trim(value);
  bool negative = !v.empty() && v.front() == '-';
  if (negative) v.remove_prefix(1);
  if (AllDigits(v)) {
    if (negative) return std::chrono::milliseconds(0);
    constexpr long long kMaxSeconds = 365LL * 24 * 3600;  // beyond a year is nonsense; clamp
    long long seconds = v.size() > 9 ? kMaxSeconds : std::min(kMaxSeconds, std::stoll(std::string(v)));
    return std::chrono::milliseconds(seconds * 1000);
  }
  if (negative) return std::nullopt;
  auto when = ParseImfFixdate(v);
  if (!when) return std::nullopt;
  auto delta = std::chrono::duration_cast<std::chrono::milliseconds>(*when - now);
  return delta.count() < 0 ? std::chrono::milliseconds(0) : delta;
}

}  // namespace mlflow_bridge
