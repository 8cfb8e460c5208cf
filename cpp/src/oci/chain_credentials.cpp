// A chain of OCI credential providers: the first with credentials wins.
#include <string>
#include <utility>
#include <vector>

#include "mlflow_bridge/logging.h"
#include "oci/credentials.h"

namespace mlflow_bridge::internal {
namespace {

class ChainProvider : public OciCredentialsProvider {
 public:
  explicit ChainProvider(std::vector<std::shared_ptr<OciCredentialsProvider>> providers)
      : providers_(std::move(providers)) {}

  StatusOr<OciCredentials> GetCredentials() override {
    std::string tried;
    for (const auto& p : providers_) {
      if (!p) continue;
      StatusOr<OciCredentials> c = p->GetCredentials();
      if (c.ok()) {
        LogDebug("OCI credentials from " + c->source);
        return c;
      }
      if (c.status().code() != StatusCode::kResourceDoesNotExist)
        return c.status().WithContext("OCI credentials from " + p->Describe());
      tried += (tried.empty() ? "" : "; ") + p->Describe() + ": " + c.status().message();
    }
    return UnauthenticatedError(
        "no OCI credentials found (tried " + (tried.empty() ? std::string("no sources") : tried) +
        "). Create an API key profile in ~/.oci/config (`oci setup config`), or a session with `oci session " +
        "authenticate`, or run where resource principals are set up (OCI_RESOURCE_PRINCIPAL_VERSION=2.2); " + "see " +
        kOciConfigDocs);
  }

  void Invalidate() override {
    for (const auto& p : providers_)
      if (p) p->Invalidate();
  }

  std::string Describe() const override {
    std::string out;
    for (const auto& p : providers_)
      if (p) out += (out.empty() ? "" : ", then ") + p->Describe();
    return out;
  }

 private:
  std::vector<std::shared_ptr<OciCredentialsProvider>> providers_;
};

}  // namespace

std::shared_ptr<OciCredentialsProvider> MakeChainOciCredentialsProvider(
    std::vector<std::shared_ptr<OciCredentialsProvider>> providers) {
  return std::make_shared<ChainProvider>(std::move(providers));
}

}  // namespace mlflow_bridge::internal
