"""Every error path of the HTTP layer, in process with a framework-free model: each answers JSON
``{"error": ...}`` with its status, names what was wrong, and leaves the server serving."""

from __future__ import annotations

import json
import threading
import time
import warnings
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from .serving_helpers import FakeRuntime, WarmUpClock, fake_app, install_warm_up_clock, wait_ready

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # Starlette's notice about its future test-client transport
    from starlette.testclient import TestClient

PREDICT = "/v1/models/model:predict"
GOOD = {"instances": [[1.0, 2.0]]}


@pytest.fixture
def runtime() -> FakeRuntime:
    return FakeRuntime()


@pytest.fixture
def client(tmp_path: Path, runtime: FakeRuntime) -> Iterator[TestClient]:
    app = fake_app(tmp_path, runtime, {"MAX_REQUEST_BYTES": "4096"})
    with TestClient(app, raise_server_exceptions=False) as test_client:
        wait_ready(test_client)
        yield test_client


def error_of(response: object, status: int) -> str:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/json"  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) >= {"error"} and isinstance(body["error"], str) and body["error"]
    return body["error"]


def assert_still_serving(client: TestClient) -> None:
    response = client.post(PREDICT, json=GOOD)
    assert response.status_code == 200
    assert response.json() == {"predictions": [[2.0, 4.0]]}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"instances": [[1, 2]', "malformed JSON"),
        (b"", "body is empty"),
        (b"[1, 2]", "JSON object"),
        (b'{"instances": [[1, 2]], "inputs": [[1, 2]]}', "not both"),
        (b'{"rows": [[1, 2]]}', "no 'instances' or 'inputs'"),
        (b'{"instances": []}', "non-empty list"),
        (b'{"instances": [[1, 2, 3]]}', "input 'x' has shape [1, 3] but the model expects [-1, 2]"),
        (b'{"instances": [1, 2]}', "input 'x' has shape [2] but the model expects [-1, 2]"),
        (b'{"instances": [["a", "b"]]}', "input 'x' expects float32 values, got strings"),
        (b'{"instances": [[true, false]]}', "input 'x' expects float32 values, got booleans"),
        (b'{"instances": [[1, null]]}', "input 'x' expects float32 values"),
        (b'{"instances": [[1, 2], [3]]}', "input 'x' is ragged"),
        (b'{"instances": [{"x": [1, 2], "z": [1]}]}', "unknown input 'z'"),
        (b'{"instances": [{"z": [1, 2]}]}', "unknown input 'z'"),
        (b'{"inputs": {"x": [[1, 2]], "y": [[1]]}}', "unknown input 'y'"),
        (b'{"instances": [[1, 2]], "signature_name": "nope"}', "no signature 'nope'"),
    ],
)
def test_bad_bodies_are_400_and_name_the_problem(client: TestClient, body: bytes, fragment: str) -> None:
    response = client.post(PREDICT, content=body, headers={"content-type": "application/json"})
    assert fragment in error_of(response, 400)
    assert_still_serving(client)


def test_unknown_model_version_and_route_are_404(client: TestClient) -> None:
    assert "unknown model 'other'" in error_of(client.post("/v1/models/other:predict", json=GOOD), 404)
    assert "no version '7'" in error_of(client.post("/v1/models/model/versions/7:predict", json=GOOD), 404)
    assert "no version 'latest'" in error_of(client.get("/v1/models/model/versions/latest"), 404)
    assert "unknown model 'other'" in error_of(client.get("/v2/models/other/ready"), 404)
    assert "unknown model 'other'" in error_of(client.post("/v2/models/other/infer", json={}), 404)
    assert "no route GET /nothing/here" in error_of(client.get("/nothing/here"), 404)
    assert_still_serving(client)


def test_wrong_method_is_405_json(client: TestClient) -> None:
    assert "GET is not allowed" in error_of(client.get("/invocations"), 405)


def test_body_over_the_limit_is_413(client: TestClient) -> None:
    big = json.dumps({"instances": [[1.0, 2.0]] * 1000}).encode()
    assert len(big) > 4096
    message = error_of(client.post(PREDICT, content=big, headers={"content-type": "application/json"}), 413)
    assert "4096-byte limit (MAX_REQUEST_BYTES)" in message
    assert_still_serving(client)


