// The shared scoring call (targets/scoring.h) over a scripted transport: each kind of failure happens
// once, and the number of sends says whether it was sent again (docs/decisions/0002-predict-retry-rule.md).
#include "targets/scoring.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "mlflow_bridge/kubernetes_client.h"
#include "mock_transport.h"
#include "test_support.h"

namespace mlflow_bridge::internal {
namespace {

using ::mlflow_bridge::testing::FakeClock;
using ::mlflow_bridge::testing::ScopedEnv;
using ::mlflow_bridge::testing::ScopedLogCapture;
using std::chrono::milliseconds;

const char kBody[] = R"({"inputs": [[1, 2]]})";
const char kAnswer[] = R"({"predictions": [3]})";

class ScoringTest : public ::testing::Test {
 protected:
  ScoringCall Call() {
    ScoringCall call;
    call.url = "http://127.0.0.1:5001/invocations";
    call.body = kBody;
    call.content_type = "application/json";
    call.timeout = milliseconds(60'000);
    call.transport = transport_;
    call.clock = clock_;
    call.what = "Deployment 'churn'";
    return call;
  }
  StatusOr<std::string> Score() { return internal::Score(Call()); }
  size_t Sends() { return transport_->requests().size(); }

  std::shared_ptr<MockTransport> transport_ = std::make_shared<MockTransport>();
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
  ScopedEnv no_gateway_{"MLFLOW_BRIDGE_GATEWAY", nullptr};
  ScopedLogCapture logs_;
};

TEST_F(ScoringTest, SendsThePostAndReturnsTheAnswer) {
  transport_->Enqueue(200, kAnswer);
  ScoringCall call = Call();
  call.headers = {{"x-canary", "green"}};
  auto r = internal::Score(call);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, kAnswer);
  ASSERT_EQ(Sends(), 1u);
  const HttpRequest sent = transport_->requests()[0];
  EXPECT_EQ(sent.method, "POST");
  EXPECT_EQ(sent.url, "http://127.0.0.1:5001/invocations");
  EXPECT_EQ(sent.body, kBody);
  EXPECT_EQ(FindHeader(sent.headers, "Content-Type"), "application/json");
  EXPECT_EQ(FindHeader(sent.headers, "x-canary"), "green");
  EXPECT_EQ(sent.timeout, milliseconds(60'000));
  EXPECT_FALSE(FindHeader(sent.headers, "Host").has_value());
}

// Nothing was sent: sent again.
TEST_F(ScoringTest, RefusedConnectionIsSentAgain) {
  transport_->Enqueue(
      UnavailableError("POST http://127.0.0.1:5001/invocations failed: Connection refused").set_not_processed());
  transport_->Enqueue(200, kAnswer);
  auto r = Score();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, kAnswer);
  EXPECT_EQ(Sends(), 2u);
}

TEST_F(ScoringTest, ThrottledIsSentAgainAfterRetryAfter) {
  transport_->Enqueue(429, "slow down", {{"Retry-After", "2"}});
  transport_->Enqueue(200, kAnswer);
  auto r = Score();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Sends(), 2u);
  ASSERT_EQ(clock_->sleeps.size(), 1u);
  EXPECT_EQ(clock_->sleeps[0], milliseconds(2000));
}

TEST_F(ScoringTest, ThrottledWithoutRetryAfterIsSentAgain) {
  transport_->Enqueue(429, "");
  transport_->Enqueue(200, kAnswer);
  auto r = Score();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Sends(), 2u);
}

// A gateway or a model that is not ready yet and says when to come back.
TEST_F(ScoringTest, UnavailableWithRetryAfterIsSentAgain) {
  transport_->Enqueue(503, "no healthy upstream", {{"Retry-After", "1"}});
  transport_->Enqueue(200, kAnswer);
  auto r = Score();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Sends(), 2u);
  ASSERT_EQ(clock_->sleeps.size(), 1u);
  EXPECT_EQ(clock_->sleeps[0], milliseconds(1000));
}

TEST_F(ScoringTest, UnavailableWithoutRetryAfterIsNotSentAgain) {
  transport_->Enqueue(503, "no healthy upstream");
  transport_->Enqueue(200, kAnswer);
  auto r = Score();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTemporarilyUnavailable) << r.status().ToString();
  EXPECT_FALSE(r.status().not_processed());
  EXPECT_EQ(r.status().message(), "Deployment 'churn': HTTP 503: no healthy upstream");
  EXPECT_EQ(Sends(), 1u);
}

