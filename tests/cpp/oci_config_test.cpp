// The oci-endpoints config (targets/oci/config.h): -C keys and oci-mlflow's deploy-config-file (kind: deployment).
#include "targets/oci/config.h"

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace mlflow_bridge::internal {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

constexpr char kCompartment[] = "ocid1.compartment.oc1..aaaaaaaacomp";
constexpr char kProject[] = "ocid1.datascienceproject.oc1.iad.aaaaaaaaproj";

class OciConfigTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& text) {
    std::filesystem::path p = dir_ / "deployment.yaml";
    std::ofstream(p) << text;
    return p.string();
  }
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("oci_config_test_" + std::to_string(::getpid()) + "_" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    ::unsetenv("NB_SESSION_COMPARTMENT_OCID");
    ::unsetenv("PROJECT_OCID");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

std::string Error(const json& given) {
  StatusOr<OciConfig> c = ParseOciConfig(given);
  EXPECT_FALSE(c.ok());
  if (!c.ok()) EXPECT_EQ(c.status().code(), StatusCode::kInvalidParameterValue) << c.status().ToString();
  return c.ok() ? "" : c.status().message();
}

// oci-mlflow's container template (demos/deploy_mlflow_model/container-runtime), every key.
constexpr char kContainerTemplate[] = R"(kind: deployment
spec:
  infrastructure:
    kind: infrastructure
    type: modelDeployment
    spec:
      logGroupId: ocid1.loggroup.oc1.iad..aaaagroup
      logId: ocid1.log.oc1.iad..aaaalog
      projectId: ocid1.datascienceproject.oc1.iad.aaaaaaaaproj
      compartmentId: ocid1.compartment.oc1..aaaaaaaacomp
      shapeName: VM.Standard.E3.Flex
      shapeConfigDetails:
        memoryInGBs: 32
        ocpus: 4
      blockStorageSize: 50
      replica: 1
  runtime:
    kind: runtime
    type: container
    spec:
      image: iad.ocir.io/tenancy/mlflow-model-runtime/sklearn:v1
      serverPort: 5001
      healthCheckPort: 5001
)";

TEST_F(OciConfigTest, Defaults) {
  StatusOr<OciConfig> c = ParseOciConfig(json::object());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->shape, "VM.Standard.E4.Flex");
  EXPECT_FALSE(c->ocpus.has_value());
  EXPECT_EQ(c->instance_count, 1);
  EXPECT_EQ(c->bandwidth_mbps, 10);
  EXPECT_EQ(c->runtime, "");  // create asks for one; get, list and delete need none
  EXPECT_EQ(c->port, 8080);
  EXPECT_TRUE(c->synchronous);
  EXPECT_EQ(c->auth, "auto");
  EXPECT_FALSE(c->active.has_value());
  EXPECT_TRUE(c->given.empty());
}

TEST_F(OciConfigTest, TheContainerTemplateOfOciMlflow) {
  StatusOr<OciConfig> c = ParseOciConfig({{"deploy-config-file", Write(kContainerTemplate)}});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->compartment_id, kCompartment);
  EXPECT_EQ(c->project_id, kProject);
  EXPECT_EQ(c->shape, "VM.Standard.E3.Flex");
  EXPECT_EQ(c->ocpus, 4);
  EXPECT_EQ(c->memory_gb, 32);
  EXPECT_EQ(c->instance_count, 1);
  // One log for both, as ADS sends logGroupId/logId.
  EXPECT_EQ(c->access_log.log_id, "ocid1.log.oc1.iad..aaaalog");
  EXPECT_EQ(c->predict_log.log_group_id, "ocid1.loggroup.oc1.iad..aaaagroup");
  EXPECT_EQ(c->runtime, "container");
  EXPECT_EQ(c->image, "iad.ocir.io/tenancy/mlflow-model-runtime/sklearn:v1");
  EXPECT_EQ(c->port, 5001);
}

