// The OCI request signer: the published vectors (tests/data/oci), the signer's rules one by one, and PEM
// key loading. tests/python/test_oci_signer_sdk.py checks the same signer against the oci SDK's.
#include "oci/signer.h"

#include <gtest/gtest.h>
#include <openssl/ec.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/base64.h"
#include "common/strings.h"
#include "mlflow_bridge/logging.h"
#include "oci_test_keys.h"
#include "test_support.h"

namespace mlflow_bridge::internal {
namespace {

using ::mlflow_bridge::testing::OciTestKeyAs;
using ::mlflow_bridge::testing::OciTestKeyPem;
using ::mlflow_bridge::testing::OciVectors;
using ::mlflow_bridge::testing::PemForm;
using ::mlflow_bridge::testing::Utc;

std::shared_ptr<const OciPrivateKey> TestKey() {
  auto key = OciPrivateKey::FromPem(OciTestKeyPem(), std::nullopt, "the test key");
  EXPECT_TRUE(key.ok()) << key.status().ToString();
  return key.ok() ? *key : nullptr;
}

OciSigningKey VectorKey() { return OciSigningKey{OciVectors().at("key_id").get<std::string>(), TestKey()}; }

std::string Join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : " ") + n;
  return out;
}

// The vectors' moment: their Date says "Thu", but 5 January 2014 was a Sunday, so the stages are checked
// with their Date header as written, and SignOciRequest (which writes the Date from the clock) separately.
const auto kVectorTime = Utc(2014, 1, 5, 21, 31, 40);

TEST(OciSignerVectors, SigningStringContentSha256AndSignatureMatch) {
  const auto& v = OciVectors();
  ASSERT_EQ(v.at("cases").size(), 2u);
  for (const auto& c : v.at("cases")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    HttpRequest r;
    r.method = c.at("method").get<std::string>();
    r.url = c.at("url").get<std::string>();
    r.body = c.at("body").is_null() ? "" : c.at("body").get<std::string>();
    r.headers = {{"date", v.at("date").get<std::string>()}, {"host", "iaas.us-phoenix-1.oraclecloud.com"}};
    auto names = OciSignedHeaderNames(r.method);
    ASSERT_TRUE(names.ok());
    EXPECT_EQ(Join(*names), c.at("expected_signed_headers").get<std::string>());
    if (c.contains("expected_x_content_sha256")) {
      auto sha = OciContentSha256(r);
      ASSERT_TRUE(sha.ok());
      EXPECT_EQ(*sha, c.at("expected_x_content_sha256").get<std::string>());
      r.headers.emplace_back("content-length", std::to_string(r.body.size()));
      r.headers.emplace_back("content-type", c.at("content_type").get<std::string>());
      r.headers.emplace_back("x-content-sha256", *sha);
    }
    auto signing_string = OciSigningString(r, *names);
    ASSERT_TRUE(signing_string.ok()) << signing_string.status().ToString();
    EXPECT_EQ(*signing_string, c.at("expected_signing_string").get<std::string>());
    auto signature = TestKey()->SignSha256(*signing_string);
    ASSERT_TRUE(signature.ok());
    EXPECT_EQ(Base64Encode(*signature), c.at("expected_signature").get<std::string>());
  }
}

