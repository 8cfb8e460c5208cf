#include "image/registry_auth.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "image/reference.h"
#include "mlflow_bridge/logging.h"
#include "mock_transport.h"
#include "test_support.h"
#include "common/base64.h"
#include "aws/ecr.h"

namespace mlflow_bridge::internal {
namespace {

using ::mlflow_bridge::testing::FakeClock;
using ::mlflow_bridge::testing::ScopedEnv;
using ::mlflow_bridge::testing::ScopedLogCapture;
using ::mlflow_bridge::testing::Utc;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

const std::string kDigest = "sha256:" + std::string(64, 'a');

// ---------------------------------------------------------------- references

struct RefCase {
  const char* text;
  const char* registry;
  const char* repository;
  const char* tag;
  const char* digest;
  const char* shown;
};

TEST(ImageRefTest, ParsesDockerExamples) {
  const std::string d = kDigest;
  const std::vector<RefCase> cases = {
      {"ubuntu", "registry-1.docker.io", "library/ubuntu", "latest", "", "docker.io/library/ubuntu:latest"},
      {"library/ubuntu:22.04", "registry-1.docker.io", "library/ubuntu", "22.04", "", "docker.io/library/ubuntu:22.04"},
      {"docker.io/x/y", "registry-1.docker.io", "x/y", "latest", "", "docker.io/x/y:latest"},
      {"docker.io/ubuntu", "registry-1.docker.io", "library/ubuntu", "latest", "", "docker.io/library/ubuntu:latest"},
      {"index.docker.io/team/app:v1", "registry-1.docker.io", "team/app", "v1", "", "docker.io/team/app:v1"},
      {"python:3.11-slim", "registry-1.docker.io", "library/python", "3.11-slim", "", "docker.io/library/python:3.11-slim"},
      {"localhost:5000/a/b:1", "localhost:5000", "a/b", "1", "", "localhost:5000/a/b:1"},
      {"localhost/a", "localhost", "a", "latest", "", "localhost/a:latest"},
      {"127.0.0.1:5000/a/b:c", "127.0.0.1:5000", "a/b", "c", "", "127.0.0.1:5000/a/b:c"},
      {"123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:v1", "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
       "team/app", "v1", "", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:v1"},
      {"phx.ocir.io/ns/repo/sub_dir.x__y-z--w:T_1.a-b", "phx.ocir.io", "ns/repo/sub_dir.x__y-z--w", "T_1.a-b", "",
       "phx.ocir.io/ns/repo/sub_dir.x__y-z--w:T_1.a-b"},
      {"[::1]:5000/a:b", "[::1]:5000", "a", "b", "", "[::1]:5000/a:b"},
  };
  for (const RefCase& c : cases) {
    SCOPED_TRACE(c.text);
    StatusOr<ImageReference> r = ParseImageReference(c.text);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->registry, c.registry);
    EXPECT_EQ(r->repository, c.repository);
    EXPECT_EQ(r->tag, c.tag);
    EXPECT_EQ(r->digest, c.digest);
    EXPECT_EQ(r->ToString(), c.shown);
  }
}

TEST(ImageRefTest, Digests) {
  StatusOr<ImageReference> r = ParseImageReference("127.0.0.1:5000/a@" + kDigest);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->registry, "127.0.0.1:5000");
  EXPECT_EQ(r->repository, "a");
  EXPECT_EQ(r->tag, "");
  EXPECT_EQ(r->digest, kDigest);
  EXPECT_EQ(r->ToString(), "127.0.0.1:5000/a@" + kDigest);

  r = ParseImageReference("ubuntu:22.04@" + kDigest);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->tag, "22.04");
  EXPECT_EQ(r->digest, kDigest);
  EXPECT_EQ(r->ToString(), "docker.io/library/ubuntu:22.04@" + kDigest);
  EXPECT_EQ(r->WithDigest("sha256:" + std::string(64, 'b')), "docker.io/library/ubuntu@sha256:" + std::string(64, 'b'));
}

