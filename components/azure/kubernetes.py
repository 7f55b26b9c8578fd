"""AksService (`kubernetes`): a private AKS cluster (Standard tier, Entra ID with Azure RBAC, local accounts off,
KMS for etcd, Azure CNI overlay with Cilium, system and user pools over the zones with autoscaling, encryption at
host, workload identity), then the model service as a ModelWorkload bound to a federated identity credential."""

from __future__ import annotations

import base64
import ipaddress
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pulumi
import pulumi_azure_native as azure_native
import pulumi_kubernetes as k8s

from ..base import component_props
from ..kubernetes.workload import ModelWorkload, ModelWorkloadArgs
from ..validation import SpecError, check_int, check_optional_str, check_str_list, under
from .checks import ServiceSpecError, require_azure_secrets, require_no_artifact
from .iam import AzureContext, assign
from .naming import dns_name
from .pattern import PatternArgs, component_options, foundation_for, provider_for_target
from .sizing import RESERVED_CPU, RESERVED_MEMORY_GIB, VM_SIZES, check_vm_size, pick_vm_size

__all__ = ["AksService", "AksServiceArgs"]

PATTERN = "the kubernetes pattern (AKS)"
_RESERVED_WORKLOAD_OPTIONS = ("provider", "context", "service", "profile", "service_account_annotations")
WORKLOAD_IDENTITY_LABEL = "azure.workload.identity/use"
WORKLOAD_IDENTITY_CLIENT = "azure.workload.identity/client-id"
TOKEN_AUDIENCE = "api://AzureADTokenExchange"
SYSTEM_POOL_SIZE = "Standard_D4ds_v5"
POD_CIDR = "192.168.0.0/16"
SERVICE_CIDR = "172.16.0.0/16"
DNS_SERVICE_IP = "172.16.0.10"
KEY_VERSION = r"[0-9a-f]{32}"


