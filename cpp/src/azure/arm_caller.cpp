#include "azure/arm_caller.h"

#include <cstdio>
#include <cstdlib>
#include <random>
#include <utility>

#include "common/strings.h"
#include "common/url.h"
#include "mlflow_bridge/logging.h"

namespace mlflow_bridge::internal {
namespace {

using json = nlohmann::json;

constexpr char kProvider[] = "/providers/Microsoft.MachineLearningServices/workspaces/";

std::string JsonString(const json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

bool ContainsIgnoreCase(std::string_view text, std::string_view word) {
  return ToLower(text).find(ToLower(word)) != std::string::npos;
}

// Milliseconds as retry-after-ms sends them ("1500", "1500.0"); nullopt when unreadable or negative.
std::optional<std::chrono::milliseconds> ParseMilliseconds(std::string_view value) {
  std::string v(Trim(value));
  if (v.empty()) return std::nullopt;
  char* end = nullptr;
  double ms = std::strtod(v.c_str(), &end);
  if (end != v.c_str() + v.size() || !(ms >= 0)) return std::nullopt;
  constexpr double kMax = 365.0 * 24 * 3600 * 1000;  // beyond a year is nonsense; clamp
  return std::chrono::milliseconds(static_cast<long long>(ms < kMax ? ms : kMax));
}

// The request id of an ARM reply: x-ms-request-id, x-ms-correlation-request-id, or the body's
// additionalInfo [{"type": "Correlation", "info": {"value": {"request": ...}}}].
std::string RequestId(const HttpResponse& r, const json& error) {
  if (auto h = r.Header("x-ms-request-id"); h && !Trim(*h).empty()) return std::string(Trim(*h));
  if (auto h = r.Header("x-ms-correlation-request-id"); h && !Trim(*h).empty()) return std::string(Trim(*h));
  auto info = error.find("additionalInfo");
  if (info == error.end() || !info->is_array()) return "";
  for (const json& item : *info) {
    if (!item.is_object() || JsonString(item, "type") != "Correlation") continue;
    const json value = item.value("/info/value"_json_pointer, json());
    if (std::string request = JsonString(value, "request"); !request.empty()) return request;
  }
  return "";
}

StatusCode ArmCode(long http_status, const std::optional<ArmError>& error) {
  switch (http_status) {
    case 400:
      if (error && (ContainsIgnoreCase(error->Code(), "Conflict") || ContainsIgnoreCase(error->Code(), "AlreadyExists")))
        return StatusCode::kResourceAlreadyExists;
      return StatusCode::kInvalidParameterValue;
    case 401: return StatusCode::kUnauthenticated;
    case 403: return StatusCode::kPermissionDenied;
    case 404:
    case 410: return StatusCode::kResourceDoesNotExist;
    case 409: return StatusCode::kResourceAlreadyExists;
    case 408:
    case 429:
    case 500:
    case 502:
    case 503:
    case 504: return StatusCode::kTemporarilyUnavailable;
    default: break;
  }
  if (http_status >= 400 && http_status < 500) return StatusCode::kInvalidParameterValue;
  return StatusCode::kInternalError;
}

Status ArmErrorStatusAt(const HttpResponse& r, std::string_view what, std::chrono::system_clock::time_point now) {
  std::optional<ArmError> error = ParseArmError(r);
  std::string message;
  if (error) {
    message = std::string(what) + ": " + error->Text();
    if (!error->request_id.empty()) message += " (request id " + error->request_id + ")";
  } else {
    message = HttpErrorStatus(r, what).message();
  }
  Status status(ArmCode(r.status_code, error), std::move(message));
  if (auto delay = ArmRetryAfter(r.headers, now)) status.set_retry_after(*delay);
  if (r.status_code == 429) status.set_not_processed();
  return status;
}

// Whether a query string ("a=b&c=d") has a parameter named `name`.
bool HasQueryParameter(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    if (PercentDecode(pair.substr(0, pair.find('='))) == name) return true;
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return false;
}

std::string EffectivePort(const ParsedUrl& u) {
  if (!u.port.empty()) return u.port;
  return u.scheme == "https" ? "443" : u.scheme == "http" ? "80" : "";
}

std::string WithoutTrailingSlash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

}  // namespace

// ---------------------------------------------------------------- paths

std::string ArmPathSegment(std::string_view name) { return UriEncode(name, /*encode_slash=*/true); }

std::string ArmQueryString(const std::vector<std::pair<std::string, std::string>>& query) {
  std::string out;
  for (const auto& [name, value] : query) {
    if (!out.empty()) out += '&';
    std::string encoded = UriEncode(name);
    for (size_t pos = 0; (pos = encoded.find("%24", pos)) != std::string::npos;) encoded.replace(pos, 3, "$");
    out += encoded + "=" + UriEncode(value);
  }
  return out;
}

std::string ArmWorkspace::Path() const {
  return "/subscriptions/" + ArmPathSegment(subscription) + "/resourceGroups/" + ArmPathSegment(resource_group) + kProvider +
         ArmPathSegment(workspace);
}

std::string ArmWorkspace::ResourceId() const {
  return "/subscriptions/" + subscription + "/resourceGroups/" + resource_group + kProvider + workspace;
}

std::string ArmWorkspace::Describe() const {
  return "workspace " + workspace + " (resource group " + resource_group + ", subscription " + subscription + ")";
}

Status ValidateArmWorkspace(const ArmWorkspace& w) {
  const char* missing = w.subscription.empty()     ? "subscription"
                        : w.resource_group.empty() ? "resource group"
                        : w.workspace.empty()      ? "workspace"
                                                   : nullptr;
  if (missing == nullptr) return OkStatus();
  return InvalidParameterError(std::string("the Azure ML workspace needs a ") + missing +
                               ": azureml-endpoints:/<subscription>/<resource-group>/<workspace>");
}

// ---------------------------------------------------------------- errors

std::string ArmError::Code() const {
  if (specific_code.empty() || specific_code == code) return code;
  if (code.empty()) return specific_code;
  return code + "/" + specific_code;
}

std::string ArmError::Text() const {
  std::string text = Code();
  if (!message.empty()) text += (text.empty() ? "" : ": ") + Redact(message);
  if (!target.empty()) text += " (target: " + target + ")";
  if (!details.empty()) {
    std::string joined;
    for (const std::string& d : details) joined += (joined.empty() ? "" : "; ") + d;
    text += " (details: " + Redact(joined) + ")";
  }
  return text;
}

ArmError ParseArmErrorObject(const json& error) {
  ArmError e;
  e.code = JsonString(error, "code");
  e.message = std::string(Trim(JsonString(error, "message")));
  e.target = JsonString(error, "target");
  const json* level = &error;
  for (int depth = 0; depth < 16; ++depth) {  // bounded: a reply could nest without end
    auto details = level->find("details");
    if (details == level->end() || !details->is_array() || details->empty()) break;
    if (details->size() > 1) {
      for (const json& d : *details) {
        std::string code = JsonString(d, "code"), msg(Trim(JsonString(d, "message"))), target = JsonString(d, "target");
        std::string line = code.empty() ? msg : msg.empty() ? code : code + ": " + msg;
        if (!target.empty()) line += " (target: " + target + ")";
        if (!line.empty()) e.details.push_back(Excerpt(line, 500));
      }
      break;
    }
    level = &details->front();
    if (!level->is_object()) break;
    if (std::string code = JsonString(*level, "code"); !code.empty()) e.specific_code = code;
    if (std::string msg(Trim(JsonString(*level, "message"))); !msg.empty()) e.message = msg;
    if (std::string target = JsonString(*level, "target"); !target.empty()) e.target = target;
  }
  if (e.specific_code == e.code) e.specific_code.clear();
  e.message = Excerpt(e.message, 2000);
  return e;
}

std::optional<ArmError> ParseArmError(const HttpResponse& response) {
  std::string_view body = Trim(response.body);
  if (body.empty() || body.front() != '{') return std::nullopt;
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  // {"error": {...}} as ARM's common types define it; a bare {"code", "message"} as some services send.
  const json* error = nullptr;
  if (auto it = j.find("error"); it != j.end() && it->is_object()) error = &*it;
  else if (j.contains("code") && j.contains("message")) error = &j;
  if (error == nullptr) return std::nullopt;
  ArmError e = ParseArmErrorObject(*error);
  if (e.code.empty() && e.message.empty()) return std::nullopt;
  e.request_id = RequestId(response, *error);
  return e;
}

std::optional<std::chrono::milliseconds> ArmRetryAfter(const HttpHeaders& headers,
                                                       std::chrono::system_clock::time_point now) {
  for (const char* name : {"retry-after-ms", "x-ms-retry-after-ms"}) {
    if (auto v = FindHeader(headers, name)) {
      if (auto ms = ParseMilliseconds(*v)) return ms;
    }
  }
  if (auto v = FindHeader(headers, "Retry-After")) return ParseRetryAfter(*v, now);
  return std::nullopt;
}

Status ArmErrorStatus(const HttpResponse& response, std::string_view what) {
  return ArmErrorStatusAt(response, what, std::chrono::system_clock::now());
}

// ---------------------------------------------------------------- caller

std::string NewClientRequestId() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  unsigned char b[16];
  for (int i = 0; i < 16; i += 8) {
    uint64_t v = rng();
    for (int k = 0; k < 8; ++k) b[i + k] = static_cast<unsigned char>(v >> (8 * k));
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0F) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80);  // RFC 4122 variant
  char out[37];
  std::snprintf(out, sizeof(out), "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
                b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return out;
}

StatusOr<json> ArmJsonBody(const HttpResponse& response, std::string_view what) {
  std::string_view text = Trim(response.body);
  if (text.empty()) return json();
  json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded())
    return InternalError(std::string(what) + ": the reply (HTTP " + std::to_string(response.status_code) + ", " +
                         std::to_string(text.size()) + " bytes) is not JSON");
  return parsed;
}

