// The Blob stub (requests for each auth mode, Shared Key vectors, the Storage AsStatus) and the model folder
// upload (hash, listing, skip/overwrite/fresh decisions, blocks, metadata, retries) against a MockTransport.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "azure/blob_stub.h"
#include "azure/credentials.h"
#include "azure/model_upload.h"
#include "common/base64.h"
#include "common/crypto.h"
#include "common/md5.h"
#include "common/url.h"
#include "mock_transport.h"
#include "test_support.h"

namespace mlflow_bridge::internal {
namespace {

namespace fs = std::filesystem;
using ::mlflow_bridge::testing::FakeClock;
using ::mlflow_bridge::testing::ScopedLogCapture;
using std::chrono::milliseconds;

constexpr char kAccount[] = "mlbridgeacct";
constexpr char kContainer[] = "azureml-blobstore-0123";
constexpr char kBase[] = "https://mlbridgeacct.blob.core.windows.net/azureml-blobstore-0123/";
constexpr char kDate[] = "Mon, 01 Jan 2024 00:00:00 GMT";  // FakeClock's default wall time
// base64 of "mlflow-bridge test key - not a real account key 0123456789".
constexpr char kKey[] = "bWxmbG93LWJyaWRnZSB0ZXN0IGtleSAtIG5vdCBhIHJlYWwgYWNjb3VudCBrZXkgMDEyMzQ1Njc4OQ==";
constexpr char kSasSig[] = "Zm9vYmFyU2lnbmF0dXJlVGhhdElzU2VjcmV0MTIzNA%3D%3D";
const std::string kSas = std::string("?sv=2021-10-04&se=2024-01-01T01%3A00%3A00Z&sr=c&sp=rcwdl&sig=") + kSasSig;
constexpr char kToken[] = "eyJ0eXAiOiJKV1QifQ.eyJhdWQiOiJzdG9yYWdlIn0.c2VjcmV0LXRva2Vu";

std::string Header(const HttpRequest& r, std::string_view name) { return FindHeader(r.headers, name).value_or("<none>"); }

void WriteFile(const fs::path& p, const std::string& data) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << data;
}

std::string Md5B64(const std::string& s) { return Base64Encode(Md5Digest(s)); }

class FakeTokenCredential : public TokenCredential {
 public:
  StatusOr<AccessToken> GetToken(const std::string& scope) override {
    scopes.push_back(scope);
    if (!error.ok()) return error;
    return AccessToken{kToken, std::chrono::system_clock::now() + std::chrono::hours(1), std::nullopt};
  }
  std::vector<std::string> scopes;
  Status error;
};

// Records whether bodies were handed to the transport as file regions (MockTransport reads them into `body`).
class FileBodyTransport : public MockTransport {
 public:
  StatusOr<HttpResponse> Send(const HttpRequest& request) override {
    file_bodies.push_back(request.body_file);
    return MockTransport::Send(request);
  }
  std::vector<std::optional<HttpRequest::FileBody>> file_bodies;
};

class AzureBlobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "mlflow-bridge-azure-blob-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  BlobRestStub Stub(BlobAuth auth, std::string account_url = "", std::string suffix = kDefaultStorageSuffix) {
    BlobServiceOptions o;
    o.account = kAccount;
    o.auth = std::move(auth);
    o.account_url = std::move(account_url);
    o.endpoint_suffix = std::move(suffix);
    return BlobRestStub(transport_, o, clock_);
  }

  // Every message and log line must be free of these.
  void ExpectNoSecrets(const std::string& text) {
    for (const std::string& secret : {std::string(kSasSig), PercentDecode(kSasSig), std::string(kKey), std::string(kToken),
                                      std::string("zE0NVG7dEwCi65U+ScdhNXjSqguH8sydPz9UWEObtds=")})
      EXPECT_EQ(text.find(secret), std::string::npos) << text;
  }

  ScopedLogCapture quiet_{LogLevel::kInfo};  // keeps the upload's progress lines out of the test output
  fs::path dir_;
  std::shared_ptr<FileBodyTransport> transport_ = std::make_shared<FileBodyTransport>();
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
};

// ---------------------------------------------------------------------------------------------------------------
// Requests per auth mode

TEST_F(AzureBlobTest, AzureSasPutBlobAppendsTheTokenAndSendsNoAuthorization) {
  BlobRestStub stub = Stub(BlobAuth::Sas(kSas));  // the token as listSecrets gives it, with its '?'
  transport_->Enqueue(201, "");
  PutBlobOptions o;
  o.content_md5 = Md5B64("hello");
  o.if_none_match = true;
  ASSERT_TRUE(stub.PutBlob(kContainer, "LocalUpload/0f1e/model/MLmodel", BlobBody::FromString("hello"), o).ok());
  const HttpRequest r = transport_->requests().at(0);
  EXPECT_EQ(r.method, "PUT");
  EXPECT_EQ(r.url, std::string(kBase) + "LocalUpload/0f1e/model/MLmodel" + kSas);
  EXPECT_EQ(Header(r, "x-ms-blob-type"), "BlockBlob");
  EXPECT_EQ(Header(r, "Content-Type"), "application/octet-stream");
  EXPECT_EQ(Header(r, "Content-MD5"), "XUFAKrxLKna5cZ2REBfFkg==");  // MD5("hello")
  EXPECT_EQ(Header(r, "If-None-Match"), "*");
  EXPECT_EQ(Header(r, "x-ms-version"), "2025-01-05");
  EXPECT_EQ(Header(r, "x-ms-date"), kDate);
  EXPECT_EQ(Header(r, "Authorization"), "<none>");
  EXPECT_EQ(r.body, "hello");
  ASSERT_TRUE(r.timeout.has_value());
}

TEST_F(AzureBlobTest, AzureSasTokenWithoutQuestionMarkAndQueriedCalls) {
  BlobRestStub stub = Stub(BlobAuth::Sas(kSas.substr(1)));
  transport_->Enqueue(201, "");
  ASSERT_TRUE(stub.SetMetadata(kContainer, "a/b", {{"upload_status", "completed"}}).ok());
  EXPECT_EQ(transport_->requests().at(0).url, std::string(kBase) + "a/b?comp=metadata&" + kSas.substr(1));
}

