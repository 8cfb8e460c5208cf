// The Entra ID token endpoint: authority, token URL, the POST form and its reply, the error JSON.
#include "azure/entra.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>
#include <utility>

#include "common/env.h"
#include "common/strings.h"
#include "common/url.h"
#include "mlflow_bridge/logging.h"

namespace mlflow_bridge::internal {
namespace {

using Json = nlohmann::json;

// A number of seconds written as a JSON number or as a string of digits (IMDS sends strings).
std::optional<long long> JsonSeconds(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (it->is_number_integer()) return it->get<long long>();
  if (it->is_number_float()) {
    double d = it->get<double>();
    if (!std::isfinite(d)) return std::nullopt;
    return static_cast<long long>(d);
  }
  if (it->is_string()) {
    std::string_view s = Trim(it->get_ref<const std::string&>());
    if (s.empty() || s.size() > 18) return std::nullopt;
    long long v = 0;
    for (char c : s) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
      v = v * 10 + (c - '0');
    }
    return v;
  }
  return std::nullopt;
}

std::string JsonText(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

std::string FirstLine(std::string_view s) {
  s = Trim(s);
  size_t end = s.find_first_of("\r\n");
  return std::string(Trim(s.substr(0, end)));
}

bool IsBase64UrlChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'; }

// Every JWT ("eyJ..." header, payload and signature) in `text` as [REDACTED]: an error page could quote a token.
std::string RedactJwts(std::string_view text) {
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t start = text.find("eyJ", pos);
    if (start == std::string_view::npos) break;
    size_t end = start;
    int dots = 0;
    while (end < text.size() && (IsBase64UrlChar(text[end]) || (text[end] == '.' && dots < 2))) {
      if (text[end] == '.') ++dots;
      ++end;
    }
    if (dots == 2 && (start == 0 || !IsBase64UrlChar(text[start - 1]))) {
      out.append(text.substr(pos, start - pos));
      out.append("[REDACTED]");
    } else {
      out.append(text.substr(pos, end - pos));
    }
    pos = end;
  }
  out.append(text.substr(pos));
  return out;
}

// What to check for the AADSTS codes a misconfigured credential gets most often.
std::string_view AadstsHint(std::string_view code) {
  if (code == "AADSTS7000215")
    return "the client secret is wrong: check AZURE_CLIENT_SECRET (the secret's value, not its id)";
  if (code == "AADSTS7000222") return "the client secret has expired: create a new one for the app registration";
  if (code == "AADSTS700016")
    return "no application with this client id in the tenant: check AZURE_CLIENT_ID and AZURE_TENANT_ID";
  if (code == "AADSTS90002" || code == "AADSTS900023") return "the tenant does not exist: check AZURE_TENANT_ID";
  if (code == "AADSTS700027")
    return "the certificate is not registered for the app, or the assertion's signature is wrong: upload the "
           "certificate to the app registration";
  if (code == "AADSTS700024") return "the client assertion is not valid now: check this machine's clock";
  if (code == "AADSTS70021" || code == "AADSTS700213")
    return "no federated identity credential of the app matches the token's issuer and subject: check the app's "
           "federated credentials (service account, namespace, issuer)";
  if (code == "AADSTS700211") return "the federated token's issuer is not the one the app trusts";
  if (code == "AADSTS7000112" || code == "AADSTS7000113") return "the application is disabled or not allowed here";
  if (code == "AADSTS500011") return "the resource of the scope is not known in the tenant";
  return "";
}

// "AADSTS7000215" at the start of the description, else from error_codes.
std::string AadstsCode(std::string_view description, const Json& j) {
  if (description.rfind("AADSTS", 0) == 0) {
    size_t end = 6;
    while (end < description.size() && std::isdigit(static_cast<unsigned char>(description[end]))) ++end;
    if (end > 6) return std::string(description.substr(0, end));
  }
  auto it = j.find("error_codes");
  if (it != j.end() && it->is_array() && !it->empty() && (*it)[0].is_number_integer())
    return "AADSTS" + std::to_string((*it)[0].get<long long>());
  return "";
}

}  // namespace

StatusOr<std::string> NormalizeAuthorityHost(std::string_view value, std::string_view source) {
  std::string_view v = Trim(value);
  while (!v.empty() && (v.back() == '/' || v.back() == ' ')) v.remove_suffix(1);
  if (v.empty()) return std::string(kDefaultAuthorityHost);
  size_t sep = v.find("://");
  if (sep == std::string_view::npos) return "https://" + std::string(v);
  if (!EqualsIgnoreCase(v.substr(0, sep), "https"))
    return InvalidParameterError(std::string(source) + " '" + WithoutUrlUserinfo(v) +
                                 "' is not an https URL: the authority must be TLS protected (https://host)");
  if (sep + 3 >= v.size()) return InvalidParameterError(std::string(source) + " '" + std::string(v) + "' has no host");
  return "https://" + std::string(v.substr(sep + 3));
}

