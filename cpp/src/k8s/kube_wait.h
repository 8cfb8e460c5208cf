// Waiting on one Kubernetes object, over any KubeApi (the stub does not wait): watch rounds, falling back
// to polling Get with backoff, bounded by a timeout and stopped by `interrupted`.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "k8s/kube_api.h"
#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/retry.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

struct KubeWaitOptions {
  std::shared_ptr<Clock> clock;  // null: SystemClock()
  BackoffPolicy backoff;         // the polling interval when a watch cannot be used
  std::function<bool()> interrupted;
  // Server-side timeout of one watch round (seconds); the whole wait is bounded by its timeout.
  int watch_seconds = 10;
  // How often WaitForKube calls `progress`.
  std::chrono::milliseconds progress_interval{15'000};
};

// Waits on one object: done(object) on its current state, on every change and after each watch round
// without one, until done returns a value (OK: stop and return the object; error: return it), the
// timeout passes (DEADLINE_EXCEEDED naming the object), or `interrupted` (INTERNAL_ERROR "Interrupted
// ..."). Missing at the start, or deleted meanwhile -> RESOURCE_DOES_NOT_EXIST. ns "" for a namespaced
// kind: the kubeconfig's.
// A watch round that is gone (410, or an ERROR event with code 410) -> Get and continue; a failed watch,
// or a server that does not stream events -> polling Get with backoff.
StatusOr<nlohmann::json> WaitForKube(KubeApi& api, const KubeWaitOptions& options, const KubeResource& r,
                                     const std::string& ns, const std::string& name, std::chrono::milliseconds timeout,
                                     const std::function<std::optional<Status>(const nlohmann::json&)>& done,
                                     const std::function<void(const nlohmann::json&)>& progress = {});

// Delete (foreground) and wait until the object is gone, within `timeout`. Gone already is OK.
Status DeleteKubeAndWait(KubeApi& api, const KubeWaitOptions& options, const KubeResource& r, const std::string& ns,
                         const std::string& name, std::chrono::milliseconds timeout = std::chrono::seconds(120));

}  // namespace mlflow_bridge::internal
