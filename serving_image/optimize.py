"""``python -m serving_image.optimize``: convert a SavedModel to a (quantized) ``.tflite`` file for the LiteRT
flavour and report what it costs: the size ratio, and on sample inputs the largest absolute difference of
every output and, for classifiers, how often the top-1 class still agrees."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .errors import ModelLoadError
from .runtime.base import Signature
from .tensors import STRING

QUANTIZATIONS = ("none", "dynamic", "float16", "int8")
DEFAULT_SAMPLES = 32


class OptimizeError(Exception):
    """A conversion the tool refuses, with the reason and what to pass instead."""


@dataclass
class OutputReport:
    name: str
    max_abs_diff: float
    top1_agreement: float | None  # None unless the output looks like class scores: shape [batch, classes>1]


@dataclass
class Report:
    saved_model: str
    tflite: str
    quantize: str
    saved_model_bytes: int
    float_tflite_bytes: int
    tflite_bytes: int
    samples: int
    sample_source: str
    outputs: list[OutputReport] = field(default_factory=list)

    @property
    def size_ratio(self) -> float:
        """Quantized ``.tflite`` size over the float32 ``.tflite`` size."""
        return self.tflite_bytes / self.float_tflite_bytes

    @property
    def max_abs_diff(self) -> float:
        return max((o.max_abs_diff for o in self.outputs), default=0.0)

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["size_ratio"] = self.size_ratio
        data["size_ratio_vs_saved_model"] = self.tflite_bytes / self.saved_model_bytes
        data["max_abs_diff"] = self.max_abs_diff
        return data

    def text(self) -> str:
        lines = [
            f"{self.saved_model} -> {self.tflite} (quantize={self.quantize})",
            f"  size: {self.tflite_bytes:,} bytes; float32 .tflite {self.float_tflite_bytes:,} bytes "
            f"(ratio {self.size_ratio:.3f}); SavedModel {self.saved_model_bytes:,} bytes",
            f"  accuracy on {self.samples} sample inputs ({self.sample_source}):",
        ]
        for output in self.outputs:
            agreement = "" if output.top1_agreement is None else f", top-1 agreement {output.top1_agreement:.1%}"
            lines.append(f"    {output.name}: max |TF - LiteRT| = {output.max_abs_diff:.6g}{agreement}")
        return "\n".join(lines)


def _directory_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _load_arrays(path: Path, signature: Signature, what: str) -> dict[str, np.ndarray]:
    """A ``.npy`` array for a one-input model, or a ``.npz`` archive keyed by input name."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise OptimizeError(f"{what} {path}: cannot read it as .npy or .npz ({exc})") from exc
    if isinstance(loaded, np.ndarray):
        if len(signature.inputs) != 1:
            raise OptimizeError(
                f"{what} {path}: the model takes {list(signature.inputs)}; pass a .npz keyed by input name"
            )
        arrays = {next(iter(signature.inputs)): loaded}
    else:
        arrays = {name: loaded[name] for name in loaded.files}
    missing = [name for name in signature.inputs if name not in arrays]
    if missing:
        raise OptimizeError(f"{what} {path} has no array for input {missing[0]!r}")
    rows = {len(a) for a in arrays.values()}
    if len(rows) != 1 or 0 in rows:
        raise OptimizeError(f"{what} {path}: every input needs the same, non-zero number of rows")
    return {name: np.asarray(arrays[name], dtype=spec.dtype) for name, spec in signature.inputs.items()}


def _random_samples(signature: Signature, count: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    samples = {}
    for name, spec in signature.inputs.items():
        if spec.shape is None or None in spec.shape[1:] or spec.dtype == STRING:
            raise OptimizeError(
                f"input {name!r} has shape {spec.dims} and dtype {spec.dtype}: random samples cannot be made for "
                "it; pass --sample-data FILE.npy (or .npz keyed by input name)"
            )
        shape = (count, *spec.shape[1:])
        if spec.dtype.kind == "f":
            samples[name] = rng.random(shape).astype(spec.dtype)
        elif spec.dtype.kind in "iu":
            samples[name] = rng.integers(0, 10, shape).astype(spec.dtype)
        else:
            samples[name] = rng.integers(0, 2, shape).astype(spec.dtype)
    return samples


def _converter(
    saved_model: Path, signature: str, quantize: str, representative: Mapping[str, np.ndarray] | None
) -> object:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model), signature_keys=[signature])
    if quantize == "none":
        return converter
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "int8":
        assert representative is not None
        rows = len(next(iter(representative.values())))

        def dataset() -> Iterator[dict[str, np.ndarray]]:
            for i in range(rows):
                yield {name: value[i : i + 1] for name, value in representative.items()}

        converter.representative_dataset = dataset
        # Integer kernels throughout, with float inputs and outputs so existing requests keep working.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter


