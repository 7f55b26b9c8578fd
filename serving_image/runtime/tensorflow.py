"""The TensorFlow runtime: a SavedModel's signatures, called with NumPy arrays.

Each signature runs as one TensorFlow Session callable over the SavedModel's ``serve`` graph, the way TF
Serving runs it: no eager dispatch and no Python argument flattening per call, and TensorFlow's graph
optimiser inlines the signature's function. Where it measures faster at warm-up (small graphs, where an
op costs less than handing it to another thread), a signature's ops run on the calling thread
(``RunOptions.inter_op_thread_pool = -1``). Together that is about half the CPU per call of calling the
eager signature on the benchmark's MLP (bench/tf_call.py). A SavedModel without a ``serve`` graph is loaded
with ``tf.saved_model.load`` and called eagerly, as before."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelLoadError
from ..tensors import STRING, SUPPORTED_DTYPES, TensorSpec, cast_array
from .base import Runtime, Signature, zeros

log = logging.getLogger("serving_image")

INSTALL_HINT = "pip install 'modelport[serving]' (or use the image built with RUNTIME=tensorflow)"


def _import_tensorflow() -> Any:
    # Quieten TensorFlow's C++ start-up chatter unless the operator asked for it.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
    except ImportError as exc:
        raise ModelLoadError(f"this model is a SavedModel, which needs TensorFlow: {INSTALL_HINT} ({exc})") from exc
    return tf


def _spec(tf: Any, name: str, dtype: Any, shape: Any, where: str) -> TensorSpec:
    """``dtype`` a ``tf.DType``, ``shape`` a ``tf.TensorShape``."""
    numpy_dtype = STRING if dtype == tf.string else np.dtype(dtype.as_numpy_dtype)
    if numpy_dtype not in SUPPORTED_DTYPES:
        raise ModelLoadError(f"{where} {name!r} has dtype {dtype.name}, which JSON requests cannot carry")
    dims = tuple(shape.as_list()) if shape.rank is not None else None
    return TensorSpec(name=name, dtype=numpy_dtype, shape=dims)


class TensorFlowRuntime(Runtime):
    """Loads a SavedModel's ``serve`` graph into a Session and serves every signature it declares."""

    platform = "tensorflow_savedmodel"

    def __init__(self, path: Path, threads: int | None = None, eager: bool = False) -> None:
        """``eager``: load with ``tf.saved_model.load`` and call the signatures eagerly, the path a SavedModel
        the Session cannot run falls back to by itself."""
        tf = _import_tensorflow()
        self._tf = tf
        self._calls: dict[str, _SessionCall] = {}
        self._functions: dict[str, Any] = {}
        signatures = self._load_eager(tf, path, threads) if eager else self._load(tf, path, threads)
        if not signatures:
            raise ModelLoadError(f"the SavedModel at {path} has no signatures; export it with a serving signature")
        super().__init__(signatures)

    def _load(self, tf: Any, path: Path, threads: int | None) -> dict[str, Signature]:
        try:
            return self._load_session(tf, path, threads)
        except ModelLoadError:
            raise
        except Exception as exc:  # no serve graph, or one the v1 loader cannot run: the eager path can
            log.warning(
                "%s: %s; loading it with tf.saved_model.load and calling its signatures eagerly (slower)",
                path,
                exc if isinstance(exc, _NoServeGraph) else f"{type(exc).__name__}: {exc}",
            )
            self._calls.clear()
            return self._load_eager(tf, path, threads)

    def _load_session(self, tf: Any, path: Path, threads: int | None) -> dict[str, Signature]:
        try:
            tags = {tuple(sorted(meta.meta_info_def.tags)) for meta in _saved_model_proto(path).meta_graphs}
        except Exception as exc:
            raise ModelLoadError(f"{path / 'saved_model.pb'} cannot be read: {type(exc).__name__}: {exc}") from exc
        if ("serve",) not in tags:
            raise _NoServeGraph(f"the SavedModel has no graph tagged only 'serve' (it has {sorted(tags)})")
        graph = tf.Graph()
        config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=threads or 0, allow_soft_placement=True)
        self._session = tf.compat.v1.Session(graph=graph, config=config)
        logger = tf.get_logger()
        level = logger.level
        logger.setLevel(logging.ERROR)  # the v1 loader's deprecation notice: this use is the intended one
        try:
            with graph.as_default():
                meta = tf.compat.v1.saved_model.loader.load(self._session, ["serve"], str(path))
        finally:
            logger.setLevel(level)
        signatures = {}
        for name in sorted(meta.signature_def):
            if name.startswith("__"):  # __saved_model_init_op: run by the loader, not a serving signature
                continue
            definition = meta.signature_def[name]
            inputs = sorted(definition.inputs.items())
            outputs = sorted(definition.outputs.items())
            if not outputs:
                raise ModelLoadError(f"signature {name!r} of {path} has no outputs")
            signatures[name] = Signature(
                name=name,
                inputs={key: _info_spec(tf, key, info, "input") for key, info in inputs},
                outputs={key: _info_spec(tf, key, info, "output") for key, info in outputs},
            )
            self._calls[name] = _SessionCall(
                tf,
                self._session,
                list(signatures[name].inputs.values()),
                [graph.get_tensor_by_name(info.name) for _, info in inputs],
                [key for key, _ in outputs],
                [graph.get_tensor_by_name(info.name) for _, info in outputs],
            )
        return signatures

    def _load_eager(self, tf: Any, path: Path, threads: int | None) -> dict[str, Signature]:
        if threads:
            # Raises once TensorFlow has initialised (an earlier model in this process); that setting stands.
            with contextlib.suppress(RuntimeError):
                tf.config.threading.set_intra_op_parallelism_threads(threads)
        self._loaded = tf.saved_model.load(str(path))
        self._functions = dict(self._loaded.signatures)
        signatures = {}
        for name, function in self._functions.items():
            args, kwargs = function.structured_input_signature
            if args:
                raise ModelLoadError(f"signature {name!r} of {path} takes positional inputs; signatures take names")
            outputs = function.structured_outputs
            if not isinstance(outputs, Mapping):
                raise ModelLoadError(f"signature {name!r} of {path} does not return a dict of named outputs")
            signatures[name] = Signature(
                name=name,
                inputs={key: _spec(tf, key, spec.dtype, spec.shape, "input") for key, spec in kwargs.items()},
                outputs={key: _spec(tf, key, spec.dtype, spec.shape, "output") for key, spec in outputs.items()},
            )
        return signatures

    @property
    def eager(self) -> bool:
        """True when the signatures are called eagerly (a SavedModel without a ``serve`` graph)."""
        return not self._calls

    def predict(self, signature: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        call = self._calls.get(signature)
        if call is not None:
            return call(inputs)
        results = self._functions[signature](**inputs)
        return {name: value.numpy() for name, value in results.items()}

    def warm_up(self, max_batch_size: int) -> dict[str, dict[int, float]]:
        for name, call in self._calls.items():
            signature = self.signatures[name]
            rows = max_batch_size if signature.batchable else 1
            call.choose_thread({key: zeros(spec, rows) for key, spec in signature.inputs.items()})
        return super().warm_up(max_batch_size)


class _NoServeGraph(Exception):
    pass


def _saved_model_proto(path: Path) -> Any:
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((path / "saved_model.pb").read_bytes())
    return proto


def _info_spec(tf: Any, name: str, info: Any, where: str) -> TensorSpec:
    return _spec(tf, name, tf.dtypes.as_dtype(info.dtype), tf.TensorShape(info.tensor_shape), where)


class _SessionCall:
    """One signature as a Session callable (the C++ ``Session::MakeCallable``, TF Serving's own call path):
    feeds in the signature's input order, outputs by name."""

    def __init__(
        self,
        tf: Any,
        session: Any,
        specs: list[TensorSpec],
        feeds: list[Any],
        output_names: list[str],
        fetches: list[Any],
    ) -> None:
        self._specs = specs
        self._output_names = output_names
        # Ops on TensorFlow's inter-op pool; warm-up may add a callable with them on the calling thread (each
        # callable is a graph optimisation of its own, seconds for a large model, so only where it may pay).
        self._make = lambda options: _make_callable(tf, session, feeds, fetches, options)
        self._pool = self._make(tf.compat.v1.RunOptions())
        self._caller_options = tf.compat.v1.RunOptions(inter_op_thread_pool=-1)
        self._caller: Any = None
        self.caller_thread = False
        self._callable = self._pool

    def __call__(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        values = []
        for spec in self._specs:
            value = inputs[spec.name]
            # A numeric array of another dtype (a pipeline handler's int64 for an int32 input) is cast only
            # where no value changes; the eager signature refused every other dtype.
            values.append(value if value.dtype == spec.dtype or spec.dtype == STRING else cast_array(spec, value))
        return dict(zip(self._output_names, self._callable(*values), strict=True))

    def use_caller_thread(self, caller_thread: bool) -> None:
        if caller_thread and self._caller is None:
            self._caller = self._make(self._caller_options)
        self.caller_thread = caller_thread
        self._callable = self._caller if caller_thread else self._pool

    def _best_of(self, inputs: Mapping[str, np.ndarray], calls: int) -> float:
        self(inputs)
        best = float("inf")
        for _ in range(calls):
            started = time.perf_counter()
            self(inputs)
            best = min(best, time.perf_counter() - started)
        return best

    def choose_thread(self, inputs: Mapping[str, np.ndarray]) -> None:
        """Run the ops on the calling thread when that measures faster than TensorFlow's inter-op pool. A call
        over :data:`_CALLER_THREAD_MAX_S` keeps the pool untried: the hand-off per op is lost in it."""
        self.use_caller_thread(False)
        if self._best_of(inputs, 1) > _CALLER_THREAD_MAX_S:
            return
        pool = self._best_of(inputs, 5)
        self.use_caller_thread(True)
        self.use_caller_thread(self._best_of(inputs, 5) < pool)


# Calling-thread execution pays where an op costs about as much as its hand-off to a pool thread (tens of µs):
# small graphs. Past this per call, the graph's own work dominates and the second callable is not built.
_CALLER_THREAD_MAX_S = 0.005


def _make_callable(tf: Any, session: Any, feeds: list[Any], fetches: list[Any], options: Any) -> Any:
    """``Session::MakeCallable`` through ``Session._make_callable_from_options`` (private, but stable since
    TensorFlow 1.8: the Keras 2 backend ran every model through it); the public ``make_callable``, which
    re-parses a feed dict on every call, where it is missing."""
    if hasattr(session, "_make_callable_from_options"):
        from tensorflow.core.protobuf.config_pb2 import CallableOptions

        callable_options = CallableOptions(
            feed=[feed.name for feed in feeds], fetch=[fetch.name for fetch in fetches], run_options=options
        )
        return session._make_callable_from_options(callable_options)
    call = session.make_callable(fetches, feed_list=feeds, accept_options=True)
    return lambda *values: call(*values, options=options)
