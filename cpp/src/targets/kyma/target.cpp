// `kyma` as a DeploymentTarget: the Kubernetes core with Kyma's routes.
#include "mlflow_bridge/kubernetes_client.h"
#include "targets/adapters.h"
#include "targets/kyma/route.h"

namespace mlflow_bridge::internal {

StatusOr<std::shared_ptr<DeploymentTarget>> MakeKymaTarget(const std::string& namespace_name,
                                                           const DeploymentTargetOptions& options) {
  return MakeKubernetesTarget(KymaRouteStrategy(), namespace_name, options);
}

std::string KymaHelp() { return KubernetesClient::Help(KymaRouteStrategy()); }

}  // namespace mlflow_bridge::internal
