"""GkeService (`kubernetes`): a regional GKE cluster (Autopilot by default, Standard as an option) with private
nodes, a private or authorised-networks control plane, Secrets encrypted with the CMEK, Workload Identity and a
release channel, then the model service as a ModelWorkload whose Kubernetes service account acts as the
workload's GCP service account."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from ..base import component_props
from ..kubernetes.workload import ModelWorkload, ModelWorkloadArgs
from ..validation import SpecError, check_bool, check_choice, check_int, check_str_list, under
from .checks import ServiceSpecError, gcs_artifact
from .iam import sa_member
from .naming import account_id, stack_unique_name
from .pattern import PatternArgs, foundation_for, provider_for_target
from .sizing import machine_spec

__all__ = ["GkeService", "GkeServiceArgs"]

PATTERN = "the kubernetes pattern (GKE)"
# Under GKE Dataplane V2 (Autopilot, and Standard as modelport creates it) a pod's metadata requests are redirected
# to the GKE metadata server on 169.254.169.252:988, which answers Workload Identity tokens and never hands out the
# node's credentials; NetworkPolicy sees that address, so the node metadata address itself stays refused.
METADATA_EGRESS = ({"cidr": "169.254.169.252/32", "port": 988},)
_RESERVED_WORKLOAD_OPTIONS = ("provider", "context", "service", "profile", "service_account_annotations")


@dataclass(frozen=True, kw_only=True)
class GkeServiceArgs(PatternArgs):
    """Options of the kubernetes pattern (see components/gcp/README.md).

    mode: autopilot (default) or standard (a node pool on CMEK boot disks, shielded, GKE metadata server).
    release_channel: REGULAR (default), STABLE or RAPID.
    private_endpoint: true (default): the control plane has only a private endpoint; false: a public endpoint
        limited to ``authorized_networks`` (required then).
    authorized_networks: CIDRs allowed to reach the control plane.
    machine_type / node_min / node_max: Standard node pool sizing (None derives them).
    workload: options passed to ModelWorkload (namespace, ingress_class, gateway, ...).
    """

    mode: str = "autopilot"
    release_channel: str = "REGULAR"
    private_endpoint: bool = True
    authorized_networks: tuple[str, ...] = ()
    machine_type: str | None = None
    node_min: int | None = None
    node_max: int | None = None
    workload: Mapping[str, Any] = field(default_factory=dict)

    PATTERN: ClassVar[str] = PATTERN
    KEY_AGENTS: ClassVar[tuple[str, ...]] = ("container", "compute", "artifactregistry", "storage")

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("mode", self.mode, ("autopilot", "standard"))
        check_choice("release_channel", self.release_channel, ("REGULAR", "STABLE", "RAPID"))
        check_bool("private_endpoint", self.private_endpoint)
        networks = check_str_list("authorized_networks", self.authorized_networks)
        for index, cidr in enumerate(networks):
            try:
                network = ipaddress.ip_network(cidr, strict=True)
            except ValueError:
                raise SpecError(f"authorized_networks[{index}]", f"must be a CIDR (got {cidr!r})") from None
            if network.prefixlen == 0:
                raise SpecError(f"authorized_networks[{index}]", f"opens the control plane to everyone ({cidr})")
        object.__setattr__(self, "authorized_networks", networks)
        if not self.private_endpoint and not networks:
            raise SpecError(
                "authorized_networks", "a public control-plane endpoint needs the CIDRs allowed to reach it"
            )
        if self.mode == "autopilot":
            for key in ("machine_type", "node_min", "node_max"):
                if getattr(self, key) is not None:
                    raise SpecError(key, "applies to mode standard only; Autopilot sizes nodes from the pods")
        else:
            for key in ("node_min", "node_max"):
                if getattr(self, key) is not None:
                    check_int(key, getattr(self, key), minimum=1, maximum=1000)
            if self.machine_type is None:
                machine_spec(self.service, PATTERN)
        principals = self.service.exposure.principals_of("gcp")
        if principals:
            raise ServiceSpecError(
                "exposure.allowed_principals",
                f"{PATTERN} serves inside the cluster, where GCP identities are not verified (got {principals[0]!r}); "
                "name callers as Kubernetes principals (namespace/<name>, serviceaccount/<ns>/<name>)",
            )
        gcs_artifact(self.service, PATTERN)
        if not isinstance(self.workload, Mapping):
            raise SpecError("workload", "must be a mapping of ModelWorkload options")
        self.workload_args(None)

    def workload_args(
        self, provider: k8s.Provider | None, annotations: Mapping[str, str] | None = None
    ) -> ModelWorkloadArgs:
        options = dict(self.workload)
        for key in options:
            if key in _RESERVED_WORKLOAD_OPTIONS:
                raise SpecError(f"workload.{key}", "is set by the GKE component")
        egress = [*METADATA_EGRESS, *options.pop("identity_egress", ())]
        with under("workload"):
            known = set(ModelWorkloadArgs.option_names())
            for key in options:
                if key not in known:
                    raise SpecError(key, f"unknown key; accepted keys: {', '.join(sorted(known))}")
            return ModelWorkloadArgs(
                service=self.service,
                profile=self.profile,
                provider=provider,
                identity_egress=egress,
                service_account_annotations=dict(annotations or {}),
                **options,
            )

    def node_bounds(self) -> tuple[int, int]:
        """Total node bounds of the Standard pool: the machine holds one replica, so one node per replica, at
        least one per zone, and one spare for a surge."""
        zones = len(self.zones[:3])
        low = self.node_min or max(zones, self.service.min_replicas)
        high = self.node_max or max(low, self.service.scaling.max_replicas + 1)
        return low, high


class GkeService(pulumi.ComponentResource):
    """GKE cluster (+ node pool for Standard), node identity, Workload Identity binding, then the ModelWorkload."""

    args_type = GkeServiceArgs
    provider_for_target = staticmethod(provider_for_target)

    endpoint: pulumi.Output[str]
    identity: pulumi.Output[str]

    def __init__(self, name: str, args: GkeServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("modelport:gcp:GkeService", name, component_props(args), opts)
        self._args = args
        child = pulumi.ResourceOptions(parent=self)
        self.foundation = foundation_for(self, name, args)
        # Nodes pull images and write logs as their own account; pods act as the foundation's workload account.
        self.node_account = gcp.serviceaccount.Account(
            f"{name}-nodes",
            project=args.project,
            account_id=account_id(f"{name}-nodes"),
            display_name=f"GKE nodes of {args.service.name}",
            opts=child,
        )
        node_member = sa_member(self.node_account.email)
        self.node_grants: list[pulumi.Resource] = [
            gcp.projects.IAMMember(
                f"{name}-nodes-default-node-role",
                project=args.project,
                role="roles/container.defaultNodeServiceAccount",
                member=node_member,
                opts=child,
            )
        ]
        self.node_grants += self.foundation.registry_readers(node_member, f"{name}-nodes", child)
        self.cluster = self._cluster(name)
        self.node_pool = self._node_pool(name) if args.mode == "standard" else None

        kubeconfig = pulumi.Output.all(self.cluster.endpoint, self.cluster.master_auth, self.cluster.name).apply(
            lambda v: _kubeconfig(v[0], (v[1] or {}).get("cluster_ca_certificate", ""), v[2])
        )
        ready: list[pulumi.Resource] = [self.cluster] + ([self.node_pool] if self.node_pool else [])
        self.kubernetes_provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=kubeconfig,
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=ready),
        )
        email = self.foundation.service_account_email
        namespace = args.workload_args(None).namespace_name
        self.workload_identity_binding = gcp.serviceaccount.IAMMember(
            f"{name}-workload-identity",
            service_account_id=pulumi.Output.concat("projects/", args.project, "/serviceAccounts/", email),
            role="roles/iam.workloadIdentityUser",
            member=f"serviceAccount:{args.project}.svc.id.goog[{namespace}/{args.service.name}]",
            opts=child,
        )
        self.workload = ModelWorkload(
            f"{name}-workload",
            args.workload_args(self.kubernetes_provider, {"iam.gke.io/gcp-service-account": self.foundation.email}),
            pulumi.ResourceOptions(parent=self, depends_on=[self.workload_identity_binding]),
        )
        self.endpoint = self.workload.endpoint
        self.identity = email
        self.register_outputs({"endpoint": self.endpoint, "identity": self.identity, "cluster": self.cluster.id})

    def _cluster(self, name: str) -> gcp.container.Cluster:
        args = self._args
        key = self.foundation.key_id
        autopilot = args.mode == "autopilot"
        node_defaults: dict[str, Any] = {"service_account": self.node_account.email, "oauth_scopes": [CLOUD_PLATFORM]}
        if key is not None:
            node_defaults["boot_disk_kms_key"] = key
        extra: dict[str, Any] = {}
        if autopilot:
            extra["cluster_autoscaling"] = {"auto_provisioning_defaults": node_defaults}
        else:
            extra.update(
                remove_default_node_pool=True,
                initial_node_count=1,
                node_config={
                    **node_defaults,
                    "shielded_instance_config": {"enable_secure_boot": True, "enable_integrity_monitoring": True},
                    "workload_metadata_config": {"mode": "GKE_METADATA"},
                },
                workload_identity_config={"workload_pool": f"{args.project}.svc.id.goog"},
                enable_shielded_nodes=True,
                node_locations=list(args.zones[:3]),
            )
        if key is not None:
            extra["database_encryption"] = {"state": "ENCRYPTED", "key_name": key}
        else:
            extra["database_encryption"] = {"state": "DECRYPTED"}
        if args.authorized_networks:
            extra["master_authorized_networks_config"] = {
                "cidr_blocks": [
                    {"cidr_block": c, "display_name": f"operators-{i}"} for i, c in enumerate(args.authorized_networks)
                ],
                "gcp_public_cidrs_access_enabled": False,
            }
        return gcp.container.Cluster(
            f"{name}-cluster",
            project=args.project,
            name=stack_unique_name(name, 40),
            location=args.region,
            enable_autopilot=autopilot or None,
            network=self.foundation.network_id,
            subnetwork=self.foundation.subnetwork_id,
            networking_mode="VPC_NATIVE",
            # Dataplane V2 enforces NetworkPolicy (ModelWorkload's default deny); Autopilot always runs it.
            datapath_provider=None if autopilot else "ADVANCED_DATAPATH",
            ip_allocation_policy={"stack_type": "IPV4"},
            private_cluster_config={
                "enable_private_nodes": True,
                "enable_private_endpoint": args.private_endpoint,
                "master_global_access_config": {"enabled": False},
            },
            release_channel={"channel": args.release_channel},
            binary_authorization={"evaluation_mode": "PROJECT_SINGLETON_POLICY_ENFORCE"},
            logging_config={"enable_components": ["SYSTEM_COMPONENTS", "WORKLOADS"]},
            monitoring_config={"enable_components": ["SYSTEM_COMPONENTS"], "managed_prometheus": {"enabled": True}},
            deletion_protection=args.profile.deletion_protection,
            resource_labels=args.resource_labels,
            **extra,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*self.foundation.key_grant_dependencies("container", "compute"), *self.node_grants],
            ),
        )

    def _node_pool(self, name: str) -> gcp.container.NodePool:
        args = self._args
        spec = machine_spec(args.service, PATTERN)
        low, high = args.node_bounds()
        config: dict[str, Any] = {
            "machine_type": args.machine_type or spec.machine_type,
            "service_account": self.node_account.email,
            "oauth_scopes": [CLOUD_PLATFORM],
            "disk_type": "pd-balanced",
            "image_type": "COS_CONTAINERD",
            "shielded_instance_config": {"enable_secure_boot": True, "enable_integrity_monitoring": True},
            "workload_metadata_config": {"mode": "GKE_METADATA"},
            "metadata": {"disable-legacy-endpoints": "true"},
            "labels": {"modelport-service": args.service.name},
        }
        if self.foundation.key_id is not None:
            config["boot_disk_kms_key"] = self.foundation.key_id
        if spec.compute_accelerator is not None:
            config["guest_accelerators"] = [
                {
                    "type": spec.compute_accelerator,
                    "count": spec.accelerator_count,
                    "gpu_driver_installation_config": {"gpu_driver_version": "DEFAULT"},
                }
            ]
        return gcp.container.NodePool(
            f"{name}-nodes",
            project=args.project,
            location=args.region,
            cluster=self.cluster.name,
            node_locations=list(args.zones[:3]),
            autoscaling={"total_min_node_count": low, "total_max_node_count": high, "location_policy": "BALANCED"},
            management={"auto_repair": True, "auto_upgrade": True},
            upgrade_settings={"strategy": "SURGE", "max_surge": 1, "max_unavailable": 0},
            node_config=config,
            opts=pulumi.ResourceOptions(parent=self),
        )


CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


def _kubeconfig(endpoint: str, ca: str, cluster: str) -> str:
    """A kubeconfig that authenticates with gke-gcloud-auth-plugin: no token is stored in the state."""
    import json

    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": cluster, "cluster": {"server": f"https://{endpoint}", "certificate-authority-data": ca}}
            ],
            "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": cluster}}],
            "current-context": cluster,
            "users": [
                {
                    "name": cluster,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "gke-gcloud-auth-plugin",
                            "provideClusterInfo": True,
                            "installHint": "gcloud components install gke-gcloud-auth-plugin",
                        }
                    },
                }
            ],
        }
    )
