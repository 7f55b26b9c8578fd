"""The MLServer peer of bench/_serving_peers.py: a custom runtime (``mlserver.MLModel``) that serves a ``.tflite``
file with LiteRT, decoding and encoding V2 tensors with MLServer's own NumPy codec. MLServer's adaptive batching
(``max_batch_size``/``max_batch_time`` in model-settings.json) merges concurrent requests before ``predict``.

Runs inside the MLServer virtual environment, never the project's: ``mlserver start <folder>``."""

from __future__ import annotations

from _peer_litert import SignatureModel
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse
from mlserver.utils import get_model_uri


class LiteRTModel(MLModel):
    async def load(self) -> bool:
        self._model = SignatureModel(await get_model_uri(self.settings))
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        outputs = self._model(NumpyCodec.decode_input(payload.inputs[0]))
        return InferenceResponse(
            model_name=self.name,
            model_version=self.version,
            outputs=[NumpyCodec.encode_output(name, outputs[name]) for name in self._model.output_names],
        )
