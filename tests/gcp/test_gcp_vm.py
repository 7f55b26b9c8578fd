"""MigService (vm): zones, the instance template's hardening and CMEK, cloud-init, autohealing, proactive updates,
autoscaler bounds, canary versions, the internal and external load balancers, IAP, in dev and prod."""

from __future__ import annotations

import pytest
import yaml
from gcp_fixtures import (
    AR_IMAGE,
    CANARY,
    CHECKOUT,
    DEV,
    PROD,
    PROJECT,
    REGION,
    REGIONAL_CERT,
    ZONES,
    args_of,
    email_of,
    gcp_service,
    key_id,
    register,
)
from modelport.gcp.vm import COS_IMAGE, MigService, MigServiceArgs

TEMPLATE = "gcp:compute/regionInstanceTemplate:RegionInstanceTemplate"
MIG = "gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager"


def deploy(mocks, profile=PROD, service=None, **options):
    if profile is PROD and not service:
        options.setdefault("internal_certificate", REGIONAL_CERT)
    args = args_of(MigServiceArgs, service, profile, **options)
    register(lambda: MigService("churn-vm", args))
    return mocks


@pytest.mark.parametrize(("profile", "zones"), [(DEV, ZONES[:2]), (PROD, ZONES)], ids=["dev", "prod"])
def test_group_spreads_evenly_over_the_profiles_zones(pulumi_mocks, profile, zones):
    group = deploy(pulumi_mocks, profile).one(MIG).inputs
    assert group["distributionPolicyZones"] == list(zones)
    assert len(set(group["distributionPolicyZones"])) == len(zones)
    assert group["distributionPolicyTargetShape"] == "EVEN"
    assert group["region"] == REGION
    assert group["updatePolicy"]["type"] == "PROACTIVE"
    assert group["updatePolicy"]["maxUnavailableFixed"] == 0
    assert group["updatePolicy"]["maxSurgeFixed"] == len(zones)
    healing = group["autoHealingPolicies"]
    assert healing["healthCheck"] == pulumi_mocks.one("gcp:compute/healthCheck:HealthCheck", "churn-vm-autohealing").id
    assert healing["initialDelaySec"] == 300
    assert group["namedPorts"] == [{"name": "http", "port": 8080}]


