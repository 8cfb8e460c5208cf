// OCI resource principals v2.2 (Data Science jobs and notebook sessions, Functions), read from the
// environment as the SDK's EphemeralResourcePrincipalSigner reads it: each of the token, the PEM and the
// passphrase is the value itself, or, when it is an absolute path, the file holding it (re-read on every
// call: the platform replaces the files before the token expires).
#include <string>
#include <utility>

#include "common/env.h"
#include "common/strings.h"
#include "oci/credentials.h"

namespace mlflow_bridge::internal {
namespace {

constexpr char kVersion[] = "OCI_RESOURCE_PRINCIPAL_VERSION";
constexpr char kRpst[] = "OCI_RESOURCE_PRINCIPAL_RPST";
constexpr char kPem[] = "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM";
constexpr char kPassphrase[] = "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM_PASSPHRASE";
constexpr char kRegion[] = "OCI_RESOURCE_PRINCIPAL_REGION";

bool IsAbsolutePath(const std::string& s) { return !s.empty() && s.front() == '/'; }

class ResourcePrincipalProvider : public OciCredentialsProvider {
 public:
  StatusOr<OciCredentials> GetCredentials() override {
    std::optional<std::string> version = GetEnv(kVersion);
    if (!version) return NotFoundError(std::string(kVersion) + " is not set (not running as an OCI resource principal)");
    if (*version != "2.2")
      return InvalidParameterError(std::string(kVersion) + " is '" + *version +
                                   "'; only resource principals 2.2 (token and key in the environment) are supported");
    const std::string set_by_platform = " (the platform sets it for a resource principal; set it when running elsewhere)";

    std::optional<std::string> rpst = GetEnv(kRpst);
    if (!rpst)
      return InvalidParameterError(std::string(kVersion) + " is 2.2 but " + kRpst + " is not set" + set_by_platform);
    std::string token;
    if (IsAbsolutePath(*rpst)) {
      std::optional<std::string> text = ReadFileText(*rpst);
      if (!text)
        return InvalidParameterError("cannot read the resource principal session token file '" + *rpst + "' named by " +
                                     kRpst);
      token = std::string(Trim(*text));
    } else {
      token = std::string(Trim(*rpst));
    }
    if (token.empty())
      return InvalidParameterError(std::string("the resource principal session token (") + kRpst + ") is empty");

    std::optional<std::string> pem = GetEnv(kPem);
    if (!pem) return InvalidParameterError(std::string(kVersion) + " is 2.2 but " + kPem + " is not set" + set_by_platform);
    std::optional<std::string> passphrase = GetEnv(kPassphrase);
    StatusOr<std::shared_ptr<const OciPrivateKey>> key = InternalError("unset");
    if (IsAbsolutePath(*pem)) {
      // As the SDK: with the PEM in a file, the passphrase variable names a file too.
      if (passphrase) {
        std::optional<std::string> text = ReadFileText(*passphrase);
        if (!text)
          return InvalidParameterError("cannot read the passphrase file '" + *passphrase + "' named by " + kPassphrase +
                                       " (with " + kPem + " a path, it must be a path too)");
        while (!text->empty() && (text->back() == '\n' || text->back() == '\r')) text->pop_back();
        passphrase = std::move(text);
      }
      key = OciPrivateKey::FromFile(*pem, passphrase, "the file '" + *pem + "' named by " + kPem);
    } else {
      key = OciPrivateKey::FromPem(*pem, passphrase, std::string("the ") + kPem + " variable");
    }
    if (!key.ok()) return key.status();
    return OciTokenCredentials(std::move(token), *std::move(key), GetEnv(kRegion).value_or(""),
                               "resource principal (OCI_RESOURCE_PRINCIPAL_*)");
  }

  std::string Describe() const override { return "OCI resource principal (OCI_RESOURCE_PRINCIPAL_VERSION=2.2)"; }
};

}  // namespace

std::shared_ptr<OciCredentialsProvider> MakeResourcePrincipalOciCredentialsProvider() {
  return std::make_shared<ResourcePrincipalProvider>();
}

}  // namespace mlflow_bridge::internal
