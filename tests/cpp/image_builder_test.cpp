// ImageBuilder's checks before any registry call; the build and push itself is
// tested end to end against Debian's docker-registry (tests/python/test_image.py).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "image/build_config.h"
#include "mlflow_bridge/image.h"
#include "mock_transport.h"

namespace fs = std::filesystem;

namespace mlflow_bridge {
namespace {

class ImageBuilderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "mlflow-bridge-image-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    fs::create_directories(root_ / "model");
    std::ofstream(root_ / "model" / "MLmodel") << "flavors: {python_function: {}}\n";
    fs::create_directories(root_ / "serve");
    std::ofstream(root_ / "serve" / kServerBinary) << "#!/bin/sh\n";
    std::ofstream(root_ / "serve" / kServerWorker) << "print()\n";
    transport_ = std::make_shared<MockTransport>();
    builder_ = MakeBuilder((root_ / "serve").string());
  }
  std::shared_ptr<ImageBuilder> MakeBuilder(const std::string& serve_dir) {
    ImageBuilderOptions o;
    o.work_dir = (root_ / "work").string();
    o.transport = transport_;
    o.serve_dir = serve_dir;
    auto made = ImageBuilder::Make(o);
    EXPECT_TRUE(made.ok());
    return made.ok() ? *made : nullptr;
  }
  void TearDown() override { fs::remove_all(root_); }

  Status Build(nlohmann::json config, std::string model_dir = "") {
    ImageBuildRequest r;
    r.model_dir = model_dir.empty() ? (root_ / "model").string() : model_dir;
    r.model_uri = "models:/m/1";
    r.python = "python3";
    r.config = std::move(config);
    return builder_->BuildAndPush(r).status();
  }

  fs::path root_;
  std::shared_ptr<MockTransport> transport_;
  std::shared_ptr<ImageBuilder> builder_;
};

TEST_F(ImageBuilderTest, BadInputIsRefusedBeforeAnyCall) {
  struct Case {
    nlohmann::json config;
    std::string words;
  } cases[] = {
      {nlohmann::json::object(), "--image"},
      {{{"image", "Bad Reference"}}, "image"},
      {{{"image", "127.0.0.1:5000/m@sha256:" + std::string(64, 'a')}}, "give a tag instead"},
      {{{"image", "127.0.0.1:5000/m:1"}, {"platform", "windows/amd64"}}, "linux/amd64 and linux/arm64"},
      {{{"image", "127.0.0.1:5000/m:1"}, {"platform", "linux/arm/v7"}}, "linux/amd64 and linux/arm64"},
      {{{"image", "127.0.0.1:5000/m:1"}, {"base_image", "lib/UPPER"}}, "base_image"},
      {{{"image", "127.0.0.1:5000/m:1"}, {"port", 0}}, "port"},
      {{{"image", "127.0.0.1:5000/m:1"}, {"colour", "red"}}, "colour"},
      {{{"image", "127.0.0.1:5000/m:1"}, {"registry_auth", "basic"}}, "username"},
      {{{"image", "127.0.0.1:5000/m:1"}, {"registry_auth", "kerberos"}}, "registry_auth"},
  };
  for (const auto& c : cases) {
    Status s = Build(c.config);
    EXPECT_EQ(s.code(), StatusCode::kInvalidParameterValue) << c.config.dump() << ": " << s.message();
    EXPECT_NE(s.message().find(c.words), std::string::npos) << c.config.dump() << ": " << s.message();
  }
  Status s = Build({{"image", "127.0.0.1:5000/m:1"}}, (root_ / "not-a-model").string());
  EXPECT_EQ(s.code(), StatusCode::kInvalidParameterValue);
  EXPECT_NE(s.message().find("no MLmodel"), std::string::npos) << s.message();
  EXPECT_TRUE(transport_->requests().empty());
}

