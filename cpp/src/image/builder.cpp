#include "mlflow_bridge/image.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "common/archive.h"
#include "common/crypto.h"
#include "common/process.h"
#include "image/build_config.h"
#include "image/reference.h"
#include "image/registry_auth.h"
#include "image/registry_client.h"
#include "mlflow_bridge/logging.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace mlflow_bridge {
namespace {

using internal::ImageReference;
using internal::RegistryClient;
using internal::RegistryCredentials;
using internal::RegistryCredentialsProvider;

constexpr char kOciManifest[] = "application/vnd.oci.image.manifest.v1+json";
constexpr char kOciIndex[] = "application/vnd.oci.image.index.v1+json";
constexpr char kOciConfig[] = "application/vnd.oci.image.config.v1+json";
constexpr char kOciLayer[] = "application/vnd.oci.image.layer.v1.tar+gzip";
constexpr char kDockerManifest[] = "application/vnd.docker.distribution.manifest.v2+json";
constexpr char kDockerList[] = "application/vnd.docker.distribution.manifest.list.v2+json";
constexpr char kDockerConfig[] = "application/vnd.docker.container.image.v1+json";
constexpr char kDockerLayer[] = "application/vnd.docker.image.rootfs.diff.tar.gzip";
constexpr char kEpoch[] = "1970-01-01T00:00:00Z";  // every timestamp in the image: reproducible
// Bump when the dependency layer's recipe changes, so that cached layers are not reused.
constexpr char kDependencyRecipe[] = "pip-target-v1";

struct Platform {
  std::string os, architecture, variant;
  std::string ToString() const { return os + "/" + architecture + (variant.empty() ? "" : "/" + variant); }
  std::string PipMachine() const { return architecture == "amd64" ? "x86_64" : "aarch64"; }
};

StatusOr<Platform> ParsePlatform(const std::string& text) {
  Platform p;
  std::stringstream in(text);
  std::getline(in, p.os, '/');
  std::getline(in, p.architecture, '/');
  std::getline(in, p.variant, '/');
  if (p.os != "linux" || (p.architecture != "amd64" && p.architecture != "arm64") ||
      (!p.variant.empty() && !(p.architecture == "arm64" && p.variant == "v8"))) {
    return InvalidParameterError("Unsupported platform '" + text +
                                 "': images can be built for linux/amd64 and linux/arm64 (the platforms Python wheels "
                                 "exist for). Set -C platform=linux/amd64 or linux/arm64.");
  }
  if (p.architecture == "arm64") p.variant = "v8";
  return p;
}

bool Matches(const json& platform, const Platform& want) {
  if (platform.value("os", "") != want.os || platform.value("architecture", "") != want.architecture) return false;
  std::string variant = platform.value("variant", "");
  return variant.empty() || want.variant.empty() || variant == want.variant;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// "3.11.9" -> "3.11"; empty when it is not a version.
std::string MajorMinor(const std::string& version) { return internal::PythonMajorMinor(version); }

std::string EnvValue(const json& config, const std::string& name) {
  for (const auto& kv : config.value("/config/Env"_json_pointer, json::array())) {
    std::string s = kv.get<std::string>();
    if (s.rfind(name + "=", 0) == 0) return s.substr(name.size() + 1);
  }
  return "";
}

// The command the image runs. Arguments a platform adds (SageMaker runs the image with "serve") are
// accepted and ignored.
// - native: mlflow-bridge-serve on `port`, its Python workers run by the image's python3 (with the
//   dependencies the image carries on PYTHONPATH).
// - mlflow: MLflow's scoring server under uvicorn, on $MLFLOW_BRIDGE_PORT.
json Entrypoint(const std::string& server, int port) {
  if (server == "mlflow") {
    static const std::string code =
        "import os, sys; os.execv(sys.executable, [sys.executable, '-m', 'uvicorn', '--host', '0.0.0.0', '--port', "
        "os.environ.get('MLFLOW_BRIDGE_PORT', '8080'), '--workers', os.environ.get('MLFLOW_MODELS_WORKERS', '1'), "
        "'mlflow.pyfunc.scoring_server.app:app'])";
    return json::array({"python3", "-c", code});
  }
  return json::array({std::string(kImageServerPath) + "/" + kServerBinary, "--model", kImageModelPath, "--host", "0.0.0.0",
                      "--port", std::to_string(port), "--python", "python3"});
}

// What pip's log says went wrong, for a person: the requirement that has no wheel for the image's Python
// and platform (and the versions that do), versions that need another Python, or a conflict. "" when the
// log says none of these.
std::string PipFailure(const std::string& log) {
  std::stringstream lines(log);
  std::string what, requires_python, conflict;
  bool in_conflict = false;
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    constexpr std::string_view kNoVersion = "Could not find a version that satisfies the requirement ";
    constexpr std::string_view kOtherPython = "Ignored the following versions that require a different python version: ";
    if (size_t at = line.find(kNoVersion); at != std::string::npos && what.empty()) {
      std::string rest = line.substr(at + kNoVersion.size());  // "docopt==0.6.2 (from versions: none)"
      std::string versions;
      if (size_t v = rest.rfind(" (from versions: "); v != std::string::npos) {
        versions = rest.substr(v + 17);
        if (!versions.empty() && versions.back() == ')') versions.pop_back();
        rest = rest.substr(0, v);
      }
      std::string needed_by;
      if (size_t f = rest.find(" (from "); f != std::string::npos && rest.back() == ')') {
        needed_by = rest.substr(f + 7, rest.size() - f - 8);
        rest = rest.substr(0, f);
      }
      what =
          "the requirement '" + rest + "'" + (needed_by.empty() ? "" : " (needed by " + needed_by + ")") +
          " has no wheel for it" +
          (versions.empty() || versions == "none" ? " in any version" : " (the versions that have one: " + versions + ")");
    } else if (size_t o = line.find(kOtherPython); o != std::string::npos) {
      requires_python = line.substr(o + kOtherPython.size());
    } else if (line.find("conflicting dependencies") != std::string::npos) {
      conflict = line.substr(line.find("ERROR: ") == 0 ? 7 : 0);
      in_conflict = true;
    } else if (in_conflict && line.rfind("    ", 0) == 0) {
      conflict += "\n" + line;
    } else if (in_conflict && !line.empty() && line.find("The conflict is caused by") == std::string::npos) {
      in_conflict = false;
    }
  }
  std::string out = what;
  if (!requires_python.empty()) {
    out += std::string(out.empty() ? "" : "; ") + "versions that need another Python were left out: " + requires_python;
  }
  if (!conflict.empty()) out += std::string(out.empty() ? "" : "; ") + conflict;
  return out;
}

// Registries to speak plain HTTP to, as docker's daemon setting "insecure-registries":
// MLFLOW_BRIDGE_INSECURE_REGISTRIES=host:port,host2.
bool InsecureByEnvironment(const std::string& registry) {
  const char* env = std::getenv("MLFLOW_BRIDGE_INSECURE_REGISTRIES");
  if (env == nullptr) return false;
  std::stringstream list(env);
  for (std::string host; std::getline(list, host, ',');) {
    if (!host.empty() && host == registry) return true;
  }
  return false;
}

// Removes its folder when it goes out of scope (a layer's scratch folder, whatever happened).
struct RemovedOnExit {
  fs::path path;
  ~RemovedOnExit() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

struct BuiltLayer {
  std::string path;
  internal::TarResult tar;
  std::string what;  // "dependencies", "model"
};

}  // namespace

struct ImageBuilder::Impl {
  ImageBuilderOptions options;