def _compare(tf_out: Mapping[str, np.ndarray], lite_out: Mapping[str, np.ndarray]) -> list[OutputReport]:
    reports = []
    for name, expected in tf_out.items():
        got = lite_out[name]
        if expected.dtype == STRING:
            diff = 0.0 if np.array_equal(expected, got) else float("inf")
        else:
            diff = float(np.max(np.abs(expected.astype(np.float64) - got.astype(np.float64)))) if expected.size else 0.0
        agreement = None
        if expected.ndim == 2 and expected.shape[1] > 1 and expected.dtype.kind == "f":
            agreement = float(np.mean(np.argmax(expected, axis=1) == np.argmax(got, axis=1)))
        reports.append(OutputReport(name, diff, agreement))
    return reports


def optimize(
    saved_model: Path,
    out: Path,
    quantize: str,
    representative_data: Path | None = None,
    sample_data: Path | None = None,
    samples: int = DEFAULT_SAMPLES,
    signature_name: str = "serving_default",
    log: Callable[[str], None] = lambda message: None,
) -> Report:
    """Convert ``saved_model`` to ``out`` and measure the accuracy cost against the TensorFlow model."""
    if quantize not in QUANTIZATIONS:
        raise OptimizeError(f"--quantize must be one of {', '.join(QUANTIZATIONS)} (got {quantize!r})")
    if quantize == "int8" and representative_data is None:
        raise OptimizeError(
            "int8 quantization calibrates activation ranges on representative inputs: pass "
            "--representative-data FILE.npy (an array of a few hundred typical inputs, shape [N, ...]; a .npz "
            "keyed by input name for several inputs), or use --quantize dynamic or float16, which need none"
        )
    if not (saved_model / "saved_model.pb").is_file():
        raise OptimizeError(f"{saved_model} is not a SavedModel directory (no saved_model.pb)")
    from .runtime.litert import LiteRTRuntime
    from .runtime.tensorflow import TensorFlowRuntime

    reference = TensorFlowRuntime(saved_model)
    signature = reference.signatures.get(signature_name)
    if signature is None:
        raise OptimizeError(f"{saved_model} has no signature {signature_name!r}; it has {sorted(reference.signatures)}")
    representative = (
        _load_arrays(representative_data, signature, "--representative-data") if representative_data else None
    )
    if sample_data is not None:
        inputs, source = _load_arrays(sample_data, signature, "--sample-data"), str(sample_data)
    elif representative is not None:
        inputs, source = representative, f"the representative data {representative_data}"
    else:
        inputs, source = _random_samples(signature, samples), "seeded uniform random inputs"

    log(f"converting with quantize={quantize} ...")
    float_bytes = _converter(saved_model, signature_name, "none", None).convert()  # type: ignore[attr-defined]
    converted = (
        float_bytes
        if quantize == "none"
        else _converter(saved_model, signature_name, quantize, representative).convert()  # type: ignore[attr-defined]
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(converted)

    lite = LiteRTRuntime(out)
    lite_signature = next(iter(lite.signatures)) if signature_name not in lite.signatures else signature_name
    expected = reference.predict(signature_name, inputs)
    got = lite.predict(lite_signature, inputs)
    return Report(
        saved_model=str(saved_model),
        tflite=str(out),
        quantize=quantize,
        saved_model_bytes=_directory_bytes(saved_model),
        float_tflite_bytes=len(float_bytes),
        tflite_bytes=len(converted),
        samples=len(next(iter(inputs.values()))),
        sample_source=source,
        outputs=_compare(expected, got),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving_image.optimize", description=__doc__)
    parser.add_argument("saved_model", type=Path, help="SavedModel directory")
    parser.add_argument("--out", type=Path, required=True, help="the .tflite file to write")
    parser.add_argument(
        "--quantize",
        choices=QUANTIZATIONS,
        default="dynamic",
        help="none: float32; dynamic: int8 weights; float16: float16 weights; "
        "int8: int8 weights and activations (needs --representative-data)",
    )
    parser.add_argument("--representative-data", type=Path, help=".npy (or .npz by input name) for int8 calibration")
    parser.add_argument(
        "--sample-data",
        type=Path,
        help="inputs to measure accuracy on (default: the representative data, else seeded random inputs)",
    )
    parser.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, help="random samples when no data is given")
    parser.add_argument("--signature", default="serving_default")
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    args = parser.parse_args(argv)
    try:
        report = optimize(
            args.saved_model,
            args.out,
            args.quantize,
            args.representative_data,
            args.sample_data,
            args.samples,
            args.signature,
            log=lambda message: print(message, file=sys.stderr),
        )
    except (OptimizeError, ModelLoadError) as exc:
        print(f"optimize: error: {exc}", file=sys.stderr)
        return 2
    print(report.text())
    if args.json is not None:
        args.json.write_text(json.dumps(report.as_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
