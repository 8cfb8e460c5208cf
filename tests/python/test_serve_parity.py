"""The parity corpus (issue 13, "Must have" 3): mlflow-bridge-serve answers every request as MLflow's scoring server.

Every request of tests/data/serve/parity_corpus.json goes to `mlflow models serve` (--env-manager local, this
Python) and to mlflow-bridge-serve, serving the same model; status code, Content-Type and body must be equal byte
for byte. The models: a scikit-learn classifier with a column signature, a scikit-learn regressor without a
signature, a PythonModel with params in its signature, a 2-D tensor signature, a model answering a DataFrame, one
answering strings, one with a type-hint signature (list[str]), an echo without a signature, an echo with a typed
signature, and LightGBM when it is installed. Each model's pair of servers starts once (for both tests of the
model), on free 127.0.0.1 ports, both with PYTHONHASHSEED=0 (see test_serve.py). A failure names the first
request whose answers differ, with both answers, and lists the others.

The corpus goes to each server one request at a time (an idle server never batches), then, for the models whose
flavor the native server batches by default (scikit-learn, LightGBM), many times over from concurrent clients in
a shuffled order, so that requests queue and compatible ones may share a predict call: each answer must still be
MLflow's answer to that request alone. (Those models answer labels and tree outputs, which batching leaves
exact; a linear model's floats may differ in the last bit, see test_serve_batching_parity.py.)

To extend the corpus, add cases to the JSON file (a new model also needs a maker in MODELS).
"""

import base64
import concurrent.futures
import json
import os
import random

import numpy as np
import pandas as pd
import pytest
import requests
from test_serve import HANG_GUARD, mlflows, ours, serve_bin  # noqa: F401 (serve_bin is a fixture)

from conftest import ROOT

CORPUS_PATH = os.path.join(ROOT, "tests", "data", "serve", "parity_corpus.json")
pytestmark = pytest.mark.filterwarnings("ignore:.*Add type hints:UserWarning")


def load_corpus():
    with open(CORPUS_PATH, encoding="utf-8") as f:
        return json.load(f)["cases"]


CORPUS = load_corpus()


def body_bytes(case):
    if "json" in case:
        return json.dumps(case["json"]).encode("utf-8")
    if "text" in case:
        return case["text"].encode("utf-8")
    return base64.b64decode(case["base64"])


# ---------------------------------------------------------------------------------------------------------------
# Models: name -> maker(path), each saving one model folder


def _xy():
    rng = np.random.default_rng(7)
    x = pd.DataFrame({"x1": rng.normal(size=40) * 3, "x2": rng.uniform(-1, 5, size=40)})
    return x, 0.1 * x["x1"] + 0.2 * x["x2"] + 0.3


def _clf(path):
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    x, _ = _xy()
    labels = np.where(x["x1"] + x["x2"] > 2, "high", np.where(x["x1"] > 0, "mid", "low"))
    model = LogisticRegression(max_iter=500).fit(x, labels)
    mlflow.sklearn.save_model(model, path, signature=infer_signature(x, model.predict(x)),
                              pip_requirements=mlflow.sklearn.get_default_pip_requirements())


def _reg(path):
    import mlflow
    from sklearn.ensemble import RandomForestRegressor

    x, y = _xy()
    model = RandomForestRegressor(n_estimators=5, max_depth=4, random_state=0).fit(x.to_numpy(), y)
    mlflow.sklearn.save_model(model, path, pip_requirements=mlflow.sklearn.get_default_pip_requirements(),
                              skops_trusted_types=["sklearn.tree._tree.Tree"])


def _lgbm(path):
    lightgbm = pytest.importorskip("lightgbm")
    import mlflow
    from mlflow.models import infer_signature

    x, y = _xy()
    model = lightgbm.LGBMRegressor(n_estimators=5, verbose=-1).fit(x, y)
    mlflow.lightgbm.save_model(model, path, signature=infer_signature(x, model.predict(x)))


def _pyfunc(model_class, signature=None, input_example=None):
    def make(path):
        import mlflow
        import parity_models

        mlflow.pyfunc.save_model(path, python_model=getattr(parity_models, model_class)(),
                                 code_paths=[parity_models.__file__], signature=signature,
                                 input_example=input_example,
                                 pip_requirements=mlflow.pyfunc.get_default_pip_requirements())

    return make


def _signatures():
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types import ColSpec, Schema

    x = pd.DataFrame({"x": [1.0]})
    typed = Schema([ColSpec("long", "n"), ColSpec("string", "s"), ColSpec("boolean", "b"),
                    ColSpec("double", "f", required=False)])
    return {
        "params": infer_signature(x, pd.DataFrame({"y": [1.0], "label": ["a"], "tags": [1]}),
                                  params={"scale": 1.0, "shift": 0, "label": "", "tags": ["t"]}),
        "tensor": infer_signature(np.array([[1.0, 2.0]]), np.array([[2.0, 2.1]])),
        "frame": infer_signature(pd.DataFrame({"x": [1.0], "n": [1]})),
        "strings": infer_signature(pd.DataFrame({"text": ["a"]}), ["A:1"]),
        "typed": ModelSignature(inputs=typed),
    }


