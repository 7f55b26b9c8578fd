"""Repository-wide checks: ruff lint and format, and the README's code example runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from modelport.plan.runner import run_program

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_lint_and_format_are_clean() -> None:
    for command in (["check", "."], ["format", "--check", "."]):
        result = subprocess.run([sys.executable, "-m", "ruff", *command], cwd=ROOT, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def test_readme_program_example_runs_under_the_mocks() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    example = next(b for b in blocks if "ModelWorkload(" in b)
    example = example.replace("@sha256:...", "@sha256:" + "4f" * 32)
    plan = run_program(lambda: exec(compile(example, "README.md", "exec"), {}), stack="readme", preview=False)
    types = {r.type for r in plan.resources}
    assert {"modelport:aws:EcsService", "modelport:kubernetes:ModelWorkload"} <= types
    assert plan.outputs["endpoint"].startswith("http://churn.churn.svc.cluster.local")


def test_readme_names_both_setup_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make plan" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
