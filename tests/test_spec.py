"""ModelService, Target and StackSpec validation: good configs parse, every bad value names its key."""

from __future__ import annotations

import copy
import dataclasses

import pytest
from conftest import IMAGE
from hypothesis import given, settings
from hypothesis import strategies as st
from modelport import PROFILES, ModelService, SpecError, StackSpec, Target
from modelport.spec import parse_image

S = "modelport:service."

VALID = {
    "name": "churn",
    "image": IMAGE,
    "port": 8080,
    "model": {"name": "churn", "artifact_uri": "gs://models/churn/1", "signature": "serving_default"},
    "resources": {"cpu": 2, "memory_mib": 4096, "accelerator": {"type": "nvidia-l4", "count": 1}},
    "scaling": {"min_replicas": 2, "max_replicas": 8, "target_cpu_percent": 60, "target_concurrency": 8},
    "health": {"ready_path": "/v2/health/ready", "live_path": "/v2/health/live", "startup_seconds": 120},
    "exposure": {
        "public": True,
        "allowed_principals": ["namespace/checkout", "serviceAccount:caller@acme.iam.gserviceaccount.com"],
        "allowed_networks": ["10.0.0.0/8"],
        "certificate": "churn-tls",
        "domain": "churn.example.com",
    },
    "variants": [{"name": "stable", "weight": 90}, {"name": "canary", "image": "ghcr.io/acme/churn:v2", "weight": 10}],
    "env": {"LOG_LEVEL": "info", "MAX_BATCH_SIZE": 32},
    "secrets": {"FEATURE_STORE_URL": "k8s://feature-store/url"},
    "tags": {"team": "ml"},
}


def parse(overrides: dict | None = None, **top: object) -> ModelService:
    config = copy.deepcopy(VALID)
    config.update(top)
    for dotted, value in (overrides or {}).items():
        node = config
        *parents, last = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return ModelService.from_config(config)


def error_of(overrides: dict | None = None, **top: object) -> SpecError:
    with pytest.raises(SpecError) as caught:
        parse(overrides, **top)
    return caught.value


def test_full_config_parses_into_frozen_parts() -> None:
    service = parse()
    assert service.scaling.min_replicas == 2
    assert service.resources.accelerator.type == "nvidia-l4"
    assert service.env["MAX_BATCH_SIZE"] == "32"  # scalars become strings, as env values must
    assert service.secrets["FEATURE_STORE_URL"].kind == "kubernetes"
    assert [v.name for v in service.tracks] == ["stable", "canary"]
    assert service.image_of(service.variants[0]) == IMAGE
    assert service.image_ref.pinned
    with pytest.raises(dataclasses.FrozenInstanceError):
        service.name = "other"  # type: ignore[misc]


def test_defaults_are_private_and_single_track() -> None:
    service = ModelService.from_config({"name": "churn", "image": IMAGE})
    assert service.exposure.public is False
    assert service.port == 8080
    assert service.model.name == "churn"
    assert [(t.name, t.weight) for t in service.tracks] == [("stable", 100)]
    assert service.scaling.min_replicas is None  # the profile decides


