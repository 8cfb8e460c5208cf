#include "targets/local/state_store.h"
#include "common/env.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace mlflow_bridge::internal {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class StateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "mlflow-bridge-state-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  static void Write(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
  }
  fs::path root_;
};

TEST_F(StateStoreTest, Paths) {
  StateStore store(root_.string());
  EXPECT_EQ(store.root(), root_.string());
  EXPECT_EQ(store.DeploymentDir("m"), root_.string() + "/deployments/m");
  EXPECT_EQ(store.RevisionDir("m", 3), root_.string() + "/deployments/m/rev-3");
}

TEST_F(StateStoreTest, SaveLoadRoundTrip) {
  StateStore store(root_.string());
  json state = {{"name", "m"},
                {"port", 5001},
                {"pid", 1234},
                {"pid_start_time", 18446744073709551615ULL},
                {"config", {{"workers", 2}, {"env", {{"A", "b c"}}}}},
                {"model_uri", "models:/churn/1"},
                {"unicode", "caf\u00e9"}};
  Status saved = store.Save("m", state);
  ASSERT_TRUE(saved.ok()) << saved.ToString();
  EXPECT_TRUE(fs::exists(root_ / "deployments/m/state.json"));
  EXPECT_FALSE(fs::exists(root_ / "deployments/m/state.json.tmp"));

  auto loaded = store.Load("m");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ(**loaded, state);
  EXPECT_EQ((**loaded)["pid_start_time"].get<unsigned long long>(), 18446744073709551615ULL);

  // Saving again replaces the state.
  state["port"] = 5002;
  ASSERT_TRUE(store.Save("m", state).ok());
  loaded = store.Load("m");
  ASSERT_TRUE(loaded.ok() && loaded->has_value());
  EXPECT_EQ((**loaded)["port"], 5002);
}

TEST_F(StateStoreTest, LoadMissingIsNullopt) {
  StateStore store(root_.string());
  auto loaded = store.Load("absent");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_FALSE(loaded->has_value());
  // A folder without state.json is not a deployment either.
  fs::create_directories(root_ / "deployments/half");
  loaded = store.Load("half");
  ASSERT_TRUE(loaded.ok());
  EXPECT_FALSE(loaded->has_value());
}

TEST_F(StateStoreTest, CorruptStateIsInternalErrorNamingThePath) {
  StateStore store(root_.string());
  fs::path path = root_ / "deployments/bad/state.json";
  Write(path, "{\"name\": \"bad\", ");
  auto loaded = store.Load("bad");
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kInternalError);
  EXPECT_NE(loaded.status().message().find(path.string()), std::string::npos) << loaded.status().message();

  // Valid JSON that is not an object is corrupt as well.
  Write(path, "[1, 2]");
  loaded = store.Load("bad");
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kInternalError);

  Write(path, "");
  loaded = store.Load("bad");
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kInternalError);
}

TEST_F(StateStoreTest, NamesSortedAndOnlyWithState) {
  StateStore store(root_.string());
  auto none = store.Names();
  ASSERT_TRUE(none.ok()) << none.status().ToString();  // no deployments folder yet
  EXPECT_TRUE(none->empty());

  ASSERT_TRUE(store.Save("zeta", json{{"n", 1}}).ok());
  ASSERT_TRUE(store.Save("alpha", json{{"n", 2}}).ok());
  ASSERT_TRUE(store.Save("Mid.1", json{{"n", 3}}).ok());
  fs::create_directories(root_ / "deployments/no-state");      // a folder without state.json
  Write(root_ / "deployments/stray-file", "x");                // a file, not a folder
  Write(root_ / "deployments/only-tmp/state.json.tmp", "{}");  // an interrupted save
  auto names = store.Names();
  ASSERT_TRUE(names.ok()) << names.status().ToString();
  EXPECT_EQ(*names, (std::vector<std::string>{"Mid.1", "alpha", "zeta"}));
}

