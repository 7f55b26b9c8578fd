"""Every rule flags its violating fixtures and passes its compliant ones, on the real property names."""

from __future__ import annotations

import pytest
from policy_cases import rules_by_name
from policy_tables import TABLES, table_run

PARAMS = [
    pytest.param(table, index, id=f"{table}:{case.rule}:{'bad' if case.violates else 'good'}:{case.label}")
    for table, cases in TABLES.items()
    for index, case in enumerate(cases)
]


@pytest.mark.parametrize(("table", "index"), PARAMS)
def test_fixture(table: str, index: int) -> None:
    run = table_run(table)
    case = run.cases[index]
    rule = rules_by_name()[case.rule]
    resources = run.resources(index)
    inspected = [r for r in resources if rule.kind == "stack" or r.type in rule.resource_types]
    assert inspected, f"the fixture registers no {rule.resource_types} for {case.rule} to inspect"
    assert not run.unchecked(index), "fixtures are fully known; nothing may be left unchecked"
    found = run.violations(index, case.rule)
    if case.violates:
        assert found, f"{case.rule} did not flag: {case.label}"
        assert all(v.message and v.message != rule.description for v in found), "violations say what is wrong"
    else:
        assert not found, f"{case.rule} flagged its compliant fixture ({case.label}): {[v.message for v in found]}"
        skipped = run.not_applicable(index, case.rule)
        exercised = [r for r in inspected if r.urn not in skipped] if rule.kind == "resource" else inspected
        assert exercised and not (rule.kind == "stack" and skipped), "a compliant fixture must exercise the rule"


def test_every_rule_has_violating_and_compliant_fixtures() -> None:
    cases = [case for cases in TABLES.values() for case in cases]
    rules = rules_by_name()
    unknown = sorted({c.rule for c in cases} - set(rules))
    assert not unknown, f"fixtures name rules that do not exist: {unknown}"
    missing_bad = sorted(set(rules) - {c.rule for c in cases if c.violates})
    missing_good = sorted(set(rules) - {c.rule for c in cases if not c.violates})
    assert not missing_bad, f"rules without a violating fixture: {missing_bad}"
    assert not missing_good, f"rules without a compliant fixture: {missing_good}"
