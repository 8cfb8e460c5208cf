// AWS endpoint resolution and region names, as the AWS SDKs do it.
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <string>
#include <vector>

#include "mlflow_bridge/aws.h"

#include "common/env.h"
#include "common/strings.h"

namespace mlflow_bridge {

using internal::Trim;
namespace {

std::string CleanUrl(std::string_view url) {
  url = Trim(url);
  while (!url.empty() && url.back() == '/') url.remove_suffix(1);
  return std::string(url);
}

// An endpoint variable's URL ("" when unset).
std::string EndpointFromEnv(const std::string& name) { return CleanUrl(internal::GetEnv(name.c_str()).value_or("")); }

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

// The regions of every partition when this version was made (botocore's
// endpoints.json); regions launched later are found through DNS.
constexpr std::array<std::string_view, 46> kKnownRegions = {
    "af-south-1",     "ap-east-1",      "ap-east-2",       "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
    "ap-south-1",     "ap-south-2",     "ap-southeast-1",  "ap-southeast-2", "ap-southeast-3", "ap-southeast-4",
    "ap-southeast-5", "ap-southeast-6", "ap-southeast-7",  "ca-central-1",   "ca-west-1",      "eu-central-1",
    "eu-central-2",   "eu-north-1",     "eu-south-1",      "eu-south-2",     "eu-west-1",      "eu-west-2",
    "eu-west-3",      "il-central-1",   "me-central-1",    "me-south-1",     "mx-central-1",   "sa-east-1",
    "us-east-1",      "us-east-2",      "us-west-1",       "us-west-2",      "cn-north-1",     "cn-northwest-1",
    "us-gov-east-1",  "us-gov-west-1",  "us-iso-east-1",   "us-iso-west-1",  "us-isob-east-1", "us-isob-west-1",
    "eu-isoe-west-1", "us-isof-east-1", "us-isof-south-1", "eusc-de-east-1"};

std::string DefaultEndpoint(std::string_view endpoint_prefix, std::string_view region) {
  const std::string_view suffix = DnsSuffix(region);
  if (endpoint_prefix == "iam") {  // global service: one endpoint per partition
    if (suffix == "amazonaws.com") {
      return region.starts_with("us-gov-") ? "https://iam.us-gov.amazonaws.com" : "https://iam.amazonaws.com";
    }
  }
  return "https://" + std::string(endpoint_prefix) + "." + std::string(region) + "." + std::string(suffix);
}

// The known regions that start like `region` ("eu-"), for error messages.
std::string SimilarRegions(std::string_view region) {
  std::string_view head = region.substr(0, region.find('-') + 1);
  std::string similar;
  for (std::string_view known : kKnownRegions) {
    if (head.empty() || !known.starts_with(head)) continue;
    similar += (similar.empty() ? "" : ", ") + std::string(known);
  }
  return similar.empty() ? "us-east-1, eu-west-1, ..." : similar;
}

}  // namespace

bool IsKnownRegion(std::string_view region) {
  return std::find(kKnownRegions.begin(), kKnownRegions.end(), region) != kKnownRegions.end();
}

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

Status CheckAwsRegion(std::string_view region, std::string_view service_id, std::string_view endpoint_prefix,
                      std::string_view endpoint_url) {
  const std::string name(region);
  if (!IsValidRegionName(region)) {
    return InvalidParameterError("'" + name + "' is not an AWS region name. Use a region like " + SimilarRegions(region) +
                                 ".");
  }
  const std::string endpoint = ResolveAwsEndpoint(service_id, endpoint_prefix, region, endpoint_url);
  if (IsKnownRegion(region) || endpoint != DefaultEndpoint(endpoint_prefix, region)) return OkStatus();
  // A region newer than this version, or one that does not exist: AWS's DNS knows.
  const std::string host = endpoint.substr(endpoint.find("://") + 3);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  int rc = getaddrinfo(host.c_str(), "443", &hints, &found);
  if (found != nullptr) freeaddrinfo(found);
  if (rc == 0) return OkStatus();
  if (rc == EAI_NONAME) {
    return InvalidParameterError("AWS region '" + name + "' does not exist (" + host +
                                 " is not in DNS). Regions like it: " + SimilarRegions(region) + ".");
  }
  return UnavailableError("Could not look up " + host + " to check AWS region '" + name + "' (" + gai_strerror(rc) +
                          "); check the network or DNS settings.");
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
  if (internal::ToLower(internal::Trim(internal::GetEnv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS").value_or(""))) != "true") {
    if (std::string from_env = EndpointFromEnv(AwsEndpointEnvVar(service_id)); !from_env.empty()) return from_env;
    if (std::string global = EndpointFromEnv("AWS_ENDPOINT_URL"); !global.empty()) return global;
  }
  return DefaultEndpoint(endpoint_prefix, region);
}

}  // namespace mlflow_bridge
