// MakeDeploymentTarget: target URIs, help, and what a target without MLflow endpoints answers.
#include <filesystem>
#include <string>

#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mlflow_bridge/deployment_target.h"

namespace mlflow_bridge {
namespace {

using ::testing::HasSubstr;

// A fresh mlflow-bridge home, removed at exit.
std::string Home() {
  static const struct TempHome {
    std::filesystem::path dir =
        std::filesystem::temp_directory_path() / ("mlflow-bridge-target-test-" + std::to_string(::getpid()));
    TempHome() { std::filesystem::create_directories(dir); }
    ~TempHome() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } home;
  return home.dir.string();
}

TEST(DeploymentTargetTest, KnowsItsTargets) {
  EXPECT_EQ(DeploymentTargetNames(),
            (std::vector<std::string>{"local", "sagemaker-endpoints", "kyma", "aks", "azureml-endpoints", "oci-endpoints"}));
  for (const auto& name : DeploymentTargetNames()) {
    auto help = DeploymentTargetHelp(name);
    ASSERT_TRUE(help.ok()) << name;
    EXPECT_FALSE(help->empty());
  }
  auto unknown = MakeDeploymentTarget("nope", "nope");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_EQ(DeploymentTargetHelp("nope").status().code(), StatusCode::kInvalidParameterValue);
}

TEST(DeploymentTargetTest, MalformedUrisSayTheRightForm) {
  struct Case {
    std::string name, uri, form;
  };
  for (const Case& c :
       {Case{"local", "local:/x", "the local target's URI is just 'local'"},
        Case{"kyma", "kyma:/a/b", "use kyma or kyma:/<namespace>"},
        Case{"kyma", "kyma://host/ns", "use kyma or kyma:/<namespace>"},
        Case{"aks", "kyma:/ns", "use aks or aks:/<namespace>"},
        Case{"sagemaker-endpoints", "sagemaker-endpoints://host/eu-west-1",
             "use sagemaker-endpoints:/<region>[/<assume-role-arn>]"},
        Case{"sagemaker-endpoints", "sagemaker:/eu-west-1", "use sagemaker-endpoints:/<region>[/<assume-role-arn>]"},
        Case{"oci-endpoints", "oci-endpoints:/Ashburn", "use oci-endpoints:/<region>[/<compartment OCID>]"}}) {
    auto t = MakeDeploymentTarget(c.name, c.uri, {Home(), nullptr});
    ASSERT_FALSE(t.ok()) << c.uri;
    EXPECT_EQ(t.status().code(), StatusCode::kInvalidParameterValue) << c.uri;
    EXPECT_THAT(t.status().message(), HasSubstr("Invalid target URI '" + c.uri + "'")) << c.uri;
    EXPECT_THAT(t.status().message(), HasSubstr(c.form)) << c.uri;
  }
}

TEST(DeploymentTargetTest, LocalHasNoEndpoints) {
  auto t = MakeDeploymentTarget("local", "local", {Home(), nullptr});
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  DeploymentTarget& local = **t;
  EXPECT_FALSE(local.SupportsEndpoints());
  EXPECT_EQ(local.MaxPayloadBytes(), 0u);
  DeployRequest r;
  r.name = "churn";
  r.endpoint = "shop";
  r.model_uri = "models:/churn/1";
  EXPECT_THAT(local.CheckCreate(r).message(), HasSubstr("The local target has no endpoints"));
  EXPECT_THAT(local.ListDeployments("shop").status().message(), HasSubstr("has no endpoints"));
  EXPECT_EQ(local.CreateEndpoint("shop", nlohmann::json::object()).status().code(), StatusCode::kInvalidParameterValue);
  r.endpoint.clear();
  r.model_uri.clear();
  EXPECT_EQ(local.CheckCreate(r).message(), "create_deployment needs a model URI.");
  EXPECT_EQ(local.DeleteDeployment("churn", "", {{"b", 1}, {"a", 2}}).message(),
            "delete_deployment on the local target takes no config; got ['a', 'b'].");
  EXPECT_EQ(local.Predict("", "", {"{}"}, "application/json").status().message(), "predict needs a deployment name.");
  auto listed = local.ListDeployments("");
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_TRUE(listed->empty());
}

TEST(DeploymentTargetTest, KubernetesNeedsModelFilesOnlyToBuild) {
  for (const char* name : {"kyma", "aks"}) {
    auto t = MakeDeploymentTarget(name, std::string(name) + ":/team", {Home(), nullptr});
    ASSERT_TRUE(t.ok()) << t.status().ToString();  // the kubeconfig is read at the first call, not here
    EXPECT_TRUE((*t)->SupportsEndpoints());
    // Inputs over the gateway's limit are split by rows: Kyma's Istio gateway 5 MiB, the Ingress's proxy-body-size.
    EXPECT_EQ((*t)->MaxPayloadBytes(), std::string(name) == "kyma" ? 5u << 20 : 100u << 20);
    EXPECT_FALSE((*t)->NeedsModelFiles("models:/m/1", nlohmann::json::object()));
    EXPECT_FALSE((*t)->NeedsModelFiles("models:/m/1", {{"registry", ""}}));
    EXPECT_TRUE((*t)->NeedsModelFiles("models:/m/1", {{"registry", "127.0.0.1:5000/churn"}}));
    DeployRequest r;
    r.name = "churn";
    EXPECT_THAT((*t)->CheckUpdate(r).message(),
                HasSubstr(std::string("update_deployment on ") + name + " needs a model URI"));
  }
}

}  // namespace
}  // namespace mlflow_bridge
