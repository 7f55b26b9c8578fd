"""gRPC tensors to and from NumPy: TF Serving's ``TensorProto`` and the Open Inference Protocol's input and
output tensors, typed contents or raw little-endian bytes. Every failure is a :class:`BadRequest` naming the
tensor, like the JSON codecs."""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import BadRequest
from ..runtime.base import Signature
from ..tensors import STRING, TensorSpec, cast_array, dtype_from_kserve, format_shape, kserve_names, little_endian
from .protos import open_inference_pb2 as v2
from .protos import tensor_pb2

# tensorflow.DataType numbers → NumPy dtypes, and back.
_TF_DTYPES: dict[int, np.dtype] = {
    tensor_pb2.DT_FLOAT: np.dtype(np.float32),
    tensor_pb2.DT_DOUBLE: np.dtype(np.float64),
    tensor_pb2.DT_INT32: np.dtype(np.int32),
    tensor_pb2.DT_UINT8: np.dtype(np.uint8),
    tensor_pb2.DT_INT16: np.dtype(np.int16),
    tensor_pb2.DT_INT8: np.dtype(np.int8),
    tensor_pb2.DT_STRING: STRING,
    tensor_pb2.DT_INT64: np.dtype(np.int64),
    tensor_pb2.DT_BOOL: np.dtype(np.bool_),
    tensor_pb2.DT_UINT16: np.dtype(np.uint16),
    tensor_pb2.DT_HALF: np.dtype(np.float16),
    tensor_pb2.DT_UINT32: np.dtype(np.uint32),
    tensor_pb2.DT_UINT64: np.dtype(np.uint64),
}
_TF_NUMBERS = {dtype: number for number, dtype in _TF_DTYPES.items()}


def _tf_name(number: int) -> str:
    try:
        return tensor_pb2.DataType.Name(number)
    except ValueError:
        return f"DataType {number}"


def _typed_values(proto: Any, dtype: np.dtype) -> Sequence[Any]:
    if dtype == np.float32:
        return proto.float_val
    if dtype == np.float64:
        return proto.double_val
    if dtype in (np.int32, np.int16, np.int8, np.uint8, np.uint16):
        return proto.int_val
    if dtype == np.int64:
        return proto.int64_val
    if dtype == np.bool_:
        return proto.bool_val
    if dtype == np.uint32:
        return proto.uint32_val
    if dtype == np.uint64:
        return proto.uint64_val
    if dtype == np.float16:
        return proto.half_val
    return proto.string_val


def tensor_proto_to_array(name: str, proto: Any, spec: TensorSpec | None) -> np.ndarray:
    """A ``TensorProto`` as an array. Its dtype must be the model's (as TF Serving requires); a single typed
    value fills the whole shape, as in TensorFlow."""
    dtype = _TF_DTYPES.get(proto.dtype)
    if dtype is None:
        raise BadRequest(f"input {name!r}: dtype {_tf_name(proto.dtype)} is not supported")
    if spec is not None and dtype != spec.dtype:
        raise BadRequest(f"input {name!r} has dtype {_tf_name(proto.dtype)} but the model expects {spec.tf_dtype}")
    if proto.tensor_shape.unknown_rank:
        raise BadRequest(f"input {name!r}: a tensor sent to the model needs a known shape")
    shape = tuple(dim.size for dim in proto.tensor_shape.dim)
    if any(size < 0 for size in shape):
        raise BadRequest(f"input {name!r}: shape {format_shape(shape)} has a negative dimension")
    count = math.prod(shape)
    if proto.tensor_content:
        if dtype == STRING:
            raise BadRequest(f"input {name!r}: DT_STRING values go in string_val, not tensor_content")
        if len(proto.tensor_content) != count * dtype.itemsize:
            raise BadRequest(
                f"input {name!r}: tensor_content has {len(proto.tensor_content)} bytes but shape "
                f"{format_shape(shape)} of {dtype.name} needs {count * dtype.itemsize}"
            )
        array = np.frombuffer(proto.tensor_content, dtype=little_endian(dtype)).astype(dtype, copy=False)
        return array.reshape(shape)
    values = _typed_values(proto, dtype)
    if dtype == STRING:
        array = np.empty(len(values), dtype=object)
        array[:] = list(values)
    elif dtype == np.float16:
        array = np.asarray(values, dtype=np.uint16).view(np.float16)
    else:
        array = np.asarray(values, dtype=dtype)
    if array.size == 1 and count != 1:
        array = np.full(shape, array[0], dtype=dtype)  # TensorFlow's rule: one value fills the tensor
    elif array.size != count:
        raise BadRequest(f"input {name!r}: {array.size} values but shape {format_shape(shape)} needs {count}")
    return array.reshape(shape)


def array_to_tensor_proto(array: np.ndarray, proto: Any) -> None:
    """Fill ``proto`` (a ``TensorProto``) with ``array``: numbers as ``tensor_content``, strings as
    ``string_val``."""
    dtype = array.dtype
    number = _TF_NUMBERS.get(STRING if dtype.kind in "OSU" else dtype)
    if number is None:
        raise BadRequest(f"the model returned {dtype.name} values, which TensorProto cannot carry")
    proto.dtype = number
    for size in array.shape:
        proto.tensor_shape.dim.add(size=size)
    if number == tensor_pb2.DT_STRING:
        proto.string_val.extend(_as_bytes(item) for item in array.reshape(-1))
    else:
        proto.tensor_content = np.ascontiguousarray(array, dtype=little_endian(dtype)).tobytes()


def _as_bytes(item: Any) -> bytes:
    return item if isinstance(item, bytes) else str(item).encode()


