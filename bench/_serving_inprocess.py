"""The in-process limit for bench/serving.py: the runtime called directly, with no HTTP, JSON or queue,
at batch 1 (unbatched) and at batch N (batched). Prints one JSON line of rows per second."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from serving_image.runtime import open_runtime  # noqa: E402


def rows_per_second(
    runtime: object, signature: str, name: str, instance: np.ndarray, batch: int, seconds: float
) -> float:
    inputs = {name: np.repeat(instance[None, ...], batch, axis=0)}
    for _ in range(3):
        runtime.predict(signature, inputs)  # type: ignore[attr-defined]
    calls = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds or calls < 3:
        runtime.predict(signature, inputs)  # type: ignore[attr-defined]
        calls += 1
    return calls * batch / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="SavedModel directory or .tflite file")
    parser.add_argument("--batches", default="1,8,32")
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    runtime = open_runtime(Path(args.model))
    signature = runtime.signatures["serving_default"]
    name, spec = next(iter(signature.inputs.items()))
    instance = np.random.default_rng(0).random(tuple(d for d in spec.shape[1:]), dtype=np.float32)
    result = {
        str(batch): rows_per_second(runtime, "serving_default", name, instance, batch, args.seconds)
        for batch in (int(b) for b in args.batches.split(","))
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
