"""Azure Functions: Functions on Container Apps (scale to zero) by default, zone-redundant Elastic Premium as the
alternative; HTTPS only, TLS 1.2, FTPS off, identity-based host storage, Easy Auth; dev and prod."""

from __future__ import annotations

import pytest
from azure_fixtures import (
    BLOB_DATA_OWNER,
    CLIENT_ID,
    DEV,
    FUNCTIONS_IMAGE,
    PRINCIPAL,
    PROD,
    REGISTRY_ID,
    azure_service,
    build,
)

OPTIONS = {"registry_id": REGISTRY_ID, "functions_image": FUNCTIONS_IMAGE}


@pytest.fixture(scope="module", params=["dev", "prod"])
def on_container_apps(request):
    profile = DEV if request.param == "dev" else PROD
    return request.param, build("serverless", azure_service(), profile, OPTIONS)


@pytest.fixture(scope="module", params=["dev", "prod"])
def on_premium(request):
    profile = DEV if request.param == "dev" else PROD
    service = azure_service(exposure={"allowed_principals": [f"azure:{PRINCIPAL}"]})
    options = {**OPTIONS, "hosting": "elastic-premium", "entra_client_id": CLIENT_ID}
    return request.param, build("serverless", service, profile, options)


def site_config(b):
    return b.one("web:WebApp").inputs["siteConfig"]


def test_functions_on_container_apps_scale_to_zero_in_an_internal_environment(on_container_apps):
    _, b = on_container_apps
    app = b.one("web:WebApp").inputs
    env = b.one("app:ManagedEnvironment")
    assert app["kind"] == "functionapp,linux,container,azurecontainerapps"
    assert app["managedEnvironmentId"] == env.id and env.inputs["vnetConfiguration"]["internal"] is True
    config = site_config(b)
    assert config["minimumElasticInstanceCount"] == 0 and config["functionAppScaleLimit"] == 12
    assert config["linuxFxVersion"] == f"DOCKER|{FUNCTIONS_IMAGE}"


def test_https_tls_ftps_and_debugging_settings(on_container_apps, on_premium):
    for _, b in (on_container_apps, on_premium):
        app = b.one("web:WebApp").inputs
        config = app["siteConfig"]
        assert app["httpsOnly"] is True
        assert config["minTlsVersion"] == "1.2" and config["ftpsState"] == "Disabled"
        assert config["remoteDebuggingEnabled"] is False
        assert config["healthCheckPath"] == "/v2/health/ready"
        identity = b.one("managedidentity:UserAssignedIdentity", "foundation-identity")
        assert app["identity"] == {"type": "UserAssigned", "userAssignedIdentities": [identity.id]}
        assert config["acrUseManagedIdentityCreds"] is True
        assert config["acrUserManagedIdentityID"] == identity.outputs["clientId"]


def test_host_storage_is_reached_with_the_identity_never_a_key(on_container_apps):
    _, b = on_container_apps
    storage = b.one("storage:StorageAccount")
    assert storage.inputs["allowSharedKeyAccess"] is False and storage.inputs["publicNetworkAccess"] == "Disabled"
    key = b.one("keyvault:Key")
    assert storage.inputs["encryption"]["keySource"] == "Microsoft.Keyvault"
    assert storage.inputs["encryption"]["keyVaultProperties"]["keyName"] == key.inputs["keyName"]
    settings = {s["name"]: s["value"] for s in site_config(b)["appSettings"]}
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["AzureWebJobsStorage__accountName"] == storage.outputs["name"]
    identity = b.one("managedidentity:UserAssignedIdentity", "foundation-identity")
    (owner,) = b.assignments(BLOB_DATA_OWNER)
    assert owner["scope"] == storage.id and owner["principalId"] == identity.outputs["principalId"]
    groups = {e.inputs["privateLinkServiceConnections"][0]["groupIds"][0] for e in b.by_type("network:PrivateEndpoint")}
    assert {"blob", "queue"} <= groups


def test_elastic_premium_plan_is_zone_redundant_with_one_instance_per_zone(on_premium):
    env, b = on_premium
    plan = b.one("web:AppServicePlan").inputs
    assert plan["sku"]["tier"] == "ElasticPremium" and plan["zoneRedundant"] is True
    assert plan["sku"]["capacity"] == 3 and plan["maximumElasticWorkerCount"] == 12
    app = b.one("web:WebApp").inputs
    assert app["serverFarmId"] == b.one("web:AppServicePlan").id
    assert app["publicNetworkAccess"] == "Disabled"
    delegated = next(s for s in b.by_type("network:Subnet") if s.name.endswith("delegated-subnet"))
    assert app["virtualNetworkSubnetId"] == delegated.id
    assert delegated.inputs["delegations"][0]["serviceName"] == "Microsoft.Web/serverFarms"
    sites = [e for e in b.by_type("network:PrivateEndpoint") if e.name.endswith("sites-pe")]
    assert sites[0].inputs["privateLinkServiceConnections"][0]["privateLinkServiceId"] == b.one("web:WebApp").id


def test_easy_auth_admits_only_the_principal(on_premium):
    _, b = on_premium
    auth = b.one("web:WebAppAuthSettingsV2").inputs
    assert auth["globalValidation"]["unauthenticatedClientAction"] == "Return401"
    aad = auth["identityProviders"]["azureActiveDirectory"]
    assert aad["validation"]["defaultAuthorizationPolicy"]["allowedPrincipals"]["identities"] == [PRINCIPAL]
    # The platform's health check reaches the ready route without a token.
    assert auth["globalValidation"]["excludedPaths"] == ["/v2/health/ready"]


def test_ingress_is_limited_to_the_vnet(on_container_apps):
    _, b = on_container_apps
    config = site_config(b)
    assert [r["ipAddress"] for r in config["ipSecurityRestrictions"]] == ["10.40.0.0/16"]
    assert config["ipSecurityRestrictionsDefaultAction"] == "Deny"
