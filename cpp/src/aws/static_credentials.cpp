// AWS credentials given explicitly (configuration, tests).
#include <utility>

#include "mlflow_bridge/aws.h"

namespace mlflow_bridge {
namespace {

class StaticProvider : public AwsCredentialsProvider {
 public:
  explicit StaticProvider(AwsCredentials c) : c_(std::move(c)) {}
  StatusOr<AwsCredentials> GetCredentials() override {
    if (c_.access_key_id.empty() || c_.secret_access_key.empty())
      return InvalidParameterError("the configured AWS credentials need both an access key id and a secret access key");
    return c_;
  }
  std::string Describe() const override { return "explicitly configured credentials"; }

 private:
  AwsCredentials c_;
};

}  // namespace

std::shared_ptr<AwsCredentialsProvider> MakeStaticAwsCredentialsProvider(AwsCredentials credentials) {
  return std::make_shared<StaticProvider>(std::move(credentials));
}

}  // namespace mlflow_bridge
