"""Azure rules: Container Apps and Azure ML endpoint settings, Trusted Launch VMSS, ACR, Key Vault, AKS, TLS, WAF."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs

from .base import ADVISORY, MANDATORY, collect, environment, resource_rule
from .props import (
    SECRET_NAME,
    decode_text,
    get,
    has_digest,
    is_false,
    is_set,
    is_true,
    items,
    number,
    secret_findings,
    unpinned_boot_images,
    unpinned_named_containers,
)

CONTAINER_APP = "azure-native:app:ContainerApp"
MANAGED_ENVIRONMENT = "azure-native:app:ManagedEnvironment"
ML_WORKSPACE = "azure-native:machinelearningservices:Workspace"
ML_ENDPOINT = "azure-native:machinelearningservices:OnlineEndpoint"
ML_DEPLOYMENT = "azure-native:machinelearningservices:OnlineDeployment"
ML_ENVIRONMENT = "azure-native:machinelearningservices:EnvironmentVersion"
REGISTRY = "azure-native:containerregistry:Registry"
VAULT = "azure-native:keyvault:Vault"
KEY = "azure-native:keyvault:Key"
VMSS = "azure-native:compute:VirtualMachineScaleSet"
AUTOSCALE = "azure-native:monitor:AutoscaleSetting"
APP_GATEWAY = "azure-native:network:ApplicationGateway"
WAF_POLICY = "azure-native:network:WebApplicationFirewallPolicy"
AKS = "azure-native:containerservice:ManagedCluster"
WEB_APP = "azure-native:web:WebApp"
APP_SERVICE_PLAN = "azure-native:web:AppServicePlan"
LOG_ANALYTICS = "azure-native:operationalinsights:Workspace"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
STORAGE_ACCOUNT = "azure-native:storage:StorageAccount"
NSG = "azure-native:network:NetworkSecurityGroup"
SECURITY_RULE = "azure-native:network:SecurityRule"
DISK_ENCRYPTION_SET = "azure-native:compute:DiskEncryptionSet"
CONTAINER_APP_AUTH = "azure-native:app:ContainerAppsAuthConfig"
WEB_APP_AUTH = "azure-native:web:WebAppAuthSettingsV2"
PUBLIC_IP = "azure-native:network:PublicIPAddress"

# Built-in role definition ids that grant control over access or everything in scope.
PRIVILEGED_ROLES = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "18d7d88d-d35e-4fb5-a5c3-7773c6a72dd9": "User Access Administrator",
    "f58310d9-a9f6-439a-9e8d-f62e7b41a168": "Role Based Access Control Administrator",
}


def _rule(**kwargs: Any) -> Any:
    return resource_rule(cloud="azure", **kwargs)


def _disabled(value: Any) -> bool:
    return str(value or "").lower() == "disabled"


def _enabled(value: Any) -> bool:
    return is_true(value) or str(value or "").lower() == "enabled"


# --- Container Apps ---------------------------------------------------------------------------------------


def _ingress(args: ResourceValidationArgs) -> Mapping[str, Any]:
    return get(args.props, "configuration", "ingress", default={})


@_rule(
    name="azure-container-app-no-insecure-ingress",
    description="Container Apps ingress refuses plain HTTP (allowInsecure: false).",
    resource_types=(CONTAINER_APP,),
    concern="tls",
    level=MANDATORY,
    severity="high",
    remediation="Set configuration.ingress.allowInsecure: false; clients use HTTPS.",
)
def container_app_no_insecure_ingress(args: ResourceValidationArgs) -> Iterator[str]:
    if is_true(get(_ingress(args), "allowInsecure")):
        yield "ingress.allowInsecure is true"


@_rule(
    name="azure-container-app-external-ingress-restricted",
    description="External Container Apps ingress is limited to the allowed callers' IP ranges.",
    resource_types=(CONTAINER_APP,),
    concern="network-exposure",
    level=MANDATORY,
    severity="high",
    remediation="Keep ingress.external: false (internal environment), or add ipSecurityRestrictions with "
    "action Allow for exposure.allowed_networks.",
)
def container_app_external_ingress_restricted(args: ResourceValidationArgs) -> Iterator[str]:
    ingress = _ingress(args)
    if not is_true(get(ingress, "external")):
        return
    allows = [r for r in items(get(ingress, "ipSecurityRestrictions")) if get(r, "action") == "Allow"]
    if not allows:
        yield "external ingress accepts every caller"
    for rule in allows:
        if get(rule, "ipAddressRange") in ("0.0.0.0/0", "*", "Internet"):
            yield "an ipSecurityRestriction allows the whole internet"


@_rule(
    name="azure-container-app-registry-identity",
    description="Container Apps pull from ACR with a managed identity, not a registry password.",
    resource_types=(CONTAINER_APP,),
    concern="least-privilege",
    level=MANDATORY,
    severity="high",
    remediation="Set configuration.registries[].identity to the user-assigned identity with AcrPull.",
)
def container_app_registry_identity(args: ResourceValidationArgs) -> Iterator[str]:
    for registry in items(get(args.props, "configuration", "registries")):
        if get(registry, "passwordSecretRef") or not get(registry, "identity"):
            yield f"registry {get(registry, 'server', default='?')} is pulled with a password"


def _template_containers(args: ResourceValidationArgs) -> list[Mapping[str, Any]]:
    template = get(args.props, "template", default={})
    found = items(get(template, "containers")) + items(get(template, "initContainers"))
    return [c for c in found if isinstance(c, Mapping)]


@_rule(
    name="azure-container-app-no-plain-secrets",
    description="Container Apps secrets come from Key Vault references and env credentials use secretRef.",
    resource_types=(CONTAINER_APP,),
    concern="compute-hardening",
    level=MANDATORY,
    severity="critical",
    remediation="Declare configuration.secrets with keyVaultUrl and identity, and reference them via env[].secretRef.",
)
def container_app_no_plain_secrets(args: ResourceValidationArgs) -> Iterator[str]:
    for secret in items(get(args.props, "configuration", "secrets")):
        if get(secret, "value") and not get(secret, "keyVaultUrl"):
            yield f"secret {get(secret, 'name', default='?')} holds its value inline"
    for container in _template_containers(args):
        for env in items(container.get("env")):
            name = str(get(env, "name", default=""))
            if SECRET_NAME.search(name) and get(env, "value"):
                yield f"container {container.get('name')} sets {name} as a literal value"


@_rule(
    name="azure-container-app-image-digest",
    description="Container Apps run images pinned by digest; required in prod.",
    resource_types=(CONTAINER_APP,),
    concern="supply-chain",
    level=ADVISORY,
    severity="high",
    remediation="Use <registry>.azurecr.io/<repo>@sha256:<digest>.",
)
def container_app_image_digest(args: ResourceValidationArgs) -> Iterator[str]:
    yield from unpinned_named_containers(_template_containers(args))


@_rule(
    name="azure-container-app-scale-rules",
    description="Container Apps scale on a rule (HTTP concurrency or CPU) between explicit bounds.",
    resource_types=(CONTAINER_APP,),
    concern="autoscaling",
    level=MANDATORY,
    severity="high",
    remediation="Set template.scale: {minReplicas, maxReplicas, rules: [{name: http, http: {metadata: "
    "{concurrentRequests}}}]}.",
)
def container_app_scale_rules(args: ResourceValidationArgs) -> Iterator[str]:
    scale = get(args.props, "template", "scale", default={})
    if not items(get(scale, "rules")):
        yield "no scale rules"
    if number(get(scale, "maxReplicas")) is None:
        yield "no maxReplicas"


@_rule(
    name="azure-container-app-min-replicas-prod",
    description="In prod, Container Apps keep at least two replicas warm.",
    resource_types=(CONTAINER_APP,),
    concern="availability",
    level=MANDATORY,
    severity="high",
    prod_only=True,
    remediation="Set template.scale.minReplicas to 2 or more (scaling.min_replicas); use the serverless pattern "
    "for scale-to-zero.",
)
def container_app_min_replicas_prod(args: ResourceValidationArgs) -> Iterator[str]:
    minimum = number(get(args.props, "template", "scale", "minReplicas"))
    if minimum is None or minimum < 2:
        yield f"minReplicas is {int(minimum) if minimum is not None else 'unset (0)'}"


@_rule(
    name="azure-container-app-probes",
    description="Container Apps containers declare readiness and liveness probes.",
    resource_types=(CONTAINER_APP,),
    concern="availability",
    level=ADVISORY,
    severity="low",
    remediation="Add probes of type Readiness and Liveness on the health routes.",
)
def container_app_probes(args: ResourceValidationArgs) -> Iterator[str]:
    for container in items(get(args.props, "template", "containers")):
        kinds = {get(p, "type") for p in items(get(container, "probes"))}
        missing = {"Readiness", "Liveness"} - kinds
        if missing:
            yield f"container {get(container, 'name')} has no {' or '.join(sorted(missing))} probe"


@_rule(
    name="azure-container-env-zone-redundant",
    description="Container Apps environments are zone redundant.",
    resource_types=(MANAGED_ENVIRONMENT,),
    concern="availability",
    level=MANDATORY,
    severity="high",
    remediation="Set zoneRedundant: true with an infrastructure subnet.",
)
def container_env_zone_redundant(args: ResourceValidationArgs) -> Iterator[str]:
    if not is_true(args.props.get("zoneRedundant")):
        yield "zoneRedundant is not true"


@_rule(
    name="azure-container-env-internal",
    description="Container Apps environments are internal (VNet-integrated, no public endpoint).",
    resource_types=(MANAGED_ENVIRONMENT,),
    concern="network-exposure",
    level=MANDATORY,
    severity="high",
    remediation="Set vnetConfiguration: {internal: true, infrastructureSubnetId} and publish through Application "
    "Gateway WAF when exposure.public is set.",
)
def container_env_internal(args: ResourceValidationArgs) -> Iterator[str]:
    if not is_true(get(args.props, "vnetConfiguration", "internal")):
        yield "the environment has a public endpoint"


@_rule(
    name="azure-container-env-logs",
    description="Container Apps environments send logs to Log Analytics or Azure Monitor.",
    resource_types=(MANAGED_ENVIRONMENT,),
    concern="logging",
    level=MANDATORY,
    severity="medium",
    remediation="Set appLogsConfiguration.destination: log-analytics with the workspace's customer id and key.",
)
def container_env_logs(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "appLogsConfiguration", "destination") not in ("log-analytics", "azure-monitor"):
        yield "application logs are not collected"


# --- Azure Machine Learning -------------------------------------------------------------------------------


@_rule(
    name="azure-ml-workspace-private",
    description="Azure ML workspaces disable public network access.",
    resource_types=(ML_WORKSPACE,),
    concern="network-exposure",
    level=MANDATORY,
    severity="high",
    remediation="Set publicNetworkAccess: Disabled and reach the workspace through private endpoints.",
)
def ml_workspace_private(args: ResourceValidationArgs) -> Iterator[str]:
    if not _disabled(args.props.get("publicNetworkAccess")):
        yield "public network access is enabled"


@_rule(
    name="azure-ml-workspace-cmk",
    description="Azure ML workspaces encrypt data with a customer-managed Key Vault key.",
    resource_types=(ML_WORKSPACE,),
    concern="encryption",
    level=MANDATORY,
    severity="high",
    remediation="Set encryption: {status: Enabled, keyVaultProperties: {keyIdentifier, keyVaultArmId}}.",
)
def ml_workspace_cmk(args: ResourceValidationArgs) -> Iterator[str]:
    encryption = args.props.get("encryption") or {}
    if not _enabled(get(encryption, "status")) or not is_set(encryption, "keyVaultProperties", "keyIdentifier"):
        yield "the workspace is not encrypted with a customer-managed key"


@_rule(
    name="azure-ml-endpoint-auth",
    description="Azure ML online endpoints require Microsoft Entra (AAD) tokens, not static keys.",
    resource_types=(ML_ENDPOINT,),
    concern="least-privilege",
    level=MANDATORY,
    severity="high",
    remediation="Set properties.authMode: AADToken and grant callers the endpoint's scoring role.",
)
def ml_endpoint_auth(args: ResourceValidationArgs) -> Iterator[str]:
    mode = get(args.props, "properties", "authMode")
    if mode != "AADToken":
        yield f"authMode is {mode}"


@_rule(
    name="azure-ml-endpoint-private",
    description="Azure ML online endpoints disable public network access.",
    resource_types=(ML_ENDPOINT,),
    concern="network-exposure",
    level=MANDATORY,
    severity="high",
    remediation="Set properties.publicNetworkAccess: Disabled.",
)
def ml_endpoint_private(args: ResourceValidationArgs) -> Iterator[str]:
    if not _disabled(get(args.props, "properties", "publicNetworkAccess")):
        yield "public network access is enabled"


@_rule(
    name="azure-ml-deployment-instance-count-prod",
    description="In prod, managed online deployments run at least three instances (Azure ML's SLA minimum).",
    resource_types=(ML_DEPLOYMENT,),
    concern="availability",
    level=MANDATORY,
    severity="high",
    prod_only=True,
    remediation="Set sku.capacity to 3 or more.",
)
def ml_deployment_instance_count_prod(args: ResourceValidationArgs) -> Iterator[str]:
    capacity = number(get(args.props, "sku", "capacity"))
    if capacity is None or capacity < 3:
        yield f"sku.capacity is {int(capacity) if capacity is not None else 'unset (1)'}"


@_rule(
    name="azure-ml-deployment-probes",
    description="Managed online deployments probe the model's readiness and liveness routes.",
    resource_types=(ML_DEPLOYMENT,),
    concern="availability",
    level=ADVISORY,
    severity="low",
    remediation="Set properties.readinessProbe and livenessProbe with the health routes' timings.",
)
def ml_deployment_probes(args: ResourceValidationArgs) -> Iterator[str]:
    for key in ("readinessProbe", "livenessProbe"):
        if not get(args.props, "properties", key):
            yield f"properties.{key} is unset"


@_rule(
    name="azure-ml-deployment-no-egress",
    description="Managed online deployments disable public egress (no data exfiltration path).",
    resource_types=(ML_DEPLOYMENT,),
    concern="network-exposure",
    level=ADVISORY,
    severity="medium",
    remediation="Set properties.egressPublicNetworkAccess: Disabled.",
)
def ml_deployment_no_egress(args: ResourceValidationArgs) -> Iterator[str]:
    if not _disabled(get(args.props, "properties", "egressPublicNetworkAccess")):
        yield "public egress is enabled"


@_rule(
    name="azure-ml-environment-image-digest",
    description="Azure ML environments reference the serving image by digest; required in prod.",
    resource_types=(ML_ENVIRONMENT,),
    concern="supply-chain",
    level=ADVISORY,
    severity="high",
    remediation="Set properties.image to <registry>.azurecr.io/<repo>@sha256:<digest>.",
)
def ml_environment_image_digest(args: ResourceValidationArgs) -> Iterator[str]:
    image = get(args.props, "properties", "image")
    if image is None:
        args.not_applicable("the environment builds from a conda file, not an image")
    if not has_digest(image):
        yield f"image {image!r} is not pinned by digest"


# --- registry and keys ------------------------------------------------------------------------------------


@_rule(
    name="azure-acr-no-admin-user",
    description="Container registries disable the admin user.",
    resource_types=(REGISTRY,),
    concern="least-privilege",
    level=MANDATORY,
    severity="high",
    anchor="CKV_AZURE_137",
    remediation="Set adminUserEnabled: false and grant AcrPull to managed identities.",
)
def acr_no_admin_user(args: ResourceValidationArgs) -> Iterator[str]:
    if is_true(args.props.get("adminUserEnabled")):
        yield "the admin user is enabled"


@_rule(
    name="azure-acr-no-anonymous-pull",
    description="Container registries never allow anonymous pulls.",
    resource_types=(REGISTRY,),
    concern="least-privilege",
    level=MANDATORY,
    severity="critical",
    anchor="CKV_AZURE_138",
    remediation="Set anonymousPullEnabled: false.",
)
def acr_no_anonymous_pull(args: ResourceValidationArgs) -> Iterator[str]:
    if is_true(args.props.get("anonymousPullEnabled")):
        yield "anonymous pull is enabled"


@_rule(
    name="azure-acr-private",
    description="Container registries disable public network access (Premium with private endpoints).",
    resource_types=(REGISTRY,),
    concern="network-exposure",
    level=ADVISORY,
    severity="medium",
    anchor="CKV_AZURE_139",
    remediation="Set publicNetworkAccess: Disabled and add a private endpoint.",
)
def acr_private(args: ResourceValidationArgs) -> Iterator[str]:
    if not _disabled(args.props.get("publicNetworkAccess")):
        yield "public network access is enabled"


@_rule(
    name="azure-acr-cmk",
    description="Container registries encrypt images with a customer-managed key.",
    resource_types=(REGISTRY,),
    concern="encryption",
    level=MANDATORY,
    severity="medium",
    remediation="Set encryption: {status: enabled, keyVaultProperties: {keyIdentifier, identity}} (Premium).",
)
def acr_cmk(args: ResourceValidationArgs) -> Iterator[str]:
    encryption = args.props.get("encryption") or {}
    if not _enabled(get(encryption, "status")) or not is_set(encryption, "keyVaultProperties", "keyIdentifier"):
        yield "the registry is not encrypted with a customer-managed key"


@_rule(
    name="azure-acr-zone-redundant",
    description="Container registries are zone redundant.",
    resource_types=(REGISTRY,),
    concern="availability",
    level=MANDATORY,
    severity="medium",
    anchor="CKV_AZURE_233",
    remediation="Set zoneRedundancy: Enabled (Premium).",
)
def acr_zone_redundant(args: ResourceValidationArgs) -> Iterator[str]:
    if not _enabled(args.props.get("zoneRedundancy")):
        yield "zoneRedundancy is not Enabled"


@_rule(
    name="azure-key-vault-purge-protection",
    description="Key Vaults have soft delete and purge protection, so a deleted CMK cannot be destroyed.",
    resource_types=(VAULT,),
    concern="encryption",
    level=MANDATORY,
    severity="high",
    anchor="CKV_AZURE_110, CKV_AZURE_42",
    remediation="Set properties.enablePurgeProtection: true (soft delete is on by default).",
)
def key_vault_purge_protection(args: ResourceValidationArgs) -> Iterator[str]:
    if not is_true(get(args.props, "properties", "enablePurgeProtection")):
        yield "purge protection is off"
    if is_false(get(args.props, "properties", "enableSoftDelete")):
        yield "soft delete is off"


@_rule(
    name="azure-key-vault-rbac",
    description="Key Vaults use Azure RBAC rather than access policies.",
    resource_types=(VAULT,),
    concern="least-privilege",
    level=MANDATORY,
    severity="medium",
    remediation="Set properties.enableRbacAuthorization: true and assign Key Vault Crypto Service Encryption User.",
)
def key_vault_rbac(args: ResourceValidationArgs) -> Iterator[str]:
    if not is_true(get(args.props, "properties", "enableRbacAuthorization")):
        yield "access policies are used instead of RBAC"


@_rule(
    name="azure-key-vault-network",
    description="Key Vaults deny public network traffic by default.",
    resource_types=(VAULT,),
    concern="network-exposure",
    level=ADVISORY,
    severity="medium",
    anchor="CKV_AZURE_109, CKV_AZURE_189",
    remediation="Set properties.networkAcls.defaultAction: Deny (allowing trusted Azure services) or "
    "publicNetworkAccess: Disabled.",
)
def key_vault_network(args: ResourceValidationArgs) -> Iterator[str]:
    props = get(args.props, "properties", default={})
    if not _disabled(get(props, "publicNetworkAccess")) and get(props, "networkAcls", "defaultAction") != "Deny":
        yield "the vault accepts traffic from any network"


@_rule(
    name="azure-key-rotation",
    description="Key Vault keys rotate automatically.",
    resource_types=(KEY,),
    concern="encryption",
    level=MANDATORY,
    severity="medium",
    remediation="Set properties.rotationPolicy with a Rotate lifetime action (for example P90D) and an expiry.",
)
def key_rotation(args: ResourceValidationArgs) -> Iterator[str]:
    actions = items(get(args.props, "properties", "rotationPolicy", "lifetimeActions"))
    if not any(str(get(a, "action", "type", default="")).lower() == "rotate" for a in actions):
        yield "the key has no rotation policy"


# --- VM scale sets ----------------------------------------------------------------------------------------


def _vm_profile(args: ResourceValidationArgs) -> Mapping[str, Any]:
    return args.props.get("virtualMachineProfile") or {}


@_rule(
    name="azure-vmss-encryption-at-host",
    description="Scale-set VMs encrypt temp disks and caches at the host.",
    resource_types=(VMSS,),
    concern="encryption",
    level=MANDATORY,
    severity="high",
    anchor="CKV_AZURE_97",
    remediation="Set virtualMachineProfile.securityProfile.encryptionAtHost: true.",
)
def vmss_encryption_at_host(args: ResourceValidationArgs) -> Iterator[str]:
    if not is_true(get(_vm_profile(args), "securityProfile", "encryptionAtHost")):
        yield "encryption at host is off"


@_rule(
    name="azure-vmss-disk-cmk",
    description="Scale-set OS disks are encrypted with a customer-managed key (disk encryption set).",
    resource_types=(VMSS,),
    concern="encryption",
    level=MANDATORY,
    severity="medium",
    remediation="Set storageProfile.osDisk.managedDisk.diskEncryptionSet.id to a CMK-backed disk encryption set.",
)
def vmss_disk_cmk(args: ResourceValidationArgs) -> Iterator[str]:
    if not is_set(_vm_profile(args), "storageProfile", "osDisk", "managedDisk", "diskEncryptionSet", "id"):
        yield "the OS disk uses platform-managed keys"


@_rule(
    name="azure-vmss-trusted-launch",
    description="Scale-set VMs use Trusted Launch with secure boot and vTPM.",
    resource_types=(VMSS,),
    concern="compute-hardening",
    level=MANDATORY,
    severity="high",
    remediation="Set securityProfile: {securityType: TrustedLaunch, uefiSettings: {secureBootEnabled: true, "
    "vTpmEnabled: true}} with a Gen2 image.",
)
def vmss_trusted_launch(args: ResourceValidationArgs) -> Iterator[str]:
    security = get(_vm_profile(args), "securityProfile", default={})
    if get(security, "securityType") not in ("TrustedLaunch", "ConfidentialVM"):
        yield f"securityType is {get(security, 'securityType', default='unset (Standard)')}"
    for key in ("secureBootEnabled", "vTpmEnabled"):
        if not is_true(get(security, "uefiSettings", key)):
            yield f"uefiSettings.{key} is not true"


@_rule(
    name="azure-vmss-ssh-keys-only",
    description="Linux scale sets allow SSH keys only, never passwords.",
    resource_types=(VMSS,),
    concern="compute-hardening",
    level=MANDATORY,
    severity="high",
    anchor="CKV_AZURE_49",
    remediation="Set osProfile.linuxConfiguration.disablePasswordAuthentication: true and provide ssh.publicKeys.",
)
def vmss_ssh_keys_only(args: ResourceValidationArgs) -> Iterator[str]:
    os_profile = get(_vm_profile(args), "osProfile", default={})
    if get(os_profile, "windowsConfiguration") is not None:
        args.not_applicable("Windows scale sets")
    if not is_true(get(os_profile, "linuxConfiguration", "disablePasswordAuthentication")):
        yield "password authentication is allowed"


@_rule(
    name="azure-vmss-no-public-ip",
    description="Scale-set VMs get no public IP addresses.",
    resource_types=(VMSS,),
    concern="compute-hardening",
    level=MANDATORY,
    severity="high",
    anchor="CKV_AZURE_119",
    remediation="Remove publicIPAddressConfiguration; egress through the NAT gateway.",
)
def vmss_no_public_ip(args: ResourceValidationArgs) -> Iterator[str]:
    nics = items(get(_vm_profile(args), "networkProfile", "networkInterfaceConfigurations"))
    for nic in nics:
        for ip in items(get(nic, "ipConfigurations")):
            if get(ip, "publicIPAddressConfiguration") is not None:
                yield f"NIC {get(nic, 'name', default='?')} assigns a public IP"


def _custom_data(args: ResourceValidationArgs) -> str:
    return decode_text(get(_vm_profile(args), "osProfile", "customData"))


@_rule(
    name="azure-vmss-custom-data-no-secrets",
    description="Scale-set custom data (cloud-init) carries no credentials.",
    resource_types=(VMSS,),
    concern="compute-hardening",
    level=MANDATORY,
    severity="critical",
    anchor="CKV_AZURE_45",
    remediation="Read secrets from Key Vault at boot with the managed identity.",
)
def vmss_custom_data_no_secrets(args: ResourceValidationArgs) -> Iterator[str]:
    for finding in secret_findings(_custom_data(args)):
        yield f"custom data contains {finding}"


@_rule(
    name="azure-vmss-image-digest",
    description="Containers started from scale-set cloud-init are pinned by digest; required in prod.",
    resource_types=(VMSS,),
    concern="supply-chain",
    level=ADVISORY,
    severity="high",
    remediation="Reference the image as repo@sha256:<digest> in cloud-init.",
)
def vmss_image_digest(args: ResourceValidationArgs) -> Iterator[str]:
    yield from unpinned_boot_images(args, _custom_data(args), "custom data", "cloud-init")


@_rule(
    name="azure-vmss-zones",
    description="Scale sets span at least two availability zones (three in prod).",
    resource_types=(VMSS,),
    concern="availability",
    level=MANDATORY,
    severity="high",
    remediation="Set zones: ['1', '2', '3'].",
)
def vmss_zones(args: ResourceValidationArgs) -> Iterator[str]:
    zones = items(args.props.get("zones"))
    needed = 3 if environment(args) == "prod" else 2
    if len(zones) < needed:
        yield f"the scale set spans {len(zones)} zone(s); {needed} are required"


@_rule(
    name="azure-vmss-automatic-repairs",
    description="Scale sets repair instances that fail the application health probe.",
    resource_types=(VMSS,),
    concern="availability",
    level=ADVISORY,
    severity="medium",
    remediation="Set automaticRepairsPolicy: {enabled: true, gracePeriod: PT10M} with the health extension.",
)
def vmss_automatic_repairs(args: ResourceValidationArgs) -> Iterator[str]:
    if not is_true(get(args.props, "automaticRepairsPolicy", "enabled")):
        yield "automatic repairs are off"


@_rule(
    name="azure-autoscale-min-capacity-prod",
    description="In prod, autoscale settings keep at least two instances in every profile.",
    resource_types=(AUTOSCALE,),
    concern="availability",
    level=MANDATORY,
    severity="high",
    prod_only=True,
    remediation="Set profiles[].capacity.minimum to 2 or more (scaling.min_replicas).",
)
def autoscale_min_capacity_prod(args: ResourceValidationArgs) -> Iterator[str]:
    for profile in items(args.props.get("profiles")):
        minimum = number(get(profile, "capacity", "minimum"))
        if minimum is None or minimum < 2:
            name = get(profile, "name", default="?")
            yield f"profile {name} has minimum capacity {get(profile, 'capacity', 'minimum')}"


# --- Application Gateway ----------------------------------------------------------------------------------

# Predefined policies with TLS 1.2 as the minimum; AppGwSslPolicy20150501 and 20170401 allow TLS 1.0/1.1.
TLS_POLICIES = {"AppGwSslPolicy20170401S", "AppGwSslPolicy20220101", "AppGwSslPolicy20220101S"}
TLS_VERSIONS = {"TLSv1_2", "TLSv1_3"}


@_rule(
    name="azure-app-gateway-tls-policy",
    description="Application Gateways negotiate TLS 1.2 or newer.",
    resource_types=(APP_GATEWAY,),
    concern="tls",
    level=MANDATORY,
    severity="high",
    anchor="CKV_AZURE_218",
    remediation="Set sslPolicy: {policyType: Predefined, policyName: AppGwSslPolicy20220101S}.",
)
def app_gateway_tls_policy(args: ResourceValidationArgs) -> Iterator[str]:
    policy = args.props.get("sslPolicy") or {}
    kind = get(policy, "policyType")
    if kind == "Predefined" and get(policy, "policyName") in TLS_POLICIES:
        return
    if kind in ("Custom", "CustomV2") and get(policy, "minProtocolVersion") in TLS_VERSIONS:
        return
    yield "the TLS policy allows versions older than TLS 1.2"


@_rule(
    name="azure-app-gateway-https-listeners",
    description="Application Gateway listeners serve HTTPS; any HTTP listener only redirects to HTTPS.",
    resource_types=(APP_GATEWAY,),
    concern="tls",
    level=MANDATORY,
    severity="high",
    anchor="CKV_AZURE_217",
    remediation="Use Https listeners and add a Permanent redirectConfiguration from the HTTP listener.",
)
def app_gateway_https_listeners(args: ResourceValidationArgs) -> Iterator[str]:
    http = [
        get(listener, "name")
        for listener in items(args.props.get("httpListeners"))
        if get(listener, "protocol") == "Http"
    ]
    redirects = [r for r in items(args.props.get("redirectConfigurations")) if get(r, "targetListener")]
    if http and not redirects:
        yield f"HTTP listeners {', '.join(str(n) for n in http)} serve traffic without redirecting"


@_rule(
    name="azure-app-gateway-waf",
    description="Application Gateways run the WAF_v2 SKU with a firewall policy in Prevention mode.",
    resource_types=(APP_GATEWAY,),
    concern="waf",
    level=MANDATORY,
    severity="high",
    anchor="CKV_AZURE_120, CKV_AZURE_122",
    remediation="Use sku tier WAF_v2 and attach a WebApplicationFirewallPolicy (OWASP 3.2, Prevention).",
)
def app_gateway_waf(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "sku", "tier") != "WAF_v2":
        yield f"sku tier is {get(args.props, 'sku', 'tier')}"
    waf = args.props.get("webApplicationFirewallConfiguration") or {}
    if not is_set(args.props, "firewallPolicy", "id") and not (
        is_true(get(waf, "enabled")) and get(waf, "firewallMode") == "Prevention"
    ):
        yield "no WAF policy in Prevention mode"


@_rule(
    name="azure-waf-policy-prevention",
    description="WAF policies are enabled in Prevention mode with a managed OWASP rule set.",
    resource_types=(WAF_POLICY,),
    concern="waf",
    level=MANDATORY,
    severity="high",
    anchor="CKV_AZURE_122, CKV_AZURE_135",
    remediation="Set policySettings: {state: Enabled, mode: Prevention} and managedRules.managedRuleSets with "
    "OWASP 3.2 or Microsoft_DefaultRuleSet.",
)
def waf_policy_prevention(args: ResourceValidationArgs) -> Iterator[str]:
    settings = args.props.get("policySettings") or {}
    if get(settings, "state", default="Enabled") != "Enabled" or get(settings, "mode") != "Prevention":
        yield "the policy is not enabled in Prevention mode"
    if not items(get(args.props, "managedRules", "managedRuleSets")):
        yield "no managed rule sets"


@_rule(
    name="azure-app-gateway-no-public-frontend-prod",
    description="In prod, Application Gateways have no public frontend: the gateway authenticates no caller, so a "
    "public one serves anonymous internet traffic (exposure.anonymous), which prod refuses.",
    resource_types=(APP_GATEWAY,),
    concern="network-exposure",
    level=MANDATORY,
    severity="high",
    prod_only=True,
    remediation="Keep the private frontend only (exposure.public: false), or put an authenticating front door "
    "(Entra ID) before the gateway.",
)
def app_gateway_no_public_frontend_prod(args: ResourceValidationArgs) -> Iterator[str]:
    for frontend in items(args.props.get("frontendIPConfigurations")):
        if is_set(frontend, "publicIPAddress", "id") or get(frontend, "publicIPAddress") is not None:
            yield f"frontend {get(frontend, 'name', default='?')} is public"


@_rule(
    name="azure-app-gateway-zones",
    description="Application Gateways span at least two availability zones.",
    resource_types=(APP_GATEWAY,),
    concern="availability",
    level=MANDATORY,
    severity="high",
    remediation="Set zones: ['1', '2', '3'].",
)
def app_gateway_zones(args: ResourceValidationArgs) -> Iterator[str]:
    if len(items(args.props.get("zones"))) < 2:
        yield "the gateway is not zone redundant"


# --- AKS --------------------------------------------------------------------------------------------------


@_rule(
    name="azure-aks-private-cluster",
    description="AKS API servers are private (or limited to authorised IP ranges).",
    resource_types=(AKS,),
    concern="network-exposure",
    level=MANDATORY,
    severity="high",
    anchor="CKV_AZURE_115, CKV_AZURE_6",
    remediation="Set apiServerAccessProfile.enablePrivateCluster: true.",
)
def aks_private_cluster(args: ResourceValidationArgs) -> Iterator[str]:
    access = args.props.get("apiServerAccessProfile") or {}
    if not is_true(get(access, "enablePrivateCluster")) and not items(get(access, "authorizedIPRanges")):
        yield "the API server is public"


@_rule(
    name="azure-aks-local-accounts-disabled",
    description="AKS disables local accounts so every access goes through Entra ID.",
    resource_types=(AKS,),
    concern="least-privilege",
    level=MANDATORY,
    severity="high",
    anchor="CKV_AZURE_141",
    remediation="Set disableLocalAccounts: true with aadProfile.managed and enableAzureRBAC.",
)
def aks_local_accounts_disabled(args: ResourceValidationArgs) -> Iterator[str]:
    if not is_true(args.props.get("disableLocalAccounts")):
        yield "local accounts are enabled"


@_rule(
    name="azure-aks-rbac",
    description="AKS enables Kubernetes RBAC integrated with Entra ID.",
    resource_types=(AKS,),
    concern="least-privilege",
    level=MANDATORY,
    severity="high",
    anchor="CKV_AZURE_5",
    remediation="Set enableRBAC: true and aadProfile: {managed: true, enableAzureRBAC: true}.",
)
def aks_rbac(args: ResourceValidationArgs) -> Iterator[str]:
    if is_false(args.props.get("enableRBAC")):
        yield "Kubernetes RBAC is off"
    if not is_true(get(args.props, "aadProfile", "managed")):
        yield "Entra ID integration is off"


@_rule(
    name="azure-aks-kms-etcd",
    description="AKS encrypts etcd secrets with a Key Vault key (KMS).",
    resource_types=(AKS,),
    concern="encryption",
    level=MANDATORY,
    severity="high",
    remediation="Set securityProfile.azureKeyVaultKms: {enabled: true, keyId, keyVaultNetworkAccess: Private}.",
)
def aks_kms_etcd(args: ResourceValidationArgs) -> Iterator[str]:
    kms = get(args.props, "securityProfile", "azureKeyVaultKms", default={})
    if not is_true(get(kms, "enabled")) or not is_set(kms, "keyId"):
        yield "KMS etcd encryption is off"


@_rule(
    name="azure-aks-workload-identity",
    description="AKS pods use workload identity (OIDC issuer plus federated credentials).",
    resource_types=(AKS,),
    concern="least-privilege",
    level=MANDATORY,
    severity="high",
    remediation="Set oidcIssuerProfile.enabled and securityProfile.workloadIdentity.enabled to true.",
)
def aks_workload_identity(args: ResourceValidationArgs) -> Iterator[str]:
    if not (
        is_true(get(args.props, "securityProfile", "workloadIdentity", "enabled"))
        and is_true(get(args.props, "oidcIssuerProfile", "enabled"))
    ):
        yield "workload identity is not enabled"


@_rule(
    name="azure-aks-zones",
    description="AKS node pools span at least two availability zones (three in prod).",
    resource_types=(AKS,),
    concern="availability",
    level=MANDATORY,
    severity="high",
    remediation="Set agentPoolProfiles[].availabilityZones: ['1', '2', '3'].",
)
def aks_zones(args: ResourceValidationArgs) -> Iterator[str]:
    needed = 3 if environment(args) == "prod" else 2
    for pool in items(args.props.get("agentPoolProfiles")):
        zones = items(get(pool, "availabilityZones"))
        if len(zones) < needed:
            yield f"pool {get(pool, 'name', default='?')} spans {len(zones)} zone(s); {needed} are required"


@_rule(
    name="azure-aks-autoscaling-pools",
    description="AKS node pools autoscale.",
    resource_types=(AKS,),
    concern="autoscaling",
    level=MANDATORY,
    severity="medium",
    remediation="Set agentPoolProfiles[].enableAutoScaling: true with minCount and maxCount.",
)
def aks_autoscaling_pools(args: ResourceValidationArgs) -> Iterator[str]:
    for pool in items(args.props.get("agentPoolProfiles")):
        if not is_true(get(pool, "enableAutoScaling")):
            yield f"pool {get(pool, 'name', default='?')} does not autoscale"


@_rule(
    name="azure-aks-no-node-public-ip",
    description="AKS nodes have no public IP addresses.",
    resource_types=(AKS,),
    concern="compute-hardening",
    level=MANDATORY,
    severity="high",
    anchor="CKV_AZURE_143",
    remediation="Leave agentPoolProfiles[].enableNodePublicIP unset or false.",
)
def aks_no_node_public_ip(args: ResourceValidationArgs) -> Iterator[str]:
    for pool in items(args.props.get("agentPoolProfiles")):
        if is_true(get(pool, "enableNodePublicIP")):
            yield f"pool {get(pool, 'name', default='?')} gives nodes public IPs"


@_rule(
    name="azure-aks-network-policy",
    description="AKS enforces Kubernetes NetworkPolicy.",
    resource_types=(AKS,),
    concern="pod-security",
    level=MANDATORY,
    severity="medium",
    anchor="CKV_AZURE_7",
    remediation="Set networkProfile.networkPolicy: azure, calico or cilium.",
)
def aks_network_policy(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "networkProfile", "networkPolicy") in (None, "none"):
        yield "NetworkPolicy is not enforced"


@_rule(
    name="azure-aks-monitoring",
    description="AKS sends container logs and metrics to Azure Monitor.",
    resource_types=(AKS,),
    concern="logging",
    level=ADVISORY,
    severity="low",
    anchor="CKV_AZURE_4",
    remediation="Enable addonProfiles.omsagent with the Log Analytics workspace (or azureMonitorProfile).",
)
def aks_monitoring(args: ResourceValidationArgs) -> Iterator[str]:
    oms = get(args.props, "addonProfiles", "omsagent", "enabled") or get(
        args.props, "addonProfiles", "omsAgent", "enabled"
    )
    if not is_true(oms) and not is_true(get(args.props, "azureMonitorProfile", "metrics", "enabled")):
        yield "Azure Monitor is not enabled"


# --- App Service / Functions ------------------------------------------------------------------------------


@_rule(
    name="azure-web-app-https-only",
    description="Function and web apps accept HTTPS only.",
    resource_types=(WEB_APP,),
    concern="tls",
    level=MANDATORY,
    severity="high",
    anchor="CKV_AZURE_14, CKV_AZURE_70",
    remediation="Set httpsOnly: true.",
)
def web_app_https_only(args: ResourceValidationArgs) -> Iterator[str]:
    if not is_true(args.props.get("httpsOnly")):
        yield "httpsOnly is not true"


@_rule(
    name="azure-web-app-min-tls",
    description="Function and web apps require TLS 1.2 or newer.",
    resource_types=(WEB_APP,),
    concern="tls",
    level=MANDATORY,
    severity="high",
    anchor="CKV_AZURE_15, CKV_AZURE_145",
    remediation="Set siteConfig.minTlsVersion: '1.2' (or '1.3').",
)
def web_app_min_tls(args: ResourceValidationArgs) -> Iterator[str]:
    version = get(args.props, "siteConfig", "minTlsVersion")
    if version not in ("1.2", "1.3"):
        yield f"minTlsVersion is {version or 'unset'}"


@_rule(
    name="azure-web-app-ftps-disabled",
    description="Function and web apps disable FTP deployment.",
    resource_types=(WEB_APP,),
    concern="tls",
    level=MANDATORY,
    severity="medium",
    anchor="CKV_AZURE_78",
    remediation="Set siteConfig.ftpsState: Disabled.",
)
def web_app_ftps_disabled(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "siteConfig", "ftpsState") not in ("Disabled", "FtpsOnly"):
        yield f"ftpsState is {get(args.props, 'siteConfig', 'ftpsState', default='unset (AllAllowed)')}"


@_rule(
    name="azure-web-app-managed-identity",
    description="Function and web apps run with a managed identity.",
    resource_types=(WEB_APP,),
    concern="least-privilege",
    level=MANDATORY,
    severity="medium",
    anchor="CKV_AZURE_71",
    remediation="Set identity: {type: UserAssigned, userAssignedIdentities: [...]}.",
)
def web_app_managed_identity(args: ResourceValidationArgs) -> Iterator[str]:
    if str(get(args.props, "identity", "type", default="None")) in ("None", ""):
        yield "the app has no managed identity"


@_rule(
    name="azure-web-app-no-plain-secrets",
    description="App settings hold Key Vault references, never literal credentials.",
    resource_types=(WEB_APP,),
    concern="compute-hardening",
    level=MANDATORY,
    severity="critical",
    remediation="Use @Microsoft.KeyVault(SecretUri=...) references in siteConfig.appSettings.",
)
def web_app_no_plain_secrets(args: ResourceValidationArgs) -> Iterator[str]:
    for setting in items(get(args.props, "siteConfig", "appSettings")):
        name = str(get(setting, "name", default=""))
        value = str(get(setting, "value", default=""))
        if not SECRET_NAME.search(name) or not value or value.startswith("@Microsoft.KeyVault("):
            continue
        if _identity_based_setting(name, value):
            continue
        yield f"app setting {name} holds a literal value"


# Identity-based connections name the credential kind, not a credential (Functions: <connection>__credential).
IDENTITY_CREDENTIALS = {"managedidentity", "workloadidentity"}
# The parts of an Application Insights connection string; Microsoft documents none of them as a secret (the
# instrumentation key only routes telemetry). A string with any other part (an account key) is judged a secret.
APP_INSIGHTS_PARTS = {"instrumentationkey", "ingestionendpoint", "liveendpoint", "applicationid", "endpointsuffix"}


def _identity_based_setting(name: str, value: str) -> bool:
    if name.lower().endswith("__credential"):
        return value.strip().lower() in IDENTITY_CREDENTIALS
    if name == "APPLICATIONINSIGHTS_CONNECTION_STRING":
        parts = [p.split("=", 1) for p in value.split(";") if p.strip()]
        return bool(parts) and all(len(p) == 2 and p[0].strip().lower() in APP_INSIGHTS_PARTS for p in parts)
    return False


@_rule(
    name="azure-web-app-image-digest",
    description="Container function apps run images pinned by digest; required in prod.",
    resource_types=(WEB_APP,),
    concern="supply-chain",
    level=ADVISORY,
    severity="high",
    remediation="Set siteConfig.linuxFxVersion: DOCKER|<registry>/<repo>@sha256:<digest>.",
)
def web_app_image_digest(args: ResourceValidationArgs) -> Iterator[str]:
    fx = str(get(args.props, "siteConfig", "linuxFxVersion", default=""))
    if not fx.upper().startswith("DOCKER|"):
        args.not_applicable("the app does not run a container image")
    image = fx.split("|", 1)[1]
    if not has_digest(image):
        yield f"image {image} is not pinned by digest"


@_rule(
    name="azure-app-service-plan-zone-redundant",
    description="App Service (Elastic Premium) plans are zone redundant.",
    resource_types=(APP_SERVICE_PLAN,),
    concern="availability",
    level=MANDATORY,
    severity="high",
    anchor="CKV_AZURE_225",
    remediation="Set zoneRedundant: true with at least three instances.",
)
def app_service_plan_zone_redundant(args: ResourceValidationArgs) -> Iterator[str]:
    if not is_true(args.props.get("zoneRedundant")):
        yield "zoneRedundant is not true"


# --- logs, roles, storage ---------------------------------------------------------------------------------


@_rule(
    name="azure-log-analytics-retention",
    description="Log Analytics workspaces keep logs for at least 90 days (365 in prod).",
    resource_types=(LOG_ANALYTICS,),
    concern="logging",
    level=MANDATORY,
    severity="medium",
    remediation="Set retentionInDays to the profile's log_retention_days.",
)
def log_analytics_retention(args: ResourceValidationArgs) -> Iterator[str]:
    days = number(args.props.get("retentionInDays"))
    needed = 365 if environment(args) == "prod" else 30
    if days is None or days < needed:
        yield f"retentionInDays is {int(days) if days is not None else 'unset (30)'}; {needed} are required"


@_rule(
    name="azure-role-assignment-least-privilege",
    description="Role assignments never grant Owner, Contributor or access-administration roles.",
    resource_types=(ROLE_ASSIGNMENT,),
    concern="least-privilege",
    level=MANDATORY,
    severity="critical",
    remediation="Assign narrow built-in roles (AcrPull, Key Vault Crypto Service Encryption User, ...) at "
    "resource scope.",
)
def role_assignment_least_privilege(args: ResourceValidationArgs) -> Iterator[str]:
    role = str(args.props.get("roleDefinitionId") or "").rsplit("/", 1)[-1].lower()
    if role in PRIVILEGED_ROLES:
        yield f"assigns {PRIVILEGED_ROLES[role]}"


@_rule(
    name="azure-storage-account-hardening",
    description="Storage accounts allow HTTPS with TLS 1.2 only and no anonymous blob access.",
    resource_types=(STORAGE_ACCOUNT,),
    concern="tls",
    level=MANDATORY,
    severity="high",
    anchor="CKV_AZURE_3, CKV_AZURE_44, CKV_AZURE_190",
    remediation="Set enableHttpsTrafficOnly: true, minimumTlsVersion: TLS1_2 and allowBlobPublicAccess: false.",
)
def storage_account_hardening(args: ResourceValidationArgs) -> Iterator[str]:
    if is_false(args.props.get("enableHttpsTrafficOnly")):
        yield "plain HTTP is allowed"
    if args.props.get("minimumTlsVersion") not in ("TLS1_2", "TLS1_3"):
        yield f"minimumTlsVersion is {args.props.get('minimumTlsVersion') or 'unset'}"
    if not is_false(args.props.get("allowBlobPublicAccess")):
        yield "anonymous blob access is not disabled"


@_rule(
    name="azure-storage-account-cmk",
    description="Storage accounts (model artifacts) are encrypted with a customer-managed key.",
    resource_types=(STORAGE_ACCOUNT,),
    concern="encryption",
    level=MANDATORY,
    severity="medium",
    anchor="CKV2_AZURE_1",
    remediation="Set encryption: {keySource: Microsoft.Keyvault, keyVaultProperties, identity}.",
)
def storage_account_cmk(args: ResourceValidationArgs) -> Iterator[str]:
    if str(get(args.props, "encryption", "keySource", default="")).lower() != "microsoft.keyvault":
        yield "the account uses Microsoft-managed keys"


# --- network security groups, disk encryption sets, Easy Auth, public IPs ---------------------------------

# Service tags and prefixes that mean "any address on the internet".
_ANYWHERE = {"*", "internet", "any"}
ADMIN_PORTS = {22: "SSH", 3389: "RDP"}


def _from_anywhere(prefix: Any) -> bool:
    text = str(prefix or "").strip()
    if text.lower() in _ANYWHERE:
        return True
    try:
        return ipaddress.ip_network(text, strict=False).prefixlen == 0
    except ValueError:
        return False


def _port_ranges(rule: Mapping[str, Any]) -> list[tuple[int, int]]:
    found = []
    for text in [get(rule, "destinationPortRange"), *items(get(rule, "destinationPortRanges"))]:
        if text is None:
            continue
        text = str(text).strip()
        if text == "*":
            found.append((0, 65535))
            continue
        low, _, high = text.partition("-")
        try:
            found.append((int(low), int(high or low)))
        except ValueError:
            found.append((0, 65535))
    return found


def _rules_of(args: ResourceValidationArgs) -> list[Mapping[str, Any]]:
    if args.resource_type == SECURITY_RULE:
        return [args.props]
    return [r for r in items(args.props.get("securityRules")) if isinstance(r, Mapping)]


@_rule(
    name="azure-nsg-no-internet-admin-ports",
    description="Network security groups never allow SSH or RDP from the whole internet.",
    resource_types=(NSG, SECURITY_RULE),
    concern="network-exposure",
    level=MANDATORY,
    severity="critical",
    anchor="CKV_AZURE_9, CKV_AZURE_10",
    remediation="Limit the rule's sourceAddressPrefix(es) to your management network, or use Azure Bastion.",
)
def nsg_no_internet_admin_ports(args: ResourceValidationArgs) -> Iterator[str]:
    for rule in _rules_of(args):
        if get(rule, "direction") != "Inbound" or get(rule, "access") != "Allow":
            continue
        sources = [get(rule, "sourceAddressPrefix"), *items(get(rule, "sourceAddressPrefixes"))]
        if not any(_from_anywhere(s) for s in sources if s is not None):
            continue
        for low, high in _port_ranges(rule):
            for port, service in ADMIN_PORTS.items():
                if low <= port <= high:
                    yield f"rule {get(rule, 'name', default='?')} allows {service} ({port}) from the internet"


@_rule(
    name="azure-disk-encryption-set-cmk",
    description="Disk encryption sets use a customer-managed key and follow its rotation automatically.",
    resource_types=(DISK_ENCRYPTION_SET,),
    concern="encryption",
    level=MANDATORY,
    severity="medium",
    remediation="Set encryptionType: EncryptionAtRestWithCustomerKey (or with platform and customer keys), "
    "activeKey.keyUrl, and rotationToLatestKeyVersionEnabled: true.",
)
def disk_encryption_set_cmk(args: ResourceValidationArgs) -> Iterator[str]:
    kind = str(args.props.get("encryptionType") or "EncryptionAtRestWithCustomerKey")
    if "CustomerKey" not in kind:
        yield f"encryptionType is {kind}"
    if not is_set(args.props, "activeKey", "keyUrl"):
        yield "no active key"
    if not is_true(args.props.get("rotationToLatestKeyVersionEnabled")):
        yield "the set stays on one key version when the key rotates"


@_rule(
    name="azure-easy-auth-rejects-anonymous",
    description="Easy Auth (Container Apps and Function Apps) rejects unauthenticated calls over HTTPS only.",
    resource_types=(CONTAINER_APP_AUTH, WEB_APP_AUTH),
    concern="least-privilege",
    level=MANDATORY,
    severity="high",
    remediation="Set platform.enabled: true, globalValidation.unauthenticatedClientAction: Return401 and "
    "httpSettings.requireHttps: true.",
)
def easy_auth_rejects_anonymous(args: ResourceValidationArgs) -> Iterator[str]:
    if is_false(get(args.props, "platform", "enabled")):
        yield "authentication is turned off"
    action = get(args.props, "globalValidation", "unauthenticatedClientAction", default="AllowAnonymous")
    if action not in ("Return401", "Return403", "RedirectToLoginPage"):
        yield f"unauthenticatedClientAction is {action}"
    if is_false(get(args.props, "httpSettings", "requireHttps")):
        yield "tokens are accepted over plain HTTP"
    aad = get(args.props, "identityProviders", "azureActiveDirectory", default={})
    if (
        is_true(get(aad, "enabled"))
        and not items(get(aad, "validation", "defaultAuthorizationPolicy", "allowedPrincipals", "identities"))
        and not items(get(aad, "validation", "defaultAuthorizationPolicy", "allowedApplications"))
    ):
        yield "Entra ID admits every identity of the tenant (no allowedPrincipals or allowedApplications)"


@_rule(
    name="azure-ml-workspace-managed-network",
    description="Azure ML workspaces isolate compute in a managed VNet that allows only approved outbound, "
    "without the v1 legacy mode; required in prod.",
    resource_types=(ML_WORKSPACE,),
    concern="network-exposure",
    level=ADVISORY,
    severity="high",
    remediation="Set managedNetwork.isolationMode: AllowOnlyApprovedOutbound and v1LegacyMode: false.",
)
def ml_workspace_managed_network(args: ResourceValidationArgs) -> Iterator[str]:
    mode = get(args.props, "managedNetwork", "isolationMode", default="Disabled")
    if mode != "AllowOnlyApprovedOutbound":
        yield f"managedNetwork.isolationMode is {mode}"
    if is_true(args.props.get("v1LegacyMode")):
        yield "v1LegacyMode is on"


@_rule(
    name="azure-public-ip-zone-redundant",
    description="Standard public IP addresses are zone redundant; required in prod.",
    resource_types=(PUBLIC_IP,),
    concern="availability",
    level=ADVISORY,
    severity="medium",
    remediation="Set zones: ['1', '2', '3'] on the Standard public IP.",
)
def public_ip_zone_redundant(args: ResourceValidationArgs) -> Iterator[str]:
    if len(items(args.props.get("zones"))) < 2:
        yield f"the address lives in {len(items(args.props.get('zones')))} zone(s)"


RULES = collect(globals())
