"""The cloud-neutral ModelService spec and stack targets: frozen, validated dataclasses parsed from stack config."""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .credentials import env_credential_findings
from .networks import open_to_internet
from .regions import region_zones
from .validation import (
    SpecError,
    check_bool,
    check_choice,
    check_int,
    check_mapping_keys,
    check_number,
    check_optional_str,
    check_str,
    check_str_list,
    check_str_map,
    dataclass_keys,
    join_path,
    under,
)

__all__ = [
    "ACCELERATOR_TYPES",
    "CLOUDS",
    "ENVIRONMENTS",
    "PATTERNS",
    "Accelerator",
    "Exposure",
    "Health",
    "ModelRef",
    "ModelService",
    "Resources",
    "Scaling",
    "SecretRef",
    "SpecError",
    "StackSpec",
    "Target",
    "Variant",
    "parse_image",
    "parse_network",
    "principal_cloud",
    "split_replicas",
]

SERVICE_PATH = "modelport:service"
TARGETS_PATH = "modelport:targets"
ENVIRONMENT_PATH = "modelport:environment"

CLOUDS = ("aws", "gcp", "azure", "kubernetes")
PATTERNS = ("vm", "container", "kubernetes", "serverless", "ml_platform")
ENVIRONMENTS = ("dev", "staging", "prod")
# Cloud-neutral accelerator names; each cloud maps them to its own machine or instance types.
ACCELERATOR_TYPES = ("nvidia-t4", "nvidia-l4", "nvidia-a10g", "nvidia-a100", "nvidia-h100")

# RFC 1035 label, short enough that derived cloud names (ALB and target-group names cap at 32) still fit.
NAME_PATTERN = r"[a-z]([-a-z0-9]{0,28}[a-z0-9])?"
NAME_TEXT = "a lowercase DNS label: letters, digits and '-', starting with a letter, at most 30 characters"
ENV_NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_]*"
# Environment names that almost always carry credentials: they belong in `secrets`, as references.
# Environment the serving image reads that modelport derives from the spec: set the spec field, not the variable.
SERVING_ENV = MappingProxyType(
    {
        "PORT": "service.port",
        "MODEL_NAME": "model.name",
        "SIGNATURE_NAME": "model.signature",
        "GRPC_PORT": "service.grpc_port",
        # Which front ends the image opens (http, grpc): a target derives it from grpc_port (Cloud Run's gRPC service).
        "PROTOCOLS": "service.grpc_port",
    }
)
SECRET_LOOKING_ENV = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL|ACCESS_?KEY)", re.I)
HOSTNAME_PATTERN = r"(\*\.)?([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"

# The OCI distribution reference grammar (github.com/distribution/reference), anchored.
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REFERENCE = re.compile(
    rf"(?P<name>(?:(?P<domain>{_DOMAIN})/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?"
)
IMAGE_TEXT = "an OCI image reference such as registry.example.com/team/model@sha256:<64 hex> or repo:tag"


@dataclass(frozen=True)
class ImageRef:
    """A parsed OCI reference. ``domain`` is None for Docker Hub short names."""

    name: str
    domain: str | None
    tag: str | None
    digest: str | None

    @property
    def pinned(self) -> bool:
        return self.digest is not None


def parse_image(path: str, value: Any) -> ImageRef:
    text = check_str(path, value, description=IMAGE_TEXT, max_length=512)
    match = _REFERENCE.fullmatch(text)
    if match is None:
        raise SpecError(path, f"must be {IMAGE_TEXT} (got {text!r})")
    name, domain, tag, digest = match.group("name", "domain", "tag", "digest")
    if domain is not None and "." not in domain and ":" not in domain and domain != "localhost":
        # Docker's rule: a first component without '.' or ':' is a path, not a registry host.
        if not re.fullmatch(_PATH_COMPONENT, domain):
            raise SpecError(path, f"repository path components must be lowercase: {IMAGE_TEXT} (got {text!r})")
        domain = None
    if len(name) > 255:
        raise SpecError(path, f"repository name must be at most 255 characters (got {len(name)})")
    if digest is not None and digest.startswith("sha256:") and len(digest) != len("sha256:") + 64:
        raise SpecError(path, f"a sha256 digest has exactly 64 hex digits (got {len(digest) - 7})")
    if tag is None and digest is None:
        raise SpecError(path, f"must name a tag or, better, a digest: {IMAGE_TEXT} (got {text!r})")
    return ImageRef(name=name, domain=domain, tag=tag, digest=digest)


