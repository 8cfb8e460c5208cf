"""Our Azure Blob pieces (C++, through tests/cpp/blob_sign_tool) against Microsoft's own Python clients:

- Shared Key signatures against azure-storage-blob's SharedKeyCredentialPolicy, on generated requests and on
  the requests BlobClient itself sends for the calls of a model upload;
- the model folder hash and upload listing against azure-ai-ml's get_object_hash, get_ignore_file and
  get_upload_files_from_folder, on generated folders (nested, mixed case, links, .amlignore/.gitignore rules).

Skipped unless azure-storage-blob (and, for the hash, azure-ai-ml) can be imported.
"""

import base64
import hashlib
import json
import os
import random
import subprocess
import urllib.parse
from pathlib import Path

import pytest

pytest.importorskip("azure.storage.blob")  # azure-ai-ml needs it too

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ACCOUNT = "mlbridgeacct"
KEY = base64.b64encode(b"mlflow-bridge test key - not a real account key 0123456789").decode()


@pytest.fixture(scope="module")
def tool():
    path = os.environ.get("MLFLOW_BRIDGE_BLOB_SIGN_TOOL") or os.path.join(ROOT, "build", "release", "blob_sign_tool")
    assert os.access(path, os.X_OK), (
        f"{path} is missing: build the C++ tests first (scripts/test.sh does) or set MLFLOW_BRIDGE_BLOB_SIGN_TOOL"
    )
    return path


def run_tool(tool, mode, spec):
    out = subprocess.run([tool, mode], input=json.dumps(spec), capture_output=True, text=True, timeout=60)
    result = json.loads(out.stdout)
    assert out.returncode == 0, result
    return result


# ---------------------------------------------------------------------------------------------------------------
# Shared Key


def sdk_sign(method, url, headers):
    """azure-storage-blob's own string-to-sign and Authorization for a request."""
    pytest.importorskip("azure.storage.blob")
    from azure.core.pipeline import PipelineContext, PipelineRequest
    from azure.core.pipeline.transport import HttpRequest
    from azure.storage.blob._shared.authentication import SharedKeyCredentialPolicy

    captured = {}

    class Capturing(SharedKeyCredentialPolicy):
        def _add_authorization_header(self, request, string_to_sign):
            captured["string_to_sign"] = string_to_sign
            super()._add_authorization_header(request, string_to_sign)

    request = HttpRequest(method, url, headers=dict(headers))
    Capturing(ACCOUNT, KEY).on_request(PipelineRequest(request, PipelineContext(None)))
    return captured["string_to_sign"], request.headers["Authorization"]


def ours_sign(tool, method, url, headers):
    length = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
    spec = {"method": method, "url": url, "headers": headers, "body_length": length, "account": ACCOUNT, "key": KEY}
    result = run_tool(tool, "sign", spec)
    return result["string_to_sign"], result["authorization"]


BLOB_CHARS = "abcXYZ019-_.~ !$&'()*+,;=:@%é"


def random_request(rng):
    segments = ["".join(rng.choice(BLOB_CHARS) for _ in range(rng.randint(1, 8))) for _ in range(rng.randint(1, 4))]
    segments = [s for s in segments if s not in (".", "..")] or ["x"]
    path = "/azureml-blobstore-" + "".join(rng.choice("0123456789abcdef") for _ in range(8))
    path += "/" + "/".join(urllib.parse.quote(s, safe="~") for s in segments)
    query = []
    for name in rng.sample(["comp", "blockid", "restype", "timeout", "Comp2", "prefix"], rng.randint(0, 3)):
        value = rng.choice(["block", "blocklist", "metadata", "30", "a b/c+d=", base64.b64encode(os.urandom(9)).decode()])
        query.append((name, value))
    url = f"https://{ACCOUNT}.blob.core.windows.net{path}"
    if query:
        url += "?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote, safe="")
    headers = [("x-ms-version", "2025-01-05"), ("x-ms-date", "Mon, 01 Jan 2024 00:00:00 GMT")]
    optional = [
        (rng.choice(["Content-Type", "content-type"]), rng.choice(["application/octet-stream", "application/xml"])),
        ("Content-MD5", base64.b64encode(hashlib.md5(os.urandom(8)).digest()).decode()),
        ("Content-Length", str(rng.choice([0, 1, 33, 4194304]))),
        ("If-None-Match", "*"),
        ("If-Match", '"0x8DC0000000000"'),
        ("Content-Encoding", "gzip"),
        ("Content-Language", "en"),
        ("x-ms-blob-type", "BlockBlob"),
        ("x-ms-client-request-id", "6c1c7a3e-0000-4000-8000-000000000000"),
        ("x-ms-blob-content-md5", "AAAAAAAAAAAAAAAAAAAAAA=="),
        ("x-ms-delete-snapshots", "include"),
    ]
    headers += rng.sample(optional, rng.randint(0, len(optional)))
    used = set()
    for _ in range(rng.randint(0, 4)):  # metadata names: '_' and digits sort differently from byte order
        name = rng.choice("ab_") + "".join(rng.choice("a0_") for _ in range(rng.randint(0, 3)))
        if name not in used:
            used.add(name)
            headers.append((f"x-ms-meta-{name}", rng.choice(["completed", "1", "my-model", "a b"])))
    rng.shuffle(headers)
    return rng.choice(["GET", "PUT", "HEAD", "DELETE"]), url, headers


