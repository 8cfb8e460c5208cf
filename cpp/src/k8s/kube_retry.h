// The Kubernetes retry policy, over any KubeApi: every call the stub makes is idempotent (GET, LIST,
// DELETE, and server-side apply, which states the whole intent), so each transient failure (429, 5xx,
// an unreachable server, a 409 Conflict on apply: KubeErrorStatus says which) is tried again through the
// one RetryLoop. A watch round is not retried: a failed one makes the wait poll instead.
#pragma once

#include <memory>
#include <string>

#include "k8s/kube_api.h"
#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/retry.h"

namespace mlflow_bridge::internal {

class RetryingKubeApi : public KubeApi {
 public:
  // `clock` null: SystemClock().
  RetryingKubeApi(std::shared_ptr<KubeApi> stub, RetryPolicy retry = {}, BackoffPolicy backoff = {},
                  std::shared_ptr<Clock> clock = nullptr);

  const KubeConfig& config() const override { return stub_->config(); }
  StatusOr<nlohmann::json> ServerVersion() override;
  StatusOr<bool> Serves(std::string_view group, std::string_view version) override;
  StatusOr<nlohmann::json> Get(const KubeResource& r, const std::string& ns, const std::string& name) override;
  StatusOr<nlohmann::json> List(const KubeResource& r, const std::string& ns, const std::string& label_selector = "",
                                const std::string& field_selector = "") override;
  StatusOr<nlohmann::json> Apply(const nlohmann::json& object) override;
  StatusOr<nlohmann::json> ApplyStatus(const nlohmann::json& object) override;
  Status Delete(const KubeResource& r, const std::string& ns, const std::string& name) override;
  StatusOr<KubeWatchRound> Watch(const KubeResource& r, const std::string& ns, const std::string& name,
                                 const std::string& resource_version, int timeout_seconds) override;

 private:
  template <typename T>
  StatusOr<T> Retried(const std::string& what, const std::function<StatusOr<T>()>& call);
  std::string Named(const KubeResource& r, const std::string& ns, const std::string& name) const;

  std::shared_ptr<KubeApi> stub_;
  RetryPolicy retry_;
  BackoffPolicy backoff_;
  std::shared_ptr<Clock> clock_;
};

}  // namespace mlflow_bridge::internal
