"""The `modelport` console script: `plan` a stack offline, diff two plans, list the `policies`, print the
`config-schema`."""

from __future__ import annotations

import argparse
import importlib.util
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

POLICY_HINT = "the policy pack needs pulumi-policy: pip install 'modelport[policy]'"


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors exit 2 with one line and no usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_INVALID, f"modelport: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="modelport", description=__doc__)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
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
    plan.add_argument(
        "--no-policy",
        action="store_true",
        help="plan without the policy pack; without this flag a missing `policy` extra is an error (exit 2)",
    )
    plan.add_argument(
        "--against",
        metavar="STACK|PLAN.json",
        help="show what differs from another stack of the same project, or from a saved `--json` plan",
    )
    plan.add_argument(
        "--format",
        choices=("text", "markdown"),
        default="text",
        help="the human report: a terminal tree (text) or Markdown for a pull-request comment",
    )
    policies = commands.add_parser("policies", help="the policy pack")
    policy_commands = policies.add_subparsers(
        dest="policy_command", metavar="COMMAND", required=True, parser_class=_Parser
    )
    listing = policy_commands.add_parser("list", help="print the rule catalogue")
    listing.add_argument("--json", dest="json_path", metavar="PATH|-", help="write the catalogue as JSON")
    listing.add_argument("--cloud", help="only the rules of this cloud (aws, gcp, azure, kubernetes, any)")
    listing.add_argument("--concern", help="only the rules of this concern (encryption, tls, availability, ...)")
    schema = commands.add_parser("config-schema", help="print the JSON Schema of stack config (Pulumi.<stack>.yaml)")
    schema.add_argument("--output", metavar="PATH", help="write it to PATH instead of stdout")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        # A bare `modelport` lists its commands.
        sys.stdout.write(parser.format_help())
        return EXIT_CLEAN
    # With --json -, stdout carries only the JSON document; the human report goes to stderr.
    to_stderr = getattr(args, "json_path", None) == "-"
    stream = sys.stderr if to_stderr else sys.stdout
    # Logs and pipes get long lines instead of rich's 80-column default.
    human = Console(stderr=to_stderr, highlight=False, width=None if stream.isatty() else 160)
    try:
        if args.command == "plan":
            return _plan(args, human)
        if args.command == "config-schema":
            return _config_schema(args)
        return _policies_list(args, human)
    except (SpecError, MissingExtraError) as exc:
        _error(human, str(exc))
        return EXIT_INVALID
    except Exception as exc:  # noqa: BLE001 - a program error is reported in one line, not a traceback
        if type(exc).__name__ == "PolicyEvaluationError":
            _error(human, f"policy evaluation failed: {exc}")
            return EXIT_INVALID
        _error(human, f"the stack program failed: {type(exc).__name__}: {exc}")
        return EXIT_INVALID


def _error(console: Console, text: str) -> None:
    """One error line. The text is ours to show literally: rich must not read ``[aws]`` as markup."""
    console.print(f"[bold red]error:[/] {escape(text)}", markup=True, soft_wrap=True)


def _write_json(path: str, document: Any) -> None:
    text = json.dumps(document, indent=2)
    if path == "-":
        sys.stdout.write(text + "\n")
    else:
        Path(path).write_text(text + "\n")


def _policy_installed() -> bool:
    return importlib.util.find_spec("pulumi_policy") is not None


def _evaluator(args: argparse.Namespace) -> Any:
    """How the plan is judged: the pack (fail closed if it is missing), its config, or nothing on request."""
    from .plan.runner import PolicyReport

    if args.no_policy:
        if args.policy_config:
            raise SpecError("--policy-config", "cannot be combined with --no-policy")
        return lambda plan: PolicyReport(skipped="--no-policy: the policy pack was not run, on request")
    if not _policy_installed():
        # A gate that cannot judge must not pass: without the pack, planning is an error unless asked for.
        raise MissingExtraError(f"{POLICY_HINT}, or pass --no-policy to plan without guardrails")
    if not args.policy_config:
        return None
    from .plan.policy import evaluate_plan, load_policy_config

    policy_config = load_policy_config(args.policy_config)
    return lambda plan: evaluate_plan(plan, policy_config)


