"""The ACR stand-in (tests/servers/acr.py, served by the Azure stand-in) checked with Microsoft's official
client azure-containerregistry (ContainerRegistryClient with azure-identity's ClientSecretCredential: push
with upload_blob/set_manifest, read back through /acr/v1 and /v2, both token audiences, a denied and a
pull-only principal, expired Entra tokens) and with requests the way `az acr login` + `docker login` go
(POST /oauth2/exchange, GET /oauth2/token with Basic 00000000-0000-0000-0000-000000000000:<refresh token>)."""

import base64
import hashlib
import io
import json

import pytest
import requests
from azureml_fixtures import azure_standin, azure_standin_factory  # noqa: F401

NULL_GUID = "00000000-0000-0000-0000-000000000000"
ARM_SCOPE = "https://management.azure.com/.default"
REPO = "mlflow-bridge/model"
CONFIG = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["python3"]},
                     "rootfs": {"type": "layers", "diff_ids": []}}, sort_keys=True).encode()
LAYER = b"a tiny layer, not even a tar"


class RecordingCredential:
    """Delegates to an azure-identity credential and records the scopes asked for."""

    def __init__(self, inner):
        self.inner, self.scopes = inner, []

    def get_token(self, *scopes, **kwargs):
        self.scopes += scopes
        return self.inner.get_token(*scopes, **kwargs)


def setup(az, client_id="acr-app"):
    """A registry and a service principal with a ClientSecretCredential (recorded)."""
    from azure.identity import ClientSecretCredential

    acr = az.add_container_registry("standinacr")
    az.add_principal(client_id, secret="s3cret-value")
    return acr, RecordingCredential(ClientSecretCredential(az.tenant, client_id, "s3cret-value"))


def client(acr, credential, audience="https://management.azure.com"):
    from azure.containerregistry import ContainerRegistryClient

    return ContainerRegistryClient(acr.url, credential, audience=audience)


def push(c, repo=REPO, tag="v1"):
    """config + one layer + an OCI manifest with the official client; returns (manifest dict, digest)."""
    config_digest, config_size = c.upload_blob(repo, io.BytesIO(CONFIG))
    layer_digest, layer_size = c.upload_blob(repo, io.BytesIO(LAYER))
    assert (config_digest, config_size) == ("sha256:" + hashlib.sha256(CONFIG).hexdigest(), len(CONFIG))
    assert (layer_digest, layer_size) == ("sha256:" + hashlib.sha256(LAYER).hexdigest(), len(LAYER))
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                           "size": config_size},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest,
                            "size": layer_size}]}
    digest = c.set_manifest(repo, manifest, tag=tag)
    assert digest == "sha256:" + hashlib.sha256(json.dumps(manifest).encode()).hexdigest()
    return manifest, digest


def claims(jwt):
    part = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def exchange(acr, access_token, **form):
    data = dict(grant_type="access_token", service=acr.login_server, access_token=access_token)
    data.update(form)
    return requests.post(f"{acr.url}/oauth2/exchange", data={k: v for k, v in data.items() if v is not None})


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def assert_no_secrets(az, acr, *secrets):
    logs = json.dumps(az.requests, default=str) + json.dumps(acr.requests, default=str)
    leaked = [i for i, s in enumerate(secrets) if s in logs]
    assert not leaked, f"secrets #{leaked} are in a request log"


