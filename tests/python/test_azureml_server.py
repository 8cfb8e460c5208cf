"""The Azure stand-in (tests/servers/azureml.py) checked with the official clients: azure-identity
(client secret, certificate, workload identity, managed identity over IMDS), azure-ai-ml's MLClient
(model upload to the blob stand-in, managed and Kubernetes endpoints and deployments, keys, tokens,
logs, invoke, retries, failed provisioning), azure-storage-blob (SharedKey, SAS, Bearer) and requests
(raw ARM, LRO shapes, service-side validation, scoring routes)."""

import base64
import datetime
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid

import jwt
import pytest
import requests
from azureml_fixtures import azure_standin, azure_standin_factory, model_backend  # noqa: F401
from conftest import unused_port

ARM_SCOPE = "https://management.azure.com/.default"
FAST = dict(retry_after=0.01)   # azure-core accepts a fractional Retry-After: polls cost 10 ms
SPEC = "2025-12-01"
MLMODEL = """artifact_path: model
flavors:
  python_function:
    env:
      conda: conda.yaml
    loader_module: mlflow.sklearn
    model_path: model.pkl
    python_version: 3.11.0
mlflow_version: 3.1.0
"""


# ------------------------------------------------------------------------------ helpers
def mlflow_folder(tmp_path, name="tinymodel"):
    """A folder azure-ai-ml accepts as an mlflow_model (it only reads MLmodel)."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "MLmodel").write_text(MLMODEL)
    (folder / "conda.yaml").write_text("dependencies: [python=3.11]\n")
    (folder / "model.pkl").write_bytes(bytes(range(256)) * 4)
    return folder


def self_signed(cn="standin-app"):
    """An RSA key and certificate (PEM key + cert, the certificate object, the key object)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2)).sign(key, hashes.SHA256()))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()) + cert.public_bytes(serialization.Encoding.PEM)
    return pem, cert, key


