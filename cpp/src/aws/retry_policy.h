// The AWS retry policy, applied above the stubs (which make one attempt each):
// by the SageMaker client, S3Client's uploads, the assume-role credentials
// provider and the ECR logins.
//
// Which failures are sent again is the one rule of RetryLoop (IsRetryable):
// a transient failure of an idempotent call, or a transient failure that the
// service or the transport says was not processed (AwsCaller marks them:
// throttling, "model not ready", S3's "try again" replies, a refused
// connection). The caller says which calls are idempotent (or made so).
// Limits: RetryPolicy (default 5 attempts within 60 s) and BackoffPolicy
// (exponential with full jitter); Retry-After is honoured; the final error says
// "(after N attempts)". A call with a request timeout of its own (a large
// upload) gets that much more deadline, so that one slow attempt does not
// spend it all. A credentials error (AwsCaller marks it Status::final) is
// returned as is, without an attempt count, and never retried.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>

#include "aws/caller.h"
#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/retry.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

class AwsRetry {
 public:
  explicit AwsRetry(std::shared_ptr<Clock> clock = SystemClock(), RetryPolicy retry = {}, BackoffPolicy backoff = {})
      : clock_(clock ? std::move(clock) : SystemClock()), retry_(retry), backoff_(backoff) {}

  // Calls `fn` (one attempt of one AWS call, `what` naming it in the log) until
  // it succeeds, fails for good, or the policy is spent.
  template <typename T>
  StatusOr<T> Call(Idempotency idempotency, std::string_view what, const std::function<StatusOr<T>()>& fn,
                   std::chrono::milliseconds request_timeout = std::chrono::milliseconds(0)) const {
    RetryPolicy retry = retry_;
    retry.deadline += request_timeout;
    return RetryLoop<T>(retry, backoff_, idempotency, *clock_, what, fn);
  }

  Status Call(Idempotency idempotency, std::string_view what, const std::function<Status()>& fn,
              std::chrono::milliseconds request_timeout = std::chrono::milliseconds(0)) const {
    StatusOr<bool> r = Call<bool>(
        idempotency, what,
        [&]() -> StatusOr<bool> {
          Status s = fn();
          if (!s.ok()) return s;
          return true;
        },
        request_timeout);
    return r.ok() ? OkStatus() : r.status();
  }

  Clock& clock() const { return *clock_; }

 private:
  std::shared_ptr<Clock> clock_;
  RetryPolicy retry_;
  BackoffPolicy backoff_;
};

}  // namespace mlflow_bridge::internal
