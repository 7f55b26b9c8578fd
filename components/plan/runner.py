"""Running a Pulumi program under mocks and turning what it registered into the plan document."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import gc
import importlib.util
import json
import os
import runpy
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime.settings import reset_options
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from .mocks import CapturedResource, CapturingMonitor, MockContext, PlanMocks
from .stackconfig import SECRET_PLACEHOLDER, StackFiles, apply_override, load_stack

__all__ = ["Plan", "PlanError", "PolicyReport", "Violation", "plan_stack", "run_program", "to_json_value"]

UNKNOWN_PLACEHOLDER = "[unknown]"


class PlanError(RuntimeError):
    """The program could not be planned: it never ran, or it registered nothing. Never a clean plan (exit 2)."""


def _pulumi_version() -> str:
    from importlib.metadata import version

    return version("pulumi")


@dataclass
class Violation:
    policy: str
    level: str  # "mandatory" | "advisory"
    urn: str | None
    message: str
    # How to fix it: the rule catalogue's remediation text.
    remediation: str | None = None

    def as_dict(self) -> dict[str, Any]:
        document = {"policy": self.policy, "level": self.level, "urn": self.urn, "message": self.message}
        if self.remediation:
            document["remediation"] = self.remediation
        return document


@dataclass
class PolicyReport:
    violations: list[Violation] = field(default_factory=list)
    evaluated: int = 0
    # Checks that saw unknown (computed) values and could not be decided offline.
    unchecked: list[Violation] = field(default_factory=list)
    # Why the pack did not run at all (its extra is not installed); None when it ran.
    skipped: str | None = None

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.violations if v.level == "mandatory"]

    def as_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "violations": [v.as_dict() for v in self.violations],
            "evaluated": self.evaluated,
            "unchecked": [v.as_dict() for v in self.unchecked],
        }
        if self.skipped:
            document["skipped"] = self.skipped
        return document


@dataclass
class Plan:
    """Everything a program registered under mocks, plus its stack outputs and the policy report."""

    project: str
    stack: str
    resources: list[CapturedResource]
    outputs: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    policy: PolicyReport = field(default_factory=PolicyReport)

    @property
    def configured_environment(self) -> str | None:
        value = self.config.get(f"{self.project}:environment", self.config.get("modelport:environment"))
        return None if value is None else str(value)

    @property
    def component_environments(self) -> set[str]:
        """The profiles modelport components recorded (``modelportEnvironment``) when the program built them."""
        from ..base import ENVIRONMENT_PROP

        return {
            str(r.inputs[ENVIRONMENT_PROP]) for r in self.resources if not r.custom and ENVIRONMENT_PROP in r.inputs
        }

    @property
    def environment(self) -> str:
        """The environment the plan is judged as: the strictest of the stack config's and the components' own.

        A program may pick a profile under any config key, or none; judging the profile the components received
        means a prod-built service is never judged as dev.
        """
        from ..spec import ENVIRONMENTS

        seen = set(self.component_environments)
        if self.configured_environment in ENVIRONMENTS:
            seen.add(self.configured_environment)
        return max(seen, key=ENVIRONMENTS.index) if seen else (self.configured_environment or "dev")

    def by_type(self, type_: str) -> list[CapturedResource]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> CapturedResource:
        """The single resource of ``type_`` (named ``name`` when given); an AssertionError lists what was found."""
        found = [r for r in self.by_type(type_) if name is None or r.name == name]
        if len(found) != 1:
            raise AssertionError(f"expected one {type_} named {name!r}, found {[r.name for r in found]}")
        return found[0]

    @property
    def trusted_inputs(self) -> list[dict[str, Any]]:
        """Bring-your-own values the guardrails cannot judge (see modelport.plan.trusted)."""
        from .trusted import trusted_inputs

        return trusted_inputs(self.config)

    def as_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "project": self.project,
            "resources": [
                {
                    "urn": r.urn,
                    "type": r.type,
                    "name": r.name,
                    "parent": r.parent,
                    "custom": r.custom,
                    "inputs": to_json_value(r.inputs),
                }
                for r in self.resources
            ],
            "outputs": to_json_value(self.outputs),
            "policy": self.policy.as_dict(),
            "trusted_inputs": self.trusted_inputs,
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, sort_keys=False)


def to_json_value(value: Any) -> Any:
    """Engine values as JSON: secrets masked, unknowns marked, resources by URN, assets by kind."""
    if isinstance(value, dict):
        sig = value.get(rpc._special_sig_key)
        if sig == rpc._special_secret_sig:
            return SECRET_PLACEHOLDER
        return {str(k): to_json_value(v) for k, v in value.items() if k != rpc._special_sig_key}
    if isinstance(value, (list, tuple)):
        return [to_json_value(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        # The engine keeps numbers as float64 and prints whole ones as integers (desiredCount: 2, not 2.0).
        return int(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, pulumi.output.Unknown) or value is rpc.UNKNOWN:
        return UNKNOWN_PLACEHOLDER
    if isinstance(value, pulumi.Resource):
        return f"[resource {type(value).__name__}]"
    if isinstance(value, (pulumi.Asset, pulumi.Archive)):
        return f"[{type(value).__name__}]"
    return str(value)


def _config_strings(config: dict[str, Any]) -> dict[str, str]:
    """Pulumi keeps config as strings; structured values are JSON, as `pulumi config set --path` stores them."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