ArmCaller::ArmCaller(std::shared_ptr<HttpTransport> transport, std::shared_ptr<TokenCredential> credential,
                     ArmCallerOptions options, std::shared_ptr<Clock> clock)
    : transport_(std::move(transport)),
      credential_(std::move(credential)),
      options_(std::move(options)),
      clock_(clock ? std::move(clock) : SystemClock()) {
  options_.base_url = WithoutTrailingSlash(options_.base_url);
  if (options_.base_url.empty()) options_.base_url = kArmDefaultBaseUrl;
  if (options_.scope.empty()) options_.scope = kArmScope;
  if (options_.api_version.empty()) options_.api_version = kArmApiVersion;
}

std::string ArmCaller::Url(const ArmRequest& request) const {
  std::vector<std::pair<std::string, std::string>> query = request.query;
  bool has_version = false;
  for (const auto& [name, value] : query) has_version = has_version || name == "api-version";
  if (!has_version) query.insert(query.begin(), {"api-version", options_.api_version});
  std::string path = request.path;
  if (path.empty() || path.front() != '/') path.insert(0, "/");
  return options_.base_url + path + "?" + ArmQueryString(query);
}

StatusOr<HttpResponse> ArmCaller::Send(const ArmRequest& request, std::string_view what) const {
  HttpRequest http;
  http.method = request.method;
  http.url = Url(request);
  if (request.body) {
    try {
      http.body = request.body->dump();
    } catch (const json::exception& e) {  // invalid UTF-8 in a string
      return InvalidParameterError(std::string(what) + ": the request cannot be sent as JSON: " + e.what());
    }
    http.headers.emplace_back("Content-Type", "application/json");
  }
  return Call(http, what);
}

