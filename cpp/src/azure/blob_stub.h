// Azure Blob Storage: the calls an Azure ML model upload makes (docs/azureml-notes.md §3.1-§3.3), as a stub
// (one method per REST call, one attempt each, no retries: the caller retries through RetryLoop) and its REST
// implementation over HttpTransport.
//
// Every request carries x-ms-version (kBlobApiVersion) and x-ms-date, and is authorized one of three ways:
//  - a SAS token appended to the query (no Authorization header), as azure-ai-ml does with the datastore's
//    listSecrets token ("?sv=...&sig=...": the leading '?' is optional);
//  - Shared Key: Authorization: SharedKey <account>:<signature>, the signature computed as azure-storage-blob's
//    SharedKeyCredentialPolicy does (SharedKeyStringToSign below);
//  - Bearer: an Entra ID token for https://storage.azure.com/.default from a TokenCredential (identity-based
//    datastores).
// Neither the SAS token, its signature, the account key, a Shared Key signature nor a token ever appears in a
// message or a log line.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "azure/credentials.h"
#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/http.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

// The x-ms-version every request sends (supported by azure-storage-blob 12.24 and later; Bearer needs
// 2017-11-09 or later).
inline constexpr char kBlobApiVersion[] = "2025-01-05";
// Public Azure's storage endpoint suffix: https://{account}.blob.core.windows.net.
inline constexpr char kDefaultStorageSuffix[] = "core.windows.net";

enum class BlobAuthKind { kSas, kSharedKey, kBearer };

// How requests to the account are authorized. Build one with Sas(), SharedKey() or Bearer().
struct BlobAuth {
  BlobAuthKind kind = BlobAuthKind::kSas;
  std::string sas_token;                        // kSas: "sv=...&sig=..." (a leading '?' is dropped); a secret
  std::string account_key;                      // kSharedKey: the base64 account key; a secret
  std::shared_ptr<TokenCredential> credential;  // kBearer

  static BlobAuth Sas(std::string token);
  static BlobAuth SharedKey(std::string account_key);
  static BlobAuth Bearer(std::shared_ptr<TokenCredential> credential);
};

struct BlobServiceOptions {
  std::string account;                                  // storage account name
  std::string endpoint_suffix = kDefaultStorageSuffix;  // "core.windows.net", "core.chinacloudapi.cn", ...
  // Instead of https://{account}.blob.{endpoint_suffix}: the account's URL, no trailing slash (a stand-in's
  // http://127.0.0.1:10000/devstoreaccount1). Shared Key still signs "/{account}{url path}".
  std::string account_url;
  BlobAuth auth;
};

// What Get Blob Properties (HEAD) reports.
struct BlobProperties {
  uint64_t content_length = 0;
  std::string content_md5;                      // base64, as the service reports it; empty when the blob has none
  std::string etag;                             // as sent, quotes included
  std::map<std::string, std::string> metadata;  // x-ms-meta-<name> -> value; names lower-cased
};

// A request body: bytes in memory, or a region of a file streamed as it is sent.
struct BlobBody {
  std::string data;
  std::optional<HttpRequest::FileBody> file;

  static BlobBody FromString(std::string data);
  static BlobBody FromFile(std::string path, uint64_t offset, uint64_t length);
  uint64_t size() const { return file ? file->length : data.size(); }
};

struct PutBlobOptions {
  std::string content_md5;  // base64 MD5 of the body (the service checks it); empty: not sent
  // If-None-Match: *: fail with RESOURCE_ALREADY_EXISTS when the blob exists (azure-storage-blob's overwrite=False).
  bool if_none_match = false;
  std::string content_type = "application/octet-stream";
  std::map<std::string, std::string> metadata;  // sent as x-ms-meta-<name>
};

struct PutBlockListOptions {
  bool if_none_match = false;  // as in PutBlobOptions
  // Content-MD5 of the XML body is always sent.
};

// The Blob calls of a model upload (one attempt each). Mocked in tests.
class BlobStub {
 public:
  virtual ~BlobStub() = default;

  // Get Blob Properties (HEAD). nullopt when there is no such blob (404 BlobNotFound); a missing container is
  // RESOURCE_DOES_NOT_EXIST.
  virtual StatusOr<std::optional<BlobProperties>> GetProperties(const std::string& container, const std::string& blob) = 0;
  // Put Blob: a block blob from one body (x-ms-blob-type: BlockBlob).
  virtual Status PutBlob(const std::string& container, const std::string& blob, const BlobBody& body,
                         const PutBlobOptions& options) = 0;
  // Put Block (comp=block&blockid=<id>): stages one block; `block_id` is already base64; `content_md5` as in
  // PutBlobOptions.
  virtual Status PutBlock(const std::string& container, const std::string& blob, const std::string& block_id,
                          const BlobBody& body, const std::string& content_md5) = 0;
  // Put Block List (comp=blocklist): commits the staged blocks, in this order, as the blob's content.
  virtual Status PutBlockList(const std::string& container, const std::string& blob,
                              const std::vector<std::string>& block_ids, const PutBlockListOptions& options) = 0;
  // Set Blob Metadata (comp=metadata): replaces all of the blob's metadata.
  virtual Status SetMetadata(const std::string& container, const std::string& blob,
                             const std::map<std::string, std::string>& metadata) = 0;
  // Delete Blob (with its snapshots). A blob that does not exist is OK.
  virtual Status DeleteBlob(const std::string& container, const std::string& blob) = 0;
};

