// LocalClient end to end. By default it runs the real native server (mlflow-bridge-serve, decision 0009)
// with tests/servers/fake_serve_worker.py as its model worker; with server=mlflow (or without the native
// server) tests/servers/fake_scoring_server.py stands in for MLflow's scoring server. Both run through
// tests/cpp/fake_python.sh in place of the Python interpreter, so no MLflow is needed.
#include "mlflow_bridge/local_client.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/process.h"
#include "mock_transport.h"
#include "test_support.h"

namespace mlflow_bridge {
namespace {

namespace fs = std::filesystem;
using internal::IsAlive;
using internal::ProcessId;
using nlohmann::json;
using std::chrono::milliseconds;

const fs::path kFakePython = fs::path(__FILE__).parent_path() / "fake_python.sh";
const fs::path kFakeWorker = fs::path(__FILE__).parent_path().parent_path() / "servers" / "fake_serve_worker.py";
#ifdef MLFLOW_BRIDGE_SERVE_BIN
const fs::path kServeBin = MLFLOW_BRIDGE_SERVE_BIN;
#else
const fs::path kServeBin;  // a build without the native server: its tests are skipped
#endif
constexpr char kModelPathEnv[] = "__pyfunc_model_path__";

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A bound for a broken test (a hang), never a timing expectation.
constexpr milliseconds kHangGuard{600'000};

template <typename Pred>
bool WaitFor(Pred pred, milliseconds limit = milliseconds(10'000)) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return pred();
}

bool Zombie(int pid) {
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  auto close = stat.rfind(')');
  return close == std::string::npos || close + 2 >= stat.size() || stat[close + 2] == 'Z';
}

std::optional<int> ProcessGroup(int pid) {
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  auto close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(stat.substr(close + 2));
  std::string state, ppid, pgrp;
  if (!(rest >> state >> ppid >> pgrp)) return std::nullopt;
  return std::atoi(pgrp.c_str());
}

// Live processes whose model path lies under `root`, found through their environment, whatever state.json
// says: the servers (each leads its process group), or with `with_workers` their workers as well.
std::vector<int> ServersUnder(const fs::path& root, bool with_workers = false) {
  std::vector<int> pids;
  std::string needle = std::string(kModelPathEnv) + "=" + root.string();
  DIR* proc = opendir("/proc");
  if (!proc) return pids;
  while (dirent* e = readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    std::ifstream in("/proc/" + std::string(e->d_name) + "/environ", std::ios::binary);
    std::string env((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::istringstream vars(env);
    std::string var;
    while (std::getline(vars, var, '\0')) {
      if (var.rfind(needle, 0) == 0 && !Zombie(static_cast<int>(pid)) &&
          (with_workers || ProcessGroup(static_cast<int>(pid)) == static_cast<int>(pid))) {
        pids.push_back(static_cast<int>(pid));
        break;
      }
    }
  }
  closedir(proc);
  return pids;
}

int PlainListener() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, 16) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

const char kBody[] = R"({"inputs": [[1, 2.5], [3, "x"]]})";

// An HTTP/1.1 client on one kept-alive connection to 127.0.0.1:port, with no retry: it opens a new
// connection only when the last answer said `Connection: close` (or after Reset).
class RawHttpClient {
 public:
  struct Answer {
    int status = 0;
    std::string body;
    std::string error;  // the connection failed before a whole answer
  };
  explicit RawHttpClient(int port) : port_(port) {}
  ~RawHttpClient() { Reset(); }
  void Reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }
  int connections() const { return connections_; }

  Answer Post(const std::string& path, const std::string& body) { return Send("POST", path, body); }
  Answer Send(const std::string& method, const std::string& path, const std::string& body) {
    Answer a;
    if (fd_ < 0 && !Connect(a)) return a;
    std::string request = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
                          "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    for (size_t sent = 0; sent < request.size();) {
      ssize_t n = send(fd_, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) {
        a.error = std::string("send: ") + (n == 0 ? "closed" : std::strerror(errno));
        Reset();
        return a;
      }
      sent += static_cast<size_t>(n);
    }
    std::string in;
    size_t head_end;
    while ((head_end = in.find("\r\n\r\n")) == std::string::npos) {
      if (!Read(in, a)) return a;
    }
    std::string head = in.substr(0, head_end + 2);
    in.erase(0, head_end + 4);
    a.status = std::atoi(head.substr(head.find(' ') + 1).c_str());
    std::string lower = head;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    size_t length = 0;
    if (auto at = lower.find("\r\ncontent-length:"); at != std::string::npos) {
      length = std::strtoul(lower.c_str() + at + 17, nullptr, 10);
    }
    bool close_after = lower.find("\r\nconnection: close\r\n") != std::string::npos;
    while (in.size() < length) {
      if (!Read(in, a)) return a;
    }
    a.body = in.substr(0, length);
    if (close_after) Reset();
    return a;
  }

 private:
  bool Connect(Answer& a) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      a.error = std::string("connect: ") + std::strerror(errno);
      Reset();
      return false;
    }
    ++connections_;
    return true;
  }
  bool Read(std::string& in, Answer& a) {
    char buf[4096];
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      in.append(buf, static_cast<size_t>(n));
      return true;
    }
    a.error = n == 0 ? "the connection closed before the answer" : std::string("recv: ") + std::strerror(errno);
    Reset();
    return false;
  }

  int port_;
  int fd_ = -1;
  int connections_ = 0;
};

class LocalClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(access(kFakePython.c_str(), X_OK), 0) << kFakePython << " is missing or not executable";
    std::string tmpl = (fs::temp_directory_path() / "mlflow-bridge-local-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    home_ = root_ / "home";
    if (!kServeBin.empty()) {
      // What the wheel's mlflow_bridge/serve/ holds: the server, and (here a fake) serve_worker.py.
      serve_dir_ = root_ / "serve";
      fs::create_directories(serve_dir_);
      fs::create_symlink(kServeBin, serve_dir_ / "mlflow-bridge-serve");
      fs::create_symlink(kFakeWorker, serve_dir_ / "serve_worker.py");
    }
    client_ = std::make_unique<LocalClient>(Options());
  }

  void TearDown() override {
    if (client_) {
      auto listed = client_->List();
      if (listed.ok()) {
        for (const auto& d : *listed) {
          Status s = client_->Delete(d["name"].get<std::string>());
          EXPECT_TRUE(s.ok()) << s.ToString();
        }
      }
    }
    auto left = ServersUnder(root_, /*with_workers=*/true);
    EXPECT_TRUE(left.empty()) << left.size() << " server process(es) left behind, first pid " << left.front();
    for (int pid : left) kill(pid, SIGKILL);
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  LocalClientOptions Options() const {
    LocalClientOptions options;
    options.home = home_.string();
    options.serve_dir = serve_dir_.string();
    return options;
  }

  bool HaveNativeServer() const { return !serve_dir_.empty(); }
  void UpdateWithoutDowntime(const json& config);

  // A downloaded ("staged") model folder for the fake server.
  std::string Model(const std::string& name, const std::string& behaviour = "ok") {
    fs::path dir = root_ / ("staged-" + std::to_string(++models_));
    fs::create_directories(dir);
    std::ofstream(dir / "name") << name << "\n";
    if (!behaviour.empty()) std::ofstream(dir / "behaviour") << behaviour << "\n";
    std::ofstream(dir / "MLmodel") << "flavors:\n  python_function: {}\n";
    return dir.string();
  }

  DeployRequest Request(const std::string& name, const std::string& model_dir, json config = json::object()) {
    DeployRequest r;
    r.name = name;
    r.model_uri = "models:/" + name + "/" + std::to_string(models_);
    r.run_id = "run-" + std::to_string(models_);
    r.flavor = "python_function";
    r.model_dir = model_dir;
    r.python = kFakePython.string();
    if (!config.contains("timeout_seconds")) config["timeout_seconds"] = 20;  // bounds a broken test
    r.config = config;
    return r;
  }

  json CreateOk(const std::string& name, const std::string& model_name, json config = json::object()) {
    auto created = client_->Create(Request(name, Model(model_name), config));
    EXPECT_TRUE(created.ok()) << created.status().ToString();
    return created.ok() ? *created : json();
  }

  fs::path DeploymentDir(const std::string& name) const { return home_ / "local" / "deployments" / name; }

  json StateFile(const std::string& name) const {
    return json::parse(ReadFile(DeploymentDir(name) / "state.json"), nullptr, false);
  }

  ProcessId Pid(const std::string& name) const {
    json s = StateFile(name);
    if (!s.is_object()) return {};
    return ProcessId{s.value("pid", 0), s.value("pid_start_time", 0ULL)};
  }

  // The "model" field of a prediction, or the error.
  std::string PredictModel(LocalClient& client, const std::string& name) {
    auto r = client.Predict(name, kBody, "application/json");
    if (!r.ok()) return "error: " + r.status().ToString();
    json body = json::parse(*r, nullptr, false);
    if (!body.is_object()) return "not json: " + *r;
    EXPECT_EQ(body["predictions"], json::parse(kBody)["inputs"]);
    return body.value("model", "no model field: " + *r);
  }
  std::string PredictModel(const std::string& name) { return PredictModel(*client_, name); }

  fs::path root_;
  fs::path home_;
  fs::path serve_dir_;  // the native server; empty when this build has none
  std::unique_ptr<LocalClient> client_;
  int models_ = 0;
};

TEST_F(LocalClientTest, FakePythonIsUsable) {
  // The fake rejects an argv that is not the client's.
  std::string cmd = kFakePython.string() + " -m notuvicorn >/dev/null 2>&1";
  EXPECT_NE(std::system(cmd.c_str()), 0);
}

TEST_F(LocalClientTest, CreateGetPredict) {
  json created = CreateOk("churn", "model-v1");
  ASSERT_TRUE(created.is_object());
  EXPECT_EQ(created["name"], "churn");
  EXPECT_EQ(created["status"], "ready");
  EXPECT_EQ(created["revision"], 1);
  EXPECT_EQ(created["flavor"], "python_function");
  int port = created["port"];
  EXPECT_GT(port, 0);
  EXPECT_EQ(created["url"], "http://127.0.0.1:" + std::to_string(port));

  auto got = client_->Get("churn");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ((*got)["status"], "ready");
  EXPECT_EQ((*got)["port"], port);
  EXPECT_EQ((*got)["model_uri"], "models:/churn/1");
  EXPECT_EQ((*got)["run_id"], "run-1");
  EXPECT_EQ((*got)["pid"], created["pid"]);
  EXPECT_EQ((*got)["config"]["workers"], 1);
  EXPECT_EQ((*got)["server"], HaveNativeServer() ? "native" : "mlflow");
  // "Listening on port" (the native server), "listening on 127.0.0.1:" (the fake of MLflow's)
  EXPECT_NE((*got)["log_tail"].get<std::string>().find("istening on "), std::string::npos) << (*got)["log_tail"];
  EXPECT_TRUE(fs::exists((*got)["log_path"].get<std::string>()));

  EXPECT_TRUE(IsAlive(Pid("churn")));
  EXPECT_EQ(ServersUnder(root_).size(), 1u);
  // The staged model was moved into the deployment.
  EXPECT_TRUE(fs::exists(DeploymentDir("churn") / "rev-1" / "model" / "name"));

  EXPECT_EQ(PredictModel("churn"), "model-v1");

  auto listed = client_->List();
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0]["name"], "churn");
  EXPECT_EQ((*listed)[0]["status"], "ready");

  // Another client (another process, in real life) sees the same deployment.
  LocalClient other(Options());
  EXPECT_EQ(PredictModel(other, "churn"), "model-v1");
}

TEST_F(LocalClientTest, CreateOnFixedPort) {
  int probe = PlainListener();
  ASSERT_GE(probe, 0);
  int port = internal::LocalPort(probe);
  close(probe);
  json created = CreateOk("fixed", "m", {{"port", std::to_string(port)}, {"workers", "2"}});
  ASSERT_TRUE(created.is_object());
  EXPECT_EQ(created["port"], port);
  EXPECT_EQ(created["config"]["workers"], 2);
  EXPECT_EQ(PredictModel("fixed"), "m");
}