// Expected values from azure-storage-blob 12.31.1's SharedKeyCredentialPolicy (the policy BlobClient signs with)
// on the same request: method, URL and headers as this stub sends them, plus the Content-Length curl adds:
//   req = azure.core.pipeline.transport.HttpRequest("PUT", url, headers={...,"Content-Length": "21"})
//   SharedKeyCredentialPolicy("mlbridgeacct", key).on_request(PipelineRequest(req, PipelineContext(None)))
// tests/python/test_azure_blob_crosscheck.py repeats the comparison on generated requests.
TEST_F(AzureBlobTest, AzureSharedKeyPutBlobMatchesAzureStorageBlob) {
  BlobRestStub stub = Stub(BlobAuth::SharedKey(kKey));
  const std::string body = "artifact_path: model\n";
  WriteFile(dir_ / "MLmodel", "xx" + body + "yy");
  transport_->Enqueue(201, "");
  PutBlobOptions o;
  o.content_md5 = Md5B64(body);
  o.if_none_match = true;
  ASSERT_TRUE(stub.PutBlob(kContainer, "LocalUpload/0f1e/model/MLmodel",
                           BlobBody::FromFile((dir_ / "MLmodel").string(), 2, body.size()), o)
                  .ok());
  const HttpRequest r = transport_->requests().at(0);
  ASSERT_TRUE(transport_->file_bodies.at(0).has_value());  // streamed from the file region
  EXPECT_EQ(transport_->file_bodies.at(0)->offset, 2u);
  EXPECT_EQ(r.body, body);
  EXPECT_EQ(r.url, std::string(kBase) + "LocalUpload/0f1e/model/MLmodel");
  EXPECT_EQ(Header(r, "Content-MD5"), "NZ9DlDH45ryKnPIy4XbKfQ==");

  HttpRequest unsigned_request = r;
  unsigned_request.headers.erase(std::remove_if(unsigned_request.headers.begin(), unsigned_request.headers.end(),
                                                [](const auto& h) { return h.first == "Authorization"; }),
                                 unsigned_request.headers.end());
  unsigned_request.body_file = HttpRequest::FileBody{"unused", 0, body.size()};
  unsigned_request.body.clear();
  EXPECT_EQ(SharedKeyStringToSign(unsigned_request, kAccount),
            "PUT\n\n\n21\nNZ9DlDH45ryKnPIy4XbKfQ==\napplication/octet-stream\n\n\n\n*\n\n\n"
            "x-ms-blob-type:BlockBlob\nx-ms-date:Mon, 01 Jan 2024 00:00:00 GMT\nx-ms-version:2025-01-05\n"
            "/mlbridgeacct/azureml-blobstore-0123/LocalUpload/0f1e/model/MLmodel");
  EXPECT_EQ(Header(r, "Authorization"), "SharedKey mlbridgeacct:zE0NVG7dEwCi65U+ScdhNXjSqguH8sydPz9UWEObtds=");
}

TEST_F(AzureBlobTest, AzureSharedKeySetMetadataMatchesAzureStorageBlob) {
  BlobRestStub stub = Stub(BlobAuth::SharedKey(kKey));
  transport_->Enqueue(200, "");
  ASSERT_TRUE(stub.SetMetadata(kContainer, "LocalUpload/0f1e/model/MLmodel",
                               {{"upload_status", "completed"}, {"name", "my-model"}, {"version", "3"}})
                  .ok());
  const HttpRequest r = transport_->requests().at(0);
  EXPECT_EQ(r.url, std::string(kBase) + "LocalUpload/0f1e/model/MLmodel?comp=metadata");
  EXPECT_EQ(Header(r, "x-ms-meta-upload_status"), "completed");
  EXPECT_EQ(Header(r, "x-ms-meta-name"), "my-model");
  EXPECT_EQ(Header(r, "x-ms-meta-version"), "3");
  EXPECT_TRUE(r.body.empty());
  // Content-Length 0 is signed as empty; the query parameter is appended as "\ncomp:metadata".
  EXPECT_EQ(SharedKeyStringToSign(r, kAccount),
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Mon, 01 Jan 2024 00:00:00 GMT\nx-ms-meta-name:my-model\n"
            "x-ms-meta-upload_status:completed\nx-ms-meta-version:3\nx-ms-version:2025-01-05\n"
            "/mlbridgeacct/azureml-blobstore-0123/LocalUpload/0f1e/model/MLmodel\ncomp:metadata");
  EXPECT_EQ(Header(r, "Authorization"), "SharedKey mlbridgeacct:QqvFca4/koaAb9+p67WffiKajJ5u5ASESVkelDq8P8s=");
}

// Every call in every auth mode: method, URL, the two headers every request carries, and how it is authorized.
TEST_F(AzureBlobTest, AzureEveryCallInEveryAuthMode) {
  auto credential = std::make_shared<FakeTokenCredential>();
  for (const BlobAuth& auth : {BlobAuth::Sas(kSas), BlobAuth::SharedKey(kKey), BlobAuth::Bearer(credential)}) {
    transport_ = std::make_shared<FileBodyTransport>();
    BlobRestStub stub = Stub(auth);
    transport_->Enqueue(200, "");
    transport_->Enqueue(201, "");
    transport_->Enqueue(201, "");
    transport_->Enqueue(201, "");
    transport_->Enqueue(200, "");
    transport_->Enqueue(202, "");
    ASSERT_TRUE(stub.GetProperties(kContainer, "m/a b.txt").ok());
    ASSERT_TRUE(stub.PutBlob(kContainer, "m/a b.txt", BlobBody::FromString("abc"), {}).ok());
    ASSERT_TRUE(stub.PutBlock(kContainer, "m/a b.txt", BlockId(0), BlobBody::FromString("abc"), "").ok());
    ASSERT_TRUE(stub.PutBlockList(kContainer, "m/a b.txt", {BlockId(0)}, {}).ok());
    ASSERT_TRUE(stub.SetMetadata(kContainer, "m/a b.txt", {{"name", "n"}}).ok());
    ASSERT_TRUE(stub.DeleteBlob(kContainer, "m/a b.txt").ok());
    const std::vector<std::pair<std::string, std::string>> want = {{"HEAD", ""},
                                                                   {"PUT", ""},
                                                                   {"PUT", "comp=block&blockid=" + UriEncode(BlockId(0))},
                                                                   {"PUT", "comp=blocklist"},
                                                                   {"PUT", "comp=metadata"},
                                                                   {"DELETE", ""}};
    const std::vector<HttpRequest> rs = transport_->requests();
    ASSERT_EQ(rs.size(), want.size());
    for (size_t i = 0; i < rs.size(); ++i) {
      const HttpRequest& r = rs[i];
      std::string url = std::string(kBase) + "m/a%20b.txt";
      std::string query = want[i].second;
      if (auth.kind == BlobAuthKind::kSas) query += (query.empty() ? "" : "&") + kSas.substr(1);
      if (!query.empty()) url += "?" + query;
      EXPECT_EQ(r.method, want[i].first);
      EXPECT_EQ(r.url, url);
      EXPECT_EQ(Header(r, "x-ms-version"), kBlobApiVersion);
      EXPECT_EQ(Header(r, "x-ms-date"), kDate);
      const std::string authorization = Header(r, "Authorization");
      switch (auth.kind) {
        case BlobAuthKind::kSas: EXPECT_EQ(authorization, "<none>"); break;
        case BlobAuthKind::kSharedKey: {
          HttpRequest copy = r;
          copy.headers.pop_back();  // the Authorization header, added last
          HttpRequest resigned = copy;
          ASSERT_TRUE(SignSharedKey(resigned, kAccount, kKey).ok());
          EXPECT_EQ(authorization, Header(resigned, "Authorization"));
          EXPECT_TRUE(authorization.starts_with("SharedKey mlbridgeacct:"));
          break;
        }
        case BlobAuthKind::kBearer: EXPECT_EQ(authorization, std::string("Bearer ") + kToken); break;
      }
    }
  }
  EXPECT_EQ(credential->scopes.size(), 6u);
}

