"""A fast OTLP trace encoder: the protobuf wire bytes of an ``ExportTraceServiceRequest`` written directly from
the SDK's ``ReadableSpan`` fields, instead of building one upb message per span, attribute and value in Python
(``opentelemetry.exporter.otlp.proto.common.trace_encoder.encode_spans``, 60-120 µs a span, in the batch
processor's thread and holding the GIL against the event loop).

The output is the same message the SDK's encoder builds, field for field: spans grouped by resource and then by
instrumentation scope the way the SDK groups them, and every field its ``_encode_span`` sets. Encoded
(key, value) attribute pairs, span names, resources and scopes are kept in small bounded caches, because the
server's spans repeat them. A batch holding anything this encoder does not know (an attribute value that is
not a str, bool, int64, float, bytes, None or a list or tuple of those; a subclass of one; a mapping) goes
through the SDK's encoder instead, whole, so the result is always what the SDK would send."""

from __future__ import annotations

import collections
import logging
import os
import struct
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry import context as context_api
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as _GrpcSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace import SpanProcessor as SDKSpanProcessor
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode

_logger = logging.getLogger(__name__)

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_UINT32_MAX = (1 << 32) - 1
_UINT64_MASK = (1 << 64) - 1
_CACHE_LIMIT = 2048  # entries per cache; a full cache is emptied and refills with what recurs
_CACHED_SIZE = 256  # bytes: longer encodings (long strings, big bytes values) are not kept

_DOUBLE = struct.Struct("<d").pack
_FIXED64 = struct.Struct("<Q").pack
_TIMES = struct.Struct("<BQBQ").pack  # span fields 7 and 8 (fixed64), tag bytes 0x39 and 0x41
_SMALL = [bytes((n,)) for n in range(128)]

# Span.flags (field 16, fixed32; tag varint 0x85 0x01) and Link.flags (field 6, fixed32; tag 0x35):
# SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK (0x100), with SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK (0x200) when remote.
_SPAN_FLAGS = (b"\x85\x01\x00\x01\x00\x00", b"\x85\x01\x00\x03\x00\x00")
_LINK_FLAGS = (b"\x35\x00\x01\x00\x00", b"\x35\x00\x03\x00\x00")


class Unsupported(Exception):
    """Something the fast encoder does not encode; the batch goes through the SDK's encoder."""


def _varint(value: int) -> bytes:
    if value < 0x80:
        return _SMALL[value]
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: its tag, the payload's length and the payload."""
    return tag + _varint(len(payload)) + payload


def _uint32(tag: bytes, value: Any) -> bytes:
    """A uint32 field, absent when zero (proto3)."""
    if type(value) is not int or not 0 <= value <= _UINT32_MAX:
        raise Unsupported(f"a count of {value!r}")
    return tag + _varint(value) if value else b""


def _any_value(value: Any) -> bytes:
    """The body of an ``AnyValue``: one member of its oneof (always written, even when zero or empty)."""
    kind = type(value)
    if kind is str:
        return _field(b"\x0a", value.encode())
    if kind is bool:
        return b"\x10\x01" if value else b"\x10\x00"
    if kind is int:
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise Unsupported(f"an integer outside int64: {value}")
        return b"\x18" + _varint(value & _UINT64_MASK)  # two's complement for negatives, ten bytes
    if kind is float:
        return b"\x21" + _DOUBLE(value)
    if kind is bytes:
        return _field(b"\x3a", value)
    if kind is tuple or kind is list:
        return _field(b"\x2a", b"".join([_field(b"\x0a", _any_value(item)) for item in value]))
    if value is None:
        return b""  # the SDK's empty AnyValue, as arrays may hold None
    raise Unsupported(f"an attribute value of type {kind.__name__}")


_PAIRS: dict[tuple[str, type, Any], bytes] = {}
_CACHED_TYPES = frozenset((str, bool, int, bytes))  # not float: -0.0 == 0.0 and NaN != NaN as dict keys


