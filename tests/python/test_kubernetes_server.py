"""The Kubernetes stand-in (tests/servers/kubernetes.py), checked with kubectl 1.32, raw HTTP and the
published Kubernetes JSON schemas (kubernetes-validate)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading

import kubernetes as kube
import kubernetes_validate
import pytest
import requests
import yaml

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl not on PATH")
TOKEN = "s3cret-token"
MANAGED = {"app.kubernetes.io/managed-by": "mlflow-bridge"}
FAST = dict(ready_delay=0.05, apirule_delay=0.05, lb_delay=0.02, deletion_delay=0.05, tick=0.01)


def deployment(name, image="registry.local/model:1", replicas=1, env=None, labels=None):
    container = {"name": "model", "image": image, "ports": [{"containerPort": 8080}]}
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": {**MANAGED, "mlflow-bridge/deployment": name, **(labels or {})}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}}}}


def service(name, app=None, type_=None):
    spec = {"selector": {"app": app or name}, "ports": [{"name": "http", "port": 8080, "targetPort": 8080}]}
    if type_:
        spec["type"] = type_
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "labels": dict(MANAGED)}, "spec": spec}


def apirule_v2(name, host=None, svc=None):
    return {"apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
            "metadata": {"name": name, "labels": dict(MANAGED)},
            "spec": {"hosts": [host or name], "service": {"name": svc or name, "port": 8080},
                     "gateway": "kyma-system/kyma-gateway",
                     "rules": [{"path": "/*", "methods": ["GET", "POST"], "noAuth": True}]}}


def virtual_service(name, host, routes):
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": name, "labels": dict(MANAGED)},
            "spec": {"hosts": [host], "gateways": ["kyma-system/kyma-gateway"],
                     "http": [{"route": [{"destination": {"host": h, "port": {"number": 8080}}, "weight": w}
                                         for h, w in routes]}]}}


def ingress(name, host, svc, path="/", annotations=None):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "labels": dict(MANAGED), "annotations": annotations or {}},
            "spec": {"ingressClassName": "nginx", "rules": [{"host": host, "http": {"paths": [{
                "path": path, "pathType": "Prefix",
                "backend": {"service": {"name": svc, "port": {"number": 8080}}}}]}}]}}


def covers(live, applied):
    """Everything `applied` says is in `live` (the server may add defaults)."""
    if isinstance(applied, dict):
        return isinstance(live, dict) and all(covers(live.get(k), v) for k, v in applied.items())
    if isinstance(applied, list):
        return isinstance(live, list) and len(live) == len(applied) and all(map(covers, live, applied))
    return live == applied


class Api:
    """requests against the server, paths built like client-go builds them."""

    PLURAL = {"Deployment": ("apis/apps/v1", "deployments"), "Service": ("api/v1", "services"),
              "Pod": ("api/v1", "pods"), "ReplicaSet": ("apis/apps/v1", "replicasets"),
              "Secret": ("api/v1", "secrets"), "Event": ("api/v1", "events"),
              "Ingress": ("apis/networking.k8s.io/v1", "ingresses"),
              "VirtualService": ("apis/networking.istio.io/v1", "virtualservices")}

    def __init__(self, server, token=TOKEN):
        self.server, self.base = server, server.url
        self.s = requests.Session()
        self.s.headers["Authorization"] = f"Bearer {token}"

    def path(self, kind, name=None, ns="default", api=None, sub=None):
        prefix, plural = (api, kind) if api else self.PLURAL[kind]
        p = f"{self.base}/{prefix}/" + (f"namespaces/{ns}/" if ns else "") + plural
        return p + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")

    def apply(self, obj, manager="mlflow-bridge", force=True, ns="default", sub=None):
        if obj["kind"] == "APIRule":
            url = self.path("apirules", obj["metadata"]["name"], ns, api="apis/" + obj["apiVersion"], sub=sub)
        else:
            url = self.path(obj["kind"], obj["metadata"]["name"], ns, sub=sub)
        return self.s.patch(url, params={"fieldManager": manager, "force": str(force).lower()},
                            data=json.dumps(obj), headers={"Content-Type": "application/apply-patch+yaml"})

    def get(self, kind, name=None, ns="default", **params):
        return self.s.get(self.path(kind, name, ns), params=params)


@pytest.fixture
def kube_server():
    server = kube.KubeApiServer(TOKEN, **FAST).start()
    yield server
    server.stop()
    assert server.controller_errors == []


@pytest.fixture
def api(kube_server):
    return Api(kube_server)


@pytest.fixture
def backends(echo_backends):
    return echo_backends


def wait_ready(api, name, generation=None, timeout=10):
    def ready():
        d = api.get("Deployment", name).json()
        st = d.get("status") or {}
        gen = generation or d["metadata"]["generation"]
        ok = st.get("observedGeneration", 0) >= gen and st.get("availableReplicas", 0) == d["spec"]["replicas"] \
            and st.get("updatedReplicas", 0) == d["spec"]["replicas"] and st.get("replicas") == d["spec"]["replicas"]
        return d if ok else None
    return api.server.wait_for(ready, timeout)


# ---------------------------------------------------------------------------------- kubectl
@pytest.fixture
def kubectl(tmp_path):
    """kubectl against a TLS server (kubectl sends bearer tokens only over TLS) with its own cache."""
    server = kube.KubeApiServer(TOKEN, tls=True, client_cert=True, **FAST).start()
    config = server.write_kubeconfig(tmp_path / "kubeconfig")
    env = {**os.environ, "HOME": str(tmp_path), "KUBECONFIG": config}

    def run(*args, check=True, input=None, config_path=config):
        proc = subprocess.run([KUBECTL, "--kubeconfig", str(config_path), "--cache-dir", str(tmp_path / "cache"),
                               *args], capture_output=True, text=True, timeout=60, env=env, input=input)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc
    run.server, run.tmp = server, tmp_path
    yield run
    server.stop()
    assert server.controller_errors == []


def manifests():
    return [deployment("model-a", replicas=2, env={"MODEL": "a"}), service("model-a"), apirule_v2("model-a"),
            virtual_service("model-a", "model.kyma.example.com", [("model-a", 100)])]


@needs_kubectl
def test_kubectl_apply_get_describe_rollout_delete(kubectl):
    path = kubectl.tmp / "app.yaml"
    path.write_text(yaml.safe_dump_all(manifests()))
    out = kubectl("apply", "-f", str(path)).stdout
    assert "deployment.apps/model-a created" in out
    assert "apirule.gateway.kyma-project.io/model-a created" in out
    assert "virtualservice.networking.istio.io/model-a created" in out
    kubectl("rollout", "status", "deployment/model-a", "--timeout=20s")
    assert "serverside-applied" in kubectl("apply", "--server-side", "-f", str(path)).stdout

    items = json.loads(kubectl("get", "deploy,svc,apirules,virtualservices", "-o", "json").stdout)["items"]
    assert [i["kind"] for i in items] == ["Deployment", "Service", "APIRule", "VirtualService"]
    for live, applied in zip(items, manifests()):   # echoed as applied, plus server defaults
        assert covers(live, {**applied, "metadata": {**applied["metadata"], "namespace": "default"}}), live
        assert live["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "mlflow-bridge"
    dep, svc, rule, _ = items
    assert dep["status"]["availableReplicas"] == 2
    assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert svc["spec"]["clusterIP"].startswith("10.96.")
    kubectl.server.wait_for(lambda: kubectl.server.get("gateway.kyma-project.io", "v2", "apirules", "model-a",
                                                       "default").get("status", {}).get("state") == "Ready")
    for obj in (dep, svc):   # the published 1.32 schemas accept what the server returns (no extra fields)
        kubernetes_validate.validate(obj, "1.32.0", strict=True)
    pods = json.loads(kubectl("get", "pods", "-l", "app=model-a", "-o", "json").stdout)["items"]
    assert len(pods) == 2 and all(p["status"]["phase"] == "Running" for p in pods)
    for p in pods:
        kubernetes_validate.validate({**p, "apiVersion": "v1", "kind": "Pod"}, "1.32.0", strict=True)

    table = kubectl("get", "deployment,apirule", "model-a").stdout.split("\n")   # server-side printing
    assert table[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert table[1].split()[:4] == ["deployment.apps/model-a", "2/2", "2", "2"]
    assert table[4].split()[:3] == ["apirule.gateway.kyma-project.io/model-a", "Ready", "model-a"]
    described = kubectl("describe", "deployment", "model-a").stdout
    assert "NewReplicaSetAvailable" in described and "2 available" in described
    assert "Scaled up replica set model-a-" in described
    assert "model-a" in kubectl("get", "apirule", "model-a").stdout
    assert "MODEL" in kubectl("describe", "pod", pods[0]["metadata"]["name"]).stdout

    # a change rolls out a second revision; the first ReplicaSet is kept at 0 replicas
    changed = manifests()
    changed[0]["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.local/model:2"
    path.write_text(yaml.safe_dump_all(changed))
    assert "deployment.apps/model-a configured" in kubectl("apply", "-f", str(path)).stdout
    kubectl("rollout", "status", "deployment/model-a", "--timeout=20s")
    rs = json.loads(kubectl("get", "rs", "-o", "json").stdout)["items"]
    assert sorted((r["metadata"]["annotations"]["deployment.kubernetes.io/revision"], r["spec"]["replicas"])
                  for r in rs) == [("1", 0), ("2", 2)]

    out = kubectl("delete", "-f", str(path)).stdout
    assert 'deployment.apps "model-a" deleted' in out
    assert "No resources found" in kubectl("get", "deploy,svc,apirules,virtualservices").stderr
    kubectl.server.wait_for(lambda: not kubectl.server.list("", "v1", "pods", "default"))


@needs_kubectl
def test_kubectl_errors_foreground_delete_and_client_certificates(kubectl):
    bad = deployment("Bad_Name")
    proc = kubectl("apply", "-f", "-", input=json.dumps(bad), check=False)
    assert proc.returncode != 0 and 'The Deployment "Bad_Name" is invalid: metadata.name: Invalid value' in proc.stderr
    proc = kubectl("get", "deployment", "nope", check=False)
    assert 'Error from server (NotFound): deployments.apps "nope" not found' in proc.stderr
    proc = kubectl("-n", "missing", "apply", "-f", "-", input=json.dumps(deployment("x")), check=False)
    assert 'namespaces "missing" not found' in proc.stderr

    kubectl("apply", "-f", "-", input=json.dumps(deployment("fg")))
    kubectl("rollout", "status", "deployment/fg", "--timeout=20s")
    out = kubectl("delete", "deployment", "fg", "--cascade=foreground", "--timeout=20s").stdout
    assert 'deployment.apps "fg" deleted' in out
    assert kubectl.server.list("apps", "v1", "replicasets", "default") == []

    # a client certificate from the test CA authenticates as its common name
    cert_config = kubectl.server.write_kubeconfig(kubectl.tmp / "cert-kubeconfig", client_cert=True, user="alice")
    assert "default" in kubectl("get", "ns", config_path=cert_config).stdout
    # a wrong token is refused
    wrong = kubectl.server.write_kubeconfig(kubectl.tmp / "wrong-kubeconfig", token="wrong")
    proc = kubectl("get", "pods", config_path=wrong, check=False)
    assert proc.returncode != 0
    assert "You must be logged in to the server (Unauthorized)" in proc.stderr


@needs_kubectl
def test_kubectl_sends_no_token_over_plain_http(tmp_path):
    """client-go drops bearer tokens on http:// servers: plain HTTP kubectl needs anonymous=True."""
    with kube.KubeApiServer(TOKEN, **FAST) as strict, kube.KubeApiServer(TOKEN, anonymous=True, **FAST) as anon:
        for server, ok in ((strict, False), (anon, True)):
            cfg = server.write_kubeconfig(tmp_path / f"kc-{ok}")
            proc = subprocess.run([KUBECTL, "--kubeconfig", cfg, "--cache-dir", str(tmp_path / f"cache-{ok}"),
                                   "get", "ns"], capture_output=True, text=True, timeout=60,
                                  env={**os.environ, "HOME": str(tmp_path)})
            assert (proc.returncode == 0) == ok, proc.stderr


