// The Kubernetes deployment core's orchestration (KubernetesClient, with the kyma and aks route strategies)
// over an in-memory API (mock_kube.h): every call of a create and of an update is made to fail in turn;
// what the call made is undone, a deployment updated in place gets its previous spec back, what
// mlflow-bridge did not make is not touched, and the error names the step.
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mlflow_bridge/kubernetes_client.h"
#include "mock_kube.h"
#include "targets/aks/route.h"
#include "targets/kyma/route.h"
#include "test_support.h"

namespace mlflow_bridge {
namespace {

using nlohmann::json;
using testing::FakeClock;
using ::testing::HasSubstr;
using testing::KubeWorld;
using testing::MockKubeApi;
using ::testing::Not;

using internal::AksRouteStrategy;
using internal::KymaRouteStrategy;
using Flavor = const internal::KubeRouteStrategy*;  // kyma or aks
const Flavor kKyma = &KymaRouteStrategy(), kAks = &AksRouteStrategy();

std::string Name(Flavor f) { return f->Target(); }

// What is left to compare of the objects: not what the mock's controllers and versions change. With
// `deployment_only`, the model annotations of the other objects are left out too: a failed update restores
// the Deployment (its pod template is what serves), while its Service and route keep the (same) spec they
// were applied with, annotated with the new model.
std::map<std::string, json> Stripped(std::map<std::string, json> objects, bool deployment_only = false) {
  for (auto& [key, o] : objects) {
    o.erase("status");
    o["metadata"].erase("resourceVersion");
    o["metadata"].erase("generation");
    if (!o["metadata"].contains("annotations")) continue;
    json& a = o["metadata"]["annotations"];
    a.erase("deployment.kubernetes.io/revision");
    if (deployment_only && key != "Deployment team/churn") {
      a.erase("mlflow-bridge/model-uri");
      a.erase("mlflow-bridge/run-id");
    }
  }
  return objects;
}

// "" when `a` and `b` hold the same objects, else which differ.
std::string Diff(const std::map<std::string, json>& a, const std::map<std::string, json>& b) {
  std::string out;
  for (const auto& [key, o] : a)
    if (!b.count(key) || b.at(key) != o)
      out += key + (b.count(key) ? " differs: " + o.dump() + " vs " + b.at(key).dump() : " added") + "; ";
  for (const auto& [key, o] : b)
    if (!a.count(key)) out += key + " gone; ";
  return out;
}

class KubernetesClientTest : public ::testing::Test {
 protected:
  // A cluster with the namespace, Kyma's shoot-info and a Deployment and Service mlflow-bridge did not make.
  void Seed() {
    world_ = std::make_shared<KubeWorld>();
    world_->Put({{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "team"}}}});
    world_->Put({{"apiVersion", "v1"},
                 {"kind", "ConfigMap"},
                 {"metadata", {{"name", "shoot-info"}, {"namespace", "kube-system"}}},
                 {"data", {{"domain", "c-1.kyma.example.com"}}}});
    world_->Put({{"apiVersion", "apps/v1"},
                 {"kind", "Deployment"},
                 {"metadata", {{"name", "other"}, {"labels", {{"app", "other"}}}}},
                 {"spec", {{"replicas", 2}}}});
    world_->Put({{"apiVersion", "v1"}, {"kind", "Service"}, {"metadata", {{"name", "legacy"}}}, {"spec", json::object()}});
  }

  std::shared_ptr<KubernetesClient> Client(Flavor flavor) {
    KubeClientOptionsPublic o;
    o.clock = clock_;
    o.image_work_dir = ::testing::TempDir() + "/kubernetes-client-test-image";
    o.kube_api = [w = world_](const std::string&, const std::string&) -> StatusOr<std::shared_ptr<internal::KubeApi>> {
      return std::shared_ptr<internal::KubeApi>(std::make_shared<MockKubeApi>(w));
    };
    auto c = KubernetesClient::Make(*flavor, o);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return *c;
  }

  static DeployRequest Request(const std::string& image, const std::string& endpoint = "") {
    DeployRequest r;
    r.name = "churn";
    r.model_uri = "models:/churn/" + image.substr(image.rfind(':') + 1);
    r.run_id = "run1";
    r.endpoint = endpoint;
    r.config = {{"image", image}};
    if (!endpoint.empty()) r.config["create_endpoint"] = true;
    return r;
  }

  const json* Find(const std::string& key) const {
    auto it = world_->objects.find(key);
    return it == world_->objects.end() ? nullptr : &it->second;
  }