def _key_value(key: Any, value: Any) -> bytes:
    """A ``KeyValue`` message, length-prefixed (the caller writes the tag)."""
    kind = type(value)
    cacheable = kind in _CACHED_TYPES
    if cacheable:
        # The type is part of the key: True == 1 and hash alike, but encode differently.
        encoded = _PAIRS.get((key, kind, value))
        if encoded is not None:
            return encoded
    if type(key) is not str:
        raise Unsupported(f"an attribute key of type {type(key).__name__}")
    body = (_field(b"\x0a", key.encode()) if key else b"") + _field(b"\x12", _any_value(value))
    encoded = _varint(len(body)) + body
    if cacheable and len(encoded) <= _CACHED_SIZE:
        if len(_PAIRS) >= _CACHE_LIMIT:
            _PAIRS.clear()
        _PAIRS[(key, kind, value)] = encoded
    return encoded


def _items(attributes: Any) -> Any:
    """The (key, value) pairs of an attributes mapping; a BoundedAttributes' own dict, skipping its lock and
    its per-key Python ``__getitem__`` (it is immutable once its span ended)."""
    if type(attributes) is BoundedAttributes:
        return attributes._dict.items()
    return attributes.items() if attributes else ()


def _attributes(tag: bytes, attributes: Any) -> bytes:
    return b"".join([tag + _key_value(key, value) for key, value in _items(attributes)])


_PLAIN = frozenset({dict, list, tuple, type(None)})


def _dropped(container: Any) -> int:
    """What ReadableSpan's ``dropped_*`` properties answer for a span's own attributes, events or links."""
    if type(container) in _PLAIN:  # isinstance against these two goes through the ABC machinery: slow
        return 0
    return container.dropped if isinstance(container, (BoundedAttributes, BoundedList)) else 0


_NAMES: dict[str, bytes] = {}


def _name(name: Any) -> bytes:
    """Span.name (field 5), absent when empty."""
    encoded = _NAMES.get(name) if type(name) is str else None
    if encoded is None:
        if type(name) is not str:
            raise Unsupported(f"a span name of type {type(name).__name__}")
        encoded = _field(b"\x2a", name.encode()) if name else b""
        if len(encoded) <= _CACHED_SIZE:
            if len(_NAMES) >= _CACHE_LIMIT:
                _NAMES.clear()
            _NAMES[name] = encoded
    return encoded


def _optional_string(tag: bytes, value: Any) -> bytes:
    if value is None or value == "":
        return b""
    if type(value) is not str:
        raise Unsupported(f"a string field of type {type(value).__name__}")
    return _field(tag, value.encode())


_TRACE_STATES: dict[int, tuple[Any, bytes]] = {}


def _trace_state(trace_state: Any) -> bytes:
    """Span.trace_state (field 3) as the SDK writes it (``k=v`` joined by commas), cached by identity: a
    trace's spans share their TraceState object."""
    if trace_state is None:
        return b""
    hit = _TRACE_STATES.get(id(trace_state))
    if hit is not None and hit[0] is trace_state:
        return hit[1]
    encoded = _optional_string(b"\x1a", ",".join([f"{key}={value}" for key, value in trace_state.items()]))
    if len(_TRACE_STATES) >= 256:
        _TRACE_STATES.clear()
    _TRACE_STATES[id(trace_state)] = (trace_state, encoded)
    return encoded


def _context(context: Any) -> tuple[int, int, bool, Any]:
    """trace_id, span_id, is_remote and trace_state of a SpanContext (a tuple: unpacked in C)."""
    if type(context) is SpanContext:
        trace_id, span_id, is_remote, _, trace_state, _ = context
        return trace_id, span_id, is_remote, trace_state
    return context.trace_id, context.span_id, context.is_remote, context.trace_state


_STATUS_CODES = {id(code): code.value for code in StatusCode}
_STATUSES: dict[tuple[int, Any], bytes] = {}


