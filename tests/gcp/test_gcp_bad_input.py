"""Bad input is one clear SpecError naming the option (or the service key), raised before any resource exists."""

from __future__ import annotations

import pytest
from gcp_fixtures import AR_IMAGE, CHECKOUT, DEV, PROD, PROJECT, REGION, args_of, gcp_service
from modelport.catalog import deploy
from modelport.gcp.container import CloudRunServiceArgs
from modelport.gcp.kubernetes import GkeServiceArgs
from modelport.gcp.ml_platform import VertexEndpointArgs
from modelport.gcp.serverless import CloudRunFunctionArgs
from modelport.gcp.vm import MigServiceArgs
from modelport.spec import ModelService, Target
from modelport.validation import SpecError

S = "modelport:service."
L4 = {"cpu": 4, "memory_mib": 16384, "accelerator": {"type": "nvidia-l4"}}
PUBLIC = {"public": True, "domain": "churn.example.com"}

CASES = [
    # a public exposure without a domain or certificate, or with nothing that authenticates
    (
        CloudRunServiceArgs,
        {"exposure": {"public": True, "allowed_principals": [CHECKOUT]}},
        {},
        S + "exposure.domain",
        "domain",
    ),
    (
        MigServiceArgs,
        {"exposure": {"public": True, "allowed_principals": [CHECKOUT]}},
        {"iap": True},
        S + "exposure.domain",
        "certificate",
    ),
    (CloudRunServiceArgs, {"exposure": PUBLIC}, {}, S + "exposure.public", "nothing that authenticates"),
    (CloudRunFunctionArgs, {"exposure": PUBLIC}, {}, S + "exposure.public", "iap"),
    (MigServiceArgs, {"exposure": PUBLIC}, {}, S + "exposure.public", "nothing that authenticates"),
    (
        CloudRunServiceArgs,
        {"exposure": {"public": True, "certificate": "churn-tls", "allowed_principals": [CHECKOUT]}},
        {},
        S + "exposure.certificate",
        "global SSL certificate",
    ),
    # anonymous access is refused in prod
    (CloudRunServiceArgs, {"exposure": {**PUBLIC, "anonymous": True}}, {}, S + "exposure.anonymous", "refused in prod"),
    # principals and networks where nothing enforces them
    (MigServiceArgs, {"exposure": {"allowed_principals": [CHECKOUT]}}, {}, S + "exposure.allowed_principals", "iap"),
    (
        GkeServiceArgs,
        {"exposure": {"allowed_principals": [CHECKOUT]}},
        {},
        S + "exposure.allowed_principals",
        "Kubernetes",
    ),
    (
        CloudRunServiceArgs,
        {"exposure": {"allowed_networks": ["10.0.0.0/8"]}},
        {},
        S + "exposure.allowed_networks",
        "network",
    ),
    (
        VertexEndpointArgs,
        {"exposure": {"allowed_networks": ["10.0.0.0/8"]}},
        {},
        S + "exposure.allowed_networks",
        "IAM",
    ),
    (CloudRunServiceArgs, {}, {"iap": True}, "iap", "exposure.public: true"),
    (
        VertexEndpointArgs,
        {"exposure": {**PUBLIC, "allowed_principals": [CHECKOUT]}},
        {},
        S + "exposure.public",
        "privately",
    ),
    # GPUs the pattern or region cannot provide
    (
        CloudRunServiceArgs,
        {"resources": {**L4, "accelerator": {"type": "nvidia-t4"}}},
        {},
        S + "resources.accelerator",
        "L4",
    ),
    (CloudRunServiceArgs, {"resources": {**L4, "cpu": 2}}, {}, S + "resources", "at least 4 vCPU and 16 GiB"),
    (CloudRunFunctionArgs, {"resources": {**L4, "memory_mib": 8192}}, {}, S + "resources", "16 GiB"),
    (CloudRunServiceArgs, {"resources": L4}, {"region": "europe-west3"}, S + "resources.accelerator", "europe-west3"),
    (
        MigServiceArgs,
        {"resources": {"cpu": 4, "memory_mib": 16384, "accelerator": {"type": "nvidia-a10g"}}},
        {},
        S + "resources.accelerator.type",
        "AWS-only",
    ),
    # images and artifacts
    (
        VertexEndpointArgs,
        {"image": "registry.example.com/ml/churn@sha256:" + "4f" * 32},
        {},
        S + "image",
        "Artifact Registry",
    ),
    (
        CloudRunServiceArgs,
        {"model": {"name": "churn", "artifact_uri": "s3://models/churn/"}},
        {},
        S + "model.artifact_uri",
        "gs://",
    ),
    (
        VertexEndpointArgs,
        {"model": {"name": "churn", "artifact_uri": "s3://models/churn/"}},
        {},
        S + "model.artifact_uri",
        "Cloud Storage",
    ),
    # secrets: Secret Manager references only; the vm pattern cannot inject them
    (CloudRunServiceArgs, {"secrets": {"DB": "k8s://db/url"}}, {}, S + "secrets.DB", "Secret Manager"),
    (
        MigServiceArgs,
        {"secrets": {"DB": f"projects/{PROJECT}/secrets/db"}},
        {"internal_certificate": None},
        S + "secrets",
        "cloud-init",
    ),
    # the target's own options
    (CloudRunServiceArgs, {}, {"project": None}, "project", "is required"),
    (CloudRunServiceArgs, {}, {"project": "Acme_ML"}, "project", "GCP project id"),
    (
        CloudRunServiceArgs,
        {},
        {"kms_key": f"projects/{PROJECT}/locations/us-east1/keyRings/k/cryptoKeys/model"},
        "kms_key",
        "europe-west4",
    ),
    (
        CloudRunServiceArgs,
        {},
        {"service_account": "123456789012-compute@developer.gserviceaccount.com"},
        "service_account",
        "dedicated",
    ),
    (CloudRunServiceArgs, {}, {"ingress": "all"}, "ingress", "internal"),
    (CloudRunServiceArgs, {}, {"internal_certificate": "x"}, "internal_certificate", "no internal load balancer"),
    (MigServiceArgs, {}, {"internal_certificate": None}, "internal_certificate", "prod"),
    (MigServiceArgs, {}, {"zone_count": 2}, "zones", "at least 3 distinct zones"),
    (GkeServiceArgs, {}, {"private_endpoint": False}, "authorized_networks", "CIDRs"),
    (
        GkeServiceArgs,
        {},
        {"authorized_networks": ["0.0.0.0/0"], "private_endpoint": False},
        "authorized_networks[0]",
        "everyone",
    ),
    (GkeServiceArgs, {}, {"workload": {"provider": "x"}}, "workload.provider", "set by the GKE component"),
    (
        VertexEndpointArgs,
        {"scaling": {"min_replicas": 1, "max_replicas": 4}},
        {},
        S + "scaling.min_replicas",
        "at least 2",
    ),
    (VertexEndpointArgs, {}, {"access": "network"}, "endpoint_network", "project number"),
    (VertexEndpointArgs, {}, {"subnet_cidr": "10.20.0.0/20"}, "subnet_cidr", "no VPC of its own"),
    # gRPC: refused with the pattern's reason (Cloud Run carries it: tests/gcp/test_gcp_cloudrun_grpc.py)
    (MigServiceArgs, {"grpc_port": 8081}, {}, S + "grpc_port", "HTTP port only"),
    (VertexEndpointArgs, {"grpc_port": 8081}, {}, S + "grpc_port", "HTTP only"),
]


