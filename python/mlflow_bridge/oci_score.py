"""score.py of the model artifacts mlflow-bridge makes for OCI Data Science's conda runtime (docs/decisions/0010).

The oci-endpoints target puts this file, as `score.py`, at the root of the artifact next to the MLflow model's own
files. The service imports it in the conda pack's Python, calls `load_model()` once, and `predict(data)` for each
POST to the deployment's /predict, with the request's JSON already parsed (bytes for a body that is not JSON), and
sends back what it returns as JSON.

Answers are MLflow's scoring server's: the request goes through MLflow's own handling
(mlflow.pyfunc.scoring_server.invocations: dataframe_split, dataframe_records, instances, inputs, params; CSV for
a body that is not JSON), so a deployment answers {"predictions": ...} as on every other target. MLflow's answer to
bad input ({"error_code", "message"}) is returned as the answer too: an exception would reach the client only as
the service's bare 500, without MLflow's message.

Standalone: the standard library and mlflow only (what the conda pack must hold anyway).
"""

import json
import os

import mlflow.pyfunc
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import scoring_server

_MODEL_DIR = os.path.dirname(os.path.abspath(__file__))


def load_model():
    """The MLflow model of this artifact (its MLmodel is next to this file)."""
    return mlflow.pyfunc.load_model(_MODEL_DIR)


def predict(data, model=load_model()):
    """MLflow's answer to `data`: the parsed JSON body of a /predict request, or its bytes (CSV)."""
    if isinstance(data, (bytes, bytearray)):
        body, content_type = bytes(data).decode("utf-8"), "text/csv"
    elif isinstance(data, str):
        body, content_type = data, "text/csv"
    else:
        body, content_type = json.dumps(data), "application/json"
    try:
        result = scoring_server.invocations(body, content_type, model, model.metadata.get_input_schema())
    except MlflowException as e:  # as MLflow's server answers it (its _async_catch_mlflow_exception)
        return json.loads(e.serialize_as_json())
    return json.loads(result.response)
