"""Running the app on uvicorn with the graceful drain: on SIGTERM readiness turns 503, requests keep being
served for ``SHUTDOWN_DELAY_SECONDS`` so load balancers notice, then the listener closes, in-flight and
queued requests finish, and the process exits 0 within ``GRACEFUL_TIMEOUT``."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Generator
from types import FrameType

import uvicorn

from .app import ServingApp
from .config import Settings
from .service import Service

log = logging.getLogger("serving_image")

# Time kept back from GRACEFUL_TIMEOUT for the lifespan shutdown and interpreter exit.
_EXIT_MARGIN_S = 1.0


class DrainingServer(uvicorn.Server):
    """uvicorn's server with a drain on the first SIGTERM or SIGINT, a forced stop on the second, and no
    re-raising of the signal afterwards (uvicorn's default), so a clean drain exits 0."""

    def __init__(self, config: uvicorn.Config, app: ServingApp, settings: Settings) -> None:
        super().__init__(config)
        self.serving_app = app
        self.settings = settings
        self.exit_code = 0
        self._drain_started: float | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        if self._drain_started is not None:
            log.warning("second %s: stopping without waiting for the drain", signal.Signals(sig).name)
            self.exit_code = 1
            self.force_exit = True
            self.should_exit = True
            return
        self.begin_drain(signal.Signals(sig).name)

    def begin_drain(self, reason: str) -> None:
        settings = self.settings
        self._drain_started = time.monotonic()
        self.serving_app.service.repository.begin_drain()
        # uvicorn waits this long for open connections after it stops listening.
        self.config.timeout_graceful_shutdown = max(
            0.5, settings.graceful_timeout_s - settings.shutdown_delay_s - _EXIT_MARGIN_S
        )
        log.info("%s: readiness is 503; draining for up to %.1f s", reason, settings.graceful_timeout_s)
        watchdog = threading.Timer(settings.graceful_timeout_s, self._overdue)
        watchdog.daemon = True
        watchdog.start()

    def _overdue(self) -> None:
        counts = self.serving_app.counts
        log.error(
            "drain did not finish within GRACEFUL_TIMEOUT (accepted=%d answered=%d); exiting",
            counts.accepted,
            counts.answered,
        )
        logging.shutdown()
        os._exit(1)

    def fail(self, message: str) -> None:
        """Stop the server because the model cannot be served (the platform restarts or reports it)."""
        self.exit_code = 1
        self.should_exit = True

    async def on_tick(self, counter: int) -> bool:
        if (
            self._drain_started is not None
            and not self.should_exit
            and time.monotonic() - self._drain_started >= self.settings.shutdown_delay_s
        ):
            self.should_exit = True
        return await super().on_tick(counter)


def build_server(settings: Settings, service: Service | None = None) -> DrainingServer:
    service = service or Service.create(settings)
    server_ref: list[DrainingServer] = []
    app = ServingApp(service, on_fatal=lambda message: server_ref[0].fail(message))
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="auto",  # uvloop when installed
        http="auto",  # httptools when installed
        lifespan="on",
        access_log=False,
        log_level=settings.log_level,
        # Longer than common load-balancer idle timeouts (ALB 60 s), so the balancer closes first.
        timeout_keep_alive=75,
        # Client addresses from X-Forwarded-For are not used; skipping the rewrite saves time per request.
        proxy_headers=False,
        timeout_graceful_shutdown=settings.graceful_timeout_s,
    )
    server = DrainingServer(config, app, settings)
    server_ref.append(server)
    return server


def serve(settings: Settings) -> int:
    """Run until drained; return the process exit code."""
    server = build_server(settings)
    log.info(
        "serving %r from %s (%s) on %s:%d; batching %s",
        settings.model_name,
        settings.model.location,
        settings.model.setting,
        settings.host,
        settings.port,
        f"up to {settings.max_batch_size} rows, {settings.batch_timeout_ms:g} ms" if settings.batching else "off",
    )
    server.run()
    counts = server.serving_app.counts
    if server.exit_code == 0:
        log.info("drained: accepted=%d answered=%d", counts.accepted, counts.answered)
    return server.exit_code
