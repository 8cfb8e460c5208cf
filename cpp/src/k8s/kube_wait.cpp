#include "k8s/kube_wait.h"

#include <algorithm>

#include "common/strings.h"
#include "mlflow_bridge/logging.h"

namespace mlflow_bridge::internal {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;

std::string ResourceVersion(const json& obj) {
  return obj.is_object() && obj.contains("metadata") ? obj["metadata"].value("resourceVersion", "") : std::string();
}

std::string NameOf(const json& obj) {
  return obj.is_object() && obj.contains("metadata") && obj["metadata"].is_object() ? obj["metadata"].value("name", "")
                                                                                    : std::string();
}

// The wait loop behind WaitForKube and DeleteKubeAndWait: gone_ok = absence is success.
StatusOr<json> Wait(KubeApi& api, const KubeWaitOptions& options, const KubeResource& r, const std::string& ns_in,
                    const std::string& name, milliseconds timeout,
                    const std::function<std::optional<Status>(const json&)>& done,
                    const std::function<void(const json&)>& progress, bool gone_ok) {
  const std::shared_ptr<Clock> clock_ptr = options.clock ? options.clock : SystemClock();
  Clock& clock = *clock_ptr;
  const std::string ns = r.namespaced ? (ns_in.empty() ? api.config().namespace_name : ns_in) : "";
  const std::string shown = KubeObjectName(r, ns, name);
  const Clock::TimePoint start = clock.Now(), deadline = start + timeout;
  Clock::TimePoint last_progress = start;
  json obj;
  std::string rv;
  bool watching = true;
  const milliseconds max_delay = std::max(options.backoff.maximum, milliseconds(1));
  milliseconds delay = std::clamp(options.backoff.initial, milliseconds(1), max_delay);
  auto grow = [&] {
    delay = std::min(max_delay, milliseconds(static_cast<long long>(static_cast<double>(delay.count()) *
                                                                    std::max(1.0, options.backoff.multiplier))));
  };
  using Outcome = std::optional<StatusOr<json>>;  // nullopt: keep waiting
  auto gone = [&](bool at_start) -> Outcome {
    if (gone_ok) return StatusOr<json>(json());
    return StatusOr<json>(NotFoundError(shown + (at_start ? " does not exist" : " was deleted while waiting for it")));
  };
  auto check = [&](const json& o) -> Outcome {
    obj = o;
    if (std::string v = ResourceVersion(o); !v.empty()) rv = v;
    if (gone_ok || !done) return std::nullopt;
    std::optional<Status> d = done(o);
    if (!d) return std::nullopt;
    if (d->ok()) return StatusOr<json>(o);
    return StatusOr<json>(*d);
  };
  auto refresh = [&](bool at_start) -> Outcome {
    StatusOr<json> g = api.Get(r, ns, name);
    if (!g.ok()) {
      if (g.status().code() == StatusCode::kResourceDoesNotExist) return gone(at_start);
      if (IsTransient(g.status()) && !at_start) {
        LogDebug("waiting for " + shown + ": " + g.status().message() + " (still waiting)");
        return std::nullopt;
      }
      return StatusOr<json>(g.status());
    }
    return check(*g);
  };
  auto seconds = [](milliseconds d) { return std::to_string((d.count() + 999) / 1000); };

  if (Outcome o = refresh(true)) return std::move(*o);
  while (true) {
    if (options.interrupted && options.interrupted())
      return InternalError("Interrupted while waiting for " + shown + (gone_ok ? " to be deleted." : "."));
    const Clock::TimePoint now = clock.Now();
    if (now >= deadline)
      return DeadlineExceededError("Timed out after " + seconds(timeout) + " s waiting for " + shown +
                                   (gone_ok ? " to be deleted" : "") + " (context \"" + api.config().context + "\").");
    if (progress && now - last_progress >= options.progress_interval) {
      progress(obj);
      last_progress = now;
    }
    const milliseconds remaining = std::chrono::duration_cast<milliseconds>(deadline - now);
    if (!watching) {
      clock.SleepFor(std::min(delay, remaining));
      grow();
      if (Outcome o = refresh(false)) return std::move(*o);
      continue;
    }
    // A long poll: the server is asked to end the round after a short timeoutSeconds.
    const long long secs =
        std::max<long long>(1, std::min<long long>(options.watch_seconds, (remaining.count() + 999) / 1000));
    const Clock::TimePoint sent = clock.Now();
    StatusOr<KubeWatchRound> round = api.Watch(r, ns, name, rv, static_cast<int>(secs));
    if (!round.ok()) {
      LogDebug("watch of " + shown + " failed (" + round.status().message() + "); polling instead");
      watching = false;
      continue;
    }
    if (round->gone) {  // resourceVersion too old: start again from the current state
      if (Outcome o = refresh(false)) return std::move(*o);
      continue;
    }
    if (!round->stream) {
      LogDebug("the API server did not stream watch events for " + shown + "; polling instead");
      watching = false;
      continue;
    }
    int events = 0, changes = 0;  // changes: ADDED/MODIFIED of the object (not bookmarks)
    for (const KubeWatchEvent& ev : round->events) {
      ++events;
      const json& o = ev.object;
      if (ev.type == "ADDED" || ev.type == "MODIFIED") {
        if (o.contains("metadata") && NameOf(o) != name) continue;
        ++changes;
        if (Outcome out = check(o)) return std::move(*out);
      } else if (ev.type == "DELETED") {
        if (o.contains("metadata") && NameOf(o) != name) continue;
        if (Outcome out = gone(false)) return std::move(*out);
      } else if (ev.type == "BOOKMARK") {
        if (std::string v = ResourceVersion(o); !v.empty()) rv = v;
      } else if (ev.type == "ERROR") {
        if (o.is_object() && o.value("code", 0) == 410) {
          LogDebug("watch of " + shown + ": resourceVersion " + rv + " is gone (410), getting it again");
          if (Outcome out = refresh(false)) return std::move(*out);
        } else {
          LogDebug("watch of " + shown + " ended with an error (" +
                   Excerpt(Redact(o.is_object() ? o.value("message", "") : std::string()), 600) + "); polling instead");
          watching = false;
        }
        break;
      }
    }
    // A quiet round: done sees the object again, so that it can look elsewhere (a stuck rollout's pods).
    if (changes == 0 && !obj.is_null() && !gone_ok) {
      if (std::optional<Status> d = done(obj)) return d->ok() ? StatusOr<json>(obj) : StatusOr<json>(*d);
    }
    // A round that ended early without news (a proxy cutting it short, or a test): do not spin.
    if (events == 0 && clock.Now() - sent < milliseconds(1000)) {
      clock.SleepFor(
          std::max(milliseconds(0), std::min(delay, std::chrono::duration_cast<milliseconds>(deadline - clock.Now()))));
      grow();
    } else if (events > 0) {
      delay = std::clamp(options.backoff.initial, milliseconds(1), max_delay);
    }
  }
}

}  // namespace

StatusOr<json> WaitForKube(KubeApi& api, const KubeWaitOptions& options, const KubeResource& r, const std::string& ns,
                           const std::string& name, milliseconds timeout,
                           const std::function<std::optional<Status>(const json&)>& done,
                           const std::function<void(const json&)>& progress) {
  if (!done) return InvalidParameterError("WaitForKube needs a `done` callback");
  return Wait(api, options, r, ns, name, timeout, done, progress, false);
}

Status DeleteKubeAndWait(KubeApi& api, const KubeWaitOptions& options, const KubeResource& r, const std::string& ns,
                         const std::string& name, milliseconds timeout) {
  MLFLOW_BRIDGE_RETURN_IF_ERROR(api.Delete(r, ns, name));
  StatusOr<json> gone = Wait(api, options, r, ns, name, timeout, {}, {}, /*gone_ok=*/true);
  return gone.ok() ? OkStatus() : gone.status();
}

}  // namespace mlflow_bridge::internal