# ---------------------------------------------------------------------------------- raw API
def test_discovery(kube_server):
    s = requests.Session()
    assert s.get(kube_server.url + "/version").json()["gitVersion"].startswith("v1.32")
    s.headers["Authorization"] = f"Bearer {TOKEN}"
    assert s.get(kube_server.url + "/api").json()["versions"] == ["v1"]
    groups = {g["name"]: [v["version"] for v in g["versions"]] for g in s.get(kube_server.url + "/apis").json()["groups"]}
    assert groups["apps"] == ["v1"] and groups["networking.k8s.io"] == ["v1"]
    assert groups["gateway.kyma-project.io"] == ["v2", "v1beta1"] and groups["networking.istio.io"] == ["v1"]
    res = {r["name"]: r for r in s.get(kube_server.url + "/apis/apps/v1").json()["resources"]}
    assert res["deployments"]["kind"] == "Deployment" and res["deployments"]["namespaced"]
    assert res["deployments"]["shortNames"] == ["deploy"] and "watch" in res["deployments"]["verbs"]
    assert res["deployments/status"]["verbs"] == ["get", "patch", "update"]
    core = {r["name"] for r in s.get(kube_server.url + "/api/v1").json()["resources"]}
    assert {"pods", "pods/log", "events", "secrets", "namespaces", "services"} <= core
    assert s.get(kube_server.url + "/apis/nope/v1").status_code == 404


