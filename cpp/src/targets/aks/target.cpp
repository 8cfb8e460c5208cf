// `aks` as a DeploymentTarget: the Kubernetes core with AKS's routes.
#include "mlflow_bridge/kubernetes_client.h"
#include "targets/adapters.h"
#include "targets/aks/route.h"

namespace mlflow_bridge::internal {

StatusOr<std::shared_ptr<DeploymentTarget>> MakeAksTarget(const std::string& namespace_name,
                                                          const DeploymentTargetOptions& options) {
  return MakeKubernetesTarget(AksRouteStrategy(), namespace_name, options);
}

std::string AksHelp() { return KubernetesClient::Help(AksRouteStrategy()); }

}  // namespace mlflow_bridge::internal
