// Targets `kyma` and `aks`: models served by a Deployment and a Service on
// Kubernetes, reachable through a route: a Kyma APIRule, or on AKS an Ingress
// (or a LoadBalancer Service). Objects are applied server-side (create and
// update are the same idempotent call), carry app.kubernetes.io/managed-by:
// mlflow-bridge, and a failed update restores the previous revision.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/config.h"
#include "mlflow_bridge/http.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge {

enum class KubeFlavor { kKyma, kAks };

struct KubeDeployRequest {
  std::string name;            // the deployment (Deployment, Service, route)
  std::string model_uri;       // as the user gave it
  std::string run_id;          // may be empty
  std::string model_dir;       // the downloaded model (for registry= builds); may be empty with image=
  std::string python;          // the interpreter whose pip builds the image's dependencies
  std::string mlflow_version;
  nlohmann::json config = nlohmann::json::object();
};

struct KubeClientOptionsPublic {
  std::string namespace_name;          // from the target URI (kyma:/<namespace>); empty: the kubeconfig's
  std::shared_ptr<Clock> clock;        // null: the system clock
  std::function<bool()> interrupted;   // polled while waiting
  std::string image_work_dir;          // layers and their cache for registry= builds
  std::shared_ptr<HttpTransport> transport;  // tests only: null builds one from the kubeconfig
};

class KubernetesClient {
 public:
  static StatusOr<std::shared_ptr<KubernetesClient>> Make(KubeFlavor flavor, KubeClientOptionsPublic options);

  // OK when CreateDeployment could go ahead: a valid name, free in the namespace (before any model download).
  Status CheckNew(const std::string& name, const nlohmann::json& config);
  // Applies the objects and waits until the Deployment is available and the route ready; on failure, deletes
  // what this call created. With render=true, returns {"manifests": "<YAML>"} and applies nothing.
  StatusOr<nlohmann::json> CreateDeployment(const KubeDeployRequest& request);
  // A rolling update; when the new revision does not become available, the previous one is restored and the
  // error names the cause (ImagePullBackOff, CrashLoopBackOff, Unschedulable, timeout).
  StatusOr<nlohmann::json> UpdateDeployment(const KubeDeployRequest& request);
  Status DeleteDeployment(const std::string& name, const nlohmann::json& config);
  StatusOr<nlohmann::json> GetDeployment(const std::string& name);
  StatusOr<nlohmann::json> ListDeployments();
  // POSTs the body to the deployment's route (/invocations) and returns the reply.
  StatusOr<std::string> Predict(const std::string& name, const std::string& body, const std::string& content_type);

  // POSTs to a route URL (https://<host>/invocations); with MLFLOW_BRIDGE_GATEWAY=<scheme://address> set,
  // through that address with the route's host name as Host (a port-forward, a test gateway).
  static StatusOr<std::string> PostToRoute(const std::string& url, const std::string& body, const std::string& content_type,
                                           std::shared_ptr<HttpTransport> transport = nullptr);

  static const ConfigSchema& Schema(KubeFlavor flavor);
  static std::string Help(KubeFlavor flavor);

  struct Impl;

 private:
  explicit KubernetesClient(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

}  // namespace mlflow_bridge
