#include "common/archive.h"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
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

}  // namespace

Status WriteTar(const std::string& source_dir, const std::string& out_path, const TarOptions& options) {
  std::error_code ec;
  if (!fs::is_directory(source_dir, ec)) return InvalidParameterError("Cannot archive " + source_dir + ": not a folder.");

  // Every path, sorted byte-wise, so that the order never depends on the file system.
  std::vector<fs::path> paths;
  for (auto it = fs::recursive_directory_iterator(source_dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    paths.push_back(it->path().lexically_relative(source_dir));  // fs::relative would follow symlinks
  }
  if (ec) return InvalidParameterError("Cannot read " + source_dir + ": " + ec.message());
  std::sort(paths.begin(), paths.end(), [](const fs::path& a, const fs::path& b) { return a.generic_string() < b.generic_string(); });

  std::unique_ptr<archive, ArchiveDeleter> a(archive_write_new());
  archive_write_set_format_pax_restricted(a.get());
  if (options.gzip) {
    archive_write_add_filter_gzip(a.get());
    archive_write_set_options(a.get(), "gzip:!timestamp");
  }
  archive_write_set_bytes_in_last_block(a.get(), 1);
  if (archive_write_open_filename(a.get(), out_path.c_str()) != ARCHIVE_OK) return ArchiveError(a.get(), out_path);

  std::unique_ptr<archive_entry, EntryDeleter> entry(archive_entry_new());
  std::vector<char> buffer(1 << 16);
  std::string prefix = options.prefix.empty() ? "" : fs::path(options.prefix).generic_string() + "/";
  for (const fs::path& rel : paths) {
    fs::path full = fs::path(source_dir) / rel;
    auto status = fs::symlink_status(full, ec);
    if (ec) return InvalidParameterError("Cannot read " + full.string() + ": " + ec.message());
    archive_entry_clear(entry.get());
    archive_entry_set_pathname(entry.get(), (prefix + rel.generic_string()).c_str());
    archive_entry_set_uid(entry.get(), 0);
    archive_entry_set_gid(entry.get(), 0);
    archive_entry_set_mtime(entry.get(), options.mtime, 0);
    bool executable = (status.permissions() & fs::perms::owner_exec) != fs::perms::none;
    if (fs::is_symlink(status)) {
      archive_entry_set_filetype(entry.get(), AE_IFLNK);
      archive_entry_set_perm(entry.get(), 0777);
      archive_entry_set_symlink(entry.get(), fs::read_symlink(full, ec).generic_string().c_str());
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
    if (archive_write_header(a.get(), entry.get()) != ARCHIVE_OK) return ArchiveError(a.get(), out_path);
    if (fs::is_regular_file(status)) {
      std::ifstream in(full, std::ios::binary);
      if (!in) return InvalidParameterError("Cannot read " + full.string());
      while (in) {
        in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
        std::streamsize n = in.gcount();
        if (n > 0 && archive_write_data(a.get(), buffer.data(), static_cast<size_t>(n)) < 0) {
          return ArchiveError(a.get(), out_path);
        }
      }
    }
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) return ArchiveError(a.get(), out_path);
  return OkStatus();
}

}  // namespace mlflow_bridge::internal
