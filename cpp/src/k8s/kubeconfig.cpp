#include "k8s/kubeconfig.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "common/base64.h"
#include "common/strings.h"
#include "common/timestamp.h"
#include "common/url.h"
#include "mlflow_bridge/logging.h"

extern char** environ;

namespace mlflow_bridge::internal {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr size_t kMaxPluginOutput = 4u << 20;
constexpr size_t kMaxStderrShown = 500;

// ---------------------------------------------------------------------------
// Files

enum class ReadResult { kOk, kMissing, kError };

ReadResult ReadFile(const std::string& path, std::string* out) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return ReadResult::kMissing;
  std::ifstream in(path, std::ios::binary);
  if (!in) return ReadResult::kError;
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return ReadResult::kError;
  *out = ss.str();
  return ReadResult::kOk;
}

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(':', start);
    if (end == std::string::npos) end = s.size();
    std::string item(Trim(std::string_view(s).substr(start, end - start)));
    if (!item.empty()) out.push_back(item);
    start = end + 1;
  }
  return out;
}

std::string ResolvePath(const std::string& dir, const std::string& path) {
  if (path.empty() || path.front() == '/') return path;
  return (fs::path(dir) / path).lexically_normal().string();
}

std::string Quote(const std::string& s) { return "\"" + s + "\""; }

// ---------------------------------------------------------------------------
// YAML

// One file's entry (cluster, user or context) with where it came from.
struct Entry {
  YAML::Node node;   // the inner map ("cluster:", "user:", "context:")
  std::string file;  // for messages
  std::string dir;   // for relative paths
};

struct Merged {
  std::vector<std::string> files;  // the files that were read
  std::map<std::string, Entry> clusters, users, contexts;
  std::vector<std::string> context_names;  // in order of appearance
  std::string current_context;
  std::string source() const { return Join(files, ":"); }
};

// A scalar field of a map as a string; "" when absent or null.
StatusOr<std::string> Str(const YAML::Node& map, const char* key, const std::string& where) {
  if (!map || !map.IsMap()) return std::string();
  YAML::Node v = map[key];
  if (!v || v.IsNull()) return std::string();
  if (!v.IsScalar()) return InvalidParameterError(where + ": '" + key + "' must be a string");
  return v.Scalar();
}

StatusOr<bool> Bool(const YAML::Node& map, const char* key, const std::string& where) {
  if (!map || !map.IsMap()) return false;
  YAML::Node v = map[key];
  if (!v || v.IsNull()) return false;
  bool b = false;
  if (!v.IsScalar() || !YAML::convert<bool>::decode(v, b))
    return InvalidParameterError(where + ": '" + key + "' must be true or false");
  return b;
}

Status MergeFile(const std::string& file, const std::string& text, Merged* m) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    return InvalidParameterError("kubeconfig " + file + " is not valid YAML: line " + std::to_string(e.mark.line + 1) +
                                 ", column " + std::to_string(e.mark.column + 1) + ": " + e.msg +
                                 ". Fix the file, or download a fresh kubeconfig for your cluster.");
  } catch (const YAML::Exception& e) {
    return InvalidParameterError("kubeconfig " + file + " is not valid YAML: " + e.msg);
  }
  m->files.push_back(file);
  if (!root || root.IsNull()) return OkStatus();  // an empty file is an empty config, as for kubectl
  if (!root.IsMap())
    return InvalidParameterError("kubeconfig " + file +
                                 " is not a kubeconfig (expected a mapping with clusters, users, contexts and "
                                 "current-context)");
  const std::string dir = fs::path(file).parent_path().string();
  struct Section {
    const char* list;
    const char* inner;
    std::map<std::string, Entry>* into;
  };
  for (const Section& sec : {Section{"clusters", "cluster", &m->clusters}, Section{"users", "user", &m->users},
                             Section{"contexts", "context", &m->contexts}}) {
    YAML::Node list = root[sec.list];
    if (!list || list.IsNull()) continue;
    if (!list.IsSequence())
      return InvalidParameterError("kubeconfig " + file + ": '" + sec.list + "' must be a list of {name, " + sec.inner +
                                   "}");
    for (const YAML::Node& item : list) {
      StatusOr<std::string> name = Str(item, "name", "kubeconfig " + file + ": " + sec.list);
      if (!name.ok()) return name.status();
      if (name->empty()) return InvalidParameterError("kubeconfig " + file + ": an entry of '" + sec.list + "' has no name");
      if (sec.into->count(*name)) continue;  // the first file to set a name wins
      (*sec.into)[*name] = Entry{item[sec.inner], file, dir};
      if (sec.into == &m->contexts) m->context_names.push_back(*name);
    }
  }
  if (m->current_context.empty()) {
    StatusOr<std::string> cc = Str(root, "current-context", "kubeconfig " + file);
    if (!cc.ok()) return cc.status();
    m->current_context = *cc;
  }
  return OkStatus();
}

