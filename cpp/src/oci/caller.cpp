#include "oci/caller.h"

#include <cstdio>
#include <random>

#include "common/url.h"
#include "oci/error.h"

namespace mlflow_bridge::internal {

namespace {

class SigningTransport : public HttpTransport {
 public:
  SigningTransport(std::shared_ptr<HttpTransport> inner, std::shared_ptr<OciCredentialsProvider> credentials,
                   std::shared_ptr<Clock> clock, OciSignOptions options)
      : inner_(std::move(inner)),
        credentials_(std::move(credentials)),
        clock_(clock ? std::move(clock) : SystemClock()),
        options_(options) {}

  StatusOr<HttpResponse> Send(const HttpRequest& request) override {
    StatusOr<HttpResponse> reply = SignAndSend(request);
    if (!reply.ok() || reply->status_code != 401) return reply;
    credentials_->Invalidate();  // a token replaced on disk, a session refreshed: read them again, once
    return SignAndSend(request);
  }

 private:
  StatusOr<HttpResponse> SignAndSend(const HttpRequest& request) {
    StatusOr<OciCredentials> credentials = credentials_->GetCredentials();
    if (!credentials.ok()) return credentials.status();
    HttpRequest signed_request = request;
    MLFLOW_BRIDGE_RETURN_IF_ERROR(SignOciRequest(signed_request, credentials->signing_key(), clock_->WallNow(), options_));
    return inner_->Send(signed_request);
  }

  std::shared_ptr<HttpTransport> inner_;
  std::shared_ptr<OciCredentialsProvider> credentials_;
  std::shared_ptr<Clock> clock_;
  OciSignOptions options_;
};

}  // namespace

// OCI's request ids are 32 upper-case hex characters (the SDKs send one per call).
std::string NewOciRequestId() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  char out[33];
  std::snprintf(out, sizeof(out), "%016llX%016llX", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng()));
  return out;
}

std::shared_ptr<HttpTransport> MakeOciSigningTransport(std::shared_ptr<HttpTransport> inner,
                                                       std::shared_ptr<OciCredentialsProvider> credentials,
                                                       std::shared_ptr<Clock> clock, OciSignOptions options) {
  return std::make_shared<SigningTransport>(std::move(inner), std::move(credentials), std::move(clock), options);
}

std::string OciPathSegment(std::string_view name) { return UriEncode(name, /*encode_slash=*/true); }

OciCaller::OciCaller(std::shared_ptr<HttpTransport> transport, std::shared_ptr<HttpTransport> upload_transport,
                     OciCallerOptions options)
    : transport_(std::move(transport)), upload_transport_(std::move(upload_transport)), options_(std::move(options)) {
  while (!options_.base_url.empty() && options_.base_url.back() == '/') options_.base_url.pop_back();
}

StatusOr<OciReply> OciCaller::Call(const OciRequest& request, std::string_view what) const {
  HttpRequest http;
  http.method = request.method;
  http.url = options_.base_url + (options_.api_version.empty() ? "" : "/" + options_.api_version) + request.path;
  std::string query;
  for (const auto& [name, value] : request.query)
    query += (query.empty() ? "?" : "&") + UriEncode(name) + "=" + UriEncode(value);
  http.url += query;
  http.headers = request.headers;
  http.headers.emplace_back("Accept", "application/json");
  http.headers.emplace_back("opc-request-id", NewOciRequestId());
  if (request.body) {
    http.headers.emplace_back("Content-Type", "application/json");
    http.body = request.body->dump();
  } else if (request.body_file) {
    http.headers.emplace_back("Content-Type", "application/octet-stream");
    http.body_file = request.body_file;
  }
  http.timeout = options_.request_timeout;
  StatusOr<HttpResponse> response = (request.body_file ? upload_transport_ : transport_)->Send(http);
  if (!response.ok()) return response.status().WithContext(what);
  if (!response->ok()) return OciErrorStatus(*response, what);
  OciReply reply;
  reply.status_code = response->status_code;
  reply.headers = std::move(response->headers);
  if (!response->body.empty()) {
    reply.body = nlohmann::json::parse(response->body, nullptr, /*allow_exceptions=*/false);
    if (reply.body.is_discarded())
      return InternalError(std::string(what) + ": the service answered " + std::to_string(reply.status_code) +
                           " with a body that is not JSON.");
  }
  return reply;
}

}  // namespace mlflow_bridge::internal
