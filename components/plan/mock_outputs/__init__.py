"""Per-provider mock outputs and invokes for the offline planner; importing this registers them all."""

from . import aws, azure, gcp, kubernetes  # noqa: F401
