// The AWS wire protocols the sagemaker-endpoints target speaks, below its stub:
// the AWS AsStatus (AwsErrorStatus) and AwsCaller, which signs a request with
// SigV4, sends it once through the HttpTransport and turns a non-2xx reply into
// a Status marked for the retry layer above the stubs (aws/retry_policy.h). Three protocol flavours:
//  - JSON 1.1 (SageMaker, ECR): POST / with X-Amz-Target;
//  - REST (SageMaker Runtime, S3): any method and path;
//  - query (STS): POST / with a form body, XML replies.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "mlflow_bridge/aws.h"
#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/http.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

// An AWS error reply, as far as it could be read.
struct AwsError {
  std::string code;        // "ValidationException" (namespace prefix and ":suffix" stripped)
  std::string message;     // first line of the service's message, as sent (not yet redacted)
  std::string type;        // "Sender" or "Receiver" when the reply says whose fault it is (query protocol); else empty
  std::string request_id;  // <RequestId>, x-amzn-RequestId or x-amz-request-id, when the reply has one
  nlohmann::json body;     // the JSON body when it was JSON (e.g. ModelError's OriginalMessage); null otherwise
};

// Reads the error code and message of a non-2xx reply:
//  - JSON (JSON 1.0/1.1, rest-json): {"__type": "prefix#Code:suffix"} or the
//    x-amzn-ErrorType header ("Code:http://...") or {"code"|"Code": ...};
//    the x-amzn-query-error header ("Code;Sender") wins when present;
//    message from "message" | "Message";
//  - XML (S3, STS, IAM, moto's IAM-mode AccessDenied): <Error><Code/><Message/><Type/></Error>,
//    bare or inside <ErrorResponse> or <Errors>.
// nullopt when no error code can be found (an HTML page from a proxy, an empty body).
std::optional<AwsError> ParseAwsError(const HttpResponse& response);

// Whether an AWS error code means that the service rejected the request
// without processing it (throttling and its kin, a model not yet loaded), so
// that even a non-idempotent call may be sent again.
bool IsAwsNotProcessedError(std::string_view code);

// The AWS AsStatus: a non-2xx reply as a Status whose message reads
// "<what>: <Code>: <message>" (message through Redact()). Mapping:
//  - RESOURCE_DOES_NOT_EXIST: ResourceNotFound(Exception), NoSuchBucket, NoSuchKey,
//    NoSuchUpload, NoSuchEntity, RepositoryNotFoundException, and a
//    ValidationException/ValidationError whose message says "Could not find",
//    "does not exist" or "not found" (SageMaker reports most missing resources so);
//  - RESOURCE_ALREADY_EXISTS: ResourceInUse, ResourceAlreadyExists(Exception),
//    BucketAlreadyOwnedByYou, BucketAlreadyExists, ConflictException,
//    RepositoryAlreadyExistsException;
//  - PERMISSION_DENIED: AccessDenied, AccessDeniedException;
//  - UNAUTHENTICATED: AuthFailure, InvalidClientTokenId, InvalidAccessKeyId, SignatureDoesNotMatch,
//    IncompleteSignature, InvalidSignatureException, ExpiredToken(Exception),
//    UnrecognizedClientException, MissingAuthenticationToken(Exception), RequestExpired;
//  - TEMPORARILY_UNAVAILABLE (retryable): the throttling family (see
//    IsAwsNotProcessedError), ServiceUnavailable(Exception), RequestTimeout(Exception),
//    and InternalFailure / InternalError / InternalServerError(Exception) with a 5xx
//    status, unless the reply blames the sender (<Type>Sender</Type>), or inside a 2xx
//    reply (S3's "We encountered an internal error. Please try again.");
//  - INVALID_PARAMETER_VALUE: ResourceLimitExceeded (a quota the user must raise),
//    ModelError (SageMaker Runtime: the model's own reply, OriginalMessage included),
//    ValidationException and any other code with a 4xx status but 401/403/404/409/429,
//    which keep their HTTP meaning; inside a 2xx reply, Invalid*, EntityTooSmall and
//    MalformedXML (S3's CompleteMultipartUpload);
//  - anything else, and replies without an AWS error code: HttpErrorStatus(r, what).
// An error inside a 2xx reply (an S3 <Error> document after a 200) says so:
// "<what>: <Code>: <message> (in an HTTP 200 reply)".
// Retry-After is kept (through HttpErrorStatus) when the reply has one.
Status AwsErrorStatus(const HttpResponse& r, std::string_view what);

// Where and how to reach one AWS service.
struct AwsService {
  std::string signing_name;  // "sagemaker", "sts", "ecr", "s3"
  std::string endpoint;      // base URL, no trailing slash: "https://api.sagemaker.eu-west-1.amazonaws.com"
  std::string region;        // signing region
};

