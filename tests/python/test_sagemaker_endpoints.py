"""Target `sagemaker-endpoints` end to end against moto (tests/servers/moto_sagemaker.py)."""

import io
import json
import tarfile

import boto3
import moto_sagemaker
import mlflow
import pandas as pd
import pytest
import requests
from conftest import ROWS, cli, cli_process, run_local
from mlflow.deployments import get_deploy_client
from mlflow.exceptions import MlflowException
from mlflow_bridge import _payload

REGION = "eu-west-1"
TARGET = f"sagemaker-endpoints:/{REGION}"
ACCOUNT = "123456789012"
BUCKET = f"mlflow-sagemaker-{REGION}-{ACCOUNT}"
BASE = {
    "execution_role_arn": f"arn:aws:iam::{ACCOUNT}:role/sagemaker",
    "image_url": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/mlflow-pyfunc:test",
    "poll_interval_seconds": "0.01",
}


@pytest.fixture
def sm(aws):
    return boto3.client("sagemaker", region_name=REGION)


@pytest.fixture
def s3(aws):
    return boto3.client("s3", region_name=REGION)


@pytest.fixture
def client(aws, home, models):
    return get_deploy_client(TARGET)


def config(**extra):
    return {**BASE, **extra}


def resources(sm, s3):
    """Everything that exists in SageMaker and our bucket."""
    objects = []
    if BUCKET in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        objects = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    return {
        "endpoints": [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]],
        "configs": [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]],
        "models": [m["ModelName"] for m in sm.list_models()["Models"]],
        "objects": objects,
    }


def test_create_get_list_delete(client, models, sm, s3):
    info = client.create_deployment("churn", models["version1"], config=config(tags={"team": "risk"}))
    assert info["name"] == "churn" and info["status"] == "InService"
    assert info["model_uri"] == models["version1"] and info["run_id"] == models["run_id1"]

    endpoint = sm.describe_endpoint(EndpointName="churn")
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=endpoint["EndpointArn"])["Tags"]}
    assert tags["app.kubernetes.io/managed-by"] == "mlflow-bridge" and tags["team"] == "risk"
    cfg = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    [variant] = cfg["ProductionVariants"]
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.m4.xlarge", 1)
    model = sm.describe_model(ModelName=variant["ModelName"])
    container = model["PrimaryContainer"]
    assert container["Image"] == BASE["image_url"]
    assert container["Environment"]["MLFLOW_DEPLOYMENT_FLAVOR_NAME"] == "python_function"
    assert container["ModelDataUrl"] == f"s3://{BUCKET}/{variant['ModelName']}/model.tar.gz"
    archive = s3.get_object(Bucket=BUCKET, Key=f"{variant['ModelName']}/model.tar.gz")["Body"].read()
    names = tarfile.open(fileobj=io.BytesIO(archive)).getnames()
    assert "MLmodel" in names  # the model folder's entries at the archive root, as SageMaker expects

    assert client.get_deployment("churn")["status"] == "InService"
    assert [d["name"] for d in client.list_deployments()] == ["churn"]

    client.delete_deployment("churn")
    assert resources(sm, s3) == {"endpoints": [], "configs": [], "models": [], "objects": []}
    client.delete_deployment("churn")  # idempotent


def test_list_pages_and_shows_only_ours(client, models, sm):
    sm.create_model(ModelName="m", ExecutionRoleArn=BASE["execution_role_arn"], PrimaryContainer={"Image": "i"})
    sm.create_endpoint_config(
        EndpointConfigName="c",
        ProductionVariants=[{"VariantName": "v", "ModelName": "m", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}],
    )
    ours = [f"ours-{i:03d}" for i in range(103)]
    for name in ours:
        sm.create_endpoint(
            EndpointName=name, EndpointConfigName="c", Tags=[{"Key": "app.kubernetes.io/managed-by", "Value": "mlflow-bridge"}]
        )
    for name in ("someone-else-1", "someone-else-2"):
        sm.create_endpoint(EndpointName=name, EndpointConfigName="c")
    assert sorted(d["name"] for d in client.list_deployments()) == ours


def test_update_replace_and_add(client, models, sm, s3):
    client.create_deployment("churn", models["version1"], config=config())
    first = resources(sm, s3)

    replaced = client.update_deployment("churn", models["version2"], config=config())
    assert replaced["model_uri"] == models["version2"] and replaced["status"] == "InService"
    now = resources(sm, s3)
    assert len(now["models"]) == 1 and now["models"] != first["models"]  # the old model is gone
    assert now["configs"] != first["configs"] and len(now["configs"]) == 1
    assert len(now["objects"]) == 1 and now["objects"] != first["objects"]

    added = client.update_deployment("churn", models["version1"], config=config(mode="add", variant_name="challenger"))
    weights = {v["name"]: v["weight"] for v in added["variants"]}
    assert set(weights) == {now["models"][0], "challenger"}
    assert weights["challenger"] == 0
    assert len(resources(sm, s3)["models"]) == 2


