"""OCI Data Science on loopback for the `oci-endpoints` target: the control plane (REST API 20190101) and the
model-deployment predict endpoint, in one process. Plain Python (ThreadingHTTPServer) plus `cryptography` for
the request signatures; no OCI needed. Checked with Oracle's own `oci` SDK (tests/python/test_oci_server.py).

    with OciDataScienceStandIn() as ds:                    # API on ds.url, predict on ds.predict_url
        ds.add_api_key(tenancy, user, fingerprint, public_key)   # or ds.add_session_token(token, public_key)
        ds.on_deployment_active = lambda deployment: "http://127.0.0.1:9999/invocations"
        client = oci.data_science.DataScienceClient(config, service_endpoint=ds.url)

Named oci_datascience, not oci: tests/servers is on the tests' sys.path, where `oci.py` would hide Oracle's `oci` SDK.
`python tests/servers/oci_datascience.py` runs it standalone.

Two listeners on 127.0.0.1, ports picked by the kernel at bind and read back:
  * the API (`url`, the SDK's service_endpoint; paths under /20190101);
  * "modeldeployment" (`predict_url`): a deployment's modelDeploymentUrl is `<predict_url>/<ocid>`.

Authentication (every request, both listeners): draft-cavage HTTP Signature, algorithm rsa-sha256, verified
with the public key registered for its keyId: `<tenancy>/<user>/<fingerprint>` (add_api_key) or `ST$<token>`
(add_session_token: session tokens and resource principals). The signed headers must include date (or
x-date), (request-target) and host; POST/PUT/PATCH also content-length, content-type and x-content-sha256,
except the model artifact upload (POST /models/{id}/artifact), which the SDKs sign without its body.
x-content-sha256 must be the body's SHA-256 and content-length its length; the date within 5 minutes of the
server clock (`clock_offset` seconds moves that clock). Any failure: 401 {"code": "NotAuthenticated", "message":
"The required information to complete authentication was not provided or was incorrect."}; the reason is
kept in `auth_failures` (never the signature).

API (JSON in camelCase as the SDK's attribute_maps; errors {"code", "message"} with opc-request-id):
  * POST /models (CreateModel: compartmentId, projectId required; lifecycleState ACTIVE at once),
    GET /models (ListModels: compartmentId required; projectId, id, displayName, lifecycleState, limit, page,
    sortBy timeCreated|displayName|lifecycleState, sortOrder), GET/PUT/DELETE /models/{id} (Update with
    if-match; Delete -> 204, the model is DELETED; 409 IncorrectState while a live deployment uses it).
  * POST /models/{id}/artifact (the bytes; content-disposition kept; a second upload -> 409 Conflict: model
    artifacts are immutable), GET and HEAD /models/{id}/artifact/content (content-length,
    content-disposition, content-md5, last-modified, etag; 404 before an upload).
  * POST /modelDeployments (200, lifecycleState CREATING, opc-work-request-id), GET /modelDeployments
    (compartmentId required; projectId, id, displayName, lifecycleState, paging, sorting), GET
    /modelDeployments/{id}, PUT /modelDeployments/{id} (202 + opc-work-request-id; if-match), DELETE (202),
    POST .../actions/activate (INACTIVE only) and .../actions/deactivate (ACTIVE only), both 202.
    Bodies are checked against the SDK's field names: an unknown field at any level the stand-in models ->
    400 InvalidParameter (decision: strict, so that a misspelt field fails here rather than being ignored);
    required fields -> 400 MissingParameter. deploymentType SINGLE_MODEL; modelConfigurationDetails {modelId
    (an ACTIVE model with an artifact), instanceConfiguration {instanceShapeName, modelDeploymentInstance-
    ShapeConfigDetails {ocpus, memoryInGBs} (required for *Flex shapes), subnetId}, scalingPolicy FIXED_SIZE
    {instanceCount >= 1}, bandwidthMbps}; environmentConfigurationDetails DEFAULT {environmentVariables} or
    OCIR_CONTAINER {image (required), imageDigest, cmd, entrypoint, serverPort, healthCheckPort,
    environmentVariables}; environment variables under 2048 bytes in all; categoryLogDetails {access,
    predict} each {logId, logGroupId}.
  * Work requests: GET /workRequests/{id} (status ACCEPTED, IN_PROGRESS, SUCCEEDED, FAILED, percentComplete,
    resources, timeAccepted/Started/Finished), GET /workRequests/{id}/errors, /workRequests/{id}/logs,
    GET /workRequests (compartmentId required; resourceId, operationType, status, paging).
  * etag on every single-resource reply; if-match on PUT/DELETE/actions -> 412 NoEtagMatch when stale.
  * opc-retry-token on CreateModel, CreateModelArtifact and CreateModelDeployment (the operations of these
    that take one; activate/deactivate do not): the same token, path and body again -> the first reply
    replayed (same resource, same work request); the same token with a different body or path -> 409
    Conflict. Tokens do not expire here (24 h at OCI).
  * Paging: limit (1-1000, default and at most `page_size`) and page (the opaque opc-next-page of the previous
    reply).
  * Errors: 400 InvalidParameter / MissingParameter / CannotParseRequest, 401 NotAuthenticated, 404
    NotAuthorizedOrNotFound (unknown ids, and paths not served: NotFound), 409 IncorrectState / Conflict,
    412 NoEtagMatch, 429 TooManyRequests (with retry-after), 500 InternalServerError.

Lifecycles advance deterministically, never by time: every operation on a deployment (create, update,
activate, deactivate, delete) gets a work request and a list of lifecycle states; the first is taken at
once, and each GET of that work request or of the deployment takes the next one (the last sticks). Defaults
(`polls`=2): create CREATING, CREATING, ACTIVE; update/activate/deactivate UPDATING, UPDATING, ACTIVE or
INACTIVE; delete DELETING, DELETING, DELETED. The work request is ACCEPTED at first, IN_PROGRESS between,
SUCCEEDED on ACTIVE/INACTIVE/DELETED and FAILED on FAILED/NEEDS_ATTENTION (with errors and log messages).
script(operation, states, target=..., errors=..., logs=...) replaces the defaults for one operation.
An update that changes only displayName, description or tags succeeds at once (its work request too).

Predict ("modeldeployment" listener): POST /<ocid>/predict, signed like the API (body headers included).
404 NotAuthorizedOrNotFound unless the deployment exists and is ACTIVE (or UPDATING in an update), 405 for other methods, 411
LengthRequired without Content-Length, 413 PayloadTooLarge over 10 MB (10 * 1024 * 1024 bytes), 429
TooManyRequests from throttle_predict(). Otherwise the body goes, as is, with its content-type, to the
backend URL of the deployment (set_backend(), or what `on_deployment_active(deployment dict) -> URL | None`
returned when the deployment became ACTIVE, and again when an update that changed its model or environment ends
ACTIVE; a hook that raises fails the deployment with its message), and
the backend's status, body and content-type come back; 503 ServiceUnavailable when no backend answers.

Object Storage (on the API listener, for the service conda packs' index): GET /n/{namespace}/b/{bucket}/o/{object}
(the object name percent-encoded as the SDK sends it), signed like the API; put_object() stores one; unknown ones
404 ObjectNotFound.

Test controls: add_api_key, add_session_token, script, inject_fault(operation, status 429|500|401|...,
times) (operation = the SDK method name, e.g. "create_model_deployment", "get_work_request", or "predict"),
throttle_predict, set_backend, on_deployment_active, clock_offset; inspection: requests (operation, method,
path, status, key_id of every request), auth_failures, deployment(id), model(id), artifact(model id),
work_request(id), predict_log, errors (tracebacks of stand-in bugs; tests assert it stays empty).
"""
import argparse
import base64
import copy
import datetime
import email.utils
import hashlib
import http.client
import itertools
import json
import re
import secrets
import signal
import socket
import sys
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

API_VERSION = "20190101"
MAX_PREDICT_BYTES = 10 * 1024 * 1024
MAX_CLOCK_SKEW = 300
MAX_ENV_BYTES = 2048
NOT_AUTHENTICATED = "The required information to complete authentication was not provided or was incorrect."
NOT_FOUND = "Authorization failed or requested resource not found."
DEPLOYMENT_STATES = ("CREATING", "ACTIVE", "DELETING", "FAILED", "INACTIVE", "UPDATING", "DELETED", "NEEDS_ATTENTION")
DONE_STATES = {"ACTIVE": "SUCCEEDED", "INACTIVE": "SUCCEEDED", "DELETED": "SUCCEEDED",
               "FAILED": "FAILED", "NEEDS_ATTENTION": "FAILED"}
