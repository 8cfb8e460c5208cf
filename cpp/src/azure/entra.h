// What the Entra ID credentials share: the authority and token URL, tenant and scope checks, the token
// request (POST form, retried) and its reply, the token endpoint's error JSON, and the environment helpers.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "azure/credentials.h"
#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/http.h"
#include "mlflow_bridge/retry.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

inline constexpr char kDefaultAuthorityHost[] = "https://login.microsoftonline.com";
inline constexpr char kJwtBearerAssertionType[] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

// azure-identity's normalize_authority: empty -> https://login.microsoftonline.com; no scheme -> https://
// in front; any scheme other than https -> INVALID_PARAMETER_VALUE (`source` names where the value came
// from, e.g. "AZURE_AUTHORITY_HOST"); trailing spaces and slashes stripped.
StatusOr<std::string> NormalizeAuthorityHost(std::string_view value, std::string_view source = "AZURE_AUTHORITY_HOST");

// A tenant id is letters, digits, '-' and '.' (a GUID or a domain name); INVALID_PARAMETER_VALUE otherwise.
Status ValidateTenantId(std::string_view tenant_id);
// A scope is letters, digits and ".-_:/"; INVALID_PARAMETER_VALUE otherwise.
Status ValidateScope(std::string_view scope);
// The scope without a trailing "/.default": the resource that IMDS takes.
std::string ScopeToResource(std::string_view scope);

// {authority}/{tenant}/oauth2/v2.0/token
std::string TokenUrl(std::string_view authority, std::string_view tenant_id);

// application/x-www-form-urlencoded: name=value pairs, percent-encoded, joined with '&'.
std::string FormEncode(const std::vector<std::pair<std::string, std::string>>& fields);

// The token from a 2xx reply: access_token, expires_in (a number or a string; else expires_on, epoch seconds),
// refresh_in (optional; else half of expires_in when that is 7200 s or more). Errors never quote the body.
StatusOr<AccessToken> ParseTokenResponse(std::string_view body, std::chrono::system_clock::time_point now);

// When the reply says to try again: Retry-After (seconds or an HTTP date), retry-after-ms, x-ms-retry-after-ms.
std::optional<std::chrono::milliseconds> AzureRetryAfter(const HttpResponse& response,
                                                         std::chrono::system_clock::time_point now);

// What an error reply says, for a message: "AADSTS7000215: Invalid client secret provided. (invalid_client)
// [trace id ...]" (first lines only), else a redacted excerpt of the body. `aadsts_code` gets the AADSTS code.
std::string TokenErrorDetail(const HttpResponse& response, std::string* aadsts_code = nullptr);

// A token endpoint's error reply ({error, error_description, error_codes, trace_id}) as a Status: 408, 429 and
// 5xx TEMPORARILY_UNAVAILABLE (Retry-After kept), other 4xx UNAUTHENTICATED with the AADSTS code, the first
// line of the description and a hint when the code is a well-known one. `what` names the request.
Status EntraErrorStatus(const HttpResponse& response, std::string_view what, std::chrono::system_clock::time_point now);

// One token request through the transport, retried (429, 5xx, transport failures: a token request is safe
// to send again). Every error is Status::final(), says `what`, and has every string of `secrets` (and the
// parts of a JWT among them) scrubbed.
struct TokenRequester {
  std::shared_ptr<HttpTransport> transport;
  std::shared_ptr<Clock> clock;
  RetryPolicy retry;
  BackoffPolicy backoff;

  StatusOr<AccessToken> Post(const std::string& url, const std::vector<std::pair<std::string, std::string>>& form,
                             std::string_view what, const std::vector<std::string>& secrets) const;
};

// Removes every secret (and each part of one that is a JWT, a.b.c) from the status's message; the second also
// marks it final.
Status Scrubbed(const Status& status, const std::vector<std::string>& secrets);
Status ScrubbedFinal(const Status& status, const std::vector<std::string>& secrets);

// "A is not set", "A and B are not set", "A, B and C are not set".
std::string NotSetMessage(const std::vector<std::string>& names);

// The settings every Entra ID app credential reads from the environment: AZURE_TENANT_ID, AZURE_CLIENT_ID and
// the credential's own `variable` (unavailable, RESOURCE_DOES_NOT_EXIST naming those not set), and the
// normalised AZURE_AUTHORITY_HOST.
struct AppEnv {
  std::string tenant_id, client_id, value, authority_host;
};
StatusOr<AppEnv> ReadAppEnv(const EnvGetter& getenv, const char* variable);

// The options' environment getter, clock and transport, or the defaults.
EnvGetter EnvOf(const AzureCredentialOptions& options);
std::shared_ptr<Clock> ClockOf(const AzureCredentialOptions& options);
std::shared_ptr<HttpTransport> TransportOf(const AzureCredentialOptions& options);

}  // namespace mlflow_bridge::internal
