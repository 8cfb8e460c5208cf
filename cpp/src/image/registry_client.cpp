#include "image/registry_client.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/crypto.h"
#include "common/strings.h"
#include "common/url.h"
#include "image/reference.h"
#include "mlflow_bridge/logging.h"

namespace mlflow_bridge::internal {
namespace {

using json = nlohmann::json;

constexpr int kMaxRedirects = 5;
constexpr size_t kMaxMessage = 300;

const char* const kManifestAccept =
    "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json";

std::string PullScope(const std::string& repo) { return "repository:" + repo + ":pull"; }
std::string PushScope(const std::string& repo) { return "repository:" + repo + ":pull,push"; }

bool IsRedirect(long code) { return code == 301 || code == 302 || code == 303 || code == 307 || code == 308; }

std::string AppendQuery(const std::string& url, const std::string& q) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + q;
}

// scheme://host[:port] of an absolute URL, lower-cased host; "" when not absolute.
std::string Origin(const std::string& url) {
  StatusOr<ParsedUrl> u = ParseUrl(url);
  if (!u.ok()) return "";
  return u->scheme + "://" + HostHeaderValue(*u);
}

std::string HostOfUrl(const std::string& url) {
  StatusOr<ParsedUrl> u = ParseUrl(url);
  return u.ok() ? HostHeaderValue(*u) : url;
}

// `location` relative to `current` (absolute URL).
std::string ResolveAgainst(const std::string& current, const std::string& location) {
  if (location.starts_with("http://") || location.starts_with("https://")) return location;
  std::string origin = Origin(current);
  if (location.starts_with("/")) return origin + location;
  std::string base = current.substr(0, current.find('?'));
  return base.substr(0, base.rfind('/') + 1) + location;
}

// Range: "0-<last>" (registry upload status) -> bytes the registry holds; 0-0 is ambiguous (0 or 1).
std::optional<uint64_t> ParseUploadRange(std::string_view range, bool* ambiguous) {
  range = Trim(range);
  if (range.starts_with("bytes=")) range.remove_prefix(6);
  size_t dash = range.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  std::string_view last = range.substr(dash + 1);
  if (last.empty() || last.size() > 19 || last.find_first_not_of("0123456789") != std::string_view::npos)
    return std::nullopt;
  uint64_t n = std::stoull(std::string(last));
  *ambiguous = n == 0;
  return n + 1;
}

// Content-Range: "bytes a-b/total" or "bytes */total".
struct ContentRange {
  std::optional<uint64_t> first;
  std::optional<uint64_t> total;
};
ContentRange ParseContentRange(std::string_view v) {
  ContentRange out;
  v = Trim(v);
  if (v.starts_with("bytes ")) v.remove_prefix(6);
  size_t slash = v.find('/');
  if (slash == std::string_view::npos) return out;
  auto num = [](std::string_view s) -> std::optional<uint64_t> {
    s = Trim(s);
    if (s.empty() || s.size() > 19 || s.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
    return std::stoull(std::string(s));
  };
  out.total = num(v.substr(slash + 1));
  std::string_view range = v.substr(0, slash);
  out.first = num(range.substr(0, range.find('-')));
  return out;
}

std::chrono::milliseconds TransferTimeout(uint64_t bytes) {
  return std::chrono::milliseconds(120'000 + static_cast<int64_t>(bytes / (128 * 1024)) * 1000);
}

std::string Truncate(std::string_view s) { return Excerpt(s, kMaxMessage); }

// The digest text for messages and URLs; only sha256 is supported.
Status CheckDigest(const std::string& digest) {
  if (!digest.starts_with("sha256:") || !IsValidDigest(digest))
    return InvalidParameterError("\"" + digest + "\" is not a sha256 digest (expected sha256:<64 lower-case hex digits>)");
  return OkStatus();
}

std::string ManifestRefShown(const std::string& registry, const std::string& repo, const std::string& reference) {
  return registry + "/" + repo + (reference.find(':') != std::string::npos ? "@" : ":") + reference;
}

}  // namespace

Status RegistryErrorStatus(const HttpResponse& r, const std::string& registry, const std::string& repository,
                           const std::string& operation, const std::string& credentials, const std::string& what,
                           std::chrono::system_clock::time_point now) {
  std::string code, message;
  json body = json::parse(r.body, nullptr, false);
  if (body.is_object() && body.contains("errors") && body["errors"].is_array() && !body["errors"].empty()) {
    const json& e = body["errors"][0];
    if (e.is_object()) {
      if (e.contains("code") && e["code"].is_string()) code = e["code"].get<std::string>();
      if (e.contains("message") && e["message"].is_string()) message = e["message"].get<std::string>();
    }
  }
  const long sc = r.status_code;
  const std::string reply =
      std::to_string(sc) + (code.empty() ? "" : " " + code) + (message.empty() ? "" : ": " + Truncate(Redact(message)));
  std::optional<std::chrono::milliseconds> retry_after;
  if (auto ra = r.Header("Retry-After")) retry_after = ParseRetryAfter(*ra, now);

  const std::string op_phrase = operation == "pull"    ? "pull of " + repository
                                : operation == "mount" ? "mount into " + repository
                                                       : "push to " + repository;
  auto refused = [&](StatusCode c, const std::string& advice) {
    return Status(c,
                  "Registry " + registry + " refused " + op_phrase + " with " + credentials + " (" + reply + "). " + advice);
  };
  bool insufficient_scope = false;
  if (auto wa = r.Header("WWW-Authenticate")) {
    std::optional<AuthChallenge> ch = ParseAuthChallenge(*wa);
    insufficient_scope = ch && ch->params.count("error") && ch->params.at("error") == "insufficient_scope";
  }
  if (code == "DENIED" || sc == 403 || (sc == 401 && insufficient_scope))
    return refused(StatusCode::kPermissionDenied, "Check that these credentials may " + operation + " " + repository +
                                                      (operation == "pull" ? " and that it exists." : "."));
  if (code == "UNAUTHORIZED" || sc == 401)
    return refused(StatusCode::kUnauthenticated, operation == "pull"
                                                     ? "Check the user name and password, and that the repository exists."
                                                     : "Check the user name and password.");

  const std::string text = "registry " + registry + ": " + what + ": " + reply;
  if (code == "TOOMANYREQUESTS" || sc == 429 || sc == 502 || sc == 503 || sc == 504) {
    Status s = UnavailableError(text);
    if (retry_after) s.set_retry_after(*retry_after);
    return s;
  }
  if (code == "NAME_UNKNOWN" || code == "MANIFEST_UNKNOWN" || code == "BLOB_UNKNOWN" || code == "BLOB_UPLOAD_UNKNOWN" ||
      (code.empty() && sc == 404))
    return NotFoundError(text);
  if (code == "DIGEST_INVALID" || code == "MANIFEST_BLOB_UNKNOWN")
    return InternalError(text + " (a bug in mlflow-bridge: it sent something inconsistent)");
  if (code == "NAME_INVALID" || code == "TAG_INVALID" || code == "MANIFEST_INVALID" || code == "SIZE_INVALID" ||
      code == "BLOB_UPLOAD_INVALID" || code == "UNSUPPORTED" || code == "PAGINATION_NUMBER_INVALID" ||
      code == "RANGE_INVALID" || code == "MANIFEST_UNVERIFIED" || (sc >= 400 && sc < 500))
    return InvalidParameterError(text);
  if (code.empty() && !r.body.empty()) return HttpErrorStatus(r, "registry " + registry + ": " + what);
  return InternalError(text);
}

struct RegistryClient::Op {
  std::string repo;
  std::string operation;  // "pull", "push", "mount"
  std::vector<std::string> scopes;
  std::string what;                                 // "GET manifest team/app:1.0"
  std::function<bool(const HttpResponse&)> accept;  // non-2xx replies handed back as they are
  bool answer_challenge = true;                     // false: a 401 is not answered with a handshake (best-effort calls)
};

RegistryClient::RegistryClient(std::string registry, RegistryClientOptions options)
    : registry_(std::move(registry)), options_(std::move(options)) {
  if (!options_.clock) options_.clock = SystemClock();
  if (!options_.credentials) options_.credentials = MakeAnonymousRegistryCredentials();
  if (options_.chunk_size == 0) options_.chunk_size = 16ull << 20;
  base_ = std::string(options_.insecure ? "http://" : "https://") + registry_;
  auth_ = std::make_shared<RegistryAuthenticator>(registry_, options_.credentials, options_.transport, options_.clock,
                                                  options_.retry, options_.backoff, options_.insecure);
}

std::string RegistryClient::Url(const std::string& repo, const std::string& rest) const {
  return base_ + "/v2/" + repo + "/" + rest;
}

std::string RegistryClient::ResolveLocation(const std::string& location) const {
  return ResolveAgainst(base_ + "/v2/", location);
}

Status RegistryClient::Finish(const Status& s) const {
  if (s.ok()) return s;
  Status out(s.code(), auth_->Scrub(s.message()));
  if (s.retry_after()) out.set_retry_after(*s.retry_after());
  return out;
}

StatusOr<HttpResponse> RegistryClient::SendOnce(const Op& op, HttpRequest req) {
  // Scrubbed here already, so that not even the RetryLoop's log lines carry a secret.
  StatusOr<HttpResponse> r = SendOnceUnscrubbed(op, std::move(req));
  if (!r.ok()) return Finish(r.status());
  return r;
}

StatusOr<HttpResponse> RegistryClient::SendOnceUnscrubbed(const Op& op, HttpRequest req) {
  if (!options_.transport) return InternalError("RegistryClient for " + registry_ + " has no HTTP transport");
  const bool own_host = Origin(req.url) == Origin(base_ + "/");
  for (int round = 0;; ++round) {
    req.headers.erase(std::remove_if(req.headers.begin(), req.headers.end(),
                                     [](const auto& h) { return EqualsIgnoreCase(h.first, "Authorization"); }),
                      req.headers.end());
    if (own_host) {
      std::string authorization = auth_->Authorization(op.scopes);
      if (!authorization.empty()) req.headers.emplace_back("Authorization", std::move(authorization));
    }
    StatusOr<HttpResponse> r = options_.transport->Send(req);
    if (!r.ok()) {
      const Status& s = r.status();
      std::string who = own_host ? "registry " + registry_ : "blob storage host " + HostOfUrl(req.url);
      if (s.code() == StatusCode::kTemporarilyUnavailable)
        return UnavailableError(who + " is unreachable (" + s.message() + ")");
      return s.WithContext(who + ": " + op.what);
    }
    if (r->status_code == 401 && own_host && round == 0 && op.answer_challenge) {
      Status h = auth_->HandleChallenge(r->Header("WWW-Authenticate").value_or(""), op.scopes);
      if (!h.ok()) return h;
      continue;
    }
    if (r->ok() || (op.accept && op.accept(*r))) return r;
    return RegistryErrorStatus(*r, registry_, op.repo, op.operation, auth_->DescribeCredentials(), op.what,
                               options_.clock->WallNow());
  }
}

StatusOr<HttpResponse> RegistryClient::Call(const Op& op, const HttpRequest& request, Idempotency idempotency) {
  StatusOr<HttpResponse> r =
      RetryLoop<HttpResponse>(options_.retry, options_.backoff, idempotency, *options_.clock,
                              "registry " + registry_ + ": " + op.what, [&] { return SendOnce(op, request); });
  if (!r.ok()) return Finish(r.status());
  return r;
}

StatusOr<HttpResponse> RegistryClient::GetFollowingRedirects(const Op& op_in, HttpRequest request) {
  Op op = op_in;
  auto inner = op_in.accept;
  op.accept = [inner](const HttpResponse& r) { return IsRedirect(r.status_code) || (inner && inner(r)); };
  for (int hop = 0;; ++hop) {
    StatusOr<HttpResponse> r = Call(op, request);
    if (!r.ok() || !IsRedirect(r->status_code)) return r;
    std::optional<std::string> location = r->Header("Location");
    if (!location || location->empty())
      return InternalError("registry " + registry_ + ": " + op.what + ": a " + std::to_string(r->status_code) +
                           " redirect without a Location");
    if (hop >= kMaxRedirects)
      return InternalError("registry " + registry_ + ": " + op.what + ": more than " + std::to_string(kMaxRedirects) +
                           " redirects");
    request.url = ResolveAgainst(request.url, *location);
    request.method = "GET";
    LogDebug("registry " + registry_ + ": " + op.what + " redirected to " + HostOfUrl(request.url));
  }
}

StatusOr<ManifestReply> RegistryClient::GetManifest(const std::string& repo, const std::string& reference) {
  const bool by_digest = reference.find(':') != std::string::npos;
  if (by_digest) MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckDigest(reference));
  else if (!IsValidTag(reference)) return InvalidParameterError("\"" + reference + "\" is not a valid image tag");
  const std::string shown = ManifestRefShown(registry_, repo, reference);
  Op op{repo, "pull", {PullScope(repo)}, "GET manifest " + repo + (by_digest ? "@" : ":") + reference, {}};
  HttpRequest req;
  req.method = "GET";
  req.url = Url(repo, "manifests/" + reference);
  req.headers.emplace_back("Accept", kManifestAccept);
  StatusOr<HttpResponse> r = Call(op, req);
  if (!r.ok()) {
    if (r.status().code() == StatusCode::kResourceDoesNotExist)
      return NotFoundError("image " + shown + " does not exist (" + r.status().message() + ")");
    return r.status();
  }
  ManifestReply out;
  out.body = std::move(r->body);
  std::string computed = Sha256Digest(out.body);
  std::string header = r->Header("Docker-Content-Digest").value_or("");
  if (by_digest && computed != reference)
    return InternalError("registry " + registry_ + " sent a manifest for " + shown + " whose sha256 is " + computed +
                         ": it does not match the digest asked for");
  if (!header.empty() && header.starts_with("sha256:") && header != computed)
    return InternalError("registry " + registry_ + " sent a manifest for " + shown + " whose sha256 is " + computed +
                         " but announced " + header + " (Docker-Content-Digest)");
  out.digest = header.empty() ? computed : header;
  std::string ct = r->Header("Content-Type").value_or("");
  out.media_type = std::string(Trim(ct.substr(0, ct.find(';'))));
  json body = json::parse(out.body, nullptr, false);
  if (body.is_object() && body.contains("mediaType") && body["mediaType"].is_string() &&
      (out.media_type.empty() || out.media_type == "application/json" || out.media_type == "text/plain"))
    out.media_type = body["mediaType"].get<std::string>();
  return out;
}

StatusOr<std::string> RegistryClient::GetBlob(const std::string& repo, const std::string& digest, uint64_t max_bytes) {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckDigest(digest));
  Op op{repo, "pull", {PullScope(repo)}, "GET blob " + repo + "@" + digest, {}};
  HttpRequest req;
  req.method = "GET";
  req.url = Url(repo, "blobs/" + digest);
  StatusOr<HttpResponse> r = GetFollowingRedirects(op, req);
  if (!r.ok()) return r.status();
  if (r->body.size() > max_bytes)
    return InvalidParameterError("blob " + digest + " of " + registry_ + "/" + repo + " is " +
                                 std::to_string(r->body.size()) + " bytes, more than the " + std::to_string(max_bytes) +
                                 " expected here");
  std::string got = Sha256Digest(r->body);
  if (got != digest)
    return InternalError("blob " + digest + " from " + registry_ + "/" + repo + " arrived with sha256 " + got +
                         " (corrupted in transit or by the registry)");
  return std::move(r->body);
}