def assertion(key, cert, client_id, aud, alg="RS256", thumb="x5t", lifetime=600):
    from cryptography.hazmat.primitives import serialization

    der = cert.public_bytes(serialization.Encoding.DER)
    header = {"x5t": base64.urlsafe_b64encode(hashlib.sha1(der).digest()).decode()} if thumb == "x5t" else \
        {"x5t#S256": base64.urlsafe_b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")}
    now = int(time.time())
    claims = {"aud": aud, "iss": client_id, "sub": client_id, "jti": str(uuid.uuid4()), "iat": now, "nbf": now,
              "exp": now + lifetime}
    return jwt.encode(claims, key, algorithm=alg, headers=header)


def token_request(az, form):
    return requests.post(f"https://login.microsoftonline.com/{az.tenant}/oauth2/v2.0/token", data=form)


def mlclient(az, credential):
    from azure.ai.ml import MLClient

    ws = az.default_workspace
    return MLClient(credential, ws["sub"], ws["rg"], ws["name"], show_progress=False)


def secret_credential(az, client_id="app-id"):
    from azure.identity import ClientSecretCredential

    az.add_principal(client_id, secret="s3cret-value")
    return ClientSecretCredential(az.tenant, client_id, "s3cret-value")


class StaticCredential:
    """A TokenCredential that hands out one token (for audience tests)."""

    def __init__(self, token):
        self.token = token

    def get_token(self, *scopes, **kwargs):
        from azure.core.credentials import AccessToken

        return AccessToken(self.token, int(time.time()) + 3000)


class Arm:
    """Raw ARM calls at one api-version with a token from the stand-in."""

    def __init__(self, az, client_id="arm-client", api_version=SPEC):
        self.az, self.v = az, api_version
        self.s = requests.Session()
        self.s.headers["Authorization"] = "Bearer " + az.issue_token(client_id)
        ws = az.default_workspace
        self.base = "https://management.azure.com"
        self.prefix = (f"{self.base}/subscriptions/{ws['sub']}/resourceGroups/{ws['rg']}/providers/"
                       f"Microsoft.MachineLearningServices/workspaces/{ws['name']}")

    def url(self, rel, v=None):
        return f"{self.prefix}{rel}?api-version={v or self.v}"

    def call(self, method, rel, body=None, v=None, **kw):
        return self.s.request(method, self.url(rel, v), json=body, **kw)

    def wait(self, resp, limit=50):
        """Follows Azure-AsyncOperation (else Location) until the operation ends; returns the last body."""
        url = resp.headers.get("Azure-AsyncOperation")
        for _ in range(limit):
            if url:
                st = self.s.get(url).json()
                if st["status"] in ("Succeeded", "Failed", "Canceled"):
                    return st
            else:
                r = self.s.get(resp.headers["Location"])
                if r.status_code != 202:
                    return r
        raise AssertionError("operation still running")

    def endpoint(self, name, auth="Key", **props):
        r = self.call("PUT", f"/onlineEndpoints/{name}", {"location": "eastus", "properties": dict(authMode=auth,
                                                                                                     **props)})
        assert r.status_code in (200, 201), r.text
        assert self.wait(r)["status"] == "Succeeded"
        return self.call("GET", f"/onlineEndpoints/{name}").json()

    def deployment(self, endpoint, name, model=None, env=None, compute_type="Managed", capacity=1, expect="Succeeded",
                   **props):
        p = dict(endpointComputeType=compute_type, **props)
        if compute_type == "Managed":
            p.setdefault("instanceType", "Standard_DS3_v2")
        if model:
            p["model"] = model
        if env:
            p["environmentId"] = env
        r = self.call("PUT", f"/onlineEndpoints/{endpoint}/deployments/{name}",
                      {"location": "eastus", "sku": {"name": "Default", "capacity": capacity}, "properties": p})
        assert r.status_code in (200, 201), r.text
        assert self.wait(r)["status"] == expect
        return r

    def traffic(self, endpoint, traffic, mirror=None):
        cur = self.call("GET", f"/onlineEndpoints/{endpoint}").json()
        cur["properties"]["traffic"] = traffic
        cur["properties"]["mirrorTraffic"] = mirror or {}
        r = self.call("PUT", f"/onlineEndpoints/{endpoint}", cur)
        assert r.status_code == 201, r.text   # an update is answered 201 too (recordings)
        assert self.wait(r)["status"] == "Succeeded"


def score(az, endpoint, body, credential, deployment=None):
    headers = {"Authorization": f"Bearer {credential}"}
    if deployment:
        headers["azureml-model-deployment"] = deployment
    return requests.post(f"https://{endpoint}.eastus.inference.ml.azure.com/score", json=body, headers=headers)


SPLIT = {"input_data": {"columns": ["x1", "x2"], "index": [0, 1], "data": [[1.0, 2.0], [3.0, 4.0]]}}


# ------------------------------------------------------------------------------ Entra ID and IMDS
def test_client_secret_credential(azure_standin):
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity import ClientSecretCredential

    az = azure_standin
    cred = secret_credential(az)
    token = cred.get_token(ARM_SCOPE)
    info = az.token_info(token.token)
    assert info["client_id"] == "app-id" and info["audience"] == "https://management.azure.com"
    assert 3000 < token.expires_on - time.time() <= 3600
    assert az.token_info(cred.get_token("https://ml.azure.com/.default").token)["audience"] == "https://ml.azure.com"

    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215: Invalid client secret provided"):
        ClientSecretCredential(az.tenant, "app-id", "wrong").get_token(ARM_SCOPE)
    with pytest.raises(ClientAuthenticationError, match="AADSTS700016"):
        ClientSecretCredential(az.tenant, "nobody", "s3cret-value").get_token(ARM_SCOPE)
    with pytest.raises(ClientAuthenticationError, match="Unable to get authority configuration"):
        ClientSecretCredential(str(uuid.uuid4()), "app-id", "s3cret-value").get_token(ARM_SCOPE)
    with pytest.raises(ClientAuthenticationError, match="AADSTS1002012"):
        ClientSecretCredential(az.tenant, "app-id", "s3cret-value").get_token(
            "https://management.azure.com/user_impersonation")

    # the stand-in by address, as an authority MSAL does not know (no instance discovery then)
    by_address = ClientSecretCredential(az.tenant, "app-id", "s3cret-value", authority=az.url,
                                        disable_instance_discovery=True)
    assert az.token_info(by_address.get_token(ARM_SCOPE).token)["client_id"] == "app-id"
    r = requests.get(f"{az.url}/{uuid.uuid4()}/v2.0/.well-known/openid-configuration")
    assert r.status_code == 400 and r.json()["error"] == "invalid_tenant" and r.json()["error_codes"] == [90002]

    r = token_request(az, {"grant_type": "client_credentials", "client_id": "app-id", "scope": ARM_SCOPE})
    assert r.status_code == 401 and r.json()["error_codes"] == [7000218]
    body = token_request(az, {"grant_type": "client_credentials", "client_id": "app-id", "scope": ARM_SCOPE,
                              "client_secret": "wrong"}).json()
    assert body["error"] == "invalid_client" and set(body) >= {"error_description", "error_codes", "timestamp",
                                                               "trace_id", "correlation_id", "error_uri"}
    assert not any("s3cret" in json.dumps(r) or "wrong" in json.dumps(r["query"]) for r in az.requests)


def test_certificate_credential(azure_standin, tmp_path):
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity import CertificateCredential

    az = azure_standin
    pem, cert, key = self_signed()
    az.add_principal("cert-app", certificate=cert)
    path = tmp_path / "cert.pem"
    path.write_bytes(pem)
    token = CertificateCredential(az.tenant, "cert-app", str(path)).get_token(ARM_SCOPE)
    assert az.token_info(token.token)["client_id"] == "cert-app"
    token = CertificateCredential(az.tenant, "cert-app", str(path), send_certificate_chain=True).get_token(ARM_SCOPE)
    assert az.token_info(token.token)["client_id"] == "cert-app"
    token = CertificateCredential(az.tenant, "cert-app", str(path), authority=az.url,
                                  disable_instance_discovery=True).get_token(ARM_SCOPE)   # aud: the address form
    assert az.token_info(token.token)["client_id"] == "cert-app"

    other_pem, other_cert, other_key = self_signed("other")
    (tmp_path / "other.pem").write_bytes(other_pem)
    with pytest.raises(ClientAuthenticationError, match=r"AADSTS700027.*The key was not found"):
        CertificateCredential(az.tenant, "cert-app", str(tmp_path / "other.pem")).get_token(ARM_SCOPE)

    aud = f"https://login.microsoftonline.com/{az.tenant}/oauth2/v2.0/token"

    def post(jwt_text):
        return token_request(az, {"grant_type": "client_credentials", "client_id": "cert-app", "scope": ARM_SCOPE,
                                  "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                                  "client_assertion": jwt_text})

    assert post(assertion(key, cert, "cert-app", aud)).status_code == 200
    assert post(assertion(key, cert, "cert-app", aud, alg="PS256", thumb="x5t#S256")).status_code == 200
    forged = post(assertion(other_key, cert, "cert-app", aud))   # the registered thumbprint, another key
    assert forged.status_code == 401 and "did not match the expected signature" in forged.json()["error_description"]
    wrong_aud = post(assertion(key, cert, "cert-app", "https://login.microsoftonline.com/common/oauth2/token"))
    assert wrong_aud.status_code == 401 and wrong_aud.json()["error_codes"] == [700023]
    expired = post(assertion(key, cert, "cert-app", aud, lifetime=-10))
    assert expired.json()["error_codes"] == [700024]
    wrong_iss = post(assertion(key, cert, "someone-else", aud))
    assert wrong_iss.json()["error_codes"] == [700021]
    assert post("not-a-jwt").json()["error_codes"] == [50027]


def test_workload_identity(azure_standin, tmp_path):
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity import WorkloadIdentityCredential

    az = azure_standin
    fed = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZGVmYXVsdDptbCJ9.c2lnbmF0dXJl"
    az.add_principal("wi-app", federated_token=fed)
    token_file = tmp_path / "token"
    token_file.write_text(fed)
    token = WorkloadIdentityCredential(tenant_id=az.tenant, client_id="wi-app",
                                       token_file_path=str(token_file)).get_token(ARM_SCOPE)
    assert az.token_info(token.token)["client_id"] == "wi-app"
    token_file.write_text(fed[:-4] + "AAAA")
    with pytest.raises(ClientAuthenticationError, match="AADSTS70021"):
        WorkloadIdentityCredential(tenant_id=az.tenant, client_id="wi-app",
                                   token_file_path=str(token_file)).get_token(ARM_SCOPE)


def test_managed_identity_over_imds(azure_standin):
    from azure.identity import ManagedIdentityCredential

    az = azure_standin
    system = az.add_managed_identity(system=True)
    user = az.add_managed_identity(client_id="uai-client")
    token = ManagedIdentityCredential().get_token(ARM_SCOPE)
    assert az.token_info(token.token)["client_id"] == system["client_id"]
    token = ManagedIdentityCredential(client_id="uai-client").get_token(ARM_SCOPE)
    assert az.token_info(token.token)["client_id"] == "uai-client"
    token = ManagedIdentityCredential(identity_config={"object_id": user["object_id"]}).get_token(ARM_SCOPE)
    assert az.token_info(token.token)["client_id"] == "uai-client"

    az.fail_imds(500, times=1)    # azure-identity retries 5xx (first retry without delay)
    token = ManagedIdentityCredential(client_id="uai-client").get_token("https://storage.azure.com/.default")
    assert az.token_info(token.token)["audience"] == "https://storage.azure.com"
    imds = [r["status"] for r in az.requests if r["service"] == "imds"]
    assert imds[-2:] == [500, 200]

    url = f"{az.imds_url}/metadata/identity/oauth2/token"
    r = requests.get(url, params={"api-version": "2018-02-01", "resource": "https://management.azure.com/"})
    assert r.status_code == 400 and r.json()["error"] == "bad_request_102"
    r = requests.get(url, params={"api-version": "2018-02-01", "resource": "https://management.azure.com/",
                                  "client_id": "nobody"}, headers={"Metadata": "true"})
    assert r.status_code == 400 and r.json()["error_description"] == "Identity not found"
    r = requests.get(url, params={"api-version": "2018-02-01", "resource": "https://management.azure.com/"},
                     headers={"Metadata": "true"})
    assert isinstance(r.json()["expires_in"], str) and isinstance(r.json()["expires_on"], str)
    ws = Arm(az).url("")
    assert requests.get(ws, headers={"Authorization": "Bearer " + r.json()["access_token"]}).status_code == 200


# ------------------------------------------------------------------------------ ARM basics
def test_arm_authentication_authorization_and_api_versions(azure_standin):
    az = azure_standin
    arm = Arm(az)
    url = arm.url("")
    r = requests.get(url)
    assert r.status_code == 401 and r.json()["error"]["code"] == "AuthenticationFailed"
    assert r.headers["x-ms-response-type"] == "error" and 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    storage = az.issue_token("app", audience="https://storage.azure.com")
    r = requests.get(url, headers={"Authorization": f"Bearer {storage}"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "InvalidAuthenticationTokenAudience"
    assert requests.get(url, headers={"Authorization": "Bearer made-up"}).json()["error"]["code"] == \
        "InvalidAuthenticationToken"

    assert arm.call("GET", "").json()["properties"]["mlFlowTrackingUri"].startswith("azureml://eastus.api.azureml.ms")
    assert arm.s.get(f"{arm.prefix}").json()["error"]["code"] == "MissingApiVersionParameter"
    r = arm.call("GET", "", v="2099-01-01")
    assert r.status_code == 400 and r.json()["error"]["code"] == "NoRegisteredProviderFound"
    assert arm.call("GET", "", v="latest").json()["error"]["code"] == "InvalidApiVersionParameter"
    for v in ("2024-10-01-preview", "2023-08-01-preview", "2023-04-01-preview", "2022-02-01-preview"):
        assert arm.call("GET", "", v=v).status_code == 200

    az.forbid("arm-client", "*/onlineEndpoints/write")
    r = arm.call("PUT", "/onlineEndpoints/ep-denied", {"location": "eastus", "properties": {"authMode": "Key"}})
    assert r.status_code == 403 and r.json()["error"]["code"] == "AuthorizationFailed"
    assert "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/write" in r.json()["error"]["message"]
    assert arm.call("GET", "/onlineEndpoints").status_code == 200
    az.allow("arm-client")

    az.advance_time(4000)
    r = arm.call("GET", "")
    assert r.status_code == 401 and r.json()["error"]["code"] == "ExpiredAuthenticationToken"
    assert r.headers["WWW-Authenticate"].startswith("Bearer authorization_uri=")

    ws = az.default_workspace
    r = requests.get(f"https://management.azure.com/subscriptions/{ws['sub']}/resourceGroups/{ws['rg']}/providers/"
                     f"Microsoft.MachineLearningServices/workspaces/nope?api-version={SPEC}",
                     headers={"Authorization": "Bearer " + az.issue_token("x")})
    assert r.status_code == 404 and r.json()["error"]["code"] == "ResourceNotFound"


def test_lro_shapes_polls_and_hang(azure_standin_factory):
    az = azure_standin_factory(lro_polls=2, driver_env=True)   # retry_after=1: only checked, never slept
    assert os.environ["MLFLOW_BRIDGE_CONNECT_TO"] == f":443:127.0.0.1:{az.port}"
    assert os.environ["CURL_CA_BUNDLE"] == az.ca_path
    arm = Arm(az)
    r = arm.call("PUT", "/onlineEndpoints/ep-lro", {"location": "eastus", "properties": {"authMode": "AMLToken"}})
    assert r.status_code == 201 and r.json()["properties"]["provisioningState"] == "Creating"
    assert r.json()["properties"]["scoringUri"] is None and r.headers["x-ms-async-operation-timeout"] == "PT30M"
    op = r.headers["Azure-AsyncOperation"]
    assert "/locations/eastus/mfeOperationsStatus/oeidp:" in op and op.endswith("api-version=" + SPEC)
    assert r.headers["Location"] == arm.url("/onlineEndpoints/ep-lro")
    for _ in range(2):
        st = arm.s.get(op)
        assert st.json()["status"] == "Updating" and st.headers["Retry-After"] == "1"
        assert st.json()["endTime"] == "0001-01-01T00:00:00+00:00" and st.json()["percentComplete"] == 0.0
    st = arm.s.get(op)
    assert st.json()["status"] == "Succeeded" and "Retry-After" not in st.headers
    ep = arm.call("GET", "/onlineEndpoints/ep-lro").json()
    assert ep["properties"]["scoringUri"] == "https://ep-lro.eastus.inference.ml.azure.com/score"

    arm.call("PUT", "/onlineEndpoints/ep-lro/token")  # not a route: only POST
    tok = arm.call("POST", "/onlineEndpoints/ep-lro/token").json()
    assert tok["tokenType"] == "Bearer" and tok["expiryTimeUtc"] > tok["refreshAfterTimeUtc"] > time.time()
    assert arm.call("POST", "/onlineEndpoints/ep-lro/listKeys").status_code == 400   # AMLToken endpoint

    az.put_model_version("tiny", "1")
    az.hang_provisioning("slow")
    r = arm.call("PUT", "/onlineEndpoints/ep-lro/deployments/slow",
                 {"location": "eastus", "properties": {"endpointComputeType": "Managed",
                                                      "instanceType": "Standard_F2s_v2",
                                                      "model": az.put_model_version("tiny", "1")}})
    assert r.status_code == 201
    for _ in range(6):
        assert arm.s.get(r.headers["Azure-AsyncOperation"]).json()["status"] == "Updating"
    again = arm.call("PUT", "/onlineEndpoints/ep-lro/deployments/slow", json.loads(r.request.body))
    assert again.status_code == 409
    az.release("slow")
    assert arm.s.get(r.headers["Azure-AsyncOperation"]).json()["status"] == "Succeeded"

    az.fail_provisioning("ep-bad", resource="endpoint", code="QuotaExceeded", message="Not enough quota.")
    r = arm.call("PUT", "/onlineEndpoints/ep-bad", {"location": "eastus", "properties": {"authMode": "Key"}})
    status = arm.wait(r)
    assert status["status"] == "Failed" and status["error"]["code"] == "QuotaExceeded"
    assert status["endTime"] != "0001-01-01T00:00:00+00:00" and status["percentComplete"] == 100.0
    assert arm.call("GET", "/onlineEndpoints/ep-bad").json()["properties"]["provisioningState"] == "Failed"
    r = arm.call("PUT", "/onlineEndpoints/ep-k8s-aad", {"location": "eastus", "properties": {
        "authMode": "AADToken", "compute": "missing-compute"}})
    assert r.status_code == 400

    d = arm.call("DELETE", "/onlineEndpoints/ep-lro")
    assert d.status_code == 202 and d.text == "null"
    assert "mfeOperationResults" in d.headers["Location"] and "mfeOperationsStatus" in d.headers["Azure-AsyncOperation"]
    assert arm.call("GET", "/onlineEndpoints/ep-lro").json()["properties"]["provisioningState"] == "Deleting"
    results = [arm.s.get(d.headers["Location"]).status_code for _ in range(3)]
    assert results == [202, 200, 200]
    assert arm.call("GET", "/onlineEndpoints/ep-lro").status_code == 404
    assert arm.call("DELETE", "/onlineEndpoints/ep-lro").status_code == 204


def test_service_side_validation(azure_standin_factory):
    az = azure_standin_factory(lro_polls=0)
    arm = Arm(az)
    model = az.put_model_version("tiny", "1")
    custom = az.put_model_version("custom", "1", model_type="custom_model")

    def put_ep(name, **props):
        return arm.call("PUT", f"/onlineEndpoints/{name}", {"location": "eastus", "properties": props})

    def code(r):
        return r.status_code, r.json()["error"]["details"][0]["code"] if r.json()["error"].get("details") else \
            r.json()["error"]["code"]

    assert code(put_ep("1bad", authMode="Key")) == (400, "BadArgument")
    assert code(put_ep("ab", authMode="Key")) == (400, "BadArgument")
    assert code(put_ep("ends-with-", authMode="Key")) == (400, "BadArgument")
    assert code(put_ep("okname", authMode="Password")) == (400, "BadArgument")
    r = arm.call("PUT", "/onlineEndpoints/okname", {"location": "westus", "properties": {"authMode": "Key"}})
    assert code(r) == (400, "BadArgument")
    assert code(put_ep("okname", authMode="Key", traffic={"blue": 100})) == (400, "BadArgument")
    arm.endpoint("okname")
    arm.deployment("okname", "blue", model)
    arm.deployment("okname", "green", model)
    for traffic, mirror in (({"blue": 90}, {}), ({"blue": 50, "green": 50.0}, {}), ({"blue": 100}, {"green": 60}),
                            ({"blue": 100}, {"blue": 10}), ({"blue": 100}, {"green": 10, "okx": 5}),
                            ({"blue": 100, "nope": 0}, {})):
        cur = arm.call("GET", "/onlineEndpoints/okname").json()
        cur["properties"].update(traffic=traffic, mirrorTraffic=mirror)
        assert code(arm.call("PUT", "/onlineEndpoints/okname", cur)) == (400, "BadArgument"), (traffic, mirror)
    arm.traffic("okname", {"blue": 80, "green": 20})
    arm.traffic("okname", {"blue": 100}, {"green": 50})

    def put_dep(ep, name, **props):
        return arm.call("PUT", f"/onlineEndpoints/{ep}/deployments/{name}",
                        {"location": "eastus", "properties": props})

    assert code(put_dep("okname", "nosku", endpointComputeType="Managed", model=model)) == (400, "BadArgument")
    assert code(put_dep("okname", "k8s", endpointComputeType="Kubernetes", model=model)) == (400, "BadArgument")
    assert code(put_dep("okname", "ghost", endpointComputeType="Managed", instanceType="Standard_F2s_v2",
                        model=model.replace("/versions/1", "/versions/9"))) == (400, "BadArgument")
    assert code(put_dep("okname", "custom", endpointComputeType="Managed", instanceType="Standard_F2s_v2",
                        model=custom)) == (400, "BadArgument")
    assert code(put_dep("okname", "noenv", endpointComputeType="Managed", instanceType="Standard_F2s_v2",
                        model=model, environmentId=model.replace("/models/tiny", "/environments/none"))) == \
        (400, "BadArgument")
    assert put_dep("missing-ep", "blue", endpointComputeType="Managed", model=model).status_code == 404
    r = arm.call("DELETE", "/onlineEndpoints/okname/deployments/blue")
    assert code(r) == (400, "BadArgument") and "traffic" in r.json()["error"]["message"]

    # PATCH is tags and identity only from 2022-05-01 on; 2022-02-01-preview still carried traffic
    r = arm.call("PATCH", "/onlineEndpoints/okname",
                 {"tags": {"team": "ml"}, "properties": {"traffic": {"green": 100}}})
    assert r.status_code == 202 and "mfeOperationResults" in r.headers["Location"] and r.headers["Retry-After"]
    assert arm.wait(r).status_code == 200
    ep = arm.call("GET", "/onlineEndpoints/okname").json()
    assert ep["tags"] == {"team": "ml"} and ep["properties"]["traffic"] == {"blue": 100}
    assert az.ignored_fields[-1][2] == "properties.traffic"
    r = arm.call("PATCH", "/onlineEndpoints/okname", {"properties": {"traffic": {"green": 100}, "mirrorTraffic": {}}},
                 v="2022-02-01-preview")
    arm.wait(r)
    assert arm.call("GET", "/onlineEndpoints/okname").json()["properties"]["traffic"] == {"green": 100}

    # deployment PATCH: sku and tags
    r = arm.call("PATCH", "/onlineEndpoints/okname/deployments/blue", {"sku": {"capacity": 3}, "tags": {"a": "b"}})
    assert r.status_code == 202
    assert arm.call("GET", "/onlineEndpoints/okname/deployments/blue").json()["properties"]["provisioningState"] == \
        "Succeeded"
    assert arm.call("GET", "/onlineEndpoints/okname/deployments/blue").json()["sku"]["capacity"] == 3

    # endpoint names are unique per region
    other = az.add_workspace(az.default_workspace["sub"], az.default_workspace["rg"], "ws-two")
    r = requests.put(arm.prefix.replace("ws-standin", "ws-two") + f"/onlineEndpoints/okname?api-version={SPEC}",
                     json={"location": "eastus", "properties": {"authMode": "Key"}}, headers=arm.s.headers)
    assert r.status_code == 400 and "unique" in r.json()["error"]["message"]
    assert other["endpoints"] == {}

    # paging with nextLink, and model version listing
    az.page_size = 2
    for i in range(3):
        arm.endpoint(f"page-{i}")
    names, url = [], arm.url("/onlineEndpoints")
    while url:
        page = arm.s.get(url).json()
        names += [e["name"] for e in page["value"]]
        url = page.get("nextLink")
    assert sorted(names) == ["okname", "page-0", "page-1", "page-2"]
    az.put_model_version("tiny", "2")
    latest = arm.s.get(arm.url("/models/tiny/versions") + "&$orderBy=createdtime%20desc&$top=1").json()["value"]
    assert [v["name"] for v in latest] == ["2"]
    assert arm.call("GET", "/models/none/versions").status_code == 404
    skus = arm.call("GET", "/onlineEndpoints/okname/deployments/blue/skus").json()["value"]
    assert skus[0]["sku"]["name"] == "Default"
    assert arm.call("DELETE", "/onlineEndpoints/okname").status_code == 202
    assert not az.errors


# ------------------------------------------------------------------------------ MLClient
def test_mlclient_managed_endpoint_with_uploaded_model(azure_standin_factory, model_backend, tmp_path):
    from azure.ai.ml.entities import ManagedOnlineDeployment, ManagedOnlineEndpoint, Model
    from azure.storage.blob import BlobServiceClient

    az = azure_standin_factory(**FAST)
    backend = model_backend("blue", scale=10.0)
    az.on_deployment_ready = lambda info: backend.url
    ml = mlclient(az, secret_credential(az))

    model = ml.models.create_or_update(Model(path=str(mlflow_folder(tmp_path)), name="tiny", version="1",
                                             type="mlflow_model"))
    assert model.path.startswith("azureml://subscriptions/") and "/datastores/workspaceblobstore/paths/LocalUpload/" \
        in model.path
    arm = az.arm_requests()
    assert ("POST", arm[2][1], "2024-10-01-preview") in arm and arm[2][1].endswith("/listSecrets")
    assert arm[0][1].endswith("/models/tiny/versions") and arm[0][2] == "2023-08-01-preview"
    container = az.datastore_container()
    uploaded = az.list_blob_names(container, "LocalUpload/")
    assert sorted(n.rsplit("/", 1)[1] for n in uploaded) == ["MLmodel", "conda.yaml", "model.pkl"]
    indicator = [n for n in uploaded if n.endswith("/MLmodel")][0]
    assert az.blob_metadata(container, indicator) == {"upload_status": "completed", "name": "tiny", "version": "1"}
    blob_calls = [(r["method"], r["query"].get("comp")) for r in az.requests if r["service"] == "blob"]
    assert blob_calls[0] == ("HEAD", None) and blob_calls[-1] == ("PUT", "metadata")
    registered = az.model_version("tiny", "1")["properties"]
    assert registered["modelType"] == "mlflow_model" and registered["modelUri"] == model.path
    put = [r for r in az.requests if r["method"] == "PUT" and r["path"].endswith("/models/tiny/versions/1")][0]
    assert put["status"] == 201 and put["body"]["properties"]["modelUri"] == model.path

    # the blobs MLClient uploaded, read back with azure-storage-blob and the account key (SharedKey)
    svc = BlobServiceClient(f"https://{az.default_workspace['account']}.blob.core.windows.net",
                            credential={"account_name": az.default_workspace["account"],
                                        "account_key": az.storage_key()})
    assert svc.get_blob_client(container, indicator).download_blob().readall().decode() == MLMODEL

    # a second registration of the same folder skips the upload (upload_status=completed on the indicator)
    puts = len([r for r in az.requests if r["service"] == "blob" and r["method"] == "PUT"])
    ml.models.create_or_update(Model(path=str(tmp_path / "tinymodel"), name="tiny", version="2", type="mlflow_model"))
    assert len([r for r in az.requests if r["service"] == "blob" and r["method"] == "PUT"]) == puts

    ep = ml.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="ep-main", auth_mode="key",
                                                                          tags={"t": "1"})).result()
    assert ep.provisioning_state == "Succeeded"
    assert ep.scoring_uri == "https://ep-main.eastus.inference.ml.azure.com/score"
    dep = ml.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
        name="blue", endpoint_name="ep-main", model=model.id, instance_type="Standard_DS3_v2",
        instance_count=1)).result()
    assert dep.provisioning_state == "Succeeded" and dep.instance_count == 1
    ep.traffic = {"blue": 100}
    ep = ml.online_endpoints.begin_create_or_update(ep).result()
    assert ep.traffic == {"blue": 100}
    assert [e.name for e in ml.online_endpoints.list()] == ["ep-main"]
    assert [d.name for d in ml.online_deployments.list("ep-main")] == ["blue"]
    assert ml.online_deployments.get("blue", "ep-main").model == model.id
    assert "Listening at" in ml.online_deployments.get_logs("blue", "ep-main", lines=1)
    assert "Model download" in ml.online_deployments.get_logs("blue", "ep-main", lines=5,
                                                               container_type="storage-initializer")
    keys = ml.online_endpoints.get_keys("ep-main")
    assert keys.primary_key == az.endpoint_keys("ep-main")["primary"]

    request_file = tmp_path / "request.json"
    request_file.write_text(json.dumps(SPLIT))
    assert json.loads(ml.online_endpoints.invoke("ep-main", request_file=str(request_file))) == [30.0, 70.0]
    assert backend.requests[-1][:2] == ("/invocations", {"dataframe_split": SPLIT["input_data"]})
    r = score(az, "ep-main", SPLIT, keys.secondary_key)
    assert r.status_code == 200 and r.json() == [30.0, 70.0] and r.headers["azureml-model-deployment"] == "blue"
    assert score(az, "ep-main", SPLIT, "wrong-key").status_code == 401

    ml.online_endpoints.begin_regenerate_keys("ep-main", key_type="primary").result()
    assert ml.online_endpoints.get_keys("ep-main").primary_key != keys.primary_key
    assert score(az, "ep-main", SPLIT, keys.primary_key).status_code == 401

    ml.online_endpoints.begin_delete("ep-main").result()
    assert list(ml.online_endpoints.list()) == [] and az.deployment("ep-main", "blue") is None
    versions = {v for _, _, v in az.arm_requests()}
    assert versions <= {"2024-10-01-preview", "2023-08-01-preview", "2023-04-01-preview", "2022-02-01-preview"}


def test_mlclient_uploads_with_sas_and_identity_datastores(azure_standin_factory, tmp_path):
    from azure.ai.ml.entities import Model

    az = azure_standin_factory(datastore_credentials="Sas", **FAST)
    ml = mlclient(az, secret_credential(az))
    ml.models.create_or_update(Model(path=str(mlflow_folder(tmp_path)), name="sas-model", version="1",
                                     type="mlflow_model"))
    assert len(az.issued_sas) == 1 and "sig=" in az.issued_sas[0]
    uploads = [r for r in az.requests if r["service"] == "blob" and r["method"] == "PUT"]
    assert uploads and all(r["query"].get("sv") == "2021-10-04" for r in uploads)
    assert all("sig" not in r["query"] for r in uploads)   # SAS signatures stay out of the request log

    az.set_datastore_credentials("None")
    ml.models.create_or_update(Model(path=str(mlflow_folder(tmp_path, "other")), name="mi-model", version="1",
                                     type="mlflow_model"))
    bearer = [r for r in az.requests if r["service"] == "blob" and r["method"] == "PUT" and "sv" not in r["query"]]
    assert bearer and all(r["client"] == "app-id" for r in bearer)
    listsecrets = [r["status"] for r in az.requests if r["path"].endswith("/listSecrets")]
    assert listsecrets == [200]       # azure-ai-ml skips listSecrets for identity datastores


def test_mlclient_kubernetes_endpoint_with_aml_token(azure_standin_factory, model_backend):
    from azure.ai.ml.entities import KubernetesOnlineDeployment, KubernetesOnlineEndpoint

    az = azure_standin_factory(**FAST)
    az.add_compute("k8s-compute")
    backend = model_backend("k8s")
    az.on_deployment_ready = lambda info: backend.url
    ml = mlclient(az, secret_credential(az))
    model_id = az.put_model_version("tiny", "1")
    ep = ml.online_endpoints.begin_create_or_update(KubernetesOnlineEndpoint(
        name="k8s-ep", compute="k8s-compute", auth_mode="aml_token")).result()
    assert ep.compute.endswith("/computes/k8s-compute") and type(ep).__name__ == "KubernetesOnlineEndpoint"
    dep = ml.online_deployments.begin_create_or_update(KubernetesOnlineDeployment(
        name="blue", endpoint_name="k8s-ep", model=model_id, instance_count=2)).result()
    assert type(dep).__name__ == "KubernetesOnlineDeployment" and dep.instance_count == 2
    ep.traffic = {"blue": 100}
    ml.online_endpoints.begin_create_or_update(ep).result()
    token = ml.online_endpoints.get_keys("k8s-ep")
    assert token.access_token.startswith("aml.")
    r = score(az, "k8s-ep", SPLIT, token.access_token)
    assert r.status_code == 200 and r.json() == [3.0, 7.0]
    az.advance_time(3700)               # AML tokens last an hour
    assert score(az, "k8s-ep", SPLIT, token.access_token).status_code == 401
    az.advance_time(-3700)
    backend.status = 500
    r = score(az, "k8s-ep", SPLIT, token.access_token)
    assert r.status_code == 502          # a crashing scoring script on Kubernetes
    assert score(az, "k8s-ep", SPLIT, "aml.not-issued").status_code == 401
    arm = Arm(az)
    cur = arm.call("GET", "/onlineEndpoints/k8s-ep").json()
    cur["properties"]["mirrorTraffic"] = {"blue": 10}
    assert arm.call("PUT", "/onlineEndpoints/k8s-ep", cur).status_code == 400


def test_mlclient_retries_a_throttled_request(azure_standin_factory):
    from azure.ai.ml.entities import ManagedOnlineEndpoint

    az = azure_standin_factory(**FAST)
    ml = mlclient(az, secret_credential(az))
    ml.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="ep-busy", auth_mode="key")).result()
    az.throttle(times=2, retry_after=0.01, method="GET", path="/onlineEndpoints/ep-busy$")
    assert ml.online_endpoints.get("ep-busy").name == "ep-busy"
    statuses = [r["status"] for r in az.requests if r["path"].endswith("/onlineEndpoints/ep-busy")
                and r["method"] == "GET"]
    assert statuses[-3:] == [429, 429, 200]
    r = Arm(az).call("GET", "/onlineEndpoints/ep-busy")
    assert r.status_code == 200
    az.throttle(times=1, retry_after=7)
    r = Arm(az).call("GET", "/onlineEndpoints/ep-busy")
    assert r.status_code == 429 and r.headers["Retry-After"] == "7" and r.json()["error"]["code"] == "TooManyRequests"