  struct Build {
    json config;
    internal::ImageBuildConfig section;  // the keys shared with the targets' registry=
    ImageReference target, base;
    Platform platform;
    std::shared_ptr<HttpTransport> transport;
    std::shared_ptr<RegistryClient> to, from;  // `from` is `to` when the base lives in the same registry
    uint64_t uploaded = 0;
  };

  // ------------------------------------------------------------ registries
  StatusOr<std::shared_ptr<RegistryCredentialsProvider>> Credentials(const Build& b, const std::string& registry,
                                                                     bool destination, bool plain_http) {
    const internal::ImageBuildConfig& c = b.section;
    std::string auth = internal::ResolveRegistryAuth(c, registry, "docker-config");
    if (!destination) {
      // The base: the user's own logins (or ECR's, or the Entra identity's for a base in an ACR), never the
      // destination's user and password.
      const bool ecr = auth == "ecr" || (c.registry_auth == "auto" && registry.find(".dkr.ecr.") != std::string::npos);
      auth = ecr ? "ecr" : auth == "acr" && internal::IsAcrHost(registry) ? "acr" : "docker-config";
    }
    if (auth == "anonymous") return internal::MakeAnonymousRegistryCredentials();
    if (auth == "docker-config") return internal::MakeDockerConfigRegistryCredentials();
    if (auth == "basic") {
      RegistryCredentials creds;
      creds.username = c.registry_username;
      creds.password = c.registry_password;
      if (creds.username.empty() || creds.password.empty()) {
        return InvalidParameterError(
            "registry_auth=basic needs -C registry_username=... and -C registry_password=... (an ACR service "
            "principal's app id and secret, or an OCIR '<namespace>/<user>' and auth token).");
      }
      return internal::MakeStaticRegistryCredentials(creds, "username/password of '" + creds.username + "'");
    }
    if (auth == "acr") {
      if (!options.acr_login) return InvalidParameterError("registry_auth=acr: ACR logins are not available here.");
      auto source = options.acr_login(registry, plain_http, b.transport);
      if (!source.ok()) return source.status();
      return internal::MakeRegistryCredentials(std::move(source).value(), options.clock);
    }
    // ecr (ParseConfig let no other value through)
    if (!options.ecr_login) return InvalidParameterError("registry_auth=ecr: ECR logins are not available here.");
    auto source = options.ecr_login(registry, c.ecr_region, c.aws_profile, b.transport);
    if (!source.ok()) return source.status();
    return internal::MakeRegistryCredentials(std::move(source).value(), options.clock);
  }

  StatusOr<std::shared_ptr<RegistryClient>> Client(const Build& b, const std::string& registry, bool destination) {
    internal::RegistryClientOptions o;
    o.transport = b.transport;
    o.insecure =
        (registry == b.target.registry ? b.section.insecure_registry : b.config["insecure_base_registry"].get<bool>()) ||
        InsecureByEnvironment(registry);
    auto creds = Credentials(b, registry, destination, o.insecure);
    if (!creds.ok()) return creds.status();
    o.credentials = *creds;
    o.clock = options.clock;
    o.chunk_size = static_cast<uint64_t>(b.config["chunk_size_mb"].get<int>()) << 20;
    return std::make_shared<RegistryClient>(registry, o);
  }

