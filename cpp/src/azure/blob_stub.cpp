#include "azure/blob_stub.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <utility>

#include "common/base64.h"
#include "common/crypto.h"
#include "common/md5.h"
#include "common/strings.h"
#include "common/url.h"
#include "common/xml.h"
#include "mlflow_bridge/logging.h"

namespace mlflow_bridge::internal {
namespace {

constexpr size_t kMaxBlobNameLength = 1024;

// "Mon, 01 Jan 2024 00:00:00 GMT" (RFC 7231 IMF-fixdate), independent of the locale.
std::string HttpDate(std::chrono::system_clock::time_point t) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday], tm.tm_mday, kMonths[tm.tm_mon],
                tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string StripQuestionMark(std::string token) {
  std::string_view t = Trim(token);
  if (!t.empty() && t.front() == '?') t.remove_prefix(1);
  return std::string(t);
}

// The value of `name` in a query string ("a=1&sig=x"), raw (still percent-encoded); empty when absent.
std::string QueryValue(std::string_view query, std::string_view name) {
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string_view::npos) amp = query.size();
    std::string_view pair = query.substr(pos, amp - pos);
    size_t eq = pair.find('=');
    if (eq != std::string_view::npos && EqualsIgnoreCase(pair.substr(0, eq), name)) return std::string(pair.substr(eq + 1));
    pos = amp + 1;
  }
  return std::string();
}

bool IsLoopbackHost(std::string_view host) {
  return host == "127.0.0.1" || host == "localhost" || host == "[::1]" || host.starts_with("127.");
}

// The service's weight of a header-name character: 0 for the characters it skips ('-' and '\''), then
// punctuation, digits and letters (case-insensitive) in ascending order.
int StorageHeaderWeight(unsigned char c) {
  static constexpr std::string_view kPunctuation = "!#$%&*.^_`|~+";
  if (c == '-' || c == '\'') return 0;
  if (std::isalpha(c)) return 1000 + (std::tolower(c) - 'a');
  if (std::isdigit(c)) return 900 + (c - '0');
  if (size_t p = kPunctuation.find(static_cast<char>(c)); p != std::string_view::npos) return 100 + static_cast<int>(p);
  return 500 + c;  // not a token character; never in a header name we send
}

bool StorageHeaderLess(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  for (;;) {
    while (i < a.size() && StorageHeaderWeight(static_cast<unsigned char>(a[i])) == 0) ++i;
    while (j < b.size() && StorageHeaderWeight(static_cast<unsigned char>(b[j])) == 0) ++j;
    if (i == a.size() || j == b.size()) {
      if (i == a.size() && j == b.size()) return a < b;  // equal but for skipped characters
      return i == a.size();                              // a prefix sorts first
    }
    int wa = StorageHeaderWeight(static_cast<unsigned char>(a[i])),
        wb = StorageHeaderWeight(static_cast<unsigned char>(b[j]));
    if (wa != wb) return wa < wb;
    ++i;
    ++j;
  }
}

std::string ContentLengthForSigning(const HttpRequest& request) {
  std::string length;
  if (std::optional<std::string> h = FindHeader(request.headers, "Content-Length")) {
    length = *h;
  } else {
    const uint64_t n = request.body_file ? request.body_file->length : request.body.size();
    length = std::to_string(n);
  }
  return length == "0" ? std::string() : length;
}

