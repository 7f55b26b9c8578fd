"""Fixtures for the AWS rules: the real Ec2/Ecs/Lambda components as compliant cases, raw pulumi-aws resources."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws
from conftest import make_service
from modelport.aws import (
    Ec2Service,
    Ec2ServiceArgs,
    EcsService,
    EcsServiceArgs,
    LambdaService,
    LambdaServiceArgs,
)
from modelport.profiles import PROFILES
from policy_cases import DELETE, DIGEST, Case, b64, bad, cloud_init, good, patched

ACCOUNT = "123456789012"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/model"
ACM_ARN = f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
ECR_IMAGE = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/churn@{DIGEST}"
ECR_TAGGED = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/churn:latest"
SUBNETS = ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002", "subnet-0a1b2c3d4e5f60003"]
TG_ARN = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:targetgroup/model/0123456789abcdef"
LB_ARN = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:loadbalancer/app/model/0123456789abcdef"
BUCKET_ARN = "arn:aws:s3:::model-artifacts"
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09"


def aws_components(prefix: str) -> None:
    """The three AWS patterns built so far, prod profile, private exposure with a certificate."""
    service = make_service(
        image=ECR_IMAGE,
        scaling={"min_replicas": 3, "max_replicas": 12},
        exposure={"certificate": ACM_ARN, "allowed_networks": ["10.20.0.0/16"]},
    )
    lambda_service = make_service(
        image=ECR_IMAGE,
        scaling={"min_replicas": 3, "max_replicas": 12},
        exposure={"allowed_principals": [f"arn:aws:iam::{ACCOUNT}:role/caller"]},
    )
    prod = PROFILES["prod"]
    Ec2Service(f"{prefix}-vm", Ec2ServiceArgs(service=service, profile=prod))
    EcsService(f"{prefix}-ecs", EcsServiceArgs(service=service, profile=prod))
    LambdaService(f"{prefix}-fn", LambdaServiceArgs(service=lambda_service, profile=prod))


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(actions: Any, resources: Any = BUCKET_ARN, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resources, **extra}


ROOT_KEY_POLICY = document(allow("kms:*", "*", Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, Sid="Root"))
ASG_KEY_POLICY = document(
    allow("kms:*", "*", Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"}),
    allow(
        ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey", "kms:CreateGrant"],
        "*",
        Principal={
            "AWS": f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/autoscaling.amazonaws.com/"
            "AWSServiceRoleForAutoScaling"
        },
    ),
)
EC2_TRUST = document({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"})


def key(n: str, **kw: Any) -> aws.kms.Key:
    return aws.kms.Key(n, **{"enable_key_rotation": True, "policy": ROOT_KEY_POLICY, **kw})


def launch_template(n: str, **kw: Any) -> aws.ec2.LaunchTemplate:
    args = {
        "image_id": "ami-0123456789abcdef0",
        "metadata_options": {"http_tokens": "required", "http_put_response_hop_limit": 1, "http_endpoint": "enabled"},
        "block_device_mappings": [
            {"device_name": "/dev/xvda", "ebs": {"encrypted": "true", "kms_key_id": KEY_ARN, "volume_type": "gp3"}}
        ],
        "network_interfaces": [{"associate_public_ip_address": "false", "security_groups": ["sg-0123456789abcdef0"]}],
        "user_data": b64(cloud_init(ECR_IMAGE)),
    }
    return aws.ec2.LaunchTemplate(n, **{**args, **kw})


def instance(n: str, **kw: Any) -> aws.ec2.Instance:
    args = {
        "ami": "ami-0123456789abcdef0",
        "instance_type": "m7i.large",
        "subnet_id": SUBNETS[0],
        "metadata_options": {"http_tokens": "required", "http_put_response_hop_limit": 1},
        "associate_public_ip_address": False,
        "root_block_device": {"encrypted": True, "kms_key_id": KEY_ARN},
        "user_data": cloud_init(ECR_IMAGE),
    }
    return aws.ec2.Instance(n, **{**args, **kw})


def asg(n: str, **kw: Any) -> aws.autoscaling.Group:
    args = {
        "min_size": 3,
        "max_size": 12,
        "vpc_zone_identifiers": SUBNETS,
        "health_check_type": "ELB",
        "target_group_arns": [TG_ARN],
        "launch_template": {"id": "lt-0123456789abcdef0", "version": "$Latest"},
    }
    return aws.autoscaling.Group(n, **{**args, **kw})


def repository(n: str, **kw: Any) -> aws.ecr.Repository:
    args = {
        "image_tag_mutability": "IMMUTABLE",
        "image_scanning_configuration": {"scan_on_push": True},
        "encryption_configurations": [{"encryption_type": "KMS", "kms_key": KEY_ARN}],
    }
    return aws.ecr.Repository(n, **{**args, **kw})


def log_group(n: str, **kw: Any) -> aws.cloudwatch.LogGroup:
    return aws.cloudwatch.LogGroup(n, **{"retention_in_days": 365, "kms_key_id": KEY_ARN, **kw})


def function(n: str, **kw: Any) -> aws.lambda_.Function:
    args = {
        "role": ROLE_ARN,
        "package_type": "Image",
        "image_uri": ECR_IMAGE,
        "kms_key_arn": KEY_ARN,
        "environment": {"variables": {"LOG_LEVEL": "info"}},
        "reserved_concurrent_executions": 50,
    }
    return aws.lambda_.Function(n, **{**args, **kw})


def container_definition(**patch: Any) -> dict[str, Any]:
    base = {
        "name": "model",
        "image": ECR_IMAGE,
        "essential": True,
        "user": "10001",
        "readonlyRootFilesystem": True,
        "portMappings": [{"containerPort": 8080}],
        "linuxParameters": {"capabilities": {"drop": ["ALL"]}, "initProcessEnabled": True},
        "environment": [{"name": "LOG_LEVEL", "value": "info"}],
        "secrets": [{"name": "DB_PASSWORD", "valueFrom": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:db"}],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {"awslogs-group": "/model", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "model"},
        },
    }
    return patched(base, patch)


def task_definition(n: str, **patch: Any) -> aws.ecs.TaskDefinition:
    return aws.ecs.TaskDefinition(
        n,
        family=n,
        requires_compatibilities=["FARGATE"],
        network_mode="awsvpc",
        cpu="1024",
        memory="2048",
        execution_role_arn=ROLE_ARN,
        container_definitions=json.dumps([container_definition(**patch)]),
    )


def ecs_service(n: str, **kw: Any) -> aws.ecs.Service:
    args = {
        "cluster": f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/model",
        "task_definition": "model:1",
        "desired_count": 3,
        "launch_type": "FARGATE",
        "network_configuration": {"subnets": SUBNETS, "assign_public_ip": False, "security_groups": ["sg-1"]},
        "deployment_circuit_breaker": {"enable": True, "rollback": True},
    }
    return aws.ecs.Service(n, **{**args, **kw})


def sagemaker_model(n: str, **kw: Any) -> aws.sagemaker.Model:
    args = {
        "execution_role_arn": ROLE_ARN,
        "enable_network_isolation": True,
        "vpc_config": {"security_group_ids": ["sg-0123456789abcdef0"], "subnets": SUBNETS},
        "primary_container": {"image": ECR_IMAGE, "environment": {"LOG_LEVEL": "info"}},
    }
    return aws.sagemaker.Model(n, **{**args, **kw})


def endpoint_config(n: str, **kw: Any) -> aws.sagemaker.EndpointConfiguration:
    args = {
        "kms_key_arn": KEY_ARN,
        "production_variants": [
            {
                "variant_name": "stable",
                "model_name": "model",
                "initial_instance_count": 3,
                "instance_type": "ml.m5.xlarge",
            }
        ],
        "data_capture_config": {
            "enable_capture": True,
            "initial_sampling_percentage": 20,
            "destination_s3_uri": "s3://model-artifacts/capture",
            "kms_key_id": KEY_ARN,
            "capture_options": [{"capture_mode": "Input"}, {"capture_mode": "Output"}],
        },
    }
    return aws.sagemaker.EndpointConfiguration(n, **{**args, **kw})


def endpoint(n: str, **kw: Any) -> aws.sagemaker.Endpoint:
    args = {
        "endpoint_config_name": "model-config",
        "deployment_config": {
            "blue_green_update_policy": {
                "traffic_routing_configuration": {"type": "ALL_AT_ONCE", "wait_interval_in_seconds": 300}
            },
            "auto_rollback_configuration": {"alarms": [{"alarm_name": "model-5xx"}]},
        },
    }
    return aws.sagemaker.Endpoint(n, **{**args, **kw})


ALL_LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]


def eks_cluster(n: str, **kw: Any) -> aws.eks.Cluster:
    args = {
        "role_arn": ROLE_ARN,
        "vpc_config": {"subnet_ids": SUBNETS, "endpoint_private_access": True, "endpoint_public_access": False},
        "encryption_config": {"provider": {"key_arn": KEY_ARN}, "resources": ["secrets"]},
        "enabled_cluster_log_types": ALL_LOG_TYPES,
    }
    return aws.eks.Cluster(n, **{**args, **kw})


def node_group(n: str, **kw: Any) -> aws.eks.NodeGroup:
    args = {
        "cluster_name": "model",
        "node_role_arn": ROLE_ARN,
        "subnet_ids": SUBNETS,
        "scaling_config": {"min_size": 3, "max_size": 6, "desired_size": 3},
    }
    return aws.eks.NodeGroup(n, **{**args, **kw})


def load_balancer(n: str, **kw: Any) -> aws.lb.LoadBalancer:
    args = {
        "internal": True,
        "load_balancer_type": "application",
        "drop_invalid_header_fields": True,
        "enable_deletion_protection": True,
        "subnets": SUBNETS,
        "access_logs": {"bucket": "model-lb-logs", "enabled": True},
    }
    return aws.lb.LoadBalancer(n, **{**args, **kw})


def listener(n: str, **kw: Any) -> aws.lb.Listener:
    args = {
        "load_balancer_arn": LB_ARN,
        "port": 443,
        "protocol": "HTTPS",
        "ssl_policy": TLS_POLICY,
        "certificate_arn": ACM_ARN,
        "default_actions": [{"type": "forward", "target_group_arn": TG_ARN}],
    }
    return aws.lb.Listener(n, **{**args, **kw})


def http_redirect(n: str) -> aws.lb.Listener:
    return aws.lb.Listener(
        n,
        load_balancer_arn=LB_ARN,
        port=80,
        protocol="HTTP",
        default_actions=[
            {"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443", "status_code": "HTTP_301"}}
        ],
    )


def managed_group(name: str, priority: int) -> dict[str, Any]:
    return {
        "name": name,
        "priority": priority,
        "override_action": {"none": {}},
        "statement": {"managed_rule_group_statement": {"name": name, "vendor_name": "AWS"}},
        "visibility_config": {
            "cloudwatch_metrics_enabled": True,
            "metric_name": name,
            "sampled_requests_enabled": True,
        },
    }


def web_acl(
    n: str, groups: tuple[str, ...] = ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet")
) -> aws.wafv2.WebAcl:
    return aws.wafv2.WebAcl(
        n,
        scope="REGIONAL",
        default_action={"allow": {}},
        rules=[managed_group(g, i) for i, g in enumerate(groups)],
        visibility_config={"cloudwatch_metrics_enabled": True, "metric_name": n, "sampled_requests_enabled": True},
    )


def role(n: str, trust: str = EC2_TRUST, **kw: Any) -> aws.iam.Role:
    return aws.iam.Role(n, assume_role_policy=trust, **kw)


def role_policy(n: str, *statements: dict[str, Any]) -> aws.iam.RolePolicy:
    return aws.iam.RolePolicy(n, role="model", policy=document(*statements))


def security_group_rule(n: str, cidr: str, port: int) -> aws.vpc.SecurityGroupIngressRule:
    return aws.vpc.SecurityGroupIngressRule(
        n, security_group_id="sg-0123456789abcdef0", cidr_ipv4=cidr, ip_protocol="tcp", from_port=port, to_port=port
    )


def metric_alarm(n: str, **kw: Any) -> aws.cloudwatch.MetricAlarm:
    args = {
        "comparison_operator": "GreaterThanThreshold",
        "evaluation_periods": 5,
        "metric_name": "TargetResponseTime",
        "namespace": "AWS/ApplicationELB",
        "extended_statistic": "p99",
        "period": 60,
        "threshold": 2,
        "alarm_actions": [f"arn:aws:sns:us-east-1:{ACCOUNT}:on-call"],
    }
    return aws.cloudwatch.MetricAlarm(n, **{**args, **kw})


def split_ingress(n: str, prefix: int, port: int = 22, count: int | None = None) -> None:
    """One security group whose ingress rules each admit a slice of the IPv4 internet."""
    import ipaddress

    group = aws.ec2.SecurityGroup(n, vpc_id="vpc-0123456789abcdef0", description="split")
    slices = list(ipaddress.ip_network("0.0.0.0/0").subnets(new_prefix=prefix))[: count or None]
    for index, cidr in enumerate(slices):
        aws.vpc.SecurityGroupIngressRule(
            f"{n}-in-{index}",
            security_group_id=group.id,
            cidr_ipv4=str(cidr),
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
        )


def app_target(n: str, namespace: str = "ecs", **kw: Any) -> aws.appautoscaling.Target:
    args = {
        "service_namespace": namespace,
        "resource_id": "service/model/model",
        "scalable_dimension": "ecs:service:DesiredCount",
        "min_capacity": 3,
        "max_capacity": 12,
    }
    return aws.appautoscaling.Target(n, **{**args, **kw})


def target_tracking(n: str, target: aws.appautoscaling.Target, metric: str) -> aws.appautoscaling.Policy:
    return aws.appautoscaling.Policy(
        n,
        policy_type="TargetTrackingScaling",
        resource_id=target.resource_id,
        scalable_dimension=target.scalable_dimension,
        service_namespace=target.service_namespace,
        target_tracking_scaling_policy_configuration={
            "target_value": 60,
            "predefined_metric_specification": {"predefined_metric_type": metric},
        },
    )


def scaled_ecs(n: str, with_policy: bool = True) -> None:
    svc = ecs_service(n)
    target = app_target(f"{n}-target", resource_id=svc.name.apply(lambda s: f"service/model/{s}"))
    if with_policy:
        target_tracking(f"{n}-policy", target, "ECSServiceAverageCPUUtilization")


def scaled_endpoint(n: str, scaled: bool = True) -> None:
    ep = endpoint(n)
    if scaled:
        target = app_target(
            f"{n}-target",
            "sagemaker",
            resource_id=ep.name.apply(lambda e: f"endpoint/{e}/variant/stable"),
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
        )
        target_tracking(f"{n}-policy", target, "SageMakerVariantInvocationsPerInstance")


def provisioned(n: str, scaled: bool = True) -> None:
    aws.lambda_.ProvisionedConcurrencyConfig(n, function_name=n, qualifier="live", provisioned_concurrent_executions=5)
    if scaled:
        target = app_target(
            f"{n}-target",
            "lambda",
            resource_id=f"function:{n}:live",
            scalable_dimension="lambda:function:ProvisionedConcurrency",
            min_capacity=5,
        )
        target_tracking(f"{n}-policy", target, "LambdaProvisionedConcurrencyUtilization")


def scaled_asg(n: str, scaled: bool = True) -> None:
    group = asg(n)
    if scaled:
        aws.autoscaling.Policy(
            f"{n}-policy",
            autoscaling_group_name=group.name,
            policy_type="TargetTrackingScaling",
            target_tracking_configuration={
                "target_value": 60,
                "predefined_metric_specification": {"predefined_metric_type": "ASGAverageCPUUtilization"},
            },
        )


def public_alb(n: str, protected: bool = True) -> None:
    balancer = load_balancer(n, internal=False)
    if protected:
        acl = web_acl(f"{n}-acl")
        aws.wafv2.WebAclAssociation(f"{n}-waf", resource_arn=balancer.arn, web_acl_arn=acl.arn)


def public_listener(n: str, authenticated: bool) -> None:
    balancer = load_balancer(n, internal=False)
    forward = {
        "type": "forward",
        "target_group_arn": f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:targetgroup/tg/1",
    }
    actions = [forward]
    if authenticated:
        cognito = {
            "user_pool_arn": f"arn:aws:cognito-idp:us-east-1:{ACCOUNT}:userpool/us-east-1_Example1",
            "user_pool_client_id": "client",
            "user_pool_domain": "auth-example",
        }
        actions = [
            {"type": "authenticate-cognito", "order": 1, "authenticate_cognito": cognito},
            {**forward, "order": 2},
        ]
    aws.lb.Listener(
        f"{n}-https",
        load_balancer_arn=balancer.arn,
        port=443,
        protocol="HTTPS",
        ssl_policy="ELBSecurityPolicy-TLS13-1-2-2021-06",
        certificate_arn=f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/12345678-1234-4234-8234-123456789012",
        default_actions=actions,
    )


def bucket(
    n: str, *, sse: str | None = "aws:kms", block: bool = True, tls_policy: bool = True, log_bucket_for: bool = False
) -> None:
    b = aws.s3.Bucket(n)
    if sse:
        default = {"sse_algorithm": sse, **({"kms_master_key_id": KEY_ARN} if sse == "aws:kms" else {})}
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{n}-sse",
            bucket=b.id,
            rules=[{"apply_server_side_encryption_by_default": default, "bucket_key_enabled": True}],
        )
    aws.s3.BucketPublicAccessBlock(
        f"{n}-pab",
        bucket=b.id,
        block_public_acls=True,
        block_public_policy=block,
        ignore_public_acls=True,
        restrict_public_buckets=True,
    )
    statements = [allow("s3:GetObject", b.arn.apply(lambda a: f"{a}/*"), Principal={"AWS": ROLE_ARN})]
    if tls_policy:
        statements.append(
            {
                "Sid": "TlsOnly",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": b.arn.apply(lambda a: [a, f"{a}/*"]),
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        )
    aws.s3.BucketPolicy(
        f"{n}-policy", bucket=b.id, policy=pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": statements})
    )
    if log_bucket_for:
        load_balancer(f"{n}-lb", access_logs={"bucket": b.bucket, "enabled": True})


def vpc(n: str, flow_log: bool = True) -> None:
    network = aws.ec2.Vpc(n, cidr_block="10.0.0.0/16")
    if flow_log:
        aws.ec2.FlowLog(
            f"{n}-flow",
            vpc_id=network.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/vpc",
            iam_role_arn=ROLE_ARN,
        )


def nat_vpc(n: str, nat_zones: int) -> None:
    network = aws.ec2.Vpc(n, cidr_block="10.0.0.0/16")
    for index, zone in enumerate(("us-east-1a", "us-east-1b", "us-east-1c")):
        public = aws.ec2.Subnet(
            f"{n}-public-{index}", vpc_id=network.id, cidr_block=f"10.0.{index}.0/24", availability_zone=zone
        )
        aws.ec2.Subnet(
            f"{n}-private-{index}", vpc_id=network.id, cidr_block=f"10.0.{10 + index}.0/24", availability_zone=zone
        )
        if index < nat_zones:
            address = aws.ec2.Eip(f"{n}-eip-{index}", domain="vpc")
            aws.ec2.NatGateway(f"{n}-nat-{index}", subnet_id=public.id, allocation_id=address.id)


def encrypted_fleet(n: str, key_policy: str) -> None:
    cmk = key(f"{n}-key", policy=key_policy)
    template = launch_template(
        f"{n}-lt",
        block_device_mappings=[
            {"device_name": "/dev/xvda", "ebs": {"encrypted": "true", "kms_key_id": cmk.arn, "volume_type": "gp3"}}
        ],
    )
    asg(f"{n}-asg", launch_template={"id": template.id, "version": "$Latest"})


OIDC = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE"
IRSA_TRUST = {"Effect": "Allow", "Principal": {"Federated": OIDC}, "Action": "sts:AssumeRoleWithWebIdentity"}

CASES: list[Case] = [
    # The real AWS components are the compliant fixture of every rule whose resources they create.
    *[
        good(rule, aws_components, "Ec2Service + EcsService + LambdaService (prod)")
        for rule in (
            "aws-kms-key-rotation",
            "aws-ebs-cmk-encryption",
            "aws-ecr-cmk-encryption",
            "aws-log-group-cmk",
            "aws-lambda-env-cmk",
            "aws-lb-listener-tls-policy",
            "aws-lb-listener-https-only",
            "aws-alb-drop-invalid-headers",
            "aws-imdsv2-required",
            "aws-imds-hop-limit",
            "aws-no-public-ip",
            "aws-user-data-no-secrets",
            "aws-lambda-env-no-secrets",
            "serving-grpc-closed-where-not-carried",
            "aws-ecs-env-no-secrets",
            "aws-ecs-read-only-root",
            "aws-ecs-non-root",
            "aws-ecs-no-privileged",
            "aws-ecs-logging",
            "aws-iam-no-wildcard-actions",
            "aws-iam-no-wildcard-resources",
            "aws-iam-trust-scoped",
            "aws-resource-policy-not-public",
            "aws-iam-no-admin-policies",
            "aws-lambda-url-auth",
            "aws-lambda-permission-scoped",
            "aws-security-group-no-open-ingress",
            "aws-asg-multi-az",
            "aws-asg-elb-health-check",
            "aws-min-capacity-prod",
            "aws-ecs-multi-az",
            "aws-ecs-circuit-breaker",
            "aws-lb-deletion-protection-prod",
            "aws-lambda-reserved-concurrency",
            "aws-log-retention",
            "aws-log-retention-prod",
            "aws-lb-access-logs",
            "aws-ecs-container-insights",
            "aws-ecr-immutable-tags",
            "aws-ecr-scan-on-push",
            "aws-ecs-image-digest",
            "aws-lambda-image-digest",
            "aws-vm-image-digest",
            "autoscaler-aws-ecs",
            "autoscaler-aws-asg",
            "autoscaler-aws-lambda",
            "aws-s3-bucket-cmk-encryption",
            "aws-s3-public-access-block",
            "aws-s3-tls-only",
            "aws-vpc-flow-logs",
            "aws-kms-key-grants-autoscaling",
        )
    ],
    # encryption
    bad("aws-kms-key-rotation", lambda n: key(n, enable_key_rotation=False), "rotation off"),
    bad(
        "aws-ebs-cmk-encryption",
        lambda n: launch_template(
            n, block_device_mappings=[{"device_name": "/dev/xvda", "ebs": {"encrypted": "false", "volume_type": "gp3"}}]
        ),
        "unencrypted",
    ),
    bad(
        "aws-ebs-cmk-encryption",
        lambda n: launch_template(
            n, block_device_mappings=[{"device_name": "/dev/xvda", "ebs": {"encrypted": "true"}}]
        ),
        "AWS-managed key",
    ),
    bad("aws-ebs-cmk-encryption", lambda n: instance(n, root_block_device={"encrypted": False}), "instance root"),
    good("aws-ebs-cmk-encryption", instance, "instance with CMK"),
    bad("aws-ebs-volume-cmk", lambda n: aws.ebs.Volume(n, availability_zone="us-east-1a", size=100), "plain"),
    good(
        "aws-ebs-volume-cmk",
        lambda n: aws.ebs.Volume(n, availability_zone="us-east-1a", size=100, encrypted=True, kms_key_id=KEY_ARN),
        "CMK",
    ),
    bad(
        "aws-ecr-cmk-encryption",
        lambda n: repository(n, encryption_configurations=[{"encryption_type": "AES256"}]),
        "AES256",
    ),
    bad("aws-log-group-cmk", lambda n: log_group(n, kms_key_id=None), "no key"),
    bad("aws-sagemaker-endpoint-cmk", lambda n: endpoint_config(n, kms_key_arn=None), "no key"),
    good("aws-sagemaker-endpoint-cmk", endpoint_config, "CMK"),
    bad("aws-lambda-env-cmk", lambda n: function(n, kms_key_arn=None), "env without CMK"),
    bad("aws-eks-secrets-encryption", lambda n: eks_cluster(n, encryption_config=None), "no envelope encryption"),
    good("aws-eks-secrets-encryption", eks_cluster, "KMS secrets"),
    bad("aws-sns-topic-cmk", lambda n: aws.sns.Topic(n), "no key"),
    bad("aws-sns-topic-cmk", lambda n: aws.sns.Topic(n, kms_master_key_id="alias/aws/sns"), "AWS-managed"),
    good("aws-sns-topic-cmk", lambda n: aws.sns.Topic(n, kms_master_key_id=KEY_ARN), "CMK"),
    bad("aws-secret-cmk", lambda n: aws.secretsmanager.Secret(n), "AWS-managed"),
    good("aws-secret-cmk", lambda n: aws.secretsmanager.Secret(n, kms_key_id=KEY_ARN), "CMK"),
    # TLS
    bad("aws-lb-listener-tls-policy", lambda n: listener(n, ssl_policy=None), "default TLS 1.0 policy"),
    bad(
        "aws-lb-listener-tls-policy",
        lambda n: listener(n, ssl_policy="ELBSecurityPolicy-TLS-1-2-2017-01"),
        "TLS 1.2 without 1.3",
    ),
    bad(
        "aws-lb-listener-tls-policy",
        lambda n: listener(n, ssl_policy="ELBSecurityPolicy-TLS13-1-1-2021-06"),
        "TLS13-1-1",
    ),
    good(
        "aws-lb-listener-tls-policy",
        lambda n: listener(n, ssl_policy="ELBSecurityPolicy-TLS13-1-2-2021-06"),
        "TLS13-1-2-2021-06",
    ),
    good(
        "aws-lb-listener-tls-policy",
        lambda n: listener(n, ssl_policy="ELBSecurityPolicy-TLS13-1-2-PQ-2025-09"),
        "post-quantum TLS13-1-2-PQ",
    ),
    good(
        "aws-lb-listener-tls-policy",
        lambda n: listener(n, protocol="TLS", ssl_policy="ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04"),
        "TLS 1.3 only FIPS on NLB",
    ),
    bad(
        "aws-lb-listener-https-only",
        lambda n: listener(n, port=80, protocol="HTTP", ssl_policy=None, certificate_arn=None),
        "HTTP forward",
    ),
    good("aws-lb-listener-https-only", http_redirect, "HTTP redirect"),
    bad("aws-alb-drop-invalid-headers", lambda n: load_balancer(n, drop_invalid_header_fields=False), "keeps headers"),
    # compute hardening
    bad("aws-imdsv2-required", lambda n: launch_template(n, metadata_options={"http_tokens": "optional"}), "optional"),
    bad("aws-imdsv2-required", lambda n: launch_template(n, metadata_options=None), "unset"),
    bad("aws-imdsv2-required", lambda n: instance(n, metadata_options={"http_tokens": "optional"}), "instance"),
    good("aws-imdsv2-required", lambda n: instance(n, metadata_options={"http_endpoint": "disabled"}), "IMDS off"),
    bad(
        "aws-imds-hop-limit",
        lambda n: launch_template(n, metadata_options={"http_tokens": "required", "http_put_response_hop_limit": 2}),
        "hop limit 2",
    ),
    bad(
        "aws-no-public-ip",
        lambda n: launch_template(n, network_interfaces=[{"associate_public_ip_address": "true"}]),
        "launch template",
    ),
    bad("aws-no-public-ip", lambda n: instance(n, associate_public_ip_address=True), "instance"),
    bad(
        "aws-no-public-ip",
        lambda n: ecs_service(n, network_configuration={"subnets": SUBNETS, "assign_public_ip": True}),
        "ECS",
    ),
    bad(
        "aws-user-data-no-secrets",
        lambda n: launch_template(
            n, user_data=b64(cloud_init(extra="runcmd:\n  - export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n"))
        ),
        "access key",
    ),
    bad(
        "aws-user-data-no-secrets",
        lambda n: instance(
            n, user_data=cloud_init(extra="runcmd:\n  - echo 'db_password=s3cr3tP4ssw0rd' > /etc/model.env\n")
        ),
        "password",
    ),
    bad(
        "aws-lambda-env-no-secrets",
        lambda n: function(n, environment={"variables": {"API_KEY": "abcd1234efgh5678"}}),
        "API_KEY",
    ),
    bad(
        "aws-lambda-env-no-secrets",
        lambda n: function(
            n,
            environment={
                "variables": {
                    "PRIVATE": "-----BEGIN RSA PRIVATE KEY-----\n"
                    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0"
                }
            },
        ),
        "private key value",
    ),
    bad(
        "aws-ecs-env-no-secrets",
        lambda n: task_definition(n, environment=[{"name": "DB_PASSWORD", "value": "hunter2hunter2"}]),
        "literal",
    ),
    bad("aws-ecs-read-only-root", lambda n: task_definition(n, readonlyRootFilesystem=False), "writable"),
    bad("aws-ecs-non-root", lambda n: task_definition(n, user=DELETE), "image default"),
    bad("aws-ecs-non-root", lambda n: task_definition(n, user="0:0"), "uid 0"),
    bad("aws-ecs-no-privileged", lambda n: task_definition(n, privileged=True), "privileged"),
    bad("aws-ecs-no-privileged", lambda n: task_definition(n, linuxParameters={"capabilities": DELETE}), "keeps caps"),
    bad("aws-ecs-logging", lambda n: task_definition(n, logConfiguration=DELETE), "no logs"),
    bad("aws-sagemaker-network-isolation", lambda n: sagemaker_model(n, enable_network_isolation=False), "isolation"),
    bad("aws-sagemaker-network-isolation", lambda n: sagemaker_model(n, vpc_config=None), "no VPC"),
    good("aws-sagemaker-network-isolation", sagemaker_model, "isolated in VPC"),
    bad(
        "aws-sagemaker-env-no-secrets",
        lambda n: sagemaker_model(
            n, primary_container={"image": ECR_IMAGE, "environment": {"HF_TOKEN": "hf_abcdefghijklmnop"}}
        ),
        "token",
    ),
    good("aws-sagemaker-env-no-secrets", sagemaker_model, "plain settings"),
    # least privilege
    bad("aws-iam-no-wildcard-actions", lambda n: role_policy(n, allow("s3:*")), "s3:*"),
    bad("aws-iam-no-wildcard-actions", lambda n: aws.iam.Policy(n, policy=document(allow("*", "*"))), "admin"),
    bad(
        "aws-iam-no-wildcard-actions",
        lambda n: role(
            n,
            inline_policies=[
                {"name": "all", "policy": document({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})}
            ],
        ),
        "NotAction",
    ),
    bad(
        "aws-iam-no-wildcard-resources",
        lambda n: role_policy(n, allow(["s3:GetObject", "s3:PutObject"], "*")),
        "objects everywhere",
    ),
    bad("aws-iam-no-wildcard-resources", lambda n: role_policy(n, allow("sts:AssumeRole", "*")), "assume any role"),
    good(
        "aws-iam-no-wildcard-resources",
        lambda n: role_policy(
            n,
            allow(["ecr:GetAuthorizationToken", "cloudwatch:PutMetricData", "ec2:DescribeSubnets"], "*"),
            allow("kms:Decrypt", "*", Condition={"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}),
        ),
        "unscopable and conditioned",
    ),
    bad(
        "aws-iam-trust-scoped",
        lambda n: role(n, document({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"})),
        "anyone",
    ),
    bad(
        "aws-iam-trust-scoped",
        lambda n: role(n, document({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"})),
        "any AWS",
    ),
    bad("aws-iam-trust-scoped", lambda n: role(n, document(IRSA_TRUST)), "IRSA without sub"),
    good(
        "aws-iam-trust-scoped",
        lambda n: role(
            n,
            document(
                {
                    **IRSA_TRUST,
                    "Condition": {
                        "StringEquals": {
                            "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE:sub": "system:serviceaccount:churn:churn",
                            "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE:aud": "sts.amazonaws.com",
                        }
                    },
                }
            ),
        ),
        "IRSA bound to subject",
    ),
    bad(
        "aws-resource-policy-not-public",
        lambda n: aws.s3.BucketPolicy(
            n, bucket="model-artifacts", policy=document(allow("s3:GetObject", f"{BUCKET_ARN}/*", Principal="*"))
        ),
        "public bucket",
    ),
    bad(
        "aws-resource-policy-not-public",
        lambda n: aws.ecr.RepositoryPolicy(
            n,
            repository="churn",
            policy=document(allow(["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"], Principal={"AWS": "*"})),
        ),
        "public registry",
    ),
    bad(
        "aws-resource-policy-not-public",
        lambda n: key(n, policy=document(allow("kms:Decrypt", "*", Principal="*"))),
        "public key",
    ),
    good(
        "aws-resource-policy-not-public",
        lambda n: aws.ecr.RepositoryPolicy(
            n,
            repository="churn",
            policy=document(
                allow(
                    ["ecr:BatchGetImage"],
                    Principal={"AWS": "*"},
                    Condition={"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}},
                )
            ),
        ),
        "org-scoped",
    ),
    good(
        "aws-resource-policy-not-public",
        lambda n: aws.kms.KeyPolicy(n, key_id="key", policy=ASG_KEY_POLICY),
        "key policy for ASG",
    ),
    bad(
        "aws-iam-no-admin-policies",
        lambda n: aws.iam.RolePolicyAttachment(
            n, role="model", policy_arn="arn:aws:iam::aws:policy/AdministratorAccess"
        ),
        "AdministratorAccess",
    ),
    bad(
        "aws-iam-no-admin-policies",
        lambda n: role(n, managed_policy_arns=["arn:aws:iam::aws:policy/IAMFullAccess"]),
        "IAMFullAccess",
    ),
    good(
        "aws-iam-no-admin-policies",
        lambda n: aws.iam.RolePolicyAttachment(
            n, role="model", policy_arn="arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
        ),
        "task execution",
    ),
    bad(
        "aws-lambda-url-auth",
        lambda n: aws.lambda_.FunctionUrl(n, function_name="model", authorization_type="NONE"),
        "NONE",
    ),
    bad(
        "aws-lambda-permission-scoped",
        lambda n: aws.lambda_.Permission(
            n, action="lambda:InvokeFunctionUrl", function="model", principal="*", function_url_auth_type="NONE"
        ),
        "public URL",
    ),
    bad("aws-security-group-no-open-ingress", lambda n: security_group_rule(n, "0.0.0.0/0", 22), "SSH"),
    bad(
        "aws-security-group-no-open-ingress",
        lambda n: aws.ec2.SecurityGroup(
            n, ingress=[{"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"]}]
        ),
        "all ports",
    ),
    bad(
        "aws-security-group-no-open-ingress",
        lambda n: aws.ec2.SecurityGroupRule(
            n,
            type="ingress",
            security_group_id="sg-1",
            protocol="tcp",
            from_port=8080,
            to_port=8080,
            ipv6_cidr_blocks=["::/0"],
        ),
        "IPv6 app port",
    ),
    good("aws-security-group-no-open-ingress", lambda n: security_group_rule(n, "0.0.0.0/0", 443), "HTTPS"),
    bad(
        "aws-security-group-no-open-ingress",
        lambda n: aws.ec2.SecurityGroup(
            n,
            ingress=[
                {"protocol": "tcp", "from_port": 8080, "to_port": 8080, "cidr_blocks": ["0.0.0.0/1", "128.0.0.0/1"]}
            ],
        ),
        "two halves of the internet",
    ),
    bad("aws-security-group-no-open-ingress", lambda n: security_group_rule(n, "0.0.0.0/1", 22), "half the internet"),
    bad(
        "aws-security-group-no-open-ingress",
        lambda n: aws.vpc.SecurityGroupIngressRule(
            n, security_group_id="sg-1", cidr_ipv6="::ffff:0:0/96", ip_protocol="tcp", from_port=22, to_port=22
        ),
        "IPv4 internet written as IPv6",
    ),
    good("aws-security-group-no-open-ingress", lambda n: security_group_rule(n, "10.0.0.0/8", 8080), "VPC range"),
    bad("aws-security-group-ingress-union", lambda n: split_ingress(n, 9), "internet split over 512 /9s"),
    good("aws-security-group-ingress-union", lambda n: split_ingress(n, 9, port=443), "HTTPS may be public"),
    good("aws-security-group-ingress-union", lambda n: split_ingress(n, 16, count=4), "four /16s"),
    bad("aws-eks-private-endpoint", lambda n: eks_cluster(n, vpc_config={"subnet_ids": SUBNETS}), "public default"),
    bad(
        "aws-eks-private-endpoint",
        lambda n: eks_cluster(
            n,
            vpc_config={
                "subnet_ids": SUBNETS,
                "endpoint_private_access": True,
                "endpoint_public_access": True,
                "public_access_cidrs": ["0.0.0.0/1", "128.0.0.0/1"],
            },
        ),
        "internet as two halves",
    ),
    good(
        "aws-eks-private-endpoint",
        lambda n: eks_cluster(
            n,
            vpc_config={
                "subnet_ids": SUBNETS,
                "endpoint_private_access": True,
                "endpoint_public_access": True,
                "public_access_cidrs": ["198.51.100.0/24"],
            },
        ),
        "restricted public CIDR",
    ),
    # availability
    bad("aws-nat-per-zone-prod", lambda n: nat_vpc(n, 1), "one NAT for three zones"),
    good("aws-nat-per-zone-prod", lambda n: nat_vpc(n, 3), "a NAT per zone"),
    bad("aws-asg-multi-az", lambda n: asg(n, vpc_zone_identifiers=SUBNETS[:1]), "one subnet"),
    bad("aws-asg-multi-az", lambda n: asg(n, vpc_zone_identifiers=SUBNETS[:2]), "two zones in prod"),
    bad(
        "aws-asg-multi-az",
        lambda n: asg(n, vpc_zone_identifiers=[SUBNETS[0], SUBNETS[0], SUBNETS[1]]),
        "one subnet listed twice",
    ),
    bad("aws-asg-elb-health-check", lambda n: asg(n, health_check_type="EC2"), "EC2 checks"),
    bad("aws-min-capacity-prod", lambda n: asg(n, min_size=1), "ASG min 1"),
    bad("aws-min-capacity-prod", lambda n: app_target(n, min_capacity=1), "scaling target min 1"),
    bad(
        "aws-min-capacity-prod",
        lambda n: node_group(n, scaling_config={"min_size": 1, "max_size": 3, "desired_size": 1}),
        "node group",
    ),
    bad("aws-ecs-multi-az", lambda n: ecs_service(n, network_configuration={"subnets": SUBNETS[:1]}), "one subnet"),
    bad("aws-eks-node-group-multi-az", lambda n: node_group(n, subnet_ids=SUBNETS[:1]), "one subnet"),
    good("aws-eks-node-group-multi-az", node_group, "three subnets"),
    bad("aws-ecs-circuit-breaker", lambda n: ecs_service(n, deployment_circuit_breaker=None), "none"),
    bad(
        "aws-ecs-circuit-breaker",
        lambda n: ecs_service(n, deployment_circuit_breaker={"enable": True, "rollback": False}),
        "no rollback",
    ),
    bad(
        "aws-sagemaker-instance-count",
        lambda n: endpoint_config(
            n,
            production_variants=[
                {
                    "variant_name": "stable",
                    "model_name": "m",
                    "initial_instance_count": 1,
                    "instance_type": "ml.m5.xlarge",
                }
            ],
        ),
        "one instance",
    ),
    good("aws-sagemaker-instance-count", endpoint_config, "three instances"),
    bad("aws-sagemaker-auto-rollback", lambda n: endpoint(n, deployment_config=None), "no deployment config"),
    good("aws-sagemaker-auto-rollback", endpoint, "blue/green with alarms"),
    good("aws-sagemaker-canary-bake-prod", endpoint, "300 s bake"),
    bad(
        "aws-sagemaker-canary-bake-prod",
        lambda n: endpoint(
            n,
            deployment_config={
                "blue_green_update_policy": {
                    "traffic_routing_configuration": {
                        "type": "CANARY",
                        "canary_size": {"type": "CAPACITY_PERCENT", "value": 10},
                        "wait_interval_in_seconds": 0,
                    }
                },
                "auto_rollback_configuration": {"alarms": [{"alarm_name": "model-5xx"}]},
            },
        ),
        "canary bake 0",
    ),
    bad("aws-lb-deletion-protection-prod", lambda n: load_balancer(n, enable_deletion_protection=False), "off"),
    bad("aws-lambda-reserved-concurrency", lambda n: function(n, reserved_concurrent_executions=None), "uncapped"),
    # logging
    bad("aws-log-retention", lambda n: log_group(n, retention_in_days=None), "never expires"),
    bad("aws-log-retention-prod", lambda n: log_group(n, retention_in_days=14), "14 days"),
    bad("aws-eks-control-plane-logging", lambda n: eks_cluster(n, enabled_cluster_log_types=["api"]), "api only"),
    good("aws-eks-control-plane-logging", eks_cluster, "all types"),
    bad("aws-sagemaker-data-capture", lambda n: endpoint_config(n, data_capture_config=None), "off"),
    bad(
        "aws-sagemaker-data-capture",
        lambda n: endpoint_config(
            n,
            data_capture_config={
                "enable_capture": True,
                "initial_sampling_percentage": 20,
                "destination_s3_uri": "s3://b/c",
                "capture_options": [{"capture_mode": "Input"}],
            },
        ),
        "unencrypted capture",
    ),
    good("aws-sagemaker-data-capture", endpoint_config, "encrypted capture"),
    bad("aws-lb-access-logs", lambda n: load_balancer(n, access_logs=None), "off"),
    bad("aws-ecs-container-insights", lambda n: aws.ecs.Cluster(n), "default"),
    # WAF
    bad("aws-waf-managed-rules", lambda n: web_acl(n, ()), "no rules"),
    bad("aws-waf-managed-rules", lambda n: web_acl(n, ("AWSManagedRulesCommonRuleSet",)), "no Log4Shell group"),
    good("aws-waf-managed-rules", web_acl, "common + known bad inputs"),
    bad("aws-alb-waf", lambda n: public_alb(n, protected=False), "public ALB, no ACL"),
    good("aws-alb-waf", public_alb, "public ALB with ACL"),
    bad("aws-public-endpoint-authenticated-prod", lambda n: public_listener(n, False), "anonymous public ALB"),
    good("aws-public-endpoint-authenticated-prod", lambda n: public_listener(n, True), "Cognito before forward"),
    bad(
        "aws-public-endpoint-authenticated-prod",
        lambda n: aws.lambda_.FunctionUrl(n, function_name="model", authorization_type="NONE"),
        "anonymous function URL",
    ),
    good("aws-alb-waf", load_balancer, "internal ALB"),
    bad("aws-alarm-actions-prod", lambda n: metric_alarm(n, alarm_actions=[]), "nobody notified"),
    bad("aws-alarm-actions-prod", lambda n: metric_alarm(n, actions_enabled=False), "actions disabled"),
    good("aws-alarm-actions-prod", metric_alarm, "notifies a topic"),
    # supply chain
    bad("aws-ecr-immutable-tags", lambda n: repository(n, image_tag_mutability="MUTABLE"), "mutable"),
    bad("aws-ecr-scan-on-push", lambda n: repository(n, image_scanning_configuration=None), "no scan"),
    bad("aws-ecs-image-digest", lambda n: task_definition(n, image=ECR_TAGGED), "latest"),
    bad("aws-lambda-image-digest", lambda n: function(n, image_uri=ECR_TAGGED), "latest"),
    bad("aws-sagemaker-image-digest", lambda n: sagemaker_model(n, primary_container={"image": ECR_TAGGED}), "latest"),
    good("aws-sagemaker-image-digest", sagemaker_model, "digest"),
    bad(
        "aws-vm-image-digest", lambda n: launch_template(n, user_data=b64(cloud_init(ECR_TAGGED))), "tag in cloud-init"
    ),
    bad("aws-vm-image-digest", lambda n: launch_template(n, user_data=b64(cloud_init("python:3.12"))), "hub short"),
    bad(
        "aws-vm-image-digest",
        lambda n: launch_template(n, user_data=b64("#!/bin/bash\ndocker run -d --name m -p 80:80 library/nginx\n")),
        "hub path, no tag",
    ),
    bad(
        "aws-vm-image-digest",
        lambda n: launch_template(n, user_data=b64('#cloud-config\nruncmd:\n  - [docker, run, "python:3.12"]\n')),
        "runtime with an image it cannot read",
    ),
    good(
        "aws-vm-image-digest",
        lambda n: launch_template(n, user_data=b64(cloud_init("python@sha256:" + "0" * 64))),
        "hub short name by digest",
    ),
    bad("aws-ecs-image-digest", lambda n: task_definition(n, image="python:3.12"), "hub short tag"),
    bad(
        "aws-ecs-env-no-secrets",
        lambda n: task_definition(n, environment=[{"name": "DATABASE_URL", "value": "postgres://admin:pw@db/prod"}]),
        "URL with a password",
    ),
    bad(
        "aws-sagemaker-env-no-secrets",
        lambda n: sagemaker_model(
            n,
            primary_container={
                "image": ECR_IMAGE,
                "environment": {"UPSTREAM": "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"},
            },
        ),
        "GitHub token value",
    ),
    bad(
        "aws-lambda-env-no-secrets",
        lambda n: function(
            n, environment={"variables": {"SIGNING": "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1ub3A="}}
        ),
        "high-entropy value",
    ),
    good(
        "aws-user-data-no-secrets",
        lambda n: launch_template(
            n,
            user_data=b64(
                "#!/bin/bash\nvalue=$(aws secretsmanager get-secret-value --secret-id "
                f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:churn-apikey-AbCdEf --query SecretString)\n"
                "printf '%s=%s\\n' API_KEY \"$value\" >> /run/modelport.env\n"
            ),
        ),
        "Secrets Manager reference fetched at boot",
    ),
    # stack joins
    bad("autoscaler-aws-ecs", lambda n: ecs_service(n), "no target"),
    bad("autoscaler-aws-ecs", lambda n: scaled_ecs(n, with_policy=False), "target without policy"),
    good("autoscaler-aws-ecs", scaled_ecs, "target tracking"),
    bad("autoscaler-aws-sagemaker", lambda n: scaled_endpoint(n, scaled=False), "unscaled"),
    good("autoscaler-aws-sagemaker", scaled_endpoint, "variant autoscaling"),
    bad("autoscaler-aws-lambda", lambda n: provisioned(n, scaled=False), "fixed provisioned concurrency"),
    good("autoscaler-aws-lambda", provisioned, "utilization tracking"),
    bad("autoscaler-aws-asg", lambda n: scaled_asg(n, scaled=False), "no policy"),
    good("autoscaler-aws-asg", scaled_asg, "target tracking"),
    bad("aws-s3-bucket-cmk-encryption", lambda n: bucket(n, sse="AES256"), "SSE-S3"),
    bad("aws-s3-bucket-cmk-encryption", lambda n: bucket(n, sse=None), "no default encryption"),
    good(
        "aws-s3-bucket-cmk-encryption",
        lambda n: bucket(n, sse="AES256", log_bucket_for=True),
        "ELB access-log bucket on SSE-S3",
    ),
    bad("aws-s3-public-access-block", lambda n: bucket(n, block=False), "public policies allowed"),
    bad("aws-s3-tls-only", lambda n: bucket(n, tls_policy=False), "no TLS deny"),
    bad("aws-vpc-flow-logs", lambda n: vpc(n, flow_log=False), "no flow log"),
    bad("aws-kms-key-grants-autoscaling", lambda n: encrypted_fleet(n, ROOT_KEY_POLICY), "no ASG grant"),
    good("aws-kms-key-grants-autoscaling", lambda n: encrypted_fleet(n, ASG_KEY_POLICY), "ASG grant"),
    # the serving image's gRPC listener stays off where the target forwards HTTP only
    bad("serving-grpc-closed-where-not-carried", function, "Lambda: GRPC_PORT absent (8081)"),
    *[
        bad(
            "serving-grpc-closed-where-not-carried",
            lambda n, v=v: function(n, environment={"variables": {"GRPC_PORT": v}}),
            f"Lambda: {v!r}",
        )
        for v in ("8081", "9000", "", "off")
    ],
    *[
        good(
            "serving-grpc-closed-where-not-carried",
            lambda n, v=v: function(n, environment={"variables": {"GRPC_PORT": v}}),
            f"Lambda: {v!r}",
        )
        for v in ("0", " 0", "00")
    ],
    bad("serving-grpc-closed-where-not-carried", sagemaker_model, "SageMaker: GRPC_PORT absent (8081)"),
    bad(
        "serving-grpc-closed-where-not-carried",
        lambda n: sagemaker_model(n, primary_container={"image": ECR_IMAGE, "environment": {"GRPC_PORT": "8081"}}),
        "SageMaker: 8081",
    ),
    bad(
        "serving-grpc-closed-where-not-carried",
        lambda n: sagemaker_model(
            n,
            primary_container=None,
            containers=[
                {"image": ECR_IMAGE, "environment": {"GRPC_PORT": "0"}},
                {"image": ECR_IMAGE, "environment": {"GRPC_PORT": "7000"}},
            ],
        ),
        "SageMaker: a second container opens 7000",
    ),
    good(
        "serving-grpc-closed-where-not-carried",
        lambda n: sagemaker_model(n, primary_container={"image": ECR_IMAGE, "environment": {"GRPC_PORT": "0"}}),
        "SageMaker: 0",
    ),
]
