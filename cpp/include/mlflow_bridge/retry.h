// The one retry loop: exponential backoff with full jitter, honouring the
// server's Retry-After, retrying only idempotent calls, bounded both by a
// number of attempts and by a deadline.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge {

struct RetryPolicy {
  int max_attempts = 5;                        // including the first
  std::chrono::milliseconds deadline{60'000};  // for all attempts and sleeps
};

struct BackoffPolicy {
  std::chrono::milliseconds initial{200};
  std::chrono::milliseconds maximum{10'000};
  double multiplier = 2.0;
};

enum class Idempotency { kIdempotent, kNonIdempotent };

// Whether a failure is transient (TEMPORARILY_UNAVAILABLE; DEADLINE_EXCEEDED of one attempt).
bool IsTransient(const Status& status);

// The one retry rule: a transient failure is tried again when the call is idempotent (or made so:
// server-side apply, a PUT, a retry token), or when the platform says it was not processed
// (Status::not_processed). Each platform's error mapping decides which replies are transient and
// which are not processed; the caller says which calls are idempotent.
bool IsRetryable(const Status& status, Idempotency idempotency);

namespace internal {
// The loop itself, on Status; RetryLoop<T> adapts it.
Status RetryLoopImpl(const RetryPolicy& retry, const BackoffPolicy& backoff, Idempotency idempotency, Clock& clock,
                     std::string_view operation, const std::function<Status()>& attempt);
// Full jitter: uniform in [0, min(maximum, initial * multiplier^retry)].
std::chrono::milliseconds BackoffDelay(const BackoffPolicy& backoff, int retry, std::mt19937_64& rng);
}  // namespace internal

// Calls `call` until it succeeds, fails permanently, or the policy is spent.
// The last error is returned, with how many attempts were made when >1.
template <typename T>
StatusOr<T> RetryLoop(const RetryPolicy& retry, const BackoffPolicy& backoff, Idempotency idempotency, Clock& clock,
                      std::string_view operation, const std::function<StatusOr<T>()>& call) {
  std::optional<T> result;
  Status s = internal::RetryLoopImpl(retry, backoff, idempotency, clock, operation, [&]() -> Status {
    StatusOr<T> r = call();
    if (!r.ok()) return r.status();
    result.emplace(std::move(r).value());
    return OkStatus();
  });
  if (!s.ok()) return s;
  return std::move(*result);
}

}  // namespace mlflow_bridge
