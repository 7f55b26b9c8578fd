"""Vertex AI custom-container contract: the health and predict routes named by ``AIP_HEALTH_ROUTE`` and
``AIP_PREDICT_ROUTE``, taking ``{"instances": [...]}`` and answering ``{"predictions": [...]}``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..codec import decode_tfserving_body, encode_rows, gc_paused
from ..http import Endpoint, json_response, read_body, require_content_type
from ..service import Service


class VertexProtocol:
    def __init__(self, service: Service) -> None:
        self.service = service

    def routes(self) -> list[Route]:
        settings = self.service.settings
        routes = []
        if settings.vertex_predict_route:
            routes.append(Route(settings.vertex_predict_route, Endpoint(self.predict), methods=["POST"]))
        if settings.vertex_health_route:
            routes.append(Route(settings.vertex_health_route, Endpoint(self.health), methods=["GET"]))
        return routes

    async def health(self, request: Request) -> Response:
        return self.service.readiness()

    async def predict(self, request: Request) -> Response:
        servable = self.service.predictor.resolve(self.service.repository.name)
        require_content_type(request)
        raw = await read_body(request)
        with gc_paused(raw):
            signature, inputs, _ = decode_tfserving_body(raw, servable.signature, allow_columnar=False)
        outputs = await self.service.predictor.predict(servable, signature, inputs, None, request.headers)
        return json_response({"predictions": encode_rows(outputs)})