  // ------------------------------------------------------------ the base
  struct Base {
    json manifest;
    std::string manifest_digest;
    std::string media_type;  // of the manifest: OCI or Docker
    json config;
  };

  StatusOr<Base> ResolveBase(Build& b) {
    const std::string name = b.base.ToString();
    auto top = b.from->GetManifest(b.base.repository, b.base.digest.empty() ? b.base.tag : b.base.digest);
    if (!top.ok()) return top.status().WithContext("Base image " + name);
    Base base;
    base.media_type = top->media_type;
    base.manifest_digest = top->digest;
    std::string body = top->body;
    if (top->media_type == kOciIndex || top->media_type == kDockerList) {
      auto index = json::parse(body, nullptr, false);
      std::string chosen;
      std::vector<std::string> offered;
      for (const auto& m : index.value("manifests", json::array())) {
        json platform = m.value("platform", json::object());
        if (platform.value("architecture", "") == "unknown") continue;  // attestations
        offered.push_back(platform.value("os", "?") + "/" + platform.value("architecture", "?"));
        if (chosen.empty() && Matches(platform, b.platform)) chosen = m.value("digest", "");
      }
      if (chosen.empty()) {
        std::string list;
        for (const auto& o : offered) list += (list.empty() ? "" : ", ") + o;
        return InvalidParameterError("Base image " + name + " has no " + b.platform.ToString() + " image (it has: " + list +
                                     "). Choose another -C platform or -C base_image.");
      }
      auto one = b.from->GetManifest(b.base.repository, chosen);
      if (!one.ok()) return one.status().WithContext("Base image " + name + " (" + b.platform.ToString() + ")");
      base.media_type = one->media_type;
      base.manifest_digest = one->digest;
      body = one->body;
    }
    if (base.media_type != kOciManifest && base.media_type != kDockerManifest) {
      return InvalidParameterError("Base image " + name + " is a '" + base.media_type +
                                   "'; only OCI and Docker schema 2 images can be built on.");
    }
    base.manifest = json::parse(body, nullptr, false);
    if (!base.manifest.is_object()) return InternalError("Base image " + name + ": its manifest is not JSON.");
    auto config = b.from->GetBlob(b.base.repository, base.manifest.value("/config/digest"_json_pointer, ""));
    if (!config.ok()) return config.status().WithContext("Base image " + name + ": its config");
    base.config = json::parse(*config, nullptr, false);
    if (!base.config.is_object()) return InternalError("Base image " + name + ": its config is not JSON.");
    json platform = {{"os", base.config.value("os", "")}, {"architecture", base.config.value("architecture", "")}};
    if (!Matches(platform, b.platform)) {
      return InvalidParameterError("Base image " + name + " is for " + platform["os"].get<std::string>() + "/" +
                                   platform["architecture"].get<std::string>() + ", not " + b.platform.ToString() +
                                   ". Choose another -C platform or -C base_image.");
    }
    return base;
  }

  // ------------------------------------------------------------ layers
  std::string LayerDir() const { return (fs::path(options.work_dir) / "layers").string(); }

  StatusOr<BuiltLayer> ModelLayer(const ImageBuildRequest& request) {
    internal::TarOptions tar;
    tar.prefix = std::string(kImageModelPath).substr(1);
    tar.parent_dirs = true;
    std::string path = LayerDir() + "/model-" + std::to_string(getpid()) + "-" + std::to_string(Counter()) + ".tar.gz";
    auto written = internal::WriteTar(request.model_dir, path, tar);
    if (!written.ok()) return written.status().WithContext("Packing the model layer");
    return BuiltLayer{path, *written, "model"};
  }

  // The native model server's files, checked before anything is built or sent.
  Status CheckServer() const {
    const std::string fix =
        " Reinstall mlflow-bridge from its wheel (which has the server), or set -C server=mlflow to serve the model "
        "with MLflow's scoring server instead.";
    if (options.serve_dir.empty()) {
      return InvalidParameterError("-C server=native (the default) puts mlflow-bridge's model server (" +
                                   std::string(kServerBinary) + ") into the image, but this installation has none." + fix);
    }
    std::error_code ec;
    for (const char* name : {kServerBinary, kServerWorker}) {
      fs::path file = fs::path(options.serve_dir) / name;
      if (!fs::is_regular_file(file, ec)) {
        return InvalidParameterError(
            "-C server=native (the default) puts mlflow-bridge's model server into the "
            "image, but " +
            file.string() + " is missing." + fix);
      }
    }
    return OkStatus();
  }

