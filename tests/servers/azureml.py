"""Azure on loopback for the `azureml-endpoints` target: Entra ID, IMDS, ARM (one Azure ML workspace and
more), Blob storage, online-endpoint scoring and Azure Container Registry, in one process. Plain Python, no
Azure needed. Wire formats follow docs/azureml-notes.md (the section numbers below are that file's).

    with AzureStandIn() as az:                       # TLS on 127.0.0.1:<az.port>, IMDS on <az.imds_port>
        az.add_principal("app-id", secret="s3cret")   # a service principal in az.tenant
        env = az.driver_env(az.write_ca(path))        # MLFLOW_BRIDGE_CONNECT_TO, CURL_CA_BUNDLE, ... for C++
        with az.patch_resolver():                     # Python clients: the Azure names resolve to the stand-in
            ...

One TLS listener serves every Azure name, dispatched by the Host header; its certificate comes from a
trustme CA (`ca_pem`, `write_ca(path)`) and covers login.microsoftonline.com, management.azure.com,
*.blob.core.windows.net, *.<region>.inference.ml.azure.com (for each region in `regions`),
*.azurecr.io, 127.0.0.1 and localhost. Requests to 127.0.0.1/localhost go to ARM, or to Entra ID for
/{tenant}/oauth2/... and /common/discovery/... (so AZUREML_DEV_URL_MFE=https://127.0.0.1:PORT and an
`authority=https://127.0.0.1:PORT` work too). A second, plain-HTTP listener is IMDS (set
AZURE_POD_IDENTITY_AUTHORITY_HOST=az.imds_url).

Entra ID (login.microsoftonline.com, §1):
  * POST /{tenant}/oauth2/v2.0/token, grant_type=client_credentials, one scope "<resource>/.default"
    (ARM https://management.azure.com or https://management.core.windows.net/, storage
    https://storage.azure.com, Azure ML https://ml.azure.com, ACR https://containerregistry.azure.net),
    authenticated by
      - client_secret (a registered secret), or
      - client_assertion (jwt-bearer): a JWT signed RS256 or PS256 by a registered certificate's key,
        found by x5t (base64url SHA-1 of the DER certificate) or x5t#S256 (SHA-256); aud = this token
        URL (v2.0 or v1 form, or the v2.0 issuer), iss = sub = client_id, exp in the future, nbf/iat not
        in the future; or a federated token (workload identity) registered for the client, compared
        byte for byte.
    Errors are Entra's JSON {error, error_description "AADSTSnnnn: ...", error_codes, timestamp,
    trace_id, correlation_id, error_uri}: 90002 unknown tenant, 700016 unknown client, 7000215 wrong
    secret, 7000218 no credential, 700027 unknown key / bad signature, 700023 wrong audience,
    700021 iss/sub, 700024 time range, 70021 federated token not registered, 1002012 scope without
    /.default, 500011 unknown resource, 70003 grant type, 50027 malformed JWT.
    Issued tokens are opaque random strings bound to (client, audience, expiry); `token_lifetime`
    sets expires_in (default 3599).
  * GET /{tenant}/v2.0/.well-known/openid-configuration and /common/discovery/instance (MSAL).
IMDS (plain HTTP, §1.6): GET /metadata/identity/oauth2/token with `Metadata: true`, api-version,
  resource and at most one of client_id / object_id / msi_res_id; expires_in and expires_on are
  strings. Identities: add_managed_identity(). Errors as IMDS sends them (400 bad_request_102,
  400 invalid_request "Identity not found", ...). fail_imds(status, times) answers the next requests
  with 404/410/429/500....

ARM (management.azure.com, §2): the workspace prefix of §2.2 under every seeded workspace, plus
  /subscriptions/{s}/providers/Microsoft.MachineLearningServices/locations/{l}/mfeOperationsStatus/{id}
  and .../mfeOperationResults/{id}.
  * Bearer tokens are checked: 401 with ARM's error JSON and WWW-Authenticate when missing, unknown,
    expired or for another audience; 403 AuthorizationFailed for a principal in `forbid()`.
  * api-version is required and must be one MLClient 1.35.2 sends for these operation groups or
    2025-12-01 (API_VERSIONS); otherwise 400 MissingApiVersionParameter / InvalidApiVersionParameter /
    NoRegisteredProviderFound with ARM's wording.
  * Routes (relative to the workspace): "" (GET), datastores (GET list, ?isDefault=true),
    datastores/{n} (GET), datastores/{n}/listSecrets (POST), computes and computes/{n} (GET),
    models, models/{n} (GET/PUT/DELETE), models/{n}/versions (GET: $orderBy, $top, $skip, version,
    listViewType), models/{n}/versions/{v} (GET/PUT/DELETE, synchronous 201/200), environments/{n},
    environments/{n}/versions and /{v} (GET/PUT/DELETE), onlineEndpoints (GET, nextLink paging of
    `page_size`), onlineEndpoints/{e} (GET; PUT 201 + Azure-AsyncOperation + Location +
    x-ms-async-operation-timeout, for updates too, as recorded; PATCH tags/identity 202 + Location +
    Retry-After; DELETE 202 + Azure-AsyncOperation + Location, which also deletes the deployments),
    .../listKeys, .../regenerateKeys (202 + Location; a new key unless keyValue names a different value:
    azure-ai-ml sends the current key), .../token (AMLToken endpoints), .../deployments (GET paged),
    .../deployments/{d} (GET; PUT LRO, 201 like endpoints; PATCH sku/tags 202; DELETE LRO),
    .../deployments/{d}/getLogs (POST, containerType InferenceServer|StorageInitializer, tail),
    .../deployments/{d}/skus (GET).
  * Long-running operations complete after `lro_polls` polls (a GET of the status URL, of the results
    URL or of the resource itself each count), never by wall-clock time. Running polls carry
    `Retry-After: <retry_after>` (default 1; a float such as 0.01 is sent as is, which azure-core
    accepts and our C++ driver may not; first 202 replies, whose Retry-After the generated clients
    read as an int, then carry none; the recorded status polls and PUT/DELETE replies carry no
    Retry-After, as with retry_after=None). Status bodies as recorded: {id, name, status "Updating" |
    "Succeeded" | "Failed", startTime, endTime ("0001-01-01T00:00:00+00:00" while running),
    percentComplete (0.0, also once Succeeded, as recorded; 100.0 when Failed or Canceled, unrecorded),
    error{code, message, details, additionalInfo} when Failed}. Online endpoints and deployments carry the
    recorded systemData {createdAt, createdBy, lastModifiedAt}.
  * Service-side checks: names (endpoints and deployments 3-32, letter first, letters, digits and
    hyphens, not ending in a hyphen; endpoint names unique per region); location = the workspace's;
    authMode Key | AMLToken | AADToken (AADToken not on Kubernetes); traffic: ints 0-100 summing to 0
    or 100, naming existing deployments; mirrorTraffic: one deployment, at most 50, not one with live
    traffic, not on Kubernetes endpoints; a deployment's endpoint must exist and its
    endpointComputeType match it (Managed needs instanceType; Kubernetes needs the endpoint's compute,
    which must be a Kubernetes compute); model an existing model version (ARM id) unless registry
    (azureml://registries/...); a deployment without environmentId needs an mlflow_model; an
    environmentId must exist; a deployment with live traffic cannot be deleted
    (reject_delete_with_traffic); one operation at a time per resource (409). Error bodies:
    {"error": {code, message, details, additionalInfo}} with x-ms-response-type: error.
  * `_validate(definition, body)` below is the hook for the 2025-12-01 schema check (empty for now).

Blob storage (<account>.blob.core.windows.net, §3.3): SAS (account SAS ss/srt and service SAS sr=c|b,
  sv >= 2015-04-05 with the encryption-scope line from 2020-12-06 on; the signature recomputed with the
  account key, so listSecrets' tokens and azure-storage-blob's generate_*_sas ones both verify; time
  range, services, resource types and permissions checked; rotate_key() invalidates them),
  SharedKey (the §3.3 string-to-sign) and Bearer (storage audience, x-ms-version >= 2017-11-09).
  Put Blob (x-ms-blob-type BlockBlob, If-None-Match: *, If-Match, Content-MD5 checked), Put Block,
  Put Block List (Latest/Committed/Uncommitted), Get Blob (Range / x-ms-range, 206, 416 on empty
  blobs), Get Blob Properties (HEAD, x-ms-meta-*), Set Blob Metadata (comp=metadata), Delete Blob,
  List Blobs (restype=container&comp=list, prefix, delimiter, maxresults, marker, include=metadata),
  Create/Get/Delete Container. Errors: storage error XML and x-ms-error-code (HEAD: no body).

Scoring (<endpoint>.<region>.inference.ml.azure.com, §6): POST /score, authenticated per authMode
  (Key: primary or secondary key; AMLToken: a token from .../token; AADToken: an Entra token for
  https://ml.azure.com). `azureml-model-deployment` picks a deployment; otherwise smooth weighted
  round robin over the live traffic, and mirror traffic copied (synchronously, result ignored) to the
  shadow deployment every 100/pct requests. The request goes to the deployment's backend URL
  (set_backend() or the on_deployment_ready hook): for no-code MLflow deployments (no environmentId)
  the body must be {"input_data": {"columns", "index", "data"}} (or a list / a dict of tensors, plus
  optional "params"); it is converted to MLflow's {"dataframe_split": ...} ({"inputs": ...}) and
  POSTed to /invocations, and MLflow's {"predictions": X} comes back as X. Custom-container
  deployments get the body unchanged at the environment's inferenceConfig.scoringRoute.path (or
  /score). A non-200 from the backend becomes 424 with ms-azureml-model-error-statuscode and
  ms-azureml-model-error-reason: model_error on managed endpoints (the backend's status on
  Kubernetes, 502 for 5xx); an unreachable backend 502; no routable deployment 404; throttled 429
  with Retry-After (throttle_scoring()).

Container registries (<name>.azurecr.io, tests/servers/acr.py): add_container_registry(name) starts an
  AcrStandIn, a docker-registry behind ACR's token service: POST /oauth2/exchange (an Entra token of this
  stand-in for ARM or https://containerregistry.azure.net -> an ACR refresh token, 3 h on this clock),
  /oauth2/token (refresh token -> access token; GET with Basic 00000000-0000-0000-0000-000000000000:
  <refresh token> as `docker login` does), /v2/ proxied to the registry (Bearer challenges name the
  ACR host, relative Locations) and the read side of /acr/v1 (catalog, repository, tags, manifests).
  Errors are ACR's {"errors": [{code, message}]}; deny(client_id) on the registry withholds access.

Test controls: add_principal, add_managed_identity, add_container_registry, add_workspace, add_storage_account,
add_compute, put_blob / get_blob / list_blob_names, put_model_version, put_environment_version, set_backend,
issue_token (a token without a credential flow), advance_time (the server clock: token, AML token and
SAS expiry, client-assertion times and SharedKey request dates),
forbid / allow, throttle (429 + Retry-After on ARM, 503 ServerBusy on storage, 429 on Entra),
inject_error, fail_provisioning (Failed operation with an error body, provisioningState Failed and the
container logs getLogs returns), hang_provisioning / release, fail_imds, throttle_scoring, rotate_key;
inspection: requests (every request: service, method, host, path, query, status, api_version,
client), arm_requests(), scoring_log, endpoint(), deployment(), model_version(), operations,
ignored_fields (request fields the real service would ignore and this one did), errors (tracebacks of
stand-in bugs; tests assert it stays empty). Secrets (client secrets, assertions, tokens, keys, SAS
signatures) are never written to the request log.

patch_resolver() replaces socket.getaddrinfo process-wide: with two stand-ins patched, the later one
serves the Azure names until its patch is undone.

`ModelBackend` is a tiny in-process MLflow-like scoring server (POST /invocations, GET /ping) to
register as a deployment's backend.

Standalone: python tests/servers/azureml.py --ca /tmp/ca.pem --principal app:secret [--lro-polls N]
[--retry-after S] [--acr NAME] prints the environment for our C++ driver and serves until SIGINT/SIGTERM.
"""
import base64
import contextlib
import copy
import datetime
import email.utils
import fnmatch
import hashlib
import hmac
import http.client
import itertools
import json
import re
import secrets
import socket
import ssl
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOGIN_HOST = "login.microsoftonline.com"
ARM_HOST = "management.azure.com"
BLOB_SUFFIX = ".blob.core.windows.net"
INFERENCE_SUFFIX = ".inference.ml.azure.com"
ACR_SUFFIX = ".azurecr.io"
PROVIDER = "Microsoft.MachineLearningServices"
SPEC_API_VERSION = "2025-12-01"
# What azure-ai-ml 1.35.2 (_ml_client.py) sends to the operation groups served here: workspaces and
# datastores 2024-10-01-preview, models 2023-08-01-preview, environments and online deployments
# 2023-04-01-preview, online endpoints 2022-02-01-preview, code 2023-04-01, computes
# 2023-08-01-preview; plus the spec version this project targets.
API_VERSIONS = frozenset({SPEC_API_VERSION, "2024-10-01-preview", "2023-08-01-preview", "2023-04-01-preview",
                          "2022-02-01-preview", "2023-04-01"})
ARM_AUDIENCES = ("https://management.core.windows.net/", "https://management.core.windows.net",
                 "https://management.azure.com/", "https://management.azure.com")
STORAGE_AUDIENCE = "https://storage.azure.com"
ML_AUDIENCE = "https://ml.azure.com"
CONTAINER_REGISTRY_AUDIENCE = "https://containerregistry.azure.net"
# resource (as in a scope without /.default, trailing slash removed) -> the audience its tokens carry
RESOURCES = {"https://management.azure.com": "https://management.azure.com",
             "https://management.core.windows.net": "https://management.core.windows.net/",
             STORAGE_AUDIENCE: STORAGE_AUDIENCE, ML_AUDIENCE: ML_AUDIENCE,
             CONTAINER_REGISTRY_AUDIENCE: CONTAINER_REGISTRY_AUDIENCE}
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
NAME_RE = re.compile(r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$")
ASSET_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]{0,254}$")
STORAGE_VERSION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
NOT_STARTED = "0001-01-01T00:00:00+00:00"
DEFAULT_PROBE = {"failureThreshold": 30, "successThreshold": 1, "timeout": "PT2S", "period": "PT10S",
                 "initialDelay": "PT10S"}
DEFAULT_LOG = ("2026-01-01T00:00:00,000 I [1] azmlinfsrv - Starting AzureML Inference Server HTTP.\n"
               "2026-01-01T00:00:01,000 I [1] azmlinfsrv - Initializing logger\n"
               "2026-01-01T00:00:02,000 I [1] azmlinfsrv - Scoring timeout is set to 5000\n"
               "2026-01-01T00:00:03,000 I [1] azmlinfsrv - Users's init has completed successfully\n"
               "2026-01-01T00:00:04,000 I [1] azmlinfsrv - Listening at: http://0.0.0.0:31311\n")
_SEQ = itertools.count()  # creation order of stored versions
DEFAULT_STORAGE_LOG = ("Model download started.\nDownloading model files from the datastore.\n"
                       "Model download completed.\n")


def _iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat()


def _rfc1123(t):
    return email.utils.formatdate(t, usegmt=True)


def _b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64u_decode(text):
    text = text.strip()
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _new_key(n=32):
    return base64.b64encode(secrets.token_bytes(n)).decode()


def _iso_duration_seconds(text, default):
    m = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?", text or "")
    if not text or not m:
        return default
    d, h, mi, s = m.groups()
    return int(d or 0) * 86400 + int(h or 0) * 3600 + int(mi or 0) * 60 + float(s or 0)


def _validate(definition, body):
    """HOOK for the lead: the 2025-12-01 schema check (tests/servers/azureml_schema.py `check`).

    Called with a definition name of the 2025-12-01 spec (OnlineEndpoint, OnlineDeployment,
    PartialMinimalTrackedResourceWithIdentity, PartialMinimalTrackedResourceWithSku, ModelContainer,
    ModelVersion, EnvironmentVersion, RegenerateEndpointKeysRequest, DeploymentLogsRequest,
    SecretExpiry) and the parsed request body, for requests made with api-version 2025-12-01 only
    (older versions have other schemas). Returns a list of problems; any makes the request a 400."""
    import azureml_schema

    # The bodies of PUTs are the tracked resources around these properties definitions.
    resource = {"OnlineEndpoint": "OnlineEndpointTrackedResource", "OnlineDeployment": "OnlineDeploymentTrackedResource",
                "ModelContainer": "ModelContainerResource", "ModelVersion": "ModelVersionResource",
                "EnvironmentVersion": "EnvironmentVersionResource"}.get(definition, definition)
    # ARM takes null for an optional top-level property (what a GET returned, PUT back): as if it were left out.
    body = {k: v for k, v in body.items() if v is not None}
    try:
        problems = azureml_schema.check(resource, body)
    except KeyError:  # a body the spec does not define as a definition of its own (SecretExpiry)
        return []
    if definition.startswith("Partial"):  # a PATCH's fields beyond tags/identity/sku are ignored (ignored_fields)
        problems = [p for p in problems if "is not a known property" not in p]
    return problems


class ArmError(Exception):
    """An ARM error reply: {"error": {code, message, details, additionalInfo}}."""

    def __init__(self, status, code, message, details=None, headers=None, target=None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details, self.headers, self.target = details or [], headers or {}, target


def user_error(status, detail_code, message):
    """Azure ML's usual shape: code UserError with the specific code in details."""
    return ArmError(status, "UserError", message, [{"code": detail_code, "message": message, "details": [],
                                                      "additionalInfo": []}])


class StorageError(Exception):
    def __init__(self, status, code, message, extra=None, headers=None):
        super().__init__(message)
        self.status, self.code, self.message, self.extra, self.headers = status, code, message, extra or {}, headers


class EntraError(Exception):
    def __init__(self, status, error, code, description):
        super().__init__(description)
        self.status, self.error, self.code, self.description = status, error, code, description


# ------------------------------------------------------------------------------ HTTP plumbing
class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, handler, owner, ssl_context=None):
        self.owner, self.ssl_context = owner, ssl_context
        self.connections = set()
        self.conn_lock = threading.Lock()
        super().__init__(addr, handler)

    def get_request(self):
        sock, addr = super().get_request()
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, socket.timeout, OSError)):
            return
        traceback.print_exc()

    def close_connections(self):
        with self.conn_lock:
            conns = list(self.connections)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "azure-standin"

    def setup(self):
        try:  # headers and body go out in separate writes: without this, Nagle + delayed ACK cost 40 ms
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            self.request.do_handshake()
            self.request.settimeout(None)
        with self.server.conn_lock:
            self.server.connections.add(self.request)
        super().setup()

    def finish(self):
        try:
            super().finish()
        finally:
            with self.server.conn_lock:
                self.server.connections.discard(self.request)

    def log_message(self, fmt, *args):
        pass

    def version_string(self):
        return self.server_version

    def read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def send(self, status, body=b"", content_type=None, headers=None, head_length=None):
        """Sends a reply; for HEAD only the headers (Content-Length = head_length or len(body))."""
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        length = head_length if (self.command == "HEAD" and head_length is not None) else len(body)
        self.send_header("Content-Length", str(length))
        for k, v in (headers or {}).items():
            if v is not None:
                self.send_header(k, str(v))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def do_GET(self):
        self.server.owner._dispatch(self)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET


class _ImdsHandler(_Handler):
    server_version = "IMDS/150.870.65.1854"

    def do_GET(self):
        self.server.owner._imds(self)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET


