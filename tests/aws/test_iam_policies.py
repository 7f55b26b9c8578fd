"""Every IAM policy document the five AWS patterns create passes parliament with no finding at medium or above:
role trust policies, inline role policies, KMS key policies and S3 bucket policies, in dev and in prod."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import parliament
import pytest
from aws_fixtures import (
    CALLER_ROLE,
    CANARY,
    CERTIFICATE,
    DEV,
    ECR_CANARY_VARIANTS,
    ECR_IMAGE,
    PARAMETER,
    PROD,
    SECRET,
    Built,
    as_list,
    build,
    make_service,
)
from modelport.aws.container import EcsService, EcsServiceArgs
from modelport.aws.kubernetes import EksService, EksServiceArgs
from modelport.aws.ml_platform import SageMakerEndpoint, SageMakerEndpointArgs
from modelport.aws.serverless import LambdaService, LambdaServiceArgs
from modelport.aws.vm import Ec2Service, Ec2ServiceArgs

BLOCKING = {"MEDIUM", "HIGH", "CRITICAL"}
DOCUMENT_FIELDS = {
    "aws:iam/role:Role": "assumeRolePolicy",
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/policy:Policy": "policy",
    "aws:kms/key:Key": "policy",
    "aws:s3/bucketPolicy:BucketPolicy": "policy",
}
PATTERNS = ("vm", "container", "kubernetes", "serverless", "ml_platform")


def _programs(profile) -> dict[str, Any]:
    """Each pattern with the features that add statements: secrets, artifacts, canaries, VPC mode, callers."""
    public = {"public": True, "anonymous": True, "allowed_networks": ["203.0.113.0/24"], "certificate": CERTIFICATE}
    return {
        "vm": lambda: Ec2Service(
            "churn-vm",
            Ec2ServiceArgs(
                profile=profile,
                service=make_service(
                    exposure=public,
                    variants=CANARY,
                    secrets={"DB_URL": SECRET, "FLAGS": PARAMETER},
                    model={"name": "churn", "artifact_uri": "s3://models/churn/v3/"},
                ),
                secrets_kms_key_arns=["arn:aws:kms:us-east-1:123456789012:key/11111111-2222-4333-8444-555555555555"],
            ),
        ),
        "container": lambda: EcsService(
            "churn-ecs",
            EcsServiceArgs(
                profile=profile,
                service=make_service(
                    exposure=public, variants=CANARY, secrets={"DB_URL": SECRET + ":password::", "FLAGS": PARAMETER}
                ),
            ),
        ),
        "kubernetes": lambda: EksService(
            "churn-eks",
            EksServiceArgs(
                profile=profile,
                service=make_service(),
                endpoint_public_access_cidrs=["198.51.100.0/24"],
                admin_principal_arns=[CALLER_ROLE],
            ),
        ),
        "serverless": lambda: LambdaService(
            "churn-fn",
            LambdaServiceArgs(
                profile=profile,
                in_vpc=True,
                stable_version="4",
                service=make_service(
                    image=ECR_IMAGE,
                    variants=ECR_CANARY_VARIANTS,
                    exposure={"public": True, "allowed_principals": [CALLER_ROLE]},
                ),
            ),
        ),
        "ml_platform": lambda: SageMakerEndpoint(
            "churn-sm",
            SageMakerEndpointArgs(
                profile=profile,
                service=make_service(
                    image=ECR_IMAGE,
                    variants=ECR_CANARY_VARIANTS,
                    model={"name": "churn", "artifact_uri": "s3://models/churn/v3/model.tar.gz"},
                ),
            ),
        ),
    }


@pytest.fixture(scope="module")
def built() -> dict[tuple[str, str], Built]:
    plans = {}
    for profile in (DEV, PROD):
        for pattern, program in _programs(profile).items():
            plans[(pattern, profile.name)] = build(program)
    return plans


def documents(plan: Built) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(resource type, resource name, parsed document) of every policy document in the plan."""
    for resource in plan.resources:
        field = DOCUMENT_FIELDS.get(resource.type)
        if field is not None:
            yield resource.type, resource.name, json.loads(resource.inputs[field])


def lint(type_: str, document: dict[str, Any], role_arn: str | None) -> list[tuple[str, str, str]]:
    """parliament's findings as (issue, severity, detail).

    A trust policy has no Resource element (IAM refuses one); parliament requires it, so the copy it sees names
    the role the trust policy protects, which is exactly what the trust policy governs.
    """
    if type_ == "aws:iam/role:Role":
        document = json.loads(json.dumps(document))
        for item in document["Statement"]:
            item["Resource"] = role_arn
    policy = parliament.analyze_policy_string(json.dumps(document))
    return [
        (f.issue, parliament.config.get(f.issue, {}).get("severity", "UNKNOWN"), str(f.detail)) for f in policy.findings
    ]


def test_every_pattern_and_profile_contributes_documents(built):
    for (pattern, profile), plan in built.items():
        kinds = {t for t, _, _ in documents(plan)}
        assert {"aws:iam/role:Role", "aws:kms/key:Key", "aws:s3/bucketPolicy:BucketPolicy"} <= kinds, (
            pattern,
            profile,
            kinds,
        )
    total = sum(len(list(documents(plan))) for plan in built.values())
    assert total >= 70


@pytest.mark.parametrize("profile", ["dev", "prod"])
@pytest.mark.parametrize("pattern", PATTERNS)
def test_parliament_finds_nothing_at_medium_or_above(built, pattern, profile):
    plan = built[(pattern, profile)]
    blocking = []
    for type_, name, document in documents(plan):
        role_arn = plan.named(name).outputs.get("arn") if type_ == "aws:iam/role:Role" else None
        for issue, severity, detail in lint(type_, document, role_arn):
            if severity in BLOCKING:
                blocking.append((name, issue, severity, detail[:200]))
    assert blocking == []


@pytest.mark.parametrize("pattern", PATTERNS)
def test_no_wildcard_action_and_no_needless_wildcard_resource(built, pattern):
    plan = built[(pattern, "prod")]
    for type_, name, document in documents(plan):
        for item in document["Statement"]:
            actions = as_list(item.get("Action", []))
            assert "*" not in actions and "*:*" not in actions, (name, item)
        if type_ == "aws:kms/key:Key":
            # In a key policy, Resource "*" means "this key"; it is the only form a key policy accepts.
            continue
        role_arn = plan.named(name).outputs.get("arn") if type_ == "aws:iam/role:Role" else None
        # parliament reports RESOURCE_STAR only for actions that support resource-level permissions.
        star = [detail for issue, _, detail in lint(type_, document, role_arn) if issue == "RESOURCE_STAR"]
        assert star == [], (name, star)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_key_policies_have_no_wildcard_principal(built, pattern):
    for type_, name, document in documents(built[(pattern, "prod")]):
        if type_ != "aws:kms/key:Key":
            continue
        for item in document["Statement"]:
            principals = [p for value in item["Principal"].values() for p in as_list(value)]
            assert "*" not in principals, (name, item["Sid"])


def test_wildcard_resources_are_only_for_actions_without_resource_level_permissions(built):
    allowed = {
        "ecr:GetAuthorizationToken",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "ec2:DescribeVpcs",
        "ec2:DescribeDhcpOptions",
        "ec2:DescribeSecurityGroups",
    }
    seen = set()
    for plan in built.values():
        for type_, _name, document in documents(plan):
            if type_ != "aws:iam/rolePolicy:RolePolicy":
                continue
            for item in document["Statement"]:
                if item.get("Resource") == "*":
                    seen.update(as_list(item["Action"]))
    assert seen <= allowed
