"""What the five Azure patterns share: PatternArgs, the foundation they run on, exposure checks, and the stack
provider hook (one azure_native.Provider per target, with its location and subscription)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import pulumi
import pulumi_azure_native as azure_native

from ..spec import SERVICE_PATH, Target
from ..validation import SpecError, under
from .checks import ServiceSpecError, acr_registry_of, arm_id, principal_ids
from .foundation import Foundation, FoundationArgs
from .options import AzureArgs

__all__ = ["PatternArgs", "foundation_for", "provider_for_target"]


@dataclass(frozen=True, kw_only=True)
class PatternArgs(AzureArgs):
    """The shared options plus ``foundation`` (code only: share one Foundation between patterns of a region)."""

    foundation: Foundation | None = None

    CODE_ONLY: ClassVar[tuple[str, ...]] = ("location", "region_zones", "foundation")
    # Human name of the pattern, used in errors.
    PATTERN: ClassVar[str] = "this Azure pattern"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.foundation is not None and not isinstance(self.foundation, Foundation):
            raise SpecError("foundation", "must be a modelport.azure.Foundation")
        self._check_registry_images()

    def images(self) -> list[tuple[str, str]]:
        """(key path, image) of every image this target runs."""
        svc = self.service
        found = [(f"{SERVICE_PATH}.image", svc.image)]
        found += [(f"{SERVICE_PATH}.variants[{i}].image", v.image) for i, v in enumerate(svc.variants) if v.image]
        return found

    def _check_registry_images(self) -> None:
        """An image in ACR is pulled with the managed identity, whose AcrPull is scoped to ``registry_id``."""
        brought = (
            arm_id("registry_id", self.registry_id, "Microsoft.ContainerRegistry/registries").name.lower()
            if (self.registry_id)
            else None
        )
        for key, image in self.images():
            registry = acr_registry_of(image)
            if registry is None:
                continue
            if brought is None:
                raise SpecError(
                    "registry_id",
                    f"name the ARM id of registry {registry} ({key} is in it): the identity's AcrPull is scoped to "
                    "that registry",
                )
            if registry != brought:
                raise SpecError(
                    "registry_id",
                    f"names registry {brought}, but {key} is in {registry}; one target pulls from one registry",
                )

    # --- exposure: who may call --------------------------------------------------------------------------

    @property
    def principals(self) -> tuple[str, ...]:
        return principal_ids(self.service)

    def check_public(self, *, authenticator: bool) -> None:
        """A public target needs a certificate and callers it can authenticate, or an explicit ``anonymous``."""
        exposure = self.service.exposure
        if not exposure.public:
            return
        if not exposure.certificate:
            raise ServiceSpecError(
                "exposure.certificate",
                f"a public {self.PATTERN} serves HTTPS: name the Key Vault certificate "
                "(https://<vault>.vault.azure.net/secrets/<certificate name>)",
            )
        if not exposure.anonymous and not (authenticator and self.principals):
            raise ServiceSpecError(
                "exposure.public",
                f"a public {self.PATTERN} has nothing that authenticates internet callers"
                + ("" if authenticator else " (its front end enforces no Entra ID token)")
                + ": name Azure principals (azure:<object id>) in allowed_principals"
                + (" " if authenticator else " on a pattern that enforces them (container, serverless, ml_platform) ")
                + "or say exposure.anonymous: true (refused in prod)",
            )


def foundation_for(component: pulumi.Resource, name: str, args: PatternArgs, **needs: Any) -> Foundation:
    """The foundation passed in code (checked against what the pattern needs), or a new one as its child."""
    shared = args.foundation
    if shared is not None:
        if needs.get("delegation") and shared.args.delegation != needs["delegation"]:
            raise SpecError("foundation", f"was created without a subnet delegated to {needs['delegation']}")
        if needs.get("gateway_subnet") and not shared.args.gateway_subnet:
            raise SpecError("foundation", "was created without an Application Gateway subnet")
        return shared
    if args.location is None:
        raise SpecError("location", "is required: deploy through modelport.deploy, or pass location= from code")
    return Foundation(
        f"{name}-foundation", FoundationArgs.for_pattern(args, **needs), pulumi.ResourceOptions(parent=component)
    )


def provider_for_target(
    resource_name: str, args: PatternArgs, target: Target, opts: pulumi.ResourceOptions | None
) -> azure_native.Provider:
    """``provider_for_target`` for ``modelport.catalog.deploy``: an azure_native.Provider for the target's location
    (and subscription, when the options name one). Binds the target's location and zones to ``args`` first, so a
    prod target in a region without zones is refused before anything is registered."""
    args.bind_location(target.region, target.zones, f"{target.path}.region")  # type: ignore[arg-type]
    with under(f"{target.path}.options"):
        args.check_zones()
    return azure_native.Provider(
        f"{resource_name}-azure",
        location=target.region,
        subscription_id=args.subscription_id,
        opts=pulumi.ResourceOptions(parent=opts.parent if opts else None),
    )


def common_tags(args: AzureArgs) -> dict[str, str]:
    return {**args.service.tags, "managed-by": "modelport", "modelport-service": args.service.name}


def tagging(args: AzureArgs) -> Any:
    """A transformation that tags every taggable Azure resource of the component (azure-native has no default
    tags on the provider); a resource's own tags win."""
    tags = common_tags(args)

    def add_tags(rta: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        if not rta.type_.startswith("azure-native:") or "tags" not in rta.props:
            return None
        return pulumi.ResourceTransformationResult(
            {**rta.props, "tags": {**tags, **(rta.props.get("tags") or {})}}, rta.opts
        )

    return add_tags


def component_options(opts: pulumi.ResourceOptions | None, args: AzureArgs) -> pulumi.ResourceOptions:
    """The caller's options merged with ours: the tagging transformation is added, never replacing theirs."""
    return pulumi.ResourceOptions.merge(
        opts or pulumi.ResourceOptions(), pulumi.ResourceOptions(transformations=[tagging(args)])
    )