// A metadata name must be a C# identifier (the service's rule); a value plain printable ASCII.
Status CheckMetadata(const std::map<std::string, std::string>& metadata) {
  for (const auto& [name, value] : metadata) {
    bool ok = !name.empty() && (std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_');
    for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
    if (!ok)
      return InvalidParameterError("blob metadata name '" + name +
                                   "' is not valid: use letters, digits and '_', not starting with a digit");
    for (unsigned char c : value)
      if (c < 0x20 || c > 0x7e)
        return InvalidParameterError("blob metadata '" + name + "' has a value with characters other than printable ASCII");
  }
  return OkStatus();
}

void AddMetadataHeaders(HttpRequest& request, const std::map<std::string, std::string>& metadata) {
  for (const auto& [name, value] : metadata) request.headers.emplace_back("x-ms-meta-" + name, value);
}

std::string AuthHint(std::string_view code, BlobAuthKind auth) {
  if (code == "KeyBasedAuthenticationNotPermitted")
    return "the storage account does not allow key-based authorization (account keys, and SAS tokens signed with "
           "them); use an identity-based datastore and an identity with a Storage Blob Data role";
  if (code == "AuthorizationPermissionMismatch")
    return "the identity may not write to this storage account: assign it both the Storage Blob Data Reader and "
           "the Storage Blob Data Contributor roles";
  switch (auth) {
    case BlobAuthKind::kSas:
      return "the SAS token may have expired or lack the permissions an upload needs (read, create, write); get a "
             "new one (the datastore's listSecrets gives one valid for an hour)";
    case BlobAuthKind::kSharedKey:
      return "check the account name and key (keys are rotated), and that the storage account allows Shared Key "
             "authorization";
    case BlobAuthKind::kBearer:
      return "the identity needs a data-plane role on the storage account (Storage Blob Data Contributor), and the "
             "account's firewall must let this machine in";
  }
  return std::string();
}

std::optional<std::chrono::milliseconds> RetryAfterOf(const HttpResponse& r, std::chrono::system_clock::time_point now) {
  for (std::string_view name : {"x-ms-retry-after-ms", "retry-after-ms"}) {
    if (std::optional<std::string> v = r.Header(name)) {
      std::string_view t = Trim(*v);
      if (!t.empty() && t.size() < 10 && std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return std::chrono::milliseconds(std::stoll(std::string(t)));
    }
  }
  if (std::optional<std::string> v = r.Header("Retry-After")) return ParseRetryAfter(*v, now);
  return std::nullopt;
}

}  // namespace

BlobAuth BlobAuth::Sas(std::string token) {
  BlobAuth a;
  a.kind = BlobAuthKind::kSas;
  a.sas_token = StripQuestionMark(std::move(token));
  return a;
}

BlobAuth BlobAuth::SharedKey(std::string account_key) {
  BlobAuth a;
  a.kind = BlobAuthKind::kSharedKey;
  a.account_key = std::string(Trim(account_key));
  return a;
}

BlobAuth BlobAuth::Bearer(std::shared_ptr<TokenCredential> credential) {
  BlobAuth a;
  a.kind = BlobAuthKind::kBearer;
  a.credential = std::move(credential);
  return a;
}

BlobBody BlobBody::FromString(std::string data) {
  BlobBody b;
  b.data = std::move(data);
  return b;
}

BlobBody BlobBody::FromFile(std::string path, uint64_t offset, uint64_t length) {
  BlobBody b;
  b.file = HttpRequest::FileBody{std::move(path), offset, length};
  return b;
}

std::chrono::milliseconds BlobUploadTimeout(uint64_t bytes) {
  return std::chrono::milliseconds(120'000 + static_cast<int64_t>(bytes / (128 * 1024)) * 1000);
}

std::string BlockListXml(const std::vector<std::string>& block_ids) {
  std::string xml = "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>";
  for (const std::string& id : block_ids) xml += "<Latest>" + XmlEscapeText(id) + "</Latest>";
  xml += "</BlockList>";
  return xml;
}

void SortStorageHeaderNames(std::vector<std::string>& names) {
  std::stable_sort(names.begin(), names.end(), StorageHeaderLess);
}

std::string SharedKeyStringToSign(const HttpRequest& request, std::string_view account) {
  auto header = [&](std::string_view name) -> std::string { return FindHeader(request.headers, name).value_or(""); };
  std::string s = request.method + "\n";
  s += header("Content-Encoding") + "\n";
  s += header("Content-Language") + "\n";
  s += ContentLengthForSigning(request) + "\n";
  s += header("Content-MD5") + "\n";
  s += header("Content-Type") + "\n";
  s += header("Date") + "\n";
  s += header("If-Modified-Since") + "\n";
  s += header("If-Match") + "\n";
  s += header("If-None-Match") + "\n";
  s += header("If-Unmodified-Since") + "\n";
  s += "\n";  // Range: sent as x-ms-range, so always empty here

  // x-ms-* headers; the last value of a repeated name
  std::map<std::string, std::string> ms;
  for (const auto& [k, v] : request.headers) {
    std::string name = ToLower(k);
    if (name.starts_with("x-ms-")) ms[name] = v;
  }
  std::vector<std::string> names;
  for (const auto& [k, v] : ms) names.push_back(k);
  SortStorageHeaderNames(names);
  for (const std::string& n : names) s += n + ":" + ms[n] + "\n";

  // Canonicalized resource: "/account/path" as sent, then the query parameters (the last of a repeated name).
  std::string path, query;
  if (StatusOr<ParsedUrl> u = ParseUrl(request.url); u.ok()) {
    path = u->path;
    query = u->query;
  }
  s += "/" + std::string(account) + path;
  std::map<std::string, std::string> params;  // raw name -> raw value, sorted by raw name
  for (size_t pos = 0; !query.empty() && pos <= query.size();) {
    size_t amp = query.find('&', pos);
    if (amp == std::string::npos) amp = query.size();
    std::string pair = query.substr(pos, amp - pos);
    size_t eq = pair.find('=');
    params[pair.substr(0, eq)] = eq == std::string::npos ? std::string() : pair.substr(eq + 1);
    pos = amp + 1;
  }
  for (const auto& [name, value] : params) s += "\n" + ToLower(name) + ":" + PercentDecode(value);
  return s;
}

Status SignSharedKey(HttpRequest& request, std::string_view account, std::string_view account_key_base64) {
  std::optional<std::string> key = Base64Decode(account_key_base64);
  if (!key || key->empty())
    return InvalidParameterError("the storage account key for '" + std::string(account) + "' is not base64");
  const std::string signature = Base64Encode(HmacSha256(*key, SharedKeyStringToSign(request, account)));
  request.headers.emplace_back("Authorization", "SharedKey " + std::string(account) + ":" + signature);
  return OkStatus();
}

Status BlobErrorStatus(const HttpResponse& r, std::string_view what, BlobAuthKind auth,
                       const std::vector<std::string_view>& secrets, std::chrono::system_clock::time_point now) {
  std::string code = std::string(Trim(r.Header("x-ms-error-code").value_or("")));
  if (code.empty()) code = std::string(Trim(XmlTagText(r.body, "Code").value_or("")));
  std::string message = XmlTagText(r.body, "Message").value_or("");
  message = std::string(Trim(message.substr(0, message.find('\n'))));  // "...\nRequestId:...\nTime:..."
  std::string detail = std::string(Trim(XmlTagText(r.body, "AuthenticationErrorDetail").value_or("")));
  if (code.empty() && message.empty()) message = Excerpt(Trim(r.body), 300);

  const long s = r.status_code;
  StatusCode sc;
  std::string hint;
  if (s == 404) {
    sc = StatusCode::kResourceDoesNotExist;
  } else if (s == 403) {
    sc = StatusCode::kPermissionDenied;
    hint = AuthHint(code, auth);
  } else if (s == 401) {
    sc = StatusCode::kUnauthenticated;
    hint = AuthHint(code, auth);
  } else if ((s == 409 && code == "BlobAlreadyExists") || s == 412) {
    sc = StatusCode::kResourceAlreadyExists;
  } else if (s == 408 || s == 429 || s == 500 || s == 502 || s == 503 || s == 504 || code == "ServerBusy" ||
             code == "OperationTimedOut") {
    sc = StatusCode::kTemporarilyUnavailable;
  } else if (s >= 400 && s < 500) {
    sc = StatusCode::kInvalidParameterValue;
    if (code == "Md5Mismatch") hint = "did the file change during the upload?";
  } else {
    sc = StatusCode::kInternalError;
  }

  std::string text = std::string(what) + ": ";
  if (!code.empty()) text += code + (message.empty() ? "" : ": ");
  text += message + " (HTTP " + std::to_string(s);
  if (std::optional<std::string> id = r.Header("x-ms-request-id"); id && !id->empty()) text += ", request id " + *id;
  text += ")";
  if (!detail.empty()) text += ": " + Excerpt(detail, 300);
  if (!hint.empty()) text += "; " + hint;
  Status status(sc, Redact(ScrubSecrets(std::move(text), secrets)));
  if (std::optional<std::chrono::milliseconds> ra = RetryAfterOf(r, now)) status.set_retry_after(*ra);
  return status;
}

BlobRestStub::BlobRestStub(std::shared_ptr<HttpTransport> transport, BlobServiceOptions options,
                           std::shared_ptr<Clock> clock)
    : transport_(std::move(transport)), options_(std::move(options)), clock_(clock ? std::move(clock) : SystemClock()) {
  if (options_.auth.kind == BlobAuthKind::kSas) options_.auth.sas_token = StripQuestionMark(options_.auth.sas_token);
  account_url_ = options_.account_url;
  while (!account_url_.empty() && account_url_.back() == '/') account_url_.pop_back();
  if (account_url_.empty())
    account_url_ = "https://" + options_.account + ".blob." +
                   (options_.endpoint_suffix.empty() ? std::string(kDefaultStorageSuffix) : options_.endpoint_suffix);

  const std::string& a = options_.account;
  bool account_ok = a.size() >= 3 && a.size() <= 24 &&
                    std::all_of(a.begin(), a.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); });
  StatusOr<ParsedUrl> url = ParseUrl(account_url_);
  if (!transport_) {
    config_ = InternalError("Azure Storage: no HTTP transport");
  } else if (a.empty() || (!account_ok && options_.account_url.empty())) {
    config_ =
        InvalidParameterError("Azure Storage account name '" + a + "' is not valid: 3 to 24 lower-case letters and digits");
  } else if (!url.ok() || (url->scheme != "https" && url->scheme != "http")) {
    config_ = InvalidParameterError("Azure Storage account URL '" + Redact(account_url_) + "' is not an http(s) URL");
  } else if (options_.auth.kind == BlobAuthKind::kSas && options_.auth.sas_token.empty()) {
    config_ = InvalidParameterError("Azure Storage account '" + a + "': the SAS token is empty");
  } else if (options_.auth.kind == BlobAuthKind::kSharedKey &&
             (options_.auth.account_key.empty() || !Base64Decode(options_.auth.account_key))) {
    config_ = InvalidParameterError("Azure Storage account '" + a + "': the account key is empty or not base64");
  } else if (options_.auth.kind == BlobAuthKind::kBearer && !options_.auth.credential) {
    config_ = InvalidParameterError("Azure Storage account '" + a + "': no token credential");
  } else if (options_.auth.kind == BlobAuthKind::kBearer && url->scheme != "https" && !IsLoopbackHost(url->host)) {
    config_ = InvalidParameterError("Azure Storage account URL '" + Redact(account_url_) +
                                    "': a bearer token is sent over https only");
  }
}

