#include "aws/sts_stub.h"

#include <utility>

#include "aws/xml.h"

namespace mlflow_bridge::internal {

StsApiStub::StsApiStub(AwsCaller caller, std::string endpoint, std::string region)
    : caller_(std::move(caller)), sts_{"sts", std::move(endpoint), std::move(region)} {}

StatusOr<CallerIdentity> StsApiStub::GetCallerIdentity() const {
  const std::string what = "STS GetCallerIdentity";
  StatusOr<std::string> xml = caller_.QueryCall(sts_, "Action=GetCallerIdentity&Version=2011-06-15", what);
  if (!xml.ok()) return xml.status();
  CallerIdentity id;
  id.account = XmlTagText(*xml, "Account").value_or("");
  id.arn = XmlTagText(*xml, "Arn").value_or("");
  id.user_id = XmlTagText(*xml, "UserId").value_or("");
  if (id.account.empty() || id.arn.empty()) return InternalError(what + ": the reply has no Account or Arn");
  return id;
}

}  // namespace mlflow_bridge::internal