MODELS = {
    "clf": _clf,
    "reg": _reg,
    "params": lambda path: _pyfunc("Scale", _signatures()["params"])(path),
    "tensor": lambda path: _pyfunc("Tensor", _signatures()["tensor"])(path),
    "frame": lambda path: _pyfunc("Frame", _signatures()["frame"])(path),
    "strings": lambda path: _pyfunc("Upper", _signatures()["strings"])(path),
    "hinted": _pyfunc("Hinted"),  # the signature comes from predict's type hints
    "echo": _pyfunc("Echo"),  # no signature
    "typed": lambda path: _pyfunc("Echo", _signatures()["typed"])(path),
    "lgbm": _lgbm,
}


def test_the_corpus_is_well_formed():
    names = set()
    for case in CORPUS:
        assert case["model"] in MODELS, case
        assert sum(k in case for k in ("json", "text", "base64")) == 1, case
        assert (case["model"], case["name"]) not in names, f"two cases named {case['name']!r} for {case['model']}"
        names.add((case["model"], case["name"]))
    assert len(CORPUS) >= 60
    assert len({c["model"] for c in CORPUS}) >= 6


@pytest.fixture(scope="module", params=sorted({c["model"] for c in CORPUS}))
def pair(request, serve_bin, tmp_path_factory):  # noqa: F811
    """The model saved once and served by both servers, started once for all its cases."""
    name = request.param
    path = str(tmp_path_factory.mktemp("parity-models") / name)
    MODELS[name](path)
    with ours(serve_bin, path, tmp_path_factory, "--access-log", "off") as a, mlflows(path, tmp_path_factory) as b:
        yield name, a, b


def _answer(server, case):
    headers = {} if case["content_type"] is None else {"Content-Type": case["content_type"]}
    r = requests.post(server.url + "/invocations", data=body_bytes(case), headers=headers, timeout=HANG_GUARD)
    return r.status_code, r.headers.get("content-type"), r.content


def _show(answer):
    status, content_type, body = answer
    text = body if len(body) <= 2000 else body[:2000] + b"... (%d bytes)" % len(body)
    return f"status {status}, content type {content_type!r}, body {text!r}"


def test_answers_as_mlflow(pair):
    name, a, b = pair
    differ, statuses = [], set()
    for case in (c for c in CORPUS if c["model"] == name):
        ours_answer, theirs = _answer(a, case), _answer(b, case)
        statuses.add(theirs[0])
        if ours_answer != theirs:
            differ.append((case, ours_answer, theirs))
    if differ:
        case, ours_answer, theirs = differ[0]
        request = {k: v for k, v in case.items() if k != "base64"}
        request["body"] = body_bytes(case)[:2000]
        raise AssertionError(
            f"{len(differ)} request(s) of model {name!r} answered differently; the first:\n"
            f"  request: {request!r}\n  mlflow-bridge-serve: {_show(ours_answer)}\n"
            f"  mlflow models serve: {_show(theirs)}\n"
            f"all that differ: {[c['name'] for c, _, _ in differ]}"
        )
    assert 200 in statuses, f"MLflow predicted none of the {name!r} requests: the model or its corpus is broken"


BATCHED_BY_DEFAULT = {"clf", "reg", "lgbm"}  # scikit-learn and LightGBM flavors (decision 0009)
CONCURRENT_CLIENTS = 16
ROUNDS = 4  # each request of the model's corpus, sent this many times in all


def test_answers_as_mlflow_from_concurrent_clients(pair):
    name, a, b = pair
    if name not in BATCHED_BY_DEFAULT:
        pytest.skip(f"{name}: not a flavor batched by default")
    cases = [c for c in CORPUS if c["model"] == name]
    expected = {c["name"]: _answer(b, c) for c in cases}
    sends = cases * ROUNDS
    random.Random(13).shuffle(sends)
    with concurrent.futures.ThreadPoolExecutor(CONCURRENT_CLIENTS) as pool:
        got = list(pool.map(lambda c: (c, _answer(a, c)), sends))
    differ = [(c, answer) for c, answer in got if answer != expected[c["name"]]]
    if differ:
        case, ours_answer = differ[0]
        request = {k: v for k, v in case.items() if k != "base64"}
        request["body"] = body_bytes(case)[:2000]
        raise AssertionError(
            f"{len(differ)} of {len(sends)} concurrent requests of model {name!r} answered differently from "
            f"MLflow's answer to the request alone; the first:\n  request: {request!r}\n"
            f"  mlflow-bridge-serve: {_show(ours_answer)}\n  mlflow models serve: {_show(expected[case['name']])}\n"
            f"all that differ: {sorted({c['name'] for c, _ in differ})}"
        )
