// OCI's error replies as Status (oci/error.h).
#include "oci/error.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mlflow_bridge/retry.h"

namespace mlflow_bridge::internal {
namespace {

using ::testing::HasSubstr;

HttpResponse Reply(long status, std::string body, HttpHeaders headers = {}) {
  HttpResponse r;
  r.status_code = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

TEST(OciErrorTest, ReadsOcisErrorBody) {
  HttpResponse r = Reply(
      404, R"({"code": "NotAuthorizedOrNotFound", "message": "Authorization failed or requested resource not found."})",
      {{"opc-request-id", "AB12/CD34/EF56"}});
  std::optional<OciError> e = ParseOciError(r);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, "NotAuthorizedOrNotFound");
  EXPECT_EQ(e->request_id, "AB12/CD34/EF56");
  Status s = OciErrorStatus(r, "Getting model deployment 'churn'");
  EXPECT_EQ(s.code(), StatusCode::kResourceDoesNotExist);
  EXPECT_THAT(s.message(), HasSubstr("Getting model deployment 'churn': NotAuthorizedOrNotFound: Authorization failed"));
  EXPECT_THAT(s.message(), HasSubstr("(opc-request-id AB12/CD34/EF56)"));
  EXPECT_THAT(s.message(), HasSubstr("policies"));
  EXPECT_FALSE(ParseOciError(Reply(502, "<html>bad gateway</html>")).has_value());
  EXPECT_FALSE(ParseOciError(Reply(500, "{}")).has_value());
}

TEST(OciErrorTest, StatusCodesAsMlflowsCodes) {
  struct Case {
    long status;
    const char* code;
    StatusCode want;
  };
  for (const Case& c : std::vector<Case>{{400, "InvalidParameter", StatusCode::kInvalidParameterValue},
                                         {401, "NotAuthenticated", StatusCode::kUnauthenticated},
                                         {403, "NotAllowed", StatusCode::kPermissionDenied},
                                         {409, "Conflict", StatusCode::kResourceAlreadyExists},
                                         {409, "IncorrectState", StatusCode::kTemporarilyUnavailable},
                                         {412, "NoEtagMatch", StatusCode::kResourceAlreadyExists},
                                         {413, "PayloadTooLarge", StatusCode::kInvalidParameterValue},
                                         {429, "TooManyRequests", StatusCode::kTemporarilyUnavailable},
                                         {500, "InternalServerError", StatusCode::kTemporarilyUnavailable},
                                         {501, "MethodNotImplemented", StatusCode::kInternalError},
                                         {503, "ServiceUnavailable", StatusCode::kTemporarilyUnavailable}}) {
    std::string body = std::string(R"({"code": ")") + c.code + R"(", "message": "m"})";
    EXPECT_EQ(OciErrorStatus(Reply(c.status, body), "x").code(), c.want) << c.status << " " << c.code;
  }
  // Throttled: not carried out, so even a create may go again, after retry-after.
  Status throttled =
      OciErrorStatus(Reply(429, R"({"code": "TooManyRequests", "message": "slow down"})", {{"retry-after", "3"}}), "x");
  EXPECT_TRUE(throttled.not_processed());
  EXPECT_EQ(throttled.retry_after(), std::chrono::milliseconds(3000));
  EXPECT_FALSE(OciErrorStatus(Reply(500, "{}"), "x").not_processed());
  // An unauthenticated call says what to check; no body at all still reads.
  EXPECT_THAT(
      OciErrorStatus(
          Reply(
              401,
              R"({"code": "NotAuthenticated", "message": "The required information to complete authentication was not provided or was incorrect."})"),
          "x")
          .message(),
      HasSubstr("fingerprint"));
  EXPECT_THAT(OciErrorStatus(Reply(502, ""), "Listing").message(), HasSubstr("502"));
}

// What the OCI SDKs retry is what RetryLoop's rule retries of these Statuses.
TEST(OciErrorTest, WhatTheSdksRetryIsTransient) {
  auto transient = [](long status, const char* code) {
    std::string body = std::string(R"({"code": ")") + code + R"(", "message": "m"})";
    return IsRetryable(OciErrorStatus(Reply(status, body), "x"), Idempotency::kIdempotent);
  };
  EXPECT_TRUE(transient(429, "TooManyRequests"));
  EXPECT_TRUE(transient(409, "IncorrectState"));
  EXPECT_TRUE(transient(409, "LockConflict"));
  EXPECT_FALSE(transient(409, "Conflict"));
  EXPECT_TRUE(transient(500, "InternalServerError"));
  EXPECT_TRUE(transient(503, "ServiceUnavailable"));
  EXPECT_FALSE(transient(501, "MethodNotImplemented"));
  EXPECT_FALSE(transient(400, "InvalidParameter"));
  EXPECT_FALSE(transient(404, "NotAuthorizedOrNotFound"));
  EXPECT_FALSE(transient(412, "NoEtagMatch"));
}

}  // namespace
}  // namespace mlflow_bridge::internal
