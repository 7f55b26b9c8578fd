"""Benchmark: offline plan and policy evaluation of N services x targets (N = 1, 10, 50 by default).

Each size runs in a fresh process, so peak memory (max RSS) belongs to that size alone; the cloud SDKs and the
rules are imported before the clock starts. It prints resources, seconds for the plan (program under mocks) and
for the policy evaluation, peak memory, and the time per resource relative to the smallest size: growth is
linear when that ratio stays near 1 (below 1: a fixed cost is spread over more resources).

    .venv/bin/python bench/plan_scale.py                      # N = 1, 10, 50 over kubernetes + aws/container
    .venv/bin/python bench/plan_scale.py --sizes 1,5 --targets kubernetes
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Any

IMAGE = "registry.example.com/ml/churn@sha256:" + "4f" * 32
TARGETS = {
    "kubernetes": {"cloud": "kubernetes", "pattern": "kubernetes"},
    "aws-container": {
        "cloud": "aws",
        "pattern": "container",
        "region": "us-east-1",
        "options": {"certificate_domain": "churn.ml.internal.example.com"},
    },
    "aws-serverless": {"cloud": "aws", "pattern": "serverless", "region": "us-east-1"},
}


def program(services: int, targets: list[str], environment: str) -> None:
    """N services, each deployed to every named target, exactly as the stack program deploys one."""
    from modelport.catalog import deploy
    from modelport.profiles import get_profile
    from modelport.spec import ModelService, Target

    profile = get_profile(environment)
    for index in range(services):
        service = ModelService.from_config(
            {"name": f"model-{index}", "image": IMAGE, "scaling": {"max_replicas": 6}}, f"services[{index}]"
        )
        for key in targets:
            config = dict(TARGETS[key])
            target = Target(**config, path=f"services[{index}].targets.{key}")
            deploy(service, target, profile)


def measure(services: int, targets: list[str], environment: str) -> dict[str, Any]:
    from modelport.catalog import load_component
    from modelport.plan.policy import evaluate_plan, load_rules
    from modelport.plan.runner import run_program

    # Imports are a one-off cost (pulumi_aws loads its submodules on first use, seconds each): pay it before the
    # clock starts, with one throwaway plan of one service.
    for key in targets:
        load_component(TARGETS[key]["cloud"], TARGETS[key]["pattern"])
    load_rules()
    config = {"modelport:environment": environment}
    evaluate_plan(run_program(lambda: program(1, targets, environment), stack="warm-up", config=config))
    start = time.perf_counter()
    plan = run_program(lambda: program(services, targets, environment), stack="scale", config=config)
    planned = time.perf_counter() - start
    start = time.perf_counter()
    report = evaluate_plan(plan)
    evaluated = time.perf_counter() - start
    return {
        "services": services,
        "resources": len(plan.resources),
        "plan_seconds": planned,
        "policy_seconds": evaluated,
        "checks": report.evaluated,
        "mandatory": len(report.mandatory),
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,10,50", help="numbers of services (default 1,10,50)")
    parser.add_argument(
        "--targets", default="kubernetes,aws-container", help=f"targets per service, of {', '.join(TARGETS)}"
    )
    parser.add_argument("--environment", default="prod", choices=("dev", "staging", "prod"))
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a child process measures one size
    args = parser.parse_args()
    targets = [t for t in args.targets.split(",") if t]
    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        parser.error(f"--targets: unknown {', '.join(unknown)}; choose from {', '.join(TARGETS)}")
    if args.one is not None:
        print(json.dumps(measure(args.one, targets, args.environment)))
        return

    print(f"N services x {len(targets)} targets ({', '.join(targets)}), {args.environment} profile")
    header = (
        f"{'N':>4}{'resources':>11}{'plan s':>9}{'policy s':>10}{'checks':>8}{'peak MiB':>10}{'ms/res':>8}{'ratio':>7}"
    )
    print(header)
    base = None
    for size in (int(s) for s in args.sizes.split(",")):
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                str(size),
                "--targets",
                args.targets,
                "--environment",
                args.environment,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        row = json.loads(child.stdout.strip().splitlines()[-1])
        per_resource = 1000 * (row["plan_seconds"] + row["policy_seconds"]) / row["resources"]
        base = base or per_resource
        print(
            f"{size:>4}{row['resources']:>11}{row['plan_seconds']:>9.2f}{row['policy_seconds']:>10.2f}"
            f"{row['checks']:>8}{row['peak_mib']:>10.0f}{per_resource:>8.2f}{per_resource / base:>7.2f}"
        )


if __name__ == "__main__":
    main()
