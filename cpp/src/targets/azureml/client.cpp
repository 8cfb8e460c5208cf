#include "targets/azureml/client.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <regex>
#include <utility>

#include "azure/arm_lro.h"
#include "azure/model_upload.h"
#include "common/rollback.h"
#include "common/strings.h"
#include "image/build_config.h"
#include "mlflow_bridge/image.h"
#include "mlflow_bridge/logging.h"
#include "mlflow_bridge/targets.h"
#include "targets/adapters.h"
#include "targets/azureml/input_data.h"
#include "targets/managed_by.h"
#include "targets/registry_logins.h"
#include "targets/scoring.h"

namespace mlflow_bridge::internal {
namespace {

using nlohmann::json;

// ARM tag names may not contain '/', so Azure resources carry the managed-by mark under this name.
constexpr char kTagManagedBy[] = "managed-by";
constexpr char kTagModelUri[] = "mlflow-bridge.model-uri";
constexpr char kTagRunId[] = "mlflow-bridge.run-id";
// On an endpoint made by a plain create (no --endpoint): the deployment it was made for, so that deleting
// that deployment deletes it too.
constexpr char kTagMadeFor[] = "mlflow-bridge.made-for";
constexpr char kDatastore[] = "workspaceblobstore";
constexpr char kDefaultInstanceType[] = "Standard_DS3_v2";
constexpr size_t kDefaultMaxRequestBytes = 16u << 20;

bool Ours(const json& resource) {
  const json tags = resource.value("tags", json::object());
  return tags.is_object() && tags.value(kTagManagedBy, "") == kManagedByValue;
}

std::string State(const json& resource) {
  return resource.value("properties", json::object()).value("provisioningState", "");
}

// Endpoint and deployment names as the service takes them: 3-32 characters, a letter first, letters, digits
// and hyphens, not ending in a hyphen.
Status CheckName(const std::string& name, const std::string& what) {
  static const std::regex kName("[a-zA-Z][a-zA-Z0-9-]{1,30}[a-zA-Z0-9]");
  if (std::regex_match(name, kName)) return Status();
  return InvalidParameterError("'" + name + "' is not a valid Azure ML " + what +
                               " name: 3 to 32 characters, a letter first, then letters, digits or hyphens, not "
                               "ending in a hyphen.");
}

// Whole percents for `weights` (deployment -> relative weight) summing to `total`, largest remainders first.
json Apportion(const std::vector<std::pair<std::string, double>>& weights, int total) {
  json out = json::object();
  double sum = 0;
  for (const auto& [name, w] : weights) sum += w;
  if (weights.empty()) return out;
  std::vector<std::pair<std::string, double>> shares;
  for (const auto& [name, w] : weights)
    shares.emplace_back(name, sum > 0 ? total * w / sum : double(total) / weights.size());
  int given = 0;
  std::vector<std::pair<double, std::string>> remainders;
  for (const auto& [name, share] : shares) {
    int whole = static_cast<int>(std::floor(share));
    out[name] = whole;
    given += whole;
    remainders.emplace_back(share - whole, name);
  }
  std::stable_sort(remainders.begin(), remainders.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t i = 0; given < total && i < remainders.size(); ++i, ++given)
    out[remainders[i].second] = out[remainders[i].second].get<int>() + 1;
  return out;
}

std::vector<std::pair<std::string, double>> Others(const json& current, const std::string& name) {
  std::vector<std::pair<std::string, double>> others;
  for (const auto& [k, v] : current.items())
    if (k != name) others.emplace_back(k, v.is_number() ? v.get<double>() : 0.0);
  return others;
}

}  // namespace

json TrafficWith(const json& current, const std::string& name, int weight) {
  std::vector<std::pair<std::string, double>> others = Others(current, name);
  if (others.empty()) return json{{name, 100}};
  json out = Apportion(others, 100 - weight);
  out[name] = weight;
  return out;
}

json TrafficWithout(const json& current, const std::string& name) { return Apportion(Others(current, name), 100); }

namespace {

// One call's config and services.
struct Call {
  AzureMlConfig config;
  AzureMlServices services;
};

class AzureMlClient final : public DeploymentTarget {
 public:
  explicit AzureMlClient(AzureMlClientOptions options) : options_(std::move(options)) {
    if (!options_.services) options_.services = MakeAzureMlServices;
    if (!options_.clock) options_.clock = SystemClock();
  }

  // ---------------------------------------------------------------- checks before a download
  Status CheckCreate(const DeployRequest& request) override {
    if (Status s = CheckName(request.name, "deployment"); !s.ok()) return s;
    if (!request.endpoint.empty())
      if (Status s = CheckName(request.endpoint, "endpoint"); !s.ok()) return s;
    if (!request.flavor.empty() && request.flavor != "python_function")
      return InvalidParameterError("Azure ML serves MLflow models through their python_function flavor; got flavor '" +
                                   request.flavor + "'.");
    StatusOr<Call> call = Begin(request.config);
    if (!call.ok()) return call.status();
    std::string endpoint = request.endpoint.empty() ? request.name : request.endpoint;
    StatusOr<json> ep = call->services.ml->GetOnlineEndpoint(endpoint);
    if (ep.ok() && request.endpoint.empty())
      return Status(StatusCode::kResourceAlreadyExists, "An online endpoint named '" + endpoint + "' already exists in " +
                                                            Where() + ": deploy into it with --endpoint " + endpoint +
                                                            " (and another --name), or pick another name.");
    if (ep.ok()) {
      StatusOr<json> dep = call->services.ml->GetOnlineDeployment(endpoint, request.name);
      if (dep.ok())
        return Status(StatusCode::kResourceAlreadyExists, "Endpoint '" + endpoint + "' already has a deployment named '" +
                                                              request.name + "': update it, or pick another name.");
      if (dep.status().code() != StatusCode::kResourceDoesNotExist) return dep.status();
      return Status();
    }
    if (ep.status().code() != StatusCode::kResourceDoesNotExist) return ep.status();
    if (!request.endpoint.empty() && !call->config.create_endpoint)
      return NotFoundError("Online endpoint '" + endpoint + "' does not exist in " + Where() +
                           ": create it first (mlflow deployments create-endpoint), or pass -C create_endpoint=true.");
    return Status();
  }

  Status CheckUpdate(const DeployRequest& request) override {
    StatusOr<Call> call = Begin(request.config);
    if (!call.ok()) return call.status();
    StatusOr<std::string> found = EndpointOf(*call, request.name, request.endpoint);
    if (!found.ok()) return found.status();
    const std::string endpoint = *found;
    StatusOr<json> dep = call->services.ml->GetOnlineDeployment(endpoint, request.name);
    if (!dep.ok()) return dep.status();
    return CheckOurs(*dep, "deployment '" + request.name + "' of endpoint '" + endpoint + "'");
  }

