// The sagemaker-endpoints target's configuration (-C key=value, config={...}): its schema (keys, types,
// defaults, help) and the typed struct every call's config is parsed into once, at the edge.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "image/build_config.h"
#include "mlflow_bridge/config.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

struct SageMakerConfig {
  std::string execution_role_arn;  // empty: the caller's own role
  std::string bucket;              // empty: mlflow-sagemaker-<region>-<account>

  // Building the model's own image (registry non-empty), instead of image_url.
  std::string registry;
  ImageBuildConfig build;  // of the image-build section: base_image, install_dependencies, insecure_registry

  std::string image_url;
  std::string region_name;      // empty: the target URI's
  std::string assume_role_arn;  // empty: the target URI's
  std::string endpoint_url;
  bool archive = false;
  std::string instance_type;
  int instance_count = 1;
  nlohmann::json vpc_config = nlohmann::json::object();
  nlohmann::json data_capture_config = nlohmann::json::object();
  bool synchronous = true;
  int timeout_seconds = 1200;
  double poll_interval_seconds = 5.0;
  double initial_weight = 0.0;
  std::string variant_name;
  nlohmann::json env = nlohmann::json::object();  // name -> value (a string, or any JSON written out)
  bool forward_proxy_env = false;
  nlohmann::json tags = nlohmann::json::object();  // key -> value (as env)
  nlohmann::json async_inference_config = nlohmann::json::object();
  nlohmann::json serverless_config = nlohmann::json::object();
  nlohmann::json deployment_config = nlohmann::json::object();
  std::string mode = "create";  // create, replace or add
};

// The keys, as target_help() lists them.
const ConfigSchema& SageMakerConfigSchema();

// `given` (a JSON object of key -> value, CLI strings or typed) checked against the schema and parsed:
// an unknown key, a value of the wrong type or out of range, a mode other than create/replace/add, or keys
// that cannot go together are INVALID_PARAMETER_VALUE naming them.
StatusOr<SageMakerConfig> ParseSageMakerConfig(const nlohmann::json& given);

}  // namespace mlflow_bridge::internal