// The request timeout an upload of `bytes` gets: 120 s plus one second per 128 KiB.
std::chrono::milliseconds BlobUploadTimeout(uint64_t bytes);

// The Put Block List body: <?xml version="1.0" encoding="utf-8"?><BlockList><Latest>id</Latest>...</BlockList>.
std::string BlockListXml(const std::vector<std::string>& block_ids);

// The Shared Key string-to-sign of `request` for `account`, as azure-storage-blob's SharedKeyCredentialPolicy
// builds it (notes §3.3): the verb; Content-Encoding, Content-Language, Content-Length (empty when 0; the body
// size when the request has no Content-Length header), Content-MD5, Content-Type, Date, If-Modified-Since,
// If-Match, If-None-Match, If-Unmodified-Since and an always empty Range, one per line; the x-ms-* headers
// lower-cased as name:value lines in the service's order (SortStorageHeaderNames); "/{account}{url path}" with
// the path as sent (percent-encoded); then "\n{lower(name)}:{decoded value}" per query parameter, sorted by name.
std::string SharedKeyStringToSign(const HttpRequest& request, std::string_view account);

// Sorts x-ms-* header names (lower-cased) in the order the service compares them, which azure-storage-blob
// emulates: '-' and '\'' are skipped; then punctuation, digits and letters (case-insensitive) in that order;
// names equal but for those two characters fall back to byte order.
void SortStorageHeaderNames(std::vector<std::string>& names);

// Adds Authorization: SharedKey {account}:{base64(HMAC-SHA256(base64-decoded key, string-to-sign))}.
// INVALID_PARAMETER_VALUE (without the key) when the key is not base64.
Status SignSharedKey(HttpRequest& request, std::string_view account, std::string_view account_key_base64);

// The Storage AsStatus: a non-2xx reply as "<what>: <Code>: <message> (HTTP n, request id r)", the code from
// x-ms-error-code or the <Error><Code> of the body, the message from <Message> (first line). Mapping:
//  - RESOURCE_DOES_NOT_EXIST: 404 (BlobNotFound, ContainerNotFound, ...);
//  - PERMISSION_DENIED: 403 (AuthenticationFailed, AuthorizationFailure, AuthorizationPermissionMismatch,
//    KeyBasedAuthenticationNotPermitted, ...), with a hint for `auth`;
//  - UNAUTHENTICATED: 401 (a token the service did not accept);
//  - RESOURCE_ALREADY_EXISTS: 409 BlobAlreadyExists, 412 ConditionNotMet (our only condition is If-None-Match: *);
//  - TEMPORARILY_UNAVAILABLE: 408, 429, 500, 502, 503 (ServerBusy), 504, OperationTimedOut; Retry-After (or
//    x-ms-retry-after-ms / retry-after-ms) kept, relative to `now`;
//  - INVALID_PARAMETER_VALUE: other 4xx (Md5Mismatch says the file may have changed during the upload);
//  - INTERNAL_ERROR: anything else.
// Every secret in `secrets` is scrubbed from the message, which also goes through Redact().
Status BlobErrorStatus(const HttpResponse& response, std::string_view what, BlobAuthKind auth,
                       const std::vector<std::string_view>& secrets = {},
                       std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// The Blob REST API over an HttpTransport. Thread-safe when the transport, the credential and the clock are.
class BlobRestStub final : public BlobStub {
 public:
  // `clock` dates the requests (x-ms-date) and reads Retry-After dates.
  BlobRestStub(std::shared_ptr<HttpTransport> transport, BlobServiceOptions options,
               std::shared_ptr<Clock> clock = SystemClock());

  StatusOr<std::optional<BlobProperties>> GetProperties(const std::string& container, const std::string& blob) override;
  Status PutBlob(const std::string& container, const std::string& blob, const BlobBody& body,
                 const PutBlobOptions& options) override;
  Status PutBlock(const std::string& container, const std::string& blob, const std::string& block_id, const BlobBody& body,
                  const std::string& content_md5) override;
  Status PutBlockList(const std::string& container, const std::string& blob, const std::vector<std::string>& block_ids,
                      const PutBlockListOptions& options) override;
  Status SetMetadata(const std::string& container, const std::string& blob,
                     const std::map<std::string, std::string>& metadata) override;
  Status DeleteBlob(const std::string& container, const std::string& blob) override;

  // https://{account}.blob.{suffix} or the account_url option; no trailing slash.
  const std::string& account_url() const { return account_url_; }
  // The URL of a blob with `query` (encoded, without '?'), without the SAS token.
  std::string BlobUrl(const std::string& container, const std::string& blob, const std::string& query = "") const;

 private:
  // Validates, dates, authorizes and sends `request` (its url without the SAS token) once. A 2xx reply, or one
  // whose status is in `accept`, is returned; any other reply is BlobErrorStatus(...).
  StatusOr<HttpResponse> Send(HttpRequest request, const std::string& what, const std::vector<long>& accept = {}) const;
  Status CheckNames(const std::string& container, const std::string& blob) const;
  std::string What(std::string_view op, const std::string& container, const std::string& blob) const;

  std::shared_ptr<HttpTransport> transport_;
  BlobServiceOptions options_;
  std::shared_ptr<Clock> clock_;
  std::string account_url_;
  Status config_;  // not OK when the options cannot work (no account, no credential, ...)
};

}  // namespace mlflow_bridge::internal
