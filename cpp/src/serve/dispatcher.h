// Between the HTTP layer and the workers (decision 0009): a bounded queue of prediction requests, a deadline
// per request, and work-conserving assignment: whenever a worker is idle and a request waits, it is sent.
//
// One loop thread: every method and callback runs on the event loop that owns the dispatcher.
//
// Batching (serve/batching.h): when a worker is free, TakeBatch() gives it the oldest queued request and every
// queued request that merges with it (equal ParseForBatching keys) up to max_batch_rows rows, as one merged
// body; CompleteBatch() splits the answer back (SplitAnswer). An answer that does not split sends each request
// of the batch back to the front of the queue, to run alone. Work-conserving: a free worker never waits while
// the server is otherwise idle; with max_batch_wait > 0 it waits at most that long for a fuller batch while
// another worker is busy.
#pragma once

#include <sys/time.h>

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "serve/batching.h"
#include "serve/worker_pool.h"

struct event_base;
struct event;

namespace mlflow_bridge::internal {

struct DispatcherOptions {
  size_t max_queue = 1024;                           // queued (not yet sent) requests; more get 503
  std::chrono::milliseconds request_timeout{60000};  // from arrival to answer; then 504
  int retry_after_seconds = 1;                       // Retry-After on a 503
  // Batching: nullopt decides by the model once a worker described it (RowIndependentModel); true/false force it.
  std::optional<bool> batching;
  size_t max_batch_rows = 256;                  // rows in one merged body
  std::chrono::milliseconds max_batch_wait{0};  // extra wait for a fuller batch, only while another worker is busy
};

// An answer for the HTTP layer: the worker's reply, or one the dispatcher made (503, 504), with extra headers.
struct DispatchReply {
  WorkerReply reply;
  std::vector<std::pair<std::string, std::string>> headers;
};

// MLflow's answer to a request past its deadline (its scoring server's timeout middleware).
DispatchReply DeadlineReply();

class Dispatcher {
 public:
  struct Request {
    std::string route;                        // the route contract: "/invocations", "/score", "/predict"
    std::optional<std::string> content_type;  // as sent; nullopt without a Content-Type header
    std::string body;
  };
  using Done = std::function<void(DispatchReply)>;

  Dispatcher(event_base* base, WorkerBackend& backend, DispatcherOptions options);
  // Frees the timers; requests still waiting are dropped without an answer (Drop answers them).
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Queues a prediction. `done` is called exactly once on the loop thread: with the worker's answer, 503 when
  // the queue is full (at once, before Submit returns), 504 past the deadline.
  void Submit(Request request, Done done);
  // Sends queued requests to idle workers; the backend calls it whenever a worker turns idle.
  void Pump();
  // Answers every queued and in-flight request with `reply` (the server is stopping). Late worker answers to
  // them are dropped.
  void Drop(const DispatchReply& reply);

  // The model as the first ready worker described it: decides batching when options.batching is unset.
  void set_model(const WorkerInfo& info);
  bool batching() const { return batching_; }

  size_t queued() const { return queued_; }
  size_t in_flight() const { return in_flight_; }
  bool idle() const { return queued_ == 0 && in_flight_ == 0; }
  // Called with the size of every frame sent to a worker (1 until batching comes).
  void set_on_batch(std::function<void(size_t)> f) { on_batch_ = std::move(f); }

 private:
  struct Job;
  using JobPtr = std::shared_ptr<Job>;
  std::vector<JobPtr> TakeBatch();
  bool WaitForFullerBatch();
  void SendBatch(int worker, std::vector<JobPtr> batch);
  void CompleteBatch(const std::vector<JobPtr>& batch, WorkerReply reply);
  void Finish(Job& job, DispatchReply reply);
  void PopAnswered();
  static void DeadlineCallback(int fd, short what, void* arg);
  static void BatchWaitCallback(int fd, short what, void* arg);

  event_base* base_;
  WorkerBackend& backend_;
  DispatcherOptions options_;
  std::deque<JobPtr> queue_;  // oldest first; answered jobs (past their deadline) are skipped and popped
  std::vector<JobPtr> sent_;  // jobs in flight (for Drop); answered ones are removed as they finish
  size_t queued_ = 0;
  size_t in_flight_ = 0;
  const timeval* common_timeout_ = nullptr;
  timeval fallback_timeout_{};
  std::shared_ptr<bool> alive_;  // false once destroyed: a worker's late answer then finds nobody
  std::function<void(size_t)> on_batch_;
  bool pumping_ = false;
  bool batching_ = false;
  event* batch_wait_ = nullptr;  // armed while a free worker waits for a fuller batch
};

}  // namespace mlflow_bridge::internal
