"""The Application Load Balancer in front of the vm and container patterns: TLS 1.3 policy, weighted tracks, logs."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import pulumi
import pulumi_aws as aws

from ..spec import HOSTNAME_PATTERN, ModelService
from ..validation import SpecError, check_int, check_mapping_keys, check_optional_str, check_str
from .alarms import ServiceMetrics, configured_alarms
from .checks import ACM_CERTIFICATE_ARN, WAF_WEB_ACL_ARN, ServiceSpecError, alb_caller_cidrs
from .foundation import Foundation, private_bucket, tls_only_statement
from .iam import AwsContext, policy_document, statement
from .naming import physical_name, stack_unique_name
from .pattern import PatternArgs

__all__ = ["TLS_POLICY", "AlbArgs", "LoadBalancer", "Track", "elb_log_principals", "pattern_load_balancer"]

# TLS 1.3 and 1.2 only, with post-quantum key exchange; the provider's default policy still allows TLS 1.0.
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09"

# Regions opened before August 2022 deliver ALB access logs from a regional ELB account (AWS documents these
# accounts under "Attach a policy to your S3 bucket"); newer regions use the log-delivery service principal.
_ELB_LOG_ACCOUNTS = {
    "us-east-1": "127311923021",
    "us-east-2": "033677994240",
    "us-west-1": "027434742980",
    "us-west-2": "797873946194",
    "af-south-1": "098369216593",
    "ap-east-1": "754344448648",
    "ap-southeast-3": "589379963580",
    "ap-south-1": "718504428378",
    "ap-northeast-3": "383597477331",
    "ap-northeast-2": "600734575887",
    "ap-southeast-1": "114774131450",
    "ap-southeast-2": "783225319266",
    "ap-northeast-1": "582318560864",
    "ca-central-1": "985666609251",
    "eu-central-1": "054676820928",
    "eu-west-1": "156460612806",
    "eu-west-2": "652711504416",
    "eu-south-1": "635631232127",
    "eu-west-3": "009996457667",
    "eu-north-1": "897822967062",
    "me-south-1": "076674570225",
    "sa-east-1": "507241528517",
    "us-gov-west-1": "048591011584",
    "us-gov-east-1": "190560391635",
    "cn-north-1": "638102146993",
    "cn-northwest-1": "037604701340",
}
ACCESS_LOG_PREFIX = "alb"


def elb_log_principals(region: str, partition: str) -> list[dict[str, str]]:
    principals = [{"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}]
    account = _ELB_LOG_ACCOUNTS.get(region)
    if account is not None:
        principals.append({"AWS": f"arn:{partition}:iam::{account}:root"})
    return principals


@dataclass(frozen=True, kw_only=True)
class AlbArgs(PatternArgs):
    """Options of the patterns served through the ALB (vm, container).

    certificate_arn: the ACM certificate of this target's region for the HTTPS listener. It overrides
        ``exposure.certificate``, which can name only one region's certificate for all targets.
    certificate_domain: instead of an ARN, the domain of an issued ACM certificate in this target's region;
        the newest one is looked up at deployment, so stack config names no account.
    web_acl_arn: an existing regional WAFv2 web ACL for an internet-facing load balancer. None creates one
        with the AWS managed common, known-bad-inputs and IP-reputation rule groups and a per-IP rate limit.
    waf_rate_limit: requests per 5 minutes from one IP before the created web ACL blocks it.
    hosted_zone_id: a Route 53 hosted zone that holds ``exposure.domain``: an alias A record for the domain is
        created there, pointing at the load balancer. Without it, modelport creates no DNS record: the endpoint
        reports ``https://<domain>`` and you point the name at the ALB yourself (or with external DNS tooling).
    authenticate_cognito: ``{user_pool_arn, user_pool_client_id, user_pool_domain[, scope, session_timeout]}``:
        the HTTPS listener authenticates every caller with this Cognito user pool before forwarding.
    authenticate_oidc: ``{issuer, authorization_endpoint, token_endpoint, user_info_endpoint, client_id,
        client_secret_config[, scope, session_timeout]}``: the same with an OIDC provider. The client secret is
        read from the Pulumi secret config key ``client_secret_config`` (``pulumi config set --secret``), never
        from plain config; from code, ``client_secret`` takes a secret ``pulumi.Output``.
    """

    certificate_arn: str | None = None
    certificate_domain: str | None = None
    web_acl_arn: str | None = None
    waf_rate_limit: int = 2000
    hosted_zone_id: str | None = None

    GRPC_REFUSAL: ClassVar[str | None] = None
    authenticate_cognito: Mapping[str, Any] | None = None
    authenticate_oidc: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        check_optional_str(
            "certificate_arn",
            self.certificate_arn,
            pattern=ACM_CERTIFICATE_ARN,
            description="an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)",
        )
        check_optional_str(
            "certificate_domain",
            self.certificate_domain,
            pattern=HOSTNAME_PATTERN,
            description="the domain name of an issued ACM certificate, such as churn.example.com",
        )
        if self.certificate_arn is not None and self.certificate_domain is not None:
            raise SpecError("certificate_domain", "set certificate_arn or certificate_domain, not both")
        check_optional_str(
            "web_acl_arn",
            self.web_acl_arn,
            pattern=WAF_WEB_ACL_ARN,
            description="a regional WAFv2 web ACL ARN (arn:aws:wafv2:<region>:<account>:regional/webacl/<name>/<id>)",
        )
        check_int("waf_rate_limit", self.waf_rate_limit, minimum=100, maximum=2_000_000_000)
        check_optional_str(
            "hosted_zone_id", self.hosted_zone_id, pattern=r"Z[A-Z0-9]{1,31}", description="a Route 53 hosted zone ID"
        )
        if self.hosted_zone_id is not None and self.service.exposure.domain is None:
            raise SpecError("hosted_zone_id", "names where to create the record of exposure.domain, which is not set")
        self._check_authenticators()

    def _check_authenticators(self) -> None:
        if self.authenticate_cognito is not None and self.authenticate_oidc is not None:
            raise SpecError("authenticate_oidc", "set authenticate_cognito or authenticate_oidc, not both")
        if self.authenticate_cognito is not None:
            cognito = _check_fields("authenticate_cognito", self.authenticate_cognito, _COGNITO_FIELDS)
            check_str(
                "authenticate_cognito.user_pool_arn",
                cognito["user_pool_arn"],
                pattern=COGNITO_USER_POOL_ARN,
                description="a Cognito user pool ARN (arn:aws:cognito-idp:<region>:<account>:userpool/<id>)",
            )
        if self.authenticate_oidc is not None:
            oidc = _check_fields("authenticate_oidc", self.authenticate_oidc, _OIDC_FIELDS)
            for key in ("issuer", "authorization_endpoint", "token_endpoint", "user_info_endpoint"):
                check_str(
                    f"authenticate_oidc.{key}", oidc[key], pattern=r"https://[^\s]+", description="an https:// URL"
                )
            secret_config = oidc.get("client_secret_config")
            secret = oidc.get("client_secret")
            if (secret_config is None) == (secret is None):
                raise SpecError(
                    "authenticate_oidc.client_secret_config",
                    "name the Pulumi secret config key that holds the OIDC client secret (set it with `pulumi "
                    "config set --secret <key> ...`); from code, pass client_secret as a secret pulumi.Output",
                )
            if secret is not None and not isinstance(secret, pulumi.Output):
                raise SpecError(
                    "authenticate_oidc.client_secret",
                    "must be a secret pulumi.Output (pulumi.Output.secret(...)), never a plain value; in stack "
                    "config use client_secret_config",
                )
            if secret_config is not None:
                check_str(
                    "authenticate_oidc.client_secret_config",
                    secret_config,
                    pattern=r"([\w-]+:)?[\w.-]+",
                    description="a Pulumi config key such as churn:oidcClientSecret",
                )

    @property
    def authenticator(self) -> str | None:
        """The ALB action that authenticates callers, if one is configured."""
        if self.authenticate_cognito is not None:
            return "authenticate-cognito"
        if self.authenticate_oidc is not None:
            return "authenticate-oidc"
        return None

    def authenticate_action(self) -> dict[str, Any] | None:
        """The listener action that authenticates before forwarding (order 1), or None."""
        if self.authenticate_cognito is not None:
            cognito = dict(self.authenticate_cognito)
            return {
                "type": "authenticate-cognito",
                "order": 1,
                "authenticate_cognito": {
                    **{k: cognito[k] for k in ("user_pool_arn", "user_pool_client_id", "user_pool_domain")},
                    **{k: cognito[k] for k in ("scope", "session_timeout") if k in cognito},
                    "on_unauthenticated_request": "authenticate",
                },
            }
        if self.authenticate_oidc is not None:
            oidc = dict(self.authenticate_oidc)
            secret = oidc.get("client_secret")
            if secret is None:
                key = str(oidc["client_secret_config"])
                namespace, _, name = key.rpartition(":")
                secret = pulumi.Config(namespace or None).require_secret(name)
            return {
                "type": "authenticate-oidc",
                "order": 1,
                "authenticate_oidc": {
                    **{
                        k: oidc[k]
                        for k in (
                            "issuer",
                            "authorization_endpoint",
                            "token_endpoint",
                            "user_info_endpoint",
                            "client_id",
                        )
                    },
                    "client_secret": pulumi.Output.secret(secret),
                    **{k: oidc[k] for k in ("scope", "session_timeout") if k in oidc},
                    "on_unauthenticated_request": "authenticate",
                },
            }
        return None

    def _check_load_balancer(self, pattern: str) -> None:
        exposure = self.service.exposure
        if (
            self.certificate_arn is None
            and self.certificate_domain is None
            and exposure.certificate is not None
            and not re.fullmatch(ACM_CERTIFICATE_ARN, exposure.certificate)
        ):
            raise ServiceSpecError(
                "exposure.certificate",
                f"{pattern} terminates TLS on its load balancer with an ACM certificate: "
                "use its ARN (arn:aws:acm:<region>:<account>:certificate/<id>), or set the "
                "target option certificate_arn",
            )
        if exposure.public and self.certificate is None and self.certificate_domain is None:
            raise ServiceSpecError(
                "exposure.certificate",
                f"{pattern} is public, so its load balancer terminates TLS: set the ACM certificate ARN "
                "(or the target option certificate_arn or certificate_domain)",
            )
        if self.service.grpc_port and self.certificate is None and self.certificate_domain is None:
            raise ServiceSpecError(
                "grpc_port",
                f"{pattern} carries gRPC through its load balancer, and an ALB speaks gRPC only on an HTTPS "
                "listener: set exposure.certificate (or the target option certificate_arn or certificate_domain)",
            )
        if self.authenticator and self.certificate is None and self.certificate_domain is None:
            raise SpecError(
                "authenticate_oidc" if self.authenticate_oidc is not None else "authenticate_cognito",
                "the load balancer authenticates only on its HTTPS listener: set certificate_arn, "
                "certificate_domain or exposure.certificate",
            )
        if exposure.public and self.vpc_id is not None and not self.public_subnet_ids:
            raise SpecError("public_subnet_ids", "a public load balancer in your VPC needs its public subnets")

    @property
    def certificate(self) -> str | None:
        """The listener certificate ARN when config names one: the target's own, else the service's."""
        return self.certificate_arn or self.service.exposure.certificate

    def listener_certificate(self, parent: pulumi.Resource) -> pulumi.Input[str] | None:
        """The certificate for the HTTPS listener: the named ARN, or the ACM lookup of ``certificate_domain``
        in the region of ``parent``'s provider."""
        if self.certificate_domain is None:
            if self.certificate is None:
                return None
            # ALB certificates are regional: one from another region cannot be attached, so fail before `up` does.
            key = "certificate_arn" if self.certificate_arn else "modelport:service.exposure.certificate"
            return AwsContext.lookup(parent).region.apply(
                lambda region: _same_region_certificate(key, str(self.certificate), region)
            )
        found = aws.acm.get_certificate_output(
            domain=self.certificate_domain,
            statuses=["ISSUED"],
            most_recent=True,
            opts=pulumi.InvokeOutputOptions(parent=parent),
        )
        return found.arn


