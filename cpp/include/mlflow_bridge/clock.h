// Time as the core sees it, injectable so that retries and waits are testable.
#pragma once

#include <chrono>
#include <memory>

namespace mlflow_bridge {

class Clock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  virtual TimePoint Now() = 0;
  virtual void SleepFor(std::chrono::milliseconds d) = 0;
  // Wall-clock time (for timestamps and request signing).
  virtual std::chrono::system_clock::time_point WallNow() = 0;
};

// The real clock, shared.
std::shared_ptr<Clock> SystemClock();

}  // namespace mlflow_bridge
