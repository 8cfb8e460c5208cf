"""MLflow deployment target `aks`: models served on Azure Kubernetes Service (Deployment, Service, Ingress).

Target URI: ``aks`` or ``aks:/<namespace>``. See ``target_help()``."""

from mlflow_bridge import _core
from mlflow_bridge.targets import _kubernetes


class AksDeploymentClient(_kubernetes.KubernetesDeploymentClient):
    """Deploys models to AKS: a Deployment and a Service, exposed by an Ingress or a LoadBalancer Service."""

    FLAVOR = "aks"


def run_local(name, model_uri, flavor=None, config=None):
    """Serves the model on this machine, as the cluster would; config takes the `local` target's keys."""
    _kubernetes.run_local(name, model_uri, flavor, config)


def target_help():
    return _core.KubernetesClient.help("aks")
