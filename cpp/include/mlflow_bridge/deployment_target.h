// The one driver interface: every MLflow deployment target (local, sagemaker-endpoints, kyma, aks, ...)
// implements DeploymentTarget over one DeployRequest, returns JSON, and is made by MakeDeploymentTarget
// from its MLflow target name and URI. The pybind11 module has one adapter for it and Python one client
// class (mlflow_bridge/targets/_base.py).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mlflow_bridge/status.h"

namespace mlflow_bridge {

// What create and update deploy.
struct DeployRequest {
  std::string name;            // the deployment
  std::string endpoint;        // the MLflow endpoint it joins (create) or belongs to (update); empty: none
  std::string model_uri;       // as the user gave it (labels, get/list)
  std::string run_id;          // from the MLmodel file; may be empty
  std::string flavor;          // empty or "python_function"
  std::string model_dir;       // the downloaded model; empty when the target needs no files (NeedsModelFiles)
                               // or, for local's update, to keep the current model
  std::string python;          // the interpreter: runs MLflow's scoring server, or its pip builds images
  std::string mlflow_version;  // pinned into images, tags the default SageMaker image
  nlohmann::json config = nlohmann::json::object();  // as given: strings (CLI) or typed (SDK)
};

class DeploymentTarget {
 public:
  virtual ~DeploymentTarget() = default;

  // Cheap checks before a model is downloaded: a valid name, free, the endpoint there (create); the
  // deployment there and a model given when the target needs one (update).
  virtual Status CheckCreate(const DeployRequest& request) = 0;
  virtual Status CheckUpdate(const DeployRequest& request) = 0;
  // Whether create/update of `model_uri` with `config` need the model's files (request.model_dir).
  virtual bool NeedsModelFiles(const std::string& model_uri, const nlohmann::json& config) const = 0;

  virtual StatusOr<nlohmann::json> CreateDeployment(const DeployRequest& request) = 0;
  virtual StatusOr<nlohmann::json> UpdateDeployment(const DeployRequest& request) = 0;
  virtual Status DeleteDeployment(const std::string& name, const std::string& endpoint, const nlohmann::json& config) = 0;
  virtual StatusOr<nlohmann::json> GetDeployment(const std::string& name, const std::string& endpoint) = 0;
  virtual StatusOr<nlohmann::json> ListDeployments(const std::string& endpoint) = 0;
  // One scoring call per body (bodies are already under MaxPayloadBytes), the answers in order. `name`
  // and `endpoint` as MLflow passes them: a deployment, an endpoint (split by weight), or both.
  virtual StatusOr<std::vector<std::string>> Predict(const std::string& name, const std::string& endpoint,
                                                     const std::vector<std::string>& bodies,
                                                     const std::string& content_type) = 0;
  // The largest body one scoring call takes; 0: no limit (nothing is split).
  virtual size_t MaxPayloadBytes() const { return 0; }

  // MLflow endpoints. A target without them (SupportsEndpoints() false) is never asked: MLflow's own
  // "not implemented" answers for it (in Python, from one place).
  virtual bool SupportsEndpoints() const { return false; }
  // Whether create_endpoint takes its first deployment's model (config model_uri): a SageMaker endpoint
  // cannot be empty.
  virtual bool EndpointTakesModel() const { return false; }
  virtual StatusOr<nlohmann::json> CreateEndpoint(const std::string& name, const nlohmann::json& config);
  virtual StatusOr<nlohmann::json> UpdateEndpoint(const std::string& name, const nlohmann::json& config);
  virtual Status DeleteEndpoint(const std::string& name, const nlohmann::json& config);
  virtual StatusOr<nlohmann::json> GetEndpoint(const std::string& name);
  virtual StatusOr<nlohmann::json> ListEndpoints();
};

struct DeploymentTargetOptions {
  std::string home;                   // the mlflow-bridge home; empty: $MLFLOW_BRIDGE_HOME or ~/.mlflow-bridge
  std::function<bool()> interrupted;  // polled while waiting; true cancels (and cleans up)
  // Where the native model server is (mlflow-bridge-serve and serve_worker.py, decision 0009): the wheel's
  // mlflow_bridge/serve/, filled in by the Python binding; empty: none (MLflow's scoring server is used).
  std::string serve_dir;
};

// The target `name` ("local", "sagemaker-endpoints", "kyma", "aks") for MLflow target URI `target_uri`
// (e.g. "kyma:/team"). INVALID_PARAMETER_VALUE for a malformed URI, saying the right form.
StatusOr<std::shared_ptr<DeploymentTarget>> MakeDeploymentTarget(const std::string& name, const std::string& target_uri,
                                                                 DeploymentTargetOptions options = {});
// The names MakeDeploymentTarget knows.
std::vector<std::string> DeploymentTargetNames();
// target_help(): every config key with its default.
StatusOr<std::string> DeploymentTargetHelp(const std::string& name);

// Serves the model in the foreground on 127.0.0.1 until interrupted (every target's run_local).
Status RunLocal(const DeployRequest& request, DeploymentTargetOptions options = {});

}  // namespace mlflow_bridge