TEST_F(LocalClientTest, CheckNew) {
  EXPECT_TRUE(client_->CheckNew("fresh").ok());
  EXPECT_EQ(client_->CheckNew("bad name").code(), StatusCode::kInvalidParameterValue);
  CreateOk("taken", "m");
  Status s = client_->CheckNew("taken");
  EXPECT_EQ(s.code(), StatusCode::kResourceAlreadyExists) << s.ToString();
}

TEST_F(LocalClientTest, CreateExistingNameFailsAndLeavesFirstAlone) {
  json first = CreateOk("dup", "first");
  ASSERT_TRUE(first.is_object());
  ProcessId pid = Pid("dup");

  std::string second_model = Model("second");
  auto again = client_->Create(Request("dup", second_model));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kResourceAlreadyExists) << again.status().ToString();
  EXPECT_NE(again.status().message().find("dup"), std::string::npos);

  EXPECT_TRUE(fs::exists(second_model));  // not consumed
  EXPECT_TRUE(IsAlive(pid));
  EXPECT_EQ(Pid("dup").pid, pid.pid);
  auto got = client_->Get("dup");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)["revision"], 1);
  EXPECT_EQ((*got)["port"], first["port"]);
  EXPECT_EQ((*got)["status"], "ready");
  EXPECT_EQ(PredictModel("dup"), "first");
  EXPECT_EQ(ServersUnder(root_).size(), 1u);
}

TEST_F(LocalClientTest, InvalidName) {
  for (const char* name : {"", "bad/name", "..", "-x", "a b"}) {
    auto r = client_->Create(Request(name, Model("m")));
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidParameterValue) << name << ": " << r.status().ToString();
  }
  EXPECT_EQ(client_->Get("bad/name").status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_EQ(client_->Delete("bad/name").code(), StatusCode::kInvalidParameterValue);
  EXPECT_FALSE(fs::exists(home_ / "local" / "deployments" / "bad"));
  auto listed = client_->List();
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty());
}

TEST_F(LocalClientTest, MissingDeployment) {
  auto got = client_->Get("ghost");
  EXPECT_EQ(got.status().code(), StatusCode::kResourceDoesNotExist) << got.status().ToString();
  EXPECT_NE(got.status().message().find("ghost"), std::string::npos);
  auto predicted = client_->Predict("ghost", kBody, "application/json");
  EXPECT_EQ(predicted.status().code(), StatusCode::kResourceDoesNotExist) << predicted.status().ToString();
  auto updated = client_->Update(Request("ghost", Model("m")));
  EXPECT_EQ(updated.status().code(), StatusCode::kResourceDoesNotExist) << updated.status().ToString();
  auto listed = client_->List();
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty());
  EXPECT_FALSE(fs::exists(DeploymentDir("ghost")));
}

