"""gRPC on the Cloud Run patterns (container and serverless): with ``service.grpc_port`` a second service
``<name>-grpc`` runs the same image with PROTOCOLS=grpc on end-to-end HTTP/2 (port named h2c), gRPC health probes,
and the same identity, key, ingress, VPC egress, scaling and callers as the HTTP service; public exposure routes
the gRPC method paths through the same external load balancer to an HTTP/2 backend."""

from __future__ import annotations

import pytest
from gcp_fixtures import ANALYSTS, CANARY, CHECKOUT, DEV, GLOBAL_CERT, PROD, args_of, gcp_service, register
from modelport.gcp.cloudrun import GRPC_SERVICES
from modelport.gcp.container import CloudRunService, CloudRunServiceArgs
from modelport.gcp.ml_platform import VertexEndpointArgs
from modelport.gcp.serverless import CloudRunFunction, CloudRunFunctionArgs
from modelport.gcp.vm import MigServiceArgs
from modelport.validation import SpecError

RUN = "gcp:cloudrunv2/service:Service"
INVOKER = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
NEG = "gcp:compute/regionNetworkEndpointGroup:RegionNetworkEndpointGroup"
BACKEND = "gcp:compute/backendService:BackendService"
URL_MAP = "gcp:compute/uRLMap:URLMap"
PATTERNS = [(CloudRunService, CloudRunServiceArgs), (CloudRunFunction, CloudRunFunctionArgs)]
IDS = ["container", "serverless"]
PRIVATE = {"allowed_principals": [CHECKOUT, ANALYSTS]}
PUBLIC = {"public": True, "domain": "churn.example.com", "allowed_principals": [CHECKOUT, ANALYSTS]}


def deploy(mocks, component=CloudRunService, args_type=CloudRunServiceArgs, profile=PROD, service=None, **options):
    args = args_of(args_type, service, profile, **options)
    components = []
    register(lambda: components.append(component("churn-run", args)))
    return components[0]


def envs_of(service) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in service.inputs["template"]["containers"][0]["envs"]}


def outputs_of(component) -> dict[str, str]:
    """The component's endpoints, resolved under the mocks."""
    import pulumi

    resolved: dict[str, str] = {}

    @pulumi.runtime.test
    def run():
        return pulumi.Output.all(component.endpoint, component.grpc_endpoint).apply(
            lambda values: resolved.update(endpoint=values[0], grpc_endpoint=values[1])
        )

    run()
    return resolved


@pytest.mark.parametrize(("component", "args_type"), PATTERNS, ids=IDS)
def test_no_grpc_port_means_one_service_and_no_grpc_endpoint(pulumi_mocks, component, args_type):
    built = deploy(pulumi_mocks, component, args_type, service=gcp_service(exposure=PRIVATE))
    service = pulumi_mocks.one(RUN)
    assert service.name == "churn-run-service"
    assert built.grpc_service is None and built.grpc_endpoint is None
    envs = envs_of(service)
    assert envs["GRPC_PORT"] == "0" and "PROTOCOLS" not in envs


@pytest.mark.parametrize("profile", [DEV, PROD], ids=["dev", "prod"])
@pytest.mark.parametrize(("component", "args_type"), PATTERNS, ids=IDS)
def test_grpc_service_is_h2c_on_grpc_port_with_grpc_probes(pulumi_mocks, component, args_type, profile):
    deploy(pulumi_mocks, component, args_type, profile, gcp_service(grpc_port=9090, exposure=PRIVATE))
    http = pulumi_mocks.one(RUN, "churn-run-service")
    grpc = pulumi_mocks.one(RUN, "churn-run-grpc-service")
    assert grpc.inputs["name"] == http.inputs["name"] + "-grpc"  # <name>-<stack digest>-grpc
    container = grpc.inputs["template"]["containers"][0]
    assert container["ports"] == {"containerPort": 9090, "name": "h2c"}
    envs = envs_of(grpc)
    assert envs["PROTOCOLS"] == "grpc" and envs["GRPC_PORT"] == "9090"
    assert "PORT" not in envs  # Cloud Run reserves it and sets it to the container port, 9090
    assert envs["MODEL_NAME"] == "churn" and envs["LOG_LEVEL"] == "info"
    assert container["startupProbe"]["grpc"] == {"port": 9090}
    assert "httpGet" not in container["startupProbe"]
    assert container["startupProbe"]["periodSeconds"] * container["startupProbe"]["failureThreshold"] >= 300
    assert container["livenessProbe"]["grpc"] == {"port": 9090}
    assert "httpGet" not in container["livenessProbe"]
    # the HTTP service is unchanged: HTTP/1 on port, HTTP probes, gRPC off in its image
    http_container = http.inputs["template"]["containers"][0]
    assert http_container["ports"] == {"containerPort": 8080, "name": "http1"}
    assert http_container["startupProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": 8080}
    assert envs_of(http)["GRPC_PORT"] == "0" and "PROTOCOLS" not in envs_of(http)


