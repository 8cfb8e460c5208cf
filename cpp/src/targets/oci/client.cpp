#include "targets/oci/client.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <tuple>
#include <regex>
#include <utility>

#include "common/env.h"
#include "common/rollback.h"
#include "common/strings.h"
#include "image/build_config.h"
#include "mlflow_bridge/image.h"
#include "mlflow_bridge/logging.h"
#include "mlflow_bridge/targets.h"
#include "oci/caller.h"
#include "targets/adapters.h"
#include "targets/managed_by.h"
#include "targets/oci/artifact.h"
#include "targets/registry_logins.h"
#include "targets/scoring.h"

namespace mlflow_bridge::internal {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// Freeform tags (OCI tag keys take no '/' or '.'): the managed-by mark, the MLflow name, the model.
constexpr char kTagManagedBy[] = "managed-by";
constexpr char kTagDeployment[] = "mlflow-deployment";
constexpr char kTagModelUri[] = "mlflow_model_uri";  // as oci-mlflow tags it
constexpr char kTagRunId[] = "mlflow_run_id";
// A conda deployment's pack, so that an update with a new model writes the same runtime.yaml.
constexpr char kTagCondaPack[] = "mlflow-bridge-conda-pack";
constexpr char kTagCondaPython[] = "mlflow-bridge-conda-python";
constexpr char kTagCondaSlug[] = "mlflow-bridge-conda-slug";
constexpr char kDeploymentOcid[] = "ocid1.datasciencemodeldeployment.";
constexpr size_t kMaxPredictBytes = 10u << 20;      // the predict endpoint's limit
constexpr uint64_t kMaxArtifactBytes = 2ull << 30;  // a model artifact uploaded directly (ADS's limit too)
// How long a rollback waits for a deployment it made to leave CREATING, so that it can be deleted.
constexpr std::chrono::minutes kSettleBound{30};

json Tags(const json& resource) { return resource.value("freeformTags", json::object()); }
bool Ours(const json& resource) { return Tags(resource).value(kTagManagedBy, "") == kManagedByValue; }
std::string State(const json& resource) { return resource.value("lifecycleState", ""); }
std::string Str(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

// Deployment names: the MLflow name is the display name (255 characters at most).
Status CheckName(const std::string& name) {
  static const std::regex kName("[A-Za-z0-9][A-Za-z0-9_.-]{0,254}");
  if (std::regex_match(name, kName) && name.rfind("ocid1.", 0) != 0) return OkStatus();
  return InvalidParameterError("'" + name +
                               "' cannot name an OCI model deployment here: 1 to 255 letters, digits, '-', '_' or '.', "
                               "a letter or digit first, not an OCID.");
}

// The model's display name: "<deployment>-<model version>" for models:/<name>/<version>, else its run.
std::string ModelDisplayName(const DeployRequest& request) {
  static const std::regex kVersion(R"(models:/[^/]+/([0-9]+))");
  std::smatch m;
  if (std::regex_match(request.model_uri, m, kVersion)) return request.name + "-v" + m[1].str();
  if (!request.run_id.empty()) return request.name + "-" + request.run_id.substr(0, 8);
  return request.name + "-model";
}

struct Call {
  OciConfig config;
  OciServices services;
  std::string compartment;         // where deployments are made (and looked for, when given)
  bool compartment_given = false;  // by -C compartment_id, the target URI or the notebook; else the root
};

class OciClient final : public DeploymentTarget {
 public:
  explicit OciClient(OciClientOptions options) : options_(std::move(options)) {
    if (!options_.services) options_.services = MakeOciServices;
    if (!options_.clock) options_.clock = SystemClock();
  }

  // ---------------------------------------------------------------- checks before a download
  Status CheckCreate(const DeployRequest& request) override {
    MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckName(request.name));
    MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckFlavor(request));
    StatusOr<Call> call = Begin(request.config);
    if (!call.ok()) return call.status();
    MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckCreateConfig(*call));
    StatusOr<std::optional<json>> there = FindByName(*call, request.name);
    if (!there.ok()) return there.status();
    if (there->has_value())
      return AlreadyExistsError("A model deployment named '" + request.name + "' already exists in compartment " +
                                call->compartment + " (" + Str(**there, "id") + "): update it, or pick another name.");
    return OkStatus();
  }

  Status CheckUpdate(const DeployRequest& request) override {
    MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckFlavor(request));
    StatusOr<Call> call = Begin(request.config);
    if (!call.ok()) return call.status();
    StatusOr<OciResource> dep = Find(*call, request.name);
    if (!dep.ok()) return dep.status();
    return CheckOurs(dep->body);
  }

  bool NeedsModelFiles(const std::string&, const json&) const override { return true; }

  // ---------------------------------------------------------------- deployments
  StatusOr<json> CreateDeployment(const DeployRequest& request) override {
    MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckName(request.name));
    StatusOr<Call> call = Begin(request.config);
    if (!call.ok()) return call.status();
    Call& c = *call;
    MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckCreateConfig(c));
    MLFLOW_BRIDGE_RETURN_IF_ERROR(ResolveServicePack(c));
    RollbackRecord rollback;
    auto fail = [&](const Status& s) { return s.WithSuffix(" " + rollback.UndoAndSay("Nothing was left behind.")); };

    StatusOr<std::pair<std::string, std::string>> image = Image(c, request);  // (image, digest); none for conda
    if (!image.ok()) return image.status();
    StatusOr<std::string> model = MakeModel(c, request, rollback);
    if (!model.ok()) return fail(model.status());

    json tags = UserTagsAndMark(c, request, /*with_pack=*/true);
    json details = {{"displayName", request.name},
                    {"description", Description(c, request)},
                    {"projectId", c.config.project_id},
                    {"compartmentId", c.compartment},
                    {"modelDeploymentConfigurationDetails",
                     {{"deploymentType", "SINGLE_MODEL"},
                      {"modelConfigurationDetails", ModelConfiguration(c.config, *model)},
                      {"environmentConfigurationDetails", Environment(c.config, image->first, image->second)}}},
                    {"freeformTags", tags},
                    {"definedTags", c.config.defined_tags}};
    if (json logs = Logs(c.config); !logs.empty()) details["categoryLogDetails"] = logs;

    LogInfo("Creating model deployment '" + request.name + "' in compartment " + c.compartment + " (" + c.config.runtime +
            " runtime, " + c.config.shape + ", " + std::to_string(c.config.instance_count) + " instance(s))");
    auto ds = c.services.ds;
    // Recorded before the call: a reply lost on the way may hide a deployment that exists (found by name).
    const std::string name = request.name;
    rollback.Add("delete model deployment '" + name + "'", [this, &c, name] { return DeleteIfThere(c, name); });
    StatusOr<OciResource> created = ds->CreateModelDeployment(details, NewOciRequestId());
    if (!created.ok()) return fail(created.status());
    if (!c.config.synchronous) {
      Remember(c, name, c.compartment);
      return Describe(created->body);
    }
    StatusOr<json> done =
        Finish(c, created->work_request_id, Str(created->body, "id"), "creation of model deployment '" + name + "'");
    if (!done.ok()) return fail(done.status());
    Remember(c, name, c.compartment);
    return Describe(*done);
  }

  StatusOr<json> UpdateDeployment(const DeployRequest& request) override {
    MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckFlavor(request));
    StatusOr<Call> call = Begin(request.config);
    if (!call.ok()) return call.status();
    Call& c = *call;
    StatusOr<OciResource> found = Find(c, request.name);
    if (!found.ok()) return found.status();
    MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckOurs(found->body));
    const json current = found->body;
    const std::string id = Str(current, "id");
    const std::string what = "model deployment '" + current.value("displayName", id) + "'";
    const std::set<std::string>& given = c.config.given;
    const json cfg = current.value("modelDeploymentConfigurationDetails", json::object());
    const json env = cfg.value("environmentConfigurationDetails", json::object());
    const json instance =
        cfg.value("modelConfigurationDetails", json::object()).value("instanceConfiguration", json::object());
    // What a model deployment keeps for life may be given again (the same deploy-config-file), not changed.
    const std::string runtime =
        env.value("environmentConfigurationType", "DEFAULT") == "OCIR_CONTAINER" ? "container" : "conda";
    for (const auto& [key, now, wanted] :
         {std::tuple{"compartment_id", Str(current, "compartmentId"), c.config.compartment_id},
          std::tuple{"project_id", Str(current, "projectId"), c.config.project_id},
          std::tuple{"runtime", runtime, c.config.runtime},
          std::tuple{"subnet_id", Str(instance, "subnetId"), c.config.subnet_id},
          std::tuple{"private_endpoint_id", Str(instance, "privateEndpointId"), c.config.private_endpoint_id}})
      if (given.count(key) && wanted != now)
        return InvalidParameterError("Config key '" + std::string(key) + "' cannot change on an existing " + what +
                                     " (it is '" + now + "'): delete it and create it again.");
    // New models go where the deployment is.
    c.config.project_id = Str(current, "projectId");
    c.compartment = Str(current, "compartmentId");
    c.config.runtime = runtime;
    const json old_tags = Tags(current);
    if (runtime == "conda" && !given.count("conda_pack") && !given.count("conda_slug")) {
      // The pack it runs (from its tags) goes into the new model's runtime.yaml again.
      c.config.conda_pack = old_tags.value(kTagCondaPack, "");
      c.config.conda_slug = old_tags.value(kTagCondaSlug, "");
      if (!given.count("python_version")) c.config.python_version = old_tags.value(kTagCondaPython, "");
    }
    RollbackRecord rollback;
    auto fail = [&](const Status& s) {
      return s.WithSuffix(" " + rollback.UndoAndSay("The deployment was left as it was."));
    };

    // The PUT: what changed, on top of what the deployment has.
    json mc = cfg.value("modelConfigurationDetails", json::object());
    const std::string old_model = Str(mc, "modelId");
    std::string new_model;
    json new_env;
    if (!request.model_dir.empty()) {
      MLFLOW_BRIDGE_RETURN_IF_ERROR(ResolveServicePack(c));
      if (c.config.runtime == "conda" && (c.config.conda_pack.empty() || c.config.python_version.empty()))
        return InvalidParameterError(
            "The new model's artifact needs its conda pack: -C conda_pack=oci://... -C "
            "python_version=... (" +
            what + " does not say which it runs).");
      StatusOr<std::pair<std::string, std::string>> image = Image(c, request);
      if (!image.ok()) return image.status();
      StatusOr<std::string> model = MakeModel(c, request, rollback);
      if (!model.ok()) return fail(model.status());
      new_model = *model;
      if (!image->first.empty()) new_env = Environment(c.config, image->first, image->second, &env);
    }
    json wanted = ModelConfiguration(c.config, new_model.empty() ? old_model : new_model, &mc);
    if (new_env.is_null() &&
        (given.count("env") || given.count("web_concurrency") || given.count("image") || given.count("image_digest") ||
         given.count("port") || given.count("cmd") || given.count("entrypoint")))
      new_env = Environment(c.config, c.config.image.empty() ? Str(env, "image") : c.config.image,
                            c.config.image.empty() ? Str(env, "imageDigest") : c.config.image_digest, &env);
    // While ACTIVE, OCI swaps the model, shape and instance count with no downtime, and changes the load
    // balancer's bandwidth and the logs independently: two PUTs when both kinds change (one when asynchronous).
    json same_bandwidth = wanted;
    if (mc.contains("bandwidthMbps")) same_bandwidth["bandwidthMbps"] = mc["bandwidthMbps"];
    json body = json::object(), network = json::object();
    if (same_bandwidth != mc || !new_env.is_null()) {
      body["modelDeploymentConfigurationDetails"] = {{"deploymentType", "SINGLE_MODEL"},
                                                     {"modelConfigurationDetails", same_bandwidth}};
      if (!new_env.is_null()) body["modelDeploymentConfigurationDetails"]["environmentConfigurationDetails"] = new_env;
    }
    if (wanted != same_bandwidth)
      network["modelDeploymentConfigurationDetails"] = {{"deploymentType", "SINGLE_MODEL"},
                                                        {"modelConfigurationDetails", wanted}};
    json logs = Logs(c.config);
    const json old_logs = current.value("categoryLogDetails", json());
    for (const auto& [category, log] : logs.items())
      if (!old_logs.is_object() || old_logs.value(category, json()) != log) network["categoryLogDetails"] = logs;
    if (given.count("description")) body["description"] = c.config.description;
    if (given.count("defined_tags")) body["definedTags"] = c.config.defined_tags;
    json tags = old_tags;
    tags.update(c.config.freeform_tags);
    if (!request.model_dir.empty()) tags.update(MarkTags(c, request, /*with_pack=*/true));
    if (tags != old_tags) body["freeformTags"] = tags;
    if (!c.config.synchronous || body.empty()) {
      body.update(network);  // one PUT
      network = json::object();
    }

    json result = current;
    std::string etag = found->etag;
    if (body.contains("modelDeploymentConfigurationDetails") || network.contains("modelDeploymentConfigurationDetails"))
      // Undone first if what follows fails (the service may have applied it): the model it served goes back.
      rollback.Add("restore " + what, [this, &c, current] { return Restore(c, current); });
    for (const json* put : {&body, &network}) {
      if (put->empty()) continue;
      LogInfo("Updating " + what + (new_model.empty() || put == &network ? "" : " to model " + new_model));
      StatusOr<OciResource> started = c.services.ds->UpdateModelDeployment(id, *put, etag);
      if (!started.ok()) return fail(started.status());
      if (!c.config.synchronous) {
        if (!new_model.empty())
          LogInfo("Model " + old_model + " stays until the deployment is deleted (the update goes on at OCI).");
        return Describe(current);
      }
      StatusOr<json> done = Finish(c, started->work_request_id, id, "update of " + what);
      if (!done.ok()) return fail(done.status());
      result = *done;
      if (put == &body && !network.empty()) {
        StatusOr<OciResource> fresh = c.services.ds->GetModelDeployment(id);
        if (!fresh.ok()) return fail(fresh.status());
        etag = fresh->etag;
      }
    }
    if (c.config.active.has_value()) {
      StatusOr<json> toggled = Toggle(c, result, *c.config.active, what);
      if (!toggled.ok()) return toggled.status();
      result = *toggled;
    }
    // The model it served before, when this plugin made it and nothing else serves it now.
    if (!new_model.empty() && old_model != new_model) DeleteModelIfOurs(c, old_model);
    return Describe(result);
  }

  Status DeleteDeployment(const std::string& name, const std::string&, const json& config) override {
    StatusOr<Call> call = Begin(config);
    if (!call.ok()) return call.status();
    Call& c = *call;
    StatusOr<OciResource> found = Find(c, name);
    if (!found.ok()) return found.status();
    MLFLOW_BRIDGE_RETURN_IF_ERROR(CheckOurs(found->body));
    const json dep = found->body;
    const std::string mlflow_name = Tags(dep).value(kTagDeployment, "");
    MLFLOW_BRIDGE_RETURN_IF_ERROR(DeleteAndWait(c, Str(dep, "id"), found->etag, "model deployment '" + name + "'"));
    // Its models go after it (the service refuses to delete a model a deployment serves): every one this plugin
    // made for it, also one an asynchronous update left behind.
    StatusOr<json> models = c.services.ds->ListModels({Str(dep, "compartmentId"), {{"projectId", Str(dep, "projectId")}}});
    if (!models.ok()) {
      LogWarning("Could not list the models made for model deployment '" + name + "': " + models.status().message());
    } else {
      for (const json& model : *models)
        if (Ours(model) && Tags(model).value(kTagDeployment, "") == mlflow_name && State(model) != "DELETED")
          DeleteModelIfOurs(c, Str(model, "id"));
    }
    Remember(c, mlflow_name, "");
    return OkStatus();
  }

  StatusOr<json> GetDeployment(const std::string& name, const std::string&) override {
    StatusOr<Call> call = Begin(json::object());
    if (!call.ok()) return call.status();
    StatusOr<OciResource> found = Find(*call, name);
    if (!found.ok()) return found.status();
    return Describe(found->body);
  }

  StatusOr<json> ListDeployments(const std::string&) override {
    StatusOr<Call> call = Begin(json::object());
    if (!call.ok()) return call.status();
    // The compartment given, else the root and those this machine made deployments in.
    std::set<std::string> compartments = {call->compartment};
    if (!call->compartment_given) {
      const json here = Remembered().value(call->services.region, json::object());
      for (const auto& [name, compartment] : here.items())
        if (compartment.is_string()) compartments.insert(compartment.get<std::string>());
    }
    json out = json::array();
    for (const std::string& compartment : compartments) {
      StatusOr<json> all = call->services.ds->ListModelDeployments({compartment, {}});
      if (!all.ok()) return all.status();
      for (const json& dep : *all)
        if (Ours(dep) && State(dep) != "DELETED") out.push_back(Describe(dep));
    }
    return out;
  }

  // ---------------------------------------------------------------- predict
  StatusOr<std::vector<std::string>> Predict(const std::string& name, const std::string& endpoint,
                                             const std::vector<std::string>& bodies,
                                             const std::string& content_type) override {
    const std::string which = name.empty() ? endpoint : name;
    if (which.empty()) return InvalidParameterError("predict needs the deployment's name (--name) or OCID.");
    StatusOr<Call> call = Begin(json::object());
    if (!call.ok()) return call.status();
    StatusOr<OciResource> found = Find(*call, which);
    if (!found.ok()) return found.status();
    const json& dep = found->body;
    const std::string state = State(dep);
    if (state != "ACTIVE" && state != "UPDATING")
      return UnavailableError("Model deployment '" + which + "' is " + state + ", not ACTIVE: it cannot score" +
                              (state == "INACTIVE" ? " (activate it: update with -C active=true)." : "."));
    ScoringCall scoring;
    scoring.url = Str(dep, "modelDeploymentUrl") + "/predict";
    scoring.content_type = content_type;
    scoring.transport = call->services.scoring;
    scoring.clock = options_.clock;
    scoring.timeout = std::chrono::seconds(60);  // the predict endpoint's own limit
    scoring.what = "OCI model deployment '" + which + "'";
    scoring.payload_limit_hint = "OCI's predict endpoint takes at most 10 MB";
    std::vector<std::string> answers;
    for (const std::string& body : bodies) {
      scoring.body = body;
      StatusOr<std::string> answer = Score(scoring);
      if (!answer.ok()) return answer.status();
      // mlflow-bridge's score.py answers MLflow's error JSON with a 200 (the service would turn an exception
      // into a bare 500): it is the model server's refusal.
      json parsed = json::parse(*answer, nullptr, false);
      if (parsed.is_object() && parsed.contains("error_code") && parsed.contains("message") &&
          !parsed.contains("predictions"))
        return InvalidParameterError(scoring.what + " rejected the input: " + parsed.value("message", ""));
      answers.push_back(std::move(*answer));
    }
    return answers;
  }

  size_t MaxPayloadBytes() const override { return kMaxPredictBytes; }

 private:
  StatusOr<Call> Begin(const json& given) {
    StatusOr<OciConfig> config = ParseOciConfig(given);
    if (!config.ok()) return config.status();
    StatusOr<OciServices> services = options_.services(options_.target, *config);
    if (!services.ok()) return services.status();
    Call c{std::move(*config), std::move(*services), "", true};
    // The compartment: -C compartment_id, else the target URI's, else the notebook's, else the tenancy's root.
    if (c.config.given.count("compartment_id") || options_.target.compartment_id.empty())
      c.compartment = c.config.compartment_id;
    else c.compartment = options_.target.compartment_id;
    if (c.compartment.empty()) {
      c.compartment = c.services.tenancy;
      c.compartment_given = false;
    }
    if (c.compartment.empty())
      return InvalidParameterError(
          "No compartment: pass -C compartment_id=ocid1.compartment..., or name it in the target URI "
          "(oci-endpoints:/<region>/<compartment OCID>).");
    return c;
  }

  static Status CheckFlavor(const DeployRequest& request) {
    if (request.flavor.empty() || request.flavor == "python_function") return OkStatus();
    return InvalidParameterError(
        "OCI model deployments serve MLflow models through their python_function flavor; got flavor '" + request.flavor +
        "'.");
  }

  static Status CheckCreateConfig(const Call& c) {
    if (!c.config.given.count("compartment_id") && c.config.compartment_id.empty() &&
        c.compartment.rfind("ocid1.tenancy.", 0) == 0)
      LogInfo("No compartment given: using the tenancy's root compartment " + c.compartment + ".");
    if (c.config.project_id.empty())
      return InvalidParameterError(
          "create needs the Data Science project: -C project_id=ocid1.datascienceproject... (or spec.infrastructure.spec."
          "projectId in the deploy-config-file).");
    if (c.config.runtime.empty())
      return InvalidParameterError(
          "create needs a runtime: -C runtime=conda with conda_pack=oci://<bucket>@<namespace>/<path> and python_version, "
          "or -C runtime=container with registry=<region>.ocir.io/<namespace>/<repository> (or image=...).");
    if (c.config.runtime == "conda" && c.config.conda_pack.empty() && c.config.conda_slug.empty())
      return InvalidParameterError(
          "runtime conda needs a conda pack: a published one (-C conda_pack=oci://<bucket>@<namespace>/<path> and "
          "python_version) or a service pack by its slug (-C conda_slug=generalml_p311_cpu_x86_64_v1).");
    return OkStatus();
  }

  // conda_slug without conda_pack: the service pack's path and Python from the service packs' index, read as ADS
  // reads it (oci://$CONDA_BUCKET_NAME@$CONDA_BUCKET_NS/service_pack/index.json, default service-conda-packs in
  // namespace id19sfcrra6z).
  Status ResolveServicePack(Call& c) {
    if (c.config.runtime != "conda" || !c.config.conda_pack.empty() || c.config.conda_slug.empty()) return OkStatus();
    const std::string ns = GetEnv("CONDA_BUCKET_NS").value_or("id19sfcrra6z");
    const std::string bucket = GetEnv("CONDA_BUCKET_NAME").value_or("service-conda-packs");
    const std::string index = "oci://" + bucket + "@" + ns + "/service_pack/index.json";
    if (!c.services.object_storage) return InternalError("No Object Storage client to read " + index + ".");
    auto storage = c.services.object_storage;
    StatusOr<OciReply> read =
        RetryLoop<OciReply>(RetryPolicy{}, BackoffPolicy{}, Idempotency::kIdempotent, *options_.clock, "GetObject", [&]() {
          return storage->Call({"GET", "/n/" + OciPathSegment(ns) + "/b/" + OciPathSegment(bucket) + "/o/" +
                                           OciPathSegment("service_pack/index.json")},
                               "Reading the service conda packs' index " + index);
        });
    if (!read.ok()) return read.status();
    const json packs = read->body.is_object() ? read->body.value("service_packs", json::array()) : json::array();
    std::vector<std::string> slugs;
    for (const json& pack : packs) {
      const std::string slug = Str(pack, "slug");
      slugs.push_back(slug);
      if (slug != c.config.conda_slug) continue;
      // The index names the packs in the service's home bucket; the path inside is the same in every region.
      std::string path = Str(pack, "pack_path");
      const size_t root = path.find('/', path.find("@"));
      if (path.rfind("oci://", 0) != 0 || root == std::string::npos)
        return InternalError("The service conda packs' index " + index + " gives pack '" + slug + "' the path '" + path +
                             "', which is no oci:// URI.");
      c.config.conda_pack = "oci://" + bucket + "@" + ns + path.substr(root);
      if (c.config.python_version.empty()) c.config.python_version = Str(pack, "python");
      LogInfo("Service conda pack " + slug + ": " + c.config.conda_pack + " (Python " + c.config.python_version + ")");
      return OkStatus();
    }
    std::sort(slugs.begin(), slugs.end());
    return InvalidParameterError("No service conda pack has the slug '" + c.config.conda_slug + "' (in " + index +
                                 "). The slugs there: " + Join(slugs) + ".");
  }

  static Status CheckOurs(const json& dep) {
    if (Ours(dep)) return OkStatus();
    return PermissionDeniedError("Model deployment '" + dep.value("displayName", "") + "' (" + Str(dep, "id") +
                                 ") was not made by mlflow-bridge (it has no freeform tag " + kTagManagedBy + "=" +
                                 kManagedByValue + "), so it is left alone: change it with the OCI console, CLI or SDK.");
  }

  // The deployment `name_or_id` names: by OCID, else the one of ours with that display name in the compartment.
  StatusOr<OciResource> Find(Call& c, const std::string& name_or_id) {
    if (name_or_id.rfind(kDeploymentOcid, 0) == 0) {
      StatusOr<OciResource> dep = c.services.ds->GetModelDeployment(name_or_id);
      if (dep.ok() && State(dep->body) == "DELETED")
        return NotFoundError("Model deployment " + name_or_id + " was deleted.");
      return dep;
    }
    StatusOr<std::optional<json>> found = FindByName(c, name_or_id);
    if (!found.ok()) return found.status();
    if (!found->has_value())
      return NotFoundError("No model deployment named '" + name_or_id + "' made by mlflow-bridge in compartment " +
                           Where(c, name_or_id) + " (region " + c.services.region +
                           "). Name another compartment with -C compartment_id or in the target URI "
                           "(oci-endpoints:/<region>/<compartment OCID>), or give the deployment's OCID.");
    return c.services.ds->GetModelDeployment(Str(**found, "id"));
  }

  StatusOr<std::optional<json>> FindByName(Call& c, const std::string& name) {
    const std::string where = Where(c, name);
    StatusOr<json> listed = c.services.ds->ListModelDeployments({where, {{"displayName", name}}});
    if (!listed.ok()) return listed.status();
    std::vector<json> ours;
    for (const json& dep : *listed)
      if (Ours(dep) && Tags(dep).value(kTagDeployment, "") == name && State(dep) != "DELETED") ours.push_back(dep);
    if (ours.empty()) return std::optional<json>();
    if (ours.size() > 1)
      return InvalidParameterError("Several model deployments are named '" + name + "' in compartment " + where +
                                   ": give the OCID of the one you mean.");
    return std::optional<json>(ours[0]);
  }

  // The freeform tags mlflow-bridge puts on a deployment and its models: the managed-by mark, the MLflow name and
  // model; `with_pack` (the deployment): a conda deployment's pack too.
  static json MarkTags(const Call& c, const DeployRequest& request, bool with_pack) {
    json tags = {{kTagManagedBy, kManagedByValue},
                 {kTagDeployment, request.name},
                 {kTagModelUri, request.model_uri},
                 {kTagRunId, request.run_id}};
    if (with_pack && c.config.runtime == "conda") {
      tags[kTagCondaPack] = c.config.conda_pack;
      tags[kTagCondaPython] = c.config.python_version;
      if (!c.config.conda_slug.empty()) tags[kTagCondaSlug] = c.config.conda_slug;
    }
    return tags;
  }

  // The user's freeform tags with ours over them.
  static json UserTagsAndMark(const Call& c, const DeployRequest& request, bool with_pack) {
    json tags = c.config.freeform_tags;
    tags.update(MarkTags(c, request, with_pack));
    return tags;
  }

  static std::string Description(const Call& c, const DeployRequest& request) {
    return c.config.description.empty() ? "MLflow model " + request.model_uri + ", deployed by mlflow-bridge"
                                        : c.config.description;
  }

  // modelConfigurationDetails: `current`'s (update) with what the config gives, else the config's.
  static json ModelConfiguration(const OciConfig& config, const std::string& model_id, const json* current = nullptr) {
    const std::set<std::string>& given = config.given;
    const bool update = current != nullptr;
    json mc = update ? *current : json::object();
    mc["modelId"] = model_id;
    json instance = mc.value("instanceConfiguration", json::object());
    if (!update || given.count("shape")) instance["instanceShapeName"] = config.shape;
    const std::string shape = instance.value("instanceShapeName", config.shape);
    const bool flex = shape.size() > 5 && shape.compare(shape.size() - 5, 5, ".Flex") == 0;
    if (flex) {
      json sc = instance.value("modelDeploymentInstanceShapeConfigDetails", json::object());
      if (!update || given.count("ocpus") || !sc.contains("ocpus")) sc["ocpus"] = config.ocpus.value_or(1.0);
      if (!update || given.count("memory_gb") || !sc.contains("memoryInGBs"))
        sc["memoryInGBs"] = config.memory_gb.value_or(16.0);
      instance["modelDeploymentInstanceShapeConfigDetails"] = sc;
    } else {
      instance.erase("modelDeploymentInstanceShapeConfigDetails");
    }
    if (!config.subnet_id.empty()) instance["subnetId"] = config.subnet_id;
    if (!config.private_endpoint_id.empty()) instance["privateEndpointId"] = config.private_endpoint_id;
    mc["instanceConfiguration"] = instance;
    if (!update || given.count("instance_count"))
      mc["scalingPolicy"] = {{"policyType", "FIXED_SIZE"}, {"instanceCount", config.instance_count}};
    if (!update || given.count("bandwidth_mbps")) mc["bandwidthMbps"] = config.bandwidth_mbps;
    return mc;
  }

  // environmentConfigurationDetails for the runtime; `current` (update): the variables not given are kept.
  static json Environment(const OciConfig& config, const std::string& image, const std::string& digest,
                          const json* current = nullptr) {
    json variables = current != nullptr && !config.given.count("env")
                         ? current->value("environmentVariables", json::object())
                         : config.env;
    if (config.web_concurrency > 0) variables["WEB_CONCURRENCY"] = std::to_string(config.web_concurrency);
    if (config.runtime == "conda") return {{"environmentConfigurationType", "DEFAULT"}, {"environmentVariables", variables}};
    json env = {{"environmentConfigurationType", "OCIR_CONTAINER"},
                {"image", image},
                {"serverPort", config.port},
                {"healthCheckPort", config.port},
                {"environmentVariables", variables}};
    if (current != nullptr && !config.given.count("port")) {
      for (const char* port : {"serverPort", "healthCheckPort"})
        if (current->contains(port)) env[port] = (*current)[port];
    }
    if (!digest.empty()) env["imageDigest"] = digest;
    auto list = [&](const char* key, const std::vector<std::string>& given) {
      if (!given.empty()) {
        env[key] = given;
      } else if (current != nullptr && current->contains(key) && !(*current)[key].is_null()) {
        env[key] = (*current)[key];
      }
    };
    list("cmd", config.cmd);
    list("entrypoint", config.entrypoint);
    return env;
  }

  static json Logs(const OciConfig& config) {
    json logs = json::object();
    auto add = [&](const char* key, const OciLogDetails& log) {
      if (log.given()) logs[key] = {{"logGroupId", log.log_group_id}, {"logId", log.log_id}};
    };
    add("access", config.access_log);
    add("predict", config.predict_log);
    return logs;
  }

  // The container runtime's image: built from the model and pushed (registry), or the one given (image);
  // ("", "") for conda.
  StatusOr<std::pair<std::string, std::string>> Image(Call& c, const DeployRequest& request) {
    if (c.config.runtime != "container") return std::pair<std::string, std::string>();
    if (c.config.registry.empty()) return std::pair{c.config.image, c.config.image_digest};
    ImageBuilderOptions builder =
        TargetImageBuilderOptions(options_.image_work_dir, options_.clock, options_.interrupted, options_.serve_dir);
    DeploymentImages images(std::move(builder));
    json keys = ImageBuildKeys(c.config.build);
    keys["port"] = c.config.port;
    LogInfo("Building the model's image for " + c.config.registry);
    StatusOr<std::string> pushed =
        images.Build(c.config.registry, request.name,
                     {request.model_dir, request.model_uri, request.run_id, request.python, request.mlflow_version, keys});
    if (!pushed.ok()) return pushed.status();
    // <registry>/<repository>@sha256:...: OCI takes the tag the image was pushed under, and the digest.
    const size_t at = pushed->find('@');
    std::string repository = pushed->substr(0, at);
    std::string reference = c.config.registry;
    const size_t slash = reference.rfind('/');
    const size_t colon = reference.rfind(':');
    std::string tag = colon != std::string::npos && colon > slash ? reference.substr(colon + 1) : request.name;
    return std::pair{repository + ":" + tag, pushed->substr(at + 1)};
  }

  // A Data Science model holding the MLflow model's artifact, recorded for rollback.
  StatusOr<std::string> MakeModel(Call& c, const DeployRequest& request, RollbackRecord& rollback) {
    if (request.model_dir.empty())
      return InvalidParameterError("The model's files were not downloaded for '" + request.model_uri + "'.");
    std::error_code ec;
    fs::create_directories(options_.work_dir, ec);
    const std::string zip = options_.work_dir + "/" + request.name + "-" + NewOciRequestId() + ".zip";
    StatusOr<TarResult> written = WriteOciArtifact(request.model_dir, c.config, zip);
    if (!written.ok()) return written.status();
    struct RemoveZip {
      std::string path;
      ~RemoveZip() {
        std::error_code ignored;
        fs::remove(path, ignored);
      }
    } remove_zip{zip};
    if (written->size > kMaxArtifactBytes)
      return InvalidParameterError("The model's artifact is " + std::to_string(written->size >> 20) +
                                   " MiB zipped; OCI takes at most 2 GiB uploaded directly (a larger one goes through "
                                   "Object Storage, which mlflow-bridge does not do yet).");

    json tags = UserTagsAndMark(c, request, /*with_pack=*/false);
    json details = {
        {"compartmentId", c.compartment},
        {"projectId", c.config.project_id},
        {"displayName", ModelDisplayName(request)},
        {"description", "MLflow model " + request.model_uri + ", deployed by mlflow-bridge as '" + request.name + "'"},
        {"freeformTags", tags},
        {"definedTags", c.config.defined_tags}};
    auto ds = c.services.ds;
    StatusOr<OciResource> model = ds->CreateModel(details, NewOciRequestId());
    if (!model.ok()) return model.status();
    const std::string id = Str(model->body, "id");
    rollback.Add("delete model " + id, [ds, id] { return ds->DeleteModel(id); });
    LogInfo("Uploading the model's artifact (" + std::to_string(written->size >> 10) + " KiB) to model " + id);
    int reported = -1;  // the tenth of the artifact last said
    auto progress = [&reported](uint64_t sent, uint64_t total) {
      const int tenth = total == 0 ? 10 : static_cast<int>(sent * 10 / total);
      if (tenth == reported) return;
      reported = tenth;
      LogInfo("Uploading the model's artifact: " + std::to_string(sent >> 10) + " of " + std::to_string(total >> 10) +
              " KiB");
    };
    MLFLOW_BRIDGE_RETURN_IF_ERROR(
        ds->CreateModelArtifact(id, zip, written->size, request.name + ".zip", NewOciRequestId(), progress));
    return id;
  }

  // Deletes the model if it carries our mark; a failure is a warning (the deployment call succeeded).
  void DeleteModelIfOurs(Call& c, const std::string& model_id) {
    if (model_id.empty()) return;
    StatusOr<OciResource> model = c.services.ds->GetModel(model_id);
    if (!model.ok() || !Ours(model->body) || State(model->body) == "DELETED") return;
    Status deleted = c.services.ds->DeleteModel(model_id);
    if (deleted.ok()) {
      LogInfo("Deleted model " + model_id + ", which mlflow-bridge made for the deployment.");
    } else {
      LogWarning("Could not delete model " + model_id + ": " + deleted.message());
    }
  }

  // The deployment once no work request runs on it (OCI changes and deletes a deployment only then; a create or
  // update that timed out goes on), for a rollback: up to kSettleBound.
  StatusOr<OciResource> Settled(Call& c, const std::string& id, const std::string& why) {
    StatusOr<OciResource> dep = c.services.ds->GetModelDeployment(id);
    const auto deadline = options_.clock->Now() + kSettleBound;
    bool said = false;
    while (dep.ok() && (State(dep->body) == "CREATING" || State(dep->body) == "UPDATING") &&
           options_.clock->Now() < deadline && !(options_.interrupted && options_.interrupted())) {
      if (!said) LogInfo("Waiting for model deployment " + id + " to leave " + State(dep->body) + " to " + why);
      said = true;
      options_.clock->SleepFor(std::chrono::milliseconds(static_cast<long>(c.config.poll_interval_seconds * 1000)));
      dep = c.services.ds->GetModelDeployment(id);
    }
    return dep;
  }

  // Rollback of a create: the deployment of that name, if it got made, deleted and waited for.
  Status DeleteIfThere(Call& c, const std::string& name) {
    StatusOr<std::optional<json>> found = FindByName(c, name);
    if (!found.ok()) return found.status();
    if (!found->has_value()) return OkStatus();
    StatusOr<OciResource> dep = Settled(c, Str(**found, "id"), "delete it");
    if (!dep.ok()) return dep.status();
    return DeleteAndWait(c, Str(dep->body, "id"), dep->etag, "model deployment '" + name + "'", kSettleBound);
  }

  // Rollback of an update: the deployment's model and environment put back as they were.
  Status Restore(Call& c, const json& before) {
    const std::string id = Str(before, "id");
    StatusOr<OciResource> dep = Settled(c, id, "restore it");
    if (!dep.ok()) return dep.status();
    json cfg = before.value("modelDeploymentConfigurationDetails", json::object());
    json body = {{"modelDeploymentConfigurationDetails",
                  {{"deploymentType", "SINGLE_MODEL"},
                   {"modelConfigurationDetails", cfg.value("modelConfigurationDetails", json::object())}}},
                 {"freeformTags", Tags(before)}};
    if (cfg.contains("environmentConfigurationDetails"))
      body["modelDeploymentConfigurationDetails"]["environmentConfigurationDetails"] =
          cfg["environmentConfigurationDetails"];
    StatusOr<OciResource> started = c.services.ds->UpdateModelDeployment(id, body, dep->etag);
    if (!started.ok()) return started.status();
    return Wait(c, started->work_request_id, "restore of model deployment " + id, kSettleBound);
  }

  Status DeleteAndWait(Call& c, const std::string& id, const std::string& etag, const std::string& what,
                       std::optional<std::chrono::seconds> timeout = std::nullopt) {
    LogInfo("Deleting " + what);
    StatusOr<OciResource> started = c.services.ds->DeleteModelDeployment(id, etag);
    if (!started.ok()) return started.status();
    return Wait(c, started->work_request_id, "deletion of " + what, timeout);
  }

  // Activates (true) or deactivates the deployment when it is not so already.
  StatusOr<json> Toggle(Call& c, const json& dep, bool active, const std::string& what) {
    const std::string id = Str(dep, "id");
    if (active == (State(dep) == "ACTIVE")) return dep;
    StatusOr<OciResource> fresh = c.services.ds->GetModelDeployment(id);
    if (!fresh.ok()) return fresh.status();
    LogInfo((active ? "Activating " : "Deactivating ") + what);
    StatusOr<OciResource> started = active ? c.services.ds->ActivateModelDeployment(id, fresh->etag)
                                           : c.services.ds->DeactivateModelDeployment(id, fresh->etag);
    if (!started.ok()) return started.status();
    if (!c.config.synchronous) return fresh->body;
    return Finish(c, started->work_request_id, id, (active ? "activation of " : "deactivation of ") + what);
  }

  // Waits for the work request, then reads the deployment: ACTIVE or INACTIVE, else its work request's errors.
  StatusOr<json> Finish(Call& c, const std::string& work_request, const std::string& id, const std::string& what) {
    MLFLOW_BRIDGE_RETURN_IF_ERROR(Wait(c, work_request, what));
    StatusOr<OciResource> dep = c.services.ds->GetModelDeployment(id);
    if (!dep.ok()) return dep.status();
    const std::string state = State(dep->body);
    if (state == "ACTIVE" || state == "INACTIVE") return dep->body;
    return InternalError("The " + what + " ended with the deployment " + state + ": " +
                         dep->body.value("lifecycleDetails", json("")).dump() + Errors(c, work_request));
  }

  // Follows a work request to its end, with progress; FAILED or CANCELED is an error with its errors and logs.
  // `timeout`: instead of the config's timeout_seconds (a rollback's).
  Status Wait(Call& c, const std::string& work_request, const std::string& what,
              std::optional<std::chrono::seconds> timeout = std::nullopt) {
    if (work_request.empty()) return OkStatus();  // done at once
    const auto start = options_.clock->Now();
    const auto limit = timeout.value_or(std::chrono::seconds(c.config.timeout_seconds));
    const auto deadline = start + limit;
    const auto interval = std::chrono::milliseconds(static_cast<long>(c.config.poll_interval_seconds * 1000));
    std::string last;
    for (;;) {
      StatusOr<OciWorkRequest> wr = c.services.ds->GetWorkRequest(work_request);
      if (!wr.ok()) return wr.status();
      const std::string status = wr->body.value("status", "");
      if (status == "SUCCEEDED") return OkStatus();
      if (status == "FAILED" || status == "CANCELED")
        return InternalError("The " + what + " " + ToLower(status) + " (work request " + work_request + ")." +
                             Errors(c, work_request));
      const auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(options_.clock->Now() - start);
      json percent = wr->body.value("percentComplete", json(0));
      std::string progress =
          status + " " + std::to_string(percent.is_number() ? static_cast<int>(percent.get<double>()) : 0) + "%";
      if (progress != last) {
        LogInfo("Waiting for the " + what + ": " + progress + " (" + std::to_string(elapsed.count()) + " s)");
        last = progress;
      }
      if (options_.interrupted && options_.interrupted())
        return InternalError("Interrupted while waiting for the " + what + " (work request " + work_request +
                             " goes on at OCI).");
      auto sleep = wr->retry_after.value_or(interval);
      if (options_.clock->Now() + sleep > deadline)
        return DeadlineExceededError("The " + what + " did not finish within " + std::to_string(limit.count()) +
                                     " s (work request " + work_request + " is " + status +
                                     "): wait longer with -C timeout_seconds=N." + Errors(c, work_request));
      options_.clock->SleepFor(std::chrono::duration_cast<std::chrono::milliseconds>(sleep));
    }
  }

  // " Errors: ...; log: ..." of a work request (its errors, and its last log messages), "" when it has none.
  std::string Errors(Call& c, const std::string& work_request) {
    std::string out;
    StatusOr<json> errors = c.services.ds->ListWorkRequestErrors(work_request);
    if (errors.ok())
      for (const json& e : *errors) out += "\n  error " + e.value("code", "") + ": " + e.value("message", "");
    StatusOr<json> logs = c.services.ds->ListWorkRequestLogs(work_request);
    if (logs.ok()) {
      size_t from = logs->size() > 5 ? logs->size() - 5 : 0;
      for (size_t i = from; i < logs->size(); ++i) out += "\n  log: " + (*logs)[i].value("message", "");
    }
    return Redact(out);
  }

  // Where deployment `name` is looked for: the compartment given, else the one this machine made it in
  // (mlflow-bridge's home remembers: `get`, `predict` and `delete` take no config), else the tenancy's root.
  std::string Where(const Call& c, const std::string& name) const {
    if (c.compartment_given) return c.compartment;
    json remembered = Remembered().value(c.services.region, json::object()).value(name, json());
    return remembered.is_string() ? remembered.get<std::string>() : c.compartment;
  }

  std::string RememberedPath() const { return options_.work_dir + "/compartments.json"; }

  // {"<region>": {"<deployment>": "<compartment>"}}; empty when there is no file (or it is unreadable).
  json Remembered() const {
    std::ifstream in(RememberedPath());
    json all = in ? json::parse(in, nullptr, false) : json::object();
    return all.is_object() ? all : json::object();
  }

  // Records (or, with an empty compartment, forgets) where deployment `name` is; best effort.
  void Remember(const Call& c, const std::string& name, const std::string& compartment) const {
    json all = Remembered();
    json& region = all[c.services.region];
    if (!region.is_object()) region = json::object();
    if (compartment.empty()) {
      region.erase(name);
    } else {
      region[name] = compartment;
    }
    std::error_code ec;
    fs::create_directories(options_.work_dir, ec);
    const std::string tmp = RememberedPath() + "." + NewOciRequestId();
    std::ofstream(tmp) << all.dump(2) << "\n";
    fs::rename(tmp, RememberedPath(), ec);
    if (ec) fs::remove(tmp, ec);
  }

  json Describe(const json& dep) const {
    const json cfg = dep.value("modelDeploymentConfigurationDetails", json::object());
    const json mc = cfg.value("modelConfigurationDetails", json::object());
    const json env = cfg.value("environmentConfigurationDetails", json::object());
    const json instance = mc.value("instanceConfiguration", json::object());
    const json shape = instance.value("modelDeploymentInstanceShapeConfigDetails", json::object());
    const json tags = Tags(dep);
    const bool container = env.value("environmentConfigurationType", "") == "OCIR_CONTAINER";
    json out = {{"name", tags.value(kTagDeployment, dep.value("displayName", ""))},
                {"id", Str(dep, "id")},
                {"flavor", "python_function"},
                {"state", State(dep)},
                {"lifecycle_details", dep.value("lifecycleDetails", json())},
                {"url", Str(dep, "modelDeploymentUrl").empty() ? json() : json(Str(dep, "modelDeploymentUrl") + "/predict")},
                {"runtime", container ? "container" : "conda"},
                {"model_id", mc.value("modelId", json())},
                {"model_uri", tags.value(kTagModelUri, "")},
                {"run_id", tags.value(kTagRunId, "")},
                {"shape", instance.value("instanceShapeName", json())},
                {"ocpus", shape.value("ocpus", json())},
                {"memory_gb", shape.value("memoryInGBs", json())},
                {"instance_count", mc.value("scalingPolicy", json::object()).value("instanceCount", json())},
                {"bandwidth_mbps", mc.value("bandwidthMbps", json())},
                {"compartment_id", dep.value("compartmentId", json())},
                {"project_id", dep.value("projectId", json())},
                {"created", dep.value("timeCreated", json())}};
    if (container) {
      out["image"] = env.value("image", json());
      out["image_digest"] = env.value("imageDigest", json());
    }
    return out;
  }

  OciClientOptions options_;
};

}  // namespace

