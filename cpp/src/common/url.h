// URLs: parsing, the Host header, RFC 3986 percent-encoding and dot-segment removal.
#pragma once

#include <string>
#include <string_view>

#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

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
}  // namespace mlflow_bridge::internal
