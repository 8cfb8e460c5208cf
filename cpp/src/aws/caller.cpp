#include "aws/caller.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <functional>
#include <utility>
#include <vector>

#include "aws/sigv4.h"
#include "aws/xml.h"
#include "common/strings.h"
#include "mlflow_bridge/logging.h"
#include "mlflow_bridge/retry.h"

namespace mlflow_bridge::internal {
namespace {

template <size_t N>
bool OneOf(std::string_view code, const std::array<std::string_view, N>& codes) {
  return std::find(codes.begin(), codes.end(), code) != codes.end();
}

// "aws.protocoltests#Code:http://internal.amazon.com/..." -> "Code" (as botocore does).
std::string CleanErrorCode(std::string_view code) {
  code = Trim(code);
  if (size_t colon = code.find(':'); colon != std::string_view::npos) code = code.substr(0, colon);
  if (size_t hash = code.rfind('#'); hash != std::string_view::npos) code = code.substr(hash + 1);
  return std::string(Trim(code));
}

// The first line of a service message, bounded (STS appends the canonical
// request to SignatureDoesNotMatch on later lines).
std::string FirstLine(std::string_view message) {
  message = Trim(message);
  message = message.substr(0, message.find('\n'));
  return Excerpt(Trim(message), 1000);
}

std::string JsonString(const nlohmann::json& object, std::initializer_list<const char*> keys) {
  for (const char* key : keys) {
    auto it = object.find(key);
    if (it != object.end() && it->is_string()) return it->get<std::string>();
  }
  return "";
}

// ---- the mapping table ----

// Not processed: botocore's standard-mode throttling codes, minus the
// ambiguous LimitExceededException and TransactionInProgressException, plus
// SageMaker Runtime's ModelNotReadyException (the model never saw the request).
constexpr std::array<std::string_view, 13> kNotProcessed = {"Throttling",
                                                            "ThrottlingException",
                                                            "ThrottledException",
                                                            "RequestThrottled",
                                                            "RequestThrottledException",
                                                            "TooManyRequestsException",
                                                            "RequestLimitExceeded",
                                                            "SlowDown",
                                                            "ProvisionedThroughputExceededException",
                                                            "BandwidthLimitExceeded",
                                                            "PriorRequestNotComplete",
                                                            "EC2ThrottledException",
                                                            "ModelNotReadyException"};

constexpr std::array<std::string_view, 7> kNotFound = {
    "ResourceNotFound", "ResourceNotFoundException",  "NoSuchBucket", "NoSuchKey", "NoSuchUpload",
    "NoSuchEntity",     "RepositoryNotFoundException"};

// Callers decide when "already exists" is fine: BucketAlreadyOwnedByYou after a
// lost CreateBucket reply, for instance, means the bucket is there and ours.
constexpr std::array<std::string_view, 7> kAlreadyExists = {
    "ResourceInUse",       "ResourceAlreadyExists", "ResourceAlreadyExistsException",  "BucketAlreadyOwnedByYou",
    "BucketAlreadyExists", "ConflictException",     "RepositoryAlreadyExistsException"};

constexpr std::array<std::string_view, 2> kPermissionDenied = {"AccessDenied", "AccessDeniedException"};

constexpr std::array<std::string_view, 12> kUnauthenticated = {"AuthFailure",
                                                               "InvalidClientTokenId",
                                                               "InvalidAccessKeyId",
                                                               "SignatureDoesNotMatch",
                                                               "IncompleteSignature",
                                                               "InvalidSignatureException",
                                                               "ExpiredToken",
                                                               "ExpiredTokenException",
                                                               "UnrecognizedClientException",
                                                               "MissingAuthenticationToken",
                                                               "MissingAuthenticationTokenException",
                                                               "RequestExpired"};

constexpr std::array<std::string_view, 4> kUnavailable = {"ServiceUnavailable", "ServiceUnavailableException",
                                                          "RequestTimeout", "RequestTimeoutException"};

// Transient only when the status says the server failed.
constexpr std::array<std::string_view, 4> kServerFault = {"InternalFailure", "InternalError", "InternalServerError",
                                                          "InternalServerException"};

StatusCode MapAwsError(const AwsError& e, long http_status, StatusCode by_http) {
  const std::string& code = e.code;
  if (code == "ValidationException" || code == "ValidationError") {
    const std::string m = ToLower(e.message);
    if (m.find("could not find") != std::string::npos || m.find("does not exist") != std::string::npos ||
        m.find("not found") != std::string::npos)
      return StatusCode::kResourceDoesNotExist;
    return StatusCode::kInvalidParameterValue;
  }
  if (OneOf(code, kNotFound)) return StatusCode::kResourceDoesNotExist;
  if (OneOf(code, kAlreadyExists)) return StatusCode::kResourceAlreadyExists;
  if (OneOf(code, kPermissionDenied)) return StatusCode::kPermissionDenied;
  if (OneOf(code, kUnauthenticated)) return StatusCode::kUnauthenticated;
  if (OneOf(code, kNotProcessed) || OneOf(code, kUnavailable)) return StatusCode::kTemporarilyUnavailable;
  // A server fault, unless the service says the sender is to blame; inside a
  // 2xx reply (S3) the service asks to be tried again.
  const bool in_2xx = http_status >= 200 && http_status < 300;
  if (OneOf(code, kServerFault) && ((http_status >= 500 && e.type != "Sender") || in_2xx))
    return StatusCode::kTemporarilyUnavailable;
  // A quota (instances of a type, endpoints per account) the user must raise.
  if (code == "ResourceLimitExceeded") return StatusCode::kInvalidParameterValue;
  // SageMaker Runtime: the model container answered with an error of its own.
  if (code == "ModelError") return StatusCode::kInvalidParameterValue;
  // S3's CompleteMultipartUpload failing after its 200: the request was wrong.
  if (in_2xx && (code.starts_with("Invalid") || code == "EntityTooSmall" || code == "MalformedXML"))
    return StatusCode::kInvalidParameterValue;
  if (http_status >= 400 && http_status < 500) {
    switch (http_status) {
      case 401:
      case 403:
      case 404:
      case 408:
      case 409:
      case 410:
      case 429: return by_http;  // the HTTP status says more than an unknown code
      default: return StatusCode::kInvalidParameterValue;
    }
  }
  return by_http;
}

// SageMaker Runtime's ModelError: {"OriginalStatusCode": 400, "OriginalMessage": "...",
// "LogStreamArn": "...", "message": "Received client error (400) from primary ..."}.
std::string ModelErrorText(const AwsError& e) {
  if (!e.body.is_object()) return "";
  std::string original = JsonString(e.body, {"OriginalMessage"});
  if (original.empty()) return "";
  std::string text = "the model replied";
  auto status = e.body.find("OriginalStatusCode");
  if (status != e.body.end() && status->is_number_integer())
    text += " with HTTP " + std::to_string(status->get<long long>());
  text += ": " + Excerpt(Trim(original), 2000);
  if (std::string logs = JsonString(e.body, {"LogStreamArn"}); !logs.empty()) text += " (logs: " + logs + ")";
  return text;
}

Status AwsErrorStatusImpl(const HttpResponse& r, std::string_view what, const std::optional<AwsError>& error) {
  Status by_http = HttpErrorStatus(r, what);
  if (!error || error->code.empty()) return by_http;
  StatusCode code = MapAwsError(*error, r.status_code, by_http.code());
  std::string message = error->code == "ModelError" ? ModelErrorText(*error) : "";
  if (message.empty()) message = error->message;
  std::string text = std::string(what) + ": " + error->code;
  if (!message.empty()) text += ": " + Redact(message);
  if (r.status_code >= 200 && r.status_code < 300) text += " (in an HTTP " + std::to_string(r.status_code) + " reply)";
  Status out(code, std::move(text));
  if (by_http.retry_after()) out.set_retry_after(*by_http.retry_after());
  if (IsAwsNotProcessedError(error->code)) out.set_not_processed();  // TEMPORARILY_UNAVAILABLE by MapAwsError
  return out;
}

Status Scrubbed(const Status& s, const AwsCredentials& c) {
  return s.WithMessage(ScrubSecrets(s.message(), {c.secret_access_key, c.session_token}));
}

Status AsTransient(const Status& s) {
  if (IsTransient(s)) return s;
  Status out(StatusCode::kTemporarilyUnavailable, s.message());
  if (s.retry_after()) out.set_retry_after(*s.retry_after());
  return out.set_not_processed(s.not_processed());
}

// Whether the root element of an XML body is <Error>.
bool IsErrorDocument(std::string_view body) {
  body = Trim(body);
  while (body.starts_with("<?") || body.starts_with("<!--")) {  // XML declaration, comments
    size_t end = body.find(body[1] == '?' ? "?>" : "-->");
    if (end == std::string_view::npos) return false;
    body = Trim(body.substr(end + (body[1] == '?' ? 2 : 3)));
  }
  return body.starts_with("<Error>") || body.starts_with("<Error ");
}

template <typename V>
bool Contains(const std::vector<V>& values, const V& v) {
  return std::find(values.begin(), values.end(), v) != values.end();
}

// The service's own "try again" replies (AwsTryAgainRule): the reply's Status, marked.
Status MarkTryAgain(Status s, const AwsTryAgainRule& rule, const HttpResponse& r, const std::optional<AwsError>& error) {
  const std::string code = error ? error->code : std::string();
  const bool not_processed = (!code.empty() && Contains(rule.not_processed_codes, code)) ||
                             Contains(rule.not_processed_statuses, r.status_code) ||
                             (Contains(rule.not_processed_with_retry_after, r.status_code) && s.retry_after());
  if (not_processed) return AsTransient(s).set_not_processed();
  if (Contains(rule.transient_statuses, r.status_code)) return AsTransient(s);
  return s;
}

}  // namespace

std::optional<AwsError> ParseAwsError(const HttpResponse& response) {
  AwsError error;
  std::string_view body = Trim(response.body);
  bool found = false;
  if (!body.empty() && body.front() == '{') {
    nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (j.is_object()) {
      error.body = j;
      error.message = FirstLine(JsonString(j, {"message", "Message"}));
      error.code = CleanErrorCode(JsonString(j, {"__type"}));
      if (error.code.empty()) {
        if (auto h = response.Header("x-amzn-ErrorType")) error.code = CleanErrorCode(*h);
      }
      if (error.code.empty()) error.code = CleanErrorCode(JsonString(j, {"code", "Code"}));
      found = true;
    }
  } else if (!body.empty() && body.front() == '<') {
    // <Error> bare (S3), in <ErrorResponse> (STS, IAM) or in <Errors> (moto's IAM mode).
    if (std::optional<std::string> block = XmlTagText(body, "Error")) {
      error.code = CleanErrorCode(XmlTagText(*block, "Code").value_or(""));
      error.message = FirstLine(XmlTagText(*block, "Message").value_or(""));
      error.type = std::string(Trim(XmlTagText(*block, "Type").value_or("")));
      // In <Error> (S3) or next to it (STS, IAM).
      error.request_id = std::string(Trim(XmlTagText(body, "RequestId").value_or("")));
      found = true;
    }
  }
  if (error.code.empty()) {  // e.g. a HEAD reply without a body
    if (auto h = response.Header("x-amzn-ErrorType")) {
      error.code = CleanErrorCode(*h);
      found = true;
    }
  }
  // Query-compatible JSON services say what the query protocol would have: "Code;Sender".
  if (auto h = response.Header("x-amzn-query-error")) {
    std::string_view v = *h;
    if (std::string code = CleanErrorCode(v.substr(0, v.find(';'))); !code.empty()) {
      error.code = code;
      if (size_t semi = v.find(';'); semi != std::string_view::npos) error.type = std::string(Trim(v.substr(semi + 1)));
      found = true;
    }
  }
  if (!found || error.code.empty()) return std::nullopt;
  if (error.request_id.empty())
    error.request_id = response.Header("x-amzn-RequestId").value_or(response.Header("x-amz-request-id").value_or(""));
  return error;
}

bool IsAwsNotProcessedError(std::string_view code) { return OneOf(code, kNotProcessed); }

Status AwsErrorStatus(const HttpResponse& r, std::string_view what) { return AwsErrorStatusImpl(r, what, ParseAwsError(r)); }

// ---------------------------------------------------------------- AwsCaller

AwsCaller::AwsCaller(std::shared_ptr<HttpTransport> transport, std::shared_ptr<AwsCredentialsProvider> credentials,
                     std::shared_ptr<Clock> clock)
    : transport_(std::move(transport)), credentials_(std::move(credentials)), clock_(std::move(clock)) {}

StatusOr<HttpResponse> AwsCaller::Call(const AwsService& service, HttpRequest& request, std::string_view what,
                                       const AwsCallOptions& options, AwsCallFailure* failure, AwsCredentials* used) const {
  if (!transport_ || !credentials_ || !clock_) return InternalError(std::string(what) + ": AwsCaller is not set up");
  StatusOr<AwsCredentials> credentials = credentials_->GetCredentials();
  if (!credentials.ok()) {
    Status failed = credentials.status();
    return failed.set_final();
  }
  const AwsCredentials& c = *credentials;
  if (used != nullptr) *used = c;

  SigV4Params params;
  params.region = service.region;
  params.service = service.signing_name;
  params.now = clock_->WallNow();
  params.sign_body_hash_header = options.s3_body_hash;
  // Replaces any earlier signature of the request.
  if (Status s = SignV4(request, c, params); !s.ok()) return Scrubbed(s.WithContext(what), c);

  StatusOr<HttpResponse> response = transport_->Send(request);
  if (!response.ok()) {
    if (failure != nullptr) *failure = AwsCallFailure{true, std::nullopt};
    return Scrubbed(response.status().WithContext(what), c);  // the transport's not_processed kept
  }
  HttpResponse& r = *response;
  const bool error_document = r.ok() && options.error_in_2xx && IsErrorDocument(r.body);
  if (r.ok() && !error_document) return response;
  // Secrets out of the body before any excerpt of it is taken (an excerpt could cut one in half).
  r.body = ScrubSecrets(std::move(r.body), {c.secret_access_key, c.session_token});
  if (!r.ok() && Contains(options.accept_statuses, r.status_code)) return response;
  std::optional<AwsError> error = ParseAwsError(r);
  Status status = MarkTryAgain(Scrubbed(AwsErrorStatusImpl(r, what, error), c), options.try_again, r, error);
  if (error) error->request_id = ScrubSecrets(std::move(error->request_id), {c.secret_access_key, c.session_token});
  if (failure != nullptr) *failure = AwsCallFailure{false, std::move(error)};
  return status;
}

StatusOr<nlohmann::json> AwsCaller::JsonCall(const AwsService& service, std::string_view target, const nlohmann::json& body,
                                             std::string_view what) const {
  HttpRequest request;
  request.method = "POST";
  request.url = service.endpoint + "/";
  request.headers = {{"Content-Type", "application/x-amz-json-1.1"}, {"X-Amz-Target", std::string(target)}};
  try {
    request.body = body.is_null() ? "{}" : body.dump();
  } catch (const nlohmann::json::exception& e) {  // invalid UTF-8 in a string
    return InvalidParameterError(std::string(what) + ": the request cannot be sent as JSON: " + e.what());
  }
  AwsCredentials used;
  StatusOr<HttpResponse> response = Call(service, request, what, {}, nullptr, &used);
  if (!response.ok()) return response.status();
  std::string_view text = Trim(response->body);
  if (text.empty()) return nlohmann::json::object();
  nlohmann::json parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded())
    return InternalError(
        std::string(what) + ": the reply (HTTP " + std::to_string(response->status_code) + ") is not JSON: " +
        Redact(Excerpt(ScrubSecrets(std::string(text), {used.secret_access_key, used.session_token}), 200)));
  return parsed;
}

StatusOr<HttpResponse> AwsCaller::RestCall(const AwsService& service, HttpRequest request, std::string_view what,
                                           const AwsCallOptions& options, AwsCallFailure* failure) const {
  if (request.url.empty() || request.url.front() != '/') request.url.insert(0, "/");
  request.url.insert(0, service.endpoint);
  return Call(service, request, what, options, failure);
}

StatusOr<std::string> AwsCaller::QueryCall(const AwsService& service, std::string form_body, std::string_view what,
                                           AwsCallFailure* failure) const {
  HttpRequest request;
  request.method = "POST";
  request.url = service.endpoint + "/";
  request.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
  request.body = std::move(form_body);
  StatusOr<HttpResponse> response = Call(service, request, what, {}, failure);
  if (!response.ok()) return response.status();
  return std::move(response->body);
}

}  // namespace mlflow_bridge::internal
