#include "azure/model_upload.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <system_error>
#include <tuple>
#include <utility>

#include "common/base64.h"
#include "common/crypto.h"
#include "common/md5.h"
#include "common/strings.h"
#include "mlflow_bridge/logging.h"

namespace mlflow_bridge::internal {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------------------------
// .amlignore / .gitignore: azure-ai-ml's vendored pathspec GitWildMatchPattern, rule for rule. Patterns become
// regular expressions over the path relative to the ignore file's folder ("dir/file.txt"). Python matches code
// points where this matches bytes: '?' and [...] differ on non-ASCII names.

struct IgnoreRules::Rule {
  std::regex re;
  bool include = true;  // true: excludes the path (it is "included" in the ignore list); false: "!pattern"
};

namespace {

bool IsAsciiAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

// A literal character in an ECMAScript regular expression (Python's re.escape leaves letters, digits and '_').
std::string RegexLiteral(char c) {
  if (IsAsciiAlnum(c) || c == '_' || static_cast<unsigned char>(c) >= 0x80) return std::string(1, c);
  return std::string("\\") + c;
}

// One path segment's glob as a regular expression; nullopt for a trailing escape character.
std::optional<std::string> SegmentGlobToRegex(const std::string& seg) {
  std::string re;
  bool escape = false;
  const size_t end = seg.size();
  size_t i = 0;
  while (i < end) {
    const char c = seg[i++];
    if (escape) {
      escape = false;
      re += RegexLiteral(c);
    } else if (c == '\\') {
      escape = true;
    } else if (c == '*') {
      re += "[^/]*";
    } else if (c == '?') {
      re += "[^/]";
    } else if (c == '[') {
      size_t j = i;
      if (j < end && seg[j] == '!') ++j;
      if (j < end && seg[j] == ']') ++j;
      while (j < end && seg[j] != ']') ++j;
      if (j < end) {
        ++j;  // past the closing bracket
        std::string expr = "[";
        if (seg[i] == '!') {
          expr += "^";
          ++i;
        } else if (seg[i] == '^') {
          expr += "\\^";
          ++i;
        }
        for (size_t k = i; k < j; ++k) expr += seg[k] == '\\' ? std::string("\\\\") : std::string(1, seg[k]);
        re += expr;
        i = j;
      } else {
        re += "\\[";
      }
    } else {
      re += RegexLiteral(c);
    }
  }
  if (escape) return std::nullopt;
  return re;
}

struct PatternRegex {
  std::optional<std::string> regex;  // nullopt: the line does nothing (blank, comment, "/")
  bool include = true;
};

// nullopt: an invalid pattern.
std::optional<PatternRegex> GitWildMatchToRegex(std::string_view line) {
  std::string pattern(Trim(line));
  PatternRegex out;
  if (pattern.empty() || pattern.front() == '#' || pattern == "/") return out;
  if (pattern.front() == '!') {
    out.include = false;
    pattern.erase(0, 1);
  }
  std::vector<std::string> segs;
  for (size_t pos = 0;;) {
    size_t slash = pattern.find('/', pos);
    segs.push_back(pattern.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos));
    if (slash == std::string::npos) break;
    pos = slash + 1;
  }
  for (size_t i = segs.size() - 1; i > 0; --i)  // "**/**" is "**"
    if (segs[i - 1] == "**" && segs[i] == "**") segs.erase(segs.begin() + static_cast<std::ptrdiff_t>(i));
  std::optional<std::string> override_regex;
  if (segs.size() == 2 && segs[0] == "**" && segs[1].empty()) override_regex = "^.+/.*$";  // "**/"
  if (segs[0].empty()) {
    segs.erase(segs.begin());  // "/x": anchored to the root
  } else if (segs.size() == 1 || (segs.size() == 2 && segs[1].empty())) {
    if (segs[0] != "**") segs.insert(segs.begin(), "**");  // "x" and "x/": at any depth
  }
  if (segs.empty()) return std::nullopt;
  if (segs.size() > 1 && segs.back().empty()) segs.back() = "**";  // "x/": everything below
  if (override_regex) {
    out.regex = *override_regex;
    return out;
  }
  std::string re = "^";
  bool need_slash = false;
  const size_t end = segs.size() - 1;
  for (size_t i = 0; i < segs.size(); ++i) {
    const std::string& seg = segs[i];
    if (seg == "**") {
      if (i == 0 && i == end) {
        re += ".+";
      } else if (i == 0) {
        re += "(?:.+/)?";
        need_slash = false;
      } else if (i == end) {
        re += "/.*";
      } else {
        re += "(?:/.+)?";
        need_slash = true;
      }
    } else {
      if (need_slash) re += "/";
      if (seg == "*") {
        re += "[^/]+";
      } else {
        std::optional<std::string> glob = SegmentGlobToRegex(seg);
        if (!glob) return std::nullopt;
        re += *glob;
      }
      if (i == end) re += "(?:/.*)?";
      need_slash = true;
    }
  }
  re += "$";
  out.regex = re;
  return out;
}

}  // namespace

