// OCI credentials: the config file reader, the config file, session token and resource principal providers,
// the chain and the cache. Every test runs with its own HOME and without the OCI_* variables of the machine.
#include "oci/credentials.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "common/base64.h"
#include "oci_test_keys.h"
#include "test_support.h"

namespace mlflow_bridge::internal {
namespace {

namespace fs = std::filesystem;
using ::mlflow_bridge::testing::FakeClock;
using ::mlflow_bridge::testing::OciTestKeyAs;
using ::mlflow_bridge::testing::OciTestKeyPem;
using ::mlflow_bridge::testing::PemForm;
using ::mlflow_bridge::testing::ScopedEnv;
using ::mlflow_bridge::testing::Utc;

constexpr char kTenancy[] = "ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq";
constexpr char kUser[] = "ocid1.user.oc1..aaaaaaaat5nvwcna5j6aqzjcaty5eqbb6qt2jvpkanghtgdaqedqw3rynjq";
constexpr char kFingerprint[] = "20:3b:97:13:55:1c:5b:0d:d3:37:d8:50:4e:c5:3a:34";
constexpr char kPassphrase[] = "pass-phrase-not-to-be-shown";

// A JWT whose payload is {"exp": exp} (the signature part is not checked by clients).
std::string Jwt(std::chrono::system_clock::time_point exp, const std::string& tail = "c2ln") {
  const long long s = std::chrono::duration_cast<std::chrono::seconds>(exp.time_since_epoch()).count();
  return Base64UrlEncode(R"({"alg":"RS256"})") + "." + Base64UrlEncode("{\"exp\":" + std::to_string(s) + "}") + "." + tail;
}

class OciCredentialsTest : public ::testing::Test {
 protected:
  OciCredentialsTest() {
    std::string tmpl = (fs::temp_directory_path() / "oci-cred-test-XXXXXX").string();
    home_ = mkdtemp(tmpl.data());
    env_.Set("HOME", home_);
    for (const char* v : {"OCI_CONFIG_FILE", "OCI_REGION", "OCI_CLI_PROFILE", "OCI_RESOURCE_PRINCIPAL_VERSION",
                          "OCI_RESOURCE_PRINCIPAL_RPST", "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM",
                          "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM_PASSPHRASE", "OCI_RESOURCE_PRINCIPAL_REGION"})
      env_.Set(v, std::nullopt);
  }
  ~OciCredentialsTest() override {
    std::error_code ec;
    fs::remove_all(home_, ec);
  }
  // Writes `content` at `relative` under HOME; returns the absolute path.
  std::string Write(const std::string& relative, const std::string& content) {
    const fs::path p = fs::path(home_) / relative;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
  }
  std::string WriteConfig(const std::string& content) { return Write(".oci/config", content); }
  static std::string ApiKeyProfile(const std::string& key_file = "~/.oci/key.pem") {
    return std::string("user=") + kUser + "\nfingerprint=" + kFingerprint + "\ntenancy=" + kTenancy +
           "\nregion=us-ashburn-1\nkey_file=" + key_file + "\n";
  }
  // The message must not carry the key, the passphrase or a token.
  static void ExpectNoSecrets(const Status& s, const std::vector<std::string>& secrets = {}) {
    const std::string pem = OciTestKeyPem();
    EXPECT_EQ(s.message().find(pem.substr(pem.find('\n') + 1, 20)), std::string::npos) << s.message();
    EXPECT_EQ(s.message().find(kPassphrase), std::string::npos) << s.message();
    EXPECT_EQ(s.message().find("PRIVATE KEY-----\n"), std::string::npos) << s.message();
    for (const auto& secret : secrets) EXPECT_EQ(s.message().find(secret), std::string::npos) << s.message();
  }

