// Temporary AWS credentials from STS AssumeRole.
#include <cctype>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "aws/caller.h"
#include "aws/retry_policy.h"
#include "aws/xml.h"
#include "common/strings.h"
#include "common/timestamp.h"
#include "common/url.h"
#include "mlflow_bridge/aws.h"
#include "mlflow_bridge/logging.h"

namespace mlflow_bridge {
namespace {

// What to check, by the STS error code of a failed AssumeRole ("" when nothing specific).
std::string_view AssumeRoleHint(std::string_view code) {
  if (code == "AccessDenied")
    return "check that the role's trust policy allows the calling identity and that it may call sts:AssumeRole";
  if (code == "InvalidClientTokenId" || code == "InvalidAccessKeyId")
    return "the base credentials' access key id is not valid";
  if (code == "SignatureDoesNotMatch") return "check the base credentials' secret access key";
  if (code == "ExpiredToken" || code == "ExpiredTokenException")
    return "the base credentials' session token has expired; refresh them";
  return "";
}

// The caller's Status of a failed AssumeRole, with the hint and STS's request id.
Status WithHint(const Status& s, const internal::AwsCallFailure& failure) {
  if (!failure.error) return s;
  std::string message = s.message();
  if (std::string_view hint = AssumeRoleHint(failure.error->code); !hint.empty()) message += " (" + std::string(hint) + ")";
  if (!failure.error->request_id.empty()) message += " [request id " + Redact(failure.error->request_id) + "]";
  Status out(s.code(), std::move(message));
  if (s.retry_after()) out.set_retry_after(*s.retry_after());
  return out;
}

// The base provider as AssumeRole's caller sees it: a missing base is
// UNAUTHENTICATED, and its errors say which role they were for.
class BaseCredentials : public AwsCredentialsProvider {
 public:
  BaseCredentials(std::shared_ptr<AwsCredentialsProvider> base, std::string role_arn)
      : base_(std::move(base)), role_arn_(std::move(role_arn)) {}
  StatusOr<AwsCredentials> GetCredentials() override {
    StatusOr<AwsCredentials> c = base_->GetCredentials();
    if (c.ok()) return c;
    Status s = c.status();
    if (s.code() == StatusCode::kResourceDoesNotExist) s = UnauthenticatedError(s.message());
    return s.WithContext("assume role " + role_arn_ + ": base credentials");
  }
  std::string Describe() const override { return base_->Describe(); }

 private:
  std::shared_ptr<AwsCredentialsProvider> base_;
  std::string role_arn_;
};

StatusOr<AwsCredentials> ParseAssumeRoleResponse(std::string_view body) {
  std::optional<std::string> block = internal::XmlTagText(body, "Credentials");
  if (!block) return InternalError("STS AssumeRole replied without Credentials");
  AwsCredentials c;
  c.access_key_id = internal::XmlTagText(*block, "AccessKeyId").value_or("");
  c.secret_access_key = internal::XmlTagText(*block, "SecretAccessKey").value_or("");
  c.session_token = internal::XmlTagText(*block, "SessionToken").value_or("");
  if (c.access_key_id.empty() || c.secret_access_key.empty() || c.session_token.empty())
    return InternalError("STS AssumeRole replied with incomplete Credentials (AccessKeyId, SecretAccessKey, SessionToken)");
  if (std::optional<std::string> exp = internal::XmlTagText(*block, "Expiration")) {
    c.expiration = internal::ParseIso8601(*exp);
    if (!c.expiration) return InternalError("STS AssumeRole replied with an unreadable Expiration '" + *exp + "'");
  } else {
    return InternalError("STS AssumeRole replied without an Expiration");
  }
  return c;
}

bool ValidSessionName(std::string_view s) {
  if (s.size() < 2 || s.size() > 64) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && std::string_view("_+=,.@-").find(c) == std::string_view::npos)
      return false;
  return true;
}

class AssumeRoleProvider : public AwsCredentialsProvider {
 public:
  AssumeRoleProvider(AssumeRoleOptions options, std::shared_ptr<AwsCredentialsProvider> base,
                     std::shared_ptr<HttpTransport> transport, std::shared_ptr<Clock> clock)
      : options_(std::move(options)), base_(std::move(base)), transport_(std::move(transport)), clock_(std::move(clock)) {}

