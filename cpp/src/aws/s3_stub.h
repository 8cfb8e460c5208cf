// A small S3 client for what the sagemaker-endpoints target needs: make sure
// the model bucket exists, upload a model archive (PutObject, or a multipart
// upload streamed from the file one part at a time), delete it again.
//
// Every request is one attempt through AwsCaller (RestCall, SendOnce): signed with SigV4 (service
// "s3", x-amz-content-sha256 sent and signed) at clock->WallNow(), errors mapped by AwsErrorStatus and
// marked by S3's "try again" rule (S3TryAgain). The uploads and the other calls retry those attempts through
// the AWS retry policy (AwsRetry, aws/retry_policy.h). PUT object/part, HEAD,
// GET, DELETE and PUT bucket (made idempotent by accepting
// BucketAlreadyOwnedByYou) are idempotent calls; CreateMultipartUpload and
// CompleteMultipartUpload are not, so they retry only the replies S3 documents
// as "try again" (throttling, SlowDown, 503, InternalError) and a refused connection, never a dropped
// connection or a timeout.
//
// URLs: with an endpoint override, AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL
// (moto, MinIO, ...), path style: endpoint/bucket/key. With the default
// endpoint, virtual-hosted style: https://bucket.s3.region.amazonaws.com/key
// (https://bucket.s3.amazonaws.com/key in us-east-1), except for bucket names
// with dots (their TLS certificate would not match): path style on the
// regional endpoint. Keys are URI-encoded segment by segment ('/' kept).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "aws/caller.h"
#include "aws/retry_policy.h"
#include "mlflow_bridge/aws.h"
#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/http.h"
#include "mlflow_bridge/retry.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

struct S3UploadOptions {
  static constexpr uint64_t kMiB = 1024 * 1024;
  static constexpr uint64_t kMinPartSize = 5 * kMiB;  // S3's minimum for all parts but the last
  static constexpr int kMaxParts = 10'000;            // S3's maximum

  // Size of each part of a multipart upload; at least 5 MiB. Raised
  // automatically (to whole MiB) when the file would need more than 10,000 parts.
  uint64_t part_size = 8 * kMiB;
  // Files of at least this size go up as multipart uploads; smaller ones
  // (and empty ones) with a single PutObject.
  uint64_t multipart_threshold = 8 * kMiB;
  // The object's Content-Type; empty means the default. Never
  // application/x-www-form-urlencoded (some S3 stand-ins, moto among them,
  // parse such a body as a form and store nothing): INVALID_PARAMETER_VALUE.
  std::string content_type = "application/x-gzip";
  // Object tags (at most 10; key 1-128, value 0-256 characters), sent as the
  // x-amz-tagging header of PutObject / CreateMultipartUpload.
  std::map<std::string, std::string> tags;
  // Called after each part (once for PutObject) with the bytes sent so far
  // and the file size; the last call has sent == total.
  std::function<void(uint64_t sent, uint64_t total)> progress;
};
// The name the task brief uses.
using UploadOptions = S3UploadOptions;

struct S3ClientOptions {
  RetryPolicy retry;
  BackoffPolicy backoff;
};

// S3's documented "try again" replies, as S3Client passes them to AwsCaller: the codes InternalError and
// ServiceUnavailable and the statuses 503 and 429 were not processed; for an idempotent call, any 500, 502
// or 504 is transient too.
AwsTryAgainRule S3TryAgain(Idempotency idempotency);

// The ETag S3 gives an object assembled from parts with these ETags (MD5s in
// hex, quoted or not): "hex(MD5(md5_1 || ... || md5_n))-n", quoted; nullopt
// when a part ETag is not an MD5 (e.g. SSE-KMS).
std::optional<std::string> MultipartETag(const std::vector<std::string>& part_etags);

// What the SageMaker client asks of S3 (the interface; mocked in tests, tests/cpp/mock_aws_stubs.h).
class S3Stub {
 public:
  virtual ~S3Stub() = default;

  // Creates the bucket unless it exists (HEAD bucket first). A bucket that
  // exists but is not accessible (403: another account's, or the credentials
  // lack access) is PERMISSION_DENIED; one in another region is
  // INVALID_PARAMETER_VALUE naming its region.
  virtual Status EnsureBucket(const std::string& bucket) = 0;

  // Uploads the file at `path` to s3://bucket/key and returns that URL.
  // A failed multipart upload is aborted (nothing is left behind) and the
  // original error returned. A missing or unreadable file is
  // INVALID_PARAMETER_VALUE naming the path.
  virtual StatusOr<std::string> UploadFile(const std::string& bucket, const std::string& key, const std::string& path,
                                           const S3UploadOptions& opts) = 0;