StatusOr<IgnoreRules> IgnoreRules::Parse(const std::string& text_in, const std::string& source) {
  std::string_view text = text_in;
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);  // read as utf-8-sig
  IgnoreRules rules;
  int line_no = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t eol = text.find_first_of("\r\n", pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + (text.substr(eol, 2) == "\r\n" ? 2 : 1);
    ++line_no;
    std::optional<PatternRegex> p = GitWildMatchToRegex(line);
    auto bad = [&] {
      return InvalidParameterError(source + " line " + std::to_string(line_no) + ": '" + std::string(Trim(line)) +
                                   "' is not a valid gitignore pattern (azure-ai-ml rejects it too)");
    };
    if (!p) return bad();
    if (!p->regex) continue;
    try {
      rules.rules_.push_back(std::make_shared<const Rule>(Rule{std::regex(*p->regex, std::regex::ECMAScript), p->include}));
    } catch (const std::regex_error&) {
      return bad();
    }
  }
  return rules;
}

bool IgnoreRules::Excluded(const std::string& relative) const {
  bool excluded = false;
  for (const auto& rule : rules_)
    if (std::regex_search(relative, rule->re)) excluded = rule->include;
  return excluded;
}

// ---------------------------------------------------------------------------------------------------------------
// Hash and listing

namespace {

// The folder's ignore file as get_ignore_file finds it: .amlignore, else .gitignore, in the root.
struct IgnoreFile {
  std::string path;  // empty: none
  fs::path base;     // the resolved ignore file's folder
  IgnoreRules rules;

