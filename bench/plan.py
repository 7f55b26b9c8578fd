"""Benchmark: offline plan time for the example stacks and for growing programs (time per resource)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from modelport import PROFILES, ModelService
from modelport.kubernetes import ModelWorkload, ModelWorkloadArgs
from modelport.plan import plan_stack, run_program

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "registry.example.com/ml/churn@sha256:" + "4f" * 32


def many_workloads(count: int) -> None:
    for index in range(count):
        service = ModelService.from_config({"name": f"model-{index}", "image": IMAGE, "scaling": {"max_replicas": 6}})
        ModelWorkload(f"model-{index}", ModelWorkloadArgs(service=service, profile=PROFILES["prod"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1,10,40", help="numbers of ModelWorkloads in the synthetic programs")
    args = parser.parse_args()
    print(f"{'plan':<28}{'resources':>10}{'seconds':>10}{'ms/resource':>13}")
    for stack_file in sorted((ROOT / "stacks").glob("Pulumi.*.yaml")):
        stack = stack_file.name[len("Pulumi.") : -len(".yaml")]
        start = time.perf_counter()
        plan = plan_stack(stack, ROOT / "stacks")
        elapsed = time.perf_counter() - start
        count = len(plan.resources)
        print(f"{'stack ' + stack:<28}{count:>10}{elapsed:>10.2f}{1000 * elapsed / count:>13.2f}")
    for size in (int(s) for s in args.sizes.split(",")):
        start = time.perf_counter()
        plan = run_program(lambda size=size: many_workloads(size), stack="bench")
        elapsed = time.perf_counter() - start
        count = len(plan.resources)
        print(f"{f'{size} x ModelWorkload':<28}{count:>10}{elapsed:>10.2f}{1000 * elapsed / count:>13.2f}")


if __name__ == "__main__":
    main()
