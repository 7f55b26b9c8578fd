"""The catalog: every (cloud, pattern) maps to a typed component, SDKs load lazily, errors say what to do."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from conftest import make_service
from modelport import CATALOG, PROFILES, SpecError, Target, deploy, load_component
from modelport.spec import CLOUDS, PATTERNS


def test_catalog_covers_the_matrix_and_the_kubernetes_workload() -> None:
    for cloud in ("aws", "gcp", "azure"):
        for pattern in PATTERNS:
            entry = CATALOG[(cloud, pattern)]
            assert entry.type_token.startswith(f"modelport:{cloud}:")
    assert CATALOG[("kubernetes", "kubernetes")].type_token == "modelport:kubernetes:ModelWorkload"
    assert {c for c, _ in CATALOG} == set(CLOUDS)
    assert len(CATALOG) == 16


def test_available_components_follow_the_contract() -> None:
    for (cloud, pattern), entry in CATALOG.items():
        if entry.status != "available":
            continue
        try:
            component = load_component(cloud, pattern)
        except ImportError:
            continue  # built, but its module is not in this checkout yet
        assert component.__name__ == entry.class_name
        assert hasattr(component, "args_type")


@pytest.mark.parametrize(
    ("cloud", "pattern", "path", "fragment"),
    [
        ("ibm", "vm", "target.cloud", "aws, gcp, azure, kubernetes"),
        ("aws", "batch", "target.pattern", "vm, container, kubernetes, serverless, ml_platform"),
        ("kubernetes", "vm", "target.pattern", "cloud 'kubernetes' supports: kubernetes"),
    ],
)
def test_unknown_or_invalid_pairs_list_the_valid_ones(cloud, pattern, path, fragment) -> None:
    with pytest.raises(SpecError) as caught:
        load_component(cloud, pattern)
    assert caught.value.path == path and fragment in caught.value.reason


def test_planned_targets_are_refused_not_faked(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every target of this release is available; a roadmap entry is still refused, never faked.
    import dataclasses

    from modelport import catalog

    planned = dataclasses.replace(catalog.CATALOG[("gcp", "ml_platform")], status="planned")
    monkeypatch.setitem(catalog.CATALOG, ("gcp", "ml_platform"), planned)
    target = Target(cloud="gcp", pattern="ml_platform", region="europe-west4", path="modelport:targets[1]")
    with pytest.raises(SpecError) as caught:
        deploy(make_service(), target, PROFILES["dev"])
    assert caught.value.path == "modelport:targets[1]"
    assert "not available in this release" in caught.value.reason
    assert "kubernetes/kubernetes" in caught.value.reason


BLOCK_SDKS = textwrap.dedent("""
    import sys
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {"pulumi_aws", "pulumi_kubernetes", "pulumi_gcp", "pulumi_azure_native"}:
                raise ImportError(f"No module named {name!r}")
            return None
    sys.meta_path.insert(0, Block())
""")


def test_core_imports_without_any_cloud_sdk_and_a_missing_extra_says_what_to_install() -> None:
    script = BLOCK_SDKS + textwrap.dedent("""
        import modelport
        from modelport import ModelService, PROFILES, Target, deploy, MissingExtraError
        service = ModelService.from_config({"name": "churn", "image": "ghcr.io/acme/churn:1"})
        for cloud, pattern, region in (("kubernetes", "kubernetes", None), ("aws", "container", "us-east-1")):
            try:
                deploy(service, Target(cloud=cloud, pattern=pattern, region=region), PROFILES["dev"])
            except MissingExtraError as exc:
                print(exc)
        print("loaded:", sorted(m for m in sys.modules if m.startswith("pulumi_")))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "pip install 'modelport[kubernetes]'" in result.stdout
    assert "pip install 'modelport[aws]'" in result.stdout
    assert "loaded: []" in result.stdout
