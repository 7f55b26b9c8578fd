"""The example GCP stacks plan offline with zero policy violations, and each pattern plans in dev and prod."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from modelport.plan.runner import plan_stack

STACKS = Path(__file__).resolve().parents[2] / "stacks"
COMPONENTS = {
    "vm": "modelport:gcp:MigService",
    "container": "modelport:gcp:CloudRunService",
    "kubernetes": "modelport:gcp:GkeService",
    "serverless": "modelport:gcp:CloudRunFunction",
    "ml_platform": "modelport:gcp:VertexEndpoint",
}


@pytest.mark.parametrize("stack", ["gcp-dev", "gcp-prod"])
def test_example_stack_plans_clean(stack):
    plan = plan_stack(stack, STACKS)
    assert plan.policy.violations == [], [(v.policy, v.message) for v in plan.policy.violations]
    types = Counter(r.type for r in plan.resources)
    expected = {"gcp-dev": {"vm", "container", "serverless", "ml_platform"}, "gcp-prod": set(COMPONENTS)}[stack]
    for pattern in expected:
        assert types[COMPONENTS[pattern]] == 1
    assert types["pulumi:providers:gcp"] == len(expected)


def test_each_prod_pattern_plans_alone_with_one_provider_for_its_project_and_region():
    plan = plan_stack("gcp-prod", STACKS, overrides=[("modelport:targets[1].region", "us-central1")])
    providers = [r for r in plan.resources if r.type == "pulumi:providers:gcp"]
    regions = sorted(p.inputs["region"] for p in providers)
    assert regions == ["europe-west4"] * 4 + ["us-central1"]
    assert {p.inputs["project"] for p in providers} == {"acme-ml-prod"}
    run = next(r for r in plan.resources if r.type == "gcp:cloudrunv2/service:Service" and "container" in r.name)
    assert run.inputs["location"] == "us-central1"
    assert not plan.policy.mandatory
