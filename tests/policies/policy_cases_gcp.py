"""Fixtures for the GCP rules, built with pulumi-gcp resources and modelport's Vertex dynamic resources."""

from __future__ import annotations

from typing import Any

import pulumi_gcp as gcp
from policy_cases import DELETE, DIGEST, Case, bad, cloud_init, good, patched, serving_cloud_init

REGION = "europe-west4"
PROJECT = "modelport-plan"
KEY = f"projects/{PROJECT}/locations/{REGION}/keyRings/model/cryptoKeys/model"
SA = f"churn-run@{PROJECT}.iam.gserviceaccount.com"
DEFAULT_SA = "123456789012-compute@developer.gserviceaccount.com"
AR_IMAGE = f"{REGION}-docker.pkg.dev/{PROJECT}/models/churn@{DIGEST}"
AR_TAGGED = f"{REGION}-docker.pkg.dev/{PROJECT}/models/churn:v3"

RUN_TEMPLATE = {
    "service_account": SA,
    "encryption_key": KEY,
    "scaling": {"min_instance_count": 2, "max_instance_count": 20},
    "containers": [
        {
            "image": AR_IMAGE,
            "envs": [
                {"name": "LOG_LEVEL", "value": "info"},
                {"name": "DB_PASSWORD", "value_source": {"secret_key_ref": {"secret": "db", "version": "latest"}}},
            ],
        }
    ],
}


def cloud_run(n: str, template: dict[str, Any] | None = None, **kw: Any) -> gcp.cloudrunv2.Service:
    args = {
        "location": REGION,
        "ingress": "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
        "binary_authorization": {"use_default": True},
        "template": patched(RUN_TEMPLATE, template or {}),
    }
    return gcp.cloudrunv2.Service(n, **{**args, **kw})


def container(**patch: Any) -> dict[str, Any]:
    return {"containers": [patched(RUN_TEMPLATE["containers"][0], patch)]}


def invoker(n: str, member: str) -> gcp.cloudrunv2.ServiceIamMember:
    return gcp.cloudrunv2.ServiceIamMember(n, name="churn", location=REGION, role="roles/run.invoker", member=member)


def gke(n: str, **kw: Any) -> gcp.container.Cluster:
    args = {
        "location": REGION,
        "enable_autopilot": True,
        "database_encryption": {"state": "ENCRYPTED", "key_name": KEY},
        "private_cluster_config": {"enable_private_nodes": True, "enable_private_endpoint": True},
        "workload_identity_config": {"workload_pool": f"{PROJECT}.svc.id.goog"},
        "binary_authorization": {"evaluation_mode": "PROJECT_SINGLETON_POLICY_ENFORCE"},
        "cluster_autoscaling": {"auto_provisioning_defaults": {"service_account": SA}},
        "logging_config": {"enable_components": ["SYSTEM_COMPONENTS", "WORKLOADS"]},
    }
    return gcp.container.Cluster(n, **{**args, **kw})


def vm_metadata(**patch: Any) -> dict[str, Any]:
    base = {"enable-oslogin": "TRUE", "block-project-ssh-keys": "TRUE", "user-data": cloud_init(AR_IMAGE)}
    return patched(base, patch)


SHIELDED = {"enable_secure_boot": True, "enable_vtpm": True, "enable_integrity_monitoring": True}


def template(n: str, **kw: Any) -> gcp.compute.RegionInstanceTemplate:
    args = {
        "region": REGION,
        "machine_type": "e2-standard-4",
        "disks": [
            {"source_image": "cos-cloud/cos-stable", "boot": True, "disk_encryption_key": {"kms_key_self_link": KEY}}
        ],
        "network_interfaces": [{"subnetwork": "model"}],
        "shielded_instance_config": SHIELDED,
        "metadata": vm_metadata(),
        "service_account": {"email": SA, "scopes": ["cloud-platform"]},
    }
    return gcp.compute.RegionInstanceTemplate(n, **{**args, **kw})


