// An in-memory Azure ML workspace (the AzureMlStub, azure/ml_stub.h) for the orchestration suites of the
// azureml-endpoints target: online endpoints, online deployments, model versions, environment versions and
// datastores kept in maps, with long-running operations that finish in the initial reply
// (`lro_polls = 0`, the default) or on the nth poll of their Azure-AsyncOperation URL, succeeding or failing
// as `lro_errors` says. WaitForArmOperation (azure/arm_lro.h) follows them through PollArm like the real
// service: PUT -> 201 + Azure-AsyncOperation (body provisioningState Creating/Updating), status bodies
// {"status": "Updating", "percentComplete"} then Succeeded/Failed, and the final GET of the resource;
// DELETE -> 202 + Azure-AsyncOperation + Location (or 204 at once).
// What the service checks is checked here too: a deployment needs its endpoint, an endpoint's traffic names
// existing deployments and sums to 0 or 100, a deployment with traffic cannot be deleted (strict_traffic),
// PUT bodies need "location" and "properties". A failed create leaves the resource behind in the Failed
// state, as Azure does. Deleting what is not there is done at once (204), as ARM's DELETE is.
//
// Every call is recorded in `calls` as "<Method> <names>" ("GetOnlineEndpoint ep",
// "BeginCreateOrUpdateOnlineDeployment ep/blue", "GetWorkspace"); polls as "PollArm <the begin call>" and
// the final GET of a resource as "PollArm Get<Kind> <names>". Fail() makes the nth call matching a label (the
// full label, or just the method name: "PollArm") fail, or every one (nth 0). Like the real stub, the mock
// makes one attempt per call: retrying is RetryingAzureMlStub's.
#pragma once

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "azure/ml_stub.h"
#include "common/strings.h"
#include "common/url.h"

namespace mlflow_bridge::testing {

using nlohmann::json;

struct AzureMlWorld {
  internal::ArmWorkspace workspace{"00000000-1111-2222-3333-444444444444", "test-rg", "my-aml-workspace"};
  std::string location = "eastus";
  std::string base_url = "https://management.azure.com";

  std::map<std::string, json> endpoints;          // name -> the resource
  std::map<std::string, json> deployments;        // "<endpoint>/<deployment>" -> the resource
  std::map<std::string, json> models;             // "<name>/<version>" -> the resource
  std::map<std::string, json> environments;       // "<name>/<version>" -> the resource
  std::map<std::string, json> datastores;         // name -> the resource (seeded with the default workspaceblobstore)
  std::map<std::string, json> datastore_secrets;  // name -> the listSecrets reply
  std::map<std::string, std::string> logs;        // "<endpoint>/<deployment>" -> getLogs content
  // The getLogs requests seen, as their JSON bodies would be ({"containerType", "tail"}).
  std::vector<json> logs_requests;

  // Long-running operations: done in the initial reply (0) or on the nth poll of the operation status.
  int lro_polls = 0;
  std::map<std::string, int> lro_polls_for;  // begin call label -> polls, overriding lro_polls
  // begin call label ("BeginCreateOrUpdateOnlineDeployment ep/blue") -> the error its operation ends with
  // ({"code", "message", "details"}): status Failed, the resource left in provisioningState Failed.
  std::map<std::string, json> lro_errors;
  // The service refuses to delete a deployment that still takes traffic, and traffic to unknown deployments.
  bool strict_traffic = true;

  std::vector<std::string> calls;

  // The operations started (by id, "op-1"), for the mock's polls.
  struct Operation {
    std::string label;     // the begin call
    std::string method;    // PUT or DELETE
    bool endpoint = true;  // else a deployment
    std::string key;
    int polls_needed = 0;
    int polls = 0;
    json error;  // null: Succeeded
    bool done = false;
  };
  std::map<std::string, Operation> operations;
  int next_operation = 1;
  int next_stamp = 0;

  struct Failure {
    std::string call;  // a full label, or a method name
    int nth;           // the nth matching call fails (from 1); 0: every one
    Status status;
    int seen = 0;
  };
  std::vector<Failure> failures;

