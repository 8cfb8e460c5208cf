// What the AWS SDKs use by default: the credential chain and the default region.
#include <string>
#include <utility>

#include "aws/config_files.h"
#include "common/env.h"
#include "mlflow_bridge/aws.h"

namespace mlflow_bridge {

using internal::AwsIniFile;
using internal::ConfigProfiles;
using internal::ExpandUser;
using internal::GetEnv;
using internal::ReadFileText;

std::shared_ptr<AwsCredentialsProvider> MakeDefaultAwsCredentialsProvider(std::string profile) {
  // A profile named here is the user's explicit choice: as in botocore (and `aws --profile`), the
  // environment's keys do not override it. AWS_PROFILE is not such a choice: the environment's keys win.
  if (!profile.empty()) {
    return MakeCachingAwsCredentialsProvider(
        MakeChainAwsCredentialsProvider({MakeSharedFilesAwsCredentialsProvider(std::move(profile))}));
  }
  return MakeCachingAwsCredentialsProvider(
      MakeChainAwsCredentialsProvider({MakeEnvironmentAwsCredentialsProvider(), MakeSharedFilesAwsCredentialsProvider()}));
}

std::string AwsDefaultRegion(const std::string& profile) {
  for (const char* env : {"AWS_REGION", "AWS_DEFAULT_REGION"})
    if (auto r = GetEnv(env)) return *r;
  std::string name = profile;
  if (name.empty()) name = GetEnv("AWS_PROFILE").value_or(GetEnv("AWS_DEFAULT_PROFILE").value_or("default"));
  auto text = ReadFileText(ExpandUser(GetEnv("AWS_CONFIG_FILE").value_or("~/.aws/config")));
  if (!text) return "";
  AwsIniFile profiles = ConfigProfiles(*text);
  auto it = profiles.find(name);
  if (it == profiles.end()) return "";
  auto region = it->second.find("region");
  return region == it->second.end() ? "" : region->second;
}

}  // namespace mlflow_bridge