  // A model already in the workspace (azureml:<name>:<version>, or its ARM id) needs no files, unless its
  // image is built here.
  bool NeedsModelFiles(const std::string& model_uri, const json& config) const override {
    bool registered = model_uri.rfind("azureml:", 0) == 0 || model_uri.rfind("/subscriptions/", 0) == 0;
    StatusOr<AzureMlConfig> parsed = ParseAzureMlConfig(config);  // a bad config fails later, with its message
    return !registered || !parsed.ok() || !parsed->registry.empty();
  }

  // ---------------------------------------------------------------- deployments
  StatusOr<json> CreateDeployment(const DeployRequest& request) override {
    StatusOr<Call> call = Begin(request.config);
    if (!call.ok()) return call.status();
    Call& c = *call;
    const bool plain = request.endpoint.empty();
    const std::string endpoint = plain ? request.name : request.endpoint;
    RollbackRecord rollback;
    auto fail = [&](const Status& s) { return s.WithSuffix(" " + rollback.UndoAndSay("Nothing was left behind.")); };

    // The endpoint: there, or made by this call.
    StatusOr<json> ep = c.services.ml->GetOnlineEndpoint(endpoint);
    bool made_endpoint = false;
    if (!ep.ok()) {
      if (ep.status().code() != StatusCode::kResourceDoesNotExist) return ep.status();
      if (!plain && !c.config.create_endpoint)
        return NotFoundError("Online endpoint '" + endpoint + "' does not exist in " + Where() +
                             ": create it first (mlflow deployments create-endpoint), or pass -C create_endpoint=true.");
      ep = MakeEndpoint(c, endpoint, plain ? request.name : "", rollback);
      if (!ep.ok()) return fail(ep.status());
      made_endpoint = true;
    } else if (plain) {
      return Status(StatusCode::kResourceAlreadyExists, "An online endpoint named '" + endpoint + "' already exists in " +
                                                            Where() + ": deploy into it with --endpoint " + endpoint +
                                                            " (and another --name), or pick another name.");
    }

    StatusOr<json> deployment = Deploy(c, request, *ep, /*existing=*/nullptr, rollback);
    if (!deployment.ok()) return fail(deployment.status());
    if (!c.config.synchronous) return Describe(*deployment, *ep);

    // Traffic: the endpoint's first deployment takes all of it; a later one its initial_weight.
    json traffic = ep->value("properties", json::object()).value("traffic", json::object());
    int live = 0;
    for (const auto& [k, v] : traffic.items()) live += v.is_number() ? v.get<int>() : 0;
    if (made_endpoint || live == 0 || c.config.initial_weight > 0) {
      json wanted = live == 0 ? json{{request.name, 100}} : TrafficWith(traffic, request.name, c.config.initial_weight);
      // Undone first if what follows fails (the service may have applied it): a deployment with traffic
      // cannot be deleted.
      const json before = *ep;
      rollback.Add("restore the traffic of endpoint " + endpoint, [this, &c, before, traffic] {
        StatusOr<json> restored = PutEndpoint(c, before, traffic, nullptr, "restore the traffic");
        return restored.ok() ? Status() : restored.status();
      });
      StatusOr<json> updated = PutEndpoint(c, *ep, wanted, nullptr, "send traffic to deployment '" + request.name + "'");
      if (!updated.ok()) return fail(updated.status());
      ep = updated;
    }
    return Describe(*deployment, *ep);
  }

  StatusOr<json> UpdateDeployment(const DeployRequest& request) override {
    StatusOr<Call> call = Begin(request.config);
    if (!call.ok()) return call.status();
    Call& c = *call;
    StatusOr<std::string> found = EndpointOf(c, request.name, request.endpoint);
    if (!found.ok()) return found.status();
    const std::string endpoint = *found;
    StatusOr<json> ep = c.services.ml->GetOnlineEndpoint(endpoint);
    if (!ep.ok()) return ep.status();
    StatusOr<json> current = c.services.ml->GetOnlineDeployment(endpoint, request.name);
    if (!current.ok()) return current.status();
    if (Status s = CheckOurs(*current, "deployment '" + request.name + "' of endpoint '" + endpoint + "'"); !s.ok())
      return s;
    RollbackRecord rollback;
    StatusOr<json> deployment = Deploy(c, request, *ep, &*current, rollback);
    if (!deployment.ok()) return deployment.status().WithSuffix(" " + rollback.UndoAndSay("Nothing was left behind."));
    return Describe(*deployment, *ep);
  }

  Status DeleteDeployment(const std::string& name, const std::string& endpoint_name, const json& config) override {
    StatusOr<Call> call = Begin(config);
    if (!call.ok()) return call.status();
    Call& c = *call;
    StatusOr<std::string> found = EndpointOf(c, name, endpoint_name);
    if (!found.ok()) return found.status();
    const std::string endpoint = *found;
    StatusOr<json> ep = c.services.ml->GetOnlineEndpoint(endpoint);
    if (!ep.ok()) return ep.status();
    StatusOr<json> dep = c.services.ml->GetOnlineDeployment(endpoint, name);
    if (!dep.ok()) return dep.status();
    if (Status s = CheckOurs(*dep, "deployment '" + name + "' of endpoint '" + endpoint + "'"); !s.ok()) return s;

    // Its traffic (and mirror traffic) first goes to the others.
    const json props = ep->value("properties", json::object());
    json traffic = props.value("traffic", json::object());
    json mirror = props.value("mirrorTraffic", json::object());
    bool has_share = (traffic.contains(name) && traffic[name].get<int>() > 0) || mirror.contains(name);
    if (has_share) {
      json rest = TrafficWithout(traffic, name);
      mirror.erase(name);
      StatusOr<json> updated = PutEndpoint(c, *ep, rest, &mirror, "move deployment '" + name + "''s traffic to the others");
      if (!updated.ok()) return updated.status();
      ep = updated;
    }
    if (Status s =
            DeleteAndWait(c, c.services.ml->BeginDeleteOnlineDeployment(endpoint, name), "online deployment '" + name + "'");
        !s.ok())
      return s;

    // The endpoint too, when it is empty now and was made for this deployment (or the config asks).
    StatusOr<json> left = c.services.ml->ListOnlineDeployments(endpoint);
    if (!left.ok()) return left.status();
    bool made_for_it = ep->value("tags", json::object()).value(kTagMadeFor, "") == name;
    if (left->empty() && Ours(*ep) && (made_for_it || c.config.delete_empty_endpoint))
      return DeleteAndWait(c, c.services.ml->BeginDeleteOnlineEndpoint(endpoint), "online endpoint '" + endpoint + "'");
    return Status();
  }

