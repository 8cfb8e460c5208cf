#include "aws/s3_stub.h"

#include <gtest/gtest.h>

#include "test_support.h"
#include <stdlib.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "aws/sigv4.h"
#include "mlflow_bridge/aws.h"
#include "mlflow_bridge/logging.h"
#include "mock_transport.h"
#include "common/url.h"
#include "common/crypto.h"

namespace mlflow_bridge::internal {
namespace {

using ::mlflow_bridge::testing::FakeClock;
using ::mlflow_bridge::testing::ScopedEnv;

namespace fs = std::filesystem;
using std::chrono::milliseconds;

constexpr uint64_t kMiB = 1024 * 1024;

// A MockTransport whose requests take `latency` of fake time each.
class SlowMockTransport : public MockTransport {
 public:
  SlowMockTransport(std::shared_ptr<FakeClock> clock, milliseconds latency) : clock_(std::move(clock)), latency_(latency) {}
  StatusOr<HttpResponse> Send(const HttpRequest& request) override {
    clock_->Advance(latency_);
    return MockTransport::Send(request);
  }

 private:
  std::shared_ptr<FakeClock> clock_;
  milliseconds latency_;
};

const AwsCredentials kCreds{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "", std::nullopt};

std::string QueryOf(const std::string& url) {
  size_t q = url.find('?');
  return q == std::string::npos ? "" : url.substr(q + 1);
}

std::string PathOf(const std::string& url) {
  StatusOr<ParsedUrl> p = ParseUrl(url);
  return p.ok() ? p->path : "";
}

class S3ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    old_level_ = GetLogLevel();
    SetLogLevel(LogLevel::kDebug);
    old_sink_ = SetLogSink([this](LogLevel, std::string_view m) { logs_.emplace_back(m); });
    char tmpl[] = "/tmp/s3_client_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    SetLogSink(old_sink_);
    SetLogLevel(old_level_);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  S3Client Client(const std::string& region = "us-west-2", const std::string& endpoint = "http://127.0.0.1:5000",
                  std::shared_ptr<HttpTransport> transport = nullptr) {
    S3ClientOptions options;
    options.retry = RetryPolicy{3, milliseconds(60'000)};
    options.backoff = BackoffPolicy{milliseconds(100), milliseconds(1'000), 2.0};
    return S3Client(transport ? transport : mock_, MakeStaticAwsCredentialsProvider(kCreds), clock_, region, endpoint,
                    options);
  }

  // A file of `size` pseudo-random bytes.
  std::string MakeFile(const std::string& name, uint64_t size) {
    static const std::string random = [] {
      std::string r(16 * kMiB, '\0');
      std::mt19937_64 rng(42);
      for (size_t i = 0; i + 8 <= r.size(); i += 8) {
        uint64_t v = rng();
        std::memcpy(&r[i], &v, 8);
      }
      return r;
    }();
    std::string data = size <= random.size() ? random.substr(0, size) : std::string(size, 'x');
    std::string path = (fs::path(dir_) / name).string();
    std::ofstream(path, std::ios::binary).write(data.data(), static_cast<std::streamsize>(data.size()));
    contents_[path] = data;
    return path;
  }

  // Signed for s3 in us-west-2 (or `region`) with x-amz-content-sha256 = SHA-256 of the body,
  // and the signature is what SignV4 computes for the request as sent.
  void ExpectSigned(const HttpRequest& r, const std::string& region = "us-west-2") {
    SCOPED_TRACE(r.method + " " + r.url);
    ASSERT_TRUE(FindHeader(r.headers, "x-amz-content-sha256"));
    EXPECT_EQ(*FindHeader(r.headers, "x-amz-content-sha256"), Sha256Hex(r.body));
    ASSERT_TRUE(FindHeader(r.headers, "X-Amz-Date"));
    ASSERT_TRUE(FindHeader(r.headers, "Authorization"));
    std::string auth = *FindHeader(r.headers, "Authorization");
    EXPECT_NE(auth.find("Credential=AKIDEXAMPLE/"), std::string::npos) << auth;
    EXPECT_NE(auth.find("/" + region + "/s3/aws4_request"), std::string::npos) << auth;
    EXPECT_NE(auth.find("x-amz-content-sha256"), std::string::npos) << auth;  // signed too
    // Signing the recorded request again at its own date reproduces the signature.
    HttpRequest copy = r;
    SigV4Params p;
    p.region = region;
    p.service = "s3";
    p.sign_body_hash_header = true;
    std::string date = *FindHeader(r.headers, "X-Amz-Date");
    std::tm tm{};
    strptime(date.c_str(), "%Y%m%dT%H%M%SZ", &tm);
    p.now = std::chrono::system_clock::from_time_t(timegm(&tm));
    ASSERT_TRUE(SignV4(copy, kCreds, p).ok());
    EXPECT_EQ(*FindHeader(copy.headers, "Authorization"), auth);
  }

  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>(::mlflow_bridge::testing::Utc(2024, 5, 1, 12, 0, 0));
  std::shared_ptr<MockTransport> mock_ = std::make_shared<MockTransport>();
  std::string dir_;
  std::map<std::string, std::string> contents_;
  std::vector<std::string> logs_;
  LogSink old_sink_;
  LogLevel old_level_ = LogLevel::kInfo;
  // The default-endpoint tests must not see a developer's endpoint settings.
  ScopedEnv env1_{"AWS_ENDPOINT_URL", nullptr};
  ScopedEnv env2_{"AWS_ENDPOINT_URL_S3", nullptr};
  ScopedEnv env3_{"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", nullptr};
};

// ------------------------------------------------------------------ URLs

TEST_F(S3ClientTest, OverrideIsPathStyleWithKeyEncodedPerSegment) {
  S3Client c = Client("us-west-2", "http://127.0.0.1:5000/");
  EXPECT_EQ(c.ObjectUrl("models", "run 1/model+v2.tar.gz"), "http://127.0.0.1:5000/models/run%201/model%2Bv2.tar.gz");
  EXPECT_EQ(c.ObjectUrl("models", ""), "http://127.0.0.1:5000/models");
  EXPECT_EQ(c.ObjectUrl("my.models", "k", "uploads"), "http://127.0.0.1:5000/my.models/k?uploads");
}

TEST_F(S3ClientTest, DefaultEndpointIsVirtualHosted) {
  EXPECT_EQ(Client("us-west-2", "").ObjectUrl("models", "a/b c.tar.gz"),
            "https://models.s3.us-west-2.amazonaws.com/a/b%20c.tar.gz");
  EXPECT_EQ(Client("us-east-1", "").ObjectUrl("models", "a/m.tar.gz"), "https://models.s3.amazonaws.com/a/m.tar.gz");
  EXPECT_EQ(Client("cn-north-1", "").ObjectUrl("models", "k"), "https://models.s3.cn-north-1.amazonaws.com.cn/k");
  EXPECT_EQ(Client("us-west-2", "").ObjectUrl("models", ""), "https://models.s3.us-west-2.amazonaws.com/");
}

TEST_F(S3ClientTest, DottedBucketOnDefaultEndpointIsPathStyle) {
  EXPECT_EQ(Client("us-west-2", "").ObjectUrl("my.models", "k/m.tar.gz"),
            "https://s3.us-west-2.amazonaws.com/my.models/k/m.tar.gz");
}

TEST_F(S3ClientTest, EndpointFromEnvironmentIsPathStyle) {
  {
    ScopedEnv e("AWS_ENDPOINT_URL", "http://localhost:9000");
    EXPECT_EQ(Client("us-west-2", "").ObjectUrl("models", "k"), "http://localhost:9000/models/k");
  }
  {
    ScopedEnv e("AWS_ENDPOINT_URL_S3", "http://minio:9000/");
    EXPECT_EQ(Client("us-west-2", "").ObjectUrl("models", "k"), "http://minio:9000/models/k");
  }
}

// ------------------------------------------------------------------ signing

TEST_F(S3ClientTest, EveryRequestIsSignedForS3WithThePayloadHash) {
  std::string path = MakeFile("small.bin", 1000);
  mock_->Enqueue(200, "");
  S3Client c = Client("eu-central-1", "");
  ASSERT_TRUE(c.UploadFile("models", "m/model.tar.gz", path).ok());
  ASSERT_EQ(mock_->requests().size(), 1u);
  const HttpRequest r = mock_->requests()[0];
  EXPECT_EQ(r.url, "https://models.s3.eu-central-1.amazonaws.com/m/model.tar.gz");
  EXPECT_EQ(FindHeader(r.headers, "Host").value_or(""), "models.s3.eu-central-1.amazonaws.com");
  ExpectSigned(r, "eu-central-1");
  EXPECT_EQ(FindHeader(r.headers, "X-Amz-Date").value_or(""), "20240501T120000Z");
}

TEST_F(S3ClientTest, RetriesAreSignedAgainAtTheirOwnTime) {
  auto slow = std::make_shared<SlowMockTransport>(clock_, milliseconds(7'000));
  slow->Enqueue(503, "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>");
  slow->Enqueue(500, "<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>");
  slow->Enqueue(200, "");
  std::string path = MakeFile("small.bin", 10);
  S3Client c = Client("us-west-2", "http://127.0.0.1:5000", slow);
  StatusOr<std::string> url = c.UploadFile("models", "k", path);
  ASSERT_TRUE(url.ok()) << url.status().ToString();
  std::vector<HttpRequest> reqs = slow->requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(clock_->sleeps.size(), 2u);
  std::vector<std::string> dates, auths;
  for (const HttpRequest& r : reqs) {
    ExpectSigned(r);
    dates.push_back(*FindHeader(r.headers, "X-Amz-Date"));
    auths.push_back(*FindHeader(r.headers, "Authorization"));
    // Exactly one of each signing header: the old ones are replaced, not added to.
    int n = 0;
    for (const auto& [k, v] : r.headers) n += (k == "Authorization");
    EXPECT_EQ(n, 1);
  }
  EXPECT_EQ(dates[0], "20240501T120000Z");  // each request takes 7 s of fake time
  EXPECT_LT(dates[0], dates[1]);
  EXPECT_LT(dates[1], dates[2]);
  EXPECT_NE(auths[0], auths[1]);
  EXPECT_NE(auths[1], auths[2]);
}

class FailingCredentials : public AwsCredentialsProvider {
 public:
  StatusOr<AwsCredentials> GetCredentials() override {
    ++calls;
    return UnavailableError("instance metadata service unreachable");
  }
  std::string Describe() const override { return "failing"; }
  int calls = 0;
};

TEST_F(S3ClientTest, CredentialsErrorsAreReturnedAsIsAndSecretsNeverShow) {
  auto creds = std::make_shared<FailingCredentials>();
  S3Client failing(mock_, creds, clock_, "us-west-2", "http://127.0.0.1:5000");
  Status s = failing.DeleteObject("models", "k");
  EXPECT_EQ(s.code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_EQ(s.message(), "instance metadata service unreachable");
  EXPECT_EQ(creds->calls, 1);
  EXPECT_TRUE(mock_->requests().empty());

  mock_->Enqueue(403, "<Error><Code>AccessDenied</Code><Message>key " + kCreds.secret_access_key + "</Message></Error>");
  s = Client().DeleteObject("models", "k");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.message().find(kCreds.secret_access_key), std::string::npos) << s.message();
}

// ------------------------------------------------------------------ EnsureBucket

TEST_F(S3ClientTest, EnsureBucketThatExists) {
  mock_->Enqueue(200, "");
  ASSERT_TRUE(Client().EnsureBucket("models").ok());
  ASSERT_EQ(mock_->requests().size(), 1u);
  EXPECT_EQ(mock_->requests()[0].method, "HEAD");
  EXPECT_EQ(mock_->requests()[0].url, "http://127.0.0.1:5000/models");
  ExpectSigned(mock_->requests()[0]);
}

TEST_F(S3ClientTest, EnsureBucketCreatesWithLocationConstraint) {
  mock_->Enqueue(404, "");
  mock_->Enqueue(200, "");
  ASSERT_TRUE(Client("eu-west-1", "").EnsureBucket("models").ok());
  auto reqs = mock_->requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[1].method, "PUT");
  EXPECT_EQ(reqs[1].url, "https://models.s3.eu-west-1.amazonaws.com/");
  EXPECT_NE(reqs[1].body.find("<CreateBucketConfiguration"), std::string::npos);
  EXPECT_NE(reqs[1].body.find("<LocationConstraint>eu-west-1</LocationConstraint>"), std::string::npos);
  ExpectSigned(reqs[1], "eu-west-1");
}

TEST_F(S3ClientTest, EnsureBucketInUsEast1SendsNoLocationConstraint) {
  mock_->Enqueue(404, "");
  mock_->Enqueue(200, "");
  ASSERT_TRUE(Client("us-east-1", "").EnsureBucket("models").ok());
  auto reqs = mock_->requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[1].method, "PUT");
  EXPECT_EQ(reqs[1].url, "https://models.s3.amazonaws.com/");
  EXPECT_EQ(reqs[1].body, "");
}

TEST_F(S3ClientTest, EnsureBucketAlreadyOwnedByYouIsOk) {
  mock_->Enqueue(404, "");
  mock_->Enqueue(409, "<Error><Code>BucketAlreadyOwnedByYou</Code><Message>yours</Message></Error>");
  EXPECT_TRUE(Client().EnsureBucket("models").ok());
}

TEST_F(S3ClientTest, EnsureBucketNameTakenElsewhere) {
  mock_->Enqueue(404, "");
  mock_->Enqueue(409, "<Error><Code>BucketAlreadyExists</Code><Message>taken</Message></Error>");
  Status s = Client().EnsureBucket("models");
  EXPECT_EQ(s.code(), StatusCode::kResourceAlreadyExists);
  EXPECT_NE(s.message().find("models"), std::string::npos);
}

TEST_F(S3ClientTest, EnsureBucketForbidden) {
  mock_->Enqueue(403, "");
  Status s = Client().EnsureBucket("someone-elses");
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("someone-elses"), std::string::npos);
  EXPECT_NE(s.message().find("another AWS account"), std::string::npos);
  EXPECT_EQ(mock_->requests().size(), 1u);  // no create attempted
}

TEST_F(S3ClientTest, EnsureBucketInAnotherRegion) {
  mock_->Enqueue(301, "", {{"x-amz-bucket-region", "eu-west-1"}});
  Status s = Client().EnsureBucket("models");
  EXPECT_EQ(s.code(), StatusCode::kInvalidParameterValue);
  EXPECT_NE(s.message().find("eu-west-1"), std::string::npos) << s.message();
}

TEST_F(S3ClientTest, InvalidBucketNamesAreRejectedBeforeAnyRequest) {
  for (std::string bad : std::vector<std::string>{"ab", std::string(64, 'a'), "Models", "models_1", "-models", "models-",
                                                  "my..models", "192.168.1.1", "my.-models", ""}) {
    SCOPED_TRACE(bad);
    Status s = Client().EnsureBucket(bad);
    EXPECT_EQ(s.code(), StatusCode::kInvalidParameterValue);
    EXPECT_NE(s.message().find("'" + bad + "'"), std::string::npos) << s.message();
    EXPECT_EQ(Client().UploadFile(bad, "k", "/nonexistent").status().code(), StatusCode::kInvalidParameterValue);
    EXPECT_EQ(Client().DeleteObject(bad, "k").code(), StatusCode::kInvalidParameterValue);
  }
  for (std::string good : std::vector<std::string>{"abc", std::string(63, 'a'), "mlflow-sagemaker-us-west-2-123456789012",
                                                   "my.models.v2", "1bucket"})
    EXPECT_TRUE(S3Client::IsValidBucketName(good)) << good;
  EXPECT_TRUE(mock_->requests().empty());
}

// ------------------------------------------------------------------ PutObject

TEST_F(S3ClientTest, SmallFileIsOnePutObject) {
  std::string path = MakeFile("model.tar.gz", 1024);
  mock_->Enqueue(200, "", {{"ETag", "\"abc\""}});
  S3UploadOptions opts;
  opts.tags = {{"SageMaker", "true"}, {"a b", "c+d=e"}};
  std::vector<std::pair<uint64_t, uint64_t>> progress;
  opts.progress = [&](uint64_t sent, uint64_t total) { progress.emplace_back(sent, total); };
  StatusOr<std::string> url = Client().UploadFile("models", "m-1/model.tar.gz", path, opts);
  ASSERT_TRUE(url.ok()) << url.status().ToString();
  EXPECT_EQ(*url, "s3://models/m-1/model.tar.gz");
  ASSERT_EQ(mock_->requests().size(), 1u);
  const HttpRequest r = mock_->requests()[0];
  EXPECT_EQ(r.method, "PUT");
  EXPECT_EQ(r.url, "http://127.0.0.1:5000/models/m-1/model.tar.gz");
  EXPECT_EQ(r.body, contents_[path]);
  EXPECT_EQ(FindHeader(r.headers, "Content-Type").value_or(""), "application/x-gzip");
  EXPECT_EQ(FindHeader(r.headers, "x-amz-tagging").value_or(""), "SageMaker=true&a%20b=c%2Bd%3De");
  ASSERT_TRUE(r.timeout.has_value());
  ExpectSigned(r);
  ASSERT_EQ(progress.size(), 1u);
  EXPECT_EQ(progress[0], std::make_pair(uint64_t{1024}, uint64_t{1024}));
}

TEST_F(S3ClientTest, EmptyFileAndCustomContentType) {
  std::string path = MakeFile("empty", 0);
  mock_->Enqueue(200, "");
  S3UploadOptions opts;
  opts.content_type = "application/octet-stream";
  opts.multipart_threshold = 0;  // an empty file still goes up with PutObject
  ASSERT_TRUE(Client().UploadFile("models", "k", path, opts).ok());
  ASSERT_EQ(mock_->requests().size(), 1u);
  EXPECT_EQ(mock_->requests()[0].method, "PUT");
  EXPECT_EQ(mock_->requests()[0].body, "");
  EXPECT_EQ(FindHeader(mock_->requests()[0].headers, "Content-Type").value_or(""), "application/octet-stream");
  EXPECT_FALSE(FindHeader(mock_->requests()[0].headers, "x-amz-tagging"));
}

TEST_F(S3ClientTest, MissingOrUnreadableFileNamesThePath) {
  Status s = Client().UploadFile("models", "k", dir_ + "/nope.tar.gz").status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidParameterValue);
  EXPECT_NE(s.message().find(dir_ + "/nope.tar.gz"), std::string::npos) << s.message();
  s = Client().UploadFile("models", "k", dir_).status();  // a directory
  EXPECT_EQ(s.code(), StatusCode::kInvalidParameterValue);
  EXPECT_NE(s.message().find(dir_), std::string::npos) << s.message();
  EXPECT_TRUE(mock_->requests().empty());
}

TEST_F(S3ClientTest, BadOptionsAndKeys) {
  std::string path = MakeFile("f", 10);
  S3UploadOptions opts;
  opts.part_size = kMiB;
  EXPECT_EQ(Client().UploadFile("models", "k", path, opts).status().code(), StatusCode::kInvalidParameterValue);
  opts = {};
  opts.content_type = "application/x-www-form-urlencoded";
  EXPECT_EQ(Client().UploadFile("models", "k", path, opts).status().code(), StatusCode::kInvalidParameterValue);
  opts = {};
  for (int i = 0; i < 11; ++i) opts.tags["t" + std::to_string(i)] = "v";
  EXPECT_EQ(Client().UploadFile("models", "k", path, opts).status().code(), StatusCode::kInvalidParameterValue);
  opts = {};
  opts.tags = {{"note", "a&b"}};  // outside S3's tag alphabet
  EXPECT_EQ(Client().UploadFile("models", "k", path, opts).status().code(), StatusCode::kInvalidParameterValue);
  opts.tags = {{"app.kubernetes.io/managed-by", "mlflow-bridge"}, {"x", "a b+c=d:e/f@g_h.\u00e9"}};  // all allowed
  mock_->Enqueue(200, "");
  EXPECT_TRUE(Client().UploadFile("models", "k", path, opts).ok());
  EXPECT_EQ(FindHeader(mock_->requests().back().headers, "x-amz-tagging").value_or(""),
            "app.kubernetes.io%2Fmanaged-by=mlflow-bridge&x=a%20b%2Bc%3Dd%3Ae%2Ff%40g_h.%C3%A9");
  EXPECT_EQ(Client().UploadFile("models", "", path).status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_EQ(Client().UploadFile("models", "a/../b", path).status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_EQ(Client().UploadFile("models", std::string(1025, 'k'), path).status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_EQ(Client("uswest2").UploadFile("models", "k", path).status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_EQ(mock_->requests().size(), 1u);  // only the valid upload above
}

TEST_F(S3ClientTest, PutObjectErrorIsReturned) {
  std::string path = MakeFile("f", 10);
  mock_->Enqueue(403, "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>");
  Status s = Client().UploadFile("models", "k", path).status();
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("s3://models/k"), std::string::npos) << s.message();
  EXPECT_EQ(mock_->requests().size(), 1u);  // not retried
}

// ------------------------------------------------------------------ multipart

constexpr char kCreated[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUploadResult "
    "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>models</Bucket><Key>k/model.tar.gz</Key>"
    "<UploadId>up+id/1=</UploadId></InitiateMultipartUploadResult>";
constexpr char kCompleted[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUploadResult><Location>x</Location>"
    "<Bucket>models</Bucket><Key>k/model.tar.gz</Key><ETag>\"e-3\"</ETag></CompleteMultipartUploadResult>";

class S3MultipartTest : public S3ClientTest {
 protected:
  void SetUp() override {
    S3ClientTest::SetUp();
    size_ = 5 * kMiB * 2 + 5 * kMiB / 2;  // 12.5 MiB: 2.5 parts
    path_ = MakeFile("model.tar.gz", size_);
    opts_.part_size = 5 * kMiB;
    opts_.tags = {{"SageMaker", "true"}};
    opts_.progress = [this](uint64_t sent, uint64_t total) { progress_.emplace_back(sent, total); };
  }
  uint64_t size_ = 0;
  std::string path_;
  S3UploadOptions opts_;
  std::vector<std::pair<uint64_t, uint64_t>> progress_;
};

TEST_F(S3MultipartTest, UploadsPartsAndCompletesInOrder) {
  mock_->Enqueue(200, kCreated);
  mock_->Enqueue(200, "", {{"ETag", "\"etag-1\""}});
  mock_->Enqueue(200, "", {{"ETag", "\"etag-2\""}});
  mock_->Enqueue(200, "", {{"ETag", "etag-3"}});  // unquoted: quoted in the XML
  mock_->Enqueue(200, kCompleted);
  StatusOr<std::string> url = Client().UploadFile("models", "k/model.tar.gz", path_, opts_);
  ASSERT_TRUE(url.ok()) << url.status().ToString();
  EXPECT_EQ(*url, "s3://models/k/model.tar.gz");

  auto reqs = mock_->requests();
  ASSERT_EQ(reqs.size(), 5u);
  for (const HttpRequest& r : reqs) ExpectSigned(r);
  // CreateMultipartUpload
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].url, "http://127.0.0.1:5000/models/k/model.tar.gz?uploads");
  EXPECT_EQ(FindHeader(reqs[0].headers, "Content-Type").value_or(""), "application/x-gzip");
  EXPECT_EQ(FindHeader(reqs[0].headers, "x-amz-tagging").value_or(""), "SageMaker=true");
  // UploadPart x3, with the byte ranges of the file
  const std::string& data = contents_[path_];
  const uint64_t starts[] = {0, 5 * kMiB, 10 * kMiB};
  const uint64_t lens[] = {5 * kMiB, 5 * kMiB, size_ - 10 * kMiB};
  for (int i = 0; i < 3; ++i) {
    const HttpRequest& r = reqs[1 + i];
    SCOPED_TRACE(i);
    EXPECT_EQ(r.method, "PUT");
    EXPECT_EQ(PathOf(r.url), "/models/k/model.tar.gz");
    EXPECT_EQ(QueryOf(r.url), "partNumber=" + std::to_string(i + 1) + "&uploadId=up%2Bid%2F1%3D");
    EXPECT_EQ(r.body.size(), lens[i]);
    EXPECT_TRUE(r.body == data.substr(starts[i], lens[i]));
    EXPECT_FALSE(FindHeader(r.headers, "x-amz-tagging"));
  }
  // CompleteMultipartUpload
  EXPECT_EQ(reqs[4].method, "POST");
  EXPECT_EQ(QueryOf(reqs[4].url), "uploadId=up%2Bid%2F1%3D");
  const std::string& xml = reqs[4].body;
  EXPECT_EQ(xml,
            "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
            "<Part><PartNumber>1</PartNumber><ETag>\"etag-1\"</ETag></Part>"
            "<Part><PartNumber>2</PartNumber><ETag>\"etag-2\"</ETag></Part>"
            "<Part><PartNumber>3</PartNumber><ETag>\"etag-3\"</ETag></Part>"
            "</CompleteMultipartUpload>");
  // Progress: after each part, increasing, ending at the total.
  ASSERT_EQ(progress_.size(), 3u);
  uint64_t last = 0;
  for (auto [sent, total] : progress_) {
    EXPECT_GT(sent, last);
    EXPECT_EQ(total, size_);
    last = sent;
  }
  EXPECT_EQ(last, size_);
  // Logged progress in MiB, ending at 100%.
  bool logged_done = false;
  for (const std::string& l : logs_) logged_done = logged_done || l.find("100% (12.5 of 12.5 MiB)") != std::string::npos;
  EXPECT_TRUE(logged_done);
}

TEST_F(S3MultipartTest, PartFailureAbortsAndReturnsTheError) {
  mock_->Enqueue(200, kCreated);
  mock_->Enqueue(200, "", {{"ETag", "\"etag-1\""}});
  mock_->Enqueue(403, "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>");
  mock_->Enqueue(204, "");  // abort
  Status s = Client().UploadFile("models", "k/model.tar.gz", path_, opts_).status();
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("UploadPart 2"), std::string::npos) << s.message();
  auto reqs = mock_->requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(reqs[3].method, "DELETE");
  EXPECT_EQ(reqs[3].url, "http://127.0.0.1:5000/models/k/model.tar.gz?uploadId=up%2Bid%2F1%3D");
  ExpectSigned(reqs[3]);
  EXPECT_EQ(progress_.size(), 1u);
}

TEST_F(S3MultipartTest, PartIsRetriedAfterADroppedConnection) {
  mock_->Enqueue(200, kCreated);
  mock_->Enqueue(UnavailableError("connection reset"));
  mock_->Enqueue(200, "", {{"ETag", "\"etag-1\""}});
  mock_->Enqueue(200, "", {{"ETag", "\"etag-2\""}});
  mock_->Enqueue(200, "", {{"ETag", "\"etag-3\""}});
  mock_->Enqueue(200, kCompleted);
  ASSERT_TRUE(Client().UploadFile("models", "k/model.tar.gz", path_, opts_).ok());
  auto reqs = mock_->requests();
  ASSERT_EQ(reqs.size(), 6u);
  EXPECT_EQ(QueryOf(reqs[1].url), QueryOf(reqs[2].url));
  EXPECT_TRUE(reqs[1].body == reqs[2].body);
}

TEST_F(S3MultipartTest, CompleteWithErrorIn200AbortsAndFails) {
  mock_->Enqueue(200, kCreated);
  for (int i = 1; i <= 3; ++i) mock_->Enqueue(200, "", {{"ETag", "\"e\""}});
  mock_->Enqueue(200,
                 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InvalidPart</Code><Message>One or more of "
                 "the specified parts could not be found.</Message></Error>");
  mock_->Enqueue(204, "");
  Status s = Client().UploadFile("models", "k/model.tar.gz", path_, opts_).status();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("InvalidPart"), std::string::npos) << s.message();
  auto reqs = mock_->requests();
  ASSERT_EQ(reqs.size(), 6u);
  EXPECT_EQ(reqs[5].method, "DELETE");
  EXPECT_EQ(QueryOf(reqs[5].url), "uploadId=up%2Bid%2F1%3D");
}

TEST_F(S3MultipartTest, CompleteInternalErrorIn200IsRetried) {
  mock_->Enqueue(200, kCreated);
  for (int i = 1; i <= 3; ++i) mock_->Enqueue(200, "", {{"ETag", "\"e\""}});
  mock_->Enqueue(200, "<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>");
  mock_->Enqueue(200, kCompleted);
  ASSERT_TRUE(Client().UploadFile("models", "k/model.tar.gz", path_, opts_).ok());
  auto reqs = mock_->requests();
  ASSERT_EQ(reqs.size(), 6u);
  EXPECT_EQ(reqs[5].method, "POST");
  EXPECT_EQ(reqs[4].body, reqs[5].body);
}

TEST_F(S3MultipartTest, CompleteKeepsFailingAbortsAfterTheRetries) {
  mock_->Enqueue(200, kCreated);
  for (int i = 1; i <= 3; ++i) mock_->Enqueue(200, "", {{"ETag", "\"e\""}});
  for (int i = 0; i < 3; ++i) mock_->Enqueue(503, "<Error><Code>SlowDown</Code><Message>slow down</Message></Error>");
  mock_->Enqueue(204, "");
  Status s = Client().UploadFile("models", "k/model.tar.gz", path_, opts_).status();
  EXPECT_EQ(s.code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_NE(s.message().find("after 3 attempts"), std::string::npos) << s.message();
  auto reqs = mock_->requests();
  ASSERT_EQ(reqs.size(), 8u);
  EXPECT_EQ(reqs[7].method, "DELETE");
}

TEST_F(S3MultipartTest, CreateIsNotRetriedAfterADroppedConnection) {
  mock_->Enqueue(UnavailableError("connection reset by peer"));
  Status s = Client().UploadFile("models", "k/model.tar.gz", path_, opts_).status();
  EXPECT_EQ(s.code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_NE(s.message().find("connection reset by peer"), std::string::npos) << s.message();
  EXPECT_EQ(mock_->requests().size(), 1u);  // and nothing to abort
}

TEST_F(S3MultipartTest, CreateIsRetriedOnSlowDownAndInternalError) {
  mock_->Enqueue(503, "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>");
  mock_->Enqueue(500, "<Error><Code>InternalError</Code><Message>internal</Message></Error>");
  mock_->Enqueue(200, kCreated);
  for (int i = 1; i <= 3; ++i) mock_->Enqueue(200, "", {{"ETag", "\"e\""}});
  mock_->Enqueue(200, kCompleted);
  ASSERT_TRUE(Client().UploadFile("models", "k/model.tar.gz", path_, opts_).ok());
  EXPECT_EQ(mock_->requests().size(), 7u);
}

TEST_F(S3MultipartTest, CreateWithoutUploadIdFails) {
  mock_->Enqueue(200, "<InitiateMultipartUploadResult></InitiateMultipartUploadResult>");
  Status s = Client().UploadFile("models", "k/model.tar.gz", path_, opts_).status();
  EXPECT_EQ(s.code(), StatusCode::kInternalError);
  EXPECT_EQ(mock_->requests().size(), 1u);
}

TEST_F(S3MultipartTest, FailedAbortIsReportedButTheOriginalErrorWins) {
  mock_->Enqueue(200, kCreated);
  mock_->Enqueue(403, "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>");
  mock_->Enqueue(403, "<Error><Code>AccessDenied</Code><Message>no abort for you</Message></Error>");
  Status s = Client().UploadFile("models", "k/model.tar.gz", path_, opts_).status();
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("UploadPart 1"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("aborting the multipart upload"), std::string::npos) << s.message();
}

TEST_F(S3MultipartTest, BelowTheThresholdIsOnePut) {
  opts_.multipart_threshold = size_ + 1;
  mock_->Enqueue(200, "");
  ASSERT_TRUE(Client().UploadFile("models", "k/model.tar.gz", path_, opts_).ok());
  ASSERT_EQ(mock_->requests().size(), 1u);
  EXPECT_EQ(mock_->requests()[0].method, "PUT");
  EXPECT_EQ(mock_->requests()[0].body.size(), size_);
}

TEST(S3MultipartETagTest, IsTheMd5OfThePartMd5s) {
  // hashlib.md5(b"".join(bytes.fromhex(md5(x)) for x in (b"a", b"b", b"c"))).hexdigest() + "-3"
  EXPECT_EQ(MultipartETag({"\"0cc175b9c0f1b6a831c399e269772661\"", "92eb5ffee6ae2fec3ad71c777531578f",
                           "\"4a8a08f09d37b73795649038408b5f33\""}),
            "\"4054c6f7787ecb7b323323155b0c0583-3\"");
  EXPECT_FALSE(MultipartETag({}));
  EXPECT_FALSE(MultipartETag({"\"not-an-md5\""}));
  EXPECT_FALSE(MultipartETag({"zzc175b9c0f1b6a831c399e269772661"}));
}

// CompleteMultipartUpload's reply is lost; the upload is gone when we abort;
// the object is there with the ETag our parts give: success.
TEST_F(S3MultipartTest, LostCompleteReplyWithTheObjectInPlaceIsSuccess) {
  mock_->Enqueue(200, kCreated);
  mock_->Enqueue(200, "", {{"ETag", "\"0cc175b9c0f1b6a831c399e269772661\""}});
  mock_->Enqueue(200, "", {{"ETag", "\"92eb5ffee6ae2fec3ad71c777531578f\""}});
  mock_->Enqueue(200, "", {{"ETag", "\"4a8a08f09d37b73795649038408b5f33\""}});
  mock_->Enqueue(UnavailableError("connection reset by peer"));
  mock_->Enqueue(404, "<Error><Code>NoSuchUpload</Code><Message>gone</Message></Error>");
  mock_->Enqueue(200, "", {{"ETag", "\"4054c6f7787ecb7b323323155b0c0583-3\""}});
  StatusOr<std::string> url = Client().UploadFile("models", "k/model.tar.gz", path_, opts_);
  ASSERT_TRUE(url.ok()) << url.status().ToString();
  auto reqs = mock_->requests();
  ASSERT_EQ(reqs.size(), 7u);
  EXPECT_EQ(reqs[4].method, "POST");  // Complete sent once: not retried without a reply
  EXPECT_EQ(reqs[5].method, "DELETE");
  EXPECT_EQ(reqs[6].method, "HEAD");
  EXPECT_EQ(reqs[6].url, "http://127.0.0.1:5000/models/k/model.tar.gz");
}

TEST_F(S3MultipartTest, LostCompleteReplyWithAnotherObjectIsTheError) {
  mock_->Enqueue(200, kCreated);
  mock_->Enqueue(200, "", {{"ETag", "\"0cc175b9c0f1b6a831c399e269772661\""}});
  mock_->Enqueue(200, "", {{"ETag", "\"92eb5ffee6ae2fec3ad71c777531578f\""}});
  mock_->Enqueue(200, "", {{"ETag", "\"4a8a08f09d37b73795649038408b5f33\""}});
  mock_->Enqueue(UnavailableError("connection reset by peer"));
  mock_->Enqueue(404, "<Error><Code>NoSuchUpload</Code><Message>gone</Message></Error>");
  mock_->Enqueue(200, "", {{"ETag", "\"11111111111111111111111111111111-3\""}});
  Status s = Client().UploadFile("models", "k/model.tar.gz", path_, opts_).status();
  EXPECT_EQ(s.code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_NE(s.message().find("connection reset by peer"), std::string::npos) << s.message();
  EXPECT_EQ(mock_->requests().size(), 7u);
}

// ------------------------------------------------------------------ DeleteObject

TEST_F(S3ClientTest, DeleteObject) {
  mock_->Enqueue(204, "");
  mock_->Enqueue(404, "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>");
  mock_->Enqueue(403, "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>");
  S3Client c = Client();
  EXPECT_TRUE(c.DeleteObject("models", "k/model.tar.gz").ok());
  EXPECT_TRUE(c.DeleteObject("models", "k/model.tar.gz").ok());
  EXPECT_EQ(c.DeleteObject("models", "k/model.tar.gz").code(), StatusCode::kPermissionDenied);
  auto reqs = mock_->requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].method, "DELETE");
  EXPECT_EQ(reqs[0].url, "http://127.0.0.1:5000/models/k/model.tar.gz");
  ExpectSigned(reqs[0]);
}

TEST_F(S3ClientTest, PutBytesAndGetObject) {
  mock_->Enqueue(200, "");
  mock_->Enqueue(200, "the answer");
  mock_->Enqueue(404, "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>");
  mock_->Enqueue(403, "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>");
  S3Client c = Client();
  auto url = c.PutBytes("models", "in/1.json", R"({"inputs":[1]})", "application/json");
  ASSERT_TRUE(url.ok()) << url.status().ToString();
  EXPECT_EQ(*url, "s3://models/in/1.json");
  auto got = c.GetObject("models", "out/1.out");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ(**got, "the answer");
  auto missing = c.GetObject("models", "out/2.out");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
  EXPECT_EQ(c.GetObject("models", "out/3.out").status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(c.GetObject("Bad_Bucket", "k").status().code(), StatusCode::kInvalidParameterValue);
  auto reqs = mock_->requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(reqs[0].method, "PUT");
  EXPECT_EQ(reqs[0].url, "http://127.0.0.1:5000/models/in/1.json");
  EXPECT_EQ(reqs[0].body, R"({"inputs":[1]})");
  EXPECT_EQ(*FindHeader(reqs[0].headers, "Content-Type"), "application/json");
  EXPECT_EQ(reqs[1].method, "GET");
  EXPECT_EQ(reqs[1].url, "http://127.0.0.1:5000/models/out/1.out");
  ExpectSigned(reqs[0]);
  ExpectSigned(reqs[1]);
}

// ------------------------------------------------------------------ ParseS3Url

TEST(S3ParseUrlTest, Forms) {
  using P = std::pair<std::string, std::string>;
  struct Case {
    std::string url;
    P want;
  } cases[] = {
      {"s3://models/m-1/model.tar.gz", {"models", "m-1/model.tar.gz"}},
      {"S3://models/a b/c", {"models", "a b/c"}},
      {"https://models.s3.us-west-2.amazonaws.com/m-1/model.tar.gz", {"models", "m-1/model.tar.gz"}},
      {"https://models.s3.amazonaws.com/m-1/model%20v2.tar.gz", {"models", "m-1/model v2.tar.gz"}},
      {"https://models.s3-eu-west-1.amazonaws.com/k", {"models", "k"}},
      {"https://my.models.s3.us-west-2.amazonaws.com/k", {"my.models", "k"}},
      {"https://s3.us-west-2.amazonaws.com/models/m-1/model.tar.gz", {"models", "m-1/model.tar.gz"}},
      {"https://s3.amazonaws.com/my.models/k", {"my.models", "k"}},
      {"https://models.s3.cn-north-1.amazonaws.com.cn/k?versionId=1", {"models", "k"}},
      {"https://models.s3.dualstack.us-east-1.amazonaws.com/k", {"models", "k"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.url);
    auto got = S3Client::ParseS3Url(c.url);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, c.want);
  }
  for (std::string bad : std::vector<std::string>{
           "", "s3://", "s3://models", "s3://models/", "s3:///k", "gs://models/k", "https://example.com/models/k",
           "https://s3.us-west-2.amazonaws.com/models", "file:///tmp/model.tar.gz", "models/k"}) {
    SCOPED_TRACE(bad);
    auto got = S3Client::ParseS3Url(bad);
    EXPECT_EQ(got.status().code(), StatusCode::kInvalidParameterValue);
  }
}

}  // namespace
}  // namespace mlflow_bridge::internal
