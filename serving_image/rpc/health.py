"""``grpc.health.v1.Health``: SERVING once the model is loaded and warm, NOT_SERVING while loading, after a
failed load and while draining, the same as the HTTP readiness routes. The empty service name, each served
gRPC service and the model's name are known; anything else is NOT_FOUND."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from ..errors import NotFound
from ..repository import State
from ..service import Service
from .protos import health_pb2

SERVICES = frozenset(
    {
        "",
        "inference.GRPCInferenceService",
        "tensorflow.serving.PredictionService",
        "tensorflow.serving.ModelService",
    }
)
_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
# How often Watch looks at the state; the state changes a handful of times in a server's life.
_WATCH_INTERVAL_S = 0.25


class HealthServicer:
    def __init__(self, service: Service) -> None:
        self.service = service

    def _known(self, name: str) -> bool:
        repository = self.service.repository
        return name in SERVICES or name == repository.name or name in repository.models

    def _status(self) -> int:
        return _SERVING if self.service.repository.ready else _NOT_SERVING

    async def Check(self, request: Any, context: Any) -> Any:  # noqa: N802
        if not self._known(request.service):
            raise NotFound(f"unknown service {request.service!r}")
        return health_pb2.HealthCheckResponse(status=self._status())

    async def Watch(self, request: Any, context: Any) -> AsyncIterator[Any]:  # noqa: N802
        if not self._known(request.service):
            yield health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVICE_UNKNOWN)
            return
        last = None
        while True:
            status = self._status()
            if status != last:
                yield health_pb2.HealthCheckResponse(status=status)
                last = status
            if self.service.repository.state is State.UNLOADING:
                return  # draining: NOT_SERVING was sent; an open stream must not hold the drain
            await asyncio.sleep(_WATCH_INTERVAL_S)
