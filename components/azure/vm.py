"""VmssService (`vm`): the model server in Docker on a Flexible VM Scale Set over the zones (Trusted Launch,
encryption at host, CMK disks through a disk encryption set, SSH keys only, no public IP, automatic repairs on the
image's health route), behind an Application Gateway WAF_v2 (HTTPS only, AppGwSslPolicy20220101S, WAF in
Prevention mode), with Azure Monitor autoscale."""

from __future__ import annotations

import base64
import ipaddress
import math
import shlex
from dataclasses import dataclass
from typing import Any, ClassVar

import pulumi
import pulumi_azure_native as azure_native

from ..base import component_props
from ..validation import SpecError, check_int, check_str
from .alarms import APP_GATEWAY, error_and_latency_alerts
from .checks import (
    ServiceSpecError,
    acr_registry_of,
    key_vault_object,
    require_azure_secrets,
    require_no_artifact,
    vault_ids_by_name,
)
from .foundation import _carve
from .iam import AzureContext, assign
from .ml_platform import cpu_autoscale
from .naming import dns_name
from .pattern import PatternArgs, component_options, foundation_for, provider_for_target
from .sizing import check_vm_size, pick_vm_size

__all__ = ["VmssService", "VmssServiceArgs", "cloud_init"]

PATTERN = "the vm pattern (VM Scale Set)"
TLS_POLICY = "AppGwSslPolicy20220101S"
WAF_RULE_SET = ("Microsoft_DefaultRuleSet", "2.1")
SSH_KEY = r"(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]{60,} ?[^\n]*"
ADMIN_USER = r"[a-z_][a-z0-9_-]{0,31}"
IMAGE = {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest"}
RUN_AS = "10001:10001"
IMDS_TOKEN = "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01"
# The address the private frontend takes in the gateway subnet.
PRIVATE_FRONTEND_HOST = 10


@dataclass(frozen=True, kw_only=True)
class VmssServiceArgs(PatternArgs):
    """Options of the vm pattern (see components/azure/README.md).

    ssh_public_key: the administrator's OpenSSH public key (required; passwords are never enabled).
    admin_username: the administrator account.
    vm_size: a size with encryption at host and Trusted Launch; None fits ``resources``.
    gateway_min_capacity / gateway_max_capacity: Application Gateway autoscale bounds (instances).
    """

    ssh_public_key: str | None = None
    admin_username: str = "modelport"
    vm_size: str | None = None
    gateway_min_capacity: int | None = None
    gateway_max_capacity: int = 10

    PATTERN: ClassVar[str] = "Application Gateway"
    GRPC_REFUSAL: ClassVar[str | None] = (
        "Application Gateway v2 cannot proxy gRPC to its backends (HTTP/2 stops at the gateway, backends get HTTP/1.1)"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        svc = self.service
        require_no_artifact(svc, PATTERN, "bake the model into the image, or use the ml_platform pattern")
        require_azure_secrets(svc, PATTERN)
        if self.ssh_public_key is None:
            raise SpecError("ssh_public_key", "is required: the scale set allows SSH keys only, never passwords")
        check_str("ssh_public_key", self.ssh_public_key, pattern=SSH_KEY, description="an OpenSSH public key")
        check_str("admin_username", self.admin_username, pattern=ADMIN_USER, description="a Linux user name")
        if self.admin_username in ("root", "admin", "administrator"):
            raise SpecError("admin_username", f"{self.admin_username!r} is reserved by Azure")
        if self.vm_size is not None:
            check_vm_size("vm_size", self.vm_size)
        else:
            pick_vm_size(svc, "modelport:service.resources")
        if self.byo_network:
            raise SpecError(
                "workload_subnet_id",
                "the vm pattern creates the Application Gateway subnet in its own VNet; leave the network to modelport",
            )
        exposure = svc.exposure
        if self.principals:
            raise ServiceSpecError(
                "exposure.allowed_principals",
                "Application Gateway checks no Entra ID token, so Azure principals cannot be enforced on the vm "
                "pattern: use container, serverless or ml_platform, or remove them",
            )
        self.check_public(authenticator=False)
        if not exposure.certificate:
            raise ServiceSpecError(
                "exposure.certificate",
                "the Application Gateway listens on HTTPS only: name the Key Vault certificate "
                "(https://<vault>.vault.azure.net/secrets/<certificate name>)",
            )
        cert = key_vault_object("modelport:service.exposure.certificate", exposure.certificate)
        if cert.vault not in vault_ids_by_name("secret_vault_ids", self.secret_vault_ids):
            raise SpecError(
                "secret_vault_ids",
                f"name the ARM id of Key Vault {cert.vault} (exposure.certificate): the gateway's read access is "
                "scoped to that certificate",
            )
        if self.gateway_min_capacity is not None:
            check_int("gateway_min_capacity", self.gateway_min_capacity, minimum=0, maximum=125)
        check_int("gateway_max_capacity", self.gateway_max_capacity, minimum=2, maximum=125)
        if self.gateway_min_capacity is not None and self.gateway_min_capacity > self.gateway_max_capacity:
            raise SpecError("gateway_min_capacity", f"must be <= gateway_max_capacity ({self.gateway_max_capacity})")

    def check_zones(self) -> None:
        zones = max(1, len(self.zone_names))
        if self.profile.name == "prod" and self.service.min_replicas < zones:
            raise ServiceSpecError(
                "scaling.min_replicas",
                f"a prod scale set keeps at least one instance per zone ({zones}) (got {self.service.min_replicas})",
            )

    @property
    def size(self) -> str:
        return self.vm_size or pick_vm_size(self.service, "modelport:service.resources").name

    @property
    def gateway_minimum(self) -> int:
        if self.gateway_min_capacity is not None:
            return self.gateway_min_capacity
        return 2 if self.profile.name == "prod" else 1

    @property
    def private_frontend_ip(self) -> str:
        gateway = ipaddress.ip_network(_carve(self.vnet_cidr, 23)["gateway"])
        return str(gateway.network_address + PRIVATE_FRONTEND_HOST)

    def inbound_rules(self) -> dict[str, tuple[dict[str, Any], ...]]:
        """Gateway subnet: Azure's management ports and the callers on 443/80. Workload subnet: the gateway only."""
        exposure = self.service.exposure
        sources = [str(n) for n in exposure.networks] or (["Internet"] if exposure.public else ["VirtualNetwork"])
        gateway_cidr = _carve(self.vnet_cidr, 23)["gateway"]

        def rule(name: str, priority: int, ports: list[str], source: list[str] | str, protocol: str = "Tcp") -> dict:
            prefixes = (
                {"source_address_prefixes": source} if isinstance(source, list) else {"source_address_prefix": source}
            )
            return {
                "name": name,
                "priority": priority,
                "direction": "Inbound",
                "access": "Allow",
                "protocol": protocol,
                "source_port_range": "*",
                "destination_address_prefix": "*",
                "destination_port_ranges": ports,
                **prefixes,
            }

        return {
            "gateway": (
                rule("AllowGatewayManager", 100, ["65200-65535"], "GatewayManager"),
                rule("AllowAzureLoadBalancer", 110, ["*"], "AzureLoadBalancer", "*"),
                rule("AllowCallers", 200, ["443", "80"], sources if len(sources) > 1 else sources[0]),
            ),
            "workload": (rule("AllowGateway", 100, [str(self.service.port)], gateway_cidr),),
        }


def cloud_init(args: VmssServiceArgs, registry_host: str | None, client_id: str) -> str:
    """cloud-config that installs Docker, logs in to ACR with the managed identity, reads Key Vault secrets with it,
    and runs the pinned image read-only, non-root, with every capability dropped."""
    svc = args.service
    port = svc.port
    # The Application Gateway forwards HTTP only (GRPC_REFUSAL): the image's gRPC listener stays off.
    env_lines = "".join(f"      {k}={v}\n" for k, v in svc.serving_env().items())
    secret_fetch = "".join(
        "      vault_token=$(imds https://vault.azure.net)\n" if i == 0 else ""
        for i, _ in enumerate(list(svc.secrets)[:1])
    )
    for env_name, ref in svc.secrets.items():
        secret_fetch += (
            f'      printf \'%s=%s\\n\' {env_name} "$(curl -sf -H "Authorization: Bearer $vault_token" '
            f'{shlex.quote(ref.reference + "?api-version=7.4")} | jq -r .value)" >> /run/modelport/secrets.env\n'
        )
    login = (
        "      aad=$(imds https://management.azure.com/)\n"
        f"      acr=$(curl -sf -X POST https://{registry_host}/oauth2/exchange "
        f"--data-urlencode grant_type=access_token --data-urlencode service={registry_host} "
        '--data-urlencode "access_token=$aad" | jq -r .refresh_token)\n'
        f'      echo "$acr" | docker login {registry_host} -u 00000000-0000-0000-0000-000000000000 --password-stdin\n'
        if registry_host
        else ""
    )
    return f"""#cloud-config
package_update: true
packages: [docker.io, jq, curl]
write_files:
  - path: /etc/modelport/env
    permissions: "0644"
    content: |
{env_lines}  - path: /usr/local/bin/modelport-start
    permissions: "0755"
    content: |
      #!/bin/bash
      set -euo pipefail
      imds() {{ curl -sf -H Metadata:true "{IMDS_TOKEN}&client_id={client_id}&resource=$1" | jq -r .access_token; }}
      install -d -m 0700 /run/modelport
      : > /run/modelport/secrets.env
      chmod 0600 /run/modelport/secrets.env
{secret_fetch}{login}      docker pull {shlex.quote(svc.image)}
      docker rm -f model-server 2>/dev/null || true
      exec docker run --name model-server --rm --read-only --tmpfs /tmp --user {RUN_AS} --cap-drop ALL \\
        --security-opt no-new-privileges -p {port}:{port} --env-file /etc/modelport/env \\
        --env-file /run/modelport/secrets.env {shlex.quote(svc.image)}
  - path: /etc/systemd/system/modelport.service
    permissions: "0644"
    content: |
      [Unit]
      Description=modelport model server
      After=docker.service network-online.target
      Requires=docker.service
      [Service]
      ExecStart=/usr/local/bin/modelport-start
      Restart=always
      RestartSec=5
      [Install]
      WantedBy=multi-user.target
runcmd:
  - [systemctl, daemon-reload]
  - [systemctl, enable, --now, docker, modelport]
"""


class VmssService(pulumi.ComponentResource):
    """Disk encryption set, scale set, autoscale, WAF policy and Application Gateway, alerts."""

    args_type = VmssServiceArgs
    provider_for_target = staticmethod(provider_for_target)

    endpoint: pulumi.Output[str]
    identity: pulumi.Output[str]

    def __init__(self, name: str, args: VmssServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("modelport:azure:VmssService", name, component_props(args), component_options(opts, args))
        self._name = name
        self._args = args
        svc = args.service
        self.foundation = foundation_for(self, name, args, gateway_subnet=True, inbound_rules=args.inbound_rules())
        foundation = self.foundation
        ctx = foundation.context
        self.gateway_name = dns_name(f"{name}-agw", 80, unique=False)
        self.disk_encryption_set = self._disk_encryption(ctx)
        self.gateway = self._gateway(ctx)
        self.scale_set = self._scale_set(ctx)
        self.autoscale = cpu_autoscale(
            f"{name}-autoscale",
            ctx,
            self.scale_set.id,
            "Microsoft.Compute/virtualMachineScaleSets",
            "Percentage CPU",
            svc.min_replicas,
            svc.scaling.max_replicas,
            svc.scaling.target_cpu_percent,
            self,
        )
        foundation.diagnostics(f"{name}-agw-diagnostics", self.gateway.id, self)
        self.alerts = error_and_latency_alerts(name, args, ctx, self.gateway.id, APP_GATEWAY, self)
        host = svc.exposure.domain or (
            self.public_ip.ip_address if self.public_ip is not None else args.private_frontend_ip
        )
        self.endpoint = pulumi.Output.concat("https://", host)
        self.identity = foundation.identity.id
        self.register_outputs({"endpoint": self.endpoint, "identity": self.identity, "scale_set_id": self.scale_set.id})

    def _disk_encryption(self, ctx: AzureContext) -> azure_native.compute.DiskEncryptionSet | None:
        foundation, name = self.foundation, self._name
        if foundation.key_id is None:
            return None
        des_identity = azure_native.managedidentity.UserAssignedIdentity(
            f"{name}-des-identity",
            resource_group_name=ctx.resource_group_name,
            location=ctx.location,
            opts=pulumi.ResourceOptions(parent=self),
        )
        grant = foundation.grant_key(f"{name}-des-key-user", des_identity.principal_id, self)
        return azure_native.compute.DiskEncryptionSet(
            f"{name}-des",
            resource_group_name=ctx.resource_group_name,
            location=ctx.location,
            identity={"type": "UserAssigned", "user_assigned_identities": [des_identity.id]},
            encryption_type="EncryptionAtRestWithCustomerKey",
            active_key={"key_url": foundation.key_id, "source_vault": {"id": foundation.key_vault_id}},
            rotation_to_latest_key_version_enabled=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[grant] if grant else []),
        )

    def _sub(self, ctx: AzureContext, kind: str, child: str) -> pulumi.Output[str]:
        """The id of one of the gateway's own parts, which the gateway's definition references before it exists."""
        return pulumi.Output.concat(
            "/subscriptions/",
            ctx.subscription_id,
            "/resourceGroups/",
            ctx.resource_group_name,
            "/providers/Microsoft.Network/applicationGateways/",
            self.gateway_name,
            f"/{kind}/{child}",
        )

    def _gateway(self, ctx: AzureContext) -> azure_native.network.ApplicationGateway:
        args, svc, name, foundation = self._args, self._args.service, self._name, self.foundation
        exposure = svc.exposure
        zones = list(args.zone_names) or None
        gateway_identity = azure_native.managedidentity.UserAssignedIdentity(
            f"{name}-agw-identity",
            resource_group_name=ctx.resource_group_name,
            location=ctx.location,
            opts=pulumi.ResourceOptions(parent=self),
        )
        cert = key_vault_object("exposure.certificate", exposure.certificate)
        vault = vault_ids_by_name("secret_vault_ids", args.secret_vault_ids)[cert.vault]
        cert_grant = assign(
            ctx,
            f"{name}-agw-certificate",
            "Key Vault Secrets User",
            f"{vault.text}/secrets/{cert.name}",
            gateway_identity.principal_id,
            self,
        )
        custom_rules = []
        if exposure.public and exposure.allowed_networks:
            custom_rules.append(
                {
                    "name": "AllowOnlyAllowedNetworks",
                    "priority": 1,
                    "rule_type": "MatchRule",
                    "action": "Block",
                    "match_conditions": [
                        {
                            "match_variables": [{"variable_name": "RemoteAddr"}],
                            "operator": "IPMatch",
                            "negation_conditon": True,
                            "match_values": [str(n) for n in exposure.networks],
                        }
                    ],
                }
            )
        self.waf_policy = azure_native.network.WebApplicationFirewallPolicy(
            f"{name}-waf",
            resource_group_name=ctx.resource_group_name,
            location=ctx.location,
            policy_settings={
                "state": "Enabled",
                "mode": "Prevention",
                "request_body_check": True,
                "request_body_enforcement": True,
                "max_request_body_size_in_kb": 2000,
                "file_upload_limit_in_mb": 100,
            },
            managed_rules={
                "managed_rule_sets": [{"rule_set_type": WAF_RULE_SET[0], "rule_set_version": WAF_RULE_SET[1]}]
            },
            custom_rules=custom_rules,
            opts=pulumi.ResourceOptions(parent=self),
        )
        frontends: list[dict[str, Any]] = [
            {
                "name": "private",
                "subnet": {"id": foundation.subnets.gateway},
                "private_ip_allocation_method": "Static",
                "private_ip_address": args.private_frontend_ip,
            }
        ]
        self.public_ip = None
        listen_on = "private"
        if exposure.public:
            self.public_ip = azure_native.network.PublicIPAddress(
                f"{name}-agw-ip",
                resource_group_name=ctx.resource_group_name,
                location=ctx.location,
                sku={"name": "Standard", "tier": "Regional"},
                public_ip_allocation_method="Static",
                zones=zones,
                opts=pulumi.ResourceOptions(parent=self),
            )
            frontends.append({"name": "public", "public_ip_address": {"id": self.public_ip.id}})
            listen_on = "public"
        sub = lambda kind, child: {"id": self._sub(ctx, kind, child)}  # noqa: E731
        health = svc.health
        return azure_native.network.ApplicationGateway(
            f"{name}-agw",
            application_gateway_name=self.gateway_name,
            resource_group_name=ctx.resource_group_name,
            location=ctx.location,
            zones=zones,
            sku={"name": "WAF_v2", "tier": "WAF_v2"},
            autoscale_configuration={"min_capacity": args.gateway_minimum, "max_capacity": args.gateway_max_capacity},
            identity={"type": "UserAssigned", "user_assigned_identities": [gateway_identity.id]},
            enable_http2=True,
            gateway_ip_configurations=[{"name": "gateway", "subnet": {"id": foundation.subnets.gateway}}],
            frontend_ip_configurations=frontends,
            frontend_ports=[{"name": "https", "port": 443}, {"name": "http", "port": 80}],
            ssl_certificates=[{"name": "tls", "key_vault_secret_id": exposure.certificate}],
            ssl_policy={"policy_type": "Predefined", "policy_name": TLS_POLICY},
            firewall_policy={"id": self.waf_policy.id},
            backend_address_pools=[{"name": "scale-set"}],
            probes=[
                {
                    "name": "ready",
                    "protocol": "Http",
                    "host": "127.0.0.1",
                    "path": health.ready_path,
                    "interval": 10,
                    "timeout": 5,
                    "unhealthy_threshold": 3,
                    "match": {"status_codes": ["200-299"]},
                }
            ],
            backend_http_settings_collection=[
                {
                    "name": "model",
                    "port": svc.port,
                    "protocol": "Http",
                    "request_timeout": 60,
                    "cookie_based_affinity": "Disabled",
                    "probe": sub("probes", "ready"),
                }
            ],
            http_listeners=[
                {
                    "name": "https",
                    "frontend_ip_configuration": sub("frontendIPConfigurations", listen_on),
                    "frontend_port": sub("frontendPorts", "https"),
                    "protocol": "Https",
                    "ssl_certificate": sub("sslCertificates", "tls"),
                    "host_name": exposure.domain,
                },
                {
                    "name": "http",
                    "frontend_ip_configuration": sub("frontendIPConfigurations", listen_on),
                    "frontend_port": sub("frontendPorts", "http"),
                    "protocol": "Http",
                    "host_name": exposure.domain,
                },
            ],
            redirect_configurations=[
                {
                    "name": "http-to-https",
                    "redirect_type": "Permanent",
                    "target_listener": sub("httpListeners", "https"),
                    "include_path": True,
                    "include_query_string": True,
                }
            ],
            request_routing_rules=[
                {
                    "name": "https",
                    "rule_type": "Basic",
                    "priority": 100,
                    "http_listener": sub("httpListeners", "https"),
                    "backend_address_pool": sub("backendAddressPools", "scale-set"),
                    "backend_http_settings": sub("backendHttpSettingsCollection", "model"),
                },
                {
                    "name": "http-redirect",
                    "rule_type": "Basic",
                    "priority": 200,
                    "http_listener": sub("httpListeners", "http"),
                    "redirect_configuration": sub("redirectConfigurations", "http-to-https"),
                },
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cert_grant]),
        )

    def _scale_set(self, ctx: AzureContext) -> azure_native.compute.VirtualMachineScaleSet:
        args, svc, name, foundation = self._args, self._args.service, self._name, self.foundation
        zones = list(args.zone_names) or None
        registry = acr_registry_of(svc.image)
        registry_host = f"{registry}.azurecr.io" if registry else None
        custom_data = foundation.identity.client_id.apply(
            lambda client: base64.b64encode(cloud_init(args, registry_host, client).encode()).decode()
        )
        managed_disk: dict[str, Any] = {"storage_account_type": "Premium_LRS"}
        if self.disk_encryption_set is not None:
            managed_disk["disk_encryption_set"] = {"id": self.disk_encryption_set.id}
        grace = max(10, math.ceil(svc.health.startup_seconds / 60) + 5)
        return azure_native.compute.VirtualMachineScaleSet(
            f"{name}-vmss",
            resource_group_name=ctx.resource_group_name,
            location=ctx.location,
            orchestration_mode="Flexible",
            platform_fault_domain_count=1,
            single_placement_group=False,
            zones=zones,
            zone_balance=bool(zones and len(zones) > 1),
            sku={"name": args.size, "tier": "Standard", "capacity": svc.min_replicas},
            identity={"type": "UserAssigned", "user_assigned_identities": [foundation.identity.id]},
            automatic_repairs_policy={"enabled": True, "grace_period": f"PT{grace}M", "repair_action": "Replace"},
            upgrade_policy={
                "mode": "Rolling",
                "rolling_upgrade_policy": {
                    "max_batch_instance_percent": 34,
                    "max_unhealthy_instance_percent": 34,
                    "max_unhealthy_upgraded_instance_percent": 0,
                    "pause_time_between_batches": "PT30S",
                    "prioritize_unhealthy_instances": True,
                },
            },
            scale_in_policy={"rules": ["Default"], "force_deletion": False},
            virtual_machine_profile={
                "os_profile": {
                    "computer_name_prefix": dns_name(svc.name, 9, unique=False),
                    "admin_username": args.admin_username,
                    "custom_data": custom_data,
                    "linux_configuration": {
                        "disable_password_authentication": True,
                        "provision_vm_agent": True,
                        "ssh": {
                            "public_keys": [
                                {
                                    "path": f"/home/{args.admin_username}/.ssh/authorized_keys",
                                    "key_data": args.ssh_public_key,
                                }
                            ]
                        },
                        "patch_settings": {
                            "patch_mode": "AutomaticByPlatform",
                            "assessment_mode": "AutomaticByPlatform",
                        },
                    },
                },
                "storage_profile": {
                    "image_reference": IMAGE,
                    "os_disk": {
                        "create_option": "FromImage",
                        "caching": "ReadWrite",
                        "delete_option": "Delete",
                        "managed_disk": managed_disk,
                    },
                },
                "security_profile": {
                    "encryption_at_host": True,
                    "security_type": "TrustedLaunch",
                    "uefi_settings": {"secure_boot_enabled": True, "v_tpm_enabled": True},
                },
                "network_profile": {
                    "network_api_version": "2020-11-01",
                    "network_interface_configurations": [
                        {
                            "name": "nic",
                            "primary": True,
                            "enable_accelerated_networking": True,
                            "delete_option": "Delete",
                            "ip_configurations": [
                                {
                                    "name": "ipconfig",
                                    "primary": True,
                                    "subnet": {"id": foundation.subnets.workload},
                                    "application_gateway_backend_address_pools": [
                                        {"id": self.gateway.id.apply(lambda i: f"{i}/backendAddressPools/scale-set")}
                                    ],
                                }
                            ],
                        }
                    ],
                },
                "extension_profile": {
                    "extensions": [
                        {
                            "name": "ApplicationHealth",
                            "publisher": "Microsoft.ManagedServices",
                            "type": "ApplicationHealthLinux",
                            "type_handler_version": "2.0",
                            "auto_upgrade_minor_version": True,
                            "settings": {
                                "protocol": "http",
                                "port": svc.port,
                                "requestPath": svc.health.ready_path,
                                "intervalInSeconds": 10,
                                "numberOfProbes": 3,
                                "gracePeriod": min(svc.health.startup_seconds, 14400),
                            },
                        }
                    ]
                },
                "diagnostics_profile": {"boot_diagnostics": {"enabled": True}},
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=foundation.grants),
        )
