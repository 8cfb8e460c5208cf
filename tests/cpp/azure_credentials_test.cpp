// Entra ID credentials: the wire format of each provider (client secret, client certificate with its JWT
// assertion, workload identity, managed identity through IMDS), the token endpoint's errors and retries, the
// per-scope cache and its refresh rules, the default chain, and that no secret ever reaches a message. The
// certificates are made here with OpenSSL; nothing outside the repository is read.
#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "azure/credentials.h"
#include "azure/entra.h"
#include "common/base64.h"
#include "common/url.h"
#include "mock_transport.h"
#include "test_support.h"

namespace mlflow_bridge::internal {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using ::mlflow_bridge::testing::FakeClock;
using ::mlflow_bridge::testing::ScopedLogCapture;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kTenant[] = "72f988bf-86f1-41af-91ab-2d7cd011db47";
constexpr char kClient[] = "11111111-2222-3333-4444-555555555555";
constexpr char kSecret[] = "s3cr3t~Value.With_Specials+/=";
constexpr char kAccessToken[] = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.ACCESS-TOKEN-PAYLOAD.SIGNATURE-PART";
constexpr char kTokenUrl[] = "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token";

// ---------------------------------------------------------------- helpers

std::string TokenBody(const std::string& token = kAccessToken, const Json& expires_in = 3599,
                      std::optional<Json> refresh_in = std::nullopt) {
  Json j = {{"token_type", "Bearer"}, {"expires_in", expires_in}, {"ext_expires_in", 3599}, {"access_token", token}};
  if (refresh_in) j["refresh_in"] = *refresh_in;
  return j.dump();
}

std::map<std::string, std::string> ParseForm(const std::string& body) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos <= body.size()) {
    size_t amp = body.find('&', pos);
    std::string pair = body.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    size_t eq = pair.find('=');
    out[PercentDecode(pair.substr(0, eq))] = eq == std::string::npos ? "" : PercentDecode(pair.substr(eq + 1));
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return out;
}

// An environment for one test.
struct FakeEnv {
  std::shared_ptr<std::map<std::string, std::string>> vars = std::make_shared<std::map<std::string, std::string>>();
  EnvGetter getter() const {
    auto v = vars;
    return [v](const std::string& name) -> std::optional<std::string> {
      auto it = v->find(name);
      if (it == v->end() || it->second.empty()) return std::nullopt;
      return it->second;
    };
  }
  std::string& operator[](const std::string& name) { return (*vars)[name]; }
};

struct Fixture {
  std::shared_ptr<FakeClock> clock = std::make_shared<FakeClock>();
  std::shared_ptr<MockTransport> transport = std::make_shared<MockTransport>();
  std::shared_ptr<MockTransport> imds = std::make_shared<MockTransport>();
  FakeEnv env;
  AzureCredentialOptions Options() const {
    AzureCredentialOptions o;
    o.transport = transport;
    o.imds_transport = imds;
    o.clock = clock;
    o.getenv = env.getter();
    return o;
  }
};

long long WallSeconds(FakeClock& clock) {
  return std::chrono::duration_cast<seconds>(clock.WallNow().time_since_epoch()).count();
}

// A temporary folder, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "azure-cred-test-XXXXXX").string();
    char* made = mkdtemp(tmpl.data());
    path_ = made ? made : "";
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  std::string Write(const std::string& name, const std::string& content) const {
    std::string p = path_ + "/" + name;
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// ---------------------------------------------------------------- test certificates

using PKeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;

std::string BioText(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

struct TestCert {
  PKeyPtr key{nullptr, EVP_PKEY_free};
  X509Ptr cert{nullptr, X509_free};

  std::string CertPem() const {
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, cert.get());
    return BioText(b);
  }
  std::string KeyPem(const std::string& password = "") const {
    BIO* b = BIO_new(BIO_s_mem());
    if (password.empty()) {
      PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    } else {
      PEM_write_bio_PKCS8PrivateKey(b, key.get(), EVP_aes_256_cbc(), password.data(), static_cast<int>(password.size()),
                                    nullptr, nullptr);
    }
    return BioText(b);
  }
  std::string Der() const {
    int n = i2d_X509(cert.get(), nullptr);
    std::string out(static_cast<size_t>(n), '\0');
    auto* p = reinterpret_cast<unsigned char*>(out.data());
    i2d_X509(cert.get(), &p);
    return out;
  }
  std::string Pkcs12(const std::string& password, const std::vector<const TestCert*>& extra = {}) const {
    STACK_OF(X509)* ca = sk_X509_new_null();
    for (const TestCert* c : extra) sk_X509_push(ca, c->cert.get());
    PKCS12* p12 = PKCS12_create(password.c_str(), "test", key.get(), cert.get(), ca, 0, 0, 0, 0, 0);
    sk_X509_free(ca);
    BIO* b = BIO_new(BIO_s_mem());
    i2d_PKCS12_bio(b, p12);
    PKCS12_free(p12);
    return BioText(b);
  }
};

TestCert MakeCert(const std::string& cn, bool rsa = true, long serial = 1) {
  TestCert c;
  c.key.reset(rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256"));
  c.cert.reset(X509_new());
  X509* x = c.cert.get();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365);
  X509_set_pubkey(x, c.key.get());
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509_sign(x, c.key.get(), EVP_sha256());
  return c;
}

// Made once: RSA key generation takes a moment.
const TestCert& LeafCert() {
  static const TestCert* c = new TestCert(MakeCert("mlflow-bridge test app", true, 1));
  return *c;
}
const TestCert& OtherCert() {
  static const TestCert* c = new TestCert(MakeCert("mlflow-bridge test CA", true, 2));
  return *c;
}

// The padded base64url SHA-1 of the DER certificate, computed here independently of the code under test.
std::string ExpectedX5t(const TestCert& c) {
  std::string der = c.Der();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(der.data(), der.size(), md, &n, EVP_sha1(), nullptr);
  unsigned char b64[64];
  int len = EVP_EncodeBlock(b64, md, static_cast<int>(n));
  std::string out(reinterpret_cast<char*>(b64), static_cast<size_t>(len));
  for (char& ch : out) {
    if (ch == '+') ch = '-';
    if (ch == '/') ch = '_';
  }
  return out;
}

struct DecodedJwt {
  Json header;
  Json claims;
  std::string signing_input;
  std::string signature;
};

DecodedJwt DecodeJwt(const std::string& jwt) {
  DecodedJwt d;
  size_t a = jwt.find('.');
  size_t b = jwt.rfind('.');
  EXPECT_NE(a, b) << "not a JWT";
  d.header = Json::parse(Base64UrlDecode(jwt.substr(0, a)).value_or("null"));
  d.claims = Json::parse(Base64UrlDecode(jwt.substr(a + 1, b - a - 1)).value_or("null"));
  d.signing_input = jwt.substr(0, b);
  d.signature = Base64UrlDecode(jwt.substr(b + 1)).value_or("");
  return d;
}

bool VerifyRs256(const TestCert& c, const DecodedJwt& jwt) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, X509_get0_pubkey(c.cert.get())) != 1) return false;
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(jwt.signature.data()), jwt.signature.size(),
                          reinterpret_cast<const unsigned char*>(jwt.signing_input.data()), jwt.signing_input.size()) == 1;
}

// A scripted credential for the cache and the chain.
class ScriptedCredential : public TokenCredential {
 public:
  explicit ScriptedCredential(std::string name = "scripted") : name_(std::move(name)) {}
  void Enqueue(StatusOr<AccessToken> r) {
    std::lock_guard<std::mutex> lock(mu_);
    replies_.push_back(std::move(r));
  }
  StatusOr<AccessToken> GetToken(const std::string& scope) override {
    std::lock_guard<std::mutex> lock(mu_);
    scopes.push_back(scope);
    if (replies_.empty()) return InternalError("ScriptedCredential: no reply queued");
    StatusOr<AccessToken> r = replies_.front();
    replies_.erase(replies_.begin());
    return r;
  }
  std::string Describe() const override { return name_; }
  size_t calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return scopes.size();
  }
  std::vector<std::string> scopes;

 private:
  std::string name_;
  std::mutex mu_;
  std::vector<StatusOr<AccessToken>> replies_;
};

