"""The request fast path: tiny models on the event loop (INLINE_INFERENCE_MAX_US), predict routes that skip
Starlette's router (HotRoutes), and the lock-free histograms behind /metrics."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from serving_image.app import _HOT_PATHS
from serving_image.config import ConfigError, load_settings
from serving_image.metrics import LoopHistograms

from .serving_helpers import FakeRuntime, WarmUpClock, fake_app, install_warm_up_clock, wait_ready

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

PREDICT = "/v1/models/model:predict"
GOOD = {"instances": [[1.0, 2.0]]}


class ThreadRecordingRuntime(FakeRuntime):
    """Records the thread of every call, and costs ``cost`` seconds a call on the warm-up clock."""

    def __init__(self, clock: WarmUpClock, cost: float) -> None:
        super().__init__()
        self.clock = clock
        self.cost = cost
        self.threads: list[str] = []

    def predict(self, signature: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.threads.append(threading.current_thread().name)
        self.clock.advance(self.cost)
        return super().predict(signature, inputs)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> WarmUpClock:
    return install_warm_up_clock(monkeypatch)


def threads_serving(tmp_path: Path, runtime: ThreadRecordingRuntime, env: dict[str, str]) -> set[str]:
    """The threads that ran the requests (not the warm-up) of a short burst."""
    with TestClient(fake_app(tmp_path, runtime, env), raise_server_exceptions=False) as client:
        wait_ready(client)
        runtime.threads.clear()
        for _ in range(5):
            response = client.post(PREDICT, json=GOOD)
            assert response.status_code == 200
            assert response.json() == {"predictions": [[2.0, 4.0]]}
    return set(runtime.threads)


def test_a_model_faster_than_the_thread_hand_off_runs_on_the_event_loop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, clock: WarmUpClock
) -> None:
    runtime = ThreadRecordingRuntime(clock, cost=150e-6)
    with caplog.at_level("INFO", logger="serving_image"):
        threads = threads_serving(tmp_path, runtime, {"INLINE_INFERENCE_MAX_US": "200"})
    assert len(threads) == 1 and not any(name.startswith("inference") for name in threads)
    assert "runs on the event loop" in caplog.text


def test_a_slow_model_runs_on_the_inference_thread(tmp_path: Path, clock: WarmUpClock) -> None:
    runtime = ThreadRecordingRuntime(clock, cost=250e-6)  # past the 200 µs limit
    threads = threads_serving(tmp_path, runtime, {"INLINE_INFERENCE_MAX_US": "200"})
    assert threads and all(name.startswith("inference") for name in threads)


def test_zero_keeps_every_model_on_the_inference_thread(tmp_path: Path, clock: WarmUpClock) -> None:
    threads = threads_serving(tmp_path, ThreadRecordingRuntime(clock, cost=1e-6), {"INLINE_INFERENCE_MAX_US": "0"})
    assert threads and all(name.startswith("inference") for name in threads)


def test_an_inline_model_error_fails_only_its_own_request(tmp_path: Path) -> None:
    runtime = FakeRuntime()
    with TestClient(
        fake_app(tmp_path, runtime, {"INLINE_INFERENCE_MAX_US": "200"}), raise_server_exceptions=False
    ) as client:
        wait_ready(client)
        bad = client.post(PREDICT, json={"instances": [[13.0, 1.0]]})
        assert bad.status_code == 500 and "refuses 13" in bad.json()["error"]
        assert client.post(PREDICT, json=GOOD).json() == {"predictions": [[2.0, 4.0]]}


@pytest.mark.parametrize("value", ["-1", "fast", "nan", "20000"])
def test_a_bad_inline_limit_is_refused_naming_the_setting(value: str) -> None:
    with pytest.raises(ConfigError, match="INLINE_INFERENCE_MAX_US"):
        load_settings({"MODEL_DIR": "/m", "INLINE_INFERENCE_MAX_US": value})


def test_the_inline_limit_defaults_to_200_microseconds() -> None:
    assert load_settings({"MODEL_DIR": "/m"}).inline_inference_max_us == 200.0


# --- HotRoutes ------------------------------------------------------------------------------------------


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(fake_app(tmp_path, FakeRuntime()), raise_server_exceptions=False) as test_client:
        wait_ready(test_client)
        yield test_client


def test_predict_routes_keep_their_route_label_and_errors(client: TestClient) -> None:
    assert client.post(PREDICT, json=GOOD).status_code == 200
    assert client.post("/v1/models/other:predict", json=GOOD).status_code == 404
    assert client.post(PREDICT, content=b"{", headers={"content-type": "application/json"}).status_code == 400
    assert client.post(PREDICT, content=b"x", headers={"content-type": "text/plain"}).status_code == 415
    metrics = client.app.service.metrics.registry  # type: ignore[attr-defined]
    route = "/v1/models/{model}:predict"
    for status, count in (("200", 1), ("404", 1), ("400", 1), ("415", 1)):
        model = "" if status == "404" else "model"  # an unknown name in the path is never a label value
        labels = {"model": model, "protocol": "http", "route": route, "status": status}
        assert metrics.get_sample_value("modelport_request_duration_seconds_count", labels) == count


def test_other_methods_and_paths_still_go_through_the_router(client: TestClient) -> None:
    assert client.get("/invocations").status_code == 405
    assert client.post("/v2/health/ready").status_code == 405
    assert client.post("/no/such/route").json() == {"error": "no route POST /no/such/route"}


def test_the_remembered_paths_are_bounded(client: TestClient) -> None:
    for index in range(_HOT_PATHS + 44):
        assert client.post(f"/v1/models/m{index}:predict", json=GOOD).status_code == 404
    hot = client.app.asgi.fast  # type: ignore[attr-defined]
    assert len(hot._paths) == _HOT_PATHS
    assert client.post(PREDICT, json=GOOD).status_code == 200  # a path past the bound still works


def test_an_unexpected_error_in_a_predict_route_is_a_json_500(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    predictor = client.app.service.predictor  # type: ignore[attr-defined]

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(predictor, "resolve", broken)
    with caplog.at_level("ERROR", logger="serving_image"):
        response = client.post(PREDICT, json=GOOD)
    assert response.status_code == 500
    assert response.json() == {"error": "internal error: RuntimeError: boom"}
    assert "internal error on POST /v1/models/model:predict" in caplog.text
    monkeypatch.undo()
    assert client.post(PREDICT, json=GOOD).status_code == 200


# --- LoopHistograms --------------------------------------------------------------------------------------


def test_loop_histograms_print_exactly_like_prometheus_client() -> None:
    buckets = (0.001, 0.01, 0.1, 1.0)
    ours_registry, theirs_registry = CollectorRegistry(), CollectorRegistry()
    ours = LoopHistograms("latency_seconds", "Latency.", ["route"], buckets=buckets, registry=ours_registry)
    theirs = Histogram("latency_seconds", "Latency.", ["route"], buckets=buckets, registry=theirs_registry)
    for value in (0.0005, 0.001, 0.0011, 0.5, 1.0, 7.0):  # on and between the bounds, and past the last
        ours.labels("/a").observe(value)
        theirs.labels(route="/a").observe(value)
    ours.labels("/b").observe(0.02)
    theirs.labels(route="/b").observe(0.02)

    def lines(registry: CollectorRegistry) -> list[str]:
        return [line for line in generate_latest(registry).decode().splitlines() if "_created" not in line]

    assert lines(ours_registry) == lines(theirs_registry)
    assert ours_registry.get_sample_value("latency_seconds_bucket", {"route": "/a", "le": "0.001"}) == 2


def test_loop_histograms_refuse_bad_buckets_and_labels() -> None:
    with pytest.raises(ValueError, match="sorted"):
        LoopHistograms("x", "x", buckets=(1.0, 0.5), registry=CollectorRegistry())
    family = LoopHistograms("y", "y", ["route"], buckets=(1.0,), registry=CollectorRegistry())
    with pytest.raises(ValueError, match="takes the labels"):
        family.labels("a", "b")


def test_unlabelled_histograms_show_zero_before_the_first_observation() -> None:
    registry = CollectorRegistry()
    LoopHistograms("plain_seconds", "x", buckets=(1.0,), registry=registry)
    assert registry.get_sample_value("plain_seconds_count") == 0.0
