// The libcurl HttpTransport.
//
// Sharing: one CURLSH per transport shares the DNS cache and TLS sessions
// between its easy handles, with one mutex per lock data type. Connections
// are NOT put in the share (CURL_LOCK_DATA_CONNECT): libcurl documents a
// shared connection cache as unsafe across concurrent threads (KNOWN_BUGS "A
// shared connection cache is not thread-safe", curl/curl#4915, #9404, #13347).
// Instead easy handles are pooled (a LIFO free list) and every handle keeps
// its own connection cache, so sequential requests reuse the same connection
// and concurrent requests each get their own.
#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/strings.h"
#include "http/ca_bundle.h"
#include "mlflow_bridge/http.h"
#include "mlflow_bridge/logging.h"

namespace mlflow_bridge {
namespace internal {
namespace {

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string HostOf(const std::string& url) {
  std::string host = "(unknown)";
  CURLU* u = curl_url();
  if (u == nullptr) return host;
  char* h = nullptr;
  if (curl_url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK && curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK)
    host = h;
  curl_free(h);
  curl_url_cleanup(u);
  return host;
}

bool HasCrLf(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

std::string ShowHeaders(const HttpHeaders& headers) {
  std::string out;
  for (const auto& [k, v] : headers) out += "\n    " + k + ": " + (IsSensitiveHeader(k) ? "***" : v);
  return out;
}

// A request body read from a file as curl sends it.
struct FileReader {
  FILE* file = nullptr;
  uint64_t offset = 0;  // where the body starts in the file
  uint64_t length = 0;
  uint64_t left = 0;
  std::function<void(uint64_t, uint64_t)> progress;
  ~FileReader() {
    if (file) fclose(file);
  }
};

size_t OnRead(char* buffer, size_t size, size_t n, void* userdata) {
  auto* r = static_cast<FileReader*>(userdata);
  size_t want = static_cast<size_t>(std::min<uint64_t>(r->left, size * n));
  size_t got = want == 0 ? 0 : fread(buffer, 1, want, r->file);
  if (got < want) return CURL_READFUNC_ABORT;  // the file is shorter than announced
  r->left -= got;
  if (r->progress && got > 0) r->progress(r->length - r->left, r->length);
  return got;
}

// curl rewinds the body to send it again (e.g. on a fresh connection after a pooled one turned out dead).
int OnSeek(void* userdata, curl_off_t position, int origin) {
  auto* r = static_cast<FileReader*>(userdata);
  if (origin != SEEK_SET || position < 0 || static_cast<uint64_t>(position) > r->length) return CURL_SEEKFUNC_FAIL;
  if (fseeko(r->file, static_cast<off_t>(r->offset + static_cast<uint64_t>(position)), SEEK_SET) != 0)
    return CURL_SEEKFUNC_FAIL;
  r->left = r->length - static_cast<uint64_t>(position);
  return CURL_SEEKFUNC_OK;
}

size_t OnBody(char* data, size_t size, size_t n, void* userdata) {
  try {
    static_cast<std::string*>(userdata)->append(data, size * n);
    return size * n;
  } catch (...) {
    return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
  }
}

size_t OnHeader(char* data, size_t size, size_t n, void* userdata) {
  auto* headers = static_cast<HttpHeaders*>(userdata);
  try {
    std::string_view line(data, size * n);
    if (line.rfind("HTTP/", 0) == 0) {
      headers->clear();  // a new response (after 1xx, or a proxy's CONNECT reply): keep only the last
    } else if (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
      if (!headers->empty()) {  // obsolete line folding: continues the previous value
        headers->back().second.push_back(' ');
        headers->back().second.append(Trim(line));
      }
    } else if (size_t colon = line.find(':'); colon != std::string_view::npos) {
      headers->emplace_back(std::string(Trim(line.substr(0, colon))), std::string(Trim(line.substr(colon + 1))));
    }
    return size * n;
  } catch (...) {
    return 0;
  }
}

struct SList {
  curl_slist* list = nullptr;
  ~SList() { curl_slist_free_all(list); }
  bool Append(const std::string& s) {
    curl_slist* next = curl_slist_append(list, s.c_str());
    if (next == nullptr) return false;
    list = next;
    return true;
  }
};

// How an https request reaches its server under another TLS name (TransportOptions::tls_server_name),
// as client-go applies a kubeconfig's tls-server-name. curl takes the TLS name (SNI and the name the
// certificate is checked against) from the URL, so: the URL names `name`; a connect-to entry sends the
// connection (or a proxy's CONNECT) to the URL's real host and port; the Host header keeps the real host.
struct TlsNameRoute {
  std::string url, connect_to, host;
};

std::optional<TlsNameRoute> RouteForTlsName(const std::string& url, const std::string& name) {
  std::optional<TlsNameRoute> out;
  CURLU* u = curl_url();
  if (u == nullptr) return out;
  char *scheme = nullptr, *host = nullptr, *port = nullptr, *given_port = nullptr, *renamed = nullptr;
  if (curl_url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK && curl_strequal(scheme, "https") &&
      curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
      curl_url_set(u, CURLUPART_HOST, name.c_str(), 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_URL, &renamed, 0) == CURLUE_OK) {
    const bool explicit_port = curl_url_get(u, CURLUPART_PORT, &given_port, 0) == CURLUE_OK;
    out = TlsNameRoute{renamed, name + ":" + port + ":" + host + ":" + port,
                       std::string(host) + (explicit_port ? std::string(":") + port : "")};
  }
  for (char* p : {scheme, host, port, given_port, renamed}) curl_free(p);
  curl_url_cleanup(u);
  return out;
}

class CurlTransport : public HttpTransport {
 public:
  explicit CurlTransport(const TransportOptions& options)
      : options_(options),
        system_ca_(options.ca_bundle.empty() && options.ca_pem.empty() ? DefaultCaLocation() : CaLocation{}) {
    GlobalInit();
    share_ = curl_share_init();
    if (share_ != nullptr) {
      curl_share_setopt(share_, CURLSHOPT_LOCKFUNC, &CurlTransport::Lock);
      curl_share_setopt(share_, CURLSHOPT_UNLOCKFUNC, &CurlTransport::Unlock);
      curl_share_setopt(share_, CURLSHOPT_USERDATA, this);
      curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
      curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    }
  }

  ~CurlTransport() override {
    for (CURL* h : free_) curl_easy_cleanup(h);
    if (share_ != nullptr) curl_share_cleanup(share_);
  }

  StatusOr<HttpResponse> Send(const HttpRequest& request) override {
    try {
      return SendImpl(request);
    } catch (const std::exception& e) {
      return InternalError(request.method + " " + Redact(request.url) + " failed: " + e.what());
    }
  }

 private:
  static void Lock(CURL*, curl_lock_data data, curl_lock_access, void* self) {
    static_cast<CurlTransport*>(self)->locks_[Index(data)].lock();
  }
  static void Unlock(CURL*, curl_lock_data data, void* self) {
    static_cast<CurlTransport*>(self)->locks_[Index(data)].unlock();
  }
  static size_t Index(curl_lock_data data) {
    auto i = static_cast<size_t>(data);
    return i < kLockCount ? i : 0;
  }

  CURL* Acquire() {
    {
      std::lock_guard<std::mutex> lock(pool_mu_);
      if (!free_.empty()) {
        CURL* h = free_.back();
        free_.pop_back();
        return h;
      }
    }
    CURL* h = curl_easy_init();
    if (h != nullptr && share_ != nullptr) curl_easy_setopt(h, CURLOPT_SHARE, share_);
    return h;
  }

  void Release(CURL* h) {
    curl_easy_reset(h);  // options only: connections, sessions and the share stay
    std::lock_guard<std::mutex> lock(pool_mu_);
    if (free_.size() < static_cast<size_t>(std::max(1L, options_.max_connections))) {
      free_.push_back(h);
      return;
    }
    curl_easy_cleanup(h);
  }

  StatusOr<HttpResponse> SendImpl(const HttpRequest& request) {
    const std::string what = request.method + " " + Redact(request.url);
    if (request.method.empty() || HasCrLf(request.method) || request.method.find(' ') != std::string::npos)
      return InvalidParameterError("Invalid HTTP method for " + what);
    const auto tls_name =
        options_.tls_server_name.empty() ? std::nullopt : RouteForTlsName(request.url, options_.tls_server_name);
    SList headers;
    bool has_content_type = false;
    for (const auto& [k, v] : request.headers) {
      if (k.empty() || HasCrLf(k) || HasCrLf(v) || k.find(':') != std::string::npos)
        return InvalidParameterError("Invalid header '" + (HasCrLf(k) ? std::string("?") : k) + "' in " + what);
      // "Name;" is how curl sends a header with an empty value.
      if (!headers.Append(v.empty() ? k + ";" : k + ": " + v)) return InternalError("Out of memory building " + what);
      has_content_type = has_content_type || curl_strequal(k.c_str(), "Content-Type");
    }
    // No "Expect: 100-continue" round trip; no made-up form Content-Type on bodies.
    if (!headers.Append("Expect:") || (!has_content_type && !headers.Append("Content-Type:")))
      return InternalError("Out of memory building " + what);
    if (tls_name && !FindHeader(request.headers, "Host") && !headers.Append("Host: " + tls_name->host))
      return InternalError("Out of memory building " + what);

    // Like curl --connect-to: "HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT" entries, comma-separated (a
    // registry or an API reached through a tunnel or a private endpoint, under its own name).
    SList connect_to;
    if (tls_name && !connect_to.Append(tls_name->connect_to)) return InternalError("Out of memory building " + what);
    if (const char* env = std::getenv("MLFLOW_BRIDGE_CONNECT_TO"); env != nullptr) {
      std::string_view rest = env;
      while (!rest.empty()) {
        size_t comma = rest.find(',');
        std::string entry(Trim(rest.substr(0, comma)));
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        if (!entry.empty() && !connect_to.Append(entry)) return InternalError("Out of memory building " + what);
      }
    }

    CURL* h = Acquire();
    if (h == nullptr) return InternalError("Could not create a curl handle for " + what);
    struct Releaser {
      CurlTransport* t;
      CURL* h;
      ~Releaser() { t->Release(h); }
    } releaser{this, h};

    HttpResponse response;
    FileReader reader;  // outlives curl_easy_perform
    char errbuf[CURL_ERROR_SIZE];
    errbuf[0] = '\0';
    long timeout_ms = static_cast<long>((request.timeout ? *request.timeout : options_.total_timeout).count());

    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_URL, tls_name ? tls_name->url.c_str() : request.url.c_str());
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(h, CURLOPT_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout.count()));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, request.fresh_connection ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_FORBID_REUSE, request.fresh_connection ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, options_.verify_tls ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, options_.verify_tls ? 2L : 0L);
    if (!options_.ca_bundle.empty()) {
      curl_easy_setopt(h, CURLOPT_CAINFO, options_.ca_bundle.c_str());
    } else if (options_.ca_pem.empty()) {
      if (!system_ca_.file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, system_ca_.file.c_str());
      if (!system_ca_.dir.empty()) curl_easy_setopt(h, CURLOPT_CAPATH, system_ca_.dir.c_str());
    }
    if (!options_.client_cert.empty()) curl_easy_setopt(h, CURLOPT_SSLCERT, options_.client_cert.c_str());
    if (!options_.client_key.empty()) curl_easy_setopt(h, CURLOPT_SSLKEY, options_.client_key.c_str());
    // PEM blobs (copied by curl): CURLOPT_CAINFO_BLOB needs 7.77, the client ones 7.71.
    auto blob = [](const std::string& pem) { return curl_blob{const_cast<char*>(pem.data()), pem.size(), CURL_BLOB_COPY}; };
    if (!options_.ca_pem.empty()) {
      curl_blob b = blob(options_.ca_pem);
      curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &b);
      curl_easy_setopt(h, CURLOPT_CAPATH, nullptr);  // only the given CAs, as kubectl does
    }
    if (!options_.client_cert_pem.empty()) {
      curl_blob b = blob(options_.client_cert_pem);
      curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &b);
      curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
    }
    if (!options_.client_key_pem.empty()) {
      curl_blob b = blob(options_.client_key_pem);
      curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &b);
      curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
    }
    curl_easy_setopt(h, CURLOPT_MAXCONNECTS, std::max(1L, options_.max_connections));
    curl_easy_setopt(h, CURLOPT_USERAGENT, options_.user_agent.c_str());
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.list);
    curl_easy_setopt(h, CURLOPT_CONNECT_TO, connect_to.list);
    if (!options_.proxy.empty()) {  // for every request: neither the environment's proxy nor its NO_PROXY count
      curl_easy_setopt(h, CURLOPT_PROXY, options_.proxy.c_str());
      curl_easy_setopt(h, CURLOPT_NOPROXY, "");
    }
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &OnBody);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &response.body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &OnHeader);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &response.headers);

    const std::string& m = request.method;
    if (m == "GET") {
      curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (m == "HEAD") {
      curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else {
      // An upload from a file (CURLOPT_UPLOAD) is a PUT unless the method is named, POST included.
      if (m != "POST" || request.body_file) curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m.c_str());
      if (request.body_file) {
        const auto& f = *request.body_file;
        reader.file = fopen(f.path.c_str(), "rb");
        if (reader.file == nullptr || fseeko(reader.file, static_cast<off_t>(f.offset), SEEK_SET) != 0)
          return InvalidParameterError("Cannot read the body of " + what + " from " + f.path);
        reader.offset = f.offset;
        reader.length = reader.left = f.length;
        reader.progress = f.progress;
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);  // with CUSTOMREQUEST: the method stays as given
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, &OnSeek);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, &reader);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(f.length));
        curl_easy_setopt(h, CURLOPT_READFUNCTION, &OnRead);
        curl_easy_setopt(h, CURLOPT_READDATA, &reader);
      } else if (m == "POST" || m == "PUT" || m == "PATCH" || !request.body.empty()) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data());
      }
    }

    const bool debug = GetLogLevel() <= LogLevel::kDebug;
    if (debug) LogDebug("-> " + what + ShowHeaders(request.headers));
    const auto start = std::chrono::steady_clock::now();
    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) return CurlError(rc, errbuf, request, what);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status_code);
    if (debug) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
      LogDebug("<- " + std::to_string(response.status_code) + " (" + std::to_string(response.body.size()) + " bytes, " +
               std::to_string(ms.count()) + " ms) " + what + ShowHeaders(response.headers));
    }
    return response;
  }

  Status CurlError(CURLcode rc, const char* errbuf, const HttpRequest& request, const std::string& what) {
    std::string detail = Redact(errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
    std::string message = what + " failed: " + detail;
    if (GetLogLevel() <= LogLevel::kDebug) LogDebug("<- error " + message);
    switch (rc) {
      case CURLE_COULDNT_CONNECT:
      case CURLE_COULDNT_RESOLVE_HOST:
      case CURLE_COULDNT_RESOLVE_PROXY:  // nothing was sent: safe to send again, whatever the call
        return UnavailableError(message).set_not_processed();
      case CURLE_SEND_ERROR:
      case CURLE_SEND_FAIL_REWIND:
      case CURLE_RECV_ERROR:
      case CURLE_GOT_NOTHING:
      case CURLE_PARTIAL_FILE:
      case CURLE_HTTP2:
      case CURLE_HTTP2_STREAM: return UnavailableError(message);
      case CURLE_SSL_CONNECT_ERROR:
        // Usually a dropped handshake (transient); also what an https URL to a plain-HTTP port gives.
        return UnavailableError(message + " (TLS handshake with " + HostOf(request.url) +
                                " failed; check that the server speaks TLS on that port)");
      case CURLE_OPERATION_TIMEDOUT: return DeadlineExceededError(message);
      case CURLE_PEER_FAILED_VERIFICATION:  // == CURLE_SSL_CACERT since 7.62
      case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
      case CURLE_SSL_INVALIDCERTSTATUS:
      case CURLE_SSL_ISSUER_ERROR:
        return UnauthenticatedError("TLS verification failed for host " + HostOf(request.url) +
                                    (options_.tls_server_name.empty() ? "" : " as " + options_.tls_server_name) + " (" +
                                    what + "): " + detail + CaInUse() +
                                    ". If the server uses a private CA, set a CA bundle (a PEM file of that CA, "
                                    "or CURL_CA_BUNDLE); or turn TLS verification off explicitly if you trust the "
                                    "network.");
      case CURLE_URL_MALFORMAT:
      case CURLE_UNSUPPORTED_PROTOCOL:
      case CURLE_BAD_FUNCTION_ARGUMENT: return InvalidParameterError(message);
      case CURLE_SSL_CERTPROBLEM:
      case CURLE_SSL_CACERT_BADFILE:
      case CURLE_SSL_CRL_BADFILE:
      case CURLE_SSL_CIPHER:
      case CURLE_SSL_ENGINE_NOTFOUND:
      case CURLE_SSL_ENGINE_SETFAILED:
        return InvalidParameterError(message + CaInUse() +
                                     " (check the TLS settings: CA bundle, client certificate and key)");
      default: return InternalError(message);
    }
  }

  // Which CAs were trusted, for the messages of TLS errors.
  std::string CaInUse() const {
    if (!options_.ca_pem.empty()) return " (trusting the configured CA certificates)";
    if (!options_.ca_bundle.empty()) return " (trusting the CA bundle " + options_.ca_bundle + ")";
    if (system_ca_.file.empty() && system_ca_.dir.empty())
      return " (no CA certificates found: set CURL_CA_BUNDLE or SSL_CERT_FILE to a PEM bundle)";
    std::string where = system_ca_.file.empty() ? system_ca_.dir : system_ca_.file;
    if (!system_ca_.file.empty() && !system_ca_.dir.empty()) where += " and " + system_ca_.dir;
    return " (trusting the CA certificates of " + system_ca_.source + ": " + where + ")";
  }

  static constexpr size_t kLockCount = CURL_LOCK_DATA_LAST;
  TransportOptions options_;
  CaLocation system_ca_;  // when no CA is configured
  CURLSH* share_ = nullptr;
  std::array<std::mutex, kLockCount> locks_;
  std::mutex pool_mu_;
  std::vector<CURL*> free_;
};

}  // namespace
}  // namespace internal

std::shared_ptr<HttpTransport> MakeCurlTransport(const TransportOptions& options) {
  return std::make_shared<internal::CurlTransport>(options);
}

}  // namespace mlflow_bridge
