"""The peers comparison for bench/serving.py: this server against Seldon MLServer and KServe's Python model server,
on the same machine, in the same run, with the same model and the same runtime.

- Each peer is installed, at a pinned version, into its own cached virtual environment
  (``~/.cache/modelport-bench/peers/<name>-<version>``, made with uv), never into the project's. A peer that cannot
  be installed or started is reported as skipped, with the reason; no number is ever made up for it.
- Every server runs the benchmark MLP's ``.tflite`` file on the same LiteRT interpreter (``ai-edge-litert``, the
  version our LiteRT flavour has installed), through the ``serving_default`` signature runner, one thread per core.
- MLServer: a custom ``MLModel`` runtime (bench/_peer_mlserver.py) with adaptive batching on (``max_batch_size``
  32, ``max_batch_time`` 2 ms, our batcher's defaults), MLServer's default parallel inference (one worker process
  beside the HTTP process), V2 JSON on ``/v2/models/model/infer``. Its access log is off (``debug: false``).
- KServe: a ``kserve.Model`` subclass (bench/_peer_kserve.py) started by ``kserve.ModelServer().start``, the
  default one worker, V1 ``/v1/models/model:predict`` with ``{"instances": ...}``. The Python model server has no
  adaptive batching (KServe's batcher is a separate agent container). Its per-request logs are off.
- Ours: ``python -m serving_image`` with the ``.tflite`` file and its defaults (batching on), sent the same V2 JSON
  body as MLServer and the same V1 body as KServe, so each ratio compares like with like. It is measured before
  and after the peers, and the mean of the two is the figure the ratios use.

Each server answers one request before it is timed, and the answer must match ours numerically.
"""

from __future__ import annotations

import http.client
import importlib.metadata as metadata
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _serving_models import BenchModel  # noqa: E402
from _serving_procs import HERE, ROOT, free_port, load, run_server  # noqa: E402

CACHE = Path(os.environ.get("MODELPORT_BENCH_CACHE", Path.home() / ".cache" / "modelport-bench")) / "peers"
CONCURRENCY = (1, 32)
TARGET = 5.0  # ours / peer throughput at c=32
READY_PATH = "/v2/health/ready"
V1_PATH = "/v1/models/model:predict"
V2_PATH = "/v2/models/model/infer"
MAX_BATCH_SIZE = 32
MAX_BATCH_TIME_S = 0.002


@dataclass(frozen=True)
class Peer:
    key: str
    label: str
    distribution: str
    version: str  # the newest release that installs on Python 3.11 when this was written
    protocol: str  # "v1" or "v2": the body both it and ours are sent
    configuration: str
    ready_path: str
    pins: tuple[str, ...] = ()  # further exact pins its release needs to start


PEERS = (
    Peer(
        "mlserver",
        "Seldon MLServer",
        "mlserver",
        "1.7.1",
        "v2",
        f"custom MLModel runtime, adaptive batching max_batch_size={MAX_BATCH_SIZE} "
        f"max_batch_time={MAX_BATCH_TIME_S * 1000:g} ms, default parallel_workers (1 inference process), "
        "debug (access log) off",
        "/v2/models/model/ready",
        # MLServer 1.7.1's inference workers die at start with uvloop 0.22 or later (SeldonIO/MLServer#2286).
        ("uvloop==0.21.0",),
    ),
    Peer(
        "kserve",
        "KServe Python model server",
        "kserve",
        "0.21.0",
        "v1",
        "kserve.Model subclass, ModelServer default workers (1), no batching (not in the Python server), "
        "per-request logs off",
        "/v2/models/model/ready",
    ),
)


def _uv() -> list[str] | None:
    for command in ([sys.executable, "-m", "uv"], [shutil.which("uv") or ""]):
        if command[-1] and subprocess.run([*command, "--version"], capture_output=True).returncode == 0:
            return command
    return None


