"""Pulumi mocks for offline planning: a capturing monitor and realistic, deterministic outputs and invokes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs
from pulumi.runtime.sync_await import _ensure_event_loop

__all__ = [
    "CapturedResource",
    "CapturingMonitor",
    "MockContext",
    "PlanMocks",
    "fake_id",
    "register_invoke",
    "register_outputs",
]

# The AWS documentation's example account; never a real one.
MOCK_AWS_ACCOUNT = "123456789012"
MOCK_GCP_PROJECT = "modelport-plan"
MOCK_AZURE_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
DEFAULT_REGIONS = {"aws": "us-east-1", "gcp": "europe-west4", "azure-native": "westeurope"}


def fake_id(*parts: str, length: int = 17) -> str:
    """A deterministic hex id derived from ``parts`` so plans are stable run to run."""
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


@dataclass
class CapturedResource:
    """One registration as the engine would see it: type, name, parent, inputs (secrets still wrapped)."""

    urn: str
    type: str
    name: str
    parent: str | None
    custom: bool
    inputs: dict[str, Any]
    provider: str | None = None
    protect: bool = False
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    id: str | None = None


@dataclass
class MockContext:
    """What output synthesizers may consult: per-provider settings and the region a resource lives in."""

    providers: dict[str, dict[str, Any]] = field(default_factory=dict)
    aws_account: str = MOCK_AWS_ACCOUNT
    gcp_project: str = MOCK_GCP_PROJECT
    azure_subscription: str = MOCK_AZURE_SUBSCRIPTION
    config: dict[str, str] = field(default_factory=dict)

    def region(self, package: str, provider_ref: str | None) -> str:
        settings = self.providers.get(provider_ref or "", {})
        for key in ("region", "location"):
            if settings.get(key):
                return str(settings[key])
        configured = self.config.get(f"{package}:region") or self.config.get(f"{package}:location")
        return configured or DEFAULT_REGIONS.get(package, "local")


OutputFn = Callable[[str, str, dict[str, Any], MockContext, str | None], dict[str, Any]]
InvokeFn = Callable[[dict[str, Any], MockContext, str | None], dict[str, Any]]
_OUTPUTS: dict[str, OutputFn] = {}
_INVOKES: dict[str, InvokeFn] = {}


def register_outputs(package: str) -> Callable[[OutputFn], OutputFn]:
    """Register the function that adds computed outputs for every resource of ``package`` (e.g. ``aws``)."""

    def decorate(fn: OutputFn) -> OutputFn:
        _OUTPUTS[package] = fn
        return fn

    return decorate


def register_invoke(*tokens: str) -> Callable[[InvokeFn], InvokeFn]:
    """Register the answer to the invokes named by ``tokens``."""

    def decorate(fn: InvokeFn) -> InvokeFn:
        for token in tokens:
            _INVOKES[token] = fn
        return fn

    return decorate


class UnmockedInvokeError(RuntimeError):
    pass


class PlanMocks(pulumi.runtime.Mocks):
    """Return inputs plus realistic computed outputs; answer the invokes components use."""

    def __init__(self, context: MockContext | None = None) -> None:
        from . import mock_outputs  # noqa: F401 - registers the per-provider output and invoke functions

        self.context = context or MockContext()

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict]:
        inputs = dict(args.inputs)
        if args.typ.startswith("pulumi:providers:"):
            ref = f"{args.typ}::{args.name}"
            self.context.providers[ref] = inputs
            return fake_id(args.typ, args.name, length=8), inputs
        if not args.custom:
            return None, {}
        package = args.typ.split(":", 1)[0]
        synthesize = _OUTPUTS.get(package)
        outputs = (
            synthesize(args.typ, args.name, inputs, self.context, _provider_key(args.provider)) if synthesize else {}
        )
        resource_id = (
            outputs.pop("id", None) or args.resource_id or f"{args.name}-{fake_id(args.typ, args.name, length=8)}"
        )
        return resource_id, {**inputs, **outputs}

    def call(self, args: MockCallArgs) -> dict:
        handler = _INVOKES.get(args.token)
        if handler is None:
            raise UnmockedInvokeError(
                f"the offline planner has no mock for invoke {args.token!r}; add one in components/plan/mock_outputs"
            )
        return handler(dict(args.args), self.context, _provider_key(args.provider))


def _provider_key(provider_ref: str | None) -> str | None:
    """``urn:pulumi:stack::project::pulumi:providers:aws::name::id`` -> ``pulumi:providers:aws::name``."""
    if not provider_ref:
        return None
    urn = provider_ref.rsplit("::", 1)[0]
    parts = urn.split("::")
    if len(parts) < 4:
        return None
    return f"{parts[2].split('$')[-1]}::{parts[3]}"


class CapturingMonitor(MockMonitor):
    """The official MockMonitor, also recording each registration with its parent, provider and options."""

    def __init__(self, mocks: PlanMocks, project: str = "project", stack: str = "stack") -> None:
        super().__init__(mocks)
        self.captured: list[CapturedResource] = []
        self._by_urn: dict[str, CapturedResource] = {}
        self._project = project
        self._stack = stack

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # The base reads the project and stack from runtime settings, which some pulumi releases keep per
        # context, so registrations on executor threads got "stack::project". Ours come from the plan itself.
        if parent:
            type_ = parent.split("::")[2].split("$").pop() + "$" + type_
        return "urn:pulumi:" + "::".join([self._stack, self._project, type_, name])

    def RegisterResource(self, request):  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        _ensure_event_loop()
        record = CapturedResource(
            urn=response.urn,
            type=request.type,
            name=request.name,
            parent=request.parent or None,
            custom=bool(request.custom),
            inputs=rpc.deserialize_properties(request.object, keep_unknowns=True),
            provider=request.provider or None,
            protect=bool(request.protect),
            dependencies=list(request.dependencies),
            property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
            outputs=self.resources[response.urn].state if response.urn in self.resources else {},
            id=response.id or None,
        )
        self.captured.append(record)
        self._by_urn[record.urn] = record
        return response

    def RegisterResourceOutputs(self, request):  # noqa: N802 - gRPC method name
        record = self._by_urn.get(request.urn)
        if record is not None:
            _ensure_event_loop()
            record.outputs = rpc.deserialize_properties(request.outputs, keep_unknowns=True)
        return super().RegisterResourceOutputs(request)
