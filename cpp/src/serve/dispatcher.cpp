#include "serve/dispatcher.h"

#include <event2/event.h>

#include <algorithm>

namespace mlflow_bridge::internal {

struct Dispatcher::Job : std::enable_shared_from_this<Job> {
  enum class State { kQueued, kSent, kAnswered };
  Dispatcher* owner = nullptr;
  Request request;
  Done done;
  event* deadline = nullptr;
  State state = State::kQueued;
  ~Job() {
    if (deadline) event_free(deadline);
  }
};

DispatchReply DeadlineReply() {
  // MLflow's scoring server: Response("Request processing time exceeded limit", 504, media_type=application/json).
  return DispatchReply{WorkerReply{504, "application/json", "Request processing time exceeded limit"}, {}};
}

Dispatcher::Dispatcher(event_base* base, WorkerBackend& backend, DispatcherOptions options)
    : base_(base), backend_(backend), options_(options), alive_(std::make_shared<bool>(true)) {
  auto ms = options_.request_timeout.count();
  timeval tv{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
  // Every request has the same timeout: libevent keeps such timers in a queue instead of its heap.
  common_timeout_ = event_base_init_common_timeout(base_, &tv);
  if (common_timeout_ == nullptr) {
    fallback_timeout_ = tv;
    common_timeout_ = &fallback_timeout_;
  }
}

Dispatcher::~Dispatcher() {
  *alive_ = false;
  auto release = [](const JobPtr& job) {
    if (job->deadline) event_free(job->deadline);
    job->deadline = nullptr;
    job->state = Job::State::kAnswered;
    job->done = nullptr;
  };
  for (const auto& job : queue_) release(job);
  for (const auto& job : sent_) release(job);
}

void Dispatcher::Submit(Request request, Done done) {
  if (queued_ >= options_.max_queue) {
    DispatchReply full{ErrorReply(503, "TEMPORARILY_UNAVAILABLE",
                                  "The model server is at capacity: " + std::to_string(queued_) +
                                      " requests are waiting for a worker. Retry later."),
                       {{"Retry-After", std::to_string(options_.retry_after_seconds)}}};
    done(std::move(full));
    return;
  }
  auto job = std::make_shared<Job>();
  job->owner = this;
  job->request = std::move(request);
  job->done = std::move(done);
  job->deadline = evtimer_new(base_, &Dispatcher::DeadlineCallback, job.get());
  evtimer_add(job->deadline, common_timeout_);
  queue_.push_back(std::move(job));
  ++queued_;
  Pump();
}

void Dispatcher::DeadlineCallback(int /*fd*/, short /*what*/, void* arg) {
  auto* job = static_cast<Job*>(arg);
  job->owner->Finish(*job, DeadlineReply());
  job->owner->PopAnswered();
}

void Dispatcher::PopAnswered() {
  while (!queue_.empty() && queue_.front()->state != Job::State::kQueued) queue_.pop_front();
}

void Dispatcher::Pump() {
  if (pumping_) return;  // the loop below is already running further up the stack
  pumping_ = true;
  while (true) {
    PopAnswered();
    if (queued_ == 0) break;
    int worker = backend_.IdleWorker();
    if (worker < 0) break;
    std::vector<JobPtr> batch = TakeBatch();
    if (batch.empty()) break;
    SendBatch(worker, std::move(batch));
  }
  pumping_ = false;
}

// The batching step. What goes to one worker in one frame: today the oldest queued request alone. With batching
// (serve/batching.h) it becomes the oldest queued request plus every queued request whose ParseForBatching key
// equals its key, up to max_batch_rows rows, leaving the others queued in order.
std::vector<Dispatcher::JobPtr> Dispatcher::TakeBatch() {
  while (!queue_.empty()) {
    JobPtr job = std::move(queue_.front());
    queue_.pop_front();
    if (job->state == Job::State::kQueued) return {std::move(job)};
  }
  return {};
}

void Dispatcher::SendBatch(int worker, std::vector<JobPtr> batch) {
  for (const auto& job : batch) {
    job->state = Job::State::kSent;
    --queued_;
    ++in_flight_;
    sent_.push_back(job);
  }
  if (on_batch_) on_batch_(batch.size());
  // One request: its own body. Batching: MergeBodies over the batch's parsed inputs.
  const Request& first = batch.front()->request;
  std::weak_ptr<bool> alive = alive_;
  auto content_type = first.content_type;
  std::string_view body = first.body;
  backend_.Send(worker, content_type, body, [this, alive, batch = std::move(batch)](WorkerReply reply) {
    if (auto a = alive.lock(); a && *a) CompleteBatch(batch, std::move(reply));
  });
}

// The worker's answer to one frame, handed to its requests. One request: the answer is its own. Batching: a 200
// answer is cut by SplitAnswer into one answer per request; an answer that does not split sends every request of
// the batch back to the front of the queue, marked to run alone.
void Dispatcher::CompleteBatch(const std::vector<JobPtr>& batch, WorkerReply reply) {
  Finish(*batch.front(), DispatchReply{std::move(reply), {}});
}

void Dispatcher::Finish(Job& job, DispatchReply reply) {
  if (job.state == Job::State::kAnswered) return;  // answered before (its deadline passed): a late answer is dropped
  JobPtr keep = job.shared_from_this();
  if (job.state == Job::State::kQueued) {
    --queued_;
  } else {
    --in_flight_;
    sent_.erase(std::remove(sent_.begin(), sent_.end(), keep), sent_.end());
  }
  job.state = Job::State::kAnswered;
  if (job.deadline) {
    event_free(job.deadline);
    job.deadline = nullptr;
  }
  Done done = std::move(job.done);
  job.done = nullptr;
  job.request.body.clear();
  job.request.body.shrink_to_fit();
  if (done) done(std::move(reply));
}

void Dispatcher::Drop(const DispatchReply& reply) {
  std::vector<JobPtr> all(queue_.begin(), queue_.end());
  all.insert(all.end(), sent_.begin(), sent_.end());
  for (const auto& job : all) Finish(*job, reply);
  PopAnswered();
}

}  // namespace mlflow_bridge::internal
