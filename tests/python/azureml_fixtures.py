"""Fixtures for the Azure stand-in (tests/servers/azureml.py). conftest.py imports them:

    from azureml_fixtures import azure_standin, azure_standin_factory, model_backend  # noqa: F401

`azure_standin_factory(**kwargs)` starts an AzureStandIn (kwargs go to its constructor: lro_polls,
retry_after, datastore_credentials, page_size, ...), writes its CA to tmp_path, points Python clients at
it for the rest of the test (REQUESTS_CA_BUNDLE and SSL_CERT_FILE = the CA, socket.getaddrinfo patched
so that the Azure names on port 443 reach the stand-in, AZURE_POD_IDENTITY_AUTHORITY_HOST = its IMDS)
and, with driver_env=True, also sets what our C++ driver reads (MLFLOW_BRIDGE_CONNECT_TO,
CURL_CA_BUNDLE). The server gets `ca_path`. Everything is undone and the servers stopped afterwards;
a test fails if a stand-in recorded a bug of its own (server.errors).

`azure_standin` is one with the defaults (retry_after=1, lro_polls=1). `model_backend(name, ...)`
starts a ModelBackend (a tiny MLflow-like scoring server) and stops it afterwards.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "servers"))

from azureml import AzureStandIn, ModelBackend  # noqa: E402


@pytest.fixture
def azure_standin_factory(tmp_path, monkeypatch):
    started = []

    def start(driver_env=False, **kwargs):
        server = AzureStandIn(**kwargs).start()
        patch = server.patch_resolver()
        started.append((server, patch))
        patch.__enter__()
        server.ca_path = server.write_ca(tmp_path / f"azure-standin-ca-{len(started)}.pem")
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_path)
        monkeypatch.setenv("SSL_CERT_FILE", server.ca_path)
        monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", server.imds_url)
        if driver_env:
            for k, v in server.driver_env(server.ca_path).items():
                monkeypatch.setenv(k, v)
        return server

    yield start
    errors = []
    for server, patch in reversed(started):
        patch.__exit__(None, None, None)
        server.stop()
        errors += server.errors
    assert not errors, "the Azure stand-in hit bugs of its own:\n" + "\n".join(errors)


@pytest.fixture
def azure_standin(azure_standin_factory):
    return azure_standin_factory()


@pytest.fixture
def model_backend():
    started = []

    def start(name="model", **kwargs):
        backend = ModelBackend(name, **kwargs).start()
        started.append(backend)
        return backend

    yield start
    for backend in started:
        backend.stop()
