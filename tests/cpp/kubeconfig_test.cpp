#include "k8s/kubeconfig.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "image/registry_auth.h"
#include "test_support.h"
#include "common/base64.h"

namespace mlflow_bridge::internal {
namespace {

using ::mlflow_bridge::testing::FakeClock;
using ::mlflow_bridge::testing::ScopedEnv;
using ::mlflow_bridge::testing::ScopedLogCapture;
using ::mlflow_bridge::testing::Utc;
using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

const char* const kCaPem = "-----BEGIN CERTIFICATE-----\nTESTCA\n-----END CERTIFICATE-----\n";
const char* const kCertPem = "-----BEGIN CERTIFICATE-----\nTESTCERT\n-----END CERTIFICATE-----\n";
const char* const kKeyPem = "-----BEGIN PRIVATE KEY-----\nTESTKEY-s3cr3t\n-----END PRIVATE KEY-----\n";

class KubeConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "kubeconfig-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    env_.Set("KUBECONFIG", std::nullopt);
    env_.Set("HOME", dir_ + "/home");
    env_.Set("KUBERNETES_SERVICE_HOST", std::nullopt);
    env_.Set("KUBERNETES_SERVICE_PORT", std::nullopt);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string Write(const std::string& rel, const std::string& content, bool executable = false) {
    fs::path p = fs::path(dir_) / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << content;
    if (executable) chmod(p.c_str(), 0755);
    return p.string();
  }
  static std::string Read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  std::string dir_;
  ScopedEnv env_;
};

const char* const kBasic = R"(apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: https://api.prod.example.com:6443/
    certificate-authority-data: Q0EtREFUQQ==
- name: dev
  cluster:
    server: https://dev.example.com
    insecure-skip-tls-verify: true
    tls-server-name: kubernetes.local
    proxy-url: http://proxy:3128
users:
- name: admin
  user:
    token: tok-admin-123456
- name: dev-user
  user:
    username: bob
    password: hunter2-secret
contexts:
- name: prod-ctx
  context:
    cluster: prod
    user: admin
    namespace: team-a
- name: dev-ctx
  context:
    cluster: dev
    user: dev-user
current-context: prod-ctx
)";

TEST_F(KubeConfigTest, SingleFileCurrentContext) {
  std::string path = Write("config", kBasic);
  auto c = LoadKubeConfig(path);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->context, "prod-ctx");
  EXPECT_EQ(c->cluster, "prod");
  EXPECT_EQ(c->user, "admin");
  EXPECT_EQ(c->source, path);
  EXPECT_EQ(c->server, "https://api.prod.example.com:6443");  // trailing slash dropped
  EXPECT_EQ(c->namespace_name, "team-a");
  EXPECT_EQ(c->ca_pem, "CA-DATA");
  EXPECT_EQ(c->token, "tok-admin-123456");
  EXPECT_FALSE(c->insecure_skip_tls_verify);
  EXPECT_FALSE(c->exec.has_value());
}

TEST_F(KubeConfigTest, ExplicitContext) {
  std::string path = Write("config", kBasic);
  auto c = LoadKubeConfig(path, "dev-ctx");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->server, "https://dev.example.com");
  EXPECT_EQ(c->namespace_name, "default");
  EXPECT_TRUE(c->insecure_skip_tls_verify);
  EXPECT_EQ(c->tls_server_name, "kubernetes.local");
  EXPECT_EQ(c->proxy_url, "http://proxy:3128");
  EXPECT_EQ(c->username, "bob");
  EXPECT_EQ(c->password, "hunter2-secret");
  EXPECT_TRUE(c->token.empty());
}

TEST_F(KubeConfigTest, MissingContextListsContexts) {
  std::string path = Write("config", kBasic);
  auto c = LoadKubeConfig(path, "staging");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_THAT(c.status().message(), HasSubstr("\"staging\""));
  EXPECT_THAT(c.status().message(), HasSubstr("\"prod-ctx\", \"dev-ctx\""));
  EXPECT_THAT(c.status().message(), HasSubstr(path));
  EXPECT_THAT(c.status().message(), Not(HasSubstr("tok-admin")));
}