TEST(OciSignerVectors, SignOciRequestBuildsTheVectorsRequests) {
  const auto& v = OciVectors();
  for (const auto& c : v.at("cases")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    HttpRequest r;
    r.method = c.at("method").get<std::string>();
    r.url = c.at("url").get<std::string>();
    if (!c.at("body").is_null()) r.body = c.at("body").get<std::string>();
    if (c.contains("content_type")) r.headers.emplace_back("Content-Type", c.at("content_type").get<std::string>());
    ASSERT_TRUE(SignOciRequest(r, VectorKey(), kVectorTime).ok());
    EXPECT_EQ(FindHeader(r.headers, "date").value_or(""), "Sun, 05 Jan 2014 21:31:40 GMT");
    EXPECT_EQ(FindHeader(r.headers, "host").value_or(""), "iaas.us-phoenix-1.oraclecloud.com");
    if (c.contains("expected_x_content_sha256")) {
      EXPECT_EQ(FindHeader(r.headers, "x-content-sha256").value_or(""),
                c.at("expected_x_content_sha256").get<std::string>());
      EXPECT_EQ(FindHeader(r.headers, "content-length").value_or(""), "316");
    }
    std::string want = c.at("expected_signing_string").get<std::string>();
    want.replace(want.find("Thu"), 3, "Sun");
    auto names = OciSignedHeaderNames(r.method);
    EXPECT_EQ(OciSigningString(r, *names).value(), want);
    auto signature = TestKey()->SignSha256(want);
    EXPECT_EQ(FindHeader(r.headers, "authorization").value_or(""),
              "Signature algorithm=\"rsa-sha256\",headers=\"" + c.at("expected_signed_headers").get<std::string>() +
                  "\",keyId=\"" + v.at("key_id").get<std::string>() + "\",signature=\"" + Base64Encode(*signature) +
                  "\",version=\"1\"");
  }
}

TEST(OciSigner, FormatsDatesInRfc1123Gmt) {
  EXPECT_EQ(FormatHttpDate(Utc(2014, 1, 5, 21, 31, 40)), "Sun, 05 Jan 2014 21:31:40 GMT");
  EXPECT_EQ(FormatHttpDate(Utc(2026, 12, 2, 7, 3, 9)), "Wed, 02 Dec 2026 07:03:09 GMT");
  EXPECT_EQ(FormatHttpDate(Utc(2000, 2, 29, 0, 0, 0)), "Tue, 29 Feb 2000 00:00:00 GMT");
}

std::string SigningStringOf(HttpRequest r, const OciSignOptions& options = {}) {
  EXPECT_TRUE(SignOciRequest(r, VectorKey(), kVectorTime, options).ok());
  auto names = OciSignedHeaderNames(r.method, options);
  return OciSigningString(r, *names).value();
}

TEST(OciSigner, HostKeepsAPortGivenInTheUrlAndIsLowerCased) {
  for (const auto& [url, host] : std::vector<std::pair<std::string, std::string>>{
           {"https://DataScience.us-ashburn-1.oci.oraclecloud.com/x", "datascience.us-ashburn-1.oci.oraclecloud.com"},
           {"http://127.0.0.1:8080/x", "127.0.0.1:8080"},
           {"https://h.example:443/x", "h.example:443"},
           {"https://[::1]:8443/x", "[::1]:8443"}}) {
    HttpRequest r;
    r.url = url;
    r.headers = {{"Host", "stale.example"}};
    ASSERT_TRUE(SignOciRequest(r, VectorKey(), kVectorTime).ok());
    EXPECT_EQ(FindHeader(r.headers, "host").value_or(""), host);
    EXPECT_NE(SigningStringOf(r).find("\nhost: " + host), std::string::npos);
  }
}

TEST(OciSigner, RequestTargetIsTheLowerCasedMethodAndThePathAsSent) {
  HttpRequest r;
  r.method = "DELETE";
  r.url = "https://h.example";
  EXPECT_NE(SigningStringOf(r).find("(request-target): delete /\n"), std::string::npos);
  r.url = "https://h.example/a/./b/../c//d%20e?x=%2F&y#fragment";
  EXPECT_NE(SigningStringOf(r).find("(request-target): delete /a/c//d%20e?x=%2F&y\n"), std::string::npos);
  r.url = "https://h.example/p?";
  EXPECT_NE(SigningStringOf(r).find("(request-target): delete /p\n"), std::string::npos);
}