TEST(ImageRefTest, RejectsBadReferences) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "empty"},
      {"Ubuntu", "lower-case"},
      {"team/App", "lower-case"},
      {"ubuntu:", "tag"},
      {"ubuntu:-x", "tag"},
      {"ubuntu:" + std::string(129, 'a'), "tag"},
      {"ubuntu@sha256:abc", "digest"},
      {"ubuntu@sha256:" + std::string(64, 'A'), "digest"},
      {"ubuntu@md5", "digest"},
      {"a//b", "component"},
      {"-a", "component"},
      {"a-", "component"},
      {"a...b", "component"},
      {"a___b", "component"},
      {"https://reg.example.com/a", "scheme"},
      {"a b", "white space"},
      {"localhost:/a", "registry"},
      {"reg-.example.com/a", "registry"},
      {":tag", "missing"},
      {"reg.example.com/", "missing"},
      {"reg.example.com/" + std::string(256, 'a'), "255"},
  };
  for (const auto& [text, why] : cases) {
    SCOPED_TRACE(text);
    StatusOr<ImageReference> r = ParseImageReference(text);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidParameterValue);
    EXPECT_THAT(r.status().message(), HasSubstr(why));
    EXPECT_THAT(r.status().message(), HasSubstr("expected e.g."));
  }
}

// ---------------------------------------------------------------- challenges

TEST(RegistryAuthChallengeTest, ParsesBearerAndBasic) {
  std::optional<AuthChallenge> c = ParseAuthChallenge(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull")");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->scheme, "bearer");
  EXPECT_EQ(c->params["realm"], "https://auth.docker.io/token");
  EXPECT_EQ(c->params["service"], "registry.docker.io");
  EXPECT_EQ(c->params["scope"], "repository:library/ubuntu:pull");

  c = ParseAuthChallenge(R"(Basic realm="test-realm")");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->scheme, "basic");
  EXPECT_EQ(c->params["realm"], "test-realm");

  c = ParseAuthChallenge(R"(BEARER Realm="http://x/t?a=1,b=2" , service="a\"b\\c", error=insufficient_scope)");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->scheme, "bearer");
  EXPECT_EQ(c->params["realm"], "http://x/t?a=1,b=2");
  EXPECT_EQ(c->params["service"], "a\"b\\c");
  EXPECT_EQ(c->params["error"], "insufficient_scope");

  c = ParseAuthChallenge(R"(Bearer realm="r",scope="repository:a:pull,push repository:b:pull")");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->params["scope"], "repository:a:pull,push repository:b:pull");
}

TEST(RegistryAuthChallengeTest, SeveralChallengesFirstSupportedWins) {
  std::optional<AuthChallenge> c = ParseAuthChallenge(R"(Negotiate, Basic realm="r")");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->scheme, "basic");
  c = ParseAuthChallenge(R"(Basic realm="a, b", Bearer realm="https://t/token")");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->scheme, "basic");
  EXPECT_EQ(c->params["realm"], "a, b");
  c = ParseAuthChallenge(R"(Negotiate abc==, Bearer realm="https://t/token",service="s")");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->scheme, "bearer");
  EXPECT_EQ(c->params["service"], "s");
  EXPECT_FALSE(ParseAuthChallenge("Negotiate abc=="));
  EXPECT_FALSE(ParseAuthChallenge(""));
  EXPECT_FALSE(ParseAuthChallenge("   "));
}

// ---------------------------------------------------------------- docker config

class RegistryAuthDockerConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("regauth-" + std::to_string(::getpid()) + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / ".docker");
    env_.Set("HOME", dir_.string());
    env_.Set("DOCKER_CONFIG", std::nullopt);
    env_.Set("DOCKER_AUTH_CONFIG", std::nullopt);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const std::string& text, const fs::path& p = {}) {
    std::ofstream(p.empty() ? dir_ / ".docker" / "config.json" : p) << text;
  }
  StatusOr<RegistryCredentials> Get(const std::string& registry, const std::string& path = "") {
    return MakeDockerConfigRegistryCredentials(path)->Get(registry);
  }
  fs::path dir_;
  ScopedEnv env_;
};

TEST_F(RegistryAuthDockerConfigTest, AuthEntrySplitsAtFirstColon) {
  Write(R"({"auths": {"127.0.0.1:5000": {"auth": ")" + Base64Encode("alice:pa:ss") + R"("}}})");
  StatusOr<RegistryCredentials> c = Get("127.0.0.1:5000");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->username, "alice");
  EXPECT_EQ(c->password, "pa:ss");
  EXPECT_TRUE(Get("127.0.0.1:5001")->empty());
  EXPECT_EQ(MakeDockerConfigRegistryCredentials()->Describe(), "~/.docker/config.json");
}

