// The oci-endpoints target (docs/decisions/0010): an MLflow deployment is an OCI Data Science model deployment
// (display name = the MLflow name, freeform tags managed-by and mlflow-deployment), serving a Data Science
// model that this target made from the MLflow model, in the conda (DEFAULT) or container (OCIR_CONTAINER)
// runtime. The orchestration only: create (model, artifact, image, deployment), update (a new model swapped
// in, infrastructure, activate/deactivate), delete (the deployment and the models made for it), get/list of
// what mlflow-bridge manages, predict. Every asynchronous operation is followed through its work request; a
// failure reports the work request's errors and log messages and undoes what the call made (RollbackRecord).
// REST calls go through DataScienceStub (oci/datascience_stub.h), which a test replaces.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "mlflow_bridge/clock.h"
#include "mlflow_bridge/deployment_target.h"
#include "mlflow_bridge/http.h"
#include "oci/credentials.h"
#include "oci/datascience_stub.h"
#include "targets/oci/config.h"

namespace mlflow_bridge::internal {

// Where the target URI points: oci-endpoints[:/<region>[/<compartment OCID>]].
struct OciTarget {
  std::string region;          // empty: the credentials' region
  std::string compartment_id;  // empty: the config's, else the notebook's, else the tenancy (root compartment)
};
StatusOr<OciTarget> ParseOciTargetUri(const std::string& target_uri);

// What one call talks to, made from its config.
struct OciServices {
  std::shared_ptr<DataScienceStub> ds;        // the Data Science API, retrying
  std::shared_ptr<HttpTransport> scoring;     // signs predict requests
  std::shared_ptr<OciCaller> object_storage;  // the region's Object Storage (the service conda packs' index)
  std::string region;                         // resolved: the URI's, else the credentials'
  std::string tenancy;                        // the credentials' tenancy OCID, when they name it
};
using OciServicesFactory = std::function<StatusOr<OciServices>(const OciTarget&, const OciConfig&)>;

struct OciClientOptions {
  OciTarget target;
  OciServicesFactory services;   // null: the real ones (MakeOciServices)
  std::shared_ptr<Clock> clock;  // null: the system clock
  std::function<bool()> interrupted;
  std::string work_dir;        // where artifacts are written (and removed)
  std::string image_work_dir;  // registry=: where images are built
  std::string serve_dir;       // registry=: the native model server for the image (ImageBuilderOptions::serve_dir)
};

// The real services for `config` over libcurl: the credentials it names (auth, oci_config, profile), the Data
// Science API at endpoint_url (default: $MLFLOW_BRIDGE_OCI_ENDPOINT, else
// https://datascience.<region>.oci.oraclecloud.com), Object Storage at $MLFLOW_BRIDGE_OCI_OBJECT_STORAGE_ENDPOINT,
// else https://objectstorage.<region>.oraclecloud.com.
StatusOr<OciServices> MakeOciServices(const OciTarget& target, const OciConfig& config);

std::shared_ptr<DeploymentTarget> MakeOciClient(OciClientOptions options);

}  // namespace mlflow_bridge::internal
