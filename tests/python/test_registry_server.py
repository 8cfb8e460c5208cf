"""The loopback registries of tests/servers/registry.py, checked with real clients (skopeo, umoci, http.client)."""
import base64
import hashlib
import http.client
import json
import os
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

import registry as rs

TWO = ("linux/amd64", "linux/arm64/v8")
PERMISSIONS = {"alice": {"team/*": ["pull", "push"]}, "reader": {"*": ["pull"]}}


def request(host, method, path, body=None, headers=None, context=None):
    """One HTTP request on a fresh connection; returns (response, body bytes)."""
    h, _, port = host.rpartition(":")
    if context is not None:
        conn = http.client.HTTPSConnection(h, int(port), timeout=10, context=context)
    else:
        conn = http.client.HTTPConnection(h, int(port), timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp, resp.read()
    finally:
        conn.close()


def path_of(location):
    parts = urllib.parse.urlsplit(location)
    return parts.path + ("?" + parts.query if parts.query else "")


def jwt_part(token, i):
    part = token.split(".")[i]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


# ------------------------------------------------------------------------------ plain
def test_plain_push_two_platform_oci_index(registry):
    image = rs.make_base_image(registry.host, "team/base", "3.11", platforms=TWO)

    index = rs.skopeo_inspect(f"{registry.host}/team/base:3.11", raw=True)
    assert index["mediaType"] == rs.OCI_INDEX
    platforms = {(m["platform"]["architecture"], m["platform"].get("variant")): m["digest"] for m in index["manifests"]}
    assert platforms == {("amd64", None): image["manifests"]["linux/amd64"],
                         ("arm64", "v8"): image["manifests"]["linux/arm64/v8"]}
    assert rs.manifest_digest(f"{registry.host}/team/base:3.11") == image["digest"]
    summary = rs.skopeo_inspect(f"{registry.host}/team/base:3.11", arch="arm64")
    assert summary["Architecture"] == "arm64"
    assert "PYTHON_VERSION=3.11.9" in summary["Env"]
    assert summary["Layers"] == image["layers"]["linux/arm64/v8"]
    config = rs.skopeo_inspect(f"{registry.host}/team/base@{image['manifests']['linux/amd64']}", config=True, raw=True)
    assert config == image["configs"]["linux/amd64"]
    assert registry.url == f"http://{registry.host}" and registry.mode == "plain"


def test_single_platform_is_a_plain_manifest_unless_index_asked(registry):
    one = rs.make_base_image(registry.host, "base", "one")
    assert rs.skopeo_inspect(f"{registry.host}/base:one", raw=True)["mediaType"] == rs.OCI_MANIFEST
    assert one["digest"] == one["manifests"]["linux/amd64"]
    rs.make_base_image(registry.host, "base", "idx", index=True)
    assert rs.skopeo_inspect(f"{registry.host}/base:idx", raw=True)["mediaType"] == rs.OCI_INDEX


def test_docker_media(registry):
    single = rs.make_base_image(registry.host, "dock/single", "1", media="docker")
    raw = rs.skopeo_inspect(f"{registry.host}/dock/single:1", raw=True)
    assert raw["mediaType"] == rs.DOCKER_MANIFEST == single["media_type"]
    assert raw["layers"][0]["mediaType"] == "application/vnd.docker.image.rootfs.diff.tar.gzip"
    assert raw["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
    assert single["config"]["config"]["Cmd"] == ["python3"]

    multi = rs.make_base_image(registry.host, "dock/multi", "1", platforms=TWO, media="docker")
    raw = rs.skopeo_inspect(f"{registry.host}/dock/multi:1", raw=True)
    assert raw["mediaType"] == rs.DOCKER_LIST == multi["media_type"]
    assert {m["mediaType"] for m in raw["manifests"]} == {rs.DOCKER_MANIFEST}
    assert set(multi["manifests"]) == set(TWO)
    assert multi["configs"]["linux/arm64/v8"]["variant"] == "v8"


def test_images_are_deterministic(tmp_path):
    a = rs.build_oci_layout(str(tmp_path / "a"), "t", TWO, files={"/opt/x.txt": "x"})
    b = rs.build_oci_layout(str(tmp_path / "b"), "t", TWO, files={"/opt/x.txt": "x"})
    assert a["digest"] == b["digest"] and a["layers"] == b["layers"]
    c = rs.build_oci_layout(str(tmp_path / "c"), "t", TWO, env={"PYTHON_VERSION": "3.12.1"})
    assert c["digest"] != a["digest"]


def test_pull_and_unpack(registry, tmp_path):
    rs.make_base_image(registry.host, "team/base", "1", platforms=TWO,
                       env={"PYTHON_VERSION": "3.11.7", "EXTRA": "yes", "LANG": None},
                       files={"/opt/app/hello.txt": "hi\n", "opt/app/run.sh": "#!/bin/sh\necho run\n",
                              "usr/local/bin/python3": ("symlink", "/usr/bin/python3")},
                       extra_layers=[{"/srv/second-layer": b"\x00\x01"}], cmd=["python3", "-V"])

    rootfs, config = rs.pull_and_unpack(f"{registry.host}/team/base:1", tmp_path / "amd64")
    with open(os.path.join(rootfs, "opt/app/hello.txt")) as f:
        assert f.read() == "hi\n"
    assert os.access(os.path.join(rootfs, "opt/app/run.sh"), os.X_OK)
    assert os.readlink(os.path.join(rootfs, "usr/bin/python")) == "python3"
    assert os.readlink(os.path.join(rootfs, "usr/local/bin/python3")) == "/usr/bin/python3"
    with open(os.path.join(rootfs, "srv/second-layer"), "rb") as f:
        assert f.read() == b"\x00\x01"
    with open(os.path.join(rootfs, "etc/os-release")) as f:
        assert "PLATFORM=linux/amd64" in f.read()
    env = config["process"]["env"]
    assert "PYTHON_VERSION=3.11.7" in env and "EXTRA=yes" in env
    assert not any(e.startswith("LANG=") for e in env)
    assert config["process"]["args"] == ["python3", "-V"]

    rootfs, _ = rs.pull_and_unpack(f"{registry.host}/team/base:1", tmp_path / "arm64", arch="arm64")
    with open(os.path.join(rootfs, "etc/os-release")) as f:
        assert "PLATFORM=linux/arm64/v8" in f.read()


def test_blob_uploads_and_second_push_uploads_nothing(registry):
    image = rs.make_base_image(registry.host, "team/base", "1", platforms=TWO, extra_layers=[{"shared": "same"}])
    blobs = set()
    for p in TWO:
        blobs.update(image["layers"][p])
        blobs.add(image["config_digests"][p])
    uploads = registry.blob_uploads()
    assert sorted(uploads) == sorted(blobs)  # the layer shared by both platforms went up once
    assert (("team/base", "1")) in registry.manifest_puts()

    registry.mark()
    assert registry.blob_uploads() == [] and registry.requests_log() == []
    rs.make_base_image(registry.host, "team/base", "1", platforms=TWO, extra_layers=[{"shared": "same"}])
    assert registry.blob_uploads() == []
    assert not [r for r in registry.requests_log() if r["method"] == "PATCH"]
    assert any(r["method"] == "HEAD" and r["status"] == 200 for r in registry.requests_log())
    assert sorted(registry.blob_uploads(since_start=True)) == sorted(blobs)


# ------------------------------------------------------------------------------ auth and TLS
def test_htpasswd(registry_factory):
    reg = registry_factory("htpasswd", users={"alice": "s3cret"})
    resp, _ = request(reg.host, "GET", "/v2/")
    assert resp.status == 401 and resp.getheader("Www-Authenticate") == 'Basic realm="test-realm"'

    with pytest.raises(rs.SkopeoError, match="authentication required"):
        rs.make_base_image(reg.host, "team/base", "1")
    with pytest.raises(rs.SkopeoError, match="authentication required"):
        rs.make_base_image(reg.host, "team/base", "1", creds="alice:wrong")
    rs.make_base_image(reg.host, "team/base", "1", **reg.client_options("alice"))
    assert rs.skopeo_inspect(f"{reg.host}/team/base:1", creds=("alice", "s3cret"))["Architecture"] == "amd64"


def test_tls(registry_factory):
    reg = registry_factory("tls")
    assert reg.url.startswith("https://127.0.0.1:") and os.path.exists(reg.ca_path)
    resp, _ = request(reg.host, "GET", "/v2/", context=ssl.create_default_context(cafile=reg.ca_path))
    assert resp.status == 200
    with pytest.raises(ssl.SSLCertVerificationError):
        request(reg.host, "GET", "/v2/", context=ssl.create_default_context())

    with pytest.raises(rs.SkopeoError, match="x509: certificate signed by unknown authority"):
        rs.make_base_image(reg.host, "team/base", "1", tls_verify=True)
    image = rs.make_base_image(reg.host, "team/base", "1", cert_dir=reg.cert_dir)
    assert rs.manifest_digest(f"{reg.host}/team/base:1", **reg.client_options()) == image["digest"]


def test_token(registry_factory):
    reg = registry_factory("token", permissions=PERMISSIONS)
    resp, _ = request(reg.host, "GET", "/v2/")
    assert resp.status == 401
    assert resp.getheader("Www-Authenticate") == f'Bearer realm="{reg.token_server.realm}",service="test-registry"'

    rs.make_base_image(reg.host, "team/base", "1", **reg.client_options("alice"))
    pushes = [r for r in reg.token_requests() if r["user"] == "alice"]
    assert pushes[0]["scopes"] == ["repository:team/base:pull,push"]
    assert pushes[0]["granted"] == [{"type": "repository", "name": "team/base", "actions": ["pull", "push"]}]
    assert pushes[0]["account"] == "alice" and pushes[0]["service"] == "test-registry"
    assert "s3cret" not in json.dumps(reg.token_requests(since_start=True))

    reg.mark()
    with pytest.raises(rs.SkopeoError, match="denied: requested access to the resource is denied"):
        rs.make_base_image(reg.host, "team/base", "2", **reg.client_options("reader"))
    asked = [r for r in reg.token_requests() if "repository:team/base:pull,push" in r["scopes"]]
    assert asked and all(r["user"] == "reader" for r in asked)
    assert asked[0]["granted"] == [{"type": "repository", "name": "team/base", "actions": ["pull"]}]
    assert reg.manifest_puts() == []
    with pytest.raises(rs.SkopeoError, match="denied"):  # alice only has team/*
        rs.make_base_image(reg.host, "other/base", "1", **reg.client_options("alice"))
    with pytest.raises(rs.SkopeoError):  # anonymous gets an empty token
        rs.skopeo_inspect(f"{reg.host}/team/base:1")
    with pytest.raises(rs.SkopeoError, match="invalid username/password"):
        rs.skopeo_inspect(f"{reg.host}/team/base:1", creds="alice:wrong")
    assert rs.skopeo_inspect(f"{reg.host}/team/base:1", **reg.client_options("reader"))["Architecture"] == "amd64"


def test_token_server_protocol(registry_factory):
    reg = registry_factory("token", permissions=PERMISSIONS, token_ttl=120)
    realm = reg.token_server.realm
    basic = "Basic " + base64.b64encode(b"alice:s3cret").decode()
    query = "service=test-registry&scope=repository:team/app:pull,push&scope=repository:team/base:pull&offline_token=true"
    req = urllib.request.Request(f"{realm}?{query}", headers={"Authorization": basic})
    body = json.load(urllib.request.urlopen(req, timeout=10))
    assert body["token"] == body["access_token"] and body["expires_in"] == 120 and body["refresh_token"]
    header, claims = jwt_part(body["token"], 0), jwt_part(body["token"], 1)
    assert header == {"typ": "JWT", "alg": "ES256", "kid": reg.token_server.kid}
    assert claims["aud"] == "test-registry" and claims["iss"] == "test-issuer" and claims["sub"] == "alice"
    assert claims["access"] == [{"type": "repository", "name": "team/app", "actions": ["pull", "push"]},
                                {"type": "repository", "name": "team/base", "actions": ["pull"]}]
    resp, _ = request(reg.host, "POST", "/v2/team/app/blobs/uploads/", headers={"Authorization": "Bearer " + body["token"]})
    assert resp.status == 202

    refresh = reg.refresh_token("reader")
    form = urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": refresh, "service": "test-registry",
                                   "scope": "repository:team/app:pull,push", "client_id": "mlflow-bridge"}).encode()
    body = json.load(urllib.request.urlopen(urllib.request.Request(realm, data=form), timeout=10))
    assert jwt_part(body["access_token"], 1)["access"] == [{"type": "repository", "name": "team/app", "actions": ["pull"]}]
    resp, _ = request(reg.host, "POST", "/v2/team/app/blobs/uploads/",
                      headers={"Authorization": "Bearer " + body["access_token"]})
    assert resp.status == 401 and 'error="insufficient_scope"' in resp.getheader("Www-Authenticate")

    form = urllib.parse.urlencode({"grant_type": "password", "username": "alice", "password": "s3cret",
                                   "service": "test-registry", "scope": "repository:team/x:pull"}).encode()
    assert json.load(urllib.request.urlopen(urllib.request.Request(realm, data=form), timeout=10))["access_token"]
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(urllib.request.Request(realm, data=form.replace(b"s3cret", b"nope")), timeout=10)
    assert err.value.code == 401
    log = reg.token_requests()
    assert [(r["method"], r["grant_type"], r["user"], r["status"]) for r in log] == [
        ("GET", None, "alice", 200), ("POST", "refresh_token", "reader", 200), ("POST", "password", "alice", 200),
        ("POST", "password", None, 401)]
    assert log[1]["client_id"] == "mlflow-bridge"