Status RegistryClient::DownloadBlob(const std::string& repo, const std::string& digest, const std::string& path,
                                    const BlobProgress& progress) {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckDigest(digest));
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return InvalidParameterError("cannot open '" + path + "' for writing");
  Op op{repo, "pull", {PullScope(repo)}, "GET blob " + repo + "@" + digest, [](const HttpResponse& r) {
          return r.status_code == 416;
        }};
  Sha256 hash;
  uint64_t offset = 0;
  std::optional<uint64_t> total;
  const uint64_t chunk = options_.chunk_size;
  auto fail = [&](Status s) {
    out.close();
    std::error_code ec;
    std::filesystem::remove(path, ec);
    return s;
  };
  while (!total || offset < *total) {
    HttpRequest req;
    req.method = "GET";
    req.url = Url(repo, "blobs/" + digest);
    req.headers.emplace_back("Range", "bytes=" + std::to_string(offset) + "-" + std::to_string(offset + chunk - 1));
    req.timeout = TransferTimeout(chunk);
    StatusOr<HttpResponse> r = GetFollowingRedirects(op, req);
    if (!r.ok()) return fail(r.status());
    ContentRange cr = ParseContentRange(r->Header("Content-Range").value_or(""));
    std::string_view data = r->body;
    if (r->status_code == 416) {  // nothing at `offset`: the blob is empty or we have it all
      total = cr.total.value_or(offset);
      if (offset < *total)
        return fail(InternalError("registry " + registry_ + ": " + op.what + ": range at byte " + std::to_string(offset) +
                                  " refused (416)"));
      break;
    }
    if (r->status_code == 206) {
      if (!cr.first || *cr.first != offset || !cr.total)
        return fail(InternalError("registry " + registry_ + ": " + op.what + ": a partial reply for the wrong range (" +
                                  r->Header("Content-Range").value_or("no Content-Range") + ", wanted byte " +
                                  std::to_string(offset) + ")"));
      total = cr.total;
    } else {  // 200: the whole blob (Range ignored)
      total = data.size();
      if (offset > data.size())
        return fail(InternalError("registry " + registry_ + ": " + op.what + ": the blob got shorter between requests"));
      data.remove_prefix(offset);
    }
    if (data.empty() && offset < *total)
      return fail(
          InternalError("registry " + registry_ + ": " + op.what + ": an empty reply at byte " + std::to_string(offset)));
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!out) return fail(InternalError("cannot write '" + path + "' (disk full?)"));
    hash.Update(data);
    offset += data.size();
    if (progress) progress(offset, *total);
  }
  out.close();
  if (!out) return fail(InternalError("cannot write '" + path + "' (disk full?)"));
  std::string got = hash.Digest();
  if (got != digest)
    return fail(InternalError("blob " + digest + " from " + registry_ + "/" + repo + " arrived with sha256 " + got +
                              " (corrupted in transit or by the registry)"));
  return OkStatus();
}

