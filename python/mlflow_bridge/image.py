"""Model images without a docker daemon.

    from mlflow_bridge.image import build_and_push
    ref = build_and_push("models:/churn/3", "myregistry.azurecr.io/churn:3",
                         registry_username=app_id, registry_password=secret)
    # -> "myregistry.azurecr.io/churn@sha256:..."

The image holds the model at /opt/ml/model and its Python dependencies (installed
by pip for the base image's Python and platform, wheels only), and runs mlflow-bridge's
model server on port 8080 (/invocations, /ping, /health, /score, /predict, /v2/...;
server="mlflow": MLflow's scoring server). See ``help()`` for every option.
"""

import json
import os
import sys

import mlflow

from mlflow_bridge import _config, _core, _model
from mlflow_bridge._errors import translate_errors


@translate_errors
def build_and_push(model_uri, image, base_image=None, **config):
    """Builds the image of `model_uri` on `base_image` and pushes it to `image`
    (``<registry>/<repository>:<tag>``). Other keyword arguments are config keys
    (platform, port, install_dependencies, insecure_registry, registry_username,
    registry_password, registry_auth, ...; see ``help()``). Returns the pushed reference with its digest."""
    return build(model_uri, image, base_image, **config)["image"]


def build(model_uri, image, base_image=None, **config):
    """As build_and_push, returning everything the push reports (digest, layers,
    uploaded bytes)."""
    config = {k: v for k, v in config.items() if v is not None}
    config["image"] = image
    if base_image:
        config["base_image"] = base_image
    config_json = _config.to_json(config)
    builder = translate_errors(_core.ImageBuilder)(os.path.join(_model.home(), "image"))
    with _model.staged(model_uri) as (model_dir, run_id):
        return json.loads(
            translate_errors(builder.build_and_push)(
                model_dir, model_uri, run_id, sys.executable, mlflow.__version__, config_json
            )
        )


def help():  # noqa: A001 - the name the targets use too
    return _core.ImageBuilder.help()
