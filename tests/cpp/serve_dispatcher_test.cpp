// The dispatcher's batching (serve/dispatcher.h, serve/batching.h) against a scripted worker backend: which
// queued requests share a frame, the merged body, the answer split back, and the fallback to running alone.
#include <event2/event.h>
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "serve/dispatcher.h"

namespace mlflow_bridge::internal {
namespace {

// Workers as a script: the test sees each frame sent and answers it when it wants.
class ScriptedBackend : public WorkerBackend {
 public:
  explicit ScriptedBackend(int workers) : busy_(static_cast<size_t>(workers), false) {}
  int IdleWorker() override {
    for (size_t i = 0; i < busy_.size(); ++i)
      if (!busy_[i]) return static_cast<int>(i);
    return -1;
  }
  void Send(int worker, const std::optional<std::string>& content_type, std::string_view body, ReplyCallback done) override {
    busy_[static_cast<size_t>(worker)] = true;
    frames.push_back({worker, content_type.value_or(""), std::string(body), std::move(done)});
  }
  // Answers the oldest unanswered frame; its worker turns idle.
  void Answer(int status, std::string body) {
    for (Frame& f : frames) {
      if (!f.done) continue;
      ReplyCallback done = std::move(f.done);
      f.done = nullptr;
      done(WorkerReply{status, "application/json", std::move(body)});
      busy_[static_cast<size_t>(f.worker)] = false;
      if (on_idle_) on_idle_();
      return;
    }
    FAIL() << "no frame to answer";
  }
  struct Frame {
    int worker;
    std::string content_type, body;
    ReplyCallback done;
  };
  std::vector<Frame> frames;

