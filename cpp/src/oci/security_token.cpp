// What the session token and resource principal providers share: the token's expiry and the credentials
// built from a token.
#include <nlohmann/json.hpp>

#include <utility>

#include "common/base64.h"
#include "oci/credentials.h"

namespace mlflow_bridge::internal {

namespace {

// The claims of a JWT; an empty object when it is not one.
nlohmann::json Claims(std::string_view token) {
  const size_t first = token.find('.');
  if (first == std::string_view::npos) return nlohmann::json::object();
  const size_t second = token.find('.', first + 1);
  if (second == std::string_view::npos) return nlohmann::json::object();
  std::optional<std::string> payload = Base64UrlDecode(token.substr(first + 1, second - first - 1));
  if (!payload) return nlohmann::json::object();
  nlohmann::json claims = nlohmann::json::parse(*payload, nullptr, /*allow_exceptions=*/false);
  return claims.is_object() ? claims : nlohmann::json::object();
}

}  // namespace

std::optional<std::chrono::system_clock::time_point> OciTokenExpiry(std::string_view token) {
  nlohmann::json claims = Claims(token);
  if (!claims.contains("exp") || !claims["exp"].is_number()) return std::nullopt;
  return std::chrono::system_clock::time_point(std::chrono::seconds(claims["exp"].get<int64_t>()));
}

OciCredentials OciTokenCredentials(std::string token, std::shared_ptr<const OciPrivateKey> key, std::string region,
                                   std::string source) {
  OciCredentials c;
  c.key_id = "ST$" + token;
  c.expiration = OciTokenExpiry(token);
  c.security_token = std::move(token);
  c.private_key = std::move(key);
  // The tenancy: "res_tenant" of a resource principal token, "tenant" of a session token.
  nlohmann::json claims = Claims(c.security_token);
  for (const char* claim : {"res_tenant", "tenant"})
    if (c.tenancy.empty() && claims.contains(claim) && claims[claim].is_string()) c.tenancy = claims[claim];
  c.region = std::move(region);
  c.source = std::move(source);
  return c;
}

}  // namespace mlflow_bridge::internal
