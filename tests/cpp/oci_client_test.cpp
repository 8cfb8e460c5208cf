// The oci-endpoints orchestration (targets/oci/client.h) against an in-memory Data Science service: a create
// and an update are recorded, then each of their calls fails in turn, and the service must be left as it was;
// a work request that fails is reported with its errors and logs; a create that outlives its timeout is
// deleted once OCI lets it be; what others made is left alone.
#include "targets/oci/client.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_support.h"

namespace mlflow_bridge::internal {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::FakeClock;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kCompartment[] = "ocid1.compartment.oc1..aaaacomp";
constexpr char kProject[] = "ocid1.datascienceproject.oc1.iad.aaaaproj";

// Data Science in maps. A deployment operation gets a work request that ends after `polls` GETs of it (or of
// the deployment) in `end` (the operation's own end state unless a script says otherwise). Deleting a
// deployment whose work request runs, or a model a live deployment serves, is 409 IncorrectState, as OCI does.
// Every call is recorded in `calls` ("CreateModel", "GetWorkRequest"); Fail(call, nth) fails the nth one.
struct World {
  std::map<std::string, json> models, deployments, work_requests;
  std::map<std::string, std::string> artifacts;  // model id -> zip bytes
  std::map<std::string, std::string> ended;      // work request id -> the deployment state it ends in
  std::map<std::string, std::string> pending;    // deployment id -> its running work request
  int polls = 1;
  std::string create_ends_in = "ACTIVE";  // FAILED, NEEDS_ATTENTION, or CREATING (never ends)
  std::vector<std::string> calls;
  std::map<std::string, int> seen;
  std::map<std::string, int> fail_at;
  int next = 1;

  void Fail(const std::string& call, int nth) { fail_at[call] = nth; }
  Status Record(const std::string& call) {
    calls.push_back(call);
    int n = ++seen[call];
    auto it = fail_at.find(call);
    if (it != fail_at.end() && it->second == n) return InternalError("injected failure of " + call);
    return OkStatus();
  }
  std::string Id(const std::string& kind) { return "ocid1." + kind + ".oc1.iad.x" + std::to_string(next++); }

  // One poll of the deployment's work request.
  void Advance(const std::string& dep_id) {
    auto p = pending.find(dep_id);
    if (p == pending.end()) return;
    json& wr = work_requests[p->second];
    int left = wr["left"].get<int>();
    if (left > 0) {
      wr["left"] = left - 1;
      wr["status"] = "IN_PROGRESS";
      wr["percentComplete"] = 50;
      return;
    }
    const std::string end = ended[p->second];
    if (end == "CREATING") return;  // never ends
    deployments[dep_id]["lifecycleState"] = end;
    wr["status"] = end == "FAILED" || end == "NEEDS_ATTENTION" ? "FAILED" : "SUCCEEDED";
    wr["percentComplete"] = 100;
    if (end == "DELETED") deployments.erase(dep_id);
    pending.erase(p);
  }
  std::string Start(const std::string& dep_id, const std::string& end) {
    std::string wr = Id("datascienceworkrequest");
    work_requests[wr] = {{"id", wr}, {"status", "ACCEPTED"}, {"percentComplete", 0}, {"left", polls}, {"dep", dep_id}};
    ended[wr] = end;
    pending[dep_id] = wr;
    return wr;
  }
  bool ServesModel(const std::string& model_id) const {
    for (const auto& [id, d] : deployments)
      if (d["modelDeploymentConfigurationDetails"]["modelConfigurationDetails"].value("modelId", "") == model_id)
        return true;
    return false;
  }
  json State() const {
    json s = {{"models", json::array()}, {"deployments", json::object()}};
    for (const auto& [id, m] : models) s["models"].push_back(id);
    for (const auto& [id, d] : deployments)
      s["deployments"][id] = {d["lifecycleState"], d["modelDeploymentConfigurationDetails"]};
    return s;
  }
};

class FakeDataScience : public DataScienceStub {
 public:
  explicit FakeDataScience(std::shared_ptr<World> w) : w_(std::move(w)) {}

