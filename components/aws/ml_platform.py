"""SageMakerEndpoint (`ml_platform`): a SageMaker real-time endpoint with weighted variants, blue/green canary
deployments that roll back on the alarms, data capture and per-variant autoscaling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import pulumi
import pulumi_aws as aws

from ..base import component_props, merge_options
from ..spec import Variant, split_replicas
from ..validation import SpecError, check_int
from .alarms import ALARM_DETECTION_SECONDS, ServiceMetrics, configured_alarms
from .checks import (
    ServiceSpecError,
    iam_callers,
    require_ecr_image,
    s3_artifact,
)
from .foundation import BASE_INTERFACE_ENDPOINTS
from .iam import AwsContext, role_with_policy, service_trust, statement
from .naming import physical_name, stack_unique_name
from .pattern import (
    PatternArgs,
    artifact_statements,
    foundation_for,
    kms_statement,
    provider_for_target,
    pull_statements,
)
from .sizing import SAGEMAKER_SHAPES, check_instance_type, has_local_nvme, pick_instance
from .tagging import tag_children

__all__ = ["SageMakerEndpoint", "SageMakerEndpointArgs"]

PATTERN = "the ml_platform pattern (SageMaker)"
# SageMaker sends /ping and /invocations to port 8080 of the container; the serving image listens there.
SAGEMAKER_PORT = 8080
DATA_CAPTURE_PREFIX = "data-capture"


@dataclass(frozen=True, kw_only=True)
class SageMakerEndpointArgs(PatternArgs):
    """Options of the ml_platform pattern (see components/aws/README.md).

    instance_type: ml.* type per instance; None picks the smallest ml.m5 (or GPU family) that fits resources.
    data_capture_percent: share of requests and responses captured to the artifact bucket (0 disables).
    invocations_per_instance: per-minute invocations per instance that variant autoscaling keeps.
    canary_percent: share of the new fleet's capacity that takes traffic first in a blue/green update (1..50).
    canary_wait_seconds: how long the canary bakes, watched by the alarms, before all traffic shifts.
    role_arn: bring your own execution role; None creates a scoped one.
    """

    GRPC_REFUSAL: ClassVar[str | None] = (
        "SageMaker real-time endpoints are invoked through the SageMaker runtime API (InvokeEndpoint over "
        "HTTPS), which carries no gRPC"
    )

    instance_type: str | None = None
    data_capture_percent: int = 20
    invocations_per_instance: int = 600
    canary_percent: int = 10
    canary_wait_seconds: int = 600
    role_arn: str | None = None

    ECR_ONLY: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        service = self.service
        require_ecr_image(service, PATTERN)
        s3_artifact(service, PATTERN)
        if service.secrets:
            key = next(iter(service.secrets))
            raise ServiceSpecError(
                f"secrets.{key}",
                f"{PATTERN} runs the model with network isolation and cannot "
                "inject secrets; the model server needs none",
            )
        if service.exposure.domain is not None:
            raise ServiceSpecError(
                "exposure.domain",
                f"{PATTERN} is invoked through the SageMaker runtime API with "
                "IAM (SigV4), which serves no custom domain",
            )
        iam_callers(service, PATTERN)
        if self.instance_type is not None:
            check_instance_type("instance_type", self.instance_type, service, sagemaker=True)
        else:
            pick_instance(service, SAGEMAKER_SHAPES, "instance_type")
        check_int("data_capture_percent", self.data_capture_percent, minimum=0, maximum=100)
        check_int("invocations_per_instance", self.invocations_per_instance, minimum=1, maximum=1_000_000)
        check_int("canary_percent", self.canary_percent, minimum=1, maximum=50)
        check_int("canary_wait_seconds", self.canary_wait_seconds, minimum=0, maximum=3600)
        if self.profile.name == "prod" and self.canary_wait_seconds < ALARM_DETECTION_SECONDS:
            raise SpecError(
                "canary_wait_seconds",
                f"the rollback alarms need {ALARM_DETECTION_SECONDS} s of data to fire, so a "
                f"{self.canary_wait_seconds} s bake shifts all traffic before they can; prod bakes at least "
                f"{ALARM_DETECTION_SECONDS} s",
            )
        self._check_role_arn("role_arn")
        if self.log_group_name is not None:
            raise SpecError(
                "log_group_name",
                "SageMaker writes endpoint logs to /aws/sagemaker/Endpoints/<name>, "
                "which this component creates encrypted; the option does not apply",
            )

    @property
    def resolved_instance_type(self) -> str:
        return self.instance_type or pick_instance(self.service, SAGEMAKER_SHAPES, "instance_type").name


class SageMakerEndpoint(pulumi.ComponentResource):
    """Model per variant, endpoint configuration (KMS, data capture), endpoint with blue/green canary, scaling."""

    args_type = SageMakerEndpointArgs
    provider_for_target = staticmethod(provider_for_target)

    endpoint: pulumi.Output[str]
    identity: pulumi.Output[str]

    def __init__(self, name: str, args: SageMakerEndpointArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(
            "modelport:aws:SageMakerEndpoint",
            name,
            component_props(args),
            merge_options(opts, transformations=[tag_children(args.service)]),
        )
        self._args = args
        svc = args.service
        child = pulumi.ResourceOptions(parent=self)
        self.endpoint_name = stack_unique_name(name, 63)
        self.foundation = foundation_for(
            self,
            name,
            args,
            interface_endpoints=(*BASE_INTERFACE_ENDPOINTS, "sagemaker.runtime"),
            needs_log_group=False,
        )
        foundation = self.foundation
        ctx: AwsContext = foundation.context
        self.artifact = s3_artifact(svc, PATTERN)

        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-model-sg",
            vpc_id=foundation.vpc_id,
            description=f"SageMaker model containers of {name}",
            opts=child,
        )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-model-https-out",
            security_group_id=self.security_group.id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            cidr_ipv4="0.0.0.0/0",
            description="model download from S3",
            opts=child,
        )

        # SageMaker writes endpoint logs to this fixed name; created first, it is encrypted and has a retention.
        self.log_group = foundation.encrypted_log_group(
            f"{name}-endpoint-logs", f"/aws/sagemaker/Endpoints/{self.endpoint_name}", parent=self
        )
        capture = foundation.artifact_bucket_name is not None and args.data_capture_percent > 0
        self.role, self.role_arn, role_policy = self._role(name, ctx, capture)

        instance_type = args.resolved_instance_type
        tracks = [t for t in svc.tracks if t.weight > 0]
        # min_replicas is honoured exactly (the policy pack judges the prod floor on the whole service).
        weights = [t.weight for t in tracks]
        minimums = split_replicas(svc.min_replicas, weights)
        maximums = split_replicas(svc.scaling.max_replicas, weights)
        self.models: dict[str, aws.sagemaker.Model] = {}
        variants = []
        for track, low in zip(tracks, minimums, strict=True):
            model = self._model(name, track, role_policy)
            self.models[track.name] = model
            variants.append(
                {
                    "variant_name": track.name,
                    "model_name": model.name,
                    "instance_type": instance_type,
                    "initial_instance_count": low,
                    "initial_variant_weight": float(track.weight),
                    "routing_configs": [{"routing_strategy": "LEAST_OUTSTANDING_REQUESTS"}],
                    "container_startup_health_check_timeout_in_seconds": max(60, svc.health.startup_seconds),
                    "model_data_download_timeout_in_seconds": 1800,
                }
            )

        config_args: dict[str, Any] = {}
        # Instance types with local NVMe storage are encrypted in hardware; SageMaker refuses a KMS key for them.
        if foundation.kms_key_arn is not None and not has_local_nvme(instance_type):
            config_args["kms_key_arn"] = foundation.kms_key_arn
        if capture:
            config_args["data_capture_config"] = {
                "enable_capture": True,
                "initial_sampling_percentage": args.data_capture_percent,
                "destination_s3_uri": pulumi.Output.concat(
                    "s3://", foundation.artifact_bucket_name, f"/{DATA_CAPTURE_PREFIX}/{svc.name}"
                ),
                "capture_options": [{"capture_mode": "Input"}, {"capture_mode": "Output"}],
                **({"kms_key_id": foundation.kms_key_arn} if foundation.kms_key_arn is not None else {}),
            }
        self.endpoint_configuration = aws.sagemaker.EndpointConfiguration(
            f"{name}-config",
            name_prefix=physical_name(name, 36, suffix="-"),
            production_variants=variants,
            **config_args,
            opts=child,
        )

        metrics_alarms: list[aws.cloudwatch.MetricAlarm] = []
        # The alarms are what blue/green deployments roll back on, so they exist whatever the profile says.
        for track in tracks:
            metrics = ServiceMetrics(
                namespace="AWS/SageMaker",
                dimensions={"EndpointName": self.endpoint_name, "VariantName": track.name},
                request_metric="Invocations",
                error_metrics=("Invocation5XXErrors",),
                latency_metric="ModelLatency",
                latency_scale=1000.0,  # ModelLatency is in microseconds
                label=track.name,
            )
            metrics_alarms += configured_alarms(name, metrics, args, self)
        self.alarms = metrics_alarms

        self.sagemaker_endpoint = aws.sagemaker.Endpoint(
            f"{name}-endpoint",
            name=self.endpoint_name,
            endpoint_config_name=self.endpoint_configuration.name,
            deployment_config={
                "blue_green_update_policy": {
                    "traffic_routing_configuration": {
                        "type": "CANARY",
                        "canary_size": {"type": "CAPACITY_PERCENT", "value": args.canary_percent},
                        "wait_interval_in_seconds": args.canary_wait_seconds,
                    },
                    "termination_wait_in_seconds": 300,
                    "maximum_execution_timeout_in_seconds": max(3600, args.canary_wait_seconds + 1800),
                },
                "auto_rollback_configuration": {"alarms": [{"alarm_name": a.name} for a in metrics_alarms]},
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*metrics_alarms, self.log_group]),
        )

        self.scaling_targets: dict[str, aws.appautoscaling.Target] = {}
        for track, low, high in zip(tracks, minimums, maximums, strict=True):
            target = aws.appautoscaling.Target(
                f"{name}-{track.name}-scaling-target",
                service_namespace="sagemaker",
                scalable_dimension="sagemaker:variant:DesiredInstanceCount",
                resource_id=pulumi.Output.concat("endpoint/", self.sagemaker_endpoint.name, f"/variant/{track.name}"),
                min_capacity=low,
                max_capacity=max(low, high),
                opts=child,
            )
            self.scaling_targets[track.name] = target
            aws.appautoscaling.Policy(
                f"{name}-{track.name}-invocations-target",
                policy_type="TargetTrackingScaling",
                service_namespace=target.service_namespace,
                scalable_dimension=target.scalable_dimension,
                resource_id=target.resource_id,
                target_tracking_scaling_policy_configuration={
                    "predefined_metric_specification": {
                        "predefined_metric_type": "SageMakerVariantInvocationsPerInstance"
                    },
                    "target_value": float(args.invocations_per_instance),
                    "scale_in_cooldown": 600,
                    "scale_out_cooldown": 120,
                },
                opts=child,
            )
            if svc.scaling.target_concurrency is not None:
                # Concurrent requests per model container, published every 10 s: scales out faster than invocations.
                aws.appautoscaling.Policy(
                    f"{name}-{track.name}-concurrency-target",
                    policy_type="TargetTrackingScaling",
                    service_namespace=target.service_namespace,
                    scalable_dimension=target.scalable_dimension,
                    resource_id=target.resource_id,
                    target_tracking_scaling_policy_configuration={
                        "predefined_metric_specification": {
                            "predefined_metric_type": "SageMakerVariantConcurrentRequestsPerModelHighResolution"
                        },
                        "target_value": float(svc.scaling.target_concurrency),
                        "scale_in_cooldown": 600,
                        "scale_out_cooldown": 60,
                    },
                    opts=child,
                )

        self.endpoint = pulumi.Output.concat(
            "https://runtime.sagemaker.",
            ctx.region,
            ".",
            ctx.dns_suffix,
            "/endpoints/",
            self.sagemaker_endpoint.name,
            "/invocations",
        )
        self.identity = self.role_arn
        self.register_outputs(
            {"endpoint": self.endpoint, "identity": self.identity, "endpoint_arn": self.sagemaker_endpoint.arn}
        )

    def _model(self, name: str, track: Variant, role_policy: aws.iam.RolePolicy | None) -> aws.sagemaker.Model:
        args = self._args
        svc = args.service
        foundation = self.foundation
        image = svc.image_of(track)
        container: dict[str, Any] = {
            "image": image,
            "mode": "SingleModel",
            "environment": svc.serving_env(port=SAGEMAKER_PORT),
        }
        artifact = self.artifact
        if artifact is not None and artifact.is_archive:
            container["model_data_url"] = artifact.uri
        elif artifact is not None:
            container["model_data_source"] = {
                "s3_data_sources": [
                    {
                        "s3_uri": f"s3://{artifact.bucket}/{artifact.prefix}",
                        "s3_data_type": "S3Prefix",
                        "compression_type": "None",
                    }
                ]
            }
        # A model is immutable: its name carries a digest of what it runs, so an update creates a new model
        # before the old one goes, and the endpoint moves over in a blue/green deployment.
        model_name = stack_unique_name(
            f"{name}-{track.name}", 63, salt=(image, artifact.uri if artifact else "", repr(sorted(svc.env.items())))
        )
        return aws.sagemaker.Model(
            f"{name}-{track.name}-model",
            name=model_name,
            execution_role_arn=self.role_arn,
            enable_network_isolation=True,
            primary_container=container,
            vpc_config={"subnets": foundation.private_subnet_ids, "security_group_ids": [self.security_group.id]},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[p for p in (role_policy,) if p is not None]),
        )

    def _role(
        self, name: str, ctx: AwsContext, capture: bool
    ) -> tuple[aws.iam.Role | None, pulumi.Output[str], aws.iam.RolePolicy | None]:
        args = self._args
        foundation = self.foundation
        if args.role_arn is not None:
            return None, pulumi.Output.from_input(args.role_arn), None
        svc = args.service
        repositories = sorted({ref.repository_arn for ref in require_ecr_image(svc, PATTERN)})
        keys = [foundation.kms_key_arn] if foundation.kms_key_arn is not None else []
        interfaces = ctx.arn("ec2", "network-interface/*")
        subnets = [ctx.arn("ec2", pulumi.Output.concat("subnet/", s)) for s in foundation.private_subnet_ids]
        group = ctx.arn("ec2", pulumi.Output.concat("security-group/", self.security_group.id))
        log_group = self.log_group.arn
        statements = (
            pull_statements(repositories)
            + artifact_statements(ctx, self.artifact)
            + [
                statement(
                    "WriteEndpointLogs",
                    ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                    [log_group, pulumi.Output.concat(log_group, ":log-stream:*")],
                )
            ]
            + kms_statement(
                "UseTheServiceKey",
                keys,
                ["kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt"] if capture else ["kms:Decrypt"],
            )
            + [
                statement("CreateModelInterfaces", ["ec2:CreateNetworkInterface"], [interfaces, *subnets, group]),
                statement(
                    "ManageModelInterfaces",
                    [
                        "ec2:CreateNetworkInterfacePermission",
                        "ec2:DeleteNetworkInterface",
                        "ec2:DeleteNetworkInterfacePermission",
                    ],
                    [interfaces],
                ),
                # Describe calls have no resource-level permissions.
                statement(
                    "DescribeModelNetwork",
                    [
                        "ec2:DescribeNetworkInterfaces",
                        "ec2:DescribeVpcs",
                        "ec2:DescribeDhcpOptions",
                        "ec2:DescribeSubnets",
                        "ec2:DescribeSecurityGroups",
                    ],
                    "*",
                ),
            ]
        )
        if capture:
            statements.append(
                statement(
                    "WriteDataCapture",
                    ["s3:PutObject"],
                    [pulumi.Output.concat(foundation.artifact_bucket_arn, f"/{DATA_CAPTURE_PREFIX}/{svc.name}/*")],
                )
            )
        role, policy = role_with_policy(
            f"{name}-execution-role",
            base_name=f"{name}-sagemaker",
            trust=service_trust(ctx, "sagemaker"),
            statements=statements,
            description=f"SageMaker models of {name}: pull, read the artifact, log, capture data",
            parent=self,
        )
        return role, role.arn, policy
