"""Pure ASGI middleware around every route: the request size limit (413), in-flight and per-route request
metrics, and a count of accepted and answered requests that the SIGTERM drain reports."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import PayloadTooLarge
from .metrics import Metrics


@dataclass
class RequestCounts:
    """Requests that reached the app, those that got a complete response, and those that left it."""

    accepted: int = 0
    answered: int = 0
    finished: int = 0

    @property
    def in_flight(self) -> int:
        return self.accepted - self.finished


class FastRoutes(Protocol):
    """Routes the middleware answers itself, bypassing ``app``: see ``serving_image.app.HotRoutes``."""

    def match(self, scope: Scope) -> tuple[Any, dict[str, Any]] | None: ...

    async def serve(self, route: Any, path_params: dict[str, Any], scope: Scope, receive: Receive, send: Send) -> int:
        """Answer the request and return the status sent."""
        ...


class ServingMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        max_request_bytes: int,
        counts: RequestCounts,
        fast: FastRoutes | None = None,
        model_label: Callable[[Scope, str], str] = lambda scope, route: "",
        tracing: Any = None,
    ) -> None:
        self.app = app
        self.tracing = tracing
        self.model_label = model_label
        self.metrics = metrics
        self.max_bytes = max_request_bytes
        self.counts = counts
        self.fast = fast
        metrics.measure_in_flight(lambda: counts.in_flight)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        counts = self.counts
        counts.accepted += 1
        status, completed = 500, False
        tracked: _TrackedSend | None = None
        span = None
        if self.tracing is not None:
            traceparent, tracestate = _trace_headers(scope["headers"])
            span = self.tracing.start_server_span(
                f"{scope['method']} {scope['path']}",
                traceparent,
                tracestate,
                {"http.request.method": scope["method"], "url.path": scope["path"], "rpc.system": "http"},
            )
            if span.traceparent:
                send = _with_header(send, b"traceparent", span.traceparent.encode())
        try:
            declared = _content_length(scope)
            if declared is not None and declared > self.max_bytes:
                self.metrics.rejections.labels(reason="too_large").inc()
                drained = declared <= self.max_bytes * _DRAIN_FACTOR and await _drain(receive)
                await _send_too_large(send, declared, self.max_bytes, keep_alive=drained)
                status, completed = 413, True
                return
            # With a declared length within the limit, the HTTP parser delivers no more than that: only bodies
            # of unknown length need counting.
            limited = receive if declared is not None else self._limited(receive)
            fast = self.fast.match(scope) if self.fast is not None else None
            if fast is not None:
                status = await self.fast.serve(fast[0], fast[1], scope, limited, send)  # type: ignore[union-attr]
                completed = True
            else:
                tracked = _TrackedSend(send)
                await self.app(scope, limited, tracked)
        finally:
            if tracked is not None:
                status, completed = tracked.status, tracked.completed
            counts.finished += 1
            if completed:
                counts.answered += 1
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            model = self.model_label(scope, template)
            self.metrics.observe_request(model, "http", template, status, time.perf_counter() - started)
            if span is not None:
                self.tracing.end_server_span(
                    span,
                    str(status),
                    status >= 500,
                    f"{scope['method']} {template}",
                    **{"http.response.status_code": status, "modelport.model": model},
                )

    def _limited(self, receive: Receive) -> Receive:
        """Count body bytes as they arrive, for chunked bodies that declare no length."""
        received = 0
        limit = self.max_bytes
        metrics = self.metrics

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    metrics.rejections.labels(reason="too_large").inc()
                    if message.get("more_body", False) and received <= limit * _DRAIN_FACTOR:
                        await _drain(receive)
                    raise PayloadTooLarge(f"the request body is over the {limit}-byte limit (MAX_REQUEST_BYTES)")
            return message

        return limited


def _trace_headers(headers: list[tuple[bytes, bytes]]) -> tuple[str | None, str | None]:
    """The request's ``traceparent`` (``None`` when absent or sent more than once, which W3C Trace Context
    treats as invalid) and ``tracestate`` (several header fields joined with commas, RFC 9110 5.3)."""
    traceparent: str | None = None
    states: list[str] = []
    seen = 0
    for key, value in headers:
        if key == b"traceparent":
            traceparent = value.decode("latin-1")
            seen += 1
        elif key == b"tracestate":
            states.append(value.decode("latin-1"))
    if seen != 1:
        return None, None
    return traceparent, ",".join(states) if states else None


def _with_header(send: Send, name: bytes, value: bytes) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (name, value)]}
        await send(message)

    return wrapped


class _TrackedSend:
    """``send`` that notes the status and whether the whole body went out, for responses the app builds."""

    __slots__ = ("send", "status", "completed")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.status = 500
        self.completed = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            self.completed = True
        await self.send(message)


# A client still sending gets a broken pipe, not the 413, if the server answers and closes mid-body. Bodies up
# to this multiple of the limit are read and dropped first (cheap on a local network); beyond it, close.
_DRAIN_FACTOR = 8


async def _drain(receive: Receive) -> bool:
    """Read and drop the rest of the body; False if the client went away."""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return False
        if not message.get("more_body", False):
            return True


def _content_length(scope: Scope) -> int | None:
    for key, value in scope["headers"]:
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_too_large(send: Send, declared: int, limit: int, keep_alive: bool) -> None:
    body = orjson.dumps(
        {"error": f"the request body of {declared} bytes is over the {limit}-byte limit (MAX_REQUEST_BYTES)"}
    )
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if not keep_alive:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
