"""AKS: private API, Entra ID with Azure RBAC, KMS etcd with the versioned key, zonal autoscaling pools, Cilium,
workload identity bound to the ModelWorkload's service account; dev and prod."""

from __future__ import annotations

import pytest
from azure_fixtures import ACR_PULL, DEV, KV_CRYPTO_USER, PROD, REGISTRY_ID, azure_service, build

OPTIONS = {"registry_id": REGISTRY_ID, "workload": {"namespace": "churn"}}


@pytest.fixture(scope="module", params=["dev", "prod"])
def built(request):
    profile = DEV if request.param == "dev" else PROD
    return request.param, build("kubernetes", azure_service(scaling={"max_replicas": 12}), profile, OPTIONS)


def cluster(b):
    return b.one("containerservice:ManagedCluster")


def test_pools_autoscale_over_the_profile_zones_with_encryption_at_host(built):
    env, b = built
    zones = ["1", "2"] if env == "dev" else ["1", "2", "3"]
    pools = {p["name"]: p for p in cluster(b).inputs["agentPoolProfiles"]}
    assert set(pools) == {"system", "user"}
    for pool in pools.values():
        assert pool["availabilityZones"] == zones
        assert pool["enableAutoScaling"] is True and pool["minCount"] >= len(zones)
        assert pool["enableEncryptionAtHost"] is True and pool["enableNodePublicIP"] is False
    assert pools["system"]["mode"] == "System" and pools["system"]["nodeTaints"] == [
        "CriticalAddonsOnly=true:NoSchedule"
    ]
    assert pools["system"]["osDiskType"] == "Ephemeral"
    assert pools["user"]["maxCount"] >= pools["user"]["minCount"]


def test_control_plane_is_private_entra_only_with_kms(built):
    _, b = built
    inputs = cluster(b).inputs
    assert inputs["sku"] == {"name": "Base", "tier": "Standard"}
    assert inputs["apiServerAccessProfile"]["enablePrivateCluster"] is True
    assert inputs["disableLocalAccounts"] is True and inputs["enableRBAC"] is True
    assert inputs["aadProfile"]["managed"] is True and inputs["aadProfile"]["enableAzureRBAC"] is True
    kms = inputs["securityProfile"]["azureKeyVaultKms"]
    key = b.one("keyvault:Key")
    vault = b.one("keyvault:Vault")
    assert kms["keyId"] == key.outputs["keyUriWithVersion"] and kms["keyVaultNetworkAccess"] == "Private"
    assert kms["keyVaultResourceId"] == vault.id
    assert inputs["networkProfile"]["networkPluginMode"] == "overlay"
    assert inputs["networkProfile"]["networkPolicy"] == "cilium"
    assert inputs["autoUpgradeProfile"] == {"upgradeChannel": "stable", "nodeOSUpgradeChannel": "NodeImage"}
    assert inputs["oidcIssuerProfile"]["enabled"] is True
    assert inputs["securityProfile"]["workloadIdentity"]["enabled"] is True


def test_identities_hold_exactly_the_grants_aks_needs(built):
    _, b = built
    control = b.one("managedidentity:UserAssignedIdentity", "cluster-identity").outputs["principalId"]
    kubelet = b.one("managedidentity:UserAssignedIdentity", "kubelet-identity").outputs["principalId"]
    key = b.one("keyvault:Key")
    (kms,) = b.assignments(KV_CRYPTO_USER)
    assert kms["scope"] == key.id and kms["principalId"] == control
    pulls = {g["principalId"]: g["scope"] for g in b.assignments(ACR_PULL)}
    assert pulls[kubelet] == REGISTRY_ID


def test_the_workload_runs_as_the_federated_identity(built):
    env, b = built
    identity = b.one("managedidentity:UserAssignedIdentity", "foundation-identity")
    federation = b.one("managedidentity:FederatedIdentityCredential").inputs
    assert federation["subject"] == "system:serviceaccount:churn:churn"
    assert federation["audiences"] == ["api://AzureADTokenExchange"]
    assert federation["issuer"] == cluster(b).outputs["oidcIssuerProfile"]["issuerURL"]
    assert federation["resourceName"] == identity.outputs["name"]
    (account,) = b.by_type("kubernetes:core/v1:ServiceAccount")
    annotations = account.inputs["metadata"]["annotations"]
    assert annotations["azure.workload.identity/client-id"] == identity.outputs["clientId"]
    (deployment,) = b.by_type("kubernetes:apps/v1:Deployment")
    labels = deployment.inputs["spec"]["template"]["metadata"]["labels"]
    assert labels["azure.workload.identity/use"] == "true"
    (hpa,) = b.by_type("kubernetes:autoscaling/v2:HorizontalPodAutoscaler")
    assert hpa.inputs["spec"]["minReplicas"] == (1 if env == "dev" else 3)
    assert hpa.inputs["spec"]["maxReplicas"] == 12