// `field`-data (base64) overrides `field` (a file).
Status DataOrFile(const Entry& e, const char* data_key, const char* file_key, const std::string& where, std::string* out,
                  std::string* path_out = nullptr) {
  StatusOr<std::string> data = Str(e.node, data_key, where);
  if (!data.ok()) return data.status();
  if (!data->empty()) {
    std::optional<std::string> decoded = Base64Decode(*data);
    if (!decoded)
      return InvalidParameterError(where + ": '" + data_key +
                                   "' is not valid base64 (it holds the PEM text, base64-encoded)");
    *out = std::move(*decoded);
    return OkStatus();
  }
  StatusOr<std::string> file = Str(e.node, file_key, where);
  if (!file.ok()) return file.status();
  if (file->empty()) return OkStatus();
  std::string path = ResolvePath(e.dir, *file);
  if (path_out) *path_out = path;
  switch (ReadFile(path, out)) {
    case ReadResult::kOk: return OkStatus();
    case ReadResult::kMissing:
      return InvalidParameterError(where + ": '" + file_key + "' names " + path +
                                   ", which does not exist (relative paths are relative to the kubeconfig's directory)");
    case ReadResult::kError:
      return InvalidParameterError(where + ": '" + file_key + "' names " + path + ", which cannot be read");
  }
  return OkStatus();
}

Status FillCluster(const Entry& e, const std::string& name, KubeConfig* c) {
  const std::string where = "cluster " + Quote(name) + " in " + e.file;
  if (!e.node || !e.node.IsMap()) return InvalidParameterError(where + " has no 'cluster' settings");
  auto str = [&](const char* key, std::string* out) -> Status {
    StatusOr<std::string> v = Str(e.node, key, where);
    if (!v.ok()) return v.status();
    *out = *v;
    return OkStatus();
  };
  MLFLOW_BRIDGE_RETURN_IF_ERROR(str("server", &c->server));
  MLFLOW_BRIDGE_RETURN_IF_ERROR(str("tls-server-name", &c->tls_server_name));
  MLFLOW_BRIDGE_RETURN_IF_ERROR(str("proxy-url", &c->proxy_url));
  if (!c->proxy_url.empty()) {  // the schemes client-go accepts
    StatusOr<ParsedUrl> proxy = ParseUrl(c->proxy_url);
    if (!proxy.ok() || (proxy->scheme != "http" && proxy->scheme != "https" && proxy->scheme != "socks5"))
      return InvalidParameterError(where + ": proxy-url " + Quote(Redact(c->proxy_url)) +
                                   " is not an http://, https:// or socks5:// URL (the proxies kubectl supports, e.g. "
                                   "http://proxy.example.com:3128)");
  }
  StatusOr<bool> insecure = Bool(e.node, "insecure-skip-tls-verify", where);
  if (!insecure.ok()) return insecure.status();
  c->insecure_skip_tls_verify = *insecure;
  MLFLOW_BRIDGE_RETURN_IF_ERROR(DataOrFile(e, "certificate-authority-data", "certificate-authority", where, &c->ca_pem));
  if (c->server.empty())
    return InvalidParameterError(where + " has no 'server' (the API server URL, e.g. https://api.example.com:6443)");
  if (!c->server.starts_with("https://") && !c->server.starts_with("http://"))
    return InvalidParameterError(where + ": server " + Quote(c->server) +
                                 " is not an http(s) URL (expected https://host[:port])");
  while (c->server.size() > 8 && c->server.back() == '/') c->server.pop_back();
  return OkStatus();
}