def test_authfile(registry_factory, tmp_path):
    """skopeo reads a docker config.json given as authfile (the format the bridge reads too)."""
    reg = registry_factory("htpasswd")
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"auths": {reg.host: {"auth": base64.b64encode(b"alice:s3cret").decode()}}}))
    rs.make_base_image(reg.host, "team/base", "1", authfile=path)
    assert rs.skopeo_inspect(f"{reg.host}/team/base:1", authfile=path)["Architecture"] == "amd64"


# ------------------------------------------------------------------------------ faults
def test_proxy_cuts_first_connection_then_passes(registry):
    proxy = registry.proxy(drop_after_bytes=1000, times=1)
    assert proxy.startswith("127.0.0.1:") and proxy != registry.host
    data = os.urandom(64 * 1024)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    octets = {"Content-Type": "application/octet-stream"}

    resp, _ = request(proxy, "POST", "/v2/t/fault/blobs/uploads/")  # no body: never cut
    assert resp.status == 202 and resp.getheader("Location").startswith(f"http://{proxy}/")
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        request(proxy, "PATCH", path_of(resp.getheader("Location")), body=data, headers=octets)
    assert proxy.cuts == 1

    resp, _ = request(proxy, "POST", "/v2/t/fault/blobs/uploads/")
    resp, _ = request(proxy, "PATCH", path_of(resp.getheader("Location")), body=data, headers=octets)
    assert resp.status == 202 and resp.getheader("Range") == f"0-{len(data) - 1}"
    resp, _ = request(proxy, "PUT", path_of(resp.getheader("Location")) + "&digest=" + digest)
    assert resp.status == 201
    assert registry.blob_uploads() == [digest] and proxy.cuts == 1 and proxy.connections == 5
    resp, _ = request(registry.host, "HEAD", f"/v2/t/fault/blobs/{digest}")
    assert resp.status == 200


