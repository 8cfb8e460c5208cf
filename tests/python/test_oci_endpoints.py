"""The oci-endpoints target end to end: MLflow's CLI and get_deploy_client against the OCI Data Science stand-in
(tests/servers/oci_datascience.py, every request's signature checked), with real model servers behind the
deployments (oci_fixtures.oci_runtime: our score.py in the conda runtime stand-in, our image run as OCI runs a
container), and Oracle's own `oci` SDK reading back what the driver made."""
import io
import json
import os
import types
import zipfile

import numpy as np
import oci
import pandas as pd
import pytest
from conftest import ROWS, cli, cli_process, expected, run_local
from mlflow.deployments import get_deploy_client
from mlflow.exceptions import MlflowException

FAST = {"poll_interval_seconds": "0.01"}
PACK = "oci://conda-packs@tenancyns/cpu/mlflow/1.0/mlflow_v1_0"


@pytest.fixture
def oci_setup(oci_standin, oci_env, oci_api_key_config, oci_runtime, monkeypatch, home):
    """The stand-in, an API key profile (OCI_CONFIG_FILE) registered on it, the driver pointed at it, and a model
    server behind every deployment that becomes ACTIVE."""
    ds = oci_env(oci_standin)
    cfg = oci_api_key_config(ds)
    monkeypatch.setenv("OCI_CONFIG_FILE", cfg.path)
    runtime = oci_runtime(ds)
    sdk = oci.data_science.DataScienceClient(
        oci.config.from_file(cfg.path), service_endpoint=ds.url,
        circuit_breaker_strategy=oci.circuit_breaker.NoCircuitBreakerStrategy())
    return types.SimpleNamespace(ds=ds, cfg=cfg, runtime=runtime, sdk=sdk, target=f"oci-endpoints:/{cfg.region}",
                                 where=["-C", f"compartment_id={cfg.compartment}", "-C", f"project_id={cfg.project}"])


def conda_config(o, **more):
    return dict({"compartment_id": o.cfg.compartment, "project_id": o.cfg.project, "runtime": "conda",
                 "conda_pack": PACK, "python_version": "3.11"}, **FAST, **more)


def options(config):
    return [arg for k, v in config.items() for arg in ("-C", f"{k}={v}")]


def deployments(o, **filters):
    """What the stand-in holds, read with Oracle's SDK: every model deployment not DELETED."""
    found = oci.pagination.list_call_get_all_results(o.sdk.list_model_deployments, compartment_id=o.cfg.compartment,
                                                     **filters).data
    return [d for d in found if d.lifecycle_state != "DELETED"]


def models_left(o):
    found = oci.pagination.list_call_get_all_results(o.sdk.list_models, compartment_id=o.cfg.compartment).data
    return [m for m in found if m.lifecycle_state != "DELETED"]


def creates(o):
    return [r for r in o.ds.requests if r["operation"] in ("create_model", "create_model_deployment")]


