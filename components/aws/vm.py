"""Ec2Service (`vm`): the model server in Docker on an Auto Scaling group of hardened EC2 instances behind an ALB."""

from __future__ import annotations

import base64
import shlex
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from ..base import component_props, merge_options
from ..spec import ModelService, Variant, split_replicas
from ..validation import SpecError, check_int, check_optional_str
from .checks import S3Location, alb_caller_cidrs, ecr_image, require_aws_secrets, s3_artifact
from .foundation import Foundation
from .iam import AwsContext, role_with_policy, service_trust
from .loadbalancer import AlbArgs, LoadBalancer, pattern_load_balancer
from .naming import physical_name
from .pattern import (
    artifact_statements,
    foundation_for,
    kms_statement,
    log_statements,
    provider_for_target,
    pull_statements,
    role_name_of,
    secret_statements,
)
from .sizing import EC2_SHAPES, check_instance_type, is_arm_instance, pick_instance
from .tagging import tag_children

__all__ = ["Ec2Service", "Ec2ServiceArgs", "render_user_data"]

PATTERN = "the vm pattern (EC2)"
# The ECS-optimized Amazon Linux 2023 AMIs ship Docker (and, for GPU, the NVIDIA driver and container toolkit).
AMI_PARAMETERS = {
    "x86_64": "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id",
    "arm64": "/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id",
    "gpu": "/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id",
}
RUN_AS = "10001:10001"
MODEL_MOUNT = "/opt/ml/model"
# Boot, Docker start and the image pull come before the model's own warm-up.
BOOT_SECONDS = 180


@dataclass(frozen=True, kw_only=True)
class Ec2ServiceArgs(AlbArgs):
    """Options of the vm pattern (see components/aws/README.md).

    instance_type: EC2 type for one replica; None picks the smallest m7i (or GPU family) that fits resources.
    ami: ``ami-...`` or ``resolve:ssm:<parameter>``; None uses the ECS-optimized Amazon Linux 2023 AMI.
    root_volume_gb: encrypted gp3 root volume size (images and model).
    instance_role_arn: bring your own instance role (no policy is attached to it); None creates a scoped one.
    """

    instance_type: str | None = None
    ami: str | None = None
    root_volume_gb: int = 60
    instance_role_arn: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        service = self.service
        if self.instance_type is not None:
            check_instance_type("instance_type", self.instance_type, service, sagemaker=False)
        else:
            pick_instance(service, EC2_SHAPES, "instance_type")
        check_optional_str(
            "ami",
            self.ami,
            pattern=r"ami-[0-9a-f]{8,17}|resolve:ssm:/[\w./-]+",
            description="an AMI id or resolve:ssm:<parameter>",
        )
        check_int("root_volume_gb", self.root_volume_gb, minimum=30, maximum=16384)
        self._check_role_arn("instance_role_arn")
        require_aws_secrets(service, PATTERN, json_keys=False)
        s3_artifact(service, PATTERN)
        self._check_load_balancer(PATTERN)
        alb_caller_cidrs(service, PATTERN, authenticator=self.authenticator)
        if service.resources.accelerator is not None and is_arm_instance(self.resolved_instance_type):
            raise SpecError("instance_type", "GPU AMIs are x86_64; choose an x86_64 GPU instance type")

    @property
    def resolved_instance_type(self) -> str:
        return self.instance_type or pick_instance(self.service, EC2_SHAPES, "instance_type").name

    @property
    def image_id(self) -> str:
        if self.ami is not None:
            return self.ami
        if self.service.resources.accelerator is not None:
            return f"resolve:ssm:{AMI_PARAMETERS['gpu']}"
        arch = "arm64" if is_arm_instance(self.resolved_instance_type) else "x86_64"
        return f"resolve:ssm:{AMI_PARAMETERS[arch]}"


