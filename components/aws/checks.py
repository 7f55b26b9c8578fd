"""What AWS accepts, checked before any resource exists: ARNs, ECR images, secret references, S3 URIs, callers."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..spec import AWS_PRINCIPAL_ARN, ModelService
from ..validation import ServiceSpecError

__all__ = [
    "ACM_CERTIFICATE_ARN",
    "EcrImage",
    "IAM_PRINCIPAL_ARN",
    "KMS_KEY_ARN",
    "S3Location",
    "ServiceSpecError",
    "alb_caller_cidrs",
    "ecr_image",
    "iam_callers",
    "reject_accelerator",
    "require_aws_secrets",
    "require_ecr_image",
    "require_no_artifact",
    "s3_artifact",
    "secret_resource_arn",
    "secret_resource_arns",
]

ACM_CERTIFICATE_ARN = r"arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}"
WAF_WEB_ACL_ARN = r"arn:aws[a-z-]*:wafv2:[a-z0-9-]+:\d{12}:regional/webacl/[\w-]{1,128}/[0-9a-f-]{36}"
KMS_KEY_ARN = r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/(mrk-[0-9a-f]{32}|[0-9a-f-]{36})"
IAM_PRINCIPAL_ARN = AWS_PRINCIPAL_ARN
ECR_HOST = re.compile(r"(?P<account>\d{12})\.dkr\.ecr(-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?")


@dataclass(frozen=True)
class EcrImage:
    """An image reference that lives in Amazon ECR."""

    account: str
    region: str
    repository: str
    partition: str

    @property
    def repository_arn(self) -> str:
        return f"arn:{self.partition}:ecr:{self.region}:{self.account}:repository/{self.repository}"


def ecr_image(image: str) -> EcrImage | None:
    """The ECR repository of ``image``, or None when the image is hosted elsewhere."""
    host, _, rest = image.partition("/")
    match = ECR_HOST.fullmatch(host)
    if match is None or not rest:
        return None
    repository = re.split(r"[@:]", rest, maxsplit=1)[0]
    partition = "aws-cn" if host.endswith(".cn") else "aws-us-gov" if "-gov-" in match["region"] else "aws"
    return EcrImage(account=match["account"], region=match["region"], repository=repository, partition=partition)


def require_ecr_image(service: ModelService, pattern: str) -> list[EcrImage]:
    """Every image the service runs must be in ECR (Lambda and SageMaker pull only from ECR)."""
    found = []
    images = [("image", service.image)] + [
        (f"variants[{i}].image", v.image) for i, v in enumerate(service.variants) if v.image
    ]
    for key, image in images:
        ref = ecr_image(image)
        if ref is None:
            raise ServiceSpecError(
                key,
                f"{pattern} runs images only from Amazon ECR in the target's region "
                f"(<account>.dkr.ecr.<region>.amazonaws.com/<repo>@sha256:...); push or replicate the image there "
                f"(got {image.split('/')[0]})",
            )
        found.append(ref)
    return found


def require_aws_secrets(service: ModelService, pattern: str, *, json_keys: bool) -> None:
    """Secrets must be AWS Secrets Manager or SSM Parameter Store references."""
    for key, ref in service.secrets.items():
        if ref.kind not in ("aws-secretsmanager", "aws-ssm"):
            raise ServiceSpecError(
                f"secrets.{key}",
                f"{pattern} reads secrets from AWS Secrets Manager or SSM Parameter Store: use their ARN "
                f"(got a {ref.kind} reference)",
            )
        if not json_keys and ref.kind == "aws-secretsmanager" and ref.reference.count(":") > 6:
            raise ServiceSpecError(
                f"secrets.{key}",
                f"{pattern} injects a whole secret; JSON-key, version-stage and version-id suffixes are supported "
                "on the container pattern only. Reference the secret ARN without a suffix",
            )


def secret_resource_arn(reference: str) -> str:
    """The IAM resource ARN of a secret reference: Secrets Manager suffixes (json key, stage, version) dropped.

    A secret ARN is complete when it ends in the 6-character suffix AWS adds; a name that merely ends in a dash and
    six characters (``churn-apikey``) is not, so the result matches both readings: the ARN as written and the ARN
    with AWS's suffix.
    """
    return secret_resource_arns(reference)[-1]


def secret_resource_arns(reference: str) -> list[str]:
    """Every IAM resource ARN a secret reference may denote (see ``secret_resource_arn``)."""
    parts = reference.split(":")
    if parts[2] != "secretsmanager":
        return [reference]
    base = ":".join(parts[:7])
    partial = f"{base}-??????"
    if re.search(r"-[A-Za-z0-9]{6}$", parts[6]):
        return [base, partial]
    return [partial]


def reject_accelerator(service: ModelService, pattern: str, why: str) -> None:
    if service.resources.accelerator is not None:
        raise ServiceSpecError(
            "resources.accelerator",
            f"{pattern} cannot provide a GPU ({why}); use the vm, kubernetes or ml_platform pattern",
        )


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str  # no leading slash; may be empty

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def is_archive(self) -> bool:
        return self.key.endswith(".tar.gz")

    @property
    def prefix(self) -> str:
        """The key prefix to grant: the archive itself, or everything under the folder."""
        if self.is_archive:
            return self.key
        return f"{self.key.rstrip('/')}/" if self.key else ""


def s3_artifact(service: ModelService, pattern: str) -> S3Location | None:
    """The model artifact on S3, if any. Other clouds' storage is refused on AWS."""
    uri = service.model.artifact_uri if service.model else None
    if uri is None:
        return None
    match = re.fullmatch(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/.*)?", uri)
    if match is None:
        raise ServiceSpecError(
            "model.artifact_uri",
            f"{pattern} loads model artifacts from S3: s3://<bucket>/<prefix or model.tar.gz> "
            f"(got {uri.split('://')[0]}://)",
        )
    return S3Location(bucket=match.group(1), key=(match.group(2) or "").lstrip("/"))


