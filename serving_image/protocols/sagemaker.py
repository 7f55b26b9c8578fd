"""SageMaker's container contract: ``GET /ping`` and ``POST /invocations`` with JSON, CSV or JSON Lines
bodies, plus ``GET /execution-parameters`` for Batch Transform."""

from __future__ import annotations

from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..codec import (
    Format,
    csv_to_numbers,
    decode_instances,
    decode_tfserving,
    encode_columns,
    encode_rows,
    gc_paused,
    parse_csv,
    parse_json,
    parse_json_lines,
    parse_tfserving,
    to_csv,
)
from ..errors import NotAcceptable, UnsupportedMediaType
from ..http import JSON, Endpoint, dumps, json_response, negotiate, read_body, require_content_type
from ..repository import Servable
from ..runtime.base import Signature
from ..service import Service

CSV = "text/csv"
JSON_LINES = "application/jsonlines"
# SageMaker and its SDKs spell JSON Lines several ways.
JSON_LINES_ALIASES = (JSON_LINES, "application/jsonl", "application/x-jsonlines", "application/json-lines")


class SageMakerProtocol:
    def __init__(self, service: Service) -> None:
        self.service = service

    def routes(self) -> list[Route]:
        return [
            Route("/invocations", Endpoint(self.invocations), methods=["POST"]),
            Route("/ping", Endpoint(self.ping), methods=["GET"]),
            Route("/execution-parameters", Endpoint(self.execution_parameters), methods=["GET"]),
        ]

    async def ping(self, request: Request) -> Response:
        return self.service.readiness()

    async def execution_parameters(self, request: Request) -> Response:
        settings = self.service.settings
        return json_response(
            {
                "MaxConcurrentTransforms": max(1, settings.max_batch_size),
                "BatchStrategy": "MULTI_RECORD",
                "MaxPayloadInMB": max(1, settings.max_request_bytes // (1024 * 1024)),
            }
        )

    @staticmethod
    def _decode(content_type: str, raw: bytes, servable: Servable) -> tuple[Signature, dict[str, np.ndarray], Format]:
        signature = servable.signature(None)
        if content_type == CSV:
            if len(signature.inputs) != 1:
                raise UnsupportedMediaType(
                    f"CSV bodies need a one-input model; this one takes {list(signature.inputs)}: send JSON"
                )
            name = next(iter(signature.inputs))
            return signature, decode_instances(csv_to_numbers(parse_csv(raw), name), signature), Format.ROW
        if content_type in JSON_LINES_ALIASES:
            return signature, decode_instances(parse_json_lines(raw), signature), Format.ROW
        body: Any = parse_json(raw)
        if isinstance(body, list | np.ndarray):
            return signature, decode_instances(body, signature), Format.ROW
        parsed = parse_tfserving(body)
        signature = servable.signature(parsed.signature_name)
        return signature, decode_tfserving(parsed, signature), parsed.format

    async def invocations(self, request: Request) -> Response:
        content_type = require_content_type(request, (JSON, CSV, *JSON_LINES_ALIASES))
        accept = negotiate(request, (JSON, CSV, *JSON_LINES_ALIASES))
        servable = self.service.predictor.resolve(self.service.repository.name)
        raw = await read_body(request)
        with gc_paused(raw):
            signature, inputs, form = self._decode(content_type, raw, servable)
        outputs = await self.service.predictor.predict(servable, signature, inputs, None, request.headers)
        if accept == CSV:
            if len(outputs) != 1:
                raise NotAcceptable("CSV answers need a one-output model; accept application/json")
            return Response(to_csv(next(iter(outputs.values()))), media_type=CSV)
        if accept in JSON_LINES_ALIASES:
            predictions = encode_rows(outputs)
            lines = b"\n".join(dumps(row) for row in predictions) + b"\n"
            return Response(lines, media_type=accept)
        if form is Format.COLUMNAR:
            return json_response({"outputs": encode_columns(outputs)})
        return json_response({"predictions": encode_rows(outputs)})
