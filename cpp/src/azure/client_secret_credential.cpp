// Entra ID tokens for a service principal with a client secret (AZURE_CLIENT_SECRET), as azure-identity's
// ClientSecretCredential gets them through MSAL: client credentials grant, POSTed to the tenant's token URL.
#include <string>
#include <utility>
#include <vector>

#include "azure/credentials.h"
#include "azure/entra.h"

namespace mlflow_bridge::internal {
namespace {

class ClientSecretCredential : public TokenCredential {
 public:
  ClientSecretCredential(ClientSecretSettings settings, std::string token_url, TokenRequester requester)
      : settings_(std::move(settings)), token_url_(std::move(token_url)), requester_(std::move(requester)) {}

  StatusOr<AccessToken> GetToken(const std::string& scope) override {
    if (Status s = ValidateScope(scope); !s.ok()) return s.WithContext(Describe()).set_final();
    return requester_.Post(token_url_,
                           {{"client_id", settings_.client_id},
                            {"client_secret", settings_.client_secret},
                            {"grant_type", "client_credentials"},
                            {"scope", scope},
                            {"client_info", "1"}},
                           Describe(), {settings_.client_secret});
  }

  std::string Describe() const override {
    return "client secret credential of client " + settings_.client_id + " in tenant " + settings_.tenant_id;
  }

 private:
  ClientSecretSettings settings_;
  std::string token_url_;
  TokenRequester requester_;
};

}  // namespace

StatusOr<ClientSecretSettings> ClientSecretSettingsFromEnv(const EnvGetter& getenv) {
  ClientSecretSettings s;
  StatusOr<AppEnv> env = ReadAppEnv(getenv, "AZURE_CLIENT_SECRET");
  if (!env.ok()) return env.status();
  s.tenant_id = env->tenant_id;
  s.client_id = env->client_id;
  s.client_secret = env->value;
  s.authority_host = env->authority_host;
  return s;
}

StatusOr<std::shared_ptr<TokenCredential>> MakeClientSecretCredential(ClientSecretSettings settings,
                                                                      const AzureCredentialOptions& options) {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(ValidateTenantId(settings.tenant_id));
  if (settings.client_id.empty()) return InvalidParameterError("client secret credential: the client id is empty");
  if (settings.client_secret.empty())
    return InvalidParameterError("client secret credential of client " + settings.client_id + ": the secret is empty");
  StatusOr<std::string> authority = NormalizeAuthorityHost(settings.authority_host, "authority host");
  if (!authority.ok()) return authority.status();
  settings.authority_host = *authority;
  std::string url = TokenUrl(settings.authority_host, settings.tenant_id);
  TokenRequester requester{TransportOf(options), ClockOf(options), options.token_retry, options.token_backoff};
  return std::shared_ptr<TokenCredential>(
      std::make_shared<ClientSecretCredential>(std::move(settings), std::move(url), std::move(requester)));
}

}  // namespace mlflow_bridge::internal
