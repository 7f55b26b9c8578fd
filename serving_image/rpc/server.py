"""The gRPC front end, in the server's own event loop, on ``GRPC_PORT``: KServe V2
``inference.GRPCInferenceService``, TF Serving ``PredictionService.Predict`` and ``ModelService.GetModelStatus``,
and ``grpc.health.v1.Health`` (Check and the server-streaming Watch).

The transport is :mod:`serving_image.rpc.h2` (HTTP/2 cleartext, prior knowledge: what gRPC clients, Envoy,
the ALB's GRPC target groups and Cloud Run's end-to-end HTTP/2 speak). This module is gRPC on top of it: the
method table (built from the vendored services' descriptors), message framing (with gzip and deflate request
compression), ``grpc-timeout`` deadlines, status trailers, metadata (``-bin`` values base64-decoded), and the
mapping of every :class:`ServingError` to the gRPC code of its HTTP status. Every call is counted and timed
like an HTTP request, and goes through the same ``Predictor.predict`` and batchers."""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import time
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from google.protobuf.message import DecodeError

from ..errors import ServingError
from ..service import Service
from . import h2
from .h2 import hpack_integer, hpack_literal, hpack_string
from .health import HealthServicer
from .kserve import KServeServicer
from .protos import health_pb2
from .protos import open_inference_pb2 as v2
from .protos import tfserving_pb2 as tfs
from .status import CODES, CallError
from .tfserving import TFServingServicer

log = logging.getLogger("serving_image")

# The gRPC code for each HTTP status the server answers with, so both protocols fail the same way.
GRPC_CODES: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    404: "NOT_FOUND",
    406: "INVALID_ARGUMENT",
    413: "RESOURCE_EXHAUSTED",
    415: "INVALID_ARGUMENT",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
# Codes that are the caller's doing: the span is not marked as a server error.
_CLIENT_SIDE = frozenset(
    {"OK", "CANCELLED", "INVALID_ARGUMENT", "NOT_FOUND", "FAILED_PRECONDITION", "RESOURCE_EXHAUSTED", "UNIMPLEMENTED"}
)
ACCEPT_ENCODING = "identity,deflate,gzip"
MIN_HELD_BYTES = 64 << 20
_TIMEOUT = re.compile(r"([0-9]{1,8})([HMSmun])")
_TIMEOUT_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}


def grpc_code(error: ServingError) -> str:
    return GRPC_CODES.get(error.status, "UNKNOWN")


# -- HPACK for what we send: literals without indexing (h2.hpack_*), so no state is shared with the peer's decoder


_STATUS_200 = b"\x88"  # ":status: 200", static table index 8
_CONTENT_TYPE = hpack_integer(31, 4, 0) + hpack_string(b"application/grpc")  # static name index 31, literal value
RESPONSE_HEADERS = _STATUS_200 + _CONTENT_TYPE
TRAILERS_OK = hpack_literal("grpc-status", "0")


def _status_block(code: str, message: str, trailing: tuple[tuple[str, str], ...] = ()) -> bytes:
    block = hpack_literal("grpc-status", str(CODES[code]))
    if message:
        # Percent-encoded UTF-8, as the gRPC HTTP/2 protocol defines grpc-message.
        block += hpack_literal("grpc-message", quote(message, safe=" !\"#$&'()*+,-./:;<=>?@[\\]^_`{|}~"))
    if code == "UNIMPLEMENTED":
        block += hpack_literal("grpc-accept-encoding", ACCEPT_ENCODING)
    for key, value in trailing:
        block += hpack_literal(key, value)
    return block


def _http_status(status: int) -> bytes:
    """A plain HTTP answer for what is not a gRPC request (wrong method or content type)."""
    return hpack_integer(8, 4, 0) + hpack_string(str(status).encode()) + hpack_literal("content-type", "text/plain")


class CallContext:
    """What a servicer sees of the call: its metadata (pseudo-headers and transport headers left out)."""

    __slots__ = ("_metadata", "trailing")

    def __init__(self, metadata: tuple[tuple[str, str | bytes], ...]) -> None:
        self._metadata = metadata
        self.trailing: tuple[tuple[str, str], ...] = ()

    def invocation_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        return self._metadata


@dataclass(frozen=True)
class Method:
    path: str
    request: type
    handler: Callable[[Any, CallContext], Any]
    streaming: bool  # server streaming (health Watch): the handler is an async generator


