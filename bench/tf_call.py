"""TensorFlow call benchmark: microseconds of wall and CPU time per call of a SavedModel signature, called
eagerly (``tf.saved_model.load`` and the signature's ConcreteFunction, what the runtime did before) and as the
runtime calls it now (a Session callable over the ``serve`` graph, on TensorFlow's inter-op pool and on the
calling thread), at several batch sizes. CPU time counts every thread of the process, so spinning pool
threads show; on a 2-core server that CPU is taken from the event loop.

    python bench/tf_call.py [--models mlp,mobilenet_v2] [--calls 600] [--batches 1,16,32]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _serving_models import build  # noqa: E402


def measure(call: Callable[[], object], calls: int) -> tuple[float, float]:
    """Best of three rounds: (wall µs, CPU µs) per call."""
    for _ in range(max(20, calls // 10)):
        call()
    wall = cpu = float("inf")
    for _ in range(3):
        started, started_cpu = time.perf_counter(), time.process_time()
        for _ in range(calls):
            call()
        wall = min(wall, (time.perf_counter() - started) / calls * 1e6)
        cpu = min(cpu, (time.process_time() - started_cpu) / calls * 1e6)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mlp")
    parser.add_argument("--calls", type=int, default=600)
    parser.add_argument("--batches", default="1,16,32")
    args = parser.parse_args()
    import tensorflow as tf

    from serving_image.runtime.tensorflow import TensorFlowRuntime

    names = tuple(args.models.split(","))
    batches = [int(b) for b in args.batches.split(",")]
    with tempfile.TemporaryDirectory(prefix="modelport-tf-call-") as tmp:
        models = build(Path(tmp), names)
        print(f"# TensorFlow {tf.__version__}; µs per call, best of 3 rounds of {args.calls} calls\n")
        print("| model | rows | eager signature: wall · CPU | Session, inter-op pool | Session, calling thread |")
        print("|---|---:|---:|---:|---:|")
        for model in models:
            eager = tf.saved_model.load(str(model.saved_model)).signatures["serving_default"]
            runtime = TensorFlowRuntime(model.saved_model)
            signature = runtime.signatures["serving_default"]
            session_call = runtime._calls["serving_default"]  # noqa: SLF001 - the thread choice is what is measured
            calls = args.calls if model.name == "mlp" else max(10, args.calls // 40)
            for rows in batches:
                inputs = {
                    name: np.random.default_rng(0).random((rows, *spec.shape[1:]), dtype=np.float32)  # type: ignore[misc]
                    for name, spec in signature.inputs.items()
                }
                cells = [measure(lambda e=eager, x=inputs: {k: v.numpy() for k, v in e(**x).items()}, calls)]
                reference = eager(**inputs)
                for caller_thread in (False, True):
                    session_call.use_caller_thread(caller_thread)
                    answer = session_call(inputs)
                    for name, value in reference.items():
                        np.testing.assert_allclose(answer[name], value.numpy(), rtol=1e-4, atol=1e-5)
                    cells.append(measure(lambda c=session_call, x=inputs: c(x), calls))
                shown = " | ".join(f"{wall:,.0f} · {cpu:,.0f}" for wall, cpu in cells)
                print(f"| {model.name} | {rows} | {shown} |")


if __name__ == "__main__":
    main()
