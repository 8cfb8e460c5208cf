"""Fixtures for the oci-endpoints tests: credentials as OCI leaves them on a machine, registered on the Data
Science stand-in (tests/servers/oci_datascience.py, fixtures oci_standin / oci_standin_factory in conftest.py),
and real model servers behind its deployments. conftest.py imports them:

    from oci_fixtures import (  # noqa: F401
        _oci_clean_env, oci_api_key_config, oci_env, oci_keys, oci_resource_principal, oci_runtime, oci_session_profile)

The objects returned are types.SimpleNamespace (OciKey, ... below name their attributes), so tests read them as
attributes.

  * oci_keys(name="api") -> OciKey: an RSA key pair (2048 bits, cryptography; one per name in a test), its PEM
    files under tmp_path (`private_path` PKCS#8, `public_path`), `private_pem` text, `private_key`,
    `public_key`, `fingerprint` (OCI's: MD5 of the DER public key, colon-separated).
  * oci_api_key_config(ds, region="us-ashburn-1", register=True) -> OciApiKeyConfig: an OCI config file
    (`path`) with [DEFAULT] (tenancy, user, fingerprint, key_file, region) and [TEAM] (inherits DEFAULT, its
    own user, fingerprint and key_file), both keys registered on `ds` unless register=False; `tenancy`,
    `user`, `team_user`, `compartment`, `project`, `region`, `keys` {"DEFAULT": OciKey, "TEAM": OciKey}.
    Point code at it with monkeypatch.setenv("OCI_CONFIG_FILE", cfg.path) (HOME is blanked, see oci_env: the SDK
    and our driver read ~/.oci/config before OCI_CONFIG_FILE).
  * oci_session_profile(ds, profile="SESSION", region="us-ashburn-1", ttl=3600, register=True) ->
    OciSessionProfile: what
    `oci session authenticate` leaves: a config file (`path`) whose [SESSION] has fingerprint, key_file,
    tenancy, region and security_token_file (<dir>/sessions/SESSION/token: a JWT, `exp` ttl seconds from
    now), the token registered on `ds` (ds.add_session_token) with the session key's public half; `token`,
    `token_path`, `key` (OciKey), `profile`, `tenancy`, `compartment`, `project`, `region`.
  * oci_resource_principal(ds, region="us-ashburn-1", ttl=3600, register=True) -> OciResourcePrincipal:
    resource principal v2.2 as a Data Science job or notebook has it: OCI_RESOURCE_PRINCIPAL_VERSION=2.2,
    OCI_RESOURCE_PRINCIPAL_RPST and OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM (absolute paths of files holding the
    JWT, with res_tenant/res_compartment/exp claims, and the PEM key), OCI_RESOURCE_PRINCIPAL_REGION, set
    with monkeypatch; the token registered on `ds`. `token`, `token_path`, `key`, `tenancy`, `compartment`,
    `project`, `region`.
  * oci_env(ds) -> ds: sets MLFLOW_BRIDGE_OCI_ENDPOINT and MLFLOW_BRIDGE_OCI_OBJECT_STORAGE_ENDPOINT to ds.url
    (the driver's Data Science and Object Storage endpoints). Any
    OCI fixture, as soon as a test requests it, first clears what could leak in from the machine: every
    OCI_* variable, NB_SESSION_COMPARTMENT_OCID, PROJECT_OCID, the two endpoints, CONDA_BUCKET_*, and HOME (set to an
    empty folder under tmp_path, so no ~/.oci/config or ~/.oraclebmc/config is read).
  * oci_runtime(ds, python=None, pull_creds=None) -> OciRuntime (pull_creds "user:password": how the images are
    pulled, as OCI pulls with the deployment's IAM policy): ds.on_deployment_active runs a real model server for each
    deployment that becomes ACTIVE: DEFAULT (conda) -> the model's artifact unzipped and served by the conda
    runtime stand-in (tests/servers/oci_conda_runtime.py); OCIR_CONTAINER -> the image (image@imageDigest
    when given; the test registry is plain HTTP, no credentials) pulled and unpacked (registry.pull_and_unpack)
    and its entrypoint run (registry.start_entrypoint; the deployment's entrypoint and cmd replace the image's
    as `docker run --entrypoint ... IMAGE cmd...` does; its environmentVariables are added). The container's
    serverPort (default 8080) must be the port its server listens on (`--port` of its command) and
    healthCheckPort the same, else the deployment fails (on OCI it would never turn healthy); the port is then
    mapped to a free one on 127.0.0.1 (as a container runtime maps it). `python`: the interpreter for score.py
    and for the image's python3 (default: this one; Debian's python3 for an image that carries its own
    site-packages, as in test_kubernetes_targets.py).
    `backends`: [{"deployment", "kind" ("conda"|"container"), "url", "log"}]. A backend that cannot start
    raises in the hook with the reason; the stand-in fails the deployment with it (lifecycleDetails, work
    request errors). Everything started is stopped at the end of the test (a deleted deployment's server runs on
    until then).
"""
import base64
import io
import itertools
import os
import sys
import time
import types
import zipfile

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "servers"))

