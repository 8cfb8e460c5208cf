#include "http/ca_bundle.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

namespace mlflow_bridge::internal {
namespace {

struct FakeSystem {
  std::map<std::string, std::string> env;
  std::set<std::string> files;
  CaLocation Find() const {
    return FindCaLocation(
        [this](const char* name) {
          auto it = env.find(name);
          return it == env.end() ? nullptr : it->second.c_str();
        },
        [this](const std::string& path) { return files.count(path) > 0; });
  }
};

TEST(CaBundle, DebianAndUbuntu) {
  FakeSystem s{{}, {"/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs"}};
  CaLocation ca = s.Find();
  EXPECT_EQ(ca.file, "/etc/ssl/certs/ca-certificates.crt");
  EXPECT_EQ(ca.dir, "");
  EXPECT_EQ(ca.source, "the system");
}

TEST(CaBundle, RedHatStyleSystems) {
  EXPECT_EQ((FakeSystem{{}, {"/etc/pki/tls/certs/ca-bundle.crt", "/etc/pki/tls/certs"}}).Find().file,
            "/etc/pki/tls/certs/ca-bundle.crt");
  EXPECT_EQ((FakeSystem{{}, {"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem"}}).Find().file,
            "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem");
}

TEST(CaBundle, SuseAndAlpine) {
  EXPECT_EQ((FakeSystem{{}, {"/etc/ssl/ca-bundle.pem"}}).Find().file, "/etc/ssl/ca-bundle.pem");
  EXPECT_EQ((FakeSystem{{}, {"/etc/ssl/cert.pem"}}).Find().file, "/etc/ssl/cert.pem");
}

TEST(CaBundle, OnlyADirectory) {
  CaLocation ca = FakeSystem{{}, {"/etc/ssl/certs"}}.Find();
  EXPECT_EQ(ca.file, "");
  EXPECT_EQ(ca.dir, "/etc/ssl/certs");
}

TEST(CaBundle, NothingFound) {
  CaLocation ca = FakeSystem{}.Find();
  EXPECT_EQ(ca.file, "");
  EXPECT_EQ(ca.dir, "");
}

TEST(CaBundle, CurlCaBundleWinsOverSslCertFileAndTheSystem) {
  FakeSystem s{{{"CURL_CA_BUNDLE", "/a.pem"}, {"SSL_CERT_FILE", "/b.pem"}}, {"/etc/ssl/certs/ca-certificates.crt"}};
  CaLocation ca = s.Find();
  EXPECT_EQ(ca.file, "/a.pem");
  EXPECT_EQ(ca.source, "CURL_CA_BUNDLE");
}

TEST(CaBundle, SslCertFileAndSslCertDir) {
  FakeSystem s{{{"SSL_CERT_FILE", "/b.pem"}, {"SSL_CERT_DIR", "/certs"}}, {"/etc/ssl/certs/ca-certificates.crt"}};
  CaLocation ca = s.Find();
  EXPECT_EQ(ca.file, "/b.pem");
  EXPECT_EQ(ca.dir, "/certs");
  EXPECT_EQ(ca.source, "SSL_CERT_FILE");
  // A named file is used even when it does not exist: TLS then fails and says which file it was.
  EXPECT_EQ((FakeSystem{{{"SSL_CERT_DIR", "/certs"}}, {}}).Find().dir, "/certs");
}

TEST(CaBundle, EmptyVariablesAreUnset) {
  FakeSystem s{{{"CURL_CA_BUNDLE", ""}, {"SSL_CERT_FILE", ""}}, {"/etc/ssl/cert.pem"}};
  EXPECT_EQ(s.Find().file, "/etc/ssl/cert.pem");
}

}  // namespace
}  // namespace mlflow_bridge::internal
