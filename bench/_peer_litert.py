"""The LiteRT call shared by the peer servers of bench/_serving_peers.py (they import it inside their own virtual
environments): the ``serving_default`` signature runner of the ``ai-edge-litert`` interpreter, with one thread per
core, as the serving image's LiteRT runtime runs it."""

from __future__ import annotations

import os

import numpy as np
from ai_edge_litert.interpreter import Interpreter


class SignatureModel:
    def __init__(self, path: str) -> None:
        interpreter = Interpreter(model_path=str(path), num_threads=os.cpu_count() or 1)
        self._runner = interpreter.get_signature_runner("serving_default")
        inputs = list(self._runner.get_input_details())
        if len(inputs) != 1:
            raise ValueError(f"{path}: the peer servers take a model with one input, not {inputs}")
        self.input_name = inputs[0]
        self.output_names = list(self._runner.get_output_details())

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        return self._runner(**{self.input_name: np.ascontiguousarray(batch, dtype=np.float32)})
