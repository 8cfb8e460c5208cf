"""The SageMaker stand-in (moto plus tests/servers/moto_sagemaker.py), checked with boto3."""

import boto3
import moto_sagemaker
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

REGION = "eu-west-1"
ROLE = "arn:aws:iam::123456789012:role/sagemaker"


@pytest.fixture
def sm(aws):
    return boto3.client("sagemaker", region_name=REGION, config=Config(retries={"mode": "standard", "total_max_attempts": 1}))


def make_endpoint(sm, name, config_name="c1", model="m1"):
    sm.create_model(ModelName=model, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": "img:1"})
    sm.create_endpoint_config(
        EndpointConfigName=config_name,
        ProductionVariants=[{"VariantName": "v1", "ModelName": model, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}],
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=config_name)


def test_update_endpoint_is_added(sm):
    make_endpoint(sm, "ep")
    sm.create_endpoint_config(
        EndpointConfigName="c2",
        ProductionVariants=[{"VariantName": "v2", "ModelName": "m1", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}],
    )
    sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2")
    described = sm.describe_endpoint(EndpointName="ep")
    assert described["EndpointConfigName"] == "c2"
    assert [v["VariantName"] for v in described["ProductionVariants"]] == ["v2"]
    with pytest.raises(ClientError) as e:
        sm.update_endpoint(EndpointName="missing", EndpointConfigName="c2")
    assert e.value.response["Error"]["Code"] == "ValidationException"


def test_status_lifecycle_and_failure_reason(sm):
    moto_sagemaker.set_defaults(create=["Creating", "Creating", "InService"])
    make_endpoint(sm, "ep")
    seen = [sm.describe_endpoint(EndpointName="ep")["EndpointStatus"] for _ in range(4)]
    assert seen == ["Creating", "Creating", "InService", "InService"]
    moto_sagemaker.set_status(REGION, "ep", "Failed", "image pull failed")
    described = sm.describe_endpoint(EndpointName="ep")
    assert (described["EndpointStatus"], described["FailureReason"]) == ("Failed", "image pull failed")


def test_faults_have_the_aws_shape(sm):
    moto_sagemaker.inject_fault("ListEndpoints", "ThrottlingException", "Rate exceeded", times=1)
    with pytest.raises(ClientError) as e:
        sm.list_endpoints()
    assert e.value.response["Error"] == {"Code": "ThrottlingException", "Message": "Rate exceeded"}
    assert sm.list_endpoints()["Endpoints"] == []  # one shot


def test_invoke_results_are_queued(aws, sm):
    make_endpoint(sm, "ep")
    aws.queue_invoke_results(REGION, [{"Body": '{"predictions": [1, 2]}', "ContentType": "application/json"}])
    runtime = boto3.client("sagemaker-runtime", region_name=REGION)
    out = runtime.invoke_endpoint(EndpointName="ep", Body=b"{}", ContentType="application/json")
    assert out["Body"].read() == b'{"predictions": [1, 2]}'
