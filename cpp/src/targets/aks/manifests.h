// AKS's route objects, as plain JSON: a deployment's Ingress and an MLflow endpoint's ingress-nginx
// Ingress and canary Ingress.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "targets/kubernetes/manifests.h"

namespace mlflow_bridge::internal {

nlohmann::json IngressManifest(const KubeApp& app, const KubeRoute& route);

// AKS: the Ingress <name> to the primary (or, without deployments, to a Service <name> without pods,
// which is included) and the canary Ingress <name>-canary with the second's weight.
std::vector<nlohmann::json> EndpointIngressManifests(const KubeEndpoint& endpoint);
std::string CanaryIngressName(const std::string& endpoint);

}  // namespace mlflow_bridge::internal
