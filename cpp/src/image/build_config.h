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

// The native server's options a deployment may set (decision 0009), the same keys on every target: `local`
// passes them to mlflow-bridge-serve as flags; an image carries them in its environment as
// MLFLOW_BRIDGE_SERVE_<FLAG> (MLFLOW_BRIDGE_SERVE_MAX_QUEUE for --max-queue), which the server reads for a
// flag not given, so that a platform's environment variables can also change them without a new image.
struct NativeServerOptions {
  std::string batching = "auto";  // auto, true or false
  int max_queue = 1024;
  int max_body_mb = 64;
  bool access_log = true;
  std::string prediction_log;  // a file, - for stderr; "" off
  double prediction_log_rate = 1.0;
};

// The options' config keys. `access_log_default`: a container logs each request by default, `local` does not.
ConfigSchema NativeServerSchema(bool access_log_default);

// The options out of a config parsed with a schema that has NativeServerSchema's keys.
NativeServerOptions ReadNativeServerOptions(const nlohmann::json& parsed);

// The options as config keys (NativeServerSchema's).
nlohmann::json NativeServerKeys(const NativeServerOptions& options);

// The options as mlflow-bridge-serve flags, without their "--": {"max-queue", "1024"}, ...
std::vector<std::pair<std::string, std::string>> NativeServerFlags(const NativeServerOptions& options);

// The environment variable that gives mlflow-bridge-serve's --<flag>: "max-queue" -> MLFLOW_BRIDGE_SERVE_MAX_QUEUE.
std::string NativeServerEnvName(const std::string& flag);

struct ImageBuildConfig {
  std::string base_image;  // "": the builder's default (a python:<the model's Python>-slim)
  // What serves the model in the image: native (mlflow-bridge-serve, decision 0009) or mlflow (MLflow's
  // scoring server under uvicorn).
  std::string server = "native";
  NativeServerOptions native;  // with server native: the image's MLFLOW_BRIDGE_SERVE_* environment
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

// The Python version ("3.11") the model was logged with: its python_env.yaml's `python:`, else the
// python=... dependency of its conda.yaml; "" when neither says. `source` (may be null) gets the file's name.
std::string ModelPythonVersion(const std::string& model_dir, std::string* source = nullptr);

// "3.11.9" -> "3.11"; "" when it is not a version.
std::string PythonMajorMinor(const std::string& version);

// The base image to build on: `configured` (base_image, else $MLFLOW_BRIDGE_BASE_IMAGE), else
// docker.io/library/python:<python>-slim, else kDefaultBaseImage when `python` is "". A "{python}" in a
// configured name is replaced with `python` (a mirror of the official images:
// MLFLOW_BRIDGE_BASE_IMAGE=mirror.example.com/python:{python}-slim). `chosen_for_python` is set when the
// name follows `python` (then the base's Python needs no check against the model's).
std::string ChooseBaseImage(const std::string& configured, const std::string& python, bool* chosen_for_python);

// Whether `registry` ("host[:port]") is an Azure Container Registry by its name (*.azurecr.io and the
// sovereign clouds' *.azurecr.cn, *.azurecr.us).
bool IsAcrHost(const std::string& registry);

// registry_auth=auto made definite for `registry` ("host[:port]"): basic when a username is given,
// ecr for *.dkr.ecr.* hosts, else `otherwise`.
std::string ResolveRegistryAuth(const ImageBuildConfig& config, const std::string& registry, const std::string& otherwise);

}  // namespace mlflow_bridge::internal