  StatusOr<OciResource> CreateModel(const json& details, const std::string&) override {
    MLFLOW_BRIDGE_RETURN_IF_ERROR(w_->Record("CreateModel"));
    json m = details;
    m["id"] = w_->Id("datasciencemodel");
    m["lifecycleState"] = "ACTIVE";
    w_->models[m["id"]] = m;
    return OciResource{m, "e", ""};
  }
  StatusOr<OciResource> GetModel(const std::string& id) override {
    MLFLOW_BRIDGE_RETURN_IF_ERROR(w_->Record("GetModel"));
    auto it = w_->models.find(id);
    if (it == w_->models.end()) return NotFoundError("no model " + id);
    return OciResource{it->second, "e", ""};
  }
  StatusOr<json> ListModels(const OciListQuery&) override {
    json out = json::array();
    for (const auto& [id, m] : w_->models) out.push_back(m);
    return out;
  }
  Status CreateModelArtifact(const std::string& id, const std::string& zip, uint64_t size, const std::string&,
                             const std::string&, const std::function<void(uint64_t, uint64_t)>& progress) override {
    MLFLOW_BRIDGE_RETURN_IF_ERROR(w_->Record("CreateModelArtifact"));
    if (progress) progress(size, size);
    EXPECT_EQ(fs::file_size(zip), size);
    w_->artifacts[id] = std::to_string(size);
    return OkStatus();
  }
  Status DeleteModel(const std::string& id) override {
    MLFLOW_BRIDGE_RETURN_IF_ERROR(w_->Record("DeleteModel"));
    if (!w_->models.count(id)) return NotFoundError("no model " + id);
    if (w_->ServesModel(id)) return Status(StatusCode::kTemporarilyUnavailable, "IncorrectState: model in use");
    w_->models.erase(id);
    w_->artifacts.erase(id);
    return OkStatus();
  }
  StatusOr<OciResource> CreateModelDeployment(const json& details, const std::string&) override {
    MLFLOW_BRIDGE_RETURN_IF_ERROR(w_->Record("CreateModelDeployment"));
    json d = details;
    d["id"] = w_->Id("datasciencemodeldeployment");
    d["lifecycleState"] = "CREATING";
    d["modelDeploymentUrl"] = "https://md.example/" + d["id"].get<std::string>();
    w_->deployments[d["id"]] = d;
    return OciResource{d, "e", w_->Start(d["id"], w_->create_ends_in)};
  }
  StatusOr<OciResource> GetModelDeployment(const std::string& id) override {
    MLFLOW_BRIDGE_RETURN_IF_ERROR(w_->Record("GetModelDeployment"));
    w_->Advance(id);
    auto it = w_->deployments.find(id);
    if (it == w_->deployments.end()) return NotFoundError("no deployment " + id);
    return OciResource{it->second, "etag-" + std::to_string(w_->calls.size()), ""};
  }
  StatusOr<json> ListModelDeployments(const OciListQuery& query) override {
    MLFLOW_BRIDGE_RETURN_IF_ERROR(w_->Record("ListModelDeployments"));
    json out = json::array();
    for (const auto& [id, d] : w_->deployments)
      if (d["compartmentId"] == query.compartment_id &&
          (query.filter.empty() || d.value("displayName", "") == query.filter[0].second))
        out.push_back(d);
    return out;
  }
  StatusOr<OciResource> UpdateModelDeployment(const std::string& id, const json& details, const std::string& etag) override {
    MLFLOW_BRIDGE_RETURN_IF_ERROR(w_->Record("UpdateModelDeployment"));
    EXPECT_FALSE(etag.empty());
    json& d = w_->deployments.at(id);
    for (const auto& [k, v] : details.items()) d[k] = v;
    d["lifecycleState"] = "UPDATING";
    return OciResource{json(), "", w_->Start(id, "ACTIVE")};
  }
  StatusOr<OciResource> ActivateModelDeployment(const std::string& id, const std::string&) override {
    MLFLOW_BRIDGE_RETURN_IF_ERROR(w_->Record("ActivateModelDeployment"));
    return OciResource{json(), "", w_->Start(id, "ACTIVE")};
  }
  StatusOr<OciResource> DeactivateModelDeployment(const std::string& id, const std::string&) override {
    MLFLOW_BRIDGE_RETURN_IF_ERROR(w_->Record("DeactivateModelDeployment"));
    return OciResource{json(), "", w_->Start(id, "INACTIVE")};
  }
  StatusOr<OciResource> DeleteModelDeployment(const std::string& id, const std::string&) override {
    MLFLOW_BRIDGE_RETURN_IF_ERROR(w_->Record("DeleteModelDeployment"));
    if (!w_->deployments.count(id)) return NotFoundError("no deployment " + id);
    if (w_->pending.count(id)) return Status(StatusCode::kTemporarilyUnavailable, "IncorrectState: work request runs");
    w_->deployments[id]["lifecycleState"] = "DELETING";
    return OciResource{json(), "", w_->Start(id, "DELETED")};
  }
  StatusOr<OciWorkRequest> GetWorkRequest(const std::string& id) override {
    MLFLOW_BRIDGE_RETURN_IF_ERROR(w_->Record("GetWorkRequest"));
    w_->Advance(w_->work_requests.at(id)["dep"]);
    return OciWorkRequest{w_->work_requests.at(id), std::nullopt};
  }
  StatusOr<json> ListWorkRequestErrors(const std::string& id) override {
    if (w_->work_requests.at(id)["status"] != "FAILED") return json::array();
    return json::array({{{"code", "ModelServerFailed"}, {"message", "No module named 'lightgbm'"}}});
  }
  StatusOr<json> ListWorkRequestLogs(const std::string&) override {
    return json::array({{{"message", "Accepted."}}, {{"message", "Instance 1 of 1 failed its health check."}}});
  }

