// The ARM retry policy, applied above the stubs (which make one attempt each): by the retrying Azure ML
// stub (RetryingAzureMlStub in azure/ml_stub.h) and by the LRO waiter for each poll (azure/arm_lro.h).
//
// Which failures are sent again is the one rule of RetryLoop (IsRetryable): a transient failure
// (ArmErrorStatus: 408, 429, 500, 502, 503, 504; a transport failure) of an idempotent call, or a transient
// failure that ARM or the transport says was not processed (a 429, a refused connection) of any call.
// Idempotent (ArmIdempotency): GET, HEAD, PUT (ARM's PUT states the whole resource) and DELETE; POST only
// for the read-only actions listKeys, token, getLogs and listSecrets. Other POSTs (regenerateKeys) and
// PATCH are not: a 500 may have come after the work was done.
// Limits: RetryPolicy (default 5 attempts within 60 s) and BackoffPolicy (exponential with full jitter);
// the server's Retry-After (retry-after-ms, x-ms-retry-after-ms) is honoured; the final error says
// "(after N attempts)". A token error (the credential marks it Status::final) is returned as is.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <string_view>
#include <utility>

#include "common/strings.h"
#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/retry.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

// Whether an ARM call may be sent again after any transient failure. `action` is the last path segment of
// a POST ("listKeys"), compared case-insensitively.
inline Idempotency ArmIdempotency(std::string_view method, std::string_view action = "") {
  if (EqualsIgnoreCase(method, "GET") || EqualsIgnoreCase(method, "HEAD") || EqualsIgnoreCase(method, "PUT") ||
      EqualsIgnoreCase(method, "DELETE"))
    return Idempotency::kIdempotent;
  if (EqualsIgnoreCase(method, "POST")) {
    static constexpr std::array<std::string_view, 4> kReadOnly = {"listKeys", "token", "getLogs", "listSecrets"};
    for (std::string_view a : kReadOnly)
      if (EqualsIgnoreCase(action, a)) return Idempotency::kIdempotent;
  }
  return Idempotency::kNonIdempotent;
}

class ArmRetry {
 public:
  // `clock` null: SystemClock().
  explicit ArmRetry(std::shared_ptr<Clock> clock = nullptr, RetryPolicy retry = {}, BackoffPolicy backoff = {})
      : clock_(clock ? std::move(clock) : SystemClock()), retry_(retry), backoff_(backoff) {}

  // Calls `fn` (one attempt of one ARM call; `what` names it in the log) until it succeeds, fails for good,
  // or the policy is spent.
  template <typename T>
  StatusOr<T> Call(Idempotency idempotency, std::string_view what, const std::function<StatusOr<T>()>& fn) const {
    return RetryLoop<T>(retry_, backoff_, idempotency, *clock_, what, fn);
  }

  Status Call(Idempotency idempotency, std::string_view what, const std::function<Status()>& fn) const {
    return internal::RetryLoopImpl(retry_, backoff_, idempotency, *clock_, what, fn);
  }

  Clock& clock() const { return *clock_; }
  const std::shared_ptr<Clock>& clock_ptr() const { return clock_; }
  const RetryPolicy& retry_policy() const { return retry_; }
  const BackoffPolicy& backoff_policy() const { return backoff_; }

 private:
  std::shared_ptr<Clock> clock_;
  RetryPolicy retry_;
  BackoffPolicy backoff_;
};

}  // namespace mlflow_bridge::internal
