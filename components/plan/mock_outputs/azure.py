"""Mock outputs and invokes for pulumi-azure-native: ARM resource ids, auto-names, identities, hostnames and the
data sources the Azure components call (client config, AKS user credentials)."""

from __future__ import annotations

import base64
import json
from typing import Any

from ..mocks import MockContext, fake_id, register_invoke, register_outputs

MOCK_TENANT = "11111111-1111-4111-8111-111111111111"
MOCK_CLIENT = "22222222-2222-4222-8222-222222222222"

# token -> ARM id segments after the resource group: (type path, name input) pairs; the first names the provider.
_SEGMENTS: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "network:VirtualNetwork": ("Microsoft.Network", (("virtualNetworks", "virtualNetworkName"),)),
    "network:Subnet": (
        "Microsoft.Network",
        (("virtualNetworks", "virtualNetworkName"), ("subnets", "subnetName")),
    ),
    "network:NetworkSecurityGroup": ("Microsoft.Network", (("networkSecurityGroups", "networkSecurityGroupName"),)),
    "network:NatGateway": ("Microsoft.Network", (("natGateways", "natGatewayName"),)),
    "network:PublicIPAddress": ("Microsoft.Network", (("publicIPAddresses", "publicIpAddressName"),)),
    "network:PrivateEndpoint": ("Microsoft.Network", (("privateEndpoints", "privateEndpointName"),)),
    "network:PrivateDnsZoneGroup": (
        "Microsoft.Network",
        (("privateEndpoints", "privateEndpointName"), ("privateDnsZoneGroups", "privateDnsZoneGroupName")),
    ),
    "network:ApplicationGateway": ("Microsoft.Network", (("applicationGateways", "applicationGatewayName"),)),
    "network:WebApplicationFirewallPolicy": (
        "Microsoft.Network",
        (("ApplicationGatewayWebApplicationFirewallPolicies", "policyName"),),
    ),
    "privatedns:PrivateZone": ("Microsoft.Network", (("privateDnsZones", "privateZoneName"),)),
    "privatedns:VirtualNetworkLink": (
        "Microsoft.Network",
        (("privateDnsZones", "privateZoneName"), ("virtualNetworkLinks", "virtualNetworkLinkName")),
    ),
    "keyvault:Vault": ("Microsoft.KeyVault", (("vaults", "vaultName"),)),
    "keyvault:Key": ("Microsoft.KeyVault", (("vaults", "vaultName"), ("keys", "keyName"))),
    "managedidentity:UserAssignedIdentity": (
        "Microsoft.ManagedIdentity",
        (("userAssignedIdentities", "resourceName"),),
    ),
    "managedidentity:FederatedIdentityCredential": (
        "Microsoft.ManagedIdentity",
        (
            ("userAssignedIdentities", "resourceName"),
            ("federatedIdentityCredentials", "federatedIdentityCredentialResourceName"),
        ),
    ),
    "containerregistry:Registry": ("Microsoft.ContainerRegistry", (("registries", "registryName"),)),
    "operationalinsights:Workspace": ("Microsoft.OperationalInsights", (("workspaces", "workspaceName"),)),
    "monitor:MetricAlert": ("Microsoft.Insights", (("metricAlerts", "ruleName"),)),
    "monitor:AutoscaleSetting": ("Microsoft.Insights", (("autoscalesettings", "autoscaleSettingName"),)),
    "monitor:ActionGroup": ("Microsoft.Insights", (("actionGroups", "actionGroupName"),)),
    "applicationinsights:Component": ("Microsoft.Insights", (("components", "resourceName"),)),
    "compute:DiskEncryptionSet": ("Microsoft.Compute", (("diskEncryptionSets", "diskEncryptionSetName"),)),
    "compute:VirtualMachineScaleSet": ("Microsoft.Compute", (("virtualMachineScaleSets", "vmScaleSetName"),)),
    "app:ManagedEnvironment": ("Microsoft.App", (("managedEnvironments", "environmentName"),)),
    "app:ContainerApp": ("Microsoft.App", (("containerApps", "containerAppName"),)),
    "app:ContainerAppsAuthConfig": (
        "Microsoft.App",
        (("containerApps", "containerAppName"), ("authConfigs", "authConfigName")),
    ),
    "containerservice:ManagedCluster": ("Microsoft.ContainerService", (("managedClusters", "resourceName"),)),
    "containerservice:AgentPool": (
        "Microsoft.ContainerService",
        (("managedClusters", "resourceName"), ("agentPools", "agentPoolName")),
    ),
    "web:AppServicePlan": ("Microsoft.Web", (("serverfarms", "name"),)),
    "web:WebApp": ("Microsoft.Web", (("sites", "name"),)),
    "web:WebAppAuthSettingsV2": ("Microsoft.Web", (("sites", "name"), ("config", "=authsettingsV2"))),
    "storage:StorageAccount": ("Microsoft.Storage", (("storageAccounts", "accountName"),)),
    "storage:BlobContainer": (
        "Microsoft.Storage",
        (("storageAccounts", "accountName"), ("blobServices", "=default"), ("containers", "containerName")),
    ),
    "machinelearningservices:Workspace": ("Microsoft.MachineLearningServices", (("workspaces", "workspaceName"),)),
    "machinelearningservices:EnvironmentVersion": (
        "Microsoft.MachineLearningServices",
        (("workspaces", "workspaceName"), ("environments", "name"), ("versions", "version")),
    ),
    "machinelearningservices:ModelVersion": (
        "Microsoft.MachineLearningServices",
        (("workspaces", "workspaceName"), ("models", "name"), ("versions", "version")),
    ),
    "machinelearningservices:OnlineEndpoint": (
        "Microsoft.MachineLearningServices",
        (("workspaces", "workspaceName"), ("onlineEndpoints", "endpointName")),
    ),
    "machinelearningservices:OnlineDeployment": (
        "Microsoft.MachineLearningServices",
        (
            ("workspaces", "workspaceName"),
            ("onlineEndpoints", "endpointName"),
            ("deployments", "deploymentName"),
        ),
    ),
    "resources:Deployment": ("Microsoft.Resources", (("deployments", "deploymentName"),)),
}
# Resources whose id hangs under another resource (their `scope`-like input) rather than a resource group.
_SCOPED = {
    "authorization:RoleAssignment": ("scope", "Microsoft.Authorization/roleAssignments", "roleAssignmentName"),
    "monitor:DiagnosticSetting": ("resourceUri", "Microsoft.Insights/diagnosticSettings", "name"),
}


