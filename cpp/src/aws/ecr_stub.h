// The ECR stub (JSON 1.1, X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.<Op>).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "aws/caller.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

struct EcrAuthorization {
  std::string token;           // base64 of "AWS:<password>"; a secret: never log it
  std::string proxy_endpoint;  // "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com"
  std::chrono::system_clock::time_point expires_at;
};

class EcrStub {
 public:
  // `endpoint`: the ECR base URL (ResolveAwsEndpoint("ecr", "api.ecr", region)).
  EcrStub(AwsCaller caller, std::string endpoint, std::string region);
  // The repositoryUri of `repository_name` in the caller's registry.
  StatusOr<std::string> DescribeRepositories(std::string_view repository_name) const;
  // Creates `repository_name` (tags immutable: no; scan on push: off) and returns its repositoryUri.
  StatusOr<std::string> CreateRepository(std::string_view repository_name) const;
  StatusOr<EcrAuthorization> GetAuthorizationToken() const;

 private:
  StatusOr<nlohmann::json> Call(std::string_view operation, const nlohmann::json& request, std::string_view what) const;

  AwsCaller caller_;
  AwsService ecr_;
};

}  // namespace mlflow_bridge::internal