AccessToken Token(const std::string& text, std::chrono::system_clock::time_point expires_on,
                  std::optional<std::chrono::system_clock::time_point> refresh_on = std::nullopt) {
  return AccessToken{text, expires_on, refresh_on};
}

// ---------------------------------------------------------------- shared pieces

TEST(AzureBase64Url, EncodesWithAndWithoutPaddingAndDecodes) {
  EXPECT_EQ(Base64UrlEncode(std::string("\xfb\xff\xfe", 3)), "-__-");
  EXPECT_EQ(Base64UrlEncode("ab"), "YWI");
  EXPECT_EQ(Base64UrlEncode("ab", /*pad=*/true), "YWI=");
  EXPECT_EQ(Base64UrlDecode("-__-").value(), std::string("\xfb\xff\xfe", 3));
  EXPECT_EQ(Base64UrlDecode("YWI").value(), "ab");
  EXPECT_EQ(Base64UrlDecode("YWI=").value(), "ab");
  EXPECT_FALSE(Base64UrlDecode("+/+/").has_value());
}

TEST(AzureAuthority, NormalisesAsAzureIdentityDoes) {
  EXPECT_EQ(NormalizeAuthorityHost("").value(), "https://login.microsoftonline.com");
  EXPECT_EQ(NormalizeAuthorityHost("login.microsoftonline.us").value(), "https://login.microsoftonline.us");
  EXPECT_EQ(NormalizeAuthorityHost("https://login.chinacloudapi.cn/").value(), "https://login.chinacloudapi.cn");
  EXPECT_EQ(NormalizeAuthorityHost("https://127.0.0.1:8443 / ").value(), "https://127.0.0.1:8443");
  EXPECT_EQ(NormalizeAuthorityHost("HTTPS://login.example//").value(), "https://login.example");
  EXPECT_EQ(NormalizeAuthorityHost("localhost:8443").value(), "https://localhost:8443");
  StatusOr<std::string> bad = NormalizeAuthorityHost("http://login.example");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_NE(bad.status().message().find("AZURE_AUTHORITY_HOST"), std::string::npos) << bad.status().message();
  EXPECT_NE(bad.status().message().find("https"), std::string::npos) << bad.status().message();
  EXPECT_FALSE(NormalizeAuthorityHost("ftp://x").ok());
}

TEST(AzureAuthority, TenantAndScopeChecks) {
  EXPECT_TRUE(ValidateTenantId(kTenant).ok());
  EXPECT_TRUE(ValidateTenantId("contoso.onmicrosoft.com").ok());
  EXPECT_FALSE(ValidateTenantId("").ok());
  EXPECT_FALSE(ValidateTenantId("a/../b").ok());
  EXPECT_FALSE(ValidateTenantId("x?y=1").ok());
  EXPECT_TRUE(ValidateScope(kArmScope).ok());
  EXPECT_FALSE(ValidateScope("https://x/.default&client_secret=1").ok());
  EXPECT_EQ(ScopeToResource(kArmScope), "https://management.azure.com");
  EXPECT_EQ(ScopeToResource("api://app"), "api://app");
  EXPECT_EQ(TokenUrl("https://login.microsoftonline.com", kTenant), kTokenUrl);
}

TEST(AzureAuthority, AuthorityHostFromTheEnvironmentIsUsedAndHttpRejected) {
  Fixture f;
  f.env["AZURE_TENANT_ID"] = kTenant;
  f.env["AZURE_CLIENT_ID"] = kClient;
  f.env["AZURE_CLIENT_SECRET"] = kSecret;
  f.env["AZURE_AUTHORITY_HOST"] = "login.microsoftonline.us/";
  StatusOr<ClientSecretSettings> s = ClientSecretSettingsFromEnv(f.env.getter());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->authority_host, "https://login.microsoftonline.us");
  auto cred = MakeClientSecretCredential(*s, f.Options());
  ASSERT_TRUE(cred.ok());
  f.transport->Enqueue(200, TokenBody());
  ASSERT_TRUE((*cred)->GetToken(kArmScope).ok());
  EXPECT_EQ(f.transport->requests().at(0).url,
            std::string("https://login.microsoftonline.us/") + kTenant + "/oauth2/v2.0/token");

  f.env["AZURE_AUTHORITY_HOST"] = "http://login.example";
  StatusOr<ClientSecretSettings> bad = ClientSecretSettingsFromEnv(f.env.getter());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidParameterValue);
  // The default chain stops there instead of falling through to another identity.
  auto chain = MakeDefaultAzureCredential(f.Options());
  ASSERT_TRUE(chain.ok());
  StatusOr<AccessToken> t = (*chain)->GetToken(kArmScope);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_NE(t.status().message().find("https"), std::string::npos) << t.status().message();
  EXPECT_TRUE(f.imds->requests().empty());
}

TEST(AzureTokenResponse, ParsesNumbersStringsAndRefreshIn) {
  const auto now = testing::Utc(2024, 1, 1, 0, 0, 0);
  StatusOr<AccessToken> a = ParseTokenResponse(TokenBody(kAccessToken, 3599), now);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->token, kAccessToken);
  EXPECT_EQ(a->expires_on, now + seconds(3599));
  EXPECT_FALSE(a->refresh_on.has_value());
  StatusOr<AccessToken> b = ParseTokenResponse(TokenBody("t", "86399"), now);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->expires_on, now + seconds(86399));
  EXPECT_EQ(b->refresh_on, now + seconds(43199));  // half of a lifetime of two hours or more
  StatusOr<AccessToken> c = ParseTokenResponse(TokenBody("t", 86399, Json("3600")), now);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->refresh_on, now + seconds(3600));
  StatusOr<AccessToken> d = ParseTokenResponse(R"({"access_token":"t","expires_on":"1704070800"})", now);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->expires_on, now + seconds(3600));

  // A broken reply never quotes the body: it may hold a token.
  StatusOr<AccessToken> e = ParseTokenResponse(R"({"accesstoken":"TOPSECRET-TOKEN","expires_in":1})", now);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().message().find("TOPSECRET"), std::string::npos);
  StatusOr<AccessToken> g = ParseTokenResponse(R"({"access_token":"TOPSECRET-TOKEN"})", now);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().message().find("TOPSECRET"), std::string::npos);
  EXPECT_FALSE(ParseTokenResponse("TOPSECRET not json", now).status().message().find("TOPSECRET") != std::string::npos);
}

// ---------------------------------------------------------------- client secret

StatusOr<std::shared_ptr<TokenCredential>> SecretCredential(Fixture& f) {
  f.env["AZURE_TENANT_ID"] = kTenant;
  f.env["AZURE_CLIENT_ID"] = kClient;
  f.env["AZURE_CLIENT_SECRET"] = kSecret;
  StatusOr<ClientSecretSettings> s = ClientSecretSettingsFromEnv(f.env.getter());
  if (!s.ok()) return s.status();
  return MakeClientSecretCredential(*s, f.Options());
}

TEST(AzureClientSecret, PostsTheClientCredentialsForm) {
  Fixture f;
  auto cred = SecretCredential(f);
  ASSERT_TRUE(cred.ok()) << cred.status().ToString();
  f.transport->Enqueue(200, TokenBody(kAccessToken, 3599, Json(1800)));
  StatusOr<AccessToken> t = (*cred)->GetToken(kArmScope);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->token, kAccessToken);
  EXPECT_EQ(t->expires_on, f.clock->WallNow() + seconds(3599));
  EXPECT_EQ(t->refresh_on, f.clock->WallNow() + seconds(1800));

  auto reqs = f.transport->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].url, kTokenUrl);
  EXPECT_EQ(FindHeader(reqs[0].headers, "Content-Type").value_or(""), "application/x-www-form-urlencoded");
  std::map<std::string, std::string> expected = {{"client_id", kClient},
                                                 {"client_secret", kSecret},
                                                 {"grant_type", "client_credentials"},
                                                 {"scope", kArmScope},
                                                 {"client_info", "1"}};
  EXPECT_EQ(ParseForm(reqs[0].body), expected);
  // Percent-encoded, as a form must be.
  EXPECT_NE(reqs[0].body.find("scope=https%3A%2F%2Fmanagement.azure.com%2F.default"), std::string::npos);
  EXPECT_NE(reqs[0].body.find("client_secret=s3cr3t~Value.With_Specials%2B%2F%3D"), std::string::npos);
}

