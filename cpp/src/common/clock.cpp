#include "mlflow_bridge/clock.h"

#include <thread>

namespace mlflow_bridge {
namespace {

class RealClock : public Clock {
 public:
  TimePoint Now() override { return std::chrono::steady_clock::now(); }
  void SleepFor(std::chrono::milliseconds d) override {
    if (d.count() > 0) std::this_thread::sleep_for(d);
  }
  std::chrono::system_clock::time_point WallNow() override { return std::chrono::system_clock::now(); }
};

}  // namespace

std::shared_ptr<Clock> SystemClock() {
  static const std::shared_ptr<Clock> clock = std::make_shared<RealClock>();
  return clock;
}

}  // namespace mlflow_bridge
