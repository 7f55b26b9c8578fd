"""The pack itself: a valid, thin CrossGuard entry point, a complete catalogue, and parity with the real analyzer."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf import json_format, struct_pb2
from modelport.cli import main
from modelport.plan.mocks import CapturedResource
from modelport.plan.policy import (
    _rules_package,
    catalogue,
    effective_levels,
    evaluate_resources,
    load_rules,
    markdown_table,
    pack_directory,
    parse_policy_config,
    summary,
)
from modelport.plan.policy_docs import generated_documents
from policy_tables import table_run
from pulumi.runtime import proto, rpc
from pulumi_policy import EnforcementLevel
from pulumi_policy.policy import _PolicyAnalyzerServicer

PACK = pack_directory()
PSS_RESTRICTED_CONTROLS = [
    "HostProcess",
    "Host Namespaces",
    "Privileged Containers",
    "Capabilities",
    "HostPath Volumes",
    "Host Ports",
    "AppArmor",
    "SELinux",
    "/proc Mount Type",
    "Seccomp",
    "Sysctls",
    "Volume Types",
    "Privilege Escalation",
    "Running as Non-root",
    "Running as Non-root user",
]


def test_main_only_builds_the_policy_pack() -> None:
    tree = ast.parse((PACK / "__main__.py").read_text())
    body = [node for node in tree.body if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))]
    imports = [node for node in body if isinstance(node, (ast.Import, ast.ImportFrom))]
    calls = [node for node in body if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)]
    assert len(body) == len(imports) + len(calls), "only imports and the PolicyPack(...) call"
    assert [call.value.func.id for call in calls] == ["PolicyPack"]  # type: ignore[attr-defined]


def test_importing_the_rules_starts_no_server() -> None:
    script = f"""
import sys, grpc, pulumi_policy
def refuse(*args, **kwargs):
    raise SystemExit("a policy server was started")