Status FillExec(const Entry& e, const YAML::Node& node, const std::string& where, KubeConfig* c) {
  ExecPlugin p;
  const std::string w = where + ": exec";
  auto str = [&](const char* key, std::string* out) -> Status {
    StatusOr<std::string> v = Str(node, key, w);
    if (!v.ok()) return v.status();
    *out = *v;
    return OkStatus();
  };
  MLFLOW_BRIDGE_RETURN_IF_ERROR(str("apiVersion", &p.api_version));
  MLFLOW_BRIDGE_RETURN_IF_ERROR(str("command", &p.command));
  MLFLOW_BRIDGE_RETURN_IF_ERROR(str("installHint", &p.install_hint));
  MLFLOW_BRIDGE_RETURN_IF_ERROR(str("interactiveMode", &p.interactive_mode));
  StatusOr<bool> pci = Bool(node, "provideClusterInfo", w);
  if (!pci.ok()) return pci.status();
  p.provide_cluster_info = *pci;
  if (p.command.empty()) return InvalidParameterError(w + " has no 'command'");
  if (p.api_version != "client.authentication.k8s.io/v1" && p.api_version != "client.authentication.k8s.io/v1beta1")
    return InvalidParameterError(w + ": apiVersion " + Quote(p.api_version) +
                                 " is not supported (client.authentication.k8s.io/v1 or v1beta1; v1alpha1 is gone "
                                 "from kubectl too: update the kubeconfig or the plugin)");
  // Only a command given as a path is relative to the kubeconfig; a bare name is looked up on PATH.
  if (p.command.find('/') != std::string::npos) p.command = ResolvePath(e.dir, p.command);
  if (YAML::Node args = node["args"]; args && !args.IsNull()) {
    if (!args.IsSequence()) return InvalidParameterError(w + ": 'args' must be a list of strings");
    for (const YAML::Node& a : args) {
      if (!a.IsScalar()) return InvalidParameterError(w + ": 'args' must be a list of strings");
      p.args.push_back(a.Scalar());
    }
  }
  if (YAML::Node env = node["env"]; env && !env.IsNull()) {
    if (!env.IsSequence()) return InvalidParameterError(w + ": 'env' must be a list of {name, value}");
    for (const YAML::Node& item : env) {
      StatusOr<std::string> n = Str(item, "name", w + ": env");
      if (!n.ok()) return n.status();
      StatusOr<std::string> v = Str(item, "value", w + ": env");
      if (!v.ok()) return v.status();
      if (n->empty()) return InvalidParameterError(w + ": an 'env' entry has no name");
      p.env.emplace_back(*n, *v);
    }
  }
  c->exec = std::move(p);
  return OkStatus();
}

Status FillUser(const Entry& e, const std::string& name, KubeConfig* c) {
  const std::string where = "user " + Quote(name) + " in " + e.file;
  if (!e.node || e.node.IsNull()) return OkStatus();  // anonymous
  if (!e.node.IsMap()) return InvalidParameterError(where + ": 'user' must be a mapping");
  auto str = [&](const char* key, std::string* out) -> Status {
    StatusOr<std::string> v = Str(e.node, key, where);
    if (!v.ok()) return v.status();
    *out = *v;
    return OkStatus();
  };
  MLFLOW_BRIDGE_RETURN_IF_ERROR(str("token", &c->token));
  MLFLOW_BRIDGE_RETURN_IF_ERROR(str("username", &c->username));
  MLFLOW_BRIDGE_RETURN_IF_ERROR(str("password", &c->password));
  std::string token_file;
  MLFLOW_BRIDGE_RETURN_IF_ERROR(str("tokenFile", &token_file));
  if (!token_file.empty()) {
    c->token_file = ResolvePath(e.dir, token_file);
    std::string content;
    ReadResult r = ReadFile(c->token_file, &content);
    if (r == ReadResult::kOk) {
      c->token = std::string(Trim(content));
    } else if (c->token.empty()) {
      return InvalidParameterError(where + ": tokenFile " + c->token_file +
                                   (r == ReadResult::kMissing ? " does not exist" : " cannot be read") +
                                   " (relative paths are relative to the kubeconfig's directory)");
    }
  }
  MLFLOW_BRIDGE_RETURN_IF_ERROR(DataOrFile(e, "client-certificate-data", "client-certificate", where, &c->client_cert_pem));
  MLFLOW_BRIDGE_RETURN_IF_ERROR(DataOrFile(e, "client-key-data", "client-key", where, &c->client_key_pem));
  if (c->client_cert_pem.empty() != c->client_key_pem.empty())
    return InvalidParameterError(where + " has a client " + (c->client_cert_pem.empty() ? "key" : "certificate") +
                                 " without its " + (c->client_cert_pem.empty() ? "certificate" : "key") +
                                 " (client-certificate[-data] and client-key[-data] go together)");
  if (YAML::Node exec = e.node["exec"]; exec && !exec.IsNull()) {
    if (!exec.IsMap()) return InvalidParameterError(where + ": 'exec' must be a mapping");
    MLFLOW_BRIDGE_RETURN_IF_ERROR(FillExec(e, exec, where, c));
  }
  if (YAML::Node ap = e.node["auth-provider"];
      ap && !ap.IsNull() && !c->exec && c->token.empty() && c->client_cert_pem.empty()) {
    StatusOr<std::string> provider = Str(ap, "name", where + ": auth-provider");
    return InvalidParameterError(where + " uses auth-provider " + Quote(provider.ok() ? *provider : std::string("?")) +
                                 ", which kubectl no longer supports either: convert the kubeconfig to an exec "
                                 "plugin (kubelogin convert-kubeconfig, gke-gcloud-auth-plugin, ...)");
  }
  return OkStatus();
}