  bool Excluded(const fs::path& p) const {
    if (path.empty() || rules.empty()) return false;
    std::string rel = p.lexically_normal().lexically_relative(base).generic_string();
    if (rel.empty()) return true;  // not expressible relative to the base (Python: another drive)
    if (rel.starts_with("./")) rel.erase(0, 2);
    return rules.Excluded(rel);
  }
};

StatusOr<IgnoreFile> FindIgnoreFile(const fs::path& folder) {
  IgnoreFile f;
  for (const char* name : {".amlignore", ".gitignore"}) {
    std::error_code ec;
    const fs::path candidate = folder / name;
    if (!fs::exists(candidate, ec)) continue;
    const fs::path resolved = fs::canonical(candidate, ec);
    std::ifstream in(resolved, std::ios::binary);
    if (ec || !fs::is_regular_file(resolved, ec) || !in)
      return InvalidParameterError("cannot read the ignore file '" + candidate.string() + "'");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    StatusOr<IgnoreRules> rules = IgnoreRules::Parse(text, candidate.string());
    if (!rules.ok()) return rules.status();
    f.path = candidate.string();
    f.base = resolved.parent_path();
    f.rules = std::move(*rules);
    return f;
  }
  return f;
}

// Python's str.lower() for the letters of ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic; other code
// points (and invalid UTF-8) are kept as they are.
std::string LowerForSort(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
      ++i;
      continue;
    }
    if ((c & 0xE0) == 0xC0 && i + 1 < s.size() && (static_cast<unsigned char>(s[i + 1]) & 0xC0) == 0x80) {
      uint32_t cp = ((c & 0x1F) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3F);
      if ((cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) || (cp >= 0x391 && cp <= 0x3AB && cp != 0x3A2) ||
          (cp >= 0x410 && cp <= 0x42F)) {
        cp += 0x20;  // Latin-1 À-Þ, Greek Α-Ϋ, Cyrillic А-Я
      } else if (cp >= 0x400 && cp <= 0x40F) {
        cp += 0x50;  // Ѐ-Џ
      } else if (cp == 0x178) {
        cp = 0xFF;  // Ÿ
      } else if ((cp >= 0x100 && cp <= 0x137 && cp != 0x130) || (cp >= 0x14A && cp <= 0x177)) {
        if (cp % 2 == 0) ++cp;  // Latin Extended-A pairs: upper case even (İ has no one-letter lower case)
      } else if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E)) {
        if (cp % 2 == 1) ++cp;  // ... upper case odd
      }
      out += static_cast<char>(0xC0 | (cp >> 6));  // every result is below U+0800: two bytes again
      out += static_cast<char>(0x80 | (cp & 0x3F));
      i += 2;
      continue;
    }
    out += static_cast<char>(c);
    ++i;
  }
  return out;
}

Status HashFileInto(const fs::path& file, Sha256& h) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return InvalidParameterError("cannot read '" + file.string() + "'");
  std::vector<char> buf(1 << 16);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0) h.Update(buf.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) return InvalidParameterError("cannot read '" + file.string() + "'");
  return OkStatus();
}

// The entries of `dir` in get_object_hash's order: by lower-cased name (the directory part of the path is the
// same for all), then by name.
StatusOr<std::vector<std::string>> SortedEntries(const fs::path& dir) {
  std::vector<std::pair<std::string, std::string>> keyed;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    keyed.emplace_back(LowerForSort(it->path().filename().string()), it->path().filename().string());
  if (ec) return InvalidParameterError("cannot list the folder '" + dir.string() + "': " + ec.message());
  std::sort(keyed.begin(), keyed.end());
  std::vector<std::string> names;
  for (auto& [k, n] : keyed) names.push_back(std::move(n));
  return names;
}

// _get_dir_hash: `dir` is the path as Python holds it (a linked directory by its resolved path). `active`: the
// resolved directories being hashed, to stop at a link cycle.
Status HashDir(const fs::path& dir, Sha256& h, const IgnoreFile& ignore, std::set<fs::path>& active) {
  std::error_code ec;
  const fs::path real = fs::canonical(dir, ec);
  if (ec) return InvalidParameterError("cannot resolve '" + dir.string() + "': " + ec.message());
  if (!active.insert(real).second)
    return InvalidParameterError("the model folder has a symbolic link cycle at '" + dir.string() + "'");
  StatusOr<std::vector<std::string>> names = SortedEntries(dir);
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    fs::path p = dir / name;
    if (ignore.Excluded(p)) continue;
    h.Update(name);
    if (fs::is_symlink(p, ec)) {
      fs::path target = fs::canonical(p, ec);
      if (ec) return InvalidParameterError("the symbolic link '" + p.string() + "' in the model folder is broken");
      p = target;
    }
    if (fs::is_regular_file(p, ec)) {
      MLFLOW_BRIDGE_RETURN_IF_ERROR(HashFileInto(p, h));
    } else if (fs::is_directory(p, ec)) {
      MLFLOW_BRIDGE_RETURN_IF_ERROR(HashDir(p, h, ignore, active));
    } else {
      return InvalidParameterError("'" + p.string() + "' in the model folder is not a regular file or folder");
    }
  }
  active.erase(real);
  return OkStatus();
}

