"""The offline evaluator mirrors the engine: levels, prod escalation, not-applicable, unknowns, secrets, config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pytest
from modelport.plan.mocks import CapturedResource
from modelport.plan.policy import (
    UNCHECKED_PREFIX,
    PolicyEvaluationError,
    _rules_package,
    evaluate,
    evaluate_plan,
    evaluate_resources,
    load_policy_config,
    parse_policy_config,
)
from modelport.plan.runner import Plan, PolicyReport, run_program
from modelport.validation import SpecError
from policy_cases import TAGGED_IMAGE

DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def tagged_deployment() -> None:
    """A Deployment whose only fault (for these rules) is an image by tag; min replicas 1 for prod-only checks."""
    k8s.apps.v1.Deployment(
        "web",
        metadata={"name": "web", "namespace": "web"},
        spec={
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": TAGGED_IMAGE}]},
            },
        },
    )


def plan_of(program: Any, environment: str = "dev") -> Plan:
    return run_program(program, config={"modelport:environment": environment})


def levels_of(evaluation: Any, rule: str) -> set[str]:
    return {v.level for v in evaluation.by_rule(rule)}


def test_advisory_rules_are_advisory_in_dev_and_mandatory_in_prod() -> None:
    assert levels_of(evaluate(plan_of(tagged_deployment, "dev")), "k8s-image-digest") == {"advisory"}
    assert levels_of(evaluate(plan_of(tagged_deployment, "staging")), "k8s-image-digest") == {"advisory"}
    assert levels_of(evaluate(plan_of(tagged_deployment, "prod")), "k8s-image-digest") == {"mandatory"}


def test_explicit_levels_win_over_prod_escalation_and_all() -> None:
    plan = plan_of(tagged_deployment, "prod")
    kept = evaluate(plan, {"k8s-image-digest": "advisory"})
    assert levels_of(kept, "k8s-image-digest") == {"advisory"}
    everything = evaluate(plan, {"all": "advisory", "k8s-pss-privilege-escalation": {"enforcementLevel": "mandatory"}})
    assert levels_of(everything, "k8s-pss-run-as-non-root") == {"advisory"}
    assert levels_of(everything, "k8s-pss-privilege-escalation") == {"mandatory"}


def test_remediate_counts_as_mandatory_and_disabled_is_skipped() -> None:
    plan = plan_of(tagged_deployment, "dev")
    baseline = evaluate(plan)
    remediate = evaluate(plan, {"k8s-image-digest": "remediate"})
    assert levels_of(remediate, "k8s-image-digest") == {"mandatory"}
    disabled = evaluate(plan, {"k8s-image-digest": {"enforcementLevel": "disabled"}})
    assert not disabled.by_rule("k8s-image-digest")
    assert disabled.evaluated == baseline.evaluated - 1, "a disabled rule is not run at all"
    nothing = evaluate(plan, {"all": "disabled"})
    assert nothing.evaluated == 0 and not nothing.violations


def test_prod_only_rules_are_not_applicable_outside_prod() -> None:
    dev = evaluate(plan_of(tagged_deployment, "dev"))
    assert not dev.by_rule("k8s-min-replicas-prod")
    assert any(
        name == "k8s-min-replicas-prod" and "only enforced in prod" in reason for name, _, reason in dev.not_applicable
    )
    prod = evaluate(plan_of(tagged_deployment, "prod"))
    [violation] = prod.by_rule("k8s-min-replicas-prod")
    assert violation.message == "web keep(s) 1 replica(s) at minimum; prod needs at least 2"
    assert violation.urn.endswith("::web")


def test_policy_config_environment_overrides_the_plan() -> None:
    plan = plan_of(tagged_deployment, "dev")
    evaluation = evaluate(plan, {"k8s-min-replicas-prod": {"environment": "prod"}})
    assert evaluation.by_rule("k8s-min-replicas-prod")
    assert levels_of(evaluation, "k8s-image-digest") == {"advisory"}, "escalation follows the plan's environment"
    as_prod = evaluate(plan, environment="prod")
    assert levels_of(as_prod, "k8s-image-digest") == {"mandatory"}


def test_unknown_values_are_reported_as_unchecked_not_crashes_or_passes() -> None:
    unknown = CapturedResource(
        urn="urn:pulumi:dev::modelport::aws:ecr/repository:Repository::images",
        type="aws:ecr/repository:Repository",
        name="images",
        parent=None,
        custom=True,
        inputs={
            "imageTagMutability": pulumi.output.Unknown(),
            "imageScanningConfiguration": {"scanOnPush": True},
            "encryptionConfigurations": [{"encryptionType": "KMS", "kmsKey": pulumi.output.Unknown()}],
        },
    )
    evaluation = evaluate_resources([unknown], environment="prod")
    unchecked = {v.policy: v for v in evaluation.unchecked}
    # Whether tags are immutable cannot be known; a computed KMS key ARN is known to be set.
    assert set(unchecked) == {"aws-ecr-immutable-tags"}
    assert unchecked["aws-ecr-immutable-tags"].message.startswith(UNCHECKED_PREFIX)
    assert ".imageTagMutability" in unchecked["aws-ecr-immutable-tags"].message
    assert unchecked["aws-ecr-immutable-tags"].urn == unknown.urn
    assert not evaluation.by_rule("aws-ecr-cmk-encryption")
    assert not evaluation.by_rule("aws-ecr-immutable-tags"), "an unknown value is never a silent pass or a fail"
    assert not evaluation.by_rule("aws-ecr-scan-on-push")


def test_unknown_outputs_of_a_preview_reach_rules_as_unknowns() -> None:
    def program() -> None:
        # Computed values the mocks do not supply stay unknown during the preview, as in `pulumi preview`.
        key = pulumi.Output(set(), pulumi.Output.from_input("arn").future(), is_known=_never_known())
        days = pulumi.Output(set(), pulumi.Output.from_input(365).future(), is_known=_never_known())
        aws.cloudwatch.LogGroup("logs", retention_in_days=days, kms_key_id=key)

    plan = plan_of(program, "prod")
    evaluation = evaluate(plan)
    # How long is unknowable, so both retention rules are reported unchecked...
    assert sorted(v.policy for v in evaluation.unchecked) == ["aws-log-retention", "aws-log-retention-prod"]
    assert all(v.message.startswith(UNCHECKED_PREFIX) for v in evaluation.unchecked)
    # ...while a key ARN another resource will compute is known to be set.
    assert not evaluation.by_rule("aws-log-group-cmk")
    report = evaluate_plan(plan)
    assert isinstance(report, PolicyReport) and len(report.unchecked) == 2 and report.evaluated > 0


def _never_known() -> Any:
    import asyncio

    future: asyncio.Future[bool] = asyncio.get_event_loop().create_future()
    future.set_result(False)
    return future


def test_secret_inputs_are_judged_unwrapped_and_stay_masked_in_the_plan() -> None:
    def program() -> None:
        aws.lambda_.Function(
            "fn",
            role="arn:aws:iam::123456789012:role/fn",
            package_type="Image",
            image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/fn@sha256:" + "4f" * 32,
            environment={"variables": {"DB_PASSWORD": pulumi.Output.secret("hunter2hunter2")}},
        )

    plan = plan_of(program)
    messages = [v.message for v in evaluate(plan).by_rule("aws-lambda-env-no-secrets")]
    assert messages == ["environment variable DB_PASSWORD holds a literal credential"]
    assert "hunter2" not in plan.to_json()


def test_stack_rules_report_against_the_resource_they_name() -> None:
    def program() -> None:
        k8s.apps.v1.Deployment(
            "api",
            metadata={"name": "api", "namespace": "api"},
            spec={
                "selector": {"matchLabels": {"app": "api"}},
                "template": {
                    "metadata": {"labels": {"app": "api"}},
                    "spec": {"containers": [{"name": "api", "image": TAGGED_IMAGE}]},
                },
            },
        )

    evaluation = evaluate(plan_of(program))
    [violation] = evaluation.by_rule("autoscaler-kubernetes")
    assert violation.urn.endswith("::api") and violation.level == "mandatory"


@pytest.mark.parametrize(
    ("config", "path", "reason"),
    [
        (["k8s-image-digest"], "policy-config", "must be a JSON object"),
        ({"k8s-image-digets": "mandatory"}, "policy-config.k8s-image-digets", "did you mean k8s-image-digest"),
        ({"no-such-rule": "advisory"}, "policy-config.no-such-rule", "unknown rule"),
        ({"k8s-image-digest": "strict"}, "policy-config.k8s-image-digest", "must be one of advisory, mandatory"),
        (
            {"k8s-image-digest": {"enforcementLevel": "block"}},
            "policy-config.k8s-image-digest.enforcementLevel",
            "must be one of advisory, mandatory, remediate, disabled",
        ),
        (
            {"k8s-image-digest": {"enforcementLevel": 1}},
            "policy-config.k8s-image-digest.enforcementLevel",
            "must be one of",
        ),
        (
            {"k8s-image-digest": {"environment": "qa"}},
            "policy-config.k8s-image-digest.environment",
            "must be one of dev, staging, prod",
        ),
        (
            {"k8s-image-digest": {"enviroment": "prod"}},
            "policy-config.k8s-image-digest.enviroment",
            "unknown property; accepted: enforcementLevel, environment",
        ),
        ({"k8s-image-digest": ["mandatory"]}, "policy-config.k8s-image-digest", "must be an enforcement level"),
        (
            {"all": {"enforcementLevel": "mandatory", "environment": "prod"}},
            "policy-config.all.environment",
            "only takes enforcementLevel",
        ),
        ({"all": "loud"}, "policy-config.all", "must be one of"),
    ],
)
def test_bad_policy_config_is_a_clear_error(config: Any, path: str, reason: str) -> None:
    with pytest.raises(SpecError) as raised:
        parse_policy_config(config)
    assert raised.value.path == path
    assert reason in raised.value.reason


def test_bad_policy_config_stops_evaluation_before_any_rule_runs() -> None:
    with pytest.raises(SpecError, match="policy-config.nope: unknown rule"):
        evaluate(plan_of(tagged_deployment), {"nope": "mandatory"})


def test_policy_config_files_load_and_report_bad_json(tmp_path: Path) -> None:
    good_file = tmp_path / "prod.json"
    good_file.write_text(
        json.dumps({"all": "advisory", "k8s-image-digest": {"enforcementLevel": "mandatory", "environment": "prod"}})
    )
    config = load_policy_config(good_file)
    assert config.all_level == "advisory"
    assert config.levels["k8s-image-digest"] == "mandatory"
    assert config.properties["k8s-image-digest"] == {"environment": "prod"}
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(SpecError, match="broken.json: is not valid JSON"):
        load_policy_config(broken)
    with pytest.raises(SpecError, match="missing.json: cannot be read"):
        load_policy_config(tmp_path / "missing.json")


def _custom_rule(name: str, check: Any) -> Any:
    base = _rules_package().base
    return base.resource_rule(
        name=name,
        description="A test rule.",
        resource_types=(DEPLOYMENT,),
        cloud="kubernetes",
        concern="pod-security",
        level="mandatory",
        severity="low",
        remediation="None needed.",
    )(check)


def test_async_validations_run_to_completion_like_the_engine() -> None:
    from pulumi_policy import ResourceValidationPolicy

    base = _rules_package().base
    reported: list[str] = []

    async def validate(args: Any, report_violation: Any) -> None:
        reported.append(args.name)
        report_violation("async finding", "urn:ignored-for-resource-policies")

    rule = base.Rule(
        name="async-test",
        description="Async.",
        cloud="kubernetes",
        concern="pod-security",
        level="mandatory",
        severity="low",
        remediation="None.",
        resource_types=(DEPLOYMENT,),
        anchor=None,
        prod_only=False,
        kind="resource",
        policy=ResourceValidationPolicy(name="async-test", description="Async.", validate=validate),
    )
    plan = plan_of(tagged_deployment)
    evaluation = evaluate_resources(plan.resources, rules=[rule])
    [violation] = evaluation.violations
    assert reported == ["web"]
    assert violation.message == "async finding"
    assert violation.urn.endswith("::web"), "resource policies always report against the resource"


def test_a_crashing_rule_is_an_error_naming_the_rule_and_resource() -> None:
    def broken(args: Any) -> Any:
        raise KeyError("spec")

    plan = plan_of(tagged_deployment)
    with pytest.raises(PolicyEvaluationError, match=r"policy broken-rule failed on urn:pulumi:.*::web"):
        evaluate_resources(plan.resources, rules=[_custom_rule("broken-rule", broken)])


def test_unknown_environment_is_rejected() -> None:
    with pytest.raises(SpecError, match="modelport:environment: must be one of dev, staging, prod"):
        evaluate_resources([], environment="qa")


def test_under_crossguard_the_environment_comes_from_the_stack_config_then_defaults_to_prod() -> None:
    import contextvars

    from pulumi.runtime.config import CONFIG
    from pulumi_policy import StackValidationArgs
    from pulumi_policy.policy import _NotApplicableError

    rule = next(r for r in _rules_package().stack.RULES if r.name == "k8s-min-replicas-prod")

    def judge(stack_config: dict[str, str]) -> str:
        def run() -> str:
            CONFIG.set(stack_config)
            try:
                rule.policy.validate(StackValidationArgs([], None, {}), lambda message, urn=None: None)
            except _NotApplicableError as exc:
                return exc.reason or ""
            return "applied"

        return contextvars.copy_context().run(run)

    assert judge({"modelport:environment": "dev"}) == "only enforced in prod (environment: dev)"
    assert judge({"modelport:environment": "prod"}) == "applied"
    assert judge({}) == "applied", "with no environment anywhere, the strictest (prod) applies"
