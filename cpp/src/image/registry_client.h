// A client of the OCI Distribution API (Docker Registry HTTP API v2):
// manifests, blobs, chunked and monolithic uploads, cross-repository mounts.
//
// One request path: every call goes through Call() -> RetryLoop -> SendOnce(),
// which sets the Authorization the RegistryAuthenticator holds for the
// operation's scopes (only when the URL is on the registry's own host: never
// to a storage host a blob GET redirects to), answers one 401 with
// HandleChallenge and sends again, and turns a non-2xx reply into a Status
// with RegistryErrorStatus() (the one error mapping):
//   UNAUTHORIZED/401 -> UNAUTHENTICATED, DENIED/403 -> PERMISSION_DENIED
//     (naming the registry, repository, operation and the credentials' Describe()),
//   NAME_UNKNOWN/MANIFEST_UNKNOWN/BLOB_UNKNOWN/BLOB_UPLOAD_UNKNOWN/404 -> RESOURCE_DOES_NOT_EXIST,
//   NAME_INVALID/TAG_INVALID/MANIFEST_INVALID/SIZE_INVALID/BLOB_UPLOAD_INVALID/
//     UNSUPPORTED/other 4xx -> INVALID_PARAMETER_VALUE,
//   DIGEST_INVALID/MANIFEST_BLOB_UNKNOWN -> INTERNAL_ERROR (our bug),
//   TOOMANYREQUESTS/429/502/503/504 -> TEMPORARILY_UNAVAILABLE (retried, Retry-After honoured).
// A dropped connection or refused connect is TEMPORARILY_UNAVAILABLE
// "registry <host> is unreachable (...)" once the retries are spent.
//
// Retries: GET, HEAD, PUT (manifest; upload finalize with ?digest=), POST
// (upload start: an orphaned upload session is harmless) and DELETE are
// retried on transient failures. A PATCH chunk is retried by resuming: GET
// the upload's status at the latest Location, continue from its Range.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "image/registry_auth.h"
#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/http.h"
#include "mlflow_bridge/retry.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

inline constexpr const char* kOciManifestMediaType = "application/vnd.oci.image.manifest.v1+json";
inline constexpr const char* kOciIndexMediaType = "application/vnd.oci.image.index.v1+json";
inline constexpr const char* kDockerManifestMediaType = "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr const char* kDockerManifestListMediaType = "application/vnd.docker.distribution.manifest.list.v2+json";

struct RegistryClientOptions {
  std::shared_ptr<HttpTransport> transport;                  // TLS settings (CA bundle, verify) live on it
  bool insecure = false;                                     // plain http:// (loopback test registries); default https://
  std::shared_ptr<RegistryCredentialsProvider> credentials;  // null: anonymous
  std::shared_ptr<Clock> clock;                              // null: SystemClock()
  RetryPolicy retry;
  BackoffPolicy backoff;
  uint64_t chunk_size = 64ull << 20;  // blobs larger than this go up in PATCH chunks (and come down in ranges) of this size
};

struct ManifestReply {
  std::string media_type;
  std::string digest;
  std::string body;
};

using BlobProgress = std::function<void(uint64_t done, uint64_t total)>;

// The one mapping of a registry's non-2xx reply (error JSON
// {"errors":[{"code","message","detail"}]}) to a Status. `operation` is
// "pull"/"push"/"mount"; `what` names the request for other errors.
Status RegistryErrorStatus(const HttpResponse& response, const std::string& registry, const std::string& repository,
                           const std::string& operation, const std::string& credentials, const std::string& what,
                           std::chrono::system_clock::time_point now);

class RegistryClient {
 public:
  RegistryClient(std::string registry, RegistryClientOptions options);
  const std::string& registry() const { return registry_; }

  // GET /v2/<repo>/manifests/<tag|digest> with Accept: OCI manifest, OCI
  // index, Docker v2 manifest, Docker manifest list. Digest =
  // Docker-Content-Digest or the sha256 of the body; when `reference` is a
  // digest, the body must hash to it. Missing: RESOURCE_DOES_NOT_EXIST
  // "image <registry>/<repo>:<ref> does not exist".
  StatusOr<ManifestReply> GetManifest(const std::string& repo, const std::string& reference);

