// The azureml-endpoints target's configuration, parsed once at the edge into AzureMlConfig: the -C keys
// (config={...}) and azureml-mlflow's two files, `deploy-config-file` (the online deployment) and
// `endpoint-config-file` (the online endpoint), JSON or YAML, whose keys are the same names. Values the
// REST API takes in another form (probes, request and scale settings, identity, Kubernetes resources) are
// converted here, once, into the ARM JSON of api-version 2025-12-01.
#pragma once

#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "image/build_config.h"
#include "mlflow_bridge/config.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

struct AzureMlConfig {
  // The online endpoint.
  std::string auth_mode = "key";      // key | aml_token | aad_token
  std::string arm_auth_mode = "Key";  // Key | AMLToken | AADToken
  nlohmann::json identity;            // ARM ManagedServiceIdentity; null: not given (system-assigned)
  nlohmann::json traffic;             // deployment -> percent (weights, or traffic); null: not given
  nlohmann::json mirror_traffic;      // deployment -> percent; null: not given
  std::string compute;                // attached Kubernetes compute (a Kubernetes endpoint); empty: managed
  std::string public_network_access;  // Enabled | Disabled; empty: the service's default
  std::string location;               // empty: the workspace's
  // tags, description, properties: -C keys describe both resources; a file's, only its own.
  nlohmann::json endpoint_tags = nlohmann::json::object();
  std::string endpoint_description;
  nlohmann::json endpoint_properties = nlohmann::json::object();

  // The online deployment.
  std::string compute_type;  // managed | kubernetes; empty: the endpoint's (compute set -> kubernetes)
  std::string instance_type;
  int instance_count = 1;
  bool app_insights_enabled = false;
  nlohmann::json environment_variables = nlohmann::json::object();
  nlohmann::json liveness_probe;    // ARM ProbeSettings; null: the service's default
  nlohmann::json readiness_probe;   // ARM ProbeSettings; null: the service's default
  nlohmann::json request_settings;  // ARM OnlineRequestSettings; null: the service's default
  nlohmann::json scale_settings;    // ARM OnlineScaleSettings; null: the service's default
  nlohmann::json resources;         // ARM ContainerResourceRequirements (Kubernetes); null: none
  nlohmann::json deployment_tags = nlohmann::json::object();
  std::string deployment_description;
  nlohmann::json deployment_properties = nlohmann::json::object();
  std::string model_name;  // the registered model's name; empty: from the model URI or deployment
  std::string registry;    // build the model's image and push it here (a custom-container deployment)
  ImageBuildConfig build;

  // How this call runs.
  bool create_endpoint = false;
  int initial_weight = 0;
  bool delete_empty_endpoint = false;
  bool synchronous = true;
  int timeout_seconds = 1800;
  double poll_interval_seconds = 5.0;
  std::string credential = "auto";  // auto | secret | certificate | workload | managed_identity
  std::string managed_identity_client_id;
  std::string arm_endpoint = "https://management.azure.com";
  int log_tail_lines = 50;

  // The keys the user gave (by -C or in a file), under their current names: a call checks that only
  // keys it uses were given.
  std::set<std::string> given;
};

// Every key, as target_help() lists it (the files' keys among them).
const ConfigSchema& AzureMlConfigSchema();

// The keys that describe the online endpoint (endpoint-config-file), the rest describe the deployment or
// the call.
const std::set<std::string>& AzureMlEndpointKeys();

// `given` (key -> value, CLI strings or typed; `deploy-config-file` and `endpoint-config-file` name files
// whose keys are merged in, -C keys taking precedence) checked and parsed: an unknown key (in a file too),
// a value of the wrong form, traffic that does not sum to 100, mirror traffic over 50, are
// INVALID_PARAMETER_VALUE saying which key (and file) and the form it takes.
StatusOr<AzureMlConfig> ParseAzureMlConfig(const nlohmann::json& given);

// Seconds (an int) or an ISO-8601 duration string, as ARM's durations are written ("PT10S"); `key` names
// the value in the error.
StatusOr<std::string> IsoDuration(const nlohmann::json& value, const std::string& key, bool milliseconds = false);

}  // namespace mlflow_bridge::internal
