"""The TensorFlow runtime: a SavedModel's signatures, called with NumPy arrays."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelLoadError
from ..tensors import STRING, SUPPORTED_DTYPES, TensorSpec
from .base import Runtime, Signature

INSTALL_HINT = "pip install 'modelport[serving]' (or use the image built with RUNTIME=tensorflow)"


def _import_tensorflow() -> Any:
    # Quieten TensorFlow's C++ start-up chatter unless the operator asked for it.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
    except ImportError as exc:
        raise ModelLoadError(f"this model is a SavedModel, which needs TensorFlow: {INSTALL_HINT} ({exc})") from exc
    return tf


def _spec(tf: Any, name: str, spec: Any, where: str) -> TensorSpec:
    dtype = STRING if spec.dtype == tf.string else np.dtype(spec.dtype.as_numpy_dtype)
    if dtype not in SUPPORTED_DTYPES:
        raise ModelLoadError(f"{where} {name!r} has dtype {spec.dtype.name}, which JSON requests cannot carry")
    shape = tuple(spec.shape.as_list()) if spec.shape.rank is not None else None
    return TensorSpec(name=name, dtype=dtype, shape=shape)


class TensorFlowRuntime(Runtime):
    """Loads ``saved_model.pb`` with ``tf.saved_model.load`` and serves every signature it declares."""

    platform = "tensorflow_savedmodel"

    def __init__(self, path: Path, threads: int | None = None) -> None:
        tf = _import_tensorflow()
        if threads:
            # Raises once TensorFlow has initialised (an earlier model in this process); that setting stands.
            with contextlib.suppress(RuntimeError):
                tf.config.threading.set_intra_op_parallelism_threads(threads)
        self._tf = tf
        self._loaded = tf.saved_model.load(str(path))
        self._functions: dict[str, Any] = dict(self._loaded.signatures)
        if not self._functions:
            raise ModelLoadError(f"the SavedModel at {path} has no signatures; export it with a serving signature")
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
                inputs={key: _spec(tf, key, spec, "input") for key, spec in kwargs.items()},
                outputs={key: _spec(tf, key, spec, "output") for key, spec in outputs.items()},
            )
        super().__init__(signatures)

    def predict(self, signature: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = self._functions[signature](**inputs)
        return {name: value.numpy() for name, value in results.items()}
