"""MLflow deployment target `kyma`: models served on SAP BTP Kyma (Deployment, Service, APIRule).

Target URI: ``kyma`` or ``kyma:/<namespace>``. See ``target_help()``."""

from mlflow_bridge import _core
from mlflow_bridge.targets import _kubernetes


class KymaDeploymentClient(_kubernetes.KubernetesDeploymentClient):
    """Deploys models to Kyma: a Deployment and a Service, exposed by an APIRule (https://<host>)."""

    FLAVOR = "kyma"


def run_local(name, model_uri, flavor=None, config=None):
    """Serves the model on this machine, as the cluster would; config takes the `local` target's keys."""
    _kubernetes.run_local(name, model_uri, flavor, config)


def target_help():
    return _core.KubernetesClient.help("kyma")