@dataclass(frozen=True, kw_only=True)
class AksServiceArgs(PatternArgs):
    """Options of the kubernetes pattern (see components/azure/README.md).

    kubernetes_version: None takes AKS's default; auto-upgrade follows the ``stable`` channel either way.
    node_vm_size: user pool size (encryption at host and Trusted Launch required); None fits ``resources``.
    node_min / node_max: user pool bounds; None derives them from scaling and the zones.
    api_authorized_networks: CIDRs for a public API server limited to them; empty keeps the API server private.
    kms_key_version: the version of a brought key_id (AKS KMS needs a versioned key); ignored for a created key.
    workload: options passed to ModelWorkload (namespace, ingress_class, gateway, ...).
    """

    kubernetes_version: str | None = None
    node_vm_size: str | None = None
    node_min: int | None = None
    node_max: int | None = None
    api_authorized_networks: tuple[str, ...] = ()
    kms_key_version: str | None = None
    workload: Mapping[str, Any] = field(default_factory=dict)

    PATTERN: ClassVar[str] = "AKS workload"
    GRPC_REFUSAL: ClassVar[str | None] = ModelWorkloadArgs.GRPC_REFUSAL

    def __post_init__(self) -> None:
        super().__post_init__()
        svc = self.service
        require_no_artifact(svc, PATTERN, "bake the model into the image, or use the ml_platform pattern")
        if svc.secrets:
            require_azure_secrets(svc, PATTERN)
            raise SpecError(
                "modelport:service.secrets",
                "AKS workloads read Key Vault secrets through the Secrets Store CSI driver's SecretProviderClass, "
                "which this release does not generate; use k8s:// references on a kubernetes target, or the "
                "container pattern",
            ) from None
        if self.principals:
            raise ServiceSpecError(
                "exposure.allowed_principals",
                "in-cluster NetworkPolicies admit namespaces and networks, not Entra ID principals: name callers as "
                "namespace/<name>, or use the container, serverless or ml_platform pattern",
            )
        check_optional_str(
            "kubernetes_version", self.kubernetes_version, pattern=r"1\.\d{2}(\.\d+)?", description="1.<minor>[.patch]"
        )
        if self.node_vm_size is not None:
            check_vm_size("node_vm_size", self.node_vm_size)
        else:
            pick_vm_size(svc, "modelport:service.resources", reserve=True)
        if self.node_min is not None:
            check_int("node_min", self.node_min, minimum=1, maximum=1000)
        if self.node_max is not None:
            check_int("node_max", self.node_max, minimum=max(self.node_min or 1, 1), maximum=1000)
        networks = check_str_list("api_authorized_networks", self.api_authorized_networks)
        for index, cidr in enumerate(networks):
            try:
                network = ipaddress.ip_network(cidr, strict=True)
            except ValueError:
                raise SpecError(f"api_authorized_networks[{index}]", f"must be a CIDR (got {cidr!r})") from None
            if network.prefixlen == 0:
                raise SpecError(f"api_authorized_networks[{index}]", "must not open the API server to every address")
        object.__setattr__(self, "api_authorized_networks", networks)
        if self.key_id is not None and self.customer_managed_key:
            check_optional_str(
                "kms_key_version", self.kms_key_version, pattern=KEY_VERSION, description="a key version"
            )
            if self.kms_key_version is None:
                raise SpecError("kms_key_version", "is required with key_id: AKS KMS names a versioned key")
        elif self.kms_key_version is not None:
            raise SpecError("kms_key_version", "applies only to a brought key_id")
        if not self.customer_managed_key:
            raise SpecError("encryption", "AKS here always encrypts etcd secrets with a Key Vault key (KMS)")
        self.workload_args(None)

    def check_zones(self) -> None:
        zones = max(1, len(self.zone_names))
        if self.node_min is not None and self.node_min < zones:
            raise SpecError("node_min", f"must be >= the pool's {zones} zones, one node per zone (got {self.node_min})")

    @property
    def user_vm_size(self) -> str:
        return self.node_vm_size or pick_vm_size(self.service, "modelport:service.resources", reserve=True).name

    @property
    def node_bounds(self) -> tuple[int, int]:
        size = VM_SIZES[self.user_vm_size]
        res = self.service.resources
        per_node = max(
            1,
            min(
                math.floor((size.vcpus - RESERVED_CPU) / res.cpu),
                math.floor((size.memory_gib - RESERVED_MEMORY_GIB) * 1024 / res.memory_mib),
            ),
        )
        zones = max(1, len(self.zone_names))
        low = self.node_min or max(zones, math.ceil(self.service.min_replicas / per_node))
        high = self.node_max or max(low, math.ceil(self.service.scaling.max_replicas / per_node) + 1)
        return low, high

    def workload_args(self, provider: k8s.Provider | None) -> ModelWorkloadArgs:
        options = dict(self.workload)
        for key in options:
            if key in _RESERVED_WORKLOAD_OPTIONS:
                raise SpecError(f"workload.{key}", "is set by the AKS component")
        labels = {**dict(options.pop("pod_labels", {}) or {}), WORKLOAD_IDENTITY_LABEL: "true"}
        with under("workload"):
            known = set(ModelWorkloadArgs.option_names())
            for key in options:
                if key not in known:
                    raise SpecError(key, f"unknown key; accepted keys: {', '.join(sorted(known))}")
            return ModelWorkloadArgs(
                service=self.service, profile=self.profile, provider=provider, pod_labels=labels, **options
            )


