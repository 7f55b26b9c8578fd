"""Every spec field reaches the AWS resources, or is refused: signature, target_concurrency, tags, replicas."""

from __future__ import annotations

import base64
import gzip
import json

import pytest
from aws_fixtures import CERTIFICATE, DEV, ECR_IMAGE, PROD, make_service, register
from modelport.aws import (
    Ec2Service,
    Ec2ServiceArgs,
    EcsService,
    EcsServiceArgs,
    LambdaService,
    LambdaServiceArgs,
    SageMakerEndpoint,
    SageMakerEndpointArgs,
)
from modelport.validation import SpecError

SIGNATURE = {"name": "churn", "signature": "predict_proba"}


def _user_data(mocks) -> str:
    encoded = mocks.one("aws:ec2/launchTemplate:LaunchTemplate").inputs["userData"]
    raw = base64.b64decode(encoded)
    return (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode()


def test_the_signature_reaches_every_aws_pattern(pulumi_mocks):
    service = make_service(image=ECR_IMAGE, model=SIGNATURE, exposure={"certificate": CERTIFICATE})
    register(lambda: EcsService("churn-ecs", EcsServiceArgs(service=service, profile=DEV)))
    register(lambda: Ec2Service("churn-vm", Ec2ServiceArgs(service=service, profile=DEV)))
    lambda_service = make_service(image=ECR_IMAGE, model=SIGNATURE)
    register(lambda: LambdaService("churn-fn", LambdaServiceArgs(service=lambda_service, profile=DEV)))
    register(lambda: SageMakerEndpoint("churn-sm", SageMakerEndpointArgs(service=lambda_service, profile=DEV)))

    task = json.loads(pulumi_mocks.one("aws:ecs/taskDefinition:TaskDefinition").inputs["containerDefinitions"])[0]
    assert {"name": "SIGNATURE_NAME", "value": "predict_proba"} in task["environment"]
    assert "SIGNATURE_NAME=predict_proba" in _user_data(pulumi_mocks)
    function = pulumi_mocks.one("aws:lambda/function:Function").inputs
    assert function["environment"]["variables"]["SIGNATURE_NAME"] == "predict_proba"
    model = pulumi_mocks.one("aws:sagemaker/model:Model").inputs
    assert model["primaryContainer"]["environment"]["SIGNATURE_NAME"] == "predict_proba"


def test_serving_variables_cannot_be_set_through_env():
    with pytest.raises(SpecError) as caught:
        make_service(env={"SIGNATURE_NAME": "other"})
    assert caught.value.path == "modelport:service.env.SIGNATURE_NAME" and "model.signature" in caught.value.reason


@pytest.mark.parametrize(("component", "args", "policy_type"), [
    (Ec2Service, Ec2ServiceArgs, "aws:autoscaling/policy:Policy"),
    (EcsService, EcsServiceArgs, "aws:appautoscaling/policy:Policy"),
])  # fmt: skip
def test_target_concurrency_tracks_in_flight_requests_per_target_on_the_alb_patterns(
    pulumi_mocks, component, args, policy_type
):
    service = make_service(
        scaling={"max_replicas": 12, "target_concurrency": 16}, exposure={"certificate": CERTIFICATE}
    )
    register(lambda: component("churn", args(service=service, profile=PROD)))
    (policy,) = [p.inputs for p in pulumi_mocks.by_type(policy_type) if p.name.endswith("-concurrency-target")]
    config = policy.get("targetTrackingConfiguration") or policy["targetTrackingScalingPolicyConfiguration"]
    assert config["targetValue"] == 16
    metrics = {m["id"]: m for m in config["customizedMetricSpecification"]["metrics"]}
    assert metrics["concurrency"]["expression"] == "requests / 60 * latency"
    assert metrics["concurrency"]["returnData"] is True
    names = {m["metricStat"]["metric"]["metricName"] for k, m in metrics.items() if k != "concurrency"}
    assert names == {"RequestCountPerTarget", "TargetResponseTime"}
    target_group = pulumi_mocks.one("aws:lb/targetGroup:TargetGroup").outputs["arnSuffix"]
    dimensions = metrics["requests"]["metricStat"]["metric"]["dimensions"]
    assert {"name": "TargetGroup", "value": target_group} in dimensions


def test_lambda_refuses_target_concurrency_it_cannot_honour():
    service = make_service(image=ECR_IMAGE, scaling={"max_replicas": 4, "target_concurrency": 8})
    with pytest.raises(SpecError) as caught:
        LambdaServiceArgs(service=service, profile=DEV)
    assert caught.value.path == "modelport:service.scaling.target_concurrency"


def test_components_built_from_code_tag_every_taggable_child(pulumi_mocks):
    service = make_service(exposure={"certificate": CERTIFICATE}, tags={"team": "ml-platform", "cost-center": "42"})
    register(lambda: EcsService("churn-ecs", EcsServiceArgs(service=service, profile=PROD)))
    taggable = [r for r in pulumi_mocks.monitor.captured if r.custom and "tags" in r.inputs]
    assert len(taggable) > 20
    for resource in taggable:
        tags = resource.inputs["tags"]
        assert tags["team"] == "ml-platform" and tags["cost-center"] == "42", resource.name
        assert tags["managed-by"] == "modelport"
    subnets = pulumi_mocks.by_type("aws:ec2/subnet:Subnet")
    assert all(s.inputs["tags"]["Name"].startswith("churn-ecs") for s in subnets)  # a child's own tags win


def test_auto_scaling_groups_propagate_the_tags_to_instances(pulumi_mocks):
    service = make_service(exposure={"certificate": CERTIFICATE}, tags={"team": "ml-platform"})
    register(lambda: Ec2Service("churn-vm", Ec2ServiceArgs(service=service, profile=DEV)))
    tags = pulumi_mocks.one("aws:autoscaling/group:Group").inputs["tags"]
    assert {"key": "team", "value": "ml-platform", "propagateAtLaunch": True} in tags


def test_an_explicit_min_replicas_below_the_variants_is_refused_not_raised():
    variants = [{"name": "stable", "weight": 90}, {"name": "canary", "weight": 10}]
    service = make_service(scaling={"min_replicas": 1, "max_replicas": 4}, variants=variants)
    for args in (Ec2ServiceArgs, EcsServiceArgs):
        with pytest.raises(SpecError) as caught:
            args(service=service, profile=PROD)
        assert caught.value.path == "modelport:service.scaling.min_replicas"


def test_a_hosted_zone_gets_an_alias_record_for_the_domain(pulumi_mocks):
    exposure = {"certificate": CERTIFICATE, "domain": "churn.ml.example.com"}
    service = make_service(exposure=exposure)
    register(
        lambda: EcsService("churn-ecs", EcsServiceArgs(service=service, profile=DEV, hosted_zone_id="Z0123456789ABC"))
    )
    record = pulumi_mocks.one("aws:route53/record:Record").inputs
    alb = pulumi_mocks.one("aws:lb/loadBalancer:LoadBalancer").outputs
    assert (record["zoneId"], record["name"], record["type"]) == ("Z0123456789ABC", "churn.ml.example.com", "A")
    assert record["aliases"] == [{"name": alb["dnsName"], "zoneId": alb["zoneId"], "evaluateTargetHealth": True}]


def test_a_hosted_zone_without_a_domain_is_refused():
    with pytest.raises(SpecError) as caught:
        EcsServiceArgs(service=make_service(exposure={"certificate": CERTIFICATE}), hosted_zone_id="Z0123456789ABC")
    assert caught.value.path == "hosted_zone_id"


def test_plan_json_prints_whole_numbers_as_the_engine_does():
    from modelport.plan.runner import to_json_value

    assert to_json_value({"desiredCount": 2.0, "targetValue": 0.7}) == {"desiredCount": 2, "targetValue": 0.7}
    assert isinstance(to_json_value(2.0), int)
