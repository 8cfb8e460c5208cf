#include "mlflow_bridge/kubernetes_client.h"

#include <cstdlib>
#include <map>
#include <mutex>

#include "common/rollback.h"
#include "image/reference.h"
#include "k8s/kube_client.h"
#include "k8s/kubeconfig.h"
#include "mlflow_bridge/image.h"
#include "mlflow_bridge/logging.h"
#include "mlflow_bridge/targets.h"
#include "targets/kubernetes/manifests.h"
#include "targets/registry_logins.h"

using nlohmann::json;

namespace mlflow_bridge {
namespace {

using internal::KubeApp;
using internal::KubeClient;
using internal::KubeEndpoint;
using internal::KubeEndpointMember;
using internal::KubeResource;
using internal::KubeRoute;
using internal::RollbackRecord;
using std::chrono::seconds;

const KubeResource& Kind(std::string_view api_version, std::string_view kind) {
  static std::mutex mu;
  static std::map<std::string, KubeResource> cache;
  std::lock_guard lock(mu);
  std::string key = std::string(api_version) + "/" + std::string(kind);
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, *internal::ResourceFor(api_version, kind)).first;
  return it->second;
}
const KubeResource& Deployments() { return Kind("apps/v1", "Deployment"); }
const KubeResource& Services() { return Kind("v1", "Service"); }
const KubeResource& Secrets() { return Kind("v1", "Secret"); }
const KubeResource& Pods() { return Kind("v1", "Pod"); }
const KubeResource& Events() { return Kind("v1", "Event"); }
const KubeResource& Namespaces() { return Kind("v1", "Namespace"); }
const KubeResource& ConfigMaps() { return Kind("v1", "ConfigMap"); }
const KubeResource& Ingresses() { return Kind("networking.k8s.io/v1", "Ingress"); }
const KubeResource& ApiRules(const std::string& version) { return Kind("gateway.kyma-project.io/" + version, "APIRule"); }
const KubeResource& VirtualServices(const std::string& version) {
  return Kind("networking.istio.io/" + version, "VirtualService");
}

std::string Str(const json& config, const char* key) { return config.value(key, ""); }

constexpr char kRevisionKey[] = "deployment.kubernetes.io/revision";
constexpr char kFlavor[] = "python_function";  // what a deployment serves (MLflow's CLI prints it)

bool IsOurs(const json& object) {
  return object.value("/metadata/labels"_json_pointer, json::object()).value(internal::kKubeManagedByKey, "") ==
         internal::kKubeManagedBy;
}

std::string Label(const json& object, const char* key) {
  return object.value("/metadata/labels"_json_pointer, json::object()).value(key, "");
}

// The MLflow endpoint a deployment belongs to ("" for none).
std::string EndpointOf(const json& deployment) { return Label(deployment, internal::kKubeEndpointKey); }

// Whether `object` is one of the route objects of endpoint `name`.
bool IsEndpointObject(const json& object, const std::string& name) {
  return IsOurs(object) && Label(object, internal::kKubeComponentKey) == internal::kKubeEndpointComponent &&
         Label(object, internal::kKubeEndpointKey) == name;
}

// What a pod that does not become ready is waiting for, from its status: "ImagePullBackOff: ..." or "".
std::string PodTrouble(const json& pod) {
  for (const auto& c : pod.value("/status/containerStatuses"_json_pointer, json::array())) {
    const json waiting = c.value("/state/waiting"_json_pointer, json::object());
    std::string reason = waiting.value("reason", "");
    if (reason == "ImagePullBackOff" || reason == "ErrImagePull" || reason == "CrashLoopBackOff" ||
        reason == "CreateContainerConfigError" || reason == "InvalidImageName" || reason == "CreateContainerError") {
      return reason + (waiting.value("message", "").empty() ? "" : ": " + waiting.value("message", ""));
    }
  }
  for (const auto& cond : pod.value("/status/conditions"_json_pointer, json::array())) {
    if (cond.value("type", "") == "PodScheduled" && cond.value("status", "") == "False" &&
        cond.value("reason", "") == "Unschedulable") {
      return "Unschedulable: " + cond.value("message", "");
    }
  }
  return "";
}

}  // namespace

struct KubernetesClient::Impl {
  KubeFlavor flavor;
  KubeClientOptionsPublic options;
  std::mutex mu;
  std::map<std::string, std::shared_ptr<KubeClient>> clients;  // by kubeconfig + context
  std::unique_ptr<DeploymentImages> images;                    // registry=: the model's own image, built without docker

  std::string Target() const { return flavor == KubeFlavor::kKyma ? "kyma" : "aks"; }

  struct Session {
    json config;
    std::shared_ptr<KubeClient> kube;  // null with render=true: rendering reads no kubeconfig and asks no cluster
    std::string ns;
    bool render = false;
  };

  // `may_render`: the operation takes render=true (create, update, create_endpoint); elsewhere it is an error.
  StatusOr<Session> Open(const json& given, bool may_render = false) {
    auto config = ParseConfig(Schema(flavor), given);
    if (!config.ok()) return config.status();
    Session s;
    s.config = std::move(*config);
    s.render = s.config["render"].get<bool>();
    if (s.render && !may_render) {
      return InvalidParameterError(
          "render=true renders what create, update and create_endpoint would apply; this "
          "command has nothing to render. Leave out -C render=true.");
    }
    const std::string given_ns = !Str(s.config, "namespace").empty() ? Str(s.config, "namespace") : options.namespace_name;
    if (s.render) {
      if (given_ns.empty()) {
        return InvalidParameterError(
            "render=true reads no kubeconfig and asks no cluster, so it needs the namespace: "
            "use the target URI " +
            Target() + ":/<namespace> or -C namespace=<namespace>.");
      }
      MLFLOW_BRIDGE_RETURN_IF_ERROR(internal::CheckKubeName(given_ns, "namespace"));
      s.ns = given_ns;
      return s;
    }
    const std::string path = Str(s.config, "kubeconfig"), context = Str(s.config, "context");
    {
      std::lock_guard lock(mu);
      auto& client = clients[path + "\n" + context];
      if (!client) {
        auto kubeconfig = internal::LoadKubeConfig(path, context);
        if (!kubeconfig.ok()) return kubeconfig.status();
        internal::KubeClientOptions o;
        o.transport = options.transport;
        o.clock = options.clock;
        o.interrupted = options.interrupted;
        o.watch_seconds = 2;  // the transport reads a watch when it ends: short rounds see changes soon
        auto made = KubeClient::Make(*kubeconfig, o);
        if (!made.ok()) return made.status();
        client = *made;
      }
      s.kube = client;
    }
    s.ns = !given_ns.empty() ? given_ns : s.kube->config().namespace_name;
    MLFLOW_BRIDGE_RETURN_IF_ERROR(internal::CheckKubeName(s.ns, "namespace"));
    return s;
  }

  // ------------------------------------------------------------ the objects
  StatusOr<std::string> Image(Session& s, const DeployRequest& request) {
    const std::string image = Str(s.config, "image"), registry = Str(s.config, "registry");
    if (!image.empty() && !registry.empty()) {
      return InvalidParameterError(
          "Config keys 'image' and 'registry' cannot go together: image serves an existing "
          "image, registry builds one for the model and pushes it there.");
    }
    if (!image.empty()) return image;
    if (registry.empty()) {
      return InvalidParameterError(
          "Which image should serve the model? Pass -C image=<reference> (e.g. one from "
          "`mlflow-bridge image build`), or -C registry=<registry>/<repository> to build "
          "and push one now.");
    }
    const std::string auth = Str(s.config, "registry_auth");
    json config = {
        {"install_dependencies", s.config["install_dependencies"]},
        {"insecure_registry", s.config["insecure_registry"]},
        {"registry_auth", auth == "basic" || auth == "ecr" ? auth : "auto"},  // none: no pull Secret, still a login to push
        {"ecr_region", s.config["ecr_region"]},
        {"aws_profile", s.config["aws_profile"]}};
    if (!Str(s.config, "base_image").empty()) config["base_image"] = s.config["base_image"];
    if (!Str(s.config, "registry_username").empty()) {
      config["username"] = s.config["registry_username"];
      config["password"] = s.config["registry_password"];
    }
    return images->Build(
        registry, request.name,
        {request.model_dir, request.model_uri, request.run_id, request.python, request.mlflow_version, config});
  }