def test_predict_including_a_payload_over_6_mb(client, models, aws):
    client.create_deployment("churn", models["version1"], config=config())
    aws.queue_invoke_results(REGION, [{"Body": '{"predictions": [1.5, 3.0, 7.0]}', "ContentType": "application/json"}])
    assert client.predict("churn", ROWS)["predictions"] == [1.5, 3.0, 7.0]

    big = pd.DataFrame({"x1": [float(i) for i in range(400_000)], "x2": [0.25] * 400_000})
    parts = _payload.to_requests(big, limit=6291456)
    assert len(parts) > 1 and all(len(b) <= 6291456 for b, _ in parts)
    sizes = [len(json.loads(b)["dataframe_split"]["data"]) for b, _ in parts]
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    aws.queue_invoke_results(
        REGION, [{"Body": json.dumps({"predictions": list(range(s, s + n))}), "ContentType": "application/json"} for s, n in zip(starts, sizes)]
    )
    assert client.predict("churn", big)["predictions"] == list(range(400_000))


def test_failed_endpoint_is_reported_and_cleaned_up(client, models, sm, s3):
    moto_sagemaker.set_defaults(create=["Creating", "Failed:The primary container failed the ping health check."])
    with pytest.raises(MlflowException) as e:
        client.create_deployment("churn", models["version1"], config=config())
    assert "failed the ping health check" in e.value.message and "nothing was left behind" in e.value.message
    assert resources(sm, s3) == {"endpoints": [], "configs": [], "models": [], "objects": []}


def test_throttling_is_retried(client, models):
    moto_sagemaker.inject_fault("DescribeEndpoint", "ThrottlingException", "Rate exceeded", times=2)
    moto_sagemaker.inject_fault("CreateModel", "ThrottlingException", "Rate exceeded", times=1)
    assert client.create_deployment("churn", models["version1"], config=config())["status"] == "InService"


def test_access_denied_is_clear_and_leaves_nothing(client, models, sm, s3):
    moto_sagemaker.inject_fault("CreateEndpointConfig", "AccessDeniedException", "User is not authorized", times=1)
    with pytest.raises(MlflowException) as e:
        client.create_deployment("churn", models["version1"], config=config())
    assert e.value.error_code == "PERMISSION_DENIED" and "not authorized" in e.value.message
    assert resources(sm, s3)["models"] == [] and resources(sm, s3)["objects"] == []


def test_timeout_is_clear_and_cleans_up(client, models, sm, s3):
    moto_sagemaker.set_defaults(create=["Creating"])
    with pytest.raises(MlflowException) as e:
        client.create_deployment("churn", models["version1"], config=config(timeout_seconds="1"))
    assert e.value.error_code == "DEADLINE_EXCEEDED" and "timeout_seconds" in e.value.message
    assert resources(sm, s3)["endpoints"] == [] and resources(sm, s3)["models"] == []


def test_missing_credentials(client, models, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(MlflowException) as e:
        client.list_deployments()
    assert e.value.error_code == "UNAUTHENTICATED" and "AWS_ACCESS_KEY_ID" in e.value.message


def test_bad_input(client, models):
    for bad, words in [
        ({"instance_count": "many"}, ["instance_count"]),
        ({"colour": "red"}, ["Unknown config key 'colour'", "execution_role_arn"]),
        ({"mode": "sideways"}, ["mode"]),
        ({"synchronous": "false", "archive": "false"}, ["synchronous", "archive"]),
        ({"forward_proxy_env": "maybe"}, ["Config key 'forward_proxy_env'", "maybe", "boolean"]),
    ]:
        with pytest.raises(MlflowException) as e:
            client.create_deployment("churn", models["version1"], config=config(**bad))
        assert e.value.error_code == "INVALID_PARAMETER_VALUE"
        for w in words:
            assert w in e.value.message
    with pytest.raises(MlflowException, match="Invalid deployment name"):
        client.create_deployment("no_underscores", models["version1"], config=config())
    with pytest.raises(MlflowException, match="not an AWS region"):
        get_deploy_client("sagemaker-endpoints:/moon-1").list_deployments()
    client.create_deployment("churn", models["version1"], config=config())
    with pytest.raises(MlflowException) as e:
        client.create_deployment("churn", models["version1"], config=config())
    assert e.value.error_code == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException) as e:  # found out before any download
        client.create_deployment("churn", "models:/does-not-exist/1", config=config())
    assert e.value.error_code == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException) as e:
        client.get_deployment("ghost")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"


