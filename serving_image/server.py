"""Running the app on uvicorn, with the gRPC front end in the same event loop, and the graceful drain: on
SIGTERM readiness turns 503 on both protocols, requests keep being served for ``SHUTDOWN_DELAY_SECONDS`` so
load balancers notice, then both listeners close (connections already queued in the HTTP listen backlog are
accepted and answered, not reset), in-flight and queued requests finish, and the process exits 0 within
``GRACEFUL_TIMEOUT``."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Generator
from types import FrameType

import uvicorn

from .app import ServingApp
from .config import Settings
from .service import Service

log = logging.getLogger("serving_image")

# The exit code of a failed lifespan start-up, as uvicorn uses it (uvicorn.config.STARTUP_FAILURE, which uvicorn
# before 0.32 does not export under that name).
STARTUP_FAILURE = 3

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
        self.grpc = None  # GrpcFrontEnd once started (imported only when GRPC_PORT is set)
        self.backlog_accepted = 0  # connections taken from the listen backlog at shutdown, and answered
        self._watchdog: threading.Timer | None = None
        self._announcer: asyncio.Task[None] | None = None  # a worker's readiness and metrics refresher

    def run(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            super().run(sockets)
        finally:
            if self._watchdog is not None:  # drained in time
                self._watchdog.cancel()

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
        if self._drain_started is not None:  # once: a second watchdog would outlive the drain and end the process
            return
        settings = self.settings
        self._drain_started = time.monotonic()
        self.serving_app.service.repository.begin_drain()
        # uvicorn waits this long for open connections after it stops listening.
        self.config.timeout_graceful_shutdown = max(
            0.5, settings.graceful_timeout_s - settings.shutdown_delay_s - _EXIT_MARGIN_S
        )
        log.info("%s: readiness is 503; draining for up to %.1f s", reason, settings.graceful_timeout_s)
        self._watchdog = threading.Timer(settings.graceful_timeout_s, self._overdue)
        self._watchdog.daemon = True
        self._watchdog.start()

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

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        group = self.serving_app.service.repository.group
        if group is not None:  # a worker of WORKERS > 1
            from .workers import announce

            self._announcer = asyncio.get_running_loop().create_task(announce(group, self.serving_app.service))
        if self.settings.serve_http:
            await super().startup(sockets)
        else:
            await self._start_without_http()
        if not self.started or not self.settings.grpc_port:
            return
        from .rpc.server import GrpcFrontEnd  # grpc is imported only when the server offers it

        self.grpc = GrpcFrontEnd(self.serving_app.service)
        try:
            port = await self.grpc.start(
                self.settings.host, self.settings.grpc_port, reuse_port=self.settings.worker is not None
            )
        except Exception as exc:
            log.error("gRPC: %s", exc)
            self.exit_code = 1
            self.should_exit = True
            return
        log.info("gRPC on %s:%d", self.settings.host, port)

    async def _start_without_http(self) -> None:
        """uvicorn's startup without its listener (PROTOCOLS=grpc): the lifespan still loads the model and the
        main loop, signals and drain still run; only gRPC accepts connections."""
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            sys.exit(STARTUP_FAILURE)
        self.servers = []
        self.started = True
        log.info("HTTP is off (PROTOCOLS=grpc)")

    def _grace_s(self) -> float:
        return self.config.timeout_graceful_shutdown or self.settings.graceful_timeout_s

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's shutdown, with gRPC stopped alongside HTTP, and no connection reset in the backlog.

        Closing a listening socket resets every connection the kernel has completed but the server has not
        accepted yet: a client that connected just before the close gets ECONNRESET instead of an answer.
        So each listener is duplicated first; after asyncio stops accepting, the duplicate is drained with
        non-blocking accepts and closed in the same step (no await in between), and the connections taken
        from it are served like any other, with ``Connection: close``. A client that connects after that
        is refused (ECONNREFUSED), which it can retry elsewhere."""
        log.info("shutting down: closing the listeners")
        grpc_stop = self.grpc.begin_stop(self._grace_s()) if self.grpc is not None else None
        held = [_duplicate(sock) for server in self.servers for sock in server.sockets or ()]
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        backlog = [conn for sock in held for conn in _accept_all(sock)]
        for sock in held:
            sock.close()
        loop = asyncio.get_running_loop()
        create_protocol = functools.partial(
            self.config.http_protocol_class,
            config=self.config,
            server_state=self.server_state,
            app_state=self.lifespan.state,
        )
        for conn in backlog:
            await loop.connect_accepted_socket(create_protocol, conn)
        self.backlog_accepted = len(backlog)
        # Let the accepted connections read the requests already waiting in their buffers, so the shutdown
        # below marks them "answer, then close" rather than closing them idle.
        await asyncio.sleep(0.05 if backlog else 0)
        for connection in list(self.server_state.connections):
            connection.shutdown()
        await asyncio.sleep(0.1)
        try:
            await asyncio.wait_for(self._wait_tasks_to_complete(), timeout=self.config.timeout_graceful_shutdown)
        except asyncio.TimeoutError:
            log.error("cancelling %d running task(s): the graceful shutdown timed out", len(self.server_state.tasks))
            for task in self.server_state.tasks:
                task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
        if grpc_stop is not None:
            await grpc_stop
        if not self.force_exit:
            await self.lifespan.shutdown()

    async def on_tick(self, counter: int) -> bool:
        if (
            self._drain_started is not None
            and not self.should_exit
            and time.monotonic() - self._drain_started >= self.settings.shutdown_delay_s
        ):
            self.should_exit = True
        return await super().on_tick(counter)


def _duplicate(sock: socket.socket) -> socket.socket:
    """A second handle on a listening socket, which keeps it (and its backlog) open past asyncio's close."""
    held = socket.socket(fileno=os.dup(sock.fileno()))
    held.setblocking(False)
    return held


def _accept_all(sock: socket.socket) -> list[socket.socket]:
    accepted = []
    while True:
        try:
            conn, _ = sock.accept()
        except (BlockingIOError, InterruptedError):
            return accepted
        except OSError:
            return accepted
        conn.setblocking(False)
        accepted.append(conn)


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


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening socket that other workers of this server bind too (``SO_REUSEPORT``: the kernel spreads
    new connections over them). Linux lets only processes of the same user share a port this way."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def serve(settings: Settings) -> int:
    """Run until drained; return the process exit code."""
    server = build_server(settings)
    sockets = None
    if settings.worker is not None and settings.serve_http:
        try:
            sockets = [reuse_port_socket(settings.host, settings.port)]
        except OSError as exc:
            log.error("cannot bind %s:%d: %s", settings.host, settings.port, exc)
            return 1
    log.info(
        "serving %r from %s (%s) on %s:%s; batching %s",
        settings.model_name,
        settings.model.location,
        settings.model.setting,
        settings.host,
        settings.port if settings.serve_http else f"{settings.grpc_port} (gRPC only)",
        f"up to {settings.max_batch_size} rows, {settings.batch_timeout_ms:g} ms" if settings.batching else "off",
    )
    server.run(sockets)
    counts = server.serving_app.counts
    if server.exit_code == 0:
        log.info(
            "drained: accepted=%d answered=%d (from the listen backlog at close: %d)",
            counts.accepted,
            counts.answered,
            server.backlog_accepted,
        )
    return server.exit_code