TEST_F(KubeConfigTest, NoCurrentContext) {
  std::string text = kBasic;
  text = text.substr(0, text.find("current-context:"));
  std::string path = Write("config", text);
  auto c = LoadKubeConfig(path);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("no current-context"));
  EXPECT_THAT(c.status().message(), HasSubstr("use-context"));
}

TEST_F(KubeConfigTest, DefaultsToHomeKubeConfig) {
  Write("home/.kube/config", kBasic);
  auto c = LoadKubeConfig();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->source, dir_ + "/home/.kube/config");
  EXPECT_EQ(c->context, "prod-ctx");
}

TEST_F(KubeConfigTest, KubeconfigEnvMergeOrder) {
  // First file: a cluster "prod" (wins over the second's), no current-context.
  std::string a = Write("a.yaml", R"(clusters:
- name: prod
  cluster: {server: "https://first.example.com"}
users:
- name: admin
  user: {token: first-token-xyz}
)");
  // Second file: its own "prod" (ignored), a context, and current-context.
  std::string b = Write("b.yaml", R"(clusters:
- name: prod
  cluster: {server: "https://second.example.com"}
contexts:
- name: main
  context: {cluster: prod, user: admin, namespace: ns-b}
current-context: main
)");
  std::string c_file = Write("c.yaml", "current-context: ignored\n");
  env_.Set("KUBECONFIG", a + ":" + dir_ + "/missing.yaml:" + b + ":" + c_file);
  auto c = LoadKubeConfig();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->server, "https://first.example.com");
  EXPECT_EQ(c->token, "first-token-xyz");
  EXPECT_EQ(c->context, "main");
  EXPECT_EQ(c->namespace_name, "ns-b");
  EXPECT_EQ(c->source, a + ":" + b + ":" + c_file);
}

TEST_F(KubeConfigTest, ExplicitPathListMerges) {
  std::string a = Write("a.yaml", "current-context: x\nclusters:\n- name: k\n  cluster: {server: 'https://k:1'}\n");
  std::string b = Write("b.yaml", "current-context: y\ncontexts:\n- name: x\n  context: {cluster: k}\n");
  env_.Set("KUBECONFIG", dir_ + "/other");  // ignored when a path is given
  auto c = LoadKubeConfig(a + ":" + b);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->context, "x");
  EXPECT_EQ(c->server, "https://k:1");
  EXPECT_TRUE(c->user.empty());  // anonymous

  auto missing = LoadKubeConfig(a + ":" + dir_ + "/nope.yaml");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr(dir_ + "/nope.yaml does not exist"));
}

TEST_F(KubeConfigTest, RelativePathsAreRelativeToTheirFile) {
  Write("sub/pki/ca.crt", kCaPem);
  Write("sub/pki/client.crt", kCertPem);
  Write("sub/pki/client.key", kKeyPem);
  std::string path = Write("sub/config", R"(clusters:
- name: k
  cluster:
    server: https://k.example.com
    certificate-authority: pki/ca.crt
users:
- name: u
  user:
    client-certificate: pki/client.crt
    client-key: ./pki/client.key
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ./bin/plugin
contexts:
- name: c
  context: {cluster: k, user: u}
current-context: c
)");
  // Resolved against sub/, not the working directory.
  auto c = LoadKubeConfig(path);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->ca_pem, kCaPem);
  EXPECT_EQ(c->client_cert_pem, kCertPem);
  EXPECT_EQ(c->client_key_pem, kKeyPem);
  ASSERT_TRUE(c->exec);
  EXPECT_EQ(c->exec->command, dir_ + "/sub/bin/plugin");
}

