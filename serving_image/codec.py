"""Request and response bodies of the JSON protocols, to and from named NumPy arrays: TF Serving's row
(``instances``) and columnar (``inputs``) formats, KServe V2 tensors, CSV and JSON Lines."""

from __future__ import annotations

import csv
import enum
import gc
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from . import tensorjson
from .errors import BadRequest, NotAcceptable
from .runtime.base import Signature
from .tensors import STRING, cast_array, dtype_from_kserve, format_shape, kserve_names, little_endian, to_array

Arrays = dict[str, np.ndarray]


# Bodies smaller than this allocate too few objects to trigger a collection; they skip the pause.
_GC_PAUSE_BYTES = 16 * 1024


class gc_paused:  # noqa: N801 - used like contextlib's function-style managers
    """Hold the cyclic garbage collector while a large body is decoded.

    A JSON image decoded by the generic path is tens of thousands of small lists; allocating them triggers
    dozens of collections per request that rescan every other in-flight body, and throughput collapses under
    concurrency (MobileNetV2 JSON at 32 callers: 2 req/s with collections, see serving_image/README.md). The
    lists hold no cycles and are freed by reference counting as soon as decoding returns, so pausing the
    collector here loses nothing. A class, not ``contextlib.contextmanager``: this runs on every request."""

    __slots__ = ("_pause",)

    def __init__(self, raw: bytes) -> None:
        self._pause = len(raw) >= _GC_PAUSE_BYTES and gc.isenabled()

    def __enter__(self) -> None:
        if self._pause:
            gc.disable()

    def __exit__(self, *exc_info: object) -> None:
        if self._pause:
            gc.enable()


def parse_json(raw: bytes) -> Any:
    """The decoded body. In large bodies, numeric arrays come back as NumPy arrays (see :mod:`.tensorjson`);
    everything that reads tensor values accepts both."""
    if not raw:
        raise BadRequest("the request body is empty; send a JSON document")
    if len(raw) >= tensorjson.MIN_BODY_BYTES and (decoded := tensorjson.loads(raw)) is not None:
        return decoded
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"malformed JSON: {exc}") from None


class Format(enum.Enum):
    ROW = "instances"
    COLUMNAR = "inputs"


def _named(value: Any) -> bool:
    """A JSON object keyed by input names (as opposed to a ``{"b64": ...}`` string value)."""
    return isinstance(value, dict) and set(value) != {"b64"}


def _check_names(signature: Signature, given: Sequence[str], where: str) -> None:
    expected = list(signature.inputs)
    unknown = [name for name in given if name not in signature.inputs]
    if unknown:
        raise BadRequest(f"{where}: unknown input {unknown[0]!r}; the model takes {expected}")
    missing = [name for name in expected if name not in given]
    if missing:
        raise BadRequest(f"{where}: missing input {missing[0]!r}; the model takes {expected}")


def _single_input(signature: Signature, where: str) -> str:
    if len(signature.inputs) != 1:
        raise BadRequest(
            f"{where}: the model takes {len(signature.inputs)} inputs {list(signature.inputs)}; "
            "key each value by input name"
        )
    return next(iter(signature.inputs))


@dataclass(frozen=True)
class TFServingRequest:
    """A TF Serving ``:predict`` body split into its parts, before the signature is known."""

    signature_name: str | None
    format: Format
    payload: Any


def parse_tfserving(body: Any, *, allow_columnar: bool = True) -> TFServingRequest:
    """Check the envelope: an object with exactly one of ``instances`` and ``inputs``."""
    accepted = "'instances'" + (" or 'inputs'" if allow_columnar else "")
    if not isinstance(body, dict):
        raise BadRequest(f"the body must be a JSON object with {accepted}")
    has_rows, has_columns = "instances" in body, "inputs" in body
    if has_rows and has_columns:
        raise BadRequest("give either 'instances' (row format) or 'inputs' (columnar format), not both")
    if has_columns and not allow_columnar:
        raise BadRequest("this route takes {'instances': [...]}; 'inputs' (columnar format) is not accepted here")
    if not (has_rows or has_columns):
        raise BadRequest(f"the body has no {accepted}")
    signature_name = body.get("signature_name")
    if signature_name is not None and not isinstance(signature_name, str):
        raise BadRequest("'signature_name' must be a string")
    if has_rows:
        return TFServingRequest(signature_name, Format.ROW, body["instances"])
    return TFServingRequest(signature_name, Format.COLUMNAR, body["inputs"])