def _status(status: Any) -> bytes:
    """Span.status (field 15), always present: message (2) when set, code (3) when not UNSET."""
    if type(status) is Status:
        status_code, description = status._status_code, status._description
    else:
        status_code, description = status.status_code, status.description
    code = _STATUS_CODES.get(id(status_code))
    if code is None:
        raise Unsupported(f"a status code of {status_code!r}")
    key = (code, description)
    encoded = _STATUSES.get(key) if type(description) is str or description is None else None
    if encoded is None:
        body = _optional_string(b"\x12", description) + (b"\x18" + _varint(code) if code else b"")
        encoded = _field(b"\x7a", body)
        if len(encoded) <= _CACHED_SIZE:
            if len(_STATUSES) >= 256:
                _STATUSES.clear()
            _STATUSES[key] = encoded
    return encoded


def _event(event: Any) -> bytes:
    timestamp = event.timestamp
    body = b"".join(
        (
            b"\x09" + _FIXED64(timestamp) if timestamp else b"",
            _optional_string(b"\x12", event.name),
            _attributes(b"\x1a", event.attributes),
            _uint32(b"\x20", event.dropped_attributes),
        )
    )
    return _field(b"\x5a", body)


def _link(link: Any) -> bytes:
    """One Span.links entry (field 13); a batch span carries one per request it batched."""
    if type(link) is Link:
        context, attributes = link._context, link._attributes
        if type(attributes) is BoundedAttributes:
            attributes, dropped = attributes._dict, attributes.dropped
        else:
            dropped = _dropped(attributes)
    else:
        context, attributes, dropped = link.context, link.attributes, link.dropped_attributes
    trace_id, span_id, is_remote, _ = _context(context)
    ids = b"\x0a\x10" + trace_id.to_bytes(16, "big") + b"\x12\x08" + span_id.to_bytes(8, "big")
    flags = _LINK_FLAGS[1 if is_remote else 0]
    if not attributes and not dropped:
        return b"\x6a\x21" + ids + flags  # 33 bytes: ids (28) and flags (5)
    return _field(b"\x6a", ids + _attributes(b"\x22", attributes) + _uint32(b"\x28", dropped) + flags)


_KINDS = {id(kind): bytes((0x30, kind.value + 1)) for kind in SpanKind}  # enum members hash in Python
_UNSET_STATUS = b"\x7a\x00"
_SPAN_PAIRS: dict[tuple[str, type, Any], bytes] = {}  # Span.attributes (field 9) entries, tag included


def _span(
    context: Any,
    parent: Any,
    name: Any,
    kind: Any,
    start: Any,
    end: Any,
    attributes: Any,
    events: Any,
    links: Any,
    status: Any,
    dropped: tuple[Any, Any, Any],
) -> bytes:
    """One ``Span`` from its span contexts: see :func:`span_fields`."""
    if type(context) is SpanContext:
        trace_id, span_id, _, _, trace_state, _ = context
    else:
        trace_id, span_id, _, trace_state = _context(context)
    parent_id, parent_remote = None, False
    if parent:
        if type(parent) is SpanContext:
            parent_id, parent_remote = parent[1], parent[2]
        else:
            _, parent_id, parent_remote, _ = _context(parent)
    return span_fields(
        trace_id,
        span_id,
        trace_state,
        parent_id,
        parent_remote,
        name,
        kind,
        start,
        end,
        attributes,
        events,
        links,
        status,
        dropped,
    )


