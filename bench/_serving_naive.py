"""The naive baseline for bench/serving.py, in the style of deployment tutorials: Flask's built-in
threaded server, the SavedModel loaded at import, and one model call per request (no batching)."""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from flask import Flask, jsonify, request  # noqa: E402


def create_app(model_dir: str) -> Flask:
    model = tf.saved_model.load(model_dir)
    infer = model.signatures["serving_default"]
    input_name = next(iter(infer.structured_input_signature[1]))
    app = Flask(__name__)

    @app.route("/ping", methods=["GET"])
    def ping():  # type: ignore[no-untyped-def]
        return jsonify(status="ok")

    @app.route("/predict", methods=["POST"])
    def predict():  # type: ignore[no-untyped-def]
        data = request.get_json()
        batch = np.array(data["instances"], dtype=np.float32)
        outputs = infer(**{input_name: tf.constant(batch)})
        prediction = next(iter(outputs.values())).numpy()
        return jsonify(predictions=prediction.tolist())

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    create_app(args.model_dir).run(host="127.0.0.1", port=args.port, threaded=True)


if __name__ == "__main__":
    main()
