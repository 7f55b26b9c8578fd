"""Settings: which port and model source win on each platform, and clear errors for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from serving_image.__main__ import parse_args
from serving_image.config import (
    DEFAULT_BATCH_TIMEOUT_MS,
    DEFAULT_MAX_BATCH_SIZE,
    PORT_VARIABLES,
    load_settings,
    resolve_model_source,
    resolve_port,
)
from serving_image.errors import ConfigError

MODEL = {"MODEL_DIR": "/models/m"}


def test_port_defaults_to_8080() -> None:
    assert resolve_port({}) == 8080


@pytest.mark.parametrize("index", range(len(PORT_VARIABLES)))
def test_port_first_set_variable_wins(index: int) -> None:
    environ = {name: str(9000 + i) for i, name in enumerate(PORT_VARIABLES) if i >= index}
    assert resolve_port(environ) == 9000 + index


def test_port_order_is_the_documented_one() -> None:
    assert PORT_VARIABLES == (
        "SAGEMAKER_BIND_TO_PORT",
        "AIP_HTTP_PORT",
        "FUNCTIONS_CUSTOMHANDLER_PORT",
        "AWS_LWA_PORT",
        "PORT",
    )


def test_empty_port_variable_counts_as_unset() -> None:
    assert resolve_port({"SAGEMAKER_BIND_TO_PORT": "", "PORT": "7000"}) == 7000


def test_port_flag_beats_environment() -> None:
    assert resolve_port({"PORT": "7000"}, flag=7100) == 7100


@given(st.text(min_size=1).filter(lambda s: s.strip() and not s.strip().lstrip("+-").isdigit()))
def test_non_numeric_port_is_rejected_naming_the_variable(value: str) -> None:
    with pytest.raises(ConfigError, match="AIP_HTTP_PORT"):
        resolve_port({"AIP_HTTP_PORT": value})


@pytest.mark.parametrize("value", ["0", "65536", "-1"])
def test_out_of_range_port_is_rejected(value: str) -> None:
    with pytest.raises(ConfigError, match="PORT must be a TCP port from 1 to 65535"):
        resolve_port({"PORT": value})


def test_model_dir_flag_wins(tmp_path: Path) -> None:
    source = resolve_model_source({"MODEL_DIR": "/a", "AZUREML_MODEL_DIR": "/b"}, flag="/flag", sagemaker_dir=tmp_path)
    assert (source.location, source.setting) == ("/flag", "--model-dir")


def test_model_dir_variable_beats_sagemaker_dir(tmp_path: Path) -> None:
    (tmp_path / "saved_model.pb").write_bytes(b"x")
    source = resolve_model_source({"MODEL_DIR": "/a", "AZUREML_MODEL_DIR": "/b"}, sagemaker_dir=tmp_path)
    assert (source.location, source.setting) == ("/a", "MODEL_DIR")


def test_sagemaker_dir_beats_azure_and_vertex(tmp_path: Path) -> None:
    (tmp_path / "saved_model.pb").write_bytes(b"x")
    source = resolve_model_source({"AZUREML_MODEL_DIR": "/b", "AIP_STORAGE_URI": "gs://c/d"}, sagemaker_dir=tmp_path)
    assert source.location == str(tmp_path)


def test_empty_sagemaker_dir_is_skipped(tmp_path: Path) -> None:
    source = resolve_model_source({"AZUREML_MODEL_DIR": "/b", "AIP_STORAGE_URI": "gs://c/d"}, sagemaker_dir=tmp_path)
    assert (source.location, source.setting) == ("/b", "AZUREML_MODEL_DIR")


def test_vertex_storage_uri_is_last(tmp_path: Path) -> None:
    source = resolve_model_source({"AIP_STORAGE_URI": "gs://bucket/model"}, sagemaker_dir=tmp_path / "missing")
    assert source.location == "gs://bucket/model"
    assert source.is_remote


def test_no_model_source_names_every_option(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        resolve_model_source({}, sagemaker_dir=tmp_path / "missing")
    for option in ("--model-dir", "MODEL_DIR", "AZUREML_MODEL_DIR", "AIP_STORAGE_URI"):
        assert option in str(error.value)


def test_defaults() -> None:
    settings = load_settings(MODEL, sagemaker_dir=Path("/nonexistent"))
    assert settings.port == 8080
    assert settings.model_name == "model"
    assert settings.max_batch_size == DEFAULT_MAX_BATCH_SIZE
    assert settings.batch_timeout_ms == DEFAULT_BATCH_TIMEOUT_MS
    assert settings.max_request_bytes == 6 * 1024 * 1024
    assert settings.graceful_timeout_s == 8.0
    assert settings.batching


def test_lambda_turns_batching_off_and_the_drain_delay() -> None:
    settings = load_settings({**MODEL, "AWS_LAMBDA_FUNCTION_NAME": "fn", "MAX_BATCH_SIZE": "64"})
    assert settings.max_batch_size == 1
    assert not settings.batching
    assert settings.shutdown_delay_s == 0.0


def test_batching_off_with_max_batch_size_one() -> None:
    assert not load_settings({**MODEL, "MAX_BATCH_SIZE": "1"}).batching


def test_vertex_routes_must_be_paths() -> None:
    with pytest.raises(ConfigError, match="AIP_PREDICT_ROUTE"):
        load_settings({**MODEL, "AIP_PREDICT_ROUTE": "predict"})
    settings = load_settings({**MODEL, "AIP_PREDICT_ROUTE": "/v1/e:predict", "AIP_HEALTH_ROUTE": "/h"})
    assert (settings.vertex_predict_route, settings.vertex_health_route) == ("/v1/e:predict", "/h")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MAX_BATCH_SIZE", "0"),
        ("MAX_BATCH_SIZE", "lots"),
        ("BATCH_TIMEOUT_MS", "-1"),
        ("BATCH_TIMEOUT_MS", "nan"),
        ("MAX_QUEUE_SIZE", "0"),
        ("MAX_REQUEST_BYTES", "12"),
        ("REQUEST_TIMEOUT_SECONDS", "0"),
        ("GRACEFUL_TIMEOUT", "forever"),
        ("SHUTDOWN_DELAY_SECONDS", "100"),
        ("LOG_LEVEL", "chatty"),
        ("MODEL_NAME", "no/slashes"),
    ],
)
def test_bad_values_are_rejected_naming_the_setting(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name.split("_")[0]):
        load_settings({**MODEL, name: value})


@given(st.text().filter(lambda s: s.strip() and not s.strip().isdigit()))
def test_any_non_integer_batch_size_is_rejected_naming_the_key(value: str) -> None:
    with pytest.raises(ConfigError, match="MAX_BATCH_SIZE"):
        load_settings({**MODEL, "MAX_BATCH_SIZE": value})


def test_cli_accepts_and_ignores_serve() -> None:
    args = parse_args(["serve", "--model-dir", "/m", "--model-name", "churn", "--port", "9000"])
    assert (args.command, args.model_dir, args.model_name, args.port) == ("serve", "/m", "churn", 9000)
    assert parse_args([]).command is None


def test_cli_rejects_other_commands() -> None:
    with pytest.raises(SystemExit):
        parse_args(["train"])


def test_grpc_port_default_off_switch_and_conflicts() -> None:
    assert load_settings(MODEL).grpc_port == 8081
    assert load_settings({**MODEL, "GRPC_PORT": "0"}).grpc_port == 0
    assert load_settings({**MODEL, "GRPC_PORT": "9000"}).grpc_port == 9000
    assert load_settings({**MODEL, "AWS_LAMBDA_FUNCTION_NAME": "fn"}).grpc_port == 0  # HTTP-only platforms
    assert load_settings({**MODEL, "FUNCTIONS_CUSTOMHANDLER_PORT": "3000"}).grpc_port == 0
    assert load_settings({**MODEL, "AWS_LAMBDA_FUNCTION_NAME": "fn", "GRPC_PORT": "9000"}).grpc_port == 9000
    assert load_settings(MODEL, grpc_port=7000).grpc_port == 7000
    with pytest.raises(ConfigError, match="GRPC_PORT / --grpc-port 8080 is the HTTP port too"):
        load_settings({**MODEL, "GRPC_PORT": "8080"})
    for value in ("-1", "70000", "grpc"):
        with pytest.raises(ConfigError, match="GRPC_PORT must be a TCP port"):
            load_settings({**MODEL, "GRPC_PORT": value})
