"""ContainerAppService (`container`): the model server on Azure Container Apps in an internal, zone-redundant
workload-profile environment, pulling from ACR with its managed identity, with revision weights for canary."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import pulumi
import pulumi_azure_native as azure_native

from ..base import component_props
from ..spec import ModelService, Variant
from ..validation import SpecError, check_optional_str
from .alarms import CONTAINER_APP, error_and_latency_alerts
from .checks import (
    UUID,
    ServiceSpecError,
    acr_registry_of,
    refuse_accelerator,
    require_azure_secrets,
    require_no_artifact,
    require_private_or_vm,
)
from .foundation import Foundation
from .naming import dns_name
from .pattern import PatternArgs, component_options, foundation_for, provider_for_target
from .sizing import container_app_size

__all__ = ["CONTAINER_NAME", "ContainerAppService", "ContainerAppServiceArgs", "managed_environment"]

CONTAINER_NAME = "model-server"
ENVIRONMENT_DELEGATION = "Microsoft.App/environments"
WORKLOAD_PROFILE = "Consumption"
# Container Apps probe limits: failureThreshold 1-10, periodSeconds 1-240.
PROBE_MAX_FAILURES = 10
PROBE_MAX_PERIOD = 240


@dataclass(frozen=True, kw_only=True)
class EntraAuthArgs(PatternArgs):
    """Entra ID authentication (Easy Auth) for the Azure principals of ``exposure.allowed_principals``.

    entra_client_id: the application (client) id of the Entra app registration callers request tokens for;
        required when Azure principals are named. entra_tenant_id: its tenant (default: the deploying tenant).
    """

    entra_client_id: str | None = None
    entra_tenant_id: str | None = None

    def _check_entra(self) -> None:
        check_optional_str("entra_client_id", self.entra_client_id, pattern=UUID, description="an application id")
        check_optional_str("entra_tenant_id", self.entra_tenant_id, pattern=UUID, description="a tenant id")
        if self.principals and self.entra_client_id is None:
            raise SpecError(
                "entra_client_id",
                "is required to enforce exposure.allowed_principals: name the Entra app registration callers get "
                "tokens for (Easy Auth admits only the listed principals)",
            )
        if self.entra_client_id is not None and not self.principals:
            raise ServiceSpecError(
                "exposure.allowed_principals",
                "name the Azure principals (azure:<object id>) Entra ID admits; entra_client_id alone would admit "
                "every identity of the tenant",
            )
        for network in self.service.exposure.networks:
            if network.version != 4:
                raise ServiceSpecError(
                    "exposure.allowed_networks",
                    f"Azure ingress IP restrictions take IPv4 ranges only (got {network}); callers reach the "
                    "internal environment through the VNet",
                )


@dataclass(frozen=True, kw_only=True)
class ContainerAppServiceArgs(EntraAuthArgs):
    """Options of the container pattern (see components/azure/README.md).

    environment_id: run in your Container Apps environment; None creates an internal, zone-redundant one.
    """

    environment_id: str | None = None

    PATTERN: ClassVar[str] = "Container Apps target"
    GRPC_REFUSAL: ClassVar[str | None] = (
        "Container Apps ingress routes one target port per app: the serving image answers HTTP/1.1 on port and "
        "gRPC (h2c) on grpc_port, and additional port mappings are plain TCP without TLS, so gRPC cannot be "
        "carried end to end beside the HTTP routes"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        svc = self.service
        refuse_accelerator(svc, "the container pattern (Container Apps consumption)", "use the kubernetes pattern")
        require_no_artifact(
            svc, "the container pattern", "bake the model into the image, or use the ml_platform pattern"
        )
        require_azure_secrets(svc, "the container pattern")
        require_private_or_vm(svc, "the container pattern", "its environment is internal to the VNet")
        self.check_public(authenticator=True)
        self._check_entra()
        container_app_size(svc, "modelport:service.resources")
        if self.environment_id is not None:
            from .checks import arm_id

            arm_id("environment_id", self.environment_id, "Microsoft.App/managedEnvironments")

    def check_zones(self) -> None:
        svc = self.service
        if self.profile.name == "prod" and len(self.zone_names) >= 2 and svc.min_replicas < 3:
            raise ServiceSpecError(
                "scaling.min_replicas",
                f"a zone-redundant Container Apps environment in prod runs at least 3 replicas, one per zone "
                f"(got {svc.min_replicas})",
            )


def probes(service: ModelService, port: int) -> list[dict[str, Any]]:
    """Startup (covering ``startup_seconds``), readiness and liveness probes on the image's routes."""
    health = service.health
    period = min(PROBE_MAX_PERIOD, max(10, math.ceil(health.startup_seconds / PROBE_MAX_FAILURES)))
    failures = min(PROBE_MAX_FAILURES, math.ceil(health.startup_seconds / period))
    return [
        {
            "type": "Startup",
            "http_get": {"path": health.ready_path, "port": port},
            "period_seconds": period,
            "failure_threshold": failures,
            "timeout_seconds": 5,
        },
        {
            "type": "Readiness",
            "http_get": {"path": health.ready_path, "port": port},
            "period_seconds": 10,
            "failure_threshold": 3,
            "timeout_seconds": 5,
        },
        {
            "type": "Liveness",
            "http_get": {"path": health.live_path, "port": port},
            "period_seconds": 20,
            "failure_threshold": 3,
            "timeout_seconds": 5,
        },
    ]


