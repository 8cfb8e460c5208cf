// Kyma's route objects, as plain JSON: a deployment's APIRule and an MLflow endpoint's Istio VirtualService.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "targets/kubernetes/manifests.h"

namespace mlflow_bridge::internal {

// Kyma APIRule in version "v2" or "v1beta1".
nlohmann::json ApiRuleManifest(const KubeApp& app, const KubeRoute& route, const std::string& version);

// Kyma: an Istio VirtualService (apiVersion networking.istio.io/<version>) on the gateway: one route per
// deployment by kKubeDeploymentHeader, then the weighted split; without deployments a direct 503.
nlohmann::json VirtualServiceManifest(const KubeEndpoint& endpoint, const std::string& version);

}  // namespace mlflow_bridge::internal