TEST(AzureClientSecret, MissingVariablesAreNamed) {
  FakeEnv env;
  env["AZURE_CLIENT_ID"] = kClient;
  StatusOr<ClientSecretSettings> s = ClientSecretSettingsFromEnv(env.getter());
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(IsCredentialUnavailable(s.status()));
  EXPECT_EQ(s.status().message(), "AZURE_TENANT_ID and AZURE_CLIENT_SECRET are not set");
}

TEST(AzureClientSecret, AadstsErrorIsUnauthenticatedWithCodeAndFirstLine) {
  Fixture f;
  auto cred = SecretCredential(f);
  ASSERT_TRUE(cred.ok());
  Json err = {{"error", "invalid_client"},
              {"error_description",
               "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client "
               "secret value, not the client secret ID.\r\nTrace ID: 0c1f\r\nCorrelation ID: 9d2e\r\nTimestamp: "
               "2024-01-01 00:00:00Z"},
              {"error_codes", {7000215}},
              {"trace_id", "0c1f-trace"},
              {"correlation_id", "9d2e"}};
  f.transport->Enqueue(401, err.dump());
  StatusOr<AccessToken> t = (*cred)->GetToken(kArmScope);
  ASSERT_FALSE(t.ok());
  const Status& s = t.status();
  EXPECT_EQ(s.code(), StatusCode::kUnauthenticated);
  EXPECT_TRUE(s.final());
  EXPECT_NE(s.message().find("AADSTS7000215: Invalid client secret provided."), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("invalid_client"), std::string::npos);
  EXPECT_NE(s.message().find(kClient), std::string::npos);
  EXPECT_NE(s.message().find("AZURE_CLIENT_SECRET"), std::string::npos);  // the hint
  EXPECT_EQ(s.message().find("Correlation ID"), std::string::npos);       // first line only
  EXPECT_EQ(s.message().find(kSecret), std::string::npos);
  EXPECT_EQ(f.transport->requests().size(), 1u);  // a refusal is not retried
}

TEST(AzureClientSecret, ErrorCodesWithoutPrefixInDescription) {
  HttpResponse r{400, {}, R"({"error":"invalid_request","error_description":"Tenant not found.","error_codes":[90002]})"};
  Status s = EntraErrorStatus(r, "x", testing::Utc(2024, 1, 1, 0, 0, 0));
  EXPECT_EQ(s.code(), StatusCode::kUnauthenticated);
  EXPECT_NE(s.message().find("AADSTS90002: Tenant not found."), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("AZURE_TENANT_ID"), std::string::npos) << s.message();
}

TEST(AzureClientSecret, RetriesThrottlingAndServerErrorsThenSucceeds) {
  Fixture f;
  auto cred = SecretCredential(f);
  ASSERT_TRUE(cred.ok());
  f.transport->Enqueue(503, R"({"error":"temporarily_unavailable","error_description":"AADSTS90033: busy"})");
  f.transport->Enqueue(429, "", {{"Retry-After", "2"}});
  f.transport->Enqueue(UnavailableError("connection refused").set_not_processed());
  f.transport->Enqueue(200, TokenBody());
  StatusOr<AccessToken> t = (*cred)->GetToken(kArmScope);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(f.transport->requests().size(), 4u);
  ASSERT_EQ(f.clock->sleeps.size(), 3u);
  EXPECT_EQ(f.clock->sleeps[1], milliseconds(2000));
  for (const auto& r : f.transport->requests()) EXPECT_EQ(r.body, f.transport->requests()[0].body);
}

TEST(AzureClientSecret, GivesUpAfterItsAttemptsWithAFinalStatus) {
  Fixture f;
  auto cred = SecretCredential(f);
  ASSERT_TRUE(cred.ok());
  for (int i = 0; i < 4; ++i) f.transport->Enqueue(500, R"({"error":"server_error"})");
  StatusOr<AccessToken> t = (*cred)->GetToken(kArmScope);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_TRUE(t.status().final());
  EXPECT_NE(t.status().message().find("after 4 attempts"), std::string::npos) << t.status().message();
  EXPECT_EQ(f.transport->requests().size(), 4u);
}

TEST(AzureClientSecret, SecretEchoedByTheServerIsScrubbed) {
  Fixture f;
  auto cred = SecretCredential(f);
  ASSERT_TRUE(cred.ok());
  Json err = {{"error", "invalid_client"},
              {"error_description", std::string("AADSTS7000215: Invalid client secret provided: ") + kSecret}};
  f.transport->Enqueue(401, err.dump());
  StatusOr<AccessToken> t = (*cred)->GetToken(kArmScope);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message().find(kSecret), std::string::npos) << t.status().message();
  EXPECT_NE(t.status().message().find("[REDACTED]"), std::string::npos) << t.status().message();
  // Likewise a non-JSON error body.
  f.transport->Enqueue(400, std::string("bad request for ") + kSecret);
  t = (*cred)->GetToken(kArmScope);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message().find(kSecret), std::string::npos) << t.status().message();
}

TEST(AzureClientSecret, BadScopeIsRefusedBeforeAnyRequest) {
  Fixture f;
  auto cred = SecretCredential(f);
  ASSERT_TRUE(cred.ok());
  StatusOr<AccessToken> t = (*cred)->GetToken("https://x/.default&grant_type=password");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_TRUE(f.transport->requests().empty());
}

// ---------------------------------------------------------------- client certificate

