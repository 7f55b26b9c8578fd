"""modelport imports under its own name: a user's project with its own `components` and `policies` packages works."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "registry.example.com/ml/churn@sha256:" + "6b" * 32

USER_MAIN = """
import components                     # the user's own package, not modelport's folder
import policies                       # likewise
from modelport import PROFILES, ModelService
from modelport.kubernetes import ModelWorkload, ModelWorkloadArgs

IMAGE = "registry.example.com/ml/churn@sha256:" + "6b" * 32
assert components.OWNER == "user" and policies.OWNER == "user"
service = ModelService.from_config({"name": "churn", "image": IMAGE})
ModelWorkload("churn", ModelWorkloadArgs(service=service, profile=PROFILES["dev"]))
"""


def test_a_project_with_its_own_components_and_policies_imports_modelport_and_plans(tmp_path: Path) -> None:
    for package in ("components", "policies"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text('OWNER = "user"\n')
    (tmp_path / "Pulumi.yaml").write_text("name: userproject\nruntime: python\n")
    (tmp_path / "Pulumi.dev.yaml").write_text("config: {}\n")
    (tmp_path / "__main__.py").write_text(USER_MAIN)
    modelport = Path(sys.executable).with_name("modelport")
    done = subprocess.run(
        [str(modelport), "plan", "dev", "--stack-dir", str(tmp_path), "--json", "-"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    types = {r["type"] for r in plan["resources"]}
    assert "modelport:kubernetes:ModelWorkload" in types
    assert "kubernetes:apps/v1:Deployment" in types


def test_no_generic_top_level_name_is_installed_and_every_package_is_listed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping = config["package-dir"]
    assert mapping == {"modelport": "components", "modelport.policies": "policies"}
    tops = {name.split(".")[0] for name in config["packages"]}
    assert tops == {"modelport", "serving_image"}
    on_disk = set()
    for folder, package in (
        ("components", "modelport"),
        ("policies", "modelport.policies"),
        ("serving_image", "serving_image"),
    ):
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder).parts
            on_disk.add(".".join((package, *relative)))
    assert on_disk == set(config["packages"]), "pyproject.toml's package list must match the packages on disk"


def test_the_pack_rules_load_as_modelport_policies() -> None:
    script = "import modelport.policies.rules as r, sys; print(len(r.all_rules()), 'rules' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", script], cwd="/", capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    count, leaked = done.stdout.split()
    assert int(count) > 200 and leaked == "False"
