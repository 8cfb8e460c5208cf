#include "serve/request_log.h"

#include <cerrno>
#include <cstring>
#include <ctime>

#include <nlohmann/json.hpp>

namespace mlflow_bridge::internal {
namespace {

using json = nlohmann::json;

json BodyAsJson(std::string_view body) {
  json parsed = json::parse(body, nullptr, false);
  if (!parsed.is_discarded()) return parsed;
  return json(std::string(body));
}

}  // namespace

std::string FormatUtcMillis(std::chrono::system_clock::time_point t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[80];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

StatusOr<std::unique_ptr<LineFile>> LineFile::Open(const std::string& path) {
  if (path == "-") return std::unique_ptr<LineFile>(new LineFile(stderr, false));
  std::FILE* f = std::fopen(path.c_str(), "ae");
  if (f == nullptr) return InvalidParameterError("Cannot open log file '" + path + "': " + std::strerror(errno));
  return std::unique_ptr<LineFile>(new LineFile(f, true));
}

LineFile::~LineFile() {
  if (owned_) std::fclose(f_);
}

void LineFile::WriteLine(std::string_view line) {
  std::fwrite(line.data(), 1, line.size(), f_);
  std::fputc('\n', f_);
  std::fflush(f_);
}

std::string FormatAccessLine(const AccessLogEntry& e) {
  char latency[32];
  std::snprintf(latency, sizeof latency, "%.3f", e.latency_ms);
  std::string line = FormatUtcMillis(e.time);
  line += " request_id=";
  line += e.request_id;
  line += " method=";
  line += e.method;
  line += " path=";
  line += e.uri;
  line += " status=" + std::to_string(e.status);
  line += " bytes=" + std::to_string(e.bytes);
  line += " latency_ms=";
  line += latency;
  return line;
}

PredictionLog::PredictionLog(std::unique_ptr<LineFile> file, double rate, uint64_t seed)
    : file_(std::move(file)), rate_(rate), rng_(seed) {}

bool PredictionLog::Sample() {
  if (rate_ >= 1.0) return true;
  if (rate_ <= 0.0) return false;
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng_) < rate_;
}

void PredictionLog::Write(std::chrono::system_clock::time_point time, std::string_view request_id, std::string_view route,
                          std::string_view request_body, int status, std::string_view response_body) {
  json line = {{"time", FormatUtcMillis(time)},
               {"request_id", std::string(request_id)},
               {"route", std::string(route)},
               {"request", BodyAsJson(request_body)},
               {"status", status},
               {"response", BodyAsJson(response_body)}};
  file_->WriteLine(line.dump(-1, ' ', false, json::error_handler_t::replace));
}

}  // namespace mlflow_bridge::internal
