"""Each platform's contract against a real server process: the platform's own environment variables,
routes and body formats, on a free loopback port."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from .serving_helpers import ServerProcess, free_port

pytestmark = pytest.mark.slow

ROW = [0.5, -1.0, 2.0, 0.25]
Start = Callable[..., ServerProcess]


def predictions(response: object) -> list[list[float]]:
    assert response.status == 200, response.body  # type: ignore[attr-defined]
    return response.json()["predictions"]  # type: ignore[attr-defined]


def test_sagemaker(server: Start, models: dict[str, Path]) -> None:
    port = free_port()
    # SageMaker runs `docker run IMAGE serve`; SAGEMAKER_BIND_TO_PORT wins over PORT.
    process = server(
        ["serve"],
        {"SAGEMAKER_BIND_TO_PORT": str(port), "PORT": str(free_port()), "MODEL_DIR": str(models["mlp_tflite"])},
    )
    process.wait_ready("/ping")
    (row,) = predictions(process.request("POST", "/invocations", {"instances": [ROW]}))
    assert len(row) == 3 and abs(sum(row) - 1) < 1e-5
    csv = process.request("POST", "/invocations", ",".join(map(str, ROW)) + "\n", {"Content-Type": "text/csv"})
    assert predictions(csv) == [row]
    lines = process.request(
        "POST",
        "/invocations",
        json.dumps(ROW) + "\n" + json.dumps(ROW) + "\n",
        {"Content-Type": "application/jsonlines", "Accept": "application/jsonlines"},
    )
    assert [json.loads(line) for line in lines.body.decode().splitlines()] == [row, row]


def test_vertex(server: Start, models: dict[str, Path], tmp_path: Path) -> None:
    port = free_port()
    process = server(
        [],
        {
            "AIP_HTTP_PORT": str(port),
            "AIP_HEALTH_ROUTE": "/health",
            "AIP_STORAGE_URI": str(models["mlp_tflite"]),
            "AIP_PREDICT_ROUTE": "/v1/endpoints/123/deployedModels/456:predict",
        },
    )
    process.wait_ready("/health")
    (row,) = predictions(
        process.request("POST", "/v1/endpoints/123/deployedModels/456:predict", {"instances": [ROW], "parameters": {}})
    )
    assert len(row) == 3


def test_azure_ml(server: Start, models: dict[str, Path], tmp_path: Path) -> None:
    # Azure ML mounts the registered model below AZUREML_MODEL_DIR, in a folder of its own.
    mounted = tmp_path / "azureml-models" / "churn" / "2"
    shutil.copytree(models["mlp"], mounted / "model")
    port = free_port()
    process = server(["--port", str(port)], {"AZUREML_MODEL_DIR": str(mounted)}, port=port)
    process.wait_ready("/v2/health/ready")
    (row,) = predictions(process.request("POST", "/v1/models/model:predict", {"instances": [ROW]}))
    assert len(row) == 3
    assert process.request("GET", "/v2/health/live").status == 200


def test_azure_functions_custom_handler(server: Start, models: dict[str, Path]) -> None:
    port = free_port()
    process = server(
        ["serve"],
        {"FUNCTIONS_CUSTOMHANDLER_PORT": str(port), "PORT": str(free_port()), "MODEL_DIR": str(models["mlp_tflite"])},
    )
    process.wait_ready()
    # enableForwardingHttpRequest forwards the original path and body unchanged.
    assert len(predictions(process.request("POST", "/v1/models/model:predict", {"instances": [ROW]}))) == 1


def test_lambda_web_adapter_turns_batching_off(server: Start, models: dict[str, Path]) -> None:
    port = free_port()
    process = server(
        [],
        {
            "AWS_LWA_PORT": str(port),
            "PORT": str(free_port()),
            "AWS_LAMBDA_FUNCTION_NAME": "churn",
            "MODEL_DIR": str(models["mlp_tflite"]),
        },
    )
    process.wait_ready()
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(
                lambda _: process.request("POST", "/v1/models/model:predict", {"instances": [ROW, ROW]}), range(16)
            )
        )
    assert all(r.status == 200 for r in results)
    metrics = process.request("GET", "/metrics").body.decode()
    assert 'modelport_batch_size_count{model="model"} 16.0' in metrics  # one call per request: never merged
    assert 'modelport_batch_size_sum{model="model"} 32.0' in metrics


def test_kserve_v2(server: Start, models: dict[str, Path]) -> None:
    port = free_port()
    process = server([], {"PORT": str(port), "MODEL_DIR": str(models["mlp_tflite"]), "MODEL_NAME": "churn"})
    process.wait_ready("/v2/health/ready")
    assert process.request("GET", "/v2/health/live").status == 200
    assert process.request("GET", "/v2/models/churn/ready").json() == {"name": "churn", "ready": True}
    assert process.request("GET", "/v2/models/churn").json()["platform"] == "tensorflow_lite"
    reply = process.request(
        "POST",
        "/v2/models/churn/infer",
        {"id": "abc", "inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32", "data": ROW}]},
    ).json()
    assert reply["id"] == "abc" and reply["outputs"][0]["shape"] == [1, 3]


def test_cloud_run_and_kubernetes_port(server: Start, models: dict[str, Path]) -> None:
    port = free_port()
    process = server([], {"PORT": str(port), "MODEL_DIR": str(models["mlp_tflite"])})
    process.wait_ready()
    assert len(predictions(process.request("POST", "/v1/models/model:predict", {"instances": [ROW]}))) == 1


def test_docker_healthcheck_probe(server: Start, models: dict[str, Path]) -> None:
    """The image's HEALTHCHECK command finds the port the way the server does."""
    import os
    import subprocess
    import sys

    port = free_port()
    process = server([], {"AIP_HTTP_PORT": str(port), "MODEL_DIR": str(models["mlp_tflite"])})
    process.wait_ready()
    env = {k: v for k, v in os.environ.items() if k not in ("PORT", "SAGEMAKER_BIND_TO_PORT", "AWS_LWA_PORT")}
    probe = [sys.executable, "-m", "serving_image.healthcheck"]
    root = Path(__file__).resolve().parents[2]
    healthy = subprocess.run(probe, env={**env, "AIP_HTTP_PORT": str(port)}, cwd=root, timeout=60)
    assert healthy.returncode == 0
    nobody = subprocess.run(
        probe, env={**env, "AIP_HTTP_PORT": str(free_port())}, cwd=root, timeout=60, capture_output=True, text=True
    )
    assert nobody.returncode == 1 and "not ready" in nobody.stderr


