"""The fast OTLP trace encoder (serving_image.otlp): for spans made by the real SDK, its bytes parse to exactly
the message the SDK's ``encode_spans`` builds (and are the bytes upb serialises it to), for every field the SDK
sets and every attribute type; what it does not know goes through the SDK's encoder; and the server's OTLP/gRPC
exporter uses it, end to end, against a collector stub."""

from __future__ import annotations

import enum
import math
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState

from serving_image import otlp
from serving_image.tracing import Tracing

from .serving_helpers import ThreadedServer, free_port, request
from .test_serving_pipelines import write_repository

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"

EVERY_TYPE: dict[str, Any] = {
    "str": "plain",
    "unicode": "é ✓ 𝄞 日本",
    "empty": "",
    "true": True,
    "false": False,
    "zero": 0,
    "one": 1,
    "minus.one": -1,
    "int64.min": INT64_MIN,
    "int64.max": INT64_MAX,
    "big": 2**40 + 7,
    "float": 1.5,
    "float.zero": 0.0,
    "float.minus.zero": -0.0,
    "float.tiny": 5e-324,
    "float.inf": math.inf,
    "float.minus.inf": -math.inf,
    "nan": math.nan,
    "bytes": b"\x00\xff\x80",
    "bytes.empty": b"",
    "array.str": ["a", "", "é"],
    "array.bool": [True, False],
    "array.int": [0, -1, INT64_MIN, INT64_MAX, 300],
    "array.float": [0.0, -2.5, math.inf],
    "array.empty": [],
    "array.with.none": ["x", None, "y"],
    "array.mixed": [1, "a"],
}


def _provider(exporter: InMemorySpanExporter, resource: Resource, limits: SpanLimits | None = None) -> TracerProvider:
    provider = TracerProvider(resource=resource, span_limits=limits)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def _remote(trace_id: int, span_id: int, state: list[tuple[str, str]] | None = None) -> SpanContext:
    return SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(1), trace_state=TraceState(state))


def _every_field(exporter: InMemorySpanExporter) -> list[Any]:
    """Spans over two resources and several scopes, covering every field the SDK's encoder sets; returns the
    live SDK spans too (ReadableSpan subclasses, encoded through their public properties)."""
    main = _provider(
        exporter,
        Resource.create({"service.name": "svc", "res.int": -7, "res.float": 2.5, "res.list": ["a", "b"]}),
        SpanLimits(max_span_attributes=40, max_events=2, max_links=2, max_event_attributes=1, max_link_attributes=1),
    )
    other = _provider(exporter, Resource({"service.name": "other"}, schema_url="https://example.com/schema/1.2"))
    scoped = main.get_tracer("lib.scoped", "1.2.3", schema_url="https://example.com/s", attributes={"scope.a": 1})
    bare = main.get_tracer("lib.bare")
    remote = _remote(0xABC, 0xDEF, [("vendor", "value"), ("other", "x")])
    live = []
    with scoped.start_as_current_span(
        "server",
        context=trace.set_span_in_context(NonRecordingSpan(remote)),
        kind=SpanKind.SERVER,
        attributes=EVERY_TYPE,
    ) as server:
        live.append(server)
        server.add_event("the oldest of three, dropped by the limit")
        server.add_event("")
        server.add_event("started", {"step": 1, "dropped": "by the limit"}, timestamp=1_700_000_000_000_000_123)
        with bare.start_as_current_span(
            "child",
            kind=SpanKind.CLIENT,
            links=[
                Link(_remote(1, 2)),  # the oldest of three, dropped by the limit
                Link(remote, {"link.attr": "x", "link.dropped": 2}),
                Link(server.get_span_context()),
            ],
        ) as child:
            live.append(child)
            child.set_status(Status(StatusCode.ERROR, "boom: é"))
        ok = scoped.start_span("ok", kind=SpanKind.PRODUCER, start_time=1)
        ok.set_status(Status(StatusCode.OK))
        ok.end(end_time=2**63 + 5)
        live.append(ok)
        for kind in (SpanKind.CONSUMER, SpanKind.INTERNAL):
            span = other.get_tracer("other.lib", "0").start_span("", kind=kind, attributes={"k": kind.value})
            span.end()
            live.append(span)
        error_without_message = bare.start_span("error", attributes={"k": 1})
        error_without_message.set_status(Status(StatusCode.ERROR))
        error_without_message.end()
        live.append(error_without_message)
        many = bare.start_span("many", attributes={f"n{i}": i for i in range(45)})
        many.end()
        live.append(many)
    root = scoped.start_span(
        "root after", context=trace.set_span_in_context(NonRecordingSpan(trace.INVALID_SPAN_CONTEXT))
    )
    root.end()
    live.append(root)
    return live