  // The login the cluster pulls the image with (as the pull Secret <name>-pull), or none: registry_auth
  // basic (registry_username/password), ecr (a 12-hour password from GetAuthorizationToken), none, or
  // auto: basic when a username is given, ecr for *.dkr.ecr.* registries, else none.
  StatusOr<std::optional<internal::RegistryCredentials>> PullLogin(Session& s, const std::string& registry) {
    std::string auth = Str(s.config, "registry_auth");
    const std::string username = Str(s.config, "registry_username"), password = Str(s.config, "registry_password");
    if (auth == "auto")
      auth = !username.empty() ? "basic" : registry.find(".dkr.ecr.") != std::string::npos ? "ecr" : "none";
    if (auth == "none") return std::optional<internal::RegistryCredentials>();
    // render=true prints no Secret (only its name, in imagePullSecrets): no password is needed or fetched.
    if (s.render) return std::optional<internal::RegistryCredentials>(internal::RegistryCredentials{});
    if (auth == "basic") {
      if (username.empty() || password.empty()) {
        return InvalidParameterError(
            "registry_auth=basic needs -C registry_username=... and -C registry_password=... "
            "(an ACR service principal's app id and secret, or the registry's user and token).");
      }
      internal::RegistryCredentials c;
      c.username = username;
      c.password = password;
      return std::optional<internal::RegistryCredentials>(c);
    }
    if (auth != "ecr") {
      return InvalidParameterError("Config key 'registry_auth' must be auto, none, basic or ecr; got '" + auth + "'.");
    }
    auto ecr =
        internal::MakeEcrRegistryCredentials(registry, Str(s.config, "ecr_region"), Str(s.config, "aws_profile"),
                                             options.transport ? options.transport : MakeCurlTransport(), options.clock);
    if (!ecr.ok()) return ecr.status();
    auto c = (*ecr)->Get(registry);
    if (!c.ok()) return c.status();
    return std::optional<internal::RegistryCredentials>(*c);
  }

  StatusOr<std::string> ClusterDomain(Session& s) {
    if (!Str(s.config, "domain").empty()) return Str(s.config, "domain");
    if (s.render) {
      return InvalidParameterError(
          "render=true asks no cluster, so it cannot look up the cluster's domain for the "
          "route's host name: pass -C domain=<cluster domain> (Kyma keeps it in ConfigMap "
          "kube-system/shoot-info: kubectl get configmap shoot-info -n kube-system -o "
          "jsonpath='{.data.domain}'), or the whole host name with -C host=<fqdn>.");
    }
    // Kyma (Gardener) clusters say it in kube-system/shoot-info.
    auto info = s.kube->Get(ConfigMaps(), "kube-system", "shoot-info");
    if (info.ok() && !info->value("/data/domain"_json_pointer, "").empty())
      return info->value("/data/domain"_json_pointer, "");
    // As SAP FedML does: the API server's host without its first label (api.c-1.kyma.ondemand.com).
    std::string host = s.kube->config().server;
    host = host.substr(host.find("://") == std::string::npos ? 0 : host.find("://") + 3);
    host = host.substr(0, host.find_first_of(":/"));
    size_t dot = host.find('.');
    if (dot == std::string::npos || std::isdigit(static_cast<unsigned char>(host.back()))) {
      return InvalidParameterError("Cannot tell the cluster's domain from its API server address (" +
                                   s.kube->config().server + "): pass -C host=<fqdn> or -C domain=<domain>.");
    }
    return host.substr(dot + 1);
  }

  StatusOr<std::string> Host(Session& s, const std::string& name) {
    std::string host = Str(s.config, "host");
    if (flavor == KubeFlavor::kAks) return host;  // may be empty: the Ingress answers any host
    if (host.find('.') != std::string::npos) return host;
    auto domain = ClusterDomain(s);
    if (!domain.ok()) return domain.status();
    return (host.empty() ? name : host) + "." + *domain;
  }

  StatusOr<std::string> ApiRuleVersion(Session& s) {
    std::string wanted = Str(s.config, "apirule_version");
    if (wanted != "auto" && wanted != "v2" && wanted != "v1beta1") {
      return InvalidParameterError("Config key 'apirule_version' must be auto, v2 or v1beta1; got '" + wanted + "'.");
    }
    if (wanted != "auto") return wanted;
    if (s.render) return std::string("v2");  // asks no cluster: the version Kyma serves today
    auto v2 = s.kube->Serves("gateway.kyma-project.io", "v2");
    if (!v2.ok()) return v2.status();
    if (*v2) return std::string("v2");
    auto v1 = s.kube->Serves("gateway.kyma-project.io", "v1beta1");
    if (!v1.ok()) return v1.status();
    if (*v1) return std::string("v1beta1");
    return InvalidParameterError(
        "The cluster serves no APIRule (gateway.kyma-project.io v2 or v1beta1): is the Kyma "
        "API Gateway module enabled?");
  }

  struct Plan {
    KubeApp app;
    std::string route_kind;  // "APIRule", "Ingress", "" (LoadBalancer Service)
    std::string route_version;
    std::string url;  // where predict goes
    std::string host;
    std::vector<json> objects;  // in apply order
  };

  StatusOr<Plan> MakePlan(Session& s, const DeployRequest& request) {
    Plan p;
    KubeApp& a = p.app;
    a.name = request.name;
    a.namespace_name = s.ns;
    a.replicas = s.config["replicas"];
    a.port = s.config["port"];
    a.cpu_request = Str(s.config, "cpu_request");
    a.cpu_limit = Str(s.config, "cpu_limit");
    a.memory_request = Str(s.config, "memory_request");
    a.memory_limit = Str(s.config, "memory_limit");
    a.run_as_user = s.config["run_as_user"];
    a.env = s.config["env"];
    a.model_uri = request.model_uri;
    a.run_id = request.run_id;
    a.endpoint = request.endpoint;
    a.progress_deadline_seconds = s.config["timeout_seconds"];
    auto image = Image(s, request);
    if (!image.ok()) return image.status();
    a.image = *image;
    auto ref = internal::ParseImageReference(a.image);
    if (!ref.ok()) return ref.status().WithContext("The image");
    auto login = PullLogin(s, ref->registry);
    if (!login.ok()) return login.status();
    if (*login) {
      a.pull_secret = a.name + "-pull";
      p.objects.push_back(internal::PullSecretManifest(
          a, ref->registry == internal::kDockerHubRegistry ? "https://index.docker.io/v1/" : ref->registry,
          (*login)->username, (*login)->password));
    }
    const bool load_balancer = flavor == KubeFlavor::kAks && Str(s.config, "expose") == "loadbalancer" && a.endpoint.empty();
    p.objects.push_back(internal::ServiceManifest(a, load_balancer ? "LoadBalancer" : "ClusterIP"));
    p.objects.push_back(internal::DeploymentManifest(a));
    if (!a.endpoint.empty()) {  // the endpoint's route serves it
      MLFLOW_BRIDGE_RETURN_IF_ERROR(NoJwtOnEndpoints(s));
      return p;
    }
    auto host = Host(s, a.name);
    if (!host.ok()) return host.status();
    p.host = *host;
    KubeRoute route;
    route.host = p.host;
    route.service = a.name;
    route.port = a.port;
    if (flavor == KubeFlavor::kKyma) {
      route.gateway = Str(s.config, "gateway");
      if (Str(s.config, "auth") == "jwt") {
        route.jwt_issuer = Str(s.config, "jwt_issuer");
        route.jwks_uri = Str(s.config, "jwks_uri");
        if (route.jwt_issuer.empty() || route.jwks_uri.empty()) {
          return InvalidParameterError("auth=jwt needs -C jwt_issuer=<issuer URL> and -C jwks_uri=<keys URL>.");
        }
      } else if (Str(s.config, "auth") != "none") {
        return InvalidParameterError("Config key 'auth' must be none or jwt; got '" + Str(s.config, "auth") + "'.");
      }
      auto version = ApiRuleVersion(s);
      if (!version.ok()) return version.status();
      p.route_kind = "APIRule";
      p.route_version = *version;
      p.objects.push_back(internal::ApiRuleManifest(a, route, *version));
      p.url = "https://" + p.host;
    } else if (!load_balancer) {
      if (Str(s.config, "expose") != "ingress") {
        return InvalidParameterError("Config key 'expose' must be ingress or loadbalancer; got '" + Str(s.config, "expose") +
                                     "'.");
      }
      route.ingress_class = Str(s.config, "ingress_class");
      p.route_kind = "Ingress";
      p.objects.push_back(internal::IngressManifest(a, route));
      p.url = p.host.empty() ? "" : "http://" + p.host;
    }
    return p;
  }

