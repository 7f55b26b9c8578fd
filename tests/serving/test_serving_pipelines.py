"""Several models per server and fused pipelines (pipeline.yaml): routing by name on HTTP and gRPC; sequence,
fan-out and join, switch and split; deadlines; errors that name the step; start-up refusal of bad files; and
the shipped iris example end to end on a real model."""

from __future__ import annotations

import asyncio
import shutil
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from serving_image.config import load_settings
from serving_image.errors import ModelLoadError
from serving_image.rpc.protos import open_inference_pb2, open_inference_service_pb2_grpc
from serving_image.service import Service

from .serving_helpers import ROOT, TableRuntime, ThreadedServer, fake_repository, free_port, request

EXAMPLE = ROOT / "serving_image" / "examples" / "iris_pipeline"

HANDLERS = {
    "prep.py": """
        import asyncio
        import numpy as np

        def double(x):
            return {"y": x * 2}

        def negate(x):
            return {"y": -x}

        def join(left, right, headers):
            tag = headers.get("x-tag", "none")
            return {"total": left + right, "tag": np.array([tag] * len(left))}

        def pick(x):
            return {"route": np.array([b"neg" if x[0, 0] < 0 else b"pos"] * len(x), dtype=object)}

        def explode(x):
            raise ValueError("handler refuses this input")

        async def slow(x):
            await asyncio.sleep(1.0)
            return {"y": x}

        def slow_plain(x):
            import time
            time.sleep(0.12)
            return {"y": x}
    """,
}

PIPELINES = """
pipelines:
  chain:
    inputs: {x: {dtype: float32, shape: [-1, 2]}}
    outputs:
      scores: {from: model.scores, dtype: float32, shape: [-1, 2]}
    steps:
      - {name: pre, handler: "prep:double", inputs: {x: x}, outputs: [y]}
      - {name: model, model: ident, inputs: {x: pre.y}}
  fan:
    inputs: {x: {dtype: float32, shape: [-1, 2]}}
    outputs:
      total: {from: join.total, dtype: float32, shape: [-1, 2]}
      tag: {from: join.tag, dtype: string, shape: [-1]}
    steps:
      - {name: a, model: ident}
      - {name: b, model: swap}
      - {name: join, handler: "prep:join", inputs: {left: a.scores, right: b.scores}, outputs: [total, tag]}
  route:
    inputs: {x: {dtype: float32, shape: [-1, 2]}}
    outputs:
      out: {from: branch.y, dtype: float32, shape: [-1, 2]}
    steps:
      - {name: decide, handler: "prep:pick", inputs: {x: x}, outputs: [route]}
      - name: branch
        switch: decide.route
        cases:
          pos: {handler: "prep:double", inputs: {x: x}, outputs: [y]}
          neg: {handler: "prep:negate", inputs: {x: x}, outputs: [y]}
  ab:
    inputs: {x: {dtype: float32, shape: [-1, 2]}}
    outputs:
      scores: {from: pick.scores, dtype: float32, shape: [-1, 2]}
    steps:
      - name: pick
        split: {one: 0, two: 1}
        cases:
          one: {model: ident}
          two: {model: swap}
  broken:
    inputs: {x: {dtype: float32, shape: [-1, 2]}}
    outputs:
      y: {from: boom.y, dtype: float32, shape: [-1, 2]}
    steps:
      - {name: boom, handler: "prep:explode", inputs: {x: x}, outputs: [y]}
  slow_step:
    inputs: {x: {dtype: float32, shape: [-1, 2]}}
    outputs:
      y: {from: wait.y, dtype: float32, shape: [-1, 2]}
    steps:
      - {name: wait, handler: "prep:slow", inputs: {x: x}, outputs: [y], timeout_ms: 50}
  slow_plain_step:
    inputs: {x: {dtype: float32, shape: [-1, 2]}}
    outputs:
      y: {from: wait.y, dtype: float32, shape: [-1, 2]}
    steps:
      - {name: wait, handler: "prep:slow_plain", inputs: {x: x}, outputs: [y], timeout_ms: 50}
  slow_call:
    timeout_ms: 80
    inputs: {x: {dtype: float32, shape: [-1, 2]}}
    outputs:
      y: {from: wait.y, dtype: float32, shape: [-1, 2]}
    steps:
      - {name: wait, handler: "prep:slow", inputs: {x: x}, outputs: [y]}
"""


