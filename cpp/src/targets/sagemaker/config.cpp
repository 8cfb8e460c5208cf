#include "targets/sagemaker/config.h"

#include <string_view>

#include "mlflow_bridge/image.h"

namespace mlflow_bridge::internal {
namespace {

using nlohmann::json;

// Readers of a config ParseConfig has checked (every key there, of its type); they never throw.
std::string String(const json& c, const char* key) {
  auto it = c.find(key);
  return it != c.end() && it->is_string() ? it->get<std::string>() : std::string();
}
bool Bool(const json& c, const char* key, bool fallback) {
  auto it = c.find(key);
  return it != c.end() && it->is_boolean() ? it->get<bool>() : fallback;
}
int Int(const json& c, const char* key, int fallback) {
  auto it = c.find(key);
  return it != c.end() && it->is_number_integer() ? it->get<int>() : fallback;
}
double Float(const json& c, const char* key, double fallback) {
  auto it = c.find(key);
  return it != c.end() && it->is_number() ? it->get<double>() : fallback;
}
json Object(const json& c, const char* key) {
  auto it = c.find(key);
  return it != c.end() && it->is_object() ? *it : json::object();
}

}  // namespace

const ConfigSchema& SageMakerConfigSchema() {
  static const ConfigSchema kSchema = [] {
    ConfigSchema schema = {
        {"execution_role_arn", ConfigType::kString, "",
         "IAM role SageMaker runs the model with. Default: the caller's role when the caller is an assumed role."},
        {"bucket", ConfigType::kString, "",
         "S3 bucket for the model archive. Default: mlflow-sagemaker-<region>-<account>, created if missing."},
        {"registry", ConfigType::kString, "",
         "Build the model's own image (its dependencies and mlflow-bridge's model server, no docker needed) and push "
         "it to this ECR repository, <account>.dkr.ecr.<region>.amazonaws.com/<repository>[:<tag>] (tag default: the "
         "deployment name); the model then runs from it, pinned by digest. Instead of image_url."},
    };
    // The image-build keys SageMaker takes: it pulls from ECR only, so the login is always ECR's.
    for (ConfigKey& key :
         ImageBuildSchema({"base_image", "server", "install_dependencies", "insecure_registry", "batching", "max_queue",
                           "max_body_mb", "access_log", "prediction_log", "prediction_log_rate"}))
      schema.push_back(std::move(key));
    schema.insert(
        schema.end(),
        {
            {"image_url", ConfigType::kString, "",
             "Serving image. Default: $MLFLOW_SAGEMAKER_DEPLOY_IMG_URL, else ECR repository mlflow-pyfunc tagged with the MLflow version."},
            {"region_name", ConfigType::kString, "", "AWS region; default: the target URI's (us-west-2 without one)."},
            {"assume_role_arn", ConfigType::kString, "", "Role to assume for every AWS call; default: the target URI's."},
            {"endpoint_url", ConfigType::kString, "",
             "Base URL of the AWS APIs (e.g. a local stand-in); also AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>."},
            {"archive", ConfigType::kBool, false,
             "Keep replaced models, endpoint configs and S3 archives instead of deleting them."},
            {"instance_type", ConfigType::kString, "ml.m4.xlarge", "Instance type of the production variant."},
            {"instance_count", ConfigType::kInt, 1, "Instances of the production variant.", 1, 1000},
            {"vpc_config", ConfigType::kObject, json::object(),
             "VpcConfig of the model: {\"SecurityGroupIds\": [...], \"Subnets\": [...]}."},
            {"data_capture_config", ConfigType::kObject, json::object(), "DataCaptureConfig of the endpoint config."},
            {"synchronous", ConfigType::kBool, true, "Wait until the endpoint is InService (or deleted)."},
            {"timeout_seconds", ConfigType::kInt, 1200, "How long to wait when synchronous.", 1, 86400},
            {"poll_interval_seconds", ConfigType::kFloat, 5.0, "First interval between status checks; it grows to 30 s.",
             0.01, 300},
            {"initial_weight", ConfigType::kFloat, 0.0,
             "Traffic weight of a deployment added to an existing endpoint (--endpoint); set weights later with update-endpoint.",
             0, 1e6},
            {"variant_name", ConfigType::kString, "", "Production variant name; default: the model's name."},
            {"env", ConfigType::kObject, json::object(), "Environment variables of the serving container."},
            {"forward_proxy_env", ConfigType::kBool, false,
             "Copy this machine's http_proxy, https_proxy, no_proxy (and HTTP_PROXY, HTTPS_PROXY, NO_PROXY) into the "
             "serving container's environment, which anyone allowed DescribeModel can read; a proxy URL's user and "
             "password are never copied."},
            {"tags", ConfigType::kObject, json::object(), "Tags for the model and the endpoint: {\"team\": \"risk\"}."},
            {"async_inference_config", ConfigType::kObject, json::object(),
             "AsyncInferenceConfig of the endpoint config (asynchronous endpoints)."},
            {"serverless_config", ConfigType::kObject, json::object(),
             "ServerlessConfig of the variant: {\"MemorySizeInMB\": 2048, \"MaxConcurrency\": 5}."},
            {"deployment_config", ConfigType::kObject, json::object(),
             "DeploymentConfig for updates: blue/green traffic shifting "
             "({\"BlueGreenUpdatePolicy\": {\"TrafficRoutingConfiguration\": {\"Type\": \"CANARY\", ...}}}) and "
             "AutoRollbackConfiguration alarms."},
            {"mode", ConfigType::kString, "create",
             "create (create_deployment); replace (update default: the new model takes all traffic, the old is removed) or add "
             "(update: the new model joins as another variant with weight 0)."},
        });
    return schema;
  }();
  return kSchema;
}

StatusOr<SageMakerConfig> ParseSageMakerConfig(const json& given) {
  StatusOr<json> parsed = ParseConfig(SageMakerConfigSchema(), given);
  if (!parsed.ok()) return parsed.status();
  const json& c = *parsed;
  SageMakerConfig config;
  config.execution_role_arn = String(c, "execution_role_arn");
  config.bucket = String(c, "bucket");
  config.registry = String(c, "registry");
  config.build = ReadImageBuildConfig(c);
  config.image_url = String(c, "image_url");
  config.region_name = String(c, "region_name");
  config.assume_role_arn = String(c, "assume_role_arn");
  config.endpoint_url = String(c, "endpoint_url");
  config.archive = Bool(c, "archive", config.archive);
  config.instance_type = String(c, "instance_type");
  config.instance_count = Int(c, "instance_count", config.instance_count);
  config.vpc_config = Object(c, "vpc_config");
  config.data_capture_config = Object(c, "data_capture_config");
  config.synchronous = Bool(c, "synchronous", config.synchronous);
  config.timeout_seconds = Int(c, "timeout_seconds", config.timeout_seconds);
  config.poll_interval_seconds = Float(c, "poll_interval_seconds", config.poll_interval_seconds);
  config.initial_weight = Float(c, "initial_weight", config.initial_weight);
  config.variant_name = String(c, "variant_name");
  config.env = Object(c, "env");
  config.forward_proxy_env = Bool(c, "forward_proxy_env", config.forward_proxy_env);
  config.tags = Object(c, "tags");
  config.async_inference_config = Object(c, "async_inference_config");
  config.serverless_config = Object(c, "serverless_config");
  config.deployment_config = Object(c, "deployment_config");
  config.mode = String(c, "mode");

  if (config.mode != "create" && config.mode != "replace" && config.mode != "add") {
    return InvalidParameterError("Config key 'mode' must be one of create, replace, add; got '" + config.mode + "'.");
  }
  if (!config.archive && !config.synchronous) {
    return InvalidParameterError(
        "Config keys 'synchronous=false' and 'archive=false' cannot go together: resources can only be cleaned "
        "up after SageMaker has finished. Set archive=true or synchronous=true.");
  }
  if (!config.serverless_config.empty() && !config.async_inference_config.empty()) {
    return InvalidParameterError("Config keys 'serverless_config' and 'async_inference_config' cannot go together.");
  }
  return config;
}

}  // namespace mlflow_bridge::internal
