"""The ASGI application: every protocol's routes on one Starlette app, JSON errors, the metrics route,
and a lifespan that loads the model in the background and drains the batchers on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from .errors import ServingError
from .http import Endpoint, error_response
from .middleware import ServingMiddleware
from .protocols.kserve import KServeProtocol
from .protocols.sagemaker import SageMakerProtocol
from .protocols.tfserving import TFServingProtocol
from .protocols.vertex import VertexProtocol
from .service import Service

log = logging.getLogger("serving_image")

FatalHandler = Callable[[str], None]


class _RouteError(ServingError):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


async def _serving_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServingError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"no route {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    else:
        message = str(exc.detail)
    return error_response(_RouteError(message, exc.status_code))


async def _internal_error(request: Request, exc: Exception) -> Response:
    # Starlette re-raises after this answer, so the server logs the traceback once.
    return error_response(_RouteError(f"internal error: {type(exc).__name__}: {exc}", 500))


# Distinct request paths remembered by HotRoutes. Model names are free text in the path, so the cache is
# bounded; paths past it still work, through the full route search.
_HOT_PATHS = 256


class HotRoutes:
    """The POST (predict) routes, dispatched without Starlette's router and exception middleware.

    For a small model, Starlette's per-request layers (two middlewares, a regular expression per route
    until one matches, and a second request object) cost about a tenth of the whole request. Here a path is
    matched once with Starlette's own ``Route.matches``, in the app's route order, and remembered; the
    endpoint is then called directly, and errors get the same JSON answers as on every other route."""

    def __init__(self, routes: list[Route]) -> None:
        self._routes = [r for r in routes if r.methods == {"POST"} and isinstance(r.endpoint, Endpoint)]
        self._paths: dict[str, tuple[Route, dict[str, Any]] | None] = {}

    def match(self, scope: Scope) -> tuple[Route, dict[str, Any]] | None:
        if scope["method"] != "POST" or scope.get("root_path"):
            return None
        path = scope["path"]
        try:
            return self._paths[path]
        except KeyError:
            pass
        found = None
        for route in self._routes:
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                found = route, child_scope["path_params"]
                break
        if len(self._paths) < _HOT_PATHS:
            self._paths[path] = found
        return found

    @staticmethod
    async def serve(route: Route, path_params: dict[str, Any], scope: Scope, receive: Receive, send: Send) -> int:
        """Answer the request; return the status sent."""
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        scope["path_params"] = dict(path_params)
        request = Request(scope, receive, send)
        try:
            response = await route.endpoint.handler(request)
        except ServingError as exc:
            response = error_response(exc)
        except HTTPException as exc:
            response = await _http_error(request, exc)
        except Exception as exc:
            log.exception("internal error on %s %s", scope["method"], scope["path"])
            response = await _internal_error(request, exc)
        await response(scope, receive, send)
        return response.status_code


class ServingApp:
    """The app plus the handles the server needs: the service (for draining) and the request counts."""

    def __init__(self, service: Service, on_fatal: FatalHandler | None = None) -> None:
        self.service = service
        self.counts = service.counts
        self._on_fatal = on_fatal
        self._loader: asyncio.Task[None] | None = None
        routes: list[Route] = [
            *VertexProtocol(service).routes(),  # first: its paths are whatever the platform chose
            *TFServingProtocol(service).routes(),
            *KServeProtocol(service).routes(),
            *SageMakerProtocol(service).routes(),
            Route("/metrics", Endpoint(self.metrics), methods=["GET"]),
        ]
        self.starlette = Starlette(
            routes=routes,
            lifespan=self._lifespan,
            exception_handlers={ServingError: _serving_error, HTTPException: _http_error, Exception: _internal_error},
        )
        # Routes that serve the one default model without naming it in the path.
        default_model_routes = {
            route.path for route in routes if route.methods == {"POST"} and "{model}" not in route.path
        }
        repository = service.repository

        def model_label(scope: Scope, template: str) -> str:
            name = scope.get("path_params", {}).get("model")
            if name is None:
                return repository.name if template in default_model_routes else ""
            return name if name in repository.models else ""

        self.asgi = ServingMiddleware(
            self.starlette,
            service.metrics,
            service.settings.max_request_bytes,
            self.counts,
            HotRoutes(routes),
            model_label,
            service.tracing,
        )

    async def metrics(self, request: Request) -> Response:
        return Response(self.service.metrics.render(), media_type=self.service.metrics.content_type)

    async def _load(self) -> None:
        try:
            await self.service.repository.load()
        except Exception as exc:
            message = self.service.repository.error or str(exc)
            log.error("model load failed: %s", message)
            if self._on_fatal is not None:
                self._on_fatal(message)
            return
        log.info("model %r ready in %.2f s", self.service.repository.name, self.service.repository.load_seconds)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        # Bind first, load after: health routes answer 503 until the model is loaded and warm.
        self._loader = asyncio.get_running_loop().create_task(self._load(), name="model-loader")
        try:
            yield
        finally:
            await self.service.repository.close()
            if not self._loader.done():
                self._loader.cancel()
            self.service.executor.shutdown(wait=False, cancel_futures=True)
            if self.service.tracing is not None:
                self.service.tracing.shutdown()  # flush the spans still queued for export

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.asgi(scope, receive, send)
