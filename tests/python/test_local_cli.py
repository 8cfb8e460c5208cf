"""Target `local` through the `mlflow deployments` CLI: MLflow's command line in this process (cli), and in
new processes (cli_process, run-local) for what only a new process shows: a deployment made by one
process is seen, served and deleted by another, and an error reaches the terminal with a failing exit code."""

import json

import pytest
import requests
from conftest import ROWS, cli, cli_process, expected, run_local


def test_cli_lifecycle_across_processes(home, models, tmp_path):
    out = cli_process("create", "-t", "local", "--name", "wine", "-m", models["version1"], "-C", "workers=1")
    assert out.stdout.strip().splitlines()[-1] == "python_function deployment wine is created"

    listed = cli("list", "-t", "local").stdout
    assert "'name': 'wine'" in listed and "'status': 'ready'" in listed

    got = cli("get", "-t", "local", "--name", "wine").stdout
    assert "status: ready" in got and f"model_uri: {models['version1']}" in got

    (tmp_path / "in.json").write_text(ROWS.to_json(orient="records"))
    out_path = tmp_path / "out.json"
    cli("predict", "-t", "local", "--name", "wine", "--input-path", str(tmp_path / "in.json"), "--output-path", str(out_path))
    assert json.loads(out_path.read_text())["predictions"] == pytest.approx(expected(1.0))
    printed = cli("predict", "-t", "local", "--name", "wine", "--input-path", str(tmp_path / "in.json")).stdout
    assert json.loads(printed.strip().splitlines()[-1])["predictions"] == pytest.approx(expected(1.0))

    updated = "Deployment wine is updated (with flavor python_function)"
    assert cli("update", "-t", "local", "--name", "wine", "-m", models["alias"]).stdout.strip().splitlines()[-1] == updated
    assert cli("update", "-t", "local", "--name", "wine", "-m", models["version2"]).stdout.strip().splitlines()[-1] == updated
    cli("predict", "-t", "local", "--name", "wine", "--input-path", str(tmp_path / "in.json"), "--output-path", str(out_path))
    assert json.loads(out_path.read_text())["predictions"] == pytest.approx(expected(2.0))
    assert "revision: 3" in cli("get", "-t", "local", "--name", "wine").stdout
    # update without a model: the config changes, the model stays
    out = cli("update", "-t", "local", "--name", "wine", "-C", "workers=1").stdout
    assert out.strip().splitlines()[-1] == updated

    assert cli("delete", "-t", "local", "--name", "wine").stdout.strip().splitlines()[-1] == "Deployment wine is deleted"
    assert cli("list", "-t", "local").stdout.strip().splitlines() == ["List of all deployments:", "[]"]
    cli("delete", "-t", "local", "--name", "wine")  # idempotent


def test_cli_errors_are_clear(home, models):
    bad = cli("create", "-t", "local", "--name", "x", "-m", models["version1"], "-C", "port=abc", check=False)
    assert bad.returncode != 0
    assert "Config key 'port'" in bad.stderr and "abc" in bad.stderr
    unknown = cli("create", "-t", "local", "--name", "x", "-m", models["version1"], "-C", "colour=red", check=False)
    assert "Unknown config key 'colour'" in unknown.stderr and "timeout_seconds" in unknown.stderr
    missing = cli_process("get", "-t", "local", "--name", "ghost", check=False)
    assert missing.returncode != 0 and "No local deployment named 'ghost'" in missing.stderr


def test_cli_help_lists_config_keys():
    out = cli("help", "-t", "local").stdout
    assert "timeout_seconds (int, default: 300)" in out


def test_run_local_serves_in_the_foreground(home, models):
    with run_local("local", models["version1"]) as (port, lines):
        body = {"dataframe_split": json.loads(ROWS.to_json(orient="split", index=False))}
        r = requests.post(f"http://127.0.0.1:{port}/invocations", json=body, timeout=60)
        assert r.json()["predictions"] == pytest.approx(expected(1.0))
        # the native server: every platform's routes
        assert "with mlflow-bridge-serve" in "".join(lines)
        assert requests.post(f"http://127.0.0.1:{port}/score", json=body, timeout=60).json() == r.json()
        assert requests.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=60).status_code == 200
    assert not (home / "local" / "deployments").exists()  # nothing persisted


def test_run_local_with_mlflow_server(home, models):
    with run_local("local", models["version1"], config=["server=mlflow"]) as (port, lines):
        assert "with MLflow's scoring server" in "".join(lines)
        body = {"dataframe_split": json.loads(ROWS.to_json(orient="split", index=False))}
        r = requests.post(f"http://127.0.0.1:{port}/invocations", json=body, timeout=60)
        assert r.json()["predictions"] == pytest.approx(expected(1.0))


def test_cli_create_with_mlflow_server_and_native_keys(home, models):
    cli("create", "-t", "local", "--name", "classic", "-m", models["version1"], "-C", "server=mlflow")
    assert "server: mlflow" in cli("get", "-t", "local", "--name", "classic").stdout
    cli("update", "-t", "local", "--name", "classic", "-C", "server=native", "-C", "max_queue=5", "-C", "access_log=true")
    got = cli("get", "-t", "local", "--name", "classic").stdout
    assert "server: native" in got and "'max_queue': 5" in got
    bad = cli("update", "-t", "local", "--name", "classic", "-C", "batching=sometimes", check=False)
    assert bad.returncode != 0 and "batching" in bad.stderr and "auto" in bad.stderr
