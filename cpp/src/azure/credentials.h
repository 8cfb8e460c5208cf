// Entra ID (Azure AD) access tokens, following azure-identity's conventions: the interface every Azure
// caller takes (ARM, blob storage with an identity, scoring an aad_token endpoint). The providers (client
// secret, client certificate, workload identity, managed identity), the per-scope cache and the default
// chain are declared below it.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/http.h"
#include "mlflow_bridge/retry.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

// Scopes used by the drivers.
inline constexpr char kArmScope[] = "https://management.azure.com/.default";
inline constexpr char kAzureMlScope[] = "https://ml.azure.com/.default";  // scoring an aad_token endpoint
inline constexpr char kStorageScope[] = "https://storage.azure.com/.default";

struct AccessToken {
  std::string token;  // a secret: never logged, never in a message
  std::chrono::system_clock::time_point expires_on;
  // When to get a new one ahead of expiry: the server's refresh_in, or half the lifetime of a token valid for
  // two hours or more; unset: five minutes before expires_on.
  std::optional<std::chrono::system_clock::time_point> refresh_on;
};

// One source of tokens.
class TokenCredential {
 public:
  virtual ~TokenCredential() = default;
  // A token for one scope ("https://management.azure.com/.default"). Errors say which credential failed and
  // how to fix it (which environment variable, which identity); UNAUTHENTICATED when the identity provider
  // refused, and Status::final() once the credential's own retries are spent.
  //
  // The providers below say "this credential cannot be used here" (its environment variables are not set,
  // no managed identity endpoint answers, no identity is assigned) with RESOURCE_DOES_NOT_EXIST
  // (IsCredentialUnavailable): a chain moves on to its next credential. Any other error stops a chain.
  virtual StatusOr<AccessToken> GetToken(const std::string& scope) = 0;
  // What this credential is, for messages: "client secret credential (AZURE_CLIENT_SECRET) of client <id>".
  virtual std::string Describe() const { return "Azure credential"; }
};

// Whether a credential's error means "not available here" (a chain tries the next one).
inline bool IsCredentialUnavailable(const Status& status) { return status.code() == StatusCode::kResourceDoesNotExist; }

// ---------------------------------------------------------------- options

// Reads an environment variable: nullopt when unset or empty.
using EnvGetter = std::function<std::optional<std::string>(const std::string& name)>;
// The process environment (common/env.h GetEnv).
EnvGetter ProcessEnv();

// A user-assigned managed identity, by one of the ids IMDS takes; kSystemAssigned for the resource's own.
struct ManagedIdentityId {
  enum class Kind { kSystemAssigned, kClientId, kObjectId, kResourceId };
  Kind kind = Kind::kSystemAssigned;
  std::string value;  // the client id, object id or ARM resource id
};

// Which credential the default factory uses: kAuto is the chain; the others pick one explicitly.
enum class AzureCredentialSource { kAuto, kSecret, kCertificate, kWorkload, kManagedIdentity };
// "auto", "secret", "certificate", "workload", "managed_identity".
std::string_view AzureCredentialSourceName(AzureCredentialSource source);
// The inverse (case-insensitive; "managed-identity" and "msi" accepted too); INVALID_PARAMETER_VALUE listing the
// valid values otherwise.
StatusOr<AzureCredentialSource> ParseAzureCredentialSource(std::string_view text);

struct AzureCredentialOptions {
  AzureCredentialSource source = AzureCredentialSource::kAuto;
  // Requests to the token endpoint (and to IMDS when imds_transport is not set); null: a libcurl transport.
  std::shared_ptr<HttpTransport> transport;
  // Requests to the managed identity endpoint; null: its own libcurl transport with a 2 s connect timeout
  // (IMDS is link-local: off Azure nothing answers), not `transport`.
  std::shared_ptr<HttpTransport> imds_transport;
  std::shared_ptr<Clock> clock;  // null: SystemClock()
  EnvGetter getenv;              // null: ProcessEnv()
  // A user-assigned managed identity. Unset (kSystemAssigned): AZURE_CLIENT_ID's value when that is set, as
  // DefaultAzureCredential does, else the system-assigned identity.
  ManagedIdentityId managed_identity;
  // Token endpoint requests (POST, safe to repeat): 429, 5xx and transport failures are retried.
  RetryPolicy token_retry{4, std::chrono::seconds(60)};
  BackoffPolicy token_backoff{std::chrono::milliseconds(500), std::chrono::seconds(8), 2.0};
  // IMDS: 404, 410, 429 and 5xx are retried (410 with longer waits: IMDS is being upgraded); Retry-After
  // honoured. azure-identity makes 6 attempts with waits of up to 60 s.
  RetryPolicy imds_retry{6, std::chrono::seconds(180)};
  BackoffPolicy imds_backoff{std::chrono::milliseconds(1600), std::chrono::seconds(60), 2.0};
};

// ---------------------------------------------------------------- providers (one per file)

// Settings of each provider, read from the environment by its *FromEnv function: RESOURCE_DOES_NOT_EXIST
// (unavailable) naming the variables that are missing; INVALID_PARAMETER_VALUE for a bad value
// (AZURE_AUTHORITY_HOST with http://). The authority host is normalised (see entra.h NormalizeAuthorityHost).

// AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_AUTHORITY_HOST.
struct ClientSecretSettings {
  std::string tenant_id;
  std::string client_id;
  std::string client_secret;   // a secret
  std::string authority_host;  // empty: https://login.microsoftonline.com
};
StatusOr<ClientSecretSettings> ClientSecretSettingsFromEnv(const EnvGetter& getenv);
// POST {authority}/{tenant}/oauth2/v2.0/token with grant_type=client_credentials, client_id, client_secret,
// scope, client_info=1. Every call asks the endpoint (wrap it in MakeCachingTokenCredential).
StatusOr<std::shared_ptr<TokenCredential>> MakeClientSecretCredential(ClientSecretSettings settings,
                                                                      const AzureCredentialOptions& options);

// AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_CERTIFICATE_PATH, AZURE_CLIENT_CERTIFICATE_PASSWORD,
// AZURE_CLIENT_SEND_CERTIFICATE_CHAIN ("true"/"1"), AZURE_AUTHORITY_HOST.
struct ClientCertificateSettings {
  std::string tenant_id;
  std::string client_id;
  std::string certificate_path;      // PEM (certificates and an RSA private key) or PKCS#12
  std::string certificate_password;  // a secret; for an encrypted PEM key or a PKCS#12 file
  bool send_certificate_chain = false;
  std::string authority_host;
};
StatusOr<ClientCertificateSettings> ClientCertificateSettingsFromEnv(const EnvGetter& getenv);
// Loads the certificate now (INVALID_PARAMETER_VALUE when it cannot be read, the password is wrong, the key is
// not RSA or matches none of the certificates). Sends a JWT client assertion signed RS256 with x5t (and x5c
// with send_certificate_chain), as azure-identity's CertificateCredential does through MSAL; the assertion is
// valid 10 minutes and reused until a minute before it expires.
StatusOr<std::shared_ptr<TokenCredential>> MakeClientCertificateCredential(ClientCertificateSettings settings,
                                                                           const AzureCredentialOptions& options);

// AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE, AZURE_AUTHORITY_HOST.
struct WorkloadIdentitySettings {
  std::string tenant_id;
  std::string client_id;
  std::string token_file;
  std::string authority_host;
};
StatusOr<WorkloadIdentitySettings> WorkloadIdentitySettingsFromEnv(const EnvGetter& getenv);
// The token file's content is the client assertion (JWT bearer); the file is read again once the last read is
// more than 600 s old (Kubernetes rotates it).
StatusOr<std::shared_ptr<TokenCredential>> MakeWorkloadIdentityCredential(WorkloadIdentitySettings settings,
                                                                          const AzureCredentialOptions& options);

// IMDS at AZURE_POD_IDENTITY_AUTHORITY_HOST, else http://169.254.169.254.
struct ManagedIdentitySettings {
  ManagedIdentityId id;
  std::string endpoint;  // the IMDS base URL; empty: the default
};
// Always available as settings (IMDS answers or not at GetToken); the id is options.managed_identity, else
// AZURE_CLIENT_ID as a client id.
ManagedIdentitySettings ManagedIdentitySettingsFromEnv(const EnvGetter& getenv, const ManagedIdentityId& configured);
// GET {endpoint}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=<scope without /.default>
// [&client_id=|&object_id=|&msi_res_id=] with Metadata: true. Unavailable (RESOURCE_DOES_NOT_EXIST) when
// nothing answers (not on Azure) or IMDS says 400 (no identity assigned, or not the requested one).
StatusOr<std::shared_ptr<TokenCredential>> MakeManagedIdentityCredential(ManagedIdentitySettings settings,
                                                                         const AzureCredentialOptions& options);

// ---------------------------------------------------------------- cache and chain

// Caches the tokens of `inner` per scope, thread-safe (one request at a time per scope), with
// azure-identity's refresh rules: a new token is required when there is none or it has expired (errors
// returned); recommended once refresh_on has passed or it expires within 300 s (a failure keeps the old
// token, logged as a warning); a recommended refresh is not tried again within 30 s of the last attempt.
std::shared_ptr<TokenCredential> MakeCachingTokenCredential(std::shared_ptr<TokenCredential> inner,
                                                            std::shared_ptr<Clock> clock = SystemClock());

// Asks each credential in turn until one gives a token, as ChainedTokenCredential does: an unavailable one
// (IsCredentialUnavailable) is skipped, any other error stops the chain (named with the credential). Once one
// has given a token, it is the only one asked. When none is available: UNAUTHENTICATED listing what was tried
// and `hint` (what to set).
std::shared_ptr<TokenCredential> MakeChainedTokenCredential(std::vector<std::shared_ptr<TokenCredential>> credentials,
                                                            std::string hint = "");

// What DefaultAzureCredential does, minus the developer tools: environment (client secret, then client
// certificate) -> workload identity -> managed identity, cached. With options.source other than kAuto only
// that credential, and an unconfigured one is UNAUTHENTICATED naming the variables to set (its
// configuration errors are returned now). Environment variables are read now, through options.getenv.
StatusOr<std::shared_ptr<TokenCredential>> MakeDefaultAzureCredential(const AzureCredentialOptions& options = {});

}  // namespace mlflow_bridge::internal
