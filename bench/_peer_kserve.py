"""The KServe peer of bench/_serving_peers.py: a ``kserve.Model`` subclass that serves a ``.tflite`` file with
LiteRT on KServe's V1 protocol (``{"instances": ...}`` in, ``{"predictions": ...}`` out), started with
``kserve.ModelServer().start([model])`` and KServe's default worker count. The Python model server has no
request batching of its own (KServe batches in a separate agent container), so each request is one model call.

Runs inside the KServe virtual environment, never the project's:
    python bench/_peer_kserve.py --model model.tflite --http_port P --grpc_port G
"""

from __future__ import annotations

import argparse
import logging

import kserve
import numpy as np
from _peer_litert import SignatureModel


class LiteRTModel(kserve.Model):
    def __init__(self, name: str, path: str) -> None:
        super().__init__(name)
        self._path = path
        self.load()

    def load(self) -> bool:
        self._model = SignatureModel(self._path)
        self.ready = True
        return self.ready

    def predict(self, payload: dict, headers: dict[str, str] | None = None) -> dict:
        outputs = self._model(np.asarray(payload["instances"], dtype=np.float32))
        names = self._model.output_names
        if len(names) == 1:
            return {"predictions": outputs[names[0]].tolist()}
        rows = len(outputs[names[0]])
        return {"predictions": [{name: outputs[name][i].tolist() for name in names} for i in range(rows)]}


def main() -> None:
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
    parser.add_argument("--model", required=True, help="the .tflite file")
    args = parser.parse_args()
    model = LiteRTModel(args.model_name, args.model)
    server = kserve.ModelServer()
    # No line per request, as the other servers in the comparison run: KSERVE_LOGLEVEL=WARNING quietens KServe's
    # own loggers, and this the uvicorn access log it configures at INFO.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    server.start([model])


if __name__ == "__main__":
    main()