  AzureMlWorld() {
    const std::string id = workspace.ResourceId() + "/datastores/workspaceblobstore";
    datastores["workspaceblobstore"] = {{"id", id},
                                        {"name", "workspaceblobstore"},
                                        {"type", "Microsoft.MachineLearningServices/workspaces/datastores"},
                                        {"properties",
                                         {{"isDefault", true},
                                          {"credentials", {{"credentialsType", "AccountKey"}}},
                                          {"datastoreType", "AzureBlob"},
                                          {"accountName", "mockstorageaccount"},
                                          {"containerName", "azureml-blobstore-00000000-0000-0000-0000-000000000000"},
                                          {"endpoint", "core.windows.net"},
                                          {"protocol", "https"},
                                          {"serviceDataAccessAuthIdentity", "WorkspaceSystemAssignedIdentity"}}}};
    datastore_secrets["workspaceblobstore"] = {{"secretsType", "AccountKey"}, {"key", "bW9jay1hY2NvdW50LWtleQ=="}};
  }

  // Makes the nth call matching `call` fail (0: every one), by default with TEMPORARILY_UNAVAILABLE
  // "<call>: injected failure" (transient: RetryingAzureMlStub tries it again).
  void Fail(const std::string& call, int nth = 1, std::optional<Status> status = std::nullopt) {
    failures.push_back({call, nth, status ? *status : UnavailableError(call + ": injected failure"), 0});
  }

  std::optional<Status> Call(const std::string& label) {
    calls.push_back(label);
    const std::string method = label.substr(0, label.find(' '));
    for (Failure& f : failures) {
      if (f.call != label && f.call != method) continue;
      ++f.seen;
      if (f.nth == 0 || f.nth == f.seen) return f.status;
    }
    return std::nullopt;
  }

  // How many calls were made with this label (or method name).
  int Count(const std::string& call) const {
    return static_cast<int>(std::count_if(
        calls.begin(), calls.end(), [&](const std::string& c) { return c == call || c.substr(0, c.find(' ')) == call; }));
  }
};

class MockAzureMlStub : public internal::AzureMlStub {
 public:
  explicit MockAzureMlStub(std::shared_ptr<AzureMlWorld> world) : w_(std::move(world)) {}

  const internal::ArmWorkspace& workspace() const override { return w_->workspace; }

  StatusOr<json> GetWorkspace() override {
    if (auto e = w_->Call("GetWorkspace")) return *e;
    return json{
        {"id", w_->workspace.ResourceId()},
        {"name", w_->workspace.workspace},
        {"type", "Microsoft.MachineLearningServices/workspaces"},
        {"location", w_->location},
        {"properties",
         {{"storageAccount", "/subscriptions/" + w_->workspace.subscription + "/resourceGroups/" +
                                 w_->workspace.resource_group +
                                 "/providers/Microsoft.Storage/storageAccounts/mockstorageaccount"},
          {"discoveryUrl", "https://" + w_->location + ".api.azureml.ms/discovery"},
          {"mlFlowTrackingUri", "azureml://" + w_->location + ".api.azureml.ms/mlflow/v1.0" + w_->workspace.ResourceId()}}}};
  }

  // ---- datastores ----
  StatusOr<json> GetDatastore(const std::string& name) override {
    if (auto e = w_->Call("GetDatastore " + name)) return *e;
    auto it = w_->datastores.find(name);
    if (it == w_->datastores.end())
      return NotFound("get datastore " + name, "DatastoreNotFound", "Datastore " + name + " not found.");
    return it->second;
  }
  StatusOr<json> GetDefaultDatastore() override {
    if (auto e = w_->Call("GetDefaultDatastore")) return *e;
    for (const auto& [name, d] : w_->datastores)
      if (d.value("/properties/isDefault"_json_pointer, false)) return d;
    return NotFoundError("get the default datastore of " + w_->workspace.Describe() +
                         ": the workspace has no default datastore");
  }
  StatusOr<json> ListDatastoreSecrets(const std::string& name) override {
    if (auto e = w_->Call("ListDatastoreSecrets " + name)) return *e;
    const std::string what = "list the secrets of datastore " + name;
    if (!w_->datastores.count(name)) return NotFound(what, "DatastoreNotFound", "Datastore " + name + " not found.");
    auto it = w_->datastore_secrets.find(name);
    if (it == w_->datastore_secrets.end())
      return InvalidParameterError(what + ": UserError: No secrets for credentials of type None.");
    return it->second;
  }