def render_user_data(
    service: ModelService,
    image: str,
    *,
    region: str,
    log_group: str,
    stream_prefix: str,
    artifact: S3Location | None,
    gpu: bool,
) -> str:
    """The boot script: pull the digest-pinned image with the instance role and run it hardened.

    It holds no secret values: secrets are read at boot, with the instance role, into a root-only file on tmpfs.
    """
    q = shlex.quote
    ecr = ecr_image(image)
    lines = [
        "#!/bin/bash",
        "set -euo pipefail",
        "# The ECS agent is not used: Docker runs the model server directly.",
        "systemctl disable --now --no-block ecs.service || true",
    ]
    packages = []
    needs_cli = bool(service.secrets) or artifact is not None
    if needs_cli:
        packages.append("awscli-2")
    if ecr is not None:
        packages.append("amazon-ecr-credential-helper")
    if packages:
        lines.append(f"dnf install -y {' '.join(packages)}")
    if ecr is not None:
        registry = image.split("/", 1)[0]
        lines += [
            "mkdir -p /root/.docker",
            f'printf \'%s\' \'{{"credHelpers": {{"{registry}": "ecr-login"}}}}\' > /root/.docker/config.json',
        ]
    lines += ["install -m 600 -o root -g root /dev/null /run/modelport.env"]
    for key, ref in sorted(service.secrets.items()):
        if ref.kind == "aws-secretsmanager":
            fetch = (
                f"aws secretsmanager get-secret-value --region {q(region)} --secret-id {q(ref.reference)} "
                "--query SecretString --output text"
            )
        else:
            fetch = (
                f"aws ssm get-parameter --region {q(region)} --with-decryption --name {q(ref.reference)} "
                "--query Parameter.Value --output text"
            )
        # An assignment keeps the fetch's exit status, so `set -e` stops the boot when a secret is unreadable.
        lines += [f"value=$({fetch})", f"printf '%s=%s\\n' {key} \"$value\" >> /run/modelport.env"]
    if service.secrets:
        lines.append("unset value")
    volume: list[str] = []
    env = service.serving_env()
    if artifact is not None:
        lines += [f"install -d -m 755 {MODEL_MOUNT}"]
        if artifact.is_archive:
            lines += [
                f"aws s3 cp --region {q(region)} {q(artifact.uri)} /tmp/model.tar.gz",
                f"tar -xzf /tmp/model.tar.gz -C {MODEL_MOUNT}",
                "rm -f /tmp/model.tar.gz",
            ]
        else:
            lines += [f"aws s3 cp --region {q(region)} --recursive {q(artifact.uri)} {MODEL_MOUNT}"]
        lines += [f"chown -R {RUN_AS} {MODEL_MOUNT}"]
        volume = ["-v", f"{MODEL_MOUNT}:{MODEL_MOUNT}:ro"]
        env["MODEL_DIR"] = MODEL_MOUNT
    run = [
        "docker",
        "run",
        "--detach",
        "--name",
        "model-server",
        "--restart",
        "unless-stopped",
        "--read-only",
        "--tmpfs",
        "/tmp:rw,noexec,nosuid,size=1g",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--user",
        RUN_AS,
        "--init",
        "--publish",
        f"{service.port}:{service.port}",
        *(["--publish", f"{service.grpc_port}:{service.grpc_port}"] if service.grpc_port else []),
        "--memory",
        f"{service.resources.memory_mib}m",
        "--cpus",
        f"{service.resources.cpu:g}",
        "--stop-timeout",
        "20",
        "--log-driver",
        "awslogs",
        "--log-opt",
        f"awslogs-region={region}",
        "--log-opt",
        f"awslogs-group={log_group}",
        "--log-opt",
        f"awslogs-stream-prefix={stream_prefix}",
        "--log-opt",
        "mode=non-blocking",
        "--env-file",
        "/run/modelport.env",
    ]
    for key, value in env.items():
        run += ["--env", f"{key}={value}"]
    if gpu:
        run += ["--gpus", "all"]
    run += volume + [image]
    lines += [f"docker pull {q(image)}", " ".join(q(part) for part in run), ""]
    return "\n".join(lines)


