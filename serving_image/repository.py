"""The served models and pipelines: each model's versions, their runtimes and batchers, the pipelines of a
repository's ``pipeline.yaml``, and the state readiness is read from (loading, available, failed, draining).

``MODEL_DIR`` is either one model (served as ``MODEL_NAME``) or a repository of models, one per folder and
named by it, beside an optional ``pipeline.yaml`` (see :mod:`.pipeline`)."""

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
from typing import Any

from .batcher import Batcher
from .config import Settings
from .errors import BadRequest, ModelLoadError, NotFound, ServiceUnavailable
from .layout import PIPELINE_FILE, discover_repository, discover_versions
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
    """One loaded version of a model, with a batcher per signature; or a pipeline (``pipeline`` set), which
    has no batcher of its own: each of its model steps goes through its model's batcher."""

    name: str
    version: int
    runtime: Runtime
    default_signature: str
    batchers: dict[str, Batcher] = field(default_factory=dict)
    pipeline: Any = None  # a pipeline.Pipeline; typed loosely to keep the import one-way

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
        tracing: Any = None,
    ) -> None:
        self.settings = settings
        self.tracing = tracing
        self._metrics = metrics
        self._executor = executor
        self._downloader = downloader
        self.in_flight = in_flight
        self._opener = opener
        self.state = State.LOADING
        self.error: str | None = None
        # name → version → servable, for models and pipelines alike; and each name's highest version.
        self.models: dict[str, dict[int, Servable]] = {}
        self._latest: dict[str, Servable] = {}
        self.pipelines: dict[str, Any] = {}
        self.root: Path | None = None  # the repository folder, when MODEL_DIR is one
        # 0 while loading, under the configured name until the repository's names are known. Not with several
        # workers: their shared files cannot forget a series, and this one would stay 0 beside the real names.
        if metrics.multiprocess_dir is None:
            metrics.model_ready.labels(settings.model_name).set(0)
        self.group: Any = None  # a workers.WorkerGroup with WORKERS > 1: ready only when every worker is
        self.load_seconds: float | None = None

    @property
    def name(self) -> str:
        """The model the single-model routes (SageMaker, Vertex AI) serve, and the name in messages."""
        if self.root is None:
            return self.settings.model_name
        names = [*self.pipelines] or [*self.models]
        if self.settings.model_name in self.models or self.settings.model_name in self.pipelines:
            return self.settings.model_name
        return names[0] if len(names) == 1 else self.settings.model_name

    @property
    def names(self) -> list[str]:
        return [*self.models] if self.models else [self.settings.model_name]

    def versions(self, model: str) -> list[int]:
        return sorted(self.models.get(model, {}))

    @property
    def servables(self) -> dict[int, Servable]:
        """The versions of the default model (see :attr:`name`)."""
        return self.models.get(self.name, {})

    @property
    def ready(self) -> bool:
        return self.state is State.AVAILABLE and (self.group is None or self.group.all_ready())

    @property
    def loaded(self) -> bool:
        """Loaded and warm, including while draining (metadata stays answerable)."""
        return self.state in (State.AVAILABLE, State.UNLOADING) and bool(self.models)

    def _load_blocking(self) -> dict[str, dict[int, tuple[Runtime, str, dict[str, int], set[str]]]]:
        settings = self.settings
        root = materialize(settings.model, settings.download_dir, self._downloader)
        repository = discover_repository(root)
        if repository is None:
            models = {settings.model_name: discover_versions(root)}
        else:
            self.root = root
            models = repository
        loaded: dict[str, dict[int, tuple[Runtime, str, dict[str, int], set[str]]]] = {}
        for name, versions in models.items():
            loaded[name] = {}
            for version in sorted(versions, reverse=True):
                runtime = self._opener(versions[version], settings.inference_threads)
                default = _default_signature(runtime, settings.signature_name, versions[version])
                timings = runtime.warm_up(settings.max_batch_size)
                loaded[name][version] = (
                    runtime,
                    default,
                    _batch_limits(timings, settings.max_batch_size, version),
                    _inline_signatures(timings, settings, version),
                )
                log.info("loaded %s version %d from %s (%s)", name, version, versions[version], runtime.platform)
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
            self._metrics.model_ready.labels(self.settings.model_name).set(0)
            raise
        settings = self.settings
        for model, versions in loaded.items():
            self.models[model] = {}
            for version, (runtime, default, limits, inline) in versions.items():
                servable = Servable(model, version, runtime, default)
                for name, signature in runtime.signatures.items():
                    batcher = Batcher(
                        partial(runtime.predict, name),
                        executor=self._executor,
                        metrics=self._metrics,
                        max_batch_size=limits.get(name, settings.max_batch_size),
                        timeout_s=settings.batch_timeout_ms / 1000.0,
                        max_queue_size=settings.max_queue_size,
                        request_timeout_s=settings.request_timeout_s,
                        in_flight=self._in_flight_for(model),
                        stackable=signature.batchable,
                        fixed_rows=signature.fixed_rows,
                        inline=name in inline,
                        label=f"{model}-{version}-{name}",
                        model=model,
                        tracing=self.tracing,
                    )
                    batcher.start()
                    servable.batchers[name] = batcher
                self.models[model][version] = servable
            self._latest[model] = self.models[model][max(self.models[model])]
        try:
            if self.root is not None and (self.root / PIPELINE_FILE).is_file():
                self._load_pipelines(self.root)
            if self.root is not None and settings.model_name != "model" and settings.model_name not in self.models:
                raise ModelLoadError(
                    f"MODEL_NAME {settings.model_name!r} is neither a model nor a pipeline of the repository "
                    f"{self.root}; it has {sorted(self.models)}"
                )
        except Exception as exc:
            self.state = State.FAILED
            self.error = str(exc)
            raise
        self.load_seconds = time.perf_counter() - started
        # Everything allocated so far (framework modules, the model) lives as long as the process. Freezing it
        # keeps the cyclic collector from re-scanning it, which otherwise stalls the event loop for several
        # milliseconds at a time under load (p99 ×4 in bench/serving.py).
        gc.collect()
        gc.freeze()
        if self.root is not None and settings.model_name not in self.models and self._metrics.multiprocess_dir is None:
            self._metrics.model_ready.remove(settings.model_name)  # the placeholder set before the names were known
        if self.state is State.LOADING:
            self.state = State.AVAILABLE
            for model in self.models:
                self._metrics.model_ready.labels(model).set(1)

    def begin_drain(self) -> None:
        """Readiness answers 503 from now on; requests keep being served until the server stops."""
        if self.state in (State.LOADING, State.AVAILABLE):
            self.state = State.UNLOADING
        for model in self.models:
            self._metrics.model_ready.labels(model).set(0)

    async def close(self) -> None:
        """Finish every queued request and stop the batchers."""
        self.begin_drain()
        for versions in self.models.values():
            for servable in versions.values():
                for batcher in servable.batchers.values():
                    await batcher.close()

    def _in_flight_for(self, model: str) -> Callable[[], int] | None:
        """The requests in the server that may still join ``model``'s batches (a model's, or a fused pipeline's):
        all of them, less the pipeline calls that are past the model's step or never use it."""
        total = self.in_flight
        if total is None:
            return None
        pipelines = self.pipelines

        def in_flight() -> int:
            if not pipelines:
                return total()
            return total() - sum(pipeline.elsewhere(model) for pipeline in pipelines.values() if pipeline.name != model)

        return in_flight

    def _load_pipelines(self, root: Path) -> None:
        from .pipeline import load_pipelines
        from .predictor import predict_model

        pipelines = load_pipelines(
            root,
            _ModelLookup(self),
            list(self.models),
            predict_model,
            self.settings.request_timeout_s,
            self._metrics.observe_step,
            self.tracing,
        )
        for pipeline in pipelines:
            servable = Servable(pipeline.name, 1, pipeline.runtime, "serving_default", pipeline=pipeline)
            if pipeline.fused:
                pipeline.batcher = servable.batchers["serving_default"] = self._fused_batcher(pipeline)
            self.models[pipeline.name] = {1: servable}
            self._latest[pipeline.name] = servable
            self.pipelines[pipeline.name] = pipeline
            log.info("pipeline %r ready: %s", pipeline.name, pipeline.describe())

    def _fused_batcher(self, pipeline: Any) -> Batcher:
        """A fused pipeline's own batcher: batches no larger than any of its models takes, on the event loop
        only where every one of its models runs there, and the pipeline's deadline for each call."""
        models = [
            step.plain.servable.batchers[step.plain.signature]
            for level in pipeline.levels
            for step in level
            if step.plain.kind == "model"
        ]
        signature = pipeline.runtime.signatures["serving_default"]
        settings = self.settings
        batcher = Batcher(
            pipeline.run_batch,
            executor=self._executor,
            metrics=self._metrics,
            max_batch_size=min([settings.max_batch_size, *(model.max_rows for model in models)]),
            timeout_s=settings.batch_timeout_ms / 1000.0,
            max_queue_size=settings.max_queue_size,
            request_timeout_s=pipeline.timeout_s,
            in_flight=self._in_flight_for(pipeline.name),
            stackable=signature.batchable,
            fixed_rows=signature.fixed_rows,
            inline=all(model.inline for model in models),
            label=f"{pipeline.name}-pipeline",
            model=pipeline.name,
            tracing=self.tracing,
            deadline_message=pipeline.deadline_message,
        )
        batcher.start()
        return batcher

    def check_name(self, model: str) -> None:
        known = self.models if self.models else {self.settings.model_name: None}
        if model not in known:
            served = ", ".join(repr(name) for name in known)
            raise NotFound(f"unknown model {model!r}; this server serves {served}")

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
            return self._latest[model]
        number = _version_number(version)
        versions = self.models[model]
        servable = versions.get(number) if number is not None else None
        if servable is None:
            available = ", ".join(str(v) for v in sorted(versions))
            raise NotFound(f"model {model!r} has no version {version!r}; available versions: {available}")
        return servable


class _ModelLookup:
    """What a pipeline step needs from the repository: a model's servable, resolved once at start-up."""

    def __init__(self, repository: ModelRepository) -> None:
        self.repository = repository

    def servable(self, model: str, version: int | None) -> Servable | None:
        versions = self.repository.models.get(model)
        if versions is None:
            return None
        return versions.get(version) if version is not None else versions[max(versions)]


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
