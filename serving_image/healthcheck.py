"""Container health probe for Docker's ``HEALTHCHECK``: exits 0 when the local server reports ready.

Resolves the port the same way the server does, so one image works whichever platform set it."""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

from .config import resolve_port
from .errors import ConfigError

READY_PATH = "/v2/health/ready"


def main() -> int:
    try:
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


if __name__ == "__main__":
    sys.exit(main())
