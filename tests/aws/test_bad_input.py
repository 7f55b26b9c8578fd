"""Bad input is one clear SpecError naming the option (or the service key), raised before any resource exists."""

from __future__ import annotations

import pytest
from aws_fixtures import CANARY, CERTIFICATE, ECR_IMAGE, PROD, make_service, register
from modelport.aws.container import EcsServiceArgs
from modelport.aws.kubernetes import EksServiceArgs
from modelport.aws.ml_platform import SageMakerEndpointArgs
from modelport.aws.serverless import LambdaServiceArgs
from modelport.aws.vm import Ec2ServiceArgs
from modelport.catalog import deploy
from modelport.spec import Target
from modelport.validation import SpecError

S = "modelport:service."
GPU = {"cpu": 4, "memory_mib": 8192, "accelerator": {"type": "nvidia-t4"}}
PUBLIC_NO_CERT = {"public": True, "anonymous": True, "allowed_networks": ["203.0.113.0/24"]}
ECR_VARIANTS_3 = [
    {"name": "a", "weight": 50},
    {"name": "b", "weight": 30, "image": ECR_IMAGE.replace("4f", "6c")},
    {"name": "c", "weight": 20, "image": ECR_IMAGE.replace("4f", "7d")},
]

CASES = [
    # a public exposure without a certificate, where the pattern terminates TLS itself
    (Ec2ServiceArgs, {"exposure": PUBLIC_NO_CERT}, {}, S + "exposure.certificate", "certificate"),
    (EcsServiceArgs, {"exposure": PUBLIC_NO_CERT}, {}, S + "exposure.certificate", "certificate"),
    (EcsServiceArgs, {"exposure": {"certificate": "churn-tls"}}, {}, S + "exposure.certificate", "ACM"),
    # a GPU on a pattern that cannot provide one
    (EcsServiceArgs, {"resources": GPU}, {}, S + "resources.accelerator", "Fargate has no GPUs"),
    (LambdaServiceArgs, {"image": ECR_IMAGE, "resources": GPU}, {}, S + "resources.accelerator", "no GPUs"),
    (Ec2ServiceArgs, {"resources": GPU}, {"instance_type": "m7i.2xlarge"}, "instance_type", "has no GPU"),
    # sizes outside the pattern's limits
    (LambdaServiceArgs, {"image": ECR_IMAGE}, {"memory_mb": 12288}, "memory_mb", "<= 10240"),
    (
        LambdaServiceArgs,
        {"image": ECR_IMAGE, "resources": {"cpu": 1, "memory_mib": 12288}},
        {},
        S + "resources.memory_mib",
        "at most 10240",
    ),
    (
        LambdaServiceArgs,
        {"image": ECR_IMAGE, "resources": {"cpu": 8, "memory_mib": 4096}},
        {},
        S + "resources.cpu",
        "at most 6 vCPUs",
    ),
    (LambdaServiceArgs, {"image": ECR_IMAGE}, {"timeout_seconds": 901}, "timeout_seconds", "<= 900"),
    (EcsServiceArgs, {}, {"task_cpu": 1024, "task_memory": 512}, "task_memory", "accepts memory 2048..8192"),
    (EcsServiceArgs, {}, {"task_cpu": 3000, "task_memory": 8192}, "task_cpu", "must be one of"),
    (EcsServiceArgs, {}, {"task_cpu": 1024}, "task_memory", "together"),
    (EcsServiceArgs, {"resources": {"cpu": 32, "memory_mib": 4096}}, {}, S + "resources", "at most 16 vCPU"),
    (
        Ec2ServiceArgs,
        {"resources": {"cpu": 4, "memory_mib": 8192}},
        {"instance_type": "m7i.large"},
        "instance_type",
        "too small",
    ),
    (Ec2ServiceArgs, {}, {"instance_type": "ml.m5.xlarge"}, "instance_type", "SageMaker instance types"),
    (SageMakerEndpointArgs, {"image": ECR_IMAGE}, {"instance_type": "m5.xlarge"}, "instance_type", "ml.m5.xlarge"),
    (
        SageMakerEndpointArgs,
        {"image": ECR_IMAGE, "resources": GPU},
        {"instance_type": "ml.g5.xlarge"},
        "instance_type",
        "asks for 1x nvidia-t4",
    ),
    (SageMakerEndpointArgs, {"image": ECR_IMAGE}, {"canary_percent": 80}, "canary_percent", "<= 50"),
    # weights on a pattern that cannot split them
    (
        LambdaServiceArgs,
        {"image": ECR_IMAGE, "variants": ECR_VARIANTS_3},
        {"stable_version": "3"},
        S + "variants",
        "two versions",
    ),
    (
        LambdaServiceArgs,
        {
            "image": ECR_IMAGE,
            "variants": [{"name": "a", "weight": 50}, {"name": "b", "weight": 50, "image": ECR_IMAGE}],
        },
        {"stable_version": "3"},
        S + "variants",
        "exactly one variant with its own image",
    ),
    (
        LambdaServiceArgs,
        {
            "image": ECR_IMAGE,
            "variants": [
                {"name": "a", "weight": 90},
                {"name": "b", "weight": 10, "image": ECR_IMAGE.replace("4f", "6c")},
            ],
        },
        {},
        "stable_version",
        "already published version",
    ),
    # images, artifacts, secrets and callers each pattern can actually use
    (LambdaServiceArgs, {}, {}, S + "image", "only from Amazon ECR"),
    (SageMakerEndpointArgs, {"variants": CANARY, "image": ECR_IMAGE}, {}, S + "variants[1].image", "Amazon ECR"),
    (
        EcsServiceArgs,
        {"model": {"name": "churn", "artifact_uri": "s3://models/churn/"}},
        {},
        S + "model.artifact_uri",
        "baked into the image",
    ),
    (
        Ec2ServiceArgs,
        {"model": {"name": "churn", "artifact_uri": "gs://models/churn"}},
        {},
        S + "model.artifact_uri",
        "from S3",
    ),
    (
        EcsServiceArgs,
        {"secrets": {"TOKEN_REF": "projects/p/secrets/token"}},
        {},
        S + "secrets.TOKEN_REF",
        "Secrets Manager or SSM",
    ),
    (
        Ec2ServiceArgs,
        {"secrets": {"DB": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf:password::"}},
        {},
        S + "secrets.DB",
        "whole secret",
    ),
    (
        LambdaServiceArgs,
        {"image": ECR_IMAGE, "secrets": {"DB": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"}},
        {},
        S + "secrets.DB",
        "no secret injection",
    ),
    (
        EcsServiceArgs,
        {"exposure": {"allowed_principals": ["arn:aws:iam::111122223333:role/caller"]}},
        {},
        S + "exposure.allowed_principals",
        "cannot verify IAM principals",
    ),
    (
        LambdaServiceArgs,
        {"image": ECR_IMAGE, "exposure": {"allowed_networks": ["10.0.0.0/8"]}},
        {},
        S + "exposure.allowed_networks",
        "cannot restrict them by network",
    ),
    (
        LambdaServiceArgs,
        {"image": ECR_IMAGE, "exposure": {"domain": "churn.example.com"}},
        {},
        S + "exposure.domain",
        "custom domain",
    ),
    (
        LambdaServiceArgs,
        {"image": ECR_IMAGE},
        {
            "vpc_id": "vpc-0123456789abcdef0",
            "private_subnet_ids": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
        },
        "in_vpc",
        "set in_vpc: true",
    ),
    # EKS
    (EksServiceArgs, {}, {"node_min": 2}, "node_min", ">= 3"),
    (
        EksServiceArgs,
        {},
        {"endpoint_public_access_cidrs": ["0.0.0.0/0"]},
        "endpoint_public_access_cidrs",
        "allow-listed",
    ),
    (
        EksServiceArgs,
        {},
        {"endpoint_public_access_cidrs": ["0.0.0.0/1", "128.0.0.0/1"]},
        "endpoint_public_access_cidrs",
        "internet",
    ),
    (EksServiceArgs, {}, {"api_access_cidrs": ["::/0"]}, "api_access_cidrs", "internet"),
    (
        EksServiceArgs,
        {},
        {"admin_principal_arns": ["arn:aws:iam::123456789012:root"]},
        "admin_principal_arns[0]",
        "account root",
    ),
    (EksServiceArgs, {}, {"endpoint_public_access_cidrs": ["8.0.0.0/7"]}, "endpoint_public_access_cidrs", "IPv4"),
    # prod keeps detection and recovery
    (EcsServiceArgs, {}, {"nat_per_zone": False}, "nat_per_zone", "NAT gateway in every zone"),
    (Ec2ServiceArgs, {}, {"alarms": False}, "alarms", "prod keeps"),
    (LambdaServiceArgs, {"image": ECR_IMAGE}, {"alarms": False}, "alarms", "prod keeps"),
    (EcsServiceArgs, {}, {"alarm_error_rate_percent": 100}, "alarm_error_rate_percent", "never fire"),
    (EcsServiceArgs, {}, {"alarm_p99_latency_ms": 60_000}, "alarm_p99_latency_ms", "never fire"),
    (
        LambdaServiceArgs,
        {"image": ECR_IMAGE},
        {"timeout_seconds": 30, "alarm_p99_latency_ms": 30_000},
        "alarm_p99_latency_ms",
        "30000",
    ),
    (
        SageMakerEndpointArgs,
        {"image": ECR_IMAGE},
        {"canary_wait_seconds": 0},
        "canary_wait_seconds",
        "prod bakes at least 180",
    ),
    (
        SageMakerEndpointArgs,
        {"image": ECR_IMAGE},
        {"canary_wait_seconds": 120},
        "canary_wait_seconds",
        "prod bakes at least 180",
    ),
    (EksServiceArgs, {}, {"workload": {"replicas": 3}}, "workload.replicas", "unknown key"),
    (EksServiceArgs, {}, {"workload": {"provider": None}}, "workload.provider", "set by the EKS component"),
    (
        EksServiceArgs,
        {"secrets": {"DB": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"}},
        {},
        S + "secrets.DB",
        "Kubernetes Secrets",
    ),
    # shared options
    (
        EcsServiceArgs,
        {},
        {
            "vpc_id": "vpc-0123456789abcdef0",
            "private_subnet_ids": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
            "certificate_arn": CERTIFICATE,
            "public_subnet_ids": ["subnet-0123"],
        },
        "public_subnet_ids[0]",
        "subnet id",
    ),
    (Ec2ServiceArgs, {}, {"alarm_actions": ["arn:aws:sqs:us-east-1:123456789012:q"]}, "alarm_actions[0]", "SNS"),
]


@pytest.mark.parametrize(
    ("args_type", "service", "options", "path", "reason"), CASES, ids=[f"{c[0].__name__}-{c[3]}" for c in CASES]
)
def test_bad_input_names_the_key(args_type, service, options, path, reason):
    with pytest.raises(SpecError) as error:
        args_type(service=make_service(**service), profile=PROD, **options)
    assert error.value.path == path
    assert reason in error.value.reason


def test_stack_option_error_names_the_full_path_and_registers_nothing(pulumi_mocks):
    target = Target(
        cloud="aws",
        pattern="container",
        region="us-east-1",
        options={"task_cpu": 1024, "task_memory": 512},
        path="modelport:targets[0]",
    )
    with pytest.raises(SpecError) as error:
        register(lambda: deploy(make_service(), target, PROD))
    assert error.value.path == "modelport:targets[0].options.task_memory"
    assert pulumi_mocks.resources == []


def test_stack_service_error_keeps_the_service_path_and_registers_nothing(pulumi_mocks):
    target = Target(cloud="aws", pattern="serverless", region="us-east-1", path="modelport:targets[1]")
    service = make_service(image=ECR_IMAGE, resources=GPU)
    with pytest.raises(SpecError) as error:
        register(lambda: deploy(service, target, PROD))
    assert error.value.path == "modelport:service.resources.accelerator"
    assert pulumi_mocks.resources == []


def test_unknown_option_is_refused_before_the_provider(pulumi_mocks):
    target = Target(
        cloud="aws",
        pattern="vm",
        region="us-east-1",
        options={"instance_typ": "m7i.large"},
        path="modelport:targets[0]",
    )
    with pytest.raises(SpecError) as error:
        register(lambda: deploy(make_service(), target, PROD))
    assert error.value.path == "modelport:targets[0].options.instance_typ"
    assert "unknown key" in error.value.reason
    assert pulumi_mocks.resources == []


def test_ecr_image_from_another_region_is_refused_for_lambda(pulumi_mocks):
    target = Target(cloud="aws", pattern="serverless", region="eu-west-1", path="modelport:targets[0]")
    with pytest.raises(SpecError) as error:
        register(lambda: deploy(make_service(image=ECR_IMAGE), target, PROD))
    assert error.value.path == "modelport:service.image"
    assert "us-east-1" in error.value.reason and "eu-west-1" in error.value.reason
    assert pulumi_mocks.resources == []
