"""MigService (`vm`): the model server on Container-Optimized OS VMs in a regional managed instance group.

A regional instance template (COS + cloud-init running the digest-pinned image under systemd; the deprecated
container declaration is not used), Shielded VM, CMEK boot disk, no external IP, OS Login, serial port off; a
regional MIG over three zones with even distribution, autohealing and proactive updates that never take an
instance away before its replacement serves; a regional autoscaler; an internal Application LB, or the global
external one with Cloud Armor when public.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any, ClassVar

import pulumi
import pulumi_gcp as gcp

from ..base import component_props
from ..spec import Variant
from ..validation import SpecError, check_int, check_optional_str
from .alarms import MetricSource, alert_policies
from .checks import ServiceSpecError, gcs_artifact, reject_networks
from .loadbalancer import LbArgs, LoadBalancer
from .naming import physical_name, stack_unique_name
from .pattern import foundation_for, provider_for_target
from .sizing import machine_spec

__all__ = ["COS_IMAGE", "MigService", "MigServiceArgs", "cloud_init"]

PATTERN = "the vm pattern (regional MIG)"
COS_IMAGE = "projects/cos-cloud/global/images/family/cos-stable"
RUN_AS = "10001:10001"
MACHINE_TYPE = r"[a-z][a-z0-9]*-[a-z0-9-]+"


@dataclass(frozen=True, kw_only=True)
class MigServiceArgs(LbArgs):
    """Options of the vm pattern (see components/gcp/README.md).

    machine_type: None derives the smallest n2 (or GPU) machine that holds ``resources``.
    zone_count: zones the group spreads over; None takes the profile's (3 in prod, 2 in dev), at most the
        region's. A prod group needs three distinct zones.
    boot_disk_gb: boot disk size (COS needs 10; the image layers need more).
    image_family: the COS image (family or image) to boot.
    """

    machine_type: str | None = None
    zone_count: int | None = None
    boot_disk_gb: int = 30
    image_family: str = COS_IMAGE

    PATTERN: ClassVar[str] = PATTERN
    GRPC_REFUSAL: ClassVar[str | None] = (
        "the vm pattern's Application Load Balancer fronts the HTTP port only; gRPC needs a second HTTP/2 "
        "backend and listener, which this pattern does not build"
    )
    KEY_AGENTS: ClassVar[tuple[str, ...]] = ("compute", "artifactregistry", "storage")
    PROJECT_ROLES: ClassVar[tuple[str, ...]] = ("roles/logging.logWriter", "roles/monitoring.metricWriter")

    def __post_init__(self) -> None:
        super().__post_init__()
        service = self.service
        if service.secrets:
            raise ServiceSpecError(
                "secrets",
                f"{PATTERN} starts the container from cloud-init and has no Secret Manager injection; "
                "use the container or kubernetes pattern, or let the model server read Secret Manager itself",
            )
        if not service.exposure.public:
            reject_networks(
                service,
                PATTERN,
                "the internal Application LB has no Cloud Armor policy and its proxies hide the caller's address "
                "from the firewall",
            )
        if service.exposure.principals_of("gcp") and not self.iap:
            raise ServiceSpecError(
                "exposure.allowed_principals",
                f"{PATTERN} is reached through an Application Load Balancer, which verifies GCP principals only "
                "through IAP: set the target option iap: true, or remove the principals",
            )
        self._check_exposure_certificate(internal_https_in_prod=True)
        if service.exposure.public:
            self._refuse_unused("proxy_subnet_cidr", "create_proxy_subnet", why="a public group has no internal LB")
        else:
            self._refuse_unused("rate_limit_per_minute", why="the Cloud Armor rate limit is on the public LB only")
        self.callers()
        gcs_artifact(service, PATTERN)
        check_optional_str("machine_type", self.machine_type, pattern=MACHINE_TYPE, description="a machine type")
        if self.machine_type is None:
            machine_spec(service, PATTERN)
        if self.zone_count is not None:
            check_int("zone_count", self.zone_count, minimum=1, maximum=len(self.zones))
        check_int("boot_disk_gb", self.boot_disk_gb, minimum=10, maximum=2000)
        check_optional_str(
            "image_family",
            self.image_family,
            pattern=r"projects/cos-cloud/global/images/(family/)?[a-z0-9-]+",
            description="a Container-Optimized OS image (projects/cos-cloud/global/images/family/<family>)",
        )
        distinct = len(set(self.group_zones))
        if self.profile.name == "prod" and distinct < 3:
            raise SpecError(
                "zones",
                f"a prod managed instance group spans at least 3 distinct zones; {self.region} gives "
                f"{len(set(self.zones))} and zone_count chooses {distinct}. Name three zones of the region in the "
                "target's `zones` list, or choose a region with three zones",
            )

    @property
    def group_zones(self) -> tuple[str, ...]:
        count = self.zone_count if self.zone_count is not None else self.profile.zones
        return tuple(dict.fromkeys(self.zones))[: max(1, min(count, len(self.zones)))]


def cloud_init(args: MigServiceArgs, track: Variant) -> str:
    """The cloud-config that runs the track's image under systemd on COS, read-only and without capabilities."""
    svc = args.service
    image = svc.image_of(track)
    host = image.split("/")[0]
    env = {"PORT": str(svc.port), "MODEL_NAME": svc.model.name, "MODELPORT_TRACK": track.name, "GRPC_PORT": "0"}
    if svc.model.artifact_uri:
        env["MODEL_DIR"] = svc.model.artifact_uri
    env.update(svc.env)
    env_file = "\n".join(f"      {k}={v}" for k, v in env.items())
    gpu = svc.resources.accelerator is not None
    gpu_flags = (
        " --volume /var/lib/nvidia/lib64:/usr/local/nvidia/lib64 --volume /var/lib/nvidia/bin:/usr/local/nvidia/bin"
        " --device /dev/nvidia0:/dev/nvidia0 --device /dev/nvidia-uvm:/dev/nvidia-uvm"
        " --device /dev/nvidiactl:/dev/nvidiactl"
        if gpu
        else ""
    )
    login = (
        f"ExecStartPre=/usr/bin/docker-credential-gcr configure-docker --registries {shlex.quote(host)}\n    "
        if host.endswith(".pkg.dev") or host.endswith("gcr.io")
        else ""
    )
    gpu_setup = (
        "- cos-extensions install gpu\n"
        "- mount --bind /var/lib/nvidia /var/lib/nvidia\n"
        "- mount -o remount,exec /var/lib/nvidia\n"
        if gpu
        else ""
    )
    run = " ".join(
        [
            "/usr/bin/docker run --rm --name=model-server --network=host --env-file /etc/modelport/env",
            f"--user {RUN_AS} --read-only --tmpfs /tmp:rw,size=1g --cap-drop ALL",
            f"--security-opt no-new-privileges --log-driver=gcplogs{gpu_flags} {image}",
        ]
    )
    return f"""#cloud-config
write_files:
- path: /etc/modelport/env
  permissions: "0644"
  owner: root
  content: |
{env_file}
- path: /etc/systemd/system/modelport.service
  permissions: "0644"
  owner: root
  content: |
    [Unit]
    Description=modelport model server ({track.name})
    Wants=network-online.target gcr-online.target docker.socket
    After=network-online.target gcr-online.target docker.socket

    [Service]
    Environment=HOME=/var/lib/modelport
    ExecStartPre=/bin/mkdir -p /var/lib/modelport
    {login}ExecStart={run}
    ExecStop=/usr/bin/docker stop --time 30 model-server
    Restart=always
    RestartSec=5

    [Install]
    WantedBy=multi-user.target
runcmd:
{gpu_setup}- systemctl daemon-reload
- systemctl enable --now modelport.service
"""


