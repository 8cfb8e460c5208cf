// The SageMaker stub: one method per call of SageMaker and SageMaker Runtime. Each builds the request, signs and
// sends it once through AwsCaller (which marks failures for the retry rule), parses the reply and
// returns StatusOr. No retries, no waiting, no orchestration: that is the client's job
// (targets/sagemaker/client.cpp, through AwsRetry with SageMakerIdempotency).
//
// Requests and replies of the SageMaker API are the API's own JSON shapes
// (https://docs.aws.amazon.com/sagemaker/latest/APIReference/), passed through
// as nlohmann::json.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "aws/caller.h"
#include "mlflow_bridge/retry.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

// Base URLs (no trailing slash) of the services the target talks to.
struct SageMakerEndpoints {
  std::string api;      // SageMaker:          https://api.sagemaker.<region>.amazonaws.com
  std::string runtime;  // SageMaker Runtime:  https://runtime.sagemaker.<region>.amazonaws.com
  std::string sts;      // STS:                https://sts.<region>.amazonaws.com
  std::string ecr;      // ECR:                https://api.ecr.<region>.amazonaws.com
  std::string iam;      // IAM (global):       https://iam.amazonaws.com
};

// Resolves each endpoint as the AWS SDKs do (ResolveAwsEndpoint): the override
// in `overrides` when not empty (configuration), else AWS_ENDPOINT_URL_<SERVICE>
// (AWS_ENDPOINT_URL_SAGEMAKER, AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME,
// AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL_ECR), else AWS_ENDPOINT_URL, else the
// regional default.
SageMakerEndpoints ResolveSageMakerEndpoints(std::string_view region, const SageMakerEndpoints& overrides = {});

// Whether a SageMaker or SageMaker Runtime call (by operation name, "CreateModel") may be sent again after
// any transient failure: Create*, UpdateEndpoint, InvokeEndpoint and InvokeEndpointAsync are not (only a
// failure AwsCaller marks "not processed" is retried); Describe*, List*, Delete*, AddTags and
// UpdateEndpointWeightsAndCapacities are.
Idempotency SageMakerIdempotency(std::string_view operation);

// Largest InvokeEndpoint payload SageMaker real-time endpoints accept (6 MB).
inline constexpr size_t kMaxInvokePayloadBytes = 6291456;

struct InvokeResult {
  std::string body;
  std::string content_type;       // the reply's Content-Type
  std::string invoked_variant;    // x-Amzn-Invoked-Production-Variant
  std::string custom_attributes;  // X-Amzn-SageMaker-Custom-Attributes of the reply, if any
};

struct AsyncInvokeResult {
  std::string inference_id;
  std::string output_location;   // where the answer will be (s3://...)
  std::string failure_location;  // where an error will be instead
};

// The interface; mocked in tests (tests/cpp/mock_aws_stubs.h).
class SageMakerStub {
 public:
  virtual ~SageMakerStub() = default;

  // ---- SageMaker (JSON 1.1, X-Amz-Target: SageMaker.<Op>) ----
  // One attempt each; which may be retried: SageMakerIdempotency.
  virtual StatusOr<nlohmann::json> CreateModel(const nlohmann::json& request) const = 0;
  virtual StatusOr<nlohmann::json> DescribeModel(const nlohmann::json& request) const = 0;
  virtual StatusOr<nlohmann::json> DeleteModel(const nlohmann::json& request) const = 0;
  virtual StatusOr<nlohmann::json> CreateEndpointConfig(const nlohmann::json& request) const = 0;
  virtual StatusOr<nlohmann::json> DescribeEndpointConfig(const nlohmann::json& request) const = 0;
  virtual StatusOr<nlohmann::json> DeleteEndpointConfig(const nlohmann::json& request) const = 0;
  virtual StatusOr<nlohmann::json> CreateEndpoint(const nlohmann::json& request) const = 0;
  virtual StatusOr<nlohmann::json> DescribeEndpoint(const nlohmann::json& request) const = 0;
  virtual StatusOr<nlohmann::json> UpdateEndpoint(const nlohmann::json& request) const = 0;
  virtual StatusOr<nlohmann::json> UpdateEndpointWeightsAndCapacities(const nlohmann::json& request) const = 0;
  virtual StatusOr<nlohmann::json> DeleteEndpoint(const nlohmann::json& request) const = 0;
  // One page: the request may carry NextToken, MaxResults, NameContains, SortBy, StatusEquals.
  virtual StatusOr<nlohmann::json> ListEndpoints(const nlohmann::json& request) const = 0;
  virtual StatusOr<nlohmann::json> ListTags(const nlohmann::json& request) const = 0;
  virtual StatusOr<nlohmann::json> AddTags(const nlohmann::json& request) const = 0;

