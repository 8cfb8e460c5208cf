"""The azureml-endpoints target end to end: mlflow deployments (CLI and SDK) -> our C++ driver -> the Azure
stand-in (tests/servers/azureml.py: Entra ID, ARM, blob storage, scoring), with the official client
(azure-ai-ml's MLClient) reading back what the driver made."""

import json

import pandas as pd
import pytest
from conftest import ROWS, cli, cli_process, expected

TENANT_APP = "11111111-2222-3333-4444-555555555555"
SECRET = "s3cret-value-for-tests"


@pytest.fixture
def azure(azure_standin_factory, model_backend, monkeypatch, home, models):
    """The stand-in with our driver pointed at it, a service principal in the environment, and every
    deployment that becomes ready served by a scoring backend that predicts scale * (x1 + x2), scale = the
    registered model's version (tiny/1 -> 1, tiny/2 -> 2)."""
    az = azure_standin_factory(driver_env=True, lro_polls=1, retry_after=1)
    az.add_principal(TENANT_APP, secret=SECRET)
    monkeypatch.setenv("AZURE_TENANT_ID", az.tenant)
    monkeypatch.setenv("AZURE_CLIENT_ID", TENANT_APP)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", SECRET)
    backends = {}

    def ready(info):
        version = str(info["properties"].get("model") or "").rstrip("/").split("/")[-1]
        scale = float(version) if version.isdigit() else 1.0
        if scale not in backends:
            backends[scale] = model_backend(f"v{scale}", scale=scale)
        return backends[scale].url

    az.on_deployment_ready = ready
    ws = az.default_workspace
    az.target = f"azureml-endpoints:/{ws['sub']}/{ws['rg']}/{ws['name']}"
    return az


def test_sdk_plain_create_predict_delete(azure, models, monkeypatch):
    from mlflow.deployments import get_deploy_client

    client = get_deploy_client(azure.target)
    d = client.create_deployment("flood", models["version1"], config={"instance_type": "Standard_DS3_v2"})
    assert d["name"] == "flood" and d["endpoint"] == "flood" and d["weight"] == 100, d
    ep = azure.endpoint("flood")
    assert ep["properties"]["traffic"] == {"flood": 100}
    answer = client.predict("flood", ROWS)
    assert list(answer["predictions"]) == expected(1.0)
    # Throttled scoring is sent again after Retry-After; inputs over the limit go in parts, answered in order.
    azure.throttle_scoring("flood", times=1, retry_after=1)
    big = pd.DataFrame({"x1": [float(i) for i in range(100000)], "x2": [1.0] * 100000})
    monkeypatch.setenv("MLFLOW_BRIDGE_AZUREML_MAX_REQUEST_MB", "1")
    calls = len(azure.scoring_log)
    answer = get_deploy_client(azure.target).predict("flood", big)
    assert list(answer["predictions"]) == expected(1.0, big)
    assert len(azure.scoring_log) - calls >= 2  # answered: the input in two parts at least
    assert azure._scoring_faults["flood"]["remaining"] == 0  # the 429 was sent, and retried
    assert [d["name"] for d in client.list_deployments()] == ["flood"]
    client.delete_deployment("flood")
    assert azure.endpoint("flood") is None


def mlclient(azure):
    """azure-ai-ml's MLClient on the stand-in, as the same service principal."""
    from azure.ai.ml import MLClient
    from azure.identity import ClientSecretCredential

    ws = azure.default_workspace
    credential = ClientSecretCredential(azure.tenant, TENANT_APP, SECRET)
    return MLClient(credential, ws["sub"], ws["rg"], ws["name"], show_progress=False)


