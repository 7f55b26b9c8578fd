"""Fixtures for the Azure rules, built with azure-native v3 resources (the Azure components are still planned)."""

from __future__ import annotations

from typing import Any

import pulumi_azure_native as az
from policy_cases import DELETE, DIGEST, Case, b64, bad, cloud_init, good, patched, serving_cloud_init

SUB = "00000000-0000-0000-0000-000000000000"
RG = "churn-rg"
RG_ID = f"/subscriptions/{SUB}/resourceGroups/{RG}"
IDENTITY = f"{RG_ID}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/churn"
KEY_URL = "https://churn-kv.vault.azure.net/keys/churn/0123456789abcdef0123456789abcdef"
VAULT_ID = f"{RG_ID}/providers/Microsoft.KeyVault/vaults/churn-kv"
SUBNET_ID = f"{RG_ID}/providers/Microsoft.Network/virtualNetworks/churn/subnets/apps"
ACR_IMAGE = f"churn.azurecr.io/models/churn@{DIGEST}"
ACR_TAGGED = "churn.azurecr.io/models/churn:latest"
DES_ID = f"{RG_ID}/providers/Microsoft.Compute/diskEncryptionSets/churn"
WAF_ID = f"{RG_ID}/providers/Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies/churn"
AGW = f"{RG_ID}/providers/Microsoft.Network/applicationGateways/churn"


def container_app(
    n: str, configuration: dict[str, Any] | None = None, template: dict[str, Any] | None = None, **kw: Any
) -> az.app.ContainerApp:
    probes = [
        {"type": kind, "http_get": {"path": path, "port": 8080}}
        for kind, path in (("Readiness", "/v2/health/ready"), ("Liveness", "/v2/health/live"))
    ]
    base_configuration = {
        "ingress": {"external": False, "target_port": 8080, "allow_insecure": False, "transport": "http"},
        "registries": [{"server": "churn.azurecr.io", "identity": IDENTITY}],
        "secrets": [
            {
                "name": "db-password",
                "key_vault_url": "https://churn-kv.vault.azure.net/secrets/db",
                "identity": IDENTITY,
            }
        ],
    }
    base_template = {
        "containers": [
            {
                "name": "model",
                "image": ACR_IMAGE,
                "probes": probes,
                "env": [{"name": "DB_PASSWORD", "secret_ref": "db-password"}, {"name": "LOG_LEVEL", "value": "info"}],
            }
        ],
        "scale": {
            "min_replicas": 3,
            "max_replicas": 12,
            "rules": [{"name": "http", "http": {"metadata": {"concurrentRequests": "16"}}}],
        },
    }
    return az.app.ContainerApp(
        n,
        resource_group_name=RG,
        managed_environment_id=f"{RG_ID}/providers/Microsoft.App/managedEnvironments/e",
        identity={"type": "SystemAssigned"},
        configuration=patched(base_configuration, configuration or {}),
        template=patched(base_template, template or {}),
        **kw,
    )


def model_container(**patch: Any) -> dict[str, Any]:
    return {
        "containers": [
            patched(
                {
                    "name": "model",
                    "image": ACR_IMAGE,
                    "probes": [
                        {"type": "Readiness", "http_get": {"path": "/v2/health/ready", "port": 8080}},
                        {"type": "Liveness", "http_get": {"path": "/v2/health/live", "port": 8080}},
                    ],
                },
                patch,
            )
        ]
    }


def environment(n: str, **kw: Any) -> az.app.ManagedEnvironment:
    args = {
        "resource_group_name": RG,
        "zone_redundant": True,
        "vnet_configuration": {"internal": True, "infrastructure_subnet_id": SUBNET_ID},
        "app_logs_configuration": {
            "destination": "log-analytics",
            "log_analytics_configuration": {"customer_id": "11111111-1111-1111-1111-111111111111"},
        },
    }
    return az.app.ManagedEnvironment(n, **{**args, **kw})


def ml_workspace(n: str, **kw: Any) -> az.machinelearningservices.Workspace:
    args = {
        "resource_group_name": RG,
        "public_network_access": "Disabled",
        "identity": {"type": "SystemAssigned"},
        "encryption": {
            "status": "Enabled",
            "key_vault_properties": {"key_identifier": KEY_URL, "key_vault_arm_id": VAULT_ID},
        },
    }
    return az.machinelearningservices.Workspace(n, **{**args, **kw})


def ml_endpoint(n: str, **properties: Any) -> az.machinelearningservices.OnlineEndpoint:
    props = patched({"auth_mode": "AADToken", "public_network_access": "Disabled"}, properties)
    return az.machinelearningservices.OnlineEndpoint(
        n, resource_group_name=RG, workspace_name="churn", identity={"type": "SystemAssigned"}, properties=props
    )


PROBE = az.machinelearningservices.ProbeSettingsArgs(
    initial_delay="PT30S", period="PT10S", timeout="PT2S", failure_threshold=30
)


