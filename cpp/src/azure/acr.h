// Azure Container Registry logins with an Entra ID identity, as `az acr login` and azure-containerregistry do
// them: an Entra access token (ARM audience) is traded at https://<registry>/oauth2/exchange for an ACR refresh
// token, which the registry's token service (its Bearer realm, /oauth2/token) takes with
// grant_type=refresh_token for each pull or push. No admin user, no service-principal password, no docker.
#pragma once

#include <chrono>
#include <string>

#include "azure/credentials.h"
#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/http.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

// The scope of the Entra token the exchange takes (ACR also accepts https://containerregistry.azure.net).
inline constexpr char kAcrExchangeScope[] = "https://management.azure.com/.default";

struct AcrRefreshToken {
  std::string token;  // a secret
  std::chrono::system_clock::time_point expires_at;
};

// POSTs grant_type=access_token&service=<registry>&access_token=<token of `credential`> to
// <scheme>://<registry>/oauth2/exchange (http only with `plain_http`), retried on 429, 5xx and transport
// failures. The refresh token expires at its JWT `exp` (else with the Entra token). Errors: the credential's
// own; UNAUTHENTICATED when the registry refuses the token (with what to check); never a token in a message.
StatusOr<AcrRefreshToken> ExchangeForAcrRefreshToken(const std::string& registry, bool plain_http,
                                                     TokenCredential& credential, HttpTransport& transport, Clock& clock);

}  // namespace mlflow_bridge::internal