def test_chunked_body_over_the_limit_is_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"instances": ['
        for _ in range(1000):
            yield b"[1.0, 2.0],"
        yield b"[1.0, 2.0]]}"

    response = client.post(PREDICT, content=chunks(), headers={"content-type": "application/json"})
    assert "MAX_REQUEST_BYTES" in error_of(response, 413)
    assert_still_serving(client)


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain", "application/xml"])
def test_unsupported_content_type_is_415(client: TestClient, content_type: str) -> None:
    response = client.post(PREDICT, content=json.dumps(GOOD), headers={"content-type": content_type})
    assert f"Content-Type '{content_type}' is not supported" in error_of(response, 415)
    assert_still_serving(client)


def test_json_content_type_with_charset_and_none_are_accepted(client: TestClient) -> None:
    body = json.dumps(GOOD).encode()
    assert (
        client.post(PREDICT, content=body, headers={"content-type": "application/json; charset=utf-8"}).status_code
        == 200
    )
    assert client.post(PREDICT, content=body, headers={"content-type": ""}).status_code == 200


def test_model_error_is_500_for_that_request_only(client: TestClient) -> None:
    message = error_of(client.post(PREDICT, json={"instances": [[13.0, 1.0]]}), 500)
    assert "the fake model refuses 13" in message
    assert_still_serving(client)


def test_every_route_is_503_before_the_model_is_ready(tmp_path: Path, runtime: FakeRuntime) -> None:
    opened = threading.Event()
    app = fake_app(tmp_path, runtime, opened=opened)
    with TestClient(app, raise_server_exceptions=False) as client:
        for path in (
            "/v2/health/ready",
            "/v2/health/live",
            "/ping",
            "/v2/models/model/ready",
            "/v1/models/model",
            "/v1/models/model/metadata",
            "/v2/models/model",
        ):
            assert "loading" in error_of(client.get(path), 503), path
        assert "loading" in error_of(client.post(PREDICT, json=GOOD), 503)
        assert "loading" in error_of(client.post("/invocations", json=GOOD), 503)
        status = client.get("/v1/models/model").json()["model_version_status"]
        assert status[0]["state"] == "LOADING"
        assert client.get("/metrics").status_code == 200  # monitoring works while loading
        opened.set()
        wait_ready(client)
        assert client.get("/ping").status_code == 200
        assert client.get("/v2/health/live").json() == {"live": True}
        assert_still_serving(client)


def test_failed_load_is_reported_by_health_routes(tmp_path: Path) -> None:
    from serving_image.app import ServingApp
    from serving_image.config import load_settings
    from serving_image.service import Service

    app = ServingApp(Service.create(load_settings({"MODEL_DIR": str(tmp_path / "missing")})))
    with TestClient(app, raise_server_exceptions=False) as client:
        for _ in range(200):
            response = client.get("/ping")
            if "failed" in response.text:
                break
            threading.Event().wait(0.01)
        assert "failed to load" in error_of(response, 503)
        assert "does not exist" in response.json()["error"]


def test_full_queue_is_503_and_recovers(tmp_path: Path, runtime: FakeRuntime) -> None:
    app = fake_app(tmp_path, runtime, {"MAX_QUEUE_SIZE": "2", "MAX_BATCH_SIZE": "1"})
    with TestClient(app, raise_server_exceptions=False) as client:
        wait_ready(client)
        runtime.gate.clear()
        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(client.post, PREDICT, json=GOOD) for _ in range(8)]
            threading.Event().wait(0.5)
            runtime.gate.set()
            statuses = sorted(f.result().status_code for f in futures)
        rejected = [s for s in statuses if s == 503]
        assert rejected, statuses
        assert set(statuses) == {200, 503}
        overloaded = client.get("/metrics").text
        assert 'modelport_rejections_total{reason="queue_full"}' in overloaded
        assert_still_serving(client)


def test_past_the_deadline_is_504_and_recovers(tmp_path: Path, runtime: FakeRuntime) -> None:
    app = fake_app(tmp_path, runtime, {"REQUEST_TIMEOUT_SECONDS": "0.2"})
    with TestClient(app, raise_server_exceptions=False) as client:
        wait_ready(client)
        runtime.gate.clear()
        message = error_of(client.post(PREDICT, json=GOOD), 504)
        assert "0.2 s request deadline" in message
        runtime.gate.set()
        assert_still_serving(client)


def test_bad_and_good_requests_interleaved(client: TestClient) -> None:
    bad = [b"{", b'{"instances": [["x", 1]]}', b'{"instances": [[1, 2, 3]]}']
    for round_ in range(5):
        response = client.post(PREDICT, content=bad[round_ % 3], headers={"content-type": "application/json"})
        assert response.status_code == 400
        assert_still_serving(client)


class PerRowRuntime(FakeRuntime):
    """A model whose cost is the same per row at any batch size (1 ms, on the warm-up clock), so batching
    cannot pay."""

    def __init__(self, clock: WarmUpClock) -> None:
        super().__init__()
        self.clock = clock

    def predict(self, signature: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.clock.advance(0.001 * len(inputs["x"]))
        return super().predict(signature, inputs)


def test_batching_turns_off_for_a_model_it_does_not_speed_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = PerRowRuntime(install_warm_up_clock(monkeypatch))
    app = fake_app(tmp_path, runtime, {"MAX_BATCH_SIZE": "8"})
    with caplog.at_level("INFO", logger="serving_image"), TestClient(app, raise_server_exceptions=False) as client:
        wait_ready(client)
        runtime.calls.clear()
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda _: client.post(PREDICT, json=GOOD).status_code, range(16)))
        assert statuses == [200] * 16
    assert runtime.calls == [1] * 16  # never stacked
    assert "batching off" in caplog.text


def test_batching_stays_on_for_a_model_it_speeds_up(tmp_path: Path, runtime: FakeRuntime) -> None:
    app = fake_app(tmp_path, runtime, {"MAX_BATCH_SIZE": "8", "BATCH_TIMEOUT_MS": "200"})
    with TestClient(app, raise_server_exceptions=False) as client:
        wait_ready(client)
        runtime.calls.clear()
        runtime.gate.clear()
        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(client.post, PREDICT, json=GOOD) for _ in range(8)]
            time.sleep(0.3)
            runtime.gate.set()
            assert all(f.result().status_code == 200 for f in futures)
    assert max(runtime.calls) > 1  # some requests shared a call
