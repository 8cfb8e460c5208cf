"""MLflow deployment target `local`: model servers on this machine.

Target URI: ``local``. See ``target_help()`` for the config keys.
"""

from mlflow_bridge.targets import _base


class LocalDeploymentClient(_base.BridgeDeploymentClient):
    """Deploys models as model servers on 127.0.0.1 (mlflow-bridge-serve, or MLflow's scoring server with
    config server=mlflow) that outlive the calling process."""

    TARGET = "local"

    def __init__(self, target_uri="local"):
        super().__init__(target_uri)


run_local = _base.run_local


def target_help():
    return _base.target_help("local")