TEST_F(LocalClientTest, UnknownConfigKeyListsValidOnes) {
  auto r = client_->Create(Request("cfg", Model("m"), {{"prot", "5000"}}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidParameterValue);
  const std::string& msg = r.status().message();
  EXPECT_NE(msg.find("prot"), std::string::npos) << msg;
  for (const char* key :
       {"port", "workers", "timeout_seconds", "request_timeout_seconds", "graceful_shutdown_seconds", "env"}) {
    EXPECT_NE(msg.find(key), std::string::npos) << key << " missing from: " << msg;
  }
  // A bad value names the key.
  r = client_->Create(Request("cfg", Model("m"), {{"workers", "many"}}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_NE(r.status().message().find("workers"), std::string::npos) << r.status().message();
  EXPECT_FALSE(fs::exists(DeploymentDir("cfg")));
  EXPECT_TRUE(ServersUnder(root_).empty());
}

TEST_F(LocalClientTest, UnsupportedFlavor) {
  DeployRequest r = Request("flv", Model("m"));
  r.flavor = "sklearn";
  auto created = client_->Create(r);
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_NE(created.status().message().find("sklearn"), std::string::npos);
}

TEST_F(LocalClientTest, MissingModelFolder) {
  auto created = client_->Create(Request("nomodel", (root_ / "does-not-exist").string()));
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.status().code(), StatusCode::kInvalidParameterValue) << created.status().ToString();
  EXPECT_FALSE(fs::exists(DeploymentDir("nomodel")));
  EXPECT_TRUE(client_->List()->empty());
}

TEST_F(LocalClientTest, PortInUse) {
  int held = PlainListener();
  ASSERT_GE(held, 0);
  int port = internal::LocalPort(held);
  auto r = client_->Create(Request("busy", Model("m"), {{"port", port}}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidParameterValue) << r.status().ToString();
  EXPECT_NE(r.status().message().find(std::to_string(port)), std::string::npos) << r.status().message();
  auto listed = client_->List();
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty());
  EXPECT_FALSE(fs::exists(DeploymentDir("busy")));
  EXPECT_TRUE(ServersUnder(root_).empty());
  close(held);
}

TEST_F(LocalClientTest, PortOfAnotherDeployment) {
  json first = CreateOk("one", "m1");
  ASSERT_TRUE(first.is_object());
  auto r = client_->Create(Request("two", Model("m2"), {{"port", first["port"]}}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidParameterValue) << r.status().ToString();
  EXPECT_FALSE(fs::exists(DeploymentDir("two")));
  EXPECT_EQ(PredictModel("one"), "m1");
}

// The port is held by a socket bound with BindSharedPort that does not listen
// yet: the state of a deployment whose server is still loading its model.
TEST_F(LocalClientTest, PortClaimedByAServerStillStarting) {
  // The first server binds its port before it listens; a second create on the
  // same port meanwhile must not share it.
  auto probe = internal::BindSharedPort(0);
  ASSERT_TRUE(probe.ok()) << probe.status().ToString();
  int port = internal::LocalPort(*probe);
  close(*probe);
  StatusOr<json> first = InternalError("not run");
  std::thread starter([&] { first = client_->Create(Request("first", Model("m1", "slow"), {{"port", port}})); });
  while (!fs::exists(DeploymentDir("first") / "state.json") && !first.ok()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  LocalClient other(Options());
  auto late = other.Create(Request("late", Model("m2"), {{"port", port}}));
  starter.join();
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_FALSE(late.ok()) << "both deployments would share port " << port;
  EXPECT_EQ(late.status().code(), StatusCode::kInvalidParameterValue) << late.status().ToString();
  EXPECT_EQ(PredictModel("first"), "m1");
}

TEST_F(LocalClientTest, CrashAtStartLeavesNothing) {
  auto r = client_->Create(Request("crashy", Model("m", "crash")));
  ASSERT_FALSE(r.ok());
  const std::string& msg = r.status().message();
  EXPECT_NE(msg.find("MODEL LOAD FAILED"), std::string::npos) << msg;
  EXPECT_NE(msg.find("simulated crash"), std::string::npos) << msg;
  EXPECT_NE(msg.find("crashy"), std::string::npos) << msg;
  auto listed = client_->List();
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty());
  EXPECT_FALSE(fs::exists(DeploymentDir("crashy")));
  EXPECT_TRUE(ServersUnder(root_).empty());
  EXPECT_EQ(client_->Get("crashy").status().code(), StatusCode::kResourceDoesNotExist);
  // The name is free again.
  CreateOk("crashy", "fixed");
  EXPECT_EQ(PredictModel("crashy"), "fixed");
}

TEST_F(LocalClientTest, HangTimesOutAndLeavesNothing) {
  auto r = client_->Create(Request("slow", Model("m", "hang"), {{"timeout_seconds", 1}}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded) << r.status().ToString();
  EXPECT_NE(r.status().message().find("timeout_seconds"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("model loading hangs"), std::string::npos) << r.status().message();
  auto listed = client_->List();
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty());
  EXPECT_FALSE(fs::exists(DeploymentDir("slow")));
  EXPECT_TRUE(ServersUnder(root_).empty());
}

// A server that listens but whose /ping fails: the fake of MLflow's server (the native one answers /ping
// itself, 200 once a worker has loaded the model).
TEST_F(LocalClientTest, FailingPingTimesOutAndLeavesNothing) {
  auto r = client_->Create(Request("sick", Model("m", "fail_ping"), {{"timeout_seconds", 1}, {"server", "mlflow"}}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded) << r.status().ToString();
  EXPECT_FALSE(fs::exists(DeploymentDir("sick")));
  EXPECT_TRUE(ServersUnder(root_).empty());
}

TEST_F(LocalClientTest, UpdateToNewModel) {
  json created = CreateOk("upd", "v1");
  ASSERT_TRUE(created.is_object());
  ProcessId old_pid = Pid("upd");
  ASSERT_TRUE(IsAlive(old_pid));

  auto updated = client_->Update(Request("upd", Model("v2")));
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_EQ((*updated)["port"], created["port"]);
  EXPECT_EQ((*updated)["revision"], 2);
  EXPECT_EQ((*updated)["status"], "ready");
  EXPECT_NE((*updated)["pid"], created["pid"]);
  EXPECT_EQ((*updated)["model_uri"], "models:/upd/2");
  EXPECT_EQ((*updated)["created_at"], created["created_at"]);

  ProcessId new_pid = Pid("upd");
  EXPECT_EQ(new_pid.pid, (*updated)["pid"].get<int>());
  EXPECT_TRUE(IsAlive(new_pid));
  EXPECT_FALSE(IsAlive(old_pid));
  EXPECT_EQ(PredictModel("upd"), "v2");
  EXPECT_EQ(ServersUnder(root_).size(), 1u);
  // The old revision's folder is gone with its model.
  EXPECT_FALSE(fs::exists(DeploymentDir("upd") / "rev-1"));
  EXPECT_TRUE(fs::exists(DeploymentDir("upd") / "rev-2" / "model" / "name"));
}

TEST_F(LocalClientTest, UpdateConfigOnlyKeepsModel) {
  json created = CreateOk("cfgupd", "v1");
  ASSERT_TRUE(created.is_object());
  auto updated = client_->Update(Request("cfgupd", "", {{"workers", 2}}));
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_EQ((*updated)["revision"], 2);
  EXPECT_EQ((*updated)["config"]["workers"], 2);
  EXPECT_EQ((*updated)["model_uri"], created["model_uri"]);
  EXPECT_EQ((*updated)["port"], created["port"]);
  EXPECT_EQ(PredictModel("cfgupd"), "v1");
  EXPECT_EQ(ServersUnder(root_).size(), 1u);

  // A later update with a new model frees the first model too.
  updated = client_->Update(Request("cfgupd", Model("v3")));
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_EQ((*updated)["revision"], 3);
  EXPECT_EQ((*updated)["config"]["workers"], 2);  // config given earlier is kept
  EXPECT_EQ(PredictModel("cfgupd"), "v3");
  EXPECT_TRUE(fs::exists(DeploymentDir("cfgupd") / "rev-3" / "model"));
  EXPECT_FALSE(fs::exists(DeploymentDir("cfgupd") / "rev-2"));
  EXPECT_FALSE(fs::exists(DeploymentDir("cfgupd") / "rev-1"))
      << "rev-1 (the first model, unused since revision 3) was left on disk";
}

// Predictions through LocalClient::Predict (libcurl, kept-alive connections) run without a pause while
// `update` swaps v1 for v2: each one gets the answer of one of the models, v1 then v2. No timing is assumed:
// the client sends until it has seen v2 (kHangGuard bounds a broken test).
void LocalClientTest::UpdateWithoutDowntime(const json& config) {
  json created = CreateOk("live", "v1", config);
  ASSERT_TRUE(created.is_object());

  std::atomic<bool> done{false}, saw_old{false}, saw_new{false};
  std::atomic<int> calls{0}, failures{0};
  std::vector<std::string> errors;  // read after the join
  std::vector<std::string> seen;
  std::thread predictor([&] {
    LocalClient other(Options());
    while (!done) {
      std::string model = PredictModel(other, "live");
      ++calls;
      if (model == "v1" || model == "v2") {
        if (seen.empty() || seen.back() != model) seen.push_back(model);
        (model == "v1" ? saw_old : saw_new) = true;
      } else {
        errors.push_back(model);
        ++failures;
      }
    }
  });
  bool started = WaitFor([&] { return saw_old || failures > 0; }, kHangGuard);
  auto updated = client_->Update(Request("live", Model("v2")));
  // Until the new model has answered (after the old server stopped: update has returned).
  bool switched = updated.ok() && WaitFor([&] { return saw_new || failures > 0; }, kHangGuard);
  done = true;
  predictor.join();

  RecordProperty("predictions", calls.load());
  ASSERT_TRUE(started);
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_TRUE(switched);
  EXPECT_TRUE(errors.empty()) << errors.size() << " of " << calls
                              << " predictions failed during the update, first: " << errors.front();
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.front(), "v1");
  EXPECT_EQ(seen.back(), "v2");
  EXPECT_EQ(seen.size(), 2u) << "answers alternated between the servers";
  EXPECT_EQ(PredictModel("live"), "v2");
}

TEST_F(LocalClientTest, UpdateWithoutDowntime) { UpdateWithoutDowntime(json::object()); }

TEST_F(LocalClientTest, UpdateWithoutDowntimeWithMlflowServer) { UpdateWithoutDowntime({{"server", "mlflow"}}); }

// A client on one kept-alive connection, sending request after request while `update` runs, with no retry
// of its own (unlike libcurl, which resends a request a closed kept-alive connection did not take): every
// answer is a 200, no connection is reset or closed before its answer. The old server drains: the
// connection's next answer says `Connection: close`, and the client's next connection reaches the new
// server.
TEST_F(LocalClientTest, KeepAliveClientAcrossUpdateSeesNoReset) {
  if (!HaveNativeServer()) GTEST_SKIP() << "this build has no native server";
  json created = CreateOk("kept", "v1");
  ASSERT_TRUE(created.is_object());
  const int port = created["port"];
  std::atomic<bool> done{false}, saw_old{false}, saw_new{false};
  std::atomic<int> calls{0}, failures{0};
  std::vector<std::string> errors, seen;  // read after the join
  int connections = 0;
  std::thread client([&] {
    RawHttpClient http(port);
    while (!done) {
      RawHttpClient::Answer a = http.Post("/invocations", kBody);
      ++calls;
      if (!a.error.empty() || a.status != 200) {
        errors.push_back(a.error.empty() ? "status " + std::to_string(a.status) + ": " + a.body : a.error);
        ++failures;
        http.Reset();
        continue;
      }
      json answer = json::parse(a.body, nullptr, false);
      std::string model = answer.is_object() ? answer.value("model", "?") : "not json: " + a.body;
      if (seen.empty() || seen.back() != model) seen.push_back(model);
      (model == "v2" ? saw_new : saw_old) = true;
    }
    connections = http.connections();
  });
  bool started = WaitFor([&] { return saw_old || failures > 0; }, kHangGuard);
  auto updated = client_->Update(Request("kept", Model("v2")));
  bool switched = updated.ok() && WaitFor([&] { return saw_new || failures > 0; }, kHangGuard);
  done = true;
  client.join();
  RecordProperty("requests", calls.load());
  ASSERT_TRUE(started);
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_TRUE(switched);
  EXPECT_TRUE(errors.empty()) << errors.size() << " of " << calls << " requests failed, first: " << errors.front();
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.front(), "v1");
  EXPECT_EQ(seen.back(), "v2");
  EXPECT_EQ(seen.size(), 2u) << "answers alternated between the servers";
  EXPECT_GE(connections, 2);  // it reconnected (told by `Connection: close`) to reach the new server
}

TEST_F(LocalClientTest, UpdateToCrashingModelKeepsOldServing) {
  json created = CreateOk("keep", "good");
  ASSERT_TRUE(created.is_object());
  ProcessId pid = Pid("keep");

  auto updated = client_->Update(Request("keep", Model("bad", "crash")));
  ASSERT_FALSE(updated.ok());
  EXPECT_NE(updated.status().message().find("simulated crash"), std::string::npos) << updated.status().message();
  EXPECT_NE(updated.status().message().find("previous model keeps serving"), std::string::npos)
      << updated.status().message();

  EXPECT_TRUE(IsAlive(pid));
  EXPECT_EQ(PredictModel("keep"), "good");
  auto got = client_->Get("keep");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ((*got)["revision"], 1);
  EXPECT_EQ((*got)["pid"], pid.pid);
  EXPECT_EQ((*got)["status"], "ready");
  EXPECT_EQ((*got)["model_uri"], created["model_uri"]);
  EXPECT_FALSE(fs::exists(DeploymentDir("keep") / "rev-2"));
  EXPECT_EQ(ServersUnder(root_).size(), 1u);

  // And a hanging one times out with the same outcome.
  updated = client_->Update(Request("keep", Model("stuck", "hang"), {{"timeout_seconds", 1}}));
  ASSERT_FALSE(updated.ok());
  EXPECT_EQ(updated.status().code(), StatusCode::kDeadlineExceeded) << updated.status().ToString();
  EXPECT_EQ(PredictModel("keep"), "good");
  EXPECT_EQ(ServersUnder(root_).size(), 1u);
  // The failed update's config (timeout_seconds=1) was not kept either.
  EXPECT_EQ(client_->Get("keep").value()["config"]["timeout_seconds"], 20);
}

// The new server starts and answers, then saving the state fails: the rollback record stops the new
// server and removes its revision folder; the old server and the state file stay as they were.
TEST_F(LocalClientTest, UpdateFailingToSaveRollsBackAndKeepsOldServing) {
  json created = CreateOk("unsaved", "good");
  ASSERT_TRUE(created.is_object());
  ProcessId pid = Pid("unsaved");
  const fs::path tmp = DeploymentDir("unsaved") / "state.json.tmp";
  fs::create_directories(tmp / "blocked");  // the state file cannot be written through a folder

  auto updated = client_->Update(Request("unsaved", Model("new")));
  ASSERT_FALSE(updated.ok()) << updated->dump();
  EXPECT_EQ(updated.status().code(), StatusCode::kInternalError) << updated.status().ToString();
  EXPECT_NE(updated.status().message().find("previous model keeps serving"), std::string::npos)
      << updated.status().message();
  EXPECT_NE(updated.status().message().find("cannot write"), std::string::npos) << updated.status().message();
  EXPECT_EQ(updated.status().message().find("could not undo"), std::string::npos) << updated.status().message();
  EXPECT_FALSE(fs::exists(DeploymentDir("unsaved") / "rev-2"));
  EXPECT_TRUE(fs::exists(DeploymentDir("unsaved") / "rev-1" / "model"));
  EXPECT_TRUE(IsAlive(pid));
  EXPECT_EQ(ServersUnder(root_).size(), 1u);  // the new server was stopped
  EXPECT_EQ(PredictModel("unsaved"), "good");
  EXPECT_EQ(StateFile("unsaved")["revision"], 1);
  EXPECT_EQ(StateFile("unsaved")["pid"], pid.pid);

  fs::remove_all(tmp);
  auto retried = client_->Update(Request("unsaved", Model("new")));
  ASSERT_TRUE(retried.ok()) << retried.status().ToString();
  EXPECT_EQ(PredictModel("unsaved"), "new");
}

// A model folder that is not there: nothing is started and no revision folder is left.
TEST_F(LocalClientTest, UpdateFromMissingModelFolderLeavesNothing) {
  CreateOk("nomodel", "good");
  auto updated = client_->Update(Request("nomodel", (root_ / "not-there").string()));
  ASSERT_FALSE(updated.ok());
  EXPECT_EQ(updated.status().code(), StatusCode::kInvalidParameterValue) << updated.status().ToString();
  EXPECT_NE(updated.status().message().find("previous model keeps serving"), std::string::npos)
      << updated.status().message();
  EXPECT_FALSE(fs::exists(DeploymentDir("nomodel") / "rev-2"));
  EXPECT_EQ(PredictModel("nomodel"), "good");
  EXPECT_EQ(ServersUnder(root_).size(), 1u);
}

// The new server listens but its health route fails: the update must not go
// through, even though the client has a kept-alive connection to the old
// server on the same host and port (the health check must reach the new one).
TEST_F(LocalClientTest, UpdateToUnhealthyModelKeepsOldServing) {
  json created = CreateOk("ping", "good", {{"server", "mlflow"}});  // fail_ping: see FailingPingTimesOut...
  ASSERT_TRUE(created.is_object());
  ProcessId pid = Pid("ping");
  EXPECT_EQ(PredictModel("ping"), "good");  // a pooled connection to the old server

  auto updated = client_->Update(Request("ping", Model("sick", "fail_ping"), {{"timeout_seconds", 2}}));
  EXPECT_FALSE(updated.ok()) << "Update to a model whose /ping fails succeeded: " << updated->dump();
  if (!updated.ok()) {
    EXPECT_EQ(updated.status().code(), StatusCode::kDeadlineExceeded) << updated.status().ToString();
  }
  EXPECT_TRUE(IsAlive(pid));
  EXPECT_EQ(PredictModel("ping"), "good");
  auto got = client_->Get("ping");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)["revision"], 1);
  EXPECT_EQ((*got)["status"], "ready");
}

// The same through a client that has no connection to the old server.
TEST_F(LocalClientTest, UpdateToUnhealthyModelFromFreshClient) {
  CreateOk("ping2", "good", {{"server", "mlflow"}});
  ProcessId pid = Pid("ping2");
  LocalClient fresh(Options());
  auto updated = fresh.Update(Request("ping2", Model("sick", "fail_ping"), {{"timeout_seconds", 2}}));
  ASSERT_FALSE(updated.ok());
  EXPECT_EQ(updated.status().code(), StatusCode::kDeadlineExceeded) << updated.status().ToString();
  EXPECT_TRUE(IsAlive(pid));
  EXPECT_EQ(PredictModel(fresh, "ping2"), "good");
  EXPECT_EQ(ServersUnder(root_).size(), 1u);
}

TEST_F(LocalClientTest, UpdateWithUnknownConfigKey) {
  CreateOk("cfgbad", "v1");
  auto updated = client_->Update(Request("cfgbad", Model("v2"), {{"bogus", 1}}));
  ASSERT_FALSE(updated.ok());
  EXPECT_EQ(updated.status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_NE(updated.status().message().find("workers"), std::string::npos) << updated.status().message();
  EXPECT_EQ(PredictModel("cfgbad"), "v1");
}

TEST_F(LocalClientTest, DeleteStopsAndIsIdempotent) {
  CreateOk("gone", "m");
  ProcessId pid = Pid("gone");
  ASSERT_TRUE(IsAlive(pid));
  Status s = client_->Delete("gone");
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_FALSE(IsAlive(pid));
  EXPECT_FALSE(fs::exists(DeploymentDir("gone")));
  EXPECT_EQ(client_->Get("gone").status().code(), StatusCode::kResourceDoesNotExist);
  EXPECT_EQ(client_->Predict("gone", kBody, "application/json").status().code(), StatusCode::kResourceDoesNotExist);
  EXPECT_TRUE(client_->List()->empty());
  EXPECT_TRUE(ServersUnder(root_).empty());
  s = client_->Delete("gone");
  EXPECT_TRUE(s.ok()) << s.ToString();
  s = client_->Delete("never-was");
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST_F(LocalClientTest, PredictBadBody) {
  CreateOk("strict", "m");
  auto r = client_->Predict("strict", "this is not json", "application/json");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidParameterValue) << r.status().ToString();
  EXPECT_NE(r.status().message().find("The body is not valid JSON"), std::string::npos) << r.status().message();

  r = client_->Predict("strict", R"({"instances": [1]})", "application/json");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidParameterValue) << r.status().ToString();
  EXPECT_NE(r.status().message().find("must be an object with the key 'inputs'"), std::string::npos) << r.status().message();
  // Still serving.
  EXPECT_EQ(PredictModel("strict"), "m");
}

// Predict follows decision 0002 (the shared scoring call): sent again only when it was not processed.
// A scripted transport stands between the client and a live deployment; each kind of failure once.
TEST_F(LocalClientTest, PredictIsSentAgainOnlyWhenNotProcessed) {
  json created = CreateOk("rules", "m", {{"request_timeout_seconds", 7}});
  ASSERT_TRUE(created.is_object());
  const HttpResponse answer{200, {}, R"({"predictions": [1]})"};
  struct Case {
    const char* kind;
    std::vector<StatusOr<HttpResponse>> replies;
    size_t sends;
    bool ok;
  };
  const std::vector<Case> cases = {
      {"refused", {UnavailableError("refused").set_not_processed(), answer}, 2, true},
      {"429", {HttpResponse{429, {}, ""}, answer}, 2, true},
      {"503 with Retry-After", {HttpResponse{503, {{"Retry-After", "1"}}, ""}, answer}, 2, true},
      {"503", {HttpResponse{503, {}, ""}, answer}, 1, false},
      {"500", {HttpResponse{500, {}, "boom"}, answer}, 1, false},
      {"timeout", {DeadlineExceededError("timed out"), answer}, 1, false},
      {"lost reply", {UnavailableError("Empty reply from server"), answer}, 1, false},
      {"model error", {HttpResponse{400, {}, R"({"error_code": "BAD_REQUEST", "message": "no"})"}, answer}, 1, false},
  };
  for (const Case& c : cases) {
    auto transport = std::make_shared<MockTransport>();
    for (const auto& reply : c.replies) transport->Enqueue(reply);
    LocalClientOptions options = Options();
    options.transport = transport;
    options.clock = std::make_shared<testing::FakeClock>();
    auto r = LocalClient(options).Predict("rules", kBody, "application/json");
    EXPECT_EQ(r.ok(), c.ok) << c.kind << ": " << r.status().ToString();
    const auto sent = transport->requests();
    ASSERT_EQ(sent.size(), c.sends) << c.kind;
    EXPECT_EQ(sent[0].url, created["url"].get<std::string>() + "/invocations");
    EXPECT_EQ(sent[0].timeout, std::chrono::seconds(7));
    if (std::string(c.kind) == "model error") {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidParameterValue);
      EXPECT_EQ(r.status().message(), "Local deployment 'rules' rejected the input: no");
    }
  }
  EXPECT_EQ(PredictModel("rules"), "m");
}

