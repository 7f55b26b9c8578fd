"""Server settings: the port, the model source and the batching, limit and shutdown knobs, read from flags
and the environment variables each hosting platform sets."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

# The first of these that is set wins, so one image binds where each platform expects it.
PORT_VARIABLES = (
    "SAGEMAKER_BIND_TO_PORT",  # SageMaker (multi-container endpoints; plain endpoints use 8080)
    "AIP_HTTP_PORT",  # Vertex AI custom containers
    "FUNCTIONS_CUSTOMHANDLER_PORT",  # Azure Functions custom handler
    "AWS_LWA_PORT",  # AWS Lambda Web Adapter
    "PORT",  # Cloud Run, Container Apps, Heroku-style hosts
)
DEFAULT_PORT = 8080
DEFAULT_GRPC_PORT = 8081
# PROTOCOLS: which front ends the server opens. Unset means both (gRPC only while GRPC_PORT is not 0).
PROTOCOL_NAMES = ("http", "grpc")

# Where SageMaker extracts model.tar.gz. A module constant so tests can point it elsewhere.
SAGEMAKER_MODEL_DIR = Path("/opt/ml/model")

DEFAULT_MAX_REQUEST_BYTES = 6 * 1024 * 1024
# Chosen by measurement (bench/serving.py --sweep, see serving_image/README.md).
DEFAULT_MAX_BATCH_SIZE = 32
DEFAULT_BATCH_TIMEOUT_MS = 2.0
DEFAULT_MAX_QUEUE_SIZE = 256
# A signature whose full batch took less than this at warm-up runs on the event loop: handing it to the
# inference thread and back costs more (about 400 µs under load) than the call itself. See the README.
DEFAULT_INLINE_INFERENCE_MAX_US = 200.0
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


@dataclass(frozen=True)
class ModelSource:
    """Where the model comes from (a local path or a ``gs://`` URI) and which setting named it."""

    location: str
    setting: str

    @property
    def is_remote(self) -> bool:
        return "://" in self.location


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything the server reads at start-up. Build it with :func:`load_settings`."""

    model: ModelSource
    model_name: str = "model"
    signature_name: str = "serving_default"
    host: str = "0.0.0.0"
    port: int = DEFAULT_PORT  # 0 when HTTP is off (PROTOCOLS=grpc)
    grpc_port: int = 0  # 0: no gRPC; load_settings defaults it to DEFAULT_GRPC_PORT
    serve_http: bool = True  # False with PROTOCOLS=grpc: no HTTP listener at all
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    batch_timeout_ms: float = DEFAULT_BATCH_TIMEOUT_MS
    max_queue_size: int = DEFAULT_MAX_QUEUE_SIZE
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    request_timeout_s: float = 60.0
    graceful_timeout_s: float = 8.0
    shutdown_delay_s: float = 1.0
    inference_threads: int | None = None
    inline_inference_max_us: float = DEFAULT_INLINE_INFERENCE_MAX_US
    vertex_health_route: str | None = None
    vertex_predict_route: str | None = None
    download_dir: str = "/tmp/modelport-model"
    log_level: str = "info"
    tracing: bool = False  # OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set: export spans over OTLP
    workers: int = 1  # WORKERS: server processes sharing the ports (SO_REUSEPORT), each with its own batchers
    worker: tuple[int, int] | None = None  # (index, count) in a worker process that WORKERS>1 started

    @property
    def batching(self) -> bool:
        return self.max_batch_size > 1


def _set(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name, "").strip()
    return value or None


def _int(environ: Mapping[str, str], name: str, default: int, low: int, high: int, what: str) -> int:
    raw = _set(environ, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be {what} from {low} to {high} (got {raw!r})") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be {what} from {low} to {high} (got {raw!r})")
    return value


def _float(environ: Mapping[str, str], name: str, default: float, low: float, high: float, unit: str) -> float:
    raw = _set(environ, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of {unit} from {low:g} to {high:g} (got {raw!r})") from None
    if not (math.isfinite(value) and low <= value <= high):
        raise ConfigError(f"{name} must be a number of {unit} from {low:g} to {high:g} (got {raw!r})")
    return value


def _route(environ: Mapping[str, str], name: str) -> str | None:
    raw = _set(environ, name)
    if raw is not None and not raw.startswith("/"):
        raise ConfigError(f"{name} must be an absolute URL path starting with '/' (got {raw!r})")
    return raw


def resolve_port(environ: Mapping[str, str], flag: int | None = None) -> int:
    """``--port``, else the first platform port variable that is set, else 8080."""
    if flag is not None:
        if not 1 <= flag <= 65535:
            raise ConfigError(f"--port must be a TCP port from 1 to 65535 (got {flag})")
        return flag
    for name in PORT_VARIABLES:
        if _set(environ, name) is not None:
            return _int(environ, name, DEFAULT_PORT, 1, 65535, "a TCP port")
    return DEFAULT_PORT


def resolve_model_source(
    environ: Mapping[str, str], flag: str | None = None, sagemaker_dir: Path | None = None
) -> ModelSource:
    """``--model-dir``, ``MODEL_DIR``, ``/opt/ml/model`` (when present), ``AZUREML_MODEL_DIR``, then
    ``AIP_STORAGE_URI``: the first that is set."""
    if flag:
        return ModelSource(flag, "--model-dir")
    if (value := _set(environ, "MODEL_DIR")) is not None:
        return ModelSource(value, "MODEL_DIR")
    sagemaker_dir = SAGEMAKER_MODEL_DIR if sagemaker_dir is None else sagemaker_dir
    if sagemaker_dir.is_dir() and any(sagemaker_dir.iterdir()):
        return ModelSource(str(sagemaker_dir), str(sagemaker_dir))
    for name in ("AZUREML_MODEL_DIR", "AIP_STORAGE_URI"):
        if (value := _set(environ, name)) is not None:
            return ModelSource(value, name)
    raise ConfigError(
        "no model to serve: pass --model-dir or set MODEL_DIR "
        f"(or mount {sagemaker_dir}, or set AZUREML_MODEL_DIR or AIP_STORAGE_URI)"
    )


def load_settings(
    environ: Mapping[str, str] | None = None,
    *,
    model_dir: str | None = None,
    model_name: str | None = None,
    port: int | None = None,
    host: str | None = None,
    grpc_port: int | None = None,
    sagemaker_dir: Path | None = None,
) -> Settings:
    """Read the settings from flags (which win) and environment variables. Raises :class:`ConfigError`
    naming the setting when a value is unusable."""
    env = os.environ if environ is None else environ
    on_lambda = _set(env, "AWS_LAMBDA_FUNCTION_NAME") is not None
    max_batch = _int(env, "MAX_BATCH_SIZE", DEFAULT_MAX_BATCH_SIZE, 1, 4096, "an integer")
    if on_lambda:
        # Lambda sends one request at a time to an execution environment; waiting to batch only adds latency.
        max_batch = 1
    name = model_name or _set(env, "MODEL_NAME") or "model"
    if not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise ConfigError(f"MODEL_NAME / --model-name must be letters, digits, '-', '_' or '.' (got {name!r})")
    graceful = _float(env, "GRACEFUL_TIMEOUT", 8.0, 0.5, 3600.0, "seconds")
    delay_default = 0.0 if on_lambda else min(1.0, graceful / 4)
    protocols, protocols_named = resolve_protocols(env)
    if "http" in protocols:
        http_port = resolve_port(env, port)
    elif port is not None:
        raise ConfigError(f"--port {port} is the HTTP port, but PROTOCOLS={','.join(protocols)} serves no HTTP")
    else:
        http_port = 0  # the platform's PORT (Cloud Run sets it to the container port) is gRPC's here
    rpc_port = _grpc_port(env, grpc_port, http_port, protocols, protocols_named)
    return Settings(
        model=resolve_model_source(env, model_dir, sagemaker_dir),
        model_name=name,
        signature_name=_set(env, "SIGNATURE_NAME") or "serving_default",
        host=host or _set(env, "HOST") or "0.0.0.0",
        port=http_port,
        grpc_port=rpc_port,
        serve_http="http" in protocols,
        max_batch_size=max_batch,
        batch_timeout_ms=_float(env, "BATCH_TIMEOUT_MS", DEFAULT_BATCH_TIMEOUT_MS, 0.0, 1000.0, "milliseconds"),
        max_queue_size=_int(env, "MAX_QUEUE_SIZE", DEFAULT_MAX_QUEUE_SIZE, 1, 1_000_000, "an integer"),
        max_request_bytes=_int(
            env, "MAX_REQUEST_BYTES", DEFAULT_MAX_REQUEST_BYTES, 1024, 2**31 - 1, "a number of bytes"
        ),
        request_timeout_s=_float(env, "REQUEST_TIMEOUT_SECONDS", 60.0, 0.001, 3600.0, "seconds"),
        graceful_timeout_s=graceful,
        shutdown_delay_s=_float(env, "SHUTDOWN_DELAY_SECONDS", delay_default, 0.0, graceful / 2, "seconds"),
        inference_threads=(
            _int(env, "INFERENCE_THREADS", 0, 1, 1024, "an integer")
            if _set(env, "INFERENCE_THREADS") is not None
            else None
        ),
        inline_inference_max_us=_float(
            env, "INLINE_INFERENCE_MAX_US", DEFAULT_INLINE_INFERENCE_MAX_US, 0.0, 10_000.0, "microseconds"
        ),
        vertex_health_route=_route(env, "AIP_HEALTH_ROUTE"),
        vertex_predict_route=_route(env, "AIP_PREDICT_ROUTE"),
        download_dir=_set(env, "MODEL_DOWNLOAD_DIR") or "/tmp/modelport-model",
        log_level=_log_level(env),
        tracing=bool(_set(env, "OTEL_EXPORTER_OTLP_ENDPOINT") or _set(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")),
        workers=_workers(env, on_lambda),
        worker=_worker(env),
    )


def resolve_protocols(environ: Mapping[str, str]) -> tuple[tuple[str, ...], bool]:
    """``PROTOCOLS``: a comma list of ``http`` and ``grpc`` (default both), and whether it was set.

    ``grpc`` alone opens no HTTP listener: a platform that routes one port to the container in HTTP/2
    cleartext (Cloud Run with end-to-end HTTP/2) reaches gRPC there."""
    if "PROTOCOLS" not in environ:
        return PROTOCOL_NAMES, False
    raw = environ["PROTOCOLS"]
    accepted = f"a comma list of {' and '.join(PROTOCOL_NAMES)} (e.g. 'http,grpc' or 'grpc')"
    names = [item.strip().lower() for item in raw.split(",")]
    if not raw.strip() or "" in names:
        raise ConfigError(f"PROTOCOLS must be {accepted} (got {raw!r})")
    unknown = [name for name in names if name not in PROTOCOL_NAMES]
    if unknown or len(set(names)) != len(names):
        raise ConfigError(f"PROTOCOLS must be {accepted}, each at most once (got {raw!r})")
    return tuple(name for name in PROTOCOL_NAMES if name in names), True


def _grpc_port(
    environ: Mapping[str, str],
    flag: int | None,
    http_port: int,
    protocols: tuple[str, ...] = PROTOCOL_NAMES,
    protocols_named: bool = False,
) -> int:
    """``--grpc-port``, else ``GRPC_PORT``, else 8081; 0 turns gRPC off. Never the HTTP port.

    Lambda and Azure Functions forward only HTTP to the container, so there the default is 0; an explicit
    ``GRPC_PORT`` is still honoured. ``PROTOCOLS`` without ``grpc`` refuses a gRPC port; ``PROTOCOLS`` that
    names ``grpc`` needs one."""
    if "grpc" not in protocols:
        given = flag if flag is not None else _int(environ, "GRPC_PORT", 0, 0, 65535, "a TCP port (0 turns gRPC off)")
        if given:
            raise ConfigError(
                f"GRPC_PORT / --grpc-port is {given}, but PROTOCOLS={','.join(protocols)} serves no gRPC; "
                "add grpc to PROTOCOLS, or set GRPC_PORT to 0"
            )
        return 0
    if flag is not None:
        if not 0 <= flag <= 65535:
            raise ConfigError(f"--grpc-port must be a TCP port from 1 to 65535, or 0 for no gRPC (got {flag})")
        value = flag
    else:
        http_only = any(_set(environ, name) for name in ("AWS_LAMBDA_FUNCTION_NAME", "FUNCTIONS_CUSTOMHANDLER_PORT"))
        default = 0 if http_only else DEFAULT_GRPC_PORT
        value = _int(environ, "GRPC_PORT", default, 0, 65535, "a TCP port (0 turns gRPC off)")
    if value == 0 and protocols_named:
        raise ConfigError(
            f"PROTOCOLS={','.join(protocols)} serves gRPC, but GRPC_PORT / --grpc-port is 0; set GRPC_PORT to "
            "the port gRPC listens on"
        )
    if value and value == http_port:
        raise ConfigError(f"GRPC_PORT / --grpc-port {value} is the HTTP port too; give gRPC its own port, or 0")
    return value


def grpc_port_of(environ: Mapping[str, str], protocols: tuple[str, ...]) -> int:
    """The gRPC port the server opens without HTTP (``PROTOCOLS=grpc``), resolved as at start-up."""
    return _grpc_port(environ, None, 0, protocols, True)


def _log_level(environ: Mapping[str, str]) -> str:
    level = (_set(environ, "LOG_LEVEL") or "info").lower()
    if level not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)} (got {level!r})")
    return level


MAX_WORKERS = 64


def _cpu_limit() -> int:
    """CPUs this process may use: its affinity, bounded by a cgroup v2 CPU quota (a container's CPU limit)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


def _workers(environ: Mapping[str, str], on_lambda: bool) -> int:
    """``WORKERS``: a number of server processes from 1 to 64, or ``auto`` (the CPUs this container may use).
    Each process has its own batchers, queue bound and inference thread, and loads its own copy of the model."""
    raw = _set(environ, "WORKERS")
    if raw is None:
        return 1
    if raw.lower() == "auto":
        # Lambda sends one request at a time to an execution environment: more processes would idle.
        return 1 if on_lambda else min(_cpu_limit(), MAX_WORKERS)
    count = _int(environ, "WORKERS", 1, 1, MAX_WORKERS, "'auto' or a number of processes")
    if on_lambda and count > 1:
        raise ConfigError(f"WORKERS must be 1 on Lambda (got {raw!r}): it sends one request at a time to an instance")
    return count


def _worker(environ: Mapping[str, str]) -> tuple[int, int] | None:
    """``MODELPORT_WORKER=<index>/<count>``, set by the WORKERS supervisor in each process it starts."""
    raw = _set(environ, "MODELPORT_WORKER")
    if raw is None:
        return None
    index, _, count = raw.partition("/")
    if not (index.isdigit() and count.isdigit() and 0 <= int(index) < int(count) <= MAX_WORKERS):
        raise ConfigError(f"MODELPORT_WORKER must be <index>/<count> as the WORKERS supervisor sets it (got {raw!r})")
    if not _set(environ, "MODELPORT_WORKER_DIR"):
        raise ConfigError("MODELPORT_WORKER is set without MODELPORT_WORKER_DIR: only the WORKERS supervisor sets them")
    return int(index), int(count)