def _plan_one(stack: str, stack_dir: str, overrides: list[tuple[str, Any]], evaluate: Any) -> Any:
    from .plan.runner import plan_stack
    from .plan.stackconfig import load_stack

    try:
        return plan_stack(stack, stack_dir, overrides, evaluate=evaluate)
    except SpecError as exc:
        # A config key's error names the file it came from too.
        if ":" in exc.path.split(".", 1)[0] and not exc.path.startswith(("--set", stack_dir)):
            files = load_stack(stack, stack_dir)
            raise SpecError(f"{files.file}: {exc.path}", exc.reason) from None
        raise


def _plan(args: argparse.Namespace, console: Console) -> int:
    from .plan.stackconfig import parse_override

    overrides = [parse_override(text) for text in args.overrides]
    evaluate = _evaluator(args)
    plan = _plan_one(args.stack, args.stack_dir, overrides, evaluate)
    document = plan.as_dict()
    difference = None
    if args.against:
        from .plan.diff import diff_plans, load_baseline

        baseline = load_baseline(args.against, lambda other: _plan_one(other, args.stack_dir, [], evaluate).as_dict())
        difference = diff_plans(baseline, document)
    if args.format == "markdown":
        from .plan.diff import plan_markdown

        console.file.write(plan_markdown(document, plan.environment, difference))
    else:
        _print_plan(plan, console)
        if difference is not None:
            from .plan.diff import print_diff

            print_diff(difference, console)
    if args.json_path:
        _write_json(args.json_path, document)
    return EXIT_MANDATORY if plan.policy.mandatory else EXIT_CLEAN


def _print_plan(plan: Any, console: Console) -> None:
    tree = Tree(f"[bold]{escape(plan.project)}[/] / stack [bold]{escape(plan.stack)}[/] ({escape(plan.environment)})")
    nodes: dict[str | None, Tree] = {None: tree}
    for resource in plan.resources:
        parent = nodes.get(resource.parent, tree)
        text = f"{escape(resource.type)} {escape(resource.name)}"
        nodes[resource.urn] = parent.add(text if resource.custom else f"[cyan]{text}[/]")
    console.print(tree)

    counts = Table(title=f"{len(plan.resources)} resources", show_edge=False)
    counts.add_column("type")
    counts.add_column("count", justify="right")
    for type_, count in sorted(Counter(r.type for r in plan.resources).items()):
        counts.add_row(escape(type_), str(count))
    console.print(counts)

    report = plan.policy
    if report.skipped:
        console.print(f"policy: not evaluated: {escape(report.skipped)}")
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
            lines = [f"  [{colour}]{violation.level}[/] {escape(violation.policy)}: {escape(violation.message)}"]
            if violation.urn:
                lines.append(f"    {escape(violation.urn)}")
            remediation = getattr(violation, "remediation", None)
            if remediation:
                lines.append(f"    fix: {escape(remediation)}")
            console.print("\n".join(lines), soft_wrap=True)
    _print_trusted_inputs(plan, console)
    for key, value in plan.outputs.items():
        console.print(f"output {escape(key)}: {escape(json.dumps(value))}", soft_wrap=True)


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
        raise MissingExtraError(f"{POLICY_HINT} ({exc})") from exc
    rows = catalogue()
    for key in ("cloud", "concern"):
        wanted = getattr(args, key)
        if wanted is None:
            continue
        from modelport.policies.rules import base

        accepted = base.CLOUDS if key == "cloud" else tuple(base.CONCERNS)
        if wanted not in accepted:
            raise SpecError(f"--{key}", f"must be one of {', '.join(accepted)} (got {wanted!r})")
        rows = [row for row in rows if row[key] == wanted]
    if args.json_path:
        _write_json(args.json_path, rows)
    table = Table(title=f"{len(rows)} rules", show_edge=False)
    for column in ("name", "cloud", "concern", "level", "severity", "anchor", "resource types"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            *(
                escape(text)
                for text in (
                    row["name"],
                    row["cloud"],
                    row["concern"],
                    row["level"],
                    row["severity"],
                    row.get("anchor") or "",
                    ", ".join(row.get("resource_types") or ["(stack)"]),
                )
            )
        )
    console.print(table)
    return EXIT_CLEAN


def _config_schema(args: argparse.Namespace) -> int:
    from .schema import stack_config_schema

    text = json.dumps(stack_config_schema(), indent=2) + "\n"
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return EXIT_CLEAN


if __name__ == "__main__":
    sys.exit(main())