def test_shared_key_matches_azure_storage_blob_on_generated_requests(tool):
    pytest.importorskip("azure.storage.blob")
    rng = random.Random(20240101)
    mismatches = []
    for _ in range(300):
        method, url, headers = random_request(rng)
        want, got = sdk_sign(method, url, headers), ours_sign(tool, method, url, headers)
        if want != got:
            mismatches.append((method, url, headers, want[0], got[0]))
    assert mismatches == [], f"{len(mismatches)} of 300 differ; first: {mismatches[:2]}"


class _Captured(Exception):
    pass


def test_shared_key_matches_the_requests_blob_client_sends(tool):
    """The calls of a model upload as BlobClient makes them (headers and all), each re-signed by us."""
    pytest.importorskip("azure.storage.blob")
    from azure.core.pipeline.transport import HttpTransport
    from azure.storage.blob import BlobBlock, BlobClient

    requests = []

    class CapturingTransport(HttpTransport):
        def __enter__(self):
            return self

        def __exit__(self, *args):
            pass

        def open(self):
            pass

        def close(self):
            pass

        def send(self, request, **kwargs):
            requests.append(request)
            raise _Captured()

    blob = BlobClient(
        f"https://{ACCOUNT}.blob.core.windows.net",
        "azureml-blobstore-0123",
        "LocalUpload/0f1e/model dir/sub/MLmodel+é.txt",
        credential={"account_name": ACCOUNT, "account_key": KEY},
        transport=CapturingTransport(),
    )
    calls = [
        lambda: blob.upload_blob(b"artifact_path: model\n", overwrite=False, validate_content=True),
        lambda: blob.upload_blob(b"", overwrite=True),
        lambda: blob.stage_block(base64.b64encode(b"0" * 48).decode(), b"block", validate_content=True),
        lambda: blob.commit_block_list([BlobBlock(block_id=base64.b64encode(b"0" * 48).decode())], validate_content=True),
        lambda: blob.set_blob_metadata({"upload_status": "completed", "name": "m", "version": "1"}),
        lambda: blob.get_blob_properties(),
        lambda: blob.delete_blob(delete_snapshots="include"),
    ]
    for call in calls:
        with pytest.raises(_Captured):
            call()
    assert len(requests) == len(calls)
    for r in requests:
        headers = [(k, v) for k, v in r.headers.items() if k != "Authorization"]
        assert ours_sign(tool, r.method, r.url, headers)[1] == r.headers["Authorization"], (r.method, r.url, headers)


# ---------------------------------------------------------------------------------------------------------------
# Folder hash and upload listing


def sdk_hash_and_files(folder):
    pytest.importorskip("azure.ai.ml")
    from azure.ai.ml._utils._asset_utils import get_ignore_file, get_object_hash, get_upload_files_from_folder

    ignore = get_ignore_file(folder)
    digest = get_object_hash(folder, ignore)
    source = Path(folder).resolve()  # upload_directory: LocalUpload/<hash>/<resolved basename>/...
    prefix = f"LocalUpload/{digest}/{os.path.basename(source)}/"
    files = sorted(get_upload_files_from_folder(source, prefix=prefix, ignore_file=ignore))
    return digest, [[local, remote] for local, remote in files]


def ours_hash_and_files(tool, folder):
    result = run_tool(tool, "hash", {"path": str(folder)})
    return result["hash"], result.get("files", [])


NAMES = ["MLmodel", "model.pkl", "conda.yaml", "a", "B", "b.txt", "Z.txt", "z_1", "z-1", "z.1", "É.txt", "é2",
         "data", "keep.pkl", "top.txt", "deep", "abc", "aXc", ".hidden", "#hash"]
PATTERNS = ["*.pkl", "!keep.pkl", "data/", "/top.txt", "**/deep", "a?c", "[ab]*", "sub/**/x", "# comment", "",
            "\\#hash", "*.txt", "!B", "**/", "/data/*.txt", "z*", "sub", "*/", "É*", "d*/", "  spaced.txt  ", "*", "!*.yaml"]


def make_tree(rng, root, depth=0):
    for _ in range(rng.randint(1, 5)):
        name = rng.choice(NAMES)
        path = root / name
        if path.exists():
            continue
        if depth < 3 and rng.random() < 0.3:
            path.mkdir()
            make_tree(rng, path, depth + 1)
        else:
            path.write_bytes(os.urandom(rng.choice([0, 1, 100, 3000])))


def test_object_hash_and_listing_match_azure_ai_ml_on_generated_folders(tool, tmp_path):
    pytest.importorskip("azure.ai.ml")
    rng = random.Random(20261031)
    mismatches = []
    for i in range(120):
        folder = tmp_path / f"case{i}" / rng.choice(["model", "My Model", "modèle"])
        folder.mkdir(parents=True)
        make_tree(rng, folder)
        if rng.random() < 0.3:
            (folder / "sub").mkdir(exist_ok=True)
            (folder / "sub" / "x").write_text("x")
        if rng.random() < 0.2:  # links: to a file and to a folder outside
            outside = tmp_path / f"outside{i}"
            outside.mkdir()
            (outside / "linked.bin").write_bytes(b"linked")
            os.symlink(outside / "linked.bin", folder / "link-file")
            os.symlink(outside, folder / "link-dir")
        if rng.random() < 0.6:
            name = rng.choice([".amlignore", ".gitignore"])
            lines = rng.sample(PATTERNS, rng.randint(1, 6))
            (folder / name).write_text("\n".join(lines) + rng.choice(["", "\n", "\r\n"]))
        want, got = sdk_hash_and_files(folder), ours_hash_and_files(tool, folder)
        if want != got:
            mismatches.append((str(folder), sorted(os.listdir(folder)), want, got))
    assert mismatches == [], f"{len(mismatches)} of 120 differ; first: {mismatches[:2]}"