# ------------------------------------------------------------------------------ the official client
@pytest.mark.parametrize("audience", ["https://management.azure.com", "https://containerregistry.azure.net"])
def test_official_client_pushes_and_reads_back(azure_standin, audience):
    az = azure_standin
    acr, cred = setup(az)
    c = client(acr, cred, audience)
    manifest, digest = push(c)

    assert set(cred.scopes) == {audience + "/.default"}
    puts = [r["path"] for r in acr.requests if r["method"] == "PUT" and r["status"] == 201]
    assert len(puts) == 3 and puts[-1] == "/v2/mlflow-bridge%2Fmodel/manifests/v1"   # paths as the client sent them
    assert all(p.startswith("/v2/mlflow-bridge/model/blobs/uploads/") for p in puts[:2])  # relative Locations
    assert list(c.list_repository_names()) == [REPO]

    props = c.get_manifest_properties(REPO, "v1")  # the client resolves the tag through /acr/v1/.../_tags/v1
    assert props.digest == digest and props.tags == ["v1"] and props.repository_name == REPO
    assert (props.architecture, props.operating_system) == ("amd64", "linux")
    assert props.size_in_bytes == len(json.dumps(manifest)) and props.can_read and props.can_write
    assert props.created_on is not None and props.last_updated_on >= props.created_on
    tag = c.get_tag_properties(REPO, "v1")
    assert (tag.name, tag.digest) == ("v1", digest)   # (1.2.0 leaves its repository_name None: a client bug)
    assert [(t.name, t.digest) for t in c.list_tag_properties(REPO)] == [("v1", digest)]
    assert [m.digest for m in c.list_manifest_properties(REPO)] == [digest]
    repo = c.get_repository_properties(REPO)
    assert (repo.name, repo.tag_count, repo.manifest_count) == (REPO, 1, 1)

    got = c.get_manifest(REPO, "v1")
    assert (got.digest, got.manifest, got.media_type) == (digest, manifest, manifest["mediaType"])
    assert c.get_manifest(REPO, digest).manifest == manifest
    assert b"".join(c.download_blob(REPO, manifest["layers"][0]["digest"])) == LAYER
    assert b"".join(c.download_blob(REPO, manifest["config"]["digest"])) == CONFIG

    # The client went through ACR's challenge flow: exchanges and token requests named the login server.
    exchanges = [r for r in acr.requests if r["path"] == "/oauth2/exchange"]
    tokens = [r for r in acr.requests if r["path"] == "/oauth2/token"]
    assert exchanges and all((r["status"], r["grant_type"], r["service"], r["principal"]) ==
                             (200, "access_token", acr.login_server, "acr-app") for r in exchanges)
    asked = {scope.rpartition(":")[0] + ":" + ",".join(sorted(scope.rpartition(":")[2].split(",")))
             for r in tokens for scope in r["scopes"]}   # docker-registry's challenges list actions in any order
    assert asked == {f"repository:{REPO}:pull,push", f"repository:{REPO}:pull", "registry:catalog:*",
                     f"repository:{REPO}:metadata_read"}
    assert all(r["status"] == 200 for r in tokens)
    assert all(r["service"] == "acr" and r["host"] == acr.login_server for r in az.requests if r["path"]
               .startswith(("/v2/", "/acr/", "/oauth2/")))

    # A second tag, a minute later on the stand-in clock: ACR's Link paging and time order.
    az.advance_time(60)
    assert c.set_manifest(REPO, manifest, tag="v2") == digest
    assert [[t.name for t in page] for page in c.list_tag_properties(REPO, results_per_page=1).by_page()] == \
        [["v1"], ["v2"]]
    assert [t.name for t in c.list_tag_properties(REPO, order_by="timedesc")] == ["v2", "v1"]
    v2 = c.get_tag_properties(REPO, "v2")
    assert (v2.created_on - tag.created_on).total_seconds() >= 60
    assert c.get_manifest_properties(REPO, digest).tags == ["v1", "v2"]
    assert_no_secrets(az, acr, cred.get_token(audience + "/.default").token)


def test_denied_and_pull_only_principals(azure_standin):
    from azure.core.exceptions import ClientAuthenticationError

    az = azure_standin
    acr, pusher = setup(az, "pusher")
    _, digest = push(client(acr, pusher))
    az.add_principal("reader", secret="r3ader")
    from azure.identity import ClientSecretCredential

    reader = client(acr, ClientSecretCredential(az.tenant, "reader", "r3ader"))

    acr.deny("reader")
    with pytest.raises(ClientAuthenticationError) as err:
        reader.upload_blob(REPO, io.BytesIO(b"denied"))
    assert err.value.status_code == 401
    assert json.loads(err.value.response.text())["errors"][0]["code"] == "UNAUTHORIZED"
    with pytest.raises(ClientAuthenticationError):
        reader.get_manifest(REPO, "v1")
    with pytest.raises(ClientAuthenticationError):
        reader.get_tag_properties(REPO, "v1")
    # As ACR does for a principal without a role: the exchange and the token request succeed, the token
    # grants nothing and the registry refuses.
    mine = [r for r in acr.requests if r["principal"] == "reader"]
    assert {r["status"] for r in mine if r["path"].startswith("/oauth2/")} == {200}
    assert all(not r["granted"] for r in acr.registry.token_requests() if r["user"] == "reader")

    acr.allow("reader", {"*": ["pull", "metadata_read"]})   # AcrPull
    assert reader.get_manifest(REPO, "v1").digest == digest
    assert reader.get_tag_properties(REPO, "v1").digest == digest
    with pytest.raises(ClientAuthenticationError):
        reader.upload_blob(REPO, io.BytesIO(b"pull only"))
    assert not any(r["principal"] == "reader" and r["method"] in ("PATCH", "PUT") and r["status"] < 300
                   for r in acr.requests)

    acr.allow("reader")
    reader.upload_blob(REPO, io.BytesIO(b"allowed again"))


