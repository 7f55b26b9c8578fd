"""Model runtimes, chosen by what the model directory holds; each imports its framework only when used."""

from __future__ import annotations

from pathlib import Path

from .base import Runtime, Signature


def open_runtime(artifact: Path, threads: int | None = None) -> Runtime:
    """Load ``artifact``: a SavedModel directory with the TensorFlow runtime, a ``.tflite`` file with LiteRT."""
    if artifact.is_file():
        from .litert import LiteRTRuntime

        return LiteRTRuntime(artifact, threads)
    from .tensorflow import TensorFlowRuntime

    return TensorFlowRuntime(artifact, threads)


__all__ = ["Runtime", "Signature", "open_runtime"]
