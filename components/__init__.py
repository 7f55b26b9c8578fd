"""modelport: secure, highly available Pulumi components that serve a TensorFlow model on any cloud."""

from .base import ComponentArgs
from .catalog import CATALOG, MissingExtraError, deploy, load_component
from .profiles import PROFILES, Profile, get_profile
from .spec import (
    Accelerator,
    Exposure,
    Health,
    ModelRef,
    ModelService,
    Resources,
    Scaling,
    SecretRef,
    StackSpec,
    Target,
    Variant,
)
from .validation import SpecError

__all__ = [
    "CATALOG",
    "PROFILES",
    "Accelerator",
    "ComponentArgs",
    "Exposure",
    "Health",
    "MissingExtraError",
    "ModelRef",
    "ModelService",
    "Profile",
    "Resources",
    "Scaling",
    "SecretRef",
    "SpecError",
    "StackSpec",
    "Target",
    "Variant",
    "deploy",
    "get_profile",
    "load_component",
]
