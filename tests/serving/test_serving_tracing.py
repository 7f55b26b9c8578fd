"""OpenTelemetry tracing: W3C traceparent in and out on HTTP and gRPC, spans for the request, queue, batch and
inference, one span per pipeline step with the traceparent handed to handlers; and nothing at all (not even
the SDK import) unless an OTLP endpoint is configured."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from serving_image.config import load_settings
from serving_image.rpc.protos import open_inference_pb2, open_inference_service_pb2_grpc
from serving_image.tracing import Tracing

from .serving_helpers import ROOT, ThreadedServer, request
from .test_serving_pipelines import write_repository

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture(params=["finished", "live"])
def traced(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[ThreadedServer, InMemorySpanExporter]]:
    """``finished``: queue, batch and inference spans built finished and handed to the provider's processors
    (the default); ``live``: the SDK's own spans, the fallback when the provider's processors are not found."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = Tracing(provider)
    if request.param == "live":
        tracing._processor = None
    opener, _ = write_repository(tmp_path / "repo")
    with ThreadedServer(tmp_path, None, model_dir=tmp_path / "repo", opener=opener, tracing=tracing) as s:
        yield s, exporter


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
