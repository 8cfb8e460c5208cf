"""Target `local` through mlflow.deployments.get_deploy_client (the SDK)."""

import http.client
import json
import os
import signal
import socket
import threading

import numpy as np
import pandas as pd
import pytest
import requests
from conftest import ROWS, expected, unused_port, wait_exited
from mlflow.exceptions import MlflowException
from mlflow_bridge import _core


def approx(values):
    return pytest.approx(list(values), rel=1e-6)


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("uri_key", ["runs1", "version1", "alias", "path"])
def test_create_from_every_uri_form_then_predict(client, models, uri_key):
    info = client.create_deployment("tiny", models[uri_key])
    assert info["status"] == "ready"
    assert info["model_uri"] == models[uri_key]
    if uri_key != "path":
        assert info["run_id"] == models["run_id1"]
    result = client.predict("tiny", ROWS)
    assert result["predictions"] == approx(expected(1.0))
    got = client.get_deployment("tiny")
    assert got["status"] == "ready" and got["url"].startswith("http://127.0.0.1:")
    assert [d["name"] for d in client.list_deployments()] == ["tiny"]


def test_the_users_model_folder_is_left_in_place(client, models):
    before = sorted(os.listdir(models["path"]))
    client.create_deployment("in-place", models["path"])
    assert sorted(os.listdir(models["path"])) == before


def test_predict_accepts_what_the_sdk_passes(client, models):
    client.create_deployment("tiny", models["version1"])
    want = approx(expected(1.0))
    assert client.predict("tiny", ROWS)["predictions"] == want
    split = {"dataframe_split": {"columns": ["x1", "x2"], "data": ROWS.values.tolist()}}
    assert client.predict("tiny", split)["predictions"] == want
    records = {"dataframe_records": ROWS.to_dict(orient="records")}
    assert client.predict("tiny", records)["predictions"] == want
    assert client.predict("tiny", {"x1": ROWS["x1"].tolist(), "x2": ROWS["x2"].tolist()})["predictions"] == want
    assert client.predict("tiny", ROWS.to_dict(orient="records"))["predictions"] == want
    assert client.predict("tiny", json.dumps(records))["predictions"] == want
    assert client.predict("tiny", ROWS.to_csv(index=False))["predictions"] == want


def test_predict_numpy_and_params(client, models):
    client.create_deployment("scale", models["params"])
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    assert client.predict("scale", frame)["predictions"] == approx([1.0, 2.0])
    assert client.predict("scale", frame, params={"scale": 3.0})["predictions"] == approx([3.0, 6.0])
    assert client.predict("scale", {"x": np.array([1.5, 2.5])})["predictions"] == approx([1.5, 2.5])


def test_get_reports_starting_then_ready_and_exited_with_log_tail(client, models):
    info = client.create_deployment("tiny", models["version1"])
    os.kill(info["pid"], signal.SIGKILL)
    wait_exited(info["pid"])  # its threads take a moment to go
    got = client.get_deployment("tiny")
    assert got["status"] == "exited"
    assert "mlflow-bridge-serve: Listening on port" in got["log_tail"]
    with pytest.raises(MlflowException, match="not running") as e:
        client.predict("tiny", ROWS)
    assert e.value.error_code == "TEMPORARILY_UNAVAILABLE"