  // /opt/mlflow-bridge/mlflow-bridge-serve and serve_worker.py. The same files give the same layer.
  StatusOr<BuiltLayer> ServerLayer() {
    const std::string id = std::to_string(getpid()) + "-" + std::to_string(Counter());
    fs::path scratch = fs::path(LayerDir()) / ("server-" + id);
    RemovedOnExit cleanup{scratch};
    std::error_code ec;
    fs::remove_all(scratch, ec);
    fs::create_directories(scratch, ec);
    for (const char* name : {kServerBinary, kServerWorker}) {
      fs::copy_file(fs::path(options.serve_dir) / name, scratch / name, fs::copy_options::overwrite_existing, ec);
      if (ec) return InternalError("Copying " + (fs::path(options.serve_dir) / name).string() + ": " + ec.message());
    }
    // The binary runs; the worker is read by python. WriteTar makes these 0755 and 0644.
    fs::permissions(scratch / kServerBinary,
                    fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec | fs::perms::others_read |
                        fs::perms::others_exec,
                    ec);
    fs::permissions(scratch / kServerWorker,
                    fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read, ec);
    internal::TarOptions tar;
    tar.prefix = std::string(kImageServerPath).substr(1);
    tar.parent_dirs = true;
    std::string path = LayerDir() + "/server-" + id + ".tar.gz";
    auto written = internal::WriteTar(scratch.string(), path, tar);
    if (!written.ok()) return written.status().WithContext("Packing the model server's layer");
    return BuiltLayer{path, *written, "server"};
  }

  static int Counter() {
    static std::atomic<int> n{0};
    return n++;
  }

