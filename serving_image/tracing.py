"""OpenTelemetry tracing with W3C ``traceparent`` in and out, on HTTP, gRPC and across pipeline steps.

Built only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set; otherwise
the server holds ``None`` and every request path pays one ``is None`` test, and the SDK is never imported.
When on, each request gets a SERVER span (the caller's ``traceparent`` as parent, and the span's own
``traceparent`` in the answer: an HTTP header or gRPC trailing metadata), and its batch adds a ``queue`` span
per request, and a ``batch`` span with an ``inference`` span inside, parented to the first request of the
batch and linked to the others. Pipeline steps get a span each, and handlers see its ``traceparent`` in their
headers. The standard ``OTEL_*`` variables (service name, resource attributes, sampler, batch processor) apply.

No span is a live SDK span: each is built from its parts (the provider's ID generator and sampler, the
request's span context in a ``ContextVar`` of our own) and handed over once, finished: to the server's own OTLP
batch processor already encoded when it is the provider's only processor (``serving_image.otlp``), otherwise
as the SDK's ``ReadableSpan``. Spans are exported on the processor's thread, in batches."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState

from . import __version__
from .errors import ConfigError

_UNSET = Status(StatusCode.UNSET)
_SERVER, _INTERNAL = SpanKind.SERVER, SpanKind.INTERNAL
_EMPTY = Context()  # the sampler's parent context for a request that starts a trace
_FLAGS = tuple(TraceFlags(value) for value in range(256))
# The span (or pipeline step) a request is in: its SpanContext, or None outside a request. A ContextVar of our
# own, not the OpenTelemetry context: each asyncio task (and so each request) sees its own value.
_CURRENT: ContextVar[SpanContext | None] = ContextVar("modelport_trace", default=None)

# W3C Trace Context, traceparent: version "-" trace-id "-" parent-id "-" trace-flags, lowercase hex.
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_TRACESTATE_MAX = 512  # as the SDK's propagator: a longer tracestate is dropped (the traceparent still holds)


def enabled(environ: Mapping[str, str]) -> bool:
    return bool(environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def parse_traceparent(value: str | None) -> tuple[int, int, int] | None:
    """``(trace_id, parent_id, flags)`` from a W3C ``traceparent``, or ``None`` when it is absent or invalid
    (the request then starts a new trace). Version ``00`` is exactly 55 characters; a later version is parsed
    by its first 55, which must be followed by the end or a ``-``; version ``ff``, an all-zero trace or parent
    id, and anything but lowercase hex are invalid. Surrounding spaces and tabs (HTTP's OWS) are allowed."""
    if not value:
        return None
    if value[0] in " \t" or value[-1] in " \t":
        value = value.strip(" \t")
    size = len(value)
    if size < 55:
        return None
    version = value[:2]
    if version == "00":
        if size != 55:
            return None
    elif version == "ff" or (size > 55 and value[55] != "-"):
        return None
    match = _TRACEPARENT.fullmatch(value, 0, 55)
    if match is None:
        return None
    trace_id = int(match[2], 16)
    span_id = int(match[3], 16)
    if not trace_id or not span_id:
        return None
    return trace_id, span_id, int(match[4], 16)


def parse_tracestate(value: str | None) -> TraceState | None:
    """The ``tracestate`` that goes with a valid ``traceparent``: ``None`` when absent or over 512 characters;
    an empty one when a member is malformed or repeated, as the SDK's propagator does."""
    if not value or len(value) > _TRACESTATE_MAX:
        return None
    return TraceState.from_header([value])


def format_traceparent(context: SpanContext) -> str:
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


class ServerSpan:
    """A request's SERVER span while it runs. ``traceparent`` is the one to answer with (the span's own, with
    the sampler's flag); ``attributes`` may be added to until :meth:`Tracing.end_server_span`."""

    __slots__ = ("name", "context", "parent", "attributes", "start", "token", "traceparent", "recording", "live")

    def __init__(
        self,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        attributes: dict[str, Any],
        recording: bool,
        live: Any = None,
    ) -> None:
        self.name = name
        self.context = context
        self.parent = parent
        self.attributes = attributes
        self.recording = recording
        self.live = live
        self.traceparent = format_traceparent(context) if context.is_valid else ""
        self.start = time.time_ns()
        self.token = _CURRENT.set(context)


class Tracing:
    def __init__(self, provider: Any) -> None:
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        self._readable = ReadableSpan

        self.provider = provider
        self.tracer = provider.get_tracer("serving_image", __version__)
        # Spans are built finished and handed to the provider's span processors, as the SDK does when a live
        # span ends, without a live span's context attach and detach, locks and attribute bookkeeping (40-60 µs
        # a request): encoded, to the server's OTLP processor when it is the only one, else as ReadableSpans.
        # The request's SERVER span takes its IDs and the sampler's decision when the request starts and is
        # emitted when it ends; the queue, batch and inference spans are known only once the batch is done and
        # inherit their parent's decision. The processors are the provider's own (a private attribute, stable
        # since the SDK's 1.0); without it, live spans are used.
        self._processor = getattr(provider, "_active_span_processor", None)
        self._sampler = provider.sampler
        self._rule = _compile(self._sampler)
        self._ids = provider.id_generator
        self._random_ids = bool(getattr(self._ids, "is_trace_id_random", lambda: False)())
        self._scope = InstrumentationScope("serving_image", __version__)
        self._limits = _limits(getattr(provider, "_span_limits", None))
        self._seen: Any = ()  # the provider's processors when last looked at, and the direct path they allow
        self._direct: Any = None
        self._encode: Any = None
        self._bare_child: Any = None
        self._queue_name = b""
        # The SDK's tracer config (experimental) can disable the tracer; a tracer that is not the SDK's (the
        # SDK disabled) makes no spans, and the live path gives what it gives.
        self._is_enabled = getattr(self.tracer, "_is_enabled", None)
        if self._is_enabled is None:
            self._processor = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Tracing | None:
        """OTLP export when an endpoint is set, over gRPC unless ``OTEL_EXPORTER_OTLP_PROTOCOL`` says
        ``http/protobuf``; ``None`` (no tracing, no cost) otherwise, and with ``OTEL_SDK_DISABLED=true``."""
        if not enabled(environ) or environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
            return None
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider

        protocol = (
            environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "grpc"
        )
        if protocol == "grpc":
            from .otlp import BatchSpanProcessor, OTLPSpanExporter  # the SDK's, with a fast encoder and queue
        elif protocol == "http/protobuf":
            from opentelemetry.sdk.trace.export import BatchSpanProcessor  # type: ignore[assignment]

            try:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # type: ignore
            except ImportError:
                raise ConfigError(
                    "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf needs opentelemetry-exporter-otlp-proto-http; "
                    "the image ships the grpc exporter (OTEL_EXPORTER_OTLP_PROTOCOL=grpc)"
                ) from None
        else:
            raise ConfigError(f"OTEL_EXPORTER_OTLP_PROTOCOL must be grpc or http/protobuf (got {protocol!r})")
        resource = Resource.create({"service.name": environ.get("OTEL_SERVICE_NAME") or "modelport-serving"})
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        return cls(provider)

    def shutdown(self) -> None:
        self.provider.shutdown()

    # --- server spans --------------------------------------------------------------------------------------

    def start_server_span(
        self, name: str, traceparent: str | None, tracestate: str | None, attributes: dict[str, Any]
    ) -> ServerSpan:
        """Start the request's SERVER span under the caller's ``traceparent`` (``None`` when absent or sent
        more than once) and make it current; :meth:`end_server_span` ends it. The sampler is the provider's
        (``OTEL_TRACES_SAMPLER``), asked as the SDK asks it; an unsampled request gets a span ID and answers a
        ``traceparent`` with its flag clear, but no span is built."""
        parsed = parse_traceparent(traceparent)
        if parsed is None:
            parent = None
        else:
            parent = SpanContext(
                parsed[0], parsed[1], True, _FLAGS[parsed[2]], parse_tracestate(tracestate) if tracestate else None
            )
        if self._processor is None or not self._is_enabled():
            span = self.tracer.start_span(name, _in_context(parent), _SERVER, attributes)
            context = span.get_span_context()
            return ServerSpan(name, context, parent, attributes, span.is_recording(), span)
        context, attributes, recording = self._sample(name, parent, _SERVER, attributes)
        return ServerSpan(name, context, parent, attributes, recording)

    def _sample(
        self, name: str, parent: SpanContext | None, kind: SpanKind, attributes: dict[str, Any]
    ) -> tuple[SpanContext, dict[str, Any], bool]:
        """What the SDK's ``Tracer.start_span`` decides: trace ID, sampling, flags, tracestate, attributes."""
        if parent is None:
            trace_id = self._ids.generate_trace_id()
            flags = 2 if self._random_ids else 0  # TraceFlags.RANDOM_TRACE_ID
        else:
            trace_id = parent.trace_id
            flags = parent.trace_flags & 2
        rule = self._rule
        if rule is not None:  # one of the SDK's own samplers, its rule applied here (see _compile)
            decision = rule(parent, trace_id)
            state = None if parent is None else parent.trace_state
            if not decision.is_recording():
                return SpanContext(trace_id, self._ids.generate_span_id(), False, _FLAGS[flags], state), {}, False
        else:
            result = self._sampler.should_sample(_in_context(parent), trace_id, name, kind, attributes, None)
            decision, state, attributes = result.decision, result.trace_state, dict(result.attributes)
        if decision.is_sampled():
            flags |= 1
        context = SpanContext(trace_id, self._ids.generate_span_id(), False, _FLAGS[flags], state)
        return context, attributes, decision.is_recording()

    def end_server_span(
        self, handle: ServerSpan, status: str, error: bool, name: str | None = None, **attributes: Any
    ) -> None:
        """End the SERVER span: ``status`` as ``modelport.status``, ``error`` sets the span's error status with
        it as description, ``name`` renames it (the route template), ``attributes`` are added."""
        _CURRENT.reset(handle.token)
        if handle.live is not None:
            span = handle.live
            if name is not None:
                span.update_name(name)
            span.set_attributes(attributes)
            span.set_attribute("modelport.status", status)
            if error:
                span.set_status(Status(StatusCode.ERROR, status))
            span.end()
            return
        if not handle.recording:
            return
        spanned = handle.attributes
        spanned.update(attributes)
        spanned["modelport.status"] = status
        trace_id, span_id, _, flags, state, _ = handle.context
        self._emit(
            name or handle.name,
            trace_id,
            span_id,
            flags,
            state,
            handle.parent,
            handle.start,
            time.time_ns(),
            spanned,
            (),
            Status(StatusCode.ERROR, status) if error else _UNSET,
            _SERVER,
        )

    # --- batches and steps ---------------------------------------------------------------------------------

    @staticmethod
    def current() -> SpanContext | None:
        """The current request's (or pipeline step's) span context when it is sampled, else ``None``: a request
        the sampler dropped adds no queue or batch spans (``OTEL_TRACES_SAMPLER``, e.g.
        ``parentbased_traceidratio``)."""
        context = _CURRENT.get()
        return context if context is not None and context.trace_flags & 1 else None

    def record_batch(
        self,
        model: str,
        contexts: Sequence[tuple[SpanContext, int]],
        rows: int,
        batch_start_ns: int,
        inference_start_ns: int,
        end_ns: int,
        error: BaseException | None,
    ) -> None:
        """``contexts``: each request's span context (from :meth:`current`) and the wall time it was queued (ns)."""
        if not contexts:
            return
        if self._processor is None:
            self._record_batch_live(model, contexts, rows, batch_start_ns, inference_start_ns, end_ns, error)
            return
        direct = self._direct if self._processor_seen() else None
        if direct is not None and batch_start_ns and not self._limits:
            # The queue spans, one per request, straight to their encoding (the same bytes: a test checks).
            resource, scope, encode, ids = self.provider.resource, self._scope, self._bare_child, self._ids
            for parent, queued_ns in contexts:
                trace_id, parent_id, remote, flags, state, _ = parent
                if flags & 1 and queued_ns:
                    span_id = ids.generate_span_id()
                    encoded = encode(
                        trace_id, span_id, state, parent_id, remote, self._queue_name, queued_ns, batch_start_ns
                    )
                    direct(resource, scope, encoded)
                else:  # unsampled (no span) or without a time: as any other span
                    self._finished("queue", parent, queued_ns, batch_start_ns)
        else:
            for parent, queued_ns in contexts:
                self._finished("queue", parent, queued_ns, batch_start_ns)
        first = contexts[0][0]
        batch = self._finished(
            "batch",
            first,
            batch_start_ns,
            end_ns,
            {"modelport.model": model, "modelport.batch.rows": rows, "modelport.batch.requests": len(contexts)},
            [Link(parent) for parent, _ in contexts[1:]],
            context=True,
        )
        assert batch is not None
        status = _UNSET if error is None else Status(StatusCode.ERROR, f"{type(error).__name__}: {error}")
        self._finished("inference", batch, inference_start_ns, end_ns, status=status)

    def _finished(
        self,
        name: str,
        parent: SpanContext,
        start_ns: int,
        end_ns: int,
        attributes: dict[str, Any] | None = None,
        links: Sequence[Link] = (),
        status: Status = _UNSET,
        context: bool = False,
    ) -> SpanContext | None:
        """Emit a finished INTERNAL span under ``parent``, with its sampling decision; return its context if
        ``context``."""
        trace_id, span_id, _, flags, state, _ = parent
        own = self._ids.generate_span_id()
        self._emit(name, trace_id, own, flags, state, parent, start_ns, end_ns, attributes, links, status, _INTERNAL)
        return SpanContext(trace_id, own, False, flags, state) if context else None

    def _processor_seen(self) -> bool:
        """Whether the provider's only processor is the server's own OTLP one, which takes encoded spans
        (``add_encoded``); looked at again whenever the provider's processors change."""
        processors = getattr(self._processor, "_span_processors", None)
        if processors is not self._seen:
            self._seen = processors
            only = processors[0] if processors is not None and len(processors) == 1 else None
            self._direct = getattr(only, "add_encoded", None)
            if self._direct is not None:
                from .otlp import bare_child, name_and_kind, span_fields

                self._encode, self._bare_child = span_fields, bare_child
                self._queue_name = name_and_kind("queue", _INTERNAL)
        return self._direct is not None

    def _emit(
        self,
        name: str,
        trace_id: int,
        span_id: int,
        flags: TraceFlags,
        state: TraceState,
        parent: SpanContext | None,
        start_ns: int,
        end_ns: int,
        attributes: Any,
        links: Sequence[Link],
        status: Status,
        kind: SpanKind,
    ) -> None:
        """A finished span to the provider's processors: as a ``ReadableSpan``, or, when the only processor is
        the server's own OTLP one (``serving_image.otlp``), as its encoding, without building the object."""
        if self._limits is not None and attributes:
            attributes = self._limits(attributes)
        if self._processor_seen():
            if not flags & 1:  # as the processor's on_end: unsampled (RECORD_ONLY) spans are not exported
                return
            try:
                encoded = self._encode(
                    trace_id,
                    span_id,
                    state,
                    None if parent is None else parent[1],
                    False if parent is None else parent[2],
                    name,
                    kind,
                    start_ns,
                    end_ns,
                    attributes,
                    (),
                    links,
                    status,
                    (0 if type(attributes) is dict or attributes is None else attributes.dropped, 0, 0),
                )
            except Exception:  # noqa: BLE001 - a value the fast encoder does not know (a sampler's attribute, say):
                pass  # the span goes as an object, and the exporter hands it to the SDK's encoder
            else:
                self._direct(self.provider.resource, self._scope, encoded)
                return
        self._processor.on_end(
            self._readable(
                name=name,
                context=SpanContext(trace_id, span_id, False, flags, state),
                parent=parent,
                resource=self.provider.resource,
                attributes=attributes,
                links=links,
                kind=kind,
                status=status,
                start_time=start_ns,
                end_time=end_ns,
                instrumentation_scope=self._scope,
            )
        )

    def _record_batch_live(
        self,
        model: str,
        contexts: Sequence[tuple[SpanContext, int]],
        rows: int,
        batch_start_ns: int,
        inference_start_ns: int,
        end_ns: int,
        error: BaseException | None,
    ) -> None:
        for parent, queued_ns in contexts:
            self.tracer.start_span("queue", context=_in_context(parent), start_time=queued_ns).end(
                end_time=batch_start_ns
            )
        batch = self.tracer.start_span(
            "batch",
            context=_in_context(contexts[0][0]),
            links=[Link(parent) for parent, _ in contexts[1:]],
            start_time=batch_start_ns,
            attributes={
                "modelport.model": model,
                "modelport.batch.rows": rows,
                "modelport.batch.requests": len(contexts),
            },
        )
        inference = self.tracer.start_span(
            "inference", context=trace.set_span_in_context(batch), start_time=inference_start_ns
        )
        if error is not None:
            inference.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        inference.end(end_time=end_ns)
        batch.end(end_time=end_ns)

    def start_step(self, pipeline: str, step: str) -> tuple[ServerSpan, Any, str]:
        """A span for one pipeline step, a child of the current request's (or step's) span, made current, also
        in the OpenTelemetry context for handlers that make spans of their own; returns it, the OpenTelemetry
        context's token and the step's ``traceparent``."""
        name = f"step {step}"
        attributes: dict[str, Any] = {"modelport.pipeline": pipeline}
        parent = _CURRENT.get()
        if parent is not None and not parent.is_valid:
            parent = None
        if self._processor is None or not self._is_enabled():
            live = self.tracer.start_span(name, _in_context(parent), _INTERNAL, attributes)
            handle = ServerSpan(name, live.get_span_context(), parent, attributes, live.is_recording(), live)
        else:
            context, attributes, recording = self._sample(name, parent, _INTERNAL, attributes)
            handle = ServerSpan(name, context, parent, attributes, recording)
        token = otel_context.attach(trace.set_span_in_context(handle.live or NonRecordingSpan(handle.context)))
        return handle, token, handle.traceparent

    def end_step(self, handle: tuple[ServerSpan, Any, str], status: str) -> None:
        step, token, _ = handle
        otel_context.detach(token)
        _CURRENT.reset(step.token)
        error = Status(StatusCode.ERROR, status) if status != "ok" else _UNSET
        if step.live is not None:
            if status != "ok":
                step.live.set_status(error)
            step.live.end()
        elif step.recording:
            trace_id, span_id, _, flags, state, _ = step.context
            self._emit(
                step.name,
                trace_id,
                span_id,
                flags,
                state,
                step.parent,
                step.start,
                time.time_ns(),
                step.attributes,
                (),
                error,
                SpanKind.INTERNAL,
            )


def _in_context(parent: SpanContext | None) -> Context:
    """The context a sampler (or the SDK's tracer) is given: the parent as a non-recording span, or none."""
    return _EMPTY if parent is None else trace.set_span_in_context(NonRecordingSpan(parent), _EMPTY)


_FIXED = ("_AlwaysOn", "_AlwaysOff", "_ParentBasedAlwaysOn", "_ParentBasedAlwaysOff")


def _compile(sampler: Any) -> Callable[[SpanContext | None, int], Any] | None:
    """The decision rule of one of the SDK's own samplers (``OTEL_TRACES_SAMPLER``: always_on, always_off,
    traceidratio and the parent-based ones, with any of these as delegates), as a function of the parent span
    context and trace ID, applied exactly as their ``should_sample`` applies it but without building a context
    and a ``SamplingResult`` per request. Their tracestate is the parent's, and their attributes those given.
    ``None`` for any other sampler (a subclass too): it is asked itself."""
    from opentelemetry.sdk.trace import sampling

    kind = type(sampler)
    # The SDK's private subclasses that only fix their constructor's arguments (OTEL_TRACES_SAMPLER's names);
    # looked up by name so that an SDK without one of them still works.
    fixed = {name: getattr(sampling, name, sampling.Sampler) for name in _FIXED}
    if kind in (sampling.StaticSampler, fixed["_AlwaysOn"], fixed["_AlwaysOff"]):
        decision = sampler._decision  # noqa: SLF001
        return lambda parent, trace_id: decision
    if kind is sampling.TraceIdRatioBased:
        bound, limit = sampler.bound, sampler.TRACE_ID_LIMIT
        sample, drop = sampling.Decision.RECORD_AND_SAMPLE, sampling.Decision.DROP
        return lambda parent, trace_id: sample if trace_id & limit < bound else drop
    if kind in (
        sampling.ParentBased,
        sampling.ParentBasedTraceIdRatio,
        fixed["_ParentBasedAlwaysOn"],
        fixed["_ParentBasedAlwaysOff"],
    ):
        rules = [
            _compile(delegate)
            for delegate in (
                sampler._root,  # noqa: SLF001
                sampler._remote_parent_sampled,  # noqa: SLF001
                sampler._remote_parent_not_sampled,  # noqa: SLF001
                sampler._local_parent_sampled,  # noqa: SLF001
                sampler._local_parent_not_sampled,  # noqa: SLF001
            )
        ]
        if any(rule is None for rule in rules):
            return None
        root, remote_sampled, remote_unsampled, local_sampled, local_unsampled = rules

        def parent_based(parent: SpanContext | None, trace_id: int) -> Any:
            if parent is None or not parent.is_valid:
                return root(parent, trace_id)  # type: ignore[misc]
            if parent.is_remote:
                rule = remote_sampled if parent.trace_flags & 1 else remote_unsampled
            else:
                rule = local_sampled if parent.trace_flags & 1 else local_unsampled
            return rule(parent, trace_id)  # type: ignore[misc]

        return parent_based
    return None


def _limits(limits: Any) -> Any:
    """The provider's attribute limits (``OTEL_ATTRIBUTE_*``, ``OTEL_SPAN_ATTRIBUTE_*``) as a function that
    bounds a span's attributes as the SDK's spans are bounded; ``None`` when ours are always within them."""
    if limits is None:
        return None
    count, length = limits.max_span_attributes, limits.max_attribute_length
    if length is None and (count is None or count >= 16):
        return None
    from opentelemetry.attributes import BoundedAttributes

    return lambda attributes: BoundedAttributes(count, attributes, immutable=True, max_value_len=length)


def now_ns() -> int:
    return time.time_ns()