def test_apirule_versions_are_configurable():
    with kube.KubeApiServer(TOKEN, apirule_versions=("v1beta1",), **FAST) as server:
        api = Api(server)
        groups = {g["name"]: g for g in api.s.get(server.url + "/apis").json()["groups"]}
        assert [v["version"] for v in groups["gateway.kyma-project.io"]["versions"]] == ["v1beta1"]
        assert api.s.get(server.url + "/apis/gateway.kyma-project.io/v2").status_code == 404
        rule = {"apiVersion": "gateway.kyma-project.io/v1beta1", "kind": "APIRule", "metadata": {"name": "r"},
                "spec": {"host": "r", "service": {"name": "r", "port": 8080}, "gateway": "kyma-system/kyma-gateway",
                         "rules": [{"path": "/.*", "methods": ["POST"], "accessStrategies": [{"handler": "noop"}]}]}}
        assert api.apply(rule).status_code == 201
        server.wait_for(lambda: api.s.get(server.url + "/apis/gateway.kyma-project.io/v1beta1/namespaces/default/"
                                          "apirules/r").json().get("status", {}).get("APIRuleStatus", {})
                        .get("code") == "OK")


def test_auth_401_403(kube_server):
    url = Api(kube_server).path("Deployment")
    r = requests.get(url)
    assert r.status_code == 401
    assert r.json() == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": "Unauthorized", "reason": "Unauthorized", "code": 401}
    assert requests.get(url, headers={"Authorization": "Bearer nope"}).status_code == 401
    kube_server.forbidden.add(("delete", "deployments"))
    api = Api(kube_server)
    assert api.apply(deployment("d")).status_code == 201
    r = api.s.delete(api.path("Deployment", "d"))
    assert r.status_code == 403
    assert r.json() == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'deployments.apps "d" is forbidden: User "test-user" cannot delete resource "deployments" in API '
                   'group "apps" in the namespace "default"',
        "reason": "Forbidden", "details": {"name": "d", "group": "apps", "kind": "deployments"}, "code": 403}
    kube_server.forbidden.add(("list", "secrets", "kyma-system"))
    assert api.get("Secret", ns="kyma-system").status_code == 403
    assert api.get("Secret", ns="default").status_code == 200


def test_error_shapes(api):
    r = api.get("Deployment", "missing")
    assert r.status_code == 404
    assert r.json() == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": 'deployments.apps "missing" not found', "reason": "NotFound",
                        "details": {"name": "missing", "group": "apps", "kind": "deployments"}, "code": 404}
    r = api.get("Service", "missing")
    assert r.json()["details"] == {"name": "missing", "kind": "services"}
    assert r.json()["message"] == 'services "missing" not found'

    r = api.s.post(api.path("Deployment"), json=deployment("Bad_Name"))
    assert r.status_code == 422 and r.json()["reason"] == "Invalid"
    assert r.json()["message"].startswith('Deployment.apps "Bad_Name" is invalid: metadata.name: Invalid value: '
                                          '"Bad_Name": a lowercase RFC 1123 subdomain')
    assert r.json()["details"]["causes"][0]["field"] == "metadata.name"
    r = api.s.post(api.path("Service"), json=service("1svc"))
    assert r.status_code == 422 and "DNS-1035" in r.json()["message"]
    broken = deployment("broken")
    broken["spec"]["selector"]["matchLabels"] = {"app": "other"}
    r = api.s.post(api.path("Deployment"), json=broken)
    assert r.status_code == 422 and "`selector` does not match template `labels`" in r.json()["message"]

    r = api.s.post(api.path("Deployment", ns="nowhere"), json=deployment("d"))
    assert r.status_code == 404
    assert r.json()["details"] == {"name": "nowhere", "kind": "namespaces"}
    assert r.json()["message"] == 'namespaces "nowhere" not found'
    assert api.apply(deployment("d"), ns="nowhere").status_code == 404
    assert api.get("Deployment", ns="nowhere").json()["items"] == []   # listing an absent namespace is fine

    assert api.s.post(api.path("Deployment"), json=deployment("d")).status_code == 201
    r = api.s.post(api.path("Deployment"), json=deployment("d"))
    assert r.status_code == 409 and r.json()["reason"] == "AlreadyExists"
    assert r.json()["message"] == 'deployments.apps "d" already exists'

    r = api.s.patch(api.path("Deployment", "d"), data="{}", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and r.json()["reason"] == "UnsupportedMediaType"
    r = api.s.patch(api.path("Deployment", "d"), data="{}", headers={"Content-Type": "application/apply-patch+yaml"})
    assert r.status_code == 400 and "fieldManager" in r.json()["message"]

    # namespaces can be created; then objects go there
    r = api.s.post(f"{api.base}/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace",
                                                           "metadata": {"name": "team-a"}})
    assert r.status_code == 201 and r.json()["status"]["phase"] == "Active"
    assert api.apply(deployment("d"), ns="team-a").status_code == 201


