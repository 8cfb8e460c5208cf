"""MLflow deployment target `local`: model servers on this machine.

Target URI: ``local``. See ``target_help()`` for the config keys.
"""

import json
import sys

from mlflow.deployments import BaseDeploymentClient
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from mlflow_bridge import _config, _core, _model, _payload
from mlflow_bridge._errors import translate_errors


def _no_endpoint(endpoint):
    if endpoint is not None:
        raise MlflowException(
            "The local target has no endpoints: address deployments by name and omit --endpoint.",
            error_code=INVALID_PARAMETER_VALUE,
        )


class LocalDeploymentClient(BaseDeploymentClient):
    """Deploys models as scoring servers on 127.0.0.1 that outlive the calling process."""

    def __init__(self, target_uri="local"):
        super().__init__(target_uri)
        if target_uri.strip("/") != "local":
            raise MlflowException(
                f"Invalid target URI '{target_uri}': the local target's URI is just 'local'.",
                error_code=INVALID_PARAMETER_VALUE,
            )
        self._client = _core.LocalClient(_model.home())

    def _deploy(self, method, name, model_uri, flavor, config):
        config = _config.to_json(config)
        with _model.staged(model_uri, flavor) as (model_dir, run_id):
            return json.loads(method(name, model_uri or "", run_id, flavor or "", model_dir, sys.executable, config))

    @translate_errors
    def create_deployment(self, name, model_uri, flavor=None, config=None, endpoint=None):
        _no_endpoint(endpoint)
        if model_uri is None:
            raise MlflowException("create_deployment needs a model URI.", error_code=INVALID_PARAMETER_VALUE)
        self._client.check_new(name)  # before the download: a bad or taken name fails fast
        return self._deploy(self._client.create, name, model_uri, flavor, config)

    @translate_errors
    def update_deployment(self, name, model_uri=None, flavor=None, config=None, endpoint=None):
        _no_endpoint(endpoint)
        self._client.get(name)  # fails early, before a download, when it does not exist
        return self._deploy(self._client.update, name, model_uri, flavor, config)

    @translate_errors
    def delete_deployment(self, name, config=None, endpoint=None):
        _no_endpoint(endpoint)
        if config:
            raise MlflowException(
                f"delete_deployment on the local target takes no config; got {sorted(config)}.",
                error_code=INVALID_PARAMETER_VALUE,
            )
        self._client.delete(name)

    @translate_errors
    def list_deployments(self, endpoint=None):
        _no_endpoint(endpoint)
        return json.loads(self._client.list())

    @translate_errors
    def get_deployment(self, name, endpoint=None):
        _no_endpoint(endpoint)
        return json.loads(self._client.get(name))

    @translate_errors
    def predict(self, deployment_name=None, inputs=None, endpoint=None, params=None):
        _no_endpoint(endpoint)
        if not deployment_name:
            raise MlflowException("predict needs a deployment name.", error_code=INVALID_PARAMETER_VALUE)
        body, content_type = _payload.to_request(inputs, params)
        return _payload.to_response(self._client.predict(deployment_name, body, content_type))


def run_local(name, model_uri, flavor=None, config=None):
    """Serves the model in the foreground on 127.0.0.1 until interrupted."""
    with _model.staged(model_uri, flavor) as (model_dir, _):
        translate_errors(_core.LocalClient(_model.home()).run_local)(
            model_uri, flavor or "", model_dir, sys.executable, _config.to_json(config)
        )


def target_help():
    return _core.LocalClient.help()
