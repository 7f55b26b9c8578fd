"""OpenTelemetry tracing: W3C traceparent in and out on HTTP and gRPC, spans for the request, queue, batch and
inference, one span per pipeline step with the traceparent handed to handlers; and nothing at all (not even
the SDK import) unless an OTLP endpoint is configured."""

from __future__ import annotations

import http.client
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, TracerProvider, sampling
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    Decision,
    ParentBased,
    ParentBasedTraceIdRatio,
    Sampler,
    StaticSampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import SpanContext, SpanKind, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState

from serving_image import otlp
from serving_image.config import load_settings
from serving_image.rpc.protos import open_inference_pb2, open_inference_service_pb2_grpc
from serving_image.tracing import Tracing, _compile, _in_context, parse_traceparent

from .serving_helpers import ROOT, ThreadedServer, request
from .test_serving_pipelines import HANDLERS, PIPELINES, write_repository

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


# A pipeline whose one handler answers with the traceparent it was handed, and the OpenTelemetry context's.
SHOW = """
  show:
    inputs: {x: {dtype: float32, shape: [-1, 2]}}
    outputs:
      header: {from: look.header, dtype: string, shape: [-1]}
      otel: {from: look.otel, dtype: string, shape: [-1]}
    steps:
      - {name: look, handler: "tp:look", inputs: {x: x}, outputs: [header, otel]}
"""
SHOW_HANDLER = """
    import numpy as np
    from opentelemetry import trace

    def look(x, headers):
        span = trace.get_current_span().get_span_context()
        otel = f"{span.trace_id:032x}-{span.span_id:016x}"
        return {"header": np.array([headers["traceparent"]] * len(x)), "otel": np.array([otel] * len(x))}
"""


def _tracing(sampler: Sampler | None = None, live: bool = False) -> tuple[Tracing, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler) if sampler is not None else TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = Tracing(provider)
    if live:
        tracing._processor = None
    return tracing, exporter


@contextmanager
def _served(tmp_path: Path, tracing: Tracing) -> Iterator[ThreadedServer]:
    opener, _ = write_repository(tmp_path / "repo", PIPELINES + SHOW, {**HANDLERS, "tp.py": SHOW_HANDLER})
    with ThreadedServer(tmp_path, None, model_dir=tmp_path / "repo", opener=opener, tracing=tracing) as server:
        yield server


@pytest.fixture(params=["finished", "live"])
def traced(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[ThreadedServer, InMemorySpanExporter]]:
    """``finished``: spans built finished and handed to the provider's processors (the default); ``live``:
    the SDK's own spans, the fallback when the provider's processors are not found."""
    tracing, exporter = _tracing(live=request.param == "live")
    with _served(tmp_path, tracing) as server:
        yield server, exporter


def _spans(exporter: InMemorySpanExporter, trace_id: str = TRACE_ID) -> list:
    return [s for s in exporter.get_finished_spans() if f"{s.context.trace_id:032x}" == trace_id]


def test_http_traceparent_in_and_out_with_queue_batch_and_inference_spans(
    traced: tuple[ThreadedServer, InMemorySpanExporter],
) -> None:
    server, exporter = traced
    answer = request(
        server.port, "POST", "/v1/models/ident:predict", {"instances": [[1.0, 2.0]]}, {"traceparent": PARENT}
    )
    assert answer.status == 200
    assert answer.headers["traceparent"].split("-")[1] == TRACE_ID
    spans = {s.name: s for s in _spans(exporter)}
    server_span = spans["POST /v1/models/{model}:predict"]
    assert f"{server_span.parent.span_id:016x}" == "00f067aa0ba902b7"
    assert answer.headers["traceparent"].split("-")[2] == f"{server_span.context.span_id:016x}"
    assert server_span.attributes["http.response.status_code"] == 200
    assert server_span.attributes["modelport.model"] == "ident"
    for name in ("queue", "batch"):
        assert spans[name].parent.span_id == server_span.context.span_id, name
    assert spans["inference"].parent.span_id == spans["batch"].context.span_id
    assert spans["batch"].attributes["modelport.batch.rows"] == 1
    assert spans["queue"].end_time <= spans["batch"].start_time <= spans["inference"].start_time
    assert spans["inference"].end_time == spans["batch"].end_time
    assert {s.resource for s in spans.values()} == {server_span.resource}
    assert {s.instrumentation_scope.name for s in spans.values()} == {"serving_image"}
    assert all(s.context.trace_flags.sampled for s in spans.values())


