#include "common/archive.h"
#include "common/crypto.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace fs = std::filesystem;

namespace mlflow_bridge::internal {
namespace {

struct Entry {
  std::string path;
  int type;
  int perm;
  int64_t uid, gid, mtime;
  std::string content, link;
};

std::vector<Entry> ReadTar(const std::string& path) {
  std::vector<Entry> out;
  archive* a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_all(a);
  EXPECT_EQ(archive_read_open_filename(a, path.c_str(), 1 << 16), ARCHIVE_OK);
  archive_entry* e;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    Entry x{archive_entry_pathname(e),
            static_cast<int>(archive_entry_filetype(e)),
            static_cast<int>(archive_entry_perm(e)),
            archive_entry_uid(e),
            archive_entry_gid(e),
            archive_entry_mtime(e),
            "",
            ""};
    if (archive_entry_symlink(e)) x.link = archive_entry_symlink(e);
    char buf[4096];
    la_ssize_t n;
    while ((n = archive_read_data(a, buf, sizeof buf)) > 0) x.content.append(buf, static_cast<size_t>(n));
    out.push_back(x);
  }
  archive_read_free(a);
  return out;
}

std::string Bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class ArchiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "mlflow-bridge-archive-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    src_ = root_ / "model";
    fs::create_directories(src_ / "code" / "pkg");
    Write(src_ / "MLmodel", "flavors: {}\n");
    Write(src_ / "code" / "pkg" / "m.py", "print(1)\n");
    Write(src_ / "run.sh", "#!/bin/sh\n");
    fs::permissions(src_ / "run.sh", fs::perms::owner_all);
    fs::create_symlink("MLmodel", src_ / "link");
    std::string big(300000, 'x');
    for (size_t i = 0; i < big.size(); i += 7) big[i] = static_cast<char>('a' + i % 26);
    Write(src_ / "weights.bin", big);
  }
  void TearDown() override { fs::remove_all(root_); }
  static void Write(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

  fs::path root_, src_;
};

TEST_F(ArchiveTest, EntriesAreSortedNormalisedAndComplete) {
  std::string out = (root_ / "model.tar.gz").string();
  ASSERT_TRUE(WriteTar(src_.string(), out).ok());
  auto entries = ReadTar(out);
  std::vector<std::string> names;
  for (const auto& e : entries) names.push_back(e.path);
  EXPECT_EQ(names,
            (std::vector<std::string>{"MLmodel", "code/", "code/pkg/", "code/pkg/m.py", "link", "run.sh", "weights.bin"}));
  for (const auto& e : entries) {
    EXPECT_EQ(e.uid, 0) << e.path;
    EXPECT_EQ(e.gid, 0) << e.path;
    EXPECT_EQ(e.mtime, 0) << e.path;
  }
  EXPECT_EQ(entries[0].content, "flavors: {}\n");
  EXPECT_EQ(entries[0].perm, 0644);
  EXPECT_EQ(entries[1].type, AE_IFDIR);
  EXPECT_EQ(entries[1].perm, 0755);
  EXPECT_EQ(entries[4].type, AE_IFLNK);
  EXPECT_EQ(entries[4].link, "MLmodel");
  EXPECT_EQ(entries[5].perm, 0755);
  EXPECT_EQ(entries[6].content.size(), 300000u);
}

TEST_F(ArchiveTest, SameTreeGivesSameBytes) {
  std::string a = (root_ / "a.tar.gz").string(), b = (root_ / "b.tar.gz").string();
  ASSERT_TRUE(WriteTar(src_.string(), a).ok());
  // Touch everything: new mtimes must not change the archive.
  for (const auto& e : fs::recursive_directory_iterator(src_)) {
    if (!fs::is_symlink(e.symlink_status())) fs::last_write_time(e.path(), fs::file_time_type::clock::now());
  }
  sleep(1);
  ASSERT_TRUE(WriteTar(src_.string(), b).ok());
  EXPECT_EQ(Bytes(a), Bytes(b));
  EXPECT_EQ(Bytes(a).substr(0, 2), std::string("\x1f\x8b", 2));  // gzip
}