TEST_F(RegistryAuthDockerConfigTest, UsernamePasswordIdentityAndRegistryTokens) {
  Write(R"({"auths": {
      "a.example.com": {"username": "u", "password": "p4ss"},
      "b.example.com": {"auth": ")" +
        Base64Encode("00000000-0000-0000-0000-000000000000:") +
        R"(", "identitytoken": "refresh-xyz"},
      "c.example.com": {"registrytoken": "bearer-abc"}}})");
  StatusOr<RegistryCredentials> a = Get("a.example.com");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->username, "u");
  EXPECT_EQ(a->password, "p4ss");
  StatusOr<RegistryCredentials> b = Get("b.example.com");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->identity_token, "refresh-xyz");
  EXPECT_EQ(b->username, "00000000-0000-0000-0000-000000000000");
  StatusOr<RegistryCredentials> c = Get("c.example.com");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->registry_token, "bearer-abc");
}

TEST_F(RegistryAuthDockerConfigTest, HostnameMatchingAndDockerHub) {
  Write(R"({"auths": {
      "https://myreg.example.com/v2/": {"auth": ")" +
        Base64Encode("m:1111") + R"("},
      "http://127.0.0.1:5000": {"auth": ")" +
        Base64Encode("l:2222") + R"("},
      "https://index.docker.io/v1/": {"auth": ")" +
        Base64Encode("hub:3333") + R"("}}})");
  EXPECT_EQ(Get("myreg.example.com")->username, "m");
  EXPECT_EQ(Get("127.0.0.1:5000")->username, "l");
  EXPECT_TRUE(Get("127.0.0.1:5001")->empty());
  EXPECT_TRUE(Get("other.example.com")->empty());
  EXPECT_EQ(Get("registry-1.docker.io")->username, "hub");
  EXPECT_EQ(Get("docker.io")->username, "hub");
}

TEST_F(RegistryAuthDockerConfigTest, CredentialHelpersAreNotRun) {
  Write(R"({"auths": {"123.dkr.ecr.us-east-1.amazonaws.com": {}, "d.example.com": {}, "e.example.com": {"auth": ")" +
        Base64Encode("e:5555") + R"("}},
      "credHelpers": {"123.dkr.ecr.us-east-1.amazonaws.com": "ecr-login"}, "credsStore": "desktop"})");
  StatusOr<RegistryCredentials> c = Get("123.dkr.ecr.us-east-1.amazonaws.com");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_THAT(c.status().message(), HasSubstr("docker-credential-ecr-login"));
  EXPECT_THAT(c.status().message(), HasSubstr("does not run credential helpers"));
  EXPECT_THAT(c.status().message(), HasSubstr("user name and password"));
  // credsStore: an (empty) auths entry says the store holds the credentials.
  c = Get("d.example.com");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("docker-credential-desktop"));
  // ... but an entry with "auth" is used, and a host the file does not know is anonymous.
  EXPECT_EQ(Get("e.example.com")->username, "e");
  StatusOr<RegistryCredentials> none = Get("f.example.com");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(RegistryAuthDockerConfigTest, DockerConfigEnvAndExplicitPath) {
  fs::create_directories(dir_ / "alt");
  Write(R"({"auths": {"r.example.com": {"auth": ")" + Base64Encode("alt:6666") + R"("}}})", dir_ / "alt" / "config.json");
  Write(R"({"auths": {"r.example.com": {"auth": ")" + Base64Encode("home:7777") + R"("}}})");
  EXPECT_EQ(Get("r.example.com")->username, "home");
  env_.Set("DOCKER_CONFIG", (dir_ / "alt").string());
  EXPECT_EQ(Get("r.example.com")->username, "alt");
  EXPECT_EQ(MakeDockerConfigRegistryCredentials()->Describe(), (dir_ / "alt").string() + "/config.json");
  EXPECT_EQ(Get("r.example.com", (dir_ / ".docker" / "config.json").string())->username, "home");
}