TEST_F(AzureBlobTest, AzureSharedKeyWithAStandInUrlSignsTheAccountAndThePath) {
  BlobRestStub stub = Stub(BlobAuth::SharedKey(kKey), "http://127.0.0.1:10000/devstoreaccount1/");
  transport_->Enqueue(202, "");
  ASSERT_TRUE(stub.DeleteBlob("c01", "x y/é").ok());
  const HttpRequest r = transport_->requests().at(0);
  EXPECT_EQ(r.method, "DELETE");
  EXPECT_EQ(r.url, "http://127.0.0.1:10000/devstoreaccount1/c01/x%20y/%C3%A9");
  EXPECT_EQ(Header(r, "x-ms-delete-snapshots"), "include");
  const std::string sts = SharedKeyStringToSign(r, kAccount);
  EXPECT_TRUE(sts.ends_with("\n/mlbridgeacct/devstoreaccount1/c01/x%20y/%C3%A9")) << sts;
}

TEST_F(AzureBlobTest, AzureStorageHeaderOrderIsTheServicesNotByteOrder) {
  // azure-storage-blob's _storage_header_sort gives this order ('_' before digits), byte order would not.
  std::vector<std::string> names = {"x-ms-meta-a0", "x-ms-meta-a_0", "x-ms-meta-a_", "x-ms-meta-a", "x-ms-meta-_"};
  SortStorageHeaderNames(names);
  EXPECT_EQ(names,
            (std::vector<std::string>{"x-ms-meta-_", "x-ms-meta-a", "x-ms-meta-a_", "x-ms-meta-a_0", "x-ms-meta-a0"}));
}

TEST_F(AzureBlobTest, AzureBearerAsksForTheStorageScope) {
  auto credential = std::make_shared<FakeTokenCredential>();
  BlobRestStub stub = Stub(BlobAuth::Bearer(credential));
  transport_->Enqueue(200, "", {{"Content-Length", "5"}});
  StatusOr<std::optional<BlobProperties>> p = stub.GetProperties(kContainer, "a.txt");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  const HttpRequest r = transport_->requests().at(0);
  EXPECT_EQ(r.method, "HEAD");
  EXPECT_EQ(r.url, std::string(kBase) + "a.txt");
  EXPECT_EQ(Header(r, "Authorization"), std::string("Bearer ") + kToken);
  EXPECT_EQ(Header(r, "x-ms-version"), "2025-01-05");
  EXPECT_EQ(credential->scopes, std::vector<std::string>{"https://storage.azure.com/.default"});
}

TEST_F(AzureBlobTest, AzureBearerCredentialFailureIsFinalAndSendsNothing) {
  auto credential = std::make_shared<FakeTokenCredential>();
  credential->error = UnauthenticatedError("EnvironmentCredential: AZURE_CLIENT_SECRET was rejected");
  BlobRestStub stub = Stub(BlobAuth::Bearer(credential));
  Status s = stub.SetMetadata(kContainer, "a", {{"k", "v"}});
  EXPECT_EQ(s.code(), StatusCode::kUnauthenticated);
  EXPECT_TRUE(s.final());
  EXPECT_NE(s.message().find("AZURE_CLIENT_SECRET"), std::string::npos) << s.message();
  EXPECT_TRUE(transport_->requests().empty());
}

TEST_F(AzureBlobTest, AzureBearerOnlyOverHttpsExceptLoopback) {
  auto credential = std::make_shared<FakeTokenCredential>();
  EXPECT_EQ(Stub(BlobAuth::Bearer(credential), "http://storage.example.com/acct").DeleteBlob(kContainer, "a").code(),
            StatusCode::kInvalidParameterValue);
  transport_->Enqueue(202, "");
  EXPECT_TRUE(Stub(BlobAuth::Bearer(credential), "http://127.0.0.1:8123/acct").DeleteBlob(kContainer, "a").ok());
  EXPECT_EQ(transport_->requests().size(), 1u);
}

TEST_F(AzureBlobTest, AzureAccountUrls) {
  EXPECT_EQ(Stub(BlobAuth::Sas("sig=x")).account_url(), "https://mlbridgeacct.blob.core.windows.net");
  EXPECT_EQ(Stub(BlobAuth::Sas("sig=x"), "", "core.chinacloudapi.cn").account_url(),
            "https://mlbridgeacct.blob.core.chinacloudapi.cn");
  EXPECT_EQ(Stub(BlobAuth::Sas("sig=x")).BlobUrl("c01", "LocalUpload/h/My Model/é.txt", "comp=block"),
            "https://mlbridgeacct.blob.core.windows.net/c01/LocalUpload/h/My%20Model/%C3%A9.txt?comp=block");
}

TEST_F(AzureBlobTest, AzureBadNamesAndOptionsSendNothing) {
  BlobRestStub stub = Stub(BlobAuth::Sas(kSas));
  EXPECT_EQ(stub.DeleteBlob("Bad_Container", "a").code(), StatusCode::kInvalidParameterValue);
  EXPECT_EQ(stub.DeleteBlob(kContainer, "a/../b").code(), StatusCode::kInvalidParameterValue);
  EXPECT_EQ(stub.DeleteBlob(kContainer, "").code(), StatusCode::kInvalidParameterValue);
  EXPECT_EQ(stub.SetMetadata(kContainer, "a", {{"bad-name", "v"}}).code(), StatusCode::kInvalidParameterValue);
  EXPECT_EQ(stub.SetMetadata(kContainer, "a", {{"name", "line\nbreak"}}).code(), StatusCode::kInvalidParameterValue);
  EXPECT_EQ(stub.PutBlock(kContainer, "a", "not base64!", BlobBody::FromString("x"), "").code(),
            StatusCode::kInvalidParameterValue);
  EXPECT_EQ(Stub(BlobAuth::Sas("")).DeleteBlob(kContainer, "a").code(), StatusCode::kInvalidParameterValue);
  Status bad_key = Stub(BlobAuth::SharedKey("not base64 !!")).DeleteBlob(kContainer, "a");
  EXPECT_EQ(bad_key.code(), StatusCode::kInvalidParameterValue);
  ExpectNoSecrets(bad_key.message());
  EXPECT_TRUE(transport_->requests().empty());
}