def test_mlclient_failed_provisioning(azure_standin_factory):
    from azure.ai.ml.entities import ManagedOnlineDeployment, ManagedOnlineEndpoint
    from azure.core.exceptions import HttpResponseError

    az = azure_standin_factory(**FAST)
    ml = mlclient(az, secret_credential(az))
    model_id = az.put_model_version("tiny", "1")
    ml.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="ep-fail", auth_mode="key")).result()
    az.fail_provisioning("broken", message="User container has crashed or terminated: import error in score.py",
                         logs="line one\nTraceback (most recent call last):\nImportError: no module named foo\n")
    poller = ml.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
        name="broken", endpoint_name="ep-fail", model=model_id, instance_type="Standard_DS3_v2", instance_count=1))
    with pytest.raises(HttpResponseError) as err:
        poller.result()
    assert "ResourceNotReady" in str(err.value) and "import error in score.py" in str(err.value)
    assert ml.online_deployments.get("broken", "ep-fail").provisioning_state == "Failed"
    assert ml.online_deployments.get_logs("broken", "ep-fail", lines=1) == "ImportError: no module named foo\n"
    status = [op for op in az.operations.values() if op["target"] == "broken"][0]
    assert status["status"] == "Failed" and status["error"]["code"] == "ResourceNotReady"


