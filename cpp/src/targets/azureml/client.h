// The azureml-endpoints target: an MLflow endpoint is an Azure ML online endpoint, a deployment is one of
// its online deployments (managed or Kubernetes). The orchestration only: create (the endpoint when asked,
// the model registered from its files or an existing azureml:<name>:<version>, the deployment, the traffic),
// update, delete (handing a deployment's traffic to the others), get/list of what mlflow-bridge manages,
// predict with the endpoint's auth mode; a failure reports the platform's error and the containers' logs and
// undoes what the call made (RollbackRecord). ARM calls go through the Azure ML stub (azure/ml_stub.h), which
// a test replaces with tests/cpp/mock_azureml_stub.h.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "azure/arm_caller.h"
#include "azure/blob_stub.h"
#include "azure/credentials.h"
#include "azure/ml_stub.h"
#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/deployment_target.h"
#include "mlflow_bridge/http.h"
#include "targets/azureml/config.h"

namespace mlflow_bridge::internal {

// What one call talks to, made from its config (credential, arm_endpoint).
struct AzureMlServices {
  std::shared_ptr<AzureMlStub> ml;              // ARM, retrying
  std::shared_ptr<TokenCredential> credential;  // Entra ID: aad_token scoring, identity-based datastores
  // The blob service of a datastore's storage account.
  std::function<StatusOr<std::shared_ptr<BlobStub>>(const BlobServiceOptions&)> blob;
  std::shared_ptr<HttpTransport> scoring;  // null: the shared scoring transport
};
using AzureMlServicesFactory = std::function<StatusOr<AzureMlServices>(const ArmWorkspace&, const AzureMlConfig&)>;

struct AzureMlClientOptions {
  ArmWorkspace workspace;
  AzureMlServicesFactory services;  // null: the real ones (MakeAzureMlServices)
  std::shared_ptr<Clock> clock;     // null: the system clock
  std::function<bool()> interrupted;
  std::string image_work_dir;  // registry=: where images are built
  std::string serve_dir;       // registry=: the native model server for the image (ImageBuilderOptions::serve_dir)
};

// The real services for `config` over libcurl: the credential it names (cached), ARM at its arm_endpoint.
StatusOr<AzureMlServices> MakeAzureMlServices(const ArmWorkspace& workspace, const AzureMlConfig& config);

// azureml-endpoints:/<subscription>/<resource-group>/<workspace>.
StatusOr<ArmWorkspace> ParseAzureMlTargetUri(const std::string& target_uri);

std::shared_ptr<DeploymentTarget> MakeAzureMlClient(AzureMlClientOptions options);

// Traffic arithmetic in whole percent (exposed for tests). `current` maps deployment -> percent.
// With: `name` takes `weight`, the others share the rest in their proportions (evenly when they had none),
// largest remainders rounding; the first deployment takes 100.
nlohmann::json TrafficWith(const nlohmann::json& current, const std::string& name, int weight);
// Without: `name`'s share handed to the others in their proportions (evenly when they had none).
nlohmann::json TrafficWithout(const nlohmann::json& current, const std::string& name);

}  // namespace mlflow_bridge::internal
