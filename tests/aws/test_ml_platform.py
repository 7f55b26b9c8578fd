"""SageMakerEndpoint (ml_platform): isolated models in the VPC, KMS and data capture, weighted variants with two
instances in prod, blue/green canary with alarm rollback, per-variant autoscaling, scoped execution role."""

from __future__ import annotations

import json

from aws_fixtures import DEV, ECR_CANARY, ECR_CANARY_VARIANTS, ECR_IMAGE, PROD, make_service, register, subnet_zones
from modelport.aws.ml_platform import SageMakerEndpoint, SageMakerEndpointArgs

MODEL = "aws:sagemaker/model:Model"
CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
ENDPOINT = "aws:sagemaker/endpoint:Endpoint"
ARCHIVE = "s3://models-bucket/churn/v3/model.tar.gz"


def deploy(mocks, profile=PROD, service=None, **kwargs):
    service = service or make_service(image=ECR_IMAGE, model={"name": "churn", "artifact_uri": ARCHIVE})
    register(lambda: SageMakerEndpoint("churn-sm", SageMakerEndpointArgs(service=service, profile=profile, **kwargs)))
    return mocks


def test_model_is_isolated_in_the_vpc_and_loads_the_artifact(pulumi_mocks):
    model = deploy(pulumi_mocks).one(MODEL).inputs
    assert model["enableNetworkIsolation"] is True
    assert model["primaryContainer"]["image"] == ECR_IMAGE
    assert model["primaryContainer"]["modelDataUrl"] == ARCHIVE
    assert len(subnet_zones(pulumi_mocks, model["vpcConfig"]["subnets"])) == 3
    assert model["vpcConfig"]["securityGroupIds"] == [
        pulumi_mocks.one("aws:ec2/securityGroup:SecurityGroup", "churn-sm-model-sg").id
    ]
    assert len(model["name"]) <= 63


def test_uncompressed_prefix_is_a_model_data_source(pulumi_mocks):
    service = make_service(image=ECR_IMAGE, model={"name": "churn", "artifact_uri": "s3://models-bucket/churn/v3"})
    container = deploy(pulumi_mocks, service=service).one(MODEL).inputs["primaryContainer"]
    assert container["modelDataSource"] == {
        "s3DataSources": [
            {"s3Uri": "s3://models-bucket/churn/v3/", "s3DataType": "S3Prefix", "compressionType": "None"}
        ]
    }


def test_endpoint_configuration_encrypts_and_captures_data_to_the_bucket(pulumi_mocks):
    config = deploy(pulumi_mocks).one(CONFIG).inputs
    key = pulumi_mocks.one("aws:kms/key:Key").outputs["arn"]
    bucket = pulumi_mocks.one("aws:s3/bucket:Bucket", "churn-sm-foundation-artifacts").outputs["bucket"]
    assert config["kmsKeyArn"] == key
    capture = config["dataCaptureConfig"]
    assert capture["enableCapture"] is True
    assert capture["destinationS3Uri"] == f"s3://{bucket}/data-capture/churn"
    assert capture["kmsKeyId"] == key
    assert capture["initialSamplingPercentage"] == 20
    sse = pulumi_mocks.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    rule = sse.inputs["rules"][0]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key}
    assert rule["bucketKeyEnabled"] is True


def test_prod_variants_are_weighted_and_split_the_prod_floor_exactly_with_least_outstanding_requests(pulumi_mocks):
    service = make_service(image=ECR_IMAGE, variants=ECR_CANARY_VARIANTS)
    deploy(pulumi_mocks, service=service)
    variants = {v["variantName"]: v for v in pulumi_mocks.one(CONFIG).inputs["productionVariants"]}
    assert {n: v["initialVariantWeight"] for n, v in variants.items()} == {"stable": 90, "canary": 10}
    # The prod floor (3) is honoured for the service as a whole and split by weight; nothing is raised silently.
    assert {n: v["initialInstanceCount"] for n, v in variants.items()} == {"stable": 2, "canary": 1}
    assert all(v["routingConfigs"] == [{"routingStrategy": "LEAST_OUTSTANDING_REQUESTS"}] for v in variants.values())
    models = {r.inputs["name"]: r.inputs for r in pulumi_mocks.by_type(MODEL)}
    assert models[variants["canary"]["modelName"]]["primaryContainer"]["image"] == ECR_CANARY


def test_dev_single_variant_has_one_instance(pulumi_mocks):
    variants = deploy(pulumi_mocks, DEV).one(CONFIG).inputs["productionVariants"]
    assert [v["initialInstanceCount"] for v in variants] == [1]