def certificate_region(arn: str) -> str | None:
    match = re.fullmatch(ACM_CERTIFICATE_ARN, arn)
    return arn.split(":")[3] if match else None


def _same_region_certificate(key: str, arn: str, region: str) -> str:
    found = certificate_region(arn)
    if found is not None and found != region:
        raise SpecError(
            key,
            f"the ACM certificate is in {found}, but the load balancer is in {region}; ALB certificates are "
            f"regional: issue or import the certificate in {region} (or use certificate_domain to look it up there)",
        )
    return arn


GRPC_HEALTH_PATH = "/grpc.health.v1.Health/Check"
COGNITO_USER_POOL_ARN = r"arn:aws[a-z-]*:cognito-idp:[a-z0-9-]+:\d{12}:userpool/[\w-]+_[0-9a-zA-Z]+"
_COGNITO_FIELDS = (("user_pool_arn", "user_pool_client_id", "user_pool_domain"), ("scope", "session_timeout"))
_OIDC_FIELDS = (
    ("issuer", "authorization_endpoint", "token_endpoint", "user_info_endpoint", "client_id"),
    ("client_secret_config", "client_secret", "scope", "session_timeout"),
)


def _check_fields(path: str, value: Any, fields: tuple[tuple[str, ...], tuple[str, ...]]) -> dict[str, Any]:
    required, optional = fields
    data = dict(check_mapping_keys(path, value, (*required, *optional), required))
    for key in required:
        if key != "client_secret":
            check_str(f"{path}.{key}", data[key])
    if "scope" in data:
        check_str(f"{path}.scope", data["scope"])
    if "session_timeout" in data:
        check_int(f"{path}.session_timeout", data["session_timeout"], minimum=60, maximum=604_800)
    return data


