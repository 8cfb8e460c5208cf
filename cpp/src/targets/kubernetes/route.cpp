#include "targets/kubernetes/route.h"

#include <map>
#include <mutex>

#include "image/build_config.h"

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

std::string KubeConfigStr(const json& config, const char* key) { return config.value(key, ""); }

bool IsKubeOurs(const json& object) {
  return object.value("/metadata/labels"_json_pointer, json::object()).value(kKubeManagedByKey, "") == kKubeManagedBy;
}

std::string KubeLabelOf(const json& object, const char* key) {
  return object.value("/metadata/labels"_json_pointer, json::object()).value(key, "");
}

bool IsKubeEndpointObject(const json& object, const std::string& name) {
  return IsKubeOurs(object) && KubeLabelOf(object, kKubeComponentKey) == kKubeEndpointComponent &&
         KubeLabelOf(object, kKubeEndpointKey) == name;
}

const ConfigSchema& KubeCommonSchema() {
  static const ConfigSchema kCommon = [] {
    ConfigSchema schema = {
        {"image", ConfigType::kString, "", "The image that serves the model (e.g. from `mlflow-bridge image build`)."},
        {"registry", ConfigType::kString, "",
         "Instead of image: build the model's image without docker and push it to <registry>/<repository>[:tag]."},
    };
    // The image-build keys (for registry=), which also say how the cluster pulls the image.
    for (ConfigKey& key : ImageBuildSchema()) schema.push_back(std::move(key));
    schema.insert(
        schema.end(),
        {
            {"kubeconfig", ConfigType::kString, "",
             "kubeconfig file(s). Default: $KUBECONFIG, ~/.kube/config, or in-cluster."},
            {"context", ConfigType::kString, "", "kubeconfig context. Default: its current-context."},
            {"namespace", ConfigType::kString, "", "Namespace. Default: the target URI's, else the context's."},
            {"replicas", ConfigType::kInt, 1, "Pods serving the model.", 0, 1000},
            {"port", ConfigType::kInt, 8080, "Port the model server listens on in the pod.", 1, 65535},
            {"cpu_request", ConfigType::kString, "250m", "CPU request of the model container."},
            {"memory_request", ConfigType::kString, "512Mi", "Memory request."},
            {"cpu_limit", ConfigType::kString, "", "CPU limit (none by default)."},
            {"memory_limit", ConfigType::kString, "2Gi", "Memory limit."},
            {"run_as_user", ConfigType::kInt, 1000, "User id the container runs as (non-root); 0: as the image says.", 0,
             2147483647},
            {"env", ConfigType::kObject, json::object(), "Environment variables for the model server."},
            {"timeout_seconds", ConfigType::kInt, 600, "How long to wait until the deployment is available.", 1, 86400},
            {"render", ConfigType::kBool, false,
             "create/update/create_endpoint: print the manifests (YAML) instead of applying them (GitOps). Reads no "
             "kubeconfig and asks no cluster: the namespace comes from the target URI or namespace, the host from host "
             "(and, on Kyma, domain and the APIRule version, default v2); Istio VirtualService v1. "
             "The pull Secret is not printed."},
            {"host", ConfigType::kString, "", "Host name of the route (Kyma: a label of the cluster domain, or a FQDN)."},
            {"initial_weight", ConfigType::kInt, 0,
             "Percent of an endpoint's traffic for a deployment joining it (create --endpoint); the others keep their "
             "proportions. The first deployment of an endpoint takes all of it.",
             0, 100},
            {"create_endpoint", ConfigType::kBool, false,
             "create --endpoint E: make the endpoint first when it is not there (with host, domain, gateway or "
             "ingress_class from this config); deleted again if the deployment fails."},
            {"weights", ConfigType::kObject, json::object(),
             "update-endpoint: the traffic split, {\"blue\": 90, \"green\": 10} (relative; deployments left out keep theirs)."},
        });
    return schema;
  }();
  return kCommon;
}

}  // namespace mlflow_bridge::internal
