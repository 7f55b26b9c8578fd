"""A TF Serving client built only from TF Serving's own protos: run as a script by
``test_serving_tfserving_interop.py`` with the folder of the stubs that grpcio-tools generated from
``tfserving_protos/`` and the server's gRPC address. It puts that folder first on ``sys.path`` and never imports
TensorFlow or ``serving_image``, so the generated ``tensorflow.core.framework`` messages are the only ones in the
protobuf pool. It calls ``PredictionService`` and ``ModelService`` through the generated stubs and prints what it
got as one JSON object; the test asserts on it."""

from __future__ import annotations

import json
import sys
from typing import Any

STUBS, TARGET = sys.argv[1], sys.argv[2]
sys.path.insert(0, STUBS)

import grpc  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow  # noqa: E402  (the generated package: proven below)
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2  # noqa: E402
from tensorflow_serving.apis import (  # noqa: E402
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

VALUES = np.array([[0.5, 1.5], [2.0, -3.0], [4.0, 8.0]], dtype=np.float32)


def shape_of(values: np.ndarray) -> tensor_shape_pb2.TensorShapeProto:
    return tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=n) for n in values.shape])


def as_tensor_content(values: np.ndarray) -> tensor_pb2.TensorProto:
    return tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT, tensor_shape=shape_of(values), tensor_content=values.astype("<f4").tobytes()
    )


def as_float_val(values: np.ndarray) -> tensor_pb2.TensorProto:
    return tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT, tensor_shape=shape_of(values), float_val=values.ravel().tolist()
    )


def request(
    tensor: tensor_pb2.TensorProto,
    name: str = "model",
    version: int | None = None,
    label: str | None = None,
    signature: str = "",
    output_filter: tuple[str, ...] = (),
) -> predict_pb2.PredictRequest:
    message = predict_pb2.PredictRequest(output_filter=list(output_filter))
    message.model_spec.name = name
    if version is not None:
        message.model_spec.version.value = version
    if label is not None:
        message.model_spec.version_label = label
    message.model_spec.signature_name = signature
    message.inputs["x"].CopyFrom(tensor)
    return message


def answer(reply: predict_pb2.PredictResponse) -> dict[str, Any]:
    """The reply as TF Serving's client reads it: every output's dtype, shape and values, and the model spec."""
    outputs = {}
    for name, proto in reply.outputs.items():
        shape = [dim.size for dim in proto.tensor_shape.dim]
        if proto.tensor_content:
            values = np.frombuffer(proto.tensor_content, dtype="<f4").reshape(shape)
            encoding = "tensor_content"
        else:
            values = np.array(proto.float_val, dtype=np.float32).reshape(shape)
            encoding = "float_val"
        outputs[name] = {
            "dtype": types_pb2.DataType.Name(proto.dtype),
            "shape": shape,
            "encoding": encoding,
            "values": values.tolist(),
        }
    spec = reply.model_spec
    return {
        "outputs": outputs,
        "model_spec": {
            "name": spec.name,
            "version_choice": spec.WhichOneof("version_choice"),
            "version": spec.version.value,
            "signature_name": spec.signature_name,
        },
    }


def failure(call: Any, message: Any) -> dict[str, str]:
    try:
        call(message, timeout=30)
    except grpc.RpcError as error:
        return {"code": error.code().name, "details": error.details()}
    return {"code": "OK", "details": ""}


def foreign_modules() -> list[str]:
    """Modules of the server or of an installed TensorFlow loaded in this process: there must be none."""
    foreign = []
    for name, module in list(sys.modules.items()):
        top = name.split(".")[0]
        origin = getattr(module, "__file__", None) or ""
        if top in {"serving_image", "modelport"} or (top == "tensorflow" and not origin.startswith(STUBS)):
            foreign.append(name)
    return sorted(foreign)


def main() -> None:
    with grpc.insecure_channel(TARGET) as channel:
        predict = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict
        metadata = prediction_service_pb2_grpc.PredictionServiceStub(channel).GetModelMetadata
        status = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus
        wrong_dtype = tensor_pb2.TensorProto(
            dtype=types_pb2.DT_INT32, tensor_shape=shape_of(VALUES), int_val=[1, 2, 3, 4, 5, 6]
        )
        status_request = get_model_status_pb2.GetModelStatusRequest()
        status_request.model_spec.name = "model"
        status_request.model_spec.version.value = 1
        all_versions = get_model_status_pb2.GetModelStatusRequest()
        all_versions.model_spec.name = "model"
        metadata_request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        metadata_request.model_spec.name = "model"
        report = {
            "generated_tensorflow": tensorflow.__file__,
            "foreign_modules": foreign_modules(),
            "tensor_proto_file": tensor_pb2.DESCRIPTOR.name,
            "sent": VALUES.tolist(),
            "tensor_content": answer(
                predict(request(as_tensor_content(VALUES), version=1, signature="serving_default"), timeout=30)
            ),
            "float_val": answer(predict(request(as_float_val(VALUES), output_filter=("y",)), timeout=30)),
            "unknown_model": failure(predict, request(as_float_val(VALUES), name="missing")),
            "unknown_version": failure(predict, request(as_float_val(VALUES), version=7)),
            "wrong_dtype": failure(predict, request(wrong_dtype)),
            "version_label": failure(predict, request(as_float_val(VALUES), label="stable")),
            "unknown_signature": failure(predict, request(as_float_val(VALUES), signature="missing")),
            "status": [
                {
                    "version": entry.version,
                    "state": get_model_status_pb2.ModelVersionStatus.State.Name(entry.state),
                    "error_code": entry.status.error_code,
                }
                for entry in status(status_request, timeout=30).model_version_status
            ],
            "status_all_versions": [entry.version for entry in status(all_versions, timeout=30).model_version_status],
            "status_unknown_model": failure(
                status, get_model_status_pb2.GetModelStatusRequest(model_spec={"name": "missing"})
            ),
            "metadata": failure(metadata, metadata_request),
            # After every refusal above, the same channel still gets answers.
            "after_errors": answer(predict(request(as_tensor_content(VALUES), version=1), timeout=30)),
        }
    print(json.dumps(report))


main()