def test_conda_runtime_through_the_cli(oci_setup, models, tmp_path):
    """oci-mlflow's deploy-config-file (conda template) through every `mlflow deployments` command: the model is
    uploaded with our score.py and runtime.yaml, the conda runtime serves MLflow's answers, update swaps in the
    new model, delete removes the deployment and its models; Oracle's SDK reads back what the driver made."""
    o = oci_setup
    log_group, log = "ocid1.loggroup.oc1.iad.aaaagroup", "ocid1.log.oc1.iad.aaaalog"
    spec = tmp_path / "deployment_specification.yaml"
    spec.write_text(f"""kind: deployment
spec:
  infrastructure:
    kind: infrastructure
    type: modelDeployment
    spec:
      logGroupId: {log_group}
      logId: {log}
      projectId: {o.cfg.project}
      compartmentId: {o.cfg.compartment}
      shapeName: VM.Standard.E4.Flex
      shapeConfigDetails:
        memoryInGBs: 32
        ocpus: 2
      replica: 1
      bandwidthMbps: 20
      webConcurrency: 2
  runtime:
    kind: runtime
    type: conda
    spec:
      uri: {PACK}
      pythonVersion: "3.10"
""")
    out = cli("create", "-t", o.target, "--name", "churn", "-m", models["version1"], "--config",
              f"deploy-config-file={spec}", *options(FAST)).stdout
    assert "churn" in out

    [dep] = deployments(o, display_name="churn")
    assert dep.lifecycle_state == "ACTIVE"
    assert dep.freeform_tags["managed-by"] == "mlflow-bridge" and dep.freeform_tags["mlflow-deployment"] == "churn"
    full = o.sdk.get_model_deployment(dep.id).data
    mc = full.model_deployment_configuration_details.model_configuration_details
    assert mc.instance_configuration.instance_shape_name == "VM.Standard.E4.Flex"
    shape = mc.instance_configuration.model_deployment_instance_shape_config_details
    assert (shape.ocpus, shape.memory_in_gbs) == (2, 32)
    assert mc.scaling_policy.instance_count == 1 and mc.bandwidth_mbps == 20
    env = full.model_deployment_configuration_details.environment_configuration_details
    assert env.environment_configuration_type == "DEFAULT"
    assert env.environment_variables == {"WEB_CONCURRENCY": "2"}
    assert full.category_log_details.access.log_id == log and full.category_log_details.predict.log_group_id == log_group
    model = o.sdk.get_model(mc.model_id).data
    assert model.freeform_tags["mlflow_model_uri"] == models["version1"] and model.project_id == o.cfg.project
    artifact = zipfile.ZipFile(io.BytesIO(o.sdk.get_model_artifact_content(mc.model_id).data.content))
    names = artifact.namelist()
    assert {"MLmodel", "score.py", "runtime.yaml"} <= set(names) and not any(n.startswith("model/") for n in names)
    runtime_yaml = artifact.read("runtime.yaml").decode()
    assert PACK in runtime_yaml and "INFERENCE_PYTHON_VERSION: '3.10'" in runtime_yaml

    helped = cli("help", "-t", "oci-endpoints").stdout
    assert "oci-endpoints:/<region>" in helped and "conda_slug" in helped and "deploy-config-file" in helped

    got = cli("get", "-t", o.target, "--name", "churn").stdout
    assert "state: ACTIVE" in got and dep.id in got and "runtime: conda" in got
    assert f"'id': '{dep.id}'" in cli("list", "-t", o.target).stdout

    (tmp_path / "in.json").write_text(ROWS.to_json(orient="records"))
    out_path = tmp_path / "out.json"
    cli("predict", "-t", o.target, "--name", "churn", "--input-path", str(tmp_path / "in.json"), "--output-path",
        str(out_path))
    assert json.loads(out_path.read_text())["predictions"] == pytest.approx(expected(1.0))
    assert o.runtime.backends[-1]["kind"] == "conda"

    # The new model replaces the old with one PUT (the same deploy-config-file given again, as oci-mlflow's users
    # do); the old model, ours, is deleted; the pack is kept.
    cli("update", "-t", o.target, "--name", "churn", "-m", models["version2"], "--config", f"deploy-config-file={spec}",
        *options(FAST))
    cli("predict", "-t", o.target, "--name", "churn", "--input-path", str(tmp_path / "in.json"), "--output-path",
        str(out_path))
    assert json.loads(out_path.read_text())["predictions"] == pytest.approx(expected(2.0))
    [dep2] = deployments(o)
    assert dep2.id == dep.id
    assert [m.id for m in models_left(o)] != [mc.model_id] and len(models_left(o)) == 1
    updates = [r for r in o.ds.requests if r["operation"] == "update_model_deployment"]
    assert len(updates) == 1

    cli_process("delete", "-t", o.target, "--name", "churn", "-C", "poll_interval_seconds=0.01")
    assert deployments(o) == [] and models_left(o) == []
    assert "churn" not in cli("list", "-t", o.target).stdout