PROXIES = {
    "http_proxy": "http://alice:s3cret-one@proxy.corp:3128",
    "HTTPS_PROXY": "https://bob:s3cret-two@proxy.corp:3129/",
    "https_proxy": "carol:s3cret-three@proxy.corp:3130",  # curl's form without a scheme
    "no_proxy": "127.0.0.1,localhost",  # moto stays reachable
    "NO_PROXY": "127.0.0.1,localhost",
}


def container_environment(sm, endpoint):
    """The serving container's environment as anyone allowed DescribeModel reads it."""
    cfg = sm.describe_endpoint_config(EndpointConfigName=sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"])
    return sm.describe_model(ModelName=cfg["ProductionVariants"][0]["ModelName"])["PrimaryContainer"]["Environment"]


def test_proxy_settings_stay_on_this_machine_by_default(client, models, sm, monkeypatch):
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    for k, v in PROXIES.items():
        monkeypatch.setenv(k, v)
    client.create_deployment("churn", models["version1"], config=config(env={"TEAM": "risk"}))
    assert container_environment(sm, "churn") == {
        "MLFLOW_DEPLOYMENT_FLAVOR_NAME": "python_function",
        "SERVING_ENVIRONMENT": "SageMaker",
        "TEAM": "risk",
    }


def test_forward_proxy_env_copies_proxies_without_their_credentials(client, models, sm, monkeypatch, capfd):
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    for k, v in PROXIES.items():
        monkeypatch.setenv(k, v)
    client.create_deployment("churn", models["version1"], config=config(forward_proxy_env="true"))
    env = container_environment(sm, "churn")
    assert {k: v for k, v in env.items() if "proxy" in k.lower()} == {
        "http_proxy": "http://proxy.corp:3128",
        "HTTPS_PROXY": "https://proxy.corp:3129/",
        "https_proxy": "proxy.corp:3130",
        "no_proxy": "127.0.0.1,localhost",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    logged = capfd.readouterr().err
    assert "http_proxy" in logged and "without its user and password" in logged
    assert "s3cret" not in logged + json.dumps(env)
    assert "HTTP_PROXY" not in env  # not set here: not made up


def last_line(proc):
    return proc.stdout.strip().splitlines()[-1]


def test_cli(aws, home, models, tmp_path, sm):
    """Every `mlflow deployments` command the target offers: exit code 0 and its line. The first in a new process
    (the console script), the others through MLflow's command line in this process."""
    cfg = [arg for k, v in BASE.items() for arg in ("-C", f"{k}={v}")]
    t = ["-t", TARGET]
    assert last_line(cli_process("create", *t, "--name", "wine", "-m", models["version1"], *cfg)) == "python_function deployment wine is created"
    updated = "Deployment wine is updated (with flavor python_function)"
    assert last_line(cli("update", *t, "--name", "wine", "-m", models["version2"], *cfg)) == updated
    assert last_line(cli("update", *t, "--name", "wine", "-m", models["version1"], *cfg, "-C", "mode=add", "-C", "variant_name=b")) == updated
    listed = cli("list", *t).stdout
    assert listed.startswith("List of all deployments:\n") and "'name': 'wine'" in listed
    got = cli("get", *t, "--name", "wine").stdout
    assert "name: wine" in got and "status: InService" in got and "flavor: python_function" in got
    (tmp_path / "in.json").write_text(ROWS.to_json(orient="records"))
    # moto answers the same input with the same queued result: one for both calls
    aws.queue_invoke_results(REGION, [{"Body": '{"predictions": [1, 2, 3]}', "ContentType": "application/json"}])
    out = cli("predict", *t, "--name", "wine", "--input-path", str(tmp_path / "in.json"))
    assert json.loads(last_line(out)) == {"predictions": [1, 2, 3]}
    cli("predict", *t, "--name", "wine", "--input-path", str(tmp_path / "in.json"), "--output-path", str(tmp_path / "out.json"))
    assert json.loads((tmp_path / "out.json").read_text()) == {"predictions": [1, 2, 3]}
    assert "forward_proxy_env (bool, default: false)" in cli("help", *t).stdout
    assert last_line(cli("delete", *t, "--name", "wine")) == "Deployment wine is deleted"
    assert sm.list_endpoints()["Endpoints"] == []

    # Endpoints. `create-endpoint` cannot reach a plugin in MLflow 3.x (README); `create --endpoint` makes one.
    out = cli("create", *t, "--endpoint", "shop", "--name", "blue", "-m", models["version1"], *cfg)
    assert last_line(out) == "python_function deployment blue is created"
    out = cli("create", *t, "--endpoint", "shop", "--name", "green", "-m", models["version2"], *cfg)
    assert last_line(out) == "python_function deployment green is created"
    out = cli("update", *t, "--endpoint", "shop", "--name", "green", "-m", models["version1"], *cfg)
    assert last_line(out) == "Deployment green is updated (with flavor python_function)"
    assert "'name': 'blue'" in cli("list", *t, "--endpoint", "shop").stdout
    assert "endpoint: shop" in cli("get", *t, "--endpoint", "shop", "--name", "green").stdout
    assert "'name': 'shop'" in cli("list-endpoints", *t).stdout
    out = cli("update-endpoint", *t, "--endpoint", "shop", "-C", 'weights={"blue": 50, "green": 50}', "-C", "poll_interval_seconds=0.01")
    assert last_line(out) == "Endpoint shop is updated"
    got = cli("get-endpoint", *t, "--endpoint", "shop").stdout
    assert "name: shop" in got and "'weight': 50.0" in got
    aws.queue_invoke_results(REGION, [{"Body": '{"predictions": [9]}', "ContentType": "application/json"}])
    (tmp_path / "one.json").write_text(ROWS.head(1).to_json(orient="records"))  # another input: moto's next answer
    out = cli("predict", *t, "--endpoint", "shop", "--input-path", str(tmp_path / "one.json"))
    assert json.loads(last_line(out)) == {"predictions": [9]}
    assert last_line(cli("delete", *t, "--endpoint", "shop", "--name", "green")) == "Deployment green is deleted"
    assert last_line(cli("delete-endpoint", *t, "--endpoint", "shop")) == "Endpoint shop is deleted"
    assert resources(sm, boto3.client("s3", region_name=REGION)) == {"endpoints": [], "configs": [], "models": [], "objects": []}


def test_cli_run_local_serves_like_the_endpoint(home, models):
    """run-local for sagemaker-endpoints: the native model server on this machine, as the endpoint's image runs
    it (the `local` target's keys)."""
    with run_local(TARGET, models["version1"]) as (port, lines):
        assert "with mlflow-bridge-serve" in "".join(lines)
        body = {"dataframe_split": json.loads(ROWS.to_json(orient="split", index=False))}
        r = requests.post(f"http://127.0.0.1:{port}/invocations", json=body, timeout=60)
        assert r.json()["predictions"] == pytest.approx([1.5, 3.0, 7.0])


@pytest.mark.parametrize(
    "call",
    [
        "create",
        "create-async",
        "update-replace",
        "update-add",
        "update-async",
        "update-blue-green",
        "create-endpoint-deployment",
        "update-endpoint-deployment",
        "create_endpoint",
    ],
)
def test_create_and_update_results_carry_what_mlflows_cli_reads(client, models, call):
    """mlflow deployments create prints result["flavor"] and result["name"]; update prints result["flavor"]."""
    blue_green = {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}}}
    if call.startswith("update-endpoint"):
        client.create_deployment("blue", models["version1"], config=config(), endpoint="shop")
    elif call.startswith("update"):
        client.create_deployment("churn", models["version1"], config=config())
    name, result = {
        "create": lambda: ("churn", client.create_deployment("churn", models["version1"], config=config())),
        "create-async": lambda: ("churn", client.create_deployment("churn", models["version1"], config=config(synchronous="false", archive="true"))),
        "update-replace": lambda: ("churn", client.update_deployment("churn", models["version2"], config=config(mode="replace"))),
        "update-add": lambda: ("churn", client.update_deployment("churn", models["version2"], config=config(mode="add", variant_name="b"))),
        "update-async": lambda: ("churn", client.update_deployment("churn", models["version2"], config=config(synchronous="false", archive="true"))),
        "update-blue-green": lambda: ("churn", client.update_deployment("churn", models["version2"], config=config(deployment_config=json.dumps(blue_green)))),
        "create-endpoint-deployment": lambda: ("blue", client.create_deployment("blue", models["version1"], config=config(), endpoint="shop")),
        "update-endpoint-deployment": lambda: ("blue", client.update_deployment("blue", models["version2"], config=config(), endpoint="shop")),
        "create_endpoint": lambda: ("shop", client.create_endpoint("shop", config={"model_uri": models["version1"], **BASE})),
    }[call]()
    assert (result["name"], result["flavor"]) == (name, "python_function")