TEST_F(AzureBlobTest, AzurePutBlockAndPutBlockList) {
  BlobRestStub stub = Stub(BlobAuth::Sas(kSas));
  const std::string odd_id = Base64Encode(std::string("\xfb\xff\xbf", 3));  // "+/+/": needs encoding
  transport_->Enqueue(201, "");
  transport_->Enqueue(201, "");
  ASSERT_TRUE(stub.PutBlock(kContainer, "big.bin", odd_id, BlobBody::FromString("abcd"), Md5B64("abcd")).ok());
  PutBlockListOptions list;
  list.if_none_match = true;
  ASSERT_TRUE(stub.PutBlockList(kContainer, "big.bin", {BlockId(0), BlockId(1)}, list).ok());
  const std::vector<HttpRequest> rs = transport_->requests();
  EXPECT_EQ(odd_id, "+/+/");
  EXPECT_EQ(rs[0].url, std::string(kBase) + "big.bin?comp=block&blockid=%2B%2F%2B%2F&" + kSas.substr(1));
  EXPECT_EQ(Header(rs[0], "Content-MD5"), Md5B64("abcd"));
  EXPECT_EQ(Header(rs[0], "If-None-Match"), "<none>");
  EXPECT_EQ(rs[1].url, std::string(kBase) + "big.bin?comp=blocklist&" + kSas.substr(1));
  const std::string xml = "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList><Latest>" + BlockId(0) +
                          "</Latest><Latest>" + BlockId(1) + "</Latest></BlockList>";
  EXPECT_EQ(rs[1].body, xml);
  EXPECT_EQ(Header(rs[1], "Content-Type"), "application/xml");
  EXPECT_EQ(Header(rs[1], "Content-MD5"), Md5B64(xml));
  EXPECT_EQ(Header(rs[1], "If-None-Match"), "*");
}

TEST_F(AzureBlobTest, AzureGetPropertiesReadsMetadataAndNotFound) {
  BlobRestStub stub = Stub(BlobAuth::Sas(kSas));
  transport_->Enqueue(200, "",
                      {{"Content-Length", "1280"},
                       {"Content-MD5", "NZ9DlDH45ryKnPIy4XbKfQ=="},
                       {"ETag", "\"0x8DC1\""},
                       {"x-ms-meta-Upload_Status", "completed"},
                       {"x-ms-meta-name", "my-model"},
                       {"x-ms-meta-version", "3"}});
  transport_->Enqueue(404, "", {{"x-ms-error-code", "BlobNotFound"}});
  transport_->Enqueue(404, "", {{"x-ms-error-code", "ContainerNotFound"}, {"x-ms-request-id", "r-1"}});
  StatusOr<std::optional<BlobProperties>> p = stub.GetProperties(kContainer, "a");
  ASSERT_TRUE(p.ok() && p->has_value());
  EXPECT_EQ((*p)->content_length, 1280u);
  EXPECT_EQ((*p)->content_md5, "NZ9DlDH45ryKnPIy4XbKfQ==");
  EXPECT_EQ((*p)->etag, "\"0x8DC1\"");
  EXPECT_EQ((*p)->metadata,
            (std::map<std::string, std::string>{{"upload_status", "completed"}, {"name", "my-model"}, {"version", "3"}}));
  StatusOr<std::optional<BlobProperties>> missing = stub.GetProperties(kContainer, "b");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
  StatusOr<std::optional<BlobProperties>> no_container = stub.GetProperties(kContainer, "c");
  EXPECT_EQ(no_container.status().code(), StatusCode::kResourceDoesNotExist);
  EXPECT_NE(no_container.status().message().find("ContainerNotFound"), std::string::npos);
  EXPECT_NE(no_container.status().message().find("request id r-1"), std::string::npos);
}

TEST_F(AzureBlobTest, AzureDeleteOfAMissingBlobIsOk) {
  BlobRestStub stub = Stub(BlobAuth::Sas(kSas));
  transport_->Enqueue(404, "", {{"x-ms-error-code", "BlobNotFound"}});
  EXPECT_TRUE(stub.DeleteBlob(kContainer, "gone").ok());
}

// ---------------------------------------------------------------------------------------------------------------
// The Storage AsStatus

std::string ErrorXml(const std::string& code, const std::string& message, const std::string& extra = "") {
  return "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>" + code + "</Code><Message>" + message +
         "\nRequestId:5f1e0000-0000\nTime:2024-01-01T00:00:00.0000000Z</Message>" + extra + "</Error>";
}

TEST_F(AzureBlobTest, AzureErrorMapping) {
  struct Case {
    long status;
    std::string code;
    StatusCode want;
    std::string needle;
  };
  const std::vector<Case> cases = {
      {404, "BlobNotFound", StatusCode::kResourceDoesNotExist, "BlobNotFound: The specified blob does not exist."},
      {404, "ContainerNotFound", StatusCode::kResourceDoesNotExist, "ContainerNotFound"},
      {403, "AuthenticationFailed", StatusCode::kPermissionDenied, "SAS token may have expired"},
      {403, "AuthorizationFailure", StatusCode::kPermissionDenied, "SAS token"},
      {403, "AuthorizationPermissionMismatch", StatusCode::kPermissionDenied, "Storage Blob Data Contributor"},
      {403, "KeyBasedAuthenticationNotPermitted", StatusCode::kPermissionDenied, "identity-based datastore"},
      {401, "InvalidAuthenticationInfo", StatusCode::kUnauthenticated, "InvalidAuthenticationInfo"},
      {409, "BlobAlreadyExists", StatusCode::kResourceAlreadyExists, "BlobAlreadyExists"},
      {412, "ConditionNotMet", StatusCode::kResourceAlreadyExists, "ConditionNotMet"},
      {409, "LeaseIdMissing", StatusCode::kInvalidParameterValue, "LeaseIdMissing"},
      {400, "Md5Mismatch", StatusCode::kInvalidParameterValue, "did the file change"},
      {503, "ServerBusy", StatusCode::kTemporarilyUnavailable, "ServerBusy"},
      {500, "InternalError", StatusCode::kTemporarilyUnavailable, "InternalError"},
      {500, "OperationTimedOut", StatusCode::kTemporarilyUnavailable, "OperationTimedOut"},
      {501, "", StatusCode::kInternalError, "HTTP 501"},
  };
  for (const Case& c : cases) {
    HttpResponse r{c.status, {{"x-ms-request-id", "5f1e0000-0000"}}, ""};
    if (!c.code.empty()) {
      r.headers.emplace_back("x-ms-error-code", c.code);
      r.body = ErrorXml(c.code, c.code == "BlobNotFound" ? "The specified blob does not exist." : "Something.");
    }
    Status s = BlobErrorStatus(r, "Azure Storage PutBlob acct/c/b", BlobAuthKind::kSas);
    EXPECT_EQ(s.code(), c.want) << c.status << " " << c.code << ": " << s.ToString();
    EXPECT_NE(s.message().find(c.needle), std::string::npos) << s.message();
    EXPECT_EQ(s.message().find("Time:"), std::string::npos) << s.message();  // only the message's first line
  }
  // The code from the body when the header is missing; the hint follows the auth mode.
  Status s = BlobErrorStatus(HttpResponse{403, {}, ErrorXml("AuthenticationFailed", "Server failed to authenticate.")}, "x",
                             BlobAuthKind::kSharedKey);
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("AuthenticationFailed: Server failed to authenticate. (HTTP 403)"), std::string::npos);
  EXPECT_NE(s.message().find("account name and key"), std::string::npos) << s.message();
  // A proxy's page: status and excerpt.
  Status html = BlobErrorStatus(HttpResponse{502, {}, "<html>Bad Gateway</html>"}, "x", BlobAuthKind::kSas);
  EXPECT_EQ(html.code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_NE(html.message().find("Bad Gateway"), std::string::npos);
}

