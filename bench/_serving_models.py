"""Models and request bodies for bench/serving.py: a small Keras MLP and MobileNetV2 (weights=None),
each exported as a SavedModel and converted to a float32 ``.tflite`` file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@dataclass(frozen=True)
class BenchModel:
    name: str
    saved_model: Path
    tflite: Path
    body: Path  # one TF Serving row-format request with a single instance
    instance_shape: tuple[int, ...]
    binary_body: Path  # the same instance as a KServe V2 request with the binary tensor data extension
    binary_header_length: int


def _export(model: object, directory: Path) -> None:
    model.export(str(directory), verbose=False)  # type: ignore[attr-defined]


def _convert(saved_model: Path, out: Path) -> None:
    import tensorflow as tf

    out.write_bytes(tf.lite.TFLiteConverter.from_saved_model(str(saved_model)).convert())


def _body(path: Path, instance: np.ndarray) -> None:
    import orjson

    path.write_bytes(orjson.dumps({"instances": [instance]}, option=orjson.OPT_SERIALIZE_NUMPY))


def _binary_body(path: Path, input_name: str, instance: np.ndarray) -> int:
    """A V2 request whose tensor travels as raw bytes after the JSON header; returns the header length."""
    import orjson

    raw = np.ascontiguousarray(instance[None, ...], dtype="<f4").tobytes()
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": input_name,
                    "shape": [1, *instance.shape],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": len(raw)},
                }
            ]
        }
    )
    path.write_bytes(header + raw)
    return len(header)


def _input_name(saved_model: Path) -> str:
    import tensorflow as tf

    signature = tf.saved_model.load(str(saved_model)).signatures["serving_default"]
    return next(iter(signature.structured_input_signature[1]))


def build(workdir: Path, names: tuple[str, ...] = ("mlp", "mobilenet_v2")) -> list[BenchModel]:
    import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    models = []

    mlp = keras.Sequential(
        [
            keras.Input(shape=(32,), name="features"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    cnn = (
        keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3), classes=1000)
        if "mobilenet_v2" in names
        else None
    )
    for name, model, shape, decimals in (("mlp", mlp, (32,), 4), ("mobilenet_v2", cnn, (224, 224, 3), 3)):
        # Few decimals keep the 150k-value image body near 0.9 MB, as a client sending pixel data would. Drawn
        # before a model is left out, so each model's request is the same whichever models are built.
        instance = np.round(rng.random(shape, dtype=np.float32), decimals)
        if name not in names:
            continue
        saved = workdir / name / "1"
        _export(model, saved)
        tflite = workdir / f"{name}.tflite"
        _convert(saved, tflite)
        body = workdir / f"{name}.json"
        _body(body, instance)
        binary = workdir / f"{name}.v2bin"
        header_length = _binary_body(binary, _input_name(saved), instance)
        models.append(BenchModel(name, saved, tflite, body, shape, binary, header_length))
    return models
