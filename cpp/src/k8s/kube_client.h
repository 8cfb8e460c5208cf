// The Kubernetes REST client: discovery, get, list (all pages), server-side
// apply, delete (foreground propagation, optional wait), and waiting on one
// object with watch long-polls (falling back to polling).
//
// One request path: every call goes through Call() -> RetryLoop -> SendOnce(),
// which sets the credentials (bearer token, re-read from token_file when the
// file changes; an exec plugin's token, cached until it expires and refreshed
// once on a 401; basic), sends, and turns a non-2xx reply into a Status with
// KubeErrorStatus() (the one error mapping). Retried: GET, server-side apply
// (idempotent by design), DELETE. Secrets never appear in a Status or a log line.
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

#include "k8s/kubeconfig.h"
#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/http.h"
#include "mlflow_bridge/retry.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

inline constexpr const char* kFieldManager = "mlflow-bridge";

struct KubeResource {
  std::string group, version, resource, kind;
  bool namespaced = true;
  std::string ApiVersion() const;  // "v1", "apps/v1"
};

// The kinds the targets use, by apiVersion + kind (a static table):
// v1 Namespace/Service/Secret/Pod/Event/ServiceAccount/ConfigMap, apps/v1
// Deployment/ReplicaSet, networking.k8s.io/v1 Ingress,
// gateway.kyma-project.io/v2 and v1beta1 APIRule, networking.istio.io/v1 and
// v1beta1 VirtualService/DestinationRule. Unknown -> INVALID_PARAMETER_VALUE.
StatusOr<KubeResource> ResourceFor(std::string_view api_version, std::string_view kind);

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
  std::shared_ptr<Clock> clock;              // null: SystemClock()
  RetryPolicy retry;
  BackoffPolicy backoff;  // also the polling interval when a watch cannot be used
  std::function<bool()> interrupted;
  // Server-side timeout of one watch long-poll (seconds); the whole wait is bounded by WaitFor's timeout.
  int watch_seconds = 10;
  // How often WaitFor calls `progress`.
  std::chrono::milliseconds progress_interval{15'000};
  // Runs the exec plugin (tests); null: RunExecPlugin.
  ExecCredentialCache::Runner exec_runner;
};

class KubeClient {
 public:
  static StatusOr<std::shared_ptr<KubeClient>> Make(KubeConfig config, KubeClientOptions options = {});
  const KubeConfig& config() const { return config_; }

  // GET /version (also a cheap reachability and credentials check).
  StatusOr<nlohmann::json> ServerVersion();
  // Discovery: GET /apis/<group>/<version> ("" or "core" group: /api/<version>); 404 -> false. Cached.
  StatusOr<bool> Serves(std::string_view group, std::string_view version);
  // 404 -> RESOURCE_DOES_NOT_EXIST "<Kind> <ns>/<name> does not exist (...)". ns "" for
  // a namespaced kind = the kubeconfig's namespace.
  StatusOr<nlohmann::json> Get(const KubeResource& r, const std::string& ns, const std::string& name);
  // All pages (limit/continue; an expired continue token restarts the list once). ns "" = all namespaces.
  // Returns the list object with every page's items.
  StatusOr<nlohmann::json> List(const KubeResource& r, const std::string& ns, const std::string& label_selector = "",
                                const std::string& field_selector = "");
  // Server-side apply: PATCH .../<name>?fieldManager=mlflow-bridge&force=true,
  // Content-Type application/apply-patch+yaml, body = the object as JSON. The
  // namespace is metadata.namespace, else the kubeconfig's. Retried.
  StatusOr<nlohmann::json> Apply(const nlohmann::json& object);
  // The same on the status subresource.
  StatusOr<nlohmann::json> ApplyStatus(const nlohmann::json& object);
  // DELETE with propagationPolicy Foreground; 404 is OK. wait: until it is gone, within `timeout`.
  Status Delete(const KubeResource& r, const std::string& ns, const std::string& name, bool wait = false,
                std::chrono::milliseconds timeout = std::chrono::seconds(120));
  // Waits on one object: done(object) on its current state, on every
  // change and after each watch round without one, until done returns a value (OK: stop and return the object;
  // error: return it), the timeout passes (DEADLINE_EXCEEDED naming the
  // object), or `interrupted` (INTERNAL_ERROR "Interrupted ..."). Missing at
  // the start, or deleted meanwhile -> RESOURCE_DOES_NOT_EXIST.
  // Watch as a long poll: HttpTransport returns whole bodies, so each round is
  // GET ...?watch=1&fieldSelector=metadata.name=<name>&resourceVersion=<rv>&timeoutSeconds=<watch_seconds>,
  // whose newline-delimited events are read when the server ends it. 410 Gone
  // (or an ERROR event with code 410) -> re-get and continue; a failed watch,
  // or a server that does not stream events -> polling Get with backoff.
  StatusOr<nlohmann::json> WaitFor(const KubeResource& r, const std::string& ns, const std::string& name,
                                   std::chrono::milliseconds timeout,
                                   const std::function<std::optional<Status>(const nlohmann::json&)>& done,
                                   const std::function<void(const nlohmann::json&)>& progress = {});

  // The URL of a collection (name "") or an object; ns "" for a namespaced kind: all namespaces.
  std::string Url(const KubeResource& r, const std::string& ns, const std::string& name,
                  const std::string& subresource = "") const;

 private:
  KubeClient(KubeConfig config, KubeClientOptions options);
  struct Op;
  StatusOr<HttpResponse> Call(const Op& op, const HttpRequest& request, Idempotency idempotency);
  StatusOr<HttpResponse> SendOnce(const Op& op, HttpRequest request);
  Status Authorize(HttpRequest& request, std::shared_ptr<HttpTransport>* transport);
  std::string Scrub(std::string text) const;
  Status Finish(const Status& s) const;
  std::string Ns(const KubeResource& r, const std::string& ns) const;
  // The wait loop behind WaitFor and Delete(wait): gone_ok = absence is success.
  StatusOr<nlohmann::json> Wait(const KubeResource& r, const std::string& ns, const std::string& name,
                                std::chrono::milliseconds timeout,
                                const std::function<std::optional<Status>(const nlohmann::json&)>& done,
                                const std::function<void(const nlohmann::json&)>& progress, bool gone_ok);
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
