"""Issue 10's classes of insecure input, refused whatever the spelling: credentials, networks, images, k8s reach."""

from __future__ import annotations

import ipaddress

import pulumi
import pytest
from conftest import make_service
from modelport import PROFILES, SpecError, Target, deploy
from modelport.credentials import credential_findings, env_credential_findings
from modelport.networks import METADATA_ADDRESSES, covers_address, internet_share, open_to_internet, subtract
from modelport.policies.rules.props import has_digest, image_refs_in_text

DIGEST = "sha256:" + "0" * 64

# --- 1. credentials in env values --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("postgres://admin:pw@db/prod", "a URL with a password"),
        ("mysql://svc:Tr0ub4dor@db.internal:3306/churn", "a URL with a password"),
        ("AKIAIOSFODNN7EXAMPLE", "an AWS Access Key"),
        ("ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8", "a GitHub Token"),
        ("xoxb-123456789012-abcdefABCDEF", "a Slack Token"),
        ("sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc", "a Stripe Access Key"),
        (
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
            "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "a JSON Web Token",
        ),
        ("Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1ub3A=", "a high-entropy string"),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
            "-----END RSA PRIVATE KEY-----",
            "a Private Key",
        ),
    ],
)
def test_credential_values_are_refused_in_env_naming_the_key_and_secrets(value: str, kind: str) -> None:
    assert kind in env_credential_findings("UPSTREAM", value)
    with pytest.raises(SpecError) as caught:
        make_service(env={"LOG_LEVEL": "info", "UPSTREAM": value})
    assert caught.value.path == "modelport:service.env.UPSTREAM"
    assert kind in caught.value.reason
    assert "secrets: {UPSTREAM: <reference>}" in caught.value.reason
    assert value not in str(caught.value)  # the error never repeats the credential


@pytest.mark.parametrize(
    "value",
    [
        "info",
        "us-east-1",
        "https://api.example.com/v1/score",
        "http://otel-collector.monitoring:4317",
        "/opt/ml/model",
        "s3://models/churn/model.tar.gz",
        "ghcr.io/acme/churn@" + DIGEST,
        "arn:aws:secretsmanager:us-east-1:111122223333:secret:churn-apikey-AbCdEf",
        "550e8400-e29b-41d4-a716-446655440000",
        "serving_default",
        "0.25",
        "https://user@example.com/",
    ],
)
def test_ordinary_env_values_pass(value: str) -> None:
    assert env_credential_findings("SETTING", value) == []
    assert make_service(env={"SETTING": value}).env["SETTING"] == value


def test_secret_references_in_boot_scripts_are_not_credentials() -> None:
    script = (
        "value=$(aws secretsmanager get-secret-value --secret-id "
        "arn:aws:secretsmanager:us-east-1:111122223333:secret:churn-apikey-AbCdEf --query SecretString)\n"
        "printf '%s=%s\\n' API_KEY \"$value\" >> /run/modelport.env\n"
    )
    assert credential_findings(script) == []
    assert credential_findings(script + "export DB=postgres://admin:hunter2@db/prod\n") == ["a URL with a password"]


# --- 2. images by the OCI grammar --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("python:3.12", False),
        ("python@" + DIGEST, True),
        ("library/python:3.12@" + DIGEST, True),
        ("ghcr.io/acme/churn:1.0", False),
        ("localhost:5000/churn@" + DIGEST, True),
        ("python@sha256:abc", False),
        ("Python@" + DIGEST, False),  # not a valid reference: uppercase repository
        (None, False),
    ],
)
def test_has_digest_parses_references(image, pinned: bool) -> None:
    assert has_digest(image) is pinned


@pytest.mark.parametrize(
    ("script", "images"),
    [
        ("docker run -d --name m -p 80:80 --user 10001:10001 python:3.12", ["python:3.12"]),
        ("sudo /usr/bin/podman pull nginx; docker container run --rm -e X=1 -- busybox:1", ["nginx", "busybox:1"]),
        ("docker run \\\n  --read-only \\\n  -it redis@" + DIGEST, ["redis@" + DIGEST]),
        ("containers:\n  - image: ghcr.io/acme/churn:1\n", ["ghcr.io/acme/churn:1"]),
        ("echo hello", []),
    ],
)
def test_boot_scripts_are_read_as_shell_words(script: str, images: list[str]) -> None:
    assert image_refs_in_text(script) == images


# --- 3. networks as sets -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cidrs",
    [
        ["0.0.0.0/0"],
        ["0.0.0.0/1", "128.0.0.0/1"],
        ["0.0.0.0/1"],
        ["::/0"],
        ["2000::/3"],
        ["::ffff:0:0/96"],
        ["8.0.0.0/7"],
        [str(n) for n in ipaddress.ip_network("0.0.0.0/0").subnets(new_prefix=4)],
    ],
)
def test_sets_that_admit_the_internet_are_open(cidrs: list[str]) -> None:
    assert open_to_internet(cidrs) is not None