struct CertSetup {
  Fixture f;
  TempDir dir;
  StatusOr<std::shared_ptr<TokenCredential>> Make(const std::string& file_content, const std::string& password = "",
                                                  bool chain = false, const std::string& name = "cert.pem") {
    f.env["AZURE_TENANT_ID"] = kTenant;
    f.env["AZURE_CLIENT_ID"] = kClient;
    f.env["AZURE_CLIENT_CERTIFICATE_PATH"] = dir.Write(name, file_content);
    f.env["AZURE_CLIENT_CERTIFICATE_PASSWORD"] = password;
    f.env["AZURE_CLIENT_SEND_CERTIFICATE_CHAIN"] = chain ? "True" : "";
    StatusOr<ClientCertificateSettings> s = ClientCertificateSettingsFromEnv(f.env.getter());
    if (!s.ok()) return s.status();
    return MakeClientCertificateCredential(*s, f.Options());
  }
  // The assertion of the n-th request, after checking the rest of its form.
  std::string Assertion(size_t n) {
    auto reqs = f.transport->requests();
    EXPECT_GT(reqs.size(), n);
    if (reqs.size() <= n) return "";
    EXPECT_EQ(reqs[n].url, kTokenUrl);
    EXPECT_EQ(reqs[n].method, "POST");
    std::map<std::string, std::string> form = ParseForm(reqs[n].body);
    std::string assertion = form["client_assertion"];
    form.erase("client_assertion");
    std::map<std::string, std::string> expected = {
        {"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
        {"client_id", kClient},
        {"grant_type", "client_credentials"},
        {"scope", kArmScope},
        {"client_info", "1"}};
    EXPECT_EQ(form, expected);
    return assertion;
  }
};

TEST(AzureClientCertificate, SignsAnRs256AssertionWithX5t) {
  CertSetup c;
  const TestCert& leaf = LeafCert();
  auto cred = c.Make(leaf.CertPem() + leaf.KeyPem());
  ASSERT_TRUE(cred.ok()) << cred.status().ToString();
  c.f.transport->Enqueue(200, TokenBody());
  StatusOr<AccessToken> t = (*cred)->GetToken(kArmScope);
  ASSERT_TRUE(t.ok()) << t.status().ToString();

  DecodedJwt jwt = DecodeJwt(c.Assertion(0));
  EXPECT_EQ(jwt.header["alg"], "RS256");
  EXPECT_EQ(jwt.header["typ"], "JWT");
  const std::string x5t = ExpectedX5t(leaf);
  EXPECT_EQ(x5t.size(), 28u);
  EXPECT_EQ(x5t.back(), '=');  // MSAL keeps the padding
  EXPECT_EQ(jwt.header["x5t"], x5t);
  EXPECT_FALSE(jwt.header.contains("x5c"));
  EXPECT_EQ(jwt.header.size(), 3u);

  const long long now = WallSeconds(*c.f.clock);
  EXPECT_EQ(jwt.claims["aud"], kTokenUrl);
  EXPECT_EQ(jwt.claims["iss"], kClient);
  EXPECT_EQ(jwt.claims["sub"], kClient);
  EXPECT_EQ(jwt.claims["iat"], now);
  EXPECT_EQ(jwt.claims["exp"], now + 600);
  EXPECT_TRUE(std::regex_match(jwt.claims["jti"].get<std::string>(),
                               std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << jwt.claims["jti"];
  EXPECT_EQ(jwt.claims.size(), 6u);
  EXPECT_TRUE(VerifyRs256(leaf, jwt));
}

TEST(AzureClientCertificate, ReusesTheAssertionUntilAMinuteBeforeItExpires) {
  CertSetup c;
  const TestCert& leaf = LeafCert();
  auto cred = c.Make(leaf.KeyPem() + leaf.CertPem());  // key first works too
  ASSERT_TRUE(cred.ok()) << cred.status().ToString();
  for (int i = 0; i < 4; ++i) c.f.transport->Enqueue(200, TokenBody());
  ASSERT_TRUE((*cred)->GetToken(kArmScope).ok());
  c.f.clock->Advance(seconds(300));
  ASSERT_TRUE((*cred)->GetToken(kArmScope).ok());
  c.f.clock->Advance(seconds(239));  // 539 s: still 61 s left
  ASSERT_TRUE((*cred)->GetToken(kArmScope).ok());
  c.f.clock->Advance(seconds(2));  // 541 s: within the last minute
  ASSERT_TRUE((*cred)->GetToken(kArmScope).ok());
  std::string a0 = c.Assertion(0), a1 = c.Assertion(1), a2 = c.Assertion(2), a3 = c.Assertion(3);
  EXPECT_EQ(a0, a1);
  EXPECT_EQ(a0, a2);
  EXPECT_NE(a0, a3);
  DecodedJwt fresh = DecodeJwt(a3);
  EXPECT_EQ(fresh.claims["iat"], WallSeconds(*c.f.clock));
  EXPECT_NE(fresh.claims["jti"], DecodeJwt(a0).claims["jti"]);
  EXPECT_TRUE(VerifyRs256(leaf, fresh));
}

TEST(AzureClientCertificate, SendsTheChainSignerFirstWhenAsked) {
  CertSetup c;
  const TestCert& leaf = LeafCert();
  const TestCert& other = OtherCert();
  // The other certificate comes first in the file; the one matching the key signs and leads x5c.
  auto cred = c.Make(other.CertPem() + leaf.CertPem() + leaf.KeyPem(), "", /*chain=*/true);
  ASSERT_TRUE(cred.ok()) << cred.status().ToString();
  c.f.transport->Enqueue(200, TokenBody());
  ASSERT_TRUE((*cred)->GetToken(kArmScope).ok());
  DecodedJwt jwt = DecodeJwt(c.Assertion(0));
  EXPECT_EQ(jwt.header["x5t"], ExpectedX5t(leaf));
  ASSERT_TRUE(jwt.header["x5c"].is_array());
  ASSERT_EQ(jwt.header["x5c"].size(), 2u);
  EXPECT_EQ(Base64Decode(jwt.header["x5c"][0].get<std::string>()).value(), leaf.Der());  // standard base64
  EXPECT_EQ(Base64Decode(jwt.header["x5c"][1].get<std::string>()).value(), other.Der());
  EXPECT_TRUE(VerifyRs256(leaf, jwt));
}

TEST(AzureClientCertificate, EncryptedPemKeyNeedsThePassword) {
  const TestCert& leaf = LeafCert();
  const std::string password = "pem-P4ssword!";
  {
    CertSetup c;
    auto cred = c.Make(leaf.CertPem() + leaf.KeyPem(password), password);
    ASSERT_TRUE(cred.ok()) << cred.status().ToString();
    c.f.transport->Enqueue(200, TokenBody());
    ASSERT_TRUE((*cred)->GetToken(kArmScope).ok());
    EXPECT_TRUE(VerifyRs256(leaf, DecodeJwt(c.Assertion(0))));
  }
  {
    CertSetup c;
    auto cred = c.Make(leaf.CertPem() + leaf.KeyPem(password));
    ASSERT_FALSE(cred.ok());
    EXPECT_EQ(cred.status().code(), StatusCode::kInvalidParameterValue);
    EXPECT_NE(cred.status().message().find("AZURE_CLIENT_CERTIFICATE_PASSWORD"), std::string::npos)
        << cred.status().message();
  }
  {
    CertSetup c;
    auto cred = c.Make(leaf.CertPem() + leaf.KeyPem(password), "wrong-Password-123");
    ASSERT_FALSE(cred.ok());
    EXPECT_EQ(cred.status().message().find("wrong-Password-123"), std::string::npos);
  }
}

TEST(AzureClientCertificate, LoadsPkcs12WithItsPassword) {
  const TestCert& leaf = LeafCert();
  const TestCert& other = OtherCert();
  const std::string password = "pfx-P4ssword!";
  CertSetup c;
  auto cred = c.Make(leaf.Pkcs12(password, {&other}), password, /*chain=*/true, "cert.pfx");
  ASSERT_TRUE(cred.ok()) << cred.status().ToString();
  c.f.transport->Enqueue(200, TokenBody());
  ASSERT_TRUE((*cred)->GetToken(kArmScope).ok());
  DecodedJwt jwt = DecodeJwt(c.Assertion(0));
  EXPECT_EQ(jwt.header["x5t"], ExpectedX5t(leaf));
  ASSERT_EQ(jwt.header["x5c"].size(), 2u);
  EXPECT_EQ(Base64Decode(jwt.header["x5c"][0].get<std::string>()).value(), leaf.Der());
  EXPECT_TRUE(VerifyRs256(leaf, jwt));

  CertSetup wrong;
  auto bad = wrong.Make(leaf.Pkcs12(password), "not-the-Password", false, "cert.pfx");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_EQ(bad.status().message().find("not-the-Password"), std::string::npos);
  EXPECT_EQ(bad.status().message().find(password), std::string::npos);
}

TEST(AzureClientCertificate, RefusesNonRsaKeysMismatchedKeysAndMissingFiles) {
  const TestCert& leaf = LeafCert();
  const TestCert& other = OtherCert();
  {
    TestCert ec = MakeCert("ec", /*rsa=*/false);
    CertSetup c;
    auto cred = c.Make(ec.CertPem() + ec.KeyPem());
    ASSERT_FALSE(cred.ok());
    EXPECT_NE(cred.status().message().find("RSA"), std::string::npos) << cred.status().message();
  }
  {
    CertSetup c;
    auto cred = c.Make(other.CertPem() + leaf.KeyPem());
    ASSERT_FALSE(cred.ok());
    EXPECT_NE(cred.status().message().find("matches"), std::string::npos) << cred.status().message();
  }
  {
    CertSetup c;
    auto cred = c.Make(leaf.CertPem());
    ASSERT_FALSE(cred.ok());
    EXPECT_NE(cred.status().message().find("private key"), std::string::npos) << cred.status().message();
  }
  {
    Fixture f;
    ClientCertificateSettings s{kTenant, kClient, "/nonexistent/dir/cert.pem", "", false, ""};
    auto cred = MakeClientCertificateCredential(s, f.Options());
    ASSERT_FALSE(cred.ok());
    EXPECT_EQ(cred.status().code(), StatusCode::kInvalidParameterValue);
    EXPECT_NE(cred.status().message().find("/nonexistent/dir/cert.pem"), std::string::npos);
  }
}

TEST(AzureClientCertificate, AssertionNeverInErrors) {
  CertSetup c;
  const TestCert& leaf = LeafCert();
  auto cred = c.Make(leaf.CertPem() + leaf.KeyPem());
  ASSERT_TRUE(cred.ok());
  // A server that quotes the assertion, or its signature part, back.
  c.f.transport->Enqueue(200, TokenBody());
  ASSERT_TRUE((*cred)->GetToken(kArmScope).ok());
  const std::string assertion = c.Assertion(0);
  const std::string signature = assertion.substr(assertion.rfind('.') + 1);
  Json err = {{"error", "invalid_client"},
              {"error_description", "AADSTS700027: bad assertion " + assertion + " sig " + signature}};
  c.f.transport->Enqueue(401, err.dump());
  StatusOr<AccessToken> t = (*cred)->GetToken(kArmScope);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(t.status().message().find(assertion), std::string::npos);
  EXPECT_EQ(t.status().message().find(signature), std::string::npos);
  EXPECT_NE(t.status().message().find("AADSTS700027"), std::string::npos);
}

// ---------------------------------------------------------------- workload identity

TEST(AzureWorkloadIdentity, SendsTheTokenFileAsAssertion) {
  Fixture f;
  TempDir dir;
  const std::string projected = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZGVmYXVsdDp3b3JrbG9hZCJ9.c2ln";
  f.env["AZURE_TENANT_ID"] = kTenant;
  f.env["AZURE_CLIENT_ID"] = kClient;
  f.env["AZURE_FEDERATED_TOKEN_FILE"] = dir.Write("token", projected + "\n");
  StatusOr<WorkloadIdentitySettings> s = WorkloadIdentitySettingsFromEnv(f.env.getter());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto cred = MakeWorkloadIdentityCredential(*s, f.Options());
  ASSERT_TRUE(cred.ok()) << cred.status().ToString();
  f.transport->Enqueue(200, TokenBody());
  ASSERT_TRUE((*cred)->GetToken(kStorageScope).ok());
  auto reqs = f.transport->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].url, kTokenUrl);
  std::map<std::string, std::string> expected = {
      {"client_assertion", projected},
      {"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
      {"client_id", kClient},
      {"grant_type", "client_credentials"},
      {"scope", kStorageScope}};
  EXPECT_EQ(ParseForm(reqs[0].body), expected);
}

TEST(AzureWorkloadIdentity, RereadsTheFileWhenMoreThan600SecondsOld) {
  Fixture f;
  TempDir dir;
  const std::string file = dir.Write("token", "first.token.value");
  auto cred = MakeWorkloadIdentityCredential(WorkloadIdentitySettings{kTenant, kClient, file, ""}, f.Options());
  ASSERT_TRUE(cred.ok());
  for (int i = 0; i < 4; ++i) f.transport->Enqueue(200, TokenBody());
  ASSERT_TRUE((*cred)->GetToken(kArmScope).ok());
  dir.Write("token", "second.token.value");
  f.clock->Advance(seconds(300));
  ASSERT_TRUE((*cred)->GetToken(kArmScope).ok());
  f.clock->Advance(seconds(300));  // exactly 600 s: not more
  ASSERT_TRUE((*cred)->GetToken(kArmScope).ok());
  f.clock->Advance(seconds(1));
  ASSERT_TRUE((*cred)->GetToken(kArmScope).ok());
  auto reqs = f.transport->requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(ParseForm(reqs[0].body)["client_assertion"], "first.token.value");
  EXPECT_EQ(ParseForm(reqs[1].body)["client_assertion"], "first.token.value");
  EXPECT_EQ(ParseForm(reqs[2].body)["client_assertion"], "first.token.value");
  EXPECT_EQ(ParseForm(reqs[3].body)["client_assertion"], "second.token.value");
}

TEST(AzureWorkloadIdentity, UnreadableFileIsAClearError) {
  Fixture f;
  auto cred =
      MakeWorkloadIdentityCredential(WorkloadIdentitySettings{kTenant, kClient, "/nonexistent/token", ""}, f.Options());
  ASSERT_TRUE(cred.ok());
  StatusOr<AccessToken> t = (*cred)->GetToken(kArmScope);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_TRUE(t.status().final());
  EXPECT_NE(t.status().message().find("/nonexistent/token"), std::string::npos);
  EXPECT_NE(t.status().message().find("AZURE_FEDERATED_TOKEN_FILE"), std::string::npos);
  EXPECT_TRUE(f.transport->requests().empty());

  FakeEnv env;
  env["AZURE_TENANT_ID"] = kTenant;
  StatusOr<WorkloadIdentitySettings> s = WorkloadIdentitySettingsFromEnv(env.getter());
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(IsCredentialUnavailable(s.status()));
  EXPECT_EQ(s.status().message(), "AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE are not set");
}

// ---------------------------------------------------------------- managed identity

StatusOr<std::shared_ptr<TokenCredential>> ImdsCredential(Fixture& f, ManagedIdentityId id = {}) {
  return MakeManagedIdentityCredential(ManagedIdentitySettingsFromEnv(f.env.getter(), id), f.Options());
}

std::string ImdsBody(const std::string& token = kAccessToken) {
  return Json{{"access_token", token},
              {"client_id", kClient},
              {"expires_in", "86399"},
              {"expires_on", "1704153599"},
              {"ext_expires_in", "86399"},
              {"not_before", "1704067200"},
              {"resource", "https://management.azure.com"},
              {"token_type", "Bearer"}}
      .dump();
}

TEST(AzureManagedIdentity, AsksImdsWithTheResourceAndMetadataHeader) {
  Fixture f;
  auto cred = ImdsCredential(f);
  ASSERT_TRUE(cred.ok()) << cred.status().ToString();
  f.imds->Enqueue(200, ImdsBody());
  StatusOr<AccessToken> t = (*cred)->GetToken(kArmScope);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->token, kAccessToken);
  EXPECT_EQ(t->expires_on, f.clock->WallNow() + seconds(86399));  // expires_in as a string
  EXPECT_EQ(t->refresh_on, f.clock->WallNow() + seconds(43199));
  auto reqs = f.imds->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "GET");
  EXPECT_EQ(reqs[0].url,
            "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2F"
            "management.azure.com");
  EXPECT_EQ(FindHeader(reqs[0].headers, "Metadata").value_or(""), "true");
  EXPECT_TRUE(reqs[0].body.empty());
  EXPECT_TRUE(f.transport->requests().empty());
}

