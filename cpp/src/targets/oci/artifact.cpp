#include "targets/oci/artifact.h"

#include <filesystem>
#include <fstream>
#include <system_error>

#include <yaml-cpp/yaml.h>

namespace mlflow_bridge::internal {
namespace {

namespace fs = std::filesystem;

// The service's own packs live in this bucket, under service_pack/ (ADS's rule for INFERENCE_ENV_TYPE).
bool ServicePack(const std::string& uri) {
  return uri.rfind("oci://service-conda-packs@", 0) == 0 && uri.find("/service_pack/") != std::string::npos;
}

Status WriteText(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  if (!out) return InternalError("Could not write " + path.string() + ".");
  return OkStatus();
}

}  // namespace

std::string OciRuntimeYaml(const OciConfig& config) {
  YAML::Emitter out;
  out << YAML::BeginMap << YAML::Key << "MODEL_ARTIFACT_VERSION" << YAML::Value << YAML::SingleQuoted << "3.0";
  out << YAML::Key << "MODEL_DEPLOYMENT" << YAML::Value << YAML::BeginMap << YAML::Key << "INFERENCE_CONDA_ENV"
      << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "INFERENCE_ENV_PATH" << YAML::Value << config.conda_pack;
  out << YAML::Key << "INFERENCE_ENV_SLUG" << YAML::Value << config.conda_slug;
  out << YAML::Key << "INFERENCE_ENV_TYPE" << YAML::Value << (ServicePack(config.conda_pack) ? "data_science" : "published");
  out << YAML::Key << "INFERENCE_PYTHON_VERSION" << YAML::Value << YAML::SingleQuoted << config.python_version;
  out << YAML::EndMap << YAML::EndMap << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

StatusOr<TarResult> WriteOciArtifact(const std::string& model_dir, const OciConfig& config, const std::string& out_zip) {
  const fs::path staging = out_zip + ".d";
  std::error_code ec;
  fs::remove_all(staging, ec);
  fs::create_directories(staging, ec);
  if (!ec) fs::copy(model_dir, staging, fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
  if (ec) return InternalError("Could not stage the model artifact in " + staging.string() + ": " + ec.message());
  Status written;
  if (config.runtime == "conda") {
    written = WriteText(staging / "runtime.yaml", OciRuntimeYaml(config));
    if (written.ok() && config.score_code.empty()) {
      written = WriteText(staging / "score.py", OciScorePy());
    } else if (written.ok()) {
      fs::copy_file(config.score_code, staging / "score.py", fs::copy_options::overwrite_existing, ec);
      if (ec)
        written = InvalidParameterError("Config key 'score_code' names '" + config.score_code +
                                        "', which could not be read: " + ec.message() + ". Give the path of a score.py.");
    }
  }
  StatusOr<TarResult> zip = written.ok() ? WriteZip(staging.string(), out_zip, 315532800) : StatusOr<TarResult>(written);
  fs::remove_all(staging, ec);
  return zip;
}

}  // namespace mlflow_bridge::internal