def test_grpc_traceparent_in_and_out(traced: tuple[ThreadedServer, InMemorySpanExporter]) -> None:
    server, exporter = traced
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        stub = open_inference_service_pb2_grpc.GRPCInferenceServiceStub(channel)
        call = open_inference_pb2.ModelInferRequest(model_name="ident")
        call.inputs.add(name="x", datatype="FP32", shape=[1, 2])
        call.raw_input_contents.append(np.ones((1, 2), "<f4").tobytes())
        _, rpc = stub.ModelInfer.with_call(call, metadata=(("traceparent", PARENT),))
        trailing = dict(rpc.trailing_metadata())
    assert trailing["traceparent"].split("-")[1] == TRACE_ID
    names = [s.name for s in _spans(exporter)]
    assert "inference.GRPCInferenceService/ModelInfer" in names and "inference" in names


def test_pipeline_steps_are_spans_and_handlers_get_the_traceparent(
    traced: tuple[ThreadedServer, InMemorySpanExporter],
) -> None:
    server, exporter = traced
    answer = request(
        server.port, "POST", "/v1/models/fan:predict", {"instances": [[1.0, 2.0]]}, {"traceparent": PARENT}
    )
    assert answer.status == 200
    spans = _spans(exporter)
    by_name = {s.name: s for s in spans}
    root = by_name["POST /v1/models/{model}:predict"]
    for step in ("step a", "step b", "step join"):
        assert by_name[step].parent.span_id == root.context.span_id, step
    model_steps = {by_name["step a"].context.span_id, by_name["step b"].context.span_id}
    assert {s.parent.span_id for s in spans if s.name == "queue"} == model_steps  # each model step queued
    failed = request(server.port, "POST", "/v1/models/broken:predict", {"instances": [[1.0, 2.0]]})
    boom = next(s for s in exporter.get_finished_spans() if s.name == "step boom")
    assert failed.status == 500 and not boom.status.is_ok


def test_no_endpoint_means_no_tracing_and_no_sdk_import() -> None:
    assert not load_settings({"MODEL_DIR": "/m"}).tracing
    assert load_settings({"MODEL_DIR": "/m", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}).tracing
    assert Tracing.from_environ({}) is None
    assert Tracing.from_environ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_SDK_DISABLED": "true"}) is None
    probe = (
        "import sys; from serving_image.config import load_settings; from serving_image.service import Service; "
        "s = Service.create(load_settings({'MODEL_DIR': '/m', 'GRPC_PORT': '0'})); "
        "print(s.tracing is None, any(m.startswith('opentelemetry.sdk') for m in sys.modules))"
    )
    output = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True, env={"PATH": ""}
    )
    assert output.stdout.split() == ["True", "False"]


def test_an_endpoint_builds_an_otlp_exporter() -> None:
    tracing = Tracing.from_environ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"})
    assert tracing is not None
    tracing.shutdown()
    with pytest.raises(Exception, match="OTEL_EXPORTER_OTLP_PROTOCOL must be grpc or http/protobuf"):
        Tracing.from_environ({"OTEL_EXPORTER_OTLP_ENDPOINT": "x", "OTEL_EXPORTER_OTLP_PROTOCOL": "carrier-pigeon"})


# --- traceparent and tracestate, W3C Trace Context ------------------------------------------------------------

ids = st.tuples(st.integers(1, 2**128 - 1), st.integers(1, 2**64 - 1), st.integers(0, 255))


@given(ids)
def test_a_version_00_traceparent_parses_to_its_ids_and_flags(parts: tuple[int, int, int]) -> None:
    trace_id, span_id, flags = parts
    assert parse_traceparent(f"00-{trace_id:032x}-{span_id:016x}-{flags:02x}") == parts
    assert parse_traceparent(f" \t00-{trace_id:032x}-{span_id:016x}-{flags:02x}\t ") == parts  # HTTP OWS


