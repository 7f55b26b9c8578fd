"""gRPC, pipeline and tracing figures for bench/serving.py, on the MLP at concurrency 32, one run:

- the same server over HTTP JSON (TF Serving ``:predict``) and over gRPC V2 with raw binary tensors;
- a three-step pipeline (pre-step scaling, the model, post-step labels) against the bare model, on HTTP JSON: fused
  (row-wise handlers declared ``batch: true``: one run of each step per batch) and step by step per call;
- tracing off against tracing on, exporting over OTLP/gRPC to a local collector stub (bench/_otlp_sink.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _serving_models import BenchModel  # noqa: E402
from _serving_procs import HERE, free_port, load, run_server  # noqa: E402

READY_PATH = "/v2/health/ready"
_SCORED = """
  {name}:
    inputs:
      features: {{dtype: float32, shape: [-1, 32]}}
    outputs:
      label: {{from: post.label, dtype: int64, shape: [-1]}}
      score: {{from: post.score, dtype: float32, shape: [-1]}}
    steps:
      - {{name: pre, handler: "steps:scale", inputs: {{x: features}}, outputs: [features]{batch}}}
      - {{name: model, model: mlp, inputs: {{features: pre.features}}}}
      - {{name: post, handler: "steps:top", inputs: {{scores: model.output_0}}, outputs: [label, score]{batch}}}
"""
# The same three steps twice: fused (row-wise handlers declared ``batch: true``) and step by step per call.
PIPELINE = (
    "pipelines:"
    + _SCORED.format(name="scored", batch=", batch: true")
    + _SCORED.format(name="scored_per_call", batch="")
)
HANDLERS = """
import numpy as np

def scale(x):
    return {"features": (x - np.float32(0.5)) * np.float32(2.0)}

def top(scores):
    best = scores.argmax(axis=1)
    return {"label": best, "score": scores[np.arange(len(best)), best]}
