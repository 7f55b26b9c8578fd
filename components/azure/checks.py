"""What Azure accepts, checked before any resource exists: ARM ids, Key Vault URIs, ACR images, artifacts, callers."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..spec import SERVICE_PATH, ModelService
from ..validation import ServiceSpecError, SpecError

__all__ = [
    "ACR_HOST",
    "ArmId",
    "BlobLocation",
    "KeyVaultObject",
    "ServiceSpecError",
    "acr_registry_of",
    "arm_id",
    "blob_artifact",
    "key_vault_object",
    "principal_ids",
    "refuse_accelerator",
    "require_azure_secrets",
    "require_no_artifact",
    "require_private_or_vm",
]

UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_ARM = re.compile(
    rf"/subscriptions/(?P<subscription>{UUID})/resourceGroups/(?P<group>[-\w._()]{{1,90}})"
    r"/providers/(?P<namespace>Microsoft\.[A-Za-z]+)/(?P<rest>[^\s]+)"
)
ACR_HOST = re.compile(r"(?P<name>[a-zA-Z0-9]{5,50})\.azurecr\.io")
_VAULT_OBJECT = re.compile(
    r"https://(?P<vault>[a-zA-Z0-9-]{3,24})\.vault\.azure\.net/(?P<kind>secrets|keys|certificates)/"
    r"(?P<name>[a-zA-Z0-9-]{1,127})(/(?P<version>[0-9a-f]{32}))?/?"
)
_BLOB = re.compile(
    r"https://(?P<account>[a-z0-9]{3,24})\.blob\.core\.windows\.net/(?P<container>[a-z0-9-]{3,63})(/\S*)?"
)


@dataclass(frozen=True)
class ArmId:
    """A parsed Azure Resource Manager id: subscription, resource group, provider namespace, type path, name."""

    text: str
    subscription: str
    resource_group: str
    namespace: str
    types: tuple[str, ...]
    names: tuple[str, ...]

    @property
    def type(self) -> str:
        return "/".join((self.namespace, *self.types))

    @property
    def name(self) -> str:
        return self.names[-1]


def arm_id(path: str, value: object, resource_type: str) -> ArmId:
    """``value`` as an ARM id of ``resource_type`` (for example ``Microsoft.KeyVault/vaults``), or a SpecError."""
    example = f"/subscriptions/<uuid>/resourceGroups/<group>/providers/{resource_type}/<name>"
    if not isinstance(value, str):
        raise SpecError(path, f"must be an ARM resource id {example}")
    match = _ARM.fullmatch(value.rstrip("/"))
    parts = match["rest"].split("/") if match else []
    if match is None or len(parts) % 2:
        raise SpecError(path, f"must be an ARM resource id {example} (got {value!r})")
    parsed = ArmId(
        text=value.rstrip("/"),
        subscription=match["subscription"],
        resource_group=match["group"],
        namespace=match["namespace"],
        types=tuple(parts[0::2]),
        names=tuple(parts[1::2]),
    )
    if parsed.type.lower() != resource_type.lower():
        raise SpecError(path, f"must be the id of a {resource_type} resource {example} (got a {parsed.type})")
    return parsed


@dataclass(frozen=True)
class KeyVaultObject:
    """A Key Vault secret, key or certificate URI."""

    vault: str
    kind: str
    name: str
    version: str | None


def key_vault_object(path: str, value: object, kinds: Sequence[str] = ("secrets",)) -> KeyVaultObject:
    text = value if isinstance(value, str) else ""
    match = _VAULT_OBJECT.fullmatch(text)
    if match is None or match["kind"] not in kinds:
        forms = " or ".join(f"https://<vault>.vault.azure.net/{k}/<name>[/<version>]" for k in kinds)
        raise SpecError(path, f"must be a Key Vault URI {forms} (got {value!r})")
    return KeyVaultObject(match["vault"].lower(), match["kind"], match["name"], match["version"])


@dataclass(frozen=True)
class BlobLocation:
    account: str
    container: str


def blob_artifact(service: ModelService) -> BlobLocation | None:
    uri = service.model.artifact_uri if service.model else None
    if uri is None:
        return None
    match = _BLOB.fullmatch(uri)
    return BlobLocation(match["account"], match["container"]) if match else None


def acr_registry_of(image: str) -> str | None:
    """The ACR registry name (lowercase) an image lives in, or None for other registries."""
    host = image.split("/", 1)[0]
    match = ACR_HOST.fullmatch(host.lower())
    return match["name"] if match and "/" in image else None


def refuse_other_cloud_artifact(service: ModelService, pattern: str) -> None:
    uri = service.model.artifact_uri if service.model else None
    if uri and uri.startswith(("s3://", "gs://")):
        raise ServiceSpecError(
            "model.artifact_uri",
            f"{pattern} reads models from Azure: copy the artifact to Blob Storage "
            f"(https://<account>.blob.core.windows.net/<container>/...) or register it in Azure ML (azureml://); "
            f"got {uri.split('://', 1)[0]}://",
        )


def require_no_artifact(service: ModelService, pattern: str, reason: str) -> None:
    refuse_other_cloud_artifact(service, pattern)
    if service.model and service.model.artifact_uri:
        raise ServiceSpecError("model.artifact_uri", f"{pattern} does not mount an artifact: {reason}")


def refuse_accelerator(service: ModelService, pattern: str, reason: str) -> None:
    if service.resources.accelerator is not None:
        raise ServiceSpecError("resources.accelerator", f"{pattern} has no accelerators: {reason}")


def require_azure_secrets(service: ModelService, pattern: str) -> list[tuple[str, KeyVaultObject]]:
    """Every secret must be a Key Vault secret reference; returns (env name, secret) pairs."""
    found = []
    for env_name, ref in service.secrets.items():
        if ref.kind != "azure-key-vault":
            raise ServiceSpecError(
                f"secrets.{env_name}",
                f"{pattern} reads secrets from Key Vault: use https://<vault>.vault.azure.net/secrets/<name> "
                f"(got a {ref.kind} reference)",
            )
        found.append((env_name, key_vault_object(f"{SERVICE_PATH}.secrets.{env_name}", ref.reference)))
    return found


def principal_ids(service: ModelService) -> tuple[str, ...]:
    """Object ids of the Azure principals of ``exposure.allowed_principals`` (``azure:<uuid>``, prefix removed)."""
    return tuple(p.split(":", 1)[1].lower() for p in service.exposure.principals_of("azure"))


def vault_ids_by_name(path: str, values: Sequence[str]) -> Mapping[str, ArmId]:
    found: dict[str, ArmId] = {}
    for index, value in enumerate(values):
        parsed = arm_id(f"{path}[{index}]", value, "Microsoft.KeyVault/vaults")
        found[parsed.name.lower()] = parsed
    return found


def require_private_or_vm(service: ModelService, pattern: str, front: str) -> None:
    """Patterns published only privately in this release: a public exposure is refused with where to go instead."""
    if service.exposure.public:
        raise ServiceSpecError(
            "exposure.public",
            f"{pattern} stays private on Azure ({front}); publish it through your own Application Gateway or "
            "Front Door, or use the vm pattern, whose Application Gateway WAF_v2 serves a public frontend",
        )