TEST_F(ScoringTest, OtherServerErrorsAreNotSentAgain) {
  for (long code : {500L, 502L, 504L}) {
    MockTransport& t = *transport_;
    t.Enqueue(code, "upstream trouble");
    t.Enqueue(200, kAnswer);
    size_t before = Sends();
    auto r = Score();
    ASSERT_FALSE(r.ok()) << code;
    EXPECT_NE(r.status().message().find("HTTP " + std::to_string(code)), std::string::npos) << r.status().message();
    EXPECT_EQ(Sends(), before + 1) << code;
    ASSERT_TRUE(Score().ok());  // the queued 200, so that the next code starts afresh
  }
}

TEST_F(ScoringTest, TimeoutIsNotSentAgain) {
  transport_->Enqueue(DeadlineExceededError("POST http://127.0.0.1:5001/invocations failed: timed out"));
  transport_->Enqueue(200, kAnswer);
  auto r = Score();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(r.status().message(),
            "Deployment 'churn' did not answer: POST http://127.0.0.1:5001/invocations failed: timed out");
  EXPECT_EQ(Sends(), 1u);
  EXPECT_TRUE(clock_->sleeps.empty());
}

// The request went out and no reply came back (CURLE_GOT_NOTHING, a reset): the model may have scored it.
TEST_F(ScoringTest, LostReplyIsNotSentAgain) {
  transport_->Enqueue(UnavailableError("POST http://127.0.0.1:5001/invocations failed: Empty reply from server"));
  transport_->Enqueue(200, kAnswer);
  auto r = Score();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_NE(r.status().message().find("Empty reply from server"), std::string::npos) << r.status().message();
  EXPECT_EQ(Sends(), 1u);
}

TEST_F(ScoringTest, ModelRejectingTheInputIsNotSentAgain) {
  transport_->Enqueue(400, R"({"error_code": "BAD_REQUEST", "message": "column 'x' is missing"})");
  transport_->Enqueue(200, kAnswer);
  auto r = Score();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_EQ(r.status().message(), "Deployment 'churn' rejected the input: column 'x' is missing");
  EXPECT_EQ(Sends(), 1u);
}

TEST_F(ScoringTest, ModelFailingIsNotSentAgain) {
  transport_->Enqueue(500, R"({"error_code": "INTERNAL_ERROR", "message": "division by zero"})");
  transport_->Enqueue(200, kAnswer);
  auto r = Score();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternalError);
  EXPECT_EQ(r.status().message(), "Deployment 'churn' failed to score: division by zero");
  EXPECT_EQ(Sends(), 1u);
}

// A model's 503 with its error JSON and Retry-After (not ready yet) keeps the model's message and is sent again.
TEST_F(ScoringTest, ModelNotReadyWithRetryAfterIsSentAgain) {
  transport_->Enqueue(503, R"({"error_code": "TEMPORARILY_UNAVAILABLE", "message": "model loading"})",
                      {{"Retry-After", "3"}});
  transport_->Enqueue(503, R"({"error_code": "TEMPORARILY_UNAVAILABLE", "message": "model loading"})",
                      {{"Retry-After", "3"}});
  transport_->Enqueue(503, R"({"error_code": "TEMPORARILY_UNAVAILABLE", "message": "model loading"})",
                      {{"Retry-After", "3"}});
  auto r = Score();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_EQ(r.status().message(), "Deployment 'churn' failed to score: model loading (after 3 attempts)");
  EXPECT_EQ(Sends(), 3u);
  EXPECT_EQ(clock_->sleeps, (std::vector<milliseconds>{milliseconds(3000), milliseconds(3000)}));
}

TEST_F(ScoringTest, RetriesStayWithinTheDeadline) {
  transport_->Enqueue(429, "", {{"Retry-After", "50"}});
  ScoringCall call = Call();
  call.retry = RetryPolicy{3, milliseconds(30'000)};
  auto r = internal::Score(call);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_EQ(Sends(), 1u);
  EXPECT_TRUE(clock_->sleeps.empty());
}

TEST_F(ScoringTest, RefusedEveryTimeGivesTheAttempts) {
  for (int i = 0; i < 3; ++i) {
    transport_->Enqueue(
        UnavailableError("POST http://127.0.0.1:5001/invocations failed: Connection refused").set_not_processed());
  }
  auto r = Score();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_EQ(r.status().message(),
            "Deployment 'churn' did not answer: POST http://127.0.0.1:5001/invocations failed: Connection refused "
            "(after 3 attempts)");
  EXPECT_EQ(Sends(), 3u);
}

TEST_F(ScoringTest, TooLargeSaysSendFewerRows) {
  transport_->Enqueue(413, "payload too large");
  ScoringCall call = Call();
  call.payload_limit_hint = "Kyma's gateway takes at most 5 MiB";
  auto r = internal::Score(call);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_EQ(r.status().message(), "Deployment 'churn' refused the request as too large (" +
                                      std::to_string(sizeof kBody - 1) +
                                      " bytes; Kyma's gateway takes at most 5 MiB): send fewer rows at a time.");
  EXPECT_EQ(Sends(), 1u);

  transport_->Enqueue(413, "");
  r = Score();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("(" + std::to_string(sizeof kBody - 1) + " bytes): send fewer rows"),
            std::string::npos)
      << r.status().message();
}

TEST_F(ScoringTest, OtherRepliesAreHttpErrors) {
  transport_->Enqueue(404, "<html>not found</html>");
  auto r = Score();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceDoesNotExist);
  EXPECT_EQ(r.status().message(), "Deployment 'churn': HTTP 404: <html>not found</html>");
  // JSON without a string "message" is not the model server's error.
  transport_->Enqueue(400, R"({"message": 3})");
  r = Score();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), R"(Deployment 'churn': HTTP 400: {"message": 3})");
}