StatusOr<std::string> FolderHash(const fs::path& folder, const IgnoreFile& ignore) {
  Sha256 h;
  h.Update(kObjectHashSalt);
  std::set<fs::path> active;
  MLFLOW_BRIDGE_RETURN_IF_ERROR(HashDir(folder, h, ignore, active));
  return h.Hex();
}

// get_upload_files_from_folder: os.walk(followlinks=True) of the resolved folder; each file's exclusion is
// checked on <resolved directory>/<name>, its local path is its resolved path and its relative path goes
// through links as they are named.
Status WalkFiles(const fs::path& dir, const std::string& relative_dir, const IgnoreFile& ignore, std::set<fs::path>& active,
                 std::vector<ModelFolderFile>& out) {
  std::error_code ec;
  const fs::path real = fs::canonical(dir, ec);
  if (ec) return InvalidParameterError("cannot resolve '" + dir.string() + "': " + ec.message());
  if (!active.insert(real).second)
    return InvalidParameterError("the model folder has a symbolic link cycle at '" + dir.string() + "'");
  StatusOr<std::vector<std::string>> names = SortedEntries(dir);
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    const fs::path p = dir / name;
    const std::string rel = relative_dir.empty() ? name : relative_dir + "/" + name;
    if (fs::is_directory(p, ec)) {  // follows links, as os.walk(followlinks=True) does
      MLFLOW_BRIDGE_RETURN_IF_ERROR(WalkFiles(p, rel, ignore, active, out));
      continue;
    }
    if (ignore.Excluded(real / name)) continue;
    const fs::path local = fs::canonical(p, ec);
    if (ec) return InvalidParameterError("the symbolic link '" + p.string() + "' in the model folder is broken");
    if (!fs::is_regular_file(local, ec))
      return InvalidParameterError("'" + p.string() + "' in the model folder is not a regular file");
    const uintmax_t size = fs::file_size(local, ec);
    if (ec) return InvalidParameterError("cannot read the size of '" + p.string() + "': " + ec.message());
    out.push_back(ModelFolderFile{local.string(), rel, "", static_cast<uint64_t>(size)});
  }
  active.erase(real);
  return OkStatus();
}

StatusOr<fs::path> ResolveExisting(const std::string& path) {
  std::error_code ec;
  if (path.empty()) return InvalidParameterError("no model folder given");
  if (!fs::exists(path, ec)) return InvalidParameterError("no such file or directory: '" + path + "'");
  fs::path resolved = fs::canonical(fs::absolute(path, ec), ec);
  if (ec) return InvalidParameterError("cannot resolve '" + path + "': " + ec.message());
  return resolved;
}

}  // namespace

StatusOr<std::string> ObjectHash(const std::string& path) {
  StatusOr<fs::path> resolved = ResolveExisting(path);
  if (!resolved.ok()) return resolved.status();
  std::error_code ec;
  if (fs::is_directory(*resolved, ec)) {
    StatusOr<IgnoreFile> ignore = FindIgnoreFile(*resolved);
    if (!ignore.ok()) return ignore.status();
    return FolderHash(*resolved, *ignore);
  }
  Sha256 h;
  h.Update(kObjectHashSalt);
  MLFLOW_BRIDGE_RETURN_IF_ERROR(HashFileInto(*resolved, h));
  return h.Hex();
}

