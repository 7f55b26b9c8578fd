"""What the container and serverless patterns share: one Cloud Run v2 service (CMEK, dedicated identity, Direct
VPC egress, probes, revision-tag traffic split), invoker grants for named principals only, and the external
Application LB with a serverless NEG when public. With ``service.grpc_port``, a second service ``<name>-grpc``
runs the same image with ``PROTOCOLS=grpc`` behind end-to-end HTTP/2 (h2c), with the same settings and callers."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import pulumi
import pulumi_gcp as gcp

from ..base import component_props
from ..spec import Variant
from ..validation import SpecError, check_choice, check_int
from .alarms import MetricSource, alert_policies
from .checks import gcs_artifact, reject_networks, secret_parts
from .iam import service_agent
from .loadbalancer import LbArgs, LoadBalancer
from .naming import digest, stack_unique_name
from .pattern import foundation_for
from .sizing import cloud_run_limits

__all__ = ["CloudRunArgs", "CloudRunBase", "INGRESS"]

INGRESS = {
    "internal": "INGRESS_TRAFFIC_INTERNAL_ONLY",
    "internal-and-cloud-load-balancing": "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
}
EGRESS = {"all-traffic": "ALL_TRAFFIC", "private-ranges-only": "PRIVATE_RANGES_ONLY"}
CONTAINER_NAME = "model-server"
# The gRPC services the serving image answers (serving_image/rpc/health.py SERVICES): a public load balancer
# routes these method paths to the gRPC service and everything else to the HTTP one.
GRPC_SERVICES = (
    "inference.GRPCInferenceService",
    "tensorflow.serving.PredictionService",
    "tensorflow.serving.ModelService",
    "grpc.health.v1.Health",
)


@dataclass(frozen=True, kw_only=True)
class CloudRunArgs(LbArgs):
    """Options of the Cloud Run patterns (see components/gcp/README.md).

    ingress: internal (default) or internal-and-cloud-load-balancing; a public exposure always uses the latter
        behind the external Application LB.
    vpc_egress: all-traffic (default: every outbound call leaves through the VPC, its firewall and Cloud NAT) or
        private-ranges-only (Direct VPC egress).
    concurrency: requests per instance; None takes scaling.target_concurrency, else 32.
    binary_authorization: "default" (the project's policy) or "off".
    execution_environment: gen2 (default) or gen1.
    """

    ingress: str = "internal"
    vpc_egress: str = "all-traffic"
    concurrency: int | None = None
    binary_authorization: str = "default"
    execution_environment: str = "gen2"

    # Cloud Run routes one port per service and carries gRPC only over end-to-end HTTP/2 (h2c), which uvicorn
    # cannot speak: gRPC gets its own service running the image with PROTOCOLS=grpc (see CloudRunBase).
    GRPC_REFUSAL: ClassVar[str | None] = None
    KEY_AGENTS: ClassVar[tuple[str, ...]] = ("run", "artifactregistry", "storage")

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("ingress", self.ingress, tuple(INGRESS))
        check_choice("vpc_egress", self.vpc_egress, tuple(EGRESS))
        if self.concurrency is not None:
            check_int("concurrency", self.concurrency, minimum=1, maximum=1000)
        check_choice("binary_authorization", self.binary_authorization, ("default", "off"))
        check_choice("execution_environment", self.execution_environment, ("gen2", "gen1"))
        service = self.service
        exposure = service.exposure
        if not exposure.public:
            reject_networks(
                service,
                self.PATTERN,
                "a private Cloud Run service has no load balancer, and ingress settings do not filter source ranges",
            )
            if self.iap:
                raise SpecError("iap", "IAP sits on the external load balancer: it needs exposure.public: true")
        if self.internal_certificate is not None:
            raise SpecError("internal_certificate", f"{self.PATTERN} has no internal load balancer; remove it")
        self._refuse_unused(
            "proxy_subnet_cidr", "create_proxy_subnet", why=f"{self.PATTERN} has no internal load balancer"
        )
        if not exposure.public:
            self._refuse_unused(
                "ssl_profile", "rate_limit_per_minute", why="a private Cloud Run service has no load balancer"
            )
        self._check_exposure_certificate(internal_https_in_prod=False)
        self.callers()
        cloud_run_limits(service, self.region, self.PATTERN)
        gcs_artifact(service, self.PATTERN)

    @property
    def ingress_value(self) -> str:
        return INGRESS["internal-and-cloud-load-balancing" if self.service.exposure.public else self.ingress]

    @property
    def request_concurrency(self) -> int:
        if self.concurrency is not None:
            return self.concurrency
        return self.service.scaling.target_concurrency or 32

    # The serverless pattern scales to zero; the container pattern keeps the profile's floor.
    def min_instances_value(self) -> int:
        return self.service.min_replicas

    CPU_IDLE: ClassVar[bool] = False


class CloudRunBase(pulumi.ComponentResource):
    """A Cloud Run v2 service with its foundation, invoker grants, optional external LB and alert policies."""

    TYPE: ClassVar[str] = ""

    endpoint: pulumi.Output[str]
    identity: pulumi.Output[str]
    grpc_endpoint: pulumi.Output[str] | None

    def __init__(self, name: str, args: CloudRunArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, component_props(args), opts)
        self._args = args
        svc = args.service
        child = pulumi.ResourceOptions(parent=self)
        self.foundation = foundation_for(self, name, args)
        members = args.callers()
        self.service_name = stack_unique_name(name, 32)
        self.service = self._cloud_run_service(f"{name}-service", self.service_name, grpc=False)
        self.invokers = self._invokers(name, self.service, members)
        # gRPC: the same image, settings and callers as a second service on end-to-end HTTP/2 (h2c).
        self.grpc_service: gcp.cloudrunv2.Service | None = None
        self.grpc_service_name: str | None = None
        self.grpc_neg = None
        if svc.grpc_port is not None:
            self.grpc_service_name = stack_unique_name(name, 32, suffix="-grpc")
            self.grpc_service = self._cloud_run_service(f"{name}-grpc-service", self.grpc_service_name, grpc=True)
            self.invokers += self._invokers(f"{name}-grpc", self.grpc_service, members)
        self.load_balancer = None
        if svc.exposure.public:
            self.neg = gcp.compute.RegionNetworkEndpointGroup(
                f"{name}-neg",
                project=args.project,
                region=args.region,
                network_endpoint_type="SERVERLESS",
                cloud_run={"service": self.service.name},
                opts=child,
            )
            if self.grpc_service is not None:
                self.grpc_neg = gcp.compute.RegionNetworkEndpointGroup(
                    f"{name}-grpc-neg",
                    project=args.project,
                    region=args.region,
                    network_endpoint_type="SERVERLESS",
                    cloud_run={"service": self.grpc_service.name},
                    opts=child,
                )
            self.load_balancer = LoadBalancer(
                f"{name}-lb",
                args,
                backend_group=self.neg.id,
                health_check=False,
                network_id=None,
                subnetwork_id=None,
                members=members,
                serverless=True,
                service_account=self.foundation.service_account_email,
                grpc_backend_group=self.grpc_neg.id if self.grpc_neg is not None else None,
                grpc_services=GRPC_SERVICES,
                opts=child,
            )
            if args.iap:
                iap_agent = service_agent(self.foundation.project_number, "iap")
                self.invokers.append(self._invoker(f"{name}-invoker-iap", self.service, iap_agent))
                if self.grpc_service is not None:
                    self.invokers.append(self._invoker(f"{name}-grpc-invoker-iap", self.grpc_service, iap_agent))
            self.endpoint = self.load_balancer.url
            # gRPC reaches the same host and certificate; the URL map sends the gRPC method paths to its service.
            self.grpc_endpoint = (
                self.load_balancer.url.apply(lambda url: url.removeprefix("https://") + ":443")
                if self.grpc_service is not None
                else None
            )
        else:
            self.endpoint = self.service.uri
            self.grpc_endpoint = (
                self.grpc_service.uri.apply(lambda url: url.removeprefix("https://") + ":443")
                if self.grpc_service is not None
                else None
            )
        self.alarms = alert_policies(
            self,
            name,
            args,
            MetricSource(
                resource_filter=pulumi.Output.concat(
                    'resource.type="cloud_run_revision" AND resource.labels.service_name="', self.service.name, '"'
                ),
                requests="run.googleapis.com/request_count",
                errors_label='metric.labels.response_code_class="5xx"',
                latency="run.googleapis.com/request_latencies",
            ),
        )
        self.identity = self.foundation.service_account_email
        outputs: dict[str, Any] = {"endpoint": self.endpoint, "identity": self.identity, "service": self.service.name}
        if self.grpc_service is not None:
            outputs.update(grpc_endpoint=self.grpc_endpoint, grpc_service=self.grpc_service.name)
        self.register_outputs(outputs)

    # --- the services and their callers ---

    def _cloud_run_service(self, resource_name: str, service_name: str, *, grpc: bool) -> gcp.cloudrunv2.Service:
        """One Cloud Run service of the model: HTTP/1 on ``service.port``, or (``grpc``) the image with
        ``PROTOCOLS=grpc`` on ``service.grpc_port`` over end-to-end HTTP/2. Everything else is shared."""
        args = self._args
        svc = args.service
        tracks = list(svc.tracks)
        extra: dict[str, Any] = {}
        if args.binary_authorization == "default":
            extra["binary_authorization"] = {"use_default": True}
        if svc.exposure.anonymous:
            # Explicitly asked for (never in prod): the policy pack still reports it.
            extra["invoker_iam_disabled"] = True
        return gcp.cloudrunv2.Service(
            resource_name,
            project=args.project,
            location=args.region,
            name=service_name,
            ingress=args.ingress_value,
            deletion_protection=args.profile.deletion_protection,
            default_uri_disabled=svc.exposure.public,
            template=self._template(tracks[-1], service_name, grpc=grpc),
            traffics=self._traffic(tracks, service_name),
            labels=args.resource_labels,
            **extra,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*self.foundation.key_grant_dependencies("run"), *self.foundation.grants],
            ),
        )

    def _invokers(
        self, prefix: str, service: gcp.cloudrunv2.Service, members: list[str]
    ) -> list[gcp.cloudrunv2.ServiceIamMember]:
        """``roles/run.invoker`` on one service for each member: ``<prefix>-invoker-<i>``."""
        return [self._invoker(f"{prefix}-invoker-{i}", service, member) for i, member in enumerate(members)]

    def _invoker(
        self, resource_name: str, service: gcp.cloudrunv2.Service, member: pulumi.Input[str]
    ) -> gcp.cloudrunv2.ServiceIamMember:
        args = self._args
        return gcp.cloudrunv2.ServiceIamMember(
            resource_name,
            project=args.project,
            location=args.region,
            name=service.name,
            role="roles/run.invoker",
            member=member,
            opts=pulumi.ResourceOptions(parent=self),
        )

    # --- the revision template ---

    def revision_name(self, track: Variant, service_name: str | None = None) -> str:
        """``<service>-<track>-<hash>``: deterministic, so earlier tracks' revisions can be addressed by name."""
        args = self._args
        settings = repr((args.service.image_of(track), sorted(args.service.env.items()), args.service.resources))
        return f"{service_name or self.service_name}-{track.name}-{digest(settings)}"

    def _env(self, track: Variant, *, grpc: bool = False) -> list[dict[str, Any]]:
        svc = self._args.service
        # PORT is reserved: Cloud Run sets it to the container port. The HTTP service opens no gRPC; the gRPC
        # service opens no HTTP, and serves gRPC on the container port (PORT is that port too).
        grpc_env = {"PROTOCOLS": "grpc", "GRPC_PORT": str(svc.grpc_port)} if grpc else {"GRPC_PORT": "0"}
        env = {"MODEL_NAME": svc.model.name, "MODELPORT_TRACK": track.name, **grpc_env}
        if svc.model.artifact_uri:
            env["MODEL_DIR"] = svc.model.artifact_uri
        env.update(svc.env)
        envs: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in env.items()]
        for key, ref in sorted(svc.secrets.items()):
            project, secret, version = secret_parts(ref.reference)
            envs.append(
                {
                    "name": key,
                    "value_source": {
                        "secret_key_ref": {"secret": f"projects/{project}/secrets/{secret}", "version": version}
                    },
                }
            )
        return envs

    def _template(self, track: Variant, service_name: str, *, grpc: bool = False) -> dict[str, Any]:
        args = self._args
        svc = args.service
        limits = cloud_run_limits(svc, args.region, args.PATTERN)
        gpu = "nvidia.com/gpu" in limits
        period = 10
        if grpc:
            # End-to-end HTTP/2: Cloud Run forwards h2c to the port named "h2c" instead of downgrading to HTTP/1.
            port: dict[str, Any] = {"container_port": svc.grpc_port, "name": "h2c"}
            # grpc.health.v1 with the empty service name: SERVING once the model is loaded and warm.
            startup_check: dict[str, Any] = {"grpc": {"port": svc.grpc_port}}
            live_check: dict[str, Any] = {"grpc": {"port": svc.grpc_port}}
        else:
            port = {"container_port": svc.port, "name": "http1"}
            startup_check = {"http_get": {"path": svc.health.ready_path, "port": svc.port}}
            live_check = {"http_get": {"path": svc.health.live_path, "port": svc.port}}
        template: dict[str, Any] = {
            "revision": self.revision_name(track, service_name),
            "service_account": self.foundation.service_account_email,
            "execution_environment": "EXECUTION_ENVIRONMENT_GEN2"
            if args.execution_environment == "gen2"
            else "EXECUTION_ENVIRONMENT_GEN1",
            "max_instance_request_concurrency": args.request_concurrency,
            "timeout": f"{args.timeout_seconds}s",
            "scaling": {
                "min_instance_count": args.min_instances_value(),
                "max_instance_count": svc.scaling.max_replicas,
            },
            "labels": {"modelport-track": track.name},
            "containers": [
                {
                    "name": CONTAINER_NAME,
                    "image": svc.image_of(track),
                    "ports": port,
                    "resources": {
                        "limits": limits,
                        # GPUs need CPU always allocated; otherwise the pattern decides (request-based billing).
                        "cpu_idle": False if gpu else args.CPU_IDLE,
                        "startup_cpu_boost": True,
                    },
                    "envs": self._env(track, grpc=grpc),
                    "startup_probe": {
                        **startup_check,
                        "initial_delay_seconds": 0,
                        "period_seconds": period,
                        "timeout_seconds": 5,
                        "failure_threshold": max(1, math.ceil(svc.health.startup_seconds / period)),
                    },
                    "liveness_probe": {
                        **live_check,
                        "period_seconds": 15,
                        "timeout_seconds": 5,
                        "failure_threshold": 3,
                    },
                }
            ],
        }
        if self.foundation.key_id is not None:
            template["encryption_key"] = self.foundation.key_id
        if self.foundation.subnetwork_id is not None:
            template["vpc_access"] = {
                "network_interfaces": [
                    {"network": self.foundation.network_id, "subnetwork": self.foundation.subnetwork_id}
                ],
                "egress": EGRESS[args.vpc_egress],
            }
        if gpu:
            template["node_selector"] = {"accelerator": "nvidia-l4"}
            template["gpu_zonal_redundancy_disabled"] = False
        return template

    def _traffic(self, tracks: list[Variant], service_name: str) -> list[dict[str, Any]]:
        if len(tracks) == 1:
            return [{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100}]
        # Earlier tracks' revisions exist from earlier updates; the last track's is the template's new one.
        return [
            {
                "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
                "revision": self.revision_name(track, service_name),
                "percent": track.weight,
                "tag": track.name,
            }
            for track in tracks
        ]