@given(ids, st.sampled_from(["01", "0a", "cc", "fe"]), st.text("abcxyz-0123=", max_size=40))
def test_a_later_version_parses_by_its_first_55_characters(
    parts: tuple[int, int, int], version: str, tail: str
) -> None:
    trace_id, span_id, flags = parts
    head = f"{version}-{trace_id:032x}-{span_id:016x}-{flags:02x}"
    assert parse_traceparent(head) == parts
    assert parse_traceparent(f"{head}-{tail}") == parts
    assert parse_traceparent(f"{head}x{tail}") is None  # after the flags: the end or a dash
    assert parse_traceparent(f"00-{trace_id:032x}-{span_id:016x}-{flags:02x}-{tail}") is None  # 00: exactly 55


@given(ids, st.integers(0, 54), st.sampled_from(list("ABCDEFG-_ gz.")))
def test_any_character_off_the_grammar_makes_the_traceparent_invalid(
    parts: tuple[int, int, int], at: int, char: str
) -> None:
    trace_id, span_id, flags = parts
    good = f"00-{trace_id:032x}-{span_id:016x}-{flags:02x}"
    bad = good[:at] + char + good[at + 1 :]
    if at in (2, 35, 52) and char == "-":
        return  # the same string
    if at in (0, 54) and char == " ":
        return  # surrounding whitespace is OWS, and then the header is too short anyway
    assert parse_traceparent(bad) is None


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        f"ff-{TRACE_ID}-00f067aa0ba902b7-01",  # version ff is forbidden
        f"00-{'0' * 32}-00f067aa0ba902b7-01",  # all-zero trace id
        f"00-{TRACE_ID}-{'0' * 16}-01",  # all-zero parent id
        f"00-{TRACE_ID.upper()}-00f067aa0ba902b7-01",  # uppercase hex
        f"00-{TRACE_ID}-00F067AA0BA902B7-01",
        f"00-{TRACE_ID}-00f067aa0ba902b7-0A",
        f"0-{TRACE_ID}-00f067aa0ba902b7-01",  # short fields
        f"00-{TRACE_ID[:-1]}-00f067aa0ba902b7-01",
        f"00-{TRACE_ID}-00f067aa0ba902b7-1",
        f"00-{TRACE_ID}-00f067aa0ba902b7-01-",  # 00 with more
        f"00_{TRACE_ID}_00f067aa0ba902b7_01",
        f"cc-{TRACE_ID}-00f067aa0ba902b7-01.what",  # later version: the 56th character must be '-'
    ],
)
def test_invalid_traceparents_are_ignored(value: str | None) -> None:
    assert parse_traceparent(value) is None


# --- sampling and the SERVER span, without a server --------------------------------------------------------

ATTRIBUTES = {"http.request.method": "POST", "url.path": "/v1/models/m:predict", "rpc.system": "http"}


def _one(tracing: Tracing, traceparent: str | None, tracestate: str | None = None) -> Any:
    handle = tracing.start_server_span("POST /x", traceparent, tracestate, dict(ATTRIBUTES))
    tracing.end_server_span(handle, "200", False, "POST /v1/models/{model}:predict", **{"modelport.model": "m"})
    return handle


@pytest.mark.parametrize("live", [False, True])
def test_a_sampled_server_span_is_the_answers_traceparent_child_of_the_callers(live: bool) -> None:
    tracing, exporter = _tracing(live=live)
    handle = _one(tracing, PARENT, "vendor=a1,other=b2")
    [span] = exporter.get_finished_spans()
    version, trace_id, span_id, flags = handle.traceparent.split("-")
    assert (version, trace_id, flags) == ("00", TRACE_ID, "01")
    assert span_id == f"{span.context.span_id:016x}" != "00f067aa0ba902b7"
    assert span.kind == SpanKind.SERVER and span.name == "POST /v1/models/{model}:predict"
    assert f"{span.parent.span_id:016x}" == "00f067aa0ba902b7" and span.parent.is_remote
    assert span.context.trace_state.to_header() == "vendor=a1,other=b2"  # passed on
    assert dict(span.attributes) == {**ATTRIBUTES, "modelport.model": "m", "modelport.status": "200"}
    assert span.status.status_code == StatusCode.UNSET
    assert span.start_time <= span.end_time
    assert span.instrumentation_scope.name == "serving_image"


