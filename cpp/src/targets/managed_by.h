// The mark of what mlflow-bridge made, the same for every target (DESIGN.md, "Names"): the tag (SageMaker)
// or label (Kubernetes) app.kubernetes.io/managed-by=mlflow-bridge. Lists show what carries it; what does
// not carry it is never deleted.
#pragma once

#include <string>

namespace mlflow_bridge::internal {

inline constexpr char kManagedByKey[] = "app.kubernetes.io/managed-by";
inline constexpr char kManagedByValue[] = "mlflow-bridge";

// As a Kubernetes label selector: "app.kubernetes.io/managed-by=mlflow-bridge".
inline std::string ManagedBySelector() { return std::string(kManagedByKey) + "=" + kManagedByValue; }

}  // namespace mlflow_bridge::internal
