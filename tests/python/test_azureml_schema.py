"""tests/servers/azureml_schema.py against the stored Azure ML 2025-12-01 spec, its examples and SDK recordings."""

import copy
import glob
import json
import os
import re

import pytest

import azureml_schema as schema

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "azureml")
RECORDINGS = os.path.join(DATA, "recordings")
WS = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/" \
     "Microsoft.MachineLearningServices/workspaces/{workspaceName}"

# Characters of each stored file as read_file reported them (total_chars): the copies are complete.
STORED = {
    schema.MFE: 792201,
    os.path.join(schema.SPEC_DIR, "machineLearningServices.json"): 119988,
    os.path.join(schema.SPEC_DIR, "registries.json"): 29411,
    os.path.join(schema.COMMON, "privatelinks.json"): 7547,
    os.path.join(schema.COMMON, "types.json"): 24786,
    os.path.join(schema.COMMON, "managedidentity.json"): 5225,
    os.path.join(schema.EXAMPLES, "Workspace/OnlineEndpoint/createOrUpdate.json"): 3999,
    os.path.join(schema.EXAMPLES, "Workspace/OnlineEndpoint/get.json"): 1768,
    os.path.join(schema.EXAMPLES, "OnlineDeployment/ManagedOnlineDeployment/createOrUpdate.json"): 7127,
    os.path.join(schema.EXAMPLES, "OnlineDeployment/KubernetesOnlineDeployment/createOrUpdate.json"): 6957,
    os.path.join(schema.EXAMPLES, "Workspace/ModelVersion/createOrUpdate.json"): 2463,
    os.path.join(schema.EXAMPLES, "Workspace/EnvironmentVersion/createOrUpdate.json"): 3838,
    os.path.join(schema.EXAMPLES, "Datastore/AzureBlobWAccountKey/createOrUpdate.json"): 2738,
    os.path.join(schema.EXAMPLES, "Datastore/get.json"): 1211,
    os.path.join(schema.EXAMPLES, "Datastore/list.json"): 1575,
    os.path.join(schema.EXAMPLES, "Datastore/listSecrets.json"): 366,
    os.path.join(schema.EXAMPLES, "Workspace/get.json"): 4994,
    os.path.join(RECORDINGS, "model/e2etests/test_model.pyTestModeltest_crud_file.json"): 23501,
}


def _load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _example(rel):
    return _load(os.path.join(schema.EXAMPLES, rel))


def _put_examples():
    """(operationId, definition, example path) for every PUT of mfe.json whose example is stored."""
    found = []
    for path, methods in schema._spec().raw[schema._uri(schema.MFE)]["paths"].items():
        operation = methods.get("put")
        if not operation:
            continue
        for example in schema.operation_examples(operation["operationId"]).values():
            if os.path.exists(example):
                found.append((operation["operationId"], schema.request_definition("PUT", path), example))
    return found


