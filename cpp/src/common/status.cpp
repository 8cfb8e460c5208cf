#include "mlflow_bridge/status.h"

namespace mlflow_bridge {

std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "OK";
    case StatusCode::kInvalidParameterValue: return "INVALID_PARAMETER_VALUE";
    case StatusCode::kResourceDoesNotExist: return "RESOURCE_DOES_NOT_EXIST";
    case StatusCode::kResourceAlreadyExists: return "RESOURCE_ALREADY_EXISTS";
    case StatusCode::kPermissionDenied: return "PERMISSION_DENIED";
    case StatusCode::kUnauthenticated: return "UNAUTHENTICATED";
    case StatusCode::kTemporarilyUnavailable: return "TEMPORARILY_UNAVAILABLE";
    case StatusCode::kDeadlineExceeded: return "DEADLINE_EXCEEDED";
    case StatusCode::kInternalError: return "INTERNAL_ERROR";
  }
  return "INTERNAL_ERROR";
}

Status::Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {
  if (code_ == StatusCode::kOk) message_.clear();  // an OK status carries no message
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string out(StatusCodeName(code_));
  out += ": ";
  out += message_;
  return out;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  Status s = *this;
  s.message_ = std::string(context) + ": " + message_;
  return s;
}

Status Status::WithMessage(std::string message) const {
  if (ok()) return *this;
  Status s = *this;
  s.message_ = std::move(message);
  return s;
}

Status Status::WithSuffix(std::string_view suffix) const {
  if (ok()) return *this;
  Status s = *this;
  s.message_ += suffix;
  return s;
}

Status InvalidParameterError(std::string m) { return Status(StatusCode::kInvalidParameterValue, std::move(m)); }
Status NotFoundError(std::string m) { return Status(StatusCode::kResourceDoesNotExist, std::move(m)); }
Status AlreadyExistsError(std::string m) { return Status(StatusCode::kResourceAlreadyExists, std::move(m)); }
Status PermissionDeniedError(std::string m) { return Status(StatusCode::kPermissionDenied, std::move(m)); }
Status UnauthenticatedError(std::string m) { return Status(StatusCode::kUnauthenticated, std::move(m)); }
Status UnavailableError(std::string m) { return Status(StatusCode::kTemporarilyUnavailable, std::move(m)); }
Status DeadlineExceededError(std::string m) { return Status(StatusCode::kDeadlineExceeded, std::move(m)); }
Status InternalError(std::string m) { return Status(StatusCode::kInternalError, std::move(m)); }

}  // namespace mlflow_bridge
