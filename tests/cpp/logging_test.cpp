#include "mlflow_bridge/logging.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace mlflow_bridge {
namespace {

bool Contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

TEST(RedactTest, AuthorizationHeaderLine) {
  EXPECT_EQ(Redact("Authorization: Bearer abc"), "Authorization: ***");
  EXPECT_EQ(Redact("authorization:Basic dXNlcjpwYXNz"), "authorization:***");
  EXPECT_EQ(Redact("Proxy-Authorization: Basic Zm9vOmJhcg=="), "Proxy-Authorization: ***");
  EXPECT_EQ(Redact("GET /x HTTP/1.1\r\nHost: a\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/x, "
                   "Signature=abc\r\nAccept: */*\r\n"),
            "GET /x HTTP/1.1\r\nHost: a\r\nAuthorization: ***\r\nAccept: */*\r\n");
}

TEST(RedactTest, OtherSensitiveHeaderLines) {
  EXPECT_EQ(Redact("Cookie: session=abc; theme=dark"), "Cookie: ***");
  EXPECT_EQ(Redact("Set-Cookie: id=1; HttpOnly"), "Set-Cookie: ***");
  EXPECT_EQ(Redact("X-Amz-Security-Token: FQoGZXIvYXdzEXAMPLE"), "X-Amz-Security-Token: ***");
  EXPECT_EQ(Redact("x-api-key: 12345"), "x-api-key: ***");
  EXPECT_EQ(Redact("  Ocp-Apim-Subscription-Key: abc"), "  Ocp-Apim-Subscription-Key: ***");
  EXPECT_EQ(Redact("Content-Type: application/json\nHost: example.com"),
            "Content-Type: application/json\nHost: example.com");
}

TEST(RedactTest, BearerAndBasicAnywhere) {
  EXPECT_EQ(Redact("sent Bearer xyz to the server"), "sent Bearer *** to the server");
  EXPECT_EQ(Redact("header was Basic xyz"), "header was Basic ***");
  EXPECT_EQ(Redact("token: bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-_x"), "token: ***");
  EXPECT_EQ(Redact("(Bearer eyJ0eXAi.abc.def)"), "(Bearer ***)");
  // Prose about the schemes is not a credential.
  EXPECT_EQ(Redact("Basic auth is not supported; use a Bearer token"), "Basic auth is not supported; use a Bearer token");
  EXPECT_EQ(Redact("WWW-Authenticate: Basic realm=\"x\""), "WWW-Authenticate: Basic realm=\"x\"");
  EXPECT_EQ(Redact("Bearers Basically"), "Bearers Basically");
}

TEST(RedactTest, KeyValuePairs) {
  EXPECT_EQ(Redact("password=hunter2"), "password=***");
  EXPECT_EQ(Redact("db_passwd: hunter2 next"), "db_passwd: ***");  // a header-like line: all of its value
  EXPECT_EQ(Redact("client_secret=abc&grant_type=client_credentials"), "client_secret=***&grant_type=client_credentials");
  EXPECT_EQ(Redact("{\"access_token\": \"eyJ.abc\", \"expires_in\": 3600}"),
            "{\"access_token\": \"***\", \"expires_in\": 3600}");
  EXPECT_EQ(Redact("{\"Password\":\"a\\\"b\",\"user\":\"bob\"}"), "{\"Password\":\"***\",\"user\":\"bob\"}");
  EXPECT_EQ(Redact("api_key='k1', ApiKey=k2, aws_secret_access_key = k3"),
            "api_key='***', ApiKey=***, aws_secret_access_key = ***");
  EXPECT_EQ(Redact("https://s3/x?X-Amz-Signature=deadbeef&X-Amz-Credential=AK%2Fx&X-Amz-Date=1"),
            "https://s3/x?X-Amz-Signature=***&X-Amz-Credential=***&X-Amz-Date=1");
  EXPECT_EQ(Redact("SignatureValue: abc"), "SignatureValue: ***");
  EXPECT_EQ(Redact("x-api-key=abc"), "x-api-key=***");
  EXPECT_EQ(Redact("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=abc+/==;EndpointSuffix=x"),
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=***;EndpointSuffix=x");
  EXPECT_EQ(Redact("https://a.blob.core.windows.net/c/b?sv=2021&sig=abc%2Bdef&se=1"),
            "https://a.blob.core.windows.net/c/b?sv=2021&sig=***&se=1");
}

TEST(RedactTest, AwsAccessKeyIds) {
  EXPECT_EQ(Redact("key id AKIAIOSFODNN7EXAMPLE used"), "key id *** used");
  EXPECT_EQ(Redact("ASIAY34FZKBOKMUTVV7A"), "***");
  // Not a key id: wrong length or embedded in a longer word.
  EXPECT_EQ(Redact("AKIAIOSFODNN7EXAMPL"), "AKIAIOSFODNN7EXAMPL");
  EXPECT_EQ(Redact("XAKIAIOSFODNN7EXAMPLE"), "XAKIAIOSFODNN7EXAMPLE");
}

TEST(RedactTest, UrlUserinfo) {
  EXPECT_EQ(Redact("https://user:pass@host/path"), "https://***@host/path");
  EXPECT_EQ(Redact("proxy http://tok@proxy:3128 failed"), "proxy http://***@proxy:3128 failed");
  EXPECT_EQ(Redact("https://host/path?email=a@b.c"), "https://host/path?email=a@b.c");
  EXPECT_EQ(Redact("mail me at a@b.c"), "mail me at a@b.c");
}

TEST(RedactTest, NonSecretTextUnchanged) {
  const std::vector<std::string> texts = {
      "",
      "Deployment 'my-model' is ready at http://127.0.0.1:5000/invocations",
      "Unknown config key 'foo'. Valid keys: port, workers, env.",
      "Config key 'port' must be an integer between 0 and 65535, got 'abc'.",
      "{\"max_tokens\": 100, \"temperature\": 0.2, \"inputs\": [[1, 2, 3]]}",
      "GET https://management.azure.com/subscriptions/x?api-version=2023-10-01: HTTP 404: not found",
      "Content-Type: application/json\r\nContent-Length: 12\r\n",
      "The token endpoint returned HTTP 400",
      "ratio=0.5 mode=async variants: 2",
      "ünïcödé text, tabs\tand\nnewlines",
  };
  for (const std::string& t : texts) EXPECT_EQ(Redact(t), t);
}

TEST(RedactTest, LongInputDoesNotBlowUp) {
  std::string big(1 << 20, 'a');
  big += " password=x";
  std::string r = Redact(big);
  EXPECT_TRUE(Contains(r, "password=***"));
  EXPECT_EQ(r.size(), big.size() + 2);
}

TEST(SensitiveHeaderTest, Names) {
  for (const char* n :
       {"Authorization", "proxy-authorization", "Cookie", "SET-COOKIE", "X-Amz-Security-Token", "x-api-key", "X-Auth-Token",
        "Client-Secret", "X-Password", "Ocp-Apim-Subscription-Key", "x-goog-signature", "X-Credential"})
    EXPECT_TRUE(IsSensitiveHeader(n)) << n;
  for (const char* n : {"Content-Type", "Accept", "Host", "User-Agent", "Keep-Alive", "x-amz-date", "Retry-After"})
    EXPECT_FALSE(IsSensitiveHeader(n)) << n;
}

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    old_level_ = GetLogLevel();
    old_sink_ = SetLogSink([this](LogLevel level, std::string_view m) { lines_.emplace_back(level, std::string(m)); });
  }
  void TearDown() override {
    SetLogSink(old_sink_);
    SetLogLevel(old_level_);
  }
  std::vector<std::pair<LogLevel, std::string>> lines_;
  LogSink old_sink_;
  LogLevel old_level_ = LogLevel::kInfo;
};