TEST(AzureManagedIdentity, UserAssignedIdsAndTheEndpointVariable) {
  struct Case {
    ManagedIdentityId id;
    std::string query;
  };
  const std::string rid = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u";
  std::vector<Case> cases = {
      {{ManagedIdentityId::Kind::kClientId, "cid"}, "&client_id=cid"},
      {{ManagedIdentityId::Kind::kObjectId, "oid"}, "&object_id=oid"},
      {{ManagedIdentityId::Kind::kResourceId, rid}, "&msi_res_id=" + UriEncode(rid)},
  };
  for (const Case& c : cases) {
    Fixture f;
    f.env["AZURE_POD_IDENTITY_AUTHORITY_HOST"] = "http://127.0.0.1:8099/";
    f.env["AZURE_CLIENT_ID"] = "ignored-when-an-id-is-configured";
    auto cred = ImdsCredential(f, c.id);
    ASSERT_TRUE(cred.ok());
    f.imds->Enqueue(200, ImdsBody());
    ASSERT_TRUE((*cred)->GetToken(kStorageScope).ok());
    EXPECT_EQ(f.imds->requests().at(0).url,
              "http://127.0.0.1:8099/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2F"
              "storage.azure.com" +
                  c.query);
  }
  // AZURE_CLIENT_ID names the user-assigned identity when none is configured, as DefaultAzureCredential does.
  Fixture f;
  f.env["AZURE_CLIENT_ID"] = kClient;
  auto cred = ImdsCredential(f);
  ASSERT_TRUE(cred.ok());
  f.imds->Enqueue(200, ImdsBody());
  ASSERT_TRUE((*cred)->GetToken(kArmScope).ok());
  EXPECT_NE(f.imds->requests().at(0).url.find(std::string("&client_id=") + kClient), std::string::npos);
  EXPECT_NE((*cred)->Describe().find(kClient), std::string::npos);
}

