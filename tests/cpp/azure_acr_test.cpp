// ACR logins with an Entra ID identity: the /oauth2/exchange request, the refresh token's expiry, the errors,
// and the login source the image builder gets (targets/registry_logins.h).
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "azure/acr.h"
#include "common/base64.h"
#include "image/build_config.h"
#include "image/registry_auth.h"
#include "mock_transport.h"
#include "targets/registry_logins.h"
#include "test_support.h"

namespace mlflow_bridge::internal {
namespace {

using ::mlflow_bridge::testing::FakeClock;
using nlohmann::json;

constexpr char kEntraToken[] = "entra-token-value-never-shown";

class FakeCredential : public TokenCredential {
 public:
  StatusOr<AccessToken> GetToken(const std::string& scope) override {
    scopes.push_back(scope);
    if (error) return *error;
    return AccessToken{kEntraToken, expires, std::nullopt};
  }
  std::string Describe() const override { return "fake credential of client app-1"; }
  std::vector<std::string> scopes;
  std::optional<Status> error;
  std::chrono::system_clock::time_point expires = std::chrono::system_clock::time_point(std::chrono::seconds(1700003600));
};

std::string Jwt(const json& claims) {
  return Base64UrlEncode(R"({"alg":"RS256","typ":"JWT"})") + "." + Base64UrlEncode(claims.dump()) + ".c2lnbmF0dXJl";
}

HttpResponse Reply(long code, const json& body, HttpHeaders headers = {}) {
  headers.emplace_back("Content-Type", "application/json");
  return HttpResponse{code, std::move(headers), body.dump()};
}

TEST(AcrLoginTest, ExchangesAnEntraTokenForARefreshTokenThatExpiresAtItsExp) {
  MockTransport transport;
  FakeCredential credential;
  FakeClock clock;
  const std::string refresh = Jwt({{"exp", 1700010800}, {"grant_type", "refresh_token"}});
  transport.Enqueue(Reply(200, {{"refresh_token", refresh}}));
  auto got = ExchangeForAcrRefreshToken("team.azurecr.io", false, credential, transport, clock);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->token, refresh);
  EXPECT_EQ(got->expires_at, std::chrono::system_clock::time_point(std::chrono::seconds(1700010800)));
  EXPECT_EQ(credential.scopes, std::vector<std::string>{"https://management.azure.com/.default"});
  auto requests = transport.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].url, "https://team.azurecr.io/oauth2/exchange");
  EXPECT_EQ(requests[0].body, std::string("grant_type=access_token&service=team.azurecr.io&access_token=") + kEntraToken);
}

TEST(AcrLoginTest, AnOpaqueRefreshTokenLivesAsLongAsTheEntraToken) {
  MockTransport transport;
  FakeCredential credential;
  FakeClock clock;
  transport.Enqueue(Reply(200, {{"refresh_token", "opaque"}}));
  auto got = ExchangeForAcrRefreshToken("127.0.0.1:5000", true, credential, transport, clock);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->expires_at, credential.expires);
  EXPECT_EQ(transport.requests()[0].url, "http://127.0.0.1:5000/oauth2/exchange");
}

TEST(AcrLoginTest, ARefusedTokenSaysWhoAndWhatToDoWithoutTheToken) {
  MockTransport transport;
  FakeCredential credential;
  FakeClock clock;
  transport.Enqueue(Reply(401, {{"errors", {{{"code", "UNAUTHORIZED"}, {"message", "aad token is not valid"}}}}}));
  auto got = ExchangeForAcrRefreshToken("team.azurecr.io", false, credential, transport, clock);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kUnauthenticated);
  const std::string m = got.status().message();
  EXPECT_NE(m.find("team.azurecr.io"), std::string::npos) << m;
  EXPECT_NE(m.find("fake credential of client app-1"), std::string::npos) << m;
  EXPECT_NE(m.find("UNAUTHORIZED: aad token is not valid"), std::string::npos) << m;
  EXPECT_NE(m.find("AcrPush"), std::string::npos) << m;
  EXPECT_EQ(m.find(kEntraToken), std::string::npos) << m;
  EXPECT_EQ(transport.requests().size(), 1u);  // not retried
}

TEST(AcrLoginTest, ThrottlingAndServerErrorsAreRetried) {
  MockTransport transport;
  FakeCredential credential;
  FakeClock clock;
  transport.Enqueue(
      Reply(429, {{"errors", {{{"code", "TOOMANYREQUESTS"}, {"message", "slow down"}}}}}, {{"Retry-After", "2"}}));
  transport.Enqueue(Reply(503, json::object()));
  transport.Enqueue(Reply(200, {{"refresh_token", "r"}}));
  auto got = ExchangeForAcrRefreshToken("team.azurecr.io", false, credential, transport, clock);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(transport.requests().size(), 3u);
  ASSERT_FALSE(clock.sleeps.empty());
  EXPECT_EQ(clock.sleeps[0], std::chrono::seconds(2));
}