// A service's own "try again" replies, beyond the AWS not-processed codes
// (IsAwsNotProcessedError), which hold for every service. The stub of the
// service passes it with each call (S3Client: the replies S3 documents as
// "try again"; SageMaker Runtime: a 503 with Retry-After).
struct AwsTryAgainRule {
  // Error codes and HTTP statuses that mean the request was not processed:
  // TEMPORARILY_UNAVAILABLE and not_processed, so that even a non-idempotent call is sent again.
  std::vector<std::string> not_processed_codes;
  std::vector<long> not_processed_statuses;
  // HTTP statuses that count as not processed only when the reply carries Retry-After.
  std::vector<long> not_processed_with_retry_after;
  // HTTP statuses returned as TEMPORARILY_UNAVAILABLE (the call may have been processed: only an
  // idempotent call is sent again, so a stub sets these for idempotent calls only).
  std::vector<long> transient_statuses;
};

// What a call may ask beyond the defaults (S3 needs all of it).
struct AwsCallOptions {
  // Also send and sign x-amz-content-sha256 (S3 requires it).
  bool s3_body_hash = false;
  // Non-2xx statuses handed back as the reply (its body scrubbed of the
  // secrets) for the caller to read, e.g. 404 of a GetObject that may find nothing.
  std::vector<long> accept_statuses;
  // A 2xx reply whose root element is <Error> is an error reply (S3's
  // CompleteMultipartUpload can fail after its 200 has begun).
  bool error_in_2xx = false;
  AwsTryAgainRule try_again;
};

// How a failed call ended, for callers that act on more than the Status.
struct AwsCallFailure {
  bool no_reply = false;          // no HTTP reply: the request may have been carried out
  std::optional<AwsError> error;  // the AWS error of the reply, if any (secrets scrubbed)
};

// Signs, sends (one attempt) and checks AWS calls. Cheap to copy; thread-safe
// when the transport, provider and clock are. No retries here: the callers of
// the stubs retry through the AWS retry policy (aws/retry_policy.h).
//
// How a failure is marked for the retry rule (IsRetryable: transient and
// idempotent, or transient and not processed):
//  - an AWS reply whose code says the request was not processed
//    (IsAwsNotProcessedError: ThrottlingException, TooManyRequestsException, ...
//    as AWS documents them), or that the service's AwsTryAgainRule names, is
//    TEMPORARILY_UNAVAILABLE and not_processed;
//  - a transport failure keeps the transport's marks: a refused or unresolved
//    connection is not processed; a reset, a lost reply or a timeout is transient
//    but may have been processed (a CreateModel sent again after a lost reply
//    could fail with "already exists" or, worse, do the work twice);
//  - a 5xx (ServiceUnavailable, InternalFailure) is transient, not "not processed".
// A credentials error is returned as is and marked Status::final: the provider
// has its own retries and its message already says how to fix it.
//
// Every call fetches the credentials from the provider (which caches them)
// and signs the request anew at clock->WallNow(), so that a retry after a long
// back-off is not rejected as expired and refreshed credentials are used.
// Messages never contain the secret access key nor the session token.
class AwsCaller {
 public:
  AwsCaller(std::shared_ptr<HttpTransport> transport, std::shared_ptr<AwsCredentialsProvider> credentials,
            std::shared_ptr<Clock> clock = SystemClock());

  // JSON 1.1: POST / with Content-Type application/x-amz-json-1.1 and
  // X-Amz-Target `target` ("SageMaker.CreateModel"); the parsed reply ({} when empty).
  StatusOr<nlohmann::json> JsonCall(const AwsService& service, std::string_view target, const nlohmann::json& body,
                                    std::string_view what) const;

  // REST: `request.url` is relative to service.endpoint and percent-encoded for
  // the wire ("/endpoints/my%20ep/invocations"). The raw reply on 2xx (and on
  // options.accept_statuses). `failure` (when not null) tells how a failed call ended.
  StatusOr<HttpResponse> RestCall(const AwsService& service, HttpRequest request, std::string_view what,
                                  const AwsCallOptions& options = {}, AwsCallFailure* failure = nullptr) const;

  // Query protocol (STS): POST / with the form body
  // ("Action=GetCallerIdentity&Version=2011-06-15"); the reply body (XML) on 2xx.
  StatusOr<std::string> QueryCall(const AwsService& service, std::string form_body, std::string_view what,
                                  AwsCallFailure* failure = nullptr) const;

  Clock& clock() const { return *clock_; }
  const std::shared_ptr<Clock>& clock_ptr() const { return clock_; }

 private:
  // Signs `request` and sends it. `used` (when not null) receives the
  // credentials, for scrubbing messages built from the reply afterwards.
  StatusOr<HttpResponse> Call(const AwsService& service, HttpRequest& request, std::string_view what,
                              const AwsCallOptions& options, AwsCallFailure* failure, AwsCredentials* used = nullptr) const;

  std::shared_ptr<HttpTransport> transport_;
  std::shared_ptr<AwsCredentialsProvider> credentials_;
  std::shared_ptr<Clock> clock_;
};

}  // namespace mlflow_bridge::internal
