"""Bad input gets a clear error and changes nothing."""

import os
import socket

import pandas as pd
import pytest
from conftest import ROWS, unused_port, wait_exited
from mlflow.exceptions import MlflowException


def error_of(fn, *args, **kwargs):
    with pytest.raises(MlflowException) as e:
        fn(*args, **kwargs)
    return e.value


def nothing_left(client, home):
    assert client.list_deployments() == []
    deployments = home / "local" / "deployments"
    assert not deployments.exists() or os.listdir(deployments) == []
    staging = home / "staging"
    assert not staging.exists() or os.listdir(staging) == []


def test_model_uri_that_does_not_exist(client, home):
    for uri in ("models:/no-such-model/1", "runs:/0123456789abcdef/model", "/no/such/folder"):
        e = error_of(client.create_deployment, "tiny", uri)
        assert e.error_code == "RESOURCE_DOES_NOT_EXIST"
        assert uri in e.message
    nothing_left(client, home)


@pytest.mark.parametrize("name", ["", "-lead", "has space", "a/b", "..", "x" * 64, "ünï"])
def test_invalid_deployment_name(client, models, home, name):
    e = error_of(client.create_deployment, name, models["version1"])
    assert e.error_code == "INVALID_PARAMETER_VALUE"
    assert "Invalid deployment name" in e.message and "63" in e.message
    nothing_left(client, home)


def test_create_of_a_name_that_exists(client, models):
    first = client.create_deployment("tiny", models["version1"])
    e = error_of(client.create_deployment, "tiny", models["version2"])
    assert e.error_code == "RESOURCE_ALREADY_EXISTS"
    assert "already exists" in e.message and models["version1"] in e.message
    assert client.get_deployment("tiny")["pid"] == first["pid"]
    assert client.predict("tiny", ROWS)["predictions"] == pytest.approx([1.5, 3.0, 7.0])


@pytest.mark.parametrize("call", ["update", "predict", "get"])
def test_missing_deployment(client, models, call):
    fn = {
        "update": lambda: client.update_deployment("ghost", models["version1"]),
        "predict": lambda: client.predict("ghost", ROWS),
        "get": lambda: client.get_deployment("ghost"),
    }[call]
    e = error_of(fn)
    assert e.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert "No local deployment named 'ghost'" in e.message


def test_port_already_in_use(client, models, home):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        e = error_of(client.create_deployment, "tiny", models["version1"], config={"port": port})
    assert e.error_code == "INVALID_PARAMETER_VALUE"
    assert f"Port {port}" in e.message and "already in use" in e.message
    nothing_left(client, home)


def test_port_of_another_deployment(client, models):
    first = client.create_deployment("one", models["version1"])
    e = error_of(client.create_deployment, "two", models["version2"], config={"port": first["port"]})
    assert "already in use" in e.message
    assert [d["name"] for d in client.list_deployments()] == ["one"]


def test_malformed_predict_input(client, models):
    client.create_deployment("tiny", models["version1"])
    e = error_of(client.predict, "tiny", pd.DataFrame({"wrong": [1.0]}))
    assert e.error_code == "INVALID_PARAMETER_VALUE"
    assert "rejected the input" in e.message
    e = error_of(client.predict, "tiny", object())
    assert e.error_code == "INVALID_PARAMETER_VALUE" and "cannot send inputs of type object" in e.message
    e = error_of(client.predict, "tiny", None)
    assert "needs inputs" in e.message
    e = error_of(client.predict, "tiny", '{"not": "a scoring key"')  # neither JSON nor CSV the model takes
    assert e.error_code == "INVALID_PARAMETER_VALUE"


def test_model_whose_server_crashes_at_start(client, models, home):
    e = error_of(client.create_deployment, "crashy", models["crash"])
    assert "exited while starting" in e.message
    assert "boom: this model refuses to load" in e.message  # from the server's log
    assert "nothing was left behind" in e.message
    assert "api_token=" in e.message and "tok-SECRET-123" not in e.message  # the log tail is redacted
    nothing_left(client, home)


def test_unknown_config_key_lists_the_valid_ones(client, models, home):
    e = error_of(client.create_deployment, "tiny", models["version1"], config={"prot": "8080"})
    assert e.error_code == "INVALID_PARAMETER_VALUE"
    assert "prot" in e.message
    for key in ("port", "workers", "timeout_seconds", "env"):
        assert key in e.message
    nothing_left(client, home)


@pytest.mark.parametrize(
    "config, words",
    [
        ({"port": "eighty"}, ["port", "eighty"]),
        ({"port": "70000"}, ["port", "65535"]),
        ({"workers": "0"}, ["workers"]),
        ({"env": "not json"}, ["env", "JSON object"]),
        ({"timeout_seconds": "1.5"}, ["timeout_seconds"]),
    ],
)
def test_bad_config_values_name_the_key(client, models, home, config, words):
    e = error_of(client.create_deployment, "tiny", models["version1"], config=config)
    assert e.error_code == "INVALID_PARAMETER_VALUE"
    for w in words:
        assert w in e.message
    nothing_left(client, home)


def test_model_without_pyfunc_flavor_and_bad_flavor(client, models, tmp_path, home):
    folder = tmp_path / "no-pyfunc"
    folder.mkdir()
    (folder / "MLmodel").write_text("flavors:\n  keras: {}\n")
    e = error_of(client.create_deployment, "tiny", str(folder))
    assert "no python_function flavor" in e.message
    e = error_of(client.create_deployment, "tiny", models["version1"], flavor="sklearn")
    assert "python_function" in e.message
    nothing_left(client, home)


def test_endpoints_are_not_part_of_local(client, models):
    e = error_of(client.create_deployment, "tiny", models["version1"], endpoint="ep")
    assert "no endpoints" in e.message


def test_update_of_a_dead_deployment_does_not_take_another_ones_port(client, models):
    import signal

    first = client.create_deployment("first", models["version1"])
    os.kill(first["pid"], signal.SIGKILL)
    wait_exited(first["pid"])
    assert client.get_deployment("first")["status"] == "exited"
    client.create_deployment("second", models["version2"], config={"port": first["port"]})
    e = error_of(client.update_deployment, "first", models["version1"])
    assert "already in use" in e.message
    assert client.predict("second", ROWS)["predictions"] == pytest.approx([3.0, 6.0, 14.0])


def test_a_name_like_a_port_lock_is_fine(client, models):
    port = unused_port()
    info = client.create_deployment(f"port-{port}", models["version1"], config={"port": port})
    assert info["port"] == port