  // The model's requirements.txt with mlflow in it (the scoring server needs it).
  StatusOr<std::string> Requirements(const ImageBuildRequest& request) {
    fs::path file = fs::path(request.model_dir) / "requirements.txt";
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) {
      return InvalidParameterError(
          "The model has no requirements.txt, so its dependencies cannot be installed into "
          "the image. Log the model with MLflow (which writes it), or set "
          "-C install_dependencies=false if the base image already has them.");
    }
    std::string text = ReadFile(file);
    bool has_mlflow = false;
    std::stringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      std::string name = line.substr(0, line.find_first_of("=<>!~[; "));
      if (name == "mlflow" || name == "mlflow-skinny") has_mlflow = true;
    }
    if (!has_mlflow) {
      if (!text.empty() && text.back() != '\n') text += "\n";
      text += "mlflow" + (request.mlflow_version.empty() ? "" : "==" + request.mlflow_version) + "\n";
    }
    return text;
  }

  // pip installs the requirements for the image's Python and platform (wheels
  // only) into a folder that becomes the layer; cached by what decides its content.
  StatusOr<BuiltLayer> DependencyLayer(const Build& b, const ImageBuildRequest& request, const std::string& python_version) {
    auto requirements = Requirements(request);
    if (!requirements.ok()) return requirements.status();
    int glibc_minor = 0;
    std::string glibc = b.config["glibc"];
    if (glibc.rfind("2.", 0) != 0 || (glibc_minor = std::atoi(glibc.c_str() + 2)) < 17) {
      return InvalidParameterError(
          "Config key 'glibc' must be the base image's glibc version, 2.17 or newer (e.g. 2.28); got '" + glibc + "'.");
    }
    const std::string key = internal::Sha256Digest(std::string(kDependencyRecipe) + "\n" + python_version + "\n" +
                                                   b.platform.ToString() + "\n" + glibc + "\n" + *requirements)
                                .substr(7, 32);
    fs::path cache = fs::path(options.work_dir) / "dependencies";
    fs::path layer = cache / (key + ".tar.gz"), meta = cache / (key + ".json");
    std::error_code ec;
    if (fs::exists(layer, ec) && fs::exists(meta, ec)) {
      auto m = json::parse(ReadFile(meta), nullptr, false);
      if (m.is_object()) {
        LogInfo("Dependency layer: cached (" + key + ")");
        return BuiltLayer{
            layer.string(), {m.value("digest", ""), m.value("diff_id", ""), m.value("size", uint64_t{0})}, "dependencies"};
      }
    }
    fs::create_directories(cache, ec);
    fs::path scratch = cache / (key + ".tmp-" + std::to_string(getpid()));
    fs::remove_all(scratch, ec);
    fs::create_directories(scratch / "site", ec);
    RemovedOnExit cleanup{scratch};
    { std::ofstream(scratch / "requirements.txt") << *requirements; }
    const std::string tag = python_version;  // "3.11"
    std::string abi = "cp" + tag.substr(0, tag.find('.')) + tag.substr(tag.find('.') + 1);
    std::vector<std::string> argv = {request.python,
                                     "-m",
                                     "pip",
                                     "install",
                                     "--quiet",
                                     "--disable-pip-version-check",
                                     "--no-compile",
                                     "--no-warn-script-location",
                                     "--target",
                                     (scratch / "site").string(),
                                     "--only-binary=:all:",
                                     "--implementation",
                                     "cp",
                                     "--python-version",
                                     tag,
                                     "--abi",
                                     abi,
                                     "--abi",
                                     "abi3",
                                     "--abi",
                                     "none"};
    // pip does not widen manylinux_2_X to older ones: name every one the base's glibc runs.
    for (int minor = glibc_minor; minor >= 17; --minor) {
      argv.push_back("--platform");
      argv.push_back("manylinux_2_" + std::to_string(minor) + "_" + b.platform.PipMachine());
    }
    argv.insert(argv.end(),
                {"--platform", "manylinux2014_" + b.platform.PipMachine(), "-r", (scratch / "requirements.txt").string()});
    internal::SpawnSpec spec;
    spec.argv = argv;
    for (char** e = environ; *e; ++e) spec.env.emplace_back(*e);
    spec.log_path = (scratch / "pip.log").string();
    LogInfo("Dependency layer: pip installs the model's requirements for Python " + tag + " on " + b.platform.ToString() +
            " (wheels only)...");
    auto rc = internal::RunForeground(spec, options.interrupted, std::chrono::seconds(5), *options.clock);
    if (!rc.ok()) return rc.status().WithContext("Running pip (" + request.python + ")");
    if (*rc != 0) {
      std::string log = ReadFile(spec.log_path);
      const std::string why = PipFailure(log);
      if (log.size() > 3000) log = "..." + log.substr(log.size() - 3000);
      return InvalidParameterError(
          "The model's requirements cannot be installed for Python " + tag + " on " + b.platform.ToString() +
          (why.empty() ? " (pip exit " + std::to_string(*rc) + ")" : ": " + Redact(why)) +
          ". Nothing was pushed. Only wheels can go into the image (nothing is compiled): pin a version that has a "
          "wheel for Python " +
          tag + " on " + b.platform.ToString() + " (manylinux, glibc up to " + glibc +
          "), raise -C glibc if the base image is newer, build on the Python the requirement needs, or set "
          "-C install_dependencies=false if the base image has them.\npip's log:\n" +
          Redact(log));
    }
    internal::TarOptions tar;
    tar.prefix = std::string(kImageSitePath).substr(1);
    tar.parent_dirs = true;
    fs::path tmp_layer = scratch / "layer.tar.gz";
    auto written = internal::WriteTar((scratch / "site").string(), tmp_layer.string(), tar);
    if (!written.ok()) return written.status().WithContext("Packing the dependency layer");
    fs::rename(tmp_layer, layer, ec);
    if (ec) return InternalError("Cannot keep the dependency layer in " + cache.string() + ": " + ec.message());
    std::ofstream(meta) << json{{"digest", written->digest}, {"diff_id", written->diff_id}, {"size", written->size}}.dump();
    return BuiltLayer{layer.string(), *written, "dependencies"};
  }

  // ------------------------------------------------------------ pushing
  static std::string Mb(uint64_t bytes) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / 1e6);
    return buf;
  }

  internal::BlobProgress Progress(const std::string& what) {
    auto last = std::make_shared<int>(-1);
    return [what, last](uint64_t done, uint64_t total) {
      int pct = total == 0 ? 100 : static_cast<int>(100 * done / total);
      if (pct / 10 == *last / 10 && pct != 100) return;
      *last = pct;
      LogInfo("Pushing " + what + ": " + Mb(done) + " of " + Mb(total) + " (" + std::to_string(pct) + "%)");
    };
  }

  // A layer of the base image into the target repository: already there, mounted
  // from the base's repository (same registry), or copied through a local file.
  Status CopyBaseLayer(Build& b, const json& layer, size_t index, size_t count) {
    const std::string digest = layer.value("digest", "");
    auto has = b.to->HasBlob(b.target.repository, digest);
    if (!has.ok()) return has.status();
    if (*has) return OkStatus();
    if (b.from == b.to) {
      auto mounted = b.to->MountBlob(b.target.repository, digest, b.base.repository);
      if (!mounted.ok()) return mounted.status();
      if (*mounted) return OkStatus();
    }
    fs::path blob = fs::path(options.work_dir) / "blobs" / digest.substr(7);
    std::error_code ec;
    fs::create_directories(blob.parent_path(), ec);
    const uint64_t size = layer.value("size", uint64_t{0});
    const std::string what = "base layer " + std::to_string(index + 1) + "/" + std::to_string(count);
    if (!fs::exists(blob, ec) || fs::file_size(blob, ec) != size) {
      fs::path partial = blob.string() + ".part-" + std::to_string(getpid());
      MLFLOW_BRIDGE_RETURN_IF_ERROR(b.from->DownloadBlob(b.base.repository, digest, partial.string()));
      fs::rename(partial, blob, ec);
    }
    MLFLOW_BRIDGE_RETURN_IF_ERROR(b.to->UploadBlob(b.target.repository, blob.string(), digest, size, Progress(what)));
    b.uploaded += size;
    return OkStatus();
  }

  Status PushLayer(Build& b, const BuiltLayer& layer) {
    auto has = b.to->HasBlob(b.target.repository, layer.tar.digest);
    if (!has.ok()) return has.status();
    if (*has) {
      LogInfo("Layer " + layer.what + " (" + Mb(layer.tar.size) + ") is in the registry already.");
      return OkStatus();
    }
    MLFLOW_BRIDGE_RETURN_IF_ERROR(b.to->UploadBlob(b.target.repository, layer.path, layer.tar.digest, layer.tar.size,
                                                   Progress(layer.what + " layer")));
    b.uploaded += layer.tar.size;
    return OkStatus();
  }

  StatusOr<json> Run(const ImageBuildRequest& request) {
    const auto started = options.clock->Now();
    Build b;
    auto config = ParseConfig(Schema(), request.config);
    if (!config.ok()) return config.status();
    b.config = std::move(*config);
    b.section = internal::ReadImageBuildConfig(b.config);
    if (b.config["image"].get<std::string>().empty()) {
      return InvalidParameterError("Where should the image go? Pass --image / -C image=<registry>/<repository>:<tag>.");
    }
    auto target = internal::ParseImageReference(b.config["image"].get<std::string>());
    if (!target.ok()) return target.status().WithContext("Config key 'image'");
    b.target = *target;
    if (!b.target.digest.empty()) {
      return InvalidParameterError("Config key 'image' names a digest (" + b.target.digest +
                                   "); give a tag instead: the digest is what the push returns.");
    }
    // The image's Python: the model's (python_env.yaml, conda.yaml) unless -C python_version says which the base
    // has. The default base is the official Python image of that version.
    std::string model_python_file;
    const std::string model_python = internal::ModelPythonVersion(request.model_dir, &model_python_file);
    const std::string given_python = MajorMinor(b.config["python_version"].get<std::string>());
    if (given_python.empty() && !b.config["python_version"].get<std::string>().empty()) {
      return InvalidParameterError("Config key 'python_version' must be a Python version such as 3.11; got '" +
                                   b.config["python_version"].get<std::string>() + "'.");
    }
    std::string configured = b.section.base_image;
    if (configured.empty()) {  // the organisation's own default (a mirror), else ours
      const char* env = std::getenv("MLFLOW_BRIDGE_BASE_IMAGE");
      if (env != nullptr) configured = env;
    }
    bool base_for_python = false;
    const std::string base_name =
        internal::ChooseBaseImage(configured, given_python.empty() ? model_python : given_python, &base_for_python);
    auto base = internal::ParseImageReference(base_name);
    if (!base.ok()) return base.status().WithContext("Config key 'base_image'");
    b.base = *base;
    auto platform = ParsePlatform(b.config["platform"]);
    if (!platform.ok()) return platform.status();
    b.platform = *platform;
    std::error_code ec;
    if (!fs::is_regular_file(fs::path(request.model_dir) / "MLmodel", ec)) {
      return InvalidParameterError("'" + request.model_dir + "' is not an MLflow model (no MLmodel file).");
    }
    const std::string server = b.section.server;
    if (server == "native") MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckServer());
    fs::create_directories(LayerDir(), ec);
    if (ec) return InvalidParameterError("Cannot write to " + options.work_dir + ": " + ec.message());

    b.transport = options.transport;
    if (!b.transport) {
      TransportOptions t;
      t.ca_bundle = b.config["ca_bundle"];
      t.total_timeout = std::chrono::minutes(10);  // one chunk of a slow upload
      b.transport = MakeCurlTransport(t);
    }
    auto to = Client(b, b.target.registry, true);
    if (!to.ok()) return to.status();
    b.to = *to;
    if (b.base.registry == b.target.registry) {
      b.from = b.to;
    } else {
      auto from = Client(b, b.base.registry, false);
      if (!from.ok()) return from.status();
      b.from = *from;
    }

    LogInfo("Base image " + b.base.ToString() + " (" + b.platform.ToString() +
            (base_for_python && !model_python.empty() && given_python.empty()
                 ? "; the model's Python " + model_python + ", from its " + model_python_file
                 : "") +
            ")...");
    auto resolved = ResolveBase(b);
    if (!resolved.ok()) {
      if (base_for_python && resolved.status().code() == StatusCode::kResourceDoesNotExist) {
        return resolved.status().WithContext("The base image for Python " +
                                             (given_python.empty() ? model_python : given_python) +
                                             " (set -C base_image to one that has it)");
      }
      return resolved.status();
    }
    const bool docker = resolved->media_type == kDockerManifest;
    // The Python of the base: -C python_version, else its PYTHON_VERSION (the official images set it).
    const std::string base_python =
        given_python.empty() ? MajorMinor(EnvValue(resolved->config, "PYTHON_VERSION")) : given_python;
    if (!model_python.empty() && !base_python.empty() && base_python != model_python) {
      const std::string what = "The model was logged with Python " + model_python + " (its " + model_python_file +
                               ") but the image's Python is " + base_python;
      if (given_python.empty()) {
        return InvalidParameterError(
            what + " (PYTHON_VERSION of base image " + b.base.ToString() +
            "): its pickled objects and pinned requirements may not load there. Leave base_image unset (the "
            "builder then takes docker.io/library/python:" +
            model_python + "-slim), choose a base with Python " + model_python +
            ", or set -C python_version=" + base_python + " to build on this one anyway.");
      }
      LogWarning(what + " (-C python_version): building anyway, as asked; the model may not load there.");
    }

    std::vector<BuiltLayer> layers;
    struct Remove {
      std::vector<BuiltLayer>* layers;
      ~Remove() {
        std::error_code e;
        for (const auto& l : *layers)
          if (l.what != "dependencies") fs::remove(l.path, e);  // the dependency layer is a cache entry
      }
    } remove_model_layer{&layers};
    if (server == "native") {
      auto layer = ServerLayer();
      if (!layer.ok()) return layer.status();
      layers.push_back(*layer);
    }
    if (b.section.install_dependencies) {
      const std::string python_version = base_python;
      if (python_version.empty()) {
        return InvalidParameterError("Cannot tell which Python base image " + b.base.ToString() +
                                     " has (no PYTHON_VERSION in its environment): set -C python_version=" +
                                     (model_python.empty() ? std::string("3.11") : model_python) + ".");
      }
      auto deps = DependencyLayer(b, request, python_version);
      if (!deps.ok()) return deps.status();
      layers.push_back(*deps);
    }
    auto model = ModelLayer(request);
    if (!model.ok()) return model.status();
    layers.push_back(*model);

    // The image config: the base's, with our layers, command, environment and labels.
    json image_config = resolved->config;
    json& run = image_config["config"];
    if (!run.is_object()) run = json::object();
    std::map<std::string, std::string> env;
    std::vector<std::string> order;
    auto set_env = [&](const std::string& k, const std::string& v) {
      if (!env.count(k)) order.push_back(k);
      env[k] = v;
    };
    for (const auto& kv : run.value("Env", json::array())) {
      std::string s = kv.get<std::string>();
      set_env(s.substr(0, s.find('=')), s.substr(s.find('=') == std::string::npos ? s.size() : s.find('=') + 1));
    }
    if (b.section.install_dependencies) {
      std::string path = env.count("PYTHONPATH") && !env["PYTHONPATH"].empty()
                             ? std::string(kImageSitePath) + ":" + env["PYTHONPATH"]
                             : std::string(kImageSitePath);
      set_env("PYTHONPATH", path);
    }
    set_env("__pyfunc_model_path__", std::string("file://") + kImageModelPath);
    set_env("MLFLOW_BRIDGE_PORT", std::to_string(b.config["port"].get<int>()));
    set_env("MLFLOW_DISABLE_ENV_CREATION", "True");
    if (server == "native") {
      for (const auto& [flag, value] : internal::NativeServerFlags(b.section.native)) {
        set_env(internal::NativeServerEnvName(flag), value);
      }
    }
    for (const auto& [k, v] : b.config["env"].items()) set_env(k, v.is_string() ? v.get<std::string>() : v.dump());
    json env_list = json::array();
    for (const auto& k : order) env_list.push_back(k + "=" + env[k]);
    run["Env"] = env_list;
    run["Entrypoint"] = Entrypoint(server, b.config["port"].get<int>());
    run["Cmd"] = json::array({"serve"});
    run["ExposedPorts"] = {{std::to_string(b.config["port"].get<int>()) + "/tcp", json::object()}};
    json labels = run.value("Labels", json::object());
    if (!labels.is_object()) labels = json::object();
    labels["mlflow.model_uri"] = request.model_uri;
    labels["mlflow.run_id"] = request.run_id;
    labels["mlflow-bridge.version"] = MLFLOW_BRIDGE_VERSION;
    labels["mlflow-bridge.server"] = server;
    labels["org.opencontainers.image.base.name"] = b.base.ToString();
    labels["org.opencontainers.image.base.digest"] = resolved->manifest_digest;
    for (const auto& [k, v] : b.config["labels"].items()) labels[k] = v.is_string() ? v.get<std::string>() : v.dump();
    run["Labels"] = labels;
    image_config["created"] = kEpoch;
    json& diff_ids = image_config["rootfs"]["diff_ids"];
    json& history = image_config["history"];
    if (!history.is_array()) history = json::array();
    for (const auto& l : layers) {
      diff_ids.push_back(l.tar.diff_id);
      history.push_back({{"created", kEpoch}, {"created_by", "mlflow-bridge: " + l.what + " layer"}});
    }
    const std::string config_bytes = image_config.dump();
    const std::string config_digest = internal::Sha256Digest(config_bytes);

    json manifest = {
        {"schemaVersion", 2},
        {"mediaType", docker ? kDockerManifest : kOciManifest},
        {"config",
         {{"mediaType", docker ? kDockerConfig : kOciConfig}, {"digest", config_digest}, {"size", config_bytes.size()}}}};
    json layer_list = resolved->manifest.value("layers", json::array());
    const size_t base_count = layer_list.size();
    for (const auto& l : layers) {
      layer_list.push_back(
          {{"mediaType", docker ? kDockerLayer : kOciLayer}, {"digest", l.tar.digest}, {"size", l.tar.size}});
    }
    manifest["layers"] = layer_list;
    if (!docker) {
      manifest["annotations"] = {{"org.opencontainers.image.base.name", b.base.ToString()},
                                 {"org.opencontainers.image.base.digest", resolved->manifest_digest}};
    }

    const auto push_start = options.clock->Now();
    const double build_seconds = std::chrono::duration<double>(push_start - started).count();
    LogInfo("Pushing " + b.target.ToString() + ": " + std::to_string(base_count) + " base layers, " +
            std::to_string(layers.size()) + " new...");
    for (size_t i = 0; i < base_count; ++i) {
      MLFLOW_BRIDGE_RETURN_IF_ERROR(CopyBaseLayer(b, layer_list[i], i, base_count));
    }
    for (const auto& l : layers) MLFLOW_BRIDGE_RETURN_IF_ERROR(PushLayer(b, l));
    auto has_config = b.to->HasBlob(b.target.repository, config_digest);
    if (!has_config.ok()) return has_config.status();
    if (!*has_config) {
      MLFLOW_BRIDGE_RETURN_IF_ERROR(b.to->UploadBlobBytes(b.target.repository, config_bytes, config_digest));
      b.uploaded += config_bytes.size();
    }
    const std::string tag = b.target.tag.empty() ? "latest" : b.target.tag;
    auto digest = b.to->PutManifest(b.target.repository, tag, manifest.dump(), docker ? kDockerManifest : kOciManifest);
    if (!digest.ok()) return digest.status();
    const double push_seconds = std::chrono::duration<double>(options.clock->Now() - push_start).count();
    LogInfo("Pushed " + b.target.WithDigest(*digest) + " (" + Mb(b.uploaded) + " uploaded).");

    json out_layers = json::array();
    for (const auto& l : layers) out_layers.push_back({{"what", l.what}, {"digest", l.tar.digest}, {"size", l.tar.size}});
    return json{{"image", b.target.WithDigest(*digest)},
                {"tag", b.target.ToString()},
                {"digest", *digest},
                {"config_digest", config_digest},
                {"base", b.base.ToString() + "@" + resolved->manifest_digest},
                {"layers", out_layers},
                {"uploaded_bytes", b.uploaded},
                {"build_seconds", build_seconds},
                {"push_seconds", push_seconds}};
  }
};

