#include "aws/ecr.h"

#include <optional>
#include <utility>

#include "aws/retry_policy.h"
#include "common/base64.h"
#include "mlflow_bridge/aws.h"
#include "mlflow_bridge/logging.h"

namespace mlflow_bridge::internal {

namespace {

// ECR's calls, each retried through the AWS retry policy (all are idempotent: a CreateRepository sent
// twice finds the repository there, RESOURCE_ALREADY_EXISTS, which EnsureEcrRepository takes as made).
class RetryingEcrStub final : public EcrStub {
 public:
  RetryingEcrStub(std::shared_ptr<EcrStub> stub, AwsRetry retry) : stub_(std::move(stub)), retry_(std::move(retry)) {}
  StatusOr<std::string> DescribeRepositories(std::string_view repository_name) const override {
    return retry_.Call<std::string>(Idempotency::kIdempotent, "ECR DescribeRepositories",
                                    [&] { return stub_->DescribeRepositories(repository_name); });
  }
  StatusOr<std::string> CreateRepository(std::string_view repository_name) const override {
    return retry_.Call<std::string>(Idempotency::kIdempotent, "ECR CreateRepository",
                                    [&] { return stub_->CreateRepository(repository_name); });
  }
  StatusOr<EcrAuthorization> GetAuthorizationToken() const override {
    return retry_.Call<EcrAuthorization>(Idempotency::kIdempotent, "ECR GetAuthorizationToken",
                                         [&] { return stub_->GetAuthorizationToken(); });
  }

 private:
  std::shared_ptr<EcrStub> stub_;
  AwsRetry retry_;
};

}  // namespace

std::shared_ptr<EcrStub> EcrApi(const std::string& region, const std::string& aws_profile,
                                std::shared_ptr<HttpTransport> transport, std::shared_ptr<Clock> clock) {
  auto stub =
      std::make_shared<EcrApiStub>(AwsCaller(std::move(transport), MakeDefaultAwsCredentialsProvider(aws_profile), clock),
                                   ResolveAwsEndpoint("ecr", "api.ecr", region), region);
  return std::make_shared<RetryingEcrStub>(std::move(stub), AwsRetry(std::move(clock)));
}

StatusOr<std::string> EcrRegion(const std::string& registry, const std::string& region, const std::string& aws_profile) {
  std::string r = region;
  size_t at = registry.find(".dkr.ecr.");
  if (r.empty() && at != std::string::npos) r = registry.substr(at + 9, registry.find('.', at + 9) - (at + 9));
  if (r.empty()) r = AwsDefaultRegion(aws_profile);
  if (r.empty()) {
    return InvalidParameterError("Cannot tell the AWS region for ECR" + (registry.empty() ? "" : " registry " + registry) +
                                 ": set -C ecr_region=..., AWS_REGION, or region in the AWS profile.");
  }
  MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckAwsRegion(r, "ecr", "api.ecr"));
  return r;
}

StatusOr<EcrLogin> EcrLoginFromToken(std::string_view authorization_token,
                                     std::chrono::system_clock::time_point expires_at) {
  std::optional<std::string> decoded = Base64Decode(authorization_token);
  size_t colon = decoded ? decoded->find(':') : std::string::npos;
  if (!decoded || colon == std::string::npos || colon == 0)
    return InternalError(
        "ECR GetAuthorizationToken returned an authorization token that is not base64 of "
        "\"user:password\"");
  return EcrLogin{decoded->substr(0, colon), decoded->substr(colon + 1), expires_at};
}

}  // namespace mlflow_bridge::internal

namespace mlflow_bridge {

StatusOr<std::string> EnsureEcrRepository(const std::string& name, const std::string& region, const std::string& aws_profile,
                                          std::shared_ptr<HttpTransport> transport, std::shared_ptr<Clock> clock) {
  auto r = internal::EcrRegion("", region, aws_profile);
  if (!r.ok()) return r.status();
  auto stub = internal::EcrApi(*r, aws_profile, transport ? std::move(transport) : MakeCurlTransport(),
                               clock ? std::move(clock) : SystemClock());
  auto uri = stub->DescribeRepositories(name);
  if (uri.ok() || uri.status().code() != StatusCode::kResourceDoesNotExist) return uri;
  LogInfo("Creating ECR repository " + name + " (region " + *r + ")...");
  auto made = stub->CreateRepository(name);
  if (made.status().code() == StatusCode::kResourceAlreadyExists) return stub->DescribeRepositories(name);  // made meanwhile
  return made;
}

}  // namespace mlflow_bridge
