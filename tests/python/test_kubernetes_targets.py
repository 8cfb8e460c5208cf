"""Targets `kyma` and `aks` end to end against the Kubernetes stand-in (tests/servers/kubernetes.py):
its simulated controllers run "pods" as real model servers, and its gateway forwards the routes to them, so
predict goes the whole way. A pod of an image the test built into a registry on loopback runs that image's
own entrypoint (the native server), pulled with the Deployment's pull Secret as a kubelet would; other pods
are the `local` target's servers for the model the image stands for."""

import base64
import json
import os
import socket
import subprocess
import threading

import kubernetes_validate
import pandas as pd
import pytest
import yaml
from conftest import ROWS, cli, cli_process, expected
from mlflow.deployments import get_deploy_client
from mlflow.exceptions import MlflowException

IMAGES = {"reg.example.com/tiny:1": "version1", "reg.example.com/tiny:2": "version2"}
CRD = os.path.join(os.path.dirname(__file__), "..", "data", "kyma", "gateway.kyma-project.io_apirules.crd.yaml")


@pytest.fixture(scope="session")
def model_servers(models, tmp_path_factory):
    """url(model) -> the address of an MLflow scoring server (the `local` target) for that model, started once
    per session and shared by the stand-in's pods: starting one is most of a Kubernetes test's time."""
    home = tmp_path_factory.mktemp("pods-home")
    old = os.environ.get("MLFLOW_BRIDGE_HOME")
    os.environ["MLFLOW_BRIDGE_HOME"] = str(home)
    try:
        local = get_deploy_client("local")
    finally:
        if old is None:
            os.environ.pop("MLFLOW_BRIDGE_HOME")
        else:
            os.environ["MLFLOW_BRIDGE_HOME"] = old
    servers, lock = {}, threading.Lock()

    def url(model):
        with lock:
            if model not in servers:
                name = f"pod-{len(servers)}"
                local.create_deployment(name, model)
                servers[model] = f"http://127.0.0.1:{local.get_deployment(name)['port']}"
            return servers[model]

    yield url
    for d in local.list_deployments():
        local.delete_deployment(d["name"])


@pytest.fixture
def image_pods(tmp_path):
    """run(image, pod_spec, namespace, kube) -> the URL of the image's own entrypoint, run as a plain process on
    127.0.0.1 from the unpacked image (this machine's python for the image's: Debian's python3 when the image
    carries the model's dependencies, else this one), pulled with the pod's imagePullSecrets as a kubelet
    does. One process per image, stopped at the end of the test."""
    import sys

    import registry as reg
    from conftest import unused_port

    started, lock = {}, threading.Lock()

    def run(image, pod_spec, namespace, kube):
        with lock:
            if image in started:
                return started[image][0]
            host = image.split("/", 1)[0]
            creds = None
            for ref in pod_spec.get("imagePullSecrets") or []:
                secret = kube.get("", "v1", "secrets", ref["name"], namespace)
                auths = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))["auths"]
                if host in auths:
                    creds = f"{auths[host]['username']}:{auths[host]['password']}"
            dest = tmp_path / f"pod-image-{len(started)}"
            rootfs, runtime = reg.pull_and_unpack(image, dest, creds=creds)
            python = "/usr/bin/python3" if reg.entrypoint_env(rootfs, runtime, dest).get("PYTHONPATH") else sys.executable
            port = unused_port()
            proc = reg.start_entrypoint(rootfs, runtime, python, port, dest)
            url = f"http://127.0.0.1:{port}"
            started[image] = (url, proc)
            return url

    yield run
    for _, proc in started.values():
        proc.terminate()
        proc.wait(timeout=60)


@pytest.fixture
def cluster(kube_factory, home, models, model_servers, image_pods, tmp_path, monkeypatch):
    """The stand-in (over TLS with a test CA: kubectl sends tokens only over TLS) with pods that serve the
    model their image names, reached through its gateway."""
    kube = kube_factory(tls=True, progress_deadline=120)  # a pod "starts" a real model server: seconds
    kube.kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")

    def pod_ready(deployment):
        pod_spec = deployment["spec"]["template"]["spec"]
        image = pod_spec["containers"][0]["image"]
        if image.startswith("127.0.0.1:") and "@sha256:" in image:  # built and pushed by the test: run it
            return image_pods(image, pod_spec, deployment["metadata"].get("namespace", "default"), kube)
        model = next((uri for prefix, uri in kube.built_images.items() if image.startswith(prefix)), None)
        return model_servers(model or models[IMAGES[image.split("@")[0]]])

    kube.on_pod_ready = pod_ready
    kube.built_images = {}  # image prefix -> the model it was built from (registry= tests)
    kube.put({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shoot-info", "namespace": "kube-system"},
              "data": {"domain": "c-1.kyma.example.com"}})
    monkeypatch.setenv("KUBECONFIG", str(kube.kubeconfig))
    monkeypatch.setenv("MLFLOW_BRIDGE_GATEWAY", kube.gateway_url)
    return kube


