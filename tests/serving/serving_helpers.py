"""Helpers for the serving image tests: building small models without downloads, and running the server
as a real local process on a free loopback port."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from serving_image.app import ServingApp
from serving_image.config import load_settings
from serving_image.runtime.base import Runtime, Signature
from serving_image.service import Service
from serving_image.tensors import TensorSpec

ROOT = Path(__file__).resolve().parents[2]


def build_models(root: Path) -> dict[str, Path]:
    """Every model the tests use, built from code:

    - ``mlp``: Keras MLP, input ``features`` float32 [-1, 4], output ``output_0`` softmax over 3 classes;
    - ``mlp_tflite``: the same model converted to float32 LiteRT;
    - ``versions``: TF Serving base path with versions 1 and 2 of ``y = x * version`` (input ``x`` [-1, 2]);
    - ``multi``: a tf.Module with inputs ``a`` float32 [-1, 2] and ``b`` int32 [-1, 3], outputs ``total`` and
      ``doubled``, and a second signature ``scale`` (``a`` only, output ``scaled``);
    - ``strings``: input ``text`` string [-1], output ``length`` int32;
    - ``cnn`` / ``cnn_tflite``: MobileNetV2(weights=None, 32x32x3, alpha 0.35, 5 classes) and its float32 LiteRT.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(1)
    paths: dict[str, Path] = {}

    mlp = keras.Sequential(
        [
            keras.Input(shape=(4,), name="features"),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    paths["mlp"] = root / "mlp"
    mlp.export(str(paths["mlp"]), verbose=False)
    paths["mlp_tflite"] = root / "mlp.tflite"
    paths["mlp_tflite"].write_bytes(tf.lite.TFLiteConverter.from_saved_model(str(paths["mlp"])).convert())

    for version in (1, 2):
        module = tf.Module()
        factor = float(version)
        module.f = tf.function(
            lambda x, factor=factor: {"y": x * factor},
            input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")],
        )
        tf.saved_model.save(
            module,
            str(root / "versions" / str(version)),
            signatures={"serving_default": module.f.get_concrete_function()},
        )
    paths["versions"] = root / "versions"

    multi = tf.Module()
    multi.serve = tf.function(
        lambda a, b: {
            "total": tf.reduce_sum(a, axis=1) + tf.cast(tf.reduce_sum(b, axis=1), tf.float32),
            "doubled": b * 2,
        },
        input_signature=[tf.TensorSpec([None, 2], tf.float32, name="a"), tf.TensorSpec([None, 3], tf.int32, name="b")],
    )
    multi.scale = tf.function(
        lambda a: {"scaled": a * 10.0}, input_signature=[tf.TensorSpec([None, 2], tf.float32, name="a")]
    )
    paths["multi"] = root / "multi"
    tf.saved_model.save(
        multi,
        str(paths["multi"]),
        signatures={
            "serving_default": multi.serve.get_concrete_function(),
            "scale": multi.scale.get_concrete_function(),
        },
    )

    strings = tf.Module()
    strings.f = tf.function(
        lambda text: {"length": tf.strings.length(text)},
        input_signature=[tf.TensorSpec([None], tf.string, name="text")],
    )
    paths["strings"] = root / "strings"
    tf.saved_model.save(
        strings, str(paths["strings"]), signatures={"serving_default": strings.f.get_concrete_function()}
    )

    cnn = keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), alpha=0.35, classes=5)
    paths["cnn"] = root / "cnn"
    cnn.export(str(paths["cnn"]), verbose=False)
    paths["cnn_tflite"] = root / "cnn.tflite"
    paths["cnn_tflite"].write_bytes(tf.lite.TFLiteConverter.from_saved_model(str(paths["cnn"])).convert())
    return paths


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | str | dict[str, Any] | list[Any] | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> Response:
    """One HTTP request on a fresh connection (JSON-encodes dict and list bodies)."""
    headers = dict(headers or {})
    if isinstance(body, dict | list):
        body = json.dumps(body)
        headers.setdefault("Content-Type", "application/json")
    if isinstance(body, str):
        body = body.encode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return Response(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Response:
        return request(self.port, method, path, body, headers)

    def wait_ready(self, path: str = "/v2/health/ready", timeout: float = 90) -> list[int]:
        """Poll ``path`` until it answers 200; return every status seen on the way."""
        seen: list[int] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}:\n{self.output()}")
            try:
                status = request(self.port, "GET", path, timeout=5).status
            except OSError:
                time.sleep(0.02)
                continue
            seen.append(status)
            if status == 200:
                return seen
            time.sleep(0.02)
        raise AssertionError(f"{path} not ready within {timeout} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(args: list[str], env: dict[str, str], log_dir: Path, port: int | None = None) -> ServerProcess:
    """``python -m serving_image ARGS`` with a clean platform environment plus ``env``. The port is the one
    the platform variable in ``env`` names, else ``port``; the address is always loopback."""
    clean = {k: v for k, v in os.environ.items() if k not in _PLATFORM_VARIABLES}
    # No drain delay unless a test asks for one: nothing balances load in front of these servers.
    clean.update(
        {
            "PYTHONPATH": str(ROOT),
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "HOST": "127.0.0.1",
            "SHUTDOWN_DELAY_SECONDS": "0",
            # No gRPC unless a test asks for it: the default port would collide between servers.
            "GRPC_PORT": "0",
            **env,
        }
    )
    if port is None:
        port = next((int(env[name]) for name in _PORT_VARIABLES if name in env), None)
    if port is None:
        raise ValueError("give a port, or set a platform port variable in env")
    log = log_dir / f"server-{port}.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "serving_image", *args], env=clean, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT
        )
    return ServerProcess(process, port, log)


