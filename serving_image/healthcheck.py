"""Container health probe for Docker's ``HEALTHCHECK``: exits 0 when the local server reports ready.

Resolves the port the same way the server does, so one image works whichever platform set it: the HTTP
readiness route, or ``grpc.health.v1`` on ``GRPC_PORT`` when ``PROTOCOLS`` serves no HTTP."""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

from .config import grpc_port_of, resolve_port, resolve_protocols
from .errors import ConfigError

READY_PATH = "/v2/health/ready"


def main() -> int:
    try:
        protocols, _ = resolve_protocols(os.environ)
        if "http" not in protocols:
            return _grpc_ready(grpc_port_of(os.environ, protocols))
        port = resolve_port(os.environ)
    except ConfigError as exc:
        print(f"healthcheck: {exc}", file=sys.stderr)
        return 1
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{READY_PATH}", timeout=3) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"healthcheck: {READY_PATH} on port {port} is not ready: {exc}", file=sys.stderr)
        return 1


def _grpc_ready(port: int) -> int:
    import grpc  # only the gRPC-only image pays for the import

    from .rpc.protos import health_pb2, health_service_pb2_grpc

    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            reply = health_service_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=3)
    except grpc.RpcError as exc:
        print(f"healthcheck: grpc.health.v1 on port {port} is not ready: {exc.code().name}", file=sys.stderr)
        return 1
    return 0 if reply.status == health_pb2.HealthCheckResponse.SERVING else 1


if __name__ == "__main__":
    sys.exit(main())
