"""Azure components of modelport: the per-target foundation and the five deployment patterns
(needs `modelport[azure]`).

Importing this package has no side effects and does not import pulumi-azure-native; each name is loaded on first
use: ``from modelport.azure import ContainerAppService, ContainerAppServiceArgs``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Foundation": "foundation",
    "FoundationArgs": "foundation",
    "AzureArgs": "options",
    "VmssService": "vm",
    "VmssServiceArgs": "vm",
    "ContainerAppService": "container",
    "ContainerAppServiceArgs": "container",
    "AksService": "kubernetes",
    "AksServiceArgs": "kubernetes",
    "FunctionAppService": "serverless",
    "FunctionAppServiceArgs": "serverless",
    "AzureMlEndpoint": "ml_platform",
    "AzureMlEndpointArgs": "ml_platform",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'modelport.azure' has no attribute {name!r}")
    try:
        loaded = importlib.import_module(f".{module}", __name__)
    except ImportError as exc:
        if exc.name in ("pulumi_azure_native", "pulumi_kubernetes"):
            raise ImportError(f"modelport.azure needs {exc.name}: pip install 'modelport[azure]'") from exc
        raise
    return getattr(loaded, name)
