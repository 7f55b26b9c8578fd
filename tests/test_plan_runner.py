"""The offline runner: captured registrations, masked secrets, stack outputs, config overrides and mock invokes."""

from __future__ import annotations

import json

import pulumi
import pulumi_kubernetes as k8s
import pytest
from modelport.plan.runner import run_program
from modelport.plan.stackconfig import apply_override, parse_override
from modelport.validation import SpecError


def test_secret_inputs_and_outputs_are_masked_in_json() -> None:
    def program() -> None:
        secret = pulumi.Output.secret("hunter2")
        k8s.core.v1.Secret("db", metadata={"name": "db"}, string_data={"password": secret})
        pulumi.export("password", secret)
        pulumi.export("plain", "visible")

    plan = run_program(program, stack="dev")
    text = plan.to_json()
    assert "hunter2" not in text
    document = json.loads(text)
    (secret,) = [r for r in document["resources"] if r["type"] == "kubernetes:core/v1:Secret"]
    assert secret["inputs"]["stringData"] == "[secret]"
    assert document["outputs"] == {"password": "[secret]", "plain": "visible"}


def test_parents_and_providers_are_captured() -> None:
    class Box(pulumi.ComponentResource):
        def __init__(self, name: str) -> None:
            super().__init__("test:index:Box", name)
            provider = k8s.Provider(f"{name}-k8s", context="ctx")
            k8s.core.v1.Namespace(f"{name}-ns", opts=pulumi.ResourceOptions(parent=self, provider=provider))
            self.register_outputs({})

    plan = run_program(lambda: Box("box"))
    box = next(r for r in plan.resources if r.type == "test:index:Box")
    namespace = next(r for r in plan.resources if r.type == "kubernetes:core/v1:Namespace")
    assert namespace.parent == box.urn and box.custom is False and namespace.custom is True
    assert "pulumi:providers:kubernetes::box-k8s" in namespace.provider
    assert namespace.outputs["metadata"]["name"].startswith("box-ns-")  # auto-named like the real provider


def test_aws_invokes_answer_with_the_provider_region() -> None:
    aws = pytest.importorskip("pulumi_aws")

    def program() -> None:
        provider = aws.Provider("eu", region="eu-west-1")
        zones = aws.get_availability_zones_output(state="available", opts=pulumi.InvokeOutputOptions(provider=provider))
        pulumi.export("zones", zones.names)
        pulumi.export("account", aws.get_caller_identity_output().account_id)

    plan = run_program(program, preview=False)
    assert plan.outputs["zones"][:3] == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    assert plan.outputs["account"] == "123456789012"  # the AWS documentation's placeholder account


def test_program_errors_propagate() -> None:
    def program() -> None:
        raise SpecError("modelport:service.name", "is required")

    with pytest.raises(SpecError, match="modelport:service.name"):
        run_program(program)


def test_override_paths() -> None:
    config = {"modelport:service": {"name": "a", "scaling": {}}, "modelport:targets": [{"cloud": "aws"}]}
    apply_override(config, "modelport", *parse_override("modelport:service.scaling.min_replicas=3"))
    apply_override(config, "modelport", *parse_override("modelport:targets[0].options.namespace=x"))
    apply_override(config, "modelport", *parse_override('environment="prod"'))
    assert config["modelport:service"]["scaling"]["min_replicas"] == 3
    assert config["modelport:targets"][0]["options"] == {"namespace": "x"}
    assert config["modelport:environment"] == "prod"
    with pytest.raises(SpecError, match=r"modelport:targets\[3\]: no such list item"):
        apply_override(config, "modelport", "modelport:targets[3].region", "x")
    with pytest.raises(SpecError, match="path steps"):
        apply_override(config, "modelport", "modelport:service..name", "x")


# --- a plan never passes by mistake ---------------------------------------------------------------------------

IMAGE = "registry.example.com/ml/churn@sha256:" + "6b" * 32


def test_a_program_that_registers_nothing_is_an_error_not_a_clean_plan() -> None:
    from modelport.plan.runner import PlanError

    with pytest.raises(PlanError, match="registered no resources"):
        run_program(lambda: None)


def test_a_program_the_runtime_never_calls_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # Older pulumi releases called the program and dropped a coroutine it returned: 0 resources, exit 0.
    import modelport.plan.runner as runner

    async def runtime_that_drops_the_program(func):  # noqa: ARG001 - mimics a runtime that never calls func
        return None

    monkeypatch.setattr(runner, "run_pulumi_func", runtime_that_drops_the_program)
    with pytest.raises(runner.PlanError, match="never ran under pulumi"):
        run_program(lambda: k8s.core.v1.Namespace("ns"))


def test_an_async_program_runs_and_is_captured() -> None:
    async def program() -> None:
        k8s.core.v1.Namespace("ns")

    plan = run_program(program)
    assert [r.type for r in plan.resources] == ["kubernetes:core/v1:Namespace"]


def test_the_environment_judged_is_the_profile_the_components_received() -> None:
    from modelport import PROFILES, ModelService
    from modelport.kubernetes import ModelWorkload, ModelWorkloadArgs

    def program() -> None:
        service = ModelService.from_config({"name": "churn", "image": IMAGE})
        ModelWorkload("churn", ModelWorkloadArgs(service=service, profile=PROFILES["prod"]))

    # The stack says nothing (or dev) about its environment; the program picked prod under its own key.
    plan = run_program(program, config={"myproject:stage": "prod"})
    assert plan.component_environments == {"prod"}
    assert plan.environment == "prod"
    plan = run_program(program, config={"modelport:environment": "dev"})
    assert plan.environment == "prod"  # the strictest of config and components


def test_the_judged_environment_makes_prod_rules_apply() -> None:
    from modelport import PROFILES, ModelService
    from modelport.kubernetes import ModelWorkload, ModelWorkloadArgs
    from modelport.plan.policy import evaluate_plan

    def program() -> None:
        service = ModelService.from_config({"name": "churn", "image": "ghcr.io/acme/churn:latest"})
        ModelWorkload("churn", ModelWorkloadArgs(service=service, profile=PROFILES["prod"]))

    plan = run_program(program, config={"modelport:environment": "dev"})
    report = evaluate_plan(plan)
    assert any("digest" in v.message.lower() for v in report.mandatory), [v.policy for v in report.violations]