@pytest.mark.parametrize("live", [False, True])
def test_no_traceparent_or_an_invalid_one_starts_a_new_trace(live: bool) -> None:
    tracing, exporter = _tracing(live=live)
    for value in (None, f"00-{TRACE_ID.upper()}-00f067aa0ba902b7-01", f"ff-{TRACE_ID}-00f067aa0ba902b7-01"):
        handle = _one(tracing, value, "vendor=a1")
        span = exporter.get_finished_spans()[-1]
        assert span.parent is None and f"{span.context.trace_id:032x}" != TRACE_ID
        assert handle.traceparent == f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}-03"  # random id
        assert not span.context.trace_state  # no tracestate without a valid traceparent


@pytest.mark.parametrize("live", [False, True])
def test_an_unsampled_request_answers_flags_00_and_builds_no_span(live: bool) -> None:
    tracing, exporter = _tracing(ParentBased(ALWAYS_ON), live=live)
    unsampled = f"00-{TRACE_ID}-00f067aa0ba902b7-00"
    handle = tracing.start_server_span("POST /x", unsampled, "vendor=a1", dict(ATTRIBUTES))
    assert Tracing.current() is None  # no queue or batch spans
    tracing.end_server_span(handle, "200", False)
    version, trace_id, span_id, flags = handle.traceparent.split("-")
    assert (version, trace_id, flags) == ("00", TRACE_ID, "00")
    assert span_id not in ("00f067aa0ba902b7", "0" * 16)  # a span id of its own all the same
    assert handle.context.trace_state.to_header() == "vendor=a1"
    assert exporter.get_finished_spans() == ()


@pytest.mark.parametrize("live", [False, True])
@pytest.mark.parametrize(
    ("sampler", "traceparent", "sampled"),
    [
        (ALWAYS_OFF, PARENT, False),
        (ALWAYS_OFF, None, False),
        (ALWAYS_ON, f"00-{TRACE_ID}-00f067aa0ba902b7-00", True),  # not parent-based: the parent's flag is moot
        (ParentBased(ALWAYS_OFF), PARENT, True),  # a sampled remote parent
        (ParentBased(ALWAYS_OFF), None, False),  # no parent: the root sampler
        (ParentBased(ALWAYS_ON), f"00-{TRACE_ID}-00f067aa0ba902b7-00", False),  # an unsampled remote parent
        (ParentBased(ALWAYS_ON), None, True),
        (ParentBasedTraceIdRatio(0.0001), PARENT, True),
        (ParentBasedTraceIdRatio(1.0), f"00-{TRACE_ID}-00f067aa0ba902b7-00", False),
    ],
)
def test_the_providers_sampler_decides(sampler: Sampler, traceparent: str | None, sampled: bool, live: bool) -> None:
    tracing, exporter = _tracing(sampler, live=live)
    handle = _one(tracing, traceparent)
    assert int(handle.traceparent[-2:], 16) & 1 == sampled  # bit 2: a new trace's random trace id
    assert len(exporter.get_finished_spans()) == int(sampled)


@given(st.integers(1, 2**128 - 1))
def test_traceidratio_samples_by_the_trace_id_as_the_sdk_does(trace_id: int) -> None:
    sampler = TraceIdRatioBased(0.5)
    tracing, exporter = _tracing(sampler)
    expected = sampler.should_sample(None, trace_id, "x").decision.is_sampled()
    handle = _one(tracing, f"00-{trace_id:032x}-00f067aa0ba902b7-01")
    assert handle.traceparent.endswith("-01") is expected
    assert len(exporter.get_finished_spans()) == int(expected)


def test_an_error_sets_the_error_status_and_limits_bound_the_attributes() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(span_limits=SpanLimits(max_attribute_length=8))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = Tracing(provider)
    handle = tracing.start_server_span("POST /x", None, None, dict(ATTRIBUTES))
    tracing.end_server_span(handle, "503", True)
    [span] = exporter.get_finished_spans()
    assert span.status.status_code == StatusCode.ERROR and span.status.description == "503"
    assert span.attributes["url.path"] == "/v1/mode"  # OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT, as the SDK's spans


# --- through the server --------------------------------------------------------------------------------------