@pytest.mark.parametrize(
    ("overrides", "top", "path", "fragment"),
    [
        ({}, {"colour": "blue"}, "modelport:service.colour", "unknown key; accepted keys: name, image"),
        ({"scaling.min_replicas": 0}, {}, "modelport:service.scaling.min_replicas", "must be >= 1 (got 0)"),
        ({"scaling.min_replicas": 9}, {}, "modelport:service.scaling.min_replicas", "must be <= max_replicas (8)"),
        ({"resources.cpu": -1}, {}, "modelport:service.resources.cpu", "must be > 0"),
        ({"resources.memory_mib": "4G"}, {}, "modelport:service.resources.memory_mib", "must be an integer"),
        ({"resources.accelerator.type": "tpu"}, {}, "modelport:service.resources.accelerator.type", "nvidia-t4"),
        ({}, {"image": "Not A Reference"}, "modelport:service.image", "OCI image reference"),
        ({}, {"image": "ghcr.io/acme/churn"}, "modelport:service.image", "must name a tag or, better, a digest"),
        ({}, {"image": "ghcr.io/acme/churn@sha256:abc"}, "modelport:service.image", "OCI image reference"),
        ({}, {"port": 80}, "modelport:service.port", "must be >= 1024"),
        ({}, {"name": "Churn_Model"}, "modelport:service.name", "lowercase DNS label"),
        (
            {"exposure.allowed_principals": ["checkout"]},
            {},
            "modelport:service.exposure.allowed_principals[0]",
            "an identity",
        ),
        (
            {"exposure.allowed_networks": ["10.0.0.1/8"]},
            {},
            "modelport:service.exposure.allowed_networks[0]",
            "host bits",
        ),
        ({"exposure.anonymous": True, "exposure.public": False}, {}, "modelport:service.exposure.anonymous", "public"),
        ({"exposure.public": "yes"}, {}, "modelport:service.exposure.public", "true or false"),
        ({"health.ready_path": "ready"}, {}, "modelport:service.health.ready_path", "absolute URL path"),
        ({"model.artifact_uri": "ftp://x/y"}, {}, "modelport:service.model.artifact_uri", "s3://"),
        (
            {},
            {"variants": [{"name": "a", "weight": 60}, {"name": "b", "weight": 30}]},
            "modelport:service.variants",
            "weights must sum to 100 (got 90: a=60, b=30)",
        ),
        (
            {},
            {"variants": [{"name": "a", "weight": 50}, {"name": "a", "weight": 50}]},
            "modelport:service.variants[1].name",
            "duplicate variant name",
        ),
        (
            {},
            {"variants": [{"name": "a", "weight": 100, "colour": 1}]},
            "modelport:service.variants[0].colour",
            "unknown key",
        ),
        ({}, {"variants": {"name": "a"}}, "modelport:service.variants", "must be a list"),
        ({}, {"env": {"DB_PASSWORD": "hunter2"}}, "modelport:service.env.DB_PASSWORD", "put it in `secrets`"),
        ({}, {"env": {"1BAD": "x"}}, "modelport:service.env.1BAD", "environment variable name"),
        ({}, {"secrets": {"API_TOKEN": "s3cr3t-value"}}, "modelport:service.secrets.API_TOKEN", "never a value"),
        ({}, {"secrets": {"LOG_LEVEL": "k8s://a/b"}}, "modelport:service.secrets.LOG_LEVEL", "also set in `env`"),
        ({}, {"tags": {"team": ["a"]}}, "modelport:service.tags.team", "must be a string"),
    ],
)
def test_bad_values_name_their_key(overrides: dict, top: dict, path: str, fragment: str) -> None:
    error = error_of(overrides, **top)
    assert error.path == path
    assert fragment in str(error)
    assert str(error).startswith(path + ": ")


def test_required_keys() -> None:
    with pytest.raises(SpecError, match=r"^modelport:service\.image: is required$"):
        ModelService.from_config({"name": "churn"})
    with pytest.raises(SpecError, match=r"^modelport:service: must be a mapping"):
        ModelService.from_config(["churn"])


@pytest.mark.parametrize(
    "reference",
    [
        "arn:aws:secretsmanager:us-east-1:111122223333:secret:churn/db-AbCdEf",
        "arn:aws:ssm:eu-west-1:111122223333:parameter/churn/feature-url",
        "projects/acme-ml/secrets/feature-url/versions/latest",
        "https://acme-kv.vault.azure.net/secrets/feature-url",
        "k8s://feature-store/url",
    ],
)
def test_secret_references_of_every_store_are_accepted(reference: str) -> None:
    assert parse(secrets={"FEATURE_STORE_URL": reference}).secrets["FEATURE_STORE_URL"].reference == reference


@pytest.mark.parametrize(
    "image",
    [
        "churn:1.0",
        "localhost:5000/churn:dev",
        "registry.example.com:443/ml/team/churn@sha256:" + "a" * 64,
        "ghcr.io/acme/churn:v2@sha256:" + "b" * 64,
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/churn@sha256:" + "c" * 64,
        "europe-west4-docker.pkg.dev/proj/repo/churn:1",
    ],
)
def test_valid_oci_references(image: str) -> None:
    parse_image("image", image)


def test_profile_fills_min_replicas_and_explicit_values_win() -> None:
    unset = ModelService.from_config({"name": "churn", "image": IMAGE})
    assert PROFILES["prod"].apply(unset).scaling.min_replicas == 3
    assert PROFILES["dev"].apply(unset).scaling.min_replicas == 1
    explicit = ModelService.from_config({"name": "churn", "image": IMAGE, "scaling": {"min_replicas": 2}})
    assert PROFILES["prod"].apply(explicit).scaling.min_replicas == 2


