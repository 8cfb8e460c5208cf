// AWS: Signature Version 4, the credential chain (environment, shared
// config/credentials files, assume-role through STS) and endpoint resolution,
// following the AWS SDKs' conventions so that a user's existing AWS setup
// works unchanged. No AWS SDK (nor boto3) is needed at run time.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/http.h"
#include "mlflow_bridge/retry.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge {

// ---------------------------------------------------------------- credentials

struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty for long-term credentials
  // When temporary credentials stop working; none for long-term ones.
  std::optional<std::chrono::system_clock::time_point> expiration;
};

class AwsCredentialsProvider {
 public:
  virtual ~AwsCredentialsProvider() = default;
  // The credentials, or
  //  - RESOURCE_DOES_NOT_EXIST when this source has none to offer (a chain
  //    moves on to its next provider);
  //  - any other code when the source is there but unusable (partial keys, a
  //    named profile that does not exist, STS refusing): a chain stops there
  //    rather than silently falling back to another identity.
  // Messages never contain secrets.
  virtual StatusOr<AwsCredentials> GetCredentials() = 0;
  // What this provider looks at, for error messages, e.g.
  // "environment variables AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY".
  virtual std::string Describe() const = 0;
};

// Fixed credentials (explicit configuration, tests).
std::shared_ptr<AwsCredentialsProvider> MakeStaticAwsCredentialsProvider(AwsCredentials credentials);

// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (or the legacy
// AWS_SECURITY_TOKEN) and optionally AWS_CREDENTIAL_EXPIRATION (ISO 8601).
// Read at every call. Only one of the two keys set is INVALID_PARAMETER_VALUE.
std::shared_ptr<AwsCredentialsProvider> MakeEnvironmentAwsCredentialsProvider();

// The shared files: ~/.aws/credentials (AWS_SHARED_CREDENTIALS_FILE) with
// "[name]" sections, then ~/.aws/config (AWS_CONFIG_FILE) with
// "[profile name]" sections ("[default]" for the default profile); keys
// aws_access_key_id, aws_secret_access_key, aws_session_token. The profile is
// `profile`, else AWS_PROFILE, else "default"; a profile named explicitly
// (argument or AWS_PROFILE) that exists in neither file is
// INVALID_PARAMETER_VALUE listing the profiles found. Files are read at every
// call (wrap in a caching provider).
std::shared_ptr<AwsCredentialsProvider> MakeSharedFilesAwsCredentialsProvider(std::string profile = "");

// Asks each provider in turn; the first that yields credentials wins. When
// none has any: UNAUTHENTICATED listing what was tried and how to fix it.
std::shared_ptr<AwsCredentialsProvider> MakeChainAwsCredentialsProvider(
    std::vector<std::shared_ptr<AwsCredentialsProvider>> providers);

// Caches the credentials of `inner` and fetches new ones when there are none
// yet or they expire within 5 minutes (by clock->WallNow()); credentials
// without an expiration are kept. Errors are not cached. Thread-safe; at most
// one refresh runs at a time.
std::shared_ptr<AwsCredentialsProvider> MakeCachingAwsCredentialsProvider(std::shared_ptr<AwsCredentialsProvider> inner,
                                                                          std::shared_ptr<Clock> clock = SystemClock());

// What the AWS SDKs do by default, minus the sources we do not support yet
// (SSO, credential_process, container and instance metadata): environment,
// then shared files (see above), cached. With `profile` given, only that
// profile of the shared files, as botocore does for an explicit profile.
std::shared_ptr<AwsCredentialsProvider> MakeDefaultAwsCredentialsProvider(std::string profile = "");

// The region the AWS SDKs use by default: AWS_REGION, AWS_DEFAULT_REGION, else the `region` of `profile`
// (else AWS_PROFILE's, else "default") in ~/.aws/config (AWS_CONFIG_FILE); "" when none says one.
std::string AwsDefaultRegion(const std::string& profile = "");

// Amazon ECR: the repositoryUri (<account>.dkr.ecr.<region>.amazonaws.com/<name>) of repository `name` in the
// account of the AWS credentials (the environment's, or `aws_profile`'s) in `region` (empty: the profile's
// default region), created when it is not there yet, as SAP FedML's ECR scripts do.
StatusOr<std::string> EnsureEcrRepository(const std::string& name, const std::string& region, const std::string& aws_profile,
                                          std::shared_ptr<HttpTransport> transport = nullptr,
                                          std::shared_ptr<Clock> clock = nullptr);