# AWS managed rule groups every public endpoint gets: OWASP-style common rules, known bad inputs (Log4Shell and
# friends) and Amazon's IP reputation list. All are free of extra subscription fees.
_MANAGED_RULE_GROUPS = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesAmazonIpReputationList",
    "AWSManagedRulesAnonymousIpList",
)
# Rules of the groups above that only count: cloud hosting ranges are where legitimate server-to-server callers
# of a model API live, so blocking them would block customers (VPNs, Tor and proxies stay blocked).
_COUNT_ONLY = {"AWSManagedRulesAnonymousIpList": ("HostingProviderIPList",)}
# Request parts never written to WAF logs: credentials and session cookies of authenticated callers.
_REDACTED_HEADERS = ("authorization", "cookie")


def _visibility(metric: str) -> dict[str, Any]:
    return {"cloudwatch_metrics_enabled": True, "metric_name": metric[:128], "sampled_requests_enabled": True}


def _managed_rule_group(group: str, priority: int) -> dict[str, Any]:
    return {
        "name": group,
        "priority": priority,
        "override_action": {"none": {}},
        "statement": {
            "managed_rule_group_statement": {
                "name": group,
                "vendor_name": "AWS",
                **(
                    {"rule_action_overrides": [{"name": r, "action_to_use": {"count": {}}} for r in _COUNT_ONLY[group]]}
                    if group in _COUNT_ONLY
                    else {}
                ),
            }
        },
        "visibility_config": _visibility(group),
    }


