"""The parts one server process shares: settings, metrics, the inference thread, the model repository and
the predict path. Protocol adapters receive this and nothing global."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.responses import Response

from .config import Settings
from .errors import ServiceUnavailable
from .http import error_response, json_response
from .metrics import Metrics
from .middleware import RequestCounts
from .predictor import Predictor
from .repository import ModelRepository, State
from .runtime import Runtime, open_runtime
from .storage import Downloader, download_gcs


@dataclass
class Service:
    settings: Settings
    metrics: Metrics
    executor: ThreadPoolExecutor
    repository: ModelRepository
    predictor: Predictor
    counts: RequestCounts
    tracing: Any = None  # a tracing.Tracing when OTLP export is configured; None costs nothing

    @classmethod
    def create(
        cls,
        settings: Settings,
        downloader: Downloader = download_gcs,
        opener: Callable[[Path, int | None], Runtime] = open_runtime,
        tracing: Any = None,
    ) -> Service:
        if tracing is None and settings.tracing:
            from .tracing import Tracing  # the OpenTelemetry SDK is imported only when spans are exported

            tracing = Tracing.from_environ(os.environ)
        # A worker of WORKERS > 1 writes its metrics where every worker's /metrics reads them.
        metrics = Metrics(multiprocess_dir=os.environ.get("PROMETHEUS_MULTIPROC_DIR") if settings.worker else None)
        counts = RequestCounts()
        # One inference thread: runtimes are not all thread-safe, and batching wants one consumer.
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
        repository = ModelRepository(
            settings, metrics, executor, downloader, in_flight=lambda: counts.in_flight, opener=opener, tracing=tracing
        )
        if settings.worker is not None:
            from .workers import WorkerGroup

            repository.group = WorkerGroup(Path(os.environ["MODELPORT_WORKER_DIR"]), *settings.worker)
        return cls(settings, metrics, executor, repository, Predictor(repository), counts, tracing)

    def readiness(self, body: dict[str, object] | None = None) -> Response:
        """200 once the model is loaded and warm; 503 while loading, after a failed load and while draining."""
        repository = self.repository
        if repository.ready:
            return json_response(body if body is not None else {"status": "ready"})
        if repository.state is State.UNLOADING:
            reason = "the server is shutting down"
        elif repository.state is State.FAILED:
            reason = f"model {repository.name!r} failed to load: {repository.error}"
        elif repository.state is State.AVAILABLE and repository.group is not None:
            reason = (
                f"waiting for {repository.group.waiting_for()} of {repository.group.count} workers to load the model"
            )
        else:
            reason = f"model {repository.name!r} is loading"
        self.metrics.rejections.labels(reason="not_ready").inc()
        return error_response(ServiceUnavailable(reason), body)

    def liveness(self) -> Response:
        """200 once the model is loaded, and still while draining, so a liveness probe never kills a drain."""
        if self.repository.loaded:
            return json_response({"live": True})
        return self.readiness({"live": False})
