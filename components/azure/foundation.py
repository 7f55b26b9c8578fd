"""Foundation: what an Azure target runs on. Resource group, VNet with delegated subnets, NSGs and a NAT gateway,
Key Vault with a rotating key, the workload's managed identity, ACR Premium and Log Analytics.

Each piece is default / bring-your-own / skip (see AzureArgs). Private endpoints reach the vault and the registry;
their public network access is off.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pulumi
import pulumi_azure_native as azure_native

from ..validation import SpecError
from .checks import arm_id, require_azure_secrets, vault_ids_by_name
from .iam import AzureContext, assign
from .naming import compact_name, dns_name
from .options import AzureArgs

__all__ = ["Foundation", "FoundationArgs", "Subnets"]

# Private DNS zones of the private endpoints (public Azure cloud).
VAULT_ZONE = "privatelink.vaultcore.azure.net"
REGISTRY_ZONE = "privatelink.azurecr.io"


@dataclass(frozen=True, kw_only=True)
class FoundationArgs(AzureArgs):
    """The shared options plus what the pattern needs.

    delegation: the service a third subnet is delegated to (``Microsoft.App/environments``,
        ``Microsoft.Web/serverFarms``), or None.
    delegated_prefix: its size (Container Apps workload-profile environments need at least /27).
    gateway_subnet: a subnet for an Application Gateway.
    """

    delegation: str | None = None
    delegated_prefix: int = 23
    gateway_subnet: bool = False

    # NSG rules a pattern adds per subnet key (workload, gateway, delegated), above the internet deny.
    inbound_rules: Mapping[str, tuple[Mapping[str, Any], ...]] = field(default_factory=dict)

    CODE_ONLY: ClassVar[tuple[str, ...]] = (
        "location",
        "region_zones",
        "delegation",
        "delegated_prefix",
        "gateway_subnet",
        "inbound_rules",
    )

    @classmethod
    def for_pattern(cls, args: AzureArgs, **needs: Any) -> FoundationArgs:
        return cls(service=args.service, profile=args.profile, **args.foundation_options(), **needs)


@dataclass(frozen=True)
class Subnets:
    workload: pulumi.Output[str]
    endpoints: pulumi.Output[str]
    delegated: pulumi.Output[str] | None
    gateway: pulumi.Output[str] | None


def _carve(vnet: str, delegated_prefix: int) -> dict[str, str]:
    """Fixed, non-overlapping subnets of the VNet: workload /22, endpoints /26, delegated, gateway /24."""
    network = ipaddress.ip_network(vnet)
    base = int(network.network_address)

    def at(offset_24: int, prefix: int) -> str:
        return str(ipaddress.ip_network((base + offset_24 * 256, prefix)))

    return {
        "workload": at(0, 22),
        "endpoints": at(4, 26),
        "gateway": at(5, 24),
        "delegated": at(8, delegated_prefix),
    }


class Foundation(pulumi.ComponentResource):
    """Network, keys, identity, registry and logs for one Azure target (``modelport:azure:Foundation``)."""

    def __init__(self, name: str, args: FoundationArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("modelport:azure:Foundation", name, None, opts)
        self.args = args
        self._name = name
        child = pulumi.ResourceOptions(parent=self)
        config = azure_native.authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))
        location = self._location()

        if args.resource_group_name is None:
            self.resource_group = azure_native.resources.ResourceGroup(f"{name}-rg", location=location, opts=child)
            group_name, group_id = self.resource_group.name, self.resource_group.id
        else:
            self.resource_group = None
            group_name = pulumi.Output.from_input(args.resource_group_name)
            group_id = pulumi.Output.concat(
                "/subscriptions/", config.subscription_id, "/resourceGroups/", args.resource_group_name
            )
        self.context = AzureContext(
            subscription_id=config.subscription_id,
            tenant_id=config.tenant_id,
            location=location,
            resource_group_name=group_name,
            resource_group_id=group_id,
        )
        self._logs()
        self._network()
        self._keys()
        self.identity = azure_native.managedidentity.UserAssignedIdentity(
            f"{name}-identity", resource_group_name=group_name, location=location, opts=child
        )
        self._registry()
        self._grants()
        self.register_outputs(
            {
                "resource_group_name": group_name,
                "identity_id": self.identity.id,
                "key_id": self.key_id,
                "registry_login_server": self.registry_login_server,
                "log_analytics_workspace_id": self.log_analytics_workspace_id,
            }
        )

    # --- location --------------------------------------------------------------------------------------------

    def _location(self) -> str:
        if self.args.location is None:
            raise SpecError("location", "is required: deploy through modelport.deploy, or pass location= from code")
        return self.args.location

    # --- logs ------------------------------------------------------------------------------------------------

    def _logs(self) -> None:
        args, name = self.args, self._name
        if args.log_analytics_workspace_id is not None:
            self.log_analytics = None
            self.log_analytics_workspace_id = pulumi.Output.from_input(args.log_analytics_workspace_id)
            return
        self.log_analytics = azure_native.operationalinsights.Workspace(
            f"{name}-logs",
            resource_group_name=self.context.resource_group_name,
            location=self.context.location,
            sku={"name": "PerGB2018"},
            retention_in_days=args.retention_days,
            features={"enable_log_access_using_only_resource_permissions": True},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.log_analytics_workspace_id = self.log_analytics.id

    def diagnostics(
        self, name: str, resource_id: pulumi.Input[str], parent: pulumi.Resource, *, logs: bool = True
    ) -> azure_native.monitor.DiagnosticSetting:
        """Every log category group and all metrics of ``resource_id`` to the Log Analytics workspace."""
        return azure_native.monitor.DiagnosticSetting(
            name,
            name="modelport",
            resource_uri=resource_id,
            workspace_id=self.log_analytics_workspace_id,
            logs=[{"category_group": "allLogs", "enabled": True}] if logs else [],
            metrics=[{"category": "AllMetrics", "enabled": True}],
            opts=pulumi.ResourceOptions(parent=parent),
        )

    # --- network ---------------------------------------------------------------------------------------------

    def _network(self) -> None:
        args, name, ctx = self.args, self._name, self.context
        child = pulumi.ResourceOptions(parent=self)
        self.nsgs: dict[str, azure_native.network.NetworkSecurityGroup] = {}
        if args.byo_network:
            self.vnet = None
            self.nat_gateway = None
            self.subnets = Subnets(
                workload=pulumi.Output.from_input(args.workload_subnet_id),  # type: ignore[arg-type]
                endpoints=pulumi.Output.from_input(args.endpoint_subnet_id),  # type: ignore[arg-type]
                delegated=None,
                gateway=None,
            )
            vnet = arm_id("workload_subnet_id", args.workload_subnet_id, "Microsoft.Network/virtualNetworks/subnets")
            self.vnet_id = pulumi.Output.from_input(vnet.text.rsplit("/subnets/", 1)[0])
            if args.delegation is not None or args.gateway_subnet:
                raise SpecError(
                    "workload_subnet_id",
                    "this pattern also needs a subnet it creates (delegated to "
                    f"{args.delegation or 'an Application Gateway'}), which a brought network cannot receive; "
                    "leave the network to modelport",
                )
            return
        zones = tuple(args.region_zones or ())
        self.nat_ip = azure_native.network.PublicIPAddress(
            f"{name}-nat-ip",
            resource_group_name=ctx.resource_group_name,
            location=ctx.location,
            sku={"name": "Standard", "tier": "Regional"},
            public_ip_allocation_method="Static",
            public_ip_address_version="IPv4",
            zones=list(zones) or None,
            opts=child,
        )
        self.nat_gateway = azure_native.network.NatGateway(
            f"{name}-nat",
            resource_group_name=ctx.resource_group_name,
            location=ctx.location,
            sku={"name": "Standard"},
            idle_timeout_in_minutes=4,
            public_ip_addresses=[{"id": self.nat_ip.id}],
            opts=child,
        )
        self.vnet = azure_native.network.VirtualNetwork(
            f"{name}-vnet",
            resource_group_name=ctx.resource_group_name,
            location=ctx.location,
            address_space={"address_prefixes": [args.vnet_cidr]},
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["subnets"]),
        )
        self.vnet_id = self.vnet.id
        prefixes = _carve(args.vnet_cidr, args.delegated_prefix)
        wanted = [("workload", None, True), ("endpoints", None, False)]
        if args.gateway_subnet:
            wanted.append(("gateway", None, False))
        if args.delegation is not None:
            wanted.append(("delegated", args.delegation, True))
        created: dict[str, azure_native.network.Subnet] = {}
        previous: list[pulumi.Resource] = []
        for key, delegation, nat in wanted:
            nsg = azure_native.network.NetworkSecurityGroup(
                f"{name}-{key}-nsg",
                resource_group_name=ctx.resource_group_name,
                location=ctx.location,
                security_rules=[*args.inbound_rules.get(key, ()), *_base_rules(key)],
                opts=child,
            )
            self.nsgs[key] = nsg
            subnet = azure_native.network.Subnet(
                f"{name}-{key}-subnet",
                resource_group_name=ctx.resource_group_name,
                virtual_network_name=self.vnet.name,
                address_prefix=prefixes[key],
                network_security_group={"id": nsg.id},
                nat_gateway={"id": self.nat_gateway.id} if nat else None,
                default_outbound_access=False,
                delegations=[{"name": delegation.replace("/", "-"), "service_name": delegation}]
                if delegation
                else None,
                private_endpoint_network_policies="Enabled" if key == "endpoints" else None,
                # One subnet operation at a time per VNet: ARM refuses concurrent changes.
                opts=pulumi.ResourceOptions(parent=self, depends_on=previous),
            )
            created[key] = subnet
            previous = [subnet]
        self.subnet_resources = created
        self.subnets = Subnets(
            workload=created["workload"].id,
            endpoints=created["endpoints"].id,
            delegated=created["delegated"].id if "delegated" in created else None,
            gateway=created["gateway"].id if "gateway" in created else None,
        )

    def private_endpoint(
        self, key: str, target_id: pulumi.Input[str], group: str, zones: tuple[str, ...], parent: pulumi.Resource
    ) -> azure_native.network.PrivateEndpoint:
        """A private endpoint for ``target_id`` in the endpoints subnet, with its private DNS zones linked to the
        VNet (a brought network keeps its own DNS: no zones are created then)."""
        name, ctx = self._name if parent is self else str(parent._name), self.context  # type: ignore[attr-defined]
        child = pulumi.ResourceOptions(parent=parent)
        endpoint = azure_native.network.PrivateEndpoint(
            f"{name}-{key}-pe",
            resource_group_name=ctx.resource_group_name,
            location=ctx.location,
            subnet={"id": self.subnets.endpoints},
            private_link_service_connections=[
                {"name": key, "private_link_service_id": target_id, "group_ids": [group]}
            ],
            opts=child,
        )
        if self.vnet is None:
            return endpoint
        configs = []
        for zone in zones:
            label = zone.split(".")[1]
            dns_zone = azure_native.privatedns.PrivateZone(
                f"{name}-{key}-{label}-dns",
                resource_group_name=ctx.resource_group_name,
                location="global",
                private_zone_name=zone,
                opts=child,
            )
            azure_native.privatedns.VirtualNetworkLink(
                f"{name}-{key}-{label}-dns-link",
                resource_group_name=ctx.resource_group_name,
                private_zone_name=dns_zone.name,
                location="global",
                virtual_network={"id": self.vnet_id},
                registration_enabled=False,
                opts=child,
            )
            configs.append({"name": zone.replace(".", "-"), "private_dns_zone_id": dns_zone.id})
        azure_native.network.PrivateDnsZoneGroup(
            f"{name}-{key}-dns-group",
            resource_group_name=ctx.resource_group_name,
            private_endpoint_name=endpoint.name,
            private_dns_zone_group_name="default",
            private_dns_zone_configs=configs,
            opts=child,
        )
        return endpoint

    # --- keys ------------------------------------------------------------------------------------------------

    def _keys(self) -> None:
        args, name, ctx = self.args, self._name, self.context
        child = pulumi.ResourceOptions(parent=self)
        self.vault = None
        self.key = None
        if not args.customer_managed_key:
            self.key_id = None
            self.key_vault_id = None
            self.key_resource_id = None
            return
        if args.key_id is not None:
            self.key_id = pulumi.Output.from_input(args.key_id)
            self.key_vault_id = pulumi.Output.from_input(args.key_vault_id)  # type: ignore[arg-type]
            key_name = args.key_id.rstrip("/").rsplit("/", 1)[-1]
            self.key_resource_id = pulumi.Output.concat(self.key_vault_id, "/keys/", key_name)
            return
        self.vault = azure_native.keyvault.Vault(
            f"{name}-kv",
            resource_group_name=ctx.resource_group_name,
            location=ctx.location,
            vault_name=dns_name(f"{name}-kv", 24),
            properties={
                "tenant_id": ctx.tenant_id,
                "sku": {"family": "A", "name": "premium"},
                "enable_rbac_authorization": True,
                "enable_purge_protection": True,
                "enable_soft_delete": True,
                "soft_delete_retention_in_days": 90,
                "public_network_access": "Disabled",
                "network_acls": {"bypass": "AzureServices", "default_action": "Deny"},
            },
            opts=child,
        )
        self.key = azure_native.keyvault.Key(
            f"{name}-key",
            resource_group_name=ctx.resource_group_name,
            vault_name=self.vault.name,
            key_name=f"{self._name[:100]}-cmk".replace("_", "-"),
            properties={
                "kty": "RSA-HSM",
                "key_size": 3072,
                "key_ops": ["wrapKey", "unwrapKey"],
                "rotation_policy": {
                    "attributes": {"expiry_time": "P2Y"},
                    "lifetime_actions": [
                        {"action": {"type": "rotate"}, "trigger": {"time_after_create": f"P{args.key_rotation_days}D"}},
                        {"action": {"type": "notify"}, "trigger": {"time_before_expiry": "P30D"}},
                    ],
                },
            },
            opts=child,
        )
        self.key_id = self.key.key_uri
        self.key_vault_id = self.vault.id
        self.key_resource_id = self.key.id
        self.private_endpoint("kv", self.vault.id, "vault", (VAULT_ZONE,), self)
        self.diagnostics(f"{name}-kv-diagnostics", self.vault.id, self)

    # --- registry --------------------------------------------------------------------------------------------

    def _registry(self) -> None:
        args, name, ctx = self.args, self._name, self.context
        child = pulumi.ResourceOptions(parent=self)
        self.registry = None
        self.registry_identity = None
        if args.registry_id is not None:
            parsed = arm_id("registry_id", args.registry_id, "Microsoft.ContainerRegistry/registries")
            self.registry_id = pulumi.Output.from_input(args.registry_id)
            self.registry_name = parsed.name.lower()
            self.registry_login_server = pulumi.Output.from_input(f"{self.registry_name}.azurecr.io")
            return
        if not args.create_registry:
            self.registry_id = None
            self.registry_name = None
            self.registry_login_server = None
            return
        self.registry_name = compact_name(f"{name}acr", 50)
        depends: list[pulumi.Resource] = []
        encryption = None
        identity = None
        if self.key_id is not None:
            self.registry_identity = azure_native.managedidentity.UserAssignedIdentity(
                f"{name}-acr-identity", resource_group_name=ctx.resource_group_name, location=ctx.location, opts=child
            )
            depends.append(
                assign(
                    ctx,
                    f"{name}-acr-key-user",
                    "Key Vault Crypto Service Encryption User",
                    self.key_resource_id,  # type: ignore[arg-type]
                    self.registry_identity.principal_id,
                    self,
                )
            )
            # The registry API still takes user-assigned identities as a map keyed by id.
            identity = self.registry_identity.id.apply(
                lambda i: {"type": "UserAssigned", "user_assigned_identities": {i: {}}}
            )
            encryption = {
                "status": "enabled",
                "key_vault_properties": {"key_identifier": self.key_id, "identity": self.registry_identity.client_id},
            }
        self.registry = azure_native.containerregistry.Registry(
            f"{name}-acr",
            resource_group_name=ctx.resource_group_name,
            location=ctx.location,
            registry_name=self.registry_name,
            sku={"name": "Premium"},
            admin_user_enabled=False,
            anonymous_pull_enabled=False,
            public_network_access="Disabled",
            network_rule_bypass_options="AzureServices",
            zone_redundancy="Enabled" if args.region_zones else "Disabled",
            data_endpoint_enabled=True,
            identity=identity,
            encryption=encryption,
            policies={
                "retention_policy": {"days": 30, "status": "enabled"},
                "export_policy": {"status": "disabled"},
                "trust_policy": {"status": "disabled", "type": "Notary"},
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends),
        )
        self.registry_id = self.registry.id
        self.registry_login_server = self.registry.login_server
        self.private_endpoint("acr", self.registry.id, "registry", (REGISTRY_ZONE,), self)
        self.diagnostics(f"{name}-acr-diagnostics", self.registry.id, self)

    # --- grants on exact scopes ------------------------------------------------------------------------------

    def _grants(self) -> None:
        args, name, ctx = self.args, self._name, self.context
        self.grants: list[pulumi.Resource] = []
        if self.registry_id is not None:
            self.grants.append(
                assign(ctx, f"{name}-acr-pull", "AcrPull", self.registry_id, self.identity.principal_id, self)
            )
        vaults = vault_ids_by_name("secret_vault_ids", args.secret_vault_ids)
        for env_name, secret in require_azure_secrets(args.service, "Azure"):
            vault = vaults[secret.vault]  # AzureArgs checked every referenced vault is listed
            self.grants.append(
                assign(
                    ctx,
                    f"{name}-secret-{env_name.lower().replace('_', '-')}",
                    "Key Vault Secrets User",
                    f"{vault.text}/secrets/{secret.name}",
                    self.identity.principal_id,
                    self,
                )
            )

    def grant_key(self, name: str, principal_id: pulumi.Input[str], parent: pulumi.Resource) -> pulumi.Resource | None:
        """Key Vault Crypto Service Encryption User on exactly the key, for a service that wraps data with it."""
        if self.key_resource_id is None:
            return None
        return assign(
            self.context, name, "Key Vault Crypto Service Encryption User", self.key_resource_id, principal_id, parent
        )


def key_vault_encryption(key_id: pulumi.Input[str], identity_id: pulumi.Input[str]) -> dict[str, Any]:
    """Storage encryption with the Key Vault key ``key_id`` through the user-assigned identity ``identity_id``."""
    key = pulumi.Output.from_input(key_id)
    return {
        "key_source": "Microsoft.Keyvault",
        "key_vault_properties": {
            "key_name": key.apply(lambda k: k.rstrip("/").split("/keys/", 1)[1].split("/")[0]),
            "key_vault_uri": key.apply(lambda k: k.split("/keys/", 1)[0] + "/"),
        },
        "encryption_identity": {"encryption_user_assigned_identity": identity_id},
        "require_infrastructure_encryption": True,
    }


def private_storage_account(
    resource_name: str,
    account_name: str,
    ctx: AzureContext,
    identity_id: pulumi.Input[str],
    zone_names: tuple[str, ...],
    encryption: Mapping[str, Any],
    opts: pulumi.ResourceOptions,
) -> azure_native.storage.StorageAccount:
    """A storage account reached only with Entra ID, over a private network path, zone-redundant where it can be."""
    return azure_native.storage.StorageAccount(
        resource_name,
        account_name=account_name,
        resource_group_name=ctx.resource_group_name,
        location=ctx.location,
        kind="StorageV2",
        sku={"name": "Standard_ZRS" if len(zone_names) >= 2 else "Standard_LRS"},
        identity={"type": "UserAssigned", "user_assigned_identities": [identity_id]},
        enable_https_traffic_only=True,
        minimum_tls_version="TLS1_2",
        allow_blob_public_access=False,
        allow_shared_key_access=False,
        default_to_o_auth_authentication=True,
        public_network_access="Disabled",
        network_rule_set={"default_action": "Deny", "bypass": "AzureServices"},
        encryption=dict(encryption),
        opts=opts,
    )


def _zones_of(args: AzureArgs) -> tuple[str, ...]:
    return args.zone_names


def _base_rules(key: str) -> list[dict[str, Any]]:
    """Explicit deny of internet inbound below every allow a pattern adds (priority 4096 is the last)."""
    return [
        {
            "name": "DenyInternetInbound",
            "priority": 4000,
            "direction": "Inbound",
            "access": "Deny",
            "protocol": "*",
            "source_address_prefix": "Internet",
            "source_port_range": "*",
            "destination_address_prefix": "*",
            "destination_port_range": "*",
            "description": f"No internet inbound to the {key} subnet except what a rule above allows",
        }
    ]