def require_no_artifact(service: ModelService, pattern: str, why: str) -> None:
    uri = service.model.artifact_uri if service.model else None
    if uri is not None:
        raise ServiceSpecError("model.artifact_uri", f"{pattern} serves the model baked into the image ({why})")


def alb_caller_cidrs(service: ModelService, pattern: str, *, authenticator: str | None = None) -> list[str]:
    """The CIDRs an ALB's security group admits, from ``exposure`` (empty: the VPC, or the internet when public).

    An ALB cannot verify IAM principals, so AWS principals are refused here rather than dropped; a public ALB
    needs an authenticator it enforces (``authenticator`` names it), or ``exposure.anonymous: true``.
    """
    exposure = service.exposure
    aws_principals = exposure.principals_of("aws")
    if aws_principals:
        raise ServiceSpecError(
            "exposure.allowed_principals",
            f"{pattern} is reached through an Application Load Balancer, which cannot verify IAM principals "
            f"(got {aws_principals[0]!r}); restrict it with exposure.allowed_networks, and use the serverless or "
            "ml_platform pattern for IAM (SigV4) callers",
        )
    cidrs = []
    for index, network in enumerate(exposure.networks):
        if network.version != 4:
            raise ServiceSpecError(
                f"exposure.allowed_networks[{index}]",
                f"the load balancer of {pattern} is IPv4-only: use an IPv4 CIDR (got {str(network)!r})",
            )
        cidrs.append(str(network))
    if exposure.public and authenticator is None and not exposure.anonymous:
        raise ServiceSpecError(
            "exposure.public",
            f"{pattern} is public but nothing authenticates its callers: an ALB cannot verify "
            "allowed_principals and allowed_networks never authenticate. Set the target option "
            "authenticate_oidc or authenticate_cognito, or say exposure.anonymous: true for anonymous access "
            "(refused in prod)",
        )
    if exposure.public and not cidrs:
        cidrs = ["0.0.0.0/0"]
    return cidrs


def iam_callers(service: ModelService, pattern: str) -> list[str]:
    """The AWS principals of ``exposure`` (role, user or account-root ARNs, or account IDs), granted through IAM.

    IAM-authenticated endpoints (function URLs, SageMaker runtime) have no source-network control, so
    ``allowed_networks`` is refused rather than dropped.
    """
    if service.exposure.allowed_networks:
        raise ServiceSpecError(
            "exposure.allowed_networks",
            f"{pattern} authenticates callers with IAM (SigV4) and cannot restrict them by network; remove "
            "allowed_networks, or deploy the vm or container pattern, whose load balancer can",
        )
    return list(service.exposure.principals_of("aws"))
