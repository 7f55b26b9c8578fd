"""Random prod stacks for the security property (issue 10): configs built from the options the AWS and Kubernetes
components accept, planned offline, and judged by independent scanners (Checkov's Kubernetes framework on every
Kubernetes object, parliament on every identity policy).

Each config is a clean prod baseline plus a random set of changes. A change marked insecure must make the plan
fail (validation, exit 2, or a mandatory rule, exit 1); any config that plans with exit 0 must pass the scanners.
``tests/test_security_property.py`` runs a small fixed-seed sample in CI; ``bench/fuzz_security.py`` a longer one.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st
from modelport.plan.runner import to_json_value

ACCOUNT = "111122223333"
REGION = "us-east-1"
DIGEST = "sha256:" + "6b8d0a2f3c4e5d6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c"
ECR_IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/churn@{DIGEST}"
CERTIFICATE = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/12345678-1234-4234-8234-123456789012"
SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:churn/db-url-AbCdEf"

# Checkov Kubernetes checks modelport does not follow, each for a stated reason. Nothing else is skipped.
CHECKOV_SKIPS = {
    # `secrets` reach the container as env vars from secretKeyRef: the serving contract reads them from the
    # environment, and no value ever passes through the spec (the plan holds only the Secret's name and key).
    "CKV_K8S_35": "secrets as env from secretKeyRef is the serving contract",
}
# parliament findings at these severities fail the property (as in tests/aws/test_iam_policies.py).
BLOCKING = {"MEDIUM", "HIGH", "CRITICAL"}
IDENTITY_POLICY_FIELDS = {
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/policy:Policy": "policy",
    "aws:iam/userPolicy:UserPolicy": "policy",
    "aws:iam/groupPolicy:GroupPolicy": "policy",
}


def base_service(cloud_pattern: tuple[str, str]) -> dict[str, Any]:
    cloud, pattern = cloud_pattern
    service: dict[str, Any] = {
        "name": "churn",
        "image": ECR_IMAGE,
        "model": {"name": "churn"},
        "resources": {"cpu": 2, "memory_mib": 4096},
        "scaling": {"min_replicas": 3, "max_replicas": 12},
        "env": {"LOG_LEVEL": "info"},
        "tags": {"team": "ml-platform"},
    }
    if cloud == "kubernetes" or pattern == "kubernetes":
        service["exposure"] = {"domain": "churn.ml.internal.example.com", "certificate": "churn-tls"}
    elif pattern in ("vm", "container"):
        service["exposure"] = {"allowed_networks": ["10.0.0.0/8"], "certificate": CERTIFICATE}
    return service


def base_target(cloud_pattern: tuple[str, str]) -> dict[str, Any]:
    cloud, pattern = cloud_pattern
    if cloud == "kubernetes":
        return {"cloud": "kubernetes", "pattern": "kubernetes", "options": {"ingress_class": "internal-nginx"}}
    options: dict[str, Any] = {}
    if pattern == "kubernetes":
        options = {"api_access_cidrs": ["10.0.0.0/16"], "workload": {"ingress_class": "internal-nginx"}}
    return {"cloud": "aws", "pattern": pattern, "region": REGION, "options": options}


@dataclass(frozen=True)
class Change:
    """One edit of a baseline config; ``insecure`` changes must never plan clean."""

    label: str
    insecure: bool
    apply: Callable[[dict[str, Any], dict[str, Any]], None]
    patterns: tuple[tuple[str, str], ...] = field(default=())

    def applies_to(self, cloud_pattern: tuple[str, str]) -> bool:
        return not self.patterns or cloud_pattern in self.patterns


def _set(*path: str, value: Any) -> Callable[[dict[str, Any], dict[str, Any]], None]:
    """Set ``value`` at ``path`` from ``service.`` or ``options.`` (``workload.`` goes under options)."""

    def apply(service: dict[str, Any], target: dict[str, Any]) -> None:
        root, *keys = path
        node = service if root == "service" else target["options"]
        if root == "workload":
            node = target["options"]
            if target["pattern"] == "kubernetes" and target["cloud"] == "aws":
                node = node.setdefault("workload", {})
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = copy.deepcopy(value)

    apply.slot = path  # type: ignore[attr-defined]  # two changes of one slot would overwrite each other
    return apply


AWS_ALB = (("aws", "vm"), ("aws", "container"))
AWS_ALL = (*AWS_ALB, ("aws", "serverless"), ("aws", "ml_platform"), ("aws", "kubernetes"))
K8S = (("kubernetes", "kubernetes"), ("aws", "kubernetes"))

CHANGES: tuple[Change, ...] = (
    # credentials in env values
    Change("env URL with password", True, _set("service", "env", "DATABASE_URL", value="postgres://admin:pw@db/x")),
    Change("env AWS key", True, _set("service", "env", "UPSTREAM", value="AKIAIOSFODNN7EXAMPLE")),
    Change("env JWT", True, _set("service", "env", "UPSTREAM_AUTH_HEADER", value="eyJhbGciOiJIUzI1NiJ9.e30.x")),
    Change("env high entropy", True, _set("service", "env", "SEED", value="Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZg==")),
    Change("env benign", False, _set("service", "env", "OTEL_SERVICE_NAME", value="churn")),
    Change("env endpoint", False, _set("service", "env", "FEATURES_URL", value="https://features.internal/v1")),
    # images
    Change("hub short tag", True, _set("service", "image", value="python:3.12"), AWS_ALB + K8S),
    Change("tagged ghcr", True, _set("service", "image", value="ghcr.io/acme/churn:1.0"), AWS_ALB + K8S),
    Change("hub digest", False, _set("service", "image", value=f"python@{DIGEST}"), AWS_ALB + K8S),
    # networks
    Change(
        "private networks: internet halves",
        True,
        _set("service", "exposure", "allowed_networks", value=["0.0.0.0/1", "128.0.0.0/1"]),
    ),
    Change("private networks: ::/0", True, _set("service", "exposure", "allowed_networks", value=["::/0"]), K8S),
    Change(
        "narrow networks", False, _set("service", "exposure", "allowed_networks", value=["10.20.0.0/16"]), AWS_ALB + K8S
    ),
    Change(
        "EKS API halves",
        True,
        _set("options", "endpoint_public_access_cidrs", value=["0.0.0.0/1", "128.0.0.0/1"]),
        (("aws", "kubernetes"),),
    ),
    Change(
        "EKS API operators",
        False,
        _set("options", "endpoint_public_access_cidrs", value=["198.51.100.0/24"]),
        (("aws", "kubernetes"),),
    ),
    # public means authenticated
    Change("public anonymous", True, _set("service", "exposure", "public", value=True), AWS_ALB),
    # Kubernetes reach
    Change(
        "scheme internet-facing",
        True,
        _set("workload", "ingress_annotations", value={"alb.ingress.kubernetes.io/scheme": "internet-facing"}),
        K8S,
    ),
    Change(
        "nginx snippet",
        True,
        _set("workload", "ingress_annotations", value={"nginx.ingress.kubernetes.io/server-snippet": "return 200;"}),
        K8S,
    ),
    Change(
        "nginx body size",
        False,
        _set("workload", "ingress_annotations", value={"nginx.ingress.kubernetes.io/proxy-body-size": "8m"}),
        K8S,
    ),
    Change("no ingress class", True, _set("workload", "ingress_class", value=None), K8S),
    Change("kube-system", True, _set("workload", "namespace", value="kube-system"), K8S),
    Change("own namespace", False, _set("workload", "namespace", value="team-churn"), K8S),
    Change(
        "metadata egress",
        True,
        _set("workload", "identity_egress", value=[{"cidr": "169.254.0.0/16", "port": 80}]),
        (("kubernetes", "kubernetes"),),
    ),
    Change(
        "GKE metadata server egress",
        False,
        _set("workload", "identity_egress", value=[{"cidr": "169.254.169.252/32", "port": 988}]),
        (("kubernetes", "kubernetes"),),
    ),
    # prod detection and recovery
    Change("single NAT", True, _set("options", "nat_per_zone", value=False), AWS_ALL),
    Change("alarms off", True, _set("options", "alarms", value=False), AWS_ALL),
    Change("alarm never fires", True, _set("options", "alarm_error_rate_percent", value=100), AWS_ALL),
    Change("alarm 1%", False, _set("options", "alarm_error_rate_percent", value=1), AWS_ALL),
    Change("canary bake 0", True, _set("options", "canary_wait_seconds", value=0), (("aws", "ml_platform"),)),
    Change(
        "alarm topic",
        False,
        _set("options", "alarm_actions", value=[f"arn:aws:sns:{REGION}:{ACCOUNT}:on-call"]),
        AWS_ALL,
    ),
    # availability
    # Lambda keeps no instances (it runs in every zone on demand), and ECS and (until min_replicas is honoured
    # there) SageMaker never run fewer than two, so the floor concerns the others.
    Change(
        "min replicas 1",
        True,
        _set("service", "scaling", "min_replicas", value=1),
        (("aws", "vm"), ("aws", "ml_platform"), *K8S),
    ),
    Change(
        "canary",
        False,
        _set("service", "variants", value=[{"name": "stable", "weight": 90}, {"name": "canary", "weight": 10}]),
        AWS_ALB + K8S,
    ),
    # secrets by reference
    Change("secret reference", False, _set("service", "secrets", value={"DB_URL": SECRET}), AWS_ALB),
)

# One replica per track over two tracks is two instances, which the prod floor accepts for the service as a
# whole; so a canary and min_replicas 1 are never drawn together.
next(c for c in CHANGES if c.label == "canary").apply.slot = ("service", "scaling", "min_replicas")  # type: ignore[attr-defined]

TARGETS = (*AWS_ALL, ("kubernetes", "kubernetes"))


@st.composite
def prod_configs(draw: st.DrawFn) -> tuple[dict[str, Any], list[Change]]:
    cloud_pattern = draw(st.sampled_from(TARGETS))
    applicable = [c for c in CHANGES if c.applies_to(cloud_pattern)]
    chosen = draw(st.lists(st.sampled_from(applicable), max_size=3, unique_by=lambda c: c.apply.slot))
    service, target = base_service(cloud_pattern), base_target(cloud_pattern)
    for change in chosen:
        change.apply(service, target)
    config = {
        "modelport:environment": "prod",
        "modelport:service": service,
        "modelport:targets": [target],
    }
    return config, chosen


@dataclass
class Outcome:
    exit_code: int
    reason: str
    plan: Any = None


def plan_config(config: dict[str, Any]) -> Outcome:
    """Plan ``config`` offline as `modelport plan` does: 2 for invalid config, 1 for mandatory violations, else 0."""
    from modelport.plan.policy import evaluate_plan
    from modelport.plan.runner import run_program
    from modelport.program import run_stack

    try:
        plan = run_program(run_stack, project="modelport", stack="prod", config=config)
    except Exception as exc:  # noqa: BLE001 - every program error is exit 2, as in the CLI
        return Outcome(2, f"{type(exc).__name__}: {exc}")
    report = evaluate_plan(plan)
    mandatory = [f"{v.policy}: {v.message}" for v in report.violations if v.level == "mandatory"]
    if mandatory:
        return Outcome(1, "; ".join(mandatory), plan)
    return Outcome(0, "clean", plan)


def kubernetes_objects(plan: Any) -> list[dict[str, Any]]:
    """Every Kubernetes object of the plan as a manifest (apiVersion, kind, then the registered inputs)."""
    found = []
    for resource in plan.resources:
        if not resource.custom or not resource.type.startswith("kubernetes:") or resource.type.startswith("pulumi:"):
            continue
        _, group_version, kind = resource.type.split(":")
        group, _, version = group_version.rpartition("/")
        api_version = version if group in ("core", "") else f"{group}/{version}"
        inputs = {k: v for k, v in resource.inputs.items() if k not in ("apiVersion", "kind")}
        # As the engine sends them: whole numbers as integers (runAsUser: 10001), secrets masked.
        found.append({"apiVersion": api_version, "kind": kind, **to_json_value(inputs)})
    return found


def checkov_failures(objects: list[dict[str, Any]]) -> list[str]:
    """Checkov's Kubernetes framework on the objects; failed checks not in CHECKOV_SKIPS."""
    if not objects:
        return []
    from checkov.kubernetes.runner import Runner
    from checkov.runner_filter import RunnerFilter

    with tempfile.TemporaryDirectory() as directory:
        (Path(directory) / "objects.yaml").write_text(yaml.safe_dump_all(objects))
        report = Runner().run(
            root_folder=directory,
            runner_filter=RunnerFilter(framework=["kubernetes"], skip_checks=list(CHECKOV_SKIPS)),
        )
    return [f"{c.check_id} {c.check_name} ({c.resource})" for c in report.failed_checks]


