#include "k8s/kube_retry.h"

#include <utility>

namespace mlflow_bridge::internal {

using json = nlohmann::json;

RetryingKubeApi::RetryingKubeApi(std::shared_ptr<KubeApi> stub, RetryPolicy retry, BackoffPolicy backoff,
                                 std::shared_ptr<Clock> clock)
    : stub_(std::move(stub)), retry_(retry), backoff_(backoff), clock_(clock ? std::move(clock) : SystemClock()) {}

template <typename T>
StatusOr<T> RetryingKubeApi::Retried(const std::string& what, const std::function<StatusOr<T>()>& call) {
  return RetryLoop<T>(retry_, backoff_, Idempotency::kIdempotent, *clock_, "Kubernetes " + what, call);
}

std::string RetryingKubeApi::Named(const KubeResource& r, const std::string& ns, const std::string& name) const {
  return KubeObjectName(r, r.namespaced && ns.empty() ? stub_->config().namespace_name : ns, name);
}

StatusOr<json> RetryingKubeApi::ServerVersion() {
  return Retried<json>("get server version", [&] { return stub_->ServerVersion(); });
}

StatusOr<bool> RetryingKubeApi::Serves(std::string_view group, std::string_view version) {
  return Retried<bool>("discover API group " + std::string(group.empty() ? "core" : group),
                       [&] { return stub_->Serves(group, version); });
}

StatusOr<json> RetryingKubeApi::Get(const KubeResource& r, const std::string& ns, const std::string& name) {
  return Retried<json>("get " + Named(r, ns, name), [&] { return stub_->Get(r, ns, name); });
}

StatusOr<json> RetryingKubeApi::List(const KubeResource& r, const std::string& ns, const std::string& label_selector,
                                     const std::string& field_selector) {
  return Retried<json>("list " + r.kind + (ns.empty() ? "" : " in namespace " + ns),
                       [&] { return stub_->List(r, ns, label_selector, field_selector); });
}

StatusOr<json> RetryingKubeApi::Apply(const json& object) {
  return Retried<json>("apply " + object.value("kind", "") + " " + object.value("/metadata/name"_json_pointer, ""),
                       [&] { return stub_->Apply(object); });
}

StatusOr<json> RetryingKubeApi::ApplyStatus(const json& object) {
  return Retried<json>("apply status of " + object.value("kind", "") + " " + object.value("/metadata/name"_json_pointer, ""),
                       [&] { return stub_->ApplyStatus(object); });
}

Status RetryingKubeApi::Delete(const KubeResource& r, const std::string& ns, const std::string& name) {
  return internal::RetryLoopImpl(retry_, backoff_, Idempotency::kIdempotent, *clock_,
                                 "Kubernetes delete " + Named(r, ns, name), [&] { return stub_->Delete(r, ns, name); });
}

StatusOr<KubeWatchRound> RetryingKubeApi::Watch(const KubeResource& r, const std::string& ns, const std::string& name,
                                                const std::string& resource_version, int timeout_seconds) {
  return stub_->Watch(r, ns, name, resource_version, timeout_seconds);
}

}  // namespace mlflow_bridge::internal
