"""ModelWorkload under mocks: hardened pods, zone spread, autoscaling, disruption budget, network policy, TLS."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pulumi
import pulumi_kubernetes as k8s
import pytest
from conftest import IMAGE, make_service
from modelport import PROFILES, ModelService, SpecError, Target, deploy
from modelport.kubernetes import ModelWorkload, ModelWorkloadArgs
from modelport.kubernetes.workload import GRACEFUL_TIMEOUT_SECONDS, PRESTOP_SECONDS
from modelport.spec import split_replicas

# The oldest minor the managed clouds still support in standard channels, and the newest schema available.
K8S_VERSIONS = ("1.33.0", kubernetes_validate.latest_version())
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
SERVICE = "kubernetes:core/v1:Service"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"


def build(captured, service: ModelService, profile: str = "prod", **options: Any) -> None:
    @pulumi.runtime.test
    def run():
        ModelWorkload("churn", ModelWorkloadArgs(service=service, profile=PROFILES[profile], **options))

    run()


def pod_spec(deployment) -> dict[str, Any]:
    return deployment.inputs["spec"]["template"]["spec"]


def container(deployment) -> dict[str, Any]:
    (only,) = pod_spec(deployment)["containers"]
    return only


def test_namespace_enforces_pod_security_restricted(pulumi_mocks, service) -> None:
    build(pulumi_mocks, service)
    labels = pulumi_mocks.one("kubernetes:core/v1:Namespace").inputs["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"


def test_service_account_has_no_token_and_carries_cloud_identity(pulumi_mocks, service) -> None:
    role = "arn:aws:iam::111122223333:role/churn"
    build(pulumi_mocks, service, service_account_annotations={"eks.amazonaws.com/role-arn": role})
    account = pulumi_mocks.one("kubernetes:core/v1:ServiceAccount").inputs
    assert account["automountServiceAccountToken"] is False
    assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": role}
    deployment = pulumi_mocks.one(DEPLOYMENT)
    assert pod_spec(deployment)["automountServiceAccountToken"] is False
    assert pod_spec(deployment)["serviceAccountName"] == account["metadata"]["name"]


def test_rollout_never_drops_capacity_and_spreads_over_zones_and_hosts(pulumi_mocks, service) -> None:
    build(pulumi_mocks, service, profile="prod")
    deployment = pulumi_mocks.one(DEPLOYMENT)
    assert deployment.inputs["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    spread = {c["topologyKey"]: c for c in pod_spec(deployment)["topologySpreadConstraints"]}
    assert spread["topology.kubernetes.io/zone"]["whenUnsatisfiable"] == "DoNotSchedule"
    assert spread["topology.kubernetes.io/zone"]["maxSkew"] == 1
    assert spread["kubernetes.io/hostname"]["whenUnsatisfiable"] == "ScheduleAnyway"
    selector = deployment.inputs["spec"]["selector"]["matchLabels"]
    assert spread["topology.kubernetes.io/zone"]["labelSelector"]["matchLabels"] == selector
    assert "replicas" not in deployment.inputs["spec"], "the HPA owns the replica count"


def test_dev_prefers_but_does_not_require_zone_spread(pulumi_mocks, service) -> None:
    build(pulumi_mocks, service, profile="dev")
    spread = {c["topologyKey"]: c for c in pod_spec(pulumi_mocks.one(DEPLOYMENT))["topologySpreadConstraints"]}
    assert spread["topology.kubernetes.io/zone"]["whenUnsatisfiable"] == "ScheduleAnyway"


def test_containers_are_locked_down_with_writable_tmp_only(pulumi_mocks, service) -> None:
    build(pulumi_mocks, service)
    deployment = pulumi_mocks.one(DEPLOYMENT)
    pod = pod_spec(deployment)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    main = container(deployment)
    context = main["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert main["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    (volume,) = pod["volumes"]
    assert volume["name"] == "tmp" and "emptyDir" in volume and volume["emptyDir"]["sizeLimit"].endswith("Mi")
    assert main["image"] == IMAGE and "@sha256:" in main["image"]


def test_requests_and_limits_follow_the_spec(pulumi_mocks) -> None:
    build(pulumi_mocks, make_service(resources={"cpu": 1.5, "memory_mib": 3072}))
    resources = container(pulumi_mocks.one(DEPLOYMENT))["resources"]
    assert resources["requests"]["cpu"] == "1500m" and resources["limits"]["cpu"] == "1500m"
    assert resources["requests"]["memory"] == "3072Mi" and resources["limits"]["memory"] == "3072Mi"
    assert "ephemeral-storage" in resources["limits"]


def test_gpu_request_sets_device_limit_and_toleration(pulumi_mocks) -> None:
    build(
        pulumi_mocks,
        make_service(resources={"cpu": 4, "memory_mib": 16384, "accelerator": {"type": "nvidia-l4", "count": 2}}),
    )
    deployment = pulumi_mocks.one(DEPLOYMENT)
    assert container(deployment)["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod_spec(deployment)[
        "tolerations"
    ]


def test_probes_use_the_serving_image_routes_and_cover_model_warmup(pulumi_mocks) -> None:
    build(pulumi_mocks, make_service(health={"startup_seconds": 600}))
    main = container(pulumi_mocks.one(DEPLOYMENT))
    assert main["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    assert main["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "http"}
    startup = main["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 600


def test_shutdown_drains_before_the_kill(pulumi_mocks, service) -> None:
    build(pulumi_mocks, service)
    deployment = pulumi_mocks.one(DEPLOYMENT)
    main = container(deployment)
    assert main["lifecycle"]["preStop"] == {"sleep": {"seconds": PRESTOP_SECONDS}}
    env = {e["name"]: e.get("value") for e in main["env"]}
    assert env["GRACEFUL_TIMEOUT"] == str(GRACEFUL_TIMEOUT_SECONDS)
    assert pod_spec(deployment)["terminationGracePeriodSeconds"] > PRESTOP_SECONDS + GRACEFUL_TIMEOUT_SECONDS


def test_service_is_cluster_internal_by_default_and_no_ingress(pulumi_mocks, service) -> None:
    build(pulumi_mocks, service)
    (svc,) = pulumi_mocks.by_type(SERVICE)
    assert svc.inputs["spec"]["type"] == "ClusterIP"
    assert pulumi_mocks.by_type(INGRESS) == []


def test_autoscaler_floor_comes_from_profile_and_scales_down_slowly(pulumi_mocks, service) -> None:
    build(pulumi_mocks, service, profile="prod")
    spec = pulumi_mocks.one(HPA).inputs["spec"]
    assert spec["minReplicas"] == PROFILES["prod"].min_replicas == 3
    assert spec["maxReplicas"] == 12
    assert spec["scaleTargetRef"]["name"] == pulumi_mocks.one(DEPLOYMENT).inputs["metadata"]["name"]
    assert spec["metrics"][0]["resource"]["target"] == {"type": "Utilization", "averageUtilization": 60}
    assert spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 300


def test_concurrency_target_adds_a_pods_metric(pulumi_mocks) -> None:
    build(pulumi_mocks, make_service(scaling={"max_replicas": 12, "target_concurrency": 16}))
    metrics = pulumi_mocks.one(HPA).inputs["spec"]["metrics"]
    pods = [m for m in metrics if m["type"] == "Pods"]
    assert pods and pods[0]["pods"]["target"] == {"type": "AverageValue", "averageValue": "16"}


def test_disruption_budget_allows_one_at_a_time(pulumi_mocks, service) -> None:
    build(pulumi_mocks, service)
    spec = pulumi_mocks.one(PDB).inputs["spec"]
    assert spec["maxUnavailable"] == 1
    assert spec["selector"]["matchLabels"] == pulumi_mocks.one(DEPLOYMENT).inputs["spec"]["selector"]["matchLabels"]


def test_network_policies_deny_by_default_and_allow_only_what_serving_needs(pulumi_mocks, service) -> None:
    build(pulumi_mocks, service, ingress_namespace="ingress-internal")
    policies = {p.name: p.inputs["spec"] for p in pulumi_mocks.by_type(NETPOL)}
    deny = policies["churn-deny-all"]
    assert deny["podSelector"] == {} and sorted(deny["policyTypes"]) == ["Egress", "Ingress"]
    assert "ingress" not in deny and "egress" not in deny
    callers = policies["churn-allow-callers"]["ingress"][0]
    assert callers["ports"] == [{"port": 8080, "protocol": "TCP"}]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-internal"}}} in callers[
        "from"
    ]
    dns = policies["churn-allow-dns"]["egress"][0]
    assert {"port": 53, "protocol": "UDP"} in dns["ports"]
    assert "churn-allow-egress" not in policies, "no general egress without an artifact to download"


def test_gs_artifact_opens_https_egress_but_not_instance_metadata(pulumi_mocks) -> None:
    build(
        pulumi_mocks,
        make_service(model={"name": "churn", "artifact_uri": "gs://models/churn/3"}),
        service_account_annotations={"iam.gke.io/gcp-service-account": "churn@acme.iam.gserviceaccount.com"},
    )
    egress = {p.name: p.inputs["spec"] for p in pulumi_mocks.by_type(NETPOL)}["churn-allow-egress"]["egress"]
    block = egress[0]["to"][0]["ipBlock"]
    assert block["except"] == ["169.254.0.0/16"] and egress[0]["ports"] == [{"port": 443, "protocol": "TCP"}]
    env = {e["name"]: e.get("value") for e in container(pulumi_mocks.one(DEPLOYMENT))["env"]}
    assert env["AIP_STORAGE_URI"] == "gs://models/churn/3"


def test_tls_ingress_when_a_domain_is_set(pulumi_mocks) -> None:
    exposure = {"domain": "churn.example.com", "certificate": "churn-tls"}
    build(pulumi_mocks, make_service(exposure=exposure), ingress_class="internal-nginx")
    spec = pulumi_mocks.one(INGRESS).inputs["spec"]
    assert spec["tls"] == [{"hosts": ["churn.example.com"], "secretName": "churn-tls"}]
    assert spec["ingressClassName"] == "internal-nginx"


def test_kubernetes_secret_references_become_secret_key_refs(pulumi_mocks) -> None:
    build(pulumi_mocks, make_service(secrets={"FEATURE_STORE_URL": "k8s://feature-store/url"}))
    env = {e["name"]: e for e in container(pulumi_mocks.one(DEPLOYMENT))["env"]}
    assert env["FEATURE_STORE_URL"] == {
        "name": "FEATURE_STORE_URL",
        "valueFrom": {"secretKeyRef": {"name": "feature-store", "key": "url"}},
    }


def test_canary_runs_two_weighted_tracks(pulumi_mocks) -> None:
    canary = "registry.example.com/ml/churn@sha256:" + "ab" * 32
    service = make_service(
        scaling={"min_replicas": 10, "max_replicas": 20},
        variants=[{"name": "stable", "weight": 90}, {"name": "canary", "image": canary, "weight": 10}],
    )
    build(pulumi_mocks, service)
    deployments = {d.inputs["metadata"]["labels"]["modelport.dev/track"]: d for d in pulumi_mocks.by_type(DEPLOYMENT)}
    assert container(deployments["stable"])["image"] == IMAGE
    assert container(deployments["canary"])["image"] == canary
    floors = {
        h.inputs["spec"]["scaleTargetRef"]["name"]: h.inputs["spec"]["minReplicas"] for h in pulumi_mocks.by_type(HPA)
    }
    assert floors == {"churn-stable": 9, "churn-canary": 1}
    assert len(pulumi_mocks.by_type(PDB)) == 2
    shared = [s for s in pulumi_mocks.by_type(SERVICE) if s.inputs["metadata"]["name"] == "churn"]
    assert "modelport.dev/track" not in shared[0].inputs["spec"]["selector"], "the shared Service spans both tracks"


def test_gateway_route_splits_traffic_by_exact_weight(pulumi_mocks) -> None:
    service = make_service(
        scaling={"min_replicas": 2, "max_replicas": 6},
        variants=[{"name": "blue", "weight": 75}, {"name": "green", "weight": 25}],
    )
    build(pulumi_mocks, service, gateway={"name": "internal", "namespace": "gateways"})
    route = pulumi_mocks.one("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute").inputs
    backends = route["spec"]["rules"][0]["backendRefs"]
    assert [(b["name"], b["weight"]) for b in backends] == [("churn-blue", 75), ("churn-green", 25)]
    assert route["spec"]["parentRefs"][0] == {"name": "internal", "namespace": "gateways", "sectionName": "https"}


@pytest.mark.parametrize(
    ("total", "weights", "expected"),
    [
        (3, [100], [3]),
        (10, [90, 10], [9, 1]),
        (3, [90, 10], [2, 1]),
        (20, [50, 50], [10, 10]),
        (5, [70, 30, 0], [4, 1, 0]),
    ],
)
def test_track_replicas_split_keeps_every_weighted_track_running(total, weights, expected) -> None:
    assert split_replicas(total, weights) == expected


def test_children_are_parented_and_take_the_given_provider(pulumi_mocks, service) -> None:
    @pulumi.runtime.test
    def run():
        provider = k8s.Provider("cluster", context="prod-eu")
        ModelWorkload("churn", ModelWorkloadArgs(service=service, profile=PROFILES["prod"], provider=provider))

    run()
    (component,) = pulumi_mocks.by_type("modelport:kubernetes:ModelWorkload")
    children = pulumi_mocks.children_of(component)
    assert len(children) == len([r for r in pulumi_mocks.resources if r.type.startswith("kubernetes:")])
    assert all(c.provider and "pulumi:providers:kubernetes::cluster" in c.provider for c in children)


# --- every rendered object is valid Kubernetes and meets Pod Security "restricted" ---


def rendered_objects(captured) -> list[dict[str, Any]]:
    return [
        r.inputs
        for r in captured.resources
        if r.type.startswith("kubernetes:") and not r.type.startswith("kubernetes:gateway.networking.k8s.io")
    ]


FULL = dict(
    scaling={"min_replicas": 4, "max_replicas": 12, "target_concurrency": 8},
    variants=[{"name": "stable", "weight": 80}, {"name": "canary", "weight": 20}],
    exposure={"domain": "churn.example.com", "certificate": "churn-tls", "allowed_networks": ["10.0.0.0/8"]},
    model={"name": "churn", "artifact_uri": "gs://models/churn/1"},
    secrets={"FEATURE_STORE_URL": "k8s://feature-store/url"},
    resources={"cpu": 2, "memory_mib": 4096, "accelerator": {"type": "nvidia-t4", "count": 1}},
)


@pytest.mark.parametrize("profile", ["dev", "prod"])
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_object_validates_against_the_kubernetes_schema(pulumi_mocks, profile, version) -> None:
    build(
        pulumi_mocks,
        make_service(**FULL),
        profile=profile,
        ingress_class="nginx",
        identity_egress=[{"cidr": "169.254.170.23/32", "port": 80}],
        gcp_credentials="k8s://gcp-wif/credentials.json",
    )
    objects = rendered_objects(pulumi_mocks)
    assert {o["kind"] for o in objects} >= {
        "Namespace",
        "ServiceAccount",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "Ingress",
        "ConfigMap",
    }
    for obj in objects:
        kubernetes_validate.validate(obj, version, strict=True)


ALLOWED_VOLUME_KEYS = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def assert_pod_security_restricted(pod: dict[str, Any]) -> None:
    """Every control of the Pod Security Standards 'restricted' profile (baseline included)."""
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        assert not pod.get(key), key
    pod_context = pod.get("securityContext", {})
    assert pod_context.get("seccompProfile", {}).get("type") in ("RuntimeDefault", "Localhost")
    assert pod_context.get("runAsUser", 1) != 0
    assert not pod_context.get("sysctls")
    for volume in pod.get("volumes", []):
        assert set(volume) - {"name"} <= ALLOWED_VOLUME_KEYS, volume
    for c in pod.get("containers", []) + pod.get("initContainers", []):
        context = c.get("securityContext", {})
        assert context.get("privileged") is not True
        assert context.get("allowPrivilegeEscalation") is False
        assert context.get("runAsNonRoot", pod_context.get("runAsNonRoot")) is True
        assert context.get("runAsUser", 1) != 0
        assert "ALL" in context.get("capabilities", {}).get("drop", [])
        assert set(context.get("capabilities", {}).get("add", [])) <= {"NET_BIND_SERVICE"}
        assert context.get("procMount", "Default") == "Default"
        assert context.get("appArmorProfile", {}).get("type", "RuntimeDefault") != "Unconfined"
        assert not context.get("seLinuxOptions", {}).get("user") and not context.get("seLinuxOptions", {}).get("role")
        assert all(not p.get("hostPort") for p in c.get("ports", []))


@pytest.mark.parametrize("profile", ["dev", "staging", "prod"])
def test_every_pod_meets_pod_security_restricted(pulumi_mocks, profile) -> None:
    build(
        pulumi_mocks,
        make_service(**FULL),
        profile=profile,
        ingress_class="nginx",
        gcp_credentials="k8s://gcp-wif/credentials.json",
    )
    deployments = pulumi_mocks.by_type(DEPLOYMENT)
    assert len(deployments) == 2
    for deployment in deployments:
        assert_pod_security_restricted(pod_spec(deployment))


# --- bad options are named before anything is registered ---


@pytest.mark.parametrize(
    ("service_overrides", "options", "path", "fragment"),
    [
        ({"secrets": {"DB_URL": "projects/acme/secrets/db-url"}}, {}, "modelport:service.secrets.DB_URL", "use k8s://"),
        ({"exposure": {"domain": "churn.example.com"}}, {}, "modelport:service.exposure.certificate", "TLS Secret"),
        (
            {
                "exposure": {
                    "public": True,
                    "anonymous": True,
                    "allowed_networks": ["0.0.0.0/0"],
                    "domain": "churn.example.com",
                    "certificate": "tls",
                }
            },
            {},
            "modelport:targets[0].options.ingress_class",
            "public exposure",
        ),
        (
            {"exposure": {"allowed_principals": ["serviceaccount/checkout/web"]}},
            {},
            "modelport:service.exposure.allowed_principals[0]",
            "namespace/<name> on Kubernetes",
        ),
        (
            {"model": {"name": "churn", "artifact_uri": "s3://models/churn"}},
            {},
            "modelport:service.model.artifact_uri",
            "gs://",
        ),
        ({}, {"namespace": "Bad_Namespace"}, "modelport:targets[0].options.namespace", "DNS label"),
        ({}, {"replicas": 3}, "modelport:targets[0].options.replicas", "unknown key; accepted keys: namespace"),
        ({}, {"zone_spread": "Always"}, "modelport:targets[0].options.zone_spread", "DoNotSchedule"),
        (
            {},
            {"identity_egress": [{"cidr": "nope", "port": 80}]},
            "modelport:targets[0].options.identity_egress[0].cidr",
            "CIDR",
        ),
        ({}, {"provider": "in-cluster"}, "modelport:targets[0].options.provider", "unknown key"),
    ],
)
def test_bad_input_is_refused_by_key_before_registration(
    pulumi_mocks, service_overrides, options, path, fragment
) -> None:
    service = make_service(**service_overrides)
    target = Target(cloud="kubernetes", pattern="kubernetes", options=options, path="modelport:targets[0]")
    with pytest.raises(SpecError) as caught:
        deploy(service, target, PROFILES["prod"])
    assert caught.value.path == path
    assert fragment in caught.value.reason
    assert pulumi_mocks.resources == []


def test_deploy_builds_a_context_provider_for_a_kubernetes_target(pulumi_mocks, service) -> None:
    target = Target(cloud="kubernetes", pattern="kubernetes", options={"context": "prod-eu"})

    @pulumi.runtime.test
    def run():
        deploy(service, target, PROFILES["staging"])

    run()
    provider = pulumi_mocks.one("pulumi:providers:kubernetes")
    assert provider.inputs["context"] == "prod-eu"
    assert all("pulumi:providers:kubernetes" in (r.provider or "") for r in pulumi_mocks.by_type(DEPLOYMENT))


def test_a_gs_artifact_outside_gke_needs_credentials_and_they_are_mounted_read_only(pulumi_mocks) -> None:
    service = make_service(model={"name": "churn", "artifact_uri": "gs://models/churn/3"})
    with pytest.raises(SpecError) as caught:
        ModelWorkloadArgs(service=service, profile=PROFILES["dev"])
    assert caught.value.path == "modelport:service.model.artifact_uri" and "no GCP credentials" in caught.value.reason
    build(pulumi_mocks, service, profile="dev", gcp_credentials="k8s://gcp-wif/credentials.json")
    pod = pod_spec(pulumi_mocks.one(DEPLOYMENT))
    volume = next(v for v in pod["volumes"] if v["name"] == "gcp-credentials")
    assert volume["secret"]["secretName"] == "gcp-wif"
    assert volume["secret"]["items"] == [{"key": "credentials.json", "path": "credentials.json"}]
    mount = next(m for m in container(pulumi_mocks.one(DEPLOYMENT))["volumeMounts"] if m["name"] == "gcp-credentials")
    assert mount["readOnly"] is True
    env = {e["name"]: e.get("value") for e in container(pulumi_mocks.one(DEPLOYMENT))["env"]}
    assert env["GOOGLE_APPLICATION_CREDENTIALS"] == "/var/run/secrets/gcp/credentials.json"


def test_the_signature_and_grpc_port_reach_the_pods(pulumi_mocks) -> None:
    service = make_service(model={"name": "churn", "signature": "predict_proba"})
    build(pulumi_mocks, service, profile="dev")
    env = {e["name"]: e.get("value") for e in container(pulumi_mocks.one(DEPLOYMENT))["env"]}
    assert env["SIGNATURE_NAME"] == "predict_proba" and env["MODEL_NAME"] == "churn"
    assert env["GRPC_PORT"] == "0"  # gRPC stays closed unless the spec opens it


def test_grpc_gets_a_service_port_with_app_protocol_a_liveness_probe_and_the_network_policy(pulumi_mocks) -> None:
    build(pulumi_mocks, make_service(grpc_port=8081), profile="dev")
    service = pulumi_mocks.one("kubernetes:core/v1:Service").inputs["spec"]
    grpc = next(p for p in service["ports"] if p["name"] == "grpc")
    assert (grpc["port"], grpc["targetPort"], grpc["appProtocol"]) == (8081, "grpc", "grpc")
    main = container(pulumi_mocks.one(DEPLOYMENT))
    assert {"name": "grpc", "containerPort": 8081, "protocol": "TCP"} in main["ports"]
    assert main["livenessProbe"]["grpc"] == {"port": 8081}
    assert main["readinessProbe"]["httpGet"]["port"] == "http"
    allow = {p.name: p.inputs["spec"] for p in pulumi_mocks.by_type(NETPOL)}["churn-allow-callers"]
    assert {"port": 8081, "protocol": "TCP"} in allow["ingress"][0]["ports"]


def test_grpc_through_a_gateway_gets_a_grpc_route_and_an_ingress_refuses_it(pulumi_mocks) -> None:
    exposure = {"domain": "churn.example.com", "certificate": "churn-tls"}
    service = make_service(grpc_port=8081, exposure=exposure)
    with pytest.raises(SpecError) as caught:
        ModelWorkloadArgs(service=service, profile=PROFILES["dev"], ingress_class="nginx")
    assert caught.value.path == "modelport:service.grpc_port" and "GRPCRoute" in caught.value.reason
    build(pulumi_mocks, service, profile="dev", gateway={"name": "edge", "namespace": "gateways"})
    routes = {
        r.inputs["kind"]: r.inputs for r in pulumi_mocks.by_type("kubernetes:gateway.networking.k8s.io/v1:GRPCRoute")
    }
    assert routes["GRPCRoute"]["spec"]["rules"][0]["backendRefs"] == [{"name": "churn", "port": 8081, "weight": 100}]


def test_the_service_tags_label_every_object_but_never_a_selector(pulumi_mocks) -> None:
    build(pulumi_mocks, make_service(tags={"team": "ml-platform", "acme.com/cost-center": "42"}), profile="dev")
    for resource in pulumi_mocks.monitor.captured:
        if resource.custom and "metadata" in resource.inputs and resource.type != "kubernetes:core/v1:Namespace":
            labels = resource.inputs["metadata"]["labels"]
            assert labels["team"] == "ml-platform" and labels["acme.com/cost-center"] == "42", resource.name
    deployment = pulumi_mocks.one(DEPLOYMENT).inputs["spec"]
    assert "team" not in deployment["selector"]["matchLabels"]
    assert deployment["template"]["metadata"]["labels"]["team"] == "ml-platform"


def test_a_tag_that_is_not_a_valid_label_is_refused() -> None:
    service = make_service(tags={"cost center": "R&D 42"})
    with pytest.raises(SpecError) as caught:
        ModelWorkloadArgs(service=service, profile=PROFILES["dev"])
    assert caught.value.path == "modelport:service.tags.cost center"