@pytest.mark.parametrize("cidrs", [["10.0.0.0/8"], ["203.0.113.0/24", "198.51.100.0/24"], ["2001:db8::/32"], []])
def test_private_and_narrow_sets_are_not_open(cidrs: list[str]) -> None:
    assert open_to_internet(cidrs) is None
    assert internet_share(cidrs)[4] < 0.001


def test_metadata_addresses_are_found_inside_wider_ranges_and_excepts_remove_them() -> None:
    assert covers_address(["169.254.0.0/16"], METADATA_ADDRESSES) == ["169.254.169.254"]
    assert covers_address(["fd00::/8"], METADATA_ADDRESSES) == ["fd00:ec2::254"]
    remaining = subtract([ipaddress.ip_network("0.0.0.0/0")], [ipaddress.ip_network("169.254.0.0/16")])
    assert covers_address(remaining, METADATA_ADDRESSES) == []


@pytest.mark.parametrize("networks", [["0.0.0.0/1", "128.0.0.0/1"], ["::/0"], ["::ffff:0:0/96"]])
def test_a_private_exposure_refuses_networks_that_are_the_internet(networks: list[str]) -> None:
    with pytest.raises(SpecError) as caught:
        make_service(exposure={"allowed_networks": networks})
    assert caught.value.path == "modelport:service.exposure.allowed_networks"
    assert "internet" in caught.value.reason


# --- 5. Kubernetes options that reach past the workload ----------------------------------------------------

PUBLIC = {
    "public": True,
    "domain": "churn.example.com",
    "certificate": "churn-tls",
}


def k8s_target(**options) -> Target:
    return Target(cloud="kubernetes", pattern="kubernetes", options=options, path="modelport:targets[0]")


@pytest.mark.parametrize(
    ("exposure", "options", "path", "fragment"),
    [
        (
            {"domain": "churn.example.com", "certificate": "churn-tls"},
            {"ingress_class": "alb", "ingress_annotations": {"alb.ingress.kubernetes.io/scheme": "internet-facing"}},
            "ingress_annotations.alb.ingress.kubernetes.io/scheme",
            "private",
        ),
        (
            {"domain": "churn.example.com", "certificate": "churn-tls"},
            {
                "ingress_class": "nginx",
                "ingress_annotations": {"nginx.ingress.kubernetes.io/configuration-snippet": "allow all;"},
            },
            "ingress_annotations.nginx.ingress.kubernetes.io/configuration-snippet",
            "snippet",
        ),
        (
            {"domain": "churn.example.com", "certificate": "churn-tls"},
            {"ingress_class": "nginx", "ingress_annotations": {"nginx.ingress.kubernetes.io/server-snippet": "x"}},
            "ingress_annotations.nginx.ingress.kubernetes.io/server-snippet",
            "snippet",
        ),
        (
            {"domain": "churn.example.com", "certificate": "churn-tls"},
            {"ingress_class": "alb", "ingress_annotations": {"alb.ingress.kubernetes.io/group.name": "shared-public"}},
            "ingress_annotations.alb.ingress.kubernetes.io/group.name",
            "not allow-listed",
        ),
        (
            {"domain": "churn.example.com", "certificate": "churn-tls", "allowed_networks": ["10.0.0.0/8"]},
            {
                "ingress_class": "nginx",
                "ingress_annotations": {"nginx.ingress.kubernetes.io/whitelist-source-range": "0.0.0.0/0"},
            },
            "ingress_annotations.nginx.ingress.kubernetes.io/whitelist-source-range",
            "outside exposure.allowed_networks",
        ),
        (
            {"domain": "churn.example.com", "certificate": "churn-tls"},
            {"ingress_class": "traefik", "ingress_annotations": {"traefik.ingress.kubernetes.io/router.tls": "true"}},
            "ingress_annotations.traefik.ingress.kubernetes.io/router.tls",
            "supported controller",
        ),
        (
            {**PUBLIC},
            {
                "ingress_class": "alb",
                "ingress_annotations": {
                    "alb.ingress.kubernetes.io/auth-type": "oidc",
                    "alb.ingress.kubernetes.io/auth-on-unauthenticated-request": "allow",
                },
            },
            "ingress_annotations.alb.ingress.kubernetes.io/auth-on-unauthenticated-request",
            "authenticate, deny",
        ),
        ({"domain": "churn.example.com", "certificate": "churn-tls"}, {}, "ingress_class", "default controller"),
        ({}, {"namespace": "kube-system"}, "namespace", "system"),
        ({}, {"namespace": "kube-node-lease"}, "namespace", "system"),
        ({}, {"namespace": "monitoring"}, "namespace", "system"),
        ({}, {"namespace": "edge", "ingress_namespace": "edge"}, "namespace", "system"),
        ({}, {"identity_egress": [{"cidr": "169.254.0.0/16", "port": 80}]}, "identity_egress[0].cidr", "metadata"),
        ({}, {"identity_egress": [{"cidr": "0.0.0.0/0", "port": 443}]}, "identity_egress[0].cidr", "metadata"),
        ({}, {"identity_egress": [{"cidr": "fd00:ec2::/64", "port": 80}]}, "identity_egress[0].cidr", "metadata"),
    ],
)
def test_kubernetes_options_cannot_reach_past_the_workload(
    pulumi_mocks, exposure, options, path: str, fragment: str
) -> None:
    service = make_service(exposure=exposure)
    with pytest.raises(SpecError) as caught:
        deploy(service, k8s_target(**options), PROFILES["prod"])
    assert caught.value.path == f"modelport:targets[0].options.{path}"
    assert fragment in caught.value.reason
    assert pulumi_mocks.resources == []


