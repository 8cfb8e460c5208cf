#include "azure/ml_stub.h"

#include <set>
#include <utility>
#include <vector>

#include "common/strings.h"

namespace mlflow_bridge::internal {
namespace {

using json = nlohmann::json;

constexpr int kMaxPages = 1000;  // a service that hands out nextLinks without end is stopped here

std::string Seg(const std::string& name) { return ArmPathSegment(name); }

std::string EndpointName(const std::string& endpoint) { return "online endpoint " + endpoint; }
std::string DeploymentName(const std::string& endpoint, const std::string& deployment) {
  return "online deployment " + deployment + " (endpoint " + endpoint + ")";
}

class RestAzureMlStub : public AzureMlStub {
 public:
  RestAzureMlStub(std::shared_ptr<ArmCaller> caller, ArmWorkspace workspace)
      : caller_(std::move(caller)), workspace_(std::move(workspace)) {}

  const ArmWorkspace& workspace() const override { return workspace_; }

  StatusOr<json> GetWorkspace() override { return Json("GET", "", {}, std::nullopt, "get " + workspace_.Describe()); }

  StatusOr<json> GetDatastore(const std::string& name) override {
    return Json("GET", "/datastores/" + Seg(name), {}, std::nullopt, "get datastore " + name);
  }

  StatusOr<json> GetDefaultDatastore() override {
    const std::string what = "get the default datastore of " + workspace_.Describe();
    StatusOr<json> page = Json("GET", "/datastores", {{"isDefault", "true"}}, std::nullopt, what);
    if (!page.ok()) return page.status();
    const json value = page->is_object() ? page->value("value", json::array()) : json::array();
    for (const json& d : value) {
      // The filter is the server's; a stand-in that ignores it still must not hand out a non-default one.
      if (d.is_object() && d.value("/properties/isDefault"_json_pointer, true)) return d;
    }
    return NotFoundError(what + ": the workspace has no default datastore");
  }

  StatusOr<json> ListDatastoreSecrets(const std::string& name) override {
    return Json("POST", "/datastores/" + Seg(name) + "/listSecrets", {},
                json{{"expirableSecret", true}, {"expireAfterHours", 1}}, "list the secrets of datastore " + name);
  }

  StatusOr<json> GetModelVersion(const std::string& name, const std::string& version) override {
    return Json("GET", ModelPath(name, version), {}, std::nullopt, "get model " + name + " version " + version);
  }

  StatusOr<json> ListModelVersions(const std::string& name, const ModelVersionQuery& q) override {
    std::vector<std::pair<std::string, std::string>> query;
    if (!q.order_by.empty()) query.emplace_back("$orderBy", q.order_by);
    if (q.top) query.emplace_back("$top", std::to_string(*q.top));
    ArmRequest request{"GET", workspace_.Path() + "/models/" + Seg(name) + "/versions", query, std::nullopt};
    return Pages(request, "list the versions of model " + name, q.top);
  }

  StatusOr<json> PutModelVersion(const std::string& name, const std::string& version, const json& body) override {
    return Json("PUT", ModelPath(name, version), {}, body, "register model " + name + " version " + version);
  }

  Status DeleteModelVersion(const std::string& name, const std::string& version) override {
    StatusOr<HttpResponse> r =
        caller_->Send(Request("DELETE", ModelPath(name, version)), "delete model " + name + " version " + version);
    return r.ok() ? OkStatus() : r.status();
  }

  StatusOr<json> PutEnvironmentVersion(const std::string& name, const std::string& version, const json& body) override {
    return Json("PUT", EnvironmentPath(name, version), {}, body, "create environment " + name + " version " + version);
  }

  StatusOr<json> GetEnvironmentVersion(const std::string& name, const std::string& version) override {
    return Json("GET", EnvironmentPath(name, version), {}, std::nullopt, "get environment " + name + " version " + version);
  }

  StatusOr<json> GetOnlineEndpoint(const std::string& endpoint) override {
    return Json("GET", EndpointPath(endpoint), {}, std::nullopt, "get " + EndpointName(endpoint));
  }

  StatusOr<json> ListOnlineEndpoints() override {
    return Pages(Request("GET", "/onlineEndpoints"), "list the online endpoints of " + workspace_.Describe(), std::nullopt);
  }

  StatusOr<ArmOperation> BeginCreateOrUpdateOnlineEndpoint(const std::string& endpoint, const json& body) override {
    return Begin("PUT", EndpointPath(endpoint), body, EndpointName(endpoint), "create or update ");
  }

  StatusOr<ArmOperation> BeginDeleteOnlineEndpoint(const std::string& endpoint) override {
    return Begin("DELETE", EndpointPath(endpoint), std::nullopt, EndpointName(endpoint), "delete ");
  }

