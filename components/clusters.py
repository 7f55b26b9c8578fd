"""What belongs to a Kubernetes cluster rather than to a workload: system and add-on namespaces (no SDK needed)."""

from __future__ import annotations

__all__ = ["SYSTEM_NAMESPACES", "SYSTEM_NAMESPACE_PREFIXES", "system_namespace"]

# Namespaces that belong to the cluster or its add-ons: a deny-all NetworkPolicy there cuts off CoreDNS, the
# ingress controller or monitoring. The ingress and metrics namespaces of the target are refused too.
SYSTEM_NAMESPACES = frozenset(
    {
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "ingress-nginx",
        "monitoring",
        "cert-manager",
        "istio-system",
        "linkerd",
        "gatekeeper-system",
        "kyverno",
        "calico-system",
        "tigera-operator",
        "karpenter",
        "amazon-cloudwatch",
        "aws-observability",
        "gmp-system",
        "gke-managed-system",
        "app-routing-system",
    }
)
SYSTEM_NAMESPACE_PREFIXES = ("kube-", "gke-", "aks-", "openshift-")


def system_namespace(name: str) -> bool:
    return name in SYSTEM_NAMESPACES or name.startswith(SYSTEM_NAMESPACE_PREFIXES)
