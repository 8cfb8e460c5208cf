// The typed config of the `local` target (targets/local/config.h) and the form the state file keeps.
#include "targets/local/config.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace mlflow_bridge::internal {
namespace {

using nlohmann::json;

TEST(LocalConfigTest, DefaultsForNothingGiven) {
  for (const json& given : {json(), json::object()}) {
    auto c = ParseLocalConfig(given);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_EQ(c->port, 0);
    EXPECT_EQ(c->workers, 1);
    EXPECT_EQ(c->timeout_seconds, 300);
    EXPECT_EQ(c->request_timeout_seconds, 60);
    EXPECT_EQ(c->graceful_shutdown_seconds, 10);
    EXPECT_TRUE(c->env.empty());
    EXPECT_EQ(c->server, "native");
    EXPECT_FALSE(c->server_given);  // the native server by default: MLflow's where there is none
    EXPECT_EQ(c->native.batching, "auto");
    EXPECT_EQ(c->native.max_queue, 1024);
    EXPECT_EQ(c->native.max_body_mb, 64);
    EXPECT_FALSE(c->native.access_log);
    EXPECT_EQ(c->native.prediction_log, "");
    EXPECT_EQ(c->native.prediction_log_rate, 1.0);
    EXPECT_TRUE(c->native_keys_given.empty());
  }
}

TEST(LocalConfigTest, ServerKeys) {
  auto c = ParseLocalConfig({{"server", "mlflow"}});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->server, "mlflow");
  EXPECT_TRUE(c->server_given);
  c = ParseLocalConfig({{"server", "native"},
                        {"batching", "false"},
                        {"max_queue", "5"},
                        {"access_log", "yes"},
                        {"prediction_log", "preds.jsonl"},
                        {"prediction_log_rate", "0.25"}});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->server_given);
  EXPECT_EQ(c->native.batching, "false");
  EXPECT_EQ(c->native.max_queue, 5);
  EXPECT_TRUE(c->native.access_log);
  EXPECT_EQ(c->native.prediction_log, (std::filesystem::current_path() / "preds.jsonl").string());  // the caller's folder
  EXPECT_EQ(c->native.prediction_log_rate, 0.25);
  EXPECT_EQ(c->native_keys_given,
            (std::vector<std::string>{"batching", "max_queue", "access_log", "prediction_log", "prediction_log_rate"}));
  for (const json& bad : {json{{"server", "uvicorn"}}, json{{"batching", "sometimes"}}, json{{"max_queue", 0}},
                          json{{"prediction_log_rate", 2}}}) {
    auto r = ParseLocalConfig(bad);
    ASSERT_FALSE(r.ok()) << bad.dump();
    EXPECT_NE(r.status().message().find(bad.items().begin().key()), std::string::npos) << r.status().message();
  }
  // The stored config reads back; its server was given then, but what a deployment runs is in its state.
  LocalConfig back = StoredLocalConfig(ToJson(*c));
  EXPECT_EQ(back.native.max_queue, 5);
  EXPECT_EQ(back.native.prediction_log, c->native.prediction_log);
}

TEST(LocalConfigTest, CliStringsAndSdkValues) {
  auto c = ParseLocalConfig({{"port", "5001"},
                             {"workers", 2},
                             {"timeout_seconds", "30"},
                             {"request_timeout_seconds", 5},
                             {"graceful_shutdown_seconds", "0"},
                             {"env", R"({"OMP_NUM_THREADS": 1, "MODE": "x"})"}});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->port, 5001);
  EXPECT_EQ(c->workers, 2);
  EXPECT_EQ(c->timeout_seconds, 30);
  EXPECT_EQ(c->request_timeout_seconds, 5);
  EXPECT_EQ(c->graceful_shutdown_seconds, 0);
  // The server's environment holds text: a value given as other JSON is its text.
  EXPECT_EQ(c->env, (std::map<std::string, std::string>{{"OMP_NUM_THREADS", "1"}, {"MODE", "x"}}));
}

TEST(LocalConfigTest, ErrorsNameTheKey) {
  auto c = ParseLocalConfig({{"workers", 0}});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_NE(c.status().message().find("'workers'"), std::string::npos) << c.status().message();
  c = ParseLocalConfig({{"bogus", 1}});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("Valid keys: port, workers"), std::string::npos) << c.status().message();
  c = ParseLocalConfig({{"env", "not json"}});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("JSON object"), std::string::npos) << c.status().message();
}

// The state file keeps what ParseConfig returned before the struct existed: every key, ints as ints.
TEST(LocalConfigTest, StoredFormatIsUnchanged) {
  const json given = {{"port", "5001"}, {"env", {{"A", "1"}}}};
  auto c = ParseLocalConfig(given);
  ASSERT_TRUE(c.ok());
  auto untyped = ParseConfig(LocalConfigSchema(), given);
  ASSERT_TRUE(untyped.ok());
  EXPECT_EQ(ToJson(*c), *untyped);
  EXPECT_EQ(ToJson(LocalConfig{}), *ParseConfig(LocalConfigSchema(), json::object()));
}

TEST(LocalConfigTest, StoredConfigReadsBack) {
  LocalConfig c;
  c.port = 6000;
  c.graceful_shutdown_seconds = 3;
  c.env = {{"K", "v"}};
  LocalConfig back = StoredLocalConfig(ToJson(c));
  EXPECT_EQ(back.port, 6000);
  EXPECT_EQ(back.graceful_shutdown_seconds, 3);
  EXPECT_EQ(back.env, c.env);
  // An older state file: numbers in env, a key it lacks, a key no longer known.
  back = StoredLocalConfig({{"port", 6001}, {"env", {{"N", 1}}}, {"retired", true}});
  EXPECT_EQ(back.port, 6001);
  EXPECT_EQ(back.request_timeout_seconds, 60);
  EXPECT_EQ(back.env.at("N"), "1");
  // What cannot be read takes the defaults, so that the deployment can still be stopped.
  back = StoredLocalConfig({{"graceful_shutdown_seconds", "soon"}});
  EXPECT_EQ(back.graceful_shutdown_seconds, 10);
  EXPECT_EQ(StoredLocalConfig(json()).request_timeout_seconds, 60);
}

}  // namespace
}  // namespace mlflow_bridge::internal
