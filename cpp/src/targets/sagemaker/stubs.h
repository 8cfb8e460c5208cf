// The AWS stubs the sagemaker-endpoints client calls: made by the client per region, endpoint and role, or
// given by a test (SageMakerClientOptions::stubs, with the mocks of tests/cpp/mock_aws_stubs.h).
#pragma once

#include <memory>

#include "aws/ecr_stub.h"
#include "aws/iam_stub.h"
#include "aws/s3_stub.h"
#include "aws/sagemaker_stub.h"
#include "aws/sts_stub.h"

namespace mlflow_bridge::internal {

struct SageMakerStubs {
  std::shared_ptr<SageMakerStub> stub;
  std::shared_ptr<S3Stub> s3;
  std::shared_ptr<StsStub> sts;
  std::shared_ptr<IamStub> iam;
  std::shared_ptr<EcrStub> ecr;
};

}  // namespace mlflow_bridge::internal
