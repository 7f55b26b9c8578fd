"""The served model: its versions, their runtimes and batchers, and the state readiness is read from
(loading, available, failed, draining)."""

from __future__ import annotations

import asyncio
import enum
import gc
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from .batcher import Batcher
from .config import Settings
from .errors import BadRequest, ModelLoadError, NotFound, ServiceUnavailable
from .layout import discover_versions
from .metrics import Metrics
from .runtime import Runtime, Signature, open_runtime
from .storage import Downloader, download_gcs, materialize

log = logging.getLogger("serving_image")


class State(enum.Enum):
    LOADING = "LOADING"
    AVAILABLE = "AVAILABLE"
    FAILED = "FAILED"
    UNLOADING = "UNLOADING"  # draining after SIGTERM


@dataclass
class Servable:
    """One loaded version of the model, with a batcher per signature."""

    name: str
    version: int
    runtime: Runtime
    default_signature: str
    batchers: dict[str, Batcher] = field(default_factory=dict)

    def signature(self, name: str | None) -> Signature:
        chosen = name or self.default_signature
        signature = self.runtime.signatures.get(chosen)
        if signature is None:
            raise BadRequest(
                f"model {self.name!r} version {self.version} has no signature {chosen!r}; "
                f"it has {sorted(self.runtime.signatures)}"
            )
        return signature


