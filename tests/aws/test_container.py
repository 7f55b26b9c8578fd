"""EcsService (container): Fargate task hardening, service availability, autoscaling, scoped roles, canary."""

from __future__ import annotations

import json

from aws_fixtures import CANARY, CERTIFICATE, DEV, PARAMETER, PROD, SECRET, make_service, register, subnet_zones
from modelport.aws.container import EcsService, EcsServiceArgs
from modelport.aws.loadbalancer import TLS_POLICY

TASK = "aws:ecs/taskDefinition:TaskDefinition"
SERVICE = "aws:ecs/service:Service"


def deploy(mocks, profile=PROD, service=None, **kwargs):
    service = service or make_service(exposure={"certificate": CERTIFICATE})
    register(lambda: EcsService("churn-ecs", EcsServiceArgs(service=service, profile=profile, **kwargs)))
    return mocks


def container_of(mocks, name="churn-ecs-task"):
    return json.loads(mocks.one(TASK, name).inputs["containerDefinitions"])[0]


def test_cluster_has_container_insights(pulumi_mocks):
    cluster = deploy(pulumi_mocks).one("aws:ecs/cluster:Cluster").inputs
    assert cluster["settings"] == [{"name": "containerInsights", "value": "enabled"}]


def test_task_definition_is_fargate_awsvpc_with_separate_roles(pulumi_mocks):
    task = deploy(pulumi_mocks).one(TASK).inputs
    assert task["requiresCompatibilities"] == ["FARGATE"]
    assert task["networkMode"] == "awsvpc"
    assert (task["cpu"], task["memory"]) == ("2048", "4096")
    execution = pulumi_mocks.one("aws:iam/role:Role", "churn-ecs-execution-role").outputs["arn"]
    task_role = pulumi_mocks.one("aws:iam/role:Role", "churn-ecs-task-role").outputs["arn"]
    assert task["executionRoleArn"] == execution
    assert task["taskRoleArn"] == task_role
    assert execution != task_role


def test_container_is_read_only_non_root_drops_all_capabilities_and_logs_to_the_encrypted_group(pulumi_mocks):
    container = container_of(deploy(pulumi_mocks))
    assert container["readonlyRootFilesystem"] is True
    assert container["user"] == "10001:10001"
    assert container["privileged"] is False
    assert container["linuxParameters"] == {"capabilities": {"drop": ["ALL"]}, "initProcessEnabled": True}
    group = pulumi_mocks.one("aws:cloudwatch/logGroup:LogGroup", "churn-ecs-foundation-logs")
    key = pulumi_mocks.one("aws:kms/key:Key").outputs["arn"]
    assert group.inputs["kmsKeyId"] == key
    assert group.inputs["retentionInDays"] == 365
    logging = container["logConfiguration"]
    assert logging["logDriver"] == "awslogs"
    assert logging["options"]["awslogs-group"] == group.outputs["name"]
    assert container["healthCheck"]["command"][:2] == ["CMD", "python"]
    assert "/v2/health/live" in container["healthCheck"]["command"][-1]
    assert container["healthCheck"]["startPeriod"] == 300


def test_secrets_are_injected_by_reference_and_the_execution_role_reads_only_them(pulumi_mocks):
    service = make_service(
        secrets={"DB_URL": SECRET + ":password::", "FLAGS": PARAMETER}, exposure={"certificate": CERTIFICATE}
    )
    container = container_of(deploy(pulumi_mocks, service=service))
    assert container["secrets"] == [
        {"name": "DB_URL", "valueFrom": SECRET + ":password::"},
        {"name": "FLAGS", "valueFrom": PARAMETER},
    ]
    assert not any(e["name"] in ("DB_URL", "FLAGS") for e in container["environment"])
    doc = json.loads(
        pulumi_mocks.one("aws:iam/rolePolicy:RolePolicy", "churn-ecs-execution-role-policy").inputs["policy"]
    )
    sids = {s["Sid"]: s for s in doc["Statement"]}
    # The ARN as written, and with AWS's suffix in case the name only looks complete (churn/db-url-AbCdEf).
    assert sids["ReadTheServiceSecrets"]["Resource"] == [SECRET, SECRET + "-??????"]
    assert sids["ReadTheServiceParameters"]["Resource"] == [PARAMETER]
    # The task role carries no permissions at all.
    assert not [r for r in pulumi_mocks.by_type("aws:iam/rolePolicy:RolePolicy") if "task-role" in r.name]