def test_tf_serving_versions_and_readiness_before_load(server: Start, models: dict[str, Path]) -> None:
    """The port answers at once; health routes say 503 until TensorFlow has loaded and warmed the model."""
    port = free_port()
    process = server([], {"PORT": str(port), "MODEL_DIR": str(models["versions"]), "MODEL_NAME": "scaler"})
    seen = process.wait_ready("/v1/models/scaler")
    assert seen[0] == 503 and seen[-1] == 200, seen
    assert 200 not in seen[:-1]
    assert predictions(process.request("POST", "/v1/models/scaler:predict", {"instances": [[1, 2]]})) == [[2, 4]]
    assert predictions(process.request("POST", "/v1/models/scaler/versions/1:predict", {"instances": [[1, 2]]})) == [
        [1, 2]
    ]
    assert process.request("POST", "/v1/models/scaler/versions/9:predict", {"instances": [[1, 2]]}).status == 404


def test_seven_megabyte_body_is_413_and_the_server_keeps_serving(server: Start, models: dict[str, Path]) -> None:
    port = free_port()
    process = server([], {"PORT": str(port), "MODEL_DIR": str(models["mlp_tflite"])})
    process.wait_ready()
    big = b'{"instances": [' + b"[1.0, 2.0, 3.0, 4.0]," * 350_000 + b"[1, 2, 3, 4]]}"
    assert len(big) > 7_000_000
    response = process.request("POST", "/v1/models/model:predict", big, {"Content-Type": "application/json"})
    assert response.status == 413
    assert "MAX_REQUEST_BYTES" in response.json()["error"]
    assert len(predictions(process.request("POST", "/v1/models/model:predict", {"instances": [ROW]}))) == 1


def test_unloadable_model_exits_1_naming_the_path(server: Start, tmp_path: Path) -> None:
    port = free_port()
    process = server([], {"PORT": str(port), "MODEL_DIR": str(tmp_path / "nothing-here")})
    assert process.process.wait(60) == 1
    assert "nothing-here does not exist" in process.output()


def test_missing_model_setting_exits_2() -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("MODEL_DIR", "AZUREML_MODEL_DIR", "AIP_STORAGE_URI")}
    result = subprocess.run(
        [sys.executable, "-m", "serving_image"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    if Path("/opt/ml/model").is_dir():
        pytest.skip("this machine has /opt/ml/model")
    assert result.returncode == 2
    assert "no model to serve" in result.stderr
