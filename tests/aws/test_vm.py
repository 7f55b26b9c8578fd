"""Ec2Service (vm): launch template hardening, ASG over the zones, the ALB's TLS, scoped IAM, canary weights."""

from __future__ import annotations

import base64
import json

import pytest
from aws_fixtures import (
    CANARY,
    CERTIFICATE,
    DEV,
    PARAMETER,
    PROD,
    SECRET,
    make_service,
    register,
    subnet_zones,
)
from modelport.aws.loadbalancer import TLS_POLICY, elb_log_principals
from modelport.aws.vm import Ec2Service, Ec2ServiceArgs
from modelport.plan.runner import run_program
from modelport.validation import SpecError

LT = "aws:ec2/launchTemplate:LaunchTemplate"
ASG = "aws:autoscaling/group:Group"
KEY = "aws:kms/key:Key"


def private_service(**overrides):
    return make_service(exposure={"public": False, "certificate": CERTIFICATE}, **overrides)


def deploy(mocks, profile=PROD, **kwargs):
    service = kwargs.pop("service", None) or private_service()
    register(lambda: Ec2Service("churn-vm", Ec2ServiceArgs(service=service, profile=profile, **kwargs)))
    return mocks


def test_launch_template_requires_imdsv2_with_hop_limit_one_and_no_public_ip(pulumi_mocks):
    lt = deploy(pulumi_mocks).one(LT, "churn-vm-lt").inputs
    assert lt["metadataOptions"]["httpTokens"] == "required"
    assert lt["metadataOptions"]["httpPutResponseHopLimit"] == 1
    assert lt["metadataOptions"]["httpEndpoint"] == "enabled"
    assert lt["networkInterfaces"][0]["associatePublicIpAddress"] == "false"
    assert lt["imageId"] == "resolve:ssm:/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
    assert "keyName" not in lt


def test_root_volume_is_gp3_encrypted_with_the_foundation_key(pulumi_mocks):
    deploy(pulumi_mocks)
    key_arn = pulumi_mocks.one(KEY).outputs["arn"]
    ebs = pulumi_mocks.one(LT).inputs["blockDeviceMappings"][0]["ebs"]
    assert ebs == {
        "volumeType": "gp3",
        "volumeSize": 60,
        "encrypted": "true",
        "deleteOnTermination": "true",
        "kmsKeyId": key_arn,
    }