TEST_F(LocalClientTest, PredictAfterServerDied) {
  CreateOk("dead", "m");
  ProcessId pid = Pid("dead");
  ASSERT_TRUE(IsAlive(pid));
  ASSERT_EQ(kill(pid.pid, SIGKILL), 0);
  ASSERT_TRUE(WaitFor([&] { return !IsAlive(pid); }));

  auto r = client_->Predict("dead", kBody, "application/json");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTemporarilyUnavailable) << r.status().ToString();
  EXPECT_NE(r.status().message().find("dead"), std::string::npos) << r.status().message();
  auto got = client_->Get("dead");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)["status"], "exited");
  auto listed = client_->List();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0]["status"], "exited");
  // Update brings it back on the same port.
  auto updated = client_->Update(Request("dead", Model("revived")));
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_EQ(PredictModel("dead"), "revived");
}

TEST_F(LocalClientTest, InterruptedCreateLeavesNothing) {
  LocalClientOptions options = Options();
  std::atomic<int> polls{0};
  options.interrupted = [&] { return ++polls >= 3; };
  LocalClient client(options);
  auto r = client.Create(Request("stopme", Model("m", "hang")));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("nterrupted"), std::string::npos) << r.status().ToString();
  EXPECT_FALSE(fs::exists(DeploymentDir("stopme")));
  EXPECT_TRUE(ServersUnder(root_).empty());
  auto listed = client_->List();
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty());
}

