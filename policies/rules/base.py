"""The rule model every rule module shares: metadata, the environment a rule runs in, and its CrossGuard policy."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyComplianceFramework,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

__all__ = [
    "ADVISORY",
    "CONCERNS",
    "ENVIRONMENTS",
    "MANDATORY",
    "Rule",
    "collect",
    "environment",
    "resource_rule",
    "stack_rule",
]

MANDATORY = "mandatory"
ADVISORY = "advisory"
SEVERITIES = ("low", "medium", "high", "critical")
ENVIRONMENTS = ("dev", "staging", "prod")
# The strictest environment is the default when neither policy config nor the stack names one.
DEFAULT_ENVIRONMENT = "prod"
ENVIRONMENT_CONFIG_KEY = "modelport:environment"

# The concerns the pack covers, in the order the catalogue lists them.
CONCERNS = {
    "encryption": "encryption at rest with customer-managed keys",
    "tls": "TLS-only traffic and the TLS version policy",
    "compute-hardening": "IMDSv2, no public IPs, shielded / Trusted Launch VMs, no secrets in user data or env",
    "least-privilege": "no wildcards, scoped trust, no anonymous callers, no default identities, private registries",
    "network-exposure": "private control planes and endpoints, internal ingress",
    "availability": "zones, minimum capacity in prod, disruption budgets, spread, health checks",
    "autoscaling": "every serving workload has an autoscaler",
    "logging": "logs, retention and request capture",
    "waf": "a web application firewall on internet-facing endpoints",
    "supply-chain": "images pinned by digest, immutable registries, scanning",
    "pod-security": "Pod Security Standards 'restricted', read-only root, limits, NetworkPolicy",
}
CLOUDS = ("kubernetes", "aws", "gcp", "azure", "any")

_LEVELS = {MANDATORY: EnforcementLevel.MANDATORY, ADVISORY: EnforcementLevel.ADVISORY}
_SEVERITIES = {s.value: s for s in Severity}
# Every rule accepts the environment so prod-only rules can be switched per stack from policy config.
CONFIG_SCHEMA_PROPERTIES: dict[str, dict[str, Any]] = {
    "environment": {
        "type": "string",
        "enum": list(ENVIRONMENTS),
        "description": "The stack's environment; prod-only rules are not applicable elsewhere.",
    }
}

ResourceCheck = Callable[[ResourceValidationArgs], Iterable[str]]
StackCheck = Callable[[StackValidationArgs], Iterable[tuple[str, str | None]]]


def environment(args: ResourceValidationArgs | StackValidationArgs) -> str:
    """The environment a rule judges: policy config first, then the stack's own config, then prod."""
    configured = args.get_config().get("environment")
    if configured:
        return str(configured)
    try:
        import pulumi.runtime

        # Under `pulumi preview --policy-pack`, the analyzer receives the stack's config.
        from_stack = pulumi.runtime.get_config(ENVIRONMENT_CONFIG_KEY)
    except Exception:  # noqa: BLE001 - no runtime config available: fall back to the strictest environment
        from_stack = None
    return str(from_stack) if from_stack in ENVIRONMENTS else DEFAULT_ENVIRONMENT


@dataclass(frozen=True)
class Rule:
    """One guardrail: its catalogue metadata and the CrossGuard policy object that enforces it."""

    name: str
    description: str
    cloud: str
    concern: str
    level: str
    severity: str
    remediation: str
    resource_types: tuple[str, ...]
    anchor: str | None
    prod_only: bool
    kind: str
    policy: Policy = field(compare=False, repr=False)

    def applies_to(self, resource_type: str) -> bool:
        return self.kind == "stack" or resource_type in self.resource_types

    def catalogue_entry(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "level": self.level,
            "severity": self.severity,
            "anchor": self.anchor,
            "resource_types": list(self.resource_types),
            "remediation": self.remediation,
            "cloud": self.cloud,
            "concern": self.concern,
            "kind": self.kind,
            "prod_only": self.prod_only,
        }


def _check_metadata(name: str, cloud: str, concern: str, level: str, severity: str, remediation: str) -> None:
    if cloud not in CLOUDS:
        raise ValueError(f"rule {name}: cloud must be one of {CLOUDS} (got {cloud!r})")
    if concern not in CONCERNS:
        raise ValueError(f"rule {name}: concern must be one of {tuple(CONCERNS)} (got {concern!r})")
    if level not in _LEVELS:
        raise ValueError(f"rule {name}: level must be mandatory or advisory (got {level!r})")
    if severity not in _SEVERITIES:
        raise ValueError(f"rule {name}: severity must be one of {SEVERITIES} (got {severity!r})")
    if not remediation:
        raise ValueError(f"rule {name}: remediation text is required")


