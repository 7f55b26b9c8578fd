"""Azure ML: private CMK workspace with a managed VNet, environment version with the image's routes, AADToken
endpoint, managed deployments with probes, autoscale, traffic split, scoring access; dev and prod."""

from __future__ import annotations

import pytest
from azure_fixtures import (
    BLOB_DATA_READER,
    CANARY,
    CANARY_IMAGE,
    CRYPTO_SERVICE_USER,
    DEV,
    ML_DATA_SCIENTIST,
    PRINCIPAL,
    PROD,
    REGISTRY_ID,
    SUB,
    azure_service,
    build,
)


@pytest.fixture(scope="module", params=["dev", "prod"])
def built(request):
    profile = DEV if request.param == "dev" else PROD
    service = azure_service(
        exposure={"allowed_principals": [f"azure:{PRINCIPAL}"]}, variants=CANARY, scaling={"max_replicas": 8}
    )
    return request.param, build("ml_platform", service, profile, {"registry_id": REGISTRY_ID})


def test_workspace_is_private_cmk_with_approved_outbound_only(built):
    _, b = built
    ws = b.one("machinelearningservices:Workspace").inputs
    assert ws["publicNetworkAccess"] == "Disabled" and ws["v1LegacyMode"] is False
    assert ws["managedNetwork"] == {"isolationMode": "AllowOnlyApprovedOutbound"}
    key, vault = b.one("keyvault:Key"), b.one("keyvault:Vault")
    identity = b.one("managedidentity:UserAssignedIdentity", "foundation-identity")
    assert ws["encryption"]["status"] == "Enabled"
    assert ws["encryption"]["keyVaultProperties"] == {
        "keyIdentifier": key.outputs["keyUri"],
        "keyVaultArmId": vault.id,
        "identityClientId": identity.outputs["clientId"],
    }
    assert ws["keyVault"] == vault.id and ws["containerRegistry"] == REGISTRY_ID
    assert ws["applicationInsights"] == b.one("applicationinsights:Component").id
    grants = [
        g["scope"] for g in b.assignments(CRYPTO_SERVICE_USER) if g["principalId"] == identity.outputs["principalId"]
    ]
    assert key.id in grants
    (endpoint,) = [e for e in b.by_type("network:PrivateEndpoint") if e.name.endswith("mlw-pe")]
    assert endpoint.inputs["privateLinkServiceConnections"][0]["groupIds"] == ["amlworkspace"]


def test_environment_versions_map_the_image_routes(built):
    _, b = built
    versions = {
        v.inputs["properties"]["image"]: v.inputs for v in b.by_type("machinelearningservices:EnvironmentVersion")
    }
    assert len(versions) == 2 and CANARY_IMAGE in versions
    config = next(iter(versions.values()))["properties"]["inferenceConfig"]
    assert config["livenessRoute"] == {"path": "/v2/health/live", "port": 8080}
    assert config["readinessRoute"] == {"path": "/v2/health/ready", "port": 8080}
    assert config["scoringRoute"] == {"path": "/v2/models/churn/infer", "port": 8080}


def test_endpoint_takes_entra_tokens_only_and_is_private(built):
    _, b = built
    props = b.one("machinelearningservices:OnlineEndpoint").inputs["properties"]
    assert props == {"authMode": "AADToken", "publicNetworkAccess": "Disabled"}


def test_deployments_per_track_with_instances_probes_and_insights(built):
    env, b = built
    deployments = {d.inputs["deploymentName"]: d.inputs for d in b.by_type("machinelearningservices:OnlineDeployment")}
    assert set(deployments) == {"stable", "canary"}
    for deployment in deployments.values():
        # dev's default floor grows to the number of weighted variants (2), prod's is 3.
        assert deployment["sku"]["capacity"] == (2 if env == "dev" else 3)
        props = deployment["properties"]
        assert props["endpointComputeType"] == "Managed" and props["appInsightsEnabled"] is True
        assert props["readinessProbe"]["period"] == "PT10S" and props["livenessProbe"]["failureThreshold"] == 3
        assert props["egressPublicNetworkAccess"] == "Disabled"
    canary_env = next(
        v
        for v in b.by_type("machinelearningservices:EnvironmentVersion")
        if v.inputs["properties"]["image"] == CANARY_IMAGE
    )
    assert deployments["canary"]["properties"]["environmentId"] == canary_env.id


def test_autoscale_bounds_per_deployment(built):
    env, b = built
    deployment_ids = {d.id for d in b.by_type("machinelearningservices:OnlineDeployment")}
    settings = b.by_type("monitor:AutoscaleSetting")
    assert {s.inputs["targetResourceUri"] for s in settings} == deployment_ids
    for setting in settings:
        capacity = setting.inputs["profiles"][0]["capacity"]
        assert capacity["minimum"] == ("2" if env == "dev" else "3") and capacity["maximum"] == "8"


def test_traffic_split_is_written_after_the_deployments(built):
    _, b = built
    traffic = b.one("resources:Deployment")
    (endpoint,) = traffic.inputs["properties"]["template"]["resources"]
    assert endpoint["properties"]["traffic"] == {"stable": 90, "canary": 10}
    assert endpoint["properties"]["authMode"] == "AADToken"
    deployment_urns = {d.urn for d in b.by_type("machinelearningservices:OnlineDeployment")}
    assert deployment_urns <= set(traffic.dependencies)


def test_only_the_named_principal_may_score_on_exactly_the_endpoint(built):
    _, b = built
    (grant,) = b.assignments(ML_DATA_SCIENTIST)
    assert grant["scope"] == b.one("machinelearningservices:OnlineEndpoint").id
    assert grant["principalId"] == PRINCIPAL


def test_a_blob_artifact_becomes_a_model_version_read_from_exactly_its_container():
    account = f"/subscriptions/{SUB}/resourceGroups/rg-data/providers/Microsoft.Storage/storageAccounts/churnmodels"
    uri = "https://churnmodels.blob.core.windows.net/models/churn/v3/"
    service = azure_service(model={"name": "churn", "artifact_uri": uri})
    b = build("ml_platform", service, DEV, {"registry_id": REGISTRY_ID, "artifact_storage_account_id": account})
    model = b.one("machinelearningservices:ModelVersion")
    assert model.inputs["properties"] == {"modelUri": uri, "modelType": "custom_model"}
    (deployment,) = b.by_type("machinelearningservices:OnlineDeployment")
    assert deployment.inputs["properties"]["model"] == model.id
    (reader,) = b.assignments(BLOB_DATA_READER)
    assert reader["scope"] == f"{account}/blobServices/default/containers/models"


def test_deployments_tell_the_image_the_port_model_and_signature_the_routes_name(built):
    """The environment's scoring route names the model and port; the image must serve exactly those."""
    _, b = built
    environment = b.by_type("machinelearningservices:EnvironmentVersion")[0].inputs["properties"]
    scoring = environment["inferenceConfig"]["scoringRoute"]
    for deployment in b.by_type("machinelearningservices:OnlineDeployment"):
        variables = deployment.inputs["properties"]["environmentVariables"]
        assert scoring["path"] == f"/v2/models/{variables['MODEL_NAME']}/infer"
        assert int(variables["PORT"]) == scoring["port"]  # (mocks carry numbers as floats)
        assert variables["SIGNATURE_NAME"] and variables["GRPC_PORT"] == "0"
