"""IAM building blocks: policy documents as JSON Outputs, service trust policies, and roles with inline policies."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from ..invokes import required
from .naming import physical_name

__all__ = [
    "AwsContext",
    "policy_document",
    "role_with_policy",
    "service_trust",
    "statement",
]

POLICY_VERSION = "2012-10-17"


@dataclass(frozen=True)
class AwsContext:
    """Account, partition, region and URL suffix of the provider a component runs with."""

    account_id: pulumi.Output[str]
    partition: pulumi.Output[str]
    region: pulumi.Output[str]
    dns_suffix: pulumi.Output[str]

    @classmethod
    def lookup(cls, parent: pulumi.Resource) -> AwsContext:
        invoke = pulumi.InvokeOutputOptions(parent=parent)
        caller = aws.get_caller_identity_output(opts=invoke)
        partition = aws.get_partition_output(opts=invoke)
        region = aws.get_region_output(opts=invoke)
        return cls(
            account_id=required(caller, "aws:index/getCallerIdentity:getCallerIdentity", "account_id"),
            partition=required(partition, "aws:index/getPartition:getPartition", "partition"),
            region=required(region, "aws:index/getRegion:getRegion", "region"),
            dns_suffix=required(partition, "aws:index/getPartition:getPartition", "dns_suffix"),
        )

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> pulumi.Output[str]:
        """``arn:<partition>:<service>:<region>:<account>:<resource>``; ``resource`` may hold Outputs via concat."""
        return pulumi.Output.concat(
            "arn:",
            self.partition,
            ":",
            service,
            ":",
            self.region if region else "",
            ":",
            self.account_id if account else "",
            ":",
            resource,
        )

    def service_principal(self, service: str) -> pulumi.Output[str]:
        """``<service>.amazonaws.com`` (``.amazonaws.com.cn`` in China partitions)."""
        return pulumi.Output.concat(service, ".", self.dns_suffix)


def statement(
    sid: str,
    actions: Sequence[str],
    resources: Sequence[pulumi.Input[str]] | pulumi.Input[str] | None = None,
    *,
    principal: Mapping[str, Any] | None = None,
    condition: Mapping[str, Any] | None = None,
    effect: str = "Allow",
) -> dict[str, Any]:
    """One statement, written out in full. ``resources`` None means a trust statement (no Resource)."""
    body: dict[str, Any] = {"Sid": sid, "Effect": effect}
    if principal is not None:
        body["Principal"] = dict(principal)
    body["Action"] = list(actions) if len(actions) > 1 else actions[0]
    if resources is not None:
        body["Resource"] = resources if isinstance(resources, (str, pulumi.Output)) else list(resources)
    if condition:
        body["Condition"] = dict(condition)
    return body


def policy_document(statements: Sequence[Mapping[str, Any]]) -> pulumi.Output[str]:
    """A policy JSON document; statements may hold Outputs (ARNs) anywhere."""
    return pulumi.Output.json_dumps({"Version": POLICY_VERSION, "Statement": list(statements)})


def service_trust(
    ctx: AwsContext,
    service: str,
    *,
    extra_actions: Sequence[str] = (),
    condition: Mapping[str, Any] | None = None,
) -> pulumi.Output[str]:
    """A role trust policy for one AWS service principal, with confused-deputy conditions where supported."""
    return policy_document(
        [
            statement(
                "AssumeBy" + "".join(part.capitalize() for part in service.replace("-", ".").split(".")),
                ["sts:AssumeRole", *extra_actions],
                principal={"Service": ctx.service_principal(service)},
                condition=condition,
            )
        ]
    )


def role_with_policy(
    name: str,
    *,
    base_name: str,
    trust: pulumi.Input[str],
    statements: Sequence[Mapping[str, Any]],
    description: str,
    managed_policy_arns: Sequence[pulumi.Input[str]] = (),
    parent: pulumi.Resource,
    depends_on: Sequence[pulumi.Resource] = (),
) -> tuple[aws.iam.Role, aws.iam.RolePolicy | None]:
    """A role (name prefixed from ``base_name``) with one inline least-privilege policy and managed attachments."""
    opts = pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on))
    role = aws.iam.Role(
        name,
        name_prefix=physical_name(base_name, 37, suffix="-"),
        assume_role_policy=trust,
        description=description,
        max_session_duration=3600,
        opts=opts,
    )
    policy = None
    if statements:
        policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=role.id,
            name="least-privilege",
            policy=policy_document(statements),
            opts=pulumi.ResourceOptions(parent=parent),
        )
    for index, arn in enumerate(managed_policy_arns):
        aws.iam.RolePolicyAttachment(
            f"{name}-managed-{index}",
            role=role.name,
            policy_arn=arn,
            opts=pulumi.ResourceOptions(parent=parent),
        )
    return role, policy