TEST_F(StateStoreTest, Remove) {
  StateStore store(root_.string());
  ASSERT_TRUE(store.Save("m", json{{"n", 1}}).ok());
  Write(root_ / "deployments/m/rev-1/model/MLmodel", "flavors: {}\n");
  ASSERT_TRUE(store.Save("other", json{{"n", 2}}).ok());

  Status removed = store.Remove("m");
  ASSERT_TRUE(removed.ok()) << removed.ToString();
  EXPECT_FALSE(fs::exists(root_ / "deployments/m"));
  auto loaded = store.Load("m");
  ASSERT_TRUE(loaded.ok());
  EXPECT_FALSE(loaded->has_value());
  EXPECT_EQ(*store.Names(), std::vector<std::string>{"other"});

  // Removing what is not there is OK.
  EXPECT_TRUE(store.Remove("m").ok());
  EXPECT_TRUE(store.Remove("never-existed").ok());
}

TEST_F(StateStoreTest, LockCreatesLockFile) {
  StateStore store(root_.string());
  {
    auto lock = store.Lock("m");
    ASSERT_TRUE(lock.ok()) << lock.status().ToString();
    EXPECT_TRUE(fs::exists(root_ / "locks/deployments/m.lock"));
  }
  // Released on destruction: it can be taken again (would block forever otherwise).
  auto again = store.Lock("m");
  ASSERT_TRUE(again.ok());
  // Locks of different names are independent.
  auto other = store.Lock("n");
  ASSERT_TRUE(other.ok());
  // A moved-from lock does not release twice; the moved-to one holds it.
  FileLock moved(std::move(*again));
}

TEST_F(StateStoreTest, LockSerialisesThreads) {
  StateStore store(root_.string());
  constexpr int kRounds = 200;
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  int counter = 0;  // unprotected but for the lock
  std::vector<int> order;
  auto worker = [&](int id) {
    for (int i = 0; i < kRounds; ++i) {
      auto lock = store.Lock("shared");
      ASSERT_TRUE(lock.ok()) << lock.status().ToString();
      if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
      int seen = counter;
      order.push_back(id);
      std::this_thread::yield();
      counter = seen + 1;
      inside.fetch_sub(1);
    }
  };
  std::thread a(worker, 1), b(worker, 2);
  a.join();
  b.join();
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_EQ(counter, 2 * kRounds);
  EXPECT_EQ(order.size(), static_cast<size_t>(2 * kRounds));
}

// A holder blocks a second taker until it lets go: the taker's critical
// section runs strictly after the holder's.
TEST_F(StateStoreTest, LockBlocksUntilReleased) {
  StateStore store(root_.string());
  std::vector<std::string> events;
  std::atomic<bool> taker_started{false};
  std::optional<FileLock> held;
  {
    auto lock = store.Lock("m");
    ASSERT_TRUE(lock.ok());
    held.emplace(std::move(*lock));
  }
  events.push_back("holder in");
  std::thread taker([&] {
    taker_started = true;
    auto lock = store.Lock("m");
    ASSERT_TRUE(lock.ok());
    events.push_back("taker in");
  });
  while (!taker_started) std::this_thread::yield();
  events.push_back("holder out");
  held.reset();
  taker.join();
  EXPECT_EQ(events, (std::vector<std::string>{"holder in", "holder out", "taker in"}));
}

TEST(ValidateDeploymentNameTest, Good) {
  for (const std::string& name :
       std::vector<std::string>{"a", "Z", "0", "churn", "churn-model_v1.2", "a..b", "A-", std::string(63, 'x')}) {
    Status s = ValidateDeploymentName(name);
    EXPECT_TRUE(s.ok()) << "'" << name << "': " << s.ToString();
  }
}