def test_http_answers_the_server_spans_own_traceparent_with_its_attributes(
    traced: tuple[ThreadedServer, InMemorySpanExporter],
) -> None:
    server, exporter = traced
    answer = request(server.port, "POST", "/v1/models/ident:predict", {"instances": [[1.0]]}, {"traceparent": PARENT})
    assert answer.status == 400
    [span] = [s for s in _spans(exporter) if s.kind == SpanKind.SERVER]
    assert answer.headers["traceparent"] == f"00-{TRACE_ID}-{span.context.span_id:016x}-01"
    assert span.attributes["http.response.status_code"] == 400 and span.attributes["modelport.status"] == "400"
    assert span.attributes["url.path"] == "/v1/models/ident:predict"
    assert span.attributes["http.request.method"] == "POST" and span.attributes["rpc.system"] == "http"
    assert span.status.status_code == StatusCode.UNSET  # a client error is not the server's


def test_a_5xx_is_an_error_span(traced: tuple[ThreadedServer, InMemorySpanExporter]) -> None:
    server, exporter = traced
    answer = request(
        server.port, "POST", "/v1/models/broken:predict", {"instances": [[1.0, 2.0]]}, {"traceparent": PARENT}
    )
    assert answer.status == 500
    [span] = [s for s in _spans(exporter) if s.kind == SpanKind.SERVER]
    assert span.status.status_code == StatusCode.ERROR and span.status.description == "500"
    assert span.attributes["modelport.model"] == "broken"


def test_http_unsampled_duplicated_and_invalid_traceparents(tmp_path: Path) -> None:
    tracing, exporter = _tracing()
    with _served(tmp_path, tracing) as server:
        unsampled = f"00-{TRACE_ID}-00f067aa0ba902b7-00"
        answer = request(
            server.port, "POST", "/v1/models/ident:predict", {"instances": [[1.0, 2.0]]}, {"traceparent": unsampled}
        )
        assert answer.status == 200
        version, trace_id, span_id, flags = answer.headers["traceparent"].split("-")
        assert (trace_id, flags) == (TRACE_ID, "00") and span_id != "00f067aa0ba902b7"
        assert _spans(exporter) == []  # no SERVER, queue, batch or inference span

        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        connection.putrequest("POST", "/v1/models/ident:predict")
        for value in (PARENT, PARENT):  # sent twice: invalid, a new trace
            connection.putheader("traceparent", value)
        body = b'{"instances": [[1.0, 2.0]]}'
        connection.putheader("content-length", str(len(body)))
        connection.endheaders(body)
        duplicated = connection.getresponse()
        duplicated.read()
        connection.close()
        assert duplicated.status == 200 and duplicated.getheader("traceparent").split("-")[1] != TRACE_ID

        broken = request(
            server.port,
            "POST",
            "/v1/models/ident:predict",
            {"instances": [[1.0, 2.0]]},
            {"traceparent": PARENT.upper()},
        )
        new_trace = broken.headers["traceparent"].split("-")[1]
        assert new_trace != TRACE_ID.upper().lower()
        [span] = [s for s in _spans(exporter, new_trace) if s.kind == SpanKind.SERVER]
        assert span.parent is None


def _infer(server: ThreadedServer, model: str, metadata: tuple[tuple[str, str], ...]) -> tuple[Any, dict[str, str]]:
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        stub = open_inference_service_pb2_grpc.GRPCInferenceServiceStub(channel)
        call = open_inference_pb2.ModelInferRequest(model_name=model)
        call.inputs.add(name="x", datatype="FP32", shape=[1, 2])
        call.raw_input_contents.append(np.ones((1, 2), "<f4").tobytes())
        try:
            _, rpc = stub.ModelInfer.with_call(call, metadata=metadata)
        except grpc.RpcError as exc:
            return exc.code(), dict(exc.trailing_metadata())
        return grpc.StatusCode.OK, dict(rpc.trailing_metadata())


