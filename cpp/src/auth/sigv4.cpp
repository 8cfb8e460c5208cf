#include "auth/sigv4.h"

#include "common/sha256.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

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

char ToLower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), ToLower);
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (ToLower(a[i]) != ToLower(b[i])) return false;
  return true;
}

bool IsUnreserved(unsigned char c) {
  return std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

// Headers that are never signed: proxies and clients may add or change them.
bool NeverSigned(std::string_view lower_name) {
  return lower_name == "authorization" || lower_name == "user-agent" || lower_name == "expect" ||
         lower_name == "x-amzn-trace-id";
}

void RemoveHeader(HttpHeaders& headers, std::string_view name) {
  headers.erase(std::remove_if(headers.begin(), headers.end(),
                               [&](const auto& h) { return EqualsIgnoreCase(h.first, name); }),
                headers.end());
}

}  // namespace

std::string HexEncode(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xF]);
  }
  return out;
}

std::string Sha256Hex(std::string_view data) {
  Sha256 h;
  h.Update(data);
  return h.Hex();
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
           data.size(), md, &len) == nullptr)
    return std::string();
  return std::string(reinterpret_cast<const char*>(md), len);
}

StatusOr<ParsedUrl> ParseUrl(std::string_view url) {
  ParsedUrl out;
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos || scheme_end == 0)
    return InvalidParameterError("not an absolute URL (expected scheme://host/...): '" + std::string(url) + "'");
  out.scheme = Lower(url.substr(0, scheme_end));
  std::string_view rest = url.substr(scheme_end + 3);
  size_t fragment = rest.find('#');
  if (fragment != std::string_view::npos) rest = rest.substr(0, fragment);
  size_t authority_end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, authority_end);
  rest = authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  // host[:port], with IPv6 literals in brackets.
  size_t colon = std::string_view::npos;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return InvalidParameterError("malformed IPv6 host in URL");
    if (close + 1 < authority.size() && authority[close + 1] == ':') colon = close + 1;
  } else {
    colon = authority.rfind(':');
  }
  if (colon != std::string_view::npos) {
    out.host = std::string(authority.substr(0, colon));
    out.port = std::string(authority.substr(colon + 1));
  } else {
    out.host = std::string(authority);
  }
  if (out.host.empty()) return InvalidParameterError("URL has no host: '" + std::string(url) + "'");
  size_t q = rest.find('?');
  out.path = std::string(rest.substr(0, q));
  if (q != std::string_view::npos) out.query = std::string(rest.substr(q + 1));
  return out;
}

std::string HostHeaderValue(const ParsedUrl& url) {
  std::string host = Lower(url.host);
  bool default_port = url.port.empty() || (url.scheme == "https" && url.port == "443") ||
                      (url.scheme == "http" && url.port == "80");
  return default_port ? host : host + ":" + url.port;
}

std::string UriEncode(std::string_view s, bool encode_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (unsigned char c : s) {
    if (IsUnreserved(c) || (c == '/' && !encode_slash)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = HexValue(s[i + 1]), lo = HexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

std::string NormalizeUriPath(std::string_view path) {
  if (path.empty()) return "/";
  std::vector<std::string_view> kept;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view segment = path.substr(pos, slash - pos);
    if (segment == "..") {
      if (!kept.empty()) kept.pop_back();
    } else if (!segment.empty() && segment != ".") {
      kept.push_back(segment);
    }
    pos = slash + 1;
  }
  std::string out = "/";  // AWS paths are absolute; a relative one is made so
  for (size_t i = 0; i < kept.size(); ++i) {
    if (i > 0) out += '/';
    out += kept[i];
  }
  if (path.back() == '/' && !kept.empty()) out += '/';
  return out;
}

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
    std::string key = Lower(CanonicalHeaderValue(name));
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

std::string CanonicalRequest(std::string_view method, std::string_view canonical_uri,
                             std::string_view canonical_query, const CanonicalHeadersResult& headers,
                             std::string_view payload_hash) {
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

StatusOr<std::string> CanonicalRequest(const HttpRequest& request, std::string_view service,
                                       std::string_view payload_hash, std::string* signed_headers) {
  StatusOr<ParsedUrl> url = ParseUrl(request.url);
  if (!url.ok()) return url.status();
  CanonicalHeadersResult headers = CanonicalHeaders(request.headers);
  if (signed_headers != nullptr) *signed_headers = headers.signed_headers;
  std::string method = request.method;
  std::transform(method.begin(), method.end(), method.begin(),
                 [](char c) { return static_cast<char>(std::toupper(static_cast<unsigned char>(c))); });
  return CanonicalRequest(method, CanonicalUri(url->path, service), CanonicalQueryString(url->query), headers,
                          payload_hash);
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

std::string AuthorizationHeader(std::string_view access_key_id, std::string_view scope,
                                std::string_view signed_headers, std::string_view signature) {
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
