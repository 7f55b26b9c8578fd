"""Load balancers of the vm and container patterns: a global external Application LB (EXTERNAL_MANAGED, managed or
supplied certificate, MODERN/RESTRICTED SSL policy, Cloud Armor with preconfigured WAF rules and a rate limit,
request logging, HTTP to HTTPS redirect) and a regional internal Application LB (INTERNAL_MANAGED)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import pulumi
import pulumi_gcp as gcp

from ..validation import SpecError, check_choice, check_int, check_str
from .checks import PROJECT_ID, ServiceSpecError
from .naming import stack_unique_name
from .pattern import PatternArgs

__all__ = ["LoadBalancer", "LbArgs", "WAF_RULES"]

# Cloud Armor's preconfigured ModSecurity CRS rule sets (sensitivity 1: few false positives) and Log4Shell.
WAF_RULES = (
    "sqli-v33-stable",
    "xss-v33-stable",
    "lfi-v33-stable",
    "rfi-v33-stable",
    "rce-v33-stable",
    "methodenforcement-v33-stable",
    "scannerdetection-v33-stable",
    "protocolattack-v33-stable",
    "sessionfixation-v33-stable",
    "cve-canary",
)
GLOBAL_SSL_CERTIFICATE = rf"projects/{PROJECT_ID}/global/sslCertificates/[a-z]([-a-z0-9]{{0,61}}[a-z0-9])?"
REGIONAL_SSL_CERTIFICATE = (
    rf"projects/{PROJECT_ID}/regions/[a-z0-9-]+/sslCertificates/[a-z]([-a-z0-9]{{0,61}}[a-z0-9])?"
)
DEFAULT_RULE_PRIORITY = 2147483647


@dataclass(frozen=True, kw_only=True)
class LbArgs(PatternArgs):
    """Load balancer options.

    ssl_profile: MODERN or RESTRICTED (TLS 1.2 minimum either way).
    rate_limit_per_minute: requests per client IP per minute before Cloud Armor answers 429 (public only).
    proxy_subnet_cidr / create_proxy_subnet: the proxy-only subnet an internal Application LB needs (one per
        region and VPC; set create_proxy_subnet false when your VPC has one).
    timeout_seconds: backend response timeout.
    internal_certificate: the regional SSL certificate (projects/<p>/regions/<region>/sslCertificates/<name>)
        of the internal load balancer of a private exposure; None takes exposure.certificate. Without either
        the internal load balancer serves plain HTTP inside the VPC, which prod refuses.
    """

    ssl_profile: str = "RESTRICTED"
    rate_limit_per_minute: int = 600
    proxy_subnet_cidr: str = "10.129.0.0/23"
    create_proxy_subnet: bool = True
    timeout_seconds: int = 60
    internal_certificate: str | None = None

    IAP_CAPABLE: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("ssl_profile", self.ssl_profile, ("MODERN", "RESTRICTED"))
        check_int("rate_limit_per_minute", self.rate_limit_per_minute, minimum=10, maximum=1_000_000)
        check_int("timeout_seconds", self.timeout_seconds, minimum=1, maximum=3600)
        import ipaddress

        try:
            proxy = ipaddress.ip_network(self.proxy_subnet_cidr, strict=True)
        except (TypeError, ValueError):
            raise SpecError("proxy_subnet_cidr", f"must be an IPv4 CIDR (got {self.proxy_subnet_cidr!r})") from None
        if proxy.version != 4 or not proxy.is_private or proxy.prefixlen > 26:
            raise SpecError("proxy_subnet_cidr", f"must be a private IPv4 range of /26 or larger (got {proxy})")
        if proxy.overlaps(ipaddress.ip_network(self.subnet_cidr)):
            raise SpecError("proxy_subnet_cidr", f"overlaps subnet_cidr {self.subnet_cidr}")

    def _refuse_unused(self, *keys: str, why: str) -> None:
        """Options this target cannot use: refused when set to anything but their default, never ignored."""
        defaults = {f.name: f.default for f in dataclasses.fields(LbArgs)}
        for key in keys:
            if getattr(self, key) != defaults[key]:
                raise SpecError(key, f"does not apply: {why}")

    def _check_exposure_certificate(self, *, internal_https_in_prod: bool) -> None:
        exposure = self.service.exposure
        if exposure.public:
            if self.internal_certificate is not None:
                raise SpecError("internal_certificate", "applies to a private exposure (the internal load balancer)")
            if exposure.certificate is None and exposure.domain is None:
                raise ServiceSpecError(
                    "exposure.domain",
                    f"a public {self.PATTERN} serves HTTPS: set exposure.domain (a Google-managed certificate) "
                    "or exposure.certificate (projects/<p>/global/sslCertificates/<name>)",
                )
            if exposure.certificate is not None:
                check_str(
                    "modelport:service.exposure.certificate",
                    exposure.certificate,
                    pattern=GLOBAL_SSL_CERTIFICATE,
                    description="a global SSL certificate (projects/<p>/global/sslCertificates/<name>)",
                )
            return
        if self.internal_certificate is not None:
            key, value = "internal_certificate", self.internal_certificate
        else:
            key, value = "modelport:service.exposure.certificate", exposure.certificate
        if value is not None:
            check_str(
                key,
                value,
                pattern=REGIONAL_SSL_CERTIFICATE,
                description="a regional SSL certificate of the target's region "
                "(projects/<p>/regions/<region>/sslCertificates/<name>) for the internal load balancer",
            )
            if value.split("/")[3] != self.region:
                raise SpecError(key, f"must be in the target's region {self.region} (got {value.split('/')[3]})")
        elif internal_https_in_prod and self.profile.name == "prod":
            raise SpecError(
                "internal_certificate",
                f"the internal load balancer of a prod {self.PATTERN} serves HTTPS: name a regional SSL "
                "certificate (projects/<p>/regions/<region>/sslCertificates/<name>)",
            )

    @property
    def internal_certificate_value(self) -> str | None:
        return self.internal_certificate or self.service.exposure.certificate


class LoadBalancer(pulumi.ComponentResource):
    """One Application Load Balancer in front of a backend (instance group or serverless NEG)."""

    url: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: LbArgs,
        *,
        backend_group: pulumi.Input[str],
        health_check: bool,
        network_id: pulumi.Input[str] | None,
        subnetwork_id: pulumi.Input[str] | None,
        members: Sequence[str],
        serverless: bool,
        service_account: pulumi.Input[str],
        grpc_backend_group: pulumi.Input[str] | None = None,
        grpc_services: Sequence[str] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """``grpc_backend_group`` (public serverless only): a second backend reached over HTTP/2 for the method
        paths of ``grpc_services`` (``/<package.Service>/<Method>``), on the same address, certificate and
        Cloud Armor policy."""
        super().__init__("modelport:gcp:LoadBalancer", name, None, opts)
        self._args = args
        self._name = name
        self._service_account = service_account
        self.public = args.service.exposure.public
        self.grpc_backend = None
        if grpc_backend_group is not None and not (self.public and serverless and grpc_services):
            raise ValueError("a gRPC backend is built for a public serverless load balancer with its gRPC services")
        if self.public:
            self._external(backend_group, health_check, serverless, grpc_backend_group, grpc_services)
        else:
            self._internal(backend_group, health_check, network_id, subnetwork_id)
        self.iap_grants = self._iap_grants(members) if args.iap else []
        self.register_outputs({"url": self.url})

    # --- shared pieces ---

    def _backend_extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"log_config": {"enable": True, "sample_rate": 1.0}}
        if self._args.iap:
            extra["iap"] = {"enabled": True}
        return extra

    def _iap_grants(self, members: Sequence[str]) -> list[pulumi.Resource]:
        child = pulumi.ResourceOptions(parent=self)
        args = self._args
        grants: list[pulumi.Resource] = []
        for index, member in enumerate(members):
            if self.public:
                backends = [("", self.backend)] + ([("-grpc", self.grpc_backend)] if self.grpc_backend else [])
                for suffix, backend in backends:
                    grants.append(
                        gcp.iap.WebBackendServiceIamMember(
                            f"{self._name}{suffix}-iap-{index}",
                            project=args.project,
                            web_backend_service=backend.name,
                            role="roles/iap.httpsResourceAccessor",
                            member=member,
                            opts=child,
                        )
                    )
            else:
                grants.append(
                    gcp.iap.WebRegionBackendServiceIamMember(
                        f"{self._name}-iap-{index}",
                        project=args.project,
                        region=args.region,
                        web_region_backend_service=self.backend.name,
                        role="roles/iap.httpsResourceAccessor",
                        member=member,
                        opts=child,
                    )
                )
        return grants

    # --- public: global external Application LB ---

    def _armor(self) -> gcp.compute.SecurityPolicy:
        args = self._args
        rules: list[dict[str, Any]] = []
        for index, rule in enumerate(WAF_RULES):
            rules.append(
                {
                    "priority": 1000 + index,
                    "action": "deny(403)",
                    "description": f"Preconfigured WAF: {rule}",
                    "match": {"expr": {"expression": f"evaluatePreconfiguredWaf('{rule}', {{'sensitivity': 1}})"}},
                }
            )
        networks = [str(n) for n in args.service.exposure.networks]
        if networks:
            allowed = " || ".join(f"inIpRange(origin.ip, '{n}')" for n in networks)
            rules.append(
                {
                    "priority": 2000,
                    "action": "deny(403)",
                    "description": "Only exposure.allowed_networks may connect",
                    "match": {"expr": {"expression": f"!({allowed})"}},
                }
            )
        rules.append(
            {
                "priority": 3000,
                "action": "throttle",
                "description": f"At most {args.rate_limit_per_minute} requests per client IP per minute",
                "match": {"versioned_expr": "SRC_IPS_V1", "config": {"src_ip_ranges": ["*"]}},
                "rate_limit_options": {
                    "conform_action": "allow",
                    "exceed_action": "deny(429)",
                    "enforce_on_key": "IP",
                    "rate_limit_threshold": {"count": args.rate_limit_per_minute, "interval_sec": 60},
                },
            }
        )
        rules.append(
            {
                "priority": DEFAULT_RULE_PRIORITY,
                "action": "allow",
                "description": "Default rule",
                "match": {"versioned_expr": "SRC_IPS_V1", "config": {"src_ip_ranges": ["*"]}},
            }
        )
        return gcp.compute.SecurityPolicy(
            f"{self._name}-armor",
            project=args.project,
            name=stack_unique_name(self._name, 63, suffix="-armor"),
            description=f"Cloud Armor for {self._name}: WAF, network allow list, per-IP rate limit",
            type="CLOUD_ARMOR",
            rules=rules,
            adaptive_protection_config={"layer7_ddos_defense_config": {"enable": True}},
            advanced_options_config={"json_parsing": "STANDARD", "log_level": "VERBOSE"},
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _external(
        self,
        backend_group: pulumi.Input[str],
        health_check: bool,
        serverless: bool,
        grpc_backend_group: pulumi.Input[str] | None,
        grpc_services: Sequence[str],
    ) -> None:
        args = self._args
        child = pulumi.ResourceOptions(parent=self)
        exposure = args.service.exposure
        self.armor = self._armor()
        self.ssl_policy = gcp.compute.SSLPolicy(
            f"{self._name}-tls",
            project=args.project,
            name=stack_unique_name(self._name, 63, suffix="-tls"),
            profile=args.ssl_profile,
            min_tls_version="TLS_1_2",
            opts=child,
        )
        self.address = gcp.compute.GlobalAddress(
            f"{self._name}-ip", project=args.project, address_type="EXTERNAL", ip_version="IPV4", opts=child
        )
        if exposure.certificate is not None:
            self.certificate = None
            certificates: list[pulumi.Input[str]] = [exposure.certificate]
        else:
            self.certificate = gcp.compute.ManagedSslCertificate(
                f"{self._name}-cert",
                project=args.project,
                name=stack_unique_name(self._name, 63, suffix="-cert"),
                managed={"domains": [exposure.domain]},
                opts=child,
            )
            certificates = [self.certificate.id]
        backend: dict[str, Any] = {"group": backend_group}
        extra = self._backend_extra()
        if health_check:
            self.health_check = self._global_health_check()
            extra["health_checks"] = self.health_check.id
            backend.update(balancing_mode="UTILIZATION", max_utilization=0.8, capacity_scaler=1.0)
            extra["port_name"] = "http"
            extra["timeout_sec"] = args.timeout_seconds
            extra["connection_draining_timeout_sec"] = 30
        else:
            self.health_check = None
        self.backend = gcp.compute.BackendService(
            f"{self._name}-backend",
            project=args.project,
            load_balancing_scheme="EXTERNAL_MANAGED",
            protocol="HTTPS" if serverless else "HTTP",
            backends=[backend],
            security_policy=self.armor.self_link,
            **extra,
            opts=child,
        )
        routes: dict[str, Any] = {}
        if grpc_backend_group is not None:
            # gRPC to Cloud Run with end-to-end HTTP/2: the backend service speaks HTTP/2 to the serverless NEG.
            self.grpc_backend = gcp.compute.BackendService(
                f"{self._name}-grpc-backend",
                project=args.project,
                load_balancing_scheme="EXTERNAL_MANAGED",
                protocol="HTTP2",
                backends=[{"group": grpc_backend_group}],
                security_policy=self.armor.self_link,
                **self._backend_extra(),
                opts=child,
            )
            # A gRPC call is POST /<package.Service>/<Method>: those paths go to gRPC, the rest to HTTP.
            routes = {
                "host_rules": [{"hosts": ["*"], "path_matcher": "routes"}],
                "path_matchers": [
                    {
                        "name": "routes",
                        "default_service": self.backend.id,
                        "path_rules": [
                            {"paths": [f"/{name}/*" for name in grpc_services], "service": self.grpc_backend.id}
                        ],
                    }
                ],
            }
        self.url_map = gcp.compute.URLMap(
            f"{self._name}-urls", project=args.project, default_service=self.backend.id, **routes, opts=child
        )
        self.https_proxy = gcp.compute.TargetHttpsProxy(
            f"{self._name}-https",
            project=args.project,
            url_map=self.url_map.id,
            ssl_certificates=certificates,
            ssl_policy=self.ssl_policy.id,
            opts=child,
        )
        self.forwarding_rule = gcp.compute.GlobalForwardingRule(
            f"{self._name}-https-rule",
            project=args.project,
            load_balancing_scheme="EXTERNAL_MANAGED",
            ip_protocol="TCP",
            port_range="443",
            ip_address=self.address.address,
            target=self.https_proxy.id,
            opts=child,
        )
        # Port 80 only redirects to HTTPS: no backend is reachable over plain HTTP.
        self.redirect_map = gcp.compute.URLMap(
            f"{self._name}-redirect",
            project=args.project,
            default_url_redirect={
                "https_redirect": True,
                "strip_query": False,
                "redirect_response_code": "MOVED_PERMANENTLY_DEFAULT",
            },
            opts=child,
        )
        self.http_proxy = gcp.compute.TargetHttpProxy(
            f"{self._name}-http", project=args.project, url_map=self.redirect_map.id, opts=child
        )
        self.redirect_rule = gcp.compute.GlobalForwardingRule(
            f"{self._name}-http-rule",
            project=args.project,
            load_balancing_scheme="EXTERNAL_MANAGED",
            ip_protocol="TCP",
            port_range="80",
            ip_address=self.address.address,
            target=self.http_proxy.id,
            opts=child,
        )
        host = exposure.domain
        self.url = (
            pulumi.Output.from_input(f"https://{host}")
            if host
            else pulumi.Output.concat("https://", self.address.address)
        )

    def _global_health_check(self) -> gcp.compute.HealthCheck:
        svc = self._args.service
        return gcp.compute.HealthCheck(
            f"{self._name}-health",
            project=self._args.project,
            check_interval_sec=10,
            timeout_sec=5,
            healthy_threshold=2,
            unhealthy_threshold=3,
            http_health_check={"port": svc.port, "request_path": svc.health.ready_path},
            log_config={"enable": True},
            opts=pulumi.ResourceOptions(parent=self),
        )

    # --- private: regional internal Application LB ---

    def _internal(
        self,
        backend_group: pulumi.Input[str],
        health_check: bool,
        network_id: pulumi.Input[str] | None,
        subnetwork_id: pulumi.Input[str] | None,
    ) -> None:
        args = self._args
        svc = args.service
        child = pulumi.ResourceOptions(parent=self)
        self.armor = None
        depends: list[pulumi.Resource] = []
        if args.create_proxy_subnet:
            self.proxy_subnet = gcp.compute.Subnetwork(
                f"{self._name}-proxy-subnet",
                project=args.project,
                region=args.region,
                network=network_id,
                ip_cidr_range=args.proxy_subnet_cidr,
                purpose="REGIONAL_MANAGED_PROXY",
                role="ACTIVE",
                opts=child,
            )
            depends.append(self.proxy_subnet)
        else:
            self.proxy_subnet = None
        self.proxy_firewall = gcp.compute.Firewall(
            f"{self._name}-allow-proxies",
            project=args.project,
            network=network_id,
            direction="INGRESS",
            source_ranges=[args.proxy_subnet_cidr],
            target_service_accounts=[self._service_account],
            allows=[{"protocol": "tcp", "ports": [str(svc.port)]}],
            description="The internal load balancer's proxies to the model server port only",
            log_config={"metadata": "INCLUDE_ALL_METADATA"},
            opts=child,
        )
        self.health_check = gcp.compute.RegionHealthCheck(
            f"{self._name}-health",
            project=args.project,
            region=args.region,
            check_interval_sec=10,
            timeout_sec=5,
            healthy_threshold=2,
            unhealthy_threshold=3,
            http_health_check={"port": svc.port, "request_path": svc.health.ready_path},
            log_config={"enable": True},
            opts=child,
        )
        self.backend = gcp.compute.RegionBackendService(
            f"{self._name}-backend",
            project=args.project,
            region=args.region,
            load_balancing_scheme="INTERNAL_MANAGED",
            protocol="HTTP",
            port_name="http",
            timeout_sec=args.timeout_seconds,
            connection_draining_timeout_sec=30,
            health_checks=self.health_check.id,
            backends=[
                {
                    "group": backend_group,
                    "balancing_mode": "UTILIZATION",
                    "max_utilization": 0.8,
                    "capacity_scaler": 1.0,
                }
            ],
            **self._backend_extra(),
            opts=child,
        )
        self.url_map = gcp.compute.RegionUrlMap(
            f"{self._name}-urls", project=args.project, region=args.region, default_service=self.backend.id, opts=child
        )
        certificate = args.internal_certificate_value
        if certificate is not None:
            self.ssl_policy = gcp.compute.RegionSslPolicy(
                f"{self._name}-tls",
                project=args.project,
                region=args.region,
                name=stack_unique_name(self._name, 63, suffix="-tls"),
                profile=args.ssl_profile,
                min_tls_version="TLS_1_2",
                opts=child,
            )
            self.proxy = gcp.compute.RegionTargetHttpsProxy(
                f"{self._name}-https",
                project=args.project,
                region=args.region,
                url_map=self.url_map.id,
                ssl_certificates=[certificate],
                ssl_policy=self.ssl_policy.id,
                opts=child,
            )
            port, scheme = "443", "https"
        else:
            # Dev and staging without a certificate: plain HTTP inside the VPC (prod refuses this).
            self.ssl_policy = None
            self.proxy = gcp.compute.RegionTargetHttpProxy(
                f"{self._name}-http", project=args.project, region=args.region, url_map=self.url_map.id, opts=child
            )
            port, scheme = "80", "http"
        self.forwarding_rule = gcp.compute.ForwardingRule(
            f"{self._name}-rule",
            project=args.project,
            region=args.region,
            load_balancing_scheme="INTERNAL_MANAGED",
            ip_protocol="TCP",
            port_range=port,
            network=network_id,
            subnetwork=subnetwork_id,
            target=self.proxy.id,
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends),
        )
        host = svc.exposure.domain
        self.url = (
            pulumi.Output.from_input(f"{scheme}://{host}")
            if host
            else pulumi.Output.concat(f"{scheme}://", self.forwarding_rule.ip_address)
        )


def internal_lb_source(url_map_name: pulumi.Input[str]) -> pulumi.Output[str]:
    return pulumi.Output.concat(
        'resource.type="internal_http_lb_rule" AND resource.labels.url_map_name="', url_map_name, '"'
    )


def external_lb_source(url_map_name: pulumi.Input[str]) -> pulumi.Output[str]:
    return pulumi.Output.concat('resource.type="https_lb_rule" AND resource.labels.url_map_name="', url_map_name, '"')
