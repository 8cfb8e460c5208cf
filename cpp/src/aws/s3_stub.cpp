#include "aws/s3_stub.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string_view>
#include <system_error>
#include <vector>

#include <openssl/evp.h>

#include "aws/caller.h"
#include "aws/retry_policy.h"
#include "aws/xml.h"
#include "common/crypto.h"
#include "common/strings.h"
#include "common/url.h"
#include "mlflow_bridge/logging.h"

namespace mlflow_bridge::internal {
namespace {

constexpr uint64_t kMiB = S3UploadOptions::kMiB;
constexpr uint64_t kMaxPartSize = 5ULL * 1024 * kMiB;  // 5 GiB, S3's maximum part (and PutObject) size
constexpr size_t kMaxKeyBytes = 1024;
constexpr std::string_view kDefaultContentType = "application/x-gzip";

std::string S3Url(const std::string& bucket, const std::string& key) { return "s3://" + bucket + "/" + key; }

std::string FormatMiB(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", static_cast<double>(bytes) / static_cast<double>(kMiB));
  return buf;
}

// 120 s plus one second per 128 KiB: generous for slow links, bounded.
std::chrono::milliseconds UploadTimeout(uint64_t bytes) {
  return std::chrono::milliseconds(120'000 + static_cast<int64_t>(bytes / (128 * 1024)) * 1000);
}

std::string TaggingHeader(const std::map<std::string, std::string>& tags) {
  std::string out;
  for (const auto& [k, v] : tags) {
    if (!out.empty()) out += '&';
    out += UriEncode(k) + "=" + UriEncode(v);
  }
  return out;
}

Status ValidateKey(const std::string& key) {
  if (key.empty()) return InvalidParameterError("S3 object key must not be empty");
  if (key.size() > kMaxKeyBytes)
    return InvalidParameterError("S3 object key is " + std::to_string(key.size()) + " bytes long; at most " +
                                 std::to_string(kMaxKeyBytes) + " are allowed");
  size_t pos = 0;
  while (pos <= key.size()) {
    size_t slash = key.find('/', pos);
    if (slash == std::string::npos) slash = key.size();
    std::string_view seg = std::string_view(key).substr(pos, slash - pos);
    if (seg == "." || seg == "..")
      return InvalidParameterError("S3 object key '" + key +
                                   "' has a '.' or '..' path segment, which HTTP clients rewrite; choose another key");
    pos = slash + 1;
  }
  return OkStatus();
}

Status ValidateUploadOptions(const S3UploadOptions& opts) {
  if (opts.part_size < S3UploadOptions::kMinPartSize || opts.part_size > kMaxPartSize)
    return InvalidParameterError("S3 upload part_size " + std::to_string(opts.part_size) +
                                 " is out of range: parts must be 5 MiB (5242880 bytes) to 5 GiB");
  if (ToLower(opts.content_type).find("x-www-form-urlencoded") != std::string::npos)
    return InvalidParameterError("S3 upload content_type must not be '" + opts.content_type +
                                 "' (S3 stand-ins parse such bodies as forms); use e.g. application/x-gzip or "
                                 "application/octet-stream");
  if (opts.tags.size() > 10)
    return InvalidParameterError("S3 objects take at most 10 tags; " + std::to_string(opts.tags.size()) + " given");
  // S3's tag alphabet: letters, digits and spaces (any in UTF-8) and + - = . _ : / @.
  auto valid_chars = [](const std::string& s) {
    for (unsigned char c : s)
      if (c < 0x80 && !std::isalnum(c) && c != ' ' &&
          std::string_view("+-=._:/@").find(static_cast<char>(c)) == std::string_view::npos)
        return false;
    return true;
  };
  for (const auto& [k, v] : opts.tags) {
    if (k.empty() || k.size() > 128)
      return InvalidParameterError("S3 object tag key '" + k + "' must be 1 to 128 characters long");
    if (v.size() > 256) return InvalidParameterError("S3 object tag '" + k + "' has a value longer than 256 characters");
    if (!valid_chars(k) || !valid_chars(v))
      return InvalidParameterError("S3 object tag '" + k + "=" + v +
                                   "' has characters S3 does not allow: use letters, digits, spaces and + - = . _ : / @");
  }
  return OkStatus();
}

// Size of a regular, readable file, or INVALID_PARAMETER_VALUE naming it.
StatusOr<uint64_t> ReadableFileSize(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) return InvalidParameterError("cannot upload '" + path + "' to S3: the file does not exist");
  if (!fs::is_regular_file(st)) return InvalidParameterError("cannot upload '" + path + "' to S3: not a regular file");
  uint64_t size = fs::file_size(path, ec);
  if (ec) return InvalidParameterError("cannot upload '" + path + "' to S3: cannot read its size: " + ec.message());
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidParameterError("cannot upload '" + path + "' to S3: the file cannot be opened for reading");
  return size;
}

// Reads exactly buffer.size() bytes.
Status ReadExactly(std::ifstream& in, std::string& buffer, const std::string& path) {
  if (buffer.empty()) return OkStatus();
  in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
  if (static_cast<size_t>(in.gcount()) != buffer.size())
    return InvalidParameterError("cannot upload '" + path +
                                 "' to S3: reading the file failed (did it change while "
                                 "being uploaded?)");
  return OkStatus();
}

// Logs every ~10% of a long upload.
class ProgressLog {
 public:
  ProgressLog(std::string what, uint64_t total) : what_(std::move(what)), total_(total) {}
  void Report(uint64_t sent) {
    if (total_ == 0) return;
    int pct = static_cast<int>(sent * 100 / total_);
    if (pct < next_pct_ && sent < total_) return;
    LogInfo(what_ + ": " + std::to_string(pct) + "% (" + FormatMiB(sent) + " of " + FormatMiB(total_) + " MiB) sent");
    next_pct_ = (pct / 10 + 1) * 10;
  }