TEST_F(RegistryAuthDockerConfigTest, DockerAuthConfigEnvComesFirst) {
  Write(R"({"auths": {"r.example.com": {"auth": ")" + Base64Encode("file:8888") + R"("},
                      "s.example.com": {"auth": ")" +
        Base64Encode("file2:9999") + R"("}}})");
  env_.Set("DOCKER_AUTH_CONFIG", R"({"auths": {"r.example.com": {"auth": ")" + Base64Encode("env:1234") + R"("}}})");
  EXPECT_EQ(Get("r.example.com")->username, "env");
  EXPECT_EQ(Get("s.example.com")->username, "file2");
  env_.Set("DOCKER_AUTH_CONFIG", "{not json secret-in-env");
  StatusOr<RegistryCredentials> c = Get("r.example.com");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("DOCKER_AUTH_CONFIG"));
  EXPECT_THAT(c.status().message(), Not(HasSubstr("secret-in-env")));
}

TEST_F(RegistryAuthDockerConfigTest, NoFileIsAnonymousAndBadFilesAreErrorsWithoutSecrets) {
  StatusOr<RegistryCredentials> c = Get("r.example.com");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->empty());
  Write(R"({"auths": {"r.example.com": {"auth": "hunter2-secret"}}, )");
  c = Get("r.example.com");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("not valid JSON"));
  EXPECT_THAT(c.status().message(), Not(HasSubstr("hunter2")));
  Write(R"({"auths": {"r.example.com": {"auth": ")" + Base64Encode("nocolon-hunter2") + R"("}}})");
  c = Get("r.example.com");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_THAT(c.status().message(), HasSubstr("not base64"));
  EXPECT_THAT(c.status().message(), Not(HasSubstr("hunter2")));
}

// ---------------------------------------------------------------- ECR and caching

TEST(RegistryAuthEcrTest, DecodesToken) {
  auto exp = Utc(2015, 1, 1, 0, 0, 0);
  StatusOr<EcrLogin> c = EcrLoginFromToken("QVdTOjEyMzQ1Njc4OTAxMi1hdXRoLXRva2Vu", exp);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->username, "AWS");
  EXPECT_EQ(c->password, "123456789012-auth-token");
  EXPECT_EQ(c->expires_at, exp);
  StatusOr<EcrLogin> bad = EcrLoginFromToken(Base64Encode("no-colon-secret"), exp);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), Not(HasSubstr("no-colon-secret")));
  EXPECT_FALSE(EcrLoginFromToken("!!!not base64!!!", exp).ok());
}

TEST(RegistryAuthEcrTest, Base64RoundTrip) {
  for (std::string s : {"", "a", "ab", "abc", "abcd", "user:pass:word\xff"}) {
    EXPECT_EQ(Base64Decode(Base64Encode(s)).value_or("X"), s);
  }
  EXPECT_EQ(Base64Decode("YWI").value_or("X"), "ab");  // missing padding
  EXPECT_FALSE(Base64Decode("a$b=").has_value());
}

TEST(RegistryAuthCachingTest, CachesUntilFiveMinutesBeforeExpiry) {
  auto clock = std::make_shared<FakeClock>();
  int fetches = 0;
  auto provider = MakeCachingRegistryCredentials(
      [&]() -> StatusOr<RegistryCredentials> {
        ++fetches;
        RegistryCredentials c;
        c.username = "AWS";
        c.password = "pw" + std::to_string(fetches);
        c.expires_at = clock->WallNow() + std::chrono::hours(12);
        return c;
      },
      "ECR GetAuthorizationToken (AWS credentials)", clock);
  EXPECT_EQ(provider->Get("r")->password, "pw1");
  clock->Advance(std::chrono::hours(11) + std::chrono::minutes(54));
  EXPECT_EQ(provider->Get("r")->password, "pw1");
  clock->Advance(std::chrono::minutes(1));  // 11:55 -> 5 minutes left
  EXPECT_EQ(provider->Get("r")->password, "pw2");
  EXPECT_EQ(fetches, 2);
  EXPECT_EQ(provider->Describe(), "ECR GetAuthorizationToken (AWS credentials)");
}

TEST(RegistryAuthCachingTest, AlreadyExpiredCredentialsAreKeptNotRefetched) {
  auto clock = std::make_shared<FakeClock>();
  int fetches = 0;
  auto provider = MakeCachingRegistryCredentials(
      [&]() -> StatusOr<RegistryCredentials> {
        ++fetches;
        RegistryCredentials c;
        c.username = "AWS";
        c.password = "123456789012-auth-token";
        c.expires_at = Utc(2015, 1, 1, 0, 0, 0);
        return c;
      },
      "ECR", clock);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(provider->Get("r")->password, "123456789012-auth-token");
    clock->Advance(std::chrono::hours(1));
  }
  EXPECT_EQ(fetches, 1);
}

