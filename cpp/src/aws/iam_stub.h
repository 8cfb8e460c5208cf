// The IAM stub (query protocol; IAM is global and signed for its partition's first region).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "aws/caller.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

// The interface; mocked in tests (tests/cpp/mock_aws_stubs.h).
class IamStub {
 public:
  virtual ~IamStub() = default;

  // The ARN of role `role_name`, path included (arn:aws:iam::<acct>:role/service-role/<name>).
  virtual StatusOr<std::string> GetRoleArn(std::string_view role_name) const = 0;
};

// The stub over the AWS API (AwsCaller): one attempt per call; callers retry (aws/retry_policy.h).
class IamApiStub final : public IamStub {
 public:
  // `endpoint`: the IAM base URL (ResolveAwsEndpoint("iam", "iam", region)); `region`: any region of the
  // partition (the signing region is the partition's first: us-east-1, cn-north-1, us-gov-west-1).
  IamApiStub(AwsCaller caller, std::string endpoint, std::string_view region);
  StatusOr<std::string> GetRoleArn(std::string_view role_name) const override;

 private:
  AwsCaller caller_;
  AwsService iam_;
};

}  // namespace mlflow_bridge::internal