 private:
  std::string what_;
  uint64_t total_;
  int next_pct_ = 10;
};

}  // namespace

std::optional<std::string> MultipartETag(const std::vector<std::string>& part_etags) {
  if (part_etags.empty()) return std::nullopt;
  std::string digests;
  for (std::string e : part_etags) {
    if (e.size() >= 2 && e.front() == '"' && e.back() == '"') e = e.substr(1, e.size() - 2);
    if (e.size() != 32) return std::nullopt;
    for (size_t i = 0; i < 32; i += 2) {
      int hi = std::isxdigit(static_cast<unsigned char>(e[i])) ? std::stoi(e.substr(i, 1), nullptr, 16) : -1;
      int lo = std::isxdigit(static_cast<unsigned char>(e[i + 1])) ? std::stoi(e.substr(i + 1, 1), nullptr, 16) : -1;
      if (hi < 0 || lo < 0) return std::nullopt;
      digests.push_back(static_cast<char>(hi * 16 + lo));
    }
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(digests.data(), digests.size(), md, &n, EVP_md5(), nullptr) != 1) return std::nullopt;
  return "\"" + HexEncode(std::string_view(reinterpret_cast<const char*>(md), n)) + "-" + std::to_string(part_etags.size()) +
         "\"";
}

S3Client::S3Client(std::shared_ptr<HttpTransport> transport, std::shared_ptr<AwsCredentialsProvider> credentials,
                   std::shared_ptr<Clock> clock, std::string region, std::string endpoint_override, S3ClientOptions options)
    : complete_(transport && credentials && clock),
      credentials_(credentials),
      caller_(std::move(transport), std::move(credentials), clock),
      retry_(std::move(clock), options.retry, options.backoff),
      region_(std::move(region)) {
  endpoint_ = ResolveAwsEndpoint("s3", "s3", region_, endpoint_override);
  // Virtual-hosted style only on AWS's own regional endpoint; anything
  // configured (override, AWS_ENDPOINT_URL[_S3]) is addressed path style.
  const std::string prefix = "https://s3." + region_ + ".";
  bool configured = !endpoint_override.empty();
  if (!configured && endpoint_.starts_with(prefix)) {
    std::string rest = endpoint_.substr(prefix.size());  // "amazonaws.com"
    if (!rest.empty() && rest.find_first_of("/:?#@") == std::string::npos && rest.starts_with("amazonaws.")) {
      scheme_ = "https";
      virtual_host_ = region_ == "us-east-1" ? "s3." + rest : "s3." + region_ + "." + rest;
    }
  }
}

Status S3Client::CheckReady() const {
  if (!complete_) return InternalError("S3 client built without a transport, credentials or clock");
  if (!IsValidRegionName(region_))
    return InvalidParameterError("'" + region_ + "' is not an AWS region name (expected e.g. us-west-2)");
  return OkStatus();
}

bool S3Client::IsValidBucketName(const std::string& b) {
  if (b.size() < 3 || b.size() > 63) return false;
  for (char c : b)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-')) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(b.front()) || !alnum(b.back())) return false;
  if (b.find("..") != std::string::npos || b.find(".-") != std::string::npos || b.find("-.") != std::string::npos)
    return false;
  // Not formatted as an IP address (four dot-separated numbers).
  int dots = 0;
  bool digits_only = true;
  for (char c : b) {
    if (c == '.') ++dots;
    else if (!(c >= '0' && c <= '9')) digits_only = false;
  }
  if (digits_only && dots == 3) return false;
  if (b.starts_with("xn--") || b.starts_with("sthree-") || b.ends_with("-s3alias") || b.ends_with("--ol-s3")) return false;
  return true;
}

namespace {
Status BucketNameError(const std::string& bucket) {
  return InvalidParameterError("'" + bucket +
                               "' is not a valid S3 bucket name: use 3 to 63 lowercase letters, digits, dots and "
                               "hyphens, starting and ending with a letter or digit");
}
}  // namespace

Status S3Client::CheckObject(const std::string& bucket, const std::string& key) const {
  if (!IsValidBucketName(bucket)) return BucketNameError(bucket);
  MLFLOW_BRIDGE_RETURN_IF_ERROR(ValidateKey(key));
  return CheckReady();
}

std::pair<AwsService, std::string> S3Client::Target(const std::string& bucket, const std::string& key,
                                                    const std::string& query) const {
  std::string path = key.empty() ? std::string() : "/" + UriEncode(key, /*encode_slash=*/false);
  AwsService service{"s3", endpoint_, region_};
  if (!virtual_host_.empty() && bucket.find('.') == std::string::npos) {
    service.endpoint = scheme_ + "://" + bucket + "." + virtual_host_;
    if (path.empty()) path = "/";
  } else {
    path = "/" + UriEncode(bucket) + path;
  }
  if (!query.empty()) path += "?" + query;
  return {std::move(service), std::move(path)};
}

std::string S3Client::ObjectUrl(const std::string& bucket, const std::string& key, const std::string& query) const {
  auto [service, path] = Target(bucket, key, query);
  return service.endpoint + path;
}

AwsTryAgainRule S3TryAgain(Idempotency idempotency) {
  AwsTryAgainRule rule;
  rule.not_processed_codes = {"InternalError", "ServiceUnavailable"};
  rule.not_processed_statuses = {503, 429};
  if (idempotency == Idempotency::kIdempotent) rule.transient_statuses = {500, 502, 504};
  return rule;
}

StatusOr<HttpResponse> S3Client::SendOnce(const AwsService& service, const HttpRequest& request, const std::string& what,
                                          const AwsCallOptions& options, AwsCallFailure* failure) const {
  return caller_.RestCall(service, request, what, options, failure);
}

StatusOr<HttpResponse> S3Client::Send(const std::string& bucket, const std::string& key, HttpRequest request,
                                      Idempotency idempotency, const std::string& what, AwsCallOptions options,
                                      AwsCallFailure* failure) const {
  auto [service, path] = Target(bucket, key, request.url);
  request.url = std::move(path);
  options.s3_body_hash = true;
  options.try_again = S3TryAgain(idempotency);
  return retry_.Call<HttpResponse>(
      idempotency, what, [&] { return SendOnce(service, request, what, options, failure); },
      request.timeout.value_or(std::chrono::milliseconds(0)));
}

Status S3Client::EnsureBucket(const std::string& bucket) {
  if (!IsValidBucketName(bucket)) return BucketNameError(bucket);
  MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckReady());