StatusOr<ModelFolder> ScanModelFolder(const std::string& folder) {
  StatusOr<fs::path> resolved = ResolveExisting(folder);
  if (!resolved.ok()) return resolved.status();
  std::error_code ec;
  if (!fs::is_directory(*resolved, ec))
    return InvalidParameterError("'" + folder + "' is not a folder; an MLflow model is a folder with an MLmodel file");
  StatusOr<IgnoreFile> ignore = FindIgnoreFile(*resolved);
  if (!ignore.ok()) return ignore.status();

  ModelFolder m;
  m.path = resolved->string();
  m.name = resolved->filename().string();
  m.ignore_file = ignore->path;
  StatusOr<std::string> hash = FolderHash(*resolved, *ignore);
  if (!hash.ok()) return hash.status();
  m.hash = *hash;
  std::set<fs::path> active;
  MLFLOW_BRIDGE_RETURN_IF_ERROR(WalkFiles(*resolved, "", *ignore, active, m.files));
  if (m.files.empty())
    return InvalidParameterError("Directory " + folder + " is empty. path or local_path must be a non-empty directory." +
                                 (m.ignore_file.empty() ? "" : " (" + m.ignore_file + " excludes every file)"));
  const std::string prefix = m.blob_prefix() + "/";
  for (ModelFolderFile& f : m.files) {
    f.blob_name = prefix + f.relative;
    m.total_bytes += f.size;
  }
  std::sort(m.files.begin(), m.files.end(), [](const ModelFolderFile& a, const ModelFolderFile& b) {
    return std::tie(a.local_path, a.blob_name) < std::tie(b.local_path, b.blob_name);
  });
  return m;
}

// ---------------------------------------------------------------------------------------------------------------
// Upload

std::string BlockId(uint64_t index) {
  char digits[64];
  std::snprintf(digits, sizeof(digits), "%048llu", static_cast<unsigned long long>(index));
  return Base64Encode(digits);
}

std::string AzureMlDatastoreUri(const std::string& subscription, const std::string& resource_group,
                                const std::string& workspace, const std::string& datastore, const std::string& path) {
  return "azureml://subscriptions/" + subscription + "/resourcegroups/" + resource_group + "/workspaces/" + workspace +
         "/datastores/" + datastore + "/paths/" + path;
}

namespace {

constexpr uint64_t kMaxBlocks = 50'000;                              // committed blocks per blob
constexpr uint64_t kMaxBlockSize = 4000 * ModelUploadOptions::kMiB;  // x-ms-version 2019-12-12 and later

std::string ReplaceAll(std::string s, std::string_view from, std::string_view to) {
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) s.replace(pos, from.size(), to);
  return s;
}

// base64 MD5 of `length` bytes of `path` from `offset`.
StatusOr<std::string> FileRegionMd5(const std::string& path, uint64_t offset, uint64_t length) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidParameterError("cannot read '" + path + "'");
  in.seekg(static_cast<std::streamoff>(offset));
  Md5 h;
  std::vector<char> buf(1 << 16);
  uint64_t left = length;
  while (left > 0 && in) {
    in.read(buf.data(), static_cast<std::streamsize>(std::min<uint64_t>(left, buf.size())));
    const auto n = static_cast<uint64_t>(in.gcount());
    if (n == 0) break;
    h.Update(buf.data(), n);
    left -= n;
  }
  if (left != 0) return InvalidParameterError("'" + path + "' became shorter while it was uploaded");
  return Base64Encode(h.Digest());
}

class Uploader {
 public:
  Uploader(BlobStub& stub, std::string container, const ModelUploadOptions& options)
      : stub_(stub),
        container_(std::move(container)),
        options_(options),
        clock_(options.clock ? options.clock : SystemClock()) {}

  StatusOr<std::optional<BlobProperties>> Head(const std::string& blob) {
    return Retried<std::optional<BlobProperties>>("Azure Storage GetBlobProperties " + blob, 0,
                                                  [&] { return stub_.GetProperties(container_, blob); });
  }

