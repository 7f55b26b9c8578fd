"""AWS rules: CMK encryption, TLS policies, IMDSv2 and hardening, IAM least privilege, capacity, logs, supply chain."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from modelport.networks import open_to_internet
from pulumi_policy import ResourceValidationArgs

from .base import ADVISORY, MANDATORY, collect, environment, resource_rule
from .props import (
    decode_text,
    env_findings,
    get,
    has_digest,
    is_false,
    is_set,
    is_true,
    items,
    number,
    parse_json,
    peek,
    policy_statements,
    principals,
    secret_findings,
    statement_values,
    strings,
    unpinned_boot_images,
    unpinned_named_containers,
)

LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
INSTANCE = "aws:ec2/instance:Instance"
ASG = "aws:autoscaling/group:Group"
KMS_KEY = "aws:kms/key:Key"
KMS_KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
ECR_REPOSITORY = "aws:ecr/repository:Repository"
ECR_REPOSITORY_POLICY = "aws:ecr/repositoryPolicy:RepositoryPolicy"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
LAMBDA_FUNCTION = "aws:lambda/function:Function"
LAMBDA_URL = "aws:lambda/functionUrl:FunctionUrl"
LAMBDA_PERMISSION = "aws:lambda/permission:Permission"
SAGEMAKER_MODEL = "aws:sagemaker/model:Model"
SAGEMAKER_ENDPOINT_CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
SAGEMAKER_ENDPOINT = "aws:sagemaker/endpoint:Endpoint"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
ECS_TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
ECS_SERVICE = "aws:ecs/service:Service"
ECS_CLUSTER = "aws:ecs/cluster:Cluster"
LOAD_BALANCERS = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
LISTENERS = ("aws:lb/listener:Listener", "aws:alb/listener:Listener")
WEB_ACL = "aws:wafv2/webAcl:WebAcl"
APP_TARGET = "aws:appautoscaling/target:Target"
SNS_TOPIC = "aws:sns/topic:Topic"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
SECRET = "aws:secretsmanager/secret:Secret"
EBS_VOLUME = "aws:ebs/volume:Volume"
IAM_ROLE = "aws:iam/role:Role"
IAM_POLICY = "aws:iam/policy:Policy"
IAM_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
IAM_USER_POLICY = "aws:iam/userPolicy:UserPolicy"
IAM_GROUP_POLICY = "aws:iam/groupPolicy:GroupPolicy"
IAM_ATTACHMENTS = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
)
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
BUCKET_SSE = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SECURITY_GROUP_INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"


def _rule(**kwargs: Any) -> Any:
    return resource_rule(cloud="aws", **kwargs)


# --- encryption at rest -----------------------------------------------------------------------------------


@_rule(
    name="aws-kms-key-rotation",
    description="Customer-managed KMS keys rotate automatically.",
    resource_types=(KMS_KEY,),
    concern="encryption",
    level=MANDATORY,
    severity="high",
    anchor="CKV_AWS_7",
    remediation="Set enableKeyRotation: true (modelport keys rotate yearly by default).",
)
def kms_key_rotation(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "customerMasterKeySpec", default="SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT":
        args.not_applicable("asymmetric and HMAC keys cannot rotate automatically")
    if not is_true(args.props.get("enableKeyRotation")):
        yield "enableKeyRotation is not true"


def _ebs_mappings(args: ResourceValidationArgs) -> Iterator[tuple[str, Mapping[str, Any]]]:
    if args.resource_type == LAUNCH_TEMPLATE:
        for mapping in items(args.props.get("blockDeviceMappings")):
            ebs = get(mapping, "ebs")
            if isinstance(ebs, Mapping):
                yield str(get(mapping, "deviceName", default="?")), ebs
    else:
        root = args.props.get("rootBlockDevice")
        yield "root volume", root if isinstance(root, Mapping) else {}
        for device in items(args.props.get("ebsBlockDevices")):
            yield str(get(device, "deviceName", default="?")), device


@_rule(
    name="aws-ebs-cmk-encryption",
    description="Launch-template and instance EBS volumes are encrypted with a customer-managed KMS key.",
    resource_types=(LAUNCH_TEMPLATE, INSTANCE),
    concern="encryption",
    level=MANDATORY,
    severity="high",
    anchor="CKV_AWS_3, CKV_AWS_189",
    remediation="Set blockDeviceMappings[].ebs.encrypted: true and kmsKeyId to the service CMK.",
)
def ebs_cmk_encryption(args: ResourceValidationArgs) -> Iterator[str]:
    mappings = list(_ebs_mappings(args))
    if args.resource_type == LAUNCH_TEMPLATE and not mappings:
        yield "no blockDeviceMappings: the root volume uses the AMI's encryption setting"
    for device, ebs in mappings:
        if not is_true(ebs.get("encrypted")):
            yield f"{device} is not encrypted"
        elif not is_set(ebs, "kmsKeyId"):
            yield f"{device} is encrypted with the AWS-managed key, not a CMK"


@_rule(
    name="aws-ebs-volume-cmk",
    description="Standalone EBS volumes are encrypted with a customer-managed KMS key.",
    resource_types=(EBS_VOLUME,),
    concern="encryption",
    level=MANDATORY,
    severity="high",
    anchor="CKV_AWS_189",
    remediation="Set encrypted: true and kmsKeyId.",
)
def ebs_volume_cmk(args: ResourceValidationArgs) -> Iterator[str]:
    if not is_true(args.props.get("encrypted")) or not is_set(args.props, "kmsKeyId"):
        yield "the volume is not encrypted with a CMK"


@_rule(
    name="aws-ecr-cmk-encryption",
    description="ECR repositories are encrypted with a customer-managed KMS key.",
    resource_types=(ECR_REPOSITORY,),
    concern="encryption",
    level=MANDATORY,
    severity="medium",
    anchor="CKV_AWS_136",
    remediation="Set encryptionConfigurations: [{encryptionType: KMS, kmsKey: <CMK ARN>}].",
)
def ecr_cmk_encryption(args: ResourceValidationArgs) -> Iterator[str]:
    config = get(args.props, "encryptionConfigurations", 0, default={})
    if get(config, "encryptionType") != "KMS" or not is_set(config, "kmsKey"):
        yield "the repository is not encrypted with a CMK"


@_rule(
    name="aws-log-group-cmk",
    description="CloudWatch log groups are encrypted with a customer-managed KMS key.",
    resource_types=(LOG_GROUP,),
    concern="encryption",
    level=MANDATORY,
    severity="medium",
    anchor="CKV_AWS_158",
    remediation="Set kmsKeyId to a CMK whose policy allows logs.<region>.amazonaws.com.",
)
def log_group_cmk(args: ResourceValidationArgs) -> Iterator[str]:
    if not is_set(args.props, "kmsKeyId"):
        yield "kmsKeyId is unset"


@_rule(
    name="aws-sagemaker-endpoint-cmk",
    description="SageMaker endpoint configurations encrypt the ML storage volume with a customer-managed key.",
    resource_types=(SAGEMAKER_ENDPOINT_CONFIG,),
    concern="encryption",
    level=MANDATORY,
    severity="high",
    anchor="CKV_AWS_98",
    remediation="Set kmsKeyArn to the service CMK.",
)
def sagemaker_endpoint_cmk(args: ResourceValidationArgs) -> Iterator[str]:
    if not is_set(args.props, "kmsKeyArn"):
        yield "kmsKeyArn is unset"


@_rule(
    name="aws-lambda-env-cmk",
    description="Lambda functions with environment variables encrypt them with a customer-managed key.",
    resource_types=(LAMBDA_FUNCTION,),
    concern="encryption",
    level=MANDATORY,
    severity="medium",
    anchor="CKV_AWS_173",
    remediation="Set kmsKeyArn to the service CMK.",
)
def lambda_env_cmk(args: ResourceValidationArgs) -> Iterator[str]:
    if not get(args.props, "environment", "variables"):
        args.not_applicable("the function has no environment variables")
    if not is_set(args.props, "kmsKeyArn"):
        yield "environment variables are encrypted with the AWS-managed key"


@_rule(
    name="aws-eks-secrets-encryption",
    description="EKS clusters envelope-encrypt Kubernetes Secrets with a customer-managed KMS key.",
    resource_types=(EKS_CLUSTER,),
    concern="encryption",
    level=MANDATORY,
    severity="high",
    anchor="CKV_AWS_58",
    remediation="Set encryptionConfig: {provider: {keyArn: <CMK>}, resources: [secrets]}.",
)
def eks_secrets_encryption(args: ResourceValidationArgs) -> Iterator[str]:
    config = args.props.get("encryptionConfig") or {}
    if "secrets" not in strings(get(config, "resources")) or not is_set(config, "provider", "keyArn"):
        yield "Secrets are not encrypted with a KMS key"


@_rule(
    name="aws-sns-topic-cmk",
    description="SNS topics (alarm notifications) are encrypted with a customer-managed key.",
    resource_types=(SNS_TOPIC,),
    concern="encryption",
    level=ADVISORY,
    severity="low",
    anchor="CKV_AWS_26",
    remediation="Set kmsMasterKeyId to a CMK whose policy allows cloudwatch.amazonaws.com.",
)
def sns_topic_cmk(args: ResourceValidationArgs) -> Iterator[str]:
    key = peek(args.props, "kmsMasterKeyId")
    if not is_set(args.props, "kmsMasterKeyId") or key == "alias/aws/sns":
        yield "the topic is not encrypted with a CMK"


@_rule(
    name="aws-secret-cmk",
    description="Secrets Manager secrets are encrypted with a customer-managed key.",
    resource_types=(SECRET,),
    concern="encryption",
    level=MANDATORY,
    severity="medium",
    anchor="CKV_AWS_149",
    remediation="Set kmsKeyId to the service CMK.",
)
def secret_cmk(args: ResourceValidationArgs) -> Iterator[str]:
    if not is_set(args.props, "kmsKeyId"):
        yield "the secret uses the AWS-managed key"


# --- TLS --------------------------------------------------------------------------------------------------

# TLS 1.2 minimum with TLS 1.3: the whole TLS13-1-2 family (Res, Ext, FIPS and post-quantum PQ variants) and the
# stricter TLS 1.3-only policies.
TLS_POLICY = re.compile(r"^ELBSecurityPolicy-TLS13-1-[23](-[A-Za-z0-9]+)*$")


@_rule(
    name="aws-lb-listener-tls-policy",
    description="HTTPS and TLS listeners use an ELBSecurityPolicy-TLS13-1-2* (or TLS13-1-3*) policy.",
    resource_types=LISTENERS,
    concern="tls",
    level=MANDATORY,
    severity="high",
    anchor="CKV_AWS_103",
    remediation="Set sslPolicy to ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09 (or another TLS13-1-2 policy); "
    "unset, the listener falls back to ELBSecurityPolicy-2016-08 with TLS 1.0.",
)
def lb_listener_tls_policy(args: ResourceValidationArgs) -> Iterator[str]:
    if args.props.get("protocol") not in ("HTTPS", "TLS"):
        args.not_applicable("the listener does not terminate TLS")
    policy = args.props.get("sslPolicy")
    if not policy:
        yield "sslPolicy is unset, so the TLS 1.0 default ELBSecurityPolicy-2016-08 applies"
    elif not TLS_POLICY.match(str(policy)):
        yield f"sslPolicy {policy} is outside the ELBSecurityPolicy-TLS13-1-2 family"


def _redirects_to_https(action: Any) -> bool:
    return get(action, "type") == "redirect" and get(action, "redirect", "protocol") == "HTTPS"


@_rule(
    name="aws-lb-listener-https-only",
    description="Load balancer listeners serve HTTPS; plain HTTP listeners only redirect to HTTPS (required in "
    "prod; public exposure always has TLS).",
    resource_types=LISTENERS,
    concern="tls",
    level=ADVISORY,
    severity="high",
    anchor="CKV_AWS_2, CKV2_AWS_20",
    remediation="Use protocol HTTPS with a certificate, and make port 80 a redirect to HTTPS (status HTTP_301).",
)
def lb_listener_https_only(args: ResourceValidationArgs) -> Iterator[str]:
    protocol = args.props.get("protocol") or "HTTP"
    if protocol in ("HTTPS", "TLS"):
        return
    if protocol != "HTTP":
        yield f"protocol {protocol} carries traffic without TLS"
        return
    actions = items(args.props.get("defaultActions"))
    if not actions or not all(_redirects_to_https(a) for a in actions):
        yield "the HTTP listener serves traffic instead of redirecting to HTTPS"


@_rule(
    name="aws-alb-drop-invalid-headers",
    description="Application load balancers drop invalid HTTP header fields (request smuggling defence).",
    resource_types=LOAD_BALANCERS,
    concern="tls",
    level=MANDATORY,
    severity="medium",
    anchor="CKV_AWS_131",
    remediation="Set dropInvalidHeaderFields: true.",
)
def alb_drop_invalid_headers(args: ResourceValidationArgs) -> Iterator[str]:
    if args.props.get("loadBalancerType", "application") != "application":
        args.not_applicable("only application load balancers parse HTTP headers")
    if not is_true(args.props.get("dropInvalidHeaderFields")):
        yield "dropInvalidHeaderFields is not true"


# --- compute hardening ------------------------------------------------------------------------------------


@_rule(
    name="aws-imdsv2-required",
    description="Instances require IMDSv2 session tokens (httpTokens: required).",
    resource_types=(LAUNCH_TEMPLATE, INSTANCE),
    concern="compute-hardening",
    level=MANDATORY,
    severity="high",
    anchor="CKV_AWS_79",
    remediation="Set metadataOptions: {httpTokens: required, httpPutResponseHopLimit: 1, httpEndpoint: enabled}.",
)
def imdsv2_required(args: ResourceValidationArgs) -> Iterator[str]:
    options = args.props.get("metadataOptions") or {}
    if get(options, "httpEndpoint") == "disabled":
        return
    if get(options, "httpTokens") != "required":
        yield f"metadataOptions.httpTokens is {get(options, 'httpTokens', default='unset (optional)')}"


@_rule(
    name="aws-imds-hop-limit",
    description="The IMDS response hop limit is 1, so containers on the host cannot reach instance credentials.",
    resource_types=(LAUNCH_TEMPLATE,),
    concern="compute-hardening",
    level=ADVISORY,
    severity="medium",
    anchor="CKV_AWS_341",
    remediation="Set metadataOptions.httpPutResponseHopLimit: 1 (use EKS Pod Identity or IRSA for pods).",
)
def imds_hop_limit(args: ResourceValidationArgs) -> Iterator[str]:
    limit = number(get(args.props, "metadataOptions", "httpPutResponseHopLimit"))
    if limit is not None and limit > 1:
        yield f"httpPutResponseHopLimit is {int(limit)}"


@_rule(
    name="aws-no-public-ip",
    description="Instances, launch templates and ECS services get no public IP address.",
    resource_types=(LAUNCH_TEMPLATE, INSTANCE, ECS_SERVICE),
    concern="compute-hardening",
    level=MANDATORY,
    severity="high",
    anchor="CKV_AWS_88, CKV_AWS_333",
    remediation="Run in private subnets behind the load balancer; set associatePublicIpAddress / assignPublicIp "
    "to false.",
)
def no_public_ip(args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type == LAUNCH_TEMPLATE:
        for index, nic in enumerate(items(args.props.get("networkInterfaces"))):
            if is_true(get(nic, "associatePublicIpAddress")):
                yield f"networkInterfaces[{index}] associates a public IP"
    elif args.resource_type == INSTANCE:
        if is_true(args.props.get("associatePublicIpAddress")):
            yield "associatePublicIpAddress is true"
    elif is_true(get(args.props, "networkConfiguration", "assignPublicIp")):
        yield "networkConfiguration.assignPublicIp is true"


def _user_data(args: ResourceValidationArgs) -> str:
    return decode_text(args.props.get("userData")) or decode_text(args.props.get("userDataBase64"))


@_rule(
    name="aws-user-data-no-secrets",
    description="EC2 user data carries no credentials.",
    resource_types=(LAUNCH_TEMPLATE, INSTANCE),
    concern="compute-hardening",
    level=MANDATORY,
    severity="critical",
    anchor="CKV_AWS_46",
    remediation="Fetch secrets at boot from Secrets Manager with the instance role; never embed them.",
)
def user_data_no_secrets(args: ResourceValidationArgs) -> Iterator[str]:
    for finding in secret_findings(_user_data(args)):
        yield f"user data contains {finding}"


@_rule(
    name="aws-lambda-env-no-secrets",
    description="Lambda environment variables hold no credentials.",
    resource_types=(LAMBDA_FUNCTION,),
    concern="compute-hardening",
    level=MANDATORY,
    severity="critical",
    anchor="CKV_AWS_45",
    remediation="Pass the secret's ARN and read it at runtime (modelport's `secrets` does this).",
)
def lambda_env_no_secrets(args: ResourceValidationArgs) -> Iterator[str]:
    for name, finding in env_findings(get(args.props, "environment", "variables", default={})):
        yield f"environment variable {name} holds {finding}"


def container_definitions(args: ResourceValidationArgs) -> list[Mapping[str, Any]]:
    parsed = parse_json(args.props.get("containerDefinitions"))
    return [c for c in items(parsed) if isinstance(c, Mapping)]


def _ecs_rule(**kwargs: Any) -> Any:
    return _rule(resource_types=(ECS_TASK_DEFINITION,), **kwargs)


@_ecs_rule(
    name="aws-ecs-env-no-secrets",
    description="ECS container environments hold no credentials; they come from `secrets` (valueFrom).",
    concern="compute-hardening",
    level=MANDATORY,
    severity="critical",
    remediation="Move the value to Secrets Manager and list it under the container's secrets with valueFrom.",
)
def ecs_env_no_secrets(args: ResourceValidationArgs) -> Iterator[str]:
    for container in container_definitions(args):
        for name, finding in env_findings(container.get("environment")):
            yield f"container {container.get('name')} sets {name} to {finding}"


@_ecs_rule(
    name="aws-ecs-read-only-root",
    description="ECS containers run with a read-only root filesystem.",
    concern="compute-hardening",
    level=MANDATORY,
    severity="medium",
    anchor="CKV_AWS_336",
    remediation="Set readonlyRootFilesystem: true and mount a task volume at /tmp.",
)
def ecs_read_only_root(args: ResourceValidationArgs) -> Iterator[str]:
    for container in container_definitions(args):
        if not is_true(container.get("readonlyRootFilesystem")):
            yield f"container {container.get('name')} has a writable root filesystem"


@_ecs_rule(
    name="aws-ecs-non-root",
    description="ECS containers run as a non-root user.",
    concern="compute-hardening",
    level=MANDATORY,
    severity="high",
    remediation="Set user to a non-zero UID such as 10001.",
)
def ecs_non_root(args: ResourceValidationArgs) -> Iterator[str]:
    for container in container_definitions(args):
        user = str(container.get("user") or "").split(":", 1)[0]
        if user in ("", "0", "root"):
            yield f"container {container.get('name')} runs as {user or 'the image default (root)'}"


@_ecs_rule(
    name="aws-ecs-no-privileged",
    description="ECS containers are not privileged and drop ALL Linux capabilities.",
    concern="compute-hardening",
    level=MANDATORY,
    severity="high",
    anchor="CKV_AWS_334",
    remediation="Remove privileged and set linuxParameters.capabilities.drop: [ALL].",
)
def ecs_no_privileged(args: ResourceValidationArgs) -> Iterator[str]:
    for container in container_definitions(args):
        name = container.get("name")
        if is_true(container.get("privileged")):
            yield f"container {name} is privileged"
        dropped = {c.upper() for c in strings(get(container, "linuxParameters", "capabilities", "drop"))}
        if "ALL" not in dropped:
            yield f"container {name} does not drop ALL capabilities"


@_ecs_rule(
    name="aws-ecs-logging",
    description="ECS containers ship their logs (awslogs or FireLens).",
    concern="logging",
    level=MANDATORY,
    severity="medium",
    remediation="Set logConfiguration: {logDriver: awslogs, options: {awslogs-group, awslogs-region, ...}}.",
)
def ecs_logging(args: ResourceValidationArgs) -> Iterator[str]:
    for container in container_definitions(args):
        if not get(container, "logConfiguration", "logDriver"):
            yield f"container {container.get('name')} has no logConfiguration"


@_rule(
    name="aws-sagemaker-network-isolation",
    description="SageMaker models run with network isolation inside the VPC.",
    resource_types=(SAGEMAKER_MODEL,),
    concern="compute-hardening",
    level=MANDATORY,
    severity="high",
    remediation="Set enableNetworkIsolation: true and vpcConfig with private subnets and a security group.",
)
def sagemaker_network_isolation(args: ResourceValidationArgs) -> Iterator[str]:
    if not is_true(args.props.get("enableNetworkIsolation")):
        yield "enableNetworkIsolation is not true"
    if not get(args.props, "vpcConfig", "subnets"):
        yield "the model does not run in the VPC (vpcConfig is unset)"


def _sagemaker_containers(args: ResourceValidationArgs) -> list[Mapping[str, Any]]:
    found = [args.props.get("primaryContainer")] + items(args.props.get("containers"))
    return [c for c in found if isinstance(c, Mapping)]


@_rule(
    name="aws-sagemaker-env-no-secrets",
    description="SageMaker model container environments hold no credentials.",
    resource_types=(SAGEMAKER_MODEL,),
    concern="compute-hardening",
    level=MANDATORY,
    severity="critical",
    remediation="Pass the secret's ARN and read it at startup with the execution role.",
)
def sagemaker_env_no_secrets(args: ResourceValidationArgs) -> Iterator[str]:
    for container in _sagemaker_containers(args):
        for name, finding in env_findings(container.get("environment")):
            yield f"environment variable {name} holds {finding}"


# --- least privilege --------------------------------------------------------------------------------------

# Actions that do not support resource-level permissions, so "*" is the only possible resource.
_UNSCOPABLE_ACTIONS = {
    "ecr:getauthorizationtoken",
    "cloudwatch:putmetricdata",
    "cloudwatch:getmetricdata",
    "sts:getcalleridentity",
    "xray:puttracesegments",
    "xray:puttelemetryrecords",
    "xray:getsamplingrules",
    "xray:getsamplingtargets",
    "ec2:createnetworkinterface",
    "ec2:deletenetworkinterface",
    "ec2:assignprivateipaddresses",
    "ec2:unassignprivateipaddresses",
    "logs:describeloggroups",
    "kms:listkeys",
    "kms:listaliases",
}
_READ_ONLY_PREFIXES = ("describe", "list")


def _identity_documents(args: ResourceValidationArgs) -> Iterator[tuple[str, Any]]:
    if args.resource_type == IAM_ROLE:
        for policy in items(args.props.get("inlinePolicies")):
            yield f"inline policy {get(policy, 'name', default='?')}", get(policy, "policy")
    else:
        yield "the policy", args.props.get("policy")


_IDENTITY_POLICY_TYPES = (IAM_ROLE, IAM_POLICY, IAM_ROLE_POLICY, IAM_USER_POLICY, IAM_GROUP_POLICY)


def _is_wildcard_action(action: str) -> bool:
    return action == "*" or action.endswith(":*")


@_rule(
    name="aws-iam-no-wildcard-actions",
    description='IAM policies allow named actions only: no "*", no "service:*", no Allow with NotAction.',
    resource_types=_IDENTITY_POLICY_TYPES,
    concern="least-privilege",
    level=MANDATORY,
    severity="critical",
    anchor="CKV_AWS_62, CKV_AWS_63",
    remediation="List the exact actions the workload calls, statement by statement.",
)
def iam_no_wildcard_actions(args: ResourceValidationArgs) -> Iterator[str]:
    for where, document in _identity_documents(args):
        for statement in policy_statements(document):
            if statement.get("Effect") != "Allow":
                continue
            wildcards = [a for a in statement_values(statement, "Action") if _is_wildcard_action(a)]
            if wildcards:
                yield f"{where} allows {', '.join(wildcards)}"
            if statement.get("NotAction") is not None:
                yield f"{where} allows everything except NotAction"


@_rule(
    name="aws-iam-no-wildcard-resources",
    description='IAM policies scope write and data actions to ARNs, not "*" (unless conditioned).',
    resource_types=_IDENTITY_POLICY_TYPES,
    concern="least-privilege",
    level=MANDATORY,
    severity="high",
    anchor="CKV_AWS_355, CKV_AWS_61",
    remediation="Name the resource ARNs (bucket, key, log group, repository) or add a scoping Condition.",
)
def iam_no_wildcard_resources(args: ResourceValidationArgs) -> Iterator[str]:
    for where, document in _identity_documents(args):
        for statement in policy_statements(document):
            if statement.get("Effect") != "Allow" or statement.get("Condition"):
                continue
            if "*" not in statement_values(statement, "Resource"):
                continue
            scoped_only = [
                a
                for a in statement_values(statement, "Action")
                if a.lower() not in _UNSCOPABLE_ACTIONS
                and not a.split(":", 1)[-1].lower().startswith(_READ_ONLY_PREFIXES)
            ]
            if scoped_only:
                yield f"{where} allows {', '.join(scoped_only)} on every resource"


@_rule(
    name="aws-iam-trust-scoped",
    description="Role trust policies name their principals; OIDC trust is bound to a subject.",
    resource_types=(IAM_ROLE,),
    concern="least-privilege",
    level=MANDATORY,
    severity="critical",
    anchor="CKV_AWS_60",
    remediation="Trust a service principal or a named role; for IRSA add StringEquals on <issuer>:sub and :aud.",
)
def iam_trust_scoped(args: ResourceValidationArgs) -> Iterator[str]:
    for statement in policy_statements(args.props.get("assumeRolePolicy")):
        if statement.get("Effect") != "Allow":
            continue
        for kind, principal in principals(statement):
            if principal == "*":
                yield "the trust policy lets any principal assume the role"
            elif kind == "Federated" and ":sub" not in str(statement.get("Condition") or ""):
                yield f"federated principal {principal} is trusted without a :sub condition"


def _public_statements(document: Any) -> Iterator[str]:
    for statement in policy_statements(document):
        if statement.get("Effect") != "Allow" or statement.get("Condition"):
            continue
        if any(principal == "*" for _, principal in principals(statement)):
            yield ", ".join(statement_values(statement, "Action")) or "actions"


@_rule(
    name="aws-resource-policy-not-public",
    description='Bucket, repository and key policies grant nothing to "*" without a condition.',
    resource_types=(BUCKET_POLICY, ECR_REPOSITORY_POLICY, KMS_KEY, KMS_KEY_POLICY),
    concern="least-privilege",
    level=MANDATORY,
    severity="critical",
    anchor="CKV_AWS_70, CKV_AWS_32, CKV_AWS_33",
    remediation="Name the principals (account roles, service principals) or add an aws:PrincipalOrgID condition.",
)
def resource_policy_not_public(args: ResourceValidationArgs) -> Iterator[str]:
    for actions in _public_statements(args.props.get("policy")):
        yield f"the policy allows {actions} to any principal"


@_rule(
    name="aws-iam-no-admin-policies",
    description="No role, user or group gets AWS administrator or full-IAM managed policies.",
    resource_types=(*IAM_ATTACHMENTS, IAM_ROLE),
    concern="least-privilege",
    level=MANDATORY,
    severity="critical",
    anchor="CKV_AWS_274, CKV2_AWS_56",
    remediation="Attach a customer-managed policy with the workload's exact actions.",
)
def iam_no_admin_policies(args: ResourceValidationArgs) -> Iterator[str]:
    arns = (
        strings(args.props.get("managedPolicyArns"))
        if args.resource_type == IAM_ROLE
        else strings(args.props.get("policyArn"))
    )
    for arn in arns:
        if arn.rsplit("/", 1)[-1] in ("AdministratorAccess", "IAMFullAccess", "PowerUserAccess"):
            yield f"attaches {arn.rsplit('/', 1)[-1]}"


@_rule(
    name="aws-lambda-url-auth",
    description="Lambda function URLs require AWS_IAM auth; NONE makes the model public.",
    resource_types=(LAMBDA_URL,),
    concern="least-privilege",
    level=MANDATORY,
    severity="critical",
    anchor="CKV_AWS_258",
    remediation="Set authorizationType: AWS_IAM and grant lambda:InvokeFunctionUrl to the allowed callers.",
)
def lambda_url_auth(args: ResourceValidationArgs) -> Iterator[str]:
    if args.props.get("authorizationType") != "AWS_IAM":
        yield f"authorizationType is {args.props.get('authorizationType')}"


@_rule(
    name="aws-lambda-permission-scoped",
    description='Lambda permissions name a principal; none grants invoke to "*" or to NONE-auth URLs.',
    resource_types=(LAMBDA_PERMISSION,),
    concern="least-privilege",
    level=MANDATORY,
    severity="critical",
    anchor="CKV_AWS_301",
    remediation="Grant lambda:InvokeFunction(Url) to the callers' role ARNs or a service with sourceArn.",
)
def lambda_permission_scoped(args: ResourceValidationArgs) -> Iterator[str]:
    if args.props.get("principal") == "*":
        yield "the permission grants invoke to any principal"
    if args.props.get("functionUrlAuthType") == "NONE":
        yield "the permission opens a NONE-auth function URL"


def _internet(ranges: list[str]) -> str | None:
    """How much of the internet a set of CIDRs admits, or None; a value that is no CIDR counts as the internet."""
    try:
        return open_to_internet(ranges)
    except ValueError:
        return f"an unreadable range ({', '.join(ranges)})"


def _ingress_rules(args: ResourceValidationArgs) -> Iterator[tuple[list[str], float, float]]:
    props = args.props
    if args.resource_type == SECURITY_GROUP:
        for rule in items(props.get("ingress")):
            ranges = strings(get(rule, "cidrBlocks")) + strings(get(rule, "ipv6CidrBlocks"))
            yield ranges, number(get(rule, "fromPort")) or 0, number(get(rule, "toPort")) or 0
    elif args.resource_type == SECURITY_GROUP_RULE:
        if props.get("type") == "ingress":
            ranges = strings(props.get("cidrBlocks")) + strings(props.get("ipv6CidrBlocks"))
            yield ranges, number(props.get("fromPort")) or 0, number(props.get("toPort")) or 0
    else:
        ranges = strings(props.get("cidrIpv4")) + strings(props.get("cidrIpv6"))
        protocol = str(props.get("ipProtocol", ""))
        everything = protocol in ("-1", "all")
        yield (
            ranges,
            0 if everything else number(props.get("fromPort")) or 0,
            65535 if everything else number(props.get("toPort")) or 0,
        )


@_rule(
    name="aws-security-group-no-open-ingress",
    description="Security groups open nothing to 0.0.0.0/0 except HTTPS (and HTTP for the redirect).",
    resource_types=(SECURITY_GROUP, SECURITY_GROUP_RULE, SECURITY_GROUP_INGRESS),
    concern="network-exposure",
    level=MANDATORY,
    severity="high",
    anchor="CKV_AWS_24, CKV_AWS_25, CKV_AWS_277",
    remediation="Allow the callers' CIDRs or security groups; never SSH/RDP or all ports from the internet.",
)
def security_group_no_open_ingress(args: ResourceValidationArgs) -> Iterator[str]:
    for ranges, low, high in _ingress_rules(args):
        internet = _internet(ranges)
        if internet and not (low == high and low in (80, 443)):
            yield f"ports {int(low)}-{int(high)} are open to {', '.join(ranges)}, which admits {internet}"


@_rule(
    name="aws-eks-private-endpoint",
    description="The EKS API endpoint is private.",
    resource_types=(EKS_CLUSTER,),
    concern="network-exposure",
    level=MANDATORY,
    severity="high",
    anchor="CKV_AWS_39, CKV_AWS_38",
    remediation="Set vpcConfig.endpointPrivateAccess: true and endpointPublicAccess: false (or restrict "
    "publicAccessCidrs to the operators' ranges).",
)
def eks_private_endpoint(args: ResourceValidationArgs) -> Iterator[str]:
    config = args.props.get("vpcConfig") or {}
    if not is_true(get(config, "endpointPrivateAccess")):
        yield "endpointPrivateAccess is not true"
    if not is_false(get(config, "endpointPublicAccess")):
        cidrs = strings(get(config, "publicAccessCidrs")) or ["0.0.0.0/0"]
        internet = _internet(cidrs)
        if internet:
            yield f"the public API endpoint admits {internet} ({', '.join(cidrs)})"


# --- availability -----------------------------------------------------------------------------------------


def _zone_count(args: ResourceValidationArgs, *keys: str) -> int:
    """Distinct subnets (or zones) under ``keys``: a subnet listed twice is still one zone."""
    return max((len(set(strings(get(args.props, *key.split("."))))) for key in keys), default=0)


@_rule(
    name="aws-asg-multi-az",
    description="Auto Scaling groups span at least two availability zones (three in prod).",
    resource_types=(ASG,),
    concern="availability",
    level=MANDATORY,
    severity="high",
    remediation="Give vpcZoneIdentifiers one private subnet per zone, in three zones for prod.",
)
def asg_multi_az(args: ResourceValidationArgs) -> Iterator[str]:
    zones = _zone_count(args, "vpcZoneIdentifiers", "availabilityZones")
    needed = 3 if environment(args) == "prod" else 2
    if zones < needed:
        yield f"the group spans {zones} subnet(s)/zone(s); {needed} are required"


@_rule(
    name="aws-asg-elb-health-check",
    description="Auto Scaling groups behind a load balancer replace instances that fail its health check.",
    resource_types=(ASG,),
    concern="availability",
    level=MANDATORY,
    severity="medium",
    anchor="CKV2_AWS_15",
    remediation="Set healthCheckType: ELB and a healthCheckGracePeriod covering model load time.",
)
def asg_elb_health_check(args: ResourceValidationArgs) -> Iterator[str]:
    if not items(args.props.get("targetGroupArns")) and not items(args.props.get("loadBalancers")):
        args.not_applicable("the group is not behind a load balancer")
    if args.props.get("healthCheckType") != "ELB":
        yield f"healthCheckType is {args.props.get('healthCheckType') or 'EC2'}"


@_rule(
    name="aws-ecs-multi-az",
    description="ECS services place tasks in subnets of at least two availability zones (three in prod).",
    resource_types=(ECS_SERVICE,),
    concern="availability",
    level=MANDATORY,
    severity="high",
    remediation="List one private subnet per zone in networkConfiguration.subnets.",
)
def ecs_multi_az(args: ResourceValidationArgs) -> Iterator[str]:
    subnets = _zone_count(args, "networkConfiguration.subnets")
    needed = 3 if environment(args) == "prod" else 2
    if subnets < needed:
        yield f"the service uses {subnets} subnet(s); {needed} are required"


@_rule(
    name="aws-eks-node-group-multi-az",
    description="EKS managed node groups span at least two availability zones (three in prod).",
    resource_types=(EKS_NODE_GROUP,),
    concern="availability",
    level=MANDATORY,
    severity="high",
    remediation="Give subnetIds one private subnet per zone.",
)
def eks_node_group_multi_az(args: ResourceValidationArgs) -> Iterator[str]:
    subnets = _zone_count(args, "subnetIds")
    needed = 3 if environment(args) == "prod" else 2
    if subnets < needed:
        yield f"the node group uses {subnets} subnet(s); {needed} are required"


@_rule(
    name="aws-ecs-circuit-breaker",
    description="ECS services roll back failed deployments automatically.",
    resource_types=(ECS_SERVICE,),
    concern="availability",
    level=MANDATORY,
    severity="medium",
    remediation="Set deploymentCircuitBreaker: {enable: true, rollback: true}.",
)
def ecs_circuit_breaker(args: ResourceValidationArgs) -> Iterator[str]:
    breaker = args.props.get("deploymentCircuitBreaker") or {}
    if not (is_true(get(breaker, "enable")) and is_true(get(breaker, "rollback"))):
        yield "deploymentCircuitBreaker with rollback is not enabled"


@_rule(
    name="aws-sagemaker-instance-count",
    description="In prod, every SageMaker production variant runs at least two instances (spread over zones).",
    resource_types=(SAGEMAKER_ENDPOINT_CONFIG,),
    concern="availability",
    level=MANDATORY,
    severity="high",
    prod_only=True,
    remediation="Set productionVariants[].initialInstanceCount to 2 or more; SageMaker spreads them across zones.",
)
def sagemaker_instance_count(args: ResourceValidationArgs) -> Iterator[str]:
    for variant in items(args.props.get("productionVariants")):
        if get(variant, "serverlessConfig") is not None:
            continue
        count = number(get(variant, "initialInstanceCount"))
        if count is None or count < 2:
            yield f"variant {get(variant, 'variantName', default='?')} runs {int(count) if count else 'no'} instance(s)"


@_rule(
    name="aws-sagemaker-auto-rollback",
    description="SageMaker endpoints deploy blue/green with alarm-driven automatic rollback.",
    resource_types=(SAGEMAKER_ENDPOINT,),
    concern="availability",
    level=ADVISORY,
    severity="medium",
    remediation="Set deploymentConfig.blueGreenUpdatePolicy and autoRollbackConfiguration.alarms.",
)
def sagemaker_auto_rollback(args: ResourceValidationArgs) -> Iterator[str]:
    config = args.props.get("deploymentConfig") or {}
    if not get(config, "blueGreenUpdatePolicy") and not get(config, "rollingUpdatePolicy"):
        yield "no blue/green or rolling update policy"
    if not items(get(config, "autoRollbackConfiguration", "alarms")):
        yield "no rollback alarms"


# A CloudWatch alarm needs this many seconds of breaching data (3 one-minute datapoints) before it can fire.
_ALARM_DETECTION_SECONDS = 180


@_rule(
    name="aws-sagemaker-canary-bake-prod",
    description="In prod, a SageMaker blue/green canary bakes long enough for its rollback alarms to fire "
    f"(at least {_ALARM_DETECTION_SECONDS} s) before the rest of the traffic shifts.",
    resource_types=(SAGEMAKER_ENDPOINT,),
    concern="availability",
    level=MANDATORY,
    severity="high",
    prod_only=True,
    remediation=f"Set canary_wait_seconds to {_ALARM_DETECTION_SECONDS} or more (the default is 600).",
)
def sagemaker_canary_bake_prod(args: ResourceValidationArgs) -> Iterator[str]:
    routing = get(args.props, "deploymentConfig", "blueGreenUpdatePolicy", "trafficRoutingConfiguration")
    if routing is None:
        args.not_applicable("the endpoint has no blue/green traffic routing")
    wait = number(get(routing, "waitIntervalInSeconds"))
    if wait is None or wait < _ALARM_DETECTION_SECONDS:
        yield f"the canary bakes {int(wait or 0)} s; the rollback alarms need {_ALARM_DETECTION_SECONDS} s to fire"


@_rule(
    name="aws-lb-deletion-protection-prod",
    description="In prod, load balancers have deletion protection.",
    resource_types=LOAD_BALANCERS,
    concern="availability",
    level=MANDATORY,
    severity="medium",
    anchor="CKV_AWS_150",
    prod_only=True,
    remediation="Set enableDeletionProtection: true (the prod profile does).",
)
def lb_deletion_protection_prod(args: ResourceValidationArgs) -> Iterator[str]:
    if not is_true(args.props.get("enableDeletionProtection")):
        yield "enableDeletionProtection is not true"


@_rule(
    name="aws-lambda-reserved-concurrency",
    description="Lambda functions cap their concurrency so a burst cannot exhaust the account pool.",
    resource_types=(LAMBDA_FUNCTION,),
    concern="availability",
    level=ADVISORY,
    severity="low",
    anchor="CKV_AWS_115",
    remediation="Set reservedConcurrentExecutions to the service's max_replicas times its per-instance concurrency.",
)
def lambda_reserved_concurrency(args: ResourceValidationArgs) -> Iterator[str]:
    reserved = number(args.props.get("reservedConcurrentExecutions"))
    if reserved is None or reserved < 0:
        yield "reservedConcurrentExecutions is unset"


# --- logging ----------------------------------------------------------------------------------------------


@_rule(
    name="aws-log-retention",
    description="CloudWatch log groups set a retention period.",
    resource_types=(LOG_GROUP,),
    concern="logging",
    level=MANDATORY,
    severity="low",
    anchor="CKV_AWS_66",
    remediation="Set retentionInDays (the profile's log_retention_days).",
)
def log_retention(args: ResourceValidationArgs) -> Iterator[str]:
    if not number(args.props.get("retentionInDays")):
        yield "retentionInDays is unset, so logs are never expired or reviewed"


@_rule(
    name="aws-log-retention-prod",
    description="In prod, CloudWatch log groups keep logs for at least a year.",
    resource_types=(LOG_GROUP,),
    concern="logging",
    level=MANDATORY,
    severity="medium",
    anchor="CKV_AWS_338",
    prod_only=True,
    remediation="Set retentionInDays to 365 or more (the prod profile does).",
)
def log_retention_prod(args: ResourceValidationArgs) -> Iterator[str]:
    days = number(args.props.get("retentionInDays"))
    if days is not None and 0 < days < 365:
        yield f"retentionInDays is {int(days)}"


@_rule(
    name="aws-eks-control-plane-logging",
    description="EKS clusters send every control-plane log type to CloudWatch.",
    resource_types=(EKS_CLUSTER,),
    concern="logging",
    level=MANDATORY,
    severity="medium",
    anchor="CKV_AWS_37",
    remediation="Set enabledClusterLogTypes: [api, audit, authenticator, controllerManager, scheduler].",
)
def eks_control_plane_logging(args: ResourceValidationArgs) -> Iterator[str]:
    missing = {"api", "audit", "authenticator", "controllerManager", "scheduler"} - set(
        strings(args.props.get("enabledClusterLogTypes"))
    )
    if missing:
        yield f"log types not enabled: {', '.join(sorted(missing))}"


@_rule(
    name="aws-sagemaker-data-capture",
    description="SageMaker endpoints capture requests and responses, encrypted, for monitoring and audit.",
    resource_types=(SAGEMAKER_ENDPOINT_CONFIG,),
    concern="logging",
    level=ADVISORY,
    severity="medium",
    remediation="Set dataCaptureConfig: {enableCapture: true, destinationS3Uri, kmsKeyId, captureOptions: "
    "[Input, Output]}.",
)
def sagemaker_data_capture(args: ResourceValidationArgs) -> Iterator[str]:
    capture = args.props.get("dataCaptureConfig") or {}
    if not is_true(get(capture, "enableCapture")):
        yield "data capture is off"
    elif not is_set(capture, "kmsKeyId"):
        yield "captured data is not encrypted with a CMK"


@_rule(
    name="aws-lb-access-logs",
    description="Load balancers write access logs.",
    resource_types=LOAD_BALANCERS,
    concern="logging",
    level=ADVISORY,
    severity="low",
    anchor="CKV_AWS_91",
    remediation="Set accessLogs: {bucket, enabled: true} to a dedicated log bucket; ELB log delivery supports "
    "SSE-S3 (AES256) only, which aws-s3-bucket-cmk-encryption accepts for such buckets.",
)
def lb_access_logs(args: ResourceValidationArgs) -> Iterator[str]:
    if not is_true(get(args.props, "accessLogs", "enabled")):
        yield "access logs are off"


@_rule(
    name="aws-ecs-container-insights",
    description="ECS clusters collect Container Insights metrics.",
    resource_types=(ECS_CLUSTER,),
    concern="logging",
    level=ADVISORY,
    severity="low",
    anchor="CKV_AWS_65",
    remediation="Add settings: [{name: containerInsights, value: enabled}].",
)
def ecs_container_insights(args: ResourceValidationArgs) -> Iterator[str]:
    settings = {get(s, "name"): get(s, "value") for s in items(args.props.get("settings"))}
    if settings.get("containerInsights") not in ("enabled", "enhanced"):
        yield "containerInsights is not enabled"


@_rule(
    name="aws-alarm-actions-prod",
    description="In prod, every CloudWatch alarm notifies someone: actions enabled and at least one alarm action.",
    resource_types=(METRIC_ALARM,),
    concern="logging",
    level=MANDATORY,
    severity="high",
    prod_only=True,
    remediation="Set alarm_actions to an SNS topic your on-call subscribes to (modelport creates one when unset).",
)
def alarm_actions_prod(args: ResourceValidationArgs) -> Iterator[str]:
    if is_false(args.props.get("actionsEnabled")):
        yield "actionsEnabled is false"
    if not is_set(args.props, "alarmActions"):
        yield "the alarm has no alarmActions: nobody is told when it fires"


# --- WAF --------------------------------------------------------------------------------------------------

_LOG4J_GROUP = "AWSManagedRulesKnownBadInputsRuleSet"


@_rule(
    name="aws-waf-managed-rules",
    description="WAF web ACLs run AWS managed rule groups, including known-bad-inputs (Log4Shell).",
    resource_types=(WEB_ACL,),
    concern="waf",
    level=MANDATORY,
    severity="high",
    anchor="CKV_AWS_192, CKV_AWS_175",
    remediation="Add AWSManagedRulesCommonRuleSet and AWSManagedRulesKnownBadInputsRuleSet rule groups.",
)
def waf_managed_rules(args: ResourceValidationArgs) -> Iterator[str]:
    groups = {get(r, "statement", "managedRuleGroupStatement", "name") for r in items(args.props.get("rules"))}
    if not any(groups - {None}):
        yield "the web ACL has no managed rule groups"
    elif _LOG4J_GROUP not in groups:
        yield f"the web ACL does not include {_LOG4J_GROUP}"


# --- supply chain -----------------------------------------------------------------------------------------


@_rule(
    name="aws-ecr-immutable-tags",
    description="ECR repositories have immutable tags.",
    resource_types=(ECR_REPOSITORY,),
    concern="supply-chain",
    level=MANDATORY,
    severity="high",
    anchor="CKV_AWS_51",
    remediation="Set imageTagMutability: IMMUTABLE.",
)
def ecr_immutable_tags(args: ResourceValidationArgs) -> Iterator[str]:
    if not str(args.props.get("imageTagMutability") or "MUTABLE").startswith("IMMUTABLE"):
        yield "image tags are mutable"


@_rule(
    name="aws-ecr-scan-on-push",
    description="ECR repositories scan images on push.",
    resource_types=(ECR_REPOSITORY,),
    concern="supply-chain",
    level=MANDATORY,
    severity="medium",
    anchor="CKV_AWS_163",
    remediation="Set imageScanningConfiguration: {scanOnPush: true} (or enable registry-level enhanced scanning).",
)
def ecr_scan_on_push(args: ResourceValidationArgs) -> Iterator[str]:
    if not is_true(get(args.props, "imageScanningConfiguration", "scanOnPush")):
        yield "scanOnPush is not true"


@_ecs_rule(
    name="aws-ecs-image-digest",
    description="ECS task definitions run images pinned by digest; required in prod.",
    concern="supply-chain",
    level=ADVISORY,
    severity="high",
    remediation="Use the image's repo@sha256:<digest> reference in the service spec.",
)
def ecs_image_digest(args: ResourceValidationArgs) -> Iterator[str]:
    yield from unpinned_named_containers(container_definitions(args))


@_rule(
    name="aws-lambda-image-digest",
    description="Container-image Lambda functions reference the image by digest; required in prod.",
    resource_types=(LAMBDA_FUNCTION,),
    concern="supply-chain",
    level=ADVISORY,
    severity="high",
    remediation="Set imageUri to <account>.dkr.ecr.<region>.amazonaws.com/<repo>@sha256:<digest>.",
)
def lambda_image_digest(args: ResourceValidationArgs) -> Iterator[str]:
    if args.props.get("packageType") != "Image":
        args.not_applicable("the function is a zip package")
    if not has_digest(args.props.get("imageUri")):
        yield f"imageUri {args.props.get('imageUri')!r} is not pinned by digest"


@_rule(
    name="aws-sagemaker-image-digest",
    description="SageMaker model containers reference their image by digest; required in prod.",
    resource_types=(SAGEMAKER_MODEL,),
    concern="supply-chain",
    level=ADVISORY,
    severity="high",
    remediation="Set primaryContainer.image to repo@sha256:<digest>.",
)
def sagemaker_image_digest(args: ResourceValidationArgs) -> Iterator[str]:
    for container in _sagemaker_containers(args):
        if not has_digest(container.get("image")):
            yield f"image {container.get('image')!r} is not pinned by digest"


@_rule(
    name="aws-vm-image-digest",
    description="Containers started from EC2 user data are pinned by digest; required in prod.",
    resource_types=(LAUNCH_TEMPLATE, INSTANCE),
    concern="supply-chain",
    level=ADVISORY,
    severity="high",
    remediation="Reference the image as repo@sha256:<digest> in the cloud-init `docker run` / `image=` line.",
)
def vm_image_digest(args: ResourceValidationArgs) -> Iterator[str]:
    yield from unpinned_boot_images(args, _user_data(args), "user data", "user data")


RULES = collect(globals())