# ------------------------------------------------------------------------------ a fake model server
class ModelBackend:
    """A tiny MLflow-like scoring server on 127.0.0.1 to register as a deployment's backend.

    POST /invocations (and any other POST path) with {"dataframe_split": {...}} -> {"predictions":
    predict(frame)}, where frame = {"columns", "data", "index"}; the default predict returns
    scale * row sum for every row; {"inputs": X} -> {"predictions": X}. GET /ping, /health -> 200.
    `status` (default 200) makes every POST answer that status with MLflow's error JSON. Every POST
    is recorded in `requests` as (path, parsed JSON or raw bytes, headers)."""

    def __init__(self, name="model", scale=1.0, predict=None, status=200):
        self.name, self.scale, self.predict, self.status = name, scale, predict, status
        self.requests = []
        self._lock = threading.Lock()
        backend = self

        class H(_Handler):
            server_version = "fake-mlflow-scoring"

            def do_GET(self):
                self.send(200 if self.path in ("/ping", "/health", "/") else 404, b"\n", "application/json")

            def do_POST(self):
                body = self.read_body()
                try:
                    payload = json.loads(body)
                except ValueError:
                    payload = body
                with backend._lock:
                    backend.requests.append((self.path, payload, dict(self.headers)))
                if backend.status != 200:
                    err = {"error_code": "BAD_REQUEST", "message": f"{backend.name} fails with {backend.status}"}
                    return self.send(backend.status, json.dumps(err).encode(), "application/json")
                try:
                    out = backend._predict(payload)
                except Exception as e:  # the model's own error, as MLflow reports it
                    err = {"error_code": "BAD_REQUEST", "message": f"{type(e).__name__}: {e}"}
                    return self.send(400, json.dumps(err).encode(), "application/json")
                self.send(200, json.dumps({"predictions": out}).encode(), "application/json")

        self._server = _Server(("127.0.0.1", 0), H, self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"model-{name}", daemon=True)

    def _predict(self, payload):
        if self.predict is not None:
            return self.predict(payload)
        if isinstance(payload, dict) and "dataframe_split" in payload:
            return [self.scale * sum(row) for row in payload["dataframe_split"]["data"]]
        if isinstance(payload, dict) and "inputs" in payload:
            return payload["inputs"]
        raise ValueError("expected dataframe_split or inputs")

    @property
    def url(self):
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# ------------------------------------------------------------------------------ the stand-in
class AzureStandIn:
    def __init__(self, *, tenant="72f988bf-0000-4000-8000-00000000aaaa",
                 subscription="00000000-1111-2222-3333-444444444444", resource_group="rg-standin",
                 workspace="ws-standin", location="eastus", storage_account="standinstore",
                 datastore_credentials="AccountKey", regions=("eastus", "westus"),
                 token_lifetime=3599, aml_token_lifetime=3600, lro_polls=1, retry_after=1, page_size=10,
                 reject_delete_with_traffic=True, enforce_request_timeout=False, host="127.0.0.1"):
        self.tenant, self.host = tenant, host
        self.token_lifetime, self.aml_token_lifetime = token_lifetime, aml_token_lifetime
        self.lro_polls, self.retry_after, self.page_size = lro_polls, retry_after, page_size
        self.reject_delete_with_traffic = reject_delete_with_traffic
        self.enforce_request_timeout = enforce_request_timeout
        self.regions = tuple(r.lower() for r in regions)
        self.on_deployment_ready = None   # callable(info dict) -> backend URL or None, when provisioning succeeds
        self.on_deployment_gone = None    # callable(info dict), when a deployment is deleted
        self.requests = []                # every request (dicts; no secrets)
        self.scoring_log = []             # every scoring request: endpoint, deployment, mirrored, status, path, body
        self.operations = {}              # operation name -> record (see _new_operation)
        self.ignored_fields = []          # (method, path, field) the real service ignores and so did this one
        self.issued_sas = []              # SAS tokens handed out by listSecrets (query strings without '?')
        self.errors = []                  # tracebacks of bugs in this stand-in (tests assert it stays empty)
        self._lock = threading.RLock()
        self._offset = 0.0                # advance_time()
        self._tenants = {tenant}
        self._principals = {}             # client_id -> principal record
        self._identities = []             # managed identities: client_id, object_id, resource_id, system
        self._tokens = {}                 # Entra access token -> {client_id, audience, expires, tenant}
        self._aml_tokens = {}             # AML scoring token -> {ws, endpoint, expires}
        self._forbidden = {}              # client_id -> [action globs]
        self._faults = []                 # injected replies (throttle, inject_error)
        self._imds_faults = []
        self._scoring_faults = {}         # endpoint name (lower) -> {remaining, status, retry_after}
        self._fail = {}                   # ("deployment"|"endpoint", name lower) -> failure spec
        self._hang = set()                # ("deployment"|"endpoint", name lower)
        self._backends = {}               # (ws key, endpoint lower, deployment lower) -> URL
        self._workspaces = {}             # (sub, rg, ws) lowered -> workspace record
        self._accounts = {}               # storage account name -> record
        self._registries = {}             # login server -> AcrStandIn (tests/servers/acr.py)
        self._ca = None
        self._tls = self._imds_server = None
        self._threads = []
        self._stopped = False
        self.default_workspace = self.add_workspace(subscription, resource_group, workspace, location=location,
                                                    storage_account=storage_account,
                                                    datastore_credentials=datastore_credentials)

    # ---------------------------------------------------------------- lifecycle
    def start(self):
        import trustme

        self._ca = trustme.CA(organization_name="azure-standin test CA")
        names = [LOGIN_HOST, ARM_HOST, "*" + BLOB_SUFFIX, "*" + INFERENCE_SUFFIX, "*" + ACR_SUFFIX, "127.0.0.1",
                 "localhost"]
        names += [f"*.{r}{INFERENCE_SUFFIX}" for r in self.regions]
        cert = self._ca.issue_cert(*names)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(ctx)
        self._tls = _Server((self.host, 0), _Handler, self, ctx)
        self._imds_server = _Server((self.host, 0), _ImdsHandler, self)
        for name, srv in (("azure-tls", self._tls), ("azure-imds", self._imds_server)):
            t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self):
        for reg in list(self._registries.values()):
            reg.stop()
        if self._stopped or self._tls is None:
            return
        self._stopped = True
        for srv in (self._tls, self._imds_server):
            srv.shutdown()
            srv.close_connections()
            srv.server_close()
        for t in self._threads:
            t.join(10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self):
        return self._tls.server_address[1]

    @property
    def imds_port(self):
        return self._imds_server.server_address[1]

    @property
    def imds_url(self):
        return f"http://{self.host}:{self.imds_port}"

    @property
    def url(self):
        """The TLS listener by address (ARM and Entra ID by path; see the module docstring)."""
        return f"https://{self.host}:{self.port}"

    @property
    def ca_pem(self):
        return self._ca.cert_pem.bytes()

    def write_ca(self, path):
        with open(path, "wb") as f:
            f.write(self.ca_pem)
        return str(path)

    def driver_env(self, ca_path):
        """Environment for our C++ driver: Azure names to the TLS listener, the test CA, IMDS."""
        return {"MLFLOW_BRIDGE_CONNECT_TO": f":443:{self.host}:{self.port}", "CURL_CA_BUNDLE": str(ca_path),
                "AZURE_POD_IDENTITY_AUTHORITY_HOST": self.imds_url}

    def serves(self, hostname):
        h = (hostname or "").lower().rstrip(".")
        return (h in (LOGIN_HOST, ARM_HOST) or h.endswith(BLOB_SUFFIX) or h.endswith(INFERENCE_SUFFIX)
                or h.endswith(ACR_SUFFIX))

    @contextlib.contextmanager
    def patch_resolver(self):
        """socket.getaddrinfo answers 127.0.0.1:<port> for the Azure names on port 443 (and IMDS's
        169.254.169.254:80 with the IMDS listener), so Python clients reach the stand-in under the
        real names (TLS SNI and certificate checks included)."""
        real = socket.getaddrinfo
        owner = self

        def fake(host, port, *args, **kwargs):
            name = host.decode() if isinstance(host, bytes) else host
            if name and owner.serves(name) and str(port) in ("443", "https", "None"):
                return real(owner.host, owner.port, *args, **kwargs)
            if name == "169.254.169.254" and str(port) in ("80", "http", "None"):
                return real(owner.host, owner.imds_port, *args, **kwargs)
            return real(host, port, *args, **kwargs)

        socket.getaddrinfo = fake
        try:
            yield self
        finally:
            socket.getaddrinfo = real

    def _now(self):
        return time.time() + self._offset

    def advance_time(self, seconds):
        """Moves the stand-in's clock (token and SAS expiry) forward."""
        with self._lock:
            self._offset += seconds

    # ---------------------------------------------------------------- seeding
    def add_tenant(self, tenant):
        with self._lock:
            self._tenants.add(tenant)

    def add_principal(self, client_id, *, secret=None, certificate=None, federated_token=None, tenant=None,
                      object_id=None):
        """A service principal (app registration) in `tenant` (default: the stand-in's). `certificate`:
        PEM bytes/str or a cryptography x509.Certificate (its public key verifies client assertions);
        `federated_token`: a workload-identity token accepted as the assertion. Call again to add more."""
        with self._lock:
            p = self._principals.setdefault(client_id, {
                "client_id": client_id, "tenant": tenant or self.tenant, "object_id": object_id or str(uuid.uuid4()),
                "secrets": set(), "certs": {}, "federated": set(), "kind": "sp"})
            if secret is not None:
                p["secrets"].add(secret)
            if certificate is not None:
                self._add_cert(p, certificate)
            if federated_token is not None:
                p["federated"].add(federated_token)
            return p["object_id"]

    def _add_cert(self, principal, certificate):
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        if isinstance(certificate, (str, bytes)):
            data = certificate.encode() if isinstance(certificate, str) else certificate
            certificate = x509.load_pem_x509_certificate(data)
        der = certificate.public_bytes(serialization.Encoding.DER)
        key = certificate.public_key()
        principal["certs"]["x5t:" + _b64u(hashlib.sha1(der).digest())] = key
        principal["certs"]["x5t#S256:" + _b64u(hashlib.sha256(der).digest())] = key
        principal.setdefault("thumbprints", set()).add(hashlib.sha1(der).hexdigest().upper())

    def remove_secret(self, client_id, secret):
        with self._lock:
            self._principals[client_id]["secrets"].discard(secret)

    def add_managed_identity(self, *, client_id=None, object_id=None, resource_id=None, system=False):
        """A managed identity IMDS hands tokens for: system=True is the system-assigned one (no
        parameter needed), otherwise a user-assigned one found by client_id / object_id / msi_res_id."""
        client_id = client_id or str(uuid.uuid4())
        rec = {"client_id": client_id, "object_id": object_id or str(uuid.uuid4()),
               "resource_id": resource_id or (f"/subscriptions/{self.default_workspace['sub']}/resourcegroups/"
                                              f"{self.default_workspace['rg']}/providers/"
                                              f"Microsoft.ManagedIdentity/userAssignedIdentities/{client_id}"),
               "system": system}
        with self._lock:
            self._identities.append(rec)
            self._principals.setdefault(client_id, {"client_id": client_id, "tenant": self.tenant,
                                                    "object_id": rec["object_id"], "secrets": set(), "certs": {},
                                                    "federated": set(), "kind": "mi"})
        return rec

    def add_workspace(self, subscription, resource_group, name, *, location="eastus", storage_account=None,
                      datastore_credentials="AccountKey"):
        """A workspace with its storage account, workspaceblobstore (default) and workspaceartifactstore.
        datastore_credentials: AccountKey | Sas | None (identity-based: listSecrets answers 400)."""
        location = location.lower().replace(" ", "")
        if location not in self.regions:
            if self._tls is not None:
                raise ValueError(f"the TLS certificate was issued for the regions {self.regions}; pass "
                                 f"regions=(..., {location!r}) to AzureStandIn to score in {location}")
            self.regions += (location,)
        key = (subscription.lower(), resource_group.lower(), name.lower())
        wsid = str(uuid.uuid4())
        account = storage_account or ("st" + wsid.replace("-", "")[:20])
        ws = {"sub": subscription, "rg": resource_group, "name": name, "location": location, "id": wsid,
              "key": key, "account": account, "datastores": {}, "computes": {}, "models": {},
              "environments": {}, "endpoints": {}, "created": self._now()}
        blob_container = f"azureml-blobstore-{wsid}"
        with self._lock:
            self._workspaces[key] = ws
            self.add_storage_account(account)
            self._accounts[account]["containers"].setdefault(blob_container, self._new_container())
            self._accounts[account]["containers"].setdefault("azureml", self._new_container())
            for ds_name, container, default in (("workspaceblobstore", blob_container, True),
                                                ("workspaceartifactstore", "azureml", False)):
                ws["datastores"][ds_name] = {"name": ds_name, "container": container, "account": account,
                                             "default": default, "credentials": datastore_credentials}
        return ws

    def add_container_registry(self, name="standinacr", **options):
        """An Azure Container Registry served at https://<name>.azurecr.io (name: 5-50 letters and digits,
        lowered): a started acr.AcrStandIn (its own docker-registry), stopped with the stand-in. options go
        to AcrStandIn: relative_urls, access_token_ttl, workdir."""
        from acr import AcrStandIn

        reg = AcrStandIn(self, name, audiences=ARM_AUDIENCES + (CONTAINER_REGISTRY_AUDIENCE,), **options)
        with self._lock:
            if reg.login_server in self._registries:
                raise ValueError(f"{reg.login_server} exists already")
            self._registries[reg.login_server] = reg
        try:
            reg.start()
        except BaseException:
            with self._lock:
                self._registries.pop(reg.login_server, None)
            reg.stop()
            raise
        return reg

    def set_datastore_credentials(self, kind, datastore="workspaceblobstore", workspace=None):
        with self._lock:
            self._ws(workspace)["datastores"][datastore]["credentials"] = kind

    def add_storage_account(self, name, key=None):
        with self._lock:
            return self._accounts.setdefault(name, {"name": name, "key": key or _new_key(64), "containers": {}})

    def storage_key(self, account=None):
        return self._accounts[account or self.default_workspace["account"]]["key"]

    def rotate_key(self, account=None):
        """A new account key: SharedKey signatures and SAS tokens made with the old one stop working."""
        with self._lock:
            self._accounts[account or self.default_workspace["account"]]["key"] = _new_key(64)

    @staticmethod
    def _new_container():
        return {"blobs": {}, "pending": {}, "metadata": {}, "created": time.time(),
                "etag": f'"0x{secrets.token_hex(8).upper()}"'}

    def add_compute(self, name, *, compute_type="Kubernetes", namespace="default", workspace=None):
        with self._lock:
            ws = self._ws(workspace)
            ws["computes"][name.lower()] = {"name": name, "type": compute_type, "namespace": namespace}

    def datastore_container(self, datastore="workspaceblobstore", workspace=None):
        return self._ws(workspace)["datastores"][datastore]["container"]

    def put_blob(self, container, name, data, *, account=None, metadata=None, content_type="application/octet-stream"):
        with self._lock:
            acct = self._accounts[account or self.default_workspace["account"]]
            cont = acct["containers"].setdefault(container, self._new_container())
            cont["blobs"][name] = self._new_blob(data, content_type, None, metadata or {})

    def get_blob(self, container, name, *, account=None):
        """The blob's bytes, or None."""
        with self._lock:
            acct = self._accounts[account or self.default_workspace["account"]]
            blob = acct["containers"].get(container, {}).get("blobs", {}).get(name)
            return None if blob is None else blob["data"]

    def blob_metadata(self, container, name, *, account=None):
        with self._lock:
            acct = self._accounts[account or self.default_workspace["account"]]
            blob = acct["containers"].get(container, {}).get("blobs", {}).get(name)
            return None if blob is None else dict(blob["metadata"])

    def list_blob_names(self, container, prefix="", *, account=None):
        with self._lock:
            acct = self._accounts[account or self.default_workspace["account"]]
            return sorted(n for n in acct["containers"].get(container, {}).get("blobs", {}) if n.startswith(prefix))

    def _new_blob(self, data, content_type, md5, metadata):
        now = self._now()
        return {"data": bytes(data), "content_type": content_type,
                "md5": md5 or base64.b64encode(hashlib.md5(data).digest()).decode(),
                "metadata": dict(metadata), "etag": f'"0x{secrets.token_hex(8).upper()}"', "modified": now,
                "created": now}

    def put_model_version(self, name, version, *, model_type="mlflow_model", model_uri=None, workspace=None,
                          flavors=None):
        """Registers a model version directly (no upload); returns its ARM id."""
        with self._lock:
            ws = self._ws(workspace)
            props = {"modelType": model_type, "modelUri": model_uri or "azureml://datastores/workspaceblobstore/paths/"
                     f"models/{name}/{version}", "flavors": flavors or {"python_function": {"data": {}}}}
            self._store_model_version(ws, name, str(version), {"properties": props})
            return self._ws_id(ws) + f"/models/{name}/versions/{version}"

    def put_environment_version(self, name, version, *, inference_config=None, workspace=None,
                                image="mcr.microsoft.com/azureml/minimal-ubuntu22.04-py39-cpu-inference:latest"):
        """Registers an environment version directly; returns its ARM id. inference_config e.g.
        {"scoringRoute": {"path": "/predict", "port": 8080}, "livenessRoute": ..., "readinessRoute": ...}."""
        with self._lock:
            ws = self._ws(workspace)
            props = {"image": image}
            if inference_config:
                props["inferenceConfig"] = inference_config
            self._store_environment_version(ws, name, str(version), {"properties": props})
            return self._ws_id(ws) + f"/environments/{name}/versions/{version}"

    def set_backend(self, endpoint, deployment, url, workspace=None):
        """Where scoring requests for that deployment go (a ModelBackend, `mlflow models serve`, ...)."""
        with self._lock:
            self._backends[(self._ws(workspace)["key"], endpoint.lower(), deployment.lower())] = url.rstrip("/")

    def issue_token(self, client_id, audience="https://management.azure.com", lifetime=None):
        """An Entra access token for `client_id` (registered or not) without a credential flow."""
        return self._mint(client_id, audience, lifetime, self.tenant)

    def _mint(self, client_id, audience, lifetime, tenant):
        token = "eyJ0eXAiOiJKV1QiLCJzdGFuZGluIjp0cnVlfQ." + secrets.token_urlsafe(48)
        with self._lock:
            self._tokens[token] = {"client_id": client_id, "audience": audience, "tenant": tenant,
                                   "expires": self._now() + (self.token_lifetime if lifetime is None else lifetime)}
        return token

    def token_info(self, token):
        """What the stand-in knows about an access token (client_id, audience, expires) or None."""
        with self._lock:
            rec = self._tokens.get(token)
            return dict(rec) if rec else None

    # ---------------------------------------------------------------- faults and controls
    def forbid(self, client_id, action="*"):
        """Requests by `client_id` whose ARM action matches the glob (e.g. '*/write',
        'Microsoft.MachineLearningServices/workspaces/onlineEndpoints/*') answer 403 AuthorizationFailed."""
        with self._lock:
            self._forbidden.setdefault(client_id, []).append(action)

    def allow(self, client_id):
        with self._lock:
            self._forbidden.pop(client_id, None)

    def throttle(self, times=1, *, service="arm", retry_after=1, method="*", path=".*"):
        """The next `times` matching requests are throttled the service's way: ARM 429
        TooManyRequests, storage 503 ServerBusy, Entra 429; with Retry-After (None: without)."""
        status, code, message = {
            "arm": (429, "TooManyRequests", "The request is being throttled as the limit has been reached for "
                    "operation type - Read_ObservationWindow_00:05:00. For more information, see - "
                    "https://aka.ms/srpthrottlinglimits"),
            "blob": (503, "ServerBusy", "The server is busy."),
            "entra": (429, "temporarily_unavailable", "AADSTS90055: The request is throttled."),
        }[service]
        self.inject_error(service, status, code=code, message=message, times=times, method=method, path=path,
                          retry_after=retry_after)

    def inject_error(self, service, status, *, code=None, message=None, times=1, method="*", path=".*",
                     retry_after=None):
        """The next `times` requests to `service` (arm | blob | entra | scoring | acr) with a matching METHOD and
        path (re.search) answer `status` with that service's error body."""
        with self._lock:
            self._faults.append({"service": service, "status": status, "code": code, "message": message,
                                 "remaining": times, "method": method.upper(), "path": re.compile(path),
                                 "retry_after": retry_after})

    def fail_provisioning(self, name, *, resource="deployment", code="ResourceNotReady", message=None, logs=None,
                          details=None):
        """Create/update operations on the deployment (or endpoint) named `name` end Failed: the
        operation status carries error{code, message, details}, the resource provisioningState Failed,
        getLogs the given container logs (default: a crash trace). Stays until clear_failures()."""
        message = message or ("User container has crashed or terminated. Please see troubleshooting guide, "
                              "available here: https://aka.ms/oe-tsg#error-resourcenotready")
        logs = logs if logs is not None else (
            "Traceback (most recent call last):\n  File \"/var/azureml-server/entry.py\", line 1, in <module>\n"
            "ModuleNotFoundError: No module named 'missing_dependency'\n")
        with self._lock:
            self._fail[(resource, name.lower())] = {"code": code, "message": message, "logs": logs,
                                                    "details": details or []}

    def hang_provisioning(self, name, *, resource="deployment"):
        """Create and update operations on that deployment (or endpoint) stay Updating until release(name);
        a delete still completes (a stuck deployment can be deleted)."""
        with self._lock:
            self._hang.add((resource, name.lower()))

    def release(self, name, *, resource="deployment"):
        with self._lock:
            self._hang.discard((resource, name.lower()))
            for op in self.operations.values():
                if op["resource"] == resource and op["target"] == name.lower():
                    op["hang"] = False

    def clear_failures(self):
        with self._lock:
            self._fail.clear()
            self._hang.clear()

    def fail_imds(self, status, times=1, retry_after=None):
        """The next `times` IMDS token requests answer `status` (404, 410, 429, 500, ...)."""
        with self._lock:
            self._imds_faults.append({"status": status, "remaining": times, "retry_after": retry_after})

    def throttle_scoring(self, endpoint, times=1, retry_after=1):
        with self._lock:
            self._scoring_faults[endpoint.lower()] = {"remaining": times, "retry_after": retry_after}

    # ---------------------------------------------------------------- inspection
    def arm_requests(self, method=None, contains=None):
        """(method, path, api-version) of ARM requests, in order."""
        with self._lock:
            return [(r["method"], r["path"], r["api_version"]) for r in self.requests if r["service"] == "arm"
                    and (method is None or r["method"] == method) and (contains is None or contains in r["path"])]

    def endpoint(self, name, workspace=None):
        """The endpoint resource as GET shows it (no polling side effect), or None."""
        with self._lock:
            ws = self._ws(workspace)
            ep = ws["endpoints"].get(name.lower())
            return copy.deepcopy(self._render_endpoint(ws, ep, f"https://{ARM_HOST}")) if ep else None

    def deployment(self, endpoint, name, workspace=None):
        with self._lock:
            ws = self._ws(workspace)
            ep = ws["endpoints"].get(endpoint.lower())
            dep = ep and ep["deployments"].get(name.lower())
            return copy.deepcopy(dep["obj"]) if dep else None

    def endpoint_keys(self, name, workspace=None):
        with self._lock:
            return dict(self._ws(workspace)["endpoints"][name.lower()]["keys"])

    def model_version(self, name, version, workspace=None):
        with self._lock:
            m = self._ws(workspace)["models"].get(name.lower())
            v = m and m["versions"].get(str(version))
            return copy.deepcopy(v["obj"]) if v else None

    def _ws(self, workspace=None):
        if workspace is None:
            return self.default_workspace
        if isinstance(workspace, dict):
            return workspace
        if isinstance(workspace, str):
            return next(w for w in self._workspaces.values() if w["name"].lower() == workspace.lower())
        return self._workspaces[tuple(s.lower() for s in workspace)]

    @staticmethod
    def _ws_id(ws):
        return (f"/subscriptions/{ws['sub']}/resourceGroups/{ws['rg']}/providers/{PROVIDER}/workspaces/"
                f"{ws['name']}")

    # ---------------------------------------------------------------- dispatch
    def _dispatch(self, h):
        host = (h.headers.get("Host") or "").strip()
        hostname = (host[1:host.index("]")] if host.startswith("[") else host.rsplit(":", 1)[0]).lower().rstrip(".")
        split = urllib.parse.urlsplit(h.path)
        path = split.path
        query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        q = {k: v[-1] for k, v in query.items()}
        if hostname == LOGIN_HOST:
            service = "entra"
        elif hostname == ARM_HOST:
            service = "arm"
        elif hostname.endswith(BLOB_SUFFIX):
            service = "blob"
        elif hostname.endswith(INFERENCE_SUFFIX):
            service = "scoring"
        elif hostname.endswith(ACR_SUFFIX):
            service = "acr"
        elif hostname in ("127.0.0.1", "localhost", "::1", self.host):
            service = "entra" if re.match(r"^/(common/discovery/|[^/]+/(oauth2/|v2\.0/\.well-known/))", path) else "arm"
        else:
            service = "unknown"
        entry = {"service": service, "method": h.command, "host": hostname, "path": path,
                 "query": {k: v for k, v in q.items() if k.lower() not in ("sig", "client_secret", "client_assertion")},
                 "api_version": q.get("api-version"), "status": None, "client": None, "time": self._now()}
        with self._lock:
            self.requests.append(entry)
        h.entry = entry
        if service == "blob":
            entry["api_version"] = h.headers.get("x-ms-version")
        try:
            body = h.read_body()
            fault = self._take_fault(service, h.command, path)
            if service == "entra":
                self._entra(h, host, path, q, body, fault)
            elif service == "arm":
                self._arm(h, host, path, q, body, fault)
            elif service == "blob":
                self._blob(h, hostname[:-len(BLOB_SUFFIX)], split, query, body, fault)
            elif service == "scoring":
                self._score(h, hostname[:-len(INFERENCE_SUFFIX)], path, body, fault)
            elif service == "acr":
                self._acr(h, hostname, split, body, fault)
            else:
                self._reply(h, 404, b"unknown host\n", "text/plain")
        except (ConnectionError, BrokenPipeError, socket.timeout):
            h.close_connection = True
        except Exception as e:  # a bug in this stand-in: answer 500 and keep the traceback
            with self._lock:
                self.errors.append(traceback.format_exc())
            try:
                self._reply(h, 500, json.dumps({"error": {"code": "InternalServerError",
                                                          "message": f"stand-in bug: {e!r}"}}).encode(),
                            "application/json")
            except OSError:
                pass

    def _acr(self, h, hostname, split, body, fault):
        with self._lock:
            reg = self._registries.get(hostname)
        if reg is None:  # no such registry: the name would not resolve
            return self._reply(h, 404, b"unknown registry\n", "text/plain")
        if fault:
            headers = {"Retry-After": fault["retry_after"]} if fault["retry_after"] is not None else None
            code = fault["code"] or ("TOOMANYREQUESTS" if fault["status"] == 429 else "UNAVAILABLE")
            err = {"errors": [{"code": code, "message": fault["message"] or f"injected {fault['status']}"}]}
            return self._reply(h, fault["status"], json.dumps(err).encode(), "application/json; charset=utf-8",
                               headers)
        reg.handle(h, h.command, split.path, split.query, body)

    def _reply(self, h, status, body=b"", content_type=None, headers=None, head_length=None):
        h.entry["status"] = status
        h.send(status, body, content_type, headers, head_length)

    def _take_fault(self, service, method, path):
        with self._lock:
            for f in self._faults:
                if (f["remaining"] > 0 and f["service"] == service and f["method"] in (method, "*")
                        and f["path"].search(path)):
                    f["remaining"] -= 1
                    return dict(f)
        return None

    # ---------------------------------------------------------------- Entra ID
    def _entra_error(self, h, e):
        now = self._now()
        trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = datetime.datetime.fromtimestamp(now, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
        body = {"error": e.error,
                "error_description": f"AADSTS{e.code}: {e.description} Trace ID: {trace} Correlation ID: {corr} "
                                     f"Timestamp: {stamp}",
                "error_codes": [e.code], "timestamp": stamp, "trace_id": trace, "correlation_id": corr,
                "error_uri": f"https://{LOGIN_HOST}/error?code={e.code}"}
        headers = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache", "x-ms-request-id": trace}
        self._reply(h, e.status, json.dumps(body).encode(), "application/json; charset=utf-8", headers)

    def _entra(self, h, host, path, q, body, fault):
        if fault:
            code = 90055 if fault["status"] == 429 else 90033
            headers = {"Retry-After": fault["retry_after"]} if fault["retry_after"] is not None else {}
            err = {"error": fault["code"] or "temporarily_unavailable",
                   "error_description": fault["message"] or f"AADSTS{code}: injected {fault['status']}",
                   "error_codes": [code]}
            return self._reply(h, fault["status"], json.dumps(err).encode(), "application/json; charset=utf-8",
                               headers)
        base = f"https://{host}"
        try:
            m = re.match(r"^/([^/]+)/v2\.0/\.well-known/openid-configuration$", path)
            if m and h.command == "GET":
                return self._openid(h, base, m.group(1))
            if path == "/common/discovery/instance" and h.command == "GET":
                return self._instance_discovery(h, base, q)
            m = re.match(r"^/([^/]+)/oauth2/v2\.0/token$", path)
            if m and h.command == "POST":
                return self._token(h, base, m.group(1), body)
            raise EntraError(404, "invalid_request", 900561, "The endpoint only accepts POST requests." if m else
                             f"The requested path {path} is not served.")
        except EntraError as e:
            self._entra_error(h, e)

    def _tenant_id(self, tenant, openid=False):
        if tenant in self._tenants:
            return tenant
        if tenant in ("organizations", "common"):
            return self.tenant
        raise EntraError(400, "invalid_tenant" if openid else "invalid_request", 90002,
                         f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are "
                         "signing into the correct cloud. Check with your subscription administrator, this may "
                         "happen if there are no active subscriptions for the tenant.")

    def _openid(self, h, base, tenant):
        tid = self._tenant_id(tenant, openid=True)
        doc = {"token_endpoint": f"{base}/{tid}/oauth2/v2.0/token",
               "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt",
                                                         "client_secret_basic"],
               "jwks_uri": f"{base}/{tid}/discovery/v2.0/keys",
               "response_modes_supported": ["query", "fragment", "form_post"],
               "subject_types_supported": ["pairwise"], "id_token_signing_alg_values_supported": ["RS256"],
               "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
               "scopes_supported": ["openid", "profile", "email", "offline_access"],
               "issuer": f"https://login.microsoftonline.com/{tid}/v2.0", "request_uri_parameter_supported": False,
               "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
               "authorization_endpoint": f"{base}/{tid}/oauth2/v2.0/authorize",
               "device_authorization_endpoint": f"{base}/{tid}/oauth2/v2.0/devicecode",
               "http_logout_supported": True, "frontchannel_logout_supported": True,
               "end_session_endpoint": f"{base}/{tid}/oauth2/v2.0/logout",
               "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid"],
               "kerberos_endpoint": f"{base}/{tid}/kerberos", "tenant_region_scope": "NA",
               "cloud_instance_name": "microsoftonline.com", "cloud_graph_host_name": "graph.windows.net",
               "msgraph_host": "graph.microsoft.com", "rbac_url": "https://pas.windows.net"}
        self._reply(h, 200, json.dumps(doc).encode(), "application/json; charset=utf-8")

    def _instance_discovery(self, h, base, q):
        hostname = base[len("https://"):]
        doc = {"tenant_discovery_endpoint": f"{base}/common/v2.0/.well-known/openid-configuration",
               "api-version": "1.1",
               "metadata": [{"preferred_network": hostname, "preferred_cache": hostname,
                             "aliases": sorted({hostname, LOGIN_HOST, "login.windows.net", "login.microsoft.com",
                                                "sts.windows.net"})}]}
        self._reply(h, 200, json.dumps(doc).encode(), "application/json; charset=utf-8")

    def _token(self, h, base, tenant, body):
        ctype = (h.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            raise EntraError(400, "invalid_request", 900144,
                             "The request body must contain the following parameter: 'grant_type'.")
        form = {k: v[-1] for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace"),
                                                           keep_blank_values=True).items()}
        tid = self._tenant_id(tenant)
        grant = form.get("grant_type")
        if not grant:
            raise EntraError(400, "invalid_request", 900144,
                             "The request body must contain the following parameter: 'grant_type'.")
        if grant != "client_credentials":
            raise EntraError(400, "unsupported_grant_type", 70003,
                             f"The app requested an unsupported grant type '{grant}'.")
        client_id = form.get("client_id")
        if not client_id:
            raise EntraError(400, "invalid_request", 900144,
                             "The request body must contain the following parameter: 'client_id'.")
        h.entry["client"] = client_id
        with self._lock:
            p = self._principals.get(client_id)
            if p is None or p["tenant"] != tid or p["kind"] != "sp":
                raise EntraError(400, "unauthorized_client", 700016,
                                 f"Application with identifier '{client_id}' was not found in the directory "
                                 f"'{tid}'. This can happen if the application has not been installed by the "
                                 "administrator of the tenant or consented to by any user in the tenant. You may "
                                 "have sent your authentication request to the wrong tenant.")
            audience = self._scope_audience(form.get("scope"), tid)
            if "client_secret" in form:
                if form["client_secret"] not in p["secrets"]:
                    raise EntraError(401, "invalid_client", 7000215,
                                     "Invalid client secret provided. Ensure the secret being sent in the request "
                                     "is the client secret value, not the client secret ID, for a secret added to "
                                     f"app '{client_id}'.")
            elif "client_assertion" in form:
                if form.get("client_assertion_type") != JWT_BEARER:
                    raise EntraError(400, "invalid_request", 900144,
                                     "The request body must contain the following parameter: "
                                     "'client_assertion_type'.")
                self._check_assertion(p, form["client_assertion"], base, tid)
            else:
                raise EntraError(401, "invalid_client", 7000218,
                                 "The request body must contain the following parameter: 'client_assertion' or "
                                 "'client_secret'.")
            token = self._mint(client_id, audience, None, tid)
        out = {"token_type": "Bearer", "expires_in": self.token_lifetime, "ext_expires_in": self.token_lifetime,
               "access_token": token}
        self._reply(h, 200, json.dumps(out).encode(), "application/json; charset=utf-8",
                    {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"})

    def _scope_audience(self, scope, tid):
        if not scope:
            raise EntraError(400, "invalid_request", 900144,
                             "The request body must contain the following parameter: 'scope'.")
        scopes = [s for s in scope.split() if s not in ("openid", "profile", "offline_access")]
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            raise EntraError(400, "invalid_scope", 1002012,
                             f"The provided value for scope {scope} is not valid. Client credential flows must have "
                             "a scope value with /.default suffixed to the resource identifier (application ID URI).")
        resource = scopes[0][:-len("/.default")].rstrip("/")
        if resource not in RESOURCES:
            raise EntraError(400, "invalid_resource", 500011,
                             f"The resource principal named {resource} was not found in the tenant named {tid}. This "
                             "can happen if the application has not been installed by the administrator of the "
                             "tenant or consented to by any user in the tenant. You might have sent your "
                             "authentication request to the wrong tenant.")
        return RESOURCES[resource]

    def _check_assertion(self, p, assertion, base, tid):
        if assertion in p["federated"]:
            return
        parts = assertion.split(".")
        try:
            header, claims = json.loads(_b64u_decode(parts[0])), json.loads(_b64u_decode(parts[1]))
            signature = _b64u_decode(parts[2])
            if len(parts) != 3 or not isinstance(header, dict) or not isinstance(claims, dict):
                raise ValueError
        except (ValueError, IndexError, UnicodeDecodeError):
            raise EntraError(401, "invalid_client", 50027, "JWT token is invalid or malformed.") from None
        thumb = None
        if "x5t#S256" in header:
            thumb = "x5t#S256:" + str(header["x5t#S256"]).rstrip("=")
        elif "x5t" in header:
            thumb = "x5t:" + str(header["x5t"]).rstrip("=")
        if thumb is None:
            if p["federated"]:
                raise EntraError(400, "invalid_request", 70021,
                                 "No matching federated identity record found for presented assertion. Assertion "
                                 f"Issuer: '{claims.get('iss')}'. Assertion Subject: '{claims.get('sub')}'. Assertion "
                                 f"Audience: '{claims.get('aud')}'. https://learn.microsoft.com/entra/workload-id/"
                                 "workload-identity-federation")
            raise EntraError(401, "invalid_client", 50027, "JWT token is invalid or malformed.")
        hex_thumb = thumb.split(":", 1)[1]
        try:
            shown = _b64u_decode(hex_thumb).hex().upper()
        except ValueError:
            shown = hex_thumb
        key = p["certs"].get(thumb)
        reason = None
        if key is None:
            reason = "The key was not found."
        else:
            from cryptography.exceptions import InvalidSignature
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.asymmetric import padding

            signed = (parts[0] + "." + parts[1]).encode()
            alg = header.get("alg")
            try:
                if alg == "RS256":
                    key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
                elif alg == "PS256":
                    key.verify(signature, signed, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                              salt_length=padding.PSS.DIGEST_LENGTH), hashes.SHA256())
                else:
                    reason = f"The algorithm '{alg}' is not supported."
            except InvalidSignature:
                reason = "The provided signature value did not match the expected signature value."
        if reason:
            raise EntraError(401, "invalid_client", 700027,
                             f"Client assertion contains an invalid signature. [Reason - {reason}, Thumbprint of "
                             f"key used by client: '{shown}', Please visit the Azure Portal, Graph Explorer or "
                             "directly use MS Graph to see configured keys for app Id "
                             f"'{p['client_id']}'. Review the documentation at "
                             "https://docs.microsoft.com/en-us/graph/deployments if using national clouds.]")
        auds = claims.get("aud")
        auds = auds if isinstance(auds, list) else [auds]
        accepted = {f"{base}/{tid}/oauth2/v2.0/token", f"{base}/{tid}/oauth2/token", f"{base}/{tid}/v2.0",
                    f"https://{LOGIN_HOST}/{tid}/oauth2/v2.0/token"}
        if not any(a in accepted for a in auds):
            raise EntraError(401, "invalid_client", 700023, "Client assertion audience claim does not match Realm "
                             "issuer. Review the documentation at https://docs.microsoft.com/azure/active-directory/"
                             "develop/active-directory-certificate-credentials .")
        if claims.get("iss") != p["client_id"] or claims.get("sub") != p["client_id"]:
            raise EntraError(401, "invalid_client", 700021,
                             "Client assertion application identifier doesn't match 'client_id' parameter. Review "
                             "the documentation at https://docs.microsoft.com/azure/active-directory/develop/"
                             "active-directory-certificate-credentials .")
        now = self._now()
        exp, nbf = claims.get("exp"), claims.get("nbf", claims.get("iat"))
        if not isinstance(exp, (int, float)) or exp <= now or (isinstance(nbf, (int, float)) and nbf > now + 300):
            raise EntraError(401, "invalid_client", 700024,
                             f"Client assertion is not within its valid time range. Current time: {_iso(now)}, "
                             f"assertion valid from {_iso(nbf) if isinstance(nbf, (int, float)) else 'unset'}, "
                             f"expiry time of assertion {_iso(exp) if isinstance(exp, (int, float)) else 'unset'}.")

    # ---------------------------------------------------------------- IMDS
    def _imds(self, h):
        split = urllib.parse.urlsplit(h.path)
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(split.query, keep_blank_values=True).items()}
        entry = {"service": "imds", "method": h.command, "host": "imds", "path": split.path,
                 "query": q, "api_version": q.get("api-version"), "status": None, "client": None, "time": self._now()}
        with self._lock:
            self.requests.append(entry)
        h.entry = entry
        h.read_body()

        def err(status, error, description, headers=None):
            self._reply(h, status, json.dumps({"error": error, "error_description": description}).encode(),
                        "application/json; charset=utf-8", headers)

        if split.path != "/metadata/identity/oauth2/token":
            return err(404, "not_found", "The requested resource was not found.")
        with self._lock:
            fault = next((f for f in self._imds_faults if f["remaining"] > 0), None)
            if fault:
                fault["remaining"] -= 1
        if fault:
            headers = {"Retry-After": fault["retry_after"]} if fault["retry_after"] is not None else None
            return err(fault["status"], "unavailable" if fault["status"] >= 500 else "throttled" if
                       fault["status"] == 429 else "not_found", f"injected {fault['status']}", headers)
        if h.command != "GET":
            return err(405, "invalid_request", "Only GET is allowed.")
        if (h.headers.get("Metadata") or "") != "true":
            return err(400, "bad_request_102", "Required metadata header not specified")
        if not q.get("api-version"):
            return err(400, "invalid_request", "Required query variable 'api-version' is missing")
        resource = q.get("resource")
        if not resource:
            return err(400, "invalid_request", "Required query variable 'resource' is missing")
        # msi_res_id is IMDS's name for a resource id (mi_res_id is App Service's and means nothing here)
        selectors = [(k, q[k]) for k in ("client_id", "object_id", "msi_res_id") if q.get(k)]
        with self._lock:
            if len(selectors) > 1:
                return err(400, "invalid_request", "Only one of client_id, object_id and msi_res_id may be given")
            if selectors:
                field = {"client_id": "client_id", "object_id": "object_id",
                         "msi_res_id": "resource_id"}[selectors[0][0]]
                ident = next((i for i in self._identities if not i["system"]
                              and i[field].lower() == selectors[0][1].lower()), None)
            else:
                system = [i for i in self._identities if i["system"]]
                user = [i for i in self._identities if not i["system"]]
                if not system and len(user) > 1:
                    return err(400, "invalid_request", "Multiple user assigned identities exist, please specify "
                               "the clientId / resourceId of the identity in the token request")
                ident = (system or user or [None])[0]
            if ident is None:
                return err(400, "invalid_request", "Identity not found")
            audience = RESOURCES.get(resource.rstrip("/"))
            if audience is None:
                return err(400, "invalid_resource", f"AADSTS500011: The resource principal named {resource} was not "
                           f"found in the tenant named {self.tenant}.")
            entry["client"] = ident["client_id"]
            token = self._mint(ident["client_id"], audience, None, self.tenant)
        now = int(self._now())
        out = {"access_token": token, "client_id": ident["client_id"], "expires_in": str(self.token_lifetime),
               "expires_on": str(now + self.token_lifetime), "ext_expires_in": str(self.token_lifetime),
               "not_before": str(now), "resource": resource, "token_type": "Bearer"}
        self._reply(h, 200, json.dumps(out).encode(), "application/json; charset=utf-8")

    # ---------------------------------------------------------------- ARM: plumbing
    _OP_RE = re.compile(r"^/subscriptions/([^/]+)/providers/microsoft\.machinelearningservices/locations/([^/]+)/"
                        r"(mfeoperationsstatus|mfeoperationresults)/([^/]+)$", re.I)
    _WS_RE = re.compile(r"^/subscriptions/([^/]+)/resourcegroups/([^/]+)/providers/microsoft\.machinelearningservices/"
                        r"workspaces/([^/]+)(/.*)?$", re.I)
    _ACTIONS = {"listkeys", "regeneratekeys", "token", "listsecrets", "getlogs"}

    def _retry_after_str(self):
        return None if self.retry_after is None else str(self.retry_after)

    def _initial_retry_after(self):
        """Retry-After on a first 202: the generated clients read it as an int (mfe.json declares an integer),
        so a fractional test setting is left out there and only sent on status polls."""
        if self.retry_after is None or self.retry_after != int(self.retry_after):
            return None
        return str(int(self.retry_after))

    def _arm_headers(self, h, error):
        corr = h.headers.get("x-ms-correlation-request-id") or str(uuid.uuid4())
        stamp = datetime.datetime.fromtimestamp(self._now(), datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        headers = {"Cache-Control": "no-cache", "Pragma": "no-cache", "Expires": "-1",
                   "x-ms-request-id": str(uuid.uuid4()), "x-ms-correlation-request-id": corr,
                   "x-ms-routing-request-id": f"EASTUS:{stamp}:{corr}",
                   "x-ms-response-type": "error" if error else "standard",
                   "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
                   "X-Content-Type-Options": "nosniff"}
        if h.command in ("GET", "HEAD"):
            headers["x-ms-ratelimit-remaining-subscription-reads"] = "249"
            headers["x-ms-ratelimit-remaining-subscription-global-reads"] = "3749"
        elif h.command == "DELETE":
            headers["x-ms-ratelimit-remaining-subscription-deletes"] = "199"
            headers["x-ms-ratelimit-remaining-subscription-global-deletes"] = "2999"
        else:
            headers["x-ms-ratelimit-remaining-subscription-writes"] = "199"
            headers["x-ms-ratelimit-remaining-subscription-global-writes"] = "2999"
        return headers

    def _arm_json(self, h, status, obj, headers=None, raw=None):
        body = b"" if status == 204 else (raw if raw is not None else json.dumps(obj).encode())
        hdrs = self._arm_headers(h, status >= 400)
        hdrs.update(headers or {})
        self._reply(h, status, body, None if status == 204 else "application/json; charset=utf-8", hdrs)

    def _arm_error(self, h, e):
        err = {"code": e.code, "message": e.message}
        if e.target:
            err["target"] = e.target
        if not getattr(e, "front", False):   # errors from the Azure ML resource provider carry more
            err["details"] = e.details
            err["additionalInfo"] = [
                {"type": "ComponentName", "info": {"value": "managementfrontend"}},
                {"type": "Correlation", "info": {"value": {"operation": secrets.token_hex(16),
                                                           "request": secrets.token_hex(8)}}},
                {"type": "Environment", "info": {"value": "eastus"}},
                {"type": "Location", "info": {"value": "eastus"}},
                {"type": "Time", "info": {"value": _iso(self._now())}}]
        self._arm_json(h, e.status, {"error": err}, e.headers)

    @staticmethod
    def _front(status, code, message, headers=None):
        e = ArmError(status, code, message, headers=headers)
        e.front = True
        return e

    def _arm_auth(self, h):
        auth = (h.headers.get("Authorization") or "").strip()

        def fail(code, message, description):
            challenge = (f'Bearer authorization_uri="https://login.windows.net/{self.tenant}", error="invalid_token", '
                         f'error_description="{description}"')
            return self._front(401, code, message, {"WWW-Authenticate": challenge})

        if not auth:
            raise fail("AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.",
                       "The authentication failed because of missing 'Authorization' header.")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise fail("AuthenticationFailed", "Authentication failed. The 'Authorization' header is provided in an "
                       "invalid format.", "The access token is missing or invalid.")
        with self._lock:
            rec = self._tokens.get(token.strip())
            rec = dict(rec) if rec else None
        if rec is None:
            raise fail("InvalidAuthenticationToken", "The access token is invalid.", "The access token is invalid.")
        now = self._now()

        def dotnet(t):
            d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
            return (f"{d.month}/{d.day}/{d.year} {d.hour % 12 or 12}:{d.minute:02d}:{d.second:02d} "
                    f"{'AM' if d.hour < 12 else 'PM'}")

        if rec["expires"] <= now:
            msg = (f"The access token expiry UTC time '{dotnet(rec['expires'])}' is earlier than current UTC time "
                   f"'{dotnet(now)}'.")
            raise fail("ExpiredAuthenticationToken", msg, "The access token has expired.")
        if rec["audience"] not in ARM_AUDIENCES:
            raise fail("InvalidAuthenticationTokenAudience",
                       f"The access token has been obtained for wrong audience or resource '{rec['audience']}'. It "
                       "should exactly match with one of the allowed audiences 'https://management.core.windows.net/',"
                       "'https://management.core.windows.net','https://management.azure.com/',"
                       "'https://management.azure.com'.", "The access token has an invalid audience.")
        with self._lock:
            p = self._principals.get(rec["client_id"])
        rec["object_id"] = p["object_id"] if p else str(uuid.uuid5(uuid.NAMESPACE_URL, rec["client_id"]))
        return rec

    def _check_api_version(self, q, location, rtype):
        v = q.get("api-version")
        if not v:
            raise self._front(400, "MissingApiVersionParameter",
                              "The api-version query parameter (?api-version=) is required for all requests.")
        supported = sorted(API_VERSIONS, reverse=True)
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}(-preview|-privatepreview|-alpha|-beta)?", v):
            raise self._front(400, "InvalidApiVersionParameter",
                              f"The api-version '{v}' is invalid. The supported versions are '{','.join(supported)}'.")
        if v not in API_VERSIONS:
            raise self._front(400, "NoRegisteredProviderFound",
                              f"No registered resource provider found for location '{location}' and API version "
                              f"'{v}' for type '{rtype}'. The supported api-versions are '{', '.join(supported)}'. "
                              f"The supported locations are '{', '.join(self.regions)}'.")
        return v

    def _authorize(self, principal, action, scope):
        with self._lock:
            globs = list(self._forbidden.get(principal["client_id"], ()))
        if any(fnmatch.fnmatchcase(action.lower(), g.lower()) for g in globs):
            raise self._front(403, "AuthorizationFailed",
                              f"The client '{principal['client_id']}' with object id '{principal['object_id']}' does "
                              f"not have authorization to perform action '{action}' over scope '{scope}' or the scope "
                              "is invalid. If access was recently granted, please refresh your credentials.")

    @staticmethod
    def _action(segs, method):
        types = [segs[i] for i in range(0, len(segs), 2)]
        if len(segs) % 2 == 1 and segs[-1].lower() in AzureStandIn._ACTIONS:
            return f"{PROVIDER}/workspaces" + "".join("/" + t for t in types) + "/action"
        suffix = {"GET": "read", "HEAD": "read", "PUT": "write", "PATCH": "write",
                  "DELETE": "delete"}.get(method, "action")
        return f"{PROVIDER}/workspaces" + "".join("/" + t for t in types) + "/" + suffix

    def _arm(self, h, host, path, q, body, fault):
        base = f"https://{host}"
        try:
            if fault:
                headers = {"Retry-After": str(fault["retry_after"])} if fault["retry_after"] is not None else {}
                if fault["status"] == 401:
                    headers["WWW-Authenticate"] = (
                        f'Bearer authorization_uri="https://login.windows.net/{self.tenant}", error="invalid_token", '
                        'error_description="The access token is invalid."')
                raise self._front(fault["status"], fault["code"] or {401: "AuthenticationFailed",
                                                                     403: "AuthorizationFailed",
                                                                     429: "TooManyRequests"}.get(fault["status"],
                                                                                                 "InternalServerError"),
                                  fault["message"] or f"injected {fault['status']}", headers)
            principal = self._arm_auth(h)
            h.entry["client"] = principal["client_id"]
            m_op, m_ws = self._OP_RE.match(path), self._WS_RE.match(path)
            segs = [urllib.parse.unquote(s) for s in ((m_ws.group(4) or "") if m_ws else "").split("/") if s]
            rtype = "workspaces" + "".join("/" + segs[i] for i in range(0, len(segs), 2))
            location = self.default_workspace["location"]
            if m_ws:
                ws = self._workspaces.get((m_ws.group(1).lower(), m_ws.group(2).lower(), m_ws.group(3).lower()))
                location = ws["location"] if ws else location
            v = self._check_api_version(q, location, "locations/mfeOperationsStatus" if m_op else rtype)
            if m_op:
                return self._operation_get(h, base, m_op, v)
            if not m_ws:
                raise self._front(404, "InvalidResourceType",
                                  f"The resource type could not be found for path '{path}'.")
            ws = self._resolve_ws(m_ws.group(1), m_ws.group(2), m_ws.group(3))
            self._authorize(principal, self._action(segs, h.command), path)
            data = None
            if body:
                try:
                    data = json.loads(body)
                except ValueError as e:
                    raise self._front(400, "InvalidRequestContent", "The request content was invalid and could not "
                                      f"be deserialized: '{e}'.") from None
            h.entry["body"] = self._redact(data)
            with self._lock:
                self._route(h, base, ws, segs, q, data, v)
        except ArmError as e:
            self._arm_error(h, e)

    @staticmethod
    def _redact(data):
        if not isinstance(data, dict):
            return data
        data = copy.deepcopy(data)
        if isinstance(data.get("properties"), dict) and data["properties"].get("keys"):
            data["properties"]["keys"] = "<redacted>"
        if "keyValue" in data:
            data["keyValue"] = "<redacted>"
        return data

    def _resolve_ws(self, sub, rg, name):
        with self._lock:
            wss = list(self._workspaces.values())
        if not any(w["sub"].lower() == sub.lower() for w in wss):
            raise self._front(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
        if not any(w["sub"].lower() == sub.lower() and w["rg"].lower() == rg.lower() for w in wss):
            raise self._front(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")
        ws = self._workspaces.get((sub.lower(), rg.lower(), name.lower()))
        if ws is None:
            raise self._front(404, "ResourceNotFound",
                              f"The Resource '{PROVIDER}/workspaces/{name}' under resource group '{rg}' was not found. "
                              "For more details please go to https://aka.ms/ARMResourceNotFoundFix")
        return ws

    def _check_body(self, definition, data, v, required=True):
        if data is None or not isinstance(data, dict):
            if required:
                raise user_error(400, "BadArgument", "The request body is required and must be a JSON object.")
            return
        if v == SPEC_API_VERSION:
            problems = _validate(definition, data)
            if problems:
                raise ArmError(400, "UserError", f"The request body is not a valid {definition}: {problems[0]}",
                               [{"code": "BadArgument", "message": p, "details": [], "additionalInfo": []}
                                for p in problems])

    @staticmethod
    def _method_not_allowed(h, segs):
        return ArmError(405, "MethodNotAllowed", f"The HTTP method '{h.command}' is not supported for the resource "
                        f"'{'/'.join(segs) or 'workspace'}'.")

    def _system_data(self, created, modified=None):
        return {"createdAt": _iso(created), "createdBy": "standin@example.com", "createdByType": "User",
                "lastModifiedAt": _iso(modified or created), "lastModifiedBy": "standin@example.com",
                "lastModifiedByType": "User"}

    def _online_system_data(self, created, modified=None):
        """systemData of online endpoints and deployments: the service sends these three fields only (recordings)."""
        return {"createdAt": _iso(created), "createdBy": "standin@example.com",
                "lastModifiedAt": _iso(modified or created)}

    def _page(self, base, path, q, items):
        try:
            skip = int(q.get("$skipToken") or 0)
        except ValueError:
            raise user_error(400, "BadArgument", "The $skipToken is invalid.") from None
        page = items[skip:skip + self.page_size]
        out = {"value": page}
        if skip + self.page_size < len(items):
            qs = dict(q)
            qs["$skipToken"] = str(skip + self.page_size)
            out["nextLink"] = f"{base}{path}?{urllib.parse.urlencode(qs)}"
        return out

    # ---------------------------------------------------------------- ARM: routes
    def _route(self, h, base, ws, segs, q, data, v):
        kinds = [s.lower() for s in segs[0::2]]
        m, n = h.command, len(segs)
        path = urllib.parse.urlsplit(h.path).path
        if n == 0:
            if m != "GET":
                raise self._method_not_allowed(h, segs)
            return self._arm_json(h, 200, self._workspace_obj(ws))
        top = kinds[0]
        if top == "datastores":
            return self._datastores(h, ws, segs, q, data, v)
        if top == "computes":
            if m != "GET" or n > 2:
                raise self._method_not_allowed(h, segs)
            if n == 1:
                return self._arm_json(h, 200, self._page(base, path, q, [self._compute_obj(ws, c) for c in
                                                                         ws["computes"].values()]))
            c = ws["computes"].get(segs[1].lower())
            if c is None:
                raise user_error(404, "NotFound", f"Compute with name {segs[1]} is not found.")
            return self._arm_json(h, 200, self._compute_obj(ws, c))
        if top == "models":
            return self._models(h, base, path, ws, segs, q, data, v)
        if top == "environments":
            return self._environments(h, base, path, ws, segs, q, data, v)
        if top == "onlineendpoints":
            return self._endpoints(h, base, path, ws, segs, q, data, v)
        raise self._front(404, "InvalidResourceType",
                          f"The resource type '{segs[0]}' could not be found in the namespace '{PROVIDER}' for api "
                          f"version '{v}'.")

    def _workspace_obj(self, ws):
        wid = self._ws_id(ws)
        loc = ws["location"]
        return {"id": wid, "name": ws["name"], "type": f"{PROVIDER}/workspaces", "location": loc, "tags": {},
                "etag": None,
                "properties": {"friendlyName": ws["name"], "description": "", "hbiWorkspace": False,
                               "storageAccount": f"/subscriptions/{ws['sub']}/resourceGroups/{ws['rg']}/providers/"
                                                 f"Microsoft.Storage/storageAccounts/{ws['account']}",
                               "keyVault": f"/subscriptions/{ws['sub']}/resourceGroups/{ws['rg']}/providers/"
                                           f"Microsoft.Keyvault/vaults/kv{ws['id'][:8]}",
                               "applicationInsights": f"/subscriptions/{ws['sub']}/resourceGroups/{ws['rg']}/providers/"
                                                      f"Microsoft.insights/components/ai{ws['id'][:8]}",
                               "containerRegistry": f"/subscriptions/{ws['sub']}/resourceGroups/{ws['rg']}/providers/"
                                                    f"Microsoft.ContainerRegistry/registries/cr{ws['id'][:8]}",
                               "tenantId": self.tenant, "imageBuildCompute": None, "provisioningState": "Succeeded",
                               "v1LegacyMode": False, "softDeleteEnabled": False, "creationTime": _iso(ws["created"]),
                               "storageHnsEnabled": False, "workspaceId": ws["id"], "privateLinkCount": 0,
                               "publicNetworkAccess": "Enabled",
                               "discoveryUrl": f"https://{loc}.api.azureml.ms/discovery",
                               "mlFlowTrackingUri": f"azureml://{loc}.api.azureml.ms/mlflow/v1.0{wid}",
                               "systemDatastoresAuthMode": "accesskey", "enableDataIsolation": False},
                "identity": {"type": "SystemAssigned", "principalId": str(uuid.uuid5(uuid.NAMESPACE_URL, wid)),
                             "tenantId": self.tenant},
                "kind": "Default", "sku": {"name": "Basic", "tier": "Basic"},
                "systemData": self._system_data(ws["created"])}

    def _compute_obj(self, ws, c):
        return {"id": self._ws_id(ws) + f"/computes/{c['name']}", "name": c["name"],
                "type": f"{PROVIDER}/workspaces/computes", "location": ws["location"], "tags": {}, "identity": None,
                "properties": {"computeType": c["type"], "computeLocation": ws["location"],
                               "provisioningState": "Succeeded", "description": None,
                               "createdOn": _iso(ws["created"]), "modifiedOn": _iso(ws["created"]),
                               "resourceId": f"/subscriptions/{ws['sub']}/resourceGroups/{ws['rg']}/providers/"
                                             f"Microsoft.ContainerService/managedClusters/{c['name']}",
                               "provisioningErrors": None, "isAttachedCompute": True, "disableLocalAuth": True,
                               "properties": {"namespace": c["namespace"], "defaultInstanceType": "defaultinstancetype",
                                              "instanceTypes": {"defaultinstancetype": {"resources": {
                                                  "requests": {"cpu": "100m", "memory": "2Gi"},
                                                  "limits": {"cpu": "2", "memory": "2Gi"}}}}}}}

    # ---------------------------------------------------------------- datastores
    def _datastore_obj(self, ws, ds):
        return {"id": self._ws_id(ws) + f"/datastores/{ds['name']}", "name": ds["name"],
                "type": f"{PROVIDER}/workspaces/datastores",
                "properties": {"description": None, "tags": {}, "properties": {}, "isDefault": ds["default"],
                               "credentials": {"credentialsType": ds["credentials"]}, "datastoreType": "AzureBlob",
                               "accountName": ds["account"], "containerName": ds["container"],
                               "endpoint": "core.windows.net", "protocol": "https",
                               "serviceDataAccessAuthIdentity": "WorkspaceSystemAssignedIdentity"},
                "systemData": self._system_data(ws["created"])}

    def _datastores(self, h, ws, segs, q, data, v):
        n = len(segs)
        if n == 1 and h.command == "GET":
            items = [d for d in ws["datastores"].values()
                     if q.get("isDefault", "").lower() != "true" or d["default"]]
            return self._arm_json(h, 200, {"value": [self._datastore_obj(ws, d) for d in items]})
        ds = ws["datastores"].get(segs[1]) if n >= 2 else None
        if n >= 2 and ds is None:
            raise user_error(404, "NotFound", f"DataStore {segs[1]} was not found.")
        if n == 2 and h.command == "GET":
            return self._arm_json(h, 200, self._datastore_obj(ws, ds))
        if n == 3 and segs[2].lower() == "listsecrets" and h.command == "POST":
            self._check_body("SecretExpiry", data, v, required=False)
            hours = (data or {}).get("expireAfterHours") or 1
            acct = self._accounts[ds["account"]]
            if ds["credentials"] == "AccountKey":
                return self._arm_json(h, 200, {"secretsType": "AccountKey", "key": acct["key"]})
            if ds["credentials"] == "Sas":
                sas = self._make_account_sas(acct, self._now() + 3600 * float(hours))
                self.issued_sas.append(sas)
                return self._arm_json(h, 200, {"secretsType": "Sas", "sasToken": "?" + sas})
            raise ArmError(400, "UserError", f"No secrets for credentials of type {ds['credentials']}.")
        raise self._method_not_allowed(h, segs)

    # ---------------------------------------------------------------- models and environments
    def _store_model_version(self, ws, name, version, data):
        if not ASSET_NAME_RE.match(name):
            raise user_error(400, "BadArgument", f"Model name '{name}' is invalid: it must match "
                             f"{ASSET_NAME_RE.pattern}.")
        props_in = (data or {}).get("properties")
        if not isinstance(props_in, dict):
            raise user_error(400, "BadArgument", "The model version must have properties.")
        now = self._now()
        m = ws["models"].setdefault(name.lower(), {"name": name, "created": now, "versions": {}, "tags": {},
                                                   "description": None})
        old = m["versions"].get(version)
        if old and props_in.get("modelUri") and old["obj"]["properties"].get("modelUri") != props_in.get("modelUri"):
            raise ArmError(400, "UserError", "Asset paths cannot be updated.")
        props = {"description": None, "tags": {}, "properties": {}, "isArchived": False, "isAnonymous": False,
                 "flavors": {}, "modelType": "custom_model", "modelUri": None, "jobName": None, "stage": "Development",
                 "autoDeleteSetting": None, "intellectualProperty": None}
        props.update(copy.deepcopy(props_in))
        props["provisioningState"] = "Succeeded"
        created = old["created"] if old else now
        obj = {"id": self._ws_id(ws) + f"/models/{m['name']}/versions/{version}", "name": version,
               "type": f"{PROVIDER}/workspaces/models/versions", "properties": props,
               "systemData": self._system_data(created, now)}
        m["versions"][version] = {"obj": obj, "created": created, "seq": next(_SEQ)}
        return obj, old is None

    def _model_container_obj(self, ws, m):
        versions = sorted(m["versions"].values(), key=lambda x: x["seq"])
        latest = versions[-1]["obj"]["name"] if versions else None
        numeric = [int(x["obj"]["name"]) for x in versions if x["obj"]["name"].isdigit()]
        return {"id": self._ws_id(ws) + f"/models/{m['name']}", "name": m["name"],
                "type": f"{PROVIDER}/workspaces/models",
                "properties": {"description": m["description"], "tags": m["tags"], "properties": {},
                               "isArchived": False, "latestVersion": latest,
                               "nextVersion": str(max(numeric) + 1) if numeric else "1",
                               "provisioningState": "Succeeded"},
                "systemData": self._system_data(m["created"])}

    def _models(self, h, base, path, ws, segs, q, data, v):
        n, m = len(segs), h.command
        if n == 1:
            if m != "GET":
                raise self._method_not_allowed(h, segs)
            return self._arm_json(h, 200, self._page(base, path, q, [self._model_container_obj(ws, c)
                                                                     for c in ws["models"].values()]))
        name = segs[1]
        cont = ws["models"].get(name.lower())
        if n == 2:
            if m == "GET":
                if cont is None:
                    raise user_error(404, "ModelNotFound", f"Model container with name: {name} not found.")
                return self._arm_json(h, 200, self._model_container_obj(ws, cont))
            if m == "PUT":
                self._check_body("ModelContainer", data, v)
                created = cont is None
                if created:
                    if not ASSET_NAME_RE.match(name):
                        raise user_error(400, "BadArgument", f"Model name '{name}' is invalid.")
                    cont = ws["models"][name.lower()] = {"name": name, "created": self._now(), "versions": {},
                                                         "tags": {}, "description": None}
                props = (data or {}).get("properties") or {}
                cont["tags"] = props.get("tags") or {}
                cont["description"] = props.get("description")
                return self._arm_json(h, 201 if created else 200, self._model_container_obj(ws, cont))
            if m == "DELETE":
                if cont is None:
                    return self._arm_json(h, 204, None)
                del ws["models"][name.lower()]
                return self._arm_json(h, 200, None, raw=b"")
            raise self._method_not_allowed(h, segs)
        if segs[2].lower() != "versions" or n > 4:
            raise self._front(404, "InvalidResourceType", f"The resource type '{segs[2]}' could not be found.")
        if n == 3:
            if m != "GET":
                raise self._method_not_allowed(h, segs)
            if cont is None:
                raise user_error(404, "ModelNotFound", f"Model container with name: {name} not found.")
            items = sorted(cont["versions"].values(), key=lambda x: x["seq"])
            view = (q.get("listViewType") or "ActiveOnly").lower()
            if view == "activeonly":
                items = [i for i in items if not i["obj"]["properties"].get("isArchived")]
            elif view == "archivedonly":
                items = [i for i in items if i["obj"]["properties"].get("isArchived")]
            if q.get("version"):
                items = [i for i in items if i["obj"]["name"] == q["version"]]
            order = (q.get("$orderBy") or "").lower().replace("%20", " ")
            if order.startswith("createdtime") and order.endswith("desc"):
                items.reverse()
            try:
                skip, top = int(q.get("$skip") or 0), int(q["$top"]) if q.get("$top") else None
            except ValueError:
                raise user_error(400, "BadArgument", "$top and $skip must be integers.") from None
            items = items[skip:]
            if top is not None:
                items = items[:top]
            return self._arm_json(h, 200, self._page(base, path, q, [copy.deepcopy(i["obj"]) for i in items]))
        version = segs[3]
        ver = cont["versions"].get(version) if cont else None
        if m == "GET":
            if ver is None:
                raise user_error(404, "ModelNotFound", f"Could not find model with name {name} and version {version}.")
            return self._arm_json(h, 200, ver["obj"])
        if m == "PUT":
            self._check_body("ModelVersion", data, v)
            obj, created = self._store_model_version(ws, name, version, data)
            headers = {"Location": f"{base}{path}?api-version={v}"} if created else None
            return self._arm_json(h, 201 if created else 200, obj, headers)
        if m == "DELETE":
            if ver is None:
                return self._arm_json(h, 204, None)
            del cont["versions"][version]
            return self._arm_json(h, 200, None, raw=b"")
        raise self._method_not_allowed(h, segs)

    def _store_environment_version(self, ws, name, version, data):
        if not ASSET_NAME_RE.match(name):
            raise user_error(400, "BadArgument", f"Environment name '{name}' is invalid.")
        props_in = (data or {}).get("properties")
        if not isinstance(props_in, dict):
            raise user_error(400, "BadArgument", "The environment version must have properties.")
        if not props_in.get("image") and not props_in.get("build"):
            raise user_error(400, "BadArgument", "Docker image or Dockerfile is required for environments.")
        for route in ("livenessRoute", "readinessRoute", "scoringRoute", "startupRoute"):
            r = (props_in.get("inferenceConfig") or {}).get(route)
            if r is not None and (not isinstance(r, dict) or not r.get("path") or not isinstance(r.get("port"), int)):
                raise user_error(400, "BadArgument", f"inferenceConfig.{route} needs a path and an integer port.")
        now = self._now()
        e = ws["environments"].setdefault(name.lower(), {"name": name, "created": now, "versions": {}})
        old = e["versions"].get(version)
        props = {"description": None, "tags": {}, "properties": {}, "isArchived": False, "isAnonymous": False,
                 "environmentType": "UserCreated", "image": None, "condaFile": None, "build": None, "osType": "Linux",
                 "inferenceConfig": None, "autoRebuild": "Disabled", "stage": "Development"}
        props.update(copy.deepcopy(props_in))
        if props.get("isAnonymous"):
            props["stage"] = "Logged"
        props["provisioningState"] = "Succeeded"
        created = old["created"] if old else now
        obj = {"id": self._ws_id(ws) + f"/environments/{e['name']}/versions/{version}", "name": version,
               "type": f"{PROVIDER}/workspaces/environments/versions", "properties": props,
               "systemData": self._system_data(created, now)}
        e["versions"][version] = {"obj": obj, "created": created, "seq": next(_SEQ)}
        return obj, old is None

    def _environments(self, h, base, path, ws, segs, q, data, v):
        n, m = len(segs), h.command
        if n == 1 and m == "GET":
            return self._arm_json(h, 200, self._page(base, path, q, [
                {"id": self._ws_id(ws) + f"/environments/{e['name']}", "name": e["name"],
                 "type": f"{PROVIDER}/workspaces/environments",
                 "properties": {"latestVersion": max(e["versions"].values(), key=lambda x: x["seq"])["obj"]["name"]
                                if e["versions"] else None, "isArchived": False, "provisioningState": "Succeeded"},
                 "systemData": self._system_data(e["created"])} for e in ws["environments"].values()]))
        if n < 2:
            raise self._method_not_allowed(h, segs)
        env = ws["environments"].get(segs[1].lower())
        if n == 2:
            if m != "GET":
                raise self._method_not_allowed(h, segs)
            if env is None:
                raise user_error(404, "NotFound", f"Environment {segs[1]} not found.")
            return self._arm_json(h, 200, {"id": self._ws_id(ws) + f"/environments/{env['name']}", "name": env["name"],
                                           "type": f"{PROVIDER}/workspaces/environments",
                                           "properties": {"isArchived": False, "provisioningState": "Succeeded"},
                                           "systemData": self._system_data(env["created"])})
        if segs[2].lower() != "versions" or n > 4:
            raise self._front(404, "InvalidResourceType", f"The resource type '{segs[2]}' could not be found.")
        if n == 3:
            if m != "GET":
                raise self._method_not_allowed(h, segs)
            if env is None:
                raise user_error(404, "NotFound", f"Environment {segs[1]} not found.")
            items = sorted(env["versions"].values(), key=lambda x: x["seq"])
            return self._arm_json(h, 200, self._page(base, path, q, [copy.deepcopy(i["obj"]) for i in items]))
        ver = env["versions"].get(segs[3]) if env else None
        if m == "GET":
            if ver is None:
                raise user_error(404, "NotFound", f"Environment {segs[1]}:{segs[3]} not found.")
            return self._arm_json(h, 200, ver["obj"])
        if m == "PUT":
            self._check_body("EnvironmentVersion", data, v)
            obj, created = self._store_environment_version(ws, segs[1], segs[3], data)
            headers = {"Location": f"{base}{path}?api-version={v}"} if created else None
            return self._arm_json(h, 201 if created else 200, obj, headers)
        if m == "DELETE":
            if ver is None:
                return self._arm_json(h, 204, None)
            del env["versions"][segs[3]]
            return self._arm_json(h, 200, None, raw=b"")
        raise self._method_not_allowed(h, segs)

    # ---------------------------------------------------------------- long-running operations
    def _new_operation(self, ws, base, v, resource, endpoint, deployment, action, on_success, on_failure=None):
        target = (deployment or endpoint).lower()
        opname = f"{'odidp' if resource == 'deployment' else 'oeidp'}:{ws['id']}:{uuid.uuid4()}"
        fail = self._fail.get((resource, target)) if action in ("create", "update", "patch") else None
        op = {"name": opname, "resource": resource, "ws": ws["key"], "endpoint": endpoint.lower(),
              "deployment": deployment.lower() if deployment else None, "target": target, "action": action,
              "status": "Updating", "observed": 0, "polls": self.lro_polls,
              "hang": (resource, target) in self._hang and action in ("create", "update", "patch"),
              "fail": copy.deepcopy(fail), "start": self._now(), "end": None, "error": None, "api_version": v,
              "location": ws["location"], "sub": ws["sub"], "on_success": on_success, "on_failure": on_failure}
        self.operations[opname] = op
        prefix = f"{base}/subscriptions/{ws['sub']}/providers/{PROVIDER}/locations/{ws['location']}"
        op["status_url"] = f"{prefix}/mfeOperationsStatus/{opname}?api-version={v}"
        op["results_url"] = f"{prefix}/mfeOperationResults/{opname}?api-version={v}"
        return op

    def _advance(self, op):
        """One observation of a running operation: it completes on the (lro_polls + 1)-th."""
        if op is None or op["status"] != "Updating":
            return
        if op["observed"] < op["polls"] or op["hang"]:   # a hung operation counts polls, completes once released
            op["observed"] += 1
            return
        op["end"] = self._now()
        if op["fail"]:
            f = op["fail"]
            op["status"] = "Failed"
            op["error"] = {"code": f["code"], "message": f["message"], "details": f["details"], "additionalInfo": []}
            if op["on_failure"]:
                op["on_failure"](op)
        else:
            op["status"] = "Succeeded"
            if op["on_success"]:
                op["on_success"](op)

    def _running(self, rec):
        op = self.operations.get(rec.get("op")) if rec else None
        return op if op and op["status"] == "Updating" else None

    def _operation_get(self, h, base, m, v):
        kind, opname = m.group(3).lower(), urllib.parse.unquote(m.group(4))
        with self._lock:
            op = self.operations.get(opname)
            if op is None or op["sub"].lower() != m.group(1).lower():
                raise user_error(404, "NotFound", f"Operation {opname} was not found.")
            self._advance(op)
            running = op["status"] == "Updating"
            retry = {"Retry-After": self._retry_after_str()} if running and self.retry_after is not None else {}
            if kind == "mfeoperationsstatus":
                body = {"id": f"/subscriptions/{op['sub']}/providers/{PROVIDER}/locations/{op['location']}/"
                              f"mfeOperationsStatus/{opname}",
                        "name": opname, "status": op["status"], "startTime": _iso(op["start"]),
                        "endTime": _iso(op["end"]) if op["end"] else NOT_STARTED,
                        # the service leaves it at 0.0, also once Succeeded (recordings); Failed is unrecorded
                        "percentComplete": 100.0 if op["status"] in ("Failed", "Canceled") else 0.0}
                if op["error"]:
                    body["error"] = op["error"]
                return self._arm_json(h, 200, body, retry)
            if running:
                return self._arm_json(h, 202, None, dict(retry, Location=f"{base}{h.path}"), raw=b"")
            if op["status"] == "Failed":
                e = ArmError(400, op["error"]["code"], op["error"]["message"], op["error"]["details"])
                raise e
            if op["action"] == "patch":
                ws = self._workspaces[op["ws"]]
                ep = ws["endpoints"].get(op["endpoint"])
                if op["resource"] == "endpoint" and ep:
                    return self._arm_json(h, 200, self._render_endpoint(ws, ep, base))
                dep = ep and ep["deployments"].get(op["deployment"])
                if dep:
                    return self._arm_json(h, 200, dep["obj"])
            return self._arm_json(h, 200, None, raw=b"")

    def _lro_headers(self, op, base, resource_path, v, async_op=True, location_results=False):
        headers = {"x-ms-async-operation-timeout": "PT30M"}
        if async_op:
            headers["Azure-AsyncOperation"] = op["status_url"]
        headers["Location"] = op["results_url"] if location_results else f"{base}{resource_path}?api-version={v}"
        return headers

    # ---------------------------------------------------------------- endpoints
    @staticmethod
    def _check_name(name, what):
        if not 3 <= len(name) <= 32:
            raise user_error(400, "BadArgument", f"The name for {what} must be at least 3 and at most 32 characters "
                             "long (inclusive of both limits).")
        if not NAME_RE.match(name):
            raise user_error(400, "BadArgument", f"The name for {what} must start with an upper- or lowercase letter "
                             "and only consist of '-'s and alphanumeric characters, and end with an alphanumeric "
                             "character.")

    def _check_location(self, ws, body):
        loc = body.get("location")
        if not isinstance(loc, str) or not loc:
            raise user_error(400, "BadArgument", "The 'location' property is required.")
        if loc.lower().replace(" ", "") != ws["location"]:
            raise user_error(400, "BadArgument", f"The location '{loc}' does not match the workspace location "
                             f"'{ws['location']}'.")
        return ws["location"]

    def _identity(self, ident, old=None):
        if ident is None:
            return copy.deepcopy(old) if old else None
        if not isinstance(ident, dict) or not isinstance(ident.get("type"), str):
            raise user_error(400, "BadArgument", "identity.type is required.")
        kinds = {"none": "None", "systemassigned": "SystemAssigned", "userassigned": "UserAssigned",
                 "systemassigned,userassigned": "SystemAssigned,UserAssigned"}
        t = kinds.get(ident["type"].replace(" ", "").lower())
        if t is None:
            raise user_error(400, "BadArgument", f"identity.type '{ident['type']}' is not one of None, SystemAssigned, "
                             "UserAssigned, SystemAssigned,UserAssigned.")
        out = {"type": t}
        if "SystemAssigned" in t:
            out["principalId"] = (old or {}).get("principalId") or str(uuid.uuid4())
            out["tenantId"] = self.tenant
        uais = ident.get("userAssignedIdentities") or {}
        if "UserAssigned" in t:
            if not uais:
                raise user_error(400, "BadArgument", "userAssignedIdentities is required for UserAssigned identities.")
            out["userAssignedIdentities"] = {
                k: {"principalId": str(uuid.uuid5(uuid.NAMESPACE_URL, k + "p")),
                    "clientId": str(uuid.uuid5(uuid.NAMESPACE_URL, k + "c"))} for k in uais}
        return out

    def _check_traffic(self, ep, traffic, mirror, kubernetes):
        deps = ep["deployments"] if ep else {}

        def ints(d, what):
            if d is None:
                return {}
            if not isinstance(d, dict):
                raise user_error(400, "BadArgument", f"{what} must be a map of deployment names to integers.")
            for k, val in d.items():
                if isinstance(val, bool) or not isinstance(val, int) or not 0 <= val <= 100:
                    raise user_error(400, "BadArgument", f"{what} value for deployment '{k}' must be an integer "
                                     f"between 0 and 100, got {val!r}.")
                if k.lower() not in deps:
                    raise user_error(400, "BadArgument", f"{what} refers to deployment '{k}', which does not exist in "
                                     "this endpoint.")
            return dict(d)

        traffic, mirror = ints(traffic, "Traffic"), ints(mirror, "Mirror traffic")
        total = sum(traffic.values())
        if total not in (0, 100):
            raise user_error(400, "BadArgument", f"Traffic values need to sum to 100 (or 0); they sum to {total}.")
        for k, val in traffic.items():
            state = deps[k.lower()]["obj"]["properties"]["provisioningState"]
            if val > 0 and state != "Succeeded":
                raise user_error(400, "BadArgument", f"Deployment '{k}' is in provisioning state {state} and cannot "
                                 "receive traffic.")
        live = {k.lower() for k, val in traffic.items() if val > 0}
        shadow = {k: val for k, val in mirror.items() if val > 0}
        if shadow and kubernetes:
            raise user_error(400, "BadArgument", "Mirror traffic is not supported for Kubernetes online endpoints.")
        if len(shadow) > 1:
            raise user_error(400, "BadArgument", "Mirror traffic can be set for only one deployment.")
        for k, val in shadow.items():
            if val > 50:
                raise user_error(400, "BadArgument", f"Mirror traffic for deployment '{k}' is {val}; traffic values "
                                 "need to sum to at most 50.")
            if k.lower() in live:
                raise user_error(400, "BadArgument", f"Deployment '{k}' receives live traffic and cannot also receive "
                                 "mirror traffic.")
        return traffic, mirror

    def _resolve_compute(self, ws, compute):
        if not compute:
            return None
        if not isinstance(compute, str):
            raise user_error(400, "BadArgument", "properties.compute must be the ARM id of a compute.")
        name = compute.rstrip("/").split("/")[-1]
        if compute.startswith("/") and not re.search(r"/workspaces/[^/]+/computes/[^/]+$", compute, re.I):
            raise user_error(400, "BadArgument", f"'{compute}' is not the ARM id of a workspace compute.")
        c = ws["computes"].get(name.lower())
        if c is None:
            raise user_error(400, "BadArgument", f"Compute '{name}' was not found in the workspace.")
        if c["type"] != "Kubernetes":
            raise user_error(400, "BadArgument", f"Compute '{name}' is of type {c['type']}; Kubernetes online "
                             "endpoints need a Kubernetes compute.")
        return self._ws_id(ws) + f"/computes/{c['name']}"

    def _render_endpoint(self, ws, ep, base):
        return ep["obj"]

    def _endpoints(self, h, base, path, ws, segs, q, data, v):
        n, m = len(segs), h.command
        if n == 1:
            if m != "GET":
                raise self._method_not_allowed(h, segs)
            items = [copy.deepcopy(e["obj"]) for e in ws["endpoints"].values()]
            return self._arm_json(h, 200, self._page(base, path, q, items))
        name = segs[1]
        ep = ws["endpoints"].get(name.lower())
        if n == 2:
            if m == "GET":
                if ep is None:
                    raise user_error(404, "NotFound", f"Could not find online endpoint '{name}' in workspace "
                                     f"'{ws['name']}'.")
                self._advance(self._running(ep))
                return self._arm_json(h, 200, ep["obj"])
            if m == "PUT":
                return self._endpoint_put(h, base, path, ws, name, ep, data, v)
            if m == "PATCH":
                return self._endpoint_patch(h, base, path, ws, name, ep, data, v)
            if m == "DELETE":
                return self._endpoint_delete(h, base, path, ws, name, ep, v)
            raise self._method_not_allowed(h, segs)
        if ep is None:
            raise user_error(404, "NotFound", f"Could not find online endpoint '{name}' in workspace '{ws['name']}'.")
        sub = segs[2].lower()
        if n == 3 and sub == "listkeys" and m == "POST":
            if ep["obj"]["properties"]["authMode"] != "Key":
                raise user_error(400, "BadArgument", f"Keys are only available for endpoints with authMode Key; "
                                 f"endpoint '{name}' uses {ep['obj']['properties']['authMode']}.")
            return self._arm_json(h, 200, {"primaryKey": ep["keys"]["primary"],
                                           "secondaryKey": ep["keys"]["secondary"]})
        if n == 3 and sub == "regeneratekeys" and m == "POST":
            self._check_body("RegenerateEndpointKeysRequest", data, v)
            kt = str(data.get("keyType") or "")
            if kt.lower() not in ("primary", "secondary"):
                raise user_error(400, "BadArgument", "keyType must be Primary or Secondary.")
            if ep["obj"]["properties"]["authMode"] != "Key":
                raise user_error(400, "BadArgument", f"Keys can only be regenerated for endpoints with authMode Key.")
            if self._running(ep):
                raise self._conflict("online endpoint", name)
            # azure-ai-ml sends the *current* key as keyValue and its e2e tests expect a new key afterwards:
            # the service makes one unless keyValue names a different value.
            wanted = data.get("keyValue")
            new = wanted if wanted and wanted != ep["keys"][kt.lower()] else _new_key()

            def done(op, ep=ep, slot=kt.lower(), new=new):
                ep["keys"][slot] = new

            op = self._new_operation(ws, base, v, "endpoint", name, None, "regenerate", done)
            headers = {"Location": op["results_url"]}
            if self._initial_retry_after():
                headers["Retry-After"] = self._initial_retry_after()
            return self._arm_json(h, 202, None, headers, raw=b"")
        if n == 3 and sub == "token" and m == "POST":
            if ep["obj"]["properties"]["authMode"] != "AMLToken":
                raise user_error(400, "BadArgument", f"Tokens are only available for endpoints with authMode "
                                 f"AMLToken; endpoint '{name}' uses {ep['obj']['properties']['authMode']}.")
            token = "aml." + secrets.token_urlsafe(48)
            now = self._now()
            self._aml_tokens[token] = {"ws": ws["key"], "endpoint": name.lower(),
                                       "expires": now + self.aml_token_lifetime}
            return self._arm_json(h, 200, {"accessToken": token, "tokenType": "Bearer",
                                           "expiryTimeUtc": int(now + self.aml_token_lifetime),
                                           "refreshAfterTimeUtc": int(now + self.aml_token_lifetime / 2)})
        if sub == "deployments":
            return self._deployments(h, base, path, ws, ep, segs, q, data, v)
        raise self._front(404, "InvalidResourceType", f"The resource type '{segs[2]}' could not be found.")

    @staticmethod
    def _conflict(what, name):
        return user_error(409, "Conflict", f"There is an operation in progress on {what} '{name}'. Wait for it to "
                          "finish before starting another one.")

    def _endpoint_put(self, h, base, path, ws, name, ep, data, v):
        self._check_body("OnlineEndpoint", data, v)
        self._check_name(name, "an endpoint")
        loc = self._check_location(ws, data)
        props_in = data.get("properties")
        if not isinstance(props_in, dict):
            raise user_error(400, "BadArgument", "The 'properties' property is required.")
        auth = {"key": "Key", "amltoken": "AMLToken", "aadtoken": "AADToken"}.get(str(props_in.get("authMode")).lower())
        if auth is None:
            raise user_error(400, "BadArgument", f"authMode must be one of Key, AMLToken, AADToken; got "
                             f"{props_in.get('authMode')!r}.")
        compute = self._resolve_compute(ws, props_in.get("compute"))
        if compute and auth == "AADToken":
            raise user_error(400, "BadArgument", "AADToken authentication is not supported for Kubernetes online "
                             "endpoints.")
        if ep is None:
            for other in self._workspaces.values():
                if other["location"] == loc and name.lower() in other["endpoints"]:
                    raise user_error(400, "BadArgument", f"An endpoint with the name '{name}' already exists in "
                                     f"region {loc}. Endpoint names must be unique per region.")
        else:
            if self._running(ep):
                raise self._conflict("online endpoint", name)
            if bool(compute) != bool(ep["obj"]["properties"]["compute"]):
                raise user_error(400, "BadArgument", "The compute of an online endpoint cannot be changed.")
        traffic, mirror = self._check_traffic(ep, props_in.get("traffic"), props_in.get("mirrorTraffic"), bool(compute))
        now = self._now()
        old = ep["obj"] if ep else None
        keys = props_in.get("keys") or {}
        if ep is None:
            ep = {"name": name, "keys": {"primary": keys.get("primaryKey") or _new_key(),
                                         "secondary": keys.get("secondaryKey") or _new_key()},
                  "deployments": {}, "op": None, "rr": {}, "mirror_acc": 0, "created": now}
        op = self._new_operation(ws, base, v, "endpoint", name, None, "create" if old is None else "update",
                                 self._endpoint_ready, self._endpoint_failed)
        ep["op"] = op["name"]
        extra = dict((old or {}).get("properties", {}).get("properties") or {})
        extra.update(props_in.get("properties") or {})
        extra["azureml.onlineendpointid"] = (self._ws_id(ws) + f"/onlineEndpoints/{name}").lower()
        extra["AzureAsyncOperationUri"] = op["status_url"]
        props = {"description": props_in.get("description"), "properties": extra,
                 "scoringUri": old["properties"]["scoringUri"] if old else None,
                 "swaggerUri": old["properties"]["swaggerUri"] if old else None,
                 "authMode": auth, "provisioningState": "Creating" if old is None else "Updating",
                 "compute": compute, "traffic": traffic, "mirrorTraffic": mirror,
                 "publicNetworkAccess": props_in.get("publicNetworkAccess") or "Enabled"}   # keys: never returned
        ep["obj"] = {"id": self._ws_id(ws) + f"/onlineEndpoints/{name if old is None else old['name']}",
                     "name": name if old is None else old["name"], "type": f"{PROVIDER}/workspaces/onlineEndpoints",
                     "properties": props, "systemData": self._online_system_data(ep["created"], now),
                     "tags": data.get("tags") or {}, "location": loc, "kind": "K8S" if compute else "Managed",
                     "identity": self._identity(data.get("identity"), (old or {}).get("identity"))}
        if data.get("sku"):
            ep["obj"]["sku"] = data["sku"]
        ep["rr"] = {}
        ws["endpoints"][name.lower()] = ep
        headers = self._lro_headers(op, base, path, v)
        return self._arm_json(h, 201, ep["obj"], headers)   # 201 for updates too (recorded; mfe.json: 200 = sync)

    def _endpoint_ready(self, op):
        ws = self._workspaces[op["ws"]]
        ep = ws["endpoints"].get(op["endpoint"])
        if ep is None:
            return
        p = ep["obj"]["properties"]
        p["provisioningState"] = "Succeeded"
        host = f"{ep['name'].lower()}.{ws['location']}{INFERENCE_SUFFIX}"
        p["scoringUri"] = f"https://{host}/score"
        p["swaggerUri"] = f"https://{host}/swagger.json"

    def _endpoint_failed(self, op):
        ws = self._workspaces[op["ws"]]
        ep = ws["endpoints"].get(op["endpoint"])
        if ep is not None:
            ep["obj"]["properties"]["provisioningState"] = "Failed"

    def _endpoint_patch(self, h, base, path, ws, name, ep, data, v):
        if ep is None:
            raise user_error(404, "NotFound", f"Could not find online endpoint '{name}' in workspace '{ws['name']}'.")
        self._check_body("PartialMinimalTrackedResourceWithIdentity", data, v)
        if self._running(ep):
            raise self._conflict("online endpoint", name)
        obj = ep["obj"]
        if "tags" in data and data["tags"] is not None:
            obj["tags"] = dict(data["tags"])
        if data.get("identity") is not None:
            obj["identity"] = self._identity(data["identity"], obj.get("identity"))
        props = data.get("properties") or {}
        # 2022-02-01-preview's PATCH body (PartialOnlineEndpointPartialTrackedResource) carried traffic;
        # from 2022-05-01 on the body is tags and identity only and the service ignores anything else.
        if v == "2022-02-01-preview" and ("traffic" in props or "mirrorTraffic" in props):
            traffic, mirror = self._check_traffic(
                ep, props.get("traffic", obj["properties"]["traffic"]),
                props.get("mirrorTraffic", obj["properties"]["mirrorTraffic"]), bool(obj["properties"]["compute"]))
            obj["properties"]["traffic"], obj["properties"]["mirrorTraffic"] = traffic, mirror
        else:
            for k in props:
                self.ignored_fields.append((h.command, path, f"properties.{k}"))
        for k in data:
            if k not in ("tags", "identity", "properties", "location", "kind", "sku"):
                self.ignored_fields.append((h.command, path, k))
        obj["properties"]["provisioningState"] = "Updating"
        obj["systemData"]["lastModifiedAt"] = _iso(self._now())
        op = self._new_operation(ws, base, v, "endpoint", name, None, "patch", self._endpoint_ready,
                                 self._endpoint_failed)
        ep["op"] = op["name"]
        headers = {"Location": op["results_url"]}
        if self._initial_retry_after():
            headers["Retry-After"] = self._initial_retry_after()
        return self._arm_json(h, 202, None, headers, raw=b"")

    def _endpoint_delete(self, h, base, path, ws, name, ep, v):
        if ep is None:
            return self._arm_json(h, 204, None)
        running = self._running(ep)
        if running and running["action"] == "delete":
            headers = self._lro_headers(running, base, path, v, location_results=True)
            return self._arm_json(h, 202, None, headers, raw=b"null")
        if running:
            raise self._conflict("online endpoint", name)
        ep["obj"]["properties"]["provisioningState"] = "Deleting"

        def gone(op, ws=ws, key=name.lower()):
            ep = ws["endpoints"].pop(key, None)
            for dep in (ep or {}).get("deployments", {}).values():
                self._deployment_gone(ws, ep, dep)

        op = self._new_operation(ws, base, v, "endpoint", name, None, "delete", gone)
        ep["op"] = op["name"]
        headers = self._lro_headers(op, base, path, v, location_results=True)
        return self._arm_json(h, 202, None, headers, raw=b"null")

    # ---------------------------------------------------------------- deployments
    def _deployment_gone(self, ws, ep, dep):
        self._backends.pop((ws["key"], ep["name"].lower(), dep["name"].lower()), None)
        if self.on_deployment_gone:
            try:
                self.on_deployment_gone(self._deployment_info(ws, ep, dep))
            except Exception:
                self.errors.append(traceback.format_exc())

    def _deployment_info(self, ws, ep, dep):
        env = self._lookup_environment(ws, dep["obj"]["properties"].get("environmentId"))
        return {"workspace": ws["name"], "endpoint": ep["name"], "deployment": dep["name"],
                "properties": copy.deepcopy(dep["obj"]["properties"]), "sku": copy.deepcopy(dep["obj"].get("sku")),
                "environment": copy.deepcopy(env["obj"]) if env else None,
                "model": copy.deepcopy(self._lookup_model(dep["obj"]["properties"].get("model")))}

    def _parse_asset_id(self, arm_id, kind):
        m = re.fullmatch(r"/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.MachineLearningServices/"
                         rf"workspaces/([^/]+)/{kind}/([^/]+)/versions/([^/]+)", arm_id or "", re.I)
        if not m:
            return None
        ws = self._workspaces.get((m.group(1).lower(), m.group(2).lower(), m.group(3).lower()))
        return ws, m.group(4), m.group(5)

    def _lookup_model(self, arm_id):
        parsed = self._parse_asset_id(arm_id, "models")
        if not parsed or not parsed[0]:
            return None
        ws, name, version = parsed
        m = ws["models"].get(name.lower())
        v = m and m["versions"].get(version)
        return v["obj"] if v else None

    def _lookup_environment(self, ws, arm_id):
        parsed = self._parse_asset_id(arm_id, "environments")
        if not parsed or not parsed[0]:
            return None
        ws, name, version = parsed
        e = ws["environments"].get(name.lower())
        return e and e["versions"].get(version)

    def _deployments(self, h, base, path, ws, ep, segs, q, data, v):
        n, m = len(segs), h.command
        if n == 3:
            if m != "GET":
                raise self._method_not_allowed(h, segs)
            return self._arm_json(h, 200, self._page(base, path, q, [copy.deepcopy(d["obj"])
                                                                     for d in ep["deployments"].values()]))
        name = segs[3]
        dep = ep["deployments"].get(name.lower())
        if n == 4:
            if m == "GET":
                if dep is None:
                    raise user_error(404, "NotFound", f"Could not find online deployment '{name}' in endpoint "
                                     f"'{ep['name']}'.")
                self._advance(self._running(dep))
                return self._arm_json(h, 200, dep["obj"])
            if m == "PUT":
                return self._deployment_put(h, base, path, ws, ep, name, dep, data, v)
            if m == "PATCH":
                return self._deployment_patch(h, base, path, ws, ep, name, dep, data, v)
            if m == "DELETE":
                return self._deployment_delete(h, base, path, ws, ep, name, dep, v)
            raise self._method_not_allowed(h, segs)
        if dep is None:
            raise user_error(404, "NotFound", f"Could not find online deployment '{name}' in endpoint '{ep['name']}'.")
        sub = segs[4].lower()
        if n == 5 and sub == "getlogs" and m == "POST":
            self._check_body("DeploymentLogsRequest", data, v, required=False)
            data = data or {}
            ctype = data.get("containerType") or "InferenceServer"
            kinds = {"inferenceserver": "InferenceServer", "storageinitializer": "StorageInitializer"}
            if str(ctype).lower() not in kinds:
                raise user_error(400, "BadArgument", f"containerType must be InferenceServer or StorageInitializer, "
                                 f"got {ctype!r}.")
            tail = data.get("tail")
            if tail is not None and (isinstance(tail, bool) or not isinstance(tail, int) or tail < 0):
                raise user_error(400, "BadArgument", f"tail must be a non-negative integer, got {tail!r}.")
            text = dep["logs"].get(kinds[str(ctype).lower()], "")
            if tail is not None:
                lines = text.splitlines(keepends=True)
                text = "".join(lines[-tail:]) if tail else ""
            return self._arm_json(h, 200, {"content": text})
        if n == 5 and sub == "skus" and m == "GET":
            return self._arm_json(h, 200, self._page(base, path, q, [{
                "resourceType": f"{PROVIDER}/workspaces/onlineEndpoints/deployments",
                "sku": {"name": "Default", "tier": "Standard"},
                "capacity": {"minimum": 1, "maximum": 20, "default": 1, "scaleType": "Automatic"}}]))
        raise self._front(404, "InvalidResourceType", f"The resource type '{segs[4]}' could not be found.")

    def _deployment_put(self, h, base, path, ws, ep, name, dep, data, v):
        self._check_body("OnlineDeployment", data, v)
        self._check_name(name, "a deployment")
        loc = self._check_location(ws, data)
        if self._running(ep) and self._running(ep)["action"] == "delete":
            raise self._conflict("online endpoint", ep["name"])
        if dep is not None and self._running(dep):
            raise self._conflict("online deployment", name)
        p_in = data.get("properties")
        if not isinstance(p_in, dict):
            raise user_error(400, "BadArgument", "The 'properties' property is required.")
        ctype = {"managed": "Managed", "kubernetes": "Kubernetes", "azuremlcompute": "AzureMLCompute"}.get(
            str(p_in.get("endpointComputeType")).lower())
        if ctype is None:
            raise user_error(400, "BadArgument", "endpointComputeType must be Managed, Kubernetes or AzureMLCompute.")
        k8s = bool(ep["obj"]["properties"]["compute"])
        if ctype == "AzureMLCompute" or (ctype == "Kubernetes") != k8s:
            raise user_error(400, "BadArgument", f"A {ctype} deployment cannot be created in "
                             f"{'a Kubernetes' if k8s else 'a managed'} online endpoint.")
        if ctype == "Managed" and not p_in.get("instanceType"):
            raise user_error(400, "BadArgument", "instanceType is required for managed online deployments.")
        model = p_in.get("model")
        model_obj = None
        if model is not None:
            if not isinstance(model, str):
                raise user_error(400, "BadArgument", "properties.model must be a string.")
            if not model.lower().startswith("azureml://registries/"):
                parsed = self._parse_asset_id(model, "models")
                if parsed is None:
                    raise user_error(400, "BadArgument", f"'{model}' is not the ARM id of a model version.")
                model_obj = self._lookup_model(model)
                if model_obj is None:
                    raise user_error(400, "BadArgument", f"Model '{model}' was not found.")
        env_id = p_in.get("environmentId")
        if env_id is not None:
            if not isinstance(env_id, str):
                raise user_error(400, "BadArgument", "properties.environmentId must be a string.")
            if not env_id.lower().startswith("azureml://registries/") and \
                    not env_id.lower().startswith("azureml:") and self._lookup_environment(ws, env_id) is None:
                raise user_error(400, "BadArgument", f"Environment '{env_id}' was not found.")
        else:
            if model is None:
                raise user_error(400, "BadArgument", "A deployment needs a model or an environment.")
            if model_obj is not None and str(model_obj["properties"].get("modelType")).lower() not in (
                    "mlflow_model", "mlflowmodel"):
                raise user_error(400, "BadArgument", "Only MLflow models can be deployed without an environment and "
                                 "a scoring script; specify environmentId and codeConfiguration.")
        code = p_in.get("codeConfiguration")
        if code is not None:
            if not isinstance(code, dict) or not code.get("scoringScript"):
                raise user_error(400, "BadArgument", "codeConfiguration.scoringScript is required.")
            if env_id is None:
                raise user_error(400, "BadArgument", "A deployment with codeConfiguration needs an environmentId.")
        sku = data.get("sku") or {"name": "Default", "capacity": 1}
        cap = sku.get("capacity", 1)
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
            raise user_error(400, "BadArgument", f"sku.capacity must be a positive integer, got {cap!r}.")
        now = self._now()
        old = dep["obj"] if dep else None
        if dep is None:
            dep = {"name": name, "created": now, "op": None, "logs": {}}
        op = self._new_operation(ws, base, v, "deployment", ep["name"], name, "create" if old is None else "update",
                                 self._deployment_ready, self._deployment_failed)
        dep["op"] = op["name"]
        props = {"endpointComputeType": ctype, "model": model, "environmentId": env_id, "codeConfiguration": code,
                 "description": p_in.get("description"), "environmentVariables": p_in.get("environmentVariables") or {},
                 "properties": dict(p_in.get("properties") or {}),
                 "appInsightsEnabled": bool(p_in.get("appInsightsEnabled")),
                 "egressPublicNetworkAccess": p_in.get("egressPublicNetworkAccess") or "Enabled",
                 "livenessProbe": p_in.get("livenessProbe") or dict(DEFAULT_PROBE),
                 "readinessProbe": p_in.get("readinessProbe") or dict(DEFAULT_PROBE),
                 "requestSettings": dict({"maxQueueWait": "PT0S", "requestTimeout": "PT5S",
                                          "maxConcurrentRequestsPerInstance": 1},
                                         **(p_in.get("requestSettings") or {})),
                 "scaleSettings": p_in.get("scaleSettings") or {"scaleType": "Default"},
                 "instanceType": p_in.get("instanceType") or ("defaultinstancetype" if ctype == "Kubernetes" else None),
                 "modelMountPath": p_in.get("modelMountPath"), "dataCollector": p_in.get("dataCollector"),
                 "provisioningState": "Creating" if old is None else "Updating"}
        if ctype == "Kubernetes":   # always an object: azure-ai-ml 1.35.2 dereferences it unchecked
            props["containerResourceRequirements"] = p_in.get("containerResourceRequirements") or {
                "containerResourceRequests": None, "containerResourceLimits": None}
        props["properties"]["AzureAsyncOperationUri"] = op["status_url"]
        dep["obj"] = {"id": ep["obj"]["id"] + f"/deployments/{name if old is None else old['name']}",
                      "name": name if old is None else old["name"],
                      "type": f"{PROVIDER}/workspaces/onlineEndpoints/deployments", "location": loc,
                      "tags": data.get("tags") or {}, "kind": ctype if ctype == "Managed" else "K8S",
                      "sku": dict({"tier": "Standard"}, **sku),
                      "properties": props, "systemData": self._online_system_data(dep["created"], now)}
        if data.get("identity") is not None:   # no identity key otherwise (recordings)
            dep["obj"]["identity"] = data["identity"]
        ep["deployments"][name.lower()] = dep
        return self._arm_json(h, 201, dep["obj"], self._lro_headers(op, base, path, v))   # 201 for updates too

    def _deployment_ready(self, op):
        ws = self._workspaces[op["ws"]]
        ep = ws["endpoints"].get(op["endpoint"])
        dep = ep and ep["deployments"].get(op["deployment"])
        if not dep:
            return
        dep["obj"]["properties"]["provisioningState"] = "Succeeded"
        dep["logs"] = {"InferenceServer": DEFAULT_LOG, "StorageInitializer": DEFAULT_STORAGE_LOG}
        key = (ws["key"], ep["name"].lower(), dep["name"].lower())
        if self.on_deployment_ready and op["action"] in ("create", "update"):
            try:
                url = self.on_deployment_ready(self._deployment_info(ws, ep, dep))
            except Exception:
                self.errors.append(traceback.format_exc())
                url = None
            if url:
                self._backends[key] = url.rstrip("/")

    def _deployment_failed(self, op):
        ws = self._workspaces[op["ws"]]
        ep = ws["endpoints"].get(op["endpoint"])
        dep = ep and ep["deployments"].get(op["deployment"])
        if dep:
            dep["obj"]["properties"]["provisioningState"] = "Failed"
            dep["logs"] = {"InferenceServer": op["fail"]["logs"], "StorageInitializer": DEFAULT_STORAGE_LOG}

    def _deployment_patch(self, h, base, path, ws, ep, name, dep, data, v):
        if dep is None:
            raise user_error(404, "NotFound", f"Could not find online deployment '{name}' in endpoint '{ep['name']}'.")
        self._check_body("PartialMinimalTrackedResourceWithSku", data, v)
        if self._running(dep):
            raise self._conflict("online deployment", name)
        obj = dep["obj"]
        if data.get("tags") is not None:
            obj["tags"] = dict(data["tags"])
        sku = data.get("sku")
        state = "Updating"
        if sku is not None:
            if not isinstance(sku, dict):
                raise user_error(400, "BadArgument", "sku must be an object.")
            cap = sku.get("capacity", obj["sku"].get("capacity"))
            if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
                raise user_error(400, "BadArgument", f"sku.capacity must be a positive integer, got {cap!r}.")
            if cap != obj["sku"].get("capacity"):
                state = "Scaling"
            obj["sku"].update({k: val for k, val in sku.items() if val is not None})
        for k in data:
            if k not in ("tags", "sku"):
                self.ignored_fields.append((h.command, path, k))
        obj["properties"]["provisioningState"] = state
        op = self._new_operation(ws, base, v, "deployment", ep["name"], name, "patch", self._deployment_ready,
                                 self._deployment_failed)
        dep["op"] = op["name"]
        headers = {"Location": op["results_url"]}
        if self._initial_retry_after():
            headers["Retry-After"] = self._initial_retry_after()
        return self._arm_json(h, 202, None, headers, raw=b"")

    def _deployment_delete(self, h, base, path, ws, ep, name, dep, v):
        if dep is None:
            return self._arm_json(h, 204, None)
        running = self._running(dep)
        if running and running["action"] == "delete":
            return self._arm_json(h, 202, None, self._lro_headers(running, base, path, v, location_results=True),
                                  raw=b"null")
        if running:  # a delete cancels the create or update in progress (a stuck deployment can be deleted)
            running.update(status="Canceled", end=self._now(), hang=False,
                           error={"code": "Canceled", "message": f"Online deployment '{name}' is being deleted."})
        p = ep["obj"]["properties"]
        if self.reject_delete_with_traffic:
            for what, d in (("live", p["traffic"]), ("mirror", p["mirrorTraffic"])):
                if any(k.lower() == name.lower() and val > 0 for k, val in d.items()):
                    raise user_error(400, "BadArgument", f"Deployment '{name}' has {what} traffic allocated; set its "
                                     "traffic to 0 before deleting it.")
        dep["obj"]["properties"]["provisioningState"] = "Deleting"

        def gone(op, ws=ws, ep=ep, key=name.lower()):
            d = ep["deployments"].pop(key, None)
            if d:
                for field in ("traffic", "mirrorTraffic"):
                    ep["obj"]["properties"][field] = {k: val for k, val in ep["obj"]["properties"][field].items()
                                                      if k.lower() != key}
                self._deployment_gone(ws, ep, d)

        op = self._new_operation(ws, base, v, "deployment", ep["name"], name, "delete", gone)
        dep["op"] = op["name"]
        return self._arm_json(h, 202, None, self._lro_headers(op, base, path, v, location_results=True), raw=b"null")

    # ---------------------------------------------------------------- Blob storage
    def _storage_headers(self, version):
        return {"x-ms-request-id": str(uuid.uuid4()), "x-ms-version": version, "Date": _rfc1123(self._now()),
                "Server": "Windows-Azure-Blob/1.0 Microsoft-HTTPAPI/2.0"}

    def _storage_error(self, h, e, version):
        headers = self._storage_headers(version)
        headers["x-ms-error-code"] = e.code
        headers.update(e.headers or {})
        if h.command == "HEAD":
            return self._reply(h, e.status, b"", None, headers, head_length=0)
        root = ET.Element("Error")
        ET.SubElement(root, "Code").text = e.code
        stamp = datetime.datetime.fromtimestamp(self._now(), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")
        ET.SubElement(root, "Message").text = f"{e.message}\nRequestId:{headers['x-ms-request-id']}\nTime:{stamp}0Z"
        for k, val in e.extra.items():
            ET.SubElement(root, k).text = val
        body = '\ufeff<?xml version="1.0" encoding="utf-8"?>'.encode() + ET.tostring(root, encoding="utf-8",
                                                                                    xml_declaration=False)
        self._reply(h, e.status, body, "application/xml", headers)

    def _blob(self, h, account, split, query, body, fault):
        q = {k: v[-1] for k, v in query.items()}
        version = h.headers.get("x-ms-version") or "2009-09-19"
        try:
            if fault:
                headers = {"Retry-After": str(fault["retry_after"])} if fault["retry_after"] is not None else None
                raise StorageError(fault["status"], fault["code"] or "InternalError",
                                   fault["message"] or f"injected {fault['status']}", headers=headers)
            with self._lock:
                acct = self._accounts.get(account)
            if acct is None:
                raise StorageError(404, "ResourceNotFound", "The specified resource does not exist.")
            parts = split.path.lstrip("/").split("/", 1)
            container = urllib.parse.unquote(parts[0]) if parts[0] else None
            blob = urllib.parse.unquote(parts[1]) if len(parts) > 1 and parts[1] else None
            restype, comp, m = q.get("restype", "").lower(), q.get("comp", "").lower(), h.command
            # (operation, SAS permission, account-SAS resource type, RBAC action)
            if container is None:
                if m == "GET" and comp == "list":
                    kind = ("list_containers", "l", "s")
                elif comp == "properties" and restype == "service":
                    kind = ("service_properties", "r", "s")
                else:
                    raise StorageError(400, "InvalidQueryParameterValue", "Value for one of the query parameters "
                                       "specified in the request URI is invalid.", {"QueryParameterName": "comp"})
            elif blob is None:
                if restype != "container":
                    raise StorageError(400, "InvalidUri", "The requested URI does not represent any resource on the "
                                       "server.")
                kind = {("GET", "list"): ("list_blobs", "l", "c"), ("PUT", ""): ("create_container", "c", "c"),
                        ("GET", ""): ("container_props", "r", "c"), ("HEAD", ""): ("container_props", "r", "c"),
                        ("DELETE", ""): ("delete_container", "d", "c"),
                        ("GET", "metadata"): ("container_props", "r", "c"),
                        ("HEAD", "metadata"): ("container_props", "r", "c")}.get((m, comp))
            else:
                kind = {("PUT", ""): ("put_blob", "w", "o"), ("PUT", "block"): ("put_block", "w", "o"),
                        ("PUT", "blocklist"): ("put_block_list", "w", "o"),
                        ("GET", "blocklist"): ("get_block_list", "r", "o"),
                        ("PUT", "metadata"): ("set_metadata", "w", "o"),
                        ("GET", "metadata"): ("get_metadata", "r", "o"),
                        ("HEAD", "metadata"): ("get_metadata", "r", "o"),
                        ("PUT", "properties"): ("set_properties", "w", "o"), ("GET", ""): ("get_blob", "r", "o"),
                        ("HEAD", ""): ("blob_props", "r", "o"),
                        ("DELETE", ""): ("delete_blob", "d", "o")}.get((m, comp))
            if kind is None:
                raise StorageError(400, "UnsupportedHttpVerb" if comp == "" else "InvalidQueryParameterValue",
                                   "The resource doesn't support specified Http Verb." if comp == "" else
                                   "Value for one of the query parameters specified in the request URI is invalid.")
            with self._lock:
                exists = bool(container and blob and blob in acct["containers"].get(container, {}).get("blobs", {}))
            self._storage_auth(h, acct, split, query, q, container, blob, kind, exists)
            with self._lock:
                getattr(self, "_blob_" + kind[0])(h, acct, container, blob, q, body, version)
        except StorageError as e:
            self._storage_error(h, e, version)

    # auth -------------------------------------------------------------
    def _storage_auth(self, h, acct, split, query, q, container, blob, kind, exists):
        version = h.headers.get("x-ms-version")
        if "sig" in q:
            return self._check_sas(acct, q, container, blob, kind, exists)
        auth = (h.headers.get("Authorization") or "").strip()
        if not auth:
            raise StorageError(401, "NoAuthenticationInformation", "Server failed to authenticate the request. Please "
                               "refer to the information in the www-authenticate header.", headers={
                                   "WWW-Authenticate": f"Bearer authorization_uri=https://{LOGIN_HOST}/{self.tenant}/"
                                                       f"oauth2/authorize resource_id={STORAGE_AUDIENCE}"})
        if version is None:
            raise StorageError(400, "MissingRequiredHeader", "An HTTP header that's mandatory for this request is not "
                               "specified.", {"HeaderName": "x-ms-version"})
        if not STORAGE_VERSION_RE.match(version):
            raise StorageError(400, "InvalidHeaderValue", "The value for one of the HTTP headers is not in the correct "
                               "format.", {"HeaderName": "x-ms-version", "HeaderValue": version})
        scheme, _, cred = auth.partition(" ")
        if scheme == "SharedKey":
            return self._check_shared_key(h, acct, split, query, cred.strip())
        if scheme.lower() == "bearer":
            if version < "2017-11-09":
                raise StorageError(400, "InvalidHeaderValue", "The value for one of the HTTP headers is not in the "
                                   "correct format.", {"HeaderName": "x-ms-version", "HeaderValue": version})
            with self._lock:
                rec = self._tokens.get(cred.strip())
            challenge = {"WWW-Authenticate": f"Bearer authorization_uri=https://{LOGIN_HOST}/{self.tenant}/oauth2/"
                                             f"authorize resource_id={STORAGE_AUDIENCE}"}
            detail = None
            if rec is None:
                detail = "Signature validation failed. Signature is invalid."
            elif rec["expires"] <= self._now():
                detail = "Lifetime validation failed. The token is expired."
            elif rec["audience"].rstrip("/") != STORAGE_AUDIENCE:
                detail = "Audience validation failed. Audience did not match."
            if detail:
                raise StorageError(401, "InvalidAuthenticationInfo", "Server failed to authenticate the request. "
                                   "Please refer to the information in the www-authenticate header.",
                                   {"AuthenticationErrorDetail": detail}, headers=challenge)
            h.entry["client"] = rec["client_id"]
            action = {"r": "read", "l": "read", "w": "write", "c": "write", "d": "delete"}[kind[1]]
            with self._lock:
                globs = list(self._forbidden.get(rec["client_id"], ()))
            act = f"Microsoft.Storage/storageAccounts/blobServices/containers/blobs/{action}"
            if any(fnmatch.fnmatchcase(act.lower(), g.lower()) for g in globs):
                raise StorageError(403, "AuthorizationPermissionMismatch", "This request is not authorized to perform "
                                   "this operation using this permission.")
            return
        raise StorageError(403, "AuthenticationFailed", "Server failed to authenticate the request. Make sure the "
                           "value of Authorization header is formed correctly including the signature.",
                           {"AuthenticationErrorDetail": f"The authentication scheme {scheme} is not supported."})

    def _check_shared_key(self, h, acct, split, query, cred):
        name, _, sig = cred.partition(":")
        fail = StorageError(403, "AuthenticationFailed", "Server failed to authenticate the request. Make sure the "
                            "value of Authorization header is formed correctly including the signature.")
        if name != acct["name"] or not sig:
            fail.extra = {"AuthenticationErrorDetail": f"The account name in the Authorization header does not match "
                                                       f"the account '{acct['name']}'."}
            raise fail
        hd = h.headers
        xdate = hd.get("x-ms-date")
        when = xdate or hd.get("Date")
        if not when:
            fail.extra = {"AuthenticationErrorDetail": "Request date header not specified."}
            raise fail
        try:
            sent = email.utils.parsedate_to_datetime(when).timestamp()
        except (TypeError, ValueError):
            fail.extra = {"AuthenticationErrorDetail": "The Date header in the request is incorrect."}
            raise fail from None
        if abs(self._now() - sent) > 15 * 60:
            fail.extra = {"AuthenticationErrorDetail": f"Request date header too old: '{when}'."}
            raise fail
        length = hd.get("Content-Length") or ""
        fields = [h.command, hd.get("Content-Encoding") or "", hd.get("Content-Language") or "",
                  "" if length == "0" else length, hd.get("Content-MD5") or "", hd.get("Content-Type") or "",
                  "" if xdate else (hd.get("Date") or ""), hd.get("If-Modified-Since") or "", hd.get("If-Match") or "",
                  hd.get("If-None-Match") or "", hd.get("If-Unmodified-Since") or "", hd.get("Range") or ""]
        xms = sorted((k.lower(), " ".join(v.split())) for k, v in hd.items() if k.lower().startswith("x-ms-"))
        canon_headers = "".join(f"{k}:{v}\n" for k, v in xms)
        resource = f"/{acct['name']}{split.path}"
        for k in sorted(query, key=str.lower):
            resource += f"\n{k.lower()}:{','.join(sorted(query[k]))}"
        sts = "\n".join(fields) + "\n" + canon_headers + resource
        expected = base64.b64encode(hmac.new(base64.b64decode(acct["key"]), sts.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected, sig.encode()):
            fail.extra = {"AuthenticationErrorDetail": "The MAC signature found in the HTTP request is not the same as "
                                                       f"any computed signature. Server used following string to sign: "
                                                       f"'{sts}'."}
            raise fail

    def _make_account_sas(self, acct, expiry, permissions="rcwdl", version="2021-10-04"):
        fields = {"sv": version, "ss": "bf", "srt": "co", "sp": permissions,
                  "st": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self._now() - 300)),
                  "se": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expiry)), "spr": "https"}
        fields["sig"] = self._sas_signature(acct, fields, None, None)
        return urllib.parse.urlencode(fields)

    def _sas_signature(self, acct, q, container, blob):
        g = lambda k: q.get(k) or ""  # noqa: E731
        sv = g("sv")
        if "ss" in q or "srt" in q:
            lines = [acct["name"], g("sp"), g("ss"), g("srt"), g("st"), g("se"), g("sip"), g("spr"), sv]
            if sv >= "2020-12-06":
                lines.append(g("ses"))
            sts = "\n".join(lines) + "\n"
        else:
            resource = f"/blob/{acct['name']}/{container}"
            if g("sr") in ("b", "bs", "bv") and blob:
                resource += f"/{blob}"
            lines = [g("sp"), g("st"), g("se"), resource, g("si"), g("sip"), g("spr"), sv, g("sr"), g("snapshot")]
            if sv >= "2020-12-06":
                lines.append(g("ses"))
            lines += [g("rscc"), g("rscd"), g("rsce"), g("rscl"), g("rsct")]
            sts = "\n".join(lines)
        return base64.b64encode(hmac.new(base64.b64decode(acct["key"]), sts.encode(), hashlib.sha256).digest()).decode()

    def _check_sas(self, acct, q, container, blob, kind, exists):
        def fail(detail):
            return StorageError(403, "AuthenticationFailed", "Server failed to authenticate the request. Make sure the "
                                "value of Authorization header is formed correctly including the signature.",
                                {"AuthenticationErrorDetail": detail})

        for k in ("sv", "se", "sp"):
            if not q.get(k):
                raise fail(f"The '{k}' parameter of the SAS is missing.")
        if q["sv"] < "2015-04-05":
            raise fail(f"Version '{q['sv']}' of the SAS is not supported.")
        account_sas = "ss" in q or "srt" in q
        if not account_sas and q.get("sr") not in ("c", "b"):
            raise fail("Missing or unsupported signed resource (sr).")
        expected = self._sas_signature(acct, q, container, blob)
        if not hmac.compare_digest(expected, q["sig"]):
            raise fail("Signature did not match. String to sign used was not the one the client signed.")

        def parse(t):
            for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%MZ", "%Y-%m-%d"):
                try:
                    return datetime.datetime.strptime(t, fmt).replace(tzinfo=datetime.timezone.utc).timestamp()
                except ValueError:
                    continue
            raise fail(f"The SAS time '{t}' is not in a supported format.")

        now = self._now()
        start, end = parse(q["st"]) if q.get("st") else None, parse(q["se"])
        if now > end or (start is not None and now < start):
            raise fail(f"Signature not valid in the specified time frame: Start [{q.get('st', '')}] - Expiry "
                       f"[{q['se']}] - Current [{_rfc1123(now)}]")
        op, perm, rtype = kind
        if account_sas:
            if "b" not in q.get("ss", ""):
                raise StorageError(403, "AuthorizationServiceMismatch", "This request is not authorized to perform "
                                   "this operation using this service.")
            if rtype not in q.get("srt", ""):
                raise StorageError(403, "AuthorizationResourceTypeMismatch", "This request is not authorized to "
                                   "perform this operation using this resource type.")
        elif q.get("sr") == "b" and op in ("list_blobs", "create_container", "container_props", "delete_container"):
            raise StorageError(403, "AuthorizationResourceTypeMismatch", "This request is not authorized to perform "
                               "this operation using this resource type.")
        sp = q["sp"]
        allowed = perm in sp or (perm == "w" and op in ("put_blob", "put_block", "put_block_list") and "c" in sp
                                 and not exists) or (perm == "c" and "w" in sp)
        if not allowed:
            raise StorageError(403, "AuthorizationPermissionMismatch", "This request is not authorized to perform this "
                               "operation using this permission.")

    # operations -------------------------------------------------------
    def _container(self, acct, container):
        cont = acct["containers"].get(container)
        if cont is None:
            raise StorageError(404, "ContainerNotFound", "The specified container does not exist.")
        return cont

    def _blob_of(self, acct, container, blob):
        b = self._container(acct, container)["blobs"].get(blob)
        if b is None:
            raise StorageError(404, "BlobNotFound", "The specified blob does not exist.")
        return b

    @staticmethod
    def _meta_headers(h):
        return {k[len("x-ms-meta-"):]: v for k, v in h.headers.items() if k.lower().startswith("x-ms-meta-")}

    @staticmethod
    def _check_md5(h, body):
        md5 = h.headers.get("Content-MD5")
        if md5 is not None:
            actual = base64.b64encode(hashlib.md5(body).digest()).decode()
            if md5 != actual:
                raise StorageError(400, "Md5Mismatch", "The MD5 value specified in the request did not match with the "
                                   "MD5 value calculated by the server.",
                                   {"UserSpecifiedMd5": md5, "ServerCalculatedMd5": actual})

    @staticmethod
    def _check_write_conditions(h, existing):
        inm, im = h.headers.get("If-None-Match"), h.headers.get("If-Match")
        if inm is not None and existing is not None and (inm.strip() == "*" or inm.strip() == existing["etag"]):
            if inm.strip() == "*":
                raise StorageError(409, "BlobAlreadyExists", "The specified blob already exists.")
            raise StorageError(412, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is "
                               "not met.")
        if im is not None and (existing is None or (im.strip() != "*" and im.strip() != existing["etag"])):
            raise StorageError(412, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is "
                               "not met.")

    def _blob_reply(self, h, status, version, blob=None, extra=None):
        headers = self._storage_headers(version)
        if blob is not None:
            headers.update({"ETag": blob["etag"], "Last-Modified": _rfc1123(blob["modified"])})
        headers.update(extra or {})
        self._reply(h, status, b"", None, headers)

    def _blob_put_blob(self, h, acct, container, blob, q, body, version):
        cont = self._container(acct, container)
        btype = h.headers.get("x-ms-blob-type")
        if btype is None:
            raise StorageError(400, "MissingRequiredHeader", "An HTTP header that's mandatory for this request is not "
                               "specified.", {"HeaderName": "x-ms-blob-type"})
        if btype != "BlockBlob":
            raise StorageError(400, "InvalidHeaderValue", "The value for one of the HTTP headers is not in the correct "
                               "format.", {"HeaderName": "x-ms-blob-type", "HeaderValue": btype})
        self._check_md5(h, body)
        existing = cont["blobs"].get(blob)
        self._check_write_conditions(h, existing)
        ctype = h.headers.get("x-ms-blob-content-type") or h.headers.get("Content-Type") or "application/octet-stream"
        new = self._new_blob(body, ctype, h.headers.get("x-ms-blob-content-md5"), self._meta_headers(h))
        if existing:
            new["created"] = existing["created"]
        cont["blobs"][blob] = new
        cont["pending"].pop(blob, None)
        self._blob_reply(h, 201, version, new, {"Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode(),
                                                 "x-ms-request-server-encrypted": "true"})

    def _blob_put_block(self, h, acct, container, blob, q, body, version):
        cont = self._container(acct, container)
        block_id = q.get("blockid")
        try:
            raw = base64.b64decode(block_id or "", validate=True)
            if not raw or len(raw) > 64:
                raise ValueError
        except ValueError:
            raise StorageError(400, "InvalidQueryParameterValue", "Value for one of the query parameters specified in "
                               "the request URI is invalid.", {"QueryParameterName": "blockid",
                                                               "QueryParameterValue": block_id or ""}) from None
        self._check_md5(h, body)
        pending = cont["pending"].setdefault(blob, {})
        committed = (cont["blobs"].get(blob) or {}).get("committed") or {}
        lengths = {len(base64.b64decode(b)) for b in list(pending) + list(committed)}
        if lengths and len(raw) not in lengths:
            raise StorageError(400, "InvalidBlobOrBlock", "The specified blob or block content is invalid.")
        pending[block_id] = bytes(body)
        headers = self._storage_headers(version)
        headers.update({"Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode(),
                        "x-ms-request-server-encrypted": "true"})
        self._reply(h, 201, b"", None, headers)

    def _blob_put_block_list(self, h, acct, container, blob, q, body, version):
        cont = self._container(acct, container)
        self._check_md5(h, body)
        try:
            root = ET.fromstring(body.decode("utf-8-sig"))
            if root.tag != "BlockList":
                raise ValueError
        except (ValueError, ET.ParseError):
            raise StorageError(400, "InvalidXmlDocument", "XML specified is not syntactically valid.") from None
        existing = cont["blobs"].get(blob)
        self._check_write_conditions(h, existing)
        pending = cont["pending"].get(blob, {})
        committed = (existing or {}).get("committed") or {}
        chunks, used = [], {}
        for el in root:
            bid = (el.text or "").strip()
            if el.tag == "Latest":
                data = pending.get(bid, committed.get(bid))
            elif el.tag == "Committed":
                data = committed.get(bid)
            elif el.tag == "Uncommitted":
                data = pending.get(bid)
            else:
                raise StorageError(400, "InvalidXmlDocument", "XML specified is not syntactically valid.")
            if data is None:
                raise StorageError(400, "InvalidBlockList", "The specified block list is invalid.")
            chunks.append(data)
            used[bid] = data
        data = b"".join(chunks)
        ctype = h.headers.get("x-ms-blob-content-type") or "application/octet-stream"
        new = self._new_blob(data, ctype, h.headers.get("x-ms-blob-content-md5"), self._meta_headers(h))
        new["md5"] = h.headers.get("x-ms-blob-content-md5")   # the service computes none for a block list
        new["committed"] = used
        if existing:
            new["created"] = existing["created"]
        cont["blobs"][blob] = new
        cont["pending"].pop(blob, None)
        self._blob_reply(h, 201, version, new, {"x-ms-request-server-encrypted": "true"})

    def _blob_get_block_list(self, h, acct, container, blob, q, body, version):
        b = self._blob_of(acct, container, blob)
        root = ET.Element("BlockList")
        committed = ET.SubElement(root, "CommittedBlocks")
        for bid, data in (b.get("committed") or {}).items():
            el = ET.SubElement(committed, "Block")
            ET.SubElement(el, "Name").text = bid
            ET.SubElement(el, "Size").text = str(len(data))
        ET.SubElement(root, "UncommittedBlocks")
        out = b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(root)
        headers = self._storage_headers(version)
        headers.update({"ETag": b["etag"], "Last-Modified": _rfc1123(b["modified"]),
                        "x-ms-blob-content-length": str(len(b["data"]))})
        self._reply(h, 200, out, "application/xml", headers)

    def _blob_set_metadata(self, h, acct, container, blob, q, body, version):
        b = self._blob_of(acct, container, blob)
        self._check_write_conditions(h, b)
        b["metadata"] = self._meta_headers(h)
        b["etag"] = f'"0x{secrets.token_hex(8).upper()}"'
        b["modified"] = self._now()
        self._blob_reply(h, 200, version, b, {"x-ms-request-server-encrypted": "true"})

    def _blob_set_properties(self, h, acct, container, blob, q, body, version):
        b = self._blob_of(acct, container, blob)
        if h.headers.get("x-ms-blob-content-type"):
            b["content_type"] = h.headers["x-ms-blob-content-type"]
        if h.headers.get("x-ms-blob-content-md5"):
            b["md5"] = h.headers["x-ms-blob-content-md5"]
        b["etag"] = f'"0x{secrets.token_hex(8).upper()}"'
        b["modified"] = self._now()
        self._blob_reply(h, 200, version, b)

    def _blob_properties_headers(self, b, version):
        headers = self._storage_headers(version)
        headers.update({"Content-Type": b["content_type"], "ETag": b["etag"], "Last-Modified": _rfc1123(b["modified"]),
                        "Accept-Ranges": "bytes", "x-ms-blob-type": "BlockBlob",
                        "x-ms-creation-time": _rfc1123(b["created"]), "x-ms-lease-status": "unlocked",
                        "x-ms-lease-state": "available", "x-ms-server-encrypted": "true", "x-ms-access-tier": "Hot",
                        "x-ms-access-tier-inferred": "true"})
        for k, val in b["metadata"].items():
            headers["x-ms-meta-" + k] = val
        return headers

    def _blob_get_metadata(self, h, acct, container, blob, q, body, version):
        b = self._blob_of(acct, container, blob)
        headers = self._storage_headers(version)
        headers.update({"ETag": b["etag"], "Last-Modified": _rfc1123(b["modified"])})
        for k, val in b["metadata"].items():
            headers["x-ms-meta-" + k] = val
        self._reply(h, 200, b"", None, headers)

    def _blob_blob_props(self, h, acct, container, blob, q, body, version):
        b = self._blob_of(acct, container, blob)
        headers = self._blob_properties_headers(b, version)
        if b["md5"]:
            headers["Content-MD5"] = b["md5"]
        h.entry["status"] = 200
        h.send_response(200)
        headers["Content-Length"] = str(len(b["data"]))
        for k, val in headers.items():
            h.send_header(k, val)
        h.end_headers()

    def _blob_get_blob(self, h, acct, container, blob, q, body, version):
        b = self._blob_of(acct, container, blob)
        inm = h.headers.get("If-None-Match")
        if inm and inm.strip() in ("*", b["etag"]):
            headers = self._storage_headers(version)
            headers["ETag"] = b["etag"]
            return self._reply(h, 304, b"", None, headers)
        im = h.headers.get("If-Match")
        if im and im.strip() not in ("*", b["etag"]):
            raise StorageError(412, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is "
                               "not met.")
        data, size = b["data"], len(b["data"])
        headers = self._blob_properties_headers(b, version)
        rng = h.headers.get("x-ms-range") or h.headers.get("Range")
        if rng:
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng.strip())
            if not m:
                raise StorageError(400, "InvalidHeaderValue", "The value for one of the HTTP headers is not in the "
                                   "correct format.", {"HeaderName": "Range", "HeaderValue": rng})
            start = int(m.group(1))
            end = min(int(m.group(2)) if m.group(2) else size - 1, size - 1)
            if start >= size:
                raise StorageError(416, "InvalidRange", "The range specified is invalid for the current size of the "
                                   "resource.", headers={"Content-Range": f"bytes */{size}"})
            chunk = data[start:end + 1]
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            if b["md5"]:
                headers["x-ms-blob-content-md5"] = b["md5"]
            if (h.headers.get("x-ms-range-get-content-md5") or "").lower() == "true":
                headers["Content-MD5"] = base64.b64encode(hashlib.md5(chunk).digest()).decode()
            ctype = headers.pop("Content-Type")
            return self._reply(h, 206, chunk, ctype, headers)
        if b["md5"]:
            headers["Content-MD5"] = b["md5"]
        ctype = headers.pop("Content-Type")
        self._reply(h, 200, data, ctype, headers)

    def _blob_delete_blob(self, h, acct, container, blob, q, body, version):
        self._blob_of(acct, container, blob)
        del acct["containers"][container]["blobs"][blob]
        headers = self._storage_headers(version)
        headers["x-ms-delete-type-permanent"] = "true"
        self._reply(h, 202, b"", None, headers)

    def _blob_create_container(self, h, acct, container, blob, q, body, version):
        if container in acct["containers"]:
            raise StorageError(409, "ContainerAlreadyExists", "The specified container already exists.")
        cont = acct["containers"][container] = self._new_container()
        cont["metadata"] = self._meta_headers(h)
        headers = self._storage_headers(version)
        headers.update({"ETag": cont["etag"], "Last-Modified": _rfc1123(cont["created"])})
        self._reply(h, 201, b"", None, headers)

    def _blob_container_props(self, h, acct, container, blob, q, body, version):
        cont = self._container(acct, container)
        headers = self._storage_headers(version)
        headers.update({"ETag": cont["etag"], "Last-Modified": _rfc1123(cont["created"]),
                        "x-ms-lease-status": "unlocked",
                        "x-ms-lease-state": "available", "x-ms-has-immutability-policy": "false",
                        "x-ms-has-legal-hold": "false", "x-ms-default-encryption-scope": "$account-encryption-key",
                        "x-ms-deny-encryption-scope-override": "false"})
        for k, val in cont["metadata"].items():
            headers["x-ms-meta-" + k] = val
        self._reply(h, 200, b"", None, headers)

    def _blob_delete_container(self, h, acct, container, blob, q, body, version):
        self._container(acct, container)
        del acct["containers"][container]
        self._reply(h, 202, b"", None, self._storage_headers(version))

    def _blob_list_blobs(self, h, acct, container, blob, q, body, version):
        cont = self._container(acct, container)
        prefix, delim, marker = q.get("prefix", ""), q.get("delimiter", ""), q.get("marker", "")
        try:
            maxresults = int(q.get("maxresults") or 5000)
            if maxresults < 1:
                raise ValueError
        except ValueError:
            raise StorageError(400, "OutOfRangeQueryParameterValue", "One of the query parameters specified in the "
                               "request URI is outside the permissible range.", {"QueryParameterName": "maxresults"}
                               ) from None
        include = set(q.get("include", "").lower().split(","))
        entries = []   # (name, blob or None for a prefix)
        seen = set()
        for name in sorted(cont["blobs"]):
            if not name.startswith(prefix):
                continue
            if delim:
                rest = name[len(prefix):]
                if delim in rest:
                    p = prefix + rest[:rest.index(delim) + len(delim)]
                    if p not in seen:
                        seen.add(p)
                        entries.append((p, None))
                    continue
            entries.append((name, cont["blobs"][name]))
        if marker:
            entries = [e for e in entries if e[0] >= marker]
        page, rest = entries[:maxresults], entries[maxresults:]
        root = ET.Element("EnumerationResults", {"ServiceEndpoint": f"https://{acct['name']}{BLOB_SUFFIX}/",
                                                 "ContainerName": container})
        for tag, val in (("Prefix", prefix), ("Marker", marker), ("MaxResults", q.get("maxresults")),
                         ("Delimiter", delim)):
            if val:
                ET.SubElement(root, tag).text = val
        blobs = ET.SubElement(root, "Blobs")
        for name, b in page:
            if b is None:
                ET.SubElement(ET.SubElement(blobs, "BlobPrefix"), "Name").text = name
                continue
            el = ET.SubElement(blobs, "Blob")
            ET.SubElement(el, "Name").text = name
            props = ET.SubElement(el, "Properties")
            for tag, val in (("Creation-Time", _rfc1123(b["created"])), ("Last-Modified", _rfc1123(b["modified"])),
                             ("Etag", b["etag"].strip('"')), ("Content-Length", str(len(b["data"]))),
                             ("Content-Type", b["content_type"]), ("Content-Encoding", None),
                             ("Content-Language", None), ("Content-CRC64", None), ("Content-MD5", b["md5"]),
                             ("Cache-Control", None), ("Content-Disposition", None), ("BlobType", "BlockBlob"),
                             ("AccessTier", "Hot"), ("AccessTierInferred", "true"), ("LeaseStatus", "unlocked"),
                             ("LeaseState", "available"), ("ServerEncrypted", "true")):
                ET.SubElement(props, tag).text = val
            if "metadata" in include:
                meta = ET.SubElement(el, "Metadata")
                for k, val in b["metadata"].items():
                    ET.SubElement(meta, k).text = val
            ET.SubElement(el, "OrMetadata")
        ET.SubElement(root, "NextMarker").text = rest[0][0] if rest else None
        out = '\ufeff<?xml version="1.0" encoding="utf-8"?>'.encode() + ET.tostring(root, encoding="utf-8",
                                                                                   xml_declaration=False)
        self._reply(h, 200, out, "application/xml", self._storage_headers(version))

    def _blob_list_containers(self, h, acct, container, blob, q, body, version):
        root = ET.Element("EnumerationResults", {"ServiceEndpoint": f"https://{acct['name']}{BLOB_SUFFIX}/"})
        conts = ET.SubElement(root, "Containers")
        for name in sorted(acct["containers"]):
            if not name.startswith(q.get("prefix", "")):
                continue
            c = acct["containers"][name]
            el = ET.SubElement(conts, "Container")
            ET.SubElement(el, "Name").text = name
            props = ET.SubElement(el, "Properties")
            ET.SubElement(props, "Last-Modified").text = _rfc1123(c["created"])
            ET.SubElement(props, "Etag").text = c["etag"].strip('"')
            ET.SubElement(props, "LeaseStatus").text = "unlocked"
            ET.SubElement(props, "LeaseState").text = "available"
        ET.SubElement(root, "NextMarker")
        out = '\ufeff<?xml version="1.0" encoding="utf-8"?>'.encode() + ET.tostring(root, encoding="utf-8",
                                                                                   xml_declaration=False)
        self._reply(h, 200, out, "application/xml", self._storage_headers(version))

    def _blob_service_properties(self, h, acct, container, blob, q, body, version):
        out = (b'<?xml version="1.0" encoding="utf-8"?><StorageServiceProperties><DefaultServiceVersion>'
               b'2021-10-04</DefaultServiceVersion></StorageServiceProperties>')
        self._reply(h, 200, out, "application/xml", self._storage_headers(version))

    # ---------------------------------------------------------------- scoring
    def _score(self, h, prefix, path, body, fault):
        ep_name, _, region = prefix.rpartition(".")

        def reply(status, obj, headers=None, raw=None):
            hdrs = {"x-request-id": str(uuid.uuid4()), "x-ms-run-function-failed": None}
            hdrs.update(headers or {})
            data = raw if raw is not None else json.dumps(obj).encode()
            self._reply(h, status, data, "application/json", hdrs)

        with self._lock:
            found = [(ws, ws["endpoints"][ep_name.lower()]) for ws in self._workspaces.values()
                     if ws["location"] == region.lower() and ep_name.lower() in ws["endpoints"]]
        if not found:
            return reply(404, {"message": f"Endpoint '{ep_name}' was not found in region {region}."})
        ws, ep = found[0]
        if fault:
            headers = {"Retry-After": str(fault["retry_after"])} if fault["retry_after"] is not None else None
            return reply(fault["status"], {"message": fault["message"] or f"injected {fault['status']}"}, headers)
        with self._lock:
            props = ep["obj"]["properties"]
            if props["provisioningState"] not in ("Succeeded", "Updating"):
                return reply(404, {"message": f"Endpoint '{ep_name}' is {props['provisioningState']}."})
            throttle = self._scoring_faults.get(ep_name.lower())
            if throttle and throttle["remaining"] > 0:
                throttle["remaining"] -= 1
                return reply(429, {"message": "Too many requests: the endpoint is receiving more requests than "
                                              "it can handle."},
                             {"Retry-After": str(throttle["retry_after"])} if throttle["retry_after"] is not None
                             else None)
            problem = self._scoring_auth(h, ws, ep, props["authMode"])
        if problem:
            return reply(401, {"message": problem}, {"WWW-Authenticate": "Bearer"})
        if h.command == "GET" and path == "/swagger.json":
            return reply(200, {"openapi": "3.0.1", "info": {"title": ep["name"], "version": "1.0"},
                               "paths": {"/score": {"post": {}}}})
        if h.command != "POST" or path != "/score":
            return reply(404, {"message": f"{h.command} {path} is not served; POST /score."})
        with self._lock:
            wanted = h.headers.get("azureml-model-deployment")
            mirror = None
            if wanted:
                dep = ep["deployments"].get(wanted.lower())
                if dep is None or dep["obj"]["properties"]["provisioningState"] != "Succeeded":
                    return reply(404, {"message": f"The deployment '{wanted}' was not found or is not ready in "
                                                  f"endpoint '{ep['name']}'."})
            else:
                dep = self._pick(ep)
                if dep is None:
                    return reply(404, {"message": "No valid deployments to route to. Please check that the endpoint "
                                                  "has at least one deployment with positive weight values or use a "
                                                  "deployment specific header to route."})
                shadow = [(k, val) for k, val in props["mirrorTraffic"].items() if val > 0]
                if shadow:
                    ep["mirror_acc"] += shadow[0][1]
                    if ep["mirror_acc"] >= 100:
                        ep["mirror_acc"] -= 100
                        mirror = ep["deployments"].get(shadow[0][0].lower())
            k8s = bool(props["compute"])
            target = self._target(ws, ep, dep)
            mirror_target = self._target(ws, ep, mirror) if mirror else None
        status, headers, out, sent = self._forward(target, body, h.headers.get("Content-Type"), k8s)
        with self._lock:
            self.scoring_log.append({"endpoint": ep["name"], "deployment": dep["name"], "mirrored": False,
                                     "status": status, "path": target["path"] if target else None, "body": sent})
        if mirror_target:
            m_status, _, _, m_sent = self._forward(mirror_target, body, h.headers.get("Content-Type"), k8s)
            with self._lock:
                self.scoring_log.append({"endpoint": ep["name"], "deployment": mirror["name"], "mirrored": True,
                                         "status": m_status, "path": mirror_target["path"], "body": m_sent})
        headers["azureml-model-deployment"] = dep["name"]
        reply(status, None, headers, raw=out)

    def _scoring_auth(self, h, ws, ep, mode):
        auth = (h.headers.get("Authorization") or "").strip()
        scheme, _, token = auth.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return "Authorization header with a Bearer credential is required."
        now = self._now()
        if mode == "Key":
            if token in (ep["keys"]["primary"], ep["keys"]["secondary"]):
                return None
            return "The key is not valid for this endpoint."
        if mode == "AMLToken":
            rec = self._aml_tokens.get(token)
            if rec and rec["ws"] == ws["key"] and rec["endpoint"] == ep["name"].lower() and rec["expires"] > now:
                return None
            return "The token is not valid for this endpoint or has expired."
        rec = self._tokens.get(token)
        if rec and rec["audience"].rstrip("/") == ML_AUDIENCE and rec["expires"] > now:
            return None
        return "The Microsoft Entra token is invalid, expired or for another audience (expected https://ml.azure.com)."

    @staticmethod
    def _pick(ep):
        """Smooth weighted round robin over the deployments with live traffic (deterministic)."""
        weights = [(k, val) for k, val in sorted(ep["obj"]["properties"]["traffic"].items()) if val > 0
                   and k.lower() in ep["deployments"]]
        if not weights:
            return None
        total = sum(val for _, val in weights)
        cur = ep["rr"]
        for k, val in weights:
            cur[k] = cur.get(k, 0) + val
        best = max(weights, key=lambda kv: cur[kv[0]])[0]
        cur[best] -= total
        return ep["deployments"][best.lower()]

    def _target(self, ws, ep, dep):
        url = self._backends.get((ws["key"], ep["name"].lower(), dep["name"].lower()))
        props = dep["obj"]["properties"]
        if props.get("environmentId") is None:
            return {"url": url, "path": "/invocations", "no_code": True, "request_timeout":
                    _iso_duration_seconds(props["requestSettings"].get("requestTimeout"), 5.0)}
        env = self._lookup_environment(ws, props["environmentId"])
        route = ((env or {}).get("obj", {}).get("properties", {}).get("inferenceConfig") or {}).get("scoringRoute")
        return {"url": url, "path": (route or {}).get("path") or "/score", "no_code": False,
                "request_timeout": _iso_duration_seconds(props["requestSettings"].get("requestTimeout"), 5.0)}

    def _forward(self, target, body, content_type, k8s):
        """-> (status, headers, body bytes, what was sent to the backend)."""
        def container_error(status, message):
            return self._model_error(status, json.dumps({"message": message}).encode(), k8s)

        sent = body
        if target["url"] is None:
            return 502, {}, json.dumps({"message": "The deployment has no backend (stand-in: call set_backend() or "
                                                   "set on_deployment_ready)."}).encode(), None
        if target["no_code"]:
            try:
                payload = json.loads(body)
            except ValueError:
                return container_error(400, "The request body is not valid JSON.") + (None,)
            if not isinstance(payload, dict) or "input_data" not in payload:
                return container_error(400, "Expected a JSON object with the key 'input_data'.") + (None,)
            data = payload["input_data"]
            if isinstance(data, dict) and "data" in data and ("columns" in data or "index" in data):
                converted = {"dataframe_split": {k: data[k] for k in ("columns", "index", "data") if k in data}}
            elif isinstance(data, (list, dict)):
                converted = {"inputs": data}
            else:
                return container_error(400, "input_data must be an object in pandas 'split' orientation, a list or a "
                                            "dictionary of tensors.") + (None,)
            if "params" in payload:
                converted["params"] = payload["params"]
            sent = json.dumps(converted).encode()
            content_type = "application/json"
        u = urllib.parse.urlsplit(target["url"])
        timeout = target["request_timeout"] if self.enforce_request_timeout else 120
        conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout)
        try:
            conn.request("POST", (u.path.rstrip("/") + target["path"]), body=sent,
                         headers={"Content-Type": content_type or "application/json"})
            resp = conn.getresponse()
            status, out = resp.status, resp.read()
        except socket.timeout:
            return 408, {}, json.dumps({"message": "Request timed out: the model took longer than the deployment's "
                                                   "requestTimeout."}).encode(), sent
        except OSError as e:
            return 502, {}, json.dumps({"message": f"Failed to reach the model container: {e}"}).encode(), sent
        finally:
            conn.close()
        if status != 200:
            return self._model_error(status, out, k8s) + (sent,)
        if target["no_code"]:
            try:
                parsed = json.loads(out)
                if isinstance(parsed, dict) and set(parsed) == {"predictions"}:
                    out = json.dumps(parsed["predictions"]).encode()
            except ValueError:
                pass
        return 200, {}, out, sent

    @staticmethod
    def _model_error(status, out, k8s):
        if k8s:
            return (502 if status >= 500 else status), {}, out
        return 424, {"ms-azureml-model-error-statuscode": str(status),
                     "ms-azureml-model-error-reason": "model_error"}, out