  // ------------------------------------------------------------ waiting
  // The reason the pods of the deployment's current revision are not ready, from their status and events; ""
  // when there is none (yet). Pods of older revisions (going away after a rollback) do not count.
  std::string Trouble(Session& s, const std::string& name) {
    auto deployment = s.kube->Get(Deployments(), s.ns, name);
    std::string selector = std::string(internal::kKubeNameKey) + "=" + name;
    if (deployment.ok()) {
      const json& d = *deployment;
      if (d.value("/status/observedGeneration"_json_pointer, 0) < d.value("/metadata/generation"_json_pointer, 0)) return "";
      const std::string revision = d.value("/metadata/annotations"_json_pointer, json::object()).value(kRevisionKey, "");
      auto sets = s.kube->List(Kind("apps/v1", "ReplicaSet"), s.ns, selector);
      for (const auto& rs : sets.ok() ? sets->value("items", json::array()) : json::array()) {
        if (revision.empty() ||
            rs.value("/metadata/annotations"_json_pointer, json::object()).value(kRevisionKey, "") != revision)
          continue;
        std::string hash = rs.value("/metadata/labels"_json_pointer, json::object()).value("pod-template-hash", "");
        if (!hash.empty()) selector += ",pod-template-hash=" + hash;
      }
    }
    auto pods = s.kube->List(Pods(), s.ns, selector);
    if (!pods.ok()) return "";
    for (const auto& pod : pods->value("items", json::array())) {
      std::string trouble = PodTrouble(pod);
      if (trouble.empty()) continue;
      std::string pod_name = pod.value("/metadata/name"_json_pointer, "");
      auto events = s.kube->List(Events(), s.ns, "", "involvedObject.name=" + pod_name);
      std::string last;
      if (events.ok()) {
        for (const auto& e : events->value("items", json::array())) {
          if (e.value("type", "") == "Warning") last = e.value("reason", "") + ": " + e.value("message", "");
        }
      }
      return "pod " + pod_name + ": " + trouble + (last.empty() ? "" : " (event " + last + ")");
    }
    return "";
  }