def test_profile_floor_above_max_replicas_names_max_replicas() -> None:
    small = ModelService.from_config({"name": "churn", "image": IMAGE, "scaling": {"max_replicas": 2}})
    with pytest.raises(SpecError, match=r"^modelport:service\.scaling\.max_replicas: must be >= the prod"):
        PROFILES["prod"].apply(small)


def test_profiles_differ_where_the_design_says() -> None:
    dev, staging, prod = PROFILES["dev"], PROFILES["staging"], PROFILES["prod"]
    assert dev.min_replicas < staging.min_replicas < prod.min_replicas
    assert prod.zones == 3 and prod.deletion_protection and prod.alarms and prod.advisory_is_mandatory
    assert dev.log_retention_days < staging.log_retention_days < prod.log_retention_days
    assert not dev.deletion_protection and not dev.alarms


# --- targets and stack config ---

STACK = {
    "modelport:environment": "prod",
    "modelport:service": {"name": "churn", "image": IMAGE},
    "modelport:targets": [{"cloud": "kubernetes", "pattern": "kubernetes"}],
}


def stack_error(**changes: object) -> SpecError:
    config = copy.deepcopy(STACK)
    config.update(changes)
    with pytest.raises(SpecError) as caught:
        StackSpec.from_config(config)
    return caught.value


def test_stack_config_parses() -> None:
    spec = StackSpec.from_config(STACK)
    assert spec.environment == "prod"
    assert spec.targets[0].key == "kubernetes-kubernetes"
    assert spec.targets[0].path == "modelport:targets[0]"


@pytest.mark.parametrize(
    ("changes", "path", "fragment"),
    [
        ({"modelport:environment": "qa"}, "modelport:environment", "dev, staging, prod"),
        ({"modelport:region": "x"}, "modelport:region", "unknown key"),
        ({"modelport:targets": []}, "modelport:targets", "non-empty list"),
        (
            {"modelport:targets": [{"cloud": "mars", "pattern": "vm", "region": "x1"}]},
            "modelport:targets[0].cloud",
            "aws, gcp, azure, kubernetes",
        ),
        (
            {"modelport:targets": [{"cloud": "aws", "pattern": "lambda", "region": "us-east-1"}]},
            "modelport:targets[0].pattern",
            "vm, container, kubernetes, serverless, ml_platform",
        ),
        (
            {"modelport:targets": [{"cloud": "kubernetes", "pattern": "vm"}]},
            "modelport:targets[0].pattern",
            "only supports pattern 'kubernetes'",
        ),
        (
            {"modelport:targets": [{"cloud": "kubernetes", "pattern": "kubernetes", "region": "eu"}]},
            "modelport:targets[0].region",
            "does not apply",
        ),
        ({"modelport:targets": [{"cloud": "aws", "pattern": "vm"}]}, "modelport:targets[0].region", "us-east-1"),
        (
            {"modelport:targets": [{"cloud": "aws", "pattern": "vm", "region": "us-east-1", "zone": "a"}]},
            "modelport:targets[0].zone",
            "unknown key",
        ),
        (
            {
                "modelport:targets": [
                    {"cloud": "aws", "pattern": "vm", "region": "us-east-1"},
                    {"cloud": "aws", "pattern": "vm", "region": "us-east-1"},
                ]
            },
            "modelport:targets[1]",
            "would produce the same resource names as targets[0]",
        ),
    ],
)
def test_bad_stack_config_names_the_key(changes: dict, path: str, fragment: str) -> None:
    error = stack_error(**changes)
    assert error.path == path
    assert fragment in error.reason


def test_target_construction_from_code_validates() -> None:
    with pytest.raises(SpecError, match=r"^target\.cloud: must be one of"):
        Target(cloud="oracle", pattern="vm", region="x")


# --- property-based: any invalid value is rejected with a message naming its key ---

NUMERIC_KEYS = {
    "scaling.min_replicas": (1, 1000),
    "scaling.max_replicas": (1, 1000),
    "scaling.target_cpu_percent": (10, 95),
    "scaling.target_concurrency": (1, 1000),
    "resources.memory_mib": (128, 4_194_304),
    "health.startup_seconds": (10, 3600),
    "port": (1024, 65535),
}
not_an_int = st.one_of(
    st.text(max_size=5),
    st.floats(allow_nan=True),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
)


