// The STS stub (query protocol): who the credentials belong to.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "aws/caller.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

struct CallerIdentity {
  std::string account;  // "123456789012"
  std::string arn;      // "arn:aws:iam::123456789012:user/alice"
  std::string user_id;
};

// The interface; mocked in tests (tests/cpp/mock_aws_stubs.h).
class StsStub {
 public:
  virtual ~StsStub() = default;

  virtual StatusOr<CallerIdentity> GetCallerIdentity() const = 0;
};

// The stub over the AWS API (AwsCaller): one attempt per call; callers retry (aws/retry_policy.h).
class StsApiStub final : public StsStub {
 public:
  // `endpoint`: the STS base URL (ResolveAwsEndpoint("sts", "sts", region)).
  StsApiStub(AwsCaller caller, std::string endpoint, std::string region);
  StatusOr<CallerIdentity> GetCallerIdentity() const override;

 private:
  AwsCaller caller_;
  AwsService sts_;
};

}  // namespace mlflow_bridge::internal
