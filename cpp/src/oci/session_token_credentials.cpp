// OCI credentials from a session token profile, as `oci session authenticate` writes it: security_token_file
// (the token), key_file (the session's private key, pass_phrase if encrypted) and region. The token file is
// read on every call (`oci session refresh` rewrites it); the cache above keeps the result until its expiry.
#include <string>
#include <utility>

#include "common/env.h"
#include "common/strings.h"
#include "oci/credentials.h"

namespace mlflow_bridge::internal {
namespace {

class SessionTokenProvider : public OciCredentialsProvider {
 public:
  SessionTokenProvider(OciConfigFileOptions options, std::shared_ptr<Clock> clock)
      : options_(std::move(options)), clock_(std::move(clock)) {}

  StatusOr<OciCredentials> GetCredentials() override {
    StatusOr<OciProfile> loaded = LoadOciProfile(options_);
    if (!loaded.ok()) return loaded.status();
    const OciProfile& p = *loaded;
    std::optional<std::string> token_file = p.Get("security_token_file");
    if (!token_file || token_file->empty())
      return NotFoundError(p.Describe() + " has no security_token_file (it is not a session token profile)");
    const std::string renew = "`oci session authenticate --profile-name " + p.name + "`";
    if (!p.Get("key_file") || p.Get("key_file")->empty())
      return InvalidParameterError(p.Describe() + " has security_token_file but no key_file (the session's private key); " +
                                   "create the profile again with " + renew);
    std::optional<std::string> region = OciProfileRegion(p);
    if (!region)
      return InvalidParameterError(p.Describe() + " has no region (and OCI_REGION is not set); add region = <region> " +
                                   "to the profile");

    const std::string path = ExpandUser(*token_file);
    std::optional<std::string> text = ReadFileText(path);
    if (!text)
      return InvalidParameterError("cannot read the session token file '" + path + "' named by " +
                                   p.Where("security_token_file") + "; create a session with " + renew);
    std::string token(Trim(*text));
    if (token.empty())
      return InvalidParameterError("the session token file '" + path + "' (" + p.Describe() + ") is empty; create a " +
                                   "session with " + renew);
    const auto expiry = OciTokenExpiry(token);
    if (expiry && *expiry <= clock_->WallNow())
      return UnauthenticatedError("the OCI session token in '" + path + "' (" + p.Describe() + ") expired at " +
                                  FormatHttpDate(*expiry) + "; renew it with `oci session refresh --profile " + p.name +
                                  "` or start a new session with " + renew);

    auto key = LoadOciProfileKey(p);
    if (!key.ok()) return key.status();
    OciCredentials credentials =
        OciTokenCredentials(std::move(token), *std::move(key), *region, "session token of " + p.Describe());
    if (auto tenancy = p.Get("tenancy")) credentials.tenancy = *tenancy;  // as `oci session authenticate` writes it
    return credentials;
  }

  std::string Describe() const override { return "OCI session token profile (" + options_.Describe() + ")"; }

 private:
  OciConfigFileOptions options_;
  std::shared_ptr<Clock> clock_;
};

}  // namespace

std::shared_ptr<OciCredentialsProvider> MakeSessionTokenOciCredentialsProvider(OciConfigFileOptions options,
                                                                               std::shared_ptr<Clock> clock) {
  return std::make_shared<SessionTokenProvider>(std::move(options), clock ? std::move(clock) : SystemClock());
}

}  // namespace mlflow_bridge::internal
