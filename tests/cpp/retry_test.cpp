#include "mlflow_bridge/retry.h"

#include <gtest/gtest.h>

#include "test_support.h"

#include <vector>

#include "mlflow_bridge/logging.h"

namespace mlflow_bridge {
namespace {

using ::mlflow_bridge::testing::FakeClock;

using std::chrono::milliseconds;

// Silences (and counts) log lines for the duration of a test.
class RetryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    old_level_ = GetLogLevel();
    SetLogLevel(LogLevel::kDebug);
    old_sink_ = SetLogSink([this](LogLevel, std::string_view m) { logs_.emplace_back(m); });
  }
  void TearDown() override {
    SetLogSink(old_sink_);
    SetLogLevel(old_level_);
  }
  // A call that fails with `errors` in turn, then succeeds.
  std::function<Status()> Script(std::vector<Status> errors) {
    return [this, errors = std::move(errors)]() -> Status {
      int i = calls_++;
      return i < static_cast<int>(errors.size()) ? errors[i] : OkStatus();
    };
  }

  FakeClock clock_;
  int calls_ = 0;
  std::vector<std::string> logs_;
  LogSink old_sink_;
  LogLevel old_level_ = LogLevel::kInfo;
  RetryPolicy retry_{5, milliseconds(60'000)};
  BackoffPolicy backoff_{milliseconds(100), milliseconds(1'000), 2.0};
};

TEST_F(RetryTest, RetriesTransientThenSucceeds) {
  Status s = internal::RetryLoopImpl(retry_, backoff_, Idempotency::kIdempotent, clock_, "GetEndpoint",
                                     Script({UnavailableError("503"), DeadlineExceededError("timeout")}));
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(calls_, 3);
  EXPECT_EQ(clock_.sleeps.size(), 2u);
  ASSERT_EQ(logs_.size(), 2u);
  EXPECT_NE(logs_[0].find("GetEndpoint"), std::string::npos);
  EXPECT_NE(logs_[0].find(" ms"), std::string::npos);
}

TEST_F(RetryTest, NonIdempotentIsNotRetried) {
  Status s = internal::RetryLoopImpl(retry_, backoff_, Idempotency::kNonIdempotent, clock_, "CreateModel",
                                     Script({UnavailableError("503")}));
  EXPECT_EQ(s.code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_EQ(s.message(), "503");  // one attempt: no suffix
  EXPECT_EQ(calls_, 1);
  EXPECT_TRUE(clock_.sleeps.empty());
}

TEST_F(RetryTest, NonIdempotentIsRetriedWhenNotProcessed) {
  Status s = internal::RetryLoopImpl(
      retry_, backoff_, Idempotency::kNonIdempotent, clock_, "CreateModel",
      Script({UnavailableError("connection refused").set_not_processed(), UnavailableError("503 again")}));
  EXPECT_EQ(s.code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_EQ(s.message(), "503 again (after 2 attempts)");  // the second failure may have been processed: stop
  EXPECT_EQ(calls_, 2);
  EXPECT_TRUE(IsRetryable(UnavailableError("x").set_not_processed(), Idempotency::kNonIdempotent));
  EXPECT_FALSE(IsRetryable(NotFoundError("x").set_not_processed(), Idempotency::kNonIdempotent));
  EXPECT_TRUE(UnavailableError("x").set_not_processed().WithContext("c").WithSuffix("!").not_processed());
}

TEST_F(RetryTest, FinalFailureIsReturnedAsIs) {
  Status s = internal::RetryLoopImpl(retry_, backoff_, Idempotency::kIdempotent, clock_, "GetCredentials",
                                     Script({UnavailableError("IMDS did not answer (after 3 attempts)").set_final()}));
  EXPECT_EQ(s.message(), "IMDS did not answer (after 3 attempts)");  // its own retries; no second count
  EXPECT_TRUE(s.final());
  EXPECT_EQ(calls_, 1);
}

TEST_F(RetryTest, NonTransientIsNotRetried) {
  Status s = internal::RetryLoopImpl(retry_, backoff_, Idempotency::kIdempotent, clock_, "Get",
                                     Script({NotFoundError("no such endpoint")}));
  EXPECT_EQ(s.code(), StatusCode::kResourceDoesNotExist);
  EXPECT_EQ(s.message(), "no such endpoint");
  EXPECT_EQ(calls_, 1);
}

TEST_F(RetryTest, PermanentErrorAfterRetriesCountsAttempts) {
  Status s = internal::RetryLoopImpl(retry_, backoff_, Idempotency::kIdempotent, clock_, "Get",
                                     Script({UnavailableError("503"), PermissionDeniedError("denied")}));
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(), "denied (after 2 attempts)");
}

TEST_F(RetryTest, StopsAtMaxAttempts) {
  std::vector<Status> errors(10, UnavailableError("busy"));
  Status s = internal::RetryLoopImpl(retry_, backoff_, Idempotency::kIdempotent, clock_, "Get", Script(errors));
  EXPECT_EQ(s.code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_EQ(s.message(), "busy (after 5 attempts)");
  EXPECT_EQ(calls_, 5);
  EXPECT_EQ(clock_.sleeps.size(), 4u);
}

TEST_F(RetryTest, DeadlineStops) {
  RetryPolicy retry{100, milliseconds(1'000)};
  Status busy = UnavailableError("busy");
  busy.set_retry_after(milliseconds(300));
  std::vector<Status> errors(100, busy);
  Status s = internal::RetryLoopImpl(retry, backoff_, Idempotency::kIdempotent, clock_, "Get", Script(errors));
  EXPECT_EQ(s.code(), StatusCode::kTemporarilyUnavailable);
  // Sleeps at 0, 300, 600 -> 900 ms; a fourth would end at 1200 > 1000.
  EXPECT_EQ(calls_, 4);
  EXPECT_EQ(clock_.sleeps.size(), 3u);
  EXPECT_EQ(s.message(), "busy (after 4 attempts)");
  EXPECT_EQ(s.retry_after(), milliseconds(300));
}

TEST_F(RetryTest, DeadlineCountsTimeSpentInAttempts) {
  RetryPolicy retry{100, milliseconds(1'000)};
  int calls = 0;
  Status s = internal::RetryLoopImpl(retry, backoff_, Idempotency::kIdempotent, clock_, "Get", [&]() {
    ++calls;
    clock_.Advance(milliseconds(600));  // a slow attempt
    return UnavailableError("slow");
  });
  EXPECT_FALSE(s.ok());
  // 600 ms + a sleep of at most 100 ms fits in 1 s; after the second attempt (>= 1.2 s) nothing does.
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(s.message(), "slow (after 2 attempts)");
}

TEST_F(RetryTest, RetryAfterHonouredExactly) {
  Status busy = UnavailableError("429");
  busy.set_retry_after(milliseconds(2'500));
  Status busy2 = UnavailableError("503");
  busy2.set_retry_after(milliseconds(0));
  Status s = internal::RetryLoopImpl(retry_, backoff_, Idempotency::kIdempotent, clock_, "Get", Script({busy, busy2}));
  EXPECT_TRUE(s.ok());
  ASSERT_EQ(clock_.sleeps.size(), 2u);
  EXPECT_EQ(clock_.sleeps[0], milliseconds(2'500));  // beyond backoff's maximum: the server knows best
  EXPECT_EQ(clock_.sleeps[1], milliseconds(0));
}

TEST_F(RetryTest, BackoffSleepsWithinBounds) {
  std::vector<Status> errors(4, UnavailableError("busy"));
  Status s = internal::RetryLoopImpl(retry_, backoff_, Idempotency::kIdempotent, clock_, "Get", Script(errors));
  EXPECT_TRUE(s.ok());
  ASSERT_EQ(clock_.sleeps.size(), 4u);
  const long long caps[] = {100, 200, 400, 800};
  for (int i = 0; i < 4; ++i) {
    EXPECT_GE(clock_.sleeps[i].count(), 0);
    EXPECT_LE(clock_.sleeps[i].count(), caps[i]);
  }
}

TEST(BackoffDelayTest, FullJitterBounds) {
  BackoffPolicy b{milliseconds(100), milliseconds(5'000), 2.0};
  std::mt19937_64 rng(12345);
  for (int retry = 0; retry < 10; ++retry) {
    long long cap = std::min<long long>(5'000, 100LL << retry);
    long long lo = cap, hi = 0;
    for (int i = 0; i < 2'000; ++i) {
      long long d = internal::BackoffDelay(b, retry, rng).count();
      ASSERT_GE(d, 0);
      ASSERT_LE(d, cap);
      lo = std::min(lo, d);
      hi = std::max(hi, d);
    }
    // Spread over the whole range, not a constant.
    EXPECT_LT(lo, cap / 10) << "retry " << retry;
    EXPECT_GT(hi, cap * 9 / 10) << "retry " << retry;
  }
}

TEST(BackoffDelayTest, HugeRetryCountIsCapped) {
  BackoffPolicy b{milliseconds(100), milliseconds(5'000), 2.0};
  std::mt19937_64 rng(1);
  for (int i = 0; i < 100; ++i) EXPECT_LE(internal::BackoffDelay(b, 10'000, rng).count(), 5'000);
}

TEST(IsTransientTest, Codes) {
  EXPECT_TRUE(IsTransient(UnavailableError("x")));
  EXPECT_TRUE(IsTransient(DeadlineExceededError("x")));
  EXPECT_FALSE(IsTransient(InternalError("x")));
  EXPECT_FALSE(IsTransient(NotFoundError("x")));
  EXPECT_FALSE(IsTransient(OkStatus()));
}

TEST_F(RetryTest, RetryLoopTemplateReturnsValue) {
  int calls = 0;
  StatusOr<std::string> r =
      RetryLoop<std::string>(retry_, backoff_, Idempotency::kIdempotent, clock_, "Get", [&]() -> StatusOr<std::string> {
        if (++calls < 3) return UnavailableError("busy");
        return std::string("done");
      });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, "done");
  EXPECT_EQ(calls, 3);
}

}  // namespace
}  // namespace mlflow_bridge