def test_asynchronous_create_returns_at_once(client, models, sm):
    moto_sagemaker.set_defaults(create=["Creating", "Creating", "InService"])
    info = client.create_deployment("churn", models["version1"], config=config(synchronous="false", archive="true"))
    assert info["status"] == "Creating"
    assert [sm.describe_endpoint(EndpointName="churn")["EndpointStatus"] for _ in range(2)] == ["Creating", "InService"]


def test_failed_update_keeps_the_previous_model(client, models, sm, s3):
    client.create_deployment("churn", models["version1"], config=config())
    before = resources(sm, s3)
    moto_sagemaker.set_defaults(update=["Updating", "Failed:Model server did not start."])
    with pytest.raises(MlflowException) as e:
        client.update_deployment("churn", models["version2"], config=config())
    assert "did not start" in e.value.message and "keeps its previous model" in e.value.message
    after = resources(sm, s3)
    assert (after["models"], after["configs"], after["objects"]) == (before["models"], before["configs"], before["objects"])


def test_blue_green_deployment_config_is_sent(client, models):
    client.create_deployment("churn", models["version1"], config=config())
    policy = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {"Type": "CANARY", "WaitIntervalInSeconds": 300, "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10}}
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "churn-5xx"}]},
    }
    client.update_deployment("churn", models["version2"], config=config(deployment_config=json.dumps(policy)))
    assert moto_sagemaker.UPDATE_REQUESTS[-1]["DeploymentConfig"] == policy