// A model artifact for OCI Data Science: a zip with the files at its root; the same tree gives the same bytes.
TEST_F(ArchiveTest, ZipOfTheTreeAtItsRoot) {
  std::string a = (root_ / "a.zip").string(), b = (root_ / "b.zip").string();
  auto written = WriteZip(src_.string(), a, 315532800);  // 1980-01-01, the first time a zip can hold
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  EXPECT_EQ(written->size, fs::file_size(a));
  EXPECT_EQ(Bytes(a).substr(0, 2), "PK");
  auto entries = ReadTar(a);  // libarchive reads zips too
  std::vector<std::string> names;
  for (const auto& e : entries) names.push_back(e.path);
  EXPECT_EQ(names,
            (std::vector<std::string>{"MLmodel", "code/", "code/pkg/", "code/pkg/m.py", "link", "run.sh", "weights.bin"}));
  EXPECT_EQ(entries[0].content, "flavors: {}\n");
  EXPECT_EQ(entries[6].content.size(), 300000u);
  EXPECT_LT(written->size, 300000u);  // deflated
  sleep(1);
  ASSERT_TRUE(WriteZip(src_.string(), b, 315532800).ok());
  EXPECT_EQ(Bytes(a), Bytes(b));
}

TEST_F(ArchiveTest, PrefixAndPlainTar) {
  std::string out = (root_ / "layer.tar").string();
  ASSERT_TRUE(WriteTar(src_.string(), out, TarOptions{"opt/ml/model", false, 1700000000}).ok());
  auto entries = ReadTar(out);
  ASSERT_FALSE(entries.empty());
  EXPECT_EQ(entries[0].path, "opt/ml/model/MLmodel");
  EXPECT_EQ(entries[0].mtime, 1700000000);
  EXPECT_NE(Bytes(out).substr(0, 2), std::string("\x1f\x8b", 2));
}

TEST_F(ArchiveTest, DigestsOfTheBlobAndOfTheTarInside) {
  std::string gz = (root_ / "layer.tar.gz").string(), tar = (root_ / "layer.tar").string();
  TarOptions layer;
  layer.prefix = "opt/ml/model";
  layer.parent_dirs = true;
  auto zipped = WriteTar(src_.string(), gz, layer);
  ASSERT_TRUE(zipped.ok()) << zipped.status().ToString();
  layer.gzip = false;
  auto plain = WriteTar(src_.string(), tar, layer);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(zipped->digest, Sha256Digest(Bytes(gz)));
  EXPECT_EQ(zipped->size, Bytes(gz).size());
  EXPECT_EQ(plain->digest, Sha256Digest(Bytes(tar)));
  EXPECT_EQ(plain->diff_id, plain->digest);
  EXPECT_EQ(zipped->diff_id, plain->digest);  // the same tar inside the gzip
  EXPECT_LT(zipped->size, plain->size);
  // gzip header: no modification time, no file name.
  EXPECT_EQ(Bytes(gz).substr(3, 5), std::string("\0\0\0\0\0", 5));
  auto entries = ReadTar(gz);
  ASSERT_GE(entries.size(), 4u);
  EXPECT_EQ(entries[0].path, "opt/");
  EXPECT_EQ(entries[1].path, "opt/ml/");
  EXPECT_EQ(entries[2].path, "opt/ml/model/");
  EXPECT_EQ(entries[2].type, AE_IFDIR);
  EXPECT_EQ(entries[3].path, "opt/ml/model/MLmodel");
}

TEST_F(ArchiveTest, NamesAreKeptAsBytes) {
  Write(src_ / "caf\xc3\xa9.txt", "x");
  Write(src_ / (std::string(150, 'n') + ".txt"), "long");
  std::string out = (root_ / "names.tar.gz").string();
  ASSERT_TRUE(WriteTar(src_.string(), out).ok());
  std::vector<std::string> names;
  for (const auto& e : ReadTar(out)) names.push_back(e.path);
  EXPECT_NE(std::find(names.begin(), names.end(), "caf\xc3\xa9.txt"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), std::string(150, 'n') + ".txt"), names.end());
}

TEST_F(ArchiveTest, ClearErrors) {
  Status s = WriteTar((root_ / "missing").string(), (root_ / "x.tar.gz").string()).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidParameterValue);
  EXPECT_NE(s.message().find("not a folder"), std::string::npos);
  s = WriteTar(src_.string(), (root_ / "no" / "such" / "dir" / "x.tar.gz").string()).status();
  EXPECT_EQ(s.code(), StatusCode::kInternalError);
  EXPECT_NE(s.message().find("x.tar.gz"), std::string::npos);
}

}  // namespace
}  // namespace mlflow_bridge::internal
