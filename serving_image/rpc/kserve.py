"""KServe V2 (Open Inference Protocol) over gRPC: the same answers as the REST routes in
``protocols/kserve.py``, through the same ``Predictor.predict``."""

from __future__ import annotations

from typing import Any

from .. import __version__
from ..service import Service
from .protos import open_inference_pb2 as v2
from .tensors import decode_v2_inputs, encode_v2_outputs, v2_tensor_metadata


def _version(value: str) -> str | None:
    return value or None


class KServeServicer:
    def __init__(self, service: Service) -> None:
        self.service = service

    async def ServerLive(self, request: Any, context: Any) -> Any:  # noqa: N802
        return v2.ServerLiveResponse(live=self.service.repository.loaded)

    async def ServerReady(self, request: Any, context: Any) -> Any:  # noqa: N802
        return v2.ServerReadyResponse(ready=self.service.repository.ready)

    async def ModelReady(self, request: Any, context: Any) -> Any:  # noqa: N802
        repository = self.service.repository
        repository.check_name(request.name)
        if repository.loaded and request.version:
            repository.resolve(request.name, request.version)  # NOT_FOUND for a version that does not exist
        return v2.ModelReadyResponse(ready=repository.ready)

    async def ServerMetadata(self, request: Any, context: Any) -> Any:  # noqa: N802
        return v2.ServerMetadataResponse(name="modelport", version=__version__, extensions=[])

    async def ModelMetadata(self, request: Any, context: Any) -> Any:  # noqa: N802
        servable = self.service.predictor.resolve(request.name, _version(request.version))
        signature = servable.signature(None)
        return v2.ModelMetadataResponse(
            name=servable.name,
            versions=[str(v) for v in self.service.repository.versions(servable.name)],
            platform=servable.runtime.platform,
            inputs=[v2_tensor_metadata(spec) for spec in signature.inputs.values()],
            outputs=[v2_tensor_metadata(spec) for spec in signature.outputs.values()],
        )

    async def ModelInfer(self, request: Any, context: Any) -> Any:  # noqa: N802
        servable = self.service.predictor.resolve(request.model_name, _version(request.model_version))
        signature = servable.signature(None)
        inputs = decode_v2_inputs(request, signature)
        wanted = [output.name for output in request.outputs] or None
        # Only pipeline handlers read headers: plain models skip building the mapping.
        headers = dict(context.invocation_metadata() or ()) if servable.pipeline is not None else None
        outputs = await self.service.predictor.predict(servable, signature, inputs, wanted, headers)
        response = v2.ModelInferResponse(model_name=servable.name, model_version=str(servable.version), id=request.id)
        # Raw contents answer raw requests (Triton's clients send and read them); typed answer typed.
        encode_v2_outputs(outputs, signature, response, raw=bool(request.raw_input_contents))
        return response