  HttpRequest head;
  head.method = "HEAD";
  const std::string what = "S3 HeadBucket " + bucket;
  AwsCallOptions head_options;
  head_options.accept_statuses = {404, 403, 301, 400};
  StatusOr<HttpResponse> got = Send(bucket, "", std::move(head), Idempotency::kIdempotent, what, head_options);
  if (!got.ok()) return got.status();
  const HttpResponse& r = *got;
  std::optional<std::string> bucket_region = r.Header("x-amz-bucket-region");
  if (r.ok()) return OkStatus();
  if (r.status_code == 403)
    return PermissionDeniedError(
        "S3 bucket '" + bucket +
        "' exists but is not accessible: it belongs to another AWS account, or the "
        "credentials (" +
        credentials_->Describe() +
        ") are not valid or lack access to it (s3:ListBucket); choose another bucket name, or check the "
        "credentials and their permissions");
  if ((r.status_code == 301 || r.status_code == 400) && bucket_region && *bucket_region != region_)
    return InvalidParameterError("S3 bucket '" + bucket + "' is in region " + *bucket_region + ", not " + region_ +
                                 "; use a bucket in " + region_ + " or deploy to " + *bucket_region);
  if (r.status_code != 404) return AwsErrorStatus(r, what);

  LogInfo("Creating S3 bucket '" + bucket + "' in " + region_);
  HttpRequest put;
  put.method = "PUT";
  if (region_ != "us-east-1") {
    put.headers.emplace_back("Content-Type", "application/xml");
    put.body = "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>" +
               XmlEscapeText(region_) + "</LocationConstraint></CreateBucketConfiguration>";
  }
  const std::string create_what = "S3 CreateBucket " + bucket;
  AwsCallOptions create_options;
  create_options.accept_statuses = {409};
  // Idempotent in effect: a retry of a create that went through finds the
  // bucket already ours, which is success.
  StatusOr<HttpResponse> created = Send(bucket, "", std::move(put), Idempotency::kIdempotent, create_what, create_options);
  if (!created.ok()) return created.status();
  if (created->ok()) return OkStatus();
  std::string code = XmlTagText(created->body, "Code").value_or("");
  if (code == "BucketAlreadyOwnedByYou") return OkStatus();
  if (code == "BucketAlreadyExists")
    return AlreadyExistsError("S3 bucket name '" + bucket +
                              "' is taken by another AWS account (bucket names are global); choose another bucket");
  return AwsErrorStatus(*created, create_what);
}