@settings(max_examples=150, deadline=None)
@given(key=st.sampled_from(sorted(NUMERIC_KEYS)), data=st.data())
def test_any_out_of_range_or_mistyped_number_is_rejected_naming_the_key(key: str, data: st.DataObject) -> None:
    low, high = NUMERIC_KEYS[key]
    bad = data.draw(st.one_of(st.integers(max_value=low - 1), st.integers(min_value=high + 1), not_an_int))
    config = copy.deepcopy({"name": "churn", "image": IMAGE, "scaling": {"max_replicas": 1000}})
    node = config
    *parents, last = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = bad
    with pytest.raises(SpecError) as caught:
        ModelService.from_config(config)
    assert caught.value.path == f"modelport:service.{key}"


@settings(max_examples=150, deadline=None)
@given(
    key=st.text(min_size=1, max_size=12).filter(
        lambda k: (
            k
            not in {
                "name",
                "image",
                "port",
                "model",
                "resources",
                "scaling",
                "health",
                "exposure",
                "variants",
                "env",
                "secrets",
                "tags",
            }
            and "." not in k
            and "[" not in k
        )
    )
)
def test_any_unknown_top_level_key_is_rejected_by_name(key: str) -> None:
    with pytest.raises(SpecError) as caught:
        ModelService.from_config({"name": "churn", "image": IMAGE, key: 1})
    assert caught.value.path == f"modelport:service.{key}"
    assert "accepted keys" in caught.value.reason


@settings(max_examples=100, deadline=None)
@given(
    weights=st.lists(st.integers(min_value=0, max_value=100), min_size=1, max_size=5).filter(lambda w: sum(w) != 100)
)
def test_any_weights_not_summing_to_100_are_rejected(weights: list[int]) -> None:
    variants = [{"name": f"v{i}", "weight": w} for i, w in enumerate(weights)]
    with pytest.raises(SpecError) as caught:
        ModelService.from_config({"name": "churn", "image": IMAGE, "variants": variants})
    assert caught.value.path == "modelport:service.variants"
    assert f"got {sum(weights)}" in caught.value.reason


@settings(max_examples=100, deadline=None)
@given(
    value=st.text(min_size=1, max_size=40).filter(
        lambda v: not v.startswith(("arn:", "projects/", "https://", "k8s://"))
    )
)
def test_any_plain_secret_value_is_refused(value: str) -> None:
    with pytest.raises(SpecError) as caught:
        ModelService.from_config({"name": "churn", "image": IMAGE, "secrets": {"API_KEY": value}})
    assert caught.value.path == "modelport:service.secrets.API_KEY"


# --- exposure: principals by form, networks as CIDRs, the replaced key -----------------------------------------

PRINCIPALS_BY_CLOUD = {
    "aws": ["111122223333", "arn:aws:iam::111122223333:role/team/caller", "arn:aws:iam::111122223333:root"],
    "gcp": [
        "serviceAccount:caller@acme.iam.gserviceaccount.com",
        "user:ana@example.com",
        "group:ml@example.com",
        "domain:example.com",
    ],
    "azure": ["azure:6f1c1b7e-3f0a-4a6e-9d2b-0c1d2e3f4a5b"],
    "kubernetes": ["namespace/checkout", "serviceaccount/checkout/web"],
}


def test_each_principal_is_taken_by_its_own_cloud() -> None:
    everything = [p for group in PRINCIPALS_BY_CLOUD.values() for p in group]
    service = ModelService.from_config(
        {"name": "churn", "image": IMAGE, "exposure": {"allowed_principals": everything}}
    )
    for cloud, principals in PRINCIPALS_BY_CLOUD.items():
        assert service.exposure.principals_of(cloud) == tuple(principals)


def test_allowed_callers_names_what_replaced_it() -> None:
    with pytest.raises(SpecError) as caught:
        ModelService.from_config({"name": "churn", "image": IMAGE, "exposure": {"allowed_callers": ["10.0.0.0/8"]}})
    assert caught.value.path == "modelport:service.exposure.allowed_callers"
    assert "allowed_principals" in str(caught.value) and "allowed_networks" in str(caught.value)