  // ---- models ----
  StatusOr<json> GetModelVersion(const std::string& name, const std::string& version) override {
    if (auto e = w_->Call("GetModelVersion " + name + "/" + version)) return *e;
    auto it = w_->models.find(name + "/" + version);
    if (it == w_->models.end())
      return NotFound("get model " + name + " version " + version, "ModelNotFound",
                      "Model container with name: " + name + " not found.");
    return it->second;
  }
  StatusOr<json> ListModelVersions(const std::string& name, const internal::ModelVersionQuery& query) override {
    if (auto e = w_->Call("ListModelVersions " + name)) return *e;
    std::vector<json> versions;
    for (const auto& [key, m] : w_->models)
      if (key.substr(0, key.rfind('/')) == name) versions.push_back(m);
    if (versions.empty())
      return NotFound("list the versions of model " + name, "ModelNotFound",
                      "Model container with name: " + name + " not found.");
    std::sort(versions.begin(), versions.end(), [](const json& a, const json& b) {
      return a.value("/systemData/createdAt"_json_pointer, std::string()) <
             b.value("/systemData/createdAt"_json_pointer, std::string());
    });
    if (internal::ToLower(query.order_by).find("desc") != std::string::npos) std::reverse(versions.begin(), versions.end());
    if (query.top && *query.top >= 0 && static_cast<size_t>(*query.top) < versions.size()) versions.resize(*query.top);
    return json(versions);
  }
  StatusOr<json> PutModelVersion(const std::string& name, const std::string& version, const json& body) override {
    if (auto e = w_->Call("PutModelVersion " + name + "/" + version)) return *e;
    if (!body.is_object() || !body.contains("properties"))
      return InvalidParameterError("register model " + name + " version " + version +
                                   ": UserError/BadArgument: properties is required");
    json m = body;
    m["id"] = internal::ArmModelVersionId(w_->workspace, name, version);
    m["name"] = version;
    m["type"] = "Microsoft.MachineLearningServices/workspaces/models/versions";
    m["properties"]["provisioningState"] = "Succeeded";
    json& stored = w_->models[name + "/" + version];
    m["systemData"] = {
        {"createdAt", stored.is_null() ? Stamp() : stored.value("/systemData/createdAt"_json_pointer, Stamp())}};
    stored = m;
    return m;
  }
  Status DeleteModelVersion(const std::string& name, const std::string& version) override {
    if (auto e = w_->Call("DeleteModelVersion " + name + "/" + version)) return *e;
    w_->models.erase(name + "/" + version);
    return OkStatus();
  }

  // ---- environments ----
  StatusOr<json> PutEnvironmentVersion(const std::string& name, const std::string& version, const json& body) override {
    if (auto e = w_->Call("PutEnvironmentVersion " + name + "/" + version)) return *e;
    if (!body.is_object() || !body.contains("properties"))
      return InvalidParameterError("create environment " + name + " version " + version +
                                   ": UserError/BadArgument: properties is required");
    json env = body;
    env["id"] = internal::ArmEnvironmentVersionId(w_->workspace, name, version);
    env["name"] = version;
    env["type"] = "Microsoft.MachineLearningServices/workspaces/environments/versions";
    env["properties"]["provisioningState"] = "Succeeded";
    env["properties"]["environmentType"] = "UserCreated";
    w_->environments[name + "/" + version] = env;
    return env;
  }
  StatusOr<json> GetEnvironmentVersion(const std::string& name, const std::string& version) override {
    if (auto e = w_->Call("GetEnvironmentVersion " + name + "/" + version)) return *e;
    auto it = w_->environments.find(name + "/" + version);
    if (it == w_->environments.end())
      return NotFound("get environment " + name + " version " + version, "EnvironmentNotFound",
                      "Environment " + name + " version " + version + " not found.");
    return it->second;
  }

