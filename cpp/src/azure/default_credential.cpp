// What azure-identity's DefaultAzureCredential does without the developer tools: environment (client secret,
// then client certificate) -> workload identity -> managed identity, cached; or one source chosen explicitly.
#include <string>
#include <utility>
#include <vector>

#include "azure/credentials.h"
#include "azure/entra.h"
#include "common/strings.h"

namespace mlflow_bridge::internal {
namespace {

constexpr char kChainHint[] =
    "To authenticate, set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH "
    "instead of the secret) for a service principal; in AKS, use workload identity (the webhook sets "
    "AZURE_FEDERATED_TOKEN_FILE); or run on an Azure VM, scale set or node with a managed identity";

// Stands in for a credential that could not be made: its error, every time (an unavailable one is skipped by
// the chain, anything else stops it).
class FailedCredential : public TokenCredential {
 public:
  FailedCredential(std::string name, Status status) : name_(std::move(name)), status_(std::move(status)) {}
  StatusOr<AccessToken> GetToken(const std::string&) override {
    Status s = status_.WithContext(name_);
    return s.set_final();
  }
  std::string Describe() const override { return name_; }

 private:
  std::string name_;
  Status status_;
};

// An explicitly chosen credential: "unavailable" is the user's problem to fix, so it is UNAUTHENTICATED.
class RequiredCredential : public TokenCredential {
 public:
  RequiredCredential(std::shared_ptr<TokenCredential> inner, AzureCredentialSource source)
      : inner_(std::move(inner)), source_(source) {}
  StatusOr<AccessToken> GetToken(const std::string& scope) override {
    StatusOr<AccessToken> t = inner_->GetToken(scope);
    if (t.ok() || !IsCredentialUnavailable(t.status())) return t;
    Status s = Status(StatusCode::kUnauthenticated, t.status().message() + " (credential source '" +
                                                        std::string(AzureCredentialSourceName(source_)) + "')");
    return s.set_final();
  }
  std::string Describe() const override { return inner_->Describe(); }

 private:
  std::shared_ptr<TokenCredential> inner_;
  AzureCredentialSource source_;
};

// The credential of one source, or why there is none (unavailable: RESOURCE_DOES_NOT_EXIST).
StatusOr<std::shared_ptr<TokenCredential>> MakeSource(AzureCredentialSource source, const AzureCredentialOptions& options) {
  const EnvGetter& env = options.getenv;
  switch (source) {
    case AzureCredentialSource::kSecret: {
      StatusOr<ClientSecretSettings> s = ClientSecretSettingsFromEnv(env);
      if (!s.ok()) return s.status();
      return MakeClientSecretCredential(std::move(*s), options);
    }
    case AzureCredentialSource::kCertificate: {
      StatusOr<ClientCertificateSettings> s = ClientCertificateSettingsFromEnv(env);
      if (!s.ok()) return s.status();
      return MakeClientCertificateCredential(std::move(*s), options);
    }
    case AzureCredentialSource::kWorkload: {
      StatusOr<WorkloadIdentitySettings> s = WorkloadIdentitySettingsFromEnv(env);
      if (!s.ok()) return s.status();
      return MakeWorkloadIdentityCredential(std::move(*s), options);
    }
    case AzureCredentialSource::kManagedIdentity:
      return MakeManagedIdentityCredential(ManagedIdentitySettingsFromEnv(env, options.managed_identity), options);
    case AzureCredentialSource::kAuto: break;
  }
  return InternalError("no single credential for source 'auto'");
}

std::string SourceTitle(AzureCredentialSource source) {
  switch (source) {
    case AzureCredentialSource::kSecret: return "environment (client secret)";
    case AzureCredentialSource::kCertificate: return "environment (client certificate)";
    case AzureCredentialSource::kWorkload: return "workload identity";
    case AzureCredentialSource::kManagedIdentity: return "managed identity";
    case AzureCredentialSource::kAuto: break;
  }
  return "default Azure credential";
}

}  // namespace

std::string_view AzureCredentialSourceName(AzureCredentialSource source) {
  switch (source) {
    case AzureCredentialSource::kAuto: return "auto";
    case AzureCredentialSource::kSecret: return "secret";
    case AzureCredentialSource::kCertificate: return "certificate";
    case AzureCredentialSource::kWorkload: return "workload";
    case AzureCredentialSource::kManagedIdentity: return "managed_identity";
  }
  return "auto";
}

StatusOr<AzureCredentialSource> ParseAzureCredentialSource(std::string_view text) {
  std::string t = ToLower(Trim(text));
  for (char& c : t)
    if (c == '-') c = '_';
  if (t.empty() || t == "auto" || t == "default") return AzureCredentialSource::kAuto;
  if (t == "secret" || t == "client_secret") return AzureCredentialSource::kSecret;
  if (t == "certificate" || t == "client_certificate") return AzureCredentialSource::kCertificate;
  if (t == "workload" || t == "workload_identity") return AzureCredentialSource::kWorkload;
  if (t == "managed_identity" || t == "msi") return AzureCredentialSource::kManagedIdentity;
  return InvalidParameterError("Azure credential source '" + std::string(text) +
                               "' is not one of auto, secret, certificate, workload, managed_identity");
}

StatusOr<std::shared_ptr<TokenCredential>> MakeDefaultAzureCredential(const AzureCredentialOptions& in) {
  AzureCredentialOptions options = in;
  options.getenv = EnvOf(in);
  options.clock = ClockOf(in);
  if (options.managed_identity.kind != ManagedIdentityId::Kind::kSystemAssigned &&
      Trim(options.managed_identity.value).empty())
    return InvalidParameterError("the user-assigned managed identity's id is empty");
  if (!options.transport) options.transport = MakeCurlTransport();  // one for all the token endpoint's requests

  if (options.source != AzureCredentialSource::kAuto) {
    StatusOr<std::shared_ptr<TokenCredential>> c = MakeSource(options.source, options);
    if (!c.ok()) {
      Status s = c.status().WithContext(SourceTitle(options.source));
      if (IsCredentialUnavailable(s))
        return UnauthenticatedError(s.message() + " (credential source '" +
                                    std::string(AzureCredentialSourceName(options.source)) + "' was chosen)");
      return s;
    }
    return MakeCachingTokenCredential(std::make_shared<RequiredCredential>(std::move(*c), options.source), options.clock);
  }

  std::vector<std::shared_ptr<TokenCredential>> chain;
  for (AzureCredentialSource source : {AzureCredentialSource::kSecret, AzureCredentialSource::kCertificate,
                                       AzureCredentialSource::kWorkload, AzureCredentialSource::kManagedIdentity}) {
    StatusOr<std::shared_ptr<TokenCredential>> c = MakeSource(source, options);
    if (c.ok()) chain.push_back(std::move(*c));
    else chain.push_back(std::make_shared<FailedCredential>(SourceTitle(source), c.status()));
  }
  return MakeCachingTokenCredential(MakeChainedTokenCredential(std::move(chain), kChainHint), options.clock);
}

}  // namespace mlflow_bridge::internal
