"""The TensorFlow runtime's Session path (a ``Session::MakeCallable`` per signature over the ``serve`` graph)
against the eager signatures it replaces: the same signatures, the same answers on every test model, on the
inter-op pool and on the calling thread; inputs of another dtype are cast; a SavedModel without a ``serve``
graph falls back to the eager path, and says so."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from serving_image.errors import BadRequest
from serving_image.runtime.tensorflow import TensorFlowRuntime
from serving_image.tensors import STRING


@pytest.fixture
def tf() -> object:
    # Imported by the tests, not at collection: TensorFlow loaded before grpc_tools' protoc extension (which
    # test_serving_tfserving_interop.py imports when collected) crashes the interpreter on their protobufs.
    return pytest.importorskip("tensorflow")


def _inputs(runtime: TensorFlowRuntime, signature: str, rows: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    inputs = {}
    for name, spec in runtime.signatures[signature].inputs.items():
        assert spec.shape is not None
        shape = (rows, *(d or 3 for d in spec.shape[1:]))
        if spec.dtype == STRING:
            inputs[name] = np.array([f"text {i}".encode() * (i + 1) for i in range(rows)], dtype=object)
        elif spec.dtype.kind == "f":
            inputs[name] = rng.random(shape).astype(spec.dtype)
        else:
            inputs[name] = rng.integers(-50, 50, shape).astype(spec.dtype)
    return inputs


@pytest.mark.parametrize("model", ["mlp", "versions/2", "multi", "strings", "cnn"])
def test_the_session_path_serves_the_same_signatures_and_answers_as_the_eager_one(
    tf: object, models: dict[str, Path], model: str
) -> None:
    name, _, version = model.partition("/")
    path = models[name] / version if version else models[name]
    session = TensorFlowRuntime(path)
    eager = TensorFlowRuntime(path, eager=True)
    assert not session.eager and eager.eager
    assert session.signatures == eager.signatures
    session.warm_up(8)
    for signature in session.signatures:
        for rows in (1, 5):
            inputs = _inputs(session, signature, rows)
            for caller_thread in (False, True):
                session._calls[signature].use_caller_thread(caller_thread)
                got, want = session.predict(signature, inputs), eager.predict(signature, inputs)
                assert sorted(got) == sorted(want)
                for output, value in want.items():
                    assert got[output].shape == value.shape and got[output].dtype == value.dtype
                    np.testing.assert_allclose(got[output], value, rtol=1e-5, atol=1e-6)


def test_inputs_of_another_dtype_are_cast_only_where_no_value_changes(tf: object, models: dict[str, Path]) -> None:
    runtime = TensorFlowRuntime(models["multi"])
    a = np.array([[1.5, 2.5]], dtype=np.float64)
    b = np.array([[1, 2, 3]], dtype=np.int64)
    answer = runtime.predict("serving_default", {"a": a, "b": b})
    assert answer["total"].tolist() == [10.0] and answer["doubled"].tolist() == [[2, 4, 6]]
    # Never a value that changes: past int32, or a fraction for an integer input, is refused.
    with pytest.raises(BadRequest, match=r"input 'b' expects int32 values, got values outside"):
        runtime.predict("serving_default", {"a": a, "b": np.array([[1, 2, 2**40]], dtype=np.int64)})
    with pytest.raises(BadRequest, match=r"input 'b' expects int32 values, got numbers with a fractional part"):
        runtime.predict("serving_default", {"a": a, "b": np.array([[1, 2, 3.5]])})


def test_a_saved_model_without_a_serve_graph_falls_back_to_the_eager_path(
    tf: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "train_only"
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as session:
        x = tf.compat.v1.placeholder(tf.float32, [None, 2], name="x")
        y = tf.identity(x * 3.0, name="y")
        builder = tf.compat.v1.saved_model.Builder(str(path))
        signature = tf.compat.v1.saved_model.predict_signature_def({"x": x}, {"y": y})
        builder.add_meta_graph_and_variables(session, ["train"], signature_def_map={"serving_default": signature})
        builder.save()
    with caplog.at_level(logging.WARNING, logger="serving_image"):
        runtime = TensorFlowRuntime(path)
    assert runtime.eager
    assert "has no graph tagged only 'serve' (it has [('train',)])" in caplog.text
    assert "calling its signatures eagerly" in caplog.text
    assert runtime.predict("serving_default", {"x": np.ones((2, 2), np.float32)})["y"].tolist() == [[3.0] * 2] * 2


def test_warm_up_builds_the_calling_thread_callable_only_for_quick_calls(
    tf: object, models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from serving_image.runtime import tensorflow as runtime_module

    quick = TensorFlowRuntime(models["mlp"])
    quick.warm_up(8)
    assert quick._calls["serving_default"]._caller is not None  # tried, then kept or not by measurement
    monkeypatch.setattr(runtime_module, "_CALLER_THREAD_MAX_S", 0.0)  # every call counts as slow now
    slow = TensorFlowRuntime(models["mlp"])
    slow.warm_up(8)
    call = slow._calls["serving_default"]
    assert call._caller is None and not call.caller_thread  # the pool, and no second graph optimisation
