"""The Azure stand-in (tests/servers/azureml.py) replayed against azure-ai-ml's recordings of the real service.

tests/data/azureml/recordings/online_services/e2etests/*.excerpt.json hold entries of two test-proxy recordings
(Azure/azure-sdk-assets; see each file's _excerpt): online endpoint create / get / list deployments / token /
delete, and endpoint + deployment create / get / list / traffic update / listKeys / delete, with the status polls
of their long-running operations. Each recorded request is sent again, with `requests`, to a stand-in seeded
with the recording's workspace (same subscription, resource group, workspace names and region), the model and
environment its deployment refers to, and a service principal; polls go to the operation URLs the stand-in
handed out for the same request. Compared, entry by entry:

  * the status code;
  * the LRO headers (Azure-AsyncOperation, Location, x-ms-async-operation-timeout, Retry-After): present in
    both or in neither; URLs with the same scheme, host, path (operation names of the same form,
    {oeidp|odidp}:{workspace id}:{uuid}) and the same api-version, i.e. the request's, echoed; Content-Type;
  * the JSON bodies, recursively: the same keys, values of the same type (null where the service sent null),
    equal values except those that differ by nature (ids of operations, timestamps: ISO-8601 both, principals,
    sanitized secrets), which are checked for form;
  * per operation the status sequence (Updating ... Succeeded), endTime "0001-01-01T00:00:00+00:00" while
    running and a timestamp after, percentComplete; per resource the provisioningState sequence.

The stand-in runs with lro_polls=1 (one Updating poll, as kept in the excerpts) and retry_after=None (the
recorded polls carry no Retry-After), so nothing sleeps. Operations whose polls were left out of an excerpt are
polled to their end before the next recorded request (those polls stand for the left-out ones).

The recordings were made with older preview api-versions (2022-02-01-preview for endpoints, 2023-04-01-preview
for deployments); the stand-in serves one shape for every api-version, the 2025-12-01 one. Where the two differ
(the deployment list read through 2022-02-01-preview) only what both share is compared, and KNOWN lists it.
Every other difference the comparison finds is in KNOWN with the reason it is kept.
"""

import datetime
import json
import os
import re
import urllib.parse
import uuid

import pytest
import requests
from azureml_fixtures import azure_standin_factory  # noqa: F401

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "azureml", "recordings",
                    "online_services", "e2etests")
E2E = "test_online_endpoint.pyTestOnlineEndpointtest_online_endpoint_e2e.excerpt.json"
DEPLOYMENT = "test_online_deployment.pyTestOnlineDeploymenttest_online_deployment.excerpt.json"
LRO_HEADERS = ("Azure-AsyncOperation", "Location", "x-ms-async-operation-timeout", "Retry-After")
NOT_STARTED = "0001-01-01T00:00:00+00:00"
UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
OP_NAME = re.compile(rf"^(oeidp|odidp):{UUID}:{UUID}$")
OP_PATH = re.compile(r"^(.*/(?:mfeOperationsStatus|mfeOperationResults)/)([^/?]+)$")
TERMINAL = ("Succeeded", "Failed", "Canceled")
# Values that differ by nature: checked for form, not compared.
TIMESTAMPS = {"createdAt", "lastModifiedAt", "startTime", "endTime"}
SECRETS = {"accessToken", "primaryKey", "secondaryKey"}
PRINCIPALS = {"principalId", "tenantId"}
# Maps whose keys are data, not schema: compared as a whole below (or in KNOWN), not key by key.
FREE_FORM = {"properties.environmentVariables"}