def _uuid(*parts: str) -> str:
    h = fake_id(*parts, length=32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:32]}"


def _auto_name(type_: str, name: str) -> str:
    """azure-native auto-names a resource from its Pulumi name plus a random suffix."""
    return f"{name}{fake_id(type_, name, length=8)}"


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


@register_outputs("azure-native")
def azure_outputs(
    type_: str, name: str, inputs: dict[str, Any], ctx: MockContext, provider: str | None
) -> dict[str, Any]:
    token = type_.split(":", 1)[1]
    location = _text(inputs.get("location")) or ctx.region("azure-native", provider)
    sub = ctx.azure_subscription
    out: dict[str, Any] = {}
    group = _text(inputs.get("resourceGroupName")) or "rg-modelport"
    if token == "resources:ResourceGroup":
        group = _text(inputs.get("resourceGroupName")) or _auto_name(type_, name)
        return {"id": f"/subscriptions/{sub}/resourceGroups/{group}", "name": group, "location": location}
    if token in _SCOPED:
        scope_key, path, name_key = _SCOPED[token]
        scope = _text(inputs.get(scope_key)) or f"/subscriptions/{sub}"
        leaf = _text(inputs.get(name_key)) or (_uuid(type_, name) if "role" in path else _auto_name(type_, name))
        return {"id": f"{scope}/providers/{path}/{leaf}", "name": leaf}
    if token in _SEGMENTS:
        namespace, segments = _SEGMENTS[token]
        path = []
        leaf = name
        for kind, key in segments:
            leaf = key[1:] if key.startswith("=") else (_text(inputs.get(key)) or _auto_name(type_, name))
            path += [kind, leaf]
        out["id"] = f"/subscriptions/{sub}/resourceGroups/{group}/providers/{namespace}/" + "/".join(path)
        out["name"] = leaf
    identity = inputs.get("identity")
    if isinstance(identity, dict) and isinstance(identity.get("userAssignedIdentities"), list):
        # Inputs list identity ids; the service answers with a map of id to the identity's ids.
        out["identity"] = {
            **identity,
            "userAssignedIdentities": {
                i: {"clientId": _uuid("client", i), "principalId": _uuid("principal", i)}
                for i in identity["userAssignedIdentities"]
                if isinstance(i, str)
            },
        }
    if token == "managedidentity:UserAssignedIdentity":
        out.update(clientId=_uuid("client", name), principalId=_uuid("principal", name), tenantId=MOCK_TENANT)
    elif token == "keyvault:Vault":
        props = dict(inputs.get("properties") or {})
        props["vaultUri"] = f"https://{out['name']}.vault.azure.net/"
        out["properties"] = props
    elif token == "keyvault:Key":
        vault = _text(inputs.get("vaultName")) or "vault"
        uri = f"https://{vault}.vault.azure.net/keys/{out['name']}"
        out.update(keyUri=uri, keyUriWithVersion=f"{uri}/{fake_id(type_, name, length=32)}")
    elif token == "containerregistry:Registry":
        out["loginServer"] = f"{out['name'].lower()}.azurecr.io"
    elif token == "operationalinsights:Workspace":
        out["customerId"] = _uuid("workspace", name)
    elif token == "network:PublicIPAddress":
        out["ipAddress"] = f"20.{int(fake_id(name, length=2), 16)}.{int(fake_id(type_, length=2), 16)}.10"
    elif token == "app:ManagedEnvironment":
        out.update(
            defaultDomain=f"{fake_id(name, length=12)}.{location}.azurecontainerapps.io",
            staticIp=f"10.40.8.{int(fake_id(name, length=2), 16) % 250 + 4}",
        )
    elif token == "app:ContainerApp":
        configuration = json.loads(json.dumps(inputs.get("configuration") or {}))
        ingress = configuration.get("ingress")
        fqdn = f"{out['name']}.{fake_id(name, length=12)}.{location}.azurecontainerapps.io"
        if isinstance(ingress, dict):
            ingress["fqdn"] = fqdn
        out.update(configuration=configuration, latestRevisionFqdn=fqdn, latestRevisionName=f"{out['name']}--1")
    elif token == "web:WebApp":
        out["defaultHostName"] = f"{out['name']}.azurewebsites.net"
    elif token == "containerservice:ManagedCluster":
        out.update(
            fqdn=f"{out['name']}-{fake_id(name, length=8)}.hcp.{location}.azmk8s.io",
            privateFQDN=f"{out['name']}-{fake_id(name, length=8)}.privatelink.{location}.azmk8s.io",
            oidcIssuerProfile={
                **(inputs.get("oidcIssuerProfile") or {}),
                "issuerURL": f"https://{location}.oic.prod-aks.azure.com/{MOCK_TENANT}/{_uuid('oidc', name)}/",
            },
        )
    elif token == "storage:StorageAccount":
        account = out["name"]
        out["primaryEndpoints"] = {"blob": f"https://{account}.blob.core.windows.net/"}
    elif token == "applicationinsights:Component":
        key = _uuid("appinsights", name)
        out.update(
            instrumentationKey=key,
            connectionString=f"InstrumentationKey={key};IngestionEndpoint=https://{location}.in.applicationinsights.azure.com/",
        )
    elif token == "machinelearningservices:OnlineEndpoint":
        props = dict(inputs.get("properties") or {})
        props["scoringUri"] = f"https://{out['name']}.{location}.inference.ml.azure.com/score"
        out["properties"] = props
    elif token == "machinelearningservices:Workspace":
        out["workspaceId"] = _uuid("mlworkspace", name)
    return out


@register_invoke("azure-native:authorization:getClientConfig")
def client_config(args: dict[str, Any], ctx: MockContext, provider: str | None) -> dict[str, Any]:
    return {
        "clientId": MOCK_CLIENT,
        "objectId": _uuid("deployer"),
        "subscriptionId": ctx.azure_subscription,
        "tenantId": MOCK_TENANT,
    }


@register_invoke("azure-native:containerservice:listManagedClusterUserCredentials")
def aks_user_credentials(args: dict[str, Any], ctx: MockContext, provider: str | None) -> dict[str, Any]:
    cluster = args.get("resourceName", "aks")
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": f"https://{cluster}.privatelink.azmk8s.io:443"}}],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": "clusterUser"}}],
        "current-context": cluster,
        "users": [{"name": "clusterUser", "user": {"exec": {"command": "kubelogin", "args": ["get-token"]}}}],
    }
    encoded = base64.b64encode(json.dumps(kubeconfig).encode()).decode()
    return {"kubeconfigs": [{"name": "clusterUser", "value": encoded}]}
