"""AWS components of modelport: the per-region foundation and the five deployment patterns (needs `modelport[aws]`).

Importing this package has no side effects and does not import pulumi-aws; each name is loaded on first use:
``from modelport.aws import EcsService, EcsServiceArgs``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Foundation": "foundation",
    "FoundationArgs": "foundation",
    "AwsArgs": "options",
    "Ec2Service": "vm",
    "Ec2ServiceArgs": "vm",
    "EcsService": "container",
    "EcsServiceArgs": "container",
    "EksService": "kubernetes",
    "EksServiceArgs": "kubernetes",
    "LambdaService": "serverless",
    "LambdaServiceArgs": "serverless",
    "SageMakerEndpoint": "ml_platform",
    "SageMakerEndpointArgs": "ml_platform",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'modelport.aws' has no attribute {name!r}")
    try:
        loaded = importlib.import_module(f".{module}", __name__)
    except ImportError as exc:
        if exc.name in ("pulumi_aws", "pulumi_kubernetes"):
            raise ImportError(f"modelport.aws needs {exc.name}: pip install 'modelport[aws]'") from exc
        raise
    return getattr(loaded, name)