def test_update_swaps_models_without_downtime(client, models):
    first = client.create_deployment("tiny", models["version1"])
    url = first["url"] + "/invocations"
    body = {"dataframe_split": {"columns": ["x1", "x2"], "data": ROWS.values.tolist()}}
    stop = threading.Event()
    seen, errors = [], []

    def hammer():
        # Keep-alive, through the transport `predict` uses. When the old server closes an idle kept-alive
        # connection just as a request goes out on it, nothing was received and libcurl resends on a new
        # connection, as HTTP/1.1 allows; a client without that retry (requests) can then see one reset,
        # which says nothing of the swap, so the test does not use one.
        http = _core.Http(timeout_ms=30000)
        payload = json.dumps(body).encode()
        for _ in range(20000):  # bounded; stops as soon as the update is done
            if stop.is_set():
                return
            try:
                status, _, answer = http.request("POST", url, [("Content-Type", "application/json")], payload)
                if status != 200:
                    errors.append(status)
                else:
                    seen.append(json.loads(answer)["predictions"][0])
            except Exception as e:  # pragma: no cover - what the test is about
                errors.append(repr(e))

    worker = threading.Thread(target=hammer)
    worker.start()
    try:
        second = client.update_deployment("tiny", models["version2"])
    finally:
        stop.set()
        worker.join()
    assert errors == []
    assert second["port"] == first["port"] and second["pid"] != first["pid"]
    assert not alive(first["pid"])
    assert second["revision"] == 2 and second["model_uri"] == models["version2"]
    assert client.predict("tiny", ROWS)["predictions"] == approx(expected(2.0))
    assert seen[0] == pytest.approx(expected(1.0)[0])


def test_update_keeps_model_and_changes_config(client, models):
    client.create_deployment("tiny", models["version1"], config={"workers": 1})
    updated = client.update_deployment("tiny", config={"workers": "2"})
    assert updated["config"]["workers"] == 2 and updated["model_uri"] == models["version1"]
    assert client.predict("tiny", ROWS)["predictions"] == approx(expected(1.0))


def test_failed_update_leaves_the_old_model_serving(client, models):
    first = client.create_deployment("tiny", models["version1"])
    with pytest.raises(MlflowException, match="previous model keeps serving") as e:
        client.update_deployment("tiny", models["crash"])
    assert "boom: this model refuses to load" in e.value.message
    got = client.get_deployment("tiny")
    assert got["status"] == "ready" and got["pid"] == first["pid"] and got["revision"] == 1
    assert client.predict("tiny", ROWS)["predictions"] == approx(expected(1.0))


def test_delete_stops_the_server_and_is_idempotent(client, models, home):
    info = client.create_deployment("tiny", models["version1"])
    client.delete_deployment("tiny")
    assert not alive(info["pid"])
    assert client.list_deployments() == []
    client.delete_deployment("tiny")
    # Nothing listens on the port any more. (Not "it can be bound": the kernel may have handed the
    # ephemeral port to some connection on the machine meanwhile.)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", info["port"]), timeout=60)


def test_fixed_port(client, models):
    port = unused_port()
    info = client.create_deployment("tiny", models["version1"], config={"port": port})
    assert info["port"] == port
    assert requests.get(f"http://127.0.0.1:{port}/ping").status_code == 200


def test_env_secrets_are_masked_in_get(client, models):
    client.create_deployment("tiny", models["version1"], config={"env": {"MY_API_TOKEN": "s3cr3t-value", "MODE": "x"}})
    text = json.dumps(client.get_deployment("tiny")) + json.dumps(client.list_deployments())
    assert "s3cr3t-value" not in text
    assert client.get_deployment("tiny")["config"]["env"] == {"MY_API_TOKEN": "***", "MODE": "x"}


def test_target_help_documents_every_key():
    from mlflow_bridge.targets import local

    text = local.target_help()
    for key in ("port", "workers", "timeout_seconds", "request_timeout_seconds", "graceful_shutdown_seconds", "env",
                "server", "batching", "max_queue", "max_body_mb", "access_log", "prediction_log",
                "prediction_log_rate"):
        assert f"  {key} (" in text
    assert "default: 0" in text and "Target URI: local" in text


def test_wrong_target_uri_is_rejected():
    from mlflow_bridge.targets.local import LocalDeploymentClient

    with pytest.raises(MlflowException, match="local target's URI"):
        LocalDeploymentClient("local:/something")


def test_native_server_is_the_default(client, models):
    info = client.create_deployment("tiny", models["version1"])
    assert info["server"] == "native" and info["config"]["server"] == "native"
    r = requests.get(info["url"] + "/ping", timeout=60)
    assert r.status_code == 200 and "X-Request-Id" in r.headers  # the native server's


