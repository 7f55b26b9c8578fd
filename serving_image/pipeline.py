"""Fused inference pipelines from a repository's ``pipeline.yaml``: steps that are models of the repository or
Python functions from its ``handlers/`` folder, wired by tensor name, run in one process with no hop between
steps. Every model step goes through its model's own batcher, so concurrent pipeline calls batch at every
model.

```yaml
pipelines:
  classify:                          # served like a model named "classify", on every route
    timeout_ms: 1000                 # one deadline for the whole call (default REQUEST_TIMEOUT_SECONDS)
    inputs:
      raw: {dtype: float32, shape: [-1, 4]}
    outputs:
      label: {from: post.label, dtype: string, shape: [-1]}
    steps:
      - name: pre
        handler: features:scale      # handlers/features.py, function scale(raw=...)
        inputs: {raw: raw}           # argument → tensor: a pipeline input, or step.output
        outputs: [features]
        timeout_ms: 50               # per-step limit
      - name: model
        model: iris                  # a model folder of the repository; version and signature optional
        inputs: {features: pre.features}
      - name: post
        handler: labels:top
        inputs: {scores: model.output_0}
        outputs: [label]
```

Shapes: steps form a graph by their inputs. Steps whose inputs are ready run together (fan-out), and a step
that reads several of them joins them. A ``switch: <tensor>`` step runs one of its ``cases`` by the value of
that tensor (one value per call), or ``split: {case: weight}`` picks one by weight; each case is a model or
handler body, and every case must give the same outputs. That covers KServe InferenceGraph's Sequence,
Ensemble, Switch and Splitter.

A handler step with ``batch: true`` declares that the function treats rows independently (row *i* of every
output depends only on row *i* of its inputs), so it may run once on the stacked rows of many calls. A
pipeline whose steps are all model steps or such handler steps, with no switch or split, is **fused**: the
pipeline gets a batcher of its own, and each batch runs every step in turn on the stacked tensors, on the
inference thread (or on the event loop where all its models run there), in one go. That removes the per-call
step machinery; handlers run once per batch instead of once per call. A fused pipeline's step timeouts apply
to the batch's step, its step metrics are observed once per batch, and its trace has one batch and inference
span per batch rather than a span per step. Other pipelines run step by step per call, and their model
steps meet other calls in the models' own batchers.

Every mistake in the file stops the server at start with a message naming the pipeline, the step and the
key: an unknown model, a tensor no step gives, a cycle, a handler that cannot be imported."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import inspect
import logging
import random
import sys
import time
import types
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DeadlineExceeded, ModelLoadError, ServingError
from .layout import HANDLERS_DIR, PIPELINE_FILE
from .predictor import validate_inputs
from .runtime.base import Runtime, Signature
from .tensors import STRING, SUPPORTED_DTYPES, TensorSpec

log = logging.getLogger("serving_image")

Arrays = dict[str, np.ndarray]
_HANDLER_PACKAGE = "modelport_pipeline_handlers"
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


class PipelineError(ModelLoadError):
    """A mistake in pipeline.yaml; the message names the pipeline, the step and the key."""


class StepFailed(ServingError):
    """A step raised. The answer names the pipeline and the step; the status is the step error's own for
    serving errors (a model step's 400 stays a 400), else 500."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


# --------------------------------------------------------------------------------------------------- parsing


def _where(*parts: str) -> str:
    return f"{PIPELINE_FILE}: " + ".".join(parts)


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PipelineError(f"{where} must be a mapping (got {type(value).__name__})")
    return value


def _keys(value: dict[str, Any], allowed: Sequence[str], where: str) -> None:
    unknown = [key for key in value if key not in allowed]
    if unknown:
        raise PipelineError(f"{where}.{unknown[0]}: unknown key; accepted keys: {', '.join(allowed)}")


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value or not set(value) <= _NAME_CHARS:
        raise PipelineError(f"{where} must be a name of letters, digits, '-', '_' or '.' (got {value!r})")
    return value


def _timeout(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 3_600_000:
        raise PipelineError(f"{where} must be a number of milliseconds from 1 to 3600000 (got {value!r})")
    return value / 1000.0


def _spec(name: str, value: Any, where: str) -> TensorSpec:
    body = _mapping(value, where)
    _keys(body, ("dtype", "shape", "from"), where)
    dtype_name = body.get("dtype")
    dtypes = sorted({"string", *(d.name for d in SUPPORTED_DTYPES if d != STRING)})
    if dtype_name not in dtypes:
        raise PipelineError(f"{where}.dtype must be one of {', '.join(dtypes)} (got {dtype_name!r})")
    dtype = STRING if dtype_name == "string" else np.dtype(dtype_name)
    shape = body.get("shape")
    if shape is not None and (
        not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape)
    ):
        raise PipelineError(f"{where}.shape must be a list of integers, -1 for any size (got {shape!r})")
    dims = None if shape is None else tuple(None if d < 0 else d for d in shape)
    return TensorSpec(name, dtype, dims)


@dataclass
class Body:
    """What a step (or one case of a switch) runs: a model signature or a handler function."""

    kind: str  # "model" | "handler"
    inputs: dict[str, str]  # argument or model input → tensor ("name" or "step.output")
    outputs: list[str]
    model: str | None = None
    version: int | None = None
    signature: str | None = None
    servable: Any = None
    signature_spec: Signature | None = None
    handler: Callable[..., Any] | None = None
    wants_headers: bool = False
    is_async: bool = False
    batch: bool = False  # a handler that treats rows independently: it may run once on many calls' rows


@dataclass
class Step:
    name: str
    timeout_s: float | None
    cases: dict[str, Body]  # one entry "" for a plain step
    switch_on: str | None = None
    default: str | None = None
    weights: dict[str, float] | None = None
    needs: set[str] = field(default_factory=set)  # tensors read by any case (and the switch)
    # Filled once the cases are bound: the one body of a plain step, and (output, tensor key) pairs.
    plain: Body | None = None
    keys: tuple[tuple[str, str], ...] = ()
    models: tuple[str, ...] = ()  # the models its cases use

    @property
    def outputs(self) -> list[str]:
        return next(iter(self.cases.values())).outputs


def _body(raw: dict[str, Any], where: str, allow_name: bool) -> Body:
    allowed = ["model", "version", "signature", "handler", "inputs", "outputs"]
    if allow_name:
        allowed = ["name", "timeout_ms", *allowed, "batch"]
    _keys(raw, allowed, where)
    batch = raw.get("batch", False)
    if not isinstance(batch, bool):
        raise PipelineError(f"{where}.batch must be true or false (got {batch!r})")
    inputs = raw.get("inputs", {})
    inputs = _mapping(inputs, f"{where}.inputs")
    for key, source in inputs.items():
        if not isinstance(source, str) or not source:
            raise PipelineError(f"{where}.inputs.{key} must name a tensor: an input, or step.output (got {source!r})")
    if ("model" in raw) == ("handler" in raw):
        raise PipelineError(f"{where}: give exactly one of 'model' (a model of the repository) or 'handler'")
    if "model" in raw:
        if "outputs" in raw:
            raise PipelineError(f"{where}.outputs: a model step's outputs are its signature's; remove it")
        if "batch" in raw:
            raise PipelineError(f"{where}.batch: a model step always batches; 'batch' is for handler steps")
        version = raw.get("version")
        if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
            raise PipelineError(f"{where}.version must be a positive integer (got {version!r})")
        signature = raw.get("signature")
        if signature is not None and not isinstance(signature, str):
            raise PipelineError(f"{where}.signature must be a signature name (got {signature!r})")
        return Body(
            "model", dict(inputs), [], model=_name(raw["model"], f"{where}.model"), version=version, signature=signature
        )
    handler = raw["handler"]
    if not isinstance(handler, str) or handler.count(":") != 1:
        raise PipelineError(f"{where}.handler must be 'module:function' from {HANDLERS_DIR}/ (got {handler!r})")
    outputs = raw.get("outputs")
    if not isinstance(outputs, list) or not outputs or not all(isinstance(o, str) and o for o in outputs):
        raise PipelineError(f"{where}.outputs must list the tensor names the handler returns (got {outputs!r})")
    return Body("handler", dict(inputs), list(outputs), model=handler, batch=batch)


def _step(raw: Any, where: str) -> Step:
    raw = _mapping(raw, where)
    name = _name(raw.get("name"), f"{where}.name")
    where = _where(*where.split(": ", 1)[1].split(".")[:2], f"steps[{name}]")
    timeout = _timeout(raw.get("timeout_ms"), f"{where}.timeout_ms")
    if "switch" in raw or "split" in raw:
        _keys(raw, ("name", "timeout_ms", "switch", "split", "cases", "default"), where)
        if ("switch" in raw) == ("split" in raw):
            raise PipelineError(f"{where}: give one of 'switch' (a tensor) or 'split' (weights), not both")
        cases_raw = _mapping(raw.get("cases"), f"{where}.cases")
        if not cases_raw:
            raise PipelineError(f"{where}.cases must name at least one case")
        cases = {
            str(key): _body(_mapping(body, f"{where}.cases.{key}"), f"{where}.cases.{key}", False)
            for key, body in cases_raw.items()
        }
        step = Step(name, timeout, cases)
        if "switch" in raw:
            if not isinstance(raw["switch"], str) or not raw["switch"]:
                raise PipelineError(f"{where}.switch must name a tensor with one value per call")
            step.switch_on = raw["switch"]
            default = raw.get("default")
            if default is not None and str(default) not in cases:
                raise PipelineError(f"{where}.default {default!r} is not one of the cases {sorted(cases)}")
            step.default = None if default is None else str(default)
        else:
            if "default" in raw:
                raise PipelineError(f"{where}.default: a split picks by weight; it has no default")
            weights = _mapping(raw["split"], f"{where}.split")
            if set(map(str, weights)) != set(cases) or not all(
                isinstance(w, int | float) and not isinstance(w, bool) and w >= 0 for w in weights.values()
            ):
                raise PipelineError(
                    f"{where}.split must give a non-negative weight to each case {sorted(cases)} (got {weights!r})"
                )
            if not sum(weights.values()):
                raise PipelineError(f"{where}.split: the weights add up to 0")
            step.weights = {str(k): float(v) for k, v in weights.items()}
        return step
    return Step(name, timeout, {"": _body(raw, where, True)})


# ----------------------------------------------------------------------------------------------- the graph


class _PipelineRuntime(Runtime):
    """The pipeline's interface as a runtime, so every protocol route serves it like a model."""

    platform = "modelport_pipeline"

    def predict(self, signature: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError("a pipeline runs through Pipeline.run, never on the inference thread")


StepObserver = Callable[[str, str, str, float], None]  # pipeline, step, status, seconds


class Pipeline:
    def __init__(
        self,
        name: str,
        inputs: dict[str, TensorSpec],
        outputs: dict[str, tuple[str, TensorSpec]],
        levels: list[list[Step]],
        timeout_s: float,
        predict: Callable[..., Awaitable[Arrays]],
        observe: StepObserver | None = None,
        tracing: Any = None,
    ) -> None:
        self.name = name
        self._tracing = tracing
        self.inputs = inputs
        self.outputs = outputs
        self.levels = levels
        self.timeout_s = timeout_s
        self._predict = predict
        self._observe = observe
        # Which models each call may still reach, for the batchers' "is company coming?" test: a call that is
        # past a model's step (or never uses the model) will not join that model's batch.
        self.models = frozenset(
            body.model for level in levels for step in level for body in step.cases.values() if body.kind == "model"
        )
        self.active = 0
        self.past: dict[str, int] = dict.fromkeys(self.models, 0)
        # Fused: every step a model or a row-wise (batch: true) handler, and no switch or split. The repository
        # then gives the pipeline a batcher whose batches run :meth:`run_batch` (see the module docstring).
        self.fused = all(
            step.plain is not None and (step.plain.kind == "model" or step.plain.batch)
            for level in levels
            for step in level
        )
        self.batcher: Any = None
        self.runtime = _PipelineRuntime(
            {
                "serving_default": Signature(
                    "serving_default", inputs, {name: spec for name, (_, spec) in outputs.items()}
                )
            }
        )

    @property
    def deadline_message(self) -> str:
        return f"pipeline {self.name!r}: no answer within its {self.timeout_s * 1000:g} ms deadline"

    def describe(self) -> str:
        steps = " → ".join(" + ".join(step.name for step in level) for level in self.levels)
        return f"{steps} (fused: each batch runs every step)" if self.fused else steps

    async def run(
        self, inputs: Mapping[str, np.ndarray], headers: Mapping[str, str] | None = None, rows: int = 1
    ) -> Arrays:
        if self.batcher is not None:
            self.active += 1  # never reaches the models' own batchers: see elsewhere()
            try:
                return await self.batcher.submit(inputs, rows)
            finally:
                self.active -= 1
        tensors: dict[str, np.ndarray] = dict(inputs)
        # One deadline for the whole call: a timer cancels this task (what asyncio.timeout does, on 3.10 too),
        # without wrapping the call in a second task.
        task = asyncio.current_task()
        assert task is not None
        expired = []
        timer = asyncio.get_running_loop().call_later(self.timeout_s, lambda: (expired.append(1), task.cancel()))
        self.active += 1
        passed: list[str] = []
        try:
            for level in self.levels:
                if len(level) == 1:
                    await self._run_step(level[0], tensors, headers)
                else:
                    await asyncio.gather(*(self._run_step(step, tensors, headers) for step in level))
                for step in level:
                    for model in step.models:
                        self.past[model] += 1
                        passed.append(model)
        except asyncio.CancelledError:
            if expired:
                if hasattr(task, "uncancel"):  # Python 3.11+: this cancellation is handled here
                    task.uncancel()
                raise DeadlineExceeded(self.deadline_message) from None
            raise
        finally:
            timer.cancel()
            self.active -= 1
            for model in passed:
                self.past[model] -= 1
        return {name: tensors[source] for name, (source, _) in self.outputs.items()}

    def elsewhere(self, model: str) -> int:
        """Calls in flight that will not reach ``model``'s own batcher any more."""
        if model in self.models and self.batcher is None:
            return self.past[model]
        return self.active

    def run_batch(self, inputs: Mapping[str, np.ndarray]) -> Arrays:
        """A fused pipeline's batch: every step in turn on the stacked rows of its calls (on the inference
        thread, or on the loop when all its models run there)."""
        tensors: dict[str, np.ndarray] = dict(inputs)
        observe = self._observe
        for level in self.levels:
            for step in level:
                body = step.plain
                assert body is not None
                started = time.perf_counter()
                status = "ok"
                try:
                    arguments = {key: tensors[source] for key, source in body.inputs.items()}
                    if body.kind == "model":
                        signature = body.signature_spec
                        assert signature is not None and body.servable is not None
                        validate_inputs(signature, arguments)
                        ordered = {name: arguments[name] for name in signature.inputs}
                        results = body.servable.runtime.predict(signature.name, ordered)
                    else:
                        results = self._handle(body, body.handler(**arguments))  # type: ignore[misc]
                    if step.timeout_s is not None and time.perf_counter() - started > step.timeout_s:
                        raise asyncio.TimeoutError
                except BaseException as exc:
                    status, failure = self._failure(step, step.name, exc)
                    if failure is None:
                        raise
                    # A step over its timeout is the batch's: rerunning each call alone is no cure.
                    failure.whole_batch = isinstance(failure, DeadlineExceeded)  # type: ignore[union-attr]
                    raise failure from exc
                finally:
                    if observe is not None:
                        observe(self.name, step.name, status, time.perf_counter() - started)
                for output, key in step.keys:
                    tensors[key] = results[output]
        return {name: tensors[source] for name, (source, _) in self.outputs.items()}

    def _failure(self, step: Step, label: str, exc: BaseException) -> tuple[str, BaseException | None]:
        """The step status for the metrics, and what the call answers (``None``: re-raise ``exc`` as it is)."""
        if isinstance(exc, asyncio.TimeoutError) and step.timeout_s is not None:
            return "timeout", DeadlineExceeded(
                f"pipeline {self.name!r} step {label!r}: no answer within its {step.timeout_s * 1000:g} ms timeout"
            )
        if isinstance(exc, StepFailed):
            return "error", None
        if isinstance(exc, ServingError):
            return "error", StepFailed(f"pipeline {self.name!r} step {label!r}: {exc.message}", exc.status)
        if isinstance(exc, asyncio.CancelledError) or not isinstance(exc, Exception):
            return "cancelled", None
        log.exception("pipeline %r step %r failed", self.name, label)
        return "error", StepFailed(f"pipeline {self.name!r} step {label!r} failed: {type(exc).__name__}: {exc}", 500)

    def _case(self, step: Step, tensors: Mapping[str, np.ndarray]) -> tuple[str, Body]:
        if step.weights is not None:
            keys = list(step.weights)
            chosen = random.choices(keys, weights=[step.weights[k] for k in keys])[0]
            return chosen, step.cases[chosen]
        if step.switch_on is None:
            return "", step.cases[""]
        value = tensors[step.switch_on]
        flat = value.reshape(-1)
        if not flat.size or any(item != flat[0] for item in flat[1:]):
            raise StepFailed(
                f"pipeline {self.name!r} step {step.name!r}: switch on {step.switch_on!r} needs one value per "
                f"call; got {flat.size} different or no values",
                400,
            )
        key = (
            flat[0].decode()
            if isinstance(flat[0], bytes)
            else str(flat[0].item() if hasattr(flat[0], "item") else flat[0])
        )
        if key in step.cases:
            return key, step.cases[key]
        if step.default is not None:
            return step.default, step.cases[step.default]
        raise StepFailed(
            f"pipeline {self.name!r} step {step.name!r}: {step.switch_on!r} is {key!r}, which is none of the "
            f"cases {sorted(step.cases)} and there is no default",
            400,
        )

    async def _run_step(self, step: Step, tensors: dict[str, np.ndarray], headers: Mapping[str, str] | None) -> None:
        started = time.perf_counter()
        status = "ok"
        label = step.name
        traced = self._tracing.start_step(self.name, step.name) if self._tracing is not None else None
        if traced is not None:
            headers = {**(headers or {}), "traceparent": traced[2]}  # handlers that call out pass it on
        try:
            body = step.plain
            if body is None:
                case, body = self._case(step, tensors)
                label = f"{step.name}.{case}"
            arguments = {key: tensors[source] for key, source in body.inputs.items()}
            if body.kind == "handler" and not body.is_async:
                # A plain function runs on the loop and cannot be interrupted: it is judged when it returns.
                results = self._handle(body, body.handler(**arguments, **self._extra(body, headers)))  # type: ignore[misc]
                if step.timeout_s is not None and time.perf_counter() - started > step.timeout_s:
                    raise asyncio.TimeoutError
            elif step.timeout_s is not None:
                results = await asyncio.wait_for(self._call(body, arguments, headers), step.timeout_s)
            else:
                results = await self._call(body, arguments, headers)
        except BaseException as exc:
            status, failure = self._failure(step, label, exc)
            if failure is None:
                raise
            raise failure from (None if isinstance(failure, DeadlineExceeded) else exc)
        finally:
            if self._observe is not None:
                self._observe(self.name, step.name, status, time.perf_counter() - started)
            if traced is not None:
                self._tracing.end_step(traced, status)
        for output, key in step.keys:
            tensors[key] = results[output]

    @staticmethod
    def _extra(body: Body, headers: Mapping[str, str] | None) -> dict[str, Any]:
        return {"headers": dict(headers or {})} if body.wants_headers else {}

    async def _call(self, body: Body, arguments: dict[str, np.ndarray], headers: Mapping[str, str] | None) -> Arrays:
        if body.kind == "model":
            return await self._predict(body.servable, body.signature_spec, arguments)
        assert body.handler is not None
        returned = body.handler(**arguments, **self._extra(body, headers))
        if body.is_async:
            returned = await returned
        return self._handle(body, returned)

    @staticmethod
    def _handle(body: Body, returned: Any) -> Arrays:
        if not isinstance(returned, Mapping):
            raise TypeError(
                f"the handler must return a mapping of {body.outputs} to arrays, not {type(returned).__name__}"
            )
        missing = [name for name in body.outputs if name not in returned]
        if missing:
            raise TypeError(f"the handler returned no {missing[0]!r}; it declares outputs {body.outputs}")
        return {name: _as_array(returned[name]) for name in body.outputs}


def _as_array(value: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    array = np.asarray(value)
    if array.dtype.kind in "SU":
        items = np.empty(array.shape, dtype=object)
        items.reshape(-1)[:] = [v.encode() if isinstance(v, str) else bytes(v) for v in array.reshape(-1).tolist()]
        return items
    return array


# ------------------------------------------------------------------------------------------------- loading


def _import_handler(root: Path, reference: str, where: str) -> Callable[..., Any]:
    module_name, function_name = reference.split(":")
    folder = root / HANDLERS_DIR
    if not folder.is_dir():
        raise PipelineError(f"{where}.handler {reference!r}: the repository has no {HANDLERS_DIR}/ folder")
    package = sys.modules.get(_HANDLER_PACKAGE)
    if package is None or list(getattr(package, "__path__", [])) != [str(folder)]:
        package = types.ModuleType(_HANDLER_PACKAGE)
        package.__path__ = [str(folder)]  # a namespace of its own: handlers/x.py never shadows a real module x
        sys.modules[_HANDLER_PACKAGE] = package
        for loaded in [m for m in sys.modules if m.startswith(_HANDLER_PACKAGE + ".")]:
            del sys.modules[loaded]
    try:
        module = importlib.import_module(f"{_HANDLER_PACKAGE}.{module_name}")
    except Exception as exc:
        raise PipelineError(
            f"{where}.handler {reference!r}: cannot import {HANDLERS_DIR}/{module_name.replace('.', '/')}.py: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise PipelineError(
            f"{where}.handler {reference!r}: {HANDLERS_DIR}/{module_name}.py has no function {function_name!r}"
        )
    return function


class _Lookup:
    """What loading needs from the repository: a model's servable."""

    def servable(self, model: str, version: int | None) -> Any: ...


def _bind(body: Body, root: Path, lookup: _Lookup, models: Sequence[str], where: str) -> None:
    if body.kind == "model":
        assert body.model is not None
        servable = lookup.servable(body.model, body.version)
        if servable is None:
            if body.model in models:
                raise PipelineError(f"{where}.version: model {body.model!r} has no version {body.version}")
            raise PipelineError(f"{where}.model: unknown model {body.model!r}; the repository has {sorted(models)}")
        signatures = servable.runtime.signatures
        name = body.signature or servable.default_signature
        if name not in signatures:
            raise PipelineError(
                f"{where}.signature: model {body.model!r} has no signature {name!r}; it has {sorted(signatures)}"
            )
        signature = signatures[name]
        body.signature = name
        body.signature_spec = signature
        body.servable = servable
        for key in body.inputs:
            if key not in signature.inputs:
                raise PipelineError(
                    f"{where}.inputs.{key}: model {body.model!r} has no input {key!r}; it takes "
                    f"{list(signature.inputs)}"
                )
        for key in signature.inputs:
            body.inputs.setdefault(key, key)  # wired by name unless mapped
        body.outputs = list(signature.outputs)
        return
    assert body.model is not None
    function = _import_handler(root, body.model, where)
    body.handler = function
    body.is_async = inspect.iscoroutinefunction(function)
    parameters = inspect.signature(function).parameters
    body.wants_headers = "headers" in parameters
    if body.batch and body.wants_headers:
        raise PipelineError(
            f"{where}.batch: {body.model} takes the request headers, which differ from call to call; a batched "
            "step runs once for many calls, so it cannot take them (remove 'batch' or the 'headers' argument)"
        )
    if body.batch and body.is_async:
        raise PipelineError(
            f"{where}.batch: {body.model} is async; a batched step runs on the inference thread, so it must be a "
            "plain function (remove 'batch' or make it one)"
        )
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    for key in body.inputs:
        if key not in parameters and not takes_any:
            raise PipelineError(
                f"{where}.inputs.{key}: {body.model} takes no argument {key!r}; it takes "
                f"{[p for p in parameters if p != 'headers']}"
            )
    required = [
        p.name
        for p in parameters.values()
        if p.default is inspect.Parameter.empty
        and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        and p.name != "headers"
    ]
    for key in required:
        if key not in body.inputs:
            raise PipelineError(f"{where}.inputs: {body.model} needs argument {key!r}; wire it to a tensor")


def _order(name: str, steps: list[Step], inputs: Mapping[str, TensorSpec]) -> list[list[Step]]:
    """Steps in dependency levels; raises naming the step for a missing tensor or a cycle."""
    by_name: dict[str, Step] = {}
    for step in steps:
        if step.name in by_name:
            raise PipelineError(f"{_where('pipelines', name, 'steps')}: two steps are named {step.name!r}")
        if step.name in inputs:
            raise PipelineError(
                f"{_where('pipelines', name, 'steps')}[{step.name}]: a step may not be named like an input"
            )
        by_name[step.name] = step
    depends: dict[str, set[str]] = {}
    for step in steps:
        where = _where("pipelines", name, f"steps[{step.name}]")
        sources = {source for body in step.cases.values() for source in body.inputs.values()}
        if step.switch_on is not None:
            sources.add(step.switch_on)
        depends[step.name] = set()
        for source in sorted(sources):
            if source in inputs:
                continue
            producer, _, tensor = source.partition(".")
            if producer not in by_name or not tensor:
                raise PipelineError(
                    f"{where}: tensor {source!r} is no pipeline input ({sorted(inputs)}) and no step.output"
                )
            if tensor not in by_name[producer].outputs:
                raise PipelineError(
                    f"{where}: step {producer!r} gives no tensor {tensor!r}; it gives {by_name[producer].outputs}"
                )
            depends[step.name].add(producer)
        step.needs = sources
    levels: list[list[Step]] = []
    done: set[str] = set()
    while len(done) < len(steps):
        ready = [s for s in steps if s.name not in done and depends[s.name] <= done]
        if not ready:
            stuck = sorted(s.name for s in steps if s.name not in done)
            raise PipelineError(f"{_where('pipelines', name, 'steps')}: the steps {stuck} form a cycle")
        levels.append(ready)
        done.update(s.name for s in ready)
    return levels


def load_pipelines(
    root: Path,
    lookup: _Lookup,
    models: Sequence[str],
    predict: Callable[..., Awaitable[Arrays]],
    default_timeout_s: float,
    observe: StepObserver | None = None,
    tracing: Any = None,
) -> list[Pipeline]:
    """Parse, bind and check every pipeline of ``root/pipeline.yaml``."""
    import yaml

    path = root / PIPELINE_FILE
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise PipelineError(f"{PIPELINE_FILE} is not valid YAML: {exc}") from None
    document = _mapping(document, PIPELINE_FILE)
    _keys(document, ("pipelines",), PIPELINE_FILE)
    definitions = _mapping(document.get("pipelines"), _where("pipelines"))
    if not definitions:
        raise PipelineError(f"{_where('pipelines')} declares no pipeline")
    pipelines = []
    for name, raw in definitions.items():
        where = _where("pipelines", str(name))
        _name(name, where)
        if name in models:
            raise PipelineError(f"{where}: a model of the repository is already named {name!r}")
        raw = _mapping(raw, where)
        _keys(raw, ("inputs", "outputs", "steps", "timeout_ms"), where)
        inputs = {
            key: _spec(key, value, f"{where}.inputs.{key}")
            for key, value in _mapping(raw.get("inputs"), f"{where}.inputs").items()
        }
        if not inputs:
            raise PipelineError(f"{where}.inputs must declare at least one input")
        steps_raw = raw.get("steps")
        if not isinstance(steps_raw, list) or not steps_raw:
            raise PipelineError(f"{where}.steps must be a list of steps")
        steps = [_step(step, f"{where}.steps[{index}]") for index, step in enumerate(steps_raw)]
        for step in steps:
            for case, body in step.cases.items():
                step_where = _where("pipelines", name, f"steps[{step.name}]") + (f".cases.{case}" if case else "")
                _bind(body, root, lookup, models, step_where)
            if len(step.cases) > 1:
                first = next(iter(step.cases.values())).outputs
                for case, body in step.cases.items():
                    if sorted(body.outputs) != sorted(first):
                        raise PipelineError(
                            f"{_where('pipelines', name, f'steps[{step.name}]')}.cases.{case}: gives {body.outputs}"
                            f" but the other cases give {first}; every case must give the same outputs"
                        )
        levels = _order(name, steps, inputs)
        for step in steps:
            step.plain = step.cases.get("")
            step.keys = tuple((output, f"{step.name}.{output}") for output in step.outputs)
            step.models = tuple(sorted({b.model for b in step.cases.values() if b.kind == "model" and b.model}))
        outputs: dict[str, tuple[str, TensorSpec]] = {}
        for key, value in _mapping(raw.get("outputs"), f"{where}.outputs").items():
            spec = _spec(key, value, f"{where}.outputs.{key}")
            source = value.get("from")
            if not isinstance(source, str):
                raise PipelineError(f"{where}.outputs.{key}.from must name a tensor: step.output or an input")
            producer, _, tensor = source.partition(".")
            step = next((s for s in steps if s.name == producer), None)
            if source not in inputs and (step is None or tensor not in step.outputs):
                raise PipelineError(f"{where}.outputs.{key}.from: no step gives tensor {source!r}")
            outputs[key] = (source, spec)
        if not outputs:
            raise PipelineError(f"{where}.outputs must declare at least one output")
        timeout = _timeout(raw.get("timeout_ms"), f"{where}.timeout_ms") or default_timeout_s
        pipelines.append(Pipeline(str(name), inputs, outputs, levels, timeout, predict, observe, tracing))
    return pipelines
