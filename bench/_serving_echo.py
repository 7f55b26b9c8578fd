"""The HTTP ceiling for bench/serving.py: one Starlette route that answers with the request body, run on
the same uvicorn settings as the serving image (httptools, uvloop, no access log), with no model.
``--workers N`` runs N such processes on the port with SO_REUSEPORT, as the image's WORKERS does."""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def echo(request: Request) -> Response:
    return Response(await request.body(), media_type="application/json")


async def ready(request: Request) -> Response:
    return Response(b'{"status":"ready"}', media_type="application/json")


app = Starlette(routes=[Route("/echo", echo, methods=["POST"]), Route("/ping", ready, methods=["GET"])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.workers > 1:
        command = [sys.executable, __file__, "--port", str(args.port), "--reuse-port"]
        children = [subprocess.Popen(command) for _ in range(args.workers)]
        signal.signal(signal.SIGTERM, lambda *_: [c.terminate() for c in children])
        for child in children:
            child.wait()
        return
    sockets = None
    if args.reuse_port:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.0.0.1", args.port))
        sockets = [sock]
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="auto",
        http="auto",
        access_log=False,
        log_level="warning",
        timeout_keep_alive=75,
    )
    uvicorn.Server(config).run(sockets)


if __name__ == "__main__":
    main()