def test_container_runtime_with_a_session_token(oci_standin, oci_env, oci_session_profile, oci_runtime, monkeypatch,
                                                 home, models, registry_factory, capfd, tmp_path):
    """runtime=container: the model's image built without docker, pushed with an OCIR-style login (<namespace>/<user>
    and an auth token), and served by mlflow-bridge-serve on /predict and /health (serverPort = healthCheckPort);
    signed with a session token profile (-C profile=), through get_deploy_client."""
    import registry as reg

    user, token = "tenancyns/alice@example.com", "auth-token-3f9a"
    registry = registry_factory("htpasswd", users={user: token})
    ds = oci_env(oci_standin)
    session = oci_session_profile(ds)
    monkeypatch.setenv("OCI_CONFIG_FILE", session.path)
    runtime = oci_runtime(ds, pull_creds=f"{user}:{token}")
    base = reg.make_base_image(registry.host, "lib/base", "1", creds=f"{user}:{token}")
    client = get_deploy_client(f"oci-endpoints:/{session.region}")
    config = dict(FAST, compartment_id=session.compartment, project_id=session.project, profile=session.profile,
                  runtime="container", registry=f"{registry.host}/tenancyns/churn", insecure_registry="true",
                  registry_username=user, registry_password=token, install_dependencies="false",
                  base_image=base["ref"])
    created = client.create_deployment("churn-image", models["version1"], config=config)
    assert created["name"] == "churn-image" and created["runtime"] == "container"
    assert created["image"] == f"{registry.host}/tenancyns/churn:churn-image"
    assert created["image_digest"].startswith("sha256:")
    assert all(r["key_id"].startswith("ST$") for r in ds.requests)
    dep = ds.deployment(created["id"])
    env = dep["modelDeploymentConfigurationDetails"]["environmentConfigurationDetails"]
    assert env["serverPort"] == env["healthCheckPort"] == 8080
    assert runtime.backends[-1]["kind"] == "container"

    monkeypatch.setenv("OCI_CLI_PROFILE", session.profile)  # get/list/predict take no config
    answer = client.predict("churn-image", ROWS)
    assert list(answer["predictions"]) == pytest.approx(expected(1.0))
    target = f"oci-endpoints:/{session.region}"
    assert "runtime: container" in cli("get", "-t", target, "--name", "churn-image").stdout
    (tmp_path / "in.json").write_text(ROWS.to_json(orient="records"))
    printed = cli("predict", "-t", target, "--name", "churn-image", "--input-path", str(tmp_path / "in.json")).stdout
    assert json.loads(printed.strip().splitlines()[-1])["predictions"] == pytest.approx(expected(1.0))
    assert client.get_deployment(created["id"])["name"] == "churn-image"  # by OCID too
    client.delete_deployment("churn-image", config=FAST)
    assert client.list_deployments() == []
    printed = capfd.readouterr()
    assert "Building the model's image" in printed.err
    assert token not in printed.out + printed.err and session.token not in printed.out + printed.err