def test_mlflow_server_on_request(client, models):
    info = client.create_deployment("tiny", models["version1"], config={"server": "mlflow"})
    assert info["server"] == "mlflow"
    assert client.predict("tiny", ROWS)["predictions"] == approx(expected(1.0))
    log = client.get_deployment("tiny")["log_tail"]
    assert "Uvicorn running" in log or "Application startup complete" in log


def test_routes_of_other_platforms(client, models):
    """One local deployment answers SageMaker's, Azure ML's, OCI's and the Open Inference Protocol's routes."""
    url = client.create_deployment("tiny", models["version1"])["url"]
    body = {"dataframe_split": {"columns": ["x1", "x2"], "data": ROWS.values.tolist()}}
    want = approx(expected(1.0))
    for route in ("/invocations", "/score", "/predict"):
        r = requests.post(url + route, json=body, timeout=60)
        assert r.status_code == 200, (route, r.text)
        assert r.json()["predictions"] == want, route
    for route in ("/ping", "/health", "/v2/health/live", "/v2/health/ready", "/v2/models/tiny/ready"):
        assert requests.get(url + route, timeout=60).status_code == 200, route


def test_without_native_server_falls_back_with_a_warning(home, models, monkeypatch, tmp_path, capfd):
    from mlflow.deployments import get_deploy_client
    from mlflow_bridge import _serve

    monkeypatch.setattr(_serve, "SERVE_DIR", str(tmp_path / "no-server-here"))
    client = get_deploy_client("local")
    info = client.create_deployment("tiny", models["version1"])
    assert info["server"] == "mlflow"
    assert "serving with MLflow's scoring server instead" in capfd.readouterr().err
    assert client.predict("tiny", ROWS)["predictions"] == approx(expected(1.0))
    with pytest.raises(MlflowException, match="server=native was asked for") as e:
        client.create_deployment("strict", models["version1"], config={"server": "native"})
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    assert [d["name"] for d in client.list_deployments()] == ["tiny"]


def test_keep_alive_client_across_update_sees_no_reset(client, models):
    """A client on one kept-alive connection (http.client: no retry of its own) sends request after request
    while `update` runs: every one gets a 200, none meets a reset or a closed connection. The old server drains:
    it answers with `Connection: close`, and the client's next connection reaches the new server."""
    first = client.create_deployment("tiny", models["version1"])
    body = json.dumps({"dataframe_split": {"columns": ["x1", "x2"], "data": ROWS.values.tolist()}})
    stop = threading.Event()
    seen, errors, connections = [], [], []

    def keep_alive_client():
        conn = None
        for _ in range(100000):  # bounded; stops as soon as the update is done
            if stop.is_set():
                break
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", first["port"], timeout=600)
                connections.append(conn)
            try:
                conn.request("POST", "/invocations", body, {"Content-Type": "application/json"})
                r = conn.getresponse()
                answer = r.read()
            except Exception as e:  # pragma: no cover - what the test is about
                errors.append(repr(e))
                conn.close()
                conn = None
                continue
            if r.status != 200:
                errors.append(f"{r.status}: {answer!r}")
            else:
                value = json.loads(answer)["predictions"][0]
                if not seen or seen[-1] != value:
                    seen.append(value)
            if r.will_close:  # Connection: close
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    worker = threading.Thread(target=keep_alive_client)
    worker.start()
    try:
        second = client.update_deployment("tiny", models["version2"])
        new_answer = pytest.approx(expected(2.0)[0])
        while not (seen and seen[-1] == new_answer) and not errors and worker.is_alive():  # the new model answers
            stop.wait(0.05)
    finally:
        stop.set()
        worker.join()
    assert errors == []
    assert not alive(first["pid"]) and second["pid"] != first["pid"]
    assert seen == [pytest.approx(expected(1.0)[0]), pytest.approx(expected(2.0)[0])]
    assert len(connections) >= 2