  // Runs `op` once to record its calls, then again for each call with that call failing (`setup` makes the
  // world each run starts from) and hands each outcome to `check`.
  void EveryStepFailing(const std::function<void()>& setup, const std::function<StatusOr<json>()>& op,
                        const std::function<void(const std::string& step, const StatusOr<json>&)>& check) {
    setup();
    auto ok = op();
    ASSERT_TRUE(ok.ok()) << ok.status().ToString();
    const std::vector<std::string> steps = world_->calls;
    ASSERT_FALSE(steps.empty());
    std::map<std::string, int> seen;
    for (const std::string& step : steps) {
      const int nth = ++seen[step];
      SCOPED_TRACE(step + " (call " + std::to_string(nth) + ")");
      setup();
      world_->Fail(step, nth);
      check(step, op());
    }
  }

  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
  std::shared_ptr<KubeWorld> world_;
};

TEST_F(KubernetesClientTest, CreateAppliesOurObjectsAndLeavesOthersAlone) {
  for (Flavor flavor : {kKyma, kAks}) {
    SCOPED_TRACE(Name(flavor));
    Seed();
    const auto before = world_->objects;
    auto out = Client(flavor)->CreateDeployment(Request("registry.example.com/churn:1"));
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    EXPECT_EQ((*out)["name"], "churn");
    EXPECT_EQ((*out)["status"], "Available");
    for (const char* key : {"Deployment team/churn", "Service team/churn"}) {
      ASSERT_NE(Find(key), nullptr) << key;
      EXPECT_EQ(Find(key)->value("/metadata/labels/app.kubernetes.io~1managed-by"_json_pointer, ""), "mlflow-bridge");
    }
    ASSERT_NE(Find(flavor == kKyma ? "APIRule team/churn" : "Ingress team/churn"), nullptr);
    if (flavor == kKyma) EXPECT_EQ((*out)["url"], "https://churn.c-1.kyma.example.com");
    for (const auto& [key, o] : before) EXPECT_EQ(world_->objects.at(key), o) << key;
  }
}

// Each call of a create made to fail: the error names it, and what the create made is gone.
TEST_F(KubernetesClientTest, EveryStepOfCreateFailingLeavesNothing) {
  for (const std::string endpoint : {"", "ep"}) {
    for (Flavor flavor : {kKyma, kAks}) {
      SCOPED_TRACE(std::string(Name(flavor)) + (endpoint.empty() ? "" : " with a new endpoint"));
      std::map<std::string, json> before;
      int failed = 0, applies = 0;
      EveryStepFailing(
          [&] {
            Seed();
            before = world_->objects;
          },
          [&] { return Client(flavor)->CreateDeployment(Request("registry.example.com/churn:1", endpoint)); },
          [&](const std::string& step, const StatusOr<json>& out) {
            if (step.rfind("apply ", 0) == 0) {
              ++applies;
              EXPECT_FALSE(out.ok());  // nothing is made without its apply
            }
            if (out.ok()) {  // a step the create does without (a watch, a route's URL for the reply)
              ASSERT_NE(Find("Deployment team/churn"), nullptr);
              return;
            }
            ++failed;
            EXPECT_THAT(out.status().message(), HasSubstr(step + ": injected failure"));
            if (out.status().message().find("Creating ") != std::string::npos)
              EXPECT_THAT(out.status().message(), HasSubstr("failed; what it created was deleted"));
            EXPECT_EQ(Diff(world_->objects, before), "");  // all made is gone; the others are as they were
          });
      EXPECT_GE(applies, endpoint.empty() ? 3 : 4);
      EXPECT_GT(failed, applies);
    }
  }
}

// Each call of an update made to fail: the error names it, the Deployment has its previous spec back and
// nothing else changed.
TEST_F(KubernetesClientTest, EveryStepOfUpdateFailingRestoresThePreviousSpec) {
  for (const std::string endpoint : {"", "ep"}) {
    for (Flavor flavor : {kKyma, kAks}) {
      SCOPED_TRACE(std::string(Name(flavor)) + (endpoint.empty() ? "" : " in an endpoint"));
      std::map<std::string, json> before;
      int restored = 0;
      EveryStepFailing(
          [&] {
            Seed();
            auto made = Client(flavor)->CreateDeployment(Request("registry.example.com/churn:1", endpoint));
            ASSERT_TRUE(made.ok()) << made.status().ToString();
            before = Stripped(world_->objects, true);
            world_->calls.clear();
          },
          [&] {
            DeployRequest r = Request("registry.example.com/churn:2", endpoint);
            r.config.erase("create_endpoint");
            return Client(flavor)->UpdateDeployment(r);
          },
          [&](const std::string& step, const StatusOr<json>& out) {
            if (out.ok()) {
              EXPECT_EQ(Find("Deployment team/churn")->value("/spec/template/spec/containers/0/image"_json_pointer, ""),
                        "registry.example.com/churn:2");
              return;
            }
            EXPECT_THAT(out.status().message(), HasSubstr(step + ": injected failure"));
            if (out.status().message().find("Updating ") != std::string::npos) {
              ++restored;
              EXPECT_THAT(out.status().message(),
                          HasSubstr("failed; the previous revision (1) was restored and serves again. Cause: "));
            }
            EXPECT_EQ(Diff(Stripped(world_->objects, true), before), "");
          });
      EXPECT_GE(restored, 3);
    }
  }
}

