"""Payload conversion between what users pass to predict and MLflow's scoring JSON."""

import json

import numpy as np
import pandas as pd
from mlflow.deployments import PredictionsResponse
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.utils.proto_json_utils import NumpyEncoder

JSON = "application/json"
CSV = "text/csv"

# Top-level keys of MLflow's scoring protocol: a dict with one of them is sent as is.
_SCORING_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def _invalid(message):
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def to_request(inputs, params=None):
    """Returns (body bytes, content type) for MLflow's /invocations.

    DataFrame -> dataframe_split; Series, numpy array, list -> inputs; a dict that
    already uses a scoring key (dataframe_split, dataframe_records, instances,
    inputs) is sent as is; any other dict -> inputs (named tensors / columns);
    str or bytes -> sent as is (JSON, or CSV when it does not parse as JSON).
    """
    if inputs is None:
        raise _invalid("predict needs inputs: a pandas DataFrame, a dict, a list or a numpy array.")
    if isinstance(inputs, (bytes, str)):
        raw = inputs.encode() if isinstance(inputs, str) else inputs
        try:
            json.loads(raw)
        except ValueError:
            if params:
                raise _invalid("params cannot be sent with CSV input; pass a DataFrame or JSON instead.")
            return raw, CSV
        if params:
            raise _invalid("params cannot be combined with raw JSON input; put them in the JSON as 'params'.")
        return raw, JSON
    if isinstance(inputs, pd.DataFrame):
        payload = {"dataframe_split": json.loads(inputs.to_json(orient="split", date_format="iso", index=False))}
    elif isinstance(inputs, pd.Series):
        payload = {"inputs": inputs.tolist()}
    elif isinstance(inputs, np.ndarray):
        payload = {"inputs": inputs.tolist()}
    elif isinstance(inputs, dict):
        if any(k in inputs for k in _SCORING_KEYS):
            payload = dict(inputs)
        else:
            payload = {"inputs": inputs}
    elif isinstance(inputs, (list, tuple)):
        payload = {"inputs": list(inputs)}
    else:
        raise _invalid(
            f"predict cannot send inputs of type {type(inputs).__name__}: pass a pandas DataFrame, "
            "a dict, a list or a numpy array."
        )
    if params is not None:
        if not isinstance(params, dict):
            raise _invalid(f"params must be a dict, got {type(params).__name__}.")
        payload["params"] = params
    try:
        return json.dumps(payload, cls=NumpyEncoder).encode(), JSON
    except (TypeError, ValueError) as e:
        raise _invalid(f"predict inputs cannot be converted to JSON: {e}") from None


def to_response(body: bytes) -> PredictionsResponse:
    """Parses the scoring server's answer into MLflow's PredictionsResponse."""
    try:
        return PredictionsResponse.from_json(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise MlflowException(f"The deployment answered with something that is not JSON: {e}") from None
