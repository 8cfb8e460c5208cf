#include "k8s/kube_client.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "common/base64.h"
#include "common/strings.h"
#include "common/url.h"
#include "mlflow_bridge/logging.h"

namespace mlflow_bridge::internal {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;

constexpr size_t kMaxMessage = 600;
constexpr int kListPageSize = 500;

struct Row {
  const char* api_version;
  const char* kind;
  const char* resource;
  bool namespaced;
};

constexpr Row kResources[] = {
    {"v1", "Namespace", "namespaces", false},
    {"v1", "Service", "services", true},
    {"v1", "Secret", "secrets", true},
    {"v1", "ConfigMap", "configmaps", true},
    {"v1", "Pod", "pods", true},
    {"v1", "Event", "events", true},
    {"v1", "ServiceAccount", "serviceaccounts", true},
    {"apps/v1", "Deployment", "deployments", true},
    {"apps/v1", "ReplicaSet", "replicasets", true},
    {"networking.k8s.io/v1", "Ingress", "ingresses", true},
    {"gateway.kyma-project.io/v2", "APIRule", "apirules", true},
    {"gateway.kyma-project.io/v1beta1", "APIRule", "apirules", true},
    {"networking.istio.io/v1", "VirtualService", "virtualservices", true},
    {"networking.istio.io/v1beta1", "VirtualService", "virtualservices", true},
    {"networking.istio.io/v1", "DestinationRule", "destinationrules", true},
    {"networking.istio.io/v1beta1", "DestinationRule", "destinationrules", true},
};

std::string Truncate(std::string_view s) { return Excerpt(s, kMaxMessage); }

std::string Shown(const KubeResource& r, const std::string& ns, const std::string& name) {
  return KubeObjectName(r, ns, name);
}

std::string Str(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}

std::string ResourceVersion(const json& obj) {
  return obj.is_object() && obj.contains("metadata") ? Str(obj["metadata"], "resourceVersion") : std::string();
}

void WarnOnce(const std::string& key, const std::string& message) {
  static std::mutex mu;
  static std::set<std::string> seen;
  std::lock_guard<std::mutex> lock(mu);
  if (seen.insert(key).second) LogWarning(message);
}

// The curl transport for `k`, as kubectl (client-go) connects: its CA, client certificate and key,
// insecure-skip-tls-verify, tls-server-name, and proxy-url as the proxy of this cluster only (socks5 as
// socks5h: client-go's SOCKS5 dialer hands the host name to the proxy).
std::shared_ptr<HttpTransport> TransportFor(const KubeConfig& k, const std::string& cert_pem, const std::string& key_pem) {
  TransportOptions to;
  to.verify_tls = !k.insecure_skip_tls_verify;
  to.ca_pem = k.ca_pem;
  to.client_cert_pem = cert_pem;
  to.client_key_pem = key_pem;
  to.tls_server_name = k.tls_server_name;
  to.proxy = EqualsIgnoreCase(k.proxy_url.substr(0, 9), "socks5://") ? "socks5h://" + k.proxy_url.substr(9) : k.proxy_url;
  return MakeCurlTransport(to);
}

}  // namespace

std::string KubeObjectName(const KubeResource& r, const std::string& ns, const std::string& name) {
  return r.kind + " " + (r.namespaced && !ns.empty() ? ns + "/" : "") + name;
}

std::string KubeResource::ApiVersion() const { return group.empty() ? version : group + "/" + version; }

StatusOr<KubeResource> ResourceFor(std::string_view api_version, std::string_view kind) {
  for (const Row& row : kResources) {
    if (row.api_version != api_version || row.kind != kind) continue;
    KubeResource r;
    std::string_view av = row.api_version;
    size_t slash = av.find('/');
    if (slash != std::string_view::npos) {
      r.group = std::string(av.substr(0, slash));
      r.version = std::string(av.substr(slash + 1));
    } else {
      r.version = std::string(av);
    }
    r.resource = row.resource;
    r.kind = row.kind;
    r.namespaced = row.namespaced;
    return r;
  }
  std::string known;
  for (const Row& row : kResources) known += std::string(known.empty() ? "" : ", ") + row.api_version + " " + row.kind;
  return InvalidParameterError("mlflow-bridge does not know the Kubernetes kind " + std::string(api_version) + " " +
                               std::string(kind) + " (known: " + known + ")");
}

