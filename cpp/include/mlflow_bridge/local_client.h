// Target `local`: model servers on this machine, bound to 127.0.0.1, that
// outlive the process that created them. State lives under
// $MLFLOW_BRIDGE_HOME/local (default ~/.mlflow-bridge/local) so that every
// process sees the same deployments.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/config.h"
#include "mlflow_bridge/deployment_target.h"
#include "mlflow_bridge/http.h"
#include "mlflow_bridge/status.h"

namespace mlflow_bridge {

struct LocalClientOptions {
  std::string home;                          // the mlflow-bridge home; empty: $MLFLOW_BRIDGE_HOME or ~/.mlflow-bridge
  std::shared_ptr<HttpTransport> transport;  // null: a libcurl transport
  std::shared_ptr<Clock> clock;              // null: the system clock
  // Polled during long waits (server start, run_local); true cancels the
  // operation, which cleans up as on any failure. Null: never.
  std::function<bool()> interrupted;
  // Where the native model server is (DeploymentTargetOptions::serve_dir): mlflow-bridge-serve and
  // serve_worker.py. Empty, or without them: MLflow's scoring server (config `server`).
  std::string serve_dir;
};

class LocalClient {
 public:
  explicit LocalClient(LocalClientOptions options = {});

  // OK when `name` is valid and no deployment has it (Create checks again, under its lock).
  Status CheckNew(const std::string& name);
  // Starts a server for the model (the native one, or MLflow's: config `server`) and waits until it answers
  // its health route.
  StatusOr<nlohmann::json> Create(const DeployRequest& request);
  // Zero-downtime swap: the new server shares the port (SO_REUSEPORT), takes
  // new connections once it is listening and healthy, then the old one drains
  // (answers what it has, kept-alive connections closed with `Connection: close`)
  // and stops. If the new server does not become healthy, the old one keeps serving.
  StatusOr<nlohmann::json> Update(const DeployRequest& request);
  // Stops the server and removes the deployment; deleting what is not there is OK.
  Status Delete(const std::string& name);
  StatusOr<nlohmann::json> List();
  // Live status: starting / ready / unresponsive (alive, was ready, no answer to
  // /ping) / exited, with the tail of the server's log.
  StatusOr<nlohmann::json> Get(const std::string& name);
  // POSTs `body` to the deployment's /invocations and returns the response body.
  StatusOr<std::string> Predict(const std::string& name, const std::string& body, const std::string& content_type);
  // Serves the model in the foreground until the server exits (mlflow's run_local).
  Status RunLocal(const DeployRequest& request);

  static const ConfigSchema& Schema();
  static std::string Help();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace mlflow_bridge
