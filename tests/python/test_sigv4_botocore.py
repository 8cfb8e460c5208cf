"""Our SigV4 signer (C++, through tests/cpp/sigv4_sign_tool) against botocore's on generated requests."""

import datetime
import json
import os
import random
import subprocess
import urllib.parse
from unittest import mock

import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIME = "20240301T101112Z"


@pytest.fixture(scope="module")
def sign_tool():
    path = os.environ.get("MLFLOW_BRIDGE_SIGN_TOOL") or os.path.join(ROOT, "build", "release", "sigv4_sign_tool")
    assert os.access(path, os.X_OK), (
        f"{path} is missing: build the C++ tests first (scripts/test.sh does) or set MLFLOW_BRIDGE_SIGN_TOOL"
    )
    return path


SEGMENT_CHARS = "abcXYZ019-_.~ !$&'()*+,;=:@%é/"


def random_request(rng):
    service = rng.choice(["sagemaker", "sts", "ecr", "s3", "execute-api"])
    region = rng.choice(["us-east-1", "eu-west-1", "ap-southeast-2", "cn-north-1"])
    host = f"{service}.{region}.amazonaws.com" + rng.choice(["", ":8443"])
    segments = ["".join(rng.choice(SEGMENT_CHARS) for _ in range(rng.randint(0, 8))) for _ in range(rng.randint(0, 4))]
    path = "/" + "/".join(urllib.parse.quote(s, safe="-_.~") for s in segments)
    if service != "s3" and rng.random() < 0.2:
        path += rng.choice(["/./x", "/a/../b", "//double"])
    query = [
        (
            "".join(rng.choice("aZ09-_.~ +=&é") for _ in range(rng.randint(1, 5))),
            "".join(rng.choice("aZ09-_.~ +=/é") for _ in range(rng.randint(0, 6))),
        )
        for _ in range(rng.randint(0, 4))
    ]
    url = f"https://{host}{path}"
    if query:
        url += "?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote, safe="-_.~")
    headers = {}
    for _ in range(rng.randint(0, 4)):
        name = rng.choice(["X-Amz-Target", "Content-Type", "x-custom", "X-Amzn-SageMaker-Custom-Attributes", "Accept"])
        headers[name] = rng.choice(["  spaced   value ", "application/x-amz-json-1.1", "a=b;c=d", "SageMaker.CreateModel"])
    body = "".join(rng.choice("{}\":, abc123é") for _ in range(rng.randint(0, 64)))
    token = rng.choice([None, "FQoGZXIvYXdzE" + "x" * rng.randint(0, 40)])
    return {
        "method": rng.choice(["GET", "POST", "PUT", "DELETE", "HEAD"]),
        "url": url,
        "headers": headers,
        "body": body,
        "region": region,
        "service": service,
        "access_key": "AKIDEXAMPLE",
        "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "session_token": token or "",
        "time": TIME,
        "sign_body_hash_header": service == "s3",
    }


def botocore_headers(spec):
    request = AWSRequest(method=spec["method"], url=spec["url"], data=spec["body"].encode(), headers=dict(spec["headers"]))
    creds = Credentials(spec["access_key"], spec["secret_key"], spec["session_token"] or None)
    auth = (S3SigV4Auth if spec["service"] == "s3" else SigV4Auth)(creds, spec["service"], spec["region"])
    fixed = datetime.datetime.strptime(TIME, "%Y%m%dT%H%M%SZ")
    with mock.patch("botocore.auth.get_current_datetime", return_value=fixed):
        auth.add_auth(request)
    return {k.lower(): v for k, v in request.headers.items()}


def ours(sign_tool, spec):
    out = subprocess.run([sign_tool], input=json.dumps(spec), capture_output=True, text=True, timeout=30)
    result = json.loads(out.stdout)
    assert out.returncode == 0, result
    return {k.lower(): v for k, v in result["headers"].items()}


def test_signatures_match_botocore_on_generated_requests(sign_tool):
    rng = random.Random(20261122)
    specs = [random_request(rng) for _ in range(300)]
    mismatches = []
    for spec in specs:
        want, got = botocore_headers(spec), ours(sign_tool, spec)
        for header in ("authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"):
            if want.get(header) != got.get(header):
                mismatches.append((spec["method"], spec["url"], header, want.get(header), got.get(header)))
    assert mismatches == [], f"{len(mismatches)} of {len(specs)} differ; first: {mismatches[:3]}"