@pytest.mark.parametrize(("component", "args_type"), PATTERNS, ids=IDS)
def test_grpc_service_shares_identity_key_ingress_egress_scaling_and_image(pulumi_mocks, component, args_type):
    service = gcp_service(grpc_port=8081, exposure=PRIVATE, scaling={"min_replicas": 3, "max_replicas": 7})
    deploy(pulumi_mocks, component, args_type, PROD, service, vpc_egress="private-ranges-only", concurrency=16)
    http = pulumi_mocks.one(RUN, "churn-run-service").inputs
    grpc = pulumi_mocks.one(RUN, "churn-run-grpc-service").inputs
    for key in ("ingress", "deletionProtection", "binaryAuthorization", "labels", "location", "project"):
        assert grpc[key] == http[key], key
    assert grpc["ingress"] == "INGRESS_TRAFFIC_INTERNAL_ONLY"
    http_template, grpc_template = http["template"], grpc["template"]
    for key in (
        "serviceAccount",
        "encryptionKey",
        "vpcAccess",
        "scaling",
        "maxInstanceRequestConcurrency",
        "executionEnvironment",
        "timeout",
    ):
        assert grpc_template[key] == http_template[key], key
    assert grpc_template["encryptionKey"] == pulumi_mocks.one("gcp:kms/cryptoKey:CryptoKey").id
    assert grpc_template["vpcAccess"]["egress"] == "PRIVATE_RANGES_ONLY"
    assert grpc_template["maxInstanceRequestConcurrency"] == 16
    floor = 3 if component is CloudRunService else 0
    assert grpc_template["scaling"] == {"minInstanceCount": floor, "maxInstanceCount": 7}
    http_container, grpc_container = http_template["containers"][0], grpc_template["containers"][0]
    assert grpc_container["image"] == http_container["image"]
    assert grpc_container["resources"] == http_container["resources"]
    # one identity for both: the foundation's service account, and only one of it
    assert len(pulumi_mocks.by_type("gcp:serviceaccount/account:Account")) == 1


@pytest.mark.parametrize(("component", "args_type"), PATTERNS, ids=IDS)
def test_invokers_on_the_grpc_service_mirror_the_http_service(pulumi_mocks, component, args_type):
    deploy(pulumi_mocks, component, args_type, service=gcp_service(grpc_port=8081, exposure=PRIVATE))
    http_name = pulumi_mocks.one(RUN, "churn-run-service").outputs["name"]
    grpc_name = pulumi_mocks.one(RUN, "churn-run-grpc-service").outputs["name"]
    grants: dict[str, list[tuple[str, str]]] = {}
    for invoker in pulumi_mocks.by_type(INVOKER):
        grants.setdefault(invoker.inputs["name"], []).append((invoker.inputs["role"], invoker.inputs["member"]))
    expected = sorted([("roles/run.invoker", CHECKOUT), ("roles/run.invoker", ANALYSTS)])
    assert {name: sorted(members) for name, members in grants.items()} == {http_name: expected, grpc_name: expected}


def test_canary_splits_the_grpc_service_by_its_own_revisions(pulumi_mocks):
    deploy(pulumi_mocks, service=gcp_service(grpc_port=8081, exposure=PRIVATE, variants=CANARY))
    grpc = pulumi_mocks.one(RUN, "churn-run-grpc-service")
    http = pulumi_mocks.one(RUN, "churn-run-service")
    traffic = grpc.inputs["traffics"]
    assert [(t["tag"], t["percent"]) for t in traffic] == [("stable", 90), ("canary", 10)]
    assert all(t["revision"].startswith(f"{grpc.inputs['name']}-{t['tag']}-") for t in traffic)
    assert grpc.inputs["template"]["revision"] == traffic[1]["revision"]
    assert grpc.inputs["template"]["containers"][0]["image"] == CANARY[1]["image"]
    # same tracks and weights as HTTP, distinct revision names
    assert [t["percent"] for t in http.inputs["traffics"]] == [t["percent"] for t in traffic]
    assert {t["revision"] for t in http.inputs["traffics"]}.isdisjoint(t["revision"] for t in traffic)


