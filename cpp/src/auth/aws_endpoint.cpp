// AWS endpoint resolution and region names, as the AWS SDKs do it.
#include <cctype>
#include <cstdlib>
#include <string>
#include <vector>

#include "mlflow_bridge/aws.h"

#include "common/strings.h"

namespace mlflow_bridge {

using internal::Trim;
namespace {

std::string CleanUrl(std::string_view url) {
  url = Trim(url);
  while (!url.empty() && url.back() == '/') url.remove_suffix(1);
  return std::string(url);
}

std::string GetEnv(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  return v == nullptr ? std::string() : CleanUrl(v);
}

bool AllLower(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < 'a' || c > 'z') return false;
  return true;
}

// The DNS suffix of the region's partition.
std::string_view DnsSuffix(std::string_view region) {
  if (region.starts_with("cn-")) return "amazonaws.com.cn";
  if (region.starts_with("us-isob-")) return "sc2s.sgov.gov";
  if (region.starts_with("us-isof-")) return "csp.hci.ic.gov";
  if (region.starts_with("us-iso-")) return "c2s.ic.gov";
  if (region.starts_with("eu-isoe-")) return "cloud.adc-e.uk";
  if (region.starts_with("eusc-")) return "amazonaws.eu";
  return "amazonaws.com";
}

}  // namespace

bool IsValidRegionName(std::string_view region) {
  // [a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d{1,2}, or the European Sovereign Cloud's
  // eusc-[a-z]{2}-[a-z]+-\d{1,2}; by hand (no std::regex in the core).
  std::vector<std::string_view> parts;
  size_t pos = 0;
  while (true) {
    size_t dash = region.find('-', pos);
    parts.push_back(region.substr(pos, dash == std::string_view::npos ? std::string_view::npos : dash - pos));
    if (dash == std::string_view::npos) break;
    pos = dash + 1;
  }
  if (parts.size() != 3 && parts.size() != 4) return false;
  if (parts[0] == "eusc") {
    if (parts.size() != 4 || parts[1].size() != 2 || !AllLower(parts[1])) return false;
  } else {
    if (parts[0].size() != 2 || !AllLower(parts[0])) return false;
    if (parts.size() == 4 && parts[1] != "gov" && !(parts[1].starts_with("iso") && AllLower(parts[1]))) return false;
  }
  if (!AllLower(parts[parts.size() - 2])) return false;
  std::string_view number = parts.back();
  if (number.empty() || number.size() > 2) return false;
  for (char c : number)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

std::string AwsEndpointEnvVar(std::string_view service_id) {
  std::string name = "AWS_ENDPOINT_URL_";
  for (char c : Trim(service_id)) {
    if (c == ' ' || c == '-') name.push_back('_');
    else name.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return name;
}

std::string ResolveAwsEndpoint(std::string_view service_id, std::string_view endpoint_prefix, std::string_view region,
                               std::string_view endpoint_url) {
  if (std::string configured = CleanUrl(endpoint_url); !configured.empty()) return configured;
  std::string ignore = GetEnv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
  for (char& c : ignore) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ignore != "true") {
    if (std::string from_env = GetEnv(AwsEndpointEnvVar(service_id)); !from_env.empty()) return from_env;
    if (std::string global = GetEnv("AWS_ENDPOINT_URL"); !global.empty()) return global;
  }
  const std::string_view suffix = DnsSuffix(region);
  if (endpoint_prefix == "iam") {  // global service: one endpoint per partition
    if (suffix == "amazonaws.com") {
      return region.starts_with("us-gov-") ? "https://iam.us-gov.amazonaws.com" : "https://iam.amazonaws.com";
    }
  }
  return "https://" + std::string(endpoint_prefix) + "." + std::string(region) + "." + std::string(suffix);
}

}  // namespace mlflow_bridge