 private:
  std::shared_ptr<World> w_;
};

struct Fixture {
  std::shared_ptr<World> world = std::make_shared<World>();
  std::shared_ptr<FakeClock> clock = std::make_shared<FakeClock>();
  std::shared_ptr<DeploymentTarget> target;
  fs::path dir;

  Fixture() {
    dir = fs::temp_directory_path() / ("oci_client_test_" + std::to_string(::getpid()) + "_" +
                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir / "model");
    std::ofstream(dir / "model" / "MLmodel") << "flavors: {python_function: {}}\n";
    OciClientOptions o;
    o.target = OciTarget{"us-ashburn-1", ""};
    o.clock = clock;
    o.work_dir = (dir / "work").string();
    auto w = world;
    o.services = [w](const OciTarget&, const OciConfig&) -> StatusOr<OciServices> {
      OciServices s;
      s.ds = std::make_shared<FakeDataScience>(w);
      s.region = "us-ashburn-1";
      s.tenancy = "ocid1.tenancy.oc1..aaaatenancy";
      return s;
    };
    target = MakeOciClient(o);
  }
  ~Fixture() { fs::remove_all(dir); }

  DeployRequest Request(const std::string& name, const std::string& model_uri, json config = json::object()) {
    DeployRequest r{name, "", model_uri};
    r.model_dir = (dir / "model").string();
    json base = {{"compartment_id", kCompartment}, {"project_id", kProject},   {"runtime", "conda"},
                 {"conda_pack", "oci://b@ns/p"},   {"python_version", "3.11"}, {"poll_interval_seconds", "1"}};
    for (const auto& [k, v] : config.items()) base[k] = v;
    r.config = base;
    return r;
  }
};

TEST(OciClientTest, CreateGetListUpdateDelete) {
  Fixture f;
  StatusOr<json> made = f.target->CreateDeployment(f.Request("churn", "models:/churn/3"));
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_EQ((*made)["name"], "churn");
  EXPECT_EQ((*made)["state"], "ACTIVE");
  EXPECT_EQ((*made)["runtime"], "conda");
  ASSERT_EQ(f.world->models.size(), 1u);
  const json model = f.world->models.begin()->second;
  EXPECT_EQ(model["displayName"], "churn-v3");
  EXPECT_EQ(model["freeformTags"]["managed-by"], "mlflow-bridge");
  for (const auto& entry : fs::directory_iterator(f.dir / "work"))  // the artifact zip is removed once uploaded
    EXPECT_NE(entry.path().extension(), ".zip") << entry.path();

  StatusOr<json> got = f.target->GetDeployment("churn", "");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ((*got)["id"], (*made)["id"]);
  StatusOr<json> listed = f.target->ListDeployments("");
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 1u);

  // A new model: one PUT, the old model deleted, the conda pack from the deployment's tags.
  DeployRequest update{"churn", "", "models:/churn/4"};
  update.model_dir = (f.dir / "model").string();
  update.config = {{"poll_interval_seconds", "1"}};
  StatusOr<json> updated = f.target->UpdateDeployment(update);
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_EQ((*updated)["model_uri"], "models:/churn/4");
  EXPECT_NE((*updated)["model_id"], model["id"]);
  EXPECT_EQ(f.world->models.size(), 1u);
  EXPECT_EQ(f.world->models.begin()->second["displayName"], "churn-v4");