struct AssumeRoleOptions {
  std::string role_arn;           // arn:aws:iam::123456789012:role/name
  std::string role_session_name;  // empty: "mlflow-bridge-<unix seconds>"
  std::chrono::seconds duration{3600};
  std::string region;        // the STS region, e.g. "us-east-1"
  std::string external_id;   // sent as ExternalId when not empty
  std::string endpoint_url;  // overrides ResolveAwsEndpoint("sts", "sts", region)
  RetryPolicy retry;
  BackoffPolicy backoff;
};

// Temporary credentials from STS AssumeRole, signed with the credentials of
// `base`. Calls STS at every GetCredentials(): wrap it in a caching provider.
// STS errors map to: AccessDenied -> PERMISSION_DENIED; InvalidClientTokenId,
// SignatureDoesNotMatch, ExpiredToken -> UNAUTHENTICATED; Throttling ->
// TEMPORARILY_UNAVAILABLE (retried); others by HTTP status.
std::shared_ptr<AwsCredentialsProvider> MakeAssumeRoleAwsCredentialsProvider(AssumeRoleOptions options,
                                                                             std::shared_ptr<AwsCredentialsProvider> base,
                                                                             std::shared_ptr<HttpTransport> transport,
                                                                             std::shared_ptr<Clock> clock = SystemClock());

// ---------------------------------------------------------------- endpoints

// Whether `region` looks like an AWS region name ("us-east-1", "eu-central-2",
// "us-gov-west-1", "us-isob-east-1", "cn-north-1", "eusc-de-east-1"), so that a typo gets a
// clear error instead of a DNS failure.
bool IsValidRegionName(std::string_view region);

// Whether `region` is one of the regions AWS had when this version was made.
bool IsKnownRegion(std::string_view region);

// OK when `region` exists for a call to the service: a known region, a
// well-formed one whose default endpoint resolves in DNS (a region newer than
// this version), or any well-formed one when the endpoint is configured
// (endpoint_url, AWS_ENDPOINT_URL...; see ResolveAwsEndpoint). Otherwise
// INVALID_PARAMETER_VALUE naming similar regions, or TEMPORARILY_UNAVAILABLE
// when DNS cannot be asked.
Status CheckAwsRegion(std::string_view region, std::string_view service_id, std::string_view endpoint_prefix,
                      std::string_view endpoint_url = "");

// "AWS_ENDPOINT_URL_" + the service id upper-cased, spaces and hyphens as
// underscores: "sagemaker-runtime" -> AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME.
std::string AwsEndpointEnvVar(std::string_view service_id);

// The endpoint (scheme://host[:port][/path], no trailing slash) for a service,
// as the AWS SDKs resolve it: `endpoint_url` when not empty, else
// AWS_ENDPOINT_URL_<SERVICE>, else AWS_ENDPOINT_URL (both ignored when
// AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true), else the regional default
// https://{endpoint_prefix}.{region}.amazonaws.com (amazonaws.com.cn in cn-
// regions). service_id: "sagemaker", "sagemaker-runtime", "sts", "s3", "ecr",
// "iam"; endpoint_prefix: "api.sagemaker", "runtime.sagemaker", "sts", "s3", ...
std::string ResolveAwsEndpoint(std::string_view service_id, std::string_view endpoint_prefix, std::string_view region,
                               std::string_view endpoint_url = "");

// ---------------------------------------------------------------- signing

struct SigV4Params {
  std::string region;                         // "us-east-1"
  std::string service;                        // signing name: "sagemaker", "sts", "s3", ...
  std::chrono::system_clock::time_point now;  // from the injected clock
  // Sign "UNSIGNED-PAYLOAD" instead of the body's SHA-256 (S3 streaming).
  bool unsigned_payload = false;
  // Also send and sign x-amz-content-sha256 (S3 requires it).
  bool sign_body_hash_header = false;
};

// Signs `request` in place: adds Host (when absent), X-Amz-Date,
// X-Amz-Security-Token (when the credentials have a session token; a stale
// one is removed), x-amz-content-sha256 (when asked) and Authorization
// (replacing any previous one, so that a retry can be signed again). All
// headers present are signed except Authorization, User-Agent, Expect and
// X-Amzn-Trace-Id. request.url must be percent-encoded as for the wire.
Status SignV4(HttpRequest& request, const AwsCredentials& credentials, const SigV4Params& params);

}  // namespace mlflow_bridge