Status KubeErrorStatus(const HttpResponse& r, const std::string& what, const KubeConfig& config, bool conflict_is_transient,
                       std::chrono::system_clock::time_point now) {
  const long sc = r.status_code;
  std::string reason, message, causes;
  json body = json::parse(r.body, nullptr, false);
  if (body.is_object() && Str(body, "kind") == "Status") {
    reason = Str(body, "reason");
    message = Str(body, "message");
    if (body.contains("details") && body["details"].is_object() && body["details"].contains("causes") &&
        body["details"]["causes"].is_array()) {
      for (const json& c : body["details"]["causes"]) {
        std::string field = Str(c, "field"), msg = Str(c, "message");
        if (field.empty() && msg.empty()) continue;
        causes += (causes.empty() ? "" : "; ") + (field.empty() ? msg : field + ": " + msg);
      }
    }
  }
  std::string detail;
  if (!message.empty()) {
    detail = Truncate(Redact(message));
  } else {
    std::string excerpt(Trim(r.body));
    detail = "HTTP " + std::to_string(sc) + (excerpt.empty() ? "" : ": " + Truncate(Redact(excerpt)));
  }
  const std::string text = what + ": " + detail;
  auto with_retry_after = [&](Status s) {
    if (auto ra = r.Header("Retry-After"))
      if (auto d = ParseRetryAfter(*ra, now)) s.set_retry_after(*d);
    return s;
  };
  const std::string who = "user \"" + config.user + "\" (context \"" + config.context + "\")";

  if (reason == "Unauthorized" || sc == 401)
    return UnauthenticatedError("Kubernetes API server " + config.server + " did not accept the credentials of " + who +
                                ": " + text + ". Check or refresh the credentials in " + config.source +
                                " (log in again, or download a fresh kubeconfig).");
  if (reason == "Forbidden" || sc == 403) return PermissionDeniedError(text + " [" + who + "]");
  if (reason == "NotFound" || sc == 404) return NotFoundError(text);
  if (reason == "AlreadyExists") return AlreadyExistsError(text);
  if (reason == "Conflict" || sc == 409)
    return conflict_is_transient ? with_retry_after(UnavailableError(text)) : AlreadyExistsError(text);
  if (reason == "TooManyRequests" || reason == "ServiceUnavailable" || reason == "Timeout" || reason == "ServerTimeout" ||
      reason == "InternalError" || sc == 429 || sc >= 500)
    return with_retry_after(UnavailableError(text));
  if (reason == "Invalid" || reason == "BadRequest" || (sc >= 400 && sc < 500))
    return InvalidParameterError(text + (causes.empty() ? "" : " (" + Truncate(Redact(causes)) + ")"));
  return InternalError(text);
}

struct KubeClient::Op {
  explicit Op(std::string w) : what(std::move(w)) {}
  std::string what;                                 // "get Deployment team/app"
  bool conflict_is_transient = false;               // apply: retry a 409
  std::function<bool(const HttpResponse&)> accept;  // non-2xx replies handed back as they are
};

KubeClient::KubeClient(KubeConfig config, KubeClientOptions options)
    : config_(std::move(config)), options_(std::move(options)) {}

