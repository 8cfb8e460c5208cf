"""MLflow deployment target `azureml-endpoints`: models served on Azure ML managed and Kubernetes online endpoints.

Target URI: ``azureml-endpoints:/<subscription id>/<resource group>/<workspace>``. See ``target_help()``."""

from mlflow_bridge.targets import _base


class AzureMlDeploymentClient(_base.BridgeDeploymentClient):
    """Deploys models to Azure ML online endpoints: an MLflow endpoint is an online endpoint, a deployment one of
    its online deployments (managed or Kubernetes), with traffic split between them."""

    TARGET = "azureml-endpoints"


run_local = _base.run_local


def target_help():
    return _base.target_help("azureml-endpoints")
