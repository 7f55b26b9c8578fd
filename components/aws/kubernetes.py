"""EksService (`kubernetes`): a private, encrypted EKS cluster with managed node groups over the zones, then the
model service as a ModelWorkload with an EKS Pod Identity role."""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from ..base import component_props, merge_options
from ..kubernetes.workload import ModelWorkload, ModelWorkloadArgs
from ..networks import open_to_internet
from ..validation import SpecError, check_int, check_optional_str, check_str, check_str_list, under
from .foundation import BASE_INTERFACE_ENDPOINTS
from .iam import AwsContext, role_with_policy, service_trust
from .naming import physical_name, stack_unique_name
from .pattern import PatternArgs, check_principals, foundation_for, kms_statement, managed_policy, provider_for_target
from .sizing import (
    EC2_SHAPES,
    HEADROOM_MIB,
    NODE_RESERVED_CPU,
    check_instance_type,
    instance_shape,
    is_arm_instance,
    pick_instance,
)
from .tagging import tag_children

__all__ = ["CONTROL_PLANE_LOGS", "EksService", "EksServiceArgs", "POD_IDENTITY_AGENT"]

PATTERN = "the kubernetes pattern (EKS)"
CONTROL_PLANE_LOGS = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
# The EKS Pod Identity agent serves credentials on this link-local address (IPv4).
POD_IDENTITY_AGENT = {"cidr": "169.254.170.23/32", "port": 80}
CLUSTER_ADMIN_POLICY = "AmazonEKSClusterAdminPolicy"
# Workload options the component sets itself.
_RESERVED_WORKLOAD_OPTIONS = ("provider", "context", "service", "profile")


def _same_account_admin(principal: str, account: str, index: int) -> str:
    """A cluster-admin principal of the deploying account; another account's role is refused."""
    owner = principal.split(":")[4] if principal.count(":") >= 5 else ""
    if owner and owner != account:
        raise SpecError(
            f"admin_principal_arns[{index}]",
            f"{principal} belongs to account {owner}, not the cluster's ({account}): cluster-admin is never granted "
            "across accounts; name a role of this account that the other account's operators assume",
        )
    return principal


