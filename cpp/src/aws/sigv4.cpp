#include "aws/sigv4.h"

#include "common/crypto.h"
#include "common/strings.h"
#include "common/url.h"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <map>
#include <utility>
#include <vector>

namespace mlflow_bridge {
namespace internal {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

// Headers that are never signed: proxies and clients may add or change them.
bool NeverSigned(std::string_view lower_name) {
  return lower_name == "authorization" || lower_name == "user-agent" || lower_name == "expect" ||
         lower_name == "x-amzn-trace-id";
}

void RemoveHeader(HttpHeaders& headers, std::string_view name) {
  headers.erase(
      std::remove_if(headers.begin(), headers.end(), [&](const auto& h) { return EqualsIgnoreCase(h.first, name); }),
      headers.end());
}

}  // namespace

std::string CanonicalUri(std::string_view path, std::string_view service) {
  if (service == "s3") return path.empty() ? std::string("/") : std::string(path);
  return UriEncode(NormalizeUriPath(path), /*encode_slash=*/false);
}

std::string CanonicalQueryString(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> params;
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string_view::npos) amp = query.size();
    std::string_view pair = query.substr(pos, amp - pos);
    if (!pair.empty()) {
      size_t eq = pair.find('=');
      std::string_view key = pair.substr(0, eq);
      std::string_view value = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
      params.emplace_back(UriEncode(PercentDecode(key)), UriEncode(PercentDecode(value)));
    }
    pos = amp + 1;
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out += '&';
    out += k;
    out += '=';
    out += v;
  }
  return out;
}

