"""IAM building blocks: service agents of the project, member strings, grants on one resource at a time."""

from __future__ import annotations

import pulumi

__all__ = ["SERVICE_AGENTS", "service_agent", "sa_member"]

# The Google-managed service agent of each API that encrypts with the workload's key (service-<number>@<domain>).
SERVICE_AGENTS = {
    "run": "serverless-robot-prod",
    "artifactregistry": "gcp-sa-artifactregistry",
    "compute": "compute-system",
    "aiplatform": "gcp-sa-aiplatform",
    "storage": "gs-project-accounts",
    "container": "container-engine-robot",
    "iap": "gcp-sa-iap",
}


def service_agent(project_number: pulumi.Input[str], api: str) -> pulumi.Output[str]:
    """``serviceAccount:service-<number>@<agent domain>.iam.gserviceaccount.com`` for ``api``."""
    return pulumi.Output.concat(
        "serviceAccount:service-", project_number, "@", SERVICE_AGENTS[api], ".iam.gserviceaccount.com"
    )


def sa_member(email: pulumi.Input[str]) -> pulumi.Output[str]:
    return pulumi.Output.concat("serviceAccount:", email)
