"""mlflow-bridge-serve, the native model server (decision 0009), with real Python workers and real models.

Its answers are compared with MLflow's own scoring server (`mlflow models serve`) request by request (a small
corpus; the full parity corpus is test_serve_parity.py's); then the faults: a worker killed mid-request,
SIGTERM under load, a model that does not load; then /metrics and the logs.

The binary: $MLFLOW_BRIDGE_SERVE_BIN, else the installed package's (mlflow_bridge/serve/), else the CMake
build folders build/release and build/dev. Every test fails, with that list, when none is there.
"""

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest
import requests
from conftest import ROOT, ROWS, _sklearn, unused_port

HANG_GUARD = 600  # seconds: a bound for a broken test, never a timing expectation
# MLflow writes some messages from a set of strings ({'inputs', 'instances', ...}), whose order follows the
# process's hash seed: the same seed for both servers (and every worker) makes those messages comparable.
HASH_SEED = {"PYTHONHASHSEED": "0"}
JSON = {"Content-Type": "application/json"}


def _candidates():
    if os.environ.get("MLFLOW_BRIDGE_SERVE_BIN"):
        return [os.environ["MLFLOW_BRIDGE_SERVE_BIN"]]
    found = []
    try:
        from mlflow_bridge import _serve

        found.append(os.path.join(_serve.SERVE_DIR, "mlflow-bridge-serve"))
    except ImportError:  # an installed mlflow-bridge older than the server
        pass
    return found + [os.path.join(ROOT, "build", d, "mlflow-bridge-serve") for d in ("release", "dev")]


@pytest.fixture(scope="module")
def serve_bin():
    tried = _candidates()
    for path in tried:
        if os.access(path, os.X_OK) and os.path.isfile(os.path.join(os.path.dirname(path), "serve_worker.py")):
            return path
    raise AssertionError(
        "mlflow-bridge-serve (with serve_worker.py next to it) is in none of: "
        + ", ".join(tried)
        + ". Build it (cmake --build <build dir> --target mlflow-bridge-serve) or set MLFLOW_BRIDGE_SERVE_BIN."
    )


@pytest.fixture(scope="module")
def serve_models(tmp_path_factory):
    """Models saved to folders (no tracking store): sklearn (x1, x2 -> x1 + x2), a pyfunc with params, one that
    sleeps params['seconds'] (a request that stays in flight), one that cannot load."""
    import mlflow
    import pyfunc_models
    from mlflow.models import infer_signature

    root = tmp_path_factory.mktemp("serve-models")
    out = {}
    model = _sklearn(1.0)
    out["sklearn"] = str(root / "sklearn")
    mlflow.sklearn.save_model(model, out["sklearn"], signature=infer_signature(ROWS, model.predict(ROWS)),
                              pip_requirements=mlflow.sklearn.get_default_pip_requirements())
    pyfunc_reqs = mlflow.pyfunc.get_default_pip_requirements()
    out["params"] = str(root / "params")
    mlflow.pyfunc.save_model(
        out["params"], python_model=pyfunc_models.Scale(), code_paths=[pyfunc_models.__file__],
        signature=infer_signature(pd.DataFrame({"x": [1.0]}), np.array([1.0]), params={"scale": 1.0}),
        pip_requirements=pyfunc_reqs)
    out["sleepy"] = str(root / "sleepy")
    mlflow.pyfunc.save_model(
        out["sleepy"], python_model=pyfunc_models.Sleepy(), code_paths=[pyfunc_models.__file__],
        signature=infer_signature(pd.DataFrame({"x": [1.0]}), np.array([1.0]), params={"seconds": 0.0}),
        pip_requirements=pyfunc_reqs)
    out["gated"] = str(root / "gated")
    mlflow.pyfunc.save_model(
        out["gated"], python_model=pyfunc_models.Gated(), code_paths=[pyfunc_models.__file__],
        signature=infer_signature(pd.DataFrame({"x": [1.0]}), np.array([1.0]), params={"gate": ""}),
        pip_requirements=pyfunc_reqs)
    out["crash"] = str(root / "crash")
    mlflow.pyfunc.save_model(out["crash"], python_model=pyfunc_models.CrashAtLoad(),
                             code_paths=[pyfunc_models.__file__], pip_requirements=pyfunc_reqs)
    return out


