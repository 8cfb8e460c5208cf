"""Deployment config as the core takes it: the dict the SDK or CLI gave, as JSON text.

Types are checked and converted in C++ (one schema per target: ParseConfig)."""

import json

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE


def to_json(config) -> str:
    if config is None:
        return "{}"
    if not isinstance(config, dict):
        raise MlflowException(
            f"config must be a dict of key -> value, got {type(config).__name__}.", error_code=INVALID_PARAMETER_VALUE
        )
    return json.dumps(config, default=str)
