#include "mlflow_bridge/kubernetes_client.h"

#include <cstdlib>
#include <map>
#include <mutex>

#include "common/rollback.h"
#include "image/build_config.h"
#include "image/reference.h"
#include "image/registry_auth.h"
#include "k8s/kube_client.h"
#include "k8s/kube_retry.h"
#include "k8s/kube_wait.h"
#include "k8s/kubeconfig.h"
#include "mlflow_bridge/image.h"
#include "mlflow_bridge/logging.h"
#include "mlflow_bridge/targets.h"
#include "targets/kubernetes/manifests.h"
#include "targets/kubernetes/route.h"
#include "targets/registry_logins.h"
#include "targets/scoring.h"

using nlohmann::json;

namespace mlflow_bridge {
namespace {

using internal::KubeApp;
using internal::KubeClient;
using internal::KubeEndpoint;
using internal::KubeEndpointMember;
using internal::KubeResource;
using internal::RollbackRecord;
using std::chrono::seconds;

const KubeResource& Kind(std::string_view api_version, std::string_view kind) {
  return internal::KubeKind(api_version, kind);
}
const KubeResource& Deployments() { return Kind("apps/v1", "Deployment"); }
const KubeResource& Services() { return Kind("v1", "Service"); }
const KubeResource& Secrets() { return Kind("v1", "Secret"); }
const KubeResource& Pods() { return Kind("v1", "Pod"); }
const KubeResource& Events() { return Kind("v1", "Event"); }
const KubeResource& Namespaces() { return Kind("v1", "Namespace"); }

constexpr char kRevisionKey[] = "deployment.kubernetes.io/revision";
constexpr char kFlavor[] = "python_function";  // what a deployment serves (MLflow's CLI prints it)

bool IsOurs(const json& object) { return internal::IsKubeOurs(object); }

std::string Label(const json& object, const char* key) { return internal::KubeLabelOf(object, key); }

// The MLflow endpoint a deployment belongs to ("" for none).
std::string EndpointOf(const json& deployment) { return Label(deployment, internal::kKubeEndpointKey); }

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
  const internal::KubeRouteStrategy* strategy = nullptr;  // what differs between kyma and aks
  KubeClientOptionsPublic options;
  std::mutex mu;
  std::map<std::string, std::shared_ptr<internal::KubeApi>> clients;  // by kubeconfig + context, with retries
  std::unique_ptr<DeploymentImages> images;  // registry=: the model's own image, built without docker

  std::string Target() const { return strategy->Target(); }

  using Session = internal::KubeSession;

  // The stub for a kubeconfig and context: the test's, else the REST client of the kubeconfig.
  StatusOr<std::shared_ptr<internal::KubeApi>> MakeStub(const std::string& path, const std::string& context) {
    if (options.kube_api) return options.kube_api(path, context);
    auto kubeconfig = internal::LoadKubeConfig(path, context);
    if (!kubeconfig.ok()) return kubeconfig.status();
    internal::KubeClientOptions o;
    o.transport = options.transport;
    o.clock = options.clock;
    auto made = KubeClient::Make(*kubeconfig, o);
    if (!made.ok()) return made.status();
    return std::shared_ptr<internal::KubeApi>(*made);
  }

  // `may_render`: the operation takes render=true (create, update, create_endpoint); elsewhere it is an error.
  StatusOr<Session> Open(const json& given, bool may_render = false) {
    auto config = ParseConfig(strategy->Schema(), given);
    if (!config.ok()) return config.status();
    Session s;
    s.config = internal::ReadKubeTargetConfig(*config);
    s.config.route = strategy->ReadRouteConfig(*config);
    s.render = s.config.render;
    if (s.render && !may_render) {
      return InvalidParameterError(
          "render=true renders what create, update and create_endpoint would apply; this "
          "command has nothing to render. Leave out -C render=true.");
    }
    const std::string given_ns = !s.config.namespace_name.empty() ? s.config.namespace_name : options.namespace_name;
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
    const std::string &path = s.config.kubeconfig, &context = s.config.context;
    {
      std::lock_guard lock(mu);
      auto& client = clients[path + "\n" + context];
      if (!client) {
        auto stub = MakeStub(path, context);
        if (!stub.ok()) return stub.status();
        client = std::make_shared<internal::RetryingKubeApi>(*stub, RetryPolicy{}, BackoffPolicy{}, options.clock);
      }
      s.kube = client;
    }
    s.wait.clock = options.clock;
    s.wait.interrupted = options.interrupted;
    s.wait.watch_seconds = 2;  // the transport reads a watch when it ends: short rounds see changes soon
    s.ns = !given_ns.empty() ? given_ns : s.kube->config().namespace_name;
    MLFLOW_BRIDGE_RETURN_IF_ERROR(internal::CheckKubeName(s.ns, "namespace"));
    return s;
  }