def _framework(anchor: str | None) -> PolicyComplianceFramework | None:
    if anchor is None:
        return None
    if anchor.startswith("CKV"):
        return PolicyComplianceFramework(name="checkov", reference=anchor)
    if anchor.startswith("PSS"):
        return PolicyComplianceFramework(
            name="kubernetes-pod-security-standards", version="restricted", reference=anchor
        )
    return PolicyComplianceFramework(name=anchor.split(" ", 1)[0], reference=anchor)


def _not_applicable_outside_prod(args: ResourceValidationArgs | StackValidationArgs) -> None:
    env = environment(args)
    if env != "prod":
        args.not_applicable(f"only enforced in prod (environment: {env})")


def resource_rule(
    *,
    name: str,
    description: str,
    resource_types: tuple[str, ...],
    cloud: str,
    concern: str,
    level: str,
    severity: str,
    remediation: str,
    anchor: str | None = None,
    prod_only: bool = False,
) -> Callable[[ResourceCheck], Rule]:
    """Turn ``check(args) -> messages`` into a Rule whose policy reports each message as a violation."""
    _check_metadata(name, cloud, concern, level, severity, remediation)
    if not resource_types:
        raise ValueError(f"rule {name}: a resource rule names the resource types it inspects")
    types = frozenset(resource_types)

    def decorate(check: ResourceCheck) -> Rule:
        def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
            if args.resource_type not in types:
                return
            if prod_only:
                _not_applicable_outside_prod(args)
            for message in check(args):
                report_violation(message, None)

        policy = ResourceValidationPolicy(
            name=name,
            description=description,
            validate=validate,
            enforcement_level=_LEVELS[level],
            config_schema=PolicyConfigSchema(dict(CONFIG_SCHEMA_PROPERTIES)),
            severity=_SEVERITIES[severity],
            framework=_framework(anchor),
            tags=[cloud, concern],
            remediation_steps=remediation,
        )
        return Rule(
            name=name,
            description=description,
            cloud=cloud,
            concern=concern,
            level=level,
            severity=severity,
            remediation=remediation,
            resource_types=tuple(resource_types),
            anchor=anchor,
            prod_only=prod_only,
            kind="resource",
            policy=policy,
        )

    return decorate


def stack_rule(
    *,
    name: str,
    description: str,
    resource_types: tuple[str, ...],
    cloud: str,
    concern: str,
    level: str,
    severity: str,
    remediation: str,
    anchor: str | None = None,
    prod_only: bool = False,
) -> Callable[[StackCheck], Rule]:
    """Turn ``check(args) -> (message, urn)`` pairs into a Rule judging the whole stack.

    ``resource_types`` documents which resources the join looks at; the check itself receives them all.
    """
    _check_metadata(name, cloud, concern, level, severity, remediation)

    def decorate(check: StackCheck) -> Rule:
        def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
            if prod_only:
                _not_applicable_outside_prod(args)
            for message, urn in check(args):
                report_violation(message, urn)

        policy = StackValidationPolicy(
            name=name,
            description=description,
            validate=validate,
            enforcement_level=_LEVELS[level],
            config_schema=PolicyConfigSchema(dict(CONFIG_SCHEMA_PROPERTIES)),
            severity=_SEVERITIES[severity],
            framework=_framework(anchor),
            tags=[cloud, concern],
            remediation_steps=remediation,
        )
        return Rule(
            name=name,
            description=description,
            cloud=cloud,
            concern=concern,
            level=level,
            severity=severity,
            remediation=remediation,
            resource_types=tuple(resource_types),
            anchor=anchor,
            prod_only=prod_only,
            kind="stack",
            policy=policy,
        )

    return decorate


def collect(namespace: Mapping[str, Any]) -> tuple[Rule, ...]:
    """The rules a module defines, in definition order (module globals keep insertion order)."""
    rules = tuple(value for value in namespace.values() if isinstance(value, Rule))
    names = [rule.name for rule in rules]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"duplicate rule names: {', '.join(duplicates)}")
    return rules
