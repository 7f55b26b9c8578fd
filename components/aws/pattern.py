"""What the five AWS patterns share: PatternArgs, the foundation they run on, least-privilege statements, the
stack provider hook (region and default tags)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import pulumi
import pulumi_aws as aws

from ..spec import ModelService, Target
from ..validation import SpecError, check_optional_str, check_str_list
from .checks import IAM_PRINCIPAL_ARN, KMS_KEY_ARN, S3Location, ServiceSpecError, ecr_image, secret_resource_arns
from .foundation import Foundation, FoundationArgs
from .iam import AwsContext, statement
from .options import AwsArgs
from .tagging import service_tags

__all__ = [
    "PatternArgs",
    "artifact_statements",
    "foundation_for",
    "kms_statement",
    "log_statements",
    "provider_for_target",
    "pull_statements",
    "secret_statements",
]

IAM_ROLE_ARN = r"arn:aws[a-z-]*:iam::\d{12}:role(/[\w+=,.@-]+)*/[\w+=,.@-]+"


@dataclass(frozen=True, kw_only=True)
class PatternArgs(AwsArgs):
    """The shared options plus ``foundation`` (code only: share one Foundation between patterns of a region)
    and ``secrets_kms_key_arns`` (customer-managed keys that encrypt the referenced secrets)."""

    secrets_kms_key_arns: tuple[str, ...] = ()
    foundation: Foundation | None = None

    CODE_ONLY: ClassVar[tuple[str, ...]] = ("foundation",)
    # Patterns that only run images from ECR (Lambda, SageMaker); the stack hook also checks the region.
    ECR_ONLY: ClassVar[bool] = False

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(
            self,
            "secrets_kms_key_arns",
            check_str_list(
                "secrets_kms_key_arns", self.secrets_kms_key_arns, pattern=KMS_KEY_ARN, description="a KMS key ARN"
            ),
        )
        if self.foundation is not None and not isinstance(self.foundation, Foundation):
            raise SpecError("foundation", "must be a modelport.aws.Foundation")

    # --- checks several patterns share ---

    def _check_role_arn(self, key: str) -> None:
        value = getattr(self, key)
        if value is not None:
            check_optional_str(key, value, pattern=IAM_ROLE_ARN, description="an IAM role ARN")


def foundation_for(component: pulumi.Resource, name: str, args: PatternArgs, **needs: Any) -> Foundation:
    """The foundation passed in code (checked against what the pattern needs), or a new one as its child."""
    shared = args.foundation
    if shared is not None:
        given = shared.args
        if needs.get("needs_network", True) and shared.vpc_id is None:
            raise SpecError("foundation", "was created without a network, which this pattern needs")
        if needs.get("autoscaling_key_grant") and shared.key is not None and not given.autoscaling_key_grant:
            raise SpecError(
                "foundation",
                "its key policy must let Auto Scaling use the key for EBS volumes: create "
                "it with autoscaling_key_grant=True",
            )
        if needs.get("needs_log_group", True) and shared.log_group_arn is None:
            raise SpecError("foundation", "was created without a log group, which this pattern writes to")
        return shared
    return Foundation(
        f"{name}-foundation", FoundationArgs.for_pattern(args, **needs), pulumi.ResourceOptions(parent=component)
    )


# --- least-privilege statements -------------------------------------------------------------------------------


def pull_statements(repository_arns: Sequence[pulumi.Input[str]]) -> list[dict[str, Any]]:
    """Pull images from exactly these repositories. The token call has no resource-level permissions."""
    if not repository_arns:
        return []
    return [
        statement("GetEcrToken", ["ecr:GetAuthorizationToken"], "*"),
        statement(
            "PullFromTheServiceRepository",
            ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            list(repository_arns),
        ),
    ]


def log_statements(log_group_arn: pulumi.Input[str], *, create_group: bool = False) -> list[dict[str, Any]]:
    streams = pulumi.Output.concat(log_group_arn, ":log-stream:*")
    actions = ["logs:CreateLogStream", "logs:PutLogEvents"] + (["logs:CreateLogGroup"] if create_group else [])
    return [statement("WriteToTheServiceLogGroup", actions, [log_group_arn, streams])]


def artifact_statements(ctx: AwsContext, artifact: S3Location | None) -> list[dict[str, Any]]:
    """Read the model artifact: the archive or the objects under its prefix, and list only that prefix."""
    if artifact is None:
        return []
    bucket = pulumi.Output.concat("arn:", ctx.partition, ":s3:::", artifact.bucket)
    objects = pulumi.Output.concat(bucket, "/", artifact.key if artifact.is_archive else f"{artifact.prefix}*")
    listing: dict[str, Any] = {
        "StringLike": {"s3:prefix": [artifact.prefix if artifact.is_archive else f"{artifact.prefix}*"]}
    }
    return [
        statement("ReadTheModelArtifact", ["s3:GetObject"], [objects]),
        statement("ListTheModelArtifactPrefix", ["s3:ListBucket"], [bucket], condition=listing),
    ]


def kms_statement(sid: str, key_arns: Sequence[pulumi.Input[str]], actions: Sequence[str]) -> list[dict[str, Any]]:
    return [statement(sid, list(actions), list(key_arns))] if key_arns else []


def secret_statements(service: ModelService, extra_kms_keys: Sequence[str]) -> list[dict[str, Any]]:
    """Read exactly the referenced secrets and parameters (and decrypt them with their customer-managed keys)."""
    secrets = sorted(
        {
            arn
            for r in service.secrets.values()
            if r.kind == "aws-secretsmanager"
            for arn in secret_resource_arns(r.reference)
        }
    )
    params = sorted({r.reference for r in service.secrets.values() if r.kind == "aws-ssm"})
    found = []
    if secrets:
        found.append(statement("ReadTheServiceSecrets", ["secretsmanager:GetSecretValue"], secrets))
    if params:
        found.append(statement("ReadTheServiceParameters", ["ssm:GetParameter", "ssm:GetParameters"], params))
    if (secrets or params) and extra_kms_keys:
        found.append(statement("DecryptTheServiceSecrets", ["kms:Decrypt"], list(extra_kms_keys)))
    return found


def managed_policy(ctx: AwsContext, name: str) -> pulumi.Output[str]:
    return pulumi.Output.concat("arn:", ctx.partition, ":iam::aws:policy/", name)


def role_name_of(role_arn: str) -> str:
    return role_arn.rsplit("/", 1)[-1]


# --- the stack hook ---------------------------------------------------------------------------------------------


def provider_for_target(
    resource_name: str,
    args: PatternArgs,
    target: Target,
    opts: pulumi.ResourceOptions | None,
) -> aws.Provider:
    """``provider_for_target`` for ``modelport.catalog.deploy``: an aws.Provider for the target's region.

    ``deploy`` validated the options already. Default tags (the service's tags plus ``managed-by: modelport``)
    land on every taggable resource.
    """
    service = args.service
    if args.ECR_ONLY:
        for key, image in [("image", service.image)] + [
            (f"variants[{i}].image", v.image) for i, v in enumerate(service.variants) if v.image
        ]:
            ref = ecr_image(image)
            if ref is not None and ref.region != target.region:
                raise ServiceSpecError(
                    key,
                    f"the image is in ECR region {ref.region}, but {target.cloud}/{target.pattern} runs "
                    f"in {target.region} and pulls only from its own region; replicate the repository",
                )
    certificate = getattr(args, "certificate", None)
    if isinstance(certificate, str):
        from .loadbalancer import certificate_region

        region = certificate_region(certificate)
        if region is not None and region != target.region:
            key = "certificate_arn" if getattr(args, "certificate_arn", None) else "exposure.certificate"
            error = (
                f"the ACM certificate is in {region}, but {target.cloud}/{target.pattern} runs in {target.region}; "
                f"ALB certificates are regional: use one issued in {target.region}, or certificate_domain"
            )
            if key == "certificate_arn":
                raise SpecError(f"{target.path}.options.certificate_arn", error)
            raise ServiceSpecError(key, error)
    tags = service_tags(service)
    return aws.Provider(
        f"{resource_name}-aws",
        region=target.region,
        default_tags={"tags": tags},
        opts=pulumi.ResourceOptions(parent=opts.parent if opts else None),
    )


def check_principals(key: str, values: Sequence[str]) -> tuple[str, ...]:
    return check_str_list(key, values, pattern=IAM_PRINCIPAL_ARN, description="an IAM role or user ARN")