  Status WaitAvailable(Session& s, const std::string& name, std::chrono::steady_clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - options.clock->Now());
    if (left.count() <= 0) left = std::chrono::milliseconds(1);
    auto last_check = options.clock->Now();
    auto done = [&](const json& d) -> std::optional<Status> {
      const json& st = d.value("status", json::object());
      const int want = d.value("/spec/replicas"_json_pointer, 1);
      // Until the controller has seen this generation, the status describes the previous one.
      if (st.value("observedGeneration", 0) < d.value("/metadata/generation"_json_pointer, 0)) return std::nullopt;
      if (st.value("updatedReplicas", 0) == want && st.value("availableReplicas", 0) == want &&
          st.value("replicas", 0) == want) {
        return OkStatus();
      }
      for (const auto& c : st.value("conditions", json::array())) {
        if (c.value("type", "") == "Progressing" && c.value("reason", "") == "ProgressDeadlineExceeded") {
          std::string why = Trouble(s, name);
          return InternalError("Deployment " + s.ns + "/" + name + " did not become available: " +
                               (why.empty() ? c.value("message", "progress deadline exceeded") : why));
        }
      }
      // Pods that cannot start do not get better by waiting: look at them now and then.
      if (options.clock->Now() - last_check >= seconds(2)) {
        last_check = options.clock->Now();
        std::string why = Trouble(s, name);
        if (!why.empty()) return InternalError("Deployment " + s.ns + "/" + name + " did not become available: " + why);
      }
      return std::nullopt;
    };
    auto progress = [&](const json& d) {
      const json& st = d.value("status", json::object());
      LogInfo("Waiting for " + s.ns + "/" + name + ": " + std::to_string(st.value("availableReplicas", 0)) + " of " +
              std::to_string(d.value("/spec/replicas"_json_pointer, 1)) + " replicas available");
    };
    auto r = s.kube->WaitFor(Deployments(), s.ns, name, left, done, progress);
    if (!r.ok() && r.status().code() == StatusCode::kDeadlineExceeded) {
      std::string why = Trouble(s, name);
      return DeadlineExceededError("Deployment " + s.ns + "/" + name + " did not become available within " +
                                   std::to_string(s.config["timeout_seconds"].get<int>()) + " s" +
                                   (why.empty() ? "" : ": " + why) +
                                   ". Raise -C timeout_seconds=N if the model is slow to load.");
    }
    return r.status();
  }

  Status WaitRoute(Session& s, const Plan& p, std::chrono::steady_clock::time_point deadline) {
    if (p.route_kind != "APIRule") return OkStatus();
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - options.clock->Now());
    if (left.count() <= 0) left = std::chrono::milliseconds(1);
    auto r =
        s.kube->WaitFor(ApiRules(p.route_version), s.ns, p.app.name, left, [&](const json& rule) -> std::optional<Status> {
          std::string state = p.route_version == "v2" ? rule.value("/status/state"_json_pointer, "")
                                                      : rule.value("/status/APIRuleStatus/code"_json_pointer, "");
          if (state == "Ready" || state == "OK") return OkStatus();
          if (state == "Error") {
            std::string why = p.route_version == "v2" ? rule.value("/status/description"_json_pointer, "")
                                                      : rule.value("/status/APIRuleStatus/desc"_json_pointer, "");
            return InvalidParameterError("APIRule " + s.ns + "/" + p.app.name + " was refused by Kyma: " + why);
          }
          return std::nullopt;
        });
    return r.status();
  }

  // ------------------------------------------------------------ create / update / delete
  // Applies `objects`; each that was not there before is recorded in `created` (when given) to be deleted again.
  Status Apply(Session& s, const std::vector<json>& objects, RollbackRecord* created) {
    for (const auto& o : objects) {
      auto kind = internal::ResourceFor(o.value("apiVersion", ""), o.value("kind", ""));
      if (!kind.ok()) return kind.status();
      const std::string name = o.value("/metadata/name"_json_pointer, "");
      if (created) {
        auto existing = s.kube->Get(*kind, s.ns, name);
        if (!existing.ok() && existing.status().code() != StatusCode::kResourceDoesNotExist) return existing.status();
        if (!existing.ok()) {
          const KubeResource resource = *kind;
          // Waited for: a failed call leaves nothing behind, not even objects still being deleted.
          created->Add("delete " + o.value("kind", "") + " " + s.ns + "/" + name, [&s, resource, name] {
            return s.kube->Delete(resource, s.ns, name, /*wait=*/true, std::chrono::seconds(60));
          });
        }
      }
      auto applied = s.kube->Apply(o);
      if (!applied.ok()) return applied.status();
    }
    return OkStatus();
  }

  Status CheckNamespace(Session& s) {
    auto ns = s.kube->Get(Namespaces(), "", s.ns);
    if (ns.ok()) return OkStatus();
    if (ns.status().code() == StatusCode::kResourceDoesNotExist) {
      return NotFoundError("Namespace '" + s.ns + "' does not exist in the cluster (context " + s.kube->config().context +
                           "). Create it (kubectl create namespace " + s.ns + ") or choose another with " + Target() +
                           ":/<namespace> or -C namespace=...");
    }
    return ns.status();
  }

  json Describe(Session& s, const json& deployment) {
    const std::string name = deployment.value("/metadata/name"_json_pointer, "");
    const json& st = deployment.value("status", json::object());
    json out = {
        {"name", name},
        {"namespace", s.ns},
        {"flavor", kFlavor},
        {"model_uri",
         deployment.value("/metadata/annotations"_json_pointer, json::object()).value(internal::kKubeModelUriKey, "")},
        {"image", deployment.value("/spec/template/spec/containers/0/image"_json_pointer, "")},
        {"replicas", deployment.value("/spec/replicas"_json_pointer, 0)},
        {"available_replicas", st.value("availableReplicas", 0)}};
    out["status"] = out["available_replicas"] == out["replicas"] ? "Available" : "Progressing";
    const std::string endpoint = EndpointOf(deployment);
    if (endpoint.empty()) {
      auto url = RouteUrl(s, name);
      if (url.ok()) out["url"] = *url;
      return out;
    }
    out["endpoint"] = endpoint;
    auto e = ReadEndpoint(s, endpoint);
    if (!e.ok()) return out;
    auto url = EndpointUrl(s, *e);
    if (url.ok()) out["url"] = *url;
    for (const auto& m : e->members)
      if (m.name == name) out["weight"] = m.weight;
    return out;
  }

  // The base URL of the deployment's route, read back from the cluster.
  StatusOr<std::string> RouteUrl(Session& s, const std::string& name) {
    if (flavor == KubeFlavor::kKyma) {
      for (const char* version : {"v2", "v1beta1"}) {
        auto serves = s.kube->Serves("gateway.kyma-project.io", version);
        if (!serves.ok() || !*serves) continue;
        auto rule = s.kube->Get(ApiRules(version), s.ns, name);
        if (!rule.ok()) continue;
        std::string host = std::string(version) == "v2" ? rule->value("/spec/hosts/0"_json_pointer, "")
                                                        : rule->value("/spec/host"_json_pointer, "");
        if (!host.empty()) return "https://" + host;
      }
      return NotFoundError("Deployment " + s.ns + "/" + name + " has no APIRule.");
    }
    auto ingress = s.kube->Get(Ingresses(), s.ns, name);
    if (ingress.ok()) {
      std::string host = ingress->value("/spec/rules/0/host"_json_pointer, "");
      if (host.empty()) host = ingress->value("/status/loadBalancer/ingress/0/ip"_json_pointer, "");
      if (host.empty()) return UnavailableError("Ingress " + s.ns + "/" + name + " has no address yet.");
      return "http://" + host;
    }
    auto service = s.kube->Get(Services(), s.ns, name);
    if (!service.ok()) return service.status();
    std::string ip = service->value("/status/loadBalancer/ingress/0/ip"_json_pointer, "");
    if (ip.empty()) ip = service->value("/status/loadBalancer/ingress/0/hostname"_json_pointer, "");
    if (ip.empty()) return UnavailableError("Service " + s.ns + "/" + name + " has no load balancer address yet.");
    return "http://" + ip + ":" + std::to_string(service->value("/spec/ports/0/port"_json_pointer, 8080));
  }

  // What create and update return with render=true: the manifests, with the keys MLflow's CLI prints.
  static json Rendered(const std::string& name, const std::vector<json>& objects) {
    return json{{"name", name}, {"flavor", kFlavor}, {"manifests", internal::RenderYaml(objects)}};
  }

  StatusOr<json> Deploy(DeployRequest request, bool update) {
    MLFLOW_BRIDGE_RETURN_IF_ERROR(internal::CheckKubeName(request.name, "deployment name"));
    if (!request.endpoint.empty()) MLFLOW_BRIDGE_RETURN_IF_ERROR(internal::CheckKubeName(request.endpoint, "endpoint name"));
    auto session = Open(request.config, /*may_render=*/true);
    if (!session.ok()) return session.status();
    Session& s = *session;
    const bool render = s.render;
    if (!render) MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckNamespace(s));
    std::optional<json> previous;
    if (!render) {
      auto existing = s.kube->Get(Deployments(), s.ns, request.name);
      if (existing.ok()) {
        if (!update) return Exists(s, request.name);
        if (!IsOurs(*existing)) {
          return PermissionDeniedError("Deployment " + s.ns + "/" + request.name +
                                       " was not made by mlflow-bridge; it is left alone.");
        }
        previous = *existing;
        // An update keeps the deployment where it is: in its endpoint, or on its own route.
        const std::string belongs = EndpointOf(*existing);
        if (!request.endpoint.empty() && request.endpoint != belongs) {
          return InvalidParameterError("Deployment " + s.ns + "/" + request.name + " is " +
                                       (belongs.empty() ? "not in an endpoint" : "in endpoint '" + belongs + "'") +
                                       ", not in endpoint '" + request.endpoint + "'.");
        }
        request.endpoint = belongs;
      } else if (existing.status().code() != StatusCode::kResourceDoesNotExist) {
        return existing.status();
      } else if (update) {
        return NotFoundError("No deployment '" + request.name + "' in namespace " + s.ns + ". Create it first.");
      }
      if (!update) MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckFree(s, request.name, request.endpoint));
    }
    auto plan = MakePlan(s, request);
    if (!plan.ok()) return plan.status();
    if (render) {
      // The pull Secret holds a credential: it is not printed. GitOps keeps it elsewhere (sealed, external secrets).
      std::vector<json> shown;
      for (const auto& o : plan->objects) {
        if (o.value("kind", "") != "Secret") shown.push_back(o);
        else
          LogInfo("Not rendered: Secret " + s.ns + "/" + plan->app.pull_secret +
                  " (it holds the registry "
                  "credentials); create it with `kubectl create secret docker-registry " +
                  plan->app.pull_secret + " ...`.");
      }
      if (!update && !request.endpoint.empty() && s.config["create_endpoint"].get<bool>()) {
        auto e = PlannedEndpoint(s, request.endpoint);  // the endpoint, with this deployment taking all its traffic
        if (!e.ok()) return e.status();
        e->members.push_back({request.name, 100, plan->app.port});
        auto route = EndpointObjects(s, *e);
        if (!route.ok()) return route.status();
        shown.insert(shown.end(), route->begin(), route->end());
      }
      return Rendered(request.name, shown);
    }

    const auto deadline = options.clock->Now() + seconds(s.config["timeout_seconds"].get<int>());
    RollbackRecord created;
    LogInfo(std::string(update ? "Updating " : "Creating ") + Target() + " deployment " + s.ns + "/" + request.name +
            (request.endpoint.empty() ? "" : " of endpoint " + request.endpoint) + " (" + plan->app.image + ")...");
    if (!update && !request.endpoint.empty() && s.config["create_endpoint"].get<bool>()) {
      auto e = ReadEndpoint(s, request.endpoint);
      if (e.status().code() == StatusCode::kResourceDoesNotExist) {
        auto made = NewEndpoint(s, request.endpoint);
        if (!made.ok()) return made.status();
        created.Add("delete the route of endpoint " + s.ns + "/" + request.endpoint,
                    [this, &s, &request] { return DeleteRoute(s, request.endpoint); });
      } else if (!e.ok()) {
        return e.status();
      }
    }
    Status applied = Apply(s, plan->objects, &created);
    if (applied.ok()) applied = WaitAvailable(s, request.name, deadline);
    if (applied.ok()) applied = WaitRoute(s, *plan, deadline);
    if (applied.ok() && !request.endpoint.empty()) applied = Join(s, request.endpoint, request.name, plan->app.port);
    if (!applied.ok()) {
      if (previous) return RollBack(s, *previous, created, applied);
      return applied.WithContext("Creating " + Target() + " deployment " + s.ns + "/" + request.name + " failed; " +
                                 created.UndoAndSay("what it created was deleted"));
    }
    json out = Describe(s, *s.kube->Get(Deployments(), s.ns, request.name));
    if (!plan->url.empty()) out["url"] = plan->url;
    return out;
  }

  // A new deployment's name must not be an endpoint's, and its endpoint (when given) must be there with room for it.
  Status CheckFree(Session& s, const std::string& name, const std::string& endpoint) {
    auto clash = ReadEndpoint(s, name);
    if (clash.ok()) {
      return AlreadyExistsError("'" + name + "' is the name of an MLflow endpoint in namespace " + s.ns +
                                " (its route has that name): choose another name for the deployment.");
    }
    if (clash.status().code() != StatusCode::kResourceDoesNotExist) return clash.status();
    if (endpoint.empty()) return OkStatus();
    auto e = ReadEndpoint(s, endpoint);
    if (e.status().code() == StatusCode::kResourceDoesNotExist && s.config["create_endpoint"].get<bool>()) return OkStatus();
    if (!e.ok()) return e.status();
    if (flavor == KubeFlavor::kAks && e->members.size() >= 2) {
      return InvalidParameterError("Endpoint " + s.ns + "/" + endpoint + " has two deployments (" + e->members[0].name +
                                   " and " + e->members[1].name +
                                   ") already: ingress-nginx splits a host's traffic "
                                   "between one Ingress and one canary only. Delete one of them first, or create "
                                   "another endpoint.");
    }
    return OkStatus();
  }

  // ------------------------------------------------------------ MLflow endpoints
  StatusOr<std::string> IstioVersion(Session& s) {
    if (s.render) return std::string("v1");  // asks no cluster: what Istio serves since 1.22 (Kyma's)
    for (const char* version : {"v1", "v1beta1"}) {
      auto serves = s.kube->Serves("networking.istio.io", version);
      if (!serves.ok()) return serves.status();
      if (*serves) return std::string(version);
    }
    return InvalidParameterError(
        "The cluster serves no Istio VirtualService (networking.istio.io v1 or v1beta1): "
        "MLflow endpoints on Kyma need the Istio module.");
  }

  Status NoEndpoint(Session& s, const std::string& name) {
    return NotFoundError("No MLflow endpoint '" + name + "' in namespace " + s.ns +
                         ". Create it with its first deployment "
                         "(`mlflow deployments create -t " +
                         Target() + ":/" + s.ns + " --endpoint " + name +
                         " -C create_endpoint=true ...`) or with the SDK's create_endpoint (create-endpoint).");
  }

  // The endpoint as its route objects say; NOT_FOUND when there is none.
  StatusOr<KubeEndpoint> ReadEndpoint(Session& s, const std::string& name) {
    KubeEndpoint e;
    e.name = name;
    e.namespace_name = s.ns;
    if (flavor == KubeFlavor::kKyma) {
      auto version = IstioVersion(s);
      if (!version.ok()) return version.status();
      auto vs = s.kube->Get(VirtualServices(*version), s.ns, name);
      if (!vs.ok() && vs.status().code() != StatusCode::kResourceDoesNotExist) return vs.status();
      if (!vs.ok() || !IsEndpointObject(*vs, name)) return NoEndpoint(s, name);
      e.host = vs->value("/spec/hosts/0"_json_pointer, "");
      e.gateway = vs->value("/spec/gateways/0"_json_pointer, e.gateway);
      for (const auto& http : vs->value("/spec/http"_json_pointer, json::array())) {
        if (http.value("name", "") != "weighted") continue;
        for (const auto& r : http.value("route", json::array())) {
          std::string host = r.value("/destination/host"_json_pointer, "");
          e.members.push_back({host.substr(0, host.find('.')), r.value("weight", 0),
                               r.value("/destination/port/number"_json_pointer, 8080)});
        }
      }
      return e;
    }
    auto primary = s.kube->Get(Ingresses(), s.ns, name);
    if (!primary.ok() && primary.status().code() != StatusCode::kResourceDoesNotExist) return primary.status();
    if (!primary.ok() || !IsEndpointObject(*primary, name)) return NoEndpoint(s, name);
    e.host = primary->value("/spec/rules/0/host"_json_pointer, "");
    e.ingress_class = primary->value("/spec/ingressClassName"_json_pointer, e.ingress_class);
    auto backend = [](const json& ingress) {
      const json& b = ingress.value("/spec/rules/0/http/paths/0/backend/service"_json_pointer, json::object());
      return KubeEndpointMember{b.value("name", ""), 100, b.value("/port/number"_json_pointer, 8080)};
    };
    KubeEndpointMember first = backend(*primary);
    if (first.name == name) return e;  // the Service without pods: no deployments yet
    e.members.push_back(first);
    auto canary = s.kube->Get(Ingresses(), s.ns, internal::CanaryIngressName(name));
    if (canary.ok() && IsEndpointObject(*canary, name)) {
      KubeEndpointMember second = backend(*canary);
      second.weight = std::atoi(canary->value("/metadata/annotations"_json_pointer, json::object())
                                    .value("nginx.ingress.kubernetes.io/canary-weight", "0")
                                    .c_str());
      e.members[0].weight = 100 - second.weight;
      e.members.push_back(second);
    }
    return e;
  }

  StatusOr<std::vector<json>> EndpointObjects(Session& s, const KubeEndpoint& e) {
    if (flavor == KubeFlavor::kAks) return internal::EndpointIngressManifests(e);
    auto version = IstioVersion(s);
    if (!version.ok()) return version.status();
    return std::vector<json>{internal::VirtualServiceManifest(e, *version)};
  }

  // Applies the endpoint's route objects and deletes those it no longer needs (AKS: the canary, the Service without pods).
  Status WriteEndpoint(Session& s, const KubeEndpoint& e) {
    auto objects = EndpointObjects(s, e);
    if (!objects.ok()) return objects.status();
    MLFLOW_BRIDGE_RETURN_IF_ERROR(Apply(s, *objects, nullptr));
    if (flavor == KubeFlavor::kKyma) return OkStatus();
    auto wanted = [&](const std::string& kind, const std::string& name) {
      for (const auto& o : *objects)
        if (o.value("kind", "") == kind && o.value("/metadata/name"_json_pointer, "") == name) return true;
      return false;
    };
    for (const auto& [kind, name] :
         {std::pair<const KubeResource*, std::string>{&Ingresses(), internal::CanaryIngressName(e.name)},
          {&Services(), e.name}}) {
      if (wanted(kind->kind, name)) continue;
      auto found = s.kube->Get(*kind, s.ns, name);
      if (found.ok() && IsEndpointObject(*found, e.name)) {
        MLFLOW_BRIDGE_RETURN_IF_ERROR(s.kube->Delete(*kind, s.ns, name, /*wait=*/true, seconds(60)));
      }
    }
    return OkStatus();
  }

  // Sets the members' weights (percents adding up to 100) from relative ones.
  static Status SetWeights(const std::string& endpoint, std::vector<KubeEndpointMember>& members,
                           const std::vector<double>& relative) {
    if (members.empty()) return OkStatus();
    double total = 0;
    for (double w : relative) total += w;
    if (total <= 0) {
      return InvalidParameterError("The weights of endpoint " + endpoint +
                                   " add up to 0: at least one deployment needs "
                                   "a weight above 0 to serve its traffic.");
    }
    auto percents = internal::PercentWeights(relative);
    for (size_t i = 0; i < members.size(); ++i) members[i].weight = percents[i];
    return OkStatus();
  }

  // Adds deployment `name` to endpoint `endpoint` with config initial_weight percent of the traffic (the others
  // keep their proportions; the first deployment takes it all), or, when it is there already, updates its port.
  Status Join(Session& s, const std::string& endpoint, const std::string& name, int port) {
    auto e = ReadEndpoint(s, endpoint);
    if (!e.ok()) return e.status();
    for (auto& m : e->members) {
      if (m.name != name) continue;
      if (m.port == port) return OkStatus();
      m.port = port;
      return WriteEndpoint(s, *e);
    }
    if (flavor == KubeFlavor::kAks && e->members.size() >= 2) return CheckFree(s, name, endpoint);  // full: its error
    const double share = e->members.empty() ? 100 : s.config["initial_weight"].get<int>();
    std::vector<double> relative;
    for (const auto& m : e->members) relative.push_back(m.weight * (100 - share) / 100.0);
    relative.push_back(share);
    e->members.push_back({name, 0, port});
    MLFLOW_BRIDGE_RETURN_IF_ERROR(SetWeights(endpoint, e->members, relative));
    LogInfo("Deployment " + name + " joins endpoint " + endpoint + " with " + std::to_string(e->members.back().weight) +
            "% of its traffic.");
    return WriteEndpoint(s, *e);
  }

  // Takes deployment `name` out of its endpoint's route; the others keep their proportions (or share equally
  // when the one leaving had all of it).
  Status Leave(Session& s, const std::string& endpoint, const std::string& name) {
    auto e = ReadEndpoint(s, endpoint);
    if (e.status().code() == StatusCode::kResourceDoesNotExist) return OkStatus();
    if (!e.ok()) return e.status();
    std::vector<KubeEndpointMember> rest;
    std::vector<double> relative;
    for (const auto& m : e->members) {
      if (m.name == name) continue;
      rest.push_back(m);
      relative.push_back(m.weight);
    }
    if (rest.size() == e->members.size()) return OkStatus();
    double total = 0;
    for (double w : relative) total += w;
    if (total <= 0) {
      std::fill(relative.begin(), relative.end(), 1.0);
      if (!rest.empty())
        LogInfo("Deployment " + name + " served all of endpoint " + endpoint +
                "'s traffic; the remaining deployments now share it equally.");
    }
    e->members = rest;
    MLFLOW_BRIDGE_RETURN_IF_ERROR(SetWeights(endpoint, e->members, relative));
    return WriteEndpoint(s, *e);
  }

  // An endpoint's route has no token check: refuse auth=jwt rather than serve without it.
  Status NoJwtOnEndpoints(Session& s) {
    if (flavor != KubeFlavor::kKyma || Str(s.config, "auth") == "none") return OkStatus();
    return InvalidParameterError("auth=" + Str(s.config, "auth") +
                                 " is not available for MLflow endpoints: their route "
                                 "(an Istio VirtualService) checks no tokens. Leave out auth, or serve the model as a "
                                 "deployment of its own (its APIRule checks JWTs with auth=jwt).");
  }

  // A new endpoint as config describes it (host, gateway or ingress class), not applied.
  StatusOr<KubeEndpoint> PlannedEndpoint(Session& s, const std::string& name) {
    MLFLOW_BRIDGE_RETURN_IF_ERROR(NoJwtOnEndpoints(s));
    KubeEndpoint e;
    e.name = name;
    e.namespace_name = s.ns;
    auto host = Host(s, name);
    if (!host.ok()) return host.status();
    e.host = *host;
    if (flavor == KubeFlavor::kKyma) e.gateway = Str(s.config, "gateway");
    else e.ingress_class = Str(s.config, "ingress_class");
    return e;
  }

  // Makes endpoint `name`, without deployments.
  StatusOr<KubeEndpoint> NewEndpoint(Session& s, const std::string& name) {
    MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckNamespace(s));
    auto existing = ReadEndpoint(s, name);
    if (existing.ok()) {
      return AlreadyExistsError("An MLflow endpoint named '" + name + "' already exists in namespace " + s.ns +
                                ". Change its weights with `mlflow deployments update-endpoint`, or delete it first.");
    }
    if (existing.status().code() != StatusCode::kResourceDoesNotExist) return existing.status();
    auto deployment = s.kube->Get(Deployments(), s.ns, name);
    if (deployment.ok()) {
      return AlreadyExistsError("'" + name + "' is the name of a deployment in namespace " + s.ns +
                                " (its route has that name): choose another name for the endpoint.");
    }
    auto e = PlannedEndpoint(s, name);
    if (!e.ok()) return e.status();
    LogInfo("Creating " + Target() + " endpoint " + s.ns + "/" + name + (e->host.empty() ? "" : " (" + e->host + ")") +
            "...");
    Status written = WriteEndpoint(s, *e);
    if (!written.ok()) {
      CleanUpRoute(s, name);
      return written;
    }
    return e;
  }

  // Deletes the route objects of endpoint `name` (not its deployments).
  Status DeleteRoute(Session& s, const std::string& name) {
    std::vector<std::pair<const KubeResource*, std::string>> route;
    if (flavor == KubeFlavor::kKyma) {
      auto version = IstioVersion(s);
      if (!version.ok()) return version.status();
      route.push_back({&VirtualServices(*version), name});
    } else {
      route = {{&Ingresses(), internal::CanaryIngressName(name)}, {&Ingresses(), name}, {&Services(), name}};
    }
    for (const auto& [kind, object] : route) {
      auto found = s.kube->Get(*kind, s.ns, object);
      if (found.ok() && IsEndpointObject(*found, name)) {
        MLFLOW_BRIDGE_RETURN_IF_ERROR(
            s.kube->Delete(*kind, s.ns, object, /*wait=*/true, seconds(s.config["timeout_seconds"].get<int>())));
      }
    }
    return OkStatus();
  }

  void CleanUpRoute(Session& s, const std::string& name) {
    Status d = DeleteRoute(s, name);
    if (!d.ok()) LogWarning("Could not delete the route of endpoint " + s.ns + "/" + name + ": " + d.message());
  }

  StatusOr<std::string> EndpointUrl(Session& s, const KubeEndpoint& e) {
    if (flavor == KubeFlavor::kKyma) return "https://" + e.host;
    return RouteUrl(s, e.name);  // the Ingress: its host, else its address
  }

  json DescribeEndpoint(Session& s, const KubeEndpoint& e) {
    json members = json::array();
    for (const auto& m : e.members) members.push_back({{"name", m.name}, {"weight", m.weight}});
    json out = {
        {"name", e.name},
        {"namespace", s.ns},
        {"route", flavor == KubeFlavor::kKyma ? "VirtualService " + s.ns + "/" + e.name : "Ingress " + s.ns + "/" + e.name},
        {"deployments", members}};
    if (!e.host.empty()) out["host"] = e.host;
    auto url = EndpointUrl(s, e);
    if (url.ok()) out["url"] = *url;
    return out;
  }

  // Deletes a deployment's own objects (not its place in an endpoint's route), waiting until they are gone.
  Status DeleteApp(Session& s, const std::string& name) {
    std::vector<std::pair<const KubeResource*, std::string>> objects = {{&Services(), name}, {&Secrets(), name + "-pull"}};
    if (flavor == KubeFlavor::kKyma) {
      for (const char* version : {"v2", "v1beta1"}) {
        auto serves = s.kube->Serves("gateway.kyma-project.io", version);
        if (serves.ok() && *serves) {
          objects.insert(objects.begin(), {&ApiRules(version), name});
          break;
        }
      }
    } else {
      objects.insert(objects.begin(), {&Ingresses(), name});
    }
    const auto timeout = seconds(s.config["timeout_seconds"].get<int>());
    for (const auto& [kind, object] : objects) {
      auto found = s.kube->Get(*kind, s.ns, object);
      if (!found.ok() || !IsOurs(*found) || Label(*found, internal::kKubeComponentKey) == internal::kKubeEndpointComponent) {
        continue;  // gone already, not ours, or an endpoint's
      }
      MLFLOW_BRIDGE_RETURN_IF_ERROR(s.kube->Delete(*kind, s.ns, object, /*wait=*/true, timeout));
    }
    auto existing = s.kube->Get(Deployments(), s.ns, name);
    if (existing.ok() && IsOurs(*existing))
      MLFLOW_BRIDGE_RETURN_IF_ERROR(s.kube->Delete(Deployments(), s.ns, name, /*wait=*/true, timeout));
    return OkStatus();
  }

  StatusOr<json> FindDeployment(Session& s, const std::string& name, const std::string& endpoint) {
    MLFLOW_BRIDGE_RETURN_IF_ERROR(internal::CheckKubeName(name, "deployment name"));
    auto d = s.kube->Get(Deployments(), s.ns, name);
    if (!d.ok() && d.status().code() != StatusCode::kResourceDoesNotExist) return d.status();
    if (!d.ok() || !IsOurs(*d) || (!endpoint.empty() && EndpointOf(*d) != endpoint)) {
      return NotFoundError("No deployment '" + name + "'" + (endpoint.empty() ? "" : " in endpoint '" + endpoint + "'") +
                           " in namespace " + s.ns + ". See the existing ones with `mlflow deployments list -t " + Target() +
                           ":/" + s.ns + (endpoint.empty() ? "" : " --endpoint " + endpoint) + "`.");
    }
    return d;
  }

  // Restores the Deployment as it was before a failed update (its previous pod template) and waits for it.
  Status RollBack(Session& s, const json& previous, RollbackRecord& created, const Status& why) {
    const std::string name = previous.value("/metadata/name"_json_pointer, "");
    const std::string revision =
        previous.value("/metadata/annotations"_json_pointer, json::object()).value(kRevisionKey, "?");
    LogInfo("The update of " + s.ns + "/" + name + " failed; restoring revision " + revision + "...");
    json restore = {{"apiVersion", "apps/v1"},
                    {"kind", "Deployment"},
                    {"metadata",
                     {{"name", name},
                      {"namespace", s.ns},
                      {"labels", previous.value("/metadata/labels"_json_pointer, json::object())},
                      {"annotations", previous.value("/metadata/annotations"_json_pointer, json::object())}}},
                    {"spec", previous["spec"]}};
    restore["metadata"]["annotations"].erase(kRevisionKey);
    const std::string left = created.Undo();  // what the update added (e.g. a new pull secret)
    auto applied = s.kube->Apply(restore);
    Status restored = applied.ok()
                          ? WaitAvailable(s, name, options.clock->Now() + seconds(s.config["timeout_seconds"].get<int>()))
                          : applied.status();
    std::string outcome = restored.ok() ? "the previous revision (" + revision + ") was restored and serves again"
                                        : "restoring the previous revision failed too: " + restored.message();
    if (!left.empty()) outcome += "; could not undo: " + left;
    return Status(why.code(), "Updating " + Target() + " deployment " + s.ns + "/" + name + " failed; " + outcome +
                                  ". Cause: " + why.message());
  }

  Status Exists(Session& s, const std::string& name) {
    return AlreadyExistsError("A deployment named '" + name + "' already exists in namespace " + s.ns +
                              ". Update it with `mlflow deployments update` or delete it first.");
  }
};

