"""VM Scale Set behind Application Gateway: zones, Trusted Launch, encryption at host and CMK disks, no public IP,
automatic repairs on the health route, WAF and TLS policy, autoscale bounds, certificate access; dev and prod."""

from __future__ import annotations

import base64

import pytest
from azure_fixtures import (
    ACR_IMAGE,
    CERT_VAULT_ID,
    CERTIFICATE,
    CRYPTO_SERVICE_USER,
    DEV,
    PROD,
    REGISTRY_ID,
    SECRETS_USER,
    SSH_KEY,
    azure_service,
    build,
)

OPTIONS = {"ssh_public_key": SSH_KEY, "registry_id": REGISTRY_ID, "secret_vault_ids": [CERT_VAULT_ID]}
EXPOSURE = {"certificate": CERTIFICATE, "domain": "churn.ml.internal.example.com", "allowed_networks": ["10.0.0.0/8"]}


@pytest.fixture(scope="module", params=["dev", "prod"])
def built(request):
    profile = DEV if request.param == "dev" else PROD
    service = azure_service(exposure=EXPOSURE, scaling={"max_replicas": 9})
    return request.param, build("vm", service, profile, OPTIONS)


def test_scale_set_spreads_over_the_profile_zones_balanced(built):
    env, b = built
    vmss = b.one("compute:VirtualMachineScaleSet").inputs
    assert vmss["orchestrationMode"] == "Flexible"
    assert vmss["zones"] == (["1", "2"] if env == "dev" else ["1", "2", "3"])
    assert vmss["zoneBalance"] is True and vmss["platformFaultDomainCount"] == 1
    assert vmss["sku"]["capacity"] == (1 if env == "dev" else 3)


def test_hardened_vms_with_cmk_disks_and_no_public_ip(built):
    _, b = built
    profile = b.one("compute:VirtualMachineScaleSet").inputs["virtualMachineProfile"]
    security = profile["securityProfile"]
    assert security["encryptionAtHost"] is True and security["securityType"] == "TrustedLaunch"
    assert security["uefiSettings"] == {"secureBootEnabled": True, "vTpmEnabled": True}
    linux = profile["osProfile"]["linuxConfiguration"]
    assert linux["disablePasswordAuthentication"] is True
    assert linux["ssh"]["publicKeys"][0]["keyData"] == SSH_KEY
    des = b.one("compute:DiskEncryptionSet")
    assert profile["storageProfile"]["osDisk"]["managedDisk"]["diskEncryptionSet"]["id"] == des.id
    key = b.one("keyvault:Key")
    assert des.inputs["activeKey"]["keyUrl"] == key.outputs["keyUri"]
    assert des.inputs["rotationToLatestKeyVersionEnabled"] is True
    des_identity = b.one("managedidentity:UserAssignedIdentity", "des-identity")
    grants = [g for g in b.assignments(CRYPTO_SERVICE_USER) if g["principalId"] == des_identity.outputs["principalId"]]
    assert [g["scope"] for g in grants] == [key.id]
    for nic in profile["networkProfile"]["networkInterfaceConfigurations"]:
        for ip in nic["ipConfigurations"]:
            assert "publicIPAddressConfiguration" not in ip
            gateway = b.one("network:ApplicationGateway")
            assert ip["applicationGatewayBackendAddressPools"] == [
                {"id": f"{gateway.id}/backendAddressPools/scale-set"}
            ]


def test_automatic_repairs_use_the_health_extension_on_the_ready_route(built):
    _, b = built
    vmss = b.one("compute:VirtualMachineScaleSet").inputs
    assert vmss["automaticRepairsPolicy"]["enabled"] is True
    (extension,) = vmss["virtualMachineProfile"]["extensionProfile"]["extensions"]
    assert extension["type"] == "ApplicationHealthLinux"
    assert extension["settings"]["requestPath"] == "/v2/health/ready" and extension["settings"]["port"] == 8080


def test_cloud_init_pulls_the_pinned_image_with_the_managed_identity(built):
    _, b = built
    vmss = b.one("compute:VirtualMachineScaleSet").inputs
    text = base64.b64decode(vmss["virtualMachineProfile"]["osProfile"]["customData"]).decode()
    identity = b.one("managedidentity:UserAssignedIdentity", "foundation-identity")
    assert f"client_id={identity.outputs['clientId']}" in text
    assert "https://churnml.azurecr.io/oauth2/exchange" in text
    assert f"docker pull {ACR_IMAGE}" in text
    assert "--read-only" in text and "--cap-drop ALL" in text and "--user 10001:10001" in text