  ASSERT_TRUE(f.target->DeleteDeployment("churn", "", json::object()).ok());
  EXPECT_TRUE(f.world->deployments.empty());
  EXPECT_TRUE(f.world->models.empty());
}

// Every call of a create, failing in turn, leaves the service as it was; likewise every call of an update
// that swaps the model leaves the deployment as it was and no new model.
TEST(OciClientTest, EveryFailingStepLeavesNothingBehind) {
  std::vector<std::string> calls;
  {
    Fixture f;
    ASSERT_TRUE(f.target->CreateDeployment(f.Request("churn", "models:/churn/3")).ok());
    calls = f.world->calls;
  }
  ASSERT_GT(calls.size(), 5u);
  std::map<std::string, int> seen;
  for (const std::string& call : calls) {
    const int nth = ++seen[call];
    SCOPED_TRACE(call + " #" + std::to_string(nth));
    Fixture f;
    f.world->Fail(call, nth);
    StatusOr<json> failed = f.target->CreateDeployment(f.Request("churn", "models:/churn/3"));
    ASSERT_FALSE(failed.ok());
    EXPECT_THAT(failed.status().message(), HasSubstr("injected failure"));
    EXPECT_THAT(failed.status().message(), Not(HasSubstr("could not undo")));
    EXPECT_EQ(f.world->State(), (World{}.State()));
  }

  {
    std::vector<std::string> update_calls;
    std::map<std::string, int> counted;
    auto run = [&](Fixture& f) {
      DeployRequest update{"churn", "", "models:/churn/4"};
      update.model_dir = (f.dir / "model").string();
      update.config = {{"poll_interval_seconds", "1"}, {"instance_count", "2"}};
      return f.target->UpdateDeployment(update);
    };
    {
      Fixture f;
      ASSERT_TRUE(f.target->CreateDeployment(f.Request("churn", "models:/churn/3")).ok());
      f.world->calls.clear();
      f.world->seen.clear();
      ASSERT_TRUE(run(f).ok());
      update_calls = f.world->calls;
    }
    for (const std::string& call : update_calls) {
      const int nth = ++counted[call];
      // The old model's deletion comes after the deployment runs the new one: its failure is a warning.
      if (call == "GetModel" || call == "DeleteModel") continue;
      SCOPED_TRACE("update: " + call + " #" + std::to_string(nth));
      Fixture f;
      ASSERT_TRUE(f.target->CreateDeployment(f.Request("churn", "models:/churn/3")).ok());
      const json before = f.world->State();
      f.world->seen.clear();
      f.world->Fail(call, nth);
      StatusOr<json> failed = run(f);
      ASSERT_FALSE(failed.ok());
      EXPECT_THAT(failed.status().message(), HasSubstr("injected failure"));
      EXPECT_EQ(f.world->State(), before);
      EXPECT_EQ(f.world->models.size(), 1u);  // the new model is gone
    }
  }
}

TEST(OciClientTest, TheModelAndTheNetworkChangeInSeparatePuts) {
  Fixture f;
  ASSERT_TRUE(f.target->CreateDeployment(f.Request("churn", "models:/churn/3")).ok());
  auto puts = [&f] { return std::count(f.world->calls.begin(), f.world->calls.end(), "UpdateModelDeployment"); };
  DeployRequest update{"churn", "", "models:/churn/4"};
  update.model_dir = (f.dir / "model").string();
  update.config = {{"poll_interval_seconds", "1"}, {"bandwidth_mbps", "20"}, {"instance_count", "2"}};
  StatusOr<json> both = f.target->UpdateDeployment(update);
  ASSERT_TRUE(both.ok()) << both.status().ToString();
  EXPECT_EQ(puts(), 2);  // the model and instance count, then the bandwidth
  EXPECT_EQ((*both)["bandwidth_mbps"], 20);
  EXPECT_EQ((*both)["instance_count"], 2);
  EXPECT_EQ((*both)["model_uri"], "models:/churn/4");

  DeployRequest same{"churn", "", ""};
  same.config = {{"poll_interval_seconds", "1"}, {"bandwidth_mbps", "20"}, {"shape", "VM.Standard.E4.Flex"}};
  ASSERT_TRUE(f.target->UpdateDeployment(same).ok());
  EXPECT_EQ(puts(), 2);  // nothing changed: no PUT
  same.config["instance_count"] = "3";
  ASSERT_TRUE(f.target->UpdateDeployment(same).ok());
  EXPECT_EQ(puts(), 3);
}