def ml_deployment(n: str, sku: dict[str, Any] | None = None, **properties: Any) -> Any:
    # ``properties`` is a union (Kubernetes or Managed), so only the Args class gets its keys translated.
    settings = {
        "endpoint_compute_type": "Managed",
        "instance_type": "Standard_DS3_v2",
        "environment_id": f"{RG_ID}/environments/churn/versions/1",
        "readiness_probe": PROBE,
        "liveness_probe": PROBE,
        "egress_public_network_access": "Disabled",
    }
    settings.update(properties)
    props = az.machinelearningservices.ManagedOnlineDeploymentArgs(
        **{k: v for k, v in settings.items() if v is not DELETE}
    )
    return az.machinelearningservices.OnlineDeployment(
        n,
        resource_group_name=RG,
        workspace_name="churn",
        endpoint_name="churn",
        properties=props,
        sku=sku if sku is not None else {"name": "Default", "capacity": 3},
    )


def ml_environment(n: str, image: str | None = ACR_IMAGE) -> az.machinelearningservices.EnvironmentVersion:
    props = {"image": image} if image else {"conda_file": "name: churn"}
    return az.machinelearningservices.EnvironmentVersion(
        n, resource_group_name=RG, workspace_name="churn", name="churn", version="1", properties=props
    )


def registry(n: str, **kw: Any) -> az.containerregistry.Registry:
    args = {
        "resource_group_name": RG,
        "sku": {"name": "Premium"},
        "admin_user_enabled": False,
        "anonymous_pull_enabled": False,
        "public_network_access": "Disabled",
        "zone_redundancy": "Enabled",
        "encryption": {
            "status": "enabled",
            "key_vault_properties": {"key_identifier": KEY_URL, "identity": "client-id"},
        },
    }
    return az.containerregistry.Registry(n, **{**args, **kw})


def vault(n: str, **properties: Any) -> az.keyvault.Vault:
    props = patched(
        {
            "tenant_id": SUB,
            "sku": {"family": "A", "name": "premium"},
            "enable_purge_protection": True,
            "enable_rbac_authorization": True,
            "network_acls": {"default_action": "Deny", "bypass": "AzureServices"},
        },
        properties,
    )
    return az.keyvault.Vault(n, resource_group_name=RG, properties=props)


def key(n: str, **properties: Any) -> az.keyvault.Key:
    props = patched(
        {
            "kty": "RSA",
            "key_size": 3072,
            "rotation_policy": {
                "lifetime_actions": [{"action": {"type": "rotate"}, "trigger": {"time_after_create": "P90D"}}],
                "attributes": {"expiry_time": "P1Y"},
            },
        },
        properties,
    )
    return az.keyvault.Key(n, resource_group_name=RG, vault_name="churn-kv", properties=props)


def vm_profile(**patch: Any) -> dict[str, Any]:
    base = {
        "security_profile": {
            "encryption_at_host": True,
            "security_type": "TrustedLaunch",
            "uefi_settings": {"secure_boot_enabled": True, "v_tpm_enabled": True},
        },
        "os_profile": {
            "computer_name_prefix": "churn",
            "admin_username": "azureuser",
            "custom_data": b64(cloud_init(ACR_IMAGE)),
            "linux_configuration": {
                "disable_password_authentication": True,
                "ssh": {
                    "public_keys": [{"path": "/home/azureuser/.ssh/authorized_keys", "key_data": "ssh-ed25519 AAAA"}]
                },
            },
        },
        "storage_profile": {
            "os_disk": {
                "create_option": "FromImage",
                "managed_disk": {"storage_account_type": "Premium_ZRS", "disk_encryption_set": {"id": DES_ID}},
            }
        },
        "network_profile": {
            "network_interface_configurations": [
                {"name": "nic", "primary": True, "ip_configurations": [{"name": "ip", "subnet": {"id": SUBNET_ID}}]}
            ]
        },
    }
    return patched(base, patch)


def vmss(n: str, profile: dict[str, Any] | None = None, **kw: Any) -> az.compute.VirtualMachineScaleSet:
    args = {
        "resource_group_name": RG,
        "sku": {"name": "Standard_D4s_v5", "capacity": 3},
        "zones": ["1", "2", "3"],
        "automatic_repairs_policy": {"enabled": True, "grace_period": "PT10M"},
        "virtual_machine_profile": profile if profile is not None else vm_profile(),
    }
    return az.compute.VirtualMachineScaleSet(n, **{**args, **kw})


def autoscale(
    n: str, target: Any = f"{RG_ID}/providers/Microsoft.Compute/virtualMachineScaleSets/churn", minimum: str = "3"
) -> az.monitor.AutoscaleSetting:
    return az.monitor.AutoscaleSetting(
        n,
        resource_group_name=RG,
        target_resource_uri=target,
        enabled=True,
        profiles=[
            {"name": "default", "capacity": {"minimum": minimum, "maximum": "12", "default": minimum}, "rules": []}
        ],
    )


def scaled(build: Any, n: str, with_autoscale: bool = True) -> None:
    resource = build(n)
    if with_autoscale:
        autoscale(f"{n}-autoscale", target=resource.id)