StatusOr<std::string> S3Client::UploadFile(const std::string& bucket, const std::string& key, const std::string& path,
                                           const S3UploadOptions& opts_in) {
  if (!IsValidBucketName(bucket)) return BucketNameError(bucket);
  MLFLOW_BRIDGE_RETURN_IF_ERROR(ValidateKey(key));
  S3UploadOptions opts = opts_in;
  if (opts.content_type.empty()) opts.content_type = std::string(kDefaultContentType);
  MLFLOW_BRIDGE_RETURN_IF_ERROR(ValidateUploadOptions(opts));
  MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckReady());
  StatusOr<uint64_t> size = ReadableFileSize(path);
  if (!size.ok()) return size.status();

  bool multipart = *size > 0 && (*size >= opts.multipart_threshold || *size > kMaxPartSize);
  Status s = multipart ? MultipartUpload(bucket, key, path, *size, opts) : PutObject(bucket, key, path, *size, opts);
  if (!s.ok()) return s;
  return S3Url(bucket, key);
}

Status S3Client::PutObject(const std::string& bucket, const std::string& key, const std::string& path, uint64_t size,
                           const S3UploadOptions& opts) {
  std::string body(size, '\0');
  {
    std::ifstream in(path, std::ios::binary);
    if (!in) return InvalidParameterError("cannot upload '" + path + "' to S3: the file cannot be opened for reading");
    MLFLOW_BRIDGE_RETURN_IF_ERROR(ReadExactly(in, body, path));
  }
  MLFLOW_BRIDGE_RETURN_IF_ERROR(Put(bucket, key, std::move(body), opts));
  if (opts.progress) opts.progress(size, size);
  return OkStatus();
}

