// kubeconfig as kubectl reads it, and exec credential plugins
// (client.authentication.k8s.io/v1 and v1beta1).
//
// Where the configuration comes from (client-go's loading rules):
//  1. an explicit path (several joined by ':' are merged like $KUBECONFIG;
//     every one of them must exist);
//  2. else $KUBECONFIG, a ':'-separated list merged in order: the first file
//     to define a cluster/user/context name wins, current-context comes from
//     the first file that sets one; files that do not exist are skipped;
//  3. else ~/.kube/config;
//  4. else in-cluster: KUBERNETES_SERVICE_HOST/PORT and the service account's
//     token, ca.crt and namespace under /var/run/secrets/kubernetes.io/serviceaccount.
// Relative file paths in a kubeconfig (certificate-authority,
// client-certificate, client-key, tokenFile, an exec command containing '/')
// are relative to the directory of the file that holds them.
//
// Errors are INVALID_PARAMETER_VALUE naming the file(s) and the fix. Tokens,
// keys and passwords never appear in a message or a log line.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

inline constexpr const char* kInClusterServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

struct ExecPlugin {
  std::string api_version, command;  // command: absolute when it was a path relative to its kubeconfig
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;
  std::string install_hint;
  bool provide_cluster_info = false;
  std::string interactive_mode;  // "Never", "IfAvailable", "Always" (v1 requires it); we are never interactive
};

struct KubeConfig {
  std::string context, cluster, user;  // names, for messages ("in-cluster" for all three in a pod)
  std::string source;                  // the kubeconfig file(s) it came from, or "in-cluster service account"
  std::string server;                  // https://host:port[/path]
  std::string namespace_name;          // the context's namespace, else "default"
  std::string ca_pem;                  // certificate-authority-data (decoded) or the file's content
  bool insecure_skip_tls_verify = false;
  std::string tls_server_name;
  std::string token;                            // user token, or the token file's content (token_file kept too)
  std::string token_file;                       // absolute; re-read by the client when it changes
  std::string client_cert_pem, client_key_pem;  // data or files
  std::string username, password;               // basic (rare)
  std::optional<ExecPlugin> exec;
  std::string proxy_url;
};

// `path`: explicit kubeconfig path(s), "" for $KUBECONFIG / ~/.kube/config /
// in-cluster. `context`: "" for current-context.
StatusOr<KubeConfig> LoadKubeConfig(const std::string& path = "", const std::string& context = "");
// The same with the in-cluster service account directory injected (tests).
StatusOr<KubeConfig> LoadKubeConfig(const std::string& path, const std::string& context,
                                    const std::string& service_account_dir);

// ---- exec credential plugins ----

// What a plugin returned (ExecCredential status). All fields but `expires` are secrets.
struct ExecCredential {
  std::string token;
  std::string client_cert_pem, client_key_pem;
  std::optional<std::chrono::system_clock::time_point> expires;  // none: valid until the server refuses it
};

// Runs config.exec once: argv = command + args, environment = ours + the
// plugin's env + KUBERNETES_EXEC_INFO (apiVersion, kind ExecCredential,
// spec.interactive=false, plus spec.cluster when provideClusterInfo), stdin
// /dev/null. Killed (with its process group) after `timeout`.
// Errors: command not found / not executable -> INVALID_PARAMETER_VALUE with
// the installHint; non-zero exit -> UNAUTHENTICATED with its (redacted,
// truncated) stderr; bad output -> UNAUTHENTICATED naming the plugin;
// timeout -> DEADLINE_EXCEEDED.
StatusOr<ExecCredential> RunExecPlugin(const KubeConfig& config,
                                       std::chrono::milliseconds timeout = std::chrono::seconds(60));

// Parses a plugin's stdout (an ExecCredential of `api_version`).
StatusOr<ExecCredential> ParseExecCredential(std::string_view output, const std::string& api_version,
                                             const std::string& command);

// RFC 3339 ("2024-01-01T10:00:00Z", "...T10:00:00.5+02:00") to a time point.
std::optional<std::chrono::system_clock::time_point> ParseRfc3339(std::string_view text);

// Runs the plugin on first use and again once its credential has expired
// (by the clock's wall time) or was invalidated (the server answered 401).
// A failed run is not cached. Thread-safe.
class ExecCredentialCache {
 public:
  using Runner = std::function<StatusOr<ExecCredential>(const KubeConfig&)>;
  // `runner` null: RunExecPlugin.
  ExecCredentialCache(KubeConfig config, std::shared_ptr<Clock> clock, Runner runner = {});
  StatusOr<ExecCredential> Get();
  void Invalidate();

 private:
  const KubeConfig config_;
  const std::shared_ptr<Clock> clock_;
  const Runner runner_;
  std::mutex mu_;
  std::optional<ExecCredential> cached_;
};

}  // namespace mlflow_bridge::internal
