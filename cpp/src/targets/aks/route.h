// AKS's route strategy over the Kubernetes core (defined in route.cpp).
#pragma once

#include "targets/kubernetes/route.h"

namespace mlflow_bridge::internal {

const KubeRouteStrategy& AksRouteStrategy();

}  // namespace mlflow_bridge::internal