# Differences the comparison finds on purpose: {recording: {entry index: [difference, ...]}}.
KNOWN = {
    E2E: {
        # The recording's azureml.onlineendpointid names another resource group than its URLs (the test proxy
        # sanitized the URLs, not this property); the stand-in derives it from its own (lowercased) ARM id.
        0: ["properties.properties.azureml.onlineendpointid: value"],
        3: ["properties.properties.azureml.onlineendpointid: value"],
    },
    DEPLOYMENT: {
        # After provisioning the service fills environmentVariables (AZUREML_MODEL_DIR, AZUREML_ENTRY_SCRIPT,
        # AML_APP_ROOT: where it mounted model and code); the stand-in echoes what the client sent ({}), as the
        # service itself does before provisioning (entry 1). No client reads them back.
        4: ["properties.environmentVariables: value"],
        5: ["value[0].properties.environmentVariables: value"],
        # A PUT of an existing endpoint: the service answered 201 (as the stand-in now does) with a short body
        # (no location, identity, createdAt, createdBy) saying provisioningState "Creating" and scoringUri null,
        # though the endpoint exists and keeps serving. The stand-in answers the whole resource, "Updating", with
        # its scoring URIs. Clients follow Azure-AsyncOperation and read the resource at the end; kept as is.
        6: ["identity: only in the stand-in", "location: only in the stand-in",
            "properties.properties.azureml.onlineendpointid: only in the stand-in",
            "properties.provisioningState: value",
            "properties.scoringUri: type NoneType != str", "properties.swaggerUri: type NoneType != str",
            "systemData.createdAt: only in the stand-in", "systemData.createdBy: only in the stand-in"],
        # Read through 2022-02-01-preview the deployment carries privateNetworkConnection and no dataCollector
        # (both api-version shapes are in the recording); the stand-in serves the 2023-04-01-preview / 2025-12-01
        # shape for every api-version. Compared: what both share.
        9: ["value[0].properties.dataCollector: only in the stand-in",
            "value[0].properties.environmentVariables: value",
            "value[0].properties.privateNetworkConnection: only in the recording"],
    },
}


def load(name):
    with open(os.path.join(DATA, name), encoding="utf-8") as f:
        return json.load(f)


# ------------------------------------------------------------------------------ comparison helpers
def url_shape(url):
    """scheme, host, path with the operation name reduced to its form, api-version, other query keys."""
    u = urllib.parse.urlsplit(url)
    q = urllib.parse.parse_qs(u.query)
    path = u.path
    m = OP_PATH.match(path)
    if m:
        name = urllib.parse.unquote(m.group(2))
        assert OP_NAME.match(name), name
        path = m.group(1) + name.split(":")[0] + ":{workspace id}:{uuid}"
    return {"scheme": u.scheme, "host": u.netloc.lower(), "path": path, "api-version": q.get("api-version"),
            "signed": sorted(set(q) - {"api-version"})}


def same_url(recorded, got):
    r, g = url_shape(recorded), url_shape(got)
    # The service signs its operation URLs (t, c, s, h); the stand-in does not. Clients follow the URL as given.
    assert r.pop("signed") in ([], ["c", "h", "s", "t"]) and g.pop("signed") == []
    return r == g


def iso(text):
    return datetime.datetime.fromisoformat(text).utcoffset() is not None


def diff(rec, got, path=""):
    """Differences between a recorded body and the stand-in's, as 'path: what' strings."""
    key = path.rsplit(".", 1)[-1]
    if re.sub(r"^value\[\d+\]\.", "", path) in FREE_FORM:
        return [] if rec == got else [f"{path}: value"]
    if isinstance(rec, dict) and isinstance(got, dict):
        out = []
        for k in sorted(set(rec) | set(got)):
            sub = f"{path}.{k}" if path else k
            if k not in got:
                out.append(f"{sub}: only in the recording")
            elif k not in rec:
                out.append(f"{sub}: only in the stand-in")
            else:
                out += diff(rec[k], got[k], sub)
        return out
    if isinstance(rec, list) and isinstance(got, list):
        if len(rec) != len(got):
            return [f"{path}: {len(rec)} items != {len(got)}"]
        return [d for i, (a, b) in enumerate(zip(rec, got)) for d in diff(a, b, f"{path}[{i}]")]
    if type(rec) is not type(got):
        return [f"{path}: type {type(rec).__name__} != {type(got).__name__}"]
    if rec is None or rec == got:
        return []
    if key in TIMESTAMPS:
        return [] if iso(rec) and iso(got) and (rec == NOT_STARTED) == (got == NOT_STARTED) else [f"{path}: form"]
    if key in SECRETS:   # "Sanitized" in the recordings
        return [] if rec == "Sanitized" and len(got) >= 16 else [f"{path}: form"]
    if key == "createdBy":
        return []
    if key in PRINCIPALS:
        return [] if re.fullmatch(UUID, rec) and re.fullmatch(UUID, got) else [f"{path}: form"]
    if key in ("expiryTimeUtc", "refreshAfterTimeUtc"):
        return []   # relative to the time of the call: checked in the token test below
    if key == "AzureAsyncOperationUri" or (key == "id" and OP_PATH.match(rec)):
        return [] if same_url(rec, got) else [f"{path}: form"]
    if key == "name" and OP_NAME.match(rec):
        return [] if OP_NAME.match(got) and got.split(":")[0] == rec.split(":")[0] else [f"{path}: form"]
    return [f"{path}: value"]


