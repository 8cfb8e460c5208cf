// Standard base64 (RFC 4648, with padding), through OpenSSL.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mlflow_bridge::internal {

std::string Base64Encode(std::string_view bytes);
// Accepts missing padding and surrounding white space; nullopt when `text` is not base64.
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace mlflow_bridge::internal
