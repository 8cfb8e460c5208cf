"""AWS on loopback for the sagemaker-endpoints tests: moto in server mode, started
in the test process, with what its SageMaker backend lacks added in place.

`MotoServer` runs moto's ThreadedMotoServer on 127.0.0.1, on a port the kernel picks when it binds.
`install()` extends moto 5.2's SageMaker backend with:
  * UpdateEndpoint (moto raises NotImplementedError -> HTTP 500 otherwise)
  * scripted endpoint status lifecycles (Creating -> InService / Failed + FailureReason,
    Updating -> InService / rollback, Deleting -> gone), advanced once per
    DescribeEndpoint / ListEndpoints request
  * one-shot fault injection per (service, action): ThrottlingException,
    AccessDeniedException, ResourceLimitExceeded, ... with real-AWS JSON shape
  * model containers: `serve_endpoint(region, name, url)` makes InvokeEndpoint on that endpoint go to a
    model server the test runs (e.g. the built image's entrypoint), as SageMaker hosts a container: POST
    <url>/invocations with the request's body, Content-Type, Accept and custom attributes; a reply other
    than 2xx comes back as SageMaker's ModelError (424, OriginalStatusCode, OriginalMessage)
"""
import contextlib
import json
import logging
import threading

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import FakeEndpoint, sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse
from moto.sts.responses import TokenResponse

ACCOUNT = "123456789012"
_lock = threading.Lock()
_faults = []          # list of dicts: service, action, code, message, status, remaining
_scripts = {}         # (region, endpoint_name) -> list of "Status" or "Failed:reason"
_default_create_script = None   # e.g. ["Creating", "Creating", "InService"]
_default_update_script = None   # e.g. ["Updating", "InService"]
_default_delete_polls = 0        # number of polls an endpoint stays "Deleting"
_deleting = {}                   # (region, name) -> remaining polls
ASSUME_ROLE_CALLS = []           # RoleArn of every STS AssumeRole request
_containers = {}                 # (region, endpoint name) -> the URL of the model server that answers it


def backend(region):
    return sagemaker_backends[ACCOUNT][region]


# ---------------------------------------------------------------- status control
def set_status(region, name, status, failure_reason=None):
    """Force a status now (cancels any scripted lifecycle for this endpoint)."""
    with _lock:
        _scripts.pop((region, name), None)
    _apply(region, name, status, failure_reason)


def _apply(region, name, status, failure_reason=None):
    ep = backend(region).endpoints[name]
    ep.endpoint_status = status
    ep.failure_reason = failure_reason  # None -> omitted from DescribeEndpoint
    ep.last_modified_time = utcnow()


def script_status(region, name, steps):
    """steps: list like ["Creating", "Creating", "Failed:Image pull failed"]; one step is
    consumed per DescribeEndpoint/ListEndpoints call; the last step sticks."""
    with _lock:
        _scripts[(region, name)] = list(steps)


def set_defaults(create=None, update=None, delete_polls=0):
    global _default_create_script, _default_update_script, _default_delete_polls
    _default_create_script, _default_update_script = create, update
    _default_delete_polls = delete_polls


def _advance(region, name):
    key = (region, name)
    with _lock:
        if key in _deleting:
            _deleting[key] -= 1
            if _deleting[key] < 0:
                del _deleting[key]
                backend(region).endpoints.pop(name, None)
            return
        steps = _scripts.get(key)
        if not steps:
            return
        step = steps.pop(0) if len(steps) > 1 else steps[0]
    if name not in backend(region).endpoints:
        return
    status, _, reason = step.partition(":")
    _apply(region, name, status, reason or None)


# ---------------------------------------------------------------- fault injection
def inject_fault(action, code="ThrottlingException", message="Rate exceeded",
                 status=400, times=1, service="sagemaker"):
    """action: 'DescribeEndpoint', 'CreateModel', ... or 'InvokeEndpoint' (service=
    'sagemaker-runtime'). times=-1 -> forever."""
    with _lock:
        _faults.append(dict(service=service, action=action, code=code,
                            message=message, status=status, remaining=times))