std::shared_ptr<DeploymentTarget> MakeOciClient(OciClientOptions options) {
  return std::make_shared<OciClient>(std::move(options));
}

std::string OciHelp() {
  return "Target oci-endpoints: OCI Data Science model deployments.\n"
         "\n"
         "Target URI: oci-endpoints:/<region>[/<compartment OCID>] (oci-endpoints alone: your credentials' region).\n"
         "\n"
         "A deployment is a model deployment whose display name is the MLflow name (tagged managed-by: mlflow-bridge);\n"
         "its OCID names it too. create uploads the MLflow model as a Data Science model and deploys it:\n"
         "  -C runtime=conda      a published conda pack (with mlflow and the model's libraries) runs it:\n"
         "                        conda_pack=oci://<bucket>@<namespace>/<path>, python_version=3.11; the artifact gets\n"
         "                        runtime.yaml and a score.py that answers as MLflow's scoring server does.\n"
         "  -C runtime=container  the model's image, built here without docker and pushed to OCIR\n"
         "                        (registry=<region>.ocir.io/<namespace>/<repository>, registry_username=<namespace>/<user>,\n"
         "                        registry_password=<auth token>), served by mlflow-bridge's model server on /predict\n"
         "                        and /health; or image=... (one that serves those already).\n"
         "oci-mlflow's --config deploy-config-file=<kind: deployment YAML> is read with the same meaning; -C keys win.\n"
         "update swaps in a new model with no downtime (and shape, instance_count, bandwidth_mbps, env, logs);\n"
         "-C active=false deactivates, -C active=true activates. delete removes the deployment and the models\n"
         "mlflow-bridge made for it. Every operation follows its work request; a failure reports its errors and logs\n"
         "and removes what the call made.\n"
         "\n"
         "Credentials, as the OCI SDKs read them: an API key profile of ~/.oci/config ($OCI_CONFIG_FILE, -C oci_config,\n"
         "-C profile or $OCI_CLI_PROFILE), a session token profile (oci session authenticate), or a resource principal\n"
         "(OCI_RESOURCE_PRINCIPAL_VERSION=2.2 in notebook sessions and jobs). Deployments are looked up in the compartment\n"
         "of -C compartment_id, else the target URI's, else $NB_SESSION_COMPARTMENT_OCID, else the tenancy's root.\n"
         "The Data Science endpoint is $MLFLOW_BRIDGE_OCI_ENDPOINT (or -C endpoint_url) when set.\n"
         "predict sends a signed POST to the deployment's /predict; inputs over 10 MB are split by rows; 429 is retried.\n"
         "\n" +
         DescribeConfig(OciConfigSchema());
}

}  // namespace mlflow_bridge::internal
