// What the deployment targets wire together: pieces of one platform that another needs.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/image.h"

namespace mlflow_bridge {

// `options` with the logins the image code cannot get by itself (ECR through the AWS API, ACR through Entra ID)
// filled in where unset.
ImageBuilderOptions WithRegistryLogins(ImageBuilderOptions options);

// What a target's `registry=` builds use: its image work folder, clock, interruption and native server folder
// (DeploymentTargetOptions::serve_dir), with the registry logins.
ImageBuilderOptions TargetImageBuilderOptions(std::string work_dir, std::shared_ptr<Clock> clock,
                                              std::function<bool()> interrupted, std::string serve_dir);

}  // namespace mlflow_bridge
