#include "image/registry_client.h"
#include "common/crypto.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "aws/sigv4.h"
#include "mlflow_bridge/logging.h"
#include "mock_transport.h"
#include "test_support.h"
#include "common/base64.h"

namespace mlflow_bridge::internal {
namespace {

using ::mlflow_bridge::testing::FakeClock;
using ::mlflow_bridge::testing::ScopedLogCapture;
using std::chrono::milliseconds;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
namespace fs = std::filesystem;

const std::string kReg = "reg.example.com";
const std::string kBase = "https://reg.example.com";
const std::string kPassword = "s3cret-pw";
const std::string kBasic = "Basic " + Base64Encode("alice:" + kPassword);

std::string ErrorJson(const std::string& code, const std::string& message) {
  return R"({"errors":[{"code":")" + code + R"(","message":")" + message + R"(","detail":null}]})";
}

HttpResponse Reply(long code, HttpHeaders headers = {}, std::string body = "") {
  return HttpResponse{code, std::move(headers), std::move(body)};
}

class RegistryClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("regclient-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    fs::remove_all(dir_);
    for (const std::string& s : {kPassword, Base64Encode("alice:" + kPassword), std::string("tok-secret")})
      EXPECT_THAT(logs_.text(), Not(HasSubstr(s))) << "a secret was logged";
  }
  std::unique_ptr<RegistryClient> Make(bool with_creds = true, uint64_t chunk = 16ull << 20) {
    RegistryClientOptions o;
    o.transport = transport_;
    o.clock = clock_;
    o.retry.max_attempts = 3;
    o.chunk_size = chunk;
    if (with_creds) {
      RegistryCredentials c;
      c.username = "alice";
      c.password = kPassword;
      o.credentials = MakeStaticRegistryCredentials(c, "username/password for " + kReg);
    }
    return std::make_unique<RegistryClient>(kReg, o);
  }
  std::string WriteFile(const std::string& name, const std::string& content) {
    std::string p = (dir_ / name).string();
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }
  static std::string ReadFile(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  static std::string Auth(const HttpRequest& r) { return FindHeader(r.headers, "Authorization").value_or(""); }
  static void ExpectNoSecret(const Status& s) {
    EXPECT_THAT(s.message(), Not(HasSubstr(kPassword)));
    EXPECT_THAT(s.message(), Not(HasSubstr(Base64Encode("alice:" + kPassword))));
    EXPECT_THAT(s.message(), Not(HasSubstr("tok-secret")));
  }
  // The Basic handshake: the first request gets a 401 challenge.
  void EnqueueBasicChallenge() {
    transport_->Enqueue(Reply(401, {{"WWW-Authenticate", R"(Basic realm="test-realm")"}},
                              ErrorJson("UNAUTHORIZED", "authentication required")));
  }

  std::shared_ptr<MockTransport> transport_ = std::make_shared<MockTransport>();
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
  fs::path dir_;
  ScopedLogCapture logs_;  // debug level: every line checked for secrets
};

// ---------------------------------------------------------------- manifests

TEST_F(RegistryClientTest, GetManifestAcceptHeaderAndDigest) {
  auto client = Make(false);
  const std::string body = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"})";
  transport_->Enqueue(Reply(
      200, {{"Content-Type", "application/vnd.oci.image.manifest.v1+json"}, {"Docker-Content-Digest", Sha256Digest(body)}},
      body));
  StatusOr<ManifestReply> m = client->GetManifest("team/app", "1.0");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->digest, Sha256Digest(body));
  EXPECT_EQ(m->media_type, kOciManifestMediaType);
  EXPECT_EQ(m->body, body);
  auto reqs = transport_->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "GET");
  EXPECT_EQ(reqs[0].url, kBase + "/v2/team/app/manifests/1.0");
  std::string accept = FindHeader(reqs[0].headers, "Accept").value_or("");
  for (const char* t : {kOciManifestMediaType, kOciIndexMediaType, kDockerManifestMediaType, kDockerManifestListMediaType})
    EXPECT_THAT(accept, HasSubstr(t));
}