# ------------------------------------------------------------------------------ replay
class Replay:
    """Sends a recording's requests to the stand-in; maps its operations to the stand-in's."""

    def __init__(self, az, recording):
        self.az, self.recording = az, recording
        first_put = next(e for e in recording["Entries"] if e["RequestMethod"] == "PUT")
        parts = urllib.parse.urlsplit(first_put["RequestUri"]).path.split("/")
        self.sub, self.rg, self.ws_name = parts[2], parts[4], parts[8]
        self.ws = az.add_workspace(self.sub, self.rg, self.ws_name, location=first_put["RequestBody"]["location"])
        for entry in recording["Entries"]:   # what a recorded deployment refers to, as azure-ai-ml had uploaded it
            props = (entry.get("RequestBody") or {}).get("properties", {})
            if entry["RequestMethod"] == "PUT" and "endpointComputeType" in props:
                model = props["model"].split("/")
                az.put_model_version(model[-3], model[-1], model_type="custom_model", workspace=self.ws)
                env = props["environmentId"].split("/")
                az.put_environment_version(env[-3], env[-1], workspace=self.ws)
        az.add_principal("recordings-app", secret="recordings-secret")
        token = requests.post(f"https://login.microsoftonline.com/{az.tenant}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": "recordings-app", "client_secret": "recordings-secret",
            "scope": "https://management.azure.com/.default"}).json()["access_token"]
        self.s = requests.Session()
        self.s.headers["Authorization"] = f"Bearer {token}"
        self.ops = {}          # recorded operation name -> the stand-in's status URL
        self.finished = set()  # stand-in status URLs whose operation ended

    @staticmethod
    def op_name(url):
        m = OP_PATH.match(urllib.parse.urlsplit(url).path)
        return m and urllib.parse.unquote(m.group(2))

    def finish_open_operations(self):
        for url in self.ops.values():
            for _ in range(10):
                if url in self.finished:
                    break
                if self.s.get(url).json()["status"] in TERMINAL:
                    self.finished.add(url)
            assert url in self.finished, url

    def send(self, entry):
        uri, method = entry["RequestUri"], entry["RequestMethod"]
        recorded_op = self.op_name(uri)
        if recorded_op:
            url = self.ops[recorded_op]
        else:
            self.finish_open_operations()
            u = urllib.parse.urlsplit(uri)
            url = urllib.parse.urlunsplit(("https", "management.azure.com", u.path, u.query, ""))
        r = self.s.request(method, url, json=entry.get("RequestBody"))
        recorded_status_url = entry.get("ResponseHeaders", {}).get("Azure-AsyncOperation")
        if recorded_status_url and "Azure-AsyncOperation" in r.headers:
            self.ops[self.op_name(recorded_status_url)] = r.headers["Azure-AsyncOperation"]
        if recorded_op and r.status_code == 200 and r.json().get("status") in TERMINAL:
            self.finished.add(url)
        return r