def test_grpc_server_span_attributes_parents_and_errors(traced: tuple[ThreadedServer, InMemorySpanExporter]) -> None:
    server, exporter = traced
    code, trailing = _infer(server, "ident", (("traceparent", PARENT), ("tracestate", "vendor=a1")))
    assert code == grpc.StatusCode.OK
    spans = {s.name: s for s in _spans(exporter)}
    span = spans["inference.GRPCInferenceService/ModelInfer"]
    assert span.kind == SpanKind.SERVER
    assert trailing["traceparent"] == f"00-{TRACE_ID}-{span.context.span_id:016x}-01"
    assert f"{span.parent.span_id:016x}" == "00f067aa0ba902b7"
    assert span.context.trace_state.to_header() == "vendor=a1"
    assert span.attributes["rpc.system"] == "grpc" and span.attributes["rpc.grpc.status_code"] == "OK"
    assert span.attributes["rpc.method"] == "/inference.GRPCInferenceService/ModelInfer"
    assert span.attributes["modelport.model"] == "ident" and span.status.status_code == StatusCode.UNSET
    assert spans["queue"].parent.span_id == spans["batch"].parent.span_id == span.context.span_id
    assert spans["inference"].parent.span_id == spans["batch"].context.span_id
    exporter.clear()

    code, trailing = _infer(server, "broken", (("traceparent", PARENT),))
    assert code == grpc.StatusCode.INTERNAL
    [span] = [s for s in _spans(exporter) if s.kind == SpanKind.SERVER]
    assert trailing["traceparent"] == f"00-{TRACE_ID}-{span.context.span_id:016x}-01"
    assert span.status.status_code == StatusCode.ERROR and span.status.description == "INTERNAL"
    exporter.clear()

    code, _ = _infer(server, "nope", (("traceparent", PARENT),))
    assert code == grpc.StatusCode.NOT_FOUND
    [span] = [s for s in _spans(exporter) if s.kind == SpanKind.SERVER]
    assert span.status.status_code == StatusCode.UNSET and span.attributes["rpc.grpc.status_code"] == "NOT_FOUND"
    exporter.clear()

    code, trailing = _infer(server, "ident", (("traceparent", f"00-{TRACE_ID}-00f067aa0ba902b7-00"),))
    assert code == grpc.StatusCode.OK and trailing["traceparent"].startswith(f"00-{TRACE_ID}-")
    assert trailing["traceparent"].endswith("-00") and _spans(exporter) == []


def test_a_handler_sees_its_steps_traceparent_and_otel_context(
    traced: tuple[ThreadedServer, InMemorySpanExporter],
) -> None:
    server, exporter = traced
    answer = request(
        server.port, "POST", "/v1/models/show:predict", {"instances": [[1.0, 2.0]]}, {"traceparent": PARENT}
    )
    assert answer.status == 200
    [seen] = answer.json()["predictions"]
    spans = {s.name: s for s in _spans(exporter)}
    step, root = spans["step look"], spans["POST /v1/models/{model}:predict"]
    assert step.parent.span_id == root.context.span_id and step.attributes["modelport.pipeline"] == "show"
    assert seen["header"] == f"00-{TRACE_ID}-{step.context.span_id:016x}-01"
    assert seen["otel"] == f"{TRACE_ID}-{step.context.span_id:016x}"
    assert answer.headers["traceparent"] == f"00-{TRACE_ID}-{root.context.span_id:016x}-01"


def test_unsampled_pipeline_steps_still_hand_on_a_traceparent(tmp_path: Path) -> None:
    tracing, exporter = _tracing()
    with _served(tmp_path, tracing) as server:
        unsampled = f"00-{TRACE_ID}-00f067aa0ba902b7-00"
        answer = request(
            server.port, "POST", "/v1/models/show:predict", {"instances": [[1.0, 2.0]]}, {"traceparent": unsampled}
        )
    [seen] = answer.json()["predictions"]
    _, trace_id, span_id, flags = seen["header"].split("-")
    assert (trace_id, flags) == (TRACE_ID, "00")
    assert span_id not in ("00f067aa0ba902b7", answer.headers["traceparent"].split("-")[2])  # the step's own
    assert _spans(exporter) == []


# --- the SDK's samplers' rules, applied without asking them ---------------------------------------------------

SAMPLERS = [
    ALWAYS_ON,
    ALWAYS_OFF,
    StaticSampler(Decision.RECORD_ONLY),
    TraceIdRatioBased(0.3),
    ParentBased(ALWAYS_ON),
    ParentBased(ALWAYS_OFF),
    ParentBasedTraceIdRatio(0.25),
    ParentBased(
        TraceIdRatioBased(0.5), remote_parent_sampled=TraceIdRatioBased(0.5), local_parent_not_sampled=ALWAYS_ON
    ),
    sampling._get_from_env_or_default(),
]


