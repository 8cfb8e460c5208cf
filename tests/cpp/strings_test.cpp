// Small string helpers (common/strings.h).
#include "common/strings.h"

#include <gtest/gtest.h>

namespace mlflow_bridge::internal {
namespace {

TEST(WithoutUrlUserinfo, DropsUserAndPassword) {
  EXPECT_EQ(WithoutUrlUserinfo("http://alice:s3cret@proxy.corp:3128"), "http://proxy.corp:3128");
  EXPECT_EQ(WithoutUrlUserinfo("https://bob@proxy.corp/"), "https://proxy.corp/");
  EXPECT_EQ(WithoutUrlUserinfo("http://user:p@ss@proxy.corp:8080/x?y=1"), "http://proxy.corp:8080/x?y=1");
}

TEST(WithoutUrlUserinfo, ProxyVariableWithoutScheme) {
  EXPECT_EQ(WithoutUrlUserinfo("carol:s3cret@proxy.corp:3130"), "proxy.corp:3130");
  EXPECT_EQ(WithoutUrlUserinfo("proxy.corp:3130"), "proxy.corp:3130");
}

TEST(WithoutUrlUserinfo, LeavesEverythingElse) {
  EXPECT_EQ(WithoutUrlUserinfo("http://proxy.corp:3128"), "http://proxy.corp:3128");
  EXPECT_EQ(WithoutUrlUserinfo("http://proxy.corp/path@not-userinfo"), "http://proxy.corp/path@not-userinfo");
  EXPECT_EQ(WithoutUrlUserinfo("proxy.corp/?next=http://a:b@c"), "proxy.corp/?next=http://a:b@c");
  EXPECT_EQ(WithoutUrlUserinfo("127.0.0.1,localhost,.internal"), "127.0.0.1,localhost,.internal");
  EXPECT_EQ(WithoutUrlUserinfo(""), "");
}

}  // namespace
}  // namespace mlflow_bridge::internal
