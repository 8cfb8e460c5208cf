"""MLflow deployment target `sagemaker-endpoints`: AWS SageMaker real-time endpoints.

Target URI: ``sagemaker-endpoints:/<region>[/<assume-role-arn>]``. See ``target_help()``.
"""

from mlflow_bridge.targets import _base


class SageMakerDeploymentClient(_base.BridgeDeploymentClient):
    """Deploys models to SageMaker real-time endpoints.

    An MLflow endpoint is a SageMaker endpoint and its deployments are production
    variants; a deployment without an endpoint is a SageMaker endpoint of its own.
    """

    TARGET = "sagemaker-endpoints"


run_local = _base.run_local


def target_help():
    return _base.target_help("sagemaker-endpoints")