StatusOr<bool> RegistryClient::HasBlob(const std::string& repo, const std::string& digest) {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckDigest(digest));
  Op op{repo, "pull", {PullScope(repo)}, "HEAD blob " + repo + "@" + digest, [](const HttpResponse& r) {
          return r.status_code == 404;
        }};
  HttpRequest req;
  req.method = "HEAD";
  req.url = Url(repo, "blobs/" + digest);
  StatusOr<HttpResponse> r = Call(op, req);
  if (!r.ok()) return r.status();
  return r->status_code != 404;
}

StatusOr<bool> RegistryClient::MountBlob(const std::string& repo, const std::string& digest, const std::string& from_repo) {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckDigest(digest));
  Op op{repo,
        "mount",
        {PushScope(repo), PullScope(from_repo)},
        "mount blob " + digest + " from " + from_repo + " into " + repo,
        {}};
  HttpRequest req;
  req.method = "POST";
  req.url = Url(repo, "blobs/uploads/?mount=" + UriEncode(digest) + "&from=" + UriEncode(from_repo, false));
  StatusOr<HttpResponse> r = Call(op, req);
  if (!r.ok()) return r.status();
  if (r->status_code == 201) return true;
  // 202: the registry started an ordinary upload instead; cancel it.
  if (std::optional<std::string> location = r->Header("Location"); location && !location->empty()) {
    Op del{repo, "push", op.scopes, "cancel upload in " + repo, [](const HttpResponse& x) { return x.status_code == 404; }};
    // Best effort: distribution wants the "delete" action for this, which a
    // pusher may not have; an orphaned upload session is harmless.
    del.answer_challenge = false;
    HttpRequest cancel;
    cancel.method = "DELETE";
    cancel.url = ResolveLocation(*location);
    StatusOr<HttpResponse> d = Call(del, cancel);
    if (!d.ok()) LogDebug("could not cancel the upload a failed mount started: " + d.status().ToString());
  }
  return false;
}