def decode_instances(instances: Any, signature: Signature) -> Arrays:
    """Row format: a list of instances, each a value (one-input models) or an object keyed by input name."""
    if not isinstance(instances, list | np.ndarray) or not len(instances):
        raise BadRequest("'instances' must be a non-empty list")
    if _named(instances[0]):
        for index, instance in enumerate(instances):
            if not _named(instance):
                raise BadRequest(f"instances[{index}] must be an object keyed by input name like instances[0]")
            _check_names(signature, list(instance), f"instances[{index}]")
        return {
            name: to_array(spec, [instance[name] for instance in instances]) for name, spec in signature.inputs.items()
        }
    name = _single_input(signature, "instances")
    return {name: to_array(signature.inputs[name], instances)}


def decode_columnar(inputs: Any, signature: Signature) -> Arrays:
    """Columnar format: one tensor (one-input models) or an object of tensors keyed by input name."""
    if _named(inputs):
        _check_names(signature, list(inputs), "inputs")
        return {name: to_array(spec, inputs[name]) for name, spec in signature.inputs.items()}
    name = _single_input(signature, "inputs")
    return {name: to_array(signature.inputs[name], inputs)}


def decode_tfserving(request: TFServingRequest, signature: Signature) -> Arrays:
    if request.format is Format.ROW:
        return decode_instances(request.payload, signature)
    return decode_columnar(request.payload, signature)


def decode_tfserving_body(
    raw: bytes, signature_for: Callable[[str | None], Signature], *, allow_columnar: bool = True
) -> tuple[Signature, Arrays, Format]:
    """A whole ``:predict`` body to the signature it names, its input arrays and its format. Nothing of the
    parsed JSON outlives this call."""
    body = parse_tfserving(parse_json(raw), allow_columnar=allow_columnar)
    signature = signature_for(body.signature_name)
    return signature, decode_tfserving(body, signature), body.format


def encode_rows(outputs: Mapping[str, np.ndarray]) -> Any:
    """``predictions``: the rows of the only output, or one object per row keyed by output name."""
    if len(outputs) == 1:
        return next(iter(outputs.values()))
    rows = len(next(iter(outputs.values())))
    return [{name: value[i] for name, value in outputs.items()} for i in range(rows)]


def encode_columns(outputs: Mapping[str, np.ndarray]) -> Any:
    """``outputs``: the only output's tensor, or an object of tensors keyed by output name."""
    if len(outputs) == 1:
        return next(iter(outputs.values()))
    return dict(outputs)


# --- KServe V2 (Open Inference Protocol) ------------------------------------------------------------------


@dataclass(frozen=True)
class KServeRequest:
    inputs: Arrays
    outputs: list[str] | None
    id: str | None
    parameters: Mapping[str, Any] | None


class _BinaryData:
    """The raw tensor bytes after the JSON header (the binary tensor data extension), read in input order."""

    def __init__(self, data: bytes) -> None:
        self.view = memoryview(data)
        self.offset = 0

    def take(self, name: str, size: Any) -> memoryview:
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise BadRequest(f"input {name!r}: parameters.binary_data_size must be a non-negative integer")
        if self.offset + size > len(self.view):
            raise BadRequest(
                f"input {name!r}: binary_data_size {size} runs past the {len(self.view) - self.offset} bytes left"
            )
        chunk = self.view[self.offset : self.offset + size]
        self.offset += size
        return chunk


def _kserve_tensor(
    index: int, tensor: Any, signature: Signature, binary: _BinaryData | None = None
) -> tuple[str, np.ndarray]:
    where = f"inputs[{index}]"
    if not isinstance(tensor, dict):
        raise BadRequest(f"{where} must be an object with name, shape, datatype and data")
    name = tensor.get("name")
    if not isinstance(name, str):
        raise BadRequest(f"{where}.name must be a string")
    spec = signature.inputs.get(name)
    if spec is None:
        raise BadRequest(f"{where}: unknown input {name!r}; the model takes {list(signature.inputs)}")
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise BadRequest(f"input {name!r}: shape must be a list of non-negative integers")
    datatype = tensor.get("datatype")
    if not isinstance(datatype, str) or dtype_from_kserve(datatype) is None:
        raise BadRequest(f"input {name!r}: datatype must be one of {kserve_names()} (got {datatype!r})")
    if datatype != spec.kserve_dtype:
        raise BadRequest(f"input {name!r} has datatype {datatype} but the model expects {spec.kserve_dtype}")
    parameters = tensor.get("parameters")
    if isinstance(parameters, dict) and "binary_data_size" in parameters:
        if binary is None:
            raise BadRequest(
                f"input {name!r} names binary_data_size but the request has no Inference-Header-Content-Length"
            )
        if spec.dtype == STRING:
            raise BadRequest(f"input {name!r}: binary BYTES tensors are not supported; send strings as JSON data")
        chunk = binary.take(name, parameters["binary_data_size"])
        itemsize = spec.dtype.itemsize
        if len(chunk) % itemsize:
            raise BadRequest(f"input {name!r}: {len(chunk)} bytes is not a whole number of {datatype} values")
        array = np.frombuffer(chunk, dtype=little_endian(spec.dtype)).astype(spec.dtype, copy=False)
    elif "data" not in tensor:
        raise BadRequest(f"input {name!r} has no 'data'")
    elif spec.dtype == STRING:
        array = to_array(spec, tensor["data"])
    else:
        try:
            raw = np.asarray(tensor["data"])
        except ValueError:
            raise BadRequest(f"input {name!r} is ragged: every row must have the same shape") from None
        array = cast_array(spec, raw)
    if array.size != math.prod(shape):
        raise BadRequest(
            f"input {name!r}: data has {array.size} elements but shape {format_shape(tuple(shape))} "
            f"needs {math.prod(shape)}"
        )
    return name, array.reshape(shape)