  Status UploadFile(const ModelFolderFile& f, bool overwrite, uint64_t& done, uint64_t total) {
    if (f.size <= options_.single_put_limit) {
      PutBlobOptions put;
      if (f.size > 0) {  // azure-ai-ml: validate_content = size > 0
        StatusOr<std::string> md5 = FileRegionMd5(f.local_path, 0, f.size);
        if (!md5.ok()) return md5.status();
        put.content_md5 = *md5;
      }
      put.if_none_match = !overwrite;
      const BlobBody body = BlobBody::FromFile(f.local_path, 0, f.size);
      Status s = RetriedStatus("Azure Storage PutBlob " + f.blob_name, f.size,
                               [&] { return stub_.PutBlob(container_, f.blob_name, body, put); });
      if (s.code() == StatusCode::kResourceAlreadyExists && put.if_none_match) {
        LogInfo("Blob " + f.blob_name +
                " already exists (an earlier or concurrent upload of the same content); writing it again");
        put.if_none_match = false;
        s = RetriedStatus("Azure Storage PutBlob " + f.blob_name, f.size,
                          [&] { return stub_.PutBlob(container_, f.blob_name, body, put); });
      }
      if (!s.ok()) return s;
      done += f.size;
      Progress(done, total);
      return OkStatus();
    }

    uint64_t block = std::max<uint64_t>(1, options_.block_size);
    if ((f.size + block - 1) / block > kMaxBlocks) {
      const uint64_t needed = (f.size + kMaxBlocks - 1) / kMaxBlocks;
      block = (needed + ModelUploadOptions::kMiB - 1) / ModelUploadOptions::kMiB * ModelUploadOptions::kMiB;
      if (block > kMaxBlockSize)
        return InvalidParameterError("'" + f.local_path +
                                     "' is larger than a block blob can be (50,000 blocks of 4000 MiB)");
    }
    std::vector<std::string> ids;
    for (uint64_t offset = 0, index = 0; offset < f.size; offset += block, ++index) {
      const uint64_t n = std::min(block, f.size - offset);
      StatusOr<std::string> md5 = FileRegionMd5(f.local_path, offset, n);
      if (!md5.ok()) return md5.status();
      const std::string id = BlockId(index);
      const BlobBody body = BlobBody::FromFile(f.local_path, offset, n);
      MLFLOW_BRIDGE_RETURN_IF_ERROR(RetriedStatus("Azure Storage PutBlock " + std::to_string(index) + " of " + f.blob_name,
                                                  n,
                                                  [&] { return stub_.PutBlock(container_, f.blob_name, id, body, *md5); }));
      ids.push_back(id);
      done += n;
      Progress(done, total);
    }
    PutBlockListOptions list;
    list.if_none_match = !overwrite;
    Status s = RetriedStatus("Azure Storage PutBlockList " + f.blob_name, 0,
                             [&] { return stub_.PutBlockList(container_, f.blob_name, ids, list); });
    if (s.code() == StatusCode::kResourceAlreadyExists && list.if_none_match) {
      LogInfo("Blob " + f.blob_name +
              " already exists (an earlier or concurrent upload of the same content); writing it again");
      list.if_none_match = false;
      s = RetriedStatus("Azure Storage PutBlockList " + f.blob_name, 0,
                        [&] { return stub_.PutBlockList(container_, f.blob_name, ids, list); });
    }
    return s;
  }

  Status Confirm(const std::string& indicator, const std::string& name, const std::string& version) {
    const std::map<std::string, std::string> metadata = {
        {"upload_status", "completed"}, {"name", name}, {"version", version}};
    return RetriedStatus("Azure Storage SetBlobMetadata " + indicator, 0,
                         [&] { return stub_.SetMetadata(container_, indicator, metadata); });
  }

 private:
  template <typename T>
  StatusOr<T> Retried(const std::string& what, uint64_t bytes, const std::function<StatusOr<T>()>& call) {
    RetryPolicy retry = options_.retry;
    if (bytes > 0) retry.deadline += BlobUploadTimeout(bytes);  // one slow attempt must not spend it all
    return RetryLoop<T>(retry, options_.backoff, Idempotency::kIdempotent, *clock_, what, call);
  }

  Status RetriedStatus(const std::string& what, uint64_t bytes, const std::function<Status()>& call) {
    StatusOr<bool> r = Retried<bool>(what, bytes, [&]() -> StatusOr<bool> {
      Status s = call();
      if (!s.ok()) return s;
      return true;
    });
    return r.ok() ? OkStatus() : r.status();
  }

