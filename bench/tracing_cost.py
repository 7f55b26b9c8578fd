"""Tracing cost per request, in-process: the CPU time serving_image.tracing spends on one sampled HTTP request's
spans (its SERVER span with traceparent out, its queue span, its share of a batch of 10's batch and inference
spans) and on encoding them for OTLP, as the server does it (spans encoded on the spot for the server's own
batch processor), against the fallback through the SDK's live spans and its batch processor. No network: the
exporter encodes each batch and drops it.

    python bench/tracing_cost.py [--requests 10000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor as SDKBatchSpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from serving_image import otlp  # noqa: E402
from serving_image.tracing import Tracing  # noqa: E402

ATTRIBUTES = {"http.request.method": "POST", "url.path": "/v1/models/mlp:predict", "rpc.system": "http"}


class Encoding(SpanExporter):
    """Encodes each batch as the OTLP exporter would, and drops it."""

    def export(self, spans: Any) -> SpanExportResult:
        otlp.encode_request(spans)
        return SpanExportResult.SUCCESS


def requests(tracing: Tracing, count: int, batch: int = 10) -> None:
    for _ in range(0, count, batch):
        handles, contexts = [], []
        for _ in range(batch):
            handle = tracing.start_server_span("POST /v1/models/mlp:predict", None, None, dict(ATTRIBUTES))
            handle.traceparent.encode()
            contexts.append((Tracing.current(), time.time_ns()))
            handles.append(handle)
        start = time.time_ns()
        tracing.record_batch("mlp", contexts, batch, start, start + 1000, start + 50_000, None)
        for handle in reversed(handles):
            attributes = {"http.response.status_code": 200, "modelport.model": "mlp"}
            tracing.end_server_span(handle, "200", False, "POST /v1/models/{model}:predict", **attributes)


def setup(mode: str) -> tuple[TracerProvider, Tracing]:
    provider = TracerProvider(resource=Resource.create({"service.name": "modelport-serving"}))
    if mode == "server":
        provider.add_span_processor(otlp.BatchSpanProcessor(Encoding(), {"OTEL_BSP_MAX_QUEUE_SIZE": "1000000"}))
        return provider, Tracing(provider)
    provider.add_span_processor(SDKBatchSpanProcessor(Encoding(), max_queue_size=1_000_000))
    tracing = Tracing(provider)
    tracing._processor = None  # the fallback: the SDK's live spans
    return provider, tracing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    modes = {"server": "finished spans, encoded on the spot (the server's path)", "live": "SDK live spans"}
    best = dict.fromkeys(modes, float("inf"))
    for _ in range(args.rounds):
        for mode in modes:  # taking turns, so that a busy machine slows both alike
            provider, tracing = setup(mode)
            requests(tracing, 1000)
            provider.force_flush()
            started = time.process_time()
            requests(tracing, args.requests)
            provider.force_flush()
            best[mode] = min(best[mode], (time.process_time() - started) / args.requests * 1e6)
            provider.shutdown()
    print(f"CPU per sampled request, spans built and OTLP-encoded, best of {args.rounds} rounds:")
    for mode, text in modes.items():
        print(f"  {text:58s} {best[mode]:6.1f} µs")


if __name__ == "__main__":
    main()
