#include "mlflow_bridge/retry.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "mlflow_bridge/logging.h"

namespace mlflow_bridge {

bool IsTransient(const Status& status) {
  return status.code() == StatusCode::kTemporarilyUnavailable || status.code() == StatusCode::kDeadlineExceeded;
}

bool IsRetryable(const Status& status, Idempotency idempotency) {
  return IsTransient(status) && (idempotency == Idempotency::kIdempotent || status.not_processed());
}

namespace internal {
namespace {

Status WithAttempts(const Status& s, int attempts) {
  if (attempts <= 1) return s;
  return s.WithSuffix(" (after " + std::to_string(attempts) + " attempts)");
}

}  // namespace

std::chrono::milliseconds BackoffDelay(const BackoffPolicy& backoff, int retry, std::mt19937_64& rng) {
  double maximum = static_cast<double>(std::max<long long>(0, backoff.maximum.count()));
  double cap = static_cast<double>(std::max<long long>(0, backoff.initial.count())) *
               std::pow(std::max(1.0, backoff.multiplier), std::max(0, retry));
  if (!(cap <= maximum)) cap = maximum;  // also catches inf and NaN
  std::uniform_int_distribution<long long> dist(0, static_cast<long long>(cap));
  return std::chrono::milliseconds(dist(rng));
}

Status RetryLoopImpl(const RetryPolicy& retry, const BackoffPolicy& backoff, Idempotency idempotency, Clock& clock,
                     std::string_view operation, const std::function<Status()>& attempt) {
  const Clock::TimePoint start = clock.Now();
  std::mt19937_64 rng(std::random_device{}());
  const int max_attempts = std::max(1, retry.max_attempts);
  for (int n = 1;; ++n) {
    Status s = attempt();
    if (s.ok() || s.final()) return s;
    if (!IsRetryable(s, idempotency) || n >= max_attempts) return WithAttempts(s, n);
    std::chrono::milliseconds delay = s.retry_after() ? *s.retry_after() : BackoffDelay(backoff, n - 1, rng);
    if (delay.count() < 0) delay = std::chrono::milliseconds(0);
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(clock.Now() - start);
    if (elapsed + delay > retry.deadline) return WithAttempts(s, n);
    LogInfo(std::string(operation) + " failed (attempt " + std::to_string(n) + " of " + std::to_string(max_attempts) +
            "), retrying in " + std::to_string(delay.count()) + " ms: " + s.ToString());
    clock.SleepFor(delay);
  }
}

}  // namespace internal
}  // namespace mlflow_bridge