std::string BlobRestStub::BlobUrl(const std::string& container, const std::string& blob, const std::string& query) const {
  std::string url = account_url_ + "/" + UriEncode(container) + "/" + UriEncode(blob, /*encode_slash=*/false);
  if (!query.empty()) url += "?" + query;
  return url;
}

std::string BlobRestStub::What(std::string_view op, const std::string& container, const std::string& blob) const {
  return "Azure Storage " + std::string(op) + " " + options_.account + "/" + container + "/" + blob;
}

Status BlobRestStub::CheckNames(const std::string& container, const std::string& blob) const {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(config_);
  bool ok = container.size() >= 3 && container.size() <= 63 && container.front() != '-' && container.back() != '-' &&
            container.find("--") == std::string::npos;
  for (char c : container) ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
  if (!ok)
    return InvalidParameterError("Azure Storage container name '" + container +
                                 "' is not valid: 3 to 63 lower-case letters, digits and single hyphens");
  if (blob.empty() || blob.size() > kMaxBlobNameLength)
    return InvalidParameterError("Azure Storage blob name must be 1 to 1024 characters long; '" + Excerpt(blob, 80) +
                                 "' has " + std::to_string(blob.size()));
  for (unsigned char c : blob)
    if (c < 0x20 || c == 0x7f)
      return InvalidParameterError("Azure Storage blob name '" + Excerpt(blob, 200) + "' has a control character");
  for (size_t pos = 0; pos <= blob.size();) {
    size_t slash = blob.find('/', pos);
    if (slash == std::string::npos) slash = blob.size();
    std::string_view seg = std::string_view(blob).substr(pos, slash - pos);
    if (seg == "." || seg == "..")
      return InvalidParameterError("Azure Storage blob name '" + blob +
                                   "' has a '.' or '..' path segment, which HTTP clients rewrite");
    pos = slash + 1;
  }
  return OkStatus();
}