@pytest.mark.parametrize(("args_type", "service", "options", "path", "fragment"), CASES)
def test_bad_input_names_the_key(pulumi_mocks, args_type, service, options, path, fragment):
    options = dict(options)
    public = service.get("exposure", {}).get("public", False)
    if args_type is MigServiceArgs and "internal_certificate" not in options and not public:
        options["internal_certificate"] = f"projects/{PROJECT}/regions/{REGION}/sslCertificates/churn"
    if options.get("internal_certificate", "") is None:
        options.pop("internal_certificate")
    project = options.pop("project", PROJECT)
    with pytest.raises(SpecError) as caught:
        args_type(service=gcp_service(**service), profile=PROD, project=project, **{"region": REGION, **options})
    assert caught.value.path == path, caught.value
    assert fragment in caught.value.reason
    assert pulumi_mocks.resources == []


def test_deploy_refuses_a_prod_mig_over_two_named_zones_before_any_resource(pulumi_mocks):
    target = Target(
        cloud="gcp",
        pattern="vm",
        region=REGION,
        zones=("europe-west4-a", "europe-west4-b"),
        options={"project": PROJECT, "internal_certificate": f"projects/{PROJECT}/regions/{REGION}/sslCertificates/c"},
        path="modelport:targets[0]",
    )
    with pytest.raises(SpecError) as caught:
        deploy(gcp_service(), target, PROD)
    assert caught.value.path == "modelport:targets[0].options.zones"
    assert "at least 3 distinct zones" in caught.value.reason
    assert pulumi_mocks.resources == []
    # the same zones are fine in dev, where two zones are the profile's
    assert args_of(MigServiceArgs, profile=DEV, zones=("europe-west4-a", "europe-west4-b")).group_zones == (
        "europe-west4-a",
        "europe-west4-b",
    )


def test_deploy_names_the_missing_project_under_the_target(pulumi_mocks):
    target = Target(cloud="gcp", pattern="container", region=REGION, path="modelport:targets[2]")
    with pytest.raises(SpecError) as caught:
        deploy(gcp_service(), target, PROD)
    assert caught.value.path == "modelport:targets[2].options.project"
    assert pulumi_mocks.resources == []


def test_traffic_that_does_not_sum_to_100_is_refused_by_the_spec():
    config = {
        "name": "churn",
        "image": AR_IMAGE,
        "variants": [{"name": "stable", "weight": 80}, {"name": "canary", "weight": 10}],
    }
    with pytest.raises(SpecError) as caught:
        ModelService.from_config(config)
    assert caught.value.path == "modelport:service.variants"
    assert "sum to 100" in caught.value.reason


def test_credentials_in_env_values_are_refused_by_the_spec():
    with pytest.raises(SpecError) as caught:
        gcp_service(env={"DB_PASSWORD": "hunter2"})
    assert caught.value.path == "modelport:service.env.DB_PASSWORD"


@pytest.mark.parametrize(
    ("args_type", "options", "key"),
    [
        (CloudRunServiceArgs, {"proxy_subnet_cidr": "10.200.0.0/23"}, "proxy_subnet_cidr"),
        (CloudRunFunctionArgs, {"rate_limit_per_minute": 100}, "rate_limit_per_minute"),
        (
            MigServiceArgs,
            {
                "rate_limit_per_minute": 100,
                "internal_certificate": f"projects/{PROJECT}/regions/{REGION}/sslCertificates/c",
            },
            "rate_limit_per_minute",
        ),
    ],
)
def test_options_the_target_cannot_use_are_refused_not_ignored(args_type, options, key):
    with pytest.raises(SpecError) as caught:
        args_of(args_type, **options)
    assert caught.value.path == key and "does not apply" in caught.value.reason
