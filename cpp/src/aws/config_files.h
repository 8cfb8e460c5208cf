// The AWS shared config and credentials files (~/.aws/config, ~/.aws/credentials).
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace mlflow_bridge::internal {

// An AWS shared config/credentials file: section -> key (lower-cased) -> value.
// Comment lines start with '#' or ';'; "key = value" (or "key: value"), an
// inline comment after whitespace is dropped; indented continuation lines
// (nested settings such as "s3 =") are skipped.
using AwsIniFile = std::map<std::string, std::map<std::string, std::string>>;
AwsIniFile ParseAwsIniFile(std::string_view text);

// ~/.aws/config's sections by profile name: "[default]" and "[profile name]".
AwsIniFile ConfigProfiles(std::string_view text);

}  // namespace mlflow_bridge::internal