def test_gateway_is_waf_v2_zonal_https_only_with_the_modern_tls_policy(built):
    env, b = built
    gateway = b.one("network:ApplicationGateway").inputs
    assert gateway["sku"] == {"name": "WAF_v2", "tier": "WAF_v2"}
    assert gateway["zones"] == (["1", "2"] if env == "dev" else ["1", "2", "3"])
    assert gateway["sslPolicy"] == {"policyType": "Predefined", "policyName": "AppGwSslPolicy20220101S"}
    listeners = {listener["name"]: listener for listener in gateway["httpListeners"]}
    assert listeners["https"]["protocol"] == "Https"
    (redirect,) = gateway["redirectConfigurations"]
    assert redirect["redirectType"] == "Permanent" and redirect["targetListener"]["id"].endswith("/httpListeners/https")
    assert [f["name"] for f in gateway["frontendIPConfigurations"]] == ["private"]
    assert gateway["sslCertificates"] == [{"name": "tls", "keyVaultSecretId": CERTIFICATE}]
    waf = b.one("network:WebApplicationFirewallPolicy")
    assert gateway["firewallPolicy"]["id"] == waf.id
    assert waf.inputs["policySettings"]["mode"] == "Prevention" and waf.inputs["policySettings"]["state"] == "Enabled"
    assert waf.inputs["managedRules"]["managedRuleSets"] == [
        {"ruleSetType": "Microsoft_DefaultRuleSet", "ruleSetVersion": "2.1"}
    ]


def test_the_gateway_reads_exactly_its_certificate(built):
    _, b = built
    identity = b.one("managedidentity:UserAssignedIdentity", "agw-identity")
    (grant,) = b.assignments(SECRETS_USER)
    assert grant["scope"] == f"{CERT_VAULT_ID}/secrets/churn-tls"
    assert grant["principalId"] == identity.outputs["principalId"]


def test_allowed_networks_and_azure_management_reach_the_gateway_subnet_only(built):
    _, b = built
    nsg = b.one("network:NetworkSecurityGroup", "gateway-nsg").inputs
    rules = {r["name"]: r for r in nsg["securityRules"]}
    assert rules["AllowCallers"]["sourceAddressPrefix"] == "10.0.0.0/8"
    assert rules["AllowCallers"]["destinationPortRanges"] == ["443", "80"]
    assert rules["AllowGatewayManager"]["sourceAddressPrefix"] == "GatewayManager"
    workload = {r["name"]: r for r in b.one("network:NetworkSecurityGroup", "workload-nsg").inputs["securityRules"]}
    gateway_subnet = next(s for s in b.by_type("network:Subnet") if s.name.endswith("gateway-subnet"))
    assert workload["AllowGateway"]["sourceAddressPrefix"] == gateway_subnet.inputs["addressPrefix"]
    assert workload["AllowGateway"]["destinationPortRanges"] == ["8080"]


def test_autoscale_bounds(built):
    env, b = built
    (autoscale,) = b.by_type("monitor:AutoscaleSetting")
    vmss = b.one("compute:VirtualMachineScaleSet")
    assert autoscale.inputs["targetResourceUri"] == vmss.id
    (profile,) = autoscale.inputs["profiles"]
    assert profile["capacity"]["minimum"] == ("1" if env == "dev" else "3") and profile["capacity"]["maximum"] == "9"
    directions = {r["scaleAction"]["direction"]: r["metricTrigger"] for r in profile["rules"]}
    assert directions["Increase"]["metricName"] == "Percentage CPU" and directions["Increase"]["threshold"] == 60


def test_a_public_gateway_blocks_other_networks_in_the_waf():
    exposure = {**EXPOSURE, "public": True, "anonymous": True, "allowed_networks": ["203.0.113.0/24", "2001:db8::/32"]}
    b = build("vm", azure_service(exposure=exposure), DEV, OPTIONS)
    gateway = b.one("network:ApplicationGateway").inputs
    public_ip = b.one("network:PublicIPAddress", "agw-ip")
    assert {"name": "public", "publicIPAddress": {"id": public_ip.id}} in gateway["frontendIPConfigurations"]
    assert gateway["httpListeners"][0]["frontendIPConfiguration"]["id"].endswith("/frontendIPConfigurations/public")
    (rule,) = b.one("network:WebApplicationFirewallPolicy").inputs["customRules"]
    condition = rule["matchConditions"][0]
    assert rule["action"] == "Block" and condition["negationConditon"] is True
    assert condition["matchValues"] == ["203.0.113.0/24", "2001:db8::/32"]