TEST_F(RegistryClientTest, GetManifestByDigestChecksTheBody) {
  auto client = Make(false);
  const std::string body = R"({"schemaVersion":2})";
  transport_->Enqueue(Reply(200, {{"Content-Type", kDockerManifestMediaType}}, body));
  StatusOr<ManifestReply> ok = client->GetManifest("team/app", Sha256Digest(body));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->digest, Sha256Digest(body));  // no header: computed

  transport_->Enqueue(Reply(200, {{"Content-Type", kDockerManifestMediaType}}, body + " "));
  StatusOr<ManifestReply> bad = client->GetManifest("team/app", Sha256Digest(body));
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("does not match"));

  transport_->Enqueue(Reply(200, {{"Docker-Content-Digest", "sha256:" + std::string(64, '0')}}, body));
  EXPECT_FALSE(client->GetManifest("team/app", "latest").ok());
}

TEST_F(RegistryClientTest, GetManifestMissing) {
  auto client = Make(false);
  transport_->Enqueue(Reply(404, {}, ErrorJson("MANIFEST_UNKNOWN", "manifest unknown")));
  StatusOr<ManifestReply> m = client->GetManifest("team/app", "1.0");
  EXPECT_EQ(m.status().code(), StatusCode::kResourceDoesNotExist);
  EXPECT_THAT(m.status().message(), StartsWith("image reg.example.com/team/app:1.0 does not exist"));
  transport_->Enqueue(Reply(404, {}, ErrorJson("NAME_UNKNOWN", "repository name not known to registry")));
  EXPECT_EQ(client->GetManifest("team/other", "1.0").status().code(), StatusCode::kResourceDoesNotExist);
  EXPECT_EQ(transport_->requests().size(), 2u);  // not retried
}

TEST_F(RegistryClientTest, PutManifest) {
  auto client = Make(false);
  const std::string body = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"})";
  transport_->Enqueue(Reply(201, {{"Docker-Content-Digest", Sha256Digest(body)}}));
  StatusOr<std::string> d = client->PutManifest("team/app", "1.0", body, kOciManifestMediaType);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(*d, Sha256Digest(body));
  auto reqs = transport_->requests();
  EXPECT_EQ(reqs[0].method, "PUT");
  EXPECT_EQ(reqs[0].url, kBase + "/v2/team/app/manifests/1.0");
  EXPECT_EQ(FindHeader(reqs[0].headers, "Content-Type").value_or(""), kOciManifestMediaType);
  EXPECT_EQ(reqs[0].body, body);

  transport_->Enqueue(Reply(201, {{"Docker-Content-Digest", "sha256:" + std::string(64, '1')}}));
  EXPECT_EQ(client->PutManifest("team/app", "1.0", body, kOciManifestMediaType).status().code(), StatusCode::kInternalError);
  EXPECT_EQ(client->PutManifest("team/app", "sha256:" + std::string(64, '1'), body, kOciManifestMediaType).status().code(),
            StatusCode::kInvalidParameterValue);
}

// ---------------------------------------------------------------- auth through the client

TEST_F(RegistryClientTest, BasicHandshakeThenRefusal) {
  auto client = Make();
  EnqueueBasicChallenge();
  transport_->Enqueue(Reply(200, {{"Content-Type", kOciManifestMediaType}}, "{}"));
  ASSERT_TRUE(client->GetManifest("team/app", "1.0").ok());
  auto reqs = transport_->requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(Auth(reqs[0]), "");
  EXPECT_EQ(Auth(reqs[1]), kBasic);

  // Later: wrong password -> 401 again after the handshake -> UNAUTHENTICATED.
  EnqueueBasicChallenge();
  EnqueueBasicChallenge();
  Status s = client->UploadBlobBytes("team/app", "x", Sha256Digest("x"));
  EXPECT_EQ(s.code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(s.message(),
            "Registry reg.example.com refused push to team/app with username/password for reg.example.com "
            "(401 UNAUTHORIZED: authentication required). Check the user name and password.");
  ExpectNoSecret(s);
}

TEST_F(RegistryClientTest, DeniedIsPermissionDenied) {
  auto client = Make();
  transport_->Enqueue(Reply(403, {}, ErrorJson("DENIED", "requested access to the resource is denied")));
  Status s = client->PutManifest("team/app", "1.0", "{}", kOciManifestMediaType).status();
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("Registry reg.example.com refused push to team/app with username/password"));
  EXPECT_THAT(s.message(), HasSubstr("403 DENIED"));
}