StatusOr<std::string> RegistryClient::StartUpload(const Op& op) {
  HttpRequest req;
  req.method = "POST";
  req.url = Url(op.repo, "blobs/uploads/");
  StatusOr<HttpResponse> r = Call(op, req);
  if (!r.ok()) return r.status();
  std::string location = r->Header("Location").value_or("");
  if (location.empty())
    return InternalError("registry " + registry_ + ": starting an upload to " + op.repo + " gave no Location (HTTP " +
                         std::to_string(r->status_code) + ")");
  return ResolveLocation(location);
}

Status RegistryClient::FinishUpload(const Op& op, const std::string& location, const std::string& digest, std::string body,
                                    std::optional<HttpRequest::FileBody> file) {
  HttpRequest req;
  req.method = "PUT";
  req.url = AppendQuery(location, "digest=" + UriEncode(digest));
  req.headers.emplace_back("Content-Type", "application/octet-stream");
  req.timeout = TransferTimeout(file ? file->length : body.size());
  req.body = std::move(body);
  req.body_file = std::move(file);
  Op put = op;
  put.what = "PUT blob " + op.repo + "@" + digest;
  StatusOr<HttpResponse> r = Call(put, req);
  if (!r.ok()) {
    // A PUT whose reply was lost may have completed (the upload session is then gone): the blob tells.
    if (r.status().code() == StatusCode::kResourceDoesNotExist) {
      StatusOr<bool> has = HasBlob(op.repo, digest);
      if (has.ok() && *has) return OkStatus();
    }
    return r.status();
  }
  std::string announced = r->Header("Docker-Content-Digest").value_or("");
  if (!announced.empty() && announced != digest)
    return InternalError("registry " + registry_ + " stored the blob for " + digest + " in " + op.repo + " under digest " +
                         announced);
  return OkStatus();
}