TEST_F(OciConfigTest, TheCondaTemplatesOfOciMlflow) {
  std::string conda = R"(kind: deployment
spec:
  infrastructure:
    kind: infrastructure
    spec:
      compartmentId: ocid1.compartment.oc1..aaaaaaaacomp
      projectId: ocid1.datascienceproject.oc1.iad.aaaaaaaaproj
      bandwidthMbps: 20
      accessLog: {logGroupId: ocid1.loggroup.oc1..g1, logId: ocid1.log.oc1..a1}
      predictLog: {logGroupId: ocid1.loggroup.oc1..g1, logId: ocid1.log.oc1..p1}
      webConcurrency: 2
  runtime:
    kind: runtime
    type: conda
    spec:
      uri: oci://bucket@namespace/path/to/conda
      pythonVersion: 3.9.15
      env: {OMP_NUM_THREADS: 1}
)";
  StatusOr<OciConfig> c = ParseOciConfig({{"deploy-config-file", Write(conda)}});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->runtime, "conda");
  EXPECT_EQ(c->conda_pack, "oci://bucket@namespace/path/to/conda");
  EXPECT_EQ(c->python_version, "3.9.15");
  EXPECT_EQ(c->bandwidth_mbps, 20);
  EXPECT_EQ(c->access_log.log_id, "ocid1.log.oc1..a1");
  EXPECT_EQ(c->predict_log.log_id, "ocid1.log.oc1..p1");
  EXPECT_EQ(c->web_concurrency, 2);
  EXPECT_EQ(c->env, (json{{"OMP_NUM_THREADS", "1"}}));
  EXPECT_TRUE(c->given.count("conda_pack"));

  // The build-a-pack form needs conda: refused with what to do instead.
  std::string build = R"(kind: deployment
spec:
  runtime:
    type: conda
    spec:
      uri: {name: elasticnet_v1, destination: "oci://bucket@namespace/mlflow-conda-envs/", gpu: false}
)";
  EXPECT_THAT(Error({{"deploy-config-file", Write(build)}}), HasSubstr("odsc conda publish"));
}

TEST_F(OciConfigTest, CommandLineKeysWinOverTheFile) {
  StatusOr<OciConfig> c = ParseOciConfig({{"deploy-config-file", Write(kContainerTemplate)},
                                          {"instance_count", "3"},
                                          {"image", ""},
                                          {"registry", "iad.ocir.io/ns/churn"},
                                          {"port", "8080"}});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->instance_count, 3);
  EXPECT_EQ(c->image, "");
  EXPECT_EQ(c->registry, "iad.ocir.io/ns/churn");
  EXPECT_EQ(c->port, 8080);
}

TEST_F(OciConfigTest, WhatTheFileGetsWrongIsNamed) {
  EXPECT_THAT(Error({{"deploy-config-file", Write("kind: job\nspec: {}\n")}}), HasSubstr("kind: deployment"));
  std::string typo = R"(kind: deployment
spec:
  infrastructure:
    spec:
      bandWidthMbps: 20
)";
  std::string message = Error({{"deploy-config-file", Write(typo)}});
  EXPECT_THAT(message, HasSubstr("Unknown key 'spec.infrastructure.spec.bandWidthMbps'"));
  EXPECT_THAT(message, HasSubstr("bandwidthMbps"));  // the valid ones are listed
  EXPECT_THAT(Error({{"deploy-config-file", Write("kind: deployment\nspec:\n  runtime:\n    spec: {port: 1}\n")}}),
              HasSubstr("'spec.runtime.spec.port'"));
  EXPECT_THAT(Error({{"deploy-config-file", Write("kind: deployment\nspec:\n  infrastructure:\n    type: job\n")}}),
              HasSubstr("spec.infrastructure.type"));
  // YAML reads an unquoted 3.10 as 3.1 (oci-mlflow then writes 3.1 into runtime.yaml).
  std::string unquoted =
      "kind: deployment\nspec:\n  runtime:\n    type: conda\n    spec:\n      uri: oci://b@n/p\n"
      "      pythonVersion: 3.10\n";
  EXPECT_THAT(Error({{"deploy-config-file", Write(unquoted)}}), HasSubstr("pythonVersion: \"3.10\""));
  EXPECT_EQ(ParseOciConfig({{"deploy-config-file", "/no/such/file.yaml"}}).status().code(),
            StatusCode::kResourceDoesNotExist);
}