TEST(AzureManagedIdentity, RetriesOn404And429And503ThenSucceeds) {
  Fixture f;
  auto cred = ImdsCredential(f);
  ASSERT_TRUE(cred.ok());
  f.imds->Enqueue(404, R"({"error":"not_found","error_description":"Identity not found yet"})");
  f.imds->Enqueue(429, "Too many requests", {{"Retry-After", "3"}});
  f.imds->Enqueue(503, "", {{"x-ms-retry-after-ms", "1500"}});
  f.imds->Enqueue(200, ImdsBody());
  StatusOr<AccessToken> t = (*cred)->GetToken(kArmScope);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(f.imds->requests().size(), 4u);
  ASSERT_EQ(f.clock->sleeps.size(), 3u);
  EXPECT_EQ(f.clock->sleeps[1], milliseconds(3000));
  EXPECT_EQ(f.clock->sleeps[2], milliseconds(1500));
}

TEST(AzureManagedIdentity, WaitsLongerOn410AndGivesUpAfterItsAttempts) {
  Fixture f;
  auto cred = ImdsCredential(f);
  ASSERT_TRUE(cred.ok());
  f.imds->Enqueue(410, "upgrading", {{"Server", "IMDS/150.870.65.1325"}});  // IMDS's own, though not JSON
  f.imds->Enqueue(410, "upgrading");
  f.imds->Enqueue(200, ImdsBody());
  ASSERT_TRUE((*cred)->GetToken(kArmScope).ok());
  ASSERT_EQ(f.clock->sleeps.size(), 2u);
  EXPECT_EQ(f.clock->sleeps[0], milliseconds(5000));
  EXPECT_EQ(f.clock->sleeps[1], milliseconds(10000));

  Fixture g;
  auto cred2 = ImdsCredential(g);
  ASSERT_TRUE(cred2.ok());
  for (int i = 0; i < 6; ++i) g.imds->Enqueue(500, R"({"error":"server_error"})");
  StatusOr<AccessToken> t = (*cred2)->GetToken(kArmScope);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_TRUE(t.status().final());
  EXPECT_EQ(g.imds->requests().size(), 6u);
  EXPECT_NE(t.status().message().find("after 6 attempts"), std::string::npos) << t.status().message();
}

TEST(AzureManagedIdentity, Http400MeansNoIdentityAssigned) {
  Fixture f;
  auto cred = ImdsCredential(f);
  ASSERT_TRUE(cred.ok());
  f.imds->Enqueue(400, R"({"error":"invalid_request","error_description":"Identity not found"})");
  StatusOr<AccessToken> t = (*cred)->GetToken(kArmScope);
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(IsCredentialUnavailable(t.status()));
  EXPECT_TRUE(t.status().final());
  EXPECT_NE(t.status().message().find("no managed identity is assigned"), std::string::npos) << t.status().message();
  EXPECT_NE(t.status().message().find("Identity not found"), std::string::npos);
  EXPECT_EQ(f.imds->requests().size(), 1u);

  Fixture g;
  auto ua = ImdsCredential(g, {ManagedIdentityId::Kind::kClientId, "cid"});
  ASSERT_TRUE(ua.ok());
  g.imds->Enqueue(400, R"({"error":"invalid_request","error_description":"Identity not found"})");
  t = (*ua)->GetToken(kArmScope);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("requested identity is not assigned"), std::string::npos) << t.status().message();
}

TEST(AzureManagedIdentity, NoAnswerMeansUnavailableWithoutRetries) {
  Fixture f;
  auto cred = ImdsCredential(f);
  ASSERT_TRUE(cred.ok());
  f.imds->Enqueue(DeadlineExceededError("connection timed out after 2000 ms"));
  StatusOr<AccessToken> t = (*cred)->GetToken(kArmScope);
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(IsCredentialUnavailable(t.status()));
  EXPECT_NE(t.status().message().find("169.254.169.254"), std::string::npos) << t.status().message();
  EXPECT_EQ(f.imds->requests().size(), 1u);
  EXPECT_TRUE(f.clock->sleeps.empty());

  // Once IMDS has answered, a dropped connection is a transient failure, retried.
  f.imds->Enqueue(200, ImdsBody());
  ASSERT_TRUE((*cred)->GetToken(kArmScope).ok());
  f.imds->Enqueue(UnavailableError("connection reset"));
  f.imds->Enqueue(200, ImdsBody());
  ASSERT_TRUE((*cred)->GetToken(kStorageScope).ok());
  EXPECT_EQ(f.imds->requests().size(), 4u);
}

TEST(AzureManagedIdentity, AProxyAnsweringForTheAddressMeansUnavailable) {
  Fixture f;
  auto cred = ImdsCredential(f);
  ASSERT_TRUE(cred.ok());
  f.imds->Enqueue(403, "resolve_deny: denied destination", {{"Content-Type", "text/plain"}});
  StatusOr<AccessToken> t = (*cred)->GetToken(kArmScope);
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(IsCredentialUnavailable(t.status())) << t.status().ToString();
  EXPECT_NE(t.status().message().find("not IMDS"), std::string::npos) << t.status().message();
  EXPECT_EQ(f.imds->requests().size(), 1u);
  // Docker Desktop's proxy, as azure-identity recognises it.
  f.imds->Enqueue(403, R"({"error":"forbidden","error_description":"connecting to 169.254.169.254:80: connecting to )"
                       R"(169.254.169.254:80: dial tcp 169.254.169.254:80: connectex: A socket operation was attempted )"
                       R"(to an unreachable network."})");
  t = (*cred)->GetToken(kArmScope);
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(IsCredentialUnavailable(t.status())) << t.status().ToString();
}

// ---------------------------------------------------------------- cache

TEST(AzureCachingCredential, CachesPerScope) {
  auto clock = std::make_shared<FakeClock>();
  auto inner = std::make_shared<ScriptedCredential>();
  const auto now = clock->WallNow();
  inner->Enqueue(Token("arm", now + seconds(3600)));
  inner->Enqueue(Token("storage", now + seconds(3600)));
  auto cache = MakeCachingTokenCredential(inner, clock);
  EXPECT_EQ(cache->GetToken(kArmScope)->token, "arm");
  EXPECT_EQ(cache->GetToken(kStorageScope)->token, "storage");
  EXPECT_EQ(cache->GetToken(kArmScope)->token, "arm");
  EXPECT_EQ(cache->GetToken(kStorageScope)->token, "storage");
  EXPECT_EQ(inner->scopes, (std::vector<std::string>{kArmScope, kStorageScope}));
}

TEST(AzureCachingCredential, RefreshesFiveMinutesBeforeExpiryOrAtRefreshOn) {
  auto clock = std::make_shared<FakeClock>();
  auto inner = std::make_shared<ScriptedCredential>();
  const auto t0 = clock->WallNow();
  inner->Enqueue(Token("one", t0 + seconds(3600)));
  auto cache = MakeCachingTokenCredential(inner, clock);
  EXPECT_EQ(cache->GetToken(kArmScope)->token, "one");
  clock->Advance(seconds(3299));  // 301 s left
  EXPECT_EQ(cache->GetToken(kArmScope)->token, "one");
  EXPECT_EQ(inner->calls(), 1u);
  clock->Advance(seconds(1));  // 300 s left
  inner->Enqueue(Token("two", clock->WallNow() + seconds(86400), clock->WallNow() + seconds(43200)));
  EXPECT_EQ(cache->GetToken(kArmScope)->token, "two");
  EXPECT_EQ(inner->calls(), 2u);
  clock->Advance(seconds(43199));
  EXPECT_EQ(cache->GetToken(kArmScope)->token, "two");
  clock->Advance(seconds(1));  // refresh_on reached
  inner->Enqueue(Token("three", clock->WallNow() + seconds(3600)));
  EXPECT_EQ(cache->GetToken(kArmScope)->token, "three");
  EXPECT_EQ(inner->calls(), 3u);
}

