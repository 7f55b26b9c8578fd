"""The foundation every Azure pattern runs on: Key Vault and key, ACR, network, identity grants, logs, tags."""

from __future__ import annotations

import ipaddress

import pytest
from azure_fixtures import (
    ACR_IMAGE,
    ACR_PULL,
    CRYPTO_SERVICE_USER,
    DEV,
    PROD,
    REGISTRY_ID,
    SECRETS_USER,
    SUB,
    azure_service,
    build,
)

ARM_ID = r"/subscriptions/[0-9a-f-]{36}/resourceGroups/[^/]+/providers/Microsoft\.[A-Za-z]+/.+"
GHCR = "ghcr.io/acme-ml/churn-serving@sha256:" + "4f" * 32


@pytest.fixture(scope="module")
def dev():
    return build("container", azure_service(image=GHCR), DEV)


@pytest.fixture(scope="module")
def prod():
    return build("container", azure_service(image=GHCR), PROD)


def test_key_vault_is_rbac_purge_protected_private_with_a_private_endpoint(prod):
    vault = prod.one("keyvault:Vault")
    props = vault.inputs["properties"]
    assert props["enableRbacAuthorization"] is True
    assert props["enablePurgeProtection"] is True and props["softDeleteRetentionInDays"] == 90
    assert props["publicNetworkAccess"] == "Disabled"
    assert props["networkAcls"] == {"bypass": "AzureServices", "defaultAction": "Deny"}
    endpoint = prod.one("network:PrivateEndpoint", "foundation-kv-pe")
    connection = endpoint.inputs["privateLinkServiceConnections"][0]
    assert connection["privateLinkServiceId"] == vault.id and connection["groupIds"] == ["vault"]
    zones = {z.inputs["privateZoneName"] for z in prod.by_type("privatedns:PrivateZone")}
    assert {"privatelink.vaultcore.azure.net", "privatelink.azurecr.io"} <= zones


def test_the_key_rotates_on_schedule_and_wraps_only(prod):
    key = prod.one("keyvault:Key")
    props = key.inputs["properties"]
    assert props["kty"] == "RSA-HSM" and props["keySize"] == 3072 and props["keyOps"] == ["wrapKey", "unwrapKey"]
    actions = {a["action"]["type"]: a["trigger"] for a in props["rotationPolicy"]["lifetimeActions"]}
    assert actions["rotate"] == {"timeAfterCreate": "P90D"}
    assert "timeBeforeExpiry" in actions["notify"]


def test_registry_is_premium_zone_redundant_private_and_encrypted_with_the_key(prod):
    registry = prod.one("containerregistry:Registry")
    inputs = registry.inputs
    assert inputs["sku"] == {"name": "Premium"} and inputs["zoneRedundancy"] == "Enabled"
    assert inputs["adminUserEnabled"] is False and inputs["anonymousPullEnabled"] is False
    assert inputs["publicNetworkAccess"] == "Disabled"
    assert inputs["policies"]["retentionPolicy"]["status"] == "enabled"
    key = prod.one("keyvault:Key")
    registry_identity = prod.one("managedidentity:UserAssignedIdentity", "acr-identity")
    encryption = inputs["encryption"]["keyVaultProperties"]
    assert encryption["keyIdentifier"] == key.outputs["keyUri"]
    assert encryption["identity"] == registry_identity.outputs["clientId"]
    # The registry's identity can use exactly the key, before the registry exists.
    (grant,) = prod.assignments(CRYPTO_SERVICE_USER)
    assert grant["scope"] == key.id and grant["principalId"] == registry_identity.outputs["principalId"]


def test_the_workload_identity_pulls_from_exactly_the_registry(prod):
    registry = prod.one("containerregistry:Registry")
    identity = prod.one("managedidentity:UserAssignedIdentity", "foundation-identity")
    (pull,) = prod.assignments(ACR_PULL)
    assert pull["scope"] == registry.id
    assert pull["principalId"] == identity.outputs["principalId"]
    assert (
        pull["roleDefinitionId"] == f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{ACR_PULL}"
    )


