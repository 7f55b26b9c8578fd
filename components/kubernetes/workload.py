"""ModelWorkload: the model service as hardened, autoscaled, zone-spread Kubernetes objects on any cluster."""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pulumi
import pulumi_kubernetes as k8s

from ..base import ComponentArgs, component_props, merge_options
from ..clusters import SYSTEM_NAMESPACES, system_namespace
from ..networks import METADATA_ADDRESSES, covers_address, subtract, to_networks
from ..spec import ModelService, SecretRef, Target, Variant, split_replicas
from ..validation import (
    SpecError,
    check_bool,
    check_choice,
    check_int,
    check_number,
    check_optional_str,
    check_str,
    check_str_map,
)
from . import monitoring

__all__ = ["ModelWorkload", "ModelWorkloadArgs", "SYSTEM_NAMESPACES", "ingress_annotation_problem"]

DNS_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
# The serving image's non-root user; any UID works, this one is what the image declares.
RUN_AS_USER = 10001
# preStop sleep lets endpoints and load balancers stop routing before SIGTERM; the server then drains
# for up to GRACEFUL_TIMEOUT. The grace period covers both with a margin.
PRESTOP_SECONDS = 5
GRACEFUL_TIMEOUT_SECONDS = 8
TERMINATION_GRACE_SECONDS = PRESTOP_SECONDS + GRACEFUL_TIMEOUT_SECONDS + 7
GPU_RESOURCE = "nvidia.com/gpu"
PSS_LEVEL = "restricted"
GCP_CREDENTIALS_DIR = "/var/run/secrets/gcp"
LABEL_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
LABEL_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?"
DNS_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
# The Grafana sidecar's defaults (grafana and kube-prometheus-stack charts), and the usual selector of a
# kube-prometheus-stack Prometheus for ServiceMonitors and PrometheusRules: the Helm release's name.
GRAFANA_SIDECAR_LABELS = {"grafana_dashboard": "1"}
GRAFANA_FOLDER_ANNOTATION = "grafana_folder"
PROMETHEUS_LABELS = {"release": "kube-prometheus-stack"}
SCRAPE_INTERVAL = "30s"
PROMETHEUS_DURATION = r"([0-9]+(ms|s|m|h))+"
ALERT_ERROR_RATIO = 0.05
ALERT_P99_SECONDS = 1.0
ALERT_FOR_MINUTES = 5
TRACK_LABEL = "modelport.dev/track"
# The ingress annotations each controller may take, and the values each accepts (None: any value). Everything
# else is refused: snippets inject controller configuration, and scheme, source ranges, groups, subnets, security
# groups and custom actions decide who can reach the service, which only `exposure` decides.
_NGINX = "nginx.ingress.kubernetes.io/"
_ALB = "alb.ingress.kubernetes.io/"
INGRESS_ANNOTATIONS: dict[str, dict[str, tuple[str, ...] | None]] = {
    _NGINX: {
        "auth-url": None,
        "auth-signin": None,
        "auth-method": ("GET", "POST"),
        "auth-response-headers": None,
        "auth-type": ("basic", "digest"),
        "auth-secret": None,
        "auth-realm": None,
        "auth-tls-secret": None,
        "auth-tls-verify-client": ("on",),
        "backend-protocol": ("HTTP", "HTTPS", "GRPC", "GRPCS"),
        "force-ssl-redirect": ("true",),
        "ssl-redirect": ("true",),
        "proxy-body-size": None,
        "proxy-read-timeout": None,
        "proxy-send-timeout": None,
        "proxy-connect-timeout": None,
        "proxy-buffering": ("on", "off"),
        "limit-rps": None,
        "limit-rpm": None,
        "limit-connections": None,
        "whitelist-source-range": None,
        "allowlist-source-range": None,
    },
    _ALB: {
        "scheme": ("internal", "internet-facing"),
        "target-type": ("ip", "instance"),
        "certificate-arn": None,
        "ssl-policy": None,
        "ssl-redirect": ("443",),
        "listen-ports": ('[{"HTTPS":443}]', '[{"HTTPS": 443}]', '[{"HTTP": 80}, {"HTTPS": 443}]'),
        "inbound-cidrs": None,
        "wafv2-acl-arn": None,
        "auth-type": ("oidc", "cognito"),
        "auth-idp-oidc": None,
        "auth-idp-cognito": None,
        "auth-on-unauthenticated-request": ("authenticate", "deny"),
        "auth-scope": None,
        "auth-session-cookie": None,
        "auth-session-timeout": None,
        "healthcheck-path": None,
        "healthcheck-port": None,
        "healthcheck-protocol": ("HTTP", "HTTPS"),
        "healthcheck-interval-seconds": None,
        "healthcheck-timeout-seconds": None,
        "healthy-threshold-count": None,
        "unhealthy-threshold-count": None,
        "success-codes": None,
        "backend-protocol": ("HTTP", "HTTPS"),
        "backend-protocol-version": ("HTTP1", "HTTP2", "GRPC"),
        "tags": None,
    },
}
_SOURCE_RANGE_KEYS = (_NGINX + "whitelist-source-range", _NGINX + "allowlist-source-range", _ALB + "inbound-cidrs")


def ingress_annotation_problem(key: str, value: str, exposure: Any) -> str | None:
    """Why an Ingress annotation is refused, or None when it is allow-listed and widens nothing."""
    if "snippet" in key:
        return "snippet annotations inject controller configuration and are never accepted"
    prefix = next((p for p in INGRESS_ANNOTATIONS if key.startswith(p)), None)
    if prefix is None:
        controllers = ", ".join(p.rstrip("/") for p in INGRESS_ANNOTATIONS)
        return f"is not an allow-listed annotation of a supported controller ({controllers})"
    accepted = INGRESS_ANNOTATIONS[prefix]
    name = key.removeprefix(prefix)
    if name not in accepted:
        return f"is not allow-listed; accepted {prefix}* annotations: {', '.join(sorted(accepted))}"
    values = accepted[name]
    if values is not None and value not in values:
        return f"must be one of {', '.join(values)} (got {value!r})"
    if key == _ALB + "scheme" and value == "internet-facing" and not exposure.public:
        return "makes the load balancer internet-facing, but the exposure is private (exposure.public: false)"
    if key in _SOURCE_RANGE_KEYS:
        return _source_range_problem(value, exposure)
    return None


