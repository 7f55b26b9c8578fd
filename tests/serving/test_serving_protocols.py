"""Every protocol's routes and body formats against real TensorFlow and LiteRT models, in process."""

from __future__ import annotations

import base64
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from serving_image.app import ServingApp
from serving_image.config import load_settings
from serving_image.service import Service

from .serving_helpers import wait_ready

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

pytestmark = pytest.mark.slow

X = [[0.5, -1.0, 2.0, 0.25], [1.0, 1.0, 1.0, 1.0]]


def client_for(model_dir: Path, **env: str) -> Iterator[TestClient]:
    settings = load_settings({"MODEL_DIR": str(model_dir), **env})
    with TestClient(ServingApp(Service.create(settings)), raise_server_exceptions=False) as client:
        wait_ready(client, timeout=120)
        yield client


@pytest.fixture(scope="module")
def mlp(models: dict[str, Path]) -> Iterator[TestClient]:
    yield from client_for(
        models["mlp"], AIP_PREDICT_ROUTE="/v1/endpoints/7/deployedModels/9:predict", AIP_HEALTH_ROUTE="/vertex/health"
    )


@pytest.fixture(scope="module")
def multi(models: dict[str, Path]) -> Iterator[TestClient]:
    yield from client_for(models["multi"])


@pytest.fixture(scope="module")
def versions(models: dict[str, Path]) -> Iterator[TestClient]:
    yield from client_for(models["versions"], MODEL_NAME="scaler")


@pytest.fixture(scope="module")
def expected(models: dict[str, Path]) -> np.ndarray:
    import tensorflow as tf

    signature = tf.saved_model.load(str(models["mlp"])).signatures["serving_default"]
    return signature(features=tf.constant(X, tf.float32))["output_0"].numpy()


# --- TF Serving REST ---------------------------------------------------------------------------------------


def test_row_format(mlp: TestClient, expected: np.ndarray) -> None:
    response = mlp.post("/v1/models/model:predict", json={"instances": X})
    assert response.status_code == 200
    np.testing.assert_allclose(response.json()["predictions"], expected, rtol=1e-6)


def test_columnar_format(mlp: TestClient, expected: np.ndarray) -> None:
    response = mlp.post("/v1/models/model:predict", json={"inputs": X})
    np.testing.assert_allclose(response.json()["outputs"], expected, rtol=1e-6)
    named = mlp.post("/v1/models/model:predict", json={"inputs": {"features": X}})
    np.testing.assert_allclose(named.json()["outputs"], expected, rtol=1e-6)


def test_named_instances(mlp: TestClient, expected: np.ndarray) -> None:
    response = mlp.post("/v1/models/model:predict", json={"instances": [{"features": row} for row in X]})
    np.testing.assert_allclose(response.json()["predictions"], expected, rtol=1e-6)


