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

// The interface; mocked in tests (tests/cpp/mock_aws_stubs.h).
class EcrStub {
 public:
  virtual ~EcrStub() = default;

  // The repositoryUri of `repository_name` in the caller's registry.
  virtual StatusOr<std::string> DescribeRepositories(std::string_view repository_name) const = 0;
  // Creates `repository_name` (tags immutable: no; scan on push: off) and returns its repositoryUri.
  virtual StatusOr<std::string> CreateRepository(std::string_view repository_name) const = 0;
  virtual StatusOr<EcrAuthorization> GetAuthorizationToken() const = 0;
};

// The stub over the AWS API (AwsCaller): one attempt per call; callers retry (aws/retry_policy.h).
class EcrApiStub final : public EcrStub {
 public:
  // `endpoint`: the ECR base URL (ResolveAwsEndpoint("ecr", "api.ecr", region)).
  EcrApiStub(AwsCaller caller, std::string endpoint, std::string region);
  StatusOr<std::string> DescribeRepositories(std::string_view repository_name) const override;
  StatusOr<std::string> CreateRepository(std::string_view repository_name) const override;
  StatusOr<EcrAuthorization> GetAuthorizationToken() const override;

 private:
  StatusOr<nlohmann::json> Call(std::string_view operation, const nlohmann::json& request, std::string_view what) const;

  AwsCaller caller_;
  AwsService ecr_;
};

}  // namespace mlflow_bridge::internal