def test_put_conflict_generation_and_status_subresource(api):
    created = api.s.post(api.path("Deployment"), json=deployment("d")).json()
    md = created["metadata"]
    assert md["generation"] == 1 and md["uid"] and md["creationTimestamp"] and int(md["resourceVersion"]) > 0
    wait_ready(api, "d")
    with api.server.paused():   # a status write of the controller between GET and PUT would be a real conflict
        live = api.get("Deployment", "d").json()
        stale = json.loads(json.dumps(live))
        live["metadata"]["labels"]["extra"] = "1"           # metadata only: generation stays
        r = api.s.put(api.path("Deployment", "d"), json=live)
        assert r.status_code == 200 and r.json()["metadata"]["generation"] == 1
        assert r.json()["status"]["readyReplicas"] == 1      # PUT of the main resource keeps status
        stale["spec"]["replicas"] = 3
        r = api.s.put(api.path("Deployment", "d"), json=stale)
        assert r.status_code == 409 and r.json()["reason"] == "Conflict"
        assert r.json()["message"].startswith('Operation cannot be fulfilled on deployments.apps "d": the object has '
                                              'been modified')
        fresh = api.get("Deployment", "d").json()
        fresh["spec"]["replicas"] = 2
        fresh["status"] = {"replicas": 99}                   # ignored on the main resource
        r = api.s.put(api.path("Deployment", "d"), json=fresh).json()
        assert r["metadata"]["generation"] == 2 and r["status"].get("replicas") != 99
    wait_ready(api, "d", generation=2)

    # the status subresource changes only status
    svc = api.s.post(api.path("Service"), json=service("s")).json()
    svc["spec"]["ports"][0]["port"] = 9999
    svc["status"] = {"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}]}}
    r = api.s.put(api.path("Service", "s", sub="status"), json=svc).json()
    assert r["spec"]["ports"][0]["port"] == 8080 and r["status"]["loadBalancer"]["ingress"][0]["hostname"]
    r = api.s.patch(api.path("Deployment", "d", sub="status"), json={"status": {"conditions": []}},
                    headers={"Content-Type": "application/merge-patch+json"}).json()
    assert r["metadata"]["generation"] == 2 and r["status"]["conditions"] == []
    assert api.get("Deployment", "d", sub=None).json()["spec"]["replicas"] == 2


def test_server_side_apply(api):
    with api.server.paused():   # the API alone: the Deployment controller's status writes would change resourceVersion
        _server_side_apply(api)


def _server_side_apply(api):
    r = api.apply(deployment("d", env={"A": "1", "B": "2"}))
    assert r.status_code == 201
    first = r.json()
    assert first["metadata"]["generation"] == 1
    assert first["metadata"]["managedFields"][0]["manager"] == "mlflow-bridge"
    assert first["metadata"]["managedFields"][0]["operation"] == "Apply"
    assert "f:spec" in first["metadata"]["managedFields"][0]["fieldsV1"]
    again = api.apply(deployment("d", env={"A": "1", "B": "2"})).json()   # no-op: nothing written
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]

    changed = api.apply(deployment("d", image="registry.local/model:2", env={"A": "1"})).json()
    assert changed["metadata"]["generation"] == 2
    assert changed["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"}]
    assert changed["spec"]["strategy"]["type"] == "RollingUpdate"          # server defaults are kept

    labelled = deployment("d", image="registry.local/model:2", env={"A": "1"}, labels={"extra": "x"})
    assert api.apply(labelled).json()["metadata"]["labels"]["extra"] == "x"
    # a field this manager stops sending goes away
    assert "extra" not in api.apply(deployment("d", image="registry.local/model:2", env={"A": "1"})).json()[
        "metadata"]["labels"]

    # another manager changing an owned field conflicts unless it forces
    other = deployment("d", image="registry.local/model:3")
    r = api.apply(other, manager="someone-else", force=False)
    assert r.status_code == 409 and r.json()["reason"] == "Conflict"
    assert r.json()["message"].startswith('Apply failed with ')
    assert 'conflict with "mlflow-bridge"' in r.json()["message"]
    assert api.apply(other, manager="someone-else", force=True).status_code == 200
    # merge and json patches still work
    r = api.s.patch(api.path("Deployment", "d"), json={"metadata": {"annotations": {"a": "b"}}},
                    headers={"Content-Type": "application/merge-patch+json"})
    assert r.json()["metadata"]["annotations"]["a"] == "b"
    r = api.s.patch(api.path("Deployment", "d"), json=[{"op": "replace", "path": "/spec/replicas", "value": 2}],
                    headers={"Content-Type": "application/json-patch+json"})
    assert r.json()["spec"]["replicas"] == 2
    r = api.s.patch(api.path("Deployment", "d"), headers={"Content-Type": "application/strategic-merge-patch+json"},
                    json={"spec": {"template": {"spec": {"containers": [{"name": "model", "env": [
                        {"name": "C", "value": "3"}]}]}}}})
    container = r.json()["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.local/model:3" and {"name": "C", "value": "3"} in container["env"]
    # YAML bodies are accepted for apply
    body = yaml.safe_dump(service("s"))
    r = api.s.patch(api.path("Service", "s"), params={"fieldManager": "m"}, data=body,
                    headers={"Content-Type": "application/apply-patch+yaml"})
    assert r.status_code == 201 and r.json()["spec"]["ports"][0]["targetPort"] == 8080
    # dry run stores nothing
    r = api.s.post(api.path("Deployment"), params={"dryRun": "All"}, json=deployment("dry"))
    assert r.status_code == 201 and api.get("Deployment", "dry").status_code == 404


def test_selectors_and_pagination(api):
    for name, tier in (("a", "gold"), ("b", "silver"), ("c", None)):
        labels = {"tier": tier} if tier else {}
        assert api.apply(deployment(name, labels=labels)).status_code == 201

    def names(**params):
        return [i["metadata"]["name"] for i in api.get("Deployment", **params).json()["items"]]
    assert names() == ["a", "b", "c"]
    assert names(labelSelector="tier=gold") == ["a"]
    assert names(labelSelector="tier in (gold,silver)") == ["a", "b"]
    assert names(labelSelector="tier notin (gold)") == ["b", "c"]
    assert names(labelSelector="tier!=gold") == ["b", "c"]
    assert names(labelSelector="tier") == ["a", "b"]
    assert names(labelSelector="!tier") == ["c"]
    assert names(labelSelector="app.kubernetes.io/managed-by=mlflow-bridge,tier==silver") == ["b"]
    assert names(fieldSelector="metadata.name=b") == ["b"]
    assert names(fieldSelector="metadata.name!=b") == ["a", "c"]
    page = api.get("Deployment", limit=2).json()
    assert [i["metadata"]["name"] for i in page["items"]] == ["a", "b"] and page["metadata"]["remainingItemCount"] == 1
    assert names(limit=2, **{"continue": page["metadata"]["continue"]}) == ["c"]
    all_ns = api.s.get(f"{api.base}/apis/apps/v1/deployments").json()
    assert all_ns["kind"] == "DeploymentList" and len(all_ns["items"]) == 3
    assert api.get("Deployment", labelSelector="tier in (gold").status_code == 400


def read_watch(response, into, stop_when):
    for line in response.iter_lines():
        if line:
            into.append(json.loads(line))
            if stop_when(into[-1]):
                break
    response.close()


def test_watch(api, kube_server):
    rv = api.get("Deployment").json()["metadata"]["resourceVersion"]
    r = api.s.get(api.path("Deployment"), params={"watch": "1", "resourceVersion": rv, "timeoutSeconds": "10"},
                  stream=True)
    assert r.status_code == 200 and r.headers["Transfer-Encoding"] == "chunked"
    events = []
    reader = threading.Thread(target=read_watch, args=(r, events, lambda e: e["type"] == "MODIFIED" and e[
        "object"].get("status", {}).get("readyReplicas") == 1))
    reader.start()
    api.apply(deployment("w"))
    reader.join(10)
    assert not reader.is_alive()
    assert events[0]["type"] == "ADDED" and events[0]["object"]["metadata"]["name"] == "w"
    assert events[0]["object"]["kind"] == "Deployment"
    assert events[-1]["object"]["status"]["readyReplicas"] == 1

    # a single object by fieldSelector, from "0": the current state comes first as ADDED
    with kube_server.paused():   # no status write of the controller in the watch's second
        api.apply(deployment("other"))
        r = api.s.get(api.path("Deployment"), params={"watch": "true", "fieldSelector": "metadata.name=w",
                                                      "timeoutSeconds": "1"}, stream=True)
        got = []
        read_watch(r, got, lambda e: False)
    assert [e["type"] for e in got] == ["ADDED"] and got[0]["object"]["metadata"]["name"] == "w"

    # per-namespace pod watch sees the pods of a deletion go away
    rv = api.get("Pod").json()["metadata"]["resourceVersion"]
    r = api.s.get(f"{api.base}/api/v1/namespaces/default/pods", params={
        "watch": "1", "resourceVersion": rv, "labelSelector": "app=w", "timeoutSeconds": "10"}, stream=True)
    got = []
    reader = threading.Thread(target=read_watch, args=(r, got, lambda e: e["type"] == "DELETED"))
    reader.start()
    api.s.delete(api.path("Deployment", "w"))
    reader.join(10)
    assert got and got[-1]["type"] == "DELETED"

    # bookmarks, and 410 for a compacted resourceVersion
    kube_server.bookmark_interval = 0.1
    r = api.s.get(api.path("Deployment"), params={"watch": "1", "resourceVersion": api.get("Deployment").json()[
        "metadata"]["resourceVersion"], "allowWatchBookmarks": "true", "timeoutSeconds": "30"}, stream=True)
    got = []
    read_watch(r, got, lambda e: e["type"] == "BOOKMARK")
    assert got[-1]["type"] == "BOOKMARK" and got[-1]["object"]["metadata"]["resourceVersion"]
    kube_server.compact()
    r = api.s.get(api.path("Deployment"), params={"watch": "1", "resourceVersion": "1"}, stream=True)
    got = []
    read_watch(r, got, lambda e: True)
    assert got[0]["type"] == "ERROR" and got[0]["object"]["code"] == 410
    assert got[0]["object"]["reason"] == "Expired" and got[0]["object"]["message"].startswith(
        "too old resource version: 1")


def test_watch_that_ends_after_changes():
    """end_watch_after_changes (the target tests' setting): a round ends once it has sent a change, long before
    its timeoutSeconds; the next round, from the last resourceVersion, sends the next change."""
    server = kube.KubeApiServer(TOKEN, end_watch_after_changes=True, **FAST).start()
    try:
        api = Api(server)

        def one_round(rv):
            r = api.s.get(api.path("Deployment"), params={"watch": "1", "resourceVersion": rv, "timeoutSeconds": "3600",
                                                          "fieldSelector": "metadata.name=w"}, stream=True)
            got = []
            reader = threading.Thread(target=read_watch, args=(r, got, lambda e: False))  # to the round's end
            reader.start()
            reader.join(600)  # a bound for a broken test, not a timing expectation
            assert not reader.is_alive(), "the watch went on after its change"
            return got

        with server.paused():  # no status write of the controller yet: the change is the apply alone
            rv = api.get("Deployment").json()["metadata"]["resourceVersion"]
            api.apply(deployment("w"))
            got = one_round(rv)
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in got] == [("ADDED", "w")]
        got = one_round(got[-1]["object"]["metadata"]["resourceVersion"])
        assert [e["type"] for e in got] and {e["type"] for e in got} == {"MODIFIED"}  # the controller's status
    finally:
        server.stop()
    assert server.controller_errors == []


