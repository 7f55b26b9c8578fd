"""The example Azure stacks plan offline: every pattern appears across them, each target runs with its own
azure-native provider in its location, outputs are ARM ids and HTTPS endpoints, and prod passes the pack."""

from __future__ import annotations

from pathlib import Path

import pytest
from modelport.plan import plan_stack
from modelport.plan.runner import Plan, PolicyReport

ROOT = Path(__file__).resolve().parents[2]
STACKS = ROOT / "stacks"
EXTRA = ROOT / "tests" / "policies" / "stacks"
EXPECTED = {
    ("azure-prod", STACKS): {
        "modelport:azure:ContainerAppService": "westeurope",
        "modelport:azure:AzureMlEndpoint": "westeurope",
    },
    ("azure-dev", STACKS): {
        "modelport:azure:VmssService": "northeurope",
        "modelport:azure:FunctionAppService": "northeurope",
        "modelport:azure:AksService": "northeurope",
    },
    ("azure-patterns-prod", EXTRA): {
        "modelport:azure:VmssService": "swedencentral",
        "modelport:azure:FunctionAppService": "swedencentral",
        "modelport:azure:AksService": "swedencentral",
    },
}


@pytest.fixture(scope="module")
def plans() -> dict[str, Plan]:
    return {stack: plan_stack(stack, where, evaluate=lambda plan: PolicyReport()) for stack, where in EXPECTED}


def test_all_five_patterns_are_planned(plans):
    found = {r.type for plan in plans.values() for r in plan.resources if r.type.startswith("modelport:azure:")}
    assert {
        "modelport:azure:VmssService",
        "modelport:azure:ContainerAppService",
        "modelport:azure:AksService",
        "modelport:azure:FunctionAppService",
        "modelport:azure:AzureMlEndpoint",
    } <= found


@pytest.mark.parametrize(("stack", "where"), list(EXPECTED))
def test_each_target_runs_with_its_own_provider_in_its_location(plans, stack, where):
    plan = plans[stack]
    providers = {r.urn: r for r in plan.resources if r.type == "pulumi:providers:azure-native"}
    assert len(providers) == len(EXPECTED[(stack, where)])
    for component_type, location in EXPECTED[(stack, where)].items():
        component = next(r for r in plan.resources if r.type == component_type)
        children = [r for r in plan.resources if r.parent == component.urn and r.custom]
        assert children, component_type
        provider = providers[children[0].provider.rsplit("::", 1)[0]]
        assert provider.inputs["location"] == location


@pytest.mark.parametrize(("stack", "where"), list(EXPECTED))
def test_stack_exports_https_endpoints_and_identity_ids(plans, stack, where):
    outputs = plans[stack].outputs
    assert len(outputs["endpoints"]) == len(EXPECTED[(stack, where)])
    # Every endpoint is TLS, or a private in-cluster Service (an AKS workload without an Ingress domain).
    assert all(
        str(v).startswith("https://") or str(v).endswith(".svc.cluster.local:8080")
        for v in outputs["endpoints"].values()
    )
    for identity in outputs["identities"].values():
        assert identity.startswith("/subscriptions/") and "/providers/Microsoft.ManagedIdentity/" in identity


@pytest.mark.parametrize(("stack", "where"), list(EXPECTED))
def test_policy_pack_finds_no_mandatory_violation(stack, where):
    plan = plan_stack(stack, where)
    assert plan.policy.evaluated > len(plan.resources) // 2
    assert [(v.policy, v.message) for v in plan.policy.mandatory] == []
    if plan.environment == "prod":
        assert [(v.policy, v.message) for v in plan.policy.violations] == []


def test_prod_with_created_registries_passes_the_pack():
    """Images from a public registry: each target creates its ACR Premium (CMK, zone redundant, private)."""
    image = "ghcr.io/acme-ml/churn-serving@sha256:" + "6b" * 32
    overrides = [
        ("modelport:service.image", image),
        ("modelport:targets[0].options.registry_id", None),
        ("modelport:targets[1].options.registry_id", None),
    ]
    plan = plan_stack("azure-prod", STACKS, overrides=overrides)
    registries = [r for r in plan.resources if r.type == "azure-native:containerregistry:Registry"]
    assert len(registries) == 2
    assert plan.policy.violations == []
