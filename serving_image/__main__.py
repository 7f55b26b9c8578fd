"""Command line: ``python -m serving_image [serve] [--model-dir DIR] [--model-name NAME] [--port N]``."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from .config import load_settings
from .errors import ConfigError


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m serving_image",
        description="Serve a TensorFlow SavedModel or LiteRT model over TF Serving, KServe V2, SageMaker "
        "and Vertex AI routes.",
    )
    # SageMaker starts containers as `docker run IMAGE serve`; the word is accepted and changes nothing.
    parser.add_argument("command", nargs="?", choices=["serve"], help="ignored; accepted for SageMaker")
    parser.add_argument(
        "--model-dir",
        help="model directory, .tflite file or gs:// URI (default: MODEL_DIR, "
        "/opt/ml/model, AZUREML_MODEL_DIR, AIP_STORAGE_URI)",
    )
    parser.add_argument("--model-name", help="name in URLs such as /v1/models/NAME (default: MODEL_NAME or 'model')")
    parser.add_argument("--port", type=int, help="port (default: the platform's port variable, else 8080)")
    parser.add_argument("--grpc-port", type=int, help="gRPC port (default: GRPC_PORT or 8081; 0 turns gRPC off)")
    parser.add_argument("--host", help="address to bind (default: HOST or 0.0.0.0)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        settings = load_settings(
            model_dir=args.model_dir,
            model_name=args.model_name,
            port=args.port,
            host=args.host,
            grpc_port=args.grpc_port,
        )
    except ConfigError as exc:
        print(f"serving_image: {exc}", file=sys.stderr)
        return 2
    worker = f" worker {settings.worker[0]}" if settings.worker is not None else ""
    logging.basicConfig(
        level=settings.log_level.upper(),
        format=f"%(asctime)s %(levelname)s %(name)s{worker}: %(message)s",
        stream=sys.stderr,
    )
    if settings.workers > 1 and settings.worker is None:
        from .workers import supervise  # WORKERS > 1: this process only starts and stops the workers

        code = supervise(settings, sys.argv[1:] if argv is None else argv)
    else:
        from .server import serve  # after settings are valid: this imports uvicorn and the app

        code = serve(settings)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: a model still loading on the inference thread must not hold the exit.
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
