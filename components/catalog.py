"""The catalog: (cloud, pattern) to component class, with lazy cloud-SDK imports, and ``deploy``."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import pulumi

from .profiles import Profile
from .spec import CLOUDS, PATTERNS, ModelService, Target
from .validation import SpecError

__all__ = ["CATALOG", "Entry", "MissingExtraError", "deploy", "load_component"]


class MissingExtraError(ImportError):
    """A cloud's optional dependencies are not installed."""


@dataclass(frozen=True)
class Entry:
    cloud: str
    pattern: str
    module: str
    class_name: str
    extra: str
    # "available": built and tested. "planned": on the roadmap; deploying it is refused, never faked.
    status: str = "available"

    @property
    def type_token(self) -> str:
        return f"modelport:{self.cloud}:{self.class_name}"


_ENTRIES = (
    Entry("kubernetes", "kubernetes", "modelport.kubernetes.workload", "ModelWorkload", "kubernetes"),
    Entry("aws", "vm", "modelport.aws.vm", "Ec2Service", "aws"),
    Entry("aws", "container", "modelport.aws.container", "EcsService", "aws"),
    Entry("aws", "kubernetes", "modelport.aws.kubernetes", "EksService", "aws"),
    Entry("aws", "serverless", "modelport.aws.serverless", "LambdaService", "aws"),
    Entry("aws", "ml_platform", "modelport.aws.ml_platform", "SageMakerEndpoint", "aws"),
    Entry("gcp", "vm", "modelport.gcp.vm", "MigService", "gcp"),
    Entry("gcp", "container", "modelport.gcp.container", "CloudRunService", "gcp"),
    Entry("gcp", "kubernetes", "modelport.gcp.kubernetes", "GkeService", "gcp"),
    Entry("gcp", "serverless", "modelport.gcp.serverless", "CloudRunFunction", "gcp"),
    Entry("gcp", "ml_platform", "modelport.gcp.ml_platform", "VertexEndpoint", "gcp"),
    Entry("azure", "vm", "modelport.azure.vm", "VmssService", "azure"),
    Entry("azure", "container", "modelport.azure.container", "ContainerAppService", "azure"),
    Entry("azure", "kubernetes", "modelport.azure.kubernetes", "AksService", "azure"),
    Entry("azure", "serverless", "modelport.azure.serverless", "FunctionAppService", "azure"),
    Entry("azure", "ml_platform", "modelport.azure.ml_platform", "AzureMlEndpoint", "azure"),
)
CATALOG: dict[tuple[str, str], Entry] = {(e.cloud, e.pattern): e for e in _ENTRIES}

# The top-level SDK module each extra provides; checked before importing a component module so a missing
# extra is reported as such and not as an unrelated ImportError deeper down.
_EXTRA_MODULES = {
    "kubernetes": ("pulumi_kubernetes",),
    "aws": ("pulumi_aws", "pulumi_kubernetes"),
    "gcp": ("pulumi_gcp", "pulumi_kubernetes"),
    "azure": ("pulumi_azure_native", "pulumi_kubernetes"),
}


def _entry(cloud: str, pattern: str, path: str = "target") -> Entry:
    if cloud not in CLOUDS:
        raise SpecError(f"{path}.cloud", f"must be one of {', '.join(CLOUDS)} (got {cloud!r})")
    if pattern not in PATTERNS:
        raise SpecError(f"{path}.pattern", f"must be one of {', '.join(PATTERNS)} (got {pattern!r})")
    entry = CATALOG.get((cloud, pattern))
    if entry is None:
        valid = ", ".join(p for c, p in CATALOG if c == cloud)
        raise SpecError(f"{path}.pattern", f"cloud {cloud!r} supports: {valid} (got {pattern!r})")
    return entry


def load_component(cloud: str, pattern: str, path: str = "target") -> type[pulumi.ComponentResource]:
    """The component class for (cloud, pattern), importing its cloud SDK only now."""
    entry = _entry(cloud, pattern, path)
    if entry.status != "available":
        available = ", ".join(f"{e.cloud}/{e.pattern}" for e in _ENTRIES if e.status == "available")
        raise SpecError(
            path,
            f"{cloud}/{pattern} ({entry.type_token}) is not available in this release of modelport; "
            f"available targets: {available}",
        )
    for module in _EXTRA_MODULES[entry.extra]:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise MissingExtraError(
                f"{path}: cloud {cloud!r} needs the {module} package: pip install 'modelport[{entry.extra}]'"
            ) from exc
    return getattr(importlib.import_module(entry.module), entry.class_name)


def deploy(
    service: ModelService,
    target: Target,
    profile: Profile,
    opts: pulumi.ResourceOptions | None = None,
    name: str | None = None,
) -> pulumi.ComponentResource:
    """Create the component for one target. ``name`` defaults to ``<service>-<cloud>-<pattern>[-<region>]``."""
    component = load_component(target.cloud, target.pattern, target.path)
    service = profile.apply(service)
    args_type = component.args_type  # type: ignore[attr-defined]
    # Every option is validated before anything is registered, the provider included.
    args = args_type.from_options(
        service=service, profile=profile, options=dict(target.options), path=f"{target.path}.options", target=target
    )
    resource_name = name or f"{service.name}-{target.key}"
    provider_factory = getattr(component, "provider_for_target", None)
    if provider_factory is not None:
        provider = provider_factory(resource_name, args, target, opts)
        if provider is not None:
            opts = pulumi.ResourceOptions.merge(
                opts or pulumi.ResourceOptions(), pulumi.ResourceOptions(providers=[provider])
            )
    return component(resource_name, args, opts)
