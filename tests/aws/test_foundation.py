"""Foundation: zones, NAT and endpoints of the VPC, the key and its policy, ECR, the artifact bucket, logs, and
default / bring-your-own / skip for each piece."""

from __future__ import annotations

import json

import pytest
from aws_fixtures import DEV, PROD, make_service, register, subnet_zones
from modelport.aws.foundation import Foundation, FoundationArgs
from modelport.validation import SpecError

KEY = "aws:kms/key:Key"
BYO_KEY = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-4333-8444-555555555555"


def deploy(mocks, profile=PROD, **kwargs):
    register(lambda: Foundation("base", FoundationArgs(service=make_service(), profile=profile, **kwargs)))
    return mocks


def subnets(mocks, kind):
    return [r for r in mocks.by_type("aws:ec2/subnet:Subnet") if f"-{kind}-" in r.name]


def test_prod_network_has_three_zones_nat_per_zone_endpoints_and_flow_logs(pulumi_mocks):
    deploy(pulumi_mocks, PROD)
    private = subnets(pulumi_mocks, "private")
    assert subnet_zones(pulumi_mocks, [s.id for s in private]) == {"us-east-1a", "us-east-1b", "us-east-1c"}
    assert all(s.inputs["mapPublicIpOnLaunch"] is False for s in pulumi_mocks.by_type("aws:ec2/subnet:Subnet"))
    assert len(pulumi_mocks.by_type("aws:ec2/natGateway:NatGateway")) == 3
    routes = {r.name: r.inputs for r in pulumi_mocks.by_type("aws:ec2/route:Route") if "private" in r.name}
    nats = {r.name: r.id for r in pulumi_mocks.by_type("aws:ec2/natGateway:NatGateway")}
    assert {routes[f"base-private-default-{z}"]["natGatewayId"] for z in "abc"} == set(nats.values())
    endpoints = {r.inputs["serviceName"]: r.inputs for r in pulumi_mocks.by_type("aws:ec2/vpcEndpoint:VpcEndpoint")}
    assert set(endpoints) == {f"com.amazonaws.us-east-1.{s}" for s in ("s3", "ecr.api", "ecr.dkr", "logs", "sts")}
    assert endpoints["com.amazonaws.us-east-1.s3"]["vpcEndpointType"] == "Gateway"
    assert all(e["privateDnsEnabled"] for n, e in endpoints.items() if not n.endswith(".s3"))
    flow = pulumi_mocks.one("aws:ec2/flowLog:FlowLog").inputs
    assert flow["trafficType"] == "ALL" and flow["logDestinationType"] == "cloud-watch-logs"
    default_sg = pulumi_mocks.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup").inputs
    assert default_sg.get("ingress", []) == [] and default_sg.get("egress", []) == []


def test_dev_network_has_two_zones_and_one_nat(pulumi_mocks):
    deploy(pulumi_mocks, DEV)
    assert len(subnet_zones(pulumi_mocks, [s.id for s in subnets(pulumi_mocks, "private")])) == 2
    assert len(pulumi_mocks.by_type("aws:ec2/natGateway:NatGateway")) == 1


