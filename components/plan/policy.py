"""The offline policy evaluator: runs the CrossGuard pack in policies/ over a captured plan, as the engine would."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from inspect import isawaitable
from pathlib import Path
from types import ModuleType
from typing import Any

import pulumi
from pulumi.runtime import rpc
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.policy import _NotApplicableError
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from ..profiles import PROFILES
from ..validation import SpecError
from .mocks import CapturedResource
from .runner import Plan, PolicyReport, Violation

__all__ = [
    "ENFORCEMENT_LEVELS",
    "Evaluation",
    "PolicyConfig",
    "PolicyEvaluationError",
    "catalogue",
    "evaluate",
    "evaluate_plan",
    "evaluate_resources",
    "load_policy_config",
    "load_rules",
    "markdown_table",
    "pack_directory",
    "parse_policy_config",
    "policy_config_for",
    "rules_markdown",
    "summary",
]

ENFORCEMENT_LEVELS = ("advisory", "mandatory", "remediate", "disabled")
CONFIG_PATH = "policy-config"
# The pack's rules import as ``modelport.policies.rules`` (the package-dir mapping in pyproject.toml), so they never
# collide with a user's own ``policies`` or ``rules`` package.
_RULES_MODULE = "modelport.policies.rules"
UNCHECKED_PREFIX = "could not be checked offline"


class PolicyEvaluationError(RuntimeError):
    """A rule raised something other than a violation, an unknown value or not-applicable: a bug to report."""


def pack_directory() -> Path:
    """The CrossGuard pack directory (``policies/`` in a checkout, ``modelport/policies`` in a wheel)."""
    import modelport.policies

    return Path(modelport.policies.__file__).resolve().parent


def _rules_package() -> ModuleType:
    return importlib.import_module(_RULES_MODULE)


def load_rules() -> tuple[Any, ...]:
    """Every rule of the pack (``modelport.policies.rules.base.Rule`` objects), in catalogue order."""
    return tuple(_rules_package().all_rules())


# --- catalogue --------------------------------------------------------------------------------------------


def catalogue() -> list[dict[str, Any]]:
    """One entry per rule: name, description, level, severity, anchor, resource_types, remediation and more."""
    return [rule.catalogue_entry() for rule in load_rules()]


def summary() -> dict[str, dict[str, dict[str, int]]]:
    """Rule counts ``{cloud: {concern: {"mandatory": n, "advisory": n}}}``."""
    base = _rules_package().base
    counts: dict[str, dict[str, dict[str, int]]] = {}
    for cloud in base.CLOUDS:
        for concern in base.CONCERNS:
            for rule in load_rules():
                if rule.cloud == cloud and rule.concern == concern:
                    cell = counts.setdefault(cloud, {}).setdefault(concern, {"mandatory": 0, "advisory": 0})
                    cell[rule.level] += 1
    return counts


def _short_type(token: str) -> str:
    return token.rsplit(":", 1)[-1]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table() -> str:
    """The rule table the README and policies/RULES.md show, generated from the catalogue."""
    lines = [
        "| Rule | Cloud | Concern | Level | Severity | Anchor | Resources | Description |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for entry in catalogue():
        level = entry["level"] + (" (prod only)" if entry["prod_only"] else "")
        kinds = sorted({_short_type(t) for t in entry["resource_types"]})
        resources = ("stack: " if entry["kind"] == "stack" else "") + ", ".join(kinds)
        lines.append(
            f"| `{entry['name']}` | {entry['cloud']} | {entry['concern']} | {level} | {entry['severity']} | "
            f"{_cell(entry['anchor'] or 'custom')} | {_cell(resources)} | {_cell(entry['description'])} |"
        )
    return "\n".join(lines) + "\n"


def _summary_table() -> str:
    lines = ["| Cloud | Concern | Mandatory | Advisory |", "|---|---|---|---|"]
    totals = {"mandatory": 0, "advisory": 0}
    for cloud, by_concern in summary().items():
        for concern, cell in by_concern.items():
            lines.append(f"| {cloud} | {concern} | {cell['mandatory']} | {cell['advisory']} |")
            totals["mandatory"] += cell["mandatory"]
            totals["advisory"] += cell["advisory"]
    lines.append(f"| **all** | | **{totals['mandatory']}** | **{totals['advisory']}** |")
    return "\n".join(lines) + "\n"


def rules_markdown() -> str:
    """The whole of policies/RULES.md: counts, the rule table and each rule's remediation."""
    entries = catalogue()
    remediation = "\n".join(f"- **`{e['name']}`**: {e['remediation']}" for e in entries)
    return (
        "# modelport policy rules\n\n"
        "<!-- Generated by `python -m modelport.plan.policy_docs`; edit the rules in policies/rules/, "
        "not this file. -->\n\n"
        f"{len(entries)} rules. Advisory rules become mandatory in prod "
        "(`policies/config/prod.json` for `pulumi preview`, automatically in `modelport plan`). "
        "Prod-only rules are not applicable in dev and staging.\n\n"
        "## Counts\n\n"
        + _summary_table()
        + "\n## Rules\n\n"
        + markdown_table()
        + "\n## Remediation\n\n"
        + remediation
        + "\n"
    )