# ------------------------------------------------------------------------------ Blob storage
def test_blob_shared_key_sas_and_bearer(azure_standin_factory):
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceExistsError
    from azure.storage.blob import (AccountSasPermissions, BlobClient, BlobSasPermissions, BlobServiceClient,
                                    ContainerClient, ExponentialRetry, ResourceTypes, generate_account_sas,
                                    generate_blob_sas)

    az = azure_standin_factory(**FAST)
    account, key = az.default_workspace["account"], az.storage_key()
    url = f"https://{account}.blob.core.windows.net"
    svc = BlobServiceClient(url, credential={"account_name": account, "account_key": key},
                            max_single_put_size=1024, max_block_size=512, max_chunk_get_size=700,
                            max_single_get_size=700)
    svc.create_container("data")
    with pytest.raises(ResourceExistsError):
        svc.create_container("data")
    small = svc.get_blob_client("data", "dir/a b.txt")
    small.upload_blob(b"hello", metadata={"k": "v"}, validate_content=True)
    with pytest.raises(ResourceExistsError):
        small.upload_blob(b"again")            # If-None-Match: * -> 409 BlobAlreadyExists
    props = small.get_blob_properties()
    assert props.metadata == {"k": "v"} and props.size == 5 and props.blob_type == "BlockBlob"
    big = bytes(range(256)) * 12
    svc.get_blob_client("data", "dir/big.bin").upload_blob(big, validate_content=True)
    assert any(r["query"].get("comp") == "blocklist" for r in az.requests)
    assert svc.get_blob_client("data", "dir/big.bin").download_blob().readall() == big
    assert any(r["method"] == "GET" and r["status"] == 206 for r in az.requests)
    svc.get_blob_client("data", "empty").upload_blob(b"")
    assert svc.get_blob_client("data", "empty").download_blob().readall() == b""
    cont = svc.get_container_client("data")
    assert [b.name for b in cont.list_blobs(name_starts_with="dir/")] == ["dir/a b.txt", "dir/big.bin"]
    assert [b.name for b in cont.walk_blobs(delimiter="/")] == ["dir/", "empty"]
    assert [b.metadata for b in cont.list_blobs(include=["metadata"]) if b.name == "dir/a b.txt"] == [{"k": "v"}]
    pages = list(cont.list_blobs(results_per_page=2).by_page())
    assert [len(list(p)) for p in pages] == [2, 1]           # NextMarker paging
    small.set_blob_metadata({"upload_status": "completed"})
    assert az.blob_metadata("data", "dir/a b.txt") == {"upload_status": "completed"}

    bad = BlobServiceClient(url, credential={"account_name": account,
                                             "account_key": base64.b64encode(b"x" * 64).decode()})
    with pytest.raises(ClientAuthenticationError) as err:
        bad.get_blob_client("data", "empty").download_blob()
    assert err.value.error_code == "AuthenticationFailed"

    expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    read_sas = generate_account_sas(account, key, ResourceTypes(container=True, object=True),
                                    AccountSasPermissions(read=True, list=True), expiry)
    ro = ContainerClient(url, "data", credential=read_sas)
    assert ro.get_blob_client("dir/a b.txt").download_blob().readall() == b"hello"
    assert len(list(ro.list_blobs())) == 3
    with pytest.raises(HttpResponseError) as err:
        ro.get_blob_client("new").upload_blob(b"x")
    assert err.value.error_code == "AuthorizationPermissionMismatch"
    blob_sas = generate_blob_sas(account, "data", "dir/a b.txt", account_key=key,
                                 permission=BlobSasPermissions(read=True, write=True), expiry=expiry)
    one = BlobClient.from_blob_url(f"{url}/data/dir%2Fa%20b.txt?{blob_sas}")
    one.upload_blob(b"rewritten", overwrite=True)
    assert az.get_blob("data", "dir/a b.txt") == b"rewritten"
    with pytest.raises(HttpResponseError):
        BlobClient.from_blob_url(f"{url}/data/empty?{blob_sas}").download_blob()   # signed for another blob
    az.rotate_key()
    with pytest.raises(ClientAuthenticationError):
        ro.get_blob_client("empty").download_blob()

    cred = secret_credential(az)
    entra = BlobServiceClient(url, credential=cred)
    assert entra.get_blob_client("data", "dir/a b.txt").download_blob().readall() == b"rewritten"
    wrong = BlobServiceClient(url, credential=StaticCredential(az.issue_token("app-id")))   # an ARM token
    with pytest.raises(ClientAuthenticationError) as err:
        wrong.get_blob_client("data", "empty").download_blob()
    assert err.value.error_code == "InvalidAuthenticationInfo"

    az.throttle(service="blob", times=1, retry_after=0.01)   # 503 ServerBusy, retried by azure-storage-blob
    quick = BlobServiceClient(url, credential=cred, retry_policy=ExponentialRetry(initial_backoff=0, increment_base=0,
                                                                                   random_jitter_range=0))
    assert quick.get_blob_client("data", "empty").download_blob().readall() == b""
    assert [r["status"] for r in az.requests if r["path"] == "/data/empty"][-3:] == [503, 416, 200]  # 416: empty blob
    entra.get_blob_client("data", "dir/a b.txt").delete_blob()
    assert az.get_blob("data", "dir/a b.txt") is None