def test_allow_listed_annotations_that_narrow_pass(pulumi_mocks) -> None:
    service = make_service(
        exposure={"domain": "churn.example.com", "certificate": "churn-tls", "allowed_networks": ["10.0.0.0/8"]}
    )
    options = {
        "ingress_class": "nginx",
        "ingress_annotations": {
            "nginx.ingress.kubernetes.io/whitelist-source-range": "10.1.0.0/16,10.2.0.0/16",
            "nginx.ingress.kubernetes.io/proxy-body-size": "8m",
        },
    }

    @pulumi.runtime.test
    def run():
        deploy(service, k8s_target(**options), PROFILES["prod"])

    run()
    ingress = pulumi_mocks.one("kubernetes:networking.k8s.io/v1:Ingress")
    assert ingress.inputs["spec"]["ingressClassName"] == "nginx"
    assert ingress.inputs["metadata"]["annotations"] == options["ingress_annotations"]


def test_a_shared_namespace_gets_policies_that_select_only_the_workload(pulumi_mocks) -> None:
    @pulumi.runtime.test
    def run():
        deploy(make_service(), k8s_target(namespace="team-ml", create_namespace=False), PROFILES["prod"])

    run()
    policies = pulumi_mocks.by_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    assert policies
    for policy in policies:
        selector = policy.inputs["spec"]["podSelector"]
        assert selector.get("matchLabels", {}).get("app.kubernetes.io/name") == "churn", policy.name


# --- 8. trusted inputs in the plan report ------------------------------------------------------------------


def test_the_plan_report_lists_trusted_inputs_in_text_and_json(tmp_path, capsys) -> None:
    import json

    from modelport.cli import main

    role = "arn:aws:iam::111122223333:role/model-runner"
    code = main(
        [
            "plan",
            "aws-prod",
            "--stack-dir",
            "stacks",
            "--set",
            'modelport:targets=[{"cloud": "aws", "pattern": "container", "region": "us-east-1", "options": '
            '{"certificate_domain": "churn.ml.internal.example.com", "alarm_actions": '
            '["arn:aws:sns:us-east-1:111122223333:on-call"], "task_role_arn": "' + role + '"}}]',
            "--json",
            str(tmp_path / "plan.json"),
        ]
    )
    document = json.loads((tmp_path / "plan.json").read_text())
    keys = {entry["key"]: entry for entry in document["trusted_inputs"]}
    assert keys["modelport:targets[0].options.task_role_arn"]["value"] == role
    assert "cannot see its policies" in keys["modelport:targets[0].options.task_role_arn"]["why"]
    assert "modelport:targets[0].options.alarm_actions" in keys
    out = capsys.readouterr().out
    assert "trusted inputs" in out and role in out
    assert code != 2


def test_the_cli_refuses_a_credential_in_env_with_exit_2_and_prints_the_reference_text(capsys) -> None:
    from modelport.cli import main

    code = main(
        [
            "plan",
            "aws-prod",
            "--stack-dir",
            "stacks",
            "--set",
            'modelport:service.env={"DATABASE_URL": "postgres://admin:pw@db/prod"}',
        ]
    )
    out = capsys.readouterr().out
    assert code == 2
    assert "modelport:service.env.DATABASE_URL" in out and "secrets: {DATABASE_URL: <reference>}" in out
    assert "[/versions/<v>]" in out  # rich markup in the message is printed, not interpreted
    assert "admin:pw" not in out
