// Target `sagemaker-endpoints`: AWS SageMaker real-time endpoints.
//
// A deployment is a SageMaker endpoint serving one MLflow model: the model is
// packed as model.tar.gz, uploaded to S3, registered with CreateModel, and
// served through an endpoint config and an endpoint. Everything a call creates
// is deleted again when the call fails: nothing is orphaned.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mlflow_bridge/aws.h"
#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/config.h"
#include "mlflow_bridge/http.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge {

// What the target URI says: sagemaker-endpoints:/<region>[/<assume-role-arn>].
struct SageMakerTarget {
  std::string region;
  std::string assume_role_arn;
};

struct SageMakerDeployRequest {
  std::string name;            // the SageMaker endpoint
  std::string model_uri;       // as the user gave it
  std::string run_id;          // from the MLmodel file; may be empty
  std::string flavor;          // empty or "python_function"
  std::string model_dir;       // the downloaded model
  std::string mlflow_version;  // tags the default image, as MLflow's own target does
  nlohmann::json config = nlohmann::json::object();
};

struct SageMakerClientOptions {
  std::shared_ptr<HttpTransport> transport;  // null: libcurl
  std::shared_ptr<Clock> clock;              // null: the system clock
  // Null: the AWS chain (environment, shared files/profiles), then the target's assume-role.
  std::shared_ptr<AwsCredentialsProvider> credentials;
  std::function<bool()> interrupted;  // polled while waiting; true cancels (and cleans up)
  std::string work_dir;               // where model archives are written; empty: the system temp folder
};

class SageMakerClient {
 public:
  // Fails on a region that does not exist or a malformed role ARN.
  static StatusOr<std::shared_ptr<SageMakerClient>> Make(SageMakerTarget target, SageMakerClientOptions options = {});

  StatusOr<nlohmann::json> CreateDeployment(const SageMakerDeployRequest& request);
  // mode replace (default) or add; see Help().
  StatusOr<nlohmann::json> UpdateDeployment(const SageMakerDeployRequest& request);
  // Deleting what is not there is OK. config: archive, synchronous, timeout_seconds, region_name, endpoint_url.
  Status DeleteDeployment(const std::string& name, const nlohmann::json& config);
  StatusOr<nlohmann::json> GetDeployment(const std::string& name);
  // Endpoints this plugin manages (tag app.kubernetes.io/managed-by=mlflow-bridge), all pages.
  StatusOr<nlohmann::json> ListDeployments();
  // One InvokeEndpoint per body (each within SageMaker's 6 MB); the answers in order.
  StatusOr<std::vector<std::string>> Predict(const std::string& name, const std::vector<std::string>& bodies,
                                             const std::string& content_type);

  static const ConfigSchema& Schema();
  static std::string Help();
  static constexpr size_t kMaxPayloadBytes = 6291456;

  struct Impl;

 private:
  explicit SageMakerClient(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

}  // namespace mlflow_bridge