def test_key_policy_lets_the_autoscaling_service_linked_role_use_the_key(pulumi_mocks):
    deploy(pulumi_mocks)
    policy = json.loads(pulumi_mocks.one(KEY).inputs["policy"])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    slr = "arn:aws:iam::123456789012:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
    assert by_sid["AllowAutoScalingToUseTheKeyForEbs"]["Principal"] == {"AWS": slr}
    grant = by_sid["AllowAutoScalingToGrantEbsAttachment"]
    assert grant["Action"] == "kms:CreateGrant"
    assert grant["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}


def test_user_data_pulls_the_digest_image_hardened_and_holds_no_secret_value(pulumi_mocks):
    service = private_service(
        secrets={"DB_URL": SECRET, "FLAGS": PARAMETER}, model={"name": "churn", "artifact_uri": "s3://models/churn/v3/"}
    )
    script = base64.b64decode(deploy(pulumi_mocks, service=service).one(LT).inputs["userData"]).decode()
    assert f"docker pull {service.image}" in script
    for flag in ("--read-only", "--cap-drop ALL", "--security-opt no-new-privileges", "--user 10001:10001"):
        assert flag in script
    assert "--log-driver awslogs" in script
    # Secrets are fetched at boot by reference, with the instance role, into a root-only tmpfs file.
    assert f"--secret-id {SECRET}" in script and f"--name {PARAMETER}" in script
    assert "install -m 600 -o root -g root /dev/null /run/modelport.env" in script
    assert "aws s3 cp --region us-east-1 --recursive s3://models/churn/v3/ /opt/ml/model" in script
    assert "-v /opt/ml/model:/opt/ml/model:ro" in script


def test_prod_asg_spans_three_private_subnets_in_three_zones(pulumi_mocks):
    asg = deploy(pulumi_mocks, PROD).one(ASG).inputs
    subnets = asg["vpcZoneIdentifiers"]
    assert len(subnets) == 3
    assert subnet_zones(pulumi_mocks, subnets) == {"us-east-1a", "us-east-1b", "us-east-1c"}
    private = {r.id for r in pulumi_mocks.by_type("aws:ec2/subnet:Subnet") if "private" in r.name}
    assert set(subnets) <= private
    assert asg["minSize"] == 3 and asg["maxSize"] == 12


def test_dev_asg_spans_two_zones(pulumi_mocks):
    asg = deploy(pulumi_mocks, DEV).one(ASG).inputs
    assert len(subnet_zones(pulumi_mocks, asg["vpcZoneIdentifiers"])) == 2
    assert asg["minSize"] == 1


def test_asg_uses_elb_health_checks_a_warmup_grace_and_rolling_refresh(pulumi_mocks):
    asg = deploy(pulumi_mocks).one(ASG).inputs
    assert asg["healthCheckType"] == "ELB"
    assert asg["healthCheckGracePeriod"] >= 300  # health.startup_seconds plus boot
    refresh = asg["instanceRefresh"]
    assert refresh["strategy"] == "Rolling"
    assert refresh["preferences"]["minHealthyPercentage"] == 100
    assert refresh["preferences"]["autoRollback"] is True
    assert len(refresh["preferences"]["alarmSpecification"]["alarms"]) == 2
    policy = pulumi_mocks.one("aws:autoscaling/policy:Policy").inputs
    assert policy["policyType"] == "TargetTrackingScaling"
    tracking = policy["targetTrackingConfiguration"]
    assert tracking["predefinedMetricSpecification"]["predefinedMetricType"] == "ASGAverageCPUUtilization"
    assert tracking["targetValue"] == 60


def test_https_listener_uses_the_tls13_policy_and_http_redirects(pulumi_mocks):
    deploy(pulumi_mocks)
    https = pulumi_mocks.one("aws:lb/listener:Listener", "churn-vm-https").inputs
    assert https["protocol"] == "HTTPS" and https["port"] == 443
    assert https["sslPolicy"] == TLS_POLICY == "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09"
    assert https["certificateArn"] == CERTIFICATE
    http = pulumi_mocks.one("aws:lb/listener:Listener", "churn-vm-http-redirect").inputs
    assert http["defaultActions"] == [
        {"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}}
    ]


def test_target_certificate_option_overrides_the_service_certificate(pulumi_mocks):
    other = CERTIFICATE.replace("12345678-1234", "87654321-4321")
    deploy(pulumi_mocks, certificate_arn=other)
    assert pulumi_mocks.one("aws:lb/listener:Listener", "churn-vm-https").inputs["certificateArn"] == other


def test_a_certificate_from_another_region_is_refused_before_anything_is_planned():
    from modelport.catalog import deploy as deploy_target
    from modelport.spec import Target

    elsewhere = CERTIFICATE.replace("us-east-1", "eu-west-1")
    service = make_service(exposure={"certificate": elsewhere})
    target = Target(cloud="aws", pattern="vm", region="us-east-1", path="modelport:targets[0]")
    with pytest.raises(SpecError) as caught:
        run_program(lambda: deploy_target(service, target, PROD))
    assert caught.value.path == "modelport:service.exposure.certificate"
    assert "eu-west-1" in caught.value.reason and "regional" in caught.value.reason
    option = Target(
        cloud="aws",
        pattern="vm",
        region="us-east-1",
        options={"certificate_arn": elsewhere},
        path="modelport:targets[0]",
    )
    with pytest.raises(SpecError) as caught:
        run_program(lambda: deploy_target(make_service(), option, PROD))
    assert caught.value.path == "modelport:targets[0].options.certificate_arn"


def test_alb_is_internal_hardened_and_logs_to_an_encrypted_bucket(pulumi_mocks):
    deploy(pulumi_mocks, PROD)
    alb = pulumi_mocks.one("aws:lb/loadBalancer:LoadBalancer").inputs
    assert alb["internal"] is True
    assert alb["dropInvalidHeaderFields"] is True
    assert alb["enableDeletionProtection"] is True
    assert len(alb["name"]) <= 32
    logs = alb["accessLogs"]
    assert logs["enabled"] is True
    sse = pulumi_mocks.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "churn-vm-alb-logs-encryption",
    ).inputs
    # SSE-S3 is the only encryption ALB log delivery supports.
    assert sse["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    block = pulumi_mocks.one(
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "churn-vm-alb-logs-public-access"
    ).inputs
    assert all(block[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))


def test_dev_alb_has_no_deletion_protection_and_no_alarms(pulumi_mocks):
    deploy(pulumi_mocks, DEV)
    assert pulumi_mocks.one("aws:lb/loadBalancer:LoadBalancer").inputs["enableDeletionProtection"] is False
    assert pulumi_mocks.by_type("aws:cloudwatch/metricAlarm:MetricAlarm") == []


def test_public_alb_uses_public_subnets_and_admits_only_the_callers(pulumi_mocks):
    service = make_service(
        exposure={
            "public": True,
            "anonymous": True,
            "allowed_networks": ["203.0.113.0/24"],
            "certificate": CERTIFICATE,
            "domain": "churn.example.com",
        }
    )
    deploy(pulumi_mocks, service=service)
    alb = pulumi_mocks.one("aws:lb/loadBalancer:LoadBalancer").inputs
    assert alb["internal"] is False
    public = {r.id for r in pulumi_mocks.by_type("aws:ec2/subnet:Subnet") if "public" in r.name}
    assert set(alb["subnets"]) == public
    ingress = [
        r.inputs
        for r in pulumi_mocks.by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if r.name.startswith("churn-vm-alb-in")
    ]
    assert {(i["cidrIpv4"], i["fromPort"]) for i in ingress} == {("203.0.113.0/24", 443), ("203.0.113.0/24", 80)}


def test_instance_role_is_scoped_to_repository_log_group_artifact_and_key(pulumi_mocks):
    service = private_service(model={"name": "churn", "artifact_uri": "s3://models/churn/v3/model.tar.gz"})
    deploy(pulumi_mocks, service=service)
    repo = pulumi_mocks.one("aws:ecr/repository:Repository").outputs["arn"]
    group = pulumi_mocks.one("aws:cloudwatch/logGroup:LogGroup", "churn-vm-foundation-logs").outputs["arn"]
    key = pulumi_mocks.one(KEY).outputs["arn"]
    policy = pulumi_mocks.one("aws:iam/rolePolicy:RolePolicy", "churn-vm-instance-role-policy")
    doc = json.loads(policy.inputs["policy"])
    sids = {s["Sid"]: s for s in doc["Statement"]}
    assert sids["PullFromTheServiceRepository"]["Resource"] == [repo]
    assert sids["WriteToTheServiceLogGroup"]["Resource"] == [group, f"{group}:log-stream:*"]
    assert sids["ReadTheModelArtifact"]["Resource"] == ["arn:aws:s3:::models/churn/v3/model.tar.gz"]
    assert sids["ListTheModelArtifactPrefix"]["Condition"] == {"StringLike": {"s3:prefix": ["churn/v3/model.tar.gz"]}}
    assert sids["DecryptWithTheServiceKey"] == {
        "Sid": "DecryptWithTheServiceKey",
        "Effect": "Allow",
        "Action": "kms:Decrypt",
        "Resource": [key],
    }
    # Only the token call, which has no resource-level permissions, uses "*".
    assert [s["Sid"] for s in doc["Statement"] if s["Resource"] == "*"] == ["GetEcrToken"]


def test_canary_runs_one_asg_per_track_behind_weighted_target_groups(pulumi_mocks):
    deploy(pulumi_mocks, service=private_service(variants=CANARY))
    groups = {r.name: r.inputs for r in pulumi_mocks.by_type(ASG)}
    assert set(groups) == {"churn-vm-stable-asg", "churn-vm-canary-asg"}
    assert groups["churn-vm-stable-asg"]["minSize"] == 2 and groups["churn-vm-canary-asg"]["minSize"] == 1
    tgs = {r.name: r.outputs["arn"] for r in pulumi_mocks.by_type("aws:lb/targetGroup:TargetGroup")}
    forward = pulumi_mocks.one("aws:lb/listener:Listener", "churn-vm-https").inputs["defaultActions"][0]["forward"]
    assert {(g["arn"], g["weight"]) for g in forward["targetGroups"]} == {
        (tgs["churn-vm-tg-stable"], 90),
        (tgs["churn-vm-tg-canary"], 10),
    }
    canary_lt = pulumi_mocks.one(LT, "churn-vm-canary-lt").inputs
    assert "5a5a5a5a" in base64.b64decode(canary_lt["userData"]).decode()


def test_gpu_request_picks_a_gpu_type_and_the_gpu_ami(pulumi_mocks):
    service = private_service(resources={"cpu": 4, "memory_mib": 8192, "accelerator": {"type": "nvidia-l4"}})
    lt = deploy(pulumi_mocks, service=service).one(LT).inputs
    assert lt["instanceType"] == "g6.xlarge"  # 4 vCPU, 16 GiB, one L4
    assert lt["imageId"].endswith("/amazon-linux-2023/gpu/recommended/image_id")
    assert "--gpus all" in base64.b64decode(lt["userData"]).decode()


def test_bring_your_own_network_and_key(pulumi_mocks):
    key = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-4333-8444-555555555555"
    deploy(
        pulumi_mocks,
        vpc_id="vpc-0123456789abcdef0",
        kms_key_arn=key,
        private_subnet_ids=["subnet-0123456789abcdef0", "subnet-0123456789abcdef1", "subnet-0123456789abcdef2"],
    )
    assert pulumi_mocks.by_type("aws:ec2/vpc:Vpc") == []
    assert pulumi_mocks.by_type(KEY) == []
    assert pulumi_mocks.one(ASG).inputs["vpcZoneIdentifiers"] == [
        "subnet-0123456789abcdef0",
        "subnet-0123456789abcdef1",
        "subnet-0123456789abcdef2",
    ]
    assert pulumi_mocks.one(LT).inputs["blockDeviceMappings"][0]["ebs"]["kmsKeyId"] == key


def test_component_exposes_endpoint_and_identity(pulumi_mocks):
    deploy(pulumi_mocks)
    component = pulumi_mocks.one("modelport:aws:Ec2Service")
    role = pulumi_mocks.one("aws:iam/role:Role", "churn-vm-instance-role")
    assert component.outputs["identity"] == role.outputs["arn"]
    assert component.outputs["endpoint"].startswith("https://internal-churn-")


def test_access_log_bucket_admits_only_elb_log_delivery_under_its_prefix(pulumi_mocks):
    deploy(pulumi_mocks)
    bucket = pulumi_mocks.one("aws:s3/bucket:Bucket", "churn-vm-alb-logs").outputs["arn"]
    policy = json.loads(
        pulumi_mocks.one("aws:s3/bucketPolicy:BucketPolicy", "churn-vm-alb-logs-policy").inputs["policy"]
    )
    allows = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert {json.dumps(s["Principal"], sort_keys=True) for s in allows} == {
        '{"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}',
        '{"AWS": "arn:aws:iam::127311923021:root"}',  # the documented ELB account of us-east-1
    }
    assert all(
        s["Action"] == "s3:PutObject" and s["Resource"] == f"{bucket}/alb/AWSLogs/123456789012/*" for s in allows
    )
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_regions_opened_after_august_2022_use_only_the_log_delivery_principal():
    assert elb_log_principals("ap-southeast-4", "aws") == [
        {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}
    ]


PUBLIC = {
    "public": True,
    "anonymous": True,
    "allowed_networks": ["203.0.113.0/24"],
    "certificate": CERTIFICATE,
    "domain": "churn.example.com",
}


def test_public_alb_sits_behind_a_waf_with_managed_rules_and_a_rate_limit(pulumi_mocks):
    deploy(pulumi_mocks, service=make_service(exposure=PUBLIC))
    acl = pulumi_mocks.one("aws:wafv2/webAcl:WebAcl").inputs
    assert acl["scope"] == "REGIONAL" and acl["defaultAction"] == {"allow": {}}
    groups = [
        r["statement"]["managedRuleGroupStatement"]["name"]
        for r in acl["rules"]
        if "managedRuleGroupStatement" in r["statement"]
    ]
    assert groups == [
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesAmazonIpReputationList",
        "AWSManagedRulesAnonymousIpList",
    ]
    (rate,) = [r for r in acl["rules"] if "rateBasedStatement" in r["statement"]]
    assert rate["action"] == {"block": {}} and rate["statement"]["rateBasedStatement"]["limit"] == 2000
    association = pulumi_mocks.one("aws:wafv2/webAclAssociation:WebAclAssociation").inputs
    assert association["resourceArn"] == pulumi_mocks.one("aws:lb/loadBalancer:LoadBalancer").outputs["arn"]
    assert association["webAclArn"] == pulumi_mocks.one("aws:wafv2/webAcl:WebAcl").outputs["arn"]


def test_public_alb_can_bring_its_own_web_acl_and_private_albs_have_none(pulumi_mocks):
    own = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/shared/0f0e0d0c-0b0a-4900-8000-000000000001"
    deploy(pulumi_mocks, service=make_service(exposure=PUBLIC), web_acl_arn=own)
    assert pulumi_mocks.by_type("aws:wafv2/webAcl:WebAcl") == []
    assert pulumi_mocks.one("aws:wafv2/webAclAssociation:WebAclAssociation").inputs["webAclArn"] == own


def test_private_alb_has_no_waf(pulumi_mocks):
    deploy(pulumi_mocks)
    assert pulumi_mocks.by_type("aws:wafv2/webAclAssociation:WebAclAssociation") == []


def test_certificate_looked_up_by_domain_in_the_target_region(pulumi_mocks):
    service = make_service(exposure={**PUBLIC, "certificate": None})
    deploy(pulumi_mocks, service=service, certificate_domain="churn.example.com")
    listener = pulumi_mocks.one("aws:lb/listener:Listener", "churn-vm-https").inputs
    assert listener["certificateArn"].startswith("arn:aws:acm:us-east-1:")
    assert listener["sslPolicy"] == TLS_POLICY


def test_certificate_arn_and_domain_are_exclusive(pulumi_mocks):
    with pytest.raises(SpecError, match="certificate_domain: set certificate_arn or certificate_domain, not both"):
        Ec2ServiceArgs(
            service=private_service(), profile=PROD, certificate_arn=CERTIFICATE, certificate_domain="churn.example.com"
        )
    with pytest.raises(SpecError, match="certificate_domain: must be the domain name"):
        Ec2ServiceArgs(service=private_service(), profile=PROD, certificate_domain="https://churn")
