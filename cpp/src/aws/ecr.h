// Amazon ECR for images: which region a registry is in, its API signed with the AWS credentials of the
// environment or a named profile, and registry logins from GetAuthorizationToken (no AWS CLI, no docker).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "aws/ecr_stub.h"
#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/http.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

// ECR's API in `region`, signed with the credentials of the environment or `aws_profile`; each call is
// retried through the AWS retry policy (aws/retry_policy.h).
std::shared_ptr<EcrStub> EcrApi(const std::string& region, const std::string& aws_profile,
                                std::shared_ptr<HttpTransport> transport, std::shared_ptr<Clock> clock);

// The AWS region of ECR registry `registry`: `region` when given, else the host's
// (<account>.dkr.ecr.<region>.amazonaws.com), else the profile's default (AwsDefaultRegion).
// INVALID_PARAMETER_VALUE when none says one, or the region does not exist.
StatusOr<std::string> EcrRegion(const std::string& registry, const std::string& region, const std::string& aws_profile);

// A registry login: user and password (secrets) and when they stop working.
struct EcrLogin {
  std::string username, password;
  std::chrono::system_clock::time_point expires_at;
};
// GetAuthorizationToken's authorizationToken, base64("AWS:<password>"), as a login.
StatusOr<EcrLogin> EcrLoginFromToken(std::string_view authorization_token, std::chrono::system_clock::time_point expires_at);

}  // namespace mlflow_bridge::internal