def test_deployment_controller_and_rollback(api, kube_server):
    api.apply(deployment("d", replicas=2))
    d = wait_ready(api, "d")
    assert d["status"]["readyReplicas"] == 2
    conds = {c["type"]: c for c in d["status"]["conditions"]}
    assert conds["Available"]["status"] == "True"
    assert conds["Progressing"]["reason"] == "NewReplicaSetAvailable"
    rs = api.get("ReplicaSet").json()["items"]
    assert len(rs) == 1
    rs = rs[0]
    assert rs["metadata"]["name"] == "d-" + rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["ownerReferences"][0]["uid"] == d["metadata"]["uid"]
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    pods = api.get("Pod", labelSelector="app=d").json()["items"]
    assert len(pods) == 2
    for p in pods:
        assert p["status"]["phase"] == "Running" and p["status"]["containerStatuses"][0]["ready"]
        assert p["metadata"]["ownerReferences"][0]["name"] == rs["metadata"]["name"]

    api.apply(deployment("d", replicas=2, image="registry.local/model:2"))
    wait_ready(api, "d")
    api.apply(deployment("d", replicas=2))     # roll back: the old template again
    d = wait_ready(api, "d")
    rs = {r["metadata"]["name"]: r for r in api.get("ReplicaSet").json()["items"]}
    assert len(rs) == 2
    first = rs[d["metadata"]["name"] + "-" + pods[0]["metadata"]["labels"]["pod-template-hash"]]
    assert first["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert first["spec"]["replicas"] == 2
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert sorted(r["spec"]["replicas"] for r in rs.values()) == [0, 2]


def test_failure_injection(api, kube_server):
    kube_server.progress_deadline = 0.5
    kube_server.fail_image("bad/image:1", "ImagePullBackOff")
    kube_server.fail_image("crash/image:1", "CrashLoopBackOff", message="model failed to load",
                           log="Traceback: ValueError: bad model")
    kube_server.fail_image("huge/image:1", "Unschedulable")
    for name, image in (("pull", "bad/image:1"), ("crash", "crash/image:1"), ("sched", "huge/image:1")):
        api.apply(deployment(name, image=image))

    def waiting(name):
        pods = api.get("Pod", labelSelector=f"app={name}").json()["items"]
        return pods[0] if pods and (pods[0]["status"].get("containerStatuses") or pods[0]["status"].get(
            "conditions")) else None
    pod = kube_server.wait_for(lambda: waiting("pull"))
    state = pod["status"]["containerStatuses"][0]["state"]["waiting"]
    assert state["reason"] == "ImagePullBackOff" and "bad/image:1" in state["message"]
    assert pod["status"]["phase"] == "Pending"
    events = api.get("Event", fieldSelector=f"involvedObject.name={pod['metadata']['name']}").json()["items"]
    reasons = {e["reason"] for e in events}
    assert {"Failed", "BackOff"} <= reasons
    assert any("Failed to pull image" in e["message"] for e in events if e["reason"] == "Failed")
    assert all(e["involvedObject"]["kind"] == "Pod" and e["type"] in ("Normal", "Warning") for e in events)
    for e in events:
        kubernetes_validate.validate({**e, "apiVersion": "v1", "kind": "Event"}, "1.32.0", strict=True)

    pod = kube_server.wait_for(lambda: waiting("crash"))
    cs = pod["status"]["containerStatuses"][0]
    assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff" and cs["restartCount"] > 0
    assert cs["lastState"]["terminated"]["exitCode"] == 1
    log = api.s.get(api.path("Pod", pod["metadata"]["name"], sub="log"))
    assert log.status_code == 200 and "ValueError: bad model" in log.text
    pod = kube_server.wait_for(lambda: waiting("sched"))
    cond = pod["status"]["conditions"][0]
    assert cond["type"] == "PodScheduled" and cond["reason"] == "Unschedulable"
    assert any(e["reason"] == "FailedScheduling" for e in kube_server.events("default", pod["metadata"]["name"]))

    def deadline():
        d = api.get("Deployment", "pull").json()
        conds = {c["type"]: c for c in d.get("status", {}).get("conditions", [])}
        return conds if conds.get("Progressing", {}).get("reason") == "ProgressDeadlineExceeded" else None
    conds = kube_server.wait_for(deadline)
    assert conds["Available"]["status"] == "False" and conds["Progressing"]["status"] == "False"
    assert not api.get("Deployment", "pull").json()["status"].get("availableReplicas")

    kube_server.clear_failures()      # the image becomes pullable: the pods recover
    wait_ready(api, "pull")


def test_deletion_policies(api, kube_server):
    for name in ("fg", "bg", "orphan"):
        api.apply(deployment(name))
        wait_ready(api, name)
    before = api.get("Deployment").json()["metadata"]["resourceVersion"]
    r = api.s.delete(api.path("Deployment", "fg"), json={"kind": "DeleteOptions", "apiVersion": "v1",
                                                         "propagationPolicy": "Foreground"})
    assert r.status_code == 202
    assert r.json()["metadata"]["deletionTimestamp"] and r.json()["metadata"]["finalizers"] == ["foregroundDeletion"]
    kube_server.wait_for(lambda: api.get("Deployment", "fg").status_code == 404)
    assert [r for r in api.get("ReplicaSet").json()["items"] if r["metadata"]["name"].startswith("fg-")] == []
    # Foreground: the pods and the ReplicaSet went before the Deployment (one resourceVersion counter orders them).
    # Each watch from `before` sends the history since in its first batch and ends there (not after timeoutSeconds).
    kube_server.end_watch_after_changes = True
    deleted = {}
    for kind in ("Pod", "ReplicaSet", "Deployment"):
        w = api.s.get(api.path(kind), params={"watch": "1", "resourceVersion": before, "timeoutSeconds": "1"}, stream=True)
        events = []
        read_watch(w, events, lambda e: False)
        deleted[kind] = [int(e["object"]["metadata"]["resourceVersion"]) for e in events
                         if e["type"] == "DELETED" and e["object"]["metadata"]["name"].startswith("fg")]
    assert len(deleted["Pod"]) == 1 and len(deleted["ReplicaSet"]) == 1 and len(deleted["Deployment"]) == 1, deleted
    assert deleted["Pod"][0] < deleted["ReplicaSet"][0] < deleted["Deployment"][0], deleted
    kube_server.end_watch_after_changes = False

    r = api.s.delete(api.path("Deployment", "bg"), params={"propagationPolicy": "Background"})
    assert r.status_code == 200 and r.json()["status"] == "Success"
    assert r.json()["details"]["name"] == "bg" and r.json()["details"]["uid"]
    assert api.get("Deployment", "bg").status_code == 404
    kube_server.wait_for(lambda: not api.get("Pod", labelSelector="app=bg").json()["items"])

    r = api.s.delete(api.path("Deployment", "orphan"), json={"propagationPolicy": "Orphan"})
    assert r.ok
    kube_server.deletion_delay = 0   # one controller round below does whatever garbage collection would do
    kube_server.reconcile()
    rs = [r for r in api.get("ReplicaSet").json()["items"] if r["metadata"]["name"].startswith("orphan-")]
    assert len(rs) == 1 and not rs[0]["metadata"].get("ownerReferences")

    # a user finalizer holds deletion until it is removed
    api.s.post(api.path("Secret"), json={"apiVersion": "v1", "kind": "Secret", "metadata": {
        "name": "held", "finalizers": ["example.com/hold"]}, "stringData": {"a": "b"}})
    assert api.s.delete(api.path("Secret", "held")).json()["metadata"]["deletionTimestamp"]
    kube_server.reconcile()
    assert api.get("Secret", "held").ok
    api.s.patch(api.path("Secret", "held"), json={"metadata": {"finalizers": None}},
                headers={"Content-Type": "application/merge-patch+json"})
    kube_server.wait_for(lambda: api.get("Secret", "held").status_code == 404)


def test_secrets_apirules_ingress_status(api, kube_server):
    auth = {"auths": {"registry.local": {"auth": "dXNlcjpwYXNz"}}}
    import base64
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
              "metadata": {"name": "pull"}, "data": {".dockerconfigjson": base64.b64encode(json.dumps(auth).encode())
                                                    .decode()}}
    assert api.apply(secret).status_code == 201
    got = api.get("Secret", "pull").json()
    assert got["type"] == "kubernetes.io/dockerconfigjson" and got["data"] == secret["data"]
    bad = {**secret, "metadata": {"name": "bad"}, "data": {".dockerconfigjson": "bm90IGpzb24="}}
    assert api.apply(bad).status_code == 422

    assert api.apply(apirule_v2("r1")).status_code == 201
    url = f"{api.base}/apis/gateway.kyma-project.io/v2/namespaces/default/apirules/r1"
    kube_server.wait_for(lambda: api.s.get(url).json().get("status", {}).get("state") == "Ready")
    old = api.s.get(url.replace("/v2/", "/v1beta1/")).json()   # the same object through v1beta1
    assert old["apiVersion"] == "gateway.kyma-project.io/v1beta1" and old["spec"]["host"] == "r1"
    assert old["status"]["APIRuleStatus"]["code"] == "OK"
    assert old["spec"]["rules"][0]["accessStrategies"] == [{"handler": "no_auth"}]
    kube_server.fail_apirule("r2", "Validation error: host r2 is occupied")
    api.apply(apirule_v2("r2"))
    st = kube_server.wait_for(lambda: api.s.get(url.replace("r1", "r2")).json().get("status", {}).get(
        "state") == "Error" and api.s.get(url.replace("r1", "r2")).json()["status"])
    assert st["description"] == "Validation error: host r2 is occupied"
    r = api.apply({**apirule_v2("r3"), "spec": {**apirule_v2("r3")["spec"], "rules": [{"path": "/*"}]}})
    assert r.status_code == 422 and "noAuth, jwt, extAuth" in r.json()["message"]

    api.apply(ingress("ing", "aks.example.com", "svc"))
    api.apply(service("lb", type_="LoadBalancer"))
    kube_server.wait_for(lambda: api.get("Ingress", "ing").json().get("status", {}).get("loadBalancer"))
    assert api.get("Ingress", "ing").json()["status"]["loadBalancer"]["ingress"][0]["ip"] == "127.0.0.1"
    kube_server.wait_for(lambda: api.get("Service", "lb").json().get("status", {}).get("loadBalancer"))
    lb = api.get("Service", "lb").json()
    assert lb["status"]["loadBalancer"]["ingress"] == [{"ip": "127.0.0.1"}] and lb["spec"]["ports"][0]["nodePort"]
    kubernetes_validate.validate(api.get("Ingress", "ing").json(), "1.32.0", strict=True)


