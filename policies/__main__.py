"""The CrossGuard entry point: builds the modelport PolicyPack from rules/ and serves it (blocks until stopped).

Keep this file to this one statement. Constructing a PolicyPack starts the analyzer's gRPC server, so the rules
live in the importable ``rules`` package, which tests and ``modelport plan`` use without a server.
"""

from pulumi_policy import EnforcementLevel, PolicyPack
from rules import all_policies

PolicyPack(
    name="modelport",
    description="modelport guardrails: encryption, TLS, hardening, least privilege, availability, autoscaling, "
    "logging, WAF, supply chain and Pod Security for model-serving stacks on AWS, GCP, Azure and "
    "Kubernetes.",
    enforcement_level=EnforcementLevel.ADVISORY,
    policies=all_policies(),
)
