"""Per-provider mock outputs and invokes for the offline planner; importing this registers them all."""

from . import aws, azure, kubernetes  # noqa: F401