def kubectl(server, *args):
    proc = subprocess.run(["kubectl", "--kubeconfig", str(server.kubeconfig), "--cache-dir",
                           str(server.kubeconfig) + "-cache", *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def ours(server, kinds="deploy,svc,apirules,ingresses,secrets"):
    """What kubectl finds of ours in the default namespace: [(kind, name), ...]."""
    items = json.loads(kubectl(server, "get", kinds, "-l", "app.kubernetes.io/managed-by=mlflow-bridge", "-o", "json"))["items"]
    return sorted((i["kind"], i["metadata"]["name"]) for i in items)


def test_kyma_create_predict_get_list_delete(cluster):
    client = get_deploy_client("kyma")
    out = client.create_deployment("wine", "models:/tiny/1", config={"image": "reg.example.com/tiny:1", "replicas": "2"})
    assert out["url"] == "https://wine.c-1.kyma.example.com" and out["status"] == "Available"
    assert list(client.predict("wine", ROWS)["predictions"]) == pytest.approx(expected(1.0))
    got = client.get_deployment("wine")
    assert got["model_uri"] == "models:/tiny/1" and got["replicas"] == 2 and got["available_replicas"] == 2
    assert [d["name"] for d in client.list_deployments()] == ["wine"]
    assert ours(cluster) == [("APIRule", "wine"), ("Deployment", "wine"), ("Service", "wine")]
    rule = json.loads(kubectl(cluster, "get", "apirules.gateway.kyma-project.io", "wine", "-o", "json"))
    assert rule["apiVersion"] == "gateway.kyma-project.io/v2" and rule["spec"]["rules"][0]["noAuth"] is True
    deployment = json.loads(kubectl(cluster, "get", "deploy", "wine", "-o", "json"))
    assert deployment["metadata"]["annotations"]["mlflow-bridge/run-id"]
    assert "Replicas:" in kubectl(cluster, "describe", "deployment", "wine")
    client.delete_deployment("wine")
    assert ours(cluster) == []
    client.delete_deployment("wine")  # idempotent
    with pytest.raises(MlflowException) as e:
        client.get_deployment("wine")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_predict_over_the_gateway_limit_is_split_by_rows(cluster):
    """Kyma's gateway takes at most 5 MiB a request: a larger input goes in parts under it, answered in order."""
    cluster.gateway_max_body = 5 << 20
    client = get_deploy_client("kyma")
    client.create_deployment("wine", "models:/tiny/1", config={"image": "reg.example.com/tiny:1"})
    rows = pd.DataFrame({"x1": [float(i % 1000) + 0.25 for i in range(300_000)], "x2": [0.123456789] * 300_000})
    assert len(rows.to_json(orient="split")) > 5 << 20
    sent = len(cluster.gateway_log)
    assert list(client.predict("wine", rows)["predictions"]) == pytest.approx(expected(1.0, rows))
    posts = [e for e in cluster.gateway_log[sent:] if e["method"] == "POST"]
    assert len(posts) >= 2 and all(e["status"] == 200 for e in posts), posts


@pytest.mark.parametrize("target", ["kyma", "aks"])
def test_rolling_update_and_a_failed_update_rolled_back(cluster, target):
    client = get_deploy_client(f"{target}:/default")
    client.create_deployment("wine", "models:/tiny/1", config={"image": "reg.example.com/tiny:1", "host": "wine"})
    client.update_deployment("wine", "models:/tiny/2", config={"image": "reg.example.com/tiny:2"})
    assert list(client.predict("wine", ROWS)["predictions"]) == pytest.approx(expected(2.0))

    cluster.fail_image("reg.example.com/broken:1", "ImagePullBackOff", 'Back-off pulling image "reg.example.com/broken:1"')
    with pytest.raises(MlflowException) as e:
        client.update_deployment("wine", "models:/tiny/1",
                                 config={"image": "reg.example.com/broken:1", "timeout_seconds": "60", "host": "wine"})
    assert "ImagePullBackOff" in e.value.message and "restored" in e.value.message, e.value.message
    image = json.loads(kubectl(cluster, "get", "deploy", "wine", "-o", "json"))["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "reg.example.com/tiny:2"
    assert list(client.predict("wine", ROWS)["predictions"]) == pytest.approx(expected(2.0))


def test_failed_create_leaves_nothing(cluster):
    cluster.fail_image("reg.example.com/crash:1", "CrashLoopBackOff", "back-off restarting failed container")
    with pytest.raises(MlflowException) as e:
        get_deploy_client("kyma").create_deployment("wine", "models:/tiny/1", config={"image": "reg.example.com/crash:1"})
    assert "CrashLoopBackOff" in e.value.message and "deleted" in e.value.message
    assert ours(cluster) == []


def test_aks_ingress_and_load_balancer(cluster):
    client = get_deploy_client("aks")
    out = client.create_deployment("wine", "models:/tiny/1",
                                   config={"image": "reg.example.com/tiny:1", "host": "wine.example.com"})
    assert out["url"] == "http://wine.example.com"
    assert list(client.predict("wine", ROWS)["predictions"]) == pytest.approx(expected(1.0))
    ingress = json.loads(kubectl(cluster, "get", "ingress", "wine", "-o", "json"))
    assert ingress["spec"]["ingressClassName"] == "nginx" and ingress["spec"]["rules"][0]["host"] == "wine.example.com"
    client.create_deployment("lb", "models:/tiny/2", config={"image": "reg.example.com/tiny:2", "expose": "loadbalancer"})
    # The address is the load balancer's, given by its controller whenever it is ready (not part of "available").
    assert cluster.wait_for(lambda: client.get_deployment("lb").get("url", "")).startswith("http://127.0.0.1:")
    assert ours(cluster) == [("Deployment", "lb"), ("Deployment", "wine"), ("Ingress", "wine"), ("Service", "lb"),
                             ("Service", "wine")]
    client.delete_deployment("wine")
    client.delete_deployment("lb")
    assert ours(cluster) == []


def test_apirule_v1beta1_when_v2_is_not_served(kube_factory, home, models, tmp_path, monkeypatch):
    server = kube_factory(apirule_versions=("v1beta1",), tls=True)
    server.kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
    server.on_pod_ready = lambda d: None
    monkeypatch.setenv("KUBECONFIG", str(server.kubeconfig))
    client = get_deploy_client("kyma")
    client.create_deployment("wine", "models:/tiny/1", config={"image": "reg.example.com/tiny:1", "domain": "kyma.example.com"})
    rule = json.loads(kubectl(server, "get", "apirules.v1beta1.gateway.kyma-project.io", "wine", "-o", "json"))
    assert rule["spec"]["host"] == "wine.kyma.example.com"
    assert rule["spec"]["rules"][0]["accessStrategies"][0]["handler"] == "no_auth"


def _apirule_schema(version):
    crd = yaml.safe_load(open(CRD))
    return next(v for v in crd["spec"]["versions"] if v["name"] == version)["schema"]["openAPIV3Schema"]


@pytest.fixture
def no_cluster(tmp_path, monkeypatch):
    """No kubeconfig anywhere and no cluster (a GitOps pipeline's CI job): KUBECONFIG names a file that is not
    there, HOME has no ~/.kube, and nothing says in-cluster."""
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    monkeypatch.setenv("HOME", str(tmp_path))
    for var in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        monkeypatch.delenv(var, raising=False)


def test_render_needs_no_cluster_and_prints_valid_manifests(no_cluster, home, models, capsys):
    import jsonschema

    for target, extra in (("kyma", {"auth": "jwt", "jwt_issuer": "https://id.example.com", "jwks_uri": "https://id.example.com/keys",
                                    "domain": "c-1.kyma.example.com"}),
                          ("aks", {"host": "wine.example.com"})):
        config = {"image": "reg.example.com/tiny:1", "render": "true", "registry_username": "sp", "registry_password": "s3cr3t-pw", **extra}
        out = get_deploy_client(f"{target}:/team").create_deployment("wine", "models:/tiny/1", config=config)
        assert (out["name"], out["flavor"]) == ("wine", "python_function")  # what MLflow's CLI prints
        printed = capsys.readouterr()
        docs = list(yaml.safe_load_all(printed.out))
        # The pull Secret holds the password: referenced, never printed.
        assert [d["kind"] for d in docs] == ["Service", "Deployment", "APIRule" if target == "kyma" else "Ingress"]
        assert {d["metadata"]["namespace"] for d in docs} == {"team"}
        assert docs[1]["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "wine-pull"}]
        assert "s3cr3t-pw" not in printed.out + printed.err
        for doc in docs:
            if doc["kind"] == "APIRule":
                assert doc["apiVersion"] == "gateway.kyma-project.io/v2"  # apirule_version's default when rendering
                assert doc["spec"]["hosts"] == ["wine.c-1.kyma.example.com"]
                jsonschema.validate(doc, _apirule_schema("v2"))
                assert doc["spec"]["rules"][0]["jwt"]["authentications"][0]["issuer"] == "https://id.example.com"
            else:
                kubernetes_validate.validate(doc, "1.32", strict=True)
    client = get_deploy_client("kyma")
    image = {"image": "reg.example.com/tiny:1", "render": "true"}
    rule = {**image, "namespace": "team", "host": "wine.example.com", "apirule_version": "v1beta1"}
    assert client.update_deployment("wine", "models:/tiny/2", config=rule)["flavor"] == "python_function"
    (_, _, old) = yaml.safe_load_all(capsys.readouterr().out)
    assert old["apiVersion"] == "gateway.kyma-project.io/v1beta1" and old["spec"]["host"] == "wine.example.com"
    jsonschema.validate(old, _apirule_schema("v1beta1"))
    # An ECR image's pull Secret is not printed, so no AWS call is made for its password either.
    client.create_deployment("wine", "models:/tiny/1", config={**rule, "image": "123456789012.dkr.ecr.us-west-2.amazonaws.com/tiny:1"})
    assert list(yaml.safe_load_all(capsys.readouterr().out))[1]["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "wine-pull"}]

    # What is missing is said, with where to find it and how to pass it.
    with pytest.raises(MlflowException, match=r"render=true .* needs the namespace: use the target URI kyma:/<namespace> or -C namespace=") as e:
        client.create_deployment("wine", "models:/tiny/1", config={**image, "domain": "c-1.kyma.example.com"})
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException, match=r"-C domain=<cluster domain> \(Kyma keeps it in ConfigMap kube-system/shoot-info.*-C host=<fqdn>"):
        get_deploy_client("kyma:/team").create_deployment("wine", "models:/tiny/1", config=image)
    with pytest.raises(MlflowException, match="'apirule_version' must be auto, v2 or v1beta1; got 'v3'"):
        client.create_deployment("wine", "models:/tiny/1", config={**rule, "apirule_version": "v3"})
    with pytest.raises(MlflowException, match="this command has nothing to render"):  # and deletes nothing
        get_deploy_client("kyma:/team").delete_deployment("wine", config={"render": "true"})

    # An endpoint's route: Kyma's VirtualService as Istio's webhook checks it, AKS's Ingress and Service.
    from kubernetes import virtualservice_problems

    get_deploy_client("kyma:/team").create_endpoint("wine", config={"render": "true", "domain": "c-1.kyma.example.com"})
    (vs,) = yaml.safe_load_all(capsys.readouterr().out)
    assert vs["kind"] == "VirtualService" and virtualservice_problems(vs["spec"]) == []
    assert vs["apiVersion"] == "networking.istio.io/v1" and vs["spec"]["hosts"] == ["wine.c-1.kyma.example.com"]
    assert vs["spec"]["http"][0]["directResponse"]["status"] == 503
    get_deploy_client("aks:/team").create_endpoint("wine", config={"render": "true", "host": "wine.example.com"})
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [d["kind"] for d in docs] == ["Service", "Ingress"]
    for doc in docs:
        kubernetes_validate.validate(doc, "1.32", strict=True)
    # A first deployment that makes its endpoint: the endpoint's route too, all of its traffic to the deployment.
    get_deploy_client("kyma:/team").create_deployment("blue", "models:/tiny/1", endpoint="wine",
                                                      config={**image, "create_endpoint": "true", "domain": "c-1.kyma.example.com"})
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [d["kind"] for d in docs] == ["Service", "Deployment", "VirtualService"] and virtualservice_problems(docs[2]["spec"]) == []
    assert [(r["destination"]["host"], r["weight"]) for r in docs[2]["spec"]["http"][-1]["route"]] == [("blue.team.svc.cluster.local", 100)]


def said(proc, line):
    """Whether the command printed `line` (a line of its stdout)."""
    return line in proc.stdout.splitlines()


@pytest.mark.parametrize("target", ["kyma", "aks"])
def test_cli_render_needs_no_cluster(no_cluster, home, models, target):
    """What a GitOps job runs: create and update with render=true print the manifests and MLflow's line, exit 0."""
    t = ["-t", f"{target}:/team", "--name", "wine", "-C", "image=reg.example.com/tiny:1", "-C", "render=true",
         "-C", "host=wine.example.com"]
    created = cli("create", *t, "-m", "models:/tiny/1")
    assert said(created, "python_function deployment wine is created"), created.stdout
    kinds = [line for line in created.stdout.splitlines() if line.startswith("kind: ")]
    assert kinds == ["kind: Service", "kind: Deployment", "kind: APIRule" if target == "kyma" else "kind: Ingress"]
    updated = cli("update", *t, "-m", "models:/tiny/2")
    assert said(updated, "Deployment wine is updated (with flavor python_function)"), updated.stdout
    joined = cli("create", *t[:2], "--name", "blue", "--endpoint", "wine", "-m", "models:/tiny/1", "-C", "image=reg.example.com/tiny:1",
                 "-C", "render=true", "-C", "create_endpoint=true", "-C", "host=wine.example.com")
    assert said(joined, "python_function deployment blue is created"), joined.stdout


@pytest.mark.parametrize("target", ["kyma", "aks"])
def test_cli(cluster, tmp_path, target):
    """The first command in a new process (the console script), the others through MLflow's command line here."""
    t = ["-t", f"{target}:/default"]
    host = ["-C", "host=wine.example.com"] if target == "aks" else []
    created = cli_process("create", *t, "--name", "wine", "-m", "models:/tiny/1", "-C", "image=reg.example.com/tiny:1", *host)
    assert said(created, "python_function deployment wine is created"), created.stdout
    listed = cli("list", *t).stdout
    assert "List of all deployments:" in listed and "'name': 'wine'" in listed, listed
    got = cli("get", *t, "--name", "wine")
    assert said(got, "name: wine") and said(got, "model_uri: models:/tiny/1") and said(got, "flavor: python_function"), got.stdout
    helped = cli("help", *t).stdout
    assert f"Target '{target}'" in helped and "render" in helped and ("apirule_version" in helped) == (target == "kyma")
    (tmp_path / "in.json").write_text(ROWS.to_json(orient="records"))

    def predictions():
        out = cli("predict", *t, "--name", "wine", "--input-path", str(tmp_path / "in.json")).stdout
        return json.loads(out.strip().splitlines()[-1])["predictions"]

    assert predictions() == pytest.approx(expected(1.0))
    updated = cli("update", *t, "--name", "wine", "-m", "models:/tiny/2", "-C", "image=reg.example.com/tiny:2", *host)
    assert said(updated, "Deployment wine is updated (with flavor python_function)"), updated.stdout
    assert predictions() == pytest.approx(expected(2.0))
    cluster.fail_image("reg.example.com/broken:1", "ErrImagePull", 'pull access denied for "reg.example.com/broken"')
    failed = cli("update", *t, "--name", "wine", "-m", "models:/tiny/1", "-C", "image=reg.example.com/broken:1",
                 "-C", "timeout_seconds=60", *host, check=False)
    assert failed.returncode != 0 and "ErrImagePull" in failed.stderr and "restored" in failed.stderr, failed.stderr
    assert predictions() == pytest.approx(expected(2.0))
    assert said(cli("delete", *t, "--name", "wine"), "Deployment wine is deleted")
    assert ours(cluster) == []


def test_bad_input_is_clear_and_creates_nothing(cluster, tmp_path, monkeypatch):
    client = get_deploy_client("kyma")
    image = {"image": "reg.example.com/tiny:1"}
    for name in ("Wine", "wine_1", "x" * 64, "9wine"):
        with pytest.raises(MlflowException, match="Invalid deployment name"):
            client.create_deployment(name, "models:/tiny/1", config=image)
    with pytest.raises(MlflowException) as e:
        get_deploy_client("kyma:/nowhere").create_deployment("wine", "models:/tiny/1", config=image)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST" and "nowhere" in e.value.message
    with pytest.raises(MlflowException, match='context "prod" is not in kubeconfig'):
        client.create_deployment("wine", "models:/tiny/1", config={**image, "context": "prod"})
    with pytest.raises(MlflowException, match="image"):
        client.create_deployment("wine", "models:/tiny/1", config={})
    wrong = cluster.write_kubeconfig(tmp_path / "wrong-token", token="not-the-token")
    with pytest.raises(MlflowException) as e:
        client.create_deployment("wine", "models:/tiny/1", config={**image, "kubeconfig": str(wrong)})
    assert e.value.error_code == "UNAUTHENTICATED" and "not-the-token" not in e.value.message
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = tmp_path / "dead"
        dead.write_text(open(cluster.kubeconfig).read().replace(cluster.url, f"http://127.0.0.1:{s.getsockname()[1]}"))
    with pytest.raises(MlflowException) as e:
        client.create_deployment("wine", "models:/tiny/1", config={**image, "kubeconfig": str(dead)})
    assert e.value.error_code == "TEMPORARILY_UNAVAILABLE" and "unreachable" in e.value.message
    cluster.forbidden.add(("patch", "deployments"))  # RBAC: may apply Services, not Deployments
    with pytest.raises(MlflowException) as e:
        client.create_deployment("red", "models:/tiny/1", config=image)
    assert e.value.error_code == "PERMISSION_DENIED" and "forbidden" in e.value.message, e.value.message
    cluster.forbidden.clear()
    client.create_deployment("wine", "models:/tiny/1", config=image)
    with pytest.raises(MlflowException) as e:
        client.create_deployment("wine", "models:/tiny/1", config=image)
    assert e.value.error_code == "RESOURCE_ALREADY_EXISTS"
    assert ours(cluster) == [("APIRule", "wine"), ("Deployment", "wine"), ("Service", "wine")]


def _scale(answer):
    """Which model answered: version1 scales the rows by 1, version2 by 2."""
    predictions = list(answer["predictions"])
    return next(k for k in (1.0, 2.0) if predictions == pytest.approx(expected(k)))


@pytest.mark.parametrize("target", ["kyma", "aks"])
def test_endpoint_with_two_weighted_deployments(cluster, target):
    client = get_deploy_client(target)
    endpoint = client.create_endpoint("wine", config={"host": "wine.example.com"} if target == "aks" else {})
    url = "https://wine.c-1.kyma.example.com" if target == "kyma" else "http://wine.example.com"
    assert endpoint["url"] == url and endpoint["deployments"] == []
    with pytest.raises(MlflowException, match="503"):  # the route is there, nothing serves it yet
        client.predict(endpoint="wine", inputs=ROWS)

    client.create_deployment("blue", "models:/tiny/1", config={"image": "reg.example.com/tiny:1"}, endpoint="wine")
    out = client.create_deployment("green", "models:/tiny/2", endpoint="wine",
                                   config={"image": "reg.example.com/tiny:2", "initial_weight": "25"})
    assert out["endpoint"] == "wine" and out["url"] == url and out["weight"] == 25
    assert client.get_endpoint("wine")["deployments"] == [{"name": "blue", "weight": 75}, {"name": "green", "weight": 25}]
    assert [e["name"] for e in client.list_endpoints()] == ["wine"]
    assert [d["name"] for d in client.list_deployments(endpoint="wine")] == ["blue", "green"]
    # One deployment of the endpoint, whatever the weights; with or without naming the endpoint.
    assert _scale(client.predict("green", ROWS, endpoint="wine")) == 2.0
    assert _scale(client.predict("blue", ROWS)) == 1.0

    cluster.reseed(7)
    scales = [_scale(client.predict(endpoint="wine", inputs=ROWS)) for _ in range(40)]
    assert 0 < scales.count(2.0) < scales.count(1.0), scales  # about a quarter to green

    client.update_endpoint("wine", config={"weights": {"blue": 0, "green": 100}})
    assert {_scale(client.predict(endpoint="wine", inputs=ROWS)) for _ in range(10)} == {2.0}
    if target == "kyma":
        vs = json.loads(kubectl(cluster, "get", "virtualservices", "wine", "-o", "json"))
        assert vs["spec"]["gateways"] == ["kyma-system/kyma-gateway"]
        assert [(r["destination"]["host"], r["weight"]) for r in vs["spec"]["http"][-1]["route"]] == [
            ("blue.default.svc.cluster.local", 0), ("green.default.svc.cluster.local", 100)]
    else:
        canary = json.loads(kubectl(cluster, "get", "ingress", "wine-canary", "-o", "json"))
        assert canary["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"] == "100"
        with pytest.raises(MlflowException, match="one canary"):  # ingress-nginx: one canary per host
            client.create_deployment("red", "models:/tiny/1", config={"image": "reg.example.com/tiny:1"}, endpoint="wine")

    # A rolling update keeps the deployment in its endpoint; leaving it gives its share to the others.
    client.update_deployment("blue", "models:/tiny/2", config={"image": "reg.example.com/tiny:2"})
    assert _scale(client.predict("blue", ROWS, endpoint="wine")) == 2.0
    client.delete_deployment("green", endpoint="wine")
    assert client.get_endpoint("wine")["deployments"] == [{"name": "blue", "weight": 100}]
    assert _scale(client.predict(endpoint="wine", inputs=ROWS)) == 2.0

    client.delete_endpoint("wine")
    assert ours(cluster, "deploy,svc,apirules,ingresses,secrets,virtualservices") == []
    client.delete_endpoint("wine")  # idempotent
    with pytest.raises(MlflowException) as e:
        client.get_endpoint("wine")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_endpoint_bad_input_changes_nothing(cluster):
    client = get_deploy_client("kyma")
    image = {"image": "reg.example.com/tiny:1"}
    with pytest.raises(MlflowException, match="create_endpoint=true") as e:  # no such endpoint
        client.create_deployment("blue", "models:/tiny/1", config=image, endpoint="wine")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException, match="Invalid endpoint name"):
        client.create_endpoint("Wine")
    jwt = {"auth": "jwt", "jwt_issuer": "https://id.example.com", "jwks_uri": "https://id.example.com/keys"}
    with pytest.raises(MlflowException, match="checks no tokens"):  # not silently open
        client.create_endpoint("wine", config=jwt)
    client.create_endpoint("wine")
    with pytest.raises(MlflowException) as e:
        client.create_endpoint("wine")
    assert e.value.error_code == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException, match="name of an MLflow endpoint"):
        client.create_deployment("wine", "models:/tiny/1", config=image)
    client.create_deployment("blue", "models:/tiny/1", config=image, endpoint="wine")
    cluster.fail_image("reg.example.com/crash:1", "CrashLoopBackOff", "back-off restarting failed container")
    with pytest.raises(MlflowException, match="CrashLoopBackOff"):  # the endpoint it made goes again
        client.create_deployment("red", "models:/tiny/1", endpoint="new",
                                 config={"image": "reg.example.com/crash:1", "create_endpoint": "true"})
    with pytest.raises(MlflowException, match="no deployment named 'red'"):
        client.update_endpoint("wine", config={"weights": {"red": 10}})
    with pytest.raises(MlflowException, match="add up to 0"):
        client.update_endpoint("wine", config={"weights": {"blue": 0}})
    with pytest.raises(MlflowException, match="needs -C weights"):
        client.update_endpoint("wine", config={})
    with pytest.raises(MlflowException, match="not in endpoint 'other'"):
        client.update_deployment("blue", "models:/tiny/1", config=image, endpoint="other")
    assert client.get_endpoint("wine")["deployments"] == [{"name": "blue", "weight": 100}]
    assert ours(cluster, "deploy,svc,apirules,virtualservices") == [
        ("Deployment", "blue"), ("Service", "blue"), ("VirtualService", "wine")]


@pytest.mark.parametrize("target", ["kyma", "aks"])
def test_endpoint_cli(cluster, tmp_path, target):
    # MLflow 3.x's own `create-endpoint` command cannot reach a plugin (it calls create_endpoint(endpoint=...)
    # while the interface names it `name`): the first deployment makes the endpoint with create_endpoint=true.
    t = ["-t", f"{target}:/default"]
    made = cli("create", *t, "--name", "blue", "--endpoint", "wine", "-m", "models:/tiny/1", "-C", "image=reg.example.com/tiny:1",
               "-C", "create_endpoint=true", "-C", "host=wine.example.com" if target == "aks" else "host=wine")
    assert said(made, "python_function deployment blue is created"), made.stdout
    joined = cli("create", *t, "--name", "green", "--endpoint", "wine", "-m", "models:/tiny/2", "-C", "image=reg.example.com/tiny:2")
    assert said(joined, "python_function deployment green is created"), joined.stdout
    assert said(cli("update-endpoint", *t, "--endpoint", "wine", "-C", 'weights={"blue": 1, "green": 3}'), "Endpoint wine is updated")
    got = cli("get-endpoint", *t, "--endpoint", "wine")
    assert said(got, "name: wine") and "'weight': 75" in got.stdout and "'weight': 25" in got.stdout, got.stdout
    listed = cli("list-endpoints", *t).stdout
    assert "List of all endpoints:" in listed and "'name': 'wine'" in listed, listed
    assert "'name': 'green'" in cli("list", *t, "--endpoint", "wine").stdout
    (tmp_path / "in.json").write_text(ROWS.to_json(orient="records"))
    out = cli("predict", *t, "--endpoint", "wine", "--input-path", str(tmp_path / "in.json")).stdout
    assert json.loads(out.strip().splitlines()[-1])["predictions"] in (pytest.approx(expected(1.0)), pytest.approx(expected(2.0)))
    out = cli("predict", *t, "--name", "green", "--input-path", str(tmp_path / "in.json")).stdout
    assert json.loads(out.strip().splitlines()[-1])["predictions"] == pytest.approx(expected(2.0))
    updated = cli("update", *t, "--name", "green", "--endpoint", "wine", "-m", "models:/tiny/1", "-C", "image=reg.example.com/tiny:1")
    assert said(updated, "Deployment green is updated (with flavor python_function)"), updated.stdout
    assert said(cli("get", *t, "--name", "green", "--endpoint", "wine"), "endpoint: wine")
    assert said(cli("delete", *t, "--name", "green", "--endpoint", "wine"), "Deployment green is deleted")
    assert said(cli("delete-endpoint", *t, "--endpoint", "wine"), "Endpoint wine is deleted")
    assert ours(cluster, "deploy,svc,ingresses,apirules,virtualservices") == []


MODEL_CODE = """
import mlflow


class Doubler(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return [2 * float(v) for v in model_input.iloc[:, 0]]


mlflow.models.set_model(Doubler())
"""


def _fedml_config(cluster, tmp_path, repository):
    """FedML's common keys for SERVICE_NAME wine, serving a model that doubles its input once built into `repository`."""
    import mlflow

    code = tmp_path / "doubler.py"
    code.write_text(MODEL_CODE)
    model = tmp_path / "doubler"
    mlflow.pyfunc.save_model(str(model), python_model=str(code),
                             pip_requirements=[f"mlflow-skinny=={mlflow.__version__}", "pandas"])
    cluster.built_images[repository] = str(model)
    return {"DATABRICKS_URL": "https://adb-1.azuredatabricks.net", "DATABRICKS_ACCESS_TOKEN": "dapi-secret",
            "MODEL_URI": str(model), "SERVICE_NAME": "wine", "KUBECONFIG_PATH": str(cluster.kubeconfig)}


def test_fedml_deploy_to_kyma_builds_pushes_and_serves(cluster, registry_factory, tmp_path, monkeypatch):
    """FedML's config file as is: the image is built and pushed to the "ACR" (a registry that takes the
    service principal's login), the pull Secret made from it, and the model served on Kyma."""
    import registry as reg
    from mlflow_bridge import fedml

    acr = registry_factory("htpasswd", users={"sp-app-id": "sp-secret"})
    base = reg.make_base_image(acr.host, "lib/python", "3.11", creds="sp-app-id:sp-secret")
    monkeypatch.setenv("MLFLOW_BRIDGE_BASE_IMAGE", base["ref"])
    monkeypatch.setenv("MLFLOW_BRIDGE_INSECURE_REGISTRIES", acr.host)
    config = {
        **_fedml_config(cluster, tmp_path, f"{acr.host}/wine"),
        "CONTAINER_REGISTRY_TYPE": "ACR", "SERVICE_PRINCIPAL_ID": "sp-app-id", "SERVICE_PRINCIPAL_PASSWORD": "sp-secret",
        "ACR": acr.host, "NUM_REPLICAS": "2",
    }
    path = tmp_path / "databricks_config.json"
    path.write_text(json.dumps(config))
    monkeypatch.delenv("KUBECONFIG")
    url = fedml.deploy_to_kyma(str(path))
    assert url == "https://wine.c-1.kyma.example.com/invocations"
    answer = fedml.predict(url, {"dataframe_split": {"columns": ["x"], "data": [[1.5], [4.0]]}})
    assert answer == {"predictions": [3.0, 8.0]}
    assert ("wine", "wine") in acr.manifest_puts()
    assert ours(cluster) == [("APIRule", "wine"), ("Deployment", "wine"), ("Secret", "wine-pull"), ("Service", "wine")]
    secret = json.loads(kubectl(cluster, "get", "secret", "wine-pull", "-o", "json"))
    assert secret["type"] == "kubernetes.io/dockerconfigjson"

    with pytest.raises(MlflowException) as e:  # deployed already, and OVERWRITE_SERVICE not set
        fedml.deploy_to_kyma(str(path))
    assert e.value.error_code == "RESOURCE_ALREADY_EXISTS" and "OVERWRITE_SERVICE" in e.value.message
    path.write_text(json.dumps({**config, "OVERWRITE_SERVICE": True}))
    assert fedml.deploy_to_kyma(str(path)) == url

    path.write_text(json.dumps({k: v for k, v in config.items() if k != "KUBECONFIG_PATH"}))
    with pytest.raises(MlflowException, match="lacks KUBECONFIG_PATH"):
        fedml.deploy_to_kyma(str(path))
    path.write_text(json.dumps({**config, "OVERWRITE_SERVICE": "maybe"}))
    with pytest.raises(MlflowException, match="OVERWRITE_SERVICE"):
        fedml.deploy_to_kyma(str(path))


ECR = "123456789012.dkr.ecr.us-west-2.amazonaws.com"  # moto's account; its ECR login is AWS:123456789012-auth-token


def _pull_login(server, name):
    secret = json.loads(kubectl(server, "get", "secret", name, "-o", "json"))
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    return json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))["auths"]