def test_cli_endpoint_flow_with_a_traffic_split(azure, models, tmp_path):
    """The issue's canary flow through the CLI: an endpoint made with its first deployment, a second one at
    10 percent, weights moved, predict on the endpoint and on one deployment, and MLClient agreeing."""
    t = azure.target
    out = cli_process("create", "-t", t, "--endpoint", "flood", "--name", "blue", "-m", models["version1"],
              "-C", "create_endpoint=true", "-C", "instance_type=Standard_DS3_v2")
    assert "blue" in out.stdout
    cli("create", "-t", t, "--endpoint", "flood", "--name", "green", "-m", models["version2"], "-C", "initial_weight=10")
    assert azure.endpoint("flood")["properties"]["traffic"] == {"blue": 90, "green": 10}
    cli("update-endpoint", "-t", t, "--endpoint", "flood", "-C", 'weights={"blue": 0, "green": 100}')
    assert azure.endpoint("flood")["properties"]["traffic"] == {"blue": 0, "green": 100}

    rows = tmp_path / "rows.json"
    rows.write_text(ROWS.to_json())
    out = cli("predict", "-t", t, "--endpoint", "flood", "--input-path", str(rows))
    assert json.loads(out.stdout)["predictions"] == expected(2.0)
    out = cli("predict", "-t", t, "--name", "blue", "--input-path", str(rows))
    assert json.loads(out.stdout)["predictions"] == expected(1.0)
    # no-code deployments were sent the input_data form, the named one with its header
    assert azure.scoring_log[-1]["deployment"] == "blue"

    got = cli("get", "-t", t, "--endpoint", "flood", "--name", "green").stdout
    assert "weight: 100" in got and f"model_uri: {models['version2']}" in got
    listed = cli("list", "-t", t, "--endpoint", "flood").stdout
    assert "blue" in listed and "green" in listed
    ep = cli("get-endpoint", "-t", t, "--endpoint", "flood").stdout
    assert "traffic: {'blue': 0, 'green': 100}" in ep
    assert "flood" in cli("list-endpoints", "-t", t).stdout

    # The official client reads back what the driver made.
    ml = mlclient(azure)
    assert {d.name for d in ml.online_deployments.list("flood")} == {"blue", "green"}
    assert ml.online_endpoints.get("flood").traffic == {"blue": 0, "green": 100}
    green = ml.online_deployments.get("green", "flood")
    assert green.instance_type == "Standard_DS3_v2" and green.model.endswith("/models/tiny/versions/2")
    assert ml.models.get("tiny", "2").type == "mlflow_model"

    # Deleting green hands its traffic to blue; delete-endpoint removes the rest.
    cli("delete", "-t", t, "--endpoint", "flood", "--name", "green")
    assert azure.endpoint("flood")["properties"]["traffic"] == {"blue": 100}
    cli("delete-endpoint", "-t", t, "--endpoint", "flood")
    assert azure.endpoint("flood") is None
    assert "azureml-endpoints" in cli("help", "-t", "azureml-endpoints").stdout


