"""The modelport guardrails as importable CrossGuard policies; importing them never starts a policy server."""

from __future__ import annotations

from pulumi_policy import Policy

from . import aws, azure, gcp, kubernetes, serving, stack
from .base import Rule

__all__ = ["Rule", "all_policies", "all_rules"]


def all_rules() -> tuple[Rule, ...]:
    """Every rule, in catalogue order: Kubernetes, AWS, GCP, Azure, the serving image's, then the stack-level joins."""
    return (*kubernetes.RULES, *aws.RULES, *gcp.RULES, *azure.RULES, *serving.RULES, *stack.RULES)


def all_policies() -> list[Policy]:
    """The pulumi_policy objects, ready for ``PolicyPack(policies=...)``."""
    return [rule.policy for rule in all_rules()]
