// The Kubernetes REST client: the KubeApi stub over HTTP (discovery, get, list (all pages), server-side
// apply, delete (foreground propagation), one watch round). One attempt per call: retries are
// RetryingKubeApi's (kube_retry.h), waiting is kube_wait.h's.
//
// One request path: every call goes through SendOnce(), which sets the credentials (bearer token, re-read
// from token_file when the file changes; an exec plugin's token, cached until it expires and refreshed
// once on a 401, which is authentication, not a retry; basic), sends, and turns a non-2xx reply into a
// Status with KubeErrorStatus() (the one error mapping). Secrets never appear in a Status or a log line.
//
// Connection: the CA (ca_pem), the client certificate and key (kubeconfig or an
// exec plugin's), insecure-skip-tls-verify, tls-server-name (the TLS name; the
// connection still goes to the server URL's host) and proxy-url (this cluster's
// proxy, in place of HTTPS_PROXY/NO_PROXY) go to the curl transport built here
// when options.transport is null, as kubectl applies them.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "k8s/kube_api.h"
#include "k8s/kubeconfig.h"
#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/http.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

// The one mapping of an API server's non-2xx reply (a Status object
// {kind: Status, reason, message, code, details{causes[]{field, message}}}) to a Status.
// `what` names the operation and object ("apply Deployment team/app").
//   NotFound/404 -> RESOURCE_DOES_NOT_EXIST (server message kept: 'namespaces "x" not found');
//   AlreadyExists -> RESOURCE_ALREADY_EXISTS; Conflict/409 -> TEMPORARILY_UNAVAILABLE when
//   `conflict_is_transient` (apply: retried), else RESOURCE_ALREADY_EXISTS;
//   Unauthorized/401 -> UNAUTHENTICATED naming the context and user;
//   Forbidden/403 -> PERMISSION_DENIED; Invalid/422, BadRequest/400 and other 4xx ->
//   INVALID_PARAMETER_VALUE with the causes; TooManyRequests/429, 5xx, ServiceUnavailable,
//   Timeout, ServerTimeout -> TEMPORARILY_UNAVAILABLE (Retry-After kept); else INTERNAL_ERROR.
Status KubeErrorStatus(const HttpResponse& response, const std::string& what, const KubeConfig& config,
                       bool conflict_is_transient, std::chrono::system_clock::time_point now);

struct KubeClientOptions {
  std::shared_ptr<HttpTransport> transport;  // null: curl built from the KubeConfig's TLS settings
  std::shared_ptr<Clock> clock;              // null: SystemClock() (exec credentials' expiry, Retry-After)
  // Runs the exec plugin (tests); null: RunExecPlugin.
  ExecCredentialCache::Runner exec_runner;
};

class KubeClient : public KubeApi {
 public:
  static StatusOr<std::shared_ptr<KubeClient>> Make(KubeConfig config, KubeClientOptions options = {});
  const KubeConfig& config() const override { return config_; }

  StatusOr<nlohmann::json> ServerVersion() override;
  // Cached (a discovery reply does not change while a command runs).
  StatusOr<bool> Serves(std::string_view group, std::string_view version) override;
  // 404 -> RESOURCE_DOES_NOT_EXIST "get <Kind> <ns>/<name>: <the server's message>".
  StatusOr<nlohmann::json> Get(const KubeResource& r, const std::string& ns, const std::string& name) override;
  // All pages (limit/continue; an expired continue token restarts the list once).
  StatusOr<nlohmann::json> List(const KubeResource& r, const std::string& ns, const std::string& label_selector = "",
                                const std::string& field_selector = "") override;
  // PATCH .../<name>?fieldManager=mlflow-bridge&force=true, Content-Type application/apply-patch+yaml,
  // body = the object as JSON.
  StatusOr<nlohmann::json> Apply(const nlohmann::json& object) override;
  StatusOr<nlohmann::json> ApplyStatus(const nlohmann::json& object) override;
  Status Delete(const KubeResource& r, const std::string& ns, const std::string& name) override;
  // HttpTransport returns whole bodies, so a round is
  // GET ...?watch=1&fieldSelector=metadata.name=<name>&resourceVersion=<rv>&timeoutSeconds=<n>&allowWatchBookmarks=true
  // whose newline-delimited events are read when the server ends it; 410 -> gone.
  StatusOr<KubeWatchRound> Watch(const KubeResource& r, const std::string& ns, const std::string& name,
                                 const std::string& resource_version, int timeout_seconds) override;

  // The URL of a collection (name "") or an object; ns "" for a namespaced kind: all namespaces.
  std::string Url(const KubeResource& r, const std::string& ns, const std::string& name,
                  const std::string& subresource = "") const;

 private:
  KubeClient(KubeConfig config, KubeClientOptions options);
  struct Op;
  // The one request path: one attempt (with one more after a 401 when the credentials could be refreshed).
  StatusOr<HttpResponse> SendOnce(const Op& op, HttpRequest request);
  Status Authorize(HttpRequest& request, std::shared_ptr<HttpTransport>* transport);
  std::string Scrub(std::string text) const;
  Status Finish(const Status& s) const;
  std::string Ns(const KubeResource& r, const std::string& ns) const;
  StatusOr<nlohmann::json> ApplyImpl(const nlohmann::json& object, bool status);

  KubeConfig config_;
  KubeClientOptions options_;
  bool own_transport_ = false;  // built here from the kubeconfig (rebuilt for an exec plugin's certificate)
  std::unique_ptr<ExecCredentialCache> exec_;

  mutable std::mutex mu_;
  std::shared_ptr<HttpTransport> transport_;
  std::string transport_cert_;  // the exec client certificate the transport was built with
  std::string token_;           // current bearer token (from token_file when set)
  std::optional<std::filesystem::file_time_type> token_mtime_;
  std::vector<std::string> secrets_;    // everything to scrub from messages
  std::map<std::string, bool> serves_;  // discovery cache
};

}  // namespace mlflow_bridge::internal
