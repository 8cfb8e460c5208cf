// Calls to OCI services, below the stubs: a transport that signs every request with the credentials'
// key (the one place requests are signed: the Data Science API and the model deployment predict endpoint
// alike), and OciCaller, which sends one attempt of one REST call of a service (JSON in, JSON out) and turns a
// non-2xx reply into OciErrorStatus. No retries here: the retrying stub above applies RetryLoop's rule.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/http.h"
#include "mlflow_bridge/status.h"
#include "oci/credentials.h"
#include "oci/signer.h"

namespace mlflow_bridge::internal {

// A transport that signs each request (SignOciRequest with the provider's current key, at the clock's now)
// before `inner` sends it. A 401 makes the provider forget what it cached and the request is signed and sent
// once more (a rotated resource principal token, a refreshed session token), as the SDKs' signers re-read.
// `options.sign_body` false: the body is left out of the signature (the transport of binary uploads).
std::shared_ptr<HttpTransport> MakeOciSigningTransport(std::shared_ptr<HttpTransport> inner,
                                                       std::shared_ptr<OciCredentialsProvider> credentials,
                                                       std::shared_ptr<Clock> clock = nullptr, OciSignOptions options = {});

// One REST call, relative to the service's base URL and API version.
struct OciRequest {
  std::string method = "GET";
  std::string path;  // after the version, percent-encoded: "/modelDeployments/" + OciPathSegment(id)
  std::vector<std::pair<std::string, std::string>> query = {};  // not encoded
  std::optional<nlohmann::json> body = {};                      // sent as application/json
  // A binary body sent from a file instead (the model artifact upload): not signed, as the SDKs do.
  std::optional<HttpRequest::FileBody> body_file = {};
  HttpHeaders headers = {};  // opc-retry-token, if-match, content-disposition
};

struct OciReply {
  long status_code = 0;
  HttpHeaders headers;
  nlohmann::json body;  // null when there was none
  std::optional<std::string> Header(std::string_view name) const { return FindHeader(headers, name); }
};

struct OciCallerOptions {
  std::string base_url;                  // https://datascience.us-ashburn-1.oci.oraclecloud.com, or a loopback stand-in
  std::string api_version = "20190101";  // empty for a service without one (Object Storage)
  std::optional<std::chrono::milliseconds> request_timeout;
};

// 32 random upper-case hex characters: an opc-request-id, or an opc-retry-token.
std::string NewOciRequestId();

// A path segment: every byte but A-Za-z0-9-._~ percent-encoded.
std::string OciPathSegment(std::string_view name);

class OciCaller {
 public:
  // `transport` signs (MakeOciSigningTransport); `upload_transport` too, without the body (artifact uploads).
  OciCaller(std::shared_ptr<HttpTransport> transport, std::shared_ptr<HttpTransport> upload_transport,
            OciCallerOptions options);

  // Sends `request` once: Accept application/json, a fresh opc-request-id; `what` names the call in errors
  // ("Creating model deployment 'churn'").
  StatusOr<OciReply> Call(const OciRequest& request, std::string_view what) const;

 private:
  std::shared_ptr<HttpTransport> transport_, upload_transport_;
  OciCallerOptions options_;
};

}  // namespace mlflow_bridge::internal
