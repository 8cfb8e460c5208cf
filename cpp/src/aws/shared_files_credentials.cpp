// AWS credentials from the shared files ~/.aws/credentials and ~/.aws/config, by profile.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "aws/config_files.h"
#include "common/env.h"
#include "mlflow_bridge/aws.h"

namespace mlflow_bridge {
namespace {

using internal::AwsIniFile;
using internal::ConfigProfiles;
using internal::ExpandUser;
using internal::GetEnv;
using internal::ReadFileText;

class SharedFilesProvider : public AwsCredentialsProvider {
 public:
  explicit SharedFilesProvider(std::string profile) : profile_(std::move(profile)) {}

  StatusOr<AwsCredentials> GetCredentials() override {
    std::string profile = profile_;
    std::string source = "requested";
    if (profile.empty()) {
      if (auto p = GetEnv("AWS_PROFILE")) {
        profile = *p;
        source = "from AWS_PROFILE";
      } else if (auto d = GetEnv("AWS_DEFAULT_PROFILE")) {
        profile = *d;
        source = "from AWS_DEFAULT_PROFILE";
      }
    }
    const bool explicit_profile = !profile.empty();
    if (profile.empty()) profile = "default";

    const std::string credentials_path = ExpandUser(GetEnv("AWS_SHARED_CREDENTIALS_FILE").value_or("~/.aws/credentials"));
    const std::string config_path = ExpandUser(GetEnv("AWS_CONFIG_FILE").value_or("~/.aws/config"));
    std::optional<std::string> credentials_text = ReadFileText(credentials_path);
    std::optional<std::string> config_text = ReadFileText(config_path);

    // Profiles of each file, by profile name.
    AwsIniFile credentials_profiles = credentials_text ? internal::ParseAwsIniFile(*credentials_text) : AwsIniFile();
    AwsIniFile config_profiles = config_text ? ConfigProfiles(*config_text) : AwsIniFile();

    for (const auto& [path, profiles] :
         {std::pair<const std::string&, const AwsIniFile&>(credentials_path, credentials_profiles),
          std::pair<const std::string&, const AwsIniFile&>(config_path, config_profiles)}) {
      auto it = profiles.find(profile);
      if (it == profiles.end()) continue;
      const auto& keys = it->second;
      auto get = [&](const char* k) -> std::string {
        auto kv = keys.find(k);
        return kv == keys.end() ? std::string() : kv->second;
      };
      std::string id = get("aws_access_key_id"), secret = get("aws_secret_access_key");
      if (id.empty() && secret.empty()) continue;  // maybe the other file has them
      const std::string where = "profile '" + profile + "' in " + path;
      if (id.empty()) return InvalidParameterError(where + " has aws_secret_access_key but no aws_access_key_id");
      if (secret.empty()) return InvalidParameterError(where + " has aws_access_key_id but no aws_secret_access_key");
      AwsCredentials c;
      c.access_key_id = std::move(id);
      c.secret_access_key = std::move(secret);
      c.session_token = get("aws_session_token");
      return c;
    }

    const bool exists = credentials_profiles.count(profile) > 0 || config_profiles.count(profile) > 0;
    const std::string files = credentials_path + " and " + config_path;
    if (exists) {
      return NotFoundError("profile '" + profile + "' (" + files +
                           ") has no aws_access_key_id/aws_secret_access_key; profiles that use role_arn, sso_*, "
                           "credential_process or web identity are not supported yet");
    }
    if (!credentials_text && !config_text) {
      if (explicit_profile)
        return InvalidParameterError("AWS profile '" + profile + "' (" + source + ") not found: neither " +
                                     credentials_path + " nor " + config_path + " exists");
      return NotFoundError("neither " + credentials_path + " nor " + config_path + " exists");
    }
    if (explicit_profile) {
      std::vector<std::string> names;
      for (const auto& [n, _] : credentials_profiles) names.push_back(n);
      for (const auto& [n, _] : config_profiles)
        if (!credentials_profiles.count(n)) names.push_back(n);
      std::string list;
      for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
      return InvalidParameterError("AWS profile '" + profile + "' (" + source + ") not found in " + files +
                                   (list.empty() ? "; they define no profiles" : "; profiles found: " + list));
    }
    return NotFoundError("no [default] profile in " + files);
  }

  std::string Describe() const override {
    return "shared credentials/config files (~/.aws/credentials, ~/.aws/config" +
           std::string(profile_.empty() ? "" : ", profile '" + profile_ + "'") + ")";
  }

 private:
  std::string profile_;
};

}  // namespace

std::shared_ptr<AwsCredentialsProvider> MakeSharedFilesAwsCredentialsProvider(std::string profile) {
  return std::make_shared<SharedFilesProvider>(std::move(profile));
}

}  // namespace mlflow_bridge