  StatusOr<json> GetDeployment(const std::string& name, const std::string& endpoint_name) override {
    StatusOr<Call> call = Begin(json::object());
    if (!call.ok()) return call.status();
    StatusOr<std::string> found = EndpointOf(*call, name, endpoint_name);
    if (!found.ok()) return found.status();
    const std::string endpoint = *found;
    StatusOr<json> ep = call->services.ml->GetOnlineEndpoint(endpoint);
    if (!ep.ok()) return ep.status();
    StatusOr<json> dep = call->services.ml->GetOnlineDeployment(endpoint, name);
    if (!dep.ok()) return dep.status();
    return Describe(*dep, *ep);
  }

  StatusOr<json> ListDeployments(const std::string& endpoint) override {
    StatusOr<Call> call = Begin(json::object());
    if (!call.ok()) return call.status();
    json endpoints = json::array();
    if (endpoint.empty()) {
      StatusOr<json> all = call->services.ml->ListOnlineEndpoints();
      if (!all.ok()) return all.status();
      for (const json& ep : *all)
        if (Ours(ep)) endpoints.push_back(ep);
    } else {
      StatusOr<json> ep = call->services.ml->GetOnlineEndpoint(endpoint);
      if (!ep.ok()) return ep.status();
      endpoints.push_back(*ep);
    }
    json out = json::array();
    for (const json& ep : endpoints) {
      StatusOr<json> deployments = call->services.ml->ListOnlineDeployments(ep.value("name", ""));
      if (!deployments.ok()) return deployments.status();
      for (const json& dep : *deployments)
        if (Ours(dep)) out.push_back(Describe(dep, ep));
    }
    return out;
  }

  // ---------------------------------------------------------------- predict
  StatusOr<std::vector<std::string>> Predict(const std::string& name, const std::string& endpoint_name,
                                             const std::vector<std::string>& bodies,
                                             const std::string& content_type) override {
    if (name.empty() && endpoint_name.empty())
      return InvalidParameterError("predict needs an endpoint (--endpoint) or a deployment name.");
    StatusOr<Call> call = Begin(json::object());
    if (!call.ok()) return call.status();
    Call& c = *call;
    // The endpoint alone splits by its traffic; a name alone is an endpoint (a plain create's), else the one
    // deployment of that name among the endpoints mlflow-bridge manages.
    std::string endpoint = endpoint_name, deployment = endpoint_name.empty() ? "" : name;
    StatusOr<json> ep = c.services.ml->GetOnlineEndpoint(endpoint_name.empty() ? name : endpoint_name);
    if (endpoint_name.empty()) {
      endpoint = name;
      if (!ep.ok() && ep.status().code() == StatusCode::kResourceDoesNotExist) {
        StatusOr<std::string> found = EndpointOf(c, name, "");
        if (!found.ok()) return found.status();
        endpoint = *found;
        deployment = name;
        ep = c.services.ml->GetOnlineEndpoint(endpoint);
      }
    }
    if (!ep.ok()) return ep.status();
    const json props = ep->value("properties", json::object());
    std::string url = props.value("scoringUri", "");
    if (url.empty())
      return Status(StatusCode::kTemporarilyUnavailable, "Online endpoint '" + endpoint + "' has no scoring URI yet (" +
                                                             State(*ep) + "): wait until it is provisioned.");
    StatusOr<bool> no_code = NoCode(c, endpoint, deployment, props.value("traffic", json::object()));
    if (!no_code.ok()) return no_code.status();
    StatusOr<std::string> credential = ScoringCredential(c, endpoint, props.value("authMode", "Key"));
    if (!credential.ok()) return credential.status();

    ScoringCall scoring;
    scoring.url = url;
    scoring.content_type = *no_code ? "application/json" : content_type;
    scoring.headers = {{"Authorization", "Bearer " + *credential}};
    if (!deployment.empty()) scoring.headers.emplace_back("azureml-model-deployment", deployment);
    scoring.transport = c.services.scoring;
    scoring.clock = options_.clock;
    scoring.timeout = std::chrono::seconds(180);  // a managed endpoint's own limit
    scoring.what = "Azure ML endpoint '" + endpoint + "'" + (deployment.empty() ? "" : " (deployment '" + deployment + "')");
    std::vector<std::string> answers;
    for (const std::string& body : bodies) {
      if (*no_code) {
        StatusOr<std::string> converted = ToInputData(body, content_type);
        if (!converted.ok()) return converted.status();
        scoring.body = *converted;
      } else {
        scoring.body = body;
      }
      StatusOr<std::string> answer = Score(scoring);
      if (!answer.ok()) return answer.status();
      answers.push_back(*no_code ? FromNoCodeAnswer(*answer) : *answer);
    }
    return answers;
  }

  size_t MaxPayloadBytes() const override {
    const char* mb = std::getenv("MLFLOW_BRIDGE_AZUREML_MAX_REQUEST_MB");
    if (mb != nullptr && std::atoi(mb) > 0) return static_cast<size_t>(std::atoi(mb)) << 20;
    return kDefaultMaxRequestBytes;
  }

  // ---------------------------------------------------------------- endpoints
  bool SupportsEndpoints() const override { return true; }

  StatusOr<json> CreateEndpoint(const std::string& name, const json& config) override {
    if (Status s = CheckName(name, "endpoint"); !s.ok()) return s;
    StatusOr<Call> call = Begin(config);
    if (!call.ok()) return call.status();
    StatusOr<json> there = call->services.ml->GetOnlineEndpoint(name);
    if (there.ok())
      return Status(StatusCode::kResourceAlreadyExists,
                    "An online endpoint named '" + name + "' already exists in " + Where() + ".");
    if (there.status().code() != StatusCode::kResourceDoesNotExist) return there.status();
    if (!call->config.traffic.is_null() || !call->config.mirror_traffic.is_null())
      return InvalidParameterError(
          "A new endpoint has no deployments to send traffic to: set weights with "
          "update-endpoint once it has some.");
    RollbackRecord rollback;
    StatusOr<json> ep = MakeEndpoint(*call, name, "", rollback);
    if (!ep.ok()) return ep.status().WithSuffix(" " + rollback.UndoAndSay("Nothing was left behind."));
    return DescribeEndpoint(*call, *ep);
  }