class ModelRepository:
    """Loads every version in the background and answers which servable a request goes to."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        executor: Executor,
        downloader: Downloader = download_gcs,
        in_flight: Callable[[], int] | None = None,
        opener: Callable[[Path, int | None], Runtime] = open_runtime,
    ) -> None:
        self.settings = settings
        self._metrics = metrics
        self._executor = executor
        self._downloader = downloader
        self.in_flight = in_flight
        self._opener = opener
        self.state = State.LOADING
        self.error: str | None = None
        self.servables: dict[int, Servable] = {}
        self._latest: Servable | None = None
        self.load_seconds: float | None = None

    @property
    def name(self) -> str:
        return self.settings.model_name

    @property
    def ready(self) -> bool:
        return self.state is State.AVAILABLE

    @property
    def loaded(self) -> bool:
        """Loaded and warm, including while draining (metadata stays answerable)."""
        return self.state in (State.AVAILABLE, State.UNLOADING) and bool(self.servables)

    @property
    def latest(self) -> int:
        return max(self.servables)

    def _load_blocking(self) -> dict[int, tuple[Runtime, str, dict[str, int], set[str]]]:
        settings = self.settings
        root = materialize(settings.model, settings.download_dir, self._downloader)
        versions = discover_versions(root)
        loaded: dict[int, tuple[Runtime, str, dict[str, int], set[str]]] = {}
        for version in sorted(versions, reverse=True):
            runtime = self._opener(versions[version], settings.inference_threads)
            default = _default_signature(runtime, settings.signature_name, versions[version])
            timings = runtime.warm_up(settings.max_batch_size)
            loaded[version] = (
                runtime,
                default,
                _batch_limits(timings, settings.max_batch_size, version),
                _inline_signatures(timings, settings, version),
            )
            log.info("loaded %s version %d from %s (%s)", self.name, version, versions[version], runtime.platform)
        return loaded

    async def load(self) -> None:
        """Load and warm every version on the inference thread, then start the batchers and turn ready."""
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        try:
            loaded = await loop.run_in_executor(self._executor, self._load_blocking)
        except Exception as exc:
            self.state = State.FAILED
            self.error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ModelLoadError) else str(exc)
            raise
        settings = self.settings
        for version, (runtime, default, limits, inline) in loaded.items():
            servable = Servable(self.name, version, runtime, default)
            for name, signature in runtime.signatures.items():
                batcher = Batcher(
                    partial(runtime.predict, name),
                    executor=self._executor,
                    metrics=self._metrics,
                    max_batch_size=limits.get(name, settings.max_batch_size),
                    timeout_s=settings.batch_timeout_ms / 1000.0,
                    max_queue_size=settings.max_queue_size,
                    request_timeout_s=settings.request_timeout_s,
                    in_flight=self.in_flight,
                    stackable=signature.batchable,
                    fixed_rows=signature.fixed_rows,
                    inline=name in inline,
                    label=f"{self.name}-{version}-{name}",
                )
                batcher.start()
                servable.batchers[name] = batcher
            self.servables[version] = servable
        self._latest = self.servables[self.latest]
        self.load_seconds = time.perf_counter() - started
        # Everything allocated so far (framework modules, the model) lives as long as the process. Freezing it
        # keeps the cyclic collector from re-scanning it, which otherwise stalls the event loop for several
        # milliseconds at a time under load (p99 ×4 in bench/serving.py).
        gc.collect()
        gc.freeze()
        if self.state is State.LOADING:
            self.state = State.AVAILABLE
            self._metrics.model_ready.set(1)

    def begin_drain(self) -> None:
        """Readiness answers 503 from now on; requests keep being served until the server stops."""
        if self.state in (State.LOADING, State.AVAILABLE):
            self.state = State.UNLOADING
        self._metrics.model_ready.set(0)

    async def close(self) -> None:
        """Finish every queued request and stop the batchers."""
        self.begin_drain()
        for servable in self.servables.values():
            for batcher in servable.batchers.values():
                await batcher.close()

    def check_name(self, model: str) -> None:
        if model != self.name:
            raise NotFound(f"unknown model {model!r}; this server serves {self.name!r}")

    def require_loaded(self) -> None:
        if self.loaded:
            return
        if self.state is State.FAILED:
            raise ServiceUnavailable(f"model {self.name!r} failed to load: {self.error}")
        raise ServiceUnavailable(f"model {self.name!r} is not ready: it is still loading")

    def resolve(self, model: str, version: str | int | None = None) -> Servable:
        """The servable for ``model`` and ``version`` (the highest when ``None``). 404 for unknown names and
        versions, 503 before the model is loaded."""
        self.check_name(model)
        self.require_loaded()
        if version is None:
            assert self._latest is not None  # set with the servables, before the state allows requests
            return self._latest
        number = _version_number(version)
        servable = self.servables.get(number) if number is not None else None
        if servable is None:
            available = ", ".join(str(v) for v in sorted(self.servables))
            raise NotFound(f"model {model!r} has no version {version!r}; available versions: {available}")
        return servable


def _batch_limits(timings: dict[str, dict[int, float]], max_batch_size: int, version: int) -> dict[str, int]:
    """Batch only where it pays. Some runtime and model pairs (LiteRT's XNNPACK on a CNN, say) run a batch no
    faster per row than a single row; stacking requests there only adds waiting, so such a signature runs
    requests one by one. Measured at warm-up; logged, because it overrides MAX_BATCH_SIZE."""
    limits = {}
    for name, per_row in timings.items():
        single, batched = per_row.get(1), per_row.get(max_batch_size)
        if single is not None and batched is not None and max_batch_size > 1 and batched >= single * _MIN_GAIN:
            log.info(
                "version %d signature %r: a batch of %d took %.3f ms per row against %.3f ms alone; batching off",
                version,
                name,
                max_batch_size,
                batched * 1000,
                single * 1000,
            )
            limits[name] = 1
    return limits


def _inline_signatures(timings: dict[str, dict[int, float]], settings: Settings, version: int) -> set[str]:
    """Signatures so fast that they run on the event loop. A call measured at warm-up under
    INLINE_INFERENCE_MAX_US at its largest batch blocks the loop for less time than the hand-off to the
    inference thread and back takes under load; slower ones, and every signature when the setting is 0, run on
    the inference thread."""
    limit = settings.inline_inference_max_us / 1e6
    inline = set()
    for name, per_row in timings.items():
        rows = max(per_row)
        if per_row[rows] * rows < limit:
            log.info(
                "version %d signature %r: a batch of %d took %.0f µs; it runs on the event loop "
                "(INLINE_INFERENCE_MAX_US=%g)",
                version,
                name,
                rows,
                per_row[rows] * rows * 1e6,
                settings.inline_inference_max_us,
            )
            inline.add(name)
    return inline


# A batch must cost at most this share of the per-row time of single calls to be worth waiting for.
_MIN_GAIN = 0.9


def _version_number(version: str | int) -> int | None:
    if isinstance(version, int):
        return version
    return int(version) if version.isdigit() else None


def _default_signature(runtime: Runtime, wanted: str, path: object) -> str:
    if wanted in runtime.signatures:
        return wanted
    if len(runtime.signatures) == 1:
        return next(iter(runtime.signatures))
    raise ModelLoadError(f"{path} has no signature {wanted!r} (SIGNATURE_NAME); it has {sorted(runtime.signatures)}")
