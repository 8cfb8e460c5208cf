// The mark on everything mlflow-bridge makes (DESIGN.md, "Names"): the label on Kubernetes objects and
// the tag on cloud resources. What carries it is ours to update and delete; nothing else is touched.
#pragma once

#include <string>

namespace mlflow_bridge::internal {

inline constexpr char kManagedByKey[] = "app.kubernetes.io/managed-by";
inline constexpr char kManagedByValue[] = "mlflow-bridge";

// As a Kubernetes label selector: "app.kubernetes.io/managed-by=mlflow-bridge".
inline std::string ManagedBySelector() { return std::string(kManagedByKey) + "=" + kManagedByValue; }

}  // namespace mlflow_bridge::internal
