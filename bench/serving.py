"""Serving benchmark: throughput, p50/p99 latency, start-to-ready time, RSS and installed runtime size of the
serving image's server against its limits and a naive baseline, on loopback only.

For a small MLP and MobileNetV2 (weights=None), at concurrency 1, 8 and 32, in one run:
  - the runtime called in-process, batched and unbatched (the limit);
  - an HTTP echo route on the same uvicorn/Starlette stack (the HTTP ceiling);
  - a naive Flask server with one model call per request, as deployment tutorials write it;
  - this server with batching off and on, with the TensorFlow and the LiteRT runtime;
  - on the MLP at c=32: gRPC V2 binary against HTTP JSON on one server, a three-step pipeline against the bare
    model, and tracing on (OTLP to a local stub) against off (bench/_serving_features.py);
  - on the MLP at c=1 and 32: the peers, Seldon MLServer and KServe's Python model server, each in its own cached
    virtual environment, all on LiteRT (bench/_serving_peers.py; ``--peers`` runs this alone, ``--no-peers`` skips it).

Load comes from bench/_serving_load.py, a closed-loop raw-socket HTTP/1.1 client in its own process.
Every run is bounded in time; the whole benchmark takes about 7 minutes on 2 cores (``--quick``: ~3), once the
peers' virtual environments are cached.

    python bench/serving.py [--quick] [--models mlp,mobilenet_v2] [--json results.json]
    python bench/serving.py --sweep --quick     # the batching-defaults sweep
    python bench/serving.py --peers [--quick]   # only this server against MLServer and KServe
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _serving_features  # noqa: E402
import _serving_peers  # noqa: E402
from _serving_models import BenchModel, build  # noqa: E402
from _serving_procs import HERE, free_port, installed_mb, load, run_server  # noqa: E402

CONCURRENCY = (1, 8, 32)
WORKERS = 2  # the process count of the multi-process variants (this machine's benchmark has 2 cores)
PREDICT_PATH = "/v1/models/model:predict"
READY_PATH = "/v2/health/ready"

SERVER_LIBS = [
    "starlette",
    "uvicorn[standard]",
    "orjson",
    "pysimdjson",
    "prometheus-client",
    "numpy",
    "hpack",
    "grpcio",
    "protobuf",
    "pyyaml",
    "opentelemetry-sdk",
    "opentelemetry-exporter-otlp-proto-grpc",
]
RUNTIME_PACKAGES = {
    "tensorflow": [*SERVER_LIBS, "tensorflow-cpu"],
    "litert": [*SERVER_LIBS, "ai-edge-litert"],
    "naive": ["flask", "numpy", "tensorflow-cpu"],
    "echo": ["starlette", "uvicorn[standard]"],
}


def ours(
    model: BenchModel, runtime: str, batching: bool, port: int, workers: int = 1
) -> tuple[list[str], dict[str, str]]:
    artifact = model.saved_model if runtime == "tensorflow" else model.tflite
    argv = [
        sys.executable,
        "-m",
        "serving_image",
        "serve",
        "--model-dir",
        str(artifact),
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
    ]
    env = {"LOG_LEVEL": "warning", "WORKERS": str(workers)}
    if not batching:
        env["MAX_BATCH_SIZE"] = "1"
    return argv, env


@dataclass(frozen=True)
class Variant:
    label: str
    size_key: str  # which RUNTIME_PACKAGES closure it installs
    ready_path: str
    predict_path: str
    command: Callable[[int], tuple[list[str], dict[str, str]]]
    binary: bool = False  # KServe V2 binary tensor data instead of TF Serving JSON


def server_variants(model: BenchModel) -> list[Variant]:
    echo = [sys.executable, str(HERE / "_serving_echo.py"), "--port"]
    naive = [sys.executable, str(HERE / "_serving_naive.py"), "--model-dir", str(model.saved_model), "--port"]
    variants = [
        Variant("HTTP echo (ceiling)", "echo", "/ping", "/echo", lambda port: ([*echo, str(port)], {})),
        Variant("naive Flask, TF", "naive", "/ping", "/predict", lambda port: ([*naive, str(port)], {})),
    ]
    if model.name == "mlp":
        # Several processes on one port (SO_REUSEPORT): the echo ceiling and ours with the same count.
        variants.append(
            Variant(
                f"HTTP echo (ceiling), {WORKERS} processes",
                "echo",
                "/ping",
                "/echo",
                lambda port: ([*echo, str(port), "--workers", str(WORKERS)], {}),
            )
        )
        for runtime, label, size_key in (("tensorflow", "TF", "tensorflow"), ("litert", "LiteRT", "litert")):
            variants.append(
                Variant(
                    f"ours {label}, batching on, WORKERS={WORKERS}",
                    size_key,
                    READY_PATH,
                    PREDICT_PATH,
                    lambda port, runtime=runtime: ours(model, runtime, True, port, workers=WORKERS),
                )
            )
    for runtime, label, size_key in (("tensorflow", "TF", "tensorflow"), ("litert", "LiteRT", "litert")):
        for batching in (False, True):
            variants.append(
                Variant(
                    f"ours {label}, batching {'on' if batching else 'off'}",
                    size_key,
                    READY_PATH,
                    PREDICT_PATH,
                    lambda port, runtime=runtime, batching=batching: ours(model, runtime, batching, port),
                )
            )
        if model.name != "mlp":
            # Pixel data as JSON costs more CPU to decode than the model takes to run; binary tensors do not.
            variants.append(
                Variant(
                    f"ours {label}, batching on, V2 binary",
                    size_key,
                    READY_PATH,
                    "/v2/models/model/infer",
                    lambda port, runtime=runtime: ours(model, runtime, True, port),
                    binary=True,
                )
            )
    return variants


def in_process(model: BenchModel, runtime: str, seconds: float) -> dict[str, float]:
    artifact = model.saved_model if runtime == "tensorflow" else model.tflite
    command = [
        sys.executable,
        str(HERE / "_serving_inprocess.py"),
        "--model",
        str(artifact),
        "--batches",
        ",".join(str(c) for c in CONCURRENCY),
        "--seconds",
        str(seconds),
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True, timeout=600)
    return {k: float(v) for k, v in json.loads(output.stdout.strip().splitlines()[-1]).items()}


def measure_model(model: BenchModel, duration: float, warmup: float, sizes: dict[str, float]) -> dict[str, object]:
    rows: list[dict[str, object]] = []
    servers: list[dict[str, object]] = []
    limit_seconds = max(0.5, duration / 2)
    # The limit is measured before and after the servers, and the better value kept, so background load on a
    # shared machine lowers it no more than it lowers the servers: the ratios err against the server.
    first = {runtime: in_process(model, runtime, limit_seconds) for runtime in ("tensorflow", "litert")}
    for variant in server_variants(model):
        port = free_port()
        argv, env = variant.command(port)
        if variant.binary:
            body, content_type = model.binary_body, "application/octet-stream"
            headers = [f"Inference-Header-Content-Length: {model.binary_header_length}"]
        else:
            body, content_type, headers = model.body, "application/json", []
        with run_server(variant.label, argv, variant.ready_path, port, env) as server:
            for concurrency in CONCURRENCY:
                result = load(port, variant.predict_path, body, concurrency, duration, warmup, headers, content_type)
                rows.append(
                    {
                        "variant": variant.label,
                        "c": concurrency,
                        "rps": result["throughput"],
                        "p50": result["p50_ms"],
                        "p99": result["p99_ms"],
                        "errors": result["errors"],
                        "statuses": result["statuses"],
                    }
                )
            servers.append(
                {
                    "variant": variant.label,
                    "ready_s": server.ready_seconds,
                    "rss_mb": server.rss_mb(),
                    "peak_rss_mb": server.peak_rss_mb(),
                    "installed_mb": sizes[variant.size_key],
                }
            )
        print(f"  {model.name}: {variant.label} done", file=sys.stderr, flush=True)
    limit_rows: list[dict[str, object]] = []
    for runtime, label in (("tensorflow", "TF"), ("litert", "LiteRT")):
        second = in_process(model, runtime, limit_seconds)
        limits = {k: max(v, second[k]) for k, v in first[runtime].items()}
        for kind in ("unbatched", "batched"):
            for concurrency in CONCURRENCY:
                batch = "1" if kind == "unbatched" else str(concurrency)
                limit_rows.append(
                    {
                        "variant": f"in-process {label}, {kind}",
                        "c": concurrency,
                        "rps": limits[batch],
                        "p50": math.nan,
                        "p99": math.nan,
                    }
                )
    return {"rows": limit_rows + rows, "servers": servers}


def _fmt(value: float, digits: int = 1) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.{digits}f}"


def print_tables(name: str, result: dict[str, object]) -> None:
    rows = result["rows"]  # type: ignore[index]
    print(f"\n### {name}\n")
    print("| variant | c | throughput (req/s) | p50 (ms) | p99 (ms) |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:  # type: ignore[union-attr]
        print(f"| {row['variant']} | {row['c']} | {_fmt(row['rps'])} | {_fmt(row['p50'], 2)} | {_fmt(row['p99'], 2)} |")
    print("\n| server | start-to-ready (s) | RSS after load (MB) | peak RSS (MB) | installed runtime (MB) |")
    print("|---|---:|---:|---:|---:|")
    for server in result["servers"]:  # type: ignore[union-attr]
        print(
            f"| {server['variant']} | {server['ready_s']:.2f} | {server['rss_mb']:.0f} | "
            f"{server['peak_rss_mb']:.0f} | {server['installed_mb']:.0f} |"
        )


def _find(rows: Iterable[dict[str, object]], variant: str, concurrency: int) -> dict[str, object]:
    return next(r for r in rows if r["variant"] == variant and r["c"] == concurrency)


def print_ratios(results: dict[str, dict[str, object]]) -> None:
    print("\n### Targets (ratios within this run)\n")
    print("| target | measured | met |")
    print("|---|---:|:---:|")

    def line(text: str, value: float, ok: bool, unit: str = "×") -> None:
        shown = f"{value:.2f}{unit}" if unit == "×" else f"{value:.0%}" if unit == "%" else f"{value:.2f} {unit}"
        print(f"| {text} | {shown} | {'yes' if ok else 'NO'} |")

    if "mlp" in results:
        rows = results["mlp"]["rows"]  # type: ignore[index]
        servers = {s["variant"]: s for s in results["mlp"]["servers"]}  # type: ignore[index]
        naive = _find(rows, "naive Flask, TF", 32)
        echo = _find(rows, "HTTP echo (ceiling)", 32)
        for variant in ("ours TF, batching on", "ours LiteRT, batching on"):
            mine = _find(rows, variant, 32)
            line(
                f"MLP c=32, {variant} / naive throughput (≥ 3×)",
                mine["rps"] / naive["rps"],
                mine["rps"] >= 3 * naive["rps"],
            )
            line(
                f"MLP c=32, {variant} p99 vs naive p99 ({naive['p99']:.1f} ms; lower)",
                mine["p99"],
                mine["p99"] < naive["p99"],
                "ms",
            )
            line(
                f"MLP c=32, {variant} / HTTP echo ceiling (≥ 60 %)",
                mine["rps"] / echo["rps"],
                mine["rps"] >= 0.6 * echo["rps"],
                "%",
            )
        echo_many = _find(rows, f"HTTP echo (ceiling), {WORKERS} processes", 32)
        for runtime in ("TF", "LiteRT"):
            mine = _find(rows, f"ours {runtime}, batching on, WORKERS={WORKERS}", 32)
            line(
                f"MLP c=32, ours {runtime} WORKERS={WORKERS} / HTTP echo with {WORKERS} processes (≥ 60 %)",
                mine["rps"] / echo_many["rps"],
                mine["rps"] >= 0.6 * echo_many["rps"],
                "%",
            )
        litert = servers["ours LiteRT, batching on"]
        line("LiteRT MLP start-to-ready (< 1.5 s)", litert["ready_s"], litert["ready_s"] < 1.5, "s")
        line("LiteRT MLP RSS after load (< 200 MB)", litert["rss_mb"], litert["rss_mb"] < 200, "MB")
    if "mobilenet_v2" in results:
        rows = results["mobilenet_v2"]["rows"]  # type: ignore[index]
        for variant, limit in (
            ("ours TF, batching on", "in-process TF, batched"),
            ("ours TF, batching on, V2 binary", "in-process TF, batched"),
            ("ours LiteRT, batching on", "in-process LiteRT, batched"),
            ("ours LiteRT, batching on, V2 binary", "in-process LiteRT, batched"),
        ):
            mine, ceiling = _find(rows, variant, 32), _find(rows, limit, 32)
            line(
                f"MobileNetV2 c=32, {variant} / {limit} (≥ 80 %)",
                mine["rps"] / ceiling["rps"],
                mine["rps"] >= 0.8 * ceiling["rps"],
                "%",
            )
            # Where batching does not pay (LiteRT on a CNN), the unbatched call is the real limit.
            best = max(ceiling["rps"], _find(rows, limit.replace("batched", "unbatched"), 32)["rps"])
            line(
                f"MobileNetV2 c=32, {variant} / best in-process call, batched or not (≥ 80 %)",
                mine["rps"] / best,
                mine["rps"] >= 0.8 * best,
                "%",
            )


def sweep(models: list[BenchModel], duration: float, warmup: float) -> None:
    """Throughput and latency of the TF server across batching settings, to choose the defaults. The image
    model is sent as V2 binary tensors, so the numbers show batching rather than JSON decoding."""
    print("\n### Batching sweep (ours, TF runtime)\n")
    print("| model | MAX_BATCH_SIZE | BATCH_TIMEOUT_MS | c | throughput (req/s) | p50 (ms) | p99 (ms) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for model in models:
        binary = model.name != "mlp"
        path = "/v2/models/model/infer" if binary else PREDICT_PATH
        body = model.binary_body if binary else model.body
        headers = [f"Inference-Header-Content-Length: {model.binary_header_length}"] if binary else []
        content_type = "application/octet-stream" if binary else "application/json"
        for max_batch in (8, 16, 32, 64):
            for timeout in (0, 1, 2, 5):
                port = free_port()
                argv, env = ours(model, "tensorflow", True, port)
                env = {**env, "MAX_BATCH_SIZE": str(max_batch), "BATCH_TIMEOUT_MS": str(timeout)}
                with run_server("sweep", argv, READY_PATH, port, env):
                    for concurrency in (1, 8, 32):
                        r = load(port, path, body, concurrency, duration, warmup, headers, content_type)
                        print(
                            f"| {model.name} | {max_batch} | {timeout} | {concurrency} | {r['throughput']:,.1f} | "
                            f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} |",
                            flush=True,
                        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter runs (about 2 minutes in all)")
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="instead of the main tables, sweep MAX_BATCH_SIZE and BATCH_TIMEOUT_MS (about 8 minutes)",
    )
    parser.add_argument("--models", default="mlp,mobilenet_v2")
    parser.add_argument(
        "--features-only",
        action="store_true",
        help="only the gRPC, pipeline and tracing figures (MLP, c=32; about 3 minutes, --quick about 1)",
    )
    parser.add_argument(
        "--peers",
        action="store_true",
        help="only the peers comparison: MLServer and KServe against this server, MLP on LiteRT (about 1 minute "
        "once the peers' virtual environments are cached)",
    )
    parser.add_argument("--no-peers", action="store_true", help="leave the peers comparison out of the full run")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args()
    duration, warmup = (1.0, 0.3) if args.quick else (3.0, 0.5)
    started = time.perf_counter()
    load_at_start = os.getloadavg()[0]  # other work on the machine skews every number: it is printed
    with tempfile.TemporaryDirectory(prefix="modelport-bench-") as tmp:
        print("building models ...", file=sys.stderr, flush=True)
        names = ("mlp",) if args.peers or args.features_only else tuple(args.models.split(","))
        models = build(Path(tmp), names)
        results: dict[str, dict[str, object]] = {}
        if args.sweep:
            sweep(models, duration, warmup)
        elif args.features_only:
            mlp = next(m for m in models if m.name == "mlp")
            _serving_features.report(_serving_features.measure(mlp, Path(tmp), duration, warmup), load_at_start)
        elif args.peers:
            mlp = next(m for m in models if m.name == "mlp")
            results["peers"] = _serving_peers.measure(mlp, Path(tmp), duration, warmup)
            _serving_peers.report(results["peers"])
        else:
            sizes = {key: installed_mb(packages) for key, packages in RUNTIME_PACKAGES.items()}
            results = {m.name: measure_model(m, duration, warmup, sizes) for m in models}
            print(
                f"# serving benchmark ({'quick' if args.quick else 'full'}; {duration:g} s per point after "
                f"{warmup:g} s warm-up; loopback; {os.cpu_count()} CPUs; load average at start "
                f"{load_at_start:.2f}, at end {os.getloadavg()[0]:.2f})"
            )
            for model in models:
                print_tables(model.name, results[model.name])
            print_ratios(results)
            mlp = next((m for m in models if m.name == "mlp"), None)
            if mlp is not None:
                features_load = os.getloadavg()[0]
                rows = _serving_features.measure(mlp, Path(tmp), duration, warmup)
                results["features"] = {"rows": rows}
                _serving_features.report(rows, features_load)
                if not args.no_peers:
                    results["peers"] = _serving_peers.measure(mlp, Path(tmp), duration, warmup)
                    _serving_peers.report(results["peers"])
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    print(f"\n(total {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
