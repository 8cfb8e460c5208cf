// AWS credentials from the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN.
#include <optional>
#include <string>

#include "common/env.h"
#include "common/timestamp.h"
#include "mlflow_bridge/aws.h"

namespace mlflow_bridge {
namespace {

using internal::GetEnv;

class EnvironmentProvider : public AwsCredentialsProvider {
 public:
  StatusOr<AwsCredentials> GetCredentials() override {
    std::optional<std::string> id = GetEnv("AWS_ACCESS_KEY_ID");
    std::optional<std::string> secret = GetEnv("AWS_SECRET_ACCESS_KEY");
    if (!id && !secret) return NotFoundError("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set");
    if (!id) return InvalidParameterError("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not; set both");
    if (!secret) return InvalidParameterError("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not; set both");
    AwsCredentials c;
    c.access_key_id = std::move(*id);
    c.secret_access_key = std::move(*secret);
    if (auto token = GetEnv("AWS_SESSION_TOKEN")) c.session_token = std::move(*token);
    else if (auto legacy = GetEnv("AWS_SECURITY_TOKEN")) c.session_token = std::move(*legacy);
    if (auto exp = GetEnv("AWS_CREDENTIAL_EXPIRATION")) {
      c.expiration = internal::ParseIso8601(*exp);
      if (!c.expiration)
        return InvalidParameterError("AWS_CREDENTIAL_EXPIRATION is not an ISO 8601 time (e.g. 2024-01-01T00:00:00Z): '" +
                                     *exp + "'");
    }
    return c;
  }
  std::string Describe() const override { return "environment variables AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"; }
};

}  // namespace

std::shared_ptr<AwsCredentialsProvider> MakeEnvironmentAwsCredentialsProvider() {
  return std::make_shared<EnvironmentProvider>();
}

}  // namespace mlflow_bridge