TENANCY = "ocid1.tenancy.oc1..aaaaaaaafixturetenancy"
USER = "ocid1.user.oc1..aaaaaaaafixtureuser"
TEAM_USER = "ocid1.user.oc1..aaaaaaaafixtureteamuser"
COMPARTMENT = "ocid1.compartment.oc1..aaaaaaaafixturecompartment"
PROJECT = "ocid1.datascienceproject.oc1.iad.aaaaaaaafixtureproject"
PRINCIPAL = "ocid1.datasciencejobrun.oc1.iad.aaaaaaaafixturejobrun"
LEAKY_VARIABLES = ("NB_SESSION_COMPARTMENT_OCID", "PROJECT_OCID", "MLFLOW_BRIDGE_OCI_ENDPOINT",
                   "MLFLOW_BRIDGE_OCI_OBJECT_STORAGE_ENDPOINT", "CONDA_BUCKET_NS", "CONDA_BUCKET_NAME")


def _b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(claims, key):
    """An RS256 JWT (header.claims.signature) signed by `key` (the stand-in reads tokens, it does not verify
    OCI's signature on them)."""
    import json

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    signing_input = (_b64u(json.dumps({"alg": "RS256", "typ": "JWT", "kid": "asw"}).encode()) + "."
                     + _b64u(json.dumps(claims, sort_keys=True).encode()))
    return signing_input + "." + _b64u(key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256()))


