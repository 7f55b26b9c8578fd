"""Planning stays linear as stacks grow: the joins of stack rules go through an index that accepts exactly what
``refers_to`` accepts, and the benchmark's program names every service's resources apart."""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from modelport.plan.runner import run_program
from modelport.policies.rules.stack import _reference_tokens

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import plan_scale  # noqa: E402 - the benchmark lives outside the package

PIECES = st.text(alphabet="ab/:-", min_size=0, max_size=12)


@given(value=PIECES.filter(bool), name=PIECES.filter(bool))
def test_reference_tokens_are_exactly_the_names_refers_to_accepts(value: str, name: str) -> None:
    accepted = value == name or value.endswith(f"/{name}") or f"/{name}/" in value
    assert (name in _reference_tokens(value)) == accepted


def test_reference_tokens_of_an_arn() -> None:
    tokens = _reference_tokens("arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/churn/50dc6c495c0c9188")
    assert {"churn", "app/churn", "50dc6c495c0c9188", "churn/50dc6c495c0c9188"} <= tokens
    assert "chur" not in tokens


def test_the_benchmark_program_grows_by_whole_services() -> None:
    one = run_program(lambda: plan_scale.program(1, ["kubernetes"], "dev"), stack="scale")
    three = run_program(lambda: plan_scale.program(3, ["kubernetes"], "dev"), stack="scale")
    assert len(three.resources) == 3 * len(one.resources)
    assert len({r.urn for r in three.resources}) == len(three.resources)
