"""SAP FedML-compatible entry points: the same config file, no docker daemon, kubectl download or sudo.

    from mlflow_bridge.fedml import deploy_to_kyma, predict
    url = deploy_to_kyma("databricks_config.json")      # https://<SERVICE_NAME>.<cluster domain>/invocations
    predict(url, {"dataframe_records": [...]})

The config file is FedML's (fedml_databricks): DATABRICKS_URL, DATABRICKS_ACCESS_TOKEN, MODEL_URI,
SERVICE_NAME, KUBECONFIG_PATH, CONTAINER_REGISTRY_TYPE ("ACR" with SERVICE_PRINCIPAL_ID,
SERVICE_PRINCIPAL_PASSWORD and ACR; or "ECR" with PROFILE_NAME, the AWS profile: the repository
SERVICE_NAME in its account and region, default us-west-2, is created when missing), and optionally
OVERWRITE_SERVICE and NUM_REPLICAS. The model is built into an image and pushed from C++
(mlflow_bridge.image), then served on Kyma by the `kyma` target.

The model is read from Databricks (DATABRICKS_URL/DATABRICKS_ACCESS_TOKEN) unless MLFLOW_TRACKING_URI
is set, which then wins.
"""

import json
import os

from mlflow.deployments import get_deploy_client
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, RESOURCE_ALREADY_EXISTS

from mlflow_bridge import _core
from mlflow_bridge._errors import translate_errors

_REQUIRED = ["DATABRICKS_URL", "DATABRICKS_ACCESS_TOKEN", "MODEL_URI", "SERVICE_NAME", "KUBECONFIG_PATH",
             "CONTAINER_REGISTRY_TYPE"]
_REGISTRY_KEYS = {"ACR": ["SERVICE_PRINCIPAL_ID", "SERVICE_PRINCIPAL_PASSWORD", "ACR"], "ECR": ["PROFILE_NAME"]}
_ECR_DEFAULT_REGION = "us-west-2"  # what FedML's scripts fall back to when the profile names no region


def _fail(message):
    raise MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def _flag(value, key, path):
    """FedML writes "true"; JSON true works too."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    _fail(f"{key} in {path} must be true or false, got {value!r}.")


def _load(path):
    try:
        with open(path) as f:
            config = json.load(f)
    except OSError as e:
        _fail(f"Cannot read the FedML config file {path}: {e.strerror}.")
    except json.JSONDecodeError as e:
        _fail(f"The FedML config file {path} is not valid JSON: {e}.")
    if not isinstance(config, dict):
        _fail(f"The FedML config file {path} must hold a JSON object of keys.")
    kind = str(config.get("CONTAINER_REGISTRY_TYPE", "")).upper()
    missing = [k for k in _REQUIRED + _REGISTRY_KEYS.get(kind, []) if config.get(k) in (None, "")]
    if missing:
        _fail(f"The FedML config file {path} lacks {', '.join(missing)}.")
    if kind not in _REGISTRY_KEYS:
        _fail(f"CONTAINER_REGISTRY_TYPE in {path} must be ACR or ECR; got {config['CONTAINER_REGISTRY_TYPE']!r}.")
    return config, kind


def _databricks(config):
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        os.environ["DATABRICKS_HOST"] = config["DATABRICKS_URL"]
        os.environ["DATABRICKS_TOKEN"] = config["DATABRICKS_ACCESS_TOKEN"]
        os.environ["MLFLOW_TRACKING_URI"] = "databricks"


@translate_errors
def _registry(config, kind, name):
    """Where the image goes and how the cluster logs in to pull it."""
    if kind == "ACR":
        acr = config["ACR"]
        registry = acr if ("." in acr or ":" in acr) else f"{acr}.azurecr.io"
        return {
            "registry": f"{registry}/{name}",
            "registry_username": config["SERVICE_PRINCIPAL_ID"],
            "registry_password": config["SERVICE_PRINCIPAL_PASSWORD"],
        }
    # ECR, as FedML: repository SERVICE_NAME in the profile's account and region, made when missing; the
    # cluster pulls with a token from GetAuthorizationToken (renewed at each deployment).
    profile = config["PROFILE_NAME"]
    region = _core.aws_default_region(profile) or _ECR_DEFAULT_REGION
    return {
        "registry": _core.ensure_ecr_repository(name, region, profile),
        "registry_auth": "ecr",
        "ecr_region": region,
        "aws_profile": profile,
    }


def deploy_to_kyma(databricks_config_path):
    """Deploys MODEL_URI as SERVICE_NAME on the Kyma cluster of KUBECONFIG_PATH and returns its scoring URL."""
    config, kind = _load(databricks_config_path)
    _databricks(config)
    name = config["SERVICE_NAME"]
    overwrite = _flag(config.get("OVERWRITE_SERVICE", False), "OVERWRITE_SERVICE", databricks_config_path)
    deploy_config = {
        "kubeconfig": config["KUBECONFIG_PATH"],
        "replicas": str(config.get("NUM_REPLICAS") or 1),
        **_registry(config, kind, name),
    }
    client = get_deploy_client("kyma")
    previous = os.environ.get("KUBECONFIG")
    os.environ["KUBECONFIG"] = config["KUBECONFIG_PATH"]  # for the calls without a config (get)
    try:
        try:
            client.get_deployment(name)
            exists = True
        except MlflowException as e:
            if e.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            exists = False
        if exists and not overwrite:
            raise MlflowException(
                f"A service named {name!r} is deployed already. Set \"OVERWRITE_SERVICE\": \"true\" in "
                f"{databricks_config_path} to replace it, or choose another SERVICE_NAME.",
                error_code=RESOURCE_ALREADY_EXISTS,
            )
        deploy = client.update_deployment if exists else client.create_deployment
        out = deploy(name, config["MODEL_URI"], config=deploy_config)
    finally:
        if previous is None:
            os.environ.pop("KUBECONFIG", None)
        else:
            os.environ["KUBECONFIG"] = previous
    return out["url"] + "/invocations"


@translate_errors
def predict(endpoint_url, data, content_type="application/json"):
    """POSTs `data` (a dict/list sent as JSON, or str/bytes sent as they are) to a deployed model's
    scoring URL and returns the parsed JSON answer."""
    if isinstance(data, (dict, list)):
        body = json.dumps(data).encode()
    elif isinstance(data, str):
        body = data.encode()
    elif isinstance(data, bytes):
        body = data
    else:
        _fail(f"predict takes a dict, list, str or bytes; got {type(data).__name__}.")
    answer = _core.post_to_route(endpoint_url, body, content_type)
    return json.loads(answer)