TEST_F(ImageBuilderTest, TheNativeServerNeedsItsFilesBeforeAnyCall) {
  nlohmann::json config = {{"image", "127.0.0.1:5000/m:1"}};
  builder_ = MakeBuilder("");
  Status s = Build(config);
  EXPECT_EQ(s.code(), StatusCode::kInvalidParameterValue);
  EXPECT_NE(s.message().find("has none"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("-C server=mlflow"), std::string::npos) << s.message();
  fs::remove(root_ / "serve" / kServerWorker);
  builder_ = MakeBuilder((root_ / "serve").string());
  s = Build(config);
  EXPECT_EQ(s.code(), StatusCode::kInvalidParameterValue);
  EXPECT_NE(s.message().find((root_ / "serve" / kServerWorker).string() + " is missing"), std::string::npos) << s.message();
  EXPECT_TRUE(transport_->requests().empty());
  // server=mlflow needs none: the build goes on to the registry (here: no answer queued).
  config["server"] = "mlflow";
  s = Build(config);
  EXPECT_FALSE(transport_->requests().empty()) << s.message();
  config["server"] = "nginx";
  EXPECT_NE(Build(config).message().find("native, mlflow"), std::string::npos);
}

TEST(ModelPythonVersionTest, FromPythonEnvThenConda) {
  std::string tmpl = (fs::temp_directory_path() / "mlflow-bridge-python-XXXXXX").string();
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  fs::path dir = tmpl;
  std::string source;
  EXPECT_EQ(internal::ModelPythonVersion(dir.string(), &source), "");
  std::ofstream(dir / "conda.yaml") << "channels: [conda-forge]\ndependencies:\n- python-dateutil=2.9\n"
                                    << "- python=3.12.4\n- pip<=24\n- pip:\n  - mlflow==3.1\n";
  EXPECT_EQ(internal::ModelPythonVersion(dir.string(), &source), "3.12");
  EXPECT_EQ(source, "conda.yaml");
  // python: 3.10 is the text "3.10" here, not the YAML number 3.1.
  std::ofstream(dir / "python_env.yaml") << "python: 3.10\nbuild_dependencies:\n- pip==24.0\n";
  EXPECT_EQ(internal::ModelPythonVersion(dir.string(), &source), "3.10");
  EXPECT_EQ(source, "python_env.yaml");
  std::ofstream(dir / "python_env.yaml") << "python: \"3.9.18\"\n";
  EXPECT_EQ(internal::ModelPythonVersion(dir.string()), "3.9");
  fs::remove_all(dir);
}

TEST(ChooseBaseImageTest, TheModelsPythonUnlessConfigured) {
  bool for_python = false;
  EXPECT_EQ(internal::ChooseBaseImage("", "3.10", &for_python), "docker.io/library/python:3.10-slim");
  EXPECT_TRUE(for_python);
  EXPECT_EQ(internal::ChooseBaseImage("", "", &for_python), kDefaultBaseImage);
  EXPECT_FALSE(for_python);
  EXPECT_EQ(internal::ChooseBaseImage("mirror.example.com/python:{python}-slim", "3.12", &for_python),
            "mirror.example.com/python:3.12-slim");
  EXPECT_TRUE(for_python);
  EXPECT_EQ(internal::ChooseBaseImage("mirror.example.com/python:{python}", "", nullptr), "mirror.example.com/python:3.11");
  EXPECT_EQ(internal::ChooseBaseImage("acr.example.com/base:7", "3.12", &for_python), "acr.example.com/base:7");
  EXPECT_FALSE(for_python);
  EXPECT_EQ(internal::PythonMajorMinor("3.11.9"), "3.11");
  EXPECT_EQ(internal::PythonMajorMinor("3.11.*"), "3.11");
  EXPECT_EQ(internal::PythonMajorMinor("three"), "");
  EXPECT_EQ(internal::PythonMajorMinor("3"), "");
}

// The native server's options: one set of keys, as flags for `local` and as the image's environment.
TEST(NativeServerOptionsTest, KeysFlagsAndEnvironment) {
  using nlohmann::json;
  auto parsed =
      ParseConfig(internal::NativeServerSchema(true),
                  json{{"batching", "false"}, {"max_queue", "8"}, {"prediction_log", "-"}, {"prediction_log_rate", "0.5"}});
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  internal::NativeServerOptions o = internal::ReadNativeServerOptions(*parsed);
  using Flags = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(internal::NativeServerFlags(o), (Flags{{"batching", "false"},
                                                   {"max-queue", "8"},
                                                   {"max-body-mb", "64"},
                                                   {"access-log", "-"},
                                                   {"prediction-log", "-"},
                                                   {"prediction-log-rate", "0.5"}}));
  EXPECT_EQ(internal::NativeServerKeys(o)["max_queue"], 8);
  // Without a prediction log its rate is left out; local logs no request by default.
  auto local = ParseConfig(internal::NativeServerSchema(false), json::object());
  ASSERT_TRUE(local.ok());
  EXPECT_EQ(internal::NativeServerFlags(internal::ReadNativeServerOptions(*local)),
            (Flags{{"batching", "auto"}, {"max-queue", "1024"}, {"max-body-mb", "64"}, {"access-log", "off"}}));
  EXPECT_EQ(internal::NativeServerEnvName("prediction-log-rate"), "MLFLOW_BRIDGE_SERVE_PREDICTION_LOG_RATE");
  // Bad values are refused by the schema, naming the key.
  auto bad = ParseConfig(internal::NativeServerSchema(true), json{{"batching", "sometimes"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("batching"), std::string::npos) << bad.status().message();
}

TEST_F(ImageBuilderTest, NeedsAWorkFolder) {
  EXPECT_EQ(ImageBuilder::Make({}).status().code(), StatusCode::kInvalidParameterValue);
}

TEST_F(ImageBuilderTest, HelpListsEveryKey) {
  std::string help = ImageBuilder::Help();
  for (const auto& key : ImageBuilder::Schema()) EXPECT_NE(help.find(key.name), std::string::npos) << key.name;
  EXPECT_NE(help.find(kImageModelPath), std::string::npos);
}

}  // namespace
}  // namespace mlflow_bridge
