#include "common/rollback.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mlflow_bridge/logging.h"

namespace mlflow_bridge::internal {
namespace {

class RollbackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    old_sink_ = SetLogSink([this](LogLevel level, std::string_view m) {
      if (level == LogLevel::kWarning) warnings_.emplace_back(m);
    });
  }
  void TearDown() override { SetLogSink(old_sink_); }
  std::vector<std::string> warnings_;
  LogSink old_sink_;
};

TEST_F(RollbackTest, UndoesNewestFirstAndForgets) {
  std::vector<std::string> order;
  RollbackRecord r;
  EXPECT_TRUE(r.empty());
  for (const char* step : {"upload", "model", "config", "endpoint"})
    r.Add(std::string("delete ") + step, [&order, step] {
      order.emplace_back(step);
      return OkStatus();
    });
  EXPECT_FALSE(r.empty());
  EXPECT_EQ(r.UndoAndSay("nothing was left behind"), "nothing was left behind");
  EXPECT_EQ(order, (std::vector<std::string>{"endpoint", "config", "model", "upload"}));
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(r.Undo(), "");  // nothing twice
  EXPECT_EQ(order.size(), 4u);
  EXPECT_TRUE(warnings_.empty());
}

TEST_F(RollbackTest, ReportsAndLogsWhatItCouldNotUndoAndGoesOn) {
  int undone = 0;
  RollbackRecord r;
  r.Add("delete s3://b/m/model.tar.gz", [&] {
    ++undone;
    return OkStatus();
  });
  r.Add("delete SageMaker model m", [&] {
    ++undone;
    return PermissionDeniedError("not allowed to DeleteModel");
  });
  r.Add("delete SageMaker endpoint e", [&] {
    ++undone;
    return NotFoundError("no endpoint e: its create failed");  // never made: nothing to undo
  });
  r.Add("delete SageMaker endpoint config c", [&] {
    ++undone;
    return UnavailableError("throttled");
  });
  EXPECT_EQ(r.UndoAndSay("nothing was left behind"),
            "could not undo: delete SageMaker endpoint config c (TEMPORARILY_UNAVAILABLE: throttled); "
            "delete SageMaker model m (PERMISSION_DENIED: not allowed to DeleteModel)");
  EXPECT_EQ(undone, 4);  // a failed step does not stop the others
  ASSERT_EQ(warnings_.size(), 2u);
  EXPECT_EQ(warnings_[0],
            "Rollback: delete SageMaker endpoint config c failed (ignored): TEMPORARILY_UNAVAILABLE: throttled");
}

}  // namespace
}  // namespace mlflow_bridge::internal
