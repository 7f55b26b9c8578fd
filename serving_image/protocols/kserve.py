"""KServe V2 / Open Inference Protocol over REST: server and model health, model metadata and ``infer``."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import __version__
from ..codec import decode_kserve, encode_kserve_outputs, gc_paused, parse_json
from ..errors import BadRequest
from ..http import JSON, Endpoint, json_response, read_body, require_content_type
from ..repository import Servable
from ..service import Service
from ..tensors import TensorSpec

OCTET_STREAM = "application/octet-stream"


def _tensor_metadata(spec: TensorSpec) -> dict[str, Any]:
    return {"name": spec.name, "datatype": spec.kserve_dtype, "shape": spec.dims}


class KServeProtocol:
    def __init__(self, service: Service) -> None:
        self.service = service

    def routes(self) -> list[Route]:
        return [
            Route("/v2/models/{model}/infer", Endpoint(self.infer), methods=["POST"]),
            Route("/v2/models/{model}/versions/{version}/infer", Endpoint(self.infer), methods=["POST"]),
            Route("/v2/health/live", Endpoint(self.live), methods=["GET"]),
            Route("/v2/health/ready", Endpoint(self.ready), methods=["GET"]),
            Route("/v2", Endpoint(self.server_metadata), methods=["GET"]),
            Route("/v2/models/{model}", Endpoint(self.model_metadata), methods=["GET"]),
            Route("/v2/models/{model}/versions/{version}", Endpoint(self.model_metadata), methods=["GET"]),
            Route("/v2/models/{model}/ready", Endpoint(self.model_ready), methods=["GET"]),
            Route("/v2/models/{model}/versions/{version}/ready", Endpoint(self.model_ready), methods=["GET"]),
        ]

    def _servable(self, request: Request) -> Servable:
        params = request.path_params
        return self.service.predictor.resolve(params["model"], params.get("version"))

    async def live(self, request: Request) -> Response:
        return self.service.liveness()

    async def ready(self, request: Request) -> Response:
        return self.service.readiness({"ready": True})

    async def server_metadata(self, request: Request) -> Response:
        return json_response({"name": "modelport", "version": __version__, "extensions": []})

    async def model_metadata(self, request: Request) -> Response:
        servable = self._servable(request)
        signature = servable.signature(None)
        return json_response(
            {
                "name": servable.name,
                "versions": [str(v) for v in self.service.repository.versions(servable.name)],
                "platform": servable.runtime.platform,
                "inputs": [_tensor_metadata(spec) for spec in signature.inputs.values()],
                "outputs": [_tensor_metadata(spec) for spec in signature.outputs.values()],
            }
        )

    async def model_ready(self, request: Request) -> Response:
        repository = self.service.repository
        model = request.path_params["model"]
        repository.check_name(model)
        if repository.loaded and "version" in request.path_params:
            self._servable(request)  # 404 for a version that does not exist
        return self.service.readiness({"name": model, "ready": repository.ready})

    async def infer(self, request: Request) -> Response:
        servable = self._servable(request)
        signature = servable.signature(None)
        header_length = request.headers.get("inference-header-content-length")
        if header_length is None:
            require_content_type(request)
            raw = await read_body(request)
            with gc_paused(raw):
                body = decode_kserve(parse_json(raw), signature)
        else:
            # Binary tensor data extension: a JSON header, then raw little-endian tensor bytes.
            require_content_type(request, (JSON, OCTET_STREAM))
            raw = await read_body(request)
            if not header_length.isdigit() or int(header_length) > len(raw):
                raise BadRequest(
                    f"Inference-Header-Content-Length {header_length!r} must be a byte count within the body"
                )
            split = int(header_length)
            body = decode_kserve(parse_json(raw[:split]), signature, raw[split:])
        outputs = await self.service.predictor.predict(servable, signature, body.inputs, body.outputs, request.headers)
        reply: dict[str, Any] = {
            "model_name": servable.name,
            "model_version": str(servable.version),
            "outputs": encode_kserve_outputs(outputs, signature),
        }
        if body.id is not None:
            reply["id"] = body.id
        return json_response(reply)