  std::string home_;
  ScopedEnv env_;
};

// ---- the file ----

TEST_F(OciCredentialsTest, ParsesSectionsKeysAndComments) {
  auto f = ParseOciConfigFile(
      "# comment\n; another\n[DEFAULT]\nRegion = us-ashburn-1\nkey_file: ~/k.pem\n\n  # indented comment\n"
      "[dev]\r\nuser=ocid1.user.oc1..a # not a comment\r\n",
      "/cfg");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->sections.at("DEFAULT").at("region").value, "us-ashburn-1");
  EXPECT_EQ(f->sections.at("DEFAULT").at("region").line, 4);
  EXPECT_EQ(f->sections.at("DEFAULT").at("key_file").value, "~/k.pem");
  EXPECT_EQ(f->sections.at("dev").at("user").value, "ocid1.user.oc1..a # not a comment");
}

TEST_F(OciCredentialsTest, RefusesWhatItDoesNotUnderstandNamingTheLine) {
  for (const auto& [text, what] : std::vector<std::pair<std::string, std::string>>{
           {"user=x\n[DEFAULT]\n", "line 1: a key appears before the first [section]"},
           {"[DEFAULT]\njust words\n", "line 2: expected \"key = value\""},
           {"[a]\n[b]\n[a]\n", "line 3: the section [a] appears a second time"},
           {"[a]\nk=1\nK=2\n", "line 3: the key 'k' appears a second time"},
           {"[a]\nk=1\n  more\n", "line 3: an indented line continues the value"},
           {"[a\nk=1\n", "line 1: a section header must look like"},
           {"[a]\n=1\n", "line 2: a line has a value but no key"}}) {
    auto f = ParseOciConfigFile(text, "/home/u/.oci/config");
    ASSERT_FALSE(f.ok()) << text;
    EXPECT_EQ(f.status().code(), StatusCode::kInvalidParameterValue);
    EXPECT_NE(f.status().message().find("/home/u/.oci/config is invalid at " + what), std::string::npos)
        << f.status().message();
  }
}

TEST_F(OciCredentialsTest, ProfilesInheritDefaultAndOverrideIt) {
  auto f = ParseOciConfigFile("[DEFAULT]\nregion=us-ashburn-1\nuser=u1\n[dev]\nuser=u2\n", "/cfg");
  ASSERT_TRUE(f.ok());
  auto dev = ResolveOciProfile(*f, "dev");
  ASSERT_TRUE(dev.ok());
  EXPECT_EQ(dev->Get("user").value_or(""), "u2");
  EXPECT_EQ(dev->Get("region").value_or(""), "us-ashburn-1");
  EXPECT_EQ(dev->Where("region"), "region (/cfg line 2, profile 'dev')");
  auto missing = ResolveOciProfile(*f, "prod");
  EXPECT_EQ(missing.status().code(), StatusCode::kResourceDoesNotExist);
  EXPECT_NE(missing.status().message().find("profiles: DEFAULT, dev"), std::string::npos);
}

TEST_F(OciCredentialsTest, FindsTheFileAsTheSdkDoes) {
  EXPECT_EQ(OciConfigFilePath("~/custom"), home_ + "/custom");
  EXPECT_EQ(OciConfigFilePath(""), home_ + "/.oci/config");  // reported missing later
  const std::string legacy = Write(".oraclebmc/config", "[DEFAULT]\n");
  EXPECT_EQ(OciConfigFilePath(""), legacy);
  ScopedEnv e("OCI_CONFIG_FILE", "~/from-env");
  EXPECT_EQ(OciConfigFilePath(""), home_ + "/from-env");
  const std::string standard = WriteConfig("[DEFAULT]\n");
  EXPECT_EQ(OciConfigFilePath(""), standard);  // ~/.oci/config first, even with OCI_CONFIG_FILE set
}

// ---- the config file (API key) provider ----

TEST_F(OciCredentialsTest, ReadsAnApiKeyProfile) {
  Write(".oci/key.pem", OciTestKeyPem());
  WriteConfig("[DEFAULT]\n" + ApiKeyProfile());
  auto c = MakeConfigFileOciCredentialsProvider()->GetCredentials();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->key_id, std::string(kTenancy) + "/" + kUser + "/" + kFingerprint);
  EXPECT_EQ(c->region, "us-ashburn-1");
  EXPECT_EQ(c->tenancy, kTenancy);
  EXPECT_TRUE(c->security_token.empty());
  EXPECT_FALSE(c->expiration);
  EXPECT_EQ(c->source, "profile 'DEFAULT' in " + home_ + "/.oci/config");
  HttpRequest r;
  r.url = "https://datascience.us-ashburn-1.oci.oraclecloud.com/20190101/models";
  EXPECT_TRUE(SignOciRequest(r, c->signing_key(), Utc(2024, 1, 1, 0, 0, 0)).ok());
}