Status ValidateTenantId(std::string_view tenant_id) {
  bool ok = !tenant_id.empty();
  for (char c : tenant_id) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.');
  if (ok) return OkStatus();
  return InvalidParameterError("tenant id '" + std::string(tenant_id) +
                               "' is not valid: a tenant id is a GUID or a domain name (letters, digits, '-' and '.'); "
                               "find it with `az account show --query tenantId`");
}

Status ValidateScope(std::string_view scope) {
  bool ok = !scope.empty();
  for (char c : scope)
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || std::string_view(".-_:/").find(c) != std::string_view::npos);
  if (ok) return OkStatus();
  return InvalidParameterError("scope '" + std::string(scope) +
                               "' is not valid: a scope is letters, digits and .-_:/ (e.g. "
                               "https://management.azure.com/.default)");
}

std::string ScopeToResource(std::string_view scope) {
  constexpr std::string_view kSuffix = "/.default";
  if (scope.size() >= kSuffix.size() && scope.substr(scope.size() - kSuffix.size()) == kSuffix)
    scope.remove_suffix(kSuffix.size());
  return std::string(scope);
}

std::string TokenUrl(std::string_view authority, std::string_view tenant_id) {
  return std::string(authority) + "/" + std::string(tenant_id) + "/oauth2/v2.0/token";
}

std::string FormEncode(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [name, value] : fields) {
    if (!out.empty()) out += '&';
    out += UriEncode(name) + "=" + UriEncode(value);
  }
  return out;
}

StatusOr<AccessToken> ParseTokenResponse(std::string_view body, std::chrono::system_clock::time_point now) {
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return InternalError("the token reply is not a JSON object");
  AccessToken t;
  t.token = JsonText(j, "access_token");
  if (t.token.empty()) return InternalError("the token reply has no access_token");
  if (std::string type = JsonText(j, "token_type"); !type.empty() && !EqualsIgnoreCase(type, "Bearer"))
    return InternalError("the token reply has a token_type other than Bearer");
  std::optional<long long> expires_in = JsonSeconds(j, "expires_in");
  if (expires_in) {
    t.expires_on = now + std::chrono::seconds(*expires_in);
  } else if (std::optional<long long> expires_on = JsonSeconds(j, "expires_on")) {
    t.expires_on = std::chrono::system_clock::time_point(std::chrono::seconds(*expires_on));
    expires_in = std::chrono::duration_cast<std::chrono::seconds>(t.expires_on - now).count();
  } else {
    return InternalError("the token reply has neither expires_in nor expires_on");
  }
  if (std::optional<long long> refresh_in = JsonSeconds(j, "refresh_in"); refresh_in && *refresh_in > 0) {
    t.refresh_on = now + std::chrono::seconds(*refresh_in);
  } else if (*expires_in >= 7200) {
    t.refresh_on = now + std::chrono::seconds(*expires_in / 2);
  }
  return t;
}

std::optional<std::chrono::milliseconds> AzureRetryAfter(const HttpResponse& response,
                                                         std::chrono::system_clock::time_point now) {
  for (const char* name : {"retry-after-ms", "x-ms-retry-after-ms"}) {
    if (auto v = response.Header(name)) {
      std::string_view s = Trim(*v);
      bool digits = !s.empty() && s.size() < 12;
      for (char c : s) digits = digits && std::isdigit(static_cast<unsigned char>(c));
      if (digits) return std::chrono::milliseconds(std::stoll(std::string(s)));
    }
  }
  if (auto v = response.Header("Retry-After")) return ParseRetryAfter(*v, now);
  return std::nullopt;
}

std::string TokenErrorDetail(const HttpResponse& response, std::string* aadsts_code) {
  Json j = Json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  std::string detail;
  std::string aadsts;
  if (j.is_object()) {
    std::string error = FirstLine(JsonText(j, "error"));
    std::string description = FirstLine(JsonText(j, "error_description"));
    if (description.empty()) description = FirstLine(JsonText(j, "message"));
    aadsts = AadstsCode(description, j);
    if (!aadsts.empty() && description.rfind(aadsts, 0) != 0)
      description = aadsts + (description.empty() ? "" : ": " + description);
    detail = description.empty() ? error : description;
    if (!error.empty() && !description.empty()) detail += " (" + error + ")";
    if (std::string trace = JsonText(j, "trace_id"); !trace.empty()) detail += " [trace id " + Excerpt(trace, 64) + "]";
  }
  if (detail.empty()) {
    std::string_view body = Trim(response.body);
    detail = body.empty() ? "no details" : Redact(RedactJwts(Excerpt(RedactJwts(body), 200)));
  }
  if (aadsts_code != nullptr) *aadsts_code = aadsts;
  return RedactJwts(detail);
}