"""


def _grpc_body(workdir: Path, model_name: str, input_name: str, width: int) -> Path:
    from serving_image.rpc.protos import open_inference_pb2

    request = open_inference_pb2.ModelInferRequest(model_name=model_name)
    request.inputs.add(name=input_name, datatype="FP32", shape=[1, width])
    rng = np.random.default_rng(0)
    request.raw_input_contents.append(np.round(rng.random((1, width), dtype=np.float32), 4).astype("<f4").tobytes())
    path = workdir / f"grpc-{model_name}.bin"
    path.write_bytes(request.SerializeToString())
    return path


def grpc_load(port: int, body: Path, concurrency: int, duration: float, warmup: float) -> dict[str, float]:
    command = [
        sys.executable,
        str(HERE / "_grpc_load.py"),
        "--port",
        str(port),
        "--path",
        "/inference.GRPCInferenceService/ModelInfer",
        "--body-file",
        str(body),
        "--concurrency",
        str(concurrency),
        "--duration",
        str(duration),
        "--warmup",
        str(warmup),
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True, timeout=duration + warmup + 120)
    return json.loads(output.stdout.strip().splitlines()[-1])


def _server(artifact: Path, port: int, grpc_port: int = 0, name: str = "model", env: dict | None = None):
    argv = [
        sys.executable,
        "-m",
        "serving_image",
        "--model-dir",
        str(artifact),
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
    ]
    return argv, {"LOG_LEVEL": "warning", "GRPC_PORT": str(grpc_port), "MODEL_NAME": name, **(env or {})}


def measure(model: BenchModel, workdir: Path, duration: float, warmup: float, concurrency: int = 32) -> list[dict]:
    """Rows of (runtime, variant, rps, p50, p99)."""
    rows: list[dict] = []
    width = model.instance_shape[0]
    from _serving_models import _input_name

    input_name = _input_name(model.saved_model)

    def record(runtime: str, variant: str, result: dict) -> None:
        rows.append(
            {
                "runtime": runtime,
                "variant": variant,
                "rps": result["throughput"],
                "p50": result["p50_ms"],
                "p99": result["p99_ms"],
                "errors": result["errors"],
            }
        )
        print(f"  features: {runtime} {variant}: {result['throughput']:,.0f} req/s", file=sys.stderr, flush=True)

    sink_port = free_port()
    sink = subprocess.Popen([sys.executable, str(HERE / "_otlp_sink.py"), "--port", str(sink_port)])
    try:
        for runtime, artifact in (("LiteRT", model.tflite), ("TF", model.saved_model)):
            # HTTP JSON and gRPC V2 binary on the same server process.
            port, grpc_port = free_port(), free_port()
            argv, env = _server(artifact, port, grpc_port)
            grpc_body = _grpc_body(workdir, "model", input_name, width)
            with run_server(f"{runtime} http+grpc", argv, READY_PATH, port, env):
                # The two stacks' own ceilings in this process: a call that touches no model.
                live = workdir / "empty"
                live.write_bytes(b"")
                record(
                    runtime,
                    "HTTP GET /v2/health/live (no model)",
                    load(port, "/v2/health/live", live, concurrency, duration, warmup, method="GET"),
                )
                live_grpc = subprocess.run(
                    [
                        sys.executable,
                        str(HERE / "_grpc_load.py"),
                        "--port",
                        str(grpc_port),
                        "--path",
                        "/inference.GRPCInferenceService/ServerLive",
                        "--body-file",
                        str(live),
                        "--concurrency",
                        str(concurrency),
                        "--duration",
                        str(duration),
                        "--warmup",
                        str(warmup),
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                    timeout=duration + warmup + 120,
                )
                record(runtime, "gRPC ServerLive (no model)", json.loads(live_grpc.stdout.strip().splitlines()[-1]))
                record(
                    runtime,
                    "HTTP JSON",
                    load(port, "/v1/models/model:predict", model.body, concurrency, duration, warmup),
                )
                record(runtime, "gRPC V2 binary", grpc_load(grpc_port, grpc_body, concurrency, duration, warmup))
                record(
                    runtime,
                    "HTTP JSON (again)",
                    load(port, "/v1/models/model:predict", model.body, concurrency, duration, warmup),
                )
                # Alternated and averaged: on a noisy 2-core machine one 3-second point can be 30 % off.
                record(
                    runtime, "gRPC V2 binary (again)", grpc_load(grpc_port, grpc_body, concurrency, duration, warmup)
                )
            # The pipeline beside the bare model, in one repository and one server.
            repo = workdir / f"repo-{runtime}"
            shutil.rmtree(repo, ignore_errors=True)
            (repo / "handlers").mkdir(parents=True)
            if artifact.is_dir():
                shutil.copytree(artifact, repo / "mlp" / "1")
            else:
                (repo / "mlp").mkdir()
                shutil.copy(artifact, repo / "mlp" / "model.tflite")
            (repo / "pipeline.yaml").write_text(PIPELINE)
            (repo / "handlers" / "steps.py").write_text(HANDLERS)
            port = free_port()
            argv, env = _server(repo, port, name="scored")
            pipeline_body = workdir / "pipeline.json"
            pipeline_body.write_bytes(model.body.read_bytes())
            with run_server(f"{runtime} pipeline", argv, READY_PATH, port, env):
                record(
                    runtime,
                    "bare model",
                    load(port, "/v1/models/mlp:predict", model.body, concurrency, duration, warmup),
                )
                record(
                    runtime,
                    "pipeline pre+model+post, fused",
                    load(port, "/v1/models/scored:predict", pipeline_body, concurrency, duration, warmup),
                )
                record(
                    runtime,
                    "pipeline pre+model+post, step by step",
                    load(port, "/v1/models/scored_per_call:predict", pipeline_body, concurrency, duration, warmup),
                )
                record(
                    runtime,
                    "bare model (again)",
                    load(port, "/v1/models/mlp:predict", model.body, concurrency, duration, warmup),
                )
            # Tracing on: every request exported to the local collector stub; then one in ten, and one in a hundred.
            port = free_port()
            argv, env = _server(
                artifact,
                port,
                env={
                    "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink_port}",
                    "OTEL_EXPORTER_OTLP_INSECURE": "true",
                },
            )
            with run_server(f"{runtime} traced", argv, READY_PATH, port, env):
                record(
                    runtime,
                    "tracing on (OTLP to a local stub)",
                    load(port, "/v1/models/model:predict", model.body, concurrency, duration, warmup),
                )
            for ratio, label in (("0.1", "10 %"), ("0.01", "1 %")):
                port = free_port()
                sampled = {**env, "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": ratio}
                argv, _ = _server(artifact, port)
                with run_server(f"{runtime} traced {label}", argv, READY_PATH, port, sampled):
                    record(
                        runtime,
                        f"tracing on, {label} sampled",
                        load(port, "/v1/models/model:predict", model.body, concurrency, duration, warmup),
                    )
    finally:
        sink.terminate()
        sink.wait(10)
    return rows


def report(rows: list[dict], load_before: float) -> None:
    print(f"\n#### gRPC, pipeline and tracing (MLP, c=32; load average {load_before:.2f} → {os.getloadavg()[0]:.2f})\n")
    print("| runtime | variant | throughput (req/s) | p50 (ms) | p99 (ms) |")
    print("|---|---|---:|---:|---:|")
    for row in rows:
        print(f"| {row['runtime']} | {row['variant']} | {row['rps']:,.0f} | {row['p50']:.2f} | {row['p99']:.2f} |")

    def rps(runtime: str, *variants: str) -> float:
        values = [r["rps"] for r in rows if r["runtime"] == runtime and r["variant"] in variants]
        return sum(values) / len(values)

    print("\n| target | measured | met |")
    print("|---|---:|:---:|")
    for runtime in ("LiteRT", "TF"):
        http = rps(runtime, "HTTP JSON", "HTTP JSON (again)")
        bare = rps(runtime, "bare model", "bare model (again)")
        grpc = rps(runtime, "gRPC V2 binary", "gRPC V2 binary (again)")
        checks = [
            (f"{runtime}: gRPC V2 binary / HTTP JSON (≥ 1.3×)", grpc / http, 1.3, "×"),
            (
                f"{runtime}: three-step pipeline, fused / bare model (≥ 80 %)",
                rps(runtime, "pipeline pre+model+post, fused") / bare,
                0.8,
                "%",
            ),
            (
                f"{runtime}: (context) three-step pipeline, step by step / bare model",
                rps(runtime, "pipeline pre+model+post, step by step") / bare,
                0.0,
                "%",
            ),
            (
                f"{runtime}: tracing on, 1 % sampled / off (≥ 85 %)",
                rps(runtime, "tracing on, 1 % sampled") / http,
                0.85,
                "%",
            ),
            (
                f"{runtime}: tracing on, 10 % sampled / off (≥ 85 %)",
                rps(runtime, "tracing on, 10 % sampled") / http,
                0.85,
                "%",
            ),
            (
                f"{runtime}: tracing on, every request sampled / off (≥ 85 %)",
                rps(runtime, "tracing on (OTLP to a local stub)") / http,
                0.85,
                "%",
            ),
        ]
        stacks = rps(runtime, "gRPC ServerLive (no model)") / rps(runtime, "HTTP GET /v2/health/live (no model)")
        checks.append((f"{runtime}: (context) gRPC stack / HTTP stack, no model", stacks, 0.0, "×"))
        for text, value, goal, unit in checks:
            shown = f"{value:.2f}×" if unit == "×" else f"{value:.0%}"
            met = "–" if not goal else "yes" if value >= goal else "NO"
            print(f"| {text} | {shown} | {met} |")


if __name__ == "__main__":  # python bench/_serving_features.py [--quick]: this section alone
    import argparse
    import tempfile

    from _serving_models import build

    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    duration, warmup = (1.0, 0.3) if args.quick else (3.0, 0.5)
    before = os.getloadavg()[0]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="modelport-bench-") as tmp:
        mlp = next(m for m in build(Path(tmp)) if m.name == "mlp")
        report(measure(mlp, Path(tmp), duration, warmup), before)
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
