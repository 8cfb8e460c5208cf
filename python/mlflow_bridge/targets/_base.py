"""The one MLflow deployment client class: every target's module subclasses BridgeDeploymentClient and
names its target (TARGET). The target itself lives in the native core (`_core.Target`, one adapter for
every target); this class only converts arguments and payloads, stages models, and maps errors.

MLflow wants exactly one client class per plugin module, so target modules import this module, not the
class."""

import json
import sys

import mlflow
from mlflow.deployments import BaseDeploymentClient

from mlflow_bridge import _config, _core, _model, _payload
from mlflow_bridge._errors import translate_errors


def _request(name, endpoint, model_uri, run_id, flavor, model_dir, config):
    return json.dumps(
        {
            "name": name or "",
            "endpoint": endpoint or "",
            "model_uri": model_uri or "",
            "run_id": run_id or "",
            "flavor": flavor or "",
            "model_dir": model_dir or "",
            "python": sys.executable,
            "mlflow_version": mlflow.__version__,
            "config": json.loads(_config.to_json(config)),
        }
    )


def _shown(out):
    if "manifests" in out:  # render=true: for GitOps, nothing applied
        print(out["manifests"], end="")
    return out


class BridgeDeploymentClient(BaseDeploymentClient):
    TARGET = None  # the MLflow target name, e.g. "kyma"

    def __init__(self, target_uri):
        super().__init__(target_uri)
        self._target = translate_errors(_core.Target)(self.TARGET, target_uri, _model.home())

    def _deploy(self, method, name, endpoint, model_uri, flavor, config):
        check = self._target.check_create if method == "create" else self._target.check_update
        check(_request(name, endpoint, model_uri, "", flavor, "", config))  # before any download or build
        needs_files = self._target.needs_model_files(model_uri or "", _config.to_json(config))
        with _model.staged(model_uri if needs_files else None, flavor) as (model_dir, run_id):
            if not needs_files:
                run_id = _model.run_id_of(model_uri)
            deploy = self._target.create_deployment if method == "create" else self._target.update_deployment
            return _shown(json.loads(deploy(_request(name, endpoint, model_uri, run_id, flavor, model_dir, config))))

    @translate_errors
    def create_deployment(self, name, model_uri, flavor=None, config=None, endpoint=None):
        return self._deploy("create", name, endpoint, model_uri, flavor, config)

    @translate_errors
    def update_deployment(self, name, model_uri=None, flavor=None, config=None, endpoint=None):
        return self._deploy("update", name, endpoint, model_uri, flavor, config)

    @translate_errors
    def delete_deployment(self, name, config=None, endpoint=None):
        self._target.delete_deployment(name, endpoint or "", _config.to_json(config))

    @translate_errors
    def list_deployments(self, endpoint=None):
        return json.loads(self._target.list_deployments(endpoint or ""))

    @translate_errors
    def get_deployment(self, name, endpoint=None):
        return json.loads(self._target.get_deployment(name, endpoint or ""))

    @translate_errors
    def predict(self, deployment_name=None, inputs=None, endpoint=None, params=None):
        """Scores on a deployment, or on an endpoint (split by its weights); inputs over the platform's
        payload limit are split by rows and the answers joined in order."""
        parts = _payload.to_requests(inputs, params, limit=self._target.max_payload or None)
        answers = self._target.predict(deployment_name or "", endpoint or "", [body for body, _ in parts], parts[0][1])
        return _payload.merge_responses(answers)

    # MLflow endpoints. A target without them answers as MLflow's BaseDeploymentClient does (NotImplementedError).

    @translate_errors
    def create_endpoint(self, name, config=None):
        if not self._target.supports_endpoints:
            return super().create_endpoint(name, config)
        config = dict(config or {})
        model_uri = config.pop("model_uri", None) if self._target.endpoint_takes_model else None
        if model_uri:  # the endpoint with its first deployment (a SageMaker endpoint cannot be empty)
            deployment = config.pop("deployment_name", "primary")
            self._deploy("create", deployment, name, model_uri, None, config)
            return json.loads(self._target.get_endpoint(name))
        return _shown(json.loads(self._target.create_endpoint(name, _config.to_json(config))))

    @translate_errors
    def update_endpoint(self, endpoint, config=None):
        """config["weights"]: {"<deployment>": <relative weight>, ...}."""
        if not self._target.supports_endpoints:
            return super().update_endpoint(endpoint, config)
        return json.loads(self._target.update_endpoint(endpoint, _config.to_json(config)))

    @translate_errors
    def delete_endpoint(self, endpoint):
        """Deletes the endpoint and its deployments."""
        if not self._target.supports_endpoints:
            return super().delete_endpoint(endpoint)
        self._target.delete_endpoint(endpoint, "{}")

    @translate_errors
    def list_endpoints(self):
        if not self._target.supports_endpoints:
            return super().list_endpoints()
        return json.loads(self._target.list_endpoints())

    @translate_errors
    def get_endpoint(self, endpoint):
        if not self._target.supports_endpoints:
            return super().get_endpoint(endpoint)
        return json.loads(self._target.get_endpoint(endpoint))


def run_local(name, model_uri, flavor=None, config=None):
    """Serves the model in the foreground on 127.0.0.1 until interrupted, with mlflow-bridge-serve, the native
    model server that every target's images run (or MLflow's scoring server: config server=mlflow, or when this
    installation has no native server). config takes the `local` target's keys, e.g. port."""
    with _model.staged(model_uri, flavor) as (model_dir, _):
        translate_errors(_core.run_local)(_request("", "", model_uri, "", flavor, model_dir, config), _model.home())


def target_help(target):
    return translate_errors(_core.target_help)(target)
