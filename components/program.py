"""The stack program's body: read the modelport config, deploy every target, export the endpoints."""

from __future__ import annotations

import json
from typing import Any

import pulumi
from pulumi.runtime.config import CONFIG, get_config_env

from .catalog import deploy
from .invoke import caller_access, grpc_invoke_command, invoke_command
from .profiles import get_profile
from .spec import StackSpec
from .validation import SpecError

__all__ = ["read_stack_spec", "run_stack"]


def _decode(key: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if key.endswith((":service", ":targets")):
        try:
            return json.loads(value)
        except ValueError:
            raise SpecError(key, "must be a structured (YAML mapping or list) config value") from None
    return value


def read_stack_spec() -> StackSpec:
    """The validated ``modelport:*`` config of the running stack."""
    merged = {**(get_config_env() or {}), **CONFIG.get()}
    config = {k: _decode(k, v) for k, v in merged.items() if k.startswith("modelport:")}
    return StackSpec.from_config(config)


def run_stack() -> dict[str, pulumi.Output]:
    """Deploy every target of the stack and export, by target key: ``endpoints``, ``invoke`` (an example command),
    ``callers`` (what a caller must be granted) and ``identities`` (what each workload runs as); and, for the
    targets that carry ``grpc_port``, ``grpc_endpoints`` (``host:port``) and ``grpc_invoke`` (a grpcurl command)."""
    spec = read_stack_spec()
    profile = get_profile(spec.environment)
    endpoints: dict[str, Any] = {}
    identities: dict[str, Any] = {}
    commands: dict[str, Any] = {}
    callers: dict[str, Any] = {}
    grpc_endpoints: dict[str, Any] = {}
    grpc_commands: dict[str, Any] = {}
    for target in spec.targets:
        component = deploy(spec.service, target, profile)
        endpoints[target.key] = component.endpoint  # type: ignore[attr-defined]
        identities[target.key] = component.identity  # type: ignore[attr-defined]
        commands[target.key] = invoke_command(spec.service, target, component)
        callers[target.key] = caller_access(spec.service, target, component)
        if getattr(component, "grpc_endpoint", None) is not None:
            grpc_endpoints[target.key] = component.grpc_endpoint  # type: ignore[attr-defined]
            grpc_commands[target.key] = grpc_invoke_command(spec.service, target, component)
    pulumi.export("environment", spec.environment)
    pulumi.export("endpoints", endpoints)
    pulumi.export("invoke", commands)
    pulumi.export("callers", callers)
    pulumi.export("identities", identities)
    if grpc_endpoints:
        pulumi.export("grpc_endpoints", grpc_endpoints)
        pulumi.export("grpc_invoke", grpc_commands)
    return endpoints