TEST_F(OciCredentialsTest, ANamedProfileInheritsFromDefaultAndAnExplicitPathWorks) {
  Write("keys/dev.pem", OciTestKeyPem());
  const std::string cfg = Write("elsewhere/config", "[DEFAULT]\n" + ApiKeyProfile("~/keys/missing.pem") +
                                                        "[dev]\nkey_file=~/keys/dev.pem\nregion=eu-frankfurt-1\n");
  auto c = MakeConfigFileOciCredentialsProvider({"~/elsewhere/config", "dev"})->GetCredentials();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->region, "eu-frankfurt-1");
  EXPECT_EQ(c->source, "profile 'dev' in " + cfg);
}

TEST_F(OciCredentialsTest, MissingFileOrProfileIsNotFoundUnlessAskedFor) {
  auto none = MakeConfigFileOciCredentialsProvider()->GetCredentials();
  EXPECT_EQ(none.status().code(), StatusCode::kResourceDoesNotExist);
  EXPECT_NE(none.status().message().find("oci setup config"), std::string::npos);
  auto explicit_path = MakeConfigFileOciCredentialsProvider({"/nonexistent/config", ""})->GetCredentials();
  EXPECT_EQ(explicit_path.status().code(), StatusCode::kInvalidParameterValue);
  WriteConfig("[dev]\n" + ApiKeyProfile());
  EXPECT_EQ(MakeConfigFileOciCredentialsProvider()->GetCredentials().status().code(), StatusCode::kResourceDoesNotExist);
  auto prod = MakeConfigFileOciCredentialsProvider({"", "prod"})->GetCredentials();
  EXPECT_EQ(prod.status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_NE(prod.status().message().find("profile 'prod' not found"), std::string::npos);
  EXPECT_NE(prod.status().message().find("profiles: dev"), std::string::npos);
}

TEST_F(OciCredentialsTest, NamesEveryMissingKeyAndFallsBackToOciRegion) {
  WriteConfig("[DEFAULT]\nuser=" + std::string(kUser) + "\n");
  auto c = MakeConfigFileOciCredentialsProvider()->GetCredentials();
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_NE(c.status().message().find("is missing tenancy, fingerprint, key_file, region"), std::string::npos)
      << c.status().message();
  Write(".oci/key.pem", OciTestKeyPem());
  WriteConfig("[DEFAULT]\n" + ApiKeyProfile());
  std::string text = "[DEFAULT]\n" + ApiKeyProfile();
  text.erase(text.find("region=us-ashburn-1\n"), 20);
  WriteConfig(text);
  ScopedEnv region("OCI_REGION", "ap-tokyo-1");
  auto r = MakeConfigFileOciCredentialsProvider()->GetCredentials();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->region, "ap-tokyo-1");
}

