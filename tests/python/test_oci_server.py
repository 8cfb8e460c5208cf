"""The OCI Data Science stand-in (tests/servers/oci_datascience.py) checked with Oracle's own `oci` SDK: an API-key
config and a session-token signer, models and artifacts, both deployment runtimes, work requests, paging,
if-match, retry tokens, OCI's error bodies, scripted failures, faults, and the signed predict endpoint."""
import email.utils
import http.client
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

oci = pytest.importorskip("oci")  # Oracle's SDK
import requests  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from oci.data_science import models as m  # noqa: E402

TENANCY = "ocid1.tenancy.oc1..aaaaaaaastandintenancy"
USER = "ocid1.user.oc1..aaaaaaaastandinuser"
COMPARTMENT = "ocid1.compartment.oc1..aaaaaaaastandincompartment"
PROJECT = "ocid1.datascienceproject.oc1.iad.aaaaaaaastandinproject"
IMAGE = "iad.ocir.io/standin/mlflow-serve:1.0"
DIGEST = "sha256:" + "ab" * 32
NO_RETRY = dict(retry_strategy=oci.retry.NoneRetryStrategy())  # (2.189.0 has no NO_RETRY_STRATEGY)


@pytest.fixture(scope="module")
def keys():
    """Two RSA keys (generating one costs tens of milliseconds on a busy machine): the registered one and
    another."""
    return [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2)]


def pem(private_key):
    return private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()).decode()


@pytest.fixture
def ds(oci_standin, keys):
    """The stand-in with the test API key registered; `ds.config` is an oci config dict for it."""
    import oci_datascience as module

    fp = module.fingerprint(keys[0].public_key())
    oci_standin.add_api_key(TENANCY, USER, fp, keys[0].public_key())
    oci_standin.config = {"user": USER, "tenancy": TENANCY, "fingerprint": fp, "key_content": pem(keys[0]),
                          "region": "us-ashburn-1"}
    oci.config.validate_config(oci_standin.config)
    return oci_standin


def client_for(ds, config=None, **kwargs):
    kwargs.setdefault("circuit_breaker_strategy", oci.circuit_breaker.NoCircuitBreakerStrategy())
    return oci.data_science.DataScienceClient(config or ds.config, service_endpoint=ds.url, **kwargs)


@pytest.fixture
def client(ds):
    return client_for(ds)


def new_model(client, name="tiny", artifact=b"PK\x03\x04 model zip", **kwargs):
    model = client.create_model(m.CreateModelDetails(compartment_id=COMPARTMENT, project_id=PROJECT,
                                                     display_name=name, **kwargs)).data
    if artifact is not None:
        client.create_model_artifact(model.id, artifact, content_disposition='attachment; filename="model.zip"')
    return model


def single_model(model_id, env=None, shape="VM.Standard.E4.Flex", count=1, **config):
    shape_config = (m.ModelDeploymentInstanceShapeConfigDetails(ocpus=1.0, memory_in_gbs=16.0)
                    if shape.endswith(".Flex") else None)
    return m.SingleModelDeploymentConfigurationDetails(
        deployment_type="SINGLE_MODEL",
        model_configuration_details=m.ModelConfigurationDetails(
            model_id=model_id,
            instance_configuration=m.InstanceConfiguration(instance_shape_name=shape,
                                                           model_deployment_instance_shape_config_details=shape_config),
            scaling_policy=m.FixedSizeScalingPolicy(instance_count=count), bandwidth_mbps=10, **config),
        environment_configuration_details=env)


def default_env(**variables):
    return m.DefaultModelDeploymentEnvironmentConfigurationDetails(environment_variables=variables or {"A": "1"})


def ocir_env():
    return m.OcirModelDeploymentEnvironmentConfigurationDetails(
        image=IMAGE, image_digest=DIGEST, server_port=8080, health_check_port=8080,
        cmd=["--port", "8080"], entrypoint=["mlflow-bridge-serve"], environment_variables={"MODEL": "tiny"})


def logs():
    access = m.LogDetails(log_id="ocid1.log.oc1.iad.access", log_group_id="ocid1.loggroup.oc1.iad.group")
    predict = m.LogDetails(log_id="ocid1.log.oc1.iad.predict", log_group_id="ocid1.loggroup.oc1.iad.group")
    return m.CategoryLogDetails(access=access, predict=predict)


