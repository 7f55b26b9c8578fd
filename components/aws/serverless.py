"""LambdaService (`serverless`): the serving image as a Lambda container function behind an IAM-authenticated URL.

The image must carry the AWS Lambda Web Adapter (``/opt/extensions/lambda-adapter``), which turns Lambda
invocations into HTTP requests on ``AWS_LWA_PORT``; see components/aws/README.md for the image and sizing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import pulumi
import pulumi_aws as aws

from ..base import component_props, merge_options
from ..spec import Variant
from ..validation import SpecError, check_bool, check_choice, check_int, check_number, check_optional_str
from .alarms import ServiceMetrics, configured_alarms
from .checks import ServiceSpecError, iam_callers, reject_accelerator, require_ecr_image, require_no_artifact
from .iam import AwsContext, role_with_policy, service_trust, statement
from .naming import stack_unique_name
from .pattern import PatternArgs, foundation_for, kms_statement, log_statements, provider_for_target
from .sizing import LAMBDA_MAX_MEMORY_MB, LAMBDA_MAX_VCPUS
from .tagging import tag_children

__all__ = ["ALIAS", "LambdaService", "LambdaServiceArgs", "lambda_memory_mb"]

PATTERN = "the serverless pattern (Lambda)"
ALIAS = "live"
# Lambda allocates one vCPU per 1,769 MB of memory; CPU can only be bought through memory.
MB_PER_VCPU = 1769


def lambda_memory_mb(cpu: float, memory_mib: int) -> int:
    """Memory that gives the function at least ``cpu`` vCPUs and ``memory_mib`` MiB."""
    return max(memory_mib, math.ceil(cpu * MB_PER_VCPU), 128)


@dataclass(frozen=True, kw_only=True)
class LambdaServiceArgs(PatternArgs):
    """Options of the serverless pattern (see components/aws/README.md).

    memory_mb: function memory (128..10240); None sizes it from resources (1,769 MB buys one vCPU).
    timeout_seconds: per-request limit (1..900).
    ephemeral_storage_mb: size of /tmp (512..10240).
    architecture: x86_64 or arm64 (the image must be built for it).
    reserved_concurrency: hard cap on concurrent executions; None uses scaling.max_replicas.
    provisioned_utilization: target utilization of provisioned concurrency for its autoscaling (0.1..0.9).
    in_vpc: attach the function to private subnets (created or yours) with a dedicated security group.
    stable_version: the published version that keeps serving the stable variant during a canary.
    role_arn: bring your own execution role; None creates a scoped one.
    """

    GRPC_REFUSAL: ClassVar[str | None] = (
        "a Lambda function URL speaks HTTP/1.1 request-response only, so gRPC cannot reach the function"
    )

    memory_mb: int | None = None
    timeout_seconds: int = 60
    ephemeral_storage_mb: int = 1024
    architecture: str = "x86_64"
    reserved_concurrency: int | None = None
    provisioned_utilization: float = 0.7
    in_vpc: bool = False
    stable_version: str | None = None
    role_arn: str | None = None

    ECR_ONLY: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        service = self.service
        reject_accelerator(service, PATTERN, "Lambda has no GPUs")
        require_ecr_image(service, PATTERN)
        require_no_artifact(service, PATTERN, "Lambda cannot mount the artifact; bake the model into the image")
        if service.secrets:
            key = next(iter(service.secrets))
            raise ServiceSpecError(
                f"secrets.{key}",
                f"{PATTERN} has no secret injection; read the secret at "
                "start-up with the Parameters and Secrets Lambda extension, or "
                "use the container pattern",
            )
        if service.exposure.domain is not None:
            raise ServiceSpecError(
                "exposure.domain",
                f"{PATTERN} is reached through its function URL, which cannot "
                "serve a custom domain (front it with CloudFront instead)",
            )
        iam_callers(service, PATTERN)
        if self.memory_mb is not None:
            check_int("memory_mb", self.memory_mb, minimum=128, maximum=LAMBDA_MAX_MEMORY_MB)
            if self.memory_mb < service.resources.memory_mib:
                raise SpecError("memory_mb", f"must hold resources.memory_mib ({service.resources.memory_mib})")
        else:
            if service.resources.cpu > LAMBDA_MAX_VCPUS:
                raise ServiceSpecError(
                    "resources.cpu", f"Lambda gives at most {LAMBDA_MAX_VCPUS} vCPUs (got {service.resources.cpu})"
                )
            if service.resources.memory_mib > LAMBDA_MAX_MEMORY_MB:
                raise ServiceSpecError(
                    "resources.memory_mib",
                    f"Lambda memory is at most {LAMBDA_MAX_MEMORY_MB} MB (got {service.resources.memory_mib})",
                )
        if service.scaling.target_concurrency is not None:
            raise ServiceSpecError(
                "scaling.target_concurrency",
                f"{PATTERN} runs one request per execution environment, so there is no per-replica concurrency to "
                "target; provisioned concurrency scales on the target option provisioned_utilization instead. "
                "Remove target_concurrency for this target",
            )
        check_int("timeout_seconds", self.timeout_seconds, minimum=1, maximum=900)
        check_int("ephemeral_storage_mb", self.ephemeral_storage_mb, minimum=512, maximum=10240)
        check_choice("architecture", self.architecture, ("x86_64", "arm64"))
        if self.reserved_concurrency is not None:
            check_int("reserved_concurrency", self.reserved_concurrency, minimum=1)
            if self.reserved_concurrency < service.scaling.max_replicas:
                raise SpecError(
                    "reserved_concurrency",
                    "must be >= scaling.max_replicas "
                    f"({service.scaling.max_replicas}), the ceiling of provisioned concurrency",
                )
        check_number("provisioned_utilization", self.provisioned_utilization, minimum=0.1, maximum=0.9)
        check_bool("in_vpc", self.in_vpc)
        if self.vpc_id is not None and not self.in_vpc:
            raise SpecError("in_vpc", "is false, but vpc_id names a VPC: set in_vpc: true to attach the function")
        check_optional_str(
            "stable_version", self.stable_version, pattern=r"[1-9][0-9]*", description="a published version number"
        )
        self._check_role_arn("role_arn")
        self._check_canary()

    @property
    def request_limit_ms(self) -> int:
        timeout = self.timeout_seconds
        return timeout * 1000 if isinstance(timeout, int) and not isinstance(timeout, bool) else 900_000

    def _check_canary(self) -> None:
        service = self.service
        tracks = service.tracks
        if len(tracks) == 1:
            if self.stable_version is not None:
                raise SpecError("stable_version", "applies only during a canary (two variants)")
            return
        if len(tracks) > 2:
            raise ServiceSpecError(
                "variants", f"{PATTERN} splits traffic between two versions of one alias (got {len(tracks)} variants)"
            )
        if self.stable_version is None:
            raise SpecError(
                "stable_version",
                "a Lambda canary routes the stable variant to an already published "
                "version: set its number (see `aws lambda list-versions-by-function`)",
            )
        canaries = [v for v in tracks if service.image_of(v) != service.image]
        if len(canaries) != 1:
            raise ServiceSpecError(
                "variants",
                "a Lambda canary needs exactly one variant with its own image (the "
                "new version); the other runs stable_version",
            )

    @property
    def resolved_memory_mb(self) -> int:
        if self.memory_mb is not None:
            return self.memory_mb
        return lambda_memory_mb(self.service.resources.cpu, self.service.resources.memory_mib)

    @property
    def canary(self) -> Variant | None:
        service = self.service
        if len(service.tracks) == 1:
            return None
        return next(v for v in service.tracks if service.image_of(v) != service.image)


class LambdaService(pulumi.ComponentResource):
    """Lambda function (image by digest), alias ``live`` with provisioned concurrency autoscaling, IAM URL."""

    args_type = LambdaServiceArgs
    provider_for_target = staticmethod(provider_for_target)

    endpoint: pulumi.Output[str]
    identity: pulumi.Output[str]

    def __init__(self, name: str, args: LambdaServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(
            "modelport:aws:LambdaService",
            name,
            component_props(args),
            merge_options(opts, transformations=[tag_children(args.service)]),
        )
        self._args = args
        svc = args.service
        child = pulumi.ResourceOptions(parent=self)
        function_name = stack_unique_name(name, 64)
        self.foundation = foundation_for(self, name, args, needs_network=args.in_vpc)
        foundation = self.foundation
        ctx: AwsContext = foundation.context

        self.security_group: aws.ec2.SecurityGroup | None = None
        if args.in_vpc:
            self.security_group = aws.ec2.SecurityGroup(
                f"{name}-function-sg", vpc_id=foundation.vpc_id, description=f"Lambda function of {name}", opts=child
            )
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-function-https-out",
                security_group_id=self.security_group.id,
                ip_protocol="tcp",
                from_port=443,
                to_port=443,
                cidr_ipv4="0.0.0.0/0",
                description="HTTPS to AWS APIs",
                opts=child,
            )

        self.role, self.role_arn, role_policy = self._role(name, ctx)

        canary = args.canary
        image = svc.image_of(canary) if canary is not None else svc.image
        env = {
            "AWS_LWA_PORT": str(svc.port),
            "AWS_LWA_READINESS_CHECK_PATH": svc.health.ready_path,
            # Model loading may outlast Lambda's 10 s init phase; the adapter then keeps waiting in the first call.
            "AWS_LWA_ASYNC_INIT": "true",
            **svc.serving_env(),
        }
        function_args: dict[str, Any] = {}
        if args.in_vpc:
            assert self.security_group is not None
            function_args["vpc_config"] = {
                "subnet_ids": foundation.private_subnet_ids,
                "security_group_ids": [self.security_group.id],
            }
        if foundation.kms_key_arn is not None:
            function_args["kms_key_arn"] = foundation.kms_key_arn
        self.function = aws.lambda_.Function(
            f"{name}-function",
            name=function_name,
            description=f"{svc.name} model server ({name})",
            package_type="Image",
            image_uri=image,
            role=self.role_arn,
            architectures=[args.architecture],
            memory_size=args.resolved_memory_mb,
            timeout=args.timeout_seconds,
            ephemeral_storage={"size": args.ephemeral_storage_mb},
            reserved_concurrent_executions=args.reserved_concurrency or svc.scaling.max_replicas,
            publish=True,
            tracing_config={"mode": "Active"},
            logging_config={
                "log_format": "JSON",
                "log_group": foundation.log_group_name,
                "application_log_level": "INFO",
                "system_log_level": "WARN",
            },
            environment={"variables": env},
            **function_args,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[p for p in (role_policy,) if p is not None]),
        )

        routing: dict[str, Any] = {}
        if canary is not None:
            weight = canary.weight / 100
            routing["routing_config"] = {
                "additional_version_weights": self.function.version.apply(lambda version: {version: weight})
            }
        self.alias = aws.lambda_.Alias(
            f"{name}-alias",
            name=ALIAS,
            description="The version(s) serving traffic",
            function_name=self.function.name,
            function_version=args.stable_version or self.function.version,
            **routing,
            opts=child,
        )
        self.provisioned_concurrency = aws.lambda_.ProvisionedConcurrencyConfig(
            f"{name}-provisioned",
            function_name=self.function.name,
            qualifier=self.alias.name,
            provisioned_concurrent_executions=svc.min_replicas,
            # Application Auto Scaling owns the value after creation.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["provisionedConcurrentExecutions"]),
        )
        self.scaling_target = aws.appautoscaling.Target(
            f"{name}-scaling-target",
            service_namespace="lambda",
            scalable_dimension="lambda:function:ProvisionedConcurrency",
            resource_id=pulumi.Output.concat("function:", self.function.name, ":", self.alias.name),
            min_capacity=svc.min_replicas,
            max_capacity=svc.scaling.max_replicas,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.provisioned_concurrency]),
        )
        aws.appautoscaling.Policy(
            f"{name}-provisioned-target",
            policy_type="TargetTrackingScaling",
            service_namespace=self.scaling_target.service_namespace,
            scalable_dimension=self.scaling_target.scalable_dimension,
            resource_id=self.scaling_target.resource_id,
            target_tracking_scaling_policy_configuration={
                "predefined_metric_specification": {
                    "predefined_metric_type": "LambdaProvisionedConcurrencyUtilization"
                },
                "target_value": args.provisioned_utilization,
                "scale_in_cooldown": 300,
                "scale_out_cooldown": 30,
            },
            opts=child,
        )

        self.url = aws.lambda_.FunctionUrl(
            f"{name}-url",
            function_name=self.function.name,
            qualifier=self.alias.name,
            authorization_type="AWS_IAM",
            invoke_mode="BUFFERED",
            opts=child,
        )
        self.permissions: list[aws.lambda_.Permission] = []
        for index, caller in enumerate(iam_callers(svc, PATTERN)):
            # Function URL callers need both permissions: the URL action and, via the URL, the invoke itself.
            self.permissions.append(
                aws.lambda_.Permission(
                    f"{name}-url-caller-{index}",
                    action="lambda:InvokeFunctionUrl",
                    function=self.function.name,
                    qualifier=self.alias.name,
                    principal=caller,
                    function_url_auth_type="AWS_IAM",
                    opts=child,
                )
            )
            self.permissions.append(
                aws.lambda_.Permission(
                    f"{name}-invoke-caller-{index}",
                    action="lambda:InvokeFunction",
                    function=self.function.name,
                    qualifier=self.alias.name,
                    principal=caller,
                    invoked_via_function_url=True,
                    opts=child,
                )
            )

        self.alarms: list[aws.cloudwatch.MetricAlarm] = []
        if args.alarms_enabled:
            metrics = ServiceMetrics(
                namespace="AWS/Lambda",
                dimensions={
                    "FunctionName": self.function.name,
                    "Resource": pulumi.Output.concat(self.function.name, ":", ALIAS),
                },
                request_metric="UrlRequestCount",
                error_metrics=("Url5xxCount",),
                latency_metric="UrlRequestLatency",
            )
            self.alarms = list(configured_alarms(name, metrics, args, self))

        self.endpoint = self.url.function_url
        self.identity = self.role_arn
        self.register_outputs(
            {
                "endpoint": self.endpoint,
                "identity": self.identity,
                "function_arn": self.function.arn,
                "alias_arn": self.alias.arn,
            }
        )

    def _role(
        self, name: str, ctx: AwsContext
    ) -> tuple[aws.iam.Role | None, pulumi.Output[str], aws.iam.RolePolicy | None]:
        args = self._args
        foundation = self.foundation
        if args.role_arn is not None:
            return None, pulumi.Output.from_input(args.role_arn), None
        keys = [foundation.kms_key_arn] if foundation.kms_key_arn is not None else []
        statements = (
            log_statements(foundation.log_group_arn)
            # X-Ray has no resource-level permissions for these two actions.
            + [statement("WriteTraces", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "*")]
            + kms_statement("DecryptTheEnvironment", keys, ["kms:Decrypt"])
        )
        if args.in_vpc:
            assert self.security_group is not None
            interfaces = ctx.arn("ec2", "network-interface/*")
            subnets = [ctx.arn("ec2", pulumi.Output.concat("subnet/", s)) for s in foundation.private_subnet_ids]
            group = ctx.arn("ec2", pulumi.Output.concat("security-group/", self.security_group.id))
            statements += [
                statement("CreateFunctionInterfaces", ["ec2:CreateNetworkInterface"], [interfaces, *subnets, group]),
                statement(
                    "ManageFunctionInterfaces",
                    ["ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"],
                    [interfaces],
                ),
                # Describe calls have no resource-level permissions.
                statement("DescribeFunctionNetwork", ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"], "*"),
            ]
        role, policy = role_with_policy(
            f"{name}-role",
            base_name=f"{name}-function",
            trust=service_trust(ctx, "lambda"),
            statements=statements,
            description=f"Lambda function of {name}: logs, traces, environment key"
            + (", VPC interfaces" if args.in_vpc else ""),
            parent=self,
        )
        return role, role.arn, policy
