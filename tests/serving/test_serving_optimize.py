"""The optimize tool (SavedModel → quantized .tflite with an accuracy report), and parity: TensorFlow and
LiteRT answer the same request within the tolerance the tool reports."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from serving_image.app import ServingApp
from serving_image.config import load_settings
from serving_image.optimize import Report, main, optimize
from serving_image.runtime.litert import LiteRTRuntime
from serving_image.service import Service

from .serving_helpers import wait_ready

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

pytestmark = pytest.mark.slow


def predict_over_http(model: Path, rows: np.ndarray) -> np.ndarray:
    with TestClient(ServingApp(Service.create(load_settings({"MODEL_DIR": str(model)})))) as client:
        wait_ready(client, timeout=120)
        response = client.post("/v1/models/model:predict", json={"instances": rows.tolist()})
        assert response.status_code == 200, response.text
        return np.asarray(response.json()["predictions"], dtype=np.float64)


ROWS = 6


@pytest.fixture(scope="module")
def cnn_dynamic(models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, Path, np.ndarray]:
    """MobileNetV2 (small) with dynamic-range quantization, measured on the rows the parity test sends."""
    folder = tmp_path_factory.mktemp("cnn-dynamic")
    rows = np.random.default_rng(3).random((ROWS, 32, 32, 3), dtype=np.float32)
    np.save(folder / "rows.npy", rows)
    report = optimize(models["cnn"], folder / "cnn.tflite", "dynamic", sample_data=folder / "rows.npy")
    return report, folder / "cnn.tflite", rows


def assert_parity(saved_model: Path, tflite: Path, rows: np.ndarray, tolerance: float, classes: int) -> None:
    from_tf = predict_over_http(saved_model, rows)
    from_litert = predict_over_http(tflite, rows)
    assert from_tf.shape == from_litert.shape == (ROWS, classes)
    assert np.max(np.abs(from_tf - from_litert)) <= tolerance + 1e-7


def test_parity_float_mlp(models: dict[str, Path], tmp_path: Path) -> None:
    rows = np.random.default_rng(3).random((ROWS, 4), dtype=np.float32)
    np.save(tmp_path / "rows.npy", rows)
    report = optimize(models["mlp"], tmp_path / "mlp.tflite", "none", sample_data=tmp_path / "rows.npy")
    assert report.samples == ROWS
    assert report.max_abs_diff < 1e-5  # an unquantized conversion is exact up to float rounding
    assert_parity(models["mlp"], tmp_path / "mlp.tflite", rows, report.max_abs_diff, classes=3)


def test_parity_quantized_cnn(models: dict[str, Path], cnn_dynamic: tuple[Report, Path, np.ndarray]) -> None:
    report, tflite, rows = cnn_dynamic
    assert report.samples == ROWS
    assert_parity(models["cnn"], tflite, rows, report.max_abs_diff, classes=5)


def test_dynamic_quantization_shrinks_a_cnn_and_reports_agreement(cnn_dynamic: tuple[Report, Path, np.ndarray]) -> None:
    report, out, _ = cnn_dynamic
    assert out.is_file() and report.tflite_bytes == out.stat().st_size
    assert report.size_ratio < 0.5  # int8 weights: about a quarter of float32, plus the graph
    (output,) = report.outputs
    assert output.top1_agreement is not None and 0.0 <= output.top1_agreement <= 1.0
    assert output.max_abs_diff >= 0.0
    assert "serving_default" in LiteRTRuntime(out).signatures


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated")
@pytest.mark.parametrize("quantize", ["float16", "int8"])
def test_float16_and_int8(models: dict[str, Path], tmp_path: Path, quantize: str) -> None:
    data = tmp_path / "representative.npy"
    np.save(data, np.random.default_rng(0).random((64, 4), dtype=np.float32))
    out = tmp_path / f"mlp-{quantize}.tflite"
    report = optimize(models["mlp"], out, quantize, representative_data=data if quantize == "int8" else None)
    # This MLP has 115 weights, so quantization metadata can outweigh the savings; the ratio is reported as is.
    assert (
        report.size_ratio
        == report.tflite_bytes / report.float_tflite_bytes
        == out.stat().st_size / report.float_tflite_bytes
    )
    assert report.outputs[0].max_abs_diff < 0.1
    assert report.outputs[0].top1_agreement is not None
    runtime = LiteRTRuntime(out)
    result = runtime.predict("serving_default", {"features": np.ones((2, 4), np.float32)})
    assert result["output_0"].shape == (2, 3)


def test_cli_writes_the_model_and_a_json_report(
    models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, report = tmp_path / "m.tflite", tmp_path / "report.json"
    assert main([str(models["mlp"]), "--out", str(out), "--quantize", "float16", "--json", str(report)]) == 0
    data = json.loads(report.read_text())
    assert data["quantize"] == "float16" and data["size_ratio"] == data["tflite_bytes"] / data["float_tflite_bytes"]
    assert data["outputs"][0]["name"] == "output_0"
    assert "max |TF - LiteRT|" in capsys.readouterr().out


def test_int8_without_representative_data_fails_clearly(
    models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(models["mlp"]), "--out", str(tmp_path / "m.tflite"), "--quantize", "int8"]) == 2
    error = capsys.readouterr().err
    assert "int8 quantization calibrates activation ranges" in error
    assert "--representative-data" in error
    assert not (tmp_path / "m.tflite").exists()


def test_bad_inputs_are_refused(models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path), "--out", str(tmp_path / "m.tflite")]) == 2
    assert "not a SavedModel directory" in capsys.readouterr().err
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((4, 4), np.float32))
    assert main([str(models["multi"]), "--out", str(tmp_path / "m.tflite"), "--sample-data", str(wrong)]) == 2
    assert "pass a .npz keyed by input name" in capsys.readouterr().err
