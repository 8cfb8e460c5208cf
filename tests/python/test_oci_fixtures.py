"""The OCI fixtures (tests/python/oci_fixtures.py) checked with Oracle's own `oci` SDK only (no mlflow-bridge driver):
each credential source signs with the SDK's own signer and is accepted by the Data Science stand-in, a wrong
key is refused; the conda runtime stand-in (tests/servers/oci_conda_runtime.py) serves an artifact made by hand
from an MLflow model and our score.py behind a deployment; a bad artifact or image fails the deployment."""
import io
import json
import os
import sys
import zipfile

import pytest

oci = pytest.importorskip("oci")  # Oracle's SDK
import requests  # noqa: E402
from oci.data_science import models as m  # noqa: E402

from conftest import ROOT, ROWS, expected  # noqa: E402

NO_RETRY = dict(retry_strategy=oci.retry.NoneRetryStrategy())
SCORE_PY = os.path.join(ROOT, "python", "mlflow_bridge", "oci_score.py")
RUNTIME_YAML = f"""MODEL_ARTIFACT_VERSION: '3.0'
MODEL_DEPLOYMENT:
  INFERENCE_CONDA_ENV:
    INFERENCE_ENV_PATH: oci://conda-packs@standin/conda_environments/cpu/mlflow/1.0/mlflow_v1
    INFERENCE_ENV_SLUG: mlflow_v1
    INFERENCE_ENV_TYPE: published
    INFERENCE_PYTHON_VERSION: '{sys.version_info.major}.{sys.version_info.minor}'
"""


def client_for(ds, config, signer=None):
    """A Data Science client of the stand-in; without `signer`, the SDK's own from `config`."""
    kwargs = {"signer": signer} if signer is not None else {}
    return oci.data_science.DataScienceClient(config, service_endpoint=ds.url, **kwargs,
                                              circuit_breaker_strategy=oci.circuit_breaker.NoCircuitBreakerStrategy())


def status_of(call, *args):
    try:
        return call(*args, **NO_RETRY).status
    except oci.exceptions.ServiceError as e:
        return e.status


# ------------------------------------------------------------------------------ credentials
def test_oci_env_clears_the_machine_and_points_at_the_standin(oci_standin, oci_env):
    assert oci_env(oci_standin) is oci_standin
    assert os.environ["MLFLOW_BRIDGE_OCI_ENDPOINT"] == oci_standin.url
    assert not [k for k in os.environ if k.startswith("OCI_")]
    assert os.listdir(os.path.expanduser("~")) == []  # no ~/.oci/config to win over OCI_CONFIG_FILE


@pytest.mark.parametrize("profile", ["DEFAULT", "TEAM"])
def test_api_key_profiles(oci_standin, oci_api_key_config, oci_keys, monkeypatch, profile):
    ds = oci_standin
    cfg = oci_api_key_config(ds)
    monkeypatch.setenv("OCI_CONFIG_FILE", cfg.path)
    config = oci.config.from_file(profile_name=profile)  # ~/.oci/config absent: the SDK reads OCI_CONFIG_FILE
    oci.config.validate_config(config)
    user = cfg.user if profile == "DEFAULT" else cfg.team_user
    assert (config["tenancy"], config["user"], config["region"]) == (cfg.tenancy, user, "us-ashburn-1")
    assert config["fingerprint"] == cfg.keys[profile].fingerprint
    signer = oci.signer.Signer(config["tenancy"], config["user"], config["fingerprint"], config["key_file"])
    assert client_for(ds, config, signer).list_models(cfg.compartment).status == 200
    assert ds.requests[-1]["key_id"] == f"{cfg.tenancy}/{user}/{cfg.keys[profile].fingerprint}"

    wrong = oci.signer.Signer(config["tenancy"], config["user"], config["fingerprint"], oci_keys("wrong").private_path)
    assert status_of(client_for(ds, config, wrong).list_models, cfg.compartment) == 401
    assert "does not verify" in ds.auth_failures[-1]


