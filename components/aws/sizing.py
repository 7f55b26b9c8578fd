"""Compute sizing on AWS: instance shapes for EC2, EKS and SageMaker, Fargate task sizes, Lambda limits."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..spec import ModelService
from ..validation import SpecError
from .checks import ServiceSpecError

__all__ = [
    "EC2_SHAPES",
    "FARGATE_SIZES",
    "LAMBDA_MAX_MEMORY_MB",
    "LAMBDA_MAX_VCPUS",
    "NODE_RESERVED_CPU",
    "SAGEMAKER_SHAPES",
    "InstanceShape",
    "check_fargate_size",
    "check_instance_type",
    "fargate_size",
    "has_local_nvme",
    "instance_shape",
    "is_arm_instance",
    "pick_instance",
]

# Memory an instance keeps for the OS, the container runtime and agents, beyond what the model server uses.
HEADROOM_MIB = 1024
# vCPU a Kubernetes node keeps for the kubelet, the runtime and the DaemonSets.
NODE_RESERVED_CPU = 0.5
LAMBDA_MAX_MEMORY_MB = 10_240
LAMBDA_MAX_VCPUS = 6


@dataclass(frozen=True)
class InstanceShape:
    name: str
    vcpus: int
    memory_gib: float
    gpus: int = 0
    accelerator: str | None = None

    def fits(self, cpu: float, memory_mib: int, reserve_cpu: float = 0.0) -> bool:
        return self.vcpus >= cpu + reserve_cpu and self.memory_gib * 1024 >= memory_mib + HEADROOM_MIB


def _family(
    prefix: str, family: str, sizes: Sequence[tuple[str, int, float, int]], accelerator: str | None = None
) -> list[InstanceShape]:
    return [
        InstanceShape(f"{prefix}{family}.{size}", vcpus, mem, gpus, accelerator) for size, vcpus, mem, gpus in sizes
    ]


# vCPUs, memory (GiB) and GPUs as published on the EC2 and SageMaker instance-type pages.
_M7I = [
    ("large", 2, 8, 0),
    ("xlarge", 4, 16, 0),
    ("2xlarge", 8, 32, 0),
    ("4xlarge", 16, 64, 0),
    ("8xlarge", 32, 128, 0),
    ("12xlarge", 48, 192, 0),
    ("16xlarge", 64, 256, 0),
    ("24xlarge", 96, 384, 0),
    ("48xlarge", 192, 768, 0),
]
_M5 = [
    ("large", 2, 8, 0),
    ("xlarge", 4, 16, 0),
    ("2xlarge", 8, 32, 0),
    ("4xlarge", 16, 64, 0),
    ("12xlarge", 48, 192, 0),
    ("24xlarge", 96, 384, 0),
]
_G4DN = [
    ("xlarge", 4, 16, 1),
    ("2xlarge", 8, 32, 1),
    ("4xlarge", 16, 64, 1),
    ("8xlarge", 32, 128, 1),
    ("12xlarge", 48, 192, 4),
    ("16xlarge", 64, 256, 1),
]
_G5_G6 = [
    ("xlarge", 4, 16, 1),
    ("2xlarge", 8, 32, 1),
    ("4xlarge", 16, 64, 1),
    ("8xlarge", 32, 128, 1),
    ("12xlarge", 48, 192, 4),
    ("16xlarge", 64, 256, 1),
    ("24xlarge", 96, 384, 4),
    ("48xlarge", 192, 768, 8),
]
_P4D = [("24xlarge", 96, 1152, 8)]
_P5 = [("48xlarge", 192, 2048, 8)]


def _catalog(prefix: str, cpu_family: str, cpu_sizes: Sequence[tuple[str, int, float, int]]) -> list[InstanceShape]:
    return (
        _family(prefix, cpu_family, cpu_sizes)
        + _family(prefix, "g4dn", _G4DN, "nvidia-t4")
        + _family(prefix, "g5", _G5_G6, "nvidia-a10g")
        + _family(prefix, "g6", _G5_G6, "nvidia-l4")
        + _family(prefix, "p4d", _P4D, "nvidia-a100")
        + _family(prefix, "p5", _P5, "nvidia-h100")
    )


EC2_SHAPES = _catalog("", "m7i", _M7I)
SAGEMAKER_SHAPES = _catalog("ml.", "m5", _M5)
_SHAPES = {shape.name: shape for shape in EC2_SHAPES + SAGEMAKER_SHAPES}
GPU_FAMILIES = {"g4dn", "g4ad", "g5", "g5g", "g6", "g6e", "gr6", "p3", "p3dn", "p4d", "p4de", "p5", "p5e", "p5en"}
EC2_TYPE = r"[a-z][a-z0-9-]*\.[a-z0-9]+"
SAGEMAKER_TYPE = r"ml\.[a-z][a-z0-9-]*\.[a-z0-9]+"


def instance_shape(name: str) -> InstanceShape | None:
    """The known shape of an instance type, or None for a type outside the built-in catalog."""
    return _SHAPES.get(name)


def _family_of(instance_type: str) -> str:
    return instance_type.removeprefix("ml.").split(".")[0]


def is_arm_instance(instance_type: str) -> bool:
    """Graviton families carry a ``g`` after the generation digit (m7g, c7gn, r8g; not g5 or g4dn)."""
    return re.fullmatch(r"[a-z]+\d+g[a-z]*", _family_of(instance_type)) is not None


def has_local_nvme(instance_type: str) -> bool:
    """Instance families with local NVMe storage, which SageMaker encrypts in hardware and refuses a KMS key for."""
    family = _family_of(instance_type)
    return family in GPU_FAMILIES or re.fullmatch(r"[a-z]+\d+[a-z]*d[a-z]*", family) is not None


def pick_instance(
    service: ModelService, shapes: Sequence[InstanceShape], option: str, *, reserve_cpu: float = 0.0
) -> InstanceShape:
    """The smallest catalog shape that runs one replica: enough vCPUs (plus ``reserve_cpu`` for node agents),
    memory with headroom, and the GPUs asked."""
    res = service.resources
    accel = res.accelerator
    fitting = [
        s
        for s in shapes
        if s.fits(res.cpu, res.memory_mib, reserve_cpu)
        and (
            (accel is None and s.gpus == 0)
            or (accel is not None and s.accelerator == accel.type and s.gpus >= accel.count)
        )
    ]
    if not fitting:
        wanted = f"{res.cpu} vCPU, {res.memory_mib} MiB" + (f", {accel.count}x {accel.type}" if accel else "")
        raise ServiceSpecError(
            "resources",
            f"no built-in instance type fits one replica ({wanted}, plus {HEADROOM_MIB} MiB headroom); "
            f"lower the request or set the target option {option}",
        )
    return min(fitting, key=lambda s: (s.gpus, s.vcpus, s.memory_gib))


def check_instance_type(
    path: str, instance_type: str, service: ModelService, *, sagemaker: bool, reserve_cpu: float = 0.0
) -> None:
    """An explicit instance type must be well formed and, when the catalog knows it, fit the request."""
    pattern, example = (SAGEMAKER_TYPE, "ml.m5.xlarge") if sagemaker else (EC2_TYPE, "m7i.xlarge")
    if not sagemaker and isinstance(instance_type, str) and instance_type.startswith("ml."):
        raise SpecError(path, f"ml.* types are SageMaker instance types; use an EC2 type such as {example}")
    if not isinstance(instance_type, str) or not re.fullmatch(pattern, instance_type):
        raise SpecError(path, f"must be an instance type such as {example} (got {instance_type!r})")
    accel = service.resources.accelerator
    family = _family_of(instance_type)
    if accel is not None and family not in GPU_FAMILIES:
        raise SpecError(
            path, f"resources.accelerator asks for {accel.count}x {accel.type}, but {instance_type} has no GPU"
        )
    shape = instance_shape(instance_type)
    if shape is None:
        return
    if not shape.fits(service.resources.cpu, service.resources.memory_mib, reserve_cpu):
        raise SpecError(
            path,
            f"{instance_type} ({shape.vcpus} vCPU, {shape.memory_gib:g} GiB) is too small for "
            f"{service.resources.cpu} vCPU (+{reserve_cpu:g} for node agents) and "
            f"{service.resources.memory_mib} MiB plus {HEADROOM_MIB} MiB headroom",
        )
    if accel is not None and (shape.accelerator != accel.type or shape.gpus < accel.count):
        raise SpecError(
            path,
            f"{instance_type} has {shape.gpus}x {shape.accelerator}; resources.accelerator asks "
            f"for {accel.count}x {accel.type}",
        )


# Fargate's valid (cpu units -> memory MiB) combinations, from the ECS task-size table.
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4097, 1024)),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
    8192: tuple(range(16384, 61441, 4096)),
    16384: tuple(range(32768, 122881, 8192)),
}


def fargate_size(cpu: float, memory_mib: int) -> tuple[int, int]:
    """The smallest valid Fargate (cpu units, memory MiB) that holds ``cpu`` cores and ``memory_mib``."""
    for units, memories in FARGATE_SIZES.items():
        if units < cpu * 1024:
            continue
        for memory in memories:
            if memory >= memory_mib:
                return units, memory
    raise ServiceSpecError(
        "resources",
        f"Fargate tasks hold at most 16 vCPU and 120 GiB (got {cpu} vCPU, {memory_mib} MiB); "
        "use the vm, kubernetes or ml_platform pattern",
    )


def check_fargate_size(cpu_units: int, memory_mib: int) -> None:
    """Options ``task_cpu`` / ``task_memory`` must be a valid Fargate pair."""
    if cpu_units not in FARGATE_SIZES:
        raise SpecError("task_cpu", f"must be one of {', '.join(map(str, FARGATE_SIZES))} (got {cpu_units!r})")
    allowed = FARGATE_SIZES[cpu_units]
    if memory_mib not in allowed:
        raise SpecError(
            "task_memory",
            f"Fargate with task_cpu {cpu_units} accepts memory {allowed[0]}..{allowed[-1]} MiB in steps of "
            f"{allowed[1] - allowed[0]} (got {memory_mib!r})",
        )