Status S3Client::Put(const std::string& bucket, const std::string& key, std::string body, const S3UploadOptions& opts) {
  HttpRequest req;
  req.method = "PUT";
  req.headers.emplace_back("Content-Type", opts.content_type);
  if (!opts.tags.empty()) req.headers.emplace_back("x-amz-tagging", TaggingHeader(opts.tags));
  req.timeout = UploadTimeout(body.size());
  req.body = std::move(body);
  StatusOr<HttpResponse> r =
      Send(bucket, key, std::move(req), Idempotency::kIdempotent, "S3 PutObject " + S3Url(bucket, key));
  return r.ok() ? OkStatus() : r.status();
}

StatusOr<std::string> S3Client::PutBytes(const std::string& bucket, const std::string& key, std::string body,
                                         const std::string& content_type) {
  if (!IsValidBucketName(bucket)) return BucketNameError(bucket);
  MLFLOW_BRIDGE_RETURN_IF_ERROR(ValidateKey(key));
  S3UploadOptions opts;
  opts.content_type = content_type.empty() ? std::string(kDefaultContentType) : content_type;
  MLFLOW_BRIDGE_RETURN_IF_ERROR(ValidateUploadOptions(opts));
  MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckReady());
  MLFLOW_BRIDGE_RETURN_IF_ERROR(Put(bucket, key, std::move(body), opts));
  return S3Url(bucket, key);
}

StatusOr<std::optional<std::string>> S3Client::GetObject(const std::string& bucket, const std::string& key) {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckObject(bucket, key));
  HttpRequest req;
  req.method = "GET";
  AwsCallOptions options;
  options.accept_statuses = {404};  // NoSuchKey: not (yet) there
  StatusOr<HttpResponse> r =
      Send(bucket, key, std::move(req), Idempotency::kIdempotent, "S3 GetObject " + S3Url(bucket, key), options);
  if (!r.ok()) return r.status();
  if (r->status_code == 404) return std::optional<std::string>();
  return std::optional<std::string>(std::move(r->body));
}