TEST_F(AzureBlobTest, AzureErrorKeepsRetryAfter) {
  FakeClock clock;
  Status s = BlobErrorStatus(HttpResponse{503, {{"x-ms-error-code", "ServerBusy"}, {"Retry-After", "7"}}, ""}, "x",
                             BlobAuthKind::kSas, {}, clock.WallNow());
  EXPECT_EQ(s.code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_EQ(s.retry_after(), milliseconds(7000));
  Status ms = BlobErrorStatus(HttpResponse{503, {{"x-ms-retry-after-ms", "250"}, {"Retry-After", "7"}}, ""}, "x",
                              BlobAuthKind::kSas);
  EXPECT_EQ(ms.retry_after(), milliseconds(250));
  Status date = BlobErrorStatus(HttpResponse{503, {{"Retry-After", "Mon, 01 Jan 2024 00:00:30 GMT"}}, ""}, "x",
                                BlobAuthKind::kSas, {}, clock.WallNow());
  EXPECT_EQ(date.retry_after(), milliseconds(30000));
}

TEST_F(AzureBlobTest, AzureNoSecretInAnyMessage) {
  ScopedLogCapture logs(LogLevel::kDebug);
  // SAS: a reply echoing the signature, and a transport failure naming the URL.
  {
    BlobRestStub stub = Stub(BlobAuth::Sas(kSas));
    transport_->Enqueue(403, ErrorXml("AuthenticationFailed", std::string("Signature did not match: sig=") + kSasSig),
                        {{"x-ms-error-code", "AuthenticationFailed"}});
    transport_->Enqueue(UnavailableError("PUT " + std::string(kBase) + "a" + kSas + " failed: connection reset (sig " +
                                         PercentDecode(kSasSig) + ")"));
    Status a = stub.SetMetadata(kContainer, "a", {{"k", "v"}});
    Status b = stub.SetMetadata(kContainer, "a", {{"k", "v"}});
    EXPECT_EQ(a.code(), StatusCode::kPermissionDenied);
    EXPECT_EQ(b.code(), StatusCode::kTemporarilyUnavailable);
    ExpectNoSecrets(a.message());
    ExpectNoSecrets(b.message());
  }
  // Shared Key: the service reports the signature it received.
  {
    BlobRestStub stub = Stub(BlobAuth::SharedKey(kKey));
    PutBlobOptions o;
    o.content_md5 = "NZ9DlDH45ryKnPIy4XbKfQ==";
    o.if_none_match = true;
    std::string detail =
        "<AuthenticationErrorDetail>The MAC signature found in the HTTP request "
        "'zE0NVG7dEwCi65U+ScdhNXjSqguH8sydPz9UWEObtds=' is not the same as any computed signature. "
        "Server used following string to sign: 'PUT...'.</AuthenticationErrorDetail>";
    transport_->Enqueue(403, ErrorXml("AuthenticationFailed", "Server failed to authenticate the request.", detail),
                        {{"x-ms-error-code", "AuthenticationFailed"}});
    Status s = stub.PutBlob(kContainer, "LocalUpload/0f1e/model/MLmodel", BlobBody::FromString("artifact_path: model\n"), o);
    EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
    EXPECT_NE(s.message().find("string to sign"), std::string::npos) << s.message();
    ExpectNoSecrets(s.message());
  }
  // Bearer: a reply echoing the token.
  {
    auto credential = std::make_shared<FakeTokenCredential>();
    BlobRestStub stub = Stub(BlobAuth::Bearer(credential));
    transport_->Enqueue(401, ErrorXml("InvalidAuthenticationInfo", std::string("Token ") + kToken + " expired"),
                        {{"x-ms-error-code", "InvalidAuthenticationInfo"}});
    Status s = stub.DeleteBlob(kContainer, "a");
    EXPECT_EQ(s.code(), StatusCode::kUnauthenticated);
    ExpectNoSecrets(s.message());
  }
  ExpectNoSecrets(logs.text());
}

// ---------------------------------------------------------------------------------------------------------------
// Folder hash and listing

// The sample folder; its hashes were computed with azure-ai-ml 1.35.2 (in a throwaway venv) on the same files:
//   ignore = get_ignore_file(folder); get_object_hash(folder, ignore)
//   sorted(get_upload_files_from_folder(Path(folder).resolve(), prefix=f"LocalUpload/{h}/model/", ignore_file=ignore))
// tests/python/test_azure_blob_crosscheck.py repeats the comparison on generated folders.
fs::path MakeSampleModel(const fs::path& parent) {
  const fs::path m = parent / "model";
  WriteFile(m / "MLmodel", "artifact_path: model\nflavors:\n  python_function:\n    loader_module: mlflow.sklearn\n");
  WriteFile(m / "conda.yaml", "name: mlflow-env\n");
  WriteFile(m / "python_env.yaml", "python: 3.11\n");
  WriteFile(m / "requirements.txt", "mlflow==2.9.2\nscikit-learn\n");
  std::string pkl;
  for (int i = 0; i < 5; ++i)
    for (int b = 0; b < 256; ++b) pkl += static_cast<char>(b);
  WriteFile(m / "model.pkl", pkl);
  WriteFile(m / "Code" / "helper.py", "def f():\n    return 1\n");
  WriteFile(m / "empty.txt", "");
  fs::create_directories(m / "artifacts");  // an empty folder: its name counts
  return m;
}

constexpr char kSampleHash[] = "500a23f9e3344b2a09b98c76b85b785077cd7f155e79cd8587014edbbf67d32d";
constexpr char kSampleIgnoredHash[] = "d5ef1038a777f5feb3de2fad6aba6547252d4f65390fb9f8ec27f19d51d034b1";

std::vector<std::string> Relatives(const ModelFolder& m) {
  std::vector<std::string> out;
  for (const ModelFolderFile& f : m.files) out.push_back(f.relative);
  return out;
}

TEST_F(AzureBlobTest, AzureObjectHashMatchesAzureAiMl) {
  const fs::path m = MakeSampleModel(dir_);
  StatusOr<std::string> h = ObjectHash(m.string());
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(*h, kSampleHash);
  StatusOr<ModelFolder> folder = ScanModelFolder(m.string() + "/");
  ASSERT_TRUE(folder.ok()) << folder.status().ToString();
  EXPECT_EQ(folder->hash, kSampleHash);
  EXPECT_EQ(folder->name, "model");
  EXPECT_EQ(folder->blob_prefix(), std::string("LocalUpload/") + kSampleHash + "/model");
  // azure-ai-ml's upload order (by local path: "Code" < "MLmodel" < "conda.yaml"); the hash's is case-blind.
  EXPECT_EQ(Relatives(*folder), (std::vector<std::string>{"Code/helper.py", "MLmodel", "conda.yaml", "empty.txt",
                                                          "model.pkl", "python_env.yaml", "requirements.txt"}));
  EXPECT_EQ(folder->files[0].blob_name, std::string("LocalUpload/") + kSampleHash + "/model/Code/helper.py");
  uint64_t total = 0;
  for (const ModelFolderFile& f : folder->files) total += fs::file_size(f.local_path);
  EXPECT_EQ(folder->total_bytes, total);

  // With an .amlignore: *.pkl excluded but keep.pkl, data/ excluded; the .amlignore itself is uploaded.
  WriteFile(m / "data" / "x.csv", "a,b\n1,2\n");
  WriteFile(m / "keep.pkl", "keep");
  WriteFile(m / ".amlignore", "*.pkl\n!keep.pkl\ndata/\n# comment\n");
  StatusOr<ModelFolder> ignored = ScanModelFolder(m.string());
  ASSERT_TRUE(ignored.ok()) << ignored.status().ToString();
  EXPECT_EQ(ignored->hash, kSampleIgnoredHash);
  EXPECT_EQ(ignored->ignore_file, (m / ".amlignore").string());
  EXPECT_EQ(Relatives(*ignored), (std::vector<std::string>{".amlignore", "Code/helper.py", "MLmodel", "conda.yaml",
                                                           "empty.txt", "keep.pkl", "python_env.yaml", "requirements.txt"}));
}

TEST_F(AzureBlobTest, AzureObjectHashOfOneFileAndOfNothing) {
  WriteFile(dir_ / "f.bin", "abc");
  EXPECT_EQ(ObjectHash((dir_ / "f.bin").string()).value(), Sha256Hex(std::string(kObjectHashSalt) + "abc"));
  EXPECT_EQ(ObjectHash((dir_ / "missing").string()).status().code(), StatusCode::kInvalidParameterValue);
  fs::create_directories(dir_ / "empty" / "sub");
  StatusOr<ModelFolder> empty = ScanModelFolder((dir_ / "empty").string());
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_NE(empty.status().message().find("is empty"), std::string::npos);
}

TEST_F(AzureBlobTest, AzureFolderLinksAreFollowedAndCyclesRefused) {
  WriteFile(dir_ / "outside" / "data.bin", "linked");
  WriteFile(dir_ / "m" / "MLmodel", "x");
  fs::create_symlink(dir_ / "outside" / "data.bin", dir_ / "m" / "link.bin");
  fs::create_directory_symlink(dir_ / "outside", dir_ / "m" / "linkdir");
  StatusOr<ModelFolder> m = ScanModelFolder((dir_ / "m").string());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  // Local paths are resolved, so the linked files sort by where they live ("m/..." < "outside/..."), then by
  // blob name; blob names keep the link names.
  ASSERT_EQ(m->files.size(), 3u);
  EXPECT_EQ(Relatives(*m), (std::vector<std::string>{"MLmodel", "link.bin", "linkdir/data.bin"}));
  EXPECT_EQ(m->files[1].local_path, fs::canonical(dir_ / "outside" / "data.bin").string());
  EXPECT_EQ(m->files[2].local_path, m->files[1].local_path);
  fs::create_directory_symlink(dir_ / "m", dir_ / "m" / "loop");
  EXPECT_EQ(ScanModelFolder((dir_ / "m").string()).status().code(), StatusCode::kInvalidParameterValue);
  fs::remove(dir_ / "m" / "loop");
  fs::create_symlink(dir_ / "nowhere", dir_ / "m" / "broken");
  EXPECT_EQ(ScanModelFolder((dir_ / "m").string()).status().code(), StatusCode::kInvalidParameterValue);
}

TEST_F(AzureBlobTest, AzureIgnoreRulesFollowPathspec) {
  StatusOr<IgnoreRules> r = IgnoreRules::Parse("*.pkl\n!keep.pkl\ndata/\n/top.txt\n**/deep\n\\#hash\n# c\n\n  a?c  \r\n");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->Excluded("model.pkl"));
  EXPECT_TRUE(r->Excluded("sub/model.pkl"));
  EXPECT_FALSE(r->Excluded("keep.pkl"));
  EXPECT_FALSE(r->Excluded("sub/keep.pkl"));
  EXPECT_TRUE(r->Excluded("data/x.csv"));
  EXPECT_TRUE(r->Excluded("a/data/x.csv"));
  EXPECT_FALSE(r->Excluded("data"));  // "data/" matches what is below a directory, not the name itself
  EXPECT_TRUE(r->Excluded("top.txt"));
  EXPECT_FALSE(r->Excluded("a/top.txt"));
  EXPECT_TRUE(r->Excluded("a/b/deep"));
  EXPECT_TRUE(r->Excluded("#hash"));
  EXPECT_TRUE(r->Excluded("abc"));
  EXPECT_FALSE(r->Excluded("abbc"));
  EXPECT_FALSE(r->Excluded("MLmodel"));
  EXPECT_EQ(IgnoreRules::Parse("ok\n!\n").status().code(), StatusCode::kInvalidParameterValue);
  Status trailing = IgnoreRules::Parse("a\\", ".amlignore").status();
  EXPECT_EQ(trailing.code(), StatusCode::kInvalidParameterValue);
  EXPECT_NE(trailing.message().find(".amlignore line 1"), std::string::npos) << trailing.message();
}