def test_ecr_image_gets_a_pull_secret_from_get_authorization_token(cluster, aws, models):
    import boto3

    cluster.built_images[f"{ECR}/tiny"] = models["version1"]
    client = get_deploy_client("kyma")
    client.create_deployment("wine", "models:/tiny/1", config={"image": f"{ECR}/tiny:1"})  # auto: ECR by its host
    token = boto3.client("ecr", region_name="us-west-2").get_authorization_token()["authorizationData"][0]
    user, password = base64.b64decode(token["authorizationToken"]).decode().split(":", 1)
    login = _pull_login(cluster, "wine-pull")[ECR]
    assert (login["username"], login["password"]) == (user, password) == ("AWS", "123456789012-auth-token")
    assert json.loads(kubectl(cluster, "get", "deploy", "wine", "-o", "json"))["spec"]["template"]["spec"][
        "imagePullSecrets"] == [{"name": "wine-pull"}]
    # Credentials that change reach the Secret with the next update.
    client.update_deployment("wine", "models:/tiny/1",
                             config={"image": f"{ECR}/tiny:1", "registry_username": "ci", "registry_password": "rotated"})
    assert _pull_login(cluster, "wine-pull")[ECR]["password"] == "rotated"
    client.create_deployment("lean", "models:/tiny/1", config={"image": f"{ECR}/tiny:1", "registry_auth": "anonymous"})
    assert ("Secret", "lean-pull") not in ours(cluster)
    # The old spelling still works, with a deprecation warning.
    client.create_deployment("lean2", "models:/tiny/1", config={"image": f"{ECR}/tiny:1", "registry_auth": "none"})
    assert ("Secret", "lean2-pull") not in ours(cluster)
    with pytest.raises(MlflowException, match="'registry_auth' must be one of auto, anonymous, basic, docker-config, "
                                              "ecr, acr; got 'gcr'"):
        client.create_deployment("odd", "models:/tiny/1", config={"image": f"{ECR}/tiny:1", "registry_auth": "gcr"})
    assert ("Deployment", "odd") not in ours(cluster)


