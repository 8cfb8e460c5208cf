"""Batching (cpp/src/serve/batching.h, through tests/cpp/serve_batch_tool) against MLflow's own scoring.

For real models (sklearn classifier and regressor with signatures, pyfunc models answering a DataFrame, a dict of
arrays, a 2-D tensor, a model with params in its signature) and request bodies of every input kind, MLflow's
answer to each request alone (`mlflow.pyfunc.scoring_server.invocations`, what MLflow's server runs) must equal,
byte for byte, our split of MLflow's answer to the merged body. Also checked: bodies that must not share a batch
(other params, other column types) are kept apart, and why (MLflow answers them differently when merged); and
the Open Inference Protocol v2 conversions (serve/v2_protocol.h) on the same models.

One limit is the models' own, not the split's: a linear model's X @ coef goes through OpenBLAS, whose kernels
sum (with or without FMA) differently for different numbers of rows, so its floats can differ in the last bit
between a request alone and the same rows in a batch (test_linear_models_differ_in_the_last_bit). Tree
ensembles, label predictions and element-wise models are exact.

The tool is $MLFLOW_BRIDGE_SERVE_BATCH_TOOL, else build/release/serve_batch_tool, else build/dev/serve_batch_tool.
"""

import json
import os
import random
import subprocess
import warnings

import numpy as np
import pandas as pd
import pytest

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.pyfunc import scoring_server
from parity_models import Frame as FrameModel  # answers a DataFrame (records) with NaN and -inf

pytestmark = pytest.mark.filterwarnings("ignore:.*Add type hints:UserWarning")  # MLflow's advice to PythonModels
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# ---------------------------------------------------------------------------------------------------------------
# The tool


class Tool:
    """serve_batch_tool as a long-running process: one JSON command a line, one JSON answer a line."""

    def __init__(self, path):
        self.proc = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8")

    def run(self, **command):
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        out = json.loads(self.proc.stdout.readline())
        assert "error" not in out or "ok" in out, out
        return out

    def parse(self, body, content_type="application/json"):
        return self.run(op="parse", body=body, content_type=content_type)

    def merge(self, bodies):
        return self.run(op="merge", bodies=bodies)

    def split(self, answer, rows):
        return self.run(op="split", answer=answer, rows=rows)["answers"]

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def tool():
    candidates = [os.environ.get("MLFLOW_BRIDGE_SERVE_BATCH_TOOL")] + [
        os.path.join(ROOT, "build", d, "serve_batch_tool") for d in ("release", "dev")
    ]
    path = next((p for p in candidates if p and os.access(p, os.X_OK)), None)
    assert path, (
        "serve_batch_tool is missing: build the C++ tests first (scripts/test.sh does, or "
        "`cmake --build build/dev --target serve_batch_tool`) or set MLFLOW_BRIDGE_SERVE_BATCH_TOOL"
    )
    t = Tool(path)
    yield t
    t.close()


# ---------------------------------------------------------------------------------------------------------------
# Models


class NamedOutputs(mlflow.pyfunc.PythonModel):
    """Answers a dict of arrays (multi-output models)."""

    def predict(self, context, model_input, params=None):
        x = np.asarray(model_input["x"], dtype=float)
        return {"tenth": x * 0.1, "big": x > 1, "name": np.array([f"r{v:g}\u00e9" for v in x])}


class Scale(mlflow.pyfunc.PythonModel):
    """x * params["scale"] + params["shift"], with both in the signature."""

    def predict(self, context, model_input, params=None):
        params = params or {}
        return (model_input["x"] * params.get("scale", 1.0) + params.get("shift", 0)).to_numpy()


class Tensor(mlflow.pyfunc.PythonModel):
    """A 2-D tensor in, a 2-D tensor out (x * 2, x + 0.1)."""

    def predict(self, context, model_input, params=None):
        a = np.asarray(model_input, dtype=float)
        return np.stack([a[:, 0] * 2, a[:, 1] + 0.1], axis=1)


class Echo(mlflow.pyfunc.PythonModel):
    """Answers its input DataFrame: shows what a merged column's dtype does to an answer."""

    def predict(self, context, model_input, params=None):
        return model_input