def test_unregistered_api_key_is_401(oci_standin, oci_api_key_config):
    cfg = oci_api_key_config(oci_standin, register=False)
    config = oci.config.from_file(cfg.path)
    assert status_of(client_for(oci_standin, config).list_models, cfg.compartment) == 401
    assert "unknown keyId" in oci_standin.auth_failures[-1]


def test_session_token_profile(oci_standin, oci_session_profile, oci_keys):
    ds = oci_standin
    sp = oci_session_profile(ds)
    config = oci.config.from_file(sp.path, sp.profile)
    token = open(config["security_token_file"]).read()
    assert token == sp.token
    key = oci.signer.load_private_key_from_file(config["key_file"])
    signer = oci.auth.signers.SecurityTokenSigner(token, key)
    container = oci.auth.security_token_container.SecurityTokenContainer(None, token)
    assert container.valid_with_jitter() and container.get_jwt()["tenant"] == sp.tenancy
    assert client_for(ds, config, signer).list_models(sp.compartment).status == 200
    assert ds.requests[-1]["key_id"] == "ST$" + token

    wrong = oci.auth.signers.SecurityTokenSigner(token, oci_keys("wrong").private_key)
    assert status_of(client_for(ds, config, wrong).list_models, sp.compartment) == 401


def test_resource_principal(oci_standin, oci_resource_principal, oci_keys):
    ds = oci_standin
    rp = oci_resource_principal(ds, region="eu-frankfurt-1")
    assert os.environ["OCI_RESOURCE_PRINCIPAL_VERSION"] == "2.2"
    assert os.path.isabs(os.environ["OCI_RESOURCE_PRINCIPAL_RPST"])
    signer = oci.auth.signers.get_resource_principals_signer()  # from the environment, as in a job
    assert (signer.tenancy_id, signer.compartment_id, signer.region) == (rp.tenancy, rp.compartment, "eu-frankfurt-1")
    client = client_for(ds, {"region": signer.region}, signer)
    assert client.list_models(signer.compartment_id).status == 200
    assert ds.requests[-1]["key_id"] == "ST$" + rp.token

    wrong = oci.auth.signers.EphemeralResourcePrincipalSigner(session_token=rp.token_path,
                                                              private_key=oci_keys("wrong").private_path,
                                                              region=rp.region)
    assert status_of(client_for(ds, {"region": rp.region}, wrong).list_models, rp.compartment) == 401


