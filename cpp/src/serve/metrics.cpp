#include "serve/metrics.h"

#include <cstdio>

namespace mlflow_bridge::internal {
namespace {

constexpr const char* kPrefix = "mlflow_bridge_serve_";

std::string Number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// A label value with \, " and newlines escaped.
std::string Label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void Header(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += kPrefix;
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += kPrefix;
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void Sample(std::string& out, const std::string& name, const std::string& labels, const std::string& value) {
  out += kPrefix;
  out += name;
  if (!labels.empty()) out += "{" + labels + "}";
  out += ' ';
  out += value;
  out += '\n';
}

}  // namespace

Metrics::Metrics()
    : latency_bounds_{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
      batch_bounds_{1, 2, 4, 8, 16, 32, 64, 128, 256} {
  batch_.buckets.assign(batch_bounds_.size(), 0);
}

void Metrics::Observe(Histogram& h, const std::vector<double>& bounds, double v) {
  if (h.buckets.size() != bounds.size()) h.buckets.assign(bounds.size(), 0);
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (v <= bounds[i]) {
      ++h.buckets[i];
      break;
    }
  }
  h.sum += v;
  ++h.count;
}

void Metrics::ObserveRequest(const std::string& route, int status, double seconds) {
  ++requests_[{route, status}];
  Observe(latency_[route], latency_bounds_, seconds);
}

void Metrics::ObserveBatch(size_t size) { Observe(batch_, batch_bounds_, static_cast<double>(size)); }

std::string Metrics::Render(const MetricsSnapshot& now) const {
  std::string out;
  Header(out, "requests_total", "counter", "HTTP requests answered, by route and status.");
  for (const auto& [key, n] : requests_) {
    Sample(out, "requests_total", "route=\"" + Label(key.first) + "\",status=\"" + std::to_string(key.second) + "\"",
           std::to_string(n));
  }
  auto histogram = [&](const char* name, const std::string& labels, const Histogram& h, const std::vector<double>& bounds) {
    std::string sep = labels.empty() ? "" : labels + ",";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < bounds.size(); ++i) {
      cumulative += i < h.buckets.size() ? h.buckets[i] : 0;
      Sample(out, std::string(name) + "_bucket", sep + "le=\"" + Number(bounds[i]) + "\"", std::to_string(cumulative));
    }
    Sample(out, std::string(name) + "_bucket", sep + "le=\"+Inf\"", std::to_string(h.count));
    Sample(out, std::string(name) + "_sum", labels, Number(h.sum));
    Sample(out, std::string(name) + "_count", labels, std::to_string(h.count));
  };
  Header(out, "request_duration_seconds", "histogram",
         "Time from a request's arrival (headers and body read) to its answer, by route.");
  for (const auto& [route, h] : latency_) {
    histogram("request_duration_seconds", "route=\"" + Label(route) + "\"", h, latency_bounds_);
  }
  Header(out, "batch_size", "histogram", "Requests per frame sent to a worker.");
  histogram("batch_size", "", batch_, batch_bounds_);
  Header(out, "queue_depth", "gauge", "Requests waiting for a worker.");
  Sample(out, "queue_depth", "", std::to_string(now.queue_depth));
  Header(out, "in_flight_requests", "gauge", "Requests sent to a worker and not answered yet.");
  Sample(out, "in_flight_requests", "", std::to_string(now.in_flight));
  Header(out, "workers", "gauge", "Model workers: configured, ready (model loaded), busy (a request in flight).");
  Sample(out, "workers", "state=\"configured\"", std::to_string(now.workers));
  Sample(out, "workers", "state=\"ready\"", std::to_string(now.workers_ready));
  Sample(out, "workers", "state=\"busy\"", std::to_string(now.workers_busy));
  Header(out, "worker_restarts_total", "counter", "Workers started again after one stopped.");
  Sample(out, "worker_restarts_total", "", std::to_string(now.worker_restarts));
  Header(out, "worker_pid", "gauge", "Each worker's process id (0 while it is not running).");
  for (size_t i = 0; i < now.worker_pids.size(); ++i) {
    Sample(out, "worker_pid", "worker=\"" + std::to_string(i) + "\"", std::to_string(now.worker_pids[i]));
  }
  Header(out, "draining", "gauge", "1 once the server is stopping (SIGTERM): it accepts no new connections.");
  Sample(out, "draining", "", now.draining ? "1" : "0");
  return out;
}

}  // namespace mlflow_bridge::internal
