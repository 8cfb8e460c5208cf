#include "azure/acr.h"

#include <optional>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "azure/entra.h"
#include "common/base64.h"
#include "common/strings.h"
#include "mlflow_bridge/logging.h"
#include "mlflow_bridge/retry.h"

namespace mlflow_bridge::internal {

namespace {

using nlohmann::json;

// The `exp` claim of a JWT (header.payload.signature), if it has one.
std::optional<std::chrono::system_clock::time_point> JwtExpiry(std::string_view jwt) {
  const size_t a = jwt.find('.');
  const size_t b = a == std::string_view::npos ? a : jwt.find('.', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  std::optional<std::string> payload = Base64UrlDecode(jwt.substr(a + 1, b - a - 1));
  if (!payload) return std::nullopt;
  json claims = json::parse(*payload, nullptr, false);
  if (!claims.is_object() || !claims.contains("exp") || !claims["exp"].is_number()) return std::nullopt;
  return std::chrono::system_clock::time_point(std::chrono::seconds(claims["exp"].get<long long>()));
}

// ACR's error JSON, {"errors": [{"code", "message"}]}: "CODE: message", else "".
std::string AcrErrorDetail(const HttpResponse& response) {
  json body = json::parse(response.body, nullptr, false);
  if (!body.is_object() || !body.contains("errors") || !body["errors"].is_array() || body["errors"].empty()) return "";
  const json& e = body["errors"][0];
  if (!e.is_object()) return "";
  std::string code = e.value("code", ""), message = e.value("message", "");
  return Redact(Excerpt(code.empty() ? message : code + ": " + message, 300));
}

}  // namespace

StatusOr<AcrRefreshToken> ExchangeForAcrRefreshToken(const std::string& registry, bool plain_http,
                                                     TokenCredential& credential, HttpTransport& transport, Clock& clock) {
  StatusOr<AccessToken> entra = credential.GetToken(kAcrExchangeScope);
  if (!entra.ok()) return entra.status().WithContext("Logging in to registry " + registry + " with Entra ID");
  const std::vector<std::string> secrets = {entra->token};
  HttpRequest request;
  request.method = "POST";
  request.url = std::string(plain_http ? "http://" : "https://") + registry + "/oauth2/exchange";
  request.headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"}};
  request.body = FormEncode({{"grant_type", "access_token"}, {"service", registry}, {"access_token", entra->token}});
  const std::string what = "ACR token exchange at " + request.url;
  StatusOr<HttpResponse> reply = RetryLoop<HttpResponse>(
      RetryPolicy{}, BackoffPolicy{}, Idempotency::kIdempotent, clock, what, [&]() -> StatusOr<HttpResponse> {
        StatusOr<HttpResponse> r = transport.Send(request);
        if (!r.ok()) return Scrubbed(r.status().WithContext(what), secrets);
        if (r->status_code == 401 || r->status_code == 403) {
          const std::string detail = AcrErrorDetail(*r);
          return Scrubbed(
              UnauthenticatedError(
                  "Registry " + registry + " refused the Entra ID token of " + credential.Describe() + " (HTTP " +
                  std::to_string(r->status_code) + (detail.empty() ? "" : ": " + detail) +
                  "). Give that identity a role on the registry (AcrPush to push images; the Azure ML workspace's "
                  "identity needs AcrPull), or pass -C registry_auth=basic with -C registry_username=... "
                  "-C registry_password=..."),
              secrets);
        }
        if (!r->ok()) {  // 429 and 5xx are retried (with Retry-After)
          Status status = HttpErrorStatus(*r, what);
          const std::string detail = AcrErrorDetail(*r);
          if (!detail.empty())
            status = status.WithMessage(what + ": HTTP " + std::to_string(r->status_code) + ": " + detail);
          return Scrubbed(status, secrets);
        }
        return r;
      });
  if (!reply.ok()) return reply.status();
  json body = json::parse(reply->body, nullptr, false);
  std::string refresh = body.is_object() ? body.value("refresh_token", "") : "";
  if (refresh.empty()) return InternalError(what + " replied without a refresh_token");
  AcrRefreshToken out{refresh, JwtExpiry(refresh).value_or(entra->expires_on)};
  return out;
}

}  // namespace mlflow_bridge::internal
