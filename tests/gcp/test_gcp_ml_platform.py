"""VertexEndpoint (ml_platform): the endpoint's CMEK, Private Service Connect and logging, the uploaded models and
their deployment (replicas, autoscaling target, traffic split, identity), predict-only grants, in dev and prod."""

from __future__ import annotations

import pytest
from gcp_fixtures import (
    AR_IMAGE,
    CANARY,
    CHECKOUT,
    DEV,
    PROD,
    PROJECT,
    REGION,
    args_of,
    email_of,
    gcp_service,
    key_id,
    register,
)
from modelport.gcp.ml_platform import VertexEndpoint, VertexEndpointArgs

ENDPOINT = "gcp:vertex/aiEndpoint:AiEndpoint"
DYNAMIC = "pulumi-python:dynamic:Resource"


def deploy(mocks, profile=PROD, service=None, **options):
    args = args_of(VertexEndpointArgs, service, profile, **options)
    register(lambda: VertexEndpoint("churn-vx", args))
    return mocks


def dynamic(mocks, kind):
    return [r for r in mocks.by_type(DYNAMIC) if r.inputs.get("kind") == kind]


@pytest.mark.parametrize("profile", [DEV, PROD], ids=["dev", "prod"])
def test_endpoint_is_cmek_private_service_connect_and_logs_requests(pulumi_mocks, profile):
    endpoint = deploy(pulumi_mocks, profile).one(ENDPOINT).inputs
    assert endpoint["encryptionSpec"] == {"kmsKeyName": key_id(pulumi_mocks)}
    assert endpoint["privateServiceConnectConfig"] == {
        "enablePrivateServiceConnect": True,
        "projectAllowlists": [PROJECT],
    }
    assert "network" not in endpoint
    assert endpoint["predictRequestResponseLoggingConfig"] == {"enabled": True, "samplingRate": 0.1}
    assert endpoint["name"].isdigit() and len(endpoint["name"]) == 10
    # Vertex needs no VPC of its own: no network is created for it
    assert pulumi_mocks.by_type("gcp:compute/network:Network") == []
    agents = sorted(
        g.inputs["member"].split("@")[1].split(".")[0]
        for g in pulumi_mocks.by_type("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
    )
    assert agents == ["gcp-sa-aiplatform", "gcp-sa-artifactregistry", "gs-project-accounts"]


def test_network_access_peers_the_named_vpc(pulumi_mocks):
    network = "projects/123456789012/global/networks/ml"
    endpoint = deploy(pulumi_mocks, access="network", endpoint_network=network).one(ENDPOINT).inputs
    assert endpoint["network"] == network
    assert "privateServiceConnectConfig" not in endpoint


def test_the_model_is_the_pinned_serving_image_with_its_routes_and_the_cmek(pulumi_mocks):
    (model,) = dynamic(deploy(pulumi_mocks), "vertex-model")
    props = model.inputs
    assert props["image"] == AR_IMAGE
    assert props["predict_route"] == "/v1/models/churn:predict"
    assert props["health_route"] == "/v2/health/ready"
    assert props["port"] == 8080
    assert props["encryption_key"] == key_id(pulumi_mocks)
    assert props["project"] == PROJECT and props["region"] == REGION


@pytest.mark.parametrize("profile", [DEV, PROD], ids=["dev", "prod"])
def test_deployment_runs_dedicated_autoscaled_replicas_as_the_workload_identity(pulumi_mocks, profile):
    (deployment,) = dynamic(deploy(pulumi_mocks, profile), "vertex-deployment")
    props = deployment.inputs
    assert props["endpoint"] == pulumi_mocks.one(ENDPOINT).id
    track = props["tracks"]["stable"]
    assert (track["min_replicas"], track["max_replicas"]) == (profile.min_replicas, 12)
    assert track["cpu_target"] == 60
    assert track["weight"] == 100
    assert track["machine_type"] == "n2-standard-2"
    assert track["service_account"] == email_of(pulumi_mocks, "churn-vx-foundation-identity")
    (model,) = dynamic(pulumi_mocks, "vertex-model")
    assert track["model_name"] == model.outputs["model_name"]


def test_canary_uploads_one_model_per_track_and_splits_traffic(pulumi_mocks):
    deploy(pulumi_mocks, DEV, gcp_service(variants=CANARY))
    models = {m.inputs["labels"]["modelport-track"]: m for m in dynamic(pulumi_mocks, "vertex-model")}
    assert models["canary"].inputs["image"] == CANARY[1]["image"]
    assert models["stable"].inputs["image"] == AR_IMAGE
    (deployment,) = dynamic(pulumi_mocks, "vertex-deployment")
    tracks = deployment.inputs["tracks"]
    assert {name: t["weight"] for name, t in tracks.items()} == {"stable": 90, "canary": 10}
    assert tracks["canary"]["model_name"] == models["canary"].outputs["model_name"]
    ids = deployment.outputs["deployed_model_ids"]
    assert set(ids) == {"stable", "canary"}


def test_named_principals_get_a_predict_only_custom_role_on_the_endpoint(pulumi_mocks):
    deploy(pulumi_mocks, service=gcp_service(exposure={"allowed_principals": [CHECKOUT]}))
    role = pulumi_mocks.one("gcp:projects/iAMCustomRole:IAMCustomRole")
    assert role.inputs["permissions"] == ["aiplatform.endpoints.predict"]
    grant = pulumi_mocks.one("gcp:vertex/aiEndpointIamMember:AiEndpointIamMember").inputs
    assert grant["member"] == CHECKOUT
    assert grant["role"] == role.outputs["name"]
    assert grant["endpoint"] == pulumi_mocks.one(ENDPOINT).outputs["name"]
    # no project-level roles for the workload identity
    assert pulumi_mocks.by_type("gcp:projects/iAMMember:IAMMember") == []


def test_gpu_resources_map_to_a_vertex_accelerator(pulumi_mocks):
    resources = {"cpu": 4, "memory_mib": 16384, "accelerator": {"type": "nvidia-l4"}}
    deploy(pulumi_mocks, service=gcp_service(resources=resources))
    (deployment,) = dynamic(pulumi_mocks, "vertex-deployment")
    track = deployment.inputs["tracks"]["stable"]
    assert (track["machine_type"], track["accelerator_type"], track["accelerator_count"]) == (
        "g2-standard-4",
        "NVIDIA_L4",
        1,
    )