def app_gateway(n: str, **kw: Any) -> az.network.ApplicationGateway:
    args = {
        "resource_group_name": RG,
        "sku": {"name": "WAF_v2", "tier": "WAF_v2", "capacity": 2},
        "zones": ["1", "2", "3"],
        "firewall_policy": {"id": WAF_ID},
        "ssl_policy": {"policy_type": "Predefined", "policy_name": "AppGwSslPolicy20220101S"},
        "http_listeners": [{"name": "https", "protocol": "Https"}, {"name": "http", "protocol": "Http"}],
        "redirect_configurations": [
            {"name": "to-https", "redirect_type": "Permanent", "target_listener": {"id": f"{AGW}/httpListeners/https"}}
        ],
    }
    return az.network.ApplicationGateway(n, **{**args, **kw})


def waf_policy(n: str, **kw: Any) -> az.network.WebApplicationFirewallPolicy:
    args = {
        "resource_group_name": RG,
        "policy_settings": {"state": "Enabled", "mode": "Prevention"},
        "managed_rules": {"managed_rule_sets": [{"rule_set_type": "OWASP", "rule_set_version": "3.2"}]},
    }
    return az.network.WebApplicationFirewallPolicy(n, **{**args, **kw})


POOL = {
    "name": "system",
    "mode": "System",
    "vm_size": "Standard_D4s_v5",
    "count": 3,
    "availability_zones": ["1", "2", "3"],
    "enable_auto_scaling": True,
    "min_count": 3,
    "max_count": 6,
}


def aks(n: str, pool: dict[str, Any] | None = None, **kw: Any) -> az.containerservice.ManagedCluster:
    args = {
        "resource_group_name": RG,
        "dns_prefix": "churn",
        "enable_rbac": True,
        "disable_local_accounts": True,
        "aad_profile": {"managed": True, "enable_azure_rbac": True},
        "api_server_access_profile": {"enable_private_cluster": True},
        "security_profile": {
            "azure_key_vault_kms": {"enabled": True, "key_id": KEY_URL, "key_vault_network_access": "Private"},
            "workload_identity": {"enabled": True},
        },
        "oidc_issuer_profile": {"enabled": True},
        "network_profile": {"network_plugin": "azure", "network_policy": "cilium"},
        "addon_profiles": {"omsagent": {"enabled": True}},
        "agent_pool_profiles": [patched(POOL, pool or {})],
    }
    return az.containerservice.ManagedCluster(n, **{**args, **kw})


def web_app(n: str, site: dict[str, Any] | None = None, **kw: Any) -> az.web.WebApp:
    base_site = {
        "min_tls_version": "1.2",
        "ftps_state": "Disabled",
        "linux_fx_version": f"DOCKER|{ACR_IMAGE}",
        "app_settings": [
            {
                "name": "DB_PASSWORD",
                "value": "@Microsoft.KeyVault(SecretUri=https://churn-kv.vault.azure.net/secrets/db)",
            },
            {"name": "LOG_LEVEL", "value": "info"},
        ],
    }
    args = {
        "resource_group_name": RG,
        "server_farm_id": f"{RG_ID}/providers/Microsoft.Web/serverfarms/churn",
        "kind": "functionapp,linux,container",
        "https_only": True,
        "identity": {"type": "SystemAssigned"},
        "site_config": patched(base_site, site or {}),
    }
    return az.web.WebApp(n, **{**args, **kw})


def storage(n: str, **kw: Any) -> az.storage.StorageAccount:
    args = {
        "resource_group_name": RG,
        "kind": "StorageV2",
        "sku": {"name": "Standard_ZRS"},
        "enable_https_traffic_only": True,
        "minimum_tls_version": "TLS1_2",
        "allow_blob_public_access": False,
        "encryption": {
            "key_source": "Microsoft.Keyvault",
            "key_vault_properties": {"key_name": "churn", "key_vault_uri": "https://churn-kv.vault.azure.net"},
        },
    }
    return az.storage.StorageAccount(n, **{**args, **kw})


def role_assignment(n: str, role: str) -> az.authorization.RoleAssignment:
    return az.authorization.RoleAssignment(
        n,
        principal_id="22222222-2222-2222-2222-222222222222",
        principal_type="ServicePrincipal",
        role_definition_id=f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{role}",
        scope=RG_ID,
    )


def nsg(n: str, *, source: str, ports: list[str]) -> az.network.NetworkSecurityGroup:
    return az.network.NetworkSecurityGroup(
        n,
        resource_group_name=RG,
        security_rules=[
            {
                "name": "inbound",
                "priority": 100,
                "direction": "Inbound",
                "access": "Allow",
                "protocol": "Tcp",
                "source_address_prefix": source,
                "source_port_range": "*",
                "destination_address_prefix": "*",
                "destination_port_ranges": ports,
            }
        ],
    )


def disk_encryption_set(n: str, **kw: Any) -> az.compute.DiskEncryptionSet:
    return az.compute.DiskEncryptionSet(
        n,
        resource_group_name=RG,
        identity={"type": "UserAssigned", "user_assigned_identities": [IDENTITY]},
        encryption_type="EncryptionAtRestWithCustomerKey",
        active_key={"key_url": KEY_URL, "source_vault": {"id": VAULT_ID}},
        **{"rotation_to_latest_key_version_enabled": True, **kw},
    )


