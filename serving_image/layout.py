"""Model directory layouts: a SavedModel, a ``.tflite`` file, or a TF Serving base path of numeric
version directories, possibly nested one level down as Azure ML and unpacked archives do."""

from __future__ import annotations

from pathlib import Path

from .errors import ModelLoadError

_MAX_DEPTH = 4


def _artifact(path: Path) -> Path | None:
    """The loadable thing in ``path`` itself: ``path`` for a SavedModel or ``.tflite`` file, or its only
    ``.tflite`` file."""
    if path.is_file():
        return path if path.suffix == ".tflite" else None
    if (path / "saved_model.pb").is_file():
        return path
    tflite = sorted(p for p in path.glob("*.tflite") if p.is_file())
    if len(tflite) > 1:
        names = ", ".join(p.name for p in tflite)
        raise ModelLoadError(f"{path} holds several .tflite files ({names}); point the model directory at one")
    return tflite[0] if tflite else None


def _entries(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if not p.name.startswith((".", "__")))


def _artifact_within(path: Path) -> Path | None:
    """``_artifact`` of ``path``, or of its only subfolder, and so on a few levels down."""
    for _ in range(_MAX_DEPTH):
        found = _artifact(path)
        if found is not None or path.is_file():
            return found
        entries = _entries(path)
        if len(entries) != 1 or not entries[0].is_dir():
            return None
        path = entries[0]
    return None


def discover_versions(root: Path) -> dict[int, Path]:
    """Map version numbers to loadable artifacts. An unversioned model is version 1."""
    if not root.exists():
        raise ModelLoadError(f"the model path {root} does not exist")
    path = root
    for _ in range(_MAX_DEPTH):
        found = _artifact(path)
        if found is not None:
            return {1: found}
        if path.is_file():
            break
        entries = _entries(path)
        numbered = [p for p in entries if p.is_dir() and p.name.isdigit()]
        if numbered:
            versions: dict[int, Path] = {}
            for directory in numbered:
                artifact = _artifact_within(directory)
                if artifact is None:
                    raise ModelLoadError(f"version directory {directory} holds no saved_model.pb or .tflite file")
                versions[int(directory.name)] = artifact
            return versions
        if len(entries) == 1 and entries[0].is_dir():
            path = entries[0]  # e.g. AZUREML_MODEL_DIR/<model name>/...
            continue
        break
    raise ModelLoadError(
        f"found no model under {root}: expected saved_model.pb, a .tflite file, "
        "or numeric version directories (TF Serving layout)"
    )


PIPELINE_FILE = "pipeline.yaml"
HANDLERS_DIR = "handlers"


def _holds_model(path: Path) -> bool:
    try:
        discover_versions(path)
    except ModelLoadError:
        return False
    return True


def discover_repository(root: Path) -> dict[str, dict[int, Path]] | None:
    """A model repository: a folder whose subfolders are models, each named by its folder and holding any
    layout :func:`discover_versions` reads, optionally beside a ``pipeline.yaml`` and a ``handlers/`` folder.
    ``None`` when ``root`` is a single model instead.

    ``root`` is a repository when it holds a ``pipeline.yaml``, or at least two subfolders that hold models
    (one subfolder alone is a wrapper around a single model, as Azure ML lays it out)."""
    if not root.is_dir() or _artifact(root) is not None:
        return None
    folders = [p for p in _entries(root) if p.is_dir() and not p.name.isdigit() and p.name != HANDLERS_DIR]
    has_pipelines = (root / PIPELINE_FILE).is_file()
    if not has_pipelines and (len(folders) < 2 or sum(_holds_model(p) for p in folders) < 2):
        return None
    models: dict[str, dict[int, Path]] = {}
    for folder in folders:
        if not folder.name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise ModelLoadError(f"model folder {folder} must be named with letters, digits, '-', '_' or '.'")
        try:
            models[folder.name] = discover_versions(folder)
        except ModelLoadError as exc:
            raise ModelLoadError(f"model repository {root}: folder {folder.name!r}: {exc}") from None
    if not models and not has_pipelines:
        raise ModelLoadError(f"model repository {root} holds no model folders")
    return models