class Server:
    def __init__(self, proc, port, log_path):
        self.proc, self.port, self.log_path = proc, port, log_path
        self.url = f"http://127.0.0.1:{port}"

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()


def _wait_ready(server, what):
    deadline = time.monotonic() + HANG_GUARD
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise AssertionError(f"{what} exited ({server.proc.returncode}) before it was ready:\n{server.log()}")
        try:
            if requests.get(server.url + "/ping", timeout=10).status_code == 200:
                return
        except requests.exceptions.RequestException:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{what} was not ready within {HANG_GUARD} s:\n{server.log()}")


def _stop(server):
    if server.proc.poll() is None:
        os.killpg(server.proc.pid, signal.SIGTERM)
        try:
            server.proc.wait(HANG_GUARD)
        except subprocess.TimeoutExpired:
            os.killpg(server.proc.pid, signal.SIGKILL)
            server.proc.wait()


@contextlib.contextmanager
def ours(serve_bin, model, tmp_path_factory, *extra, workers=1):
    """mlflow-bridge-serve on 127.0.0.1 (SageMaker's `serve` argument first), its stderr in a file."""
    port = unused_port()
    log = tmp_path_factory.mktemp("ours") / "stderr.log"
    cmd = [serve_bin, "serve", "--model", model, "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
           "--python", sys.executable, *extra]
    with open(log, "wb") as err:
        proc = subprocess.Popen(cmd, stdout=err, stderr=err, env=dict(os.environ, **HASH_SEED), start_new_session=True)
    server = Server(proc, port, log)
    try:
        _wait_ready(server, "mlflow-bridge-serve")
        yield server
    finally:
        _stop(server)


@contextlib.contextmanager
def mlflows(model, tmp_path_factory):
    """MLflow's own scoring server: `mlflow models serve` (uvicorn), in this environment."""
    port = unused_port()
    log = tmp_path_factory.mktemp("mlflow") / "stderr.log"
    bindir = os.path.dirname(sys.executable)
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""), **HASH_SEED)
    cmd = [os.path.join(bindir, "mlflow"), "models", "serve", "-m", model, "-h", "127.0.0.1", "-p", str(port),
           "--env-manager", "local"]
    with open(log, "wb") as err:
        proc = subprocess.Popen(cmd, stdout=err, stderr=err, env=env, start_new_session=True)
    server = Server(proc, port, log)
    try:
        _wait_ready(server, "mlflow models serve")
        yield server
    finally:
        _stop(server)


@pytest.fixture(scope="module")
def sklearn_pair(serve_bin, serve_models, tmp_path_factory):
    with ours(serve_bin, serve_models["sklearn"], tmp_path_factory, workers=2) as a, \
            mlflows(serve_models["sklearn"], tmp_path_factory) as b:
        yield a, b


@pytest.fixture(scope="module")
def params_pair(serve_bin, serve_models, tmp_path_factory):
    with ours(serve_bin, serve_models["params"], tmp_path_factory) as a, \
            mlflows(serve_models["params"], tmp_path_factory) as b:
        yield a, b


def answer(server, method, path, body=None, headers=None):
    r = requests.request(method, server.url + path, data=body, headers=headers or {}, timeout=HANG_GUARD)
    return r.status_code, r.headers.get("content-type"), r.content


def split(rows):
    return {"dataframe_split": {"columns": ["x1", "x2"], "data": rows}}