def test_injected_errors(api, kube_server):
    kube_server.inject_error("GET", r"/deployments/x$", 429, times=1, retry_after=1)
    r = api.get("Deployment", "x")
    assert r.status_code == 429 and r.headers["Retry-After"] == "1" and r.json()["reason"] == "TooManyRequests"
    assert api.get("Deployment", "x").status_code == 404


# ---------------------------------------------------------------------------------- gateway
def serve(api, name, image="registry.local/model:1", replicas=1):
    """A Deployment and a Service of the same name."""
    api.apply(deployment(name, image=image, replicas=replicas))
    api.apply(service(name))


def test_gateway_routes_apirule_and_ingress(api, kube_server, backends):
    a = backends("a")
    kube_server.on_pod_ready = lambda d: a.url if d["metadata"]["name"] == "a" else None
    gone = []
    kube_server.on_backend_gone = gone.append
    serve(api, "a")
    api.apply(apirule_v2("a"))
    api.apply(ingress("a-ing", "aks.example.com", "a", path="/v1"))
    wait_ready(api, "a")
    kube_server.wait_for(lambda: kube.apirule_ready(kube_server.get("gateway.kyma-project.io", "v2", "apirules", "a",
                                                                     "default")))
    gw = kube_server.gateway_url
    r = requests.post(gw + "/invocations?x=1", json={"inputs": [1, 2]},
                      headers={"Host": "a.kyma.example.com:443", "X-Test": "yes"})
    assert r.status_code == 200
    body = r.json()
    assert body["backend"] == "a" and body["path"] == "/invocations?x=1" and body["method"] == "POST"
    assert json.loads(body["body"]) == {"inputs": [1, 2]} and body["headers"]["X-Test"] == "yes"
    assert requests.delete(gw + "/x", headers={"Host": "a.kyma.example.com"}).status_code == 404   # method rule
    r = requests.get(gw + "/v1/ping", headers={"Host": "aks.example.com"})
    assert r.status_code == 200 and r.json()["path"] == "/v1/ping"
    assert requests.get(gw + "/v2", headers={"Host": "aks.example.com"}).status_code == 404
    assert requests.get(gw + "/", headers={"Host": "nothing.example.com"}).status_code == 404
    log = kube_server.gateway_log
    assert log[0]["route"] == "apirule default/a" and log[0]["service"] == "default/a" and log[0]["backend"] == a.url
    assert log[2]["route"] == "ingress default/a-ing"

    # no ready backend: 503
    kube_server.fail_image("bad/image:1", "ImagePullBackOff")
    serve(api, "b", image="bad/image:1")
    api.apply(apirule_v2("b"))
    kube_server.wait_for(lambda: kube.apirule_ready(kube_server.get("gateway.kyma-project.io", "v2", "apirules", "b",
                                                                     "default")))
    assert requests.get(gw + "/", headers={"Host": "b.kyma.example.com"}).status_code == 503

    api.s.delete(api.path("Deployment", "a"))
    kube_server.wait_for(lambda: gone == [a.url])
    assert requests.get(gw + "/", headers={"Host": "a.kyma.example.com"}).status_code == 503