# ------------------------------------------------------------------------------ scoring
def test_scoring_routes_traffic_mirror_and_errors(azure_standin_factory, model_backend):
    az = azure_standin_factory(lro_polls=0)
    arm = Arm(az)
    model = az.put_model_version("tiny", "1")
    backends = {n: model_backend(n, scale=s) for n, s in (("blue", 1.0), ("green", 2.0), ("shadow", 3.0))}
    az.on_deployment_ready = lambda info: backends[info["deployment"]].url
    key = None
    arm.endpoint("ep-split")
    for name in backends:
        arm.deployment("ep-split", name, model)
    key = arm.call("POST", "/onlineEndpoints/ep-split/listKeys").json()["primaryKey"]
    assert score(az, "ep-split", SPLIT, key).status_code == 404      # no live traffic yet
    assert score(az, "ep-split", SPLIT, key, deployment="green").json() == [6.0, 14.0]

    arm.traffic("ep-split", {"blue": 75, "green": 25}, {"shadow": 20})
    served = [score(az, "ep-split", SPLIT, key).headers["azureml-model-deployment"] for _ in range(8)]
    assert served.count("blue") == 6 and served.count("green") == 2
    assert len(backends["shadow"].requests) == 1          # 20 % of 8 requests, deterministically
    mirrored = [e for e in az.scoring_log if e["mirrored"]]
    assert [e["deployment"] for e in mirrored] == ["shadow"]
    score(az, "ep-split", SPLIT, key, deployment="blue")  # a named deployment is not mirrored
    assert len(backends["shadow"].requests) == 1

    assert score(az, "ep-split", SPLIT, key, deployment="nope").status_code == 404
    r = score(az, "ep-split", {"data": [[1, 2]]}, key, deployment="blue")
    assert r.status_code == 424 and r.headers["ms-azureml-model-error-statuscode"] == "400"
    r = score(az, "ep-split", {"input_data": [[1.0, 2.0]], "params": {"k": 1}}, key, deployment="green")
    assert backends["green"].requests[-1][1] == {"inputs": [[1.0, 2.0]], "params": {"k": 1}}
    backends["blue"].status = 500
    r = score(az, "ep-split", SPLIT, key, deployment="blue")
    assert r.status_code == 424 and r.headers["ms-azureml-model-error-reason"] == "model_error"
    assert r.headers["ms-azureml-model-error-statuscode"] == "500" and r.json()["error_code"] == "BAD_REQUEST"
    backends["blue"].stop()
    assert score(az, "ep-split", SPLIT, key, deployment="blue").status_code == 502
    az.throttle_scoring("ep-split", times=1, retry_after=3)
    r = score(az, "ep-split", SPLIT, key)
    assert r.status_code == 429 and r.headers["Retry-After"] == "3"

    # custom container: the body goes unchanged to the environment's scoring route
    env = az.put_environment_version("custom-env", "1", image="registry.local/model:1", inference_config={
        "scoringRoute": {"path": "/predict", "port": 8080}, "livenessRoute": {"path": "/ok", "port": 8080},
        "readinessRoute": {"path": "/ok", "port": 8080}})
    backends["custom"] = model_backend("custom", predict=lambda payload: {"echo": payload})
    arm.deployment("ep-split", "custom", model, env=env)
    r = score(az, "ep-split", {"anything": [1, 2]}, key, deployment="custom")
    assert r.json() == {"predictions": {"echo": {"anything": [1, 2]}}}
    assert backends["custom"].requests[-1][0] == "/predict"

    # AADToken endpoints take Entra tokens for https://ml.azure.com
    arm.endpoint("ep-aad", auth="AADToken")
    arm.deployment("ep-aad", "green", model)
    arm.traffic("ep-aad", {"green": 100})
    ml_token = az.issue_token("app", audience="https://ml.azure.com")
    assert score(az, "ep-aad", SPLIT, ml_token).json() == [6.0, 14.0]
    assert score(az, "ep-aad", SPLIT, az.issue_token("app")).status_code == 401