@pytest.mark.parametrize("profile", [DEV, PROD], ids=["dev", "prod"])
def test_instance_template_is_hardened_and_encrypted_with_the_cmek(pulumi_mocks, profile):
    template = deploy(pulumi_mocks, profile).one(TEMPLATE).inputs
    disk = template["disks"][0]
    assert disk["sourceImage"] == COS_IMAGE
    assert disk["diskEncryptionKey"] == {"kmsKeySelfLink": key_id(pulumi_mocks)}
    assert template["shieldedInstanceConfig"] == {
        "enableSecureBoot": True,
        "enableVtpm": True,
        "enableIntegrityMonitoring": True,
    }
    assert all("accessConfigs" not in nic for nic in template["networkInterfaces"])
    metadata = template["metadata"]
    assert metadata["enable-oslogin"] == "TRUE"
    assert metadata["block-project-ssh-keys"] == "TRUE"
    assert metadata["serial-port-enable"] == "FALSE"
    assert "gce-container-declaration" not in metadata
    assert template["serviceAccount"]["email"] == email_of(pulumi_mocks, "churn-vm-foundation-identity")
    assert template["machineType"] == "n2-standard-2"
    agents = sorted(
        g.inputs["member"].split("@")[1].split(".")[0]
        for g in pulumi_mocks.by_type("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
    )
    assert agents == ["compute-system", "gcp-sa-artifactregistry", "gs-project-accounts"]


def test_cloud_init_runs_the_pinned_image_read_only_without_capabilities(pulumi_mocks):
    metadata = deploy(pulumi_mocks).one(TEMPLATE).inputs["metadata"]
    config = yaml.safe_load(metadata["user-data"])
    unit = next(f for f in config["write_files"] if f["path"] == "/etc/systemd/system/modelport.service")["content"]
    start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert start.endswith(AR_IMAGE)
    for flag in ("--read-only", "--cap-drop ALL", "--security-opt no-new-privileges", "--user 10001:10001"):
        assert flag in start
    assert f"configure-docker --registries {REGION}-docker.pkg.dev" in unit
    env = next(f for f in config["write_files"] if f["path"] == "/etc/modelport/env")["content"]
    assert "PORT=8080" in env.splitlines() and "LOG_LEVEL=info" in env.splitlines()
    assert "systemctl enable --now modelport.service" in config["runcmd"]


@pytest.mark.parametrize("profile", [DEV, PROD], ids=["dev", "prod"])
def test_autoscaler_bounds_follow_the_profile(pulumi_mocks, profile):
    policy = deploy(pulumi_mocks, profile).one("gcp:compute/regionAutoscaler:RegionAutoscaler").inputs
    assert policy["target"] == pulumi_mocks.one(MIG).id
    assert policy["autoscalingPolicy"]["minReplicas"] == profile.min_replicas
    assert policy["autoscalingPolicy"]["maxReplicas"] == 12
    assert policy["autoscalingPolicy"]["cpuUtilization"] == {"target": 0.6}


def test_canary_runs_a_second_template_on_a_share_of_instances(pulumi_mocks):
    deploy(pulumi_mocks, DEV, gcp_service(variants=CANARY))
    templates = {t.name: t for t in pulumi_mocks.by_type(TEMPLATE)}
    assert set(templates) == {"churn-vm-stable-template", "churn-vm-canary-template"}
    assert CANARY[1]["image"] in templates["churn-vm-canary-template"].inputs["metadata"]["user-data"]
    versions = pulumi_mocks.one(MIG).inputs["versions"]
    assert [v["name"] for v in versions] == ["stable", "canary"]
    assert "targetSize" not in versions[0]
    assert versions[1]["targetSize"] == {"percent": 10}
    assert versions[1]["instanceTemplate"] == templates["churn-vm-canary-template"].outputs["selfLink"]


def test_private_group_gets_an_internal_https_lb_with_proxy_only_access(pulumi_mocks):
    deploy(pulumi_mocks)
    backend = pulumi_mocks.one("gcp:compute/regionBackendService:RegionBackendService").inputs
    assert backend["loadBalancingScheme"] == "INTERNAL_MANAGED"
    assert backend["backends"][0]["group"] == pulumi_mocks.one(MIG).outputs["instanceGroup"]
    proxy = pulumi_mocks.one("gcp:compute/regionTargetHttpsProxy:RegionTargetHttpsProxy").inputs
    assert proxy["sslCertificates"] == [REGIONAL_CERT]
    policy = pulumi_mocks.one("gcp:compute/regionSslPolicy:RegionSslPolicy").inputs
    assert (policy["profile"], policy["minTlsVersion"]) == ("RESTRICTED", "TLS_1_2")
    rule = pulumi_mocks.one("gcp:compute/forwardingRule:ForwardingRule").inputs
    assert (rule["loadBalancingScheme"], rule["portRange"]) == ("INTERNAL_MANAGED", "443")
    proxy_subnet = pulumi_mocks.one("gcp:compute/subnetwork:Subnetwork", "churn-vm-lb-proxy-subnet").inputs
    assert proxy_subnet["purpose"] == "REGIONAL_MANAGED_PROXY"
    firewalls = {f.name: f.inputs for f in pulumi_mocks.by_type("gcp:compute/firewall:Firewall")}
    email = email_of(pulumi_mocks, "churn-vm-foundation-identity")
    assert firewalls["churn-vm-foundation-allow-health-checks"]["sourceRanges"] == ["35.191.0.0/16", "130.211.0.0/22"]
    assert firewalls["churn-vm-lb-allow-proxies"]["sourceRanges"] == ["10.129.0.0/23"]
    for firewall in firewalls.values():
        assert firewall["targetServiceAccounts"] == [email]
        assert firewall["allows"] == [{"protocol": "tcp", "ports": ["8080"]}]
    assert pulumi_mocks.by_type("gcp:compute/securityPolicy:SecurityPolicy") == []


def test_dev_without_a_certificate_serves_http_inside_the_vpc(pulumi_mocks):
    deploy(pulumi_mocks, DEV)
    rule = pulumi_mocks.one("gcp:compute/forwardingRule:ForwardingRule").inputs
    assert rule["portRange"] == "80"
    assert pulumi_mocks.by_type("gcp:compute/regionTargetHttpsProxy:RegionTargetHttpsProxy") == []


def test_iap_grants_the_named_principals_accessor_on_the_backend(pulumi_mocks):
    deploy(pulumi_mocks, DEV, gcp_service(exposure={"allowed_principals": [CHECKOUT]}), iap=True)
    backend = pulumi_mocks.one("gcp:compute/regionBackendService:RegionBackendService")
    assert backend.inputs["iap"] == {"enabled": True}
    grant = pulumi_mocks.one("gcp:iap/webRegionBackendServiceIamMember:WebRegionBackendServiceIamMember").inputs
    assert grant["member"] == CHECKOUT
    assert grant["role"] == "roles/iap.httpsResourceAccessor"
    assert grant["webRegionBackendService"] == backend.outputs["name"]


def test_public_group_gets_the_global_external_lb_with_armor_and_health_checks(pulumi_mocks):
    exposure = {"public": True, "domain": "churn.example.com", "allowed_principals": [CHECKOUT]}
    deploy(pulumi_mocks, PROD, gcp_service(exposure=exposure), iap=True)
    backend = pulumi_mocks.one("gcp:compute/backendService:BackendService").inputs
    assert backend["loadBalancingScheme"] == "EXTERNAL_MANAGED"
    assert backend["protocol"] == "HTTP"
    assert backend["portName"] == "http"
    assert backend["healthChecks"] == pulumi_mocks.one("gcp:compute/healthCheck:HealthCheck", "churn-vm-lb-health").id
    assert (
        backend["securityPolicy"] == pulumi_mocks.one("gcp:compute/securityPolicy:SecurityPolicy").outputs["selfLink"]
    )
    grant = pulumi_mocks.one("gcp:iap/webBackendServiceIamMember:WebBackendServiceIamMember").inputs
    assert (grant["member"], grant["project"]) == (CHECKOUT, PROJECT)


def test_project_roles_are_only_log_and_metric_writers(pulumi_mocks):
    roles = sorted(m.inputs["role"] for m in deploy(pulumi_mocks).by_type("gcp:projects/iAMMember:IAMMember"))
    assert roles == ["roles/logging.logWriter", "roles/monitoring.metricWriter"]


def test_gpu_template_attaches_the_accelerator_and_terminates_on_maintenance(pulumi_mocks):
    resources = {"cpu": 4, "memory_mib": 16384, "accelerator": {"type": "nvidia-l4"}}
    template = deploy(pulumi_mocks, DEV, gcp_service(resources=resources)).one(TEMPLATE).inputs
    assert template["machineType"] == "g2-standard-4"
    assert template["guestAccelerators"] == [{"type": "nvidia-l4", "count": 1}]
    assert template["scheduling"]["onHostMaintenance"] == "TERMINATE"
    assert "cos-extensions install gpu" in template["metadata"]["user-data"]
