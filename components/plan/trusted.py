"""Trusted inputs: the bring-your-own values a plan uses but cannot judge (roles, AMIs, clusters, keys, ACLs).

The guardrails see only what the stack creates. A role, AMI, cluster, key or web ACL named by ARN, id or name
is used as it is; its policy, contents or configuration stay invisible to modelport and its policy pack. The plan
report lists them so reviewers know what the guardrails did not judge.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["TRUSTED_OPTIONS", "trusted_inputs"]

# Target options (and the ``workload`` options nested in them) whose value modelport uses without seeing inside.
TRUSTED_OPTIONS: dict[str, str] = {
    "instance_role_arn": "an IAM role: modelport attaches nothing to it and cannot see its policies",
    "workload_role_arn": "an IAM role: modelport cannot see its policies",
    "role_arn": "an IAM role: modelport cannot see its policies",
    "task_role_arn": "an IAM role: modelport cannot see its policies",
    "execution_role_arn": "an IAM role: modelport cannot see its policies",
    "ami": "an AMI: modelport cannot see what it contains",
    "cluster_arn": "an ECS cluster: modelport cannot see its settings",
    "cluster_name": "an EKS cluster: modelport cannot see its endpoint access, encryption, logging or nodes",
    "kms_key_arn": "a KMS key: modelport cannot see its key policy or rotation",
    "secrets_kms_key_arns": "KMS keys: modelport cannot see their key policies",
    "web_acl_arn": "a WAF web ACL: modelport cannot see its rules",
    "repository_arn": "an ECR repository: modelport cannot see its scanning, tag mutability or policy",
    "admin_principal_arns": "IAM principals granted cluster-admin: modelport cannot see who can assume them",
    "alarm_actions": "SNS topics: modelport cannot see who is subscribed",
    "context": "a kubeconfig context: modelport cannot see the cluster it points at",
}


def _entries(options: Mapping[str, Any], path: str) -> Iterator[dict[str, Any]]:
    for key, value in options.items():
        if key == "workload" and isinstance(value, Mapping):
            yield from _entries(value, f"{path}.workload")
        elif key in TRUSTED_OPTIONS and value not in (None, "", [], ()):
            values = [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]
            for item in values:
                yield {"key": f"{path}.{key}", "value": item, "why": TRUSTED_OPTIONS[key]}


def trusted_inputs(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The trusted inputs of a stack's ``modelport:targets`` config, in target order."""
    targets = config.get("modelport:targets")
    if not isinstance(targets, list):
        return []
    found: list[dict[str, Any]] = []
    for index, target in enumerate(targets):
        options = target.get("options") if isinstance(target, Mapping) else None
        if isinstance(options, Mapping):
            found += _entries(options, f"modelport:targets[{index}].options")
    return found
