"""``WORKERS`` > 1: several server processes sharing the HTTP and gRPC ports.

One Python process answers requests on one core at most. With ``WORKERS=N`` (or ``auto``: the CPUs the
container may use), ``python -m serving_image`` becomes a small supervisor that starts N copies of itself.
Each worker is a whole server: it binds the ports with ``SO_REUSEPORT`` (the kernel spreads new connections
over the workers), loads its own copy of the model, and keeps its own batchers, queue bound
(``MAX_QUEUE_SIZE`` per worker) and drain. What the workers share lives in one scratch folder:

- ``metrics/``: ``prometheus_client``'s multiprocess files (``PROMETHEUS_MULTIPROC_DIR``), so ``/metrics`` on
  any worker reports the whole server (see :class:`serving_image.metrics.Metrics`);
- ``ready/``: one file per worker whose model is loaded and warm. A worker answers ready only when every
  worker is, so a probe that lands on a fast worker never sends traffic to one still loading.

The supervisor forwards SIGTERM and SIGINT to every worker (each drains as a single server would) and exits
with the worst exit code once all have stopped. A worker that exits on its own (a model that cannot load, a
crash) stops the others and the supervisor exits with that worker's code (128 + the signal for a worker
killed by one; at least 1), so the platform restarts the container whole rather than
serving with fewer workers than configured.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from types import FrameType

from .config import Settings

log = logging.getLogger("serving_image")

# How often a worker rewrites the values other workers read at scrape time (its in-flight count).
REFRESH_S = 1.0


class WorkerGroup:
    """A worker's view of its siblings' readiness."""

    def __init__(self, directory: Path, index: int, count: int) -> None:
        self.ready_dir = directory / "ready"
        self.index, self.count = index, count
        self._all_ready = False

    def mark_ready(self) -> None:
        (self.ready_dir / str(self.index)).touch()

    def all_ready(self) -> bool:
        """Every worker has loaded its model. Once true it stays true: the workers live and die together."""
        if not self._all_ready:
            self._all_ready = len(os.listdir(self.ready_dir)) >= self.count
        return self._all_ready

    def waiting_for(self) -> int:
        return max(0, self.count - len(os.listdir(self.ready_dir)))


async def announce(group: WorkerGroup, service: object) -> None:
    """In a worker: mark this worker ready once its model is, and keep the shared metric values fresh."""
    repository = service.repository  # type: ignore[attr-defined]
    metrics = service.metrics  # type: ignore[attr-defined]
    marked = False
    while True:
        if not marked and repository.state.name == "AVAILABLE":
            group.mark_ready()
            marked = True
        metrics.refresh()
        await asyncio.sleep(0.05 if not marked else REFRESH_S)


def supervise(settings: Settings, argv: list[str]) -> int:
    """Run ``settings.workers`` worker processes of ``python -m serving_image ARGV`` until they stop; return
    the exit code for the container."""
    count = settings.workers
    root = Path(tempfile.mkdtemp(prefix="modelport-workers-"))
    (root / "metrics").mkdir()
    (root / "ready").mkdir()
    base = {**os.environ, "MODELPORT_WORKER_DIR": str(root), "PROMETHEUS_MULTIPROC_DIR": str(root / "metrics")}
    workers: dict[int, subprocess.Popen[bytes]] = {}
    stopping = False

    def forward(sig: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for process in workers.values():
            if process.poll() is None:
                os.kill(process.pid, sig)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    worst = 0
    failure: int | None = None  # the exit code of the first worker that stopped on its own
    try:
        for index in range(count):
            if stopping:  # a signal came while starting: the workers started so far have it already
                break
            env = {**base, "MODELPORT_WORKER": f"{index}/{count}"}
            process = subprocess.Popen([sys.executable, "-m", "serving_image", *argv], env=env)
            workers[process.pid] = process
        log.info("started %d workers sharing port %d: %s", count, settings.port, sorted(workers))
        alive = set(workers)
        while alive:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            if pid not in alive:
                continue
            alive.discard(pid)
            code = os.waitstatus_to_exitcode(status)
            workers[pid].returncode = code
            _mark_dead(pid, root / "metrics")
            if code < 0:
                code = 128 - code  # killed by a signal, as a shell reports it
            worst = max(worst, code)
            if not stopping:
                log.error("worker %d exited with %d; stopping the others", pid, code)
                failure = code or 1
                forward(signal.SIGTERM, None)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        shutil.rmtree(root, ignore_errors=True)
    # After a failure, the others' codes are those of being stopped (143 for a worker still starting): the
    # failure's code is the one that explains the exit.
    return failure if failure is not None else worst


def _mark_dead(pid: int, directory: Path) -> None:
    """Drop a stopped worker's live gauges (in-flight, model ready) from the merged metrics."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, str(directory))
