"""Mock outputs for pulumi-kubernetes resources: auto-named metadata, namespaces and cluster IPs."""

from __future__ import annotations

from typing import Any

from ..mocks import MockContext, fake_id, register_outputs

_CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "StorageClass", "PriorityClass"}


@register_outputs("kubernetes")
def kubernetes_outputs(
    type_: str, name: str, inputs: dict[str, Any], ctx: MockContext, provider: str | None
) -> dict[str, Any]:
    kind = type_.rsplit(":", 1)[-1]
    metadata = dict(inputs.get("metadata") or {})
    # The real provider auto-names with a random suffix when metadata.name is unset.
    metadata.setdefault("name", f"{name}-{fake_id(type_, name, length=8)}")
    if kind not in _CLUSTER_SCOPED:
        metadata.setdefault("namespace", "default")
    metadata.setdefault("uid", fake_id("uid", type_, name, length=32))
    outputs: dict[str, Any] = {"metadata": metadata}
    if kind == "Service":
        spec = dict(inputs.get("spec") or {})
        spec.setdefault("clusterIP", f"10.100.{int(fake_id(name, length=2), 16)}.{int(fake_id(type_, length=2), 16)}")
        outputs["spec"] = spec
    namespace = metadata.get("namespace")
    outputs["id"] = f"{namespace}/{metadata['name']}" if namespace else metadata["name"]
    return outputs