# The served methods: (service, method, request message, server streaming). Written out rather than read from
# the ``*_service_pb2`` descriptors: loading those would register the service names (``inference.GRPCInferenceService``)
# in the process's descriptor pool, where a client library's own copy (tritonclient's) may already sit.
SERVICES: tuple[tuple[str, str, type, bool], ...] = (
    *(
        ("inference.GRPCInferenceService", name, getattr(v2, f"{name}Request"), False)
        for name in ("ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata", "ModelInfer")
    ),
    ("tensorflow.serving.PredictionService", "Predict", tfs.PredictRequest, False),
    ("tensorflow.serving.ModelService", "GetModelStatus", tfs.GetModelStatusRequest, False),
    ("grpc.health.v1.Health", "Check", health_pb2.HealthCheckRequest, False),
    ("grpc.health.v1.Health", "Watch", health_pb2.HealthCheckRequest, True),
)


def _model_of(request: Any, models: dict[str, Any]) -> str:
    """The served model a call names (V2 ``model_name`` or ``name``, TF Serving ``model_spec.name``), or ""."""
    name = getattr(request, "model_name", None)
    if name is None:
        spec = getattr(request, "model_spec", None)
        name = spec.name if spec is not None else getattr(request, "name", "")
    return name if name in models else ""


def _metadata(pairs: list[tuple[str, str]]) -> tuple[tuple[str, str | bytes], ...]:
    out: list[tuple[str, str | bytes]] = []
    for key, value in pairs:
        if key.endswith("-bin"):
            try:
                out.append((key, base64.b64decode(value + "=" * (-len(value) % 4))))
            except ValueError:
                raise CallError("INVALID_ARGUMENT", f"metadata {key!r} is not base64") from None
        else:
            out.append((key, value))
    return tuple(out)


def _trace_metadata(metadata: tuple[tuple[str, str | bytes], ...]) -> tuple[str | None, str | None]:
    """The call's ``traceparent`` (``None`` when absent or sent more than once) and ``tracestate`` (several
    entries joined with commas)."""
    traceparent: str | None = None
    states: list[str] = []
    seen = 0
    for key, value in metadata:
        if key == "traceparent":
            traceparent = value if isinstance(value, str) else None
            seen += 1
        elif key == "tracestate" and isinstance(value, str):
            states.append(value)
    if seen != 1:
        return None, None
    return traceparent, ",".join(states) if states else None