@pytest.mark.parametrize(("component", "args_type"), PATTERNS, ids=IDS)
def test_private_grpc_endpoint_is_the_grpc_service_host_on_443(pulumi_mocks, component, args_type):
    built = deploy(pulumi_mocks, component, args_type, service=gcp_service(grpc_port=8081, exposure=PRIVATE))
    grpc_uri = pulumi_mocks.one(RUN, "churn-run-grpc-service").outputs["uri"]
    http_uri = pulumi_mocks.one(RUN, "churn-run-service").outputs["uri"]
    assert grpc_uri.startswith("https://") and grpc_uri != http_uri
    endpoints = outputs_of(built)
    assert endpoints == {"endpoint": http_uri, "grpc_endpoint": grpc_uri.removeprefix("https://") + ":443"}


@pytest.mark.parametrize(("component", "args_type"), PATTERNS, ids=IDS)
def test_public_grpc_routes_its_method_paths_to_an_http2_backend(pulumi_mocks, component, args_type):
    built = deploy(pulumi_mocks, component, args_type, service=gcp_service(grpc_port=8081, exposure=PUBLIC))
    http = pulumi_mocks.one(RUN, "churn-run-service")
    grpc = pulumi_mocks.one(RUN, "churn-run-grpc-service")
    assert grpc.inputs["ingress"] == "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
    assert grpc.inputs["defaultUriDisabled"] is True
    negs = {n.name: n.inputs for n in pulumi_mocks.by_type(NEG)}
    assert negs["churn-run-neg"]["cloudRun"] == {"service": http.outputs["name"]}
    assert negs["churn-run-grpc-neg"]["cloudRun"] == {"service": grpc.outputs["name"]}
    assert negs["churn-run-grpc-neg"]["networkEndpointType"] == "SERVERLESS"
    backends = {b.name: b for b in pulumi_mocks.by_type(BACKEND)}
    http_backend, grpc_backend = backends["churn-run-lb-backend"], backends["churn-run-lb-grpc-backend"]
    grpc_neg_id = pulumi_mocks.one(NEG, "churn-run-grpc-neg").id
    assert grpc_backend.inputs["protocol"] == "HTTP2"
    assert grpc_backend.inputs["backends"] == [{"group": grpc_neg_id}]
    assert grpc_backend.inputs["loadBalancingScheme"] == "EXTERNAL_MANAGED"
    # the same Cloud Armor policy (WAF, networks, rate limit) and request logging as HTTP
    assert grpc_backend.inputs["securityPolicy"] == http_backend.inputs["securityPolicy"]
    assert grpc_backend.inputs["logConfig"] == http_backend.inputs["logConfig"]
    urls = pulumi_mocks.one(URL_MAP, "churn-run-lb-urls").inputs
    assert urls["defaultService"] == http_backend.id
    assert urls["hostRules"] == [{"hosts": ["*"], "pathMatcher": "routes"}]
    (matcher,) = urls["pathMatchers"]
    assert matcher["defaultService"] == http_backend.id
    assert matcher["pathRules"] == [{"paths": [f"/{s}/*" for s in GRPC_SERVICES], "service": grpc_backend.id}]
    assert "/inference.GRPCInferenceService/*" in matcher["pathRules"][0]["paths"]
    assert "/grpc.health.v1.Health/*" in matcher["pathRules"][0]["paths"]
    # one address, one certificate: gRPC is the load balancer's host on 443
    assert len(pulumi_mocks.by_type("gcp:compute/globalAddress:GlobalAddress")) == 1
    assert len(pulumi_mocks.by_type("gcp:compute/managedSslCertificate:ManagedSslCertificate")) == 1
    assert outputs_of(built) == {"endpoint": "https://churn.example.com", "grpc_endpoint": "churn.example.com:443"}
    members = sorted((i.inputs["name"], i.inputs["member"]) for i in pulumi_mocks.by_type(INVOKER))
    assert members == sorted(
        (service.outputs["name"], member) for service in (http, grpc) for member in (CHECKOUT, ANALYSTS)
    )


def test_public_grpc_without_grpc_port_keeps_the_plain_url_map(pulumi_mocks):
    deploy(pulumi_mocks, service=gcp_service(exposure=PUBLIC))
    urls = pulumi_mocks.one(URL_MAP, "churn-run-lb-urls").inputs
    assert "hostRules" not in urls and "pathMatchers" not in urls
    assert len(pulumi_mocks.by_type(BACKEND)) == 1 and len(pulumi_mocks.by_type(NEG)) == 1


