"""MLflow deployment target `oci-endpoints`: models served as OCI Data Science model deployments.

Target URI: ``oci-endpoints:/<region>[/<compartment OCID>]``. See ``target_help()``."""

from mlflow_bridge.targets import _base


class OciDeploymentClient(_base.BridgeDeploymentClient):
    """Deploys models as OCI Data Science model deployments (conda or container runtime), found by their MLflow
    name (display name plus the managed-by tag) or OCID."""

    TARGET = "oci-endpoints"


run_local = _base.run_local


def target_help():
    return _base.target_help("oci-endpoints")
