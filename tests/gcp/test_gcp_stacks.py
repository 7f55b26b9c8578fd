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


# Names that must be unique in a project (or a project and region), taken from these inputs.
UNIQUE_NAMES = {
    "gcp:compute/network:Network": "name",
    "gcp:kms/keyRing:KeyRing": "name",
    "gcp:artifactregistry/repository:Repository": "repositoryId",
    "gcp:storage/bucket:Bucket": "name",
    "gcp:serviceaccount/account:Account": "accountId",
    "gcp:cloudrunv2/service:Service": "name",
    "gcp:container/cluster:Cluster": "name",
    "gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager": "name",
    "gcp:compute/securityPolicy:SecurityPolicy": "name",
    "gcp:compute/sSLPolicy:SSLPolicy": "name",
    "gcp:compute/regionSslPolicy:RegionSslPolicy": "name",
    "gcp:vertex/aiEndpoint:AiEndpoint": "name",
}


def _names(resources) -> set[tuple[str, str]]:
    return {(r.type, r.inputs[UNIQUE_NAMES[r.type]]) for r in resources if r.type in UNIQUE_NAMES}


def test_physical_names_are_unique_across_the_five_patterns_of_one_stack():
    plan = plan_stack("gcp-prod", STACKS)
    named = [(r.type, r.inputs[UNIQUE_NAMES[r.type]]) for r in plan.resources if r.type in UNIQUE_NAMES]
    assert len(named) == len(set(named)), sorted(n for n in named if named.count(n) > 1)
    assert {t for t, _ in named} >= set(UNIQUE_NAMES) - {
        "gcp:compute/securityPolicy:SecurityPolicy",
        "gcp:compute/sSLPolicy:SSLPolicy",
    }


def test_two_stacks_of_one_service_in_one_project_do_not_collide():
    from gcp_fixtures import REGIONAL_CERT, args_of
    from modelport.gcp.vm import MigService, MigServiceArgs
    from modelport.plan.runner import run_program

    def program():
        MigService("churn-vm", args_of(MigServiceArgs, internal_certificate=REGIONAL_CERT))

    dev = _names(run_program(program, project="modelport", stack="dev", preview=False).resources)
    prod = _names(run_program(program, project="modelport", stack="prod", preview=False).resources)
    assert dev and len(dev) == len(prod)
    assert dev.isdisjoint(prod), sorted(dev & prod)
