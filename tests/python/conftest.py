"""Fixtures: a local MLflow store with tiny models, and an isolated mlflow-bridge home."""

import contextlib
import os
import queue
import random
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import traceback

import numpy as np
import pandas as pd
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "servers"))  # loopback stand-ins
from azureml_fixtures import azure_standin, azure_standin_factory, model_backend  # noqa: E402,F401
from oci_fixtures import (  # noqa: E402,F401
    _oci_clean_env, oci_api_key_config, oci_env, oci_keys, oci_resource_principal, oci_runtime, oci_session_profile)
MLFLOW = os.path.join(os.path.dirname(sys.executable), "mlflow")

ROWS = pd.DataFrame({"x1": [1.0, 2.0, 3.0], "x2": [0.5, 1.0, 4.0]})


class PythonModels:
    """pyfunc models defined here so that they pickle by reference to this module."""


def _sklearn(scale):
    from sklearn.linear_model import LinearRegression

    x = pd.DataFrame({"x1": [1.0, 2.0, 3.0, 4.0], "x2": [1.0, 3.0, 2.0, 5.0]})
    return LinearRegression().fit(x, scale * (x["x1"] + x["x2"]))


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    """Registers tiny models in a local MLflow store; returns their URIs.

    tiny/1 (alias champion) predicts x1 + x2; tiny/2 predicts 2 * (x1 + x2).
    Their requirements are their flavor's defaults (what MLflow falls back to): inferring them loads each
    model in a new interpreter, seconds a model, and no test reads them.
    """
    import mlflow
    from mlflow.models import infer_signature

    sklearn_reqs = mlflow.sklearn.get_default_pip_requirements()
    pyfunc_reqs = mlflow.pyfunc.get_default_pip_requirements()

    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root}/mlflow.db"
    os.environ["MLFLOW_TRACKING_URI"] = uri
    mlflow.set_tracking_uri(uri)
    mlflow.create_experiment("bridge-tests", artifact_location=(root / "artifacts").as_uri())
    mlflow.set_experiment("bridge-tests")
    out = {}
    for version, scale in ((1, 1.0), (2, 2.0)):
        model = _sklearn(scale)
        with mlflow.start_run() as run:
            mlflow.sklearn.log_model(
                model,
                name="model",
                registered_model_name="tiny",
                signature=infer_signature(ROWS, model.predict(ROWS)),
                pip_requirements=sklearn_reqs,
            )
        out[f"runs{version}"] = f"runs:/{run.info.run_id}/model"
        out[f"run_id{version}"] = run.info.run_id
        out[f"version{version}"] = f"models:/tiny/{version}"
    mlflow.MlflowClient().set_registered_model_alias("tiny", "champion", 1)
    out["alias"] = "models:/tiny@champion"

    path = root / "local-model"
    mlflow.sklearn.save_model(_sklearn(1.0), str(path), signature=infer_signature(ROWS, _sklearn(1.0).predict(ROWS)),
                              pip_requirements=sklearn_reqs)
    out["path"] = str(path)

    import pyfunc_models

    params_path = root / "params-model"
    mlflow.pyfunc.save_model(
        str(params_path),
        python_model=pyfunc_models.Scale(),
        code_paths=[pyfunc_models.__file__],
        signature=infer_signature(pd.DataFrame({"x": [1.0]}), np.array([1.0]), params={"scale": 1.0}),
        pip_requirements=pyfunc_reqs,
    )
    out["params"] = str(params_path)

    crash_path = root / "crash-model"
    mlflow.pyfunc.save_model(str(crash_path), python_model=pyfunc_models.CrashAtLoad(), code_paths=[pyfunc_models.__file__],
                             pip_requirements=pyfunc_reqs)
    out["crash"] = str(crash_path)
    return out


