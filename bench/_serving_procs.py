"""Process helpers for bench/serving.py: free loopback ports, start-to-ready timing, RSS, load runs and the
installed size of a runtime's package closure."""

from __future__ import annotations

import contextlib
import http.client
import importlib.metadata as metadata
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _status(port: int, path: str) -> int | None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    except OSError:
        return None
    finally:
        connection.close()


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    ready_seconds: float

    def _tree(self) -> list[int]:
        """The server's process and its children (the workers of a multi-process server)."""
        pids = [self.process.pid]
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            pids += [int(p) for p in (task / "children").read_text().split()]
        return pids

    def rss_mb(self) -> float:
        return sum(_proc_status_kb(pid, "VmRSS") for pid in self._tree()) / 1024

    def peak_rss_mb(self) -> float:
        """The sum of each process's own peak (an upper bound when several processes peaked apart)."""
        return sum(_proc_status_kb(pid, "VmHWM") for pid in self._tree()) / 1024


def _proc_status_kb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1])
    return float("nan")


@contextlib.contextmanager
def run_server(
    name: str,
    argv: Sequence[str],
    ready_path: str,
    port: int,
    env: Mapping[str, str] | None = None,
    timeout: float = 120.0,
    process_group: bool = False,
) -> Iterator[Server]:
    """Start ``argv`` and time it until ``ready_path`` answers 200; stop it with SIGTERM afterwards.

    ``process_group``: start it in its own process group, and kill what is left of that group once it has stopped,
    for servers that fork worker processes (MLServer's inference pool)."""
    # gRPC only where a benchmark asks for it: its default port would collide between servers.
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT), "GRPC_PORT": "0", **(env or {})}
    # A file, not a pipe: a chatty server (Flask logs every request) must never block on its log.
    with tempfile.TemporaryFile() as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(argv), env=environment, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=process_group
        )
        try:
            while _status(port, ready_path) != 200:
                if process.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"{name} exited with {process.returncode}: {log.read().decode()[-2000:]}")
                if time.perf_counter() - started > timeout:
                    log.seek(0)
                    raise RuntimeError(f"{name} not ready within {timeout} s: {log.read().decode()[-2000:]}")
                time.sleep(0.005)
            yield Server(name, process, port, time.perf_counter() - started)
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if process_group:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)


def load(
    port: int,
    path: str,
    body: Path,
    concurrency: int,
    duration: float,
    warmup: float,
    headers: Sequence[str] = (),
    content_type: str = "application/json",
    method: str = "POST",
) -> dict[str, float]:
    """Run the load generator in its own process and return its JSON result."""
    command = [
        sys.executable,
        str(HERE / "_serving_load.py"),
        "--port",
        str(port),
        "--path",
        path,
        "--body-file",
        str(body),
        "--concurrency",
        str(concurrency),
        "--duration",
        str(duration),
        "--warmup",
        str(warmup),
        "--content-type",
        content_type,
        "--method",
        method,
        *(item for header in headers for item in ("--header", header)),
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True, timeout=duration + warmup + 120)
    return json.loads(output.stdout.strip().splitlines()[-1])


def installed_mb(requirements: Sequence[str]) -> float:
    """Size on disk of the installed distributions ``requirements`` pull in (their dependency closure)."""
    seen: dict[str, metadata.Distribution] = {}
    visited: set[tuple[str, frozenset[str]]] = set()
    stack = [Requirement(r) for r in requirements]
    while stack:
        requirement = stack.pop()
        try:
            dist = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            continue
        key = dist.metadata["Name"].lower()
        if (key, frozenset(requirement.extras)) in visited:
            continue
        visited.add((key, frozenset(requirement.extras)))
        seen[key] = dist
        for raw in dist.requires or []:
            child = Requirement(raw)
            if child.marker is not None and not any(
                child.marker.evaluate({"extra": extra}) for extra in ("", *requirement.extras)
            ):
                continue
            stack.append(child)
    total = 0
    for dist in seen.values():
        for file in dist.files or []:
            with contextlib.suppress(OSError):
                total += Path(dist.locate_file(file)).stat().st_size
    return total / 2**20