TEST_F(OciCredentialsTest, RefusesMalformedValuesKeyContentAndAMissingKeyFile) {
  Write(".oci/key.pem", OciTestKeyPem());
  std::string text = "[DEFAULT]\n" + ApiKeyProfile();
  auto with = [&](const std::string& from, const std::string& to) {
    std::string t = text;
    t.replace(t.find(from), from.size(), to);
    WriteConfig(t);
    return MakeConfigFileOciCredentialsProvider()->GetCredentials().status();
  };
  Status s = with(kFingerprint, "20-3b");
  EXPECT_NE(s.message().find("fingerprint (" + home_ + "/.oci/config line 3, profile 'DEFAULT') is malformed"),
            std::string::npos)
      << s.message();
  s = with(kTenancy, "my-tenancy");
  EXPECT_NE(s.message().find("tenancy (" + home_ + "/.oci/config line 4, profile 'DEFAULT') is malformed"),
            std::string::npos)
      << s.message();
  s = with("key_file=~/.oci/key.pem", "key_file=~/.oci/nope.pem");
  EXPECT_EQ(s.code(), StatusCode::kInvalidParameterValue);
  EXPECT_NE(s.message().find("'" + home_ + "/.oci/nope.pem', which must be the path of an existing file"), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("line 6"), std::string::npos) << s.message();
  s = with("region=us-ashburn-1", "region=us-ashburn-1\nkey_content=-----BEGIN RSA PRIVATE KEY-----");
  EXPECT_NE(s.message().find("'key_content' cannot be specified in a config file"), std::string::npos);
  ExpectNoSecrets(s);
}

TEST_F(OciCredentialsTest, AnEncryptedKeyNeedsTheRightPassPhrase) {
  Write(".oci/key.pem", OciTestKeyAs(PemForm::kPkcs8Encrypted, kPassphrase));
  WriteConfig("[DEFAULT]\n" + ApiKeyProfile() + "pass_phrase=" + kPassphrase + "\n");
  auto ok = MakeConfigFileOciCredentialsProvider()->GetCredentials();
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();

  WriteConfig("[DEFAULT]\n" + ApiKeyProfile() + "pass_phrase=wrong " + kPassphrase + "\n");
  auto bad = MakeConfigFileOciCredentialsProvider()->GetCredentials();
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_NE(bad.status().message().find("key_file " + home_ + "/.oci/key.pem of profile 'DEFAULT'"), std::string::npos)
      << bad.status().message();
  EXPECT_NE(bad.status().message().find("the passphrase is incorrect"), std::string::npos);
  ExpectNoSecrets(bad.status());

  WriteConfig("[DEFAULT]\n" + ApiKeyProfile());
  auto none = MakeConfigFileOciCredentialsProvider()->GetCredentials();
  EXPECT_NE(none.status().message().find("needs a passphrase (pass_phrase in the config file)"), std::string::npos);
}

// ---- session token ----

TEST_F(OciCredentialsTest, ASessionTokenProfileSignsWithTheTokenAsKeyId) {
  FakeClock clock(Utc(2024, 1, 1, 0, 0, 0));
  const std::string token = Jwt(Utc(2024, 1, 1, 1, 0, 0));
  Write(".oci/sessions/dev/token", token + "\n");
  Write(".oci/sessions/dev/oci_api_key.pem", OciTestKeyPem());
  WriteConfig("[DEFAULT]\nregion=us-ashburn-1\n[dev]\nfingerprint=" + std::string(kFingerprint) +
              "\nkey_file=~/.oci/sessions/dev/oci_api_key.pem\ntenancy=" + kTenancy +
              "\nsecurity_token_file=~/.oci/sessions/dev/token\n");
  auto clock_ptr = std::shared_ptr<Clock>(&clock, [](Clock*) {});
  auto c = MakeSessionTokenOciCredentialsProvider({"", "dev"}, clock_ptr)->GetCredentials();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->key_id, "ST$" + token);
  EXPECT_EQ(c->security_token, token);
  EXPECT_EQ(c->region, "us-ashburn-1");
  EXPECT_EQ(c->expiration, Utc(2024, 1, 1, 1, 0, 0));
  EXPECT_EQ(c->tenancy, kTenancy);  // the profile's, as `oci session authenticate` writes it

  // The API key provider leaves it to this one.
  EXPECT_EQ(MakeConfigFileOciCredentialsProvider({"", "dev"})->GetCredentials().status().code(),
            StatusCode::kResourceDoesNotExist);

  clock.Advance(std::chrono::hours(2));
  auto expired = MakeSessionTokenOciCredentialsProvider({"", "dev"}, clock_ptr)->GetCredentials();
  EXPECT_EQ(expired.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(expired.status().message().find("oci session refresh --profile dev"), std::string::npos);
  ExpectNoSecrets(expired.status(), {token});
}