 private:
  std::vector<bool> busy_;
};

class ServeDispatcherTest : public ::testing::Test {
 protected:
  void Make(int workers, DispatcherOptions options) {
    backend = std::make_unique<ScriptedBackend>(workers);
    dispatcher = std::make_unique<Dispatcher>(base, *backend, options);
    backend->set_on_idle([this] { dispatcher->Pump(); });
  }
  void Submit(const std::string& name, const std::string& body) {
    dispatcher->Submit({"/invocations", "application/json", body},
                       [this, name](DispatchReply r) { answers[name] = r.reply; });
  }
  ~ServeDispatcherTest() override {
    dispatcher.reset();
    event_base_free(base);
  }
  event_base* base = event_base_new();
  std::unique_ptr<ScriptedBackend> backend;
  std::unique_ptr<Dispatcher> dispatcher;
  std::map<std::string, WorkerReply> answers;
};

std::string Split(const std::string& rows, const std::string& columns = R"(["x1", "x2"])") {
  return R"({"dataframe_split": {"columns": )" + columns + R"(, "data": )" + rows + "}}";
}

TEST_F(ServeDispatcherTest, QueuedRequestsThatMergeShareOnePredictAndGetTheirOwnAnswers) {
  DispatcherOptions o;
  o.batching = true;
  Make(1, o);
  Submit("a", Split("[[1, 2]]"));  // goes at once: the worker was idle
  Submit("b", Split("[[3, 4], [5, 6]]"));
  Submit("c", Split("[[7, 8]]", R"(["y1", "y2"])"));  // other columns: not with b
  Submit("d", Split("[[9, 10]]"));
  ASSERT_EQ(backend->frames.size(), 1u);
  EXPECT_EQ(backend->frames[0].body, Split("[[1, 2]]"));
  backend->Answer(200, R"({"predictions": [3]})");
  EXPECT_EQ(answers["a"].body, R"({"predictions": [3]})");

  ASSERT_EQ(backend->frames.size(), 2u);  // b and d together, c left queued in its place
  EXPECT_EQ(backend->frames[1].body, Split("[[3, 4], [5, 6], [9, 10]]"));
  backend->Answer(200, R"({"predictions": [7, 11, 19]})");
  EXPECT_EQ(answers["b"].body, R"({"predictions": [7, 11]})");
  EXPECT_EQ(answers["d"].body, R"({"predictions": [19]})");
  EXPECT_EQ(answers["b"].status, 200);

  ASSERT_EQ(backend->frames.size(), 3u);
  EXPECT_EQ(backend->frames[2].body, Split("[[7, 8]]", R"(["y1", "y2"])"));
  backend->Answer(200, R"({"predictions": [15]})");
  EXPECT_EQ(answers["c"].body, R"({"predictions": [15]})");
  EXPECT_TRUE(dispatcher->idle());
}

TEST_F(ServeDispatcherTest, ABatchWhoseAnswerDoesNotSplitRunsEachRequestAloneInOrder) {
  DispatcherOptions o;
  o.batching = true;
  Make(1, o);
  Submit("first", Split("[[0, 0]]"));
  Submit("good", Split("[[1, 2]]"));
  Submit("bad", Split(R"([["oops", 2]])"));
  Submit("also-good", Split("[[3, 4]]"));
  backend->Answer(200, R"({"predictions": [0]})");
  // good and also-good merge (bad holds a string where they hold numbers: another key).
  ASSERT_EQ(backend->frames.size(), 2u);
  EXPECT_EQ(backend->frames[1].body, Split("[[1, 2], [3, 4]]"));
  backend->Answer(400, R"({"error_code": "BAD_REQUEST", "message": "the model failed"})");
  // The failed batch's requests run alone, oldest first, ahead of what was queued after them.
  ASSERT_EQ(backend->frames.size(), 3u);
  EXPECT_EQ(backend->frames[2].body, Split("[[1, 2]]"));
  backend->Answer(200, R"({"predictions": [3]})");
  ASSERT_EQ(backend->frames.size(), 4u);
  EXPECT_EQ(backend->frames[3].body, Split("[[3, 4]]"));
  backend->Answer(200, R"({"predictions": [7]})");
  ASSERT_EQ(backend->frames.size(), 5u);
  EXPECT_EQ(backend->frames[4].body, Split(R"([["oops", 2]])"));
  backend->Answer(400, R"({"error_code": "BAD_REQUEST", "message": "not a number"})");
  EXPECT_EQ(answers["good"].body, R"({"predictions": [3]})");
  EXPECT_EQ(answers["also-good"].body, R"({"predictions": [7]})");
  EXPECT_EQ(answers["bad"].status, 400);
  EXPECT_TRUE(dispatcher->idle());
}

TEST_F(ServeDispatcherTest, ABatchHoldsAtMostMaxBatchRows) {
  DispatcherOptions o;
  o.batching = true;
  o.max_batch_rows = 3;
  Make(1, o);
  Submit("busy", Split("[[0, 0]]"));
  Submit("two", Split("[[1, 1], [2, 2]]"));
  Submit("two-more", Split("[[3, 3], [4, 4]]"));  // would make 4 rows: waits for the next frame
  Submit("one", Split("[[5, 5]]"));
  backend->Answer(200, R"({"predictions": [0]})");
  ASSERT_EQ(backend->frames.size(), 2u);
  EXPECT_EQ(backend->frames[1].body, Split("[[1, 1], [2, 2], [5, 5]]"));
  backend->Answer(200, R"({"predictions": [1, 2, 5]})");
  ASSERT_EQ(backend->frames.size(), 3u);
  EXPECT_EQ(backend->frames[2].body, Split("[[3, 3], [4, 4]]"));
  backend->Answer(200, R"({"predictions": [3, 4]})");
  EXPECT_EQ(answers["two"].body, R"({"predictions": [1, 2]})");
  EXPECT_EQ(answers["one"].body, R"({"predictions": [5]})");
  EXPECT_EQ(answers["two-more"].body, R"({"predictions": [3, 4]})");
}

TEST_F(ServeDispatcherTest, AutoBatchesOnlyRowIndependentFlavors) {
  Make(1, DispatcherOptions{});  // batching unset: decided by the model
  WorkerInfo custom;
  custom.loader_module = "mlflow.pyfunc.model";
  dispatcher->set_model(custom);
  EXPECT_FALSE(dispatcher->batching());
  Submit("busy", Split("[[0, 0]]"));
  Submit("b", Split("[[1, 2]]"));
  Submit("c", Split("[[3, 4]]"));
  backend->Answer(200, R"({"predictions": [0]})");
  ASSERT_EQ(backend->frames.size(), 2u);
  EXPECT_EQ(backend->frames[1].body, Split("[[1, 2]]"));  // alone

  WorkerInfo sklearn;
  sklearn.loader_module = "mlflow.sklearn";
  dispatcher->set_model(sklearn);
  EXPECT_TRUE(dispatcher->batching());
  DispatcherOptions off;
  off.batching = false;
  Make(1, off);
  dispatcher->set_model(sklearn);
  EXPECT_FALSE(dispatcher->batching());  // -C batching=false wins
}

TEST_F(ServeDispatcherTest, WithMaxBatchWaitAFreeWorkerWaitsOnlyWhileAnotherIsBusy) {
  DispatcherOptions o;
  o.batching = true;
  o.max_batch_wait = std::chrono::milliseconds(50);
  Make(2, o);
  Submit("a", Split("[[1, 2]]"));  // nothing else in flight: sent at once, no wait when idle
  ASSERT_EQ(backend->frames.size(), 1u);
  Submit("b", Split("[[3, 4]]"));  // worker 1 is free but worker 0 is busy: b waits for company
  EXPECT_EQ(backend->frames.size(), 1u);
  Submit("c", Split("[[5, 6]]"));
  EXPECT_EQ(backend->frames.size(), 1u);
  for (int i = 0; i < 1000 && backend->frames.size() < 2; ++i) event_base_loop(base, EVLOOP_ONCE);  // the wait ends
  ASSERT_EQ(backend->frames.size(), 2u);                                                            // b and c together
  EXPECT_EQ(backend->frames[1].body, Split("[[3, 4], [5, 6]]"));
  EXPECT_EQ(backend->frames[1].worker, 1);
}

}  // namespace
}  // namespace mlflow_bridge::internal