def _source_range_problem(value: str, exposure: Any) -> str | None:
    ranges = [part.strip() for part in value.split(",") if part.strip()]
    try:
        networks = to_networks(ranges)
    except ValueError:
        return f"must be a comma-separated list of CIDRs (got {value!r})"
    allowed = list(exposure.networks)
    if not allowed:
        return "narrows callers by network, which exposure.allowed_networks decides: set the ranges there"
    outside = [str(n) for n in subtract(networks, allowed)]
    if outside:
        return f"admits {', '.join(outside)}, outside exposure.allowed_networks"
    return None


@dataclass(frozen=True, kw_only=True)
class ModelWorkloadArgs(ComponentArgs):
    """Options of the in-cluster workload. Every default is the hardened one; each can be overridden.

    namespace: namespace to create (or use, with ``create_namespace=False``); defaults to the service name.
    service_account_annotations: cloud identity binding, e.g. ``eks.amazonaws.com/role-arn`` or
        ``iam.gke.io/gcp-service-account`` or ``azure.workload.identity/client-id``.
    pod_labels: extra pod labels, e.g. ``azure.workload.identity/use: "true"``.
    ingress_class: IngressClass for the TLS Ingress created when ``exposure.domain`` is set.
    ingress_namespace: namespace of the ingress controller, the only in-cluster caller allowed by default.
    metrics_namespace: namespace allowed to scrape ``/metrics`` (Prometheus); None disables the allow rule.
    concurrency_metric: per-pod metric the HPA targets when ``scaling.target_concurrency`` is set
        (served by a custom-metrics adapter from the serving image's Prometheus gauge).
    identity_egress: extra egress rules ``{cidr, port}`` for the cloud identity endpoint (EKS Pod Identity
        agent, GKE metadata server).
    gateway: ``{name, namespace}`` of a Gateway API Gateway; routes with exact per-track weights.
    zone_spread: ``DoNotSchedule`` keeps replicas balanced over zones strictly; ``ScheduleAnyway`` prefers it.
    gcp_credentials: ``k8s://<secret>/<key>`` of a Google credential configuration (workload identity federation,
        preferred over a key file) mounted read-only for a ``gs://`` artifact outside GKE; on GKE use Workload
        Identity through ``service_account_annotations`` instead.
    tmp_size_mib: size limit of the writable ``/tmp`` emptyDir (the only writable path).
    context: kubeconfig context of the target cluster (a stack's ``kubernetes`` target); None uses the
        current context. From code, pass ``provider`` instead.
    grafana_dashboard: ship the serving image's Grafana dashboard, narrowed to this workload, as a ConfigMap the
        Grafana sidecar loads (on by default: a ConfigMap needs no CRD and grants nothing).
    grafana_namespace: namespace of that ConfigMap; None puts it in the workload's namespace, which a
        kube-prometheus-stack Grafana watches (its sidecar searches ALL namespaces since chart 45.12). A sidecar
        that watches only its own namespace (the grafana chart's default) needs Grafana's namespace here, and
        that namespace must exist.
    grafana_labels: labels the sidecar selects ConfigMaps by (``sidecar.dashboards.label``/``labelValue``);
        None means ``grafana_dashboard: "1"``, the charts' default.
    grafana_folder: Grafana folder of the dashboard, set through the annotation ``grafana_folder_annotation``
        (default ``grafana_folder``) that the sidecar's ``folderAnnotation`` must name.
    prometheus_operator: say the Prometheus Operator's CRDs exist (off by default: a custom resource without its
        CRD fails to apply) to get a ServiceMonitor that scrapes ``/metrics`` on the HTTP port of every track, and
        a PrometheusRule with the serving image's recording and alert rules. Prometheus must run in
        ``metrics_namespace``, the only namespace the NetworkPolicy lets scrape.
    prometheus_labels: labels on both, which the Prometheus resource's ``serviceMonitorSelector`` and
        ``ruleSelector`` select; None means ``release: kube-prometheus-stack`` (set your Helm release's name).
    scrape_interval: the ServiceMonitor's interval (a Prometheus duration); None means 30s.
    alert_error_ratio, alert_p99_seconds, alert_for_minutes: when the alerts fire (share of inference calls
        answered with a server error, p99 latency, how long it must last); None means 0.05, 1 s and 5 minutes.
    """

    namespace: str | None = None
    create_namespace: bool = True
    service_account_annotations: Mapping[str, str] = field(default_factory=dict)
    pod_labels: Mapping[str, str] = field(default_factory=dict)
    ingress_class: str | None = None
    ingress_namespace: str = "ingress-nginx"
    ingress_annotations: Mapping[str, str] = field(default_factory=dict)
    metrics_namespace: str | None = "monitoring"
    concurrency_metric: str = "modelport_in_flight_requests"
    identity_egress: Sequence[Mapping[str, Any]] = ()
    gateway: Mapping[str, str] | None = None
    zone_spread: str | None = None
    gcp_credentials: str | None = None
    tmp_size_mib: int = 1024
    context: str | None = None
    grafana_dashboard: bool = True
    grafana_namespace: str | None = None
    grafana_labels: Mapping[str, str] | None = None
    grafana_folder: str | None = None
    grafana_folder_annotation: str | None = None
    prometheus_operator: bool = False
    prometheus_labels: Mapping[str, str] | None = None
    scrape_interval: str | None = None
    alert_error_ratio: float | None = None
    alert_p99_seconds: float | None = None
    alert_for_minutes: int | None = None
    provider: k8s.Provider | None = None

    CODE_ONLY: ClassVar[tuple[str, ...]] = ("provider",)
    GRPC_REFUSAL: ClassVar[str | None] = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.namespace is not None:
            check_str("namespace", self.namespace, pattern=DNS_LABEL, description="a DNS label namespace name")
        check_bool("create_namespace", self.create_namespace)
        check_str_map("service_account_annotations", self.service_account_annotations)
        check_str_map("pod_labels", self.pod_labels)
        check_optional_str("ingress_class", self.ingress_class, pattern=DNS_LABEL, description="an IngressClass name")
        check_str("ingress_namespace", self.ingress_namespace, pattern=DNS_LABEL, description="a namespace name")
        check_str_map("ingress_annotations", self.ingress_annotations)
        check_optional_str(
            "metrics_namespace", self.metrics_namespace, pattern=DNS_LABEL, description="a namespace name"
        )
        check_str(
            "concurrency_metric",
            self.concurrency_metric,
            pattern=r"[a-zA-Z_:][a-zA-Z0-9_:]*",
            description="a Prometheus metric name",
        )
        for index, rule in enumerate(self.identity_egress):
            cidr, _ = _parse_egress(f"identity_egress[{index}]", rule)
            metadata = covers_address([cidr], METADATA_ADDRESSES)
            if metadata:
                raise SpecError(
                    f"identity_egress[{index}].cidr",
                    f"{cidr} contains the instance metadata address {', '.join(metadata)}, whose node credentials "
                    "pods must never reach; name the identity agent's own address (EKS Pod Identity "
                    "169.254.170.23/32, GKE metadata server 169.254.169.252/32)",
                )
        self._check_namespaces()
        if self.gateway is not None:
            gateway = check_str_map("gateway", self.gateway)
            for key in gateway:
                if key not in ("name", "namespace"):
                    raise SpecError(f"gateway.{key}", "unknown key; accepted keys: name, namespace")
            if "name" not in gateway:
                raise SpecError("gateway.name", "is required")
        if self.zone_spread is not None:
            check_choice("zone_spread", self.zone_spread, ("DoNotSchedule", "ScheduleAnyway"))
        check_int("tmp_size_mib", self.tmp_size_mib, minimum=64, maximum=1_048_576)
        if self.gcp_credentials is not None:
            reference = SecretRef.parse("gcp_credentials", self.gcp_credentials)
            if reference.kind != "kubernetes":
                raise SpecError("gcp_credentials", "must be a k8s://<secret>/<key> reference to a Kubernetes Secret")
        check_optional_str("context", self.context, description="a kubeconfig context name")
        self._check_monitoring()
        if self.provider is not None and not isinstance(self.provider, k8s.Provider):
            raise SpecError("provider", "must be a pulumi_kubernetes.Provider")
        self._check_service(self.service)

    def _check_monitoring(self) -> None:
        check_bool("grafana_dashboard", self.grafana_dashboard)
        check_optional_str(
            "grafana_namespace", self.grafana_namespace, pattern=DNS_LABEL, description="a namespace name"
        )
        if self.grafana_labels is not None:
            _check_labels("grafana_labels", self.grafana_labels)
            if not self.grafana_labels:
                raise SpecError("grafana_labels", "must name at least one label: the sidecar selects by label")
        check_optional_str("grafana_folder", self.grafana_folder, description="a Grafana folder name", max_length=255)
        if self.grafana_folder_annotation is not None:
            _check_label_key("grafana_folder_annotation", self.grafana_folder_annotation, "annotation")
            if self.grafana_folder is None:
                raise SpecError(
                    "grafana_folder_annotation", "names the annotation that carries grafana_folder: set both"
                )
        if not self.grafana_dashboard:
            for key in ("grafana_namespace", "grafana_labels", "grafana_folder", "grafana_folder_annotation"):
                if getattr(self, key) is not None:
                    raise SpecError(
                        key, "has no effect with grafana_dashboard: false; remove it or turn the dashboard on"
                    )
        check_bool("prometheus_operator", self.prometheus_operator)
        if self.prometheus_labels is not None:
            _check_labels("prometheus_labels", self.prometheus_labels)
        check_optional_str(
            "scrape_interval",
            self.scrape_interval,
            pattern=PROMETHEUS_DURATION,
            description="a Prometheus duration such as 30s or 1m",
        )
        if self.alert_error_ratio is not None:
            check_number("alert_error_ratio", self.alert_error_ratio, minimum=0, maximum=1, exclusive_min=True)
            if self.alert_error_ratio == 1:
                raise SpecError("alert_error_ratio", "must be < 1: a share of calls that can be exceeded (got 1)")
        if self.alert_p99_seconds is not None:
            check_number("alert_p99_seconds", self.alert_p99_seconds, minimum=0, maximum=3600, exclusive_min=True)
        if self.alert_for_minutes is not None:
            check_int("alert_for_minutes", self.alert_for_minutes, minimum=0, maximum=1440)
        settings = (
            "prometheus_labels",
            "scrape_interval",
            "alert_error_ratio",
            "alert_p99_seconds",
            "alert_for_minutes",
        )
        if not self.prometheus_operator:
            for key in settings:
                if getattr(self, key) is not None:
                    raise SpecError(
                        key,
                        "configures the ServiceMonitor and PrometheusRule, which exist only with "
                        "prometheus_operator: true (say so once the Prometheus Operator CRDs are installed)",
                    )
        elif self.metrics_namespace is None:
            raise SpecError(
                "prometheus_operator",
                "the ServiceMonitor's scrapes come from Prometheus, and with metrics_namespace unset the "
                "NetworkPolicies let no namespace reach /metrics: set metrics_namespace to Prometheus's namespace",
            )

    def _check_namespaces(self) -> None:
        name = self.namespace_name
        key = "namespace" if self.namespace is not None else "modelport:service.name"
        owned = (self.ingress_namespace, self.metrics_namespace)
        if system_namespace(name) or name in owned:
            raise SpecError(
                key,
                f"{name!r} is a system or add-on namespace (the cluster's, the ingress controller's or "
                "monitoring's): modelport's NetworkPolicies there would cut off what runs in it. Name a namespace "
                "of the model's own",
            )

    def _check_ingress(self, service: ModelService) -> None:
        exposure = service.exposure
        if exposure.domain and self.gateway is None and not self.ingress_class:
            raise SpecError(
                "ingress_class",
                "is required for the Ingress of exposure.domain: without a class the cluster's default "
                "controller, possibly a public one, would serve it",
            )
        annotations = check_str_map("ingress_annotations", self.ingress_annotations)
        prefixes = {p for p in INGRESS_ANNOTATIONS for key in annotations if key.startswith(p)}
        if len(prefixes) > 1:
            raise SpecError("ingress_annotations", "mixes the annotations of several controllers; use one")
        for key, value in annotations.items():
            problem = ingress_annotation_problem(key, value, exposure)
            if problem:
                raise SpecError(f"ingress_annotations.{key}", problem)

    def _check_service(self, service: ModelService) -> None:
        exposure = service.exposure
        path = "modelport:service"
        for key, value in service.tags.items():
            # On Kubernetes the service's tags become labels of every object, so they must be valid labels.
            name = key.rsplit("/", 1)[-1]
            prefix = key[: -len(name) - 1] if "/" in key else None
            valid_key = re.fullmatch(LABEL_NAME, name) and (prefix is None or re.fullmatch(DNS_SUBDOMAIN, prefix))
            if not valid_key or not re.fullmatch(LABEL_VALUE, value):
                raise SpecError(
                    f"{path}.tags.{key}",
                    "becomes a Kubernetes label on every object: keys are [prefix/]name with a name of at most 63 "
                    "letters, digits, '-', '_' or '.', and values at most 63 such characters "
                    f"(got {key!r}: {value!r})",
                )
        for key, ref in service.secrets.items():
            if ref.kind != "kubernetes":
                raise SpecError(
                    f"{path}.secrets.{key}",
                    f"a Kubernetes workload reads secrets from Kubernetes Secrets: use k8s://<secret>/<key> "
                    f"(got a {ref.kind} reference; sync it into the cluster with External Secrets or the "
                    f"Secrets Store CSI driver)",
                )
        if exposure.domain and exposure.certificate and not re.fullmatch(DNS_SUBDOMAIN, exposure.certificate):
            raise SpecError(
                f"{path}.exposure.certificate",
                "on Kubernetes the TLS Ingress of exposure.domain names its certificate as a TLS Secret in the "
                f"namespace (a DNS subdomain such as churn-tls), got {exposure.certificate!r}",
            )
        if exposure.domain and not exposure.certificate:
            raise SpecError(
                f"{path}.exposure.certificate", "the TLS Ingress for exposure.domain needs the name of its TLS Secret"
            )
        if exposure.public and not exposure.domain:
            raise SpecError(
                f"{path}.exposure.domain", "a public Kubernetes exposure is a TLS Ingress: set the hostname it serves"
            )
        if exposure.public and not self.ingress_class:
            raise SpecError("ingress_class", "a public exposure needs the IngressClass of the public controller")
        if service.grpc_port and exposure.domain and self.gateway is None:
            raise SpecError(
                f"{path}.grpc_port",
                "an Ingress carries one backend protocol, so gRPC cannot share the HTTP Ingress of exposure.domain: "
                "set the gateway option (a GRPCRoute is created beside the HTTPRoute), or serve gRPC in-cluster "
                "only by leaving exposure.domain unset",
            )
        self._check_ingress(service)
        for index, principal in enumerate(exposure.allowed_principals):
            if principal.startswith("serviceaccount/"):
                raise SpecError(
                    f"{path}.exposure.allowed_principals[{index}]",
                    "a NetworkPolicy selects namespaces, not service accounts: name the caller as "
                    f"namespace/<name> on Kubernetes (got {principal!r})",
                )
        if exposure.public and not exposure.anonymous and not ingress_authenticator(self.ingress_annotations):
            raise SpecError(
                f"{path}.exposure.public",
                "a public Kubernetes Ingress has nothing that authenticates internet callers: namespace principals "
                "and allowed_networks never do. Configure the controller's authentication in ingress_annotations "
                f"({', '.join(sorted(AUTH_ANNOTATIONS))}), or say exposure.anonymous: true (refused in prod)",
            )
        uri = service.model.artifact_uri if service.model else None
        if uri is not None and not uri.startswith("gs://"):
            raise SpecError(
                f"{path}.model.artifact_uri",
                "on Kubernetes the serving image loads a baked-in model or downloads a gs:// artifact "
                f"(got {uri.split('://')[0]}://); bake the model into the image instead",
            )
        gke_identity = "iam.gke.io/gcp-service-account" in self.service_account_annotations
        if uri is not None and uri.startswith("gs://") and not gke_identity and self.gcp_credentials is None:
            raise SpecError(
                f"{path}.model.artifact_uri",
                "the pods download this gs:// artifact but have no GCP credentials: on GKE bind a Google service "
                "account with the service_account_annotations key iam.gke.io/gcp-service-account; elsewhere set the "
                "target option gcp_credentials to a k8s://<secret>/<key> holding a workload identity federation "
                "credential configuration",
            )
        if len(service.tracks) > 1 and service.min_replicas < len(service.tracks):
            raise SpecError(
                f"{path}.scaling.min_replicas",
                f"must be >= the number of variants ({len(service.tracks)}) so every track runs",
            )

    @property
    def namespace_name(self) -> str:
        return self.namespace or self.service.name


