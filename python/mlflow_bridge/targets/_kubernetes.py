"""What the `kyma` and `aks` targets share: a Deployment and a Service on Kubernetes behind a route.

Each target module subclasses KubernetesDeploymentClient (MLflow wants exactly one client
class per module, so they import this module, not the class)."""

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


def parse_target(target_uri, flavor):
    """kyma, kyma:/<namespace> (and the same for aks) -> the namespace ("" for the kubeconfig's)."""
    parsed = urllib.parse.urlparse(target_uri)
    namespace = parsed.path.strip("/") if parsed.scheme == flavor else ""
    if (parsed.scheme and parsed.scheme != flavor) or parsed.netloc or "/" in namespace or (not parsed.scheme and target_uri != flavor):
        raise MlflowException(
            f"Invalid target URI '{target_uri}': use {flavor} or {flavor}:/<namespace>.", error_code=INVALID_PARAMETER_VALUE
        )
    return namespace


class KubernetesDeploymentClient(BaseDeploymentClient):
    FLAVOR = None  # "kyma" or "aks"

    def __init__(self, target_uri):
        super().__init__(target_uri)
        namespace = parse_target(target_uri, self.FLAVOR)
        self._client = translate_errors(_core.KubernetesClient)(
            self.FLAVOR, namespace, os.path.join(_model.home(), "image")
        )

    def _deploy(self, method, name, endpoint, model_uri, flavor, config):
        config_json = _config.to_json(config)
        needs_model = bool((config or {}).get("registry"))  # only a build needs the model's files
        with _model.staged(model_uri if needs_model else None, flavor) as (model_dir, run_id):
            if not needs_model:
                run_id = _model.run_id_of(model_uri)
            out = json.loads(
                method(name, endpoint or "", model_uri, run_id, model_dir, sys.executable, mlflow.__version__, config_json)
            )
        return self._shown(out)

    @staticmethod
    def _shown(out):
        if "manifests" in out:  # render=true: for GitOps, nothing applied
            print(out["manifests"], end="")
        return out

    @translate_errors
    def create_deployment(self, name, model_uri, flavor=None, config=None, endpoint=None):
        self._client.check_new(name, endpoint or "", _config.to_json(config))  # before any download or build
        return self._deploy(self._client.create, name, endpoint, model_uri, flavor, config)

    @translate_errors
    def update_deployment(self, name, model_uri=None, flavor=None, config=None, endpoint=None):
        if model_uri is None:
            raise MlflowException(
                f"update_deployment on {self.FLAVOR} needs a model URI (-m): each update serves a new model.",
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
        """Scores on a deployment's route; with only an endpoint, on the endpoint's (split by weight)."""
        body, content_type = _payload.to_request(inputs, params)
        return _payload.to_response(self._client.predict(deployment_name or "", endpoint or "", body, content_type))

    @translate_errors
    def create_endpoint(self, name, config=None):
        """The endpoint's stable route, with no deployments yet: add them with create_deployment(endpoint=name)."""
        return self._shown(json.loads(self._client.create_endpoint(name, _config.to_json(config))))

    @translate_errors
    def update_endpoint(self, endpoint, config=None):
        """config["weights"]: {"<deployment>": <relative weight>, ...}."""
        return json.loads(self._client.update_endpoint(endpoint, _config.to_json(config)))

    @translate_errors
    def delete_endpoint(self, endpoint):
        """Deletes the endpoint's route and its deployments."""
        self._client.delete_endpoint(endpoint, "{}")

    @translate_errors
    def list_endpoints(self):
        return json.loads(self._client.list_endpoints())

    @translate_errors
    def get_endpoint(self, endpoint):
        return json.loads(self._client.get_endpoint(endpoint))


def run_local(name, model_uri, flavor=None, config=None):
    from mlflow_bridge.targets import local

    local.run_local(name, model_uri, flavor, config)
