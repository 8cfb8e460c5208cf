// HTTP: the transport interface every driver sends its requests through, and
// the libcurl implementation of it.
#pragma once

#include <chrono>
#include <functional>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mlflow_bridge/status.h"

namespace mlflow_bridge {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// Case-insensitive header lookup; the first match.
std::optional<std::string> FindHeader(const HttpHeaders& headers, std::string_view name);

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  HttpHeaders headers;
  std::string body;
  // Overrides the transport's total timeout for this request when set.
  std::optional<std::chrono::milliseconds> timeout;
  // Open a new connection and close it afterwards, e.g. to reach whichever
  // server now owns a port rather than the one a pooled connection leads to.
  bool fresh_connection = false;
  // Instead of `body`: `length` bytes of the file at `path` from `offset`,
  // streamed as they are sent (large uploads never sit whole in memory).
  struct FileBody {
    std::string path;
    uint64_t offset = 0;
    uint64_t length = 0;
    // Called as the bytes go out: (sent so far, length); again from 0 when the body is sent anew.
    std::function<void(uint64_t, uint64_t)> progress;
  };
  std::optional<FileBody> body_file;
};

struct HttpResponse {
  long status_code = 0;
  HttpHeaders headers;
  std::string body;

  std::optional<std::string> Header(std::string_view name) const { return FindHeader(headers, name); }
  bool ok() const { return status_code >= 200 && status_code < 300; }
};

struct TransportOptions {
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds total_timeout{60'000};
  // TLS peer and host verification. Turning it off is an explicit choice.
  bool verify_tls = true;
  // PEM bundle of CAs to trust instead of the system's; empty for the system's.
  std::string ca_bundle;
  // Client certificate and key (PEM files) for mutual TLS; empty for none.
  std::string client_cert;
  std::string client_key;
  // The same as PEM text held in memory (a kubeconfig's *-data fields, an
  // exec plugin's certificate); each takes precedence over its file
  // counterpart. With ca_pem only these CAs are trusted (no system CA path).
  std::string ca_pem;
  std::string client_cert_pem;
  std::string client_key_pem;
  // The proxy for every request of this transport, overriding the environment's (HTTPS_PROXY,
  // NO_PROXY): http://, https://, socks5:// (names resolved locally) or socks5h:// (by the proxy);
  // empty for the environment's. A kubeconfig's proxy-url.
  std::string proxy;
  // The name TLS uses for this transport's https requests, in place of the URL's host: sent as SNI
  // and verified against the server certificate, while the connection still goes to the URL's host
  // and port (through the proxy, if any) and the Host header stays the URL's. A kubeconfig's
  // tls-server-name; empty for the URL's host.
  std::string tls_server_name;
  // Upper bound on connections kept open in the pool.
  long max_connections = 16;
  std::string user_agent = "mlflow-bridge";
};

// Sends one request and returns the response. A non-2xx response is a
// successful call (the Status is OK): platform code turns it into a Status
// with its own AsStatus(). A non-OK Status means no HTTP response at all:
// TEMPORARILY_UNAVAILABLE (could not connect, connection dropped),
// DEADLINE_EXCEEDED (timed out), INVALID_PARAMETER_VALUE (bad URL, TLS
// configuration), UNAUTHENTICATED (TLS peer verification failed).
class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  virtual StatusOr<HttpResponse> Send(const HttpRequest& request) = 0;
};

// libcurl. Connections, DNS results and TLS sessions are shared and reused
// across requests of this transport (one pool per transport); safe to use from
// several threads. Honours HTTPS_PROXY / https_proxy / http_proxy / NO_PROXY as
// curl does, unless options.proxy is set.
std::shared_ptr<HttpTransport> MakeCurlTransport(const TransportOptions& options = {});

// Generic mapping of a non-2xx response to a Status (status line and a short
// excerpt of the body); platforms with their own error JSON have their own.
Status HttpErrorStatus(const HttpResponse& response, std::string_view what);

// Parses Retry-After (seconds or an HTTP date) relative to `now`.
std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view value, std::chrono::system_clock::time_point now);

}  // namespace mlflow_bridge
