"""WORKERS > 1: several server processes on one port pair, one /metrics for all of them, readiness only once
every worker has loaded, a drain of every worker on SIGTERM, and a stop of all when one dies."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import numpy as np
import pytest

from serving_image.config import MAX_WORKERS, load_settings
from serving_image.errors import ConfigError
from serving_image.rpc.protos import open_inference_pb2, open_inference_service_pb2_grpc

from .serving_helpers import ServerProcess, free_port, request

pytestmark = pytest.mark.slow

BODY = json.dumps({"instances": [[0.5, -1.0, 2.0, 0.25]]})


def _settings(**env: str):
    return load_settings({"MODEL_DIR": "/models/m", **env})


def test_workers_setting() -> None:
    assert _settings().workers == 1
    assert _settings(WORKERS="3").workers == 3
    assert 1 <= _settings(WORKERS="auto").workers <= min(os.cpu_count() or 1, MAX_WORKERS)
    for bad in ("0", "65", "two", "-1", "1.5"):
        with pytest.raises(ConfigError, match="WORKERS"):
            _settings(WORKERS=bad)
    with pytest.raises(ConfigError, match="WORKERS must be 1 on Lambda"):
        _settings(WORKERS="2", AWS_LAMBDA_FUNCTION_NAME="f", AWS_LWA_PORT="8080")
    assert _settings(WORKERS="auto", AWS_LAMBDA_FUNCTION_NAME="f", AWS_LWA_PORT="8080").workers >= 1
    assert _settings(MODELPORT_WORKER="1/2", MODELPORT_WORKER_DIR="/tmp/x").worker == (1, 2)
    for bad in ("2/2", "a/2", "1", "1/99"):
        with pytest.raises(ConfigError, match="MODELPORT_WORKER"):
            _settings(MODELPORT_WORKER=bad, MODELPORT_WORKER_DIR="/tmp/x")
    with pytest.raises(ConfigError, match="MODELPORT_WORKER_DIR"):
        _settings(MODELPORT_WORKER="0/2")


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_two_workers_share_the_ports_the_metrics_and_the_drain(
    server: Callable[..., ServerProcess], models: dict[str, Path]
) -> None:
    grpc_port = free_port()
    process = server(
        ["--model-dir", str(models["mlp_tflite"])],
        {"WORKERS": "2", "GRPC_PORT": str(grpc_port), "PORT": str(free_port())},
    )
    process.wait_ready()
    workers = _children(process.process.pid)
    assert len(workers) == 2
    # New connections spread over both workers (SO_REUSEPORT); the scrape of either one counts them all.
    sent = 40
    for _ in range(sent):
        reply = request(process.port, "POST", "/v1/models/model:predict", BODY, {"Content-Type": "application/json"})
        assert reply.status == 200
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        stub = open_inference_service_pb2_grpc.GRPCInferenceServiceStub(channel)
        infer = open_inference_pb2.ModelInferRequest(model_name="model")
        infer.inputs.add(name="features", datatype="FP32", shape=[1, 4])
        infer.raw_input_contents.append(np.array([[0.5, -1.0, 2.0, 0.25]], "<f4").tobytes())
        assert len(stub.ModelInfer(infer).raw_output_contents) == 1
    for _ in range(3):  # whichever worker answers, the totals are the same
        text = request(process.port, "GET", "/metrics").body.decode()
        assert _metric(text, "modelport_request_duration_seconds_count", route="/v1/models/{model}:predict") == sent
        assert _metric(text, "modelport_request_duration_seconds_count", protocol="grpc", status="OK") == 1
        assert _metric(text, "modelport_model_ready", model="model") == 1
        assert re.search(r"^modelport_batch_size_count\{model=\"model\"\} ", text, re.M)
    process.terminate()
    assert process.process.wait(30) == 0
    assert "drained" in process.output() and "worker 0" in process.output() and "worker 1" in process.output()
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_a_worker_that_dies_stops_the_server(server: Callable[..., ServerProcess], models: dict[str, Path]) -> None:
    process = server(["--model-dir", str(models["mlp_tflite"])], {"WORKERS": "2", "PORT": str(free_port())})
    process.wait_ready()
    first, second = _children(process.process.pid)
    os.kill(first, signal.SIGKILL)
    assert process.process.wait(30) == 128 + signal.SIGKILL  # the worst exit code, as a shell reports a signal
    assert "stopping the others" in process.output()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{second}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", process.port), timeout=1).close()


def test_a_taken_port_fails_the_start(server: Callable[..., ServerProcess], models: dict[str, Path]) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        process = server(["--model-dir", str(models["mlp_tflite"])], {"WORKERS": "2", "PORT": str(port)})
        assert process.process.wait(60) == 1
        assert "cannot bind" in process.output()
    finally:
        taken.close()
