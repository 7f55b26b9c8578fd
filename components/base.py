"""What every modelport component shares: the Args base that parses target options, and child-option helpers."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import pulumi

from .profiles import PROFILES, Profile
from .spec import ModelService
from .validation import SpecError, check_mapping_keys, under

__all__ = ["ENVIRONMENT_PROP", "ComponentArgs", "child_options", "component_props", "merge_options"]

# Every component records the profile it was built with, so the planner judges the environment actually used.
ENVIRONMENT_PROP = "modelportEnvironment"


@dataclass(frozen=True, kw_only=True)
class ComponentArgs:
    """Base of every ``<Name>Args``: the shared service and profile plus target-specific knobs.

    The knobs are the dataclass fields a subclass adds; stack config sets them under ``options:``.
    Fields listed in ``CODE_ONLY`` (provider objects, resource references) can only be set from code.
    """

    service: ModelService
    profile: Profile = PROFILES["prod"]

    CODE_ONLY: ClassVar[tuple[str, ...]] = ()
    # How this target carries ``service.grpc_port``; None: it cannot, and a gRPC port is refused with this reason.
    GRPC_REFUSAL: ClassVar[str | None] = "this target does not carry gRPC end to end"

    def __post_init__(self) -> None:
        if not isinstance(self.service, ModelService):
            raise SpecError("service", "must be a ModelService")
        if self.service.grpc_port is not None and self.GRPC_REFUSAL is not None:
            raise SpecError(
                "modelport:service.grpc_port",
                f"{self.GRPC_REFUSAL}; remove grpc_port for this target, or choose one that carries gRPC",
            )
        if not isinstance(self.profile, Profile):
            raise SpecError("profile", "must be a Profile (modelport.profiles.PROFILES['dev'|'staging'|'prod'])")
        if self.service.scaling.min_replicas is None:
            # Direct construction from code: fill the profile's floor so the component sees concrete values.
            object.__setattr__(self, "service", self.profile.apply(self.service))
        weighted = [t for t in self.service.tracks if t.weight > 0]
        if self.service.min_replicas < len(weighted):
            # Every pattern honours min_replicas exactly; it never raises it silently to fit the variants.
            raise SpecError(
                "modelport:service.scaling.min_replicas",
                f"must be >= the number of weighted variants ({len(weighted)}) so every variant runs "
                f"(got {self.service.min_replicas})",
            )

    @classmethod
    def option_names(cls) -> list[str]:
        skip = {"service", "profile", *cls.CODE_ONLY}
        return [f.name for f in dataclasses.fields(cls) if f.init and f.name not in skip]

    @classmethod
    def from_options(
        cls, *, service: ModelService, profile: Profile, options: Mapping[str, Any], path: str, target: Any = None
    ) -> ComponentArgs:
        """Build the args from a target's ``options:`` mapping; errors name ``path.<option>``.

        ``target`` (a ``modelport.spec.Target``) lets a cloud take what the target itself says (region, zones)
        through ``target_values``; options cannot set those fields.
        """
        names = cls.option_names()
        if names:
            check_mapping_keys(path, options, names)
        elif options:
            raise SpecError(f"{path}.{next(iter(options))}", "unknown key; this target takes no options")
        from_target = cls.target_values(target) if target is not None else {}
        with under(path):
            return cls(service=service, profile=profile, **dict(options), **from_target)

    @classmethod
    def target_values(cls, target: Any) -> dict[str, Any]:
        """Fields filled from the target (not from ``options:``); none by default."""
        return {}


def merge_options(opts: pulumi.ResourceOptions | None, **extra: Any) -> pulumi.ResourceOptions:
    """The caller's options merged with ours; the caller's are never replaced."""
    return pulumi.ResourceOptions.merge(opts or pulumi.ResourceOptions(), pulumi.ResourceOptions(**extra))


def child_options(parent: pulumi.Resource, **extra: Any) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(parent=parent, **extra)


def component_props(args: ComponentArgs) -> dict[str, Any]:
    """The props every modelport component registers: the profile it was built with (read by the planner)."""
    return {ENVIRONMENT_PROP: args.profile.name}
