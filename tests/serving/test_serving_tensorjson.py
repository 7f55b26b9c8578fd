"""The fast JSON path for large tensors (serving_image.tensorjson): it gives what orjson gives, with large
numeric arrays as NumPy arrays, or it steps aside. It never accepts what the generic path refuses."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serving_image import codec, tensorjson

from .serving_helpers import FakeRuntime, fake_app, wait_ready

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def assert_same_tensors(decoded: Any, expected: Any) -> None:
    """``decoded`` is orjson's ``expected`` where each NumPy array is what ``np.asarray`` makes of its list."""
    if isinstance(decoded, np.ndarray):
        reference = np.asarray(expected)
        assert decoded.dtype == reference.dtype and decoded.shape == reference.shape
        np.testing.assert_array_equal(decoded, reference)
    elif isinstance(decoded, dict):
        assert isinstance(expected, dict) and list(decoded) == list(expected)
        for key, item in decoded.items():
            assert_same_tensors(item, expected[key])
    elif isinstance(decoded, list):
        assert isinstance(expected, list) and len(decoded) == len(expected)
        for item, reference in zip(decoded, expected, strict=True):
            assert_same_tensors(item, reference)
    else:
        assert type(decoded) is type(expected) and decoded == expected


def image(rows: int = 1, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((rows, 64, 64, 3)).astype(np.float32)


# --- the decoder --------------------------------------------------------------------------------------------


def test_a_large_image_becomes_one_float64_array_equal_to_orjsons() -> None:
    pixels = image(2)
    raw = orjson.dumps({"signature_name": "serving_default", "instances": pixels.tolist()})
    decoded = tensorjson.loads(raw)
    assert decoded is not None
    assert decoded["signature_name"] == "serving_default"
    array = decoded["instances"]
    assert isinstance(array, np.ndarray) and array.dtype == np.float64 and array.shape == (2, 64, 64, 3)
    np.testing.assert_array_equal(array, np.asarray(orjson.loads(raw)["instances"]))
    np.testing.assert_array_equal(array.astype(np.float32), pixels)


def test_integers_stay_exact_int64_and_a_float_among_them_gives_float64() -> None:
    big = 2**62 + 1  # not representable as a double
    ints = tensorjson.loads(orjson.dumps({"ids": [big] + list(range(2000))}))
    assert ints is not None and ints["ids"].dtype == np.int64 and int(ints["ids"][0]) == big
    mixed = tensorjson.loads(orjson.dumps({"x": [0] + [1.5] * 2000}))
    assert mixed is not None and mixed["x"].dtype == np.float64 and mixed["x"][0] == 0.0


def test_small_arrays_and_non_numeric_arrays_stay_lists() -> None:
    body = {
        "inputs": [{"name": "x", "shape": [1, 4096], "datatype": "FP32", "data": [0.5] * 4096}],
        "outputs": [{"name": "y"}],
        "tags": ["a"] * 3000,
        "flags": [True] * 3000,
    }
    decoded = tensorjson.loads(orjson.dumps(body))
    assert decoded is not None
    assert decoded["inputs"][0]["shape"] == [1, 4096] and isinstance(decoded["inputs"][0]["shape"], list)
    assert isinstance(decoded["inputs"][0]["data"], np.ndarray)
    assert decoded["tags"] == ["a"] * 3000 and decoded["flags"] == [True] * 3000
    assert_same_tensors(decoded, orjson.loads(orjson.dumps(body)))


def test_whitespace_and_indentation_do_not_matter() -> None:
    pixels = image()
    raw = b'\n{ "instances" :\n' + orjson.dumps(pixels.tolist(), option=orjson.OPT_INDENT_2) + b"\r\n}\t\n"
    decoded = tensorjson.loads(raw)
    assert decoded is not None
    np.testing.assert_array_equal(decoded["instances"].astype(np.float32), pixels)


@pytest.mark.parametrize(
    "rows",
    [
        # 3 × 2 numbers in all, with a first row of 2: a flattening parser would take it for shape (3, 2).
        [[1.0] * 600, [2.0] * 601, [3.0] * 599],
        [[1.0] * 600, [[2.0]] * 600, [3.0] * 600],  # a row one level deeper
        [[1.0] * 600, [], [3.0] * 1200],  # an empty row
        [[[1.0, 2.0]] * 600, [[1.0], [2.0, 3.0]] + [[1.0, 2.0]] * 598],  # ragged at the innermost level
    ],
    ids=["same-count", "deeper-row", "empty-row", "inner"],
)
def test_ragged_arrays_never_become_one_array(rows: list[Any]) -> None:
    for raw in (orjson.dumps({"instances": rows}), orjson.dumps(rows)):
        decoded = tensorjson.loads(raw)
        # Regular parts may still be arrays (a list of arrays is what np.asarray calls ragged), or the whole
        # body is left to orjson.
        if decoded is not None:
            ragged = decoded["instances"] if isinstance(decoded, dict) else decoded
            assert isinstance(ragged, list)
            assert_same_tensors(decoded, orjson.loads(raw))


@pytest.mark.parametrize(
    "raw",
    [
        b'{"instances": [' + b"1.5," * 2000 + b"2.5,]}",  # malformed
        b'{"instances": [' + b"1.5," * 2000 + b"NaN]}",  # not JSON
        b'{"instances": [' + b"1.5," * 2000 + b"1e400]}",  # out of range for a double
        b'{"instances": [' + b"1," * 2000 + b"18446744073709551616]}",  # past 64 bits
        b'{"instances": [' + b"1.5," * 2000 + b'2.5], "instances": [1]}',  # a duplicate key
        b'{"note": "caf\\u00e9", "instances": [' + b"1.5," * 2000 + b"2.5]}",  # an escape orjson writes otherwise
        b'{"note": "@@modelport:tensor@@", "instances": [' + b"1.5," * 2000 + b"2.5]}",  # the placeholder itself
        b'{"instances": [' + b"1.5," * 2000 + b"true]}",  # a boolean among numbers
        b'{"instances": [' + b"1.5," * 10 + b"2.5]}",  # no large array at all
    ],
    ids=["malformed", "nan", "huge-double", "huge-int", "duplicate", "escape", "placeholder", "bool", "small"],
)
def test_anything_uncertain_is_left_to_the_generic_path(raw: bytes) -> None:
    assert tensorjson.loads(raw) is None


def test_the_parser_is_reused_and_survives_a_document_still_referenced() -> None:
    raw = orjson.dumps({"instances": image().tolist()})
    first, second = tensorjson.loads(raw), tensorjson.loads(raw)
    assert first is not None and second is not None
    np.testing.assert_array_equal(first["instances"], second["instances"])
    held = tensorjson._parser().parse(b"[1, 2]")  # a live proxy blocks reuse of the thread's parser
    third = tensorjson.loads(raw)
    assert third is not None and held[1] == 2
    np.testing.assert_array_equal(third["instances"], first["instances"])


# Nested lists of numbers, regular or not, mixed with booleans, strings and objects, in a small envelope.
numbers = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.booleans(),
    st.text(max_size=3),
)
nested = st.recursive(st.lists(numbers, max_size=4), lambda inner: st.lists(inner, max_size=4), max_leaves=40)
regular = st.lists(st.integers(1, 4), min_size=1, max_size=4).flatmap(
    lambda shape: st.lists(
        st.floats(allow_nan=False, allow_infinity=False), min_size=math.prod(shape), max_size=math.prod(shape)
    ).map(lambda flat: np.asarray(flat).reshape(shape).tolist())
)
documents = st.dictionaries(st.text(max_size=8), st.one_of(nested, regular, st.text(max_size=8)), max_size=4)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=documents, indent=st.booleans())
def test_the_fast_path_agrees_with_orjson_or_steps_aside(document: dict[str, Any], indent: bool) -> None:
    raw = orjson.dumps(document, option=orjson.OPT_INDENT_2 if indent else 0)
    original = tensorjson.MIN_ELEMENTS
    tensorjson.MIN_ELEMENTS = 1  # every numeric array is a candidate, so the property covers small ones too
    try:
        decoded = tensorjson.loads(raw)
    finally:
        tensorjson.MIN_ELEMENTS = original
    if decoded is not None:
        assert_same_tensors(decoded, orjson.loads(raw))


