// OCI's error replies as Status: the one AsStatus of the OCI services (Data Science, the model deployment
// predict endpoint). OCI answers an error with {"code": "NotAuthorizedOrNotFound", "message": "..."} and an
// opc-request-id header (docs/oci-notes.md §4, §6).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "mlflow_bridge/http.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

struct OciError {
  std::string code;        // "NotAuthorizedOrNotFound"; empty when the body did not say
  std::string message;     // as sent (not redacted)
  std::string request_id;  // opc-request-id, for a support ticket
};

// The error a reply carries; nullopt when its body is no JSON object with a code or a message (an HTML page
// from a proxy, an empty body).
std::optional<OciError> ParseOciError(const HttpResponse& response);

// The server's retry-after header (whole seconds), when it has a readable one.
std::optional<std::chrono::milliseconds> OciRetryAfter(const HttpHeaders& headers);

// A non-2xx reply as a Status whose message reads "<what>: <code>: <message> (opc-request-id <id>)", the
// message through Redact(). By HTTP status and code:
//  - 400, 405, 411, 413, other 4xx -> INVALID_PARAMETER_VALUE;
//  - 401 -> UNAUTHENTICATED (with what to check: the key, its fingerprint, the clock);
//  - 403 -> PERMISSION_DENIED;
//  - 404 -> RESOURCE_DOES_NOT_EXIST (OCI's NotAuthorizedOrNotFound: it may also be a missing permission; said so);
//  - 409 -> RESOURCE_ALREADY_EXISTS, but IncorrectState and LockConflict (the resource is busy) ->
//    TEMPORARILY_UNAVAILABLE;
//  - 412 (NoEtagMatch: changed since it was read; sending it again cannot help) -> RESOURCE_ALREADY_EXISTS;
//  - 429 -> TEMPORARILY_UNAVAILABLE, not processed (throttled: OCI did not carry the request out);
//  - 500, 502, 503, 504 -> TEMPORARILY_UNAVAILABLE; 501 and anything else -> INTERNAL_ERROR.
// The transient ones are what the OCI SDKs' default retry strategy sends again (409 IncorrectState and
// LockConflict, 429, 5xx but 501), so RetryLoop's one rule (IsRetryable) retries what the SDKs retry.
// A retry-after header (seconds) is kept on the Status. A body that is no OCI error falls back to
// HttpErrorStatus's message with the same codes.
Status OciErrorStatus(const HttpResponse& response, std::string_view what);

}  // namespace mlflow_bridge::internal
