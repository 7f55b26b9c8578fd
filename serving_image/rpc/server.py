"""The gRPC front end: ``grpc.aio`` in the server's own event loop, on ``GRPC_PORT``, serving KServe V2
``inference.GRPCInferenceService``, TF Serving ``PredictionService.Predict`` and
``ModelService.GetModelStatus``, and ``grpc.health.v1.Health``. Every call is counted and timed like an HTTP
request, and every error is a :class:`ServingError` mapped to the gRPC code of its HTTP status."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import grpc

from ..errors import ServingError
from ..service import Service
from .health import HealthServicer
from .kserve import KServeServicer
from .protos import health_service_pb2_grpc, open_inference_service_pb2_grpc, tfserving_service_pb2_grpc
from .tfserving import TFServingServicer

log = logging.getLogger("serving_image")

# The gRPC code for each HTTP status the server answers with, so both protocols fail the same way.
GRPC_CODES: dict[int, grpc.StatusCode] = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    404: grpc.StatusCode.NOT_FOUND,
    406: grpc.StatusCode.INVALID_ARGUMENT,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    415: grpc.StatusCode.INVALID_ARGUMENT,
    500: grpc.StatusCode.INTERNAL,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}

Handler = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
# Codes that are the caller's doing: the span is not marked as a server error.
_CLIENT_SIDE = frozenset({"OK", "CANCELLED", "INVALID_ARGUMENT", "NOT_FOUND", "RESOURCE_EXHAUSTED"})


def _model_of(request: Any, models: dict[str, Any]) -> str:
    """The served model a call names (V2 ``model_name`` or ``name``, TF Serving ``model_spec.name``), or ""."""
    name = getattr(request, "model_name", None)
    if name is None:
        spec = getattr(request, "model_spec", None)
        name = spec.name if spec is not None else getattr(request, "name", "")
    return name if name in models else ""


def grpc_code(error: ServingError) -> grpc.StatusCode:
    return GRPC_CODES.get(error.status, grpc.StatusCode.UNKNOWN)


class GrpcFrontEnd:
    """Owns the ``grpc.aio`` server. ``start`` binds and serves; ``stop`` refuses new calls at once and lets
    the calls in flight finish within the grace period (the SIGTERM drain)."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.server: grpc.aio.Server | None = None
        self.port: int | None = None
        self._stopping: asyncio.Task[None] | None = None

    def _wrap(self, path: str, handler: Handler) -> Handler:
        counts = self.service.counts
        metrics = self.service.metrics
        models = self.service.repository.models
        tracing = self.service.tracing

        async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            counts.accepted += 1
            status = "OK"
            span = None
            if tracing is not None:
                metadata = context.invocation_metadata() or ()
                span = tracing.start_server_span(
                    path.lstrip("/"),
                    {key: value for key, value in metadata if key in ("traceparent", "tracestate")},
                    {"rpc.system": "grpc", "rpc.method": path},
                )
                context.set_trailing_metadata((("traceparent", tracing.traceparent(span)),))
            try:
                return await handler(request, context)
            except ServingError as exc:
                code = grpc_code(exc)
                status = code.name
                await context.abort(code, exc.message)
            except asyncio.CancelledError:
                status = "CANCELLED"  # the client went away or its deadline passed
                raise
            except grpc.aio.AbortError:
                status = context.code().name if context.code() is not None else "UNKNOWN"
                raise
            except Exception as exc:
                log.exception("internal error on %s", path)
                status = "INTERNAL"
                await context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}")
            finally:
                counts.finished += 1
                if status != "CANCELLED":
                    counts.answered += 1
                model = _model_of(request, models)
                metrics.observe_request(model, "grpc", path, status, time.perf_counter() - started)
                if span is not None:
                    span[0].set_attribute("rpc.grpc.status_code", status)
                    span[0].set_attribute("modelport.model", model)
                    tracing.end_server_span(span, status, status not in _CLIENT_SIDE)

        return call

    def _servicer(self, service_name: str, implementation: Any, methods: list[str]) -> SimpleNamespace:
        return SimpleNamespace(
            **{name: self._wrap(f"/{service_name}/{name}", getattr(implementation, name)) for name in methods}
        )

    async def start(self, host: str, port: int) -> int:
        settings = self.service.settings
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", settings.max_request_bytes),
                ("grpc.max_send_message_length", -1),
                ("grpc.so_reuseport", 0),  # a second server on a taken port must fail, not share it
            ]
        )
        kserve = KServeServicer(self.service)
        open_inference_service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
            self._servicer(
                "inference.GRPCInferenceService",
                kserve,
                ["ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata", "ModelInfer"],
            ),
            server,
        )
        tfserving = TFServingServicer(self.service)
        tfserving_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            self._servicer("tensorflow.serving.PredictionService", tfserving, ["Predict"]), server
        )
        tfserving_service_pb2_grpc.add_ModelServiceServicer_to_server(
            self._servicer("tensorflow.serving.ModelService", tfserving, ["GetModelStatus"]), server
        )
        health = HealthServicer(self.service)
        # Watch is a stream: not counted as a request, it lives as long as the caller wants.
        health_service_pb2_grpc.add_HealthServicer_to_server(
            SimpleNamespace(Check=self._wrap("/grpc.health.v1.Health/Check", health.Check), Watch=health.Watch),
            server,
        )
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        bound = server.add_insecure_port(address)
        if bound == 0:
            raise OSError(f"cannot bind the gRPC port {address} (GRPC_PORT)")
        await server.start()
        self.server, self.port = server, bound
        return bound

    def begin_stop(self, grace_s: float) -> asyncio.Task[None]:
        """Refuse new calls now; finish the ones in flight within ``grace_s``. Idempotent."""
        if self._stopping is None:
            self._stopping = asyncio.get_running_loop().create_task(self._stop(grace_s), name="grpc-stop")
        return self._stopping

    async def _stop(self, grace_s: float) -> None:
        if self.server is not None:
            await self.server.stop(grace_s)