TEST_F(LocalClientTest, InterruptedUpdateKeepsOldServing) {
  CreateOk("keep2", "good");
  LocalClientOptions options = Options();
  std::atomic<int> polls{0};
  options.interrupted = [&] { return ++polls >= 3; };
  LocalClient client(options);
  auto r = client.Update(Request("keep2", Model("m", "hang")));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(PredictModel("keep2"), "good");
  EXPECT_EQ(client_->Get("keep2").value()["revision"], 1);
  EXPECT_EQ(ServersUnder(root_).size(), 1u);
}

TEST_F(LocalClientTest, EnvReachesServerAndSecretsAreMasked) {
  json created = CreateOk("envy", "m", {{"env", {{"OMP_NUM_THREADS", "1"}, {"HF_TOKEN", "hunter2"}}}});
  ASSERT_TRUE(created.is_object());
  ProcessId pid = Pid("envy");
  std::string environ = ReadFile("/proc/" + std::to_string(pid.pid) + "/environ");
  EXPECT_NE(environ.find(std::string("OMP_NUM_THREADS=1") + '\0'), std::string::npos);
  EXPECT_NE(environ.find(std::string("HF_TOKEN=hunter2") + '\0'), std::string::npos);
  EXPECT_NE(environ.find("MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT=60"), std::string::npos);
  auto got = client_->Get("envy");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)["config"]["env"]["OMP_NUM_THREADS"], "1");
  EXPECT_EQ((*got)["config"]["env"]["HF_TOKEN"], "***");
  EXPECT_EQ(got->dump().find("hunter2"), std::string::npos) << got->dump();
  EXPECT_EQ(created.dump().find("hunter2"), std::string::npos) << created.dump();
  auto listed = client_->List();
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->dump().find("hunter2"), std::string::npos) << listed->dump();
}