def test_kubernetes_endpoint_and_auth_modes(azure, models):
    """A Kubernetes online endpoint on an attached compute, scored with an Entra ID token (aad_token); a
    managed one scored with an AML token; an unchanged model is not uploaded again."""
    from mlflow.deployments import get_deploy_client

    azure.add_compute("aks-prod")
    client = get_deploy_client(azure.target)
    client.create_endpoint("k8s-ep", config={"compute": "aks-prod", "auth_mode": "aml_token"})
    d = client.create_deployment(
        "kube-blue", models["version1"], endpoint="k8s-ep",
        config={"resources": json.dumps({"requests": {"cpu": "500m", "memory": "1Gi"}}), "instance_count": "2"})
    assert d["type"] == "Kubernetes" and d["instance_count"] == 2 and d["weight"] == 100
    assert list(client.predict(endpoint="k8s-ep", inputs=ROWS)["predictions"]) == expected(1.0)
    kube = mlclient(azure).online_deployments.get("kube-blue", "k8s-ep")
    assert kube.type.lower() == "kubernetes" and kube.resources.requests.cpu == "500m"

    # Updated through the CLI: a new model and autoscaling by target utilization (the REST body is checked
    # against the spec by the stand-in); the resources stay; MLClient reads the settings back.
    scale = '{"type": "target_utilization", "min_instances": 1, "max_instances": 3, "polling_interval": 10, ' \
            '"target_utilization_percentage": 70}'
    out = cli("update", "-t", azure.target, "--endpoint", "k8s-ep", "--name", "kube-blue", "-m", models["version2"],
              "-C", f"scale_settings={scale}")
    assert "kube-blue" in out.stdout
    assert list(client.predict(endpoint="k8s-ep", inputs=ROWS)["predictions"]) == expected(2.0)
    kube = mlclient(azure).online_deployments.get("kube-blue", "k8s-ep")
    assert kube.scale_settings.type == "target_utilization" and kube.scale_settings.max_instances == 3
    assert kube.scale_settings.polling_interval == 10 and kube.scale_settings.target_utilization_percentage == 70
    assert kube.resources.requests.cpu == "500m" and kube.model.endswith("/models/tiny/versions/2")
    got = cli("get", "-t", azure.target, "--endpoint", "k8s-ep", "--name", "kube-blue").stdout
    assert "type: Kubernetes" in got and f"model_uri: {models['version2']}" in got, got

    uploads = len(azure.list_blob_names(azure.default_workspace["datastores"]["workspaceblobstore"]["container"]))
    client.create_deployment("aad", models["version1"], config={"auth_mode": "aad_token"})
    assert len(azure.list_blob_names(azure.default_workspace["datastores"]["workspaceblobstore"]["container"])) == uploads
    assert azure.endpoint("aad")["properties"]["authMode"] == "AADToken"
    assert list(client.predict("aad", ROWS)["predictions"]) == expected(1.0)
    client.delete_endpoint("k8s-ep")
    client.delete_deployment("aad")
    assert azure.endpoint("k8s-ep") is None and azure.endpoint("aad") is None


def test_existing_workspace_model(azure, models):
    from mlflow.deployments import get_deploy_client

    client = get_deploy_client(azure.target)
    client.create_deployment("first", models["version2"])
    d = client.create_deployment("again", "azureml:tiny:1" if azure.model_version("tiny", "1") else "azureml:tiny:2")
    assert d["model"].endswith("/models/tiny/versions/" + d["model"][-1])
    with pytest.raises(Exception, match="tiny:9"):
        client.create_deployment("missing", "azureml:tiny:9")
    assert azure.endpoint("missing") is None
    for name in ("first", "again"):
        client.delete_deployment(name)


def writes(azure):
    """ARM requests that change something."""
    return [r for r in azure.arm_requests() if r[0] in ("PUT", "PATCH", "DELETE")]


def test_failed_provisioning_reports_the_logs_and_leaves_nothing(azure, models):
    from mlflow.deployments import get_deploy_client
    from mlflow.exceptions import MlflowException

    azure.fail_provisioning("blue", logs="Traceback ...\nModuleNotFoundError: No module named 'missing_dependency'\n")
    client = get_deploy_client(azure.target)
    with pytest.raises(MlflowException) as e:
        client.create_deployment("blue", models["version1"], endpoint="fails", config={"create_endpoint": "true"})
    message = str(e.value)
    assert "ResourceNotReady" in message and "User container has crashed" in message
    assert "missing_dependency" in message and "InferenceServer" in message  # the container's log tail
    assert "Nothing was left behind" in message
    assert azure.endpoint("fails") is None
    assert azure.model_version("tiny", "1") is None  # the version this call registered is gone too
    assert SECRET not in message


