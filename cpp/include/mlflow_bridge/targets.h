// What the deployment targets wire together: pieces of one platform that another needs.
#pragma once

#include "mlflow_bridge/image.h"

namespace mlflow_bridge {

// `options` with the logins the image code cannot get by itself (ECR, through the AWS API) filled in.
ImageBuilderOptions WithRegistryLogins(ImageBuilderOptions options);

}  // namespace mlflow_bridge