@given(
    st.sampled_from(SAMPLERS),
    st.integers(1, 2**128 - 1),
    st.none() | st.tuples(st.integers(1, 2**64 - 1), st.booleans(), st.integers(0, 3)),
)
def test_the_sdks_samplers_rules_decide_as_their_should_sample(
    sampler: Sampler, trace_id: int, parent: tuple[int, bool, int] | None
) -> None:
    rule = _compile(sampler)
    assert rule is not None
    context = None if parent is None else SpanContext(trace_id, parent[0], parent[1], TraceFlags(parent[2]))
    expected = sampler.should_sample(_in_context(context), trace_id, "x", SpanKind.SERVER, {"a": 1})
    assert rule(context, trace_id) is expected.decision


class _ByName(Sampler):
    """Not one of the SDK's: asked itself, its attributes and tracestate kept."""

    def should_sample(self, parent_context: Any, trace_id: int, name: str, *args: Any, **kwargs: Any) -> Any:
        decision = Decision.RECORD_AND_SAMPLE if name.startswith("POST") else Decision.DROP
        return sampling.SamplingResult(decision, {"sampled.by": "name"}, TraceState([("picked", "yes")]))

    def get_description(self) -> str:
        return "ByName"


class _RatioSubclass(TraceIdRatioBased):
    def should_sample(self, *args: Any, **kwargs: Any) -> Any:
        return sampling.SamplingResult(Decision.RECORD_AND_SAMPLE)


def test_other_samplers_are_asked_and_their_attributes_and_tracestate_kept() -> None:
    assert _compile(_ByName()) is None and _compile(_RatioSubclass(0.0)) is None
    assert _compile(ParentBased(_ByName())) is None
    tracing, exporter = _tracing(_ByName())
    post = tracing.start_server_span("POST /x", PARENT, None, dict(ATTRIBUTES))
    tracing.end_server_span(post, "200", False)
    get = tracing.start_server_span("GET /x", PARENT, None, dict(ATTRIBUTES))
    tracing.end_server_span(get, "200", False)
    [span] = exporter.get_finished_spans()
    assert span.attributes["sampled.by"] == "name" and span.context.trace_state.to_header() == "picked=yes"
    assert post.traceparent.endswith("-01") and get.traceparent.endswith("-00")
    tracing, exporter = _tracing(_RatioSubclass(0.0))  # a subclass may decide otherwise: it is asked
    _one(tracing, None)
    assert len(exporter.get_finished_spans()) == 1


# --- spans encoded on the spot for the server's own processor --------------------------------------------------


class _Counting(IdGenerator):
    def __init__(self) -> None:
        self.next = 0

    def generate_span_id(self) -> int:
        self.next += 1
        return self.next

    def generate_trace_id(self) -> int:
        self.next += 1
        return self.next << 64 | 0xABC

    def is_trace_id_random(self) -> bool:
        return True


class _Keep(SpanExporter):
    def __init__(self) -> None:
        self.batches: list[Any] = []

    def export(self, spans: Any) -> SpanExportResult:
        self.batches.append(list(spans))
        return SpanExportResult.SUCCESS


def _scripted(tracing: Tracing) -> None:
    """The same spans every time: two requests batched together, one with a caller's traceparent and
    tracestate, an error, a pipeline step, and an unsampled request."""
    first = tracing.start_server_span("POST /a", PARENT, "vendor=a1", dict(ATTRIBUTES))
    one = (Tracing.current(), 10)
    tracing.end_server_span(first, "200", False, "POST /v1/models/{model}:predict", **{"modelport.model": "m"})
    second = tracing.start_server_span("POST /b", None, None, dict(ATTRIBUTES))
    step = tracing.start_step("p", "pre")
    tracing.end_step(step, "error")
    two = (Tracing.current(), 11)
    tracing.end_server_span(second, "503", True, **{"http.response.status_code": 503})
    tracing.record_batch("m", [one, two], 3, 20, 30, 40, ValueError("bad row"))
    unsampled = tracing.start_server_span("POST /c", f"00-{TRACE_ID}-00f067aa0ba902b7-00", None, dict(ATTRIBUTES))
    tracing.end_server_span(unsampled, "200", False)