def main(argv=None):
    """Standalone: runs the stand-in until SIGINT/SIGTERM and prints how to reach it."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ca", required=True, help="where to write the test CA (PEM)")
    parser.add_argument("--principal", action="append", default=[], metavar="CLIENT_ID:SECRET")
    parser.add_argument("--lro-polls", type=int, default=1)
    parser.add_argument("--retry-after", type=float, default=1)
    parser.add_argument("--datastore-credentials", default="AccountKey", choices=("AccountKey", "Sas", "None"))
    parser.add_argument("--acr", action="append", default=[], metavar="NAME",
                        help="serve the container registry NAME.azurecr.io")
    args = parser.parse_args(argv)
    retry = int(args.retry_after) if args.retry_after == int(args.retry_after) else args.retry_after
    az = AzureStandIn(lro_polls=args.lro_polls, retry_after=retry, datastore_credentials=args.datastore_credentials)
    az.start()
    for p in args.principal:
        client_id, _, secret = p.partition(":")
        az.add_principal(client_id, secret=secret)
    for name in args.acr:
        print(f"# container registry: {az.add_container_registry(name).login_server}")
    ca = az.write_ca(args.ca)
    ws = az.default_workspace
    for k, v in dict(az.driver_env(ca), AZURE_TENANT_ID=az.tenant).items():
        print(f"export {k}={v}")
    print(f"# workspace: azureml-endpoints:/{ws['sub']}/{ws['rg']}/{ws['name']}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    az.stop()


if __name__ == "__main__":
    main()