def instance(n: str, **kw: Any) -> gcp.compute.Instance:
    args = {
        "zone": f"{REGION}-a",
        "machine_type": "e2-standard-4",
        "boot_disk": {"initialize_params": {"image": "cos-cloud/cos-stable"}, "kms_key_self_link": KEY},
        "network_interfaces": [{"subnetwork": "model"}],
        "shielded_instance_config": SHIELDED,
        "metadata": vm_metadata(),
        "service_account": {"email": SA, "scopes": ["cloud-platform"]},
    }
    return gcp.compute.Instance(n, **{**args, **kw})


def mig(n: str, **kw: Any) -> gcp.compute.RegionInstanceGroupManager:
    args = {
        "region": REGION,
        "base_instance_name": "churn",
        "versions": [{"instance_template": "churn"}],
        "auto_healing_policies": {"health_check": "churn-hc", "initial_delay_sec": 300},
    }
    return gcp.compute.RegionInstanceGroupManager(n, **{**args, **kw})


def autoscaler(n: str, target: Any = "churn", minimum: int = 3) -> gcp.compute.RegionAutoscaler:
    return gcp.compute.RegionAutoscaler(
        n,
        region=REGION,
        target=target,
        autoscaling_policy={"min_replicas": minimum, "max_replicas": 12, "cpu_utilization": {"target": 0.6}},
    )


def scaled_mig(n: str, scaled: bool = True) -> None:
    group = mig(n)
    if scaled:
        autoscaler(f"{n}-autoscaler", target=group.id)


def backend(n: str, **kw: Any) -> gcp.compute.BackendService:
    args = {
        "load_balancing_scheme": "EXTERNAL_MANAGED",
        "protocol": "HTTPS",
        "security_policy": "churn-armor",
        "log_config": {"enable": True, "sample_rate": 1.0},
    }
    return gcp.compute.BackendService(n, **{**args, **kw})


def armor(n: str, expression: str = "evaluatePreconfiguredWaf('cve-canary')") -> gcp.compute.SecurityPolicy:
    return gcp.compute.SecurityPolicy(
        n,
        rules=[
            {"action": "deny(403)", "priority": 1000, "match": {"expr": {"expression": expression}}},
            {
                "action": "allow",
                "priority": 2147483647,
                "match": {"versioned_expr": "SRC_IPS_V1", "config": {"src_ip_ranges": ["*"]}},
            },
        ],
    )


def subnet(n: str, **kw: Any) -> gcp.compute.Subnetwork:
    args = {
        "network": "model",
        "region": REGION,
        "ip_cidr_range": "10.10.0.0/20",
        "private_ip_google_access": True,
        "log_config": {
            "aggregation_interval": "INTERVAL_5_SEC",
            "flow_sampling": 0.5,
            "metadata": "INCLUDE_ALL_METADATA",
        },
    }
    return gcp.compute.Subnetwork(n, **{**args, **kw})


def firewall(n: str, ranges: list[str], ports: list[str], **kw: Any) -> gcp.compute.Firewall:
    return gcp.compute.Firewall(
        n,
        network="model",
        direction="INGRESS",
        source_ranges=ranges,
        allows=[{"protocol": "tcp", "ports": ports}],
        **kw,
    )


def repository(n: str, **kw: Any) -> gcp.artifactregistry.Repository:
    args = {
        "location": REGION,
        "repository_id": "models",
        "format": "DOCKER",
        "kms_key_name": KEY,
        "docker_config": {"immutable_tags": True},
    }
    return gcp.artifactregistry.Repository(n, **{**args, **kw})


def bucket(n: str, **kw: Any) -> gcp.storage.Bucket:
    args = {
        "location": "EU",
        "encryption": {"default_kms_key_name": KEY},
        "uniform_bucket_level_access": True,
        "public_access_prevention": "enforced",
    }
    return gcp.storage.Bucket(n, **{**args, **kw})


def vertex(n: str, **kw: Any) -> gcp.vertex.AiEndpoint:
    args = {
        "name": "churn",
        "location": REGION,
        "display_name": "churn",
        "encryption_spec": {"kms_key_name": KEY},
        "network": "projects/123456789012/global/networks/model",
        "predict_request_response_logging_config": {
            "enabled": True,
            "sampling_rate": 0.1,
            "bigquery_destination": {"output_uri": "bq://p.d.t"},
        },
    }
    return gcp.vertex.AiEndpoint(n, **{**args, **kw})


