"""Bad input is one clear SpecError naming the option (or the service key), raised before any resource exists."""

from __future__ import annotations

import pytest
from azure_fixtures import (
    ACR_IMAGE,
    CERT_VAULT_ID,
    CERTIFICATE,
    CLIENT_ID,
    DEV,
    FUNCTIONS_IMAGE,
    PRINCIPAL,
    PROD,
    REGISTRY_ID,
    SSH_KEY,
    azure_service,
    build,
)
from modelport.spec import ModelService, Target
from modelport.validation import SpecError

S = "modelport:service."
T = "target.options."
VM = {"ssh_public_key": SSH_KEY, "registry_id": REGISTRY_ID, "secret_vault_ids": [CERT_VAULT_ID]}
FN = {"registry_id": REGISTRY_ID, "functions_image": FUNCTIONS_IMAGE}
REG = {"registry_id": REGISTRY_ID}
CERT = {"certificate": CERTIFICATE}
PRIVATE_CERT = {"exposure": CERT}

CASES = [
    # a public exposure without a certificate, or with nothing that authenticates
    ("vm", {"exposure": {"public": True, "anonymous": True}}, VM, S + "exposure.certificate", "HTTPS"),
    ("vm", {"exposure": {"public": True, **CERT}}, VM, S + "exposure.public", "anonymous"),
    (
        "vm",
        {"exposure": {"allowed_principals": [f"azure:{PRINCIPAL}"], **CERT}},
        VM,
        S + "exposure.allowed_principals",
        "cannot be enforced",
    ),
    ("container", {"exposure": {"public": True, **CERT}}, REG, S + "exposure.public", "stays private"),
    ("ml_platform", {"exposure": {"public": True, **CERT}}, REG, S + "exposure.public", "stays private"),
    # principals a target cannot enforce, networks nothing can enforce
    ("container", {"exposure": {"allowed_principals": [f"azure:{PRINCIPAL}"]}}, REG, T + "entra_client_id", "Easy"),
    (
        "container",
        {},
        {**REG, "entra_client_id": CLIENT_ID},
        S + "exposure.allowed_principals",
        "every identity of the tenant",
    ),
    (
        "kubernetes",
        {"exposure": {"allowed_principals": [f"azure:{PRINCIPAL}"]}},
        REG,
        S + "exposure.allowed_principals",
        "NetworkPolicies",
    ),
    ("ml_platform", {"exposure": {"allowed_networks": ["10.0.0.0/8"]}}, REG, S + "exposure.allowed_networks", "no IP"),
    ("container", {"exposure": {"allowed_networks": ["2001:db8::/32"]}}, REG, S + "exposure.allowed_networks", "IPv4"),
    # SKUs without a required feature
    ("container", {}, {"registry_sku": "Standard"}, T + "registry_sku", "Premium"),
    ("vm", PRIVATE_CERT, {**VM, "vm_size": "Standard_A2_v2"}, T + "vm_size", "encryption at host"),
    ("kubernetes", {}, {**REG, "node_vm_size": "Standard_NC6"}, T + "node_vm_size", "encryption at host"),
    ("vm", PRIVATE_CERT, {**VM, "vm_size": "Standard_Q9000"}, T + "vm_size", "VM size modelport knows"),
    # artifacts from another cloud
    (
        "ml_platform",
        {"model": {"name": "churn", "artifact_uri": "s3://models/churn/"}},
        REG,
        S + "model.artifact_uri",
        "s3://",
    ),
    (
        "container",
        {"model": {"name": "churn", "artifact_uri": "gs://models/churn/"}},
        REG,
        S + "model.artifact_uri",
        "gs://",
    ),
    (
        "ml_platform",
        {"model": {"name": "churn", "artifact_uri": "https://churnmodels.blob.core.windows.net/models/churn"}},
        REG,
        T + "artifact_storage_account_id",
        "Blob artifact",
    ),
    # gRPC where the platform cannot carry it
    ("vm", {"grpc_port": 8081, **PRIVATE_CERT}, VM, S + "grpc_port", "Application Gateway v2 cannot proxy gRPC"),
    ("container", {"grpc_port": 8081}, REG, S + "grpc_port", "one target port"),
    ("serverless", {"grpc_port": 8081}, FN, S + "grpc_port", "no gRPC trigger"),
    ("ml_platform", {"grpc_port": 8081}, REG, S + "grpc_port", "no gRPC"),
    # images and registries
    ("container", {}, {}, T + "registry_id", "churnml"),
    (
        "container",
        {},
        {"registry_id": REGISTRY_ID.replace("churnml", "otherml")},
        T + "registry_id",
        "one registry",
    ),
    ("serverless", {}, REG, T + "functions_image", "Dockerfile.azure-functions"),
    ("serverless", {}, {**FN, "functions_image": "Churn:Latest"}, T + "functions_image", "OCI"),
    # options out of range or contradictory
    ("vm", PRIVATE_CERT, {**VM, "ssh_public_key": "hunter2"}, T + "ssh_public_key", "OpenSSH"),
    ("vm", PRIVATE_CERT, {k: v for k, v in VM.items() if k != "ssh_public_key"}, T + "ssh_public_key", "SSH keys"),
    ("vm", PRIVATE_CERT, {**VM, "secret_vault_ids": []}, T + "secret_vault_ids", "churn-certs"),
    ("container", {}, {**REG, "key_id": "https://churn-kv.vault.azure.net/keys/cmk"}, T + "key_vault_id", "required"),
    (
        "container",
        {},
        {**REG, "key_id": "https://churn-kv.vault.azure.net/keys/cmk/0123456789abcdef0123456789abcdef"},
        T + "key_id",
        "versionless",
    ),
    ("container", {}, {**REG, "vnet_cidr": "8.8.0.0/16"}, T + "vnet_cidr", "private"),
    ("container", {}, {**REG, "log_retention_days": 45}, T + "log_retention_days", "must be one of"),
    ("container", {}, {**REG, "unknown": 1}, T + "unknown", "unknown key"),
    (
        "container",
        {"secrets": {"DB_URL": "https://churn-secrets.vault.azure.net/secrets/db-url"}},
        REG,
        T + "secret_vault_ids",
        "churn-secrets",
    ),
    (
        "serverless",
        {"variants": [{"name": "a", "weight": 50}, {"name": "b", "weight": 50}]},
        FN,
        S + "variants",
        "one image",
    ),
    ("ml_platform", {}, {**REG, "encryption": "provider-managed"}, T + "encryption", "customer-managed key"),
]