TEST_F(OciCredentialsTest, SessionTokenProblemsSayWhatToRun) {
  Write(".oci/key.pem", OciTestKeyPem());
  WriteConfig("[DEFAULT]\n" + ApiKeyProfile());
  EXPECT_EQ(MakeSessionTokenOciCredentialsProvider()->GetCredentials().status().code(), StatusCode::kResourceDoesNotExist);
  WriteConfig("[DEFAULT]\nregion=r\nkey_file=~/.oci/key.pem\nsecurity_token_file=~/.oci/no-token\n");
  auto missing = MakeSessionTokenOciCredentialsProvider()->GetCredentials();
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_NE(missing.status().message().find(home_ + "/.oci/no-token"), std::string::npos);
  EXPECT_NE(missing.status().message().find("oci session authenticate --profile-name DEFAULT"), std::string::npos);
  WriteConfig("[DEFAULT]\nregion=r\nsecurity_token_file=~/.oci/no-token\n");
  EXPECT_NE(MakeSessionTokenOciCredentialsProvider()->GetCredentials().status().message().find("no key_file"),
            std::string::npos);
}

// ---- resource principal ----

TEST_F(OciCredentialsTest, ResourcePrincipalIsNotFoundWithoutItsVersionAndNeeds22) {
  EXPECT_EQ(MakeResourcePrincipalOciCredentialsProvider()->GetCredentials().status().code(),
            StatusCode::kResourceDoesNotExist);
  ScopedEnv v("OCI_RESOURCE_PRINCIPAL_VERSION", "2.1");
  auto c = MakeResourcePrincipalOciCredentialsProvider()->GetCredentials();
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_NE(c.status().message().find("only resource principals 2.2"), std::string::npos);
  ScopedEnv v2("OCI_RESOURCE_PRINCIPAL_VERSION", "2.2");
  EXPECT_NE(MakeResourcePrincipalOciCredentialsProvider()->GetCredentials().status().message().find(
                "OCI_RESOURCE_PRINCIPAL_RPST is not set"),
            std::string::npos);
}

TEST_F(OciCredentialsTest, ResourcePrincipalInlineValues) {
  const std::string token = Jwt(Utc(2030, 1, 1, 0, 0, 0));
  ScopedEnv v("OCI_RESOURCE_PRINCIPAL_VERSION", "2.2");
  ScopedEnv t("OCI_RESOURCE_PRINCIPAL_RPST", token.c_str());
  const std::string pem = OciTestKeyAs(PemForm::kPkcs1Encrypted, kPassphrase);
  ScopedEnv k("OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM", pem.c_str());
  ScopedEnv p("OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM_PASSPHRASE", kPassphrase);
  ScopedEnv r("OCI_RESOURCE_PRINCIPAL_REGION", "us-phoenix-1");
  auto c = MakeResourcePrincipalOciCredentialsProvider()->GetCredentials();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->key_id, "ST$" + token);
  EXPECT_EQ(c->region, "us-phoenix-1");
  EXPECT_EQ(c->expiration, Utc(2030, 1, 1, 0, 0, 0));

  ScopedEnv wrong("OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM_PASSPHRASE", "not-it");
  auto bad = MakeResourcePrincipalOciCredentialsProvider()->GetCredentials();
  EXPECT_NE(bad.status().message().find("the OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM variable: the passphrase is incorrect"),
            std::string::npos)
      << bad.status().message();
  ExpectNoSecrets(bad.status(), {token, "not-it"});
}

