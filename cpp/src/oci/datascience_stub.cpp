#include "oci/datascience_stub.h"

#include "oci/error.h"

#include <functional>

namespace mlflow_bridge::internal {

using nlohmann::json;

namespace {

OciResource Resource(OciReply reply) {
  OciResource r;
  r.etag = reply.Header("etag").value_or("");
  r.work_request_id = reply.Header("opc-work-request-id").value_or("");
  r.body = std::move(reply.body);
  return r;
}

HttpHeaders RetryToken(const std::string& token) {
  return token.empty() ? HttpHeaders{} : HttpHeaders{{"opc-retry-token", token}};
}

HttpHeaders IfMatch(const std::string& etag) { return etag.empty() ? HttpHeaders{} : HttpHeaders{{"if-match", etag}}; }

class RestDataScienceStub : public DataScienceStub {
 public:
  explicit RestDataScienceStub(std::shared_ptr<OciCaller> caller) : caller_(std::move(caller)) {}

  StatusOr<OciResource> CreateModel(const json& details, const std::string& retry_token) override {
    return Send({"POST", "/models", {}, details, std::nullopt, RetryToken(retry_token)}, "Creating a Data Science model");
  }

  StatusOr<OciResource> GetModel(const std::string& model_id) override {
    return Send({"GET", "/models/" + OciPathSegment(model_id)}, "Reading model " + model_id);
  }

  StatusOr<json> ListModels(const OciListQuery& query) override { return List("/models", query, "Listing models"); }

  Status CreateModelArtifact(const std::string& model_id, const std::string& zip_path, uint64_t size,
                             const std::string& file_name, const std::string& retry_token,
                             const std::function<void(uint64_t, uint64_t)>& progress) override {
    OciRequest request{"POST", "/models/" + OciPathSegment(model_id) + "/artifact"};
    request.body_file = HttpRequest::FileBody{zip_path, 0, size, progress};
    request.headers = RetryToken(retry_token);
    request.headers.emplace_back("content-disposition", "attachment; filename=\"" + file_name + "\"");
    return Send(request, "Uploading the artifact of model " + model_id).status();
  }

  Status DeleteModel(const std::string& model_id) override {
    return Send({"DELETE", "/models/" + OciPathSegment(model_id)}, "Deleting model " + model_id).status();
  }

  StatusOr<OciResource> CreateModelDeployment(const json& details, const std::string& retry_token) override {
    return Send({"POST", "/modelDeployments", {}, details, std::nullopt, RetryToken(retry_token)},
                "Creating model deployment '" + details.value("displayName", std::string()) + "'");
  }

  StatusOr<OciResource> GetModelDeployment(const std::string& deployment_id) override {
    return Send({"GET", "/modelDeployments/" + OciPathSegment(deployment_id)}, "Reading model deployment " + deployment_id);
  }

  StatusOr<json> ListModelDeployments(const OciListQuery& query) override {
    return List("/modelDeployments", query, "Listing model deployments");
  }

  StatusOr<OciResource> UpdateModelDeployment(const std::string& deployment_id, const json& details,
                                              const std::string& etag) override {
    return Send({"PUT", "/modelDeployments/" + OciPathSegment(deployment_id), {}, details, std::nullopt, IfMatch(etag)},
                "Updating model deployment " + deployment_id);
  }

  StatusOr<OciResource> ActivateModelDeployment(const std::string& deployment_id, const std::string& etag) override {
    return Action(deployment_id, "activate", etag, "Activating");
  }

  StatusOr<OciResource> DeactivateModelDeployment(const std::string& deployment_id, const std::string& etag) override {
    return Action(deployment_id, "deactivate", etag, "Deactivating");
  }

  StatusOr<OciResource> DeleteModelDeployment(const std::string& deployment_id, const std::string& etag) override {
    return Send(
        {"DELETE", "/modelDeployments/" + OciPathSegment(deployment_id), {}, std::nullopt, std::nullopt, IfMatch(etag)},
        "Deleting model deployment " + deployment_id);
  }

