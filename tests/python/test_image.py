"""Model images without docker, against Debian's docker-registry, read back with skopeo and umoci
(tests/servers/registry.py)."""

import base64
import contextlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import mlflow
import pytest
import registry as reg
from conftest import unused_port
from mlflow.exceptions import MlflowException
from mlflow_bridge import _serve, image

NO_DEPS = {"install_dependencies": "false"}
SERVER = "/opt/mlflow-bridge/mlflow-bridge-serve"
ENTRYPOINT = [SERVER, "--model", "/opt/ml/model", "--host", "0.0.0.0", "--port", "8080", "--python", "python3"]


@pytest.fixture
def base(registry):
    """A two-platform OCI base image in the plain registry."""
    return reg.make_base_image(registry.host, "lib/base", "1", platforms=("linux/amd64", "linux/arm64"))


def build(model_uri, ref, base_ref, **config):
    return image.build(model_uri, ref, base_ref, insecure_registry="true", **{**NO_DEPS, **config})


def manifest(ref, **kw):
    return reg.skopeo_inspect(ref, raw=True, **kw)


def test_build_push_and_read_back(registry, base, models, home, tmp_path):
    out = build(models["version1"], f"{registry.host}/team/tiny:1", base["ref"])
    assert out["image"] == f"{registry.host}/team/tiny@{out['digest']}"

    m = manifest(f"{registry.host}/team/tiny:1")
    assert m["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    base_layers = base["layers"]["linux/amd64"]
    assert [l["digest"] for l in m["layers"][:-2]] == base_layers  # then the server's layer and the model's
    assert m["layers"][-1]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    assert m["annotations"]["org.opencontainers.image.base.digest"] == base["manifests"]["linux/amd64"]

    config = reg.skopeo_inspect(f"{registry.host}/team/tiny:1", config=True)
    run = config["config"]
    assert run["Entrypoint"] == ENTRYPOINT and run["Cmd"] == ["serve"]  # the native server; SageMaker's `serve`
    assert run["ExposedPorts"] == {"8080/tcp": {}}
    env = dict(e.split("=", 1) for e in run["Env"])
    assert env["__pyfunc_model_path__"] == "file:///opt/ml/model" and env["MLFLOW_BRIDGE_PORT"] == "8080"
    assert env["PYTHON_VERSION"] == "3.11.9"  # the base's environment is kept
    # The native server's options, with their defaults (a platform's environment variables may change them).
    assert env["MLFLOW_BRIDGE_SERVE_BATCHING"] == "auto" and env["MLFLOW_BRIDGE_SERVE_ACCESS_LOG"] == "-"
    assert env["MLFLOW_BRIDGE_SERVE_MAX_QUEUE"] == "1024" and env["MLFLOW_BRIDGE_SERVE_MAX_BODY_MB"] == "64"
    assert "MLFLOW_BRIDGE_SERVE_PREDICTION_LOG" not in env
    labels = run["Labels"]
    assert labels["mlflow.model_uri"] == models["version1"] and labels["mlflow.run_id"] == models["run_id1"]
    assert labels["mlflow-bridge.version"] and labels["mlflow-bridge.server"] == "native"
    assert config["created"] == "1970-01-01T00:00:00Z"
    assert [l["what"] for l in out["layers"]] == ["server", "model"]
    assert len(config["rootfs"]["diff_ids"]) == len(base_layers) + 2

    rootfs, runtime = reg.pull_and_unpack(f"{registry.host}/team/tiny:1", tmp_path / "unpacked")
    model_dir = os.path.join(rootfs, "opt/ml/model")
    assert "sklearn" in open(os.path.join(model_dir, "MLmodel")).read()
    assert sorted(os.listdir(model_dir)) == sorted(os.listdir(mlflow.artifacts.download_artifacts(models["version1"])))
    assert os.path.exists(os.path.join(rootfs, "etc/os-release"))  # the base's files are there too
    assert runtime["process"]["args"] == ENTRYPOINT + ["serve"]
    # The server's layer: this installation's binary and worker, byte for byte; the binary runs.
    for name in ("mlflow-bridge-serve", "serve_worker.py"):
        with open(os.path.join(rootfs, "opt/mlflow-bridge", name), "rb") as got, open(os.path.join(_serve.SERVE_DIR, name), "rb") as want:
            assert got.read() == want.read(), name
    assert os.access(os.path.join(rootfs, SERVER.lstrip("/")), os.X_OK)


def test_reproducible_and_a_second_push_sends_no_layer(registry, base, models, home):
    first = build(models["version1"], f"{registry.host}/team/tiny:1", base["ref"])
    registry.mark()
    again = build(models["version1"], f"{registry.host}/team/tiny:1", base["ref"])
    assert again["digest"] == first["digest"] and again["layers"] == first["layers"]
    assert registry.blob_uploads() == [] and again["uploaded_bytes"] == 0
    # Another repository of the same registry gets the base layers mounted, not uploaded.
    registry.mark()
    other = build(models["version1"], f"{registry.host}/other/tiny:1", base["ref"])
    assert other["digest"] == first["digest"]
    assert {d for _, d, _ in registry.blob_mounts()} >= set(base["layers"]["linux/amd64"])
    # The server's layer is the same for every model: a different model sends only its own layer (and config).
    registry.mark()
    second = build(models["version2"], f"{registry.host}/team/tiny:2", base["ref"])
    assert second["digest"] != first["digest"]
    assert set(registry.blob_uploads()) == {second["layers"][-1]["digest"], second["config_digest"]}


def test_arm64_from_a_multi_platform_base_and_docker_schema2(registry, base, models, home):
    out = build(models["path"], f"{registry.host}/team/arm:1", base["ref"], platform="linux/arm64")
    config = reg.skopeo_inspect(f"{registry.host}/team/arm:1", config=True, arch="arm64")
    assert config["architecture"] == "arm64"
    assert manifest(f"{registry.host}/team/arm:1")["layers"][0]["digest"] == base["layers"]["linux/arm64"][0]
    docker_base = reg.make_base_image(registry.host, "lib/dbase", "1", media="docker")
    out = build(models["path"], f"{registry.host}/team/docker:1", docker_base["ref"])
    m = manifest(f"{registry.host}/team/docker:1")
    assert m["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert m["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
    assert m["layers"][-1]["mediaType"] == "application/vnd.docker.image.rootfs.diff.tar.gzip"
    assert out["digest"] == reg.manifest_digest(f"{registry.host}/team/docker:1")


def test_base_from_another_registry_is_copied(registry_factory, models, home):
    source, dest = registry_factory("plain"), registry_factory("htpasswd")
    b = reg.make_base_image(source.host, "lib/base", "1")
    out = image.build(
        models["path"], f"{dest.host}/team/x:1", b["ref"], username="alice", password="s3cret",
        insecure_registry="true", insecure_base_registry="true", **NO_DEPS,
    )
    m = manifest(f"{dest.host}/team/x:1", creds=dest.creds("alice"))
    assert m["layers"][0]["digest"] == b["layers"]["linux/amd64"][0]
    assert out["uploaded_bytes"] > 0


def test_credentials_basic_token_docker_config(registry_factory, models, home, tmp_path, monkeypatch):
    basic = registry_factory("htpasswd", users={"alice": "s3cret", "tenancy-ns/oci-user": "auth-token"})
    b = reg.make_base_image(basic.host, "lib/base", "1", creds=basic.creds("alice"))
    build(models["path"], f"{basic.host}/team/x:1", b["ref"], username="alice", password="s3cret")
    # The key names every target's registry= takes; username/password above are their old spellings.
    build(models["path"], f"{basic.host}/team/x:3", b["ref"], registry_username="alice", registry_password="s3cret")
    with pytest.raises(MlflowException, match="are one key"):
        build(models["path"], f"{basic.host}/team/x:4", b["ref"], registry_username="alice", username="alice")
    # OCIR style: <namespace>/<user> with an auth token.
    build(models["path"], f"{basic.host}/tenancy-ns/x:1", b["ref"], username="tenancy-ns/oci-user", password="auth-token")
    with pytest.raises(MlflowException) as e:
        build(models["path"], f"{basic.host}/team/x:2", b["ref"], username="alice", password="wrong-pass")
    assert e.value.error_code == "UNAUTHENTICATED" and "wrong-pass" not in e.value.message

    # Bearer tokens, as ACR (service principal) and Docker Hub do it.
    token = registry_factory("token", permissions={"sp-app-id": {"*": ["pull", "push"]}, "reader": {"*": ["pull"]}},
                             users={"sp-app-id": "sp-secret", "reader": "r3ader"})
    tb = reg.make_base_image(token.host, "lib/base", "1", creds=token.creds("sp-app-id"))
    build(models["path"], f"{token.host}/team/x:1", tb["ref"], username="sp-app-id", password="sp-secret")
    assert any("repository:team/x:pull,push" in r["scopes"] for r in token.token_requests())
    with pytest.raises(MlflowException) as e:
        build(models["path"], f"{token.host}/team/y:1", tb["ref"], username="reader", password="r3ader")
    assert e.value.error_code == "PERMISSION_DENIED" and "r3ader" not in e.value.message
    assert ("team/y", "1") not in token.manifest_puts()

    # ~/.docker/config.json (DOCKER_CONFIG): the logins docker and skopeo use.
    auth = base64.b64encode(b"alice:s3cret").decode()
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "config.json").write_text(json.dumps({"auths": {basic.host: {"auth": auth}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    build(models["path"], f"{basic.host}/team/z:1", b["ref"])
    assert ("team/z", "1") in basic.manifest_puts()
    # An identity token (what `docker login` keeps for ACR and other OAuth2 registries): a refresh_token grant.
    (tmp_path / "docker" / "config.json").write_text(
        json.dumps({"auths": {token.host: {"auth": base64.b64encode(b"<token>:").decode(), "identitytoken": token.refresh_token("sp-app-id")}}})
    )
    build(models["path"], f"{token.host}/team/w:1", tb["ref"])
    assert ("team/w", "1") in token.manifest_puts()
    assert any(r.get("grant_type") == "refresh_token" for r in token.token_requests())


def test_ecr_password_from_get_authorization_token(registry_factory, aws, models, home):
    # moto's ECR hands out "AWS:123456789012-auth-token"; a registry that takes that login stands in for ECR.
    ecr = registry_factory("htpasswd", users={"AWS": "123456789012-auth-token"})
    b = reg.make_base_image(ecr.host, "lib/base", "1", creds="AWS:123456789012-auth-token")
    out = build(models["path"], f"{ecr.host}/churn:1", b["ref"], registry_auth="ecr", ecr_region="eu-west-1")
    assert ("churn", "1") in ecr.manifest_puts() and out["image"].startswith(f"{ecr.host}/churn@sha256:")


def test_tls_registry_with_a_test_ca(registry_factory, models, home):
    tls = registry_factory("htpasswd", tls=True)
    b = reg.make_base_image(tls.host, "lib/base", "1", **tls.client_options("alice"))
    with pytest.raises(MlflowException) as e:  # TLS is verified: the test CA is not trusted by default
        image.build(models["path"], f"{tls.host}/team/x:1", b["ref"], username="alice", password="s3cret", **NO_DEPS)
    assert e.value.error_code == "UNAUTHENTICATED", e.value.message
    image.build(models["path"], f"{tls.host}/team/x:1", b["ref"], username="alice", password="s3cret",
                ca_bundle=tls.ca_path, **NO_DEPS)
    assert ("team/x", "1") in tls.manifest_puts()


def test_a_dropped_connection_during_a_chunked_upload_is_survived(registry, base, home, tmp_path):
    model = tmp_path / "big-model"
    mlflow.pyfunc.save_model(str(model), python_model=_Echo())
    (model / "weights.bin").write_bytes(os.urandom(3 * 1024 * 1024))  # incompressible: 3 chunks of 1 MiB
    # Cut the first body over 200 kB: the server's layer (one PUT: its upload session is then gone, and the
    # upload starts over) or one of the model's 1 MiB chunks (the upload resumes where the registry stopped).
    proxy = registry.proxy(drop_after_bytes=200_000, times=1)
    out = build(str(model), f"{proxy}/team/big:1", f"{proxy}/{base['ref'].split('/', 1)[1]}", chunk_size_mb="1")
    assert proxy.cuts == 1
    assert reg.manifest_digest(f"{registry.host}/team/big:1") == out["digest"]


class _Echo(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input


def test_bad_input_is_clear_and_tags_nothing(registry, base, models, home, tmp_path):
    cases = [
        (dict(base_image=f"{registry.host}/lib/missing:1"), "RESOURCE_DOES_NOT_EXIST", "does not exist"),
        (dict(platform="linux/s390x"), "INVALID_PARAMETER_VALUE", "linux/amd64 and linux/arm64"),
        (dict(image="Not A Reference"), "INVALID_PARAMETER_VALUE", "image"),
    ]
    for extra, code, words in cases:
        config = {**NO_DEPS, "insecure_registry": "true", **extra}
        ref = config.pop("image", f"{registry.host}/team/bad:1")
        with pytest.raises(MlflowException) as e:
            image.build(models["path"], ref, config.pop("base_image", base["ref"]), **config)
        assert e.value.error_code == code and words in e.value.message, e.value.message
    single = reg.make_base_image(registry.host, "lib/armonly", "1", platforms=("linux/arm64",), index=True)
    with pytest.raises(MlflowException, match="has no linux/amd64 image"):
        build(models["path"], f"{registry.host}/team/bad:1", single["ref"])
    no_reqs = tmp_path / "no-reqs"
    mlflow.pyfunc.save_model(str(no_reqs), python_model=_Echo())
    os.remove(no_reqs / "requirements.txt")
    with pytest.raises(MlflowException, match="no requirements.txt"):
        build(str(no_reqs), f"{registry.host}/team/bad:1", base["ref"], install_dependencies="true")
    dead = f"127.0.0.1:{unused_port()}"  # a port nothing listens on
    with pytest.raises(MlflowException) as e:
        build(models["path"], f"{dead}/team/bad:1", f"{dead}/lib/base:1")
    assert e.value.error_code == "TEMPORARILY_UNAVAILABLE" and "unreachable" in e.value.message
    assert all(repo != "team/bad" for repo, _ in registry.manifest_puts())  # nothing was tagged


def test_cli(registry, base, models, home):
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "mlflow-bridge"), "image", "build", "-m", models["version1"],
         "--image", f"{registry.host}/team/cli:1", "--base-image", base["ref"], "--insecure-registry",
         "-C", "install_dependencies=false"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"{registry.host}/team/cli@{reg.manifest_digest(f'{registry.host}/team/cli:1')}"
    assert "Pushing" in proc.stderr  # progress
    bad = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "mlflow-bridge"), "image", "build", "-m", models["version1"],
         "--image", f"{registry.host}/team/cli:1", "-C", "colour=red"],
        capture_output=True, text=True, timeout=300,
    )
    assert bad.returncode == 1 and "colour" in bad.stderr


MODEL_CODE = '''
import mlflow


class Doubler(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return [2 * float(v) for v in model_input.iloc[:, 0]]


mlflow.models.set_model(Doubler())
'''


def test_dependencies_layer_serves_the_model_from_the_unpacked_image(registry, base, home, tmp_path):
    """pip installs the model's requirements into the image; the unpacked image then serves the model with a
    plain interpreter (Debian's python3, as the base's python3 would) and nothing else installed."""
    code = tmp_path / "doubler.py"
    code.write_text(MODEL_CODE)
    model = tmp_path / "doubler"
    mlflow.pyfunc.save_model(str(model), python_model=str(code),
                             pip_requirements=[f"mlflow-skinny=={mlflow.__version__}", "pandas"])
    ref = f"{registry.host}/team/doubler:1"
    out = image.build(str(model), ref, base["ref"], insecure_registry="true")
    assert [l["what"] for l in out["layers"]] == ["server", "dependencies", "model"]
    again = image.build(str(model), ref, base["ref"], insecure_registry="true")
    assert again["digest"] == out["digest"]

    rootfs, runtime = reg.pull_and_unpack(ref, tmp_path / "unpacked")
    assert os.path.isdir(os.path.join(rootfs, "opt/mlflow-bridge/site/mlflow"))
    with serving(rootfs, runtime, "/usr/bin/python3", tmp_path) as url:  # the image's entrypoint, on Debian's python3
        assert post(url + "/invocations", {"dataframe_split": {"columns": ["x"], "data": [[1.5], [4.0]]}}) == (
            200, {"predictions": [3.0, 8.0]})


@contextlib.contextmanager
def serving(rootfs, runtime, python, home):
    """Runs the unpacked image's entrypoint (the native server, its worker and the model from the rootfs) with
    `python` for the image's python3, on 127.0.0.1; yields its URL once /ping answers 200. Its output (the
    container's log) goes to <home>/server.log."""
    port = unused_port()
    server = reg.start_entrypoint(rootfs, runtime, python, port, home)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=60)


def post(url, payload, content_type="application/json"):
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_the_images_entrypoint_serves_every_platforms_routes(registry, base, models, home, tmp_path):
    """The image's own entrypoint, run as a plain process from the unpacked rootfs (this machine's python for the
    image's): MLflow's and SageMaker's /invocations and /ping (with the `serve` argument), Azure ML's /score, OCI's
    /predict and /health, and the Open Inference Protocol's health routes, all from the one server."""
    ref = f"{registry.host}/team/routes:1"
    build(models["version1"], ref, base["ref"])
    rootfs, runtime = reg.pull_and_unpack(ref, tmp_path / "unpacked")
    assert runtime["process"]["args"][-1] == "serve"
    rows = {"dataframe_split": {"columns": ["x1", "x2"], "data": [[1.0, 2.0], [3.0, 4.5]]}}
    with serving(rootfs, runtime, sys.executable, tmp_path) as url:
        for route in ("/invocations", "/score", "/predict"):
            status, body = post(url + route, rows)
            assert status == 200 and body["predictions"] == pytest.approx([3.0, 7.5]), (route, body)
        status, body = post(url + "/invocations", b"x1,x2\n1,1\n", "text/csv")
        assert status == 200 and body["predictions"] == pytest.approx([2.0])
        status, body = post(url + "/invocations", b"{not json")
        assert status == 400 and body["error_code"] == "BAD_REQUEST"
        for route in ("/ping", "/health", "/v2/health/live", "/v2/health/ready"):
            assert get(url + route) == 200, route


def test_the_native_servers_options_go_into_the_image(registry, base, models, home, tmp_path):
    """batching, max_queue, max_body_mb, access_log and prediction_log given to the build are the image's
    MLFLOW_BRIDGE_SERVE_* environment, and its server runs with them: the prediction log on the container's log."""
    ref = f"{registry.host}/team/options:1"
    build(models["version1"], ref, base["ref"], batching="false", max_queue="8", max_body_mb="1", access_log="false",
          prediction_log="-", prediction_log_rate="1")
    rootfs, runtime = reg.pull_and_unpack(ref, tmp_path / "unpacked")
    env = dict(e.split("=", 1) for e in runtime["process"]["env"])
    assert {k: v for k, v in env.items() if k.startswith("MLFLOW_BRIDGE_SERVE_")} == {
        "MLFLOW_BRIDGE_SERVE_BATCHING": "false", "MLFLOW_BRIDGE_SERVE_MAX_QUEUE": "8",
        "MLFLOW_BRIDGE_SERVE_MAX_BODY_MB": "1", "MLFLOW_BRIDGE_SERVE_ACCESS_LOG": "off",
        "MLFLOW_BRIDGE_SERVE_PREDICTION_LOG": "-", "MLFLOW_BRIDGE_SERVE_PREDICTION_LOG_RATE": "1"}
    rows = {"dataframe_split": {"columns": ["x1", "x2"], "data": [[1.0, 2.0]]}}
    with serving(rootfs, runtime, sys.executable, tmp_path) as url:
        status, body = post(url + "/predict", rows)
        assert status == 200 and body["predictions"] == pytest.approx([3.0])
        big = json.dumps({"dataframe_split": {"columns": ["x1", "x2"], "data": [[1.0, 2.0]] * 100000}}).encode()
        req = urllib.request.Request(url + "/invocations", data=big, headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as too_big:
            urllib.request.urlopen(req, timeout=60)
        assert too_big.value.code == 413
        metrics = urllib.request.urlopen(url + "/metrics", timeout=30).read().decode()
    output = (tmp_path / "server.log").read_text()
    logged = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert [(l["route"], l["status"]) for l in logged] == [("/predict", 200)]
    assert logged[0]["response"] == body
    assert "request_id=" not in output  # no access log
    assert "mlflow_bridge_serve_" in metrics


def test_server_mlflow_keeps_mlflows_scoring_server(registry, base, models, home, tmp_path):
    """-C server=mlflow: no server layer, and the entrypoint is MLflow's scoring server under uvicorn, as before."""
    ref = f"{registry.host}/team/uvicorn:1"
    out = build(models["version1"], ref, base["ref"], server="mlflow")
    assert [l["what"] for l in out["layers"]] == ["model"]
    run = reg.skopeo_inspect(ref, config=True)["config"]
    assert run["Entrypoint"][:2] == ["python3", "-c"] and "uvicorn" in run["Entrypoint"][2] and run["Cmd"] == ["serve"]
    assert run["Labels"]["mlflow-bridge.server"] == "mlflow"
    rootfs, runtime = reg.pull_and_unpack(ref, tmp_path / "unpacked")
    assert not os.path.exists(os.path.join(rootfs, "opt/mlflow-bridge/mlflow-bridge-serve"))
    port = unused_port()
    env = dict(e.split("=", 1) for e in runtime["process"]["env"])
    env.update(PATH="/usr/bin:/bin", HOME=str(tmp_path), MLFLOW_BRIDGE_PORT=str(port),
               __pyfunc_model_path__="file://" + os.path.join(rootfs, "opt/ml/model"))
    server = reg.start_server([sys.executable, *runtime["process"]["args"][1:]], env, port, tmp_path)
    try:
        status, body = post(f"http://127.0.0.1:{port}/invocations",
                            {"dataframe_split": {"columns": ["x1", "x2"], "data": [[1.0, 2.0]]}})
        assert status == 200 and body["predictions"] == pytest.approx([3.0])
    finally:
        server.terminate()
        server.wait(timeout=60)


def _with_python(model_dir, version, conda_only=False):
    """Makes the saved model at `model_dir` say it was logged with Python `version`."""
    if conda_only:
        os.remove(os.path.join(model_dir, "python_env.yaml"))
        with open(os.path.join(model_dir, "conda.yaml"), "w") as f:
            f.write(f"channels: [conda-forge]\ndependencies:\n- python={version}\n- pip\n- pip:\n  - python-dateutil==2.9.0\n")
    else:
        path = os.path.join(model_dir, "python_env.yaml")
        text = open(path).read()
        with open(path, "w") as f:
            f.write("\n".join(f"python: {version}" if l.startswith("python:") else l for l in text.splitlines()) + "\n")


def test_the_base_image_has_the_models_python(registry, home, tmp_path, monkeypatch):
    """The default base is the official Python image of the model's Python (python_env.yaml, else conda.yaml);
    MLFLOW_BRIDGE_BASE_IMAGE may name a mirror of them with {python}. A base with another Python is refused before
    anything is pushed, unless -C python_version says to build on it anyway."""
    for version in ("3.10", "3.12"):
        reg.make_base_image(registry.host, "library/python", f"{version}-slim", env={"PYTHON_VERSION": f"{version}.4"})
    monkeypatch.setenv("MLFLOW_BRIDGE_BASE_IMAGE", f"{registry.host}/library/python:{{python}}-slim")
    model = tmp_path / "py310"
    mlflow.pyfunc.save_model(str(model), python_model=_Echo())
    _with_python(str(model), "3.10.13")
    out = image.build(str(model), f"{registry.host}/team/py:1", insecure_registry="true", **NO_DEPS)
    assert out["base"].startswith(f"{registry.host}/library/python:3.10-slim@sha256:"), out["base"]
    env = dict(e.split("=", 1) for e in reg.skopeo_inspect(f"{registry.host}/team/py:1", config=True)["config"]["Env"])
    assert env["PYTHON_VERSION"] == "3.10.4"

    conda = tmp_path / "py312"
    mlflow.pyfunc.save_model(str(conda), python_model=_Echo())
    _with_python(str(conda), "3.12", conda_only=True)
    out = image.build(str(conda), f"{registry.host}/team/py:2", insecure_registry="true", **NO_DEPS)
    assert out["base"].startswith(f"{registry.host}/library/python:3.12-slim@sha256:"), out["base"]

    # The user's base has Python 3.11.9: refused, saying both versions and the ways out; nothing is pushed.
    other = reg.make_base_image(registry.host, "lib/base", "1")
    registry.mark()
    with pytest.raises(MlflowException) as e:
        image.build(str(model), f"{registry.host}/team/py:3", other["ref"], insecure_registry="true", **NO_DEPS)
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    for words in ("Python 3.10 (its python_env.yaml)", "the image's Python is 3.11", "python:3.10-slim",
                  "-C python_version=3.11"):
        assert words in e.value.message, e.value.message
    assert registry.blob_uploads() == [] and registry.manifest_puts() == []
    # Said on purpose: built, with a warning.
    out = image.build(str(model), f"{registry.host}/team/py:3", other["ref"], insecure_registry="true",
                      python_version="3.11", **NO_DEPS)
    assert out["base"].startswith(other["ref"])


def test_a_requirement_without_a_wheel_for_the_images_python_is_refused_before_any_push(registry, base, home, tmp_path):
    """docopt 0.6.2 exists only as a source archive: nothing can be installed into the image for it. The build
    stops, naming the requirement, the Python and the platform, and nothing reaches the registry."""
    model = tmp_path / "sdist-only"
    mlflow.pyfunc.save_model(str(model), python_model=_Echo(), pip_requirements=["docopt==0.6.2"])
    registry.mark()
    with pytest.raises(MlflowException) as e:
        image.build(str(model), f"{registry.host}/team/refused:1", base["ref"], insecure_registry="true")
    message = e.value.message
    assert e.value.error_code == "INVALID_PARAMETER_VALUE", message
    assert message.startswith("The model's requirements cannot be installed for Python 3.11 on linux/amd64: "
                              "the requirement 'docopt==0.6.2' has no wheel for it in any version"), message
    assert "Nothing was pushed" in message
    assert registry.blob_uploads() == [] and registry.manifest_puts() == []


def test_dependencies_are_resolved_for_the_target_platform(registry, base, home, tmp_path):
    """linux/arm64: pip picks aarch64 wheels (whatever this machine is), from the base's arm64 image."""
    model = tmp_path / "np-model"
    mlflow.pyfunc.save_model(str(model), python_model=_Echo(), pip_requirements=[f"mlflow-skinny=={mlflow.__version__}", "numpy"])
    ref = f"{registry.host}/team/arm-deps:1"
    out = image.build(str(model), ref, base["ref"], insecure_registry="true", platform="linux/arm64")
    assert [l["what"] for l in out["layers"]] == ["server", "dependencies", "model"]
    rootfs, _ = reg.pull_and_unpack(ref, tmp_path / "unpacked", arch="arm64")
    site = os.path.join(rootfs, "opt/mlflow-bridge/site")
    wheel = [d for d in os.listdir(site) if d.startswith("numpy-") and d.endswith(".dist-info")]
    tags = open(os.path.join(site, wheel[0], "WHEEL")).read()
    assert "aarch64" in tags and "x86_64" not in tags
    assert os.path.isdir(os.path.join(site, "mlflow"))