TEST_F(KubernetesClientTest, ARolloutThatDoesNotBecomeAvailable) {
  for (Flavor flavor : {kKyma, kAks}) {
    SCOPED_TRACE(Name(flavor));
    Seed();
    const auto seeded = world_->objects;
    world_->failing_images.insert("registry.example.com/churn:bad");
    auto created = Client(flavor)->CreateDeployment(Request("registry.example.com/churn:bad"));
    ASSERT_FALSE(created.ok());
    EXPECT_THAT(created.status().message(), HasSubstr("did not become available: ReplicaSet has timed out progressing"));
    EXPECT_THAT(created.status().message(), HasSubstr("what it created was deleted"));
    EXPECT_EQ(Diff(world_->objects, seeded), "");

    ASSERT_TRUE(Client(flavor)->CreateDeployment(Request("registry.example.com/churn:1")).ok());
    const auto before = Stripped(world_->objects, true);
    auto updated = Client(flavor)->UpdateDeployment(Request("registry.example.com/churn:bad"));
    ASSERT_FALSE(updated.ok());
    EXPECT_THAT(updated.status().message(), HasSubstr("the previous revision (1) was restored and serves again"));
    EXPECT_THAT(updated.status().message(), HasSubstr("ReplicaSet has timed out progressing"));
    EXPECT_EQ(Diff(Stripped(world_->objects, true), before), "");
  }
}

TEST_F(KubernetesClientTest, WhatCouldNotBeUndoneIsInTheError) {
  Seed();
  world_->Fail("apply APIRule team/churn");
  world_->Fail("delete Service team/churn", 0);
  auto out = Client(kKyma)->CreateDeployment(Request("registry.example.com/churn:1"));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(out.status().message(), HasSubstr("apply APIRule team/churn: injected failure"));
  EXPECT_THAT(out.status().message(), Not(HasSubstr("what it created was deleted")));
  EXPECT_THAT(out.status().message(),
              HasSubstr("could not undo: delete Service team/churn (PERMISSION_DENIED: delete Service team/churn: "
                        "injected failure)"));
  EXPECT_NE(Find("Service team/churn"), nullptr);     // could not be deleted
  EXPECT_EQ(Find("Deployment team/churn"), nullptr);  // the rest was undone, newest first
  std::vector<std::string> deletes;
  for (const auto& c : world_->calls)
    if (c.rfind("delete ", 0) == 0) deletes.push_back(c);
  EXPECT_EQ(deletes, (std::vector<std::string>{"delete APIRule team/churn", "delete Deployment team/churn",
                                               "delete Service team/churn"}));
}

TEST_F(KubernetesClientTest, WhatIsNotOursIsNotTouched) {
  for (Flavor flavor : {kKyma, kAks}) {
    SCOPED_TRACE(Name(flavor));
    // A Deployment of the same name someone else made: no update, no rollback, no change.
    Seed();
    world_->Put({{"apiVersion", "apps/v1"},
                 {"kind", "Deployment"},
                 {"metadata", {{"name", "churn"}, {"labels", {{"app", "churn"}}}}},
                 {"spec", {{"replicas", 1}}}});
    const auto before = world_->objects;
    auto updated = Client(flavor)->UpdateDeployment(Request("registry.example.com/churn:2"));
    ASSERT_FALSE(updated.ok());
    EXPECT_EQ(updated.status().code(), StatusCode::kPermissionDenied);
    EXPECT_THAT(updated.status().message(), HasSubstr("was not made by mlflow-bridge; it is left alone"));
    EXPECT_EQ(world_->objects, before);
    for (const auto& c : world_->calls) EXPECT_THAT(c, Not(HasSubstr("apply"))) << c;

    // A Service that was there before a failed create is not deleted with what the create made.
    Seed();
    world_->Put({{"apiVersion", "v1"}, {"kind", "Service"}, {"metadata", {{"name", "churn"}}}, {"spec", json::object()}});
    world_->Fail("apply Deployment team/churn");
    auto created = Client(flavor)->CreateDeployment(Request("registry.example.com/churn:1"));
    ASSERT_FALSE(created.ok());
    EXPECT_NE(Find("Service team/churn"), nullptr);
    for (const auto& c : world_->calls) EXPECT_NE(c, "delete Service team/churn");
  }
}

}  // namespace
}  // namespace mlflow_bridge