TEST_F(KubeConfigTest, DataOverridesFilesAndDecodes) {
  std::string path = Write("config",
                           "clusters:\n- name: k\n  cluster:\n    server: https://k\n"
                           "    certificate-authority: /does/not/exist\n"
                           "    certificate-authority-data: " +
                               Base64Encode(kCaPem) +
                               "\n"
                               "users:\n- name: u\n  user:\n"
                               "    client-certificate-data: " +
                               Base64Encode(kCertPem) +
                               "\n"
                               "    client-key-data: " +
                               Base64Encode(kKeyPem) +
                               "\n"
                               "contexts:\n- name: c\n  context: {cluster: k, user: u}\ncurrent-context: c\n");
  auto c = LoadKubeConfig(path);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->ca_pem, kCaPem);
  EXPECT_EQ(c->client_cert_pem, kCertPem);
  EXPECT_EQ(c->client_key_pem, kKeyPem);
}

TEST_F(KubeConfigTest, BadDataAndMissingFilesNameTheFieldNotTheValue) {
  std::string path = Write("config", R"(clusters:
- name: k
  cluster: {server: https://k}
users:
- name: u
  user: {client-certificate-data: "not*base64!", client-key-data: "c2VjcmV0LWtleQ=="}
- name: v
  user: {client-certificate: missing.crt, client-key: missing.key}
- name: w
  user: {client-key-data: "c2VjcmV0LWtleQ=="}
contexts:
- {name: c, context: {cluster: k, user: u}}
- {name: d, context: {cluster: k, user: v}}
- {name: e, context: {cluster: k, user: w}}
current-context: c
)");
  auto c = LoadKubeConfig(path);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("'client-certificate-data' is not valid base64"));
  EXPECT_THAT(c.status().message(), HasSubstr("user \"u\""));
  EXPECT_THAT(c.status().message(), Not(HasSubstr("not*base64")));
  auto d = LoadKubeConfig(path, "d");
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(d.status().message(), HasSubstr(dir_ + "/missing.crt, which does not exist"));
  auto e = LoadKubeConfig(path, "e");
  ASSERT_FALSE(e.ok());
  EXPECT_THAT(e.status().message(), HasSubstr("client key without its certificate"));
  EXPECT_THAT(e.status().message(), Not(HasSubstr("c2VjcmV0")));
}

TEST_F(KubeConfigTest, TokenFile) {
  Write("tokens/sa", "  file-token-abcdef\n");
  std::string path = Write("config", R"(clusters:
- {name: k, cluster: {server: https://k}}
users:
- {name: u, user: {tokenFile: tokens/sa}}
- {name: both, user: {token: inline-token-1234, tokenFile: tokens/sa}}
- {name: gone, user: {tokenFile: tokens/nope}}
contexts:
- {name: c, context: {cluster: k, user: u}}
- {name: b, context: {cluster: k, user: both}}
- {name: g, context: {cluster: k, user: gone}}
current-context: c
)");
  auto c = LoadKubeConfig(path);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->token, "file-token-abcdef");
  EXPECT_EQ(c->token_file, dir_ + "/tokens/sa");
  auto b = LoadKubeConfig(path, "b");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->token, "file-token-abcdef");  // the file wins, as in client-go
  auto g = LoadKubeConfig(path, "g");
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(g.status().message(), HasSubstr("tokenFile " + dir_ + "/tokens/nope does not exist"));
}