def test_role_in_the_target_uri_is_assumed(aws, home, models, sm):
    role = f"arn:aws:iam::{ACCOUNT}:role/deployer"
    client = get_deploy_client(f"{TARGET}/{role}")
    info = client.create_deployment("churn", models["version1"], config=config())
    assert info["status"] == "InService"
    assert [d["name"] for d in client.list_deployments()] == ["churn"]
    aws.queue_invoke_results(REGION, [{"Body": '{"predictions": [7]}', "ContentType": "application/json"}] * 3)
    for _ in range(3):
        assert client.predict("churn", ROWS)["predictions"] == [7]
    assert moto_sagemaker.ASSUME_ROLE_CALLS == [role]  # once for the client, not once per call
    with pytest.raises(MlflowException, match="not an IAM role ARN"):
        get_deploy_client(f"{TARGET}/not-a-role")


def test_side_by_side_with_mlflows_own_sagemaker_target(aws, home, models, sm, s3, monkeypatch):
    """MLflow's built-in `sagemaker` target and ours, on the same moto and model: same resources."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for proxy in ("http_proxy", "https_proxy", "no_proxy"):  # MLflow's copies them into the model; ours does not
        monkeypatch.delenv(proxy, raising=False)
    theirs = get_deploy_client(f"sagemaker:/{REGION}")
    shared = {k: BASE[k] for k in ("execution_role_arn", "image_url")}
    theirs.create_deployment("theirs", models["version1"], config=dict(shared))
    ours = get_deploy_client(TARGET)
    ours.create_deployment("ours", models["version1"], config=config())

    def describe(name):
        endpoint = sm.describe_endpoint(EndpointName=name)
        cfg = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
        [variant] = cfg["ProductionVariants"]
        model = sm.describe_model(ModelName=variant["ModelName"])
        container = model["PrimaryContainer"]
        bucket, _, key = container["ModelDataUrl"][len("s3://") :].partition("/")
        archive = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        members = sorted(m.name for m in tarfile.open(fileobj=io.BytesIO(archive)) if m.isfile())
        return {
            "status": endpoint["EndpointStatus"],
            "model_name_shape": variant["ModelName"].split("-model-")[0] + "-model-" + "x" * len(variant["ModelName"].split("-model-")[1]),
            "variant": {k: variant[k] for k in ("InstanceType", "InitialInstanceCount", "InitialVariantWeight")},
            "variant_is_model": variant["VariantName"] == variant["ModelName"],
            "image": container["Image"],
            "environment": container["Environment"],
            "bucket": bucket,
            "key_shape": key == f"{variant['ModelName']}/model.tar.gz",
            "archive": members,
            "role": model["ExecutionRoleArn"],
        }

    a, b = describe("theirs"), describe("ours")
    a["model_name_shape"] = a["model_name_shape"].replace("theirs", "ours")
    assert a == b


def test_mlflow_endpoints_are_sagemaker_endpoints_and_deployments_are_variants(client, models, aws, sm, s3):
    client.create_endpoint("shop", config={"model_uri": models["version1"], "deployment_name": "blue", **BASE})
    green = client.create_deployment("green", models["version2"], config=config(), endpoint="shop")
    assert (green["name"], green["endpoint"], green["weight"], green["model_uri"]) == ("green", "shop", 0, models["version2"])
    assert [d["name"] for d in client.list_deployments(endpoint="shop")] == ["blue", "green"]
    assert client.get_deployment("blue", endpoint="shop")["model_uri"] == models["version1"]
    assert [e["name"] for e in client.list_endpoints()] == ["shop"]

    client.update_endpoint("shop", config={"weights": '{"blue": 90, "green": 10}', **BASE})
    weights = {v["name"]: v["weight"] for v in client.get_endpoint("shop")["variants"]}
    assert weights == {"blue": 90, "green": 10}
    with pytest.raises(MlflowException, match="no deployment named 'purple'"):
        client.update_endpoint("shop", config={"weights": {"purple": 1}})
    out = cli("update-endpoint", "-t", TARGET, "--endpoint", "shop", "-C", 'weights={"blue": 50, "green": 50}', "-C", "poll_interval_seconds=0.01")
    assert out.returncode == 0
    assert {v["name"]: v["weight"] for v in client.get_endpoint("shop")["variants"]} == {"blue": 50, "green": 50}

    aws.queue_invoke_results(REGION, [{"Body": '{"predictions": [42]}', "ContentType": "application/json"}])
    assert client.predict("green", ROWS, endpoint="shop")["predictions"] == [42]

    old_green_model = client.get_deployment("green", endpoint="shop")["model_name"]
    updated = client.update_deployment("green", models["version1"], config=config(), endpoint="shop")
    assert updated["model_uri"] == models["version1"] and updated["model_name"] != old_green_model
    assert updated["weight"] == 50  # the variant keeps its weight
    assert old_green_model not in resources(sm, s3)["models"]

    client.delete_deployment("green", endpoint="shop")
    assert [d["name"] for d in client.list_deployments(endpoint="shop")] == ["blue"]
    assert len(resources(sm, s3)["models"]) == 1
    with pytest.raises(MlflowException, match="last deployment"):
        client.delete_deployment("blue", endpoint="shop")
    client.delete_deployment("green", endpoint="shop")  # already gone: fine

    client.delete_endpoint("shop")
    assert resources(sm, s3) == {"endpoints": [], "configs": [], "models": [], "objects": []}


def test_create_endpoint_needs_a_model(client):
    with pytest.raises(MlflowException, match="needs a model"):
        client.create_endpoint("shop", config=BASE)


def test_what_mlflow_bridge_did_not_create_is_never_deleted(client, models, sm, s3):
    s3.create_bucket(Bucket="training", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket="training", Key="job/output/model.tar.gz", Body=b"weights")
    sm.create_model(
        ModelName="from-training",
        ExecutionRoleArn=BASE["execution_role_arn"],
        PrimaryContainer={"Image": "i", "ModelDataUrl": "s3://training/job/output/model.tar.gz"},
    )
    sm.create_endpoint_config(
        EndpointConfigName="console-config",
        ProductionVariants=[{"VariantName": "v", "ModelName": "from-training", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}],
    )
    sm.create_endpoint(EndpointName="console", EndpointConfigName="console-config")

    client.update_deployment("console", models["version1"], config=config())
    assert "from-training" in resources(sm, s3)["models"]
    assert "console-config" in resources(sm, s3)["configs"]
    client.delete_deployment("console")
    left = resources(sm, s3)
    assert left["endpoints"] == [] and left["models"] == ["from-training"] and left["configs"] == ["console-config"]
    assert s3.get_object(Bucket="training", Key="job/output/model.tar.gz")["Body"].read() == b"weights"


def test_execution_role_defaults_to_the_assumed_role_with_its_path(aws, home, models, sm):
    iam = boto3.client("iam", region_name=REGION)
    iam.create_role(RoleName="deployer", Path="/service-role/", AssumeRolePolicyDocument="{}")
    client = get_deploy_client(f"{TARGET}/arn:aws:iam::{ACCOUNT}:role/service-role/deployer")
    cfg = {k: v for k, v in config().items() if k != "execution_role_arn"}
    client.create_deployment("churn", models["version1"], config=cfg)
    endpoint = sm.describe_endpoint(EndpointName="churn")
    model = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])["ProductionVariants"][0]["ModelName"]
    assert sm.describe_model(ModelName=model)["ExecutionRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/service-role/deployer"


def test_an_update_still_running_at_the_timeout_is_not_rolled_back(client, models, sm, s3):
    client.create_deployment("churn", models["version1"], config=config())
    moto_sagemaker.set_defaults(update=["Updating"])
    with pytest.raises(MlflowException) as e:
        client.update_deployment("churn", models["version2"], config=config(timeout_seconds="1"))
    assert e.value.error_code == "DEADLINE_EXCEEDED" and "still updating" in e.value.message
    endpoint = sm.describe_endpoint(EndpointName="churn")
    assert endpoint["EndpointConfigName"] in resources(sm, s3)["configs"]  # what it updates onto is still there
    assert len(resources(sm, s3)["models"]) == 2


def test_a_large_model_goes_up_in_parts(client, models, sm, s3, tmp_path):
    import os
    import shutil

    big = tmp_path / "big-model"
    shutil.copytree(models["path"], big)
    (big / "weights.bin").write_bytes(os.urandom(20 * 1024 * 1024))  # incompressible: a multipart upload
    client.create_deployment("big", str(big), config=config())
    [key] = resources(sm, s3)["objects"]
    head = s3.head_object(Bucket=BUCKET, Key=key)
    assert head["ContentLength"] > 20 * 1024 * 1024
    assert head["ETag"].strip('"').endswith("-3")  # three 8 MiB parts
    archive = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(archive)) as t:
        assert t.extractfile("weights.bin").read() == (big / "weights.bin").read_bytes()


def test_a_region_that_does_not_exist(aws, home, models, monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL")  # AWS's own endpoints: the region must exist
    with pytest.raises(MlflowException) as e:
        get_deploy_client("sagemaker-endpoints:/eu-fake-9").create_deployment("churn", models["version1"], config=config())
    if e.value.error_code == "INVALID_PARAMETER_VALUE":
        assert "AWS region 'eu-fake-9' does not exist" in e.value.message and "eu-west-1" in e.value.message
    else:  # no DNS at all on this machine
        assert e.value.error_code == "TEMPORARILY_UNAVAILABLE" and "Could not look up" in e.value.message


def test_default_image_is_mlflow_pyfunc_from_ecr(client, models, sm, aws):
    plain = {k: v for k, v in BASE.items() if k != "image_url"}
    with pytest.raises(MlflowException) as e:
        client.create_deployment("churn", models["version1"], config=plain)
    assert "mlflow-pyfunc" in e.value.message and "image_url" in e.value.message
    repo = boto3.client("ecr", region_name=REGION).create_repository(repositoryName="mlflow-pyfunc")["repository"]
    client.create_deployment("churn", models["version1"], config=plain)
    model = sm.describe_endpoint_config(EndpointConfigName=sm.describe_endpoint(EndpointName="churn")["EndpointConfigName"])
    image = sm.describe_model(ModelName=model["ProductionVariants"][0]["ModelName"])["PrimaryContainer"]["Image"]
    assert image == f"{repo['repositoryUri']}:{mlflow.__version__}"


def _iam_user(name, allowed):
    """An IAM user in moto allowed only `allowed` actions; returns its access key."""
    iam = boto3.client("iam", region_name=REGION)
    iam.create_user(UserName=name)
    statement = [{"Effect": "Allow", "Action": allowed, "Resource": "*"}]
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statement}))
    return iam.create_access_key(UserName=name)["AccessKey"]


def test_access_denied_by_iam_is_clear_and_leaves_nothing(aws, home, models, sm, s3, monkeypatch):
    key = _iam_user("analyst", ["s3:*", "sts:GetCallerIdentity", "sagemaker:Describe*", "sagemaker:List*"])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    with aws.iam_enforced():
        with pytest.raises(MlflowException) as e:
            get_deploy_client(TARGET).create_deployment("churn", models["version1"], config=config())
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
        with pytest.raises(MlflowException) as wrong:
            get_deploy_client(TARGET).list_deployments()
    assert e.value.error_code == "PERMISSION_DENIED", e.value.message
    assert "sagemaker:CreateModel" in e.value.message and "analyst" in e.value.message
    assert wrong.value.error_code == "UNAUTHENTICATED", wrong.value.message
    assert key["SecretAccessKey"] not in e.value.message + wrong.value.message
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")
    left = resources(sm, s3)
    assert left["models"] == [] and left["objects"] == [] and left["endpoints"] == []


def test_predict_on_an_asynchronous_endpoint(client, models, aws, s3):
    s3.create_bucket(Bucket="async-out", CreateBucketConfiguration={"LocationConstraint": REGION})
    async_config = {"OutputConfig": {"S3OutputPath": "s3://async-out/results/"}}
    client.create_deployment("batchy", models["version1"], config=config(async_inference_config=json.dumps(async_config)))
    aws.queue_async_results(REGION, [{"data": '{"predictions": [4, 5, 6]}'}, {"data": "model exploded", "is_failure": True}])
    assert client.predict("batchy", ROWS)["predictions"] == [4, 5, 6]
    with pytest.raises(MlflowException) as e:
        client.predict("batchy", ROWS)
    assert "model exploded" in e.value.message
    # The inputs went through S3 and were removed once answered.
    assert s3.list_objects_v2(Bucket="async-out", Prefix="mlflow-bridge/").get("KeyCount", 0) == 0


def test_registry_builds_the_models_image_and_pushes_it_to_ecr(client, models, sm, aws, registry_factory):
    import registry as reg

    # moto's ECR hands out the login "AWS:123456789012-auth-token": a registry that takes it stands in for ECR.
    ecr = registry_factory("htpasswd", users={"AWS": "123456789012-auth-token"})
    base = reg.make_base_image(ecr.host, "lib/base", "1", creds="AWS:123456789012-auth-token")
    build = {"registry": f"{ecr.host}/churn", "base_image": base["ref"], "insecure_registry": "true",
             "install_dependencies": "false"}
    plain = {k: v for k, v in BASE.items() if k != "image_url"}
    with pytest.raises(MlflowException, match="cannot go together"):
        client.create_deployment("churn", models["version1"], config={**BASE, **build})
    client.create_deployment("churn", models["version1"], config={**plain, **build})
    config = sm.describe_endpoint_config(EndpointConfigName=sm.describe_endpoint(EndpointName="churn")["EndpointConfigName"])
    image = sm.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])["PrimaryContainer"]["Image"]
    digest = reg.manifest_digest(f"{ecr.host}/churn:churn", creds="AWS:123456789012-auth-token")
    assert image == f"{ecr.host}/churn@{digest}"  # pinned by digest
    labels = reg.skopeo_inspect(image, config=True, creds="AWS:123456789012-auth-token")["config"]["Labels"]
    assert labels["mlflow.model_uri"] == models["version1"]


def test_the_built_image_answers_invoke_endpoint_with_the_native_server(client, models, aws, registry_factory,
                                                                         tmp_path):
    """The image registry= builds, run as SageMaker runs a container (its entrypoint with the `serve` argument,
    then POST /invocations on 8080, here on a free port): moto's InvokeEndpoint goes to it, so predict through
    the SDK and the CLI gets the model's own answers from mlflow-bridge-serve, and the model's error for bad input
    comes back as SageMaker's ModelError. The server's options given to create are in the image's environment."""
    import sys

    import registry as reg
    from conftest import unused_port

    creds = "AWS:123456789012-auth-token"
    ecr = registry_factory("htpasswd", users={"AWS": "123456789012-auth-token"})
    base = reg.make_base_image(ecr.host, "lib/base", "1", creds=creds)
    build = {"registry": f"{ecr.host}/churn", "base_image": base["ref"], "insecure_registry": "true",
             "install_dependencies": "false", "batching": "false", "max_body_mb": "8"}
    plain = {k: v for k, v in BASE.items() if k != "image_url"}
    client.create_deployment("churn", models["version1"], config={**plain, **build})
    sm = boto3.client("sagemaker", region_name=REGION)
    config = sm.describe_endpoint_config(EndpointConfigName=sm.describe_endpoint(EndpointName="churn")["EndpointConfigName"])
    image = sm.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])["PrimaryContainer"]["Image"]
    rootfs, runtime = reg.pull_and_unpack(image, tmp_path / "container", creds=creds)
    assert runtime["process"]["args"][-1] == "serve"
    env = dict(e.split("=", 1) for e in runtime["process"]["env"])
    assert env["MLFLOW_BRIDGE_SERVE_BATCHING"] == "false" and env["MLFLOW_BRIDGE_SERVE_MAX_BODY_MB"] == "8"
    port = unused_port()
    server = reg.start_entrypoint(rootfs, runtime, sys.executable, port, tmp_path)
    try:
        moto_sagemaker.serve_endpoint(REGION, "churn", f"http://127.0.0.1:{port}")
        assert client.predict("churn", ROWS)["predictions"] == pytest.approx([1.5, 3.0, 7.0])
        (tmp_path / "in.json").write_text(ROWS.to_json(orient="records"))
        out = cli("predict", "-t", TARGET, "--name", "churn", "--input-path", str(tmp_path / "in.json"))
        assert json.loads(last_line(out))["predictions"] == pytest.approx([1.5, 3.0, 7.0])
        with pytest.raises(MlflowException) as e:
            client.predict("churn", pd.DataFrame({"nope": [1.0]}))
        # MLflow's schema error, from the model's server, as SageMaker's ModelError relays it.
        assert "ModelError" in e.value.message and "Model is missing inputs ['x1', 'x2']" in e.value.message
        assert "request_id=" in (tmp_path / "server.log").read_text()  # the container's access log
    finally:
        server.terminate()
        server.wait(timeout=60)
    client.delete_deployment("churn")