# ------------------------------------------------------------------------------ the conda runtime
def artifact_zip(model_dir, runtime_yaml=RUNTIME_YAML, score=SCORE_PY):
    """The artifact the driver makes for runtime=conda, by hand: the MLflow model's files, score.py and
    runtime.yaml at the zip's root."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for root, _, files in os.walk(model_dir):
            for f in files:
                path = os.path.join(root, f)
                z.write(path, os.path.relpath(path, model_dir))
        if score:
            z.write(score, "score.py")
        if runtime_yaml:
            z.writestr("runtime.yaml", runtime_yaml)
    return out.getvalue()


def deploy(ds, client, compartment, project, artifact, env=None):
    """A model with `artifact` and a SINGLE_MODEL deployment of it; polls its work request to the end (each
    poll advances the stand-in one step). Returns (deployment, work request)."""
    model = client.create_model(m.CreateModelDetails(compartment_id=compartment, project_id=project)).data
    client.create_model_artifact(model.id, artifact, content_disposition='attachment; filename="model.zip"')
    details = m.CreateModelDeploymentDetails(
        display_name="md", project_id=project, compartment_id=compartment,
        model_deployment_configuration_details=m.SingleModelDeploymentConfigurationDetails(
            deployment_type="SINGLE_MODEL",
            model_configuration_details=m.ModelConfigurationDetails(
                model_id=model.id,
                instance_configuration=m.InstanceConfiguration(instance_shape_name="VM.Standard2.1"),
                scaling_policy=m.FixedSizeScalingPolicy(instance_count=1)),
            environment_configuration_details=env or m.DefaultModelDeploymentEnvironmentConfigurationDetails(
                environment_variables={"MODEL_NAME": "tiny"})))
    resp = client.create_model_deployment(details)
    for _ in range(50):
        wr = client.get_work_request(resp.headers["opc-work-request-id"]).data
        if wr.status in ("SUCCEEDED", "FAILED"):
            return client.get_model_deployment(resp.data.id).data, wr
    raise AssertionError(f"work request still {wr.status} after 50 polls")


@pytest.fixture
def api(oci_standin, oci_api_key_config, oci_env, oci_runtime):
    """(ds, client, config, signer, runtime): the stand-in with the DEFAULT API key profile and oci_runtime."""
    cfg = oci_api_key_config(oci_standin)
    oci_env(oci_standin)
    config = oci.config.from_file(cfg.path)
    signer = oci.signer.Signer(config["tenancy"], config["user"], config["fingerprint"], config["key_file"])
    return oci_standin, client_for(oci_standin, config, signer), cfg, signer, oci_runtime(oci_standin)


def test_conda_deployment_serves_the_mlflow_model(api, models):
    ds, client, cfg, signer, runtime = api
    md, wr = deploy(ds, client, cfg.compartment, cfg.project, artifact_zip(models["path"]))
    assert (wr.status, md.lifecycle_state) == ("SUCCEEDED", "ACTIVE")
    assert [(b["deployment"], b["kind"]) for b in runtime.backends] == [(md.id, "conda")]

    split = json.loads(ROWS.to_json(orient="split", index=False))
    r = requests.post(md.model_deployment_url + "/predict", json={"dataframe_split": split}, auth=signer, timeout=60)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json()["predictions"] == pytest.approx(expected(1.0))
    # a body that is not JSON reaches predict() as bytes: MLflow reads it as CSV
    r = requests.post(md.model_deployment_url + "/predict", data=ROWS.to_csv(index=False), auth=signer, timeout=60,
                      headers={"content-type": "text/csv"})
    assert r.status_code == 200 and r.json()["predictions"] == pytest.approx(expected(1.0))
    assert [x["status"] for x in ds.predict_log] == [200, 200]


def test_missing_runtime_yaml_fails_the_deployment(api, models):
    ds, client, cfg, signer, runtime = api
    md, wr = deploy(ds, client, cfg.compartment, cfg.project, artifact_zip(models["path"], runtime_yaml=None))
    assert (wr.status, md.lifecycle_state) == ("FAILED", "FAILED")
    message = client.list_work_request_errors(wr.id).data[0].message
    assert "runtime.yaml is missing from the root of the model artifact" in message
    assert message in md.lifecycle_details and runtime.backends == []


def test_conda_runtime_contract(tmp_path):
    """The runtime stand-in on its own, with a score.py without mlflow: JSON and raw bodies, score.py's exception
    as OCI's 500, /health, the deployment's environment variables, and the artifact checks."""
    import oci_conda_runtime as rt

    art = tmp_path / "artifact"
    art.mkdir()
    (art / "runtime.yaml").write_text(RUNTIME_YAML)
    (art / "score.py").write_text(
        "import os\n"
        "print('model loading')\n"
        "def load_model():\n"
        "    return os.environ['SCALE']\n"
        "def predict(data, model=load_model()):\n"
        "    if data == 'boom':\n"
        "        raise ValueError('boom in score.py')\n"
        "    return {'got': data if not isinstance(data, bytes) else data.decode() + ' (bytes)', 'scale': model}\n")
    with rt.CondaRuntime(art, env={"SCALE": "3"}) as runtime:
        assert requests.get(runtime.url + "/health", timeout=30).status_code == 200
        r = requests.post(runtime.predict_url, json={"a": [1, 2]}, timeout=30)
        assert (r.status_code, r.headers["content-type"]) == (200, "application/json")
        assert r.json() == {"got": {"a": [1, 2]}, "scale": "3"}
        assert requests.post(runtime.predict_url, data=b"x,y\n1,2", timeout=30).json()["got"] == "x,y\n1,2 (bytes)"
        r = requests.post(runtime.predict_url, json="boom", timeout=30)
        assert (r.status_code, r.json()) == (500, {"code": "InternalServerError", "message": "Internal Server Error."})
        assert "ValueError: boom in score.py" in runtime.log_text() and "model loading" in runtime.log_text()
    assert runtime.proc is None

    (art / "score.py").write_text("raise ImportError('no such pack')\n")
    with pytest.raises(RuntimeError, match="(?s)exited with code 1.*no such pack"):
        rt.CondaRuntime(art).start()
    for text, reason in [("MODEL_ARTIFACT_VERSION: '3.0'\n", "INFERENCE_CONDA_ENV is missing"),
                         (RUNTIME_YAML.replace(f"'{sys.version_info.major}.{sys.version_info.minor}'", "3.10"),
                          "INFERENCE_PYTHON_VERSION must be a string"),
                         (RUNTIME_YAML.replace("oci://", "https://"), "INFERENCE_ENV_PATH must be the oci:// URI")]:
        (art / "runtime.yaml").write_text(text)
        with pytest.raises(rt.ArtifactError, match=reason):
            rt.check_artifact(art)
    os.makedirs(art / "nested")
    os.rename(art / "runtime.yaml", art / "nested" / "runtime.yaml")
    with pytest.raises(rt.ArtifactError, match="found nested/runtime.yaml"):
        rt.check_artifact(art)


# ------------------------------------------------------------------------------ OCIR_CONTAINER
SERVE_SCRIPT = b"""#!/usr/bin/env python3
import argparse, json, os
from http.server import BaseHTTPRequestHandler, HTTPServer
p = argparse.ArgumentParser()
p.add_argument("--port", type=int)
p.add_argument("--host", default="0.0.0.0")
p.add_argument("--workers")
a = p.parse_args()
class H(BaseHTTPRequestHandler):
    def _send(self, obj):
        out = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    def do_GET(self):
        self._send({"status": "ok"})
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self._send({"path": self.path, "got": json.loads(body), "greeting": os.environ.get("GREETING")})
HTTPServer((a.host, a.port), H).serve_forever()
"""


def test_container_deployment_runs_the_image(api, registry):
    import registry as reg

    ds, client, cfg, signer, runtime = api
    image = reg.make_base_image(registry.host, "ns/echo", "1", files={"srv/serve.py": (SERVE_SCRIPT, 0o755)},
                                entrypoint=["/srv/serve.py"], cmd=["--host", "0.0.0.0", "--port", "8080"])
    env = m.OcirModelDeploymentEnvironmentConfigurationDetails(
        image=image["ref"], image_digest=image["digest"], server_port=8080, health_check_port=8080,
        environment_variables={"GREETING": "hello"})
    md, wr = deploy(ds, client, cfg.compartment, cfg.project, b"PK\x05\x06" + bytes(18), env=env)
    assert (wr.status, md.lifecycle_state) == ("SUCCEEDED", "ACTIVE"), md.lifecycle_details
    assert [b["kind"] for b in runtime.backends] == ["container"]
    r = requests.post(md.model_deployment_url + "/predict", json={"x": 1}, auth=signer, timeout=60)
    assert r.status_code == 200 and r.json() == {"path": "/predict", "got": {"x": 1}, "greeting": "hello"}

    # the deployment's cmd replaces the image's (its entrypoint stays), and names the port
    env.cmd, env.server_port, env.health_check_port = ["--port", "9000"], 9000, 9000
    md, wr = deploy(ds, client, cfg.compartment, cfg.project, b"PK\x05\x06" + bytes(18), env=env)
    assert (wr.status, md.lifecycle_state) == ("SUCCEEDED", "ACTIVE"), md.lifecycle_details
    r = requests.post(md.model_deployment_url + "/predict", json={"x": 2}, auth=signer, timeout=60)
    assert r.status_code == 200 and r.json()["got"] == {"x": 2}
    assert [b["kind"] for b in runtime.backends] == ["container", "container"]

    # a serverPort the image's server does not listen on fails the deployment, with the reason
    env.cmd, env.server_port, env.health_check_port = None, 5000, 5000
    md, wr = deploy(ds, client, cfg.compartment, cfg.project, b"PK\x05\x06" + bytes(18), env=env)
    assert md.lifecycle_state == "FAILED" and "listens on port 8080, the deployment's serverPort is 5000" in \
        client.list_work_request_errors(wr.id).data[0].message