StatusOr<std::shared_ptr<KubeClient>> KubeClient::Make(KubeConfig config, KubeClientOptions options) {
  StatusOr<ParsedUrl> url = ParseUrl(config.server);
  if (!url.ok() || (url->scheme != "https" && url->scheme != "http") || url->host.empty())
    return InvalidParameterError("cluster \"" + config.cluster + "\" (context \"" + config.context + "\" in " +
                                 config.source + "): server \"" + Redact(config.server) +
                                 "\" is not an http(s) URL (expected https://host[:port])");
  while (config.server.size() > 8 && config.server.back() == '/') config.server.pop_back();
  if (!options.clock) options.clock = SystemClock();
  std::shared_ptr<KubeClient> c(new KubeClient(std::move(config), std::move(options)));
  const KubeConfig& k = c->config_;
  if (!c->options_.transport) {
    c->transport_ = TransportFor(k, k.client_cert_pem, k.client_key_pem);
    c->own_transport_ = true;
  } else {
    c->transport_ = c->options_.transport;
  }
  if (k.insecure_skip_tls_verify)
    WarnOnce("insecure " + k.server, "TLS verification is off for Kubernetes API server " + k.server +
                                         " (insecure-skip-tls-verify in context \"" + k.context + "\" of " + k.source +
                                         "): anyone on the network path can impersonate it.");
  c->token_ = k.token;
  if (!k.token_file.empty()) {
    std::error_code ec;
    auto t = std::filesystem::last_write_time(k.token_file, ec);
    if (!ec) c->token_mtime_ = t;
  }
  for (const std::string* s : {&k.token, &k.password, &k.client_key_pem})
    if (!s->empty()) c->secrets_.push_back(*s);
  if (!k.username.empty() || !k.password.empty()) c->secrets_.push_back(Base64Encode(k.username + ":" + k.password));
  if (k.exec) c->exec_ = std::make_unique<ExecCredentialCache>(k, c->options_.clock, c->options_.exec_runner);
  return c;
}

std::string KubeClient::Scrub(std::string text) const {
  for (const std::string& s : secrets_) {
    if (s.size() < 4) continue;  // too short to be told apart from ordinary text
    for (size_t p = text.find(s); p != std::string::npos; p = text.find(s, p + 3)) text.replace(p, s.size(), "***");
  }
  return text;
}

Status KubeClient::Finish(const Status& s) const {
  if (s.ok()) return s;
  std::string message;
  {
    std::lock_guard<std::mutex> lock(mu_);
    message = Scrub(s.message());
  }
  return s.WithMessage(std::move(message));
}

Status KubeClient::Authorize(HttpRequest& req, std::shared_ptr<HttpTransport>* transport) {
  req.headers.erase(std::remove_if(req.headers.begin(), req.headers.end(),
                                   [](const auto& h) { return EqualsIgnoreCase(h.first, "Authorization"); }),
                    req.headers.end());
  std::optional<ExecCredential> cred;
  if (exec_) {  // outside mu_: the plugin may take a while; the cache serializes runs itself
    StatusOr<ExecCredential> c = exec_->Get();
    if (!c.ok()) return c.status();
    cred = std::move(*c);
  }
  std::lock_guard<std::mutex> lock(mu_);
  std::string bearer;
  if (cred) {
    bearer = cred->token;
    if (!cred->token.empty() && std::find(secrets_.begin(), secrets_.end(), cred->token) == secrets_.end())
      secrets_.push_back(cred->token);
    if (!cred->client_cert_pem.empty() && cred->client_cert_pem != transport_cert_) {
      if (own_transport_) {
        transport_ = TransportFor(config_, cred->client_cert_pem, cred->client_key_pem);
      } else {
        LogDebug("the exec plugin's client certificate cannot be applied to the transport given to KubeClient");
      }
      transport_cert_ = cred->client_cert_pem;
      secrets_.push_back(cred->client_key_pem);
    }
  }
  if (bearer.empty() && !config_.token_file.empty()) {
    // Re-read when the file changes (projected service account tokens are rotated), as kubectl does.
    std::error_code ec;
    auto mtime = std::filesystem::last_write_time(config_.token_file, ec);
    if (!ec && (!token_mtime_ || *token_mtime_ != mtime)) {
      std::ifstream in(config_.token_file, std::ios::binary);
      std::ostringstream ss;
      ss << in.rdbuf();
      std::string fresh(Trim(ss.str()));
      if (in && !fresh.empty()) {
        token_ = fresh;
        token_mtime_ = mtime;
        if (std::find(secrets_.begin(), secrets_.end(), fresh) == secrets_.end()) secrets_.push_back(fresh);
        LogDebug("re-read the token file " + config_.token_file);
      }
    }
  }
  if (bearer.empty()) bearer = token_;
  if (!bearer.empty()) {
    req.headers.emplace_back("Authorization", "Bearer " + bearer);
  } else if (!config_.username.empty()) {
    req.headers.emplace_back("Authorization", "Basic " + Base64Encode(config_.username + ":" + config_.password));
  }
  *transport = transport_;
  return OkStatus();
}

