"""Tensor descriptions shared by runtimes and protocols, and the checked conversion of JSON values into
NumPy arrays of a model's input dtype and shape."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import BadRequest

STRING = np.dtype(object)  # TensorFlow DT_STRING / KServe BYTES: Python ``bytes`` in an object array

_TF_NAMES = {
    "float16": "DT_HALF",
    "float32": "DT_FLOAT",
    "float64": "DT_DOUBLE",
    "int8": "DT_INT8",
    "int16": "DT_INT16",
    "int32": "DT_INT32",
    "int64": "DT_INT64",
    "uint8": "DT_UINT8",
    "uint16": "DT_UINT16",
    "uint32": "DT_UINT32",
    "uint64": "DT_UINT64",
    "bool": "DT_BOOL",
    "object": "DT_STRING",
}
_KSERVE_NAMES = {
    "float16": "FP16",
    "float32": "FP32",
    "float64": "FP64",
    "int8": "INT8",
    "int16": "INT16",
    "int32": "INT32",
    "int64": "INT64",
    "uint8": "UINT8",
    "uint16": "UINT16",
    "uint32": "UINT32",
    "uint64": "UINT64",
    "bool": "BOOL",
    "object": "BYTES",
}
SUPPORTED_DTYPES = frozenset(np.dtype(name) for name in _TF_NAMES)
# Keyed by dtype object: ``dtype.name`` is computed in Python on every access, a dict lookup by dtype is not.
_TF_BY_DTYPE = {np.dtype(name): tf_name for name, tf_name in _TF_NAMES.items()}
_KSERVE_BY_DTYPE = {np.dtype(name): kserve_name for name, kserve_name in _KSERVE_NAMES.items()}
_DTYPE_BY_KSERVE = {kserve_name: dtype for dtype, kserve_name in _KSERVE_BY_DTYPE.items()}
_LITTLE_ENDIAN: dict[np.dtype, np.dtype] = {}


def little_endian(dtype: np.dtype) -> np.dtype:
    """``dtype`` in little-endian byte order, the order of every binary tensor encoding the server speaks."""
    found = _LITTLE_ENDIAN.get(dtype)
    if found is None:
        found = _LITTLE_ENDIAN[dtype] = dtype.newbyteorder("<")
    return found


@dataclass(frozen=True)
class TensorSpec:
    """One named input or output: its NumPy dtype and shape, ``None`` for an unknown dimension and
    ``shape=None`` for an unknown rank."""

    name: str
    dtype: np.dtype
    shape: tuple[int | None, ...] | None

    @property
    def batched(self) -> bool:
        """Whether dimension 0 is free, so rows of several requests can be stacked along it."""
        return self.shape is not None and len(self.shape) >= 1 and self.shape[0] is None

    @property
    def tf_dtype(self) -> str:
        return _TF_BY_DTYPE[self.dtype]

    @property
    def kserve_dtype(self) -> str:
        return _KSERVE_BY_DTYPE[self.dtype]

    @property
    def dims(self) -> list[int]:
        """The shape with ``-1`` for unknown dimensions, as TF Serving and KServe print it."""
        return [-1 if d is None else d for d in self.shape or ()]


def dtype_from_kserve(name: str) -> np.dtype | None:
    return _DTYPE_BY_KSERVE.get(name)


def kserve_names() -> list[str]:
    return sorted(_KSERVE_NAMES.values())


def format_shape(shape: tuple[int | None, ...] | tuple[int, ...] | None) -> str:
    if shape is None:
        return "[unknown rank]"
    return "[" + ", ".join("-1" if d is None else str(d) for d in shape) + "]"


def _decode_string(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, Mapping) and set(value) == {"b64"} and isinstance(value["b64"], str):
        return base64.b64decode(value["b64"], validate=True)
    raise TypeError(f"expected a string or {{'b64': ...}}, got {type(value).__name__}")


def _to_strings(spec: TensorSpec, value: Any) -> np.ndarray:
    try:
        raw = np.asarray(value, dtype=object)
        return np.frompyfunc(_decode_string, 1, 1)(raw).astype(object, copy=False)
    except (TypeError, ValueError, binascii.Error) as exc:
        raise BadRequest(f"input {spec.name!r} must hold strings or {{'b64': ...}} objects: {exc}") from None


def to_array(spec: TensorSpec, value: Any) -> np.ndarray:
    """Convert a decoded JSON value into an array of ``spec.dtype``. Raises :class:`BadRequest` naming the
    input when the value is ragged or of an incompatible type. The shape is checked by :func:`check_shape`."""
    if spec.dtype == STRING:
        return _to_strings(spec, value)
    try:
        raw = np.asarray(value)
    except ValueError:
        raise BadRequest(f"input {spec.name!r} is ragged: every row must have the same shape") from None
    return cast_array(spec, raw)


def cast_array(spec: TensorSpec, raw: np.ndarray) -> np.ndarray:
    """Cast an array to ``spec.dtype`` when no value changes meaning; raise :class:`BadRequest` otherwise."""
    target = spec.dtype
    kind = raw.dtype.kind
    target_kind = target.kind
    if target_kind == "f" and kind in "iuf":  # the common case first: numbers for a float input
        return raw if raw.dtype == target else raw.astype(target)
    if raw.dtype == target:
        return raw

    def refuse(what: str) -> BadRequest:
        return BadRequest(f"input {spec.name!r} expects {target.name} values, got {what}")

    if kind in "OUS":
        raise refuse("strings" if kind in "US" else "nulls, objects or ragged rows")
    if target_kind == "b":
        if kind != "b":
            raise refuse(f"{raw.dtype.name} (send true or false)")
        return raw.astype(target)
    if kind == "b":
        raise refuse("booleans")
    if target_kind in "iu":
        if kind == "c":
            raise refuse("complex numbers")
        if kind == "f" and (not np.all(np.isfinite(raw)) or not np.array_equal(raw, np.floor(raw))):
            raise refuse("numbers with a fractional part")
        info = np.iinfo(target)
        if raw.size and (raw.min() < info.min or raw.max() > info.max):
            raise refuse(f"values outside [{info.min}, {info.max}]")
        return raw.astype(target)
    raise refuse(raw.dtype.name)


def check_shape(spec: TensorSpec, array: np.ndarray) -> None:
    """Raise :class:`BadRequest` naming the input when ``array`` does not fit ``spec.shape``."""
    expected = spec.shape
    if expected is None:
        return
    shape = array.shape
    if len(shape) == len(expected):
        for want, got in zip(expected, shape, strict=True):
            if want is not None and want != got:
                break
        else:
            return
    raise BadRequest(
        f"input {spec.name!r} has shape {format_shape(shape)} but the model expects {format_shape(expected)}"
    )


def encode_strings(array: np.ndarray) -> Any:
    """Bytes outputs as JSON: UTF-8 text where it decodes, ``{"b64": ...}`` where it does not."""

    def one(item: Any) -> Any:
        if isinstance(item, bytes):
            try:
                return item.decode()
            except UnicodeDecodeError:
                return {"b64": base64.b64encode(item).decode()}
        return item

    return np.frompyfunc(one, 1, 1)(array).tolist() if array.ndim else one(array.item())
