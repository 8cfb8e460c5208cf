// An in-memory Kubernetes API (the KubeApi stub, k8s/kube_api.h) for the orchestration suites of the
// Kubernetes deployment core: objects keyed by "<Kind> <ns>/<name>", server-side apply as a merge of the
// applied object over what is there, label selectors, a Deployment that becomes available at once (or,
// with its image in `failing_images`, one whose rollout exceeds its progress deadline), an APIRule that
// becomes Ready, delete at once, and watch rounds that show the object as it is.
// Every call is recorded in `calls` as the REST client names it ("apply Deployment team/churn",
// "get Namespace team", "discover gateway.kyma-project.io/v2"); Fail() makes the nth such call (or every
// one) fail.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "k8s/kube_api.h"

namespace mlflow_bridge::testing {

using nlohmann::json;

struct KubeWorld {
  internal::KubeConfig config = [] {
    internal::KubeConfig c;
    c.context = "test";
    c.cluster = "test";
    c.user = "me";
    c.source = "(test)";
    c.server = "https://api.c-1.kyma.example.com";
    c.namespace_name = "team";
    return c;
  }();
  std::map<std::string, json> objects;  // "<Kind> <ns>/<name>" -> the object
  std::set<std::string> served = {"/v1", "apps/v1", "networking.k8s.io/v1", "gateway.kyma-project.io/v2",
                                  "networking.istio.io/v1"};
  std::set<std::string> failing_images;  // Deployments with these images do not become available
  std::vector<std::string> calls;
  int next_version = 1;

  struct Failure {
    std::string call;
    int nth;  // the nth matching call fails (from 1); 0: every one
    Status status;
    int seen = 0;
  };
  std::vector<Failure> failures;

  // Makes the nth call named `call` fail (0: every one), by default with PERMISSION_DENIED "<call>: injected failure".
  void Fail(const std::string& call, int nth = 1, std::optional<Status> status = std::nullopt) {
    failures.push_back({call, nth, status ? *status : PermissionDeniedError(call + ": injected failure"), 0});
  }

  // Puts an object as it is (a seed: what was there before the test).
  void Put(json object) {
    auto r = internal::ResourceFor(object.value("apiVersion", ""), object.value("kind", ""));
    const std::string name = object["metadata"].value("name", "");
    const std::string ns = r->namespaced ? object["metadata"].value("namespace", config.namespace_name) : "";
    if (r->namespaced) object["metadata"]["namespace"] = ns;
    object["metadata"]["resourceVersion"] = std::to_string(next_version++);
    objects[internal::KubeObjectName(*r, ns, name)] = std::move(object);
  }

  std::optional<Status> Call(const std::string& call) {
    calls.push_back(call);
    for (Failure& f : failures) {
      if (f.call != call) continue;
      ++f.seen;
      if (f.nth == 0 || f.nth == f.seen) return f.status;
    }
    return std::nullopt;
  }
};

class MockKubeApi : public internal::KubeApi {
 public:
  explicit MockKubeApi(std::shared_ptr<KubeWorld> world) : w_(std::move(world)) {}

  const internal::KubeConfig& config() const override { return w_->config; }

  StatusOr<json> ServerVersion() override {
    if (auto e = w_->Call("get server version")) return *e;
    return json{{"major", "1"}, {"minor", "30"}};
  }
  StatusOr<bool> Serves(std::string_view group, std::string_view version) override {
    const std::string gv = (group == "core" ? std::string() : std::string(group)) + "/" + std::string(version);
    if (auto e = w_->Call("discover " + gv)) return *e;
    return w_->served.count(gv) > 0;
  }
  StatusOr<json> Get(const internal::KubeResource& r, const std::string& ns, const std::string& name) override {
    const std::string key = Key(r, ns, name);
    if (auto e = w_->Call("get " + key)) return *e;
    auto it = w_->objects.find(key);
    if (it == w_->objects.end()) return NotFoundError("get " + key + ": " + r.resource + " \"" + name + "\" not found");
    return it->second;
  }
  StatusOr<json> List(const internal::KubeResource& r, const std::string& ns, const std::string& label_selector = "",
                      const std::string& field_selector = "") override {
    if (auto e = w_->Call("list " + r.kind + (ns.empty() ? "" : " in namespace " + ns))) return *e;
    json items = json::array();
    for (const auto& [key, o] : w_->objects) {
      if (o.value("kind", "") != r.kind) continue;
      if (!ns.empty() && o["metadata"].value("namespace", "") != ns) continue;
      if (!Matches(o, label_selector) || !field_selector.empty()) continue;  // no field selectors: no Events here
      items.push_back(o);
    }
    return json{{"kind", r.kind + "List"}, {"metadata", json::object()}, {"items", items}};
  }
  StatusOr<json> Apply(const json& object) override { return ApplyImpl(object, false); }
  StatusOr<json> ApplyStatus(const json& object) override { return ApplyImpl(object, true); }
  Status Delete(const internal::KubeResource& r, const std::string& ns, const std::string& name) override {
    const std::string key = Key(r, ns, name);
    if (auto e = w_->Call("delete " + key)) return *e;
    w_->objects.erase(key);  // 404 is OK
    return OkStatus();
  }
  StatusOr<internal::KubeWatchRound> Watch(const internal::KubeResource& r, const std::string& ns, const std::string& name,
                                           const std::string&, int) override {
    const std::string key = Key(r, ns, name);
    if (auto e = w_->Call("watch " + key)) return *e;
    internal::KubeWatchRound round;
    auto it = w_->objects.find(key);
    if (it == w_->objects.end()) {
      round.events.push_back({"DELETED", json{{"metadata", {{"name", name}}}}});
    } else {
      round.events.push_back({"MODIFIED", it->second});
    }
    return round;
  }