TEST(RegistryAuthCachingTest, ShortLivedCredentialsUsedUntilExpiryAndErrorsNotCached) {
  auto clock = std::make_shared<FakeClock>();
  int fetches = 0;
  bool fail = true;
  auto provider = MakeCachingRegistryCredentials(
      [&]() -> StatusOr<RegistryCredentials> {
        ++fetches;
        if (fail) return UnavailableError("sts down");
        RegistryCredentials c;
        c.password = "pw";
        c.expires_at = clock->WallNow() + std::chrono::minutes(3);
        return c;
      },
      "X", clock);
  EXPECT_FALSE(provider->Get("r").ok());
  fail = false;
  EXPECT_TRUE(provider->Get("r").ok());
  clock->Advance(std::chrono::minutes(2));
  EXPECT_TRUE(provider->Get("r").ok());
  EXPECT_EQ(fetches, 2);
  clock->Advance(std::chrono::minutes(1));
  EXPECT_TRUE(provider->Get("r").ok());
  EXPECT_EQ(fetches, 3);
}

// ---------------------------------------------------------------- authenticator

class RegistryAuthHandshakeTest : public ::testing::Test {
 protected:
  void SetUp() override {}
  void TearDown() override {
    for (const std::string& s : secrets_) EXPECT_THAT(logs_.text(), Not(HasSubstr(s))) << "a secret was logged";
  }
  std::unique_ptr<RegistryAuthenticator> Make(RegistryCredentials creds, std::string registry = "reg.example.com",
                                              bool plain_http = false) {
    for (const std::string& s : {creds.password, creds.identity_token, creds.registry_token})
      if (!s.empty()) secrets_.push_back(s);
    if (!creds.password.empty()) secrets_.push_back(Base64Encode(creds.username + ":" + creds.password));
    auto provider = creds.empty() ? MakeAnonymousRegistryCredentials()
                                  : MakeStaticRegistryCredentials(creds, "username/password for " + registry);
    RetryPolicy retry;
    retry.max_attempts = 3;
    return std::make_unique<RegistryAuthenticator>(registry, provider, transport_, clock_, retry, BackoffPolicy{},
                                                   plain_http);
  }
  static RegistryCredentials Alice() {
    RegistryCredentials c;
    c.username = "alice";
    c.password = "s3cret-pw";
    return c;
  }
  void ExpectNoSecret(const Status& s) {
    for (const std::string& secret : secrets_) EXPECT_THAT(s.message(), Not(HasSubstr(secret)));
  }
  std::shared_ptr<MockTransport> transport_ = std::make_shared<MockTransport>();
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
  std::vector<std::string> secrets_;
  ScopedLogCapture logs_;  // debug level: every line checked for secrets
};

const std::string kBearer = R"(Bearer realm="https://auth.example.com/token",service="reg.example.com")";
const std::vector<std::string> kScopes = {"repository:team/app:pull,push", "repository:team/base:pull"};

TEST_F(RegistryAuthHandshakeTest, Basic) {
  auto auth = Make(Alice());
  EXPECT_EQ(auth->Authorization(kScopes), "");
  ASSERT_TRUE(auth->HandleChallenge(R"(Basic realm="test-realm")", kScopes).ok());
  EXPECT_EQ(auth->Authorization(kScopes), "Basic " + Base64Encode("alice:s3cret-pw"));
  EXPECT_EQ(auth->Authorization({}), "Basic " + Base64Encode("alice:s3cret-pw"));
  EXPECT_TRUE(transport_->requests().empty());
}

TEST_F(RegistryAuthHandshakeTest, BasicWithoutCredentialsIsUnauthenticated) {
  auto auth = Make({});
  Status s = auth->HandleChallenge(R"(Basic realm="test-realm")", kScopes);
  EXPECT_EQ(s.code(), StatusCode::kUnauthenticated);
  EXPECT_THAT(s.message(), HasSubstr("requires a user name and password"));
}