  StatusOr<json> UpdateEndpoint(const std::string& name, const json& config) override {
    StatusOr<Call> call = Begin(config);
    if (!call.ok()) return call.status();
    Call& c = *call;
    for (const std::string& key : c.config.given) {
      if (key != "weights" && key != "traffic" && key != "mirror_traffic" && key != "tags" && key != "credential" &&
          key != "managed_identity_client_id" && key != "arm_endpoint" && key != "timeout_seconds" &&
          key != "poll_interval_seconds" && key != "synchronous" && key != "async" && key != "endpoint-config-file")
        return InvalidParameterError("update-endpoint takes weights (or traffic), mirror_traffic and tags; '" + key +
                                     "' cannot change on an existing endpoint.");
    }
    StatusOr<json> ep = c.services.ml->GetOnlineEndpoint(name);
    if (!ep.ok()) return ep.status();
    if (Status s = CheckOurs(*ep, "online endpoint '" + name + "'"); !s.ok()) return s;
    StatusOr<json> deployments = c.services.ml->ListOnlineDeployments(name);
    if (!deployments.ok()) return deployments.status();
    std::vector<std::string> names;
    for (const json& d : *deployments) names.push_back(d.value("name", ""));
    for (const json* map : {&c.config.traffic, &c.config.mirror_traffic}) {
      if (map->is_null()) continue;
      for (const auto& [dep, percent] : map->items())
        if (std::find(names.begin(), names.end(), dep) == names.end())
          return InvalidParameterError("Endpoint '" + name + "' has no deployment named '" + dep +
                                       "'; its deployments: " + JoinNames(names) + ".");
    }
    json traffic = c.config.traffic;
    if (!traffic.is_null())  // deployments left out get 0
      for (const std::string& dep : names)
        if (!traffic.contains(dep)) traffic[dep] = 0;
    json mirror = c.config.mirror_traffic;
    if (!mirror.is_null() && !traffic.is_null())
      for (const auto& [dep, percent] : mirror.items())
        if (percent.get<int>() > 0 && traffic.value(dep, 0) > 0)
          return InvalidParameterError("Deployment '" + dep + "' cannot take live and mirrored traffic at once.");
    StatusOr<json> updated = PutEndpoint(c, *ep, traffic, mirror.is_null() ? nullptr : &mirror, "update the traffic");
    if (!updated.ok()) return updated.status();
    return DescribeEndpoint(c, *updated);
  }

  Status DeleteEndpoint(const std::string& name, const json& config) override {
    StatusOr<Call> call = Begin(config);
    if (!call.ok()) return call.status();
    StatusOr<json> ep = call->services.ml->GetOnlineEndpoint(name);
    if (!ep.ok()) return ep.status();
    if (Status s = CheckOurs(*ep, "online endpoint '" + name + "'"); !s.ok()) return s;
    // The service deletes the endpoint's deployments with it.
    return DeleteAndWait(*call, call->services.ml->BeginDeleteOnlineEndpoint(name), "online endpoint '" + name + "'");
  }

  StatusOr<json> GetEndpoint(const std::string& name) override {
    StatusOr<Call> call = Begin(json::object());
    if (!call.ok()) return call.status();
    StatusOr<json> ep = call->services.ml->GetOnlineEndpoint(name);
    if (!ep.ok()) return ep.status();
    return DescribeEndpoint(*call, *ep);
  }

  StatusOr<json> ListEndpoints() override {
    StatusOr<Call> call = Begin(json::object());
    if (!call.ok()) return call.status();
    StatusOr<json> all = call->services.ml->ListOnlineEndpoints();
    if (!all.ok()) return all.status();
    json out = json::array();
    for (const json& ep : *all) {
      if (!Ours(ep)) continue;
      StatusOr<json> shown = DescribeEndpoint(*call, ep, /*with_deployments=*/false);
      if (!shown.ok()) return shown.status();
      out.push_back(*shown);
    }
    return out;
  }

 private:
  StatusOr<Call> Begin(const json& given) {
    StatusOr<AzureMlConfig> config = ParseAzureMlConfig(given);
    if (!config.ok()) return config.status();
    StatusOr<AzureMlServices> services = options_.services(options_.workspace, *config);
    if (!services.ok()) return services.status();
    return Call{std::move(*config), std::move(*services)};
  }

  std::string Where() const { return options_.workspace.Describe(); }

  // The endpoint of deployment `name`: `endpoint` when given; else the endpoint named `name` when it has a
  // deployment of that name (a plain create's), else the one endpoint mlflow-bridge manages that has it
  // (MLflow's CLI takes --name or --endpoint, not both, for predict).
  StatusOr<std::string> EndpointOf(Call& c, const std::string& name, const std::string& endpoint) {
    if (!endpoint.empty()) return endpoint;
    StatusOr<json> own = c.services.ml->GetOnlineDeployment(name, name);
    if (own.ok()) return name;
    if (own.status().code() != StatusCode::kResourceDoesNotExist) return own.status();
    StatusOr<json> all = c.services.ml->ListOnlineEndpoints();
    if (!all.ok()) return all.status();
    std::vector<std::string> found;
    for (const json& ep : *all) {
      if (!Ours(ep)) continue;
      StatusOr<json> deployments = c.services.ml->ListOnlineDeployments(ep.value("name", ""));
      if (!deployments.ok()) return deployments.status();
      for (const json& d : *deployments)
        if (d.value("name", "") == name) found.push_back(ep.value("name", ""));
    }
    if (found.size() == 1) return found[0];
    if (found.empty())
      return NotFoundError("No online deployment named '" + name + "' in " + Where() +
                           " (among the endpoints mlflow-bridge manages).");
    return InvalidParameterError("Deployment name '" + name + "' is used on several endpoints (" + JoinNames(found) +
                                 "): name the endpoint too (--endpoint).");
  }

  static std::string JoinNames(const std::vector<std::string>& names) {
    std::string out;
    for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
    return out.empty() ? "none" : out;
  }

  static Status CheckOurs(const json& resource, const std::string& what) {
    if (Ours(resource)) return Status();
    return Status(StatusCode::kPermissionDenied,
                  "The " + what + " was not made by mlflow-bridge (it has no tag " + kTagManagedBy + "=" + kManagedByValue +
                      "), so it is left alone: change it with the Azure ML studio, az ml or azure-ai-ml.");
  }

  ArmLroOptions Lro(const Call& c, const std::string& what) const {
    ArmLroOptions o;
    o.clock = options_.clock;
    o.poll_interval = std::chrono::milliseconds(static_cast<long>(c.config.poll_interval_seconds * 1000));
    o.first_poll_interval = std::min(o.first_poll_interval, o.poll_interval);
    o.timeout = std::chrono::seconds(c.config.timeout_seconds);
    o.interrupted = options_.interrupted;
    o.progress = [what](const ArmLroProgress& p) {
      std::string percent = p.percent_complete ? " " + std::to_string(static_cast<int>(*p.percent_complete)) + "%" : "";
      LogInfo("Waiting for " + what + ": " + p.status + percent + " (" +
              std::to_string(std::chrono::duration_cast<std::chrono::seconds>(p.elapsed).count()) + " s)");
    };
    return o;
  }

