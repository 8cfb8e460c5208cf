// The oci-endpoints model artifact (targets/oci/artifact.h) and target URI (targets/oci/client.h).
#include "targets/oci/artifact.h"

#include <archive.h>
#include <archive_entry.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "targets/oci/client.h"

namespace mlflow_bridge::internal {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// name -> content of every file in a zip.
std::map<std::string, std::string> ReadZip(const std::string& path) {
  std::map<std::string, std::string> files;
  archive* a = archive_read_new();
  archive_read_support_format_zip(a);
  EXPECT_EQ(archive_read_open_filename(a, path.c_str(), 1 << 16), ARCHIVE_OK);
  archive_entry* e;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    std::string content(static_cast<size_t>(archive_entry_size(e)), '\0');
    if (!content.empty()) archive_read_data(a, content.data(), content.size());
    files[archive_entry_pathname(e)] = content;
  }
  archive_read_free(a);
  return files;
}

class OciArtifactTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("oci_artifact_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_ / "model" / "data");
    std::ofstream(dir_ / "model" / "MLmodel") << "flavors: {}\n";
    std::ofstream(dir_ / "model" / "data" / "model.pkl") << "weights";
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(OciArtifactTest, CondaArtifactHasTheModelAtItsRootWithRuntimeYamlAndScorePy) {
  OciConfig config;
  config.runtime = "conda";
  config.conda_pack = "oci://packs@ns/cpu/mlflow/1.0/mlflow_v1_0";
  config.python_version = "3.10";
  const std::string zip = (dir_ / "a.zip").string();
  StatusOr<TarResult> written = WriteOciArtifact((dir_ / "model").string(), config, zip);
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  auto files = ReadZip(zip);
  std::vector<std::string> names;
  for (const auto& [name, content] : files) names.push_back(name);
  EXPECT_THAT(names, ElementsAre("MLmodel", "data/", "data/model.pkl", "runtime.yaml", "score.py"));
  EXPECT_EQ(files["score.py"], OciScorePy());
  EXPECT_THAT(OciScorePy(), HasSubstr("def predict(data, model=load_model()):"));
  YAML::Node runtime = YAML::Load(files["runtime.yaml"]);
  EXPECT_EQ(runtime["MODEL_ARTIFACT_VERSION"].as<std::string>(), "3.0");
  YAML::Node env = runtime["MODEL_DEPLOYMENT"]["INFERENCE_CONDA_ENV"];
  EXPECT_EQ(env["INFERENCE_ENV_PATH"].as<std::string>(), config.conda_pack);
  EXPECT_EQ(env["INFERENCE_ENV_TYPE"].as<std::string>(), "published");
  EXPECT_EQ(env["INFERENCE_PYTHON_VERSION"].as<std::string>(), "3.10");  // quoted: not the float 3.1
  EXPECT_THAT(files["runtime.yaml"], HasSubstr("INFERENCE_PYTHON_VERSION: '3.10'"));
  EXPECT_FALSE(fs::exists(zip + ".d"));  // the staging folder is gone

  config.conda_pack = "oci://service-conda-packs@id19sfcrra6z/service_pack/cpu/General_Machine_Learning/1.0/gml_v1";
  config.conda_slug = "generalml_p311_cpu_x86_64_v1";
  YAML::Node service = YAML::Load(OciRuntimeYaml(config))["MODEL_DEPLOYMENT"]["INFERENCE_CONDA_ENV"];
  EXPECT_EQ(service["INFERENCE_ENV_TYPE"].as<std::string>(), "data_science");
  EXPECT_EQ(service["INFERENCE_ENV_SLUG"].as<std::string>(), config.conda_slug);
}

TEST_F(OciArtifactTest, ContainerArtifactIsTheModelOnlyAndScoreCodeReplacesOurs) {
  OciConfig config;
  config.runtime = "container";
  const std::string zip = (dir_ / "c.zip").string();
  ASSERT_TRUE(WriteOciArtifact((dir_ / "model").string(), config, zip).ok());
  EXPECT_EQ(ReadZip(zip).count("score.py"), 0u);
  EXPECT_EQ(ReadZip(zip).count("runtime.yaml"), 0u);

  config.runtime = "conda";
  config.conda_pack = "oci://b@n/p";
  config.python_version = "3.11";
  std::ofstream(dir_ / "mine.py") << "def load_model(): pass\n";
  config.score_code = (dir_ / "mine.py").string();
  ASSERT_TRUE(WriteOciArtifact((dir_ / "model").string(), config, zip).ok());
  EXPECT_EQ(ReadZip(zip)["score.py"], "def load_model(): pass\n");

  config.score_code = (dir_ / "missing.py").string();
  StatusOr<TarResult> missing = WriteOciArtifact((dir_ / "model").string(), config, zip);
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_THAT(missing.status().message(), HasSubstr("score_code"));
}

TEST(OciTargetUriTest, RegionAndCompartment) {
  StatusOr<OciTarget> bare = ParseOciTargetUri("oci-endpoints");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->region, "");
  StatusOr<OciTarget> region = ParseOciTargetUri("oci-endpoints:/us-ashburn-1");
  ASSERT_TRUE(region.ok());
  EXPECT_EQ(region->region, "us-ashburn-1");
  EXPECT_EQ(region->compartment_id, "");
  StatusOr<OciTarget> both = ParseOciTargetUri("oci-endpoints:/eu-frankfurt-1/ocid1.compartment.oc1..aaaa");
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->region, "eu-frankfurt-1");
  EXPECT_EQ(both->compartment_id, "ocid1.compartment.oc1..aaaa");
  for (const char* bad : {"oci-endpoints:/US_EAST", "oci-endpoints:/us-ashburn-1/not-an-ocid", "oci:/us-ashburn-1",
                          "oci-endpoints:/us-ashburn-1/ocid1.compartment.oc1..a/extra"}) {
    StatusOr<OciTarget> parsed = ParseOciTargetUri(bad);
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidParameterValue) << bad;
    EXPECT_THAT(parsed.status().message(), HasSubstr("oci-endpoints:/<region>")) << bad;
  }
}

}  // namespace
}  // namespace mlflow_bridge::internal