TEST_F(AzureBlobTest, AzureBlockIdsAndDatastoreUri) {
  EXPECT_EQ(BlockId(0), Base64Encode(std::string(48, '0')));
  EXPECT_EQ(BlockId(0).size(), 64u);
  EXPECT_EQ(BlockId(49'999).size(), 64u);
  EXPECT_EQ(*Base64Decode(BlockId(123)), std::string(45, '0') + "123");
  EXPECT_EQ(AzureMlDatastoreUri("00000000-1111-2222-3333-444444444444", "my-rg", "my-ws", "workspaceblobstore",
                                std::string("LocalUpload/") + kSampleHash + "/model"),
            std::string("azureml://subscriptions/00000000-1111-2222-3333-444444444444/resourcegroups/my-rg/workspaces/"
                        "my-ws/datastores/workspaceblobstore/paths/LocalUpload/") +
                kSampleHash + "/model");
}

// ---------------------------------------------------------------------------------------------------------------
// The upload

class AzureModelUploadTest : public AzureBlobTest {
 protected:
  void SetUp() override {
    AzureBlobTest::SetUp();
    options_.asset_name = "my-model";
    options_.asset_version = "3";
    options_.clock = clock_;
    options_.progress = [this](uint64_t done, uint64_t total) { progress_.emplace_back(done, total); };
  }
  StatusOr<ModelUploadResult> Upload(const fs::path& folder) {
    stub_ = std::make_unique<BlobRestStub>(Stub(BlobAuth::Sas(kSas)));
    return UploadModelFolder(folder.string(), *stub_, kContainer, options_);
  }
  static std::string UrlOf(const std::string& blob, const std::string& query = "") {
    return std::string(kBase) + UriEncode(blob, false) + "?" + (query.empty() ? "" : query + "&") + kSas.substr(1);
  }
  void EnqueueNotFound() { transport_->Enqueue(404, "", {{"x-ms-error-code", "BlobNotFound"}}); }

  ModelUploadOptions options_;
  std::unique_ptr<BlobRestStub> stub_;
  std::vector<std::pair<uint64_t, uint64_t>> progress_;
};

TEST_F(AzureModelUploadTest, AzureFreshUploadPutsEveryFileThenConfirms) {
  const fs::path m = MakeSampleModel(dir_);
  const std::string prefix = std::string("LocalUpload/") + kSampleHash + "/model/";
  EnqueueNotFound();
  for (int i = 0; i < 7; ++i) transport_->Enqueue(201, "");
  transport_->Enqueue(200, "");
  StatusOr<ModelUploadResult> r = Upload(m);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->skipped);
  EXPECT_FALSE(r->overwrote);
  EXPECT_EQ(r->hash, kSampleHash);
  EXPECT_EQ(r->blob_prefix, std::string("LocalUpload/") + kSampleHash + "/model");
  EXPECT_EQ(r->indicator_blob, prefix + "Code/helper.py");
  EXPECT_EQ(r->files, 7u);
  const uint64_t total = ScanModelFolder(m.string())->total_bytes;
  EXPECT_EQ(r->bytes, total);
  EXPECT_EQ(r->name, "my-model");
  EXPECT_EQ(r->version, "3");

  const std::vector<HttpRequest> rs = transport_->requests();
  ASSERT_EQ(rs.size(), 9u);
  EXPECT_EQ(rs[0].method, "HEAD");  // the indicator only: a 404 needs no legacy check
  EXPECT_EQ(rs[0].url, UrlOf(prefix + "Code/helper.py"));
  const std::vector<std::string> order = {"Code/helper.py", "MLmodel",         "conda.yaml",      "empty.txt",
                                          "model.pkl",      "python_env.yaml", "requirements.txt"};
  for (size_t i = 0; i < order.size(); ++i) {
    const HttpRequest& put = rs[1 + i];
    std::ifstream in(m / order[i], std::ios::binary);
    const std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(put.method, "PUT");
    EXPECT_EQ(put.url, UrlOf(prefix + order[i]));
    EXPECT_EQ(put.body, content);
    EXPECT_EQ(Header(put, "x-ms-blob-type"), "BlockBlob");
    EXPECT_EQ(Header(put, "If-None-Match"), "*");
    EXPECT_EQ(Header(put, "Content-MD5"), content.empty() ? "<none>" : Md5B64(content)) << order[i];
    EXPECT_TRUE(transport_->file_bodies.at(1 + i).has_value());
  }
  const HttpRequest& confirm = rs[8];
  EXPECT_EQ(confirm.url, UrlOf(prefix + "Code/helper.py", "comp=metadata"));
  EXPECT_EQ(Header(confirm, "x-ms-meta-upload_status"), "completed");
  EXPECT_EQ(Header(confirm, "x-ms-meta-name"), "my-model");
  EXPECT_EQ(Header(confirm, "x-ms-meta-version"), "3");

  ASSERT_EQ(progress_.size(), 7u);
  EXPECT_EQ(progress_.back(), std::make_pair(total, total));
  for (size_t i = 1; i < progress_.size(); ++i) EXPECT_GE(progress_[i].first, progress_[i - 1].first);
}

TEST_F(AzureModelUploadTest, AzureCompletedUploadIsSkipped) {
  const fs::path m = MakeSampleModel(dir_);
  transport_->Enqueue(
      200, "", {{"x-ms-meta-upload_status", "completed"}, {"x-ms-meta-name", "first-name"}, {"x-ms-meta-version", "1"}});
  EnqueueNotFound();  // legacy
  StatusOr<ModelUploadResult> r = Upload(m);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->skipped);
  EXPECT_FALSE(r->legacy);
  EXPECT_EQ(r->name, "first-name");
  EXPECT_EQ(r->version, "1");
  EXPECT_EQ(r->blob_prefix, std::string("LocalUpload/") + kSampleHash + "/model");
  EXPECT_EQ(r->files, 0u);
  const std::vector<HttpRequest> rs = transport_->requests();
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[1].method, "HEAD");
  EXPECT_EQ(rs[1].url, UrlOf(std::string("az-ml-artifacts/") + kSampleHash + "/model/Code/helper.py"));
  EXPECT_TRUE(progress_.empty());
}

