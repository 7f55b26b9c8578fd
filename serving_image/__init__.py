"""modelport's serving image: one HTTP server that speaks TF Serving, KServe V2, SageMaker and Vertex AI
for a TensorFlow SavedModel or a LiteRT model, with adaptive batching. Run ``python -m serving_image``."""

__version__ = "0.1.0"
