"""MLflow deployment target `sagemaker-endpoints`: AWS SageMaker real-time endpoints.

Target URI: ``sagemaker-endpoints:/<region>[/<assume-role-arn>]``. See ``target_help()``.
"""

import json
import os
import sys
import urllib.parse

import mlflow
from mlflow.deployments import BaseDeploymentClient
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from mlflow_bridge import _config, _core, _model, _payload
from mlflow_bridge._errors import translate_errors


def _parse_target(target_uri):
    parsed = urllib.parse.urlparse(target_uri)
    if parsed.scheme not in ("sagemaker-endpoints", "") or parsed.netloc:
        raise MlflowException(
            f"Invalid target URI '{target_uri}': use sagemaker-endpoints:/<region>[/<assume-role-arn>].",
            error_code=INVALID_PARAMETER_VALUE,
        )
    path = parsed.path if parsed.scheme else ""
    region, _, role = path.strip("/").partition("/")
    return region, role.strip("/")


class SageMakerDeploymentClient(BaseDeploymentClient):
    """Deploys models to SageMaker real-time endpoints.

    An MLflow endpoint is a SageMaker endpoint and its deployments are production
    variants; a deployment without an endpoint is a SageMaker endpoint of its own.
    """

    def __init__(self, target_uri):
        super().__init__(target_uri)
        region, role = _parse_target(target_uri)
        work_dir = os.path.join(_model.home(), "sagemaker")
        os.makedirs(work_dir, exist_ok=True)
        image_dir = os.path.join(_model.home(), "image")
        self._client = translate_errors(_core.SageMakerClient)(region, role, work_dir, image_dir)

    def _deploy(self, method, name, endpoint, model_uri, flavor, config):
        config = _config.to_json(config)
        with _model.staged(model_uri, flavor) as (model_dir, run_id):
            return json.loads(
                method(name, endpoint or "", model_uri, run_id, flavor or "", model_dir, mlflow.__version__, config, sys.executable)
            )

    @translate_errors
    def create_deployment(self, name, model_uri, flavor=None, config=None, endpoint=None):
        self._client.check_new(name, endpoint or "")  # before the download: a taken name fails fast
        return self._deploy(self._client.create, name, endpoint, model_uri, flavor, config)

    @translate_errors
    def update_deployment(self, name, model_uri=None, flavor=None, config=None, endpoint=None):
        if model_uri is None:
            raise MlflowException(
                "update_deployment on SageMaker needs a model URI (-m): each update serves a new model.",
                error_code=INVALID_PARAMETER_VALUE,
            )
        return self._deploy(self._client.update, name, endpoint, model_uri, flavor, config)

    @translate_errors
    def delete_deployment(self, name, config=None, endpoint=None):
        self._client.delete(name, endpoint or "", _config.to_json(config))

    @translate_errors
    def list_deployments(self, endpoint=None):
        return json.loads(self._client.list(endpoint or ""))

    @translate_errors
    def get_deployment(self, name, endpoint=None):
        return json.loads(self._client.get(name, endpoint or ""))

    @translate_errors
    def predict(self, deployment_name=None, inputs=None, endpoint=None, params=None):
        if not deployment_name and not endpoint:
            raise MlflowException("predict needs a deployment name or an endpoint.", error_code=INVALID_PARAMETER_VALUE)
        # A deployment of an endpoint is addressed as its variant; an endpoint alone splits traffic by weight.
        name, variant_of = (deployment_name, endpoint or "") if deployment_name else (endpoint, "")
        parts = _payload.to_requests(inputs, params, limit=_core.SageMakerClient.max_payload)
        answers = self._client.predict(name, [body for body, _ in parts], parts[0][1], variant_of)
        return _payload.merge_responses(answers)

    @translate_errors
    def create_endpoint(self, name, config=None):
        """A SageMaker endpoint cannot be empty: config names its first deployment's model
        (model_uri, and optionally deployment_name, default "primary"); other keys as for create."""
        config = dict(config or {})
        model_uri = config.pop("model_uri", None)
        if not model_uri:
            raise MlflowException(
                "A SageMaker endpoint needs a model to start with: pass -C model_uri=<model> "
                "(and optionally -C deployment_name=<name>), or create its first deployment with --endpoint.",
                error_code=INVALID_PARAMETER_VALUE,
            )
        deployment = config.pop("deployment_name", "primary")
        self._deploy(self._client.create, deployment, name, model_uri, None, config)
        return json.loads(self._client.get(name, ""))

    @translate_errors
    def update_endpoint(self, endpoint, config=None):
        return json.loads(self._client.update_endpoint(endpoint, _config.to_json(config)))

    @translate_errors
    def delete_endpoint(self, endpoint):
        self._client.delete(endpoint, "", "{}")

    @translate_errors
    def list_endpoints(self):
        return json.loads(self._client.list(""))

    @translate_errors
    def get_endpoint(self, endpoint):
        return json.loads(self._client.get(endpoint, ""))


def run_local(name, model_uri, flavor=None, config=None):
    """Serves the model on this machine with MLflow's scoring server (no container),
    as the endpoint would score it; config takes the `local` target's keys (e.g. port)."""
    from mlflow_bridge.targets import local

    local.run_local(name, model_uri, flavor, config)


def target_help():
    return _core.SageMakerClient.help()
