// Target `sagemaker-endpoints`: AWS SageMaker real-time endpoints.
//
// MLflow's concepts map onto SageMaker's: an MLflow endpoint is a SageMaker
// endpoint and its deployments are production variants; a deployment made
// without an endpoint is a SageMaker endpoint of its own. A model is packed as
// model.tar.gz, uploaded to S3 and registered with CreateModel. Everything a
// call creates is deleted again when the call fails: nothing is orphaned.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mlflow_bridge/aws.h"
#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/config.h"
#include "mlflow_bridge/deployment_target.h"
#include "mlflow_bridge/http.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge {

// What the target URI says: sagemaker-endpoints:/<region>[/<assume-role-arn>].
struct SageMakerTarget {
  std::string region;
  std::string assume_role_arn;
};

namespace internal {
struct SageMakerStubs;  // targets/sagemaker/stubs.h
}

struct SageMakerClientOptions {
  std::shared_ptr<HttpTransport> transport;  // null: libcurl
  std::shared_ptr<Clock> clock;              // null: the system clock
  // Null: the AWS chain (environment, shared files/profiles), then the target's assume-role.
  std::shared_ptr<AwsCredentialsProvider> credentials;
  std::function<bool()> interrupted;  // polled while waiting; true cancels (and cleans up)
  std::string work_dir;               // where model archives are written; empty: the system temp folder
  std::string image_work_dir;         // layers and their cache when config `registry` builds the image
  std::string serve_dir;              // the native model server for those images (ImageBuilderOptions::serve_dir)
  // Tests only: the AWS stubs for every region and role (null: the AWS API over `transport`).
  std::shared_ptr<internal::SageMakerStubs> stubs;
};

class SageMakerClient {
 public:
  // Fails on a region that does not exist or a malformed role ARN.
  static StatusOr<std::shared_ptr<SageMakerClient>> Make(SageMakerTarget target, SageMakerClientOptions options = {});

  // OK when CreateDeployment could go ahead: valid names, and without an
  // endpoint, no SageMaker endpoint of that name (cheap: before a model download).
  Status CheckNew(const std::string& name, const std::string& endpoint);
  // Without an endpoint: a new SageMaker endpoint. With one: a new variant of
  // it (weight initial_weight), or the endpoint itself with this first variant.
  StatusOr<nlohmann::json> CreateDeployment(const DeployRequest& request);
  // Without an endpoint: mode replace (default) or add. With one: the variant
  // gets the new model and keeps its weight.
  StatusOr<nlohmann::json> UpdateDeployment(const DeployRequest& request);
  // Without an endpoint: the SageMaker endpoint with all it uses. With one: the
  // variant (not the last one). Deleting what is not there is OK.
  Status DeleteDeployment(const std::string& name, const std::string& endpoint, const nlohmann::json& config);
  StatusOr<nlohmann::json> GetDeployment(const std::string& name, const std::string& endpoint);
  // Without an endpoint: the SageMaker endpoints this plugin manages (tag
  // app.kubernetes.io/managed-by=mlflow-bridge), all pages. With one: its variants.
  StatusOr<nlohmann::json> ListDeployments(const std::string& endpoint);
  // Sets the variants' traffic weights (and instance counts):
  // config {"weights": {"variant": 90, ...}, "instance_counts": {"variant": 2}}.
  StatusOr<nlohmann::json> UpdateEndpointWeights(const std::string& endpoint, const nlohmann::json& config);
  // One InvokeEndpoint per body (each within SageMaker's 6 MB); the answers in
  // order. With an endpoint, the call goes to the deployment's variant.
  StatusOr<std::vector<std::string>> Predict(const std::string& name, const std::vector<std::string>& bodies,
                                             const std::string& content_type, const std::string& endpoint = "");

  static const ConfigSchema& Schema();
  static std::string Help();
  static constexpr size_t kMaxPayloadBytes = 6291456;

  struct Impl;

 private:
  explicit SageMakerClient(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

}  // namespace mlflow_bridge