class MigService(pulumi.ComponentResource):
    """Instance template per track, regional MIG, autoscaler, health checks, Application LB, alert policies."""

    args_type = MigServiceArgs
    provider_for_target = staticmethod(provider_for_target)

    endpoint: pulumi.Output[str]
    identity: pulumi.Output[str]

    def __init__(self, name: str, args: MigServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("modelport:gcp:MigService", name, component_props(args), opts)
        self._args = args
        svc = args.service
        child = pulumi.ResourceOptions(parent=self)
        self.foundation = foundation_for(self, name, args, health_checked=True)
        members = args.callers()
        self.templates = {
            track.name: self._template(name, track) for track in svc.tracks if track.weight > 0 or len(svc.tracks) == 1
        }
        self.autohealing_check = gcp.compute.HealthCheck(
            f"{name}-autohealing",
            project=args.project,
            check_interval_sec=10,
            timeout_sec=5,
            healthy_threshold=2,
            unhealthy_threshold=3,
            http_health_check={"port": svc.port, "request_path": svc.health.live_path},
            log_config={"enable": True},
            opts=child,
        )
        self.group = gcp.compute.RegionInstanceGroupManager(
            f"{name}-group",
            project=args.project,
            region=args.region,
            name=stack_unique_name(name, 63, suffix="-mig"),
            base_instance_name=stack_unique_name(name, 50),
            versions=self._versions(),
            distribution_policy_zones=list(args.group_zones),
            distribution_policy_target_shape="EVEN",
            named_ports=[{"name": "http", "port": svc.port}],
            auto_healing_policies={
                "health_check": self.autohealing_check.id,
                "initial_delay_sec": svc.health.startup_seconds,
            },
            update_policy={
                "type": "PROACTIVE",
                "minimal_action": "REPLACE",
                "instance_redistribution_type": "PROACTIVE",
                "replacement_method": "SUBSTITUTE",
                "max_surge_fixed": len(args.group_zones),
                "max_unavailable_fixed": 0,
            },
            wait_for_instances=False,
            opts=pulumi.ResourceOptions(parent=self, depends_on=self.foundation.grants),
        )
        self.autoscaler = gcp.compute.RegionAutoscaler(
            f"{name}-autoscaler",
            project=args.project,
            region=args.region,
            target=self.group.id,
            autoscaling_policy={
                "min_replicas": svc.min_replicas,
                "max_replicas": svc.scaling.max_replicas,
                "cooldown_period": min(svc.health.startup_seconds, 3600),
                "mode": "ON",
                "cpu_utilization": {"target": svc.scaling.target_cpu_percent / 100},
                "scale_in_control": {"max_scaled_in_replicas": {"percent": 10}, "time_window_sec": 600},
            },
            opts=child,
        )
        self.load_balancer = LoadBalancer(
            f"{name}-lb",
            args,
            backend_group=self.group.instance_group,
            health_check=True,
            network_id=self.foundation.network_id,
            subnetwork_id=self.foundation.subnetwork_id,
            members=members,
            serverless=False,
            service_account=self.foundation.service_account_email,
            opts=child,
        )
        public = svc.exposure.public
        self.alarms = alert_policies(
            self,
            name,
            args,
            MetricSource(
                resource_filter=pulumi.Output.concat(
                    'resource.type="',
                    "https_lb_rule" if public else "internal_http_lb_rule",
                    '" AND resource.labels.url_map_name="',
                    self.load_balancer.url_map.name,
                    '"',
                ),
                requests="loadbalancing.googleapis.com/https/request_count"
                if public
                else "loadbalancing.googleapis.com/https/internal/request_count",
                errors_label="metric.labels.response_code_class=500",
                latency="loadbalancing.googleapis.com/https/total_latencies"
                if public
                else "loadbalancing.googleapis.com/https/internal/total_latencies",
            ),
        )
        self.endpoint = self.load_balancer.url
        self.identity = self.foundation.service_account_email
        self.register_outputs({"endpoint": self.endpoint, "identity": self.identity, "group": self.group.id})

    def _versions(self) -> list[dict[str, Any]]:
        svc = self._args.service
        tracks = [t for t in svc.tracks if t.name in self.templates]
        versions: list[dict[str, Any]] = []
        # The first track takes what the others leave; each other track a fixed percentage of instances.
        for index, track in enumerate(tracks):
            version: dict[str, Any] = {"name": track.name, "instance_template": self.templates[track.name].self_link}
            if index > 0:
                version["target_size"] = {"percent": track.weight}
            versions.append(version)
        return versions

    def _template(self, name: str, track: Variant) -> gcp.compute.RegionInstanceTemplate:
        args = self._args
        svc = args.service
        spec = machine_spec(svc, PATTERN)
        resource = name if len(svc.tracks) == 1 else f"{name}-{track.name}"
        disk: dict[str, Any] = {
            "boot": True,
            "auto_delete": True,
            "source_image": args.image_family,
            "disk_type": "pd-balanced",
            "disk_size_gb": args.boot_disk_gb,
        }
        if self.foundation.key_id is not None:
            disk["disk_encryption_key"] = {"kms_key_self_link": self.foundation.key_id}
        extra: dict[str, Any] = {}
        if spec.compute_accelerator is not None:
            extra["guest_accelerators"] = [{"type": spec.compute_accelerator, "count": spec.accelerator_count}]
        return gcp.compute.RegionInstanceTemplate(
            f"{resource}-template",
            project=args.project,
            region=args.region,
            name_prefix=physical_name(resource, 37) + "-",
            description=f"modelport {svc.name} ({track.name}) on Container-Optimized OS",
            machine_type=args.machine_type or spec.machine_type,
            disks=[disk],
            network_interfaces=[{"network": self.foundation.network_id, "subnetwork": self.foundation.subnetwork_id}],
            service_account={"email": self.foundation.service_account_email, "scopes": ["cloud-platform"]},
            shielded_instance_config={
                "enable_secure_boot": True,
                "enable_vtpm": True,
                "enable_integrity_monitoring": True,
            },
            scheduling={
                "automatic_restart": True,
                "on_host_maintenance": "TERMINATE" if spec.compute_accelerator else "MIGRATE",
                "provisioning_model": "STANDARD",
            },
            metadata={
                "user-data": cloud_init(args, track),
                "enable-oslogin": "TRUE",
                "block-project-ssh-keys": "TRUE",
                "serial-port-enable": "FALSE",
                "google-logging-enabled": "true",
                "google-monitoring-enabled": "true",
            },
            labels={**args.resource_labels, "modelport-track": track.name},
            tags=["modelport"],
            **extra,
            opts=pulumi.ResourceOptions(parent=self, depends_on=self.foundation.key_grant_dependencies("compute")),
        )