def policy_config_for(environment: str) -> dict[str, Any]:
    """The ``--policy-pack-config`` document for one environment: its name, and prod's stricter levels."""
    profile = _profile(environment)
    config: dict[str, Any] = {}
    for rule in load_rules():
        entry: dict[str, Any] = {"environment": environment}
        if profile.advisory_is_mandatory and rule.level == "advisory":
            entry = {"enforcementLevel": "mandatory", **entry}
        config[rule.name] = entry
    return config


# --- policy config ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyConfig:
    """Parsed policy config in Pulumi's ``--policy-pack-config`` format."""

    all_level: str | None = None
    levels: Mapping[str, str] = field(default_factory=dict)
    properties: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def _level(path: str, value: Any) -> str:
    if not isinstance(value, str) or value not in ENFORCEMENT_LEVELS:
        raise SpecError(path, f"must be one of {', '.join(ENFORCEMENT_LEVELS)} (got {value!r})")
    return value


def _check_property(path: str, schema: Mapping[str, Any], value: Any) -> None:
    expected = schema.get("type")
    types = {"string": str, "boolean": bool, "integer": int, "number": (int, float), "object": Mapping, "array": list}
    if expected in types and (
        not isinstance(value, types[expected]) or (expected in ("integer", "number") and isinstance(value, bool))
    ):
        raise SpecError(path, f"must be a {expected} (got {value!r})")
    allowed = schema.get("enum")
    if allowed is not None and value not in allowed:
        raise SpecError(path, f"must be one of {', '.join(map(str, allowed))} (got {value!r})")