TEST_F(RegistryClientTest, BearerHandshakeForPush) {
  auto client = Make();
  transport_->Enqueue(
      Reply(401,
            {{"WWW-Authenticate",
              R"(Bearer realm="https://auth.example.com/token",service="reg",scope="repository:team/app:pull,push")"}},
            ErrorJson("UNAUTHORIZED", "authentication required")));
  transport_->Enqueue(Reply(200, {}, R"({"token":"tok-secret","expires_in":300})"));
  transport_->Enqueue(Reply(202, {{"Location", "/v2/team/app/blobs/uploads/u1?_state=s1"}}));
  transport_->Enqueue(Reply(201, {{"Docker-Content-Digest", Sha256Digest("cfg")}}));
  ASSERT_TRUE(client->UploadBlobBytes("team/app", "cfg", Sha256Digest("cfg")).ok());
  auto reqs = transport_->requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(reqs[1].url,
            "https://auth.example.com/token?service=reg&scope=repository%3Ateam%2Fapp%3Apull%2Cpush&account=alice");
  EXPECT_EQ(Auth(reqs[1]), kBasic);
  EXPECT_EQ(Auth(reqs[2]), "Bearer tok-secret");
  EXPECT_EQ(Auth(reqs[3]), "Bearer tok-secret");
  EXPECT_EQ(reqs[3].url, kBase + "/v2/team/app/blobs/uploads/u1?_state=s1&digest=sha256%3A" + Sha256Hex("cfg"));
  EXPECT_EQ(reqs[3].body, "cfg");
}

TEST_F(RegistryClientTest, InsufficientScopeAfterHandshakeIsPermissionDenied) {
  auto client = Make();
  const std::string ch = R"(Bearer realm="https://auth.example.com/token",service="reg")";
  transport_->Enqueue(Reply(401, {{"WWW-Authenticate", ch}}, ErrorJson("UNAUTHORIZED", "authentication required")));
  transport_->Enqueue(Reply(200, {}, R"({"token":"tok-secret"})"));
  transport_->Enqueue(Reply(401, {{"WWW-Authenticate", ch + R"(,error="insufficient_scope")"}},
                            ErrorJson("UNAUTHORIZED", "authentication required")));
  Status s = client->UploadBlobBytes("team/app", "x", Sha256Digest("x"));
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
  ExpectNoSecret(s);
}

// ---------------------------------------------------------------- blobs: HEAD, mount

TEST_F(RegistryClientTest, HasBlob) {
  auto client = Make(false);
  const std::string d = Sha256Digest("x");
  transport_->Enqueue(Reply(200, {{"Content-Length", "1"}}));
  transport_->Enqueue(Reply(404));
  EXPECT_TRUE(*client->HasBlob("team/app", d));
  EXPECT_FALSE(*client->HasBlob("team/app", d));
  auto reqs = transport_->requests();
  EXPECT_EQ(reqs[0].method, "HEAD");
  EXPECT_EQ(reqs[0].url, kBase + "/v2/team/app/blobs/" + d);
  EXPECT_EQ(client->HasBlob("team/app", "sha256:xyz").status().code(), StatusCode::kInvalidParameterValue);
}

TEST_F(RegistryClientTest, MountCreatedAndMountRefusedCancelsUpload) {
  auto client = Make();
  const std::string d = Sha256Digest("layer");
  transport_->Enqueue(Reply(401, {{"WWW-Authenticate", R"(Bearer realm="https://auth.example.com/token",service="reg")"}}));
  transport_->Enqueue(Reply(200, {}, R"({"token":"tok-secret"})"));
  transport_->Enqueue(Reply(201, {{"Location", "/v2/team/app/blobs/" + d}}));
  StatusOr<bool> m = client->MountBlob("team/app", d, "team/base");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_TRUE(*m);
  auto reqs = transport_->requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].url, kBase + "/v2/team/app/blobs/uploads/?mount=sha256%3A" + Sha256Hex("layer") + "&from=team/base");
  EXPECT_THAT(reqs[1].url, HasSubstr("scope=repository%3Ateam%2Fapp%3Apull%2Cpush&scope=repository%3Ateam%2Fbase%3Apull"));

  transport_->Enqueue(Reply(202, {{"Location", "/v2/team/app/blobs/uploads/u9?_state=z"}}));
  transport_->Enqueue(Reply(204));
  m = client->MountBlob("team/app", d, "team/base");
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(*m);
  reqs = transport_->requests();
  ASSERT_EQ(reqs.size(), 5u);
  EXPECT_EQ(reqs[4].method, "DELETE");
  EXPECT_EQ(reqs[4].url, kBase + "/v2/team/app/blobs/uploads/u9?_state=z");
  EXPECT_EQ(Auth(reqs[4]), "Bearer tok-secret");
}

// ---------------------------------------------------------------- uploads

TEST_F(RegistryClientTest, MonolithicUpload) {
  auto client = Make(false, 16);
  const std::string content = "0123456789";
  const std::string path = WriteFile("blob", content);
  const std::string d = Sha256Digest(content);
  transport_->Enqueue(Reply(202, {{"Location", "/v2/team/app/blobs/uploads/u1?_state=a"}, {"Range", "0-0"}}));
  transport_->Enqueue(Reply(201, {{"Docker-Content-Digest", d}, {"Location", "/v2/team/app/blobs/" + d}}));
  std::vector<std::pair<uint64_t, uint64_t>> progress;
  Status s =
      client->UploadBlob("team/app", path, d, content.size(), [&](uint64_t a, uint64_t b) { progress.emplace_back(a, b); });
  ASSERT_TRUE(s.ok()) << s.ToString();
  auto reqs = transport_->requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].url, kBase + "/v2/team/app/blobs/uploads/");
  EXPECT_EQ(reqs[1].method, "PUT");
  EXPECT_EQ(reqs[1].url, kBase + "/v2/team/app/blobs/uploads/u1?_state=a&digest=sha256%3A" + Sha256Hex(content));
  EXPECT_EQ(reqs[1].body, content);
  EXPECT_EQ(FindHeader(reqs[1].headers, "Content-Type").value_or(""), "application/octet-stream");
  EXPECT_EQ(progress, (std::vector<std::pair<uint64_t, uint64_t>>{{10, 10}}));
}

TEST_F(RegistryClientTest, ChunkedUploadUsesTheLatestLocation) {
  auto client = Make(false, 4);
  const std::string content = "0123456789";
  const std::string path = WriteFile("blob", content);
  const std::string d = Sha256Digest(content);
  transport_->Enqueue(Reply(202, {{"Location", "/v2/team/app/blobs/uploads/u1?_state=s0"}, {"Range", "0-0"}}));
  transport_->Enqueue(Reply(202, {{"Location", "/v2/team/app/blobs/uploads/u1?_state=s1"}, {"Range", "0-3"}}));
  transport_->Enqueue(
      Reply(202, {{"Location", "http://reg.example.com/v2/team/app/blobs/uploads/u1?_state=s2"}, {"Range", "0-7"}}));
  transport_->Enqueue(Reply(202, {{"Location", "/v2/team/app/blobs/uploads/u1?_state=s3"}, {"Range", "0-9"}}));
  transport_->Enqueue(Reply(201, {{"Docker-Content-Digest", d}}));
  std::vector<std::pair<uint64_t, uint64_t>> progress;
  Status s =
      client->UploadBlob("team/app", path, d, content.size(), [&](uint64_t a, uint64_t b) { progress.emplace_back(a, b); });
  ASSERT_TRUE(s.ok()) << s.ToString();
  auto reqs = transport_->requests();
  ASSERT_EQ(reqs.size(), 5u);
  const std::string u = kBase + "/v2/team/app/blobs/uploads/u1?_state=";
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[1].method, "PATCH");
  EXPECT_EQ(reqs[1].url, u + "s0");
  EXPECT_EQ(reqs[1].body, "0123");
  EXPECT_EQ(FindHeader(reqs[1].headers, "Content-Range").value_or(""), "0-3");
  EXPECT_EQ(FindHeader(reqs[1].headers, "Content-Type").value_or(""), "application/octet-stream");
  EXPECT_EQ(reqs[2].url, u + "s1");
  EXPECT_EQ(reqs[2].body, "4567");
  EXPECT_EQ(FindHeader(reqs[2].headers, "Content-Range").value_or(""), "4-7");
  EXPECT_EQ(reqs[3].url, "http://reg.example.com/v2/team/app/blobs/uploads/u1?_state=s2");  // absolute Location as is
  EXPECT_EQ(reqs[3].body, "89");
  EXPECT_EQ(reqs[4].method, "PUT");
  EXPECT_EQ(reqs[4].url, u + "s3&digest=sha256%3A" + Sha256Hex(content));
  EXPECT_EQ(reqs[4].body, "");
  EXPECT_EQ(progress, (std::vector<std::pair<uint64_t, uint64_t>>{{4, 10}, {8, 10}, {10, 10}}));
}

TEST_F(RegistryClientTest, ChunkedUploadResumesAfterDroppedPatch) {
  auto client = Make(false, 4);
  const std::string content = "0123456789";
  const std::string path = WriteFile("blob", content);
  const std::string d = Sha256Digest(content);
  const std::string u = "/v2/team/app/blobs/uploads/u1?_state=";
  transport_->Enqueue(Reply(202, {{"Location", u + "s0"}}));
  transport_->Enqueue(Reply(202, {{"Location", u + "s1"}, {"Range", "0-3"}}));
  transport_->Enqueue(UnavailableError("PATCH failed: Connection reset by peer"));
  transport_->Enqueue(Reply(204, {{"Location", u + "s2"}, {"Range", "0-5"}}));  // 2 bytes of the chunk landed
  transport_->Enqueue(Reply(202, {{"Location", u + "s3"}, {"Range", "0-7"}}));
  transport_->Enqueue(Reply(202, {{"Location", u + "s4"}, {"Range", "0-9"}}));
  transport_->Enqueue(Reply(201, {{"Docker-Content-Digest", d}}));
  Status s = client->UploadBlob("team/app", path, d, content.size());
  ASSERT_TRUE(s.ok()) << s.ToString();
  auto reqs = transport_->requests();
  ASSERT_EQ(reqs.size(), 7u);
  EXPECT_EQ(reqs[2].method, "PATCH");
  EXPECT_EQ(reqs[2].url, kBase + u + "s1");
  EXPECT_EQ(reqs[3].method, "GET");  // upload status at the latest Location
  EXPECT_EQ(reqs[3].url, kBase + u + "s1");
  EXPECT_EQ(reqs[4].method, "PATCH");
  EXPECT_EQ(reqs[4].url, kBase + u + "s2");
  EXPECT_EQ(reqs[4].body, "67");
  EXPECT_EQ(FindHeader(reqs[4].headers, "Content-Range").value_or(""), "6-7");
  EXPECT_EQ(reqs[5].body, "89");
  EXPECT_EQ(reqs[6].url, kBase + u + "s4&digest=sha256%3A" + Sha256Hex(content));
  EXPECT_EQ(clock_->sleeps.size(), 1u);  // backoff through the RetryLoop
}

TEST_F(RegistryClientTest, ChunkedUploadResumesAfter5xxWithAmbiguousRange) {
  auto client = Make(false, 4);
  const std::string content = "0123456789";
  const std::string path = WriteFile("blob", content);
  const std::string d = Sha256Digest(content);
  const std::string u = "/v2/team/app/blobs/uploads/u1?_state=";
  transport_->Enqueue(Reply(202, {{"Location", u + "s0"}}));
  transport_->Enqueue(Reply(500, {}, ErrorJson("UNKNOWN", "unknown error")));
  transport_->Enqueue(Reply(204, {{"Location", u + "s1"}, {"Range", "0-0"}}));  // 0 or 1 byte: we sent 0 for sure
  transport_->Enqueue(Reply(202, {{"Location", u + "s2"}, {"Range", "0-3"}}));
  transport_->Enqueue(Reply(202, {{"Location", u + "s3"}, {"Range", "0-7"}}));
  transport_->Enqueue(Reply(202, {{"Location", u + "s4"}, {"Range", "0-9"}}));
  transport_->Enqueue(Reply(201, {{"Docker-Content-Digest", d}}));
  Status s = client->UploadBlob("team/app", path, d, content.size());
  ASSERT_TRUE(s.ok()) << s.ToString();
  auto reqs = transport_->requests();
  ASSERT_EQ(reqs.size(), 7u);
  EXPECT_EQ(reqs[2].method, "GET");
  EXPECT_EQ(reqs[3].url, kBase + u + "s1");
  EXPECT_EQ(reqs[3].body, "0123");
}

TEST_F(RegistryClientTest, ChunkedUploadStartsOverOnceWhenTheUploadIsGone) {
  auto client = Make(false, 6);
  const std::string content = "0123456789";
  const std::string path = WriteFile("blob", content);
  const std::string d = Sha256Digest(content);
  transport_->Enqueue(Reply(202, {{"Location", "/v2/team/app/blobs/uploads/u1?_state=a0"}}));
  transport_->Enqueue(Reply(404, {}, ErrorJson("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry")));
  transport_->Enqueue(Reply(202, {{"Location", "/v2/team/app/blobs/uploads/u2?_state=b0"}}));
  transport_->Enqueue(Reply(202, {{"Location", "/v2/team/app/blobs/uploads/u2?_state=b1"}, {"Range", "0-5"}}));
  transport_->Enqueue(Reply(202, {{"Location", "/v2/team/app/blobs/uploads/u2?_state=b2"}, {"Range", "0-9"}}));
  transport_->Enqueue(Reply(201, {{"Docker-Content-Digest", d}}));
  Status s = client->UploadBlob("team/app", path, d, content.size());
  ASSERT_TRUE(s.ok()) << s.ToString();
  auto reqs = transport_->requests();
  ASSERT_EQ(reqs.size(), 6u);
  EXPECT_EQ(reqs[2].method, "POST");
  EXPECT_EQ(reqs[3].url, kBase + "/v2/team/app/blobs/uploads/u2?_state=b0");
  EXPECT_EQ(reqs[3].body, "012345");

  // Gone twice: give up.
  transport_->Enqueue(Reply(202, {{"Location", "/v2/team/app/blobs/uploads/u3?_state=c0"}}));
  transport_->Enqueue(Reply(404, {}, ErrorJson("BLOB_UPLOAD_INVALID", "blob upload invalid")));
  transport_->Enqueue(Reply(202, {{"Location", "/v2/team/app/blobs/uploads/u4?_state=d0"}}));
  transport_->Enqueue(Reply(404, {}, ErrorJson("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry")));
  s = client->UploadBlob("team/app", path, d, content.size());
  EXPECT_EQ(s.code(), StatusCode::kResourceDoesNotExist);
  EXPECT_THAT(s.message(), HasSubstr("BLOB_UPLOAD_UNKNOWN"));
}

TEST_F(RegistryClientTest, UploadDigestChecks) {
  auto client = Make(false);
  const std::string d = Sha256Digest("cfg");
  transport_->Enqueue(Reply(202, {{"Location", "/v2/team/app/blobs/uploads/u1?_state=a"}}));
  transport_->Enqueue(Reply(201, {{"Docker-Content-Digest", Sha256Digest("other")}}));
  Status s = client->UploadBlobBytes("team/app", "cfg", d);
  EXPECT_EQ(s.code(), StatusCode::kInternalError);
  EXPECT_THAT(s.message(), HasSubstr("under digest"));
  // The registry says our digest is wrong: our bug.
  transport_->Enqueue(Reply(202, {{"Location", "/v2/team/app/blobs/uploads/u1?_state=b"}}));
  transport_->Enqueue(Reply(400, {}, ErrorJson("DIGEST_INVALID", "provided digest did not match uploaded content")));
  EXPECT_EQ(client->UploadBlobBytes("team/app", "cfg", d).code(), StatusCode::kInternalError);
  // Bytes that do not match the digest never leave.
  size_t before = transport_->requests().size();
  EXPECT_EQ(client->UploadBlobBytes("team/app", "cfg!", d).code(), StatusCode::kInvalidParameterValue);
  const std::string path = WriteFile("blob", "abc");
  EXPECT_EQ(client->UploadBlob("team/app", path, Sha256Digest("abc"), 4).code(), StatusCode::kInvalidParameterValue);
  EXPECT_EQ(transport_->requests().size(), before);
}

TEST_F(RegistryClientTest, LostPutReplyButBlobThereIsSuccess) {
  auto client = Make(false);
  const std::string d = Sha256Digest("cfg");
  transport_->Enqueue(Reply(202, {{"Location", "/v2/team/app/blobs/uploads/u1?_state=a"}}));
  transport_->Enqueue(UnavailableError("PUT failed: Connection reset by peer"));
  transport_->Enqueue(Reply(404, {}, ErrorJson("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry")));
  transport_->Enqueue(Reply(200, {{"Docker-Content-Digest", d}}));  // HEAD
  EXPECT_TRUE(client->UploadBlobBytes("team/app", "cfg", d).ok());
}

// ---------------------------------------------------------------- downloads

TEST_F(RegistryClientTest, DownloadBlobFollowsRedirectWithoutAuthorizationAndResumes) {
  auto client = Make(true, 4);
  const std::string content = "abcdef";
  const std::string d = Sha256Digest(content);
  const std::string storage = "https://storage.example.net/blobs/x?X-Amz-Signature=abc";
  EnqueueBasicChallenge();
  transport_->Enqueue(Reply(307, {{"Location", storage}}));
  transport_->Enqueue(Reply(206, {{"Content-Range", "bytes 0-3/6"}}, "abcd"));
  transport_->Enqueue(Reply(307, {{"Location", storage}}));
  transport_->Enqueue(UnavailableError("GET failed: Connection reset by peer"));
  transport_->Enqueue(Reply(206, {{"Content-Range", "bytes 4-5/6"}}, "ef"));
  const std::string path = (dir_ / "out").string();
  std::vector<std::pair<uint64_t, uint64_t>> progress;
  Status s = client->DownloadBlob("team/app", d, path, [&](uint64_t a, uint64_t b) { progress.emplace_back(a, b); });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(ReadFile(path), content);
  EXPECT_EQ(progress, (std::vector<std::pair<uint64_t, uint64_t>>{{4, 6}, {6, 6}}));
  auto reqs = transport_->requests();
  ASSERT_EQ(reqs.size(), 6u);
  EXPECT_EQ(reqs[0].url, kBase + "/v2/team/app/blobs/" + d);
  EXPECT_EQ(FindHeader(reqs[0].headers, "Range").value_or(""), "bytes=0-3");
  EXPECT_EQ(Auth(reqs[1]), kBasic);
  EXPECT_EQ(reqs[2].url, storage);
  EXPECT_EQ(Auth(reqs[2]), "");  // never forwarded to another host
  EXPECT_EQ(FindHeader(reqs[2].headers, "Range").value_or(""), "bytes=0-3");
  EXPECT_EQ(Auth(reqs[3]), kBasic);
  EXPECT_EQ(FindHeader(reqs[3].headers, "Range").value_or(""), "bytes=4-7");
  EXPECT_EQ(reqs[5].url, storage);  // the dropped range asked again
  EXPECT_EQ(Auth(reqs[5]), "");
  EXPECT_EQ(FindHeader(reqs[5].headers, "Range").value_or(""), "bytes=4-7");
}

TEST_F(RegistryClientTest, DownloadBlobWholeReplyEmptyBlobAndMismatch) {
  auto client = Make(false, 4);
  const std::string path = (dir_ / "out").string();
  // A server that ignores Range.
  transport_->Enqueue(Reply(200, {}, "abcdef"));
  ASSERT_TRUE(client->DownloadBlob("team/app", Sha256Digest("abcdef"), path).ok());
  EXPECT_EQ(ReadFile(path), "abcdef");
  // An empty blob: Go's ServeContent answers 416 with bytes */0.
  transport_->Enqueue(Reply(416, {{"Content-Range", "bytes */0"}}));
  ASSERT_TRUE(client->DownloadBlob("team/app", Sha256Digest(""), path).ok());
  EXPECT_EQ(ReadFile(path), "");
  // Corrupted: error and no file left behind.
  transport_->Enqueue(Reply(206, {{"Content-Range", "bytes 0-2/3"}}, "xyz"));
  Status s = client->DownloadBlob("team/app", Sha256Digest("abc"), path);
  EXPECT_EQ(s.code(), StatusCode::kInternalError);
  EXPECT_THAT(s.message(), HasSubstr("arrived with sha256"));
  EXPECT_FALSE(fs::exists(path));
}

TEST_F(RegistryClientTest, GetBlobVerifiesDigestAndSize) {
  auto client = Make(false);
  transport_->Enqueue(Reply(307, {{"Location", "https://storage.example.net/b"}}));
  transport_->Enqueue(Reply(200, {}, "config"));
  StatusOr<std::string> b = client->GetBlob("team/app", Sha256Digest("config"));
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(*b, "config");
  transport_->Enqueue(Reply(200, {}, "config"));
  EXPECT_EQ(client->GetBlob("team/app", Sha256Digest("other")).status().code(), StatusCode::kInternalError);
  transport_->Enqueue(Reply(200, {}, "config"));
  EXPECT_EQ(client->GetBlob("team/app", Sha256Digest("config"), 3).status().code(), StatusCode::kInvalidParameterValue);
  transport_->Enqueue(Reply(404, {}, ErrorJson("BLOB_UNKNOWN", "blob unknown to registry")));
  EXPECT_EQ(client->GetBlob("team/app", Sha256Digest("config")).status().code(), StatusCode::kResourceDoesNotExist);
}

// ---------------------------------------------------------------- errors

TEST(RegistryClientErrorTest, MappingTable) {
  struct Case {
    long status;
    std::string code;
    StatusCode want;
  };
  const std::vector<Case> cases = {
      {401, "UNAUTHORIZED", StatusCode::kUnauthenticated},
      {403, "DENIED", StatusCode::kPermissionDenied},
      {401, "DENIED", StatusCode::kPermissionDenied},
      {404, "NAME_UNKNOWN", StatusCode::kResourceDoesNotExist},
      {404, "MANIFEST_UNKNOWN", StatusCode::kResourceDoesNotExist},
      {404, "BLOB_UNKNOWN", StatusCode::kResourceDoesNotExist},
      {404, "", StatusCode::kResourceDoesNotExist},
      {400, "NAME_INVALID", StatusCode::kInvalidParameterValue},
      {400, "TAG_INVALID", StatusCode::kInvalidParameterValue},
      {400, "MANIFEST_INVALID", StatusCode::kInvalidParameterValue},
      {400, "SIZE_INVALID", StatusCode::kInvalidParameterValue},
      {400, "DIGEST_INVALID", StatusCode::kInternalError},
      {400, "MANIFEST_BLOB_UNKNOWN", StatusCode::kInternalError},
      {429, "TOOMANYREQUESTS", StatusCode::kTemporarilyUnavailable},
      {429, "", StatusCode::kTemporarilyUnavailable},
      {503, "", StatusCode::kTemporarilyUnavailable},
      {500, "UNKNOWN", StatusCode::kInternalError},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::to_string(c.status) + " " + c.code);
    HttpResponse r{c.status, {}, c.code.empty() ? "" : ErrorJson(c.code, "msg")};
    Status s = RegistryErrorStatus(r, "reg", "team/app", "push", "creds", "PUT x", std::chrono::system_clock::now());
    EXPECT_EQ(s.code(), c.want) << s.ToString();
  }
  HttpResponse r{429, {{"Retry-After", "7"}}, ErrorJson("TOOMANYREQUESTS", "slow down")};
  Status s = RegistryErrorStatus(r, "reg", "team/app", "pull", "creds", "GET x", std::chrono::system_clock::now());
  ASSERT_TRUE(s.retry_after());
  EXPECT_EQ(*s.retry_after(), milliseconds(7000));
  EXPECT_THAT(s.message(), HasSubstr("TOOMANYREQUESTS: slow down"));
}