def install(peer: Peer, litert: str) -> tuple[Path | None, str]:
    """The peer's interpreter in its own cached venv, or None and why not."""
    uv = _uv()
    if uv is None:
        return None, "uv is not installed (pip install uv)"
    venv = CACHE / f"{peer.key}-{peer.version}"
    python = venv / "bin" / "python"
    steps = []
    if not python.exists():
        steps.append([*uv, "venv", "--quiet", "--python", sys.executable, str(venv)])
    # Always run: a no-op when the pins are installed, and a repair when a cached venv is incomplete.
    steps.append(
        [
            *uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(python),
            f"{peer.distribution}=={peer.version}",
            f"ai-edge-litert=={litert}",
            *peer.pins,
        ]
    )
    for step in steps:
        print(f"  peers: {' '.join(step[len(uv) :])}", file=sys.stderr, flush=True)
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            return None, f"{' '.join(step)} took more than 900 s"
        if done.returncode != 0:
            return None, f"{' '.join(step[len(uv) : len(uv) + 2])} failed: {done.stderr.strip()[-600:]}"
    check = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.metadata as m, sys; "
            f"print(m.version({peer.distribution!r}), m.version('ai-edge-litert'))",
        ],
        capture_output=True,
        text=True,
    )
    if check.returncode != 0 or check.stdout.split() != [peer.version, litert]:
        return None, f"{venv} does not hold {peer.distribution}=={peer.version} and ai-edge-litert=={litert}: " + (
            check.stdout.strip() or check.stderr.strip()[-300:]
        )
    return python, ""


def _signature_names(tflite: Path) -> tuple[str, list[str]]:
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(tflite)).get_signature_runner("serving_default")
    return next(iter(runner.get_input_details())), list(runner.get_output_details())


def v2_body(model: BenchModel, workdir: Path) -> Path:
    """The V1 body's instance as a V2 JSON request (the tensor as a flat ``data`` list)."""
    instance = np.asarray(json.loads(model.body.read_bytes())["instances"], dtype=np.float32)
    input_name, _ = _signature_names(model.tflite)
    body = {
        "inputs": [
            {"name": input_name, "shape": list(instance.shape), "datatype": "FP32", "data": instance.ravel().tolist()}
        ]
    }
    path = workdir / f"{model.name}-v2.json"
    path.write_text(json.dumps(body))
    return path


