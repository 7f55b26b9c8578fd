"""What the container and serverless patterns share: one Cloud Run v2 service (CMEK, dedicated identity, Direct
VPC egress, probes, revision-tag traffic split), invoker grants for named principals only, and the external
Application LB with a serverless NEG when public."""

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
GRPC_ON_CLOUD_RUN = (
    "Cloud Run routes one port per service and carries gRPC only over end-to-end HTTP/2 (h2c); the serving "
    "image answers HTTP on that port with uvicorn, which has no HTTP/2, so HTTP and gRPC cannot share it"
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

    GRPC_REFUSAL: ClassVar[str | None] = GRPC_ON_CLOUD_RUN
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

    def __init__(self, name: str, args: CloudRunArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, component_props(args), opts)
        self._args = args
        svc = args.service
        child = pulumi.ResourceOptions(parent=self)
        self.foundation = foundation_for(self, name, args)
        members = args.callers()
        self.service_name = stack_unique_name(name, 32)
        tracks = [t for t in svc.tracks]
        template_track = tracks[-1]
        extra: dict[str, Any] = {}
        if args.binary_authorization == "default":
            extra["binary_authorization"] = {"use_default": True}
        if svc.exposure.anonymous:
            # Explicitly asked for (never in prod): the policy pack still reports it.
            extra["invoker_iam_disabled"] = True
        self.service = gcp.cloudrunv2.Service(
            f"{name}-service",
            project=args.project,
            location=args.region,
            name=self.service_name,
            ingress=args.ingress_value,
            deletion_protection=args.profile.deletion_protection,
            default_uri_disabled=svc.exposure.public,
            template=self._template(template_track),
            traffics=self._traffic(tracks),
            labels=args.resource_labels,
            **extra,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*self.foundation.key_grant_dependencies("run"), *self.foundation.grants],
            ),
        )
        self.invokers = [
            gcp.cloudrunv2.ServiceIamMember(
                f"{name}-invoker-{index}",
                project=args.project,
                location=args.region,
                name=self.service.name,
                role="roles/run.invoker",
                member=member,
                opts=child,
            )
            for index, member in enumerate(members)
        ]
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
                opts=child,
            )
            if args.iap:
                self.invokers.append(
                    gcp.cloudrunv2.ServiceIamMember(
                        f"{name}-invoker-iap",
                        project=args.project,
                        location=args.region,
                        name=self.service.name,
                        role="roles/run.invoker",
                        member=service_agent(self.foundation.project_number, "iap"),
                        opts=child,
                    )
                )
            self.endpoint = self.load_balancer.url
        else:
            self.endpoint = self.service.uri
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
        self.register_outputs({"endpoint": self.endpoint, "identity": self.identity, "service": self.service.name})

    # --- the revision template ---

    def revision_name(self, track: Variant) -> str:
        """``<service>-<track>-<hash>``: deterministic, so earlier tracks' revisions can be addressed by name."""
        args = self._args
        settings = repr((args.service.image_of(track), sorted(args.service.env.items()), args.service.resources))
        return f"{self.service_name}-{track.name}-{digest(settings)}"

    def _env(self, track: Variant) -> list[dict[str, Any]]:
        svc = self._args.service
        # PORT is reserved: Cloud Run sets it to the container port. gRPC is off (see GRPC_REFUSAL).
        env = {"MODEL_NAME": svc.model.name, "MODELPORT_TRACK": track.name, "GRPC_PORT": "0"}
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

    def _template(self, track: Variant) -> dict[str, Any]:
        args = self._args
        svc = args.service
        limits = cloud_run_limits(svc, args.region, args.PATTERN)
        gpu = "nvidia.com/gpu" in limits
        period = 10
        template: dict[str, Any] = {
            "revision": self.revision_name(track),
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
                    "ports": {"container_port": svc.port, "name": "http1"},
                    "resources": {
                        "limits": limits,
                        # GPUs need CPU always allocated; otherwise the pattern decides (request-based billing).
                        "cpu_idle": False if gpu else args.CPU_IDLE,
                        "startup_cpu_boost": True,
                    },
                    "envs": self._env(track),
                    "startup_probe": {
                        "http_get": {"path": svc.health.ready_path, "port": svc.port},
                        "initial_delay_seconds": 0,
                        "period_seconds": period,
                        "timeout_seconds": 5,
                        "failure_threshold": max(1, math.ceil(svc.health.startup_seconds / period)),
                    },
                    "liveness_probe": {
                        "http_get": {"path": svc.health.live_path, "port": svc.port},
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

    def _traffic(self, tracks: list[Variant]) -> list[dict[str, Any]]:
        if len(tracks) == 1:
            return [{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100}]
        # Earlier tracks' revisions exist from earlier updates; the last track's is the template's new one.
        return [
            {
                "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
                "revision": self.revision_name(track),
                "percent": track.weight,
                "tag": track.name,
            }
            for track in tracks
        ]