WAF_ARMOR_RULES = [
    {
        "action": "deny(403)",
        "priority": 1000,
        "match": {"expr": {"expression": "evaluatePreconfiguredWaf('sqli-v33-stable')"}},
    },
    {
        "action": "deny(403)",
        "priority": 1001,
        "match": {"expr": {"expression": "evaluatePreconfiguredWaf('xss-v33-stable')"}},
    },
    {
        "action": "throttle",
        "priority": 3000,
        "match": {"versioned_expr": "SRC_IPS_V1", "config": {"src_ip_ranges": ["*"]}},
        "rate_limit_options": {
            "conform_action": "allow",
            "exceed_action": "deny(429)",
            "enforce_on_key": "IP",
            "rate_limit_threshold": {"count": 600, "interval_sec": 60},
        },
    },
    {
        "action": "allow",
        "priority": 2147483647,
        "match": {"versioned_expr": "SRC_IPS_V1", "config": {"src_ip_ranges": ["*"]}},
    },
]


def waf_armor(n: str, drop: str | None = None) -> gcp.compute.SecurityPolicy:
    rules = [r for r in WAF_ARMOR_RULES if drop is None or drop not in str(r)]
    return gcp.compute.SecurityPolicy(n, type="CLOUD_ARMOR", rules=rules)


def internal_rule(n: str, port: str = "443", target: str = "targetHttpsProxies") -> gcp.compute.ForwardingRule:
    return gcp.compute.ForwardingRule(
        n,
        region=REGION,
        load_balancing_scheme="INTERNAL_MANAGED",
        port_range=port,
        network="model",
        subnetwork="model",
        target=f"projects/{PROJECT}/regions/{REGION}/{target}/churn",
    )


PROACTIVE = {"type": "PROACTIVE", "minimal_action": "REPLACE", "max_surge_fixed": 3, "max_unavailable_fixed": 0}


def vertex_deployment(n: str, low: int = 3, high: int = 12) -> Any:
    from modelport.gcp.vertex_provider import VertexDeployment

    track = {
        "model_name": f"projects/123456789012/locations/{REGION}/models/42",
        "weight": 100,
        "machine_type": "n2-standard-2",
        "min_replicas": low,
        "max_replicas": high,
        "cpu_target": 60,
    }
    return VertexDeployment(
        n,
        {
            "project": PROJECT,
            "region": REGION,
            "endpoint": f"projects/{PROJECT}/locations/{REGION}/endpoints/1234567890",
            "display_name": "churn",
            "tracks": {"stable": track},
        },
    )


def vertex_model(n: str, image: str = AR_IMAGE, env: dict[str, str] | None = None) -> Any:
    from modelport.gcp.vertex_provider import VertexModel

    return VertexModel(
        n,
        {
            "project": PROJECT,
            "region": REGION,
            "display_name": "churn-stable",
            "image": image,
            "predict_route": "/v1/models/churn:predict",
            "health_route": "/v2/health/ready",
            "port": 8080,
            "env": env if env is not None else {"GRPC_PORT": "0"},
            "encryption_key": KEY,
            "labels": {},
        },
    )