def parliament_findings(plan: Any) -> list[str]:
    """parliament on every identity policy (trust policies are not identity policies and are left out)."""
    import parliament

    found = []
    for resource in plan.resources:
        field_name = IDENTITY_POLICY_FIELDS.get(resource.type)
        if field_name is None:
            continue
        document = resource.inputs.get(field_name)
        if not isinstance(document, str):
            continue
        for finding in parliament.analyze_policy_string(document).findings:
            severity = parliament.config.get(finding.issue, {}).get("severity", "UNKNOWN")
            if severity in BLOCKING:
                found.append(f"{resource.name}: {finding.issue} ({severity}) {str(finding.detail)[:160]}")
    return found


def judge(config: dict[str, Any], changes: list[Change]) -> tuple[Outcome, list[str]]:
    """Plan one config and return its outcome and what is wrong with it (empty: the property holds)."""
    outcome = plan_config(config)
    problems = []
    insecure = [c.label for c in changes if c.insecure]
    if insecure and outcome.exit_code == 0:
        problems.append(f"insecure changes planned clean: {', '.join(insecure)}")
    if outcome.exit_code == 0:
        problems += [f"checkov: {f}" for f in checkov_failures(kubernetes_objects(outcome.plan))]
        problems += [f"parliament: {f}" for f in parliament_findings(outcome.plan)]
    if not insecure and outcome.exit_code != 0:
        problems.append(f"a secure config failed to plan (exit {outcome.exit_code}): {outcome.reason[:300]}")
    return outcome, problems
