"""AwsArgs: the target options every AWS pattern shares (network, encryption, registry, artifacts, logs, alarms)."""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass
from typing import Any, ClassVar

from ..base import ComponentArgs
from ..validation import (
    SpecError,
    check_bool,
    check_choice,
    check_int,
    check_number,
    check_optional_str,
    check_str,
    check_str_list,
)
from .checks import KMS_KEY_ARN

__all__ = ["ENCRYPTION_MODES", "LOG_RETENTION_DAYS", "AwsArgs"]

ENCRYPTION_MODES = ("customer-managed", "provider-managed")
# The values CloudWatch Logs accepts for retentionInDays.
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
VPC_ID = r"vpc-[0-9a-f]{8,17}"
SUBNET_ID = r"subnet-[0-9a-f]{8,17}"
BUCKET_NAME = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
ECR_REPOSITORY_ARN = r"arn:aws[a-z-]*:ecr:[a-z0-9-]+:\d{12}:repository/[a-z0-9][a-z0-9._/-]*"
LOG_GROUP_NAME = r"[\w#./-]{1,512}"
# Options whose values may name another account's resource, once acknowledged in `cross_account`.
CROSS_ACCOUNT_OPTIONS = ("kms_key_arn", "secrets_kms_key_arns", "repository_arn", "alarm_actions")
SNS_TOPIC_ARN = r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w-]{1,256}"


