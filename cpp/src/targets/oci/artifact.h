// The model artifact of an oci-endpoints deployment (docs/decisions/0010, "Artifact"): a zip with the MLflow
// model's files at its root (what the service mounts at /opt/ds/model/deployed_model) and, for the conda
// runtime, runtime.yaml (which conda pack runs it) and score.py (mlflow-bridge's, answering as MLflow's scoring
// server does, or the user's score_code).
#pragma once

#include <string>

#include "common/archive.h"
#include "mlflow_bridge/status.h"
#include "targets/oci/config.h"

namespace mlflow_bridge::internal {

// runtime.yaml for `config`'s conda pack: MODEL_ARTIFACT_VERSION 3.0 and the four INFERENCE_* keys (the
// Python version quoted, so that 3.10 stays 3.10; INFERENCE_ENV_TYPE data_science for a pack of the service's
// bucket, else published).
std::string OciRuntimeYaml(const OciConfig& config);

// mlflow-bridge's score.py (python/mlflow_bridge/oci_score.py, compiled in).
const std::string& OciScorePy();

// Writes the artifact of `model_dir` for `config` to `out_zip` (its folder must exist). INVALID_PARAMETER_VALUE
// when score_code is not a readable file.
StatusOr<TarResult> WriteOciArtifact(const std::string& model_dir, const OciConfig& config, const std::string& out_zip);

}  // namespace mlflow_bridge::internal