def test_resource_principal_and_the_team_profile(oci_standin, oci_env, oci_api_key_config, oci_resource_principal,
                                                 oci_runtime, monkeypatch, home, models):
    """A notebook session's resource principal (OCI_RESOURCE_PRINCIPAL_*; compartment and project from
    NB_SESSION_COMPARTMENT_OCID and PROJECT_OCID), and a config profile that inherits [DEFAULT]."""
    ds = oci_env(oci_standin)
    oci_runtime(ds)
    principal = oci_resource_principal(ds)
    monkeypatch.setenv("NB_SESSION_COMPARTMENT_OCID", principal.compartment)
    monkeypatch.setenv("PROJECT_OCID", principal.project)
    # A service conda pack by its slug: its path and Python from the service packs' index, as ADS reads it.
    index = {"service_packs": [
        {"slug": "generalml_p311_cpu_x86_64_v1", "python": "3.11",
         "pack_path": "oci://service-conda-packs@id19sfcrra6z/service_pack/cpu/General_Machine_Learning_for_CPUs_on_"
                      "Python_3.11/1.0/generalml_p311_cpu_x86_64_v1"},
        {"slug": "pytorch21_p39_gpu_v1", "python": "3.9",
         "pack_path": "oci://service-conda-packs@id19sfcrra6z/service_pack/gpu/PyTorch_2.1/1.0/pytorch21_p39_gpu_v1"}]}
    ds.put_object("id19sfcrra6z", "service-conda-packs", "service_pack/index.json", json.dumps(index).encode())
    client = get_deploy_client("oci-endpoints")  # the region of the resource principal
    with pytest.raises(MlflowException, match="No service conda pack has the slug 'generalml_p99'.*pytorch21_p39_gpu_v1"):
        client.create_deployment("nb", models["version1"], config=dict(FAST, conda_slug="generalml_p99"))
    d = client.create_deployment("nb", models["version1"], config=dict(FAST, conda_slug="generalml_p311_cpu_x86_64_v1"))
    assert d["compartment_id"] == principal.compartment and d["state"] == "ACTIVE" and d["runtime"] == "conda"
    artifact = zipfile.ZipFile(io.BytesIO(ds.artifact(d["model_id"])))
    runtime_yaml = artifact.read("runtime.yaml").decode()
    assert index["service_packs"][0]["pack_path"] in runtime_yaml and "INFERENCE_ENV_TYPE: data_science" in runtime_yaml
    assert "INFERENCE_ENV_SLUG: generalml_p311_cpu_x86_64_v1" in runtime_yaml
    assert "INFERENCE_PYTHON_VERSION: '3.11'" in runtime_yaml
    assert list(client.predict("nb", ROWS)["predictions"]) == pytest.approx(expected(1.0))
    assert "'name': 'nb'" in cli("list", "-t", "oci-endpoints").stdout
    assert all(r["key_id"] == "ST$" + principal.token for r in ds.requests)
    client.delete_deployment("nb", config=FAST)

    for name in [n for n in list(os.environ) if n.startswith("OCI_RESOURCE_PRINCIPAL")]:
        monkeypatch.delenv(name)
    cfg = oci_api_key_config(ds)
    monkeypatch.setenv("OCI_CONFIG_FILE", cfg.path)
    monkeypatch.setenv("NB_SESSION_COMPARTMENT_OCID", cfg.compartment)
    team = get_deploy_client(f"oci-endpoints:/{cfg.region}")
    team.create_deployment("team", models["version1"], config=dict(
        FAST, profile="TEAM", project_id=cfg.project, runtime="conda", conda_pack=PACK, python_version="3.11"))
    assert {r["key_id"].split("/")[1] for r in ds.requests if "/" in r["key_id"]} == {cfg.team_user}
    monkeypatch.setenv("OCI_CLI_PROFILE", "TEAM")
    assert [d["name"] for d in team.list_deployments()] == ["team"]
    team.delete_deployment("team", config=FAST)


def test_update_settings_and_activation(oci_setup, models):
    """update without a model: instance count and environment in one PUT (if-match the etag just read);
    -C active=false deactivates (predict is refused, saying how to activate), active=true activates."""
    o = oci_setup
    client = get_deploy_client(o.target)
    client.create_deployment("upd", models["version1"], config=conda_config(o))
    d = client.update_deployment("upd", config=dict(FAST, instance_count="2", env='{"OMP_NUM_THREADS": "1"}'))
    assert d["instance_count"] == 2
    dep = o.ds.deployment(d["id"])
    assert dep["modelDeploymentConfigurationDetails"]["environmentConfigurationDetails"]["environmentVariables"] == {
        "OMP_NUM_THREADS": "1"}
    assert len([r for r in o.ds.requests if r["operation"] == "create_model"]) == 1  # no new model

    assert client.update_deployment("upd", config=dict(FAST, active="false"))["state"] == "INACTIVE"
    with pytest.raises(MlflowException, match="INACTIVE.*active=true"):
        client.predict("upd", ROWS)
    assert client.update_deployment("upd", config=dict(FAST, active="true"))["state"] == "ACTIVE"
    assert list(client.predict("upd", ROWS)["predictions"]) == pytest.approx(expected(1.0))
    with pytest.raises(MlflowException, match="'subnet_id' cannot change"):
        client.update_deployment("upd", config={"subnet_id": "ocid1.subnet.oc1.iad.aaaasubnet"})
    client.delete_deployment("upd", config=FAST)