# --- secrets -------------------------------------------------------------------------------------------------

_SECRET_FORMS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "aws-secretsmanager",
        re.compile(r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+(:[^:]*){0,3}"),
    ),
    ("aws-ssm", re.compile(r"arn:aws[a-z-]*:ssm:[a-z0-9-]+:\d{12}:parameter/[A-Za-z0-9/_.-]+")),
    ("gcp-secret-manager", re.compile(r"projects/[a-z0-9-]+/secrets/[A-Za-z0-9_-]+(/versions/(latest|\d+))?")),
    (
        "azure-key-vault",
        re.compile(r"https://[a-zA-Z0-9-]{3,24}\.vault\.azure\.net/secrets/[a-zA-Z0-9-]+(/[0-9a-f]{32})?"),
    ),
    ("kubernetes", re.compile(r"k8s://[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/[-._a-zA-Z0-9]+")),
)
SECRET_TEXT = (
    "a secret reference, never a value: an AWS Secrets Manager or SSM parameter ARN, "
    "projects/<p>/secrets/<s>[/versions/<v>], https://<vault>.vault.azure.net/secrets/<name>, "
    "or k8s://<secret-name>/<key>"
)


@dataclass(frozen=True)
class SecretRef:
    """A reference to a secret held in a secret store; the value itself never passes through modelport."""

    kind: str
    reference: str

    @classmethod
    def parse(cls, path: str, value: Any) -> SecretRef:
        text = check_str(path, value, description=SECRET_TEXT)
        for kind, pattern in _SECRET_FORMS:
            if pattern.fullmatch(text):
                return cls(kind=kind, reference=text)
        raise SpecError(path, f"must be {SECRET_TEXT} (got a value that is none of these)")

    @property
    def kubernetes_parts(self) -> tuple[str, str]:
        """(secret name, key) of a ``k8s://`` reference."""
        if self.kind != "kubernetes":
            raise ValueError(f"{self.reference!r} is not a k8s:// reference")
        name, key = self.reference.removeprefix("k8s://").split("/", 1)
        return name, key


# --- the parts of a service ----------------------------------------------------------------------------------


class _Part:
    """Shared parsing: strict keys, nested parts built with their key path."""

    _NESTED: Mapping[str, type] = MappingProxyType({})
    # Keys of earlier releases, with what replaced them: an error that says where the value goes now.
    _REPLACED: Mapping[str, str] = MappingProxyType({})

    @classmethod
    def from_config(cls, data: Any, path: str) -> Any:
        keys = dataclass_keys(cls)
        if isinstance(data, Mapping):
            for old, reason in cls._REPLACED.items():
                if old in data:
                    raise SpecError(join_path(path, old), reason)
        required = [f.name for f in dataclasses.fields(cls) if _is_required(f)]
        check_mapping_keys(path, data, keys, required)
        kwargs = cls._parse_collections(dict(data), path)
        for key, part in cls._NESTED.items():
            if key in kwargs and kwargs[key] is not None:
                kwargs[key] = part.from_config(kwargs[key], join_path(path, key))
        with under(path):
            return cls(**kwargs)

    @classmethod
    def _parse_collections(cls, kwargs: dict[str, Any], path: str) -> dict[str, Any]:
        """Hook for parts holding lists or maps of parts; the default has none."""
        return kwargs


def _is_required(f: dataclasses.Field) -> bool:
    return f.init and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


@dataclass(frozen=True, kw_only=True)
class ModelRef(_Part):
    """Which model the container serves and where its artifact lives (None: baked into the image)."""

    name: str
    artifact_uri: str | None = None
    signature: str = "serving_default"

    def __post_init__(self) -> None:
        check_str(
            "name",
            self.name,
            pattern=r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}",
            description="a model name of letters, digits, '_', '.' and '-' (at most 63)",
        )
        check_optional_str(
            "artifact_uri",
            self.artifact_uri,
            pattern=r"(s3|gs|azureml)://[^\s]+|https://[a-z0-9]+\.blob\.core\.windows\.net/[^\s]+",
            description="an s3://, gs://, azureml:// or https://<account>.blob.core.windows.net/ URI",
        )
        check_str(
            "signature", self.signature, pattern=r"[A-Za-z_][A-Za-z0-9_]*", description="a SavedModel signature name"
        )


