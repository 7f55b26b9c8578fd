"""Prometheus metrics of one server, kept in its own registry: requests and latency by route and status,
queue time, batch size, inference time, in-flight requests, rejections and model readiness.

The request count is the latency histogram's ``_count`` series, so a request costs one observation."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Metrics:
    """The server's instruments. One instance per app, so tests and several apps never share counters."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True) if registry is None else registry
        registry = self.registry
        self.request_seconds = Histogram(
            "modelport_request_duration_seconds",
            "Time from request start to the end of the response; _count is the number of requests.",
            ["route", "method", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.queue_seconds = Histogram(
            "modelport_queue_seconds",
            "Time a request waited in the batch queue before inference started.",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.inference_seconds = Histogram(
            "modelport_inference_seconds",
            "Time the runtime took for one batch.",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.batch_size = Histogram(
            "modelport_batch_size", "Rows per inference call.", buckets=_BATCH_BUCKETS, registry=registry
        )
        self.in_flight = Gauge(
            "modelport_in_flight_requests", "HTTP requests being served right now.", registry=registry
        )
        self.rejections = Counter(
            "modelport_rejections", "Requests refused before inference, by reason.", ["reason"], registry=registry
        )
        self.model_ready = Gauge(
            "modelport_model_ready",
            "1 once the model is loaded and warm, 0 while loading or draining.",
            registry=registry,
        )
        self._request_children: dict[tuple[str, str, int], Histogram] = {}

    def measure_in_flight(self, read: Callable[[], float]) -> None:
        """Read the in-flight count at scrape time, so the request path takes no lock for it."""
        self.in_flight.set_function(read)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        child = self._request_children.get(key)
        if child is None:
            child = self.request_seconds.labels(route=route, method=method, status=str(status))
            self._request_children[key] = child
        child.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
