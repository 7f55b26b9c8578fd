"""The runtime contract: a loaded model exposes named signatures and runs one batch at a time."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..tensors import STRING, TensorSpec


@dataclass(frozen=True)
class Signature:
    """A callable entry point of a model: its named inputs and outputs, in the model's order.

    ``batchable``: rows of several requests can be stacked along dimension 0 and split back after the call.
    ``fixed_rows``: every input's shape beyond dimension 0 is known, so any two valid requests stack."""

    name: str
    inputs: Mapping[str, TensorSpec]
    outputs: Mapping[str, TensorSpec]
    batchable: bool = field(init=False)
    fixed_rows: bool = field(init=False)

    def __post_init__(self) -> None:
        specs = [*self.inputs.values(), *self.outputs.values()]
        object.__setattr__(self, "batchable", all(spec.batched for spec in specs))
        fixed = all(s.shape is not None and None not in s.shape[1:] for s in self.inputs.values())
        object.__setattr__(self, "fixed_rows", fixed)


class Runtime(ABC):
    """A loaded model. ``predict`` is called from one inference thread at a time."""

    platform: str  # the KServe ``platform`` string

    def __init__(self, signatures: Mapping[str, Signature]) -> None:
        self.signatures = dict(signatures)

    @abstractmethod
    def predict(self, signature: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run ``signature`` on complete, validated inputs and return every output as a NumPy array."""

    def warm_up(self, max_batch_size: int) -> dict[str, dict[int, float]]:
        """Run each signature at batch 1 and at the largest batch, so the first real request does not pay for
        graph optimisation or tensor allocation. Returns the best of two timed calls per size, in seconds per
        row, by signature and batch size."""
        timings: dict[str, dict[int, float]] = {}
        for signature in self.signatures.values():
            sizes = [1, max_batch_size] if signature.batchable and max_batch_size > 1 else [1]
            timings[signature.name] = {}
            for rows in sizes:
                inputs = {name: zeros(spec, rows) for name, spec in signature.inputs.items()}
                self.predict(signature.name, inputs)
                best = float("inf")
                for _ in range(2):
                    started = time.perf_counter()
                    self.predict(signature.name, inputs)
                    best = min(best, time.perf_counter() - started)
                timings[signature.name][rows] = best / rows
        return timings


def zeros(spec: TensorSpec, rows: int) -> np.ndarray:
    dims = list(spec.shape) if spec.shape is not None else [rows]
    if dims and dims[0] is None:
        dims[0] = rows
    shape = tuple(1 if d is None else d for d in dims)
    if spec.dtype == STRING:
        return np.full(shape, b"", dtype=object)
    return np.zeros(shape, dtype=spec.dtype)