SKLEARN_CORPUS = {
    "dataframe_split": (JSON, split([[1.0, 2.0], [3.0, 4.0]])),
    "dataframe_split with index": (JSON, {"dataframe_split": {"columns": ["x1", "x2"], "index": [7, 9],
                                                              "data": [[1.0, 2.0], [3.0, 4.0]]}}),
    "dataframe_records": (JSON, {"dataframe_records": [{"x1": 1.0, "x2": 2.0}, {"x1": 3.0, "x2": 4.5}]}),
    "instances": (JSON, {"instances": [{"x1": 1.0, "x2": 2.0}]}),
    "inputs as columns": (JSON, {"inputs": {"x1": [1.0, 3.0], "x2": [2.0, 4.0]}}),
    "inputs as records": (JSON, {"inputs": [{"x1": 1.0, "x2": 2.0}]}),
    "integers for doubles": (JSON, split([[1, 2]])),
    "params the model does not take": (JSON, {**split([[1.0, 2.0]]), "params": {"a": 1}}),
    "json with charset": ({"Content-Type": "application/json; charset=UTF-8"}, split([[1.0, 2.0]])),
    "csv": ({"Content-Type": "text/csv"}, "x1,x2\n1.0,2.0\n3.0,4.0\n"),
    "csv with charset": ({"Content-Type": "text/csv; charset=utf-8"}, "x1,x2\n5,6\n"),
    "malformed json": (JSON, "{not json"),
    "not utf-8": (JSON, b"\xff\xfe{}"),
    "a json list": (JSON, [1, 2]),
    "an empty object": (JSON, {}),
    "two input keys": (JSON, {**split([[1.0, 2.0]]), "instances": [{"x1": 1.0, "x2": 2.0}]}),
    "a missing column": (JSON, {"dataframe_split": {"columns": ["x1"], "data": [[1.0]]}}),
    "strings for doubles": (JSON, {"dataframe_records": [{"x1": "a", "x2": "b"}]}),
    "malformed csv": ({"Content-Type": "text/csv"}, 'x1,x2\n1,"unterminated\n'),
    "text/plain": ({"Content-Type": "text/plain"}, "x1,x2\n1,2\n"),
    "no content type": ({}, json.dumps(split([[1.0, 2.0]]))),
    "latin-1 charset": ({"Content-Type": "application/json; charset=latin-1"}, split([[1.0, 2.0]])),
    "an unknown content type parameter": ({"Content-Type": "application/json; format=pandas-split"}, split([[1.0, 2.0]])),
}


def _body(body):
    return body if isinstance(body, (str, bytes)) else json.dumps(body)


@pytest.mark.parametrize("case", list(SKLEARN_CORPUS))
def test_answers_as_mlflow(sklearn_pair, case):
    headers, body = SKLEARN_CORPUS[case]
    a, b = sklearn_pair
    ours_answer = answer(a, "POST", "/invocations", _body(body), headers)
    theirs = answer(b, "POST", "/invocations", _body(body), headers)
    assert ours_answer == theirs


PARAMS_CORPUS = {
    "params": {"dataframe_split": {"columns": ["x"], "data": [[1.0], [2.5]]}, "params": {"scale": 3.0}},
    "no params": {"dataframe_split": {"columns": ["x"], "data": [[1.0], [2.5]]}},
    "a param of the wrong type": {"dataframe_split": {"columns": ["x"], "data": [[1.0]]}, "params": {"scale": "big"}},
    "inputs with params": {"inputs": {"x": [4.0]}, "params": {"scale": 0.5}},
}


@pytest.mark.parametrize("case", list(PARAMS_CORPUS))
def test_params_answers_as_mlflow(params_pair, case):
    a, b = params_pair
    body = json.dumps(PARAMS_CORPUS[case])
    assert answer(a, "POST", "/invocations", body, JSON) == answer(b, "POST", "/invocations", body, JSON)


@pytest.mark.parametrize("method,path", [("GET", "/ping"), ("GET", "/health"), ("GET", "/version"),
                                         ("GET", "/ping?x=1"), ("GET", "/nope"), ("POST", "/nope"),
                                         ("GET", "/invocations"), ("PUT", "/invocations"), ("POST", "/ping"),
                                         ("DELETE", "/version")])
def test_other_routes_answer_as_mlflow(sklearn_pair, method, path):
    a, b = sklearn_pair
    assert answer(a, method, path) == answer(b, method, path)


