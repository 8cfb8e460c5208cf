// Entra ID tokens for Azure workload identity (a Kubernetes service account federated with an app): the
// projected service account token in AZURE_FEDERATED_TOKEN_FILE is the client assertion, as azure-identity's
// WorkloadIdentityCredential sends it (a ClientAssertionCredential, JWT bearer).
#include <chrono>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "azure/credentials.h"
#include "azure/entra.h"
#include "common/env.h"
#include "common/strings.h"

namespace mlflow_bridge::internal {
namespace {

// azure-identity reads the file again when the last read is more than this old (the kubelet rotates it).
constexpr auto kTokenFileMaxAge = std::chrono::seconds(600);

class WorkloadIdentityCredential : public TokenCredential {
 public:
  WorkloadIdentityCredential(WorkloadIdentitySettings settings, std::string token_url, TokenRequester requester)
      : settings_(std::move(settings)), token_url_(std::move(token_url)), requester_(std::move(requester)) {}

  StatusOr<AccessToken> GetToken(const std::string& scope) override {
    if (Status s = ValidateScope(scope); !s.ok()) return s.WithContext(Describe()).set_final();
    StatusOr<std::string> assertion = Assertion();
    if (!assertion.ok()) return assertion.status().WithContext(Describe()).set_final();
    return requester_.Post(token_url_,
                           {{"client_assertion", *assertion},
                            {"client_assertion_type", kJwtBearerAssertionType},
                            {"client_id", settings_.client_id},
                            {"grant_type", "client_credentials"},
                            {"scope", scope}},
                           Describe(), {*assertion});
  }

  std::string Describe() const override {
    return "workload identity credential of client " + settings_.client_id + " in tenant " + settings_.tenant_id +
           " (token file " + settings_.token_file + ")";
  }

 private:
  // The token file's content, read again once the last read is more than 600 s old.
  StatusOr<std::string> Assertion() {
    std::lock_guard<std::mutex> lock(mu_);
    const Clock::TimePoint now = requester_.clock->Now();
    if (!assertion_.empty() && now - last_read_ <= kTokenFileMaxAge) return assertion_;
    std::optional<std::string> text = ReadFileText(settings_.token_file);
    if (!text)
      return InvalidParameterError("the federated token file " + settings_.token_file +
                                   " (AZURE_FEDERATED_TOKEN_FILE) cannot be read; is the service account token "
                                   "projected into the pod (azure.workload.identity/use: \"true\")?");
    std::string token(Trim(*text));
    if (token.empty()) return InvalidParameterError("the federated token file " + settings_.token_file + " is empty");
    assertion_ = std::move(token);
    last_read_ = now;
    return assertion_;
  }

  WorkloadIdentitySettings settings_;
  std::string token_url_;
  TokenRequester requester_;
  std::mutex mu_;
  std::string assertion_;  // a secret
  Clock::TimePoint last_read_{};
};

}  // namespace

StatusOr<WorkloadIdentitySettings> WorkloadIdentitySettingsFromEnv(const EnvGetter& getenv) {
  WorkloadIdentitySettings s;
  StatusOr<AppEnv> env = ReadAppEnv(getenv, "AZURE_FEDERATED_TOKEN_FILE");
  if (!env.ok()) return env.status();
  s.tenant_id = env->tenant_id;
  s.client_id = env->client_id;
  s.token_file = env->value;
  s.authority_host = env->authority_host;
  return s;
}

StatusOr<std::shared_ptr<TokenCredential>> MakeWorkloadIdentityCredential(WorkloadIdentitySettings settings,
                                                                          const AzureCredentialOptions& options) {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(ValidateTenantId(settings.tenant_id));
  if (settings.client_id.empty()) return InvalidParameterError("workload identity credential: the client id is empty");
  if (settings.token_file.empty())
    return InvalidParameterError("workload identity credential of client " + settings.client_id +
                                 ": no federated token file given");
  StatusOr<std::string> authority = NormalizeAuthorityHost(settings.authority_host, "authority host");
  if (!authority.ok()) return authority.status();
  settings.authority_host = *authority;
  std::string url = TokenUrl(settings.authority_host, settings.tenant_id);
  TokenRequester requester{TransportOf(options), ClockOf(options), options.token_retry, options.token_backoff};
  return std::shared_ptr<TokenCredential>(
      std::make_shared<WorkloadIdentityCredential>(std::move(settings), std::move(url), std::move(requester)));
}

}  // namespace mlflow_bridge::internal
