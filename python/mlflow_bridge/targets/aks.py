"""MLflow deployment target `aks`: models served on Azure Kubernetes Service (Deployment, Service, Ingress).

Target URI: ``aks`` or ``aks:/<namespace>``. See ``target_help()``."""

from mlflow_bridge.targets import _base


class AksDeploymentClient(_base.BridgeDeploymentClient):
    """Deploys models to AKS: a Deployment and a Service, exposed by an Ingress or a LoadBalancer Service."""

    TARGET = "aks"


run_local = _base.run_local


def target_help():
    return _base.target_help("aks")