TEST_F(ScoringTest, ModelMessagesAreRedacted) {
  transport_->Enqueue(400, R"({"error_code": "BAD_REQUEST", "message": "bad input, password=hunter2"})");
  auto r = Score();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().find("hunter2"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("password=***"), std::string::npos) << r.status().message();
}

TEST_F(ScoringTest, ThroughTheGatewayWithTheRoutesHost) {
  ScopedEnv gateway("MLFLOW_BRIDGE_GATEWAY", "http://127.0.0.1:8080");
  transport_->Enqueue(200, kAnswer);
  ScoringCall call = Call();
  call.url = "https://wine.c-1.kyma.example.com/invocations";
  call.through_gateway = true;
  ASSERT_TRUE(internal::Score(call).ok());
  ASSERT_EQ(Sends(), 1u);
  EXPECT_EQ(transport_->requests()[0].url, "http://127.0.0.1:8080/invocations");
  EXPECT_EQ(FindHeader(transport_->requests()[0].headers, "Host"), "wine.c-1.kyma.example.com");

  // Only for a call that asks for it (a route), not for a local server.
  transport_->Enqueue(200, kAnswer);
  ASSERT_TRUE(Score().ok());
  EXPECT_EQ(transport_->requests()[1].url, "http://127.0.0.1:5001/invocations");
}

// kyma and aks (KubernetesClient::PostToRoute, also _core.post_to_route): the same rule, once per kind. It
// runs on the system clock, so only replies whose Retry-After is 0 are sent again here (no real sleep);
// a refused connection is checked above.
TEST_F(ScoringTest, RouteFollowsTheRule) {
  const std::string url = "https://wine.c-1.kyma.example.com/invocations";
  auto post = [&] { return KubernetesClient::PostToRoute(url, kBody, "application/json", transport_); };
  struct Case {
    const char* kind;
    std::vector<StatusOr<HttpResponse>> replies;
    size_t sends;
    bool ok;
  };
  const HttpResponse answer{200, {}, kAnswer};
  const std::vector<Case> cases = {
      {"429", {HttpResponse{429, {{"Retry-After", "0"}}, ""}, answer}, 2, true},
      {"503 with Retry-After", {HttpResponse{503, {{"Retry-After", "0"}}, ""}, answer}, 2, true},
      {"503", {HttpResponse{503, {}, "no healthy upstream"}, answer}, 1, false},
      {"502", {HttpResponse{502, {}, ""}, answer}, 1, false},
      {"timeout", {DeadlineExceededError("timed out"), answer}, 1, false},
      {"lost reply", {UnavailableError("Empty reply from server"), answer}, 1, false},
      {"model error", {HttpResponse{400, {}, R"({"error_code": "BAD_REQUEST", "message": "no"})"}, answer}, 1, false},
  };
  for (const Case& c : cases) {
    transport_ = std::make_shared<MockTransport>();
    for (const auto& reply : c.replies) transport_->Enqueue(reply);
    auto r = post();
    EXPECT_EQ(r.ok(), c.ok) << c.kind << ": " << r.status().ToString();
    EXPECT_EQ(Sends(), c.sends) << c.kind;
  }
  transport_ = std::make_shared<MockTransport>();
  transport_->Enqueue(400, R"({"error_code": "BAD_REQUEST", "message": "column 'x' is missing"})");
  auto r = post();
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_EQ(r.status().message(), "The route " + url + " rejected the input: column 'x' is missing");
  transport_->Enqueue(413, "payload too large");
  r = post();
  EXPECT_NE(r.status().message().find("Kyma's gateway takes at most 5 MiB): send fewer rows at a time."), std::string::npos)
      << r.status().message();
  EXPECT_EQ(transport_->requests().back().timeout, milliseconds(120'000));
}

}  // namespace
}  // namespace mlflow_bridge::internal