def create_deployment(client, model_id, name="md", env=None, **kwargs):
    details = m.CreateModelDeploymentDetails(
        display_name=name, project_id=PROJECT, compartment_id=COMPARTMENT,
        model_deployment_configuration_details=single_model(model_id, env or default_env()), **kwargs)
    return client.create_model_deployment(details)


def wait(client, work_request_id, bound=50):
    """Polls the work request until it ends; each poll advances the stand-in by one step (no clock)."""
    seen = []
    for _ in range(bound):
        wr = client.get_work_request(work_request_id).data
        seen.append(wr.status)
        if wr.status in ("SUCCEEDED", "FAILED", "CANCELED"):
            return wr, seen
    raise AssertionError(f"work request {work_request_id} still {seen[-1]} after {bound} polls")


class Backend:
    """A trivial model server: POST answers 200 JSON {"prediction": ..., "got": body} (or `status`)."""

    def __init__(self, status=200):
        self.requests = []
        owner = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.requests.append((self.path, self.headers.get("Content-Type"), body))
                out = json.dumps({"prediction": [42], "got": json.loads(body or b"null")}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.url = "http://127.0.0.1:%d/invocations" % self.server.server_address[1]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@pytest.fixture
def backend():
    b = Backend()
    yield b
    b.stop()


def signer(ds, key=None):
    c = ds.config
    return oci.signer.Signer(c["tenancy"], c["user"], c["fingerprint"], None, private_key_content=pem(key) if key
                             else c["key_content"])


def service_error(call, *args, **kwargs):
    with pytest.raises(oci.exceptions.ServiceError) as info:
        call(*args, **kwargs)
    return info.value


# ------------------------------------------------------------------------------ models and artifacts
def test_model_create_get_update_delete(client, ds):
    model = new_model(client, "tiny", artifact=None, freeform_tags={"app.kubernetes.io/managed-by": "mlflow-bridge"},
                      defined_tags={"Operations": {"CostCenter": "42"}}, description="first")
    assert model.id.startswith("ocid1.datasciencemodel.oc1.iad.")
    assert (model.lifecycle_state, model.compartment_id, model.project_id) == ("ACTIVE", COMPARTMENT, PROJECT)
    assert model.freeform_tags == {"app.kubernetes.io/managed-by": "mlflow-bridge"}
    assert model.defined_tags == {"Operations": {"CostCenter": "42"}}
    assert model.created_by == USER

    got = client.get_model(model.id)
    assert got.data.display_name == "tiny" and got.headers["etag"]
    assert got.headers["opc-request-id"]

    err = service_error(client.head_model_artifact, model.id, **NO_RETRY)
    assert err.status == 404
    resp = client.create_model_artifact(model.id, b"artifact-bytes", content_disposition='attachment; filename="m.zip"')
    assert resp.status == 200 and resp.headers["etag"]
    head = client.head_model_artifact(model.id)
    assert head.headers["content-length"] == str(len(b"artifact-bytes"))
    assert head.headers["content-disposition"] == 'attachment; filename="m.zip"'
    assert client.get_model_artifact_content(model.id).data.content == b"artifact-bytes"
    err = service_error(client.create_model_artifact, model.id, b"again", **NO_RETRY)
    assert (err.status, err.code) == (409, "Conflict")

    etag = client.get_model(model.id).headers["etag"]
    updated = client.update_model(model.id, m.UpdateModelDetails(description="second"), if_match=etag)
    assert updated.data.description == "second" and updated.headers["etag"] != etag
    err = service_error(client.update_model, model.id, m.UpdateModelDetails(description="third"), if_match=etag,
                        **NO_RETRY)
    assert (err.status, err.code) == (412, "NoEtagMatch")

    assert client.delete_model(model.id).status == 204
    assert client.get_model(model.id).data.lifecycle_state == "DELETED"
    err = service_error(client.get_model, "ocid1.datasciencemodel.oc1.iad.nosuchmodel", **NO_RETRY)
    assert (err.status, err.code, err.message) == (404, "NotAuthorizedOrNotFound",
                                                   "Authorization failed or requested resource not found.")


def test_list_models_pages(client):
    ids = [new_model(client, f"m{i}", artifact=None).id for i in range(5)]
    first = client.list_models(COMPARTMENT, limit=2, sort_by="timeCreated", sort_order="ASC")
    assert [x.id for x in first.data] == ids[:2] and first.has_next_page and first.next_page
    second = client.list_models(COMPARTMENT, limit=2, sort_by="timeCreated", sort_order="ASC", page=first.next_page)
    assert [x.id for x in second.data] == ids[2:4]
    everything = oci.pagination.list_call_get_all_results(client.list_models, COMPARTMENT, limit=2,
                                                          sort_by="timeCreated", sort_order="ASC")
    assert [x.id for x in everything.data] == ids
    assert [x.id for x in client.list_models(COMPARTMENT, display_name="m3").data] == [ids[3]]
    assert client.list_models("ocid1.compartment.oc1..other").data == []
    err = service_error(client.list_models, COMPARTMENT, page="not-a-token", **NO_RETRY)
    assert (err.status, err.code) == (400, "InvalidParameter")


# ------------------------------------------------------------------------------ deployments
def test_deployment_default_runtime_full_lifecycle(client, ds, backend):
    ds.on_deployment_active = lambda deployment: backend.url
    model = new_model(client)
    resp = create_deployment(client, model.id, "md-default", category_log_details=logs(),
                             freeform_tags={"app.kubernetes.io/managed-by": "mlflow-bridge"})
    md = resp.data
    assert md.lifecycle_state == "CREATING" and md.id.startswith("ocid1.datasciencemodeldeployment.oc1.iad.")
    assert md.model_deployment_url == f"{ds.predict_url}/{md.id}"
    assert resp.headers["etag"] and resp.headers["opc-work-request-id"]
    env = md.model_deployment_configuration_details.environment_configuration_details
    assert isinstance(env, m.DefaultModelDeploymentEnvironmentConfigurationDetails)
    assert env.environment_variables == {"A": "1"}
    mc = md.model_deployment_configuration_details.model_configuration_details
    assert mc.instance_configuration.model_deployment_instance_shape_config_details.memory_in_gbs == 16.0
    assert isinstance(mc.scaling_policy, m.FixedSizeScalingPolicy) and mc.scaling_policy.instance_count == 1
    assert md.category_log_details.predict.log_id == "ocid1.log.oc1.iad.predict"

    wr0 = client.get_work_request(resp.headers["opc-work-request-id"]).data  # poll 1
    assert (wr0.operation_type, wr0.status, wr0.resources[0].identifier) == ("MODEL_DEPLOYMENT_CREATE",
                                                                             "IN_PROGRESS", md.id)
    assert 0 < wr0.percent_complete < 100
    wr, seen = wait(client, resp.headers["opc-work-request-id"])
    assert seen == ["SUCCEEDED"] and wr.percent_complete == 100.0 and wr.time_finished
    assert wr.resources[0].action_type == "CREATED"
    got = client.get_model_deployment(md.id)
    assert got.data.lifecycle_state == "ACTIVE"
    log_messages = [x.message for x in client.list_work_request_logs(wr.id).data]
    assert log_messages and "succeeded" in log_messages[-1]
    assert client.list_work_request_errors(wr.id).data == []

    # predict, signed with the API key, forwarded to the backend
    r = requests.post(md.model_deployment_url + "/predict", json={"inputs": [[1, 2]]}, auth=signer(ds), timeout=30)
    assert r.status_code == 200, r.text
    assert r.json() == {"prediction": [42], "got": {"inputs": [[1, 2]]}}
    assert r.headers["content-type"] == "application/json; charset=utf-8" and r.headers["opc-request-id"]
    assert backend.requests[-1][0] == "/invocations"

    # update: a stale etag is refused, the current one goes through UPDATING
    etag = got.headers["etag"]
    update = m.UpdateModelDeploymentDetails(
        model_deployment_configuration_details=m.UpdateSingleModelDeploymentConfigurationDetails(
            deployment_type="SINGLE_MODEL",
            model_configuration_details=m.UpdateModelConfigurationDetails(
                scaling_policy=m.FixedSizeScalingPolicy(instance_count=2))))
    err = service_error(client.update_model_deployment, md.id, update, if_match="stale", **NO_RETRY)
    assert (err.status, err.code) == (412, "NoEtagMatch")
    up = client.update_model_deployment(md.id, update, if_match=etag)
    assert up.status == 202 and up.headers["opc-work-request-id"]
    assert client.get_model_deployment(md.id).data.lifecycle_state == "UPDATING"  # a poll too
    r = requests.post(md.model_deployment_url + "/predict", json={"during": "update"}, auth=signer(ds), timeout=30)
    assert r.status_code == 200  # the old instances serve while an update runs
    err = service_error(client.deactivate_model_deployment, md.id, **NO_RETRY)
    assert (err.status, err.code) == (409, "IncorrectState")
    wr, _ = wait(client, up.headers["opc-work-request-id"])
    assert (wr.operation_type, wr.status) == ("MODEL_DEPLOYMENT_UPDATE", "SUCCEEDED")
    md2 = client.get_model_deployment(md.id).data
    assert md2.lifecycle_state == "ACTIVE"
    assert md2.model_deployment_configuration_details.model_configuration_details.scaling_policy.instance_count == 2

    # a metadata-only update finishes at once
    up = client.update_model_deployment(md.id, m.UpdateModelDeploymentDetails(display_name="md-renamed"))
    assert client.get_work_request(up.headers["opc-work-request-id"]).data.status == "SUCCEEDED"
    assert client.get_model_deployment(md.id).data.display_name == "md-renamed"

    # deactivate / activate
    wr, _ = wait(client, client.deactivate_model_deployment(md.id).headers["opc-work-request-id"])
    assert wr.operation_type == "MODEL_DEPLOYMENT_DEACTIVATE"
    assert client.get_model_deployment(md.id).data.lifecycle_state == "INACTIVE"
    r = requests.post(md.model_deployment_url + "/predict", json={}, auth=signer(ds), timeout=30)
    assert (r.status_code, r.json()["code"]) == (404, "NotAuthorizedOrNotFound")
    err = service_error(client.deactivate_model_deployment, md.id, **NO_RETRY)
    assert (err.status, err.code) == (409, "IncorrectState")
    wr, _ = wait(client, client.activate_model_deployment(md.id).headers["opc-work-request-id"])
    assert wr.operation_type == "MODEL_DEPLOYMENT_ACTIVATE"
    assert client.get_model_deployment(md.id).data.lifecycle_state == "ACTIVE"

    # the model is in use
    err = service_error(client.delete_model, model.id, **NO_RETRY)
    assert (err.status, err.code) == (409, "IncorrectState")

    # delete
    resp = client.delete_model_deployment(md.id)
    assert resp.status == 202
    wr, seen = wait(client, resp.headers["opc-work-request-id"])
    assert wr.status == "SUCCEEDED" and wr.resources[0].action_type == "DELETED"
    assert client.get_model_deployment(md.id).data.lifecycle_state == "DELETED"
    ops = [w.operation_type for w in oci.pagination.list_call_get_all_results(
        client.list_work_requests, COMPARTMENT, resource_id=md.id, limit=2, sort_by="timeAccepted",
        sort_order="ASC").data]
    assert ops == ["MODEL_DEPLOYMENT_CREATE", "MODEL_DEPLOYMENT_UPDATE", "MODEL_DEPLOYMENT_UPDATE",
                   "MODEL_DEPLOYMENT_DEACTIVATE", "MODEL_DEPLOYMENT_ACTIVATE", "MODEL_DEPLOYMENT_DELETE"]
    assert client.delete_model(model.id).status == 204


def test_deployment_ocir_container_runtime(client, ds):
    model = new_model(client)
    md = create_deployment(client, model.id, "md-ocir", env=ocir_env()).data
    env = md.model_deployment_configuration_details.environment_configuration_details
    assert isinstance(env, m.OcirModelDeploymentEnvironmentConfigurationDetails)
    assert (env.image, env.image_digest, env.server_port, env.health_check_port) == (IMAGE, DIGEST, 8080, 8080)
    assert (env.cmd, env.entrypoint, env.environment_variables) == (["--port", "8080"], ["mlflow-bridge-serve"],
                                                                    {"MODEL": "tiny"})
    # the SDK's own waiter over GetModelDeployment (each GET is one step; no sleeping past the end state)
    done = oci.wait_until(client, client.get_model_deployment(md.id), "lifecycle_state", "ACTIVE",
                          max_interval_seconds=0, max_wait_seconds=60)
    assert done.data.lifecycle_state == "ACTIVE"
    listed = oci.pagination.list_call_get_all_results(client.list_model_deployments, COMPARTMENT,
                                                      project_id=PROJECT, lifecycle_state="ACTIVE").data
    assert [x.id for x in listed] == [md.id]
    assert isinstance(listed[0].model_deployment_configuration_details.environment_configuration_details,
                      m.OcirModelDeploymentEnvironmentConfigurationDetails)


def test_list_deployments_pages(client):
    model = new_model(client)
    ids = [create_deployment(client, model.id, f"md{i}").data.id for i in range(3)]
    page = client.list_model_deployments(COMPARTMENT, limit=1, sort_by="displayName", sort_order="DESC")
    assert [x.id for x in page.data] == [ids[2]] and page.next_page
    everything = oci.pagination.list_call_get_all_results(client.list_model_deployments, COMPARTMENT, limit=1,
                                                          sort_by="displayName", sort_order="ASC")
    assert [x.id for x in everything.data] == ids


def test_deployment_validation(client, ds):
    model = new_model(client)
    bare = new_model(client, "no-artifact", artifact=None)
    cases = [
        (m.CreateModelDeploymentDetails(compartment_id=COMPARTMENT, model_deployment_configuration_details=single_model(
            model.id)), 400, "MissingParameter"),
        (m.CreateModelDeploymentDetails(compartment_id=COMPARTMENT, project_id=PROJECT,
                                        model_deployment_configuration_details=single_model(bare.id)),
         400, "InvalidParameter"),
        (m.CreateModelDeploymentDetails(compartment_id=COMPARTMENT, project_id=PROJECT,
                                        model_deployment_configuration_details=single_model(
                                            "ocid1.datasciencemodel.oc1.iad.nosuch")),
         400, "RelatedResourceNotAuthorizedOrNotFound"),
        (m.CreateModelDeploymentDetails(compartment_id=COMPARTMENT, project_id=PROJECT,
                                        model_deployment_configuration_details=single_model(
                                            model.id, default_env(BIG="x" * 2048))), 400, "InvalidParameter"),
        (m.CreateModelDeploymentDetails(compartment_id=COMPARTMENT, project_id=PROJECT,
                                        model_deployment_configuration_details=single_model(
                                            model.id, m.OcirModelDeploymentEnvironmentConfigurationDetails(
                                                server_port=8080))), 400, "MissingParameter"),
        (m.CreateModelDeploymentDetails(compartment_id=COMPARTMENT, project_id=PROJECT,
                                        model_deployment_configuration_details=single_model(model.id, count=0)),
         400, "InvalidParameter"),
    ]
    for details, status, code in cases:
        err = service_error(client.create_model_deployment, details, **NO_RETRY)
        assert (err.status, err.code) == (status, code), err.message
    # a flexible shape without its shape config
    details = m.CreateModelDeploymentDetails(compartment_id=COMPARTMENT, project_id=PROJECT,
                                             model_deployment_configuration_details=single_model(model.id))
    details.model_deployment_configuration_details.model_configuration_details.instance_configuration \
        .model_deployment_instance_shape_config_details = None
    err = service_error(client.create_model_deployment, details, **NO_RETRY)
    assert (err.status, err.code) == (400, "InvalidParameter") and "Flex" in err.message
    # a fixed shape is fine without one
    assert create_deployment(client, model.id, env=None, name="fixed").data.lifecycle_state == "CREATING"

    # an unknown field (the SDK never sends one: a raw signed request)
    body = client.base_client.sanitize_for_serialization(m.CreateModelDeploymentDetails(
        compartment_id=COMPARTMENT, project_id=PROJECT, model_deployment_configuration_details=single_model(model.id)))
    body["modelDeploymentConfigurationDetails"]["modelConfigurationDetails"]["instanceCount"] = 1
    r = requests.post(f"{ds.url}/20190101/modelDeployments", json=body, auth=signer(ds), timeout=30)
    assert (r.status_code, r.json()["code"]) == (400, "InvalidParameter") and "instanceCount" in r.json()["message"]
    r = requests.post(f"{ds.url}/20190101/modelDeployments", data=b"{not json", auth=signer(ds), timeout=30)
    assert (r.status_code, r.json()["code"]) == (400, "CannotParseRequest")
    r = requests.get(f"{ds.url}/20190101/modelDeployments", auth=signer(ds), timeout=30)
    assert (r.status_code, r.json()["code"]) == (400, "MissingParameter")
    r = requests.get(f"{ds.url}/20190101/nothingHere", auth=signer(ds), timeout=30)
    assert (r.status_code, r.json()["code"]) == (404, "NotFound")


def test_incorrect_state(client, ds):
    model = new_model(client)
    resp = create_deployment(client, model.id)
    md = resp.data
    for call in (client.delete_model_deployment, client.activate_model_deployment):
        err = service_error(call, md.id, **NO_RETRY)
        assert (err.status, err.code) == (409, "IncorrectState"), call
    wait(client, resp.headers["opc-work-request-id"])
    err = service_error(client.activate_model_deployment, md.id, **NO_RETRY)
    assert (err.status, err.code) == (409, "IncorrectState")


# ------------------------------------------------------------------------------ scripted outcomes
def test_scripted_create_failure_and_needs_attention(client, ds):
    model = new_model(client)
    ds.script("create", ["CREATING", "CREATING", "CREATING", "FAILED"], target="md-fail",
              errors=[{"code": "ImagePullFailed", "message": "Failed to pull image iad.ocir.io/x:1"}],
              logs=["Pulling image iad.ocir.io/x:1", "Back-off pulling image"])
    resp = create_deployment(client, model.id, "md-fail")
    wr, seen = wait(client, resp.headers["opc-work-request-id"])
    assert seen == ["IN_PROGRESS", "IN_PROGRESS", "FAILED"] and wr.status == "FAILED"
    errors = client.list_work_request_errors(wr.id).data
    assert [(e.code, e.message) for e in errors] == [("ImagePullFailed", "Failed to pull image iad.ocir.io/x:1")]
    messages = [x.message for x in client.list_work_request_logs(wr.id).data]
    assert "Pulling image iad.ocir.io/x:1" in messages and "Back-off pulling image" in messages
    md = client.get_model_deployment(resp.data.id).data
    assert md.lifecycle_state == "FAILED" and md.lifecycle_details == "Failed to pull image iad.ocir.io/x:1"
    paged = client.list_work_request_logs(wr.id, limit=1)
    assert len(paged.data) == 1 and paged.next_page

    # an update that ends NEEDS_ATTENTION (scripted by ocid)
    other = create_deployment(client, model.id, "md-ok")
    wait(client, other.headers["opc-work-request-id"])
    ds.script("update", ["UPDATING", "NEEDS_ATTENTION"], target=other.data.id, errors=["instances unhealthy"])
    up = client.update_model_deployment(other.data.id, m.UpdateModelDeploymentDetails(
        model_deployment_configuration_details=m.UpdateSingleModelDeploymentConfigurationDetails(
            deployment_type="SINGLE_MODEL",
            environment_configuration_details=m.UpdateDefaultModelDeploymentEnvironmentConfigurationDetails(
                environment_variables={"B": "2"}))))
    wr, seen = wait(client, up.headers["opc-work-request-id"])
    assert wr.status == "FAILED"
    assert [e.message for e in client.list_work_request_errors(wr.id).data] == ["instances unhealthy"]
    assert client.get_model_deployment(other.data.id).data.lifecycle_state == "NEEDS_ATTENTION"
    # a failed deployment can be deleted
    wait(client, client.delete_model_deployment(resp.data.id).headers["opc-work-request-id"])


def test_hook_failure_fails_the_deployment(client, ds):
    def hook(deployment):
        raise RuntimeError("model server exited with code 1")

    ds.on_deployment_active = hook
    resp = create_deployment(client, new_model(client).id)
    wr, _ = wait(client, resp.headers["opc-work-request-id"])
    assert wr.status == "FAILED"
    assert "model server exited" in client.list_work_request_errors(wr.id).data[0].message
    assert client.get_model_deployment(resp.data.id).data.lifecycle_state == "FAILED"


# ------------------------------------------------------------------------------ idempotency
def test_retry_token(client, ds):
    details = m.CreateModelDetails(compartment_id=COMPARTMENT, project_id=PROJECT, display_name="same")
    a = client.create_model(details, opc_retry_token="token-1")
    b = client.create_model(details, opc_retry_token="token-1")
    assert a.data.id == b.data.id and a.headers["etag"] == b.headers["etag"]
    assert len(client.list_models(COMPARTMENT).data) == 1
    details.display_name = "different"
    err = service_error(client.create_model, details, opc_retry_token="token-1", **NO_RETRY)
    assert (err.status, err.code) == (409, "Conflict")

    client.create_model_artifact(a.data.id, b"zip")
    dd = m.CreateModelDeploymentDetails(compartment_id=COMPARTMENT, project_id=PROJECT, display_name="md",
                                        model_deployment_configuration_details=single_model(a.data.id, default_env()))
    x = client.create_model_deployment(dd, opc_retry_token="token-2")
    y = client.create_model_deployment(dd, opc_retry_token="token-2")
    assert x.data.id == y.data.id
    assert x.headers["opc-work-request-id"] == y.headers["opc-work-request-id"]
    assert len(client.list_model_deployments(COMPARTMENT).data) == 1
    # the artifact upload takes one too: a retried upload is not a second (refused) upload
    second = new_model(client, "m2", artifact=None)
    client.create_model_artifact(second.id, b"zip", opc_retry_token="token-3")
    client.create_model_artifact(second.id, b"zip", opc_retry_token="token-3")
    err = service_error(client.create_model_artifact, second.id, b"zip", opc_retry_token="token-4", **NO_RETRY)
    assert (err.status, err.code) == (409, "Conflict")


# ------------------------------------------------------------------------------ authentication
def test_wrong_key_is_401(ds, keys):
    bad = dict(ds.config, key_content=pem(keys[1]))
    err = service_error(client_for(ds, bad).list_models, COMPARTMENT, **NO_RETRY)
    assert (err.status, err.code) == (401, "NotAuthenticated")
    assert err.message == ("The required information to complete authentication was not provided or was "
                           "incorrect.")
    assert "does not verify" in ds.auth_failures[-1]
    unknown = dict(ds.config, user="ocid1.user.oc1..someoneelse")
    err = service_error(client_for(ds, unknown).list_models, COMPARTMENT, **NO_RETRY)
    assert (err.status, err.code) == (401, "NotAuthenticated") and "unknown keyId" in ds.auth_failures[-1]

    url = f"{ds.url}/20190101/models?compartmentId={COMPARTMENT}"
    assert requests.get(url, auth=signer(ds), timeout=30).status_code == 200
    assert requests.get(url, timeout=30).status_code == 401
    old = email.utils.formatdate(time.time() - 600, usegmt=True)
    assert requests.get(url, auth=signer(ds), headers={"date": old}, timeout=30).status_code == 401
    assert "server clock" in ds.auth_failures[-1]
    body = json.dumps({"compartmentId": COMPARTMENT, "projectId": PROJECT}).encode()
    r = requests.post(f"{ds.url}/20190101/models", data=body, auth=signer(ds), timeout=30,
                      headers={"x-content-sha256": "AAAA", "content-type": "application/json"})
    assert r.status_code == 401 and "x-content-sha256" in ds.auth_failures[-1]
    # a POST signed without its body headers (only the artifact upload may)
    r = requests.post(f"{ds.url}/20190101/models", data=body, auth=signer(ds).without_content_headers, timeout=30)
    assert r.status_code == 401 and "not signed" in ds.auth_failures[-1]
    assert "signature=" not in " ".join(ds.auth_failures)


def test_session_token_signer(ds, keys, backend):
    import oci_datascience as module

    session_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ds.add_session_token("standin-session-token", session_key.public_key())
    st = oci.auth.signers.SecurityTokenSigner("standin-session-token", session_key)
    c = oci.data_science.DataScienceClient({"region": "us-ashburn-1"}, signer=st, service_endpoint=ds.url,
                                           circuit_breaker_strategy=oci.circuit_breaker.NoCircuitBreakerStrategy())
    model = c.create_model(m.CreateModelDetails(compartment_id=COMPARTMENT, project_id=PROJECT)).data
    assert model.created_by == "ocid1.principal.oc1..standin"
    c.create_model_artifact(model.id, b"zip")  # the upload, signed without its body
    resp = create_deployment(c, model.id)
    ds.set_backend(resp.data.id, backend.url)
    wait(c, resp.headers["opc-work-request-id"])
    r = requests.post(resp.data.model_deployment_url + "/predict", json={"x": 1}, auth=st, timeout=30)
    assert r.status_code == 200 and r.json()["got"] == {"x": 1}

    other = oci.auth.signers.SecurityTokenSigner("not-registered", session_key)
    bad = oci.data_science.DataScienceClient({"region": "us-ashburn-1"}, signer=other, service_endpoint=ds.url)
    err = service_error(bad.get_model, model.id, **NO_RETRY)
    assert (err.status, err.code) == (401, "NotAuthenticated")
    assert module.fingerprint(keys[0]) == ds.config["fingerprint"]


# ------------------------------------------------------------------------------ faults
@pytest.mark.parametrize("status,code", [(429, "TooManyRequests"), (500, "InternalServerError"),
                                         (401, "NotAuthenticated")])
def test_one_shot_faults(client, ds, status, code):
    ds.inject_fault("list_models", status)
    err = service_error(client.list_models, COMPARTMENT, **NO_RETRY)
    assert (err.status, err.code) == (status, code)
    if status == 429:
        assert err.headers["retry-after"] == "1"
    assert client.list_models(COMPARTMENT, **NO_RETRY).status == 200  # one shot


def test_sdk_retries_a_throttled_create(ds):
    """The SDK's default retry strategy retries a 429 with the same opc-retry-token: one model results."""
    client = client_for(ds, retry_strategy=oci.retry.RetryStrategyBuilder(
        max_attempts_check=True, max_attempts=3, retry_base_sleep_time_seconds=0.01,
        retry_exponential_growth_factor=1, retry_max_wait_between_calls_seconds=0.01,
        backoff_type=oci.retry.BACKOFF_FULL_JITTER_VALUE).get_retry_strategy())
    ds.inject_fault("create_model", 429)
    model = client.create_model(m.CreateModelDetails(compartment_id=COMPARTMENT, project_id=PROJECT)).data
    posts = [r for r in ds.requests if r["operation"] == "create_model"]
    assert [r["status"] for r in posts] == [429, 200]
    assert [x.id for x in client.list_models(COMPARTMENT).data] == [model.id]


# ------------------------------------------------------------------------------ predict
def _raw(port, request_bytes):
    """Sends raw bytes, returns (status, headers, body) of the reply."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.connect()
    conn.sock.sendall(request_bytes)
    resp = http.client.HTTPResponse(conn.sock, method="POST")
    resp.begin()
    out = resp.status, dict(resp.getheaders()), resp.read()
    conn.close()
    return out


def test_predict_limits(client, ds, backend):
    ds.on_deployment_active = lambda d: backend.url
    resp = create_deployment(client, new_model(client).id)
    wait(client, resp.headers["opc-work-request-id"])
    url = resp.data.model_deployment_url + "/predict"
    path = urllib.parse.urlsplit(url).path

    status, headers, body = _raw(ds.predict_port, (f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
                                                   "\r\n\r\n0\r\n\r\n").encode())
    assert (status, json.loads(body)["code"]) == (411, "LengthRequired")
    status, headers, body = _raw(ds.predict_port, (f"POST {path} HTTP/1.1\r\nHost: x\r\n"
                                                   f"Content-Length: {10 * 1024 * 1024 + 1}\r\n\r\n").encode())
    assert (status, json.loads(body)["code"]) == (413, "PayloadTooLarge")
    r = requests.get(url, auth=signer(ds), timeout=30)
    assert (r.status_code, r.json()["code"]) == (405, "MethodNotAllowed")
    r = requests.post(url, json={"a": 1}, timeout=30)
    assert (r.status_code, r.json()["code"]) == (401, "NotAuthenticated")
    r = requests.post(url.replace(resp.data.id, resp.data.id + "x"), json={"a": 1}, auth=signer(ds), timeout=30)
    assert (r.status_code, r.json()["code"]) == (404, "NotAuthorizedOrNotFound")

    ds.throttle_predict(resp.data.id, times=2, retry_after=3)
    for _ in range(2):
        r = requests.post(url, json={"a": 1}, auth=signer(ds), timeout=30)
        assert (r.status_code, r.json()["code"], r.headers["retry-after"]) == (429, "TooManyRequests", "3")
    r = requests.post(url, json={"a": 1}, auth=signer(ds), timeout=30)
    assert r.status_code == 200 and len(backend.requests) == 1
    ds.inject_fault("predict", 500)
    r = requests.post(url, json={"a": 1}, auth=signer(ds), timeout=30)
    assert (r.status_code, r.json()["code"]) == (500, "InternalServerError")

    # the backend's own status comes back; a backend that is gone is 503
    failing = Backend(status=400)
    try:
        ds.set_backend(resp.data.id, failing.url)
        r = requests.post(url, json={"a": 1}, auth=signer(ds), timeout=30)
        assert r.status_code == 400 and r.json()["prediction"] == [42]
    finally:
        failing.stop()
    r = requests.post(url, json={"a": 1}, auth=signer(ds), timeout=30)
    assert (r.status_code, r.json()["code"]) == (503, "ServiceUnavailable")
