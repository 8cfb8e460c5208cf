#include "targets/sagemaker/stub.h"

#include <utility>

#include "auth/sigv4.h"
#include "mlflow_bridge/aws.h"

namespace mlflow_bridge::internal {
namespace {

constexpr std::string_view kSageMakerTargetPrefix = "SageMaker.";
constexpr std::string_view kEcrTargetPrefix = "AmazonEC2ContainerRegistry_V20150921.";

// "SageMaker DescribeEndpoint 'my-endpoint'": names the resource when the request does.
std::string What(std::string_view service, std::string_view operation, const nlohmann::json& request) {
  std::string what = std::string(service) + " " + std::string(operation);
  if (request.is_object()) {
    for (const char* key : {"EndpointName", "EndpointConfigName", "ModelName", "ResourceArn"}) {
      auto it = request.find(key);
      if (it != request.end() && it->is_string()) return what + " '" + it->get<std::string>() + "'";
    }
  }
  return what;
}

std::string OrDefault(const std::string& override_url, std::string_view service_id, std::string_view prefix,
                      std::string_view region) {
  return ResolveAwsEndpoint(service_id, prefix, region, override_url);
}

}  // namespace

SageMakerEndpoints ResolveSageMakerEndpoints(std::string_view region, const SageMakerEndpoints& overrides) {
  SageMakerEndpoints e;
  // Service ids as botocore names them ("SageMaker", "SageMaker Runtime", "STS",
  // "ECR"), which is what AWS_ENDPOINT_URL_<SERVICE> is derived from.
  e.api = OrDefault(overrides.api, "sagemaker", "api.sagemaker", region);
  e.runtime = OrDefault(overrides.runtime, "sagemaker-runtime", "runtime.sagemaker", region);
  e.sts = OrDefault(overrides.sts, "sts", "sts", region);
  e.ecr = OrDefault(overrides.ecr, "ecr", "api.ecr", region);
  e.iam = OrDefault(overrides.iam, "iam", "iam", region);
  return e;
}

SageMakerStub::SageMakerStub(AwsCaller caller, std::string region, SageMakerEndpoints endpoints)
    : caller_(std::move(caller)), region_(std::move(region)), endpoints_(std::move(endpoints)) {
  // SageMaker Runtime signs as "sagemaker" too (botocore's signingName).
  api_ = AwsService{"sagemaker", endpoints_.api, region_};
  runtime_ = AwsService{"sagemaker", endpoints_.runtime, region_};
  sts_ = AwsService{"sts", endpoints_.sts, region_};
  ecr_ = AwsService{"ecr", endpoints_.ecr, region_};
  // IAM is global: its one endpoint per partition signs for the partition's first region.
  iam_ = AwsService{"iam", endpoints_.iam, region_.rfind("cn-", 0) == 0 ? "cn-north-1"
                                           : region_.rfind("us-gov-", 0) == 0 ? "us-gov-west-1"
                                                                              : "us-east-1"};
}

// ---------------------------------------------------------------- SageMaker

StatusOr<nlohmann::json> SageMakerStub::SageMakerCall(std::string_view operation, const nlohmann::json& request,
                                                      Idempotency idempotency) const {
  return caller_.JsonCall(api_, std::string(kSageMakerTargetPrefix) + std::string(operation), request, idempotency,
                          What("SageMaker", operation, request));
}

StatusOr<nlohmann::json> SageMakerStub::CreateModel(const nlohmann::json& r) const {
  return SageMakerCall("CreateModel", r, Idempotency::kNonIdempotent);
}
StatusOr<nlohmann::json> SageMakerStub::DescribeModel(const nlohmann::json& r) const {
  return SageMakerCall("DescribeModel", r, Idempotency::kIdempotent);
}
StatusOr<nlohmann::json> SageMakerStub::DeleteModel(const nlohmann::json& r) const {
  return SageMakerCall("DeleteModel", r, Idempotency::kIdempotent);
}
StatusOr<nlohmann::json> SageMakerStub::CreateEndpointConfig(const nlohmann::json& r) const {
  return SageMakerCall("CreateEndpointConfig", r, Idempotency::kNonIdempotent);
}
StatusOr<nlohmann::json> SageMakerStub::DescribeEndpointConfig(const nlohmann::json& r) const {
  return SageMakerCall("DescribeEndpointConfig", r, Idempotency::kIdempotent);
}
StatusOr<nlohmann::json> SageMakerStub::DeleteEndpointConfig(const nlohmann::json& r) const {
  return SageMakerCall("DeleteEndpointConfig", r, Idempotency::kIdempotent);
}
StatusOr<nlohmann::json> SageMakerStub::CreateEndpoint(const nlohmann::json& r) const {
  return SageMakerCall("CreateEndpoint", r, Idempotency::kNonIdempotent);
}
StatusOr<nlohmann::json> SageMakerStub::DescribeEndpoint(const nlohmann::json& r) const {
  return SageMakerCall("DescribeEndpoint", r, Idempotency::kIdempotent);
}
StatusOr<nlohmann::json> SageMakerStub::UpdateEndpoint(const nlohmann::json& r) const {
  return SageMakerCall("UpdateEndpoint", r, Idempotency::kNonIdempotent);
}
StatusOr<nlohmann::json> SageMakerStub::UpdateEndpointWeightsAndCapacities(const nlohmann::json& r) const {
  // Sets absolute weights and counts: sending it twice has the effect of once.
  return SageMakerCall("UpdateEndpointWeightsAndCapacities", r, Idempotency::kIdempotent);
}
StatusOr<nlohmann::json> SageMakerStub::DeleteEndpoint(const nlohmann::json& r) const {
  return SageMakerCall("DeleteEndpoint", r, Idempotency::kIdempotent);
}
StatusOr<nlohmann::json> SageMakerStub::ListEndpoints(const nlohmann::json& r) const {
  return SageMakerCall("ListEndpoints", r, Idempotency::kIdempotent);
}
StatusOr<nlohmann::json> SageMakerStub::ListTags(const nlohmann::json& r) const {
  return SageMakerCall("ListTags", r, Idempotency::kIdempotent);
}
StatusOr<nlohmann::json> SageMakerStub::AddTags(const nlohmann::json& r) const {
  // Sets tag values: sending it twice has the effect of once.
  return SageMakerCall("AddTags", r, Idempotency::kIdempotent);
}

// ---------------------------------------------------------------- SageMaker Runtime

StatusOr<InvokeResult> SageMakerStub::InvokeEndpoint(std::string_view endpoint_name, std::string body,
                                                     std::string_view content_type, std::string_view accept,
                                                     std::string_view custom_attributes,
                                                     std::string_view target_variant) const {
  const std::string what = "SageMaker InvokeEndpoint '" + std::string(endpoint_name) + "'";
  if (endpoint_name.empty()) return InvalidParameterError("SageMaker InvokeEndpoint: the endpoint name is empty");
  if (body.size() > kMaxInvokePayloadBytes)
    return InvalidParameterError(what + ": the request body is " + std::to_string(body.size()) +
                                 " bytes; real-time endpoints accept at most " +
                                 std::to_string(kMaxInvokePayloadBytes) +
                                 " (6 MB): send smaller batches or use asynchronous inference");
  HttpRequest request;
  request.method = "POST";
  request.url = "/endpoints/" + UriEncode(endpoint_name) + "/invocations";
  if (!content_type.empty()) request.headers.emplace_back("Content-Type", std::string(content_type));
  if (!accept.empty()) request.headers.emplace_back("Accept", std::string(accept));
  if (!custom_attributes.empty())
    request.headers.emplace_back("X-Amzn-SageMaker-Custom-Attributes", std::string(custom_attributes));
  if (!target_variant.empty())
    request.headers.emplace_back("X-Amzn-SageMaker-Target-Variant", std::string(target_variant));
  request.body = std::move(body);

  StatusOr<HttpResponse> response = caller_.RestCall(runtime_, std::move(request), Idempotency::kNonIdempotent, what);
  if (!response.ok()) return response.status();
  InvokeResult result;
  result.body = std::move(response->body);
  result.content_type = response->Header("Content-Type").value_or("");
  result.invoked_variant = response->Header("x-Amzn-Invoked-Production-Variant").value_or("");
  result.custom_attributes = response->Header("X-Amzn-SageMaker-Custom-Attributes").value_or("");
  return result;
}

StatusOr<AsyncInvokeResult> SageMakerStub::InvokeEndpointAsync(std::string_view endpoint_name,
                                                               std::string_view input_location,
                                                               std::string_view content_type,
                                                               std::string_view accept) const {
  const std::string what = "SageMaker InvokeEndpointAsync '" + std::string(endpoint_name) + "'";
  if (endpoint_name.empty()) return InvalidParameterError(what + ": the endpoint name is empty");
  HttpRequest request;
  request.method = "POST";
  request.url = "/endpoints/" + UriEncode(endpoint_name) + "/async-invocations";
  request.headers.emplace_back("X-Amzn-SageMaker-InputLocation", std::string(input_location));
  if (!content_type.empty()) request.headers.emplace_back("X-Amzn-SageMaker-Content-Type", std::string(content_type));
  if (!accept.empty()) request.headers.emplace_back("X-Amzn-SageMaker-Accept", std::string(accept));
  // Queued at most once per call: a retry after a lost reply could score the input twice.
  StatusOr<HttpResponse> response = caller_.RestCall(runtime_, std::move(request), Idempotency::kNonIdempotent, what);
  if (!response.ok()) return response.status();
  AsyncInvokeResult result;
  result.output_location = response->Header("X-Amzn-SageMaker-OutputLocation").value_or("");
  result.failure_location = response->Header("X-Amzn-SageMaker-FailureLocation").value_or("");
  auto body = nlohmann::json::parse(response->body, nullptr, false);
  if (body.is_object()) result.inference_id = body.value("InferenceId", "");
  if (result.output_location.empty()) return InternalError(what + ": the reply names no output location");
  return result;
}

// ---------------------------------------------------------------- STS

StatusOr<CallerIdentity> SageMakerStub::GetCallerIdentity() const {
  const std::string what = "STS GetCallerIdentity";
  StatusOr<std::string> xml =
      caller_.QueryCall(sts_, "Action=GetCallerIdentity&Version=2011-06-15", Idempotency::kIdempotent, what);
  if (!xml.ok()) return xml.status();
  CallerIdentity id;
  id.account = XmlTagText(*xml, "Account").value_or("");
  id.arn = XmlTagText(*xml, "Arn").value_or("");
  id.user_id = XmlTagText(*xml, "UserId").value_or("");
  if (id.account.empty() || id.arn.empty()) return InternalError(what + ": the reply has no Account or Arn");
  return id;
}

StatusOr<std::string> SageMakerStub::GetRoleArn(std::string_view role_name) const {
  const std::string what = "IAM GetRole '" + std::string(role_name) + "'";
  StatusOr<std::string> xml = caller_.QueryCall(iam_, "Action=GetRole&RoleName=" + UriEncode(role_name) + "&Version=2010-05-08",
                                                Idempotency::kIdempotent, what);
  if (!xml.ok()) return xml.status();
  auto arn = XmlTagText(*xml, "Arn");
  if (!arn || arn->empty()) return InternalError(what + ": the reply has no Arn");
  return *arn;
}

// ---------------------------------------------------------------- ECR

StatusOr<nlohmann::json> SageMakerStub::EcrCall(std::string_view operation, const nlohmann::json& request,
                                                std::string_view what) const {
  return caller_.JsonCall(ecr_, std::string(kEcrTargetPrefix) + std::string(operation), request,
                          Idempotency::kIdempotent, what);
}

StatusOr<std::string> SageMakerStub::DescribeRepositories(std::string_view repository_name) const {
  const std::string what = "ECR DescribeRepositories '" + std::string(repository_name) + "'";
  StatusOr<nlohmann::json> reply =
      EcrCall("DescribeRepositories", nlohmann::json{{"repositoryNames", {std::string(repository_name)}}}, what);
  if (!reply.ok()) return reply.status();
  auto repos = reply->find("repositories");
  if (repos == reply->end() || !repos->is_array() || repos->empty())
    return NotFoundError(what + ": no such repository in the registry of the calling account");
  for (const nlohmann::json& repo : *repos) {
    if (!repo.is_object()) continue;
    auto name = repo.find("repositoryName");
    auto uri = repo.find("repositoryUri");
    if (uri == repo.end() || !uri->is_string()) continue;
    if (name != repo.end() && name->is_string() && name->get<std::string>() != repository_name) continue;
    return uri->get<std::string>();
  }
  return InternalError(what + ": the reply has no repositoryUri");
}

StatusOr<std::string> SageMakerStub::CreateRepository(std::string_view repository_name) const {
  const std::string what = "ECR CreateRepository '" + std::string(repository_name) + "'";
  StatusOr<nlohmann::json> reply = EcrCall("CreateRepository", nlohmann::json{{"repositoryName", std::string(repository_name)}}, what);
  if (!reply.ok()) return reply.status();
  std::string uri = reply->value("/repository/repositoryUri"_json_pointer, "");
  if (uri.empty()) return InternalError(what + ": the reply has no repositoryUri");
  return uri;
}

StatusOr<EcrAuthorization> SageMakerStub::GetAuthorizationToken() const {
  const std::string what = "ECR GetAuthorizationToken";
  StatusOr<nlohmann::json> reply = EcrCall("GetAuthorizationToken", nlohmann::json::object(), what);
  if (!reply.ok()) return reply.status();
  auto data = reply->find("authorizationData");
  if (data == reply->end() || !data->is_array() || data->empty() || !(*data)[0].is_object())
    return InternalError(what + ": the reply has no authorizationData");
  const nlohmann::json& d = (*data)[0];
  EcrAuthorization auth;
  if (auto t = d.find("authorizationToken"); t != d.end() && t->is_string()) auth.token = t->get<std::string>();
  if (auto p = d.find("proxyEndpoint"); p != d.end() && p->is_string()) auth.proxy_endpoint = p->get<std::string>();
  if (auth.token.empty() || auth.proxy_endpoint.empty())
    return InternalError(what + ": the reply has no authorizationToken or proxyEndpoint");
  // JSON 1.1 timestamps are epoch seconds (possibly fractional); accept ISO 8601 too.
  auto e = d.find("expiresAt");
  if (e != d.end() && e->is_number() && e->get<double>() >= 0 && e->get<double>() < 1e11) {  // before year 5000
    using std::chrono::system_clock;
    auth.expires_at = system_clock::time_point(
        std::chrono::duration_cast<system_clock::duration>(std::chrono::duration<double>(e->get<double>())));
  } else if (e != d.end() && e->is_string() && ParseIso8601(e->get<std::string>())) {
    auth.expires_at = *ParseIso8601(e->get<std::string>());
  } else {
    return InternalError(what + ": the reply has no readable expiresAt");
  }
  return auth;
}

}  // namespace mlflow_bridge::internal