  // A small blob (an image config) into memory, at most max_bytes; digest verified.
  StatusOr<std::string> GetBlob(const std::string& repo, const std::string& digest, uint64_t max_bytes = 16ull << 20);

  // Downloads a blob to `path` in ranges of chunk_size (never whole in
  // memory), verifying its digest; follows redirects (without Authorization to
  // another host); a dropped connection resumes from the bytes already written.
  Status DownloadBlob(const std::string& repo, const std::string& digest, const std::string& path,
                      const BlobProgress& progress = {});

  // HEAD /v2/<repo>/blobs/<digest>; 404 -> false.
  StatusOr<bool> HasBlob(const std::string& repo, const std::string& digest);

  // POST /v2/<repo>/blobs/uploads/?mount=<digest>&from=<from_repo>. 201 ->
  // true; 202 (not mountable) -> false, the upload it started is cancelled.
  StatusOr<bool> MountBlob(const std::string& repo, const std::string& digest, const std::string& from_repo);

  // Uploads the file (size bytes, sha256 `digest`): monolithic (POST, PUT
  // ?digest= with the body) when size <= chunk_size, else POST, PATCH chunks
  // (each to the Location of the latest reply), PUT ?digest=. Resumes after a
  // dropped PATCH from the registry's Range; starts over once when the
  // upload is gone. The registry's Docker-Content-Digest is verified.
  Status UploadBlob(const std::string& repo, const std::string& path, const std::string& digest, uint64_t size,
                    const BlobProgress& progress = {});
  // A small blob (a config) from memory, monolithic.
  Status UploadBlobBytes(const std::string& repo, const std::string& bytes, const std::string& digest);

  // PUT /v2/<repo>/manifests/<reference> with Content-Type media_type; the
  // manifest digest (sha256 of body; checked against Docker-Content-Digest).
  StatusOr<std::string> PutManifest(const std::string& repo, const std::string& reference, const std::string& body,
                                    const std::string& media_type);

 private:
  struct Op;
  // One request: auth, one 401 answered, error mapping. No retries.
  StatusOr<HttpResponse> SendOnce(const Op& op, HttpRequest request);
  StatusOr<HttpResponse> SendOnceUnscrubbed(const Op& op, HttpRequest request);
  // SendOnce under the RetryLoop.
  StatusOr<HttpResponse> Call(const Op& op, const HttpRequest& request, Idempotency idempotency = Idempotency::kIdempotent);
  // GET following redirects (Authorization only to the registry's host).
  StatusOr<HttpResponse> GetFollowingRedirects(const Op& op, HttpRequest request);
  // The absolute URL of a Location header value.
  std::string ResolveLocation(const std::string& location) const;
  std::string Url(const std::string& repo, const std::string& rest) const;
  Status Finish(const Status& s) const;  // scrubs secrets from a message
  // Upload steps.
  StatusOr<std::string> StartUpload(const Op& op);
  Status UploadChunks(const Op& op, const std::string& path, uint64_t size, std::string* location,
                      const BlobProgress& progress, bool* upload_gone);
  // PUT ?digest= with the last bytes: `body`, or `file` streamed.
  // A blob in one PUT (a new upload session, the whole body); when the session was lost (a connection dropped
  // midway leaves the registry's session unusable: 404 or 400 on the retry), once more with a new session.
  Status PutWholeBlob(const Op& op, const std::string& digest, const std::string& body,
                      std::optional<HttpRequest::FileBody> file);
  Status FinishUpload(const Op& op, const std::string& location, const std::string& digest, std::string body,
                      std::optional<HttpRequest::FileBody> file = std::nullopt);

  std::string registry_;
  RegistryClientOptions options_;
  std::string base_;  // "https://host[:port]"
  std::shared_ptr<RegistryAuthenticator> auth_;
};

}  // namespace mlflow_bridge::internal
