"""JSON bodies with large numeric arrays, decoded straight into NumPy without building Python lists.

A 224×224×3 image sent as JSON is 150,528 numbers in 50,000 nested lists. ``orjson.loads`` followed by
``np.asarray`` builds and frees every one of those Python objects: 11.6 ms of event-loop time per 0.99 MB image
on the development machine, more than MobileNetV2 itself takes per image in a batch. :func:`loads` parses the
body with simdjson (``pysimdjson``) and copies every large, regular numeric array into a buffer in C: 2.8 ms
for the same image (``bench/json_decode.py`` measures both).

The result is what ``orjson.loads`` returns, except that each numeric array of at least :data:`MIN_ELEMENTS`
numbers is an ``int64`` or ``float64`` :class:`numpy.ndarray` of the same shape. ``np.asarray`` over either
form gives the same array, which is all the codecs do with tensor values.

Nothing is accepted here that the generic path would refuse: :func:`loads` returns ``None`` whenever it is
not certain, and the caller decodes with orjson and reports the error there. That covers malformed JSON,
numbers outside the 64-bit ranges, escapes it does not reproduce, duplicate keys, and, the subtle one, ragged
arrays. ``as_buffer`` flattens ``[[1, 2], [3], [4, 5, 6]]`` into six numbers, which a shape of ``(3, 2)``
guessed from the first rows would accept. So the body's *skeleton* (every byte except digits, signs, decimal
points, exponents and whitespace) must equal the skeleton of the decoded document with every array written
out in the regular shape. The skeleton fixes the nesting, so a ragged array can never match.
"""

from __future__ import annotations

import functools
import math
import threading
from typing import Any

import numpy as np
import orjson
import simdjson

MIN_BODY_BYTES = 64 * 1024  # below this, orjson alone is faster
MIN_ELEMENTS = 1024  # smaller arrays stay lists: shapes, ids and output names are never this long

# Bytes that only numbers and insignificant whitespace contribute. Deleting them from the body and from the
# re-encoded document must give the same bytes, wherever the numbers were.
_NUMBER_BYTES = b"0123456789+-.eE \t\r\n"
# Stands for each decoded array while the document is re-encoded. It contains none of _NUMBER_BYTES, and no
# JSON string written by orjson can contain its skeleton, because orjson escapes the quote characters in it.
_PLACEHOLDER = "@@modelport:tensor@@"
_PLACEHOLDER_SKELETON = orjson.dumps(_PLACEHOLDER).translate(None, _NUMBER_BYTES)

_local = threading.local()


def _parser() -> simdjson.Parser:
    # A parser keeps its buffers between documents, so each thread reuses one.
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = simdjson.Parser()
    return parser


def loads(raw: bytes) -> Any | None:
    """The decoded body with large numeric arrays as NumPy arrays, or ``None`` to use the generic path."""
    try:
        document = _parser().parse(raw)
    except RuntimeError:  # the thread's parser is still referenced (re-entrant use): parse with a fresh one
        document = simdjson.Parser().parse(raw)
    except ValueError:  # malformed, or a number simdjson does not hold: the generic path says why
        return None
    arrays: list[np.ndarray] = []
    try:
        value = _convert(document, arrays)
    except KeyError:  # a key simdjson cannot look up by name, such as one holding a NUL character
        return None
    finally:
        del document  # the parser can be reused only once no proxy of this document is left
    if not arrays or not _same_skeleton(raw, value, arrays):
        return None
    return value


def _convert(node: Any, arrays: list[np.ndarray]) -> Any:
    if isinstance(node, simdjson.Object):
        keys = list(node.keys())  # noqa: SIM118 - keys() stays lazy about the values
        if any("\x00" in key for key in keys):
            # simdjson looks keys up as C strings: "a\u0000b" would find "a", or another key's value.
            raise KeyError("a key holds a NUL character")
        # ``[]`` stays lazy; ``items()`` would build every nested list in Python first.
        return {key: _convert(node[key], arrays) for key in keys}
    if isinstance(node, simdjson.Array):
        array = _numeric(node)
        if array is not None:
            arrays.append(array)
            return array
        return [_convert(node[index], arrays) for index in range(len(node))]
    return node


def _numeric(node: simdjson.Array) -> np.ndarray | None:
    """The array as int64 or float64 in the shape of its first elements, when it is numeric and large."""
    shape: list[int] = []
    first: Any = node
    while isinstance(first, simdjson.Array):
        length = len(first)
        if not length:
            return None
        shape.append(length)
        first = first[0]
    if isinstance(first, bool) or not isinstance(first, int | float):
        return None
    size = math.prod(shape)
    if size < MIN_ELEMENTS:
        return None
    for of_type, dtype in (("i", np.int64), ("d", np.float64)) if isinstance(first, int) else (("d", np.float64),):
        try:
            flat = np.frombuffer(node.as_buffer(of_type=of_type), dtype=dtype)
        except TypeError:  # a float among integers: as np.asarray does, take them all as doubles
            continue
        except ValueError:  # an integer past int64: np.asarray keeps it exact as uint64 or object
            return None
        # A different count means ragged rows; the same count may still be ragged, which the skeleton catches.
        return flat.reshape(shape) if flat.size == size else None
    return None


@functools.lru_cache(maxsize=16)
def _regular_skeleton(shape: tuple[int, ...]) -> bytes:
    skeleton = b"[" + b"," * (shape[-1] - 1) + b"]"
    for length in reversed(shape[:-1]):
        skeleton = b"[" + b",".join([skeleton] * length) + b"]"
    return skeleton


def _same_skeleton(raw: bytes, value: Any, arrays: list[np.ndarray]) -> bool:
    # orjson writes the arrays in the order _convert met them: document order.
    parts = (
        orjson.dumps(value, default=lambda _: _PLACEHOLDER).translate(None, _NUMBER_BYTES).split(_PLACEHOLDER_SKELETON)
    )
    if len(parts) != len(arrays) + 1:
        return False
    expected = [parts[0]]
    for array, part in zip(arrays, parts[1:], strict=True):
        expected += (_regular_skeleton(array.shape), part)
    return raw.translate(None, _NUMBER_BYTES) == b"".join(expected)