def test_service_honours_min_replicas_in_private_subnets_with_circuit_breaker_and_rebalancing(pulumi_mocks):
    service = deploy(pulumi_mocks, DEV).one(SERVICE).inputs
    assert service["desiredCount"] == 1  # dev's floor, honoured exactly (prod's floor of 2 is judged by the pack)
    network = service["networkConfiguration"]
    assert network["assignPublicIp"] is False
    assert len(subnet_zones(pulumi_mocks, network["subnets"])) == 2
    assert service["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert service["availabilityZoneRebalancing"] == "ENABLED"
    assert service["launchType"] == "FARGATE"
    assert service["enableExecuteCommand"] is False
    assert "alarms" not in service  # dev creates no alarms


def test_prod_service_spans_three_zones_and_rolls_back_on_the_alarms(pulumi_mocks):
    service = deploy(pulumi_mocks, PROD).one(SERVICE).inputs
    assert service["desiredCount"] == 3
    assert subnet_zones(pulumi_mocks, service["networkConfiguration"]["subnets"]) == {
        "us-east-1a",
        "us-east-1b",
        "us-east-1c",
    }
    alarms = {r.inputs["name"] for r in pulumi_mocks.by_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert set(service["alarms"]["alarmNames"]) == alarms and service["alarms"]["rollback"] is True


def test_app_autoscaling_tracks_cpu_between_the_replica_bounds(pulumi_mocks):
    deploy(pulumi_mocks)
    target = pulumi_mocks.one("aws:appautoscaling/target:Target").inputs
    assert target["scalableDimension"] == "ecs:service:DesiredCount"
    assert (target["minCapacity"], target["maxCapacity"]) == (3, 12)
    assert target["resourceId"].startswith("service/churn-ecs-cluster")
    policy = pulumi_mocks.one("aws:appautoscaling/policy:Policy").inputs
    tracking = policy["targetTrackingScalingPolicyConfiguration"]
    assert tracking["predefinedMetricSpecification"]["predefinedMetricType"] == "ECSServiceAverageCPUUtilization"
    assert tracking["targetValue"] == 60


def test_canary_runs_two_services_behind_weighted_target_groups(pulumi_mocks):
    deploy(pulumi_mocks, service=make_service(variants=CANARY, exposure={"certificate": CERTIFICATE}))
    services = {r.name: r.inputs for r in pulumi_mocks.by_type(SERVICE)}
    assert set(services) == {"churn-ecs-stable-service", "churn-ecs-canary-service"}
    tgs = {r.name: r.outputs["arn"] for r in pulumi_mocks.by_type("aws:lb/targetGroup:TargetGroup")}
    listener = pulumi_mocks.one("aws:lb/listener:Listener", "churn-ecs-https").inputs
    assert listener["sslPolicy"] == TLS_POLICY
    weights = {(g["arn"], g["weight"]) for g in listener["defaultActions"][0]["forward"]["targetGroups"]}
    assert weights == {(tgs["churn-ecs-tg-stable"], 90), (tgs["churn-ecs-tg-canary"], 10)}
    assert services["churn-ecs-canary-service"]["loadBalancers"][0]["targetGroupArn"] == tgs["churn-ecs-tg-canary"]
    assert container_of(pulumi_mocks, "churn-ecs-canary-task")["image"].endswith("5a" * 32)
    assert all(r.inputs["targetType"] == "ip" for r in pulumi_mocks.by_type("aws:lb/targetGroup:TargetGroup"))


def test_explicit_fargate_size_and_existing_cluster(pulumi_mocks):
    cluster = "arn:aws:ecs:us-east-1:123456789012:cluster/shared"
    deploy(pulumi_mocks, task_cpu=4096, task_memory=16384, cluster_arn=cluster)
    assert pulumi_mocks.by_type("aws:ecs/cluster:Cluster") == []
    task = pulumi_mocks.one(TASK).inputs
    assert (task["cpu"], task["memory"]) == ("4096", "16384")
    assert pulumi_mocks.one(SERVICE).inputs["cluster"] == cluster
    assert pulumi_mocks.one("aws:appautoscaling/target:Target").inputs["resourceId"].startswith("service/shared/")