def write_repository(root: Path, pipelines: str = PIPELINES, handlers: dict[str, str] | None = None) -> object:
    runtimes = {
        "ident": TableRuntime(np.eye(2)),
        "swap": TableRuntime(np.array([[0.0, 1.0], [1.0, 0.0]])),
    }
    opener = fake_repository(root, runtimes)
    (root / "pipeline.yaml").write_text(textwrap.dedent(pipelines))
    (root / "handlers").mkdir(exist_ok=True)
    for name, code in (HANDLERS if handlers is None else handlers).items():
        (root / "handlers" / name).write_text(textwrap.dedent(code))
    return opener, runtimes


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ThreadedServer, dict[str, TableRuntime]]]:
    repo = tmp_path / "repo"
    opener, runtimes = write_repository(repo)
    with ThreadedServer(tmp_path, None, model_dir=repo, opener=opener) as server:
        yield server, runtimes  # type: ignore[misc]


def predict(server: ThreadedServer, model: str, rows: list[list[float]], headers: dict[str, str] | None = None):
    return request(server.port, "POST", f"/v1/models/{model}:predict", {"instances": rows}, headers)


def test_several_models_each_under_its_own_name(served: tuple[ThreadedServer, dict[str, TableRuntime]]) -> None:
    server, _ = served
    assert predict(server, "ident", [[1.0, 2.0]]).json() == {"predictions": [[1.0, 2.0]]}
    assert predict(server, "swap", [[1.0, 2.0]]).json() == {"predictions": [[2.0, 1.0]]}
    missing = predict(server, "nope", [[1.0, 2.0]])
    assert missing.status == 404 and "'ident'" in missing.json()["error"] and "'chain'" in missing.json()["error"]
    metadata = request(server.port, "GET", "/v2/models/swap").json()
    assert metadata["name"] == "swap" and metadata["versions"] == ["1"]
    assert request(server.port, "GET", "/v1/models/ident").json()["model_version_status"][0]["state"] == "AVAILABLE"
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        stub = open_inference_service_pb2_grpc.GRPCInferenceServiceStub(channel)
        call = open_inference_pb2.ModelInferRequest(model_name="swap")
        call.inputs.add(name="x", datatype="FP32", shape=[1, 2])
        call.raw_input_contents.append(np.array([[1.0, 2.0]], "<f4").tobytes())
        assert np.frombuffer(stub.ModelInfer(call).raw_output_contents[0], "<f4").tolist() == [2.0, 1.0]
        assert stub.ModelReady(open_inference_pb2.ModelReadyRequest(name="chain")).ready


