"""TF Serving REST API: model status, metadata and ``:predict`` in the row and columnar formats."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..codec import Format, decode_tfserving_body, encode_columns, encode_rows, gc_paused
from ..errors import ServiceUnavailable
from ..http import Endpoint, error_response, json_response, read_body, require_content_type
from ..repository import Servable, State
from ..runtime.base import Signature
from ..service import Service
from ..tensors import TensorSpec


def _tensor_info(spec: TensorSpec) -> dict[str, Any]:
    shape: dict[str, Any] = {"unknown_rank": spec.shape is None}
    if spec.shape is not None:
        shape["dim"] = [{"size": str(d), "name": ""} for d in spec.dims]
    return {"dtype": spec.tf_dtype, "tensor_shape": shape, "name": spec.name}


def signature_def(signature: Signature) -> dict[str, Any]:
    return {
        "inputs": {name: _tensor_info(spec) for name, spec in signature.inputs.items()},
        "outputs": {name: _tensor_info(spec) for name, spec in signature.outputs.items()},
        "method_name": "tensorflow/serving/predict",
    }


class TFServingProtocol:
    def __init__(self, service: Service) -> None:
        self.service = service

    def routes(self) -> list[Route]:
        return [
            Route("/v1/models/{model}:predict", Endpoint(self.predict), methods=["POST"]),
            Route("/v1/models/{model}/versions/{version}:predict", Endpoint(self.predict), methods=["POST"]),
            Route("/v1/models/{model}", Endpoint(self.status), methods=["GET"]),
            Route("/v1/models/{model}/versions/{version}", Endpoint(self.status), methods=["GET"]),
            Route("/v1/models/{model}/metadata", Endpoint(self.metadata), methods=["GET"]),
            Route("/v1/models/{model}/versions/{version}/metadata", Endpoint(self.metadata), methods=["GET"]),
        ]

    def _servable(self, request: Request) -> Servable:
        params = request.path_params
        return self.service.predictor.resolve(params["model"], params.get("version"))

    async def predict(self, request: Request) -> Response:
        servable = self._servable(request)
        require_content_type(request)
        raw = await read_body(request)
        with gc_paused(raw):
            signature, inputs, form = decode_tfserving_body(raw, servable.signature)
        outputs = await self.service.predictor.predict(servable, signature, inputs, None, request.headers)
        if form is Format.ROW:
            return json_response({"predictions": encode_rows(outputs)})
        return json_response({"outputs": encode_columns(outputs)})

    async def status(self, request: Request) -> Response:
        repository = self.service.repository
        model = request.path_params["model"]
        repository.check_name(model)
        if not repository.loaded:
            versions = [
                {
                    "version": "0",
                    "state": repository.state.value,
                    "status": {"error_code": "UNAVAILABLE", "error_message": repository.error or ""},
                }
            ]
            return self.service.readiness({"model_version_status": versions})
        servables = (
            [self._servable(request)]
            if "version" in request.path_params
            else [repository.resolve(model, v) for v in reversed(repository.versions(model))]
        )
        state = repository.state.value
        body = {
            "model_version_status": [
                {"version": str(s.version), "state": state, "status": {"error_code": "OK", "error_message": ""}}
                for s in servables
            ]
        }
        if repository.state is State.UNLOADING:
            return error_response(ServiceUnavailable("the server is shutting down"), body)
        return json_response(body)

    async def metadata(self, request: Request) -> Response:
        servable = self._servable(request)
        return json_response(
            {
                "model_spec": {"name": servable.name, "signature_name": "", "version": str(servable.version)},
                "metadata": {
                    "signature_def": {
                        "signature_def": {name: signature_def(sig) for name, sig in servable.runtime.signatures.items()}
                    }
                },
            }
        )
