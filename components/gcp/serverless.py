"""CloudRunFunction (`serverless`): the same container on Cloud Run scaled to zero, with request-based billing.

Cloud Run functions build from source and cannot run a prebuilt image; a Cloud Run service with minimum instances
0, startup CPU boost and CPU only during requests is the serverless form of the one serving image."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..validation import check_int
from .cloudrun import CloudRunArgs, CloudRunBase
from .pattern import provider_for_target

__all__ = ["CloudRunFunction", "CloudRunFunctionArgs"]


@dataclass(frozen=True, kw_only=True)
class CloudRunFunctionArgs(CloudRunArgs):
    """Options of the serverless pattern: the Cloud Run options plus ``min_instances`` (default 0: scale to zero;
    scaling.min_replicas does not apply here, set this to keep instances warm)."""

    min_instances: int = 0

    PATTERN: ClassVar[str] = "the serverless pattern (Cloud Run scaled to zero)"
    CPU_IDLE: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int("min_instances", self.min_instances, minimum=0, maximum=self.service.scaling.max_replicas)

    def min_instances_value(self) -> int:
        return self.min_instances


class CloudRunFunction(CloudRunBase):
    """Cloud Run v2 service scaled to zero, invoker grants, optional external LB + Cloud Armor, alert policies."""

    TYPE: ClassVar[str] = "modelport:gcp:CloudRunFunction"
    args_type = CloudRunFunctionArgs
    provider_for_target = staticmethod(provider_for_target)
