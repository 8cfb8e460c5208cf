// Azure Resource Manager (ARM) below the Azure ML stub: the api-version, the workspace path, the ARM
// AsStatus (ArmErrorStatus) and ArmCaller, which sends one attempt of one ARM call with an Entra ID bearer
// token through the HttpTransport and turns a non-2xx reply into a Status marked for the retry layer above
// the stubs (azure/arm_retry.h). Facts: docs/azureml-notes.md §2.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "azure/credentials.h"
#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/http.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

// The ARM api-version of every call the driver makes (Microsoft.MachineLearningServices, stable 2025-12-01).
inline constexpr char kArmApiVersion[] = "2025-12-01";
// The public cloud's resource manager; sovereign clouds have their own (ArmCallerOptions::base_url).
inline constexpr char kArmDefaultBaseUrl[] = "https://management.azure.com";

// One Azure ML workspace, as the target URI names it (azureml-endpoints:/<subscription>/<resource-group>/<workspace>).
struct ArmWorkspace {
  std::string subscription;
  std::string resource_group;
  std::string workspace;

  // The URL path prefix, each name percent-encoded (RFC 3986, '/' too):
  // /subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/workspaces/{w}
  std::string Path() const;
  // The ARM resource id (the same, not encoded): what request bodies refer to (a deployment's model).
  std::string ResourceId() const;
  // "workspace w (resource group rg, subscription s)", for messages.
  std::string Describe() const;
};

// INVALID_PARAMETER_VALUE naming the empty part, or OK.
Status ValidateArmWorkspace(const ArmWorkspace& workspace);

// A path segment for an ARM URL: every byte but A-Za-z0-9-._~ percent-encoded.
std::string ArmPathSegment(std::string_view name);

// A query string ("a=b&c=d", no '?'): names and values percent-encoded, '$' kept in names ($orderBy, $top).
std::string ArmQueryString(const std::vector<std::pair<std::string, std::string>>& query);

// An ARM error reply ({"error": {"code", "message", "target", "details": [...], "additionalInfo": [...]}}),
// as far as it could be read. Also the "error" of a failed operation's status body.
struct ArmError {
  std::string code;           // the top-level code: "UserError"
  std::string specific_code;  // the innermost code along the first details: "ModelNotFound"; empty when none
  std::string message;        // the most specific message (the innermost non-empty one), as sent (not redacted)
  std::string target;         // the field or resource the error is about, when given
  // "code: message" of each detail when there is more than one (validation errors list one per field).
  std::vector<std::string> details;
  std::string request_id;  // x-ms-request-id, x-ms-correlation-request-id or the Correlation additionalInfo

  // "UserError/ModelNotFound" (or just "UserError").
  std::string Code() const;
  // "<Code()>: <message>[ (target: t)][ (details: a; b)]", message and details through Redact().
  std::string Text() const;
};

// Reads an ARM error object ({"code", "message", ...}: the value of "error").
ArmError ParseArmErrorObject(const nlohmann::json& error);
// Reads the error of a reply: nullopt when the body is no JSON object with an "error" object holding a code
// or a message (an HTML page from a proxy, an empty body).
std::optional<ArmError> ParseArmError(const HttpResponse& response);

// The server's "try again after" hint: retry-after-ms, x-ms-retry-after-ms (milliseconds) or Retry-After
// (seconds or an HTTP date, relative to `now`), in that order, as azure-core reads them. Zero is returned
// as zero (the LRO waiter treats it as absent); a negative or unreadable value as nullopt.
std::optional<std::chrono::milliseconds> ArmRetryAfter(const HttpHeaders& headers,
                                                       std::chrono::system_clock::time_point now);