@dataclass(frozen=True, kw_only=True)
class Accelerator(_Part):
    type: str
    count: int = 1

    def __post_init__(self) -> None:
        check_choice("type", self.type, ACCELERATOR_TYPES)
        check_int("count", self.count, minimum=1, maximum=8)


@dataclass(frozen=True, kw_only=True)
class Resources(_Part):
    """Per-replica compute. ``cpu`` is in cores, ``memory_mib`` in MiB."""

    cpu: float = 1.0
    memory_mib: int = 2048
    accelerator: Accelerator | None = None
    _NESTED = MappingProxyType({"accelerator": Accelerator})

    def __post_init__(self) -> None:
        check_number("cpu", self.cpu, minimum=0, maximum=192, exclusive_min=True)
        check_int("memory_mib", self.memory_mib, minimum=128, maximum=4_194_304)
        if self.accelerator is not None and not isinstance(self.accelerator, Accelerator):
            raise SpecError("accelerator", "must be a mapping with keys type, count")


@dataclass(frozen=True, kw_only=True)
class Scaling(_Part):
    """Replica bounds and autoscaling targets. ``min_replicas=None`` takes the environment profile's floor."""

    min_replicas: int | None = None
    max_replicas: int = 10
    target_cpu_percent: int = 60
    target_concurrency: int | None = None

    def __post_init__(self) -> None:
        if self.min_replicas is not None:
            check_int("min_replicas", self.min_replicas, minimum=1, maximum=1000)
        check_int("max_replicas", self.max_replicas, minimum=1, maximum=1000)
        check_int("target_cpu_percent", self.target_cpu_percent, minimum=10, maximum=95)
        if self.target_concurrency is not None:
            check_int("target_concurrency", self.target_concurrency, minimum=1, maximum=1000)
        if self.min_replicas is not None and self.min_replicas > self.max_replicas:
            raise SpecError(
                "min_replicas",
                f"must be <= max_replicas ({self.max_replicas}) (got {self.min_replicas})",
            )


@dataclass(frozen=True, kw_only=True)
class Health(_Part):
    """Probe routes of the serving image and how long a replica may take to load and warm the model."""

    ready_path: str = "/v2/health/ready"
    live_path: str = "/v2/health/live"
    startup_seconds: int = 300

    def __post_init__(self) -> None:
        for key in ("ready_path", "live_path"):
            check_str(key, getattr(self, key), pattern=r"/[A-Za-z0-9/_.:-]*", description="an absolute URL path")
        check_int("startup_seconds", self.startup_seconds, minimum=10, maximum=3600)


# --- who may call ---------------------------------------------------------------------------------------------

# Each principal names its cloud by its form (DESIGN §3.2). A target takes the principals of its own cloud.
AWS_PRINCIPAL_ARN = r"arn:aws[a-z-]*:iam::\d{12}:(root|(role|user)(/[\w+=,.@-]+)*/[\w+=,.@-]+)"
_EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,63}"
_DNS_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
PRINCIPAL_FORMS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("aws", re.compile(rf"\d{{12}}|{AWS_PRINCIPAL_ARN}")),
    (
        "gcp",
        re.compile(
            rf"(serviceAccount|user|group):{_EMAIL}|domain:([a-z0-9]([-a-z0-9]{{0,61}}[a-z0-9])?\.)+[a-z]{{2,63}}"
        ),
    ),
    ("azure", re.compile(r"azure:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")),
    ("kubernetes", re.compile(rf"namespace/{_DNS_LABEL}|serviceaccount/{_DNS_LABEL}/{_DNS_LABEL}")),
)
PRINCIPAL_TEXT = (
    "an identity: an AWS role/user ARN or 12-digit account ID, a GCP member (serviceAccount:, user:, group:, "
    "domain:), an Azure principal object ID as azure:<uuid>, or Kubernetes namespace/<name> or "
    "serviceaccount/<namespace>/<name>"
)


