// Helpers shared by the C++ tests: a fake clock and scoped environment variables.
#pragma once

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/logging.h"

namespace mlflow_bridge::testing {

inline std::chrono::system_clock::time_point Utc(int y, int mo, int d, int h, int mi, int s) {
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

// Time stands still except when the code under test sleeps or a test moves it.
class FakeClock : public Clock {
 public:
  explicit FakeClock(std::chrono::system_clock::time_point wall = Utc(2024, 1, 1, 0, 0, 0)) : wall_(wall) {}
  TimePoint Now() override { return steady_; }
  void SleepFor(std::chrono::milliseconds d) override {
    sleeps.push_back(d);
    Advance(d);
  }
  std::chrono::system_clock::time_point WallNow() override { return wall_; }
  void Advance(std::chrono::milliseconds d) {
    steady_ += d;
    wall_ += d;
  }
  std::vector<std::chrono::milliseconds> sleeps;

 private:
  TimePoint steady_{};
  std::chrono::system_clock::time_point wall_;
};

// Sets environment variables for a scope and restores them afterwards.
class ScopedEnv {
 public:
  ScopedEnv() = default;
  ScopedEnv(const std::string& name, const char* value) {
    Set(name, value ? std::optional<std::string>(value) : std::nullopt);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
  ~ScopedEnv() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      if (it->second) setenv(it->first.c_str(), it->second->c_str(), 1);
      else unsetenv(it->first.c_str());
    }
  }
  // nullopt unsets the variable.
  void Set(const std::string& name, std::optional<std::string> value) {
    const char* old = std::getenv(name.c_str());
    saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
    if (value) setenv(name.c_str(), value->c_str(), 1);
    else unsetenv(name.c_str());
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

// Captures every log line at `level` and above while it lives; restores the
// previous sink, and the default level, afterwards.
class ScopedLogCapture {
 public:
  explicit ScopedLogCapture(LogLevel level = LogLevel::kDebug) {
    old_ = SetLogSink([this](LogLevel, std::string_view m) {
      std::lock_guard<std::mutex> lock(mu_);
      text_ += std::string(m) + "\n";
    });
    SetLogLevel(level);
  }
  ScopedLogCapture(const ScopedLogCapture&) = delete;
  ScopedLogCapture& operator=(const ScopedLogCapture&) = delete;
  ~ScopedLogCapture() {
    SetLogSink(old_);
    SetLogLevel(LogLevel::kInfo);
  }
  std::string text() {
    std::lock_guard<std::mutex> lock(mu_);
    return text_;
  }

 private:
  LogSink old_;
  std::mutex mu_;
  std::string text_;
};

}  // namespace mlflow_bridge::testing
