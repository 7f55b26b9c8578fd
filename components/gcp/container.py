"""CloudRunService (`container`): the model server on Cloud Run v2 with instance-based billing and a warm floor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .cloudrun import CloudRunArgs, CloudRunBase
from .pattern import provider_for_target

__all__ = ["CloudRunService", "CloudRunServiceArgs"]


@dataclass(frozen=True, kw_only=True)
class CloudRunServiceArgs(CloudRunArgs):
    """Options of the container pattern: the Cloud Run options (components/gcp/README.md). Minimum instances
    follow scaling.min_replicas (the profile's floor: 3 in prod), CPU stays allocated between requests."""

    PATTERN: ClassVar[str] = "the container pattern (Cloud Run)"
    CPU_IDLE: ClassVar[bool] = False


class CloudRunService(CloudRunBase):
    """Cloud Run v2 service, invoker grants, optional external LB + Cloud Armor, alert policies."""

    TYPE: ClassVar[str] = "modelport:gcp:CloudRunService"
    args_type = CloudRunServiceArgs
    provider_for_target = staticmethod(provider_for_target)