StatusOr<HttpResponse> ArmCaller::GetUrl(std::string_view url, std::string_view what) const {
  StatusOr<ParsedUrl> target = ParseUrl(url);
  StatusOr<ParsedUrl> base = ParseUrl(options_.base_url);
  if (!target.ok()) return InternalError(std::string(what) + ": the service sent a URL that cannot be read");
  if (!base.ok())
    return InvalidParameterError(std::string(what) + ": the ARM base URL cannot be read: " + options_.base_url);
  if (target->scheme != base->scheme || !EqualsIgnoreCase(target->host, base->host) ||
      EffectivePort(*target) != EffectivePort(*base))
    return InternalError(std::string(what) + ": the service sent a URL on " + target->scheme + "://" +
                         HostHeaderValue(*target) + ", not on the resource manager " + options_.base_url +
                         "; the Azure token is not sent there");
  HttpRequest http;
  http.method = "GET";
  http.url = std::string(url);
  if (size_t hash = http.url.find('#'); hash != std::string::npos) http.url.resize(hash);
  if (!HasQueryParameter(target->query, "api-version"))
    http.url += std::string(target->query.empty() ? (http.url.back() == '?' ? "" : "?") : "&") +
                "api-version=" + UriEncode(options_.api_version);
  return Call(http, what);
}

StatusOr<HttpResponse> ArmCaller::Call(HttpRequest& request, std::string_view what) const {
  if (!transport_ || !credential_) return InternalError(std::string(what) + ": ArmCaller is not set up");
  StatusOr<AccessToken> token = credential_->GetToken(options_.scope);
  if (!token.ok()) return token.status();
  const std::string& secret = token->token;
  request.headers.emplace_back("Authorization", "Bearer " + secret);
  request.headers.emplace_back("Accept", "application/json");
  request.headers.emplace_back("x-ms-client-request-id", NewClientRequestId());
  if (options_.request_timeout) request.timeout = options_.request_timeout;

  StatusOr<HttpResponse> response = transport_->Send(request);
  if (!response.ok()) {
    const Status& failed = response.status();
    return failed.WithMessage(ScrubSecrets(std::string(what) + ": " + failed.message(), {secret}));
  }
  HttpResponse& r = *response;
  LogDebug("ARM " + request.method + " " + request.url + " -> HTTP " + std::to_string(r.status_code));
  if (r.ok()) return response;
  r.body = ScrubSecrets(std::move(r.body), {secret});  // before any excerpt of it is taken
  Status status = ArmErrorStatusAt(r, what, clock_->WallNow());
  return status.WithMessage(ScrubSecrets(status.message(), {secret}));
}

}  // namespace mlflow_bridge::internal
