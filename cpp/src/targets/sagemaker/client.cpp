#include "mlflow_bridge/sagemaker_client.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <regex>
#include <set>

#include "aws/retry_policy.h"
#include "aws/s3_stub.h"
#include "common/archive.h"
#include "common/rollback.h"
#include "common/strings.h"
#include "mlflow_bridge/image.h"
#include "mlflow_bridge/logging.h"
#include "mlflow_bridge/targets.h"
#include "targets/managed_by.h"
#include "targets/sagemaker/config.h"
#include "targets/sagemaker/stubs.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace mlflow_bridge {
namespace {

using internal::RollbackRecord;
using internal::S3Client;
using internal::SageMakerConfig;
using internal::SageMakerStub;
using std::chrono::milliseconds;
using std::chrono::seconds;

using internal::kManagedByKey;
using internal::kManagedByValue;
constexpr char kModelUriKey[] = "mlflow.model_uri";
constexpr char kRunIdKey[] = "mlflow.run_id";

Status ValidateName(const std::string& name) {
  static const std::regex kName("[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}");
  if (std::regex_match(name, kName)) return OkStatus();
  return InvalidParameterError("Invalid deployment name '" + name +
                               "': SageMaker endpoint names have 1 to 63 letters, digits and hyphens, and start and "
                               "end with a letter or digit.");
}

// name + infix + 20 hex characters, at most 63 long, as MLflow's own target names them.
std::string UniqueName(const std::string& base, const std::string& infix) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char hex[21];
  snprintf(hex, sizeof hex, "%016llx%04x", static_cast<unsigned long long>(rng()), static_cast<unsigned>(rng() & 0xffff));
  std::string suffix = infix + hex;
  std::string head = base.substr(0, 63 - suffix.size());
  while (!head.empty() && head.back() == '-') head.pop_back();
  return head + suffix;
}

json Tag(const std::string& key, const std::string& value) { return {{"Key", key}, {"Value", value}}; }

json UserTags(const SageMakerConfig& config) {
  json tags = json::array();
  for (const auto& [k, v] : config.tags.items()) tags.push_back(Tag(k, v.is_string() ? v.get<std::string>() : v.dump()));
  return tags;
}

bool IsManaged(const json& tags) {
  for (const auto& t : tags) {
    if (t.value("Key", "") == kManagedByKey && t.value("Value", "") == kManagedByValue) return true;
  }
  return false;
}

std::string TagValue(const json& tags, const std::string& key) {
  for (const auto& t : tags) {
    if (t.value("Key", "") == key) return t.value("Value", "");
  }
  return "";
}

// What MLflow's sagemaker target puts into the container's environment, plus the user's. This machine's
// proxy variables only when asked (forward_proxy_env): anyone allowed DescribeModel reads the environment.
// A proxy URL's user and password are never copied.
json ContainerEnv(const SageMakerConfig& config) {
  json env = {{"MLFLOW_DEPLOYMENT_FLAVOR_NAME", "python_function"}, {"SERVING_ENVIRONMENT", "SageMaker"}};
  if (config.forward_proxy_env) {
    for (const char* proxy : {"http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"}) {
      const char* v = std::getenv(proxy);
      if (!v) continue;
      std::string value = internal::WithoutUrlUserinfo(v);
      if (value != v) {
        LogInfo(std::string("Proxy variable ") + proxy +
                " is copied into the model's environment without its user and password.");
      }
      env[proxy] = value;
    }
  }
  for (const auto& [k, v] : config.env.items()) env[k] = v.is_string() ? v.get<std::string>() : v.dump();
  return env;
}

// The SageMaker calls the client makes, each retried through the AWS retry policy (Session::Api).
struct SageMakerOp {
  const char* name;
  StatusOr<json> (SageMakerStub::*call)(const json&) const;
};
const SageMakerOp kCreateModel{"CreateModel", &SageMakerStub::CreateModel};
const SageMakerOp kDescribeModel{"DescribeModel", &SageMakerStub::DescribeModel};
const SageMakerOp kDeleteModel{"DeleteModel", &SageMakerStub::DeleteModel};
const SageMakerOp kCreateEndpointConfig{"CreateEndpointConfig", &SageMakerStub::CreateEndpointConfig};
const SageMakerOp kDescribeEndpointConfig{"DescribeEndpointConfig", &SageMakerStub::DescribeEndpointConfig};
const SageMakerOp kDeleteEndpointConfig{"DeleteEndpointConfig", &SageMakerStub::DeleteEndpointConfig};
const SageMakerOp kCreateEndpoint{"CreateEndpoint", &SageMakerStub::CreateEndpoint};
const SageMakerOp kDescribeEndpoint{"DescribeEndpoint", &SageMakerStub::DescribeEndpoint};
const SageMakerOp kUpdateEndpoint{"UpdateEndpoint", &SageMakerStub::UpdateEndpoint};
const SageMakerOp kUpdateEndpointWeightsAndCapacities{"UpdateEndpointWeightsAndCapacities",
                                                      &SageMakerStub::UpdateEndpointWeightsAndCapacities};
const SageMakerOp kDeleteEndpoint{"DeleteEndpoint", &SageMakerStub::DeleteEndpoint};
const SageMakerOp kListEndpoints{"ListEndpoints", &SageMakerStub::ListEndpoints};
const SageMakerOp kListTags{"ListTags", &SageMakerStub::ListTags};
const SageMakerOp kAddTags{"AddTags", &SageMakerStub::AddTags};

}  // namespace

static_assert(SageMakerClient::kMaxPayloadBytes == internal::kMaxInvokePayloadBytes);

struct SageMakerClient::Impl {
  SageMakerTarget target;
  SageMakerClientOptions options;

  // One session per call: region, endpoint and role may come from the call's config.
  struct Session : internal::SageMakerStubs {
    SageMakerConfig config;
    std::string region;
    bool interrupted = false;  // a wait ended because the user interrupted it
    internal::AwsRetry retry;  // the AWS retry policy: the stubs make one attempt per call

    // One SageMaker call through the retry policy (which calls may be sent again: SageMakerIdempotency).
    StatusOr<json> Api(const SageMakerOp& op, const json& request) const {
      return Retried<json>(internal::SageMakerIdempotency(op.name), std::string("SageMaker ") + op.name,
                           [&] { return ((*stub).*op.call)(request); });
    }
    // Any other AWS call through the retry policy.
    template <typename T>
    StatusOr<T> Retried(Idempotency idempotency, const std::string& what, const std::function<StatusOr<T>()>& fn) const {
      return retry.Call<T>(idempotency, what, fn);
    }
  };

  // What a session talks through, kept per (region, endpoint_url, role) for the client's life: the
  // credentials (and an assumed role's) are fetched once, not at every call.
  using Connection = internal::SageMakerStubs;
  std::mutex connections_mu;
  std::map<std::string, Connection> connections;
  std::shared_ptr<AwsCredentialsProvider> base_credentials;  // the AWS chain, made once