StatusOr<std::shared_ptr<KubernetesClient>> KubernetesClient::Make(KubeFlavor flavor, KubeClientOptionsPublic options) {
  if (!options.namespace_name.empty())
    MLFLOW_BRIDGE_RETURN_IF_ERROR(internal::CheckKubeName(options.namespace_name, "namespace"));
  if (!options.clock) options.clock = SystemClock();
  auto impl = std::make_shared<Impl>();
  impl->flavor = flavor;
  impl->options = std::move(options);
  impl->images = std::make_unique<DeploymentImages>(
      WithRegistryLogins({impl->options.image_work_dir, impl->options.clock, impl->options.interrupted, nullptr, nullptr}));
  return std::shared_ptr<KubernetesClient>(new KubernetesClient(std::move(impl)));
}

Status KubernetesClient::CheckNew(const std::string& name, const std::string& endpoint, const json& config) {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(internal::CheckKubeName(name, "deployment name"));
  if (!endpoint.empty()) MLFLOW_BRIDGE_RETURN_IF_ERROR(internal::CheckKubeName(endpoint, "endpoint name"));
  auto session = impl_->Open(config, /*may_render=*/true);
  if (!session.ok()) return session.status();
  if (session->render) return OkStatus();
  MLFLOW_BRIDGE_RETURN_IF_ERROR(impl_->CheckNamespace(*session));
  auto existing = session->kube->Get(Deployments(), session->ns, name);
  if (existing.ok()) return impl_->Exists(*session, name);
  if (existing.status().code() != StatusCode::kResourceDoesNotExist) return existing.status();
  return impl_->CheckFree(*session, name, endpoint);
}