Status RegistryClient::UploadChunks(const Op& op, const std::string& path, uint64_t size, std::string* location,
                                    const BlobProgress& progress, bool* upload_gone) {
  const uint64_t chunk = options_.chunk_size;
  uint64_t offset = 0;  // bytes the registry has
  bool need_status = false;
  Op patch_op = op;
  patch_op.accept = [](const HttpResponse& r) { return r.status_code == 404 || r.status_code >= 500; };
  auto gone = [&](const HttpResponse& r) {
    *upload_gone = true;
    return RegistryErrorStatus(r, registry_, op.repo, op.operation, auth_->DescribeCredentials(), "upload to " + op.repo,
                               options_.clock->WallNow());
  };
  while (offset < size) {
    const uint64_t end = std::min(size, offset + chunk);
    patch_op.what = "PATCH blob upload " + op.repo + " bytes " + std::to_string(offset) + "-" + std::to_string(end - 1);
    Status s = internal::RetryLoopImpl(
        options_.retry, options_.backoff, Idempotency::kIdempotent, *options_.clock,
        "registry " + registry_ + ": " + patch_op.what, [&]() -> Status {
          if (need_status) {  // where is the upload? (the last PATCH failed midway)
            Op st = patch_op;
            st.what = "GET blob upload status " + op.repo;
            HttpRequest req;
            req.method = "GET";
            req.url = *location;
            StatusOr<HttpResponse> r = SendOnce(st, req);
            if (!r.ok()) return r.status();
            if (r->status_code == 404) return gone(*r);
            if (!r->ok())
              return UnavailableError("registry " + registry_ + ": " + st.what + ": HTTP " + std::to_string(r->status_code));
            if (auto loc = r->Header("Location"); loc && !loc->empty()) *location = ResolveLocation(*loc);
            bool ambiguous = false;
            std::optional<uint64_t> have = ParseUploadRange(r->Header("Range").value_or(""), &ambiguous);
            uint64_t registry_offset = offset;
            if (have) registry_offset = ambiguous ? std::min<uint64_t>(offset, 1) : *have;
            if (registry_offset > end)
              return InternalError("registry " + registry_ + " reports " + std::to_string(registry_offset) +
                                   " bytes of the upload to " + op.repo + ", more than the " + std::to_string(end) +
                                   " sent");
            LogInfo("registry " + registry_ + ": resuming the upload to " + op.repo + " at byte " +
                    std::to_string(registry_offset));
            offset = registry_offset;
            need_status = false;
          }
          if (offset >= end) return OkStatus();
          HttpRequest req;
          req.method = "PATCH";
          req.url = *location;
          req.headers.emplace_back("Content-Type", "application/octet-stream");
          req.headers.emplace_back("Content-Range", std::to_string(offset) + "-" + std::to_string(end - 1));
          req.timeout = TransferTimeout(end - offset);
          req.body_file = HttpRequest::FileBody{path, offset, end - offset};  // streamed from the file
          StatusOr<HttpResponse> r = SendOnce(patch_op, req);
          if (!r.ok()) {
            need_status = IsTransient(r.status());
            return r.status();
          }
          if (r->status_code == 404) return gone(*r);
          if (r->status_code >= 500) {
            need_status = true;
            return UnavailableError("registry " + registry_ + ": " + patch_op.what + ": HTTP " +
                                    std::to_string(r->status_code));
          }
          std::string loc = r->Header("Location").value_or("");
          if (loc.empty())
            return InternalError("registry " + registry_ + ": " + patch_op.what + ": the reply has no Location");
          *location = ResolveLocation(loc);
          offset = end;
          bool ambiguous = false;
          std::optional<uint64_t> have = ParseUploadRange(r->Header("Range").value_or(""), &ambiguous);
          if (have && !ambiguous && *have != end)
            return InternalError("registry " + registry_ + " holds " + std::to_string(*have) + " bytes of the upload to " +
                                 op.repo + " after " + std::to_string(end) + " were sent");
          return OkStatus();
        });
    if (!s.ok()) return Finish(s);
    if (progress) progress(offset, size);
  }
  return OkStatus();
}