def clear():
    with _lock:
        _faults.clear(); _scripts.clear(); _deleting.clear(); UPDATE_REQUESTS.clear(); ASSUME_ROLE_CALLS.clear()
        _containers.clear()
    set_defaults()


def _take_fault(service, action):
    with _lock:
        for f in _faults:
            if f["service"] == service and f["action"] == action and f["remaining"] != 0:
                f["remaining"] -= 1
                return f
    return None


def _fault_response(f):
    body = json.dumps({"__type": f["code"], "message": f["message"]})
    return f["status"], {"Content-Type": "application/x-amz-json-1.1",
                         "x-amzn-ErrorType": f["code"]}, body


# ---------------------------------------------------------------- patches
UPDATE_REQUESTS = []  # the parameters of every UpdateEndpoint, for assertions


def _update_endpoint(self):
    UPDATE_REQUESTS.append(json.loads(self.body or "{}"))
    be = self.sagemaker_backend
    name = self._get_param("EndpointName")
    cfg_name = self._get_param("EndpointConfigName")
    ep = be.endpoints.get(name)
    if ep is None:
        arn = FakeEndpoint.arn_formatter(name, be.account_id, be.region_name)
        raise ValidationError(message=f"Could not find endpoint '{arn}'.")
    if ep.endpoint_status != "InService":
        raise ValidationError(
            message=f"Cannot update in-progress endpoint '{ep.arn}'.")
    cfg = be.describe_endpoint_config(cfg_name)  # ValidationError if missing
    ep.endpoint_config_name = cfg_name
    ep.production_variants = ep._process_production_variants(cfg["ProductionVariants"])
    ep.data_capture_config = cfg.get("DataCaptureConfig")
    ep.last_modified_time = utcnow()
    if _default_update_script:
        ep.endpoint_status = _default_update_script[0]
        script_status(be.region_name, name, _default_update_script)
    return ActionResult({"EndpointArn": ep.arn})


_orig_sm_call_action = SageMakerResponse.call_action
_orig_rt_call_action = SageMakerRuntimeResponse.call_action


def _sm_call_action(self):
    action = self._get_action()
    f = _take_fault("sagemaker", action)
    if f:
        return _fault_response(f)
    body = self.body if isinstance(self.body, str) else (self.body or b"").decode()
    params = json.loads(body or "{}")
    if action in ("DescribeEndpoint", "ListEndpoints"):
        names = ([params["EndpointName"]] if action == "DescribeEndpoint"
                 else list(self.sagemaker_backend.endpoints))
        for n in names:
            _advance(self.region, n)
    if action == "DeleteEndpoint" and _default_delete_polls > 0:
        name = params.get("EndpointName")
        ep = self.sagemaker_backend.endpoints.get(name)
        if ep is not None:
            _apply(self.region, name, "Deleting")
            with _lock:
                _deleting[(self.region, name)] = _default_delete_polls
                _scripts.pop((self.region, name), None)
            return 200, {"Content-Type": "application/x-amz-json-1.1"}, "{}"
    result = _orig_sm_call_action(self)
    if action == "CreateEndpoint" and result[0] == 200 and _default_create_script:
        name = params["EndpointName"]
        _apply(self.region, name, _default_create_script[0])
        script_status(self.region, name, _default_create_script)
    return result


def serve_endpoint(region, name, url):
    """InvokeEndpoint on endpoint `name` goes to the model server at `url` from now on (until reset)."""
    with _lock:
        _containers[(region, name)] = url.rstrip("/")


