// A Kubernetes target's config, parsed once at the edge (ParseConfig against the route strategy's
// schema, so every value has its key's type) into a struct: the keys every Kubernetes target takes,
// and the route's own keys in the strategy's struct.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "image/build_config.h"
#include "mlflow_bridge/config.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

// The route's own keys (kyma: domain, gateway, auth, ...; aks: expose, ingress_class), made by its
// strategy (KubeRouteStrategy::ReadRouteConfig) and read by it alone.
struct KubeRouteConfig {
  virtual ~KubeRouteConfig() = default;
};

struct KubeTargetConfig {
  std::string image, registry;
  ImageBuildConfig build;  // registry=, and how the cluster pulls the image
  std::string kubeconfig, context, namespace_name;
  int replicas = 1;
  int port = 8080;
  std::string cpu_request, memory_request, cpu_limit, memory_limit;
  int run_as_user = 1000;
  nlohmann::json env = nlohmann::json::object();
  int timeout_seconds = 600;
  bool render = false;
  std::string host;
  int initial_weight = 0;
  bool create_endpoint = false;
  nlohmann::json weights = nlohmann::json::object();
  std::shared_ptr<const KubeRouteConfig> route;
};

// The keys of KubeTargetConfig (without the route's), for the strategies' schemas.
const ConfigSchema& KubeCommonSchema();

// The common keys out of a config parsed with a schema that has them (KubeCommonSchema's).
KubeTargetConfig ReadKubeTargetConfig(const nlohmann::json& parsed);

}  // namespace mlflow_bridge::internal
