// OCI request signing: HTTP Signatures (draft-cavage-http-signatures-08) with RSA-SHA256, as the OCI SDKs
// sign every call.
//
//  - Signed headers: "date (request-target) host"; for POST, PUT and PATCH also
//    "content-length content-type x-content-sha256" (x-content-sha256: base64 of the body's SHA-256).
//  - Operations whose request body is binary content (the model artifact upload POST
//    /models/{id}/artifact, job artifacts, object uploads) leave the body out: the SDKs' generated
//    clients call those with enforce_content_headers=False, which signs "date (request-target) host"
//    only and adds no x-content-sha256 (and drops Transfer-Encoding). OciSignOptions::sign_body=false
//    is that switch; the caller of such an operation sets it (the rule is per operation, not per request).
//  - (request-target): the lower-cased method, a space, the path as sent ("/" when empty; "." and ".."
//    segments removed as libcurl and the SDK's HTTP library remove them before sending) and "?query" when
//    there is one.
//  - host: the URL's host, lower-cased, with ":port" whenever the URL gives a port (the SDK signs the
//    URL's netloc, so ":443" written in the URL is kept).
//  - Date: RFC 1123 in GMT ("Thu, 05 Jan 2014 21:31:40 GMT") from the injected clock; Date and Host are
//    (re)set on every signing. Content-Type defaults to application/json and Content-Length is the body's
//    size when they are signed. An x-content-sha256 already present is kept (as the SDKs keep it).
//  - Authorization, in the Python SDK's form:
//    Signature algorithm="rsa-sha256",headers="...",keyId="...",signature="...",version="1"
//    keyId is "tenancy/user/fingerprint" for an API key, "ST$<token>" for a session token or a resource
//    principal session token.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mlflow_bridge/http.h"
#include "mlflow_bridge/status.h"
#include "oci/private_key.h"

namespace mlflow_bridge::internal {

// What signs a request: the keyId and the private key (both secrets when the keyId holds a token).
struct OciSigningKey {
  std::string key_id;
  std::shared_ptr<const OciPrivateKey> private_key;
};

struct OciSignOptions {
  // false: the body is left out of the signature (binary uploads, see above).
  bool sign_body = true;
};

// "Thu, 05 Jan 2014 21:31:40 GMT"
std::string FormatHttpDate(std::chrono::system_clock::time_point t);

// Base64 of SHA-256 over the request's body (`body`, or the part of `body_file` it names).
StatusOr<std::string> OciContentSha256(const HttpRequest& request);

// The names signed for `method` (upper or lower case): "date", "(request-target)", "host" and, when the
// body is signed, "content-length", "content-type", "x-content-sha256". INVALID_PARAMETER_VALUE for a
// method the SDKs do not sign (anything but GET, HEAD, DELETE, PUT, POST, PATCH).
StatusOr<std::vector<std::string>> OciSignedHeaderNames(std::string_view method, const OciSignOptions& options = {});

// "name: value" lines joined by '\n' for `names`, from the request as it stands (Date, Host and the body
// headers must be present; "(request-target)" comes from the method and URL).
StatusOr<std::string> OciSigningString(const HttpRequest& request, const std::vector<std::string>& names);

// The Authorization header value (see above); `signature` is base64.
std::string OciAuthorizationHeader(std::string_view key_id, const std::vector<std::string>& names,
                                   std::string_view signature);

// Signs the request in place: sets Date and Host, the body headers when they are signed, and
// Authorization. Pure apart from reading `body_file` to hash it. Messages never carry the key, the keyId
// or the signature.
Status SignOciRequest(HttpRequest& request, const OciSigningKey& key, std::chrono::system_clock::time_point now,
                      const OciSignOptions& options = {});

}  // namespace mlflow_bridge::internal