TEST_F(OciCredentialsTest, ResourcePrincipalPathsAreReadOnEveryCall) {
  const std::string token1 = Jwt(Utc(2030, 1, 1, 0, 0, 0), "one");
  const std::string token_path = Write("rp/rpst", token1 + "\n");
  const std::string pem_path = Write("rp/private.pem", OciTestKeyAs(PemForm::kPkcs8Encrypted, kPassphrase));
  const std::string pass_path = Write("rp/passphrase", std::string(kPassphrase) + "\n");
  ScopedEnv v("OCI_RESOURCE_PRINCIPAL_VERSION", "2.2");
  ScopedEnv t("OCI_RESOURCE_PRINCIPAL_RPST", token_path.c_str());
  ScopedEnv k("OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM", pem_path.c_str());
  ScopedEnv p("OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM_PASSPHRASE", pass_path.c_str());
  auto provider = MakeResourcePrincipalOciCredentialsProvider();
  auto c = provider->GetCredentials();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->key_id, "ST$" + token1);
  EXPECT_EQ(c->region, "");
  const std::string token2 = Jwt(Utc(2030, 1, 1, 0, 0, 0), "two");
  Write("rp/rpst", token2);
  EXPECT_EQ(provider->GetCredentials()->key_id, "ST$" + token2);

  fs::remove(pass_path);
  auto no_pass = provider->GetCredentials();
  EXPECT_NE(no_pass.status().message().find("cannot read the passphrase file '" + pass_path + "'"), std::string::npos);
  fs::remove(token_path);
  auto no_token = provider->GetCredentials();
  EXPECT_NE(no_token.status().message().find("cannot read the resource principal session token file '" + token_path),
            std::string::npos);
}

// ---- chain and cache ----