def answer(port: int, path: str, body: Path) -> np.ndarray:
    """One request; the first output as a flat float64 array."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", path, body.read_bytes(), {"Content-Type": "application/json"})
        response = connection.getresponse()
        text = response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise RuntimeError(f"POST {path} answered {response.status}: {text[:300]!r}")
    document = json.loads(text)
    if "predictions" in document:
        return np.asarray(document["predictions"], dtype=np.float64).ravel()
    return np.asarray(document["outputs"][0]["data"], dtype=np.float64).ravel()


def _ours(model: BenchModel, port: int) -> tuple[list[str], dict[str, str]]:
    argv = [sys.executable, "-m", "serving_image", "serve", "--model-dir", str(model.tflite)]
    return [*argv, "--port", str(port), "--host", "127.0.0.1"], {"LOG_LEVEL": "warning"}


def _mlserver(python: Path, model: BenchModel, workdir: Path, port: int) -> tuple[list[str], dict[str, str]]:
    root = workdir / "mlserver"
    shutil.rmtree(root, ignore_errors=True)
    (root / "model").mkdir(parents=True)
    (root / "metrics").mkdir()
    (root / "envs").mkdir()
    settings = {
        "debug": False,
        "host": "127.0.0.1",
        "http_port": port,
        "grpc_port": free_port(),
        "metrics_port": free_port(),
        # Scratch directories default to the working directory: keep them out of the repository.
        "metrics_dir": str(root / "metrics"),
        "environments_dir": str(root / "envs"),
    }
    model_settings = {
        "name": "model",
        "implementation": "_peer_mlserver.LiteRTModel",
        "max_batch_size": MAX_BATCH_SIZE,
        "max_batch_time": MAX_BATCH_TIME_S,
        "parameters": {"uri": str(model.tflite)},
    }
    (root / "settings.json").write_text(json.dumps(settings))
    (root / "model" / "model-settings.json").write_text(json.dumps(model_settings))
    return [str(python.parent / "mlserver"), "start", str(root)], {"PYTHONPATH": str(HERE)}


def _kserve(python: Path, model: BenchModel, port: int) -> tuple[list[str], dict[str, str]]:
    argv = [str(python), str(HERE / "_peer_kserve.py"), "--model", str(model.tflite), "--model_name", "model"]
    argv += ["--http_port", str(port), "--grpc_port", str(free_port()), "--enable_latency_logging", "false"]
    return argv, {"PYTHONPATH": str(HERE), "KSERVE_LOGLEVEL": "WARNING"}


def _points(
    label: str, version: str, endpoints: dict[str, tuple[str, Path]], port: int, duration: float, warmup: float
) -> list[dict[str, object]]:
    rows = []
    for protocol, (path, body) in endpoints.items():
        for concurrency in CONCURRENCY:
            result = load(port, path, body, concurrency, duration, warmup)
            rows.append(
                {
                    "server": label,
                    "version": version,
                    "protocol": protocol,
                    "endpoint": path,
                    "c": concurrency,
                    "rps": result["throughput"],
                    "p50": result["p50_ms"],
                    "p99": result["p99_ms"],
                    "errors": result["errors"],
                    "statuses": result["statuses"],
                }
            )
            print(
                f"  peers: {label} {protocol} c={concurrency}: {result['throughput']:,.0f} req/s",
                file=sys.stderr,
                flush=True,
            )
    return rows


def _ours_version(litert: str) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return f"{commit.stdout.strip() or 'worktree'}, LiteRT {litert}"


def measure(model: BenchModel, workdir: Path, duration: float, warmup: float) -> dict[str, object]:
    load_start = os.getloadavg()[0]
    litert = metadata.version("ai-edge-litert")
    bodies = {"v1": (V1_PATH, model.body), "v2": (V2_PATH, v2_body(model, workdir))}
    peers: list[dict[str, object]] = []
    pythons: dict[str, Path] = {}
    for peer in PEERS:
        python, reason = install(peer, litert)
        peers.append(
            {
                "key": peer.key,
                "server": peer.label,
                "version": peer.version,
                "litert": litert,
                "protocol": peer.protocol,
                "configuration": peer.configuration,
                "pins": list(peer.pins),
                "venv": str(python.parent.parent) if python else None,
                "skipped": reason or None,
            }
        )
        if python is not None:
            pythons[peer.key] = python
        else:
            print(f"  peers: skipping {peer.label} {peer.version}: {reason}", file=sys.stderr, flush=True)

    ours_version = _ours_version(litert)
    rows: list[dict[str, object]] = []
    result: dict[str, object] = {
        "rows": rows,
        "peers": peers,
        "ours_version": ours_version,
        "load_start": load_start,
        "duration": duration,
        "warmup": warmup,
    }
    if not pythons:
        result["load_end"] = os.getloadavg()[0]
        return result  # nothing to compare with: ours alone is measured elsewhere in bench/serving.py
    reference: dict[str, np.ndarray] = {}

    def run_ours(label: str) -> None:
        port = free_port()
        argv, env = _ours(model, port)
        with run_server(label, argv, READY_PATH, port, env):
            for protocol, (path, body) in bodies.items():
                got = answer(port, path, body)
                if protocol in reference and not np.allclose(got, reference[protocol], rtol=1e-5, atol=1e-6):
                    raise RuntimeError(f"ours answered {protocol} differently between runs: {got} vs {reference}")
                reference.setdefault(protocol, got)
            if not np.allclose(reference["v1"], reference["v2"], rtol=1e-5, atol=1e-6):
                raise RuntimeError(f"ours answered V1 and V2 differently: {reference}")
            rows.extend(_points(label, ours_version, bodies, port, duration, warmup))

    run_ours("ours (before)")
    for peer, entry in zip(PEERS, peers, strict=True):
        python = pythons.get(peer.key)
        if python is None:
            continue
        port = free_port()
        if peer.key == "mlserver":
            argv, env = _mlserver(python, model, workdir, port)
        else:
            argv, env = _kserve(python, model, port)
        path, body = bodies[peer.protocol]
        try:
            with run_server(peer.label, argv, peer.ready_path, port, env, 180, process_group=True) as server:
                got = answer(port, path, body)
                if not np.allclose(got, reference[peer.protocol], rtol=1e-5, atol=1e-6):
                    expected = reference[peer.protocol].tolist()
                    entry["skipped"] = f"its answer {got.tolist()} differs from ours {expected}"
                    print(f"  peers: skipping {peer.label}: {entry['skipped']}", file=sys.stderr, flush=True)
                    continue
                entry["ready_s"] = server.ready_seconds
                entry["max_abs_diff"] = float(np.max(np.abs(got - reference[peer.protocol])))
                rows.extend(_points(peer.label, peer.version, {peer.protocol: (path, body)}, port, duration, warmup))
                entry["rss_mb_main_process"] = server.rss_mb()
        except (RuntimeError, OSError) as exc:
            entry["skipped"] = f"it did not start or answer: {str(exc)[-800:]}"
            print(f"  peers: skipping {peer.label}: {entry['skipped']}", file=sys.stderr, flush=True)
    run_ours("ours (after)")

    for row in rows:
        if row["server"] in ("ours (before)", "ours (after)"):
            continue
        mine = [r for r in rows if r["server"].startswith("ours") and r["protocol"] == row["protocol"]]
        mine = [r for r in mine if r["c"] == row["c"]]
        ours_rps = sum(r["rps"] for r in mine) / len(mine)
        row["ours_rps"] = ours_rps
        row["ratio"] = ours_rps / row["rps"] if row["rps"] else float("inf")
    result["load_end"] = os.getloadavg()[0]
    return result


def _fmt(value: float, digits: int = 1) -> str:
    return "-" if value is None or value != value else f"{value:,.{digits}f}"


def report(result: dict[str, object]) -> None:
    print(
        f"\n#### Peers (MLP .tflite on LiteRT in every server; {result['duration']:g} s per point after "
        f"{result['warmup']:g} s warm-up; loopback; {os.cpu_count()} CPUs shared with other work; load average "
        f"{result['load_start']:.2f} → {result['load_end']:.2f})\n"
    )
    for peer in result["peers"]:  # type: ignore[union-attr]
        state = f"skipped: {peer['skipped']}" if peer["skipped"] else f"venv {peer['venv']}"
        pins = "".join(f", {pin}" for pin in peer["pins"])
        name = f"{peer['server']} {peer['version']} (ai-edge-litert {peer['litert']}{pins})"
        print(f"- {name}: {peer['configuration']}; {state}")
    print(f"- ours {result['ours_version']}: python -m serving_image, defaults (batching on: 32 rows, 2 ms)")
    print("\n| server | version | endpoint | c | throughput (req/s) | p50 (ms) | p99 (ms) | ours / peer |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for row in result["rows"]:  # type: ignore[union-attr]
        ratio = f"{row['ratio']:.1f}×" if "ratio" in row else "-"
        print(
            f"| {row['server']} | {row['version']} | {row['protocol'].upper()} {row['endpoint']} | {row['c']} | "
            f"{_fmt(row['rps'])} | {_fmt(row['p50'], 2)} | {_fmt(row['p99'], 2)} | {ratio} |"
        )
    for row in result["rows"]:  # type: ignore[union-attr]
        failed = {k: v for k, v in row["statuses"].items() if k != "200"}
        if failed or row["errors"]:
            print(
                f"\n{row['server']} {row['protocol'].upper()} c={row['c']}: non-200 answers {failed}, "
                f"{row['errors']} connection errors (the throughput counts 200s only)"
            )
    print("\n| target | measured | met |")
    print("|---|---:|:---:|")
    for peer in result["peers"]:  # type: ignore[union-attr]
        text = f"c=32 throughput, ours / {peer['server']} {peer['version']} (≥ {TARGET:g}×)"
        row = next(
            (r for r in result["rows"] if r["server"] == peer["server"] and r["c"] == 32),  # type: ignore[union-attr]
            None,
        )
        if row is None:
            print(f"| {text} | skipped | - |")
        else:
            print(f"| {text} | {row['ratio']:.1f}× | {'yes' if row['ratio'] >= TARGET else 'NO'} |")


if __name__ == "__main__":  # python bench/_serving_peers.py [--duration S --warmup S]: this section alone
    import argparse
    import tempfile
    import time

    from _serving_models import build

    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=3.0, help="seconds measured per point")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds of load before each point")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="modelport-bench-") as tmp:
        (mlp,) = build(Path(tmp), ("mlp",))
        report(measure(mlp, Path(tmp), args.duration, args.warmup))
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