OPERATIONS = {"create": "MODEL_DEPLOYMENT_CREATE", "update": "MODEL_DEPLOYMENT_UPDATE",
              "activate": "MODEL_DEPLOYMENT_ACTIVATE", "deactivate": "MODEL_DEPLOYMENT_DEACTIVATE",
              "delete": "MODEL_DEPLOYMENT_DELETE"}
ACTION_TYPES = {"create": "CREATED", "update": "UPDATED", "activate": "UPDATED", "deactivate": "UPDATED",
                "delete": "DELETED"}
REGION_KEYS = {"us-ashburn-1": "iad", "us-phoenix-1": "phx", "eu-frankfurt-1": "fra", "uk-london-1": "lhr",
               "ap-tokyo-1": "nrt", "eu-amsterdam-1": "ams", "us-chicago-1": "ord"}
MODEL_STATES = ("ACTIVE", "DELETED", "FAILED", "INACTIVE")

# Fields the service takes, by body object (the SDK models' attribute_map values, oci 2.189.0).
CREATE_MODEL_FIELDS = {"compartmentId", "projectId", "displayName", "description", "freeformTags", "definedTags",
                       "customMetadataList", "definedMetadataList", "inputSchema", "outputSchema",
                       "modelVersionSetId", "versionLabel", "retentionSetting", "backupSetting"}
UPDATE_MODEL_FIELDS = {"displayName", "description", "freeformTags", "definedTags", "customMetadataList",
                       "definedMetadataList", "modelVersionSetId", "versionLabel", "retentionSetting",
                       "backupSetting"}
CREATE_DEPLOYMENT_FIELDS = {"displayName", "description", "projectId", "compartmentId",
                            "modelDeploymentConfigurationDetails", "categoryLogDetails", "freeformTags",
                            "definedTags"}
UPDATE_DEPLOYMENT_FIELDS = CREATE_DEPLOYMENT_FIELDS - {"projectId", "compartmentId"}
CONFIG_FIELDS = {"deploymentType", "modelConfigurationDetails", "environmentConfigurationDetails"}
MODEL_CONFIG_FIELDS = {"modelId", "modelArtifactSignatureId", "instanceConfiguration", "scalingPolicy",
                       "bandwidthMbps", "maximumBandwidthMbps"}
INSTANCE_FIELDS = {"instanceShapeName", "modelDeploymentInstanceShapeConfigDetails", "subnetId",
                   "privateEndpointId", "networkAccessType", "capacityReservationIds"}
SHAPE_CONFIG_FIELDS = {"ocpus", "memoryInGBs", "cpuBaseline"}
FIXED_SIZE_FIELDS = {"policyType", "instanceCount"}
DEFAULT_ENV_FIELDS = {"environmentConfigurationType", "environmentVariables"}
OCIR_ENV_FIELDS = {"environmentConfigurationType", "image", "imageDigest", "imageSignatureId", "cmd", "entrypoint",
                   "serverPort", "healthCheckPort", "environmentVariables", "defaultEnvironmentVariables",
                   "predictApiSpecification", "customHttpEndpoints"}
CATEGORY_LOG_FIELDS = {"access", "predict"}
LOG_FIELDS = {"logId", "logGroupId"}


def _now_iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _request_id():
    return "/".join(secrets.token_hex(16).upper() for _ in range(3))


class OciError(Exception):
    def __init__(self, status, code, message, headers=None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def _bad(message, code="InvalidParameter"):
    return OciError(400, code, message)


def _not_found(message=NOT_FOUND):
    return OciError(404, "NotAuthorizedOrNotFound", message)


# ------------------------------------------------------------------------------ HTTP plumbing
class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, addr, handler, owner, kind):
        self.owner, self.kind = owner, kind
        self.connections = set()
        self.conn_lock = threading.Lock()
        super().__init__(addr, handler)

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionError, socket.timeout, OSError)):
            return
        self.owner.errors.append(traceback.format_exc())

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
    server_version = "oci-datascience-standin"

    def setup(self):
        try:  # headers and body go out in separate writes: without this, Nagle + delayed ACK cost 40 ms
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        with self.server.conn_lock:
            self.server.connections.add(self.request)
        super().setup()

    def finish(self):
        try:
            super().finish()
            if getattr(self, "_linger", False):
                self._drain()
        finally:
            with self.server.conn_lock:
                self.server.connections.discard(self.request)

    def _drain(self):
        """After an early reply (411, 413, ...) to a request whose body was not read: half-close, then read
        what the client still sends (bounded) so that closing does not reset the connection before the client
        has read the reply (a lingering close)."""
        try:
            self.request.shutdown(socket.SHUT_WR)
            self.request.settimeout(2)
            left = 2 * MAX_PREDICT_BYTES
            while left > 0:
                chunk = self.request.recv(65536)
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:
            pass

    def log_message(self, fmt, *args):
        pass

    def version_string(self):
        return self.server_version

    def send(self, status, body=b"", content_type=None, headers=None, head_length=None, close=False):
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        length = head_length if (self.command == "HEAD" and head_length is not None) else len(body)
        self.send_header("Content-Length", str(length))
        for k, v in (headers or {}).items():
            if v is not None:
                self.send_header(k, str(v))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = self._linger = True
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def do_GET(self):
        try:
            self.server.owner._dispatch(self)
        except Exception:
            self.server.owner.errors.append(traceback.format_exc())
            try:
                self.send(500, json.dumps({"code": "InternalServerError", "message": "Internal Server Error"}).encode(),
                          "application/json", close=True)
            except OSError:
                pass

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET


# ------------------------------------------------------------------------------ signatures
def _parse_signature(value):
    if not value or not value.startswith("Signature "):
        return None
    out = {}
    for m in re.finditer(r'(\w+)="([^"]*)"', value[len("Signature "):]):
        out[m.group(1)] = m.group(2)
    return out


def load_public_key(pem_or_key):
    """A cryptography public key from PEM text/bytes, a public key, or a private key (its public half)."""
    if hasattr(pem_or_key, "verify"):
        return pem_or_key
    if hasattr(pem_or_key, "public_key"):
        return pem_or_key.public_key()
    data = pem_or_key.encode() if isinstance(pem_or_key, str) else pem_or_key
    return serialization.load_pem_public_key(data)


def fingerprint(public_key):
    """OCI's API-key fingerprint: MD5 of the DER SubjectPublicKeyInfo, colon-separated hex pairs."""
    der = load_public_key(public_key).public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashlib.md5(der).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, 32, 2))


