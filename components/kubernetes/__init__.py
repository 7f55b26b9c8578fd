"""In-cluster workload for any Kubernetes cluster (needs the `kubernetes` extra: pulumi-kubernetes)."""

try:
    from .workload import ModelWorkload, ModelWorkloadArgs
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("modelport.kubernetes needs pulumi-kubernetes: pip install 'modelport[kubernetes]'") from exc

__all__ = ["ModelWorkload", "ModelWorkloadArgs"]