  // ------------------------------------------------------------ the objects
  StatusOr<std::string> Image(Session& s, const DeployRequest& request) {
    const std::string &image = s.config.image, &registry = s.config.registry;
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
    internal::ImageBuildConfig build = s.config.build;
    if (build.registry_auth == "anonymous") build.registry_auth = "auto";  // no pull Secret; the push still logs in
    json keys = internal::ImageBuildKeys(build);
    keys["port"] = s.config.port;  // the image's server listens where the pod's container port is
    return images->Build(
        registry, request.name,
        {request.model_dir, request.model_uri, request.run_id, request.python, request.mlflow_version, std::move(keys)});
  }

  // The login the cluster pulls the image with (as the pull Secret <name>-pull), or none, by the image-build
  // section's registry_auth: basic (registry_username/registry_password), ecr (a 12-hour password from
  // GetAuthorizationToken), docker-config (the user and password ~/.docker/config.json has for the registry),
  // anonymous and acr (no pull Secret: AKS pulls from an attached ACR with its kubelet identity), or auto: basic
  // with a username, ecr for *.dkr.ecr.* registries, else none.
  StatusOr<std::optional<internal::RegistryCredentials>> PullLogin(Session& s, const std::string& registry) {
    using Login = std::optional<internal::RegistryCredentials>;
    const internal::ImageBuildConfig& c = s.config.build;
    const std::string auth = internal::ResolveRegistryAuth(c, registry, "anonymous");
    if (auth == "anonymous" || auth == "acr") return Login();  // acr: a 3-hour token is no pull Secret
    // render=true prints no Secret (only its name, in imagePullSecrets): no password is needed or fetched.
    if (s.render) return Login(internal::RegistryCredentials{});
    if (auth == "basic") {
      if (c.registry_username.empty() || c.registry_password.empty()) {
        return InvalidParameterError(
            "registry_auth=basic needs -C registry_username=... and -C registry_password=... "
            "(an ACR service principal's app id and secret, or the registry's user and token).");
      }
      internal::RegistryCredentials login;
      login.username = c.registry_username;
      login.password = c.registry_password;
      return Login(login);
    }
    auto provider = auth == "docker-config"
                        ? StatusOr<std::shared_ptr<internal::RegistryCredentialsProvider>>(
                              internal::MakeDockerConfigRegistryCredentials())
                        : internal::MakeEcrRegistryCredentials(registry, c.ecr_region, c.aws_profile,
                                                               options.transport ? options.transport : MakeCurlTransport(),
                                                               options.clock);
    if (!provider.ok()) return provider.status();
    auto login = (*provider)->Get(registry);
    if (!login.ok()) return login.status().WithContext("registry_auth=" + auth);
    if (login->username.empty() || login->password.empty()) {
      return InvalidParameterError("registry_auth=docker-config: " + (*provider)->Describe() +
                                   " has no user and password for " + registry +
                                   " (a pull Secret cannot hold a token or a credential helper). Run `docker login " +
                                   registry + "`, or pass -C registry_username=... -C registry_password=....");
    }
    return Login(*login);
  }

  StatusOr<std::string> Host(Session& s, const std::string& name) { return strategy->Host(s, name); }

  using Plan = internal::KubePlan;