@dataclass(frozen=True, kw_only=True)
class EksServiceArgs(PatternArgs):
    """Options of the kubernetes pattern (see components/aws/README.md).

    kubernetes_version: EKS control-plane version.
    instance_type: node instance type; None picks the smallest m7i (or GPU family) that fits one replica.
    node_min / node_max: node group bounds; None derives them from replicas (node_min never below the zones).
    node_volume_gb: encrypted gp3 root (or Bottlerocket data) volume size.
    endpoint_public_access_cidrs: make the API endpoint public, reachable only from these CIDRs.
    api_access_cidrs: CIDRs inside the VPC (CI runners, VPN) allowed to the private API endpoint.
    admin_principal_arns: IAM roles/users granted cluster admin through access entries; None grants the
        identity running `pulumi up` (resolved from its session), never through bootstrap permissions.
    cluster_name: deploy onto your EKS cluster (no cluster, node group or add-ons are created).
    workload_role_arn: bring your own Pod Identity role for the workload.
    workload: options passed to ModelWorkload (namespace, ingress_class, gateway, ...).
    """

    kubernetes_version: str = "1.33"
    instance_type: str | None = None
    node_min: int | None = None
    node_max: int | None = None
    node_volume_gb: int = 100
    # The workload carries gRPC in-cluster (ModelWorkload: a grpc Service port with appProtocol grpc).
    GRPC_REFUSAL: ClassVar[str | None] = None
    endpoint_public_access_cidrs: tuple[str, ...] = ()
    api_access_cidrs: tuple[str, ...] = ()
    admin_principal_arns: tuple[str, ...] | None = None
    cluster_name: str | None = None
    workload_role_arn: str | None = None
    workload: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        service = self.service
        check_str(
            "kubernetes_version",
            self.kubernetes_version,
            pattern=r"1\.\d{2}",
            description="an EKS Kubernetes version such as 1.33",
        )
        if self.instance_type is not None:
            check_instance_type(
                "instance_type", self.instance_type, service, sagemaker=False, reserve_cpu=NODE_RESERVED_CPU
            )
        else:
            pick_instance(service, EC2_SHAPES, "instance_type", reserve_cpu=NODE_RESERVED_CPU)
        if service.resources.accelerator is not None and is_arm_instance(self.resolved_instance_type):
            raise SpecError("instance_type", "the EKS GPU AMIs are x86_64; choose an x86_64 GPU instance type")
        check_int("node_volume_gb", self.node_volume_gb, minimum=20, maximum=16384)
        for key in ("endpoint_public_access_cidrs", "api_access_cidrs"):
            cidrs = check_str_list(key, getattr(self, key))
            for index, cidr in enumerate(cidrs):
                try:
                    ipaddress.ip_network(cidr)
                except ValueError:
                    raise SpecError(f"{key}[{index}]", f"must be an IPv4 CIDR (got {cidr!r})") from None
            internet = open_to_internet(cidrs)
            if internet:
                raise SpecError(
                    key,
                    f"admits {internet}: the cluster API must be allow-listed to the operators' own ranges, "
                    "never opened to the internet (the CIDRs are judged together, as a set)",
                )
            object.__setattr__(self, key, cidrs)
        if self.admin_principal_arns is not None:
            object.__setattr__(
                self, "admin_principal_arns", check_principals("admin_principal_arns", self.admin_principal_arns)
            )
            for index, principal in enumerate(self.admin_principal_arns):
                if principal.endswith(":root"):
                    raise SpecError(
                        f"admin_principal_arns[{index}]",
                        "an account root grants cluster-admin to every identity of that account: name the "
                        "operators' role instead",
                    )
        check_optional_str(
            "cluster_name",
            self.cluster_name,
            pattern=r"[0-9A-Za-z][A-Za-z0-9_-]{0,99}",
            description="an EKS cluster name",
        )
        self._check_role_arn("workload_role_arn")
        if self.log_group_name is not None:
            raise SpecError(
                "log_group_name",
                "EKS writes control-plane logs to /aws/eks/<cluster>/cluster, which "
                "this component creates encrypted; the option does not apply",
            )
        self._check_nodes()
        self.workload_args(None)

    def _check_nodes(self) -> None:
        zones = self.node_zone_count
        if self.node_min is not None:
            check_int("node_min", self.node_min, minimum=zones, maximum=450)
        if self.node_max is not None:
            check_int("node_max", self.node_max, minimum=max(self.node_min or 1, 1), maximum=450)
        if self.node_min is not None and self.node_max is not None and self.node_max < self.node_min:
            raise SpecError("node_max", f"must be >= node_min ({self.node_min})")

    @property
    def node_zone_count(self) -> int:
        return len(self.private_subnet_ids) if self.vpc_id is not None else self.zone_count

    @property
    def resolved_instance_type(self) -> str:
        return (
            self.instance_type
            or pick_instance(self.service, EC2_SHAPES, "instance_type", reserve_cpu=NODE_RESERVED_CPU).name
        )

    @property
    def pods_per_node(self) -> int:
        res = self.service.resources
        shape = instance_shape(self.resolved_instance_type)
        if shape is None:
            return 1
        # Leave room for the kubelet, the DaemonSets (CNI, kube-proxy, Pod Identity agent) and CoreDNS.
        by_cpu = math.floor((shape.vcpus - NODE_RESERVED_CPU) / res.cpu)
        by_memory = math.floor((shape.memory_gib * 1024 - HEADROOM_MIB) / res.memory_mib)
        by_gpu = (shape.gpus // res.accelerator.count) if res.accelerator is not None else by_cpu
        return max(1, min(by_cpu, by_memory, by_gpu))

    @property
    def node_bounds(self) -> tuple[int, int]:
        per_node = self.pods_per_node
        low = self.node_min or max(self.node_zone_count, math.ceil(self.service.min_replicas / per_node))
        # One node of surge room for rolling updates.
        high = self.node_max or max(low, math.ceil(self.service.scaling.max_replicas / per_node) + 1)
        return low, high

    def workload_args(self, provider: k8s.Provider | None) -> ModelWorkloadArgs:
        """The ModelWorkload args; building them validates ``workload`` and the service for Kubernetes."""
        options = dict(self.workload)
        for key in options:
            if key in _RESERVED_WORKLOAD_OPTIONS:
                raise SpecError(f"workload.{key}", "is set by the EKS component")
        egress = [POD_IDENTITY_AGENT, *options.pop("identity_egress", ())]
        with under("workload"):
            known = set(ModelWorkloadArgs.option_names())
            for key in options:
                if key not in known:
                    raise SpecError(key, f"unknown key; accepted keys: {', '.join(sorted(known))}")
            return ModelWorkloadArgs(
                service=self.service, profile=self.profile, provider=provider, identity_egress=egress, **options
            )


class EksService(pulumi.ComponentResource):
    """EKS cluster, node group, add-ons, access entries, Pod Identity, then the ModelWorkload."""

    args_type = EksServiceArgs
    provider_for_target = staticmethod(provider_for_target)

    endpoint: pulumi.Output[str]
    identity: pulumi.Output[str]

    def __init__(self, name: str, args: EksServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(
            "modelport:aws:EksService",
            name,
            component_props(args),
            merge_options(opts, transformations=[tag_children(args.service)]),
        )
        self._args = args
        self._name = name
        svc = args.service
        creating = args.cluster_name is None
        self.cluster_name = stack_unique_name(name, 100) if creating else str(args.cluster_name)
        # On an existing cluster the foundation keeps only the key, registry and bucket: no VPC, no log group.
        self.foundation = foundation_for(
            self,
            name,
            args,
            autoscaling_key_grant=creating,
            needs_network=creating,
            needs_log_group=False,
            interface_endpoints=(*BASE_INTERFACE_ENDPOINTS, "eks", "eks-auth"),
        )
        ctx: AwsContext = self.foundation.context

        self.cluster: aws.eks.Cluster | None = None
        self.node_group: aws.eks.NodeGroup | None = None
        self.addons: dict[str, aws.eks.Addon] = {}
        ready: list[pulumi.Resource] = []
        if creating:
            self._cluster(ctx)
            assert self.cluster is not None
            endpoint, ca_data, cluster_arn = (
                self.cluster.endpoint,
                self.cluster.certificate_authority.data,
                self.cluster.arn,
            )
            ready += self._access(ctx)
            ready += self._nodes(ctx)
        else:
            existing = aws.eks.get_cluster_output(name=self.cluster_name, opts=pulumi.InvokeOutputOptions(parent=self))
            endpoint = existing.endpoint
            ca_data = existing.certificate_authorities.apply(lambda cas: cas[0].data)
            cluster_arn = existing.arn
        self.cluster_arn = cluster_arn

        kubeconfig = pulumi.Output.json_dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": self.cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}
                ],
                "contexts": [
                    {"name": self.cluster_name, "context": {"cluster": self.cluster_name, "user": self.cluster_name}}
                ],
                "current-context": self.cluster_name,
                "users": [
                    {
                        "name": self.cluster_name,
                        "user": {
                            "exec": {
                                "apiVersion": "client.authentication.k8s.io/v1beta1",
                                "command": "aws",
                                "args": [
                                    "eks",
                                    "get-token",
                                    "--cluster-name",
                                    self.cluster_name,
                                    "--region",
                                    ctx.region,
                                    "--output",
                                    "json",
                                ],
                                "interactiveMode": "Never",
                            }
                        },
                    }
                ],
            }
        )
        self.kubernetes_provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=kubeconfig,
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=ready),
        )

        workload_args = args.workload_args(self.kubernetes_provider)
        self.workload_role, self.workload_role_arn = self._workload_role(ctx, workload_args.namespace_name)
        self.pod_identity = aws.eks.PodIdentityAssociation(
            f"{name}-pod-identity",
            cluster_name=self.cluster.name if self.cluster is not None else self.cluster_name,
            namespace=workload_args.namespace_name,
            service_account=svc.name,
            role_arn=self.workload_role_arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=ready),
        )
        self.workload = ModelWorkload(
            f"{name}-workload",
            workload_args,
            pulumi.ResourceOptions(parent=self, depends_on=[self.pod_identity]),
        )

        self.endpoint = self.workload.endpoint
        self.identity = self.workload_role_arn
        self.register_outputs(
            {
                "endpoint": self.endpoint,
                "identity": self.identity,
                "cluster_name": self.cluster_name,
                "cluster_arn": self.cluster_arn,
            }
        )

    # --- cluster ---

    def _cluster(self, ctx: AwsContext) -> None:
        args = self._args
        name = self._name
        foundation = self.foundation
        keys = [foundation.kms_key_arn] if foundation.kms_key_arn is not None else []
        self.cluster_role, _ = role_with_policy(
            f"{name}-cluster-role",
            base_name=f"{name}-cluster",
            trust=service_trust(ctx, "eks"),
            statements=kms_statement(
                "EncryptKubernetesSecrets", keys, ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"]
            ),
            managed_policy_arns=[managed_policy(ctx, "AmazonEKSClusterPolicy")],
            description=f"EKS control plane of {name}",
            parent=self,
        )
        public = bool(args.endpoint_public_access_cidrs)
        vpc_config: dict[str, Any] = {
            "subnet_ids": foundation.private_subnet_ids,
            "endpoint_private_access": True,
            "endpoint_public_access": public,
        }
        if public:
            vpc_config["public_access_cidrs"] = list(args.endpoint_public_access_cidrs)
        # EKS writes control-plane logs to this fixed name; created first, it is encrypted and has a retention.
        self.control_plane_logs = foundation.encrypted_log_group(
            f"{name}-control-plane-logs", f"/aws/eks/{self.cluster_name}/cluster", parent=self
        )
        cluster_args: dict[str, Any] = {}
        if foundation.kms_key_arn is not None:
            cluster_args["encryption_config"] = {
                "provider": {"key_arn": foundation.kms_key_arn},
                "resources": ["secrets"],
            }
        self.cluster = aws.eks.Cluster(
            f"{name}-cluster",
            name=self.cluster_name,
            version=args.kubernetes_version,
            role_arn=self.cluster_role.arn,
            vpc_config=vpc_config,
            access_config={"authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": False},
            enabled_cluster_log_types=CONTROL_PLANE_LOGS,
            kubernetes_network_config={"ip_family": "ipv4"},
            upgrade_policy={"support_type": "STANDARD"},
            # The managed add-ons below replace the self-managed defaults.
            bootstrap_self_managed_addons=False,
            deletion_protection=args.profile.deletion_protection,
            **cluster_args,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[foundation, self.control_plane_logs]),
        )
        for index, cidr in enumerate(args.api_access_cidrs):
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-api-access-{index}",
                security_group_id=self.cluster.vpc_config.cluster_security_group_id,
                ip_protocol="tcp",
                from_port=443,
                to_port=443,
                cidr_ipv4=cidr,
                description="private Kubernetes API access",
                opts=pulumi.ResourceOptions(parent=self),
            )

    def _access(self, ctx: AwsContext) -> list[pulumi.Resource]:
        """Cluster-admin access entries: never the creator's implicit bootstrap admin."""
        args = self._args
        name = self._name
        assert self.cluster is not None
        principals: list[pulumi.Input[str]]
        if args.admin_principal_arns is not None:
            principals = list(args.admin_principal_arns)
        else:
            invoke = pulumi.InvokeOutputOptions(parent=self)
            caller = aws.get_caller_identity_output(opts=invoke)
            principals = [aws.iam.get_session_context_output(arn=caller.arn, opts=invoke).issuer_arn]
        created: list[pulumi.Resource] = []
        for index, principal in enumerate(principals):
            principal = pulumi.Output.all(principal, ctx.account_id).apply(
                lambda pair, index=index: _same_account_admin(pair[0], pair[1], index)
            )
            entry = aws.eks.AccessEntry(
                f"{name}-admin-{index}",
                cluster_name=self.cluster.name,
                principal_arn=principal,
                type="STANDARD",
                opts=pulumi.ResourceOptions(parent=self),
            )
            created.append(
                aws.eks.AccessPolicyAssociation(
                    f"{name}-admin-{index}-policy",
                    cluster_name=self.cluster.name,
                    principal_arn=entry.principal_arn,
                    policy_arn=pulumi.Output.concat(
                        "arn:", ctx.partition, ":eks::aws:cluster-access-policy/", CLUSTER_ADMIN_POLICY
                    ),
                    access_scope={"type": "cluster"},
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
        return created

    def _pod_role(
        self,
        resource: str,
        base: str,
        ctx: AwsContext,
        namespace: str,
        service_account: str,
        *,
        managed: list[pulumi.Input[str]] | None = None,
        description: str,
    ) -> aws.iam.Role:
        cluster = self.cluster.name if self.cluster is not None else self.cluster_name
        trust = service_trust(
            ctx,
            "pods.eks",
            extra_actions=["sts:TagSession"],
            condition={
                "StringEquals": {
                    "aws:SourceAccount": ctx.account_id,
                    "aws:RequestTag/eks-cluster-name": cluster,
                    "aws:RequestTag/kubernetes-namespace": namespace,
                    "aws:RequestTag/kubernetes-service-account": service_account,
                }
            },
        )
        role, _ = role_with_policy(
            resource,
            base_name=base,
            trust=trust,
            statements=[],
            managed_policy_arns=managed or [],
            description=description,
            parent=self,
        )
        return role

    def _nodes(self, ctx: AwsContext) -> list[pulumi.Resource]:
        args = self._args
        name = self._name
        svc = args.service
        foundation = self.foundation
        assert self.cluster is not None
        addon_opts = pulumi.ResourceOptions(parent=self)
        cni_role = self._pod_role(
            f"{name}-cni-role",
            f"{name}-cni",
            ctx,
            "kube-system",
            "aws-node",
            managed=[managed_policy(ctx, "AmazonEKS_CNI_Policy")],
            description=f"Amazon VPC CNI of {name} (Pod Identity)",
        )
        self.addons["eks-pod-identity-agent"] = self._addon("eks-pod-identity-agent", addon_opts)
        self.addons["kube-proxy"] = self._addon("kube-proxy", addon_opts)
        self.addons["vpc-cni"] = self._addon(
            "vpc-cni",
            pulumi.ResourceOptions(parent=self, depends_on=[self.addons["eks-pod-identity-agent"]]),
            configuration_values='{"enableNetworkPolicy": "true"}',
            pod_identity_associations=[{"role_arn": cni_role.arn, "service_account": "aws-node"}],
        )

        node_role, _ = role_with_policy(
            f"{name}-node-role",
            base_name=f"{name}-node",
            trust=service_trust(ctx, "ec2"),
            statements=[],
            managed_policy_arns=[
                managed_policy(ctx, "AmazonEKSWorkerNodePolicy"),
                managed_policy(ctx, "AmazonEC2ContainerRegistryPullOnly"),
            ],
            description=f"EKS nodes of {name}: join the cluster, pull images",
            parent=self,
        )
        self.node_role = node_role
        gpu = svc.resources.accelerator is not None
        instance_type = args.resolved_instance_type
        if gpu:
            # Bottlerocket's NVIDIA variant ships the driver and the device plugin that exposes nvidia.com/gpu.
            ami_type = "BOTTLEROCKET_x86_64_NVIDIA"
            volumes = [("/dev/xvda", None), ("/dev/xvdb", args.node_volume_gb)]
        else:
            ami_type = "AL2023_ARM_64_STANDARD" if is_arm_instance(instance_type) else "AL2023_x86_64_STANDARD"
            volumes = [("/dev/xvda", args.node_volume_gb)]
        mappings = []
        for device, size in volumes:
            ebs: dict[str, Any] = {"volume_type": "gp3", "encrypted": "true", "delete_on_termination": "true"}
            if size is not None:
                ebs["volume_size"] = size
            if foundation.kms_key_arn is not None:
                ebs["kms_key_id"] = foundation.kms_key_arn
            mappings.append({"device_name": device, "ebs": ebs})
        self.node_launch_template = aws.ec2.LaunchTemplate(
            f"{name}-nodes-lt",
            name_prefix=physical_name(f"{name}-nodes", 100, suffix="-"),
            description=f"EKS nodes of {name}: IMDSv2 only, hop limit 1, encrypted volumes",
            metadata_options={
                "http_endpoint": "enabled",
                "http_tokens": "required",
                "http_put_response_hop_limit": 1,
                "instance_metadata_tags": "disabled",
            },
            block_device_mappings=mappings,
            tag_specifications=[
                {"resource_type": "instance", "tags": {"Name": f"{name}-node"}},
                {"resource_type": "volume", "tags": {"Name": f"{name}-node"}},
            ],
            update_default_version=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        low, high = args.node_bounds
        self.node_group = aws.eks.NodeGroup(
            f"{name}-nodes",
            cluster_name=self.cluster.name,
            node_group_name_prefix=physical_name(f"{name}-nodes", 37, suffix="-"),
            node_role_arn=node_role.arn,
            subnet_ids=foundation.private_subnet_ids,
            instance_types=[instance_type],
            ami_type=ami_type,
            capacity_type="ON_DEMAND",
            scaling_config={"min_size": low, "max_size": high, "desired_size": low},
            update_config={"max_unavailable": 1},
            node_repair_config={"enabled": True},
            launch_template={
                "id": self.node_launch_template.id,
                "version": self.node_launch_template.latest_version.apply(str),
            },
            labels={"modelport.dev/service": svc.name},
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[self.addons["vpc-cni"], self.addons["kube-proxy"], self.addons["eks-pod-identity-agent"]],
                ignore_changes=["scalingConfig.desiredSize"],
            ),
        )
        # CoreDNS needs nodes to become ACTIVE.
        self.addons["coredns"] = self._addon(
            "coredns", pulumi.ResourceOptions(parent=self, depends_on=[self.node_group])
        )
        return [self.node_group, self.addons["coredns"]]

    def _addon(self, addon: str, opts: pulumi.ResourceOptions, **extra: Any) -> aws.eks.Addon:
        assert self.cluster is not None
        return aws.eks.Addon(
            f"{self._name}-{addon}",
            cluster_name=self.cluster.name,
            addon_name=addon,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="PRESERVE",
            **extra,
            opts=opts,
        )

    def _workload_role(self, ctx: AwsContext, namespace: str) -> tuple[aws.iam.Role | None, pulumi.Output[str]]:
        args = self._args
        if args.workload_role_arn is not None:
            return None, pulumi.Output.from_input(args.workload_role_arn)
        # The model server calls no AWS API: the role is its identity and carries no permissions.
        role = self._pod_role(
            f"{self._name}-workload-role",
            f"{self._name}-workload",
            ctx,
            namespace,
            args.service.name,
            description=f"Model server pods of {self._name} (Pod Identity)",
        )
        return role, role.arn