TEST_F(AzureModelUploadTest, AzureCompletedLegacyUploadIsReused) {
  const fs::path m = MakeSampleModel(dir_);
  transport_->Enqueue(200, "");  // LocalUpload/...: there, unconfirmed
  transport_->Enqueue(
      200, "", {{"x-ms-meta-upload_status", "completed"}, {"x-ms-meta-name", "legacy-name"}, {"x-ms-meta-version", "7"}});
  StatusOr<ModelUploadResult> r = Upload(m);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->skipped);
  EXPECT_TRUE(r->legacy);
  EXPECT_EQ(r->blob_prefix, std::string("az-ml-artifacts/") + kSampleHash + "/model");
  EXPECT_EQ(r->name, "legacy-name");
  EXPECT_EQ(r->version, "7");
  EXPECT_EQ(transport_->requests().size(), 2u);
}

TEST_F(AzureModelUploadTest, AzurePartialUploadIsOverwritten) {
  WriteFile(dir_ / "model" / "MLmodel", "m");
  WriteFile(dir_ / "model" / "b.txt", "b");
  transport_->Enqueue(200, "", {{"x-ms-meta-upload_status", "started"}});  // not "completed"
  EnqueueNotFound();                                                       // legacy
  transport_->Enqueue(201, "");
  transport_->Enqueue(201, "");
  transport_->Enqueue(200, "");
  StatusOr<ModelUploadResult> r = Upload(dir_ / "model");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->skipped);
  EXPECT_TRUE(r->overwrote);
  const std::vector<HttpRequest> rs = transport_->requests();
  ASSERT_EQ(rs.size(), 5u);
  EXPECT_EQ(Header(rs[2], "If-None-Match"), "<none>");
  EXPECT_EQ(Header(rs[3], "If-None-Match"), "<none>");
  EXPECT_NE(rs[4].url.find("comp=metadata"), std::string::npos);
}

