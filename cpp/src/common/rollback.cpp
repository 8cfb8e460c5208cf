#include "common/rollback.h"

#include "mlflow_bridge/logging.h"

namespace mlflow_bridge::internal {

std::string RollbackRecord::Undo() {
  std::vector<std::pair<std::string, std::function<Status()>>> steps;
  steps.swap(steps_);
  std::string left;
  for (auto it = steps.rbegin(); it != steps.rend(); ++it) {
    Status s = it->second();
    // Steps are recorded before the call that makes their resource: one that is not there was never made.
    if (s.ok() || s.code() == StatusCode::kResourceDoesNotExist) continue;
    LogIgnored(s, "Rollback: " + it->first);
    left += (left.empty() ? "" : "; ") + it->first + " (" + s.ToString() + ")";
  }
  return left;
}

std::string RollbackRecord::UndoAndSay(const std::string& all_undone) {
  std::string left = Undo();
  return left.empty() ? all_undone : "could not undo: " + left;
}

}  // namespace mlflow_bridge::internal