  StatusOr<json> Wait(const Call& c, StatusOr<ArmOperation> started, const std::string& what) {
    if (!started.ok()) return started.status();
    return WaitForArmOperation(*c.services.ml, *started, Lro(c, what));
  }

  Status DeleteAndWait(const Call& c, StatusOr<ArmOperation> started, const std::string& what) {
    if (!started.ok()) return started.status();
    if (!c.config.synchronous) return Status();
    StatusOr<json> done = WaitForArmOperation(*c.services.ml, *started, Lro(c, "deletion of the " + what));
    return done.ok() ? Status() : done.status();
  }

  json Tags(const json& user) const {
    json tags = user.is_object() ? user : json::object();
    tags[kTagManagedBy] = kManagedByValue;
    return tags;
  }

  // A new online endpoint, recorded for rollback before it is made.
  StatusOr<json> MakeEndpoint(Call& c, const std::string& name, const std::string& made_for, RollbackRecord& rollback) {
    std::string location = c.config.location;
    if (location.empty()) {
      StatusOr<json> ws = c.services.ml->GetWorkspace();
      if (!ws.ok()) return ws.status();
      location = ws->value("location", "");
    }
    json props = {{"authMode", c.config.arm_auth_mode}};
    if (!c.config.endpoint_description.empty()) props["description"] = c.config.endpoint_description;
    if (!c.config.endpoint_properties.empty()) props["properties"] = c.config.endpoint_properties;
    if (!c.config.compute.empty()) props["compute"] = ComputeId(c.config.compute);
    if (!c.config.public_network_access.empty()) props["publicNetworkAccess"] = c.config.public_network_access;
    json tags = Tags(c.config.endpoint_tags);
    if (!made_for.empty()) tags[kTagMadeFor] = made_for;
    json body = {{"location", location},
                 {"tags", tags},
                 {"identity", c.config.identity.is_null() ? json{{"type", "SystemAssigned"}} : c.config.identity},
                 {"properties", props}};
    auto ml = c.services.ml;
    bool synchronous = c.config.synchronous;
    rollback.Add("delete online endpoint " + name, [this, &c, ml, name] {
      return DeleteAndWait(c, ml->BeginDeleteOnlineEndpoint(name), "online endpoint '" + name + "'");
    });
    LogInfo("Creating online endpoint '" + name + "' in " + Where() + " (auth mode " + c.config.auth_mode + ")");
    StatusOr<ArmOperation> started = ml->BeginCreateOrUpdateOnlineEndpoint(name, body);
    if (!synchronous || !started.ok()) {
      if (!started.ok()) return started.status();
      return started->initial.body;
    }
    return Wait(c, std::move(started), "online endpoint '" + name + "'");
  }

  std::string ComputeId(const std::string& compute) const {
    if (compute.rfind("/subscriptions/", 0) == 0) return compute;
    std::string name = compute.rfind("azureml:", 0) == 0 ? compute.substr(8) : compute;
    return options_.workspace.ResourceId() + "/computes/" + name;
  }

  // The endpoint PUT again with new traffic (null: unchanged) and mirror traffic (null: unchanged): the
  // 2025-12-01 PATCH takes tags and identity only. The body is what the service holds, read-only fields left out.
  StatusOr<json> PutEndpoint(const Call& c, const json& current, const json& traffic, const json* mirror,
                             const std::string& what) {
    const json props = current.value("properties", json::object());
    json body_props = json::object();
    for (const char* key :
         {"authMode", "description", "properties", "compute", "publicNetworkAccess", "traffic", "mirrorTraffic"})
      if (props.contains(key) && !props[key].is_null()) body_props[key] = props[key];
    if (!traffic.is_null()) body_props["traffic"] = traffic;
    if (mirror != nullptr) body_props["mirrorTraffic"] = *mirror;
    json body = {{"location", current.value("location", "")}, {"properties", body_props}};
    if (current.contains("tags")) body["tags"] = current["tags"];
    if (current.contains("kind") && !current["kind"].is_null()) body["kind"] = current["kind"];
    if (current.contains("identity") && current["identity"].is_object()) {
      json identity = {{"type", current["identity"].value("type", "SystemAssigned")}};
      if (current["identity"].contains("userAssignedIdentities")) {
        json ids = json::object();
        for (const auto& [id, v] : current["identity"]["userAssignedIdentities"].items()) ids[id] = json::object();
        identity["userAssignedIdentities"] = ids;
      }
      body["identity"] = identity;
    }
    const std::string name = current.value("name", "");
    LogInfo("Updating online endpoint '" + name + "' to " + what + ": traffic " +
            body_props.value("traffic", json::object()).dump());
    StatusOr<ArmOperation> started = c.services.ml->BeginCreateOrUpdateOnlineEndpoint(name, body);
    if (!started.ok()) return started.status().WithContext("Could not " + what + " on endpoint '" + name + "'");
    if (!c.config.synchronous) return current;
    StatusOr<json> done = WaitForArmOperation(*c.services.ml, *started, Lro(c, "online endpoint '" + name + "'"));
    if (!done.ok()) return done.status().WithContext("Could not " + what + " on endpoint '" + name + "'");
    return done;
  }