def _check_label_key(path: str, key: str, what: str = "label") -> None:
    name = key.rsplit("/", 1)[-1] if isinstance(key, str) else ""
    prefix = key[: -len(name) - 1] if isinstance(key, str) and "/" in key else None
    if not re.fullmatch(LABEL_NAME, name) or (prefix is not None and not re.fullmatch(DNS_SUBDOMAIN, prefix)):
        raise SpecError(
            path,
            f"must be a Kubernetes {what} key: [prefix/]name, the name at most 63 letters, digits, '-', '_' or '.' "
            f"(got {key!r})",
        )


def _check_labels(path: str, labels: Any) -> dict[str, str]:
    checked = check_str_map(path, labels)
    for key, value in checked.items():
        _check_label_key(f"{path}.{key}", key)
        if not re.fullmatch(LABEL_VALUE, value):
            raise SpecError(
                f"{path}.{key}", f"must be a label value: at most 63 letters, digits, '-', '_' or '.' (got {value!r})"
            )
    return checked


def _parse_egress(path: str, rule: Any) -> tuple[str, int]:
    if not isinstance(rule, Mapping) or set(rule) - {"cidr", "port"} or "cidr" not in rule or "port" not in rule:
        raise SpecError(path, "must be a mapping with keys cidr, port")
    try:
        ipaddress.ip_network(rule["cidr"])
    except (TypeError, ValueError):
        raise SpecError(f"{path}.cidr", f"must be a CIDR such as 169.254.170.23/32 (got {rule['cidr']!r})") from None
    return rule["cidr"], check_int(f"{path}.port", rule["port"], minimum=1, maximum=65535)