def test_faults_throttling_timeout_and_permissions(azure, models):
    from mlflow.deployments import get_deploy_client
    from mlflow.exceptions import MlflowException

    client = get_deploy_client(azure.target)
    # Throttled ARM calls are retried after Retry-After.
    azure.throttle(2, service="arm", retry_after=1)
    client.create_endpoint("throttled")
    assert azure.endpoint("throttled") is not None

    # A deployment that never finishes provisioning: DEADLINE_EXCEEDED after timeout_seconds, then undone.
    azure.hang_provisioning("slow")
    with pytest.raises(MlflowException, match="did not finish within") as e:
        client.create_deployment("slow", models["version1"], endpoint="throttled", config={"timeout_seconds": "3"})
    assert e.value.error_code == "DEADLINE_EXCEEDED"
    assert azure.deployment("throttled", "slow") is None
    assert azure.model_version("tiny", "1") is None

    # 403 from ARM: said, and nothing made.
    azure.forbid(TENANT_APP, "*/onlineEndpoints/write")
    with pytest.raises(MlflowException, match="AuthorizationFailed") as e:
        client.create_endpoint("denied")
    assert e.value.error_code == "PERMISSION_DENIED"
    assert azure.endpoint("denied") is None
    azure.allow(TENANT_APP)
    client.delete_endpoint("throttled")
    assert azure.endpoint("throttled") is None


def test_bad_input_and_credentials_change_nothing(azure, models, monkeypatch):
    from mlflow.deployments import get_deploy_client
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException, match="azureml-endpoints:/<subscription id>/<resource group>/<workspace>"):
        get_deploy_client("azureml-endpoints:/only-a-subscription").list_deployments()
    client = get_deploy_client(azure.target)
    with pytest.raises(MlflowException, match="instance_typ.*instance_type"):
        client.create_deployment("typo", models["version1"], config={"instance_typ": "x"})
    with pytest.raises(MlflowException, match="auth_mode"):
        client.create_endpoint("badauth", config={"auth_mode": "token"})
    client.create_endpoint("split")
    with pytest.raises(MlflowException, match="must sum to 100"):
        client.update_endpoint("split", config={"weights": '{"a": 60, "b": 30}'})
    with pytest.raises(MlflowException, match="has no deployment named 'ghost'"):
        client.update_endpoint("split", config={"weights": '{"ghost": 100}'})
    proc = cli("create", "-t", azure.target, "--name", "bad-mirror", "-m", models["version1"], "-C",
               'mirror_traffic={"x": 60}', check=False)
    assert proc.returncode != 0 and "between 0 and 50" in proc.stdout + proc.stderr
    assert [w for w in writes(azure) if "split" not in w[1]] == []

    # A wrong secret: Entra's answer, without the secret; no credentials at all: what to set.
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "not-the-secret")
    with pytest.raises(MlflowException, match="AADSTS7000215") as e:
        client.list_endpoints()
    assert "not-the-secret" not in str(e.value)
    for name in ("AZURE_CLIENT_SECRET", "AZURE_CLIENT_ID", "AZURE_TENANT_ID"):
        monkeypatch.delenv(name)
    with pytest.raises(MlflowException, match="AZURE_CLIENT_SECRET"):
        client.list_endpoints()


def test_what_others_made_is_left_alone(azure, models):
    """An endpoint made with azure-ai-ml is neither listed nor deleted."""
    from azure.ai.ml.entities import ManagedOnlineEndpoint
    from mlflow.deployments import get_deploy_client
    from mlflow.exceptions import MlflowException

    mlclient(azure).online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="theirs")).result()
    client = get_deploy_client(azure.target)
    assert client.list_endpoints() == []
    with pytest.raises(MlflowException, match="not made by mlflow-bridge") as e:
        client.delete_endpoint("theirs")
    assert e.value.error_code == "PERMISSION_DENIED"
    assert azure.endpoint("theirs") is not None