def _assert_same(spans: Any) -> None:
    encoded = otlp.encode_fast(spans)  # raises if it would have stepped aside
    reference = encode_spans(spans)
    assert ExportTraceServiceRequest.FromString(encoded) == reference
    assert encoded == reference.SerializeToString()
    assert otlp.encode_request(spans) == encoded
    assert otlp.encode_message(spans) == reference


def test_every_field_and_attribute_type_encodes_exactly_as_the_sdk() -> None:
    exporter = InMemorySpanExporter()
    live = _every_field(exporter)
    spans = exporter.get_finished_spans()
    assert all(type(span) is ReadableSpan for span in spans)
    _assert_same(spans)
    request = ExportTraceServiceRequest.FromString(otlp.encode_request(spans))
    # What the comparison covered, by name, so that a weaker fixture cannot pass unnoticed.
    services = [
        {kv.key: kv.value for kv in r.resource.attributes}["service.name"].string_value for r in request.resource_spans
    ]
    assert services == ["svc", "other"]
    assert request.resource_spans[1].schema_url == "https://example.com/schema/1.2"
    scopes = [(s.scope.name, s.scope.version, s.schema_url) for s in request.resource_spans[0].scope_spans]
    assert scopes == [("lib.bare", "", ""), ("lib.scoped", "1.2.3", "https://example.com/s")]  # the child ended first
    by_name = {s.name: s for r in request.resource_spans for ss in r.scope_spans for s in ss.spans}
    server, child = by_name["server"], by_name["child"]
    assert server.trace_state == "vendor=value,other=x" and server.parent_span_id == (0xDEF).to_bytes(8, "big")
    assert server.flags == 0x300 and child.flags == 0x100  # remote parent, local parent
    assert server.dropped_events_count == 1 and len(server.events) == 2
    assert [e.name for e in server.events] == ["", "started"] and server.events[1].dropped_attributes_count == 1
    assert server.events[1].time_unix_nano == 1_700_000_000_000_000_123
    attributes = {kv.key: kv.value for kv in server.attributes}
    assert attributes["minus.one"].int_value == -1 and attributes["int64.min"].int_value == INT64_MIN
    assert attributes["unicode"].string_value == "é ✓ 𝄞 日本" and attributes["empty"].HasField("string_value")
    assert math.copysign(1, attributes["float.minus.zero"].double_value) == -1
    assert [v.HasField("string_value") for v in attributes["array.with.none"].array_value.values] == [True, False, True]
    assert child.status.code == 2 and child.status.message == "boom: é"
    assert [link.flags for link in child.links] == [0x300, 0x100] and child.dropped_links_count == 1
    assert child.links[0].dropped_attributes_count == 1
    assert by_name["ok"].end_time_unix_nano == 2**63 + 5 and by_name["ok"].status.code == 1
    assert by_name["error"].status.code == 2 and not by_name["error"].status.message
    assert not by_name["root after"].parent_span_id and by_name["root after"].flags == 0x100
    every = [s for r in request.resource_spans for ss in r.scope_spans for s in ss.spans]
    assert {s.kind for s in every} == {1, 2, 3, 4, 5}  # internal, server, client, producer, consumer
    assert by_name["many"].dropped_attributes_count == 5 and len(by_name["many"].attributes) == 40
    # The live SDK spans are ReadableSpan subclasses: they go through the public properties, same bytes.
    assert not any(type(span) is ReadableSpan for span in live)
    _assert_same(live)


def test_grouping_follows_the_sdk_resources_then_scopes_in_first_seen_order() -> None:
    exporter = InMemorySpanExporter()
    first = _provider(exporter, Resource.create({"service.name": "a"}))
    second = _provider(exporter, Resource.create({"service.name": "b"}))
    equal = _provider(exporter, Resource.create({"service.name": "a"}))  # equal to first's, another object
    for provider, scope in ((first, "x"), (second, "x"), (first, "y"), (equal, "x"), (second, "y"), (first, "x")):
        provider.get_tracer(scope).start_span(f"{scope} span").end()
    spans = exporter.get_finished_spans()
    assert spans[0].resource is not spans[3].resource and spans[0].resource == spans[3].resource
    _assert_same(spans)
    request = ExportTraceServiceRequest.FromString(otlp.encode_request(spans))
    shape = [
        (
            {kv.key: kv.value for kv in r.resource.attributes}["service.name"].string_value,
            [(s.scope.name, len(s.spans)) for s in r.scope_spans],
        )
        for r in request.resource_spans
    ]
    assert shape == [("a", [("x", 3), ("y", 1)]), ("b", [("x", 1), ("y", 1)])]