def service_ports(service: ModelService) -> list[dict[str, Any]]:
    """The Service ports: HTTP, and gRPC (``appProtocol: grpc``, HTTP/2 end to end) when the spec opens it."""
    ports: list[dict[str, Any]] = [{"name": "http", "port": service.port, "targetPort": "http", "protocol": "TCP"}]
    if service.grpc_port:
        ports.append(
            {"name": "grpc", "port": service.grpc_port, "targetPort": "grpc", "protocol": "TCP", "appProtocol": "grpc"}
        )
    return ports


# Ingress annotations by which a controller authenticates callers before they reach the pods.
AUTH_ANNOTATIONS = {
    "nginx.ingress.kubernetes.io/auth-url": None,
    "alb.ingress.kubernetes.io/auth-type": ("oidc", "cognito"),
}


def ingress_authenticator(annotations: Mapping[str, str]) -> str | None:
    """The annotation that makes the Ingress controller authenticate callers, if any."""
    for key, accepted in AUTH_ANNOTATIONS.items():
        value = annotations.get(key)
        if value and (accepted is None or value in accepted):
            return key
    return None


def caller_sources(exposure: Any) -> list[dict[str, Any]]:
    """NetworkPolicy peers for the Kubernetes principals (namespaces) and the networks of ``exposure``."""
    sources: list[dict[str, Any]] = []
    for principal in exposure.principals_of("kubernetes"):
        name = principal.removeprefix("namespace/")
        sources.append({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}})
    sources += [{"ipBlock": {"cidr": str(network)}} for network in exposure.networks]
    return sources


