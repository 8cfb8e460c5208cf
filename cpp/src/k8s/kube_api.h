// The Kubernetes API stub: one method per REST call, one attempt each, no retries and no waiting.
// KubeClient (kube_client.h) implements it over HTTP; tests/cpp/mock_kube.h is an in-memory stand-in.
// Retries live above it (RetryingKubeApi, kube_retry.h) and waiting too (kube_wait.h).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "k8s/kubeconfig.h"
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

// "<Kind> <ns>/<name>" ("<Kind> <name>" for a cluster-wide kind or no namespace), as messages name an object.
std::string KubeObjectName(const KubeResource& r, const std::string& ns, const std::string& name);

struct KubeWatchEvent {
  std::string type;  // ADDED, MODIFIED, DELETED, BOOKMARK, ERROR
  nlohmann::json object;
};

// One watch round (a long poll: the server ends it after timeoutSeconds).
struct KubeWatchRound {
  bool gone = false;                   // 410 Gone: the resourceVersion is too old
  bool stream = true;                  // false: the reply was not a stream of watch events (a proxy that ignores ?watch)
  std::vector<KubeWatchEvent> events;  // in order, up to the first line that is not an event
};

class KubeApi {
 public:
  virtual ~KubeApi() = default;

  // The kubeconfig it talks with (server, context, user, the default namespace) for messages.
  virtual const KubeConfig& config() const = 0;

  // GET /version (also a cheap reachability and credentials check).
  virtual StatusOr<nlohmann::json> ServerVersion() = 0;
  // Discovery: GET /apis/<group>/<version> ("" or "core" group: /api/<version>); 404 -> false.
  virtual StatusOr<bool> Serves(std::string_view group, std::string_view version) = 0;
  // 404 -> RESOURCE_DOES_NOT_EXIST. ns "" for a namespaced kind = the kubeconfig's namespace.
  virtual StatusOr<nlohmann::json> Get(const KubeResource& r, const std::string& ns, const std::string& name) = 0;
  // All items (every page). ns "" = all namespaces. Returns the list object.
  virtual StatusOr<nlohmann::json> List(const KubeResource& r, const std::string& ns, const std::string& label_selector = "",
                                        const std::string& field_selector = "") = 0;
  // Server-side apply (fieldManager mlflow-bridge, force); the namespace is metadata.namespace, else the
  // kubeconfig's. Idempotent by design; a 409 Conflict is TEMPORARILY_UNAVAILABLE.
  virtual StatusOr<nlohmann::json> Apply(const nlohmann::json& object) = 0;
  // The same on the status subresource.
  virtual StatusOr<nlohmann::json> ApplyStatus(const nlohmann::json& object) = 0;
  // One DELETE with propagationPolicy Foreground; 404 is OK. Does not wait (see DeleteAndWait, kube_wait.h).
  virtual Status Delete(const KubeResource& r, const std::string& ns, const std::string& name) = 0;
  // One watch round on one object from `resource_version`, ended by the server after `timeout_seconds`.
  virtual StatusOr<KubeWatchRound> Watch(const KubeResource& r, const std::string& ns, const std::string& name,
                                         const std::string& resource_version, int timeout_seconds) = 0;
};

}  // namespace mlflow_bridge::internal
