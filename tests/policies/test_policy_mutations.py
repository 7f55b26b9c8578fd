"""Mutation test: one insecure change to a clean stack config makes `modelport plan` exit 1 naming the rule."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from modelport.cli import main
from modelport.plan.runner import plan_stack

REPO = Path(__file__).resolve().parents[2]
STACKS = REPO / "stacks"
# A production baseline for the AWS patterns stacks/Pulumi.aws-prod.yaml does not cover.
EXTRA = Path(__file__).resolve().parent / "stacks"

TAGGED = "registry.example.com/ml/churn:1.4.2"
GHCR_TAGGED = "ghcr.io/acme-ml/churn-serving:2.0"
ECR_TAGGED = "123456789012.dkr.ecr.us-east-1.amazonaws.com/churn-serving:2.0"
AR_TAGGED = "europe-west4-docker.pkg.dev/acme-ml-prod/serving/churn-serving:2.0"
ACR_TAGGED = "churnml.azurecr.io/churn-serving:2.0"


def canary(image: str) -> list[dict[str, Any]]:
    return [{"name": "stable", "weight": 90}, {"name": "canary", "weight": 10, "image": image}]


@dataclass(frozen=True)
class Mutation:
    """One insecure change: a single --set override of a clean stack, and the rules that must refuse it."""

    label: str
    stack: str
    key: str
    value: Any
    rules: tuple[str, ...]
    stack_dir: Path = STACKS


def m(label: str, stack: str, key: str, value: Any, *rules: str, stack_dir: Path = STACKS) -> Mutation:
    return Mutation(label, stack, f"modelport:{key}", value, rules, stack_dir)


MUTATIONS: list[Mutation] = [
    # Kubernetes target (any existing cluster)
    m("image by tag", "prod", "service.image", TAGGED, "k8s-image-digest"),
    m("canary image by tag", "prod", "service.variants", canary(TAGGED), "k8s-image-digest"),
    m(
        "zone spread only preferred in prod",
        "prod",
        "targets[0].options.zone_spread",
        "ScheduleAnyway",
        "k8s-topology-spread",
    ),
    m(
        "workload in the default namespace",
        "prod",
        "targets[0].options.namespace",
        "default",
        "k8s-no-default-namespace",
    ),
    m("default namespace in staging", "staging", "targets[0].options.namespace", "default", "k8s-no-default-namespace"),
    m("default namespace in dev", "dev", "targets[0].options.namespace", "default", "k8s-no-default-namespace"),
    # AWS prod: Fargate (targets[0]) and EKS (targets[1])
    m(
        "ECS encryption turned off",
        "aws-prod",
        "targets[0].options.encryption",
        "provider-managed",
        "aws-ecr-cmk-encryption",
        "aws-log-group-cmk",
        "aws-s3-bucket-cmk-encryption",
    ),
    m("ECS over two zones in prod", "aws-prod", "targets[0].options.zones", 2, "aws-ecs-multi-az"),
    m(
        "ECS logs kept 14 days in prod",
        "aws-prod",
        "targets[0].options.log_retention_days",
        14,
        "aws-log-retention-prod",
    ),
    m("ECS VPC without flow logs", "aws-prod", "targets[0].options.flow_logs", False, "aws-vpc-flow-logs"),
    m(
        "ECS load balancer without TLS in prod",
        "aws-prod",
        "targets[0].options.certificate_domain",
        None,
        "aws-lb-listener-https-only",
    ),
    m(
        "image by tag on ECS and EKS",
        "aws-prod",
        "service.image",
        GHCR_TAGGED,
        "aws-ecs-image-digest",
        "k8s-image-digest",
    ),
    m(
        "canary by tag on ECS and EKS",
        "aws-prod",
        "service.variants",
        canary(GHCR_TAGGED),
        "aws-ecs-image-digest",
        "k8s-image-digest",
    ),
    # ECS keeps its own floor of two tasks; the EKS workload follows min_replicas.
    m(
        "min_replicas 1 on ECS and EKS in prod",
        "aws-prod",
        "service.scaling.min_replicas",
        1,
        "k8s-min-replicas-prod",
        "aws-min-capacity-prod",
    ),
    m(
        "EKS secrets encryption off",
        "aws-prod",
        "targets[1].options.encryption",
        "provider-managed",
        "aws-eks-secrets-encryption",
    ),
    m("EKS nodes over two zones in prod", "aws-prod", "targets[1].options.zones", 2, "aws-eks-node-group-multi-az"),
    m("EKS VPC without flow logs", "aws-prod", "targets[1].options.flow_logs", False, "aws-vpc-flow-logs"),
    m(
        "EKS workload spread only preferred",
        "aws-prod",
        "targets[1].options.workload.zone_spread",
        "ScheduleAnyway",
        "k8s-topology-spread",
    ),
    m(
        "EKS workload in the default namespace",
        "aws-prod",
        "targets[1].options.workload.namespace",
        "default",
        "k8s-no-default-namespace",
    ),
    m(
        "EKS logs kept 30 days in prod",
        "aws-prod",
        "targets[1].options.log_retention_days",
        30,
        "aws-log-retention-prod",
    ),
    # AWS dev: EC2 (targets[0]), Lambda (targets[1]), SageMaker (targets[2])
    m(
        "EC2 disks without a CMK",
        "aws-dev",
        "targets[0].options.encryption",
        "provider-managed",
        "aws-ebs-cmk-encryption",
    ),
    m("Lambda without a CMK", "aws-dev", "targets[1].options.encryption", "provider-managed", "aws-lambda-env-cmk"),
    m(
        "SageMaker without a CMK",
        "aws-dev",
        "targets[2].options.encryption",
        "provider-managed",
        "aws-sagemaker-endpoint-cmk",
    ),
    m("plain-HTTP dev stack promoted to prod", "aws-dev", "environment", "prod", "aws-lb-listener-https-only"),
    # AWS prod baseline for EC2, Lambda and SageMaker
    m(
        "EC2 over two zones in prod",
        "aws-patterns-prod",
        "targets[0].options.zones",
        2,
        "aws-asg-multi-az",
        stack_dir=EXTRA,
    ),
    # SageMaker keeps its own floor of two instances; the Auto Scaling group follows min_replicas.
    m(
        "min_replicas 1 for EC2 in prod",
        "aws-patterns-prod",
        "service.scaling.min_replicas",
        1,
        "aws-min-capacity-prod",
        stack_dir=EXTRA,
    ),
    m(
        "SageMaker data capture off in prod",
        "aws-patterns-prod",
        "targets[2].options.data_capture_percent",
        0,
        "aws-sagemaker-data-capture",
        stack_dir=EXTRA,
    ),
    m(
        "image by tag on EC2, Lambda and SageMaker",
        "aws-patterns-prod",
        "service.image",
        ECR_TAGGED,
        "aws-vm-image-digest",
        "aws-lambda-image-digest",
        "aws-sagemaker-image-digest",
        stack_dir=EXTRA,
    ),
    m(
        "EC2 load balancer without TLS in prod",
        "aws-patterns-prod",
        "targets[0].options.certificate_arn",
        None,
        "aws-lb-listener-https-only",
        stack_dir=EXTRA,
    ),
    m(
        "SageMaker logs kept 7 days in prod",
        "aws-patterns-prod",
        "targets[2].options.log_retention_days",
        7,
        "aws-log-retention-prod",
        stack_dir=EXTRA,
    ),
    m(
        "Lambda without a CMK in prod",
        "aws-patterns-prod",
        "targets[1].options.encryption",
        "provider-managed",
        "aws-lambda-env-cmk",
        stack_dir=EXTRA,
    ),
    m(
        "EC2 VPC without flow logs in prod",
        "aws-patterns-prod",
        "targets[0].options.flow_logs",
        False,
        "aws-vpc-flow-logs",
        stack_dir=EXTRA,
    ),
    # GCP prod (stacks/Pulumi.gcp-prod.yaml): vm, container, kubernetes, serverless, ml_platform in that order
    m(
        "MIG without CMEK",
        "gcp-prod",
        "targets[0].options.encryption",
        "google-managed",
        "gcp-vm-disk-cmek",
        "gcp-artifact-registry-cmek",
        "gcp-bucket-hardening",
    ),
    m(
        "Cloud Run without Binary Authorization in prod",
        "gcp-prod",
        "targets[1].options.binary_authorization",
        "off",
        "gcp-cloud-run-binary-authorization",
    ),
    m(
        "GKE Secrets without CMEK",
        "gcp-prod",
        "targets[2].options.encryption",
        "google-managed",
        "gcp-gke-database-encryption",
    ),
    m(
        "Cloud Run scaled to zero without CMEK",
        "gcp-prod",
        "targets[3].options.encryption",
        "google-managed",
        "gcp-cloud-run-cmek",
    ),
    m(
        "Vertex without request-response logging in prod",
        "gcp-prod",
        "targets[4].options.logging_sample_rate",
        0,
        "gcp-vertex-request-logging",
    ),
    m(
        "GCP image by tag in prod",
        "gcp-prod",
        "service.image",
        AR_TAGGED,
        "gcp-vm-image-digest",
        "gcp-cloud-run-image-digest",
        "gcp-vertex-model-image",
        "k8s-image-digest",
    ),
    # Azure prod: Container Apps (targets[0]) and Azure ML (targets[1])
    m(
        "Container Apps and Azure ML image by tag",
        "azure-prod",
        "service.image",
        ACR_TAGGED,
        "azure-container-app-image-digest",
        "azure-ml-environment-image-digest",
    ),
    m(
        "Azure ML logs kept 90 days in prod",
        "azure-prod",
        "targets[1].options.log_retention_days",
        90,
        "azure-log-analytics-retention",
    ),
    # Azure prod baseline for the VM Scale Set, Functions and AKS
    m(
        "VM Scale Set disks without a customer-managed key",
        "azure-patterns-prod",
        "targets[0].options.encryption",
        "provider-managed",
        "azure-vmss-disk-cmk",
        stack_dir=EXTRA,
    ),
    m(
        "Functions host storage without a customer-managed key",
        "azure-patterns-prod",
        "targets[1].options.encryption",
        "provider-managed",
        "azure-storage-account-cmk",
        stack_dir=EXTRA,
    ),
    m(
        "AKS workload and VM Scale Set image by tag",
        "azure-patterns-prod",
        "service.image",
        ACR_TAGGED,
        "k8s-image-digest",
        "azure-vmss-image-digest",
        stack_dir=EXTRA,
    ),
]


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[mutation.label for mutation in MUTATIONS])
def test_insecure_change_is_refused(mutation: Mutation) -> None:
    plan = plan_stack(mutation.stack, mutation.stack_dir, overrides=[(mutation.key, mutation.value)])
    mandatory = {v.policy for v in plan.policy.mandatory}
    missing = [rule for rule in mutation.rules if rule not in mandatory]
    assert not missing, f"not refused by {missing}; mandatory violations: {sorted(mandatory)}"


def test_there_are_at_least_thirty_distinct_mutations() -> None:
    assert len(MUTATIONS) >= 30
    assert len({(x.stack, x.key, str(x.value)) for x in MUTATIONS}) == len(MUTATIONS)


def test_the_mutation_baselines_are_clean() -> None:
    for stack_dir, stack in {(x.stack_dir, x.stack) for x in MUTATIONS}:
        plan = plan_stack(stack, stack_dir)
        assert not plan.policy.mandatory, f"{stack}: {[(v.policy, v.message) for v in plan.policy.mandatory]}"
        for mutation in MUTATIONS:
            if mutation.stack == stack:
                assert not set(mutation.rules) & {v.policy for v in plan.policy.mandatory}, mutation.label


def test_the_cli_exits_1_and_names_the_rule(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["plan", "prod", "--stack-dir", str(STACKS), "--set", f"modelport:service.image={TAGGED}"])
    out = capsys.readouterr().out
    assert code == 1
    assert "k8s-image-digest" in out and "mandatory" in out
    assert main(["plan", "prod", "--stack-dir", str(STACKS)]) == 0