  // ---- online endpoints ----
  StatusOr<json> GetOnlineEndpoint(const std::string& endpoint) override {
    if (auto e = w_->Call("GetOnlineEndpoint " + endpoint)) return *e;
    return Endpoint(endpoint, "get online endpoint " + endpoint);
  }
  StatusOr<json> ListOnlineEndpoints() override {
    if (auto e = w_->Call("ListOnlineEndpoints")) return *e;
    json all = json::array();
    for (const auto& [name, ep] : w_->endpoints) all.push_back(ep);
    return all;
  }
  StatusOr<internal::ArmOperation> BeginCreateOrUpdateOnlineEndpoint(const std::string& endpoint,
                                                                     const json& body) override {
    const std::string label = "BeginCreateOrUpdateOnlineEndpoint " + endpoint;
    if (auto e = w_->Call(label)) return *e;
    const std::string what = "create or update online endpoint " + endpoint;
    if (Status s = RequireTrackedBody(body, what); !s.ok()) return s;
    if (body["properties"].value("authMode", "").empty())
      return InvalidParameterError(what + ": UserError/BadArgument: properties.authMode is required");
    if (Status s = CheckTraffic(endpoint, body, what); !s.ok()) return s;
    json& stored = w_->endpoints[endpoint];
    const bool exists = !stored.is_null();
    json ep = body;
    ep["id"] = w_->workspace.ResourceId() + "/onlineEndpoints/" + endpoint;
    ep["name"] = endpoint;
    ep["type"] = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints";
    ep["kind"] = "Managed";
    ep["properties"]["scoringUri"] = exists ? stored.value("/properties/scoringUri"_json_pointer, json()) : json();
    ep["properties"]["swaggerUri"] = exists ? stored.value("/properties/swaggerUri"_json_pointer, json()) : json();
    if (!ep["properties"].contains("traffic")) ep["properties"]["traffic"] = json::object();
    ep["properties"]["provisioningState"] = exists ? "Updating" : "Creating";
    stored = ep;
    return Begin(label, "PUT", Kind::kEndpoint, endpoint, "online endpoint " + endpoint);
  }
  StatusOr<internal::ArmOperation> BeginDeleteOnlineEndpoint(const std::string& endpoint) override {
    const std::string label = "BeginDeleteOnlineEndpoint " + endpoint;
    if (auto e = w_->Call(label)) return *e;
    auto it = w_->endpoints.find(endpoint);
    if (it != w_->endpoints.end()) it->second["properties"]["provisioningState"] = "Deleting";
    return Begin(label, "DELETE", Kind::kEndpoint, endpoint, "online endpoint " + endpoint);
  }
  StatusOr<json> ListOnlineEndpointKeys(const std::string& endpoint) override {
    if (auto e = w_->Call("ListOnlineEndpointKeys " + endpoint)) return *e;
    auto ep = Endpoint(endpoint, "get the keys of online endpoint " + endpoint);
    if (!ep.ok()) return ep.status();
    return json{{"primaryKey", "mock-primary-key-" + endpoint}, {"secondaryKey", "mock-secondary-key-" + endpoint}};
  }
  StatusOr<json> GetOnlineEndpointToken(const std::string& endpoint) override {
    if (auto e = w_->Call("GetOnlineEndpointToken " + endpoint)) return *e;
    auto ep = Endpoint(endpoint, "get a token for online endpoint " + endpoint);
    if (!ep.ok()) return ep.status();
    return json{{"accessToken", "mock-aml-token-" + endpoint},
                {"tokenType", "Bearer"},
                {"expiryTimeUtc", 1704070800},
                {"refreshAfterTimeUtc", 1704069000}};
  }

