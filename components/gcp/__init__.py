"""GCP components of modelport: the per-region foundation and the five deployment patterns (needs `modelport[gcp]`).

Importing this package has no side effects and does not import pulumi-gcp; each name is loaded on first use:
``from modelport.gcp import CloudRunService, CloudRunServiceArgs``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Foundation": "foundation",
    "FoundationArgs": "foundation",
    "GcpArgs": "options",
    "MigService": "vm",
    "MigServiceArgs": "vm",
    "CloudRunService": "container",
    "CloudRunServiceArgs": "container",
    "GkeService": "kubernetes",
    "GkeServiceArgs": "kubernetes",
    "CloudRunFunction": "serverless",
    "CloudRunFunctionArgs": "serverless",
    "VertexEndpoint": "ml_platform",
    "VertexEndpointArgs": "ml_platform",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'modelport.gcp' has no attribute {name!r}")
    try:
        loaded = importlib.import_module(f".{module}", __name__)
    except ImportError as exc:
        if exc.name in ("pulumi_gcp", "pulumi_kubernetes"):
            raise ImportError(f"modelport.gcp needs {exc.name}: pip install 'modelport[gcp]'") from exc
        raise
    return getattr(loaded, name)