def test_a_brought_registry_is_the_acr_pull_scope_and_none_is_created():
    built = build("container", azure_service(image=ACR_IMAGE), DEV, {"registry_id": REGISTRY_ID})
    assert built.by_type("containerregistry:Registry") == []
    (pull,) = built.assignments(ACR_PULL)
    assert pull["scope"] == REGISTRY_ID


def test_secrets_users_are_scoped_to_each_referenced_secret():
    vault_id = f"/subscriptions/{SUB}/resourceGroups/rg-sec/providers/Microsoft.KeyVault/vaults/churn-secrets"
    service = azure_service(image=GHCR, secrets={"DB_URL": "https://churn-secrets.vault.azure.net/secrets/db-url"})
    built = build("container", service, DEV, {"secret_vault_ids": [vault_id]})
    (grant,) = built.assignments(SECRETS_USER)
    assert grant["scope"] == f"{vault_id}/secrets/db-url"


def test_network_subnets_nat_and_nsgs(dev, prod):
    for built in (dev, prod):
        vnet = built.one("network:VirtualNetwork")
        space = ipaddress.ip_network(vnet.inputs["addressSpace"]["addressPrefixes"][0])
        subnets = {s.name.rsplit("-", 2)[-2]: s.inputs for s in built.by_type("network:Subnet")}
        assert set(subnets) == {"workload", "endpoints", "delegated"}
        prefixes = [ipaddress.ip_network(s["addressPrefix"]) for s in subnets.values()]
        assert all(p.subnet_of(space) for p in prefixes)
        assert not any(a.overlaps(b) for i, a in enumerate(prefixes) for b in prefixes[i + 1 :])
        assert subnets["delegated"]["delegations"][0]["serviceName"] == "Microsoft.App/environments"
        assert all(s["defaultOutboundAccess"] is False for s in subnets.values())
        nat = built.one("network:NatGateway")
        assert subnets["workload"]["natGateway"]["id"] == nat.id
        for nsg in built.by_type("network:NetworkSecurityGroup"):
            deny = nsg.inputs["securityRules"][-1]
            assert deny["access"] == "Deny" and deny["sourceAddressPrefix"] == "Internet"
    # The NAT gateway's Standard public IP is zone redundant over the region's three zones.
    assert prod.one("network:PublicIPAddress").inputs["zones"] == ["1", "2", "3"]


def test_log_retention_follows_the_profile(dev, prod):
    assert dev.one("operationalinsights:Workspace").inputs["retentionInDays"] == 30
    assert prod.one("operationalinsights:Workspace").inputs["retentionInDays"] == 365


def test_diagnostic_settings_send_every_log_group_to_log_analytics(prod):
    workspace = prod.one("operationalinsights:Workspace").id
    settings = prod.by_type("monitor:DiagnosticSetting")
    targets = {s.inputs["resourceUri"] for s in settings}
    assert prod.one("keyvault:Vault").id in targets
    assert prod.one("containerregistry:Registry").id in targets
    assert prod.one("app:ManagedEnvironment").id in targets
    for setting in settings:
        assert setting.inputs["workspaceId"] == workspace
        assert setting.inputs["logs"] == [{"categoryGroup": "allLogs", "enabled": True}]


def test_ids_are_arm_ids_and_every_taggable_resource_is_tagged(prod):
    import re

    for resource in prod.resources:
        if not resource.type.startswith("azure-native:") or resource.type.endswith(("RoleAssignment", "Provider")):
            continue
        assert re.fullmatch(ARM_ID, resource.id) or resource.type.endswith("ResourceGroup"), resource.type
    tagged = [r for r in prod.resources if "tags" in r.inputs]
    assert len(tagged) > 10
    for resource in tagged:
        assert resource.inputs["tags"]["managed-by"] == "modelport"
        assert resource.inputs["tags"]["team"] == "ml-platform"


def test_provider_manages_the_target_location(prod):
    (provider,) = [r for r in prod.resources if r.type == "pulumi:providers:azure-native"]
    assert provider.inputs["location"] == "westeurope"