Status RegistryClient::UploadBlob(const std::string& repo, const std::string& path, const std::string& digest, uint64_t size,
                                  const BlobProgress& progress) {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckDigest(digest));
  std::error_code ec;
  uint64_t actual = std::filesystem::file_size(path, ec);
  if (ec) return InvalidParameterError("cannot upload '" + path + "': " + ec.message());
  if (actual != size)
    return InvalidParameterError("cannot upload '" + path + "': it has " + std::to_string(actual) + " bytes, not " +
                                 std::to_string(size));
  Op op{repo, "push", {PushScope(repo)}, "start blob upload to " + repo, {}};
  if (size <= options_.chunk_size) {
    MLFLOW_BRIDGE_RETURN_IF_ERROR(PutWholeBlob(op, digest, "", HttpRequest::FileBody{path, 0, size}));
    if (progress) progress(size, size);
    return OkStatus();
  }
  LogInfo("Uploading " + digest + " (" + std::to_string(size) + " bytes) to " + registry_ + "/" + repo + " in chunks of " +
          std::to_string(options_.chunk_size) + " bytes");
  for (int round = 0;; ++round) {
    StatusOr<std::string> location = StartUpload(op);
    if (!location.ok()) return location.status();
    bool gone = false;
    Status s = UploadChunks(op, path, size, &*location, progress, &gone);
    if (!s.ok() && gone && round == 0) {
      LogInfo("registry " + registry_ + ": the upload to " + repo + " is gone (" + s.message() + "); starting over");
      continue;
    }
    MLFLOW_BRIDGE_RETURN_IF_ERROR(s);
    return FinishUpload(op, *location, digest, "");
  }
}