@dataclass(frozen=True)
class Track:
    """One weighted version behind the listener."""

    name: str
    weight: int


class LoadBalancer:
    """Builds the ALB, its security group, access-log bucket, target groups (one per track) and listeners.

    The resources are children of ``parent`` (the pattern component) and named from ``name``.
    """

    def __init__(
        self,
        name: str,
        *,
        parent: pulumi.Resource,
        foundation: Foundation,
        service: ModelService,
        tracks: Sequence[Track],
        target_type: str,
        target_security_group: aws.ec2.SecurityGroup,
        caller_cidrs: Sequence[str],
        certificate: pulumi.Input[str] | None,
        deletion_protection: bool,
        log_retention_days: int,
        web_acl_arn: str | None = None,
        waf_rate_limit: int = 2000,
        authenticate: dict[str, Any] | None = None,
    ) -> None:
        self._name = name
        self._parent = parent
        self._child = pulumi.ResourceOptions(parent=parent)
        ctx = foundation.context
        self._ctx = ctx
        self._foundation = foundation
        exposure = service.exposure
        public = exposure.public
        assert foundation.vpc_id is not None

        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-alb-sg",
            vpc_id=foundation.vpc_id,
            description=f"{'Public' if public else 'Internal'} load balancer of {name}",
            opts=self._child,
        )
        sources: list[pulumi.Input[str]] = list(caller_cidrs) or [foundation.vpc_cidr]  # type: ignore[list-item]
        listener_ports = [443, 80] if certificate else [80]
        for index, cidr in enumerate(sources):
            for port in listener_ports:
                aws.vpc.SecurityGroupIngressRule(
                    f"{name}-alb-in-{port}-{index}",
                    security_group_id=self.security_group.id,
                    ip_protocol="tcp",
                    from_port=port,
                    to_port=port,
                    cidr_ipv4=cidr,
                    description="allowed callers",
                    opts=self._child,
                )
        for suffix, port in [("", service.port)] + ([("-grpc", service.grpc_port)] if service.grpc_port else []):
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-alb-to-targets{suffix}",
                security_group_id=self.security_group.id,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                referenced_security_group_id=target_security_group.id,
                description="to the model servers",
                opts=self._child,
            )
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-targets-from-alb{suffix}",
                security_group_id=target_security_group.id,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                referenced_security_group_id=self.security_group.id,
                description="from the load balancer",
                opts=self._child,
            )

        self.log_bucket = self._access_log_bucket(ctx, deletion_protection, log_retention_days)
        subnets = foundation.public_subnet_ids if public else foundation.private_subnet_ids
        self.alb = aws.lb.LoadBalancer(
            f"{name}-alb",
            name=stack_unique_name(service.name, 32, salt=(name, "public" if public else "internal")),
            load_balancer_type="application",
            internal=not public,
            subnets=subnets,
            security_groups=[self.security_group.id],
            drop_invalid_header_fields=True,
            enable_deletion_protection=deletion_protection,
            desync_mitigation_mode="strictest",
            idle_timeout=120,
            access_logs={"bucket": self.log_bucket.bucket, "prefix": ACCESS_LOG_PREFIX, "enabled": True},
            opts=pulumi.ResourceOptions(parent=parent, depends_on=[self._log_policy]),
        )

        self.web_acl: aws.wafv2.WebAcl | None = None
        self.web_acl_association: aws.wafv2.WebAclAssociation | None = None
        if public:
            self._protect_with_waf(service, web_acl_arn, waf_rate_limit)

        health = service.health

        def target_group(
            resource: str, label: str, port: int, version: str, path: str, matcher: str
        ) -> aws.lb.TargetGroup:
            return aws.lb.TargetGroup(
                resource,
                name=stack_unique_name(
                    label, 32, salt=(name, target_type, str(port), "public" if public else "internal")
                ),
                port=port,
                protocol="HTTP",
                protocol_version=version,
                target_type=target_type,
                vpc_id=foundation.vpc_id,
                deregistration_delay="30",
                load_balancing_algorithm_type="least_outstanding_requests",
                health_check={
                    "enabled": True,
                    "path": path,
                    "protocol": "HTTP",
                    "port": "traffic-port",
                    "matcher": matcher,
                    "interval": 10,
                    "timeout": 5,
                    "healthy_threshold": 2,
                    "unhealthy_threshold": 3,
                },
                opts=self._child,
            )

        self.target_groups: dict[str, aws.lb.TargetGroup] = {
            track.name: target_group(
                f"{name}-tg-{track.name}",
                f"{service.name}-{track.name}",
                service.port,
                "HTTP1",
                health.ready_path,
                "200",
            )
            for track in tracks
        }
        # gRPC target groups (protocol version GRPC) check grpc.health.v1 on the gRPC port; 0 is the status OK.
        self.grpc_target_groups: dict[str, aws.lb.TargetGroup] = {}
        if service.grpc_port:
            self.grpc_target_groups = {
                track.name: target_group(
                    f"{name}-grpc-tg-{track.name}",
                    f"{service.name}-{track.name}-grpc",
                    service.grpc_port,
                    "GRPC",
                    GRPC_HEALTH_PATH,
                    "0",
                )
                for track in tracks
            }
        forward: dict[str, Any] = {
            "type": "forward",
            "forward": {"target_groups": [{"arn": self.target_groups[t.name].arn, "weight": t.weight} for t in tracks]},
        }
        if authenticate:
            forward["order"] = 2
        self.https_listener: aws.lb.Listener | None = None
        if certificate:
            self.https_listener = aws.lb.Listener(
                f"{name}-https",
                load_balancer_arn=self.alb.arn,
                port=443,
                protocol="HTTPS",
                ssl_policy=TLS_POLICY,
                certificate_arn=certificate,
                default_actions=[authenticate, forward] if authenticate else [forward],
                opts=self._child,
            )
            if self.grpc_target_groups:
                # gRPC shares the HTTPS listener: requests whose content type is application/grpc go to the gRPC
                # target groups (HTTP/2 end to end), with the same per-track weights as HTTP.
                # The rule authenticates exactly as the default action does: gRPC never bypasses the authenticator.
                groups = [{"arn": self.grpc_target_groups[t.name].arn, "weight": t.weight} for t in tracks]
                grpc_forward: dict[str, Any] = {"type": "forward", "forward": {"target_groups": groups}}
                if authenticate:
                    grpc_forward["order"] = 2
                self.grpc_rule = aws.lb.ListenerRule(
                    f"{name}-grpc",
                    listener_arn=self.https_listener.arn,
                    priority=10,
                    conditions=[{"http_header": {"http_header_name": "content-type", "values": ["application/grpc*"]}}],
                    actions=[authenticate, grpc_forward] if authenticate else [grpc_forward],
                    opts=self._child,
                )
            self.http_listener = aws.lb.Listener(
                f"{name}-http-redirect",
                load_balancer_arn=self.alb.arn,
                port=80,
                protocol="HTTP",
                default_actions=[
                    {"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443", "status_code": "HTTP_301"}}
                ],
                opts=self._child,
            )
            host = exposure.domain or None
            self.url = (
                pulumi.Output.from_input(f"https://{host}")
                if host
                else pulumi.Output.concat("https://", self.alb.dns_name)
            )
        else:
            # Private and without a certificate: plain HTTP inside the VPC (the policy pack flags it in prod).
            self.http_listener = aws.lb.Listener(
                f"{name}-http",
                load_balancer_arn=self.alb.arn,
                port=80,
                protocol="HTTP",
                default_actions=[forward],
                opts=self._child,
            )
            self.url = pulumi.Output.concat("http://", self.alb.dns_name)
        self.listener = self.https_listener or self.http_listener
        self.dns_record: aws.route53.Record | None = None
        if not self.grpc_target_groups or self.https_listener is None:
            self.grpc_rule = None

    def concurrency_metrics(self, track: str) -> list[dict[str, Any]]:
        """Target-tracking metric math for ``scaling.target_concurrency``: in-flight requests per target.

        By Little's law, the requests a target holds at once are its request rate times its response time:
        RequestCountPerTarget (per minute) / 60 x TargetResponseTime (seconds), measured, not guessed.
        """
        dimensions = [
            {"name": "LoadBalancer", "value": self.alb.arn_suffix},
            {"name": "TargetGroup", "value": self.target_groups[track].arn_suffix},
        ]

        def stat(metric: str, statistic: str) -> dict[str, Any]:
            return {
                "metric": {"namespace": "AWS/ApplicationELB", "metric_name": metric, "dimensions": dimensions},
                "stat": statistic,
            }

        return [
            {"id": "requests", "metric_stat": stat("RequestCountPerTarget", "Sum"), "return_data": False},
            {"id": "latency", "metric_stat": stat("TargetResponseTime", "Average"), "return_data": False},
            {
                "id": "concurrency",
                "expression": "requests / 60 * latency",
                "label": "in-flight requests per target",
                "return_data": True,
            },
        ]

    def metrics(self) -> ServiceMetrics:
        """Request metrics of the whole load balancer: target and ELB 5xx over all requests, target latency."""
        return ServiceMetrics(
            namespace="AWS/ApplicationELB",
            dimensions={"LoadBalancer": self.alb.arn_suffix},
            request_metric="RequestCount",
            error_metrics=("HTTPCode_Target_5XX_Count", "HTTPCode_ELB_5XX_Count"),
            latency_metric="TargetResponseTime",
            latency_scale=0.001,
        )

    def _protect_with_waf(self, service: ModelService, web_acl_arn: str | None, rate_limit: int) -> None:
        """An internet-facing ALB always sits behind WAF: the caller's web ACL, or one with AWS managed rules."""
        name = self._name
        if web_acl_arn is None:
            self.web_acl = aws.wafv2.WebAcl(
                f"{name}-waf",
                name=stack_unique_name(f"{service.name}-waf", 128, salt=(name, "waf")),
                scope="REGIONAL",
                description=f"Managed protections for the public load balancer of {name}",
                default_action={"allow": {}},
                rules=[
                    *[_managed_rule_group(group, priority) for priority, group in enumerate(_MANAGED_RULE_GROUPS)],
                    {
                        "name": "rate-limit-per-ip",
                        "priority": len(_MANAGED_RULE_GROUPS),
                        "action": {"block": {}},
                        "statement": {"rate_based_statement": {"limit": rate_limit, "aggregate_key_type": "IP"}},
                        "visibility_config": _visibility("rate-limit-per-ip"),
                    },
                ],
                visibility_config=_visibility(f"{service.name}-waf"),
                opts=self._child,
            )
            web_acl_arn = self.web_acl.arn  # type: ignore[assignment]
            # WAF logs go to a log group whose name must start with aws-waf-logs-, encrypted like every other log.
            self.waf_log_group = self._foundation.encrypted_log_group(
                f"{name}-waf-logs",
                f"aws-waf-logs-{stack_unique_name(f'{service.name}-{name}', 400)}",
                parent=self._parent,
            )
            aws.wafv2.WebAclLoggingConfiguration(
                f"{name}-waf-logging",
                resource_arn=self.web_acl.arn,
                log_destination_configs=[self.waf_log_group.arn],
                redacted_fields=[{"single_header": {"name": header}} for header in _REDACTED_HEADERS],
                opts=self._child,
            )
        else:
            named: str = web_acl_arn
            owner = named.split(":")[4]

            def same_account(account: str) -> str:
                if owner != account:
                    raise SpecError(
                        "web_acl_arn",
                        f"names a web ACL of account {owner}; a load balancer of account {account} can only be "
                        "associated with a web ACL of its own account (use Firewall Manager to share rules)",
                    )
                return named

            web_acl_arn = self._ctx.account_id.apply(same_account)  # type: ignore[assignment]
        self.web_acl_association = aws.wafv2.WebAclAssociation(
            f"{name}-waf-association",
            resource_arn=self.alb.arn,
            web_acl_arn=web_acl_arn,
            opts=self._child,
        )

    def _access_log_bucket(self, ctx: AwsContext, deletion_protection: bool, retention_days: int) -> aws.s3.Bucket:
        name = self._name
        # ALB access logs support only SSE-S3; SSE-KMS buckets silently receive nothing.
        bucket, block = private_bucket(
            f"{name}-alb-logs",
            prefix=physical_name(f"{name}-alb-logs", 36, suffix="-"),
            force_destroy=not deletion_protection,
            encryption={"sse_algorithm": "AES256"},
            bucket_key_enabled=False,
            lifecycle_rule={
                "id": "expire-access-logs",
                "expiration": {"days": retention_days},
                "noncurrent_version_expiration": {"noncurrent_days": 7},
                "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
            },
            opts=self._child,
        )
        log_objects = pulumi.Output.concat(bucket.arn, f"/{ACCESS_LOG_PREFIX}/AWSLogs/", ctx.account_id, "/*")
        policy = (
            pulumi.Output.all(ctx.region, ctx.partition)
            .apply(
                lambda rp: [
                    statement(f"AllowAccessLogDelivery{index}", ["s3:PutObject"], log_objects, principal=principal)
                    for index, principal in enumerate(elb_log_principals(rp[0], rp[1]))
                ]
            )
            .apply(lambda delivery: policy_document([tls_only_statement(bucket.arn), *delivery]))
        )
        self._log_policy = aws.s3.BucketPolicy(
            f"{name}-alb-logs-policy",
            bucket=bucket.id,
            policy=policy,
            opts=pulumi.ResourceOptions(parent=self._parent, depends_on=[block]),
        )
        return bucket


