"""Closed-loop gRPC load generator for bench/serving.py: unary calls over raw HTTP/2 on asyncio sockets
(uvloop when present), N streams in flight at once, each sending the same pre-encoded message back to back.
Prints one JSON result line, in the same shape as _serving_load.py.

Like the HTTP generator, it avoids a client library (grpcio's Python client costs tens of microseconds per
call), so on a 2-core machine the CPU goes to the server. The request headers are HPACK literals that never
touch the dynamic table, so they are encoded once. A call counts as answered when its response carries a
message (DATA) and ends; a call ending without one is an error (gRPC errors are trailers-only)."""

from __future__ import annotations

import argparse
import asyncio
import json
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# The server's own HTTP/2 framing and HPACK literal helpers (the client needs the same few).
from serving_image.rpc.h2 import (  # noqa: E402
    ACK,
    DATA,
    END_HEADERS,
    END_STREAM,
    GOAWAY,
    HEADERS,
    MAX_WINDOW,
    PING,
    PREFACE,
    RST_STREAM,
    SETTINGS,
    WINDOW_UPDATE,
    frame,
    hpack_integer,
    hpack_literal,
    hpack_string,
)


def _header_block(authority: str, path: str) -> bytes:
    block = bytes([0x83, 0x86])  # :method POST, :scheme http (static table)
    block += hpack_integer(4, 4, 0) + hpack_string(path.encode())  # :path, literal without indexing
    block += hpack_integer(1, 4, 0) + hpack_string(authority.encode())  # :authority
    block += hpack_integer(31, 4, 0) + hpack_string(b"application/grpc")  # content-type
    block += hpack_literal("te", "trailers")
    return block


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, headers: bytes, message: bytes):
        self.reader, self.writer = reader, writer
        self.headers, self.message = headers, message
        self.next_stream = 1
        self.waiting: dict[int, tuple[asyncio.Future[bool], list[bool]]] = {}
        self.closed = False

    async def start(self) -> None:
        settings = struct.pack(">HI", 0x4, MAX_WINDOW) + struct.pack(">HI", 0x2, 0)  # window, no push
        self.writer.write(PREFACE + frame(SETTINGS, 0, 0, settings))
        self.writer.write(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", MAX_WINDOW - 65535)))  # connection window
        asyncio.get_running_loop().create_task(self._read())

    def call(self) -> asyncio.Future[bool]:
        stream = self.next_stream
        self.next_stream += 2
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.waiting[stream] = (future, [False])
        self.writer.write(
            frame(HEADERS, END_HEADERS, stream, self.headers) + frame(DATA, END_STREAM, stream, self.message)
        )
        return future

    async def _read(self) -> None:
        reader = self.reader
        try:
            while True:
                head = await reader.readexactly(9)
                length = int.from_bytes(head[:3], "big")
                kind, flags = head[3], head[4]
                stream = int.from_bytes(head[5:9], "big") & 0x7FFFFFFF
                payload = await reader.readexactly(length) if length else b""
                if kind == SETTINGS and not flags & ACK:
                    self.writer.write(frame(SETTINGS, ACK, 0, b""))
                elif kind == PING and not flags & ACK:
                    self.writer.write(frame(PING, ACK, 0, payload))
                elif kind == GOAWAY:
                    break
                elif stream in self.waiting:
                    future, got_data = self.waiting[stream]
                    if kind == DATA and length:
                        got_data[0] = True
                    if kind == RST_STREAM or flags & END_STREAM and kind in (DATA, HEADERS):
                        del self.waiting[stream]
                        if not future.done():
                            future.set_result(got_data[0] and kind != RST_STREAM)
        except (asyncio.IncompleteReadError, OSError):
            pass
        self.closed = True
        for future, _ in self.waiting.values():
            if not future.done():
                future.set_exception(ConnectionError("the connection closed"))


async def _worker(
    connection: Connection, stop_at: float, record_from: float, latencies: list[float], counts: dict[str, int]
) -> None:
    while time.perf_counter() < stop_at and not connection.closed:
        started = time.perf_counter()
        try:
            ok = await connection.call()
        except ConnectionError:
            counts["errors"] += 1
            return
        if started >= record_from:
            if ok:
                latencies.append(time.perf_counter() - started)
            else:
                counts["errors"] += 1


async def _run(args: argparse.Namespace) -> dict[str, object]:
    payload = Path(args.body_file).read_bytes()
    message = b"\x00" + struct.pack(">I", len(payload)) + payload
    headers = _header_block(f"{args.host}:{args.port}", args.path)
    connections = []
    for _ in range(args.connections):
        reader, writer = await asyncio.open_connection(args.host, args.port)
        connection = Connection(reader, writer, headers, message)
        await connection.start()
        connections.append(connection)
    start = time.perf_counter()
    record_from = start + args.warmup
    stop_at = record_from + args.duration
    latencies: list[float] = []
    counts = {"errors": 0}
    await asyncio.gather(
        *(
            _worker(connections[i % len(connections)], stop_at, record_from, latencies, counts)
            for i in range(args.concurrency)
        )
    )
    measured = max(1e-9, min(time.perf_counter(), stop_at) - record_from)
    latencies.sort()
    for connection in connections:
        connection.writer.close()

    def pct(p: float) -> float:
        if not latencies:
            return float("nan")
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000

    return {
        "requests": len(latencies) + counts["errors"],
        "ok": len(latencies),
        "statuses": {"OK": len(latencies)},
        "errors": counts["errors"],
        "seconds": round(measured, 3),
        "throughput": len(latencies) / measured,
        "p50_ms": pct(50),
        "p99_ms": pct(99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True, help="method path: /inference.GRPCInferenceService/ModelInfer")
    parser.add_argument("--body-file", required=True, help="the serialized request message")
    parser.add_argument("--concurrency", type=int, default=1, help="calls in flight")
    parser.add_argument("--connections", type=int, default=1, help="HTTP/2 connections the calls share")
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--duration", type=float, default=3.0)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(json.dumps(asyncio.run(_run(args))))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