  // ---- online deployments ----
  StatusOr<json> GetOnlineDeployment(const std::string& endpoint, const std::string& deployment) override {
    if (auto e = w_->Call("GetOnlineDeployment " + endpoint + "/" + deployment)) return *e;
    return Deployment(endpoint, deployment, "get online deployment " + deployment + " (endpoint " + endpoint + ")");
  }
  StatusOr<json> ListOnlineDeployments(const std::string& endpoint) override {
    if (auto e = w_->Call("ListOnlineDeployments " + endpoint)) return *e;
    auto ep = Endpoint(endpoint, "list the deployments of online endpoint " + endpoint);
    if (!ep.ok()) return ep.status();
    json all = json::array();
    for (const auto& [key, d] : w_->deployments)
      if (key.substr(0, key.find('/')) == endpoint) all.push_back(d);
    return all;
  }
  StatusOr<internal::ArmOperation> BeginCreateOrUpdateOnlineDeployment(const std::string& endpoint,
                                                                       const std::string& deployment,
                                                                       const json& body) override {
    const std::string key = endpoint + "/" + deployment;
    const std::string label = "BeginCreateOrUpdateOnlineDeployment " + key;
    if (auto e = w_->Call(label)) return *e;
    const std::string what = "create or update online deployment " + deployment + " (endpoint " + endpoint + ")";
    if (auto ep = Endpoint(endpoint, what); !ep.ok()) return ep.status();
    if (Status s = RequireTrackedBody(body, what); !s.ok()) return s;
    json& stored = w_->deployments[key];
    const bool exists = !stored.is_null();
    json d = body;
    d["id"] = w_->workspace.ResourceId() + "/onlineEndpoints/" + endpoint + "/deployments/" + deployment;
    d["name"] = deployment;
    d["type"] = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments";
    d["properties"]["provisioningState"] = exists ? "Updating" : "Creating";
    stored = d;
    return Begin(label, "PUT", Kind::kDeployment, key, "online deployment " + deployment + " (endpoint " + endpoint + ")");
  }
  StatusOr<internal::ArmOperation> BeginDeleteOnlineDeployment(const std::string& endpoint,
                                                               const std::string& deployment) override {
    const std::string key = endpoint + "/" + deployment;
    const std::string label = "BeginDeleteOnlineDeployment " + key;
    if (auto e = w_->Call(label)) return *e;
    const std::string resource = "online deployment " + deployment + " (endpoint " + endpoint + ")";
    if (w_->strict_traffic) {
      auto ep = w_->endpoints.find(endpoint);
      if (ep != w_->endpoints.end() &&
          ep->second.value("/properties/traffic"_json_pointer, json::object()).value(deployment, 0) > 0)
        return InvalidParameterError("delete " + resource +
                                     ": UserError/BadArgument: the deployment takes traffic; set its traffic to 0 "
                                     "before deleting it");
    }
    auto it = w_->deployments.find(key);
    if (it != w_->deployments.end()) it->second["properties"]["provisioningState"] = "Deleting";
    return Begin(label, "DELETE", Kind::kDeployment, key, resource);
  }
  StatusOr<std::string> GetOnlineDeploymentLogs(const std::string& endpoint, const std::string& deployment,
                                                const internal::DeploymentLogsRequest& request) override {
    const std::string key = endpoint + "/" + deployment;
    if (auto e = w_->Call("GetOnlineDeploymentLogs " + key)) return *e;
    auto d =
        Deployment(endpoint, deployment, "get the logs of online deployment " + deployment + " (endpoint " + endpoint + ")");
    if (!d.ok()) return d.status();
    json r = json::object();
    if (!request.container_type.empty()) r["containerType"] = request.container_type;
    if (request.tail) r["tail"] = *request.tail;
    w_->logs_requests.push_back(r);
    auto it = w_->logs.find(key);
    return it == w_->logs.end() ? std::string() : it->second;
  }