def test_endpoint_deploys_blue_green_canary_and_rolls_back_on_the_alarms(pulumi_mocks):
    deploy(pulumi_mocks)
    endpoint = pulumi_mocks.one(ENDPOINT).inputs
    policy = endpoint["deploymentConfig"]["blueGreenUpdatePolicy"]
    routing = policy["trafficRoutingConfiguration"]
    assert routing["type"] == "CANARY"
    assert routing["canarySize"] == {"type": "CAPACITY_PERCENT", "value": 10}
    assert routing["waitIntervalInSeconds"] == 600
    alarms = {r.inputs["name"]: r.inputs for r in pulumi_mocks.by_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    rollback = {a["alarmName"] for a in endpoint["deploymentConfig"]["autoRollbackConfiguration"]["alarms"]}
    assert rollback == set(alarms) and len(alarms) == 2
    latency = next(a for a in alarms.values() if a.get("metricName") == "ModelLatency")
    assert latency["extendedStatistic"] == "p99"
    assert latency["threshold"] == 2_000_000  # 2,000 ms in microseconds
    assert latency["dimensions"] == {"EndpointName": endpoint["name"], "VariantName": "stable"}
    errors = next(a for a in alarms.values() if "metricQueries" in a)
    assert {q.get("metric", {}).get("metricName") for q in errors["metricQueries"]} >= {
        "Invocation5XXErrors",
        "Invocations",
    }


def test_each_variant_autoscales_on_invocations_per_instance(pulumi_mocks):
    deploy(pulumi_mocks, service=make_service(image=ECR_IMAGE, variants=ECR_CANARY_VARIANTS))
    name = pulumi_mocks.one(ENDPOINT).inputs["name"]
    targets = {r.inputs["resourceId"]: r.inputs for r in pulumi_mocks.by_type("aws:appautoscaling/target:Target")}
    assert set(targets) == {f"endpoint/{name}/variant/stable", f"endpoint/{name}/variant/canary"}
    assert all(t["scalableDimension"] == "sagemaker:variant:DesiredInstanceCount" for t in targets.values())
    assert sorted(t["minCapacity"] for t in targets.values()) == [1, 2]
    policies = [
        r.inputs["targetTrackingScalingPolicyConfiguration"]
        for r in pulumi_mocks.by_type("aws:appautoscaling/policy:Policy")
    ]
    assert {p["predefinedMetricSpecification"]["predefinedMetricType"] for p in policies} == {
        "SageMakerVariantInvocationsPerInstance"
    }
    assert {p["targetValue"] for p in policies} == {600}


def test_execution_role_is_scoped_to_prefix_repository_key_and_log_group(pulumi_mocks):
    deploy(pulumi_mocks)
    doc = json.loads(
        pulumi_mocks.one("aws:iam/rolePolicy:RolePolicy", "churn-sm-execution-role-policy").inputs["policy"]
    )
    sids = {s["Sid"]: s for s in doc["Statement"]}
    assert sids["PullFromTheServiceRepository"]["Resource"] == ["arn:aws:ecr:us-east-1:123456789012:repository/churn"]
    assert sids["ReadTheModelArtifact"]["Resource"] == ["arn:aws:s3:::models-bucket/churn/v3/model.tar.gz"]
    assert sids["UseTheServiceKey"]["Resource"] == [pulumi_mocks.one("aws:kms/key:Key").outputs["arn"]]
    endpoint = pulumi_mocks.one(ENDPOINT).inputs["name"]
    group = pulumi_mocks.one("aws:cloudwatch/logGroup:LogGroup", "churn-sm-endpoint-logs")
    assert group.inputs["name"] == f"/aws/sagemaker/Endpoints/{endpoint}"
    assert sids["WriteEndpointLogs"]["Resource"] == [group.outputs["arn"], f"{group.outputs['arn']}:log-stream:*"]
    bucket = pulumi_mocks.one("aws:s3/bucket:Bucket").outputs["arn"]
    assert sids["WriteDataCapture"]["Resource"] == [f"{bucket}/data-capture/churn/*"]


def test_gpu_instances_with_local_nvme_use_hardware_encryption(pulumi_mocks):
    service = make_service(
        image=ECR_IMAGE, resources={"cpu": 4, "memory_mib": 8192, "accelerator": {"type": "nvidia-a10g"}}
    )
    config = deploy(pulumi_mocks, service=service).one(CONFIG).inputs
    assert config["productionVariants"][0]["instanceType"] == "ml.g5.xlarge"
    assert "kmsKeyArn" not in config


def test_private_runtime_endpoint_and_outputs(pulumi_mocks):
    deploy(pulumi_mocks)
    assert "sagemaker.runtime" in {
        r.name.removeprefix("churn-sm-foundation-vpce-").replace("-", ".")
        for r in pulumi_mocks.by_type("aws:ec2/vpcEndpoint:VpcEndpoint")
    }
    component = pulumi_mocks.one("modelport:aws:SageMakerEndpoint").outputs
    name = pulumi_mocks.one(ENDPOINT).inputs["name"]
    assert component["endpoint"] == f"https://runtime.sagemaker.us-east-1.amazonaws.com/endpoints/{name}/invocations"
    assert component["identity"] == pulumi_mocks.one("aws:iam/role:Role", "churn-sm-execution-role").outputs["arn"]


def test_an_explicit_min_replicas_is_honoured_not_raised(pulumi_mocks):
    service = make_service(image=ECR_IMAGE, scaling={"min_replicas": 1, "max_replicas": 4})
    variants = deploy(pulumi_mocks, service=service).one(CONFIG).inputs["productionVariants"]
    assert [v["initialInstanceCount"] for v in variants] == [1]


def test_target_concurrency_tracks_concurrent_requests_per_model(pulumi_mocks):
    service = make_service(image=ECR_IMAGE, scaling={"max_replicas": 6, "target_concurrency": 8})
    deploy(pulumi_mocks, service=service)
    policies = {r.name: r.inputs for r in pulumi_mocks.by_type("aws:appautoscaling/policy:Policy")}
    (concurrency,) = [p for n, p in policies.items() if n.endswith("-concurrency-target")]
    config = concurrency["targetTrackingScalingPolicyConfiguration"]
    assert config["predefinedMetricSpecification"]["predefinedMetricType"] == (
        "SageMakerVariantConcurrentRequestsPerModelHighResolution"
    )
    assert config["targetValue"] == 8
    assert any(n.endswith("-invocations-target") for n in policies)  # invocations_per_instance still applies
