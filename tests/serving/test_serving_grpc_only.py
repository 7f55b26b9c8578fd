"""PROTOCOLS=grpc: the server opens no HTTP listener and serves gRPC (KServe V2, TF Serving, grpc.health.v1) on
GRPC_PORT, as Cloud Run's end-to-end HTTP/2 needs (one port, h2c, PORT set to it); health still turns
NOT_SERVING -> SERVING with the model and back on SIGTERM, the drain still finishes calls in flight, and bad
PROTOCOLS / GRPC_PORT values stop the server at start naming the variable."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from serving_image.config import load_settings, resolve_protocols
from serving_image.errors import ConfigError
from serving_image.rpc.protos import (
    health_pb2,
    health_service_pb2_grpc,
    open_inference_pb2,
    open_inference_service_pb2_grpc,
    tensor_pb2,
    tfserving_pb2,
    tfserving_service_pb2_grpc,
)
from serving_image.server import build_server
from serving_image.service import Service

from .serving_helpers import ROOT, FakeRuntime, free_port

MODEL = {"MODEL_DIR": "/models/m"}


# --- settings ---


def test_protocols_default_to_both_and_grpc_alone_turns_http_off() -> None:
    assert resolve_protocols({}) == (("http", "grpc"), False)
    assert resolve_protocols({"PROTOCOLS": " GRPC , http "}) == (("http", "grpc"), True)
    both = load_settings({**MODEL, "PORT": "9000"})
    assert (both.serve_http, both.port, both.grpc_port) == (True, 9000, 8081)
    # Cloud Run: PORT is the container port, which is the gRPC port; it is not an HTTP port here.
    grpc_only = load_settings({**MODEL, "PROTOCOLS": "grpc", "PORT": "8081", "GRPC_PORT": "8081"})
    assert (grpc_only.serve_http, grpc_only.port, grpc_only.grpc_port) == (False, 0, 8081)
    http_only = load_settings({**MODEL, "PROTOCOLS": "http", "PORT": "9000"})
    assert (http_only.serve_http, http_only.port, http_only.grpc_port) == (True, 9000, 0)
    # Unset PROTOCOLS with GRPC_PORT=0 is plain HTTP, as before PROTOCOLS existed.
    assert load_settings({**MODEL, "GRPC_PORT": "0"}).grpc_port == 0


@pytest.mark.parametrize("value", ["", " ", "http,", "h2c", "http,grpc,rest", "grpc,grpc", "http;grpc"])
def test_bad_protocols_are_refused_naming_the_variable(value: str) -> None:
    with pytest.raises(ConfigError, match=r"PROTOCOLS must be a comma list of http and grpc") as error:
        load_settings({**MODEL, "PROTOCOLS": value})
    assert repr(value) in str(error.value)


@pytest.mark.parametrize(
    ("env", "flags", "words"),
    [
        ({"PROTOCOLS": "grpc", "GRPC_PORT": "0"}, {}, "PROTOCOLS=grpc serves gRPC, but GRPC_PORT / --grpc-port is 0"),
        ({"PROTOCOLS": "grpc"}, {"grpc_port": 0}, "PROTOCOLS=grpc serves gRPC, but GRPC_PORT / --grpc-port is 0"),
        # Lambda forwards only HTTP, so gRPC defaults to off there: grpc alone needs an explicit port.
        ({"PROTOCOLS": "grpc", "AWS_LAMBDA_FUNCTION_NAME": "f"}, {}, "GRPC_PORT / --grpc-port is 0"),
        ({"PROTOCOLS": "http,grpc", "GRPC_PORT": "0"}, {}, "PROTOCOLS=http,grpc serves gRPC, but GRPC_PORT"),
        ({"PROTOCOLS": "http", "GRPC_PORT": "8081"}, {}, "GRPC_PORT / --grpc-port is 8081, but PROTOCOLS=http"),
        ({"PROTOCOLS": "grpc", "GRPC_PORT": "8081"}, {"port": 9000}, "--port 9000 is the HTTP port, but PROTOCOLS"),
        ({"PROTOCOLS": "http,grpc", "PORT": "8081", "GRPC_PORT": "8081"}, {}, "is the HTTP port too"),
    ],
)
def test_contradictory_protocols_and_ports_are_refused(env: dict[str, str], flags: dict[str, int], words: str) -> None:
    with pytest.raises(ConfigError, match=words.replace("|", r"\|")):
        load_settings({**MODEL, **env}, **flags)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"PROTOCOLS": "websocket"}, "PROTOCOLS must be"),
        ({"PROTOCOLS": "grpc", "GRPC_PORT": "0"}, "PROTOCOLS=grpc serves gRPC, but GRPC_PORT"),
    ],
)
def test_bad_values_stop_the_process_at_start(env: dict[str, str], words: str) -> None:
    clean = {k: v for k, v in os.environ.items() if k not in ("PORT", "GRPC_PORT", "PROTOCOLS", "MODEL_DIR")}
    result = subprocess.run(
        [sys.executable, "-m", "serving_image"],
        env={**clean, "PYTHONPATH": str(ROOT), "MODEL_DIR": "/models/m", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert words in result.stderr


# --- the server ---


class GrpcOnlyServer:
    """The real server (uvicorn's lifecycle, the gRPC front end, the drain) with PROTOCOLS=grpc, in a thread,
    serving a fake model whose loading waits for ``opened``."""

    def __init__(self, tmp_path: Path, runtime: FakeRuntime, env: dict[str, str]) -> None:
        artifact = tmp_path / "model.tflite"
        artifact.write_bytes(b"placeholder: the fake opener never reads it")
        self.opened = threading.Event()

        def opener(path: Path, threads: int | None) -> FakeRuntime:
            self.opened.wait(30)
            return runtime

        self.settings = load_settings(
            {
                "MODEL_DIR": str(artifact),
                "HOST": "127.0.0.1",
                "PROTOCOLS": "grpc",
                "SHUTDOWN_DELAY_SECONDS": "0",
                "INLINE_INFERENCE_MAX_US": "0",
                "LOG_LEVEL": "warning",
                **env,
            }
        )
        self.service = Service.create(self.settings, opener=opener)
        self.server = build_server(self.settings, self.service)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> GrpcOnlyServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not (self.server.grpc is not None and self.server.grpc.port is not None):
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise AssertionError("the gRPC-only server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.opened.set()
        if self.thread.is_alive():
            self.server.begin_drain("test")
            self.thread.join(30)


def _health(channel: grpc.Channel) -> int:
    return health_service_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5).status


def _wait_health(channel: grpc.Channel, status: int) -> None:
    deadline = time.monotonic() + 30
    while _health(channel) != status:
        assert time.monotonic() < deadline, "health did not change"
        time.sleep(0.02)


def _v2_request(values: np.ndarray) -> open_inference_pb2.ModelInferRequest:
    request = open_inference_pb2.ModelInferRequest(model_name="model")
    request.inputs.add(name="x", datatype="FP32", shape=values.shape)
    request.raw_input_contents.append(values.astype("<f4").tobytes())
    return request


@pytest.fixture
def shared_port(tmp_path: Path) -> Iterator[tuple[GrpcOnlyServer, FakeRuntime]]:
    """Cloud Run's shape: PORT and GRPC_PORT are the same container port."""
    runtime = FakeRuntime()
    port = free_port()
    with GrpcOnlyServer(tmp_path, runtime, {"PORT": str(port), "GRPC_PORT": str(port)}) as server:
        yield server, runtime


def test_grpc_only_serves_health_v2_and_tf_serving_on_the_one_port(
    shared_port: tuple[GrpcOnlyServer, FakeRuntime],
) -> None:
    server, _ = shared_port
    port = server.settings.grpc_port
    assert server.server.servers == [] and server.settings.port == 0  # no HTTP listener
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        assert _health(channel) == health_pb2.HealthCheckResponse.NOT_SERVING  # the model is still loading
        v2 = open_inference_service_pb2_grpc.GRPCInferenceServiceStub(channel)
        assert not v2.ServerReady(open_inference_pb2.ServerReadyRequest()).ready
        server.opened.set()
        _wait_health(channel, health_pb2.HealthCheckResponse.SERVING)
        values = np.array([[1.0, 2.0], [3.0, 4.5]], dtype=np.float32)
        reply = v2.ModelInfer(_v2_request(values))
        assert np.array_equal(np.frombuffer(reply.raw_output_contents[0], "<f4").reshape(2, 2), values * 2)
        tfs = tfserving_service_pb2_grpc.PredictionServiceStub(channel)
        request = tfserving_pb2.PredictRequest()
        request.model_spec.name = "model"
        request.inputs["x"].CopyFrom(
            tensor_pb2.TensorProto(
                dtype=tensor_pb2.DT_FLOAT,
                tensor_shape=_shape(1, 2),
                float_val=[5.0, 6.0],
            )
        )
        assert np.frombuffer(tfs.Predict(request).outputs["y"].tensor_content, "<f4").tolist() == [10.0, 12.0]
    # An HTTP/1.1 request on that port reaches gRPC's HTTP/2 server, which answers no HTTP/1.1 status line.
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(2)
        try:
            answer = sock.recv(64)
        except (TimeoutError, ConnectionResetError):
            answer = b""
    assert not answer.startswith(b"HTTP/1.1")


def _shape(*dims: int) -> tensor_pb2.TensorShapeProto:
    return tensor_pb2.TensorShapeProto(dim=[tensor_pb2.TensorShapeProto.Dim(size=d) for d in dims])


def test_grpc_only_leaves_the_http_port_closed(tmp_path: Path) -> None:
    http_port, grpc_port = free_port(), free_port()
    with GrpcOnlyServer(tmp_path, FakeRuntime(), {"PORT": str(http_port), "GRPC_PORT": str(grpc_port)}) as server:
        server.opened.set()
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            _wait_health(channel, health_pb2.HealthCheckResponse.SERVING)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", http_port), timeout=5).close()


def test_grpc_only_sigterm_drains_calls_in_flight(tmp_path: Path) -> None:
    runtime = FakeRuntime()
    port = free_port()
    server = GrpcOnlyServer(tmp_path, runtime, {"PORT": str(port), "GRPC_PORT": str(port), "GRACEFUL_TIMEOUT": "8"})
    with server:
        server.opened.set()
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        _wait_health(channel, health_pb2.HealthCheckResponse.SERVING)
        stub = open_inference_service_pb2_grpc.GRPCInferenceServiceStub(channel)
        runtime.gate.clear()
        pending = [stub.ModelInfer.future(_v2_request(np.ones((1, 2), np.float32))) for _ in range(3)]
        deadline = time.monotonic() + 10
        while server.service.counts.in_flight < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        server.server.begin_drain("SIGTERM")  # what the SIGTERM handler calls
        assert _health(channel) == health_pb2.HealthCheckResponse.NOT_SERVING
        runtime.gate.set()
        server.thread.join(20)
        assert [len(f.result().raw_output_contents) for f in pending] == [1, 1, 1]
        channel.close()
    assert not server.thread.is_alive()
    assert server.server.exit_code == 0
    assert server.service.counts.accepted == server.service.counts.answered


def test_docker_healthcheck_probes_grpc_health_when_http_is_off(tmp_path: Path) -> None:
    port = free_port()
    with GrpcOnlyServer(tmp_path, FakeRuntime(), {"PORT": str(port), "GRPC_PORT": str(port)}) as server:
        clean = {k: v for k, v in os.environ.items() if k not in ("PORT", "GRPC_PORT", "PROTOCOLS")}
        probe = [sys.executable, "-m", "serving_image.healthcheck"]

        def run(grpc_port: int) -> subprocess.CompletedProcess[str]:
            env = {**clean, "PYTHONPATH": str(ROOT), "PROTOCOLS": "grpc", "GRPC_PORT": str(grpc_port)}
            return subprocess.run(probe, env=env, cwd=ROOT, timeout=60, capture_output=True, text=True)

        loading = run(port)
        assert loading.returncode == 1  # NOT_SERVING while the model loads
        server.opened.set()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            _wait_health(channel, health_pb2.HealthCheckResponse.SERVING)
        assert run(port).returncode == 0
        nobody = run(free_port())
        assert nobody.returncode == 1 and "grpc.health.v1" in nobody.stderr
