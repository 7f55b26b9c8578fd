"""EcsService (`container`): the model server on ECS Fargate behind an ALB, one ECS service per weighted track."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from ..base import component_props, merge_options
from ..spec import Variant, split_replicas
from ..validation import SpecError, check_choice, check_int, check_str
from .checks import alb_caller_cidrs, ecr_image, reject_accelerator, require_aws_secrets, require_no_artifact
from .iam import AwsContext, role_with_policy, service_trust
from .loadbalancer import AlbArgs, pattern_load_balancer
from .naming import stack_unique_name
from .pattern import (
    foundation_for,
    log_statements,
    provider_for_target,
    pull_statements,
    secret_statements,
)
from .sizing import check_fargate_size, fargate_size
from .tagging import tag_children

__all__ = ["CONTAINER_NAME", "EcsService", "EcsServiceArgs"]

PATTERN = "the container pattern (ECS Fargate)"
CONTAINER_NAME = "model-server"
RUN_AS = "10001:10001"
CLUSTER_ARN = r"arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:cluster/[A-Za-z0-9_-]{1,255}"
ECS_HEALTH_START_MAX = 300


@dataclass(frozen=True, kw_only=True)
class EcsServiceArgs(AlbArgs):
    """Options of the container pattern (see components/aws/README.md).

    task_cpu / task_memory: Fargate task size (CPU units / MiB); None derives the smallest valid size from
        ``resources``. Set both or neither; the pair must be a valid Fargate combination.
    architecture: X86_64 or ARM64 (Graviton; the image must be built for it).
    cluster_arn: run in your ECS cluster; None creates one with Container Insights.
    execution_role_arn / task_role_arn: bring your own roles; None creates scoped ones.
    container_insights: enabled or enhanced.
    """

    task_cpu: int | None = None
    task_memory: int | None = None
    architecture: str = "X86_64"
    cluster_arn: str | None = None
    execution_role_arn: str | None = None
    task_role_arn: str | None = None
    container_insights: str = "enabled"

    def __post_init__(self) -> None:
        super().__post_init__()
        service = self.service
        reject_accelerator(service, PATTERN, "Fargate has no GPUs")
        require_no_artifact(
            service,
            PATTERN,
            "the serving image reads local or gs:// models; bake the model "
            "into the image, or use the vm or ml_platform pattern for s3://",
        )
        require_aws_secrets(service, PATTERN, json_keys=True)
        self._check_load_balancer(PATTERN)
        alb_caller_cidrs(service, PATTERN, authenticator=self.authenticator)
        if (self.task_cpu is None) != (self.task_memory is None):
            raise SpecError(
                "task_memory" if self.task_memory is None else "task_cpu",
                "set task_cpu and task_memory together, or neither",
            )
        if self.task_cpu is not None:
            check_int("task_cpu", self.task_cpu)
            check_int("task_memory", self.task_memory)
            check_fargate_size(self.task_cpu, self.task_memory)  # type: ignore[arg-type]
            if self.task_memory < service.resources.memory_mib:  # type: ignore[operator]
                raise SpecError("task_memory", f"must hold resources.memory_mib ({service.resources.memory_mib})")
        else:
            fargate_size(service.resources.cpu, service.resources.memory_mib)
        check_choice("architecture", self.architecture, ("X86_64", "ARM64"))
        if self.cluster_arn is not None:
            check_str("cluster_arn", self.cluster_arn, pattern=CLUSTER_ARN, description="an ECS cluster ARN")
        self._check_role_arn("execution_role_arn")
        self._check_role_arn("task_role_arn")
        check_choice("container_insights", self.container_insights, ("enabled", "enhanced"))

    @property
    def size(self) -> tuple[int, int]:
        if self.task_cpu is not None and self.task_memory is not None:
            return self.task_cpu, self.task_memory
        return fargate_size(self.service.resources.cpu, self.service.resources.memory_mib)


class EcsService(pulumi.ComponentResource):
    """The model service on Fargate: cluster, task definition and service per track, ALB, App Auto Scaling."""

    args_type = EcsServiceArgs
    provider_for_target = staticmethod(provider_for_target)

    endpoint: pulumi.Output[str]
    identity: pulumi.Output[str]

    def __init__(self, name: str, args: EcsServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(
            "modelport:aws:EcsService",
            name,
            component_props(args),
            merge_options(opts, transformations=[tag_children(args.service)]),
        )
        self._args = args
        svc = args.service
        child = pulumi.ResourceOptions(parent=self)
        self.foundation = foundation_for(self, name, args)
        ctx: AwsContext = self.foundation.context

        if args.cluster_arn is not None:
            self.cluster = None
            self.cluster_arn = pulumi.Output.from_input(args.cluster_arn)
            self.cluster_name = pulumi.Output.from_input(args.cluster_arn.rsplit("/", 1)[-1])
        else:
            self.cluster = aws.ecs.Cluster(
                f"{name}-cluster",
                settings=[{"name": "containerInsights", "value": args.container_insights}],
                opts=child,
            )
            self.cluster_arn = self.cluster.arn
            self.cluster_name = self.cluster.name

        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-tasks-sg", vpc_id=self.foundation.vpc_id, description=f"Model server tasks of {name}", opts=child
        )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-tasks-https-out",
            security_group_id=self.security_group.id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            cidr_ipv4="0.0.0.0/0",
            description="HTTPS to AWS APIs and the registry",
            opts=child,
        )

        self.execution_role, self.execution_role_arn = self._execution_role(name, ctx)
        self.task_role, self.task_role_arn = self._task_role(name, ctx)

        tracks = svc.tracks
        self.load_balancer, self.alarms = pattern_load_balancer(
            self,
            name,
            args,
            foundation=self.foundation,
            target_type="ip",
            target_security_group=self.security_group,
            pattern=PATTERN,
        )

        self.task_definitions: dict[str, aws.ecs.TaskDefinition] = {}
        self.services: dict[str, aws.ecs.Service] = {}
        self.scaling_targets: dict[str, aws.appautoscaling.Target] = {}
        self.concurrency_policies: dict[str, aws.appautoscaling.Policy] = {}
        weights = [t.weight for t in tracks]
        minimums = split_replicas(svc.min_replicas, weights)
        maximums = split_replicas(svc.scaling.max_replicas, weights)
        # min_replicas is honoured exactly; the policy pack judges the prod floor on the whole service.
        for track, low, high in zip(tracks, minimums, maximums, strict=True):
            if track.weight == 0:
                continue
            self._track(name, track, low, max(low, high), ctx)

        self.endpoint = self.load_balancer.url
        self.identity = self.task_role_arn
        self.register_outputs({"endpoint": self.endpoint, "identity": self.identity, "cluster_arn": self.cluster_arn})

    # --- identity ---

    def _execution_role(self, name: str, ctx: AwsContext) -> tuple[aws.iam.Role | None, pulumi.Output[str]]:
        args = self._args
        if args.execution_role_arn is not None:
            return None, pulumi.Output.from_input(args.execution_role_arn)
        repositories = list(self.foundation.repository_arns)
        repositories += sorted(
            {
                ref.repository_arn
                for v in args.service.tracks
                if (ref := ecr_image(args.service.image_of(v))) is not None
            }
        )
        role, _ = role_with_policy(
            f"{name}-execution-role",
            base_name=f"{name}-execution",
            trust=self._ecs_trust(ctx),
            statements=(
                pull_statements(repositories)
                + log_statements(self.foundation.log_group_arn)
                + secret_statements(args.service, args.secrets_kms_key_arns)
            ),
            description=f"ECS agent for {name}: pull the image, write logs, inject the referenced secrets",
            parent=self,
        )
        return role, role.arn

    def _task_role(self, name: str, ctx: AwsContext) -> tuple[aws.iam.Role | None, pulumi.Output[str]]:
        args = self._args
        if args.task_role_arn is not None:
            return None, pulumi.Output.from_input(args.task_role_arn)
        # The model server calls no AWS API: its role is an identity with no permissions.
        role, _ = role_with_policy(
            f"{name}-task-role",
            base_name=f"{name}-task",
            trust=self._ecs_trust(ctx),
            statements=[],
            description=f"Model server tasks of {name} (no AWS permissions)",
            parent=self,
        )
        return role, role.arn

    @staticmethod
    def _ecs_trust(ctx: AwsContext) -> pulumi.Output[str]:
        return service_trust(
            ctx,
            "ecs-tasks",
            condition={
                "StringEquals": {"aws:SourceAccount": ctx.account_id},
                "ArnLike": {"aws:SourceArn": ctx.arn("ecs", "*")},
            },
        )

    # --- one track ---

    def _container(self, track: Variant, region: str, log_group: str) -> dict[str, Any]:
        svc = self._args.service
        env = {"MODELPORT_TRACK": track.name, **svc.serving_env()}
        probe = (
            f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{svc.port}"
            f"{svc.health.live_path}', timeout=3)"
        )
        return {
            "name": CONTAINER_NAME,
            "image": svc.image_of(track),
            "essential": True,
            "user": RUN_AS,
            "readonlyRootFilesystem": True,
            "privileged": False,
            "portMappings": [
                {"name": "http", "containerPort": svc.port, "protocol": "tcp"},
                *([{"name": "grpc", "containerPort": svc.grpc_port, "protocol": "tcp"}] if svc.grpc_port else []),
            ],
            "environment": [{"name": k, "value": v} for k, v in env.items()],
            "secrets": [{"name": k, "valueFrom": ref.reference} for k, ref in sorted(svc.secrets.items())],
            "linuxParameters": {"capabilities": {"drop": ["ALL"]}, "initProcessEnabled": True},
            "mountPoints": [{"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}],
            "healthCheck": {
                "command": ["CMD", "python", "-c", probe],
                "interval": 15,
                "timeout": 5,
                "retries": 3,
                "startPeriod": min(svc.health.startup_seconds, ECS_HEALTH_START_MAX),
            },
            "stopTimeout": 30,
            "ulimits": [{"name": "nofile", "softLimit": 65536, "hardLimit": 65536}],
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": log_group,
                    "awslogs-region": region,
                    "awslogs-stream-prefix": track.name,
                    "mode": "non-blocking",
                    "max-buffer-size": "25m",
                },
            },
        }

    def _track(self, name: str, track: Variant, low: int, high: int, ctx: AwsContext) -> None:
        args = self._args
        svc = args.service
        child = pulumi.ResourceOptions(parent=self)
        resource = name if len(svc.tracks) == 1 else f"{name}-{track.name}"
        cpu, memory = args.size
        definitions = pulumi.Output.all(ctx.region, self.foundation.log_group_name).apply(
            lambda values: pulumi.Output.json_dumps([self._container(track, values[0], values[1])])
        )
        task = aws.ecs.TaskDefinition(
            f"{resource}-task",
            family=stack_unique_name(resource, 255),
            requires_compatibilities=["FARGATE"],
            network_mode="awsvpc",
            cpu=str(cpu),
            memory=str(memory),
            execution_role_arn=self.execution_role_arn,
            task_role_arn=self.task_role_arn,
            runtime_platform={"operating_system_family": "LINUX", "cpu_architecture": args.architecture},
            volumes=[{"name": "tmp"}],
            container_definitions=definitions,
            opts=child,
        )
        self.task_definitions[track.name] = task
        service_args: dict[str, Any] = {}
        if self.alarms:
            service_args["alarms"] = {"alarm_names": [a.name for a in self.alarms], "enable": True, "rollback": True}
        ecs_service = aws.ecs.Service(
            f"{resource}-service",
            cluster=self.cluster_arn,
            task_definition=task.arn,
            desired_count=low,
            launch_type="FARGATE",
            platform_version="LATEST",
            network_configuration={
                "subnets": self.foundation.private_subnet_ids,
                "security_groups": [self.security_group.id],
                "assign_public_ip": False,
            },
            load_balancers=[
                {
                    "target_group_arn": self.load_balancer.target_groups[track.name].arn,
                    "container_name": CONTAINER_NAME,
                    "container_port": svc.port,
                },
                *(
                    [
                        {
                            "target_group_arn": self.load_balancer.grpc_target_groups[track.name].arn,
                            "container_name": CONTAINER_NAME,
                            "container_port": svc.grpc_port,
                        }
                    ]
                    if svc.grpc_port
                    else []
                ),
            ],
            deployment_circuit_breaker={"enable": True, "rollback": True},
            deployment_minimum_healthy_percent=100,
            deployment_maximum_percent=200,
            health_check_grace_period_seconds=svc.health.startup_seconds,
            availability_zone_rebalancing="ENABLED",
            enable_execute_command=False,
            enable_ecs_managed_tags=True,
            propagate_tags="SERVICE",
            wait_for_steady_state=False,
            **service_args,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[self.load_balancer.listener], ignore_changes=["desiredCount"]
            ),
        )
        self.services[track.name] = ecs_service
        target = aws.appautoscaling.Target(
            f"{resource}-scaling-target",
            service_namespace="ecs",
            scalable_dimension="ecs:service:DesiredCount",
            resource_id=pulumi.Output.concat("service/", self.cluster_name, "/", ecs_service.name),
            min_capacity=low,
            max_capacity=high,
            opts=child,
        )
        self.scaling_targets[track.name] = target
        aws.appautoscaling.Policy(
            f"{resource}-cpu-target",
            policy_type="TargetTrackingScaling",
            service_namespace=target.service_namespace,
            scalable_dimension=target.scalable_dimension,
            resource_id=target.resource_id,
            target_tracking_scaling_policy_configuration={
                "predefined_metric_specification": {"predefined_metric_type": "ECSServiceAverageCPUUtilization"},
                "target_value": float(svc.scaling.target_cpu_percent),
                "scale_in_cooldown": 300,
                "scale_out_cooldown": 60,
            },
            opts=child,
        )
        if svc.scaling.target_concurrency is not None:
            self.concurrency_policies[track.name] = aws.appautoscaling.Policy(
                f"{resource}-concurrency-target",
                policy_type="TargetTrackingScaling",
                service_namespace=target.service_namespace,
                scalable_dimension=target.scalable_dimension,
                resource_id=target.resource_id,
                target_tracking_scaling_policy_configuration={
                    "customized_metric_specification": {"metrics": self.load_balancer.concurrency_metrics(track.name)},
                    "target_value": float(svc.scaling.target_concurrency),
                    "scale_in_cooldown": 300,
                    "scale_out_cooldown": 60,
                },
                opts=child,
            )