def _invoke_container(self, name, url):
    """What SageMaker answers when the endpoint's container at `url` gets the InvokeEndpoint request."""
    import urllib.error
    import urllib.request

    body = self.body if isinstance(self.body, bytes) else (self.body or "").encode("utf-8")
    headers = {k: v for k, v in self.headers.items()
               if k.lower() in ("content-type", "accept", "x-amzn-sagemaker-custom-attributes")}
    try:
        variant = backend(self.region).endpoints[name].production_variants[0]["VariantName"]
    except (KeyError, IndexError, AttributeError):
        variant = "AllTraffic"
    req = urllib.request.Request(url + "/invocations", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return 200, {"Content-Type": r.headers.get("Content-Type", "application/json"),
                         "x-Amzn-Invoked-Production-Variant": variant}, r.read()
    except urllib.error.HTTPError as e:
        original = e.read().decode("utf-8", "replace")
        log_stream = f"arn:aws:logs:{self.region}:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/{name}"
        kind = "CLIENT" if e.code < 500 else "SERVER"
        error = {"ErrorCode": f"{kind}_ERROR_FROM_MODEL", "LogStreamArn": log_stream,
                 "Message": f'Received {kind.lower()} error ({e.code}) from primary with message "{original}". '
                            f"See https://{self.region}.console.aws.amazon.com/cloudwatch/home?region={self.region}"
                            f"#logEventViewer:group=/aws/sagemaker/Endpoints/{name} in account {ACCOUNT} for more "
                            "information.",
                 "OriginalMessage": original, "OriginalStatusCode": e.code}
        return 424, {"Content-Type": "application/json", "x-amzn-ErrorType": "ModelError"}, json.dumps(error)


def _rt_call_action(self):
    f = _take_fault("sagemaker-runtime", self._get_action())
    if f:
        return _fault_response(f)
    if self._get_action() == "InvokeEndpoint":
        import urllib.parse

        name = urllib.parse.unquote(self.path.split("?")[0].split("/")[2])  # /endpoints/<name>/invocations
        with _lock:
            url = _containers.get((self.region, name))
        if url:
            return _invoke_container(self, name, url)
    return _orig_rt_call_action(self)


_orig_assume_role = TokenResponse.assume_role


def _assume_role(self):
    ASSUME_ROLE_CALLS.append(self._get_param("RoleArn"))
    return _orig_assume_role(self)


def install():
    TokenResponse.assume_role = _assume_role
    SageMakerResponse.update_endpoint = _update_endpoint
    SageMakerResponse.call_action = _sm_call_action
    SageMakerRuntimeResponse.call_action = _rt_call_action


class MotoServer:
    """moto (all services) on 127.0.0.1:<free port>, with the SageMaker extensions installed.

    The port is the kernel's pick at bind time (port 0), read back once the server is bound: a port
    found free and released first could be taken by anything before moto binds it (start() would hang).
    """

    def __init__(self):
        from moto.server import ThreadedMotoServer

        self.port = self.url = None
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)

    def start(self):
        install()
        self._server.start()  # returns once bound and listening
        self.port = self._server.get_host_and_port()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def stop(self):
        clear()
        self._server.stop()

    def reset(self):
        """Forgets every resource and fault (between tests)."""
        import urllib.request

        clear()
        urllib.request.urlopen(urllib.request.Request(self.url + "/moto-api/reset", method="POST"), timeout=10).read()

    def _post(self, path, body, content_type="application/json"):
        import urllib.request

        req = urllib.request.Request(self.url + path, data=body, method="POST", headers={"Content-Type": content_type})
        return urllib.request.urlopen(req, timeout=10).read()

    def queue_async_results(self, region, results):
        """Queues InvokeEndpointAsync outcomes, written to S3 by moto: [{"data": "...", "is_failure": False}, ...]."""
        body = json.dumps({"account_id": ACCOUNT, "region": region, "results": results}).encode()
        self._post("/moto-api/static/sagemaker/async-endpoint-results", body)

    @contextlib.contextmanager
    def iam_enforced(self):
        """Within: every request needs the keys of an IAM user moto knows, and its policies decide (moto's
        IAM simulation; AccessDenied comes back as AWS sends it)."""
        self._post("/moto-api/reset-auth", b"0", "text/plain")
        try:
            yield
        finally:
            self._post("/moto-api/reset-auth", b"inf", "text/plain")

    def queue_invoke_results(self, region, results):
        """Queues InvokeEndpoint answers: results = [{"Body": "...", "ContentType": "application/json"}, ...]."""
        import urllib.request

        body = json.dumps({"account_id": ACCOUNT, "region": region, "results": results}).encode()
        req = urllib.request.Request(
            self.url + "/moto-api/static/sagemaker/endpoint-results",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(req, timeout=10).read()