TEST(AzureCachingCredential, KeepsTheOldTokenWhenARecommendedRefreshFails) {
  auto clock = std::make_shared<FakeClock>();
  auto inner = std::make_shared<ScriptedCredential>("scripted credential");
  inner->Enqueue(Token("old-token-text", clock->WallNow() + seconds(3600)));
  auto cache = MakeCachingTokenCredential(inner, clock);
  ScopedLogCapture logs;
  ASSERT_TRUE(cache->GetToken(kArmScope).ok());
  clock->Advance(seconds(3400));  // 200 s left: refresh recommended
  inner->Enqueue(UnavailableError("token endpoint down"));
  EXPECT_EQ(cache->GetToken(kArmScope)->token, "old-token-text");
  EXPECT_EQ(inner->calls(), 2u);
  clock->Advance(seconds(29));  // not tried again within 30 s
  EXPECT_EQ(cache->GetToken(kArmScope)->token, "old-token-text");
  EXPECT_EQ(inner->calls(), 2u);
  clock->Advance(seconds(1));
  inner->Enqueue(UnavailableError("token endpoint still down"));
  EXPECT_EQ(cache->GetToken(kArmScope)->token, "old-token-text");
  EXPECT_EQ(inner->calls(), 3u);
  EXPECT_NE(logs.text().find("token endpoint down"), std::string::npos);
  EXPECT_EQ(logs.text().find("old-token-text"), std::string::npos);
  // Expired: the failure is the caller's, every time.
  clock->Advance(seconds(200));
  inner->Enqueue(UnauthenticatedError("refused"));
  StatusOr<AccessToken> t = cache->GetToken(kArmScope);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kUnauthenticated);
  inner->Enqueue(Token("new", clock->WallNow() + seconds(3600)));
  EXPECT_EQ(cache->GetToken(kArmScope)->token, "new");  // required: no 30 s pause
}

TEST(AzureCachingCredential, OneRequestForManyThreads) {
  auto clock = std::make_shared<FakeClock>();
  auto inner = std::make_shared<ScriptedCredential>();
  inner->Enqueue(Token("shared", clock->WallNow() + seconds(3600)));
  auto cache = MakeCachingTokenCredential(inner, clock);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      StatusOr<AccessToken> t = cache->GetToken(kArmScope);
      if (t.ok() && t->token == "shared") ++ok;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 8);
  EXPECT_EQ(inner->calls(), 1u);
}

// ---------------------------------------------------------------- chain and default

TEST(AzureChain, SkipsUnavailableStopsAtErrorsAndSticksToTheOneThatWorked) {
  auto a = std::make_shared<ScriptedCredential>("first-cred");
  auto b = std::make_shared<ScriptedCredential>("second-cred");
  auto c = std::make_shared<ScriptedCredential>("third-cred");
  auto chain = MakeChainedTokenCredential({a, b, c});
  const auto exp = testing::Utc(2030, 1, 1, 0, 0, 0);
  const std::string all = chain->Describe();
  EXPECT_NE(all.find(a->Describe()), std::string::npos) << all;
  EXPECT_NE(all.find(c->Describe()), std::string::npos) << all;
  a->Enqueue(NotFoundError("a: not configured"));
  b->Enqueue(Token("from-b", exp));
  EXPECT_EQ(chain->GetToken(kArmScope)->token, "from-b");
  EXPECT_EQ(chain->Describe(), b->Describe());  // the one whose tokens are in use
  b->Enqueue(Token("from-b-again", exp));
  EXPECT_EQ(chain->GetToken(kStorageScope)->token, "from-b-again");
  EXPECT_EQ(a->calls(), 1u);
  EXPECT_EQ(c->calls(), 0u);

  auto x = std::make_shared<ScriptedCredential>("x");
  auto y = std::make_shared<ScriptedCredential>("y");
  auto stops = MakeChainedTokenCredential({x, y});
  x->Enqueue(UnauthenticatedError("x: refused"));
  StatusOr<AccessToken> t = stops->GetToken(kArmScope);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message(), "x: refused");
  EXPECT_EQ(y->calls(), 0u);
}

TEST(AzureDefaultCredential, EnvironmentSecretComesFirst) {
  Fixture f;
  TempDir dir;
  f.env["AZURE_TENANT_ID"] = kTenant;
  f.env["AZURE_CLIENT_ID"] = kClient;
  f.env["AZURE_CLIENT_SECRET"] = kSecret;
  f.env["AZURE_FEDERATED_TOKEN_FILE"] = dir.Write("token", "federated.token.x");
  auto cred = MakeDefaultAzureCredential(f.Options());
  ASSERT_TRUE(cred.ok()) << cred.status().ToString();
  f.transport->Enqueue(200, TokenBody());
  ASSERT_TRUE((*cred)->GetToken(kArmScope).ok());
  ASSERT_TRUE((*cred)->GetToken(kArmScope).ok());  // cached
  auto reqs = f.transport->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(ParseForm(reqs[0].body)["client_secret"], kSecret);
  EXPECT_TRUE(f.imds->requests().empty());
}

TEST(AzureDefaultCredential, CertificateThenWorkloadThenManagedIdentity) {
  const TestCert& leaf = LeafCert();
  TempDir dir;
  {
    Fixture f;
    f.env["AZURE_TENANT_ID"] = kTenant;
    f.env["AZURE_CLIENT_ID"] = kClient;
    f.env["AZURE_CLIENT_CERTIFICATE_PATH"] = dir.Write("c.pem", leaf.CertPem() + leaf.KeyPem());
    f.env["AZURE_FEDERATED_TOKEN_FILE"] = dir.Write("token", "federated.token.x");
    auto cred = MakeDefaultAzureCredential(f.Options());
    ASSERT_TRUE(cred.ok());
    f.transport->Enqueue(200, TokenBody());
    ASSERT_TRUE((*cred)->GetToken(kArmScope).ok());
    EXPECT_TRUE(VerifyRs256(leaf, DecodeJwt(ParseForm(f.transport->requests().at(0).body)["client_assertion"])));
  }
  {
    Fixture f;
    f.env["AZURE_TENANT_ID"] = kTenant;
    f.env["AZURE_CLIENT_ID"] = kClient;
    f.env["AZURE_FEDERATED_TOKEN_FILE"] = dir.Write("token", "federated.token.x");
    auto cred = MakeDefaultAzureCredential(f.Options());
    ASSERT_TRUE(cred.ok());
    f.transport->Enqueue(200, TokenBody());
    ASSERT_TRUE((*cred)->GetToken(kArmScope).ok());
    EXPECT_EQ(ParseForm(f.transport->requests().at(0).body)["client_assertion"], "federated.token.x");
    EXPECT_TRUE(f.imds->requests().empty());
  }
  {
    Fixture f;
    f.env["AZURE_CLIENT_ID"] = kClient;  // alone: a user-assigned managed identity
    auto cred = MakeDefaultAzureCredential(f.Options());
    ASSERT_TRUE(cred.ok());
    f.imds->Enqueue(200, ImdsBody());
    StatusOr<AccessToken> t = (*cred)->GetToken(kArmScope);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    EXPECT_TRUE(f.transport->requests().empty());
    EXPECT_NE(f.imds->requests().at(0).url.find(std::string("client_id=") + kClient), std::string::npos);
  }
}

TEST(AzureDefaultCredential, NothingConfiguredListsWhatWasTriedAndWhatToSet) {
  Fixture f;
  auto cred = MakeDefaultAzureCredential(f.Options());
  ASSERT_TRUE(cred.ok());
  f.imds->Enqueue(UnavailableError("Failed to connect to 169.254.169.254 port 80").set_not_processed());
  StatusOr<AccessToken> t = (*cred)->GetToken(kArmScope);
  ASSERT_FALSE(t.ok());
  const std::string& m = t.status().message();
  EXPECT_EQ(t.status().code(), StatusCode::kUnauthenticated);
  EXPECT_TRUE(t.status().final());
  EXPECT_NE(m.find("no Azure credential is available"), std::string::npos) << m;
  for (const char* part :
       {"environment (client secret): AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET are not set",
        "environment (client certificate): AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_CERTIFICATE_PATH are not set",
        "workload identity: AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE are not set",
        "managed identity credential (system-assigned, IMDS at http://169.254.169.254): no managed identity endpoint "
        "answered"})
    EXPECT_NE(m.find(part), std::string::npos) << part << "\n in: " << m;
  // In the chain's order.
  EXPECT_LT(m.find("client secret"), m.find("client certificate"));
  EXPECT_LT(m.find("client certificate"), m.find("workload identity"));
  EXPECT_LT(m.find("workload identity"), m.find("managed identity credential"));
  EXPECT_NE(m.find("To authenticate, set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET"), std::string::npos);
}