@dataclass(frozen=True, kw_only=True)
class AwsArgs(ComponentArgs):
    """Options every AWS pattern takes. Each security-relevant piece is default / bring-your-own / skip.

    Network: ``vpc_id=None`` creates a VPC; ``vpc_id`` + ``private_subnet_ids`` (+ ``public_subnet_ids`` for
    a public load balancer) uses yours. Encryption: ``kms_key_arn=None`` creates a rotating customer-managed
    key; an ARN uses yours; ``encryption="provider-managed"`` skips it. Registry, artifact bucket and log group
    are created unless you name yours or switch them off. See components/aws/README.md for every option.
    """

    # network
    vpc_id: str | None = None
    private_subnet_ids: tuple[str, ...] = ()
    public_subnet_ids: tuple[str, ...] = ()
    vpc_cidr: str = "10.0.0.0/16"
    zones: int | None = None
    nat_per_zone: bool | None = None
    vpc_endpoints: bool = True
    flow_logs: bool = True
    # encryption
    kms_key_arn: str | None = None
    encryption: str = "customer-managed"
    # registry and artifacts
    repository_arn: str | None = None
    create_repository: bool = True
    artifact_bucket: str | None = None
    create_artifact_bucket: bool = True
    # Create the Auto Scaling service-linked role; it exists in any account that ever had an Auto Scaling group,
    # and the key policy can only name it once it exists.
    create_autoscaling_role: bool = False
    # logs and alarms
    log_group_name: str | None = None
    log_retention_days: int | None = None
    alarms: bool | None = None
    alarm_actions: tuple[str, ...] = ()
    alarm_error_rate_percent: float = 5.0
    alarm_p99_latency_ms: int = 2000
    # Bring-your-own values that may live in another account, acknowledged by option name (kms_key_arn,
    # secrets_kms_key_arns, repository_arn, alarm_actions); others are refused at deployment.
    cross_account: tuple[str, ...] = ()

    # Patterns that can run without a VPC (Lambda) override this.
    NETWORK_OPTIONAL: ClassVar[bool] = False
    # The longest a request can take on the pattern (the ALB idle timeout, SageMaker's invocation limit); a p99
    # latency alarm at or above it can never fire. Lambda uses its own timeout_seconds.
    REQUEST_LIMIT_MS: ClassVar[int] = 60_000

    def __post_init__(self) -> None:
        super().__post_init__()
        self._check_network()
        check_choice("encryption", self.encryption, ENCRYPTION_MODES)
        if self.kms_key_arn is not None:
            check_str(
                "kms_key_arn",
                self.kms_key_arn,
                pattern=KMS_KEY_ARN,
                description="a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)",
            )
            if self.encryption == "provider-managed":
                raise SpecError("encryption", "is provider-managed, but kms_key_arn names a key; set only one")
        if self.repository_arn is not None:
            check_str(
                "repository_arn", self.repository_arn, pattern=ECR_REPOSITORY_ARN, description="an ECR repository ARN"
            )
        check_bool("create_repository", self.create_repository)
        check_optional_str(
            "artifact_bucket", self.artifact_bucket, pattern=BUCKET_NAME, description="an S3 bucket name"
        )
        check_bool("create_artifact_bucket", self.create_artifact_bucket)
        check_bool("create_autoscaling_role", self.create_autoscaling_role)
        check_optional_str(
            "log_group_name", self.log_group_name, pattern=LOG_GROUP_NAME, description="a CloudWatch Logs group name"
        )
        if self.log_retention_days is not None:
            check_choice("log_retention_days", self.log_retention_days, LOG_RETENTION_DAYS)
        if self.alarms is not None:
            check_bool("alarms", self.alarms)
        object.__setattr__(
            self,
            "alarm_actions",
            check_str_list("alarm_actions", self.alarm_actions, pattern=SNS_TOPIC_ARN, description="an SNS topic ARN"),
        )
        check_number(
            "alarm_error_rate_percent", self.alarm_error_rate_percent, minimum=0, maximum=100, exclusive_min=True
        )
        if self.alarm_error_rate_percent >= 100:
            raise SpecError(
                "alarm_error_rate_percent",
                "the alarm fires when the 5xx rate is above this share, so 100 can never fire: use a value below 100",
            )
        check_int("alarm_p99_latency_ms", self.alarm_p99_latency_ms, minimum=1, maximum=900_000)
        if self.alarm_p99_latency_ms >= self.request_limit_ms:
            raise SpecError(
                "alarm_p99_latency_ms",
                f"requests on this pattern end by {self.request_limit_ms} ms, so a p99 alarm at "
                f"{self.alarm_p99_latency_ms} ms can never fire: use a lower threshold",
            )
        object.__setattr__(self, "cross_account", check_str_list("cross_account", self.cross_account))
        for index, key in enumerate(self.cross_account):
            check_choice(f"cross_account[{index}]", key, CROSS_ACCOUNT_OPTIONS)
        self._check_prod_recovery()

    @property
    def request_limit_ms(self) -> int:
        return self.REQUEST_LIMIT_MS

    def _check_prod_recovery(self) -> None:
        """Prod keeps what detects and survives failure: a NAT gateway per zone and alarms."""
        if self.profile.name != "prod":
            return
        if self.nat_per_zone is False and self.vpc_id is None:
            raise SpecError(
                "nat_per_zone",
                "prod keeps a NAT gateway in every zone, so losing one zone never cuts the others off; remove "
                "nat_per_zone: false (or deploy to a staging stack)",
            )
        if self.alarms is False:
            raise SpecError(
                "alarms",
                "prod keeps its error-rate and latency alarms (they also drive canary rollback); remove alarms: false",
            )

    def _check_network(self) -> None:
        if self.vpc_id is not None:
            check_str("vpc_id", self.vpc_id, pattern=VPC_ID, description="a VPC id (vpc-...)")
        for key in ("private_subnet_ids", "public_subnet_ids"):
            object.__setattr__(
                self,
                key,
                check_str_list(key, getattr(self, key), pattern=SUBNET_ID, description="a subnet id (subnet-...)"),
            )
        for key in ("private_subnet_ids", "public_subnet_ids"):
            seen: dict[str, int] = {}
            for index, subnet in enumerate(getattr(self, key)):
                if subnet in seen:
                    raise SpecError(
                        f"{key}[{index}]",
                        f"repeats {key}[{seen[subnet]}]: each subnet counts once, and zones are counted by subnet",
                    )
                seen[subnet] = index
        if self.vpc_id is None and (self.private_subnet_ids or self.public_subnet_ids):
            raise SpecError("vpc_id", "is required when you bring your own subnets")
        if self.vpc_id is not None and len(set(self.private_subnet_ids)) < 2:
            raise SpecError(
                "private_subnet_ids", "name at least two private subnets, in different availability zones, of vpc_id"
            )
        try:
            network = ipaddress.ip_network(self.vpc_cidr)
        except (TypeError, ValueError):
            raise SpecError("vpc_cidr", f"must be an IPv4 CIDR such as 10.0.0.0/16 (got {self.vpc_cidr!r})") from None
        if network.version != 4 or not network.is_private or not 16 <= network.prefixlen <= 20:
            raise SpecError("vpc_cidr", f"must be a private IPv4 range from /16 to /20 (got {self.vpc_cidr})")
        if self.zones is not None:
            check_int("zones", self.zones, minimum=2, maximum=3)
        if self.nat_per_zone is not None:
            check_bool("nat_per_zone", self.nat_per_zone)
        check_bool("vpc_endpoints", self.vpc_endpoints)
        check_bool("flow_logs", self.flow_logs)

    # --- resolved values: explicit options win over the profile ---

    @property
    def zone_count(self) -> int:
        return self.zones if self.zones is not None else self.profile.zones

    @property
    def alarms_enabled(self) -> bool:
        return self.alarms if self.alarms is not None else self.profile.alarms

    @property
    def retention_days(self) -> int:
        return self.log_retention_days if self.log_retention_days is not None else self.profile.log_retention_days

    @property
    def customer_managed_key(self) -> bool:
        return self.encryption == "customer-managed"

    def foundation_options(self) -> dict[str, Any]:
        """The shared options, to build a FoundationArgs from a pattern's args."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(AwsArgs) if f.name != "service"}
