// Container registry credentials and the registry auth handshake (Docker
// Registry HTTP API v2 / OCI Distribution): Basic, and Bearer tokens from the
// realm a 401 challenge names (https://distribution.github.io/distribution/spec/auth/token/).
//
// No HTTP happens here except through the transport given to
// RegistryAuthenticator. Secrets (passwords, tokens, Authorization values)
// never appear in a Status message or a log line.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/http.h"
#include "mlflow_bridge/image.h"
#include "mlflow_bridge/retry.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

// All fields are secrets.
struct RegistryCredentials {
  std::string username, password;  // Basic, and Basic to a Bearer token realm
  std::string
      identity_token;  // OAuth2 refresh token (docker config "identitytoken"): POST grant_type=refresh_token to the realm
  std::string registry_token;                                       // a ready bearer token (docker config "registrytoken")
  std::optional<std::chrono::system_clock::time_point> expires_at;  // when they stop working (ECR: 12 h)
  bool empty() const;
};

class RegistryCredentialsProvider {
 public:
  virtual ~RegistryCredentialsProvider() = default;
  // Credentials for `registry` ("host[:port]"); empty credentials mean anonymous.
  virtual StatusOr<RegistryCredentials> Get(const std::string& registry) = 0;
  // Where they come from, for messages: "username/password for 127.0.0.1:5000",
  // "~/.docker/config.json", "ECR GetAuthorizationToken (AWS credentials)". Never a secret.
  virtual std::string Describe() const = 0;
};

std::shared_ptr<RegistryCredentialsProvider> MakeAnonymousRegistryCredentials();
std::shared_ptr<RegistryCredentialsProvider> MakeStaticRegistryCredentials(RegistryCredentials creds, std::string describe);

// docker's config.json: `path`, else $DOCKER_CONFIG/config.json, else ~/.docker/config.json
// (read on every Get, so a `docker login` in between is seen); the JSON in
// $DOCKER_AUTH_CONFIG is consulted first. "auths" entries: "auth" (base64
// user:password, split at the first ':'), "username"/"password",
// "identitytoken", "registrytoken". Lookup: the exact key, then any key
// whose hostname (scheme and path stripped, port kept) is the registry;
// Docker Hub's key is "https://index.docker.io/v1/".
// A host with a credential helper (credHelpers[host], or credsStore with an
// empty auths entry for the host) and no usable auths entry is
// INVALID_PARAMETER_VALUE: helpers are not run. No file / no entry: anonymous.
std::shared_ptr<RegistryCredentialsProvider> MakeDockerConfigRegistryCredentials(std::string path = "");

// Fetches credentials with `fetch` and caches them until 5 minutes before
// their expires_at (none: forever). Credentials that expire within those 5
// minutes are used until they expire; credentials already expired when
// fetched (moto's ECR answers 2015-01-01) are kept for this provider's life
// rather than fetched again on every call. A failed fetch is not cached.
std::shared_ptr<RegistryCredentialsProvider> MakeCachingRegistryCredentials(
    std::function<StatusOr<RegistryCredentials>()> fetch, std::string describe, std::shared_ptr<Clock> clock);

// A login from another platform's API (ECR's, wired in by the targets), cached as
// MakeCachingRegistryCredentials does.
std::shared_ptr<RegistryCredentialsProvider> MakeRegistryCredentials(RegistryLoginSource source,
                                                                     std::shared_ptr<Clock> clock);

struct AuthChallenge {
  std::string scheme;                         // lower-case: "basic", "bearer"
  std::map<std::string, std::string> params;  // lower-case names: realm, service, scope, error
};
// Parses a WWW-Authenticate value (tokens or quoted strings with backslash
// escapes, commas inside quotes, several challenges in one value): the first
// Basic or Bearer challenge, or nullopt.
std::optional<AuthChallenge> ParseAuthChallenge(std::string_view header);

// Holds the Authorization to send per scope set and answers 401s. Thread-safe.
class RegistryAuthenticator {
 public:
  // `plain_http`: the registry itself is reached over http://, so that a
  // http:// token realm is acceptable (otherwise only on loopback).
  RegistryAuthenticator(std::string registry, std::shared_ptr<RegistryCredentialsProvider> creds,
                        std::shared_ptr<HttpTransport> transport, std::shared_ptr<Clock> clock, RetryPolicy retry = {},
                        BackoffPolicy backoff = {}, bool plain_http = false);

  // The Authorization header value to send for `scopes` (e.g.
  // {"repository:team/app:pull,push", "repository:team/base:pull"}), or ""
  // when none is known yet. Once a Bearer realm is known, a missing or
  // expired token for `scopes` is fetched here (errors: "", and the 401 that
  // follows goes through HandleChallenge).
  std::string Authorization(const std::vector<std::string>& scopes);

  // After a 401 whose WWW-Authenticate value is `challenge_header`:
  //  - Basic: remember Basic user:password;
  //  - Bearer: registry_token is used as is; with identity_token POST the
  //    form grant_type=refresh_token&refresh_token=..&service=..&scope=..&client_id=mlflow-bridge
  //    to the realm; else GET realm?service=..&scope=..(one per scope)[&account=user]
  //    with Basic user:password (none when anonymous). The reply's
  //    access_token (else token) is cached per scope set for expires_in
  //    seconds (at least 60).
  // OK when retrying with Authorization(scopes) makes sense. Errors: no usable
  // challenge -> UNAUTHENTICATED; realm answers 401/403 -> UNAUTHENTICATED
  // "registry R refused the credentials from <Describe()>"; realm unreachable
  // -> TEMPORARILY_UNAVAILABLE (after retries); a http:// realm for a https
  // registry not on loopback -> INVALID_PARAMETER_VALUE.
  Status HandleChallenge(const std::string& challenge_header, const std::vector<std::string>& scopes);

  const std::string& registry() const { return registry_; }
  // The credentials' Describe() ("anonymous" when there are none).
  std::string DescribeCredentials() const;
  // Replaces every secret this authenticator has seen in `text` by [REDACTED].
  std::string Scrub(std::string text) const;

 private:
  struct Token {
    std::string value;
    Clock::TimePoint expires;
  };
  // With mu_ held.
  Status FetchTokenLocked(const std::vector<std::string>& scopes);
  StatusOr<RegistryCredentials> CredentialsLocked();
  std::string ScrubLocked(std::string text) const;

  const std::string registry_;
  const std::shared_ptr<RegistryCredentialsProvider> creds_;
  const std::shared_ptr<HttpTransport> transport_;
  const std::shared_ptr<Clock> clock_;
  const RetryPolicy retry_;
  const BackoffPolicy backoff_;
  const bool plain_http_;

  mutable std::mutex mu_;
  std::string basic_;                    // "Basic ..." once a Basic challenge was answered
  std::optional<AuthChallenge> bearer_;  // the last Bearer challenge (realm, service)
  std::map<std::string, Token> tokens_;  // scope set -> token
  std::vector<std::string> secrets_;     // everything to scrub from messages
};

}  // namespace mlflow_bridge::internal