  // ---- SageMaker Runtime (REST: POST /endpoints/{name}/invocations) ----
  // Not idempotent (a model may have side effects): marked "not processed" (so retried above) are
  // ModelNotReadyException, throttling, a refused connection and a 503 with Retry-After
  // (docs/decisions/0002). A ModelError (424: the model's own error reply)
  // is INVALID_PARAMETER_VALUE with the model's message. Empty accept,
  // custom_attributes and target_variant are not sent. A body over 6 MB is
  // refused here (INVALID_PARAMETER_VALUE) without a call.
  virtual StatusOr<InvokeResult> InvokeEndpoint(std::string_view endpoint_name, std::string body,
                                                std::string_view content_type, std::string_view accept = "",
                                                std::string_view custom_attributes = "",
                                                std::string_view target_variant = "") const = 0;

  // The request waiting at `input_location` (s3://...) is queued for the
  // asynchronous endpoint; the answer appears at output_location later.
  virtual StatusOr<AsyncInvokeResult> InvokeEndpointAsync(std::string_view endpoint_name, std::string_view input_location,
                                                          std::string_view content_type,
                                                          std::string_view accept = "") const = 0;
};

// The stub over the AWS API (AwsCaller).
class SageMakerApiStub final : public SageMakerStub {
 public:
  SageMakerApiStub(AwsCaller caller, std::string region, SageMakerEndpoints endpoints);
  StatusOr<nlohmann::json> CreateModel(const nlohmann::json& request) const override;
  StatusOr<nlohmann::json> DescribeModel(const nlohmann::json& request) const override;
  StatusOr<nlohmann::json> DeleteModel(const nlohmann::json& request) const override;
  StatusOr<nlohmann::json> CreateEndpointConfig(const nlohmann::json& request) const override;
  StatusOr<nlohmann::json> DescribeEndpointConfig(const nlohmann::json& request) const override;
  StatusOr<nlohmann::json> DeleteEndpointConfig(const nlohmann::json& request) const override;
  StatusOr<nlohmann::json> CreateEndpoint(const nlohmann::json& request) const override;
  StatusOr<nlohmann::json> DescribeEndpoint(const nlohmann::json& request) const override;
  StatusOr<nlohmann::json> UpdateEndpoint(const nlohmann::json& request) const override;
  StatusOr<nlohmann::json> UpdateEndpointWeightsAndCapacities(const nlohmann::json& request) const override;
  StatusOr<nlohmann::json> DeleteEndpoint(const nlohmann::json& request) const override;
  StatusOr<nlohmann::json> ListEndpoints(const nlohmann::json& request) const override;
  StatusOr<nlohmann::json> ListTags(const nlohmann::json& request) const override;
  StatusOr<nlohmann::json> AddTags(const nlohmann::json& request) const override;
  StatusOr<InvokeResult> InvokeEndpoint(std::string_view endpoint_name, std::string body, std::string_view content_type,
                                        std::string_view accept = "", std::string_view custom_attributes = "",
                                        std::string_view target_variant = "") const override;
  StatusOr<AsyncInvokeResult> InvokeEndpointAsync(std::string_view endpoint_name, std::string_view input_location,
                                                  std::string_view content_type,
                                                  std::string_view accept = "") const override;
  const std::string& region() const { return region_; }
  const SageMakerEndpoints& endpoints() const { return endpoints_; }

 private:
  StatusOr<nlohmann::json> SageMakerCall(std::string_view operation, const nlohmann::json& request) const;

  AwsCaller caller_;
  std::string region_;
  SageMakerEndpoints endpoints_;
  AwsService api_, runtime_;
};

}  // namespace mlflow_bridge::internal