def pattern_load_balancer(
    component: pulumi.Resource,
    name: str,
    args: AlbArgs,
    *,
    foundation: Foundation,
    target_type: str,
    target_security_group: aws.ec2.SecurityGroup,
    pattern: str,
) -> tuple[LoadBalancer, list[aws.cloudwatch.MetricAlarm]]:
    """The ALB of a vm or container pattern, from its options, and its alarms when the profile wants them."""
    service = args.service
    load_balancer = LoadBalancer(
        name,
        parent=component,
        foundation=foundation,
        service=service,
        tracks=[Track(t.name, t.weight) for t in service.tracks],
        target_type=target_type,
        target_security_group=target_security_group,
        caller_cidrs=alb_caller_cidrs(service, pattern, authenticator=args.authenticator),
        certificate=args.listener_certificate(component),
        deletion_protection=args.profile.deletion_protection,
        log_retention_days=args.retention_days,
        web_acl_arn=args.web_acl_arn,
        waf_rate_limit=args.waf_rate_limit,
        authenticate=args.authenticate_action(),
    )
    alarms = list(configured_alarms(name, load_balancer.metrics(), args, component)) if args.alarms_enabled else []
    if args.hosted_zone_id is not None:
        assert service.exposure.domain is not None
        load_balancer.dns_record = aws.route53.Record(
            f"{name}-dns",
            zone_id=args.hosted_zone_id,
            name=service.exposure.domain,
            type="A",
            aliases=[
                {
                    "name": load_balancer.alb.dns_name,
                    "zone_id": load_balancer.alb.zone_id,
                    "evaluate_target_health": True,
                }
            ],
            opts=pulumi.ResourceOptions(parent=component),
        )
    return load_balancer, alarms