def test_cached_pairs_keep_types_apart() -> None:
    """True == 1 == 1.0 and 0.0 == -0.0 as dict keys; the caches must not hand one's bytes to another."""
    exporter = InMemorySpanExporter()
    tracer = _provider(exporter, Resource.create({})).get_tracer("t")
    for value in (True, 1, 1.0, False, 0, 0.0, -0.0, "1", b"1", [1], [True], [1.0]):
        tracer.start_span("s", attributes={"k": value}).end()
        tracer.start_span("s", attributes={"k": value}).end()  # the second is served from the caches
    spans = exporter.get_finished_spans()
    _assert_same(spans)
    values = [
        s.attributes[0].value.WhichOneof("value")
        for s in ExportTraceServiceRequest.FromString(otlp.encode_request(spans)).resource_spans[0].scope_spans[0].spans
    ]
    assert values[::2] == values[1::2]
    assert values[::2] == ["bool_value", "int_value", "double_value", "bool_value", "int_value", "double_value"] + [
        "double_value",
        "string_value",
        "bytes_value",
        "array_value",
        "array_value",
        "array_value",
    ]


def test_long_and_high_cardinality_values_stay_exact_and_the_caches_bounded() -> None:
    exporter = InMemorySpanExporter()
    tracer = _provider(exporter, Resource.create({})).get_tracer("t")
    for i in range(otlp._CACHE_LIMIT + 500):  # a request id per span: every pair is new
        tracer.start_span(f"span {i % 3}", attributes={"request.id": f"r-{i}", "n": i}).end()
    for size in (127, 128, 300, 20_000):  # frame lengths of one, two and three varint bytes; not cached
        tracer.start_span("x" * size, attributes={"long": "é" * size, "blob": bytes(size)}).end()
        tracer.start_span("x" * size, attributes={"long": "é" * size, "blob": bytes(size)}).end()
    spans = exporter.get_finished_spans()
    _assert_same(spans)
    _assert_same(spans)  # again, from the caches
    assert len(otlp._SPAN_PAIRS) <= otlp._CACHE_LIMIT and len(otlp._NAMES) <= otlp._CACHE_LIMIT
    assert not any(len(encoded) > otlp._CACHED_SIZE for encoded in otlp._SPAN_PAIRS.values())
    _assert_same([])


_KEYS = st.text(min_size=1, max_size=12)
_SCALARS = st.one_of(
    st.text(max_size=20),
    st.booleans(),
    st.integers(min_value=INT64_MIN, max_value=INT64_MAX),
    st.floats(allow_nan=True, allow_infinity=True),
    st.binary(max_size=12),
)
_ARRAYS = st.one_of(
    st.lists(st.one_of(st.none(), st.text(max_size=8)), max_size=5),
    st.lists(st.one_of(st.none(), st.booleans()), max_size=5),
    st.lists(st.one_of(st.none(), st.integers(min_value=INT64_MIN, max_value=INT64_MAX)), max_size=5),
    st.lists(st.one_of(st.none(), st.floats()), max_size=5),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    attributes=st.dictionaries(_KEYS, st.one_of(_SCALARS, _ARRAYS), max_size=8),
    event_attributes=st.dictionaries(_KEYS, _SCALARS, max_size=3),
    name=st.text(max_size=16),
)
def test_property_any_attributes_encode_exactly_as_the_sdk(
    attributes: dict[str, Any], event_attributes: dict[str, Any], name: str
) -> None:
    exporter = InMemorySpanExporter()
    provider = _provider(exporter, Resource.create(dict(list(attributes.items())[:2])))
    tracer = provider.get_tracer("prop", attributes=event_attributes or None)
    span = tracer.start_span(name, attributes=attributes, links=[Link(_remote(7, 9), attributes=event_attributes)])
    span.add_event(name, attributes=event_attributes)
    span.end()
    spans = exporter.get_finished_spans()
    encoded = otlp.encode_fast(spans)
    assert encoded == encode_spans(spans).SerializeToString()
    assert ExportTraceServiceRequest.FromString(encoded) == encode_spans(spans)


class Level(enum.IntEnum):
    HIGH = 3


@pytest.mark.parametrize(
    ("value", "why"),
    [(Level.HIGH, "an int subclass"), (2**64, "an integer outside int64"), ([Level.HIGH], "an int subclass")],
)
def test_what_the_fast_encoder_does_not_know_goes_through_the_sdk_encoder(value: Any, why: str) -> None:
    exporter = InMemorySpanExporter()
    tracer = _provider(exporter, Resource.create({})).get_tracer("t")
    tracer.start_span("plain", attributes={"a": "b"}).end()
    tracer.start_span("odd", attributes={"odd": value, "a": "b"}).end()
    spans = exporter.get_finished_spans()
    with pytest.raises(otlp.Unsupported):
        otlp.encode_fast(spans)
    reference = encode_spans(spans)  # the SDK writes int_value for the IntEnum, and drops the int it can't
    assert otlp.encode_request(spans) == reference.SerializeToString()
    assert otlp.encode_message(spans) == reference
    odd = reference.resource_spans[0].scope_spans[0].spans[1]
    assert [kv.key for kv in odd.attributes] == (["a"] if why == "an integer outside int64" else ["odd", "a"])


