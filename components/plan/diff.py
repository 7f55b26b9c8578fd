"""Plan diff: what changes between two plan documents (resources, inputs, outputs, policy results), as text or
Markdown for a pull-request comment."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..validation import SpecError
from .stackconfig import SECRET_PLACEHOLDER

__all__ = ["InputChange", "PlanDiff", "diff_plans", "diff_markdown", "load_baseline", "plan_markdown", "print_diff"]

# Values longer than this are cut in reports; the JSON plans keep them whole.
SHOWN_LENGTH = 120


@dataclass(frozen=True)
class InputChange:
    """One input of a resource that differs: its dotted path and both values (secrets masked)."""

    path: str
    before: Any
    after: Any


@dataclass
class PlanDiff:
    """Resources keyed by their URN without the stack and project, so two stacks of one project compare."""

    before: str
    after: str
    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    changed: dict[str, list[InputChange]] = field(default_factory=dict)
    unchanged: int = 0
    outputs: list[InputChange] = field(default_factory=list)
    appeared: list[dict[str, Any]] = field(default_factory=list)
    cleared: list[dict[str, Any]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.outputs or self.appeared or self.cleared)


def _resource_key(urn: str) -> str:
    """``urn:pulumi:<stack>::<project>::<type chain>::<name>`` without the stack and project."""
    parts = urn.split("::")
    return "::".join(parts[2:]) if len(parts) >= 4 else urn


def _check_document(source: str, document: Any) -> dict[str, Any]:
    if not isinstance(document, dict) or not isinstance(document.get("resources"), list):
        raise SpecError(source, "is not a modelport plan document (`modelport plan --json`): no `resources` list")
    return document


def load_baseline(against: str, plan_other: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """The plan to compare with: a saved ``--json`` document, or another stack of the project, planned now."""
    path = Path(against)
    if against.endswith(".json") or path.is_file():
        try:
            document = json.loads(path.read_text())
        except OSError as exc:
            raise SpecError(f"--against {against}", f"cannot be read: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise SpecError(f"--against {against}", f"is not valid JSON: {exc}") from None
        return _check_document(f"--against {against}", document)
    return plan_other(against)


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            yield from _flatten(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from _flatten(item, f"{prefix}[{index}]")
    else:
        yield prefix, value


def _masked(before: Any, after: Any) -> tuple[Any, Any]:
    """A secret on either side hides both: showing the other value would tell what the secret was or became."""
    if SECRET_PLACEHOLDER in (before, after):
        return (SECRET_PLACEHOLDER if before is not None else None), (SECRET_PLACEHOLDER if after is not None else None)
    return before, after


_MISSING = object()


def _changes(before: Any, after: Any) -> list[InputChange]:
    old = dict(_flatten(before))
    new = dict(_flatten(after))
    changes = []
    for path in sorted(old.keys() | new.keys()):
        a, b = old.get(path, _MISSING), new.get(path, _MISSING)
        # 2 and 2.0 are the same number (plans saved by older releases print floats); True is not 1.
        if a == b and isinstance(a, bool) == isinstance(b, bool):
            continue
        shown_a, shown_b = _masked(None if a is _MISSING else a, None if b is _MISSING else b)
        changes.append(InputChange(path, shown_a, shown_b))
    return changes


def _violation_key(violation: Mapping[str, Any]) -> tuple[str, str, str, str]:
    urn = violation.get("urn")
    return (
        str(violation.get("policy")),
        str(violation.get("level")),
        _resource_key(urn) if isinstance(urn, str) else "(stack)",
        str(violation.get("message")),
    )


def diff_plans(before: Mapping[str, Any], after: Mapping[str, Any]) -> PlanDiff:
    """What ``after`` changes relative to ``before``. Linear in the number of resources and inputs."""
    result = PlanDiff(before=str(before.get("stack")), after=str(after.get("stack")))
    old = {_resource_key(r["urn"]): r for r in before.get("resources", [])}
    new = {_resource_key(r["urn"]): r for r in after.get("resources", [])}
    for key, resource in new.items():
        if key not in old:
            result.added.append(resource)
            continue
        changes = _changes(old[key].get("inputs"), resource.get("inputs"))
        if changes:
            result.changed[key] = changes
        else:
            result.unchanged += 1
    result.removed = [resource for key, resource in old.items() if key not in new]
    result.outputs = _changes(before.get("outputs") or {}, after.get("outputs") or {})
    old_policy = before.get("policy") or {}
    new_policy = after.get("policy") or {}
    old_violations = Counter(_violation_key(v) for v in old_policy.get("violations", []))
    new_violations = Counter(_violation_key(v) for v in new_policy.get("violations", []))
    by_key_new = {_violation_key(v): v for v in new_policy.get("violations", [])}
    by_key_old = {_violation_key(v): v for v in old_policy.get("violations", [])}
    result.appeared = [by_key_new[k] for k in (new_violations - old_violations)]
    result.cleared = [by_key_old[k] for k in (old_violations - new_violations)]
    return result


def _shown(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else json.dumps(value)
    return text if len(text) <= SHOWN_LENGTH else text[: SHOWN_LENGTH - 3] + "..."


def _summary(diff: PlanDiff) -> str:
    return (
        f"{len(diff.added)} to add, {len(diff.changed)} to change, {len(diff.removed)} to remove, "
        f"{diff.unchanged} unchanged; policy: {len(diff.appeared)} new and {len(diff.cleared)} cleared violations"
    )


def print_diff(diff: PlanDiff, console: Any) -> None:
    """The diff on a rich console; every piece of text we did not write is escaped."""
    from rich.markup import escape

    console.print(f"\n[bold]diff[/] against {escape(diff.before)}: {escape(_summary(diff))}", soft_wrap=True)
    for resource in diff.added:
        console.print(f"  [green]+ {escape(resource['type'])} {escape(resource['name'])}[/]", soft_wrap=True)
    for resource in diff.removed:
        console.print(f"  [red]- {escape(resource['type'])} {escape(resource['name'])}[/]", soft_wrap=True)
    for key, changes in diff.changed.items():
        type_, _, name = key.rpartition("::")
        console.print(f"  [yellow]~ {escape(type_.rsplit('$', 1)[-1])} {escape(name)}[/]", soft_wrap=True)
        for change in changes:
            console.print(
                f"      {escape(change.path)}: {escape(_shown(change.before))} -> {escape(_shown(change.after))}",
                soft_wrap=True,
            )
    for change in diff.outputs:
        console.print(
            f"  output {escape(change.path)}: {escape(_shown(change.before))} -> {escape(_shown(change.after))}",
            soft_wrap=True,
        )
    for violation in diff.appeared:
        console.print(
            f"  [red]+ {escape(violation['level'])} {escape(violation['policy'])}[/]: {escape(violation['message'])}",
            soft_wrap=True,
        )
    for violation in diff.cleared:
        console.print(
            f"  [green]- {escape(violation['level'])} {escape(violation['policy'])}[/] (cleared): "
            f"{escape(violation['message'])}",
            soft_wrap=True,
        )


def _md(text: Any) -> str:
    """Markdown table cell text: pipes escaped, newlines folded, no HTML from text we did not write."""
    return (
        str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|").replace("\n", " ")
    )


def _code(text: Any) -> str:
    # Code spans show HTML literally; only the table's pipes, newlines and the span's own backticks need care.
    body = str(text).replace("|", "\\|").replace("\n", " ").replace("`", "'")
    return f"`{body}`"


def diff_markdown(diff: PlanDiff) -> str:
    lines = [f"### Diff against `{_md(diff.before)}`", "", _summary(diff), ""]
    if diff.added or diff.removed or diff.changed:
        lines += ["| | resource | changed inputs |", "|---|---|---|"]
        for resource in diff.added:
            lines.append(f"| + | {_code(resource['type'])} {_code(resource['name'])} | |")
        for resource in diff.removed:
            lines.append(f"| - | {_code(resource['type'])} {_code(resource['name'])} | |")
        for key, changes in diff.changed.items():
            type_, _, name = key.rpartition("::")
            shown = "<br>".join(
                f"{_code(c.path)}: {_code(_shown(c.before))} → {_code(_shown(c.after))}" for c in changes
            )
            lines.append(f"| ~ | {_code(type_.rsplit('$', 1)[-1])} {_code(name)} | {shown} |")
        lines.append("")
    if diff.outputs:
        lines += ["| output | before | after |", "|---|---|---|"]
        lines += [f"| {_code(c.path)} | {_code(_shown(c.before))} | {_code(_shown(c.after))} |" for c in diff.outputs]
        lines.append("")
    if diff.appeared or diff.cleared:
        lines += ["| policy result | rule | level | message |", "|---|---|---|---|"]
        lines += [f"| appeared | {_code(v['policy'])} | {v['level']} | {_md(v['message'])} |" for v in diff.appeared]
        lines += [f"| cleared | {_code(v['policy'])} | {v['level']} | {_md(v['message'])} |" for v in diff.cleared]
        lines.append("")
    return "\n".join(lines)


def plan_markdown(document: Mapping[str, Any], environment: str, diff: PlanDiff | None = None) -> str:
    """A plan (and optionally its diff) as Markdown, for a pull-request comment."""
    resources = document.get("resources", [])
    policy = document.get("policy") or {}
    violations = policy.get("violations", [])
    mandatory = [v for v in violations if v.get("level") == "mandatory"]
    lines = [
        f"## modelport plan: `{_md(document.get('stack'))}` ({_md(environment)})",
        "",
        f"{len(resources)} resources.",
        "",
    ]
    if policy.get("skipped"):
        lines += [f"Policy: **not evaluated**: {_md(policy['skipped'])}", ""]
    else:
        verdict = "**fails**" if mandatory else "passes"
        lines += [
            f"Policy {verdict}: {policy.get('evaluated', 0)} checks, {len(mandatory)} mandatory and "
            f"{len(violations) - len(mandatory)} advisory violations, {len(policy.get('unchecked', []))} "
            "could not be checked offline.",
            "",
        ]
    if violations:
        lines += ["| level | rule | resource | message | fix |", "|---|---|---|---|---|"]
        for violation in violations:
            urn = violation.get("urn")
            where = _code(urn.rsplit("::", 1)[-1]) if isinstance(urn, str) else "(stack)"
            lines.append(
                f"| {violation.get('level')} | {_code(violation.get('policy'))} | {where} | "
                f"{_md(violation.get('message'))} | {_md(violation.get('remediation') or '')} |"
            )
        lines.append("")
    counts = Counter(r["type"] for r in resources)
    lines += ["<details><summary>Resources by type</summary>", "", "| type | count |", "|---|---|"]
    lines += [f"| {_code(type_)} | {count} |" for type_, count in sorted(counts.items())]
    lines += ["", "</details>", ""]
    if diff is not None:
        lines.append(diff_markdown(diff))
    return "\n".join(lines)
