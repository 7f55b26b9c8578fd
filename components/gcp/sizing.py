"""Sizes GCP accepts: Cloud Run CPU/memory/GPU limits, Compute Engine and Vertex machine types from `resources`."""

from __future__ import annotations

from dataclasses import dataclass

from ..spec import ModelService
from .checks import ServiceSpecError

__all__ = ["CLOUD_RUN_GPU_REGIONS", "MachineSpec", "cloud_run_limits", "machine_spec"]

CLOUD_RUN_CPUS = (1, 2, 4, 6, 8)
CLOUD_RUN_MAX_MEMORY_MIB = 32 * 1024
# Memory above each bound needs at least this many vCPUs (Cloud Run's published minimums).
CLOUD_RUN_MEMORY_FLOORS = ((4096, 2), (8192, 4), (16384, 6), (24576, 8))
# Regions where Cloud Run offers NVIDIA L4 GPUs (Cloud Run "GPU support", 2026).
CLOUD_RUN_GPU_REGIONS = (
    "us-central1",
    "us-east4",
    "europe-west1",
    "europe-west4",
    "asia-southeast1",
    "asia-south1",
)


def cloud_run_limits(service: ModelService, region: str, pattern: str) -> dict[str, str]:
    """The container limits: CPU rounded up to a size Cloud Run offers, memory as given, the GPU if any."""
    resources = service.resources
    cpu = next((c for c in CLOUD_RUN_CPUS if c >= resources.cpu), None)
    if cpu is None:
        raise ServiceSpecError("resources.cpu", f"{pattern} offers at most 8 vCPU (got {resources.cpu})")
    if resources.memory_mib < 512 or resources.memory_mib > CLOUD_RUN_MAX_MEMORY_MIB:
        raise ServiceSpecError(
            "resources.memory_mib", f"{pattern} takes 512 to 32768 MiB per instance (got {resources.memory_mib})"
        )
    for bound, floor in CLOUD_RUN_MEMORY_FLOORS:
        if resources.memory_mib > bound and cpu < floor:
            cpu = next(c for c in CLOUD_RUN_CPUS if c >= floor)
    limits = {"cpu": str(cpu), "memory": f"{resources.memory_mib}Mi"}
    accelerator = resources.accelerator
    if accelerator is not None:
        if accelerator.type != "nvidia-l4" or accelerator.count != 1:
            raise ServiceSpecError(
                "resources.accelerator",
                f"{pattern} offers one NVIDIA L4 GPU per instance (type nvidia-l4, count 1) "
                f"(got {accelerator.type} x{accelerator.count})",
            )
        if resources.cpu < 4 or resources.memory_mib < 16384:
            raise ServiceSpecError(
                "resources",
                f"an L4 GPU on {pattern} needs at least 4 vCPU and 16 GiB (16384 MiB) per instance "
                f"(got cpu {resources.cpu}, memory_mib {resources.memory_mib})",
            )
        if region not in CLOUD_RUN_GPU_REGIONS:
            raise ServiceSpecError(
                "resources.accelerator",
                f"{pattern} offers GPUs in {', '.join(CLOUD_RUN_GPU_REGIONS)} only (the target is in {region})",
            )
        limits["nvidia.com/gpu"] = "1"
    return limits


@dataclass(frozen=True)
class MachineSpec:
    machine_type: str
    compute_accelerator: str | None = None  # Compute Engine accelerator type (nvidia-l4, ...)
    vertex_accelerator: str | None = None  # Vertex AI enum (NVIDIA_L4, ...)
    accelerator_count: int = 0


# (modelport accelerator, Compute type, Vertex enum, machine family builder)
_GPUS = {
    "nvidia-t4": ("nvidia-tesla-t4", "NVIDIA_TESLA_T4"),
    "nvidia-l4": ("nvidia-l4", "NVIDIA_L4"),
    "nvidia-a100": ("nvidia-tesla-a100", "NVIDIA_TESLA_A100"),
    "nvidia-h100": ("nvidia-h100-80gb", "NVIDIA_H100_80GB"),
}
_G2 = {1: (4, 8, 12, 16, 32), 2: (24,), 4: (48,), 8: (96,)}  # g2-standard-N by L4 count
_N2_SIZES = (2, 4, 8, 16, 32, 48, 64, 80, 96, 128)


def machine_spec(service: ModelService, pattern: str) -> MachineSpec:
    """The smallest machine that holds ``resources``: n2-standard (4 GiB/vCPU) or n2-highmem (8 GiB/vCPU),
    n1-standard + T4, g2-standard (L4), a2-highgpu (A100) or a3-highgpu (H100)."""
    resources = service.resources
    accelerator = resources.accelerator
    memory_gib = resources.memory_mib / 1024
    if accelerator is None:
        for family, per_cpu in (("n2-standard", 4), ("n2-highmem", 8)):
            for size in _N2_SIZES:
                if size >= resources.cpu and size * per_cpu >= memory_gib:
                    return MachineSpec(f"{family}-{size}")
        raise ServiceSpecError("resources", f"{pattern}: no n2 machine holds cpu {resources.cpu}, {memory_gib} GiB")
    if accelerator.type not in _GPUS:
        raise ServiceSpecError(
            "resources.accelerator.type",
            f"GCP offers {', '.join(sorted(_GPUS))} (got {accelerator.type}; the A10G is an AWS-only GPU)",
        )
    compute, vertex = _GPUS[accelerator.type]
    count = accelerator.count
    if accelerator.type == "nvidia-t4":
        if count not in (1, 2, 4):
            raise ServiceSpecError("resources.accelerator.count", f"T4 machines take 1, 2 or 4 GPUs (got {count})")
        size = next((s for s in (1, 2, 4, 8, 16, 32, 64, 96) if s >= resources.cpu and s * 3.75 >= memory_gib), None)
        if size is None:
            raise ServiceSpecError("resources", f"{pattern}: no n1-standard machine holds the requested size")
        return MachineSpec(f"n1-standard-{size}", compute, vertex, count)
    if accelerator.type == "nvidia-l4":
        sizes = _G2.get(count)
        if sizes is None:
            raise ServiceSpecError(
                "resources.accelerator.count", f"g2 machines take 1, 2, 4 or 8 L4 GPUs (got {count})"
            )
        size = next((s for s in sizes if s >= resources.cpu and s * 4 >= memory_gib), None)
        if size is None:
            raise ServiceSpecError("resources", f"{pattern}: no g2-standard machine with {count} L4 holds the size")
        return MachineSpec(f"g2-standard-{size}", compute, vertex, count)
    if count not in (1, 2, 4, 8):
        raise ServiceSpecError(
            "resources.accelerator.count", f"{accelerator.type} takes 1, 2, 4 or 8 GPUs (got {count})"
        )
    family = "a2-highgpu" if accelerator.type == "nvidia-a100" else "a3-highgpu"
    cpus = (12 if family == "a2-highgpu" else 26) * count
    if resources.cpu > cpus or memory_gib > cpus * 7:
        raise ServiceSpecError("resources", f"{family}-{count}g has {cpus} vCPU; the requested size does not fit")
    return MachineSpec(f"{family}-{count}g", compute, vertex, count)
