"""Fixtures for the serving image tests: models built once per session (nothing is downloaded), local
server processes on free loopback ports, and in-process apps."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .serving_helpers import ServerProcess, build_models, start_server

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small models written to disk: see ``serving_helpers.build_models`` for what each one is."""
    return build_models(tmp_path_factory.mktemp("models"))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start ``python -m serving_image`` processes; every one is stopped after the test."""
    started: list[ServerProcess] = []

    def start(args: list[str], env: dict[str, str], **kwargs: object) -> ServerProcess:
        process = start_server(args, env, log_dir=tmp_path, **kwargs)  # type: ignore[arg-type]
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
