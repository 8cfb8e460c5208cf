// The mark of what mlflow-bridge made, the same for every target: the tag (SageMaker) or label
// (Kubernetes) app.kubernetes.io/managed-by=mlflow-bridge. Lists show what carries it; what does not carry
// it is never deleted.
#pragma once

namespace mlflow_bridge::internal {

inline constexpr char kManagedByKey[] = "app.kubernetes.io/managed-by";
inline constexpr char kManagedBy[] = "mlflow-bridge";

}  // namespace mlflow_bridge::internal