@pytest.mark.parametrize(
    ("pattern", "service", "options", "path", "fragment"), CASES, ids=[f"{c[0]}:{c[3]}:{c[4]}" for c in CASES]
)
def test_bad_input_is_refused_with_the_key_before_anything_registers(pattern, service, options, path, fragment):
    with pytest.raises(SpecError) as caught:
        build(pattern, azure_service(**service), DEV, options)
    assert caught.value.path == path, caught.value
    assert fragment in caught.value.reason, caught.value.reason


def test_a_prod_target_in_a_region_without_zones_is_refused():
    with pytest.raises(SpecError) as caught:
        build("container", azure_service(), PROD, REG, region="westus")
    assert caught.value.path == "target.region"
    assert "no availability zones" in caught.value.reason
    # Dev accepts it: nothing is zone redundant there, and the rules say so.
    built = build("container", azure_service(), DEV, REG, region="westus")
    assert built.one("app:ManagedEnvironment").inputs["zoneRedundant"] is False


def test_traffic_that_does_not_sum_to_100_is_refused_by_the_spec():
    with pytest.raises(SpecError) as caught:
        ModelService.from_config(
            {
                "name": "churn",
                "image": ACR_IMAGE,
                "variants": [{"name": "a", "weight": 60}, {"name": "b", "weight": 30}],
            }
        )
    assert caught.value.path == "modelport:service.variants" and "sum to 100" in caught.value.reason


def test_prod_container_apps_need_three_replicas_for_zone_redundancy():
    with pytest.raises(SpecError) as caught:
        build("container", azure_service(scaling={"min_replicas": 2, "max_replicas": 6}), PROD, REG)
    assert caught.value.path == S + "scaling.min_replicas" and "3 replicas" in caught.value.reason


def test_prod_zone_floors_of_the_scale_set_and_the_node_pools():
    with pytest.raises(SpecError) as caught:
        build("vm", azure_service(scaling={"min_replicas": 2, "max_replicas": 6}, **PRIVATE_CERT), PROD, VM)
    assert caught.value.path == S + "scaling.min_replicas" and "one instance per zone (3)" in caught.value.reason
    with pytest.raises(SpecError) as caught:
        build("kubernetes", azure_service(), PROD, {**REG, "node_min": 2})
    assert caught.value.path == T + "node_min" and "3 zones" in caught.value.reason


def test_nothing_is_registered_when_an_option_is_refused():
    from modelport.catalog import deploy
    from modelport.plan.runner import PlanError, run_program

    seen = []

    def program():
        try:
            deploy(azure_service(), Target(cloud="azure", pattern="container", region="westus"), PROD)
        except SpecError as exc:
            seen.append(exc)

    # A program that registers nothing is a plan error, never a clean plan: that error proves nothing was registered.
    with pytest.raises(PlanError, match="registered no resources"):
        run_program(program, project="modelport", stack="test", config={}, preview=False)
    assert seen
