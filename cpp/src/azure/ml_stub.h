// The Azure ML stub: one method per ARM call of Microsoft.MachineLearningServices the azureml-endpoints
// target makes (docs/azureml-notes.md §2.2, §3.1, §4). Each builds the request, sends it once through
// ArmCaller (which marks failures for the retry rule), parses the reply and returns StatusOr. No retries, no
// waiting: the begin* methods send the PUT/DELETE once and return the ArmOperation that WaitForArmOperation
// (azure/arm_lro.h) waits on; RetryingAzureMlStub applies the ARM retry policy to every call, so that the
// target holds one retrying stub. Mocked in tests (tests/cpp/mock_azureml_stub.h).
//
// Request and reply bodies are the REST API's own JSON (api-version kArmApiVersion), passed through as
// nlohmann::json: the target builds them. Names are plain (not encoded); the stub encodes them.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "azure/arm_caller.h"
#include "azure/arm_lro.h"
#include "azure/arm_retry.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

// The ARM id of a model version / an environment version in the workspace (not encoded), as a deployment
// body refers to it: /subscriptions/.../workspaces/{w}/models/{name}/versions/{version}.
std::string ArmModelVersionId(const ArmWorkspace& workspace, const std::string& name, const std::string& version);
std::string ArmEnvironmentVersionId(const ArmWorkspace& workspace, const std::string& name, const std::string& version);

// GET .../models/{name}/versions: $orderBy ("createdtime desc") and $top when set.
struct ModelVersionQuery {
  std::string order_by;
  std::optional<int> top;
};

// POST .../deployments/{d}/getLogs: {"containerType": ..., "tail": ...}, each only when set.
struct DeploymentLogsRequest {
  std::string container_type;  // "InferenceServer" or "StorageInitializer"; empty: the service's default
  std::optional<int> tail;     // lines from the end
};

class AzureMlStub : public ArmPoller {
 public:
  ~AzureMlStub() override = default;

  virtual const ArmWorkspace& workspace() const = 0;

  // GET {workspace}: location, properties.storageAccount, ...
  virtual StatusOr<nlohmann::json> GetWorkspace() = 0;

  // ---- datastores ----
  // GET /datastores/{name} (azure-ai-ml uploads to "workspaceblobstore").
  virtual StatusOr<nlohmann::json> GetDatastore(const std::string& name) = 0;
  // GET /datastores?isDefault=true: the first one listed; RESOURCE_DOES_NOT_EXIST when none is.
  virtual StatusOr<nlohmann::json> GetDefaultDatastore() = 0;
  // POST /datastores/{name}/listSecrets {"expirableSecret": true, "expireAfterHours": 1}:
  // {"secretsType": "Sas", "sasToken": "?sv=..."} or {"secretsType": "AccountKey", "key": ...}. Secret.
  virtual StatusOr<nlohmann::json> ListDatastoreSecrets(const std::string& name) = 0;

  // ---- models (synchronous) ----
  virtual StatusOr<nlohmann::json> GetModelVersion(const std::string& name, const std::string& version) = 0;
  // The versions of one model (the "value" of every page, following nextLink up to query.top items).
  virtual StatusOr<nlohmann::json> ListModelVersions(const std::string& name, const ModelVersionQuery& query = {}) = 0;
  // PUT /models/{name}/versions/{version}: the stored version (200 or 201).
  virtual StatusOr<nlohmann::json> PutModelVersion(const std::string& name, const std::string& version,
                                                   const nlohmann::json& body) = 0;
  virtual Status DeleteModelVersion(const std::string& name, const std::string& version) = 0;

  // ---- environments (synchronous; custom-container environments) ----
  virtual StatusOr<nlohmann::json> PutEnvironmentVersion(const std::string& name, const std::string& version,
                                                         const nlohmann::json& body) = 0;
  virtual StatusOr<nlohmann::json> GetEnvironmentVersion(const std::string& name, const std::string& version) = 0;

  // ---- online endpoints ----
  virtual StatusOr<nlohmann::json> GetOnlineEndpoint(const std::string& endpoint) = 0;
  // Every endpoint of the workspace (all pages, following nextLink), as an array.
  virtual StatusOr<nlohmann::json> ListOnlineEndpoints() = 0;
  // PUT: creates or replaces the endpoint (traffic changes go through here: the 2025-12-01 PATCH takes
  // tags and identity only).
  virtual StatusOr<ArmOperation> BeginCreateOrUpdateOnlineEndpoint(const std::string& endpoint,
                                                                   const nlohmann::json& body) = 0;
  virtual StatusOr<ArmOperation> BeginDeleteOnlineEndpoint(const std::string& endpoint) = 0;
  // POST listKeys: {"primaryKey", "secondaryKey"}. Secret.
  virtual StatusOr<nlohmann::json> ListOnlineEndpointKeys(const std::string& endpoint) = 0;
  // POST token (AML token): {"accessToken", "tokenType", "expiryTimeUtc", "refreshAfterTimeUtc"}. Secret.
  virtual StatusOr<nlohmann::json> GetOnlineEndpointToken(const std::string& endpoint) = 0;