std::string ContextList(const Merged& m) {
  if (m.context_names.empty()) return "it defines no contexts";
  std::vector<std::string> quoted;
  for (const auto& n : m.context_names) quoted.push_back(Quote(n));
  return "contexts there: " + Join(quoted, ", ");
}

StatusOr<KubeConfig> FromMerged(const Merged& m, const std::string& wanted_context) {
  const std::string src = m.source();
  std::string ctx_name = wanted_context.empty() ? m.current_context : wanted_context;
  if (ctx_name.empty())
    return InvalidParameterError("kubeconfig " + src + " sets no current-context (" + ContextList(m) +
                                 "). Pick one with `kubectl config use-context NAME`, or pass the context to use.");
  auto ctx = m.contexts.find(ctx_name);
  if (ctx == m.contexts.end())
    return InvalidParameterError("context " + Quote(ctx_name) + " is not in kubeconfig " + src + " (" + ContextList(m) +
                                 "). " +
                                 (wanted_context.empty() ? "Fix current-context (`kubectl config use-context NAME`)"
                                                         : std::string("Pass one of those")) +
                                 ".");
  KubeConfig c;
  c.source = src;
  c.context = ctx_name;
  const Entry& ce = ctx->second;
  const std::string where = "context " + Quote(ctx_name) + " in " + ce.file;
  if (!ce.node || !ce.node.IsMap()) return InvalidParameterError(where + " has no 'context' settings");
  StatusOr<std::string> cluster = Str(ce.node, "cluster", where);
  if (!cluster.ok()) return cluster.status();
  StatusOr<std::string> user = Str(ce.node, "user", where);
  if (!user.ok()) return user.status();
  StatusOr<std::string> ns = Str(ce.node, "namespace", where);
  if (!ns.ok()) return ns.status();
  c.cluster = *cluster;
  c.user = *user;
  c.namespace_name = ns->empty() ? "default" : *ns;
  if (c.cluster.empty()) return InvalidParameterError(where + " names no cluster");
  auto cl = m.clusters.find(c.cluster);
  if (cl == m.clusters.end())
    return InvalidParameterError(where + " uses cluster " + Quote(c.cluster) + ", which kubeconfig " + src +
                                 " does not define. Add it, or download a complete kubeconfig.");
  MLFLOW_BRIDGE_RETURN_IF_ERROR(FillCluster(cl->second, c.cluster, &c));
  if (!c.user.empty()) {
    auto us = m.users.find(c.user);
    if (us == m.users.end())
      return InvalidParameterError(where + " uses user " + Quote(c.user) + ", which kubeconfig " + src +
                                   " does not define. Add it, or download a complete kubeconfig.");
    MLFLOW_BRIDGE_RETURN_IF_ERROR(FillUser(us->second, c.user, &c));
  }
  return c;
}

StatusOr<KubeConfig> InCluster(const std::string& dir, const std::string& host, const std::string& port) {
  KubeConfig c;
  c.context = c.cluster = c.user = "in-cluster";
  c.source = "in-cluster service account (" + dir + ")";
  c.server = "https://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port;
  c.token_file = dir + "/token";
  std::string token;
  ReadResult r = ReadFile(c.token_file, &token);
  if (r != ReadResult::kOk)
    return InvalidParameterError(
        "running in a Kubernetes pod (KUBERNETES_SERVICE_HOST is set) but its service "
        "account token " +
        c.token_file + (r == ReadResult::kMissing ? " does not exist" : " cannot be read") +
        ": mount a service account token (automountServiceAccountToken), or pass a "
        "kubeconfig.");
  c.token = std::string(Trim(token));
  if (ReadFile(dir + "/ca.crt", &c.ca_pem) != ReadResult::kOk) c.ca_pem.clear();
  std::string ns;
  if (ReadFile(dir + "/namespace", &ns) == ReadResult::kOk) c.namespace_name = std::string(Trim(ns));
  if (c.namespace_name.empty()) c.namespace_name = "default";
  return c;
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

}  // namespace

