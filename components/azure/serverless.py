"""FunctionAppService (`serverless`): Azure Functions running the serving image as a custom handler (the derived
image of serving_image/Dockerfile.azure-functions), on Container Apps (native `functionapp` kind, scaled to zero by
default) or on a zone-redundant Elastic Premium plan. HTTPS only, TLS 1.2, FTPS off, managed identity for ACR and
storage, Key Vault references for secrets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import pulumi
import pulumi_azure_native as azure_native

from ..base import component_props
from ..spec import parse_image
from ..validation import SpecError, check_choice, check_int
from .alarms import WEB_APP, error_and_latency_alerts
from .checks import (
    ServiceSpecError,
    acr_registry_of,
    refuse_accelerator,
    require_azure_secrets,
    require_no_artifact,
    require_private_or_vm,
)
from .container import ENVIRONMENT_DELEGATION, EntraAuthArgs, managed_environment
from .foundation import key_vault_encryption, private_storage_account
from .iam import AzureContext, assign
from .naming import compact_name, dns_name
from .pattern import component_options, foundation_for, provider_for_target
from .sizing import container_app_size

__all__ = ["FunctionAppService", "FunctionAppServiceArgs"]

PATTERN = "the serverless pattern (Azure Functions)"
HOSTINGS = ("container-apps", "elastic-premium")
PLAN_SKUS = ("EP1", "EP2", "EP3")
PLAN_DELEGATION = "Microsoft.Web/serverFarms"
# The Functions host of the derived image listens here (Dockerfile.azure-functions: ASPNETCORE_URLS).
HOST_PORT = 8080
SITES_ZONE = "privatelink.azurewebsites.net"
BLOB_ZONE = "privatelink.blob.core.windows.net"
QUEUE_ZONE = "privatelink.queue.core.windows.net"
# A zone-redundant Elastic Premium plan runs at least this many instances.
ZONE_REDUNDANT_PLAN_MIN = 3


@dataclass(frozen=True, kw_only=True)
class FunctionAppServiceArgs(EntraAuthArgs):
    """Options of the serverless pattern (see components/azure/README.md).

    functions_image: the serving image built with the Functions host (serving_image/Dockerfile.azure-functions);
        required, because a Function App container must contain the host.
    hosting: container-apps (Functions on Container Apps, scale to zero) or elastic-premium (zone-redundant plan).
    min_instances: warm instances; None: 0 on Container Apps, the zone count on Elastic Premium.
    plan_sku: EP1, EP2 or EP3 (elastic-premium only).
    """

    functions_image: str | None = None
    hosting: str = "container-apps"
    min_instances: int | None = None
    plan_sku: str = "EP1"

    PATTERN: ClassVar[str] = "Function App"
    GRPC_REFUSAL: ClassVar[str | None] = (
        "Azure Functions forwards HTTP requests to the custom handler over HTTP/1.1 and has no gRPC trigger"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        svc = self.service
        refuse_accelerator(svc, PATTERN, "use the kubernetes or ml_platform pattern")
        require_no_artifact(svc, PATTERN, "bake the model into the functions image")
        require_azure_secrets(svc, PATTERN)
        require_private_or_vm(svc, PATTERN, "its Function App is reached only from the VNet")
        self.check_public(authenticator=True)
        self._check_entra()
        if self.functions_image is None:
            raise SpecError(
                "functions_image",
                "is required: build serving_image/Dockerfile.azure-functions (the serving image with the Functions "
                "host) and name it here, pinned by digest",
            )
        parse_image("functions_image", self.functions_image)
        if svc.variants:
            raise ServiceSpecError(
                "variants",
                "a Function App runs one image; split traffic with the container or ml_platform pattern",
            )
        check_choice("hosting", self.hosting, HOSTINGS)
        check_choice("plan_sku", self.plan_sku, PLAN_SKUS)
        if self.hosting == "container-apps":
            container_app_size(svc, "modelport:service.resources")
        if self.min_instances is not None:
            check_int("min_instances", self.min_instances, minimum=0, maximum=svc.scaling.max_replicas)

    def check_zones(self) -> None:
        if self.min_instances is not None and self.zone_redundant_plan and self.min_instances < ZONE_REDUNDANT_PLAN_MIN:
            raise SpecError(
                "min_instances",
                f"a zone-redundant Elastic Premium plan runs at least {ZONE_REDUNDANT_PLAN_MIN} instances "
                f"(got {self.min_instances})",
            )
        if self.hosting == "elastic-premium" and self.service.scaling.max_replicas < self.warm_instances:
            raise ServiceSpecError(
                "scaling.max_replicas", f"must be >= the plan's {self.warm_instances} warm instances"
            )

    def images(self) -> list[tuple[str, str]]:
        return [("functions_image", self.functions_image)] if self.functions_image else []

    @property
    def zone_redundant_plan(self) -> bool:
        return self.hosting == "elastic-premium" and len(self.zone_names) >= 2

    @property
    def warm_instances(self) -> int:
        if self.min_instances is not None:
            return self.min_instances
        if self.hosting == "container-apps":
            return 0
        return ZONE_REDUNDANT_PLAN_MIN if self.zone_redundant_plan else 1

    @property
    def delegation(self) -> str:
        return ENVIRONMENT_DELEGATION if self.hosting == "container-apps" else PLAN_DELEGATION


class FunctionAppService(pulumi.ComponentResource):
    """Function App (on Container Apps or Elastic Premium), its host storage, Application Insights, Easy Auth."""

    args_type = FunctionAppServiceArgs
    provider_for_target = staticmethod(provider_for_target)

    endpoint: pulumi.Output[str]
    identity: pulumi.Output[str]

    def __init__(self, name: str, args: FunctionAppServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(
            "modelport:azure:FunctionAppService", name, component_props(args), component_options(opts, args)
        )
        self._name = name
        svc = args.service
        self.foundation = foundation_for(self, name, args, delegation=args.delegation)
        foundation = self.foundation
        ctx = foundation.context
        identity = foundation.identity
        self.storage = self._host_storage(ctx, args)
        ready = [
            *foundation.grants,
            assign(
                ctx, f"{name}-host-storage", "Storage Blob Data Owner", self.storage.id, identity.principal_id, self
            ),
        ]
        self.app_insights = azure_native.applicationinsights.Component(
            f"{name}-appinsights",
            resource_group_name=ctx.resource_group_name,
            location=ctx.location,
            kind="web",
            application_type="web",
            ingestion_mode="LogAnalytics",
            workspace_resource_id=foundation.log_analytics_workspace_id,
            opts=pulumi.ResourceOptions(parent=self),
        )
        image = args.functions_image or ""
        settings = [
            {"name": "FUNCTIONS_EXTENSION_VERSION", "value": "~4"},
            {"name": "FUNCTIONS_WORKER_RUNTIME", "value": "custom"},
            {"name": "WEBSITES_PORT", "value": str(HOST_PORT)},
            {"name": "AzureWebJobsStorage__accountName", "value": self.storage.name},
            {"name": "AzureWebJobsStorage__credential", "value": "managedidentity"},
            {"name": "AzureWebJobsStorage__clientId", "value": identity.client_id},
            {"name": "APPLICATIONINSIGHTS_CONNECTION_STRING", "value": self.app_insights.connection_string},
            # The image listens on FUNCTIONS_CUSTOMHANDLER_PORT (which the host sets, and which wins over PORT).
            # The Functions host forwards HTTP only (GRPC_REFUSAL): serving_env's GRPC_PORT is 0.
            *({"name": k, "value": v} for k, v in svc.serving_env().items()),
            *(
                {"name": k, "value": f"@Microsoft.KeyVault(SecretUri={ref.reference})"}
                for k, ref in svc.secrets.items()
            ),
        ]
        site_config: dict[str, Any] = {
            "linux_fx_version": f"DOCKER|{image}",
            "app_settings": settings,
            "acr_use_managed_identity_creds": acr_registry_of(image) is not None,
            "acr_user_managed_identity_id": identity.client_id if acr_registry_of(image) else None,
            "min_tls_version": "1.2",
            "scm_min_tls_version": "1.2",
            "ftps_state": "Disabled",
            "remote_debugging_enabled": False,
            "http20_enabled": True,
            "health_check_path": svc.health.ready_path,
            "function_app_scale_limit": svc.scaling.max_replicas,
            "minimum_elastic_instance_count": args.warm_instances,
            "ip_security_restrictions": _restrictions(args, foundation),
            "ip_security_restrictions_default_action": "Deny",
            "scm_ip_security_restrictions_default_action": "Deny",
        }
        common: dict[str, Any] = {
            "resource_group_name": ctx.resource_group_name,
            "location": ctx.location,
            "https_only": True,
            "client_cert_enabled": False,
            "identity": {"type": "UserAssigned", "user_assigned_identities": [identity.id]},
            "key_vault_reference_identity": identity.id,
        }
        self.plan = None
        self.environment = None
        if args.hosting == "container-apps":
            self.environment = managed_environment(name, args, foundation, self)
            cpu, memory = container_app_size(svc, "modelport:service.resources")
            self.app = azure_native.web.WebApp(
                f"{name}-app",
                name=dns_name(f"{name}-func", 32),
                kind="functionapp,linux,container,azurecontainerapps",
                managed_environment_id=self.environment.id,
                resource_config={"cpu": cpu, "memory": memory},
                site_config=site_config,
                opts=pulumi.ResourceOptions(parent=self, depends_on=ready),
                **common,
            )
        else:
            self.plan = azure_native.web.AppServicePlan(
                f"{name}-plan",
                resource_group_name=ctx.resource_group_name,
                location=ctx.location,
                kind="elastic",
                reserved=True,
                sku={"name": args.plan_sku, "tier": "ElasticPremium", "capacity": max(1, args.warm_instances)},
                zone_redundant=args.zone_redundant_plan,
                maximum_elastic_worker_count=svc.scaling.max_replicas,
                opts=pulumi.ResourceOptions(parent=self),
            )
            site_config["vnet_route_all_enabled"] = True
            site_config["pre_warmed_instance_count"] = 1
            self.app = azure_native.web.WebApp(
                f"{name}-app",
                name=dns_name(f"{name}-func", 40),
                kind="functionapp,linux,container",
                server_farm_id=self.plan.id,
                reserved=True,
                virtual_network_subnet_id=foundation.subnets.delegated,
                public_network_access="Disabled",
                site_config=site_config,
                opts=pulumi.ResourceOptions(parent=self, depends_on=ready),
                **common,
            )
            foundation.private_endpoint("sites", self.app.id, "sites", (SITES_ZONE,), self)
        foundation.diagnostics(f"{name}-app-diagnostics", self.app.id, self)
        self.auth = self._entra_auth(name, args, ctx)
        self.alerts = error_and_latency_alerts(name, args, ctx, self.app.id, WEB_APP, self)
        self.endpoint = self.app.default_host_name.apply(lambda h: f"https://{h}")
        self.identity = identity.id
        self.register_outputs({"endpoint": self.endpoint, "identity": self.identity, "app_id": self.app.id})

    def _host_storage(self, ctx: AzureContext, args: FunctionAppServiceArgs) -> azure_native.storage.StorageAccount:
        """The Functions host's storage (keys, leases): identity access only, private, CMK where the key exists."""
        foundation, name = self.foundation, self._name
        encryption: dict[str, Any] = {"key_source": "Microsoft.Storage", "require_infrastructure_encryption": True}
        ready: list[pulumi.Resource] = list(foundation.grants)
        if foundation.key_id is not None:
            grant = foundation.grant_key(f"{name}-storage-key-user", foundation.identity.principal_id, self)
            ready += [grant] if grant is not None else []
            encryption = key_vault_encryption(foundation.key_id, foundation.identity.id)
        account = private_storage_account(
            f"{name}-storage",
            compact_name(f"{name}fn", 24),
            ctx,
            foundation.identity.id,
            args.zone_names,
            encryption,
            pulumi.ResourceOptions(parent=self, depends_on=ready),
        )
        foundation.private_endpoint("st-blob", account.id, "blob", (BLOB_ZONE,), self)
        foundation.private_endpoint("st-queue", account.id, "queue", (QUEUE_ZONE,), self)
        return account

    def _entra_auth(self, name: str, args: FunctionAppServiceArgs, ctx: AzureContext) -> Any:
        if not args.principals:
            return None
        from .container import entra_settings

        settings = entra_settings(args, args.entra_tenant_id or ctx.tenant_id)
        settings["global_validation"]["excluded_paths"] = [args.service.health.ready_path]
        return azure_native.web.WebAppAuthSettingsV2(
            f"{name}-auth",
            name=self.app.name,
            resource_group_name=ctx.resource_group_name,
            opts=pulumi.ResourceOptions(parent=self),
            **settings,
        )


def _restrictions(args: FunctionAppServiceArgs, foundation: Any) -> list[dict[str, Any]]:
    networks = [str(n) for n in args.service.exposure.networks]
    if not networks and foundation.vnet is not None:
        networks = [args.vnet_cidr]
    return [
        {"name": f"allow-{i}", "ip_address": cidr, "action": "Allow", "priority": 100 + i}
        for i, cidr in enumerate(networks)
    ]