def parse_policy_config(raw: Any, rules: Iterable[Any] | None = None) -> PolicyConfig:
    """Validate a policy config document; unknown rules, bad levels and bad properties raise SpecError."""
    if raw is None:
        return PolicyConfig()
    if not isinstance(raw, Mapping):
        raise SpecError(
            CONFIG_PATH,
            'must be a JSON object mapping rule names (or "all") to an enforcement '
            'level or to {"enforcementLevel": ..., <property>: ...}',
        )
    by_name = {rule.name: rule for rule in (rules if rules is not None else load_rules())}
    all_level: str | None = None
    levels: dict[str, str] = {}
    properties: dict[str, dict[str, Any]] = {}
    for name, value in raw.items():
        path = f"{CONFIG_PATH}.{name}"
        if name == "all":
            if isinstance(value, Mapping):
                extra = [k for k in value if k != "enforcementLevel"]
                if extra:
                    raise SpecError(f"{path}.{extra[0]}", '"all" only takes enforcementLevel')
                if "enforcementLevel" in value:
                    all_level = _level(f"{path}.enforcementLevel", value["enforcementLevel"])
            else:
                all_level = _level(path, value)
            continue
        rule = by_name.get(name)
        if rule is None:
            import difflib

            close = difflib.get_close_matches(str(name), list(by_name), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else "; `modelport policies list` shows the rules"
            raise SpecError(path, f"unknown rule{hint}")
        if isinstance(value, str):
            levels[name] = _level(path, value)
            continue
        if not isinstance(value, Mapping):
            raise SpecError(path, 'must be an enforcement level or an object {"enforcementLevel": ..., ...}')
        schema = dict(rule.policy.config_schema.properties) if rule.policy.config_schema else {}
        props: dict[str, Any] = {}
        for key, item in value.items():
            if key == "enforcementLevel":
                levels[name] = _level(f"{path}.enforcementLevel", item)
            elif key in schema:
                _check_property(f"{path}.{key}", schema[key], item)
                props[key] = item
            else:
                accepted = ", ".join(["enforcementLevel", *schema])
                raise SpecError(f"{path}.{key}", f"unknown property; accepted: {accepted}")
        if props:
            properties[name] = props
    return PolicyConfig(all_level=all_level, levels=levels, properties=properties)


def load_policy_config(path: str | Path) -> PolicyConfig:
    """Read and validate a ``--policy-pack-config`` JSON file."""
    file = Path(path)
    try:
        raw = json.loads(file.read_text())
    except OSError as exc:
        raise SpecError(str(file), f"cannot be read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise SpecError(str(file), f"is not valid JSON: {exc}") from None
    return parse_policy_config(raw)


# --- engine values ----------------------------------------------------------------------------------------


def engine_value(value: Any) -> Any:
    """A captured value as the analyzer sees it: secrets unwrapped, unknowns as the engine's unknown sentinel."""
    if isinstance(value, Mapping):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return engine_value(value.get("value"))
        return {str(k): engine_value(v) for k, v in value.items() if k != rpc._special_sig_key}
    if isinstance(value, (list, tuple)):
        return [engine_value(v) for v in value]
    if isinstance(value, pulumi.output.Unknown):
        return UNKNOWN_STRING_VALUE
    if isinstance(value, pulumi.Resource):
        # Resource references reach policies as the referenced resource's identity, never as an object.
        return f"[resource {type(value).__name__}]"
    return value


def _options(resource: CapturedResource) -> PolicyResourceOptions:
    return PolicyResourceOptions(resource.protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], resource.parent)


def _providers(resources: Iterable[CapturedResource]) -> dict[str, PolicyProviderResource]:
    found: dict[str, PolicyProviderResource] = {}
    for r in resources:
        if r.type.startswith("pulumi:providers:"):
            provider = PolicyProviderResource(r.type, unknown_checking_proxy(engine_value(r.inputs)), r.urn, r.name)
            found[r.urn] = provider
            if r.id:
                found[f"{r.urn}::{r.id}"] = provider
    return found


def _provider_of(resource: CapturedResource, providers: Mapping[str, PolicyProviderResource]) -> Any:
    if not resource.provider:
        return None
    return providers.get(resource.provider) or providers.get(resource.provider.rsplit("::", 1)[0])


# --- evaluation -------------------------------------------------------------------------------------------


@dataclass
class Evaluation:
    """Everything one evaluation found; ``report()`` is the plan's PolicyReport."""

    environment: str
    levels: dict[str, str]
    violations: list[Violation] = field(default_factory=list)
    unchecked: list[Violation] = field(default_factory=list)
    not_applicable: list[tuple[str, str | None, str]] = field(default_factory=list)
    evaluated: int = 0

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.violations if v.level == "mandatory"]

    def by_rule(self, name: str) -> list[Violation]:
        return [v for v in self.violations if v.policy == name]

    def report(self) -> PolicyReport:
        return PolicyReport(violations=list(self.violations), evaluated=self.evaluated, unchecked=list(self.unchecked))


def _profile(environment: str) -> Any:
    profile = PROFILES.get(environment)
    if profile is None:
        raise SpecError("modelport:environment", f"must be one of {', '.join(PROFILES)} (got {environment!r})")
    return profile


def effective_levels(rules: Iterable[Any], config: PolicyConfig, environment: str) -> dict[str, str]:
    """Each rule's level: explicit config, then "all", then its default, with prod's advisory-to-mandatory."""
    escalate = _profile(environment).advisory_is_mandatory
    levels: dict[str, str] = {}
    for rule in rules:
        explicit = config.levels.get(rule.name) or config.all_level
        if explicit is not None:
            levels[rule.name] = explicit
        elif escalate and rule.level == "advisory":
            levels[rule.name] = "mandatory"
        else:
            levels[rule.name] = rule.level
    return levels


def _reported_level(level: str) -> str:
    # The engine downgrades "remediate" to "mandatory" when a violation remains; nothing here remediates.
    return "mandatory" if level in ("mandatory", "remediate") else "advisory"


class _Run:
    """One rule on one subject: collects violations, unknowns and not-applicable like the analyzer does."""

    def __init__(self, evaluation: Evaluation, rule: Any, level: str, subject_urn: str | None) -> None:
        self.evaluation = evaluation
        self.rule = rule
        self.level = _reported_level(level)
        self.subject_urn = subject_urn

    def report_violation(self, message: str, urn: str | None = None) -> None:
        if message and not isinstance(message, str):
            raise TypeError("Expected message to be a string")
        if urn is not None and not isinstance(urn, str):
            raise TypeError("Expected urn to be a string")
        # Resource policies always report against the resource under validation.
        target = self.subject_urn if self.rule.kind == "resource" else (urn or None)
        self.evaluation.violations.append(
            Violation(self.rule.name, self.level, target, message or self.rule.description, self.rule.remediation)
        )

    def __call__(self, args: ResourceValidationArgs | StackValidationArgs) -> None:
        self.evaluation.evaluated += 1
        try:
            result = self.rule.policy.validate(args, self.report_violation)
            if isawaitable(result):
                loop = asyncio.new_event_loop()
                try:
                    loop.run_until_complete(result)
                finally:
                    loop.close()
        except UnknownValueError as exc:
            self.evaluation.unchecked.append(
                Violation(
                    self.rule.name,
                    self.level,
                    self.subject_urn,
                    f"{UNCHECKED_PREFIX}: {exc.message}",
                    self.rule.remediation,
                )
            )
        except _NotApplicableError as exc:
            self.evaluation.not_applicable.append((self.rule.name, self.subject_urn, exc.reason or ""))
        except Exception as exc:
            where = self.subject_urn or "the stack"
            raise PolicyEvaluationError(f"policy {self.rule.name} failed on {where}: {exc}") from exc