StatusOr<KubeConfig> LoadKubeConfig(const std::string& path, const std::string& context) {
  return LoadKubeConfig(path, context, kInClusterServiceAccountDir);
}

StatusOr<KubeConfig> LoadKubeConfig(const std::string& path, const std::string& context,
                                    const std::string& service_account_dir) {
  Merged m;
  std::vector<std::string> looked;  // for the "nothing found" message
  auto load = [&](const std::string& file, bool must_exist) -> Status {
    std::string text;
    switch (ReadFile(file, &text)) {
      case ReadResult::kOk: return MergeFile(file, text, &m);
      case ReadResult::kMissing:
        if (must_exist)
          return InvalidParameterError("kubeconfig " + file +
                                       " does not exist. Pass the path of your cluster's kubeconfig file.");
        looked.push_back(file + " (does not exist)");
        return OkStatus();
      case ReadResult::kError:
        return InvalidParameterError("kubeconfig " + file + " cannot be read (check its permissions)");
    }
    return OkStatus();
  };
  if (!path.empty()) {
    for (const std::string& f : SplitList(path)) MLFLOW_BRIDGE_RETURN_IF_ERROR(load(f, true));
  } else if (std::string env = Env("KUBECONFIG"); !env.empty()) {
    for (const std::string& f : SplitList(env)) MLFLOW_BRIDGE_RETURN_IF_ERROR(load(f, false));
    if (m.files.empty()) looked.insert(looked.begin(), "$KUBECONFIG=" + env);
  } else {
    std::string home = Env("HOME");
    if (!home.empty()) MLFLOW_BRIDGE_RETURN_IF_ERROR(load(home + "/.kube/config", false));
    else looked.push_back("~/.kube/config (HOME is not set)");
  }
  if (!m.files.empty()) return FromMerged(m, context);

  std::string host = Env("KUBERNETES_SERVICE_HOST"), port = Env("KUBERNETES_SERVICE_PORT");
  if (!host.empty() && !port.empty()) {
    if (!context.empty())
      return InvalidParameterError("context " + Quote(context) + " was asked for, but there is no kubeconfig (looked at " +
                                   Join(looked, ", ") +
                                   "); inside a pod only the in-cluster service account is "
                                   "available. Pass a kubeconfig, or no context.");
    return InCluster(service_account_dir, host, port);
  }
  return InvalidParameterError(
      "No kubeconfig found (looked at " + Join(looked, ", ") +
      ") and not running inside a Kubernetes cluster (KUBERNETES_SERVICE_HOST is not set). Set KUBECONFIG or pass "
      "the path of your cluster's kubeconfig (e.g. the one the Kyma dashboard or `az aks get-credentials` gives).");
}

// ---------------------------------------------------------------------------
// RFC 3339

std::optional<std::chrono::system_clock::time_point> ParseRfc3339(std::string_view t) {
  return ParseTimestamp(t, /*zone_required=*/true);
}

// ---------------------------------------------------------------------------
// Exec plugins

namespace {

struct Captured {
  int exit_code = 0;
  bool timed_out = false;
  std::string out, err;
};

struct Fd {
  int fd = -1;
  ~Fd() { Close(); }
  void Close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

// Runs argv with envp, stdin /dev/null, stdout and stderr captured separately,
// in its own process group; killed (group and all) after `timeout`. Always
// reaped. errno of a failed start in *spawn_errno.
StatusOr<Captured> RunCaptured(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                               std::chrono::milliseconds timeout, int* spawn_errno) {
  *spawn_errno = 0;
  std::vector<char*> av, ev;
  for (const auto& a : argv) av.push_back(const_cast<char*>(a.c_str()));
  av.push_back(nullptr);
  for (const auto& e : env) ev.push_back(const_cast<char*>(e.c_str()));
  ev.push_back(nullptr);

  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return InternalError(std::string("pipe: ") + std::strerror(errno));
  Fd out_r{out_pipe[0]}, out_w{out_pipe[1]};
  if (pipe2(err_pipe, O_CLOEXEC) != 0) return InternalError(std::string("pipe: ") + std::strerror(errno));
  Fd err_r{err_pipe[0]}, err_w{err_pipe[1]};

  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out_w.fd, 1);
  posix_spawn_file_actions_adddup2(&fa, err_w.fd, 2);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, av[0], &fa, &attr, av.data(), ev.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  out_w.Close();
  err_w.Close();
  if (rc != 0) {
    *spawn_errno = rc;
    return InternalError(std::string("cannot start ") + argv[0] + ": " + std::strerror(rc));
  }

