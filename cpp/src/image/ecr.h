// Amazon ECR for images: registry logins from GetAuthorizationToken, and the
// repository an image goes to. Calls are signed with SigV4 by the AWS
// credentials of the environment or a named profile (no AWS CLI, no docker).
#pragma once

#include <memory>
#include <string>

#include "auth/registry_auth.h"
#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/http.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

class SageMakerStub;
// A client for ECR's API in `region`, signed with the credentials of the environment or `aws_profile`.
std::shared_ptr<SageMakerStub> EcrApi(const std::string& region, const std::string& aws_profile,
                                    std::shared_ptr<HttpTransport> transport, std::shared_ptr<Clock> clock);

// The AWS region of ECR registry `registry`: `region` when given, else the host's
// (<account>.dkr.ecr.<region>.amazonaws.com), else the profile's default (AwsDefaultRegion).
// INVALID_PARAMETER_VALUE when none says one, or the region does not exist.
StatusOr<std::string> EcrRegion(const std::string& registry, const std::string& region, const std::string& aws_profile);

// Credentials for `registry` ("AWS" and a 12-hour password from GetAuthorizationToken), fetched when first
// needed and again before they expire.
StatusOr<std::shared_ptr<RegistryCredentialsProvider>> MakeEcrRegistryCredentials(
    const std::string& registry, const std::string& region, const std::string& aws_profile,
    std::shared_ptr<HttpTransport> transport, std::shared_ptr<Clock> clock);

}  // namespace mlflow_bridge::internal
