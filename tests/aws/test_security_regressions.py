"""Issue 10's bugs on AWS (secure configs that failed) and prod recovery, judged on real plans under the mocks."""

from __future__ import annotations

import pytest
from aws_fixtures import ACCOUNT, CANARY, CERTIFICATE, PROD, REGION, build, make_service
from modelport.aws.checks import secret_resource_arns
from modelport.aws.container import EcsService, EcsServiceArgs
from modelport.aws.vm import Ec2Service, Ec2ServiceArgs
from modelport.plan.policy import evaluate
from modelport.validation import SpecError

SECRET_NAME_ONLY = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:churn-apikey"
SECRET_COMPLETE = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:churn-apikey-AbC1eF"


def mandatory(plan, rule: str | None = None) -> list[str]:
    """Mandatory violations of ``plan`` judged as a prod stack."""
    report = evaluate(plan, environment="prod").report()
    assert report.evaluated > 0
    return [
        f"{v.policy}: {v.message}"
        for v in report.violations
        if v.level == "mandatory" and (rule is None or v.policy == rule)
    ]


@pytest.mark.parametrize(
    ("reference", "granted"),
    [
        # A name that ends in a dash and six characters is not a complete ARN: AWS's suffix may follow.
        (SECRET_NAME_ONLY, [SECRET_NAME_ONLY, SECRET_NAME_ONLY + "-??????"]),
        (SECRET_COMPLETE, [SECRET_COMPLETE, SECRET_COMPLETE + "-??????"]),
        (SECRET_COMPLETE + ":password::", [SECRET_COMPLETE, SECRET_COMPLETE + "-??????"]),
        (
            f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:db",
            [f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:db-??????"],
        ),
    ],
)
def test_secret_grants_match_the_secret_however_the_reference_ends(reference: str, granted: list[str]) -> None:
    assert secret_resource_arns(reference) == granted


def test_the_task_role_can_read_a_secret_named_like_an_arn_suffix() -> None:
    service = make_service(secrets={"API_KEY": SECRET_NAME_ONLY}, exposure={"certificate": CERTIFICATE})
    built = build(lambda: EcsService("churn", EcsServiceArgs(service=service, profile=PROD)))
    documents = [
        r.inputs["policy"]
        for r in built.by_type("aws:iam/rolePolicy:RolePolicy")
        if "GetSecretValue" in r.inputs["policy"]
    ]
    assert documents and all(SECRET_NAME_ONLY + "-??????" in d for d in documents)


def test_vm_secrets_manager_references_do_not_trip_the_user_data_rule() -> None:
    service = make_service(secrets={"API_KEY": SECRET_COMPLETE}, exposure={"certificate": CERTIFICATE})
    plan = build(lambda: Ec2Service("churn", Ec2ServiceArgs(service=service, profile=PROD))).plan
    assert mandatory(plan, "aws-user-data-no-secrets") == []


@pytest.mark.parametrize(
    ("component", "args_type"),
    [(Ec2Service, Ec2ServiceArgs), (EcsService, EcsServiceArgs)],
    ids=["vm", "container"],
)
def test_prod_canaries_are_judged_on_the_service_as_a_whole(component, args_type) -> None:
    service = make_service(
        variants=CANARY, scaling={"min_replicas": 3, "max_replicas": 12}, exposure={"certificate": CERTIFICATE}
    )
    plan = build(lambda: component("churn", args_type(service=service, profile=PROD))).plan
    assert mandatory(plan, "aws-min-capacity-prod") == []


def test_prod_alarms_notify_a_created_topic_when_no_action_is_given() -> None:
    service = make_service(exposure={"certificate": CERTIFICATE})
    built = build(lambda: EcsService("churn", EcsServiceArgs(service=service, profile=PROD)))
    topic = built.one("aws:sns/topic:Topic")
    assert topic.inputs.get("kmsMasterKeyId"), "the alarm topic is encrypted with the foundation key"
    alarms = built.by_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    assert alarms and all(a.inputs["alarmActions"] for a in alarms)
    assert mandatory(built.plan, "aws-alarm-actions-prod") == []
    key_policy = built.one("aws:kms/key:Key").inputs["policy"]
    assert "AllowCloudWatchAlarmsToPublishToEncryptedTopics" in key_policy


def test_configured_alarm_actions_create_no_topic() -> None:
    service = make_service(exposure={"certificate": CERTIFICATE})
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:on-call"
    built = build(lambda: EcsService("churn", EcsServiceArgs(service=service, profile=PROD, alarm_actions=[topic])))
    assert built.by_type("aws:sns/topic:Topic") == []
    assert all(a.inputs["alarmActions"] == [topic] for a in built.by_type("aws:cloudwatch/metricAlarm:MetricAlarm"))


# --- availability: distinct zones, bring-your-own subnets looked up -----------------------------------------

VPC = "vpc-0123456789abcdef0"


def test_duplicate_subnets_are_refused() -> None:
    with pytest.raises(SpecError) as caught:
        EcsServiceArgs(
            service=make_service(exposure={"certificate": CERTIFICATE}),
            profile=PROD,
            vpc_id=VPC,
            private_subnet_ids=["subnet-0123456789abcdef0", "subnet-0123456789abcdef1", "subnet-0123456789abcdef0"],
        )
    assert caught.value.path == "private_subnet_ids[2]"
    assert "repeats private_subnet_ids[0]" in caught.value.reason


@pytest.mark.parametrize(
    "subnets",
    [
        # The mock places a subnet by its id's last hex digit: 0 and 6 are both zone a.
        ["subnet-0123456789abcdef0", "subnet-0123456789abcdef6", "subnet-0123456789abcdef1"],
        ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
    ],
)
def test_prod_bring_your_own_subnets_must_span_three_distinct_zones(subnets: list[str]) -> None:
    service = make_service(exposure={"certificate": CERTIFICATE})
    with pytest.raises(ValueError, match="distinct zones"):
        build(
            lambda: EcsService(
                "churn", EcsServiceArgs(service=service, profile=PROD, vpc_id=VPC, private_subnet_ids=subnets)
            )
        )


def test_prod_bring_your_own_subnets_in_three_zones_plan() -> None:
    service = make_service(exposure={"certificate": CERTIFICATE})
    subnets = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1", "subnet-0123456789abcdef2"]
    built = build(
        lambda: EcsService(
            "churn", EcsServiceArgs(service=service, profile=PROD, vpc_id=VPC, private_subnet_ids=subnets)
        )
    )
    ecs = built.one("aws:ecs/service:Service")
    assert ecs.inputs["networkConfiguration"]["subnets"] == subnets


# --- public means authenticated: ALB authenticators ---------------------------------------------------------

COGNITO = {
    "user_pool_arn": f"arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/{REGION}_Example1",
    "user_pool_client_id": "churn-client",
    "user_pool_domain": "churn-auth",
}
OIDC = {
    "issuer": "https://login.example.com",
    "authorization_endpoint": "https://login.example.com/authorize",
    "token_endpoint": "https://login.example.com/token",
    "user_info_endpoint": "https://login.example.com/userinfo",
    "client_id": "churn",
    "client_secret_config": "modelport:oidcClientSecret",
}
PUBLIC = {"public": True, "certificate": CERTIFICATE}
PUBLIC_SUBNETS = {}


@pytest.mark.parametrize("option", ["authenticate_cognito", "authenticate_oidc"])
def test_a_public_alb_authenticates_before_forwarding_and_plans_clean_in_prod(option: str) -> None:
    service = make_service(exposure=PUBLIC)
    value = COGNITO if option == "authenticate_cognito" else OIDC
    built = build(
        lambda: EcsService("churn", EcsServiceArgs(service=service, profile=PROD, **{option: value})),
        config={"modelport:environment": "prod", "modelport:oidcClientSecret": "not-a-real-secret"},
    )
    https = built.one("aws:lb/listener:Listener", "churn-https")
    actions = https.inputs["defaultActions"]
    if isinstance(actions, dict):  # a secret client secret makes the whole list secret
        actions = actions["value"]
    assert [a["type"] for a in actions] == [option.replace("_", "-"), "forward"]
    assert [a["order"] for a in actions] == [1, 2]
    assert mandatory(built.plan) == []
    if option == "authenticate_oidc":
        assert "not-a-real-secret" not in built.plan.to_json()


def test_a_public_alb_without_an_authenticator_is_refused() -> None:
    with pytest.raises(SpecError) as caught:
        EcsServiceArgs(service=make_service(exposure=PUBLIC), profile=PROD)
    assert caught.value.path == "modelport:service.exposure.public"
    assert "authenticate_oidc" in caught.value.reason


def test_an_anonymous_public_alb_plans_but_prod_refuses_it() -> None:
    service = make_service(exposure={**PUBLIC, "anonymous": True})
    plan = build(lambda: EcsService("churn", EcsServiceArgs(service=service, profile=PROD))).plan
    assert mandatory(plan, "aws-public-endpoint-authenticated-prod")


@pytest.mark.parametrize(
    ("oidc", "path", "fragment"),
    [
        ({**OIDC, "client_secret_config": None, "client_secret": "plain"}, "authenticate_oidc.client_secret", "plain"),
        (
            {k: v for k, v in OIDC.items() if k != "client_secret_config"},
            "authenticate_oidc.client_secret_config",
            "--secret",
        ),
        ({**OIDC, "client_secret": "plain"}, "authenticate_oidc.client_secret_config", "secret"),
        ({**OIDC, "token_endpoint": "http://login.example.com/token"}, "authenticate_oidc.token_endpoint", "https://"),
    ],
)
def test_oidc_client_secrets_never_come_from_plain_config(oidc, path: str, fragment: str) -> None:
    oidc = {k: v for k, v in oidc.items() if v is not None}
    with pytest.raises(SpecError) as caught:
        EcsServiceArgs(service=make_service(exposure=PUBLIC), profile=PROD, authenticate_oidc=oidc)
    assert caught.value.path == path
    assert fragment in caught.value.reason


# --- bring-your-own values from other accounts --------------------------------------------------------------

OTHER = "444455556666"  # documentation-style account id, not the mocks' own
OTHER_KEY = f"arn:aws:kms:{REGION}:{OTHER}:key/11111111-2222-4333-8444-555555555555"
OWN_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-4333-8444-555555555555"


def test_another_accounts_kms_key_needs_an_acknowledgement() -> None:
    service = make_service(exposure={"certificate": CERTIFICATE})
    with pytest.raises(ValueError, match="cross_account: \\[kms_key_arn\\]"):
        build(lambda: EcsService("churn", EcsServiceArgs(service=service, profile=PROD, kms_key_arn=OTHER_KEY)))
    built = build(
        lambda: EcsService(
            "churn", EcsServiceArgs(service=service, profile=PROD, kms_key_arn=OTHER_KEY, cross_account=["kms_key_arn"])
        )
    )
    assert built.one("aws:cloudwatch/logGroup:LogGroup", "churn-foundation-logs").inputs["kmsKeyId"] == OTHER_KEY
    built = build(lambda: EcsService("churn", EcsServiceArgs(service=service, profile=PROD, kms_key_arn=OWN_KEY)))
    assert built.one("aws:cloudwatch/logGroup:LogGroup", "churn-foundation-logs").inputs["kmsKeyId"] == OWN_KEY


def test_another_accounts_web_acl_is_refused_outright() -> None:
    acl = f"arn:aws:wafv2:{REGION}:{OTHER}:regional/webacl/shared/12345678-1234-4234-8234-123456789012"
    service = make_service(exposure=PUBLIC)
    with pytest.raises(ValueError, match="can only be associated with a web ACL of its own account"):
        build(
            lambda: EcsService(
                "churn", EcsServiceArgs(service=service, profile=PROD, web_acl_arn=acl, authenticate_cognito=COGNITO)
            )
        )


def test_cross_account_names_only_options_that_may_be_shared() -> None:
    with pytest.raises(SpecError) as caught:
        EcsServiceArgs(
            service=make_service(exposure={"certificate": CERTIFICATE}), profile=PROD, cross_account=["web_acl_arn"]
        )
    assert caught.value.path == "cross_account[0]"


def test_cluster_admin_is_never_granted_to_another_accounts_role() -> None:
    from modelport.aws.kubernetes import EksService, EksServiceArgs

    service = make_service()
    other_role = f"arn:aws:iam::{OTHER}:role/operators"
    with pytest.raises(ValueError, match="never granted across accounts"):
        build(
            lambda: EksService(
                "churn", EksServiceArgs(service=service, profile=PROD, admin_principal_arns=[other_role])
            )
        )
    own_role = f"arn:aws:iam::{ACCOUNT}:role/operators"
    built = build(
        lambda: EksService("churn", EksServiceArgs(service=service, profile=PROD, admin_principal_arns=[own_role]))
    )
    assert built.one("aws:eks/accessEntry:AccessEntry").inputs["principalArn"] == own_role


# --- what Checkov's terraform checks found: web ACL logging (CKV2_AWS_31) and anonymous IPs (CKV2_AWS_76) --------


def test_the_created_web_acl_logs_redacted_requests_and_blocks_anonymous_ips() -> None:
    service = make_service(exposure=PUBLIC)
    built = build(
        lambda: EcsService("churn", EcsServiceArgs(service=service, profile=PROD, authenticate_cognito=COGNITO))
    )
    acl = built.one("aws:wafv2/webAcl:WebAcl")
    groups = {
        r["statement"]["managedRuleGroupStatement"]["name"]: r
        for r in acl.inputs["rules"]
        if "managedRuleGroupStatement" in r["statement"]
    }
    anonymous = groups["AWSManagedRulesAnonymousIpList"]["statement"]["managedRuleGroupStatement"]
    assert [o["name"] for o in anonymous["ruleActionOverrides"]] == ["HostingProviderIPList"]
    logging = built.one("aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration")
    group = built.one("aws:cloudwatch/logGroup:LogGroup", "churn-waf-logs")
    assert group.inputs["name"].startswith("aws-waf-logs-")
    assert group.inputs["kmsKeyId"]
    assert logging.inputs["logDestinationConfigs"] == [group.outputs["arn"]]
    assert {f["singleHeader"]["name"] for f in logging.inputs["redactedFields"]} == {"authorization", "cookie"}
