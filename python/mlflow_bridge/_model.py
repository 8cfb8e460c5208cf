"""Resolving and downloading model URIs: MLflow's job, kept in Python."""

import os
import shutil
import tempfile

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST


def home() -> str:
    return os.environ.get("MLFLOW_BRIDGE_HOME") or os.path.join(os.path.expanduser("~"), ".mlflow-bridge")


def download(model_uri: str, flavor=None):
    """Downloads `model_uri` into a fresh staging folder under the mlflow-bridge home.

    Returns (staging, model_dir, run_id): model_dir lies inside staging; the core
    moves it into the deployment, and the caller removes staging afterwards.
    """
    if flavor not in (None, "python_function"):
        raise MlflowException(
            f"Models are served through the python_function flavor; flavor '{flavor}' is not supported. "
            "Omit --flavor or pass python_function.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    if not model_uri or not isinstance(model_uri, str):
        raise MlflowException("A model URI is required (-m/--model-uri).", error_code=INVALID_PARAMETER_VALUE)
    staging_root = os.path.join(home(), "staging")
    os.makedirs(staging_root, exist_ok=True)
    staging = tempfile.mkdtemp(prefix="model-", dir=staging_root)
    try:
        path = mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=staging)
        if not os.path.realpath(path).startswith(os.path.realpath(staging) + os.sep):
            # A local model is used in place by MLflow: copy it, never move the user's folder.
            path = shutil.copytree(path, os.path.join(staging, "model"))
        model = Model.load(os.path.join(path, "MLmodel"))
    except Exception as e:  # MLflow raises many kinds here; all mean "cannot use this URI"
        _remove(staging)
        raise MlflowException(
            f"Cannot load the model at '{model_uri}': {e}. Check the URI (runs:/<run-id>/<path>, "
            "models:/<name>/<version>, models:/<name>@<alias> or a local path) and MLFLOW_TRACKING_URI.",
            error_code=RESOURCE_DOES_NOT_EXIST,
        ) from None
    if "python_function" not in model.flavors:
        _remove(staging)
        raise MlflowException(
            f"The model at '{model_uri}' has no python_function flavor (it has: "
            f"{', '.join(sorted(model.flavors))}), so it cannot be served.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    return staging, path, model.run_id or ""


def _remove(path):
    shutil.rmtree(path, ignore_errors=True)


def cleanup(staging):
    """Removes a staging folder (what the core did not take of it)."""
    if staging:
        _remove(staging)