@given(document=documents)
def test_regular_arrays_are_always_taken(document: dict[str, Any]) -> None:
    raw = orjson.dumps({"tensor": np.arange(2048.0).reshape(2, 32, 32).tolist(), **document})
    decoded = tensorjson.loads(raw)
    # The only reasons to step aside here are a key that repeats "tensor", or the placeholder in the document.
    if decoded is not None:
        np.testing.assert_array_equal(decoded["tensor"], np.arange(2048.0).reshape(2, 32, 32))


# --- through the server ------------------------------------------------------------------------------------


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(fake_app(tmp_path, FakeRuntime()), raise_server_exceptions=False) as test_client:
        wait_ready(test_client)
        yield test_client


def large_rows(count: int = 4000) -> np.ndarray:
    return np.random.default_rng(1).random((count, 2)).astype(np.float32)


def test_large_bodies_take_the_fast_path_and_answer_like_small_ones(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = large_rows()
    raw = orjson.dumps({"instances": rows.tolist()})
    assert len(raw) > tensorjson.MIN_BODY_BYTES
    calls: list[bool] = []
    fast = tensorjson.loads
    monkeypatch.setattr(tensorjson, "loads", lambda body: calls.append(True) or fast(body))
    headers = {"Content-Type": "application/json"}
    tfserving = client.post("/v1/models/model:predict", content=raw, headers=headers)
    kserve = client.post(
        "/v2/models/model/infer",
        content=orjson.dumps(
            {"inputs": [{"name": "x", "shape": [4000, 2], "datatype": "FP32", "data": rows.ravel().tolist()}]}
        ),
        headers=headers,
    )
    sagemaker = client.post("/invocations", content=orjson.dumps(rows.tolist()), headers=headers)
    assert [tfserving.status_code, kserve.status_code, sagemaker.status_code] == [200, 200, 200]
    assert len(calls) == 3
    np.testing.assert_array_equal(np.asarray(tfserving.json()["predictions"], np.float32), rows * 2)
    np.testing.assert_array_equal(np.asarray(kserve.json()["outputs"][0]["data"], np.float32), (rows * 2).ravel())
    np.testing.assert_array_equal(np.asarray(sagemaker.json()["predictions"], np.float32), rows * 2)


def test_a_large_ragged_body_is_refused_by_name_and_the_server_keeps_serving(client: TestClient) -> None:
    rows = large_rows().tolist()
    rows[7] = [0.5, 0.5, 0.5]
    rows[8] = [0.5]
    response = client.post("/v1/models/model:predict", content=orjson.dumps({"instances": rows}))
    assert response.status_code == 400
    assert response.json() == {"error": "input 'x' is ragged: every row must have the same shape"}
    rows[7] = rows[8] = [0.5, 0.5]
    assert client.post("/v1/models/model:predict", content=orjson.dumps({"instances": rows})).status_code == 200


def test_a_large_body_of_the_wrong_shape_is_refused_by_name(client: TestClient) -> None:
    rows = np.zeros((4000, 3)).tolist()
    response = client.post("/v1/models/model:predict", content=orjson.dumps({"instances": rows}))
    assert response.status_code == 400
    assert response.json() == {"error": "input 'x' has shape [4000, 3] but the model expects [-1, 2]"}


def test_a_large_malformed_body_gets_the_orjson_message() -> None:
    raw = b'{"instances": [' + b"1.5," * 40000 + b"]}"
    with pytest.raises(codec.BadRequest, match="malformed JSON"):
        codec.parse_json(raw)


def test_a_key_holding_a_nul_character_steps_aside() -> None:
    """simdjson looks keys up as C strings: "\\u0000" would find the value of "" (found by hypothesis)."""
    raw = orjson.dumps({"": [], "\x00": [0.0], "instances": image().tolist()})
    assert tensorjson.loads(raw) is None
