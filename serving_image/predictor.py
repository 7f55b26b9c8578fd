"""The one internal predict path. Every protocol adapter, HTTP or gRPC, decodes its body into named arrays and
calls :meth:`Predictor.predict`; validation, batching and the runtime sit behind it. A pipeline is served the
same way: its servable runs its steps, and each model step comes back through :func:`predict_model`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .errors import BadRequest
from .repository import ModelRepository, Servable
from .runtime.base import Signature
from .tensors import check_shape


class Predictor:
    """Validates named inputs against a signature, queues them on the servable's batcher and returns the
    requested outputs."""

    def __init__(self, repository: ModelRepository) -> None:
        self.repository = repository

    def resolve(self, model: str, version: str | int | None = None) -> Servable:
        return self.repository.resolve(model, version)

    async def predict(
        self,
        servable: Servable,
        signature: Signature,
        inputs: Mapping[str, np.ndarray],
        outputs: Sequence[str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, np.ndarray]:
        """``headers`` (the request's HTTP headers or gRPC metadata) reach pipeline handlers that ask for them."""
        return await predict_model(servable, signature, inputs, outputs, headers)


async def predict_model(
    servable: Servable,
    signature: Signature,
    inputs: Mapping[str, np.ndarray],
    outputs: Sequence[str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> dict[str, np.ndarray]:
    rows = validate_inputs(signature, inputs)
    if outputs is not None:
        unknown = [name for name in outputs if name not in signature.outputs]
        if unknown:
            raise BadRequest(f"unknown output {unknown[0]!r}; the model returns {list(signature.outputs)}")
    ordered = {name: inputs[name] for name in signature.inputs}
    if servable.pipeline is not None:
        results = await servable.pipeline.run(ordered, headers, rows)
    else:
        results = await servable.batchers[signature.name].submit(ordered, rows)
    if outputs is not None:
        return {name: results[name] for name in outputs}
    return results


def validate_inputs(signature: Signature, inputs: Mapping[str, np.ndarray]) -> int:
    """Check names and shapes; return the number of rows (dimension 0) the request carries."""
    specs = signature.inputs
    if len(inputs) != len(specs) or any(name not in specs for name in inputs):
        for name in inputs:
            if name not in specs:
                raise BadRequest(f"unknown input {name!r}; the model takes {list(specs)}")
        missing = next(name for name in specs if name not in inputs)
        raise BadRequest(f"missing input {missing!r}; the model takes {list(specs)}")
    rows = -1
    for name, spec in specs.items():
        value = inputs[name]
        check_shape(spec, value)
        if signature.batchable:
            if rows == -1:
                rows = value.shape[0]
            elif value.shape[0] != rows:
                sizes = ", ".join(f"{n} has {inputs[n].shape[0]}" for n in specs)
                raise BadRequest(f"inputs disagree on the batch size (dimension 0): {sizes}")
    if rows == 0:
        raise BadRequest(f"input {next(iter(specs))!r} has no rows")
    return max(rows, 1)