def _certificate(path):
    """A self-signed RSA certificate and its key in one PEM file, as AZURE_CLIENT_CERTIFICATE_PATH takes it."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mlflow-bridge-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()) + cert.public_bytes(serialization.Encoding.PEM))
    return cert, str(path)


def test_credential_sources(azure, monkeypatch, tmp_path):
    """Each Entra ID source our C++ core reads, against the stand-in's token endpoint and IMDS: a client
    certificate (the assertion's signature checked with the registered certificate), workload identity (a
    federated token file) and a managed identity; -C credential= picks one."""
    from mlflow.deployments import get_deploy_client
    from mlflow.exceptions import MlflowException

    client = get_deploy_client(azure.target)
    monkeypatch.delenv("AZURE_CLIENT_SECRET")
    cert, path = _certificate(tmp_path / "app.pem")
    azure.add_principal("cert-app", certificate=cert)
    monkeypatch.setenv("AZURE_CLIENT_ID", "cert-app")
    monkeypatch.setenv("AZURE_CLIENT_CERTIFICATE_PATH", path)
    client.create_endpoint("by-cert")
    _, other = _certificate(tmp_path / "other.pem")
    monkeypatch.setenv("AZURE_CLIENT_CERTIFICATE_PATH", other)  # signed by a key the app does not have
    with pytest.raises(MlflowException, match="AADSTS"):
        client.get_endpoint("by-cert")

    monkeypatch.delenv("AZURE_CLIENT_CERTIFICATE_PATH")
    token_file = tmp_path / "federated-token"
    token_file.write_text("eyJ.federated.token")
    azure.add_principal("workload-app", federated_token="eyJ.federated.token")
    monkeypatch.setenv("AZURE_CLIENT_ID", "workload-app")
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token_file))
    assert client.get_endpoint("by-cert")["name"] == "by-cert"

    for name in ("AZURE_CLIENT_ID", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_TENANT_ID"):
        monkeypatch.delenv(name)
    azure.add_managed_identity(system=True)
    assert client.get_endpoint("by-cert")["name"] == "by-cert"
    client.delete_endpoint("by-cert")


def test_custom_image_from_registry(azure, models, registry):
    """registry=: the model's image built here (no docker) and pushed, registered as a custom-container
    environment with the native server's Azure ML routes; the deployment runs it and is sent MLflow's own
    request form."""
    import registry as reg
    from mlflow.deployments import get_deploy_client

    base = reg.make_base_image(registry.host, "lib/base", "1")
    client = get_deploy_client(azure.target)
    d = client.create_deployment("custom", models["version1"], config={
        "registry": f"{registry.host}/flood", "insecure_registry": "true", "install_dependencies": "false",
        "base_image": base["ref"]})
    assert d["environment"].split("/environments/")[1].startswith("mlflow-bridge-custom/versions/")
    env = mlclient(azure).environments.get("mlflow-bridge-custom", d["environment"].rsplit("/", 1)[1])
    assert env.image.startswith(f"{registry.host}/flood@sha256:")
    # The native server's routes: Azure ML's /score, liveness while the model loads, readiness once it predicts.
    assert env.inference_config["scoringRoute"] == {"port": 8080, "path": "/score"}
    assert env.inference_config["livenessRoute"] == {"port": 8080, "path": "/v2/health/live"}
    assert env.inference_config["readinessRoute"] == {"port": 8080, "path": "/health"}
    assert list(client.predict("custom", ROWS)["predictions"]) == expected(1.0)
    assert b"dataframe_split" in azure.scoring_log[-1]["body"]
    client.delete_deployment("custom")


def test_custom_image_pushed_to_acr_with_the_entra_identity(azure, models, registry, monkeypatch):
    """registry=<name>.azurecr.io/...: the image is pushed with the same Entra ID identity as the ARM calls (the
    token traded at the registry's /oauth2/exchange, as `az acr login` does), no registry password given; the
    official azure-containerregistry client finds it; a principal without rights on the registry is told so and
    nothing is left."""
    import registry as reg
    from azure.containerregistry import ContainerRegistryClient
    from azure.identity import ClientSecretCredential
    from mlflow.deployments import get_deploy_client
    from mlflow.exceptions import MlflowException

    acr = azure.add_container_registry("standinacr")
    base = reg.make_base_image(registry.host, "lib/base", "1")  # the base comes from a plain loopback registry
    monkeypatch.setenv("MLFLOW_BRIDGE_INSECURE_REGISTRIES", registry.host)
    config = {"registry": f"{acr.login_server}/flood", "install_dependencies": "false", "base_image": base["ref"]}
    client = get_deploy_client(azure.target)
    d = client.create_deployment("acr-image", models["version1"], config=config)
    env = mlclient(azure).environments.get("mlflow-bridge-acr-image", d["environment"].rsplit("/", 1)[1])
    assert env.image.startswith(f"{acr.login_server}/flood@sha256:")
    exchanges = [r for r in acr.requests if r["path"] == "/oauth2/exchange"]
    assert exchanges and all(r["status"] == 200 and r["principal"] == TENANT_APP for r in exchanges), acr.requests
    assert list(client.predict("acr-image", ROWS)["predictions"]) == expected(1.0)

    official = ContainerRegistryClient(acr.url, ClientSecretCredential(azure.tenant, TENANT_APP, SECRET),
                                       audience="https://management.azure.com")
    assert "flood" in list(official.list_repository_names())
    digest = env.image.split("@", 1)[1]
    assert official.get_manifest_properties("flood", "acr-image").digest == digest

    acr.deny(TENANT_APP)  # no AcrPush: the registry refuses, the deployment is not made
    with pytest.raises(MlflowException, match="standinacr.azurecr.io") as e:
        client.create_deployment("acr-denied", models["version2"], config=dict(config, registry=f"{acr.login_server}/other"))
    assert SECRET not in str(e.value)
    assert "refused" in str(e.value) and f"client secret credential of client {TENANT_APP}" in str(e.value)
    assert azure.endpoint("acr-denied") is None
    client.delete_deployment("acr-image")


def test_update_settings_and_mirror_traffic(azure, models):
    """update swaps the model of a live deployment (the service rolls it); deployment settings reach the REST
    body in the API's form (checked against the 2025-12-01 spec by the stand-in); mirror traffic is set with
    update-endpoint; azure-storage-blob reads the model files the driver uploaded."""
    from azure.storage.blob import BlobServiceClient
    from mlflow.deployments import get_deploy_client

    client = get_deploy_client(azure.target)
    settings = {
        "liveness_probe": '{"initial_delay": 30, "period": 10}',
        "request_settings": '{"request_timeout_ms": 60000, "max_concurrent_requests_per_instance": 2}',
        "environment_variables": '{"WORKERS": "2"}', "app_insights_enabled": "true"}
    client.create_deployment("live", models["version1"], config=settings)
    props = azure.deployment("live", "live")["properties"]
    assert props["livenessProbe"]["initialDelay"] == "PT30S" and props["requestSettings"]["requestTimeout"] == "PT60S"
    assert props["environmentVariables"] == {"WORKERS": "2"} and props["appInsightsEnabled"] is True

    d = client.update_deployment("live", models["version2"])
    assert d["model"].endswith("/models/tiny/versions/2") and d["model_uri"] == models["version2"]
    assert list(client.predict("live", ROWS)["predictions"]) == expected(2.0)
    assert azure.deployment("live", "live")["properties"]["requestSettings"]["requestTimeout"] == "PT60S"  # kept

    client.create_deployment("shadow", models["version1"], endpoint="live")
    client.update_endpoint("live", config={"weights": '{"live": 100}', "mirror_traffic": '{"shadow": 20}'})
    ep = azure.endpoint("live")["properties"]
    assert ep["traffic"] == {"live": 100, "shadow": 0} and ep["mirrorTraffic"] == {"shadow": 20}

    ws = azure.default_workspace
    store = ws["datastores"]["workspaceblobstore"]
    blobs = BlobServiceClient(f"https://{ws['account']}.blob.core.windows.net",
                              credential=azure.storage_key(ws["account"]))
    names = [b.name for b in blobs.get_container_client(store["container"]).list_blobs(name_starts_with="LocalUpload/")]
    mlmodels = [n for n in names if n.endswith("/MLmodel")]
    assert len(mlmodels) == 2  # tiny/1 and tiny/2, each uploaded once
    assert b"flavors" in blobs.get_blob_client(store["container"], mlmodels[0]).download_blob().readall()
    client.delete_endpoint("live")