  StatusOr<Connection> Connect(const std::string& region, const std::string& endpoint_url, const std::string& role) {
    std::lock_guard lock(connections_mu);
    const std::string key = region + "\n" + endpoint_url + "\n" + role;
    if (auto it = connections.find(key); it != connections.end()) return it->second;
    MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckAwsRegion(region, "sagemaker", "api.sagemaker", endpoint_url));
    if (options.stubs) return *options.stubs;  // tests
    if (!base_credentials)
      base_credentials = options.credentials ? options.credentials : MakeDefaultAwsCredentialsProvider();
    auto credentials = base_credentials;
    if (!role.empty()) {
      AssumeRoleOptions assume;
      assume.role_arn = role;
      assume.role_session_name = "mlflow-bridge";
      assume.region = region;
      assume.endpoint_url = endpoint_url;
      credentials = MakeCachingAwsCredentialsProvider(
          MakeAssumeRoleAwsCredentialsProvider(assume, credentials, options.transport, options.clock), options.clock);
    }
    internal::AwsCaller caller(options.transport, credentials, options.clock);  // one attempt per call
    internal::SageMakerEndpoints overrides{endpoint_url, endpoint_url, endpoint_url, endpoint_url, endpoint_url};
    if (endpoint_url.empty()) overrides = {};
    const internal::SageMakerEndpoints endpoints = internal::ResolveSageMakerEndpoints(region, overrides);
    Connection c{std::make_shared<internal::SageMakerApiStub>(caller, region, endpoints),
                 std::make_shared<S3Client>(options.transport, credentials, options.clock, region, endpoint_url),
                 std::make_shared<internal::StsApiStub>(caller, endpoints.sts, region),
                 std::make_shared<internal::IamApiStub>(caller, endpoints.iam, region),
                 std::make_shared<internal::EcrApiStub>(caller, endpoints.ecr, region)};
    return connections[key] = c;
  }

  StatusOr<Session> Open(const json& given) {
    auto config = internal::ParseSageMakerConfig(given);
    if (!config.ok()) return config.status();
    Session s;
    s.config = std::move(*config);
    s.region = s.config.region_name.empty() ? target.region : s.config.region_name;
    const std::string role = s.config.assume_role_arn.empty() ? target.assume_role_arn : s.config.assume_role_arn;
    auto connection = Connect(s.region, s.config.endpoint_url, role);
    if (!connection.ok()) return connection.status();
    static_cast<internal::SageMakerStubs&>(s) = *connection;
    s.retry = internal::AwsRetry(options.clock);
    return s;
  }

  // -------------------------------------------------------------- waiting
  // Polls DescribeEndpoint with growing intervals until `done` says so.
  // `done` returns OK to stop, a non-OK Status to fail, or nullopt to go on.
  StatusOr<json> Wait(Session& s, const std::string& name, const std::string& what,
                      const std::function<std::optional<Status>(const StatusOr<json>&)>& done) {
    auto start = options.clock->Now();
    auto deadline = start + seconds(s.config.timeout_seconds);
    milliseconds interval(static_cast<long>(1000 * s.config.poll_interval_seconds));
    auto next_progress = start;
    while (true) {
      auto described = s.Api(kDescribeEndpoint, {{"EndpointName", name}});
      if (auto verdict = done(described)) {
        if (!verdict->ok()) return *verdict;
        return described.ok() ? *described : json::object();
      }
      auto now = options.clock->Now();
      if (now >= next_progress) {
        auto elapsed = std::chrono::duration_cast<seconds>(now - start).count();
        std::string status = described.ok() ? described->value("EndpointStatus", "?") : "?";
        LogInfo("Waiting for SageMaker endpoint '" + name + "' to " + what + ": " + status + " (" + std::to_string(elapsed) +
                " s of " + std::to_string(s.config.timeout_seconds) + " s)");
        next_progress = now + seconds(15);
      }
      if (options.interrupted && options.interrupted()) {
        s.interrupted = true;
        return InternalError("Interrupted while waiting for SageMaker endpoint '" + name + "' to " + what + ".");
      }
      if (now + interval > deadline) {
        return DeadlineExceededError("SageMaker endpoint '" + name + "' did not " + what + " within " +
                                     std::to_string(s.config.timeout_seconds) +
                                     " s. Raise -C timeout_seconds=N, or check the endpoint in the SageMaker console.");
      }
      options.clock->SleepFor(interval);
      interval = std::min(milliseconds(30'000), interval * 3 / 2);
    }
  }

  static Status Exists(const Session& s, const std::string& endpoint) {
    return AlreadyExistsError("A SageMaker endpoint named '" + endpoint + "' already exists in " + s.region +
                              ". Update it with `mlflow deployments update` or delete it first.");
  }

  static Status FailureOf(const json& endpoint, const std::string& name) {
    std::string reason = endpoint.value("FailureReason", "SageMaker gave no reason.");
    return InternalError("SageMaker endpoint '" + name + "' went to " + endpoint.value("EndpointStatus", "Failed") + ": " +
                         Redact(reason));
  }

  // -------------------------------------------------------------- pieces
  std::unique_ptr<DeploymentImages> images;  // config `registry`: the model's own image, built without docker

  StatusOr<std::string> BuildImage(Session& s, const DeployRequest& request) {
    internal::ImageBuildConfig build = s.config.build;
    build.registry_auth = "ecr";
    build.ecr_region = s.region;
    return images->Build(s.config.registry, request.name,
                         {request.model_dir, request.model_uri, request.run_id, request.python, request.mlflow_version,
                          internal::ImageBuildKeys(build)});
  }

  StatusOr<std::string> Image(Session& s, const DeployRequest& request) {
    std::string image = s.config.image_url;
    if (!s.config.registry.empty()) {
      if (!image.empty()) {
        return InvalidParameterError(
            "Config keys 'image_url' and 'registry' cannot go together: image_url serves "
            "an existing image, registry builds one for the model.");
      }
      return BuildImage(s, request);
    }
    if (!image.empty()) return image;
    if (const char* env = std::getenv("MLFLOW_SAGEMAKER_DEPLOY_IMG_URL"); env && *env) return std::string(env);
    auto repo = s.Retried<std::string>(Idempotency::kIdempotent, "ECR DescribeRepositories",
                                       [&] { return s.ecr->DescribeRepositories("mlflow-pyfunc"); });
    if (!repo.ok()) {
      return Status(repo.status().code(),
                    "No image to serve the model with: set -C image_url=<ECR image>, or push MLflow's image to the ECR "
                    "repository 'mlflow-pyfunc' (mlflow sagemaker build-and-push-container). " +
                        repo.status().message());
    }
    return *repo + ":" + request.mlflow_version;
  }

  StatusOr<std::string> ExecutionRole(Session& s) {
    std::string role = s.config.execution_role_arn;
    if (!role.empty()) return role;
    // As MLflow's target does: the caller's own role, looked up in IAM for its full ARN (with its path).
    auto me = s.Retried<internal::CallerIdentity>(Idempotency::kIdempotent, "STS GetCallerIdentity",
                                                  [&] { return s.sts->GetCallerIdentity(); });
    if (!me.ok()) return me.status();
    static const std::regex kAssumed(R"(arn:aws[a-z-]*:sts::\d{12}:assumed-role/([^/]+)/.*)");
    std::smatch m;
    if (!std::regex_match(me->arn, m, kAssumed)) {
      return InvalidParameterError("No execution role for the model: the caller (" + me->arn +
                                   ") is not a role. Pass the IAM role SageMaker should use with -C "
                                   "execution_role_arn=arn:aws:iam::<account>:role/<name>.");
    }
    auto arn =
        s.Retried<std::string>(Idempotency::kIdempotent, "IAM GetRole", [&] { return s.iam->GetRoleArn(m[1].str()); });
    if (!arn.ok()) return arn.status().WithContext("Looking up the execution role (or pass -C execution_role_arn=...)");
    return arn;
  }

  StatusOr<std::string> Bucket(Session& s) {
    std::string bucket = s.config.bucket;
    if (bucket.empty()) {
      auto me = s.Retried<internal::CallerIdentity>(Idempotency::kIdempotent, "STS GetCallerIdentity",
                                                    [&] { return s.sts->GetCallerIdentity(); });
      if (!me.ok()) return me.status();
      bucket = "mlflow-sagemaker-" + s.region + "-" + me->account;
    }
    MLFLOW_BRIDGE_RETURN_IF_ERROR(s.s3->EnsureBucket(bucket));
    return bucket;
  }

  // Packs and uploads the model; returns the S3 URL.
  StatusOr<std::string> Upload(Session& s, const DeployRequest& request, const std::string& bucket,
                               const std::string& model_name) {
    std::string dir = options.work_dir.empty() ? fs::temp_directory_path().string() : options.work_dir;
    std::string archive = dir + "/" + model_name + ".tar.gz";
    struct Remove {
      std::string path;
      ~Remove() {
        std::error_code ec;
        fs::remove(path, ec);
      }
    } remove_archive{archive};
    if (auto written = internal::WriteTar(request.model_dir, archive); !written.ok()) return written.status();
    internal::S3UploadOptions upload;
    upload.tags = {{"SageMaker", "true"}, {kManagedByKey, kManagedByValue}};
    return s.s3->UploadFile(bucket, model_name + "/model.tar.gz", archive, upload);
  }

  json Variant(const Session& s, const std::string& variant, const std::string& model_name, double weight) {
    json v = {{"VariantName", variant}, {"ModelName", model_name}, {"InitialVariantWeight", weight}};
    if (!s.config.serverless_config.empty()) {
      v["ServerlessConfig"] = s.config.serverless_config;
    } else {
      v["InstanceType"] = s.config.instance_type;
      v["InitialInstanceCount"] = s.config.instance_count;
    }
    return v;
  }

  // The undo steps of what a deploy makes (recorded in a RollbackRecord as each is made).
  void RecordObject(Session& s, RollbackRecord& record, const std::string& url) {
    record.Add("delete " + url, [&s, url]() -> Status {
      auto parts = S3Client::ParseS3Url(url);
      if (!parts.ok()) return parts.status();
      return s.s3->DeleteObject(parts->first, parts->second);
    });
  }
  void RecordModel(Session& s, RollbackRecord& record, const std::string& model) {
    record.Add("delete SageMaker model " + model, [&s, model] {
      return s.Api(kDeleteModel, {{"ModelName", model}}).status();
    });
  }
  void RecordConfig(Session& s, RollbackRecord& record, const std::string& config) {
    record.Add("delete SageMaker endpoint config " + config, [&s, config] {
      return s.Api(kDeleteEndpointConfig, {{"EndpointConfigName", config}}).status();
    });
  }
  void RecordEndpoint(Session& s, RollbackRecord& record, const std::string& endpoint) {
    record.Add("delete SageMaker endpoint " + endpoint, [this, &s, endpoint]() -> Status {
      MLFLOW_BRIDGE_RETURN_IF_ERROR(s.Api(kDeleteEndpoint, {{"EndpointName", endpoint}}).status());
      return Wait(s, endpoint, "be deleted",
                  [](const StatusOr<json>& d) -> std::optional<Status> {
                    if (!d.ok()) return OkStatus();  // gone (or unreachable: nothing more to wait for)
                    return std::nullopt;
                  })
          .status();
    });
  }

  // New model from the request: upload and CreateModel. Records what it made in `created`.
  StatusOr<std::string> NewModel(Session& s, const DeployRequest& request, RollbackRecord& created) {
    auto image = Image(s, request);
    if (!image.ok()) return image.status();
    auto role = ExecutionRole(s);
    if (!role.ok()) return role.status();
    auto bucket = Bucket(s);
    if (!bucket.ok()) return bucket.status();
    // Each resource is recorded before the call that makes it: a reply lost on
    // the way may hide that it exists, and deleting what is not there is harmless.
    std::string model_name = UniqueName(request.name, "-model-");
    RecordObject(s, created, "s3://" + *bucket + "/" + model_name + "/model.tar.gz");
    auto url = Upload(s, request, *bucket, model_name);
    if (!url.ok()) return url.status();
    json tags = UserTags(s.config);
    tags.push_back(Tag(kManagedByKey, kManagedByValue));
    tags.push_back(Tag(kModelUriKey, request.model_uri));
    if (!request.run_id.empty()) tags.push_back(Tag(kRunIdKey, request.run_id));
    json model = {{"ModelName", model_name},
                  {"PrimaryContainer", {{"Image", *image}, {"ModelDataUrl", *url}, {"Environment", ContainerEnv(s.config)}}},
                  {"ExecutionRoleArn", *role},
                  {"Tags", tags}};
    if (!s.config.vpc_config.empty()) model["VpcConfig"] = s.config.vpc_config;
    RecordModel(s, created, model_name);
    auto made = s.Api(kCreateModel, model);
    if (!made.ok()) return made.status();
    return model_name;
  }

  // A new endpoint config with `variants`. Async inference and data capture
  // come from the call's config, else from `previous` (the config it replaces).
  StatusOr<std::string> NewConfig(Session& s, const std::string& name, const json& variants, RollbackRecord& created,
                                  const json& previous = json::object()) {
    std::string config_name = UniqueName(name, "-config-");
    json cfg = {{"EndpointConfigName", config_name},
                {"ProductionVariants", variants},
                {"Tags", json::array({Tag(kManagedByKey, kManagedByValue), Tag("app_name", name)})}};
    for (const auto& [given, field] :
         {std::pair<const json*, const char*>{&s.config.async_inference_config, "AsyncInferenceConfig"},
          {&s.config.data_capture_config, "DataCaptureConfig"}}) {
      if (!given->empty()) {
        cfg[field] = *given;
      } else if (previous.contains(field)) {
        cfg[field] = previous[field];
      }
    }
    RecordConfig(s, created, config_name);
    auto made = s.Api(kCreateEndpointConfig, cfg);
    if (!made.ok()) return made.status();
    return config_name;
  }

  // Whether mlflow-bridge made the resource (its tag says so). What we did not
  // make (e.g. a model from a training job) is never deleted.
  bool Ours(Session& s, const std::string& arn) {
    auto tags = s.Api(kListTags, {{"ResourceArn", arn}});
    return tags.ok() && IsManaged(tags->value("Tags", json::array()));
  }

  // Deletes the endpoint config `old_config` and the models (with their S3
  // archives) of its variants that `keep` no longer uses, when they are ours.
  void DeleteUnused(Session& s, const json& old_config, const json& keep) {
    std::set<std::string> kept;
    for (const auto& v : keep) kept.insert(v.value("ModelName", ""));
    RollbackRecord leftovers;  // undone newest first: the config, then its models and their archives
    for (const auto& v : old_config.value("ProductionVariants", json::array())) {
      std::string model = v.value("ModelName", "");
      if (kept.count(model)) continue;
      auto described = s.Api(kDescribeModel, {{"ModelName", model}});
      if (!described.ok()) continue;
      if (!Ours(s, described->value("ModelArn", ""))) {
        LogInfo("Keeping model '" + model + "' and its data: mlflow-bridge did not create them.");
        continue;
      }
      RecordObject(s, leftovers, described->value("PrimaryContainer", json::object()).value("ModelDataUrl", ""));
      RecordModel(s, leftovers, model);
    }
    if (Ours(s, old_config.value("EndpointConfigArn", "")))
      RecordConfig(s, leftovers, old_config.value("EndpointConfigName", ""));
    (void)leftovers.Undo();  // each failure is logged; the update itself succeeded
  }

  StatusOr<json> DescribeCurrent(Session& s, const std::string& endpoint) {
    auto current = s.Api(kDescribeEndpoint, {{"EndpointName", endpoint}});
    if (!current.ok() && current.status().code() == StatusCode::kResourceDoesNotExist) {
      return NotFoundError("No SageMaker endpoint named '" + endpoint + "' in " + s.region +
                           ". See the existing ones with `mlflow deployments list -t sagemaker-endpoints:/" + s.region +
                           "`.");
    }
    return current;
  }

  // Moves an existing endpoint onto a new endpoint config whose variants
  // `change` derives from the current ones (and from a new model made from
  // `request`, when there is one); `change` returning null means nothing to do.
  // On failure, what this made is deleted and the endpoint keeps what it had;
  // on success (archive=false), what the endpoint no longer uses is deleted.
  Status Rollout(Session& s, const std::optional<DeployRequest>& request, const std::string& endpoint,
                 const std::string& what, const std::function<StatusOr<json>(json, const std::string&)>& change) {
    auto current = DescribeCurrent(s, endpoint);
    if (!current.ok()) return current.status();
    auto old_config = s.Api(kDescribeEndpointConfig, {{"EndpointConfigName", current->value("EndpointConfigName", "")}});
    if (!old_config.ok()) return old_config.status();
    RollbackRecord created;
    auto fail = [&](const Status& why) {
      std::string left = created.Undo();
      return why.WithContext(what + " failed; the endpoint keeps its previous model" +
                             (left.empty() ? "" : "; could not undo: " + left));
    };
    std::string model;
    if (request) {
      auto made = NewModel(s, *request, created);
      if (!made.ok()) return fail(made.status());
      model = *made;
    }
    // The variants as they serve now: weights and instance counts set since the
    // config was made (UpdateEndpointWeightsAndCapacities) carry over.
    json serving = old_config->value("ProductionVariants", json::array());
    for (auto& v : serving) {
      for (const auto& live : current->value("ProductionVariants", json::array())) {
        if (live.value("VariantName", "") != v.value("VariantName", "")) continue;
        if (live.contains("CurrentWeight")) v["InitialVariantWeight"] = live["CurrentWeight"];
        if (live.contains("CurrentInstanceCount") && v.contains("InitialInstanceCount")) {
          v["InitialInstanceCount"] = live["CurrentInstanceCount"];
        }
      }
    }
    auto variants = change(serving, model);
    if (!variants.ok()) return fail(variants.status());
    if (variants->is_null()) return OkStatus();
    auto config_name = NewConfig(s, endpoint, *variants, created, *old_config);
    if (!config_name.ok()) return fail(config_name.status());
    json update = {{"EndpointName", endpoint}, {"EndpointConfigName", *config_name}};
    if (!s.config.deployment_config.empty()) update["DeploymentConfig"] = s.config.deployment_config;
    auto updated = s.Api(kUpdateEndpoint, update);
    if (!updated.ok()) return fail(updated.status());
    if (!s.config.synchronous) return OkStatus();
    auto done = Wait(s, endpoint, "finish updating", [&](const StatusOr<json>& d) -> std::optional<Status> {
      if (!d.ok()) return IsTransient(d.status()) ? std::nullopt : std::optional<Status>(d.status());
      std::string status = d->value("EndpointStatus", "");
      if (status == "InService") {
        if (d->value("EndpointConfigName", "") == *config_name) return OkStatus();
        return InternalError("SageMaker rolled the update of '" + endpoint + "' back" +
                             (d->contains("FailureReason") ? ": " + Redact(d->value("FailureReason", "")) : "."));
      }
      if (status == "Failed" || status == "UpdateRollbackFailed") return FailureOf(*d, endpoint);
      return std::nullopt;
    });
    if (!done.ok()) {
      if (done.status().code() == StatusCode::kDeadlineExceeded || s.interrupted) {
        // SageMaker goes on updating onto the new config: taking it away now would break the endpoint.
        return Status(done.status().code(),
                      done.status().message() + " SageMaker is still updating endpoint '" + endpoint +
                          "' to endpoint config '" + *config_name +
                          "'; it was not rolled back. Follow it with "
                          "`mlflow deployments get`; if the update fails, SageMaker returns to the previous config.");
      }
      return fail(done.status());
    }
    if (!s.config.archive) DeleteUnused(s, *old_config, *variants);
    return OkStatus();
  }

  // A deployment of an MLflow endpoint: one production variant.
  StatusOr<json> DescribeVariant(Session& s, const std::string& name, const std::string& endpoint) {
    auto current = DescribeCurrent(s, endpoint);
    if (!current.ok()) return current.status();
    auto cfg = s.Api(kDescribeEndpointConfig, {{"EndpointConfigName", current->value("EndpointConfigName", "")}});
    if (!cfg.ok()) return cfg.status();
    for (const auto& v : cfg->value("ProductionVariants", json::array())) {
      if (v.value("VariantName", "") != name) continue;
      json live = json::object();
      for (const auto& pv : current->value("ProductionVariants", json::array())) {
        if (pv.value("VariantName", "") == name) live = pv;
      }
      json tags = json::array();
      auto model = s.Api(kDescribeModel, {{"ModelName", v.value("ModelName", "")}});
      if (model.ok()) {
        auto t = s.Api(kListTags, {{"ResourceArn", model->value("ModelArn", "")}});
        if (t.ok()) tags = t->value("Tags", json::array());
      }
      return json{{"name", name},
                  {"flavor", "python_function"},
                  {"endpoint", endpoint},
                  {"status", current->value("EndpointStatus", "")},
                  {"model_name", v.value("ModelName", "")},
                  {"model_uri", TagValue(tags, kModelUriKey)},
                  {"run_id", TagValue(tags, kRunIdKey)},
                  {"weight", live.value("CurrentWeight", v.value("InitialVariantWeight", 0.0))},
                  {"instance_count", live.value("CurrentInstanceCount", v.value("InitialInstanceCount", 0))},
                  {"instance_type", v.value("InstanceType", "")}};
    }
    return NotFoundError("Endpoint '" + endpoint + "' has no deployment named '" + name + "'.");
  }

  json Describe(const json& endpoint, const json& tags) {
    json variants = json::array();
    for (const auto& v : endpoint.value("ProductionVariants", json::array())) {
      variants.push_back({{"name", v.value("VariantName", "")},
                          {"weight", v.value("CurrentWeight", v.value("DesiredWeight", 0.0))},
                          {"instance_count", v.value("CurrentInstanceCount", 0)}});
    }
    json out = {{"name", endpoint.value("EndpointName", "")},
                {"flavor", "python_function"},
                {"status", endpoint.value("EndpointStatus", "")},
                {"endpoint_arn", endpoint.value("EndpointArn", "")},
                {"endpoint_config_name", endpoint.value("EndpointConfigName", "")},
                {"model_uri", TagValue(tags, kModelUriKey)},
                {"run_id", TagValue(tags, kRunIdKey)},
                {"variants", variants},
                {"creation_time", endpoint.value("CreationTime", json())},
                {"last_modified_time", endpoint.value("LastModifiedTime", json())}};
    if (endpoint.contains("FailureReason")) out["failure_reason"] = Redact(endpoint.value("FailureReason", ""));
    return out;
  }

  // -------------------------------------------------------------- scoring
  struct EndpointKind {
    std::string async_output;  // S3OutputPath of an asynchronous endpoint; empty: real-time
  };
  std::mutex kinds_mu;
  std::map<std::string, EndpointKind> kinds;  // by endpoint name; forgotten when a call fails

  StatusOr<EndpointKind> Kind(Session& s, const std::string& endpoint, const std::string& variant) {
    {
      std::lock_guard lock(kinds_mu);
      if (auto it = kinds.find(endpoint); it != kinds.end()) return it->second;
    }
    auto current = DescribeCurrent(s, endpoint);
    if (!current.ok()) return current.status();
    auto config = s.Api(kDescribeEndpointConfig, {{"EndpointConfigName", current->value("EndpointConfigName", "")}});
    if (!config.ok()) return config.status();
    EndpointKind kind;
    if (config->contains("AsyncInferenceConfig")) {
      kind.async_output = config->value("/AsyncInferenceConfig/OutputConfig/S3OutputPath"_json_pointer, "");
      if (kind.async_output.empty()) {
        return InvalidParameterError("SageMaker endpoint '" + endpoint +
                                     "' is asynchronous but has no "
                                     "OutputConfig.S3OutputPath to exchange requests through.");
      }
      if (!variant.empty() && current->value("ProductionVariants", json::array()).size() > 1) {
        return InvalidParameterError("SageMaker sends requests to asynchronous endpoint '" + endpoint +
                                     "' by variant weight and cannot address deployment '" + variant +
                                     "': predict on the endpoint (without a deployment name).");
      }
    }
    std::lock_guard lock(kinds_mu);
    return kinds[endpoint] = kind;
  }

  void Forget(const std::string& endpoint) {
    std::lock_guard lock(kinds_mu);
    kinds.erase(endpoint);
  }

  StatusOr<std::string> Invoke(Session& s, const std::string& endpoint, const std::string& body,
                               const std::string& content_type, const std::string& variant) {
    auto r = s.Retried<internal::InvokeResult>(
        internal::SageMakerIdempotency("InvokeEndpoint"), "SageMaker InvokeEndpoint",
        [&] { return s.stub->InvokeEndpoint(endpoint, body, content_type, "application/json", "", variant); });
    if (!r.ok()) return r.status();
    return std::move(r->body);
  }

  // As SageMaker's own SDK does it: the input goes to S3 (beside the endpoint's
  // outputs), the request is queued, and the answer is read from S3 once there.
  StatusOr<std::string> InvokeAsync(Session& s, const std::string& endpoint, const std::string& output_path,
                                    const std::string& body, const std::string& content_type) {
    auto out = S3Client::ParseS3Url(output_path + (output_path.ends_with("/") ? "" : "/") + "x");
    if (!out.ok()) return out.status().WithContext("The endpoint's S3OutputPath '" + output_path + "'");
    const std::string bucket = out->first;
    const std::string key = "mlflow-bridge/async-inputs/" + endpoint + "/" + UniqueName("input", "-");
    auto input = s.s3->PutBytes(bucket, key, body, content_type);
    if (!input.ok()) return input.status();
    struct DeleteInput {
      Session& s;
      const std::string &bucket, &key;
      bool keep = false;  // the request still waits for it
      ~DeleteInput() {
        if (!keep) LogIgnored(s.s3->DeleteObject(bucket, key), "Deleting s3://" + bucket + "/" + key);
      }
    } input_object{s, bucket, key};
    auto queued = s.Retried<internal::AsyncInvokeResult>(
        internal::SageMakerIdempotency("InvokeEndpointAsync"), "SageMaker InvokeEndpointAsync",
        [&] { return s.stub->InvokeEndpointAsync(endpoint, *input, content_type, "application/json"); });
    if (!queued.ok()) return queued.status();
    auto output = S3Client::ParseS3Url(queued->output_location);
    if (!output.ok()) return output.status();
    auto failure = S3Client::ParseS3Url(queued->failure_location);

    const auto start = options.clock->Now();
    const auto deadline = start + seconds(kAsyncAnswerTimeoutSeconds);
    milliseconds interval(200);
    auto next_progress = start + seconds(15);
    while (true) {
      auto answer = s.s3->GetObject(output->first, output->second);
      if (!answer.ok()) return answer.status();
      if (*answer) return std::move(**answer);
      if (failure.ok()) {
        auto error = s.s3->GetObject(failure->first, failure->second);
        if (!error.ok()) return error.status();
        if (*error) return InternalError("The model failed on request " + queued->inference_id + ": " + Redact(**error));
      }
      auto now = options.clock->Now();
      if (now >= next_progress) {
        LogInfo("Waiting for the answer of asynchronous SageMaker endpoint '" + endpoint + "' at " +
                queued->output_location + " (" + std::to_string(std::chrono::duration_cast<seconds>(now - start).count()) +
                " s)");
        next_progress = now + seconds(15);
      }
      if ((options.interrupted && options.interrupted()) || now + interval > deadline) {
        input_object.keep = true;
        return DeadlineExceededError(
            "No answer from asynchronous SageMaker endpoint '" + endpoint + "' yet" +
            (now + interval > deadline ? " after " + std::to_string(kAsyncAnswerTimeoutSeconds) + " s" : "") +
            "; it will be written to " + queued->output_location + ".");
      }
      options.clock->SleepFor(interval);
      interval = std::min(milliseconds(5'000), interval * 3 / 2);
    }
  }
  // As long as SageMaker lets an asynchronous request run by default (InvocationTimeoutSeconds).
  static constexpr int kAsyncAnswerTimeoutSeconds = 900;

  StatusOr<json> DescribeWithTags(Session& s, const std::string& name) {
    auto endpoint = DescribeCurrent(s, name);
    if (!endpoint.ok()) return endpoint.status();
    auto tags = s.Api(kListTags, {{"ResourceArn", endpoint->value("EndpointArn", "")}});
    return Describe(*endpoint, tags.ok() ? tags->value("Tags", json::array()) : json::array());
  }
};

StatusOr<std::shared_ptr<SageMakerClient>> SageMakerClient::Make(SageMakerTarget target, SageMakerClientOptions options) {
  if (!target.region.empty() && !IsValidRegionName(target.region)) {
    return InvalidParameterError("'" + target.region +
                                 "' is not an AWS region. Use sagemaker-endpoints:/<region>, "
                                 "e.g. sagemaker-endpoints:/eu-west-1.");
  }
  static const std::regex kRole(R"(arn:aws[a-z-]*:iam::\d{12}:role/.+)");
  if (!target.assume_role_arn.empty() && !std::regex_match(target.assume_role_arn, kRole)) {
    return InvalidParameterError("'" + target.assume_role_arn +
                                 "' is not an IAM role ARN "
                                 "(arn:aws:iam::<account>:role/<name>).");
  }
  if (target.region.empty()) target.region = "us-west-2";  // MLflow's own default
  if (!options.transport) options.transport = MakeCurlTransport();
  if (!options.clock) options.clock = SystemClock();
  auto impl = std::make_shared<Impl>();
  impl->target = std::move(target);
  impl->options = std::move(options);
  impl->images = std::make_unique<DeploymentImages>(TargetImageBuilderOptions(
      impl->options.image_work_dir, impl->options.clock, impl->options.interrupted, impl->options.serve_dir));
  return std::shared_ptr<SageMakerClient>(new SageMakerClient(std::move(impl)));
}

const ConfigSchema& SageMakerClient::Schema() { return internal::SageMakerConfigSchema(); }

std::string SageMakerClient::Help() {
  return "Target 'sagemaker-endpoints': serves MLflow models on AWS SageMaker real-time endpoints.\n"
         "\n"
         "Target URI: sagemaker-endpoints:/<region>[/<assume-role-arn>]   e.g. sagemaker-endpoints:/eu-west-1\n"
         "\n"
         "A deployment is a SageMaker endpoint. create packs the model as model.tar.gz, uploads it to S3, and calls\n"
         "CreateModel, CreateEndpointConfig and CreateEndpoint; update (mode replace or add) makes a new model and\n"
         "endpoint config and calls UpdateEndpoint. When a call fails, what it created is deleted again; what\n"
         "mlflow-bridge did not create is never deleted.\n"
         "MLflow endpoints are SageMaker endpoints and their deployments are production variants:\n"
         "  create --endpoint E --name blue -m ...       the endpoint, with its first variant (all traffic)\n"
         "  create --endpoint E --name green -m ...      another variant (weight -C initial_weight, default 0)\n"
         "  update-endpoint --endpoint E -C weights='{\"blue\": 90, \"green\": 10}'   traffic split (and instance_counts)\n"
         "  (MLflow 3.x's create-endpoint command cannot reach a plugin; from Python, create_endpoint(E,\n"
         "  config={\"model_uri\": ..., \"deployment_name\": \"blue\"}) makes the endpoint with its first variant.)\n"
         "predict sends MLflow's JSON (or CSV) to InvokeEndpoint, in parts under the 6 MB limit; on an asynchronous\n"
         "endpoint (async_inference_config) the input goes through S3 beside its S3OutputPath and the answer is read back.\n"
         "The serving container's environment is MLFLOW_DEPLOYMENT_FLAVOR_NAME, SERVING_ENVIRONMENT and -C env;\n"
         "this machine's proxy variables only with -C forward_proxy_env=true, and never a proxy URL's user and password.\n"
         "Credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, else ~/.aws/credentials and\n"
         "~/.aws/config (AWS_PROFILE); the role in the target URI is assumed through STS. Unknown config keys are errors.\n"
         "\n"
         "Config keys (-C key=value on the CLI, config={...} in the SDK):\n" +
         DescribeConfig(Schema()) +
         "\n"
         "Examples:\n"
         "  mlflow deployments create -t sagemaker-endpoints:/eu-west-1 --name churn -m models:/churn@champion \\\n"
         "      -C execution_role_arn=arn:aws:iam::123456789012:role/sagemaker -C instance_type=ml.m5.large\n"
         "  mlflow deployments predict -t sagemaker-endpoints:/eu-west-1 --name churn --input-path rows.json\n";
}

Status SageMakerClient::CheckNew(const std::string& name, const std::string& endpoint) {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(ValidateName(name));
  if (!endpoint.empty()) return ValidateName(endpoint);  // attaching to an endpoint, or starting it
  auto session = impl_->Open(json::object());
  if (!session.ok()) return session.status();
  auto existing = session->Api(kDescribeEndpoint, {{"EndpointName", name}});
  if (existing.ok()) return Impl::Exists(*session, name);
  return existing.status().code() == StatusCode::kResourceDoesNotExist ? OkStatus() : existing.status();
}

StatusOr<json> SageMakerClient::CreateDeployment(const DeployRequest& request) {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(ValidateName(request.name));
  const std::string endpoint = request.endpoint.empty() ? request.name : request.endpoint;
  MLFLOW_BRIDGE_RETURN_IF_ERROR(ValidateName(endpoint));
  auto session = impl_->Open(request.config);
  if (!session.ok()) return session.status();
  Impl::Session& s = *session;
  if (s.config.mode != "create") {
    return InvalidParameterError(
        "create_deployment only creates (mode=create); use update_deployment with mode=" + s.config.mode + ".");
  }
  auto existing = s.Api(kDescribeEndpoint, {{"EndpointName", endpoint}});
  if (existing.ok()) {
    if (request.endpoint.empty()) return Impl::Exists(s, endpoint);
    // A new deployment of an existing MLflow endpoint: one more variant.
    MLFLOW_BRIDGE_RETURN_IF_ERROR(
        impl_->Rollout(s, request, endpoint, "Adding deployment '" + request.name + "' to endpoint '" + endpoint + "'",
                       [&](json variants, const std::string& model) -> StatusOr<json> {
                         for (const auto& v : variants) {
                           if (v.value("VariantName", "") == request.name) {
                             return AlreadyExistsError("Endpoint '" + endpoint + "' already has a deployment named '" +
                                                       request.name + "'.");
                           }
                         }
                         variants.push_back(impl_->Variant(s, request.name, model, s.config.initial_weight));
                         return variants;
                       }));
    return impl_->DescribeVariant(s, request.name, endpoint);
  }
  if (existing.status().code() != StatusCode::kResourceDoesNotExist) return existing.status();

  RollbackRecord created;
  auto fail = [&](const Status& why) {
    LogWarning("Creating '" + endpoint + "' failed; deleting what it created.");
    return why.WithContext("Creating SageMaker deployment '" + request.name + "' failed; " +
                           created.UndoAndSay("nothing was left behind"));
  };
  auto model = impl_->NewModel(s, request, created);
  if (!model.ok()) return fail(model.status());
  std::string variant = !request.endpoint.empty()       ? request.name
                        : s.config.variant_name.empty() ? *model
                                                        : s.config.variant_name;
  auto config_name = impl_->NewConfig(s, endpoint, json::array({impl_->Variant(s, variant, *model, 1.0)}), created);
  if (!config_name.ok()) return fail(config_name.status());
  json tags = UserTags(s.config);
  tags.push_back(Tag(kManagedByKey, kManagedByValue));
  tags.push_back(Tag(kModelUriKey, request.model_uri));
  if (!request.run_id.empty()) tags.push_back(Tag(kRunIdKey, request.run_id));
  impl_->RecordEndpoint(s, created, endpoint);  // it did not exist a moment ago
  auto made = s.Api(kCreateEndpoint, {{"EndpointName", endpoint}, {"EndpointConfigName", *config_name}, {"Tags", tags}});
  if (!made.ok()) return fail(made.status());
  if (s.config.synchronous) {
    auto done = impl_->Wait(s, endpoint, "be InService", [&](const StatusOr<json>& d) -> std::optional<Status> {
      if (!d.ok()) return IsTransient(d.status()) ? std::nullopt : std::optional<Status>(d.status());
      std::string status = d->value("EndpointStatus", "");
      if (status == "InService") return OkStatus();
      if (status == "Failed" || status == "OutOfService") return Impl::FailureOf(*d, endpoint);
      return std::nullopt;
    });
    if (!done.ok()) return fail(done.status());
  }
  if (!request.endpoint.empty()) return impl_->DescribeVariant(s, request.name, endpoint);
  return impl_->DescribeWithTags(s, endpoint);
}

StatusOr<json> SageMakerClient::UpdateDeployment(const DeployRequest& request) {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(ValidateName(request.name));
  const std::string endpoint = request.endpoint.empty() ? request.name : request.endpoint;
  MLFLOW_BRIDGE_RETURN_IF_ERROR(ValidateName(endpoint));
  json given = request.config;
  if (!given.contains("mode")) given["mode"] = "replace";
  auto session = impl_->Open(given);
  if (!session.ok()) return session.status();
  Impl::Session& s = *session;
  const std::string mode = s.config.mode;
  if (mode == "create") return InvalidParameterError("update_deployment takes mode=replace or mode=add, not create.");
  std::string what = "Updating SageMaker deployment '" + request.name + "'";
  Status rolled = impl_->Rollout(s, request, endpoint, what, [&](json variants, const std::string& model) -> StatusOr<json> {
    if (!request.endpoint.empty()) {  // the variant named like the deployment gets the new model
      for (auto& v : variants) {
        if (v.value("VariantName", "") == request.name) {
          v["ModelName"] = model;
          return variants;
        }
      }
      return NotFoundError("Endpoint '" + endpoint + "' has no deployment named '" + request.name + "'.");
    }
    std::string variant = s.config.variant_name.empty() ? model : s.config.variant_name;
    if (mode == "replace") return json::array({impl_->Variant(s, variant, model, 1.0)});
    for (const auto& v : variants) {
      if (v.value("VariantName", "") == variant) {
        return InvalidParameterError("The endpoint already has a variant named '" + variant +
                                     "'. Choose another with -C variant_name=...");
      }
    }
    variants.push_back(impl_->Variant(s, variant, model, 0.0));
    return variants;
  });
  if (!rolled.ok()) return rolled;
  if (!request.endpoint.empty()) return impl_->DescribeVariant(s, request.name, endpoint);
  auto out = impl_->DescribeWithTags(s, endpoint);
  if (out.ok() && mode == "replace") {
    json tags = json::array({Tag(kModelUriKey, request.model_uri), Tag(kRunIdKey, request.run_id)});
    LogIgnored(s.Api(kAddTags, {{"ResourceArn", (*out)["endpoint_arn"]}, {"Tags", tags}}), "Tagging endpoint " + endpoint);
    (*out)["model_uri"] = request.model_uri;
    (*out)["run_id"] = request.run_id;
  }
  return out;
}

Status SageMakerClient::DeleteDeployment(const std::string& name, const std::string& endpoint_name, const json& config) {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(ValidateName(name));
  json given = config.is_object() ? config : json::object();
  if (!given.contains("timeout_seconds")) given["timeout_seconds"] = 300;
  auto session = impl_->Open(given);
  if (!session.ok()) return session.status();
  Impl::Session& s = *session;
  if (!endpoint_name.empty()) {  // one variant of an endpoint
    MLFLOW_BRIDGE_RETURN_IF_ERROR(ValidateName(endpoint_name));
    Status removed = impl_->Rollout(s, std::nullopt, endpoint_name,
                                    "Deleting deployment '" + name + "' of endpoint '" + endpoint_name + "'",
                                    [&](json variants, const std::string&) -> StatusOr<json> {
                                      json kept = json::array();
                                      for (const auto& v : variants) {
                                        if (v.value("VariantName", "") != name) kept.push_back(v);
                                      }
                                      if (kept.size() == variants.size()) return json();  // not there: nothing to do
                                      if (kept.empty()) {
                                        return InvalidParameterError("'" + name + "' is the last deployment of endpoint '" +
                                                                     endpoint_name + "'; delete the endpoint instead.");
                                      }
                                      return kept;
                                    });
    return removed.code() == StatusCode::kResourceDoesNotExist ? OkStatus() : removed;
  }
  auto endpoint = s.Api(kDescribeEndpoint, {{"EndpointName", name}});
  if (!endpoint.ok()) {
    return endpoint.status().code() == StatusCode::kResourceDoesNotExist ? OkStatus() : endpoint.status();
  }
  auto endpoint_config = s.Api(kDescribeEndpointConfig, {{"EndpointConfigName", endpoint->value("EndpointConfigName", "")}});
  auto deleted = s.Api(kDeleteEndpoint, {{"EndpointName", name}});
  if (!deleted.ok() && deleted.status().code() != StatusCode::kResourceDoesNotExist) return deleted.status();
  if (!s.config.synchronous) return OkStatus();
  auto gone = impl_->Wait(s, name, "be deleted", [](const StatusOr<json>& d) -> std::optional<Status> {
    if (!d.ok()) {
      if (d.status().code() == StatusCode::kResourceDoesNotExist) return OkStatus();
      if (!IsTransient(d.status())) return d.status();
    }
    return std::nullopt;
  });
  if (!gone.ok()) return gone.status();
  if (!s.config.archive && endpoint_config.ok()) impl_->DeleteUnused(s, *endpoint_config, json::array());
  return OkStatus();
}

StatusOr<json> SageMakerClient::GetDeployment(const std::string& name, const std::string& endpoint) {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(ValidateName(name));
  auto session = impl_->Open(json::object());
  if (!session.ok()) return session.status();
  if (!endpoint.empty()) return impl_->DescribeVariant(*session, name, endpoint);
  return impl_->DescribeWithTags(*session, name);
}

StatusOr<json> SageMakerClient::ListDeployments(const std::string& endpoint) {
  auto session = impl_->Open(json::object());
  if (!session.ok()) return session.status();
  Impl::Session& s = *session;
  if (!endpoint.empty()) {
    auto described = impl_->DescribeWithTags(s, endpoint);
    if (!described.ok()) return described.status();
    json out = json::array();
    for (const auto& v : (*described)["variants"]) {
      auto variant = impl_->DescribeVariant(s, v["name"], endpoint);
      if (!variant.ok()) return variant.status();
      out.push_back(*variant);
    }
    return out;
  }
  json out = json::array();
  json page_request = {{"MaxResults", 100}};
  while (true) {
    auto page = s.Api(kListEndpoints, page_request);
    if (!page.ok()) return page.status();
    for (const auto& e : page->value("Endpoints", json::array())) {
      auto tags = s.Api(kListTags, {{"ResourceArn", e.value("EndpointArn", "")}});
      if (!tags.ok()) {
        if (tags.status().code() == StatusCode::kResourceDoesNotExist) continue;  // deleted meanwhile
        return tags.status();
      }
      json t = tags->value("Tags", json::array());
      if (!IsManaged(t)) continue;
      out.push_back({{"name", e.value("EndpointName", "")},
                     {"status", e.value("EndpointStatus", "")},
                     {"endpoint_arn", e.value("EndpointArn", "")},
                     {"model_uri", TagValue(t, kModelUriKey)},
                     {"creation_time", e.value("CreationTime", json())}});
    }
    if (!page->contains("NextToken") || (*page)["NextToken"].get<std::string>().empty()) break;
    page_request["NextToken"] = (*page)["NextToken"];
  }
  return out;
}

StatusOr<json> SageMakerClient::UpdateEndpointWeights(const std::string& endpoint, const json& config) {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(ValidateName(endpoint));
  json given = config.is_object() ? config : json::object();
  json weights = json::object(), counts = json::object();
  for (auto [key, into] : {std::pair<const char*, json*>{"weights", &weights}, {"instance_counts", &counts}}) {
    if (!given.contains(key)) continue;
    json v = given[key];
    if (v.is_string()) v = json::parse(v.get<std::string>(), nullptr, false);
    if (!v.is_object()) {
      return InvalidParameterError(std::string("Config key '") + key +
                                   "' must be a JSON object of deployment -> number, e.g. " +
                                   "'{\"blue\": 90, \"green\": 10}'.");
    }
    *into = v;
    given.erase(key);
  }
  if (weights.empty() && counts.empty()) {
    return InvalidParameterError(
        "update_endpoint needs -C weights='{\"<deployment>\": <weight>, ...}' and/or "
        "-C instance_counts='{\"<deployment>\": <count>}'.");
  }
  auto session = impl_->Open(given);
  if (!session.ok()) return session.status();
  Impl::Session& s = *session;
  auto current = impl_->DescribeWithTags(s, endpoint);
  if (!current.ok()) return current.status();
  std::set<std::string> known;
  for (const auto& v : (*current)["variants"]) known.insert(v["name"].get<std::string>());
  json desired = json::array();
  std::set<std::string> named;
  for (const auto* m : {&weights, &counts}) {
    for (const auto& [k, v] : m->items()) {
      if (!known.count(k)) return NotFoundError("Endpoint '" + endpoint + "' has no deployment named '" + k + "'.");
      if (!v.is_number() || v.get<double>() < 0) {
        return InvalidParameterError("The value for deployment '" + k + "' must be a number >= 0, got " + v.dump() + ".");
      }
      named.insert(k);
    }
  }
  for (const auto& k : named) {
    json d = {{"VariantName", k}};
    if (weights.contains(k)) d["DesiredWeight"] = weights[k];
    if (counts.contains(k)) d["DesiredInstanceCount"] = counts[k].get<int>();
    desired.push_back(d);
  }
  auto updated =
      s.Api(kUpdateEndpointWeightsAndCapacities, {{"EndpointName", endpoint}, {"DesiredWeightsAndCapacities", desired}});
  if (!updated.ok()) return updated.status();
  if (s.config.synchronous) {
    auto done = impl_->Wait(s, endpoint, "apply the new weights", [&](const StatusOr<json>& d) -> std::optional<Status> {
      if (!d.ok()) return IsTransient(d.status()) ? std::nullopt : std::optional<Status>(d.status());
      std::string status = d->value("EndpointStatus", "");
      if (status == "InService") return OkStatus();
      if (status == "Failed") return Impl::FailureOf(*d, endpoint);
      return std::nullopt;
    });
    if (!done.ok()) return done.status();
  }
  return impl_->DescribeWithTags(s, endpoint);
}

StatusOr<std::vector<std::string>> SageMakerClient::Predict(const std::string& name, const std::vector<std::string>& bodies,
                                                            const std::string& content_type, const std::string& endpoint) {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(ValidateName(name));
  auto session = impl_->Open(json::object());
  if (!session.ok()) return session.status();
  // With an endpoint, the deployment is a variant: address it directly.
  const std::string& target = endpoint.empty() ? name : endpoint;
  const std::string variant = endpoint.empty() ? "" : name;
  auto kind = impl_->Kind(*session, target, variant);
  if (!kind.ok()) return kind.status();
  std::vector<std::string> answers;
  for (size_t i = 0; i < bodies.size(); ++i) {
    StatusOr<std::string> answer = kind->async_output.empty()
                                       ? impl_->Invoke(*session, target, bodies[i], content_type, variant)
                                       : impl_->InvokeAsync(*session, target, kind->async_output, bodies[i], content_type);
    if (!answer.ok()) {
      impl_->Forget(target);  // the endpoint may have changed kind: look again next time
      std::string part =
          bodies.size() > 1 ? " (part " + std::to_string(i + 1) + " of " + std::to_string(bodies.size()) + ")" : "";
      return answer.status().WithContext("Scoring on SageMaker endpoint '" + target + "' failed" + part);
    }
    answers.push_back(std::move(*answer));
  }
  return answers;
}

}  // namespace mlflow_bridge