Status S3Client::MultipartUpload(const std::string& bucket, const std::string& key, const std::string& path, uint64_t size,
                                 const S3UploadOptions& opts) {
  uint64_t part_size = opts.part_size;
  const uint64_t max_parts = S3UploadOptions::kMaxParts;
  if ((size + part_size - 1) / part_size > max_parts) {
    uint64_t needed = (size + max_parts - 1) / max_parts;
    part_size = (needed + kMiB - 1) / kMiB * kMiB;
    if (part_size > kMaxPartSize)
      return InvalidParameterError("cannot upload '" + path + "' to S3: " + FormatMiB(size) +
                                   " MiB is more than S3's maximum object size");
    LogInfo("S3 upload of '" + path + "': part size raised to " + FormatMiB(part_size) + " MiB to stay within 10,000 parts");
  }
  const uint64_t parts = (size + part_size - 1) / part_size;
  LogInfo("Uploading '" + path + "' (" + FormatMiB(size) + " MiB) to " + S3Url(bucket, key) + " in " +
          std::to_string(parts) + (parts == 1 ? " part" : " parts"));

  // CreateMultipartUpload
  HttpRequest create;
  create.method = "POST";
  create.url = "uploads";
  create.headers.emplace_back("Content-Type", opts.content_type);
  if (!opts.tags.empty()) create.headers.emplace_back("x-amz-tagging", TaggingHeader(opts.tags));
  const std::string create_what = "S3 CreateMultipartUpload " + S3Url(bucket, key);
  StatusOr<HttpResponse> created = Send(bucket, key, std::move(create), Idempotency::kNonIdempotent, create_what);
  if (!created.ok()) return created.status();
  std::string upload_id = XmlTagText(created->body, "UploadId").value_or("");
  if (upload_id.empty())
    return InternalError(create_what + ": the reply has no UploadId: " + Redact(created->body.substr(0, 300)));

  std::vector<std::string> etags;
  Status s = UploadParts(bucket, key, path, size, part_size, upload_id, opts, &etags);
  bool outcome_unknown = false;
  if (s.ok()) {
    HttpRequest complete;
    complete.method = "POST";
    complete.url = "uploadId=" + UriEncode(upload_id);
    complete.headers.emplace_back("Content-Type", "application/xml");
    complete.body = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
    for (size_t i = 0; i < etags.size(); ++i)
      complete.body +=
          "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>" + XmlEscapeText(etags[i]) + "</ETag></Part>";
    complete.body += "</CompleteMultipartUpload>";
    // S3 assembles the object before answering: allow it time.
    complete.timeout = std::chrono::milliseconds(300'000);
    AwsCallOptions options;
    options.error_in_2xx = true;
    AwsCallFailure failure;
    StatusOr<HttpResponse> done = Send(bucket, key, std::move(complete), Idempotency::kNonIdempotent,
                                       "S3 CompleteMultipartUpload " + S3Url(bucket, key), options, &failure);
    if (done.ok()) return OkStatus();
    s = done.status();
    outcome_unknown = failure.no_reply;
  }
  // Leave nothing behind (parts are billed until aborted); report the original error.
  bool gone = false;
  Status aborted = AbortMultipartUpload(bucket, key, upload_id, &gone);
  if (!aborted.ok()) {
    LogWarning("could not abort the failed multipart upload of " + S3Url(bucket, key) + ": " + aborted.ToString());
    return Status(s.code(),
                  s.message() + "; aborting the multipart upload (id " + upload_id + ") failed too: " + aborted.message());
  }
  // CompleteMultipartUpload got no reply and the upload is gone: S3 may have
  // completed it. If the object is exactly what we uploaded, that is success.
  if (outcome_unknown && gone) {
    std::optional<std::string> expected = MultipartETag(etags);
    if (expected && ObjectHasETag(bucket, key, *expected)) {
      LogInfo("S3 CompleteMultipartUpload of " + S3Url(bucket, key) + " lost its reply, but the object is complete (ETag " +
              *expected + ")");
      return OkStatus();
    }
  }
  return s;
}

Status S3Client::UploadParts(const std::string& bucket, const std::string& key, const std::string& path, uint64_t size,
                             uint64_t part_size, const std::string& upload_id, const S3UploadOptions& opts,
                             std::vector<std::string>* etags) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidParameterError("cannot upload '" + path + "' to S3: the file cannot be opened for reading");
  const std::string url = S3Url(bucket, key);
  ProgressLog log("S3 upload to " + url, size);
  uint64_t sent = 0;
  for (int part = 1; sent < size; ++part) {
    const uint64_t n = std::min(part_size, size - sent);
    HttpRequest req;  // one part in memory at a time
    req.method = "PUT";
    req.url = "partNumber=" + std::to_string(part) + "&uploadId=" + UriEncode(upload_id);
    req.headers.emplace_back("Content-Type", "application/octet-stream");
    req.timeout = UploadTimeout(n);
    req.body.resize(n);
    MLFLOW_BRIDGE_RETURN_IF_ERROR(ReadExactly(in, req.body, path));
    const std::string what = "S3 UploadPart " + std::to_string(part) + " of " + url;
    StatusOr<HttpResponse> r = Send(bucket, key, std::move(req), Idempotency::kIdempotent, what);
    if (!r.ok()) return r.status();
    std::string etag = r->Header("ETag").value_or("");
    if (etag.empty()) return InternalError(what + ": the reply has no ETag header");
    if (etag.front() != '"') etag = "\"" + etag + "\"";
    etags->push_back(std::move(etag));
    sent += n;
    if (opts.progress) opts.progress(sent, size);
    log.Report(sent);
  }
  return OkStatus();
}

