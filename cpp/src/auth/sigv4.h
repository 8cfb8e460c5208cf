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

// ---- primitives (OpenSSL) ----

// Lower-case hex of the bytes.
std::string HexEncode(std::string_view bytes);
// Lower-case hex of SHA-256(data).
std::string Sha256Hex(std::string_view data);
// Raw 32-byte HMAC-SHA256(key, data).
std::string HmacSha256(std::string_view key, std::string_view data);

// ---- URLs ----

struct ParsedUrl {
  std::string scheme;  // lower-cased, e.g. "https"
  std::string host;    // as written (an IPv6 literal keeps its brackets)
  std::string port;    // empty when not given
  std::string path;    // "/..." as written, without query or fragment; may be empty
  std::string query;   // after '?', without the fragment; may be empty
};
// Splits an absolute URL (scheme://[userinfo@]host[:port][/path][?query][#fragment]).
StatusOr<ParsedUrl> ParseUrl(std::string_view url);
// The Host header for a URL: host, plus ":port" unless it is the scheme's default.
std::string HostHeaderValue(const ParsedUrl& url);

// RFC 3986 encoding: unreserved A-Za-z0-9-_.~ as is, every other byte %XX
// (upper-case hex). '/' is kept when encode_slash is false.
std::string UriEncode(std::string_view s, bool encode_slash = true);
// Decodes %XX escapes (a malformed escape is kept literally); '+' is not special.
std::string PercentDecode(std::string_view s);

// Removes "." and ".." segments and collapses duplicate slashes, keeping a
// leading and (when something remains) a trailing slash; "" becomes "/".
std::string NormalizeUriPath(std::string_view path);
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
std::string CanonicalRequest(std::string_view method, std::string_view canonical_uri,
                             std::string_view canonical_query, const CanonicalHeadersResult& headers,
                             std::string_view payload_hash);
// The canonical request of `request` as it stands (its headers must already
// include Host and X-Amz-Date). Sets *signed_headers when not null.
StatusOr<std::string> CanonicalRequest(const HttpRequest& request, std::string_view service,
                                       std::string_view payload_hash, std::string* signed_headers = nullptr);

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
std::string AuthorizationHeader(std::string_view access_key_id, std::string_view scope,
                                std::string_view signed_headers, std::string_view signature);

// ---- helpers of the credential providers (aws_credentials.cpp) ----

// "2011-07-15T23:28:33Z", with optional fractional seconds and a "Z" or
// "+HH:MM"/"-HH:MM" offset (none means UTC).
std::optional<std::chrono::system_clock::time_point> ParseIso8601(std::string_view s);

// The text of the first <tag>...</tag> in `xml` (entities decoded), if any.
// Enough for the few fixed fields of STS replies; not an XML parser.
std::optional<std::string> XmlTagText(std::string_view xml, std::string_view tag);

// An AWS shared config/credentials file: section -> key (lower-cased) -> value.
// Comment lines start with '#' or ';'; "key = value" (or "key: value"), an
// inline comment after whitespace is dropped; indented continuation lines
// (nested settings such as "s3 =") are skipped.
using AwsIniFile = std::map<std::string, std::map<std::string, std::string>>;
AwsIniFile ParseAwsIniFile(std::string_view text);

// Replaces every occurrence of each non-empty secret in `text` by "[REDACTED]".
std::string ScrubSecrets(std::string text, const std::vector<std::string_view>& secrets);

}  // namespace mlflow_bridge::internal
