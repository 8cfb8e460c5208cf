// The IAM stub (query protocol; IAM is global and signed for its partition's first region).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "aws/caller.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

class IamStub {
 public:
  // `endpoint`: the IAM base URL (ResolveAwsEndpoint("iam", "iam", region)); `region`: any region of the
  // partition (the signing region is the partition's first: us-east-1, cn-north-1, us-gov-west-1).
  IamStub(AwsCaller caller, std::string endpoint, std::string_view region);
  // The ARN of role `role_name`, path included (arn:aws:iam::<acct>:role/service-role/<name>).
  StatusOr<std::string> GetRoleArn(std::string_view role_name) const;

 private:
  AwsCaller caller_;
  AwsService iam_;
};

}  // namespace mlflow_bridge::internal