def test_status_and_metadata(mlp: TestClient) -> None:
    status = mlp.get("/v1/models/model").json()
    assert status == {
        "model_version_status": [
            {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
        ]
    }
    metadata = mlp.get("/v1/models/model/metadata").json()
    signature = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert metadata["model_spec"]["version"] == "1"
    assert signature["inputs"]["features"]["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in signature["inputs"]["features"]["tensor_shape"]["dim"]] == ["-1", "4"]
    assert signature["outputs"]["output_0"]["dtype"] == "DT_FLOAT"
    assert signature["method_name"] == "tensorflow/serving/predict"


def test_multi_input_row_and_columnar(multi: TestClient) -> None:
    instances = [{"a": [1.0, 2.0], "b": [1, 2, 3]}, {"a": [0.5, 0.5], "b": [0, 0, 1]}]
    rows = multi.post("/v1/models/model:predict", json={"instances": instances}).json()["predictions"]
    assert rows == [{"total": 9.0, "doubled": [2, 4, 6]}, {"total": 2.0, "doubled": [0, 0, 2]}]
    columns = multi.post("/v1/models/model:predict", json={"inputs": {"a": [[1.0, 2.0]], "b": [[1, 2, 3]]}}).json()
    assert columns == {"outputs": {"total": [9.0], "doubled": [[2, 4, 6]]}}


def test_multi_input_errors_name_the_input(multi: TestClient) -> None:
    missing = multi.post("/v1/models/model:predict", json={"instances": [{"a": [1.0, 2.0]}]})
    assert missing.status_code == 400 and "missing input 'b'" in missing.json()["error"]
    fraction = multi.post("/v1/models/model:predict", json={"inputs": {"a": [[1.0, 2.0]], "b": [[1.5, 2, 3]]}})
    assert fraction.status_code == 400
    assert "input 'b' expects int32 values, got numbers with a fractional part" in fraction.json()["error"]
    too_big = multi.post("/v1/models/model:predict", json={"inputs": {"a": [[1.0, 2.0]], "b": [[2**40, 2, 3]]}})
    assert too_big.status_code == 400 and "outside" in too_big.json()["error"]
    unnamed = multi.post("/v1/models/model:predict", json={"instances": [[1.0, 2.0]]})
    assert unnamed.status_code == 400 and "key each value by input name" in unnamed.json()["error"]
    rows = multi.post("/v1/models/model:predict", json={"inputs": {"a": [[1.0, 2.0]], "b": [[1, 2, 3], [1, 2, 3]]}})
    assert rows.status_code == 400 and "disagree on the batch size" in rows.json()["error"]


def test_signature_name_is_honoured(multi: TestClient) -> None:
    response = multi.post("/v1/models/model:predict", json={"signature_name": "scale", "instances": [[1.0, 2.0]]})
    assert response.json() == {"predictions": [[10.0, 20.0]]}
    signatures = multi.get("/v1/models/model/metadata").json()["metadata"]["signature_def"]["signature_def"]
    assert set(signatures) == {"serving_default", "scale"}


def test_versions(versions: TestClient) -> None:
    body = {"instances": [[1.0, 2.0]]}
    assert versions.post("/v1/models/scaler:predict", json=body).json() == {"predictions": [[2.0, 4.0]]}
    assert versions.post("/v1/models/scaler/versions/1:predict", json=body).json() == {"predictions": [[1.0, 2.0]]}
    assert versions.post("/v1/models/scaler/versions/2:predict", json=body).json() == {"predictions": [[2.0, 4.0]]}
    missing = versions.post("/v1/models/scaler/versions/3:predict", json=body)
    assert missing.status_code == 404 and "available versions: 1, 2" in missing.json()["error"]
    assert [s["version"] for s in versions.get("/v1/models/scaler").json()["model_version_status"]] == ["2", "1"]
    assert versions.get("/v1/models/scaler/versions/1").json()["model_version_status"][0]["version"] == "1"
    assert versions.get("/v1/models/scaler/versions/1/metadata").json()["model_spec"]["version"] == "1"
    kserve = versions.post(
        "/v2/models/scaler/versions/1/infer",
        json={"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}]},
    )
    assert kserve.json()["model_version"] == "1" and kserve.json()["outputs"][0]["data"] == [1.0, 2.0]
    assert versions.get("/v2/models/scaler").json()["versions"] == ["1", "2"]
    assert versions.get("/v2/models/scaler/versions/3/ready").status_code == 404


def test_string_inputs_and_outputs(models: dict[str, Path]) -> None:
    for client in client_for(models["strings"]):
        encoded = base64.b64encode(b"\xff\xfe").decode()
        response = client.post("/v1/models/model:predict", json={"instances": ["héllo", {"b64": encoded}]})
        assert response.json() == {"predictions": [6, 2]}
        bad = client.post("/v1/models/model:predict", json={"instances": [1, 2]})
        assert bad.status_code == 400 and "input 'text' must hold strings" in bad.json()["error"]
        kserve = client.post(
            "/v2/models/model/infer",
            json={"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": ["ab", "abc"]}]},
        )
        assert kserve.json()["outputs"][0] == {"name": "length", "datatype": "INT32", "shape": [2], "data": [2, 3]}


# --- KServe V2 ---------------------------------------------------------------------------------------------


def test_kserve_health_and_metadata(mlp: TestClient) -> None:
    assert mlp.get("/v2/health/live").status_code == 200
    assert mlp.get("/v2/health/ready").status_code == 200
    assert mlp.get("/v2/models/model/ready").json() == {"name": "model", "ready": True}
    assert mlp.get("/v2").json()["name"] == "modelport"
    metadata = mlp.get("/v2/models/model").json()
    assert metadata == {
        "name": "model",
        "versions": ["1"],
        "platform": "tensorflow_savedmodel",
        "inputs": [{"name": "features", "datatype": "FP32", "shape": [-1, 4]}],
        "outputs": [{"name": "output_0", "datatype": "FP32", "shape": [-1, 3]}],
    }


def test_kserve_infer_echoes_id(mlp: TestClient, expected: np.ndarray) -> None:
    body = {
        "id": "req-42",
        "inputs": [{"name": "features", "shape": [2, 4], "datatype": "FP32", "data": [v for row in X for v in row]}],
    }
    reply = mlp.post("/v2/models/model/infer", json=body).json()
    assert reply["id"] == "req-42"
    assert (reply["model_name"], reply["model_version"]) == ("model", "1")
    (output,) = reply["outputs"]
    assert (output["name"], output["datatype"], output["shape"]) == ("output_0", "FP32", [2, 3])
    np.testing.assert_allclose(np.reshape(output["data"], (2, 3)), expected, rtol=1e-6)
    nested = dict(body, inputs=[dict(body["inputs"][0], data=X)])
    assert mlp.post("/v2/models/model/infer", json=nested).status_code == 200


def test_kserve_output_selection(multi: TestClient) -> None:
    body = {
        "inputs": [
            {"name": "a", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]},
            {"name": "b", "shape": [1, 3], "datatype": "INT32", "data": [1, 2, 3]},
        ],
        "outputs": [{"name": "doubled"}],
    }
    reply = multi.post("/v2/models/model/infer", json=body).json()
    assert reply["outputs"] == [{"name": "doubled", "datatype": "INT32", "shape": [1, 3], "data": [2, 4, 6]}]
    body["outputs"] = [{"name": "nope"}]
    assert "unknown output 'nope'" in multi.post("/v2/models/model/infer", json=body).json()["error"]