# ------------------------------------------------------------------------------ the stand-in
class OciDataScienceStandIn:
    def __init__(self, *, region="us-ashburn-1", polls=2, page_size=100, host="127.0.0.1", port=0, predict_port=0,
                 retry_after=1):
        self.region, self.polls, self.page_size, self.host = region, polls, page_size, host
        self.retry_after = retry_after
        self.region_key = REGION_KEYS.get(region, region)
        self._ports = (port, predict_port)
        self._lock = threading.RLock()
        self._keys = {}            # keyId -> public key
        self._models = {}          # ocid -> record
        self._deployments = {}     # ocid -> record
        self._work_requests = {}   # ocid -> record
        self._retry_tokens = {}    # token -> (method, path, body sha256, reply)
        self._scripts = []         # {"operation", "target", "states", "errors", "logs"}
        self._faults = []          # {"operation", "status", "code", "message", "remaining", "retry_after"}
        self._predict_throttles = []
        self._backends = {}        # deployment ocid -> URL
        self._objects = {}         # (namespace, bucket, object name) -> bytes (Object Storage)
        self._seq = itertools.count(1)
        self.on_deployment_active = None   # callable(deployment dict) -> backend URL or None
        self.clock_offset = 0.0
        self.requests, self.auth_failures, self.predict_log, self.errors = [], [], [], []
        self._api = self._predict = None
        self._threads = []

    # ---------------------------------------------------------------- lifecycle
    def start(self):
        self._api = _Server((self.host, self._ports[0]), _Handler, self, "api")
        self._predict = _Server((self.host, self._ports[1]), _Handler, self, "predict")
        for name, srv in (("oci-api", self._api), ("oci-modeldeployment", self._predict)):
            t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self):
        for srv in (self._api, self._predict):
            if srv is not None:
                srv.shutdown()
                srv.close_connections()
                srv.server_close()
        for t in self._threads:
            t.join(10)
        self._api = self._predict = None
        self._threads = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self):
        return self._api.server_address[1]

    @property
    def predict_port(self):
        return self._predict.server_address[1]

    @property
    def url(self):
        """The SDK's service_endpoint (it appends /20190101)."""
        return f"http://{self.host}:{self.port}"

    @property
    def predict_url(self):
        return f"http://{self.host}:{self.predict_port}"

    # ---------------------------------------------------------------- test controls
    def add_key(self, key_id, public_key):
        with self._lock:
            self._keys[key_id] = load_public_key(public_key)

    def add_api_key(self, tenancy, user, fingerprint_, public_key):
        """Registers an API signing key: keyId `tenancy/user/fingerprint`."""
        self.add_key(f"{tenancy}/{user}/{fingerprint_}", public_key)

    def add_session_token(self, token, public_key):
        """Registers a session token (or resource principal token) and the public half of its session key:
        keyId `ST$<token>`."""
        self.add_key("ST$" + token, public_key)

    def remove_key(self, key_id):
        with self._lock:
            self._keys.pop(key_id, None)

    def script(self, operation, states, *, target=None, errors=None, logs=None):
        """The lifecycle states of the next `operation` (create, update, activate, deactivate, delete) on
        `target` (a deployment ocid or displayName; None: any deployment): the first is taken at once, one more
        per GET of the work request or the deployment, the last sticks. A last state FAILED or NEEDS_ATTENTION
        fails the work request with `errors` ([{"code", "message"}] or strings; a default one otherwise) and
        adds `logs` (strings) to its log messages."""
        if operation not in OPERATIONS:
            raise ValueError(f"operation must be one of {sorted(OPERATIONS)}")
        bad = [s for s in states if s not in DEPLOYMENT_STATES]
        if not states or bad:
            raise ValueError(f"states must be non-empty, of {DEPLOYMENT_STATES}; got {bad or states}")
        with self._lock:
            self._scripts.append({"operation": operation, "target": target, "states": list(states),
                                  "errors": errors, "logs": logs})

    def inject_fault(self, operation, status=429, *, code=None, message=None, times=1, retry_after=None):
        """The next `times` requests of `operation` (the SDK method name, or "predict") answer `status` with
        OCI's error body (after the signature check). times=-1: until clear_faults()."""
        defaults = {400: ("InvalidParameter", "Injected invalid parameter."),
                    401: ("NotAuthenticated", NOT_AUTHENTICATED),
                    404: ("NotAuthorizedOrNotFound", NOT_FOUND),
                    409: ("IncorrectState", "The resource is in a conflicting state."),
                    429: ("TooManyRequests", "Too many requests for the tenancy."),
                    500: ("InternalServerError", "Internal Server Error"),
                    503: ("ServiceUnavailable", "Service Unavailable")}
        dcode, dmessage = defaults.get(status, ("InternalServerError", "Injected failure."))
        with self._lock:
            self._faults.append({"operation": operation, "status": status, "code": code or dcode,
                                 "message": message or dmessage, "remaining": times,
                                 "retry_after": retry_after if retry_after is not None
                                 else (self.retry_after if status == 429 else None)})

    def clear_faults(self):
        with self._lock:
            self._faults.clear()
            self._predict_throttles.clear()

    def throttle_predict(self, deployment_id=None, times=1, retry_after=None):
        """The next `times` predict requests (of `deployment_id`, or any) answer 429 TooManyRequests."""
        with self._lock:
            self._predict_throttles.append({"deployment": deployment_id, "remaining": times,
                                            "retry_after": retry_after})

    def set_backend(self, deployment_id, url):
        with self._lock:
            self._backends[deployment_id] = url

    def put_object(self, namespace, bucket, name, data):
        """An Object Storage object the API listener serves (GET /n/{namespace}/b/{bucket}/o/{name}, signed)."""
        with self._lock:
            self._objects[(namespace, bucket, name)] = bytes(data)

    def deployment(self, ocid):
        with self._lock:
            return copy.deepcopy(self._deployments[ocid]["obj"])

    def model(self, ocid):
        with self._lock:
            return copy.deepcopy(self._models[ocid]["obj"])

    def artifact(self, model_ocid):
        """The bytes uploaded as model `model_ocid`'s artifact (None before an upload)."""
        with self._lock:
            art = self._models[model_ocid]["artifact"]
            return art["data"] if art else None

    def work_request(self, ocid):
        with self._lock:
            return copy.deepcopy(self._work_requests[ocid]["obj"])

    # ---------------------------------------------------------------- helpers
    def _now(self):
        return time.time() + self.clock_offset

    def _ocid(self, kind):
        return f"ocid1.{kind}.oc1.{self.region_key}.amaaaaaa{secrets.token_hex(26)}"

    def _etag(self):
        return secrets.token_hex(32)

    def _take_fault(self, operation):
        with self._lock:
            for f in self._faults:
                if f["operation"] == operation and f["remaining"] != 0:
                    f["remaining"] -= 1
                    return f
        return None

    # ---------------------------------------------------------------- dispatch
    def _dispatch(self, h):
        kind = h.server.kind
        rid = h.headers.get("opc-request-id") or _request_id()
        split = urllib.parse.urlsplit(h.path)
        path, query = split.path, urllib.parse.parse_qs(split.query, keep_blank_values=True)
        entry = {"service": kind, "method": h.command, "path": path, "query": split.query, "status": None,
                 "operation": None, "key_id": None}
        with self._lock:
            self.requests.append(entry)

        def reply(status, obj=None, headers=None, raw=None, content_type="application/json", head_length=None,
                  close=False):
            entry["status"] = status
            hdrs = {"opc-request-id": rid}
            hdrs.update(headers or {})
            body = raw if raw is not None else (json.dumps(obj).encode() if obj is not None else b"")
            h.send(status, body, content_type if (body or head_length) else None, hdrs, head_length, close)

        def error(e, close=False):
            body = b"" if h.command == "HEAD" else json.dumps({"code": e.code, "message": e.message}).encode()
            reply(e.status, raw=body, headers=e.headers, close=close)

        try:
            if kind == "predict":
                return self._predict_request(h, path, entry, reply, error)
            operation, route = self._route(h.command, path)
            entry["operation"] = operation
            body = self._read_body(h)
            signed_body = not (operation == "create_model_artifact")
            entry["key_id"] = self._verify(h, body, signed_body)
            f = self._take_fault(operation)
            if f:
                hdrs = {"retry-after": f["retry_after"]} if f["retry_after"] is not None else {}
                raise OciError(f["status"], f["code"], f["message"], hdrs)
            status, obj, headers, raw = route(h, query, body, entry)
            extra = {}
            if raw is not None:
                return reply(status, raw=raw[0], headers=headers, content_type=raw[1], head_length=raw[2])
            return reply(status, obj, {**extra, **(headers or {})})
        except OciError as e:
            return error(e, close=getattr(e, "close", False))

    def _read_body(self, h):
        if "chunked" in (h.headers.get("Transfer-Encoding") or "").lower():
            data = b""
            while True:
                size = int(h.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += h.rfile.read(size)
                h.rfile.readline()
        n = int(h.headers.get("Content-Length") or 0)
        return h.rfile.read(n) if n else b""

    def _verify(self, h, body, sign_body=True):
        """Checks the request signature; returns the keyId, or raises 401."""
        def fail(reason):
            with self._lock:
                self.auth_failures.append(f"{h.command} {h.path}: {reason}")
            raise OciError(401, "NotAuthenticated", NOT_AUTHENTICATED)

        params = _parse_signature(h.headers.get("Authorization"))
        if params is None:
            fail("no Authorization: Signature header")
        for p in ("keyId", "signature", "headers"):
            if p not in params:
                fail(f"Signature without {p}")
        if params.get("algorithm", "rsa-sha256") != "rsa-sha256":
            fail(f"algorithm {params.get('algorithm')!r} is not rsa-sha256")
        signed = params["headers"].lower().split()
        required = ["(request-target)", "host"]
        if "date" not in signed and "x-date" not in signed:
            fail("neither date nor x-date signed")
        if h.command in ("POST", "PUT", "PATCH") and sign_body:
            required += ["content-length", "content-type", "x-content-sha256"]
        missing = [r for r in required if r not in signed]
        if missing:
            fail(f"headers {missing} not signed")
        with self._lock:
            key = self._keys.get(params["keyId"])
        if key is None:
            fail(f"unknown keyId {params['keyId'][:60]!r}")
        lines = []
        for name in signed:
            if name == "(request-target)":
                lines.append(f"(request-target): {h.command.lower()} {h.path}")
            else:
                value = h.headers.get(name)
                if value is None:
                    fail(f"signed header {name} absent")
                lines.append(f"{name}: {value}")
        try:
            key.verify(base64.b64decode(params["signature"]), "\n".join(lines).encode(), padding.PKCS1v15(),
                       hashes.SHA256())
        except (InvalidSignature, ValueError):
            fail(f"signature does not verify with the key of {params['keyId'][:60]!r}")
        date = h.headers.get("x-date") if "x-date" in signed else h.headers.get("date")
        try:
            when = email.utils.parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            fail(f"unreadable date {date!r}")
        if abs(when - self._now()) > MAX_CLOCK_SKEW:
            fail(f"date {date!r} more than {MAX_CLOCK_SKEW} s from the server clock")
        if "x-content-sha256" in signed:
            digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
            if h.headers.get("x-content-sha256") != digest:
                fail("x-content-sha256 is not the SHA-256 of the body")
        if "content-length" in signed and int(h.headers.get("content-length") or -1) != len(body):
            fail("content-length is not the body's length")
        return params["keyId"]

    def _route(self, method, path):
        prefix = f"/{API_VERSION}/"
        if path.startswith("/n/"):  # Object Storage: GET /n/{namespace}/b/{bucket}/o/{object name, encoded}
            segs = [urllib.parse.unquote(s) for s in path.split("/")[1:]]
            if len(segs) == 6 and segs[2] == "b" and segs[4] == "o":
                if method != "GET":
                    return None, self._method_not_allowed
                key = (segs[1], segs[3], segs[5])
                return "get_object", lambda h, q, b, e, key=key: self._get_object(key)
            return None, self._no_route
        if not path.startswith(prefix):
            return None, self._no_route
        segs = [urllib.parse.unquote(s) for s in path[len(prefix):].strip("/").split("/")]
        table = [
            ("POST", ["models"], "create_model", self._create_model),
            ("GET", ["models"], "list_models", self._list_models),
            ("GET", ["models", None], "get_model", self._get_model),
            ("PUT", ["models", None], "update_model", self._update_model),
            ("DELETE", ["models", None], "delete_model", self._delete_model),
            ("POST", ["models", None, "artifact"], "create_model_artifact", self._create_artifact),
            ("GET", ["models", None, "artifact", "content"], "get_model_artifact_content", self._get_artifact),
            ("HEAD", ["models", None, "artifact", "content"], "head_model_artifact", self._get_artifact),
            ("POST", ["modelDeployments"], "create_model_deployment", self._create_deployment),
            ("GET", ["modelDeployments"], "list_model_deployments", self._list_deployments),
            ("GET", ["modelDeployments", None], "get_model_deployment", self._get_deployment),
            ("PUT", ["modelDeployments", None], "update_model_deployment", self._update_deployment),
            ("DELETE", ["modelDeployments", None], "delete_model_deployment", self._delete_deployment),
            ("POST", ["modelDeployments", None, "actions", "activate"], "activate_model_deployment",
             self._activate),
            ("POST", ["modelDeployments", None, "actions", "deactivate"], "deactivate_model_deployment",
             self._deactivate),
            ("GET", ["workRequests"], "list_work_requests", self._list_work_requests),
            ("GET", ["workRequests", None], "get_work_request", self._get_work_request),
            ("GET", ["workRequests", None, "errors"], "list_work_request_errors", self._list_wr_errors),
            ("GET", ["workRequests", None, "logs"], "list_work_request_logs", self._list_wr_logs),
        ]
        path_matched = False
        for m, pattern, operation, fn in table:
            if len(pattern) == len(segs) and all(p is None or p == s for p, s in zip(pattern, segs)):
                path_matched = True
                if m == method:
                    ident = next((s for p, s in zip(pattern, segs) if p is None), None)
                    return operation, (lambda h, q, b, e, fn=fn, ident=ident: fn(h, q, b, e, ident))
        if path_matched:
            return None, self._method_not_allowed
        return None, self._no_route

    def _get_object(self, key):
        with self._lock:
            data = self._objects.get(key)
        if data is None:
            raise OciError(404, "ObjectNotFound", f"The object '{key[2]}' was not found in the bucket '{key[1]}'")
        return 200, None, {"etag": hashlib.md5(data).hexdigest()}, (data, "application/json", None)

    def _no_route(self, *a):
        raise OciError(404, "NotFound", "There is no operation supported at the URI path and HTTP method specified.")

    def _method_not_allowed(self, *a):
        raise OciError(405, "MethodNotAllowed", "The target resource does not support the HTTP method.")

    # ---------------------------------------------------------------- request pieces
    @staticmethod
    def _json(body):
        try:
            data = json.loads(body or b"null")
        except ValueError as e:
            raise _bad(f"Unable to parse the request body as JSON: {e}", "CannotParseRequest")
        if not isinstance(data, dict):
            raise _bad("The request body must be a JSON object.", "CannotParseRequest")
        return data

    @staticmethod
    def _check_fields(obj, allowed, where, required=()):
        if not isinstance(obj, dict):
            raise _bad(f"{where} must be an object.")
        unknown = sorted(set(obj) - set(allowed))
        if unknown:
            raise _bad(f"Unrecognized field(s) {unknown} in {where}.")
        for r in required:
            if obj.get(r) in (None, ""):
                raise _bad(f"{where}.{r} is required." if where != "body" else f"{r} is required.",
                           "MissingParameter")

    @staticmethod
    def _check_tags(data):
        ff = data.get("freeformTags")
        if ff is not None and (not isinstance(ff, dict) or not all(isinstance(v, str) for v in ff.values())):
            raise _bad("freeformTags must be an object of string values.")
        dt = data.get("definedTags")
        if dt is not None and (not isinstance(dt, dict) or not all(isinstance(v, dict) for v in dt.values())):
            raise _bad("definedTags must be an object of namespaces, each an object of tags.")

    @staticmethod
    def _check_ocid(value, kinds, name):
        if not isinstance(value, str) or not any(value.startswith(f"ocid1.{k}.") for k in kinds):
            raise _bad(f"{name} must be an OCID of {' or '.join(kinds)}: {value!r}")

    def _if_match(self, h, rec):
        im = h.headers.get("if-match")
        if im is not None and im != rec["etag"]:
            raise OciError(412, "NoEtagMatch", "The if-match value does not match the resource's current etag.")

    def _retry_token(self, h, body):
        """A replayed reply for a known opc-retry-token, None for a new one; 409 on a conflicting reuse."""
        token = h.headers.get("opc-retry-token")
        if not token:
            return None, None
        if len(token) > 64:
            raise _bad("opc-retry-token must be at most 64 characters.")
        key = (h.command, urllib.parse.urlsplit(h.path).path, hashlib.sha256(body).hexdigest())
        with self._lock:
            seen = self._retry_tokens.get(token)
        if seen is None:
            return token, None
        if seen[0] != key:
            raise OciError(409, "Conflict", "The opc-retry-token was used with a different request; "
                                            "use a new token for a new request.")
        return token, seen[1]

    def _remember(self, token, h, body, reply):
        if token:
            key = (h.command, urllib.parse.urlsplit(h.path).path, hashlib.sha256(body).hexdigest())
            with self._lock:
                self._retry_tokens[token] = (key, reply)
        return reply

    @staticmethod
    def _user(entry):
        key_id = entry.get("key_id") or ""
        parts = key_id.split("/")
        return parts[1] if len(parts) == 3 and parts[1].startswith("ocid1.") else "ocid1.principal.oc1..standin"

    def _page(self, items, q):
        try:
            limit = int((q.get("limit") or [self.page_size])[0])
        except ValueError:
            raise _bad("limit must be an integer.")
        if not 1 <= limit <= 1000:
            raise _bad("limit must be between 1 and 1000.")
        limit = min(limit, self.page_size)  # a page may hold fewer than asked: clients follow opc-next-page
        start = 0
        page = (q.get("page") or [None])[0]
        if page:
            try:
                start = int(base64.urlsafe_b64decode(page.encode() + b"==").decode().removeprefix("offset:"))
            except ValueError:
                start = -1
            if start < 0:
                raise _bad(f"Invalid page token {page!r}.")
        chunk = items[start:start + limit]
        headers = {}
        if start + limit < len(items):
            headers["opc-next-page"] = base64.urlsafe_b64encode(f"offset:{start + limit}".encode()).decode().rstrip("=")
        return chunk, headers

    @staticmethod
    def _sort(records, q, keys):
        sort_by = (q.get("sortBy") or ["timeCreated"])[0]
        order = (q.get("sortOrder") or [None])[0]
        if sort_by not in keys:
            raise _bad(f"sortBy must be one of {list(keys)}.")
        if order not in (None, "ASC", "DESC"):
            raise _bad("sortOrder must be ASC or DESC.")
        if order is None:
            order = "DESC" if sort_by == "timeCreated" else "ASC"
        return sorted(records, key=keys[sort_by], reverse=(order == "DESC"))

    @staticmethod
    def _need_compartment(q):
        c = (q.get("compartmentId") or [None])[0]
        if not c:
            raise _bad("compartmentId is required.", "MissingParameter")
        return c

    @staticmethod
    def _filters(records, q, fields):
        for qname, field in fields:
            v = (q.get(qname) or [None])[0]
            if v is not None:
                records = [r for r in records if r["obj"].get(field) == v]
        return records

    # ---------------------------------------------------------------- models
    def _model_or_404(self, ident):
        rec = self._models.get(ident)
        if rec is None:
            raise _not_found()
        return rec

    def _create_model(self, h, q, body, entry, _):
        token, replay = self._retry_token(h, body)
        if replay:
            return replay
        data = self._json(body)
        self._check_fields(data, CREATE_MODEL_FIELDS, "body", ("compartmentId", "projectId"))
        self._check_ocid(data["compartmentId"], ("compartment", "tenancy"), "compartmentId")
        self._check_ocid(data["projectId"], ("datascienceproject",), "projectId")
        self._check_tags(data)
        now = self._now()
        ocid = self._ocid("datasciencemodel")
        obj = {"id": ocid, "compartmentId": data["compartmentId"], "projectId": data["projectId"],
               "displayName": data.get("displayName") or f"model{time.strftime('%Y%m%d%H%M%S', time.gmtime(now))}",
               "description": data.get("description"), "lifecycleState": "ACTIVE", "lifecycleDetails": None,
               "timeCreated": _now_iso(now), "createdBy": self._user(entry),
               "freeformTags": data.get("freeformTags") or {}, "definedTags": data.get("definedTags") or {},
               "customMetadataList": data.get("customMetadataList") or [],
               "definedMetadataList": data.get("definedMetadataList") or [],
               "inputSchema": data.get("inputSchema"), "outputSchema": data.get("outputSchema"),
               "modelVersionSetId": data.get("modelVersionSetId"), "modelVersionSetName": None,
               "versionId": None, "versionLabel": data.get("versionLabel"), "category": "USER",
               "isModelByReference": False}
        rec = {"obj": obj, "etag": self._etag(), "seq": next(self._seq), "artifact": None}
        with self._lock:
            self._models[ocid] = rec
        return self._remember(token, h, body, (200, copy.deepcopy(obj), {"etag": rec["etag"]}, None))

    def _list_models(self, h, q, body, entry, _):
        compartment = self._need_compartment(q)
        state = (q.get("lifecycleState") or [None])[0]
        if state is not None and state not in MODEL_STATES:
            raise _bad(f"lifecycleState must be one of {list(MODEL_STATES)}.")
        with self._lock:
            recs = [r for r in self._models.values() if r["obj"]["compartmentId"] == compartment]
            recs = self._filters(recs, q, [("projectId", "projectId"), ("id", "id"), ("displayName", "displayName"),
                                           ("lifecycleState", "lifecycleState")])
            recs = self._sort(recs, q, {"timeCreated": lambda r: r["seq"],
                                        "displayName": lambda r: r["obj"]["displayName"],
                                        "lifecycleState": lambda r: r["obj"]["lifecycleState"]})
            summary = ("compartmentId", "projectId", "id", "displayName", "createdBy", "timeCreated",
                       "lifecycleState", "lifecycleDetails", "modelVersionSetId", "modelVersionSetName",
                       "versionId", "versionLabel", "category", "isModelByReference", "freeformTags", "definedTags")
            items = [{k: copy.deepcopy(r["obj"].get(k)) for k in summary} for r in recs]
        chunk, headers = self._page(items, q)
        return 200, chunk, headers, None

    def _get_model(self, h, q, body, entry, ident):
        with self._lock:
            rec = self._model_or_404(ident)
            return 200, copy.deepcopy(rec["obj"]), {"etag": rec["etag"]}, None

    def _update_model(self, h, q, body, entry, ident):
        data = self._json(body)
        self._check_fields(data, UPDATE_MODEL_FIELDS, "body")
        self._check_tags(data)
        with self._lock:
            rec = self._model_or_404(ident)
            self._if_match(h, rec)
            if rec["obj"]["lifecycleState"] == "DELETED":
                raise OciError(409, "IncorrectState", f"Model {ident} is DELETED.")
            rec["obj"].update({k: copy.deepcopy(v) for k, v in data.items() if v is not None})
            rec["etag"] = self._etag()
            return 200, copy.deepcopy(rec["obj"]), {"etag": rec["etag"]}, None

    def _delete_model(self, h, q, body, entry, ident):
        with self._lock:
            rec = self._model_or_404(ident)
            self._if_match(h, rec)
            if rec["obj"]["lifecycleState"] == "DELETED":
                raise _not_found()
            users = [d["obj"]["id"] for d in self._deployments.values()
                     if d["obj"]["lifecycleState"] not in ("DELETED", "FAILED")
                     and d["obj"]["modelDeploymentConfigurationDetails"]["modelConfigurationDetails"]["modelId"]
                     == ident]
            if users:
                raise OciError(409, "IncorrectState",
                               f"Model {ident} is used by model deployment(s) {users}; delete them first.")
            rec["obj"]["lifecycleState"] = "DELETED"
            rec["etag"] = self._etag()
        return 204, None, {}, None

    def _create_artifact(self, h, q, body, entry, ident):
        token, replay = self._retry_token(h, body)
        if replay:
            return replay
        with self._lock:
            rec = self._model_or_404(ident)
            self._if_match(h, rec)
            if rec["obj"]["lifecycleState"] != "ACTIVE":
                raise OciError(409, "IncorrectState", f"Model {ident} is {rec['obj']['lifecycleState']}.")
            if rec["artifact"] is not None:
                raise OciError(409, "Conflict", f"Model {ident} already has an artifact; model artifacts are "
                                                "immutable: create a new model.")
            rec["artifact"] = {"data": body, "disposition": h.headers.get("content-disposition")
                               or f'attachment; filename="{ident}.zip"',
                               "md5": base64.b64encode(hashlib.md5(body).digest()).decode(),
                               "modified": email.utils.formatdate(self._now(), usegmt=True), "etag": self._etag()}
            rec["etag"] = self._etag()
            reply = (200, None, {"etag": rec["etag"]}, None)
        return self._remember(token, h, body, reply)

    def _get_artifact(self, h, q, body, entry, ident):
        with self._lock:
            rec = self._model_or_404(ident)
            art = rec["artifact"]
            if art is None or rec["obj"]["lifecycleState"] == "DELETED":
                raise _not_found()
            headers = {"content-disposition": art["disposition"], "content-md5": art["md5"],
                       "last-modified": art["modified"], "etag": art["etag"]}
            return 200, None, headers, (art["data"], "application/octet-stream", len(art["data"]))

    # ---------------------------------------------------------------- deployments: validation
    def _check_env(self, env, update=False):
        t = env.get("environmentConfigurationType")
        if t == "DEFAULT":
            self._check_fields(env, DEFAULT_ENV_FIELDS, "environmentConfigurationDetails")
        elif t == "OCIR_CONTAINER":
            self._check_fields(env, OCIR_ENV_FIELDS, "environmentConfigurationDetails",
                               () if update else ("image",))
            for port in ("serverPort", "healthCheckPort"):
                v = env.get(port)
                if v is not None and (not isinstance(v, int) or not 1024 <= v <= 65535 or v in (24224, 8446)):
                    raise _bad(f"environmentConfigurationDetails.{port} must be a port in 1024-65535 other than "
                               f"24224 and 8446: {v!r}")
            for lst in ("cmd", "entrypoint"):
                v = env.get(lst)
                if v is not None and (not isinstance(v, list) or not all(isinstance(s, str) for s in v)):
                    raise _bad(f"environmentConfigurationDetails.{lst} must be a list of strings.")
            digest = env.get("imageDigest")
            if digest is not None and not re.fullmatch(r"sha256:[0-9a-f]{64}", str(digest)):
                raise _bad(f"environmentConfigurationDetails.imageDigest must be sha256:<64 hex>: {digest!r}")
        else:
            raise _bad("environmentConfigurationDetails.environmentConfigurationType must be DEFAULT or "
                       f"OCIR_CONTAINER: {t!r}")
        variables = env.get("environmentVariables") or {}
        if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
            raise _bad("environmentConfigurationDetails.environmentVariables must be an object of strings.")
        size = sum(len(k.encode()) + len(v.encode()) for k, v in variables.items())
        if size >= MAX_ENV_BYTES:
            raise _bad(f"environmentConfigurationDetails.environmentVariables take {size} bytes; the limit is "
                       f"{MAX_ENV_BYTES}.")

    def _check_model_config(self, mc, update=False):
        self._check_fields(mc, MODEL_CONFIG_FIELDS, "modelConfigurationDetails",
                           () if update else ("modelId", "instanceConfiguration"))
        if "modelId" in mc:
            rec = self._models.get(mc["modelId"])
            if rec is None or rec["obj"]["lifecycleState"] == "DELETED":
                raise OciError(400, "RelatedResourceNotAuthorizedOrNotFound",
                               f"Model {mc['modelId']} not found or not authorized.")
            if rec["artifact"] is None:
                raise _bad(f"Model {mc['modelId']} has no model artifact.")
        ic = mc.get("instanceConfiguration")
        if ic is not None:
            self._check_fields(ic, INSTANCE_FIELDS, "instanceConfiguration", ("instanceShapeName",))
            shape = ic["instanceShapeName"]
            sc = ic.get("modelDeploymentInstanceShapeConfigDetails")
            if sc is not None:
                self._check_fields(sc, SHAPE_CONFIG_FIELDS, "modelDeploymentInstanceShapeConfigDetails")
                for k in ("ocpus", "memoryInGBs"):
                    if sc.get(k) is not None and (not isinstance(sc[k], (int, float)) or sc[k] <= 0):
                        raise _bad(f"modelDeploymentInstanceShapeConfigDetails.{k} must be a positive number.")
            if shape.endswith(".Flex") and not (sc and sc.get("ocpus") and sc.get("memoryInGBs")):
                raise _bad(f"Flexible shape {shape} needs modelDeploymentInstanceShapeConfigDetails with ocpus "
                           "and memoryInGBs.")
            if not shape.endswith(".Flex") and sc:
                raise _bad(f"modelDeploymentInstanceShapeConfigDetails is only for flexible shapes, not {shape}.")
        sp = mc.get("scalingPolicy")
        if sp is not None:
            if not isinstance(sp, dict) or sp.get("policyType") != "FIXED_SIZE":
                raise _bad("scalingPolicy.policyType must be FIXED_SIZE (AUTOSCALING is not modelled here).")
            self._check_fields(sp, FIXED_SIZE_FIELDS, "scalingPolicy", ("instanceCount",))
            if not isinstance(sp["instanceCount"], int) or sp["instanceCount"] < 1:
                raise _bad("scalingPolicy.instanceCount must be an integer of at least 1.")
        for bw in ("bandwidthMbps", "maximumBandwidthMbps"):
            v = mc.get(bw)
            if v is not None and (not isinstance(v, int) or v < 10):
                raise _bad(f"modelConfigurationDetails.{bw} must be an integer of at least 10: {v!r}")

    def _check_config(self, cfg, update=False):
        self._check_fields(cfg, CONFIG_FIELDS, "modelDeploymentConfigurationDetails",
                           ("deploymentType",) + (() if update else ("modelConfigurationDetails",)))
        if cfg["deploymentType"] != "SINGLE_MODEL":
            raise _bad(f"deploymentType {cfg['deploymentType']!r} is not supported here; use SINGLE_MODEL.")
        if cfg.get("modelConfigurationDetails") is not None:
            self._check_model_config(cfg["modelConfigurationDetails"], update)
        if cfg.get("environmentConfigurationDetails") is not None:
            self._check_env(cfg["environmentConfigurationDetails"], update)

    def _check_logs(self, logs):
        if logs is None:
            return
        self._check_fields(logs, CATEGORY_LOG_FIELDS, "categoryLogDetails")
        for k, v in logs.items():
            if v is not None:
                self._check_fields(v, LOG_FIELDS, f"categoryLogDetails.{k}", ("logId", "logGroupId"))
                self._check_ocid(v["logId"], ("log",), f"categoryLogDetails.{k}.logId")
                self._check_ocid(v["logGroupId"], ("loggroup",), f"categoryLogDetails.{k}.logGroupId")

    # ---------------------------------------------------------------- deployments: lifecycle
    def _default_states(self, operation, rec):
        n = self.polls
        if operation == "create":
            return ["CREATING"] * n + ["ACTIVE"]
        if operation == "delete":
            return ["DELETING"] * n + ["DELETED"]
        end = {"activate": "ACTIVE", "deactivate": "INACTIVE"}.get(operation, rec["obj"]["lifecycleState"])
        return ["UPDATING"] * n + [end]

    def _take_script(self, operation, rec):
        for s in self._scripts:
            if s["operation"] == operation and s["target"] in (None, rec["obj"]["id"], rec["obj"]["displayName"]):
                self._scripts.remove(s)
                return s
        return None

    def _start_operation(self, operation, rec, states=None, metadata_only=False):
        """A work request for `operation` on deployment `rec`; takes its first state now."""
        script = self._take_script(operation, rec)
        if script is not None:
            states, errors, logs = list(script["states"]), script["errors"], script["logs"]
        else:
            states, errors, logs = states or self._default_states(operation, rec), None, None
        now = self._now()
        wr_id = self._ocid("datascienceworkrequest")
        obj = {"id": wr_id, "operationType": OPERATIONS[operation], "status": "ACCEPTED",
               "compartmentId": rec["obj"]["compartmentId"], "percentComplete": 0.0,
               "resources": [{"entityType": "modelDeployment", "actionType": "IN_PROGRESS",
                              "identifier": rec["obj"]["id"],
                              "entityUri": f"/{API_VERSION}/modelDeployments/{rec['obj']['id']}"}],
               "timeAccepted": _now_iso(now), "timeStarted": None, "timeFinished": None}
        wr = {"obj": obj, "seq": next(self._seq), "operation": operation, "deployment": rec["obj"]["id"],
              "states": states, "step": 0, "errors": [], "logs": [],
              "fail_errors": errors, "fail_logs": logs or [], "metadata_only": metadata_only and script is None}
        self._work_requests[wr_id] = wr
        rec["work_request"] = wr_id
        self._log(wr, f"{OPERATIONS[operation]} accepted for {rec['obj']['id']}.")
        self._apply_step(wr)
        return wr

    def _log(self, wr, message):
        wr["logs"].append({"message": message, "timestamp": _now_iso(self._now())})

    def _apply_step(self, wr):
        rec = self._deployments[wr["deployment"]]
        state = wr["states"][wr["step"]]
        last = wr["step"] == len(wr["states"]) - 1
        obj = rec["obj"]
        if obj["lifecycleState"] != state:
            obj["lifecycleState"] = state
            rec["etag"] = self._etag()
        if not last:
            obj["lifecycleDetails"] = f"Model deployment is {state.lower().replace('_', ' ')}."
            if wr["step"] > 0:
                wr["obj"]["status"] = "IN_PROGRESS"
                wr["obj"]["timeStarted"] = wr["obj"]["timeStarted"] or _now_iso(self._now())
                wr["obj"]["percentComplete"] = round(100.0 * wr["step"] / (len(wr["states"]) - 1), 1)
                self._log(wr, f"{OPERATIONS[wr['operation']]}: {state} ({wr['obj']['percentComplete']}%).")
            return
        wr_obj = wr["obj"]
        wr_obj["timeStarted"] = wr_obj["timeStarted"] or _now_iso(self._now())
        if state == "ACTIVE" and DONE_STATES.get(state) == "SUCCEEDED":
            try:
                # A new backend when there is none, or when an update changed what it serves (the model, the
                # environment): the service rolls new instances.
                cfg = obj["modelDeploymentConfigurationDetails"]
                served = json.dumps([cfg["modelConfigurationDetails"].get("modelId"),
                                     cfg.get("environmentConfigurationDetails")], sort_keys=True)
                if self.on_deployment_active is not None and (obj["id"] not in self._backends
                                                               or rec.get("served") != served):
                    url = self.on_deployment_active(copy.deepcopy(obj))
                    if url:
                        self._backends[obj["id"]] = url
                        rec["served"] = served
            except Exception as e:  # the hook's failure is the model server's failure
                state = obj["lifecycleState"] = "FAILED"
                wr["fail_errors"] = [{"code": "ModelServerFailed", "message": f"{type(e).__name__}: {e}"}]
        outcome = "SUCCEEDED" if wr.get("metadata_only") else DONE_STATES.get(state)
        if outcome is None:  # a script ending in a transitional state: the work request stays in progress
            wr_obj["status"] = "IN_PROGRESS"
            return
        wr_obj["status"], wr_obj["timeFinished"] = outcome, _now_iso(self._now())
        if outcome == "SUCCEEDED":
            wr_obj["percentComplete"] = 100.0
            wr_obj["resources"][0]["actionType"] = ACTION_TYPES[wr["operation"]]
            obj["lifecycleDetails"] = None if state != "DELETED" else "Model deployment is deleted."
            self._log(wr, f"{OPERATIONS[wr['operation']]} succeeded: {state}.")
        else:
            errors = wr["fail_errors"] or [{"code": "InternalError",
                                            "message": f"Model deployment {obj['id']} ended {state}."}]
            for e in errors:
                e = e if isinstance(e, dict) else {"code": "InternalError", "message": str(e)}
                wr["errors"].append({"code": e.get("code", "InternalError"), "message": e["message"],
                                     "timestamp": _now_iso(self._now())})
            for line in wr["fail_logs"]:
                self._log(wr, line)
            obj["lifecycleDetails"] = wr["errors"][0]["message"]
            self._log(wr, f"{OPERATIONS[wr['operation']]} failed: {state}.")
        rec["etag"] = self._etag()

    def _advance(self, wr):
        """One poll: the next state of the work request's list (the last sticks)."""
        if wr is None or wr["step"] >= len(wr["states"]) - 1 or wr["obj"]["status"] in ("SUCCEEDED", "FAILED"):
            return
        wr["step"] += 1
        self._apply_step(wr)

    # ---------------------------------------------------------------- deployments: routes
    def _deployment_or_404(self, ident):
        rec = self._deployments.get(ident)
        if rec is None:
            raise _not_found()
        return rec

    def _create_deployment(self, h, q, body, entry, _):
        token, replay = self._retry_token(h, body)
        if replay:
            return replay
        data = self._json(body)
        self._check_fields(data, CREATE_DEPLOYMENT_FIELDS, "body",
                           ("compartmentId", "projectId", "modelDeploymentConfigurationDetails"))
        self._check_ocid(data["compartmentId"], ("compartment", "tenancy"), "compartmentId")
        self._check_ocid(data["projectId"], ("datascienceproject",), "projectId")
        self._check_tags(data)
        with self._lock:
            self._check_config(data["modelDeploymentConfigurationDetails"])
            self._check_logs(data.get("categoryLogDetails"))
            now = self._now()
            ocid = self._ocid("datasciencemodeldeployment")
            cfg = copy.deepcopy(data["modelDeploymentConfigurationDetails"])
            mc = cfg["modelConfigurationDetails"]
            mc.setdefault("bandwidthMbps", 10)
            mc.setdefault("scalingPolicy", {"policyType": "FIXED_SIZE", "instanceCount": 1})
            cfg.setdefault("environmentConfigurationDetails", {"environmentConfigurationType": "DEFAULT",
                                                               "environmentVariables": {}})
            obj = {"id": ocid, "timeCreated": _now_iso(now),
                   "displayName": data.get("displayName")
                   or f"modeldeployment{time.strftime('%Y%m%d%H%M%S', time.gmtime(now))}",
                   "description": data.get("description"), "projectId": data["projectId"],
                   "createdBy": self._user(entry), "compartmentId": data["compartmentId"],
                   "modelDeploymentConfigurationDetails": cfg,
                   "categoryLogDetails": copy.deepcopy(data.get("categoryLogDetails")),
                   "modelDeploymentUrl": f"{self.predict_url}/{ocid}",
                   "modelDeploymentSystemData": {"systemInfraType": "INSTANCE_POOL"},
                   "lifecycleState": "CREATING", "lifecycleDetails": None,
                   "freeformTags": data.get("freeformTags") or {}, "definedTags": data.get("definedTags") or {}}
            rec = {"obj": obj, "etag": self._etag(), "seq": next(self._seq), "work_request": None}
            self._deployments[ocid] = rec
            wr = self._start_operation("create", rec)
            reply = (200, copy.deepcopy(obj), {"etag": rec["etag"], "opc-work-request-id": wr["obj"]["id"]}, None)
        return self._remember(token, h, body, reply)

    def _list_deployments(self, h, q, body, entry, _):
        compartment = self._need_compartment(q)
        state = (q.get("lifecycleState") or [None])[0]
        if state is not None and state not in DEPLOYMENT_STATES:
            raise _bad(f"lifecycleState must be one of {list(DEPLOYMENT_STATES)}.")
        with self._lock:
            recs = [r for r in self._deployments.values() if r["obj"]["compartmentId"] == compartment]
            recs = self._filters(recs, q, [("projectId", "projectId"), ("id", "id"), ("displayName", "displayName"),
                                           ("lifecycleState", "lifecycleState"), ("createdBy", "createdBy")])
            recs = self._sort(recs, q, {"timeCreated": lambda r: r["seq"],
                                        "displayName": lambda r: r["obj"]["displayName"]})
            items = [{k: copy.deepcopy(v) for k, v in r["obj"].items() if k != "lifecycleDetails"} for r in recs]
        chunk, headers = self._page(items, q)
        return 200, chunk, headers, None

    def _get_deployment(self, h, q, body, entry, ident):
        with self._lock:
            rec = self._deployment_or_404(ident)
            self._advance(self._work_requests.get(rec["work_request"]))
            return 200, copy.deepcopy(rec["obj"]), {"etag": rec["etag"]}, None

    def _busy(self, rec):
        state = rec["obj"]["lifecycleState"]
        if state in ("CREATING", "UPDATING", "DELETING"):
            raise OciError(409, "IncorrectState",
                           f"Model deployment {rec['obj']['id']} is {state}; wait for its work request to finish.")

    def _update_deployment(self, h, q, body, entry, ident):
        data = self._json(body)
        self._check_fields(data, UPDATE_DEPLOYMENT_FIELDS, "body")
        self._check_tags(data)
        with self._lock:
            rec = self._deployment_or_404(ident)
            self._if_match(h, rec)
            state = rec["obj"]["lifecycleState"]
            if state == "DELETED":
                raise _not_found()
            self._busy(rec)
            cfg = data.get("modelDeploymentConfigurationDetails")
            if cfg is not None:
                self._check_config(cfg, update=True)
            self._check_logs(data.get("categoryLogDetails"))
            if (cfg is not None or data.get("categoryLogDetails") is not None) and state not in ("ACTIVE", "INACTIVE"):
                raise OciError(409, "IncorrectState", f"Model deployment {ident} is {state}; only ACTIVE or INACTIVE "
                                                      "deployments can be updated.")
            obj = rec["obj"]
            for k in ("displayName", "description", "freeformTags", "definedTags"):
                if data.get(k) is not None:
                    obj[k] = copy.deepcopy(data[k])
            if data.get("categoryLogDetails") is not None:
                obj["categoryLogDetails"] = copy.deepcopy(data["categoryLogDetails"])
            if cfg is not None:
                current = obj["modelDeploymentConfigurationDetails"]
                for k, v in (cfg.get("modelConfigurationDetails") or {}).items():
                    if v is not None:
                        current["modelConfigurationDetails"][k] = copy.deepcopy(v)
                if cfg.get("environmentConfigurationDetails") is not None:
                    current["environmentConfigurationDetails"] = copy.deepcopy(cfg["environmentConfigurationDetails"])
            rec["etag"] = self._etag()
            changes_runtime = state == "ACTIVE" and (cfg is not None or data.get("categoryLogDetails") is not None)
            if changes_runtime and cfg and (cfg.get("modelConfigurationDetails") or {}).get("modelId"):
                self._backends.pop(ident, None)  # the new model gets its backend when ACTIVE again
            wr = self._start_operation("update", rec, None if changes_runtime else [state],
                                       metadata_only=not changes_runtime)
            return 202, None, {"opc-work-request-id": wr["obj"]["id"], "etag": rec["etag"]}, None

    def _delete_deployment(self, h, q, body, entry, ident):
        with self._lock:
            rec = self._deployment_or_404(ident)
            self._if_match(h, rec)
            if rec["obj"]["lifecycleState"] == "DELETED":
                raise _not_found()
            self._busy(rec)
            wr = self._start_operation("delete", rec)
            self._backends.pop(ident, None)
            return 202, None, {"opc-work-request-id": wr["obj"]["id"]}, None

    def _action(self, h, body, ident, operation, from_state):
        with self._lock:
            rec = self._deployment_or_404(ident)
            self._if_match(h, rec)
            state = rec["obj"]["lifecycleState"]
            if state == "DELETED":
                raise _not_found()
            if state != from_state:
                raise OciError(409, "IncorrectState", f"Model deployment {ident} is {state}; {operation} needs "
                                                      f"{from_state}.")
            wr = self._start_operation(operation, rec)
            return 202, None, {"opc-work-request-id": wr["obj"]["id"]}, None

    def _activate(self, h, q, body, entry, ident):
        return self._action(h, body, ident, "activate", "INACTIVE")

    def _deactivate(self, h, q, body, entry, ident):
        return self._action(h, body, ident, "deactivate", "ACTIVE")

    # ---------------------------------------------------------------- work requests
    def _wr_or_404(self, ident):
        wr = self._work_requests.get(ident)
        if wr is None:
            raise _not_found()
        return wr

    def _get_work_request(self, h, q, body, entry, ident):
        with self._lock:
            wr = self._wr_or_404(ident)
            self._advance(wr)
            return 200, copy.deepcopy(wr["obj"]), {}, None

    def _list_wr_errors(self, h, q, body, entry, ident):
        with self._lock:
            items = copy.deepcopy(self._wr_or_404(ident)["errors"])
        chunk, headers = self._page(items, q)
        return 200, chunk, headers, None

    def _list_wr_logs(self, h, q, body, entry, ident):
        with self._lock:
            items = copy.deepcopy(self._wr_or_404(ident)["logs"])
        chunk, headers = self._page(items, q)
        return 200, chunk, headers, None

    def _list_work_requests(self, h, q, body, entry, _):
        compartment = self._need_compartment(q)
        with self._lock:
            recs = [w for w in self._work_requests.values() if w["obj"]["compartmentId"] == compartment]
            recs = self._filters(recs, q, [("id", "id"), ("operationType", "operationType"), ("status", "status")])
            rid = (q.get("resourceId") or [None])[0]
            if rid:
                recs = [w for w in recs if w["deployment"] == rid]
            recs = self._sort(recs, q, {"timeAccepted": lambda w: w["seq"],
                                        "operationType": lambda w: w["obj"]["operationType"],
                                        "status": lambda w: w["obj"]["status"],
                                        "timeCreated": lambda w: w["seq"]})
            items = [copy.deepcopy(w["obj"]) for w in recs]
        chunk, headers = self._page(items, q)
        return 200, chunk, headers, None

    # ---------------------------------------------------------------- predict
    def _predict_request(self, h, path, entry, reply, error):
        entry["operation"] = "predict"
        segs = path.strip("/").split("/")
        if len(segs) != 2 or segs[1] != "predict" or not segs[0].startswith("ocid1.datasciencemodeldeployment."):
            return error(OciError(404, "NotAuthorizedOrNotFound", "Model deployment not found or authorization "
                                                                  "failed."), close=h.command != "GET")
        if h.command != "POST":
            return error(OciError(405, "MethodNotAllowed", "Method not allowed."), close=True)
        length = h.headers.get("Content-Length")
        if length is None:
            return error(OciError(411, "LengthRequired", "Missing content length header."), close=True)
        try:
            n = int(length)
        except ValueError:
            return error(OciError(400, "InvalidParameter", "Invalid Content-Length."), close=True)
        if n > MAX_PREDICT_BYTES:
            return error(OciError(413, "PayloadTooLarge", "The payload size limit is 10 MB."), close=True)
        body = h.rfile.read(n) if n else b""
        try:
            entry["key_id"] = self._verify(h, body)
        except OciError as e:
            return error(e)
        ident = segs[0]
        with self._lock:
            rec = self._deployments.get(ident)
            wr = self._work_requests.get(rec["work_request"]) if rec else None
            # ACTIVE serves; so does an update in progress (the old instances serve until it is done)
            if rec is None or not (rec["obj"]["lifecycleState"] == "ACTIVE" or (
                    rec["obj"]["lifecycleState"] == "UPDATING" and wr and wr["operation"] == "update")):
                return error(OciError(404, "NotAuthorizedOrNotFound",
                                      "Model deployment not found or authorization failed."))
            throttle = next((t for t in self._predict_throttles
                             if t["remaining"] != 0 and t["deployment"] in (None, ident)), None)
            if throttle:
                throttle["remaining"] -= 1
            backend = self._backends.get(ident)
        fault = self._take_fault("predict")
        if throttle or (fault and fault["status"] == 429):
            ra = (throttle or fault)["retry_after"]
            return error(OciError(429, "TooManyRequests", "Too Many Requests.",
                                  {"retry-after": ra if ra is not None else self.retry_after}))
        if fault:
            return error(OciError(fault["status"], fault["code"], fault["message"]))
        if backend is None:
            return error(OciError(503, "ServiceUnavailable", "Model server unavailable."))
        u = urllib.parse.urlsplit(backend)
        conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=60)
        try:
            conn.request("POST", (u.path or "/") + (f"?{u.query}" if u.query else ""), body=body,
                         headers={"Content-Type": h.headers.get("Content-Type") or "application/json"})
            resp = conn.getresponse()
            out, status, ctype = resp.read(), resp.status, resp.getheader("Content-Type")
        except (OSError, http.client.HTTPException):
            return error(OciError(503, "ServiceUnavailable", "Model server unavailable."))
        finally:
            conn.close()
        with self._lock:
            self.predict_log.append({"deployment": ident, "status": status, "bytes": len(body)})
        return reply(status, raw=out, content_type=ctype or "application/json")


# ------------------------------------------------------------------------------ standalone
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--predict-port", type=int, default=0)
    parser.add_argument("--region", default="us-ashburn-1")
    parser.add_argument("--polls", type=int, default=2)
    parser.add_argument("--key", action="append", default=[], metavar="KEYID=PUBLIC_KEY_PEM_FILE",
                        help="a keyId (tenancy/user/fingerprint or ST$token) and the PEM file of its public key")
    args = parser.parse_args(argv)
    server = OciDataScienceStandIn(region=args.region, polls=args.polls, port=args.port,
                                   predict_port=args.predict_port)
    for item in args.key:
        key_id, _, path = item.rpartition("=")
        with open(path, "rb") as f:
            server.add_key(key_id, f.read())
    server.start()
    print(f"oci data science {server.url} modeldeployment {server.predict_url}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    signal.signal(signal.SIGINT, lambda *a: done.set())
    while not done.wait(0.5):
        pass
    server.stop()


if __name__ == "__main__":
    main()
