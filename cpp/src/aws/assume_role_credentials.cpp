// Temporary AWS credentials from STS AssumeRole.
#include <cctype>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "aws/sigv4.h"
#include "aws/xml.h"
#include "common/strings.h"
#include "common/timestamp.h"
#include "common/url.h"
#include "mlflow_bridge/aws.h"
#include "mlflow_bridge/logging.h"

namespace mlflow_bridge {
namespace {

Status StsErrorStatus(const HttpResponse& response, const std::string& role_arn,
                      const std::vector<std::string_view>& secrets) {
  Status by_http = HttpErrorStatus(response, "STS AssumeRole");
  std::string code = internal::XmlTagText(response.body, "Code").value_or("");
  std::string message = internal::XmlTagText(response.body, "Message").value_or("");
  std::string request_id = internal::XmlTagText(response.body, "RequestId").value_or("");
  // Keep the first line (some services append the canonical request) and not too much of it.
  message = message.substr(0, message.find('\n'));
  if (message.size() > 500) message = message.substr(0, 500) + "...";

  StatusCode status_code = by_http.code();
  std::string hint;
  if (code == "AccessDenied") {
    status_code = StatusCode::kPermissionDenied;
    hint = "check that the role's trust policy allows the calling identity and that it may call sts:AssumeRole";
  } else if (code == "InvalidClientTokenId" || code == "InvalidAccessKeyId") {
    status_code = StatusCode::kUnauthenticated;
    hint = "the base credentials' access key id is not valid";
  } else if (code == "SignatureDoesNotMatch") {
    status_code = StatusCode::kUnauthenticated;
    hint = "check the base credentials' secret access key";
  } else if (code == "ExpiredToken" || code == "ExpiredTokenException") {
    status_code = StatusCode::kUnauthenticated;
    hint = "the base credentials' session token has expired; refresh them";
  } else if (code == "Throttling" || code == "ThrottlingException" || code == "RequestLimitExceeded") {
    status_code = StatusCode::kTemporarilyUnavailable;
  }

  std::string text = "STS AssumeRole of " + role_arn + ": HTTP " + std::to_string(response.status_code);
  if (!code.empty()) {
    text += " " + code;
    if (!message.empty()) text += ": " + message;
    if (!hint.empty()) text += " (" + hint + ")";
    if (!request_id.empty()) text += " [request id " + request_id + "]";
  } else {
    text = by_http.message();  // not STS's XML: the generic excerpt
  }
  Status out(status_code, internal::ScrubSecrets(Redact(text), secrets));
  if (by_http.retry_after()) out.set_retry_after(*by_http.retry_after());
  return out;
}

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
      session = "mlflow-bridge-" + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                                      clock_->WallNow().time_since_epoch())
                                                      .count());
    }
    if (!ValidSessionName(session))
      return InvalidParameterError("role session name '" + session +
                                   "' must be 2 to 64 characters of letters, digits and _+=,.@-");
    if (!base_) return UnauthenticatedError("assume role " + arn + ": no base credentials provider");
    StatusOr<AwsCredentials> base = base_->GetCredentials();
    if (!base.ok()) {
      Status s = base.status();
      if (s.code() == StatusCode::kResourceDoesNotExist) s = UnauthenticatedError(s.message());
      return s.WithContext("assume role " + arn + ": base credentials");
    }
    const AwsCredentials base_credentials = std::move(base).value();
    const std::vector<std::string_view> secrets = {base_credentials.secret_access_key, base_credentials.session_token};

    std::string endpoint = options_.endpoint_url.empty() ? ResolveAwsEndpoint("sts", "sts", region)
                                                         : ResolveAwsEndpoint("sts", "sts", region, options_.endpoint_url);
    std::string body = "Action=AssumeRole&Version=2011-06-15&RoleArn=" + internal::UriEncode(arn) +
                       "&RoleSessionName=" + internal::UriEncode(session) +
                       "&DurationSeconds=" + std::to_string(seconds);
    if (!options_.external_id.empty()) body += "&ExternalId=" + internal::UriEncode(options_.external_id);

    std::function<StatusOr<AwsCredentials>()> call = [&]() -> StatusOr<AwsCredentials> {
      HttpRequest request;
      request.method = "POST";
      request.url = endpoint + "/";
      request.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
      request.body = body;
      SigV4Params params;
      params.region = region;
      params.service = "sts";
      params.now = clock_->WallNow();
      MLFLOW_BRIDGE_RETURN_IF_ERROR(SignV4(request, base_credentials, params));
      StatusOr<HttpResponse> response = transport_->Send(request);
      if (!response.ok()) return response.status().WithContext("STS AssumeRole of " + arn + " at " + endpoint);
      if (!response->ok()) return StsErrorStatus(*response, arn, secrets);
      return ParseAssumeRoleResponse(response->body);
    };
    StatusOr<AwsCredentials> result =
        RetryLoop<AwsCredentials>(options_.retry, options_.backoff, Idempotency::kIdempotent, *clock_, "STS AssumeRole", call);
    if (!result.ok()) {
      const Status& s = result.status();
      Status scrubbed(s.code(), internal::ScrubSecrets(s.message(), secrets));
      if (s.retry_after()) scrubbed.set_retry_after(*s.retry_after());
      return scrubbed;
    }
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

std::shared_ptr<AwsCredentialsProvider> MakeAssumeRoleAwsCredentialsProvider(
    AssumeRoleOptions options, std::shared_ptr<AwsCredentialsProvider> base, std::shared_ptr<HttpTransport> transport,
    std::shared_ptr<Clock> clock) {
  return std::make_shared<AssumeRoleProvider>(std::move(options), std::move(base), std::move(transport),
                                              clock ? std::move(clock) : SystemClock());
}

}  // namespace mlflow_bridge
