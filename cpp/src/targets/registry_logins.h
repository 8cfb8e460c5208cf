// Registry logins that need a cloud's API, wired between the image code and the platform folders (which do
// not include each other): ECR passwords from GetAuthorizationToken, ACR refresh tokens for an Entra ID identity.
#pragma once

#include <memory>
#include <string>

#include "azure/credentials.h"
#include "image/registry_auth.h"
#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/http.h"
#include "mlflow_bridge/image.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

// The ECR login source the image builder takes (ImageBuilderOptions::ecr_login).
EcrLoginFactory EcrLogins(std::shared_ptr<Clock> clock);

// The ACR login source the image builder takes (ImageBuilderOptions::acr_login): refresh tokens from the
// registry's /oauth2/exchange for the tokens of `credential` (null: the environment's DefaultAzureCredential,
// made when a login is first needed), fetched again before they expire (3 hours).
AcrLoginFactory AcrLogins(std::shared_ptr<Clock> clock, std::shared_ptr<TokenCredential> credential = nullptr);

// Credentials for ECR registry `registry` ("AWS" and a 12-hour password from GetAuthorizationToken), fetched
// when first needed and again before they expire: what a Kubernetes pull Secret holds.
StatusOr<std::shared_ptr<RegistryCredentialsProvider>> MakeEcrRegistryCredentials(const std::string& registry,
                                                                                  const std::string& region,
                                                                                  const std::string& aws_profile,
                                                                                  std::shared_ptr<HttpTransport> transport,
                                                                                  std::shared_ptr<Clock> clock);

}  // namespace mlflow_bridge::internal
