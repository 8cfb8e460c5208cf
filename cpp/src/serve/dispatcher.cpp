#include "serve/dispatcher.h"

#include <event2/event.h>

#include <algorithm>
#include <chrono>

namespace mlflow_bridge::internal {

struct Dispatcher::Job : std::enable_shared_from_this<Job> {
  enum class State { kQueued, kSent, kAnswered };
  Dispatcher* owner = nullptr;
  Request request;
  std::optional<BatchInput> input;  // set when batching is on and the body merges with others
  bool alone = false;               // its batch's answer did not split: it runs by itself
  std::chrono::steady_clock::time_point arrived;
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
    : base_(base),
      backend_(backend),
      options_(options),
      alive_(std::make_shared<bool>(true)),
      batching_(options.batching.value_or(false)) {
  batch_wait_ = evtimer_new(base_, &Dispatcher::BatchWaitCallback, this);
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
  if (batch_wait_) event_free(batch_wait_);
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
  job->arrived = std::chrono::steady_clock::now();
  if (batching_) job->input = ParseForBatching(job->request.content_type.value_or(""), job->request.body);
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

void Dispatcher::set_model(const WorkerInfo& info) {
  batching_ = options_.batching.value_or(RowIndependentModel(info.loader_module));
}

void Dispatcher::Pump() {
  if (pumping_) return;  // the loop below is already running further up the stack
  pumping_ = true;
  while (true) {
    PopAnswered();
    if (queued_ == 0) break;
    int worker = backend_.IdleWorker();
    if (worker < 0) break;
    if (WaitForFullerBatch()) break;
    std::vector<JobPtr> batch = TakeBatch();
    if (batch.empty()) break;
    SendBatch(worker, std::move(batch));
  }
  pumping_ = false;
}

// Whether a free worker should wait (max_batch_wait) for the oldest request's batch to fill: only while another
// worker is busy (the server is loaded), the batch is short of max_batch_rows, and the oldest request has waited
// less than max_batch_wait. The timer pumps again when the wait is over.
bool Dispatcher::WaitForFullerBatch() {
  if (!batching_ || options_.max_batch_wait.count() <= 0 || in_flight_ == 0) return false;
  const Job& head = *queue_.front();
  if (head.alone || !head.input) return false;
  size_t rows = 0;
  for (const JobPtr& j : queue_)
    if (j->state == Job::State::kQueued && !j->alone && j->input && j->input->key == head.input->key) rows += j->input->rows;
  if (rows >= options_.max_batch_rows) return false;
  auto waited = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - head.arrived);
  auto left = std::chrono::duration_cast<std::chrono::microseconds>(options_.max_batch_wait) - waited;
  if (left.count() <= 0) return false;
  if (!evtimer_pending(batch_wait_, nullptr)) {
    timeval tv{static_cast<time_t>(left.count() / 1000000), static_cast<suseconds_t>(left.count() % 1000000)};
    evtimer_add(batch_wait_, &tv);
  }
  return true;
}

void Dispatcher::BatchWaitCallback(int /*fd*/, short /*what*/, void* arg) {
  static_cast<Dispatcher*>(arg)->Pump();  // the oldest request has waited max_batch_wait: it goes now
}

// What goes to one worker in one frame: the oldest queued request, plus (batching) every queued request that
// merges with it, in queue order, up to max_batch_rows rows; the others stay queued in order.
std::vector<Dispatcher::JobPtr> Dispatcher::TakeBatch() {
  JobPtr head;
  while (!queue_.empty() && !head) {
    if (queue_.front()->state == Job::State::kQueued) head = queue_.front();
    queue_.pop_front();
  }
  if (!head) return {};
  std::vector<JobPtr> batch{head};
  if (!batching_ || head->alone || !head->input) return batch;
  size_t rows = head->input->rows;
  for (auto it = queue_.begin(); it != queue_.end() && rows < options_.max_batch_rows;) {
    const Job& j = **it;
    if (j.state == Job::State::kQueued && !j.alone && j.input && j.input->key == head->input->key &&
        rows + j.input->rows <= options_.max_batch_rows) {
      rows += j.input->rows;
      batch.push_back(*it);
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
  return batch;
}

void Dispatcher::SendBatch(int worker, std::vector<JobPtr> batch) {
  for (const auto& job : batch) {
    job->state = Job::State::kSent;
    --queued_;
    ++in_flight_;
    sent_.push_back(job);
  }
  if (on_batch_) on_batch_(batch.size());
  std::string merged;
  if (batch.size() > 1) {
    std::vector<const BatchInput*> inputs;
    for (const auto& job : batch) inputs.push_back(&*job->input);
    merged = MergeBodies(inputs);
  }
  const Request& first = batch.front()->request;
  std::weak_ptr<bool> alive = alive_;
  std::string_view body = batch.size() > 1 ? std::string_view(merged) : std::string_view(first.body);
  backend_.Send(worker, first.content_type, body, [this, alive, batch = std::move(batch)](WorkerReply reply) {
    if (auto a = alive.lock(); a && *a) CompleteBatch(batch, std::move(reply));
  });
}

// The worker's answer to one frame, handed to its requests: one request gets it as it is; a batch's 200 answer
// is cut by SplitAnswer into each request's own. An answer that does not split (an error, another shape) sends
// the batch's requests still waiting back to the front of the queue, in order, to run alone: each error then
// goes to its own request.
void Dispatcher::CompleteBatch(const std::vector<JobPtr>& batch, WorkerReply reply) {
  if (batch.size() == 1) {
    Finish(*batch.front(), DispatchReply{std::move(reply), {}});
    return;
  }
  std::optional<std::vector<std::string>> parts;
  if (reply.status == 200) {
    std::vector<size_t> rows;
    for (const auto& job : batch) rows.push_back(job->input->rows);
    parts = SplitAnswer(reply.body, rows);
  }
  if (parts) {
    for (size_t i = 0; i < batch.size(); ++i)
      Finish(*batch[i], DispatchReply{WorkerReply{reply.status, reply.content_type, std::move((*parts)[i])}, {}});
    return;
  }
  for (auto it = batch.rbegin(); it != batch.rend(); ++it) {
    const JobPtr& job = *it;
    if (job->state != Job::State::kSent) continue;  // answered meanwhile (its deadline passed)
    job->state = Job::State::kQueued;
    job->alone = true;
    --in_flight_;
    ++queued_;
    sent_.erase(std::remove(sent_.begin(), sent_.end(), job), sent_.end());
    queue_.push_front(job);
  }
  Pump();
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
