"""LambdaService (serverless): image function sizing and encryption, alias `live`, provisioned concurrency
autoscaling, the AWS_IAM function URL scoped to named callers, canary alias weights, VPC mode."""

from __future__ import annotations

import json

from aws_fixtures import (
    CALLER_ROLE,
    DEV,
    ECR_CANARY,
    ECR_CANARY_VARIANTS,
    ECR_IMAGE,
    PROD,
    make_service,
    register,
    subnet_zones,
)
from modelport.aws.serverless import LambdaService, LambdaServiceArgs, lambda_memory_mb

FUNCTION = "aws:lambda/function:Function"


def deploy(mocks, profile=PROD, service=None, **kwargs):
    service = service or make_service(image=ECR_IMAGE, exposure={"public": True, "allowed_principals": [CALLER_ROLE]})
    register(lambda: LambdaService("churn-fn", LambdaServiceArgs(service=service, profile=profile, **kwargs)))
    return mocks


def test_function_runs_the_digest_image_sized_encrypted_traced_and_capped(pulumi_mocks):
    fn = deploy(pulumi_mocks).one(FUNCTION).inputs
    assert fn["packageType"] == "Image"
    assert fn["imageUri"] == ECR_IMAGE and "@sha256:" in fn["imageUri"]
    assert fn["memorySize"] == 4096  # resources: 2 vCPU (3,538 MB) and 4,096 MiB
    assert fn["timeout"] == 60
    assert fn["kmsKeyArn"] == pulumi_mocks.one("aws:kms/key:Key").outputs["arn"]
    assert fn["tracingConfig"] == {"mode": "Active"}
    assert fn["publish"] is True
    assert fn["reservedConcurrentExecutions"] == 12
    assert "vpcConfig" not in fn
    group = pulumi_mocks.one("aws:cloudwatch/logGroup:LogGroup")
    assert fn["loggingConfig"]["logFormat"] == "JSON"
    assert fn["loggingConfig"]["logGroup"] == group.outputs["name"]
    assert group.inputs["kmsKeyId"] == fn["kmsKeyArn"]
    variables = fn["environment"]["variables"]
    assert variables["AWS_LWA_PORT"] == "8080"
    assert variables["AWS_LWA_READINESS_CHECK_PATH"] == "/v2/health/ready"


def test_memory_buys_cpu():
    assert lambda_memory_mb(4, 2048) == 7076
    assert lambda_memory_mb(0.5, 512) == 885
    assert lambda_memory_mb(1, 10240) == 10240


def test_no_network_is_created_outside_a_vpc(pulumi_mocks):
    deploy(pulumi_mocks)
    assert pulumi_mocks.by_type("aws:ec2/vpc:Vpc") == []
    assert pulumi_mocks.by_type("aws:ec2/natGateway:NatGateway") == []


def test_alias_live_has_provisioned_concurrency_with_autoscaling(pulumi_mocks):
    deploy(pulumi_mocks)
    fn = pulumi_mocks.one(FUNCTION)
    alias = pulumi_mocks.one("aws:lambda/alias:Alias").inputs
    assert alias["name"] == "live"
    assert alias["functionVersion"] == fn.outputs["version"]
    assert "routingConfig" not in alias
    provisioned = pulumi_mocks.one("aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig").inputs
    assert provisioned["qualifier"] == "live" and provisioned["provisionedConcurrentExecutions"] == 3
    target = pulumi_mocks.one("aws:appautoscaling/target:Target").inputs
    assert target["scalableDimension"] == "lambda:function:ProvisionedConcurrency"
    assert target["resourceId"] == f"function:{fn.inputs['name']}:live"
    assert (target["minCapacity"], target["maxCapacity"]) == (3, 12)
    tracking = pulumi_mocks.one("aws:appautoscaling/policy:Policy").inputs["targetTrackingScalingPolicyConfiguration"]
    assert (
        tracking["predefinedMetricSpecification"]["predefinedMetricType"] == "LambdaProvisionedConcurrencyUtilization"
    )
    assert tracking["targetValue"] == 0.7


def test_function_url_uses_aws_iam_and_only_named_callers_may_invoke(pulumi_mocks):
    deploy(pulumi_mocks)
    url = pulumi_mocks.one("aws:lambda/functionUrl:FunctionUrl").inputs
    assert url["authorizationType"] == "AWS_IAM"
    assert url["qualifier"] == "live"
    permissions = [r.inputs for r in pulumi_mocks.by_type("aws:lambda/permission:Permission")]
    assert {p["principal"] for p in permissions} == {CALLER_ROLE}
    assert {p["action"] for p in permissions} == {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}
    assert all(p["qualifier"] == "live" for p in permissions)
    url_permission = next(p for p in permissions if p["action"] == "lambda:InvokeFunctionUrl")
    assert url_permission["functionUrlAuthType"] == "AWS_IAM"
    component = pulumi_mocks.one("modelport:aws:LambdaService")
    assert component.outputs["endpoint"].endswith(".lambda-url.us-east-1.on.aws/")


def test_execution_role_writes_only_its_log_group_and_decrypts_only_its_key(pulumi_mocks):
    deploy(pulumi_mocks)
    doc = json.loads(pulumi_mocks.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    sids = {s["Sid"]: s for s in doc["Statement"]}
    group = pulumi_mocks.one("aws:cloudwatch/logGroup:LogGroup").outputs["arn"]
    assert sids["WriteToTheServiceLogGroup"]["Resource"] == [group, f"{group}:log-stream:*"]
    assert sids["DecryptTheEnvironment"]["Resource"] == [pulumi_mocks.one("aws:kms/key:Key").outputs["arn"]]
    assert sids["WriteTraces"]["Action"] == ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    trust = json.loads(pulumi_mocks.one("aws:iam/role:Role").inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}


def test_canary_weights_the_new_version_on_the_alias(pulumi_mocks):
    service = make_service(image=ECR_IMAGE, variants=ECR_CANARY_VARIANTS)
    deploy(pulumi_mocks, service=service, stable_version="7")
    fn = pulumi_mocks.one(FUNCTION)
    assert fn.inputs["imageUri"] == ECR_CANARY
    alias = pulumi_mocks.one("aws:lambda/alias:Alias").inputs
    assert alias["functionVersion"] == "7"
    assert alias["routingConfig"] == {"additionalVersionWeights": {fn.outputs["version"]: 0.1}}


def test_vpc_mode_uses_private_subnets_and_scoped_interface_permissions(pulumi_mocks):
    deploy(pulumi_mocks, DEV, in_vpc=True)
    vpc = pulumi_mocks.one(FUNCTION).inputs["vpcConfig"]
    assert len(subnet_zones(pulumi_mocks, vpc["subnetIds"])) == 2
    group = pulumi_mocks.one("aws:ec2/securityGroup:SecurityGroup", "churn-fn-function-sg").id
    assert vpc["securityGroupIds"] == [group]
    doc = json.loads(pulumi_mocks.one("aws:iam/rolePolicy:RolePolicy", "churn-fn-role-policy").inputs["policy"])
    sids = {s["Sid"]: s for s in doc["Statement"]}
    resources = sids["CreateFunctionInterfaces"]["Resource"]
    assert f"arn:aws:ec2:us-east-1:123456789012:security-group/{group}" in resources
    assert {f"arn:aws:ec2:us-east-1:123456789012:subnet/{s}" for s in vpc["subnetIds"]} <= set(resources)
    assert sids["ManageFunctionInterfaces"]["Resource"] == ["arn:aws:ec2:us-east-1:123456789012:network-interface/*"]