@pytest.mark.parametrize(
    ("tensor", "fragment"),
    [
        (
            {"name": "features", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]},
            "input 'features' has datatype FP64 but the model expects FP32",
        ),
        ({"name": "features", "shape": [1, 4], "datatype": "FLOAT", "data": [1, 2, 3, 4]}, "datatype must be one of"),
        (
            {"name": "features", "shape": [2, 4], "datatype": "FP32", "data": [1, 2, 3, 4]},
            "data has 4 elements but shape [2, 4] needs 8",
        ),
        (
            {"name": "features", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]},
            "input 'features' has shape [1, 3] but the model expects [-1, 4]",
        ),
        ({"name": "other", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}, "unknown input 'other'"),
        ({"name": "features", "shape": [1, 4], "datatype": "FP32"}, "has no 'data'"),
        ({"name": "features", "shape": "1x4", "datatype": "FP32", "data": [1, 2, 3, 4]}, "shape must be a list"),
    ],
)
def test_kserve_bad_tensors(mlp: TestClient, tensor: dict[str, object], fragment: str) -> None:
    response = mlp.post("/v2/models/model/infer", json={"inputs": [tensor]})
    assert response.status_code == 400
    assert fragment in response.json()["error"]


def binary_request(header: dict[str, object], payload: bytes) -> tuple[bytes, dict[str, str]]:
    import json

    encoded = json.dumps(header).encode()
    return encoded + payload, {
        "content-type": "application/octet-stream",
        "inference-header-content-length": str(len(encoded)),
    }


def test_kserve_binary_tensor_data(mlp: TestClient, expected: np.ndarray) -> None:
    raw = np.asarray(X, dtype="<f4").tobytes()
    header = {
        "id": "bin",
        "inputs": [
            {"name": "features", "shape": [2, 4], "datatype": "FP32", "parameters": {"binary_data_size": len(raw)}}
        ],
    }
    body, headers = binary_request(header, raw)
    reply = mlp.post("/v2/models/model/infer", content=body, headers=headers)
    assert reply.status_code == 200, reply.text
    assert reply.json()["id"] == "bin"
    np.testing.assert_allclose(np.reshape(reply.json()["outputs"][0]["data"], (2, 3)), expected, rtol=1e-6)


@pytest.mark.parametrize(
    ("size", "extra", "fragment"),
    [
        (32, b"", "runs past the 16 bytes left"),
        (16, b"\0" * 4, "4 bytes of binary data follow"),
        (15, b"", "not a whole number of FP32 values"),
    ],
)
def test_kserve_binary_errors(mlp: TestClient, size: int, extra: bytes, fragment: str) -> None:
    raw = np.ones((1, 4), "<f4").tobytes()[: min(size, 16)] + extra
    header = {
        "inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32", "parameters": {"binary_data_size": size}}]
    }
    body, headers = binary_request(header, raw)
    response = mlp.post("/v2/models/model/infer", content=body, headers=headers)
    assert response.status_code == 400 and fragment in response.json()["error"], response.text


def test_kserve_binary_header_length_is_checked(mlp: TestClient) -> None:
    response = mlp.post(
        "/v2/models/model/infer",
        content=b"{}",
        headers={"content-type": "application/octet-stream", "inference-header-content-length": "99"},
    )
    assert response.status_code == 400 and "Inference-Header-Content-Length" in response.json()["error"]
    image = mlp.post(
        "/v2/models/model/infer",
        content=b"{}",
        headers={"content-type": "image/png", "inference-header-content-length": "2"},
    )
    assert image.status_code == 415


# --- SageMaker -----------------------------------------------------------------------------------------------


