"""Machinery for the rule fixture tables: cases, deep patches, and one evaluated program per table."""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from modelport.plan.mocks import CapturedResource
from modelport.plan.policy import Evaluation, evaluate, load_rules
from modelport.plan.runner import Plan, Violation, run_program

DELETE = object()
DIGEST = "sha256:" + "4f" * 32
IMAGE = f"registry.example.com/ml/churn@{DIGEST}"
TAGGED_IMAGE = "registry.example.com/ml/churn:1.4.2"


def patched(base: Any, patch: Any) -> Any:
    """``base`` with ``patch`` merged in: mappings merge recursively, DELETE removes a key, other values replace."""
    if not isinstance(patch, Mapping) or not isinstance(base, Mapping):
        return copy.deepcopy(patch)
    merged = copy.deepcopy(dict(base))
    for key, value in patch.items():
        if value is DELETE:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = patched(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def cloud_init(image: str = IMAGE, extra: str = "") -> str:
    return (
        "#cloud-config\nwrite_files:\n  - path: /etc/systemd/system/model.service\n    content: |\n"
        f"      [Service]\n      ExecStart=/usr/bin/docker run --rm -p 8080:8080 {image}\n{extra}"
    )


def serving_cloud_init(env: str = "PORT=8080\n", flags: str = "", extra: str = "") -> str:
    """cloud-config that writes the serving image's env file and runs it with ``docker run --env-file``."""
    lines = "".join(f"      {line}\n" for line in env.splitlines())
    return (
        "#cloud-config\nwrite_files:\n  - path: /etc/modelport/env\n    content: |\n"
        f"{lines}"
        "  - path: /etc/systemd/system/model.service\n    content: |\n      [Service]\n"
        f"      ExecStart=/usr/bin/docker run --rm --env-file /etc/modelport/env {flags} -p 8080:8080 {IMAGE}\n{extra}"
    )


@dataclass(frozen=True)
class Case:
    """One fixture: ``build(prefix)`` registers resources named ``prefix`` or ``prefix-*`` for ``rule``."""

    rule: str
    violates: bool
    build: Callable[[str], Any]
    label: str


def bad(rule: str, build: Callable[[str], Any], label: str = "violating") -> Case:
    return Case(rule, True, build, label)


def good(rule: str, build: Callable[[str], Any], label: str = "compliant") -> Case:
    return Case(rule, False, build, label)


def owns(prefix: str, name: str) -> bool:
    return name == prefix or name.startswith(prefix + "-")


def urn_name(urn: str | None) -> str:
    return (urn or "").rsplit("::", 1)[-1]


@dataclass
class TableRun:
    """A fixture table planned as one program and evaluated once.

    Cases that share a ``build`` callable (e.g. one real component serving as the compliant fixture of many
    rules) share one prefix, so the component is built once.
    """

    cases: list[Case]
    prefixes: list[str]
    plan: Plan
    evaluation: Evaluation

    def prefix(self, index: int) -> str:
        return self.prefixes[index]

    def resources(self, index: int) -> list[CapturedResource]:
        prefix = self.prefix(index)
        return [r for r in self.plan.resources if owns(prefix, r.name)]

    def violations(self, index: int, rule: str) -> list[Violation]:
        prefix = self.prefix(index)
        return [v for v in self.evaluation.violations if v.policy == rule and owns(prefix, urn_name(v.urn))]

    def unchecked(self, index: int) -> list[Violation]:
        prefix = self.prefix(index)
        return [v for v in self.evaluation.unchecked if owns(prefix, urn_name(v.urn))]

    def not_applicable(self, index: int, rule: str) -> list[str | None]:
        """URNs of this case's resources that ``rule`` found not applicable (None: the whole stack)."""
        prefix = self.prefix(index)
        return [
            urn
            for name, urn, _ in self.evaluation.not_applicable
            if name == rule and (urn is None or owns(prefix, urn_name(urn)))
        ]


def assign_prefixes(cases: list[Case]) -> list[str]:
    seen: dict[int, str] = {}
    prefixes = []
    for index, case in enumerate(cases):
        prefixes.append(seen.setdefault(id(case.build), f"c{index:03d}"))
    return prefixes


def run_cases(cases: list[Case], environment: str = "prod") -> TableRun:
    prefixes = assign_prefixes(cases)

    def program() -> None:
        built: set[str] = set()
        for case, prefix in zip(cases, prefixes, strict=True):
            if prefix not in built:
                built.add(prefix)
                case.build(prefix)

    plan = run_program(program, stack="fixtures", config={"modelport:environment": environment})
    return TableRun(cases, prefixes, plan, evaluate(plan))


@cache
def rules_by_name() -> dict[str, Any]:
    return {rule.name: rule for rule in load_rules()}