TEST_F(KubeConfigTest, ProxyUrlTakesKubectlsSchemesOnly) {
  const std::string base =
      "users:\n- {name: u, user: {token: t0ken-abc}}\ncontexts:\n- {name: a, context: {cluster: k, user: u}}\n"
      "current-context: a\nclusters:\n- name: k\n  cluster:\n    server: https://k\n    proxy-url: ";
  for (const char* ok : {"http://proxy:3128", "https://proxy:3129", "socks5://proxy:1080", "SOCKS5://proxy:1080"}) {
    auto c = LoadKubeConfig(Write("ok", base + ok + "\n"));
    ASSERT_TRUE(c.ok()) << ok << ": " << c.status().ToString();
    EXPECT_EQ(c->proxy_url, ok);
  }
  for (const char* bad : {"ftp://user:pw-s3cret@proxy:21", "socks4://proxy:1080", "proxy:3128"}) {
    auto c = LoadKubeConfig(Write("bad", base + bad + "\n"));
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidParameterValue);
    EXPECT_THAT(c.status().message(), HasSubstr("cluster \"k\" in " + dir_ + "/bad: proxy-url"));
    EXPECT_THAT(c.status().message(), HasSubstr("is not an http://, https:// or socks5:// URL"));
    EXPECT_THAT(c.status().message(), Not(HasSubstr("pw-s3cret")));
  }
}

