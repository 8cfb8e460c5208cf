// The native server's per-request logs: the access log (one line per request) and the prediction log (sampled
// inputs and outputs as JSON lines, for drift and outlier monitoring; off by default).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <string_view>

#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

// "2026-01-31T12:34:56.789Z"
std::string FormatUtcMillis(std::chrono::system_clock::time_point t);

// A file opened for appending lines ("-": stderr), each line flushed as written.
class LineFile {
 public:
  static StatusOr<std::unique_ptr<LineFile>> Open(const std::string& path);
  ~LineFile();
  LineFile(const LineFile&) = delete;
  LineFile& operator=(const LineFile&) = delete;
  void WriteLine(std::string_view line);

 private:
  explicit LineFile(std::FILE* f, bool owned) : f_(f), owned_(owned) {}
  std::FILE* f_;
  bool owned_;
};

struct AccessLogEntry {
  std::chrono::system_clock::time_point time;
  std::string_view request_id;
  std::string_view method;
  std::string_view uri;
  int status = 0;
  size_t bytes = 0;  // response body bytes
  double latency_ms = 0;
};

// time request_id=... method=... path=... status=... bytes=... latency_ms=...
std::string FormatAccessLine(const AccessLogEntry& e);

// Samples requests at `rate` (0..1) and writes each sampled one as a JSON line:
// {"time", "request_id", "route", "request", "status", "response"}, where request and response are JSON when
// their bodies parse as JSON, else strings.
class PredictionLog {
 public:
  PredictionLog(std::unique_ptr<LineFile> file, double rate, uint64_t seed);
  // Whether to log the request now arriving.
  bool Sample();
  void Write(std::chrono::system_clock::time_point time, std::string_view request_id, std::string_view route,
             std::string_view request_body, int status, std::string_view response_body);

 private:
  std::unique_ptr<LineFile> file_;
  double rate_;
  std::mt19937_64 rng_;
};

}  // namespace mlflow_bridge::internal