def test_key_rotates_and_its_policy_names_root_logs_and_no_wildcard_principal(pulumi_mocks):
    deploy(pulumi_mocks, autoscaling_key_grant=True)
    key = pulumi_mocks.one(KEY).inputs
    assert key["enableKeyRotation"] is True
    assert key["deletionWindowInDays"] == 30
    policy = json.loads(key["policy"])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["EnableAccountAdministration"]["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    logs = by_sid["AllowCloudWatchLogsInThisAccount"]
    assert logs["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}
    assert logs["Condition"] == {
        "StringLike": {"kms:EncryptionContext:aws:logs:arn": "arn:aws:logs:us-east-1:123456789012:log-group:*"}
    }
    assert "AllowAutoScalingToUseTheKeyForEbs" in by_sid
    for statement in policy["Statement"]:
        principals = [p for v in statement["Principal"].values() for p in (v if isinstance(v, list) else [v])]
        assert "*" not in principals


def test_repository_is_immutable_scanned_and_encrypted_with_the_key(pulumi_mocks):
    deploy(pulumi_mocks)
    repo = pulumi_mocks.one("aws:ecr/repository:Repository").inputs
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo["encryptionConfigurations"] == [
        {"encryptionType": "KMS", "kmsKey": pulumi_mocks.one(KEY).outputs["arn"]}
    ]
    lifecycle = json.loads(pulumi_mocks.one("aws:ecr/lifecyclePolicy:LifecyclePolicy").inputs["policy"])
    assert [r["selection"]["tagStatus"] for r in lifecycle["rules"]] == ["untagged", "any"]


def test_artifact_bucket_is_kms_encrypted_private_versioned_and_tls_only(pulumi_mocks):
    deploy(pulumi_mocks)
    key = pulumi_mocks.one(KEY).outputs["arn"]
    rule = pulumi_mocks.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    ).inputs["rules"][0]
    assert rule == {
        "applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key},
        "bucketKeyEnabled": True,
    }
    block = pulumi_mocks.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(
        block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    versioning = pulumi_mocks.one("aws:s3/bucketVersioning:BucketVersioning").inputs
    assert versioning["versioningConfiguration"] == {"status": "Enabled"}
    policy = json.loads(pulumi_mocks.one("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    deny = policy["Statement"][0]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_log_group_is_encrypted_with_profile_retention(pulumi_mocks):
    deploy(pulumi_mocks, DEV)
    group = pulumi_mocks.one("aws:cloudwatch/logGroup:LogGroup", "base-logs").inputs
    assert group["kmsKeyId"] == pulumi_mocks.one(KEY).outputs["arn"]
    assert group["retentionInDays"] == 14


def test_bring_your_own_everything(pulumi_mocks):
    deploy(
        pulumi_mocks,
        vpc_id="vpc-0123456789abcdef0",
        private_subnet_ids=["subnet-0123456789abcdef0", "subnet-0123456789abcdef1", "subnet-0123456789abcdef2"],
        kms_key_arn=BYO_KEY,
        repository_arn="arn:aws:ecr:us-east-1:123456789012:repository/ml/churn",
        artifact_bucket="ml-models",
        log_group_name="/ml/churn",
    )
    created = {r.type for r in pulumi_mocks.resources if r.custom}
    assert created == set(), f"nothing should be created, got {created}"


def test_provider_managed_encryption_creates_no_key_and_uses_aes256(pulumi_mocks):
    deploy(pulumi_mocks, encryption="provider-managed", create_repository=False, vpc_endpoints=False, flow_logs=False)
    assert pulumi_mocks.by_type(KEY) == []
    assert pulumi_mocks.by_type("aws:ecr/repository:Repository") == []
    assert pulumi_mocks.by_type("aws:ec2/vpcEndpoint:VpcEndpoint") == []
    rule = pulumi_mocks.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    ).inputs["rules"][0]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    assert "kmsKeyId" not in pulumi_mocks.one("aws:cloudwatch/logGroup:LogGroup").inputs


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"private_subnet_ids": ["subnet-0123456789abcdef0"]}, "vpc_id"),
        ({"vpc_id": "vpc-0123456789abcdef0", "private_subnet_ids": ["subnet-0123456789abcdef0"]}, "private_subnet_ids"),
        ({"vpc_cidr": "8.8.0.0/16"}, "vpc_cidr"),
        ({"zones": 4}, "zones"),
        ({"kms_key_arn": BYO_KEY, "encryption": "provider-managed"}, "encryption"),
        ({"kms_key_arn": "alias/churn"}, "kms_key_arn"),
        ({"log_retention_days": 10}, "log_retention_days"),
    ],
)
def test_bad_foundation_options_name_the_option(options, key):
    with pytest.raises(SpecError) as error:
        FoundationArgs(service=make_service(), profile=PROD, **options)
    assert error.value.path == key


def test_autoscaling_service_linked_role_can_be_created_before_the_key(pulumi_mocks):
    deploy(pulumi_mocks, autoscaling_key_grant=True, create_autoscaling_role=True)
    role = pulumi_mocks.one("aws:iam/serviceLinkedRole:ServiceLinkedRole")
    assert role.inputs["awsServiceName"] == "autoscaling.amazonaws.com"
    assert role.urn in pulumi_mocks.one(KEY).dependencies


def test_one_foundation_can_be_shared_by_patterns_of_a_region(pulumi_mocks):
    from modelport.aws.container import EcsService, EcsServiceArgs
    from modelport.aws.vm import Ec2Service, Ec2ServiceArgs

    def program():
        service = make_service()
        shared = Foundation("shared", FoundationArgs(service=service, profile=PROD, autoscaling_key_grant=True))
        EcsService("churn-ecs", EcsServiceArgs(service=service, profile=PROD, foundation=shared))
        Ec2Service("churn-vm", Ec2ServiceArgs(service=service, profile=PROD, foundation=shared))

    register(program)
    assert len(pulumi_mocks.by_type("aws:ec2/vpc:Vpc")) == 1
    assert len(pulumi_mocks.by_type(KEY)) == 1
    key = pulumi_mocks.one(KEY).outputs["arn"]
    ebs = pulumi_mocks.one("aws:ec2/launchTemplate:LaunchTemplate").inputs["blockDeviceMappings"][0]["ebs"]
    assert ebs["kmsKeyId"] == key
    subnets = pulumi_mocks.one("aws:ecs/service:Service").inputs["networkConfiguration"]["subnets"]
    assert subnets == pulumi_mocks.one("aws:autoscaling/group:Group").inputs["vpcZoneIdentifiers"]


def test_a_shared_foundation_must_suit_the_pattern(pulumi_mocks):
    from modelport.aws.vm import Ec2Service, Ec2ServiceArgs

    def program():
        service = make_service()
        shared = Foundation("shared", FoundationArgs(service=service, profile=PROD))
        Ec2Service("churn-vm", Ec2ServiceArgs(service=service, profile=PROD, foundation=shared))

    with pytest.raises(SpecError) as error:
        register(program)
    assert error.value.path == "foundation" and "autoscaling_key_grant=True" in error.value.reason
