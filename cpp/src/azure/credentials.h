// Entra ID (Azure AD) access tokens, following azure-identity's conventions: the interface every Azure
// caller takes (ARM, blob storage with an identity, scoring an aad_token endpoint). The providers (client
// secret, client certificate, workload identity, managed identity), the per-scope cache and the default
// chain are declared below it.
#pragma once

#include <chrono>
#include <optional>
#include <string>

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
  virtual StatusOr<AccessToken> GetToken(const std::string& scope) = 0;
};

}  // namespace mlflow_bridge::internal