grpc.server = refuse
pulumi_policy.PolicyPack.__init__ = refuse
sys.path.insert(0, {str(PACK)!r})
import rules
policies = rules.all_policies()
print(len(policies), len({{p.name for p in policies}}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    count, unique = map(int, done.stdout.split())
    assert count == unique == len(load_rules())


def test_the_entry_point_hands_every_policy_to_the_pack() -> None:
    # `pulumi-analyzer-policy-python` runs `python -m pulumi.policy <engine> <pack dir>`, which is
    # runpy.run_path(<pack dir>): __main__.py runs with the pack directory first on sys.path.
    script = f"""
import runpy, pulumi_policy
seen = {{}}
class Recorder:
    def __init__(self, name, policies, enforcement_level=None, **kwargs):
        seen.update(name=name, count=len(policies), level=enforcement_level.value)
pulumi_policy.PolicyPack = Recorder
runpy.run_path({str(PACK)!r}, run_name="__main__")
print(seen["name"], seen["count"], seen["level"])
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd="/")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["modelport", str(len(load_rules())), "advisory"]


def test_pack_files_are_valid() -> None:
    manifest = yaml.safe_load((PACK / "PulumiPolicy.yaml").read_text())
    assert manifest["runtime"]["name"] == "python"
    assert (PACK / manifest["runtime"]["options"]["virtualenv"]).resolve() == (PACK.parent / ".venv").resolve()
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"])
    requirements = (PACK / "requirements.txt").read_text()
    assert "pulumi-policy>=" in requirements and "protobuf>=5.29,<6" in requirements


def test_the_analyzer_describes_every_policy() -> None:
    servicer = _PolicyAnalyzerServicer(
        "modelport", "0.1.0", [r.policy for r in load_rules()], EnforcementLevel.ADVISORY
    )
    info = servicer.GetAnalyzerInfo(None, None)
    assert len(info.policies) == len(load_rules())
    described = {p.name: p for p in info.policies}
    for rule in load_rules():
        policy = described[rule.name]
        assert policy.enforcementLevel == (proto.MANDATORY if rule.level == "mandatory" else proto.ADVISORY)
        assert policy.remediation_steps == rule.remediation
        assert "environment" in policy.configSchema.properties


def test_catalogue_entries_are_complete() -> None:
    entries = catalogue()
    assert len(entries) >= 90
    assert len({e["name"] for e in entries}) == len(entries)
    concerns = _rules_package().base.CONCERNS
    for entry in entries:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", entry["name"]), entry["name"]
        assert entry["level"] in ("mandatory", "advisory")
        assert entry["severity"] in ("low", "medium", "high", "critical")
        assert entry["description"].endswith(".") and entry["remediation"]
        assert entry["resource_types"] and entry["concern"] in concerns
        assert entry["anchor"] is None or entry["anchor"].strip()
    assert json.loads(json.dumps(entries)) == entries


def test_every_concern_is_covered_with_both_levels_present() -> None:
    counts = Counter(rule.concern for rule in load_rules())
    assert set(counts) == set(_rules_package().base.CONCERNS)
    levels = Counter(rule.level for rule in load_rules())
    assert levels["mandatory"] and levels["advisory"]
    assert sum(c["mandatory"] + c["advisory"] for cloud in summary().values() for c in cloud.values()) == len(
        load_rules()
    )


def test_every_pod_security_standard_restricted_control_has_a_rule() -> None:
    anchors = " ".join(rule.anchor or "" for rule in load_rules() if rule.cloud == "kubernetes")
    missing = [control for control in PSS_RESTRICTED_CONTROLS if f": {control}" not in anchors]
    assert not missing


@pytest.mark.parametrize(
    "rule",
    [
        "aws-ebs-cmk-encryption",
        "aws-asg-multi-az",
        "aws-sagemaker-instance-count",
        "aws-sagemaker-data-capture",
        "gcp-cloud-run-invoker-not-public",
        "gcp-cloud-run-ingress",
        "gcp-gke-database-encryption",
        "azure-container-app-no-insecure-ingress",
        "azure-container-app-external-ingress-restricted",
        "azure-ml-endpoint-auth",
        "azure-ml-endpoint-private",
        "aws-ecs-image-digest",
        "aws-lambda-image-digest",
        "aws-sagemaker-image-digest",
        "aws-vm-image-digest",
        "gcp-cloud-run-image-digest",
        "gcp-vm-image-digest",
        "azure-container-app-image-digest",
        "azure-ml-environment-image-digest",
        "azure-web-app-image-digest",
        "azure-vmss-image-digest",
        "autoscaler-kubernetes",
        "aws-alb-waf",
        "aws-lambda-url-auth",
    ],
)
def test_the_custom_rules_the_issue_names_exist(rule: str) -> None:
    assert rule in {r.name for r in load_rules()}


LISTENER = "aws:lb/listener:Listener"


@pytest.mark.parametrize(
    ("policy", "accepted"),
    [
        ("ELBSecurityPolicy-TLS13-1-2-2021-06", True),
        ("ELBSecurityPolicy-TLS13-1-2-Res-2021-06", True),
        ("ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06", True),
        ("ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06", True),
        ("ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04", True),
        ("ELBSecurityPolicy-TLS13-1-2-Res-FIPS-2023-04", True),
        ("ELBSecurityPolicy-TLS13-1-2-PQ-2025-09", True),
        ("ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09", True),
        ("ELBSecurityPolicy-TLS13-1-2-Ext1-PQ-2025-09", True),
        ("ELBSecurityPolicy-TLS13-1-3-2021-06", True),
        ("ELBSecurityPolicy-TLS13-1-3-PQ-2025-09", True),
        ("ELBSecurityPolicy-2016-08", False),
        ("ELBSecurityPolicy-TLS-1-2-2017-01", False),
        ("ELBSecurityPolicy-TLS-1-2-Ext-2018-06", False),
        ("ELBSecurityPolicy-FS-1-2-Res-2020-10", False),
        ("ELBSecurityPolicy-TLS13-1-1-2021-06", False),
        ("ELBSecurityPolicy-TLS13-1-0-2021-06", False),
        ("ELBSecurityPolicy-TLS13-1-2-2021-06 ", False),
    ],
)
def test_the_tls13_1_2_policy_family_is_accepted(policy: str, accepted: bool) -> None:
    listener = CapturedResource(
        urn=f"urn:pulumi:prod::modelport::{LISTENER}::https",
        type=LISTENER,
        name="https",
        parent=None,
        custom=True,
        inputs={"protocol": "HTTPS", "sslPolicy": policy},
    )
    evaluation = evaluate_resources([listener], environment="prod")
    assert bool(evaluation.by_rule("aws-lb-listener-tls-policy")) is not accepted


def test_generated_documents_are_up_to_date() -> None:
    for path, content in generated_documents().items():
        assert path.is_file() and path.read_text() == content, (
            f"{path} is stale: run `python -m modelport.plan.policy_docs`"
        )
    table = markdown_table()
    assert len(table.strip().splitlines()) == len(load_rules()) + 2
    assert table in (PACK / "RULES.md").read_text()
    prod = json.loads((PACK / "config" / "prod.json").read_text())
    parsed = parse_policy_config(prod)
    assert all(parsed.levels[r.name] == "mandatory" for r in load_rules() if r.level == "advisory")
    assert {p["environment"] for p in parsed.properties.values()} == {"prod"}


def test_policies_list_prints_the_catalogue(tmp_path: Path) -> None:
    target = tmp_path / "rules.json"
    assert main(["policies", "list", "--json", str(target)]) == 0
    assert json.loads(target.read_text()) == catalogue()


# --- parity with the CrossGuard analyzer ------------------------------------------------------------------


def _wire(value: Any) -> Any:
    """A captured value as the engine sends it to an analyzer: secret envelopes and unknown sentinels kept."""
    if isinstance(value, dict):
        return {str(k): _wire(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_wire(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if type(value).__name__ == "Unknown":
        return rpc.UNKNOWN
    return str(value)


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    return json_format.ParseDict(_wire(value), struct_pb2.Struct())


def _configured_servicer(environment: str, levels: dict[str, str]) -> _PolicyAnalyzerServicer:
    rules = load_rules()
    servicer = _PolicyAnalyzerServicer("modelport", "0.1.0", [r.policy for r in rules], EnforcementLevel.ADVISORY)
    mapping = {
        "advisory": proto.ADVISORY,
        "mandatory": proto.MANDATORY,
        "remediate": proto.REMEDIATE,
        "disabled": proto.DISABLED,
    }
    request = proto.ConfigureAnalyzerRequest(
        policyConfig={
            name: proto.PolicyConfig(enforcementLevel=mapping[level], properties=_struct({"environment": environment}))
            for name, level in levels.items()
        }
    )
    servicer.Configure(request, None)
    return servicer


def _engine_findings(response: Any) -> set[tuple[str, str, str]]:
    level = {proto.ADVISORY: "advisory", proto.MANDATORY: "mandatory"}
    return {(d.policyName, level[d.enforcementLevel], d.urn) for d in response.diagnostics}


@pytest.mark.parametrize("table", ["kubernetes", "aws", "gcp", "azure"])
def test_offline_results_match_the_crossguard_analyzer(table: str) -> None:
    run = table_run(table)
    resources = run.plan.resources
    levels = effective_levels(load_rules(), parse_policy_config(None), "prod")
    servicer = _configured_servicer("prod", levels)
    engine: set[tuple[str, str, str]] = set()
    for r in resources:
        response = servicer.Analyze(
            proto.AnalyzeRequest(type=r.type, properties=_struct(r.inputs), urn=r.urn, name=r.name), None
        )
        engine |= {(policy, lvl, urn or r.urn) for policy, lvl, urn in _engine_findings(response)}
    stack_request = proto.AnalyzeStackRequest(
        resources=[
            proto.AnalyzerResource(
                type=r.type,
                properties=_struct({**r.inputs, **r.outputs}),
                urn=r.urn,
                name=r.name,
                parent=r.parent or "",
                dependencies=r.dependencies,
                propertyDependencies={
                    k: proto.AnalyzerPropertyDependencies(urns=v) for k, v in r.property_dependencies.items()
                },
            )
            for r in resources
        ]
    )
    engine |= _engine_findings(servicer.AnalyzeStack(stack_request, None))
    offline = {(v.policy, v.level, v.urn) for v in run.evaluation.violations}
    assert offline == engine
    assert offline, "the tables contain violations to compare"
