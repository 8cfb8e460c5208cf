// Status and StatusOr: how every fallible call in the core reports failure.
// Codes map 1:1 onto MLflow's error codes; Python raises MlflowException with
// the same name (python/mlflow_bridge/_errors.py is the one place that does).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace mlflow_bridge {

enum class StatusCode {
  kOk = 0,
  kInvalidParameterValue,   // INVALID_PARAMETER_VALUE
  kResourceDoesNotExist,    // RESOURCE_DOES_NOT_EXIST
  kResourceAlreadyExists,   // RESOURCE_ALREADY_EXISTS
  kPermissionDenied,        // PERMISSION_DENIED
  kUnauthenticated,         // UNAUTHENTICATED
  kTemporarilyUnavailable,  // TEMPORARILY_UNAVAILABLE
  kDeadlineExceeded,        // DEADLINE_EXCEEDED
  kInternalError,           // INTERNAL_ERROR
};

// The MLflow error code name, e.g. "RESOURCE_DOES_NOT_EXIST".
std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message);

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // A server's hint (HTTP Retry-After) for when to try again.
  std::optional<std::chrono::milliseconds> retry_after() const { return retry_after_; }
  Status& set_retry_after(std::chrono::milliseconds d) {
    retry_after_ = d;
    return *this;
  }

  // The platform says the request was not carried out (it was never sent: no connection, no name
  // resolution; or the reply says so: throttled, "not ready"), so sending it again cannot do the work
  // twice. RetryLoop retries such a transient failure even for a non-idempotent call.
  bool not_processed() const { return not_processed_; }
  Status& set_not_processed(bool v = true) {
    not_processed_ = v;
    return *this;
  }

  // The failure already went through retries of its own (a credentials provider's), so that a RetryLoop
  // above returns it as it is: not tried again, no attempt count added.
  bool final() const { return final_; }
  Status& set_final(bool v = true) {
    final_ = v;
    return *this;
  }

  // "CODE_NAME: message"
  std::string ToString() const;

  // Returns a copy whose message is prefixed with `context`: "context: message".
  Status WithContext(std::string_view context) const;
  // Returns a copy whose message ends with `suffix` (e.g. " (after 3 attempts)").
  Status WithSuffix(std::string_view suffix) const;
  // Returns a copy with another message (e.g. scrubbed of secrets); code, Retry-After and marks kept.
  Status WithMessage(std::string message) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::optional<std::chrono::milliseconds> retry_after_;
  bool not_processed_ = false;
  bool final_ = false;
};

inline Status OkStatus() { return Status(); }
Status InvalidParameterError(std::string message);
Status NotFoundError(std::string message);
Status AlreadyExistsError(std::string message);
Status PermissionDeniedError(std::string message);
Status UnauthenticatedError(std::string message);
Status UnavailableError(std::string message);
Status DeadlineExceededError(std::string message);
Status InternalError(std::string message);

// Either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(Status status) : v_(std::move(status)) {  // NOLINT: implicit by design
    if (std::get<Status>(v_).ok()) v_ = Status(StatusCode::kInternalError, "StatusOr built from an OK status");
  }
  StatusOr(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<Status, T> v_;
};

}  // namespace mlflow_bridge

// Propagates a non-OK Status from an expression returning Status.
#define MLFLOW_BRIDGE_RETURN_IF_ERROR(expr)      \
  do {                                           \
    ::mlflow_bridge::Status _mb_status = (expr); \
    if (!_mb_status.ok()) return _mb_status;     \
  } while (0)