StatusOr<json> KubernetesClient::CreateDeployment(const DeployRequest& request) { return impl_->Deploy(request, false); }
StatusOr<json> KubernetesClient::UpdateDeployment(const DeployRequest& request) { return impl_->Deploy(request, true); }

Status KubernetesClient::DeleteDeployment(const std::string& name, const std::string& endpoint, const json& config) {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(internal::CheckKubeName(name, "deployment name"));
  auto session = impl_->Open(config);
  if (!session.ok()) return session.status();
  Impl::Session& s = *session;
  auto existing = s.kube->Get(Deployments(), s.ns, name);
  if (existing.ok() && !IsOurs(*existing)) {
    return PermissionDeniedError("Deployment " + s.ns + "/" + name + " was not made by mlflow-bridge; it is left alone.");
  }
  if (existing.ok()) {
    const std::string belongs = EndpointOf(*existing);
    if (!endpoint.empty() && belongs != endpoint) return impl_->FindDeployment(s, name, endpoint).status();
    if (!belongs.empty()) MLFLOW_BRIDGE_RETURN_IF_ERROR(impl_->Leave(s, belongs, name));
  }
  return impl_->DeleteApp(s, name);
}

StatusOr<json> KubernetesClient::GetDeployment(const std::string& name, const std::string& endpoint) {
  auto session = impl_->Open(json::object());
  if (!session.ok()) return session.status();
  auto d = impl_->FindDeployment(*session, name, endpoint);
  if (!d.ok()) return d.status();
  return impl_->Describe(*session, *d);
}

