#include "aws/sagemaker_stub.h"

#include <utility>

#include "aws/sigv4.h"
#include "aws/xml.h"
#include "common/timestamp.h"
#include "common/url.h"
#include "mlflow_bridge/aws.h"

namespace mlflow_bridge::internal {
namespace {

constexpr std::string_view kSageMakerTargetPrefix = "SageMaker.";

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

// SageMaker Runtime's scoring calls (docs/decisions/0002): besides the AWS not-processed codes
// (throttling, ModelNotReadyException) and a refused connection (marked by the transport), a 503 that says
// when to come back (Retry-After) was not processed.
AwsCallOptions RuntimeOptions() {
  AwsCallOptions options;
  options.try_again.not_processed_with_retry_after = {503};
  return options;
}

std::string OrDefault(const std::string& override_url, std::string_view service_id, std::string_view prefix,
                      std::string_view region) {
  return ResolveAwsEndpoint(service_id, prefix, region, override_url);
}

}  // namespace

Idempotency SageMakerIdempotency(std::string_view operation) {
  // Create* and UpdateEndpoint make something new (a second one, or "already exists"); a scoring call may
  // have side effects in the model. UpdateEndpointWeightsAndCapacities and AddTags set absolute values:
  // sending them twice has the effect of once. Deleting what is already gone is the caller's concern (it gets
  // RESOURCE_DOES_NOT_EXIST).
  for (std::string_view op :
       {"CreateModel", "CreateEndpointConfig", "CreateEndpoint", "UpdateEndpoint", "InvokeEndpoint", "InvokeEndpointAsync"})
    if (operation == op) return Idempotency::kNonIdempotent;
  return Idempotency::kIdempotent;
}

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

SageMakerApiStub::SageMakerApiStub(AwsCaller caller, std::string region, SageMakerEndpoints endpoints)
    : caller_(std::move(caller)), region_(std::move(region)), endpoints_(std::move(endpoints)) {
  // SageMaker Runtime signs as "sagemaker" too (botocore's signingName).
  api_ = AwsService{"sagemaker", endpoints_.api, region_};
  runtime_ = AwsService{"sagemaker", endpoints_.runtime, region_};
}

// ---------------------------------------------------------------- SageMaker

StatusOr<nlohmann::json> SageMakerApiStub::SageMakerCall(std::string_view operation, const nlohmann::json& request) const {
  return caller_.JsonCall(api_, std::string(kSageMakerTargetPrefix) + std::string(operation), request,
                          What("SageMaker", operation, request));
}

StatusOr<nlohmann::json> SageMakerApiStub::CreateModel(const nlohmann::json& r) const {
  return SageMakerCall("CreateModel", r);
}
StatusOr<nlohmann::json> SageMakerApiStub::DescribeModel(const nlohmann::json& r) const {
  return SageMakerCall("DescribeModel", r);
}
StatusOr<nlohmann::json> SageMakerApiStub::DeleteModel(const nlohmann::json& r) const {
  return SageMakerCall("DeleteModel", r);
}
StatusOr<nlohmann::json> SageMakerApiStub::CreateEndpointConfig(const nlohmann::json& r) const {
  return SageMakerCall("CreateEndpointConfig", r);
}
StatusOr<nlohmann::json> SageMakerApiStub::DescribeEndpointConfig(const nlohmann::json& r) const {
  return SageMakerCall("DescribeEndpointConfig", r);
}
StatusOr<nlohmann::json> SageMakerApiStub::DeleteEndpointConfig(const nlohmann::json& r) const {
  return SageMakerCall("DeleteEndpointConfig", r);
}
StatusOr<nlohmann::json> SageMakerApiStub::CreateEndpoint(const nlohmann::json& r) const {
  return SageMakerCall("CreateEndpoint", r);
}
StatusOr<nlohmann::json> SageMakerApiStub::DescribeEndpoint(const nlohmann::json& r) const {
  return SageMakerCall("DescribeEndpoint", r);
}
StatusOr<nlohmann::json> SageMakerApiStub::UpdateEndpoint(const nlohmann::json& r) const {
  return SageMakerCall("UpdateEndpoint", r);
}
StatusOr<nlohmann::json> SageMakerApiStub::UpdateEndpointWeightsAndCapacities(const nlohmann::json& r) const {
  return SageMakerCall("UpdateEndpointWeightsAndCapacities", r);
}
StatusOr<nlohmann::json> SageMakerApiStub::DeleteEndpoint(const nlohmann::json& r) const {
  return SageMakerCall("DeleteEndpoint", r);
}
StatusOr<nlohmann::json> SageMakerApiStub::ListEndpoints(const nlohmann::json& r) const {
  return SageMakerCall("ListEndpoints", r);
}
StatusOr<nlohmann::json> SageMakerApiStub::ListTags(const nlohmann::json& r) const { return SageMakerCall("ListTags", r); }
StatusOr<nlohmann::json> SageMakerApiStub::AddTags(const nlohmann::json& r) const { return SageMakerCall("AddTags", r); }

// ---------------------------------------------------------------- SageMaker Runtime

StatusOr<InvokeResult> SageMakerApiStub::InvokeEndpoint(std::string_view endpoint_name, std::string body,
                                                        std::string_view content_type, std::string_view accept,
                                                        std::string_view custom_attributes,
                                                        std::string_view target_variant) const {
  const std::string what = "SageMaker InvokeEndpoint '" + std::string(endpoint_name) + "'";
  if (endpoint_name.empty()) return InvalidParameterError("SageMaker InvokeEndpoint: the endpoint name is empty");
  if (body.size() > kMaxInvokePayloadBytes)
    return InvalidParameterError(what + ": the request body is " + std::to_string(body.size()) +
                                 " bytes; real-time endpoints accept at most " + std::to_string(kMaxInvokePayloadBytes) +
                                 " (6 MB): send smaller batches or use asynchronous inference");
  HttpRequest request;
  request.method = "POST";
  request.url = "/endpoints/" + UriEncode(endpoint_name) + "/invocations";
  if (!content_type.empty()) request.headers.emplace_back("Content-Type", std::string(content_type));
  if (!accept.empty()) request.headers.emplace_back("Accept", std::string(accept));
  if (!custom_attributes.empty())
    request.headers.emplace_back("X-Amzn-SageMaker-Custom-Attributes", std::string(custom_attributes));
  if (!target_variant.empty()) request.headers.emplace_back("X-Amzn-SageMaker-Target-Variant", std::string(target_variant));
  request.body = std::move(body);

  StatusOr<HttpResponse> response = caller_.RestCall(runtime_, std::move(request), what, RuntimeOptions());
  if (!response.ok()) return response.status();
  InvokeResult result;
  result.body = std::move(response->body);
  result.content_type = response->Header("Content-Type").value_or("");
  result.invoked_variant = response->Header("x-Amzn-Invoked-Production-Variant").value_or("");
  result.custom_attributes = response->Header("X-Amzn-SageMaker-Custom-Attributes").value_or("");
  return result;
}

StatusOr<AsyncInvokeResult> SageMakerApiStub::InvokeEndpointAsync(std::string_view endpoint_name,
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
  StatusOr<HttpResponse> response = caller_.RestCall(runtime_, std::move(request), what, RuntimeOptions());
  if (!response.ok()) return response.status();
  AsyncInvokeResult result;
  result.output_location = response->Header("X-Amzn-SageMaker-OutputLocation").value_or("");
  result.failure_location = response->Header("X-Amzn-SageMaker-FailureLocation").value_or("");
  auto body = nlohmann::json::parse(response->body, nullptr, false);
  if (body.is_object()) result.inference_id = body.value("InferenceId", "");
  if (result.output_location.empty()) return InternalError(what + ": the reply names no output location");
  return result;
}

}  // namespace mlflow_bridge::internal
