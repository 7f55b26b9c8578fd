"""Shared helpers of the Azure component tests: ARM ids and URIs, deploying a target under the plan mocks, and
lookups on what it registered (by type and name, role assignments by role)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from conftest import DIGEST, make_service
from modelport.catalog import deploy
from modelport.plan.mocks import CapturedResource
from modelport.plan.runner import Plan, run_program
from modelport.profiles import PROFILES, Profile
from modelport.spec import ModelService, Target

SUB = "00000000-0000-0000-0000-000000000000"
REGION = "westeurope"
SHARED = f"/subscriptions/{SUB}/resourceGroups/rg-ml-shared/providers"
REGISTRY_ID = f"{SHARED}/Microsoft.ContainerRegistry/registries/churnml"
ACR_IMAGE = f"churnml.azurecr.io/churn-serving@{DIGEST}"
CANARY_IMAGE = "churnml.azurecr.io/churn-serving@sha256:" + "5a" * 32
FUNCTIONS_IMAGE = "churnml.azurecr.io/churn-functions@sha256:" + "6b" * 32
CERT_VAULT_ID = f"/subscriptions/{SUB}/resourceGroups/rg-certs/providers/Microsoft.KeyVault/vaults/churn-certs"
CERTIFICATE = "https://churn-certs.vault.azure.net/secrets/churn-tls"
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleOnlyKeyForDocumentationPurposes0000 ops@example.com"
PRINCIPAL = "3f2a9c1e-7b4d-4e8a-9c0f-1a2b3c4d5e6f"
CLIENT_ID = "6c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
CANARY = [{"name": "stable", "weight": 90}, {"name": "canary", "weight": 10, "image": CANARY_IMAGE}]
DEV: Profile = PROFILES["dev"]
PROD: Profile = PROFILES["prod"]

# Built-in role definition ids, written out here independently of modelport.azure.iam.
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
CRYPTO_SERVICE_USER = "e147488a-f6f5-4113-8e2d-b22465e65bf6"
SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
ML_DATA_SCIENTIST = "f6c7c914-8db3-469d-8ca1-694a8f32e121"
KV_CRYPTO_USER = "12338af0-0e69-4776-bea7-57ae8d297424"

__all__ = [
    "ACR_IMAGE",
    "Built",
    "DEV",
    "PROD",
    "azure_service",
    "build",
    "make_service",
]


def azure_service(**overrides: Any) -> ModelService:
    return make_service(**{"image": ACR_IMAGE, **overrides})


class Built:
    """One program's registrations with lookups by type and name."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.resources = plan.resources

    def by_type(self, type_: str) -> list[CapturedResource]:
        return [r for r in self.resources if r.type == f"azure-native:{type_}" or r.type == type_]

    def one(self, type_: str, name_suffix: str | None = None) -> CapturedResource:
        found = [r for r in self.by_type(type_) if name_suffix is None or r.name.endswith(name_suffix)]
        assert len(found) == 1, f"expected one {type_} ending {name_suffix!r}, found {[r.name for r in found]}"
        return found[0]

    def output(self, resource: CapturedResource, key: str) -> Any:
        return resource.outputs.get(key)

    def assignments(self, role_id: str) -> list[dict[str, Any]]:
        """Role assignments of one built-in role: their scope and principal."""
        found = []
        for r in self.by_type("authorization:RoleAssignment"):
            if r.inputs["roleDefinitionId"].endswith(f"/roleDefinitions/{role_id}"):
                found.append(r.inputs)
        return found

    def ids(self, type_: str) -> list[str]:
        return [r.id for r in self.by_type(type_)]

    def children_of_type(self, type_: str) -> Iterator[CapturedResource]:
        return iter(self.by_type(type_))


def build(
    pattern: str,
    service: ModelService | None = None,
    profile: Profile = DEV,
    options: dict[str, Any] | None = None,
    region: str = REGION,
) -> Built:
    """Deploy one Azure target through the catalog (provider hook included) under the plan mocks."""
    service = service or azure_service()
    target = Target(cloud="azure", pattern=pattern, region=region, options=options or {})

    def program() -> None:
        deploy(service, target, profile)

    return Built(run_program(program, project="modelport", stack="test", config={}, preview=False))
