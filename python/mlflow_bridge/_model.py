"""Resolving and downloading model URIs: MLflow's job, kept in Python."""

import contextlib
import os
import shutil
import tempfile

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.protos import databricks_pb2
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST

from mlflow_bridge import _core


def home() -> str:
    return os.environ.get("MLFLOW_BRIDGE_HOME") or os.path.join(os.path.expanduser("~"), ".mlflow-bridge")


@contextlib.contextmanager
def staged(model_uri, flavor=None):
    """Downloads `model_uri` into a fresh staging folder under the mlflow-bridge
    home and yields (model_dir, run_id); the folder is removed afterwards (the
    core may have moved the model out of it meanwhile). A None URI yields ("", "")."""
    if model_uri is None:
        yield "", ""
        return
    staging, model_dir, run_id = _download(model_uri, flavor)
    try:
        yield model_dir, run_id
    finally:
        _remove(staging)


def _download(model_uri: str, flavor=None):
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
        # Keep MLflow's own code (e.g. PERMISSION_DENIED); a missing model otherwise.
        code = e.error_code if isinstance(e, MlflowException) else "RESOURCE_DOES_NOT_EXIST"
        if code in ("INTERNAL_ERROR", "BAD_REQUEST", "INVALID_PARAMETER_VALUE"):
            code = "RESOURCE_DOES_NOT_EXIST"
        raise MlflowException(
            f"Cannot load the model at '{model_uri}': {_core.redact(str(e))}. Check the URI (runs:/<run-id>/<path>, "
            "models:/<name>/<version>, models:/<name>@<alias> or a local path) and MLFLOW_TRACKING_URI.",
            error_code=getattr(databricks_pb2, code, RESOURCE_DOES_NOT_EXIST),
        ) from None
    if "python_function" not in model.flavors:
        _remove(staging)
        raise MlflowException(
            f"The model at '{model_uri}' has no python_function flavor (it has: "
            f"{', '.join(sorted(model.flavors))}), so it cannot be served.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    return staging, path, model.run_id or ""


def run_id_of(model_uri):
    """The run a model comes from, without downloading it (the label of a prebuilt image's deployment); "" when
    MLflow cannot tell."""
    import re

    try:
        if m := re.match(r"runs:/([^/]+)/", model_uri or ""):
            return m.group(1)
        client = mlflow.MlflowClient()
        if m := re.match(r"models:/([^/@]+)@(.+)$", model_uri or ""):
            return client.get_model_version_by_alias(m.group(1), m.group(2)).run_id or ""
        if m := re.match(r"models:/([^/]+)/(\d+)$", model_uri or ""):
            return client.get_model_version(m.group(1), m.group(2)).run_id or ""
        if model_uri and os.path.isfile(os.path.join(model_uri, "MLmodel")):
            return Model.load(os.path.join(model_uri, "MLmodel")).run_id or ""
    except Exception:  # a label only: never fail a deployment over it
        return ""
    return ""


def _remove(path):
    shutil.rmtree(path, ignore_errors=True)
