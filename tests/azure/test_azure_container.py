"""Container Apps: internal zone-redundant environment, identity pulls, ingress restrictions, Easy Auth for named
principals, replicas and scale rules, revision traffic weights; dev and prod."""

from __future__ import annotations

import pytest
from azure_fixtures import (
    ACR_IMAGE,
    ACR_PULL,
    CANARY,
    CLIENT_ID,
    DEV,
    PRINCIPAL,
    PROD,
    REGISTRY_ID,
    azure_service,
    build,
)

OPTIONS = {"registry_id": REGISTRY_ID, "entra_client_id": CLIENT_ID}
EXPOSURE = {"allowed_principals": [f"azure:{PRINCIPAL}"], "allowed_networks": ["10.20.0.0/16"]}


@pytest.fixture(scope="module", params=["dev", "prod"])
def built(request):
    profile = DEV if request.param == "dev" else PROD
    service = azure_service(exposure=EXPOSURE, scaling={"max_replicas": 12, "target_concurrency": 20}, variants=CANARY)
    return request.param, build("container", service, profile, OPTIONS)


def test_environment_is_internal_zone_redundant_with_encrypted_peer_traffic(built):
    _, b = built
    env = b.one("app:ManagedEnvironment").inputs
    assert env["vnetConfiguration"]["internal"] is True
    delegated = next(s for s in b.by_type("network:Subnet") if s.name.endswith("delegated-subnet"))
    assert env["vnetConfiguration"]["infrastructureSubnetId"] == delegated.id
    assert env["zoneRedundant"] is True
    assert env["workloadProfiles"] == [{"name": "Consumption", "workloadProfileType": "Consumption"}]
    assert env["peerTrafficConfiguration"] == {"encryption": {"enabled": True}}
    assert env["publicNetworkAccess"] == "Disabled"
    assert env["appLogsConfiguration"] == {"destination": "azure-monitor"}


def test_the_app_pulls_with_its_identity_and_restricts_ingress_to_the_allowed_network(built):
    _, b = built
    app = b.one("app:ContainerApp").inputs
    identity = b.one("managedidentity:UserAssignedIdentity", "foundation-identity")
    assert app["identity"] == {"type": "UserAssigned", "userAssignedIdentities": [identity.id]}
    assert app["configuration"]["registries"] == [{"server": "churnml.azurecr.io", "identity": identity.id}]
    (pull,) = b.assignments(ACR_PULL)
    assert pull["scope"] == REGISTRY_ID and pull["principalId"] == identity.outputs["principalId"]
    ingress = app["configuration"]["ingress"]
    assert ingress["allowInsecure"] is False and ingress["targetPort"] == 8080
    assert ingress["ipSecurityRestrictions"] == [
        {"name": "allow-0", "ipAddressRange": "10.20.0.0/16", "action": "Allow", "description": "allowed network"}
    ]


def test_traffic_split_follows_the_variant_weights_over_revisions(built):
    _, b = built
    app = b.one("app:ContainerApp").inputs
    assert app["configuration"]["activeRevisionsMode"] == "Multiple"
    traffic = app["configuration"]["ingress"]["traffic"]
    assert traffic[0] == {"revisionName": "churn-azure-container-westeurope--stable", "weight": 90, "label": "stable"}
    assert traffic[1] == {"latestRevision": True, "weight": 10, "label": "canary"}
    assert app["template"]["revisionSuffix"] == "canary"
    assert app["template"]["containers"][0]["image"].endswith("5a" * 32)


def test_replica_bounds_scale_rule_and_probes(built):
    env, b = built
    template = b.one("app:ContainerApp").inputs["template"]
    scale = template["scale"]
    # dev's default floor (1) grows to 2 so both weighted revisions of the canary run.
    assert scale["minReplicas"] == (2 if env == "dev" else 3) and scale["maxReplicas"] == 12
    assert scale["rules"] == [{"name": "http", "http": {"metadata": {"concurrentRequests": "20"}}}]
    probes = {p["type"]: p for p in template["containers"][0]["probes"]}
    assert probes["Readiness"]["httpGet"]["path"] == "/v2/health/ready"
    assert probes["Liveness"]["httpGet"]["path"] == "/v2/health/live"
    startup = probes["Startup"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300


def test_easy_auth_admits_only_the_azure_principal(built):
    _, b = built
    auth = b.one("app:ContainerAppsAuthConfig").inputs
    assert auth["globalValidation"]["unauthenticatedClientAction"] == "Return401"
    aad = auth["identityProviders"]["azureActiveDirectory"]
    assert aad["registration"]["clientId"] == CLIENT_ID
    assert aad["validation"]["allowedAudiences"] == [f"api://{CLIENT_ID}"]
    assert aad["validation"]["defaultAuthorizationPolicy"]["allowedPrincipals"]["identities"] == [PRINCIPAL]


def test_alerts_only_where_the_profile_turns_them_on(built):
    env, b = built
    alerts = b.by_type("monitor:MetricAlert")
    if env == "dev":
        assert alerts == []
        return
    app = b.one("app:ContainerApp")
    metrics = {a.inputs["criteria"]["allOf"][0]["metricName"]: a.inputs for a in alerts}
    assert set(metrics) == {"Requests", "ResponseTime"}
    assert metrics["Requests"]["scopes"] == [app.id]
    assert metrics["Requests"]["criteria"]["allOf"][0]["dimensions"][0]["values"] == ["5xx"]


def test_without_networks_ingress_is_limited_to_the_vnet_and_without_principals_no_auth():
    b = build("container", azure_service(image=ACR_IMAGE), DEV, {"registry_id": REGISTRY_ID})
    ingress = b.one("app:ContainerApp").inputs["configuration"]["ingress"]
    assert [r["ipAddressRange"] for r in ingress["ipSecurityRestrictions"]] == ["10.40.0.0/16"]
    assert ingress["traffic"] == [{"latestRevision": True, "weight": 100}]
    assert b.by_type("app:ContainerAppsAuthConfig") == []


def test_the_image_listens_on_the_ingress_target_port_with_the_model_name(built):
    _, b = built
    app = b.one("app:ContainerApp").inputs
    target = app["configuration"]["ingress"]["targetPort"]
    for container in app["template"]["containers"]:
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert int(env["PORT"]) == target and env["GRPC_PORT"] == "0"
        assert env["MODEL_NAME"] and env["SIGNATURE_NAME"]
