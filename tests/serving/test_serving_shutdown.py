"""Graceful shutdown under load: SIGTERM turns readiness to 503, every accepted request is answered, and
the process exits 0 within GRACEFUL_TIMEOUT."""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .serving_helpers import ServerProcess, free_port

pytestmark = pytest.mark.slow

GRACEFUL_TIMEOUT = 8.0
BODY = json.dumps({"instances": [[0.5, -1.0, 2.0, 0.25]] * 4})


class Client(threading.Thread):
    """Sends predictions back to back on one keep-alive connection until the server closes it."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.statuses: list[int] = []
        self.stopped_by: str | None = None

    def run(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while True:
            try:
                connection.request("POST", "/v1/models/model:predict", BODY, {"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as exc:
                self.stopped_by = type(exc).__name__
                return
            self.statuses.append(response.status)
            if response.getheader("connection", "").lower() == "close":
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)


def test_sigterm_under_load_drains_every_accepted_request(
    server: Callable[..., ServerProcess], models: dict[str, Path]
) -> None:
    port = free_port()
    process = server(
        [],
        {
            "PORT": str(port),
            "MODEL_DIR": str(models["mlp"]),
            "GRACEFUL_TIMEOUT": str(GRACEFUL_TIMEOUT),
            "SHUTDOWN_DELAY_SECONDS": "1.0",
            "LOG_LEVEL": "info",
        },
    )
    answered_by_us = len(process.wait_ready())
    clients = [Client(port) for _ in range(12)]
    for client in clients:
        client.start()
    time.sleep(1.5)
    assert all(client.statuses for client in clients), "load did not start"

    process.terminate()
    signalled = time.monotonic()
    time.sleep(0.05)
    readiness: list[int] = []
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/v2/health/ready")
            readiness.append(connection.getresponse().status)
            connection.close()
        except OSError:
            break  # the listener is closed: the drain has begun
        time.sleep(0.05)
    code = process.process.wait(GRACEFUL_TIMEOUT + 5)
    elapsed = time.monotonic() - signalled
    for client in clients:
        client.join(10)

    assert code == 0, process.output()
    assert elapsed < GRACEFUL_TIMEOUT, f"exit took {elapsed:.1f} s"
    assert readiness and set(readiness) == {503}, readiness  # ready turned 503 while still serving
    served = [status for client in clients for status in client.statuses]
    assert served and set(served) == {200}, sorted(set(served))
    assert all(client.stopped_by for client in clients)
    # Every request the server accepted was answered, and every answer reached this test.
    match = re.search(r"drained: accepted=(\d+) answered=(\d+)", process.output())
    assert match, process.output()
    accepted, answered = int(match[1]), int(match[2])
    assert accepted == answered == answered_by_us + len(served) + len(readiness)
