"""The score.py of OCI conda-runtime artifacts (python/mlflow_bridge/oci_score.py), called as OCI Data Science's
model server calls it: imported from the artifact's root next to the model's files, load_model() once, then
predict(data) with each request's JSON already parsed (bytes for a body that is not JSON). Its answers are MLflow's
scoring server's, errors included."""
import importlib.util
import os
import shutil

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

SCORE = os.path.join(os.path.dirname(__file__), "..", "..", "python", "mlflow_bridge", "oci_score.py")


@pytest.fixture(scope="module")
def score(tmp_path_factory):
    """The artifact (an sklearn model with a signature, and score.py at its root), its score module imported."""
    artifact = tmp_path_factory.mktemp("artifact") / "model"
    x = pd.DataFrame({"x1": [1.0, 2.0, 3.0, 4.0], "x2": [0.0, 1.0, 0.0, 2.0]})
    model = LinearRegression().fit(x, x["x1"] * 2 + x["x2"])
    mlflow.sklearn.save_model(model, str(artifact), signature=mlflow.models.infer_signature(x, model.predict(x)))
    shutil.copy(SCORE, artifact / "score.py")
    spec = importlib.util.spec_from_file_location("oci_artifact_score", artifact / "score.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_input_form_mlflow_takes(score):
    split = {"dataframe_split": {"columns": ["x1", "x2"], "data": [[1.0, 1.0], [2.0, 0.0]]}}
    assert np.allclose(score.predict(split)["predictions"], [3.0, 4.0])
    records = {"dataframe_records": [{"x1": 1.0, "x2": 1.0}]}
    assert np.allclose(score.predict(records)["predictions"], [3.0])
    assert np.allclose(score.predict({"inputs": {"x1": [1.0], "x2": [2.0]}})["predictions"], [4.0])
    assert np.allclose(score.predict(b"x1,x2\n1,1\n")["predictions"], [3.0])  # a body that is not JSON


def test_bad_input_gets_mlflows_error_as_the_answer(score):
    answer = score.predict({"dataframe_split": {"columns": ["nope"], "data": [[1.0]]}})
    assert answer["error_code"] == "INVALID_PARAMETER_VALUE" and "x1" in answer["message"], answer
    answer = score.predict({"not_a_form": 1})
    assert answer["error_code"] == "BAD_REQUEST", answer
