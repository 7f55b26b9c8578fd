"""JSON request decoding benchmark: a TF Serving body of images into a float32 array, by the generic path
(orjson, then np.asarray) and by serving_image.tensorjson (simdjson straight into NumPy, with the skeleton
check that refuses ragged arrays). Prints milliseconds per body and the ratio, for the MobileNetV2 bench
image (224×224×3, three decimals: about 0.9 MB) at batch 1 and 8, and for full-precision floats.

    python bench/json_decode.py [--repeat 30]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from serving_image import tensorjson  # noqa: E402


def generic(raw: bytes) -> np.ndarray:
    gc.disable()  # as the server does for the generic path (serving_image.codec.gc_paused)
    try:
        return np.asarray(orjson.loads(raw)["instances"]).astype(np.float32)
    finally:
        gc.enable()


def fast(raw: bytes) -> np.ndarray:
    decoded = tensorjson.loads(raw)
    assert decoded is not None, "the fast path stepped aside"
    return decoded["instances"].astype(np.float32)


def best_ms(function: Callable[[bytes], np.ndarray], raw: bytes, repeat: int) -> float:
    function(raw)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function(raw)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    cases = [
        ("1 image, 3 decimals", np.round(rng.random((1, 224, 224, 3), dtype=np.float32), 3)),
        ("8 images, 3 decimals", np.round(rng.random((8, 224, 224, 3), dtype=np.float32), 3)),
        ("1 image, full float32 precision", rng.random((1, 224, 224, 3), dtype=np.float32)),
    ]
    print(f"# JSON decoding, median of {args.repeat} (ms per body)\n")
    print("| body | size (MB) | orjson + np.asarray | tensorjson | speed-up |")
    print("|---|---:|---:|---:|---:|")
    for label, images in cases:
        raw = orjson.dumps({"instances": images}, option=orjson.OPT_SERIALIZE_NUMPY)
        np.testing.assert_array_equal(generic(raw), fast(raw))
        slow_ms, fast_ms = best_ms(generic, raw, args.repeat), best_ms(fast, raw, args.repeat)
        print(f"| {label} | {len(raw) / 1e6:.2f} | {slow_ms:.2f} | {fast_ms:.2f} | {slow_ms / fast_ms:.1f}× |")


if __name__ == "__main__":
    main()