TEST(OciSigner, SignsTheBodyOfPostPutAndPatchOnly) {
  for (const char* m : {"GET", "HEAD", "DELETE", "POST", "PUT", "PATCH", "get", "post"}) {
    HttpRequest r;
    r.method = m;
    r.url = "https://h.example/x";
    r.body = "{}";
    ASSERT_TRUE(SignOciRequest(r, VectorKey(), kVectorTime).ok()) << m;
    const std::string auth = FindHeader(r.headers, "authorization").value_or("");
    const std::string lower = ToLower(m);
    if (lower == "post" || lower == "put" || lower == "patch") {
      EXPECT_NE(auth.find("headers=\"date (request-target) host content-length content-type x-content-sha256\""),
                std::string::npos)
          << m;
      EXPECT_EQ(FindHeader(r.headers, "content-type").value_or(""), "application/json");  // the SDKs' default
      EXPECT_EQ(FindHeader(r.headers, "content-length").value_or(""), "2");
      EXPECT_EQ(FindHeader(r.headers, "x-content-sha256").value_or(""), "RBNvo1WzZ4oRRq0W9+hknpT7T8If536DEMBg9hyq/4o=");
    } else {
      EXPECT_NE(auth.find("headers=\"date (request-target) host\""), std::string::npos) << m;
      EXPECT_FALSE(FindHeader(r.headers, "x-content-sha256")) << m;
    }
  }
  HttpRequest r;
  r.method = "OPTIONS";
  r.url = "https://h.example/x";
  Status s = SignOciRequest(r, VectorKey(), kVectorTime);
  EXPECT_EQ(s.code(), StatusCode::kInvalidParameterValue);
  EXPECT_NE(s.message().find("OPTIONS"), std::string::npos);
}

TEST(OciSigner, AnArtifactUploadLeavesTheBodyOut) {
  HttpRequest r;
  r.method = "POST";
  r.url = "https://datascience.us-ashburn-1.oci.oraclecloud.com/20190101/models/ocid1.datasciencemodel.oc1..x/artifact";
  r.body = std::string("PK\x03\x04zipped", 10);
  r.headers = {{"Content-Type", "application/octet-stream"}, {"Transfer-Encoding", "chunked"}};
  OciSignOptions options;
  options.sign_body = false;
  ASSERT_TRUE(SignOciRequest(r, VectorKey(), kVectorTime, options).ok());
  EXPECT_NE(FindHeader(r.headers, "authorization").value_or("").find("headers=\"date (request-target) host\""),
            std::string::npos);
  EXPECT_FALSE(FindHeader(r.headers, "x-content-sha256"));
  EXPECT_FALSE(FindHeader(r.headers, "transfer-encoding"));
  EXPECT_EQ(FindHeader(r.headers, "content-type").value_or(""), "application/octet-stream");
}

TEST(OciSigner, SigningAgainReplacesDateHostAndAuthorizationAndKeepsAGivenContentSha) {
  HttpRequest r;
  r.method = "PUT";
  r.url = "https://h.example/x";
  r.body = "abc";
  r.headers = {{"x-content-sha256", "precomputed="}, {"Content-Length", "999"}};
  ASSERT_TRUE(SignOciRequest(r, VectorKey(), kVectorTime).ok());
  ASSERT_TRUE(SignOciRequest(r, VectorKey(), kVectorTime + std::chrono::seconds(61)).ok());
  int dates = 0, auths = 0, hosts = 0;
  for (const auto& [k, v] : r.headers) {
    dates += EqualsIgnoreCase(k, "date");
    auths += EqualsIgnoreCase(k, "authorization");
    hosts += EqualsIgnoreCase(k, "host");
  }
  EXPECT_EQ(dates, 1);
  EXPECT_EQ(auths, 1);
  EXPECT_EQ(hosts, 1);
  EXPECT_EQ(FindHeader(r.headers, "date").value_or(""), "Sun, 05 Jan 2014 21:32:41 GMT");
  EXPECT_EQ(FindHeader(r.headers, "x-content-sha256").value_or(""), "precomputed=");
  EXPECT_EQ(FindHeader(r.headers, "content-length").value_or(""), "3");
}

