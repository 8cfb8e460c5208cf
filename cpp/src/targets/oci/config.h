// The oci-endpoints target's configuration (docs/decisions/0010), parsed once at the edge into OciConfig: the
// -C keys (config={...}) and oci-mlflow's `deploy-config-file`, a YAML of `kind: deployment` whose
// spec.infrastructure and spec.runtime keys mean what they mean to oci-mlflow (and ADS, which it builds on);
// every one of them also has a -C key, which wins over the file.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "image/build_config.h"
#include "mlflow_bridge/config.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

struct OciLogDetails {
  std::string log_group_id, log_id;  // both, or neither
  bool given() const { return !log_id.empty(); }
};

struct OciConfig {
  // Where: the compartment and Data Science project of the models and the deployment.
  std::string compartment_id;  // default: $NB_SESSION_COMPARTMENT_OCID (a notebook session's)
  std::string project_id;      // default: $PROJECT_OCID

  // Infrastructure (modelConfigurationDetails).
  std::string shape = "VM.Standard.E4.Flex";
  std::optional<double> ocpus, memory_gb;  // Flex shapes: sent as given, else 1 OCPU and 16 GB
  int instance_count = 1;
  int bandwidth_mbps = 10;
  OciLogDetails access_log, predict_log;
  std::string subnet_id, private_endpoint_id;
  int web_concurrency = 0;  // 0: the service decides (WEB_CONCURRENCY unset)

  // Runtime (environmentConfigurationDetails).
  std::string runtime;                            // conda | container
  std::string conda_pack;                         // conda: oci://<bucket>@<namespace>/<path> of a published pack
  std::string conda_slug;                         // conda: the service pack's slug (INFERENCE_ENV_SLUG)
  std::string python_version;                     // conda: the pack's Python ("3.10")
  std::string score_code;                         // conda: the user's own score.py instead of ours
  std::string image;                              // container: an image that is there already (instead of registry)
  std::string image_digest;                       // with image: sha256:...
  std::string registry;                           // container: build the model's image and push it here (OCIR)
  ImageBuildConfig build;                         // with registry
  int port = 8080;                                // container: serverPort and healthCheckPort
  std::vector<std::string> cmd, entrypoint;       // container: instead of the image's
  nlohmann::json env = nlohmann::json::object();  // environment variables of the model server (strings)

  // The deployment resource.
  std::string description;
  nlohmann::json freeform_tags = nlohmann::json::object();
  nlohmann::json defined_tags = nlohmann::json::object();

  // How this call runs.
  std::optional<bool> active;  // update: deactivate (false) or activate (true)
  bool synchronous = true;
  int timeout_seconds = 1800;
  double poll_interval_seconds = 10.0;
  std::string auth = "auto";  // auto | api_key | security_token | resource_principal
  std::string oci_config;     // the config file; default $OCI_CONFIG_FILE, else ~/.oci/config
  std::string profile;        // default $OCI_CLI_PROFILE, else DEFAULT
  std::string endpoint_url;   // the Data Science API; default https://datascience.<region>.oci.oraclecloud.com

  // The keys the user gave (by -C or in the file), under their -C names: a call checks that only keys it uses
  // were given.
  std::set<std::string> given;
};

// Every -C key, as target_help() lists it.
const ConfigSchema& OciConfigSchema();

// `given` (key -> value, CLI strings or typed; `deploy-config-file` names a YAML of kind: deployment whose keys
// are merged in under the -C keys) checked and parsed. An unknown key (in the file too, listing the valid ones),
// a value of the wrong form, a YAML of another kind, a runtime without what it needs, are INVALID_PARAMETER_VALUE
// saying which key (and file) and the form it takes. What a call needs (the compartment to create) is checked by
// the call.
StatusOr<OciConfig> ParseOciConfig(const nlohmann::json& given);

}  // namespace mlflow_bridge::internal
