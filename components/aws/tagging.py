"""Tags on every taggable AWS resource of a component, however the component was created."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from ..spec import ModelService

__all__ = ["service_tags", "tag_children"]


def service_tags(service: ModelService) -> dict[str, str]:
    return {**service.tags, "managed-by": "modelport"}


def tag_children(service: ModelService) -> pulumi.ResourceTransformation:
    """A transformation that puts the service's tags on every taggable AWS resource under a component.

    It runs for components built from code as well as from a stack (whose provider also sets default tags), so
    the tags never depend on how the component was created. A child's own tags (``Name``) win.
    """
    tags = service_tags(service)

    def transform(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        if not args.type_.startswith("aws:") or "tags" not in args.props:
            return None
        current = args.props.get("tags")
        merged: Any
        if isinstance(current, list):  # Auto Scaling groups: [{key, value, propagate_at_launch}]
            named = {item.get("key") for item in current if isinstance(item, Mapping)}
            merged = current + [
                {"key": k, "value": v, "propagate_at_launch": True} for k, v in tags.items() if k not in named
            ]
        elif current is None or isinstance(current, Mapping):
            merged = {**tags, **(current or {})}
        else:
            merged = pulumi.Output.from_input(current).apply(lambda own: {**tags, **(own or {})})
        return pulumi.ResourceTransformationResult({**args.props, "tags": merged}, args.opts)

    return transform