def test_spans_encoded_on_the_spot_are_byte_for_byte_the_sdks_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter(range(1000, 2000))
    monkeypatch.setattr("serving_image.tracing.time.time_ns", lambda: next(clock))
    resource = Resource.create({"service.name": "modelport-serving"})
    keep = _Keep()
    provider = TracerProvider(resource=resource, id_generator=_Counting())
    provider.add_span_processor(otlp.BatchSpanProcessor(keep, {}))
    direct = Tracing(provider)
    _scripted(direct)
    provider.shutdown()
    assert direct._direct is not None
    [batch] = keep.batches
    assert all(type(item) is tuple for item in batch)  # (resource, scope, bytes): no ReadableSpan was built

    clock = iter(range(1000, 2000))
    reference = InMemorySpanExporter()
    provider = TracerProvider(resource=resource, id_generator=_Counting())
    provider.add_span_processor(SimpleSpanProcessor(reference))
    via_objects = Tracing(provider)
    _scripted(via_objects)
    spans = reference.get_finished_spans()
    assert len(spans) == len(batch) == 7  # 2 SERVER, 1 step, 2 queue, batch, inference; none unsampled
    assert otlp.encode_request(batch) == encode_spans(spans).SerializeToString()
    names = {span.name: span for span in spans}
    assert names["step pre"].parent.span_id == names["POST /b"].context.span_id
    assert names["inference"].status.description == "ValueError: bad row"


def test_the_processor_exports_in_batches_and_drops_loudly_when_full(caplog: pytest.LogCaptureFixture) -> None:
    class Slow(_Keep):
        def __init__(self) -> None:
            super().__init__()
            self.release = threading.Event()

        def export(self, spans: Any) -> SpanExportResult:
            self.release.wait(30)
            return super().export(spans)

    exporter = Slow()
    environ = {"OTEL_BSP_MAX_QUEUE_SIZE": "8", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "4", "OTEL_BSP_SCHEDULE_DELAY": "x"}
    processor = otlp.BatchSpanProcessor(exporter, environ)
    assert (processor.max_queue, processor.batch, processor.delay) == (8, 4, 5.0)
    assert "OTEL_BSP_SCHEDULE_DELAY='x' is not a positive integer" in caplog.text
    for index in range(4):  # a full batch wakes the exporting thread, which then waits in export()
        processor.add_encoded(None, None, bytes([index]))
    deadline = time.monotonic() + 10
    while processor._queue and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not processor._queue
    for index in range(4, 14):  # 8 wait; the last 2 do not fit
        processor.add_encoded(None, None, bytes([index]))
    assert processor.dropped == 2 and "OTLP span queue full (OTEL_BSP_MAX_QUEUE_SIZE=8)" in caplog.text
    exporter.release.set()
    processor.shutdown()  # exports what waits
    sent = [item[2] for batch in exporter.batches for item in batch]
    assert sent == [bytes([index]) for index in range(12)]
    assert [len(batch) for batch in exporter.batches] == [4, 4, 4]
    processor.add_encoded(None, None, b"late")  # after shutdown: ignored
    assert not processor._queue and processor.force_flush() is False


def test_the_processor_ignores_unsampled_spans_and_a_second_processor_gets_objects() -> None:
    keep, reference = _Keep(), InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(otlp.BatchSpanProcessor(keep, {}))
    provider.add_span_processor(SimpleSpanProcessor(reference))  # two processors: ReadableSpans for both
    tracing = Tracing(provider)
    _one(tracing, PARENT)
    _one(tracing, f"00-{TRACE_ID}-00f067aa0ba902b7-00")
    provider.shutdown()
    assert tracing._direct is None
    [batch] = keep.batches
    assert [span.name for span in batch] == [span.name for span in reference.get_finished_spans()]
    assert len(batch) == 1


def test_a_value_the_fast_encoder_does_not_know_goes_as_a_span_object() -> None:
    class Odd(Sampler):
        def should_sample(self, *args: Any, **kwargs: Any) -> Any:
            return sampling.SamplingResult(Decision.RECORD_AND_SAMPLE, {"odd": {"a", "set"}})

        def get_description(self) -> str:
            return "Odd"

    keep = _Keep()
    provider = TracerProvider(sampler=Odd())
    provider.add_span_processor(otlp.BatchSpanProcessor(keep, {}))
    tracing = Tracing(provider)
    _one(tracing, PARENT)
    provider.shutdown()
    [[span]] = keep.batches
    assert span.name == "POST /v1/models/{model}:predict" and span.attributes["odd"] == {"a", "set"}