TEST_F(OciCredentialsTest, TheDefaultChainTriesConfigThenSessionThenResourcePrincipal) {
  auto none = MakeDefaultOciCredentialsProvider()->GetCredentials();
  EXPECT_EQ(none.status().code(), StatusCode::kUnauthenticated);
  for (const char* what : {"OCI config file API key profile", "OCI session token profile", "OCI resource principal",
                           "oci setup config", "oci session authenticate"})
    EXPECT_NE(none.status().message().find(what), std::string::npos) << what << " in " << none.status().message();

  const std::string token = Jwt(Utc(2030, 1, 1, 0, 0, 0));
  const std::string pem = OciTestKeyPem();
  ScopedEnv v("OCI_RESOURCE_PRINCIPAL_VERSION", "2.2");
  ScopedEnv t("OCI_RESOURCE_PRINCIPAL_RPST", token.c_str());
  ScopedEnv k("OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM", pem.c_str());
  EXPECT_EQ(MakeDefaultOciCredentialsProvider()->GetCredentials()->source, "resource principal (OCI_RESOURCE_PRINCIPAL_*)");

  Write(".oci/token", Jwt(Utc(2030, 1, 1, 0, 0, 0), "session"));
  Write(".oci/key.pem", pem);
  WriteConfig("[DEFAULT]\nregion=r\nkey_file=~/.oci/key.pem\nsecurity_token_file=~/.oci/token\n");
  EXPECT_EQ(MakeDefaultOciCredentialsProvider()->GetCredentials()->source,
            "session token of profile 'DEFAULT' in " + home_ + "/.oci/config");

  WriteConfig("[DEFAULT]\n" + ApiKeyProfile());
  EXPECT_EQ(MakeDefaultOciCredentialsProvider()->GetCredentials()->source, "profile 'DEFAULT' in " + home_ + "/.oci/config");

  // A profile that is there but broken stops the chain: it is what the user meant to use.
  WriteConfig("[DEFAULT]\nuser=" + std::string(kUser) + "\n");
  auto broken = MakeDefaultOciCredentialsProvider()->GetCredentials();
  EXPECT_EQ(broken.status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_NE(broken.status().message().find("OCI credentials from OCI config file API key profile"), std::string::npos);
}

class CountingProvider : public OciCredentialsProvider {
 public:
  StatusOr<OciCredentials> GetCredentials() override {
    ++calls;
    if (!next.ok()) return next.status();
    return *next;
  }
  std::string Describe() const override { return "counting"; }
  int calls = 0;
  StatusOr<OciCredentials> next = OciCredentials{};
};

TEST_F(OciCredentialsTest, TheCacheKeepsCredentialsUntilFiveMinutesBeforeExpiry) {
  auto clock = std::make_shared<FakeClock>(Utc(2024, 1, 1, 0, 0, 0));
  auto inner = std::make_shared<CountingProvider>();
  OciCredentials c;
  c.key_id = "ST$a";
  c.expiration = Utc(2024, 1, 1, 1, 0, 0);
  inner->next = c;
  auto cache = MakeCachingOciCredentialsProvider(inner, clock);
  ASSERT_TRUE(cache->GetCredentials().ok());
  clock->Advance(std::chrono::minutes(54));
  ASSERT_TRUE(cache->GetCredentials().ok());
  EXPECT_EQ(inner->calls, 1);
  clock->Advance(std::chrono::minutes(2));  // inside the refresh window
  inner->next = UnauthenticatedError("token file not replaced yet");
  EXPECT_EQ(cache->GetCredentials()->key_id, "ST$a");  // still valid: kept
  EXPECT_EQ(inner->calls, 2);
  clock->Advance(std::chrono::minutes(5));
  EXPECT_FALSE(cache->GetCredentials().ok());
  c.key_id = "ST$b";
  c.expiration.reset();
  inner->next = c;
  EXPECT_EQ(cache->GetCredentials()->key_id, "ST$b");
  EXPECT_EQ(cache->GetCredentials()->key_id, "ST$b");
  EXPECT_EQ(inner->calls, 4);
  cache->Invalidate();
  EXPECT_TRUE(cache->GetCredentials().ok());
  EXPECT_EQ(inner->calls, 5);
}

TEST_F(OciCredentialsTest, TheTenancyOfATokenIsItsTenantClaim) {
  std::shared_ptr<const OciPrivateKey> key;
  const std::string payload = R"({"res_tenant":"ocid1.tenancy.oc1..rp","exp":1})";
  EXPECT_EQ(OciTokenCredentials(Base64UrlEncode("{}") + "." + Base64UrlEncode(payload) + ".s", key, "", "").tenancy,
            "ocid1.tenancy.oc1..rp");
  const std::string session = R"({"tenant":"ocid1.tenancy.oc1..user","exp":1})";
  EXPECT_EQ(OciTokenCredentials(Base64UrlEncode("{}") + "." + Base64UrlEncode(session) + ".s", key, "", "").tenancy,
            "ocid1.tenancy.oc1..user");
  EXPECT_EQ(OciTokenCredentials("not-a-jwt", key, "", "").tenancy, "");
}

TEST_F(OciCredentialsTest, ReadsTheExpiryOfAJwt) {
  EXPECT_EQ(OciTokenExpiry(Jwt(Utc(2030, 5, 6, 7, 8, 9))), Utc(2030, 5, 6, 7, 8, 9));
  EXPECT_FALSE(OciTokenExpiry("not-a-jwt"));
  EXPECT_FALSE(OciTokenExpiry("a.b.c"));
  EXPECT_FALSE(OciTokenExpiry(Base64UrlEncode("{}") + "." + Base64UrlEncode(R"({"exp":"soon"})") + ".s"));
}

}  // namespace
}  // namespace mlflow_bridge::internal