  // The model the deployment serves: an existing azureml:<name>:<version> (or its ARM id), or the model's
  // folder uploaded to the workspace's blob datastore and registered as an mlflow_model version.
  StatusOr<std::string> Model(Call& c, const DeployRequest& request, RollbackRecord& rollback) {
    auto& ml = *c.services.ml;
    static const std::regex kAzureMl(R"(azureml:([^:/]+):([^:/]+))");
    std::smatch m;
    if (std::regex_match(request.model_uri, m, kAzureMl)) {
      StatusOr<json> version = ml.GetModelVersion(m[1], m[2]);
      if (!version.ok()) return version.status().WithContext("Model " + request.model_uri);
      return ArmModelVersionId(options_.workspace, m[1], m[2]);
    }
    if (request.model_uri.rfind("/subscriptions/", 0) == 0) return request.model_uri;
    if (request.model_dir.empty())
      return InvalidParameterError("The model's files were not downloaded for '" + request.model_uri + "'.");

    std::string name = c.config.model_name;
    static const std::regex kRegistered(R"(models:/([^/]+)/.*)");
    if (name.empty() && std::regex_match(request.model_uri, m, kRegistered)) name = m[1];
    if (name.empty()) name = request.name;
    static const std::regex kModelName("[a-zA-Z0-9][a-zA-Z0-9\\-_]{0,254}");
    if (!std::regex_match(name, kModelName))
      return InvalidParameterError("'" + name +
                                   "' cannot name a model in Azure ML (letters, digits, '-' and '_', up to "
                                   "255): pass -C model_name=<name>.");

    // The next version: one above the highest numeric one.
    int next = 1;
    StatusOr<json> versions = ml.ListModelVersions(name);
    if (versions.ok()) {
      for (const json& v : *versions) {
        std::string text = v.value("name", "");
        if (!text.empty() && std::all_of(text.begin(), text.end(), ::isdigit)) next = std::max(next, std::stoi(text) + 1);
      }
    } else if (versions.status().code() != StatusCode::kResourceDoesNotExist) {
      return versions.status();
    }

    // The datastore and its secrets, as azure-ai-ml reads them.
    StatusOr<json> datastore = ml.GetDatastore(kDatastore);
    if (!datastore.ok() && datastore.status().code() == StatusCode::kResourceDoesNotExist)
      datastore = ml.GetDefaultDatastore();
    if (!datastore.ok()) return datastore.status().WithContext("The workspace's blob datastore");
    const json ds = datastore->value("properties", json::object());
    BlobServiceOptions blob;
    blob.account = ds.value("accountName", "");
    blob.endpoint_suffix = ds.value("endpoint", std::string(kDefaultStorageSuffix));
    std::string type = ds.value("credentials", json::object()).value("credentialsType", "None");
    if (type == "AccountKey" || type == "Sas") {
      StatusOr<json> secrets = ml.ListDatastoreSecrets(datastore->value("name", kDatastore));
      if (!secrets.ok()) return secrets.status().WithContext("The secrets of the workspace's blob datastore");
      if (secrets->value("secretsType", "") == "Sas") {
        blob.auth = BlobAuth::Sas(secrets->value("sasToken", ""));
      } else {
        blob.auth = BlobAuth::SharedKey(secrets->value("key", ""));
      }
    } else {
      blob.auth = BlobAuth::Bearer(c.services.credential);
    }
    StatusOr<std::shared_ptr<BlobStub>> stub = c.services.blob(blob);
    if (!stub.ok()) return stub.status();

    ModelUploadOptions upload;
    upload.asset_name = name;
    upload.asset_version = std::to_string(next);
    upload.clock = options_.clock;
    upload.progress = [](uint64_t done, uint64_t total) {
      LogInfo("Uploading the model: " + std::to_string(done >> 10) + " of " + std::to_string(total >> 10) + " KiB");
    };
    const std::string container = ds.value("containerName", "");
    StatusOr<ModelUploadResult> uploaded = UploadModelFolder(request.model_dir, **stub, container, upload);
    if (!uploaded.ok()) return uploaded.status().WithContext("Uploading the model to the workspace's datastore");
    if (uploaded->skipped && uploaded->name == name) {
      StatusOr<json> same = ml.GetModelVersion(name, uploaded->version);
      if (same.ok()) {
        LogInfo("The model's files are already registered as " + name + ":" + uploaded->version + "; using it.");
        return ArmModelVersionId(options_.workspace, name, uploaded->version);
      }
    }
    const ArmWorkspace& ws = options_.workspace;
    json body = {
        {"properties",
         {{"modelType", "mlflow_model"},
          {"modelUri", AzureMlDatastoreUri(ws.subscription, ws.resource_group, ws.workspace,
                                           datastore->value("name", kDatastore), uploaded->blob_prefix)},
          {"description", "MLflow model " + request.model_uri},
          {"tags", {{kTagManagedBy, kManagedByValue}, {kTagModelUri, request.model_uri}, {kTagRunId, request.run_id}}},
          {"isAnonymous", false},
          {"flavors", {{"python_function", {{"data", json::object()}}}}}}}};
    const std::string version = std::to_string(next);
    auto ml_ptr = c.services.ml;
    rollback.Add("delete model version " + name + ":" + version,
                 [ml_ptr, name, version] { return ml_ptr->DeleteModelVersion(name, version); });
    StatusOr<json> put = ml.PutModelVersion(name, version, body);
    if (!put.ok()) return put.status().WithContext("Registering the model as " + name + ":" + version);
    LogInfo("Registered the model as " + name + ":" + version);
    return ArmModelVersionId(ws, name, version);
  }

  // A custom-container environment for the model's own image (registry=), with its server's routes: the
  // native server's Azure ML ones (scoring at /score; liveness answers while the model loads, readiness once
  // it can predict), or MLflow's scoring server's (server=mlflow).
  StatusOr<std::string> Environment(Call& c, const DeployRequest& request) {
    ImageBuilderOptions builder =
        TargetImageBuilderOptions(options_.image_work_dir, options_.clock, options_.interrupted, options_.serve_dir);
    builder.acr_login = AcrLogins(options_.clock, c.services.credential);  // the workspace's identity
    ImageBuildConfig build = c.config.build;
    if (build.registry_auth == "auto" && build.registry_username.empty() &&
        IsAcrHost(c.config.registry.substr(0, c.config.registry.find('/'))))
      build.registry_auth = "acr";
    DeploymentImages images(std::move(builder));
    StatusOr<std::string> image = images.Build(c.config.registry, request.name,
                                               {request.model_dir, request.model_uri, request.run_id, request.python,
                                                request.mlflow_version, ImageBuildKeys(build)});
    if (!image.ok()) return image.status();
    std::string digest = image->substr(image->find('@') + 1);
    std::string version = digest.substr(digest.find(':') + 1, 16);
    std::string name = "mlflow-bridge-" + request.name;
    auto route = [](const char* path) { return json{{"path", path}, {"port", 8080}}; };
    const bool native = build.server != "mlflow";
    json body = {{"properties",
                  {{"image", *image},
                   {"description", "The image of MLflow model " + request.model_uri + ", built by mlflow-bridge"},
                   {"tags", {{kTagManagedBy, kManagedByValue}}},
                   {"inferenceConfig",
                    {{"livenessRoute", route(native ? "/v2/health/live" : "/ping")},
                     {"readinessRoute", route("/health")},
                     {"scoringRoute", route(native ? "/score" : "/invocations")}}},
                   {"osType", "Linux"}}}};
    StatusOr<json> there = c.services.ml->GetEnvironmentVersion(name, version);
    if (!there.ok()) {
      if (there.status().code() != StatusCode::kResourceDoesNotExist) return there.status();
      StatusOr<json> put = c.services.ml->PutEnvironmentVersion(name, version, body);
      if (!put.ok()) return put.status().WithContext("Registering the image as environment " + name + ":" + version);
    }
    // Not rolled back: an environment version cannot be deleted (only archived); it is reused by its digest.
    return ArmEnvironmentVersionId(options_.workspace, name, version);
  }

