// The image-build config section: one set of keys, read one way, by `mlflow-bridge image build` and by
// every target's `registry=` (the model's own image, built without docker). The old spellings
// (`username`/`password` of `image build`, registry_auth=none of the Kubernetes targets) still work,
// with a deprecation warning.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mlflow_bridge/config.h"

namespace mlflow_bridge::internal {

struct ImageBuildConfig {
  std::string base_image;  // "": the builder's default
  bool install_dependencies = true;
  bool insecure_registry = false;
  // How to log in to the registry: auto, anonymous, basic, docker-config, ecr or acr.
  std::string registry_auth = "auto";
  std::string registry_username, registry_password;  // basic
  std::string ecr_region, aws_profile;               // ecr
  // acr: the Entra ID identity of the environment (azure-identity's variables, managed identity); a target may
  // give its own (azureml-endpoints: the workspace's credential).
};

// The section's keys, in its order; with `names`, only those (a target that takes fewer).
ConfigSchema ImageBuildSchema(const std::vector<std::string>& names = {});

// The section out of a config parsed (ParseConfig) with a schema that has its keys; a key the
// schema lacks keeps its default.
ImageBuildConfig ReadImageBuildConfig(const nlohmann::json& parsed);

// The section as `image build` config keys (for ImageBuildRequest::config).
nlohmann::json ImageBuildKeys(const ImageBuildConfig& config);

// Whether `registry` ("host[:port]") is an Azure Container Registry by its name (*.azurecr.io and the
// sovereign clouds' *.azurecr.cn, *.azurecr.us).
bool IsAcrHost(const std::string& registry);

// registry_auth=auto made definite for `registry` ("host[:port]"): basic when a username is given,
// ecr for *.dkr.ecr.* hosts, else `otherwise`.
std::string ResolveRegistryAuth(const ImageBuildConfig& config, const std::string& registry, const std::string& otherwise);

}  // namespace mlflow_bridge::internal
