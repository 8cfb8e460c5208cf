// Reproducible tar archives, written with libarchive: the same tree gives the
// same bytes (sorted entries, fixed mtimes, uid/gid 0, no owner names, no
// gzip timestamp). File contents are streamed, never held whole in memory.
#pragma once

#include <cstdint>
#include <string>

#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

struct TarOptions {
  std::string prefix;  // folder inside the archive that holds the tree; "" = the archive root
  bool gzip = true;
  int64_t mtime = 0;   // modification time of every entry (seconds since the epoch)
};

// Writes the tree under `source_dir` (regular files, folders, symlinks) to
// `out_path`. Modes are normalised to 0755 (folders, executables) or 0644.
Status WriteTar(const std::string& source_dir, const std::string& out_path, const TarOptions& options = {});

}  // namespace mlflow_bridge::internal
