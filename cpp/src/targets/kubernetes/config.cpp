#include "targets/kubernetes/config.h"

namespace mlflow_bridge::internal {

using nlohmann::json;

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

KubeTargetConfig ReadKubeTargetConfig(const json& parsed) {
  KubeTargetConfig c;
  c.image = parsed.value("image", c.image);
  c.registry = parsed.value("registry", c.registry);
  c.build = ReadImageBuildConfig(parsed);
  c.kubeconfig = parsed.value("kubeconfig", c.kubeconfig);
  c.context = parsed.value("context", c.context);
  c.namespace_name = parsed.value("namespace", c.namespace_name);
  c.replicas = parsed.value("replicas", c.replicas);
  c.port = parsed.value("port", c.port);
  c.cpu_request = parsed.value("cpu_request", c.cpu_request);
  c.memory_request = parsed.value("memory_request", c.memory_request);
  c.cpu_limit = parsed.value("cpu_limit", c.cpu_limit);
  c.memory_limit = parsed.value("memory_limit", c.memory_limit);
  c.run_as_user = parsed.value("run_as_user", c.run_as_user);
  c.env = parsed.value("env", c.env);
  c.timeout_seconds = parsed.value("timeout_seconds", c.timeout_seconds);
  c.render = parsed.value("render", c.render);
  c.host = parsed.value("host", c.host);
  c.initial_weight = parsed.value("initial_weight", c.initial_weight);
  c.create_endpoint = parsed.value("create_endpoint", c.create_endpoint);
  c.weights = parsed.value("weights", c.weights);
  return c;
}

}  // namespace mlflow_bridge::internal
