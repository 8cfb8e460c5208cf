// In-memory stand-ins for the AWS stubs the sagemaker-endpoints client calls (targets/sagemaker/stubs.h):
// SageMaker, S3, STS, IAM and ECR keep what was made in maps, so that a test of the client's orchestration
// can make any call fail (`fail["CreateModel"] = ...`, or its next calls: `fail_next`) and then look at what
// is left. Every call is recorded in `calls` ("CreateModel m-1"). Like the real stubs, the fakes make one
// attempt per call: retrying is the client's.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "targets/sagemaker/stubs.h"

namespace mlflow_bridge::testing {

using nlohmann::json;

// What every fake shares: the call log and the failures to inject.
struct AwsWorld {
  std::vector<std::string> calls;
  std::map<std::string, Status> fail;  // operation -> the error it returns (once set, every time)
  // operation -> the errors its next calls return, one per call, before it works (or fails as `fail` says).
  std::map<std::string, std::vector<Status>> fail_next;
  // The status a new or updated endpoint reaches ("InService", or "Failed" with a FailureReason).
  std::string endpoint_status = "InService";

  std::map<std::string, json> models, configs, endpoints;  // by name
  std::map<std::string, std::string> objects;              // s3://bucket/key -> bytes (or a path)

  std::optional<Status> Call(const std::string& op, const std::string& name = "") {
    calls.push_back(op + (name.empty() ? "" : " " + name));
    if (auto it = fail_next.find(op); it != fail_next.end() && !it->second.empty()) {
      Status next = it->second.front();
      it->second.erase(it->second.begin());
      return next;
    }
    if (auto it = fail.find(op); it != fail.end()) return it->second;
    return std::nullopt;
  }
  static std::string Arn(const std::string& kind, const std::string& name) {
    return "arn:aws:sagemaker:us-west-2:123456789012:" + kind + "/" + name;
  }
};

class MockSageMakerStub : public internal::SageMakerStub {
 public:
  explicit MockSageMakerStub(std::shared_ptr<AwsWorld> w) : w_(std::move(w)) {}

  StatusOr<json> CreateModel(const json& r) const override {
    return Create("CreateModel", "ModelName", "model", "ModelArn", r, w_->models);
  }
  StatusOr<json> DescribeModel(const json& r) const override {
    return Describe("DescribeModel", "ModelName", r, w_->models);
  }
  StatusOr<json> DeleteModel(const json& r) const override { return Delete("DeleteModel", "ModelName", r, w_->models); }
  StatusOr<json> CreateEndpointConfig(const json& r) const override {
    return Create("CreateEndpointConfig", "EndpointConfigName", "endpoint-config", "EndpointConfigArn", r, w_->configs);
  }
  StatusOr<json> DescribeEndpointConfig(const json& r) const override {
    return Describe("DescribeEndpointConfig", "EndpointConfigName", r, w_->configs);
  }
  StatusOr<json> DeleteEndpointConfig(const json& r) const override {
    return Delete("DeleteEndpointConfig", "EndpointConfigName", r, w_->configs);
  }
  StatusOr<json> CreateEndpoint(const json& r) const override {
    auto made = Create("CreateEndpoint", "EndpointName", "endpoint", "EndpointArn", r, w_->endpoints);
    if (made.ok()) Settle(w_->endpoints[r["EndpointName"]]);
    return made;
  }
  StatusOr<json> DescribeEndpoint(const json& r) const override {
    return Describe("DescribeEndpoint", "EndpointName", r, w_->endpoints);
  }
  StatusOr<json> UpdateEndpoint(const json& r) const override {
    const std::string name = r.value("EndpointName", "");
    if (auto e = w_->Call("UpdateEndpoint", name)) return *e;
    auto it = w_->endpoints.find(name);
    if (it == w_->endpoints.end()) return NotFoundError("Could not find endpoint " + name);
    json updated = it->second;
    updated["EndpointConfigName"] = r["EndpointConfigName"];
    Settle(updated);
    // A failed update leaves the endpoint on its previous config (SageMaker rolls back).
    if (updated["EndpointStatus"] == "InService") it->second = updated;
    else it->second["FailureReason"] = updated["FailureReason"];
    return json::object();
  }
  StatusOr<json> UpdateEndpointWeightsAndCapacities(const json& r) const override {
    return Unused("UpdateEndpointWeightsAndCapacities", r);
  }
  StatusOr<json> DeleteEndpoint(const json& r) const override {
    return Delete("DeleteEndpoint", "EndpointName", r, w_->endpoints);
  }
  StatusOr<json> ListEndpoints(const json& r) const override { return Unused("ListEndpoints", r); }
  StatusOr<json> ListTags(const json& r) const override {
    const std::string arn = r.value("ResourceArn", "");
    if (auto e = w_->Call("ListTags", arn)) return *e;
    for (auto* kind : {&w_->models, &w_->configs, &w_->endpoints})
      for (const auto& [_, o] : *kind)
        for (const char* key : {"ModelArn", "EndpointConfigArn", "EndpointArn"})
          if (o.value(key, "") == arn) return json{{"Tags", o.value("Tags", json::array())}};
    return NotFoundError("no resource " + arn);
  }
  StatusOr<json> AddTags(const json& r) const override {
    if (auto e = w_->Call("AddTags", r.value("ResourceArn", ""))) return *e;
    return json::object();
  }
  StatusOr<internal::InvokeResult> InvokeEndpoint(std::string_view, std::string, std::string_view, std::string_view,
                                                  std::string_view, std::string_view) const override {
    return InternalError("InvokeEndpoint is not in the fake");
  }
  StatusOr<internal::AsyncInvokeResult> InvokeEndpointAsync(std::string_view, std::string_view, std::string_view,
                                                            std::string_view) const override {
    return InternalError("InvokeEndpointAsync is not in the fake");
  }

