"""GcpArgs: the target options every GCP pattern shares (project, network, encryption, registry, bucket, identity,
alerting), plus the region and zones the target names."""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass
from typing import Any, ClassVar

from ..base import ComponentArgs
from ..regions import region_zones
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
from .checks import (
    BUCKET_NAME,
    DEFAULT_ACCOUNT,
    KMS_KEY,
    NETWORK,
    NOTIFICATION_CHANNEL,
    PROJECT_ID,
    REPOSITORY,
    SERVICE_ACCOUNT_EMAIL,
    SUBNETWORK,
)

__all__ = ["ENCRYPTION_MODES", "GcpArgs"]

ENCRYPTION_MODES = ("customer-managed", "google-managed")
# Google's published ranges for its health checkers and Google Front End proxies: the only sources admitted.
HEALTH_CHECK_RANGES = ("35.191.0.0/16", "130.211.0.0/22")


@dataclass(frozen=True, kw_only=True)
class GcpArgs(ComponentArgs):
    """Options every GCP pattern takes; each security-relevant piece is default / bring-your-own / skip.

    ``project`` is required. Network: ``network=None`` creates a VPC, subnet, Cloud Router and NAT; ``network``
    + ``subnetwork`` use yours. Encryption: ``kms_key=None`` creates a key ring and a key rotating every 90
    days; a key name uses yours; ``encryption="google-managed"`` skips CMEK (flagged by the policy pack).
    Registry, bucket and service account: created unless you name yours (or switch the registry and bucket
    off). See components/gcp/README.md.
    """

    project: str | None = None
    # Filled from the target (region and its zones), never from options.
    region: str | None = None
    zones: tuple[str, ...] = ()
    # network
    network: str | None = None
    subnetwork: str | None = None
    subnet_cidr: str = "10.10.0.0/20"
    flow_logs: bool = True
    # encryption
    kms_key: str | None = None
    encryption: str = "customer-managed"
    # registry, artifacts and identity
    repository: str | None = None
    create_repository: bool = True
    artifact_bucket: str | None = None
    create_artifact_bucket: bool = True
    service_account: str | None = None
    # alerting
    alarms: bool | None = None
    notification_channels: tuple[str, ...] = ()
    alarm_error_rate_percent: float = 5.0
    alarm_p99_latency_ms: int = 2000
    labels: dict[str, str] = dataclasses.field(default_factory=dict)

    CODE_ONLY: ClassVar[tuple[str, ...]] = ("region", "zones")
    # Patterns that need no VPC of their own (Vertex with Private Service Connect) override this.
    NETWORK_OPTIONAL: ClassVar[bool] = False

    @classmethod
    def target_values(cls, target: Any) -> dict[str, Any]:
        return {"region": target.region, "zones": target.region_zones}

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.project is None:
            raise SpecError("project", "is required: the GCP project id to deploy into (e.g. acme-ml-prod)")
        check_str("project", self.project, pattern=PROJECT_ID, description="a GCP project id (6-30 characters)")
        if self.region is None:
            raise SpecError("region", "is required: the target's GCP region (e.g. europe-west4)")
        zones = tuple(self.zones) or region_zones("region", "gcp", self.region)
        object.__setattr__(self, "zones", region_zones("region", "gcp", self.region, zones))
        self._check_network()
        check_choice("encryption", self.encryption, ENCRYPTION_MODES)
        if self.kms_key is not None:
            check_str("kms_key", self.kms_key, pattern=KMS_KEY, description="a Cloud KMS crypto key name")
            if self.encryption == "google-managed":
                raise SpecError("encryption", "is google-managed, but kms_key names a key; set only one")
            location = self.kms_key.split("/")[3]
            if location != self.region:
                raise SpecError(
                    "kms_key", f"must be in the target's region {self.region}; CMEK keys are regional (got {location})"
                )
        check_optional_str("repository", self.repository, pattern=REPOSITORY, description="an Artifact Registry id")
        check_bool("create_repository", self.create_repository)
        check_optional_str("artifact_bucket", self.artifact_bucket, pattern=BUCKET_NAME, description="a bucket name")
        check_bool("create_artifact_bucket", self.create_artifact_bucket)
        if self.service_account is not None:
            if isinstance(self.service_account, str) and DEFAULT_ACCOUNT.fullmatch(self.service_account):
                raise SpecError(
                    "service_account", f"must be a dedicated account, not a default one (got {self.service_account})"
                )
            check_str(
                "service_account",
                self.service_account,
                pattern=SERVICE_ACCOUNT_EMAIL,
                description="a user-managed service account email (<id>@<project>.iam.gserviceaccount.com)",
            )
        if self.alarms is not None:
            check_bool("alarms", self.alarms)
        object.__setattr__(
            self,
            "notification_channels",
            check_str_list(
                "notification_channels",
                self.notification_channels,
                pattern=NOTIFICATION_CHANNEL,
                description="a Monitoring notification channel (projects/<p>/notificationChannels/<id>)",
            ),
        )
        check_number(
            "alarm_error_rate_percent", self.alarm_error_rate_percent, minimum=0, maximum=100, exclusive_min=True
        )
        check_int("alarm_p99_latency_ms", self.alarm_p99_latency_ms, minimum=1, maximum=900_000)
        if not isinstance(self.labels, dict):
            raise SpecError("labels", "must be a mapping of label: value")
        for key, value in self.labels.items():
            check_str(f"labels.{key}", key, pattern=r"[a-z][a-z0-9_-]{0,62}", description="a GCP label key")
            check_str(f"labels.{key}", value, pattern=r"[a-z0-9_-]{0,63}", description="a GCP label value")

    def _check_network(self) -> None:
        check_optional_str("network", self.network, pattern=NETWORK, description="a VPC id (projects/p/global/...)")
        check_optional_str(
            "subnetwork", self.subnetwork, pattern=SUBNETWORK, description="a subnet id (projects/p/regions/r/...)"
        )
        if (self.network is None) != (self.subnetwork is None):
            raise SpecError(
                "subnetwork" if self.subnetwork is None else "network", "set network and subnetwork together"
            )
        if self.subnetwork is not None and self.subnetwork.split("/")[3] != self.region:
            raise SpecError("subnetwork", f"must be in the target's region {self.region}")
        try:
            cidr = ipaddress.ip_network(self.subnet_cidr, strict=True)
        except (TypeError, ValueError):
            raise SpecError(
                "subnet_cidr", f"must be an IPv4 CIDR such as 10.10.0.0/20 (got {self.subnet_cidr!r})"
            ) from None
        if cidr.version != 4 or not cidr.is_private or not 16 <= cidr.prefixlen <= 24:
            raise SpecError("subnet_cidr", f"must be a private IPv4 range from /16 to /24 (got {self.subnet_cidr})")
        check_bool("flow_logs", self.flow_logs)

    # --- resolved values: explicit options win over the profile ---

    @property
    def alarms_enabled(self) -> bool:
        return self.alarms if self.alarms is not None else self.profile.alarms

    @property
    def customer_managed_key(self) -> bool:
        return self.encryption == "customer-managed"

    @property
    def resource_labels(self) -> dict[str, str]:
        """Labels for every labelled resource: the service's tags made label-safe, the options' labels, ours."""
        import re

        labels = {}
        for key, value in self.service.tags.items():
            k = re.sub(r"[^a-z0-9_-]", "_", key.lower())[:63]
            if k and k[0].isalpha():
                labels[k] = re.sub(r"[^a-z0-9_-]", "_", value.lower())[:63]
        return {**labels, **self.labels, "managed-by": "modelport"}

    def foundation_options(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(GcpArgs) if f.name != "service"}