StatusOr<json> KubernetesClient::ListDeployments(const std::string& endpoint) {
  auto session = impl_->Open(json::object());
  if (!session.ok()) return session.status();
  std::string selector = std::string(internal::kKubeManagedByKey) + "=" + internal::kKubeManagedBy;
  if (!endpoint.empty()) {
    auto e = impl_->ReadEndpoint(*session, endpoint);
    if (!e.ok()) return e.status();
    selector += std::string(",") + internal::kKubeEndpointKey + "=" + endpoint;
  }
  auto list = session->kube->List(Deployments(), session->ns, selector);
  if (!list.ok()) return list.status();
  json out = json::array();
  for (const auto& d : list->value("items", json::array())) out.push_back(impl_->Describe(*session, d));
  return out;
}

StatusOr<std::string> KubernetesClient::Predict(const std::string& name, const std::string& endpoint,
                                                const std::string& body, const std::string& content_type) {
  auto session = impl_->Open(json::object());
  if (!session.ok()) return session.status();
  Impl::Session& s = *session;
  if (name.empty() && endpoint.empty()) return InvalidParameterError("predict needs a deployment name or an endpoint.");
  std::string in = endpoint;
  HttpHeaders headers;
  if (!name.empty()) {
    auto d = impl_->FindDeployment(s, name, endpoint);
    if (!d.ok()) return d.status();
    in = EndpointOf(*d);
  }
  StatusOr<std::string> url = std::string();
  if (in.empty()) {
    url = impl_->RouteUrl(s, name);
  } else {
    auto e = impl_->ReadEndpoint(s, in);
    if (!e.ok()) return e.status();
    url = impl_->EndpointUrl(s, *e);
    if (!name.empty() && impl_->flavor == KubeFlavor::kKyma) headers.emplace_back(internal::kKubeDeploymentHeader, name);
    if (!name.empty() && impl_->flavor == KubeFlavor::kAks) {
      headers.emplace_back(internal::kKubeCanaryHeader,
                           e->members.size() > 1 && e->members[1].name == name ? "always" : "never");
    }
  }
  if (!url.ok()) return url.status();
  const std::string what = name.empty() ? "endpoint " + s.ns + "/" + in
                                        : "deployment " + s.ns + "/" + name + (in.empty() ? "" : " of endpoint " + in);
  auto reply = PostToRoute(*url + "/invocations", body, content_type, impl_->options.transport, headers);
  if (!reply.ok()) return reply.status().WithContext("Scoring on " + impl_->Target() + " " + what);
  return reply;
}

StatusOr<json> KubernetesClient::CreateEndpoint(const std::string& name, const json& config) {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(internal::CheckKubeName(name, "endpoint name"));
  auto session = impl_->Open(config, /*may_render=*/true);
  if (!session.ok()) return session.status();
  Impl::Session& s = *session;
  if (s.render) {
    auto e = impl_->PlannedEndpoint(s, name);
    if (!e.ok()) return e.status();
    auto objects = impl_->EndpointObjects(s, *e);
    if (!objects.ok()) return objects.status();
    return json{{"name", name}, {"manifests", internal::RenderYaml(*objects)}};
  }
  auto e = impl_->NewEndpoint(s, name);
  if (!e.ok()) return e.status();
  return impl_->DescribeEndpoint(s, *e);
}

StatusOr<json> KubernetesClient::UpdateEndpoint(const std::string& name, const json& config) {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(internal::CheckKubeName(name, "endpoint name"));
  auto session = impl_->Open(config);
  if (!session.ok()) return session.status();
  Impl::Session& s = *session;
  const json& weights = s.config["weights"];
  if (weights.empty()) {
    return InvalidParameterError(
        "update_endpoint needs -C weights='{\"<deployment>\": <weight>, ...}' (relative "
        "weights; deployments left out keep theirs).");
  }
  auto e = impl_->ReadEndpoint(s, name);
  if (!e.ok()) return e.status();
  std::vector<double> relative;
  for (const auto& m : e->members) relative.push_back(m.weight);
  for (const auto& [deployment, weight] : weights.items()) {
    auto it = std::find_if(e->members.begin(), e->members.end(), [&](const auto& m) { return m.name == deployment; });
    if (it == e->members.end()) {
      std::string known;
      for (const auto& m : e->members) known += (known.empty() ? "" : ", ") + m.name;
      return NotFoundError("Endpoint " + s.ns + "/" + name + " has no deployment named '" + deployment +
                           "' (it has: " + (known.empty() ? "none" : known) + ").");
    }
    if (!weight.is_number() || weight.get<double>() < 0) {
      return InvalidParameterError("The weight of deployment '" + deployment + "' must be a number >= 0, got " +
                                   weight.dump() + ".");
    }
    relative[it - e->members.begin()] = weight.get<double>();
  }
  MLFLOW_BRIDGE_RETURN_IF_ERROR(Impl::SetWeights(name, e->members, relative));
  MLFLOW_BRIDGE_RETURN_IF_ERROR(impl_->WriteEndpoint(s, *e));
  std::string split;
  for (const auto& m : e->members) split += (split.empty() ? "" : ", ") + m.name + " " + std::to_string(m.weight) + "%";
  LogInfo("Endpoint " + s.ns + "/" + name + " now sends " + split + ".");
  return impl_->DescribeEndpoint(s, *e);
}

Status KubernetesClient::DeleteEndpoint(const std::string& name, const json& config) {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(internal::CheckKubeName(name, "endpoint name"));
  auto session = impl_->Open(config);
  if (!session.ok()) return session.status();
  Impl::Session& s = *session;
  auto e = impl_->ReadEndpoint(s, name);
  if (e.status().code() == StatusCode::kResourceDoesNotExist) return OkStatus();
  if (!e.ok()) return e.status();
  // The route first, so that nothing reaches deployments on their way out.
  MLFLOW_BRIDGE_RETURN_IF_ERROR(impl_->DeleteRoute(s, name));
  auto members = s.kube->List(Deployments(), s.ns,
                              std::string(internal::kKubeManagedByKey) + "=" + internal::kKubeManagedBy + "," +
                                  internal::kKubeEndpointKey + "=" + name);
  if (!members.ok()) return members.status();
  for (const auto& d : members->value("items", json::array())) {
    const std::string deployment = d.value("/metadata/name"_json_pointer, "");
    LogInfo("Deleting deployment " + s.ns + "/" + deployment + " of endpoint " + name + "...");
    MLFLOW_BRIDGE_RETURN_IF_ERROR(impl_->DeleteApp(s, deployment));
  }
  return OkStatus();
}

