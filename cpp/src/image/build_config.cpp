#include "image/build_config.h"

#include <algorithm>

#include "common/strings.h"
#include "mlflow_bridge/image.h"

namespace mlflow_bridge::internal {

using nlohmann::json;

ConfigSchema ImageBuildSchema(const std::vector<std::string>& names) {
  static const ConfigSchema kSection = {
      {"base_image", ConfigType::kString, "",
       "The image to build on; it must have python3 on PATH (its PYTHON_VERSION decides the dependencies' Python). "
       "Default: $MLFLOW_BRIDGE_BASE_IMAGE, else " +
           std::string(kDefaultBaseImage) + "."},
      {"install_dependencies", ConfigType::kBool, true,
       "Install the model's requirements.txt into a layer of their own (pip, wheels only, for the base's Python and "
       "platform)."},
      {"insecure_registry", ConfigType::kBool, false, "Talk plain HTTP to the registry (e.g. one on loopback)."},
      {"registry_auth",
       ConfigType::kString,
       "auto",
       "How to log in to the registry: basic (registry_username/registry_password), docker-config "
       "(~/.docker/config.json), ecr (a 12-hour token from ECR GetAuthorizationToken), acr (an Azure Container "
       "Registry refresh token for the Entra ID identity, as `az acr login` gets it; the identity needs AcrPush), "
       "anonymous, or auto (basic with a username, ecr for *.dkr.ecr.* hosts, acr for *.azurecr.io hosts on "
       "azureml-endpoints, else docker-config to push and no pull Secret). The Kubernetes targets give the cluster "
       "the same login as the image pull Secret <name>-pull; anonymous and acr make none (an AKS cluster pulls "
       "from an attached ACR with its own identity), and a push with anonymous logs in as auto does.",
       std::nullopt,
       std::nullopt,
       {"auto", "anonymous", "basic", "docker-config", "ecr", "acr"},
       {},
       {{"none", "anonymous"}}},
      {"registry_username",
       ConfigType::kString,
       "",
       "User for the registry (ACR: service principal app id; OCIR: <namespace>/<user>).",
       std::nullopt,
       std::nullopt,
       {},
       {"username"}},
      {"registry_password",
       ConfigType::kString,
       "",
       "Its password or token (ACR: the service principal's secret; OCIR: an auth token).",
       std::nullopt,
       std::nullopt,
       {},
       {"password"}},
      {"ecr_region", ConfigType::kString, "", "With ecr: the AWS region, when the registry's host does not say it."},
      {"aws_profile", ConfigType::kString, "",
       "With ecr: the AWS profile whose credentials log in (default: the environment's, AWS_PROFILE)."},
  };
  if (names.empty()) return kSection;
  ConfigSchema out;
  for (const ConfigKey& key : kSection) {
    if (std::find(names.begin(), names.end(), key.name) != names.end()) out.push_back(key);
  }
  return out;
}

ImageBuildConfig ReadImageBuildConfig(const json& parsed) {
  ImageBuildConfig c;
  c.base_image = parsed.value("base_image", c.base_image);
  c.install_dependencies = parsed.value("install_dependencies", c.install_dependencies);
  c.insecure_registry = parsed.value("insecure_registry", c.insecure_registry);
  c.registry_auth = parsed.value("registry_auth", c.registry_auth);
  c.registry_username = parsed.value("registry_username", c.registry_username);
  c.registry_password = parsed.value("registry_password", c.registry_password);
  c.ecr_region = parsed.value("ecr_region", c.ecr_region);
  c.aws_profile = parsed.value("aws_profile", c.aws_profile);
  return c;
}

json ImageBuildKeys(const ImageBuildConfig& c) {
  json out = {{"install_dependencies", c.install_dependencies},
              {"insecure_registry", c.insecure_registry},
              {"registry_auth", c.registry_auth},
              {"registry_username", c.registry_username},
              {"registry_password", c.registry_password},
              {"ecr_region", c.ecr_region},
              {"aws_profile", c.aws_profile}};
  if (!c.base_image.empty()) out["base_image"] = c.base_image;
  return out;
}

bool IsAcrHost(const std::string& registry) {
  const std::string host = ToLower(registry.substr(0, registry.find(':')));
  for (std::string_view suffix : {".azurecr.io", ".azurecr.cn", ".azurecr.us"})
    if (host.size() > suffix.size() && host.ends_with(suffix)) return true;
  return false;
}

std::string ResolveRegistryAuth(const ImageBuildConfig& c, const std::string& registry, const std::string& otherwise) {
  if (c.registry_auth != "auto") return c.registry_auth;
  if (!c.registry_username.empty()) return "basic";
  if (registry.find(".dkr.ecr.") != std::string::npos) return "ecr";
  return otherwise;
}

}  // namespace mlflow_bridge::internal