def test_expired_entra_token_is_refused(azure_standin):
    from azure.core.exceptions import ClientAuthenticationError

    az = azure_standin
    acr, cred = setup(az)
    c = client(acr, cred)
    push(c)
    # azure-identity keeps its token (valid by the real clock); by the stand-in's it has expired.
    az.advance_time(az.token_lifetime + 1)
    with pytest.raises(ClientAuthenticationError) as err:
        c.get_manifest(REPO, "v1")
    assert err.value.status_code == 401
    assert json.loads(err.value.response.text()) == {
        "errors": [{"code": "UNAUTHORIZED", "message": "the AAD access token has expired"}]}
    assert acr.requests[-1]["path"] == "/oauth2/exchange" and acr.requests[-1]["status"] == 401


# ------------------------------------------------------------------------------ raw protocol
def test_exchange_checks_service_audience_tenant_and_form(azure_standin):
    az = azure_standin
    acr = az.add_container_registry("standinacr")
    arm = az.issue_token("raw-app")

    def refused(resp, status, code, text):
        assert resp.status_code == status, resp.text
        assert resp.headers["Content-Type"].startswith("application/json")
        err = resp.json()["errors"][0]
        assert err["code"] == code and text in err["message"], err

    refused(exchange(acr, arm, service="otheracr.azurecr.io"), 401, "UNAUTHORIZED",
            "the service 'otheracr.azurecr.io' does not match the registry 'standinacr.azurecr.io'")
    refused(exchange(acr, az.issue_token("raw-app", audience="https://storage.azure.com")), 401, "UNAUTHORIZED",
            "audience 'https://storage.azure.com'")
    refused(exchange(acr, arm, tenant="11111111-2222-3333-4444-555555555555"), 401, "UNAUTHORIZED",
            "not issued by the tenant")
    refused(exchange(acr, "eyJ.not-a-token.x"), 401, "UNAUTHORIZED", "the AAD access token is invalid")
    refused(exchange(acr, az.issue_token("raw-app", lifetime=-1)), 401, "UNAUTHORIZED", "expired")
    refused(exchange(acr, None), 400, "BAD_REQUEST", "access_token is required")
    refused(exchange(acr, arm, service=None), 400, "BAD_REQUEST", "service is required")
    refused(exchange(acr, arm, grant_type="password"), 400, "BAD_REQUEST", "unsupported grant_type 'password'")
    refused(exchange(acr, arm, grant_type="refresh_token", refresh_token="aad-rt"), 401, "UNAUTHORIZED",
            "AAD refresh token")
    refused(requests.post(f"{acr.url}/oauth2/exchange", json={"grant_type": "access_token"}), 400, "BAD_REQUEST",
            "x-www-form-urlencoded")

    for token in (arm, az.issue_token("raw-app", audience="https://management.core.windows.net/"),
                  az.issue_token("raw-app", audience="https://containerregistry.azure.net")):
        ok = exchange(acr, token, tenant=az.tenant)
        assert ok.status_code == 200 and set(ok.json()) == {"refresh_token"}
    assert [r["status"] for r in acr.requests] == [401] * 5 + [400] * 3 + [401, 400] + [200] * 3
    assert_no_secrets(az, acr, arm)