StatusOr<HttpResponse> BlobRestStub::Send(HttpRequest request, const std::string& what,
                                          const std::vector<long>& accept) const {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(config_);
  request.headers.emplace_back("x-ms-version", kBlobApiVersion);
  request.headers.emplace_back("x-ms-date", HttpDate(clock_->WallNow()));

  const BlobAuth& auth = options_.auth;
  std::vector<std::string> secrets;  // scrubbed from every message
  switch (auth.kind) {
    case BlobAuthKind::kSas: {
      request.url += (request.url.find('?') == std::string::npos ? "?" : "&") + auth.sas_token;
      secrets.push_back(auth.sas_token);
      std::string sig = QueryValue(auth.sas_token, "sig");
      secrets.push_back(sig);
      secrets.push_back(PercentDecode(sig));
      break;
    }
    case BlobAuthKind::kSharedKey: {
      MLFLOW_BRIDGE_RETURN_IF_ERROR(SignSharedKey(request, options_.account, auth.account_key));
      secrets.push_back(auth.account_key);
      std::string authorization = FindHeader(request.headers, "Authorization").value_or("");
      secrets.push_back(authorization.substr(authorization.rfind(':') + 1));
      break;
    }
    case BlobAuthKind::kBearer: {
      StatusOr<AccessToken> token = auth.credential->GetToken(kStorageScope);
      if (!token.ok()) {
        Status s = token.status().WithContext("cannot authorize " + what);
        s.set_final();  // the credential has retried already
        return s;
      }
      request.headers.emplace_back("Authorization", "Bearer " + token->token);
      secrets.push_back(token->token);
      break;
    }
  }
  std::vector<std::string_view> secret_views(secrets.begin(), secrets.end());

  StatusOr<HttpResponse> r = transport_->Send(request);
  if (!r.ok()) return r.status().WithMessage(Redact(ScrubSecrets(r.status().message(), secret_views)));
  if (r->ok() || std::find(accept.begin(), accept.end(), r->status_code) != accept.end()) return r;
  return BlobErrorStatus(*r, what, auth.kind, secret_views, clock_->WallNow());
}