StatusOr<HttpResponse> KubeClient::SendOnce(const Op& op, HttpRequest req) {
  for (int round = 0;; ++round) {
    std::shared_ptr<HttpTransport> transport;
    Status a = Authorize(req, &transport);
    // A credential error (an exec plugin's failure or timeout, a token file) is final: never retried above.
    if (!a.ok()) return Finish(a.WithContext(op.what)).set_final();
    if (!transport) return InternalError("KubeClient has no HTTP transport");
    StatusOr<HttpResponse> r = transport->Send(req);
    const std::string server = "Kubernetes API server " + config_.server + " (context \"" + config_.context + "\")";
    if (!r.ok()) {
      const Status& s = r.status();
      if (s.code() == StatusCode::kTemporarilyUnavailable)
        return Finish(UnavailableError(server + " is unreachable: " + op.what + ": " + s.message()));
      return Finish(s.WithContext(server + ": " + op.what));
    }
    if (r->status_code == 401 && round == 0) {
      // A refreshed credential may help: an exec plugin's token (expired or revoked early), a rotated token file.
      if (exec_) {
        exec_->Invalidate();
        LogDebug(op.what + ": 401, running the exec credential plugin again");
        continue;
      }
      if (!config_.token_file.empty()) {
        std::string before;
        {
          std::lock_guard<std::mutex> lock(mu_);
          before = token_;
          token_mtime_.reset();
        }
        HttpRequest probe;
        std::shared_ptr<HttpTransport> unused;
        MLFLOW_BRIDGE_RETURN_IF_ERROR(Authorize(probe, &unused));
        std::lock_guard<std::mutex> lock(mu_);
        if (token_ != before) continue;
      }
    }
    if (r->ok() || (op.accept && op.accept(*r))) return r;
    return Finish(KubeErrorStatus(*r, op.what, config_, op.conflict_is_transient, options_.clock->WallNow()));
  }
}

std::string KubeClient::Ns(const KubeResource& r, const std::string& ns) const {
  if (!r.namespaced) return "";
  return ns.empty() ? config_.namespace_name : ns;
}

std::string KubeClient::Url(const KubeResource& r, const std::string& ns, const std::string& name,
                            const std::string& subresource) const {
  std::string url = config_.server + (r.group.empty() ? "/api/" + r.version : "/apis/" + r.group + "/" + r.version);
  if (r.namespaced && !ns.empty()) url += "/namespaces/" + UriEncode(ns);
  url += "/" + r.resource;
  if (!name.empty()) url += "/" + UriEncode(name);
  if (!subresource.empty()) url += "/" + subresource;
  return url;
}

namespace {
HttpRequest JsonGet(std::string url) {
  HttpRequest req;
  req.method = "GET";
  req.url = std::move(url);
  req.headers.emplace_back("Accept", "application/json");
  return req;
}

StatusOr<json> ParseBody(const HttpResponse& r, const std::string& what) {
  json j = json::parse(r.body, nullptr, false);
  if (j.is_discarded())
    return InternalError(what + ": the API server answered " + std::to_string(r.status_code) +
                         " with something that is not JSON");
  return j;
}
}  // namespace

StatusOr<json> KubeClient::ServerVersion() {
  Op op{"get server version"};
  StatusOr<HttpResponse> r = SendOnce(op, JsonGet(config_.server + "/version"));
  if (!r.ok()) return r.status();
  return ParseBody(*r, op.what);
}

