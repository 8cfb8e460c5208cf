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

class StsStub {
 public:
  // `endpoint`: the STS base URL (ResolveAwsEndpoint("sts", "sts", region)).
  StsStub(AwsCaller caller, std::string endpoint, std::string region);
  StatusOr<CallerIdentity> GetCallerIdentity() const;

 private:
  AwsCaller caller_;
  AwsService sts_;
};

}  // namespace mlflow_bridge::internal