# Registering a resource allocates thousands of short-lived objects, so CPython's default gen-0 threshold (700)
# ran a collection every few registrations, each scanning a growing heap: 40% of plan time, rising with size.
# A higher threshold during the run keeps planning linear; cycles are still collected.
_PLAN_GC_THRESHOLD = (50_000, 20, 20)


@contextlib.contextmanager
def _collect_less_often() -> Iterator[None]:
    previous = gc.get_threshold()
    gc.set_threshold(*_PLAN_GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*previous)


@contextlib.contextmanager
def _program_context(directory: Path) -> Iterator[None]:
    """Run like the Pulumi language host: cwd is the project and it is importable."""
    previous_cwd = os.getcwd()
    sys.path.insert(0, str(directory.resolve()))
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(previous_cwd)
        with contextlib.suppress(ValueError):
            sys.path.remove(str(directory.resolve()))


def run_program(
    program: Callable[[], Any],
    *,
    project: str = "modelport",
    stack: str = "dev",
    config: dict[str, Any] | None = None,
    secret_keys: list[str] | None = None,
    preview: bool = True,
) -> Plan:
    """Run ``program`` under the capturing mocks on a fresh event loop and return what it registered."""
    config = dict(config or {})
    loop = asyncio.new_event_loop()
    previous_loop = None
    with contextlib.suppress(RuntimeError):
        previous_loop = asyncio.get_event_loop_policy().get_event_loop()
    asyncio.set_event_loop(loop)
    try:
        reset_options(project=project, stack=stack, preview=preview)
        pulumi.runtime.set_all_config(_config_strings(config), secret_keys or [])
        mocks = PlanMocks(MockContext(config=_config_strings(config)))
        monitor = CapturingMonitor(mocks, project=project, stack=stack)
        pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=preview, monitor=monitor)
        outputs: dict[str, Any] = {}

        async def collect_outputs() -> None:
            root = pulumi.runtime.settings.get_root_resource()
            for key, value in dict(getattr(root, "outputs", {}) or {}).items():
                output = pulumi.Output.from_input(value)
                known = await output.is_known()
                secret = await output.is_secret()
                resolved = await output.future(with_unknowns=True)
                outputs[key] = SECRET_PLACEHOLDER if secret else (resolved if known else UNKNOWN_PLACEHOLDER)

        ran: list[bool] = []

        def main() -> None:
            # Synchronous on purpose: run_pulumi_func awaits an awaitable result only since pulumi 3.15x-3.2xx,
            # and older releases call it and drop the coroutine. Nested _sync_await is what pulumi.runtime.test
            # itself does, on every release we support.
            result = program()
            if asyncio.iscoroutine(result):
                _sync_await(result)
            ran.append(True)

        with _collect_less_often():
            _sync_await(run_pulumi_func(main))
        if not ran:
            raise PlanError(
                f"the program never ran under pulumi {_pulumi_version()}: the runtime did not call it; "
                "this pulumi release is not supported by modelport's planner"
            )
        _sync_await(collect_outputs())
        if not monitor.captured:
            raise PlanError("the program registered no resources: nothing to plan (is this the right stack program?)")
        return Plan(project=project, stack=stack, resources=list(monitor.captured), outputs=outputs, config=config)
    finally:
        reset_options()
        # Executor threads hold event loops of their own (the mock monitor creates them); stop the threads
        # while file descriptors are still valid so those loops close cleanly.
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
        asyncio.set_event_loop(previous_loop)


def plan_stack(
    stack: str,
    stack_dir: str | Path = "stacks",
    overrides: list[tuple[str, Any]] | None = None,
    evaluate: Callable[[Plan], PolicyReport] | None = None,
) -> Plan:
    """Plan one stack of a project directory. ``evaluate`` defaults to the policy pack, if installed."""
    files: StackFiles = load_stack(stack, stack_dir)
    config = copy.deepcopy(files.config)
    for key, value in overrides or []:
        apply_override(config, files.project, key, value)
    main = files.main.resolve()
    with _program_context(files.directory):
        plan = run_program(
            lambda: runpy.run_path(str(main), run_name="__main__"),
            project=files.project,
            stack=stack,
            config=config,
            secret_keys=files.secret_keys,
        )
    plan.policy = (evaluate or evaluate_policies)(plan)
    return plan


def evaluate_policies(plan: Plan) -> PolicyReport:
    """The policy hook: the policy pack's offline evaluator judges the plan.

    Without the ``policy`` extra the report says it was skipped and why; nothing is judged silently.
    """
    if importlib.util.find_spec("pulumi_policy") is None:
        return PolicyReport(skipped="the policy pack needs pulumi-policy: pip install 'modelport[policy]'")
    from .policy import evaluate_plan

    return evaluate_plan(plan)