TEST(AcrLoginTest, ACredentialThatCannotGetATokenStopsBeforeAnyRequest) {
  MockTransport transport;
  FakeCredential credential;
  FakeClock clock;
  credential.error = UnauthenticatedError("AZURE_CLIENT_SECRET is wrong");
  auto got = ExchangeForAcrRefreshToken("team.azurecr.io", false, credential, transport, clock);
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("Logging in to registry team.azurecr.io with Entra ID"), std::string::npos)
      << got.status().message();
  EXPECT_TRUE(transport.requests().empty());
}

TEST(AcrLoginTest, AReplyWithoutARefreshTokenIsAnError) {
  MockTransport transport;
  FakeCredential credential;
  FakeClock clock;
  transport.Enqueue(Reply(200, json::object()));
  auto got = ExchangeForAcrRefreshToken("team.azurecr.io", false, credential, transport, clock);
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("without a refresh_token"), std::string::npos) << got.status().message();
}

TEST(AcrLoginTest, AcrHostsByName) {
  EXPECT_TRUE(IsAcrHost("team.azurecr.io"));
  EXPECT_TRUE(IsAcrHost("Team.AzureCR.io:443"));
  EXPECT_TRUE(IsAcrHost("team.azurecr.cn"));
  EXPECT_TRUE(IsAcrHost("team.azurecr.us"));
  EXPECT_FALSE(IsAcrHost("azurecr.io"));
  EXPECT_FALSE(IsAcrHost("team.azurecr.io.example.com"));
  EXPECT_FALSE(IsAcrHost("123456789012.dkr.ecr.us-east-1.amazonaws.com"));
}

// The login source gives the registry authenticator the refresh token as an identity token: it is sent to the
// realm with grant_type=refresh_token, and fetched again only when it nears its expiry.
TEST(AcrLoginTest, TheLoginSourceHandsTheRefreshTokenToTheRegistryTokenFlow) {
  auto transport = std::make_shared<MockTransport>();
  auto credential = std::make_shared<FakeCredential>();
  auto clock = std::make_shared<FakeClock>();
  auto source = AcrLogins(clock, credential)("team.azurecr.io", false, transport);
  ASSERT_TRUE(source.ok()) << source.status().message();
  EXPECT_NE(source->describe.find("fake credential of client app-1"), std::string::npos);
  const auto exp = clock->WallNow() + std::chrono::hours(3);
  const std::string refresh =
      Jwt({{"exp", std::chrono::duration_cast<std::chrono::seconds>(exp.time_since_epoch()).count()}});
  transport->Enqueue(Reply(200, {{"refresh_token", refresh}}));
  auto provider = MakeRegistryCredentials(std::move(source).value(), clock);
  auto creds = provider->Get("team.azurecr.io");
  ASSERT_TRUE(creds.ok()) << creds.status().message();
  EXPECT_EQ(creds->identity_token, refresh);
  EXPECT_TRUE(creds->username.empty() && creds->password.empty());
  ASSERT_TRUE(provider->Get("team.azurecr.io").ok());  // cached
  EXPECT_EQ(transport->requests().size(), 1u);

  RegistryAuthenticator auth("team.azurecr.io", provider, transport, clock);
  transport->Enqueue(Reply(200, {{"access_token", "acr-access"}, {"expires_in", 3600}}));
  ASSERT_TRUE(auth.HandleChallenge(R"(Bearer realm="https://team.azurecr.io/oauth2/token",service="team.azurecr.io")",
                                   {"repository:flood:pull,push"})
                  .ok());
  EXPECT_EQ(auth.Authorization({"repository:flood:pull,push"}), "Bearer acr-access");
  const HttpRequest token = transport->requests().back();
  EXPECT_EQ(token.method, "POST");
  EXPECT_EQ(token.url, "https://team.azurecr.io/oauth2/token");
  EXPECT_NE(token.body.find("grant_type=refresh_token&refresh_token="), std::string::npos);
  EXPECT_NE(token.body.find("service=team.azurecr.io"), std::string::npos);

  clock->Advance(std::chrono::hours(3) - std::chrono::minutes(4));  // inside the 5-minute margin: fetched again
  transport->Enqueue(Reply(200, {{"refresh_token", "next"}}));
  auto again = provider->Get("team.azurecr.io");
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(again->identity_token, "next");
}

}  // namespace
}  // namespace mlflow_bridge::internal
