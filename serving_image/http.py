"""HTTP helpers shared by the protocol adapters: content-type checks, JSON decoding and encoding with
orjson (NumPy arrays are written directly), and the ``{"error": ...}`` response."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import numpy as np
import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .errors import NotAcceptable, ServingError, UnsupportedMediaType
from .tensors import encode_strings

JSON = "application/json"
JSON_TYPES = frozenset({JSON, "text/json"})
_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def media_type(header: str | None) -> str | None:
    """``"application/json; charset=utf-8"`` → ``"application/json"``; ``None`` when absent or empty."""
    if not header:
        return None
    value = header.split(";", 1)[0].strip().lower()
    return value or None


def is_json(content_type: str | None) -> bool:
    return content_type is None or content_type in JSON_TYPES or content_type.endswith("+json")


# Raw Content-Type header → media type. Clients send a handful of distinct values; bounded all the same.
_MEDIA_TYPES: dict[bytes, str | None] = {}


def _request_media_type(request: Request) -> str | None:
    for key, value in request.scope["headers"]:
        if key == b"content-type":
            try:
                return _MEDIA_TYPES[value]
            except KeyError:
                parsed = media_type(value.decode("latin-1"))
                if len(_MEDIA_TYPES) < 64:
                    _MEDIA_TYPES[value] = parsed
                return parsed
    return None


def require_content_type(request: Request, accepted: Iterable[str] = (JSON,)) -> str:
    """The request's media type, or JSON when it sends none. Raises 415 for anything not accepted."""
    content_type = _request_media_type(request)
    accepted = tuple(accepted)
    if is_json(content_type) and JSON in accepted:
        return JSON
    if content_type in accepted:
        return content_type
    raise UnsupportedMediaType(
        f"Content-Type {content_type!r} is not supported on {request.url.path}; send one of: {', '.join(accepted)}"
    )


class Endpoint:
    """A handler ``async (request) -> response`` as a plain ASGI app, for ``Route``.

    Starlette wraps function endpoints in a second exception-handling layer per request; errors raised here
    reach the same app-wide handlers through ``ExceptionMiddleware``, for less work per request."""

    __slots__ = ("handler", "__name__")

    def __init__(self, handler: Callable[[Request], Awaitable[Response]]) -> None:
        self.handler = handler
        self.__name__ = getattr(handler, "__name__", type(self).__name__)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.handler(Request(scope, receive, send))
        await response(scope, receive, send)


async def read_body(request: Request) -> bytes:
    """The whole body, read straight from the ASGI channel (Starlette's ``Request.body`` goes through an
    async generator, which costs more than the rest of a small request's decoding)."""
    receive = request.receive
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def negotiate(request: Request, offered: Iterable[str], default: str = JSON) -> str:
    """Pick the response media type from ``Accept``: the first offered type it lists, the default for
    ``*/*`` or no header, and 406 otherwise."""
    header = request.headers.get("accept")
    if not header:
        return default
    wanted = [media_type(part) for part in header.split(",")]
    offered = tuple(offered)
    for candidate in wanted:
        if candidate in ("*/*", "application/*") or candidate is None:
            return default
        if candidate in offered:
            return candidate
        if candidate in JSON_TYPES and JSON in offered:
            return JSON
    raise NotAcceptable(f"Accept {header!r} lists no format this route answers in; it offers {', '.join(offered)}")


def _default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return encode_strings(value)
        return np.ascontiguousarray(value).tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return encode_strings(np.asarray(value, dtype=object))
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def dumps(payload: Any) -> bytes:
    return orjson.dumps(payload, default=_default, option=_OPTIONS)


class JSONBytesResponse(Response):
    """A response whose body is already JSON bytes; its two headers are built directly (Starlette's generic
    header assembly is a measurable share of a small prediction's cost)."""

    media_type = JSON

    def __init__(self, body: bytes, status_code: int = 200) -> None:
        self.status_code = status_code
        self.body = body
        self.background = None
        self.raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]


def json_response(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    if headers:
        return Response(dumps(payload), status_code=status, media_type=JSON, headers=headers)
    return JSONBytesResponse(dumps(payload), status)


def error_response(error: ServingError, extra: Mapping[str, Any] | None = None) -> Response:
    body: dict[str, Any] = {"error": error.message}
    if extra:
        body.update(extra)
    return Response(orjson.dumps(body), status_code=error.status, media_type=JSON)
