"""Errors the server answers with: each maps to one HTTP status and a JSON body ``{"error": "..."}``."""

from __future__ import annotations


class ServingError(Exception):
    """An error that is the caller's answer. ``status`` is the HTTP status code."""

    status: int = 500
    # An error of a batch as a whole (a fused pipeline's step over its timeout): the batcher answers it to every
    # call in the batch, instead of rerunning each call alone to find the one that failed.
    whole_batch: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ServingError):
    """Malformed body, wrong shape or dtype, unknown or missing input."""

    status = 400


class NotFound(ServingError):
    """Unknown model, version or signature."""

    status = 404


class NotAcceptable(ServingError):
    """The ``Accept`` header names no format this route can answer in."""

    status = 406


class PayloadTooLarge(ServingError):
    """The body is over ``MAX_REQUEST_BYTES``."""

    status = 413


class UnsupportedMediaType(ServingError):
    """The ``Content-Type`` is not one this route reads."""

    status = 415


class ServiceUnavailable(ServingError):
    """The model is not loaded yet, the server is draining, or the queue is full."""

    status = 503


class Overloaded(ServiceUnavailable):
    """The batch queue is full: fail fast so the caller or its load balancer can retry elsewhere."""


class DeadlineExceeded(ServingError):
    """The request was not answered within ``REQUEST_TIMEOUT_SECONDS``."""

    status = 504


class ConfigError(ValueError):
    """A setting (environment variable or flag) has a value the server cannot use. Names the setting."""


class ModelLoadError(RuntimeError):
    """The model directory holds nothing the server can load, or the runtime it needs is missing."""
