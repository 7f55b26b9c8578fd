"""TF Serving's gRPC API: ``PredictionService.Predict`` with ``TensorProto`` in and out, and
``ModelService.GetModelStatus``; the same answers as the REST routes, through the same ``Predictor.predict``."""

from __future__ import annotations

from typing import Any

from ..errors import BadRequest
from ..repository import State
from ..service import Service
from .protos import tfserving_pb2 as tfs
from .status import CallError
from .tensors import array_to_tensor_proto, tensor_proto_to_array

_STATES = {
    State.LOADING: tfs.ModelVersionStatus.LOADING,
    State.AVAILABLE: tfs.ModelVersionStatus.AVAILABLE,
    State.FAILED: tfs.ModelVersionStatus.END,
    State.UNLOADING: tfs.ModelVersionStatus.UNLOADING,
}


def _requested_version(spec: Any) -> int | None:
    choice = spec.WhichOneof("version_choice")
    if choice == "version":
        return spec.version.value
    if choice == "version_label":
        raise BadRequest(
            f"model_spec.version_label {spec.version_label!r}: this server has no version labels; give a version"
        )
    return None


class TFServingServicer:
    def __init__(self, service: Service) -> None:
        self.service = service

    async def Predict(self, request: Any, context: Any) -> Any:  # noqa: N802
        spec = request.model_spec
        servable = self.service.predictor.resolve(spec.name, _requested_version(spec))
        try:
            signature = servable.signature(spec.signature_name or None)
        except BadRequest as error:
            # TF Serving answers a signature the model lacks with FAILED_PRECONDITION (predict_util.cc), and
            # its clients may test for that code; HTTP still answers 400 like TF Serving's REST API.
            raise CallError("FAILED_PRECONDITION", error.message) from None
        inputs = {
            name: tensor_proto_to_array(name, proto, signature.inputs.get(name))
            for name, proto in request.inputs.items()
        }
        wanted = list(request.output_filter) or None
        # Only pipeline handlers read headers: plain models skip building the mapping.
        headers = dict(context.invocation_metadata() or ()) if servable.pipeline is not None else None
        outputs = await self.service.predictor.predict(servable, signature, inputs, wanted, headers)
        response = tfs.PredictResponse()
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
        response.model_spec.signature_name = signature.name
        for name, value in outputs.items():
            array_to_tensor_proto(value, response.outputs[name])
        return response

    async def GetModelStatus(self, request: Any, context: Any) -> Any:  # noqa: N802
        repository = self.service.repository
        spec = request.model_spec
        repository.check_name(spec.name)
        version = _requested_version(spec)
        state = _STATES[repository.state]
        if not repository.loaded:
            status = tfs.StatusProto(
                error_code=tfs.UNAVAILABLE if repository.state is State.FAILED else tfs.OK,
                error_message=repository.error or "",
            )
            return tfs.GetModelStatusResponse(
                model_version_status=[tfs.ModelVersionStatus(version=version or 0, state=state, status=status)]
            )
        versions = (
            [repository.resolve(spec.name, version).version]
            if version is not None
            else list(reversed(repository.versions(spec.name)))
        )
        return tfs.GetModelStatusResponse(
            model_version_status=[
                tfs.ModelVersionStatus(version=v, state=state, status=tfs.StatusProto(error_code=tfs.OK))
                for v in versions
            ]
        )
