// OCI credentials as the OCI SDKs find them: the providers (one per file), the chain and the cache.
//
//   config file      config_file_credentials.cpp        an API key profile: tenancy, user, fingerprint, key_file
//   session token    session_token_credentials.cpp      a profile with security_token_file (`oci session
//                                                       authenticate`)
//   resource         resource_principal_credentials.cpp OCI_RESOURCE_PRINCIPAL_VERSION=2.2 and its variables
//   principal                                           (inside Data Science jobs, notebooks, functions)
//
// MakeDefaultOciCredentialsProvider chains them in that order (DESIGN.md) behind a cache. A provider
// returns NOT_FOUND when its source is simply absent, so that the chain goes on to the next; any other
// error (a profile missing a key, an unreadable key file, a wrong passphrase) stops the chain, since it
// is what the user meant to use. Messages say which file, profile, key or variable and how to fix it;
// they never carry a key, a passphrase, a token or a keyId holding one.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/status.h"
#include "oci/config_file.h"
#include "oci/private_key.h"
#include "oci/signer.h"

namespace mlflow_bridge::internal {

struct OciCredentials {
  std::string key_id;  // "tenancy/user/fingerprint", or "ST$<token>": a secret then
  std::shared_ptr<const OciPrivateKey> private_key;
  std::string region;          // may be empty (a resource principal without OCI_RESOURCE_PRINCIPAL_REGION)
  std::string tenancy;         // the tenancy OCID when the source names it
  std::string security_token;  // session / resource principal session token; empty for an API key
  std::optional<std::chrono::system_clock::time_point> expiration;  // the token's "exp", when it has one
  std::string source;  // where they came from, for messages ("profile 'DEFAULT' in ...")

  OciSigningKey signing_key() const { return OciSigningKey{key_id, private_key}; }
};

class OciCredentialsProvider {
 public:
  virtual ~OciCredentialsProvider() = default;
  virtual StatusOr<OciCredentials> GetCredentials() = 0;
  // Forget anything cached (a caller got a 401 and wants the files read again, as the SDK's resource
  // principal signer re-reads them).
  virtual void Invalidate() {}
  // What it reads, for messages ("OCI config file profile (~/.oci/config)").
  virtual std::string Describe() const = 0;
};

// An API key profile of the config file (see config_file.h for where and which profile). NOT_FOUND when
// there is no config file (none given), no such default profile, or the profile is a session token
// profile (it has security_token_file and no user).
std::shared_ptr<OciCredentialsProvider> MakeConfigFileOciCredentialsProvider(OciConfigFileOptions options = {});

// A session token profile: security_token_file and key_file (plus region). keyId "ST$<token, trimmed>".
// NOT_FOUND when there is no config file, profile or security_token_file; UNAUTHENTICATED when the token
// has expired (`oci session refresh` renews it).
std::shared_ptr<OciCredentialsProvider> MakeSessionTokenOciCredentialsProvider(OciConfigFileOptions options = {},
                                                                               std::shared_ptr<Clock> clock = nullptr);

// Resource principals v2.2 from the environment: OCI_RESOURCE_PRINCIPAL_VERSION=2.2,
// OCI_RESOURCE_PRINCIPAL_RPST (the token, or an absolute path to a file holding it),
// OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM (PEM text, or an absolute path to a PEM file),
// OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM_PASSPHRASE (optional: the passphrase when the PEM is inline, the path
// of a file holding it when the PEM is a path, as the SDK reads it), OCI_RESOURCE_PRINCIPAL_REGION. Files
// are read on every call (the platform replaces them); the cache above keeps the result until the token's
// expiry. NOT_FOUND when OCI_RESOURCE_PRINCIPAL_VERSION is unset.
std::shared_ptr<OciCredentialsProvider> MakeResourcePrincipalOciCredentialsProvider();

// The first provider with credentials wins; NOT_FOUND goes on to the next, any other error stops.
// UNAUTHENTICATED naming everything tried when none has any.
std::shared_ptr<OciCredentialsProvider> MakeChainOciCredentialsProvider(
    std::vector<std::shared_ptr<OciCredentialsProvider>> providers);

// Keeps the inner provider's credentials until 5 minutes before their expiration (for ever without one),
// or until Invalidate().
std::shared_ptr<OciCredentialsProvider> MakeCachingOciCredentialsProvider(std::shared_ptr<OciCredentialsProvider> inner,
                                                                          std::shared_ptr<Clock> clock = nullptr);

// config file profile -> session token profile -> resource principal, cached.
std::shared_ptr<OciCredentialsProvider> MakeDefaultOciCredentialsProvider(OciConfigFileOptions options = {},
                                                                          std::shared_ptr<Clock> clock = nullptr);

// ---- shared by the providers ----

// The private key a profile names: key_file ("~" expanded; it must be an existing file, as the SDK checks)
// with pass_phrase when the profile has one. Messages name the file and the profile.
StatusOr<std::shared_ptr<const OciPrivateKey>> LoadOciProfileKey(const OciProfile& profile);

// The "exp" claim of a JWT (the session tokens are JWTs); nullopt when it is not one or has none.
std::optional<std::chrono::system_clock::time_point> OciTokenExpiry(std::string_view token);

// Credentials for a session token: keyId "ST$<token>", expiration from the token.
OciCredentials OciTokenCredentials(std::string token, std::shared_ptr<const OciPrivateKey> key, std::string region,
                                   std::string source);

}  // namespace mlflow_bridge::internal
