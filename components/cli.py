"""The `modelport` console script: `plan` a stack offline and list the `policies` that judge it."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from .catalog import MissingExtraError
from .validation import SpecError

__all__ = ["main"]

EXIT_CLEAN = 0
EXIT_MANDATORY = 1
EXIT_INVALID = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors exit 2 with one line and no usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_INVALID, f"modelport: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="modelport", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    plan = commands.add_parser("plan", help="plan a stack offline under Pulumi mocks, with the policy report")
    plan.add_argument("stack", help="stack name: reads <stack-dir>/Pulumi.<stack>.yaml")
    plan.add_argument("--stack-dir", default="stacks", help="Pulumi project directory (default: stacks)")
    plan.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config key or path (modelport:service.scaling.min_replicas=3); "
        "VALUE is JSON when it parses, else a string",
    )
    plan.add_argument("--json", dest="json_path", metavar="PATH|-", help="write the plan document as JSON")
    plan.add_argument(
        "--policy-config",
        metavar="PATH",
        help="policy pack config JSON, as `pulumi preview --policy-pack-config` takes it "
        "(e.g. policies/config/prod.json)",
    )
    policies = commands.add_parser("policies", help="the policy pack")
    policy_commands = policies.add_subparsers(dest="policy_command", required=True, parser_class=_Parser)
    listing = policy_commands.add_parser("list", help="print the rule catalogue")
    listing.add_argument("--json", dest="json_path", metavar="PATH|-", help="write the catalogue as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # With --json -, stdout carries only the JSON document; the human report goes to stderr.
    to_stderr = getattr(args, "json_path", None) == "-"
    stream = sys.stderr if to_stderr else sys.stdout
    # Logs and pipes get long lines instead of rich's 80-column default.
    human = Console(stderr=to_stderr, highlight=False, width=None if stream.isatty() else 160)
    try:
        if args.command == "plan":
            return _plan(args, human)
        return _policies_list(args, human)
    except (SpecError, MissingExtraError) as exc:
        human.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True, soft_wrap=True)
        return EXIT_INVALID
    except Exception as exc:  # noqa: BLE001 - a program error is reported in one line, not a traceback
        if type(exc).__name__ == "PolicyEvaluationError":
            human.print(
                f"[bold red]error:[/] policy evaluation failed: {escape(str(exc))}", markup=True, soft_wrap=True
            )
            return EXIT_INVALID
        human.print(
            f"[bold red]error:[/] the stack program failed: {type(exc).__name__}: {escape(str(exc))}",
            markup=True,
            soft_wrap=True,
        )
        return EXIT_INVALID


def _write_json(path: str, document: Any) -> None:
    text = json.dumps(document, indent=2)
    if path == "-":
        sys.stdout.write(text + "\n")
    else:
        Path(path).write_text(text + "\n")


def _plan(args: argparse.Namespace, console: Console) -> int:
    from .plan.runner import plan_stack
    from .plan.stackconfig import parse_override

    overrides = [parse_override(text) for text in args.overrides]
    evaluate = None
    if args.policy_config:
        from .plan.policy import evaluate_plan, load_policy_config

        policy_config = load_policy_config(args.policy_config)

        def evaluate(plan: Any) -> Any:
            return evaluate_plan(plan, policy_config)

    plan = plan_stack(args.stack, args.stack_dir, overrides, evaluate=evaluate)
    _print_plan(plan, console)
    if args.json_path:
        _write_json(args.json_path, plan.as_dict())
    return EXIT_MANDATORY if plan.policy.mandatory else EXIT_CLEAN


def _print_plan(plan: Any, console: Console) -> None:
    tree = Tree(f"[bold]{plan.project}[/] / stack [bold]{plan.stack}[/] ({plan.environment})")
    nodes: dict[str | None, Tree] = {None: tree}
    for resource in plan.resources:
        parent = nodes.get(resource.parent, tree)
        style = "cyan" if not resource.custom else ""
        label = f"[{style}]{resource.type}[/] {resource.name}" if style else f"{resource.type} {resource.name}"
        nodes[resource.urn] = parent.add(label)
    console.print(tree)

    counts = Table(title=f"{len(plan.resources)} resources", show_edge=False)
    counts.add_column("type")
    counts.add_column("count", justify="right")
    for type_, count in sorted(Counter(r.type for r in plan.resources).items()):
        counts.add_row(type_, str(count))
    console.print(counts)

    report = plan.policy
    if report.skipped:
        console.print(f"policy: not evaluated: {report.skipped}")
    elif report.evaluated == 0:
        console.print("policy: no rule applied to this stack")
    else:
        mandatory = len(report.mandatory)
        advisory = len(report.violations) - mandatory
        console.print(
            f"policy: {report.evaluated} checks, {mandatory} mandatory and {advisory} advisory "
            f"violations, {len(report.unchecked)} could not be checked offline"
        )
        for violation in [*report.violations, *report.unchecked]:
            colour = "red" if violation.level == "mandatory" else "yellow"
            console.print(
                f"  [{colour}]{violation.level}[/] {violation.policy}: {violation.message}"
                + (f"\n    {violation.urn}" if violation.urn else ""),
                soft_wrap=True,
            )
    _print_trusted_inputs(plan, console)
    for key, value in plan.outputs.items():
        console.print(f"output {key}: {json.dumps(value)}", soft_wrap=True)


def _print_trusted_inputs(plan: Any, console: Console) -> None:
    """What the guardrails did not judge: bring-your-own roles, AMIs, clusters, keys and ACLs."""
    trusted = plan.trusted_inputs
    if not trusted:
        return
    console.print(f"trusted inputs: {len(trusted)} value(s) the guardrails cannot see inside", soft_wrap=True)
    for entry in trusted:
        console.print(f"  {escape(entry['key'])} = {escape(entry['value'])}: {escape(entry['why'])}", soft_wrap=True)


def _policies_list(args: argparse.Namespace, console: Console) -> int:
    try:
        from .plan.policy import catalogue
    except ImportError as exc:
        raise MissingExtraError(
            f"the policy pack needs pulumi-policy: pip install 'modelport[policy]' ({exc})"
        ) from exc
    rows = catalogue()
    if args.json_path:
        _write_json(args.json_path, rows)
    table = Table(title=f"{len(rows)} rules", show_edge=False)
    for column in ("name", "level", "severity", "anchor", "resource types"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["name"],
            row["level"],
            row["severity"],
            row.get("anchor") or "",
            ", ".join(row.get("resource_types") or ["(stack)"]),
        )
    console.print(table)
    return EXIT_CLEAN


if __name__ == "__main__":
    sys.exit(main())
