#include "targets/registry_logins.h"

#include <utility>

#include "aws/ecr.h"
#include "mlflow_bridge/targets.h"

namespace mlflow_bridge {
namespace internal {

EcrLoginFactory EcrLogins(std::shared_ptr<Clock> clock) {
  if (!clock) clock = SystemClock();
  return [clock](const std::string& registry, const std::string& region, const std::string& aws_profile,
                 std::shared_ptr<HttpTransport> transport) -> StatusOr<RegistryLoginSource> {
    auto r = EcrRegion(registry, region, aws_profile);
    if (!r.ok()) return r.status();
    std::shared_ptr<EcrStub> stub = EcrApi(*r, aws_profile, std::move(transport), clock);
    RegistryLoginSource source;
    source.describe = "ECR GetAuthorizationToken (AWS credentials" +
                      (aws_profile.empty() ? "" : " of profile " + aws_profile) + ", region " + *r + ")";
    source.fetch = [stub]() -> StatusOr<RegistryLogin> {
      auto token = stub->GetAuthorizationToken();
      if (!token.ok()) return token.status().WithContext("Getting a registry password from ECR");
      auto login = EcrLoginFromToken(token->token, token->expires_at);
      if (!login.ok()) return login.status();
      return RegistryLogin{login->username, login->password, login->expires_at};
    };
    return source;
  };
}

StatusOr<std::shared_ptr<RegistryCredentialsProvider>> MakeEcrRegistryCredentials(const std::string& registry,
                                                                                  const std::string& region,
                                                                                  const std::string& aws_profile,
                                                                                  std::shared_ptr<HttpTransport> transport,
                                                                                  std::shared_ptr<Clock> clock) {
  auto source = EcrLogins(clock)(registry, region, aws_profile, std::move(transport));
  if (!source.ok()) return source.status();
  return MakeRegistryCredentials(std::move(source).value(), std::move(clock));
}

}  // namespace internal

ImageBuilderOptions WithRegistryLogins(ImageBuilderOptions options) {
  if (!options.ecr_login) options.ecr_login = internal::EcrLogins(options.clock);
  return options;
}

}  // namespace mlflow_bridge
