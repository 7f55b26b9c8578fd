"""The gRPC front end against a real server (uvicorn and the gRPC transport in one event loop) serving a fake model:
KServe V2, TF Serving Predict and GetModelStatus, and grpc.health.v1, with the same answers and error
mapping as HTTP, and the same batcher."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from serving_image.rpc.protos import (
    health_pb2,
    health_service_pb2_grpc,
    open_inference_pb2,
    open_inference_service_pb2_grpc,
    tensor_pb2,
    tfserving_pb2,
    tfserving_service_pb2_grpc,
)

from .serving_helpers import FakeRuntime, ThreadedServer, request


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ThreadedServer, FakeRuntime]]:
    runtime = FakeRuntime()
    with ThreadedServer(tmp_path, runtime) as server:
        yield server, runtime


@pytest.fixture
def channel(served: tuple[ThreadedServer, FakeRuntime]) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{served[0].grpc_port}") as channel:
        yield channel


def _v2_request(values: np.ndarray, raw: bool = True, **fields: object) -> open_inference_pb2.ModelInferRequest:
    request = open_inference_pb2.ModelInferRequest(model_name="model", **fields)
    tensor = request.inputs.add(name="x", datatype="FP32", shape=values.shape)
    if raw:
        request.raw_input_contents.append(values.astype("<f4").tobytes())
    else:
        tensor.contents.fp32_contents.extend(values.reshape(-1).tolist())
    return request


def test_v2_health_and_metadata(channel: grpc.Channel) -> None:
    stub = open_inference_service_pb2_grpc.GRPCInferenceServiceStub(channel)
    assert stub.ServerLive(open_inference_pb2.ServerLiveRequest()).live
    assert stub.ServerReady(open_inference_pb2.ServerReadyRequest()).ready
    assert stub.ModelReady(open_inference_pb2.ModelReadyRequest(name="model", version="1")).ready
    assert stub.ServerMetadata(open_inference_pb2.ServerMetadataRequest()).name == "modelport"
    metadata = stub.ModelMetadata(open_inference_pb2.ModelMetadataRequest(name="model"))
    assert (metadata.name, list(metadata.versions), metadata.platform) == ("model", ["1"], "fake")
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.inputs] == [("x", "FP32", [-1, 2])]
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.outputs] == [("y", "FP32", [-1, 2])]
    with pytest.raises(grpc.RpcError) as error:
        stub.ModelReady(open_inference_pb2.ModelReadyRequest(name="other"))
    assert error.value.code() is grpc.StatusCode.NOT_FOUND
    assert "'other'" in error.value.details()
    with pytest.raises(grpc.RpcError) as error:
        stub.ModelMetadata(open_inference_pb2.ModelMetadataRequest(name="model", version="7"))
    assert error.value.code() is grpc.StatusCode.NOT_FOUND


def test_v2_infer_raw_and_typed(channel: grpc.Channel) -> None:
    stub = open_inference_service_pb2_grpc.GRPCInferenceServiceStub(channel)
    values = np.array([[1.0, 2.0], [3.0, 4.5]], dtype=np.float32)
    reply = stub.ModelInfer(_v2_request(values, raw=True, id="req-1"))
    assert (reply.model_name, reply.model_version, reply.id) == ("model", "1", "req-1")
    assert [(t.name, t.datatype, list(t.shape)) for t in reply.outputs] == [("y", "FP32", [2, 2])]
    assert np.array_equal(np.frombuffer(reply.raw_output_contents[0], "<f4").reshape(2, 2), values * 2)
    typed = stub.ModelInfer(_v2_request(values, raw=False))
    assert not typed.raw_output_contents
    assert list(typed.outputs[0].contents.fp32_contents) == (values * 2).reshape(-1).tolist()


@pytest.mark.parametrize(
    ("mutate", "code", "words"),
    [
        (lambda r: r.inputs[0].__setattr__("name", "z"), grpc.StatusCode.INVALID_ARGUMENT, "unknown input 'z'"),
        (lambda r: r.inputs[0].__setattr__("datatype", "FP64"), grpc.StatusCode.INVALID_ARGUMENT, "FP32"),
        (lambda r: r.inputs[0].shape.__setitem__(1, 3), grpc.StatusCode.INVALID_ARGUMENT, "needs 12"),
        (lambda r: r.raw_input_contents.append(b"x"), grpc.StatusCode.INVALID_ARGUMENT, "raw_input_contents"),
        (lambda r: r.__setattr__("model_name", "nope"), grpc.StatusCode.NOT_FOUND, "'nope'"),
        (lambda r: r.__setattr__("model_version", "9"), grpc.StatusCode.NOT_FOUND, "no version '9'"),
        (lambda r: r.outputs.add(name="q"), grpc.StatusCode.INVALID_ARGUMENT, "unknown output 'q'"),
    ],
)
def test_v2_errors_map_to_grpc_codes_and_the_next_call_works(
    channel: grpc.Channel, mutate: object, code: grpc.StatusCode, words: str
) -> None:
    stub = open_inference_service_pb2_grpc.GRPCInferenceServiceStub(channel)
    values = np.ones((1, 2), dtype=np.float32)
    bad = _v2_request(values)
    mutate(bad)  # type: ignore[operator]
    with pytest.raises(grpc.RpcError) as error:
        stub.ModelInfer(bad)
    assert error.value.code() is code
    assert words in error.value.details()
    assert np.frombuffer(stub.ModelInfer(_v2_request(values)).raw_output_contents[0], "<f4").tolist() == [2.0, 2.0]


def test_model_failure_is_internal_and_the_server_keeps_serving(channel: grpc.Channel) -> None:
    stub = open_inference_service_pb2_grpc.GRPCInferenceServiceStub(channel)
    with pytest.raises(grpc.RpcError) as error:
        stub.ModelInfer(_v2_request(np.full((1, 2), 13, dtype=np.float32)))
    assert error.value.code() is grpc.StatusCode.INTERNAL
    assert "refuses 13" in error.value.details()
    assert stub.ModelInfer(_v2_request(np.ones((1, 2), np.float32))).raw_output_contents


def test_tfserving_predict_with_tensor_proto(channel: grpc.Channel) -> None:
    stub = tfserving_service_pb2_grpc.PredictionServiceStub(channel)
    request = tfserving_pb2.PredictRequest()
    request.model_spec.name = "model"
    tensor = request.inputs["x"]
    tensor.dtype = tensor_pb2.DT_FLOAT
    tensor.tensor_shape.dim.add(size=1)
    tensor.tensor_shape.dim.add(size=2)
    tensor.float_val.extend([1.5, -2.0])
    reply = stub.Predict(request)
    assert (reply.model_spec.name, reply.model_spec.version.value) == ("model", 1)
    assert reply.model_spec.signature_name == "serving_default"
    out = reply.outputs["y"]
    assert out.dtype == tensor_pb2.DT_FLOAT
    assert [d.size for d in out.tensor_shape.dim] == [1, 2]
    assert np.frombuffer(out.tensor_content, "<f4").tolist() == [3.0, -4.0]
    # One value fills the shape, as in TensorFlow; tensor_content is read as little-endian bytes.
    del tensor.float_val[:]
    tensor.float_val.append(0.5)
    assert np.frombuffer(stub.Predict(request).outputs["y"].tensor_content, "<f4").tolist() == [1.0, 1.0]
    tensor.ClearField("float_val")
    tensor.tensor_content = np.array([[4.0, 5.0]], "<f4").tobytes()
    assert np.frombuffer(stub.Predict(request).outputs["y"].tensor_content, "<f4").tolist() == [8.0, 10.0]


@pytest.mark.parametrize(
    ("mutate", "code", "words"),
    [
        (lambda r: r.inputs["x"].__setattr__("dtype", tensor_pb2.DT_DOUBLE), "INVALID_ARGUMENT", "DT_FLOAT"),
        (lambda r: r.model_spec.version.__setattr__("value", 3), "NOT_FOUND", "no version"),
        (lambda r: r.model_spec.__setattr__("version_label", "stable"), "INVALID_ARGUMENT", "version_label"),
        (lambda r: r.model_spec.__setattr__("signature_name", "nope"), "FAILED_PRECONDITION", "no signature"),
        (lambda r: r.inputs["x"].tensor_shape.dim.add(size=5), "INVALID_ARGUMENT", "needs 10"),
        (lambda r: r.inputs["extra"].CopyFrom(r.inputs["x"]), "INVALID_ARGUMENT", "unknown input 'extra'"),
    ],
)
def test_tfserving_errors(channel: grpc.Channel, mutate: object, code: str, words: str) -> None:
    stub = tfserving_service_pb2_grpc.PredictionServiceStub(channel)
    request = tfserving_pb2.PredictRequest()
    request.model_spec.name = "model"
    tensor = request.inputs["x"]
    tensor.dtype = tensor_pb2.DT_FLOAT
    tensor.tensor_shape.dim.add(size=1)
    tensor.tensor_shape.dim.add(size=2)
    tensor.float_val.extend([1.0, 2.0])
    mutate(request)  # type: ignore[operator]
    with pytest.raises(grpc.RpcError) as error:
        stub.Predict(request)
    assert error.value.code().name == code
    assert words in error.value.details()


def test_tfserving_model_status(channel: grpc.Channel) -> None:
    stub = tfserving_service_pb2_grpc.ModelServiceStub(channel)
    request = tfserving_pb2.GetModelStatusRequest()
    request.model_spec.name = "model"
    status = stub.GetModelStatus(request).model_version_status
    assert [(s.version, s.state, s.status.error_code) for s in status] == [
        (1, tfserving_pb2.ModelVersionStatus.AVAILABLE, tfserving_pb2.OK)
    ]
    request.model_spec.name = "other"
    with pytest.raises(grpc.RpcError) as error:
        stub.GetModelStatus(request)
    assert error.value.code() is grpc.StatusCode.NOT_FOUND


def test_health_check_follows_readiness(served: tuple[ThreadedServer, FakeRuntime], channel: grpc.Channel) -> None:
    stub = health_service_pb2_grpc.HealthStub(channel)
    serving = health_pb2.HealthCheckResponse.SERVING
    for name in ("", "inference.GRPCInferenceService", "tensorflow.serving.PredictionService", "model"):
        assert stub.Check(health_pb2.HealthCheckRequest(service=name)).status == serving
    with pytest.raises(grpc.RpcError) as error:
        stub.Check(health_pb2.HealthCheckRequest(service="unknown.Service"))
    assert error.value.code() is grpc.StatusCode.NOT_FOUND
    watch = stub.Watch(health_pb2.HealthCheckRequest(service=""))
    assert next(watch).status == serving
    served[0].service.repository.begin_drain()
    assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
    assert list(watch) == []  # the stream ends, so it does not hold the drain
    assert stub.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.NOT_SERVING


def test_grpc_and_http_share_one_batcher_and_the_metrics(
    served: tuple[ThreadedServer, FakeRuntime], channel: grpc.Channel
) -> None:
    server, runtime = served
    stub = open_inference_service_pb2_grpc.GRPCInferenceServiceStub(channel)
    runtime.gate.clear()  # hold inference so calls from both protocols queue up together
    futures = [stub.ModelInfer.future(_v2_request(np.ones((1, 2), np.float32))) for _ in range(3)]
    http_results: list[int] = []
    http = threading.Thread(
        target=lambda: http_results.append(
            request(server.port, "POST", "/v1/models/model:predict", {"instances": [[1.0, 1.0]]}).status
        )
    )
    http.start()
    deadline = __import__("time").monotonic() + 10
    while server.service.counts.in_flight < 4 and __import__("time").monotonic() < deadline:
        __import__("time").sleep(0.01)
    runtime.gate.set()
    http.join(10)
    assert [f.result().raw_output_contents[0] for f in futures] == [np.full(2, 2, "<f4").tobytes()] * 3
    assert http_results == [200]
    assert sum(runtime.calls[-2:]) >= 3, runtime.calls  # gRPC and HTTP rows were batched together
    metrics = request(server.port, "GET", "/metrics").body.decode()
    assert (
        'modelport_request_duration_seconds_count{model="model",protocol="grpc",'
        'route="/inference.GRPCInferenceService/ModelInfer",status="OK"} 3.0' in metrics
    ), metrics


def test_sigterm_drains_grpc_calls_in_flight(tmp_path: Path) -> None:
    runtime = FakeRuntime()
    server = ThreadedServer(tmp_path, runtime, {"GRACEFUL_TIMEOUT": "8"})
    with server:
        channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
        stub = open_inference_service_pb2_grpc.GRPCInferenceServiceStub(channel)
        stub.ServerReady(open_inference_pb2.ServerReadyRequest())
        runtime.gate.clear()
        pending = [stub.ModelInfer.future(_v2_request(np.ones((1, 2), np.float32))) for _ in range(4)]
        deadline = __import__("time").monotonic() + 10
        while server.service.counts.in_flight < 4 and __import__("time").monotonic() < deadline:
            __import__("time").sleep(0.01)
        stopper = threading.Thread(target=server.stop)
        stopper.start()
        __import__("time").sleep(0.3)
        assert not server.service.repository.ready
        runtime.gate.set()
        stopper.join(20)
        assert [len(f.result().raw_output_contents) for f in pending] == [1, 1, 1, 1]
        with pytest.raises(grpc.RpcError) as error:
            stub.ServerLive(open_inference_pb2.ServerLiveRequest(), timeout=2)
        assert error.value.code() is grpc.StatusCode.UNAVAILABLE
        channel.close()
    assert not server.thread.is_alive()
    assert server.service.counts.accepted == server.service.counts.answered


def test_committed_stubs_are_current_and_target_protobuf_5() -> None:
    import subprocess
    import sys

    from serving_image.rpc import generate

    # In its own process: grpc_tools' bundled protoc clashes with TensorFlow's protobuf once both are loaded.
    check = subprocess.run(
        [sys.executable, "-m", "serving_image.rpc.generate", "--check"],
        cwd=generate.ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    for path in generate.PROTOS.glob("*_pb2.py"):
        assert "# Protobuf Python Version: 5.29." in path.read_text(), path.name


def test_grpc_messages_do_not_claim_tensorflow_or_inference_names() -> None:
    """TensorFlow registers tensorflow.TensorProto and Triton's client inference.*; ours must not collide."""
    from google.protobuf import descriptor_pool

    from serving_image.rpc.protos import health_pb2 as _health  # noqa: F401

    pool = descriptor_pool.Default()
    for name in ("modelport.tensorflow.TensorProto", "modelport.inference.ModelInferRequest"):
        assert pool.FindMessageTypeByName(name).full_name == name
    assert tensor_pb2.TensorProto.DESCRIPTOR.full_name.startswith("modelport.")