TEST_F(LocalClientTest, RunLocalReportsServerFailure) {
  DeployRequest r = Request("", Model("m", "crash"));
  Status s = client_->RunLocal(r);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("status 1"), std::string::npos) << s.ToString();
  EXPECT_TRUE(ServersUnder(root_).empty());
}

TEST_F(LocalClientTest, MlflowServerOnRequest) {
  json created = CreateOk("classic", "m", {{"server", "mlflow"}});
  ASSERT_TRUE(created.is_object());
  EXPECT_EQ(created["server"], "mlflow");
  EXPECT_EQ(created["config"]["server"], "mlflow");
  EXPECT_EQ(PredictModel("classic"), "m");
  auto got = client_->Get("classic");
  ASSERT_TRUE(got.ok());
  EXPECT_NE((*got)["log_tail"].get<std::string>().find("fake_scoring_server"), std::string::npos) << (*got)["log_tail"];
}

// No native server in this installation (no serve_dir, or one without the binary): MLflow's server, with a
// warning that says how to choose it explicitly.
TEST_F(LocalClientTest, WithoutNativeServerFallsBackWithWarning) {
  fs::create_directories(root_ / "empty-serve-dir");
  for (const std::string& dir : {std::string(), (root_ / "empty-serve-dir").string()}) {
    LocalClientOptions options = Options();
    options.serve_dir = dir;
    LocalClient client(options);
    testing::ScopedLogCapture logs(LogLevel::kWarning);
    auto created = client.Create(Request("fallback", Model("m")));
    ASSERT_TRUE(created.ok()) << created.status().ToString();
    EXPECT_EQ((*created)["server"], "mlflow");
    EXPECT_NE(logs.text().find("serving with MLflow's scoring server instead"), std::string::npos) << logs.text();
    EXPECT_NE(logs.text().find("-C server=mlflow"), std::string::npos) << logs.text();
    EXPECT_EQ(PredictModel(client, "fallback"), "m");
    ASSERT_TRUE(client.Delete("fallback").ok());
  }
}