def _table(n, seed):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x1": rng.normal(size=n) * 3, "x2": rng.uniform(-1, 5, size=n)})


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The models saved (no tracking server) and loaded back as pyfunc, as a worker loads them."""
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import LinearRegression, LogisticRegression

    root = tmp_path_factory.mktemp("batch-models")
    x = _table(60, 1)
    labels = np.where(x["x1"] + x["x2"] > 2, "high", np.where(x["x1"] > 0, "mid", "low"))
    y = 0.1 * x["x1"] + 0.2 * x["x2"] + 0.3
    classifier = LogisticRegression(max_iter=500).fit(x, labels)
    regressor = RandomForestRegressor(n_estimators=5, max_depth=4, random_state=0).fit(x, y)
    linear = LinearRegression().fit(x, y)
    frame_in = pd.DataFrame({"x": [1.0, -2.0], "n": [1, 2]})
    saved = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.sklearn.save_model(
            classifier, root / "classifier", signature=infer_signature(x, classifier.predict(x)),
            pip_requirements=["scikit-learn"],
        )
        for name, model in (("regressor", regressor), ("linear", linear)):
            mlflow.sklearn.save_model(
                model, root / name, signature=infer_signature(x, model.predict(x)), pip_requirements=["scikit-learn"],
                skops_trusted_types=["sklearn.tree._tree.Tree"],  # MLflow 3's skops format asks for it (our own trees)
            )
        pyfuncs = {
            "frame": (FrameModel(), infer_signature(frame_in, FrameModel().predict(None, frame_in))),
            "named": (NamedOutputs(), infer_signature(pd.DataFrame({"x": [1.0]}), NamedOutputs().predict(None, {"x": [1.0]}))),
            "scale": (
                Scale(),
                infer_signature(pd.DataFrame({"x": [1.0]}), np.array([1.0]), params={"scale": 1.0, "shift": 0}),
            ),
            "tensor": (Tensor(), infer_signature(np.zeros((2, 2)), np.zeros((2, 2)))),
            "echo": (Echo(), None),
        }
        for name, (model, signature) in pyfuncs.items():
            mlflow.pyfunc.save_model(root / name, python_model=model, signature=signature, pip_requirements=["mlflow"])
        return {
            name: mlflow.pyfunc.load_model(str(root / name)) for name in ["classifier", "regressor", "linear", *pyfuncs]
        }


def mlflow_answer(model, body):
    """(status, body) of MLflow's scoring for one request, as its server answers it."""
    try:
        r = scoring_server.invocations(body, "application/json", model, model.metadata.get_input_schema())
        return r.status, r.response
    except MlflowException as e:
        return e.get_http_status_code(), e.serialize_as_json()


def sliced(predictions, start, stop):
    if isinstance(predictions, dict):
        return {k: v[start:stop] for k, v in predictions.items()}
    return predictions[start:stop]


def batch(tool, model, bodies):
    """(MLflow's answers to each body alone, our split of MLflow's answer to the merged body).

    Checks the split against the merged answer itself first: each part must be what json.dump writes for that
    request's slice of the merged predictions (Python floats print as repr, so loads + dumps gives MLflow's bytes).
    """
    alone = [mlflow_answer(model, b) for b in bodies]
    for body, (status, text) in zip(bodies, alone):
        assert status == 200, (body, text)
    merged = tool.merge(bodies)
    assert merged["compatible"], bodies
    status, answer = mlflow_answer(model, merged["body"])
    assert status == 200, (merged["body"], answer)
    parts = tool.split(answer, merged["rows"])
    assert parts is not None, (merged["body"], answer)
    predictions = json.loads(answer)["predictions"]
    start = 0
    for n, part in zip(merged["rows"], parts):
        assert part == json.dumps({"predictions": sliced(predictions, start, start + n)})
        start += n
    return [text for _, text in alone], parts


def assert_batch_is_exact(tool, model, bodies):
    """MLflow's answer to each body alone == our split of MLflow's answer to the merged body; returns the answers."""
    alone, parts = batch(tool, model, bodies)
    for body, text, part in zip(bodies, alone, parts):
        assert part == text, f"request {body}\n alone:   {text}\n batched: {part}"
    return alone


# ---------------------------------------------------------------------------------------------------------------
# Bodies


