"""Stack rules that join resources: autoscalers for every serving workload, PDBs, default-deny, WAF, bucket guards."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from modelport.networks import open_to_internet
from pulumi_policy import PolicyResource, StackValidationArgs
from pulumi_policy.proxy import UnknownValueError

from . import kubernetes as k8s
from .base import ADVISORY, MANDATORY, collect, stack_rule
from .props import get, is_set, is_true, items, number, peek, policy_statements, strings

Finding = tuple[str, "str | None"]


def of_type(resources: Iterable[PolicyResource], *types: str) -> list[PolicyResource]:
    wanted = set(types)
    return [r for r in resources if r.resource_type in wanted]


def depends_on(resource: PolicyResource, target: PolicyResource) -> bool:
    """Whether ``resource`` takes an input from ``target`` (the engine's dependency graph)."""
    if any(d.urn == target.urn for d in resource.dependencies):
        return True
    return any(d.urn == target.urn for deps in resource.property_dependencies.values() for d in deps)


def identities(resource: PolicyResource) -> set[str]:
    """The names, ids and ARNs other resources may use to refer to ``resource`` (unknown ones are skipped)."""
    found = {resource.name}
    for path in (("name",), ("arn",), ("id",), ("selfLink",), ("bucket",), ("metadata", "name")):
        try:
            value = get(resource.props, *path)
        except UnknownValueError:
            continue
        if isinstance(value, str) and value:
            found.add(value)
    return found


def refers_to(resource: PolicyResource, target: PolicyResource, *keys: str) -> bool:
    """``resource`` depends on ``target`` or names it in one of ``keys``."""
    if depends_on(resource, target):
        return True
    known = identities(target)
    for key in keys:
        try:
            value = get(resource.props, *key.split("."))
        except UnknownValueError:
            # An unknown value comes from some resource's output, which would be a dependency; it is not
            # ``target``'s, so it cannot name ``target``.
            continue
        if isinstance(value, str) and (
            value in known or any(value.endswith(f"/{k}") or f"/{k}/" in value for k in known)
        ):
            return True
    return False


class References:
    """``partners`` indexed by what ``refers_to(partner, target, *keys)`` looks at, so that finding the partners
    of each target is a lookup instead of a scan: joins stay linear as stacks grow (bench/plan_scale.py).

    ``refers_to`` holds when the partner depends on the target, or when a value under ``keys`` equals one of the
    target's identities, ends with ``/<identity>`` or contains ``/<identity>/``; every such token of each value is
    indexed, so ``referring(target)`` returns exactly the partners ``refers_to`` accepts.
    """

    def __init__(self, partners: Iterable[PolicyResource], *keys: str) -> None:
        self._by_urn: dict[str, list[PolicyResource]] = {}
        self._by_token: dict[str, list[PolicyResource]] = {}
        self._order: dict[int, int] = {}
        for position, partner in enumerate(partners):
            self._order[id(partner)] = position
            urns = {d.urn for d in partner.dependencies}
            urns |= {d.urn for deps in partner.property_dependencies.values() for d in deps}
            for urn in urns:
                self._by_urn.setdefault(urn, []).append(partner)
            tokens: set[str] = set()
            for key in keys:
                try:
                    value = get(partner.props, *key.split("."))
                except UnknownValueError:
                    continue
                if isinstance(value, str) and value:
                    tokens |= _reference_tokens(value)
            for token in tokens:
                self._by_token.setdefault(token, []).append(partner)

    def referring(self, target: PolicyResource) -> list[PolicyResource]:
        """The partners that refer to ``target``, in their original order."""
        found = {id(p): p for p in self._by_urn.get(target.urn, ())}
        for name in identities(target):
            found.update((id(p), p) for p in self._by_token.get(name, ()))
        return sorted(found.values(), key=lambda p: self._order[id(p)])


def _reference_tokens(value: str) -> set[str]:
    """Every ``k`` with ``value == k``, ``value.endswith("/" + k)`` or ``"/" + k + "/" in value``."""
    tokens = {value}
    slashes = [index for index, char in enumerate(value) if char == "/"]
    for n, start in enumerate(slashes):
        tokens.add(value[start + 1 :])
        tokens.update(value[start + 1 : end] for end in slashes[n + 1 :])
    tokens.discard("")
    return tokens


def _missing_references(
    subjects: list[PolicyResource],
    partners: list[PolicyResource],
    key: str,
    message: Callable[[PolicyResource], str],
) -> Iterator[Finding]:
    """``_missing`` for joins on ``refers_to(partner, subject, key)``, through an index."""
    index = References(partners, key)
    for subject in subjects:
        if not index.referring(subject):
            yield message(subject), subject.urn


def _missing(
    args: StackValidationArgs,
    subjects: list[PolicyResource],
    partners: list[PolicyResource],
    matches: Callable[[PolicyResource, PolicyResource], bool],
    message: Callable[[PolicyResource], str],
) -> Iterator[Finding]:
    for subject in subjects:
        if not any(matches(partner, subject) for partner in partners):
            yield message(subject), subject.urn


# --- kubernetes joins -------------------------------------------------------------------------------------

KEDA_SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


def _namespace(resource: PolicyResource) -> str:
    return str(get(resource.props, "metadata", "namespace", default="default"))


def _k8s_name(resource: PolicyResource) -> str | None:
    name = get(resource.props, "metadata", "name")
    return str(name) if name else None


def _pod_labels(resource: PolicyResource) -> Mapping[str, Any]:
    path = k8s.POD_TEMPLATE_PATHS.get(resource.resource_type, ())
    return get(resource.props, *path, "metadata", "labels", default={})


def _scales(scaler: PolicyResource, workload: PolicyResource) -> bool:
    if _namespace(scaler) != _namespace(workload):
        return False
    ref = get(scaler.props, "spec", "scaleTargetRef", default={})
    kind = get(ref, "kind", default="Deployment")
    return kind == workload.resource_type.rsplit(":", 1)[-1] and (
        get(ref, "name") == _k8s_name(workload) or depends_on(scaler, workload)
    )


@stack_rule(
    name="autoscaler-kubernetes",
    description="Every Deployment and StatefulSet is scaled by a HorizontalPodAutoscaler (or a KEDA ScaledObject).",
    resource_types=(*k8s.SERVING_WORKLOADS, k8s.HPA, KEDA_SCALED_OBJECT),
    cloud="kubernetes",
    concern="autoscaling",
    level=MANDATORY,
    severity="high",
    remediation="Create an autoscaling/v2 HPA whose scaleTargetRef names the workload (ModelWorkload does).",
)
def autoscaler_kubernetes(args: StackValidationArgs) -> Iterator[Finding]:
    workloads = of_type(args.resources, *k8s.SERVING_WORKLOADS)
    scalers = of_type(args.resources, k8s.HPA, KEDA_SCALED_OBJECT)
    yield from _missing(
        args, workloads, scalers, _scales, lambda w: f"{w.resource_type.rsplit(':', 1)[-1]} {w.name} has no autoscaler"
    )


# Tracks of one service (stable, canary) share every pod label but this one.
TRACK_LABEL = "modelport.dev/track"


def _service_key(workload: PolicyResource) -> tuple[str, ...]:
    labels = _pod_labels(workload)
    identity = sorted((str(k), str(labels.get(k))) for k in labels if k != TRACK_LABEL)
    if not identity or TRACK_LABEL not in labels:
        return (_namespace(workload), workload.urn)
    return (_namespace(workload), *(f"{k}={v}" for k, v in identity))


def _minimum_replicas(workload: PolicyResource, scalers: list[PolicyResource]) -> float:
    for scaler in scalers:
        if _scales(scaler, workload):
            minimum = number(get(scaler.props, "spec", "minReplicas"))
            return minimum if minimum is not None else 1
    replicas = number(get(workload.props, "spec", "replicas"))
    return replicas if replicas is not None else 1


@stack_rule(
    name="k8s-min-replicas-prod",
    description="In prod, every service keeps at least 2 replicas across its tracks (HPA minReplicas, or replicas).",
    resource_types=(*k8s.SERVING_WORKLOADS, k8s.HPA),
    cloud="kubernetes",
    concern="availability",
    level=MANDATORY,
    severity="high",
    prod_only=True,
    remediation="Set scaling.min_replicas to 2 or more (the prod profile's default is 3); a canary track may run "
    "one replica while the stable track runs the rest.",
)
def min_replicas_prod(args: StackValidationArgs) -> Iterator[Finding]:
    scalers = of_type(args.resources, k8s.HPA, KEDA_SCALED_OBJECT)
    services: dict[tuple[str, ...], list[PolicyResource]] = {}
    for workload in of_type(args.resources, *k8s.SERVING_WORKLOADS):
        services.setdefault(_service_key(workload), []).append(workload)
    for workloads in services.values():
        total = sum(_minimum_replicas(w, scalers) for w in workloads)
        if total < 2:
            names = ", ".join(w.name for w in workloads)
            yield f"{names} keep(s) {int(total)} replica(s) at minimum; prod needs at least 2", workloads[0].urn


def _selects(pdb: PolicyResource, workload: PolicyResource) -> bool:
    if _namespace(pdb) != _namespace(workload):
        return False
    wanted = get(pdb.props, "spec", "selector", "matchLabels", default={})
    labels = _pod_labels(workload)
    return bool(wanted) and all(labels.get(k) == wanted.get(k) for k in wanted)


@stack_rule(
    name="k8s-pdb-required",
    description="Every Deployment and StatefulSet has a PodDisruptionBudget selecting its pods.",
    resource_types=(*k8s.SERVING_WORKLOADS, k8s.PDB),
    cloud="kubernetes",
    concern="availability",
    level=MANDATORY,
    severity="medium",
    remediation="Create a policy/v1 PodDisruptionBudget with maxUnavailable: 1 whose selector matches the pods.",
)
def pdb_required(args: StackValidationArgs) -> Iterator[Finding]:
    workloads = of_type(args.resources, *k8s.SERVING_WORKLOADS)
    budgets = of_type(args.resources, k8s.PDB)
    yield from _missing(
        args,
        workloads,
        budgets,
        _selects,
        lambda w: f"{w.resource_type.rsplit(':', 1)[-1]} {w.name} has no PodDisruptionBudget",
    )


def _default_deny(policy: PolicyResource, direction: str, workload: PolicyResource) -> bool:
    """Whether ``policy`` denies ``direction`` by default for the pods of ``workload``: an empty pod selector
    (every pod of the namespace) or matchLabels the pods carry (in a namespace shared with others)."""
    if _namespace(policy) != _namespace(workload):
        return False
    spec = get(policy.props, "spec", default={})
    selector = get(spec, "podSelector", default={})
    if items(get(selector, "matchExpressions")):
        return False
    wanted = get(selector, "matchLabels", default={})
    labels = _pod_labels(workload)
    if wanted and not all(labels.get(k) == wanted.get(k) for k in wanted):
        return False
    types = strings(get(spec, "policyTypes"))
    rules_key = direction.lower()
    if not types:
        types = ["Ingress"] + (["Egress"] if get(spec, "egress") is not None else [])
    return direction in types and not items(get(spec, rules_key))


def _default_deny_findings(args: StackValidationArgs, direction: str) -> Iterator[Finding]:
    policies = of_type(args.resources, NETWORK_POLICY)
    for workload in of_type(args.resources, *k8s.WORKLOADS):
        if not any(_default_deny(p, direction, workload) for p in policies):
            yield (
                f"{workload.name} in namespace {_namespace(workload)} runs pods without a default-deny "
                f"{direction.lower()} NetworkPolicy selecting them",
                workload.urn,
            )


@stack_rule(
    name="k8s-network-policy-default-deny-ingress",
    description="Every namespace that runs pods has a default-deny ingress NetworkPolicy.",
    resource_types=(*k8s.WORKLOADS, NETWORK_POLICY),
    cloud="kubernetes",
    concern="pod-security",
    level=MANDATORY,
    severity="high",
    anchor="CIS Kubernetes 5.3.2",
    remediation="Add a NetworkPolicy with podSelector: {} and policyTypes [Ingress] (plus explicit allows).",
)
def network_policy_default_deny_ingress(args: StackValidationArgs) -> Iterator[Finding]:
    yield from _default_deny_findings(args, "Ingress")


@stack_rule(
    name="k8s-network-policy-default-deny-egress",
    description="Every namespace that runs pods should deny egress by default, allowing DNS and named peers.",
    resource_types=(*k8s.WORKLOADS, NETWORK_POLICY),
    cloud="kubernetes",
    concern="pod-security",
    level=ADVISORY,
    severity="medium",
    anchor="CIS Kubernetes 5.3.2",
    remediation="Add policyTypes [Egress] to the default-deny NetworkPolicy and allow DNS explicitly.",
)
def network_policy_default_deny_egress(args: StackValidationArgs) -> Iterator[Finding]:
    yield from _default_deny_findings(args, "Egress")


# --- AWS joins --------------------------------------------------------------------------------------------

APP_TARGET = "aws:appautoscaling/target:Target"
APP_POLICY = "aws:appautoscaling/policy:Policy"
ECS_SERVICE = "aws:ecs/service:Service"
ASG = "aws:autoscaling/group:Group"
ASG_POLICY = "aws:autoscaling/policy:Policy"
SAGEMAKER_ENDPOINT = "aws:sagemaker/endpoint:Endpoint"
LAMBDA_PROVISIONED = "aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig"
LOAD_BALANCERS = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
WAF_ASSOCIATION = "aws:wafv2/webAclAssociation:WebAclAssociation"
BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
BUCKET_SSE = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
BUCKET_PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
VPC = "aws:ec2/vpc:Vpc"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
KMS_KEY = "aws:kms/key:Key"
KMS_KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"


def _scaled_targets(args: StackValidationArgs, namespace: str) -> list[tuple[PolicyResource, bool]]:
    """Application Auto Scaling targets of ``namespace`` and whether a scaling policy drives each."""
    policies = of_type(args.resources, APP_POLICY)
    found = []
    for target in of_type(args.resources, APP_TARGET):
        if get(target.props, "serviceNamespace") != namespace:
            continue
        resource_id = get(target.props, "resourceId")
        driven = any(
            depends_on(p, target) or (resource_id and get(p.props, "resourceId") == resource_id) for p in policies
        )
        found.append((target, driven))
    return found


def _app_autoscaling_findings(
    args: StackValidationArgs, subjects: list[PolicyResource], namespace: str, label: str
) -> Iterator[Finding]:
    targets = _scaled_targets(args, namespace)
    for subject in subjects:
        mine = [(t, driven) for t, driven in targets if refers_to(t, subject, "resourceId")]
        if not mine:
            yield f"{label} {subject.name} has no Application Auto Scaling target", subject.urn
        elif not any(driven for _, driven in mine):
            yield f"{label} {subject.name} has a scaling target but no scaling policy", subject.urn


EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"


def _minimum_capacity(resource: PolicyResource) -> tuple[str, float | None]:
    """What a capacity resource keeps at minimum, and under which property."""
    props = resource.props
    if resource.resource_type == ASG:
        return "minSize", number(props.get("minSize"))
    if resource.resource_type == EKS_NODE_GROUP:
        return "scalingConfig.minSize", number(get(props, "scalingConfig", "minSize"))
    if resource.resource_type == ECS_SERVICE:
        return "desiredCount", number(props.get("desiredCount"))
    return "minCapacity", number(props.get("minCapacity"))


def _service_of(resource: PolicyResource) -> str:
    """The component a capacity resource serves: its nearest modelport component ancestor, else itself."""
    current = resource.parent
    while current is not None:
        if str(current.resource_type).startswith("modelport:"):
            return current.urn
        current = current.parent
    return resource.urn


@stack_rule(
    name="aws-min-capacity-prod",
    description="In prod, every service keeps at least two instances or tasks across its tracks (Auto Scaling "
    "groups, ECS services, node groups and ECS/SageMaker/EC2 scaling targets, summed per service).",
    resource_types=(ASG, ECS_SERVICE, APP_TARGET, EKS_NODE_GROUP),
    cloud="aws",
    concern="availability",
    level=MANDATORY,
    severity="high",
    prod_only=True,
    remediation="Set scaling.min_replicas to 2 or more (the prod profile's default is 3); a canary track may run "
    "one instance while the stable track runs the rest.",
)
def min_capacity_prod(args: StackValidationArgs) -> Iterator[Finding]:
    groups: dict[tuple[str, str, str], list[tuple[PolicyResource, str, float]]] = {}
    for resource in of_type(args.resources, ASG, ECS_SERVICE, APP_TARGET, EKS_NODE_GROUP):
        namespace = str(get(resource.props, "serviceNamespace", default=""))
        if resource.resource_type == APP_TARGET and namespace not in ("ecs", "sagemaker", "ec2"):
            continue  # provisioned concurrency is measured in executions, not instances
        what, value = _minimum_capacity(resource)
        if value is None:
            continue
        key = (_service_of(resource), resource.resource_type, namespace)
        groups.setdefault(key, []).append((resource, what, value))
    for members in groups.values():
        total = sum(value for _, _, value in members)
        if total < 2:
            shown = ", ".join(f"{r.name} {what} {int(value)}" for r, what, value in members)
            yield f"the service keeps {int(total)} at minimum ({shown}); prod needs at least 2", members[0][0].urn


@stack_rule(
    name="autoscaler-aws-ecs",
    description="Every ECS service has an Application Auto Scaling target driven by a scaling policy.",
    resource_types=(ECS_SERVICE, APP_TARGET, APP_POLICY),
    cloud="aws",
    concern="autoscaling",
    level=MANDATORY,
    severity="high",
    remediation="Register the service's DesiredCount with appautoscaling.Target and add a target-tracking Policy.",
)
def autoscaler_aws_ecs(args: StackValidationArgs) -> Iterator[Finding]:
    yield from _app_autoscaling_findings(args, of_type(args.resources, ECS_SERVICE), "ecs", "ECS service")


@stack_rule(
    name="autoscaler-aws-sagemaker",
    description="Every SageMaker endpoint has variant autoscaling driven by a scaling policy.",
    resource_types=(SAGEMAKER_ENDPOINT, APP_TARGET, APP_POLICY),
    cloud="aws",
    concern="autoscaling",
    level=MANDATORY,
    severity="high",
    remediation="Register each variant's DesiredInstanceCount with appautoscaling.Target and add a Policy.",
)
def autoscaler_aws_sagemaker(args: StackValidationArgs) -> Iterator[Finding]:
    yield from _app_autoscaling_findings(
        args, of_type(args.resources, SAGEMAKER_ENDPOINT), "sagemaker", "SageMaker endpoint"
    )


@stack_rule(
    name="autoscaler-aws-lambda",
    description="Provisioned concurrency on a Lambda alias is scaled by Application Auto Scaling.",
    resource_types=(LAMBDA_PROVISIONED, APP_TARGET, APP_POLICY),
    cloud="aws",
    concern="autoscaling",
    level=ADVISORY,
    severity="medium",
    remediation="Register the alias's ProvisionedConcurrency with appautoscaling.Target and a utilization Policy.",
)
def autoscaler_aws_lambda(args: StackValidationArgs) -> Iterator[Finding]:
    configs = of_type(args.resources, LAMBDA_PROVISIONED)
    targets = _scaled_targets(args, "lambda")
    for config in configs:
        function = str(get(config.props, "functionName", default=""))
        qualifier = str(get(config.props, "qualifier", default=""))
        suffix = f"{function.rsplit(':', 1)[-1]}:{qualifier}"
        mine = [
            (t, d)
            for t, d in targets
            if depends_on(t, config) or str(get(t.props, "resourceId", default="")).endswith(suffix)
        ]
        if not any(d for _, d in mine):
            yield f"provisioned concurrency {config.name} is not autoscaled", config.urn


def _asg_scaled(policy: PolicyResource, group: PolicyResource) -> bool:
    return refers_to(policy, group, "autoscalingGroupName")


@stack_rule(
    name="autoscaler-aws-asg",
    description="Every Auto Scaling group has a scaling policy.",
    resource_types=(ASG, ASG_POLICY),
    cloud="aws",
    concern="autoscaling",
    level=MANDATORY,
    severity="high",
    remediation="Add an autoscaling.Policy of type TargetTrackingScaling for the group.",
)
def autoscaler_aws_asg(args: StackValidationArgs) -> Iterator[Finding]:
    yield from _missing(
        args,
        of_type(args.resources, ASG),
        of_type(args.resources, ASG_POLICY),
        _asg_scaled,
        lambda g: f"Auto Scaling group {g.name} has no scaling policy",
    )


def _internet_facing_alb(lb: PolicyResource) -> bool:
    return get(lb.props, "loadBalancerType", default="application") == "application" and not is_true(
        get(lb.props, "internal")
    )


@stack_rule(
    name="aws-alb-waf",
    description="Internet-facing application load balancers are protected by a WAFv2 web ACL.",
    resource_types=(*LOAD_BALANCERS, WAF_ASSOCIATION),
    cloud="aws",
    concern="waf",
    level=MANDATORY,
    severity="high",
    anchor="CKV2_AWS_28",
    remediation="Associate a wafv2.WebAcl with AWS managed rule groups to the load balancer.",
)
def alb_waf(args: StackValidationArgs) -> Iterator[Finding]:
    public = [lb for lb in of_type(args.resources, *LOAD_BALANCERS) if _internet_facing_alb(lb)]
    associations = of_type(args.resources, WAF_ASSOCIATION)
    yield from _missing_references(
        public,
        associations,
        "resourceArn",
        lambda lb: f"internet-facing load balancer {lb.name} has no WAF web ACL",
    )


SUBNET = "aws:ec2/subnet:Subnet"
NAT_GATEWAY = "aws:ec2/natGateway:NatGateway"


@stack_rule(
    name="aws-nat-per-zone-prod",
    description="In prod, a VPC with NAT gateways has one in every zone it has subnets in, so losing a zone never "
    "cuts the others' egress.",
    resource_types=(VPC, SUBNET, NAT_GATEWAY),
    cloud="aws",
    concern="availability",
    level=MANDATORY,
    severity="high",
    prod_only=True,
    remediation="Leave nat_per_zone at the prod default (true): one NAT gateway per zone.",
)
def nat_per_zone_prod(args: StackValidationArgs) -> Iterator[Finding]:
    subnets = of_type(args.resources, SUBNET)
    gateways = of_type(args.resources, NAT_GATEWAY)
    for vpc in of_type(args.resources, VPC):
        mine = [s for s in subnets if refers_to(s, vpc, "vpcId")]
        zones = {str(get(s.props, "availabilityZone")) for s in mine if get(s.props, "availabilityZone")}
        nat_zones = {
            str(get(s.props, "availabilityZone"))
            for nat in gateways
            for s in mine
            if refers_to(nat, s, "subnetId") and get(s.props, "availabilityZone")
        }
        if nat_zones and zones - nat_zones:
            missing = ", ".join(sorted(zones - nat_zones))
            yield f"VPC {vpc.name} has no NAT gateway in {missing}; egress there depends on another zone", vpc.urn


SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SG_INGRESS_RESOURCES = (
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws:ec2/securityGroupRule:SecurityGroupRule",
)


def _ingress_port_range(rule: PolicyResource) -> tuple[float, float] | None:
    props = rule.props
    if rule.resource_type.endswith("securityGroupRule:SecurityGroupRule") and props.get("type") != "ingress":
        return None
    protocol = str(props.get("ipProtocol") or props.get("protocol") or "")
    if protocol in ("-1", "all"):
        return 0, 65535
    return number(props.get("fromPort")) or 0, number(props.get("toPort")) or 0


def _ingress_ranges(rule: PolicyResource) -> list[str]:
    props = rule.props
    return (
        strings(props.get("cidrIpv4"))
        + strings(props.get("cidrIpv6"))
        + strings(props.get("cidrBlocks"))
        + strings(props.get("ipv6CidrBlocks"))
    )


@stack_rule(
    name="aws-security-group-ingress-union",
    description="The ingress rules of one security group, taken together as a set of CIDRs, open nothing but "
    "HTTPS (and HTTP for the redirect) to the internet, however many rules the ranges are split over.",
    resource_types=(SECURITY_GROUP, *SG_INGRESS_RESOURCES),
    cloud="aws",
    concern="network-exposure",
    level=MANDATORY,
    severity="high",
    anchor="CKV_AWS_24, CKV_AWS_25, CKV_AWS_277",
    remediation="Allow the callers' own CIDRs or security groups.",
)
def security_group_ingress_union(args: StackValidationArgs) -> Iterator[Finding]:
    groups = of_type(args.resources, SECURITY_GROUP)
    joined: dict[tuple[str, float, float], list[tuple[PolicyResource, list[str]]]] = {}
    for rule in of_type(args.resources, *SG_INGRESS_RESOURCES):
        ports = _ingress_port_range(rule)
        ranges = _ingress_ranges(rule)
        if ports is None or not ranges:
            continue
        owner = next((g.urn for g in groups if refers_to(rule, g, "securityGroupId")), None)
        if owner is None:
            owner = str(peek(rule.props, "securityGroupId", default=rule.urn))
        joined.setdefault((owner, *ports), []).append((rule, ranges))
    for (_, low, high), members in joined.items():
        if low == high and low in (80, 443):
            continue
        cidrs = [c for _, ranges in members for c in ranges]
        try:
            internet = open_to_internet(cidrs)
        except ValueError:
            internet = f"unreadable ranges ({', '.join(cidrs)})"
        if internet and len(members) > 1:
            names = ", ".join(r.name for r, _ in members)
            yield f"ports {int(low)}-{int(high)} are open to {internet} across {names}", members[0][0].urn


LISTENERS = ("aws:lb/listener:Listener", "aws:alb/listener:Listener")
LAMBDA_URL = "aws:lambda/functionUrl:FunctionUrl"
_AUTHENTICATE = ("authenticate-oidc", "authenticate-cognito")


@stack_rule(
    name="aws-public-endpoint-authenticated-prod",
    description="In prod, nothing is anonymously public: every listener of an internet-facing load balancer "
    "authenticates callers (authenticate-oidc or authenticate-cognito) before forwarding, and function URLs use "
    "AWS_IAM.",
    resource_types=(*LOAD_BALANCERS, *LISTENERS, LAMBDA_URL),
    cloud="aws",
    concern="network-exposure",
    level=MANDATORY,
    severity="critical",
    prod_only=True,
    remediation="Set the target option authenticate_oidc or authenticate_cognito (exposure.anonymous: true is "
    "for non-prod stacks only), or serve IAM callers through the serverless or ml_platform pattern.",
)
def public_endpoint_authenticated_prod(args: StackValidationArgs) -> Iterator[Finding]:
    listeners = of_type(args.resources, *LISTENERS)
    for lb in of_type(args.resources, *LOAD_BALANCERS):
        if not _internet_facing_alb(lb):
            continue
        mine = [listener for listener in listeners if refers_to(listener, lb, "loadBalancerArn")]
        for listener in mine:
            actions = items(get(listener.props, "defaultActions"))
            kinds = [str(get(a, "type", default="")) for a in actions]
            if "redirect" in kinds and not any(k in ("forward", "fixed-response") for k in kinds):
                continue  # the HTTP to HTTPS redirect serves nothing
            if not any(k in _AUTHENTICATE for k in kinds):
                yield (
                    f"listener {listener.name} of internet-facing load balancer {lb.name} forwards without "
                    "authenticating callers",
                    listener.urn,
                )
    for url in of_type(args.resources, LAMBDA_URL):
        if get(url.props, "authorizationType") != "AWS_IAM":
            yield (
                f"function URL {url.name} is anonymous (authorizationType {get(url.props, 'authorizationType')})",
                url.urn,
            )


def _bucket_guard(
    args: StackValidationArgs, partner_types: tuple[str, ...], good: Callable[[PolicyResource], bool], what: str
) -> Iterator[Finding]:
    partners = [p for p in of_type(args.resources, *partner_types) if good(p)]
    yield from _missing_references(
        of_type(args.resources, *BUCKETS), partners, "bucket", lambda b: f"bucket {b.name} has no {what}"
    )


def _kms_encryption(config: PolicyResource) -> bool:
    for rule in items(get(config.props, "rules")):
        default = get(rule, "applyServerSideEncryptionByDefault", default={})
        if str(get(default, "sseAlgorithm", default="")).startswith("aws:kms") and is_set(default, "kmsMasterKeyId"):
            return True
    return False


@stack_rule(
    name="aws-s3-bucket-cmk-encryption",
    description="Every S3 bucket has default encryption with a customer-managed KMS key.",
    resource_types=(*BUCKETS, *BUCKET_SSE),
    cloud="aws",
    concern="encryption",
    level=MANDATORY,
    severity="high",
    anchor="CKV_AWS_145",
    remediation="Add s3.BucketServerSideEncryptionConfiguration with sseAlgorithm aws:kms and kmsMasterKeyId.",
)
def s3_bucket_cmk_encryption(args: StackValidationArgs) -> Iterator[Finding]:
    configs = of_type(args.resources, *BUCKET_SSE)
    log_targets = {
        str(get(lb.props, "accessLogs", "bucket"))
        for lb in of_type(args.resources, *LOAD_BALANCERS)
        if is_true(get(lb.props, "accessLogs", "enabled"))
    }
    index = References(configs, "bucket")
    for bucket in of_type(args.resources, *BUCKETS):
        mine = index.referring(bucket)
        if identities(bucket) & log_targets:
            # ELB access-log delivery only supports SSE-S3, so these buckets need encryption, not a CMK.
            if not mine:
                yield f"access-log bucket {bucket.name} has no default encryption", bucket.urn
        elif not any(_kms_encryption(c) for c in mine):
            yield f"bucket {bucket.name} has no SSE-KMS default encryption with a CMK", bucket.urn


def _blocks_public(block: PolicyResource) -> bool:
    return all(
        is_true(get(block.props, key))
        for key in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )


@stack_rule(
    name="aws-s3-public-access-block",
    description="Every S3 bucket has a public access block with all four settings on.",
    resource_types=(*BUCKETS, BUCKET_PAB),
    cloud="aws",
    concern="least-privilege",
    level=MANDATORY,
    severity="high",
    anchor="CKV2_AWS_6 (CKV_AWS_53, CKV_AWS_54, CKV_AWS_55, CKV_AWS_56)",
    remediation="Add s3.BucketPublicAccessBlock with blockPublicAcls, blockPublicPolicy, ignorePublicAcls and "
    "restrictPublicBuckets all true.",
)
def s3_public_access_block(args: StackValidationArgs) -> Iterator[Finding]:
    yield from _bucket_guard(args, (BUCKET_PAB,), _blocks_public, "complete public access block")


def _denies_insecure_transport(policy: PolicyResource) -> bool:
    for statement in policy_statements(get(policy.props, "policy")):
        if statement.get("Effect") != "Deny":
            continue
        condition = get(statement, "Condition", "Bool", default={})
        if str(condition.get("aws:SecureTransport", "")).lower() == "false":
            return True
    return False


@stack_rule(
    name="aws-s3-tls-only",
    description="Every S3 bucket policy denies requests that do not use TLS.",
    resource_types=(*BUCKETS, BUCKET_POLICY),
    cloud="aws",
    concern="tls",
    level=MANDATORY,
    severity="high",
    anchor="AWS FSBP S3.5",
    remediation="Attach a bucket policy with a Deny statement on Condition Bool aws:SecureTransport false.",
)
def s3_tls_only(args: StackValidationArgs) -> Iterator[Finding]:
    yield from _bucket_guard(args, (BUCKET_POLICY,), _denies_insecure_transport, "policy denying non-TLS requests")


@stack_rule(
    name="aws-vpc-flow-logs",
    description="Every VPC records flow logs.",
    resource_types=(VPC, FLOW_LOG),
    cloud="aws",
    concern="logging",
    level=ADVISORY,
    severity="medium",
    anchor="CKV2_AWS_11",
    remediation="Add an ec2.FlowLog for the VPC to a KMS-encrypted log group with retention.",
)
def vpc_flow_logs(args: StackValidationArgs) -> Iterator[Finding]:
    yield from _missing_references(
        of_type(args.resources, VPC),
        of_type(args.resources, FLOW_LOG),
        "vpcId",
        lambda v: f"VPC {v.name} has no flow log",
    )


def _encrypting_keys(template: PolicyResource) -> set[str]:
    keys = set()
    for mapping in items(get(template.props, "blockDeviceMappings")):
        key = get(mapping, "ebs", "kmsKeyId")
        if isinstance(key, str) and key:
            keys.add(key)
    return keys


def _key_policy_text(key: PolicyResource, key_policies: list[PolicyResource]) -> str:
    texts = [str(get(key.props, "policy", default=""))]
    texts += [str(get(p.props, "policy", default="")) for p in key_policies if refers_to(p, key, "keyId")]
    return "\n".join(texts)


@stack_rule(
    name="aws-kms-key-grants-autoscaling",
    description="A CMK that encrypts launch-template volumes lets the Auto Scaling service-linked role use it.",
    resource_types=(LAUNCH_TEMPLATE, KMS_KEY, KMS_KEY_POLICY, ASG),
    cloud="aws",
    concern="availability",
    level=MANDATORY,
    severity="high",
    remediation="Grant arn:aws:iam::<account>:role/aws-service-role/autoscaling.amazonaws.com/"
    "AWSServiceRoleForAutoScaling kms:Encrypt/Decrypt/ReEncrypt*/GenerateDataKey*/DescribeKey and "
    "kms:CreateGrant in the key policy; without it instances fail to launch.",
)
def kms_key_grants_autoscaling(args: StackValidationArgs) -> Iterator[Finding]:
    keys = of_type(args.resources, KMS_KEY)
    key_policies = of_type(args.resources, KMS_KEY_POLICY)
    groups = of_type(args.resources, ASG)
    for template in of_type(args.resources, LAUNCH_TEMPLATE):
        if not any(depends_on(g, template) for g in groups):
            continue
        referenced = _encrypting_keys(template)
        for key in keys:
            if not (referenced & identities(key) or (referenced and depends_on(template, key))):
                continue
            if "AWSServiceRoleForAutoScaling" not in _key_policy_text(key, key_policies):
                yield (
                    f"key {key.name} encrypts volumes of launch template {template.name} but its policy does "
                    "not grant the Auto Scaling service-linked role",
                    key.urn,
                )


# --- GCP and Azure joins ----------------------------------------------------------------------------------

GCP_MIGS = (
    "gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager",
    "gcp:compute/instanceGroupManager:InstanceGroupManager",
)
GCP_AUTOSCALERS = ("gcp:compute/regionAutoscaler:RegionAutoscaler", "gcp:compute/autoscaler:Autoscaler")
AZURE_VMSS = "azure-native:compute:VirtualMachineScaleSet"
AZURE_ML_DEPLOYMENT = "azure-native:machinelearningservices:OnlineDeployment"
AZURE_AUTOSCALE = "azure-native:monitor:AutoscaleSetting"


@stack_rule(
    name="autoscaler-gcp-mig",
    description="Every managed instance group has an autoscaler.",
    resource_types=(*GCP_MIGS, *GCP_AUTOSCALERS),
    cloud="gcp",
    concern="autoscaling",
    level=MANDATORY,
    severity="high",
    remediation="Add a compute.RegionAutoscaler whose target is the group, with CPU or load-balancing signals.",
)
def autoscaler_gcp_mig(args: StackValidationArgs) -> Iterator[Finding]:
    yield from _missing_references(
        of_type(args.resources, *GCP_MIGS),
        of_type(args.resources, *GCP_AUTOSCALERS),
        "target",
        lambda m: f"instance group {m.name} has no autoscaler",
    )


def _azure_scales(setting: PolicyResource, target: PolicyResource) -> bool:
    return is_true(get(setting.props, "enabled", default=True)) and refers_to(setting, target, "targetResourceUri")


@stack_rule(
    name="autoscaler-azure-vmss",
    description="Every VM scale set has an enabled Azure Monitor autoscale setting.",
    resource_types=(AZURE_VMSS, AZURE_AUTOSCALE),
    cloud="azure",
    concern="autoscaling",
    level=MANDATORY,
    severity="high",
    remediation="Add a monitor.AutoscaleSetting targeting the scale set with CPU-based rules.",
)
def autoscaler_azure_vmss(args: StackValidationArgs) -> Iterator[Finding]:
    yield from _missing(
        args,
        of_type(args.resources, AZURE_VMSS),
        of_type(args.resources, AZURE_AUTOSCALE),
        _azure_scales,
        lambda v: f"scale set {v.name} has no autoscale setting",
    )


@stack_rule(
    name="autoscaler-azure-ml",
    description="Every Azure ML managed online deployment has an enabled Azure Monitor autoscale setting.",
    resource_types=(AZURE_ML_DEPLOYMENT, AZURE_AUTOSCALE),
    cloud="azure",
    concern="autoscaling",
    level=MANDATORY,
    severity="high",
    remediation="Add a monitor.AutoscaleSetting whose targetResourceUri is the online deployment.",
)
def autoscaler_azure_ml(args: StackValidationArgs) -> Iterator[Finding]:
    yield from _missing(
        args,
        of_type(args.resources, AZURE_ML_DEPLOYMENT),
        of_type(args.resources, AZURE_AUTOSCALE),
        _azure_scales,
        lambda d: f"online deployment {d.name} has no autoscale setting",
    )


RULES = collect(globals())