StatusOr<std::optional<BlobProperties>> BlobRestStub::GetProperties(const std::string& container, const std::string& blob) {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckNames(container, blob));
  const std::string what = What("GetBlobProperties", container, blob);
  HttpRequest req;
  req.method = "HEAD";
  req.url = BlobUrl(container, blob);
  StatusOr<HttpResponse> r = Send(std::move(req), what, {404});
  if (!r.ok()) return r.status();
  if (r->status_code == 404) {
    const std::string code = r->Header("x-ms-error-code").value_or("");
    if (code.empty() || code == "BlobNotFound") return std::optional<BlobProperties>();
    return BlobErrorStatus(*r, what, options_.auth.kind, {}, clock_->WallNow());
  }
  BlobProperties p;
  if (std::optional<std::string> n = r->Header("Content-Length")) {
    std::string_view t = Trim(*n);
    if (!t.empty() && t.size() < 20 && std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; }))
      p.content_length = std::stoull(std::string(t));
  }
  p.content_md5 = std::string(Trim(r->Header("Content-MD5").value_or("")));
  p.etag = std::string(Trim(r->Header("ETag").value_or("")));
  for (const auto& [k, v] : r->headers) {
    std::string name = ToLower(k);
    if (name.starts_with("x-ms-meta-") && name.size() > 10) p.metadata[name.substr(10)] = std::string(Trim(v));
  }
  return std::optional<BlobProperties>(std::move(p));
}