def test_sagemaker_ping_and_json(mlp: TestClient, expected: np.ndarray) -> None:
    assert mlp.get("/ping").status_code == 200
    for body in ({"instances": X}, X):
        response = mlp.post("/invocations", json=body)
        np.testing.assert_allclose(response.json()["predictions"], expected, rtol=1e-6)
    columnar = mlp.post("/invocations", json={"inputs": X}).json()
    np.testing.assert_allclose(columnar["outputs"], expected, rtol=1e-6)


def test_sagemaker_csv_in_and_out(mlp: TestClient, expected: np.ndarray) -> None:
    csv_body = "\n".join(",".join(str(v) for v in row) for row in X) + "\n"
    response = mlp.post("/invocations", content=csv_body, headers={"content-type": "text/csv"})
    np.testing.assert_allclose(response.json()["predictions"], expected, rtol=1e-6)
    as_csv = mlp.post("/invocations", content=csv_body, headers={"content-type": "text/csv", "accept": "text/csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    parsed = [[float(v) for v in line.split(",")] for line in as_csv.text.strip().splitlines()]
    np.testing.assert_allclose(parsed, expected, rtol=1e-6)
    bad = mlp.post("/invocations", content="1,2,x,4\n", headers={"content-type": "text/csv"})
    assert bad.status_code == 400 and "CSV line 1 has a non-numeric field 'x'" in bad.json()["error"]


def test_sagemaker_json_lines(mlp: TestClient, expected: np.ndarray) -> None:
    lines = "\n".join(f"[{', '.join(str(v) for v in row)}]" for row in X) + "\n"
    response = mlp.post(
        "/invocations",
        content=lines,
        headers={"content-type": "application/jsonlines", "accept": "application/jsonlines"},
    )
    assert response.headers["content-type"].startswith("application/jsonlines")
    import json

    rows = [json.loads(line) for line in response.text.strip().splitlines()]
    np.testing.assert_allclose(rows, expected, rtol=1e-6)
    bad = mlp.post("/invocations", content='[1, 2, 3, 4]\n{"x"\n', headers={"content-type": "application/jsonlines"})
    assert bad.status_code == 400 and "line 2" in bad.json()["error"]


def test_sagemaker_refusals(mlp: TestClient, multi: TestClient) -> None:
    assert mlp.post("/invocations", content="1,2", headers={"content-type": "image/png"}).status_code == 415
    assert mlp.post("/invocations", json={"instances": X}, headers={"accept": "image/png"}).status_code == 406
    csv_multi = multi.post("/invocations", content="1,2\n", headers={"content-type": "text/csv"})
    assert csv_multi.status_code == 415 and "one-input model" in csv_multi.json()["error"]
    assert mlp.get("/execution-parameters").json()["MaxPayloadInMB"] == 6


# --- Vertex AI -----------------------------------------------------------------------------------------------


def test_vertex_routes(mlp: TestClient, expected: np.ndarray) -> None:
    assert mlp.get("/vertex/health").status_code == 200
    route = "/v1/endpoints/7/deployedModels/9:predict"
    response = mlp.post(route, json={"instances": X, "parameters": {"ignored": True}})
    np.testing.assert_allclose(response.json()["predictions"], expected, rtol=1e-6)
    columnar = mlp.post(route, json={"inputs": X})
    assert columnar.status_code == 400 and "takes {'instances'" in columnar.json()["error"]


# --- metrics -------------------------------------------------------------------------------------------------


def test_metrics_count_requests_batches_and_rejections(models: dict[str, Path]) -> None:
    for client in client_for(models["mlp_tflite"]):
        for _ in range(3):
            assert client.post("/v1/models/model:predict", json={"instances": X}).status_code == 200
        assert (
            client.post(
                "/v1/models/model:predict", content=b"{", headers={"content-type": "application/json"}
            ).status_code
            == 400
        )
        text = client.get("/metrics").text
        assert client.get("/metrics").headers["content-type"].startswith("text/plain")
        predict = 'route="/v1/models/{model}:predict"'
        labels = 'model="model",protocol="http"'
        assert f'modelport_request_duration_seconds_count{{{labels},{predict},status="200"}} 3.0' in text
        assert f'modelport_request_duration_seconds_count{{{labels},{predict},status="400"}} 1.0' in text
        assert 'modelport_batch_size_sum{model="model"} 6.0' in text
        assert 'modelport_queue_seconds_count{model="model"} 3.0' in text
        assert 'modelport_inference_seconds_count{model="model"}' in text
        assert "modelport_in_flight_requests 1.0" in text  # this scrape
        assert 'modelport_model_ready{model="model"} 1.0' in text