std::string CanonicalHeaderValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  bool pending_space = false;
  for (char c : value) {
    if (IsSpace(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

CanonicalHeadersResult CanonicalHeaders(const HttpHeaders& headers) {
  // std::map keeps names sorted; values keep the order in which they appear.
  std::map<std::string, std::string> merged;
  for (const auto& [name, value] : headers) {
    std::string key = ToLower(CanonicalHeaderValue(name));
    if (NeverSigned(key)) continue;
    auto [it, inserted] = merged.try_emplace(key, CanonicalHeaderValue(value));
    if (!inserted) it->second += "," + CanonicalHeaderValue(value);
  }
  CanonicalHeadersResult out;
  for (const auto& [name, value] : merged) {
    out.canonical_headers += name + ":" + value + "\n";
    if (!out.signed_headers.empty()) out.signed_headers += ';';
    out.signed_headers += name;
  }
  return out;
}

std::string CanonicalRequest(std::string_view method, std::string_view canonical_uri, std::string_view canonical_query,
                             const CanonicalHeadersResult& headers, std::string_view payload_hash) {
  std::string out;
  out.reserve(method.size() + canonical_uri.size() + canonical_query.size() + headers.canonical_headers.size() +
              headers.signed_headers.size() + payload_hash.size() + 8);
  out.append(method).append("\n");
  out.append(canonical_uri).append("\n");
  out.append(canonical_query).append("\n");
  out.append(headers.canonical_headers).append("\n");
  out.append(headers.signed_headers).append("\n");
  out.append(payload_hash);
  return out;
}

StatusOr<std::string> CanonicalRequest(const HttpRequest& request, std::string_view service, std::string_view payload_hash,
                                       std::string* signed_headers) {
  StatusOr<ParsedUrl> url = ParseUrl(request.url);
  if (!url.ok()) return url.status();
  CanonicalHeadersResult headers = CanonicalHeaders(request.headers);
  if (signed_headers != nullptr) *signed_headers = headers.signed_headers;
  std::string method = request.method;
  std::transform(method.begin(), method.end(), method.begin(),
                 [](char c) { return static_cast<char>(std::toupper(static_cast<unsigned char>(c))); });
  return CanonicalRequest(method, CanonicalUri(url->path, service), CanonicalQueryString(url->query), headers, payload_hash);
}

std::string FormatAmzDate(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string CredentialScope(std::string_view date, std::string_view region, std::string_view service) {
  std::string out;
  out.append(date).append("/").append(region).append("/").append(service).append("/aws4_request");
  return out;
}

std::string StringToSign(std::string_view amz_date, std::string_view scope, std::string_view canonical_request) {
  std::string out(kAlgorithm);
  out.append("\n").append(amz_date).append("\n").append(scope).append("\n").append(Sha256Hex(canonical_request));
  return out;
}

std::string SigningKey(std::string_view secret_access_key, std::string_view date, std::string_view region,
                       std::string_view service) {
  std::string k = "AWS4" + std::string(secret_access_key);
  std::string key = HmacSha256(k, date);
  OPENSSL_cleanse(k.data(), k.size());
  key = HmacSha256(key, region);
  key = HmacSha256(key, service);
  return HmacSha256(key, "aws4_request");
}

std::string Signature(std::string_view signing_key, std::string_view string_to_sign) {
  return HexEncode(HmacSha256(signing_key, string_to_sign));
}

std::string AuthorizationHeader(std::string_view access_key_id, std::string_view scope, std::string_view signed_headers,
                                std::string_view signature) {
  std::string out(kAlgorithm);
  out.append(" Credential=").append(access_key_id).append("/").append(scope);
  out.append(", SignedHeaders=").append(signed_headers);
  out.append(", Signature=").append(signature);
  return out;
}

}  // namespace internal

Status SignV4(HttpRequest& request, const AwsCredentials& credentials, const SigV4Params& params) {
  using namespace internal;  // NOLINT
  if (credentials.access_key_id.empty() || credentials.secret_access_key.empty())
    return UnauthenticatedError("cannot sign the AWS request: the credentials have no access key id or secret key");
  if (params.region.empty() || params.service.empty())
    return InvalidParameterError("cannot sign the AWS request: the signing region and service must be set");
  StatusOr<ParsedUrl> url = ParseUrl(request.url);
  if (!url.ok()) return url.status().WithContext("cannot sign the AWS request");

  const std::string amz_date = FormatAmzDate(params.now);
  const std::string date = amz_date.substr(0, 8);
  const std::string payload_hash = params.unsigned_payload ? std::string(kUnsignedPayload) : Sha256Hex(request.body);

  RemoveHeader(request.headers, "Authorization");
  RemoveHeader(request.headers, "X-Amz-Date");
  RemoveHeader(request.headers, "X-Amz-Security-Token");
  if (!FindHeader(request.headers, "Host")) request.headers.emplace_back("Host", HostHeaderValue(*url));
  request.headers.emplace_back("X-Amz-Date", amz_date);
  if (!credentials.session_token.empty()) request.headers.emplace_back("X-Amz-Security-Token", credentials.session_token);
  if (params.sign_body_hash_header) {
    RemoveHeader(request.headers, "x-amz-content-sha256");
    request.headers.emplace_back("x-amz-content-sha256", payload_hash);
  }

  CanonicalHeadersResult headers = CanonicalHeaders(request.headers);
  std::string method = request.method;
  std::transform(method.begin(), method.end(), method.begin(),
                 [](char c) { return static_cast<char>(std::toupper(static_cast<unsigned char>(c))); });
  const std::string canonical = CanonicalRequest(method, CanonicalUri(url->path, params.service),
                                                 CanonicalQueryString(url->query), headers, payload_hash);
  const std::string scope = CredentialScope(date, params.region, params.service);
  const std::string key = SigningKey(credentials.secret_access_key, date, params.region, params.service);
  const std::string signature = Signature(key, StringToSign(amz_date, scope, canonical));
  if (signature.empty()) return InternalError("cannot sign the AWS request: HMAC-SHA256 failed (OpenSSL)");
  request.headers.emplace_back("Authorization",
                               AuthorizationHeader(credentials.access_key_id, scope, headers.signed_headers, signature));
  return OkStatus();
}

}  // namespace mlflow_bridge
