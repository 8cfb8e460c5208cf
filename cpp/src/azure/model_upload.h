// Uploading an MLflow model folder to an Azure ML workspace's blob datastore the way azure-ai-ml does it for
// ml_client.models.create_or_update(Model(path=<folder>)) (docs/azureml-notes.md §3.1-§3.3; azure-ai-ml 1.35.2
// _utils/_asset_utils.py and _artifacts/_blob_storage_helper.py):
//
//  1. The folder's hash, exactly as azure-ai-ml's get_object_hash: SHA-256 seeded with
//     "Initialize for october 2021 AML CLI version"; each directory's entries in the order of their lower-cased
//     path; per entry its name (UTF-8), then the file's bytes or, for a directory, its entries; symbolic links
//     followed. The .amlignore in the folder's root, else its .gitignore, excludes entries (from the hash and the
//     upload) with the gitwildmatch rules azure-ai-ml vendors from pathspec.
//  2. Blob names: LocalUpload/<hash>/<folder name>/<relative path>; the indicator blob is the first of the
//     (local path, blob name) pairs in sorted order.
//  3. Skip check: HEAD the indicator. 404: a fresh upload (Put Blob / Put Block List with If-None-Match: *).
//     It exists: HEAD the legacy az-ml-artifacts/<hash>/... indicator; legacy metadata upload_status=completed
//     -> nothing to upload, the legacy path and its name/version are returned; else the indicator's own
//     upload_status=completed -> nothing to upload (its name/version); else a partial upload: everything is
//     uploaded again, overwriting.
//  4. Every file: one Put Blob up to single_put_limit bytes (64 MiB), else Put Block per block_size (4 MiB)
//     and Put Block List; Content-MD5 on every non-empty body. Sequential (one request at a time): model folders
//     hold few files and the machines this runs on are small; the blocks of a large file are not parallel either.
//  5. Set Blob Metadata on the indicator: upload_status=completed, name, version.
// Every call is one attempt of the stub retried through RetryLoop (all of them are idempotent).
//
// Where this differs from azure-ai-ml, deliberately:
//  - a fresh upload that meets a blob already there (409 BlobAlreadyExists: a partial upload whose indicator
//    was never written, or another client uploading the same folder) writes that file again without
//    If-None-Match instead of failing: the blob names are content-addressed, so the content is the same;
//  - names that are equal but for case ("A" and "a") sort by their bytes; Python keeps the directory listing's
//    order, which the file system decides;
//  - lower-casing for the order covers ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic; Python lower-cases
//    all of Unicode;
//  - a symbolic link cycle, a broken link or a special file (fifo, socket) is an error here (azure-ai-ml loops,
//    hashes only the name, or fails while uploading);
//  - blob names use the folder's resolved name both for the blobs and for the returned prefix (azure-ai-ml
//    names the blobs after the resolved folder but returns the name as given, which differs for a symlink).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "azure/blob_stub.h"
#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/retry.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

inline constexpr char kObjectHashSalt[] = "Initialize for october 2021 AML CLI version";
inline constexpr char kLocalUploadDir[] = "LocalUpload";
inline constexpr char kLegacyUploadDir[] = "az-ml-artifacts";

// One file of a model folder.
struct ModelFolderFile {
  std::string local_path;  // resolved, absolute
  std::string relative;    // "sub/dir/file.txt" below the folder, through links as named in the folder
  std::string blob_name;   // LocalUpload/<hash>/<folder name>/<relative>
  uint64_t size = 0;
};

// A model folder as azure-ai-ml sees it.
struct ModelFolder {
  std::string path;                    // resolved, absolute
  std::string name;                    // its last path component
  std::string hash;                    // get_object_hash: 64 lower-case hex digits
  std::string ignore_file;             // the .amlignore or .gitignore applied; empty when none
  std::vector<ModelFolderFile> files;  // azure-ai-ml's order: by (local_path, blob_name); files[0] is the indicator
  uint64_t total_bytes = 0;
  std::string blob_prefix() const { return std::string(kLocalUploadDir) + "/" + hash + "/" + name; }
};

