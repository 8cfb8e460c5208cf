// Model images without a docker daemon: an OCI image made of a base image, a
// layer with the native model server, a layer with the model's Python dependencies
// (installed by pip for the base image's Python and platform) and a layer with the
// model, pushed with our own OCI Distribution client. Layers are reproducible: the same model gives the
// same digests, and a registry that has a layer already gets no bytes of it.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/config.h"
#include "mlflow_bridge/http.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge {

// The base image for a model that does not say its Python: Docker Hub's official Python image (Debian,
// glibc 2.41). A model that says it (python_env.yaml, conda.yaml) gets docker.io/library/python:<X.Y>-slim.
inline constexpr char kDefaultBaseImage[] = "docker.io/library/python:3.11-slim";
// Where the image keeps the model, its dependencies and the model server.
inline constexpr char kImageModelPath[] = "/opt/ml/model";
inline constexpr char kImageSitePath[] = "/opt/mlflow-bridge/site";
inline constexpr char kImageServerPath[] = "/opt/mlflow-bridge";
// The files of the native model server (decision 0009), in ImageBuilderOptions::serve_dir and in the image.
inline constexpr char kServerBinary[] = "mlflow-bridge-serve";
inline constexpr char kServerWorker[] = "serve_worker.py";

struct ImageBuildRequest {
  std::string model_dir;                             // the downloaded model (MLmodel at its root)
  std::string model_uri;                             // as the user gave it (a label)
  std::string run_id;                                // from the MLmodel file (a label); may be empty
  std::string python;                                // the interpreter whose pip resolves the dependencies
  std::string mlflow_version;                        // pinned into requirements that lack mlflow (the server needs it)
  nlohmann::json config = nlohmann::json::object();  // keys: ImageBuilder::Schema()
};

// A registry login that only another platform's code can get (ECR: a 12-hour password from the AWS API; ACR: a
// refresh token for an Entra ID identity), fetched again before it expires. All but `describe` are secrets.
struct RegistryLogin {
  std::string username, password;
  std::string identity_token;  // an OAuth2 refresh token for the registry's token service (instead of a password)
  std::optional<std::chrono::system_clock::time_point> expires_at;  // none: does not expire
};
struct RegistryLoginSource {
  std::string describe;                            // for messages: "ECR GetAuthorizationToken (...)"
  std::function<StatusOr<RegistryLogin>()> fetch;  // called when a login is needed and again near its expiry
};
// Makes the source of ECR logins for `registry` (<account>.dkr.ecr.<region>.amazonaws.com) from the build
// config's ecr_region and aws_profile. The image code does not speak AWS: the targets wire this in
// (WithRegistryLogins in mlflow_bridge/targets.h).
using EcrLoginFactory =
    std::function<StatusOr<RegistryLoginSource>(const std::string& registry, const std::string& region,
                                                const std::string& aws_profile, std::shared_ptr<HttpTransport> transport)>;

// Makes the source of ACR logins for `registry` (<name>.azurecr.io) with an Entra ID identity; `plain_http`:
// the registry is reached over http:// (tests). Wired in by the targets, like ECR's.
using AcrLoginFactory = std::function<StatusOr<RegistryLoginSource>(const std::string& registry, bool plain_http,
                                                                    std::shared_ptr<HttpTransport> transport)>;

struct ImageBuilderOptions {
  std::string work_dir;               // layers and the dependency cache live here (required)
  std::shared_ptr<Clock> clock;       // null: the system clock
  std::function<bool()> interrupted;  // polled during pip; true stops the build
  // Null: libcurl with the config's TLS settings. Tests inject a mock.
  std::shared_ptr<HttpTransport> transport;
  // registry_auth=ecr (and ECR hosts with registry_auth=auto); null: refused with a clear error.
  EcrLoginFactory ecr_login;
  // registry_auth=acr; null: refused with a clear error.
  AcrLoginFactory acr_login;
  // The native model server to put in the image (DeploymentTargetOptions::serve_dir); empty: none.
  std::string serve_dir;
};

class ImageBuilder {
 public:
  static StatusOr<std::shared_ptr<ImageBuilder>> Make(ImageBuilderOptions options);

  // Builds the image and pushes it to config["image"]. Returns
  // {"image": "<registry>/<repo>@sha256:...", "tag": ..., "digest": ..., "layers": [...],
  //  "uploaded_bytes": N, "build_seconds": s, "push_seconds": s}. The manifest goes up last: on any failure nothing
  // is tagged, and the error says what failed.
  StatusOr<nlohmann::json> BuildAndPush(const ImageBuildRequest& request);

  static const ConfigSchema& Schema();
  static std::string Help();

  struct Impl;

 private:
  explicit ImageBuilder(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

// What a deployment target needs for `registry=`: the model's own image,
// built and pushed, pinned by digest. The builder is made at the first build
// and shared by the target's calls (thread-safe).
class DeploymentImages {
 public:
  explicit DeploymentImages(ImageBuilderOptions options) : options_(std::move(options)) {}
  // Pushes to `registry` (<registry>/<repository>[:tag]; the tag defaults to the
  // deployment's name) and returns <registry>/<repository>@sha256:... . request.config
  // holds further builder keys (credentials, base image, ...); its "image" is set here.
  StatusOr<std::string> Build(const std::string& registry, const std::string& deployment, ImageBuildRequest request);

 private:
  ImageBuilderOptions options_;
  std::mutex mu_;
  std::shared_ptr<ImageBuilder> builder_;
};

}  // namespace mlflow_bridge