def test_scoring_through_mlflow_models_serve(azure_standin_factory, tmp_path):
    """A no-code MLflow deployment backed by a real `mlflow models serve`: the input_data -> dataframe_split
    conversion and the unwrapped predictions, as Azure's MLflow scoring server does."""
    import mlflow.pyfunc
    import numpy as np
    import pandas as pd
    import pyfunc_models
    from mlflow.models import infer_signature

    path = tmp_path / "scale-model"
    mlflow.pyfunc.save_model(str(path), python_model=pyfunc_models.Scale(), code_paths=[pyfunc_models.__file__],
                             signature=infer_signature(pd.DataFrame({"x": [1.0]}), np.array([1.0]),
                                                       params={"scale": 1.0}))
    port = unused_port()
    bindir = os.path.dirname(sys.executable)
    proc = subprocess.Popen([os.path.join(bindir, "mlflow"), "models", "serve", "-m", str(path), "-p", str(port),
                             "-h", "127.0.0.1", "--env-manager", "local"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True,
                            env=dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", "")))
    try:
        deadline = time.monotonic() + 300   # a bound for a broken start, not a timing expectation
        while True:
            assert proc.poll() is None, "mlflow models serve exited"
            try:
                if requests.get(f"http://127.0.0.1:{port}/ping", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "mlflow models serve did not start"
            time.sleep(0.1)
        az = azure_standin_factory(lro_polls=0)
        az.on_deployment_ready = lambda info: f"http://127.0.0.1:{port}"
        arm = Arm(az)
        arm.endpoint("ep-real")
        arm.deployment("ep-real", "blue", az.put_model_version("scale", "1"))
        arm.traffic("ep-real", {"blue": 100})
        key = arm.call("POST", "/onlineEndpoints/ep-real/listKeys").json()["secondaryKey"]
        rows = {"columns": ["x"], "index": [0, 1], "data": [[1.0], [2.0]]}
        r = score(az, "ep-real", {"input_data": rows, "params": {"scale": 3.0}}, key)
        assert r.status_code == 200 and r.json() == [3.0, 6.0]
        r = score(az, "ep-real", {"input_data": {"columns": ["y"], "index": [0], "data": [[1.0]]}}, key)
        assert r.status_code == 424 and r.headers["ms-azureml-model-error-statuscode"] in ("400", "500")
        assert "error_code" in r.json()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)
