"""The serving Dockerfiles: hadolint- and Checkov-clean, and the image properties the issue asks for,
checked by name (Docker itself is not needed: these lint, they do not build)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "serving_image"
DOCKERFILES = sorted(p for p in FOLDER.glob("Dockerfile*") if not p.name.endswith(".dockerignore"))
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    found = shutil.which(name, path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        pytest.fail(f"{name} is not installed: pip install 'modelport[dev]'")
    return found


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    result = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def test_all_three_dockerfiles_exist() -> None:
    assert [p.name for p in DOCKERFILES] == ["Dockerfile", "Dockerfile.azure-functions", "Dockerfile.baked"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_is_clean(dockerfile: Path) -> None:
    result = subprocess.run(
        [tool("hadolint"), "--format", "json", str(dockerfile)], capture_output=True, text=True, timeout=120
    )
    findings = json.loads(result.stdout or "[]")
    assert findings == [], findings
    assert result.returncode == 0


def test_checkov_dockerfile_checks_pass(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("BC_API_KEY", "PRISMA_API_URL")}
    env["CHECKOV_RUN_SCA_PACKAGE_SCAN_V2"] = "false"
    # Only the Dockerfiles: Checkov would read the .dockerignore files as Dockerfiles too.
    for dockerfile in DOCKERFILES:
        shutil.copy(dockerfile, tmp_path / dockerfile.name)
    result = subprocess.run(
        [
            tool("checkov"),
            "--directory",
            str(tmp_path),
            "--framework",
            "dockerfile",
            "--output",
            "json",
            "--skip-download",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    summary = reports[0]["summary"]
    failed = [c["check_id"] + " " + c["file_path"] for r in reports for c in r["results"]["failed_checks"]]
    assert failed == [] and summary["failed"] == 0
    assert summary["passed"] >= 40  # all three files were scanned
    passed = {c["check_id"] for r in reports for c in r["results"]["passed_checks"]}
    assert {"CKV_DOCKER_2", "CKV_DOCKER_3", "CKV_DOCKER_7", "CKV_DOCKER_8"} <= passed


def test_main_image_contract() -> None:
    steps = instructions(FOLDER / "Dockerfile")
    froms = [args for keyword, args in steps if keyword == "FROM"]
    assert len(froms) >= 3  # multi-stage: adapter, build, serving
    assert any(re.fullmatch(r"python:3\.11\.\d+-slim-bookworm AS python-base", f) for f in froms), froms
    assert any(
        re.fullmatch(r"public\.ecr\.aws/awsguru/aws-lambda-adapter:\d+\.\d+\.\d+ AS lambda-adapter", f) for f in froms
    ), froms
    assert ("ARG", "RUNTIME=tensorflow") in steps
    assert ("COPY", "--from=lambda-adapter /lambda-adapter /opt/extensions/lambda-adapter") in steps
    users = [args for keyword, args in steps if keyword == "USER"]
    assert users and re.fullmatch(r"\d+:0", users[-1]) and not users[-1].startswith("0:")
    entrypoint = next(args for keyword, args in steps if keyword == "ENTRYPOINT")
    assert json.loads(entrypoint) == ["python", "-m", "serving_image"]  # exec form
    healthcheck = next(args for keyword, args in steps if keyword == "HEALTHCHECK")
    assert '"serving_image.healthcheck"' in healthcheck
    env = " ".join(args for keyword, args in steps if keyword == "ENV")
    for setting in (
        "HOME=/tmp",
        "TMPDIR=/tmp",
        "MODEL_DOWNLOAD_DIR=/tmp/",
        "PYTHONDONTWRITEBYTECODE=1",
        "AWS_LWA_READINESS_CHECK_PATH=/v2/health/ready",
    ):
        assert setting in env


@pytest.mark.parametrize("runtime", ["tensorflow", "litert"])
def test_requirements_pin_every_package(runtime: str) -> None:
    lines = [line.strip() for line in (FOLDER / f"requirements-{runtime}.txt").read_text().splitlines()]
    pins = [line for line in lines if line and not line.startswith("#")]
    assert pins and all(re.fullmatch(r"[a-z0-9-]+==[0-9][0-9a-z.]*", pin) for pin in pins), pins
    names = {pin.split("==")[0] for pin in pins}
    assert {"starlette", "uvicorn", "orjson", "prometheus-client", "numpy"} <= names
    assert ("tensorflow-cpu" in names) == (runtime == "tensorflow")
    assert ("ai-edge-litert" in names) == (runtime == "litert")


def test_tensorflow_pin_matches_pyproject() -> None:
    pin = next(
        line
        for line in (FOLDER / "requirements-tensorflow.txt").read_text().splitlines()
        if line.startswith("tensorflow-cpu==")
    )
    version = tuple(int(part) for part in pin.split("==")[1].split(".")[:2])
    assert version >= (2, 20)
    pyproject = (ROOT / "pyproject.toml").read_text()
    match = re.search(r'"tensorflow-cpu>=([\d.]+),<([\d.]+)"', pyproject)
    if match:
        low = tuple(int(p) for p in match[1].split(".")[:2])
        high = tuple(int(p) for p in match[2].split(".")[:2])
        assert low <= version < high


def test_build_context_is_limited_to_the_serving_folder() -> None:
    ignore = (FOLDER / "Dockerfile.dockerignore").read_text().splitlines()
    assert "*" in ignore and "!serving_image/" in ignore


def test_azure_functions_custom_handler_config() -> None:
    host = json.loads((FOLDER / "azure_functions" / "host.json").read_text())
    handler = host["customHandler"]
    assert handler["enableForwardingHttpRequest"] is True
    assert handler["description"]["arguments"][:2] == ["-m", "serving_image"]
    assert host["extensions"]["http"]["routePrefix"] == ""
    function = json.loads((FOLDER / "azure_functions" / "model" / "function.json").read_text())
    trigger = function["bindings"][0]
    assert trigger["type"] == "httpTrigger" and trigger["route"] == "{*path}" and trigger["authLevel"] != "anonymous"