class ModelWorkload(pulumi.ComponentResource):
    """The model service on Kubernetes: restricted namespace, hardened pods, HPA, PDB, NetworkPolicies, TLS."""

    args_type = ModelWorkloadArgs

    namespace: str
    service_account: k8s.core.v1.ServiceAccount
    deployments: dict[str, k8s.apps.v1.Deployment]
    service: k8s.core.v1.Service
    endpoint: pulumi.Output[str]
    identity: pulumi.Output[str]

    def __init__(self, name: str, args: ModelWorkloadArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        extra: dict[str, Any] = {"providers": [args.provider]} if args.provider is not None else {}
        super().__init__(
            "modelport:kubernetes:ModelWorkload", name, component_props(args), merge_options(opts, **extra)
        )
        self._args = args
        svc = args.service
        ns = args.namespace_name
        self.namespace = ns
        child = pulumi.ResourceOptions(parent=self)
        self.labels = {
            "app.kubernetes.io/name": svc.name,
            "app.kubernetes.io/instance": name,
            "app.kubernetes.io/component": "model-server",
            "app.kubernetes.io/managed-by": "modelport",
        }
        namespace_opts = child
        if args.create_namespace:
            self.namespace_resource = k8s.core.v1.Namespace(
                f"{name}-ns",
                metadata={"name": ns, "labels": {**self._pss_labels(), **self.labels}},
                opts=child,
            )
            namespace_opts = pulumi.ResourceOptions(parent=self, depends_on=[self.namespace_resource])

        self.service_account = k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata=self._metadata(svc.name, annotations=dict(args.service_account_annotations)),
            automount_service_account_token=False,
            opts=namespace_opts,
        )
        self.deployments = {}
        self.track_services = {}
        self.autoscalers = {}
        self.disruption_budgets = {}
        tracks = svc.tracks
        min_split = split_replicas(svc.min_replicas, [t.weight for t in tracks])
        max_split = split_replicas(svc.scaling.max_replicas, [t.weight for t in tracks])
        for track, min_replicas, max_replicas in zip(tracks, min_split, max_split, strict=True):
            if track.weight == 0:
                continue
            self._track(
                name,
                track,
                max(1, min_replicas),
                max(max_replicas, min_replicas, 1),
                namespace_opts,
                single=len(tracks) == 1,
            )

        self.service = k8s.core.v1.Service(
            f"{name}-svc",
            metadata=self._metadata(svc.name),
            spec={
                "type": "ClusterIP",
                "selector": self.labels,
                "ports": service_ports(svc),
            },
            opts=namespace_opts,
        )
        self.network_policies = self._network_policies(name, namespace_opts)
        self.ingress = self._ingress(name, namespace_opts) if svc.exposure.domain and not args.gateway else None
        self.route = self._http_route(name, namespace_opts) if args.gateway else None
        self.grpc_route = self._http_route(name, namespace_opts, grpc=True) if args.gateway and svc.grpc_port else None
        self.dashboard = self._dashboard(name, namespace_opts) if args.grafana_dashboard else None
        self.service_monitor = self._service_monitor(name, namespace_opts) if args.prometheus_operator else None
        self.prometheus_rule = self._prometheus_rule(name, namespace_opts) if args.prometheus_operator else None

        if svc.exposure.domain:
            self.endpoint = pulumi.Output.from_input(f"https://{svc.exposure.domain}")
        else:
            self.endpoint = pulumi.Output.from_input(f"http://{svc.name}.{ns}.svc.cluster.local:{svc.port}")
        self.identity = pulumi.Output.from_input(f"system:serviceaccount:{ns}:{svc.name}")
        self.register_outputs({"endpoint": self.endpoint, "identity": self.identity, "namespace": ns})

    # --- metadata ---

    def _pss_labels(self) -> dict[str, str]:
        labels: dict[str, str] = {}
        for mode in ("enforce", "audit", "warn"):
            labels[f"pod-security.kubernetes.io/{mode}"] = PSS_LEVEL
            labels[f"pod-security.kubernetes.io/{mode}-version"] = "latest"
        return labels

    def _metadata(
        self, name: str, labels: Mapping[str, str] | None = None, annotations: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        tags = dict(self._args.service.tags)
        meta: dict[str, Any] = {
            "name": name,
            "namespace": self.namespace,
            "labels": {**tags, **self.labels, **(labels or {})},
        }
        if annotations:
            meta["annotations"] = dict(annotations)
        return meta

    # --- one weighted track: Deployment, per-track Service, HPA, PDB ---

    def _track(
        self,
        name: str,
        track: Variant,
        min_replicas: int,
        max_replicas: int,
        opts: pulumi.ResourceOptions,
        *,
        single: bool,
    ) -> None:
        svc = self._args.service
        track_name = svc.name if single else f"{svc.name}-{track.name}"
        resource_name = name if single else f"{name}-{track.name}"
        track_labels = {**self.labels, "modelport.dev/track": track.name}
        self.deployments[track.name] = k8s.apps.v1.Deployment(
            f"{resource_name}-deploy",
            metadata=self._metadata(track_name, {"modelport.dev/track": track.name}),
            spec={
                "selector": {"matchLabels": track_labels},
                "revisionHistoryLimit": 5,
                "progressDeadlineSeconds": svc.health.startup_seconds + 300,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}},
                # replicas is left to the HPA so `pulumi up` never fights the autoscaler.
                "template": {
                    "metadata": {
                        "labels": {**dict(self._args.service.tags), **track_labels, **dict(self._args.pod_labels)},
                        "annotations": {
                            "prometheus.io/scrape": "true",
                            "prometheus.io/port": str(svc.port),
                            "prometheus.io/path": "/metrics",
                        },
                    },
                    "spec": self._pod_spec(track, track_labels),
                },
            },
            opts=opts,
        )
        if not single:
            self.track_services[track.name] = k8s.core.v1.Service(
                f"{resource_name}-svc",
                metadata=self._metadata(track_name, {"modelport.dev/track": track.name}),
                spec={
                    "type": "ClusterIP",
                    "selector": track_labels,
                    "ports": service_ports(svc),
                },
                opts=opts,
            )
        self.autoscalers[track.name] = k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{resource_name}-hpa",
            metadata=self._metadata(track_name),
            spec={
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": track_name},
                "minReplicas": min_replicas,
                "maxReplicas": max_replicas,
                "metrics": self._hpa_metrics(),
                "behavior": {
                    "scaleUp": {
                        "stabilizationWindowSeconds": 0,
                        "selectPolicy": "Max",
                        "policies": [
                            {"type": "Percent", "value": 100, "periodSeconds": 30},
                            {"type": "Pods", "value": 4, "periodSeconds": 30},
                        ],
                    },
                    # Model replicas are slow to start: scale down slowly to avoid flapping.
                    "scaleDown": {
                        "stabilizationWindowSeconds": 300,
                        "selectPolicy": "Min",
                        "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60}],
                    },
                },
            },
            opts=opts,
        )
        self.disruption_budgets[track.name] = k8s.policy.v1.PodDisruptionBudget(
            f"{resource_name}-pdb",
            metadata=self._metadata(track_name),
            spec={
                "maxUnavailable": 1,
                "selector": {"matchLabels": track_labels},
                "unhealthyPodEvictionPolicy": "AlwaysAllow",
            },
            opts=opts,
        )

    def _hpa_metrics(self) -> list[dict[str, Any]]:
        scaling = self._args.service.scaling
        metrics: list[dict[str, Any]] = [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": scaling.target_cpu_percent},
                },
            }
        ]
        if scaling.target_concurrency is not None:
            metrics.append(
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": self._args.concurrency_metric},
                        "target": {"type": "AverageValue", "averageValue": str(scaling.target_concurrency)},
                    },
                }
            )
        return metrics

    def _pod_spec(self, track: Variant, track_labels: Mapping[str, str]) -> dict[str, Any]:
        svc = self._args.service
        zone_spread = self._args.zone_spread or ("DoNotSchedule" if self._args.profile.zones >= 3 else "ScheduleAnyway")
        spec: dict[str, Any] = {
            "serviceAccountName": svc.name,
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": RUN_AS_USER,
                "runAsGroup": RUN_AS_USER,
                "fsGroup": RUN_AS_USER,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "topologySpreadConstraints": [
                {
                    "maxSkew": 1,
                    "topologyKey": "topology.kubernetes.io/zone",
                    "whenUnsatisfiable": zone_spread,
                    "labelSelector": {"matchLabels": dict(track_labels)},
                    "matchLabelKeys": ["pod-template-hash"],
                },
                {
                    "maxSkew": 1,
                    "topologyKey": "kubernetes.io/hostname",
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {"matchLabels": dict(track_labels)},
                    "matchLabelKeys": ["pod-template-hash"],
                },
            ],
            "containers": [self._container(track)],
            "volumes": [
                {"name": "tmp", "emptyDir": {"sizeLimit": f"{self._args.tmp_size_mib}Mi"}},
                *self._gcp_volume(),
            ],
        }
        if svc.resources.accelerator is not None:
            spec["tolerations"] = [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]
        return spec

    def _container(self, track: Variant) -> dict[str, Any]:
        svc = self._args.service
        cpu = f"{int(round(svc.resources.cpu * 1000))}m"
        memory = f"{svc.resources.memory_mib}Mi"
        limits: dict[str, str] = {"cpu": cpu, "memory": memory}
        requests: dict[str, str] = {"cpu": cpu, "memory": memory, "ephemeral-storage": "256Mi"}
        if svc.resources.accelerator is not None:
            limits[GPU_RESOURCE] = requests[GPU_RESOURCE] = str(svc.resources.accelerator.count)
        limits["ephemeral-storage"] = f"{self._args.tmp_size_mib + 256}Mi"
        env = [
            {"name": "GRACEFUL_TIMEOUT", "value": str(GRACEFUL_TIMEOUT_SECONDS)},
            {"name": "MODELPORT_TRACK", "value": track.name},
        ]
        if svc.model.artifact_uri:
            env.append({"name": "AIP_STORAGE_URI", "value": svc.model.artifact_uri})
        env += [{"name": k, "value": v} for k, v in svc.serving_env().items()]
        if self._args.gcp_credentials is not None:
            env.append({"name": "GOOGLE_APPLICATION_CREDENTIALS", "value": f"{GCP_CREDENTIALS_DIR}/credentials.json"})
        for key, ref in svc.secrets.items():
            secret_name, secret_key = ref.kubernetes_parts
            env.append({"name": key, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": secret_key}}})
        period = 5
        return {
            "name": "model-server",
            "image": svc.image_of(track),
            "imagePullPolicy": "IfNotPresent",
            "ports": [
                {"name": "http", "containerPort": svc.port, "protocol": "TCP"},
                *([{"name": "grpc", "containerPort": svc.grpc_port, "protocol": "TCP"}] if svc.grpc_port else []),
            ],
            "env": env,
            "resources": {"requests": requests, "limits": limits},
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "privileged": False,
                "readOnlyRootFilesystem": True,
                "runAsNonRoot": True,
                # Explicit high IDs on the container too (CKV_K8S_40): the image's user, never a host's.
                "runAsUser": RUN_AS_USER,
                "runAsGroup": RUN_AS_USER,
                "capabilities": {"drop": ["ALL"]},
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "startupProbe": {
                "httpGet": {"path": svc.health.live_path, "port": "http"},
                "periodSeconds": period,
                "timeoutSeconds": 2,
                "failureThreshold": max(1, math.ceil(svc.health.startup_seconds / period)),
            },
            "readinessProbe": {
                "httpGet": {"path": svc.health.ready_path, "port": "http"},
                "periodSeconds": period,
                "timeoutSeconds": 2,
                "failureThreshold": 2,
                "successThreshold": 1,
            },
            # With gRPC on, liveness asks grpc.health.v1 on the gRPC port, so a dead gRPC listener restarts the pod;
            # readiness stays on the HTTP route that reports the model loaded and warm.
            "livenessProbe": {
                **(
                    {"grpc": {"port": svc.grpc_port}}
                    if svc.grpc_port
                    else {"httpGet": {"path": svc.health.live_path, "port": "http"}}
                ),
                "periodSeconds": 10,
                "timeoutSeconds": 3,
                "failureThreshold": 3,
            },
            "lifecycle": {"preStop": {"sleep": {"seconds": PRESTOP_SECONDS}}},
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, *self._gcp_mount()],
        }

    def _gcp_volume(self) -> list[dict[str, Any]]:
        if self._args.gcp_credentials is None:
            return []
        secret, key = SecretRef.parse("gcp_credentials", self._args.gcp_credentials).kubernetes_parts
        items = [{"key": key, "path": "credentials.json"}]
        return [{"name": "gcp-credentials", "secret": {"secretName": secret, "items": items, "defaultMode": 0o440}}]

    def _gcp_mount(self) -> list[dict[str, Any]]:
        if self._args.gcp_credentials is None:
            return []
        return [{"name": "gcp-credentials", "mountPath": GCP_CREDENTIALS_DIR, "readOnly": True}]

    # --- network ---

    def _network_policies(self, name: str, opts: pulumi.ResourceOptions) -> list[k8s.networking.v1.NetworkPolicy]:
        args = self._args
        svc = args.service
        port = [{"port": svc.port, "protocol": "TCP"}]
        if svc.grpc_port:
            port.append({"port": svc.grpc_port, "protocol": "TCP"})
        sources: list[dict[str, Any]] = [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": args.ingress_namespace}}},
        ]
        sources += caller_sources(svc.exposure)
        # In a namespace modelport owns, deny-all and DNS cover every pod; in one it shares, only the model's own.
        selected: dict[str, Any] = {} if args.create_namespace else {"matchLabels": self.labels}
        policies = [
            k8s.networking.v1.NetworkPolicy(
                f"{name}-deny-all",
                metadata=self._metadata("default-deny-all" if args.create_namespace else f"{svc.name}-deny-all"),
                spec={"podSelector": selected, "policyTypes": ["Ingress", "Egress"]},
                opts=opts,
            ),
            k8s.networking.v1.NetworkPolicy(
                f"{name}-allow-callers",
                metadata=self._metadata(f"{svc.name}-allow-callers"),
                spec={
                    "podSelector": {"matchLabels": self.labels},
                    "policyTypes": ["Ingress"],
                    "ingress": [{"from": sources, "ports": port}],
                },
                opts=opts,
            ),
            k8s.networking.v1.NetworkPolicy(
                f"{name}-allow-dns",
                metadata=self._metadata("allow-dns-egress" if args.create_namespace else f"{svc.name}-allow-dns"),
                spec={
                    "podSelector": selected,
                    "policyTypes": ["Egress"],
                    "egress": [
                        {
                            "to": [
                                {
                                    "namespaceSelector": {
                                        "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                                    },
                                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                                }
                            ],
                            "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
                        }
                    ],
                },
                opts=opts,
            ),
        ]
        if args.metrics_namespace:
            policies.append(
                k8s.networking.v1.NetworkPolicy(
                    f"{name}-allow-metrics",
                    metadata=self._metadata(f"{svc.name}-allow-metrics"),
                    spec={
                        "podSelector": {"matchLabels": self.labels},
                        "policyTypes": ["Ingress"],
                        "ingress": [
                            {
                                "from": [
                                    {
                                        "namespaceSelector": {
                                            "matchLabels": {"kubernetes.io/metadata.name": args.metrics_namespace}
                                        }
                                    }
                                ],
                                # /metrics is a route of the HTTP port; scrapers get nothing else.
                                "ports": [{"port": svc.port, "protocol": "TCP"}],
                            }
                        ],
                    },
                    opts=opts,
                )
            )
        egress: list[dict[str, Any]] = []
        for index, rule in enumerate(args.identity_egress):
            cidr, rule_port = _parse_egress(f"identity_egress[{index}]", rule)
            egress.append({"to": [{"ipBlock": {"cidr": cidr}}], "ports": [{"port": rule_port, "protocol": "TCP"}]})
        if svc.model.artifact_uri:
            # Artifact download from cloud storage over HTTPS; link-local (instance metadata) stays closed.
            egress.append(
                {
                    "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.0.0/16"]}}],
                    "ports": [{"port": 443, "protocol": "TCP"}],
                }
            )
        if egress:
            policies.append(
                k8s.networking.v1.NetworkPolicy(
                    f"{name}-allow-egress",
                    metadata=self._metadata(f"{svc.name}-allow-egress"),
                    spec={"podSelector": {"matchLabels": self.labels}, "policyTypes": ["Egress"], "egress": egress},
                    opts=opts,
                )
            )
        return policies

    def _ingress(self, name: str, opts: pulumi.ResourceOptions) -> k8s.networking.v1.Ingress:
        svc = self._args.service
        spec: dict[str, Any] = {
            "tls": [{"hosts": [svc.exposure.domain], "secretName": svc.exposure.certificate}],
            "rules": [
                {
                    "host": svc.exposure.domain,
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": svc.name, "port": {"name": "http"}}},
                            }
                        ]
                    },
                }
            ],
        }
        if self._args.ingress_class:
            spec["ingressClassName"] = self._args.ingress_class
        return k8s.networking.v1.Ingress(
            f"{name}-ingress",
            metadata=self._metadata(svc.name, annotations=dict(self._args.ingress_annotations)),
            spec=spec,
            opts=opts,
        )

    def _http_route(
        self, name: str, opts: pulumi.ResourceOptions, grpc: bool = False
    ) -> k8s.apiextensions.CustomResource:
        """Gateway API route with exact per-track weights (the Service-level split is by replica ratio).

        ``grpc`` makes the GRPCRoute to the gRPC port (HTTP/2 end to end through the Gateway).
        """
        svc = self._args.service
        gateway = dict(self._args.gateway or {})
        parent = {"name": gateway["name"], "sectionName": "https"}
        if "namespace" in gateway:
            parent["namespace"] = gateway["namespace"]
        port = svc.grpc_port if grpc else svc.port
        if len(svc.tracks) == 1:
            backends = [{"name": svc.name, "port": port, "weight": 100}]
        else:
            backends = [{"name": f"{svc.name}-{t.name}", "port": port, "weight": t.weight} for t in svc.tracks]
        spec: dict[str, Any] = {"parentRefs": [parent], "rules": [{"backendRefs": backends}]}
        if svc.exposure.domain:
            spec["hostnames"] = [svc.exposure.domain]
        return k8s.apiextensions.CustomResource(
            f"{name}-grpc-route" if grpc else f"{name}-route",
            api_version="gateway.networking.k8s.io/v1",
            kind="GRPCRoute" if grpc else "HTTPRoute",
            metadata=self._metadata(svc.name),
            spec=spec,
            opts=opts,
        )

    # --- monitoring: the serving image's dashboard and rules, narrowed to this workload ---

    def _series_matchers(self) -> dict[str, str]:
        """Labels that pick this workload's series out of a shared Prometheus: the namespace (the ServiceMonitor and
        the usual pod-annotation scrape configs both set it) and, with the ServiceMonitor, the Service's name."""
        matchers = {"namespace": self.namespace}
        if self._args.prometheus_operator:
            matchers["service"] = self._args.service.name
        return matchers

    def _dashboard(self, name: str, opts: pulumi.ResourceOptions) -> k8s.core.v1.ConfigMap:
        args = self._args
        svc = args.service
        namespace = args.grafana_namespace or self.namespace
        # The sidecar writes every data key of every selected ConfigMap into one folder, so the key names the
        # namespace too (a dot never occurs in a namespace or service name, so keys never collide).
        key = f"{self.namespace}.{svc.name}"
        annotations = {args.grafana_folder_annotation or GRAFANA_FOLDER_ANNOTATION: args.grafana_folder}
        metadata = self._metadata(
            f"{svc.name}-dashboard" if namespace == self.namespace else f"{key}-dashboard",
            labels=dict(args.grafana_labels if args.grafana_labels is not None else GRAFANA_SIDECAR_LABELS),
            annotations=annotations if args.grafana_folder else None,
        )
        metadata["namespace"] = namespace
        board = monitoring.dashboard(namespace=self.namespace, service=svc.name, matchers=self._series_matchers())
        return k8s.core.v1.ConfigMap(
            f"{name}-dashboard",
            metadata=metadata,
            data={f"{key}.json": json.dumps(board, indent=2, sort_keys=True)},
            opts=opts,
        )

    def _prometheus_labels(self) -> dict[str, str]:
        labels = self._args.prometheus_labels
        return dict(labels if labels is not None else PROMETHEUS_LABELS)

    def _service_monitor(self, name: str, opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
        """Scrapes ``/metrics`` on the HTTP port only, through the Service of all tracks (never the per-track ones,
        which would scrape every pod twice); each series keeps its pod's track as ``modelport_dev_track``."""
        svc = self._args.service
        return k8s.apiextensions.CustomResource(
            f"{name}-service-monitor",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata=self._metadata(svc.name, labels=self._prometheus_labels()),
            spec={
                "selector": {
                    "matchLabels": dict(self.labels),
                    "matchExpressions": [{"key": TRACK_LABEL, "operator": "DoesNotExist"}],
                },
                "namespaceSelector": {"matchNames": [self.namespace]},
                "endpoints": [
                    {
                        "port": "http",
                        "path": "/metrics",
                        "scheme": "http",
                        "interval": self._args.scrape_interval or SCRAPE_INTERVAL,
                    }
                ],
                "podTargetLabels": [TRACK_LABEL],
            },
            opts=opts,
        )

    def _prometheus_rule(self, name: str, opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
        args = self._args
        svc = args.service
        spec = monitoring.rules(
            matchers=self._series_matchers(),
            labels={"namespace": self.namespace, "service": svc.name},
            error_ratio=args.alert_error_ratio if args.alert_error_ratio is not None else ALERT_ERROR_RATIO,
            p99_seconds=args.alert_p99_seconds if args.alert_p99_seconds is not None else ALERT_P99_SECONDS,
            for_minutes=args.alert_for_minutes if args.alert_for_minutes is not None else ALERT_FOR_MINUTES,
        )
        return k8s.apiextensions.CustomResource(
            f"{name}-prometheus-rule",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata=self._metadata(svc.name, labels=self._prometheus_labels()),
            spec=spec,
            opts=opts,
        )

    # --- catalog hook: a `kubernetes` target may name the kubeconfig context to use ---

    @staticmethod
    def provider_for_target(
        resource_name: str,
        args: ModelWorkloadArgs,
        target: Target,
        opts: pulumi.ResourceOptions | None,
    ) -> k8s.Provider | None:
        """The provider for a stack's ``kubernetes`` target: the named kubeconfig context, or the ambient one."""
        if args.context is None:
            return None
        return k8s.Provider(f"{resource_name}-k8s", context=args.context, opts=opts)
