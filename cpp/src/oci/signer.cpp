#include "oci/signer.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <ctime>
#include <fstream>
#include <utility>

#include "common/base64.h"
#include "common/strings.h"
#include "common/url.h"

namespace mlflow_bridge::internal {
namespace {

constexpr std::string_view kCannotSign = "cannot sign the OCI request";

void RemoveHeader(HttpHeaders& headers, std::string_view name) {
  headers.erase(
      std::remove_if(headers.begin(), headers.end(), [&](const auto& h) { return EqualsIgnoreCase(h.first, name); }),
      headers.end());
}

void SetHeader(HttpHeaders& headers, std::string_view name, std::string value) {
  RemoveHeader(headers, name);
  headers.emplace_back(std::string(name), std::move(value));
}

bool IsBodyMethod(std::string_view lower_method) {
  return lower_method == "post" || lower_method == "put" || lower_method == "patch";
}

// RFC 3986 section 5.2.4: what libcurl (without CURLOPT_PATH_AS_IS) and the SDK's urllib3 send for a path
// with "." or ".." segments. Empty segments are kept.
std::string RemoveDotSegments(std::string_view in) {
  std::string out;
  auto drop_last_segment = [&out] {
    const size_t slash = out.rfind('/');
    out.erase(slash == std::string::npos ? 0 : slash);
  };
  while (!in.empty()) {
    if (in.rfind("../", 0) == 0) {
      in.remove_prefix(3);
    } else if (in.rfind("./", 0) == 0) {
      in.remove_prefix(2);
    } else if (in.rfind("/./", 0) == 0) {
      in.remove_prefix(2);
    } else if (in == "/.") {
      in = "/";
    } else if (in.rfind("/../", 0) == 0) {
      in.remove_prefix(3);
      drop_last_segment();
    } else if (in == "/..") {
      in = "/";
      drop_last_segment();
    } else if (in == "." || in == "..") {
      in = {};
    } else {
      const size_t next = in.find('/', in.front() == '/' ? 1 : 0);
      const size_t n = next == std::string_view::npos ? in.size() : next;
      out.append(in.substr(0, n));
      in.remove_prefix(n);
    }
  }
  return out;
}

}  // namespace

std::string FormatHttpDate(std::chrono::system_clock::time_point t) {
  static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday], tm.tm_mday, kMonths[tm.tm_mon],
                tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

StatusOr<std::string> OciContentSha256(const HttpRequest& request) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) return InternalError("SHA-256 failed (OpenSSL)");
  if (request.body_file) {
    const auto& f = *request.body_file;
    std::ifstream in(f.path, std::ios::binary);
    if (in) in.seekg(static_cast<std::streamoff>(f.offset));
    if (!in) return InvalidParameterError(std::string(kCannotSign) + ": cannot read the body file " + f.path);
    std::string chunk(1 << 16, '\0');
    uint64_t left = f.length;
    while (left > 0) {
      const auto want = static_cast<std::streamsize>(std::min<uint64_t>(left, chunk.size()));
      in.read(chunk.data(), want);
      if (in.gcount() != want)
        return InvalidParameterError(std::string(kCannotSign) + ": the body file " + f.path + " is shorter than " +
                                     std::to_string(f.offset + f.length) + " bytes");
      EVP_DigestUpdate(ctx.get(), chunk.data(), static_cast<size_t>(want));
      left -= static_cast<uint64_t>(want);
    }
  } else {
    EVP_DigestUpdate(ctx.get(), request.body.data(), request.body.size());
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(ctx.get(), md, &n) != 1) return InternalError("SHA-256 failed (OpenSSL)");
  return Base64Encode(std::string_view(reinterpret_cast<const char*>(md), n));
}

StatusOr<std::vector<std::string>> OciSignedHeaderNames(std::string_view method, const OciSignOptions& options) {
  const std::string m = ToLower(method);
  if (m != "get" && m != "head" && m != "delete" && !IsBodyMethod(m))
    return InvalidParameterError(std::string(kCannotSign) + ": OCI signs GET, HEAD, DELETE, PUT, POST and PATCH, not '" +
                                 std::string(method) + "'");
  std::vector<std::string> names = {"date", "(request-target)", "host"};
  if (IsBodyMethod(m) && options.sign_body)
    names.insert(names.end(), {"content-length", "content-type", "x-content-sha256"});
  return names;
}

StatusOr<std::string> OciSigningString(const HttpRequest& request, const std::vector<std::string>& names) {
  StatusOr<ParsedUrl> url = ParseUrl(request.url);
  if (!url.ok()) return url.status().WithContext(kCannotSign);
  std::string out;
  for (const std::string& name : names) {
    if (!out.empty()) out += '\n';
    if (name == "(request-target)") {
      const std::string path = RemoveDotSegments(url->path);
      out += "(request-target): " + ToLower(request.method) + " " + (path.empty() ? "/" : path);
      if (!url->query.empty()) out += "?" + url->query;
      continue;
    }
    std::optional<std::string> value = FindHeader(request.headers, name);
    if (!value) return InvalidParameterError(std::string(kCannotSign) + ": the header '" + name + "' is missing");
    out += name + ": " + *value;
  }
  return out;
}

std::string OciAuthorizationHeader(std::string_view key_id, const std::vector<std::string>& names,
                                   std::string_view signature) {
  std::string headers;
  for (const std::string& n : names) headers += (headers.empty() ? "" : " ") + n;
  std::string out = "Signature algorithm=\"rsa-sha256\",headers=\"" + headers + "\",keyId=\"";
  out.append(key_id).append("\",signature=\"").append(signature).append("\",version=\"1\"");
  return out;
}

Status SignOciRequest(HttpRequest& request, const OciSigningKey& key, std::chrono::system_clock::time_point now,
                      const OciSignOptions& options) {
  if (key.key_id.empty() || !key.private_key)
    return UnauthenticatedError(std::string(kCannotSign) + ": the credentials have no key id or no private key");
  StatusOr<std::vector<std::string>> names = OciSignedHeaderNames(request.method, options);
  if (!names.ok()) return names.status();
  StatusOr<ParsedUrl> url = ParseUrl(request.url);
  if (!url.ok()) return url.status().WithContext(kCannotSign);

  SetHeader(request.headers, "Date", FormatHttpDate(now));
  SetHeader(request.headers, "Host", ToLower(url->host) + (url->port.empty() ? "" : ":" + url->port));
  const bool body_signed = names->size() > 3;
  if (body_signed) {
    if (!FindHeader(request.headers, "Content-Type")) request.headers.emplace_back("Content-Type", "application/json");
    const uint64_t length = request.body_file ? request.body_file->length : request.body.size();
    SetHeader(request.headers, "Content-Length", std::to_string(length));
    if (!FindHeader(request.headers, "x-content-sha256")) {
      StatusOr<std::string> sha = OciContentSha256(request);
      if (!sha.ok()) return sha.status();
      request.headers.emplace_back("x-content-sha256", *std::move(sha));
    }
  } else {
    // The body is not signed: the SDKs drop a Transfer-Encoding the HTTP library may have added.
    RemoveHeader(request.headers, "Transfer-Encoding");
  }

  StatusOr<std::string> signing_string = OciSigningString(request, *names);
  if (!signing_string.ok()) return signing_string.status();
  StatusOr<std::string> signature = key.private_key->SignSha256(*signing_string);
  if (!signature.ok()) return signature.status().WithContext(kCannotSign);
  SetHeader(request.headers, "Authorization", OciAuthorizationHeader(key.key_id, *names, Base64Encode(*signature)));
  return OkStatus();
}

}  // namespace mlflow_bridge::internal