def test_docker_login_flow_and_challenges(azure_standin):
    from azure.containerregistry._helpers import _parse_exp_time

    az = azure_standin
    acr = az.add_container_registry("standinacr")
    ls = acr.login_server

    # The anonymous probe `az acr login` and docker start with, and ACR's own metadata API.
    probe = requests.get(f"{acr.url}/v2/")
    assert probe.status_code == 401
    assert probe.headers["WWW-Authenticate"] == f'Bearer realm="https://{ls}/oauth2/token",service="{ls}"'
    catalog = requests.get(f"{acr.url}/acr/v1/_catalog")
    assert catalog.status_code == 401
    assert catalog.headers["WWW-Authenticate"] == \
        f'Bearer realm="https://{ls}/oauth2/token",service="{ls}",scope="registry:catalog:*"'
    assert catalog.json()["errors"][0]["detail"] == [{"Type": "registry", "Name": "catalog", "Action": "*"}]

    # POST /oauth2/exchange: an ACR refresh token (3 h on the stand-in clock) the official client can read.
    refresh = exchange(acr, az.issue_token("docker-app"), tenant=az.tenant).json()["refresh_token"]
    c = claims(refresh)
    assert (c["aud"], c["tenant"], c["grant_type"], c["sub"], c["iss"]) == \
        (ls, az.tenant, "refresh_token", "docker-app", "Azure Container Registry")
    assert c["exp"] - c["iat"] == 3 * 3600 and abs(c["iat"] - az._now()) < 5
    assert _parse_exp_time(refresh) == c["exp"]

    # `docker login -u 00000000-0000-0000-0000-000000000000 -p <refresh token>`: GET /oauth2/token, Basic.
    scope = "repository:docker/app:pull,push"
    got = requests.get(f"{acr.url}/oauth2/token", params={"service": ls, "scope": scope, "client_id": "docker",
                                                          "account": NULL_GUID, "offline_token": "true"},
                       headers={"Authorization": basic(NULL_GUID, refresh)})
    assert got.status_code == 200 and set(got.json()) == {"access_token"}
    access = got.json()["access_token"]
    assert claims(access)["access"] == [{"type": "repository", "name": "docker/app", "actions": ["pull", "push"]}]

    # A monolithic blob push with it: ACR's relative Locations; HEAD keeps Content-Length, has no body.
    auth = {"Authorization": "Bearer " + access}
    start = requests.post(f"{acr.url}/v2/docker/app/blobs/uploads/", headers=auth)
    assert start.status_code == 202 and start.headers["Location"].startswith("/v2/docker/app/blobs/uploads/")
    digest = "sha256:" + hashlib.sha256(LAYER).hexdigest()
    put = requests.put(f"{acr.url}{start.headers['Location']}&digest={digest}", data=LAYER,
                       headers=dict(auth, **{"Content-Type": "application/octet-stream"}))
    assert put.status_code == 201 and put.headers["Docker-Content-Digest"] == digest
    assert put.headers["Location"] == f"/v2/docker/app/blobs/{digest}"
    head = requests.head(f"{acr.url}/v2/docker/app/blobs/{digest}", headers=auth)
    assert head.status_code == 200 and head.headers["Content-Length"] == str(len(LAYER)) and head.content == b""
    assert requests.get(f"{acr.url}/v2/docker/app/blobs/{digest}", headers=auth).content == LAYER
    assert requests.get(f"{acr.url}/v2/_catalog", headers=auth).status_code == 401   # not in the token's scope

    # POST /oauth2/token (az acr, the SDKs): several scopes at once.
    posted = requests.post(f"{acr.url}/oauth2/token", data={
        "grant_type": "refresh_token", "service": ls, "refresh_token": refresh,
        "scope": "registry:catalog:* repository:docker/app:pull"})
    assert posted.status_code == 200
    listed = requests.get(f"{acr.url}/v2/_catalog", headers={"Authorization": "Bearer " + posted.json()[
        "access_token"]})
    assert listed.json() == {"repositories": ["docker/app"]}

    # Refused: other Basic users, anonymous, unknown refresh tokens, another service; then expiry.
    def token_status(**kw):
        return requests.get(f"{acr.url}/oauth2/token", params={"service": kw.pop("service", ls), "scope": scope},
                            **kw).status_code

    assert token_status(headers={"Authorization": basic("admin", "password")}) == 401
    assert token_status() == 401
    assert token_status(headers={"Authorization": basic(NULL_GUID, refresh + "x")}) == 401
    assert token_status(service="otheracr.azurecr.io", headers={"Authorization": basic(NULL_GUID, refresh)}) == 401
    assert requests.post(f"{acr.url}/oauth2/token", data={"grant_type": "password", "service": ls,
                                                          "scope": scope}).status_code == 401
    az.advance_time(3 * 3600 + 1)
    expired = requests.post(f"{acr.url}/oauth2/token", data={"grant_type": "refresh_token", "service": ls,
                                                             "scope": scope, "refresh_token": refresh})
    assert expired.status_code == 401
    assert expired.json() == {"errors": [{"code": "UNAUTHORIZED", "message": "the refresh token has expired"}]}
    assert token_status(headers={"Authorization": basic(NULL_GUID, refresh)}) == 401

    assert acr.requests[-1]["principal"] == "docker-app" and acr.requests[-1]["scopes"] == [scope]
    assert_no_secrets(az, acr, refresh, access, posted.json()["access_token"])
