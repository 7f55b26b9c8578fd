"""The LiteRT runtime: a ``.tflite`` model run by the ``ai-edge-litert`` interpreter, without TensorFlow."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelLoadError
from ..tensors import STRING, SUPPORTED_DTYPES, TensorSpec
from .base import Runtime, Signature

INSTALL_HINT = "pip install 'modelport[litert]' (or use the image built with RUNTIME=litert)"
DEFAULT_SIGNATURE = "serving_default"


def _import_interpreter() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise ModelLoadError(f"this model is a .tflite file, which needs LiteRT: {INSTALL_HINT} ({exc})") from exc
    return Interpreter


def _spec(name: str, detail: Mapping[str, Any], where: str, row_by_row: bool) -> TensorSpec:
    dtype = STRING if detail["dtype"] in (np.bytes_, np.object_) else np.dtype(detail["dtype"])
    if dtype not in SUPPORTED_DTYPES:
        raise ModelLoadError(f"{where} {name!r} has dtype {dtype}, which JSON requests cannot carry")
    dims = [None if int(d) < 0 else int(d) for d in detail.get("shape_signature", detail["shape"])]
    if row_by_row and dims:
        dims[0] = None
    return TensorSpec(name=name, dtype=dtype, shape=tuple(dims))


def _fixed_batch_of_one(details: list[Mapping[str, Any]]) -> bool:
    return all(
        len(d.get("shape_signature", d["shape"])) >= 1 and d.get("shape_signature", d["shape"])[0] == 1 for d in details
    )


class LiteRTRuntime(Runtime):
    """Serves the model's signature runners, or its plain input and output tensors when it has none.

    A model converted with a fixed batch of one still takes batches here: rows are run one by one."""

    platform = "tensorflow_lite"

    def __init__(self, path: Path, threads: int | None = None) -> None:
        interpreter_class = _import_interpreter()
        try:
            self._interpreter = interpreter_class(model_path=str(path), num_threads=threads or os.cpu_count() or 1)
        except ValueError as exc:
            raise ModelLoadError(f"{path} is not a LiteRT model: {exc}") from exc
        self._runners: dict[str, Any] = {}
        self._row_by_row: dict[str, bool] = {}
        signatures: dict[str, Signature] = {}
        for name in self._interpreter.get_signature_list():
            runner = self._interpreter.get_signature_runner(name)
            inputs, outputs = runner.get_input_details(), runner.get_output_details()
            row_by_row = _fixed_batch_of_one([*inputs.values(), *outputs.values()])
            self._runners[name] = runner
            self._row_by_row[name] = row_by_row
            signatures[name] = Signature(
                name=name,
                inputs={key: _spec(key, d, "input", row_by_row) for key, d in inputs.items()},
                outputs={key: _spec(key, d, "output", row_by_row) for key, d in outputs.items()},
            )
        if not signatures:
            # Models converted without signature defs: expose their tensors under their tensor names.
            self._interpreter.allocate_tensors()
            inputs = {d["name"]: d for d in self._interpreter.get_input_details()}
            outputs = {d["name"]: d for d in self._interpreter.get_output_details()}
            row_by_row = _fixed_batch_of_one([*inputs.values(), *outputs.values()])
            self._runners[DEFAULT_SIGNATURE] = _TensorRunner(self._interpreter, inputs, outputs)
            self._row_by_row[DEFAULT_SIGNATURE] = row_by_row
            signatures[DEFAULT_SIGNATURE] = Signature(
                name=DEFAULT_SIGNATURE,
                inputs={key: _spec(key, d, "input", row_by_row) for key, d in inputs.items()},
                outputs={key: _spec(key, d, "output", row_by_row) for key, d in outputs.items()},
            )
        super().__init__(signatures)

    def predict(self, signature: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        runner = self._runners[signature]
        if not self._row_by_row[signature]:
            return runner(**inputs)
        rows = len(next(iter(inputs.values())))
        results = [runner(**{name: value[i : i + 1] for name, value in inputs.items()}) for i in range(rows)]
        return {name: np.concatenate([r[name] for r in results]) for name in results[0]}


class _TensorRunner:
    """The signature-runner call shape over an interpreter's raw input and output tensors."""

    def __init__(self, interpreter: Any, inputs: Mapping[str, Any], outputs: Mapping[str, Any]) -> None:
        self._interpreter = interpreter
        self._inputs = inputs
        self._outputs = outputs

    def __call__(self, **values: np.ndarray) -> dict[str, np.ndarray]:
        resized = False
        for name, detail in self._inputs.items():
            if tuple(detail["shape"]) != values[name].shape:
                self._interpreter.resize_tensor_input(detail["index"], values[name].shape)
                resized = True
        if resized:
            self._interpreter.allocate_tensors()
            self._inputs = {d["name"]: d for d in self._interpreter.get_input_details()}
            self._outputs = {d["name"]: d for d in self._interpreter.get_output_details()}
        for name, detail in self._inputs.items():
            self._interpreter.set_tensor(detail["index"], values[name])
        self._interpreter.invoke()
        return {name: self._interpreter.get_tensor(detail["index"]) for name, detail in self._outputs.items()}