  StatusOr<json> ListOnlineEndpointKeys(const std::string& endpoint) override {
    return Json("POST", EndpointPath(endpoint) + "/listKeys", {}, std::nullopt, "get the keys of " + EndpointName(endpoint));
  }

  StatusOr<json> GetOnlineEndpointToken(const std::string& endpoint) override {
    return Json("POST", EndpointPath(endpoint) + "/token", {}, std::nullopt, "get a token for " + EndpointName(endpoint));
  }

  StatusOr<json> GetOnlineDeployment(const std::string& endpoint, const std::string& deployment) override {
    return Json("GET", DeploymentPath(endpoint, deployment), {}, std::nullopt,
                "get " + DeploymentName(endpoint, deployment));
  }

  StatusOr<json> ListOnlineDeployments(const std::string& endpoint) override {
    return Pages(Request("GET", EndpointPath(endpoint) + "/deployments"),
                 "list the deployments of " + EndpointName(endpoint), std::nullopt);
  }

  StatusOr<ArmOperation> BeginCreateOrUpdateOnlineDeployment(const std::string& endpoint, const std::string& deployment,
                                                             const json& body) override {
    return Begin("PUT", DeploymentPath(endpoint, deployment), body, DeploymentName(endpoint, deployment),
                 "create or update ");
  }

  StatusOr<ArmOperation> BeginDeleteOnlineDeployment(const std::string& endpoint, const std::string& deployment) override {
    return Begin("DELETE", DeploymentPath(endpoint, deployment), std::nullopt, DeploymentName(endpoint, deployment),
                 "delete ");
  }

  StatusOr<std::string> GetOnlineDeploymentLogs(const std::string& endpoint, const std::string& deployment,
                                                const DeploymentLogsRequest& request) override {
    json body = json::object();
    if (!request.container_type.empty()) body["containerType"] = request.container_type;
    if (request.tail) body["tail"] = *request.tail;
    const std::string what = "get the logs of " + DeploymentName(endpoint, deployment);
    StatusOr<json> reply = Json("POST", DeploymentPath(endpoint, deployment) + "/getLogs", {}, body, what);
    if (!reply.ok()) return reply.status();
    if (!reply->is_object()) return InternalError(what + ": the reply has no \"content\"");
    const json content = reply->value("content", json());
    if (content.is_null()) return std::string();
    if (!content.is_string()) return InternalError(what + ": \"content\" is not a string");
    return content.get<std::string>();
  }

  StatusOr<ArmReply> PollArm(const std::string& url, const std::string& what) override {
    StatusOr<HttpResponse> r = caller_->GetUrl(url, what);
    if (!r.ok()) return r.status();
    return ArmReplyFrom(*r, what, caller_->clock().WallNow());
  }

 private:
  // Paths relative to the workspace (encoded).
  std::string ModelPath(const std::string& name, const std::string& version) const {
    return "/models/" + Seg(name) + "/versions/" + Seg(version);
  }
  std::string EnvironmentPath(const std::string& name, const std::string& version) const {
    return "/environments/" + Seg(name) + "/versions/" + Seg(version);
  }
  std::string EndpointPath(const std::string& endpoint) const { return "/onlineEndpoints/" + Seg(endpoint); }
  std::string DeploymentPath(const std::string& endpoint, const std::string& deployment) const {
    return EndpointPath(endpoint) + "/deployments/" + Seg(deployment);
  }

  ArmRequest Request(const std::string& method, const std::string& relative) const {
    return ArmRequest{method, workspace_.Path() + relative, {}, std::nullopt};
  }

  StatusOr<json> Json(const std::string& method, const std::string& relative,
                      std::vector<std::pair<std::string, std::string>> query, std::optional<json> body,
                      const std::string& what) {
    ArmRequest request{method, workspace_.Path() + relative, std::move(query), std::move(body)};
    StatusOr<HttpResponse> r = caller_->Send(request, what);
    if (!r.ok()) return r.status();
    return ArmJsonBody(*r, what);
  }

  StatusOr<ArmOperation> Begin(const std::string& method, const std::string& relative, std::optional<json> body,
                               const std::string& resource, const std::string& verb) {
    ArmRequest request{method, workspace_.Path() + relative, {}, std::move(body)};
    const std::string what = verb + resource;
    StatusOr<HttpResponse> r = caller_->Send(request, what);
    if (!r.ok()) return r.status();
    StatusOr<ArmReply> reply = ArmReplyFrom(*r, what, caller_->clock().WallNow());
    if (!reply.ok()) return reply.status();
    ArmOperation op;
    op.method = method;
    op.resource_url = caller_->Url(ArmRequest{"GET", request.path, {}, std::nullopt});
    op.resource = resource;
    op.initial = std::move(reply).value();
    return op;
  }

