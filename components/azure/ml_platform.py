"""AzureMlEndpoint (`ml_platform`): an Azure ML workspace (private, managed VNet allowing only approved outbound,
CMK), the serving image as an environment version, a private online endpoint with Entra ID token auth, one
managed deployment per weighted track with autoscale, and scoring access for the named principals only."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

import pulumi
import pulumi_azure_native as azure_native
import pulumi_azure_native.machinelearningservices as ml

from ..base import component_props
from ..validation import SpecError, check_int, check_optional_str
from .alarms import ML_ENDPOINT, error_and_latency_alerts
from .checks import ServiceSpecError, arm_id, blob_artifact, refuse_other_cloud_artifact, require_private_or_vm
from .foundation import key_vault_encryption, private_storage_account
from .iam import AzureContext, assign
from .naming import compact_name, digest, dns_name
from .pattern import PatternArgs, component_options, foundation_for, provider_for_target
from .sizing import ML_INSTANCES, pick_ml_instance

__all__ = ["AzureMlEndpoint", "AzureMlEndpointArgs"]

PATTERN = "the ml_platform pattern (Azure ML)"
ML_REGISTRY_MODEL = re.compile(r"azureml://registries/[\w-]+/models/[\w.-]+/versions/[\w.-]+")
ML_DATASTORE_PATH = re.compile(
    r"azureml://(subscriptions/[^/]+/resourcegroups/[^/]+/workspaces/[^/]+/)?datastores/[\w]+/paths/\S+"
)
# The online endpoint API version the traffic deployment template writes with.
ENDPOINT_API = "2024-10-01"
REQUEST_TIMEOUT_MAX_MS = 180_000
WORKSPACE_ZONES = ("privatelink.api.azureml.ms", "privatelink.notebooks.azure.net")


@dataclass(frozen=True, kw_only=True)
class AzureMlEndpointArgs(PatternArgs):
    """Options of the ml_platform pattern (see components/azure/README.md).

    ml_instance_type: the instance type of every deployment; None picks the smallest that fits ``resources``.
    request_timeout_ms: how long a scoring request may take (Azure ML allows up to 180000).
    max_concurrent_requests: requests one instance takes at once; None uses scaling.target_concurrency or 1.
    artifact_storage_account_id: the storage account of a Blob ``model.artifact_uri`` (its container is the
        Storage Blob Data Reader scope).
    """

    ml_instance_type: str | None = None
    request_timeout_ms: int = 5000
    max_concurrent_requests: int | None = None
    artifact_storage_account_id: str | None = None

    PATTERN: ClassVar[str] = "Azure ML online endpoint"
    GRPC_REFUSAL: ClassVar[str | None] = (
        "Azure ML managed online endpoints forward HTTP/1.1 scoring requests to one scoring route; they have no "
        "gRPC or HTTP/2 passthrough"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        svc = self.service
        refuse_other_cloud_artifact(svc, PATTERN)
        require_private_or_vm(svc, PATTERN, "its endpoint and workspace have public network access disabled")
        if svc.exposure.allowed_networks:
            raise ServiceSpecError(
                "exposure.allowed_networks",
                "an Azure ML online endpoint with public access disabled is reached only through the workspace's "
                "private endpoint and has no IP allow list; control access with allowed_principals (Entra ID)",
            )
        if not self.customer_managed_key:
            raise SpecError(
                "encryption",
                "Azure ML workspaces here are always encrypted with a customer-managed key (set at creation, never "
                "changeable): keep customer-managed",
            )
        if self.ml_instance_type is not None:
            check_optional_str("ml_instance_type", self.ml_instance_type, pattern=r"Standard_[A-Za-z0-9_]+")
            if self.ml_instance_type not in ML_INSTANCES:
                raise SpecError(
                    "ml_instance_type", f"must be one of {', '.join(ML_INSTANCES)} (got {self.ml_instance_type!r})"
                )
        else:
            pick_ml_instance(svc, "modelport:service.resources")
        check_int("request_timeout_ms", self.request_timeout_ms, minimum=1000, maximum=REQUEST_TIMEOUT_MAX_MS)
        if self.max_concurrent_requests is not None:
            check_int("max_concurrent_requests", self.max_concurrent_requests, minimum=1, maximum=1000)
        uri = svc.model.artifact_uri if svc.model else None
        known_ml_uri = uri is not None and (ML_REGISTRY_MODEL.fullmatch(uri) or ML_DATASTORE_PATH.fullmatch(uri))
        if uri is not None and uri.startswith("azureml://") and not known_ml_uri:
            raise ServiceSpecError(
                "model.artifact_uri",
                "must be an Azure ML registry model (azureml://registries/<r>/models/<m>/versions/<v>) or a "
                f"datastore path (azureml://datastores/<d>/paths/<p>) (got {uri!r})",
            )
        blob = blob_artifact(svc)
        if blob is not None:
            if self.artifact_storage_account_id is None:
                raise SpecError(
                    "artifact_storage_account_id",
                    f"is required for the Blob artifact in account {blob.account}: the deployment's read access is "
                    "scoped to its container",
                )
            account = arm_id(
                "artifact_storage_account_id", self.artifact_storage_account_id, "Microsoft.Storage/storageAccounts"
            )
            if account.name.lower() != blob.account:
                raise SpecError(
                    "artifact_storage_account_id",
                    f"names account {account.name}, but model.artifact_uri is in account {blob.account}",
                )
        elif self.artifact_storage_account_id is not None:
            raise SpecError("artifact_storage_account_id", "applies only to a Blob Storage model.artifact_uri")

    @property
    def instance_type(self) -> str:
        return self.ml_instance_type or pick_ml_instance(self.service, "modelport:service.resources").name


class AzureMlEndpoint(pulumi.ComponentResource):
    """Workspace with its storage and Application Insights, environment versions, endpoint, deployments, autoscale."""

    args_type = AzureMlEndpointArgs
    provider_for_target = staticmethod(provider_for_target)

    endpoint: pulumi.Output[str]
    identity: pulumi.Output[str]

    def __init__(self, name: str, args: AzureMlEndpointArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("modelport:azure:AzureMlEndpoint", name, component_props(args), component_options(opts, args))
        self._name = name
        self._args = args
        svc = args.service
        self.foundation = foundation_for(self, name, args)
        foundation = self.foundation
        ctx = foundation.context
        if foundation.key_vault_id is None:
            raise SpecError("encryption", "the workspace needs the foundation's customer-managed key")
        identity = foundation.identity
        # The workspace's identity is the workload identity: it wraps data with the key and reads the workspace's
        # dependent resources; the endpoint runs as the same identity.
        ready = [*foundation.grants]
        key_grant = foundation.grant_key(f"{name}-ml-key-user", identity.principal_id, self)
        if key_grant is not None:
            ready.append(key_grant)
        self.storage = self._storage(ctx, ready)
        ready += self._workspace_grants(ctx)
        self.app_insights = azure_native.applicationinsights.Component(
            f"{name}-appinsights",
            resource_group_name=ctx.resource_group_name,
            location=ctx.location,
            kind="web",
            application_type="web",
            ingestion_mode="LogAnalytics",
            workspace_resource_id=foundation.log_analytics_workspace_id,
            retention_in_days=args.retention_days if args.retention_days <= 730 else 730,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.workspace = azure_native.machinelearningservices.Workspace(
            f"{name}-workspace",
            workspace_name=dns_name(f"{name}-mlw", 33),
            resource_group_name=ctx.resource_group_name,
            location=ctx.location,
            kind="Default",
            sku={"name": "Basic", "tier": "Basic"},
            identity={"type": "UserAssigned", "user_assigned_identities": [identity.id]},
            primary_user_assigned_identity=identity.id,
            storage_account=self.storage.id,
            key_vault=foundation.key_vault_id,
            application_insights=self.app_insights.id,
            container_registry=foundation.registry_id,
            public_network_access="Disabled",
            managed_network={"isolation_mode": "AllowOnlyApprovedOutbound"},
            v1_legacy_mode=False,
            system_datastores_auth_mode="identity",
            hbi_workspace=True,
            encryption={
                "status": "Enabled",
                "identity": {"user_assigned_identity": identity.id},
                "key_vault_properties": {
                    "key_identifier": foundation.key_id,
                    "key_vault_arm_id": foundation.key_vault_id,
                    "identity_client_id": identity.client_id,
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=ready),
        )
        foundation.diagnostics(f"{name}-workspace-diagnostics", self.workspace.id, self)
        # Scoring reaches the private endpoint's workspace through this private endpoint (and its DNS zones).
        self.workspace_endpoint = foundation.private_endpoint(
            "mlw", self.workspace.id, "amlworkspace", WORKSPACE_ZONES, self
        )
        self.environments = self._environments(ctx)
        self.model_id = self._model(ctx)
        self.online_endpoint = azure_native.machinelearningservices.OnlineEndpoint(
            f"{name}-endpoint",
            endpoint_name=dns_name(f"{svc.name}-ep", 32),
            workspace_name=self.workspace.name,
            resource_group_name=ctx.resource_group_name,
            location=ctx.location,
            kind="Managed",
            identity={"type": "UserAssigned", "user_assigned_identities": [identity.id]},
            properties={"auth_mode": "AADToken", "public_network_access": "Disabled"},
            # Traffic names deployments, which need the endpoint first: the traffic deployment below sets it.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["properties.traffic"]),
        )
        foundation.diagnostics(f"{name}-endpoint-diagnostics", self.online_endpoint.id, self)
        self.deployments = self._deployments(ctx)
        self.autoscale = [self._autoscale(ctx, track, dep) for track, dep in self.deployments.items()]
        self.traffic = self._traffic(ctx)
        self.scoring_access = [
            assign(
                ctx,
                f"{name}-scorer-{i}",
                "AzureML Data Scientist",
                self.online_endpoint.id,
                principal,
                self,
                principal_type=None,
            )
            for i, principal in enumerate(args.principals)
        ]
        self.alerts = error_and_latency_alerts(name, args, ctx, self.online_endpoint.id, ML_ENDPOINT, self)
        self.endpoint = self.online_endpoint.properties.apply(lambda p: p.scoring_uri or "")
        self.identity = identity.id
        self.register_outputs({"endpoint": self.endpoint, "identity": self.identity, "workspace_id": self.workspace.id})

    # --- workspace dependencies ----------------------------------------------------------------------------

    def _storage(self, ctx: AzureContext, ready: list[pulumi.Resource]) -> azure_native.storage.StorageAccount:
        args, name, foundation = self._args, self._name, self.foundation
        return private_storage_account(
            f"{name}-storage",
            compact_name(f"{name}st", 24),
            ctx,
            foundation.identity.id,
            args.zone_names,
            {
                **key_vault_encryption(foundation.key_id, foundation.identity.id),  # type: ignore[arg-type]
                "services": {
                    "blob": {"enabled": True, "key_type": "Account"},
                    "file": {"enabled": True, "key_type": "Account"},
                },
            },
            pulumi.ResourceOptions(parent=self, depends_on=ready),
        )

    def _workspace_grants(self, ctx: AzureContext) -> list[pulumi.Resource]:
        """What a workspace with a user-assigned identity needs, each on its exact resource."""
        name, foundation, principal = self._name, self.foundation, self.foundation.identity.principal_id
        grants = [
            assign(ctx, f"{name}-ml-blob", "Storage Blob Data Contributor", self.storage.id, principal, self),
            assign(
                ctx, f"{name}-ml-files", "Storage File Data Privileged Contributor", self.storage.id, principal, self
            ),
            assign(ctx, f"{name}-ml-secrets", "Key Vault Secrets Officer", foundation.key_vault_id, principal, self),  # type: ignore[arg-type]
        ]
        approver = "Azure AI Enterprise Network Connection Approver"
        targets = [("storage", self.storage.id), ("kv", foundation.key_vault_id)]
        if foundation.registry_id is not None:
            targets.append(("acr", foundation.registry_id))
        grants += [assign(ctx, f"{name}-ml-pe-{key}", approver, scope, principal, self) for key, scope in targets]  # type: ignore[arg-type]
        blob = blob_artifact(self._args.service)
        if blob is not None:
            scope = f"{self._args.artifact_storage_account_id}/blobServices/default/containers/{blob.container}"
            grants.append(assign(ctx, f"{name}-artifact-reader", "Storage Blob Data Reader", scope, principal, self))
        return grants

    # --- environment and model ------------------------------------------------------------------------------

    def _environments(self, ctx: AzureContext) -> dict[str, azure_native.machinelearningservices.EnvironmentVersion]:
        """One environment version per distinct image; versions are immutable, so the version is the image's hash."""
        svc, name = self._args.service, self._name
        model = svc.model.name if svc.model else svc.name
        routes = {
            "liveness_route": {"path": svc.health.live_path, "port": svc.port},
            "readiness_route": {"path": svc.health.ready_path, "port": svc.port},
            "scoring_route": {"path": f"/v2/models/{model}/infer", "port": svc.port},
        }
        found: dict[str, azure_native.machinelearningservices.EnvironmentVersion] = {}
        for image in dict.fromkeys(svc.image_of(t) for t in svc.tracks):
            version = digest(image, length=12)
            found[image] = azure_native.machinelearningservices.EnvironmentVersion(
                f"{name}-env-{version}",
                name=f"{svc.name}-serving",
                version=version,
                workspace_name=self.workspace.name,
                resource_group_name=ctx.resource_group_name,
                properties={
                    "image": image,
                    "os_type": "Linux",
                    "auto_rebuild": "Disabled",
                    "inference_config": routes,
                    "description": f"modelport serving image for {svc.name}",
                },
                opts=pulumi.ResourceOptions(parent=self),
            )
        return found

    def _model(self, ctx: AzureContext) -> pulumi.Input[str] | None:
        svc = self._args.service
        uri = svc.model.artifact_uri if svc.model else None
        if uri is None:
            return None
        if ML_REGISTRY_MODEL.fullmatch(uri):
            return uri
        version = azure_native.machinelearningservices.ModelVersion(
            f"{self._name}-model",
            name=svc.model.name if svc.model else svc.name,
            version=digest(uri, length=12),
            workspace_name=self.workspace.name,
            resource_group_name=ctx.resource_group_name,
            properties={"model_uri": uri, "model_type": "custom_model"},
            opts=pulumi.ResourceOptions(parent=self),
        )
        return version.id

    # --- deployments, autoscale, traffic -------------------------------------------------------------------

    def _deployments(self, ctx: AzureContext) -> dict[str, azure_native.machinelearningservices.OnlineDeployment]:
        args, svc, name = self._args, self._args.service, self._name
        health = svc.health
        concurrency = args.max_concurrent_requests or svc.scaling.target_concurrency or 1
        deployments = {}
        for track in svc.tracks:
            deployments[track.name] = azure_native.machinelearningservices.OnlineDeployment(
                f"{name}-{track.name}",
                deployment_name=track.name,
                endpoint_name=self.online_endpoint.name,
                workspace_name=self.workspace.name,
                resource_group_name=ctx.resource_group_name,
                location=ctx.location,
                kind="Managed",
                sku={"name": "Default", "capacity": svc.min_replicas},
                # A typed args object: the properties are a union (managed or Kubernetes), which a plain dict
                # would send with its Python key names.
                properties=ml.ManagedOnlineDeploymentArgs(
                    endpoint_compute_type="Managed",
                    environment_id=self.environments[svc.image_of(track)].id,
                    model=self.model_id,
                    instance_type=args.instance_type,
                    app_insights_enabled=True,
                    # Ignored under the workspace's managed network, which already allows only approved outbound.
                    egress_public_network_access="Disabled",
                    # The port, model and signature the environment's routes name; the endpoint forwards HTTP
                    # only (GRPC_REFUSAL), so serving_env's GRPC_PORT is 0.
                    environment_variables=svc.serving_env(),
                    startup_probe=_probe(10, max(1, health.startup_seconds // 10), health.startup_seconds),
                    readiness_probe=_probe(10, 3),
                    liveness_probe=_probe(20, 3),
                    request_settings=ml.OnlineRequestSettingsArgs(
                        max_concurrent_requests_per_instance=concurrency,
                        request_timeout=f"PT{args.request_timeout_ms / 1000:g}S",
                    ),
                    scale_settings=ml.DefaultScaleSettingsArgs(scale_type="Default"),
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
        return deployments

    def _autoscale(
        self, ctx: AzureContext, track: str, deployment: azure_native.machinelearningservices.OnlineDeployment
    ) -> azure_native.monitor.AutoscaleSetting:
        svc = self._args.service
        return cpu_autoscale(
            f"{self._name}-{track}-autoscale",
            ctx,
            deployment.id,
            "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments",
            "CpuUtilizationPercentage",
            svc.min_replicas,
            svc.scaling.max_replicas,
            svc.scaling.target_cpu_percent,
            self,
        )

    def _traffic(self, ctx: AzureContext) -> azure_native.resources.Deployment:
        """The endpoint's traffic split, written once the deployments exist (an ARM incremental deployment that
        updates the endpoint in place: the endpoint resource cannot name deployments created after it)."""
        svc = self._args.service
        traffic = {t.name: t.weight for t in svc.tracks}
        template = pulumi.Output.all(
            self.workspace.name, self.online_endpoint.name, self.foundation.identity.id, ctx.location
        ).apply(
            lambda v: {
                "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
                "contentVersion": "1.0.0.0",
                "resources": [
                    {
                        "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
                        "apiVersion": ENDPOINT_API,
                        "name": f"{v[0]}/{v[1]}",
                        "location": v[3],
                        "kind": "Managed",
                        "identity": {"type": "UserAssigned", "userAssignedIdentities": {v[2]: {}}},
                        "properties": {"authMode": "AADToken", "publicNetworkAccess": "Disabled", "traffic": traffic},
                    }
                ],
            }
        )
        return azure_native.resources.Deployment(
            f"{self._name}-traffic",
            resource_group_name=ctx.resource_group_name,
            properties={"mode": "Incremental", "template": template},
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(self.deployments.values())),
        )


def _probe(period: int, failures: int, initial: int | None = None) -> Any:
    return ml.ProbeSettingsArgs(
        period=f"PT{period}S",
        failure_threshold=failures,
        timeout="PT5S",
        initial_delay=f"PT{min(initial, 10) if initial else 10}S",
        success_threshold=1,
    )


def cpu_autoscale(
    name: str,
    ctx: AzureContext,
    target: pulumi.Input[str],
    metric_namespace: str,
    metric: str,
    minimum: int,
    maximum: int,
    target_percent: int,
    parent: pulumi.Resource,
) -> azure_native.monitor.AutoscaleSetting:
    """Azure Monitor autoscale on average CPU: out above the target, in well below it, between the bounds."""

    def rule(direction: str, operator: str, threshold: int, cooldown: str) -> dict[str, Any]:
        return {
            "metric_trigger": {
                "metric_name": metric,
                "metric_namespace": metric_namespace,
                "metric_resource_uri": target,
                "time_grain": "PT1M",
                "statistic": "Average",
                "time_window": "PT5M",
                "time_aggregation": "Average",
                "operator": operator,
                "threshold": threshold,
            },
            "scale_action": {"direction": direction, "type": "ChangeCount", "value": "1", "cooldown": cooldown},
        }

    return azure_native.monitor.AutoscaleSetting(
        name,
        resource_group_name=ctx.resource_group_name,
        location=ctx.location,
        target_resource_uri=target,
        enabled=True,
        profiles=[
            {
                "name": "cpu",
                "capacity": {"minimum": str(minimum), "maximum": str(maximum), "default": str(minimum)},
                "rules": [
                    rule("Increase", "GreaterThan", target_percent, "PT5M"),
                    rule("Decrease", "LessThan", max(5, target_percent // 2), "PT10M"),
                ],
            }
        ],
        opts=pulumi.ResourceOptions(parent=parent),
    )


__all__ += ["cpu_autoscale"]
