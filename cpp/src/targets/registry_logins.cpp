#include "targets/registry_logins.h"

#include <utility>

#include "aws/ecr.h"
#include "azure/acr.h"
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
      return RegistryLogin{login->username, login->password, "", login->expires_at};
    };
    return source;
  };
}

AcrLoginFactory AcrLogins(std::shared_ptr<Clock> clock, std::shared_ptr<TokenCredential> credential) {
  if (!clock) clock = SystemClock();
  return [clock, credential](const std::string& registry, bool plain_http,
                             std::shared_ptr<HttpTransport> transport) -> StatusOr<RegistryLoginSource> {
    std::shared_ptr<TokenCredential> identity = credential;
    if (!identity) {
      AzureCredentialOptions options;
      options.transport = transport;
      options.clock = clock;
      auto made = MakeDefaultAzureCredential(options);
      if (!made.ok()) return made.status().WithContext("registry_auth=acr");
      identity = *made;
    }
    RegistryLoginSource source;
    source.describe = "an ACR refresh token for " + identity->Describe();
    source.fetch = [registry, plain_http, identity, transport, clock]() -> StatusOr<RegistryLogin> {
      auto refresh = ExchangeForAcrRefreshToken(registry, plain_http, *identity, *transport, *clock);
      if (!refresh.ok()) return refresh.status();
      RegistryLogin login;
      login.identity_token = std::move(refresh->token);
      login.expires_at = refresh->expires_at;
      return login;
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

ImageBuilderOptions TargetImageBuilderOptions(std::string work_dir, std::shared_ptr<Clock> clock,
                                              std::function<bool()> interrupted, std::string serve_dir) {
  ImageBuilderOptions options;
  options.work_dir = std::move(work_dir);
  options.clock = std::move(clock);
  options.interrupted = std::move(interrupted);
  options.serve_dir = std::move(serve_dir);
  return WithRegistryLogins(std::move(options));
}

ImageBuilderOptions WithRegistryLogins(ImageBuilderOptions options) {
  if (!options.ecr_login) options.ecr_login = internal::EcrLogins(options.clock);
  if (!options.acr_login) options.acr_login = internal::AcrLogins(options.clock);
  return options;
}

}  // namespace mlflow_bridge
