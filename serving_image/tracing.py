"""OpenTelemetry tracing with W3C ``traceparent`` in and out, on HTTP, gRPC and across pipeline steps.

Built only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set; otherwise
the server holds ``None`` and every request path pays one ``is None`` test, and the SDK is never imported.
When on, each request gets a SERVER span (the caller's ``traceparent`` as parent, and the span's own
``traceparent`` in the answer: an HTTP header or gRPC trailing metadata), and its batch adds a ``queue`` span
per request, and a ``batch`` span with an ``inference`` span inside, parented to the first request of the
batch and linked to the others. Pipeline steps get a span each, and handlers see its ``traceparent`` in their
headers. The standard ``OTEL_*`` variables (service name, resource attributes, sampler) apply; spans leave
through a batch processor, off the event loop."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from . import __version__
from .errors import ConfigError

_PROPAGATOR = TraceContextTextMapPropagator()
_HEADERS = (b"traceparent", b"tracestate")
_UNSET = Status(StatusCode.UNSET)


def enabled(environ: Mapping[str, str]) -> bool:
    return bool(environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


class Tracing:
    def __init__(self, provider: Any) -> None:
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        self.provider = provider
        self.tracer = provider.get_tracer("serving_image", __version__)
        # The queue, batch and inference spans are known only once the batch is done, start and end together:
        # they are built finished (a ReadableSpan) and handed to the provider's span processors, as the SDK
        # does when a span ends, without a live span's sampling, locks and attribute bookkeeping (about 20 µs
        # each; see the README). They inherit their parent's sampling decision. The processors are the
        # provider's own (a private attribute, stable since the SDK's 1.0); without it, live spans are used.
        self._processor = getattr(provider, "_active_span_processor", None)
        self._ids = provider.id_generator
        self._resource = provider.resource
        self._scope = InstrumentationScope("serving_image", __version__)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Tracing | None:
        """OTLP export when an endpoint is set, over gRPC unless ``OTEL_EXPORTER_OTLP_PROTOCOL`` says
        ``http/protobuf``; ``None`` (no tracing, no cost) otherwise."""
        if not enabled(environ):
            return None
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        protocol = (
            environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "grpc"
        )
        if protocol == "grpc":
            from .otlp import OTLPSpanExporter  # the SDK's, with a fast encoder
        elif protocol == "http/protobuf":
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

    def start_server_span(self, name: str, carrier: Mapping[str, str], attributes: Mapping[str, Any]) -> Any:
        """Start a SERVER span under the caller's ``traceparent`` and make it current; returns a handle for
        :meth:`end_server_span`."""
        parent = _PROPAGATOR.extract(carrier)
        span = self.tracer.start_span(name, context=parent, kind=SpanKind.SERVER, attributes=attributes)
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        return span, token

    @staticmethod
    def end_server_span(handle: Any, status: str, error: bool, name: str | None = None) -> None:
        span, token = handle
        if name is not None:
            span.update_name(name)
        span.set_attribute("modelport.status", status)
        if error:
            span.set_status(Status(StatusCode.ERROR, status))
        span.end()
        otel_context.detach(token)

    @staticmethod
    def traceparent(handle: Any) -> str:
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(handle[0]))
        return carrier.get("traceparent", "")

    @staticmethod
    def asgi_carrier(headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
        return {key.decode(): value.decode("latin-1") for key, value in headers if key in _HEADERS}

    # --- batches and steps ---------------------------------------------------------------------------------

    @staticmethod
    def current() -> Any:
        """The current context when its span records (is sampled), else ``None``: a request the sampler
        dropped adds no queue or batch spans (``OTEL_TRACES_SAMPLER``, e.g. ``parentbased_traceidratio``)."""
        context = otel_context.get_current()
        return context if trace.get_current_span(context).is_recording() else None

    def record_batch(
        self,
        model: str,
        contexts: Sequence[tuple[Any, int]],
        rows: int,
        batch_start_ns: int,
        inference_start_ns: int,
        end_ns: int,
        error: BaseException | None,
    ) -> None:
        """``contexts``: each request's trace context and the wall time it was queued (ns)."""
        if not contexts:
            return
        if self._processor is None:
            self._record_batch_live(model, contexts, rows, batch_start_ns, inference_start_ns, end_ns, error)
            return
        parents = [trace.get_current_span(ctx).get_span_context() for ctx, _ in contexts]
        for parent, (_, queued_ns) in zip(parents, contexts, strict=True):
            self._finished("queue", parent, queued_ns, batch_start_ns)
        batch = self._finished(
            "batch",
            parents[0],
            batch_start_ns,
            end_ns,
            {"modelport.model": model, "modelport.batch.rows": rows, "modelport.batch.requests": len(contexts)},
            [Link(parent) for parent in parents[1:]],
        )
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
        status: Status | None = None,
    ) -> SpanContext:
        """Emit a finished INTERNAL span under ``parent``; return its context."""
        from opentelemetry.sdk.trace import ReadableSpan

        context = SpanContext(
            parent.trace_id,
            self._ids.generate_span_id(),
            is_remote=False,
            trace_flags=parent.trace_flags,
            trace_state=parent.trace_state,
        )
        self._processor.on_end(
            ReadableSpan(
                name=name,
                context=context,
                parent=parent,
                resource=self._resource,
                attributes=attributes,
                links=links,
                kind=SpanKind.INTERNAL,
                status=status or _UNSET,
                start_time=start_ns,
                end_time=end_ns,
                instrumentation_scope=self._scope,
            )
        )
        return context

    def _record_batch_live(
        self,
        model: str,
        contexts: Sequence[tuple[Any, int]],
        rows: int,
        batch_start_ns: int,
        inference_start_ns: int,
        end_ns: int,
        error: BaseException | None,
    ) -> None:
        for parent, queued_ns in contexts:
            self.tracer.start_span("queue", context=parent, start_time=queued_ns).end(end_time=batch_start_ns)
        links = [Link(trace.get_current_span(ctx).get_span_context()) for ctx, _ in contexts[1:]]
        batch = self.tracer.start_span(
            "batch",
            context=contexts[0][0],
            links=links,
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

    def start_step(self, pipeline: str, step: str) -> tuple[Any, Any, str]:
        """A span for one pipeline step, made current; returns it, the token and its ``traceparent``."""
        span = self.tracer.start_span(f"step {step}", attributes={"modelport.pipeline": pipeline})
        token = otel_context.attach(trace.set_span_in_context(span))
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier)
        return span, token, carrier.get("traceparent", "")

    @staticmethod
    def end_step(handle: tuple[Any, Any, str], status: str) -> None:
        span, token, _ = handle
        if status != "ok":
            span.set_status(Status(StatusCode.ERROR, status))
        span.end()
        otel_context.detach(token)


def now_ns() -> int:
    return time.time_ns()
