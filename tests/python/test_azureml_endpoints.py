"""The azureml-endpoints target end to end: mlflow deployments (CLI and SDK) -> our C++ driver -> the Azure
stand-in (tests/servers/azureml.py: Entra ID, ARM, blob storage, scoring), with the official client
(azure-ai-ml's MLClient) reading back what the driver made."""

import json

import pandas as pd
import pytest
from conftest import ROWS, cli, expected

TENANT_APP = "11111111-2222-3333-4444-555555555555"
SECRET = "s3cret-value-for-tests"


@pytest.fixture
def azure(azure_standin_factory, model_backend, monkeypatch, home, models):
    """The stand-in with our driver pointed at it, a service principal in the environment, and every
    deployment that becomes ready served by a scoring backend that predicts scale * (x1 + x2), scale = the
    registered model's version (tiny/1 -> 1, tiny/2 -> 2)."""
    az = azure_standin_factory(driver_env=True, lro_polls=1, retry_after=1)
    az.add_principal(TENANT_APP, secret=SECRET)
    monkeypatch.setenv("AZURE_TENANT_ID", az.tenant)
    monkeypatch.setenv("AZURE_CLIENT_ID", TENANT_APP)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", SECRET)
    backends = {}

    def ready(info):
        version = str(info.get("model") or "").rstrip("/").split("/")[-1]
        scale = float(version) if version.isdigit() else 1.0
        if scale not in backends:
            backends[scale] = model_backend(f"v{scale}", scale=scale)
        return backends[scale].url

    az.on_deployment_ready = ready
    ws = az.default_workspace
    az.target = f"azureml-endpoints:/{ws['sub']}/{ws['rg']}/{ws['name']}"
    return az


def test_sdk_plain_create_predict_delete(azure, models):
    from mlflow.deployments import get_deploy_client

    client = get_deploy_client(azure.target)
    d = client.create_deployment("flood", models["version1"], config={"instance_type": "Standard_DS3_v2"})
    assert d["name"] == "flood" and d["endpoint"] == "flood" and d["weight"] == 100, d
    ep = azure.endpoint("flood")
    assert ep["properties"]["traffic"] == {"flood": 100}
    answer = client.predict("flood", ROWS)
    assert list(answer["predictions"]) == expected(1.0)
    assert [d["name"] for d in client.list_deployments()] == ["flood"]
    client.delete_deployment("flood")
    assert azure.endpoint("flood") is None