def test_iap_covers_the_grpc_backend_and_lets_the_iap_agent_invoke_both(pulumi_mocks):
    exposure = {"public": True, "certificate": GLOBAL_CERT, "allowed_principals": [ANALYSTS]}
    deploy(pulumi_mocks, service=gcp_service(grpc_port=8081, exposure=exposure), iap=True)
    backends = {b.name: b for b in pulumi_mocks.by_type(BACKEND)}
    assert backends["churn-run-lb-grpc-backend"].inputs["iap"] == {"enabled": True}
    accessors = pulumi_mocks.by_type("gcp:iap/webBackendServiceIamMember:WebBackendServiceIamMember")
    assert sorted((a.inputs["webBackendService"], a.inputs["member"]) for a in accessors) == sorted(
        (backends[name].outputs["name"], ANALYSTS) for name in ("churn-run-lb-backend", "churn-run-lb-grpc-backend")
    )
    iap_invokers = {
        i.inputs["name"]
        for i in pulumi_mocks.by_type(INVOKER)
        if i.inputs["member"].endswith("@gcp-sa-iap.iam.gserviceaccount.com")
    }
    assert iap_invokers == {
        pulumi_mocks.one(RUN, n).outputs["name"] for n in ("churn-run-service", "churn-run-grpc-service")
    }


def test_anonymous_dev_turns_the_invoker_check_off_on_both_services(pulumi_mocks):
    exposure = {"public": True, "domain": "churn.example.com", "anonymous": True}
    deploy(pulumi_mocks, profile=DEV, service=gcp_service(grpc_port=8081, exposure=exposure))
    assert [s.inputs["invokerIamDisabled"] for s in pulumi_mocks.by_type(RUN)] == [True, True]
    assert pulumi_mocks.by_type(INVOKER) == []


@pytest.mark.parametrize(
    ("args_type", "options", "fragment"),
    [(MigServiceArgs, {"internal_certificate": None}, "HTTP port only"), (VertexEndpointArgs, {}, "HTTP only")],
)
def test_gcp_vm_and_vertex_still_refuse_grpc_port(pulumi_mocks, args_type, options, fragment):
    options = {k: v for k, v in options.items() if v is not None}
    with pytest.raises(SpecError) as caught:
        args_of(args_type, gcp_service(grpc_port=8081), PROD, **options)
    assert caught.value.path == "modelport:service.grpc_port"
    assert fragment in caught.value.reason
    assert pulumi_mocks.resources == []


def test_env_cannot_set_protocols_or_grpc_port_behind_the_spec(pulumi_mocks):
    for key in ("PROTOCOLS", "GRPC_PORT"):
        with pytest.raises(SpecError) as caught:
            gcp_service(env={key: "grpc"})
        assert f"env.{key}" in caught.value.path
        assert "service.grpc_port" in caught.value.reason


# --- the example stack, narrowed to the Cloud Run patterns ---

CLOUD_RUN_TARGETS = [
    {"cloud": "gcp", "pattern": pattern, "region": "europe-west4", "options": {"project": "acme-ml-prod"}}
    for pattern in ("container", "serverless")
]


def test_gcp_prod_cloud_run_targets_with_grpc_plan_clean_and_export_grpc_endpoints():
    from pathlib import Path

    from modelport.plan.runner import plan_stack

    stacks = Path(__file__).resolve().parents[2] / "stacks"
    overrides = [("modelport:service.grpc_port", 8081), ("modelport:targets", CLOUD_RUN_TARGETS)]
    plan = plan_stack("gcp-prod", stacks, overrides=overrides)
    assert plan.policy.violations == [], [(v.policy, v.message) for v in plan.policy.violations]
    services = [r for r in plan.resources if r.type == RUN]
    grpc = [r for r in services if r.name.endswith("-grpc-service")]
    assert (len(services), len(grpc)) == (4, 2)
    for service in grpc:
        container = service.inputs["template"]["containers"][0]
        assert container["ports"] == {"containerPort": 8081, "name": "h2c"}
        assert container["startupProbe"]["grpc"] == {"port": 8081}
    endpoints = plan.outputs["grpc_endpoints"]
    assert sorted(endpoints) == ["gcp-container-europe-west4", "gcp-serverless-europe-west4"]
    assert all(value.endswith("-ez.a.run.app:443") and "-grpc-" in value for value in endpoints.values())
    commands = plan.outputs["grpc_invoke"]
    for key, command in commands.items():
        assert command.startswith("grpcurl -import-path serving_image/rpc/protos -proto open_inference_service.proto")
        assert f"-d @ {endpoints[key]} inference.GRPCInferenceService/ModelInfer < infer.json" in command
        assert "print-identity-token" in command  # Cloud Run checks the invoker role on gRPC too


def test_gcp_prod_without_grpc_port_exports_no_grpc_endpoints():
    from pathlib import Path

    from modelport.plan.runner import plan_stack

    stacks = Path(__file__).resolve().parents[2] / "stacks"
    plan = plan_stack("gcp-prod", stacks, overrides=[("modelport:targets", CLOUD_RUN_TARGETS)])
    assert "grpc_endpoints" not in plan.outputs and "grpc_invoke" not in plan.outputs
    assert not [r for r in plan.resources if r.name.endswith("-grpc-service")]