def tabular_bodies(frames, kind, params=None, compact=False):
    """One MLflow body per DataFrame, in `kind`, written by json.dumps (compact: without spaces)."""
    seps = (",", ":") if compact else None
    out = []
    for df in frames:
        cols = list(df.columns)
        rows = df.to_numpy(dtype=object).tolist()
        if kind == "dataframe_split":
            data = {"dataframe_split": {"columns": cols, "data": rows}}
        elif kind == "dataframe_records":
            data = {"dataframe_records": [dict(zip(cols, r)) for r in rows]}
        elif kind == "instances":
            data = {"instances": [dict(zip(cols, r)) for r in rows]}
        elif kind == "inputs":
            data = {"inputs": {c: df[c].tolist() for c in cols}}
        elif kind == "instances-columns":
            data = {"instances": {c: df[c].tolist() for c in cols}}
        elif kind == "inputs-records":
            data = {"inputs": [dict(zip(cols, r)) for r in rows]}
        else:
            raise ValueError(kind)
        if params is not None:
            data["params"] = params
        out.append(json.dumps(data, separators=seps))
    return out


def frames(sizes, seed):
    return [_table(n, seed * 100 + i) for i, n in enumerate(sizes)]


KINDS = ["dataframe_split", "dataframe_records", "instances", "inputs", "instances-columns", "inputs-records"]


# ---------------------------------------------------------------------------------------------------------------
# The scanner against json.loads