Status EntraErrorStatus(const HttpResponse& response, std::string_view what, std::chrono::system_clock::time_point now) {
  const long code = response.status_code;
  std::string aadsts;
  std::string message = std::string(what) + ": the token endpoint answered HTTP " + std::to_string(code) + ": " +
                        TokenErrorDetail(response, &aadsts);
  if (std::string_view hint = AadstsHint(aadsts); !hint.empty()) message += " (" + std::string(hint) + ")";
  if (code == 408 || code == 429 || code >= 500) {
    Status s = UnavailableError(std::move(message));
    if (auto after = AzureRetryAfter(response, now)) s.set_retry_after(*after);
    return s;
  }
  if (code >= 400) return UnauthenticatedError(std::move(message));
  return InternalError(std::move(message));  // 1xx/3xx: not a token endpoint's answer
}

Status Scrubbed(const Status& status, const std::vector<std::string>& secrets) {
  std::vector<std::string_view> all;
  for (const std::string& s : secrets) {
    all.push_back(s);
    // A JWT's parts on their own (a server may quote one of them).
    if (std::count(s.begin(), s.end(), '.') == 2) {
      std::string_view v = s;
      size_t a = v.find('.'), b = v.rfind('.');
      for (std::string_view part : {v.substr(0, a), v.substr(a + 1, b - a - 1), v.substr(b + 1)})
        if (part.size() >= 8) all.push_back(part);
    }
  }
  return status.WithMessage(ScrubSecrets(status.message(), all));
}

Status ScrubbedFinal(const Status& status, const std::vector<std::string>& secrets) {
  Status out = Scrubbed(status, secrets);
  return out.set_final();
}

StatusOr<AccessToken> TokenRequester::Post(const std::string& url,
                                           const std::vector<std::pair<std::string, std::string>>& form,
                                           std::string_view what, const std::vector<std::string>& secrets) const {
  HttpRequest request;
  request.method = "POST";
  request.url = url;
  request.headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"}};
  request.body = FormEncode(form);
  StatusOr<AccessToken> token =
      RetryLoop<AccessToken>(retry, backoff, Idempotency::kIdempotent, *clock, what, [&]() -> StatusOr<AccessToken> {
        StatusOr<HttpResponse> response = transport->Send(request);
        if (!response.ok()) return Scrubbed(response.status().WithContext(what), secrets);  // names the URL
        const auto now = clock->WallNow();
        if (!response->ok()) return Scrubbed(EntraErrorStatus(*response, what, now), secrets);
        StatusOr<AccessToken> t = ParseTokenResponse(response->body, now);
        if (!t.ok()) return t.status().WithContext(std::string(what) + " (POST " + url + ")");
        return t;
      });
  if (!token.ok()) return ScrubbedFinal(token.status(), secrets);
  return token;
}

std::string NotSetMessage(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += (i + 1 == names.size()) ? " and " : ", ";
    out += names[i];
  }
  return out + (names.size() == 1 ? " is not set" : " are not set");
}

StatusOr<AppEnv> ReadAppEnv(const EnvGetter& getenv, const char* variable) {
  AppEnv env;
  std::vector<std::string> missing;
  for (auto [name, out] : {std::pair{"AZURE_TENANT_ID", &env.tenant_id}, std::pair{"AZURE_CLIENT_ID", &env.client_id},
                           std::pair{variable, &env.value}}) {
    if (std::optional<std::string> v = getenv(name)) {
      *out = std::move(*v);
    } else {
      missing.emplace_back(name);
    }
  }
  if (!missing.empty()) return NotFoundError(NotSetMessage(missing));
  StatusOr<std::string> authority = NormalizeAuthorityHost(getenv("AZURE_AUTHORITY_HOST").value_or(""));
  if (!authority.ok()) return authority.status();
  env.authority_host = std::move(*authority);
  return env;
}

EnvGetter ProcessEnv() {
  return [](const std::string& name) { return GetEnv(name.c_str()); };
}

EnvGetter EnvOf(const AzureCredentialOptions& options) { return options.getenv ? options.getenv : ProcessEnv(); }

std::shared_ptr<Clock> ClockOf(const AzureCredentialOptions& options) {
  return options.clock ? options.clock : SystemClock();
}

std::shared_ptr<HttpTransport> TransportOf(const AzureCredentialOptions& options) {
  return options.transport ? options.transport : MakeCurlTransport();
}

}  // namespace mlflow_bridge::internal