  StatusOr<OciWorkRequest> GetWorkRequest(const std::string& work_request_id) override {
    StatusOr<OciReply> reply = caller_->Call({"GET", "/workRequests/" + OciPathSegment(work_request_id)},
                                             "Reading work request " + work_request_id);
    if (!reply.ok()) return reply.status();
    OciWorkRequest out;
    out.body = std::move(reply->body);
    out.retry_after = OciRetryAfter(reply->headers);
    return out;
  }

  StatusOr<json> ListWorkRequestErrors(const std::string& work_request_id) override {
    return List("/workRequests/" + OciPathSegment(work_request_id) + "/errors", {},
                "Reading the errors of work request " + work_request_id);
  }

  StatusOr<json> ListWorkRequestLogs(const std::string& work_request_id) override {
    return List("/workRequests/" + OciPathSegment(work_request_id) + "/logs", {},
                "Reading the log of work request " + work_request_id);
  }

 private:
  StatusOr<OciResource> Send(const OciRequest& request, const std::string& what) {
    StatusOr<OciReply> reply = caller_->Call(request, what);
    if (!reply.ok()) return reply.status();
    return Resource(std::move(*reply));
  }

  StatusOr<OciResource> Action(const std::string& deployment_id, const char* action, const std::string& etag,
                               const std::string& verb) {
    return Send({"POST",
                 "/modelDeployments/" + OciPathSegment(deployment_id) + "/actions/" + action,
                 {},
                 std::nullopt,
                 std::nullopt,
                 IfMatch(etag)},
                verb + " model deployment " + deployment_id);
  }

  // Every item of every page: each reply is a JSON array; opc-next-page names the next page.
  StatusOr<json> List(const std::string& path, const OciListQuery& query, const std::string& what) {
    json items = json::array();
    std::string page;
    do {
      OciRequest request{"GET", path};
      if (!query.compartment_id.empty()) request.query.emplace_back("compartmentId", query.compartment_id);
      request.query.insert(request.query.end(), query.filter.begin(), query.filter.end());
      request.query.emplace_back("limit", "100");
      if (!page.empty()) request.query.emplace_back("page", page);
      StatusOr<OciReply> reply = caller_->Call(request, what);
      if (!reply.ok()) return reply.status();
      if (!reply->body.is_array())
        return InternalError(what + ": the service answered with " + reply->body.dump().substr(0, 200) + ", not a list.");
      for (json& item : reply->body) items.push_back(std::move(item));
      page = reply->Header("opc-next-page").value_or("");
    } while (!page.empty());
    return items;
  }

  std::shared_ptr<OciCaller> caller_;
};

class RetryingDataScienceStub : public DataScienceStub {
 public:
  RetryingDataScienceStub(std::shared_ptr<DataScienceStub> stub, std::shared_ptr<Clock> clock, RetryPolicy retry,
                          BackoffPolicy backoff)
      : stub_(std::move(stub)), clock_(clock ? std::move(clock) : SystemClock()), retry_(retry), backoff_(backoff) {}