  StatusOr<AwsCredentials> GetCredentials() override {
    const std::string& arn = options_.role_arn;
    if (arn.rfind("arn:", 0) != 0 || arn.find(":role/") == std::string::npos)
      return InvalidParameterError("role ARN '" + arn + "' is not of the form arn:aws:iam::<account-id>:role/<name>");
    std::string region = options_.region;
    if (region.empty() && !options_.endpoint_url.empty()) region = "us-east-1";
    if (!IsValidRegionName(region))
      return InvalidParameterError("STS region '" + region + "' is not an AWS region name (e.g. us-east-1)");
    const long long seconds = options_.duration.count();
    if (seconds < 900 || seconds > 43200)
      return InvalidParameterError("assume-role duration must be between 900 and 43200 seconds, got " +
                                   std::to_string(seconds));
    std::string session = options_.role_session_name;
    if (session.empty()) {
      session =
          "mlflow-bridge-" +
          std::to_string(std::chrono::duration_cast<std::chrono::seconds>(clock_->WallNow().time_since_epoch()).count());
    }
    if (!ValidSessionName(session))
      return InvalidParameterError("role session name '" + session +
                                   "' must be 2 to 64 characters of letters, digits and _+=,.@-");
    if (!base_) return UnauthenticatedError("assume role " + arn + ": no base credentials provider");

    const internal::AwsService sts{"sts", ResolveAwsEndpoint("sts", "sts", region, options_.endpoint_url), region};
    std::string body = "Action=AssumeRole&Version=2011-06-15&RoleArn=" + internal::UriEncode(arn) +
                       "&RoleSessionName=" + internal::UriEncode(session) + "&DurationSeconds=" + std::to_string(seconds);
    if (!options_.external_id.empty()) body += "&ExternalId=" + internal::UriEncode(options_.external_id);

    // Retried like any idempotent AWS call (a second AssumeRole only makes a second session).
    const internal::AwsCaller caller(transport_, std::make_shared<BaseCredentials>(base_, arn), clock_);
    const internal::AwsRetry retry(clock_, options_.retry, options_.backoff);
    const std::string what = "STS AssumeRole of " + arn;
    internal::AwsCallFailure failure;  // of the last attempt
    StatusOr<std::string> reply = retry.Call<std::string>(Idempotency::kIdempotent, what, [&] {
      failure = {};
      return caller.QueryCall(sts, body, what, &failure);
    });
    if (!reply.ok()) return WithHint(reply.status(), failure);
    StatusOr<AwsCredentials> result = ParseAssumeRoleResponse(*reply);
    if (!result.ok()) return result;
    LogDebug("assumed role " + arn + " (session " + session + ")");
    return result;
  }

  std::string Describe() const override {
    return "STS AssumeRole of " + options_.role_arn + " with " + (base_ ? base_->Describe() : std::string("nothing"));
  }

 private:
  AssumeRoleOptions options_;
  std::shared_ptr<AwsCredentialsProvider> base_;
  std::shared_ptr<HttpTransport> transport_;
  std::shared_ptr<Clock> clock_;
};

}  // namespace

std::shared_ptr<AwsCredentialsProvider> MakeAssumeRoleAwsCredentialsProvider(AssumeRoleOptions options,
                                                                             std::shared_ptr<AwsCredentialsProvider> base,
                                                                             std::shared_ptr<HttpTransport> transport,
                                                                             std::shared_ptr<Clock> clock) {
  return std::make_shared<AssumeRoleProvider>(std::move(options), std::move(base), std::move(transport),
                                              clock ? std::move(clock) : SystemClock());
}

}  // namespace mlflow_bridge
