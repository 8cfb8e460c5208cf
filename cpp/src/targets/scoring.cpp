#include "targets/scoring.h"

#include <nlohmann/json.hpp>

#include "common/env.h"
#include "mlflow_bridge/logging.h"

namespace mlflow_bridge::internal {
namespace {

using nlohmann::json;

// MLFLOW_BRIDGE_GATEWAY: the route's host name becomes the Host header and the request goes to the gateway.
void ThroughGateway(HttpRequest& request) {
  std::optional<std::string> gateway = GetEnv("MLFLOW_BRIDGE_GATEWAY");
  if (!gateway) return;
  const std::string url = request.url;
  const size_t scheme = url.find("://");
  const size_t start = scheme == std::string::npos ? 0 : scheme + 3;
  const size_t slash = url.find('/', start);
  request.headers.emplace_back("Host", url.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
  request.url = *gateway + (slash == std::string::npos ? "" : url.substr(slash));
}

// The platform says the request was not carried out: throttled (429), or a gateway or model not ready
// yet that says when to come back (503 with Retry-After).
bool NotProcessed(const HttpResponse& reply) {
  return reply.status_code == 429 || (reply.status_code == 503 && reply.Header("Retry-After").has_value());
}

}  // namespace

Status ScoringReplyStatus(const HttpResponse& reply, const ScoringCall& call) {
  if (reply.status_code == 413) {
    return InvalidParameterError(call.what + " refused the request as too large (" + std::to_string(call.body.size()) +
                                 " bytes" + (call.payload_limit_hint.empty() ? "" : "; " + call.payload_limit_hint) +
                                 "): send fewer rows at a time.");
  }
  Status status = HttpErrorStatus(reply, call.what);
  // The model server's errors are {"error_code": ..., "message": ...}.
  const json body = json::parse(reply.body, nullptr, false);
  if (body.is_object() && body.contains("message") && body["message"].is_string()) {
    const std::string message = Redact(body["message"].get<std::string>());
    const bool the_input = reply.status_code >= 400 && reply.status_code < 500 && !IsTransient(status);
    Status from_model = the_input ? InvalidParameterError(call.what + " rejected the input: " + message)
                                  : Status(status.code(), call.what + " failed to score: " + message);
    if (status.retry_after()) from_model.set_retry_after(*status.retry_after());
    status = std::move(from_model);
  }
  if (NotProcessed(reply)) status.set_not_processed();
  return status;
}

StatusOr<std::string> Score(const ScoringCall& call) {
  static const std::shared_ptr<HttpTransport> kTransport = MakeCurlTransport();
  const std::shared_ptr<HttpTransport> transport = call.transport ? call.transport : kTransport;
  const std::shared_ptr<Clock> clock = call.clock ? call.clock : SystemClock();
  HttpRequest request;
  request.method = "POST";
  request.url = call.url;
  request.headers = call.headers;
  request.headers.emplace_back("Content-Type", call.content_type);
  request.body = call.body;
  request.timeout = call.timeout;
  if (call.through_gateway) ThroughGateway(request);

  bool replied = false;
  auto answer = RetryLoop<std::string>(call.retry, BackoffPolicy{}, Idempotency::kNonIdempotent, *clock,
                                       "Scoring on " + call.url, [&]() -> StatusOr<std::string> {
                                         StatusOr<HttpResponse> reply = transport->Send(request);
                                         replied = reply.ok();
                                         if (!reply.ok()) return reply.status();
                                         if (!reply->ok()) return ScoringReplyStatus(*reply, call);
                                         return std::move(reply->body);
                                       });
  if (!answer.ok() && !replied) return answer.status().WithContext(call.what + " did not answer");
  return answer;
}

}  // namespace mlflow_bridge::internal