def span_fields(
    trace_id: int,
    span_id: int,
    trace_state: Any,
    parent_id: int | None,
    parent_remote: bool,
    name: Any,
    kind: Any,
    start: Any,
    end: Any,
    attributes: Any,
    events: Any,
    links: Any,
    status: Any,
    dropped: tuple[Any, Any, Any],
) -> bytes:
    """One ``Span``, framed as field 2 of its ``ScopeSpans``; its fields in number order, as upb writes them
    (flags, field 16, last). The common cases are inlined: this runs once per span. ``parent_id`` is
    ``None`` for a root span."""
    hit = _TRACE_STATES.get(id(trace_state))
    parts = [
        b"\x0a\x10",
        trace_id.to_bytes(16, "big"),
        b"\x12\x08",
        span_id.to_bytes(8, "big"),
        hit[1] if hit is not None and hit[0] is trace_state else _trace_state(trace_state),
    ]
    if parent_id is not None:
        parts.append(b"\x22\x08")
        parts.append(parent_id.to_bytes(8, "big"))
    encoded = _NAMES.get(name) if type(name) is str else None
    parts.append(encoded if encoded is not None else _name(name))
    encoded = _KINDS.get(id(kind))
    if encoded is None:
        raise Unsupported(f"a span kind of {kind!r}")
    parts.append(encoded)
    if start and end:
        parts.append(_TIMES(0x39, start, 0x41, end))
    else:
        parts.append(b"\x39" + _FIXED64(start) if start else b"")
        parts.append(b"\x41" + _FIXED64(end) if end else b"")
    if type(attributes) is BoundedAttributes:  # its __len__ and items() are Python, with a lock
        attributes = attributes._dict
    if attributes:
        pairs = _SPAN_PAIRS
        for key, value in attributes.items():
            value_type = type(value)
            # The type is part of the key: True == 1 and hash alike, but encode differently.
            encoded = pairs.get((key, value_type, value)) if value_type in _CACHED_TYPES else None
            if encoded is None:
                encoded = b"\x4a" + _key_value(key, value)
                if value_type in _CACHED_TYPES and len(encoded) <= _CACHED_SIZE:
                    if len(pairs) >= _CACHE_LIMIT:
                        pairs.clear()
                    pairs[(key, value_type, value)] = encoded
            parts.append(encoded)
    dropped_attributes, dropped_events, dropped_links = dropped
    if dropped_attributes:
        parts.append(_uint32(b"\x50", dropped_attributes))
    if events:
        parts.extend([_event(event) for event in events])
    if dropped_events:
        parts.append(_uint32(b"\x60", dropped_events))
    if links:
        parts.extend([_link(link) for link in links])
    if dropped_links:
        parts.append(_uint32(b"\x70", dropped_links))
    if type(status) is Status and status._status_code is StatusCode.UNSET and status._description is None:
        parts.append(_UNSET_STATUS)
    else:
        parts.append(_status(status))
    parts.append(_SPAN_FLAGS[1 if parent_remote else 0])
    body = b"".join(parts)
    size = len(body)
    if size < 0x4000:
        return (bytes((0x12, size)) if size < 0x80 else bytes((0x12, (size & 0x7F) | 0x80, size >> 7))) + body
    return b"\x12" + _varint(size) + body


def bare_child(
    trace_id: int,
    span_id: int,
    trace_state: Any,
    parent_id: int,
    parent_remote: bool,
    name_kind: bytes,
    start: int,
    end: int,
) -> bytes:
    """What :func:`span_fields` gives for a span with a parent, start and end times, no attributes, events or
    links, an unset status, and ``name_kind`` its encoded name and kind (:func:`name_and_kind`): the queue
    spans, one per request, written in one go."""
    hit = _TRACE_STATES.get(id(trace_state))
    body = b"".join(
        (
            b"\x0a\x10",
            trace_id.to_bytes(16, "big"),
            b"\x12\x08",
            span_id.to_bytes(8, "big"),
            hit[1] if hit is not None and hit[0] is trace_state else _trace_state(trace_state),
            b"\x22\x08",
            parent_id.to_bytes(8, "big"),
            name_kind,
            _TIMES(0x39, start, 0x41, end),
            _UNSET_STATUS,
            _SPAN_FLAGS[1 if parent_remote else 0],
        )
    )
    size = len(body)
    return (bytes((0x12, size)) if size < 0x80 else b"\x12" + _varint(size)) + body


def name_and_kind(name: str, kind: Any) -> bytes:
    """A span's name and kind fields, encoded, for :func:`bare_child`."""
    encoded = _KINDS.get(id(kind))
    if encoded is None:
        raise Unsupported(f"a span kind of {kind!r}")
    return _name(name) + encoded