  // Puts `body` as s3://bucket/key with one PutObject (content_type empty: the
  // default) and returns that URL.
  virtual StatusOr<std::string> PutBytes(const std::string& bucket, const std::string& key, std::string body,
                                         const std::string& content_type) = 0;
  // The object's bytes, or nullopt when there is no such object (or bucket).
  virtual StatusOr<std::optional<std::string>> GetObject(const std::string& bucket, const std::string& key) = 0;
  // Deletes the object; an object (or bucket) that does not exist is OK.
  virtual Status DeleteObject(const std::string& bucket, const std::string& key) = 0;
};

// S3 over the AWS API (AwsCaller).
class S3Client final : public S3Stub {
 public:
  // `region` is the bucket's region and the signing region; `endpoint_override`
  // (empty: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else AWS's default) is
  // resolved once, here, with ResolveAwsEndpoint.
  S3Client(std::shared_ptr<HttpTransport> transport, std::shared_ptr<AwsCredentialsProvider> credentials,
           std::shared_ptr<Clock> clock, std::string region, std::string endpoint_override = "",
           S3ClientOptions options = {});

  Status EnsureBucket(const std::string& bucket) override;
  StatusOr<std::string> UploadFile(const std::string& bucket, const std::string& key, const std::string& path,
                                   const S3UploadOptions& opts = {}) override;
  StatusOr<std::string> PutBytes(const std::string& bucket, const std::string& key, std::string body,
                                 const std::string& content_type = "") override;
  StatusOr<std::optional<std::string>> GetObject(const std::string& bucket, const std::string& key) override;
  Status DeleteObject(const std::string& bucket, const std::string& key) override;

  // (bucket, key) of s3://bucket/key, or of the https forms S3 and SageMaker
  // report: https://bucket.s3.region.amazonaws.com/key,
  // https://bucket.s3.amazonaws.com/key, https://bucket.s3-region.amazonaws.com/key,
  // https://s3.region.amazonaws.com/bucket/key (keys percent-decoded there).
  // Both parts must be non-empty.
  static StatusOr<std::pair<std::string, std::string>> ParseS3Url(const std::string& url);

  // S3's bucket naming rules (general purpose buckets).
  static bool IsValidBucketName(const std::string& bucket);

  // The request URL of an object (key empty: of the bucket) with `query`
  // (already encoded, without '?'); exposed for tests.
  std::string ObjectUrl(const std::string& bucket, const std::string& key, const std::string& query = "") const;
  const std::string& endpoint() const { return endpoint_; }

 private:
  // One attempt: signs and sends `request` (its url relative to service.endpoint) through the caller.
  StatusOr<HttpResponse> SendOnce(const AwsService& service, const HttpRequest& request, const std::string& what,
                                  const AwsCallOptions& options, AwsCallFailure* failure) const;
  // Sends `request` (its url: the query, without '?', or empty) for
  // s3://bucket/key, retried through the AWS retry policy. `failure`: how the last attempt failed.
  StatusOr<HttpResponse> Send(const std::string& bucket, const std::string& key, HttpRequest request,
                              Idempotency idempotency, const std::string& what, AwsCallOptions options = {},
                              AwsCallFailure* failure = nullptr) const;
  // The service a request for `bucket` goes to (its endpoint: the bucket's
  // virtual host, or the S3 endpoint) and the request's path and query.
  std::pair<AwsService, std::string> Target(const std::string& bucket, const std::string& key,
                                            const std::string& query) const;
  Status CheckReady() const;
  // A valid bucket name and key, and a ready client.
  Status CheckObject(const std::string& bucket, const std::string& key) const;
  Status PutObject(const std::string& bucket, const std::string& key, const std::string& path, uint64_t size,
                   const S3UploadOptions& opts);
  Status Put(const std::string& bucket, const std::string& key, std::string body, const S3UploadOptions& opts);
  Status MultipartUpload(const std::string& bucket, const std::string& key, const std::string& path, uint64_t size,
                         const S3UploadOptions& opts);
  Status UploadParts(const std::string& bucket, const std::string& key, const std::string& path, uint64_t size,
                     uint64_t part_size, const std::string& upload_id, const S3UploadOptions& opts,
                     std::vector<std::string>* etags);
  // *gone: the upload no longer existed (NoSuchUpload).
  Status AbortMultipartUpload(const std::string& bucket, const std::string& key, const std::string& upload_id, bool* gone);
  // Whether the object exists with exactly this ETag.
  bool ObjectHasETag(const std::string& bucket, const std::string& key, const std::string& etag);

  bool complete_;  // built with a transport, credentials and a clock
  std::shared_ptr<AwsCredentialsProvider> credentials_;
  AwsCaller caller_;
  AwsRetry retry_;
  std::string region_;
  std::string endpoint_;      // no trailing slash
  std::string virtual_host_;  // "s3.region.amazonaws.com" when virtual-hosted style applies; else empty
  std::string scheme_;        // of virtual-hosted URLs
};

}  // namespace mlflow_bridge::internal