_PORT_VARIABLES = ("SAGEMAKER_BIND_TO_PORT", "AIP_HTTP_PORT", "FUNCTIONS_CUSTOMHANDLER_PORT", "AWS_LWA_PORT", "PORT")
_PLATFORM_VARIABLES = frozenset(
    {
        *_PORT_VARIABLES,
        "MODEL_DIR",
        "AZUREML_MODEL_DIR",
        "AIP_STORAGE_URI",
        "AIP_HEALTH_ROUTE",
        "AIP_PREDICT_ROUTE",
        "AWS_LAMBDA_FUNCTION_NAME",
        "MODEL_NAME",
        "MAX_BATCH_SIZE",
        "BATCH_TIMEOUT_MS",
        "MAX_QUEUE_SIZE",
        "MAX_REQUEST_BYTES",
        "REQUEST_TIMEOUT_SECONDS",
        "GRACEFUL_TIMEOUT",
        "SHUTDOWN_DELAY_SECONDS",
        "HOST",
        "PORT",
        "GRPC_PORT",
    }
)


class FakeRuntime(Runtime):
    """``y = 2 * x`` over input ``x`` float32 [-1, 2], for HTTP tests that need no framework. ``gate`` holds
    every call while cleared; ``calls`` records the rows of each call; a row holding 13 makes the call fail."""

    platform = "fake"

    def __init__(self) -> None:
        super().__init__(
            {
                "serving_default": Signature(
                    "serving_default",
                    {"x": TensorSpec("x", np.dtype(np.float32), (None, 2))},
                    {"y": TensorSpec("y", np.dtype(np.float32), (None, 2))},
                )
            }
        )
        self.gate = threading.Event()
        self.gate.set()
        self.calls: list[int] = []

    def predict(self, signature: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.gate.wait(30)
        x = inputs["x"]
        self.calls.append(len(x))
        if np.any(x == 13):
            raise ValueError("the fake model refuses 13")
        return {"y": x * 2}


class WarmUpClock:
    """Stands in for ``time`` in ``serving_image.runtime.base`` (see :func:`install_warm_up_clock`), so the
    warm-up measures what a fake runtime says a call costs (``advance``), not what a busy CI machine makes
    of a sleep. Decisions taken from warm-up timings are then deterministic in tests."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def install_warm_up_clock(monkeypatch: pytest.MonkeyPatch) -> WarmUpClock:
    from serving_image.runtime import base

    clock = WarmUpClock()
    monkeypatch.setattr(base, "time", clock)
    return clock


def fake_app(
    tmp_path: Path, runtime: Runtime, env: dict[str, str] | None = None, opened: threading.Event | None = None
) -> ServingApp:
    """An in-process app serving ``runtime``. With ``opened``, loading waits until that event is set.

    The fake model is fast enough to run on the event loop (INLINE_INFERENCE_MAX_US), but tests hold its
    ``gate`` to stall inference, which must happen on the inference thread: inline running is off unless
    ``env`` sets it."""
    artifact = tmp_path / "model.tflite"
    artifact.write_bytes(b"placeholder: the fake opener never reads it")

    def opener(path: Path, threads: int | None) -> Runtime:
        if opened is not None:
            opened.wait(30)
        return runtime

    settings = load_settings({"MODEL_DIR": str(artifact), "INLINE_INFERENCE_MAX_US": "0", **(env or {})})
    return ServingApp(Service.create(settings, opener=opener))


def wait_ready(client: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while client.get("/v2/health/ready").status_code != 200:
        if time.monotonic() > deadline:
            raise AssertionError("the in-process app did not become ready")
        time.sleep(0.01)


class ThreadedServer:
    """The real server (uvicorn, the gRPC front end and the drain) on free loopback ports, run in a thread of
    this process, so a test can hand it a fake runtime. ``stop`` drains it as SIGTERM would."""

    def __init__(
        self,
        tmp_path: Path,
        runtime: Runtime | None,
        env: dict[str, str] | None = None,
        model_dir: Path | None = None,
        opener: Any = None,
        tracing: Any = None,
    ) -> None:
        """Serve ``runtime`` as the one model, or ``model_dir`` with ``opener`` (a real or fake one)."""
        from serving_image.server import build_server

        artifact = model_dir or tmp_path / "model.tflite"
        if model_dir is None:
            artifact.write_bytes(b"placeholder: the fake opener never reads it")
        self.port, self.grpc_port = free_port(), free_port()
        settings = load_settings(
            {
                "MODEL_DIR": str(artifact),
                "HOST": "127.0.0.1",
                "PORT": str(self.port),
                "GRPC_PORT": str(self.grpc_port),
                "SHUTDOWN_DELAY_SECONDS": "0",
                "INLINE_INFERENCE_MAX_US": "0",
                "LOG_LEVEL": "warning",
                **(env or {}),
            }
        )
        self.settings = settings
        self.service = Service.create(settings, opener=opener or (lambda path, threads: runtime), tracing=tracing)
        self.server = build_server(settings, self.service)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not (
            self.server.started
            and self.service.repository.ready
            and self.server.grpc is not None
            and self.server.grpc.port is not None  # bound and serving
        ):
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise AssertionError("the threaded server did not become ready")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self.thread.is_alive():
            self.server.begin_drain("test")
            self.thread.join(30)

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def fake_repository(root: Path, runtimes: dict[str, Runtime]) -> Any:
    """A repository folder with one placeholder model per name, and the opener that serves ``runtimes`` for
    them (by folder name)."""
    for name in runtimes:
        (root / name).mkdir(parents=True, exist_ok=True)
        (root / name / "model.tflite").write_bytes(b"placeholder: the fake opener never reads it")

    def opener(path: Path, threads: int | None) -> Runtime:
        return runtimes[path.parent.name]

    return opener


class TableRuntime(Runtime):
    """A fake model over float32 rows: ``scores = x @ weights`` (input ``x`` [-1, n], output ``scores``).
    ``calls`` records the rows of each call, so tests can see batching."""

    platform = "fake"

    def __init__(self, weights: np.ndarray, input_name: str = "x") -> None:
        self.weights = np.asarray(weights, dtype=np.float32)
        self.calls: list[int] = []
        n, k = self.weights.shape
        super().__init__(
            {
                "serving_default": Signature(
                    "serving_default",
                    {input_name: TensorSpec(input_name, np.dtype(np.float32), (None, n))},
                    {"scores": TensorSpec("scores", np.dtype(np.float32), (None, k))},
                )
            }
        )
        self.input_name = input_name

    def predict(self, signature: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = inputs[self.input_name]
        self.calls.append(len(x))
        return {"scores": x @ self.weights}
