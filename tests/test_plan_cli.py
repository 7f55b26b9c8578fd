"""`modelport plan`: the JSON document's schema, exit codes 0/1/2, --set overrides and one-line errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from modelport import cli
from modelport.plan import runner
from modelport.plan.runner import PolicyReport, Violation

ROOT = Path(__file__).resolve().parents[1]
STACKS = ROOT / "stacks"
SCHEMA = json.loads((ROOT / "components" / "plan" / "plan.schema.json").read_text())
KUBERNETES_STACKS = ["dev", "staging", "prod"]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(["plan", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_json_document_follows_the_schema(capsys, stack: str) -> None:
    code, out, _ = run_cli(capsys, stack, "--stack-dir", str(STACKS), "--json", "-")
    document = json.loads(out)  # stdout carries only JSON; the human report went to stderr
    jsonschema.validate(document, SCHEMA)
    assert code == 0
    assert document["stack"] == stack and document["project"] == "modelport"
    urns = {r["urn"] for r in document["resources"]}
    for resource in document["resources"]:
        assert (
            resource["parent"] is None
            or resource["parent"] in urns
            or resource["parent"].endswith(f"pulumi:pulumi:Stack::modelport-{stack}")
        )
    kinds = {r["type"] for r in document["resources"]}
    assert "modelport:kubernetes:ModelWorkload" in kinds and "kubernetes:apps/v1:Deployment" in kinds
    assert document["outputs"]["environment"] == stack


def test_json_to_a_file_and_human_report_on_stdout(capsys, tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    code, out, _ = run_cli(capsys, "prod", "--stack-dir", str(STACKS), "--json", str(path))
    assert code == 0
    assert "ModelWorkload" in out and "resources" in out
    jsonschema.validate(json.loads(path.read_text()), SCHEMA)


def test_secret_config_values_are_masked(capsys, tmp_path: Path) -> None:
    stack_dir = tmp_path / "stacks"
    shutil.copytree(STACKS, stack_dir)
    config = (stack_dir / "Pulumi.dev.yaml").read_text()
    config += "  modelport:registry_token:\n    secure: v1:AAAAbmFjbA==\n"
    (stack_dir / "Pulumi.dev.yaml").write_text(config)
    # An unknown modelport key is refused even when it is a secret; the secret itself never leaks.
    code, out, err = run_cli(capsys, "dev", "--stack-dir", str(stack_dir), "--json", "-")
    assert code == 2
    assert "modelport:registry_token: unknown key" in err
    assert "AAAAbmFjbA" not in out + err


def test_set_overrides_a_nested_key(capsys) -> None:
    code, out, _ = run_cli(
        capsys,
        "prod",
        "--stack-dir",
        str(STACKS),
        "--json",
        "-",
        "--set",
        "modelport:service.scaling.max_replicas=40",
        "--set",
        "modelport:targets[0].options.namespace=churn-blue",
    )
    assert code == 0
    document = json.loads(out)
    hpas = [r for r in document["resources"] if r["type"] == "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"]
    # prod's 80/20 canary splits the ceiling over its two tracks.
    assert sum(hpa["inputs"]["spec"]["maxReplicas"] for hpa in hpas) == 40
    assert {hpa["inputs"]["metadata"]["namespace"] for hpa in hpas} == {"churn-blue"}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            'modelport:targets=[{"cloud": "mars", "pattern": "vm"}]',
            "modelport:targets[0].cloud: must be one of aws, gcp, azure, kubernetes (got 'mars')",
        ),
        (
            'modelport:targets=[{"cloud": "kubernetes", "pattern": "serverless"}]',
            "modelport:targets[0].pattern: cloud 'kubernetes' (an existing cluster) only supports pattern 'kubernetes'",
        ),
        (
            'modelport:service.variants=[{"name": "a", "weight": 70}, {"name": "b", "weight": 20}]',
            "modelport:service.variants: weights must sum to 100 (got 90: a=70, b=20)",
        ),
        (
            "modelport:service.scaling.min_replicas=31",
            "modelport:service.scaling.min_replicas: must be <= max_replicas",
        ),
        ("modelport:service.resources.cpu=-2", "modelport:service.resources.cpu: must be > 0 (got -2)"),
        ("modelport:service.image=churn latest", "modelport:service.image: must be an OCI image reference"),
        ("modelport:service.replicas=3", "modelport:service.replicas: unknown key; accepted keys:"),
        ("modelport:targets[0].options.color=blue", "modelport:targets[0].options.color: unknown key"),
        ("modelport:environment=qa", "modelport:environment: must be one of dev, staging, prod (got 'qa')"),
        (
            'modelport:targets=[{"cloud": "azure", "pattern": "container", "region": "westus"}]',
            "modelport:targets[0].region: westus has no availability zones",
        ),
        (
            'modelport:targets=[{"cloud": "gcp", "pattern": "vm", "region": "europe-west4"}]',
            "modelport:targets[0].options.project: is required: the GCP project id",
        ),
    ],
)
def test_bad_input_exits_2_with_one_message_naming_the_key(capsys, override: str, message: str) -> None:
    code, out, err = run_cli(capsys, "prod", "--stack-dir", str(STACKS), "--set", override)
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()] or [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert message in lines[0]
    assert "Traceback" not in out + err


def test_malformed_yaml_and_missing_stack_exit_2(capsys, tmp_path: Path) -> None:
    stack_dir = tmp_path / "stacks"
    shutil.copytree(STACKS, stack_dir)
    (stack_dir / "Pulumi.broken.yaml").write_text("config:\n  modelport:service: {name: [unclosed\n")
    code, out, err = run_cli(capsys, "broken", "--stack-dir", str(stack_dir))
    assert code == 2 and "Pulumi.broken.yaml: is not valid YAML" in out + err
    code, out, err = run_cli(capsys, "qa", "--stack-dir", str(stack_dir))
    assert code == 2 and "Pulumi.qa.yaml: not found; stacks here:" in out + err
    (stack_dir / "Pulumi.list.yaml").write_text("config:\n  modelport:service: [1, 2]\n  modelport:targets: []\n")
    code, out, err = run_cli(capsys, "list", "--stack-dir", str(stack_dir))
    assert code == 2 and "modelport:service: must be a mapping" in out + err


def test_bad_set_syntax_exits_2(capsys) -> None:
    code, out, err = run_cli(capsys, "dev", "--stack-dir", str(STACKS), "--set", "no-equals-sign")
    assert code == 2 and "--set: expects KEY=VALUE" in out + err


def test_mandatory_violation_exits_1_and_advisory_alone_exits_0(capsys, monkeypatch) -> None:
    def judge(level: str):
        def evaluate(plan):
            urn = plan.resources[0].urn
            return PolicyReport(violations=[Violation("example-rule", level, urn, "example finding")], evaluated=1)

        return evaluate

    monkeypatch.setattr(runner, "evaluate_policies", judge("mandatory"))
    code, out, _ = run_cli(capsys, "dev", "--stack-dir", str(STACKS), "--json", "-")
    assert code == 1
    assert json.loads(out)["policy"]["violations"][0]["policy"] == "example-rule"
    monkeypatch.setattr(runner, "evaluate_policies", judge("advisory"))
    code, _, _ = run_cli(capsys, "dev", "--stack-dir", str(STACKS), "--json", "-")
    assert code == 0


def test_console_script_reports_errors_without_a_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "modelport.cli",
            "plan",
            "prod",
            "--stack-dir",
            str(STACKS),
            "--set",
            "modelport:service.resources.cpu=-1",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 2
    assert "modelport:service.resources.cpu: must be > 0" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_unknown_subcommand_exits_2(capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["deploy", "prod"])
    assert caught.value.code == 2


def _without_policy_extra(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess:
    script = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'pulumi_policy':\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import importlib.util\n"
        "importlib.util.find_spec = (lambda f: lambda name, *a: None if name == 'pulumi_policy' else f(name, *a))("
        "importlib.util.find_spec)\n"
        "from modelport.cli import main\n"
        f"sys.exit(main(['plan', 'dev', '--stack-dir', {str(STACKS)!r}, *{list(argv)!r}]))\n"
    )
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=120)


def test_without_the_policy_extra_plan_fails_closed(tmp_path: Path) -> None:
    # Regression (issue 9): this used to print "not evaluated" and exit 0, so a CI gate could never fail.
    result = _without_policy_extra(tmp_path, "--json", "-")
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    # The hint keeps its [policy]: rich must not eat it as markup.
    assert "pip install 'modelport[policy]'" in result.stderr and "--no-policy" in result.stderr


def test_no_policy_plans_without_the_pack_and_says_so(tmp_path: Path) -> None:
    result = _without_policy_extra(tmp_path, "--no-policy", "--json", "-")
    assert result.returncode == 0, result.stderr
    policy = json.loads(result.stdout)["policy"]
    assert policy["evaluated"] == 0 and "--no-policy" in policy["skipped"]
    assert "policy: not evaluated" in result.stderr


def test_policy_config_is_applied_and_bad_policy_config_exits_2(capsys, tmp_path: Path) -> None:
    strict = tmp_path / "strict.json"
    # Turning every rule off leaves nothing evaluated; the file is the same format CrossGuard takes.
    from modelport.plan.policy import catalogue

    strict.write_text(json.dumps({rule["name"]: {"enforcementLevel": "disabled"} for rule in catalogue()}))
    code, out, _ = run_cli(capsys, "prod", "--stack-dir", str(STACKS), "--policy-config", str(strict), "--json", "-")
    assert code == 0 and json.loads(out)["policy"]["evaluated"] == 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"no-such-rule": {"enforcementLevel": "mandatory"}}))
    code, out, err = run_cli(capsys, "prod", "--stack-dir", str(STACKS), "--policy-config", str(bad))
    assert code == 2 and "policy-config.no-such-rule: unknown rule" in out + err
    code, out, err = run_cli(capsys, "prod", "--stack-dir", str(STACKS), "--policy-config", str(tmp_path / "none.json"))
    assert code == 2 and "none.json: cannot be read" in out + err


def test_example_stacks_plan_clean_with_the_policy_pack(capsys) -> None:
    for stack_file in sorted(STACKS.glob("Pulumi.*.yaml")):
        stack = stack_file.name[len("Pulumi.") : -len(".yaml")]
        code, out, err = run_cli(capsys, stack, "--stack-dir", str(STACKS), "--json", "-")
        report = json.loads(out)["policy"]
        assert code == 0, (stack, err)
        assert report["evaluated"] > 0 and not [v for v in report["violations"] if v["level"] == "mandatory"], stack