def caller_restrictions(args: PatternArgs, foundation: Foundation) -> list[dict[str, Any]]:
    """Allow rules for ``exposure.allowed_networks``, or for the VNet modelport created when none are named."""
    networks = [str(n) for n in args.service.exposure.networks]
    if not networks and foundation.vnet is not None:
        networks = [args.vnet_cidr]
    return [
        {"name": f"allow-{i}", "ip_address_range": cidr, "action": "Allow", "description": "allowed network"}
        for i, cidr in enumerate(networks)
    ]


def managed_environment(
    name: str, args: PatternArgs, foundation: Foundation, parent: pulumi.Resource
) -> azure_native.app.ManagedEnvironment:
    """An internal workload-profile environment on the delegated subnet: zone redundant where the region has
    zones, peer traffic encrypted, logs through diagnostic settings to Log Analytics."""
    ctx = foundation.context
    environment = azure_native.app.ManagedEnvironment(
        f"{name}-env",
        resource_group_name=ctx.resource_group_name,
        location=ctx.location,
        workload_profiles=[{"name": WORKLOAD_PROFILE, "workload_profile_type": WORKLOAD_PROFILE}],
        vnet_configuration={"infrastructure_subnet_id": foundation.subnets.delegated, "internal": True},
        zone_redundant=len(args.zone_names) >= 2,
        public_network_access="Disabled",
        peer_traffic_configuration={"encryption": {"enabled": True}},
        peer_authentication={"mtls": {"enabled": True}},
        app_logs_configuration={"destination": "azure-monitor"},
        opts=pulumi.ResourceOptions(parent=parent),
    )
    foundation.diagnostics(f"{name}-env-diagnostics", environment.id, parent)
    return environment


def traffic_and_template_track(app_name: str, service: ModelService) -> tuple[Variant | None, list[dict[str, Any]]]:
    """The revision the template runs and the ingress traffic weights.

    One track: the latest revision takes 100%. Variants: the last variant is the new revision (its name is the
    revision suffix); every earlier variant is an existing revision ``<app>--<variant>`` from an earlier deploy.
    """
    if not service.variants:
        return None, [{"latest_revision": True, "weight": 100}]
    *earlier, newest = service.variants
    traffic = [{"revision_name": f"{app_name}--{v.name}", "weight": v.weight, "label": v.name} for v in earlier]
    traffic.append({"latest_revision": True, "weight": newest.weight, "label": newest.name})
    return newest, traffic