CASES: list[Case] = [
    # Cloud Run v2
    bad("gcp-cloud-run-invoker-not-public", lambda n: invoker(n, "allUsers"), "allUsers"),
    bad("gcp-cloud-run-invoker-not-public", lambda n: invoker(n, "domain:example.com"), "whole domain"),
    bad(
        "gcp-cloud-run-invoker-not-public",
        lambda n: gcp.cloudrunv2.ServiceIamBinding(
            n, name="churn", location=REGION, role="roles/run.invoker", members=["allAuthenticatedUsers"]
        ),
        "binding to allAuthenticatedUsers",
    ),
    bad("gcp-cloud-run-invoker-not-public", lambda n: cloud_run(n, invoker_iam_disabled=True), "IAM check off"),
    good(
        "gcp-cloud-run-invoker-not-public",
        lambda n: invoker(n, f"serviceAccount:checkout@{PROJECT}.iam.gserviceaccount.com"),
        "named service account",
    ),
    good("gcp-cloud-run-invoker-not-public", cloud_run, "service with IAM check"),
    bad("gcp-cloud-run-ingress", lambda n: cloud_run(n, ingress="INGRESS_TRAFFIC_ALL"), "all traffic"),
    bad("gcp-cloud-run-ingress", lambda n: cloud_run(n, ingress=None), "default ingress"),
    good("gcp-cloud-run-ingress", cloud_run, "load balancer only"),
    good("gcp-cloud-run-ingress", lambda n: cloud_run(n, ingress="INGRESS_TRAFFIC_INTERNAL_ONLY"), "internal"),
    bad("gcp-cloud-run-cmek", lambda n: cloud_run(n, template={"encryption_key": DELETE}), "Google-managed"),
    good("gcp-cloud-run-cmek", cloud_run, "CMEK"),
    bad("gcp-cloud-run-image-digest", lambda n: cloud_run(n, template=container(image=AR_TAGGED)), "tag"),
    good("gcp-cloud-run-image-digest", cloud_run, "digest"),
    bad(
        "gcp-cloud-run-no-secret-env",
        lambda n: cloud_run(n, template=container(envs=[{"name": "API_KEY", "value": "0123456789abcdef"}])),
        "literal key",
    ),
    good("gcp-cloud-run-no-secret-env", cloud_run, "Secret Manager reference"),
    bad(
        "gcp-cloud-run-dedicated-service-account",
        lambda n: cloud_run(n, template={"service_account": DELETE}),
        "default account",
    ),
    bad(
        "gcp-cloud-run-dedicated-service-account",
        lambda n: cloud_run(n, template={"service_account": DEFAULT_SA}),
        "compute default named",
    ),
    good("gcp-cloud-run-dedicated-service-account", cloud_run, "dedicated account"),
    bad(
        "gcp-cloud-run-max-instances",
        lambda n: cloud_run(n, template={"scaling": {"max_instance_count": DELETE}}),
        "uncapped",
    ),
    good("gcp-cloud-run-max-instances", cloud_run, "capped"),
    bad("gcp-cloud-run-binary-authorization", lambda n: cloud_run(n, binary_authorization=None), "off"),
    good("gcp-cloud-run-binary-authorization", cloud_run, "default policy"),
    # GKE
    bad("gcp-gke-database-encryption", lambda n: gke(n, database_encryption={"state": "DECRYPTED"}), "decrypted"),
    good("gcp-gke-database-encryption", gke, "Cloud KMS"),
    bad("gcp-gke-private-nodes", lambda n: gke(n, private_cluster_config=None), "public nodes"),
    good("gcp-gke-private-nodes", gke, "private nodes"),
    bad(
        "gcp-gke-control-plane-access",
        lambda n: gke(n, private_cluster_config={"enable_private_nodes": True}),
        "public endpoint, no networks",
    ),
    bad(
        "gcp-gke-control-plane-access",
        lambda n: gke(
            n,
            private_cluster_config={"enable_private_nodes": True},
            master_authorized_networks_config={"cidr_blocks": [{"cidr_block": "0.0.0.0/0"}]},
        ),
        "authorised 0.0.0.0/0",
    ),
    good("gcp-gke-control-plane-access", gke, "private endpoint"),
    good(
        "gcp-gke-control-plane-access",
        lambda n: gke(
            n,
            private_cluster_config={"enable_private_nodes": True},
            master_authorized_networks_config={"cidr_blocks": [{"cidr_block": "198.51.100.0/24"}]},
        ),
        "operators' CIDR",
    ),
    bad(
        "gcp-gke-workload-identity",
        lambda n: gke(n, enable_autopilot=False, workload_identity_config=None),
        "standard without WI",
    ),
    good("gcp-gke-workload-identity", gke, "Autopilot"),
    bad("gcp-gke-regional", lambda n: gke(n, location=f"{REGION}-a"), "zonal"),
    good("gcp-gke-regional", gke, "regional"),
    bad("gcp-gke-logging", lambda n: gke(n, logging_service="none", logging_config=None), "none"),
    bad("gcp-gke-logging", lambda n: gke(n, logging_config={"enable_components": ["WORKLOADS"]}), "no system logs"),
    good("gcp-gke-logging", gke, "system and workloads"),
    bad("gcp-gke-binary-authorization", lambda n: gke(n, binary_authorization={"evaluation_mode": "DISABLED"}), "off"),
    good("gcp-gke-binary-authorization", gke, "enforced"),
    bad("gcp-gke-node-service-account", lambda n: gke(n, cluster_autoscaling=None), "default account"),
    bad(
        "gcp-gke-node-service-account",
        lambda n: gcp.container.NodePool(
            n, cluster="churn", location=REGION, node_config={"service_account": DEFAULT_SA}
        ),
        "node pool default",
    ),
    good(
        "gcp-gke-node-service-account",
        lambda n: gcp.container.NodePool(n, cluster="churn", location=REGION, node_config={"service_account": SA}),
        "node pool dedicated",
    ),
    # Compute Engine
    bad("gcp-vm-shielded", lambda n: template(n, shielded_instance_config=None), "not shielded"),
    bad(
        "gcp-vm-shielded",
        lambda n: instance(n, shielded_instance_config={"enable_secure_boot": True, "enable_vtpm": False}),
        "no vTPM",
    ),
    good("gcp-vm-shielded", template, "shielded"),
    bad(
        "gcp-vm-no-public-ip",
        lambda n: template(n, network_interfaces=[{"subnetwork": "model", "access_configs": [{}]}]),
        "ephemeral IP",
    ),
    good("gcp-vm-no-public-ip", instance, "private"),
    bad(
        "gcp-vm-disk-cmek",
        lambda n: template(n, disks=[{"source_image": "cos-cloud/cos-stable", "boot": True}]),
        "Google-managed",
    ),
    bad("gcp-vm-disk-cmek", lambda n: instance(n, boot_disk={"initialize_params": {"image": "cos"}}), "instance"),
    good("gcp-vm-disk-cmek", template, "CMEK"),
    bad("gcp-vm-os-login", lambda n: template(n, metadata=vm_metadata(**{"enable-oslogin": "FALSE"})), "off"),
    bad(
        "gcp-vm-os-login",
        lambda n: template(n, metadata=vm_metadata(**{"block-project-ssh-keys": DELETE})),
        "project keys",
    ),
    good("gcp-vm-os-login", template, "OS Login"),
    bad(
        "gcp-vm-serial-port-disabled",
        lambda n: template(n, metadata=vm_metadata(**{"serial-port-enable": "TRUE"})),
        "serial on",
    ),
    good("gcp-vm-serial-port-disabled", template, "serial off"),
    bad(
        "gcp-vm-dedicated-service-account",
        lambda n: template(n, service_account={"email": DEFAULT_SA, "scopes": ["cloud-platform"]}),
        "default account",
    ),
    bad("gcp-vm-dedicated-service-account", lambda n: template(n, service_account=None), "unset"),
    good("gcp-vm-dedicated-service-account", template, "dedicated"),
    bad(
        "gcp-vm-metadata-no-secrets",
        lambda n: template(
            n,
            metadata=vm_metadata(
                **{"startup-script": "export GITHUB_TOKEN=ghp_0123456789abcdefghijklmnopqrstuvwxyzAB"}
            ),
        ),
        "token",
    ),
    good("gcp-vm-metadata-no-secrets", template, "clean"),
    bad(
        "gcp-vm-image-digest",
        lambda n: template(n, metadata=vm_metadata(**{"user-data": cloud_init(AR_TAGGED)})),
        "tag",
    ),
    good("gcp-vm-image-digest", template, "digest"),
    bad(
        "gcp-mig-multi-zone",
        lambda n: gcp.compute.InstanceGroupManager(
            n, zone=f"{REGION}-a", base_instance_name="churn", versions=[{"instance_template": "churn"}]
        ),
        "zonal",
    ),
    bad(
        "gcp-mig-multi-zone",
        lambda n: mig(n, distribution_policy_zones=[f"{REGION}-a", f"{REGION}-b"]),
        "two zones in prod",
    ),
    good("gcp-mig-multi-zone", mig, "regional default"),
    bad("gcp-mig-auto-healing", lambda n: mig(n, auto_healing_policies=None), "no health check"),
    good("gcp-mig-auto-healing", mig, "auto-healing"),
    bad("gcp-autoscaler-min-replicas-prod", lambda n: autoscaler(n, minimum=1), "min 1"),
    good("gcp-autoscaler-min-replicas-prod", autoscaler, "min 3"),
    # load balancing and network
    bad("gcp-ssl-policy-modern", lambda n: gcp.compute.SSLPolicy(n), "COMPATIBLE default"),
    bad(
        "gcp-ssl-policy-modern",
        lambda n: gcp.compute.SSLPolicy(n, profile="MODERN", min_tls_version="TLS_1_0"),
        "TLS 1.0",
    ),
    good(
        "gcp-ssl-policy-modern",
        lambda n: gcp.compute.SSLPolicy(n, profile="RESTRICTED", min_tls_version="TLS_1_2"),
        "restricted",
    ),
    bad(
        "gcp-https-proxy-ssl-policy",
        lambda n: gcp.compute.TargetHttpsProxy(n, url_map="churn", ssl_certificates=["churn"]),
        "none",
    ),
    good(
        "gcp-https-proxy-ssl-policy",
        lambda n: gcp.compute.TargetHttpsProxy(
            n, url_map="churn", ssl_certificates=["churn"], ssl_policy="churn-restricted"
        ),
        "policy",
    ),
    bad("gcp-backend-cloud-armor", lambda n: backend(n, security_policy=None), "no Armor"),
    good("gcp-backend-cloud-armor", backend, "Armor"),
    bad("gcp-armor-log4j", lambda n: armor(n, "evaluatePreconfiguredWaf('xss-v33-stable')"), "no cve-canary"),
    good("gcp-armor-log4j", armor, "cve-canary"),
    bad("gcp-backend-logging", lambda n: backend(n, log_config=None), "off"),
    good("gcp-backend-logging", backend, "on"),
    bad("gcp-subnet-flow-logs", lambda n: subnet(n, log_config=None), "off"),
    good("gcp-subnet-flow-logs", subnet, "on"),
    bad("gcp-subnet-private-google-access", lambda n: subnet(n, private_ip_google_access=False), "off"),
    good("gcp-subnet-private-google-access", subnet, "on"),
    bad("gcp-firewall-no-open-ingress", lambda n: firewall(n, ["0.0.0.0/0"], ["22"]), "SSH"),
    bad(
        "gcp-firewall-no-open-ingress",
        lambda n: gcp.compute.Firewall(n, network="model", source_ranges=["0.0.0.0/0"], allows=[{"protocol": "all"}]),
        "all ports",
    ),
    good(
        "gcp-firewall-no-open-ingress",
        lambda n: firewall(n, ["35.191.0.0/16", "130.211.0.0/22"], ["8080"]),
        "health checks",
    ),
    good("gcp-firewall-no-open-ingress", lambda n: firewall(n, ["0.0.0.0/0"], ["443"]), "HTTPS"),
    # keys, registries, buckets, IAM
    bad("gcp-kms-key-rotation", lambda n: gcp.kms.CryptoKey(n, key_ring="model"), "no rotation"),
    bad(
        "gcp-kms-key-rotation", lambda n: gcp.kms.CryptoKey(n, key_ring="model", rotation_period="31536000s"), "yearly"
    ),
    good(
        "gcp-kms-key-rotation", lambda n: gcp.kms.CryptoKey(n, key_ring="model", rotation_period="7776000s"), "90 days"
    ),
    bad(
        "gcp-iam-no-public-access",
        lambda n: gcp.artifactregistry.RepositoryIamMember(
            n, repository="models", location=REGION, role="roles/artifactregistry.reader", member="allUsers"
        ),
        "public registry",
    ),
    bad(
        "gcp-iam-no-public-access",
        lambda n: gcp.storage.BucketIAMBinding(
            n, bucket="models", role="roles/storage.objectViewer", members=["allAuthenticatedUsers"]
        ),
        "public bucket",
    ),
    bad(
        "gcp-iam-no-public-access",
        lambda n: gcp.kms.CryptoKeyIAMMember(
            n, crypto_key_id=KEY, role="roles/cloudkms.cryptoKeyDecrypter", member="allUsers"
        ),
        "public key",
    ),
    good(
        "gcp-iam-no-public-access",
        lambda n: gcp.artifactregistry.RepositoryIamMember(
            n, repository="models", location=REGION, role="roles/artifactregistry.reader", member=f"serviceAccount:{SA}"
        ),
        "named reader",
    ),
    bad(
        "gcp-project-no-basic-roles",
        lambda n: gcp.projects.IAMMember(n, project=PROJECT, role="roles/editor", member=f"serviceAccount:{SA}"),
        "editor",
    ),
    good(
        "gcp-project-no-basic-roles",
        lambda n: gcp.projects.IAMMember(
            n, project=PROJECT, role="roles/logging.logWriter", member=f"serviceAccount:{SA}"
        ),
        "log writer",
    ),
    bad("gcp-artifact-registry-cmek", lambda n: repository(n, kms_key_name=None), "Google-managed"),
    good("gcp-artifact-registry-cmek", repository, "CMEK"),
    bad("gcp-artifact-registry-immutable-tags", lambda n: repository(n, docker_config=None), "mutable"),
    good("gcp-artifact-registry-immutable-tags", repository, "immutable"),
    bad(
        "gcp-artifact-registry-scanning",
        lambda n: repository(n, vulnerability_scanning_config={"enablement_config": "DISABLED"}),
        "disabled",
    ),
    good("gcp-artifact-registry-scanning", repository, "inherited"),
    bad("gcp-bucket-hardening", lambda n: bucket(n, encryption=None), "no CMEK"),
    bad(
        "gcp-bucket-hardening",
        lambda n: bucket(n, public_access_prevention="inherited", uniform_bucket_level_access=False),
        "ACLs and public",
    ),
    good("gcp-bucket-hardening", bucket, "hardened"),
    # Vertex AI
    bad("gcp-vertex-endpoint-cmek", lambda n: vertex(n, encryption_spec=None), "Google-managed"),
    good("gcp-vertex-endpoint-cmek", vertex, "CMEK"),
    bad("gcp-vertex-endpoint-private", lambda n: vertex(n, network=None), "public"),
    good("gcp-vertex-endpoint-private", vertex, "peered"),
    good(
        "gcp-vertex-endpoint-private",
        lambda n: vertex(
            n,
            network=None,
            private_service_connect_config={"enable_private_service_connect": True, "project_allowlists": [PROJECT]},
        ),
        "PSC",
    ),
    bad("gcp-vertex-request-logging", lambda n: vertex(n, predict_request_response_logging_config=None), "off"),
    good("gcp-vertex-request-logging", vertex, "on"),
    # what the GCP components create: Cloud Armor, load balancers, MIG updates, VM containers, Vertex
    bad("gcp-armor-waf-rate-limit", armor, "Log4Shell only"),
    bad("gcp-armor-waf-rate-limit", lambda n: waf_armor(n, drop="throttle"), "no rate limit"),
    bad("gcp-armor-waf-rate-limit", lambda n: waf_armor(n, drop="xss"), "no XSS rules"),
    good("gcp-armor-waf-rate-limit", waf_armor, "WAF and throttle"),
    bad("gcp-lb-external-managed", lambda n: backend(n, load_balancing_scheme="EXTERNAL"), "classic backend"),
    bad(
        "gcp-lb-external-managed",
        lambda n: gcp.compute.GlobalForwardingRule(n, port_range="443", target="churn-https"),
        "classic default rule",
    ),
    good("gcp-lb-external-managed", backend, "Envoy-based"),
    bad(
        "gcp-external-backend-authenticated-prod",
        lambda n: backend(n, protocol="HTTP", health_checks="churn-hc", port_name="http"),
        "VMs without IAP",
    ),
    good(
        "gcp-external-backend-authenticated-prod",
        lambda n: backend(n, protocol="HTTP", health_checks="churn-hc", port_name="http", iap={"enabled": True}),
        "VMs behind IAP",
    ),
    bad("gcp-internal-lb-https-prod", lambda n: internal_rule(n, "80", "targetHttpProxies"), "plain HTTP"),
    good("gcp-internal-lb-https-prod", internal_rule, "HTTPS proxy on 443"),
    bad("gcp-mig-proactive-update", mig, "no update policy"),
    bad(
        "gcp-mig-proactive-update",
        lambda n: mig(n, update_policy={**PROACTIVE, "max_unavailable_fixed": 3}),
        "three at a time",
    ),
    good("gcp-mig-proactive-update", lambda n: mig(n, update_policy=PROACTIVE), "surge, none unavailable"),
    bad(
        "gcp-vm-no-container-declaration",
        lambda n: template(
            n, metadata=vm_metadata(**{"gce-container-declaration": f"spec:\n  containers:\n  - image: {AR_IMAGE}"})
        ),
        "konlet",
    ),
    good("gcp-vm-no-container-declaration", template, "cloud-init"),
    bad("gcp-vertex-deployment-replicas-prod", lambda n: vertex_deployment(n, low=1), "one replica"),
    bad("gcp-vertex-deployment-replicas-prod", lambda n: vertex_deployment(n, low=3, high=2), "max below min"),
    good("gcp-vertex-deployment-replicas-prod", vertex_deployment, "three to twelve"),
    bad("gcp-vertex-model-image", lambda n: vertex_model(n, AR_TAGGED), "tag"),
    bad("gcp-vertex-model-image", lambda n: vertex_model(n, f"registry.example.com/ml/churn@{DIGEST}"), "elsewhere"),
    good("gcp-vertex-model-image", vertex_model, "Artifact Registry digest"),
    # stack join
    bad("autoscaler-gcp-mig", lambda n: scaled_mig(n, scaled=False), "no autoscaler"),
    good("autoscaler-gcp-mig", scaled_mig, "regional autoscaler"),
    # the serving image's gRPC listener stays off where the target forwards HTTP only
    bad("serving-grpc-closed-where-not-carried", lambda n: vertex_model(n, env={}), "Vertex: GRPC_PORT absent (8081)"),
    bad("serving-grpc-closed-where-not-carried", lambda n: vertex_model(n, env={"GRPC_PORT": "8081"}), "Vertex: 8081"),
    good("serving-grpc-closed-where-not-carried", vertex_model, "Vertex: 0"),
    bad("serving-grpc-closed-where-not-carried", template, "VM: docker run without GRPC_PORT (8081)"),
    bad(
        "serving-grpc-closed-where-not-carried",
        lambda n: template(n, metadata=vm_metadata(**{"user-data": serving_cloud_init("GRPC_PORT=8081\n")})),
        "VM: env file 8081",
    ),
    bad(
        "serving-grpc-closed-where-not-carried",
        lambda n: template(
            n, metadata=vm_metadata(**{"user-data": serving_cloud_init("GRPC_PORT=0\n", flags="-e GRPC_PORT=9000")})
        ),
        "VM: -e flag overrides the env file's 0",
    ),
    bad(
        "serving-grpc-closed-where-not-carried",
        lambda n: instance(
            n, metadata=vm_metadata(**{"user-data": serving_cloud_init("GRPC_PORT=0\n", flags="--env GRPC_PORT")})
        ),
        "VM: GRPC_PORT passed through from the host",
    ),
    bad(
        "serving-grpc-closed-where-not-carried",
        lambda n: template(n, metadata=vm_metadata(**{"user-data": "#cloud-config\nruncmd:\n  - [echo, hello]\n"})),
        "VM: no docker run to judge",
    ),
    good(
        "serving-grpc-closed-where-not-carried",
        lambda n: template(n, metadata=vm_metadata(**{"user-data": serving_cloud_init("PORT=8080\nGRPC_PORT=0\n")})),
        "VM: env file 0",
    ),
    good(
        "serving-grpc-closed-where-not-carried",
        lambda n: instance(n, metadata=vm_metadata(**{"user-data": serving_cloud_init(flags="--env=GRPC_PORT=00")})),
        "VM: --env=GRPC_PORT=00",
    ),
]