def decode_kserve(body: Any, signature: Signature, binary: bytes | None = None) -> KServeRequest:
    """A V2 inference request. ``binary`` holds the bytes after the JSON header when the client used the
    binary tensor data extension (inputs with ``parameters.binary_data_size``)."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object with an 'inputs' list")
    tensors = body.get("inputs")
    if not isinstance(tensors, list) or not tensors:
        raise BadRequest("'inputs' must be a non-empty list of tensors")
    arrays: Arrays = {}
    data = _BinaryData(binary) if binary is not None else None
    for index, tensor in enumerate(tensors):
        name, array = _kserve_tensor(index, tensor, signature, data)
        if name in arrays:
            raise BadRequest(f"input {name!r} is given twice")
        arrays[name] = array
    _check_names(signature, list(arrays), "inputs")
    if data is not None and data.offset != len(data.view):
        raise BadRequest(f"{len(data.view) - data.offset} bytes of binary data follow the tensors that use them")
    wanted = body.get("outputs")
    names: list[str] | None = None
    if wanted is not None:
        if not isinstance(wanted, list) or not all(
            isinstance(o, dict) and isinstance(o.get("name"), str) for o in wanted
        ):
            raise BadRequest("'outputs' must be a list of objects with a 'name'")
        names = [o["name"] for o in wanted]
    request_id = body.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise BadRequest("'id' must be a string")
    parameters = body.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise BadRequest("'parameters' must be an object")
    return KServeRequest(arrays, names, request_id, parameters)


def encode_kserve_outputs(outputs: Mapping[str, np.ndarray], signature: Signature) -> list[dict[str, Any]]:
    encoded = []
    for name, value in outputs.items():
        spec = signature.outputs.get(name)
        datatype = spec.kserve_dtype if spec is not None else "FP32"
        encoded.append({"name": name, "datatype": datatype, "shape": list(value.shape), "data": value.reshape(-1)})
    return encoded


# --- SageMaker's text formats ------------------------------------------------------------------------------


def parse_csv(raw: bytes) -> list[list[str]]:
    """Each non-empty line is one instance; fields are numbers (converted to the input dtype later)."""
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise BadRequest("the CSV body is not UTF-8 text") from None
    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    if not rows:
        raise BadRequest("the CSV body has no rows")
    return [[field.strip() for field in row] for row in rows]


def csv_to_numbers(rows: list[list[str]], name: str) -> list[list[float | int]]:
    converted: list[list[float | int]] = []
    for line, row in enumerate(rows, start=1):
        values: list[float | int] = []
        for field in row:
            try:
                values.append(int(field) if field.lstrip("+-").isdigit() else float(field))
            except ValueError:
                raise BadRequest(f"input {name!r}: CSV line {line} has a non-numeric field {field!r}") from None
        converted.append(values)
    return converted


def parse_json_lines(raw: bytes) -> list[Any]:
    """Each non-empty line is one JSON instance."""
    instances = []
    for line_number, line in enumerate(raw.splitlines(), start=1):
        if line.strip():
            try:
                instances.append(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                raise BadRequest(f"malformed JSON on line {line_number}: {exc}") from None
    if not instances:
        raise BadRequest("the JSON Lines body has no lines")
    return instances


def to_csv(predictions: np.ndarray) -> bytes:
    """One line per row; numbers in the shortest form that reads back to the same value (as in JSON)."""
    if predictions.ndim > 2:
        raise NotAcceptable(
            f"an output of shape {format_shape(predictions.shape)} cannot be written as CSV rows; accept JSON"
        )
    if predictions.dtype == STRING:
        raise NotAcceptable("string outputs are not written as CSV; accept JSON")
    rows = np.ascontiguousarray(
        predictions.reshape(len(predictions), -1) if predictions.ndim else predictions.reshape(1, 1)
    )
    return b"".join(orjson.dumps(row, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1] + b"\n" for row in rows)
