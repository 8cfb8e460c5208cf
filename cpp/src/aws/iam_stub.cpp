#include "aws/iam_stub.h"

#include <utility>

#include "aws/xml.h"
#include "common/url.h"

namespace mlflow_bridge::internal {

IamApiStub::IamApiStub(AwsCaller caller, std::string endpoint, std::string_view region)
    : caller_(std::move(caller)),
      iam_{"iam", std::move(endpoint),
           region.rfind("cn-", 0) == 0       ? "cn-north-1"
           : region.rfind("us-gov-", 0) == 0 ? "us-gov-west-1"
                                             : "us-east-1"} {}

StatusOr<std::string> IamApiStub::GetRoleArn(std::string_view role_name) const {
  const std::string what = "IAM GetRole '" + std::string(role_name) + "'";
  StatusOr<std::string> xml =
      caller_.QueryCall(iam_, "Action=GetRole&RoleName=" + UriEncode(role_name) + "&Version=2010-05-08", what);
  if (!xml.ok()) return xml.status();
  auto arn = XmlTagText(*xml, "Arn");
  if (!arn || arn->empty()) return InternalError(what + ": the reply has no Arn");
  return *arn;
}

}  // namespace mlflow_bridge::internal
