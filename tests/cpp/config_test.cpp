#include "mlflow_bridge/config.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mlflow_bridge/logging.h"

namespace mlflow_bridge {
namespace {

using nlohmann::json;

ConfigSchema Schema() {
  return {
      {"port", ConfigType::kInt, 0, "Port to listen on; 0 picks a free one.", 0, 65535},
      {"workers", ConfigType::kInt, 1, "Number of workers.", 1, std::nullopt},
      {"ratio", ConfigType::kFloat, 0.5, "Traffic share.", 0.0, 1.0},
      {"sync", ConfigType::kBool, true, "Wait until ready.", std::nullopt, std::nullopt},
      {"env", ConfigType::kObject, json::object(), "Environment variables.", std::nullopt, std::nullopt},
      {"host", ConfigType::kString, "127.0.0.1", "Address to bind.", std::nullopt, std::nullopt},
      {"instance_type", ConfigType::kString, nullptr, "Instance type.\nSecond line.", std::nullopt, std::nullopt},
      {"api_key", ConfigType::kString, nullptr, "Key.", std::nullopt, std::nullopt},
  };
}

json Parse(const json& given) {
  StatusOr<json> r = ParseConfig(Schema(), given);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : json();
}

Status Error(const json& given) {
  StatusOr<json> r = ParseConfig(Schema(), given);
  EXPECT_FALSE(r.ok()) << given.dump();
  return r.status();
}
void ExpectError(const json& given) { (void)Error(given); }

TEST(ConfigTest, DefaultsFilledIn) {
  json c = Parse(json::object());
  EXPECT_EQ(c.size(), 8u);
  EXPECT_EQ(c["port"], 0);
  EXPECT_EQ(c["workers"], 1);
  EXPECT_DOUBLE_EQ(c["ratio"].get<double>(), 0.5);
  EXPECT_EQ(c["sync"], true);
  EXPECT_EQ(c["env"], json::object());
  EXPECT_EQ(c["host"], "127.0.0.1");
  EXPECT_TRUE(c["instance_type"].is_null());
  EXPECT_EQ(Parse(nullptr), c);                      // no config at all
  EXPECT_EQ(Parse({{"port", nullptr}})["port"], 0);  // null means default
}

TEST(ConfigTest, StringsFromTheCli) {
  json c = Parse({{"port", "8080"},
                  {"workers", "+4"},
                  {"ratio", "0.25"},
                  {"sync", "No"},
                  {"env", "{\"A\": \"1\"}"},
                  {"host", "0.0.0.0"},
                  {"instance_type", "ml.m5.large"}});
  EXPECT_EQ(c["port"], 8080);
  EXPECT_TRUE(c["port"].is_number_integer());
  EXPECT_EQ(c["workers"], 4);
  EXPECT_DOUBLE_EQ(c["ratio"].get<double>(), 0.25);
  EXPECT_EQ(c["sync"], false);
  EXPECT_EQ(c["env"], json({{"A", "1"}}));
  EXPECT_EQ(c["host"], "0.0.0.0");
  EXPECT_EQ(c["instance_type"], "ml.m5.large");
}

TEST(ConfigTest, TypedFromTheSdk) {
  json c = Parse({{"port", 8080}, {"ratio", 1}, {"sync", false}, {"env", {{"A", "1"}}}, {"workers", 3.0}});
  EXPECT_EQ(c["port"], 8080);
  EXPECT_DOUBLE_EQ(c["ratio"].get<double>(), 1.0);
  EXPECT_EQ(c["sync"], false);
  EXPECT_EQ(c["env"], json({{"A", "1"}}));
  EXPECT_EQ(c["workers"], 3);
}

TEST(ConfigTest, BoolSpellings) {
  for (const char* t : {"true", "TRUE", "1", "yes", "Yes"}) EXPECT_EQ(Parse({{"sync", t}})["sync"], true) << t;
  for (const char* f : {"false", "False", "0", "no", "NO"}) EXPECT_EQ(Parse({{"sync", f}})["sync"], false) << f;
  EXPECT_EQ(Error({{"sync", "maybe"}}).message(),
            "Config key 'sync' must be a boolean (true/false, yes/no, 1/0), got 'maybe'.");
  ExpectError({{"sync", 1}});
}

TEST(ConfigTest, NumberForStringKeyBecomesText) {
  EXPECT_EQ(Parse({{"host", 42}})["host"], "42");
  EXPECT_EQ(Parse({{"host", 1.5}})["host"], "1.5");
  EXPECT_EQ(Error({{"host", true}}).code(), StatusCode::kInvalidParameterValue);
}

TEST(ConfigTest, BadIntegers) {
  EXPECT_EQ(Error({{"port", "abc"}}).message(), "Config key 'port' must be an integer between 0 and 65535, got 'abc'.");
  EXPECT_EQ(Error({{"port", "abc"}}).code(), StatusCode::kInvalidParameterValue);
  for (const char* bad : {"", " 80", "80 ", "8.0", "0x50", "1e3", "80a", "99999999999999999999"})
    ExpectError({{"port", bad}});
  ExpectError({{"port", 8.5}});
  ExpectError({{"port", json::array()}});
}

TEST(ConfigTest, Bounds) {
  EXPECT_EQ(Parse({{"port", "65535"}})["port"], 65535);
  EXPECT_EQ(Error({{"port", 65536}}).message(), "Config key 'port' must be an integer between 0 and 65535, got '65536'.");
  ExpectError({{"port", "-1"}});
  EXPECT_EQ(Error({{"workers", 0}}).message(), "Config key 'workers' must be an integer >= 1, got '0'.");
  EXPECT_EQ(Error({{"ratio", "1.5"}}).message(), "Config key 'ratio' must be a number between 0 and 1, got '1.5'.");
  EXPECT_DOUBLE_EQ(Parse({{"ratio", "0"}})["ratio"].get<double>(), 0.0);
}

TEST(ConfigTest, BadFloats) {
  for (const char* bad : {"", "abc", " 0.5", "0.5x", "nan", "inf"}) ExpectError({{"ratio", bad}});
  ExpectError({{"ratio", true}});
}

TEST(ConfigTest, Objects) {
  EXPECT_EQ(Error({{"env", "[1, 2]"}}).message(), "Config key 'env' must be a JSON object, got '[1, 2]'.");
  ExpectError({{"env", "{not json"}});
  ExpectError({{"env", 3}});
}

TEST(ConfigTest, SecretValuesAreNotEchoed) {
  Status s = Error({{"api_key", json::array({"sk-live-123"})}});
  EXPECT_EQ(s.message().find("sk-live-123"), std::string::npos);
  EXPECT_NE(s.message().find("'api_key'"), std::string::npos);
}

TEST(ConfigTest, UnknownKeyListsValidKeys) {
  Status s = Error({{"port", 1}, {"foo", "x"}});
  EXPECT_EQ(s.code(), StatusCode::kInvalidParameterValue);
  EXPECT_EQ(s.message(),
            "Unknown config key 'foo'. Valid keys: port, workers, ratio, sync, env, host, instance_type, api_key.");
}

TEST(ConfigTest, NotAnObject) {
  for (const json& bad : {json::array({1}), json("port=1"), json(3)}) {
    StatusOr<json> r = ParseConfig(Schema(), bad);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidParameterValue);
  }
}

// A key renamed, and a value renamed: the old spellings still work, with a warning; old and new together do not.
TEST(ConfigTest, OldNamesAndValues) {
  ConfigSchema schema = {
      {"registry_auth",
       ConfigType::kString,
       "auto",
       "How to log in.",
       std::nullopt,
       std::nullopt,
       {"auto", "anonymous", "basic"},
       {},
       {{"none", "anonymous"}}},
      {"registry_username", ConfigType::kString, "", "User.", std::nullopt, std::nullopt, {}, {"username"}}};
  std::vector<std::string> warnings;
  LogSink old_sink = SetLogSink([&](LogLevel level, std::string_view m) {
    if (level == LogLevel::kWarning) warnings.emplace_back(m);
  });
  StatusOr<json> r = ParseConfig(schema, {{"username", "alice"}, {"registry_auth", "none"}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, json({{"registry_username", "alice"}, {"registry_auth", "anonymous"}}));
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_NE(warnings[0].find("registry_auth=none is deprecated: use registry_auth=anonymous"), std::string::npos);
  EXPECT_NE(warnings[1].find("'username' is deprecated: use 'registry_username'"), std::string::npos);

  warnings.clear();
  r = ParseConfig(schema, {{"registry_username", "alice"}, {"registry_auth", "basic"}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)["registry_username"], "alice");
  EXPECT_TRUE(warnings.empty());

  r = ParseConfig(schema, {{"registry_username", "alice"}, {"username", "bob"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidParameterValue);
  EXPECT_NE(r.status().message().find("'registry_username' and 'username' are one key"), std::string::npos);

  r = ParseConfig(schema, {{"registry_auth", "token"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "Config key 'registry_auth' must be one of auto, anonymous, basic; got 'token'.");
  SetLogSink(old_sink);

  EXPECT_NE(DescribeConfig(schema).find("      Old name (deprecated): username.\n"), std::string::npos);
}

TEST(ConfigTest, Describe) {
  std::string d = DescribeConfig(Schema());
  EXPECT_NE(
      d.find(
          "  port (int, default: 0)\n      Port to listen on; 0 picks a free one.\n      Allowed: between 0 and 65535.\n"),
      std::string::npos)
      << d;
  EXPECT_NE(d.find("  ratio (float, default: 0.5)\n"), std::string::npos) << d;
  EXPECT_NE(d.find("  sync (bool, default: true)\n"), std::string::npos) << d;
  EXPECT_NE(d.find("  env (object, default: {})\n"), std::string::npos) << d;
  EXPECT_NE(d.find("  host (string, default: 127.0.0.1)\n"), std::string::npos) << d;
  EXPECT_NE(d.find("  instance_type (string, optional)\n      Instance type.\n      Second line.\n"), std::string::npos)
      << d;
  EXPECT_EQ(DescribeConfig({}), "");
}

}  // namespace
}  // namespace mlflow_bridge
