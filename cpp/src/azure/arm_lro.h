// ARM long-running operations (docs/azureml-notes.md §2.3), waited on above the stub: the stub's begin*
// methods send the PUT / PATCH / DELETE / POST once and return an ArmOperation (the initial reply); the
// target hands it to WaitForArmOperation, which polls through any ArmPoller (the Azure ML stub is one)
// until the operation ends, the deadline passes, or the caller interrupts.
//
// How the state is read, as ARM and azure-mgmt-core define it:
//  1. the initial reply's Azure-AsyncOperation URL, when present: its status body
//     {"status": "Updating"|"Succeeded"|"Failed"|"Canceled"|..., "percentComplete", "error"};
//  2. else, after a 202, its Location URL: 202 = still running, 200/201/204 = done
//     (a 404 there ends a DELETE: the resource is gone);
//  3. else the resource itself: properties.provisioningState of the initial body and then of GETs of the
//     resource (a 201 without a state is still running, a 200 without one is done); a DELETE answered 202
//     without either header is done once the resource is gone (404).
// A DELETE or PATCH answered 200/204 without those headers is done at once. Status values are compared
// case-insensitively; anything but Succeeded, Failed and Canceled means "keep polling".
//
// Delay before each poll: the last reply's Retry-After (or retry-after-ms, x-ms-retry-after-ms) when
// present and not zero, else ArmLroOptions::first_poll_interval, doubling per poll up to poll_interval. Each poll is one GET
// through the ARM retry policy (a transient poll error is tried again and does not end the wait unless the retries are
// spent). Success: PUT and PATCH end with a GET of the resource, which is returned; DELETE returns null; POST returns the
// Location reply's body (or the status body's resourceLocation, or the status body). Failure: Failed or Canceled ->
// ArmOperationFailedStatus (the operation's error in the message); the deadline -> DEADLINE_EXCEEDED naming the resource,
// how long it waited and the last status.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "azure/arm_caller.h"
#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/http.h"
#include "mlflow_bridge/retry.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

// A 2xx ARM reply as the LRO waiter reads it.
struct ArmReply {
  long status_code = 0;
  nlohmann::json body;          // null for an empty body (or the literal null a DELETE's 202 carries)
  std::string async_operation;  // the Azure-AsyncOperation header
  std::string location;         // the Location header
  // ArmRetryAfter of the reply; zero kept as zero (the waiter then uses its interval).
  std::optional<std::chrono::milliseconds> retry_after;
};

// Reads an ArmReply from a 2xx HttpResponse (`now` for a Retry-After given as an HTTP date);
// INTERNAL_ERROR when the body is not JSON.
StatusOr<ArmReply> ArmReplyFrom(const HttpResponse& response, std::string_view what,
                                std::chrono::system_clock::time_point now);

// A started long-running operation: what a stub's begin* returns.
struct ArmOperation {
  std::string method;        // "PUT", "PATCH", "DELETE" or "POST"
  std::string resource_url;  // absolute URL of the resource (with api-version): the final GET of a PUT/PATCH
  std::string resource;      // "online endpoint my-ep", for messages
  ArmReply initial;          // the reply of the PUT/PATCH/DELETE/POST
};

// Who polls: one GET of an absolute URL the service handed out (Azure-AsyncOperation, Location, the
// resource), one attempt; the 2xx reply, else the Status (ArmErrorStatus). Implemented by AzureMlStub.
class ArmPoller {
 public:
  virtual ~ArmPoller() = default;
  virtual StatusOr<ArmReply> PollArm(const std::string& url, const std::string& what) = 0;
};

// What each poll saw, for the target's progress output.
struct ArmLroProgress {
  // As the service wrote it ("Updating", "Creating", "Deleting"); "InProgress" for a Location 202.
  std::string status;
  std::optional<double> percent_complete;  // the status body's percentComplete, when sent
  int poll = 0;                            // 1 for the first poll
  std::chrono::milliseconds elapsed{0};    // since the wait began
};

struct ArmLroOptions {
  std::shared_ptr<Clock> clock;  // null: SystemClock(); sleeps through clock->SleepFor
  // The delay between polls when the reply gives no Retry-After (or 0). azure-ai-ml uses 5 s for endpoints
  // and deployments; ARM clients default to 30 s.
  std::chrono::milliseconds poll_interval{5'000};
  // Without a Retry-After the first poll comes after this, and each next one after twice as long, up to
  // poll_interval: a quick operation ends quickly, a long one is asked every poll_interval.
  std::chrono::milliseconds first_poll_interval{1'000};
  // The whole wait (azure-ai-ml: 720 s for endpoint creation, 3600 s for deployments).
  std::chrono::milliseconds timeout{std::chrono::minutes(30)};
  // Each poll and the final GET (idempotent GETs).
  RetryPolicy retry;
  BackoffPolicy backoff;
  // Called after each poll.
  std::function<void(const ArmLroProgress&)> progress;
  // Checked before each sleep: true ends the wait with INTERNAL_ERROR "Interrupted while waiting for ...".
  std::function<bool()> interrupted;
};

StatusOr<nlohmann::json> WaitForArmOperation(ArmPoller& poller, const ArmOperation& operation, const ArmLroOptions& options);

// The code of a failed operation's error: PERMISSION_DENIED for authorization failures,
// INVALID_PARAMETER_VALUE for the user's errors (UserError, BadRequest, BadArgument, Invalid*,
// Validation*, quota errors, a referenced resource not found), otherwise INTERNAL_ERROR.
StatusCode ArmOperationErrorCode(const ArmError& error);

// "<resource>: the operation failed: <code>: <message> (details: ...)" ("was canceled" for Canceled), with
// the code ArmOperationErrorCode gives; `error` is the status body's "error" (may be null).
Status ArmOperationFailedStatus(std::string_view resource, std::string_view state, const nlohmann::json& error);

}  // namespace mlflow_bridge::internal
