"""Shared helpers of the AWS component tests: images and ARNs, building a component under the plan mocks, and
lookups on what it registered (resources by type and name, IAM documents and statements)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from conftest import DIGEST, make_service
from modelport.plan.mocks import CapturedResource
from modelport.plan.runner import Plan, run_program
from modelport.profiles import PROFILES, Profile

ACCOUNT = "123456789012"
REGION = "us-east-1"
ECR_IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/churn@{DIGEST}"
CANARY_DIGEST = "sha256:" + "5a" * 32
ECR_CANARY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/churn@{CANARY_DIGEST}"
EXTERNAL_CANARY = f"registry.example.com/ml/churn@{CANARY_DIGEST}"
CERTIFICATE = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/12345678-1234-4234-8234-123456789012"
SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:churn/db-url-AbCdEf"
PARAMETER = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/churn/feature-flags"
CALLER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/checkout"
CANARY = [{"name": "stable", "weight": 90}, {"name": "canary", "weight": 10, "image": EXTERNAL_CANARY}]
ECR_CANARY_VARIANTS = [{"name": "stable", "weight": 90}, {"name": "canary", "weight": 10, "image": ECR_CANARY}]
DEV: Profile = PROFILES["dev"]
PROD: Profile = PROFILES["prod"]

__all__ = [
    "ACCOUNT",
    "CALLER_ROLE",
    "CANARY",
    "CERTIFICATE",
    "DEV",
    "ECR_CANARY",
    "ECR_CANARY_VARIANTS",
    "ECR_IMAGE",
    "PARAMETER",
    "PROD",
    "REGION",
    "SECRET",
    "Built",
    "build",
    "make_service",
    "register",
    "statements_of",
    "subnet_zones",
]


class Built:
    """One program's registrations with lookups by type and name."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.resources = plan.resources

    def by_type(self, type_: str) -> list[CapturedResource]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> CapturedResource:
        found = [r for r in self.by_type(type_) if name is None or r.name == name]
        assert len(found) == 1, f"expected one {type_} named {name!r}, found {[r.name for r in found]}"
        return found[0]

    def named(self, name: str) -> CapturedResource:
        found = [r for r in self.resources if r.name == name]
        assert len(found) == 1, f"expected one resource named {name!r}, found {len(found)}"
        return found[0]

    def policy(self, type_: str, name: str, field: str = "policy") -> dict[str, Any]:
        return json.loads(self.one(type_, name).inputs[field])

    def statements(self, role_policy_name: str) -> dict[str, dict[str, Any]]:
        """The statements of an inline role policy, by Sid."""
        return statements_of(self.policy("aws:iam/rolePolicy:RolePolicy", role_policy_name))

    def descendants(self, root: CapturedResource) -> Iterator[CapturedResource]:
        children: dict[str | None, list[CapturedResource]] = {}
        for r in self.resources:
            children.setdefault(r.parent, []).append(r)
        stack = [root]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(children.get(node.urn, []))


def statements_of(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in document["Statement"]}


def build(factory: Callable[[], Any], config: dict[str, Any] | None = None) -> Built:
    """Run ``factory`` (which constructs components) under the plan mocks on a fresh event loop."""
    return Built(run_program(factory, project="modelport", stack="test", config=config, preview=False))


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def register(factory: Callable[[], Any]) -> None:
    """Construct components inside ``@pulumi.runtime.test`` (under the ``pulumi_mocks`` fixture) and wait for
    every registration to finish."""
    import pulumi

    @pulumi.runtime.test
    def run() -> None:
        factory()

    run()


def subnet_zones(captured: Any, subnet_ids: list[str]) -> set[str]:
    """Availability zones of the created subnets with these ids."""
    zones = {
        r.outputs.get("id") or r.id: r.inputs["availabilityZone"] for r in captured.by_type("aws:ec2/subnet:Subnet")
    }
    return {zones[s] for s in subnet_ids}