class ContainerAppService(pulumi.ComponentResource):
    """Container Apps environment and app, Easy Auth for named principals, alerts."""

    args_type = ContainerAppServiceArgs
    provider_for_target = staticmethod(provider_for_target)

    endpoint: pulumi.Output[str]
    identity: pulumi.Output[str]

    def __init__(self, name: str, args: ContainerAppServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(
            "modelport:azure:ContainerAppService", name, component_props(args), component_options(opts, args)
        )
        svc = args.service
        child = pulumi.ResourceOptions(parent=self)
        needs = {"delegation": ENVIRONMENT_DELEGATION} if args.environment_id is None else {}
        self.foundation = foundation_for(self, name, args, **needs)
        ctx = self.foundation.context
        if args.environment_id is not None:
            self.environment = None
            environment_id = pulumi.Output.from_input(args.environment_id)
        else:
            self.environment = managed_environment(name, args, self.foundation, self)
            environment_id = self.environment.id
        self.app_name = dns_name(name, 32, unique=False)
        newest, traffic = traffic_and_template_track(self.app_name, svc)
        image = svc.image_of(newest) if newest is not None else svc.image
        cpu, memory = container_app_size(svc, "modelport:service.resources")
        identity_id = self.foundation.identity.id
        secrets = require_azure_secrets(svc, "the container pattern")
        # PORT is the ingress target port (Container Apps sets none); GRPC_PORT is 0: the app's ingress cannot
        # carry gRPC (GRPC_REFUSAL).
        env = [{"name": k, "value": v} for k, v in svc.serving_env().items()]
        env += [{"name": k, "secret_ref": _secret_name(k)} for k, _ in secrets]
        registries = [
            {"server": f"{registry}.azurecr.io", "identity": identity_id}
            for registry in sorted({r for r in (acr_registry_of(image),) if r})
        ]
        scale_rule = (
            {"name": "http", "http": {"metadata": {"concurrentRequests": str(svc.scaling.target_concurrency)}}}
            if svc.scaling.target_concurrency
            else {
                "name": "cpu",
                "custom": {
                    "type": "cpu",
                    "metadata": {"type": "Utilization", "value": str(svc.scaling.target_cpu_percent)},
                },
            }
        )
        self.app = azure_native.app.ContainerApp(
            f"{name}-app",
            container_app_name=self.app_name,
            resource_group_name=ctx.resource_group_name,
            location=ctx.location,
            managed_environment_id=environment_id,
            workload_profile_name=WORKLOAD_PROFILE,
            identity={"type": "UserAssigned", "user_assigned_identities": [identity_id]},
            configuration={
                "active_revisions_mode": "Multiple",
                "ingress": {
                    "external": True,
                    "target_port": svc.port,
                    "transport": "http",
                    "allow_insecure": False,
                    "traffic": traffic,
                    "ip_security_restrictions": caller_restrictions(args, self.foundation),
                },
                "registries": registries,
                "secrets": [
                    {"name": _secret_name(k), "key_vault_url": s_uri, "identity": identity_id}
                    for k, s_uri in ((k, svc.secrets[k].reference) for k, _ in secrets)
                ],
            },
            template={
                "revision_suffix": newest.name if newest is not None else None,
                "containers": [
                    {
                        "name": CONTAINER_NAME,
                        "image": image,
                        "resources": {"cpu": cpu, "memory": memory},
                        "env": env,
                        "probes": probes(svc, svc.port),
                    }
                ],
                "scale": {
                    "min_replicas": svc.min_replicas,
                    "max_replicas": svc.scaling.max_replicas,
                    "rules": [scale_rule],
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=self.foundation.grants),
        )
        self.auth = self._entra_auth(name, args, ctx)
        self.alerts = error_and_latency_alerts(name, args, ctx, self.app.id, CONTAINER_APP, self)
        self.endpoint = self.app.configuration.apply(
            lambda c: f"https://{c.ingress.fqdn}" if c and c.ingress and c.ingress.fqdn else ""
        )
        self.identity = self.foundation.identity.id
        del child
        self.register_outputs({"endpoint": self.endpoint, "identity": self.identity, "app_id": self.app.id})

    def _entra_auth(
        self, name: str, args: ContainerAppServiceArgs, ctx: Any
    ) -> azure_native.app.ContainerAppsAuthConfig | None:
        if not args.principals:
            return None
        tenant = args.entra_tenant_id or ctx.tenant_id
        return azure_native.app.ContainerAppsAuthConfig(
            f"{name}-auth",
            auth_config_name="current",
            container_app_name=self.app.name,
            resource_group_name=ctx.resource_group_name,
            **entra_settings(args, tenant),
            opts=pulumi.ResourceOptions(parent=self),
        )


def entra_settings(args: EntraAuthArgs, tenant: pulumi.Input[str]) -> dict[str, Any]:
    """Easy Auth: every request needs an Entra ID token for the app registration, from a listed principal."""
    return {
        "platform": {"enabled": True},
        "global_validation": {"unauthenticated_client_action": "Return401"},
        "http_settings": {"require_https": True},
        "identity_providers": {
            "azure_active_directory": {
                "enabled": True,
                "registration": {
                    "client_id": args.entra_client_id,
                    "open_id_issuer": pulumi.Output.concat("https://login.microsoftonline.com/", tenant, "/v2.0"),
                },
                "validation": {
                    "allowed_audiences": [f"api://{args.entra_client_id}"],
                    "default_authorization_policy": {"allowed_principals": {"identities": list(args.principals)}},
                },
            }
        },
    }


def _secret_name(env_name: str) -> str:
    return env_name.lower().replace("_", "-")