@pytest.mark.parametrize(
    ("exposure", "path", "fragment"),
    [
        ({"allowed_principals": ["10.0.0.0/8"]}, "exposure.allowed_principals[0]", "allowed_networks"),
        ({"allowed_principals": ["arn:aws:iam::1111:role/x"]}, "exposure.allowed_principals[0]", "an identity"),
        ({"allowed_principals": ["azure:not-a-uuid"]}, "exposure.allowed_principals[0]", "azure:<uuid>"),
        ({"allowed_principals": ["namespace/Checkout"]}, "exposure.allowed_principals[0]", "an identity"),
        (
            {"allowed_principals": ["user:ana@example.com", "user:ana@example.com"]},
            "exposure.allowed_principals[1]",
            "repeats",
        ),
        ({"allowed_networks": ["checkout"]}, "exposure.allowed_networks[0]", "CIDR"),
        ({"allowed_networks": ["2001:db8::1/32"]}, "exposure.allowed_networks[0]", "host bits"),
        ({"anonymous": "yes", "public": True}, "exposure.anonymous", "true or false"),
    ],
)
def test_bad_exposure_is_refused_at_its_key(exposure: dict, path: str, fragment: str) -> None:
    with pytest.raises(SpecError) as caught:
        ModelService.from_config({"name": "churn", "image": IMAGE, "exposure": exposure})
    assert caught.value.path == "modelport:service." + path
    assert fragment in str(caught.value)


# --- regions: validated against modelport's table, with an escape hatch for newer ones ----------------------


@pytest.mark.parametrize(
    ("target", "path", "fragment"),
    [
        ({"cloud": "aws", "pattern": "vm", "region": "us-east-7"}, "region", "not a region modelport knows for aws"),
        ({"cloud": "aws", "pattern": "vm", "region": "us-east-1a"}, "region", "a zone of aws region 'us-east-1'"),
        ({"cloud": "aws", "pattern": "vm", "region": "europe-west4"}, "region", "is a gcp region"),
        ({"cloud": "gcp", "pattern": "vm", "region": "us-east1-b"}, "region", "a zone of gcp region 'us-east1'"),
        ({"cloud": "azure", "pattern": "vm", "region": "us-east-1"}, "region", "is a aws region"),
        ({"cloud": "aws", "pattern": "vm", "region": "us-east-1", "zones": ["us-east-1z"]}, "zones", "not a zone"),
        ({"cloud": "aws", "pattern": "vm", "region": "us-east-9", "zones": []}, "zones", "at least one zone"),
        ({"cloud": "kubernetes", "pattern": "kubernetes", "zones": ["a"]}, "zones", "does not apply"),
    ],
)
def test_regions_that_do_not_exist_are_refused(target: dict, path: str, fragment: str) -> None:
    with pytest.raises(SpecError) as caught:
        Target.from_config(target, "modelport:targets[0]")
    assert caught.value.path == f"modelport:targets[0].{path}"
    assert fragment in str(caught.value)


def test_known_regions_carry_their_zones_and_newer_ones_need_them_named() -> None:
    assert Target(cloud="aws", pattern="vm", region="us-west-1").region_zones == ("us-west-1a", "us-west-1c")
    assert len(Target(cloud="gcp", pattern="vm", region="us-central1").region_zones) == 4
    assert Target(cloud="azure", pattern="vm", region="westus").region_zones == ()
    newer = Target(cloud="aws", pattern="vm", region="eu-east-9", zones=("eu-east-9a", "eu-east-9b", "eu-east-9c"))
    assert newer.region_zones == ("eu-east-9a", "eu-east-9b", "eu-east-9c")


def test_grpc_port_is_validated_and_refused_by_targets_that_cannot_carry_it() -> None:
    with pytest.raises(SpecError, match="must differ from port"):
        ModelService.from_config({"name": "churn", "image": IMAGE, "port": 8080, "grpc_port": 8080})
    with pytest.raises(SpecError, match=r"grpc_port: must be >= 1024"):
        ModelService.from_config({"name": "churn", "image": IMAGE, "grpc_port": 81})
    from modelport.base import ComponentArgs

    service = ModelService.from_config({"name": "churn", "image": IMAGE, "grpc_port": 8081})
    with pytest.raises(SpecError) as caught:
        ComponentArgs(service=service, profile=PROFILES["dev"])  # a target that does not declare gRPC support
    assert caught.value.path == "modelport:service.grpc_port"
