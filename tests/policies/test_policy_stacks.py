"""Every example stack plans offline with zero mandatory violations, and the pack really judged it."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from modelport.plan.runner import Plan, plan_stack

STACKS = Path(__file__).resolve().parents[2] / "stacks"
EXAMPLES = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in STACKS.glob("Pulumi.*.yaml"))


@cache
def planned(stack: str) -> Plan:
    return plan_stack(stack, STACKS)


def test_the_examples_cover_dev_staging_and_prod() -> None:
    environments = {planned(stack).environment for stack in EXAMPLES}
    assert {"dev", "staging", "prod"} <= environments


@pytest.mark.parametrize("stack", EXAMPLES)
def test_example_stack_has_no_mandatory_violations(stack: str) -> None:
    plan = planned(stack)
    report = plan.policy
    assert report.evaluated > len(plan.resources) // 2, "the pack judged the stack's resources"
    assert not report.mandatory, "\n".join(f"{v.policy}: {v.message} ({v.urn})" for v in report.mandatory)
    assert not report.unchecked, "example stacks are fully known offline"
