"""AzureArgs: the target options every Azure pattern shares (resource group, network, keys, registry, logs, alerts)."""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass
from typing import Any, ClassVar

from ..base import ComponentArgs
from ..regions import region_zones
from ..validation import SpecError, check_bool, check_choice, check_int, check_optional_str, check_str_list
from .checks import arm_id, key_vault_object, vault_ids_by_name

__all__ = ["ENCRYPTION_MODES", "LOG_RETENTION_DAYS", "AzureArgs"]

ENCRYPTION_MODES = ("customer-managed", "provider-managed")
REGISTRY_SKUS = ("Basic", "Standard", "Premium")
# Log Analytics accepts 30-730 days on the PerGB2018 tier (and 4383, "unlimited" archive, which we do not use).
LOG_RETENTION_DAYS = (30, 60, 90, 120, 180, 270, 365, 550, 730)
RESOURCE_GROUP_NAME = r"[-\w._()]{1,89}[-\w_()]"
SUBSCRIPTION_ID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


@dataclass(frozen=True, kw_only=True)
class AzureArgs(ComponentArgs):
    """Options every Azure pattern takes. Each security-relevant piece is default / bring-your-own / skip.

    Resource group: created unless ``resource_group_name`` names yours. Network: ``vnet_cidr`` sizes the VNet
    created with its subnets, NSGs and NAT gateway; ``workload_subnet_id`` + ``endpoint_subnet_id`` use yours.
    Keys: ``key_id`` None creates a Key Vault (RBAC, purge protection, private endpoint) with a rotating key;
    a versionless key URI plus ``key_vault_id`` uses yours; ``encryption: provider-managed`` skips CMK.
    Registry: an ACR Premium is created unless ``registry_id`` names yours or ``create_registry`` is false.
    Logs: a Log Analytics workspace unless ``log_analytics_workspace_id`` names yours.
    See components/azure/README.md for every option.
    """

    subscription_id: str | None = None
    # Code only: where the target runs. The stack hook (provider_for_target) binds the target's region and zones.
    location: str | None = None
    region_zones: tuple[str, ...] | None = None
    resource_group_name: str | None = None
    # network
    vnet_cidr: str = "10.40.0.0/16"
    workload_subnet_id: str | None = None
    endpoint_subnet_id: str | None = None
    # encryption
    encryption: str = "customer-managed"
    key_id: str | None = None
    key_vault_id: str | None = None
    key_rotation_days: int = 90
    # registry
    registry_id: str | None = None
    create_registry: bool = True
    registry_sku: str = "Premium"
    # the vaults that hold referenced secrets (service.secrets, exposure.certificate): role-assignment scopes
    secret_vault_ids: tuple[str, ...] = ()
    # logs and alerts
    log_analytics_workspace_id: str | None = None
    log_retention_days: int | None = None
    alerts: bool | None = None
    action_group_ids: tuple[str, ...] = ()
    alert_errors_per_5m: int = 25
    alert_latency_ms: int = 2000

    CODE_ONLY: ClassVar[tuple[str, ...]] = ("location", "region_zones")

    def __post_init__(self) -> None:
        super().__post_init__()
        check_optional_str(
            "subscription_id", self.subscription_id, pattern=SUBSCRIPTION_ID, description="a subscription id (uuid)"
        )
        check_optional_str(
            "resource_group_name",
            self.resource_group_name,
            pattern=RESOURCE_GROUP_NAME,
            description="a resource group name (1-90 letters, digits, '-', '_', '.', '(' or ')')",
        )
        if self.location is not None:
            self.bind_location(self.location, self.region_zones, "location")
            self.check_zones()
        self._check_network()
        check_choice("encryption", self.encryption, ENCRYPTION_MODES)
        if self.key_id is not None:
            key = key_vault_object("key_id", self.key_id, ("keys",))
            if key.version is not None:
                raise SpecError("key_id", "must be versionless so rotation reaches every user (drop the version)")
            if self.key_vault_id is None:
                raise SpecError("key_vault_id", "is required with key_id: the role assignment is scoped to its key")
            vault = arm_id("key_vault_id", self.key_vault_id, "Microsoft.KeyVault/vaults")
            if vault.name.lower() != key.vault:
                raise SpecError("key_vault_id", f"names vault {vault.name}, but key_id is in vault {key.vault}")
            if self.encryption == "provider-managed":
                raise SpecError("encryption", "is provider-managed, but key_id names a key; set only one")
        elif self.key_vault_id is not None:
            raise SpecError("key_id", "is required with key_vault_id (the versionless key URI to encrypt with)")
        check_int("key_rotation_days", self.key_rotation_days, minimum=28, maximum=365)
        if self.registry_id is not None:
            arm_id("registry_id", self.registry_id, "Microsoft.ContainerRegistry/registries")
        check_bool("create_registry", self.create_registry)
        check_choice("registry_sku", self.registry_sku, REGISTRY_SKUS)
        if self.create_registry and self.registry_id is None and self.registry_sku != "Premium":
            raise SpecError(
                "registry_sku",
                f"{self.registry_sku} has no customer-managed key, zone redundancy or private endpoint, which the "
                "created registry uses: choose Premium, or bring your own registry with registry_id",
            )
        object.__setattr__(self, "secret_vault_ids", check_str_list("secret_vault_ids", self.secret_vault_ids))
        vaults = vault_ids_by_name("secret_vault_ids", self.secret_vault_ids)
        for env_name, ref in self.service.secrets.items():
            if ref.kind != "azure-key-vault":
                continue
            secret = key_vault_object(f"modelport:service.secrets.{env_name}", ref.reference)
            if secret.vault not in vaults:
                raise SpecError(
                    "secret_vault_ids",
                    f"name the ARM id of Key Vault {secret.vault} (secrets.{env_name}): the Key Vault Secrets User "
                    "assignment is scoped to that secret",
                )
        if self.log_analytics_workspace_id is not None:
            arm_id(
                "log_analytics_workspace_id",
                self.log_analytics_workspace_id,
                "Microsoft.OperationalInsights/workspaces",
            )
        if self.log_retention_days is not None:
            check_choice("log_retention_days", self.log_retention_days, LOG_RETENTION_DAYS)
        if self.alerts is not None:
            check_bool("alerts", self.alerts)
        groups = check_str_list("action_group_ids", self.action_group_ids)
        for index, group in enumerate(groups):
            arm_id(f"action_group_ids[{index}]", group, "Microsoft.Insights/actionGroups")
        object.__setattr__(self, "action_group_ids", groups)
        check_int("alert_errors_per_5m", self.alert_errors_per_5m, minimum=1, maximum=1_000_000)
        check_int("alert_latency_ms", self.alert_latency_ms, minimum=1, maximum=600_000)

    def _check_network(self) -> None:
        try:
            network = ipaddress.ip_network(self.vnet_cidr)
        except (TypeError, ValueError):
            raise SpecError(
                "vnet_cidr", f"must be an IPv4 CIDR such as 10.40.0.0/16 (got {self.vnet_cidr!r})"
            ) from None
        if network.version != 4 or not network.is_private or not 16 <= network.prefixlen <= 20:
            raise SpecError("vnet_cidr", f"must be a private IPv4 range from /16 to /20 (got {self.vnet_cidr})")
        given = [k for k in ("workload_subnet_id", "endpoint_subnet_id") if getattr(self, k) is not None]
        if len(given) == 1:
            missing = "endpoint_subnet_id" if given[0] == "workload_subnet_id" else "workload_subnet_id"
            raise SpecError(missing, "bring both subnets (workload and private endpoints) or neither")
        for key in given:
            arm_id(key, getattr(self, key), "Microsoft.Network/virtualNetworks/subnets")

    def bind_location(self, location: str, zones: tuple[str, ...] | None, path: str) -> None:
        """Set where the target runs (its region and zones); a prod target needs a region with zones."""
        found = region_zones(path, "azure", location, zones)
        if self.profile.name == "prod" and len(found) < 2:
            raise SpecError(
                path,
                f"{location} has no availability zones, and a prod target spreads over zones: choose a region with "
                "zones (for example westeurope, northeurope, eastus2, swedencentral)",
            )
        # Frozen dataclass: the hook binds the target's location once, before any resource exists.
        object.__setattr__(self, "location", location)
        object.__setattr__(self, "region_zones", tuple(found))

    def check_zones(self) -> None:
        """Checks that depend on the target's zones; patterns add theirs (called once the location is bound)."""

    @property
    def zone_names(self) -> tuple[str, ...]:
        """The zones the target spreads over: the profile's count of the region's zones (none in a zoneless one)."""
        return tuple((self.region_zones or ())[: max(self.profile.zones, 1)])

    # --- resolved values: explicit options win over the profile ---

    @property
    def alerts_enabled(self) -> bool:
        return self.alerts if self.alerts is not None else self.profile.alarms

    @property
    def retention_days(self) -> int:
        if self.log_retention_days is not None:
            return self.log_retention_days
        return max(30, self.profile.log_retention_days)

    @property
    def customer_managed_key(self) -> bool:
        return self.encryption == "customer-managed"

    @property
    def byo_network(self) -> bool:
        return self.workload_subnet_id is not None

    def foundation_options(self) -> dict[str, Any]:
        return {
            f.name: getattr(self, f.name) for f in dataclasses.fields(AzureArgs) if f.name not in ("service", "profile")
        }