def test_predict_splits_large_inputs_and_retries_429(oci_setup, models):
    """Inputs over the predict endpoint's 10 MB are split by rows and answered in order; a 429 (bandwidth) is
    sent again."""
    o = oci_setup
    client = get_deploy_client(o.target)
    d = client.create_deployment("big", models["version1"], config=conda_config(o))
    rows = pd.DataFrame({"x1": np.arange(400_000, dtype=float) / 7.0, "x2": np.ones(400_000) / 3.0})
    before = len(o.ds.predict_log)
    answer = client.predict("big", rows)
    assert len(answer["predictions"]) == 400_000
    assert answer["predictions"][-1] == pytest.approx(rows["x1"].iloc[-1] + rows["x2"].iloc[-1])
    assert len(o.ds.predict_log) - before >= 2
    o.ds.throttle_predict(d["id"], times=1, retry_after=0)
    assert list(client.predict("big", ROWS)["predictions"]) == pytest.approx(expected(1.0))
    assert [r["status"] for r in o.ds.requests if r["operation"] == "predict"][-2:] == [429, 200]
    with pytest.raises(MlflowException, match="rejected the input"):
        client.predict("big", pd.DataFrame({"nope": ["a"]}))
    client.delete_deployment("big", config=FAST)


def test_run_local(oci_setup, models):
    """run-local serves the model on this machine, as every target's does."""
    import requests

    with run_local(oci_setup.target, models["version1"]) as (port, _):
        r = requests.post(f"http://127.0.0.1:{port}/invocations", json={"dataframe_split": ROWS.to_dict(orient="split")})
        assert r.json()["predictions"] == pytest.approx(expected(1.0))


def test_bad_input_changes_nothing(oci_setup, models, tmp_path):
    o = oci_setup
    run = cli("create", "-t", "oci-endpoints:/US_EAST", "--name", "x", "-m", models["version1"], check=False)
    assert run.returncode != 0 and "oci-endpoints:/<region>" in run.stderr
    no_compartment = ["-C", f"project_id={o.cfg.project}", "-C", "runtime=conda", "-C", f"conda_pack={PACK}",
                      "-C", "python_version=3.11"]
    # No compartment at all: the root compartment of the tenancy is where it would go, and a missing project says so.
    run = cli("create", "-t", o.target, "--name", "x", "-m", models["version1"], "-C", "runtime=conda", check=False)
    assert "project_id" in run.stderr
    run = cli("create", "-t", o.target, "--name", "x", "-m", models["version1"], *no_compartment,
              "-C", "compartment_id=ocid1.bucket.oc1..x", check=False)
    assert "compartment_id" in run.stderr
    run = cli("create", "-t", o.target, "--name", "x", "-m", models["version1"], *o.where, "-C", "shapes=VM", check=False)
    assert "shapes" in run.stderr and "shape" in run.stderr.split("shapes", 1)[1]
    spec = tmp_path / "job.yaml"
    spec.write_text("kind: job\nspec: {}\n")
    run = cli("create", "-t", o.target, "--name", "x", "-m", models["version1"], "-C", f"deploy-config-file={spec}",
              check=False)
    assert "kind" in run.stderr and "deployment" in run.stderr
    run = cli("create", "-t", o.target, "--name", "x", "-m", models["version1"], *o.where, check=False)
    assert "runtime" in run.stderr
    assert creates(o) == [] and deployments(o) == [] and models_left(o) == []