StatusOr<std::shared_ptr<ImageBuilder>> ImageBuilder::Make(ImageBuilderOptions options) {
  if (options.work_dir.empty()) return InvalidParameterError("ImageBuilder needs a work folder.");
  if (!options.clock) options.clock = SystemClock();
  auto impl = std::make_shared<Impl>();
  impl->options = std::move(options);
  return std::shared_ptr<ImageBuilder>(new ImageBuilder(std::move(impl)));
}

StatusOr<json> ImageBuilder::BuildAndPush(const ImageBuildRequest& request) { return impl_->Run(request); }

const ConfigSchema& ImageBuilder::Schema() {
  static const ConfigSchema kSchema = [] {
    ConfigSchema schema = {
        {"image", ConfigType::kString, "", "Where the image goes: <registry>/<repository>:<tag>."},
        {"platform", ConfigType::kString, "linux/amd64", "linux/amd64 or linux/arm64; picked from a multi-platform base."},
        {"port", ConfigType::kInt, 8080, "Port the model server listens on (/ping, /health, /invocations, ...).", 1, 65535},
        {"python_version", ConfigType::kString, "",
         "The image's Python (e.g. 3.11), for the dependencies and the default base (python:<it>-slim); given, it "
         "may differ from the model's (with a warning). Default: the base's PYTHON_VERSION, which must be the "
         "model's Python."},
        {"glibc", ConfigType::kString, "2.28", "Newest glibc the base image has: wheels up to manylinux_<glibc> are used."},
        {"env", ConfigType::kObject, json::object(), "More environment variables for the image."},
        {"labels", ConfigType::kObject, json::object(), "More labels for the image."},
        {"insecure_base_registry", ConfigType::kBool, false,
         "Plain HTTP to the base image's registry, when it is another one."},
        {"ca_bundle", ConfigType::kString, "", "PEM file of the CAs that sign the registries' TLS certificates."},
        {"chunk_size_mb", ConfigType::kInt, 64,
         "Blobs larger than this go up in chunks of this size (each streamed from disk).", 1, 4096},
    };
    for (ConfigKey& key : internal::ImageBuildSchema()) schema.push_back(std::move(key));
    return schema;
  }();
  return kSchema;
}