// The hash azure-ai-ml's get_object_hash gives `path` (a folder, with its root's .amlignore or .gitignore as
// get_ignore_file finds it; or a single file: the salt and its bytes).
StatusOr<std::string> ObjectHash(const std::string& path);

// Lists and hashes a folder. INVALID_PARAMETER_VALUE when it does not exist, is not a folder, has no file to
// upload (azure-ai-ml's "Directory ... is empty"), or holds something that cannot be read or uploaded.
StatusOr<ModelFolder> ScanModelFolder(const std::string& folder);

// The rules of an .amlignore / .gitignore as azure-ai-ml applies them (its vendored pathspec
// GitWildMatchPattern): exposed for tests.
class IgnoreRules {
 public:
  // INVALID_PARAMETER_VALUE naming the line of a pattern pathspec rejects ("!", a trailing backslash).
  static StatusOr<IgnoreRules> Parse(const std::string& text, const std::string& source = "ignore file");
  // Whether `relative` ("dir/file.txt", relative to the ignore file's folder) is excluded: the last pattern
  // that matches decides (a "!pattern" includes again).
  bool Excluded(const std::string& relative) const;
  bool empty() const { return rules_.empty(); }

 private:
  struct Rule;
  std::vector<std::shared_ptr<const Rule>> rules_;
};

struct ModelUploadOptions {
  static constexpr uint64_t kMiB = 1024 * 1024;
  // Called after each Put Blob / Put Block with the bytes uploaded so far and the folder's total.
  std::function<void(uint64_t done, uint64_t total)> progress;
  uint64_t single_put_limit = 64 * kMiB;  // files up to this size go up with one Put Blob
  uint64_t block_size = 4 * kMiB;         // raised when a file would need more than 50,000 blocks
  // The model's name and version, stored in the indicator's metadata (required, as azure-ai-ml requires them).
  std::string asset_name;
  std::string asset_version;
  // Each stub call: retried on transient failures (503 ServerBusy, 500, a dropped connection; Retry-After
  // honoured); an upload's deadline grows with its request timeout.
  RetryPolicy retry;
  BackoffPolicy backoff;
  std::shared_ptr<Clock> clock;  // sleeps between attempts; null: the system clock
};

struct ModelUploadResult {
  std::string hash;
  // The folder's path in the container, "LocalUpload/<hash>/<folder name>" (or "az-ml-artifacts/<hash>/<folder
  // name>" when a completed legacy upload was found): the `paths/...` part of the model's datastore URI.
  std::string blob_prefix;
  bool skipped = false;    // a completed upload of the same content was there; nothing was uploaded
  bool legacy = false;     // ... under az-ml-artifacts/
  bool overwrote = false;  // a partial upload was there and was overwritten
  std::string name;        // the indicator's metadata: the options' values, or the stored ones when skipped
  std::string version;
  std::string indicator_blob;  // the blob that carries the confirmation metadata
  size_t files = 0;            // files uploaded
  uint64_t bytes = 0;          // bytes uploaded
};

// Uploads `folder` into `container` through `stub` (steps 1-5 above).
StatusOr<ModelUploadResult> UploadModelFolder(const std::string& folder, BlobStub& stub, const std::string& container,
                                              const ModelUploadOptions& options);

// The block id of block `index` of a blob: base64 of the index as 48 decimal digits (the width azure-storage-blob
// uses for its own ids, so that ids of an earlier, uncommitted upload by either client have the same length).
std::string BlockId(uint64_t index);

// azureml://subscriptions/{s}/resourcegroups/{rg}/workspaces/{w}/datastores/{ds}/paths/{path}: the datastore URI
// azure-ai-ml registers a model with (LONG_URI_FORMAT; "resourcegroups" in lower case, the service echoes
// "resourceGroups"). `path` is ModelUploadResult::blob_prefix.
std::string AzureMlDatastoreUri(const std::string& subscription, const std::string& resource_group,
                                const std::string& workspace, const std::string& datastore, const std::string& path);

}  // namespace mlflow_bridge::internal