TEST(OciSigner, HashesAFileBodyByItsRange) {
  const std::string path = (std::filesystem::temp_directory_path() / "oci-signer-body-test.bin").string();
  std::ofstream(path, std::ios::binary) << "0123456789abcdef";
  HttpRequest r;
  r.method = "POST";
  r.url = "https://h.example/x";
  r.body_file = HttpRequest::FileBody{path, 4, 6};
  HttpRequest same = r;
  same.body_file.reset();
  same.body = "456789";
  EXPECT_EQ(OciContentSha256(r).value(), OciContentSha256(same).value());
  ASSERT_TRUE(SignOciRequest(r, VectorKey(), kVectorTime).ok());
  EXPECT_EQ(FindHeader(r.headers, "content-length").value_or(""), "6");
  r.body_file->length = 100;
  EXPECT_EQ(OciContentSha256(r).status().code(), StatusCode::kInvalidParameterValue);
  std::remove(path.c_str());
}

TEST(OciSigner, RefusesToSignWithoutAKey) {
  HttpRequest r;
  r.url = "https://h.example/x";
  EXPECT_EQ(SignOciRequest(r, OciSigningKey{"", TestKey()}, kVectorTime).code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(SignOciRequest(r, OciSigningKey{"a/b/c", nullptr}, kVectorTime).code(), StatusCode::kUnauthenticated);
  r.url = "not a url";
  EXPECT_FALSE(SignOciRequest(r, VectorKey(), kVectorTime).ok());
}

TEST(OciSigner, LogsNeverShowTheTokenOrTheSignature) {
  const std::string token = "eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjE3MDB9.c2lnbmF0dXJl-_x";
  HttpRequest r;
  r.url = "https://h.example/x";
  ASSERT_TRUE(SignOciRequest(r, OciSigningKey{"ST$" + token, TestKey()}, kVectorTime).ok());
  const std::string auth = FindHeader(r.headers, "authorization").value_or("");
  const std::string signature = auth.substr(auth.find("signature=\"") + 11, 40);
  // The token is masked wherever it appears; the signature in a header line and in key="value" text (an
  // Authorization value quoted inside JSON is beyond Redact's generic passes).
  for (const std::string& text : {"Authorization: " + auth, "signed with " + auth}) {
    const std::string shown = Redact(text);
    EXPECT_EQ(shown.find(token.substr(0, 12)), std::string::npos) << shown;
    EXPECT_EQ(shown.find(signature), std::string::npos) << shown;
  }
  const std::string json = Redact(nlohmann::json{{"authorization", auth}}.dump());
  EXPECT_EQ(json.find(token.substr(0, 12)), std::string::npos) << json;
}

// ---- keys ----

std::string SignWith(const std::string& pem, const std::optional<std::string>& passphrase) {
  auto key = OciPrivateKey::FromPem(pem, passphrase, "the test key");
  EXPECT_TRUE(key.ok()) << key.status().ToString();
  if (!key.ok()) return "";
  return Base64Encode((*key)->SignSha256("date: x").value());
}

void ExpectNoSecret(const Status& s, const std::string& pem, const std::string& passphrase) {
  // Any 20 characters of the key's base64 body would give it away.
  const std::string body = pem.substr(pem.find('\n') + 1, 40);
  EXPECT_EQ(s.message().find(body.substr(0, 20)), std::string::npos) << s.message();
  if (!passphrase.empty()) EXPECT_EQ(s.message().find(passphrase), std::string::npos) << s.message();
}

TEST(OciPrivateKeyTest, LoadsPkcs1AndPkcs8PlainAndEncrypted) {
  const std::string want = SignWith(OciTestKeyPem(), std::nullopt);
  ASSERT_FALSE(want.empty());
  EXPECT_EQ(SignWith(OciTestKeyAs(PemForm::kPkcs8), std::nullopt), want);
  EXPECT_EQ(SignWith(OciTestKeyAs(PemForm::kPkcs8Encrypted, "s3cret pass"), "s3cret pass"), want);
  EXPECT_EQ(SignWith(OciTestKeyAs(PemForm::kPkcs1Encrypted, "s3cret pass"), "s3cret pass"), want);
  // As the SDKs: a passphrase given for a plain key (inherited from [DEFAULT], say) is ignored.
  EXPECT_EQ(SignWith(OciTestKeyPem(), std::string("unneeded")), want);
  // Surrounding blank lines are trimmed, as the SDK strips the file.
  EXPECT_EQ(SignWith("\n\n" + OciTestKeyPem() + "\n\n", std::nullopt), want);
}

TEST(OciPrivateKeyTest, ExplainsAMissingOrWrongPassphraseWithoutQuotingEither) {
  for (PemForm form : {PemForm::kPkcs8Encrypted, PemForm::kPkcs1Encrypted}) {
    const std::string pem = OciTestKeyAs(form, "right-passphrase");
    auto missing = OciPrivateKey::FromPem(pem, std::nullopt, "key_file /k.pem");
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.status().code(), StatusCode::kInvalidParameterValue);
    EXPECT_NE(missing.status().message().find("key_file /k.pem"), std::string::npos);
    EXPECT_NE(missing.status().message().find("needs a passphrase (pass_phrase"), std::string::npos);
    ExpectNoSecret(missing.status(), pem, "right-passphrase");
    auto wrong = OciPrivateKey::FromPem(pem, std::string("wrong-passphrase"), "key_file /k.pem");
    ASSERT_FALSE(wrong.ok());
    EXPECT_NE(wrong.status().message().find("the passphrase is incorrect"), std::string::npos);
    ExpectNoSecret(wrong.status(), pem, "wrong-passphrase");
    ExpectNoSecret(wrong.status(), pem, "right-passphrase");
  }
}

