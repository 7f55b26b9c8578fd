"""`modelport plan --against`: resources added, removed and changed, changed inputs with secrets masked, policy
results that appeared or cleared, as text and as Markdown, on real config changes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from modelport import cli
from modelport.plan.diff import diff_markdown, diff_plans

ROOT = Path(__file__).resolve().parents[1]
STACKS = ROOT / "stacks"
TAGGED = "registry.example.com/ml/churn:latest"


def run(capsys, *argv: str) -> tuple[int, str]:
    code = cli.main(["plan", *argv])
    out, err = capsys.readouterr()
    return code, out + err


def saved_plan(capsys, tmp_path: Path, stack: str, *overrides: str, stack_dir: Path = STACKS) -> Path:
    path = tmp_path / f"{stack}-{len(list(tmp_path.iterdir()))}.json"
    argv = ["plan", stack, "--stack-dir", str(stack_dir), "--json", str(path)]
    for override in overrides:
        argv += ["--set", override]
    cli.main(argv)
    capsys.readouterr()
    return path


def test_a_scaling_change_shows_exactly_the_changed_inputs(capsys, tmp_path: Path) -> None:
    baseline = saved_plan(capsys, tmp_path, "dev")
    code, out = run(
        capsys,
        "dev",
        "--stack-dir",
        str(STACKS),
        "--set",
        "modelport:service.scaling.max_replicas=6",
        "--against",
        str(baseline),
    )
    assert code == 0
    assert "0 to add, 2 to change, 0 to remove" in out
    # The HPA of the cluster target and the App Auto Scaling target of ECS, and nothing else.
    assert "spec.maxReplicas: 4 -> 6" in out
    assert "maxCapacity: 4" in out and "-> 6" in out


def test_a_policy_result_that_appears_and_one_that_clears(capsys, tmp_path: Path) -> None:
    clean = saved_plan(capsys, tmp_path, "prod")
    tagged = saved_plan(capsys, tmp_path, "prod", f"modelport:service.image={TAGGED}")
    before, after = json.loads(clean.read_text()), json.loads(tagged.read_text())
    worse = diff_plans(before, after)
    assert {v["policy"] for v in worse.appeared} >= {"k8s-image-digest"}
    assert worse.cleared == []
    better = diff_plans(after, before)
    assert {v["policy"] for v in better.cleared} == {v["policy"] for v in worse.appeared}
    assert better.appeared == []
    # The changed image shows as an input change of the containers that run it.
    changed_paths = [c.path for changes in worse.changed.values() for c in changes]
    assert any(path.endswith(".image") for path in changed_paths)
    # The CLI exits 1 for the new mandatory violation and says it appeared.
    code, out = run(
        capsys,
        "prod",
        "--stack-dir",
        str(STACKS),
        "--set",
        f"modelport:service.image={TAGGED}",
        "--against",
        str(clean),
    )
    assert code == 1 and "k8s-image-digest" in out and "new" in out


def test_against_another_stack_of_the_project(capsys) -> None:
    code, out = run(capsys, "staging", "--stack-dir", str(STACKS), "--against", "dev")
    assert code == 0
    assert "[bold]" not in out and "diff against dev:" in out
    # staging runs a canary: its canary resources are added relative to dev.
    assert "+ kubernetes:apps/v1:Deployment churn-kubernetes-kubernetes-canary-deploy" in out
    assert "+ aws:ecs/service:Service churn-aws-container-us-east-1-canary-service" in out
    assert "to add" in out and "to change" in out


def test_removed_resources_and_markdown_for_a_pull_request(capsys, tmp_path: Path) -> None:
    stack_dir = tmp_path / "stacks"
    shutil.copytree(STACKS, stack_dir)
    baseline = saved_plan(capsys, tmp_path, "staging", stack_dir=stack_dir)
    # The change under review: drop the canary.
    code, out = run(
        capsys,
        "staging",
        "--stack-dir",
        str(stack_dir),
        "--set",
        "modelport:service.variants=[]",
        "--against",
        str(baseline),
        "--format",
        "markdown",
    )
    assert code == 0
    assert out.startswith("## modelport plan: `staging` (staging)")
    assert "### Diff against `staging`" in out
    assert "| - | `aws:ecs/service:Service`" in out and "| - | `kubernetes:apps/v1:Deployment`" in out
    assert "Policy passes" in out
    assert "[bold" not in out  # Markdown, not rich markup


def test_secrets_are_masked_on_both_sides() -> None:
    urn = "urn:pulumi:dev::modelport::aws:ssm/parameter:Parameter::token"

    def document(value):
        return {
            "stack": "dev",
            "resources": [{"urn": urn, "type": "aws:ssm/parameter:Parameter", "name": "token", "inputs": value}],
            "outputs": {},
            "policy": {"violations": [], "evaluated": 0},
        }

    diff = diff_plans(
        document({"value": "[secret]", "tier": "Standard"}), document({"value": "hunter2", "tier": "Advanced"})
    )
    (changes,) = diff.changed.values()
    by_path = {c.path: c for c in changes}
    assert (by_path["value"].before, by_path["value"].after) == ("[secret]", "[secret]")
    assert (by_path["tier"].before, by_path["tier"].after) == ("Standard", "Advanced")
    assert "hunter2" not in diff_markdown(diff)


def test_an_unreadable_baseline_is_one_clear_error(capsys, tmp_path: Path) -> None:
    missing = tmp_path / "nothing.json"
    code, out = run(capsys, "dev", "--stack-dir", str(STACKS), "--against", str(missing))
    assert code == 2 and f"--against {missing}: cannot be read" in out
    bad = tmp_path / "bad.json"
    bad.write_text('{"stack": "dev"}')
    code, out = run(capsys, "dev", "--stack-dir", str(STACKS), "--against", str(bad))
    assert code == 2 and "is not a modelport plan document" in out
    code, out = run(capsys, "dev", "--stack-dir", str(STACKS), "--against", "qa")
    assert code == 2 and "Pulumi.qa.yaml: not found" in out
