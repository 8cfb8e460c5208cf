// The scoring call (predict) of every target that POSTs to a model server over HTTP: the request, the
// model server's error JSON, and the one rule for when it is sent again
// (docs/decisions/0002-predict-retry-rule.md). Splitting a payload under a platform's limit happens
// before, once, in Python (python/mlflow_bridge/_payload.py, to_requests).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/http.h"
#include "mlflow_bridge/retry.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

struct ScoringCall {
  std::string url;  // the scoring URL, e.g. http://127.0.0.1:5001/invocations
  std::string body;
  std::string content_type;
  HttpHeaders headers;                         // extra headers, e.g. one that picks a deployment behind a route
  std::chrono::milliseconds timeout{120'000};  // of each attempt
  // Attempts and the deadline for all of them; only a request that was not processed is sent again.
  RetryPolicy retry{3, std::chrono::milliseconds(120'000)};
  std::shared_ptr<HttpTransport> transport;  // null: a libcurl transport shared by all scoring calls
  std::shared_ptr<Clock> clock;              // null: the system clock
  // Names the model server in messages: "Local deployment 'churn'", "The route https://h/invocations".
  std::string what;
  // Said when the server refuses the request as too large (413), e.g. "Kyma's gateway takes at most 5 MiB".
  std::string payload_limit_hint;
  // A public route: with MLFLOW_BRIDGE_GATEWAY=<scheme://address> set, the request goes to that address
  // instead, with the route's host name as Host (a port-forward, a test gateway).
  bool through_gateway = false;
};

// POSTs the body and returns the model server's answer. The decision-0002 rule, through RetryLoop as
// a non-idempotent call: sent again only when it was not processed (no connection was made; 429; 503
// with Retry-After), never after a timeout, a lost reply, another 5xx, or an error from the model.
// Failures: 413 -> INVALID_PARAMETER_VALUE ("send fewer rows"); the model server's error JSON
// {"error_code", "message"} -> "<what> rejected the input: <message>" (a 4xx, INVALID_PARAMETER_VALUE)
// or "<what> failed to score: <message>"; any other reply -> HttpErrorStatus; no reply ->
// "<what> did not answer: <the transport's message>".
StatusOr<std::string> Score(const ScoringCall& call);

// A reply that is not 2xx as a Status, as Score maps it (exposed for tests).
Status ScoringReplyStatus(const HttpResponse& reply, const ScoringCall& call);

}  // namespace mlflow_bridge::internal