TEST_F(OciConfigTest, RuntimesNeedWhatTheyRun) {
  EXPECT_EQ(ParseOciConfig({{"registry", "iad.ocir.io/ns/churn"}})->runtime, "container");
  EXPECT_EQ(ParseOciConfig({{"conda_slug", "generalml_p311_cpu_x86_64_v1"}})->runtime, "conda");
  EXPECT_THAT(Error({{"runtime", "container"}}), HasSubstr("either registry"));
  EXPECT_THAT(Error({{"runtime", "container"}, {"registry", "r/x"}, {"image", "r/y"}}), HasSubstr("not both"));
  EXPECT_THAT(Error({{"runtime", "conda"}, {"image", "r/y"}}), HasSubstr("runtime container"));
  EXPECT_THAT(Error({{"conda_pack", "oci://b@n/p"}}), HasSubstr("'python_version'"));
  EXPECT_THAT(Error({{"conda_pack", "s3://b/p"}, {"python_version", "3.11"}}), HasSubstr("oci://"));
  EXPECT_THAT(Error({{"runtime", "kubernetes"}}), HasSubstr("runtime"));
  EXPECT_THAT(Error({{"registry", "r/x"}, {"port", "8446"}}), HasSubstr("8446"));
  EXPECT_THAT(Error({{"registry", "r/x"}, {"cmd", "serve"}}), HasSubstr("list of strings"));
  StatusOr<OciConfig> c = ParseOciConfig({{"image", "r/y"}, {"cmd", "[\"serve\", \"--port\", \"8080\"]"}});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->cmd, (std::vector<std::string>{"serve", "--port", "8080"}));
}

TEST_F(OciConfigTest, ValuesAreChecked) {
  EXPECT_THAT(Error({{"compartment_id", "my-compartment"}}), HasSubstr("ocid1.compartment"));
  EXPECT_TRUE(ParseOciConfig({{"compartment_id", "ocid1.tenancy.oc1..aaaa"}}).ok());  // the root compartment
  EXPECT_THAT(Error({{"project_id", kCompartment}}), HasSubstr("ocid1.datascienceproject"));
  EXPECT_THAT(Error({{"shape", "VM.Standard2.1"}, {"ocpus", "2"}}), HasSubstr("fixed size"));
  EXPECT_THAT(Error({{"log_id", "ocid1.log.oc1..a"}}), HasSubstr("go together"));
  EXPECT_THAT(Error({{"env", json{{"1BAD", "x"}}}}), HasSubstr("'1BAD'"));
  EXPECT_THAT(Error({{"env", json{{"BIG", std::string(2100, 'x')}}}}), HasSubstr("2048"));
  EXPECT_THAT(Error({{"instance_count", "0"}}), HasSubstr("instance_count"));
  std::string unknown = Error({{"shape_name", "x"}});
  EXPECT_THAT(unknown, HasSubstr("shape_name"));
  EXPECT_THAT(unknown, HasSubstr("compartment_id"));  // the valid keys are listed
}

TEST_F(OciConfigTest, ANotebookSessionsCompartmentAndProject) {
  ::setenv("NB_SESSION_COMPARTMENT_OCID", kCompartment, 1);
  ::setenv("PROJECT_OCID", kProject, 1);
  StatusOr<OciConfig> c = ParseOciConfig(json::object());
  ::unsetenv("NB_SESSION_COMPARTMENT_OCID");
  ::unsetenv("PROJECT_OCID");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->compartment_id, kCompartment);
  EXPECT_EQ(c->project_id, kProject);
}

TEST_F(OciConfigTest, HelpListsEveryKey) {
  std::string help = DescribeConfig(OciConfigSchema());
  for (const char* key : {"deploy-config-file", "compartment_id", "runtime", "conda_pack", "registry", "active", "auth"})
    EXPECT_THAT(help, HasSubstr(key));
}

}  // namespace
}  // namespace mlflow_bridge::internal