def test_failures_report_why_and_leave_nothing(oci_setup, models, oci_keys, monkeypatch):
    """A work request that FAILED: its errors and log messages in the message, the deployment and the model
    deleted. A work request that does not finish in time: DEADLINE_EXCEEDED, nothing left. A throttled create
    (429) is retried with the same opc-retry-token. A wrong key: OCI's 401 explained, nothing made."""
    o = oci_setup
    client = get_deploy_client(o.target)
    o.ds.script("create", ["CREATING", "FAILED"], target="bad",
                errors=[{"code": "ImagePullFailed", "message": "The model server did not start: no module sklearn"}],
                logs=["Instance 1 of 1 failed its health check."])
    with pytest.raises(MlflowException) as e:
        client.create_deployment("bad", models["version1"], config=conda_config(o))
    message = str(e.value)
    assert "no module sklearn" in message and "failed its health check" in message
    assert "Nothing was left behind" in message
    assert deployments(o) == [] and models_left(o) == []

    # Still CREATING after 1 s (300 polls at 10 ms take longer): the rollback waits for the create to end (OCI
    # deletes nothing while it runs), then deletes it.
    o.ds.script("create", ["CREATING"] * 300 + ["ACTIVE"], target="slow")
    with pytest.raises(MlflowException, match="did not finish within 1 s") as e:
        client.create_deployment("slow", models["version1"], config=conda_config(o, timeout_seconds="1"))
    assert "Nothing was left behind" in str(e.value)
    assert deployments(o) == [] and models_left(o) == []

    o.ds.inject_fault("create_model_deployment", 429, retry_after=0)
    d = client.create_deployment("busy", models["version1"], config=conda_config(o))
    tokens = [r for r in o.ds.requests if r["operation"] == "create_model_deployment"][-2:]
    assert [r["status"] for r in tokens] == [429, 200]
    assert len(deployments(o)) == 1 and d["state"] == "ACTIVE"
    client.delete_deployment("busy", config=FAST)

    stranger = oci_keys("stranger")
    config = open(o.cfg.path).read().replace(o.cfg.keys["DEFAULT"].private_path, stranger.private_path)
    bad_config = o.cfg.path + ".wrong"
    with open(bad_config, "w") as f:
        f.write(config)
    monkeypatch.setenv("OCI_CONFIG_FILE", bad_config)
    before = len(creates(o))
    with pytest.raises(MlflowException, match="NotAuthenticated") as e:
        client.create_deployment("nope", models["version1"], config=conda_config(o))
    assert "key_file" in str(e.value) and stranger.private_pem not in str(e.value)
    assert len([r for r in creates(o)[before:] if r["status"] == 200]) == 0
    assert deployments(o) == [] and models_left(o) == []


def test_what_others_made_is_left_alone(oci_setup, models):
    """A deployment made with Oracle's SDK (no managed-by tag) of the same name is not ours: not listed, not found
    by name, refused by OCID; ours of that name is made beside it."""
    o = oci_setup
    m = oci.data_science.models
    model = o.sdk.create_model(m.CreateModelDetails(compartment_id=o.cfg.compartment, project_id=o.cfg.project,
                                                    display_name="theirs")).data
    o.sdk.create_model_artifact(model.id, b"PK\x05\x06" + b"\0" * 18, content_disposition='attachment; filename="a.zip"')
    theirs = o.sdk.create_model_deployment(m.CreateModelDeploymentDetails(
        display_name="shared", compartment_id=o.cfg.compartment, project_id=o.cfg.project,
        model_deployment_configuration_details=m.SingleModelDeploymentConfigurationDetails(
            deployment_type="SINGLE_MODEL", model_configuration_details=m.ModelConfigurationDetails(
                model_id=model.id, instance_configuration=m.InstanceConfiguration(instance_shape_name="VM.Standard2.1"))))
    ).data
    o.ds.on_deployment_active = None
    o.ds.page_size = 1  # lists come a deployment a page: the driver follows opc-next-page
    client = get_deploy_client(o.target)
    assert client.list_deployments() == []
    with pytest.raises(MlflowException, match="No model deployment named 'shared'"):
        client.get_deployment("shared")
    with pytest.raises(MlflowException, match="not made by mlflow-bridge"):
        client.delete_deployment(theirs.id)
    assert o.ds.deployment(theirs.id)["lifecycleState"] != "DELETED"
    client.create_deployment("shared", models["version1"], config=conda_config(o))
    assert [d["name"] for d in client.list_deployments()] == ["shared"]
    assert any("page=" in r["query"] for r in o.ds.requests if r["operation"] == "list_model_deployments")
    client.delete_deployment("shared", config=FAST)
    assert [d.id for d in deployments(o)] == [theirs.id]