  // Creates (existing null) or updates the online deployment and waits for it; on a provisioning failure the
  // error says what the service and the containers' logs said.
  StatusOr<json> Deploy(Call& c, const DeployRequest& request, const json& endpoint, const json* existing,
                        RollbackRecord& rollback) {
    const std::string ep_name = endpoint.value("name", "");
    const json ep_props = endpoint.value("properties", json::object());
    const bool kubernetes = c.config.compute_type == "kubernetes" ||
                            (c.config.compute_type.empty() && ep_props.contains("compute") &&
                             !ep_props["compute"].is_null() && !ep_props["compute"].get<std::string>().empty());
    if (kubernetes && (!ep_props.contains("compute") || ep_props["compute"].is_null()))
      return InvalidParameterError("A Kubernetes deployment needs a Kubernetes endpoint: endpoint '" + ep_name +
                                   "' has no compute (create it with -C compute=<attached Kubernetes compute>).");
    if (!kubernetes && !c.config.resources.is_null())
      return InvalidParameterError("Config key 'resources' is for Kubernetes deployments; endpoint '" + ep_name +
                                   "' is a managed online endpoint (size it with instance_type).");

    json props = existing != nullptr ? existing->value("properties", json::object()) : json::object();
    for (const char* read_only : {"provisioningState", "scoringUri"}) props.erase(read_only);
    props["endpointComputeType"] = kubernetes ? "Kubernetes" : "Managed";
    if (!request.model_uri.empty() || existing == nullptr) {
      StatusOr<std::string> model = Model(c, request, rollback);
      if (!model.ok()) return model.status();
      props["model"] = *model;
      if (c.config.registry.empty()) {
        props.erase("environmentId");
      } else {
        StatusOr<std::string> environment = Environment(c, request);
        if (!environment.ok()) return environment.status();
        props["environmentId"] = *environment;
      }
    }
    const std::set<std::string>& given = c.config.given;
    auto set = [&](const char* key, const char* arm, const json& value) {
      if (existing == nullptr || given.count(key)) {
        if (value.is_null()) {
          props.erase(arm);
        } else {
          props[arm] = value;
        }
      }
    };
    std::string instance_type = c.config.instance_type;
    if (instance_type.empty() && !kubernetes) instance_type = kDefaultInstanceType;
    set("instance_type", "instanceType", instance_type.empty() ? json() : json(instance_type));
    set("app_insights_enabled", "appInsightsEnabled", c.config.app_insights_enabled);
    set("environment_variables", "environmentVariables", c.config.environment_variables);
    set("liveness_probe", "livenessProbe", c.config.liveness_probe);
    set("readiness_probe", "readinessProbe", c.config.readiness_probe);
    set("request_settings", "requestSettings", c.config.request_settings);
    set("scale_settings", "scaleSettings", c.config.scale_settings);
    set("resources", "containerResourceRequirements", c.config.resources);
    set("description", "description",
        c.config.deployment_description.empty() ? json() : json(c.config.deployment_description));
    set("properties", "properties", c.config.deployment_properties);

    json tags = existing != nullptr ? existing->value("tags", json::object()) : Tags(c.config.deployment_tags);
    if (existing != nullptr && given.count("tags"))
      for (const auto& [k, v] : c.config.deployment_tags.items()) tags[k] = v;
    if (!request.model_uri.empty()) {
      tags[kTagModelUri] = request.model_uri;
      tags[kTagRunId] = request.run_id;
    }
    json body = {{"location", endpoint.value("location", "")},
                 {"tags", tags},
                 {"properties", props},
                 {"sku", {{"name", "Default"}, {"capacity", c.config.instance_count}}}};
    if (existing != nullptr && !given.count("instance_count") && existing->contains("sku")) body["sku"] = (*existing)["sku"];

    const std::string what = "online deployment '" + request.name + "' of endpoint '" + ep_name + "'";
    auto ml = c.services.ml;
    const std::string name = request.name;
    if (existing == nullptr) {
      rollback.Add("delete " + what, [this, &c, ml, ep_name, name, what] {
        return DeleteAndWait(c, ml->BeginDeleteOnlineDeployment(ep_name, name), what);
      });
    } else {
      // The previous spec is put back if the update fails.
      json previous = {{"location", existing->value("location", "")},
                       {"tags", existing->value("tags", json::object())},
                       {"properties", existing->value("properties", json::object())}};
      previous["properties"].erase("provisioningState");
      if (existing->contains("sku")) previous["sku"] = (*existing)["sku"];
      rollback.Add("restore " + what, [this, &c, ml, ep_name, name, previous, what] {
        StatusOr<json> done = Wait(c, ml->BeginCreateOrUpdateOnlineDeployment(ep_name, name, previous), what);
        return done.ok() ? Status() : done.status();
      });
    }
    LogInfo((existing == nullptr ? "Creating " : "Updating ") + what + " (" + (kubernetes ? "Kubernetes" : "managed") +
            (instance_type.empty() ? "" : ", " + instance_type) + ", " + std::to_string(body["sku"].value("capacity", 1)) +
            " instance(s))");
    StatusOr<ArmOperation> started = ml->BeginCreateOrUpdateOnlineDeployment(ep_name, name, body);
    if (!started.ok()) return started.status();
    if (!c.config.synchronous) return started->initial.body.is_null() ? body : started->initial.body;
    StatusOr<json> done = WaitForArmOperation(*ml, *started, Lro(c, what));
    if (!done.ok()) return done.status().WithSuffix(Logs(c, ep_name, name));
    return done;
  }

  // The tail of the deployment's container logs, for a failure's message; "" when there are none.
  std::string Logs(const Call& c, const std::string& endpoint, const std::string& deployment) {
    if (c.config.log_tail_lines == 0) return "";
    std::string out;
    for (const char* container : {"StorageInitializer", "InferenceServer"}) {
      StatusOr<std::string> logs =
          c.services.ml->GetOnlineDeploymentLogs(endpoint, deployment, {container, c.config.log_tail_lines});
      if (!logs.ok() || Trim(*logs).empty()) continue;
      out += "\n--- the last lines of the " + std::string(container) + " container's log ---\n" + Redact(*logs);
    }
    return out;
  }