def test_sequence_pipeline_on_every_protocol(served: tuple[ThreadedServer, dict[str, TableRuntime]]) -> None:
    server, _ = served
    assert predict(server, "chain", [[1.0, 2.0]]).json() == {"predictions": [[2.0, 4.0]]}
    v2 = request(
        server.port,
        "POST",
        "/v2/models/chain/infer",
        {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [3, 4]}]},
    ).json()
    assert v2["outputs"] == [{"name": "scores", "datatype": "FP32", "shape": [1, 2], "data": [6.0, 8.0]}]
    metadata = request(server.port, "GET", "/v2/models/chain").json()
    assert metadata["platform"] == "modelport_pipeline"
    assert metadata["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 2]}]
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        stub = open_inference_service_pb2_grpc.GRPCInferenceServiceStub(channel)
        call = open_inference_pb2.ModelInferRequest(model_name="chain")
        call.inputs.add(name="x", datatype="FP32", shape=[1, 2])
        call.raw_input_contents.append(np.array([[1.0, 1.0]], "<f4").tobytes())
        assert np.frombuffer(stub.ModelInfer(call).raw_output_contents[0], "<f4").tolist() == [2.0, 2.0]
    text = request(server.port, "GET", "/metrics").body.decode()
    assert 'modelport_pipeline_step_duration_seconds_count{pipeline="chain",status="ok",step="pre"}' in text


def test_fan_out_join_and_headers_reach_handlers(served: tuple[ThreadedServer, dict[str, TableRuntime]]) -> None:
    server, _ = served
    answer = predict(server, "fan", [[1.0, 2.0]], {"X-Tag": "t1"}).json()
    assert answer == {"predictions": [{"total": [3.0, 3.0], "tag": "t1"}]}


def test_switch_and_split(served: tuple[ThreadedServer, dict[str, TableRuntime]]) -> None:
    server, _ = served
    assert predict(server, "route", [[1.0, 2.0]]).json() == {"predictions": [[2.0, 4.0]]}
    assert predict(server, "route", [[-1.0, 2.0]]).json() == {"predictions": [[1.0, -2.0]]}
    mixed = predict(server, "route", [[-1.0, 2.0], [1.0, 1.0]])  # pick() routes by the first row: one value
    assert mixed.status == 200
    assert predict(server, "ab", [[1.0, 2.0]]).json() == {"predictions": [[2.0, 1.0]]}  # weight 0 never picked


def test_a_raising_handler_is_a_500_naming_the_step_and_the_server_keeps_serving(
    served: tuple[ThreadedServer, dict[str, TableRuntime]],
) -> None:
    server, _ = served
    failed = predict(server, "broken", [[1.0, 2.0]])
    assert failed.status == 500
    assert failed.json()["error"] == ("pipeline 'broken' step 'boom' failed: ValueError: handler refuses this input")
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        stub = open_inference_service_pb2_grpc.GRPCInferenceServiceStub(channel)
        call = open_inference_pb2.ModelInferRequest(model_name="broken")
        call.inputs.add(name="x", datatype="FP32", shape=[1, 2])
        call.raw_input_contents.append(np.zeros((1, 2), "<f4").tobytes())
        with pytest.raises(grpc.RpcError) as error:
            stub.ModelInfer(call)
        assert error.value.code() is grpc.StatusCode.INTERNAL
        assert "step 'boom'" in error.value.details()
    assert predict(server, "chain", [[1.0, 2.0]]).status == 200
    wrong = predict(server, "chain", [[1.0, 2.0, 3.0]])
    assert wrong.status == 400 and "'x'" in wrong.json()["error"]


def test_step_timeout_and_pipeline_deadline(served: tuple[ThreadedServer, dict[str, TableRuntime]]) -> None:
    server, _ = served
    step = predict(server, "slow_step", [[1.0, 2.0]])
    assert step.status == 504 and step.json()["error"] == (
        "pipeline 'slow_step' step 'wait': no answer within its 50 ms timeout"
    )
    plain = predict(server, "slow_plain_step", [[1.0, 2.0]])
    assert plain.status == 504 and "step 'wait': no answer within its 50 ms timeout" in plain.json()["error"]
    call = predict(server, "slow_call", [[1.0, 2.0]])
    assert call.status == 504 and call.json()["error"] == "pipeline 'slow_call': no answer within its 80 ms deadline"
    assert predict(server, "chain", [[1.0, 2.0]]).status == 200


def test_each_model_step_batches_across_concurrent_pipeline_calls(
    served: tuple[ThreadedServer, dict[str, TableRuntime]],
) -> None:
    server, runtimes = served
    runtimes["ident"].calls.clear()
    statuses: list[int] = []
    threads = [
        threading.Thread(target=lambda: statuses.append(predict(server, "chain", [[1.0, 1.0]]).status))
        for _ in range(24)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert statuses == [200] * 24
    assert sum(runtimes["ident"].calls) == 24
    assert max(runtimes["ident"].calls) > 1, runtimes["ident"].calls  # pipeline calls met in the model's batcher


BAD_FILES = [
    (
        "unknown model",
        "{name: m, model: ghost}",
        "pipeline.yaml: pipelines.p.steps[m].model: unknown model 'ghost'; the repository has ['ident', 'swap']",
    ),
    (
        "missing tensor",
        "{name: m, model: ident, inputs: {x: pre.nothing}}",
        "pipeline.yaml: pipelines.p.steps[m]: tensor 'pre.nothing' is no pipeline input (['x']) and no step.output",
    ),
    (
        "cycle",
        "{name: a, handler: 'prep:double', inputs: {x: b.y}, outputs: [y]}\n      - "
        "{name: b, handler: 'prep:double', inputs: {x: a.y}, outputs: [y]}",
        "pipeline.yaml: pipelines.p.steps: the steps ['a', 'b'] form a cycle",
    ),
    (
        "handler that cannot be imported",
        "{name: h, handler: 'missing:f', inputs: {x: x}, outputs: [y]}",
        "pipeline.yaml: pipelines.p.steps[h].handler 'missing:f': cannot import handlers/missing.py",
    ),
    (
        "unknown key",
        "{name: m, model: ident, retries: 3}",
        "pipeline.yaml: pipelines.p.steps[m].retries: unknown key; accepted keys:",
    ),
    (
        "model input that does not exist",
        "{name: m, model: ident, inputs: {nope: x}}",
        "pipeline.yaml: pipelines.p.steps[m].inputs.nope: model 'ident' has no input 'nope'; it takes ['x']",
    ),
]


def _refused(tmp_path: Path, step: str, handlers: dict[str, str] | None = None) -> tuple[str, Service]:
    """Load a repository whose one pipeline has ``step``; the start-up error it stops with."""
    pipelines = f"""
pipelines:
  p:
    inputs: {{x: {{dtype: float32, shape: [-1, 2]}}}}
    outputs: {{y: {{from: x, dtype: float32}}}}
    steps:
      - {step}
"""
    opener, _ = write_repository(tmp_path, pipelines, handlers)
    service = Service.create(load_settings({"MODEL_DIR": str(tmp_path), "GRPC_PORT": "0"}), opener=opener)

    async def load() -> None:
        try:
            await service.repository.load()
        finally:
            await service.repository.close()

    with pytest.raises(ModelLoadError) as error:
        asyncio.run(load())
    return str(error.value), service


@pytest.mark.parametrize(("case", "step", "message"), BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_a_bad_pipeline_file_stops_the_server_naming_step_and_key(
    tmp_path: Path, case: str, step: str, message: str
) -> None:
    error, service = _refused(tmp_path, step)
    assert error.startswith(message), error
    assert service.repository.error == error
    assert service.readiness().status_code == 503


@pytest.mark.slow
def test_the_shipped_example_end_to_end(tmp_path: Path, models: dict[str, Path]) -> None:
    """Scale, classify with a real model, map to labels: HTTP JSON and gRPC agree with the model run alone."""
    repo = tmp_path / "iris_pipeline"
    shutil.copytree(EXAMPLE, repo)
    shutil.copytree(models["mlp"], repo / "iris")
    with ThreadedServer(
        tmp_path, None, model_dir=repo, opener=__import__("serving_image.runtime").runtime.open_runtime
    ) as s:
        rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
        answer = predict(s, "classify", rows)
        assert answer.status == 200, answer.body
        predictions = answer.json()["predictions"]
        features = (np.array(rows, np.float32) - [5.843, 3.057, 3.758, 1.199]) / [0.825, 0.434, 1.759, 0.760]
        scores = np.array(predict(s, "iris", features.tolist()).json()["predictions"])
        names = ["setosa", "versicolor", "virginica"]
        assert [p["label"] for p in predictions] == [names[i] for i in scores.argmax(axis=1)]
        assert [p["confidence"] for p in predictions] == pytest.approx(scores.max(axis=1).tolist(), rel=1e-4)
        with grpc.insecure_channel(f"127.0.0.1:{s.grpc_port}") as channel:
            stub = open_inference_service_pb2_grpc.GRPCInferenceServiceStub(channel)
            call = open_inference_pb2.ModelInferRequest(model_name="classify")
            call.inputs.add(name="measurements", datatype="FP32", shape=[2, 4])
            call.raw_input_contents.append(np.array(rows, "<f4").tobytes())
            reply = stub.ModelInfer(call)
            labels = {o.name: (o.datatype, i) for i, o in enumerate(reply.outputs)}
            assert labels["label"][0] == "BYTES"
            raw = reply.raw_output_contents[labels["label"][1]]
            first = int.from_bytes(raw[:4], "little")
            assert raw[4 : 4 + first].decode() == predictions[0]["label"]


def test_a_bad_pipeline_file_makes_the_server_process_exit_1_naming_the_step(tmp_path: Path, server: object) -> None:
    (tmp_path / "pipeline.yaml").write_text(
        "pipelines:\n  p:\n    inputs: {x: {dtype: float32}}\n    outputs: {y: {from: m.y, dtype: float32}}\n"
        "    steps:\n      - {name: m, model: ghost}\n"
    )
    port = free_port()
    process = server([], {"PORT": str(port), "MODEL_DIR": str(tmp_path)})  # type: ignore[operator]
    assert process.process.wait(60) == 1
    assert "pipeline.yaml: pipelines.p.steps[m].model: unknown model 'ghost'" in process.output()


def test_a_models_batcher_does_not_wait_for_pipeline_calls_that_will_not_reach_it(tmp_path: Path) -> None:
    """Batchers wait for company while requests are in flight; a pipeline call past a model's step, or one that
    never uses the model, is not coming."""
    only_chain = PIPELINES.split("  fan:")[0]
    opener, _ = write_repository(tmp_path, only_chain)
    in_flight = [10]
    settings = load_settings({"MODEL_DIR": str(tmp_path), "GRPC_PORT": "0"})
    service = Service.create(settings, opener=opener)
    service.repository.in_flight = lambda: in_flight[0]

    async def check() -> tuple[int, int, int, int]:
        repository = service.repository
        await repository.load()
        try:
            chain = repository.pipelines["chain"]
            ident, swap = repository._in_flight_for("ident"), repository._in_flight_for("swap")
            assert ident is not None and swap is not None
            before = (ident(), swap())
            chain.active, chain.past["ident"] = 4, 3  # 4 chain calls running, 3 of them past the model
            return (*before, ident(), swap())
        finally:
            await repository.close()

    assert asyncio.run(check()) == (10, 10, 7, 6)


# ------------------------------------------------------------------------------------------ fused pipelines

FUSED_HANDLERS = {
    "rows.py": """
        import time
        import numpy as np

        CALLS = []  # the rows of each call, so the test sees one call per batch

        def scale(x):
            CALLS.append(len(x))
            if (x < 0).any():
                raise ValueError("negative measurement")
            return {"y": x * 10}

        def top(scores):
            best = scores.argmax(axis=1)
            return {"label": best, "score": scores[np.arange(len(best)), best]}

        def slow(x):
            time.sleep(0.12)
            return {"y": x}

        def tagged(x, headers):
            return {"y": x}

        async def later(x):
            return {"y": x}
    """,
}

FUSED = """
pipelines:
  fused:
    inputs: {x: {dtype: float32, shape: [-1, 2]}}
    outputs:
      label: {from: post.label, dtype: int64, shape: [-1]}
      score: {from: post.score, dtype: float32, shape: [-1]}
    steps:
      - {name: pre, handler: "rows:scale", inputs: {x: x}, outputs: [y], batch: true}
      - {name: model, model: swap, inputs: {x: pre.y}}
      - {name: post, handler: "rows:top", inputs: {scores: model.scores}, outputs: [label, score], batch: true}
  per_call:
    inputs: {x: {dtype: float32, shape: [-1, 2]}}
    outputs:
      label: {from: post.label, dtype: int64, shape: [-1]}
      score: {from: post.score, dtype: float32, shape: [-1]}
    steps:
      - {name: pre, handler: "rows:scale", inputs: {x: x}, outputs: [y]}
      - {name: model, model: swap, inputs: {x: pre.y}}
      - {name: post, handler: "rows:top", inputs: {scores: model.scores}, outputs: [label, score]}
  slow_fused:
    inputs: {x: {dtype: float32, shape: [-1, 2]}}
    outputs:
      y: {from: wait.y, dtype: float32, shape: [-1, 2]}
    steps:
      - {name: wait, handler: "rows:slow", inputs: {x: x}, outputs: [y], batch: true, timeout_ms: 50}
  fused_deadline:
    timeout_ms: 60
    inputs: {x: {dtype: float32, shape: [-1, 2]}}
    outputs:
      y: {from: wait.y, dtype: float32, shape: [-1, 2]}
    steps:
      - {name: model, model: ident}
      - {name: wait, handler: "rows:slow", inputs: {x: model.scores}, outputs: [y], batch: true}
"""


@pytest.fixture
def fused(tmp_path: Path) -> Iterator[tuple[ThreadedServer, dict[str, TableRuntime]]]:
    repo = tmp_path / "repo"
    opener, runtimes = write_repository(repo, FUSED, FUSED_HANDLERS)
    with ThreadedServer(tmp_path, None, model_dir=repo, opener=opener) as server:
        yield server, runtimes  # type: ignore[misc]


def _concurrently(calls: list[Callable[[], object]]) -> list[object]:
    results: list[object] = [None] * len(calls)

    def run(index: int) -> None:
        results[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_a_fused_pipeline_runs_each_step_once_per_batch_and_answers_each_call_its_own_rows(
    fused: tuple[ThreadedServer, dict[str, TableRuntime]],
) -> None:
    server, runtimes = fused
    handlers = sys.modules["modelport_pipeline_handlers.rows"]
    handlers.CALLS.clear()  # type: ignore[attr-defined]
    runtimes["swap"].calls.clear()
    rows = [[[float(i), float(i % 3)]] for i in range(24)]
    answers = _concurrently([lambda row=row: predict(server, "fused", row) for row in rows])
    for row, answer in zip(rows, answers, strict=True):
        assert answer.status == 200, answer.body  # type: ignore[attr-defined]
        swapped = [row[0][1] * 10, row[0][0] * 10]  # pre scales by 10, swap exchanges the columns
        best = int(np.argmax(swapped))
        assert answer.json() == {"predictions": [{"label": best, "score": swapped[best]}]}  # type: ignore[attr-defined]
    assert sum(runtimes["swap"].calls) == 24 and sum(handlers.CALLS) == 24  # type: ignore[attr-defined]
    # Batches met in the pipeline's own batcher: each handler ran once per batch, not once per call.
    assert max(handlers.CALLS) > 1 and len(handlers.CALLS) == len(runtimes["swap"].calls)  # type: ignore[attr-defined]
    # The same steps run call by call give the same answers.
    assert predict(server, "per_call", rows[5][0:1]).json() == predict(server, "fused", rows[5][0:1]).json()
    metrics = request(server.port, "GET", "/metrics").body.decode()
    assert 'modelport_pipeline_step_duration_seconds_count{pipeline="fused",status="ok",step="post"}' in metrics
    assert 'modelport_batch_size_count{model="fused"}' in metrics


def test_a_failing_call_in_a_fused_batch_fails_alone_naming_the_step(
    fused: tuple[ThreadedServer, dict[str, TableRuntime]],
) -> None:
    server, _ = fused
    rows = [[[-1.0, 1.0]] if i == 7 else [[1.0, float(i)]] for i in range(16)]
    answers = _concurrently([lambda row=row: predict(server, "fused", row) for row in rows])
    statuses = [answer.status for answer in answers]  # type: ignore[attr-defined]
    assert statuses == [500 if i == 7 else 200 for i in range(16)]
    assert answers[7].json()["error"] == (  # type: ignore[attr-defined]
        "pipeline 'fused' step 'pre' failed: ValueError: negative measurement"
    )
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        stub = open_inference_service_pb2_grpc.GRPCInferenceServiceStub(channel)
        call = open_inference_pb2.ModelInferRequest(model_name="fused")
        call.inputs.add(name="x", datatype="FP32", shape=[1, 2])
        call.raw_input_contents.append(np.array([[-1.0, 0.0]], "<f4").tobytes())
        with pytest.raises(grpc.RpcError) as error:
            stub.ModelInfer(call)
        assert error.value.code() is grpc.StatusCode.INTERNAL and "step 'pre'" in error.value.details()
    assert predict(server, "fused", [[1.0, 2.0]]).status == 200


def test_a_fused_step_timeout_and_the_fused_pipeline_deadline(
    fused: tuple[ThreadedServer, dict[str, TableRuntime]],
) -> None:
    server, _ = fused
    answers = _concurrently([lambda: predict(server, "slow_fused", [[1.0, 2.0]]) for _ in range(4)])
    for answer in answers:
        assert answer.status == 504  # type: ignore[attr-defined]
        assert answer.json()["error"] == (  # type: ignore[attr-defined]
            "pipeline 'slow_fused' step 'wait': no answer within its 50 ms timeout"
        )
    late = predict(server, "fused_deadline", [[1.0, 2.0]])
    assert late.status == 504
    assert late.json()["error"] == "pipeline 'fused_deadline': no answer within its 60 ms deadline"
    assert predict(server, "fused", [[1.0, 2.0]]).status == 200


def test_which_pipelines_are_fused(tmp_path: Path) -> None:
    opener, _ = write_repository(tmp_path, FUSED, FUSED_HANDLERS)
    settings = load_settings({"MODEL_DIR": str(tmp_path), "GRPC_PORT": "0"})
    service = Service.create(settings, opener=opener)
    service.repository.in_flight = lambda: 10

    async def check() -> None:
        repository = service.repository
        await repository.load()
        try:
            pipelines = repository.pipelines
            assert pipelines["fused"].fused and pipelines["fused"].batcher is not None
            assert pipelines["fused"].describe() == "pre → model → post (fused: each batch runs every step)"
            assert not pipelines["per_call"].fused and pipelines["per_call"].batcher is None
            # A fused call never reaches the model's own batcher, which does not wait for it.
            swap = repository._in_flight_for("swap")
            assert swap is not None and swap() == 10
            pipelines["fused"].active = 3
            assert swap() == 7
            fused_in_flight = repository._in_flight_for("fused")
            assert fused_in_flight is not None and fused_in_flight() == 10  # its own calls are company
        finally:
            await repository.close()

    asyncio.run(check())


BAD_BATCH = [
    (
        "batch on a model step",
        "{name: m, model: ident, batch: true}",
        "pipeline.yaml: pipelines.p.steps[m].batch: a model step always batches; 'batch' is for handler steps",
    ),
    (
        "batch that is not a boolean",
        "{name: h, handler: 'rows:scale', inputs: {x: x}, outputs: [y], batch: 'yes'}",
        "pipeline.yaml: pipelines.p.steps[h].batch must be true or false (got 'yes')",
    ),
    (
        "batched handler that takes headers",
        "{name: h, handler: 'rows:tagged', inputs: {x: x}, outputs: [y], batch: true}",
        "pipeline.yaml: pipelines.p.steps[h].batch: rows:tagged takes the request headers",
    ),
    (
        "batched async handler",
        "{name: h, handler: 'rows:later', inputs: {x: x}, outputs: [y], batch: true}",
        "pipeline.yaml: pipelines.p.steps[h].batch: rows:later is async",
    ),
    (
        "batch inside a switch case",
        "{name: s, switch: x, cases: {a: {handler: 'rows:scale', inputs: {x: x}, outputs: [y], batch: true}}}",
        "pipeline.yaml: pipelines.p.steps[s].cases.a.batch: unknown key",
    ),
]


@pytest.mark.parametrize(("case", "step", "message"), BAD_BATCH, ids=[c[0] for c in BAD_BATCH])
def test_a_bad_batch_key_stops_the_server_naming_step_and_key(
    tmp_path: Path, case: str, step: str, message: str
) -> None:
    error, _ = _refused(tmp_path, step, FUSED_HANDLERS)
    assert error.startswith(message), error


def test_a_handler_raising_timeout_error_without_a_step_timeout_is_a_500_naming_the_step(tmp_path: Path) -> None:
    handlers = {"late.py": "def late(x):\n    raise TimeoutError('the feature store did not answer')\n"}
    pipelines = """
pipelines:
  p:
    inputs: {x: {dtype: float32, shape: [-1, 2]}}
    outputs: {y: {from: s.y, dtype: float32, shape: [-1, 2]}}
    steps:
      - {name: s, handler: "late:late", inputs: {x: x}, outputs: [y]}
  q:
    inputs: {x: {dtype: float32, shape: [-1, 2]}}
    outputs: {y: {from: s.y, dtype: float32, shape: [-1, 2]}}
    steps:
      - {name: s, handler: "late:late", inputs: {x: x}, outputs: [y], batch: true}
"""
    opener, _ = write_repository(tmp_path / "repo", pipelines, handlers)
    with ThreadedServer(tmp_path, None, model_dir=tmp_path / "repo", opener=opener) as server:
        for name in ("p", "q"):  # step by step, and fused
            answer = predict(server, name, [[1.0, 2.0]])
            assert answer.status == 500, answer.body
            assert answer.json()["error"] == (
                f"pipeline {name!r} step 's' failed: TimeoutError: the feature store did not answer"
            )