  void Progress(uint64_t done, uint64_t total) const {
    if (options_.progress) options_.progress(done, total);
  }

  BlobStub& stub_;
  std::string container_;
  const ModelUploadOptions& options_;
  std::shared_ptr<Clock> clock_;
};

bool Confirmed(const std::optional<BlobProperties>& p) {
  if (!p) return false;
  auto it = p->metadata.find("upload_status");
  return it != p->metadata.end() && it->second == "completed";
}

std::string MetadataValue(const BlobProperties& p, const std::string& name) {
  auto it = p.metadata.find(name);
  return it == p.metadata.end() ? std::string() : it->second;
}

}  // namespace

StatusOr<ModelUploadResult> UploadModelFolder(const std::string& folder, BlobStub& stub, const std::string& container,
                                              const ModelUploadOptions& options) {
  if (options.asset_name.empty() || options.asset_version.empty())
    return InvalidParameterError("a model upload needs the model's name and version (they go into the upload's metadata)");
  if (options.single_put_limit > 5000 * ModelUploadOptions::kMiB)
    return InvalidParameterError("single_put_limit must be at most 5000 MiB (Put Blob's limit)");
  if (options.block_size == 0 || options.block_size > kMaxBlockSize)
    return InvalidParameterError("block_size must be 1 byte to 4000 MiB");
  StatusOr<ModelFolder> m = ScanModelFolder(folder);
  if (!m.ok()) return m.status();

  ModelUploadResult result;
  result.hash = m->hash;
  result.blob_prefix = m->blob_prefix();
  result.indicator_blob = m->files.front().blob_name;
  result.name = options.asset_name;
  result.version = options.asset_version;

  // The skip check (BlobStorageClient.check_blob_exists). The legacy name replaces every "LocalUpload", as
  // Python's str.replace does.
  Uploader up(stub, container, options);
  StatusOr<std::optional<BlobProperties>> indicator = up.Head(result.indicator_blob);
  if (!indicator.ok()) return indicator.status();
  bool overwrite = false;
  if (indicator->has_value()) {
    const std::string legacy_blob = ReplaceAll(result.indicator_blob, kLocalUploadDir, kLegacyUploadDir);
    StatusOr<std::optional<BlobProperties>> legacy = up.Head(legacy_blob);
    if (!legacy.ok()) return legacy.status();
    const std::optional<BlobProperties>* confirmed = nullptr;
    if (Confirmed(*legacy)) {
      confirmed = &*legacy;
      result.legacy = true;
      result.blob_prefix = ReplaceAll(result.blob_prefix, kLocalUploadDir, kLegacyUploadDir);
      result.indicator_blob = legacy_blob;
    } else if (Confirmed(*indicator)) {
      confirmed = &*indicator;
    }
    if (confirmed) {
      result.skipped = true;
      result.name = MetadataValue(**confirmed, "name");
      result.version = MetadataValue(**confirmed, "version");
      LogInfo("The model folder " + m->path + " was uploaded before (" + container + "/" + result.blob_prefix +
              "); not uploading it again");
      return result;
    }
    overwrite = true;
    result.overwrote = true;
    LogInfo("An unfinished upload of " + m->path + " is in " + container + "/" + result.blob_prefix +
            "; uploading it again");
  }

  LogInfo("Uploading " + m->path + " (" + std::to_string(m->files.size()) + (m->files.size() == 1 ? " file, " : " files, ") +
          std::to_string(m->total_bytes) + " bytes) to " + container + "/" + result.blob_prefix);
  uint64_t done = 0;
  for (const ModelFolderFile& f : m->files) {
    MLFLOW_BRIDGE_RETURN_IF_ERROR(up.UploadFile(f, overwrite, done, m->total_bytes));
    ++result.files;
  }
  result.bytes = done;
  MLFLOW_BRIDGE_RETURN_IF_ERROR(up.Confirm(result.indicator_blob, options.asset_name, options.asset_version));
  return result;
}

}  // namespace mlflow_bridge::internal
