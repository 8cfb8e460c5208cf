"""Our OCI request signer (C++, through tests/cpp/oci_sign_tool) against the oci SDK's own signers on
generated requests: API keys (oci.signer.Signer) and session tokens (SecurityTokenSigner), keys in PKCS#1
and PKCS#8, plain and encrypted, bodies signed and left out (the SDK's enforce_content_headers=False, as
for POST /models/{id}/artifact)."""

import base64
import email.utils
import json
import os
import random
import subprocess
import urllib.parse

import pytest

oci = pytest.importorskip("oci")
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from oci._vendor import requests as oci_requests  # noqa: E402  the requests the SDK signs with
from oci.auth.signers import SecurityTokenSigner  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TENANCY = "ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq"
USER = "ocid1.user.oc1..aaaaaaaat5nvwcna5j6aqzjcaty5eqbb6qt2jvpkanghtgdaqedqw3rynjq"
FINGERPRINT = "20:3b:97:13:55:1c:5b:0d:d3:37:d8:50:4e:c5:3a:34"
PASSPHRASE = "correct horse battery staple"


@pytest.fixture(scope="module")
def sign_tool():
    path = os.environ.get("MLFLOW_BRIDGE_OCI_SIGN_TOOL") or os.path.join(ROOT, "build", "release", "oci_sign_tool")
    assert os.access(path, os.X_OK), (
        f"{path} is missing: build the C++ tests first (scripts/test.sh does) or set MLFLOW_BRIDGE_OCI_SIGN_TOOL"
    )
    return path


@pytest.fixture(scope="module")
def keys():
    """(label, PEM text, passphrase or None, the cryptography key) in the four PEM forms."""
    out = []
    for bits in (2048, 3072):
        k = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        enc = serialization.BestAvailableEncryption(PASSPHRASE.encode())
        for label, fmt, encryption, passphrase in [
            ("pkcs1", serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption(), None),
            ("pkcs8", serialization.PrivateFormat.PKCS8, serialization.NoEncryption(), None),
            ("pkcs1-encrypted", serialization.PrivateFormat.TraditionalOpenSSL, enc, PASSPHRASE),
            ("pkcs8-encrypted", serialization.PrivateFormat.PKCS8, enc, PASSPHRASE),
        ]:
            pem = k.private_bytes(serialization.Encoding.PEM, fmt, encryption).decode()
            out.append((f"{label}-{bits}", pem, passphrase, k))
    return out


SEGMENT_CHARS = "abcXYZ019-_.~ !$&'()*+,;=:@%é/?#[]"


def random_request(rng, keys):
    host = rng.choice(
        [
            "datascience.us-ashburn-1.oci.oraclecloud.com",
            "modeldeployment.eu-frankfurt-1.oci.customer-oci.com",
            "objectstorage.ap-tokyo-1.oraclecloud.com",
            "localhost:8080",
            "127.0.0.1:44321",
            "datascience.us-phoenix-1.oci.oraclecloud.com:443",
            "[::1]:8443",
        ]
    )
    segments = ["".join(rng.choice(SEGMENT_CHARS) for _ in range(rng.randint(0, 10))) for _ in range(rng.randint(0, 4))]
    safe = rng.choice(["-_.~", "-_.~!$&'()*+,;=:@"])
    path = "/20190101/" + "/".join(urllib.parse.quote(s, safe=safe) for s in segments)
    if rng.random() < 0.2:
        path += rng.choice(["/./x", "/a/../b", "//double", "/..", "/."])  # sent with dot segments removed
    query = [
        (
            "".join(rng.choice("aZ09-_.~ +=&é") for _ in range(rng.randint(1, 6))),
            "".join(rng.choice("aZ09-_.~ +=/:é") for _ in range(rng.randint(0, 8))),
        )
        for _ in range(rng.randint(0, 4))
    ]
    url = f"https://{host}{path}"
    if query:
        url += "?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote, safe="-_.~")
    headers = {}
    for _ in range(rng.randint(0, 3)):
        name = rng.choice(["opc-request-id", "opc-retry-token", "accept", "Content-Type", "if-match", "x-custom"])
        headers[name] = rng.choice(["application/json", "application/octet-stream", "abc123", "inner  spaced  value", "*"])
    method = rng.choice(["GET", "HEAD", "DELETE", "POST", "PUT", "PATCH", "POST", "PUT"])
    size = rng.choice([0, 1, 17, 316, 4096, 65537, 300_000])
    if rng.random() < 0.5:
        body = {"body": "".join(rng.choice('{}":, abc123é\n') for _ in range(size))}
    else:
        body = {"body_base64": base64.b64encode(rng.randbytes(size)).decode()}
    label, pem, passphrase, _ = rng.choice(keys)
    token = None if rng.random() < 0.7 else "eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjE3MDAwMDAwMDB9." + "s" * rng.randint(1, 40)
    return {
        "method": method,
        "url": url,
        "headers": headers,
        **body,
        "private_key_pem": pem,
        "passphrase": passphrase,
        "key_label": label,
        "token": token,
        "key_id": f"ST${token}" if token else f"{TENANCY}/{USER}/{FINGERPRINT}",
        "time": rng.randint(1_500_000_000, 1_900_000_000),
        "sign_body": rng.random() < 0.8,
    }