class Ec2Service(pulumi.ComponentResource):
    """The model service on EC2: launch template, Auto Scaling group and target tracking per track, one ALB."""

    args_type = Ec2ServiceArgs
    provider_for_target = staticmethod(provider_for_target)

    foundation: Foundation
    load_balancer: LoadBalancer
    role: aws.iam.Role | None
    launch_templates: dict[str, aws.ec2.LaunchTemplate]
    groups: dict[str, aws.autoscaling.Group]
    endpoint: pulumi.Output[str]
    identity: pulumi.Output[str]

    def __init__(self, name: str, args: Ec2ServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(
            "modelport:aws:Ec2Service",
            name,
            component_props(args),
            merge_options(opts, transformations=[tag_children(args.service)]),
        )
        self._args = args
        svc = args.service
        child = pulumi.ResourceOptions(parent=self)
        self.foundation = foundation_for(self, name, args, autoscaling_key_grant=True)
        ctx: AwsContext = self.foundation.context
        artifact = s3_artifact(svc, PATTERN)
        self.artifact = artifact

        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-instances-sg",
            vpc_id=self.foundation.vpc_id,
            description=f"Model server instances of {name}",
            opts=child,
        )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-instances-https-out",
            security_group_id=self.security_group.id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            cidr_ipv4="0.0.0.0/0",
            description="HTTPS to AWS APIs and the image registry",
            opts=child,
        )

        self.role, profile_role_name = self._identity(name, ctx)
        self.instance_profile = aws.iam.InstanceProfile(
            f"{name}-instance-profile",
            name_prefix=physical_name(name, 37, suffix="-"),
            role=profile_role_name,
            opts=child,
        )

        tracks = svc.tracks
        self.load_balancer, self.alarms = pattern_load_balancer(
            self,
            name,
            args,
            foundation=self.foundation,
            target_type="instance",
            target_security_group=self.security_group,
            pattern=PATTERN,
        )

        self.launch_templates = {}
        self.groups = {}
        self.scaling_policies: dict[str, aws.autoscaling.Policy] = {}
        self.concurrency_policies: dict[str, aws.autoscaling.Policy] = {}
        floor = 1
        minimums = split_replicas(svc.min_replicas, [t.weight for t in tracks], floor)
        maximums = split_replicas(svc.scaling.max_replicas, [t.weight for t in tracks], floor)
        for track, low, high in zip(tracks, minimums, maximums, strict=True):
            if track.weight == 0:
                continue
            self._track(name, track, low, max(low, high), ctx)

        self.endpoint = self.load_balancer.url
        self.identity = self.role.arn if self.role is not None else pulumi.Output.from_input(args.instance_role_arn)
        self.register_outputs(
            {"endpoint": self.endpoint, "identity": self.identity, "load_balancer_arn": self.load_balancer.alb.arn}
        )

    def _identity(self, name: str, ctx: AwsContext) -> tuple[aws.iam.Role | None, pulumi.Input[str]]:
        args = self._args
        if args.instance_role_arn is not None:
            return None, role_name_of(args.instance_role_arn)
        foundation = self.foundation
        repositories = list(foundation.repository_arns)
        repositories += sorted(
            {
                ref.repository_arn
                for v in args.service.tracks
                if (ref := ecr_image(args.service.image_of(v))) is not None
            }
        )
        keys = [foundation.kms_key_arn] if foundation.kms_key_arn is not None else []
        statements = (
            pull_statements(repositories)
            + log_statements(foundation.log_group_arn)
            + artifact_statements(ctx, self.artifact)
            + kms_statement("DecryptWithTheServiceKey", keys, ["kms:Decrypt"])
            + secret_statements(args.service, args.secrets_kms_key_arns)
        )
        role, _ = role_with_policy(
            f"{name}-instance-role",
            base_name=f"{name}-instance",
            trust=service_trust(ctx, "ec2"),
            statements=statements,
            description=f"Model server instances of {name}: pull, log, read the artifact, decrypt",
            parent=self,
        )
        return role, role.name

    def _track(self, name: str, track: Variant, low: int, high: int, ctx: AwsContext) -> None:
        args = self._args
        svc = args.service
        child = pulumi.ResourceOptions(parent=self)
        resource = name if len(svc.tracks) == 1 else f"{name}-{track.name}"
        gpu = svc.resources.accelerator is not None
        foundation = self.foundation
        user_data = pulumi.Output.all(ctx.region, foundation.log_group_name).apply(
            lambda values: base64.b64encode(
                render_user_data(
                    svc,
                    svc.image_of(track),
                    region=values[0],
                    log_group=values[1],
                    stream_prefix=track.name,
                    artifact=self.artifact,
                    gpu=gpu,
                ).encode()
            ).decode()
        )
        ebs: dict[str, Any] = {
            "volume_size": args.root_volume_gb,
            "volume_type": "gp3",
            "encrypted": "true",
            "delete_on_termination": "true",
        }
        if foundation.kms_key_arn is not None:
            ebs["kms_key_id"] = foundation.kms_key_arn
        tags = {"Name": resource, "modelport:track": track.name}
        template = aws.ec2.LaunchTemplate(
            f"{resource}-lt",
            name_prefix=physical_name(resource, 100, suffix="-"),
            description=f"{svc.name} model server, track {track.name}",
            image_id=args.image_id,
            instance_type=args.resolved_instance_type,
            iam_instance_profile={"arn": self.instance_profile.arn},
            metadata_options={
                "http_endpoint": "enabled",
                "http_tokens": "required",
                "http_put_response_hop_limit": 1,
                "instance_metadata_tags": "disabled",
            },
            block_device_mappings=[{"device_name": "/dev/xvda", "ebs": ebs}],
            network_interfaces=[
                {
                    "device_index": 0,
                    "associate_public_ip_address": "false",
                    "delete_on_termination": "true",
                    "security_groups": [self.security_group.id],
                }
            ],
            monitoring={"enabled": True},
            ebs_optimized="true",
            user_data=user_data,
            update_default_version=True,
            tag_specifications=[{"resource_type": "instance", "tags": tags}, {"resource_type": "volume", "tags": tags}],
            opts=child,
        )
        self.launch_templates[track.name] = template
        grace = svc.health.startup_seconds + BOOT_SECONDS
        refresh_preferences: dict[str, Any] = {
            # Launch before terminating, so capacity never drops during a refresh.
            "min_healthy_percentage": 100,
            "max_healthy_percentage": 200,
            "instance_warmup": str(grace),
            "skip_matching": True,
            "auto_rollback": True,
        }
        if self.alarms:
            refresh_preferences["alarm_specification"] = {"alarms": [a.name for a in self.alarms]}
        group = aws.autoscaling.Group(
            f"{resource}-asg",
            name_prefix=physical_name(resource, 200, suffix="-"),
            min_size=low,
            max_size=high,
            vpc_zone_identifiers=foundation.private_subnet_ids,
            launch_template={"id": template.id, "version": template.latest_version.apply(str)},
            target_group_arns=[
                self.load_balancer.target_groups[track.name].arn,
                *([self.load_balancer.grpc_target_groups[track.name].arn] if svc.grpc_port else []),
            ],
            health_check_type="ELB",
            health_check_grace_period=grace,
            default_instance_warmup=grace,
            wait_for_capacity_timeout="20m",
            capacity_rebalance=False,
            termination_policies=["OldestLaunchTemplate", "Default"],
            enabled_metrics=[
                "GroupDesiredCapacity",
                "GroupInServiceInstances",
                "GroupPendingInstances",
                "GroupTerminatingInstances",
                "GroupTotalInstances",
            ],
            instance_refresh={"strategy": "Rolling", "preferences": refresh_preferences},
            tags=[{"key": "Name", "value": resource, "propagate_at_launch": True}],
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[self.load_balancer.listener], ignore_changes=["desiredCapacity"]
            ),
        )
        self.groups[track.name] = group
        self.scaling_policies[track.name] = aws.autoscaling.Policy(
            f"{resource}-cpu-target",
            autoscaling_group_name=group.name,
            policy_type="TargetTrackingScaling",
            estimated_instance_warmup=grace,
            target_tracking_configuration={
                "predefined_metric_specification": {"predefined_metric_type": "ASGAverageCPUUtilization"},
                "target_value": float(svc.scaling.target_cpu_percent),
            },
            opts=child,
        )
        if svc.scaling.target_concurrency is not None:
            self.concurrency_policies[track.name] = aws.autoscaling.Policy(
                f"{resource}-concurrency-target",
                autoscaling_group_name=group.name,
                policy_type="TargetTrackingScaling",
                estimated_instance_warmup=grace,
                target_tracking_configuration={
                    "customized_metric_specification": {"metrics": self.load_balancer.concurrency_metrics(track.name)},
                    "target_value": float(svc.scaling.target_concurrency),
                },
                opts=child,
            )