StatusOr<std::string> DeploymentImages::Build(const std::string& registry, const std::string& deployment,
                                              ImageBuildRequest request) {
  std::string target = registry;
  const size_t slash = target.rfind('/');
  if (target.find(':', slash == std::string::npos ? 0 : slash) == std::string::npos) target += ":" + deployment;
  std::shared_ptr<ImageBuilder> builder;
  {
    std::lock_guard lock(mu_);
    if (!builder_) {
      ImageBuilderOptions o = options_;
      if (o.work_dir.empty()) o.work_dir = (fs::temp_directory_path() / "mlflow-bridge-image").string();
      auto made = ImageBuilder::Make(o);
      if (!made.ok()) return made.status();
      builder_ = *made;
    }
    builder = builder_;
  }
  request.config["image"] = target;
  auto built = builder->BuildAndPush(request);
  if (!built.ok()) return built.status().WithContext("Building the model's image for " + target);
  return built->value("image", "");
}

std::string ImageBuilder::Help() {
  return "mlflow-bridge image build: an OCI image with the model, without a docker daemon.\n"
         "\n"
         "Layers: the base image's, mlflow-bridge's model server at " +
         std::string(kImageServerPath) +
         " (with server=native), the model's Python\n"
         "dependencies (pip, wheels only, for the base's Python and platform) at " +
         kImageSitePath + ", and the model at " + kImageModelPath +
         ".\n"
         "The image runs mlflow-bridge-serve on the port (MLflow and SageMaker /invocations and /ping, Azure ML /score,\n"
         "OCI /predict, /health, Open Inference Protocol v2), or with server=mlflow MLflow's scoring server\n"
         "(uvicorn); SageMaker's 'serve' argument is ignored. The base defaults to the official Python image of\n"
         "the model's Python (python_env.yaml or conda.yaml); a base_image with another Python is refused.\n"
         "Layers are reproducible: the same model gives the same digests, and layers the registry has are not\n"
         "sent again.\n"
         "\n"
         "Config keys:\n" +
         DescribeConfig(Schema());
}

}  // namespace mlflow_bridge
