// ImageBuilder's checks before any registry call; the build and push itself is
// tested end to end against Debian's docker-registry (tests/python/test_image.py).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

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
    transport_ = std::make_shared<MockTransport>();
    ImageBuilderOptions o;
    o.work_dir = (root_ / "work").string();
    o.transport = transport_;
    auto made = ImageBuilder::Make(o);
    ASSERT_TRUE(made.ok());
    builder_ = *made;
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
