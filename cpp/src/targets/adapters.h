// The DeploymentTarget of each target, made by MakeDeploymentTarget (targets/deployment_target.cpp) once
// it has read the target URI.
#pragma once

#include <memory>
#include <string>

#include "mlflow_bridge/deployment_target.h"
#include "mlflow_bridge/kubernetes_client.h"

namespace mlflow_bridge::internal {

StatusOr<std::shared_ptr<DeploymentTarget>> MakeLocalTarget(const DeploymentTargetOptions& options);
StatusOr<std::shared_ptr<DeploymentTarget>> MakeSageMakerTarget(const std::string& region, const std::string& role,
                                                                const DeploymentTargetOptions& options);
StatusOr<std::shared_ptr<DeploymentTarget>> MakeKubernetesTarget(KubeFlavor flavor, const std::string& namespace_name,
                                                                 const DeploymentTargetOptions& options);

}  // namespace mlflow_bridge::internal