def test_every_route_contract_on_one_port(sklearn_pair):
    a, b = sklearn_pair
    body = json.dumps(split([[1.0, 2.0]]))
    expected = answer(b, "POST", "/invocations", body, JSON)
    for route in ("/invocations", "/score", "/predict"):
        assert answer(a, "POST", route, body, JSON) == expected, route
    for route in ("/ping", "/health", "/v2/health/live", "/v2/health/ready", "/v2/models/any/ready"):
        assert requests.get(a.url + route, timeout=HANG_GUARD).status_code == 200, route
        assert requests.head(a.url + route, timeout=HANG_GUARD).status_code == 200, route


def test_open_inference_protocol_v2(sklearn_pair):
    """/v2/models/{m}: the signature as v2 metadata; /v2/models/{m}/infer: tensors in, MLflow's predictions out as
    v2 outputs; bad requests and model errors as v2's {"error": ...}."""
    ours_server, _ = sklearn_pair
    meta = requests.get(ours_server.url + "/v2/models/adder", timeout=HANG_GUARD).json()
    assert meta["name"] == "adder" and meta["platform"] == "mlflow"
    assert [(i["name"], i["datatype"]) for i in meta["inputs"]] == [("x1", "FP64"), ("x2", "FP64")], meta
    request = {"id": "req-7", "inputs": [{"name": "x1", "shape": [2], "datatype": "FP64", "data": [1.0, 3.0]},
                                         {"name": "x2", "shape": [2, 1], "datatype": "FP64", "data": [2.0, 4.0]}]}
    r = requests.post(ours_server.url + "/v2/models/adder/versions/2/infer", json=request, timeout=HANG_GUARD)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["model_name"] == "adder" and got["model_version"] == "2" and got["id"] == "req-7"
    (out,) = got["outputs"]
    assert (out["name"], out["shape"], out["datatype"]) == ("predictions", [2], "FP64"), got
    assert out["data"] == pytest.approx([3.0, 7.0]), got  # a linear regression: x1 + x2 up to rounding
    bad = requests.post(ours_server.url + "/v2/models/adder/infer", json={"inputs": [{"name": "x1"}]},
                        timeout=HANG_GUARD)
    assert bad.status_code == 400 and "error" in bad.json(), bad.text
    missing = {"inputs": [{"name": "x1", "shape": [1], "datatype": "FP64", "data": [1.0]}]}
    r = requests.post(ours_server.url + "/v2/models/adder/infer", json=missing, timeout=HANG_GUARD)
    assert r.status_code == 400 and "x2" in r.json()["error"], r.text  # MLflow's schema check, in v2's form


def test_batching_merges_queued_requests_and_each_gets_its_own_answer(serve_bin, serve_models, tmp_path_factory,
                                                                      tmp_path):
    """One worker held busy by a gated request; three requests that merge queue up meanwhile and go to the worker
    as one predict call; each gets its own rows' answer, as it would alone. A fourth with other params is not
    merged with them."""
    gate = tmp_path / "open"
    opened = tmp_path / "always-open"
    opened.write_text("")
    with ours(serve_bin, serve_models["gated"], tmp_path_factory, "--batching", "true") as server:
        url = server.url + "/invocations"
        held = {}

        def post(name, rows, gate_path):
            body = {"dataframe_split": {"columns": ["x"], "data": rows}, "params": {"gate": str(gate_path)}}
            held[name] = requests.post(url, json=body, timeout=HANG_GUARD)

        first = threading.Thread(target=post, args=("first", [[0.5]], gate))
        first.start()
        wait_metric(server, 'workers{state="busy"}', 1)
        others = [threading.Thread(target=post, args=(n, rows, opened)) for n, rows in
                  (("b", [[1.0], [2.0]]), ("c", [[3.0]]), ("d", [[4.0], [5.0], [6.0]]))]
        for t in others:
            t.start()
        wait_metric(server, "queue_depth", 3)
        gate.write_text("")
        for t in [first, *others]:
            t.join(HANG_GUARD)
        assert {n: r.json() for n, r in held.items()} == {
            "first": {"predictions": [0.5]}, "b": {"predictions": [1.0, 2.0]}, "c": {"predictions": [3.0]},
            "d": {"predictions": [4.0, 5.0, 6.0]}}
        text = metrics(server)
        assert metric(text, "batch_size_count") == 2 and metric(text, "batch_size_sum") == 4, text


