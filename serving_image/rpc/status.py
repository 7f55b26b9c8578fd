"""gRPC status codes, and the error a servicer raises for a code that no HTTP status maps to."""

from __future__ import annotations

# https://grpc.github.io/grpc/core/md_doc_statuscodes.html
CODES = {
    "OK": 0,
    "CANCELLED": 1,
    "UNKNOWN": 2,
    "INVALID_ARGUMENT": 3,
    "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5,
    "FAILED_PRECONDITION": 9,
    "RESOURCE_EXHAUSTED": 8,
    "UNIMPLEMENTED": 12,
    "INTERNAL": 13,
    "UNAVAILABLE": 14,
}


class CallError(Exception):
    """End the call with ``code`` (a key of :data:`CODES`) and ``message``."""

    def __init__(self, code: str, message: str) -> None:
        if code not in CODES:
            raise ValueError(f"unknown gRPC status {code!r}")
        super().__init__(message)
        self.code, self.message = code, message