 private:
  std::string Key(const internal::KubeResource& r, const std::string& ns, const std::string& name) const {
    return internal::KubeObjectName(r, r.namespaced ? (ns.empty() ? w_->config.namespace_name : ns) : "", name);
  }

  static bool Matches(const json& o, const std::string& selector) {
    const json labels = o.value("/metadata/labels"_json_pointer, json::object());
    std::stringstream in(selector);
    for (std::string term; std::getline(in, term, ',');) {
      const size_t eq = term.find('=');
      if (eq == std::string::npos) return false;
      if (labels.value(term.substr(0, eq), std::string("\x01")) != term.substr(eq + 1)) return false;
    }
    return true;
  }

  StatusOr<json> ApplyImpl(const json& object, bool status) {
    auto r = internal::ResourceFor(object.value("apiVersion", ""), object.value("kind", ""));
    if (!r.ok()) return r.status();
    const std::string name = object.value("/metadata/name"_json_pointer, "");
    const std::string ns = object.value("/metadata/namespace"_json_pointer, "");
    const std::string key = Key(*r, ns, name);
    if (auto e = w_->Call(std::string(status ? "apply status of " : "apply ") + key)) return *e;
    json& o = w_->objects[key];
    const json before = o;
    if (o.is_null()) o = json{{"metadata", json::object()}};
    // Server-side apply, as a merge-replace: each field applied (each metadata field) replaces what is there;
    // fields not applied stay.
    for (const auto& [field, value] : object.items()) {
      if (field == "status" && !status) continue;
      if (field == "metadata") {
        for (const auto& [m, v] : value.items()) o["metadata"][m] = v;
      } else {
        o[field] = value;
      }
    }
    if (r->namespaced) o["metadata"]["namespace"] = ns.empty() ? w_->config.namespace_name : ns;
    o["metadata"]["resourceVersion"] = std::to_string(w_->next_version++);
    if (before.is_null() || before.value("spec", json()) != o.value("spec", json()))
      o["metadata"]["generation"] = (before.is_null() ? 0 : before.value("/metadata/generation"_json_pointer, 0)) + 1;
    if (r->kind == "Deployment") Settle(o);
    if (r->kind == "APIRule" && !status) o["status"] = {{"state", "Ready"}, {"APIRuleStatus", {{"code", "OK"}}}};
    return o;
  }

  // The Deployment's controller, done at once: available, or stuck past its progress deadline.
  void Settle(json& d) const {
    const int want = d.value("/spec/replicas"_json_pointer, 1);
    const int generation = d.value("/metadata/generation"_json_pointer, 1);
    const std::string image = d.value("/spec/template/spec/containers/0/image"_json_pointer, "");
    if (w_->failing_images.count(image)) {
      d["status"] = {{"observedGeneration", generation},
                     {"replicas", want},
                     {"updatedReplicas", 0},
                     {"availableReplicas", 0},
                     {"conditions", json::array({{{"type", "Progressing"},
                                                  {"status", "False"},
                                                  {"reason", "ProgressDeadlineExceeded"},
                                                  {"message", "ReplicaSet has timed out progressing"}}})}};
      return;
    }
    d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = std::to_string(generation);
    d["status"] = {{"observedGeneration", generation},
                   {"replicas", want},
                   {"updatedReplicas", want},
                   {"availableReplicas", want},
                   {"readyReplicas", want}};
  }

  std::shared_ptr<KubeWorld> w_;
};

}  // namespace mlflow_bridge::testing