def replay(az, name):
    """Replays one excerpt. Returns the recording, {entry index: differences}, the status sequence of each
    operation and the provisioningState sequence of each resource ({"recorded": {...}, "stand-in": {...}})."""
    rec = load(name)
    rp = Replay(az, rec)
    found, statuses, states = {}, {"recorded": {}, "stand-in": {}}, {"recorded": {}, "stand-in": {}}
    for i, entry in enumerate(rec["Entries"]):
        r = rp.send(entry)
        problems = []
        if r.status_code != entry["StatusCode"]:
            problems.append(f"status {entry['StatusCode']} != {r.status_code}: {r.text[:300]}")
        headers = entry.get("ResponseHeaders", {})
        for h in LRO_HEADERS:
            if (h in headers) != (h in r.headers):
                problems.append(f"header {h}: {'recorded' if h in headers else 'only in the stand-in'}")
            elif h in ("Azure-AsyncOperation", "Location") and h in headers:
                if not same_url(headers[h], r.headers[h]):
                    problems.append(f"header {h}: {headers[h][:120]} ~ {r.headers[h]}")
            elif h in headers and headers[h] != r.headers[h]:
                problems.append(f"header {h}: {headers[h]} != {r.headers[h]}")
        if "Content-Type" in headers and headers["Content-Type"] != r.headers.get("Content-Type"):
            problems.append(f"Content-Type {headers['Content-Type']} != {r.headers.get('Content-Type')}")
        body = entry.get("ResponseBody")
        if isinstance(body, str):   # test-proxy keeps non-object bodies as text: "null" for DELETE's 202
            if r.text != body:
                problems.append(f"body {body!r} != {r.text!r}")
        elif body is not None:
            got = r.json()
            problems += diff(body, got)
            op = Replay.op_name(entry["RequestUri"])
            if op:
                statuses["recorded"].setdefault(op, []).append(body["status"])
                statuses["stand-in"].setdefault(op, []).append(got["status"])
            for b, g in ([(body, got)] if "properties" in body else []) + \
                    [(b, g) for b, g in zip(body.get("value", []), got.get("value", []))]:
                if "provisioningState" in b.get("properties", {}):
                    states["recorded"].setdefault(b["id"], []).append(b["properties"]["provisioningState"])
                    states["stand-in"].setdefault(b["id"], []).append(g["properties"]["provisioningState"])
        if problems:
            found[i] = problems
    rp.finish_open_operations()
    return rec, found, statuses, states


@pytest.fixture
def standin(azure_standin_factory):  # noqa: F811
    # lro_polls=1: one Updating poll per operation, as in the excerpts; retry_after=None: no Retry-After, as
    # recorded; AML tokens for 24 hours, as recorded (the stand-in's default is 1 hour, see test_token_lifetime).
    return azure_standin_factory(lro_polls=1, retry_after=None, aml_token_lifetime=86400)


def test_excerpts_are_sanitized():
    for name in (E2E, DEPLOYMENT):
        with open(os.path.join(DATA, name), encoding="utf-8") as f:
            text = f.read()
        data = json.loads(text)
        assert data["_excerpt"]["source"].startswith("Azure/azure-sdk-assets python/sdk/ml/azure-ai-ml/tests/")
        assert re.fullmatch("[0-9a-f]{40}", data["_excerpt"]["commit"])
        assert "eyJ" not in text and '"Authorization":' not in text and "MII" not in text   # no JWT, no certificate
        for entry in data["Entries"]:
            for value in entry.get("ResponseHeaders", {}).values():
                q = urllib.parse.parse_qs(urllib.parse.urlsplit(value).query)
                assert all(q[k] == ["..."] for k in q if k != "api-version"), value
            assert urllib.parse.urlsplit(entry["RequestUri"]).netloc.startswith("Sanitized.")
            assert set(entry) <= {"_what", "RequestUri", "RequestMethod", "RequestBody", "StatusCode",
                                  "ResponseHeaders", "ResponseBody"}
            assert set(entry.get("ResponseHeaders", {})) <= set(LRO_HEADERS) | {"Content-Type", "Date"}
        assert set(re.findall(r'"(?:accessToken|primaryKey|secondaryKey)": "([^"]*)"', text)) <= {"Sanitized"}


@pytest.mark.parametrize("name", [E2E, DEPLOYMENT], ids=["endpoint_e2e", "deployment"])
def test_replay_matches_the_recording(standin, name):
    az = standin
    rec, found, statuses, states = replay(az, name)
    assert found == KNOWN[name], json.dumps(found, indent=1)
    # Every recorded operation went Updating ... Succeeded in the stand-in too.
    assert statuses["recorded"] == statuses["stand-in"] and statuses["recorded"]
    # provisioningState per resource, in recorded order; the one known difference is the update's "Creating".
    got = states["stand-in"]
    want = states["recorded"]
    if name == DEPLOYMENT:
        ep = next(k for k in want if k.endswith("/onlineEndpoints/online-ept-5ce3da3806e04e3"))
        assert want[ep] == ["Creating", "Creating", "Succeeded"] and got[ep] == ["Creating", "Updating", "Succeeded"]
        want = dict(want, **{ep: got[ep]})
    assert got == want
    assert not az.ignored_fields