def test_gateway_weighted_virtualservice_and_canary(api, kube_server, backends):
    urls = {n: backends(n).url for n in ("blue", "green")}
    kube_server.on_pod_ready = lambda d: urls[d["metadata"]["name"]]
    for name in urls:
        serve(api, name)
    for name in urls:
        wait_ready(api, name)
    api.apply(virtual_service("split", "model.kyma.example.com", [("blue", 80), ("green.default.svc.cluster.local",
                                                                                   20)]))
    kube_server.reseed(7)
    gw = kube_server.gateway_url
    with requests.Session() as s:
        for _ in range(200):
            assert s.post(gw + "/invocations", data=b"{}", headers={"Host": "model.kyma.example.com"}).ok
    counts = kube_server.backend_counts()
    assert counts[urls["blue"]] + counts[urls["green"]] == 200
    assert 140 <= counts[urls["blue"]] <= 180, counts

    kube_server.gateway_log.clear()
    api.apply(ingress("main", "aks.example.com", "blue"))
    api.apply(ingress("canary", "aks.example.com", "green", annotations={
        "nginx.ingress.kubernetes.io/canary": "true", "nginx.ingress.kubernetes.io/canary-weight": "30",
        "nginx.ingress.kubernetes.io/canary-by-header": "X-Canary"}))
    with requests.Session() as s:
        for _ in range(200):
            assert s.get(gw + "/", headers={"Host": "aks.example.com"}).ok
        counts = kube_server.backend_counts()
        assert 40 <= counts[urls["green"]] <= 80, counts
        kube_server.gateway_log.clear()
        assert s.get(gw + "/", headers={"Host": "aks.example.com", "X-Canary": "always"}).json()["backend"] == "green"
        assert s.get(gw + "/", headers={"Host": "aks.example.com", "X-Canary": "never"}).json()["backend"] == "blue"