// The ARM AsStatus: a non-2xx reply as a Status whose message reads
// "<what>: <code>: <message> (request id <id>)" (UserError/ModelNotFound for nested details; the message
// through Redact()). By HTTP status:
//  - 400 -> INVALID_PARAMETER_VALUE, or RESOURCE_ALREADY_EXISTS when a code says Conflict or AlreadyExists;
//  - 401 -> UNAUTHENTICATED; 403 -> PERMISSION_DENIED; 404 -> RESOURCE_DOES_NOT_EXIST;
//  - 409 -> RESOURCE_ALREADY_EXISTS;
//  - 408, 429, 500, 502, 503, 504 -> TEMPORARILY_UNAVAILABLE; 429 (throttled: ARM did not carry the
//    request out) also Status::not_processed, so that a non-idempotent call may be sent again;
//  - any other 4xx -> INVALID_PARAMETER_VALUE; any other status -> INTERNAL_ERROR.
// The Retry-After hint (ArmRetryAfter, at the system clock's now) is kept on the Status. A body that is no
// ARM error falls back to HttpErrorStatus's message (status line and a redacted excerpt), with the codes
// and marks above.
Status ArmErrorStatus(const HttpResponse& response, std::string_view what);

struct ArmCallerOptions {
  // The cloud's resource manager, no trailing slash needed: https://management.usgovcloudapi.net, or a
  // loopback stand-in in tests.
  std::string base_url = kArmDefaultBaseUrl;
  // The token scope of that resource manager.
  std::string scope = kArmScope;
  std::string api_version = kArmApiVersion;
  // Per request; unset: the transport's.
  std::optional<std::chrono::milliseconds> request_timeout;
};

// One ARM request, relative to the base URL.
struct ArmRequest {
  std::string method = "GET";
  // Percent-encoded path from the root: ArmWorkspace::Path() + "/onlineEndpoints/" + ArmPathSegment(name).
  std::string path;
  // Query parameters, not encoded; api-version is added unless given here.
  std::vector<std::pair<std::string, std::string>> query;
  // Sent as application/json when set.
  std::optional<nlohmann::json> body;
};

// Sends ARM calls, one attempt each: Authorization: Bearer <token for options.scope>, Accept and (with a
// body) Content-Type application/json, a fresh x-ms-client-request-id (a UUID), ?api-version=. Cheap to
// share; thread-safe when the transport and the credential are. No retries here: the callers of the stubs
// retry through the ARM retry policy (azure/arm_retry.h).
//
// A 2xx reply is returned as it is (the LRO waiter reads its headers); anything else as ArmErrorStatus. A
// token error is returned as it is (the credential's message says how to fix it, and the credential marks
// it final once its own retries are spent). A transport failure keeps the transport's code and marks. The
// token never appears in a message: replies and transport errors are scrubbed of it.
class ArmCaller {
 public:
  ArmCaller(std::shared_ptr<HttpTransport> transport, std::shared_ptr<TokenCredential> credential,
            ArmCallerOptions options = {}, std::shared_ptr<Clock> clock = SystemClock());

  StatusOr<HttpResponse> Send(const ArmRequest& request, std::string_view what) const;

  // A GET of an absolute URL the service handed out (nextLink, Azure-AsyncOperation, Location): sent as
  // it is, with api-version added when it has none. Refused (INTERNAL_ERROR) unless it has the base URL's
  // scheme, host and port: the token goes nowhere else.
  StatusOr<HttpResponse> GetUrl(std::string_view url, std::string_view what) const;

  // The absolute URL of a request (base + path + query with api-version).
  std::string Url(const ArmRequest& request) const;

  const ArmCallerOptions& options() const { return options_; }
  Clock& clock() const { return *clock_; }

 private:
  StatusOr<HttpResponse> Call(HttpRequest& request, std::string_view what) const;

  std::shared_ptr<HttpTransport> transport_;
  std::shared_ptr<TokenCredential> credential_;
  ArmCallerOptions options_;
  std::shared_ptr<Clock> clock_;
};

// A fresh random (version 4) UUID, lower-case: "0f8fad5b-d9cb-469f-a165-70867728950e".
std::string NewClientRequestId();

// The JSON of a 2xx reply: null for an empty body or "null"; INTERNAL_ERROR (without the body, which may
// hold a secret) when it is not JSON.
StatusOr<nlohmann::json> ArmJsonBody(const HttpResponse& response, std::string_view what);

}  // namespace mlflow_bridge::internal