  // ---- polling ----
  StatusOr<internal::ArmReply> PollArm(const std::string& url, const std::string& what) override {
    const std::string path = url.substr(0, url.find('?'));
    for (const char* marker : {"/mfeOperationsStatus/", "/mfeOperationResults/"}) {
      size_t at = path.find(marker);
      if (at == std::string::npos) continue;
      auto op = w_->operations.find(path.substr(at + std::string(marker).size()));
      if (op == w_->operations.end()) return NotFoundError(what + ": no such operation");
      if (auto e = w_->Call("PollArm " + op->second.label)) return *e;
      return Poll(op->second, std::string(marker) == "/mfeOperationResults/");
    }
    // A resource: .../onlineEndpoints/{ep}[/deployments/{d}].
    const std::string prefix = w_->base_url + w_->workspace.Path() + "/onlineEndpoints/";
    if (path.rfind(prefix, 0) != 0) return InternalError(what + ": the mock does not serve " + url);
    std::string rest = path.substr(prefix.size());
    size_t slash = rest.find("/deployments/");
    const std::string endpoint = internal::PercentDecode(rest.substr(0, slash));
    internal::ArmReply reply;
    reply.status_code = 200;
    if (slash == std::string::npos) {
      if (auto e = w_->Call("PollArm GetOnlineEndpoint " + endpoint)) return *e;
      auto ep = Endpoint(endpoint, what);
      if (!ep.ok()) return ep.status();
      reply.body = *ep;
    } else {
      const std::string deployment = internal::PercentDecode(rest.substr(slash + 13));
      if (auto e = w_->Call("PollArm GetOnlineDeployment " + endpoint + "/" + deployment)) return *e;
      auto d = Deployment(endpoint, deployment, what);
      if (!d.ok()) return d.status();
      reply.body = *d;
    }
    return reply;
  }

 private:
  enum class Kind { kEndpoint, kDeployment };
  using Operation = AzureMlWorld::Operation;

  static Status NotFound(const std::string& what, const std::string& code, const std::string& message) {
    return NotFoundError(what + ": UserError/" + code + ": " + message);
  }

  // Creation times in call order ("2024-01-01T00:00:00.0000001Z", ...), sortable as strings.
  std::string Stamp() {
    std::string n = std::to_string(++w_->next_stamp);
    return "2024-01-01T00:00:00." + std::string(n.size() < 7 ? 7 - n.size() : 0, '0') + n + "Z";
  }

  StatusOr<json> Endpoint(const std::string& endpoint, const std::string& what) const {
    auto it = w_->endpoints.find(endpoint);
    if (it == w_->endpoints.end()) return NotFound(what, "EndpointNotFound", "Online endpoint " + endpoint + " not found.");
    return it->second;
  }
  StatusOr<json> Deployment(const std::string& endpoint, const std::string& deployment, const std::string& what) const {
    auto it = w_->deployments.find(endpoint + "/" + deployment);
    if (it == w_->deployments.end())
      return NotFound(what, "DeploymentNotFound",
                      "Online deployment " + deployment + " of endpoint " + endpoint + " not found.");
    return it->second;
  }

  static Status RequireTrackedBody(const json& body, const std::string& what) {
    if (!body.is_object() || !body.contains("location") || !body.contains("properties") || !body["properties"].is_object())
      return InvalidParameterError(what + ": UserError/BadArgument: location and properties are required");
    return OkStatus();
  }

  Status CheckTraffic(const std::string& endpoint, const json& body, const std::string& what) const {
    if (!w_->strict_traffic) return OkStatus();
    const json traffic = body["properties"].value("traffic", json::object());
    int sum = 0;
    for (const auto& [name, share] : traffic.items()) {
      if (!w_->deployments.count(endpoint + "/" + name))
        return InvalidParameterError(what + ": UserError/BadArgument: traffic names deployment " + name +
                                     ", which does not exist");
      sum += share.is_number_integer() ? share.get<int>() : 0;
    }
    if (sum != 0 && sum != 100)
      return InvalidParameterError(what + ": UserError/BadArgument: traffic must add up to 100 (or 0), not " +
                                   std::to_string(sum));
    return OkStatus();
  }

  std::string ResourceUrl(Kind kind, const std::string& key) const {
    std::string path = w_->workspace.Path() + "/onlineEndpoints/";
    if (kind == Kind::kEndpoint) path += internal::ArmPathSegment(key);
    else {
      const size_t slash = key.find('/');
      path +=
          internal::ArmPathSegment(key.substr(0, slash)) + "/deployments/" + internal::ArmPathSegment(key.substr(slash + 1));
    }
    return w_->base_url + path + "?api-version=" + internal::kArmApiVersion;
  }

