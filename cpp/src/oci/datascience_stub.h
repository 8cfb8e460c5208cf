// The OCI Data Science stub: one method per REST call (API 20190101) the oci-endpoints target makes
// (docs/oci-notes.md §4). Each builds the request, sends it once through OciCaller, parses the reply and returns
// StatusOr. No retries and no waiting: RetryingDataScienceStub applies RetryLoop's rule (OCI's mapping in
// oci/error.h says what is transient, as the SDKs retry), and the target follows work requests itself.
// Mocked in tests.
//
// Bodies are the REST API's own JSON (camelCase), built by the target. Ids are OCIDs (the stub encodes them).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/retry.h"
#include "mlflow_bridge/status.h"
#include "oci/caller.h"

namespace mlflow_bridge::internal {

// A resource as a reply holds it, with the headers the target needs.
struct OciResource {
  nlohmann::json body;          // the resource (null for replies without one)
  std::string etag;             // for if-match
  std::string work_request_id;  // opc-work-request-id of an asynchronous operation
};

// A work request and the server's polling hint.
struct OciWorkRequest {
  nlohmann::json body;  // id, operationType, status, percentComplete, resources, time*
  std::optional<std::chrono::milliseconds> retry_after;
};

// GET /modelDeployments, /models: compartmentId and at most one more filter (OCI refuses two).
struct OciListQuery {
  std::string compartment_id;
  std::vector<std::pair<std::string, std::string>> filter;  // e.g. {"displayName", "churn"}; at most one
};

class DataScienceStub {
 public:
  virtual ~DataScienceStub() = default;

  // ---- models ----
  // POST /models (CreateModelDetails); `retry_token`: opc-retry-token.
  virtual StatusOr<OciResource> CreateModel(const nlohmann::json& details, const std::string& retry_token) = 0;
  virtual StatusOr<OciResource> GetModel(const std::string& model_id) = 0;
  // Every model the query matches (all pages).
  virtual StatusOr<nlohmann::json> ListModels(const OciListQuery& query) = 0;
  // POST /models/{id}/artifact: the zip at `zip_path` (`size` bytes), content-disposition naming `file_name`;
  // `progress` (sent, size) as it goes out.
  virtual Status CreateModelArtifact(const std::string& model_id, const std::string& zip_path, uint64_t size,
                                     const std::string& file_name, const std::string& retry_token,
                                     const std::function<void(uint64_t, uint64_t)>& progress = nullptr) = 0;
  virtual Status DeleteModel(const std::string& model_id) = 0;

  // ---- model deployments ----
  // POST /modelDeployments (CreateModelDeploymentDetails): the deployment (CREATING) and its work request.
  virtual StatusOr<OciResource> CreateModelDeployment(const nlohmann::json& details, const std::string& retry_token) = 0;
  virtual StatusOr<OciResource> GetModelDeployment(const std::string& deployment_id) = 0;
  virtual StatusOr<nlohmann::json> ListModelDeployments(const OciListQuery& query) = 0;
  // PUT /modelDeployments/{id} (UpdateModelDeploymentDetails), if-match `etag` when not empty: the work request.
  virtual StatusOr<OciResource> UpdateModelDeployment(const std::string& deployment_id, const nlohmann::json& details,
                                                      const std::string& etag) = 0;
  // POST .../actions/activate and .../actions/deactivate: the work request.
  virtual StatusOr<OciResource> ActivateModelDeployment(const std::string& deployment_id, const std::string& etag) = 0;
  virtual StatusOr<OciResource> DeactivateModelDeployment(const std::string& deployment_id, const std::string& etag) = 0;
  // DELETE /modelDeployments/{id}: the work request.
  virtual StatusOr<OciResource> DeleteModelDeployment(const std::string& deployment_id, const std::string& etag) = 0;

  // ---- work requests ----
  virtual StatusOr<OciWorkRequest> GetWorkRequest(const std::string& work_request_id) = 0;
  // GET /workRequests/{id}/errors and /logs: every item (all pages).
  virtual StatusOr<nlohmann::json> ListWorkRequestErrors(const std::string& work_request_id) = 0;
  virtual StatusOr<nlohmann::json> ListWorkRequestLogs(const std::string& work_request_id) = 0;
};

// The REST stub over `caller`.
std::shared_ptr<DataScienceStub> MakeRestDataScienceStub(std::shared_ptr<OciCaller> caller);

// Every call of `stub` through RetryLoop: GET, PUT with if-match, DELETE, and the POSTs that carry an
// opc-retry-token are idempotent; activate and deactivate are not (the SDKs do not retry them), so they are
// sent again only when OCI says the request was not carried out (429).
std::shared_ptr<DataScienceStub> MakeRetryingDataScienceStub(std::shared_ptr<DataScienceStub> stub,
                                                             std::shared_ptr<Clock> clock = nullptr, RetryPolicy retry = {},
                                                             BackoffPolicy backoff = {});

}  // namespace mlflow_bridge::internal
