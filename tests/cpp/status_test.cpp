#include "mlflow_bridge/status.h"

#include <gtest/gtest.h>

#include <memory>

namespace mlflow_bridge {
namespace {

TEST(StatusTest, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kOk);
  EXPECT_EQ(s.ToString(), "OK");
  EXPECT_TRUE(OkStatus().ok());
}

TEST(StatusTest, CodeNames) {
  EXPECT_EQ(StatusCodeName(StatusCode::kOk), "OK");
  EXPECT_EQ(StatusCodeName(StatusCode::kInvalidParameterValue), "INVALID_PARAMETER_VALUE");
  EXPECT_EQ(StatusCodeName(StatusCode::kResourceDoesNotExist), "RESOURCE_DOES_NOT_EXIST");
  EXPECT_EQ(StatusCodeName(StatusCode::kResourceAlreadyExists), "RESOURCE_ALREADY_EXISTS");
  EXPECT_EQ(StatusCodeName(StatusCode::kPermissionDenied), "PERMISSION_DENIED");
  EXPECT_EQ(StatusCodeName(StatusCode::kUnauthenticated), "UNAUTHENTICATED");
  EXPECT_EQ(StatusCodeName(StatusCode::kTemporarilyUnavailable), "TEMPORARILY_UNAVAILABLE");
  EXPECT_EQ(StatusCodeName(StatusCode::kDeadlineExceeded), "DEADLINE_EXCEEDED");
  EXPECT_EQ(StatusCodeName(StatusCode::kInternalError), "INTERNAL_ERROR");
}

TEST(StatusTest, HelperConstructors) {
  EXPECT_EQ(InvalidParameterError("m").code(), StatusCode::kInvalidParameterValue);
  EXPECT_EQ(NotFoundError("m").code(), StatusCode::kResourceDoesNotExist);
  EXPECT_EQ(AlreadyExistsError("m").code(), StatusCode::kResourceAlreadyExists);
  EXPECT_EQ(PermissionDeniedError("m").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(UnauthenticatedError("m").code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(UnavailableError("m").code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_EQ(DeadlineExceededError("m").code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(InternalError("m").code(), StatusCode::kInternalError);
  EXPECT_EQ(NotFoundError("endpoint 'x' not found").message(), "endpoint 'x' not found");
}

TEST(StatusTest, ToStringAndContext) {
  Status s = NotFoundError("endpoint 'x' not found");
  EXPECT_EQ(s.ToString(), "RESOURCE_DOES_NOT_EXIST: endpoint 'x' not found");
  Status c = s.WithContext("deleting deployment 'd'");
  EXPECT_EQ(c.code(), StatusCode::kResourceDoesNotExist);
  EXPECT_EQ(c.message(), "deleting deployment 'd': endpoint 'x' not found");
  EXPECT_EQ(s.message(), "endpoint 'x' not found");  // original untouched
  EXPECT_TRUE(OkStatus().WithContext("ctx").ok());
}

TEST(StatusTest, RetryAfterSurvivesCopiesAndContext) {
  Status s = UnavailableError("busy");
  EXPECT_FALSE(s.retry_after().has_value());
  s.set_retry_after(std::chrono::milliseconds(1500));
  Status c = s.WithContext("ctx");
  ASSERT_TRUE(c.retry_after().has_value());
  EXPECT_EQ(*c.retry_after(), std::chrono::milliseconds(1500));
}

TEST(StatusOrTest, ValueAndError) {
  StatusOr<int> v = 42;
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 42);
  EXPECT_TRUE(v.status().ok());

  StatusOr<int> e = NotFoundError("gone");
  EXPECT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kResourceDoesNotExist);
}

TEST(StatusOrTest, OkStatusBecomesInternalError) {
  StatusOr<int> e = OkStatus();
  EXPECT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kInternalError);
}

TEST(StatusOrTest, MoveOnlyValue) {
  StatusOr<std::unique_ptr<int>> v = std::make_unique<int>(7);
  ASSERT_TRUE(v.ok());
  std::unique_ptr<int> p = std::move(v).value();
  EXPECT_EQ(*p, 7);
}

Status Fails() { return InternalError("boom"); }
Status Propagates() {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(OkStatus());
  MLFLOW_BRIDGE_RETURN_IF_ERROR(Fails());
  return NotFoundError("not reached");
}

TEST(StatusTest, ReturnIfError) {
  Status s = Propagates();
  EXPECT_EQ(s.code(), StatusCode::kInternalError);
  EXPECT_EQ(s.message(), "boom");
}

TEST(StatusTest, WithMessageKeepsCodeRetryAfterAndMarks) {
  Status s = UnavailableError("token abc leaked").set_not_processed().set_final();
  s.set_retry_after(std::chrono::milliseconds(1500));
  Status scrubbed = s.WithMessage("token *** leaked");
  EXPECT_EQ(scrubbed.code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_EQ(scrubbed.message(), "token *** leaked");
  EXPECT_EQ(scrubbed.retry_after(), std::chrono::milliseconds(1500));
  EXPECT_TRUE(scrubbed.not_processed());
  EXPECT_TRUE(scrubbed.final());
  EXPECT_TRUE(OkStatus().WithMessage("x").ok());
}

}  // namespace
}  // namespace mlflow_bridge