StatusOr<json> KubernetesClient::GetEndpoint(const std::string& name) {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(internal::CheckKubeName(name, "endpoint name"));
  auto session = impl_->Open(json::object());
  if (!session.ok()) return session.status();
  auto e = impl_->ReadEndpoint(*session, name);
  if (!e.ok()) return e.status();
  return impl_->DescribeEndpoint(*session, *e);
}

StatusOr<json> KubernetesClient::ListEndpoints() {
  auto session = impl_->Open(json::object());
  if (!session.ok()) return session.status();
  Impl::Session& s = *session;
  const KubeResource* kind = &Ingresses();
  if (impl_->flavor == KubeFlavor::kKyma) {
    auto version = impl_->IstioVersion(s);
    if (!version.ok()) return version.status();
    kind = &VirtualServices(*version);
  }
  auto list = s.kube->List(*kind, s.ns,
                           std::string(internal::kKubeManagedByKey) + "=" + internal::kKubeManagedBy + "," +
                               internal::kKubeComponentKey + "=" + internal::kKubeEndpointComponent);
  if (!list.ok()) return list.status();
  json out = json::array();
  for (const auto& o : list->value("items", json::array())) {
    const std::string name = o.value("/metadata/name"_json_pointer, "");
    if (name != Label(o, internal::kKubeEndpointKey)) continue;  // an AKS canary Ingress
    auto e = impl_->ReadEndpoint(s, name);
    if (e.ok()) out.push_back(impl_->DescribeEndpoint(s, *e));
  }
  return out;
}

StatusOr<std::string> KubernetesClient::PostToRoute(const std::string& url, const std::string& body,
                                                    const std::string& content_type,
                                                    std::shared_ptr<HttpTransport> transport, HttpHeaders headers) {
  HttpRequest req;
  req.method = "POST";
  req.headers = std::move(headers);
  req.headers.emplace_back("Content-Type", content_type);
  req.body = body;
  req.timeout = std::chrono::seconds(120);
  req.url = url;
  const char* gateway = std::getenv("MLFLOW_BRIDGE_GATEWAY");
  if (gateway != nullptr && *gateway != '\0') {
    size_t start = url.find("://") == std::string::npos ? 0 : url.find("://") + 3;
    size_t slash = url.find('/', start);
    req.headers.emplace_back("Host", url.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    req.url = std::string(gateway) + (slash == std::string::npos ? "" : url.substr(slash));
  }
  static const std::shared_ptr<HttpTransport> kTransport = MakeCurlTransport();
  auto reply = (transport ? transport : kTransport)->Send(req);
  if (!reply.ok()) return reply.status();
  if (reply->status_code == 413) {
    return InvalidParameterError("The route refused the request as too large (" + std::to_string(body.size()) +
                                 " bytes; Kyma's gateway takes at most 5 MiB): send fewer rows at a time.");
  }
  if (!reply->ok()) return HttpErrorStatus(*reply, "POST " + url);
  return reply->body;
}

const ConfigSchema& KubernetesClient::Schema(KubeFlavor flavor) {
  static const ConfigSchema kCommon = {
      {"image", ConfigType::kString, "", "The image that serves the model (e.g. from `mlflow-bridge image build`)."},
      {"registry", ConfigType::kString, "",
       "Instead of image: build the model's image without docker and push it to <registry>/<repository>[:tag]."},
      {"base_image", ConfigType::kString, "", "With registry: the image to build on (default python:3.11-slim)."},
      {"install_dependencies", ConfigType::kBool, true, "With registry: install the model's requirements into the image."},
      {"insecure_registry", ConfigType::kBool, false, "With registry: plain HTTP to it (test registries)."},
      {"registry_username", ConfigType::kString, "",
       "User for the image's registry (ACR: service principal app id): used to push (registry=) and, as an image "
       "pull Secret <name>-pull, by the cluster to pull."},
      {"registry_password", ConfigType::kString, "", "Its password or token (ACR: the service principal's secret)."},
      {"registry_auth", ConfigType::kString, "auto",
       "The pull Secret's login: basic (registry_username/password), ecr (a 12-hour token from ECR "
       "GetAuthorizationToken, renewed at each create/update), none, or auto (basic with a username, ecr for "
       "*.dkr.ecr.* images, else none)."},
      {"ecr_region", ConfigType::kString, "", "With ecr: the AWS region, when the registry's host does not say it."},
      {"aws_profile", ConfigType::kString, "",
       "With ecr: the AWS profile to sign with (default: the environment's, AWS_PROFILE)."},
      {"kubeconfig", ConfigType::kString, "", "kubeconfig file(s). Default: $KUBECONFIG, ~/.kube/config, or in-cluster."},
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
  };
  static const ConfigSchema kKyma = [] {
    ConfigSchema s = kCommon;
    s.push_back({"domain", ConfigType::kString, "",
                 "Cluster domain for host names. Default: kube-system/shoot-info, else the API server's domain."});
    s.push_back({"gateway", ConfigType::kString, "kyma-system/kyma-gateway", "Istio gateway of the APIRule."});
    s.push_back({"auth", ConfigType::kString, "none", "Access to the route: none, or jwt (with jwt_issuer and jwks_uri)."});
    s.push_back({"jwt_issuer", ConfigType::kString, "", "With auth=jwt: the token issuer."});
    s.push_back({"jwks_uri", ConfigType::kString, "", "With auth=jwt: where the issuer's keys are."});
    s.push_back({"apirule_version", ConfigType::kString, "auto",
                 "APIRule version: auto (v2 when the cluster serves it, else v1beta1; with render=true, which asks no "
                 "cluster: v2), v2 or v1beta1."});
    return s;
  }();
  static const ConfigSchema kAks = [] {
    ConfigSchema s = kCommon;
    s.push_back(
        {"expose", ConfigType::kString, "ingress", "ingress (an Ingress), or loadbalancer (a LoadBalancer Service)."});
    s.push_back({"ingress_class", ConfigType::kString, "nginx", "ingressClassName of the Ingress."});
    return s;
  }();
  return flavor == KubeFlavor::kKyma ? kKyma : kAks;
}

std::string KubernetesClient::Help(KubeFlavor flavor) {
  const bool kyma = flavor == KubeFlavor::kKyma;
  const std::string t = kyma ? "kyma" : "aks";
  return "Target '" + t + "': serves MLflow models on " + (kyma ? "SAP BTP Kyma" : "Azure Kubernetes Service") +
         ".\n\nTarget URI: " + t +
         "[:/<namespace>]\n\n"
         "A deployment is a Deployment and a Service, reached through " +
         (kyma ? "an APIRule (https://<host>)" : "an Ingress (or a LoadBalancer Service with expose=loadbalancer)") +
         ". Objects are applied server-side and\ncarry app.kubernetes.io/managed-by=mlflow-bridge; a failed update restores "
         "the previous revision and names the cause.\nThe kubeconfig is read as kubectl reads it (KUBECONFIG, contexts, "
         "tokens, client certificates, exec plugins, in-cluster;\na cluster's proxy-url and tls-server-name as in kubectl).\n"
         "render=true prints the manifests (GitOps) and needs no kubeconfig or cluster: give the namespace (" +
         t + ":/<namespace> or namespace)" + (kyma ? ", host or domain, and apirule_version (default v2)" : "") +
         ".\n\n"
         "MLflow endpoints: one stable route whose traffic its deployments share by weight (" +
         (kyma ? "an Istio VirtualService on the Kyma gateway, https://<endpoint>.<domain>"
               : "an ingress-nginx Ingress and, for a second deployment, a canary Ingress: two deployments at most") +
         ").\n  create --endpoint E --name blue -m ... -C create_endpoint=true   the endpoint with its first deployment\n"
         "  create --endpoint E --name green -m ... -C initial_weight=10     another deployment, 10% of the traffic\n"
         "  update-endpoint --endpoint E -C weights='{\"blue\": 0, \"green\": 100}'\n"
         "  predict --endpoint E (split by weight) or --name green (that deployment only)\n"
         "  delete-endpoint --endpoint E                                      the route and its deployments\n"
         "(The SDK's create_endpoint(name, config) works too; MLflow 3.x's create-endpoint command cannot reach plugins.)\n\n"
         "Config keys (-C key=value):\n" +
         DescribeConfig(Schema(flavor));
}

}  // namespace mlflow_bridge