  // Every page's "value", following nextLink (up to `limit` items when set).
  StatusOr<json> Pages(const ArmRequest& first, const std::string& what, std::optional<int> limit) {
    json items = json::array();
    std::set<std::string> seen;
    StatusOr<HttpResponse> r = caller_->Send(first, what);
    for (int page = 1;; ++page) {
      if (!r.ok()) return r.status();
      StatusOr<json> body = ArmJsonBody(*r, what);
      if (!body.ok()) return body.status();
      if (!body->is_object()) return InternalError(what + ": the reply is not a list (no \"value\")");
      const json value = body->value("value", json::array());
      if (!value.is_array()) return InternalError(what + ": \"value\" is not an array");
      for (const json& item : value) items.push_back(item);
      if (limit && static_cast<int>(items.size()) >= *limit) break;
      const json next = body->value("nextLink", json());
      if (!next.is_string() || Trim(next.get<std::string>()).empty()) break;
      const std::string url(Trim(next.get<std::string>()));
      if (!seen.insert(url).second || page >= kMaxPages)
        return InternalError(what + ": the service keeps handing out more pages (page " + std::to_string(page) + ")");
      r = caller_->GetUrl(url, what + " (page " + std::to_string(page + 1) + ")");
    }
    if (limit && *limit >= 0 && static_cast<int>(items.size()) > *limit) items.erase(items.begin() + *limit, items.end());
    return items;
  }

