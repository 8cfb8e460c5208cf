#include "azure/arm_lro.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

#include "azure/arm_retry.h"
#include "common/strings.h"
#include "mlflow_bridge/logging.h"

namespace mlflow_bridge::internal {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;

std::string JsonString(const json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string ProvisioningState(const json& body) {
  if (!body.is_object()) return "";
  auto properties = body.find("properties");
  if (properties == body.end()) return "";
  return JsonString(*properties, "provisioningState");
}

bool IsSucceeded(std::string_view s) { return EqualsIgnoreCase(s, "Succeeded"); }
bool IsFailed(std::string_view s) { return EqualsIgnoreCase(s, "Failed") || EqualsIgnoreCase(s, "Canceled"); }

// "750 ms", "42 s", "12 min 5 s".
std::string ShowDuration(milliseconds d) {
  const long long ms = d.count();
  if (ms < 1000) return std::to_string(ms) + " ms";
  const long long s = ms / 1000;
  if (s < 120) return std::to_string(s) + " s";
  return std::to_string(s / 60) + " min" + (s % 60 ? " " + std::to_string(s % 60) + " s" : "");
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool HasAny(const std::string& lower, std::initializer_list<std::string_view> words) {
  for (std::string_view w : words)
    if (lower.find(w) != std::string::npos) return true;
  return false;
}

// How the state of the operation is read (see the header).
enum class Mode { kAsyncOperation, kLocation, kResourceState, kUntilGone };

class Waiter {
 public:
  Waiter(ArmPoller& poller, const ArmOperation& op, const ArmLroOptions& options)
      : poller_(poller),
        op_(op),
        options_(options),
        clock_(options.clock ? options.clock : SystemClock()),
        retry_(clock_, options.retry, options.backoff),
        method_(Upper(op.method)) {}

  StatusOr<json> Run() {
    start_ = clock_->Now();
    const ArmReply& init = op_.initial;
    if (!init.async_operation.empty()) {
      mode_ = Mode::kAsyncOperation;
      url_ = init.async_operation;
    } else if (init.status_code == 202 && !init.location.empty()) {
      mode_ = Mode::kLocation;
      url_ = init.location;
    } else if (method_ == "DELETE") {
      if (init.status_code != 202) return json();  // 200/204: deleted at once
      mode_ = Mode::kUntilGone;
      url_ = op_.resource_url;
    } else if (method_ == "POST") {
      if (init.status_code != 202) return init.body;
      mode_ = Mode::kResourceState;  // an odd 202 without headers: nothing better to watch than the resource
      url_ = op_.resource_url;
    } else {  // PUT, PATCH
      const std::string state = ProvisioningState(init.body);
      last_status_ = state;
      if (state.empty() && init.status_code != 201 && init.status_code != 202) return init.body;  // done at once
      if (IsSucceeded(state)) return init.body;
      if (IsFailed(state)) return ArmOperationFailedStatus(op_.resource, state, json());
      mode_ = Mode::kResourceState;
      url_ = op_.resource_url;
    }
    if (url_.empty()) return InternalError(op_.resource + ": the operation cannot be followed (no URL to poll)");
    return Loop();
  }

 private:
  StatusOr<json> Loop() {
    std::optional<milliseconds> hint = op_.initial.retry_after;
    const std::string poll_what = "poll the operation on " + op_.resource;
    for (int poll = 1;; ++poll) {
      const milliseconds elapsed = Elapsed();
      if (elapsed >= options_.timeout) return Deadline(elapsed);
      if (options_.interrupted && options_.interrupted())
        return InternalError("Interrupted while waiting for the operation on " + op_.resource + ".");
      // Without a hint from the service: the first poll soon, then twice as long each time up to poll_interval.
      const milliseconds grown = options_.first_poll_interval * (1LL << std::min(poll - 1, 20));
      milliseconds delay = hint && hint->count() > 0 ? *hint : std::min(grown, options_.poll_interval);
      delay = std::max(milliseconds(0), std::min(delay, options_.timeout - elapsed));
      clock_->SleepFor(delay);

      StatusOr<ArmReply> reply =
          retry_.Call<ArmReply>(Idempotency::kIdempotent, poll_what, [&] { return poller_.PollArm(url_, poll_what); });
      if (!reply.ok()) {
        const bool gone = reply.status().code() == StatusCode::kResourceDoesNotExist;
        if (gone && method_ == "DELETE" && (mode_ == Mode::kUntilGone || mode_ == Mode::kLocation)) {
          Report("Succeeded", std::nullopt, poll);
          return json();
        }
        return reply.status();
      }
      hint = reply->retry_after;
      const json& body = reply->body;
      switch (mode_) {
        case Mode::kAsyncOperation: {
          std::string status = JsonString(body, "status");
          if (status.empty()) {
            if (reply->status_code == 202) status = "InProgress";
            else
              return InternalError(op_.resource + ": the operation status (HTTP " + std::to_string(reply->status_code) +
                                   ") has no \"status\"");
          }
          std::optional<double> percent;  // the service answers 0.0 once Succeeded: shown while running only
          if (!IsSucceeded(status) && !IsFailed(status) && body.is_object() && body.contains("percentComplete") &&
              body["percentComplete"].is_number())
            percent = body["percentComplete"].get<double>();
          Report(status, percent, poll);
          if (IsFailed(status)) return ArmOperationFailedStatus(op_.resource, status, body.value("error", json()));
          if (IsSucceeded(status)) return Finish(body);
          break;
        }
        case Mode::kLocation: {
          if (reply->status_code == 202) {
            Report("InProgress", std::nullopt, poll);
            break;
          }
          Report("Succeeded", std::nullopt, poll);
          if (method_ == "PUT" || method_ == "PATCH") return FinalGet();
          if (method_ == "DELETE") return json();
          return body;
        }
        case Mode::kResourceState: {
          std::string state = ProvisioningState(body);
          if (state.empty()) state = reply->status_code == 202 ? "InProgress" : "Succeeded";
          Report(state, std::nullopt, poll);
          if (IsFailed(state)) return ArmOperationFailedStatus(op_.resource, state, json());
          if (IsSucceeded(state)) return body;
          break;
        }
        case Mode::kUntilGone: {
          std::string state = ProvisioningState(body);
          Report(state.empty() ? "Deleting" : state, std::nullopt, poll);
          if (IsFailed(state)) return ArmOperationFailedStatus(op_.resource, state, json());
          break;
        }
      }
    }
  }

  // After an Azure-AsyncOperation said Succeeded.
  StatusOr<json> Finish(const json& status_body) {
    if (method_ == "PUT" || method_ == "PATCH") return FinalGet();
    if (method_ == "DELETE") return json();
    // POST: the result is at Location, or where the status body says.
    std::string result_url = op_.initial.location;
    if (result_url.empty()) result_url = JsonString(status_body, "resourceLocation");
    if (result_url.empty()) return status_body;
    return Get(result_url, "get the result of the operation on " + op_.resource);
  }

  StatusOr<json> FinalGet() { return Get(op_.resource_url, "get " + op_.resource); }

  StatusOr<json> Get(const std::string& url, const std::string& what) {
    StatusOr<ArmReply> reply =
        retry_.Call<ArmReply>(Idempotency::kIdempotent, what, [&] { return poller_.PollArm(url, what); });
    if (!reply.ok()) return reply.status();
    return std::move(reply->body);
  }

  void Report(const std::string& status, std::optional<double> percent, int poll) {
    last_status_ = status;
    last_percent_ = percent;
    if (!options_.progress) return;
    ArmLroProgress p;
    p.status = status;
    p.percent_complete = percent;
    p.poll = poll;
    p.elapsed = Elapsed();
    options_.progress(p);
  }

  Status Deadline(milliseconds elapsed) const {
    std::string last = last_status_.empty() ? "unknown" : last_status_;
    if (last_percent_) last += ", " + std::to_string(static_cast<int>(*last_percent_)) + "% complete";
    return DeadlineExceededError(op_.resource + ": the " + method_ + " operation did not finish within " +
                                 ShowDuration(options_.timeout) + " (waited " + ShowDuration(elapsed) +
                                 "; last status: " + last + "); it may still finish in Azure");
  }

  milliseconds Elapsed() const { return std::chrono::duration_cast<milliseconds>(clock_->Now() - start_); }

  ArmPoller& poller_;
  const ArmOperation& op_;
  const ArmLroOptions& options_;
  std::shared_ptr<Clock> clock_;
  ArmRetry retry_;
  std::string method_;
  Mode mode_ = Mode::kAsyncOperation;
  std::string url_;
  Clock::TimePoint start_{};
  std::string last_status_;
  std::optional<double> last_percent_;
};

}  // namespace

StatusOr<ArmReply> ArmReplyFrom(const HttpResponse& response, std::string_view what,
                                std::chrono::system_clock::time_point now) {
  StatusOr<json> body = ArmJsonBody(response, what);
  if (!body.ok()) return body.status();
  ArmReply reply;
  reply.status_code = response.status_code;
  reply.body = std::move(body).value();
  reply.async_operation = std::string(Trim(response.Header("Azure-AsyncOperation").value_or("")));
  reply.location = std::string(Trim(response.Header("Location").value_or("")));
  reply.retry_after = ArmRetryAfter(response.headers, now);
  return reply;
}

StatusOr<json> WaitForArmOperation(ArmPoller& poller, const ArmOperation& operation, const ArmLroOptions& options) {
  return Waiter(poller, operation, options).Run();
}

StatusCode ArmOperationErrorCode(const ArmError& error) {
  const std::string codes = ToLower(error.code + "/" + error.specific_code);
  if (HasAny(codes, {"authorization", "forbidden", "permission"})) return StatusCode::kPermissionDenied;
  if (HasAny(codes, {"usererror", "badrequest", "badargument", "invalid", "validation", "quota", "notfound", "notsupported",
                     "conflict"}))
    return StatusCode::kInvalidParameterValue;
  return StatusCode::kInternalError;
}

Status ArmOperationFailedStatus(std::string_view resource, std::string_view state, const json& error) {
  const bool canceled = EqualsIgnoreCase(state, "Canceled");
  std::string message = std::string(resource) + (canceled ? ": the operation was canceled" : ": the operation failed");
  ArmError e;
  if (error.is_object()) e = ParseArmErrorObject(error);
  if (std::string text = e.Text(); !text.empty()) message += ": " + text;
  else if (!canceled) message += " (provisioning state " + std::string(state) + ", no error given)";
  return Status(ArmOperationErrorCode(e), std::move(message));
}

}  // namespace mlflow_bridge::internal