  StatusOr<Plan> MakePlan(Session& s, const DeployRequest& request) {
    Plan p;
    KubeApp& a = p.app;
    a.name = request.name;
    a.namespace_name = s.ns;
    a.replicas = s.config.replicas;
    a.port = s.config.port;
    a.cpu_request = s.config.cpu_request;
    a.cpu_limit = s.config.cpu_limit;
    a.memory_request = s.config.memory_request;
    a.memory_limit = s.config.memory_limit;
    a.run_as_user = s.config.run_as_user;
    a.env = s.config.env;
    a.model_uri = request.model_uri;
    a.run_id = request.run_id;
    a.endpoint = request.endpoint;
    a.progress_deadline_seconds = s.config.timeout_seconds;
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
    p.objects.push_back(internal::ServiceManifest(a, strategy->ServiceType(s, a)));
    p.objects.push_back(internal::DeploymentManifest(a));
    if (!a.endpoint.empty()) {  // the endpoint's route serves it
      MLFLOW_BRIDGE_RETURN_IF_ERROR(NoJwtOnEndpoints(s));
      return p;
    }
    auto host = Host(s, a.name);
    if (!host.ok()) return host.status();
    p.host = *host;
    MLFLOW_BRIDGE_RETURN_IF_ERROR(strategy->PlanRoute(s, p));
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

  // `available`, when given, is set to the Deployment as it was when it became available.
  Status WaitAvailable(Session& s, const std::string& name, std::chrono::steady_clock::time_point deadline,
                       json* available = nullptr) {
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
    auto r = internal::WaitForKube(*s.kube, s.wait, Deployments(), s.ns, name, left, done, progress);
    if (!r.ok() && r.status().code() == StatusCode::kDeadlineExceeded) {
      std::string why = Trouble(s, name);
      return DeadlineExceededError("Deployment " + s.ns + "/" + name + " did not become available within " +
                                   std::to_string(s.config.timeout_seconds) + " s" + (why.empty() ? "" : ": " + why) +
                                   ". Raise -C timeout_seconds=N if the model is slow to load.");
    }
    if (r.ok() && available) *available = *r;
    return r.status();
  }

  Status WaitRoute(Session& s, const Plan& p, std::chrono::steady_clock::time_point deadline) {
    return strategy->WaitRoute(s, p, deadline, *options.clock);
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
            return internal::DeleteKubeAndWait(*s.kube, s.wait, resource, s.ns, name, std::chrono::seconds(60));
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
  StatusOr<std::string> RouteUrl(Session& s, const std::string& name) { return strategy->RouteUrl(s, name); }

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
      if (!update && !request.endpoint.empty() && s.config.create_endpoint) {
        auto e = PlannedEndpoint(s, request.endpoint);  // the endpoint, with this deployment taking all its traffic
        if (!e.ok()) return e.status();
        e->members.push_back({request.name, 100, plan->app.port});
        auto route = EndpointObjects(s, *e);
        if (!route.ok()) return route.status();
        shown.insert(shown.end(), route->begin(), route->end());
      }
      return Rendered(request.name, shown);
    }

    const auto deadline = options.clock->Now() + seconds(s.config.timeout_seconds);
    RollbackRecord created;
    LogInfo(std::string(update ? "Updating " : "Creating ") + Target() + " deployment " + s.ns + "/" + request.name +
            (request.endpoint.empty() ? "" : " of endpoint " + request.endpoint) + " (" + plan->app.image + ")...");
    if (!update && !request.endpoint.empty() && s.config.create_endpoint) {
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
    json available;
    Status applied = Apply(s, plan->objects, &created);
    if (applied.ok()) applied = WaitAvailable(s, request.name, deadline, &available);
    if (applied.ok()) applied = WaitRoute(s, *plan, deadline);
    if (applied.ok() && !request.endpoint.empty()) applied = Join(s, request.endpoint, request.name, plan->app.port);
    if (!applied.ok()) {
      if (previous) return RollBack(s, *previous, created, applied);
      return applied.WithContext("Creating " + Target() + " deployment " + s.ns + "/" + request.name + " failed; " +
                                 created.UndoAndSay("what it created was deleted"));
    }
    json out = Describe(s, available);
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
    if (e.status().code() == StatusCode::kResourceDoesNotExist && s.config.create_endpoint) return OkStatus();
    if (!e.ok()) return e.status();
    return strategy->CheckRoom(s, endpoint, *e);
  }

  // ------------------------------------------------------------ MLflow endpoints
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
    auto found = strategy->ReadEndpoint(s, e);
    if (!found.ok()) return found.status();
    if (!*found) return NoEndpoint(s, name);
    return e;
  }

  StatusOr<std::vector<json>> EndpointObjects(Session& s, const KubeEndpoint& e) { return strategy->EndpointObjects(s, e); }