def _any_span(span: Any) -> bytes:
    """A ReadableSpan of another class (a subclass: the SDK's live Span, say), through its public properties."""
    return _span(
        span.get_span_context(),
        span.parent,
        span.name,
        span.kind,
        span.start_time,
        span.end_time,
        span.attributes,
        span.events,
        span.links,
        span.status,
        (span.dropped_attributes, span.dropped_events, span.dropped_links),
    )


_BLOCKS: dict[int, tuple[Any, bytes]] = {}


def _cached_block(owner: Any, build: Any) -> bytes:
    """``build(owner)``, cached by identity (the entry keeps ``owner`` alive, so its id is not reused)."""
    hit = _BLOCKS.get(id(owner))
    if hit is not None and hit[0] is owner:
        return hit[1]
    encoded = build(owner)
    if len(_BLOCKS) >= 64:
        _BLOCKS.clear()
    _BLOCKS[id(owner)] = (owner, encoded)
    return encoded


def _resource(resource: Any) -> bytes:
    """ResourceSpans.resource (field 1): the Resource's attributes, always present."""
    return _field(b"\x0a", _attributes(b"\x0a", resource.attributes))


def _scope(scope: Any) -> bytes:
    """ScopeSpans.scope (field 1): name, version and attributes, always present (empty with no scope)."""
    body = b"".join(
        (
            _optional_string(b"\x0a", scope.name),
            _optional_string(b"\x12", scope.version),
            _attributes(b"\x1a", getattr(scope, "attributes", None)),
        )
    )
    return _field(b"\x0a", body)


def encode_span(span: Any) -> tuple[Any, Any, bytes]:
    """One span's resource, instrumentation scope (``None`` for none) and encoding as a ``ScopeSpans`` entry;
    raises :class:`Unsupported` (or the error a malformed field gives) for what only the SDK's encoder handles."""
    if type(span) is ReadableSpan:
        # The SDK's own class, read from its fields: its properties copy events and links under a lock and wrap
        # attributes in a proxy, for every span.
        fields = span.__dict__
        attributes, events, links = fields["_attributes"], fields["_events"], fields["_links"]
        encoded = _span(
            fields["_context"],
            fields["_parent"],
            fields["_name"],
            fields["_kind"],
            fields["_start_time"],
            fields["_end_time"],
            attributes,
            events._dq if type(events) is BoundedList else events,
            links._dq if type(links) is BoundedList else links,
            fields["_status"],
            (
                attributes.dropped if type(attributes) is BoundedAttributes else _dropped(attributes),
                events.dropped if type(events) is BoundedList else _dropped(events),
                links.dropped if type(links) is BoundedList else _dropped(links),
            ),
        )
        return fields["_resource"], fields["_instrumentation_scope"] or None, encoded
    return span.resource, span.instrumentation_scope or None, _any_span(span)


def frame(encoded: Iterable[tuple[Any, Any, bytes]]) -> bytes:
    """The wire bytes of the ``ExportTraceServiceRequest`` holding spans encoded by :func:`encode_span`."""
    # Grouped like the SDK's encoder (dicts keyed by the resource, then the scope, by equality, in first-seen
    # order); consecutive spans of the same objects skip the hashing (a Resource hashes through JSON).
    groups: dict[Any, dict[Any, list[bytes]]] = {}
    last_resource: Any = groups
    last_scope: Any = groups
    current: list[bytes] = []
    for resource, scope, span in encoded:
        if resource is not last_resource or scope is not last_scope:
            scopes = groups.get(resource)
            if scopes is None:
                scopes = groups[resource] = {}
            found = scopes.get(scope)
            if found is None:
                found = scopes[scope] = []
            current = found
            last_resource, last_scope = resource, scope
        current.append(span)
    out = []
    for resource, scopes in groups.items():
        parts = [_cached_block(resource, _resource)]
        for scope, spans in scopes.items():
            if scope is None:
                head, schema_url = b"\x0a\x00", b""
            else:
                head, schema_url = _cached_block(scope, _scope), _optional_string(b"\x1a", scope.schema_url)
            parts.append(_field(b"\x12", head + b"".join(spans) + schema_url))
        parts.append(_optional_string(b"\x1a", resource.schema_url))
        out.append(_field(b"\x0a", b"".join(parts)))
    return b"".join(out)


