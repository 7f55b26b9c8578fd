"""VertexEndpoint (`ml_platform`): a Vertex AI endpoint (CMEK, Private Service Connect by default, request-response
logging) with the serving image uploaded as a model and deployed per track on dedicated, autoscaled replicas
through a dynamic provider (google-cloud-aiplatform), and predict-only access for the named GCP principals."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import pulumi
import pulumi_gcp as gcp

from ..base import component_props
from ..validation import SpecError, check_choice, check_number, check_optional_str, check_str
from .alarms import MetricSource, alert_policies
from .checks import NETWORK, ServiceSpecError, gcs_artifact, reject_networks, require_artifact_registry
from .naming import digest, physical_name, stack_unique_name
from .options import GcpArgs
from .pattern import PatternArgs, foundation_for, provider_for_target
from .sizing import machine_spec
from .vertex_provider import VertexDeployment, VertexModel

__all__ = ["VertexEndpoint", "VertexEndpointArgs"]

PATTERN = "the ml_platform pattern (Vertex AI)"
PREDICT_PERMISSIONS = ("aiplatform.endpoints.predict",)
BIGQUERY_TABLE = r"bq://[a-z][a-z0-9-]{4,28}[a-z0-9](\.[A-Za-z0-9_]{1,1024}){1,2}"


def endpoint_id(name: str) -> str:
    """A Vertex endpoint id: numeric, 10 digits, no leading zero, stable per project, stack and component."""
    return str(10**9 + int(digest(pulumi.get_project(), pulumi.get_stack(), name, length=12), 16) % (9 * 10**9))


@dataclass(frozen=True, kw_only=True)
class VertexEndpointArgs(PatternArgs):
    """Options of the ml_platform pattern (see components/gcp/README.md).

    access: psc (default: Private Service Connect) or network (VPC peering with ``endpoint_network``, which
        needs Private Services Access on that VPC).
    endpoint_network: projects/<project number>/global/networks/<name>, for access network.
    logging_sample_rate: share of requests and responses logged to BigQuery (0 turns logging off).
    logging_table: bq://<project>.<dataset>[.<table>]; None lets Vertex create a dataset in the project.
    machine_type: None derives it from ``resources``.
    """

    access: str = "psc"
    endpoint_network: str | None = None
    logging_sample_rate: float = 0.1
    logging_table: str | None = None
    machine_type: str | None = None

    PATTERN: ClassVar[str] = PATTERN
    GRPC_REFUSAL: ClassVar[str | None] = (
        "Vertex AI endpoints take predictions over their REST and gRPC APIs and call the serving container over "
        "HTTP only"
    )
    KEY_AGENTS: ClassVar[tuple[str, ...]] = ("aiplatform", "artifactregistry", "storage")
    NETWORK_OPTIONAL: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        service = self.service
        check_choice("access", self.access, ("psc", "network"))
        if self.access == "network":
            check_str(
                "endpoint_network",
                self.endpoint_network,
                pattern=NETWORK.replace("[a-z][a-z0-9-]{4,28}[a-z0-9]", r"\d{6,20}"),
                description="projects/<project number>/global/networks/<name> (a VPC with Private Services Access)",
            )
        elif self.endpoint_network is not None:
            raise SpecError("endpoint_network", "applies to access: network only")
        check_number("logging_sample_rate", self.logging_sample_rate, minimum=0, maximum=1)
        check_optional_str("logging_table", self.logging_table, pattern=BIGQUERY_TABLE, description="a BigQuery URI")
        check_optional_str(
            "machine_type", self.machine_type, pattern=r"[a-z][a-z0-9]*-[a-z0-9-]+", description="a machine type"
        )
        defaults = {f.name: f.default for f in dataclasses.fields(GcpArgs)}
        for key in ("network", "subnetwork", "subnet_cidr", "flow_logs"):
            if getattr(self, key) != defaults[key]:
                raise SpecError(
                    key,
                    "does not apply: Vertex AI needs no VPC of its own (Private Service Connect); for VPC peering "
                    "set access: network and endpoint_network",
                )
        if service.exposure.public:
            raise ServiceSpecError(
                "exposure.public",
                f"{PATTERN} serves privately (Private Service Connect or VPC peering); callers authenticate with "
                "IAM. Use the container pattern behind the external load balancer for a public endpoint",
            )
        reject_networks(service, PATTERN, "the endpoint authenticates callers with IAM and is reached privately")
        self.callers()
        require_artifact_registry(service, PATTERN)
        gcs_artifact(service, PATTERN)
        machine_spec(service, PATTERN)
        if self.profile.name == "prod" and service.min_replicas < 2:
            raise ServiceSpecError(
                "scaling.min_replicas", f"a prod {PATTERN} keeps at least 2 replicas (got {service.min_replicas})"
            )

    @property
    def predict_route(self) -> str:
        return f"/v1/models/{self.service.model.name}:predict"


class VertexEndpoint(pulumi.ComponentResource):
    """Vertex endpoint, uploaded model per track, deployment with traffic split, predict-only grants, alerts."""

    args_type = VertexEndpointArgs
    provider_for_target = staticmethod(provider_for_target)

    endpoint: pulumi.Output[str]
    identity: pulumi.Output[str]

    def __init__(self, name: str, args: VertexEndpointArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("modelport:gcp:VertexEndpoint", name, component_props(args), opts)
        self._args = args
        svc = args.service
        child = pulumi.ResourceOptions(parent=self)
        self.foundation = foundation_for(self, name, args)
        members = args.callers()
        key = self.foundation.key_id
        extra: dict[str, Any] = {}
        if key is not None:
            extra["encryption_spec"] = {"kms_key_name": key}
        if args.access == "psc":
            extra["private_service_connect_config"] = {
                "enable_private_service_connect": True,
                "project_allowlists": [args.project],
            }
        else:
            extra["network"] = args.endpoint_network
        if args.logging_sample_rate > 0:
            logging: dict[str, Any] = {"enabled": True, "sampling_rate": args.logging_sample_rate}
            if args.logging_table:
                logging["bigquery_destination"] = {"output_uri": args.logging_table}
            extra["predict_request_response_logging_config"] = logging
        self.vertex_endpoint = gcp.vertex.AiEndpoint(
            f"{name}-endpoint",
            project=args.project,
            location=args.region,
            region=args.region,
            name=endpoint_id(name),
            display_name=physical_name(name, 63),
            description=f"modelport {svc.name}",
            labels=args.resource_labels,
            **extra,
            opts=pulumi.ResourceOptions(parent=self, depends_on=self.foundation.key_grant_dependencies("aiplatform")),
        )
        spec = machine_spec(svc, PATTERN)
        self.models: dict[str, VertexModel] = {}
        tracks: dict[str, Any] = {}
        for track in svc.tracks:
            model = VertexModel(
                f"{name}-{track.name}-model",
                {
                    "project": args.project,
                    "region": args.region,
                    "display_name": physical_name(f"{name}-{track.name}", 128),
                    "image": svc.image_of(track),
                    "predict_route": args.predict_route,
                    "health_route": svc.health.ready_path,
                    "port": svc.port,
                    "env": {"MODEL_NAME": svc.model.name, "MODELPORT_TRACK": track.name, "GRPC_PORT": "0", **svc.env},
                    "artifact_uri": svc.model.artifact_uri,
                    "encryption_key": key,
                    "labels": {**args.resource_labels, "modelport-track": track.name},
                },
                pulumi.ResourceOptions(
                    parent=self,
                    depends_on=[*self.foundation.grants, *self.foundation.key_grant_dependencies("aiplatform")],
                ),
            )
            self.models[track.name] = model
            tracks[track.name] = {
                "model_name": model.model_name,
                "weight": track.weight,
                "machine_type": args.machine_type or spec.machine_type,
                "accelerator_type": spec.vertex_accelerator,
                "accelerator_count": spec.accelerator_count,
                "min_replicas": svc.min_replicas,
                "max_replicas": svc.scaling.max_replicas,
                "cpu_target": svc.scaling.target_cpu_percent,
                "service_account": self.foundation.service_account_email,
            }
        self.deployment = VertexDeployment(
            f"{name}-deployment",
            {
                "project": args.project,
                "region": args.region,
                "endpoint": self.vertex_endpoint.id,
                "display_name": physical_name(name, 100),
                "tracks": tracks,
            },
            pulumi.ResourceOptions(parent=self, depends_on=list(self.models.values())),
        )
        self.predict_role = None
        self.predict_grants: list[gcp.vertex.AiEndpointIamMember] = []
        if members:
            self.predict_role = gcp.projects.IAMCustomRole(
                f"{name}-predict-role",
                project=args.project,
                role_id=stack_unique_name(name, 60).replace("-", "_"),
                title=f"Predict on {svc.name}",
                description="Call predict on one Vertex AI endpoint; nothing else",
                permissions=list(PREDICT_PERMISSIONS),
                stage="GA",
                opts=child,
            )
            for index, member in enumerate(members):
                self.predict_grants.append(
                    gcp.vertex.AiEndpointIamMember(
                        f"{name}-predict-{index}",
                        project=args.project,
                        location=args.region,
                        endpoint=self.vertex_endpoint.name,
                        role=self.predict_role.name,
                        member=member,
                        opts=child,
                    )
                )
        self.alarms = alert_policies(
            self,
            name,
            args,
            MetricSource(
                resource_filter=pulumi.Output.concat(
                    'resource.type="aiplatform.googleapis.com/Endpoint" AND resource.labels.endpoint_id="',
                    self.vertex_endpoint.name,
                    '"',
                ),
                requests="aiplatform.googleapis.com/prediction/online/response_count",
                errors_label='metric.labels.response_code=starts_with("5")',
                latency="aiplatform.googleapis.com/prediction/online/prediction_latencies",
            ),
        )
        self.endpoint = self.vertex_endpoint.id
        self.identity = self.foundation.service_account_email
        self.register_outputs({"endpoint": self.endpoint, "identity": self.identity})