def evaluate_resources(
    resources: list[CapturedResource],
    *,
    environment: str = "dev",
    config: PolicyConfig | Mapping[str, Any] | None = None,
    rules: Sequence[Any] | None = None,
) -> Evaluation:
    """Run every resource policy on each resource and every stack policy on the whole set.

    ``rules`` defaults to the whole pack; a subset (or extra rules built with ``modelport.policies.rules.base``) may be
    given. A resource policy only runs on the types it names, which is what its own type check would do.
    """
    rules = tuple(rules) if rules is not None else load_rules()
    if not isinstance(config, PolicyConfig):
        config = parse_policy_config(config, rules)
    levels = effective_levels(rules, config, environment)
    evaluation = Evaluation(environment=environment, levels=levels)
    active = [rule for rule in rules if levels[rule.name] != "disabled"]

    def rule_config(rule: Any) -> dict[str, Any]:
        return {"environment": environment, **config.properties.get(rule.name, {})}

    providers = _providers(resources)
    resource_rules = [rule for rule in active if rule.kind == "resource"]
    # Rules by resource type, worked out once per type rather than once per resource.
    by_type: dict[str, list[Any]] = {}
    for resource in resources:
        applicable = by_type.get(resource.type)
        if applicable is None:
            applicable = by_type[resource.type] = [rule for rule in resource_rules if rule.applies_to(resource.type)]
        if not applicable:
            continue
        props = unknown_checking_proxy(engine_value(resource.inputs))
        options = _options(resource)
        provider = _provider_of(resource, providers)
        for rule in applicable:
            # Keyword arguments: pulumi-policy adds parameters between releases (stack_tags in 1.19).
            args = ResourceValidationArgs(
                resource_type=resource.type,
                props=props,
                urn=resource.urn,
                name=resource.name,
                opts=options,
                provider=provider,
                config=rule_config(rule),
            )
            _Run(evaluation, rule, levels[rule.name], resource.urn)(args)

    stack_rules = [rule for rule in active if rule.kind == "stack"]
    if stack_rules:
        stack_resources = _stack_resources(resources, providers)
        for rule in stack_rules:
            _Run(evaluation, rule, levels[rule.name], None)(
                StackValidationArgs(resources=stack_resources, config=rule_config(rule))
            )
    return evaluation


def _stack_resources(
    resources: list[CapturedResource], providers: Mapping[str, PolicyProviderResource]
) -> list[PolicyResource]:
    """The stack as AnalyzeStack sees it: each resource's state, linked to its parent and dependencies."""
    built: dict[str, PolicyResource] = {}
    for r in resources:
        state = {**engine_value(r.inputs), **engine_value(r.outputs)}
        built[r.urn] = PolicyResource(
            r.type, unknown_checking_proxy(state), r.urn, r.name, _options(r), _provider_of(r, providers), None, [], {}
        )
    for r in resources:
        resource = built[r.urn]
        resource.parent = built.get(r.parent) if r.parent else None
        resource.dependencies = [built[d] for d in r.dependencies if d in built]
        resource.property_dependencies = {
            k: [built[d] for d in v if d in built] for k, v in r.property_dependencies.items()
        }
    return list(built.values())


def evaluate(
    plan: Plan,
    config: PolicyConfig | Mapping[str, Any] | None = None,
    *,
    environment: str | None = None,
) -> Evaluation:
    """Judge a plan. The environment is the plan's ``modelport:environment`` unless given explicitly."""
    return evaluate_resources(plan.resources, environment=environment or plan.environment, config=config)


def evaluate_plan(plan: Plan, config: PolicyConfig | Mapping[str, Any] | None = None) -> PolicyReport:
    """The hook ``modelport.plan.runner`` calls: the plan's policy report."""
    return evaluate(plan, config).report()