def test_gateway_limits_and_hook_failure(kube_server, api, backends):
    kube_server.gateway_max_body = 10
    a = backends("a")
    kube_server.on_pod_ready = lambda d: a.url
    serve(api, "a")
    api.apply(apirule_v2("a"))
    wait_ready(api, "a")
    kube_server.wait_for(lambda: kube.apirule_ready(kube_server.get("gateway.kyma-project.io", "v2", "apirules", "a",
                                                                     "default")))
    r = requests.post(kube_server.gateway_url + "/invocations", data=b"x" * 11, headers={"Host": "a.kyma.example.com"})
    assert r.status_code == 413

    def broken(d):
        raise RuntimeError("model server exited with status 1")
    kube_server.on_pod_ready = broken
    api.apply(deployment("c"))
    pod = kube_server.wait_for(lambda: [p for p in api.get("Pod", labelSelector="app=c").json()["items"]
                                        if p["status"].get("containerStatuses")])[0]
    waiting = pod["status"]["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "CrashLoopBackOff"
    assert "model server exited" in pod["status"]["containerStatuses"][0]["lastState"]["terminated"]["message"]


# ---------------------------------------------------------------------------------- TLS, standalone, cleanup
def test_tls_kubeconfig(tmp_path):
    with kube.KubeApiServer(TOKEN, tls=True, **FAST) as server:
        cfg = yaml.safe_load(open(server.write_kubeconfig(tmp_path / "kc", namespace="team", context="c1")))
        assert cfg["current-context"] == "c1" and cfg["contexts"][0]["context"]["namespace"] == "team"
        assert server.url.startswith("https://127.0.0.1:")
        assert cfg["clusters"][0]["cluster"]["certificate-authority-data"]
        ca = server.write_ca(tmp_path / "ca.pem")
        r = requests.get(server.url + "/api/v1/namespaces", headers={"Authorization": f"Bearer {TOKEN}"}, verify=ca)
        assert [i["metadata"]["name"] for i in r.json()["items"]] == ["default", "kube-system", "kyma-system"]
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(server.url + "/version")


def test_standalone(tmp_path):
    script = os.path.join(os.path.dirname(kube.__file__), "kubernetes.py")
    proc = subprocess.Popen([sys.executable, script, "--port", "0", "--kubeconfig", str(tmp_path / "kc"),
                             "--token", "abc"], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        url = line.split()[1]
        cfg = yaml.safe_load(open(tmp_path / "kc"))
        assert cfg["clusters"][0]["cluster"]["server"] == url and cfg["users"][0]["user"]["token"] == "abc"
        assert requests.get(url + "/api/v1/namespaces", headers={"Authorization": "Bearer abc"}).ok
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_stop_joins_everything(backends):
    before = set(threading.enumerate())
    server = kube.KubeApiServer(TOKEN, **FAST).start()
    api = Api(server)
    api.apply(deployment("d"))
    r = api.s.get(api.path("Deployment"), params={"watch": "1"}, stream=True)   # a watch left open
    keepalive = requests.Session()
    keepalive.get(server.url + "/version")                                       # an idle keep-alive connection
    server.stop()   # a thread it could not end would still be there below
    r.close()
    keepalive.close()
    assert set(threading.enumerate()) - before == set()
