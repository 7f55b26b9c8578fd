"""serving-grpc-closed-where-not-carried judges GRPC_PORT the way the serving image reads it, and a value it cannot
read is never a pass. (The violating and compliant fixtures per resource type live in the cloud tables.)"""

from __future__ import annotations

import pulumi
import pytest
from modelport.plan.mocks import CapturedResource
from modelport.plan.policy import UNCHECKED_PREFIX, evaluate_resources
from modelport.policies.rules.props import UNKNOWN
from modelport.policies.rules.serving import grpc_port_problem

from serving_image.config import ConfigError, load_settings

RULE = "serving-grpc-closed-where-not-carried"


def image_grpc_port(env: dict[str, str]) -> int:
    """The gRPC port the serving image itself settles on for this environment (0: off)."""
    return load_settings({"MODEL_DIR": "/models/churn", **env}).grpc_port


@pytest.mark.parametrize("value", ["0", " 0", "00", "0 ", "+0"])
def test_values_the_image_reads_as_off_pass(value: str) -> None:
    assert grpc_port_problem("x", value) is None
    assert image_grpc_port({"GRPC_PORT": value}) == 0


@pytest.mark.parametrize(("value", "port"), [(None, 8081), ("", 8081), ("  ", 8081), ("8081", 8081), ("9000", 9000)])
def test_values_the_image_reads_as_a_listener_are_violations_naming_the_value(value: str | None, port: int) -> None:
    problem = grpc_port_problem("Lambda function churn", value)
    assert problem is not None and problem.startswith("Lambda function churn")
    assert str(port) in problem
    env = {} if value is None else {"GRPC_PORT": value}
    assert image_grpc_port(env) == port, "the rule's reading matches the image's"


def test_a_value_the_image_refuses_is_a_violation() -> None:
    assert "not a port" in (grpc_port_problem("x", "off") or "")
    with pytest.raises(ConfigError):
        image_grpc_port({"GRPC_PORT": "off"})


def test_a_computed_value_is_a_violation_not_a_pass() -> None:
    assert "computes GRPC_PORT at deploy time" in (grpc_port_problem("x", UNKNOWN) or "")


def _function(variables: object) -> CapturedResource:
    return CapturedResource(
        urn="urn:pulumi:prod::modelport::aws:lambda/function:Function::churn",
        type="aws:lambda/function:Function",
        name="churn",
        parent=None,
        custom=True,
        inputs={"packageType": "Image", "environment": {"variables": variables}},
    )


def test_an_unknown_grpc_port_fails_through_the_evaluator() -> None:
    evaluation = evaluate_resources([_function({"GRPC_PORT": pulumi.output.Unknown()})], environment="prod")
    (violation,) = evaluation.by_rule(RULE)
    assert violation.level == "mandatory" and "literal 0" in violation.message


def test_an_unknown_environment_is_unchecked_never_passed() -> None:
    evaluation = evaluate_resources([_function(pulumi.output.Unknown())], environment="prod")
    assert not evaluation.by_rule(RULE)
    unchecked = [v for v in evaluation.unchecked if v.policy == RULE]
    assert unchecked and unchecked[0].message.startswith(UNCHECKED_PREFIX)
