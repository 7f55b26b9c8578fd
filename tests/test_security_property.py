"""The security property (issue 10): random prod configs that plan with exit 0 pass Checkov and parliament, and
no insecure change ever plans clean. A small fixed-seed sample here; bench/fuzz_security.py runs a longer one."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from security_fuzz import CHANGES, judge, prod_configs


def test_every_change_class_has_secure_and_insecure_variants() -> None:
    assert sum(c.insecure for c in CHANGES) >= 15
    assert sum(not c.insecure for c in CHANGES) >= 10


@settings(
    max_examples=20,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(prod_configs())
def test_prod_plans_with_exit_0_pass_the_independent_scanners(generated) -> None:
    config, changes = generated
    _, problems = judge(config, changes)
    assert problems == [], [c.label for c in changes]