  // ---- online deployments ----
  virtual StatusOr<nlohmann::json> GetOnlineDeployment(const std::string& endpoint, const std::string& deployment) = 0;
  // Every deployment of the endpoint (all pages), as an array.
  virtual StatusOr<nlohmann::json> ListOnlineDeployments(const std::string& endpoint) = 0;
  virtual StatusOr<ArmOperation> BeginCreateOrUpdateOnlineDeployment(const std::string& endpoint,
                                                                     const std::string& deployment,
                                                                     const nlohmann::json& body) = 0;
  virtual StatusOr<ArmOperation> BeginDeleteOnlineDeployment(const std::string& endpoint, const std::string& deployment) = 0;
  // POST getLogs: the reply's "content".
  virtual StatusOr<std::string> GetOnlineDeploymentLogs(const std::string& endpoint, const std::string& deployment,
                                                        const DeploymentLogsRequest& request = {}) = 0;

  // ArmPoller: StatusOr<ArmReply> PollArm(const std::string& url, const std::string& what): a GET of a URL
  // the service handed out (operation status, Location, nextLink), one attempt.
};

// The REST implementation over ArmCaller.
std::shared_ptr<AzureMlStub> MakeRestAzureMlStub(std::shared_ptr<ArmCaller> caller, ArmWorkspace workspace);

// Every call of `stub` through the ARM retry policy (ArmRetry; idempotency by ArmIdempotency: all the calls
// above are idempotent: GET, PUT, DELETE and the read-only POSTs). PollArm is passed through as it is:
// WaitForArmOperation retries each poll itself.
class RetryingAzureMlStub : public AzureMlStub {
 public:
  RetryingAzureMlStub(std::shared_ptr<AzureMlStub> stub, ArmRetry retry = ArmRetry());

  const ArmWorkspace& workspace() const override { return stub_->workspace(); }
  StatusOr<nlohmann::json> GetWorkspace() override;
  StatusOr<nlohmann::json> GetDatastore(const std::string& name) override;
  StatusOr<nlohmann::json> GetDefaultDatastore() override;
  StatusOr<nlohmann::json> ListDatastoreSecrets(const std::string& name) override;
  StatusOr<nlohmann::json> GetModelVersion(const std::string& name, const std::string& version) override;
  StatusOr<nlohmann::json> ListModelVersions(const std::string& name, const ModelVersionQuery& query = {}) override;
  StatusOr<nlohmann::json> PutModelVersion(const std::string& name, const std::string& version,
                                           const nlohmann::json& body) override;
  Status DeleteModelVersion(const std::string& name, const std::string& version) override;
  StatusOr<nlohmann::json> PutEnvironmentVersion(const std::string& name, const std::string& version,
                                                 const nlohmann::json& body) override;
  StatusOr<nlohmann::json> GetEnvironmentVersion(const std::string& name, const std::string& version) override;
  StatusOr<nlohmann::json> GetOnlineEndpoint(const std::string& endpoint) override;
  StatusOr<nlohmann::json> ListOnlineEndpoints() override;
  StatusOr<ArmOperation> BeginCreateOrUpdateOnlineEndpoint(const std::string& endpoint, const nlohmann::json& body) override;
  StatusOr<ArmOperation> BeginDeleteOnlineEndpoint(const std::string& endpoint) override;
  StatusOr<nlohmann::json> ListOnlineEndpointKeys(const std::string& endpoint) override;
  StatusOr<nlohmann::json> GetOnlineEndpointToken(const std::string& endpoint) override;
  StatusOr<nlohmann::json> GetOnlineDeployment(const std::string& endpoint, const std::string& deployment) override;
  StatusOr<nlohmann::json> ListOnlineDeployments(const std::string& endpoint) override;
  StatusOr<ArmOperation> BeginCreateOrUpdateOnlineDeployment(const std::string& endpoint, const std::string& deployment,
                                                             const nlohmann::json& body) override;
  StatusOr<ArmOperation> BeginDeleteOnlineDeployment(const std::string& endpoint, const std::string& deployment) override;
  StatusOr<std::string> GetOnlineDeploymentLogs(const std::string& endpoint, const std::string& deployment,
                                                const DeploymentLogsRequest& request = {}) override;
  StatusOr<ArmReply> PollArm(const std::string& url, const std::string& what) override;

 private:
  template <typename T>
  StatusOr<T> Retried(Idempotency idempotency, const std::string& what, const std::function<StatusOr<T>()>& call);

  std::shared_ptr<AzureMlStub> stub_;
  ArmRetry retry_;
};

}  // namespace mlflow_bridge::internal
