"""Closed-loop HTTP/1.1 load generator for bench/serving.py: N connections on raw asyncio sockets (uvloop
when present), each sending the same pre-encoded request back to back. Prints one JSON result line.

Raw sockets instead of an HTTP client library, so on a 2-core machine the generator costs a few
microseconds per request and leaves the CPU to the server under test."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path


def _request(
    host: str, port: int, method: str, path: str, body: bytes, content_type: str, extra_headers: list[str]
) -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
    for header in extra_headers:
        head += header.strip() + "\r\n"
    if body or method == "POST":
        head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; return its status and whether the connection stays open."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    version, status = lines[0].split(b" ", 2)[:2]
    length = 0
    keep_alive = version == b"HTTP/1.1"
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        value = value.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection":
            keep_alive = value == b"keep-alive"
        elif name == b"transfer-encoding" and value == b"chunked":
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    elif not keep_alive:
        await reader.read()
    return int(status), keep_alive


async def _worker(
    args: argparse.Namespace,
    request: bytes,
    stop_at: float,
    record_from: float,
    latencies: list[float],
    statuses: dict[int, int],
    errors: list[str],
    budget: list[int],
) -> None:
    reader = writer = None
    while budget[0] > 0 and time.perf_counter() < stop_at:
        budget[0] -= 1
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(args.host, args.port)
            started = time.perf_counter()
            writer.write(request)
            status, keep_alive = await asyncio.wait_for(_read_response(reader), args.request_timeout)
            elapsed = time.perf_counter() - started
        except (OSError, asyncio.IncompleteReadError, ValueError, asyncio.TimeoutError) as exc:
            errors.append(type(exc).__name__)
            if writer is not None:
                writer.close()
            reader = writer = None
            await asyncio.sleep(0.01)
            continue
        if started >= record_from:
            latencies.append(elapsed)
            statuses[status] = statuses.get(status, 0) + 1
        if not keep_alive:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def _run(args: argparse.Namespace) -> dict[str, object]:
    body = Path(args.body_file).read_bytes() if args.body_file else b""
    request = _request(args.host, args.port, args.method, args.path, body, args.content_type, args.header)
    start = time.perf_counter()
    record_from = start + args.warmup
    stop_at = record_from + args.duration
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors: list[str] = []
    budget = [args.max_requests]
    await asyncio.gather(
        *(
            _worker(args, request, stop_at, record_from, latencies, statuses, errors, budget)
            for _ in range(args.concurrency)
        )
    )
    measured = max(1e-9, min(time.perf_counter(), stop_at) - record_from)
    latencies.sort()

    def pct(p: float) -> float:
        if not latencies:
            return float("nan")
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000

    ok = statuses.get(200, 0)
    return {
        "requests": len(latencies),
        "ok": ok,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "errors": len(errors),
        "seconds": round(measured, 3),
        "throughput": ok / measured,
        "p50_ms": pct(50),
        "p99_ms": pct(99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--method", default="POST")
    parser.add_argument("--path", required=True)
    parser.add_argument("--body-file")
    parser.add_argument("--content-type", default="application/json")
    parser.add_argument("--header", action="append", default=[], help="extra 'Name: value' header (repeatable)")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds of load before measuring")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds measured")
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument(
        "--request-timeout", type=float, default=30.0, help="seconds before a request counts as an error"
    )
    args = parser.parse_args()
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    print(json.dumps(runner(_run(args))))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
