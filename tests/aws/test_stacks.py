"""The example AWS stacks plan offline: every pattern appears, each target gets its regional provider with default
tags, and the policy pack finds no mandatory violation."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from modelport.plan import plan_stack
from modelport.plan.runner import Plan, PolicyReport

STACKS = Path(__file__).resolve().parents[2] / "stacks"
EXPECTED = {
    "aws-prod": {"modelport:aws:EcsService": "us-east-1", "modelport:aws:EksService": "us-west-2"},
    "aws-dev": {
        "modelport:aws:Ec2Service": "us-east-1",
        "modelport:aws:LambdaService": "us-east-1",
        "modelport:aws:SageMakerEndpoint": "us-east-1",
    },
}


def no_policies(plan: Plan) -> PolicyReport:
    return PolicyReport()


@pytest.fixture(scope="module")
def plans() -> dict[str, Plan]:
    return {stack: plan_stack(stack, STACKS, evaluate=no_policies) for stack in EXPECTED}


def test_all_five_patterns_are_planned_across_the_two_stacks(plans):
    found = {r.type for plan in plans.values() for r in plan.resources if r.type.startswith("modelport:aws:")}
    assert {
        "modelport:aws:Ec2Service",
        "modelport:aws:EcsService",
        "modelport:aws:EksService",
        "modelport:aws:LambdaService",
        "modelport:aws:SageMakerEndpoint",
    } <= found


@pytest.mark.parametrize("stack", sorted(EXPECTED))
def test_each_target_runs_with_its_regional_provider_and_default_tags(plans, stack):
    plan = plans[stack]
    providers = {r.urn: r for r in plan.resources if r.type == "pulumi:providers:aws"}
    for component_type, region in EXPECTED[stack].items():
        component = next(r for r in plan.resources if r.type == component_type)
        children = [r for r in plan.resources if r.parent == component.urn and r.custom]
        assert children, component_type
        provider_urn = children[0].provider.rsplit("::", 1)[0]
        provider = providers[provider_urn].inputs
        assert provider["region"] == region
        # Provider inputs reach the engine as strings; nested ones are JSON.
        default_tags = provider["defaultTags"]
        tags = (json.loads(default_tags) if isinstance(default_tags, str) else default_tags)["tags"]
        assert tags["managed-by"] == "modelport" and tags["team"] == "ml-platform"


@pytest.mark.parametrize("stack", sorted(EXPECTED))
def test_stack_exports_an_endpoint_and_identity_per_target(plans, stack):
    outputs = plans[stack].outputs
    assert len(outputs["endpoints"]) == len(EXPECTED[stack])
    assert all(str(v).startswith(("http://", "https://")) for v in outputs["endpoints"].values())
    assert all(str(v).startswith("arn:aws:iam::") for v in outputs["identities"].values())


@pytest.mark.skipif(importlib.util.find_spec("modelport.plan.policy") is None, reason="no policy pack")
def test_policy_pack_finds_no_mandatory_violation_in_the_aws_stacks():
    for stack in EXPECTED:
        plan = plan_stack(stack, STACKS)
        assert plan.policy.evaluated > 0
        assert [(v.policy, v.message) for v in plan.policy.mandatory] == []
