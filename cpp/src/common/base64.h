// Standard base64 (RFC 4648, with padding) and its URL-safe alphabet (base64url), through OpenSSL.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mlflow_bridge::internal {

std::string Base64Encode(std::string_view bytes);
// Accepts missing padding and surrounding white space; nullopt when `text` is not base64.
std::optional<std::string> Base64Decode(std::string_view text);

// base64url (RFC 4648 section 5: '-' and '_' for '+' and '/'), as JWTs use it: without '=' padding unless
// `pad` (MSAL writes a certificate's x5t thumbprint padded).
std::string Base64UrlEncode(std::string_view bytes, bool pad = false);
// Accepts padding or none; nullopt when `text` is not base64url (a '+' or '/' included).
std::optional<std::string> Base64UrlDecode(std::string_view text);

}  // namespace mlflow_bridge::internal
