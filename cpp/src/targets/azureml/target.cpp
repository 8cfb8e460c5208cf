// `azureml-endpoints` as a DeploymentTarget: the real services (Entra ID credential, ARM over libcurl, blob
// storage) behind the client in targets/azureml/client.cpp.
#include <filesystem>
#include <memory>

#include "azure/arm_caller.h"
#include "azure/blob_stub.h"
#include "azure/credentials.h"
#include "azure/ml_stub.h"
#include "common/env.h"
#include "mlflow_bridge/http.h"
#include "targets/adapters.h"
#include "targets/azureml/client.h"

namespace mlflow_bridge::internal {

StatusOr<AzureMlServices> MakeAzureMlServices(const ArmWorkspace& workspace, const AzureMlConfig& config) {
  AzureCredentialOptions credential_options;
  StatusOr<AzureCredentialSource> source = ParseAzureCredentialSource(config.credential);
  if (!source.ok()) return source.status();
  credential_options.source = *source;
  if (!config.managed_identity_client_id.empty())
    credential_options.managed_identity = {ManagedIdentityId::Kind::kClientId, config.managed_identity_client_id};
  // One transport (and its connection pool) per call: the CA and proxy settings are read when it is made.
  std::shared_ptr<HttpTransport> transport = MakeCurlTransport();
  credential_options.transport = transport;
  StatusOr<std::shared_ptr<TokenCredential>> credential = MakeDefaultAzureCredential(credential_options);
  if (!credential.ok()) return credential.status();
  ArmCallerOptions arm;
  arm.base_url = config.arm_endpoint;
  auto caller = std::make_shared<ArmCaller>(transport, *credential, arm);
  AzureMlServices services;
  services.credential = *credential;
  services.ml = std::make_shared<RetryingAzureMlStub>(MakeRestAzureMlStub(caller, workspace));
  services.scoring = transport;
  services.blob = [transport](const BlobServiceOptions& options) -> StatusOr<std::shared_ptr<BlobStub>> {
    return std::shared_ptr<BlobStub>(std::make_shared<BlobRestStub>(transport, options));
  };
  return services;
}

StatusOr<std::shared_ptr<DeploymentTarget>> MakeAzureMlTarget(const std::string& target_uri,
                                                              const DeploymentTargetOptions& options) {
  StatusOr<ArmWorkspace> workspace = ParseAzureMlTargetUri(target_uri);
  if (!workspace.ok()) return workspace.status();
  AzureMlClientOptions o;
  o.workspace = *workspace;
  o.interrupted = options.interrupted;
  o.image_work_dir = ResolveHome(options.home) + "/image";
  o.serve_dir = options.serve_dir;
  return MakeAzureMlClient(std::move(o));
}

}  // namespace mlflow_bridge::internal
