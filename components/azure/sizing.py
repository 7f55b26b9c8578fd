"""Sizes Azure offers: VM sizes (with the features a pattern needs), Container Apps CPU/memory pairs, ML instances."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..spec import ModelService
from ..validation import SpecError

__all__ = [
    "VM_SIZES",
    "VmSize",
    "check_vm_size",
    "container_app_size",
    "pick_vm_size",
]


@dataclass(frozen=True)
class VmSize:
    name: str
    vcpus: int
    memory_gib: float
    gpus: int = 0
    gpu: str | None = None
    # Features some patterns require: encryption at host, Trusted Launch (Gen2), premium SSD, ephemeral OS disk
    # (the cache or temp disk in GiB that holds it; 0 when the size has none).
    encryption_at_host: bool = True
    trusted_launch: bool = True
    premium_storage: bool = True
    ephemeral_os_gib: int = 0


# Current general-purpose, memory-optimised and GPU sizes; "s" sizes take premium SSD. From Azure's size pages.
VM_SIZES = {
    s.name: s
    for s in (
        VmSize("Standard_D2s_v5", 2, 8),
        VmSize("Standard_D4s_v5", 4, 16),
        VmSize("Standard_D8s_v5", 8, 32),
        VmSize("Standard_D16s_v5", 16, 64),
        VmSize("Standard_D32s_v5", 32, 128),
        VmSize("Standard_D2ds_v5", 2, 8, ephemeral_os_gib=75),
        VmSize("Standard_D4ds_v5", 4, 16, ephemeral_os_gib=150),
        VmSize("Standard_D8ds_v5", 8, 32, ephemeral_os_gib=300),
        VmSize("Standard_D16ds_v5", 16, 64, ephemeral_os_gib=600),
        VmSize("Standard_E2s_v5", 2, 16),
        VmSize("Standard_E4s_v5", 4, 32),
        VmSize("Standard_E8s_v5", 8, 64),
        VmSize("Standard_E16s_v5", 16, 128),
        VmSize("Standard_NC4as_T4_v3", 4, 28, gpus=1, gpu="nvidia-t4", ephemeral_os_gib=180),
        VmSize("Standard_NC8as_T4_v3", 8, 56, gpus=1, gpu="nvidia-t4", ephemeral_os_gib=360),
        VmSize("Standard_NC64as_T4_v3", 64, 440, gpus=4, gpu="nvidia-t4", ephemeral_os_gib=2880),
        VmSize("Standard_NV36ads_A10_v5", 36, 440, gpus=1, gpu="nvidia-a10g", ephemeral_os_gib=1400),
        VmSize("Standard_NC24ads_A100_v4", 24, 220, gpus=1, gpu="nvidia-a100", ephemeral_os_gib=1123),
        VmSize("Standard_NC48ads_A100_v4", 48, 440, gpus=2, gpu="nvidia-a100", ephemeral_os_gib=2246),
        VmSize("Standard_NC96ads_A100_v4", 96, 880, gpus=4, gpu="nvidia-a100", ephemeral_os_gib=4492),
        VmSize("Standard_NC40ads_H100_v5", 40, 320, gpus=1, gpu="nvidia-h100", ephemeral_os_gib=3576),
        # Older sizes kept to refuse them by name: no encryption at host, no Trusted Launch, no premium SSD.
        VmSize("Standard_A2_v2", 2, 4, encryption_at_host=False, trusted_launch=False, premium_storage=False),
        VmSize("Standard_D2_v3", 2, 8, encryption_at_host=True, trusted_launch=True, premium_storage=False),
        VmSize("Standard_NC6", 6, 56, gpus=1, gpu="nvidia-k80", encryption_at_host=False, trusted_launch=False),
    )
}
# Kubelet, system pods and the OS need about this much of each node.
RESERVED_CPU = 0.5
RESERVED_MEMORY_GIB = 1.5


def check_vm_size(path: str, name: str, *, needs: tuple[str, ...] = ("encryption_at_host", "trusted_launch")) -> VmSize:
    """A known size with every feature in ``needs``; unknown sizes are refused rather than guessed about."""
    size = VM_SIZES.get(name) if isinstance(name, str) else None
    if size is None:
        known = ", ".join(n for n, s in VM_SIZES.items() if all(getattr(s, f) for f in needs))
        raise SpecError(
            path, f"must be a VM size modelport knows to support {', '.join(needs)}: {known} (got {name!r})"
        )
    for feature in needs:
        if not getattr(size, feature):
            raise SpecError(path, f"{name} does not support {feature.replace('_', ' ')}, which this pattern requires")
    return size


def pick_vm_size(service: ModelService, path: str, *, reserve: bool = False, needs: tuple[str, ...] = ()) -> VmSize:
    """The smallest known size that fits one replica (with the node reserve when ``reserve``)."""
    res = service.resources
    cpu = res.cpu + (RESERVED_CPU if reserve else 0)
    memory = res.memory_mib / 1024 + (RESERVED_MEMORY_GIB if reserve else 1)
    wanted = ("encryption_at_host", "trusted_launch", "premium_storage", *needs)
    for size in sorted(VM_SIZES.values(), key=lambda s: (s.vcpus, s.memory_gib)):
        if not all(getattr(size, f) for f in wanted):
            continue
        if res.accelerator is not None and (size.gpu != res.accelerator.type or size.gpus < res.accelerator.count):
            continue
        if res.accelerator is None and size.gpus:
            continue
        if size.vcpus >= cpu and size.memory_gib >= memory:
            return size
    raise SpecError(path, "no VM size modelport knows fits resources; name one with the vm_size option")


# Container Apps (consumption and Functions on Container Apps): 0.25 to 4 vCPU in 0.25 steps, 2 GiB per vCPU.
def container_app_size(service: ModelService, path: str) -> tuple[float, str]:
    res = service.resources
    cpu = max(0.25, math.ceil(max(res.cpu, res.memory_mib / 2048) * 4) / 4)
    if cpu > 4:
        raise SpecError(
            path,
            f"Container Apps consumption replicas hold at most 4 vCPU and 8 GiB (resources ask for {res.cpu} vCPU "
            f"and {res.memory_mib} MiB); use a dedicated workload profile, or the kubernetes or vm pattern",
        )
    return cpu, f"{cpu * 2:g}Gi"


@dataclass(frozen=True)
class MlInstance:
    name: str
    vcpus: int
    memory_gib: float
    gpus: int = 0
    gpu: str | None = None


# Instance types Azure ML managed online deployments accept (a subset; others by name with ml_instance_type).
ML_INSTANCES = {
    i.name: i
    for i in (
        MlInstance("Standard_DS2_v2", 2, 7),
        MlInstance("Standard_F4s_v2", 4, 8),
        MlInstance("Standard_DS3_v2", 4, 14),
        MlInstance("Standard_E4s_v3", 4, 32),
        MlInstance("Standard_F8s_v2", 8, 16),
        MlInstance("Standard_DS4_v2", 8, 28),
        MlInstance("Standard_E8s_v3", 8, 64),
        MlInstance("Standard_F16s_v2", 16, 32),
        MlInstance("Standard_DS5_v2", 16, 56),
        MlInstance("Standard_E16s_v3", 16, 128),
        MlInstance("Standard_NC4as_T4_v3", 4, 28, 1, "nvidia-t4"),
        MlInstance("Standard_NC8as_T4_v3", 8, 56, 1, "nvidia-t4"),
        MlInstance("Standard_NC24ads_A100_v4", 24, 220, 1, "nvidia-a100"),
        MlInstance("Standard_NC48ads_A100_v4", 48, 440, 2, "nvidia-a100"),
        MlInstance("Standard_NC40ads_H100_v5", 40, 320, 1, "nvidia-h100"),
    )
}
# Azure ML reserves part of each node for its agents; a deployment can use about 80% of it.
ML_USABLE = 0.8


def pick_ml_instance(service: ModelService, path: str) -> MlInstance:
    res = service.resources
    for inst in sorted(ML_INSTANCES.values(), key=lambda i: (i.vcpus, i.memory_gib)):
        if res.accelerator is not None and (inst.gpu != res.accelerator.type or inst.gpus < res.accelerator.count):
            continue
        if res.accelerator is None and inst.gpus:
            continue
        if inst.vcpus * ML_USABLE >= res.cpu and inst.memory_gib * 1024 * ML_USABLE >= res.memory_mib:
            return inst
    raise SpecError(path, "no Azure ML instance type modelport knows fits resources; name one with ml_instance_type")