def encode_fast(spans: Sequence[Any]) -> bytes:
    """The wire bytes of the ``ExportTraceServiceRequest`` for ``spans``; raises :class:`Unsupported` (or the
    error a malformed field gives) for what only the SDK's encoder handles."""
    return frame([encode_span(span) for span in spans])


def encode_request(spans: Sequence[Any]) -> bytes:
    """The protobuf wire encoding of the ``ExportTraceServiceRequest`` the SDK's ``encode_spans`` builds for
    ``spans``: fast, or through the SDK's encoder for spans the fast one does not handle. ``spans`` may also
    hold spans encoded already, as ``(resource, scope, bytes)`` (see :meth:`BatchSpanProcessor.add_encoded`)."""
    try:
        return frame([span if type(span) is tuple else encode_span(span) for span in spans])
    except Exception as error:  # noqa: BLE001 - whatever it is, the SDK's encoder decides
        _logger.debug("OTLP fast encoder fell back to the SDK's: %s", error)
    readable = [span for span in spans if type(span) is not tuple]
    encoded = [span for span in spans if type(span) is tuple]
    # Two encoded ExportTraceServiceRequests, one after the other, are one message with both lists of spans.
    return (frame(encoded) if encoded else b"") + encode_spans(readable).SerializeToString()


def encode_message(spans: Sequence[Any]) -> ExportTraceServiceRequest:
    """:func:`encode_request` parsed into the message the SDK's gRPC stub sends (parsing is upb's C, and cheap)."""
    if not any(type(span) is tuple for span in spans):
        try:
            return ExportTraceServiceRequest.FromString(encode_fast(spans))
        except Exception as error:  # noqa: BLE001 - whatever it is, the SDK's encoder decides
            _logger.debug("OTLP fast encoder fell back to the SDK's: %s", error)
            return encode_spans(spans)
    return ExportTraceServiceRequest.FromString(encode_request(spans))


_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


class _RawTraceService:
    """The ``TraceService`` stub, taking the request as its wire bytes: no message is built only to be
    serialised again by the stub."""

    def __init__(self, channel: Any) -> None:
        self.Export = channel.unary_unary(  # noqa: N815 - the gRPC method name, as the generated stub names it
            _EXPORT, request_serializer=None, response_deserializer=ExportTraceServiceResponse.FromString
        )


class OTLPSpanExporter(_GrpcSpanExporter):
    """The SDK's OTLP/gRPC span exporter (endpoint, TLS, headers, retries, reconnection, compression, ``OTEL_*``
    settings) with the fast encoder in its ``_translate_data`` hook (present since at least 1.27), and the
    request sent as the bytes it encodes to, through a stub on the SDK's own channel (made again whenever the
    SDK makes its channel again)."""

    def _initialize_channel_and_stub(self) -> None:
        super()._initialize_channel_and_stub()
        self._client = _RawTraceService(self._channel)

    def _translate_data(self, data: Sequence[Any]) -> Any:
        if isinstance(self._client, _RawTraceService):
            return encode_request(data)
        return encode_message(data)  # an SDK that made its stub some other way


