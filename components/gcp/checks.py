"""What GCP accepts, checked before any resource exists: project ids, key and resource names, Artifact Registry
images, Secret Manager references, gs:// artifacts, exposure (members, networks, authenticators), GPUs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..spec import ModelService, parse_image
from ..validation import ServiceSpecError

__all__ = [
    "ArtifactRegistryImage",
    "GcsLocation",
    "KMS_KEY",
    "PROJECT_ID",
    "ServiceSpecError",
    "artifact_registry_image",
    "gcs_artifact",
    "invoker_members",
    "reject_accelerator",
    "reject_networks",
    "require_artifact_registry",
    "require_gcp_secrets",
    "service_images",
]

PROJECT_ID = r"[a-z][a-z0-9-]{4,28}[a-z0-9]"
KMS_KEY = rf"projects/{PROJECT_ID}/locations/[a-z0-9-]+/keyRings/[\w-]{{1,63}}/cryptoKeys/[\w-]{{1,63}}"
NETWORK = rf"projects/{PROJECT_ID}/global/networks/[a-z]([-a-z0-9]{{0,61}}[a-z0-9])?"
SUBNETWORK = rf"projects/{PROJECT_ID}/regions/[a-z0-9-]+/subnetworks/[a-z]([-a-z0-9]{{0,61}}[a-z0-9])?"
REPOSITORY = rf"projects/{PROJECT_ID}/locations/[a-z0-9-]+/repositories/[a-z]([-a-z0-9]{{0,61}}[a-z0-9])?"
BUCKET_NAME = r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]"
SERVICE_ACCOUNT_EMAIL = r"[a-z][-a-z0-9]{4,28}[a-z0-9]@[a-z0-9-]+\.iam\.gserviceaccount\.com"
NOTIFICATION_CHANNEL = rf"projects/{PROJECT_ID}/notificationChannels/\d+"
_AR_HOST = re.compile(r"(?P<location>[a-z0-9-]+)-docker\.pkg\.dev")
# The service agents' default accounts that a workload must never run as.
DEFAULT_ACCOUNT = re.compile(r"(\d+-compute@developer|[a-z0-9-]+@appspot)\.gserviceaccount\.com")


@dataclass(frozen=True)
class ArtifactRegistryImage:
    """An image in Artifact Registry: ``<location>-docker.pkg.dev/<project>/<repository>/<image>``."""

    location: str
    project: str
    repository: str

    @property
    def repository_id(self) -> str:
        return f"projects/{self.project}/locations/{self.location}/repositories/{self.repository}"


def artifact_registry_image(key: str, image: str) -> ArtifactRegistryImage | None:
    """The Artifact Registry repository of ``image`` (OCI-parsed), or None when it is hosted elsewhere."""
    ref = parse_image(key, image)
    match = _AR_HOST.fullmatch(ref.domain or "")
    if match is None:
        return None
    parts = ref.name.split("/")
    if len(parts) < 4:
        raise ServiceSpecError(
            key,
            "an Artifact Registry image is <location>-docker.pkg.dev/<project>/<repository>/<image> "
            f"(got {ref.name!r})",
        )
    if not re.fullmatch(PROJECT_ID, parts[1]) and not re.fullmatch(r"[a-z0-9.-]+:[a-z][a-z0-9-]+", parts[1]):
        raise ServiceSpecError(key, f"{parts[1]!r} is not a GCP project id")
    return ArtifactRegistryImage(location=match["location"], project=parts[1], repository=parts[2])


def service_images(service: ModelService) -> list[tuple[str, str]]:
    """(key path, image) of every image the service runs: the service image and each variant's own."""
    return [("image", service.image)] + [
        (f"variants[{i}].image", v.image) for i, v in enumerate(service.variants) if v.image
    ]


def require_artifact_registry(service: ModelService, pattern: str) -> list[ArtifactRegistryImage]:
    found = []
    for key, image in service_images(service):
        ref = artifact_registry_image(key, image)
        if ref is None:
            raise ServiceSpecError(
                key,
                f"{pattern} runs images only from Artifact Registry "
                "(<location>-docker.pkg.dev/<project>/<repository>/<image>@sha256:...); push or copy the image "
                f"there (got {image.split('/')[0]})",
            )
        found.append(ref)
    return found


