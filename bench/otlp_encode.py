"""OTLP trace encoding benchmark: microseconds per span to turn a batch of the server's spans into an
``ExportTraceServiceRequest``, by the SDK's encoder (``encode_spans``: one upb message per span, attribute and
value, built in Python) and by serving_image.otlp (the wire bytes written directly, then parsed by upb for the
gRPC stub). The spans are made by serving_image.tracing itself for HTTP requests batched 8 at a time: a
SERVER span, a queue span per request, and a batch span (linked to the batch's other requests) with an
inference span; every request sampled, batches of 512 spans as the BatchSpanProcessor exports them.

    python bench/otlp_encode.py [--repeat 20] [--batch 512]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from serving_image import otlp  # noqa: E402
from serving_image.tracing import Tracing, now_ns  # noqa: E402


def server_spans(count: int) -> list[Any]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "modelport-serving"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = Tracing(provider)
    while len(exporter.get_finished_spans()) < count:
        handles, contexts = [], []
        for i in range(8):
            traceparent = f"00-{i + 1:032x}-{i + 1:016x}-01" if i % 2 else None
            attributes = {"http.request.method": "POST", "url.path": "/v2/models/mlp/infer", "rpc.system": "http"}
            handle = tracing.start_server_span("POST /v2/models/mlp/infer", traceparent, None, attributes)
            contexts.append((Tracing.current(), now_ns()))
            handles.append(handle)
        start = now_ns()
        tracing.record_batch("mlp", contexts, 8, start, start + 1000, start + 50_000, None)
        for handle in reversed(handles):
            attributes = {"http.response.status_code": 200, "modelport.model": "mlp"}
            tracing.end_server_span(handle, "200", False, "POST /v2/models/{model_name}/infer", **attributes)
    return list(exporter.get_finished_spans()[:count])


def per_span(encoders: Sequence[Callable[[Sequence[Any]], Any]], spans: Sequence[Any], repeat: int) -> list[float]:
    """The fastest of ``repeat`` rounds for each encoder, in µs per span; the encoders take turns in each
    round so that a busy machine slows them alike."""
    for encode in encoders:
        encode(spans)  # warm the caches, as a running server has
    best = [float("inf")] * len(encoders)
    for _ in range(repeat):
        for index, encode in enumerate(encoders):
            started = time.perf_counter()
            encode(spans)
            best[index] = min(best[index], time.perf_counter() - started)
    return [seconds / len(spans) * 1e6 for seconds in best]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--batch", type=int, default=512)
    args = parser.parse_args()
    spans = server_spans(args.batch)
    assert otlp.encode_message(spans) == encode_spans(spans), "the encoders disagree"
    rows = [
        ("SDK encode_spans", lambda s: encode_spans(s)),
        ("SDK encode_spans + serialise", lambda s: encode_spans(s).SerializeToString()),
        ("otlp.encode_request (bytes)", otlp.encode_request),
        ("otlp.encode_message (bytes, parsed by upb)", otlp.encode_message),
        ("otlp.encode_message + serialise (the exporter's work)", lambda s: otlp.encode_message(s).SerializeToString()),
    ]
    results = list(
        zip([label for label, _ in rows], per_span([encode for _, encode in rows], spans, args.repeat), strict=True)
    )
    print(f"{len(spans)} server spans a batch, fastest of {args.repeat} rounds:")
    for label, micros in results:
        print(f"  {label:<55} {micros:7.2f} µs/span")
    print(f"  speed-up, SDK encode_spans / otlp.encode_message: {results[0][1] / results[3][1]:.1f}×")


if __name__ == "__main__":
    main()