def test_a_full_queue_answers_503_with_retry_after_and_the_queued_requests_are_answered(serve_bin, serve_models,
                                                                                          tmp_path_factory, tmp_path):
    """One worker held busy by a gated request and a queue of two filled behind it: the next requests are answered
    503 with Retry-After at once, while the held and queued ones wait; once the gate opens each of those gets its
    own answer and none hangs."""
    gate = tmp_path / "open"
    with ours(serve_bin, serve_models["gated"], tmp_path_factory, "--batching", "false", "--max-queue", "2",
              "--retry-after-seconds", "3") as server:
        url = server.url + "/invocations"
        held = {}

        def post(name, x):
            body = {"dataframe_split": {"columns": ["x"], "data": [[x]]}, "params": {"gate": str(gate)}}
            held[name] = requests.post(url, json=body, timeout=HANG_GUARD)

        threads = [threading.Thread(target=post, args=("busy", 1.0))]
        threads[0].start()
        wait_metric(server, 'workers{state="busy"}', 1)
        for i in range(2):
            threads.append(threading.Thread(target=post, args=(f"queued{i}", 2.0 + i)))
            threads[-1].start()
            wait_metric(server, "queue_depth", i + 1)
        refused = [requests.post(url, json={"dataframe_split": {"columns": ["x"], "data": [[9.0]]}}, timeout=HANG_GUARD)
                   for _ in range(5)]
        for r in refused:
            assert r.status_code == 503 and r.headers["Retry-After"] == "3", (r.status_code, r.headers, r.text)
            assert r.json()["error_code"], r.text
        assert metric(metrics(server), 'requests_total{route="/invocations",status="503"}') == 5
        gate.write_text("")
        for t in threads:
            t.join(HANG_GUARD)
            assert not t.is_alive()
        assert {n: (r.status_code, r.json()) for n, r in held.items()} == {
            "busy": (200, {"predictions": [1.0]}), "queued0": (200, {"predictions": [2.0]}),
            "queued1": (200, {"predictions": [3.0]})}


def metrics(server):
    return requests.get(server.url + "/metrics", timeout=HANG_GUARD).text