TEST(OciPrivateKeyTest, RefusesPublicKeysNonRsaKeysAndGarbage) {
  auto pub = OciPrivateKey::FromPem(OciTestKeyAs(PemForm::kPublic), std::nullopt, "k");
  EXPECT_NE(pub.status().message().find("it is a public key"), std::string::npos);
  auto ssh = OciPrivateKey::FromPem("ssh-rsa AAAAB3NzaC1yc2E user@host", std::nullopt, "k");
  EXPECT_NE(ssh.status().message().find("it is a public key"), std::string::npos);
  auto garbage = OciPrivateKey::FromPem("not a key at all", std::nullopt, "k");
  EXPECT_NE(garbage.status().message().find("not a PEM private key"), std::string::npos);
  EXPECT_EQ(garbage.status().message().find("not a key at all"), std::string::npos);
  auto empty = OciPrivateKey::FromPem("  \n", std::nullopt, "k");
  EXPECT_NE(empty.status().message().find("empty"), std::string::npos);

  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> ec(EVP_EC_gen("P-256"), EVP_PKEY_free);
  ASSERT_TRUE(ec);
  std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_PrivateKey(out.get(), ec.get(), nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long len = BIO_get_mem_data(out.get(), &data);
  auto not_rsa = OciPrivateKey::FromPem(std::string(data, static_cast<size_t>(len)), std::nullopt, "k");
  EXPECT_NE(not_rsa.status().message().find("not an RSA key"), std::string::npos);
}

TEST(OciPrivateKeyTest, ReadsFilesWithTildeExpansion) {
  const auto home = std::filesystem::temp_directory_path() / "oci-key-home-test";
  std::filesystem::create_directories(home / ".oci");
  std::ofstream(home / ".oci" / "key.pem") << OciTestKeyPem();
  ::mlflow_bridge::testing::ScopedEnv env("HOME", home.c_str());
  EXPECT_TRUE(OciPrivateKey::FromFile("~/.oci/key.pem", std::nullopt, "k").ok());
  auto missing = OciPrivateKey::FromFile("~/.oci/none.pem", std::nullopt, "key_file x");
  EXPECT_NE(missing.status().message().find((home / ".oci" / "none.pem").string()), std::string::npos);
  std::filesystem::remove_all(home);
}

}  // namespace
}  // namespace mlflow_bridge::internal