def require_gcp_secrets(service: ModelService, pattern: str) -> None:
    for key, ref in service.secrets.items():
        if ref.kind != "gcp-secret-manager":
            raise ServiceSpecError(
                f"secrets.{key}",
                f"{pattern} reads secrets from Secret Manager: projects/<project>/secrets/<name>[/versions/<v>] "
                f"(got a {ref.kind} reference)",
            )


def secret_parts(reference: str) -> tuple[str, str, str]:
    """(project, secret id, version) of a Secret Manager reference; the version defaults to latest."""
    parts = reference.split("/")
    return parts[1], parts[3], parts[5] if len(parts) > 5 else "latest"


@dataclass(frozen=True)
class GcsLocation:
    bucket: str
    prefix: str

    @property
    def uri(self) -> str:
        return f"gs://{self.bucket}/{self.prefix}"


def gcs_artifact(service: ModelService, pattern: str) -> GcsLocation | None:
    """The model artifact on Cloud Storage, if any. Other clouds' storage (s3://, azureml://) is refused."""
    uri = service.model.artifact_uri if service.model else None
    if uri is None:
        return None
    match = re.fullmatch(rf"gs://({BUCKET_NAME})(/.*)?", uri)
    if match is None:
        raise ServiceSpecError(
            "model.artifact_uri",
            f"{pattern} loads model artifacts from Cloud Storage: gs://<bucket>/<prefix> "
            f"(got {uri.split('://')[0]}://); copy the model to a bucket in the project",
        )
    return GcsLocation(bucket=match.group(1), prefix=(match.group(2) or "").lstrip("/"))


def reject_accelerator(service: ModelService, pattern: str, why: str) -> None:
    if service.resources.accelerator is not None:
        raise ServiceSpecError(
            "resources.accelerator",
            f"{pattern} cannot provide a GPU ({why}); use the vm, container (L4), kubernetes or ml_platform pattern",
        )


def reject_networks(service: ModelService, pattern: str, why: str) -> None:
    """``allowed_networks`` where nothing of the pattern can enforce them: refused, never dropped."""
    if service.exposure.allowed_networks:
        raise ServiceSpecError(
            "exposure.allowed_networks",
            f"{pattern} cannot restrict callers by network ({why}); remove allowed_networks, or make the "
            "exposure public so the external load balancer's Cloud Armor policy enforces them",
        )


def reject_anonymous_in_prod(service: ModelService, profile_name: str, pattern: str) -> None:
    if service.exposure.anonymous and profile_name == "prod":
        raise ServiceSpecError(
            "exposure.anonymous",
            f"anonymous public access to {pattern} is refused in prod; name the callers in "
            "exposure.allowed_principals (serviceAccount:, user:, group:) or put IAP in front",
        )


def invoker_members(service: ModelService, pattern: str, *, authenticator: str | None) -> list[str]:
    """The GCP members granted access (never allUsers or allAuthenticatedUsers).

    A public exposure needs callers that GCP authenticates: GCP principals (IAM checks their Google-signed ID
    tokens), a platform authenticator (``authenticator`` names it, e.g. IAP), or ``exposure.anonymous: true``.
    """
    members = list(service.exposure.principals_of("gcp"))
    exposure = service.exposure
    if exposure.public and not members and authenticator is None and not exposure.anonymous:
        raise ServiceSpecError(
            "exposure.public",
            f"a public {pattern} has nothing that authenticates callers: name GCP principals in "
            "exposure.allowed_principals (serviceAccount:, user:, group:, domain:), turn on the target option "
            "iap, or say exposure.anonymous: true for anonymous access (refused in prod)",
        )
    if exposure.anonymous and members:
        raise ServiceSpecError(
            "exposure.anonymous", "is true but allowed_principals names GCP callers; choose one of them"
        )
    return members