def _setting(environ: Mapping[str, str], name: str, default: int) -> int:
    """A positive integer ``OTEL_BSP_*`` setting; anything else is logged and the default used, as the SDK does."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        _logger.warning("%s=%r is not a positive integer; using %d", name, raw, default)
        return default
    return value


class BatchSpanProcessor(SDKSpanProcessor):
    """The SDK's ``BatchSpanProcessor``, for the OTLP/gRPC exporter above, with what the server needs at tens of
    thousands of spans a second: ``on_end`` is a sampled test, a bound test and an append (the SDK's also
    checks the process ID, a system call, and counts into its metrics, 3 µs a span), and a thread of its own
    encodes and exports batches of ``OTEL_BSP_MAX_EXPORT_BATCH_SIZE`` (512) as soon as that many wait, or
    every ``OTEL_BSP_SCHEDULE_DELAY`` ms (5000). At most ``OTEL_BSP_MAX_QUEUE_SIZE`` (2048) spans wait; past
    that, new spans are dropped, counted in :attr:`dropped` and logged (a warning at most every 10 s), never
    silently. ``force_flush`` and ``shutdown`` export what waits."""

    def __init__(self, exporter: Any, environ: Mapping[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        self.span_exporter = exporter
        self.max_queue = _setting(environ, "OTEL_BSP_MAX_QUEUE_SIZE", 2048)
        self.batch = _setting(environ, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512)
        self.delay = _setting(environ, "OTEL_BSP_SCHEDULE_DELAY", 5000) / 1e3
        if self.batch > self.max_queue:
            _logger.warning(
                "OTEL_BSP_MAX_EXPORT_BATCH_SIZE (%d) is over OTEL_BSP_MAX_QUEUE_SIZE (%d); using %d",
                self.batch,
                self.max_queue,
                self.max_queue,
            )
            self.batch = self.max_queue
        self.dropped = 0
        self._warned_at = -1e9
        self._queue: collections.deque[Any] = collections.deque()
        self._wake = threading.Event()
        self._export_lock = threading.Lock()
        self._closed = False
        self._start()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._start)  # a forked child has the queue but not the thread

    def _start(self) -> None:
        self._queue.clear()
        self._wake = threading.Event()
        self._export_lock = threading.Lock()
        self._thread = threading.Thread(target=self._work, name="OtlpSpanExport", daemon=True)
        self._thread.start()

    def on_end(self, span: Any) -> None:
        if self._closed or not span.context.trace_flags & 1:  # unsampled (RECORD_ONLY) spans are not exported
            return
        queue = self._queue
        if len(queue) >= self.max_queue:
            self._drop()
            return
        queue.append(span)
        if len(queue) >= self.batch and not self._wake.is_set():
            self._wake.set()

    def add_encoded(self, resource: Any, scope: Any, encoded: bytes) -> None:
        """A sampled span already encoded by :func:`span_fields`, with its resource and scope: what
        ``serving_image.tracing`` hands over instead of a ``ReadableSpan`` when this is the provider's only
        processor (the exporter frames it with the others, as :func:`encode_span` would have made it)."""
        if self._closed:
            return
        queue = self._queue
        if len(queue) >= self.max_queue:
            self._drop()
            return
        queue.append((resource, scope, encoded))
        if len(queue) >= self.batch and not self._wake.is_set():
            self._wake.set()

    def _drop(self) -> None:
        self.dropped += 1
        now = time.monotonic()
        if now - self._warned_at >= 10:
            self._warned_at = now
            _logger.warning(
                "OTLP span queue full (OTEL_BSP_MAX_QUEUE_SIZE=%d): %d spans dropped so far; the collector is "
                "slower than the spans come",
                self.max_queue,
                self.dropped,
            )

    def _work(self) -> None:
        while not self._closed:
            self._wake.wait(self.delay)
            self._wake.clear()
            if not self._closed:
                self._export(everything=False)

    def _export(self, everything: bool) -> None:
        """Export full batches; with ``everything`` (or after the schedule delay) also the last, partial one."""
        with self._export_lock:
            queue = self._queue
            first = True
            while queue and (len(queue) >= self.batch or everything or first):
                first = False
                count = min(self.batch, len(queue))
                spans = [queue.popleft() for _ in range(count)]
                token = context_api.attach(context_api.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
                try:
                    self.span_exporter.export(spans)
                except Exception:  # noqa: BLE001 - the exporter logs its own failures; nothing must kill the thread
                    _logger.exception("exporting %d spans failed", count)
                finally:
                    context_api.detach(token)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        if self._closed:
            return False
        self._export(everything=True)
        return True

    def shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        self._thread.join(30)
        self._export(everything=True)
        self.span_exporter.shutdown()