def expected(scale, rows=ROWS):
    return list(scale * (rows["x1"] + rows["x2"]))


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh mlflow-bridge home; every deployment left in it is deleted afterwards."""
    path = tmp_path / "bridge-home"
    monkeypatch.setenv("MLFLOW_BRIDGE_HOME", str(path))
    yield path
    from mlflow_bridge import _core

    core = _core.Target("local", "local", str(path))
    import json

    for d in json.loads(core.list_deployments("")):
        core.delete_deployment(d["name"], "", "{}")


@pytest.fixture
def client(home, models):
    from mlflow.deployments import get_deploy_client

    return get_deploy_client("local")


def cli(*args, check=True):
    """Runs `mlflow deployments ...` through MLflow's own command line, in this process: the click group the
    `mlflow` console script calls (mlflow.cli:cli) parses the arguments, MLflow's command finds the plugin
    and prints what it reads of our results, as in a new process, without importing mlflow anew (seconds
    a command). Returns what subprocess.run would: returncode, stdout, and stderr with the traceback
    Python prints for an uncaught exception. Each target's tests also run commands with cli_process."""
    from click.testing import CliRunner
    from mlflow.cli import cli as mlflow_cli

    result = CliRunner().invoke(mlflow_cli, ["deployments", *args], prog_name="mlflow")
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    proc = subprocess.CompletedProcess([MLFLOW, "deployments", *args], result.exit_code, result.stdout, stderr)
    if check and proc.returncode != 0:
        raise AssertionError(f"mlflow deployments {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def cli_process(*args, check=True):
    """Runs `mlflow deployments ...` in a new process, as a user would: the console script, MLflow's
    plugin discovery in a fresh interpreter, the exit code and what reaches the terminal."""
    proc = subprocess.run([MLFLOW, "deployments", *args], capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"mlflow deployments {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def unused_port():
    """A port nothing uses now, for a test that must name one (port=...). Taken below Linux's ephemeral
    range (32768-60999), where the kernel never picks ports for port-0 binds or outgoing connections:
    a port from bind(0), released, can be taken by any connection on the machine before the test uses it."""
    for port in random.sample(range(20000, 32768), 500):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise AssertionError("no free port on 127.0.0.1 between 20000 and 32767")


def wait_exited(pid):
    """Returns once process `pid` and all its threads have exited (its pidfd turns readable then)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        ready, _, _ = select.select([fd], [], [], 600)  # a bound for a broken test, not a timing expectation
        assert ready, f"process {pid} still runs 600 s after it was stopped"
    finally:
        os.close(fd)


@contextlib.contextmanager
def run_local(target, model_uri, name="fg", config=()):
    """`mlflow deployments run-local` in the foreground on a port the kernel picks (-C port=0, no port
    taken from elsewhere), with more `-C key=value` from `config`; yields (port, lines so far) once the server
    (mlflow-bridge-serve, or uvicorn for server=mlflow) says it listens, stops it with Ctrl-C after."""
    more = [arg for kv in config for arg in ("-C", kv)]
    proc = subprocess.Popen(
        [MLFLOW, "deployments", "run-local", "-t", target, "--name", name, "-m", model_uri, "-C", "port=0", *more],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        # Ctrl-C must reach it even when this run ignores SIGINT (a background job of a script, nohup ... &):
        # an ignored SIGINT is inherited, and Python then never raises KeyboardInterrupt.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout] + [lines.put(None)], daemon=True).start()
    seen, port = [], None
    try:
        while True:  # the server's own words, not a poll: "Serving ... at URL", then uvicorn's "running on"
            try:
                line = lines.get(timeout=600)  # a bound for a hung process, not a timing expectation
            except queue.Empty:
                raise AssertionError("run-local said nothing for 600 s:\n" + "".join(seen))
            assert line is not None, f"run-local exited ({proc.wait()}):\n" + "".join(seen)
            seen.append(line)
            if m := re.search(r"Serving \S+ at http://127\.0\.0\.1:(\d+)", line):
                port = int(m.group(1))
            if "Uvicorn running" in line or "mlflow-bridge-serve: Listening on port" in line:
                break
        assert port, "".join(seen)
        yield port, seen
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)


@pytest.fixture(scope="session")
def moto_server():
    """moto on 127.0.0.1 with the SageMaker extensions (tests/servers/moto_sagemaker.py)."""
    import moto_sagemaker

    server = moto_sagemaker.MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def aws(moto_server, monkeypatch, tmp_path):
    """Points every AWS client at moto with test credentials and no shared config."""
    moto_server.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    for var in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL_SAGEMAKER", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(var, raising=False)
    return moto_server


@pytest.fixture
def registry(tmp_path):
    """docker-registry 2.8.2 on 127.0.0.1, plain HTTP, no auth (tests/servers/registry.py); stopped afterwards."""
    import registry as registry_server

    reg = registry_server.Registry("plain", workdir=tmp_path / "registry").start()
    yield reg
    reg.stop()


@pytest.fixture
def registry_factory(tmp_path):
    """start(mode="plain"|"tls"|"htpasswd"|"token", **Registry options) -> a started Registry;
    every registry started through it is stopped at the end of the test."""
    import registry as registry_server

    started = []

    def start(mode="plain", **options):
        options.setdefault("workdir", tmp_path / f"registry-{len(started)}-{mode}")
        reg = registry_server.Registry(mode, **options)
        started.append(reg)
        return reg.start()

    yield start
    for reg in started:
        reg.stop()


@pytest.fixture
def kube_factory():
    """start(**KubeApiServer options) -> a started Kubernetes stand-in (tests/servers/kubernetes.py:
    API server + simulated controllers + gateway); every one is stopped at the end of the test, and
    the test fails if its controller thread raised."""
    import kubernetes as kube_server_module

    started = []

    def start(token="test-token", **options):
        options.setdefault("ready_delay", 0.05)
        options.setdefault("apirule_delay", 0.05)
        options.setdefault("lb_delay", 0.02)
        options.setdefault("deletion_delay", 0.05)
        options.setdefault("tick", 0.01)
        # Our client reads a watch round when it ends (two-second rounds): a round that ends with its first
        # change, as an API server may end any watch, lets a wait see each change at once.
        options.setdefault("end_watch_after_changes", True)
        server = kube_server_module.KubeApiServer(token, **options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
    for server in started:
        assert server.controller_errors == [], server.controller_errors[0]


@pytest.fixture
def kube(kube_factory, tmp_path):
    """A Kubernetes stand-in over plain HTTP with bearer token "test-token"; `kube.kubeconfig` is a
    kubeconfig file for it (context "test", namespace "default")."""
    server = kube_factory()
    server.kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
    return server


@pytest.fixture
def echo_backends():
    """start(name) -> a started kubernetes.EchoBackend (a model-server stand-in for on_pod_ready);
    all stopped at the end of the test."""
    import kubernetes as kube_server_module

    started = []

    def start(name="backend"):
        backend = kube_server_module.EchoBackend(name).start()
        started.append(backend)
        return backend

    yield start
    for backend in started:
        backend.stop()


@pytest.fixture
def oci_standin_factory():
    """start(**OciDataScienceStandIn options) -> a started OCI Data Science stand-in (tests/servers/oci_datascience.py: the
    API on `.url`, the modeldeployment predict listener on `.predict_url`); every one is stopped at the end
    of the test, and the test fails if one recorded a bug of its own (server.errors)."""
    import oci_datascience

    started = []

    def start(**options):
        server = oci_datascience.OciDataScienceStandIn(**options).start()
        started.append(server)
        return server

    yield start
    errors = []
    for server in started:
        server.stop()
        errors += server.errors
    assert not errors, "the OCI stand-in hit bugs of its own:\n" + "\n".join(errors)


@pytest.fixture
def oci_standin(oci_standin_factory):
    """An OCI Data Science stand-in with the defaults (polls=2, page_size=100), no keys registered yet."""
    return oci_standin_factory()