def test_pull_secret_from_docker_config(cluster, models, tmp_path, monkeypatch):
    """registry_auth=docker-config: the cluster pulls with the user and password `docker login` left in
    ~/.docker/config.json for the image's registry; an entry without them (a credential helper) is refused."""
    cluster.built_images["registry.example.com/tiny"] = models["version1"]
    login = base64.b64encode(b"robot:from-docker-login").decode()
    (tmp_path / "config.json").write_text(json.dumps({"auths": {"registry.example.com": {"auth": login}},
                                                      "credHelpers": {"helper.example.com": "secretservice"}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    client = get_deploy_client("kyma")
    client.create_deployment("dc", "models:/tiny/1",
                             config={"image": "registry.example.com/tiny:1", "registry_auth": "docker-config"})
    entry = _pull_login(cluster, "dc-pull")["registry.example.com"]
    assert (entry["username"], entry["password"]) == ("robot", "from-docker-login")
    with pytest.raises(MlflowException, match="registry_auth=docker-config") as e:
        client.create_deployment("dc2", "models:/tiny/1",
                                 config={"image": "helper.example.com/tiny:1", "registry_auth": "docker-config"})
    assert "from-docker-login" not in str(e.value)
    assert ("Deployment", "dc2") not in ours(cluster)


def test_fedml_deploy_to_kyma_with_ecr(cluster, aws, registry_factory, tmp_path, monkeypatch):
    """FedML's ECR config: the repository SERVICE_NAME is made in the profile's account and region, the image
    pushed there with an ECR login, and the pull Secret holds a GetAuthorizationToken password. The registry
    that stands in for ECR is reached under ECR's name (MLFLOW_BRIDGE_CONNECT_TO, like curl --connect-to)."""
    import boto3
    import registry as reg
    from mlflow_bridge import fedml

    ecr = registry_factory("htpasswd", users={"AWS": "123456789012-auth-token"})
    reg.make_base_image(ecr.host, "lib/python", "3.11", creds="AWS:123456789012-auth-token")
    monkeypatch.setenv("MLFLOW_BRIDGE_CONNECT_TO", f"{ECR}::{ecr.host}")
    monkeypatch.setenv("MLFLOW_BRIDGE_INSECURE_REGISTRIES", ECR)
    monkeypatch.setenv("MLFLOW_BRIDGE_BASE_IMAGE", f"{ECR}/lib/python:3.11")
    monkeypatch.delenv("AWS_DEFAULT_REGION")  # the profile's region counts
    # The named profile's keys sign (an explicit profile wins over the environment's keys, as in boto3).
    (tmp_path / "aws-config").write_text("[profile ml]\nregion = us-west-2\naws_access_key_id = ml-key\n"
                                         "aws_secret_access_key = ml-secret\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    config = {**_fedml_config(cluster, tmp_path, f"{ECR}/wine"), "CONTAINER_REGISTRY_TYPE": "ECR", "PROFILE_NAME": "ml"}
    path = tmp_path / "databricks_config.json"
    path.write_text(json.dumps(config))
    url = fedml.deploy_to_kyma(str(path))
    assert url == "https://wine.c-1.kyma.example.com/invocations"
    assert fedml.predict(url, {"dataframe_split": {"columns": ["x"], "data": [[1.5], [4.0]]}}) == {"predictions": [3.0, 8.0]}
    repo = boto3.client("ecr", region_name="us-west-2").describe_repositories(repositoryNames=["wine"])["repositories"][0]
    assert repo["repositoryUri"] == f"{ECR}/wine"
    assert ("wine", "wine") in ecr.manifest_puts()
    assert _pull_login(cluster, "wine-pull")[ECR]["password"] == "123456789012-auth-token"
    image = json.loads(kubectl(cluster, "get", "deploy", "wine", "-o", "json"))["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.startswith(f"{ECR}/wine@sha256:")

    path.write_text(json.dumps({k: v for k, v in config.items() if k != "PROFILE_NAME"}))
    with pytest.raises(MlflowException, match="lacks PROFILE_NAME"):
        fedml.deploy_to_kyma(str(path))


def _kubectl_with(config, tmp_path, *args):
    """kubectl with this kubeconfig only (its own HOME and cache; no proxy from the environment)."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("https_proxy", "http_proxy", "no_proxy")}
    return subprocess.run(["kubectl", "--kubeconfig", str(config), "--cache-dir", str(tmp_path / "kubectl-cache"), *args],
                          capture_output=True, text=True, timeout=60, env={**env, "HOME": str(tmp_path)})


def test_kubeconfig_tls_server_name_and_proxy_url_as_kubectl(kube_factory, home, models, tmp_path, monkeypatch):
    """A private cluster: its certificate names kube.internal.example (not the address it is reached at), and
    it is reached through the cluster's proxy-url; the rest of the world is not (no proxy from the environment)."""
    from proxy import Proxy

    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    server = kube_factory(tls=True, tls_names=("kube.internal.example",))
    address = server.url.removeprefix("https://")

    def names_seen(config):
        """(SNI, Host) of mlflow-bridge's and of kubectl's requests with `config`, or the error of each."""
        monkeypatch.setenv("KUBECONFIG", str(config))
        server.sni_names.clear()
        server.request_hosts.clear()
        try:
            get_deploy_client("kyma:/default").list_deployments()
            ours_ = (set(server.sni_names), set(server.request_hosts))
        except MlflowException as e:
            ours_ = e.error_code
        server.sni_names.clear()
        server.request_hosts.clear()
        proc = _kubectl_with(config, tmp_path, "get", "deployments")
        theirs = (set(server.sni_names), set(server.request_hosts)) if proc.returncode == 0 else proc.stderr
        return ours_, theirs

    # Without tls-server-name the certificate does not fit: both refuse.
    ours_, theirs = names_seen(server.write_kubeconfig(tmp_path / "plain"))
    assert ours_ == "UNAUTHENTICATED" and "x509:" in theirs, theirs
    # With it: SNI and the certificate check use it, the connection and Host stay the server URL's.
    named = server.write_kubeconfig(tmp_path / "named", tls_server_name="kube.internal.example")
    assert names_seen(named) == (({"kube.internal.example"}, {address}),) * 2
    # Through the cluster's proxy-url (HTTP CONNECT, then SOCKS5): the tunnel goes to the server URL's address.
    with Proxy() as proxy:
        for url, tunnel in ((proxy.url, f"CONNECT {address}"), (proxy.socks_url, f"SOCKS5 {address}")):
            proxied = server.write_kubeconfig(tmp_path / "proxied", tls_server_name="kube.internal.example", proxy_url=url)
            proxy.tunnels.clear()
            monkeypatch.setenv("KUBECONFIG", str(proxied))
            get_deploy_client("kyma:/default").list_deployments()
            ours_ = set(proxy.tunnels)
            proxy.tunnels.clear()
            proc = _kubectl_with(proxied, tmp_path, "get", "deployments")
            assert proc.returncode == 0, proc.stderr
            assert ours_ == set(proxy.tunnels) == {tunnel}, (ours_, proxy.tunnels)
        # The proxy is that cluster's only: the same cluster without proxy-url is reached directly.
        proxy.tunnels.clear()
        assert names_seen(named) == (({"kube.internal.example"}, {address}),) * 2 and proxy.tunnels == []
    # A proxy kubectl does not take is refused before any request, naming the key and the forms it takes.
    bad = server.write_kubeconfig(tmp_path / "bad", proxy_url="ftp://user:pw-secret@proxy.example.com:21")
    monkeypatch.setenv("KUBECONFIG", str(bad))
    server.requests.clear()
    with pytest.raises(MlflowException, match=r"proxy-url .* is not an http://, https:// or socks5:// URL") as e:
        get_deploy_client("kyma:/default").list_deployments()
    assert e.value.error_code == "INVALID_PARAMETER_VALUE" and "pw-secret" not in e.value.message
    assert server.requests == []
    assert "unsupported scheme" in _kubectl_with(bad, tmp_path, "get", "deployments").stderr
