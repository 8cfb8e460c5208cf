// MakeDeploymentTarget: reads an MLflow target URI and makes its target; what a target without MLflow
// endpoints answers; help and run_local for every target.
#include "mlflow_bridge/deployment_target.h"

#include <string_view>

#include "mlflow_bridge/local_client.h"
#include "mlflow_bridge/sagemaker_client.h"
#include "targets/adapters.h"

namespace mlflow_bridge {
namespace {

Status NoEndpoints(std::string_view method) {
  return InvalidParameterError(std::string(method) + ": this target has no MLflow endpoints.");
}

// "<scheme>:<rest>" -> rest, with an empty authority ("//") dropped, and the bare "<scheme>" -> ""; nullopt
// when the scheme differs or the URI names a host (scheme://host/...), which no target of ours has.
std::optional<std::string> PathOf(const std::string& uri, const std::string& scheme) {
  if (uri == scheme) return "";
  if (uri.rfind(scheme + ":", 0) != 0) return std::nullopt;
  std::string rest = uri.substr(scheme.size() + 1);
  if (rest.rfind("//", 0) != 0) return rest;
  if (rest.find_first_not_of('/', 2) == 2) return std::nullopt;  // "//host...": a host
  return rest.substr(2);
}

std::string Strip(std::string s, char c) {
  size_t b = s.find_first_not_of(c);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(c) - b + 1);
}

}  // namespace

StatusOr<nlohmann::json> DeploymentTarget::CreateEndpoint(const std::string&, const nlohmann::json&) {
  return NoEndpoints("create_endpoint");
}
StatusOr<nlohmann::json> DeploymentTarget::UpdateEndpoint(const std::string&, const nlohmann::json&) {
  return NoEndpoints("update_endpoint");
}
Status DeploymentTarget::DeleteEndpoint(const std::string&, const nlohmann::json&) { return NoEndpoints("delete_endpoint"); }
StatusOr<nlohmann::json> DeploymentTarget::GetEndpoint(const std::string&) { return NoEndpoints("get_endpoint"); }
StatusOr<nlohmann::json> DeploymentTarget::ListEndpoints() { return NoEndpoints("list_endpoints"); }

std::vector<std::string> DeploymentTargetNames() {
  return {"local", "sagemaker-endpoints", "kyma", "aks", "azureml-endpoints", "oci-endpoints"};
}

StatusOr<std::shared_ptr<DeploymentTarget>> MakeDeploymentTarget(const std::string& name, const std::string& target_uri,
                                                                 DeploymentTargetOptions options) {
  if (name == "local") {
    if (Strip(target_uri, '/') != "local") {
      return InvalidParameterError("Invalid target URI '" + target_uri + "': the local target's URI is just 'local'.");
    }
    return internal::MakeLocalTarget(options);
  }
  if (name == "sagemaker-endpoints") {
    // sagemaker-endpoints:/<region>[/<assume-role-arn>]; the bare name means MLflow's default region.
    std::optional<std::string> path = PathOf(target_uri, name);
    if (!path) {
      return InvalidParameterError("Invalid target URI '" + target_uri +
                                   "': use sagemaker-endpoints:/<region>[/<assume-role-arn>].");
    }
    std::string p = Strip(*path, '/');
    size_t slash = p.find('/');
    std::string region = p.substr(0, slash);
    std::string role = slash == std::string::npos ? "" : Strip(p.substr(slash + 1), '/');
    return internal::MakeSageMakerTarget(region, role, options);
  }
  if (name == "azureml-endpoints") return internal::MakeAzureMlTarget(target_uri, options);
  if (name == "oci-endpoints") return internal::MakeOciTarget(target_uri, options);
  if (name == "kyma" || name == "aks") {
    std::optional<std::string> path = PathOf(target_uri, name);
    std::string namespace_name = path ? Strip(*path, '/') : "";
    if (!path || namespace_name.find('/') != std::string::npos) {
      return InvalidParameterError("Invalid target URI '" + target_uri + "': use " + name + " or " + name +
                                   ":/<namespace>.");
    }
    return name == "kyma" ? internal::MakeKymaTarget(namespace_name, options)
                          : internal::MakeAksTarget(namespace_name, options);
  }
  return InvalidParameterError("Unknown deployment target '" + name + "'.");
}

StatusOr<std::string> DeploymentTargetHelp(const std::string& name) {
  if (name == "local") return LocalClient::Help();
  if (name == "sagemaker-endpoints") return SageMakerClient::Help();
  if (name == "kyma") return internal::KymaHelp();
  if (name == "aks") return internal::AksHelp();
  if (name == "azureml-endpoints") return internal::AzureMlHelp();
  if (name == "oci-endpoints") return internal::OciHelp();
  return InvalidParameterError("Unknown deployment target '" + name + "'.");
}

Status RunLocal(const DeployRequest& request, DeploymentTargetOptions options) {
  LocalClient local(
      LocalClientOptions{options.home, nullptr, nullptr, std::move(options.interrupted), std::move(options.serve_dir)});
  return local.RunLocal(request);
}

}  // namespace mlflow_bridge