@pytest.mark.parametrize("path", sorted(STORED), ids=lambda p: os.path.relpath(p, DATA))
def test_stored_files_are_complete(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    assert len(text) == STORED[path]
    json.loads(text)


def test_every_ref_resolves_to_a_stored_file():
    for path in schema.FILES:
        with open(path, encoding="utf-8") as f:
            refs = set(re.findall(r'"\$ref": "([^"#]+)#', f.read()))
        for ref in refs:
            assert os.path.normpath(os.path.join(os.path.dirname(path), ref)) in schema.FILES, (path, ref)


def test_every_stored_example_is_listed():
    on_disk = set(glob.glob(os.path.join(schema.EXAMPLES, "**", "*.json"), recursive=True))
    assert on_disk == {p for p in STORED if p.startswith(schema.EXAMPLES)}


def test_put_examples_cover_the_resources_we_create():
    assert sorted((op, d) for op, d, _ in _put_examples()) == [
        ("Datastores_CreateOrUpdate", "DatastoreResource"),
        ("EnvironmentVersions_CreateOrUpdate", "EnvironmentVersionResource"),
        ("ModelVersions_CreateOrUpdate", "ModelVersionResource"),
        ("OnlineDeployments_CreateOrUpdate", "OnlineDeploymentTrackedResource"),
        ("OnlineDeployments_CreateOrUpdate", "OnlineDeploymentTrackedResource"),
        ("OnlineEndpoints_CreateOrUpdate", "OnlineEndpointTrackedResource"),
    ]


@pytest.mark.parametrize("operation,definition,path", _put_examples(),
                         ids=lambda v: os.path.relpath(v, schema.EXAMPLES) if os.sep in str(v) else v)
def test_put_example_bodies_and_responses_validate(operation, definition, path):
    example = _load(path)
    assert schema.check(definition, example["parameters"]["body"]) == []
    for status, response in example["responses"].items():
        assert schema.check(definition, response["body"]) == [], status  # readOnly fields are ignored


@pytest.mark.parametrize("rel,definition", [
    ("Workspace/OnlineEndpoint/get.json", "OnlineEndpointTrackedResource"),
    ("Datastore/get.json", "DatastoreResource"),
])
def test_get_example_responses_validate(rel, definition):
    assert schema.check(definition, _example(rel)["responses"]["200"]["body"]) == []


def test_list_example_items_validate():
    for item in _example("Datastore/list.json")["responses"]["200"]["body"]["value"]:
        assert schema.check("DatastoreResource", item) == []


@pytest.mark.parametrize("method,path,definition", [
    ("PUT", WS + "/onlineEndpoints/{endpointName}", "OnlineEndpointTrackedResource"),
    ("PUT", WS + "/onlineEndpoints/{endpointName}/deployments/{deploymentName}", "OnlineDeploymentTrackedResource"),
    ("PUT", WS + "/models/{name}/versions/{version}", "ModelVersionResource"),
    ("put", WS + "/environments/{name}/versions/{version}", "EnvironmentVersionResource"),
    ("PUT", WS + "/datastores/{name}", "DatastoreResource"),
    ("GET", WS + "/onlineEndpoints/{endpointName}", None),
])
def test_request_definition(method, path, definition):
    assert schema.request_definition(method, path) == definition


def _endpoint():
    return copy.deepcopy(_example("Workspace/OnlineEndpoint/createOrUpdate.json")["parameters"]["body"])


def _managed():
    return copy.deepcopy(_example("OnlineDeployment/ManagedOnlineDeployment/createOrUpdate.json")["parameters"]["body"])


def _kubernetes():
    return copy.deepcopy(
        _example("OnlineDeployment/KubernetesOnlineDeployment/createOrUpdate.json")["parameters"]["body"])


def test_bad_auth_mode():
    body = _endpoint()
    body["properties"]["authMode"] = "Token"
    assert schema.check("OnlineEndpointTrackedResource", body) == [
        "properties.authMode: 'Token' is not one of ['AMLToken', 'Key', 'AADToken']"]


def test_bad_endpoint_compute_type():
    body = _managed()
    body["properties"]["endpointComputeType"] = "Serverless"
    assert schema.check("OnlineDeploymentTrackedResource", body) == [
        "properties.endpointComputeType: 'Serverless' is not one of ['Managed', 'Kubernetes', 'AzureMLCompute']"]


def test_missing_endpoint_compute_type():
    body = _managed()
    del body["properties"]["endpointComputeType"]
    assert schema.check("OnlineDeploymentTrackedResource", body) == ["properties.endpointComputeType: is required"]


@pytest.mark.parametrize("value", ["10s", "PT", "P", "00:00:10", "PT10", "10", "pt10s", "PT-1S", ""])
def test_non_iso_duration(value):
    body = _managed()
    body["properties"]["livenessProbe"]["period"] = value
    assert schema.check("OnlineDeploymentTrackedResource", body) == [
        f"properties.livenessProbe.period: {value!r} is not an ISO-8601 duration"]


@pytest.mark.parametrize("value", ["PT10S", "PT0S", "PT5M", "PT1H30M", "PT0.5S", "P1D", "P1DT2H", "P1Y2M3W4DT5H6M7S"])
def test_iso_durations(value):
    body = _managed()
    body["properties"]["requestSettings"]["requestTimeout"] = value
    body["properties"]["scaleSettings"] = {"scaleType": "TargetUtilization", "pollingInterval": value}
    assert schema.check("OnlineDeploymentTrackedResource", body) == []


def test_wrong_types():
    body = _endpoint()
    body["properties"]["traffic"] = {"blue": "100"}
    body["sku"]["capacity"] = 1.5
    body["tags"] = []
    assert schema.check("OnlineEndpointTrackedResource", body) == [
        "properties.traffic.blue: '100' is not of type 'integer'",
        "sku.capacity: 1.5 is not of type 'integer'",
        "tags: [] is not of type 'object'",
    ]


def test_missing_required_fields():
    body = _managed()
    del body["location"]
    del body["properties"]["codeConfiguration"]["scoringScript"]
    assert schema.check("OnlineDeploymentTrackedResource", body) == [
        "location: is required", "properties.codeConfiguration.scoringScript: is required"]
    assert schema.check("OnlineEndpointTrackedResource", {"location": "eastus"}) == ["properties: is required"]
    assert schema.check("OnlineEndpointTrackedResource", {"location": "eastus", "properties": {}}) == [
        "properties.authMode: is required"]


def test_unknown_properties_include_inherited_ones():
    body = _endpoint()
    body["properties"]["authmode"] = "Key"  # wrong case
    body["extra"] = 1
    assert schema.check("OnlineEndpointTrackedResource", body) == [
        "extra: is not a known property", "properties.authmode: is not a known property"]
    # description, keys, properties come from EndpointPropertiesBase through allOf and are accepted:
    body = _endpoint()
    body["properties"]["keys"] = {"primaryKey": "x"}
    assert schema.check("OnlineEndpointTrackedResource", body) == []


def test_discriminator_picks_the_subtype():
    kubernetes = _kubernetes()
    assert schema.check("OnlineDeploymentTrackedResource", kubernetes) == []
    kubernetes["properties"]["endpointComputeType"] = "Managed"  # Managed has no containerResourceRequirements
    assert schema.check("OnlineDeploymentTrackedResource", kubernetes) == [
        "properties.containerResourceRequirements: is not a known property"]
    managed = _managed()
    managed["properties"]["scaleSettings"] = {"scaleType": "TargetUtilization", "minInstances": "1"}
    assert schema.check("OnlineDeploymentTrackedResource", managed) == [
        "properties.scaleSettings.minInstances: '1' is not of type 'integer'"]
    managed["properties"]["scaleSettings"] = {"scaleType": "Manual"}
    assert schema.check("OnlineDeploymentTrackedResource", managed) == [
        "properties.scaleSettings.scaleType: 'Manual' is not one of ['Default', 'TargetUtilization']"]


def test_nested_discriminators_in_datastores():
    body = copy.deepcopy(_example("Datastore/AzureBlobWAccountKey/createOrUpdate.json")["parameters"]["body"])
    assert schema.check("DatastoreResource", body) == []
    body["properties"]["credentials"]["secrets"]["sasToken"] = "?sv=x"  # belongs to the Sas secrets type
    assert schema.check("DatastoreResource", body) == [
        "properties.credentials.secrets.sasToken: is not a known property"]
    body["properties"]["credentials"] = {"credentialsType": "Sas", "secrets": {"secretsType": "Sas", "sasToken": "x"}}
    assert schema.check("DatastoreResource", body) == []
    body["properties"]["containerName"] = None  # x-nullable
    assert schema.check("DatastoreResource", body) == []
    del body["properties"]["credentials"]["secrets"]
    assert schema.check("DatastoreResource", body) == ["properties.credentials.secrets: is required"]


def test_nullable_and_read_only():
    body = _endpoint()
    body["properties"]["description"] = None  # x-nullable
    body["properties"]["scoringUri"] = 42  # readOnly: ignored in requests
    body["properties"]["provisioningState"] = "Nonsense"
    assert schema.check("OnlineEndpointTrackedResource", body) == []
    body["properties"]["authMode"] = None  # not nullable
    assert schema.check("OnlineEndpointTrackedResource", body) == [
        "properties.authMode: None is not of type 'string'",
        "properties.authMode: None is not one of ['AMLToken', 'Key', 'AADToken']",
    ]


def test_unknown_definition():
    with pytest.raises(KeyError):
        schema.check("NoSuchResource", {})


# The azure-ai-ml recordings (Azure/azure-sdk-assets) were made with older preview api-versions; their PUT bodies
# still validate against 2025-12-01.
RECORDED_PUTS = [
    ("online_services/e2etests/test_online_deployment.pyTestOnlineDeploymenttest_online_deployment_create"
     ".put-requests.json", "/onlineEndpoints/online-ept-a2eef48db44f4a9?api-version=2022-02-01-preview",
     "OnlineEndpointTrackedResource"),
    ("online_services/e2etests/test_online_deployment.pyTestOnlineDeploymenttest_online_deployment_create"
     ".put-requests.json", "/deployments/online-dpm-b0249d5411f7413?api-version=2023-04-01-preview",
     "OnlineDeploymentTrackedResource"),
    ("model/e2etests/test_model.pyTestModeltest_crud_file.json",
     "/models/test_907403507619/versions/3?api-version=2023-08-01-preview", "ModelVersionResource"),
]


@pytest.mark.parametrize("rel,uri_tail,definition", RECORDED_PUTS, ids=lambda v: v.split("?")[-1][-30:])
def test_recorded_put_bodies_validate(rel, uri_tail, definition):
    entries = [e for e in _load(os.path.join(RECORDINGS, rel))["Entries"]
               if e["RequestMethod"] == "PUT" and e["RequestUri"].endswith(uri_tail)]
    assert len(entries) == 1
    body = entries[0]["RequestBody"]
    assert schema.check(definition, body) == []
    # The SDK sent json.dumps(body) (", " and ": " separators): the recorded Content-Length matches when recorded.
    headers = entries[0].get("RequestHeaders")
    if headers:
        assert int(headers["Content-Length"]) == len(json.dumps(body))


def test_recorded_responses_differ_from_2025_12_01():
    """What the service returned to the preview api-versions, checked against 2025-12-01 (request rules)."""
    entries = _load(os.path.join(RECORDINGS, "model/e2etests/test_model.pyTestModeltest_crud_file.json"))["Entries"]
    put = next(e for e in entries if e["RequestMethod"] == "PUT")
    assert put["StatusCode"] == 201
    # 2023-08-01-preview fields that 2025-12-01 does not define:
    assert schema.check("ModelVersionResource", put["ResponseBody"]) == [
        "properties.autoDeleteSetting: is not a known property",
        "properties.intellectualProperty: is not a known property",
    ]
    # GET datastore (2024-07-01-preview): the service leaves out credentials.secrets, which the spec requires
    # (the 2025-12-01 examples answer {"secretsType": "AccountKey"} instead).
    datastore = next(e for e in entries if "/datastores/workspaceblobstore?" in e["RequestUri"])
    assert schema.check("DatastoreResource", datastore["ResponseBody"]) == [
        "properties.credentials.secrets: is required"]