def principal_cloud(path: str, value: Any) -> str:
    """The cloud (``aws``, ``gcp``, ``azure`` or ``kubernetes``) a principal belongs to, judged by its form."""
    text = check_str(path, value, description=PRINCIPAL_TEXT, max_length=2048)
    for cloud, pattern in PRINCIPAL_FORMS:
        if pattern.fullmatch(text):
            return cloud
    if ipaddress_or_none(text) is not None:
        raise SpecError(
            path, f"a network range is not an identity: put CIDRs under exposure.allowed_networks (got {text!r})"
        )
    raise SpecError(path, f"must be {PRINCIPAL_TEXT} (got {text!r})")


def ipaddress_or_none(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def parse_network(path: str, value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A CIDR, exactly as written: host bits set are refused rather than silently cleared."""
    text = check_str(path, value, description="a CIDR such as 10.20.0.0/16 or 2001:db8::/32")
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        loose = ipaddress_or_none(text)
        if loose is not None:
            raise SpecError(path, f"has host bits set: write {loose} (got {text!r})") from None
        raise SpecError(path, f"must be a CIDR such as 10.20.0.0/16 or 2001:db8::/32 (got {text!r}): {exc}") from None


@dataclass(frozen=True, kw_only=True)
class Exposure(_Part):
    """Who may call the model. Private by default; public needs authenticated callers.

    ``allowed_principals`` are identities, each of one cloud by its form; a target enforces those of its own
    cloud. ``allowed_networks`` are CIDRs: they narrow who can connect and never authenticate. Anonymous public
    access needs ``anonymous: true`` (which the policy pack refuses in prod).
    """

    public: bool = False
    allowed_principals: tuple[str, ...] = ()
    allowed_networks: tuple[str, ...] = ()
    anonymous: bool = False
    certificate: str | None = None
    domain: str | None = None

    _REPLACED = MappingProxyType(
        {
            "allowed_callers": "was replaced by allowed_principals (identities: IAM ARNs or account IDs, GCP "
            "members, azure:<object id>, namespace/<name>) and allowed_networks (CIDRs); move each entry to the "
            "list of its kind",
        }
    )

    def __post_init__(self) -> None:
        check_bool("public", self.public)
        check_bool("anonymous", self.anonymous)
        principals = check_str_list("allowed_principals", self.allowed_principals)
        seen: dict[str, int] = {}
        for index, principal in enumerate(principals):
            principal_cloud(f"allowed_principals[{index}]", principal)
            if principal in seen:
                raise SpecError(f"allowed_principals[{index}]", f"repeats allowed_principals[{seen[principal]}]")
            seen[principal] = index
        networks = check_str_list("allowed_networks", self.allowed_networks)
        for index, network in enumerate(networks):
            parse_network(f"allowed_networks[{index}]", network)
        internet = open_to_internet(networks)
        if internet and not self.public:
            raise SpecError(
                "allowed_networks",
                f"admits {internet}, but the exposure is private (public: false). Name the callers' own ranges, or "
                "make the exposure public (which needs authentication)",
            )
        object.__setattr__(self, "allowed_principals", principals)
        object.__setattr__(self, "allowed_networks", networks)
        check_optional_str("certificate", self.certificate, max_length=2048)
        check_optional_str("domain", self.domain, pattern=HOSTNAME_PATTERN, description="a lowercase DNS hostname")
        if self.anonymous and not self.public:
            raise SpecError("anonymous", "applies only to a public exposure (exposure.public: true)")

    def principals_of(self, cloud: str) -> tuple[str, ...]:
        """The principals a target of ``cloud`` enforces, in the order written."""
        return tuple(p for p in self.allowed_principals if principal_cloud("allowed_principals", p) == cloud)

    @property
    def networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(n) for n in self.allowed_networks)


@dataclass(frozen=True, kw_only=True)
class Variant(_Part):
    """One weighted version for canary or blue/green. ``image=None`` uses the service image."""

    name: str
    weight: int
    image: str | None = None

    def __post_init__(self) -> None:
        check_str(
            "name",
            self.name,
            pattern=r"[a-z]([-a-z0-9]{0,18}[a-z0-9])?",
            description="a lowercase DNS label of at most 20 characters",
        )
        check_int("weight", self.weight, minimum=0, maximum=100)
        if self.image is not None:
            parse_image("image", self.image)


# --- the service ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ModelService(_Part):
    """Everything every target needs to run one model service. Validated on construction."""

    name: str
    image: str
    port: int = 8080
    # gRPC end to end on its own port where the target can carry it; refused where it can't. Off by default.
    grpc_port: int | None = None
    model: ModelRef | None = None
    resources: Resources = field(default_factory=Resources)
    scaling: Scaling = field(default_factory=Scaling)
    health: Health = field(default_factory=Health)
    exposure: Exposure = field(default_factory=Exposure)
    variants: tuple[Variant, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    secrets: Mapping[str, SecretRef] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)

    _NESTED = MappingProxyType(
        {"model": ModelRef, "resources": Resources, "scaling": Scaling, "health": Health, "exposure": Exposure}
    )

    @classmethod
    def from_config(cls, data: Any, path: str = SERVICE_PATH) -> ModelService:
        return super().from_config(data, path)

    @classmethod
    def _parse_collections(cls, kwargs: dict[str, Any], path: str) -> dict[str, Any]:
        if "variants" in kwargs:
            kwargs["variants"] = _parse_variants(kwargs["variants"], join_path(path, "variants"))
        if "secrets" in kwargs:
            raw = kwargs["secrets"]
            if not isinstance(raw, Mapping):
                raise SpecError(join_path(path, "secrets"), f"must be a mapping of ENV_NAME: {SECRET_TEXT}")
            kwargs["secrets"] = {k: SecretRef.parse(join_path(path, f"secrets.{k}"), v) for k, v in raw.items()}
        return kwargs

    def __post_init__(self) -> None:
        check_str("name", self.name, pattern=NAME_PATTERN, description=NAME_TEXT)
        parse_image("image", self.image)
        check_int("port", self.port, minimum=1024, maximum=65535)
        if self.grpc_port is not None:
            check_int("grpc_port", self.grpc_port, minimum=1024, maximum=65535)
            if self.grpc_port == self.port:
                raise SpecError("grpc_port", f"must differ from port ({self.port}): HTTP and gRPC listen apart")
        if self.model is None:
            object.__setattr__(self, "model", ModelRef(name=self.name))
        for key, part in self._NESTED.items():
            if not isinstance(getattr(self, key), part):
                raise SpecError(key, f"must be a mapping with keys {', '.join(dataclass_keys(part))}")
        self._check_variants()
        env = check_str_map(
            "env",
            self.env,
            key_pattern=ENV_NAME_PATTERN,
            key_description="an environment variable name",
            scalars_to_str=True,
        )
        for key, value in env.items():
            if SECRET_LOOKING_ENV.search(key):
                raise SpecError(f"env.{key}", "looks like a credential; put it in `secrets` as a reference")
            findings = env_credential_findings(key, value)
            if findings:
                raise SpecError(
                    f"env.{key}",
                    f"holds {' and '.join(findings)}: a credential never goes in `env`. Store it in a secret store "
                    f"and reference it as `secrets: {{{key}: <reference>}}` ({SECRET_TEXT})",
                )
        object.__setattr__(self, "env", MappingProxyType(env))
        self._check_secrets(env)
        self._check_serving_env(env)
        tags = check_str_map(
            "tags",
            self.tags,
            key_pattern=r"[\w.:/=+@ -]+",
            key_description="a tag key",
            max_key_length=128,
            max_value_length=256,
            scalars_to_str=True,
        )
        object.__setattr__(self, "tags", MappingProxyType(tags))

    def _check_variants(self) -> None:
        variants = tuple(self.variants)
        object.__setattr__(self, "variants", variants)
        if not variants:
            return
        if len(variants) > 10:
            raise SpecError("variants", f"at most 10 variants are supported (got {len(variants)})")
        seen: set[str] = set()
        for index, variant in enumerate(variants):
            if not isinstance(variant, Variant):
                raise SpecError(f"variants[{index}]", "must be a mapping with keys name, weight, image")
            if variant.name in seen:
                raise SpecError(f"variants[{index}].name", f"duplicate variant name {variant.name!r}")
            seen.add(variant.name)
        total = sum(v.weight for v in variants)
        if total != 100:
            shown = ", ".join(f"{v.name}={v.weight}" for v in variants)
            raise SpecError("variants", f"weights must sum to 100 (got {total}: {shown})")

    def _check_secrets(self, env: Mapping[str, str]) -> None:
        if not isinstance(self.secrets, Mapping):
            raise SpecError("secrets", f"must be a mapping of ENV_NAME: {SECRET_TEXT}")
        parsed: dict[str, SecretRef] = {}
        for key, ref in self.secrets.items():
            if not isinstance(key, str) or not re.fullmatch(ENV_NAME_PATTERN, key):
                raise SpecError(f"secrets.{key}", "key must be an environment variable name")
            if key in env:
                raise SpecError(f"secrets.{key}", "is also set in `env`; a name is either plain or secret")
            parsed[key] = ref if isinstance(ref, SecretRef) else SecretRef.parse(f"secrets.{key}", ref)
        object.__setattr__(self, "secrets", MappingProxyType(parsed))

    # --- derived views used by components ---

    @property
    def image_ref(self) -> ImageRef:
        return parse_image("image", self.image)

    @property
    def tracks(self) -> tuple[Variant, ...]:
        """The weighted versions to run: the declared variants, or one 'stable' track at 100%."""
        if self.variants:
            return self.variants
        return (Variant(name="stable", weight=100, image=self.image),)

    def image_of(self, variant: Variant) -> str:
        return variant.image or self.image

    def _check_serving_env(self, env: Mapping[str, str]) -> None:
        for key in env:
            if key in SERVING_ENV:
                raise SpecError(f"env.{key}", f"is set by modelport from {SERVING_ENV[key]}; set that instead")

    def serving_env(self, port: int | None = None) -> dict[str, str]:
        """The serving image's environment on every target: port, model, signature and gRPC, then ``env``.

        ``port`` is the port the target makes the image listen on when it differs from ``service.port``.
        """
        assert self.model is not None
        base = {
            "PORT": str(port or self.port),
            "MODEL_NAME": self.model.name,
            "SIGNATURE_NAME": self.model.signature,
            # The image opens gRPC on 8081 unless told otherwise; a target only carries the port the spec names.
            "GRPC_PORT": str(self.grpc_port or 0),
        }
        return {**base, **self.env}

    @property
    def min_replicas(self) -> int:
        if self.scaling.min_replicas is None:
            raise ValueError("min_replicas is unset: apply an environment profile first (Profile.apply)")
        return self.scaling.min_replicas


def split_replicas(total: int, weights: Sequence[int], floor: int = 1) -> list[int]:
    """Split ``total`` replicas over weighted tracks; every track with weight keeps at least ``floor``.

    Leftover replicas go to the heaviest tracks first, so the split stays as close to the weights as whole
    replicas allow. Every pattern that approximates traffic weights by replica counts uses this.
    """
    counts = [max(floor, math.floor(total * w / 100)) if w > 0 else 0 for w in weights]
    leftover = total - sum(counts)
    for index in sorted(range(len(weights)), key=lambda i: -weights[i]):
        if leftover <= 0:
            break
        if weights[index] > 0:
            counts[index] += 1
            leftover -= 1
    return counts


def _parse_variants(raw: Any, path: str) -> tuple[Variant, ...]:
    if isinstance(raw, (str, Mapping)) or not isinstance(raw, (list, tuple)):
        raise SpecError(path, "must be a list of {name, weight, image} mappings")
    return tuple(Variant.from_config(item, f"{path}[{i}]") for i, item in enumerate(raw))


# --- targets and the whole stack -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Target:
    """Where to deploy: a (cloud, pattern) pair, a region, and target-specific options."""

    cloud: str
    pattern: str
    region: str | None = None
    # The zones of a region newer than modelport's region table (modelport/regions.py): the escape hatch.
    zones: tuple[str, ...] | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    path: str = field(default="target", compare=False)

    def __post_init__(self) -> None:
        with under(self.path):
            check_choice("cloud", self.cloud, CLOUDS)
            check_choice("pattern", self.pattern, PATTERNS)
            if self.cloud == "kubernetes" and self.pattern != "kubernetes":
                raise SpecError(
                    "pattern",
                    f"cloud 'kubernetes' (an existing cluster) only supports pattern 'kubernetes' "
                    f"(got {self.pattern!r}); use aws, gcp or azure for the other patterns",
                )
            if self.cloud == "kubernetes":
                if self.region is not None:
                    raise SpecError("region", "does not apply to cloud 'kubernetes'; choose the cluster in options")
            else:
                check_str(
                    "region",
                    self.region,
                    pattern=r"[a-z][a-z0-9-]{2,40}",
                    description=f"a {self.cloud} region name such as {_EXAMPLE_REGION[self.cloud]}",
                )
                if self.zones is not None:
                    zones = check_str_list("zones", self.zones, pattern=r"[a-z0-9-]{1,40}", description="a zone name")
                    if not zones:
                        raise SpecError("zones", "must name at least one zone, or be left out")
                    object.__setattr__(self, "zones", zones)
                region_zones("region", self.cloud, self.region, self.zones)
            if self.cloud == "kubernetes" and self.zones is not None:
                raise SpecError("zones", "does not apply to cloud 'kubernetes'")
            if not isinstance(self.options, Mapping):
                raise SpecError("options", "must be a mapping of target-specific options")
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))

    @classmethod
    def from_config(cls, data: Any, path: str) -> Target:
        check_mapping_keys(path, data, ("cloud", "pattern", "region", "zones", "options"), ("cloud", "pattern"))
        return cls(**data, path=path)

    @property
    def region_zones(self) -> tuple[str, ...]:
        """The zones of the target's region: from modelport's table, or the target's own ``zones``."""
        if self.cloud == "kubernetes" or self.region is None:
            return ()
        return region_zones(f"{self.path}.region", self.cloud, self.region, self.zones, f"{self.path}.zones")

    @property
    def key(self) -> str:
        """A short, stable name for resources of this target: cloud-pattern[-region]."""
        parts = [self.cloud, self.pattern.replace("_", "-")]
        if self.region:
            parts.append(self.region)
        return "-".join(parts)


_EXAMPLE_REGION = {"aws": "us-east-1", "gcp": "europe-west4", "azure": "westeurope"}


@dataclass(frozen=True, kw_only=True)
class StackSpec:
    """The validated content of one stack's config: environment, service, targets."""

    environment: str
    service: ModelService
    targets: tuple[Target, ...]

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> StackSpec:
        """Parse the ``modelport:*`` keys of a stack config (values already decoded from YAML/JSON)."""
        known = (ENVIRONMENT_PATH, SERVICE_PATH, TARGETS_PATH)
        for key in config:
            if key.startswith("modelport:") and key not in known:
                raise SpecError(key, f"unknown key; accepted keys: {', '.join(known)}")
        if SERVICE_PATH not in config:
            raise SpecError(SERVICE_PATH, "is required")
        environment = check_choice(ENVIRONMENT_PATH, config.get(ENVIRONMENT_PATH, "dev"), ENVIRONMENTS)
        service = ModelService.from_config(config[SERVICE_PATH])
        raw_targets = config.get(TARGETS_PATH)
        if isinstance(raw_targets, (str, Mapping)) or not isinstance(raw_targets, (list, tuple)) or not raw_targets:
            raise SpecError(TARGETS_PATH, "must be a non-empty list of {cloud, pattern, region, options}")
        targets = tuple(Target.from_config(t, f"{TARGETS_PATH}[{i}]") for i, t in enumerate(raw_targets))
        seen: dict[str, int] = {}
        for index, target in enumerate(targets):
            if target.key in seen:
                raise SpecError(
                    f"{TARGETS_PATH}[{index}]",
                    f"would produce the same resource names as targets[{seen[target.key]}] "
                    f"({service.name}-{target.key}-*): each target needs its own cloud, pattern or region"
                    + ("; a second cluster goes in a stack of its own" if target.cloud == "kubernetes" else ""),
                )
            seen[target.key] = index
        return cls(environment=environment, service=service, targets=targets)