def test_the_exporter_translates_with_the_fast_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    exporter = InMemorySpanExporter()
    _every_field(exporter)
    spans = exporter.get_finished_spans()
    reference = encode_spans(spans)
    span_exporter = otlp.OTLPSpanExporter(endpoint="127.0.0.1:1", insecure=True)

    def no_fallback(spans: Any) -> Any:
        raise AssertionError("the exporter fell back to the SDK's encoder")

    monkeypatch.setattr(otlp, "encode_spans", no_fallback)
    try:
        assert span_exporter._translate_data(spans) == reference.SerializeToString()  # sent as these bytes
        span_exporter._initialize_channel_and_stub()  # as the SDK does after UNAVAILABLE: bytes again
        assert isinstance(span_exporter._client, otlp._RawTraceService)
        assert span_exporter._translate_data(spans) == reference.SerializeToString()
        span_exporter._client = None  # a stub the exporter did not make: it gets the message
        assert span_exporter._translate_data(spans) == reference
    finally:
        span_exporter.shutdown()


class _Sink(trace_service_pb2_grpc.TraceServiceServicer):
    """The collector stub of bench/_otlp_sink.py, keeping what it receives."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []

    def Export(self, request: ExportTraceServiceRequest, context: Any) -> Any:  # noqa: N802 - the gRPC name
        self.requests.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()


@pytest.fixture
def sink() -> Iterator[tuple[_Sink, int]]:
    servicer = _Sink()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(servicer, server)
    port = free_port()
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    yield servicer, port
    server.stop(None)


def test_the_server_exports_its_spans_over_otlp_grpc_through_the_fast_encoder(
    tmp_path: Path, sink: tuple[_Sink, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    servicer, port = sink
    environ = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}", "OTEL_EXPORTER_OTLP_INSECURE": "true"}
    for key, value in environ.items():
        monkeypatch.setenv(key, value)  # the SDK's exporter reads its settings from os.environ

    def no_fallback(spans: Any) -> Any:
        raise AssertionError("the exporter fell back to the SDK's encoder")  # its spans would never arrive

    monkeypatch.setattr(otlp, "encode_spans", no_fallback)
    tracing = Tracing.from_environ(environ)
    assert tracing is not None
    processor = tracing.provider._active_span_processor._span_processors[0]
    assert type(processor.span_exporter) is otlp.OTLPSpanExporter
    opener, _ = write_repository(tmp_path / "repo")
    with ThreadedServer(tmp_path, None, model_dir=tmp_path / "repo", opener=opener, tracing=tracing) as server:
        answer = request(
            server.port, "POST", "/v1/models/ident:predict", {"instances": [[1.0, 2.0]]}, {"traceparent": PARENT}
        )
        assert answer.status == 200
    # The drain shut the tracer provider down, which flushed the batch processor to the stub.
    spans = [s for r in servicer.requests for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans]
    ours = {s.name: s for s in spans if s.trace_id.hex() == TRACE_ID}
    server_span = ours["POST /v1/models/{model}:predict"]
    assert server_span.parent_span_id.hex() == "00f067aa0ba902b7" and server_span.flags == 0x300
    assert server_span.kind == 2  # SPAN_KIND_SERVER
    assert answer.headers["traceparent"].split("-")[2] == server_span.span_id.hex()
    attributes = {kv.key: kv.value for kv in server_span.attributes}
    assert attributes["http.response.status_code"].int_value == 200
    assert attributes["modelport.model"].string_value == "ident"
    for name in ("queue", "batch"):
        assert ours[name].parent_span_id == server_span.span_id, name
    assert ours["inference"].parent_span_id == ours["batch"].span_id
    batch = {kv.key: kv.value.int_value for kv in ours["batch"].attributes if kv.key.startswith("modelport.batch")}
    assert batch == {"modelport.batch.rows": 1, "modelport.batch.requests": 1}
    resource = {kv.key: kv.value.string_value for kv in servicer.requests[0].resource_spans[0].resource.attributes}
    assert resource["service.name"] == "modelport-serving"
    scope = servicer.requests[0].resource_spans[0].scope_spans[0].scope
    assert scope.name == "serving_image" and scope.version