def artifact_upload(rng, keys):
    """The model artifact upload as the SDK's create_model_artifact sends it: POST, a zip body, not signed."""
    spec = random_request(rng, keys)
    spec.update(
        method="POST",
        url="https://datascience.us-ashburn-1.oci.oraclecloud.com/20190101/models/ocid1.datasciencemodel.oc1.iad.amaaa/artifact",
        headers={"content-type": "application/octet-stream", "content-disposition": 'attachment; filename="a.zip"'},
        sign_body=False,
    )
    spec.pop("body", None)
    spec["body_base64"] = base64.b64encode(b"PK\x03\x04" + rng.randbytes(rng.randint(0, 50_000))).decode()
    return spec


def body_bytes(spec):
    if "body_base64" in spec:
        return base64.b64decode(spec["body_base64"])
    return spec["body"].encode()


def sdk_headers(spec):
    signer = (
        SecurityTokenSigner(spec["token"], oci.signer.load_private_key(spec["private_key_pem"], spec["passphrase"]))
        if spec["token"]
        else oci.signer.Signer(
            TENANCY, USER, FINGERPRINT, None, pass_phrase=spec["passphrase"], private_key_content=spec["private_key_pem"]
        )
    )
    request = oci_requests.Request(spec["method"], spec["url"], headers=dict(spec["headers"]), data=body_bytes(spec))
    prepared = request.prepare()
    # The SDK takes the Date header that is there (setdefault): the same moment as the tool's.
    prepared.headers["date"] = email.utils.formatdate(spec["time"], usegmt=True)
    (signer if spec["sign_body"] else signer.without_content_headers)(prepared)
    return {k.lower(): v for k, v in prepared.headers.items()}


def ours(sign_tool, spec):
    tool_spec = {k: v for k, v in spec.items() if k not in ("key_label", "token")}
    out = subprocess.run([sign_tool], input=json.dumps(tool_spec), capture_output=True, text=True, timeout=30)
    result = json.loads(out.stdout)
    assert out.returncode == 0, result
    return {k.lower(): v for k, v in result["headers"].items()}


def compare(sign_tool, specs):
    mismatches = []
    for spec in specs:
        want, got = sdk_headers(spec), ours(sign_tool, spec)
        body_signed = spec["sign_body"] and spec["method"] in ("POST", "PUT", "PATCH")
        checked = ["authorization", "date", "host"]
        checked += ["content-length", "content-type", "x-content-sha256"] if body_signed else []
        for header in checked:
            if want.get(header) != got.get(header):
                mismatches.append((spec["method"], spec["url"], spec["key_label"], header, want.get(header), got.get(header)))
        if not body_signed and "x-content-sha256" in got:
            mismatches.append((spec["method"], spec["url"], "x-content-sha256 added to an unsigned body"))
    return mismatches


def test_signatures_match_the_sdk_on_generated_requests(sign_tool, keys):
    rng = random.Random(20261202)
    specs = [random_request(rng, keys) for _ in range(300)]
    assert {s["method"] for s in specs} == {"GET", "HEAD", "DELETE", "POST", "PUT", "PATCH"}
    mismatches = compare(sign_tool, specs)
    assert mismatches == [], f"{len(mismatches)} of {len(specs)} differ; first: {mismatches[:3]}"


def test_artifact_uploads_leave_the_body_out_as_the_sdk_does(sign_tool, keys):
    rng = random.Random(14)
    specs = [artifact_upload(rng, keys) for _ in range(40)]
    mismatches = compare(sign_tool, specs)
    assert mismatches == [], f"{len(mismatches)} of {len(specs)} differ; first: {mismatches[:3]}"
    got = ours(sign_tool, specs[0])
    assert 'headers="date (request-target) host"' in got["authorization"]
    assert "x-content-sha256" not in got


def test_the_sdk_client_signs_create_model_artifact_without_the_body():
    """Where the rule comes from: the generated DataScienceClient passes enforce_content_headers=False."""
    import inspect

    source = inspect.getsource(oci.data_science.DataScienceClient.create_model_artifact)
    assert "enforce_content_headers=False" in source
    assert 'resource_path = "/models/{modelId}/artifact"' in source and 'method = "POST"' in source
