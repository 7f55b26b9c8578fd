"""gRPC end to end where a target can carry it (ALB patterns, EKS and any cluster), refused where it can't."""

from __future__ import annotations

import json

import pytest
from aws_fixtures import CANARY, CERTIFICATE, DEV, ECR_IMAGE, PROD, make_service, register
from modelport.aws import (
    Ec2Service,
    Ec2ServiceArgs,
    EcsService,
    EcsServiceArgs,
    LambdaServiceArgs,
    SageMakerEndpointArgs,
)
from modelport.aws.loadbalancer import GRPC_HEALTH_PATH
from modelport.validation import SpecError

TG = "aws:lb/targetGroup:TargetGroup"


@pytest.mark.parametrize(("component", "args"), [(Ec2Service, Ec2ServiceArgs), (EcsService, EcsServiceArgs)])
def test_the_alb_routes_grpc_content_to_grpc_target_groups_with_the_track_weights(pulumi_mocks, component, args):
    service = make_service(grpc_port=8081, variants=CANARY, exposure={"certificate": CERTIFICATE})
    register(lambda: component("churn", args(service=service, profile=PROD)))
    groups = {r.name: r for r in pulumi_mocks.by_type(TG)}
    grpc = {n: g.inputs for n, g in groups.items() if "-grpc-tg-" in n}
    assert len(grpc) == 2  # one per track
    for inputs in grpc.values():
        assert (inputs["protocolVersion"], inputs["port"]) == ("GRPC", 8081)
        assert inputs["healthCheck"]["path"] == GRPC_HEALTH_PATH and inputs["healthCheck"]["matcher"] == "0"
    rule = pulumi_mocks.one("aws:lb/listenerRule:ListenerRule").inputs
    https = pulumi_mocks.one("aws:lb/listener:Listener", "churn-https").outputs["arn"]
    assert rule["listenerArn"] == https
    assert rule["conditions"] == [{"httpHeader": {"httpHeaderName": "content-type", "values": ["application/grpc*"]}}]
    weights = {g["arn"]: g["weight"] for g in rule["actions"][0]["forward"]["targetGroups"]}
    by_arn = {groups[n].outputs["arn"]: n for n in grpc}
    assert sorted(weights.values()) == [10, 90] and set(weights) == set(by_arn)
    ports = {
        (r.inputs["fromPort"], r.name.endswith("-grpc"))
        for r in pulumi_mocks.by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if "targets-from-alb" in r.name
    }
    assert (8081, True) in ports and (8080, False) in ports


def test_ecs_maps_the_grpc_port_and_registers_it(pulumi_mocks):
    service = make_service(grpc_port=8081, exposure={"certificate": CERTIFICATE})
    register(lambda: EcsService("churn", EcsServiceArgs(service=service, profile=DEV)))
    task = json.loads(pulumi_mocks.one("aws:ecs/taskDefinition:TaskDefinition").inputs["containerDefinitions"])[0]
    assert {"name": "grpc", "containerPort": 8081, "protocol": "tcp"} in task["portMappings"]
    assert {"name": "GRPC_PORT", "value": "8081"} in task["environment"]
    balancers = pulumi_mocks.one("aws:ecs/service:Service").inputs["loadBalancers"]
    assert sorted(b["containerPort"] for b in balancers) == [8080, 8081]


def test_grpc_on_an_alb_needs_an_https_listener():
    with pytest.raises(SpecError) as caught:
        EcsServiceArgs(service=make_service(grpc_port=8081), profile=DEV)._check_load_balancer("the container pattern")
    assert caught.value.path == "modelport:service.grpc_port" and "HTTPS" in caught.value.reason


@pytest.mark.parametrize("args", [LambdaServiceArgs, SageMakerEndpointArgs])
def test_targets_that_cannot_carry_grpc_refuse_it(args):
    with pytest.raises(SpecError) as caught:
        args(service=make_service(image=ECR_IMAGE, grpc_port=8081), profile=DEV)
    assert caught.value.path == "modelport:service.grpc_port"