TEST(ValidateDeploymentNameTest, Bad) {
  const std::vector<std::string> bad = {"",
                                        std::string(64, 'x'),
                                        "-a",
                                        "_a",
                                        ".a",
                                        "a/b",
                                        "/a",
                                        "..",
                                        ".",
                                        "../a",
                                        "a b",
                                        " a",
                                        "a ",
                                        "a\nb",
                                        "a\tb",
                                        "a:b",
                                        "a\\b",
                                        "caf\u00e9",
                                        std::string("a\0b", 3)};
  for (const std::string& name : bad) {
    Status s = ValidateDeploymentName(name);
    EXPECT_EQ(s.code(), StatusCode::kInvalidParameterValue) << "'" << name << "' was accepted";
  }
  Status s = ValidateDeploymentName("a b");
  EXPECT_NE(s.message().find("'a b'"), std::string::npos) << s.message();
}

class TailFileTest : public StateStoreTest {};

TEST_F(TailFileTest, LastLines) {
  fs::path log = root_ / "server.log";
  Write(log, "one\ntwo\nthree\nfour\n");
  EXPECT_EQ(TailFile(log.string(), 2), "three\nfour\n");
  EXPECT_EQ(TailFile(log.string(), 4), "one\ntwo\nthree\nfour\n");
  EXPECT_EQ(TailFile(log.string(), 10), "one\ntwo\nthree\nfour\n");
  EXPECT_EQ(TailFile(log.string(), 0), "");
}

TEST_F(TailFileTest, LastLineWithoutNewline) {
  fs::path log = root_ / "server.log";
  Write(log, "one\ntwo\nthree");
  EXPECT_EQ(TailFile(log.string(), 2), "two\nthree\n");
}

TEST_F(TailFileTest, EmptyAndMissing) {
  fs::path log = root_ / "empty.log";
  Write(log, "");
  EXPECT_EQ(TailFile(log.string(), 5), "");
  EXPECT_EQ(TailFile((root_ / "missing.log").string(), 5), "");
}

TEST_F(TailFileTest, LargeFile) {
  fs::path log = root_ / "big.log";
  {
    std::ofstream out(log);
    for (int i = 0; i < 100000; ++i) out << "line " << i << "\n";
  }
  EXPECT_EQ(TailFile(log.string(), 3), "line 99997\nline 99998\nline 99999\n");
}

class ResolveHomeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Save("MLFLOW_BRIDGE_HOME", &saved_bridge_home_);
    Save("HOME", &saved_home_);
  }
  void TearDown() override {
    Restore("MLFLOW_BRIDGE_HOME", saved_bridge_home_);
    Restore("HOME", saved_home_);
  }

 private:
  static void Save(const char* name, std::optional<std::string>* out) {
    const char* v = getenv(name);
    if (v) *out = v;
  }
  static void Restore(const char* name, const std::optional<std::string>& v) {
    if (v) {
      setenv(name, v->c_str(), 1);
    } else {
      unsetenv(name);
    }
  }
  std::optional<std::string> saved_bridge_home_, saved_home_;
};

TEST_F(ResolveHomeTest, Precedence) {
  setenv("HOME", "/home/someone", 1);
  setenv("MLFLOW_BRIDGE_HOME", "/srv/bridge", 1);
  EXPECT_EQ(ResolveHome("/explicit"), "/explicit");
  EXPECT_EQ(ResolveHome(""), "/srv/bridge");

  unsetenv("MLFLOW_BRIDGE_HOME");
  EXPECT_EQ(ResolveHome(""), "/home/someone/.mlflow-bridge");
  EXPECT_EQ(ResolveHome("/explicit"), "/explicit");

  setenv("MLFLOW_BRIDGE_HOME", "", 1);  // empty counts as unset
  EXPECT_EQ(ResolveHome(""), "/home/someone/.mlflow-bridge");
}

TEST_F(ResolveHomeTest, NoHome) {
  unsetenv("MLFLOW_BRIDGE_HOME");
  unsetenv("HOME");
  std::string home = ResolveHome("");
  EXPECT_FALSE(home.empty());
  EXPECT_NE(home.find(".mlflow-bridge"), std::string::npos) << home;
}

}  // namespace
}  // namespace mlflow_bridge::internal