TEST_F(RegistryAuthHandshakeTest, NoUsableChallenge) {
  auto auth = Make(Alice());
  EXPECT_EQ(auth->HandleChallenge("", kScopes).code(), StatusCode::kUnauthenticated);
  Status s = auth->HandleChallenge("Negotiate abc==", kScopes);
  EXPECT_EQ(s.code(), StatusCode::kUnauthenticated);
  EXPECT_THAT(s.message(), HasSubstr("Basic or Bearer"));
  EXPECT_EQ(auth->HandleChallenge("Bearer service=\"x\"", kScopes).code(), StatusCode::kUnauthenticated);
}

TEST_F(RegistryAuthHandshakeTest, BearerGetWithRepeatedScopesAndAccount) {
  auto auth = Make(Alice());
  transport_->Enqueue(200, R"({"token":"tok-1","expires_in":300,"issued_at":"2024-01-01T00:00:00Z"})");
  ASSERT_TRUE(auth->HandleChallenge(kBearer + R"(,scope="repository:team/app:pull")", kScopes).ok());
  auto reqs = transport_->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "GET");
  EXPECT_EQ(reqs[0].url,
            "https://auth.example.com/token?service=reg.example.com&scope=repository%3Ateam%2Fapp%3Apull%2Cpush"
            "&scope=repository%3Ateam%2Fbase%3Apull&account=alice");
  EXPECT_EQ(FindHeader(reqs[0].headers, "Authorization").value_or(""), "Basic " + Base64Encode("alice:s3cret-pw"));
  secrets_.push_back("tok-1");
  EXPECT_EQ(auth->Authorization(kScopes), "Bearer tok-1");
  // Same scope set in another order: the same token, no new request.
  EXPECT_EQ(auth->Authorization({kScopes[1], kScopes[0]}), "Bearer tok-1");
  EXPECT_EQ(transport_->requests().size(), 1u);
}

TEST_F(RegistryAuthHandshakeTest, TokenPerScopeSetAndExpiry) {
  auto auth = Make(Alice());
  transport_->Enqueue(200, R"({"token":"tok-push","access_token":"acc-push","expires_in":300})");
  ASSERT_TRUE(auth->HandleChallenge(kBearer, {"repository:a:pull,push"}).ok());
  EXPECT_EQ(auth->Authorization({"repository:a:pull,push"}), "Bearer acc-push");  // access_token wins
  // Another scope set: once the realm is known, its token is fetched right away.
  transport_->Enqueue(200, R"({"token":"tok-pull","expires_in":10})");  // < 60 s counts as 60 s
  EXPECT_EQ(auth->Authorization({"repository:b:pull"}), "Bearer tok-pull");
  auto reqs = transport_->requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_THAT(reqs[1].url, HasSubstr("scope=repository%3Ab%3Apull"));
  clock_->Advance(seconds(45));
  EXPECT_EQ(auth->Authorization({"repository:b:pull"}), "Bearer tok-pull");
  EXPECT_EQ(transport_->requests().size(), 2u);
  clock_->Advance(seconds(10));  // 55 s: within 10 s of expiry
  transport_->Enqueue(200, R"({"token":"tok-pull-2","expires_in":60})");
  EXPECT_EQ(auth->Authorization({"repository:b:pull"}), "Bearer tok-pull-2");
  clock_->Advance(seconds(240));  // the push token (300 s) is due too
  transport_->Enqueue(200, R"({"token":"tok-push-2","expires_in":300})");
  EXPECT_EQ(auth->Authorization({"repository:a:pull,push"}), "Bearer tok-push-2");
  EXPECT_EQ(transport_->requests().size(), 4u);
}

TEST_F(RegistryAuthHandshakeTest, AnonymousBearerSendsNoCredentials) {
  auto auth = Make({});
  transport_->Enqueue(200, R"({"token":"anon"})");
  ASSERT_TRUE(auth->HandleChallenge(kBearer + R"(,scope="repository:library/ubuntu:pull")", {}).ok());
  auto reqs = transport_->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].url,
            "https://auth.example.com/token?service=reg.example.com&scope=repository%3Alibrary%2Fubuntu%3Apull");
  EXPECT_FALSE(FindHeader(reqs[0].headers, "Authorization"));
  EXPECT_EQ(auth->Authorization({"repository:library/ubuntu:pull"}), "Bearer anon");
}

