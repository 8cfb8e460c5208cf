"""Payload conversion: what predict sends, and how split inputs come back together."""

import json

import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow_bridge import _payload


def decoded(pairs):
    return [json.loads(body) for body, _ in pairs]


def test_small_input_is_one_request():
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    [(body, content_type)] = _payload.to_requests(df, limit=6 * 1024 * 1024)
    assert content_type == "application/json"
    assert json.loads(body) == {"dataframe_split": {"columns": ["a", "b"], "data": [[1, "x"], [2, "y"]]}}


@pytest.mark.parametrize(
    "inputs",
    [
        pd.DataFrame({"a": np.arange(1000), "b": np.arange(1000) * 0.5}),
        np.arange(3000).reshape(1000, 3),
        [[i, i + 1] for i in range(1000)],
        {"a": list(range(1000)), "b": list(range(1000))},
    ],
    ids=["dataframe", "numpy", "list", "columns"],
)
def test_large_input_is_split_under_the_limit_in_order(inputs):
    whole, _ = _payload.to_request(inputs, params={"k": 1})
    parts = _payload.to_requests(inputs, params={"k": 1}, limit=len(whole) // 5)
    assert len(parts) > 4
    assert all(len(body) <= len(whole) // 5 for body, _ in parts)
    assert all(p["params"] == {"k": 1} for p in decoded(parts))
    if isinstance(inputs, pd.DataFrame):
        rows = [row for p in decoded(parts) for row in p["dataframe_split"]["data"]]
        assert rows == json.loads(whole)["dataframe_split"]["data"]
    elif isinstance(inputs, dict):
        assert [v for p in decoded(parts) for v in p["inputs"]["a"]] == list(range(1000))
    else:
        assert [row for p in decoded(parts) for row in p["inputs"]] == json.loads(whole)["inputs"]


def test_unsplittable_inputs_say_why():
    with pytest.raises(MlflowException, match="cannot be split"):
        _payload.to_requests('{"inputs": [1, 2, 3]}', limit=5)
    with pytest.raises(MlflowException, match="One row"):
        _payload.to_requests(pd.DataFrame({"a": ["x" * 100]}), limit=50)


def test_merge_responses_keeps_order_and_shape():
    merged = _payload.merge_responses([b'{"predictions": [1, 2]}', b'{"predictions": [3]}'])
    assert merged["predictions"] == [1, 2, 3]
    merged = _payload.merge_responses([b'{"predictions": {"p": [1]}}', b'{"predictions": {"p": [2]}}'])
    assert merged["predictions"] == {"p": [1, 2]}
    with pytest.raises(MlflowException, match="different shapes"):
        _payload.merge_responses([b'{"predictions": [1]}', b'{"predictions": {"p": [2]}}'])
    with pytest.raises(MlflowException, match="JSON"):
        _payload.merge_responses([b"<html>"])