def metric(text, sample):
    m = re.search(r"^" + re.escape("mlflow_bridge_serve_" + sample) + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def wait_metric(server, sample, value):
    deadline = time.monotonic() + HANG_GUARD
    while time.monotonic() < deadline:
        if metric(metrics(server), sample) == value:
            return
        time.sleep(0.02)
    raise AssertionError(f"{sample} never became {value}:\n{metrics(server)}")


def test_a_killed_worker_answers_its_request_500_and_is_restarted(serve_bin, serve_models, tmp_path_factory):
    with ours(serve_bin, serve_models["sleepy"], tmp_path_factory) as server:
        pid = int(metric(metrics(server), 'worker_pid{worker="0"}'))
        assert pid > 0
        slow = {"dataframe_split": {"columns": ["x"], "data": [[1.0]]}, "params": {"seconds": HANG_GUARD}}
        result = {}

        def send():
            result["r"] = requests.post(server.url + "/invocations", data=json.dumps(slow), headers=JSON,
                                        timeout=HANG_GUARD)

        t = threading.Thread(target=send)
        t.start()
        wait_metric(server, "in_flight_requests", 1)
        os.kill(pid, signal.SIGKILL)
        t.join(HANG_GUARD)
        assert not t.is_alive()
        r = result["r"]
        assert r.status_code == 500
        assert r.headers["content-type"] == "application/json"
        assert r.json()["error_code"] == "INTERNAL_ERROR"
        assert str(pid) in r.json()["message"]

        # The next request waits for the new worker.
        fast = {"dataframe_split": {"columns": ["x"], "data": [[2.0]]}, "params": {"seconds": 0}}
        r = requests.post(server.url + "/invocations", data=json.dumps(fast), headers=JSON, timeout=HANG_GUARD)
        assert r.status_code == 200, r.text
        assert r.json() == {"predictions": [2.0]}
        text = metrics(server)
        assert metric(text, "worker_restarts_total") == 1
        new_pid = metric(text, 'worker_pid{worker="0"}')
        assert new_pid not in (0, pid)


def test_sigterm_under_load_loses_no_answer(serve_bin, serve_models, tmp_path_factory, tmp_path):
    access = tmp_path / "access.log"
    body = json.dumps(split([[1.0, 2.0], [3.0, 4.0]]))
    with ours(serve_bin, serve_models["sklearn"], tmp_path_factory, "--access-log", str(access),
              workers=2) as server:
        expected = requests.post(server.url + "/invocations", data=body, headers=JSON, timeout=HANG_GUARD).content
        results, lock = [], threading.Lock()

        def client(n):
            session = requests.Session()
            for i in range(100000):
                rid = f"c{n}-{i}"
                try:
                    r = session.post(server.url + "/invocations", data=body,
                                     headers={**JSON, "X-Request-Id": rid}, timeout=HANG_GUARD)
                    outcome = (rid, r.status_code, r.headers.get("x-request-id"), r.content)
                except requests.exceptions.Timeout:
                    outcome = (rid, "hung", None, None)
                except requests.exceptions.ConnectionError:
                    outcome = (rid, "refused", None, None)  # the server no longer accepts: the client stops
                with lock:
                    results.append(outcome)
                if outcome[1] in ("hung", "refused"):
                    return

        threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + HANG_GUARD
        while len(results) < 200 and time.monotonic() < deadline:
            time.sleep(0.01)
        server.proc.send_signal(signal.SIGTERM)
        for t in threads:
            t.join(HANG_GUARD)
            assert not t.is_alive(), "a client still waits"
        assert server.proc.wait(HANG_GUARD) == 0, server.log()

    assert not [r for r in results if r[1] == "hung"]
    answered = {rid: (status, echoed, content) for rid, status, echoed, content in results if status != "refused"}
    assert len(answered) >= 200
    for rid, (status, echoed, content) in answered.items():
        assert (status, echoed, content) == (200, rid, expected), rid
    logged = set(re.findall(r"request_id=(c\d+-\d+) method=POST path=/invocations status=200", access.read_text()))
    assert logged == set(answered), "every answer the server sent reached its client, and no other"


def test_a_model_that_does_not_load_stops_the_server(serve_bin, serve_models):
    proc = subprocess.run([serve_bin, "--model", serve_models["crash"], "--host", "127.0.0.1", "--port",
                           str(unused_port()), "--workers", "2", "--python", sys.executable],
                          capture_output=True, text=True, timeout=HANG_GUARD)
    assert proc.returncode == 1, proc.stderr
    assert "The model could not be loaded" in proc.stderr
    assert "this model refuses to load" in proc.stderr


def test_listens_on_a_socket_handed_over(serve_bin, serve_models, tmp_path_factory):
    """--fd: a bound socket, not yet listening (as the local target hands one over); the server listens on it
    once a worker has loaded the model."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    log = tmp_path_factory.mktemp("ours-fd") / "stderr.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen([serve_bin, "--model", serve_models["sklearn"], "--fd", str(sock.fileno()), "--workers",
                                 "1", "--python", sys.executable], stdout=err, stderr=err, pass_fds=(sock.fileno(),),
                                start_new_session=True)
    sock.close()  # the server has its own
    server = Server(proc, port, log)
    try:
        _wait_ready(server, "mlflow-bridge-serve --fd")
        r = requests.post(server.url + "/invocations", data=json.dumps(split([[1.0, 2.0]])), headers=JSON,
                          timeout=HANG_GUARD)
        assert r.status_code == 200
        assert r.json()["predictions"] == pytest.approx([3.0])
    finally:
        _stop(server)
    assert proc.returncode == 0, server.log()


def test_flags(serve_bin, serve_models):
    help_text = subprocess.run([serve_bin, "--help"], capture_output=True, text=True, timeout=HANG_GUARD)
    assert help_text.returncode == 0
    for flag in ("--model", "--port", "--fd", "--workers", "--max-queue", "--request-timeout-seconds", "--max-body-mb",
                 "--drain-seconds", "--access-log", "--prediction-log", "--prediction-log-rate", "--worker-script"):
        assert flag in help_text.stdout
    bad = subprocess.run([serve_bin, "serve", "--model", serve_models["sklearn"], "--bogus", "1"], capture_output=True,
                         text=True, timeout=HANG_GUARD)
    assert bad.returncode == 2 and "unknown option --bogus" in bad.stderr
    no_model = subprocess.run([serve_bin, "--model", "/no/such/model"], capture_output=True, text=True,
                              timeout=HANG_GUARD)
    assert no_model.returncode == 2 and "no MLmodel file" in no_model.stderr


def test_options_from_the_environment(serve_bin, serve_models, tmp_path_factory, monkeypatch):
    """An option not on the command line comes from MLFLOW_BRIDGE_SERVE_<OPTION> (how an image carries them, and
    how a platform's environment variables change them); the command line wins; a bad value names its variable."""
    big = json.dumps(split([[1.0, 2.0]] * 100000)).encode()  # about 1.3 MiB
    assert len(big) > 1 << 20
    monkeypatch.setenv("MLFLOW_BRIDGE_SERVE_MAX_BODY_MB", "1")
    with ours(serve_bin, serve_models["sklearn"], tmp_path_factory) as server:
        assert requests.post(server.url + "/invocations", data=big, headers=JSON, timeout=HANG_GUARD).status_code == 413
    with ours(serve_bin, serve_models["sklearn"], tmp_path_factory, "--max-body-mb", "2") as server:
        assert requests.post(server.url + "/invocations", data=big, headers=JSON, timeout=HANG_GUARD).status_code == 200
    monkeypatch.setenv("MLFLOW_BRIDGE_SERVE_BATCHING", "sometimes")
    bad = subprocess.run([serve_bin, "--model", serve_models["sklearn"]], capture_output=True, text=True,
                         timeout=HANG_GUARD)
    assert bad.returncode == 2 and "$MLFLOW_BRIDGE_SERVE_BATCHING takes auto, true or false, not 'sometimes'" in bad.stderr


def test_metrics_access_log_and_prediction_log(serve_bin, serve_models, tmp_path_factory, tmp_path):
    access, predictions = tmp_path / "access.log", tmp_path / "predictions.jsonl"
    with ours(serve_bin, serve_models["sklearn"], tmp_path_factory, "--access-log", str(access), "--prediction-log",
              str(predictions), "--prediction-log-rate", "1") as server:
        good = json.dumps(split([[1.0, 2.0]]))
        r = requests.post(server.url + "/invocations", data=good, headers={**JSON, "X-Request-Id": "req-ok"},
                          timeout=HANG_GUARD)
        assert r.status_code == 200 and r.headers["x-request-id"] == "req-ok"
        r = requests.post(server.url + "/score", data="{not json", headers={**JSON, "X-Request-Id": "req-bad"},
                          timeout=HANG_GUARD)
        assert r.status_code == 400
        text = metrics(server)
        assert metric(text, 'requests_total{route="/invocations",status="200"}') == 1
        assert metric(text, 'requests_total{route="/score",status="400"}') == 1
        assert metric(text, 'request_duration_seconds_count{route="/invocations"}') == 1
        assert metric(text, 'batch_size_count') == 2
        assert metric(text, 'workers{state="ready"}') == 1
        assert metric(text, "queue_depth") == 0
        assert metric(text, 'worker_pid{worker="0"}') > 0
    log = access.read_text()
    assert re.search(r"request_id=req-ok method=POST path=/invocations status=200 bytes=\d+ latency_ms=[\d.]+", log)
    assert "request_id=req-bad method=POST path=/score status=400" in log
    lines = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert [line["request_id"] for line in lines] == ["req-ok", "req-bad"]
    assert lines[0]["request"] == json.loads(good)
    assert lines[0]["response"]["predictions"] == pytest.approx([3.0])
    assert lines[0]["status"] == 200 and lines[0]["route"] == "/invocations"
    assert lines[1]["request"] == "{not json" and lines[1]["status"] == 400
    assert lines[1]["response"]["error_code"] == "BAD_REQUEST"