TEST_F(AzureModelUploadTest, AzureLargeFilesGoUpInBlocks) {
  WriteFile(dir_ / "model" / "big.bin", "0123456789");  // 10 bytes: blocks of 4, 4, 2
  WriteFile(dir_ / "model" / "small.txt", "abc");
  options_.single_put_limit = 8;
  options_.block_size = 4;
  EnqueueNotFound();
  for (int i = 0; i < 3; ++i) transport_->Enqueue(201, "");  // blocks
  transport_->Enqueue(201, "");                              // block list
  transport_->Enqueue(201, "");                              // small.txt
  transport_->Enqueue(200, "");                              // metadata
  StatusOr<ModelUploadResult> r = Upload(dir_ / "model");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const std::string prefix = r->blob_prefix + "/";
  const std::vector<HttpRequest> rs = transport_->requests();
  ASSERT_EQ(rs.size(), 7u);
  const std::vector<std::string> bodies = {"0123", "4567", "89"};
  for (int i = 0; i < 3; ++i) {
    const HttpRequest& block = rs[1 + i];
    EXPECT_EQ(block.url, UrlOf(prefix + "big.bin", "comp=block&blockid=" + UriEncode(BlockId(i))));
    EXPECT_EQ(block.body, bodies[i]);
    EXPECT_EQ(Header(block, "Content-MD5"), Md5B64(bodies[i]));
    EXPECT_EQ(Header(block, "If-None-Match"), "<none>");
    EXPECT_EQ(transport_->file_bodies.at(1 + i)->offset, static_cast<uint64_t>(4 * i));
  }
  const HttpRequest& list = rs[4];
  EXPECT_EQ(list.url, UrlOf(prefix + "big.bin", "comp=blocklist"));
  EXPECT_EQ(list.body, "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList><Latest>" + BlockId(0) + "</Latest><Latest>" +
                           BlockId(1) + "</Latest><Latest>" + BlockId(2) + "</Latest></BlockList>");
  EXPECT_EQ(Header(list, "If-None-Match"), "*");
  EXPECT_EQ(rs[5].url, UrlOf(prefix + "small.txt"));
  EXPECT_EQ(Header(rs[5], "x-ms-blob-type"), "BlockBlob");
  EXPECT_EQ(rs[6].url, UrlOf(prefix + "big.bin", "comp=metadata"));  // big.bin is the indicator
  EXPECT_EQ(progress_, (std::vector<std::pair<uint64_t, uint64_t>>{{4, 13}, {8, 13}, {10, 13}, {13, 13}}));
}

TEST_F(AzureModelUploadTest, AzureServerBusyIsRetriedAfterRetryAfter) {
  WriteFile(dir_ / "model" / "MLmodel", "m");
  transport_->Enqueue(503, ErrorXml("ServerBusy", "The server is busy."),
                      {{"x-ms-error-code", "ServerBusy"}, {"Retry-After", "3"}});
  EnqueueNotFound();
  transport_->Enqueue(503, "", {{"x-ms-error-code", "ServerBusy"}, {"Retry-After", "2"}});
  transport_->Enqueue(UnavailableError("connection reset"));
  transport_->Enqueue(201, "");
  transport_->Enqueue(500, ErrorXml("InternalError", "Server encountered an internal error."),
                      {{"x-ms-error-code", "InternalError"}});
  transport_->Enqueue(200, "");
  StatusOr<ModelUploadResult> r = Upload(dir_ / "model");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(transport_->requests().size(), 7u);
  ASSERT_EQ(clock_->sleeps.size(), 4u);
  EXPECT_EQ(clock_->sleeps[0], milliseconds(3000));
  EXPECT_EQ(clock_->sleeps[1], milliseconds(2000));
}

TEST_F(AzureModelUploadTest, AzureRetriesEndAndPermanentErrorsStop) {
  WriteFile(dir_ / "model" / "MLmodel", "m");
  options_.retry.max_attempts = 2;
  for (int i = 0; i < 2; ++i) transport_->Enqueue(503, "", {{"x-ms-error-code", "ServerBusy"}, {"Retry-After", "1"}});
  StatusOr<ModelUploadResult> busy = Upload(dir_ / "model");
  EXPECT_EQ(busy.status().code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_NE(busy.status().message().find("after 2 attempts"), std::string::npos) << busy.status().message();

  EnqueueNotFound();
  transport_->Enqueue(403, ErrorXml("AuthorizationFailure", "This request is not authorized."),
                      {{"x-ms-error-code", "AuthorizationFailure"}});
  StatusOr<ModelUploadResult> denied = Upload(dir_ / "model");
  EXPECT_EQ(denied.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(denied.status().message().find("AuthorizationFailure"), std::string::npos);
  ExpectNoSecrets(denied.status().message());
  EXPECT_EQ(transport_->requests().size(), 4u);  // nothing after the refused PUT, no confirmation
}

TEST_F(AzureModelUploadTest, AzureFreshUploadMeetingAnExistingBlobWritesItAgain) {
  WriteFile(dir_ / "model" / "MLmodel", "m");
  EnqueueNotFound();
  transport_->Enqueue(409, ErrorXml("BlobAlreadyExists", "The specified blob already exists."),
                      {{"x-ms-error-code", "BlobAlreadyExists"}});
  transport_->Enqueue(201, "");
  transport_->Enqueue(200, "");
  StatusOr<ModelUploadResult> r = Upload(dir_ / "model");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const std::vector<HttpRequest> rs = transport_->requests();
  ASSERT_EQ(rs.size(), 4u);
  EXPECT_EQ(Header(rs[1], "If-None-Match"), "*");
  EXPECT_EQ(Header(rs[2], "If-None-Match"), "<none>");
  EXPECT_EQ(rs[2].body, "m");
}

TEST_F(AzureModelUploadTest, AzureUploadNeedsANameAVersionAndFiles) {
  WriteFile(dir_ / "model" / "MLmodel", "m");
  options_.asset_name.clear();
  EXPECT_EQ(Upload(dir_ / "model").status().code(), StatusCode::kInvalidParameterValue);
  options_.asset_name = "n";
  fs::create_directories(dir_ / "nothing");
  EXPECT_EQ(Upload(dir_ / "nothing").status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_EQ(Upload(dir_ / "model" / "MLmodel").status().code(), StatusCode::kInvalidParameterValue);  // not a folder
  EXPECT_TRUE(transport_->requests().empty());
}

}  // namespace
}  // namespace mlflow_bridge::internal