TEST_F(RegistryAuthHandshakeTest, RefreshTokenPost) {
  RegistryCredentials c;
  c.username = "00000000-0000-0000-0000-000000000000";
  c.identity_token = "refresh/tok+en";
  auto auth = Make(c);
  transport_->Enqueue(200, R"({"access_token":"acr-access","refresh_token":"new-refresh","expires_in":3600})");
  ASSERT_TRUE(auth->HandleChallenge(kBearer, kScopes).ok());
  auto reqs = transport_->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].url, "https://auth.example.com/token");
  EXPECT_EQ(FindHeader(reqs[0].headers, "Content-Type").value_or(""), "application/x-www-form-urlencoded");
  EXPECT_FALSE(FindHeader(reqs[0].headers, "Authorization"));
  EXPECT_EQ(reqs[0].body,
            "grant_type=refresh_token&refresh_token=refresh%2Ftok%2Ben&service=reg.example.com"
            "&scope=repository%3Ateam%2Fapp%3Apull%2Cpush%20repository%3Ateam%2Fbase%3Apull&client_id=mlflow-bridge");
  secrets_.push_back("acr-access");
  EXPECT_EQ(auth->Authorization(kScopes), "Bearer acr-access");
}

TEST_F(RegistryAuthHandshakeTest, RegistryTokenUsedDirectly) {
  RegistryCredentials c;
  c.registry_token = "ready-bearer";
  auto auth = Make(c);
  ASSERT_TRUE(auth->HandleChallenge(kBearer, kScopes).ok());
  EXPECT_EQ(auth->Authorization(kScopes), "Bearer ready-bearer");
  EXPECT_EQ(auth->Authorization({"repository:x:pull"}), "Bearer ready-bearer");
  EXPECT_TRUE(transport_->requests().empty());
}

TEST_F(RegistryAuthHandshakeTest, RealmRefusesCredentials) {
  auto auth = Make(Alice());
  transport_->Enqueue(401, R"({"details":"bad password s3cret-pw"})");
  Status s = auth->HandleChallenge(kBearer, kScopes);
  EXPECT_EQ(s.code(), StatusCode::kUnauthenticated);
  EXPECT_THAT(s.message(), HasSubstr("registry reg.example.com refused the credentials from username/password for "
                                     "reg.example.com"));
  ExpectNoSecret(s);
  EXPECT_EQ(transport_->requests().size(), 1u);  // not retried
  EXPECT_EQ(auth->Authorization(kScopes), "");
}

TEST_F(RegistryAuthHandshakeTest, RealmUnreachableIsRetriedThenUnavailable) {
  auto auth = Make(Alice());
  for (int i = 0; i < 3; ++i)
    transport_->Enqueue(UnavailableError("GET https://auth.example.com/token failed: Connection refused"));
  Status s = auth->HandleChallenge(kBearer, kScopes);
  EXPECT_EQ(s.code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("unreachable"));
  EXPECT_EQ(transport_->requests().size(), 3u);
  ExpectNoSecret(s);
  // A 503 then a token: retried.
  transport_->Enqueue(503, "busy");
  transport_->Enqueue(200, R"({"token":"t-after-503"})");
  EXPECT_TRUE(auth->HandleChallenge(kBearer, kScopes).ok());
}

TEST_F(RegistryAuthHandshakeTest, PlainHttpRealmOnlyForLoopbackOrPlainRegistries) {
  auto remote = Make(Alice());
  Status s = remote->HandleChallenge(R"(Bearer realm="http://auth.example.com/token",service="s")", kScopes);
  EXPECT_EQ(s.code(), StatusCode::kInvalidParameterValue);
  EXPECT_THAT(s.message(), HasSubstr("clear text"));
  EXPECT_TRUE(transport_->requests().empty());

  transport_->Enqueue(200, R"({"token":"t1"})");
  EXPECT_TRUE(remote->HandleChallenge(R"(Bearer realm="http://127.0.0.1:4000/token",service="s")", kScopes).ok());
  auto plain = Make(Alice(), "reg.internal:5000", /*plain_http=*/true);
  transport_->Enqueue(200, R"({"token":"t2"})");
  EXPECT_TRUE(plain->HandleChallenge(R"(Bearer realm="http://auth.internal/token",service="s")", kScopes).ok());
}

TEST_F(RegistryAuthHandshakeTest, TokenReplyWithoutToken) {
  auto auth = Make(Alice());
  transport_->Enqueue(200, R"({"nothing":1})");
  Status s = auth->HandleChallenge(kBearer, kScopes);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("without a token"));
}

}  // namespace
}  // namespace mlflow_bridge::internal
