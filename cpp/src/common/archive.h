// Reproducible tar archives, written with libarchive: the same tree gives the
// same bytes (sorted entries, fixed mtimes, uid/gid 0, no owner names, no
// gzip timestamp, names as raw bytes whatever the locale). File contents are
// streamed, never held whole in memory, and the SHA-256 digests an image layer
// needs are computed on the way.
#pragma once

#include <cstdint>
#include <string>

#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

struct TarOptions {
  std::string prefix;  // folder inside the archive that holds the tree; "" = the archive root
  bool gzip = true;
  int64_t mtime = 0;  // modification time of every entry (seconds since the epoch)
  // Also write entries for `prefix` and each folder above it ("opt/", "opt/ml/", ...), as image layers have them.
  bool parent_dirs = false;
  int gzip_level = 6;  // zlib level 1 (fast) .. 9 (small); 6 is gzip's and docker's default
};

struct TarResult {
  std::string digest;   // "sha256:<hex>" of the bytes written (an image layer's blob digest)
  std::string diff_id;  // "sha256:<hex>" of the uncompressed tar (an image layer's diff_id); == digest without gzip
  uint64_t size = 0;    // bytes written
};

// Writes the tree under `source_dir` (regular files, folders, symlinks) to
// `out_path`. Modes are normalised to 0755 (folders, executables) or 0644.
StatusOr<TarResult> WriteTar(const std::string& source_dir, const std::string& out_path, const TarOptions& options = {});

// The same tree as a zip (deflate), the entries at its root, sorted, every time `mtime`: a model artifact as OCI
// Data Science takes it. `digest` and `diff_id` are the SHA-256 of the zip; `size` its bytes.
StatusOr<TarResult> WriteZip(const std::string& source_dir, const std::string& out_path, int64_t mtime = 0);

}  // namespace mlflow_bridge::internal
