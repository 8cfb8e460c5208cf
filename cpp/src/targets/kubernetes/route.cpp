#include "targets/kubernetes/route.h"

#include <map>
#include <mutex>

using nlohmann::json;

namespace mlflow_bridge::internal {

const KubeResource& KubeKind(std::string_view api_version, std::string_view kind) {
  static std::mutex mu;
  static std::map<std::string, KubeResource> cache;
  std::lock_guard lock(mu);
  std::string key = std::string(api_version) + "/" + std::string(kind);
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, *ResourceFor(api_version, kind)).first;
  return it->second;
}

bool IsKubeOurs(const json& object) {
  return object.value("/metadata/labels"_json_pointer, json::object()).value(kManagedByKey, "") == kManagedByValue;
}

std::string KubeLabelOf(const json& object, const char* key) {
  return object.value("/metadata/labels"_json_pointer, json::object()).value(key, "");
}

bool IsKubeEndpointObject(const json& object, const std::string& name) {
  return IsKubeOurs(object) && KubeLabelOf(object, kKubeComponentKey) == kKubeEndpointComponent &&
         KubeLabelOf(object, kKubeEndpointKey) == name;
}

}  // namespace mlflow_bridge::internal
