// AWS Signature Version 4, stage by stage. SignV4() (mlflow_bridge/aws.h) is
// the public entry point; the stages are exposed here so that tests can check
// each against AWS's published test suite.
//
// URLs in HttpRequest are what goes on the wire: the path and query are
// already percent-encoded. Canonicalisation follows AWS's rules:
//  - path: for every service but S3, dot segments are removed and duplicate
//    slashes collapsed, then each segment is URI-encoded once more (so an
//    encoded "%20" becomes "%2520": AWS's "double encoding"); for S3 the
//    path is used as is.
//  - query: each key and value is percent-decoded and re-encoded with RFC 3986
//    (unreserved A-Za-z0-9-_.~ kept, everything else %XX, space as %20); the
//    pairs are sorted by key, then by value.
//  - headers: names lower-cased, values trimmed with inner runs of spaces
//    collapsed, repeated headers joined by ',' in the order they appear,
//    sorted by name.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mlflow_bridge/aws.h"
#include "mlflow_bridge/http.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

// The canonical URI of a wire path for `service` (see the rules above).
std::string CanonicalUri(std::string_view path, std::string_view service);
// The canonical query string of a wire query (without '?').
std::string CanonicalQueryString(std::string_view query);

// A header value as it is signed: trimmed, inner runs of whitespace collapsed.
std::string CanonicalHeaderValue(std::string_view value);

struct CanonicalHeadersResult {
  std::string canonical_headers;  // "name:value\n" per header name
  std::string signed_headers;     // "name1;name2"
};
// All headers of the request except those never signed (Authorization,
// User-Agent, Expect, X-Amzn-Trace-Id).
CanonicalHeadersResult CanonicalHeaders(const HttpHeaders& headers);

// ---- the stages ----

// METHOD \n canonical URI \n canonical query \n canonical headers \n signed headers \n payload hash
std::string CanonicalRequest(std::string_view method, std::string_view canonical_uri, std::string_view canonical_query,
                             const CanonicalHeadersResult& headers, std::string_view payload_hash);
// The canonical request of `request` as it stands (its headers must already
// include Host and X-Amz-Date). Sets *signed_headers when not null.
StatusOr<std::string> CanonicalRequest(const HttpRequest& request, std::string_view service, std::string_view payload_hash,
                                       std::string* signed_headers = nullptr);

// "20150830T123600Z" and "20150830" in UTC.
std::string FormatAmzDate(std::chrono::system_clock::time_point t);
// "20150830/us-east-1/service/aws4_request"
std::string CredentialScope(std::string_view date, std::string_view region, std::string_view service);
// "AWS4-HMAC-SHA256" \n amz_date \n scope \n hex(sha256(canonical_request))
std::string StringToSign(std::string_view amz_date, std::string_view scope, std::string_view canonical_request);
// HMAC chain "AWS4"+secret -> date -> region -> service -> "aws4_request" (raw bytes).
std::string SigningKey(std::string_view secret_access_key, std::string_view date, std::string_view region,
                       std::string_view service);
// Lower-case hex of HMAC-SHA256(signing_key, string_to_sign).
std::string Signature(std::string_view signing_key, std::string_view string_to_sign);
// "AWS4-HMAC-SHA256 Credential=AKID/scope, SignedHeaders=..., Signature=..."
std::string AuthorizationHeader(std::string_view access_key_id, std::string_view scope, std::string_view signed_headers,
                                std::string_view signature);

}  // namespace mlflow_bridge::internal