 private:
  // The endpoint as it is once SageMaker has finished: its live variants are those of its config.
  void Settle(json& endpoint) const {
    endpoint["EndpointStatus"] = w_->endpoint_status;
    if (w_->endpoint_status != "InService") endpoint["FailureReason"] = "the container failed the ping health check";
    auto config = w_->configs.find(endpoint.value("EndpointConfigName", ""));
    json live = json::array();
    if (config != w_->configs.end()) {
      for (const auto& v : config->second.value("ProductionVariants", json::array()))
        live.push_back({{"VariantName", v["VariantName"]}, {"CurrentWeight", v.value("InitialVariantWeight", 1.0)}});
    }
    endpoint["ProductionVariants"] = live;
  }
  StatusOr<json> Create(const std::string& op, const char* key, const std::string& kind, const char* arn_key, const json& r,
                        std::map<std::string, json>& where) const {
    const std::string name = r.value(key, "");
    if (auto e = w_->Call(op, name)) return *e;
    if (where.count(name)) return AlreadyExistsError(op + ": " + name + " exists");
    json o = r;
    o[arn_key] = AwsWorld::Arn(kind, name);
    where[name] = o;
    return json{{arn_key, o[arn_key]}};
  }
  StatusOr<json> Describe(const std::string& op, const char* key, const json& r,
                          const std::map<std::string, json>& where) const {
    const std::string name = r.value(key, "");
    if (auto e = w_->Call(op, name)) return *e;
    auto it = where.find(name);
    if (it == where.end()) return NotFoundError(op + ": Could not find " + name);
    return it->second;
  }
  StatusOr<json> Delete(const std::string& op, const char* key, const json& r, std::map<std::string, json>& where) const {
    const std::string name = r.value(key, "");
    if (auto e = w_->Call(op, name)) return *e;
    if (!where.erase(name)) return NotFoundError(op + ": Could not find " + name);
    return json::object();
  }
  StatusOr<json> Unused(const std::string& op, const json&) const {
    w_->calls.push_back(op);
    return InternalError(op + " is not in the fake");
  }
  std::shared_ptr<AwsWorld> w_;
};

class MockS3Stub : public internal::S3Stub {
 public:
  explicit MockS3Stub(std::shared_ptr<AwsWorld> w) : w_(std::move(w)) {}
  Status EnsureBucket(const std::string& bucket) override {
    if (auto e = w_->Call("EnsureBucket", bucket)) return *e;
    return OkStatus();
  }
  StatusOr<std::string> UploadFile(const std::string& bucket, const std::string& key, const std::string& path,
                                   const internal::S3UploadOptions&) override {
    const std::string url = "s3://" + bucket + "/" + key;
    if (auto e = w_->Call("UploadFile", url)) return *e;
    w_->objects[url] = path;
    return url;
  }
  StatusOr<std::string> PutBytes(const std::string& bucket, const std::string& key, std::string body,
                                 const std::string&) override {
    const std::string url = "s3://" + bucket + "/" + key;
    if (auto e = w_->Call("PutBytes", url)) return *e;
    w_->objects[url] = std::move(body);
    return url;
  }
  StatusOr<std::optional<std::string>> GetObject(const std::string& bucket, const std::string& key) override {
    const std::string url = "s3://" + bucket + "/" + key;
    if (auto e = w_->Call("GetObject", url)) return *e;
    auto it = w_->objects.find(url);
    if (it == w_->objects.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  Status DeleteObject(const std::string& bucket, const std::string& key) override {
    const std::string url = "s3://" + bucket + "/" + key;
    if (auto e = w_->Call("DeleteObject", url)) return *e;
    w_->objects.erase(url);
    return OkStatus();
  }

 private:
  std::shared_ptr<AwsWorld> w_;
};

class MockStsStub : public internal::StsStub {
 public:
  explicit MockStsStub(std::shared_ptr<AwsWorld> w) : w_(std::move(w)) {}
  StatusOr<internal::CallerIdentity> GetCallerIdentity() const override {
    if (auto e = w_->Call("GetCallerIdentity")) return *e;
    return internal::CallerIdentity{"123456789012", "arn:aws:sts::123456789012:assumed-role/deployer/session", "AID"};
  }

 private:
  std::shared_ptr<AwsWorld> w_;
};

class MockIamStub : public internal::IamStub {
 public:
  explicit MockIamStub(std::shared_ptr<AwsWorld> w) : w_(std::move(w)) {}
  StatusOr<std::string> GetRoleArn(std::string_view role) const override {
    if (auto e = w_->Call("GetRoleArn", std::string(role))) return *e;
    return "arn:aws:iam::123456789012:role/" + std::string(role);
  }

 private:
  std::shared_ptr<AwsWorld> w_;
};

class MockEcrStub : public internal::EcrStub {
 public:
  explicit MockEcrStub(std::shared_ptr<AwsWorld> w) : w_(std::move(w)) {}
  StatusOr<std::string> DescribeRepositories(std::string_view name) const override {
    if (auto e = w_->Call("DescribeRepositories", std::string(name))) return *e;
    return "123456789012.dkr.ecr.us-west-2.amazonaws.com/" + std::string(name);
  }
  StatusOr<std::string> CreateRepository(std::string_view name) const override {
    if (auto e = w_->Call("CreateRepository", std::string(name))) return *e;
    return "123456789012.dkr.ecr.us-west-2.amazonaws.com/" + std::string(name);
  }
  StatusOr<internal::EcrAuthorization> GetAuthorizationToken() const override {
    if (auto e = w_->Call("GetAuthorizationToken")) return *e;
    return InternalError("GetAuthorizationToken is not in the fake");
  }

 private:
  std::shared_ptr<AwsWorld> w_;
};

// All five over one world.
inline std::shared_ptr<internal::SageMakerStubs> MockSageMakerStubs(std::shared_ptr<AwsWorld> w) {
  return std::make_shared<internal::SageMakerStubs>(internal::SageMakerStubs{
      std::make_shared<MockSageMakerStub>(w), std::make_shared<MockS3Stub>(w), std::make_shared<MockStsStub>(w),
      std::make_shared<MockIamStub>(w), std::make_shared<MockEcrStub>(w)});
}

}  // namespace mlflow_bridge::testing