  StatusOr<internal::ArmOperation> Begin(const std::string& label, const std::string& method, Kind kind,
                                         const std::string& key, const std::string& resource) {
    Operation op;
    op.label = label;
    op.method = method;
    op.endpoint = kind == Kind::kEndpoint;
    op.key = key;
    auto polls = w_->lro_polls_for.find(label);
    op.polls_needed = polls != w_->lro_polls_for.end() ? polls->second : w_->lro_polls;
    if (auto err = w_->lro_errors.find(label); err != w_->lro_errors.end()) {
      op.error = err->second;
      op.polls_needed = std::max(op.polls_needed, 1);  // a failure is told by the operation status
    }
    internal::ArmOperation out;
    out.method = method;
    out.resource_url = ResourceUrl(kind, key);
    out.resource = resource;
    auto& map = kind == Kind::kEndpoint ? w_->endpoints : w_->deployments;
    const bool exists = map.count(key) > 0;
    if (method == "DELETE" && !exists && op.error.is_null()) op.polls_needed = 0;  // nothing to delete: 204 at once
    if (op.polls_needed <= 0) {
      Complete(op);
      out.initial.status_code = method == "DELETE" ? (exists ? 200 : 204) : 200;
      if (method != "DELETE") out.initial.body = map[key];
      return out;
    }
    const std::string id = "op-" + std::to_string(w_->next_operation++);
    const std::string ops = w_->base_url + "/subscriptions/" + w_->workspace.subscription +
                            "/providers/Microsoft.MachineLearningServices/locations/" + w_->location;
    out.initial.async_operation = ops + "/mfeOperationsStatus/" + id + "?api-version=" + internal::kArmApiVersion;
    if (method == "DELETE") {
      out.initial.status_code = 202;
      out.initial.location = ops + "/mfeOperationResults/" + id + "?api-version=" + internal::kArmApiVersion;
    } else {
      out.initial.status_code = 201;
      out.initial.body = map[key];
      out.initial.location = out.resource_url;
    }
    w_->operations[id] = std::move(op);
    return out;
  }

  StatusOr<internal::ArmReply> Poll(Operation& op, bool results_url) {
    internal::ArmReply reply;
    if (!op.done) {
      ++op.polls;
      if (op.polls >= op.polls_needed) Complete(op);
    }
    if (results_url) {  // Location of a DELETE: 202 while running, 200 once done
      reply.status_code = op.done ? 200 : 202;
      return reply;
    }
    reply.status_code = 200;
    reply.body = {{"name", op.label}, {"startTime", "2024-01-01T00:00:00+00:00"}};
    if (!op.done) {
      reply.body["status"] = "Updating";
      reply.body["percentComplete"] = op.polls_needed > 0 ? 100.0 * op.polls / op.polls_needed : 0.0;
    } else if (!op.error.is_null()) {
      reply.body["status"] = "Failed";
      reply.body["error"] = op.error;
    } else {
      reply.body["status"] = "Succeeded";
      reply.body["percentComplete"] = 0.0;  // as the service answers (recordings)
    }
    return reply;
  }

  void Complete(Operation& op) {
    op.done = true;
    auto& map = op.endpoint ? w_->endpoints : w_->deployments;
    auto it = map.find(op.key);
    if (!op.error.is_null()) {
      if (it != map.end()) it->second["properties"]["provisioningState"] = "Failed";
      return;
    }
    if (op.method == "DELETE") {
      if (it != map.end()) map.erase(it);
      if (op.endpoint) {
        for (auto d = w_->deployments.begin(); d != w_->deployments.end();)
          d = d->first.substr(0, d->first.find('/')) == op.key ? w_->deployments.erase(d) : std::next(d);
      }
      return;
    }
    if (it == map.end()) return;
    it->second["properties"]["provisioningState"] = "Succeeded";
    if (op.endpoint) {
      const std::string host = "https://" + op.key + "." + w_->location + ".inference.ml.azure.com";
      it->second["properties"]["scoringUri"] = host + "/score";
      it->second["properties"]["swaggerUri"] = host + "/swagger.json";
    }
  }

  std::shared_ptr<AzureMlWorld> w_;
};

}  // namespace mlflow_bridge::testing