def random_value(rng, depth=0):
    kinds = ["int", "float", "special", "str", "bool", "null"] + (["list", "dict"] * 2 if depth < 4 else [])
    kind = rng.choice(kinds)
    if kind == "int":
        return rng.choice([0, -1, 7, 2**63 - 1, -(2**63), 2**63, 2**64 + 5, -(10**30), rng.randint(-1000, 1000)])
    if kind == "float":
        return rng.choice([0.1 + 0.2, -0.0, 1e-7, 1e16, 1e300, 5e-324, rng.uniform(-1e6, 1e6)])
    if kind == "special":
        return rng.choice([float("nan"), float("inf"), float("-inf")])
    if kind == "str":
        pieces = ["a", '"', "\\", "/", "\n", "\t", "\u00e9", "\u2028", "\U0001f600", " ", "\x01"]
        return "".join(rng.choice(pieces) for _ in range(rng.randint(0, 6)))
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "list":
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {f"k{rng.randint(0, 5)}": random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def python_accepts(text):
    try:
        json.loads(text)
        return True
    except (ValueError, RecursionError):
        return False


def test_scanner_reads_what_json_loads_reads(tool):
    """Random documents as json.dumps writes them (NaN, Infinity, escapes, either ensure_ascii, any separators):
    accepted, with each top-level part's text exactly the span Python parses to the same value."""
    rng = random.Random(21)
    for i in range(400):
        n = rng.randint(0, 5)
        value = [random_value(rng) for _ in range(n)] if i % 2 else {f"k{k}": random_value(rng) for k in range(n)}
        separators = rng.choice([None, (",", ":"), (" , ", " :  ")])
        text = json.dumps(value, ensure_ascii=rng.random() < 0.5, separators=separators)
        text = rng.choice(["", " ", "\n\t"]) + text + rng.choice(["", " \r\n"])
        out = tool.run(op="scan", text=text)
        assert out["ok"], text
        expected = value if isinstance(value, list) else list(value.values())
        assert [json.dumps(json.loads(p)) for p in out["parts"]] == [json.dumps(v) for v in expected], text


def test_scanner_refuses_what_json_loads_refuses(tool):
    """Valid documents with one character deleted, replaced or inserted: accepted exactly when json.loads accepts."""
    rng = random.Random(5)
    alphabet = list('[]{}",:.-+eE0123456789 aflnrstuINy\\\t\x01\u00e9') + ["NaN", "Infinity", "\\u12", "\\ud83d"]
    checked = 0
    for _ in range(1500):
        text = json.dumps([random_value(rng) for _ in range(3)], ensure_ascii=rng.random() < 0.5)
        pos = rng.randrange(len(text) + 1)
        op = rng.choice(["delete", "replace", "insert"])
        if op == "delete":
            text = text[:pos] + text[pos + 1 :]
        elif op == "replace":
            text = text[:pos] + rng.choice(alphabet) + text[pos + 1 :]
        else:
            text = text[:pos] + rng.choice(alphabet) + text[pos:]
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            continue  # a lone surrogate made by the mutation cannot be sent as UTF-8
        assert tool.run(op="scan", text=text)["ok"] == python_accepts(text), text
        checked += 1
    assert checked > 1000


# ---------------------------------------------------------------------------------------------------------------
# Exact batches


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", ["classifier", "regressor"])
def test_sklearn_models(tool, models, name, kind):
    bodies = tabular_bodies(frames([1, 3, 2, 1, 5], seed=7), kind)
    answers = assert_batch_is_exact(tool, models[name], bodies)
    assert answers[0].startswith('{"predictions": [')


def test_linear_models_differ_in_the_last_bit(tool, models):
    """LinearRegression through OpenBLAS: batched floats are within a few ulps of the lone ones, not equal.

    The split is exact (batch() checks it against the merged answer); the rows' values are the model's.
    """
    bodies = tabular_bodies(frames([1, 3, 2, 1, 5, 4, 8], seed=7), "dataframe_split")
    alone, parts = batch(tool, models["linear"], bodies)
    values = [(a, b) for x, y in zip(alone, parts) for a, b in zip(json.loads(x)["predictions"], json.loads(y)["predictions"])]
    assert len(values) == 24
    ulps = [abs(a - b) / np.spacing(abs(a)) for a, b in values]
    assert max(ulps) <= 4, values


def test_sklearn_many_requests_in_batches(tool, models):
    """Thirty requests of 1 to 6 rows, batched as the dispatcher would (up to 16 rows a batch)."""
    rng = random.Random(13)
    sizes = [rng.randint(1, 6) for _ in range(30)]
    bodies = tabular_bodies(frames(sizes, seed=3), "dataframe_split", compact=True)
    batch, rows = [], 0
    for body, n in zip(bodies + [None], sizes + [0]):
        if body is None or rows + n > 16:
            assert_batch_is_exact(tool, models["regressor"], batch)
            assert_batch_is_exact(tool, models["classifier"], batch)
            batch, rows = [], 0
        if body is not None:
            batch.append(body)
            rows += n


def test_rows_keep_their_own_text(tool, models):
    """Numbers written in unusual ways, compact and spaced bodies: merged as written, answered as alone."""
    bodies = [
        '{"dataframe_split": {"columns": ["x1", "x2"], "data": [[1.50, 2e-1], [-0.0, 1E+2]]}}',
        '{"dataframe_split":{"data":[[3.25,4.0]],"columns":["x1","x2"]}}',
        '{ "dataframe_split" : { "columns" : [ "x1" , "x2" ] , "data" : [ [ 0.1 , 0.2 ] ] } }',
    ]
    assert len({tool.parse(b)["key"] for b in bodies}) == 1
    assert tool.parse(bodies[0])["row_text"] == ["[1.50, 2e-1]", "[-0.0, 1E+2]"]
    assert_batch_is_exact(tool, models["regressor"], bodies)


@pytest.mark.parametrize("kind", ["dataframe_split", "dataframe_records"])
def test_dataframe_answers(tool, models, kind):
    """Records answers with strings, NaN, -Infinity, booleans and ints, split on the raw text."""
    dfs = [
        pd.DataFrame({"x": [1.0], "n": [1]}),
        pd.DataFrame({"x": [-2.0, 0.0, 0.3], "n": [2, 3, 4]}),
        pd.DataFrame({"x": [5.5, 1e-7], "n": [5, 6]}),
    ]
    answers = assert_batch_is_exact(tool, models["frame"], tabular_bodies(dfs, kind))
    assert "NaN" in answers[1] and "-Infinity" in answers[1]


@pytest.mark.parametrize("kind", ["dataframe_split", "inputs"])
def test_dict_of_arrays_answers(tool, models, kind):
    dfs = [pd.DataFrame({"x": [1.0, 2.0]}), pd.DataFrame({"x": [3.0]}), pd.DataFrame({"x": [0.5, 7.25, 1e20]})]
    answers = assert_batch_is_exact(tool, models["named"], tabular_bodies(dfs, kind))
    assert json.loads(answers[0])["predictions"].keys() == {"tenth", "big", "name"}
    assert "\\u00e9" in answers[0]  # json.dump's ensure_ascii


def test_params_in_the_signature(tool, models):
    model = models["scale"]
    dfs = [pd.DataFrame({"x": [1.0, 2.0]}), pd.DataFrame({"x": [3.0]})]
    same = tabular_bodies(dfs, "dataframe_split", params={"scale": 2.5, "shift": 1})
    reordered = json.dumps({"params": {"shift": 1, "scale": 2.5}, "dataframe_split": {"columns": ["x"], "data": [[4.0]]}})
    assert_batch_is_exact(tool, model, same + [reordered])
    assert json.loads(mlflow_answer(model, same[1])[1]) == {"predictions": [8.5]}
    # Other params, or none: other batches (MLflow would scale them differently).
    other = tabular_bodies(dfs[:1], "dataframe_split", params={"scale": 3.0, "shift": 1})[0]
    plain = tabular_bodies(dfs[:1], "dataframe_split")[0]
    assert not tool.merge([same[0], other])["compatible"]
    assert not tool.merge([same[0], plain])["compatible"]
    assert_batch_is_exact(tool, model, [plain, plain])


@pytest.mark.parametrize("kind", ["inputs", "instances"])
def test_tensor_answers(tool, models, kind):
    bodies = [json.dumps({kind: [[1.0, 2.0]]}), json.dumps({kind: [[0.1, 0.2], [3.0, -4.5]]}), json.dumps({kind: [[1e300, 5.0]]})]
    answers = assert_batch_is_exact(tool, models["tensor"], bodies)
    assert answers[1] == '{"predictions": [[0.2, 0.30000000000000004], [6.0, -4.4]]}'


# ---------------------------------------------------------------------------------------------------------------
# What must not share a batch


def naive_merge(bodies):
    """Rows merged without looking at their types: what the key prevents."""
    rows = [r for b in bodies for r in json.loads(b)["dataframe_split"]["data"]]
    return json.dumps({"dataframe_split": {"columns": ["x"], "data": rows}})


@pytest.mark.parametrize(
    "a, b",
    [
        ([[1]], [[2.5]]),  # an int64 column merged with floats is float64: 1 is answered as 1.0
        ([[1]], [[None]]),  # a null makes the ints floats too
    ],
)
def test_column_types_keep_requests_apart(tool, models, a, b):
    model = models["echo"]
    bodies = [json.dumps({"dataframe_split": {"columns": ["x"], "data": rows}}) for rows in (a, b)]
    assert not tool.merge(bodies)["compatible"]
    alone = [mlflow_answer(model, body)[1] for body in bodies]
    status, answer = mlflow_answer(model, naive_merge(bodies))
    split = tool.split(answer, [len(a), len(b)])
    assert split != alone, "this pair would have been safe to merge: the test no longer shows why types matter"
    # The same types do merge, exactly.
    assert_batch_is_exact(tool, model, [bodies[0], bodies[0]])
    assert_batch_is_exact(tool, model, [bodies[1], bodies[1]])


def test_other_type_mixes_are_kept_apart(tool):
    """Mixes that change the column's dtype (object, uint64) but not this echo's text: apart all the same."""
    for a, b in [("a", 1), (True, 1), (1, 2**63), (1, 10**20), ([1, 2], [1, 2, 3]), ({"k": 1}, {"j": 1})]:
        bodies = [json.dumps({"dataframe_split": {"columns": ["x"], "data": [[v]]}}) for v in (a, b)]
        assert not tool.merge(bodies)["compatible"], (a, b)


def test_what_goes_alone(tool):
    for body in [
        '{"dataframe_split": {"columns": ["x1", "x2"], "data": [[1.0, 2.0]], "index": [5]}}',
        '{"dataframe_split": {"columns": ["x1", "x2"], "data": []}}',
        '{"inputs": {"x1": [1.0], "x2": [1.0, 2.0]}}',
        '{"inputs": "a prompt"}',
        '{"dataframe_records": [{"x1": 1.0, "x2": 2.0}, {"x2": 2.0, "x1": 1.0}]}',
        '{"inputs": [1.0]',
    ]:
        assert not tool.parse(body)["batchable"], body
    assert not tool.parse('{"inputs": [1.0]}', content_type="text/csv")["batchable"]


def test_answers_that_do_not_split(tool, models):
    """A model whose answer is not one element per row: the split refuses, the server then sends each alone."""
    bodies = tabular_bodies(frames([2, 1], seed=5), "dataframe_split")
    merged = tool.merge(bodies)
    # An error answer (here: a column the model does not know) does not split either.
    status, answer = mlflow_answer(models["regressor"], merged["body"].replace('"x2"', '"x3"'))
    assert status == 400
    assert tool.split(answer, merged["rows"]) is None
    assert tool.split('{"predictions": 3.5}', merged["rows"]) is None
    assert tool.split('{"predictions": [1, 2]}', merged["rows"]) is None


# ---------------------------------------------------------------------------------------------------------------
# Open Inference Protocol v2 on the same models


def v2_input(name, data, datatype="FP64", shape=None):
    return {"name": name, "shape": shape or [len(data)], "datatype": datatype, "data": data}


def test_v2_columns_are_a_dataframe(tool, models):
    model = models["classifier"]
    schema = model.metadata.get_input_schema().to_json()
    df = _table(4, 11)
    request = {"id": "r-1", "inputs": [v2_input("x1", df["x1"].tolist()), v2_input("x2", df["x2"].tolist(), shape=[4, 1])]}
    out = tool.run(op="v2_request", body=json.dumps(request), input_schema=schema)
    assert out["ok"] and out["id"] == "r-1"
    status, answer = mlflow_answer(model, out["body"])
    assert status == 200
    assert answer == mlflow_answer(model, tabular_bodies([df], "dataframe_split")[0])[1]
    v2 = json.loads(tool.run(op="v2_answer", answer=answer, model_name="clf", model_version="2", id="r-1")["body"])
    assert v2 == {
        "model_name": "clf",
        "model_version": "2",
        "id": "r-1",
        "outputs": [{"name": "predictions", "shape": [4], "datatype": "BYTES", "data": json.loads(answer)["predictions"]}],
    }
    meta = json.loads(
        tool.run(
            op="v2_metadata",
            name="clf",
            version="2",
            inputs=model.metadata.signature.to_dict()["inputs"],
            outputs=model.metadata.signature.to_dict()["outputs"],
        )["body"]
    )
    assert meta["inputs"] == [
        {"name": "x1", "datatype": "FP64", "shape": [-1]},
        {"name": "x2", "datatype": "FP64", "shape": [-1]},
    ]
    assert meta["outputs"] == [{"name": "predictions", "datatype": "BYTES", "shape": [-1]}]


def test_v2_tensor_and_named_outputs(tool, models):
    model = models["tensor"]
    request = {"inputs": [v2_input("input-0", [1.0, 2.0, 3.0, 4.0], shape=[2, 2])]}
    out = tool.run(op="v2_request", body=json.dumps(request), input_schema=model.metadata.get_input_schema().to_json())
    status, answer = mlflow_answer(model, out["body"])
    assert status == 200
    v2 = json.loads(tool.run(op="v2_answer", answer=answer, model_name="t")["body"])
    assert v2["outputs"] == [{"name": "predictions", "shape": [2, 2], "datatype": "FP64", "data": [2.0, 2.1, 6.0, 4.1]}]

    model = models["named"]
    out = tool.run(op="v2_request", body=json.dumps({"inputs": [v2_input("x", [1.0, 2.0])]}))
    status, answer = mlflow_answer(model, out["body"])
    assert status == 200
    v2 = json.loads(tool.run(op="v2_answer", answer=answer, model_name="n")["body"])
    assert [(o["name"], o["datatype"], o["shape"]) for o in v2["outputs"]] == [
        ("tenth", "FP64", [2]),
        ("big", "BOOL", [2]),
        ("name", "BYTES", [2]),
    ]

    model = models["frame"]
    out = tool.run(op="v2_request", body=json.dumps({"inputs": [v2_input("x", [0.0, 4.0]), v2_input("n", [1, 2], "INT64")]}))
    status, answer = mlflow_answer(model, out["body"])
    assert status == 200, answer
    v2 = tool.run(op="v2_answer", answer=answer, model_name="f")["body"]
    assert '"name":"log","shape":[2],"datatype":"FP64","data":[-Infinity,1.3862943611198906]' in v2


def test_v2_parameters_are_params(tool, models):
    model = models["scale"]
    request = {"parameters": {"content_type": "pd", "scale": 2.0}, "inputs": [v2_input("x", [1.5, 2.0])]}
    out = tool.run(op="v2_request", body=json.dumps(request), input_schema=model.metadata.get_input_schema().to_json())
    assert json.loads(out["body"])["params"] == {"scale": 2.0}
    status, answer = mlflow_answer(model, out["body"])
    assert (status, answer) == (200, '{"predictions": [3.0, 4.0]}')
    v2 = json.loads(tool.run(op="v2_answer", answer=answer, model_name="s", model_version="1")["body"])
    assert v2["outputs"] == [{"name": "predictions", "shape": [2], "datatype": "FP64", "data": [3.0, 4.0]}]
    bad = tool.run(op="v2_request", body=json.dumps({"inputs": [v2_input("x", [1, 2], "INT8", shape=[3])]}))
    assert bad == {
        "ok": False,
        "code": "INVALID_PARAMETER_VALUE",
        "error": "v2 inference request: input 'x': \"shape\" [3] holds 3 values but \"data\" has 2",
    }