  // Applies the endpoint's route objects and deletes those it no longer needs (AKS: the canary, the Service without pods).
  Status WriteEndpoint(Session& s, const KubeEndpoint& e) {
    auto objects = EndpointObjects(s, e);
    if (!objects.ok()) return objects.status();
    MLFLOW_BRIDGE_RETURN_IF_ERROR(Apply(s, *objects, nullptr));
    return strategy->PruneEndpoint(s, e, *objects);
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
    if (!strategy->CheckRoom(s, endpoint, *e).ok()) return CheckFree(s, name, endpoint);  // full: its error
    const double share = e->members.empty() ? 100 : s.config.initial_weight;
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
  Status NoJwtOnEndpoints(Session& s) { return strategy->CheckEndpointAuth(s); }

  // A new endpoint as config describes it (host, gateway or ingress class), not applied.
  StatusOr<KubeEndpoint> PlannedEndpoint(Session& s, const std::string& name) {
    MLFLOW_BRIDGE_RETURN_IF_ERROR(NoJwtOnEndpoints(s));
    KubeEndpoint e;
    e.name = name;
    e.namespace_name = s.ns;
    auto host = Host(s, name);
    if (!host.ok()) return host.status();
    e.host = *host;
    strategy->ConfigureEndpoint(s, e);
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
    auto objects = strategy->EndpointRouteObjects(s, name);
    if (!objects.ok()) return objects.status();
    for (const auto& [kind, object] : *objects) {
      auto found = s.kube->Get(*kind, s.ns, object);
      if (found.ok() && internal::IsKubeEndpointObject(*found, name)) {
        MLFLOW_BRIDGE_RETURN_IF_ERROR(
            internal::DeleteKubeAndWait(*s.kube, s.wait, *kind, s.ns, object, seconds(s.config.timeout_seconds)));
      }
    }
    return OkStatus();
  }

  void CleanUpRoute(Session& s, const std::string& name) {
    Status d = DeleteRoute(s, name);
    if (!d.ok()) LogWarning("Could not delete the route of endpoint " + s.ns + "/" + name + ": " + d.message());
  }

  StatusOr<std::string> EndpointUrl(Session& s, const KubeEndpoint& e) { return strategy->EndpointUrl(s, e); }

  json DescribeEndpoint(Session& s, const KubeEndpoint& e) {
    json members = json::array();
    for (const auto& m : e.members) members.push_back({{"name", m.name}, {"weight", m.weight}});
    json out = {
        {"name", e.name}, {"namespace", s.ns}, {"route", strategy->EndpointRoute(s.ns, e.name)}, {"deployments", members}};
    if (!e.host.empty()) out["host"] = e.host;
    auto url = EndpointUrl(s, e);
    if (url.ok()) out["url"] = *url;
    return out;
  }

  // Deletes a deployment's own objects (not its place in an endpoint's route), waiting until they are gone.
  Status DeleteApp(Session& s, const std::string& name) {
    std::vector<std::pair<const KubeResource*, std::string>> objects = {{&Services(), name}, {&Secrets(), name + "-pull"}};
    auto own_route = strategy->AppRouteObjects(s, name);
    objects.insert(objects.begin(), own_route.begin(), own_route.end());
    const auto timeout = seconds(s.config.timeout_seconds);
    for (const auto& [kind, object] : objects) {
      auto found = s.kube->Get(*kind, s.ns, object);
      if (!found.ok() || !IsOurs(*found) || Label(*found, internal::kKubeComponentKey) == internal::kKubeEndpointComponent) {
        continue;  // gone already, not ours, or an endpoint's
      }
      MLFLOW_BRIDGE_RETURN_IF_ERROR(internal::DeleteKubeAndWait(*s.kube, s.wait, *kind, s.ns, object, timeout));
    }
    auto existing = s.kube->Get(Deployments(), s.ns, name);
    if (existing.ok() && IsOurs(*existing))
      MLFLOW_BRIDGE_RETURN_IF_ERROR(internal::DeleteKubeAndWait(*s.kube, s.wait, Deployments(), s.ns, name, timeout));
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
    Status restored =
        applied.ok() ? WaitAvailable(s, name, options.clock->Now() + seconds(s.config.timeout_seconds)) : applied.status();
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

StatusOr<std::shared_ptr<KubernetesClient>> KubernetesClient::Make(const internal::KubeRouteStrategy& route,
                                                                   KubeClientOptionsPublic options) {
  if (!options.namespace_name.empty())
    MLFLOW_BRIDGE_RETURN_IF_ERROR(internal::CheckKubeName(options.namespace_name, "namespace"));
  if (!options.clock) options.clock = SystemClock();
  auto impl = std::make_shared<Impl>();
  impl->strategy = &route;
  impl->options = std::move(options);
  impl->images = std::make_unique<DeploymentImages>(TargetImageBuilderOptions(
      impl->options.image_work_dir, impl->options.clock, impl->options.interrupted, impl->options.serve_dir));
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
  std::string selector = internal::ManagedBySelector();
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
    if (!name.empty()) impl_->strategy->PickDeployment(*e, name, headers);
  }
  if (!url.ok()) return url.status();
  const std::string what = name.empty() ? "endpoint " + s.ns + "/" + in
                                        : "deployment " + s.ns + "/" + name + (in.empty() ? "" : " of endpoint " + in);
  auto reply = PostToRoute(*url + "/invocations", body, content_type, impl_->options.transport, headers,
                           impl_->strategy->PayloadLimitHint());
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
  const json& weights = s.config.weights;
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
  auto members =
      s.kube->List(Deployments(), s.ns, internal::ManagedBySelector() + "," + internal::kKubeEndpointKey + "=" + name);
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
  auto kind = impl_->strategy->EndpointKind(s);
  if (!kind.ok()) return kind.status();
  auto list = s.kube->List(
      **kind, s.ns,
      internal::ManagedBySelector() + "," + internal::kKubeComponentKey + "=" + internal::kKubeEndpointComponent);
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
                                                    std::shared_ptr<HttpTransport> transport, HttpHeaders headers,
                                                    const std::string& limit_hint) {
  // The scoring call (targets/scoring.h): the rule for sending it again, the model server's errors.
  internal::ScoringCall call;
  call.url = url;
  call.body = body;
  call.content_type = content_type;
  call.headers = std::move(headers);
  call.transport = std::move(transport);
  call.what = "The route " + url;
  call.payload_limit_hint = limit_hint;
  call.through_gateway = true;
  return internal::Score(call);
}

const ConfigSchema& KubernetesClient::Schema(const internal::KubeRouteStrategy& route) { return route.Schema(); }

std::string KubernetesClient::Help(const internal::KubeRouteStrategy& route) {
  const std::string t = route.Target();
  return "Target '" + t + "': serves MLflow models on " + route.HelpPlatform() + ".\n\nTarget URI: " + t +
         "[:/<namespace>]\n\n"
         "A deployment is a Deployment and a Service, reached through " +
         route.HelpReached() +
         ". Objects are applied server-side and\ncarry app.kubernetes.io/managed-by=mlflow-bridge; a failed update restores "
         "the previous revision and names the cause.\nThe kubeconfig is read as kubectl reads it (KUBECONFIG, contexts, "
         "tokens, client certificates, exec plugins, in-cluster;\na cluster's proxy-url and tls-server-name as in kubectl).\n"
         "render=true prints the manifests (GitOps) and needs no kubeconfig or cluster: give the namespace (" +
         t + ":/<namespace> or namespace)" + route.HelpRender() +
         ".\n\n"
         "MLflow endpoints: one stable route whose traffic its deployments share by weight (" +
         route.HelpEndpoints() +
         ").\n  create --endpoint E --name blue -m ... -C create_endpoint=true   the endpoint with its first deployment\n"
         "  create --endpoint E --name green -m ... -C initial_weight=10     another deployment, 10% of the traffic\n"
         "  update-endpoint --endpoint E -C weights='{\"blue\": 0, \"green\": 100}'\n"
         "  predict --endpoint E (split by weight) or --name green (that deployment only)\n"
         "  delete-endpoint --endpoint E                                      the route and its deployments\n"
         "(The SDK's create_endpoint(name, config) works too; MLflow 3.x's create-endpoint command cannot reach plugins.)\n\n"
         "Config keys (-C key=value):\n" +
         DescribeConfig(route.Schema());
}

}  // namespace mlflow_bridge
