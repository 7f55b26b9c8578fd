"""What the five GCP patterns share: PatternArgs, the foundation they run on, and the provider hook (one
gcp.Provider per target with its project and region)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import pulumi
import pulumi_gcp as gcp

from ..spec import Target
from ..validation import check_bool
from .checks import (
    invoker_members,
    reject_anonymous_in_prod,
    require_gcp_secrets,
)
from .foundation import Foundation, FoundationArgs
from .options import GcpArgs

__all__ = ["PatternArgs", "foundation_for", "provider_for_target"]


@dataclass(frozen=True, kw_only=True)
class PatternArgs(GcpArgs):
    """The shared options plus ``iap``: Identity-Aware Proxy on the load balancer's backend service, the
    platform authenticator for patterns with a load balancer (callers sign in; the principals get
    ``roles/iap.httpsResourceAccessor``)."""

    iap: bool = False

    PATTERN: ClassVar[str] = "the pattern"
    # Which service agents encrypt with the key, and the project roles the identity needs.
    KEY_AGENTS: ClassVar[tuple[str, ...]] = ("artifactregistry", "storage")
    PROJECT_ROLES: ClassVar[tuple[str, ...]] = ()
    # Whether the pattern has a load balancer where IAP can sit.
    IAP_CAPABLE: ClassVar[bool] = False

    def __post_init__(self) -> None:
        super().__post_init__()
        check_bool("iap", self.iap)
        if self.iap and not self.IAP_CAPABLE:
            from ..validation import SpecError

            raise SpecError("iap", f"{self.PATTERN} has no load balancer backend for IAP; remove it")
        require_gcp_secrets(self.service, self.PATTERN)
        reject_anonymous_in_prod(self.service, self.profile.name, self.PATTERN)

    def callers(self) -> list[str]:
        """The GCP members granted access; a public exposure needs them, IAP, or anonymous: true."""
        return invoker_members(self.service, self.PATTERN, authenticator="iap" if self.iap else None)


def foundation_for(component: pulumi.Resource, name: str, args: PatternArgs, **needs: Any) -> Foundation:
    needs.setdefault("key_agents", args.KEY_AGENTS)
    needs.setdefault("project_roles", args.PROJECT_ROLES)
    needs.setdefault("needs_network", not args.NETWORK_OPTIONAL)
    needs.setdefault("pattern", args.PATTERN)
    return Foundation(
        f"{name}-foundation", FoundationArgs.for_pattern(args, **needs), pulumi.ResourceOptions(parent=component)
    )


def provider_for_target(
    resource_name: str, args: PatternArgs, target: Target, opts: pulumi.ResourceOptions | None
) -> gcp.Provider:
    """``provider_for_target`` for ``modelport.catalog.deploy``: a gcp.Provider for the target's project and
    region, labelling every labelled resource with the service's tags and ``managed-by: modelport``."""
    return gcp.Provider(
        f"{resource_name}-gcp",
        project=args.project,
        region=target.region,
        default_labels=args.resource_labels,
        opts=pulumi.ResourceOptions(parent=opts.parent if opts else None),
    )