  Captured result;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool reaped = false;
  int status = 0;
  std::optional<std::chrono::steady_clock::time_point> drain_until;  // once the child has exited
  char buf[8192];
  while (out_r.fd >= 0 || err_r.fd >= 0) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      result.timed_out = true;
      break;
    }
    // A grandchild may keep the pipes open after the plugin exits: drain briefly, then stop.
    if (!reaped && waitpid(pid, &status, WNOHANG) == pid) {
      reaped = true;
      drain_until = now + std::chrono::milliseconds(500);
    }
    if (drain_until && now >= *drain_until) break;
    pollfd fds[2];
    nfds_t n = 0;
    for (Fd* f : {&out_r, &err_r})
      if (f->fd >= 0) fds[n++] = pollfd{f->fd, POLLIN, 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
    int pr = ::poll(fds, n, static_cast<int>(std::min<long long>(left, 100)));
    if (pr < 0 && errno != EINTR) break;
    if (pr <= 0) continue;
    for (nfds_t i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      Fd* f = fds[i].fd == out_r.fd ? &out_r : &err_r;
      std::string* into = f == &out_r ? &result.out : &result.err;
      ssize_t got = ::read(f->fd, buf, sizeof(buf));
      if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (got <= 0) {
        f->Close();
        continue;
      }
      if (into->size() < kMaxPluginOutput) into->append(buf, static_cast<size_t>(got));
    }
  }
  if (result.timed_out) ::kill(-pid, SIGKILL);
  if (!reaped) {
    // Bounded: after SIGKILL or EOF on both pipes the child is gone or about to exit.
    const auto hard = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (waitpid(pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() >= hard) {
        ::kill(-pid, SIGKILL);
        waitpid(pid, &status, 0);
        break;
      }
      usleep(10'000);
    }
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  return result;
}

std::string PluginName(const KubeConfig& c) {
  return "exec credential plugin '" + c.exec->command + "' (user " + Quote(c.user) + ", context " + Quote(c.context) + ")";
}

std::string ExecInfo(const KubeConfig& c) {
  json info = {{"apiVersion", c.exec->api_version}, {"kind", "ExecCredential"}, {"spec", {{"interactive", false}}}};
  if (c.exec->provide_cluster_info) {
    json cluster = {{"server", c.server}};
    if (!c.tls_server_name.empty()) cluster["tls-server-name"] = c.tls_server_name;
    if (c.insecure_skip_tls_verify) cluster["insecure-skip-tls-verify"] = true;
    if (!c.ca_pem.empty()) cluster["certificate-authority-data"] = Base64Encode(c.ca_pem);
    if (!c.proxy_url.empty()) cluster["proxy-url"] = c.proxy_url;
    info["spec"]["cluster"] = std::move(cluster);
  }
  return info.dump();
}

}  // namespace

StatusOr<ExecCredential> ParseExecCredential(std::string_view output, const std::string& api_version,
                                             const std::string& command) {
  const std::string who = "exec credential plugin '" + command + "'";
  json j = json::parse(output, nullptr, false);
  if (!j.is_object()) return UnauthenticatedError(who + " printed something that is not an ExecCredential JSON object");
  if (j.value("kind", "") != "ExecCredential")
    return UnauthenticatedError(who + " printed kind " + Quote(j.value("kind", "")) + ", not ExecCredential");
  if (j.value("apiVersion", "") != api_version)
    return UnauthenticatedError(who + " answered with apiVersion " + Quote(j.value("apiVersion", "")) +
                                " but the kubeconfig asked for " + Quote(api_version));
  if (!j.contains("status") || !j["status"].is_object())
    return UnauthenticatedError(who + " printed an ExecCredential without a status");
  const json& st = j["status"];
  auto get = [&](const char* key) {
    return st.contains(key) && st[key].is_string() ? st[key].get<std::string>() : std::string();
  };
  ExecCredential cred;
  cred.token = get("token");
  cred.client_cert_pem = get("clientCertificateData");
  cred.client_key_pem = get("clientKeyData");
  if (cred.client_cert_pem.empty() != cred.client_key_pem.empty())
    return UnauthenticatedError(who + " returned clientCertificateData without clientKeyData or the reverse");
  if (cred.token.empty() && cred.client_cert_pem.empty())
    return UnauthenticatedError(who + " returned neither a token nor a client certificate");
  if (std::string exp = get("expirationTimestamp"); !exp.empty()) {
    cred.expires = ParseRfc3339(exp);
    if (!cred.expires)
      return UnauthenticatedError(who + " returned expirationTimestamp " + Quote(exp) + ", which is not RFC 3339");
  }
  return cred;
}

StatusOr<ExecCredential> RunExecPlugin(const KubeConfig& config, std::chrono::milliseconds timeout) {
  if (!config.exec) return InternalError("user " + Quote(config.user) + " has no exec plugin");
  const ExecPlugin& p = *config.exec;
  const std::string who = PluginName(config);
  if (p.interactive_mode == "Always")
    return InvalidParameterError(who +
                                 " needs an interactive terminal (interactiveMode: Always), which mlflow-bridge "
                                 "does not have: log in with the plugin first, or use a non-interactive credential");
  std::vector<std::string> argv{p.command};
  argv.insert(argv.end(), p.args.begin(), p.args.end());
  std::map<std::string, std::string> envmap;
  std::vector<std::string> order;
  auto put = [&](const std::string& k, const std::string& v) {
    if (!envmap.count(k)) order.push_back(k);
    envmap[k] = v;
  };
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    put(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  for (const auto& [k, v] : p.env) put(k, v);
  put("KUBERNETES_EXEC_INFO", ExecInfo(config));
  std::vector<std::string> env;
  for (const auto& k : order) env.push_back(k + "=" + envmap[k]);

  LogDebug("running " + who);
  int spawn_errno = 0;
  StatusOr<Captured> r = RunCaptured(argv, env, timeout, &spawn_errno);
  if (!r.ok()) {
    if (spawn_errno == ENOENT || spawn_errno == EACCES || spawn_errno == ENOEXEC || spawn_errno == ENOTDIR) {
      std::string msg = who + " cannot be run: " + std::strerror(spawn_errno) + ".";
      msg += p.install_hint.empty() ? " Install it, or put it on PATH." : " " + std::string(Trim(p.install_hint));
      return InvalidParameterError(msg);
    }
    return r.status().WithContext(who);
  }
  if (r->timed_out)
    return DeadlineExceededError(who + " did not finish within " +
                                 std::to_string(std::chrono::duration_cast<std::chrono::seconds>(timeout).count()) +
                                 " s and was stopped (does it wait for input? mlflow-bridge cannot answer prompts)");
  if (r->exit_code != 0) {
    std::string err(Trim(r->err));
    err = Redact(err);
    if (err.size() > kMaxStderrShown) err = err.substr(0, kMaxStderrShown) + "...";
    return UnauthenticatedError(who + " failed with exit code " + std::to_string(r->exit_code) +
                                (err.empty() ? std::string(" (no error output)") : ": " + err) +
                                ". Check that you are logged in with it, or refresh the kubeconfig.");
  }
  return ParseExecCredential(r->out, p.api_version, p.command);
}

ExecCredentialCache::ExecCredentialCache(KubeConfig config, std::shared_ptr<Clock> clock, Runner runner)
    : config_(std::move(config)), clock_(clock ? std::move(clock) : SystemClock()), runner_(std::move(runner)) {}

StatusOr<ExecCredential> ExecCredentialCache::Get() {
  std::lock_guard<std::mutex> lock(mu_);
  if (cached_ && (!cached_->expires || clock_->WallNow() < *cached_->expires)) return *cached_;
  cached_.reset();
  StatusOr<ExecCredential> fresh = runner_ ? runner_(config_) : RunExecPlugin(config_);
  if (!fresh.ok()) return fresh.status();
  cached_ = *fresh;
  return fresh;
}

void ExecCredentialCache::Invalidate() {
  std::lock_guard<std::mutex> lock(mu_);
  cached_.reset();
}

}  // namespace mlflow_bridge::internal
