"""Prometheus metrics of one server, kept in its own registry: requests and latency by model, protocol, route
and status; queue time, batch size and inference time by model; in-flight requests, rejections, each model's
load state, and each pipeline step's time. The schema is declared once in :mod:`.monitoring`, which also
generates the dashboard, the alert rules and the KServe/Triton recording rules from it.

The request count is the latency histogram's ``_count`` series, so a request costs one observation."""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class LoopHistogram:
    """One histogram series, observed without locks.

    ``prometheus_client.Histogram.observe`` takes a lock twice and scans the buckets one by one: about
    1.2 µs, and a request observes twice (its latency and its queue time), which was 8 % of a small model's
    whole request in process. Every observation here happens on the event loop thread, and so does every
    scrape (``/metrics`` is a route on the same loop), so no lock is needed: a bisection and two additions.
    """

    __slots__ = ("_bounds", "_counts", "_sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self._bounds = tuple(bounds)
        self._counts = [0] * (len(self._bounds) + 1)  # the last one is +Inf
        self._sum = 0.0

    def observe(self, value: float) -> None:
        self._counts[bisect.bisect_left(self._bounds, value)] += 1  # bucket ``le`` counts values <= le
        self._sum += value

    def buckets(self) -> list[tuple[str, float]]:
        bounds = [*map(floatToGoString, self._bounds), "+Inf"]
        return list(zip(bounds, itertools.accumulate(self._counts), strict=True))


class LoopHistograms(Collector):
    """A histogram family of :class:`LoopHistogram` series, exposed through ``prometheus_client``'s
    collector interface, so ``/metrics`` prints it exactly like a ``prometheus_client.Histogram``."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        *,
        buckets: Sequence[float],
        registry: CollectorRegistry,
    ) -> None:
        if list(buckets) != sorted(buckets) or any(math.isinf(b) for b in buckets):
            raise ValueError(f"{name}: buckets must be finite and sorted")
        self._name = name
        self._documentation = documentation
        self._labelnames = list(labelnames)
        self._buckets = tuple(buckets)
        self._series: dict[tuple[str, ...], LoopHistogram] = {}
        if not labelnames:
            self._series[()] = LoopHistogram(self._buckets)
        registry.register(self)

    def labels(self, *values: str) -> LoopHistogram:
        if len(values) != len(self._labelnames):
            raise ValueError(f"{self._name} takes the labels {self._labelnames}")
        series = self._series.get(values)
        if series is None:
            series = self._series[values] = LoopHistogram(self._buckets)
        return series

    def observe(self, value: float) -> None:
        self._series[()].observe(value)

    def _family(self) -> HistogramMetricFamily:
        return HistogramMetricFamily(self._name, self._documentation, labels=self._labelnames)

    def describe(self) -> Iterator[HistogramMetricFamily]:
        yield self._family()

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = self._family()
        for values, series in list(self._series.items()):
            family.add_metric(list(values), series.buckets(), series._sum)
        yield family


class SharedHistograms:
    """A histogram family in ``prometheus_client``'s multiprocess mode (``WORKERS`` > 1): each observation
    lands in this process's memory-mapped file, and a scrape of any process sums every process's files.
    Slower per observation than :class:`LoopHistograms` (a lock and a file write), which is the price of
    one ``/metrics`` for several processes."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        *,
        buckets: Sequence[float],
        registry: CollectorRegistry,
    ) -> None:
        self._histogram = Histogram(name, documentation, labelnames, buckets=buckets, registry=registry)

    def labels(self, *values: str) -> Any:
        return self._histogram.labels(*values)

    def observe(self, value: float) -> None:
        self._histogram.observe(value)


class Metrics:
    """The server's instruments. One instance per app, so tests and several apps never share counters.

    ``multiprocess_dir`` (a worker of ``WORKERS`` > 1, with ``PROMETHEUS_MULTIPROC_DIR`` set to it before
    ``prometheus_client`` was imported): the instruments write to files there, and :meth:`render` merges
    every worker's files, so a scrape that lands on any worker sees the whole server. Counters and
    histograms are summed; in-flight requests are summed over live workers; a model is ready (1) only when it
    is ready in every live worker."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, registry: CollectorRegistry | None = None, multiprocess_dir: str | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True) if registry is None else registry
        self.multiprocess_dir = multiprocess_dir
        registry = self.registry
        histograms: Any = LoopHistograms if multiprocess_dir is None else SharedHistograms
        shared = {} if multiprocess_dir is None else {"multiprocess_mode": "livesum"}
        self.request_seconds = histograms(
            "modelport_request_duration_seconds",
            "Time from request start to the end of the response; _count is the number of requests.",
            ["model", "protocol", "route", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.queue_seconds = histograms(
            "modelport_queue_seconds",
            "Time a request waited in the batch queue before inference started.",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.inference_seconds = histograms(
            "modelport_inference_seconds",
            "Time the runtime took for one batch.",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.batch_size = histograms(
            "modelport_batch_size", "Rows per inference call.", ["model"], buckets=_BATCH_BUCKETS, registry=registry
        )
        self.in_flight = Gauge(
            "modelport_in_flight_requests",
            "Requests (HTTP and gRPC) being served right now.",
            registry=registry,
            **shared,  # type: ignore[arg-type]
        )
        self._read_in_flight: Callable[[], float] | None = None
        self.rejections = Counter(
            "modelport_rejections", "Requests refused before inference, by reason.", ["reason"], registry=registry
        )
        self.model_ready = Gauge(
            "modelport_model_ready",
            "1 once the model (or pipeline) is loaded and warm, 0 while loading, failed or draining.",
            ["model"],
            registry=registry,
            **({} if multiprocess_dir is None else {"multiprocess_mode": "livemin"}),  # type: ignore[arg-type]
        )
        self.step_seconds = histograms(
            "modelport_pipeline_step_duration_seconds",
            "Time one pipeline step took, by pipeline, step and outcome (ok, error, timeout, cancelled).",
            ["pipeline", "step", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self._request_children: dict[tuple[str, str, str, int | str], LoopHistogram] = {}
        self._step_children: dict[tuple[str, str, str], LoopHistogram] = {}

    def observe_step(self, pipeline: str, step: str, status: str, seconds: float) -> None:
        key = (pipeline, step, status)
        child = self._step_children.get(key)
        if child is None:
            child = self._step_children[key] = self.step_seconds.labels(*key)
        child.observe(seconds)

    def measure_in_flight(self, read: Callable[[], float]) -> None:
        """Read the in-flight count at scrape time, so the request path takes no lock for it. With several
        workers the other workers' counts are as fresh as their last :meth:`refresh` (each refreshes every
        second) or scrape."""
        if self.multiprocess_dir is None:
            self.in_flight.set_function(read)
        else:
            self._read_in_flight = read

    def refresh(self) -> None:
        """Write the values read at scrape time into this worker's file (several workers only)."""
        if self._read_in_flight is not None:
            self.in_flight.set(self._read_in_flight())

    def observe_request(self, model: str, protocol: str, route: str, status: int | str, seconds: float) -> None:
        """``model`` is a served name or ""; never free text from a request, so the label count stays bounded."""
        key = (model, protocol, route, status)
        child = self._request_children.get(key)
        if child is None:
            child = self.request_seconds.labels(model, protocol, route, str(status))
            self._request_children[key] = child
        child.observe(seconds)

    def render(self) -> bytes:
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        from prometheus_client import multiprocess

        self.refresh()
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged, path=self.multiprocess_dir)
        return generate_latest(merged)