TEST_F(KubeConfigTest, MissingClusterUserOrServer) {
  std::string path = Write("config", R"(clusters:
- {name: noserver, cluster: {insecure-skip-tls-verify: true}}
- {name: k, cluster: {server: https://k}}
users:
- {name: u, user: {token: t0ken-abc}}
contexts:
- {name: a, context: {cluster: ghost, user: u}}
- {name: b, context: {cluster: k, user: phantom}}
- {name: c, context: {cluster: noserver, user: u}}
- {name: d, context: {cluster: k, user: u}}
current-context: a
)");
  auto a = LoadKubeConfig(path);
  ASSERT_FALSE(a.ok());
  EXPECT_THAT(a.status().message(), HasSubstr("cluster \"ghost\""));
  auto b = LoadKubeConfig(path, "b");
  ASSERT_FALSE(b.ok());
  EXPECT_THAT(b.status().message(), HasSubstr("user \"phantom\""));
  auto c = LoadKubeConfig(path, "c");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("has no 'server'"));
  EXPECT_TRUE(LoadKubeConfig(path, "d").ok());
}

TEST_F(KubeConfigTest, ExecPlugin) {
  std::string path = Write("config", R"(clusters:
- {name: k, cluster: {server: https://k}}
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: kubelogin
      args: [get-token, --server-id, "6dae42f8"]
      env:
      - {name: AAD_LOGIN_METHOD, value: azurecli}
      installHint: "install kubelogin: https://azure.github.io/kubelogin/"
      provideClusterInfo: true
      interactiveMode: Never
- name: old
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1alpha1, command: x}
contexts:
- {name: c, context: {cluster: k, user: u}}
- {name: o, context: {cluster: k, user: old}}
current-context: c
)");
  auto c = LoadKubeConfig(path);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_TRUE(c->exec);
  EXPECT_EQ(c->exec->api_version, "client.authentication.k8s.io/v1beta1");
  EXPECT_EQ(c->exec->command, "kubelogin");  // on PATH: not resolved
  EXPECT_EQ(c->exec->args, (std::vector<std::string>{"get-token", "--server-id", "6dae42f8"}));
  ASSERT_EQ(c->exec->env.size(), 1u);
  EXPECT_EQ(c->exec->env[0].first, "AAD_LOGIN_METHOD");
  EXPECT_EQ(c->exec->env[0].second, "azurecli");
  EXPECT_THAT(c->exec->install_hint, HasSubstr("install kubelogin"));
  EXPECT_TRUE(c->exec->provide_cluster_info);
  auto o = LoadKubeConfig(path, "o");
  ASSERT_FALSE(o.ok());
  EXPECT_THAT(o.status().message(), HasSubstr("v1alpha1"));
}

TEST_F(KubeConfigTest, AuthProviderIsExplained) {
  std::string path = Write("config", R"(clusters: [{name: k, cluster: {server: https://k}}]
users: [{name: u, user: {auth-provider: {name: gcp, config: {access-token: ya29.secret}}}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
current-context: c
)");
  auto c = LoadKubeConfig(path);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("auth-provider \"gcp\""));
  EXPECT_THAT(c.status().message(), Not(HasSubstr("ya29")));
}

TEST_F(KubeConfigTest, InClusterWithInjectedRoot) {
  Write("sa/token", "sa-token-0123456789\n");
  Write("sa/ca.crt", kCaPem);
  Write("sa/namespace", "serving\n");
  env_.Set("KUBERNETES_SERVICE_HOST", "10.0.0.1");
  env_.Set("KUBERNETES_SERVICE_PORT", "443");
  auto c = LoadKubeConfig("", "", dir_ + "/sa");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->server, "https://10.0.0.1:443");
  EXPECT_EQ(c->token, "sa-token-0123456789");
  EXPECT_EQ(c->token_file, dir_ + "/sa/token");
  EXPECT_EQ(c->ca_pem, kCaPem);
  EXPECT_EQ(c->namespace_name, "serving");
  EXPECT_EQ(c->context, "in-cluster");

  env_.Set("KUBERNETES_SERVICE_HOST", "fd00::1");
  auto v6 = LoadKubeConfig("", "", dir_ + "/sa");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->server, "https://[fd00::1]:443");

  auto no_token = LoadKubeConfig("", "", dir_ + "/elsewhere");
  ASSERT_FALSE(no_token.ok());
  EXPECT_THAT(no_token.status().message(), HasSubstr("service account token"));

  // A kubeconfig, when there is one, comes first.
  Write("home/.kube/config", kBasic);
  auto kc = LoadKubeConfig("", "", dir_ + "/sa");
  ASSERT_TRUE(kc.ok());
  EXPECT_EQ(kc->context, "prod-ctx");
}

TEST_F(KubeConfigTest, NothingFoundIsAClearError) {
  auto c = LoadKubeConfig("", "", dir_ + "/sa");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_THAT(c.status().message(), HasSubstr("No kubeconfig found"));
  EXPECT_THAT(c.status().message(), HasSubstr(dir_ + "/home/.kube/config (does not exist)"));
  EXPECT_THAT(c.status().message(), HasSubstr("KUBERNETES_SERVICE_HOST"));
  EXPECT_THAT(c.status().message(), HasSubstr("Set KUBECONFIG"));

  env_.Set("KUBECONFIG", dir_ + "/x:" + dir_ + "/y");
  auto e = LoadKubeConfig("", "", dir_ + "/sa");
  ASSERT_FALSE(e.ok());
  EXPECT_THAT(e.status().message(), HasSubstr("$KUBECONFIG=" + dir_ + "/x:" + dir_ + "/y"));
}

TEST_F(KubeConfigTest, BadYamlNamesFileAndLine) {
  std::string path = Write("config", "clusters:\n- name: k\n  cluster: {server: https://k\ncontexts: [\n");
  auto c = LoadKubeConfig(path);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_THAT(c.status().message(), HasSubstr(path));
  EXPECT_THAT(c.status().message(), HasSubstr("not valid YAML: line "));

  std::string list = Write("list", "- just\n- a list\n");
  auto l = LoadKubeConfig(list);
  ASSERT_FALSE(l.ok());
  EXPECT_THAT(l.status().message(), HasSubstr("is not a kubeconfig"));
}

// ---------------------------------------------------------------------------
// Exec credential plugins, run for real: small shell scripts.

class KubeExecTest : public KubeConfigTest {
 protected:
  KubeConfig ConfigFor(const std::string& script, const std::string& api_version = "client.authentication.k8s.io/v1") {
    KubeConfig c;
    c.context = "ctx";
    c.user = "me";
    c.cluster = "k";
    c.server = "https://k.example.com:6443";
    c.ca_pem = kCaPem;
    ExecPlugin p;
    p.api_version = api_version;
    p.command = Write("plugin.sh", script, true);
    p.args = {"--flag", "value"};
    p.env = {{"PLUGIN_MODE", "test"}};
    p.install_hint = "Install the plugin from https://example.com/plugin";
    p.provide_cluster_info = true;
    c.exec = p;
    return c;
  }
};

TEST_F(KubeExecTest, TokenAndEnvironment) {
  std::string script =
      "#!/bin/sh\n"
      "printf '%s' \"$KUBERNETES_EXEC_INFO\" > \"" +
      dir_ +
      "/info.json\"\n"
      "echo \"$PLUGIN_MODE $1 $2\" > \"" +
      dir_ +
      "/args\"\n"
      "echo 'some progress on stderr' >&2\n"
      "cat <<EOF\n"
      "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
      "\"status\":{\"token\":\"exec-token-777\",\"expirationTimestamp\":\"2024-01-01T01:00:00Z\"}}\n"
      "EOF\n";
  auto cred = RunExecPlugin(ConfigFor(script));
  ASSERT_TRUE(cred.ok()) << cred.status().ToString();
  EXPECT_EQ(cred->token, "exec-token-777");
  ASSERT_TRUE(cred->expires);
  EXPECT_EQ(*cred->expires, Utc(2024, 1, 1, 1, 0, 0));
  EXPECT_EQ(Read(dir_ + "/args"), "test --flag value\n");
  auto info = nlohmann::json::parse(Read(dir_ + "/info.json"));
  EXPECT_EQ(info["apiVersion"], "client.authentication.k8s.io/v1");
  EXPECT_EQ(info["kind"], "ExecCredential");
  EXPECT_EQ(info["spec"]["interactive"], false);
  EXPECT_EQ(info["spec"]["cluster"]["server"], "https://k.example.com:6443");
  EXPECT_EQ(info["spec"]["cluster"]["certificate-authority-data"], Base64Encode(kCaPem));
}

TEST_F(KubeExecTest, ClientCertificateV1beta1) {
  nlohmann::json out = {{"apiVersion", "client.authentication.k8s.io/v1beta1"},
                        {"kind", "ExecCredential"},
                        {"status", {{"clientCertificateData", kCertPem}, {"clientKeyData", kKeyPem}}}};
  KubeConfig c = ConfigFor("#!/bin/sh\ncat <<'EOF'\n" + out.dump() + "\nEOF\n", "client.authentication.k8s.io/v1beta1");
  c.exec->provide_cluster_info = false;
  auto cred = RunExecPlugin(c);
  ASSERT_TRUE(cred.ok()) << cred.status().ToString();
  EXPECT_EQ(cred->client_cert_pem, kCertPem);
  EXPECT_EQ(cred->client_key_pem, kKeyPem);
  EXPECT_TRUE(cred->token.empty());
  EXPECT_FALSE(cred->expires);
}

TEST_F(KubeExecTest, CachedUntilExpiry) {
  std::string counter = dir_ + "/runs";
  std::string script = "#!/bin/sh\necho x >> \"" + counter +
                       "\"\n"
                       "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
                       "\"status\":{\"token\":\"tok-'$(wc -l < \"" +
                       counter +
                       "\" | tr -d ' ')'\","
                       "\"expirationTimestamp\":\"2024-01-01T00:10:00.123+00:00\"}}'\n";
  auto clock = std::make_shared<FakeClock>(Utc(2024, 1, 1, 0, 0, 0));
  ExecCredentialCache cache(ConfigFor(script), clock);
  auto a = cache.Get();
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->token, "tok-1");
  clock->Advance(std::chrono::minutes(9));
  EXPECT_EQ(cache.Get()->token, "tok-1");
  clock->Advance(std::chrono::minutes(2));  // past the expiry
  EXPECT_EQ(cache.Get()->token, "tok-2");
  cache.Invalidate();
  EXPECT_EQ(cache.Get()->token, "tok-3");
}