class AksService(pulumi.ComponentResource):
    """AKS cluster with its identities and grants, the Kubernetes provider, federated credential, ModelWorkload."""

    args_type = AksServiceArgs
    provider_for_target = staticmethod(provider_for_target)

    endpoint: pulumi.Output[str]
    identity: pulumi.Output[str]

    def __init__(self, name: str, args: AksServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("modelport:azure:AksService", name, component_props(args), component_options(opts, args))
        self._name = name
        self._args = args
        svc = args.service
        self.foundation = foundation_for(self, name, args)
        ctx = self.foundation.context
        child = pulumi.ResourceOptions(parent=self)
        self.cluster_identity = azure_native.managedidentity.UserAssignedIdentity(
            f"{name}-cluster-identity", resource_group_name=ctx.resource_group_name, location=ctx.location, opts=child
        )
        self.kubelet_identity = azure_native.managedidentity.UserAssignedIdentity(
            f"{name}-kubelet-identity", resource_group_name=ctx.resource_group_name, location=ctx.location, opts=child
        )
        ready = self._grants(ctx)
        self.cluster = self._cluster(ctx, ready)
        self.foundation.diagnostics(f"{name}-aks-diagnostics", self.cluster.id, self)

        credentials = azure_native.containerservice.list_managed_cluster_user_credentials_output(
            resource_group_name=ctx.resource_group_name,
            resource_name=self.cluster.name,
            format="exec",
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        kubeconfig = pulumi.Output.secret(
            credentials.kubeconfigs.apply(lambda ks: base64.b64decode(ks[0].value).decode())
        )
        self.kubernetes_provider = k8s.Provider(
            f"{name}-k8s", kubeconfig=kubeconfig, enable_server_side_apply=True, opts=child
        )
        workload_args = args.workload_args(self.kubernetes_provider)
        # The client id exists once the identity does; the validated args carry everything else.
        object.__setattr__(
            workload_args,
            "service_account_annotations",
            {WORKLOAD_IDENTITY_CLIENT: self.foundation.identity.client_id},
        )
        self.federated_credential = azure_native.managedidentity.FederatedIdentityCredential(
            f"{name}-workload-federation",
            resource_group_name=ctx.resource_group_name,
            resource_name_=self.foundation.identity.name,
            federated_identity_credential_resource_name=dns_name(f"{name}-workload", 64, unique=False),
            issuer=self.cluster.oidc_issuer_profile.apply(lambda p: p.issuer_url if p else ""),
            subject=f"system:serviceaccount:{workload_args.namespace_name}:{svc.name}",
            audiences=[TOKEN_AUDIENCE],
            opts=child,
        )
        self.workload = ModelWorkload(
            f"{name}-workload",
            workload_args,
            pulumi.ResourceOptions(parent=self, depends_on=[self.federated_credential]),
        )
        self.endpoint = self.workload.endpoint
        self.identity = self.foundation.identity.id
        self.register_outputs({"endpoint": self.endpoint, "identity": self.identity, "cluster_id": self.cluster.id})

    def _grants(self, ctx: AzureContext) -> list[pulumi.Resource]:
        """The control plane manages the kubelet identity, joins the subnet and uses the KMS key; nodes pull."""
        name, foundation = self._name, self.foundation
        cluster = self.cluster_identity.principal_id
        grants = [
            assign(
                ctx, f"{name}-kubelet-operator", "Managed Identity Operator", self.kubelet_identity.id, cluster, self
            ),
            assign(ctx, f"{name}-subnet-join", "Network Contributor", foundation.subnets.workload, cluster, self),
            assign(ctx, f"{name}-kms-key", "Key Vault Crypto User", foundation.key_resource_id, cluster, self),  # type: ignore[arg-type]
            # KMS with a private vault: AKS creates its own private endpoint to the vault.
            assign(ctx, f"{name}-kms-vault", "Key Vault Contributor", foundation.key_vault_id, cluster, self),  # type: ignore[arg-type]
        ]
        if foundation.registry_id is not None:
            grants.append(
                assign(
                    ctx,
                    f"{name}-kubelet-pull",
                    "AcrPull",
                    foundation.registry_id,
                    self.kubelet_identity.principal_id,
                    self,
                )
            )
        return grants

    def _cluster(self, ctx: AzureContext, ready: list[pulumi.Resource]) -> azure_native.containerservice.ManagedCluster:
        args, name, foundation = self._args, self._name, self.foundation
        zones = list(args.zone_names) or None
        low, high = args.node_bounds
        if args.key_id is not None:
            key_version_id: pulumi.Input[str] = f"{args.key_id.rstrip('/')}/{args.kms_key_version}"
        else:
            key_version_id = foundation.key.key_uri_with_version  # type: ignore[union-attr]

        def pool(pool_name: str, mode: str, size: str, minimum: int, maximum: int) -> dict[str, Any]:
            ephemeral = VM_SIZES[size].ephemeral_os_gib >= 64
            profile: dict[str, Any] = {
                "name": pool_name,
                "mode": mode,
                "type": "VirtualMachineScaleSets",
                "vm_size": size,
                "os_type": "Linux",
                "os_sku": "AzureLinux",
                "os_disk_type": "Ephemeral" if ephemeral else "Managed",
                "os_disk_size_gb": 64 if ephemeral else 128,
                "availability_zones": zones,
                "enable_auto_scaling": True,
                "min_count": minimum,
                "max_count": maximum,
                "count": minimum,
                "enable_encryption_at_host": True,
                "enable_node_public_ip": False,
                "vnet_subnet_id": foundation.subnets.workload,
                "max_pods": 110,
                "upgrade_settings": {"max_surge": "33%"},
            }
            if mode == "System":
                profile["node_taints"] = ["CriticalAddonsOnly=true:NoSchedule"]
            return profile

        zone_count = max(1, len(args.zone_names))
        access: dict[str, Any] = (
            {"authorized_ip_ranges": list(args.api_authorized_networks), "disable_run_command": True}
            if args.api_authorized_networks
            else {
                "enable_private_cluster": True,
                "enable_private_cluster_public_fqdn": False,
                "private_dns_zone": "system",
            }
        )
        return azure_native.containerservice.ManagedCluster(
            f"{name}-aks",
            resource_name_=dns_name(f"{name}-aks", 63),
            resource_group_name=ctx.resource_group_name,
            location=ctx.location,
            dns_prefix=dns_name(args.service.name, 40),
            kubernetes_version=args.kubernetes_version,
            sku={"name": "Base", "tier": "Standard"},
            identity={"type": "UserAssigned", "user_assigned_identities": [self.cluster_identity.id]},
            identity_profile={
                "kubeletidentity": {
                    "resource_id": self.kubelet_identity.id,
                    "client_id": self.kubelet_identity.client_id,
                    "object_id": self.kubelet_identity.principal_id,
                }
            },
            agent_pool_profiles=[
                pool("system", "System", SYSTEM_POOL_SIZE, zone_count, max(zone_count, 2 * zone_count)),
                pool("user", "User", args.user_vm_size, low, high),
            ],
            network_profile={
                "network_plugin": "azure",
                "network_plugin_mode": "overlay",
                "network_dataplane": "cilium",
                "network_policy": "cilium",
                "outbound_type": "userAssignedNATGateway" if foundation.nat_gateway is not None else "loadBalancer",
                "load_balancer_sku": "standard",
                "pod_cidr": POD_CIDR,
                "service_cidr": SERVICE_CIDR,
                "dns_service_ip": DNS_SERVICE_IP,
            },
            aad_profile={"managed": True, "enable_azure_rbac": True, "tenant_id": ctx.tenant_id},
            enable_rbac=True,
            disable_local_accounts=True,
            api_server_access_profile=access,
            oidc_issuer_profile={"enabled": True},
            security_profile={
                "workload_identity": {"enabled": True},
                "azure_key_vault_kms": {
                    "enabled": True,
                    "key_id": key_version_id,
                    "key_vault_network_access": "Private",
                    "key_vault_resource_id": foundation.key_vault_id,
                },
                "image_cleaner": {"enabled": True, "interval_hours": 168},
            },
            auto_upgrade_profile={"upgrade_channel": "stable", "node_os_upgrade_channel": "NodeImage"},
            addon_profiles={
                "omsagent": {
                    "enabled": True,
                    "config": {
                        "logAnalyticsWorkspaceResourceID": foundation.log_analytics_workspace_id,
                        "useAADAuth": "true",
                    },
                },
                "azureKeyvaultSecretsProvider": {"enabled": True, "config": {"enableSecretRotation": "true"}},
                "azurepolicy": {"enabled": True},
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=ready),
        )
