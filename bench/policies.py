"""Policy benchmark: the offline evaluator over a synthetic 500-resource stack, as time per resource.

The stack mixes what modelport deploys: in-cluster ModelWorkloads (Deployments, HPAs, PDBs, NetworkPolicies...)
and the AWS Fargate, EC2 and Lambda patterns (VPCs, KMS keys, buckets, IAM, load balancers...), planned under
the offline mocks and cut to exactly 500 resources. Each evaluation runs every one of the pack's resource
policies on each resource and every stack policy on the whole set, like `pulumi preview --policy-pack`.

    python bench/policies.py [--resources 500] [--repeat 5] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from modelport.plan.policy import evaluate_resources, load_rules  # noqa: E402
from modelport.plan.runner import Plan, run_program  # noqa: E402
from modelport.profiles import PROFILES  # noqa: E402
from modelport.spec import ModelService  # noqa: E402

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/churn@sha256:" + "4f" * 32


def service(name: str) -> ModelService:
    return ModelService.from_config(
        {
            "name": name,
            "image": IMAGE,
            "scaling": {"min_replicas": 3, "max_replicas": 12},
            "exposure": {"allowed_networks": ["10.0.0.0/8"]},
        }
    )


def synthetic_plan(resources: int) -> Plan:
    """Plan components until there are at least ``resources`` registrations."""
    from modelport.aws import Ec2Service, Ec2ServiceArgs, EcsService, EcsServiceArgs, LambdaService, LambdaServiceArgs
    from modelport.kubernetes.workload import ModelWorkload, ModelWorkloadArgs

    prod = PROFILES["prod"]

    def program() -> None:
        EcsService("ecs", EcsServiceArgs(service=service("ecs"), profile=prod))
        Ec2Service("vm", Ec2ServiceArgs(service=service("vm"), profile=prod))
        LambdaService(
            "fn",
            LambdaServiceArgs(
                service=ModelService.from_config(
                    {"name": "fn", "image": IMAGE, "scaling": {"min_replicas": 3, "max_replicas": 12}}
                ),
                profile=prod,
            ),
        )
        # ModelWorkloads fill the rest: about a dozen resources each.
        for index in range(max(0, (resources - 200) // 10 + 1)):
            ModelWorkload(f"model{index}", ModelWorkloadArgs(service=service(f"model{index}"), profile=prod))

    return run_program(program, stack="bench", config={"modelport:environment": "prod"})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resources", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", dest="json_path", help="also write the numbers as JSON")
    args = parser.parse_args()

    rules = load_rules()
    started = time.perf_counter()
    plan = synthetic_plan(args.resources)
    plan_seconds = time.perf_counter() - started
    if len(plan.resources) < args.resources:
        raise SystemExit(f"the synthetic stack has only {len(plan.resources)} resources")
    resources = plan.resources[: args.resources]
    resource_rules = [r for r in rules if r.kind == "resource"]
    stack_rules = [r for r in rules if r.kind == "stack"]

    def timed(subset: list) -> tuple[float, int, int]:
        samples, evaluation = [], None
        for _ in range(args.repeat):
            begin = time.perf_counter()
            evaluation = evaluate_resources(resources, environment="prod", rules=subset)
            samples.append(time.perf_counter() - begin)
        assert evaluation is not None
        return statistics.median(samples), evaluation.evaluated, len(evaluation.violations)

    total, checks, violations = timed(list(rules))
    resource_only, _, _ = timed(resource_rules)
    stack_only, _, _ = timed(stack_rules)
    n = len(resources)
    results = {
        "resources": n,
        "rules": len(rules),
        "resource_rules": len(resource_rules),
        "stack_rules": len(stack_rules),
        "checks_run": checks,
        "violations": violations,
        "plan_under_mocks_ms_per_resource": 1000 * plan_seconds / len(plan.resources),
        "evaluate_ms_per_resource": 1000 * total / n,
        "resource_rules_ms_per_resource": 1000 * resource_only / n,
        "stack_rules_ms_per_resource": 1000 * stack_only / n,
        "evaluate_total_ms": 1000 * total,
    }
    print(f"policy pack: {len(rules)} rules ({len(resource_rules)} resource, {len(stack_rules)} stack)")
    print(f"synthetic stack: {n} resources, {checks} rule checks, {violations} violations (median of {args.repeat})")
    print(
        f"evaluate, all rules:      {results['evaluate_ms_per_resource']:.3f} ms per resource "
        f"({results['evaluate_total_ms']:.0f} ms total)"
    )
    print(f"  resource rules only:    {results['resource_rules_ms_per_resource']:.3f} ms per resource")
    print(f"  stack rules only:       {results['stack_rules_ms_per_resource']:.3f} ms per resource")
    print(f"for scale, planning under mocks: {results['plan_under_mocks_ms_per_resource']:.2f} ms per resource")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