// server=native given explicitly where there is none: an error, before anything starts.
TEST_F(LocalClientTest, NativeServerAskedForButMissingFails) {
  LocalClientOptions options = Options();
  options.serve_dir = "";
  LocalClient client(options);
  auto created = client.Create(Request("strict", Model("m"), {{"server", "native"}}));
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.status().code(), StatusCode::kInvalidParameterValue) << created.status().ToString();
  EXPECT_NE(created.status().message().find("server=native was asked for"), std::string::npos) << created.status().message();
  EXPECT_NE(created.status().message().find("-C server=mlflow"), std::string::npos) << created.status().message();
  EXPECT_FALSE(fs::exists(DeploymentDir("strict")));
  EXPECT_TRUE(ServersUnder(root_).empty());
  Status run = client.RunLocal(Request("", Model("m"), {{"server", "native"}}));
  EXPECT_EQ(run.code(), StatusCode::kInvalidParameterValue) << run.ToString();
}

// An update may change the server; the swap is the same.
TEST_F(LocalClientTest, UpdateSwitchesServers) {
  if (!HaveNativeServer()) GTEST_SKIP() << "this build has no native server";
  CreateOk("switch", "v1", {{"server", "mlflow"}});
  auto updated = client_->Update(Request("switch", Model("v2"), {{"server", "native"}}));
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_EQ((*updated)["server"], "native");
  EXPECT_EQ(PredictModel("switch"), "v2");
  updated = client_->Update(Request("switch", "", {{"server", "mlflow"}}));
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_EQ((*updated)["server"], "mlflow");
  EXPECT_EQ(PredictModel("switch"), "v2");
  EXPECT_EQ(ServersUnder(root_).size(), 1u);
}

// The native server's keys reach its command line; its access log goes to the deployment's log.
TEST_F(LocalClientTest, NativeConfigReachesServer) {
  if (!HaveNativeServer()) GTEST_SKIP() << "this build has no native server";
  json created = CreateOk("tuned", "m",
                          {{"workers", 2},
                           {"max_queue", "7"},
                           {"max_body_mb", 3},
                           {"access_log", "true"},
                           {"request_timeout_seconds", 9},
                           {"graceful_shutdown_seconds", 4}});
  ASSERT_TRUE(created.is_object());
  std::string cmdline = ReadFile("/proc/" + std::to_string(Pid("tuned").pid) + "/cmdline");
  std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
  for (const char* arg : {"--fd 3 ", "--workers 2 ", "--max-queue 7 ", "--max-body-mb 3 ", "--access-log - ",
                          "--request-timeout-seconds 9 ", "--drain-seconds 4 ", "--worker-script "}) {
    EXPECT_NE(cmdline.find(arg), std::string::npos) << arg << " not in: " << cmdline;
  }
  EXPECT_NE(cmdline.find("--batching auto "), std::string::npos) << cmdline;
  EXPECT_EQ(PredictModel("tuned"), "m");
  // The access log line of that request, in the deployment's log.
  ASSERT_TRUE(WaitFor([&] {
    auto got = client_->Get("tuned");
    return got.ok() && (*got)["log_tail"].get<std::string>().find("/invocations") != std::string::npos;
  }));
}

// batching=true|false reaches the server's command line.
TEST_F(LocalClientTest, BatchingReachesTheServer) {
  if (!HaveNativeServer()) GTEST_SKIP() << "this build has no native server";
  auto created = client_->Create(Request("batched", Model("m"), {{"batching", "false"}}));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  std::string cmdline = ReadFile("/proc/" + std::to_string(Pid("batched").pid) + "/cmdline");
  std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
  EXPECT_NE(cmdline.find("--batching false "), std::string::npos) << cmdline;
}

// run_local serves in the foreground with the native server until interrupted, on every route contract.
TEST_F(LocalClientTest, RunLocalServesWithNativeServerUntilInterrupted) {
  if (!HaveNativeServer()) GTEST_SKIP() << "this build has no native server";
  auto probe = internal::BindSharedPort(0);
  ASSERT_TRUE(probe.ok()) << probe.status().ToString();
  int port = internal::LocalPort(*probe);
  close(*probe);
  std::atomic<bool> stop{false};
  LocalClientOptions options = Options();
  options.interrupted = [&] { return stop.load(); };
  LocalClient client(options);
  Status result = InternalError("not run");
  std::thread runner([&] { result = client.RunLocal(Request("", Model("fg"), {{"port", port}})); });
  RawHttpClient http(port);
  bool ready = WaitFor(
      [&] {
        http.Reset();
        return http.Send("GET", "/v2/health/ready", "").status == 200;
      },
      kHangGuard);
  std::vector<std::string> answers;
  for (const char* route : {"/invocations", "/score", "/predict"}) {
    auto a = http.Post(route, kBody);
    answers.push_back(std::to_string(a.status) + " " + a.body + a.error);
  }
  stop = true;
  runner.join();
  ASSERT_TRUE(ready);
  for (const auto& a : answers) EXPECT_EQ(a.rfind("200 ", 0), 0u) << a;
  EXPECT_NE(answers[0].find(R"("model": "fg")"), std::string::npos) << answers[0];
  EXPECT_TRUE(result.ok()) << result.ToString();
  EXPECT_TRUE(ServersUnder(root_, /*with_workers=*/true).empty());
}

}  // namespace
}  // namespace mlflow_bridge