TEST(OciClientTest, AFailedWorkRequestSaysWhyAndLeavesNothing) {
  for (const char* end : {"FAILED", "NEEDS_ATTENTION"}) {
    SCOPED_TRACE(end);
    Fixture f;
    f.world->create_ends_in = end;
    StatusOr<json> failed = f.target->CreateDeployment(f.Request("churn", "models:/churn/3"));
    ASSERT_FALSE(failed.ok());
    EXPECT_THAT(failed.status().message(), HasSubstr("No module named 'lightgbm'"));
    EXPECT_THAT(failed.status().message(), HasSubstr("failed its health check"));
    EXPECT_THAT(failed.status().message(), HasSubstr("Nothing was left behind"));
    EXPECT_TRUE(f.world->deployments.empty());
    EXPECT_TRUE(f.world->models.empty());
  }
}

TEST(OciClientTest, ACreatePastItsTimeoutIsDeletedOnceOciLetsIt) {
  Fixture f;
  f.world->polls = 50;  // 50 polls at 1 s: longer than the 10 s timeout
  StatusOr<json> failed = f.target->CreateDeployment(f.Request("churn", "models:/churn/3", {{"timeout_seconds", "10"}}));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_THAT(failed.status().message(), HasSubstr("did not finish within 10 s"));
  EXPECT_THAT(failed.status().message(), HasSubstr("Nothing was left behind"));
  EXPECT_TRUE(f.world->deployments.empty());
  EXPECT_TRUE(f.world->models.empty());
}

TEST(OciClientTest, AsynchronousCreateReturnsAtOnceAndActivationToggles) {
  Fixture f;
  StatusOr<json> made = f.target->CreateDeployment(f.Request("churn", "models:/churn/3", {{"synchronous", "false"}}));
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_EQ((*made)["state"], "CREATING");
  EXPECT_EQ(f.world->calls.back(), "CreateModelDeployment");
  ASSERT_TRUE(f.target->GetDeployment("churn", "").ok());  // a poll: it is ACTIVE now
  DeployRequest off{"churn", "", ""};
  off.config = {{"active", "false"}, {"poll_interval_seconds", "1"}};
  StatusOr<json> inactive = f.target->UpdateDeployment(off);
  ASSERT_TRUE(inactive.ok()) << inactive.status().ToString();
  EXPECT_EQ((*inactive)["state"], "INACTIVE");
  StatusOr<std::vector<std::string>> refused = f.target->Predict("churn", "", {"{}"}, "application/json");
  EXPECT_EQ(refused.status().code(), StatusCode::kTemporarilyUnavailable);
  EXPECT_THAT(refused.status().message(), HasSubstr("active=true"));
}

TEST(OciClientTest, WhatOthersMadeIsLeftAlone) {
  Fixture f;
  json theirs = {{"id", "ocid1.datasciencemodeldeployment.oc1.iad.theirs"},
                 {"displayName", "churn"},
                 {"compartmentId", kCompartment},
                 {"lifecycleState", "ACTIVE"},
                 {"freeformTags", json::object()},
                 {"modelDeploymentConfigurationDetails", {{"modelConfigurationDetails", {{"modelId", "m"}}}}}};
  f.world->deployments[theirs["id"]] = theirs;
  StatusOr<json> listed = f.target->ListDeployments("");
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty());
  Status by_id = f.target->DeleteDeployment(theirs["id"], "", {{"compartment_id", kCompartment}});
  EXPECT_EQ(by_id.code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(by_id.message(), HasSubstr("not made by mlflow-bridge"));
  EXPECT_EQ(f.target->GetDeployment("churn", "").status().code(), StatusCode::kResourceDoesNotExist);
  EXPECT_EQ(f.world->deployments.size(), 1u);
  // Ours of the same name goes beside it.
  ASSERT_TRUE(f.target->CreateDeployment(f.Request("churn", "models:/churn/3")).ok());
  EXPECT_EQ(f.world->deployments.size(), 2u);
}

}  // namespace
}  // namespace mlflow_bridge::internal
