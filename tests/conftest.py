"""Shared pytest fixtures: Pulumi mocks with a capturing monitor, and a valid ModelService to start from."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pulumi
import pytest
from modelport.plan.mocks import CapturedResource, CapturingMonitor, MockContext, PlanMocks
from modelport.spec import ModelService
from pulumi.runtime.settings import reset_options
from pulumi.runtime.stack import wait_for_rpcs

DIGEST = "sha256:" + "4f" * 32
IMAGE = f"registry.example.com/ml/churn@{DIGEST}"


class Captured:
    """What the components registered during a ``@pulumi.runtime.test`` run, with lookups for assertions."""

    def __init__(self, monitor: CapturingMonitor) -> None:
        self.monitor = monitor

    @property
    def resources(self) -> list[CapturedResource]:
        return list(self.monitor.captured)

    def by_type(self, type_: str) -> list[CapturedResource]:
        return [r for r in self.monitor.captured if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> CapturedResource:
        found = [r for r in self.by_type(type_) if name is None or r.name == name]
        assert len(found) == 1, f"expected one {type_} named {name!r}, found {[r.name for r in found]}"
        return found[0]

    def named(self, name: str) -> CapturedResource:
        found = [r for r in self.monitor.captured if r.name == name]
        assert len(found) == 1, f"expected one resource named {name!r}, found {len(found)}"
        return found[0]

    def children_of(self, parent: CapturedResource) -> list[CapturedResource]:
        return [r for r in self.monitor.captured if r.parent == parent.urn]


@pytest.fixture
def pulumi_mocks() -> Iterator[Captured]:
    """A fresh event loop and the capturing mocks; options reset on teardown."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    mocks = PlanMocks(MockContext())
    monitor = CapturingMonitor(mocks, project="modelport", stack="test")
    pulumi.runtime.set_mocks(mocks, project="modelport", stack="test", preview=False, monitor=monitor)
    try:
        yield Captured(monitor)
    finally:
        # Settle RPCs a test left pending (e.g. one that raised before running a program).
        loop.run_until_complete(wait_for_rpcs())
        reset_options()
        loop.close()
        asyncio.set_event_loop(None)


def make_service(**overrides) -> ModelService:
    """A valid service config, with top-level keys replaced by ``overrides``."""
    config = {
        "name": "churn",
        "image": IMAGE,
        "model": {"name": "churn"},
        "resources": {"cpu": 2, "memory_mib": 4096},
        "scaling": {"max_replicas": 12},
        "env": {"LOG_LEVEL": "info"},
        "tags": {"team": "ml-platform"},
    }
    config.update(overrides)
    return ModelService.from_config(config)


@pytest.fixture
def service() -> ModelService:
    return make_service()