TEST_F(RegistryClientTest, TooManyRequestsIsRetriedHonouringRetryAfter) {
  auto client = Make(false);
  transport_->Enqueue(Reply(429, {{"Retry-After", "3"}}, ErrorJson("TOOMANYREQUESTS", "rate limited")));
  transport_->Enqueue(Reply(200));
  EXPECT_TRUE(*client->HasBlob("team/app", Sha256Digest("x")));
  ASSERT_EQ(clock_->sleeps.size(), 1u);
  EXPECT_EQ(clock_->sleeps[0], milliseconds(3000));
}

TEST_F(RegistryClientTest, UnreachableAfterRetries) {
  auto client = Make();
  for (int i = 0; i < 3; ++i)
    transport_->Enqueue(UnavailableError("GET https://reg.example.com/v2/ failed: Failed to connect: Connection refused"));
  Status s = client->GetManifest("team/app", "1.0").status();
  EXPECT_EQ(s.code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("registry reg.example.com is unreachable (GET https://reg.example.com/v2/ failed"));
  EXPECT_THAT(s.message(), HasSubstr("after 3 attempts"));
  EXPECT_EQ(transport_->requests().size(), 3u);
}

TEST_F(RegistryClientTest, NoSecretInAnyMessage) {
  auto client = Make();
  std::vector<Status> statuses;
  // Registry echoing the credentials in its error message.
  EnqueueBasicChallenge();
  transport_->Enqueue(
      Reply(400, {}, ErrorJson("NAME_INVALID", "bad name; your password is " + kPassword + " and header " + kBasic)));
  statuses.push_back(client->GetManifest("team/app", "1.0").status());
  transport_->Enqueue(Reply(401, {{"WWW-Authenticate", R"(Basic realm="r")"}}, ErrorJson("UNAUTHORIZED", kPassword)));
  statuses.push_back(client->HasBlob("team/app", Sha256Digest("x")).status());
  transport_->Enqueue(UnavailableError("connection to " + kPassword + " dropped"));
  transport_->Enqueue(UnavailableError("connection to " + kPassword + " dropped"));
  transport_->Enqueue(UnavailableError("connection to " + kPassword + " dropped"));
  statuses.push_back(client->PutManifest("team/app", "1", "{}", kOciManifestMediaType).status());
  for (const Status& s : statuses) {
    EXPECT_FALSE(s.ok());
    ExpectNoSecret(s);
  }
}

}  // namespace
}  // namespace mlflow_bridge::internal
