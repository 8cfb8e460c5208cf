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


def _rows(inputs):
    """How many rows `inputs` has along its first axis, or None when it cannot be split."""
    if isinstance(inputs, (pd.DataFrame, pd.Series, np.ndarray, list, tuple)):
        return len(inputs)
    if isinstance(inputs, dict) and not any(k in inputs for k in _SCORING_KEYS):
        lengths = {len(v) for v in inputs.values() if isinstance(v, (list, tuple, np.ndarray, pd.Series))}
        if len(lengths) == 1 and len(inputs) == sum(
            isinstance(v, (list, tuple, np.ndarray, pd.Series)) for v in inputs.values()
        ):
            return lengths.pop()
    return None


def _slice(inputs, start, stop):
    if isinstance(inputs, (pd.DataFrame, pd.Series)):
        return inputs.iloc[start:stop]
    if isinstance(inputs, dict):
        return {k: v[start:stop] for k, v in inputs.items()}
    return inputs[start:stop]


def to_requests(inputs, params=None, limit=None):
    """Like to_request, but splits the rows of `inputs` into several bodies of at
    most `limit` bytes each (a platform's payload limit). Returns a list of
    (body, content type), in row order."""
    body, content_type = to_request(inputs, params)
    if limit is None or len(body) <= limit:
        return [(body, content_type)]
    rows = _rows(inputs)
    if not rows:
        raise _invalid(
            f"The input is {len(body)} bytes, over the payload limit of {limit} bytes, and cannot be split "
            "by rows. Pass a DataFrame, a list or an array so that it can be sent in parts."
        )
    if rows == 1:
        raise _invalid(f"One row of the input is {len(body)} bytes, over the payload limit of {limit} bytes.")
    half = rows // 2
    return to_requests(_slice(inputs, 0, half), params, limit) + to_requests(_slice(inputs, half, rows), params, limit)


def merge_responses(bodies) -> PredictionsResponse:
    """Joins the answers to the parts of one split input back into one response, in order."""
    responses = [to_response(b) for b in bodies]
    if len(responses) == 1:
        return responses[0]
    merged = None
    for r in responses:
        predictions = r.get("predictions")
        if merged is None:
            merged = predictions
        elif isinstance(merged, list) and isinstance(predictions, list):
            merged = merged + predictions
        elif isinstance(merged, dict) and isinstance(predictions, dict) and merged.keys() == predictions.keys():
            merged = {k: list(merged[k]) + list(predictions[k]) for k in merged}
        else:
            raise MlflowException("The answers to the parts of a split input have different shapes; send less data at once.")
    return PredictionsResponse({"predictions": merged})