def _jwk(public_key):
    numbers = public_key.public_numbers()
    n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
    e = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
    return {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": "session", "n": _b64u(n), "e": _b64u(e)}


@pytest.fixture
def _oci_clean_env(tmp_path, monkeypatch):
    """Clears what could leak into an OCI test from the machine (see the module docstring)."""
    for name in list(os.environ):
        if name.startswith("OCI_") or name in LEAKY_VARIABLES:
            monkeypatch.delenv(name)
    home = tmp_path / "oci-home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture
def oci_env(_oci_clean_env, monkeypatch):
    def setup(ds):
        monkeypatch.setenv("MLFLOW_BRIDGE_OCI_ENDPOINT", ds.url)
        monkeypatch.setenv("MLFLOW_BRIDGE_OCI_OBJECT_STORAGE_ENDPOINT", ds.url)  # the stand-in serves both
        return ds

    return setup


@pytest.fixture
def oci_keys(_oci_clean_env, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    import oci_datascience

    made = {}

    def make(name="api"):
        if name in made:
            return made[name]
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        folder = tmp_path / "oci-keys"
        folder.mkdir(exist_ok=True)
        private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode()
        public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        private_path, public_path = folder / f"{name}.pem", folder / f"{name}_public.pem"
        private_path.write_text(private_pem)
        os.chmod(private_path, 0o600)
        public_path.write_text(public_pem)
        made[name] = types.SimpleNamespace(
            name=name, private_key=key, public_key=key.public_key(), private_pem=private_pem, public_pem=public_pem,
            private_path=str(private_path), public_path=str(public_path),
            fingerprint=oci_datascience.fingerprint(key.public_key()))
        return made[name]

    return make


@pytest.fixture
def oci_api_key_config(oci_keys, tmp_path):
    def write(ds, region="us-ashburn-1", register=True):
        keys = {"DEFAULT": oci_keys("api-default"), "TEAM": oci_keys("api-team")}
        path = tmp_path / "oci-config" / "config"
        path.parent.mkdir(exist_ok=True)
        path.write_text(
            "[DEFAULT]\n"
            f"user={USER}\n"
            f"fingerprint={keys['DEFAULT'].fingerprint}\n"
            f"tenancy={TENANCY}\n"
            f"region={region}\n"
            f"key_file={keys['DEFAULT'].private_path}\n"
            "\n"
            "[TEAM]\n"  # tenancy and region from DEFAULT
            f"user={TEAM_USER}\n"
            f"fingerprint={keys['TEAM'].fingerprint}\n"
            f"key_file={keys['TEAM'].private_path}\n")
        if register:
            ds.add_api_key(TENANCY, USER, keys["DEFAULT"].fingerprint, keys["DEFAULT"].public_key)
            ds.add_api_key(TENANCY, TEAM_USER, keys["TEAM"].fingerprint, keys["TEAM"].public_key)
        return types.SimpleNamespace(path=str(path), tenancy=TENANCY, user=USER, team_user=TEAM_USER,
                                     compartment=COMPARTMENT, project=PROJECT, region=region, keys=keys)

    return write


@pytest.fixture
def oci_session_profile(oci_keys, tmp_path):
    def write(ds, profile="SESSION", region="us-ashburn-1", ttl=3600, register=True):
        key = oci_keys(f"session-{profile}")
        folder = tmp_path / "oci-session"
        sessions = folder / "sessions" / profile
        sessions.mkdir(parents=True, exist_ok=True)
        now = int(time.time())
        token = _jwt({"sub": USER, "tenant": TENANCY, "ptype": "user", "sess_exp": now + 86400, "iat": now,
                      "exp": now + ttl, "iss": "authService.oracle.com", "aud": "oci",
                      "jwk": _jwk(key.public_key)}, oci_keys("token-issuer").private_key)
        token_path = sessions / "token"
        token_path.write_text(token)
        os.chmod(token_path, 0o600)
        path = folder / "config"
        path.write_text(
            f"[{profile}]\n"
            f"fingerprint={key.fingerprint}\n"
            f"key_file={key.private_path}\n"
            f"tenancy={TENANCY}\n"
            f"region={region}\n"
            f"security_token_file={token_path}\n")
        if register:
            ds.add_session_token(token, key.public_key)
        return types.SimpleNamespace(path=str(path), profile=profile, token=token, token_path=str(token_path),
                                     key=key, tenancy=TENANCY, compartment=COMPARTMENT, project=PROJECT,
                                     region=region)

    return write


@pytest.fixture
def oci_resource_principal(oci_keys, tmp_path, monkeypatch):
    def setup(ds, region="us-ashburn-1", ttl=3600, register=True):
        key = oci_keys("resource-principal")
        now = int(time.time())
        token = _jwt({"sub": PRINCIPAL, "res_tenant": TENANCY, "res_compartment": COMPARTMENT,
                      "res_type": "datasciencejobrun", "res_id": PRINCIPAL, "ptype": "resource", "iat": now,
                      "exp": now + ttl, "iss": "authService.oracle.com", "aud": "oci",
                      "jwk": _jwk(key.public_key)}, oci_keys("token-issuer").private_key)
        folder = tmp_path / "oci-resource-principal"
        folder.mkdir(exist_ok=True)
        token_path = folder / "rpst"
        token_path.write_text(token)
        monkeypatch.setenv("OCI_RESOURCE_PRINCIPAL_VERSION", "2.2")
        monkeypatch.setenv("OCI_RESOURCE_PRINCIPAL_RPST", str(token_path))
        monkeypatch.setenv("OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM", key.private_path)
        monkeypatch.setenv("OCI_RESOURCE_PRINCIPAL_REGION", region)
        if register:
            ds.add_session_token(token, key.public_key)
        return types.SimpleNamespace(token=token, token_path=str(token_path), key=key, tenancy=TENANCY,
                                     compartment=COMPARTMENT, project=PROJECT, region=region)

    return setup


# ------------------------------------------------------------------------------ model servers
class OciRuntime:
    """What oci_runtime(ds) installs as ds.on_deployment_active; see the module docstring."""

    def __init__(self, ds, folder, python=None, pull_creds=None):
        self.ds, self.folder, self.python, self.pull_creds = ds, folder, python, pull_creds
        self.backends = []
        self._count = itertools.count()
        self._conda, self._containers = [], []

    def __call__(self, deployment):
        cfg = deployment["modelDeploymentConfigurationDetails"]
        env = cfg.get("environmentConfigurationDetails") or {"environmentConfigurationType": "DEFAULT"}
        kind = env["environmentConfigurationType"]
        folder = self.folder / f"{next(self._count)}-{deployment['id'].rsplit('.', 1)[-1][-12:]}"
        folder.mkdir(parents=True)
        if kind == "DEFAULT":
            backend = self._conda_backend(deployment, cfg["modelConfigurationDetails"]["modelId"], env, folder)
        elif kind == "OCIR_CONTAINER":
            backend = self._container_backend(env, folder)
        else:
            raise RuntimeError(f"environmentConfigurationType {kind!r} is not one the test runtime runs")
        self.backends.append(dict(backend, deployment=deployment["id"]))
        return backend["url"]

    def _conda_backend(self, deployment, model_id, env, folder):
        import oci_conda_runtime

        data = self.ds.artifact(model_id)
        if data is None:
            raise RuntimeError(f"model {model_id} has no artifact")
        artifact = folder / "artifact"
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                z.extractall(artifact)
        except zipfile.BadZipFile as e:
            raise RuntimeError(f"the model artifact of {model_id} is not a zip file: {e}") from None
        runtime = oci_conda_runtime.CondaRuntime(artifact, python=self.python, env=env.get("environmentVariables"),
                                                 log_path=folder / "predict.log")
        self._conda.append(runtime)
        runtime.start()
        return {"kind": "conda", "url": runtime.predict_url, "log": runtime.log_path}

    def _container_backend(self, env, folder):
        import registry as reg
        from conftest import unused_port

        image, digest = env["image"], env.get("imageDigest")
        ref = image
        if digest:  # OCI runs the digest; the tag is for people
            name = image.rsplit("@", 1)[0]
            if ":" in name.rsplit("/", 1)[-1]:
                name = name.rsplit(":", 1)[0]
            ref = f"{name}@{digest}"
        try:
            rootfs, runtime = reg.pull_and_unpack(ref, folder / "image", creds=self.pull_creds)
        except reg.SkopeoError as e:
            raise RuntimeError(f"cannot pull image {ref}: {e.stderr.strip()[-500:]}") from None
        args = runtime["process"]["args"]
        if env.get("entrypoint") or env.get("cmd"):  # as docker run: an entrypoint given drops the image's Cmd
            image_config = reg.skopeo_inspect(ref, config=True, creds=self.pull_creds).get("config") or {}
            args = list(env.get("entrypoint") or image_config.get("Entrypoint") or []) + list(
                env.get("cmd") or ([] if env.get("entrypoint") else image_config.get("Cmd") or []))
        runtime["process"]["args"] = args
        runtime["process"]["env"] = runtime["process"]["env"] + [
            f"{k}={v}" for k, v in (env.get("environmentVariables") or {}).items()]
        server_port = env.get("serverPort") or 8080
        health_port = env.get("healthCheckPort") or 8080
        listens = args[args.index("--port") + 1] if "--port" in args[:-1] else None
        if listens is not None and int(listens) != server_port:
            raise RuntimeError(f"the container's server listens on port {listens}, the deployment's serverPort "
                               f"is {server_port}: the model server is unreachable")
        if health_port != server_port:
            raise RuntimeError(f"healthCheckPort {health_port} differs from serverPort {server_port}: the "
                               "container's server answers /health on its serverPort only")
        python = "/usr/bin/python3" if reg.entrypoint_env(rootfs, runtime, folder).get("PYTHONPATH") else (
            self.python or sys.executable)
        port = unused_port()
        try:
            proc = reg.start_entrypoint(rootfs, runtime, python, port, folder)
        except AssertionError as e:  # the helper's "did not answer /ping" with the log's tail
            raise RuntimeError(f"the container of {image} did not start: {e}") from None
        self._containers.append(proc)
        return {"kind": "container", "url": f"http://127.0.0.1:{port}/predict",
                "log": str(folder / "server.log")}

    def stop(self):
        for runtime in self._conda:
            runtime.stop()
        for proc in self._containers:
            proc.terminate()
            proc.wait(timeout=60)


@pytest.fixture
def oci_runtime(tmp_path):
    made = []

    def install(ds, python=None, pull_creds=None):
        runtime = OciRuntime(ds, tmp_path / f"oci-runtime-{len(made)}", python=python, pull_creds=pull_creds)
        ds.on_deployment_active = runtime
        made.append(runtime)
        return runtime

    yield install
    for runtime in made:
        runtime.stop()