def test_cut_patch_poisons_the_upload_session(registry):
    """distribution 2.8.2 keeps the bytes of a cut PATCH but not the offset in `_state`: the last
    Location soon answers 404 BLOB_UPLOAD_INVALID, so a client must start a new upload (POST)."""
    proxy = registry.proxy(drop_after_bytes=1000)
    resp, _ = request(proxy, "POST", "/v2/t/poison/blobs/uploads/")
    location = path_of(resp.getheader("Location"))
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        request(proxy, "PATCH", location, body=b"x" * 5000, headers={"Content-Type": "application/octet-stream"})
    deadline = time.monotonic() + 120  # a bound for a broken registry; it usually notices at once
    while True:  # readiness-style poll: the registry notices the disconnect asynchronously
        resp, body = request(registry.host, "GET", location)
        if resp.status != 204 or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert resp.status == 404 and b"BLOB_UPLOAD_INVALID" in body
    assert "client disconnected during blob PATCH" in registry.stderr_text()


def test_proxy_through_skopeo_push(registry):
    """skopeo does not retry a cut blob upload: the copy fails, and the next one succeeds."""
    proxy = registry.proxy(drop_after_bytes=100)
    files = {"big.bin": os.urandom(4096)}
    with pytest.raises(rs.SkopeoError):
        rs.make_base_image(proxy, "t/skopeo", "1", files=files)
    assert proxy.cuts == 1
    image = rs.make_base_image(proxy, "t/skopeo", "1", files=files)
    assert rs.manifest_digest(f"{registry.host}/t/skopeo:1") == image["digest"]


# ------------------------------------------------------------------------------ lifecycle
def test_stop_leaves_no_process(registry_factory):
    regs = [registry_factory(mode) for mode in ("plain", "tls", "htpasswd", "token")]
    assert len({r.port for r in regs}) == 4
    for reg in regs:
        pid = reg.pid
        assert reg.running and os.path.exists(f"/proc/{pid}")
        token = reg.token_server
        reg.stop()
        reg.stop()  # idempotent
        assert not reg.running and not os.path.exists(f"/proc/{pid}")
        if token:
            with pytest.raises(OSError):
                urllib.request.urlopen(token.realm, timeout=2)


def test_own_workdir_is_removed():
    with rs.Registry() as reg:
        workdir = reg.workdir
        rs.make_base_image(reg.host, "x", "1")
        assert os.path.isdir(reg.storage_dir)
    assert not os.path.exists(workdir)