TEST_F(LogTest, LogRedactsBeforeTheSink) {
  SetLogLevel(LogLevel::kDebug);
  LogInfo("calling with Authorization: Bearer abc.def");
  LogDebug("password=hunter2");
  ASSERT_EQ(lines_.size(), 2u);
  EXPECT_EQ(lines_[0].first, LogLevel::kInfo);
  EXPECT_FALSE(Contains(lines_[0].second, "abc.def"));
  EXPECT_EQ(lines_[1].second, "password=***");
}

TEST_F(LogTest, LevelFilters) {
  SetLogLevel(LogLevel::kWarning);
  LogDebug("d");
  LogInfo("i");
  LogWarning("w");
  LogError("e");
  ASSERT_EQ(lines_.size(), 2u);
  EXPECT_EQ(lines_[0].second, "w");
  EXPECT_EQ(lines_[1].second, "e");
  SetLogLevel(LogLevel::kOff);
  LogError("e2");
  EXPECT_EQ(lines_.size(), 2u);
  EXPECT_EQ(GetLogLevel(), LogLevel::kOff);
}

TEST_F(LogTest, IgnoredErrorsAreLoggedAsWarnings) {
  SetLogLevel(LogLevel::kInfo);
  LogIgnored(OkStatus(), "Deleting model m");
  LogIgnored(StatusOr<int>(3), "Counting");
  EXPECT_TRUE(lines_.empty());
  LogIgnored(NotFoundError("no such model"), "Deleting model m");
  LogIgnored(StatusOr<int>(UnavailableError("busy")), "Counting");
  ASSERT_EQ(lines_.size(), 2u);
  EXPECT_EQ(lines_[0].first, LogLevel::kWarning);
  EXPECT_EQ(lines_[0].second, "Deleting model m failed (ignored): RESOURCE_DOES_NOT_EXIST: no such model");
  EXPECT_EQ(lines_[1].second, "Counting failed (ignored): TEMPORARILY_UNAVAILABLE: busy");
}

TEST_F(LogTest, SetLogSinkReturnsPrevious) {
  LogSink mine = SetLogSink(nullptr);  // back to stderr; returns the test sink
  ASSERT_TRUE(static_cast<bool>(mine));
  LogSink stderr_sink = SetLogSink(mine);
  EXPECT_TRUE(static_cast<bool>(stderr_sink));
  SetLogLevel(LogLevel::kInfo);
  LogInfo("x");
  EXPECT_EQ(lines_.size(), 1u);
}

TEST_F(LogTest, ConcurrentLogging) {
  SetLogLevel(LogLevel::kInfo);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([] {
      for (int i = 0; i < 200; ++i) LogInfo("message " + std::to_string(i));
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(lines_.size(), 800u);
}

}  // namespace
}  // namespace mlflow_bridge
