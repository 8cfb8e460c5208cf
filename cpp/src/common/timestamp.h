// RFC 3339 / ISO 8601 timestamps ("2024-01-01T10:00:00.5+02:00"), as AWS and
// Kubernetes write them. One parser for the core.
#pragma once

#include <chrono>
#include <ctime>
#include <optional>
#include <string_view>

#include "common/strings.h"

namespace mlflow_bridge::internal {

// "YYYY-MM-DD(T|t| )hh:mm:ss[.fraction](Z|z|+hh:mm|-hh:mm|+hhmm|-hhmm)" after trimming white space,
// fraction kept; without a zone (UTC) only when `zone_required` is false.
inline std::optional<std::chrono::system_clock::time_point> ParseTimestamp(std::string_view t, bool zone_required) {
  t = Trim(t);
  auto num = [&](size_t pos, size_t len) -> int {
    if (pos + len > t.size()) return -1;
    int v = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (t[i] < '0' || t[i] > '9') return -1;
      v = v * 10 + (t[i] - '0');
    }
    return v;
  };
  if (t.size() < 19 || t[4] != '-' || t[7] != '-' || (t[10] != 'T' && t[10] != 't' && t[10] != ' ') || t[13] != ':' ||
      t[16] != ':')
    return std::nullopt;
  const int y = num(0, 4), mo = num(5, 2), d = num(8, 2), h = num(11, 2), mi = num(14, 2), s = num(17, 2);
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 60)
    return std::nullopt;
  size_t pos = 19;
  std::chrono::nanoseconds frac{0};
  if (pos < t.size() && t[pos] == '.') {
    ++pos;
    long long scale = 100'000'000, ns = 0;
    const size_t start = pos;
    for (; pos < t.size() && t[pos] >= '0' && t[pos] <= '9'; ++pos, scale /= 10) ns += (t[pos] - '0') * scale;
    if (pos == start) return std::nullopt;
    frac = std::chrono::nanoseconds(ns);
  }
  long offset = 0;
  const std::string_view zone = t.substr(pos);
  if (zone == "Z" || zone == "z" || (zone.empty() && !zone_required)) {
    // UTC
  } else if ((zone.size() == 6 || zone.size() == 5) && (zone[0] == '+' || zone[0] == '-')) {
    const bool colon = zone.size() == 6;
    const int oh = num(pos + 1, 2), om = num(pos + (colon ? 4 : 3), 2);
    if (oh < 0 || om < 0 || (colon && zone[3] != ':')) return std::nullopt;
    offset = (oh * 3600L + om * 60L) * (zone[0] == '+' ? 1 : -1);
  } else {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  const std::time_t secs = timegm(&tm);
  if (secs == static_cast<std::time_t>(-1)) return std::nullopt;
  return std::chrono::system_clock::from_time_t(secs - offset) +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(frac);
}

// "2011-07-15T23:28:33Z", with optional fractional seconds and a "Z" or "+HH:MM"/"-HH:MM" offset (none
// means UTC), in whole seconds: what credential expirations need.
inline std::optional<std::chrono::system_clock::time_point> ParseIso8601(std::string_view s) {
  auto t = ParseTimestamp(s, /*zone_required=*/false);
  if (!t) return std::nullopt;
  return std::chrono::time_point_cast<std::chrono::seconds>(*t);
}

}  // namespace mlflow_bridge::internal
