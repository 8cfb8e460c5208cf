// What an operation made, so that a failure can take it back (docs/decisions/0005-what-rollback-keeps.md).
// Steps are recorded as they are made (before the call that makes them: a reply lost on the way may hide
// that a resource exists, and undoing what is not there is harmless) and undone newest first.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "mlflow_bridge/status.h"

namespace mlflow_bridge::internal {

class RollbackRecord {
 public:
  // `what` names the undo step for messages: "delete SageMaker model m-1".
  void Add(std::string what, std::function<Status()> undo) { steps_.emplace_back(std::move(what), std::move(undo)); }
  bool empty() const { return steps_.empty(); }

  // Undoes every step, newest first, and forgets them. A step answering RESOURCE_DOES_NOT_EXIST counts as
  // undone (its resource was never made); each other failure is logged as a warning. Returns
  // what could not be undone, with why ("delete SageMaker model m-1 (PERMISSION_DENIED: ...); ..."), or ""
  // when everything was.
  std::string Undo();

  // For a failed operation's message: `all_undone` ("nothing was left behind") when Undo() left nothing,
  // else "could not undo: <what Undo() returned>".
  std::string UndoAndSay(const std::string& all_undone);

 private:
  std::vector<std::pair<std::string, std::function<Status()>>> steps_;
};

}  // namespace mlflow_bridge::internal