StatusOr<bool> KubeClient::Serves(std::string_view group_in, std::string_view version) {
  std::string group = group_in == "core" ? "" : std::string(group_in);
  const std::string key = group + "/" + std::string(version);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = serves_.find(key); it != serves_.end()) return it->second;
  }
  Op op{"discover API group " + (group.empty() ? std::string("core") : group)};
  op.accept = [](const HttpResponse& r) { return r.status_code == 404; };
  StatusOr<HttpResponse> r = SendOnce(op, JsonGet(config_.server + (group.empty() ? "/api" : "/apis/" + group)));
  if (!r.ok()) return r.status();
  bool serves = false;
  if (r->status_code != 404) {
    StatusOr<json> j = ParseBody(*r, op.what);
    if (!j.ok()) return j.status();
    if (j->contains("versions") && (*j)["versions"].is_array()) {
      for (const json& v : (*j)["versions"]) {
        // APIGroup: [{groupVersion, version}]; APIVersions (core): ["v1"]
        if ((v.is_string() && v.get<std::string>() == version) || (v.is_object() && Str(v, "version") == version))
          serves = true;
      }
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  serves_[key] = serves;
  return serves;
}

StatusOr<json> KubeClient::Get(const KubeResource& r, const std::string& ns_in, const std::string& name) {
  const std::string ns = Ns(r, ns_in);
  Op op{"get " + Shown(r, ns, name)};
  if (name.empty()) return InvalidParameterError(op.what + ": no name given");
  StatusOr<HttpResponse> resp = SendOnce(op, JsonGet(Url(r, ns, name)));
  if (!resp.ok()) return resp.status();
  return ParseBody(*resp, op.what);
}

StatusOr<json> KubeClient::List(const KubeResource& r, const std::string& ns, const std::string& label_selector,
                                const std::string& field_selector) {
  Op op{"list " + r.kind + (r.namespaced ? (ns.empty() ? " in all namespaces" : " in namespace " + ns) : "")};
  if (!label_selector.empty()) op.what += " with labels " + label_selector;
  op.accept = [](const HttpResponse& resp) { return resp.status_code == 410; };  // an expired continue token
  std::string base = Url(r, ns, "") + "?limit=" + std::to_string(kListPageSize);
  if (!label_selector.empty()) base += "&labelSelector=" + UriEncode(label_selector);
  if (!field_selector.empty()) base += "&fieldSelector=" + UriEncode(field_selector);
  bool restarted = false;
  json result;
  std::string cont;
  while (true) {
    StatusOr<HttpResponse> resp = SendOnce(op, JsonGet(cont.empty() ? base : base + "&continue=" + UriEncode(cont)));
    if (!resp.ok()) return resp.status();
    if (resp->status_code == 410) {
      if (restarted || cont.empty())
        return Finish(KubeErrorStatus(*resp, op.what, config_, false, options_.clock->WallNow()));
      LogDebug(op.what + ": the continue token expired, listing again from the start");
      restarted = true;
      cont.clear();
      result = json();
      continue;
    }
    StatusOr<json> j = ParseBody(*resp, op.what);
    if (!j.ok()) return j.status();
    if (!j->is_object()) return InternalError(op.what + ": the API server answered with a non-object");
    json items = j->contains("items") && (*j)["items"].is_array() ? std::move((*j)["items"]) : json::array();
    const json meta = j->contains("metadata") && (*j)["metadata"].is_object() ? (*j)["metadata"] : json::object();
    cont = Str(meta, "continue");
    if (result.is_null()) {
      result = std::move(*j);
      result["items"] = std::move(items);
    } else {
      for (auto& it : items) result["items"].push_back(std::move(it));
      if (!Str(meta, "resourceVersion").empty()) result["metadata"]["resourceVersion"] = Str(meta, "resourceVersion");
    }
    if (cont.empty()) break;
  }
  if (result.contains("metadata") && result["metadata"].is_object()) {
    result["metadata"].erase("continue");
    result["metadata"].erase("remainingItemCount");
  }
  return result;
}

StatusOr<json> KubeClient::ApplyImpl(const json& object, bool status) {
  if (!object.is_object() || Str(object, "apiVersion").empty() || Str(object, "kind").empty() ||
      !object.contains("metadata") || Str(object["metadata"], "name").empty())
    return InvalidParameterError(std::string("apply") + (status ? " status" : "") +
                                 ": the object needs apiVersion, kind and metadata.name");
  StatusOr<KubeResource> r = ResourceFor(Str(object, "apiVersion"), Str(object, "kind"));
  if (!r.ok()) return r.status();
  const std::string name = Str(object["metadata"], "name");
  const std::string ns = Ns(*r, Str(object["metadata"], "namespace"));
  Op op{std::string(status ? "apply status of " : "apply ") + Shown(*r, ns, name)};
  op.conflict_is_transient = true;
  HttpRequest req;
  req.method = "PATCH";
  req.url = Url(*r, ns, name, status ? "status" : "") + "?fieldManager=" + kFieldManager + "&force=true";
  req.headers.emplace_back("Content-Type", "application/apply-patch+yaml");  // JSON is YAML
  req.headers.emplace_back("Accept", "application/json");
  req.body = object.dump();
  // Server-side apply states the whole intent: sending it again is harmless.
  StatusOr<HttpResponse> resp = SendOnce(op, req);
  if (!resp.ok()) return resp.status();
  return ParseBody(*resp, op.what);
}

StatusOr<json> KubeClient::Apply(const json& object) { return ApplyImpl(object, false); }
StatusOr<json> KubeClient::ApplyStatus(const json& object) { return ApplyImpl(object, true); }

Status KubeClient::Delete(const KubeResource& r, const std::string& ns_in, const std::string& name) {
  const std::string ns = Ns(r, ns_in);
  Op op{"delete " + Shown(r, ns, name)};
  if (name.empty()) return InvalidParameterError(op.what + ": no name given");
  op.accept = [](const HttpResponse& resp) { return resp.status_code == 404; };
  HttpRequest req;
  req.method = "DELETE";
  req.url = Url(r, ns, name);
  req.headers.emplace_back("Content-Type", "application/json");
  req.headers.emplace_back("Accept", "application/json");
  req.body = json{{"apiVersion", "v1"}, {"kind", "DeleteOptions"}, {"propagationPolicy", "Foreground"}}.dump();
  StatusOr<HttpResponse> resp = SendOnce(op, req);
  return resp.ok() ? OkStatus() : resp.status();
}

StatusOr<KubeWatchRound> KubeClient::Watch(const KubeResource& r, const std::string& ns_in, const std::string& name,
                                           const std::string& resource_version, int timeout_seconds) {
  const std::string ns = Ns(r, ns_in);
  HttpRequest req = JsonGet(Url(r, ns, "") + "?watch=1&fieldSelector=" + UriEncode("metadata.name=" + name) +
                            "&resourceVersion=" + UriEncode(resource_version) +
                            "&timeoutSeconds=" + std::to_string(timeout_seconds) + "&allowWatchBookmarks=true");
  req.timeout = milliseconds(static_cast<long long>(timeout_seconds) * 1000 + 15'000);
  Op op{"watch " + Shown(r, ns, name)};
  op.accept = [](const HttpResponse& resp) { return resp.status_code == 410; };
  StatusOr<HttpResponse> resp = SendOnce(op, req);
  if (!resp.ok()) return resp.status();
  KubeWatchRound round;
  if (resp->status_code == 410) {  // resourceVersion too old
    round.gone = true;
    return round;
  }
  std::istringstream lines(resp->body);
  for (std::string line; std::getline(lines, line);) {
    if (Trim(line).empty()) continue;
    json ev = json::parse(line, nullptr, false);
    if (!ev.is_object() || Str(ev, "type").empty() || !ev.contains("object")) {
      if (round.events.empty()) round.stream = false;  // not a watch stream (a proxy that ignores ?watch)
      break;
    }
    round.events.push_back({Str(ev, "type"), std::move(ev["object"])});
  }
  return round;
}

}  // namespace mlflow_bridge::internal
