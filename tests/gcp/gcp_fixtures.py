"""Shared helpers of the GCP component tests: images, members and certificates, and building a component under
the plan mocks (``register``) with the target's project and region filled in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conftest import DIGEST, make_service
from modelport.profiles import PROFILES, Profile

PROJECT = "acme-ml"
REGION = "europe-west4"
ZONES = ("europe-west4-a", "europe-west4-b", "europe-west4-c")
AR_IMAGE = f"{REGION}-docker.pkg.dev/{PROJECT}/serving/churn@{DIGEST}"
CANARY_DIGEST = "sha256:" + "5a" * 32
AR_CANARY = f"{REGION}-docker.pkg.dev/{PROJECT}/serving/churn@{CANARY_DIGEST}"
CANARY = [{"name": "stable", "weight": 90}, {"name": "canary", "weight": 10, "image": AR_CANARY}]
CHECKOUT = f"serviceAccount:checkout@{PROJECT}.iam.gserviceaccount.com"
ANALYSTS = "group:ml-analysts@example.com"
REGIONAL_CERT = f"projects/{PROJECT}/regions/{REGION}/sslCertificates/churn-internal"
GLOBAL_CERT = f"projects/{PROJECT}/global/sslCertificates/churn"
SECRET = f"projects/{PROJECT}/secrets/db-url/versions/3"
DEV: Profile = PROFILES["dev"]
PROD: Profile = PROFILES["prod"]
KEY_ROLE = "roles/cloudkms.cryptoKeyEncrypterDecrypter"

__all__ = [
    "ANALYSTS",
    "AR_CANARY",
    "AR_IMAGE",
    "CANARY",
    "CHECKOUT",
    "DEV",
    "GLOBAL_CERT",
    "KEY_ROLE",
    "PROD",
    "PROJECT",
    "REGION",
    "REGIONAL_CERT",
    "SECRET",
    "ZONES",
    "args_of",
    "gcp_service",
    "register",
]


def gcp_service(**overrides: Any):
    """The shared test service with its image in Artifact Registry."""
    return make_service(**{"image": AR_IMAGE, **overrides})


def args_of(args_type: type, service: Any = None, profile: Profile = PROD, **options: Any) -> Any:
    """``args_type`` for ``service`` with the project and region a target would give."""
    options.setdefault("project", PROJECT)
    options.setdefault("region", REGION)
    return args_type(service=service or gcp_service(), profile=profile, **options)


def register(factory: Callable[[], Any]) -> None:
    """Construct components inside ``@pulumi.runtime.test`` (under the ``pulumi_mocks`` fixture)."""
    import pulumi

    @pulumi.runtime.test
    def run() -> None:
        factory()

    run()


def key_id(mocks: Any) -> str:
    """The id of the one crypto key the foundation created."""
    return mocks.one("gcp:kms/cryptoKey:CryptoKey").id


def email_of(mocks: Any, name: str) -> str:
    return mocks.one("gcp:serviceaccount/account:Account", name).outputs["email"]