TEST_F(KubeExecTest, FailingPluginIsUnauthenticatedAndRedacted) {
  ScopedLogCapture logs(LogLevel::kDebug);
  std::string script =
      "#!/bin/sh\necho 'error: refresh failed, token=leaked-secret-42' >&2\n"
      "i=0; while [ $i -lt 100 ]; do echo 'more and more noise noise noise noise noise' >&2; "
      "i=$((i+1)); done\nexit 3\n";
  auto cred = RunExecPlugin(ConfigFor(script));
  ASSERT_FALSE(cred.ok());
  EXPECT_EQ(cred.status().code(), StatusCode::kUnauthenticated);
  EXPECT_THAT(cred.status().message(), HasSubstr("exit code 3"));
  EXPECT_THAT(cred.status().message(), HasSubstr("refresh failed"));
  EXPECT_THAT(cred.status().message(), HasSubstr("user \"me\""));
  EXPECT_THAT(cred.status().message(), Not(HasSubstr("leaked-secret-42")));
  EXPECT_LT(cred.status().message().size(), 1000u);
  EXPECT_THAT(logs.text(), Not(HasSubstr("leaked-secret-42")));
}

TEST_F(KubeExecTest, MissingCommandGivesInstallHint) {
  KubeConfig c = ConfigFor("");
  c.exec->command = "mlflow-bridge-no-such-plugin";
  auto cred = RunExecPlugin(c);
  ASSERT_FALSE(cred.ok());
  EXPECT_EQ(cred.status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_THAT(cred.status().message(), HasSubstr("mlflow-bridge-no-such-plugin"));
  EXPECT_THAT(cred.status().message(), HasSubstr("Install the plugin from https://example.com/plugin"));
}

TEST_F(KubeExecTest, BadOutputAndWrongVersion) {
  auto junk = RunExecPlugin(ConfigFor("#!/bin/sh\necho 'hello'\n"));
  ASSERT_FALSE(junk.ok());
  EXPECT_EQ(junk.status().code(), StatusCode::kUnauthenticated);
  EXPECT_THAT(junk.status().message(), HasSubstr("not an ExecCredential"));
  auto wrong = RunExecPlugin(
      ConfigFor("#!/bin/sh\necho '{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":\"ExecCredential\","
                "\"status\":{\"token\":\"t\"}}'\n"));
  ASSERT_FALSE(wrong.ok());
  EXPECT_THAT(wrong.status().message(), HasSubstr("asked for \"client.authentication.k8s.io/v1\""));
}

TEST_F(KubeExecTest, HangingPluginIsStopped) {
  KubeConfig c = ConfigFor("#!/bin/sh\nsleep 30 &\nsleep 30\n");
  auto start = std::chrono::steady_clock::now();
  auto cred = RunExecPlugin(c, std::chrono::milliseconds(300));
  ASSERT_FALSE(cred.ok());
  EXPECT_EQ(cred.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST_F(KubeExecTest, InteractiveAlwaysIsRefused) {
  KubeConfig c = ConfigFor("#!/bin/sh\nexit 0\n");
  c.exec->interactive_mode = "Always";
  auto cred = RunExecPlugin(c);
  ASSERT_FALSE(cred.ok());
  EXPECT_THAT(cred.status().message(), HasSubstr("interactive"));
}

TEST(KubeRfc3339, Parses) {
  EXPECT_EQ(ParseRfc3339("2024-01-01T10:00:00Z"), Utc(2024, 1, 1, 10, 0, 0));
  EXPECT_EQ(ParseRfc3339("2024-01-01T12:00:00+02:00"), Utc(2024, 1, 1, 10, 0, 0));
  EXPECT_EQ(ParseRfc3339("2024-01-01T09:30:00-00:30"), Utc(2024, 1, 1, 10, 0, 0));
  EXPECT_EQ(ParseRfc3339("2024-01-01T10:00:00.5Z"), Utc(2024, 1, 1, 10, 0, 0) + std::chrono::milliseconds(500));
  EXPECT_FALSE(ParseRfc3339("2024-01-01 10:00"));
  EXPECT_FALSE(ParseRfc3339("2024-13-01T10:00:00Z"));
  EXPECT_FALSE(ParseRfc3339("2024-01-01T10:00:00"));
}

}  // namespace
}  // namespace mlflow_bridge::internal