APP_CONTAINER = {"name": "model", "image": ACR_IMAGE}
# The component's shape: a second env file with the secrets, fetched at boot, which cloud-init does not write.
SECRETS_FLAG = "--env-file /run/modelport/secrets.env"
SECRETS_ENV = "PORT=8080\n"
WRITES_GRPC = "runcmd:\n  - [sh, -c, 'echo GRPC_PORT=8081 >> /run/modelport/secrets.env']\n"

CASES: list[Case] = [
    # Container Apps
    bad(
        "azure-container-app-no-insecure-ingress",
        lambda n: container_app(n, {"ingress": {"allow_insecure": True}}),
        "HTTP allowed",
    ),
    good("azure-container-app-no-insecure-ingress", container_app, "HTTPS only"),
    bad(
        "azure-container-app-external-ingress-restricted",
        lambda n: container_app(n, {"ingress": {"external": True}}),
        "external, open",
    ),
    bad(
        "azure-container-app-external-ingress-restricted",
        lambda n: container_app(
            n,
            {
                "ingress": {
                    "external": True,
                    "ip_security_restrictions": [{"name": "all", "action": "Allow", "ip_address_range": "0.0.0.0/0"}],
                }
            },
        ),
        "allow-all rule",
    ),
    good(
        "azure-container-app-external-ingress-restricted",
        lambda n: container_app(
            n,
            {
                "ingress": {
                    "external": True,
                    "ip_security_restrictions": [
                        {"name": "callers", "action": "Allow", "ip_address_range": "203.0.113.0/24"}
                    ],
                }
            },
        ),
        "callers only",
    ),
    good("azure-container-app-external-ingress-restricted", container_app, "internal"),
    bad(
        "azure-container-app-registry-identity",
        lambda n: container_app(
            n,
            {
                "registries": [
                    {"server": "churn.azurecr.io", "username": "churn", "password_secret_ref": "acr-password"}
                ]
            },
        ),
        "password",
    ),
    good("azure-container-app-registry-identity", container_app, "managed identity"),
    bad(
        "azure-container-app-no-plain-secrets",
        lambda n: container_app(n, {"secrets": [{"name": "db-password", "value": "hunter2hunter2"}]}),
        "inline secret",
    ),
    bad(
        "azure-container-app-no-plain-secrets",
        lambda n: container_app(n, template=model_container(env=[{"name": "API_TOKEN", "value": "abcd1234abcd1234"}])),
        "literal env",
    ),
    good("azure-container-app-no-plain-secrets", container_app, "Key Vault references"),
    bad(
        "azure-container-app-image-digest",
        lambda n: container_app(n, template=model_container(image=ACR_TAGGED)),
        "latest",
    ),
    good("azure-container-app-image-digest", container_app, "digest"),
    bad(
        "azure-container-app-scale-rules",
        lambda n: container_app(n, template={"scale": {"rules": DELETE, "max_replicas": DELETE}}),
        "no rules",
    ),
    good("azure-container-app-scale-rules", container_app, "HTTP rule"),
    bad(
        "azure-container-app-min-replicas-prod",
        lambda n: container_app(n, template={"scale": {"min_replicas": 1}}),
        "one replica",
    ),
    good("azure-container-app-min-replicas-prod", container_app, "three replicas"),
    bad("azure-container-app-probes", lambda n: container_app(n, template=model_container(probes=[])), "no probes"),
    good("azure-container-app-probes", container_app, "readiness and liveness"),
    bad("azure-container-env-zone-redundant", lambda n: environment(n, zone_redundant=False), "single zone"),
    good("azure-container-env-zone-redundant", environment, "zone redundant"),
    bad("azure-container-env-internal", lambda n: environment(n, vnet_configuration=None), "public"),
    good("azure-container-env-internal", environment, "internal"),
    bad("azure-container-env-logs", lambda n: environment(n, app_logs_configuration=None), "no logs"),
    good("azure-container-env-logs", environment, "Log Analytics"),
    # Azure ML
    bad("azure-ml-workspace-private", lambda n: ml_workspace(n, public_network_access="Enabled"), "public"),
    good("azure-ml-workspace-private", ml_workspace, "private"),
    bad("azure-ml-workspace-cmk", lambda n: ml_workspace(n, encryption=None), "Microsoft-managed"),
    good("azure-ml-workspace-cmk", ml_workspace, "CMK"),
    bad("azure-ml-endpoint-auth", lambda n: ml_endpoint(n, auth_mode="Key"), "static keys"),
    good("azure-ml-endpoint-auth", ml_endpoint, "AAD token"),
    bad("azure-ml-endpoint-private", lambda n: ml_endpoint(n, public_network_access="Enabled"), "public"),
    good("azure-ml-endpoint-private", ml_endpoint, "private"),
    bad(
        "azure-ml-deployment-instance-count-prod",
        lambda n: ml_deployment(n, sku={"name": "Default", "capacity": 1}),
        "one instance",
    ),
    good("azure-ml-deployment-instance-count-prod", ml_deployment, "three instances"),
    bad("azure-ml-deployment-probes", lambda n: ml_deployment(n, readiness_probe=DELETE), "no readiness"),
    good("azure-ml-deployment-probes", ml_deployment, "probes"),
    bad("azure-ml-deployment-no-egress", lambda n: ml_deployment(n, egress_public_network_access="Enabled"), "egress"),
    good("azure-ml-deployment-no-egress", ml_deployment, "no egress"),
    bad("azure-ml-environment-image-digest", lambda n: ml_environment(n, ACR_TAGGED), "tag"),
    good("azure-ml-environment-image-digest", ml_environment, "digest"),
    # ACR
    bad("azure-acr-no-admin-user", lambda n: registry(n, admin_user_enabled=True), "admin user"),
    good("azure-acr-no-admin-user", registry, "identities only"),
    bad("azure-acr-no-anonymous-pull", lambda n: registry(n, anonymous_pull_enabled=True), "anonymous pull"),
    good("azure-acr-no-anonymous-pull", registry, "authenticated pulls"),
    bad("azure-acr-private", lambda n: registry(n, public_network_access="Enabled"), "public"),
    good("azure-acr-private", registry, "private"),
    bad("azure-acr-cmk", lambda n: registry(n, encryption={"status": "disabled"}), "Microsoft-managed"),
    good("azure-acr-cmk", registry, "CMK"),
    bad("azure-acr-zone-redundant", lambda n: registry(n, zone_redundancy="Disabled"), "single zone"),
    good("azure-acr-zone-redundant", registry, "zone redundant"),
    # Key Vault
    bad("azure-key-vault-purge-protection", lambda n: vault(n, enable_purge_protection=DELETE), "purgeable"),
    bad("azure-key-vault-purge-protection", lambda n: vault(n, enable_soft_delete=False), "soft delete off"),
    good("azure-key-vault-purge-protection", vault, "purge protection"),
    bad("azure-key-vault-rbac", lambda n: vault(n, enable_rbac_authorization=False), "access policies"),
    good("azure-key-vault-rbac", vault, "RBAC"),
    bad("azure-key-vault-network", lambda n: vault(n, network_acls=DELETE), "open"),
    good("azure-key-vault-network", vault, "deny by default"),
    bad("azure-key-rotation", lambda n: key(n, rotation_policy=DELETE), "no rotation"),
    good("azure-key-rotation", key, "rotates every 90 days"),
    # VM scale sets
    bad(
        "azure-vmss-encryption-at-host",
        lambda n: vmss(n, vm_profile(security_profile={"encryption_at_host": False})),
        "off",
    ),
    good("azure-vmss-encryption-at-host", vmss, "on"),
    bad(
        "azure-vmss-disk-cmk",
        lambda n: vmss(n, vm_profile(storage_profile={"os_disk": {"managed_disk": {"disk_encryption_set": DELETE}}})),
        "platform keys",
    ),
    good("azure-vmss-disk-cmk", vmss, "disk encryption set"),
    bad(
        "azure-vmss-trusted-launch",
        lambda n: vmss(n, vm_profile(security_profile={"security_type": DELETE, "uefi_settings": DELETE})),
        "standard",
    ),
    good("azure-vmss-trusted-launch", vmss, "Trusted Launch"),
    bad(
        "azure-vmss-ssh-keys-only",
        lambda n: vmss(n, vm_profile(os_profile={"linux_configuration": {"disable_password_authentication": False}})),
        "passwords",
    ),
    good("azure-vmss-ssh-keys-only", vmss, "keys only"),
    bad(
        "azure-vmss-no-public-ip",
        lambda n: vmss(
            n,
            vm_profile(
                network_profile={
                    "network_interface_configurations": [
                        {
                            "name": "nic",
                            "ip_configurations": [{"name": "ip", "public_ip_address_configuration": {"name": "pip"}}],
                        }
                    ]
                }
            ),
        ),
        "public IP",
    ),
    good("azure-vmss-no-public-ip", vmss, "private"),
    bad(
        "azure-vmss-custom-data-no-secrets",
        lambda n: vmss(
            n,
            vm_profile(
                os_profile={
                    "custom_data": b64(
                        cloud_init(
                            extra="runcmd:\n  - export STORAGE=DefaultEndpointsProtocol=https;"
                            "AccountName=churn;AccountKey=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJabcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ==\n"
                        )
                    )
                }
            ),
        ),
        "storage key",
    ),
    good("azure-vmss-custom-data-no-secrets", vmss, "clean"),
    bad(
        "azure-vmss-image-digest",
        lambda n: vmss(n, vm_profile(os_profile={"custom_data": b64(cloud_init(ACR_TAGGED))})),
        "tag",
    ),
    good("azure-vmss-image-digest", vmss, "digest"),
    bad("azure-vmss-zones", lambda n: vmss(n, zones=["1"]), "one zone"),
    good("azure-vmss-zones", vmss, "three zones"),
    bad("azure-vmss-automatic-repairs", lambda n: vmss(n, automatic_repairs_policy=None), "off"),
    good("azure-vmss-automatic-repairs", vmss, "on"),
    bad("azure-autoscale-min-capacity-prod", lambda n: autoscale(n, minimum="1"), "one instance"),
    good("azure-autoscale-min-capacity-prod", autoscale, "three instances"),
    # Application Gateway and WAF
    bad(
        "azure-app-gateway-tls-policy",
        lambda n: app_gateway(n, ssl_policy={"policy_type": "Predefined", "policy_name": "AppGwSslPolicy20150501"}),
        "TLS 1.0 policy",
    ),
    bad("azure-app-gateway-tls-policy", lambda n: app_gateway(n, ssl_policy=None), "default"),
    good("azure-app-gateway-tls-policy", app_gateway, "AppGwSslPolicy20220101S"),
    good(
        "azure-app-gateway-tls-policy",
        lambda n: app_gateway(n, ssl_policy={"policy_type": "CustomV2", "min_protocol_version": "TLSv1_3"}),
        "CustomV2 TLS 1.3",
    ),
    bad("azure-app-gateway-https-listeners", lambda n: app_gateway(n, redirect_configurations=None), "HTTP served"),
    good("azure-app-gateway-https-listeners", app_gateway, "HTTP redirected"),
    bad(
        "azure-app-gateway-waf",
        lambda n: app_gateway(n, sku={"name": "Standard_v2", "tier": "Standard_v2"}, firewall_policy=None),
        "no WAF",
    ),
    good("azure-app-gateway-waf", app_gateway, "WAF_v2 with policy"),
    bad(
        "azure-waf-policy-prevention",
        lambda n: waf_policy(n, policy_settings={"state": "Enabled", "mode": "Detection"}),
        "detection",
    ),
    good("azure-waf-policy-prevention", waf_policy, "prevention"),
    bad("azure-app-gateway-zones", lambda n: app_gateway(n, zones=None), "zonal"),
    good("azure-app-gateway-zones", app_gateway, "three zones"),
    bad(
        "azure-app-gateway-no-public-frontend-prod",
        lambda n: app_gateway(
            n,
            frontend_ip_configurations=[
                {
                    "name": "public",
                    "public_ip_address": {"id": f"{RG_ID}/providers/Microsoft.Network/publicIPAddresses/p"},
                }
            ],
        ),
        "public frontend",
    ),
    good(
        "azure-app-gateway-no-public-frontend-prod",
        lambda n: app_gateway(
            n,
            frontend_ip_configurations=[
                {"name": "private", "subnet": {"id": SUBNET_ID}, "private_ip_allocation_method": "Static"}
            ],
        ),
        "private frontend",
    ),
    # AKS
    bad("azure-aks-private-cluster", lambda n: aks(n, api_server_access_profile=None), "public API"),
    good("azure-aks-private-cluster", aks, "private"),
    bad("azure-aks-local-accounts-disabled", lambda n: aks(n, disable_local_accounts=False), "local accounts"),
    good("azure-aks-local-accounts-disabled", aks, "Entra only"),
    bad("azure-aks-rbac", lambda n: aks(n, enable_rbac=False, aad_profile=None), "no RBAC"),
    good("azure-aks-rbac", aks, "Entra RBAC"),
    bad("azure-aks-kms-etcd", lambda n: aks(n, security_profile={"workload_identity": {"enabled": True}}), "no KMS"),
    good("azure-aks-kms-etcd", aks, "KMS"),
    bad("azure-aks-workload-identity", lambda n: aks(n, oidc_issuer_profile=None), "no OIDC issuer"),
    good("azure-aks-workload-identity", aks, "workload identity"),
    bad("azure-aks-zones", lambda n: aks(n, {"availability_zones": ["1"]}), "one zone"),
    good("azure-aks-zones", aks, "three zones"),
    bad("azure-aks-autoscaling-pools", lambda n: aks(n, {"enable_auto_scaling": False}), "fixed pool"),
    good("azure-aks-autoscaling-pools", aks, "autoscaling pool"),
    bad("azure-aks-no-node-public-ip", lambda n: aks(n, {"enable_node_public_ip": True}), "public nodes"),
    good("azure-aks-no-node-public-ip", aks, "private nodes"),
    bad("azure-aks-network-policy", lambda n: aks(n, network_profile={"network_plugin": "kubenet"}), "none"),
    good("azure-aks-network-policy", aks, "cilium"),
    bad("azure-aks-monitoring", lambda n: aks(n, addon_profiles=None), "off"),
    good("azure-aks-monitoring", aks, "Container Insights"),
    # Functions / App Service
    bad("azure-web-app-https-only", lambda n: web_app(n, https_only=False), "HTTP allowed"),
    good("azure-web-app-https-only", web_app, "HTTPS only"),
    bad("azure-web-app-min-tls", lambda n: web_app(n, {"min_tls_version": "1.0"}), "TLS 1.0"),
    good("azure-web-app-min-tls", web_app, "TLS 1.2"),
    bad("azure-web-app-ftps-disabled", lambda n: web_app(n, {"ftps_state": "AllAllowed"}), "FTP"),
    good("azure-web-app-ftps-disabled", web_app, "disabled"),
    bad("azure-web-app-managed-identity", lambda n: web_app(n, identity=None), "no identity"),
    good("azure-web-app-managed-identity", web_app, "system-assigned"),
    bad(
        "azure-web-app-no-plain-secrets",
        lambda n: web_app(
            n,
            {
                "app_settings": [
                    {"name": "STORAGE_CONNECTION_STRING", "value": "DefaultEndpointsProtocol=https;AccountName=x"}
                ]
            },
        ),
        "literal",
    ),
    good("azure-web-app-no-plain-secrets", web_app, "Key Vault reference"),
    good(
        "azure-web-app-no-plain-secrets",
        lambda n: web_app(
            n,
            {
                "app_settings": [
                    {"name": "AzureWebJobsStorage__credential", "value": "managedidentity"},
                    {
                        "name": "APPLICATIONINSIGHTS_CONNECTION_STRING",
                        "value": "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
                        "IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/",
                    },
                ]
            },
        ),
        "identity-based storage and an Application Insights connection string",
    ),
    bad(
        "azure-web-app-no-plain-secrets",
        lambda n: web_app(
            n,
            {
                "app_settings": [
                    {"name": "AzureWebJobsStorage__credential", "value": "AccountKey=c2VjcmV0"},
                    {
                        "name": "APPLICATIONINSIGHTS_CONNECTION_STRING",
                        "value": "InstrumentationKey=0;AccountKey=c2VjcmV0",
                    },
                ]
            },
        ),
        "account key beside identity settings",
    ),
    bad("azure-web-app-image-digest", lambda n: web_app(n, {"linux_fx_version": f"DOCKER|{ACR_TAGGED}"}), "tag"),
    good("azure-web-app-image-digest", web_app, "digest"),
    bad(
        "azure-app-service-plan-zone-redundant",
        lambda n: az.web.AppServicePlan(
            n, resource_group_name=RG, kind="elastic", sku={"name": "EP1", "tier": "ElasticPremium"}
        ),
        "single zone",
    ),
    good(
        "azure-app-service-plan-zone-redundant",
        lambda n: az.web.AppServicePlan(
            n,
            resource_group_name=RG,
            kind="elastic",
            sku={"name": "EP1", "tier": "ElasticPremium", "capacity": 3},
            zone_redundant=True,
        ),
        "zone redundant",
    ),
    # logs, roles, storage
    bad(
        "azure-log-analytics-retention",
        lambda n: az.operationalinsights.Workspace(
            n, resource_group_name=RG, retention_in_days=30, sku={"name": "PerGB2018"}
        ),
        "30 days in prod",
    ),
    good(
        "azure-log-analytics-retention",
        lambda n: az.operationalinsights.Workspace(
            n, resource_group_name=RG, retention_in_days=365, sku={"name": "PerGB2018"}
        ),
        "a year",
    ),
    bad(
        "azure-role-assignment-least-privilege",
        lambda n: role_assignment(n, "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"),
        "Owner",
    ),
    bad(
        "azure-role-assignment-least-privilege",
        lambda n: role_assignment(n, "b24988ac-6180-42a0-ab88-20f7382dd24c"),
        "Contributor",
    ),
    good(
        "azure-role-assignment-least-privilege",
        lambda n: role_assignment(n, "7f951dda-4ed3-4680-a7ca-43fe172d538d"),
        "AcrPull",
    ),
    bad(
        "azure-storage-account-hardening",
        lambda n: storage(n, minimum_tls_version="TLS1_0", allow_blob_public_access=True),
        "TLS 1.0, public",
    ),
    bad("azure-storage-account-hardening", lambda n: storage(n, enable_https_traffic_only=False), "HTTP"),
    good("azure-storage-account-hardening", storage, "hardened"),
    bad(
        "azure-storage-account-cmk",
        lambda n: storage(n, encryption={"key_source": "Microsoft.Storage"}),
        "Microsoft-managed",
    ),
    good("azure-storage-account-cmk", storage, "CMK"),
    # network security groups, disk encryption sets, Easy Auth, ML managed network, public IPs
    bad(
        "azure-nsg-no-internet-admin-ports",
        lambda n: nsg(n, source="Internet", ports=["20-25"]),
        "SSH from Internet in a port range",
    ),
    bad("azure-nsg-no-internet-admin-ports", lambda n: nsg(n, source="::/0", ports=["3389"]), "RDP from ::/0"),
    good("azure-nsg-no-internet-admin-ports", lambda n: nsg(n, source="10.0.0.0/8", ports=["22"]), "SSH from 10/8"),
    good("azure-nsg-no-internet-admin-ports", lambda n: nsg(n, source="Internet", ports=["443"]), "HTTPS"),
    bad(
        "azure-disk-encryption-set-cmk",
        lambda n: disk_encryption_set(n, rotation_to_latest_key_version_enabled=False),
        "pinned key version",
    ),
    good("azure-disk-encryption-set-cmk", disk_encryption_set, "CMK with rotation"),
    bad(
        "azure-easy-auth-rejects-anonymous",
        lambda n: az.app.ContainerAppsAuthConfig(
            n,
            resource_group_name=RG,
            container_app_name="churn",
            auth_config_name="current",
            platform={"enabled": True},
            global_validation={"unauthenticated_client_action": "AllowAnonymous"},
            identity_providers={"azure_active_directory": {"enabled": True, "registration": {"client_id": SUB}}},
        ),
        "anonymous, whole tenant",
    ),
    good(
        "azure-easy-auth-rejects-anonymous",
        lambda n: az.web.WebAppAuthSettingsV2(
            n,
            resource_group_name=RG,
            name="churn",
            platform={"enabled": True},
            global_validation={"unauthenticated_client_action": "Return401"},
            http_settings={"require_https": True},
            identity_providers={
                "azure_active_directory": {
                    "enabled": True,
                    "registration": {"client_id": SUB},
                    "validation": {"default_authorization_policy": {"allowed_principals": {"identities": [SUB]}}},
                }
            },
        ),
        "401 for anonymous, listed principals",
    ),
    bad(
        "azure-ml-workspace-managed-network",
        lambda n: ml_workspace(n, managed_network={"isolation_mode": "AllowInternetOutbound"}, v1_legacy_mode=True),
        "internet outbound, v1 legacy",
    ),
    good(
        "azure-ml-workspace-managed-network",
        lambda n: ml_workspace(n, managed_network={"isolation_mode": "AllowOnlyApprovedOutbound"}),
        "approved outbound only",
    ),
    bad(
        "azure-public-ip-zone-redundant",
        lambda n: az.network.PublicIPAddress(n, resource_group_name=RG, sku={"name": "Standard"}, zones=["1"]),
        "one zone",
    ),
    good(
        "azure-public-ip-zone-redundant",
        lambda n: az.network.PublicIPAddress(
            n, resource_group_name=RG, sku={"name": "Standard"}, zones=["1", "2", "3"]
        ),
        "zones 1-3",
    ),
    # stack joins
    bad("autoscaler-azure-vmss", lambda n: scaled(vmss, n, with_autoscale=False), "no autoscale"),
    good("autoscaler-azure-vmss", lambda n: scaled(vmss, n), "autoscale setting"),
    bad("autoscaler-azure-ml", lambda n: scaled(ml_deployment, n, with_autoscale=False), "no autoscale"),
    good("autoscaler-azure-ml", lambda n: scaled(ml_deployment, n), "autoscale setting"),
    # the serving image's gRPC listener stays off where the target forwards HTTP only
    bad("serving-grpc-closed-where-not-carried", container_app, "Container Apps: GRPC_PORT absent (8081)"),
    bad(
        "serving-grpc-closed-where-not-carried",
        lambda n: container_app(
            n, template={"containers": [{**APP_CONTAINER, "env": [{"name": "GRPC_PORT", "value": "8081"}]}]}
        ),
        "Container Apps: 8081",
    ),
    bad(
        "serving-grpc-closed-where-not-carried",
        lambda n: container_app(
            n, template={"containers": [{**APP_CONTAINER, "env": [{"name": "GRPC_PORT", "secret_ref": "db-password"}]}]}
        ),
        "Container Apps: from a secret the rule cannot read",
    ),
    good(
        "serving-grpc-closed-where-not-carried",
        lambda n: container_app(
            n, template={"containers": [{**APP_CONTAINER, "env": [{"name": "GRPC_PORT", "value": "0"}]}]}
        ),
        "Container Apps: 0",
    ),
    bad("serving-grpc-closed-where-not-carried", web_app, "Functions: GRPC_PORT absent (8081)"),
    bad(
        "serving-grpc-closed-where-not-carried",
        lambda n: web_app(n, site={"app_settings": [{"name": "GRPC_PORT", "value": "1"}]}),
        "Functions: 1",
    ),
    bad(
        "serving-grpc-closed-where-not-carried",
        lambda n: web_app(
            n,
            site={
                "app_settings": [
                    {
                        "name": "GRPC_PORT",
                        "value": "@Microsoft.KeyVault(SecretUri=https://churn-kv.vault.azure.net/secrets/g)",
                    }
                ]
            },
        ),
        "Functions: a Key Vault reference",
    ),
    good(
        "serving-grpc-closed-where-not-carried",
        lambda n: web_app(n, site={"app_settings": [{"name": "GRPC_PORT", "value": " 0"}]}),
        "Functions: ' 0'",
    ),
    bad("serving-grpc-closed-where-not-carried", ml_deployment, "Azure ML: GRPC_PORT absent (8081)"),
    bad(
        "serving-grpc-closed-where-not-carried",
        lambda n: ml_deployment(n, environment_variables={"GRPC_PORT": "8081"}),
        "Azure ML: 8081",
    ),
    good(
        "serving-grpc-closed-where-not-carried",
        lambda n: ml_deployment(n, environment_variables={"GRPC_PORT": "0", "LOG_LEVEL": "info"}),
        "Azure ML: 0",
    ),
    bad("serving-grpc-closed-where-not-carried", vmss, "VMSS: docker run without GRPC_PORT (8081)"),
    bad(
        "serving-grpc-closed-where-not-carried",
        lambda n: vmss(
            n,
            profile=vm_profile(
                os_profile={"custom_data": b64(serving_cloud_init(SECRETS_ENV, flags=SECRETS_FLAG, extra=WRITES_GRPC))}
            ),
        ),
        "VMSS: GRPC_PORT may come from a file written at boot",
    ),
    good(
        "serving-grpc-closed-where-not-carried",
        lambda n: vmss(
            n,
            profile=vm_profile(
                os_profile={"custom_data": b64(serving_cloud_init("PORT=8080\nGRPC_PORT=0\n", flags=SECRETS_FLAG))}
            ),
        ),
        "VMSS: env file 0, secrets file written at boot",
    ),
]
