"""The shipped stacks: the environment ladder, the AWS, multi-region and multi-cloud examples, what each exports,
the generated config schema that validates them, and one clear error (file and key) for each kind of bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import jsonschema
import pytest
from modelport import cli
from modelport.plan.runner import Plan, PolicyReport, plan_stack
from modelport.plan.stackconfig import read_yaml
from modelport.schema import stack_config_schema
from modelport.spec import StackSpec

ROOT = Path(__file__).resolve().parents[1]
STACKS = ROOT / "stacks"
STACK_FILES = sorted(p for p in STACKS.glob("Pulumi.*.yaml"))
STACK_NAMES = [p.name[len("Pulumi.") : -len(".yaml")] for p in STACK_FILES]
SCHEMA_FILE = STACKS / "stack-config.schema.json"


def no_policies(plan: Plan) -> PolicyReport:
    return PolicyReport(skipped="not needed by these tests")


@cache
def planned(stack: str) -> Plan:
    return plan_stack(stack, STACKS, evaluate=no_policies)


def of_type(plan: Plan, type_: str) -> list:
    return [r for r in plan.resources if r.type == type_]


# --- the config schema -------------------------------------------------------------------------------------


def validator() -> jsonschema.Draft202012Validator:
    schema = stack_config_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_shipped_schema_is_the_generated_one(capsys) -> None:
    assert json.loads(SCHEMA_FILE.read_text()) == stack_config_schema(), (
        "regenerate it: modelport config-schema --output stacks/stack-config.schema.json"
    )
    assert cli.main(["config-schema"]) == 0
    assert json.loads(capsys.readouterr().out) == stack_config_schema()


def test_the_schema_follows_the_spec_classes() -> None:
    service = stack_config_schema()["$defs"]["ModelService"]
    # Every field of the dataclasses is a key, with its type and default; nothing else is accepted.
    assert service["additionalProperties"] is False
    assert set(service["properties"]) == {
        "name",
        "image",
        "port",
        "grpc_port",
        "model",
        "resources",
        "scaling",
        "health",
        "exposure",
        "variants",
        "env",
        "secrets",
        "tags",
    }
    assert service["required"] == ["name", "image"]
    scaling = service["properties"]["scaling"]["properties"]
    assert scaling["max_replicas"] == {"type": "integer", "default": 10}
    assert scaling["min_replicas"]["anyOf"] == [{"type": "integer"}, {"type": "null"}]
    accelerator = service["properties"]["resources"]["properties"]["accelerator"]["anyOf"][0]
    assert "nvidia-t4" in accelerator["properties"]["type"]["enum"]


@pytest.mark.parametrize("path", STACK_FILES, ids=STACK_NAMES)
def test_every_shipped_stack_file_validates_and_names_its_schema(path: Path) -> None:
    errors = [error.message for error in validator().iter_errors(read_yaml(path.read_text()))]
    assert errors == []
    # The modeline that yaml-language-server (VS Code's YAML extension, Neovim, ...) reads.
    assert path.read_text().splitlines()[0] == "# yaml-language-server: $schema=./stack-config.schema.json"


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda c: c["modelport:service"].update(scalling={"max_replicas": 3}), "'scalling' was unexpected"),
        (lambda c: c["modelport:service"]["scaling"].update(min_replicas="three"), "'three' is not valid"),
        (lambda c: c["modelport:targets"][0].update(regoin="us-east-1"), "'regoin' was unexpected"),
        (lambda c: c["modelport:targets"][1].update(region="us-east-1a"), "is not valid under any of the given"),
        (lambda c: c["modelport:targets"][1].update(cloud="mars"), "'mars' is not one of"),
        (lambda c: c.update({"modelport:enviroment": "prod"}), "'modelport:enviroment' is not one of"),
        (lambda c: c.update({"modelport:environment": "qa"}), "'qa' is not one of"),
        (lambda c: c["modelport:targets"][0].update(region="us-east-1"), "should not be valid"),
    ],
)
def test_the_schema_rejects_a_mistyped_stack_file(mutate, fragment: str) -> None:
    document = read_yaml((STACKS / "Pulumi.prod.yaml").read_text())
    mutate(document["config"])
    messages = [error.message for error in validator().iter_errors(document)]
    messages += [sub.message for error in validator().iter_errors(document) for sub in error.context or []]
    assert any(fragment in message for message in messages), messages


def test_a_region_newer_than_the_table_validates_with_its_zones() -> None:
    document = read_yaml((STACKS / "Pulumi.aws-multi-region.yaml").read_text())
    target = document["config"]["modelport:targets"][1]
    target["region"] = "eu-west-9"
    assert list(validator().iter_errors(document))
    target["zones"] = ["eu-west-9a", "eu-west-9b", "eu-west-9c"]
    assert [e.message for e in validator().iter_errors(document)] == []


# --- what every stack plans and exports -------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_every_stack_exports_endpoint_invoke_command_callers_and_identity_per_target(stack: str) -> None:
    plan = planned(stack)
    config = read_yaml((STACKS / f"Pulumi.{stack}.yaml").read_text())["config"]
    keys = {target.key for target in StackSpec.from_config(config).targets}
    for output in ("endpoints", "invoke", "callers", "identities"):
        assert set(plan.outputs[output]) == keys, output
    for key, command in plan.outputs["invoke"].items():
        endpoint = plan.outputs["endpoints"][key]
        assert command.startswith(("curl ", "kubectl ", "aws sagemaker-runtime invoke-endpoint "))
        if command.startswith(("curl", "kubectl")):
            assert endpoint.rstrip("/") in command and "/v2/models/churn/infer" in command
        # The token the target checks: Cloud Run's invoker role on a Google ID token, Azure ML's Entra token.
        if key.startswith(("gcp-container-", "gcp-serverless-")):
            assert '-H "authorization: Bearer $(gcloud auth print-identity-token)" ' in command, key
        elif key.startswith("azure-ml-platform-"):
            assert "Bearer $(az account get-access-token --resource https://ml.azure.com --query" in command, key
        else:
            assert "authorization" not in command, key
        callers = plan.outputs["callers"][key]
        assert callers["grant"], key


def test_the_ladder_keeps_one_shape_from_dev_to_prod() -> None:
    shapes = {
        stack: sorted(t.key for t in StackSpec.from_config(planned(stack).config).targets)
        for stack in ("dev", "staging", "prod")
    }
    assert shapes["dev"] == shapes["staging"] == shapes["prod"]
    assert {planned(stack).environment for stack in shapes} == {"dev", "staging", "prod"}


def _subnet_zones(plan: Plan) -> set[str]:
    return {r.inputs["availabilityZone"] for r in of_type(plan, "aws:ec2/subnet:Subnet")}


def test_dev_is_the_cheapest_rung() -> None:
    plan = planned("dev")
    assert len(_subnet_zones(plan)) == 2
    assert len(of_type(plan, "aws:ec2/natGateway:NatGateway")) == 1
    assert of_type(plan, "aws:cloudwatch/metricAlarm:MetricAlarm") == []
    assert of_type(plan, "aws:ec2/vpcEndpoint:VpcEndpoint") == [] or all(
        r.inputs.get("vpcEndpointType") == "Gateway" for r in of_type(plan, "aws:ec2/vpcEndpoint:VpcEndpoint")
    )
    (service,) = of_type(plan, "aws:ecs/service:Service")
    (scaling,) = of_type(plan, "aws:appautoscaling/target:Target")
    # dev's floor of one replica is honoured exactly on ECS, as on the cluster.
    assert scaling.inputs["minCapacity"] == 1 and scaling.inputs["maxCapacity"] == 4
    assert service.inputs["desiredCount"] == 1
    (autoscaler,) = of_type(plan, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler")
    assert autoscaler.inputs["spec"]["minReplicas"] == 1
    (lb,) = of_type(plan, "aws:lb/loadBalancer:LoadBalancer")
    assert not lb.inputs.get("enableDeletionProtection")


def test_prod_spreads_over_three_zones_runs_a_canary_pages_on_call_and_protects_deletion() -> None:
    plan = planned("prod")
    assert len(_subnet_zones(plan)) == 3
    assert len(of_type(plan, "aws:ec2/natGateway:NatGateway")) == 3
    services = {r.name for r in of_type(plan, "aws:ecs/service:Service")}
    assert any("canary" in name for name in services) and any("stable" in name for name in services)
    deployments = {r.name for r in of_type(plan, "kubernetes:apps/v1:Deployment")}
    assert any("canary" in name for name in deployments)
    alarms = of_type(plan, "aws:cloudwatch/metricAlarm:MetricAlarm")
    topic = "arn:aws:sns:us-east-1:111122223333:ml-oncall"
    assert alarms and all(topic in alarm.inputs["alarmActions"] for alarm in alarms)
    (lb,) = of_type(plan, "aws:lb/loadBalancer:LoadBalancer")
    assert lb.inputs["enableDeletionProtection"] is True and lb.inputs["internal"] is True


def test_staging_has_prods_shape_smaller() -> None:
    staging, prod = planned("staging"), planned("prod")
    assert len(_subnet_zones(staging)) == 3
    assert len(of_type(staging, "aws:ecs/service:Service")) == len(of_type(prod, "aws:ecs/service:Service")) == 2
    staging_tasks = sum(r.inputs["desiredCount"] for r in of_type(staging, "aws:ecs/service:Service"))
    prod_tasks = sum(r.inputs["desiredCount"] for r in of_type(prod, "aws:ecs/service:Service"))
    assert staging_tasks < prod_tasks


def test_the_aws_example_covers_all_five_patterns() -> None:
    kinds = {r.type for r in planned("aws-patterns").resources if r.type.startswith("modelport:aws:")}
    kinds.discard("modelport:aws:Foundation")
    assert kinds == {
        "modelport:aws:Ec2Service",
        "modelport:aws:EcsService",
        "modelport:aws:EksService",
        "modelport:aws:LambdaService",
        "modelport:aws:SageMakerEndpoint",
    }


def test_multi_region_runs_one_complete_copy_per_region() -> None:
    plan = planned("aws-multi-region")
    regions = {r.inputs["region"] for r in of_type(plan, "pulumi:providers:aws")}
    assert regions == {"us-east-1", "eu-west-1"}
    assert len(of_type(plan, "aws:ecs/service:Service")) == 2
    assert len(of_type(plan, "aws:lb/loadBalancer:LoadBalancer")) == 2
    assert len(of_type(plan, "aws:ec2/vpc:Vpc")) == 2
    assert {r.inputs["availabilityZone"][:-1] for r in of_type(plan, "aws:ec2/subnet:Subnet")} == regions
    endpoints = planned("aws-multi-region").outputs["endpoints"]
    assert ".us-east-1." in endpoints["aws-container-us-east-1"]
    assert ".eu-west-1." in endpoints["aws-container-eu-west-1"]
    assert "DNS failover" in (STACKS / "README.md").read_text()


def test_multi_cloud_serves_the_same_model_on_two_clouds_each_enforcing_its_own_callers() -> None:
    plan = planned("multi-cloud")
    kinds = {r.type for r in plan.resources}
    assert {"modelport:aws:LambdaService", "modelport:kubernetes:ModelWorkload"} <= kinds
    callers = plan.outputs["callers"]
    assert callers["aws-serverless-us-east-1"]["principals"] == ["arn:aws:iam::123456789012:role/checkout-service"]
    assert callers["kubernetes-kubernetes"]["principals"] == ["namespace/checkout"]


# --- bad input: one error naming the file and the key -------------------------------------------------------


def plan_error(capsys, stack: str, *overrides: str, stack_dir: Path = STACKS) -> str:
    argv = ["plan", stack, "--stack-dir", str(stack_dir), "--no-policy"]
    for override in overrides:
        argv += ["--set", override]
    code = cli.main(argv)
    out, err = capsys.readouterr()
    lines = [line for line in (out + err).splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, lines
    return lines[0]


def test_a_mistyped_key_names_the_file_the_key_and_the_accepted_keys(capsys, tmp_path: Path) -> None:
    stack_dir = tmp_path / "stacks"
    shutil.copytree(STACKS, stack_dir)
    path = stack_dir / "Pulumi.staging.yaml"
    path.write_text(path.read_text().replace("    scaling:\n", "    scalling:\n", 1))
    line = plan_error(capsys, "staging", stack_dir=stack_dir)
    assert f"{path}: modelport:service.scalling: unknown key; accepted keys: name, image, port" in line
    assert "scaling" in line.split("accepted keys:")[1]


def test_a_malformed_region_names_the_file_and_the_target(capsys) -> None:
    line = plan_error(capsys, "aws-multi-region", "modelport:targets[1].region=eu-west-1b")
    assert "Pulumi.aws-multi-region.yaml: modelport:targets[1].region:" in line
    assert "'eu-west-1b' is a zone of aws region 'eu-west-1'" in line


def test_two_targets_with_the_same_resource_names_are_refused(capsys) -> None:
    line = plan_error(capsys, "aws-multi-region", "modelport:targets[1].region=us-east-1")
    assert "Pulumi.aws-multi-region.yaml: modelport:targets[1]: would produce the same resource names as " in line
    assert "targets[0] (churn-aws-container-us-east-1-*)" in line


def test_a_multi_cloud_stack_without_a_cloud_extra_says_which_to_install(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'pulumi_aws':\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from modelport.cli import main\n"
        f"sys.exit(main(['plan', 'multi-cloud', '--stack-dir', {str(STACKS)!r}, '--no-policy']))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "modelport:targets[0]: cloud 'aws' needs the pulumi_aws package: pip install 'modelport[aws]'" in (
        result.stdout + result.stderr
    )
    assert "Traceback" not in result.stdout + result.stderr