Status S3Client::AbortMultipartUpload(const std::string& bucket, const std::string& key, const std::string& upload_id,
                                      bool* gone) {
  HttpRequest req;
  req.method = "DELETE";
  req.url = "uploadId=" + UriEncode(upload_id);
  AwsCallOptions options;
  options.accept_statuses = {404};  // already gone
  StatusOr<HttpResponse> r =
      Send(bucket, key, std::move(req), Idempotency::kIdempotent, "S3 AbortMultipartUpload " + S3Url(bucket, key), options);
  if (!r.ok()) return r.status();
  *gone = r->status_code == 404;
  return OkStatus();
}

bool S3Client::ObjectHasETag(const std::string& bucket, const std::string& key, const std::string& etag) {
  HttpRequest req;
  req.method = "HEAD";
  StatusOr<HttpResponse> r =
      Send(bucket, key, std::move(req), Idempotency::kIdempotent, "S3 HeadObject " + S3Url(bucket, key));
  return r.ok() && r->Header("ETag").value_or("") == etag;
}

Status S3Client::DeleteObject(const std::string& bucket, const std::string& key) {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckObject(bucket, key));
  HttpRequest req;
  req.method = "DELETE";
  AwsCallOptions options;
  options.accept_statuses = {404};  // NoSuchKey / NoSuchBucket: gone already
  StatusOr<HttpResponse> r =
      Send(bucket, key, std::move(req), Idempotency::kIdempotent, "S3 DeleteObject " + S3Url(bucket, key), options);
  return r.ok() ? OkStatus() : r.status();
}

StatusOr<std::pair<std::string, std::string>> S3Client::ParseS3Url(const std::string& url) {
  auto bad = [&](std::string_view why) {
    return InvalidParameterError("'" + Redact(url) + "' is not an S3 object URL (" + std::string(why) +
                                 "); expected s3://bucket/key or https://bucket.s3.region.amazonaws.com/key");
  };
  std::string bucket, key;
  if (ToLower(url.substr(0, 5)) == "s3://") {
    std::string rest = url.substr(5);
    size_t slash = rest.find('/');
    bucket = rest.substr(0, slash);
    if (slash != std::string::npos) key = rest.substr(slash + 1);
  } else {
    std::string scheme = ToLower(url.substr(0, url.find(':')));
    if (scheme != "https" && scheme != "http") return bad("unknown scheme");
    StatusOr<ParsedUrl> parsed = ParseUrl(url);
    if (!parsed.ok()) return bad("malformed URL");
    std::string host = ToLower(parsed->host);
    if (!host.ends_with(".amazonaws.com") && !host.ends_with(".amazonaws.com.cn")) return bad("not an S3 host");
    std::vector<std::string> labels;
    for (size_t pos = 0;;) {
      size_t dot = host.find('.', pos);
      labels.push_back(host.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos));
      if (dot == std::string::npos) break;
      pos = dot + 1;
    }
    size_t s3 = labels.size();
    for (size_t i = 0; i < labels.size(); ++i) {
      if (labels[i] == "s3" || (labels[i]).starts_with("s3-")) {
        s3 = i;
        break;
      }
    }
    if (s3 == labels.size()) return bad("not an S3 host");
    std::string path = PercentDecode(parsed->path);
    if (!path.empty() && path.front() == '/') path.erase(0, 1);
    if (s3 == 0) {  // path style: s3.region.amazonaws.com/bucket/key
      size_t slash = path.find('/');
      bucket = path.substr(0, slash);
      if (slash != std::string::npos) key = path.substr(slash + 1);
    } else {  // virtual-hosted: bucket.s3.region.amazonaws.com/key
      for (size_t i = 0; i < s3; ++i) bucket += (i ? "." : "") + labels[i];
      key = path;
    }
  }
  if (bucket.empty()) return bad("no bucket");
  if (key.empty()) return bad("no object key");
  return std::make_pair(bucket, key);
}

}  // namespace mlflow_bridge::internal
