"""modelport's serving image: one server that speaks TF Serving and KServe V2 (REST and gRPC), SageMaker and
Vertex AI for TensorFlow SavedModels and LiteRT models, one or a repository of several with fused pipelines,
with adaptive batching, one metric schema and OpenTelemetry tracing. Run ``python -m serving_image``."""

__version__ = "0.1.0"
