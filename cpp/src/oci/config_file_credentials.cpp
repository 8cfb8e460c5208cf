// OCI credentials from an API key profile of the config file (~/.oci/config), with the keys and checks of
// the SDK's oci.config.validate_config: user, tenancy, fingerprint, key_file and region (else $OCI_REGION)
// required; tenancy and user shaped as OCIDs, fingerprint as 16 hex pairs; key_file a readable file;
// pass_phrase for an encrypted key; key_content refused in a file.
#include <filesystem>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "common/env.h"
#include "oci/credentials.h"

namespace mlflow_bridge::internal {
namespace {

bool LooksLikeOcid(const std::string& s) {
  static const std::regex kOcid("^([0-9a-zA-Z_-]+[.:])([0-9a-zA-Z_-]*[.:]){3,}([0-9a-zA-Z_-]+)$");
  return std::regex_match(s, kOcid);
}

bool LooksLikeFingerprint(const std::string& s) {
  static const std::regex kFingerprint("^([0-9a-f]{2}:){15}[0-9a-f]{2}$");
  return std::regex_match(s, kFingerprint);
}

class ConfigFileProvider : public OciCredentialsProvider {
 public:
  explicit ConfigFileProvider(OciConfigFileOptions options) : options_(std::move(options)) {}

  StatusOr<OciCredentials> GetCredentials() override {
    StatusOr<OciProfile> loaded = LoadOciProfile(options_);
    if (!loaded.ok()) return loaded.status();
    const OciProfile& p = *loaded;
    const std::string fix = "; see " + std::string(kOciConfigDocs);
    if (!p.Get("user") && p.Get("security_token_file"))
      return NotFoundError(p.Describe() + " is a session token profile (it has security_token_file and no user)");
    if (p.Get("key_content"))
      return InvalidParameterError(p.Where("key_content") +
                                   ": 'key_content' cannot be specified in a config file for security reasons; use "
                                   "key_file" +
                                   fix);

    std::optional<std::string> region = OciProfileRegion(p);
    std::vector<std::string> missing;
    for (const char* k : {"user", "tenancy", "fingerprint", "key_file"})
      if (!p.Get(k) || p.Get(k)->empty()) missing.push_back(k);
    if (!region) missing.push_back("region");
    if (!missing.empty()) {
      std::string list;
      for (const auto& k : missing) list += (list.empty() ? "" : ", ") + k;
      return InvalidParameterError(p.Describe() + " is missing " + list + " (an API key profile needs user, tenancy, " +
                                   "fingerprint, key_file and region, or $OCI_REGION); add them, e.g. with `oci setup " +
                                   "config`" + fix);
    }
    for (const char* k : {"tenancy", "user"})
      if (!LooksLikeOcid(*p.Get(k)))
        return InvalidParameterError(p.Where(k) + " is malformed: expected an OCID such as ocid1." + k + ".oc1..aaaa..." +
                                     fix);
    if (!LooksLikeFingerprint(*p.Get("fingerprint")))
      return InvalidParameterError(p.Where("fingerprint") +
                                   " is malformed: expected 16 lower-case hex pairs separated by ':' (the API key's "
                                   "fingerprint shown in the console)" +
                                   fix);

    auto key = LoadOciProfileKey(p);
    if (!key.ok()) return key.status();

    OciCredentials c;
    c.tenancy = *p.Get("tenancy");
    c.key_id = c.tenancy + "/" + *p.Get("user") + "/" + *p.Get("fingerprint");
    c.private_key = *std::move(key);
    c.region = *region;
    c.source = p.Describe();
    return c;
  }

  std::string Describe() const override { return "OCI config file API key profile (" + options_.Describe() + ")"; }

 private:
  OciConfigFileOptions options_;
};

}  // namespace

StatusOr<std::shared_ptr<const OciPrivateKey>> LoadOciProfileKey(const OciProfile& p) {
  const std::string key_file = ExpandUser(p.Get("key_file").value_or(""));
  std::error_code ec;
  if (!std::filesystem::is_regular_file(key_file, ec))
    return InvalidParameterError("the OCI config file " + p.path + " is invalid: " + p.Where("key_file") + " is '" +
                                 key_file + "', which must be the path of an existing file (the private key PEM); see " +
                                 kOciConfigDocs);
  return OciPrivateKey::FromFile(key_file, p.Get("pass_phrase"), "key_file " + key_file + " of " + p.Describe());
}

std::shared_ptr<OciCredentialsProvider> MakeConfigFileOciCredentialsProvider(OciConfigFileOptions options) {
  return std::make_shared<ConfigFileProvider>(std::move(options));
}

}  // namespace mlflow_bridge::internal
