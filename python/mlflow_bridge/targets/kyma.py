"""MLflow deployment target `kyma`: models served on SAP BTP Kyma (Deployment, Service, APIRule).

Target URI: ``kyma`` or ``kyma:/<namespace>``. See ``target_help()``."""

from mlflow_bridge.targets import _base


class KymaDeploymentClient(_base.BridgeDeploymentClient):
    """Deploys models to Kyma: a Deployment and a Service, exposed by an APIRule (https://<host>)."""

    TARGET = "kyma"


run_local = _base.run_local


def target_help():
    return _base.target_help("kyma")