class GrpcFrontEnd:
    """Owns the listener and the connections. ``start`` binds and serves; ``begin_stop`` refuses new
    connections and streams at once (GOAWAY) and lets the calls in flight finish within the grace period
    (the SIGTERM drain)."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.max_message_bytes = service.settings.max_request_bytes
        # Unfinished request bodies held across every connection: a peer that opens many streams and never
        # ends them cannot make the server buffer more than this. Complete requests are bounded by the queue.
        self.max_held_bytes = max(MIN_HELD_BYTES, 4 * self.max_message_bytes)
        self.held_bytes = 0
        self.server: asyncio.AbstractServer | None = None
        self.port: int | None = None
        self.connections: set[h2.H2Connection] = set()
        self._stopping: asyncio.Task[None] | None = None
        tfserving = TFServingServicer(service)
        implementations = {
            "inference.GRPCInferenceService": KServeServicer(service),
            "tensorflow.serving.PredictionService": tfserving,
            "tensorflow.serving.ModelService": tfserving,
            "grpc.health.v1.Health": HealthServicer(service),
        }
        self.methods: dict[str, Method] = {
            f"/{name}/{method}": Method(f"/{name}/{method}", request, getattr(implementations[name], method), streams)
            for name, method, request, streams in SERVICES
        }

    # -- h2.Dispatcher ---------------------------------------------------------------------------------------

    def dispatch(self, connection: h2.H2Connection, stream: h2.Stream) -> None:
        path = method = content_type = timeout = encoding = None
        metadata: list[tuple[str, str]] = []
        for key, value in stream.headers:
            if key[0] == ":":
                if key == ":path":
                    path = value
                elif key == ":method":
                    method = value
            elif key == "content-type":
                content_type = value
            elif key == "grpc-timeout":
                timeout = value
            elif key == "grpc-encoding":
                encoding = value
            elif key not in ("te", "grpc-accept-encoding", "user-agent", "host"):
                metadata.append((key, value))
        if method != "POST":
            connection.trailers_only(stream, _http_status(405))
            return
        if content_type is None or not content_type.startswith("application/grpc"):
            connection.trailers_only(stream, _http_status(415))
            return
        entry = self.methods.get(path or "")
        if entry is None:
            self._answer_error(connection, stream, "UNIMPLEMENTED", f"unknown method {path!r}")
            return
        stream.task = asyncio.get_running_loop().create_task(
            self._call(connection, stream, entry, metadata, timeout, encoding)
        )

    def reserve(self, size: int) -> bool:
        if self.held_bytes + size > self.max_held_bytes:
            return False
        self.held_bytes += size
        return True

    def release(self, size: int) -> None:
        self.held_bytes -= size

    def busy(self, connection: h2.H2Connection, stream: h2.Stream) -> None:
        self.service.metrics.rejections.labels(reason="request_bodies_held").inc()
        self._answer_error(
            connection,
            stream,
            "UNAVAILABLE",
            f"the server holds {self.max_held_bytes} bytes of unfinished requests already; retry",
        )

    def too_large(self, connection: h2.H2Connection, stream: h2.Stream) -> None:
        self._answer_error(
            connection,
            stream,
            "RESOURCE_EXHAUSTED",
            f"the request message is larger than {self.max_message_bytes} bytes (MAX_REQUEST_BYTES)",
        )

    def _answer_error(self, connection: h2.H2Connection, stream: h2.Stream, code: str, message: str) -> None:
        connection.trailers_only(stream, RESPONSE_HEADERS + _status_block(code, message))
        self.service.metrics.observe_request("", "grpc", "unknown", code, 0.0)

    # -- calls -----------------------------------------------------------------------------------------------

    def _request(self, entry: Method, body: bytearray, encoding: str | None) -> Any:
        if len(body) < 5:
            raise CallError("INVALID_ARGUMENT", "the call carries no request message")
        flag = body[0]
        length = int.from_bytes(body[1:5], "big")
        if 5 + length != len(body):
            raise CallError("INVALID_ARGUMENT", "a unary call carries exactly one request message")
        payload = bytes(body[5:])
        if flag == 1:
            if encoding in (None, "identity"):
                raise CallError("INTERNAL", "a compressed message without grpc-encoding")
            payload = self._decompress(payload, encoding)
        elif flag != 0:
            raise CallError("INTERNAL", f"message flag {flag} (0: plain, 1: compressed)")
        try:
            return entry.request.FromString(payload)
        except DecodeError as exc:
            raise CallError("INVALID_ARGUMENT", f"cannot parse the {entry.request.DESCRIPTOR.name}: {exc}") from None

    def _decompress(self, payload: bytes, encoding: str) -> bytes:
        if encoding not in ("gzip", "deflate"):
            raise CallError("UNIMPLEMENTED", f"grpc-encoding {encoding!r}; this server accepts {ACCEPT_ENCODING}")
        inflater = zlib.decompressobj(31 if encoding == "gzip" else 15)
        try:
            out = inflater.decompress(payload, self.max_message_bytes + 1)
        except zlib.error as exc:
            raise CallError("INTERNAL", f"cannot decompress the {encoding} message: {exc}") from None
        if len(out) > self.max_message_bytes or inflater.unconsumed_tail:
            raise CallError(
                "RESOURCE_EXHAUSTED",
                f"the request message is larger than {self.max_message_bytes} bytes (MAX_REQUEST_BYTES) decompressed",
            )
        if not inflater.eof:
            raise CallError("INTERNAL", f"the {encoding} message is truncated")
        return out

    async def _call(
        self,
        connection: h2.H2Connection,
        stream: h2.Stream,
        entry: Method,
        headers: list[tuple[str, str]],
        timeout: str | None,
        encoding: str | None,
    ) -> None:
        service = self.service
        counts = service.counts
        tracing = service.tracing
        started = time.perf_counter()
        counts.accepted += 1
        code, message = "OK", ""
        span = request = None
        context = CallContext(())
        try:
            try:
                metadata = _metadata(headers)
                context = CallContext(metadata)
                if tracing is not None:
                    traceparent, tracestate = _trace_metadata(metadata)
                    span = tracing.start_server_span(
                        entry.path.lstrip("/"),
                        traceparent,
                        tracestate,
                        {"rpc.system": "grpc", "rpc.method": entry.path},
                    )
                    if span.traceparent:
                        context.trailing = (("traceparent", span.traceparent),)
                seconds = _deadline(timeout)
                request = self._request(entry, stream.body, encoding)
                stream.body = bytearray()
                if entry.streaming:
                    await self._stream(connection, stream, entry.handler(request, context), seconds)
                    return
                if seconds is None:
                    response = await entry.handler(request, context)
                else:
                    response = await asyncio.wait_for(entry.handler(request, context), seconds)
                payload = response.SerializeToString()
                connection.respond(
                    stream,
                    RESPONSE_HEADERS,
                    b"\x00" + len(payload).to_bytes(4, "big") + payload,
                    TRAILERS_OK + b"".join(hpack_literal(k, v) for k, v in context.trailing),
                )
            except CallError as exc:
                code, message = exc.code, exc.message
            except ServingError as exc:
                code, message = grpc_code(exc), exc.message
            except asyncio.TimeoutError:
                code, message = "DEADLINE_EXCEEDED", f"the call's grpc-timeout ({timeout}) passed"
            except asyncio.CancelledError:
                code = "CANCELLED"  # the client reset the stream or went away
                raise
            except Exception as exc:
                log.exception("internal error on %s", entry.path)
                code, message = "INTERNAL", f"internal error: {type(exc).__name__}: {exc}"
            if code != "OK":
                connection.trailers_only(stream, RESPONSE_HEADERS + _status_block(code, message, context.trailing))
        finally:
            counts.finished += 1
            if code != "CANCELLED":
                counts.answered += 1
            model = _model_of(request, service.repository.models) if request is not None else ""
            service.metrics.observe_request(model, "grpc", entry.path, code, time.perf_counter() - started)
            if span is not None:
                tracing.end_server_span(
                    span, code, code not in _CLIENT_SIDE, **{"rpc.grpc.status_code": code, "modelport.model": model}
                )

    async def _stream(
        self, connection: h2.H2Connection, stream: h2.Stream, messages: AsyncIterator[Any], seconds: float | None
    ) -> None:
        """A server-streaming call: headers with the first message, each message as it comes, then OK."""
        headers: bytes | None = RESPONSE_HEADERS
        deadline = None if seconds is None else asyncio.get_running_loop().time() + seconds
        while True:
            left = None if deadline is None else deadline - asyncio.get_running_loop().time()
            try:
                response = await asyncio.wait_for(anext(messages), left) if left is not None else await anext(messages)
            except StopAsyncIteration:
                break
            payload = response.SerializeToString()
            connection.respond(stream, headers, b"\x00" + len(payload).to_bytes(4, "big") + payload, None)
            headers = None
        if headers is not None:  # no message at all: a trailers-only OK
            connection.trailers_only(stream, RESPONSE_HEADERS + TRAILERS_OK)
        else:
            connection.respond(stream, None, b"", TRAILERS_OK)

    # -- listener and drain ----------------------------------------------------------------------------------

    def _connection(self) -> h2.H2Connection:
        connection = h2.H2Connection(self, self.connections.discard)
        self.connections.add(connection)
        return connection

    async def start(self, host: str, port: int, reuse_port: bool = False) -> int:
        """Bind and serve. ``reuse_port``: the other workers of WORKERS > 1 bind the same port."""
        loop = asyncio.get_running_loop()
        try:
            # reuse_address: a port in TIME_WAIT binds; a port another server listens on still fails.
            server = await loop.create_server(
                self._connection, host, port, reuse_address=True, reuse_port=reuse_port or None, backlog=1024
            )
        except OSError as exc:
            address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            raise OSError(f"cannot bind the gRPC port {address} (GRPC_PORT): {exc.strerror or exc}") from None
        self.server = server
        self.port = server.sockets[0].getsockname()[1]
        return self.port

    def begin_stop(self, grace_s: float) -> asyncio.Task[None]:
        """Refuse new connections and streams now; finish the calls in flight within ``grace_s``. Idempotent."""
        if self._stopping is None:
            self._stopping = asyncio.get_running_loop().create_task(self._stop(grace_s), name="grpc-stop")
        return self._stopping

    async def _stop(self, grace_s: float) -> None:
        loop = asyncio.get_running_loop()
        if self.server is not None:
            # As for HTTP (serving_image/server.py): connections the kernel completed but nobody accepted yet
            # would be reset by the close; they are taken from a duplicate of the listener and sent GOAWAY, so
            # their clients retry elsewhere.
            from ..server import _accept_all, _duplicate

            held = [_duplicate(sock) for sock in self.server.sockets or ()]
            self.server.close()
            backlog = [conn for sock in held for conn in _accept_all(sock)]
            for sock in held:  # in the same step as the accepts: nothing new can queue and be reset
                sock.close()
            for conn in backlog:
                await loop.connect_accepted_socket(self._connection, conn)
        deadline = loop.time() + grace_s
        connections = list(self.connections)
        for connection in connections:
            connection.goaway()
        waits = [asyncio.ensure_future(c.wait_idle()) for c in connections]
        if waits:
            _, pending = await asyncio.wait(waits, timeout=grace_s)
            for future in pending:
                future.cancel()
        # Idle connections linger (h2.LINGER_S) for their clients to close them first; wait for that, in the grace.
        lost = [c.lost for c in self.connections if c.lost is not None and not c.lost.done()]
        if lost:
            await asyncio.wait(lost, timeout=max(0.0, min(h2.LINGER_S, deadline - loop.time())))
        for connection in list(self.connections):
            connection.cancel_all()


def _deadline(value: str | None) -> float | None:
    if value is None:
        return None
    match = _TIMEOUT.fullmatch(value)
    if match is None:
        raise CallError("INVALID_ARGUMENT", f"grpc-timeout {value!r} is not 1 to 8 digits and a unit of H M S m u n")
    return int(match.group(1)) * _TIMEOUT_UNITS[match.group(2)]
