"""The HTTP drain answers connections still queued in the listen backlog when the listener closes, instead
of letting the kernel reset them, and refuses (not resets) connections that come after."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from .serving_helpers import FakeRuntime, ThreadedServer

CLIENTS = 16
BODY = b'{"instances": [[1.0, 2.0]]}'
REQUEST = (
    b"POST /v1/models/model:predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
    b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
)


def _ask(port: int, outcomes: list[str]) -> None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(REQUEST)
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
        outcomes.append(answer.split(b"\r\n", 1)[0].decode() if answer else "closed without an answer")
    except ConnectionRefusedError:
        outcomes.append("refused")
    except ConnectionResetError:
        outcomes.append("reset")


def test_connections_in_the_backlog_at_close_are_answered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = ThreadedServer(tmp_path, FakeRuntime(), {"GRACEFUL_TIMEOUT": "8"})
    blocking = threading.Event()
    real_shutdown = server.server.shutdown

    async def shutdown_after_a_stall(sockets: object = None) -> None:
        # Stall the event loop right before the listener closes, so the clients below can only reach the
        # kernel's accept queue: exactly the connections a plain close would reset.
        blocking.set()
        time.sleep(0.6)
        await real_shutdown(sockets)  # type: ignore[arg-type]

    monkeypatch.setattr(server.server, "shutdown", shutdown_after_a_stall)
    outcomes: list[str] = []
    with server:
        port = server.port
        stopper = threading.Thread(target=server.stop)
        stopper.start()
        assert blocking.wait(10)
        clients = [threading.Thread(target=_ask, args=(port, outcomes)) for _ in range(CLIENTS)]
        for client in clients:
            client.start()
        for client in clients:
            client.join(20)
        stopper.join(20)
    assert outcomes == ["HTTP/1.1 200 OK"] * CLIENTS, outcomes
    assert server.server.backlog_accepted == CLIENTS
    late: list[str] = []
    _ask(port, late)
    assert late == ["refused"]
    counts = server.service.counts
    assert counts.accepted == counts.answered