Status BlobRestStub::PutBlob(const std::string& container, const std::string& blob, const BlobBody& body,
                             const PutBlobOptions& options) {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckNames(container, blob));
  MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckMetadata(options.metadata));
  HttpRequest req;
  req.method = "PUT";
  req.url = BlobUrl(container, blob);
  req.headers.emplace_back("x-ms-blob-type", "BlockBlob");
  req.headers.emplace_back("Content-Type", options.content_type.empty() ? "application/octet-stream" : options.content_type);
  if (!options.content_md5.empty()) req.headers.emplace_back("Content-MD5", options.content_md5);
  if (options.if_none_match) req.headers.emplace_back("If-None-Match", "*");
  AddMetadataHeaders(req, options.metadata);
  req.body = body.data;
  req.body_file = body.file;
  req.timeout = BlobUploadTimeout(body.size());
  StatusOr<HttpResponse> r = Send(std::move(req), What("PutBlob", container, blob));
  return r.ok() ? OkStatus() : r.status();
}

Status BlobRestStub::PutBlock(const std::string& container, const std::string& blob, const std::string& block_id,
                              const BlobBody& body, const std::string& content_md5) {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckNames(container, blob));
  std::optional<std::string> raw_id = Base64Decode(block_id);
  if (block_id.empty() || !raw_id || raw_id->size() > 64)
    return InvalidParameterError("Azure Storage block id '" + block_id +
                                 "' is not valid: base64 of at most 64 bytes, the same length for every block of a blob");
  HttpRequest req;
  req.method = "PUT";
  req.url = BlobUrl(container, blob, "comp=block&blockid=" + UriEncode(block_id));
  req.headers.emplace_back("Content-Type", "application/octet-stream");
  if (!content_md5.empty()) req.headers.emplace_back("Content-MD5", content_md5);
  req.body = body.data;
  req.body_file = body.file;
  req.timeout = BlobUploadTimeout(body.size());
  StatusOr<HttpResponse> r = Send(std::move(req), What("PutBlock", container, blob));
  return r.ok() ? OkStatus() : r.status();
}

Status BlobRestStub::PutBlockList(const std::string& container, const std::string& blob,
                                  const std::vector<std::string>& block_ids, const PutBlockListOptions& options) {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckNames(container, blob));
  HttpRequest req;
  req.method = "PUT";
  req.url = BlobUrl(container, blob, "comp=blocklist");
  req.body = BlockListXml(block_ids);
  req.headers.emplace_back("Content-Type", "application/xml");
  req.headers.emplace_back("Content-MD5", Base64Encode(Md5Digest(req.body)));
  if (options.if_none_match) req.headers.emplace_back("If-None-Match", "*");
  req.timeout = std::chrono::milliseconds(300'000);  // the service assembles the blob before it answers
  StatusOr<HttpResponse> r = Send(std::move(req), What("PutBlockList", container, blob));
  return r.ok() ? OkStatus() : r.status();
}

Status BlobRestStub::SetMetadata(const std::string& container, const std::string& blob,
                                 const std::map<std::string, std::string>& metadata) {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckNames(container, blob));
  MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckMetadata(metadata));
  HttpRequest req;
  req.method = "PUT";
  req.url = BlobUrl(container, blob, "comp=metadata");
  AddMetadataHeaders(req, metadata);
  StatusOr<HttpResponse> r = Send(std::move(req), What("SetBlobMetadata", container, blob));
  return r.ok() ? OkStatus() : r.status();
}

Status BlobRestStub::DeleteBlob(const std::string& container, const std::string& blob) {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckNames(container, blob));
  HttpRequest req;
  req.method = "DELETE";
  req.url = BlobUrl(container, blob);
  req.headers.emplace_back("x-ms-delete-snapshots", "include");
  StatusOr<HttpResponse> r = Send(std::move(req), What("DeleteBlob", container, blob), {404});
  return r.ok() ? OkStatus() : r.status();
}

}  // namespace mlflow_bridge::internal