  std::shared_ptr<ArmCaller> caller_;
  ArmWorkspace workspace_;
};

}  // namespace

std::string ArmModelVersionId(const ArmWorkspace& workspace, const std::string& name, const std::string& version) {
  return workspace.ResourceId() + "/models/" + name + "/versions/" + version;
}

std::string ArmEnvironmentVersionId(const ArmWorkspace& workspace, const std::string& name, const std::string& version) {
  return workspace.ResourceId() + "/environments/" + name + "/versions/" + version;
}

std::shared_ptr<AzureMlStub> MakeRestAzureMlStub(std::shared_ptr<ArmCaller> caller, ArmWorkspace workspace) {
  return std::make_shared<RestAzureMlStub>(std::move(caller), std::move(workspace));
}

// ---------------------------------------------------------------- RetryingAzureMlStub

RetryingAzureMlStub::RetryingAzureMlStub(std::shared_ptr<AzureMlStub> stub, ArmRetry retry)
    : stub_(std::move(stub)), retry_(std::move(retry)) {}

template <typename T>
StatusOr<T> RetryingAzureMlStub::Retried(Idempotency idempotency, const std::string& what,
                                         const std::function<StatusOr<T>()>& call) {
  return retry_.Call<T>(idempotency, "Azure ML " + what, call);
}

namespace {
const Idempotency kGet = ArmIdempotency("GET");
const Idempotency kPut = ArmIdempotency("PUT");
const Idempotency kDelete = ArmIdempotency("DELETE");
}  // namespace

StatusOr<json> RetryingAzureMlStub::GetWorkspace() {
  return Retried<json>(kGet, "get workspace", [&] { return stub_->GetWorkspace(); });
}
StatusOr<json> RetryingAzureMlStub::GetDatastore(const std::string& name) {
  return Retried<json>(kGet, "get datastore " + name, [&] { return stub_->GetDatastore(name); });
}
StatusOr<json> RetryingAzureMlStub::GetDefaultDatastore() {
  return Retried<json>(kGet, "get the default datastore", [&] { return stub_->GetDefaultDatastore(); });
}
StatusOr<json> RetryingAzureMlStub::ListDatastoreSecrets(const std::string& name) {
  return Retried<json>(ArmIdempotency("POST", "listSecrets"), "list the secrets of datastore " + name,
                       [&] { return stub_->ListDatastoreSecrets(name); });
}
StatusOr<json> RetryingAzureMlStub::GetModelVersion(const std::string& name, const std::string& version) {
  return Retried<json>(kGet, "get model " + name + " version " + version,
                       [&] { return stub_->GetModelVersion(name, version); });
}
StatusOr<json> RetryingAzureMlStub::ListModelVersions(const std::string& name, const ModelVersionQuery& query) {
  return Retried<json>(kGet, "list the versions of model " + name, [&] { return stub_->ListModelVersions(name, query); });
}
StatusOr<json> RetryingAzureMlStub::PutModelVersion(const std::string& name, const std::string& version, const json& body) {
  return Retried<json>(kPut, "register model " + name + " version " + version,
                       [&] { return stub_->PutModelVersion(name, version, body); });
}
Status RetryingAzureMlStub::DeleteModelVersion(const std::string& name, const std::string& version) {
  return retry_.Call(kDelete, "Azure ML delete model " + name + " version " + version,
                     [&] { return stub_->DeleteModelVersion(name, version); });
}
StatusOr<json> RetryingAzureMlStub::PutEnvironmentVersion(const std::string& name, const std::string& version,
                                                          const json& body) {
  return Retried<json>(kPut, "create environment " + name + " version " + version,
                       [&] { return stub_->PutEnvironmentVersion(name, version, body); });
}
StatusOr<json> RetryingAzureMlStub::GetEnvironmentVersion(const std::string& name, const std::string& version) {
  return Retried<json>(kGet, "get environment " + name + " version " + version,
                       [&] { return stub_->GetEnvironmentVersion(name, version); });
}
StatusOr<json> RetryingAzureMlStub::GetOnlineEndpoint(const std::string& endpoint) {
  return Retried<json>(kGet, "get " + EndpointName(endpoint), [&] { return stub_->GetOnlineEndpoint(endpoint); });
}
StatusOr<json> RetryingAzureMlStub::ListOnlineEndpoints() {
  return Retried<json>(kGet, "list online endpoints", [&] { return stub_->ListOnlineEndpoints(); });
}
StatusOr<ArmOperation> RetryingAzureMlStub::BeginCreateOrUpdateOnlineEndpoint(const std::string& endpoint,
                                                                              const json& body) {
  return Retried<ArmOperation>(kPut, "create or update " + EndpointName(endpoint),
                               [&] { return stub_->BeginCreateOrUpdateOnlineEndpoint(endpoint, body); });
}
StatusOr<ArmOperation> RetryingAzureMlStub::BeginDeleteOnlineEndpoint(const std::string& endpoint) {
  return Retried<ArmOperation>(kDelete, "delete " + EndpointName(endpoint),
                               [&] { return stub_->BeginDeleteOnlineEndpoint(endpoint); });
}
StatusOr<json> RetryingAzureMlStub::ListOnlineEndpointKeys(const std::string& endpoint) {
  return Retried<json>(ArmIdempotency("POST", "listKeys"), "get the keys of " + EndpointName(endpoint),
                       [&] { return stub_->ListOnlineEndpointKeys(endpoint); });
}
StatusOr<json> RetryingAzureMlStub::GetOnlineEndpointToken(const std::string& endpoint) {
  return Retried<json>(ArmIdempotency("POST", "token"), "get a token for " + EndpointName(endpoint),
                       [&] { return stub_->GetOnlineEndpointToken(endpoint); });
}
StatusOr<json> RetryingAzureMlStub::GetOnlineDeployment(const std::string& endpoint, const std::string& deployment) {
  return Retried<json>(kGet, "get " + DeploymentName(endpoint, deployment),
                       [&] { return stub_->GetOnlineDeployment(endpoint, deployment); });
}
StatusOr<json> RetryingAzureMlStub::ListOnlineDeployments(const std::string& endpoint) {
  return Retried<json>(kGet, "list the deployments of " + EndpointName(endpoint),
                       [&] { return stub_->ListOnlineDeployments(endpoint); });
}
StatusOr<ArmOperation> RetryingAzureMlStub::BeginCreateOrUpdateOnlineDeployment(const std::string& endpoint,
                                                                                const std::string& deployment,
                                                                                const json& body) {
  return Retried<ArmOperation>(kPut, "create or update " + DeploymentName(endpoint, deployment),
                               [&] { return stub_->BeginCreateOrUpdateOnlineDeployment(endpoint, deployment, body); });
}
StatusOr<ArmOperation> RetryingAzureMlStub::BeginDeleteOnlineDeployment(const std::string& endpoint,
                                                                        const std::string& deployment) {
  return Retried<ArmOperation>(kDelete, "delete " + DeploymentName(endpoint, deployment),
                               [&] { return stub_->BeginDeleteOnlineDeployment(endpoint, deployment); });
}
StatusOr<std::string> RetryingAzureMlStub::GetOnlineDeploymentLogs(const std::string& endpoint,
                                                                   const std::string& deployment,
                                                                   const DeploymentLogsRequest& request) {
  return Retried<std::string>(ArmIdempotency("POST", "getLogs"), "get the logs of " + DeploymentName(endpoint, deployment),
                              [&] { return stub_->GetOnlineDeploymentLogs(endpoint, deployment, request); });
}
StatusOr<ArmReply> RetryingAzureMlStub::PollArm(const std::string& url, const std::string& what) {
  return stub_->PollArm(url, what);  // WaitForArmOperation retries each poll
}

}  // namespace mlflow_bridge::internal
