// The native server's /metrics, in Prometheus' text format (version 0.0.4): requests by route and status, a
// latency histogram by route, batch sizes, and gauges read when scraped (queue depth, requests in flight,
// workers ready and busy, worker restarts, each worker's pid).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace mlflow_bridge::internal {

struct MetricsSnapshot {
  size_t queue_depth = 0;
  size_t in_flight = 0;
  int workers = 0;
  int workers_ready = 0;
  int workers_busy = 0;
  uint64_t worker_restarts = 0;
  std::vector<int> worker_pids;  // by worker index; 0 while one is not running
  bool draining = false;
};

class Metrics {
 public:
  Metrics();
  // One answered request: `route` is the route's template ("/invocations", "/v2/models/{m}/ready", "other").
  void ObserveRequest(const std::string& route, int status, double seconds);
  // One frame sent to a worker, holding `size` requests.
  void ObserveBatch(size_t size);
  std::string Render(const MetricsSnapshot& now) const;

  static constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

 private:
  struct Histogram {
    std::vector<uint64_t> buckets;  // cumulative at render time; here per bucket
    double sum = 0;
    uint64_t count = 0;
  };
  static void Observe(Histogram& h, const std::vector<double>& bounds, double v);

  std::vector<double> latency_bounds_;
  std::vector<double> batch_bounds_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, Histogram> latency_;
  Histogram batch_;
};

}  // namespace mlflow_bridge::internal