Status RegistryClient::UploadBlobBytes(const std::string& repo, const std::string& bytes, const std::string& digest) {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckDigest(digest));
  if (Sha256Digest(bytes) != digest)
    return InvalidParameterError("the blob to upload to " + registry_ + "/" + repo + " does not have digest " + digest);
  Op op{repo, "push", {PushScope(repo)}, "start blob upload to " + repo, {}};
  return PutWholeBlob(op, digest, bytes, std::nullopt);
}

Status RegistryClient::PutWholeBlob(const Op& op, const std::string& digest, const std::string& body,
                                    std::optional<HttpRequest::FileBody> file) {
  for (int round = 0;; ++round) {
    StatusOr<std::string> location = StartUpload(op);
    if (!location.ok()) return location.status();
    Status s = FinishUpload(op, *location, digest, body, file);
    const bool session_lost =
        s.code() == StatusCode::kResourceDoesNotExist || s.code() == StatusCode::kInvalidParameterValue;
    if (s.ok() || !session_lost || round > 0) return s;
    LogInfo("registry " + registry_ + ": the upload to " + op.repo + " failed (" + s.message() + "); starting over");
  }
}

StatusOr<std::string> RegistryClient::PutManifest(const std::string& repo, const std::string& reference,
                                                  const std::string& body, const std::string& media_type) {
  const std::string digest = Sha256Digest(body);
  if (reference.find(':') != std::string::npos) {
    MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckDigest(reference));
    if (reference != digest)
      return InvalidParameterError("the manifest to push as " + repo + "@" + reference + " has digest " + digest);
  } else if (!IsValidTag(reference)) {
    return InvalidParameterError("\"" + reference + "\" is not a valid image tag");
  }
  Op op{repo,
        "push",
        {PushScope(repo)},
        "PUT manifest " + repo + (reference.find(':') != std::string::npos ? "@" : ":") + reference,
        {}};
  HttpRequest req;
  req.method = "PUT";
  req.url = Url(repo, "manifests/" + reference);
  req.headers.emplace_back("Content-Type", media_type);
  req.body = body;
  StatusOr<HttpResponse> r = Call(op, req);
  if (!r.ok()) return r.status();
  std::string announced = r->Header("Docker-Content-Digest").value_or("");
  if (!announced.empty() && announced != digest)
    return InternalError("registry " + registry_ + " stored the manifest " + repo + ":" + reference + " as " + announced +
                         ", but its sha256 is " + digest);
  return digest;
}

}  // namespace mlflow_bridge::internal
