"""Interoperability of the gRPC front end with the peers' own clients: NVIDIA Triton's ``tritonclient[grpc]``
for KServe V2, and TensorFlow's own ``TensorProto`` (``tf.make_tensor_proto`` / ``tf.make_ndarray``) on TF
Serving's ``PredictionService/Predict`` method path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from serving_image.rpc.protos import tfserving_pb2

from .serving_helpers import FakeRuntime, ThreadedServer

tritonclient_grpc = pytest.importorskip("tritonclient.grpc")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ThreadedServer]:
    with ThreadedServer(tmp_path, FakeRuntime()) as server:
        yield server


def test_tritonclient_health_metadata_and_infer(served: ThreadedServer) -> None:
    from tritonclient.utils import InferenceServerException

    client = tritonclient_grpc.InferenceServerClient(f"127.0.0.1:{served.grpc_port}")
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("model")
    assert client.get_server_metadata().name == "modelport"
    metadata = client.get_model_metadata("model")
    assert [(i.name, i.datatype, list(i.shape)) for i in metadata.inputs] == [("x", "FP32", [-1, 2])]

    values = np.array([[0.5, 1.5], [2.0, -3.0], [4.0, 8.0]], dtype=np.float32)
    tensor = tritonclient_grpc.InferInput("x", list(values.shape), "FP32")
    tensor.set_data_from_numpy(values)
    result = client.infer(
        "model", [tensor], model_version="1", request_id="r7", outputs=[tritonclient_grpc.InferRequestedOutput("y")]
    )
    assert np.array_equal(result.as_numpy("y"), values * 2)
    assert result.get_response().id == "r7"

    wrong = tritonclient_grpc.InferInput("x", [1, 2], "INT32")
    wrong.set_data_from_numpy(np.array([[1, 2]], dtype=np.int32))
    with pytest.raises(InferenceServerException) as error:
        client.infer("model", [wrong])
    assert error.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "expects FP32" in error.value.message()
    with pytest.raises(InferenceServerException) as error:
        client.infer("missing", [tensor])
    assert error.value.status() == "StatusCode.NOT_FOUND"
    assert np.array_equal(client.infer("model", [tensor]).as_numpy("y"), values * 2)  # still serving
    client.close()


def _field(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field."""

    def varint(value: int) -> bytes:
        out = bytearray()
        while True:
            byte, value = value & 0x7F, value >> 7
            out.append(byte | (0x80 if value else 0))
            if not value:
                return bytes(out)

    return varint(number << 3 | 2) + varint(len(payload)) + payload


@pytest.mark.slow
def test_tensorflow_tensor_protos_on_the_predict_method(served: ThreadedServer) -> None:
    """The request carries TensorFlow's own serialized TensorProto; the answer parses as TensorFlow's own."""
    tf = pytest.importorskip("tensorflow")
    from tensorflow.core.framework import tensor_pb2 as tf_tensor_pb2

    values = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    for proto in (tf.make_tensor_proto(values), tf.make_tensor_proto(values.tolist(), dtype=tf.float32)):
        # PredictRequest{model_spec{name: "model"}, inputs{key: "x", value: <TensorFlow's TensorProto>}}
        body = _field(1, _field(1, b"model")) + _field(2, _field(1, b"x") + _field(2, proto.SerializeToString()))
        with grpc.insecure_channel(f"127.0.0.1:{served.grpc_port}") as channel:
            predict = channel.unary_unary(
                "/tensorflow.serving.PredictionService/Predict",
                request_serializer=lambda raw: raw,
                response_deserializer=tfserving_pb2.PredictResponse.FromString,
            )
            reply = predict(body)
        answer = tf_tensor_pb2.TensorProto.FromString(reply.outputs["y"].SerializeToString())
        assert answer.dtype == tf.float32.as_datatype_enum
        assert np.array_equal(tf.make_ndarray(answer), values * 2)
