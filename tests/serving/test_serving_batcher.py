"""The adaptive batcher: stacking and splitting, fail-fast overload, deadlines, isolation of bad requests,
batching off, and draining on close."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from serving_image.batcher import Batcher
from serving_image.errors import DeadlineExceeded, Overloaded, ServiceUnavailable
from serving_image.metrics import Metrics

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Model:
    """``y = x + 1``; records the rows of each call; waits on ``gate``; fails on rows holding -1."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.gate.wait(10)
        x = inputs["x"]
        self.calls.append(len(x))
        if np.any(x == -1):
            raise ValueError("bad row")
        return {"y": x + 1}


def make(model: Model, in_flight: int = 100, **kwargs: object) -> tuple[Batcher, Metrics]:
    metrics = Metrics()
    options: dict[str, object] = {
        "max_batch_size": 8,
        "timeout_s": 0.05,
        "max_queue_size": 64,
        "request_timeout_s": 10.0,
    }
    options.update(kwargs)
    batcher = Batcher(model, executor=ThreadPoolExecutor(1), metrics=metrics, in_flight=lambda: in_flight, **options)  # type: ignore[arg-type]
    return batcher, metrics


def rows(*values: float) -> dict[str, np.ndarray]:
    return {"x": np.array([[v] for v in values], dtype=np.float32)}


def sample(metrics: Metrics, name: str, labels: dict[str, str] | None = None) -> float:
    value = metrics.registry.get_sample_value(name, labels or {})
    return 0.0 if value is None else value


async def test_concurrent_requests_share_a_batch_and_get_their_own_rows() -> None:
    model = Model()
    batcher, metrics = make(model, in_flight=3)
    model.gate.clear()
    batcher.start()
    tasks = [asyncio.ensure_future(batcher.submit(rows(i, i + 10), 2)) for i in range(3)]
    await asyncio.sleep(0.05)
    model.gate.set()
    results = await asyncio.gather(*tasks)
    for i, result in enumerate(results):
        np.testing.assert_array_equal(result["y"], [[i + 1], [i + 11]])
    assert sum(model.calls) == 6
    assert len(model.calls) <= 2  # the first request may start alone; the rest wait for it together
    assert sample(metrics, "modelport_batch_size_count", {"model": "model"}) == len(model.calls)
    assert sample(metrics, "modelport_queue_seconds_count", {"model": "model"}) == 3
    await batcher.close()


async def test_full_batch_is_capped_at_max_rows() -> None:
    model = Model()
    batcher, _ = make(model, max_batch_size=4)
    model.gate.clear()
    batcher.start()
    tasks = [asyncio.ensure_future(batcher.submit(rows(i), 1)) for i in range(10)]
    await asyncio.sleep(0.05)
    model.gate.set()
    await asyncio.gather(*tasks)
    assert max(model.calls) <= 4
    assert sum(model.calls) == 10
    await batcher.close()


async def test_lone_request_is_not_held_for_company() -> None:
    model = Model()
    batcher, _ = make(model, in_flight=1, timeout_s=30.0)
    batcher.start()
    # A 30 s batch timeout would stall this for 30 s if a lone request waited for company.
    result = await asyncio.wait_for(batcher.submit(rows(5), 1), timeout=5)
    np.testing.assert_array_equal(result["y"], [[6]])
    await batcher.close()


async def test_batching_off_runs_requests_one_by_one() -> None:
    model = Model()
    batcher, _ = make(model, max_batch_size=1)
    model.gate.clear()
    batcher.start()
    tasks = [asyncio.ensure_future(batcher.submit(rows(i, i), 2)) for i in range(5)]
    await asyncio.sleep(0.02)
    model.gate.set()
    await asyncio.gather(*tasks)
    assert model.calls == [2, 2, 2, 2, 2]
    await batcher.close()


async def test_full_queue_fails_fast_with_overloaded() -> None:
    model = Model()
    batcher, metrics = make(model, max_queue_size=2, max_batch_size=1)
    model.gate.clear()
    batcher.start()
    first = asyncio.ensure_future(batcher.submit(rows(0), 1))
    await asyncio.sleep(0.02)  # the worker takes it and blocks in the model
    queued = [asyncio.ensure_future(batcher.submit(rows(i), 1)) for i in (1, 2)]
    await asyncio.sleep(0)
    with pytest.raises(Overloaded, match="2 requests are already queued"):
        await batcher.submit(rows(3), 1)
    assert sample(metrics, "modelport_rejections_total", {"reason": "queue_full"}) == 1
    model.gate.set()
    await asyncio.gather(first, *queued)
    await batcher.close()


async def test_deadline_answers_504_while_the_model_is_busy() -> None:
    model = Model()
    batcher, metrics = make(model, request_timeout_s=0.1, max_batch_size=1)
    model.gate.clear()
    batcher.start()
    with pytest.raises(DeadlineExceeded, match="0.1 s request deadline"):
        await batcher.submit(rows(1), 1)
    with pytest.raises(DeadlineExceeded):
        await batcher.submit(rows(2), 1)  # queued behind the stuck call
    assert sample(metrics, "modelport_rejections_total", {"reason": "deadline"}) == 2
    model.gate.set()
    await asyncio.sleep(0.05)
    # Past the stuck call, the batcher serves again.
    result = await asyncio.wait_for(batcher.submit(rows(3), 1), 5)
    np.testing.assert_array_equal(result["y"], [[4]])
    await batcher.close()


async def test_a_failing_request_does_not_fail_its_batch_neighbours() -> None:
    model = Model()
    batcher, _ = make(model, in_flight=3)
    model.gate.clear()
    batcher.start()
    tasks = [asyncio.ensure_future(batcher.submit(rows(v), 1)) for v in (1, -1, 2)]
    await asyncio.sleep(0.05)
    model.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    np.testing.assert_array_equal(results[0]["y"], [[2]])  # type: ignore[index]
    assert isinstance(results[1], ValueError)
    np.testing.assert_array_equal(results[2]["y"], [[3]])  # type: ignore[index]
    await batcher.close()


async def test_requests_with_different_row_shapes_are_not_stacked() -> None:
    model = Model()
    batcher, _ = make(model, in_flight=2)
    model.gate.clear()
    batcher.start()
    a = asyncio.ensure_future(batcher.submit({"x": np.ones((1, 1), np.float32)}, 1))
    b = asyncio.ensure_future(batcher.submit({"x": np.ones((1, 3), np.float32)}, 1))
    await asyncio.sleep(0.05)
    model.gate.set()
    result_a, result_b = await asyncio.gather(a, b)
    assert result_a["y"].shape == (1, 1)
    assert result_b["y"].shape == (1, 3)
    await batcher.close()


async def test_close_finishes_queued_requests_then_refuses_new_ones() -> None:
    model = Model()
    batcher, _ = make(model, max_batch_size=1)
    model.gate.clear()
    batcher.start()
    tasks = [asyncio.ensure_future(batcher.submit(rows(i), 1)) for i in range(4)]
    await asyncio.sleep(0.02)
    closing = asyncio.ensure_future(batcher.close())
    await asyncio.sleep(0.02)
    with pytest.raises(ServiceUnavailable, match="shutting down"):
        await batcher.submit(rows(9), 1)
    model.gate.set()
    await closing
    assert [r["y"][0, 0] for r in await asyncio.gather(*tasks)] == [1, 2, 3, 4]