  StatusOr<OciResource> CreateModel(const json& details, const std::string& retry_token) override {
    return Call<OciResource>(Token(retry_token), "CreateModel", [&] { return stub_->CreateModel(details, retry_token); });
  }
  StatusOr<OciResource> GetModel(const std::string& id) override {
    return Call<OciResource>(Idempotency::kIdempotent, "GetModel", [&] { return stub_->GetModel(id); });
  }
  StatusOr<json> ListModels(const OciListQuery& query) override {
    return Call<json>(Idempotency::kIdempotent, "ListModels", [&] { return stub_->ListModels(query); });
  }
  Status CreateModelArtifact(const std::string& id, const std::string& zip_path, uint64_t size, const std::string& file_name,
                             const std::string& retry_token,
                             const std::function<void(uint64_t, uint64_t)>& progress) override {
    return internal::RetryLoopImpl(retry_, backoff_, Token(retry_token), *clock_, "CreateModelArtifact", [&] {
      return stub_->CreateModelArtifact(id, zip_path, size, file_name, retry_token, progress);
    });
  }
  Status DeleteModel(const std::string& id) override {
    return internal::RetryLoopImpl(retry_, backoff_, Idempotency::kIdempotent, *clock_, "DeleteModel",
                                   [&] { return stub_->DeleteModel(id); });
  }
  StatusOr<OciResource> CreateModelDeployment(const json& details, const std::string& retry_token) override {
    return Call<OciResource>(Token(retry_token), "CreateModelDeployment",
                             [&] { return stub_->CreateModelDeployment(details, retry_token); });
  }
  StatusOr<OciResource> GetModelDeployment(const std::string& id) override {
    return Call<OciResource>(Idempotency::kIdempotent, "GetModelDeployment", [&] { return stub_->GetModelDeployment(id); });
  }
  StatusOr<json> ListModelDeployments(const OciListQuery& query) override {
    return Call<json>(Idempotency::kIdempotent, "ListModelDeployments", [&] { return stub_->ListModelDeployments(query); });
  }
  StatusOr<OciResource> UpdateModelDeployment(const std::string& id, const json& details, const std::string& etag) override {
    // A PUT states the whole configuration: sending it again does the same.
    return Call<OciResource>(Idempotency::kIdempotent, "UpdateModelDeployment",
                             [&] { return stub_->UpdateModelDeployment(id, details, etag); });
  }
  StatusOr<OciResource> ActivateModelDeployment(const std::string& id, const std::string& etag) override {
    return Call<OciResource>(Idempotency::kNonIdempotent, "ActivateModelDeployment",
                             [&] { return stub_->ActivateModelDeployment(id, etag); });
  }
  StatusOr<OciResource> DeactivateModelDeployment(const std::string& id, const std::string& etag) override {
    return Call<OciResource>(Idempotency::kNonIdempotent, "DeactivateModelDeployment",
                             [&] { return stub_->DeactivateModelDeployment(id, etag); });
  }
  StatusOr<OciResource> DeleteModelDeployment(const std::string& id, const std::string& etag) override {
    return Call<OciResource>(Idempotency::kIdempotent, "DeleteModelDeployment",
                             [&] { return stub_->DeleteModelDeployment(id, etag); });
  }
  StatusOr<OciWorkRequest> GetWorkRequest(const std::string& id) override {
    return Call<OciWorkRequest>(Idempotency::kIdempotent, "GetWorkRequest", [&] { return stub_->GetWorkRequest(id); });
  }
  StatusOr<json> ListWorkRequestErrors(const std::string& id) override {
    return Call<json>(Idempotency::kIdempotent, "ListWorkRequestErrors", [&] { return stub_->ListWorkRequestErrors(id); });
  }
  StatusOr<json> ListWorkRequestLogs(const std::string& id) override {
    return Call<json>(Idempotency::kIdempotent, "ListWorkRequestLogs", [&] { return stub_->ListWorkRequestLogs(id); });
  }

 private:
  // A POST with an opc-retry-token makes one resource however often it is sent.
  static Idempotency Token(const std::string& retry_token) {
    return retry_token.empty() ? Idempotency::kNonIdempotent : Idempotency::kIdempotent;
  }

  template <typename T>
  StatusOr<T> Call(Idempotency idempotency, std::string_view what, const std::function<StatusOr<T>()>& fn) {
    return RetryLoop<T>(retry_, backoff_, idempotency, *clock_, what, fn);
  }

  std::shared_ptr<DataScienceStub> stub_;
  std::shared_ptr<Clock> clock_;
  RetryPolicy retry_;
  BackoffPolicy backoff_;
};

}  // namespace

std::shared_ptr<DataScienceStub> MakeRestDataScienceStub(std::shared_ptr<OciCaller> caller) {
  return std::make_shared<RestDataScienceStub>(std::move(caller));
}

std::shared_ptr<DataScienceStub> MakeRetryingDataScienceStub(std::shared_ptr<DataScienceStub> stub,
                                                             std::shared_ptr<Clock> clock, RetryPolicy retry,
                                                             BackoffPolicy backoff) {
  return std::make_shared<RetryingDataScienceStub>(std::move(stub), std::move(clock), retry, backoff);
}

}  // namespace mlflow_bridge::internal
