"""Fetching a remote model source to local disk at start-up. Vertex AI names models by ``gs://`` URI in
``AIP_STORAGE_URI``; the Cloud Storage client is imported only when such a URI is used."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

from .config import ModelSource
from .errors import ModelLoadError

GCS_INSTALL_HINT = "pip install google-cloud-storage"

Downloader = Callable[[str, str, Path], int]


def split_gs_uri(uri: str) -> tuple[str, str]:
    """``gs://bucket/some/prefix`` → ``("bucket", "some/prefix")``."""
    parsed = urlparse(uri)
    if parsed.scheme != "gs" or not parsed.netloc:
        raise ModelLoadError(f"{uri!r} is not a gs://bucket/path URI")
    return parsed.netloc, parsed.path.strip("/")


def download_gcs(bucket_name: str, prefix: str, destination: Path) -> int:
    """Copy every object under ``prefix`` into ``destination``, keeping relative paths. Returns the count."""
    try:
        from google.cloud import storage
    except ImportError as exc:
        raise ModelLoadError(
            f"AIP_STORAGE_URI / the model source is a gs:// URI, which needs the Cloud Storage client: "
            f"{GCS_INSTALL_HINT} ({exc})"
        ) from exc
    client: Any = storage.Client()
    count = 0
    for blob in client.list_blobs(bucket_name, prefix=f"{prefix}/" if prefix else None):
        relative = PurePosixPath(blob.name).relative_to(prefix) if prefix else PurePosixPath(blob.name)
        if blob.name.endswith("/") or ".." in relative.parts:
            continue  # folder placeholders, and names that would escape the destination
        target = destination.joinpath(*relative.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        blob.download_to_filename(str(target))
        count += 1
    return count


def materialize(source: ModelSource, download_dir: str, downloader: Downloader = download_gcs) -> Path:
    """A local path holding the model: the source itself, or a fresh download of a ``gs://`` source."""
    if not source.is_remote:
        return Path(source.location)
    scheme = urlparse(source.location).scheme
    if scheme != "gs":
        raise ModelLoadError(f"{source.setting}={source.location!r}: only local paths and gs:// URIs are supported")
    bucket, prefix = split_gs_uri(source.location)
    destination = Path(download_dir)
    destination.mkdir(parents=True, exist_ok=True)
    if downloader(bucket, prefix, destination) == 0:
        raise ModelLoadError(f"{source.setting}={source.location!r} holds no objects (or none this identity can read)")
    return destination