  // Whether the scoring call goes to no-code MLflow deployments ({"input_data"}); an endpoint whose live
  // deployments mix both kinds cannot take one body for all.
  StatusOr<bool> NoCode(const Call& c, const std::string& endpoint, const std::string& deployment, const json& traffic) {
    std::vector<std::string> names;
    if (!deployment.empty()) {
      names.push_back(deployment);
    } else {
      for (const auto& [name, percent] : traffic.items())
        if (percent.is_number() && percent.get<int>() > 0) names.push_back(name);
    }
    if (names.empty())
      return InvalidParameterError("Online endpoint '" + endpoint +
                                   "' sends no traffic to any deployment: name one "
                                   "(--name), or set weights with update-endpoint.");
    int no_code = 0;
    for (const std::string& name : names) {
      StatusOr<json> dep = c.services.ml->GetOnlineDeployment(endpoint, name);
      if (!dep.ok()) return dep.status();
      const json props = dep->value("properties", json::object());
      if (!props.contains("environmentId") || props["environmentId"].is_null()) ++no_code;
    }
    if (no_code != 0 && no_code != static_cast<int>(names.size()))
      return InvalidParameterError("Online endpoint '" + endpoint +
                                   "' splits traffic between no-code MLflow and "
                                   "custom-image deployments, which take different inputs: name a deployment (--name).");
    return no_code != 0;
  }

  // The bearer credential the endpoint's auth mode takes: a key, an AML token, or an Entra ID token.
  StatusOr<std::string> ScoringCredential(const Call& c, const std::string& endpoint, const std::string& auth_mode) {
    if (auth_mode == "AADToken") {
      StatusOr<AccessToken> token = c.services.credential->GetToken(kAzureMlScope);
      if (!token.ok()) return token.status();
      return token->token;
    }
    if (auth_mode == "AMLToken") {
      StatusOr<json> token = c.services.ml->GetOnlineEndpointToken(endpoint);
      if (!token.ok()) return token.status();
      return token->value("accessToken", "");
    }
    StatusOr<json> keys = c.services.ml->ListOnlineEndpointKeys(endpoint);
    if (!keys.ok()) return keys.status();
    return keys->value("primaryKey", "");
  }

  static std::string UserAuthMode(const std::string& arm) {
    return arm == "AMLToken" ? "aml_token" : arm == "AADToken" ? "aad_token" : "key";
  }

  json Describe(const json& dep, const json& ep) const {
    const json props = dep.value("properties", json::object());
    const json ep_props = ep.value("properties", json::object());
    const json tags = dep.value("tags", json::object());
    const std::string name = dep.value("name", "");
    json env = props.value("environmentId", json());
    return json{{"name", name},
                {"endpoint", ep.value("name", "")},
                {"flavor", "python_function"},
                {"state", State(dep)},
                {"model_uri", tags.value(kTagModelUri, "")},
                {"run_id", tags.value(kTagRunId, "")},
                {"model", props.value("model", "")},
                {"environment", env.is_string() ? env : json("no-code MLflow")},
                {"type", props.value("endpointComputeType", "")},
                {"instance_type", props.value("instanceType", json())},
                {"instance_count", dep.value("sku", json::object()).value("capacity", 1)},
                {"weight", ep_props.value("traffic", json::object()).value(name, 0)},
                {"mirror_weight", ep_props.value("mirrorTraffic", json::object()).value(name, 0)},
                {"scoring_uri", ep_props.value("scoringUri", json())}};
  }

  StatusOr<json> DescribeEndpoint(const Call& c, const json& ep, bool with_deployments = true) {
    const json props = ep.value("properties", json::object());
    json out = {{"name", ep.value("name", "")},
                {"state", State(ep)},
                {"auth_mode", UserAuthMode(props.value("authMode", "Key"))},
                {"scoring_uri", props.value("scoringUri", json())},
                {"swagger_uri", props.value("swaggerUri", json())},
                {"traffic", props.value("traffic", json::object())},
                {"mirror_traffic", props.value("mirrorTraffic", json::object())},
                {"type", props.contains("compute") && !props["compute"].is_null() ? "Kubernetes" : "Managed"},
                {"location", ep.value("location", "")},
                {"tags", ep.value("tags", json::object())}};
    if (with_deployments) {
      StatusOr<json> deployments = c.services.ml->ListOnlineDeployments(ep.value("name", ""));
      if (!deployments.ok()) return deployments.status();
      json names = json::array();
      for (const json& d : *deployments) names.push_back(d.value("name", ""));
      out["deployments"] = names;
    }
    return out;
  }

  AzureMlClientOptions options_;
};

}  // namespace

StatusOr<ArmWorkspace> ParseAzureMlTargetUri(const std::string& target_uri) {
  static const std::regex kUri(R"(azureml-endpoints:/([^/]+)/([^/]+)/([^/]+)/?)");
  std::smatch m;
  if (!std::regex_match(target_uri, m, kUri))
    return InvalidParameterError("Bad target URI '" + target_uri +
                                 "': use azureml-endpoints:/<subscription id>/<resource group>/<workspace>.");
  return ArmWorkspace{m[1], m[2], m[3]};
}

std::shared_ptr<DeploymentTarget> MakeAzureMlClient(AzureMlClientOptions options) {
  return std::make_shared<AzureMlClient>(std::move(options));
}

std::string AzureMlHelp() {
  return "Target azureml-endpoints: Azure ML managed and Kubernetes online endpoints.\n"
         "\n"
         "Target URI: azureml-endpoints:/<subscription id>/<resource group>/<workspace>\n"
         "\n"
         "An MLflow endpoint is an online endpoint; a deployment is one of its online deployments. `create --name x`\n"
         "without --endpoint makes endpoint x with deployment x taking all traffic (as azureml-mlflow does);\n"
         "`create --endpoint e --name green -C initial_weight=10` adds a deployment that takes 10 percent;\n"
         "`update-endpoint --endpoint e -C weights='{\"blue\": 0, \"green\": 100}'` moves traffic. Deleting a deployment\n"
         "hands its traffic to the others. The model is uploaded to the workspace's blob datastore and registered\n"
         "(an unchanged model is not uploaded again), or given as azureml:<name>:<version>. By default Azure ML builds\n"
         "the image (no-code MLflow); -C registry=<acr>.azurecr.io/<repository> builds it here with the model's\n"
         "dependencies installed and runs it as a custom container (pushed with the same Entra ID identity).\n"
         "\n"
         "Credentials (Entra ID): AZURE_TENANT_ID + AZURE_CLIENT_ID with AZURE_CLIENT_SECRET or\n"
         "AZURE_CLIENT_CERTIFICATE_PATH, workload identity (AZURE_FEDERATED_TOKEN_FILE), or a managed identity.\n"
         "predict authenticates as the endpoint's auth mode requires (key, AML token or Entra ID token); inputs over\n"
         "MLFLOW_BRIDGE_AZUREML_MAX_REQUEST_MB (default 16) are split by rows.\n"
         "\n" +
         DescribeConfig(AzureMlConfigSchema());
}

}  // namespace mlflow_bridge::internal