# Open Inference Protocol datatypes → the InferTensorContents field that carries them.
_V2_FIELDS = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def _raw_bytes_elements(name: str, raw: bytes) -> np.ndarray:
    """BYTES raw contents: each element is a 4-byte little-endian length, then the bytes."""
    items: list[bytes] = []
    offset = 0
    view = memoryview(raw)
    while offset < len(view):
        if offset + 4 > len(view):
            raise BadRequest(f"input {name!r}: raw BYTES contents end inside a 4-byte length")
        (length,) = struct.unpack_from("<I", view, offset)
        offset += 4
        if offset + length > len(view):
            raise BadRequest(f"input {name!r}: a raw BYTES element of {length} bytes runs past the contents")
        items.append(bytes(view[offset : offset + length]))
        offset += length
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array


def raw_bytes_contents(array: np.ndarray) -> bytes:
    parts = []
    for item in array.reshape(-1):
        data = _as_bytes(item)
        parts.append(struct.pack("<I", len(data)))
        parts.append(data)
    return b"".join(parts)


def decode_v2_inputs(request: Any, signature: Signature) -> dict[str, np.ndarray]:
    """The named input arrays of a ``ModelInferRequest``, from typed contents or ``raw_input_contents``."""
    raw_contents = request.raw_input_contents
    if raw_contents and len(raw_contents) != len(request.inputs):
        raise BadRequest(
            f"raw_input_contents has {len(raw_contents)} entries for {len(request.inputs)} inputs; "
            "give one per input, in order"
        )
    arrays: dict[str, np.ndarray] = {}
    for index, tensor in enumerate(request.inputs):
        name = tensor.name
        spec = signature.inputs.get(name)
        if spec is None:
            raise BadRequest(f"inputs[{index}]: unknown input {name!r}; the model takes {list(signature.inputs)}")
        if name in arrays:
            raise BadRequest(f"input {name!r} is given twice")
        datatype = tensor.datatype
        dtype = dtype_from_kserve(datatype)
        if dtype is None:
            raise BadRequest(f"input {name!r}: datatype must be one of {kserve_names()} (got {datatype!r})")
        if datatype != spec.kserve_dtype:
            raise BadRequest(f"input {name!r} has datatype {datatype} but the model expects {spec.kserve_dtype}")
        shape = tuple(tensor.shape)
        if any(size < 0 for size in shape):
            raise BadRequest(f"input {name!r}: shape {format_shape(shape)} has a negative dimension")
        count = math.prod(shape)
        if raw_contents:
            if tensor.HasField("contents"):
                raise BadRequest(f"input {name!r} has contents, but the request uses raw_input_contents")
            raw = raw_contents[index]
            if dtype == STRING:
                array = _raw_bytes_elements(name, raw)
            else:
                if len(raw) != count * dtype.itemsize:
                    raise BadRequest(
                        f"input {name!r}: raw contents of {len(raw)} bytes but shape {format_shape(shape)} of "
                        f"{datatype} needs {count * dtype.itemsize}"
                    )
                array = np.frombuffer(raw, dtype=little_endian(dtype)).astype(dtype, copy=False)
        else:
            field = _V2_FIELDS.get(datatype)
            if field is None:
                raise BadRequest(f"input {name!r}: {datatype} travels only as raw_input_contents")
            values = getattr(tensor.contents, field)
            if dtype == STRING:
                array = np.empty(len(values), dtype=object)
                array[:] = list(values)
            else:
                array = cast_array(spec, np.asarray(values, dtype=_V2_WIDE.get(field, dtype)))
        if array.size != count:
            raise BadRequest(f"input {name!r}: {array.size} values but shape {format_shape(shape)} needs {count}")
        arrays[name] = array.reshape(shape)
    missing = [name for name in signature.inputs if name not in arrays]
    if missing:
        raise BadRequest(f"missing input {missing[0]!r}; the model takes {list(signature.inputs)}")
    return arrays


# Narrow integer types share a 32-bit field: read it wide, then cast_array checks the range.
_V2_WIDE = {"int_contents": np.dtype(np.int32), "uint_contents": np.dtype(np.uint32)}


def encode_v2_outputs(outputs: Mapping[str, np.ndarray], signature: Signature | None, response: Any, raw: bool) -> None:
    """Append the outputs to a ``ModelInferResponse``: as ``raw_output_contents`` when ``raw`` (what
    Triton's clients read), else as typed contents."""
    for name, value in outputs.items():
        spec = signature.outputs.get(name) if signature is not None else None
        dtype = STRING if value.dtype.kind in "OSU" else value.dtype
        datatype = spec.kserve_dtype if spec is not None else TensorSpec(name, dtype, None).kserve_dtype
        tensor = response.outputs.add(name=name, datatype=datatype, shape=value.shape)
        if raw:
            if dtype == STRING:
                response.raw_output_contents.append(raw_bytes_contents(value))
            else:
                response.raw_output_contents.append(np.ascontiguousarray(value, dtype=little_endian(dtype)).tobytes())
        elif datatype == "FP16":
            raise BadRequest(f"output {name!r} is FP16, which travels only as raw contents; send raw inputs")
        else:
            flat = value.reshape(-1)
            getattr(tensor.contents, _V2_FIELDS[datatype]).extend(
                [_as_bytes(v) for v in flat] if dtype == STRING else flat.tolist()
            )


def v2_tensor_metadata(spec: TensorSpec) -> Any:
    return v2.ModelMetadataResponse.TensorMetadata(name=spec.name, datatype=spec.kserve_dtype, shape=spec.dims)
