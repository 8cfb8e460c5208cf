#include "oci/error.h"

#include <cstdlib>

#include <nlohmann/json.hpp>

#include "mlflow_bridge/logging.h"

namespace mlflow_bridge::internal {

namespace {

bool Busy(std::string_view code) { return code == "IncorrectState" || code == "LockConflict"; }

StatusCode OciCode(long status, std::string_view code) {
  switch (status) {
    case 401: return StatusCode::kUnauthenticated;
    case 403: return StatusCode::kPermissionDenied;
    case 404: return StatusCode::kResourceDoesNotExist;
    case 409: return Busy(code) ? StatusCode::kTemporarilyUnavailable : StatusCode::kResourceAlreadyExists;
    case 412: return StatusCode::kResourceAlreadyExists;
    case 429:
    case 500:
    case 502:
    case 503:
    case 504: return StatusCode::kTemporarilyUnavailable;
    default: return status >= 400 && status < 500 ? StatusCode::kInvalidParameterValue : StatusCode::kInternalError;
  }
}

// What a person can do about it, for the replies whose code alone does not say.
std::string Advice(long status) {
  switch (status) {
    case 401:
      return " Check the signing key: the config file's user, fingerprint and key_file (or the session token, which "
             "expires: `oci session refresh`), and that this machine's clock is right.";
    case 404: return " OCI says this also when the caller lacks the permission to see it: check the policies.";
    case 412: return " It was changed by someone else since it was read; try again.";
    default: return "";
  }
}

}  // namespace

std::optional<OciError> ParseOciError(const HttpResponse& response) {
  nlohmann::json body = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object()) return std::nullopt;
  OciError error;
  if (auto it = body.find("code"); it != body.end() && it->is_string()) error.code = it->get<std::string>();
  if (auto it = body.find("message"); it != body.end() && it->is_string()) error.message = it->get<std::string>();
  if (error.code.empty() && error.message.empty()) return std::nullopt;
  error.request_id = response.Header("opc-request-id").value_or("");
  return error;
}

std::optional<std::chrono::milliseconds> OciRetryAfter(const HttpHeaders& headers) {
  std::optional<std::string> value = FindHeader(headers, "retry-after");
  if (!value) return std::nullopt;
  char* end = nullptr;
  long seconds = std::strtol(value->c_str(), &end, 10);
  if (end == value->c_str() || *end != '\0' || seconds < 0) return std::nullopt;
  return std::chrono::seconds(seconds);
}

Status OciErrorStatus(const HttpResponse& response, std::string_view what) {
  std::optional<OciError> error = ParseOciError(response);
  std::string message;
  if (error) {
    message = std::string(what) + ": " + (error->code.empty() ? "" : error->code + ": ") + Redact(error->message);
    if (!error->request_id.empty()) message += " (opc-request-id " + error->request_id + ")";
    if (!message.empty() && message.back() != '.') message += '.';
  } else {
    message = HttpErrorStatus(response, what).message();
  }
  message += Advice(response.status_code);
  Status status(OciCode(response.status_code, error ? error->code : ""), std::move(message));
  if (auto retry_after = OciRetryAfter(response.headers)) status.set_retry_after(*retry_after);
  if (response.status_code == 429) status.set_not_processed();
  return status;
}

}  // namespace mlflow_bridge::internal
