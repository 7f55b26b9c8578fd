"""The CLI prints what it did not write literally, shows remediation, filters the catalogue, lists its commands,
and reads stack YAML the way Pulumi does."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from modelport import cli
from modelport.catalog import MissingExtraError
from modelport.plan import runner
from modelport.plan.runner import PolicyReport, Violation
from modelport.plan.stackconfig import load_stack, read_yaml

ROOT = Path(__file__).resolve().parents[1]
STACKS = ROOT / "stacks"


def test_error_text_with_brackets_is_printed_literally(capsys) -> None:
    # Regression (issue 9): `[/feature-store/url]`-like text crashed rich with MarkupError and exit 1.
    code = cli.main(
        [
            "plan",
            "prod",
            "--stack-dir",
            str(STACKS),
            "--set",
            "modelport:service.secrets.FEATURE_STORE_URL=k8s:/feature-store/url",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 2
    assert "modelport:service.secrets.FEATURE_STORE_URL: must be a secret reference" in out + err
    assert "MarkupError" not in out + err and "Traceback" not in out + err


def test_missing_extra_hint_keeps_its_brackets(capsys, monkeypatch) -> None:
    # Regression (issue 9): rich read `[aws]` as a style tag and printed `pip install 'modelport'`.
    def missing(*args, **kwargs):
        raise MissingExtraError(
            "modelport:targets[0]: cloud 'aws' needs the pulumi_aws package: pip install 'modelport[aws]'"
        )

    monkeypatch.setattr(runner, "plan_stack", missing)
    code = cli.main(["plan", "dev", "--stack-dir", str(STACKS)])
    out, err = capsys.readouterr()
    assert code == 2
    assert "pip install 'modelport[aws]'" in out + err
    assert "modelport:targets[0]" in out + err


def test_resource_names_and_outputs_with_brackets_print_literally(capsys, monkeypatch) -> None:
    def judge(plan):
        return PolicyReport(
            violations=[Violation("[bold]rule[/]", "advisory", "urn:[x]", "message [/oops]", "fix [red]it[/red]")],
            evaluated=1,
        )

    monkeypatch.setattr(runner, "evaluate_policies", judge)
    code = cli.main(["plan", "dev", "--stack-dir", str(STACKS)])
    out, _ = capsys.readouterr()
    assert code == 0
    assert "[bold]rule[/]: message [/oops]" in out
    assert "fix: fix [red]it[/red]" in out and "urn:[x]" in out


def test_violations_show_the_catalogue_remediation_in_text_and_json(capsys, tmp_path: Path) -> None:
    # Regression (issue 9): the report showed the finding but not how to fix it.
    from modelport.plan.policy import catalogue

    fixes = {rule["name"]: rule["remediation"] for rule in catalogue()}
    code = cli.main(
        [
            "plan",
            "prod",
            "--stack-dir",
            str(STACKS),
            "--set",
            "modelport:service.image=registry.example.com/ml/churn:latest",
            "--json",
            str(tmp_path / "plan.json"),
        ]
    )
    out, _ = capsys.readouterr()
    assert code == 1
    violations = json.loads((tmp_path / "plan.json").read_text())["policy"]["violations"]
    digest = [v for v in violations if v["policy"] == "k8s-image-digest"]
    assert digest and digest[0]["remediation"] == fixes["k8s-image-digest"]
    assert f"fix: {fixes['k8s-image-digest']}" in " ".join(out.split())


@pytest.mark.parametrize(("flag", "value"), [("--cloud", "aws"), ("--concern", "encryption")])
def test_policies_list_filters(capsys, flag: str, value: str) -> None:
    code = cli.main(["policies", "list", flag, value, "--json", "-"])
    out, _ = capsys.readouterr()
    rows = json.loads(out)
    assert code == 0 and rows
    key = flag.removeprefix("--")
    assert {row[key] for row in rows} == {value}
    cli.main(["policies", "list", "--json", "-"])
    everything = json.loads(capsys.readouterr()[0])
    assert len(rows) < len(everything)


def test_policies_list_filters_combine_and_refuse_unknown_values(capsys) -> None:
    assert cli.main(["policies", "list", "--cloud", "aws", "--concern", "tls", "--json", "-"]) == 0
    rows = json.loads(capsys.readouterr()[0])
    assert rows and all(row["cloud"] == "aws" and row["concern"] == "tls" for row in rows)
    assert cli.main(["policies", "list", "--cloud", "mars"]) == 2
    out, err = capsys.readouterr()
    assert "--cloud: must be one of kubernetes, aws, gcp, azure, any (got 'mars')" in out + err


def test_bare_modelport_lists_its_commands(capsys) -> None:
    # Regression (issue 9): a bare `modelport` was a usage error naming no command.
    code = cli.main([])
    out, _ = capsys.readouterr()
    assert code == 0
    for command in ("plan", "policies", "config-schema"):
        assert command in out


# --- YAML as Pulumi reads it -------------------------------------------------------------------------------


def test_stack_yaml_uses_the_yaml_1_2_core_schema() -> None:
    # Regression (issue 9): PyYAML's YAML 1.1 rules turned NO into false and 2024-01-01 into a date.
    document = read_yaml("a: {no: NO, yes: yes, on: on, version: 1.10, octal: 0o17, leading: 017, date: 2024-01-01}")
    assert document == {
        "a": {"no": "NO", "yes": "yes", "on": "on", "version": 1.1, "octal": 15, "leading": 17, "date": "2024-01-01"}
    }
    assert read_yaml("a: [true, False, ~, null, 1e3, .inf]")["a"][:5] == [True, False, None, None, 1000.0]


def test_top_level_config_scalars_stay_the_text_pulumi_sees(tmp_path: Path) -> None:
    stack_dir = tmp_path / "stacks"
    shutil.copytree(STACKS, stack_dir)
    text = (stack_dir / "Pulumi.dev.yaml").read_text()
    text += "  modelport:environment_note: 1.10\n  team:country: NO\n  team:enabled: true\n"
    (stack_dir / "Pulumi.dev.yaml").write_text(text)
    config = load_stack("dev", stack_dir).config
    # Pulumi reads a top-level config value into a string exactly as written.
    assert config["modelport:environment_note"] == "1.10"
    assert config["team:country"] == "NO"
    assert config["team:enabled"] == "true"


def test_country_code_no_stays_a_string_in_the_container_environment(tmp_path: Path, capsys) -> None:
    stack_dir = tmp_path / "stacks"
    shutil.copytree(STACKS, stack_dir)
    path = stack_dir / "Pulumi.dev.yaml"
    path.write_text(
        path.read_text().replace("      LOG_LEVEL: debug\n", "      LOG_LEVEL: debug\n      COUNTRY: NO\n", 1)
    )
    code = cli.main(["plan", "dev", "--stack-dir", str(stack_dir), "--no-policy", "--json", "-"])
    out, err = capsys.readouterr()
    assert code == 0, err
    deployments = [r for r in json.loads(out)["resources"] if r["type"] == "kubernetes:apps/v1:Deployment"]
    env = {
        e["name"]: e.get("value") for e in deployments[0]["inputs"]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    # Under YAML 1.1 this was the boolean false, sent to the container as "false".
    assert env["COUNTRY"] == "NO"
