// A chain of AWS credential providers: the first with credentials wins.
#include <string>
#include <utility>
#include <vector>

#include "mlflow_bridge/aws.h"
#include "mlflow_bridge/logging.h"

namespace mlflow_bridge {
namespace {

class ChainProvider : public AwsCredentialsProvider {
 public:
  explicit ChainProvider(std::vector<std::shared_ptr<AwsCredentialsProvider>> providers)
      : providers_(std::move(providers)) {}

  StatusOr<AwsCredentials> GetCredentials() override {
    std::string tried;
    for (const auto& p : providers_) {
      if (!p) continue;
      StatusOr<AwsCredentials> c = p->GetCredentials();
      if (c.ok()) {
        LogDebug("AWS credentials from " + p->Describe());
        return c;
      }
      if (c.status().code() != StatusCode::kResourceDoesNotExist)
        return c.status().WithContext("AWS credentials from " + p->Describe());
      tried += (tried.empty() ? "" : "; ") + p->Describe() + ": " + c.status().message();
    }
    return UnauthenticatedError(
        "no AWS credentials found (tried " + (tried.empty() ? std::string("no sources") : tried) +
        "). Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (plus AWS_SESSION_TOKEN for temporary credentials), or "
        "configure a profile in ~/.aws/credentials (e.g. with `aws configure`) and select it with AWS_PROFILE");
  }

  std::string Describe() const override {
    std::string out;
    for (const auto& p : providers_)
      if (p) out += (out.empty() ? "" : ", then ") + p->Describe();
    return out;
  }

 private:
  std::vector<std::shared_ptr<AwsCredentialsProvider>> providers_;
};

}  // namespace

std::shared_ptr<AwsCredentialsProvider> MakeChainAwsCredentialsProvider(
    std::vector<std::shared_ptr<AwsCredentialsProvider>> providers) {
  return std::make_shared<ChainProvider>(std::move(providers));
}

}  // namespace mlflow_bridge