TEST(AzureDefaultCredential, AnExplicitSourceIsTheOnlyOneAsked) {
  EXPECT_EQ(ParseAzureCredentialSource("auto").value(), AzureCredentialSource::kAuto);
  EXPECT_EQ(ParseAzureCredentialSource("Secret").value(), AzureCredentialSource::kSecret);
  EXPECT_EQ(ParseAzureCredentialSource("certificate").value(), AzureCredentialSource::kCertificate);
  EXPECT_EQ(ParseAzureCredentialSource("workload").value(), AzureCredentialSource::kWorkload);
  EXPECT_EQ(ParseAzureCredentialSource("managed_identity").value(), AzureCredentialSource::kManagedIdentity);
  EXPECT_EQ(ParseAzureCredentialSource("managed-identity").value(), AzureCredentialSource::kManagedIdentity);
  StatusOr<AzureCredentialSource> bad = ParseAzureCredentialSource("cli");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("auto, secret, certificate, workload, managed_identity"), std::string::npos);
  for (auto s : {AzureCredentialSource::kAuto, AzureCredentialSource::kSecret, AzureCredentialSource::kCertificate,
                 AzureCredentialSource::kWorkload, AzureCredentialSource::kManagedIdentity})
    EXPECT_EQ(ParseAzureCredentialSource(AzureCredentialSourceName(s)).value(), s);

  {
    Fixture f;  // secret chosen, not configured: said at once
    f.env["AZURE_TENANT_ID"] = kTenant;
    AzureCredentialOptions o = f.Options();
    o.source = AzureCredentialSource::kSecret;
    auto cred = MakeDefaultAzureCredential(o);
    ASSERT_FALSE(cred.ok());
    EXPECT_EQ(cred.status().code(), StatusCode::kUnauthenticated);
    EXPECT_NE(cred.status().message().find("AZURE_CLIENT_ID and AZURE_CLIENT_SECRET are not set"), std::string::npos)
        << cred.status().message();
  }
  {
    Fixture f;  // managed identity chosen, while a secret is configured too: only IMDS is asked
    f.env["AZURE_TENANT_ID"] = kTenant;
    f.env["AZURE_CLIENT_SECRET"] = kSecret;
    AzureCredentialOptions o = f.Options();
    o.source = AzureCredentialSource::kManagedIdentity;
    o.managed_identity = {ManagedIdentityId::Kind::kObjectId, "oid"};
    auto cred = MakeDefaultAzureCredential(o);
    ASSERT_TRUE(cred.ok());
    f.imds->Enqueue(400, R"({"error":"invalid_request","error_description":"Identity not found"})");
    StatusOr<AccessToken> t = (*cred)->GetToken(kArmScope);
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.status().code(), StatusCode::kUnauthenticated);  // not "does not exist": the user chose it
    EXPECT_TRUE(t.status().final());
    EXPECT_NE(t.status().message().find("object_id oid"), std::string::npos) << t.status().message();
    EXPECT_TRUE(f.transport->requests().empty());
    EXPECT_NE(f.imds->requests().at(0).url.find("&object_id=oid"), std::string::npos);
  }
  {
    Fixture f;  // workload chosen and configured
    TempDir dir;
    f.env["AZURE_TENANT_ID"] = kTenant;
    f.env["AZURE_CLIENT_ID"] = kClient;
    f.env["AZURE_CLIENT_SECRET"] = kSecret;
    f.env["AZURE_FEDERATED_TOKEN_FILE"] = dir.Write("token", "federated.token.x");
    AzureCredentialOptions o = f.Options();
    o.source = AzureCredentialSource::kWorkload;
    auto cred = MakeDefaultAzureCredential(o);
    ASSERT_TRUE(cred.ok());
    f.transport->Enqueue(200, TokenBody());
    ASSERT_TRUE((*cred)->GetToken(kArmScope).ok());
    EXPECT_EQ(ParseForm(f.transport->requests().at(0).body).count("client_secret"), 0u);
  }
}

TEST(AzureDefaultCredential, ChainStopsAtARefusalInsteadOfTryingManagedIdentity) {
  Fixture f;
  f.env["AZURE_TENANT_ID"] = kTenant;
  f.env["AZURE_CLIENT_ID"] = kClient;
  f.env["AZURE_CLIENT_SECRET"] = kSecret;
  auto cred = MakeDefaultAzureCredential(f.Options());
  ASSERT_TRUE(cred.ok());
  f.transport->Enqueue(401,
                       R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."})");
  StatusOr<AccessToken> t = (*cred)->GetToken(kArmScope);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(t.status().message().find("client secret credential"), std::string::npos) << t.status().message();
  EXPECT_TRUE(f.imds->requests().empty());
}

// Every failure path of every provider: no secret, password, assertion or token text in any message or log line.
TEST(AzureSecrets, NeverInMessagesOrLogs) {
  ScopedLogCapture logs;
  std::vector<std::string> messages;
  const std::string pfx_password = "Pfx-Password-Secret-42";
  const std::string federated = "federated.JWT-SECRET-ASSERTION.signature-part";
  TempDir dir;
  {
    Fixture f;
    auto cred = SecretCredential(f);
    ASSERT_TRUE(cred.ok());
    f.transport->Enqueue(503, std::string("overloaded ") + kSecret + " " + kAccessToken);
    f.transport->Enqueue(UnavailableError("connection reset"));
    f.transport->Enqueue(502, "");
    f.transport->Enqueue(401, Json{{"error", "invalid_client"}, {"error_description", kSecret}}.dump());
    messages.push_back((*cred)->GetToken(kArmScope).status().message());
    f.transport->Enqueue(200, Json{{"access_token", kAccessToken}}.dump());  // no expiry: refused
    messages.push_back((*cred)->GetToken(kArmScope).status().message());
    f.transport->Enqueue(200, Json{{"access_token", kAccessToken}, {"expires_in", 3600}, {"token_type", kSecret}}.dump());
    messages.push_back((*cred)->GetToken(kArmScope).status().message());
  }
  {
    CertSetup c;
    const TestCert& leaf = LeafCert();
    auto bad = c.Make(leaf.Pkcs12(pfx_password), "wrong-" + pfx_password, false, "x.pfx");
    ASSERT_FALSE(bad.ok());
    messages.push_back(bad.status().message());
    CertSetup d;
    auto cred = d.Make(leaf.Pkcs12(pfx_password), pfx_password, false, "y.pfx");
    ASSERT_TRUE(cred.ok()) << cred.status().ToString();
    d.f.transport->Enqueue(400, Json{{"error", "invalid_grant"}, {"error_description", pfx_password}}.dump());
    messages.push_back((*cred)->GetToken(kArmScope).status().message());
  }
  {
    Fixture f;
    auto cred = MakeWorkloadIdentityCredential({kTenant, kClient, dir.Write("token", federated), ""}, f.Options());
    ASSERT_TRUE(cred.ok());
    f.transport->Enqueue(400,
                         Json{{"error", "invalid_client"},
                              {"error_description", "AADSTS70021: No matching federated identity record for " + federated}}
                             .dump());
    messages.push_back((*cred)->GetToken(kArmScope).status().message());
  }
  {
    Fixture f;
    auto cred = ImdsCredential(f);
    ASSERT_TRUE(cred.ok());
    f.imds->Enqueue(200, Json{{"access_token", kAccessToken}, {"expires_in", "soon"}}.dump());
    messages.push_back((*cred)->GetToken(kArmScope).status().message());
  }
  ASSERT_EQ(messages.size(), 7u);
  for (const std::string& m : messages) {
    EXPECT_FALSE(m.empty());
    for (const std::string& secret : {std::string(kSecret), std::string(kAccessToken), pfx_password, federated,
                                      std::string("JWT-SECRET-ASSERTION"), std::string("ACCESS-TOKEN-PAYLOAD")})
      EXPECT_EQ(m.find(secret), std::string::npos) << "'" << secret << "' in: " << m;
  }
  for (const std::string& secret : {std::string(kSecret), std::string(kAccessToken), pfx_password, federated})
    EXPECT_EQ(logs.text().find(secret), std::string::npos) << secret << " in the log:\n" << logs.text();
}

}  // namespace
}  // namespace mlflow_bridge::internal
