#include "image/ecr.h"

#include "mlflow_bridge/image.h"

#include "mlflow_bridge/aws.h"
#include "mlflow_bridge/logging.h"
#include "targets/sagemaker/stub.h"

namespace mlflow_bridge::internal {

std::shared_ptr<SageMakerStub> EcrApi(const std::string& region, const std::string& aws_profile,
                                    std::shared_ptr<HttpTransport> transport, std::shared_ptr<Clock> clock) {
  return std::make_shared<SageMakerStub>(AwsCaller(std::move(transport), MakeDefaultAwsCredentialsProvider(aws_profile), std::move(clock)),
                                         region, ResolveSageMakerEndpoints(region));
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

StatusOr<std::shared_ptr<RegistryCredentialsProvider>> MakeEcrRegistryCredentials(
    const std::string& registry, const std::string& region, const std::string& aws_profile,
    std::shared_ptr<HttpTransport> transport, std::shared_ptr<Clock> clock) {
  auto r = EcrRegion(registry, region, aws_profile);
  if (!r.ok()) return r.status();
  auto stub = EcrApi(*r, aws_profile, std::move(transport), clock);
  return MakeCachingRegistryCredentials(
      [stub]() -> StatusOr<RegistryCredentials> {
        auto token = stub->GetAuthorizationToken();
        if (!token.ok()) return token.status().WithContext("Getting a registry password from ECR");
        return EcrCredentialsFromToken(token->token, token->expires_at);
      },
      "ECR GetAuthorizationToken (AWS credentials" + (aws_profile.empty() ? "" : " of profile " + aws_profile) +
          ", region " + *r + ")",
      std::move(clock));
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
