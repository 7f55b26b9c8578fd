"""modelport.testing: users unit-test their own programs with Pulumi's mocks, as Pulumi's docs recommend."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# A user's test file written the way Pulumi's docs show: plain set_mocks, @pulumi.runtime.test.
USER_TESTS = """
import pulumi
import pytest

import modelport.testing
from modelport import PROFILES, ModelService
from modelport.aws import EcsService, EcsServiceArgs

IMAGE = "111122223333.dkr.ecr.us-east-1.amazonaws.com/churn@sha256:" + "4f" * 32


class PlainMocks(pulumi.runtime.Mocks):
    def new_resource(self, args):
        return args.name + "_id", args.inputs

    def call(self, args):
        return {}


def build():
    service = ModelService.from_config({"name": "churn", "image": IMAGE})
    return EcsService("churn", EcsServiceArgs(service=service, profile=PROFILES["prod"]))


def test_with_modelport_mocks_the_component_builds_and_exposes_its_endpoint():
    pulumi.runtime.set_mocks(modelport.testing.Mocks(), preview=False)

    @pulumi.runtime.test
    def check():
        component = build()
        return pulumi.Output.all(component.endpoint, component.identity).apply(check_values)

    def check_values(values):
        endpoint, identity = values
        assert endpoint.startswith("https://") or endpoint.startswith("http://")
        assert identity.startswith("arn:aws:iam::")

    check()


def test_with_plain_mocks_the_error_names_the_invoke():
    pulumi.runtime.set_mocks(PlainMocks(), preview=False)

    @pulumi.runtime.test
    def check():
        return build().endpoint

    with pytest.raises(Exception) as caught:
        check()
    assert "aws:index/get" in str(caught.value) and "modelport.testing.Mocks" in str(caught.value)
"""


def _run_pytest(tmp_path: Path, name: str, text: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / name).write_text(text)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_users_can_test_their_program_with_plain_set_mocks(tmp_path: Path) -> None:
    pytest.importorskip("pulumi_aws")
    done = _run_pytest(tmp_path, "test_user_program.py", USER_TESTS)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "2 passed" in done.stdout


def test_the_readme_example_runs_as_written(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    example = next(b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S) if "modelport.testing" in b)
    assert len(example.strip().splitlines()) <= 16
    done = _run_pytest(tmp_path, "test_infra.py", example)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 passed" in done.stdout


def test_plan_judges_the_program_and_reports_violations() -> None:
    from modelport import PROFILES, ModelService
    from modelport.kubernetes import ModelWorkload, ModelWorkloadArgs
    from modelport.testing import plan

    def program() -> None:
        service = ModelService.from_config({"name": "churn", "image": "ghcr.io/acme/churn:latest"})
        ModelWorkload("churn", ModelWorkloadArgs(service=service, profile=PROFILES["prod"]))

    result = plan(program)
    assert result.environment == "prod"
    assert result.one("kubernetes:apps/v1:Deployment").inputs["metadata"]["namespace"] == "churn"
    assert result.policy.mandatory, "a mutable :latest tag in prod must be a mandatory violation"
    skipped = plan(program, policies=False)
    assert skipped.policy.skipped and not skipped.policy.violations
