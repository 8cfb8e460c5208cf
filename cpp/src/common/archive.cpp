#include "common/archive.h"

#include "common/crypto.h"

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <vector>

namespace fs = std::filesystem;

namespace mlflow_bridge::internal {
namespace {

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

Status ArchiveError(archive* a, const std::string& what) {
  const char* msg = archive_error_string(a);
  return InternalError("Cannot write the archive " + what + ": " + (msg ? msg : "unknown libarchive error"));
}

// Where libarchive's tar bytes go: hashed, gzip-compressed with zlib (header
// without a time or name, so the same tar gives the same bytes), hashed again
// and written to the file.
class Sink {
 public:
  Sink(const std::string& path, bool gzip, int level) : path_(path), gzip_(gzip) {
    file_ = fopen(path.c_str(), "wb");
    // windowBits 15 + 16: a gzip wrapper with zlib's default header (mtime 0, OS unix).
    if (gzip_ && deflateInit2(&z_, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK) z_ready_ = true;
  }
  ~Sink() {
    if (z_ready_) deflateEnd(&z_);
    if (file_) fclose(file_);
  }
  bool ok() const { return file_ != nullptr && (!gzip_ || z_ready_) && error_.empty(); }
  const std::string& error() const { return error_; }

  bool Write(const void* data, size_t n) {
    tar_hash_.Update(data, n);
    if (!gzip_) return Out(data, n);
    z_.next_in = static_cast<Bytef*>(const_cast<void*>(data));
    z_.avail_in = static_cast<uInt>(n);
    return Deflate(Z_NO_FLUSH);
  }
  StatusOr<TarResult> Finish() {
    if (gzip_ && !Deflate(Z_FINISH)) return InternalError("Cannot compress " + path_ + ": " + error_);
    if (fflush(file_) != 0 || ferror(file_)) return InternalError("Cannot write " + path_ + ": disk full?");
    TarResult r;
    r.diff_id = tar_hash_.Digest();
    r.digest = gzip_ ? out_hash_.Digest() : r.diff_id;
    r.size = size_;
    return r;
  }

 private:
  bool Out(const void* data, size_t n) {
    if (gzip_) out_hash_.Update(data, n);
    size_ += n;
    if (fwrite(data, 1, n, file_) == n) return true;
    error_ = "write failed";
    return false;
  }
  bool Deflate(int flush) {
    unsigned char buf[1 << 16];
    while (true) {
      z_.next_out = buf;
      z_.avail_out = sizeof buf;
      int rc = deflate(&z_, flush);
      if (rc == Z_STREAM_ERROR) {
        error_ = "zlib failed";
        return false;
      }
      size_t produced = sizeof buf - z_.avail_out;
      if (produced > 0 && !Out(buf, produced)) return false;
      if (flush == Z_FINISH ? rc == Z_STREAM_END : z_.avail_in == 0 && z_.avail_out != 0) return true;
    }
  }

  std::string path_;
  bool gzip_;
  FILE* file_ = nullptr;
  z_stream z_{};
  bool z_ready_ = false;
  Sha256 tar_hash_, out_hash_;
  uint64_t size_ = 0;
  std::string error_;
};

la_ssize_t WriteCallback(archive*, void* sink, const void* data, size_t n) {
  return static_cast<Sink*>(sink)->Write(data, n) ? static_cast<la_ssize_t>(n) : -1;
}

// Every path under `source_dir`, relative, sorted byte-wise, so that the order never depends on the file system.
StatusOr<std::vector<fs::path>> SortedTree(const std::string& source_dir) {
  std::error_code ec;
  if (!fs::is_directory(source_dir, ec)) return InvalidParameterError("Cannot archive " + source_dir + ": not a folder.");
  std::vector<fs::path> paths;
  for (auto it = fs::recursive_directory_iterator(source_dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    paths.push_back(it->path().lexically_relative(source_dir));  // fs::relative would follow symlinks
  }
  if (ec) return InvalidParameterError("Cannot read " + source_dir + ": " + ec.message());
  std::sort(paths.begin(), paths.end(),
            [](const fs::path& a, const fs::path& b) { return a.generic_string() < b.generic_string(); });
  return paths;
}

// The tree's entries (under `prefix`, with its parent folders when asked) into the open archive `a`.
Status WriteEntries(archive* a, const std::string& source_dir, const std::vector<fs::path>& paths,
                    const std::string& prefix_option, bool parent_dirs, int64_t mtime, const std::string& out_path) {
  std::error_code ec;
  std::unique_ptr<archive_entry, EntryDeleter> entry(archive_entry_new());
  auto start = [&](const std::string& name) {
    archive_entry_clear(entry.get());
    archive_entry_copy_pathname(entry.get(), name.c_str());
    archive_entry_set_uid(entry.get(), 0);
    archive_entry_set_gid(entry.get(), 0);
    archive_entry_set_mtime(entry.get(), mtime, 0);
  };
  std::string prefix = prefix_option.empty() ? "" : fs::path(prefix_option).generic_string() + "/";
  if (parent_dirs) {
    for (size_t slash = prefix.find('/'); slash != std::string::npos; slash = prefix.find('/', slash + 1)) {
      start(prefix.substr(0, slash + 1));
      archive_entry_set_filetype(entry.get(), AE_IFDIR);
      archive_entry_set_perm(entry.get(), 0755);
      if (archive_write_header(a, entry.get()) != ARCHIVE_OK) return ArchiveError(a, out_path);
    }
  }
  std::vector<char> buffer(1 << 16);
  for (const fs::path& rel : paths) {
    fs::path full = fs::path(source_dir) / rel;
    auto status = fs::symlink_status(full, ec);
    if (ec) return InvalidParameterError("Cannot read " + full.string() + ": " + ec.message());
    start(prefix + rel.generic_string());
    bool executable = (status.permissions() & fs::perms::owner_exec) != fs::perms::none;
    if (fs::is_symlink(status)) {
      archive_entry_set_filetype(entry.get(), AE_IFLNK);
      archive_entry_set_perm(entry.get(), 0777);
      archive_entry_copy_symlink(entry.get(), fs::read_symlink(full, ec).generic_string().c_str());
    } else if (fs::is_directory(status)) {
      archive_entry_set_filetype(entry.get(), AE_IFDIR);
      archive_entry_set_perm(entry.get(), 0755);
    } else if (fs::is_regular_file(status)) {
      archive_entry_set_filetype(entry.get(), AE_IFREG);
      archive_entry_set_perm(entry.get(), executable ? 0755 : 0644);
      archive_entry_set_size(entry.get(), static_cast<la_int64_t>(fs::file_size(full, ec)));
    } else {
      return InvalidParameterError("Cannot archive " + full.string() + ": only files, folders and symlinks can be.");
    }
    if (archive_write_header(a, entry.get()) != ARCHIVE_OK) return ArchiveError(a, out_path);
    if (fs::is_regular_file(status)) {
      std::ifstream in(full, std::ios::binary);
      if (!in) return InvalidParameterError("Cannot read " + full.string());
      while (in) {
        in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
        std::streamsize n = in.gcount();
        if (n > 0 && archive_write_data(a, buffer.data(), static_cast<size_t>(n)) < 0) return ArchiveError(a, out_path);
      }
    }
  }
  if (archive_write_close(a) != ARCHIVE_OK) return ArchiveError(a, out_path);
  return OkStatus();
}

}  // namespace

StatusOr<TarResult> WriteTar(const std::string& source_dir, const std::string& out_path, const TarOptions& options) {
  StatusOr<std::vector<fs::path>> paths = SortedTree(source_dir);
  if (!paths.ok()) return paths.status();
  Sink sink(out_path, options.gzip, options.gzip_level);
  if (!sink.ok()) return InternalError("Cannot write the archive " + out_path + ": cannot create the file.");
  std::unique_ptr<archive, ArchiveDeleter> a(archive_write_new());
  archive_write_set_format_pax_restricted(a.get());
  // Names as raw bytes: the same header whatever the process locale (and no libarchive conversion crash).
  archive_write_set_options(a.get(), "pax:hdrcharset=BINARY");
  archive_write_set_bytes_in_last_block(a.get(), 1);
  if (archive_write_open2(a.get(), &sink, nullptr, WriteCallback, nullptr, nullptr) != ARCHIVE_OK) {
    return ArchiveError(a.get(), out_path);
  }
  MLFLOW_BRIDGE_RETURN_IF_ERROR(
      WriteEntries(a.get(), source_dir, *paths, options.prefix, options.parent_dirs, options.mtime, out_path));
  return sink.Finish();
}

StatusOr<TarResult> WriteZip(const std::string& source_dir, const std::string& out_path, int64_t mtime) {
  StatusOr<std::vector<fs::path>> paths = SortedTree(source_dir);
  if (!paths.ok()) return paths.status();
  Sink sink(out_path, /*gzip=*/false, 0);
  if (!sink.ok()) return InternalError("Cannot write the archive " + out_path + ": cannot create the file.");
  std::unique_ptr<archive, ArchiveDeleter> a(archive_write_new());
  archive_write_set_format_zip(a.get());
  archive_write_set_options(a.get(), "zip:compression=deflate");
  if (archive_write_open2(a.get(), &sink, nullptr, WriteCallback, nullptr, nullptr) != ARCHIVE_OK) {
    return ArchiveError(a.get(), out_path);
  }
  MLFLOW_BRIDGE_RETURN_IF_ERROR(WriteEntries(a.get(), source_dir, *paths, "", false, mtime, out_path));
  return sink.Finish();
}

}  // namespace mlflow_bridge::internal
