// `oci-endpoints` as a DeploymentTarget: the real services (OCI credentials, the signing transport, the Data
// Science API over libcurl) behind the client in targets/oci/client.cpp.
#include <memory>
#include <regex>

#include "common/env.h"
#include "common/url.h"
#include "mlflow_bridge/http.h"
#include "oci/caller.h"
#include "targets/adapters.h"
#include "targets/oci/client.h"

namespace mlflow_bridge::internal {
namespace {

// The provider `auth` names; auto: a resource principal when its variables are set, else the config file's.
std::shared_ptr<OciCredentialsProvider> Credentials(const OciConfig& config) {
  OciConfigFileOptions file{config.oci_config, config.profile};
  if (file.profile.empty()) file.profile = GetEnv("OCI_CLI_PROFILE").value_or("");
  const bool principal = GetEnv("OCI_RESOURCE_PRINCIPAL_VERSION").has_value();
  std::shared_ptr<OciCredentialsProvider> provider;
  if (config.auth == "api_key") {
    provider = MakeConfigFileOciCredentialsProvider(file);
  } else if (config.auth == "security_token") {
    provider = MakeSessionTokenOciCredentialsProvider(file);
  } else if (config.auth == "resource_principal" || (config.auth == "auto" && principal)) {
    provider = MakeResourcePrincipalOciCredentialsProvider();
  } else {
    return MakeDefaultOciCredentialsProvider(file);
  }
  return MakeCachingOciCredentialsProvider(provider);
}

// A service's base URL: `url` when given, else the region's `fallback`. Plain http only on loopback (a stand-in).
StatusOr<std::string> BaseUrl(std::string url, const std::string& fallback) {
  if (url.empty()) return fallback;
  while (!url.empty() && url.back() == '/') url.pop_back();
  StatusOr<ParsedUrl> parsed = ParseUrl(url);
  if (!parsed.ok() || (parsed->scheme != "https" &&
                       !(parsed->scheme == "http" && (parsed->host == "127.0.0.1" || parsed->host == "localhost"))))
    return InvalidParameterError("The OCI endpoint '" + url +
                                 "' (endpoint_url, MLFLOW_BRIDGE_OCI_ENDPOINT, MLFLOW_BRIDGE_OCI_OBJECT_STORAGE_ENDPOINT) "
                                 "must be an https:// URL (http:// only on 127.0.0.1).");
  return url;
}

}  // namespace

StatusOr<OciTarget> ParseOciTargetUri(const std::string& target_uri) {
  static const std::regex kUri(R"(oci-endpoints(?::/*([^/]*)(?:/+([^/]+))?/*)?)");
  static const std::regex kRegion(R"([a-z]+(-[a-z]+)+-[0-9]+)");
  std::smatch m;
  if (!std::regex_match(target_uri, m, kUri) || (m[1].length() > 0 && !std::regex_match(m[1].str(), kRegion)) ||
      (m[2].length() > 0 && m[2].str().rfind("ocid1.", 0) != 0))
    return InvalidParameterError("Invalid target URI '" + target_uri +
                                 "': use oci-endpoints:/<region>[/<compartment OCID>], e.g. oci-endpoints:/us-ashburn-1 "
                                 "(oci-endpoints alone: the region of your OCI credentials).");
  return OciTarget{m[1], m[2]};
}

StatusOr<OciServices> MakeOciServices(const OciTarget& target, const OciConfig& config) {
  std::shared_ptr<OciCredentialsProvider> provider = Credentials(config);
  StatusOr<OciCredentials> credentials = provider->GetCredentials();
  if (!credentials.ok()) return credentials.status();
  OciServices services;
  services.region = target.region.empty() ? credentials->region : target.region;
  services.tenancy = credentials->tenancy;
  if (services.region.empty())
    return InvalidParameterError(
        "No OCI region: name it in the target URI (oci-endpoints:/us-ashburn-1), or set region in " + credentials->source +
        ".");
  StatusOr<std::string> base_url =
      BaseUrl(config.endpoint_url.empty() ? GetEnv("MLFLOW_BRIDGE_OCI_ENDPOINT").value_or("") : config.endpoint_url,
              "https://datascience." + services.region + ".oci.oraclecloud.com");
  if (!base_url.ok()) return base_url.status();
  StatusOr<std::string> storage_url = BaseUrl(GetEnv("MLFLOW_BRIDGE_OCI_OBJECT_STORAGE_ENDPOINT").value_or(""),
                                              "https://objectstorage." + services.region + ".oraclecloud.com");
  if (!storage_url.ok()) return storage_url.status();
  // One transport (and its connection pool) per call: the CA and proxy settings are read when it is made.
  std::shared_ptr<HttpTransport> transport = MakeCurlTransport();
  services.scoring = MakeOciSigningTransport(transport, provider);
  auto caller = std::make_shared<OciCaller>(services.scoring,
                                            MakeOciSigningTransport(transport, provider, nullptr, OciSignOptions{false}),
                                            OciCallerOptions{*base_url});
  services.ds = MakeRetryingDataScienceStub(MakeRestDataScienceStub(caller));
  services.object_storage =
      std::make_shared<OciCaller>(services.scoring, services.scoring, OciCallerOptions{*storage_url, ""});
  return services;
}

StatusOr<std::shared_ptr<DeploymentTarget>> MakeOciTarget(const std::string& target_uri,
                                                          const DeploymentTargetOptions& options) {
  StatusOr<OciTarget> target = ParseOciTargetUri(target_uri);
  if (!target.ok()) return target.status();
  OciClientOptions o;
  o.target = *target;
  o.interrupted = options.interrupted;
  o.work_dir = ResolveHome(options.home) + "/oci";
  o.image_work_dir = ResolveHome(options.home) + "/image";
  o.serve_dir = options.serve_dir;
  return MakeOciClient(std::move(o));
}

}  // namespace mlflow_bridge::internal