def test_status_polls_and_headers(standin):
    """The LRO wire details a client acts on, spelled out (replay() checks them entry by entry)."""
    rec = load(E2E)["Entries"]
    put, running, done, final_get = rec[0], rec[1], rec[2], rec[3]
    assert put["StatusCode"] == 201 and "Retry-After" not in put["ResponseHeaders"]
    assert running["ResponseBody"]["endTime"] == NOT_STARTED and running["ResponseBody"]["percentComplete"] == 0.0
    assert done["ResponseBody"]["status"] == "Succeeded" and done["ResponseBody"]["percentComplete"] == 0.0
    assert final_get["ResponseBody"]["properties"]["provisioningState"] == "Succeeded"
    delete = rec[6]
    assert delete["StatusCode"] == 202 and "/mfeOperationResults/" in delete["ResponseHeaders"]["Location"]
    assert "/mfeOperationsStatus/" in delete["ResponseHeaders"]["Azure-AsyncOperation"]

    az = standin
    rp = Replay(az, load(E2E))
    r = rp.send(put)
    assert r.status_code == 201 and "Retry-After" not in r.headers
    st = rp.s.get(r.headers["Azure-AsyncOperation"])
    assert st.json()["status"] == "Updating" and "Retry-After" not in st.headers
    st = rp.s.get(r.headers["Azure-AsyncOperation"]).json()
    assert st["status"] == "Succeeded" and st["percentComplete"] == 0.0 and st["endTime"] != NOT_STARTED
    # api-version echo: the status URL carries the api-version of the request that started the operation
    assert url_shape(r.headers["Azure-AsyncOperation"])["api-version"] == ["2022-02-01-preview"]
    again = rp.s.put(r.url.replace("2022-02-01-preview", "2025-12-01"), json=put["RequestBody"])
    assert again.status_code == 201   # an update: 201 as in the recording
    assert url_shape(again.headers["Azure-AsyncOperation"])["api-version"] == ["2025-12-01"]
    assert url_shape(again.headers["Location"])["api-version"] == ["2025-12-01"]


def test_token_lifetime(standin, azure_standin_factory):  # noqa: F811
    """Recorded: expiryTimeUtc 24 h (86340 s) and refreshAfterTimeUtc 12 h after the call (the Date header)."""
    entry = load(E2E)["Entries"][5]
    body = entry["ResponseBody"]
    date = datetime.datetime.strptime(entry["ResponseHeaders"]["Date"], "%a, %d %b %Y %H:%M:%S GMT").replace(
        tzinfo=datetime.timezone.utc).timestamp()
    assert abs(body["expiryTimeUtc"] - date - 86400) <= 120 and abs(body["refreshAfterTimeUtc"] - date - 43200) <= 120

    def lifetime(az):
        rp = Replay(az, load(E2E))
        rp.send(load(E2E)["Entries"][0])
        rp.finish_open_operations()
        before = az._now()
        tok = rp.s.post(f"https://management.azure.com{urllib.parse.urlsplit(entry['RequestUri']).path}"
                        "?api-version=2022-02-01-preview").json()
        return tok["expiryTimeUtc"] - before, tok["refreshAfterTimeUtc"] - before

    expiry, refresh = lifetime(standin)   # aml_token_lifetime=86400, as recorded
    assert abs(expiry - 86400) <= 2 and abs(refresh - 43200) <= 2
    # The stand-in's default is one hour (tests advance its clock past it); the refresh point is half of it too.
    expiry, refresh = lifetime(azure_standin_factory(lro_polls=0, retry_after=None))
    assert abs(expiry - 3600) <= 2 and abs(refresh - 1800) <= 2


def test_operation_names_use_the_workspace_id(standin):
    """Recorded operation names are {oeidp|odidp}:{workspaceId}:{uuid}; the stand-in uses its workspace's id."""
    rec = load(DEPLOYMENT)["Entries"]
    recorded = [Replay.op_name(e["ResponseHeaders"]["Azure-AsyncOperation"]) for e in rec
                if "Azure-AsyncOperation" in e.get("ResponseHeaders", {})]
    assert [n.split(":")[0] for n in recorded] == ["oeidp", "odidp", "oeidp", "oeidp"]
    assert len({n.split(":")[1] for n in recorded}) == 1
    az = standin
    rp = Replay(az, load(E2E))
    name = Replay.op_name(rp.send(load(E2E)["Entries"][0]).headers["Azure-AsyncOperation"])
    assert name.split(":")[1] == rp.ws["id"] and str(uuid.UUID(rp.ws["id"])) == rp.ws["id"]
